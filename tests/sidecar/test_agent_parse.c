/*
 * Unit tests for the ECS agent introspection parsers on every agent fixture:
 * the duplicate IPv4/IPv6 Ports entries, a missing HostPort, the 1.19.0
 * DockerID spelling, the bare ?dockerid= answer, the 404 body, old agents
 * with no Ports, and a table of bad inputs.
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

#include "sidecar/agent.h"
#include "tests/sidecar/testutil.h"
#include "tests/lib/testlib.h"

#define ID  "9c2e5a7f1b3d4c6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e"
#define ARN "arn:aws:ecs:us-east-1:123456789012:task/tenants/3f8c2a9be0d14e6f9a7b5c4d3e2f1a0b"

static void
parse_file(const char *name, struct agent_task **v, size_t *n)
{
	char err[256];
	size_t len;
	char *b = tl_fixture(name, &len);

	assert_int_equal(agent_tasks_parse(b, len, v, n, err, sizeof(err)), 0);
	free(b);
}

static void
test_metadata(void **state)
{
	struct agent_metadata m;
	char err[256];
	size_t len;
	char *b = tl_fixture("agent-metadata.json", &len);
	const char *arn_cluster = "{\"Cluster\":\"arn:aws:ecs:us-east-1:1:cluster/prod\","
	                          "\"ContainerInstanceArn\":null}";

	(void)state;
	assert_int_equal(agent_metadata_parse(b, len, &m, err, sizeof(err)), 0);
	assert_string_equal(m.cluster, "tenants");
	assert_string_equal(m.cluster_short, "tenants");
	assert_non_null(strstr(m.instance_arn, "container-instance/tenants/"));
	assert_non_null(strstr(m.version, "v1.105.1"));
	free(b);
	/* The cluster may be an ARN; ContainerInstanceArn may be null. */
	assert_int_equal(
	    agent_metadata_parse(arn_cluster, strlen(arn_cluster), &m, err, sizeof(err)), 0);
	assert_string_equal(m.cluster_short, "prod");
	assert_string_equal(m.instance_arn, "");
	assert_int_equal(agent_metadata_parse("{}", 2, &m, err, sizeof(err)), -EINVAL);
	assert_int_equal(agent_metadata_parse("[1]", 3, &m, err, sizeof(err)), -EINVAL);
	assert_int_equal(agent_metadata_parse("", 0, &m, err, sizeof(err)), -EINVAL);
}

static void
test_tasks(void **state)
{
	struct agent_task *v;
	size_t n;

	(void)state;
	parse_file("agent-tasks.json", &v, &n);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].arn, ARN);
	assert_string_equal(v[0].known_status, "RUNNING");
	assert_string_equal(v[0].version, "12");
	assert_int_equal(v[0].ncontainers, 1);
	assert_string_equal(v[0].containers[0].docker_id, ID);
	/* Two identical Ports entries (0.0.0.0 and :: with HostIp dropped) fold into one. */
	assert_int_equal(v[0].containers[0].nports, 1);
	assert_int_equal(v[0].containers[0].ports[0].host_port, 32768);
	/* PENDING: DockerId "" and no HostPort yet. */
	assert_string_equal(v[1].known_status, "PENDING");
	assert_string_equal(v[1].containers[0].docker_id, "");
	assert_int_equal(v[1].containers[0].nports, 1);
	assert_int_equal(v[1].containers[0].ports[0].host_port, 0);
	assert_string_equal(v[2].known_status, "STOPPED");
	agent_tasks_free(v, n);
}

static void
test_tasks_quirks(void **state)
{
	struct agent_task *v;
	size_t n;
	char err[256];
	size_t len;
	char *b;

	(void)state;
	/* Agent 1.19.0: DockerID. */
	parse_file("agent-tasks-v1.19.0-dockerID.json", &v, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].containers[0].docker_id, ID);
	assert_int_equal(v[0].containers[0].ports[0].host_port, 32768);
	agent_tasks_free(v, n);
	/* Before 1.17.2 (and the docs example): no Ports at all. */
	parse_file("agent-tasks-docs-example.json", &v, &n);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].ncontainers, 2);
	assert_int_equal(v[0].containers[0].nports, 0);
	assert_string_equal(v[0].containers[1].name, "wordpress");
	agent_tasks_free(v, n);
	/* ?dockerid= answers one bare task. */
	parse_file("agent-task-by-dockerid.json", &v, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].arn, ARN);
	agent_tasks_free(v, n);
	parse_file("agent-tasks-empty.json", &v, &n);
	assert_int_equal(n, 0);
	agent_tasks_free(v, n);
	/* The 404 body is an empty task: an error, not a task. */
	b = tl_fixture("agent-task-notfound-404.json", &len);
	assert_int_equal(agent_tasks_parse(b, len, &v, &n, err, sizeof(err)), -EINVAL);
	free(b);
}

static void
test_tasks_bad(void **state)
{
	static const char *bad[] = {"",    "[]",         "{\"Tasks\":5}", "{\"Tasks\":{}}",
	                            "nul", "{\"Arn\":7}"};
	static const char *odd =
	    "{\"Tasks\":[5,{\"Arn\":\"a\",\"Containers\":[1,{\"DockerId\":\"../x\",\"Ports\":"
	    "[{\"ContainerPort\":99999},{\"ContainerPort\":80,\"HostPort\":-1},"
	    "{\"ContainerPort\":81,\"Protocol\":\"udp\",\"HostPort\":\"9\"}]}]}]}";
	struct agent_task *v;
	size_t n;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(
		    agent_tasks_parse(bad[i], strlen(bad[i]), &v, &n, err, sizeof(err)), 0);
	assert_int_equal(agent_tasks_parse(odd, strlen(odd), &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].ncontainers, 1);
	assert_string_equal(v[0].containers[0].docker_id, ""); /* not hex: dropped */
	assert_int_equal(v[0].containers[0].nports, 2);
	assert_int_equal(v[0].containers[0].ports[0].host_port, 0);
	assert_string_equal(v[0].containers[0].ports[1].proto, "udp");
	assert_int_equal(v[0].containers[0].ports[1].host_port, 0); /* a string is not a port */
	agent_tasks_free(v, n);
}

static void
test_cluster_short(void **state)
{
	char out[16];

	(void)state;
	agent_cluster_short("arn:aws:ecs:us-east-1:1:cluster/tenants", out, sizeof(out));
	assert_string_equal(out, "tenants");
	agent_cluster_short("plain", out, sizeof(out));
	assert_string_equal(out, "plain");
	agent_cluster_short("x/averyveryverylongclustername", out, sizeof(out));
	assert_string_equal(out, "averyveryverylo");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metadata),      cmocka_unit_test(test_tasks),
	    cmocka_unit_test(test_tasks_quirks),  cmocka_unit_test(test_tasks_bad),
	    cmocka_unit_test(test_cluster_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
