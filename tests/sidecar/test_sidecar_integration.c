/*
 * Integration tests: berth-sidecar against the real test dockerd
 * (BERTH_TEST_DOCKER_HOST) and the ECS agent emulator (tests/services/agent).
 * The cases run in order and share one label value, so other users of the
 * same daemon are never touched:
 *   20 containers with -p 0:8000 and ECS labels -> 20 bindings equal to
 *   `docker port`; stop 5 -> STOPPED; remove them -> REMOVED; a container with
 *   no published port -> no row; SIGKILL the sidecar, start 5 and remove 3
 *   while it is down, restart -> the registry matches Docker within 2 s;
 *   restart dockerd (a private daemon) -> reconnect and reconcile; SIGHUP
 *   reopens the log; SIGTERM exits 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include "tests/sidecar/testutil.h"
#include "tests/lib/testlib.h"

#define NCTR    20
#define OUT_MAX (256 * 1024)
#define CLUSTER "berth-it"
#define IMAGE   "berth-test/busybox:latest"

struct sidecar {
	pid_t pid;
	int port;
	char db[256], log[256], docker_host[256];
};

static struct {
	char dir[128];
	char docker_host[256];
	char label[64]; /* berth.it=<pid> */
	/* The private daemon of the restart case: a bridge and subnet of this run's own, so two
	 * runs on one host do not take each other's bridge down. */
	char bridge[16], cidr[24];
	char bin[512], src[512];
	pid_t agent;
	int agent_port;
	struct sidecar side;
	char ids[NCTR + 8][72];
	int nids;
} G;

/* Runs a shell command with DOCKER_HOST=docker_host; returns its exit status, output in out. */
static int
sh_out(const char *docker_host, char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	setenv("DOCKER_HOST", docker_host, 1);
	return tl_run(cmd, out, outlen);
}

#define sh(...) sh_out(G.docker_host, NULL, 0, __VA_ARGS__)

/* GET http://127.0.0.1:port path; returns the status (-1 when no answer), body in a static buffer.
 */
static long
get(int port, const char *path, char **body)
{
	static char buf[OUT_MAX];
	char url[512];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	if (body != NULL)
		*body = buf;
	return tl_http(url, NULL, buf, sizeof(buf), 15000);
}

static json_t *
bindings(struct sidecar *s, const char *query)
{
	char path[256], *body;
	json_t *root, *arr;

	snprintf(path, sizeof(path), "/v1/bindings%s", query != NULL ? query : "");
	if (get(s->port, path, &body) != 200)
		return NULL;
	if ((root = json_loads(body, 0, NULL)) == NULL)
		return NULL;
	arr = json_incref(json_object_get(root, "bindings"));
	json_decref(root);
	return arr;
}

/* The binding row of a container (NULL if none); a new reference. */
static json_t *
row_of(json_t *arr, const char *id)
{
	size_t i;
	json_t *b;

	json_array_foreach(arr, i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "container_id")), id) == 0)
			return json_incref(b);
	}
	return NULL;
}

static const char *
status_of(struct sidecar *s, const char *id)
{
	static char st[32];
	json_t *arr = bindings(s, "?status=removed"), *b;

	st[0] = '\0';
	if (arr != NULL && (b = row_of(arr, id)) != NULL) {
		snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(b, "status")));
		json_decref(b);
	}
	json_decref(arr);
	if (st[0] != '\0')
		return st;
	arr = bindings(s, NULL);
	if (arr != NULL && (b = row_of(arr, id)) != NULL) {
		snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(b, "status")));
		json_decref(b);
	}
	json_decref(arr);
	return st;
}

static void
sidecar_start(struct sidecar *s, const char *docker_host, const char *agent_url)
{
	char bin[600], listen[64];
	const char *argv[] = {bin,         "--db",
	                      s->db,       "--docker-host",
	                      docker_host, "--agent-url",
	                      agent_url,   "--host-ip",
	                      "127.0.0.1", "--listen",
	                      listen,      "--label-filter",
	                      G.label,     "--reconcile-interval",
	                      "2",         "--log-level",
	                      "debug",     "--log-file",
	                      s->log,      NULL};
	double t0 = tl_now_s();

	snprintf(s->docker_host, sizeof(s->docker_host), "%s", docker_host);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
	snprintf(bin, sizeof(bin), "%s/sidecar/berth-sidecar", G.bin);
	s->pid = tl_spawn(argv, NULL, NULL);
	assert_true(s->pid > 0);
	while (tl_now_s() - t0 < 10) {
		if (get(s->port, "/healthz", NULL) == 200)
			return;
		usleep(20000);
	}
	fail_msg("berth-sidecar did not become healthy within 10 s (log: %s)", s->log);
}

