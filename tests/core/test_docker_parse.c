/*
 * Unit tests for the Docker parsers on the shared wire fixtures and on
 * tables of hand-made cases: IPv4/IPv6 duplicates, HostPort as a string,
 * API >= 1.52 events, exited inspect with empty Ports, the line splitter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "core/docker.h"
#include "tests/lib/testlib.h"

#define ID  "9c2e5a7f1b3d4c6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e"
#define ARN "arn:aws:ecs:us-east-1:123456789012:task/tenants/3f8c2a9be0d14e6f9a7b5c4d3e2f1a0b"

static void
test_event_fixtures(void **state)
{
	struct docker_event e;
	char err[128];
	size_t len;
	char *b;

	(void)state;
	b = tl_fixture("docker-event-start.json", &len);
	assert_int_equal(docker_event_parse(b, len, &e, err, sizeof(err)), 0);
	assert_string_equal(e.type, "container");
	assert_string_equal(e.action, "start");
	assert_string_equal(e.id, ID);
	assert_string_equal(e.name, "ecs-tenant-app-12-app-e8c6d5f9a2b4c1d0e701");
	assert_true(e.time_nano == 1749719643642951870LL);
	assert_false(e.has_exit_code);
	free(b);
	/* API >= 1.52: no status/id/from. */
	b = tl_fixture("docker-event-start-api152.json", &len);
	assert_int_equal(docker_event_parse(b, len, &e, err, sizeof(err)), 0);
	assert_string_equal(e.action, "start");
	assert_string_equal(e.id, ID);
	assert_true(e.time_nano == 1749719643642951870LL);
	free(b);
}

struct lifecycle {
	char actions[16][64];
	char types[16][16];
	int n, die_code, has_code;
};

static void
lifecycle_line(const char *line, size_t len, void *arg)
{
	struct lifecycle *l = arg;
	struct docker_event e;
	char err[128];

	assert_int_equal(docker_event_parse(line, len, &e, err, sizeof(err)), 0);
	assert_true(l->n < 16);
	snprintf(l->actions[l->n], sizeof(l->actions[0]), "%s", e.action);
	snprintf(l->types[l->n], sizeof(l->types[0]), "%s", e.type);
	if (strcmp(e.action, "die") == 0) {
		l->die_code = e.exit_code;
		l->has_code = e.has_exit_code;
	}
	l->n++;
}

static void
test_event_lifecycle(void **state)
{
	struct docker_lines lines;
	struct lifecycle l;
	size_t len;
	char *b;
	const char *want[] = {"create", "connect",    "start", "kill",
	                      "die",    "disconnect", "stop",  "destroy"};

	(void)state;
	memset(&l, 0, sizeof(l));
	b = tl_fixture("docker-events-lifecycle.jsonl", &len);
	docker_lines_init(&lines, DOCKER_EVENT_LINE_MAX);
	/* Feed in odd-sized chunks: lines cross chunk boundaries. */
	for (size_t off = 0; off < len; off += 37)
		assert_true(docker_lines_feed(&lines, b + off, len - off < 37 ? len - off : 37,
		                              lifecycle_line, &l) >= 0);
	docker_lines_free(&lines);
	assert_int_equal(l.n, 8);
	for (int i = 0; i < 8; i++)
		assert_string_equal(l.actions[i], want[i]);
	assert_string_equal(l.types[1], "network");
	assert_true(l.has_code);
	free(b);
}

static void
test_event_bad(void **state)
{
	static const char *bad[] = {
	    "",
	    "{",
	    "[]",
	    "{\"Type\":\"container\"}",
	    "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"../../etc\"}}",
	    "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"ABCDEF\"}}",
	    "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" ID "00\"}}",
	    "{\"Type\":5,\"Action\":\"start\"}",
	};
	struct docker_event e;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_not_equal(
		    docker_event_parse(bad[i], strlen(bad[i]), &e, err, sizeof(err)), 0);
		assert_true(err[0] != '\0');
	}
	/* die with exitCode as a string; legacy-only event (status/id). */
	const char *die = "{\"status\":\"die\",\"id\":\"abc123\",\"time\":5,"
	                  "\"Actor\":{\"Attributes\":{\"exitCode\":\"137\",\"name\":\"x\"}}}";
	assert_int_equal(docker_event_parse(die, strlen(die), &e, err, sizeof(err)), 0);
	assert_string_equal(e.type, "container");
	assert_string_equal(e.action, "die");
	assert_string_equal(e.id, "abc123");
	assert_true(e.has_exit_code);
	assert_int_equal(e.exit_code, 137);
	assert_true(e.time_nano == 5000000000LL);
	const char *junk = "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"ab\","
	                   "\"Attributes\":{\"exitCode\":\"1x\"}}}";
	assert_int_equal(docker_event_parse(junk, strlen(junk), &e, err, sizeof(err)), 0);
	assert_false(e.has_exit_code);
}

