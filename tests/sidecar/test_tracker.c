/*
 * The tracker against a fake Docker Engine (tests/sidecar/testutil.c) and
 * a registry locked by another process. The event-stream scenarios (what
 * Docker says in, the registry out) are case files run by
 * test_tracker_cases.c.
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
	    cmocka_unit_test_setup_teardown(test_registry_locked_elsewhere, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
