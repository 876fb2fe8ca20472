#include "harness.h"
#include "tests/lib/testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define H_ARGS_MAX  64
#define H_PROCS_MAX 64

/* Every process started, so a failed test (cmocka jumps out) leaves none behind. */
static pid_t started[H_PROCS_MAX];
static int nstarted;

static const char *
env_or(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

const char *
h_env_init(struct h_env *e, const char *name)
{
	const char *dh, *bin, *src;
	static char reason[700];

	memset(e, 0, sizeof(*e));
	if ((dh = env_or("BERTH_TEST_DOCKER_HOST")) == NULL)
		return "BERTH_TEST_DOCKER_HOST is not set: run under ./dev test (it starts the "
		       "test "
		       "dockerd), or export it";
	if ((bin = env_or("BERTH_BINARY_DIR")) == NULL ||
	    (src = env_or("BERTH_SOURCE_DIR")) == NULL)
		return "BERTH_BINARY_DIR/BERTH_SOURCE_DIR are not set: run under ctest";
	if (strncmp(dh, "unix://", 7) != 0)
		return "BERTH_TEST_DOCKER_HOST must be a unix:// socket";
	snprintf(e->docker_host, sizeof(e->docker_host), "%s", dh);
	snprintf(e->docker_sock, sizeof(e->docker_sock), "%s", dh + 7);
	snprintf(e->bindir, sizeof(e->bindir), "%s", bin);
	snprintf(e->srcdir, sizeof(e->srcdir), "%s", src);
	if (tl_tmpdir(e->dir, sizeof(e->dir), name) != 0)
		return "cannot make the state directory (mkdtemp)";
	snprintf(e->db, sizeof(e->db), "%s/registry.db", e->dir);
	snprintf(e->prefix, sizeof(e->prefix), "t%d", (int)(getpid() % 100000));
	snprintf(reason, sizeof(reason), "%s/sidecar/berth-sidecar", e->bindir);
	if (access(reason, X_OK) != 0) {
		snprintf(reason, sizeof(reason),
		         "%s/sidecar/berth-sidecar is missing: build the sidecar first", e->bindir);
		return reason;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return NULL;
}

int
h_tenant_image(struct h_env *e)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
	         "%s/tests/services/tenant-image.sh '%s' berth-demo/tenant:latest", e->srcdir,
	         e->docker_host);
	return system(cmd) == 0 ? 0 : -1;
}

/* tl_spawn, remembered for h_env_done. */
static pid_t
spawn(const char *const *argv, const char *const *env, const char *log)
{
	pid_t pid = tl_spawn(argv, env, log);

	if (pid > 0 && nstarted < H_PROCS_MAX)
		started[nstarted++] = pid;
	return pid;
}

static int
wait_healthy(struct h_proc *p, int secs)
{
	struct h_resp *r = malloc(sizeof(*r));
	int ok = 0;

	for (int i = 0; i < secs * 20 && r != NULL; i++) {
		int st;

		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			break;
		}
		if (h_http(p->port, "GET", "/healthz", NULL, NULL, 0, r) == 0 && r->status == 200) {
			ok = 1;
			break;
		}
		usleep(50 * 1000);
	}
	free(r);
	return ok ? 0 : -1;
}

int
h_sidecar_start(struct h_env *e)
{
	char bin[600], listen[64], dh[600];
	struct h_proc *p = &e->sidecar;
	const char *argv[] = {bin,         "--db",        e->db,  "--docker-host",
	                      dh,          "--agent-url", "none", "--host-ip",
	                      "127.0.0.1", "--listen",    listen, "--log-level",
	                      "debug",     NULL};

	snprintf(bin, sizeof(bin), "%s/sidecar/berth-sidecar", e->bindir);
	snprintf(dh, sizeof(dh), "%s", e->docker_host);
	p->port = tl_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", p->port);
	snprintf(p->log, sizeof(p->log), "%s/sidecar.log", e->dir);
	if ((p->pid = spawn(argv, NULL, p->log)) < 0)
		return -1;
	/* Longer than the ecs backend's 30 s start-up check, which waits out throttling. */
	return wait_healthy(p, 40);
}