static void
test_inspect_fixtures(void **state)
{
	struct docker_container c;
	char err[128];
	size_t len;
	char *b;

	(void)state;
	b = tl_fixture("docker-inspect-bridge-dynamic.json", &len);
	assert_int_equal(docker_inspect_parse(b, len, "BERTH_TENANT", &c, err, sizeof(err)), 0);
	assert_string_equal(c.id, ID);
	assert_string_equal(c.name, "ecs-tenant-app-12-app-e8c6d5f9a2b4c1d0e701");
	assert_string_equal(c.state, "running");
	/* IPv4 and IPv6 bindings with the same port fold into one. */
	assert_int_equal(c.nports, 1);
	assert_int_equal(c.ports[0].container_port, 8000);
	assert_string_equal(c.ports[0].proto, "tcp");
	assert_string_equal(c.ports[0].host_ip, "0.0.0.0");
	assert_int_equal(c.ports[0].host_port, 32768);
	assert_int_equal(c.ports[0].host_port_v6, 0);
	assert_int_equal(c.nrequested, 1);
	assert_int_equal(c.requested[0].host_port, 32768);
	assert_string_equal(c.ecs.task_arn, ARN);
	assert_string_equal(c.ecs.container_name, "app");
	assert_string_equal(c.ecs.family, "tenant-app");
	assert_string_equal(c.ecs.revision, "12");
	assert_string_equal(c.ecs.cluster, "tenants");
	assert_true(c.has_env);
	assert_string_equal(c.env_value, "acme");
	assert_true(c.started_at_ms == 1749719643642LL);
	assert_true(c.finished_at_ms == 0);
	assert_non_null(c.labels);
	docker_container_clear(&c);
	/* Without an env name nothing from Env is read. */
	assert_int_equal(docker_inspect_parse(b, len, NULL, &c, err, sizeof(err)), 0);
	assert_false(c.has_env);
	assert_string_equal(c.env_value, "");
	docker_container_clear(&c);
	free(b);

	b = tl_fixture("docker-inspect-exited.json", &len);
	assert_int_equal(docker_inspect_parse(b, len, "BERTH_TENANT", &c, err, sizeof(err)), 0);
	assert_string_equal(c.state, "exited");
	assert_int_equal(c.nports, 0); /* Ports is {} after a stop */
	assert_int_equal(c.exit_code, 0);
	assert_true(c.finished_at_ms > c.started_at_ms);
	docker_container_clear(&c);
	free(b);
}

struct port_case {
	const char *ports; /* NetworkSettings.Ports JSON */
	int n;
	int cport, host_port, host_port_v6;
	const char *ip;
};

static void
test_inspect_ports(void **state)
{
	static const struct port_case cases[] = {
	    /* Docker 20.10.6: a different random port on :: */
	    {"{\"8000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"32768\"},"
	     "{\"HostIp\":\"::\",\"HostPort\":\"32769\"}]}",
	     1, 8000, 32768, 32769, "0.0.0.0"},
	    /* IPv6 first: IPv4 still wins the main slot. */
	    {"{\"8000/tcp\":[{\"HostIp\":\"::\",\"HostPort\":\"40001\"},"
	     "{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"40000\"}]}",
	     1, 8000, 40000, 40001, "0.0.0.0"},
	    /* Exposed, not published. */
	    {"{\"8000/tcp\":null}", 0, 0, 0, 0, NULL},
	    /* HostPort is a string; junk and out-of-range are skipped. */
	    {"{\"8000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"70000\"}],"
	     "\"81/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":32768}],"
	     "\"x/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"5\"}]}",
	     0, 0, 0, 0, NULL},
	    /* Only IPv6. */
	    {"{\"53/udp\":[{\"HostIp\":\"::\",\"HostPort\":\"5353\"}]}", 1, 53, 5353, 0, "::"},
	    {"{}", 0, 0, 0, 0, NULL},
	    {"null", 0, 0, 0, 0, NULL},
	};
	struct docker_container c;
	char body[1024], err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct port_case *pc = &cases[i];

		snprintf(body, sizeof(body), "{\"Id\":\"abc\",\"NetworkSettings\":{\"Ports\":%s}}",
		         pc->ports);
		assert_int_equal(
		    docker_inspect_parse(body, strlen(body), NULL, &c, err, sizeof(err)), 0);
		assert_int_equal(c.nports, pc->n);
		if (pc->n > 0) {
			assert_int_equal(c.ports[0].container_port, pc->cport);
			assert_int_equal(c.ports[0].host_port, pc->host_port);
			assert_int_equal(c.ports[0].host_port_v6, pc->host_port_v6);
			assert_string_equal(c.ports[0].host_ip, pc->ip);
		}
		docker_container_clear(&c);
	}
}

