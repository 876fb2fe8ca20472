/*
 * Unit tests for the tracker against a fake Docker Engine (tests/sidecar/
 * testutil.c) and a real registry file: a recorded event stream and the
 * registry it must produce, API >= 1.52 events, the IPv6 different-port
 * quirk, internal and port-less containers, 404 on inspect, a broken stream
 * (reconnect, replay, reconcile), the agent as a second source, and a
 * registry locked by another process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "core/docker.h"
#include "core/evcurl.h"
#include "registry/registry.h"
#include "sidecar/agent.h"
#include "core/metrics.h"
#include "sidecar/tracker.h"
#include "tests/sidecar/testutil.h"
#include "tests/lib/testlib.h"

#define ID  "9c2e5a7f1b3d4c6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e"
#define ID2 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID3 "2222222222222222222222222222222222222222222222222222222222222222"
#define ARN "arn:aws:ecs:us-east-1:123456789012:task/tenants/3f8c2a9be0d14e6f9a7b5c4d3e2f1a0b"

struct fx {
	struct tu_stack s;
	int commits;
};

static void
on_commit(void *arg)
{
	((struct fx *)arg)->commits++;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tu_stack_open(&f->s, "test-tracker", "203.0.113.7");
	tracker_on_commit(f->s.t, on_commit, f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	tu_stack_close(&f->s);
	free(f);
	return 0;
}

/* Status of the row of task (or -1 when none). */
static int
status_of(struct fx *f, const char *task)
{
	struct binding b;

	return registry_binding_get(f->s.reg, task, &b) == 0 ? (int)b.status : -1;
}

static char *
inspect_body(const char *id, const char *state, const char *ports, const char *labels,
             const char *env)
{
	char *b = malloc(4096);

	snprintf(
	    b, 4096,
	    "{\"Id\":\"%s\",\"Name\":\"/c-%.6s\",\"State\":{\"Status\":\"%s\",\"ExitCode\":%d,"
	    "\"StartedAt\":\"2026-01-01T00:00:00.5Z\",\"FinishedAt\":\"0001-01-01T00:00:00Z\"},"
	    "\"Config\":{\"Labels\":{%s},\"Env\":[%s]},"
	    "\"NetworkSettings\":{\"Ports\":{%s}}}",
	    id, id, state, strcmp(state, "exited") == 0 ? 3 : 0, labels, env, ports);
	return b;
}

/* A running plain container publishing 8000/tcp on host port host_port. */
static void
put_running(struct fx *f, const char *id, int host_port)
{
	char ports[128];

	snprintf(ports, sizeof(ports),
	         "\"8000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"%d\"}]", host_port);
	fake_docker_put(f->s.fake, id, inspect_body(id, "running", ports, "", ""));
}

static void
event(struct fx *f, const char *action, const char *id, const char *extra)
{
	char line[1024];

	snprintf(line, sizeof(line),
	         "{\"Type\":\"container\",\"Action\":\"%s\",\"Actor\":{\"ID\":\"%s\","
	         "\"Attributes\":{%s}},\"scope\":\"local\",\"time\":1767225600,"
	         "\"timeNano\":1767225600000000000}",
	         action, id, extra != NULL ? extra : "");
	fake_docker_event(f->s.fake, line);
}

static int
get(struct fx *f, const char *task, struct binding *b)
{
	return registry_binding_get(f->s.reg, task, b);
}