/* Sends sig and waits (SIGKILL after 30 s); returns the exit status (or 128+signal). */
static int
sidecar_stop(struct sidecar *s, int sig)
{
	int st;

	if (s->pid <= 0)
		return -1;
	assert_true((st = tl_stop(s->pid, sig, 30000)) != -1);
	s->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* docker run with ECS labels; returns the new ID in out. */
static void
run_ctr(const char *docker_host, int i, int publish, char *out)
{
	char buf[256];

	assert_int_equal(
	    sh_out(
	        docker_host, buf, sizeof(buf),
	        "docker run -d %s -l %s "
	        "-l com.amazonaws.ecs.task-arn=arn:aws:ecs:us-east-1:123456789012:task/" CLUSTER
	        "/%08d%024d "
	        "-l com.amazonaws.ecs.container-name=app "
	        "-l com.amazonaws.ecs.task-definition-family=tenant-app "
	        "-l com.amazonaws.ecs.task-definition-version=12 "
	        "-l com.amazonaws.ecs.cluster=arn:aws:ecs:us-east-1:123456789012:cluster/" CLUSTER
	        " -e BERTH_TENANT=t%d " IMAGE " httpd -f -p 8000",
	        publish ? "-p 0:8000" : "", G.label, (int)getpid(), i, i),
	    0);
	buf[strcspn(buf, "\n")] = '\0';
	assert_int_equal(strlen(buf), 64);
	memcpy(out, buf, 65);
}

/* The host port `docker port` shows for 8000/tcp (the first line). */
static int
docker_port(const char *id)
{
	char out[256], *colon;

	if (sh_out(G.docker_host, out, sizeof(out), "docker port %s 8000/tcp", id) != 0)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	if ((colon = strrchr(out, ':')) == NULL)
		return -1;
	return (int)strtol(colon + 1, NULL, 10);
}

/* Waits until every id has a row in status want (bounded); returns the seconds it took. */
static double
wait_status(struct sidecar *s, char ids[][72], int n, const char *want, double limit)
{
	double t0 = tl_now_s();

	while (tl_now_s() - t0 < limit) {
		int ok = 0;

		for (int i = 0; i < n; i++)
			ok += strcmp(status_of(s, ids[i]), want) == 0;
		if (ok == n)
			return tl_now_s() - t0;
		usleep(50000);
	}
	for (int i = 0; i < n; i++)
		if (strcmp(status_of(s, ids[i]), want) != 0)
			fail_msg("container %.12s is \"%s\", want %s after %.1f s", ids[i],
			         status_of(s, ids[i]), want, limit);
	return limit;
}

static int
group_setup(void **state)
{
	const char *host = getenv("BERTH_TEST_DOCKER_HOST");
	char agent_path[700], port[16];
	double t0;

	(void)state;
	if (host == NULL || *host == '\0')
		fail_msg("BERTH_TEST_DOCKER_HOST is not set: run under ./dev test, or start "
		         "tests/services/dockerd.sh and export it");
	if (getenv("BERTH_BINARY_DIR") == NULL || getenv("BERTH_SOURCE_DIR") == NULL)
		fail_msg("BERTH_BINARY_DIR/BERTH_SOURCE_DIR not set (run under ctest)");
	snprintf(G.docker_host, sizeof(G.docker_host), "%s", host);
	snprintf(G.bin, sizeof(G.bin), "%s", getenv("BERTH_BINARY_DIR"));
	snprintf(G.src, sizeof(G.src), "%s", getenv("BERTH_SOURCE_DIR"));
	snprintf(G.label, sizeof(G.label), "berth.it=%d", (int)getpid());
	snprintf(G.bridge, sizeof(G.bridge), "berth-sr%d", (int)(getpid() % 100000));
	snprintf(G.cidr, sizeof(G.cidr), "10.214.%d.1/24", (int)(getpid() % 250));
	assert_int_equal(tl_tmpdir(G.dir, sizeof(G.dir), "it-sidecar"), 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (sh("docker image inspect " IMAGE " >/dev/null 2>&1") != 0)
		fail_msg("the test image " IMAGE
		         " is missing: run tests/services/dockerd.sh images");
	/* The agent emulator over the same daemon. */
	G.agent_port = tl_free_port();
	snprintf(agent_path, sizeof(agent_path), "%s/tests/services/agent/agent.js", G.src);
	snprintf(port, sizeof(port), "%d", G.agent_port);
	{
		const char *argv[] = {"node",        agent_path,  "--port", port, "--docker-host",
		                      G.docker_host, "--cluster", CLUSTER,  NULL};

		G.agent = tl_spawn(argv, NULL, NULL);
	}
	for (t0 = tl_now_s(); tl_now_s() - t0 < 10; usleep(50000))
		if (get(G.agent_port, "/v1/metadata", NULL) == 200)
			break;
	if (get(G.agent_port, "/v1/metadata", NULL) != 200)
		fail_msg("the agent emulator (node %s) did not answer", agent_path);
	G.side.port = tl_free_port();
	snprintf(G.side.db, sizeof(G.side.db), "%s/registry.db", G.dir);
	snprintf(G.side.log, sizeof(G.side.log), "%s/sidecar.log", G.dir);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (G.docker_host[0] == '\0')
		return 0; /* setup failed before anything started */
	if (G.side.pid > 0)
		sidecar_stop(&G.side, SIGKILL);
	sh("docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null 2>&1", G.label);
	/* The private daemon of the restart case, if a failure left it running. */
	sh("[ -d %s/docker ] && %s/tests/services/dockerd.sh stop %s/docker %s >/dev/null 2>&1",
	   G.dir, G.src, G.dir, G.bridge);
	tl_stop(G.agent, SIGTERM, 10000);
	curl_global_cleanup();
	return 0;
}

static void
test_twenty_bindings(void **state)
{
	char agent_url[64], *body;
	json_t *arr, *h;
	double t0;

	(void)state;
	snprintf(agent_url, sizeof(agent_url), "http://127.0.0.1:%d", G.agent_port);
	sidecar_start(&G.side, G.docker_host, agent_url);
	t0 = tl_now_s();
	for (int i = 0; i < NCTR; i++)
		run_ctr(G.docker_host, i, 1, G.ids[G.nids++]);
	print_message("started %d containers in %.1f s\n", NCTR, tl_now_s() - t0);
	wait_status(&G.side, G.ids, NCTR, "RUNNING", 10);
	arr = bindings(&G.side, NULL);
	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), NCTR);
	for (int i = 0; i < NCTR; i++) {
		json_t *b = row_of(arr, G.ids[i]);
		char tenant[16];

		assert_non_null(b);
		assert_int_equal(json_integer_value(json_object_get(b, "host_port")),
		                 docker_port(G.ids[i]));
		assert_int_equal(json_integer_value(json_object_get(b, "container_port")), 8000);
		assert_string_equal(json_string_value(json_object_get(b, "host_ip")), "127.0.0.1");
		assert_string_equal(json_string_value(json_object_get(b, "cluster")), CLUSTER);
		assert_string_equal(json_string_value(json_object_get(b, "family")), "tenant-app");
		snprintf(tenant, sizeof(tenant), "t%d", i);
		assert_string_equal(json_string_value(json_object_get(b, "tenant")), tenant);
		json_decref(b);
	}
	json_decref(arr);
	/* The long-poll answers at once for a binding that exists. */
	{
		char path[128];

		snprintf(path, sizeof(path), "/v1/bindings/%.12s?wait=5", G.ids[0]);
		assert_int_equal(get(G.side.port, path, &body), 200);
		assert_non_null(strstr(body, G.ids[0]));
	}
	/* The agent emulator answered: cluster known, no error. */
	assert_int_equal(get(G.side.port, "/healthz", &body), 200);
	h = json_loads(body, 0, NULL);
	assert_non_null(h);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(h, "agent"), "state")), "ok");
	json_decref(h);
	assert_int_equal(get(G.side.port, "/metrics", &body), 200);
	assert_non_null(strstr(body, "berth_sidecar_events_total{type=\"start\"}"));
	assert_non_null(strstr(body, "berth_sidecar_bindings{status=\"RUNNING\"} 20"));
}