static void
test_inspect_bad(void **state)
{
	static const char *bad[] = {
	    "", "null", "[]", "{}", "{\"Id\":5}", "{\"Id\":\"xyz!\"}", "{\"Id\":\"abc\""};
	struct docker_container c;
	char err[128], msg[128];
	size_t len;
	char *b;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    docker_inspect_parse(bad[i], strlen(bad[i]), NULL, &c, err, sizeof(err)),
		    -EINVAL);
	b = tl_fixture("docker-error-no-such-container.json", &len);
	docker_error_message(b, len, msg, sizeof(msg));
	assert_string_equal(msg, "No such container: 0123456789ab");
	free(b);
	b = tl_fixture("docker-error-api-too-old.json", &len);
	docker_error_message(b, len, msg, sizeof(msg));
	assert_non_null(strstr(msg, "too old"));
	free(b);
	docker_error_message("oops", 4, msg, sizeof(msg));
	assert_string_equal(msg, "");
}

static void
test_list_fixture(void **state)
{
	struct docker_container *v;
	size_t n, len;
	char err[128];
	char *b;

	(void)state;
	b = tl_fixture("docker-containers-list-ecs.json", &len);
	assert_int_equal(docker_list_parse(b, len, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, ID);
	assert_string_equal(v[0].name, "ecs-tenant-app-12-app-e8c6d5f9a2b4c1d0e701");
	assert_string_equal(v[0].state, "running");
	assert_int_equal(v[0].nports, 1); /* 0.0.0.0 and :: duplicates folded */
	assert_int_equal(v[0].ports[0].host_port, 32768);
	assert_string_equal(v[0].ecs.task_arn, ARN);
	docker_list_free(v, n);
	free(b);
	const char *mixed = "[{\"Id\":\"bad id\"},5,{\"Id\":\"ab\",\"Ports\":[{\"PrivatePort\":80,"
	                    "\"Type\":\"tcp\"},{\"IP\":\"0.0.0.0\",\"PrivatePort\":81,"
	                    "\"PublicPort\":\"9\",\"Type\":\"tcp\"}]}]";
	assert_int_equal(docker_list_parse(mixed, strlen(mixed), &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].nports, 0);
	docker_list_free(v, n);
	assert_int_equal(docker_list_parse("{}", 2, &v, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(docker_list_parse("[]", 2, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	docker_list_free(v, n);
}

struct collect {
	char lines[8][32];
	int n;
};

static void
collect_line(const char *line, size_t len, void *arg)
{
	struct collect *c = arg;

	assert_true(c->n < 8 && len < 32);
	memcpy(c->lines[c->n], line, len);
	c->lines[c->n][len] = '\0';
	c->n++;
}

static void
test_lines(void **state)
{
	struct docker_lines l;
	struct collect c;

	(void)state;
	memset(&c, 0, sizeof(c));
	docker_lines_init(&l, 8);
	assert_int_equal(docker_lines_feed(&l, "ab\ncd", 5, collect_line, &c), 1);
	assert_int_equal(docker_lines_feed(&l, "e\n\n", 3, collect_line, &c), 1);
	/* Over the cap across chunks: dropped whole, the next line survives. */
	assert_int_equal(docker_lines_feed(&l, "0123456", 7, collect_line, &c), 0);
	assert_int_equal(docker_lines_feed(&l, "789abc", 6, collect_line, &c), 0);
	assert_int_equal(docker_lines_feed(&l, "def\nok\n", 7, collect_line, &c), 1);
	assert_int_equal(docker_lines_feed(&l, "123456789\nz\n", 12, collect_line, &c), 1);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.lines[0], "ab");
	assert_string_equal(c.lines[1], "cde");
	assert_string_equal(c.lines[2], "ok");
	assert_string_equal(c.lines[3], "z");
	assert_int_equal(l.dropped, 2);
	docker_lines_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_fixtures), cmocka_unit_test(test_event_lifecycle),
	    cmocka_unit_test(test_event_bad),      cmocka_unit_test(test_inspect_fixtures),
	    cmocka_unit_test(test_inspect_ports),  cmocka_unit_test(test_inspect_bad),
	    cmocka_unit_test(test_list_fixture),   cmocka_unit_test(test_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
