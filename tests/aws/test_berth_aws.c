/*
 * berth init-table, sync-status and doctor (integration): the real berth
 * binary against dynalite, the test dockerd and the metadata emulator.
 *
 * Needs BERTH_TEST_DYNAMODB_URL, BERTH_TEST_METADATA_URL, BERTH_TEST_DOCKER_HOST.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "core/evcurl.h"
#include "registry/registry.h"
#include "tests/aws/ddbtest.h"
#include "tests/aws/testlib.h"
#include "tests/lib/testlib.h"

#define OUT_MAX 8192

/* Runs berth with args (a shell-quoted string); returns the exit code, output in out. */
static int
berth(const char *args, char *out, size_t outlen)
{
	char cmd[2048];
	int rc;

	snprintf(cmd, sizeof(cmd), "'%s/berth/berth' %s 2>&1", tl_need_env("BERTH_BINARY_DIR"),
	         args);
	rc = tl_run(cmd, out, outlen);
	print_message("$ berth %s\n%s", args, out);
	return rc;
}

static void
aws_env(const char *ddb_url)
{
	setenv("AWS_ACCESS_KEY_ID", "AKIDCLITEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "cli-secret", 1);
	setenv("AWS_REGION", "us-east-1", 1);
	setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb_url, 1);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", tl_need_env("BERTH_TEST_METADATA_URL"), 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
}

static void
test_init_table(void **state)
{
	char out[OUT_MAX], args[256], table[64];
	struct event_base *base = event_base_new();
	struct evcurl *ec = evcurl_new(base);
	struct aws *a;
	json_t *j, *items;
	json_error_t jerr;

	(void)state;
	aws_env(tl_need_env("BERTH_TEST_DYNAMODB_URL"));
	snprintf(table, sizeof(table), "berth-cli-%d", (int)getpid());
	snprintf(args, sizeof(args), "--json init-table --dynamodb-table %s", table);
	assert_int_equal(berth(args, out, sizeof(out)), 0);
	j = json_loads(out, 0, &jerr);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "table_created")));
	assert_true(json_is_true(json_object_get(j, "system_config_created")));
	assert_true(json_is_true(json_object_get(j, "ttl_enabled_now")));
	assert_string_equal(json_string_value(json_object_get(j, "ttl_attribute")), "expires_at");
	json_decref(j);
	/* Again: nothing to do. */
	assert_int_equal(berth(args, out, sizeof(out)), 0);
	j = json_loads(out, 0, &jerr);
	assert_true(json_is_false(json_object_get(j, "table_created")));
	assert_true(json_is_false(json_object_get(j, "system_config_created")));
	assert_true(json_is_false(json_object_get(j, "ttl_enabled_now")));
	json_decref(j);
	/* The seed the old system wrote. */
	a = ddbt_aws(base, ec, tl_need_env("BERTH_TEST_DYNAMODB_URL"));
	items = ddbt_scan(base, a, table);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(items, "SYSTEM_CONFIG"),
	                                                    "lastAssignedPort")),
	                 7999);
	json_decref(items);
	/* A table made before berth had TTL (or by hand): init-table turns TTL on. */
	snprintf(table, sizeof(table), "berth-cli-old-%d", (int)getpid());
	assert_int_equal(ddbt_create_table(base, a, table), 0);
	snprintf(args, sizeof(args), "--json init-table --dynamodb-table %s", table);
	assert_int_equal(berth(args, out, sizeof(out)), 0);
	j = json_loads(out, 0, &jerr);
	assert_non_null(j);
	assert_true(json_is_false(json_object_get(j, "table_created")));
	assert_true(json_is_true(json_object_get(j, "ttl_enabled_now")));
	json_decref(j);
	aws_free(a);
	evcurl_free(ec);
	event_base_free(base);

	/* The test DynamoDB checks signatures as DynamoDB does: a wrong secret is a 403, said
	 * clearly. */
	aws_env(tl_need_env("BERTH_TEST_DYNAMODB_URL"));
	setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
	assert_int_equal(berth(args, out, sizeof(out)), 4);
	assert_non_null(strstr(out, "InvalidSignatureException"));
	assert_non_null(strstr(out, "HTTP 403"));

	/* DynamoDB unreachable: exit 4 with the reason. */
	aws_env("http://127.0.0.1:9");
	setenv("AWS_MAX_ATTEMPTS", "1", 1);
	assert_int_equal(berth("init-table --dynamodb-table berth-cli-down", out, sizeof(out)), 4);
	assert_non_null(strstr(out, "DescribeTable"));
	unsetenv("AWS_MAX_ATTEMPTS");
}

