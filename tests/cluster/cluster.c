/* cluster: a cluster of hosts on this machine for tests (see cluster.h). */
#include "tests/cluster/cluster.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "aws/aws.h"
#include "core/evcurl.h"
#include "tests/aws/ddbtest.h"
#include "tests/lib/testlib.h"

static size_t
collect(char *p, size_t sz, size_t n, void *arg)
{
	struct h_resp *r = arg;
	size_t len = sz * n, room = sizeof(r->body) - 1 - r->len;

	if (len > room)
		len = room;
	memcpy(r->body + r->len, p, len);
	r->len += len;
	r->body[r->len] = '\0';
	return sz * n;
}

int
cl_get(const char *url, int token, struct h_resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (c == NULL)
		return -1;
	if (token)
		hdr = curl_slist_append(NULL, "Authorization: Bearer " CL_TOKEN);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	rc = curl_easy_perform(c) == CURLE_OK ? 0 : -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

/* POSTs json to the ECS emulator's control path; the status. */
static int
ecs_control(struct cl *c, const char *path, const char *json)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", c->x.url, path);
	return tl_http(url, json, NULL, 0, 20000);
}

int
cl_place(struct cl *c, const char *tenant, int i)
{
	char json[256];

	snprintf(json, sizeof(json), "{\"%s\":%d}", tenant, i);
	return ecs_control(c, "/_emulator/placement", json) == 200 ? 0 : -1;
}

int
cl_sidecar_start(struct cl *c, int i)
{
	struct cl_host *h = &c->h[i];
	char bin[600], nsarg[200], listen[64], beat[16], url[128];
	const char *argv[] = {"nsenter",
	                      nsarg,
	                      bin,
	                      "--db",
	                      h->db,
	                      "--docker-host",
	                      h->docker_host,
	                      "--agent-url",
	                      "http://127.0.0.1:51678",
	                      "--host-ip",
	                      h->ip,
	                      "--imds-url",
	                      "none",
	                      "--listen",
	                      listen,
	                      "--api-token-file",
	                      c->token_file,
	                      "--dynamodb-table",
	                      c->table,
	                      "--heartbeat-interval",
	                      beat,
	                      "--log-level",
	                      "debug",
	                      NULL};
	const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDBERTHTEST",
	                     "AWS_SECRET_ACCESS_KEY=berth-test-secret",
	                     "AWS_REGION=us-east-1",
	                     "AWS_EC2_METADATA_DISABLED=true",
	                     c->env_ddb,
	                     NULL};
	struct h_resp *r = malloc(sizeof(*r));
	int ok = 0;

	snprintf(bin, sizeof(bin), "%s/sidecar/berth-sidecar", c->e.bindir);
	snprintf(nsarg, sizeof(nsarg), "--net=%s", h->ns);
	snprintf(listen, sizeof(listen), "%s:%d", h->ip, CL_API_PORT);
	snprintf(beat, sizeof(beat), "%d", c->heartbeat_s > 0 ? c->heartbeat_s : 1);
	snprintf(url, sizeof(url), "http://%s:%d/healthz", h->ip, CL_API_PORT);
	if ((h->sidecar = tl_spawn(argv, env, h->log)) <= 0 || r == NULL) {
		free(r);
		return -1;
	}
	for (int k = 0; k < 400 && !ok; k++) {
		ok = cl_get(url, 1, r) == 0 && r->status == 200;
		if (!ok)
			usleep(50 * 1000);
	}
	free(r);
	return ok ? 0 : -1;
}