static void
test_stop_then_remove(void **state)
{
	char cmd[1024] = "";
	json_t *arr, *b;

	(void)state;
	for (int i = 0; i < 5; i++) {
		strncat(cmd, " ", sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, G.ids[i], sizeof(cmd) - strlen(cmd) - 1);
	}
	assert_int_equal(sh("docker stop -t 1%s >/dev/null", cmd), 0);
	wait_status(&G.side, G.ids, 5, "STOPPED", 10);
	arr = bindings(&G.side, "?status=stopped");
	assert_int_equal(json_array_size(arr), 5);
	b = row_of(arr, G.ids[0]);
	assert_true(json_is_integer(json_object_get(b, "exit_code")));
	assert_true(json_integer_value(json_object_get(b, "host_port")) > 0); /* port kept */
	json_decref(b);
	json_decref(arr);
	wait_status(&G.side, G.ids + 5, NCTR - 5, "RUNNING", 1);
	assert_int_equal(sh("docker rm%s >/dev/null", cmd), 0);
	wait_status(&G.side, G.ids, 5, "REMOVED", 10);
	arr = bindings(&G.side, NULL); /* removed rows are left out by default */
	assert_int_equal(json_array_size(arr), NCTR - 5);
	json_decref(arr);
}

static void
test_no_published_port(void **state)
{
	char quiet[72], marker[1][72];
	json_t *arr, *b;

	(void)state;
	char other[256];

	run_ctr(G.docker_host, 90, 0, quiet);
	/* Outside --label-filter: published, but not tracked. */
	assert_int_equal(sh_out(G.docker_host, other, sizeof(other),
	                        "docker run -d -p 0:8000 -l berth.it.other=%d " IMAGE
	                        " httpd -f -p 8000",
	                        (int)getpid()),
	                 0);
	other[strcspn(other, "\n")] = '\0';
	run_ctr(G.docker_host, 91, 1, marker[0]);
	/* Events are handled in order: once the later one has its row, the first was seen. */
	wait_status(&G.side, marker, 1, "RUNNING", 10);
	arr = bindings(&G.side, NULL);
	b = row_of(arr, quiet);
	assert_null(b);
	b = row_of(arr, other);
	assert_null(b);
	json_decref(arr);
	sh("docker rm -f %s %s %s >/dev/null", quiet, marker[0], other);
	wait_status(&G.side, marker, 1, "REMOVED", 10);
}