static int
grab(const struct outbox_row *row, void *arg)
{
	*(int64_t *)arg = row->id;
	return 0;
}

static void
test_sync_status(void **state)
{
	char dir[256], path[300], out[OUT_MAX], args[512];
	struct registry *r;
	struct binding b;
	char err[256];
	int changed;
	json_t *j;
	json_error_t jerr;
	int64_t id = 0;

	(void)state;
	assert_int_equal(tl_tmpdir(dir, sizeof(dir), "cli"), 0);
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)),
	                 0);
	memset(&b, 0, sizeof(b));
	snprintf(b.task_arn, sizeof(b.task_arn), "arn:aws:ecs:us-east-1:1:task/c/0123");
	snprintf(b.container_name, sizeof(b.container_name), "app");
	b.container_port = 8000;
	snprintf(b.protocol, sizeof(b.protocol), "tcp");
	b.host_port = 32768;
	b.status = BINDING_RUNNING;
	assert_int_equal(registry_binding_upsert(r, &b, &changed), 0);
	snprintf(args, sizeof(args), "--db '%s' --json sync-status", path);
	assert_int_equal(berth(args, out, sizeof(out)), 0);
	j = json_loads(out, 0, &jerr);
	assert_int_equal(json_integer_value(json_object_get(j, "pending")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "failing")), 0);
	json_decref(j);

	/* A failed attempt shows up with its error. */
	assert_int_equal(registry_outbox_pending(r, 10, grab, &id), 0);
	assert_int_equal(registry_outbox_fail(r, id, "dynamodb PutItem: Connection refused"), 0);
	assert_int_equal(berth(args, out, sizeof(out)), 0);
	j = json_loads(out, 0, &jerr);
	assert_int_equal(json_integer_value(json_object_get(j, "failing")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "last_error")),
	                    "dynamodb PutItem: Connection refused");
	json_decref(j);
	snprintf(args, sizeof(args), "--db '%s' sync-status", path);
	assert_int_equal(berth(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "Connection refused"));
	registry_close(r);
}

static void
test_doctor(void **state)
{
	char out[OUT_MAX], args[1024], table[64];

	(void)state;
	aws_env(tl_need_env("BERTH_TEST_DYNAMODB_URL"));
	snprintf(table, sizeof(table), "berth-cli-%d", (int)getpid());
	snprintf(args, sizeof(args), "init-table --dynamodb-table %s", table);
	assert_int_equal(berth(args, out, sizeof(out)), 0);
	snprintf(args, sizeof(args),
	         "--db /nonexistent/registry.db doctor --dynamodb-table %s --docker-host '%s' "
	         "--agent-url none",
	         table, tl_need_env("BERTH_TEST_DOCKER_HOST"));
	/* No registry here: that check fails; Docker, IMDS, credentials and the table pass. */
	assert_int_equal(berth(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "registry     fail"));
	assert_non_null(strstr(out, "docker       ok"));
	assert_non_null(strstr(out, "imds         ok"));
	assert_non_null(strstr(out, "credentials  ok    environment: key AKIDCLIT..."));
	assert_null(strstr(out, "cli-secret"));
	assert_non_null(strstr(out, "table        ok"));
	/* A table that does not exist. */
	snprintf(args, sizeof(args),
	         "--json --db /nonexistent/registry.db doctor --dynamodb-table nosuchtable "
	         "--docker-host none --agent-url none");
	assert_int_equal(berth(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "ResourceNotFoundException"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_table),
	    cmocka_unit_test(test_sync_status),
	    cmocka_unit_test(test_doctor),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tl_tmpdirs_done(rc == 0); /* kept when a case failed: its logs are in them */
	return rc;
}