int
h_launcher_start(struct h_env *e, struct h_proc *p, const char *const *extra,
                 const char *const *env)
{
	char bin[600], listen[64], sidecar[64];
	const char *argv[H_ARGS_MAX];
	size_t n = 0;

	snprintf(bin, sizeof(bin), "%s/launcher/berth-launcher", e->bindir);
	if (p->port == 0)
		p->port = tl_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", p->port);
	snprintf(sidecar, sizeof(sidecar), "http://127.0.0.1:%d", e->sidecar.port);
	if (p->log[0] == '\0')
		snprintf(p->log, sizeof(p->log), "%s/launcher-%d.log", e->dir, p->port);
	argv[n++] = bin;
	argv[n++] = "--db";
	argv[n++] = e->db;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--docker-host";
	argv[n++] = e->docker_host;
	if (!p->no_host_ip) {
		argv[n++] = "--host-ip";
		argv[n++] = "127.0.0.1";
	}
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	if (e->sidecar.pid > 0 && !p->no_sidecar_url) {
		argv[n++] = "--sidecar-url";
		argv[n++] = sidecar;
	}
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < H_ARGS_MAX - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	if ((p->pid = spawn(argv, env, p->log)) < 0)
		return -1;
	/* Longer than the ecs backend's 30 s start-up check, which waits out throttling. */
	return wait_healthy(p, 40);
}

void
h_proc_stop(struct h_proc *p, int kill9)
{
	if (p->pid <= 0)
		return;
	tl_stop(p->pid, kill9 ? SIGKILL : SIGTERM, 10000);
	p->pid = 0;
}

void
h_env_done(struct h_env *e)
{
	char cmd[1200];

	for (int i = 0; i < nstarted; i++) {
		struct h_proc p = {.pid = started[i]};

		if (p.pid > 0 && p.pid != e->sidecar.pid && waitpid(p.pid, NULL, WNOHANG) == 0)
			h_proc_stop(&p, 0);
	}
	nstarted = 0;
	h_proc_stop(&e->sidecar, 0);
	if (e->docker_host[0] == '\0')
		return; /* never got that far */
	/* Remove what this run left (failed tests included). */
	snprintf(cmd, sizeof(cmd),
	         "DOCKER_HOST='%s' docker ps -aq --filter name=berth-%s | "
	         "xargs -r env DOCKER_HOST='%s' docker rm -f >/dev/null 2>&1",
	         e->docker_host, e->prefix, e->docker_host);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of containers failed\n");
}

struct sink {
	char *buf;
	size_t len, cap;
};

static size_t
sink_write(char *p, size_t sz, size_t nm, void *arg)
{
	struct sink *s = arg;
	size_t n = sz * nm, room = s->cap - 1 - s->len;

	if (n > room)
		n = room;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return sz * nm;
}

struct call {
	CURL *c;
	struct curl_slist *hl;
	struct sink body, hdr;
	struct h_resp *r;
};