static void
test_sigkill_restart(void **state)
{
	char agent_url[64], fresh[5][72], gone[3][72];
	double t0, took;
	json_t *arr;
	int running = 0;

	(void)state;
	assert_int_equal(sidecar_stop(&G.side, SIGKILL), 128 + SIGKILL);
	for (int i = 0; i < 5; i++)
		run_ctr(G.docker_host, 40 + i, 1, fresh[i]);
	for (int i = 0; i < 3; i++) {
		memcpy(gone[i], G.ids[5 + i], 72);
		assert_int_equal(sh("docker rm -f %s >/dev/null", gone[i]), 0);
	}
	snprintf(agent_url, sizeof(agent_url), "http://127.0.0.1:%d", G.agent_port);
	t0 = tl_now_s();
	sidecar_start(&G.side, G.docker_host, agent_url);
	/* Within 2 s of the restart the registry matches Docker. */
	for (;;) {
		int ok = 1;

		for (int i = 0; i < 5; i++)
			ok &= strcmp(status_of(&G.side, fresh[i]), "RUNNING") == 0;
		for (int i = 0; i < 3; i++)
			ok &= strcmp(status_of(&G.side, gone[i]), "REMOVED") == 0;
		if (ok || tl_now_s() - t0 > 2.0)
			break;
		usleep(20000);
	}
	took = tl_now_s() - t0;
	print_message("registry matched Docker %.3f s after the restart\n", took);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(status_of(&G.side, fresh[i]), "RUNNING");
	}
	for (int i = 0; i < 3; i++)
		assert_string_equal(status_of(&G.side, gone[i]), "REMOVED");
	assert_true(took <= 2.0);
	/* Every running container has its row with the right port. */
	arr = bindings(&G.side, "?status=running");
	{
		size_t i;
		json_t *b;

		json_array_foreach(arr, i, b)
		{
			const char *id = json_string_value(json_object_get(b, "container_id"));

			assert_int_equal(json_integer_value(json_object_get(b, "host_port")),
			                 docker_port(id));
			running++;
		}
	}
	json_decref(arr);
	assert_int_equal(running, NCTR - 5 - 3 + 5);
}