int
cl_launcher_start(struct cl *c, struct h_proc *p, int i)
{
	char sidecar[128];
	const char *more[] = {"--dynamodb-table", c->table, "--sidecar-url", sidecar,
	                      "--api-token-file", c->token_file, "--wait-timeout", "60",
	                      "--rate-limit", "0", "--max-inflight", "1000",
	                      /* The fallback, slower than a sidecar, never wins a race with one. */
	                      "--describe-interval", CL_DESCRIBE_S, NULL};
	struct h_env e = c->e;

	snprintf(sidecar, sizeof(sidecar), "http://%s:%d", c->h[i].ip, CL_API_PORT);
	if (strlen(c->h[i].db) >= sizeof(e.db))
		return -1;
	memcpy(e.db, c->h[i].db, strlen(c->h[i].db) + 1);
	e.sidecar.pid =
	    0; /* the common flags: no local sidecar URL (ours is above), no --host-ip */
	p->no_sidecar_url = 1;
	p->no_host_ip = 1;
	snprintf(p->log, sizeof(p->log), "%s/launcher-host%d-%d.log", c->e.dir, i + 1,
	         (int)(p - &c->launcher));
	return h_launcher_start_ecs(&e, p, &c->x, more);
}

const char *
cl_up(struct cl *c, int n, const char *name, int heartbeat_s)
{
	const char *why, *keys = getenv("BERTH_TEST_STATE");
	char cmd[2600], line[1024], keyfile[600];
	FILE *f;
	struct event_base *base;
	struct evcurl *ec;
	struct aws *aws;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((why = h_env_init(&c->e, name)) != NULL)
		return why;
	c->n = n;
	c->heartbeat_s = heartbeat_s;
	snprintf(keyfile, sizeof(keyfile), "%s/node/ecs.url", keys != NULL ? keys : "");
	/* Under the test state, where ./dev's clean-up finds it after a crash; else the run's. */
	snprintf(c->cldir, sizeof(c->cldir), "%s/cluster", keys != NULL ? keys : c->e.dir);
	snprintf(cmd, sizeof(cmd), "'%s/tests/services/cluster.sh' up '%s' %d '%s'", c->e.srcdir,
	         c->cldir, n, keyfile);
	if ((f = popen(cmd, "r")) == NULL)
		return "cluster.sh could not run";
	while (fgets(line, sizeof(line), f) != NULL) {
		char *eq, *k = line;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(k, "export ", 7) != 0 || (eq = strchr(k, '=')) == NULL)
			continue;
		*eq = '\0';
		setenv(k + 7, eq + 1, 1);
	}
	if (pclose(f) != 0)
		return "cluster.sh up failed (see its state directory)";
	for (int i = 0; i < n; i++) {
		struct cl_host *h = &c->h[i];
		char var[64];

#define CL_ENV(field, suffix)                                                                      \
	do {                                                                                       \
		snprintf(var, sizeof(var), "BERTH_CLUSTER_H%d_%s", i + 1, suffix);                 \
		if (getenv(var) == NULL)                                                           \
			return "cluster.sh printed no " suffix;                                    \
		snprintf(h->field, sizeof(h->field), "%s", getenv(var));                           \
	} while (0)
		CL_ENV(ns, "NS");
		CL_ENV(ip, "IP");
		CL_ENV(docker_host, "DOCKER_HOST");
		CL_ENV(arn, "ARN");
		CL_ENV(dir, "DIR");
#undef CL_ENV
		snprintf(h->db, sizeof(h->db), "%s/registry.db", getenv(var));
		snprintf(h->log, sizeof(h->log), "%s/sidecar.log", getenv(var));
	}
	snprintf(c->ddb_url, sizeof(c->ddb_url), "%s", getenv("BERTH_CLUSTER_DYNAMODB_URL"));
	snprintf(c->env_ddb, sizeof(c->env_ddb), "AWS_ENDPOINT_URL_DYNAMODB=%s", c->ddb_url);
	snprintf(c->table, sizeof(c->table), "berth-cluster-%d", (int)getpid());
	snprintf(c->token_file, sizeof(c->token_file), "%s/token", c->e.dir);
	if ((f = fopen(c->token_file, "w")) == NULL)
		return "the token file could not be written";
	fputs(CL_TOKEN "\n", f);
	fclose(f);
	base = event_base_new();
	ec = evcurl_new(base);
	aws = ddbt_aws(base, ec, c->ddb_url);
	rc = aws != NULL ? ddbt_create_table(base, aws, c->table) : -1;
	aws_free(aws);
	evcurl_free(ec);
	event_base_free(base);
	if (rc != 0)
		return "the table could not be created";
	if (h_ecs_init(&c->x, getenv("BERTH_TEST_ECS_URL"), "CL", "cluster-secret") != 0)
		return "the ECS emulator did not take the key";
	/* The launcher's DynamoDB is the cluster's. */
	snprintf(c->x.env_ddb, sizeof(c->x.env_ddb), "%s", c->env_ddb);
	{
		char json[1400];
		size_t o = 0;

		o += (size_t)snprintf(json + o, sizeof(json) - o, "{\"instances\":[");
		for (int i = 0; i < n; i++)
			o += (size_t)snprintf(json + o, sizeof(json) - o,
			                      "%s{\"arn\":\"%s\",\"docker_host\":\"%s\"}",
			                      i ? "," : "", c->h[i].arn, c->h[i].docker_host);
		snprintf(json + o, sizeof(json) - o, "]}");
		if (ecs_control(c, "/_emulator/instances", json) != 200)
			return "the ECS emulator did not take the instances";
	}
	for (int i = 0; i < n; i++)
		if (cl_sidecar_start(c, i) != 0)
			return "a sidecar did not come up (see its sidecar.log)";
	if (cl_launcher_start(c, &c->launcher, 0) != 0)
		return "the launcher did not come up";
	return NULL;
}