static int
call_init(struct call *k, const char *url, const char *method, const char *const *headers,
          const char *body, size_t body_len, struct h_resp *r, long timeout_s)
{
	memset(k, 0, sizeof(*k));
	memset(r, 0, sizeof(*r));
	k->r = r;
	if ((k->c = curl_easy_init()) == NULL)
		return -1;
	k->body = (struct sink){r->body, 0, sizeof(r->body)};
	k->hdr = (struct sink){r->headers, 0, sizeof(r->headers)};
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		k->hl = curl_slist_append(k->hl, headers[i]);
	k->hl = curl_slist_append(k->hl, "Expect:");
	curl_easy_setopt(k->c, CURLOPT_URL, url);
	curl_easy_setopt(k->c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(k->c, CURLOPT_HTTPHEADER, k->hl);
	curl_easy_setopt(k->c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(k->c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(k->c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(k->c, CURLOPT_WRITEDATA, &k->body);
	curl_easy_setopt(k->c, CURLOPT_HEADERFUNCTION, sink_write);
	curl_easy_setopt(k->c, CURLOPT_HEADERDATA, &k->hdr);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(k->c, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(k->c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(k->c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	return 0;
}

static void
call_done(struct call *k)
{
	curl_easy_getinfo(k->c, CURLINFO_RESPONSE_CODE, &k->r->status);
	curl_easy_getinfo(k->c, CURLINFO_TOTAL_TIME, &k->r->secs);
	k->r->len = k->body.len;
	curl_slist_free_all(k->hl);
	curl_easy_cleanup(k->c);
}

static int
perform(const char *url, const char *method, const char *const *headers, const char *body,
        size_t body_len, struct h_resp *r, const char *unix_sock)
{
	struct call k;
	CURLcode rc;

	if (call_init(&k, url, method, headers, body, body_len, r, 60) != 0)
		return -1;
	if (unix_sock != NULL)
		curl_easy_setopt(k.c, CURLOPT_UNIX_SOCKET_PATH, unix_sock);
	rc = curl_easy_perform(k.c);
	call_done(&k);
	return rc == CURLE_OK ? 0 : -1;
}

int
h_http(int port, const char *method, const char *path, const char *const *headers, const char *body,
       size_t body_len, struct h_resp *r)
{
	char url[1024];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	return perform(url, method, headers, body, body_len, r, NULL);
}

int
h_docker(struct h_env *e, const char *method, const char *path, struct h_resp *r)
{
	char url[1024];

	snprintf(url, sizeof(url), "http://localhost/v1.41%s", path);
	return perform(url, method, NULL, NULL, 0, r, e->docker_sock);
}

int
h_page(int port, const char *host, struct h_resp *r)
{
	char hh[300];
	const char *hdr[] = {hh, NULL};

	snprintf(hh, sizeof(hh), "Host: %s", host);
	return h_http(port, "GET", "/", hdr, NULL, 0, r);
}

int
h_header(const struct h_resp *r, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	for (const char *p = r->headers; p != NULL && *p != '\0';) {
		const char *eol = strstr(p, "\r\n");
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;

			while (*v == ' ')
				v++;
			snprintf(out, outlen, "%.*s", (int)(len - (size_t)(v - p)), v);
			return 0;
		}
		p = eol != NULL ? eol + 2 : NULL;
	}
	return -1;
}

int
h_post_many(int port, const char *const *bodies, size_t n, size_t window,
            const char *const *headers, struct h_resp *resp, long timeout_s)
{
	return h_post_many_at(NULL, port, bodies, n, window, headers, resp, timeout_s);
}

int
h_post_many_at(const int *ports, int port, const char *const *bodies, size_t n, size_t window,
               const char *const *headers, struct h_resp *resp, long timeout_s)
{
	CURLM *m = curl_multi_init();
	struct call *k = calloc(n, sizeof(*k));
	char url[128];
	size_t next = 0, done = 0;
	int running = 0, rc = 0;

	if (m == NULL || k == NULL) {
		free(k);
		return -1;
	}
	if (window == 0 || window > n)
		window = n;
	while (done < n) {
		CURLMsg *msg;
		int left;

		/* Keep `window` requests in flight. */
		while (next < n && next - done < window) {
			snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/tenants",
			         ports != NULL ? ports[next] : port);
			call_init(&k[next], url, "POST", headers, bodies[next],
			          strlen(bodies[next]), &resp[next], timeout_s);
			curl_easy_setopt(k[next].c, CURLOPT_PRIVATE, (void *)&k[next]);
			curl_multi_add_handle(m, k[next].c);
			next++;
		}
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = -1;
			break;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct call *c;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			curl_multi_remove_handle(m, c->c);
			call_done(c);
			c->c = NULL;
			done++;
		}
		if (done < n)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (size_t i = 0; i < next; i++) {
		if (k[i].c != NULL) {
			curl_multi_remove_handle(m, k[i].c);
			call_done(&k[i]);
		}
	}
	curl_multi_cleanup(m);
	free(k);
	return rc;
}

int
h_count_containers(struct h_env *e, const char *prefix)
{
	struct h_resp *r = malloc(sizeof(*r));
	char path[256];
	int n = 0;

	if (r == NULL)
		return -1;
	/* The name filter is a substring match on "/berth-<prefix>". */
	snprintf(path, sizeof(path),
	         "/containers/json?all=1&filters=%%7B%%22name%%22%%3A%%5B%%22berth-%s%%22%%5D%%7D",
	         prefix);
	if (h_docker(e, "GET", path, r) != 0 || r->status != 200) {
		free(r);
		return -1;
	}
	for (const char *p = r->body; (p = strstr(p, "\"Id\":")) != NULL; p += 5)
		n++;
	free(r);
	return n;
}

/* POSTs json to the ECS emulator's control route path; the HTTP status. */
static int
ecs_control(struct h_ecs *x, const char *path, const char *json)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", x->url, path);
	return tl_http(url, json, NULL, 0, 20000);
}

int
h_ecs_init(struct h_ecs *x, const char *url, const char *tag, const char *secret)
{
	static int seq;
	const char *ddb = getenv("BERTH_TEST_DYNAMODB_URL");
	char json[256];

	memset(x, 0, sizeof(*x));
	x->url = url;
	snprintf(x->akid, sizeof(x->akid), "AKID%s%d%ld%d", tag, (int)getpid(),
	         (long)time(NULL) % 100000, seq++);
	snprintf(x->secret, sizeof(x->secret), "%s", secret);
	snprintf(json, sizeof(json), "{\"access_key_id\":\"%s\",\"secret_access_key\":\"%s\"}",
	         x->akid, x->secret);
	snprintf(x->env_ecs, sizeof(x->env_ecs), "AWS_ENDPOINT_URL_ECS=%s", url);
	snprintf(x->env_akid, sizeof(x->env_akid), "AWS_ACCESS_KEY_ID=%s", x->akid);
	snprintf(x->env_secret, sizeof(x->env_secret), "AWS_SECRET_ACCESS_KEY=%s", x->secret);
	snprintf(x->env_ddb, sizeof(x->env_ddb), "AWS_ENDPOINT_URL_DYNAMODB=%s",
	         ddb != NULL ? ddb : "");
	x->envp[0] = x->env_ecs;
	x->envp[1] = x->env_akid;
	x->envp[2] = x->env_secret;
	x->envp[3] = "AWS_REGION=us-east-1";
	x->envp[4] = "AWS_EC2_METADATA_DISABLED=true";
	x->envp[5] = x->env_ddb;
	x->envp[6] = NULL;
	return ecs_control(x, "/_emulator/keys", json) == 200 ? 0 : -1;
}

int
h_ecs_faults(struct h_ecs *x, const char *json_tail)
{
	char json[256];

	snprintf(json, sizeof(json), "{\"access_key_id\":\"%s\"%s%s}", x->akid,
	         json_tail[0] != '\0' ? "," : "", json_tail);
	return ecs_control(x, "/_emulator/faults", json);
}

void
h_ecs_done(struct h_ecs *x)
{
	char json[128];

	if (x->url == NULL)
		return;
	snprintf(json, sizeof(json), "{\"access_key_id\":\"%s\"}", x->akid);
	ecs_control(x, "/_emulator/faults", json);
	/* The tasks this key started go, so later tests see a clean dockerd. */
	ecs_control(x, "/_emulator/cleanup", json);
}

int
h_launcher_start_ecs(struct h_env *e, struct h_proc *p, struct h_ecs *x, const char *const *more)
{
	static const char *const ecs[] = {"--backend",
	                                  "ecs",
	                                  "--cluster",
	                                  "berth-test",
	                                  "--task-definition",
	                                  "berth-tenant",
	                                  "--container-name",
	                                  "app",
	                                  NULL};
	const char *argv[H_ARGS_MAX];
	size_t n = 0;

	for (size_t i = 0; ecs[i] != NULL; i++)
		argv[n++] = ecs[i];
	for (size_t i = 0; more != NULL && more[i] != NULL && n < H_ARGS_MAX - 1; i++)
		argv[n++] = more[i];
	argv[n] = NULL;
	return h_launcher_start(e, p, argv, x->envp);
}