static void
test_signals(void **state)
{
	char moved[300], *body;
	struct stat st;

	(void)state;
	/* SIGHUP reopens the log file (rotation). */
	snprintf(moved, sizeof(moved), "%s.1", G.side.log);
	assert_int_equal(rename(G.side.log, moved), 0);
	kill(G.side.pid, SIGHUP);
	for (int i = 0; i < 100 && stat(G.side.log, &st) != 0; i++)
		usleep(20000);
	assert_int_equal(stat(G.side.log, &st), 0);
	assert_int_equal(get(G.side.port, "/healthz", &body), 200);
	/* SIGTERM: a clean exit 0. */
	assert_int_equal(sidecar_stop(&G.side, SIGTERM), 0);
}

static void
test_dockerd_restart(void **state)
{
	char ddir[256], host[600], out[512], pidfile[300], ids[2][72], fresh[1][72];
	struct sidecar s;
	double t0;
	char *body;
	FILE *fp;
	int dpid = 0;

	(void)state;
	/* A private daemon: this case stops and starts it. */
	snprintf(ddir, sizeof(ddir), "%s/docker", G.dir);
	if (sh_out(G.docker_host, out, sizeof(out), "%s/tests/services/dockerd.sh start %s %s %s",
	           G.src, ddir, G.bridge, G.cidr) != 0)
		fail_msg("could not start a private dockerd (%s)", out);
	out[strcspn(out, "\n")] = '\0';
	snprintf(host, sizeof(host), "%s", out);
	assert_int_equal(sh("%s/tests/services/dockerd.sh images %s", G.src, ddir), 0);
	memset(&s, 0, sizeof(s));
	s.port = tl_free_port();
	snprintf(s.db, sizeof(s.db), "%s/registry-restart.db", G.dir);
	snprintf(s.log, sizeof(s.log), "%s/sidecar-restart.log", G.dir);
	sidecar_start(&s, host, "none");
	for (int i = 0; i < 2; i++)
		run_ctr(host, 60 + i, 1, ids[i]);
	wait_status(&s, ids, 2, "RUNNING", 10);
	/* Stop the daemon (its containers stop with it), then start it again. */
	snprintf(pidfile, sizeof(pidfile), "%s/docker.pid", ddir);
	assert_non_null(fp = fopen(pidfile, "r"));
	assert_int_equal(fscanf(fp, "%d", &dpid), 1);
	fclose(fp);
	kill(dpid, SIGTERM);
	for (t0 = tl_now_s(); tl_now_s() - t0 < 30 && kill(dpid, 0) == 0; usleep(100000))
		;
	assert_int_not_equal(kill(dpid, 0), 0);
	for (t0 = tl_now_s(); tl_now_s() - t0 < 5; usleep(50000))
		if (get(s.port, "/healthz", NULL) == 503)
			break;
	assert_int_equal(get(s.port, "/healthz", NULL), 503);
	assert_int_equal(sh("%s/tests/services/dockerd.sh start %s %s %s >/dev/null", G.src, ddir,
	                    G.bridge, G.cidr),
	                 0);
	/* No manual step: the sidecar reconnects and reconciles (exited -> STOPPED). */
	for (t0 = tl_now_s(); tl_now_s() - t0 < 15; usleep(50000))
		if (get(s.port, "/healthz", NULL) == 200)
			break;
	assert_int_equal(get(s.port, "/healthz", NULL), 200);
	print_message("sidecar healthy %.2f s after dockerd came back\n", tl_now_s() - t0);
	wait_status(&s, ids, 2, "STOPPED", 10);
	run_ctr(host, 70, 1, fresh[0]);
	wait_status(&s, fresh, 1, "RUNNING", 10);
	assert_int_equal(get(s.port, "/metrics", &body), 200);
	assert_null(strstr(body, "berth_sidecar_reconnects_total 0\n"));
	assert_int_equal(sidecar_stop(&s, SIGTERM), 0);
	sh("%s/tests/services/dockerd.sh stop %s %s", G.src, ddir, G.bridge);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_twenty_bindings),   cmocka_unit_test(test_stop_then_remove),
	    cmocka_unit_test(test_no_published_port), cmocka_unit_test(test_sigkill_restart),
	    cmocka_unit_test(test_signals),           cmocka_unit_test(test_dockerd_restart),
	};

	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

	tl_tmpdirs_done(rc == 0); /* kept when a case failed: its logs are in them */
	return rc;
}