void
cl_down(struct cl *c)
{
	char cmd[1400];

	h_proc_stop(&c->launcher, 0);
	for (int i = 0; i < c->n; i++)
		if (c->h[i].sidecar > 0) {
			kill(c->h[i].sidecar, SIGCONT);
			tl_stop(c->h[i].sidecar, SIGTERM, 10000);
			c->h[i].sidecar = 0;
		}
	if (c->x.url != NULL) {
		h_ecs_done(&c->x);
		ecs_control(c, "/_emulator/instances", "{\"instances\":[]}");
	}
	if (c->e.srcdir[0] == '\0')
		return; /* nothing was made */
	h_env_done(&c->e);
	snprintf(cmd, sizeof(cmd), "'%s/tests/services/cluster.sh' down '%s' >/dev/null 2>&1",
	         c->e.srcdir, c->cldir);
	if (system(cmd) != 0)
		fprintf(stderr, "cluster.sh down failed\n");
}

int
cl_berth(struct cl *c, const char *args, int with_table, char *out, size_t outlen)
{
	char cmd[1600];
	FILE *f;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd),
	         "AWS_ACCESS_KEY_ID=AKIDBERTHTEST AWS_SECRET_ACCESS_KEY=berth-test-secret "
	         "AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true %s '%s/berth/berth' "
	         "%s%s %s 2>&1",
	         c->env_ddb, c->e.bindir, with_table ? "--dynamodb-table " : "",
	         with_table ? c->table : "", args);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void
cl_log_field(const char *log, const char *event, const char *tenant, const char *key, char *out,
             size_t outlen)
{
	size_t len;
	char *text = tl_read_file_max(log, 64 * 1024 * 1024, &len), *line, *save = NULL;
	char want_ev[128], want_t[128], want_k[64];

	out[0] = '\0';
	if (text == NULL)
		return;
	snprintf(want_ev, sizeof(want_ev), " %s ", event);
	snprintf(want_t, sizeof(want_t), "tenant=%s ", tenant);
	snprintf(want_k, sizeof(want_k), " %s=", key);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *v;

		if (strstr(line, want_ev) == NULL || strstr(line, want_t) == NULL ||
		    (v = strstr(line, want_k)) == NULL)
			continue;
		v += strlen(want_k);
		snprintf(out, outlen, "%.*s", (int)strcspn(v, " "), v);
	}
	free(text);
}