static int
count_cb(const struct binding *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

static int
count(struct fx *f, const char *container_id)
{
	struct binding_filter flt = {
	    .status = -1, .include_removed = 1, .container_id = container_id};
	int n = 0;

	assert_int_equal(registry_binding_list(f->s.reg, &flt, count_cb, &n), 0);
	return n;
}

struct port_find {
	int port;
	struct binding *out;
	int found;
};

static int
port_cb(const struct binding *b, void *arg)
{
	struct port_find *p = arg;

	if (b->container_port == p->port) {
		*p->out = *b;
		p->found = 1;
	}
	return 0;
}

/* The row of container_id for container port port. */
static int
port(struct fx *f, const char *container_id, int port, struct binding *out)
{
	struct binding_filter flt = {
	    .status = -1, .include_removed = 1, .container_id = container_id};
	struct port_find p = {.port = port, .out = out};

	assert_int_equal(registry_binding_list(f->s.reg, &flt, port_cb, &p), 0);
	return p.found ? 0 : -1;
}

static void
test_recorded_lifecycle(void **state)
{
	struct fx *f = *state;
	struct binding b;
	size_t len;
	char *lines, *p, *nl;

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	/* The recorded stream: create, connect, start, kill, die, disconnect, stop, destroy. */
	fake_docker_put(f->s.fake, ID, tl_fixture("docker-inspect-bridge-dynamic.json", NULL));
	lines = tl_fixture("docker-events-lifecycle.jsonl", &len);
	p = lines;
	for (int i = 0; i < 3; i++, p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		fake_docker_event(f->s.fake, p);
	}
	TU_UNTIL(f->s.base, status_of(f, ARN) == BINDING_RUNNING);
	assert_int_equal(get(f, ARN, &b), 0);
	assert_int_equal(b.status, BINDING_RUNNING);
	assert_int_equal(b.container_port, 8000);
	assert_string_equal(b.protocol, "tcp");
	assert_int_equal(b.host_port, 32768);
	assert_int_equal(b.host_port_v6, 0); /* IPv6 duplicate with the same port folded */
	assert_string_equal(b.host_ip, "203.0.113.7");
	assert_string_equal(b.tenant, "acme");
	assert_string_equal(b.cluster, "tenants");
	assert_string_equal(b.family, "tenant-app");
	assert_string_equal(b.revision, "12");
	assert_string_equal(b.container_name, "app");
	assert_string_equal(b.task_id, "3f8c2a9be0d14e6f9a7b5c4d3e2f1a0b");
	assert_int_equal(count(f, ID), 1);
	assert_true(f->commits > 0);
	/* After the stop inspect shows Ports {}; the die event alone stops the row. */
	fake_docker_put(f->s.fake, ID, tl_fixture("docker-inspect-exited.json", NULL));
	for (int i = 3; i < 7; i++, p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		fake_docker_event(f->s.fake, p);
	}
	TU_UNTIL(f->s.base, status_of(f, ARN) == BINDING_STOPPED);
	assert_int_equal(get(f, ARN, &b), 0);
	assert_int_equal(b.status, BINDING_STOPPED);
	assert_true(b.has_exit_code);
	assert_int_equal(b.host_port, 32768); /* the port is kept */
	fake_docker_del(f->s.fake, ID);
	nl = strchr(p, '\n');
	if (nl != NULL)
		*nl = '\0';
	fake_docker_event(f->s.fake, p);
	TU_UNTIL(f->s.base, status_of(f, ARN) == BINDING_REMOVED);
	assert_int_equal(get(f, ARN, &b), 0);
	assert_int_equal(b.status, BINDING_REMOVED);
	free(lines);
}

/*
 * Podman's Docker-compatible API says "died" and "remove" where Docker says
 * "die" and "destroy": the binding still stops and goes at once, not at the
 * next reconcile.
 */
static void
test_podman_names(void **state)
{
	static const char *const lines[] = {
	    "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" ID "\"},"
	    "\"time\":1767225600,\"timeNano\":1767225600000000000}",
	    "{\"Type\":\"container\",\"Action\":\"died\",\"Actor\":{\"ID\":\"" ID "\","
	    "\"Attributes\":{\"exitCode\":\"3\"}},\"time\":1767225601,"
	    "\"timeNano\":1767225601000000000}",
	    "{\"Type\":\"container\",\"Action\":\"remove\",\"Actor\":{\"ID\":\"" ID "\"},"
	    "\"time\":1767225602,\"timeNano\":1767225602000000000}",
	};
	struct fx *f = *state;
	struct binding b;

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	fake_docker_put(f->s.fake, ID, tl_fixture("docker-inspect-bridge-dynamic.json", NULL));
	fake_docker_event(f->s.fake, lines[0]);
	TU_UNTIL(f->s.base, status_of(f, ARN) == BINDING_RUNNING);
	assert_int_equal(status_of(f, ARN), BINDING_RUNNING);
	fake_docker_put(f->s.fake, ID, tl_fixture("docker-inspect-exited.json", NULL));
	fake_docker_event(f->s.fake, lines[1]);
	TU_UNTIL(f->s.base, status_of(f, ARN) == BINDING_STOPPED);
	assert_int_equal(get(f, ARN, &b), 0);
	assert_int_equal(b.status, BINDING_STOPPED);
	fake_docker_del(f->s.fake, ID);
	fake_docker_event(f->s.fake, lines[2]);
	TU_UNTIL(f->s.base, status_of(f, ARN) == BINDING_REMOVED);
	assert_int_equal(status_of(f, ARN), BINDING_REMOVED);
}

static void
test_api152_ipv6_and_skips(void **state)
{
	struct fx *f = *state;
	struct binding b;
	char *line;

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	/* API >= 1.52 start event (no status/id/from). */
	fake_docker_put(f->s.fake, ID, tl_fixture("docker-inspect-bridge-dynamic.json", NULL));
	line = tl_fixture("docker-event-start-api152.json", NULL);
	line[strcspn(line, "\n")] = '\0';
	fake_docker_event(f->s.fake, line);
	free(line);
	/* Docker 20.10.6: IPv6 on a different port; a plain container keyed by its ID. */
	fake_docker_put(
	    f->s.fake, ID2,
	    inspect_body(ID2, "running",
	                 "\"8000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"40000\"},"
	                 "{\"HostIp\":\"::\",\"HostPort\":\"40001\"}],"
	                 "\"9000/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"40002\"}]",
	                 "", "\"BERTH_TENANT=t2\",\"SECRET=x\""));
	event(f, "start", ID2, NULL);
	/* An internal (pause) container and one with no published port: no rows. */
	fake_docker_put(
	    f->s.fake, ID3,
	    inspect_body(ID3, "running",
	                 "\"8000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"40010\"}]",
	                 "\"com.amazonaws.ecs.container-name\":\"~internal~ecs~pause\"", ""));
	event(f, "start", ID3, NULL);
	TU_UNTIL(f->s.base, status_of(f, ARN) == BINDING_RUNNING && count(f, ID2) == 2);
	tu_spin(f->s.base, 50); /* ID3 (internal) was sent last: give it the same time */
	assert_int_equal(get(f, ARN, &b), 0);
	assert_int_equal(b.host_port, 32768);
	assert_int_equal(count(f, ID2), 2);
	assert_int_equal(port(f, ID2, 9000, &b), 0);
	assert_string_equal(b.protocol, "udp");
	assert_string_equal(b.host_ip, "127.0.0.1"); /* a specific address is kept */
	assert_int_equal(port(f, ID2, 8000, &b), 0);
	assert_int_equal(b.host_port, 40000);
	assert_int_equal(b.host_port_v6, 40001);
	assert_string_equal(b.tenant, "t2");
	assert_string_equal(b.task_arn, ID2);
	assert_int_equal(count(f, ID3), 0);
	fake_docker_put(f->s.fake, ID3, inspect_body(ID3, "running", "\"8000/tcp\":null", "", ""));
	event(f, "start", ID3, NULL);
	tu_spin(f->s.base, 100);
	assert_int_equal(count(f, ID3), 0);
}

static void
test_gone_before_inspect(void **state)
{
	struct fx *f = *state;

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	/* start for a container the daemon no longer has: inspect gets 404, no row. */
	event(f, "start", ID3, NULL);
	tu_spin(f->s.base, 100);
	assert_int_equal(count(f, ID3), 0);
	assert_true(fake_docker_inspects(f->s.fake) >= 1);
	/* die with an exit code, then destroy, for a container with rows. */
	fake_docker_put(f->s.fake, ID2,
	                inspect_body(ID2, "running",
	                             "\"8000/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"40000\"}]", "",
	                             ""));
	event(f, "start", ID2, NULL);
	TU_UNTIL(f->s.base, status_of(f, ID2) == BINDING_RUNNING);
	event(f, "die", ID2, "\"exitCode\":\"137\"");
	TU_UNTIL(f->s.base, status_of(f, ID2) == BINDING_STOPPED);
	{
		struct binding b;

		assert_int_equal(get(f, ID2, &b), 0);
		assert_int_equal(b.status, BINDING_STOPPED);
		assert_int_equal(b.exit_code, 137);
	}
}

static void
test_provisional_on_create(void **state)
{
	struct fx *f = *state;
	struct binding b;
	char *body = malloc(2048);

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	/* Agent >= 1.70 names the host port in PortBindings: known at create. */
	snprintf(body, 2048,
	         "{\"Id\":\"%s\",\"Name\":\"/p\",\"State\":{\"Status\":\"created\"},"
	         "\"Config\":{\"Labels\":{\"com.amazonaws.ecs.task-arn\":\"arn:aws:ecs:r:1:task/c/"
	         "prov1\"}},\"HostConfig\":{\"PortBindings\":{\"8000/tcp\":[{\"HostIp\":\"\","
	         "\"HostPort\":\"32790\"}]}},\"NetworkSettings\":{\"Ports\":{}}}",
	         ID2);
	fake_docker_put(f->s.fake, ID2, body);
	event(f, "create", ID2, NULL);
	TU_UNTIL(f->s.base, status_of(f, "prov1") == BINDING_PROVISIONAL);
	assert_int_equal(get(f, "prov1", &b), 0);
	assert_int_equal(b.status, BINDING_PROVISIONAL);
	assert_int_equal(b.host_port, 32790);
	fake_docker_put(
	    f->s.fake, ID2,
	    inspect_body(ID2, "running",
	                 "\"8000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"32790\"}]",
	                 "\"com.amazonaws.ecs.task-arn\":\"arn:aws:ecs:r:1:task/c/prov1\"", ""));
	event(f, "start", ID2, NULL);
	TU_UNTIL(f->s.base, status_of(f, "prov1") == BINDING_RUNNING);
	assert_int_equal(get(f, "prov1", &b), 0);
	assert_int_equal(b.status, BINDING_RUNNING);
	assert_int_equal(b.host_port, 32790);
	/* Docker's empty HostPort (agents before 1.70): nothing provisional. */
	fake_docker_put(f->s.fake, ID3,
	                strdup("{\"Id\":\"" ID3 "\",\"State\":{\"Status\":\"created\"},"
	                       "\"HostConfig\":{\"PortBindings\":{\"8000/tcp\":[{\"HostIp\":\"\","
	                       "\"HostPort\":\"\"}]}}}"));
	event(f, "create", ID3, NULL);
	tu_spin(f->s.base, 100);
	assert_int_equal(count(f, ID3), 0);
}

static void
test_reconnect_reconcile(void **state)
{
	struct fx *f = *state;
	unsigned long reconnects;
	struct binding b;

	put_running(f, ID2, 40000);
	put_running(f, ID3, 40001);
	/* The first reconcile finds both running containers (no events needed). */
	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	TU_UNTIL(f->s.base, count(f, ID2) == 1 && count(f, ID3) == 1);
	assert_int_equal(count(f, ID2), 1);
	assert_int_equal(count(f, ID3), 1);
	/* The stream breaks; meanwhile ID3 is removed and ID is started. */
	reconnects = (unsigned long)metrics_value(f->s.m, "berth_sidecar_reconnects_total", NULL);
	fake_docker_close_events(f->s.fake);
	TU_UNTIL(f->s.base,
	         metrics_value(f->s.m, "berth_sidecar_reconnects_total", NULL) > reconnects);
	assert_true(metrics_value(f->s.m, "berth_sidecar_reconnects_total", NULL) > reconnects);
	fake_docker_del(f->s.fake, ID3);
	fake_docker_put(f->s.fake, ID, tl_fixture("docker-inspect-bridge-dynamic.json", NULL));
	tu_wait_connected(&f->s);
	TU_UNTIL(f->s.base,
	         status_of(f, ID3) == BINDING_REMOVED && status_of(f, ARN) == BINDING_RUNNING);
	assert_int_equal(get(f, ID3, &b), 0);
	assert_int_equal(b.status, BINDING_REMOVED);
	assert_int_equal(get(f, ARN, &b), 0);
	assert_int_equal(b.status, BINDING_RUNNING);
	assert_int_equal(get(f, ID2, &b), 0);
	assert_int_equal(b.status, BINDING_RUNNING);
	assert_int_equal(b.version, 1); /* unchanged rows are not written again */
}

static void
test_agent_second_source(void **state)
{
	struct fx *f = *state;
	struct agent_task *tasks;
	size_t n, len;
	char err[256];
	char *body;
	struct binding b;

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	/* Docker has the container but the tracker missed its events. */
	fake_docker_put(f->s.fake, ID, tl_fixture("docker-inspect-bridge-dynamic.json", NULL));
	body = tl_fixture("agent-tasks.json", &len);
	assert_int_equal(agent_tasks_parse(body, len, &tasks, &n, err, sizeof(err)), 0);
	tracker_agent_tasks(f->s.t, tasks, n);
	TU_UNTIL(f->s.base, status_of(f, ARN) == BINDING_RUNNING);
	assert_int_equal(get(f, ARN, &b), 0);
	assert_int_equal(b.status, BINDING_RUNNING);
	/* Asked again with the rows in place: no further inspect. */
	{
		unsigned long before = fake_docker_inspects(f->s.fake);

		tracker_agent_tasks(f->s.t, tasks, n);
		tu_spin(f->s.base, 50);
		assert_int_equal(fake_docker_inspects(f->s.fake), before);
	}
	agent_tasks_free(tasks, n);
	free(body);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(*(int *)arg)++;
}

/*
 * Another process holds the registry's write lock: the loop keeps turning
 * (events read, containers inspected) while the writes wait in the queue,
 * and they all land once the lock is gone.
 */
static void
test_registry_locked_elsewhere(void **state)
{
	struct fx *f = *state;
	struct timeval ten_ms = {0, 10000};
	struct event *ev;
	sqlite3 *other;
	unsigned long errors, inspects;
	int ticks = 0;

	registry_set_busy(f->s.reg, 50); /* as berth-sidecar runs it */
	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	assert_int_equal(sqlite3_open(f->s.db, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	errors = (unsigned long)metrics_value(f->s.m, "berth_sidecar_commit_errors_total", NULL);
	inspects = fake_docker_inspects(f->s.fake);
	put_running(f, ID2, 40002);
	put_running(f, ID3, 40003);
	event(f, "start", ID2, NULL);
	TU_UNTIL(f->s.base,
	         metrics_value(f->s.m, "berth_sidecar_commit_errors_total", NULL) > errors);
	assert_true(metrics_value(f->s.m, "berth_sidecar_commit_errors_total", NULL) > errors);
	/* The first commit is failing; the stream is still read and inspects still go out. */
	event(f, "start", ID3, NULL);
	TU_UNTIL(f->s.base, fake_docker_inspects(f->s.fake) >= inspects + 2);
	assert_true(fake_docker_inspects(f->s.fake) >= inspects + 2);
	/* A 10 ms timer keeps firing: no call waits out a long lock timeout. */
	ev = event_new(f->s.base, -1, EV_PERSIST, tick, &ticks);
	assert_non_null(ev);
	event_add(ev, &ten_ms);
	tu_spin(f->s.base, 1000);
	event_free(ev);
	print_message(
	    "locked 1 s: %d ticks of 10 ms, %lu failed commits\n", ticks,
	    (unsigned long)metrics_value(f->s.m, "berth_sidecar_commit_errors_total", NULL) -
	        errors);
	assert_true(ticks >= 20);
	assert_int_equal(status_of(f, ID2), -1);
	assert_int_equal(status_of(f, ID3), -1);

	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	TU_UNTIL(f->s.base,
	         status_of(f, ID2) == BINDING_RUNNING && status_of(f, ID3) == BINDING_RUNNING);
	assert_int_equal(status_of(f, ID2), BINDING_RUNNING);
	assert_int_equal(status_of(f, ID3), BINDING_RUNNING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_recorded_lifecycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_podman_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_api152_ipv6_and_skips, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gone_before_inspect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_provisional_on_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect_reconcile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_agent_second_source, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_locked_elsewhere, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
