/*
 * The DynamoDB items the sync writes for outbox rows: keys, types, version,
 * empty strings and nulls left out, and refusals.
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

#include <jansson.h>

#include "registry/registry.h"
#include "registry/sync.h"

static void
test_binding_item(void **state)
{
	struct outbox_row row;
	json_t *item;
	char err[256], *s;

	(void)state;
	memset(&row, 0, sizeof(row));
	row.id = 7;
	snprintf(row.kind, sizeof(row.kind), "binding");
	snprintf(row.key, sizeof(row.key), "arn:aws:ecs:us-east-1:1:task/c/abc#app#8000/tcp");
	row.version = 4;
	row.body = "{\"task_arn\":\"arn:aws:ecs:us-east-1:1:task/c/abc\",\"host_port\":32768,"
	           "\"status\":\"RUNNING\",\"tenant\":\"\",\"stopped_at\":null,\"exit_code\":null}";
	item = sync_item(&row, 0, err, sizeof(err));
	assert_non_null(item);
	s = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s,
	                    "{\"host_port\":{\"N\":\"32768\"},\"kind\":{\"S\":\"binding\"},"
	                    "\"status\":{\"S\":\"RUNNING\"},\"task_arn\":{\"S\":\"arn:aws:ecs:us-"
	                    "east-1:1:task/c/abc\"},\"userId\":{\"S\":\"binding#arn:aws:ecs:us-"
	                    "east-1:1:task/c/abc#app#8000/tcp\"},\"version\":{\"N\":\"4\"}}");
	free(s);
	json_decref(item);
}

/* A gone container's item carries expires_at (DynamoDB TTL); a running one and tenants never. */
static void
test_tombstone_expires(void **state)
{
	struct outbox_row row;
	json_t *item;
	char err[256];

	(void)state;
	memset(&row, 0, sizeof(row));
	snprintf(row.kind, sizeof(row.kind), "binding");
	snprintf(row.key, sizeof(row.key), "t#app#8000/tcp");
	row.version = 2;
	row.body = "{\"task_arn\":\"t\",\"status\":\"STOPPED\",\"exit_code\":0}";
	item = sync_item(&row, 1767225600, err, sizeof(err));
	assert_non_null(item);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(item, "expires_at"), "N")),
	    "1767225600");
	json_decref(item);
	row.body = "{\"task_arn\":\"t\",\"status\":\"REMOVED\"}";
	item = sync_item(&row, 1767225600, err, sizeof(err));
	assert_non_null(json_object_get(item, "expires_at"));
	json_decref(item);
	row.body = "{\"task_arn\":\"t\",\"status\":\"RUNNING\"}";
	item = sync_item(&row, 1767225600, err, sizeof(err));
	assert_null(json_object_get(item, "expires_at"));
	json_decref(item);
	snprintf(row.kind, sizeof(row.kind), "tenant");
	row.body = "{\"subdomain\":\"t\",\"status\":\"STOPPED\"}";
	item = sync_item(&row, 1767225600, err, sizeof(err));
	assert_null(json_object_get(item, "expires_at"));
	json_decref(item);
}

static void
test_tenant_item(void **state)
{
	struct outbox_row row;
	json_t *item;
	char err[256];

	(void)state;
	memset(&row, 0, sizeof(row));
	snprintf(row.kind, sizeof(row.kind), "tenant");
	snprintf(row.key, sizeof(row.key), "acme");
	row.version = 1;
	row.body = "{\"subdomain\":\"acme\",\"status\":\"PROVISIONING\",\"url\":\"\"}";
	item = sync_item(&row, 0, err, sizeof(err));
	assert_non_null(item);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(item, "userId"), "S")), "acme");
	assert_null(json_object_get(item, "url"));
	json_decref(item);
}

static void
test_refusals(void **state)
{
	static const char *const bad[] = {"", "[]", "not json", "{\"a\":1e999}"};
	struct outbox_row row;
	char err[256], key[24];

	(void)state;
	memset(&row, 0, sizeof(row));
	snprintf(row.kind, sizeof(row.kind), "tenant");
	snprintf(row.key, sizeof(row.key), "acme");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		row.body = bad[i];
		err[0] = '\0';
		assert_null(sync_item(&row, 0, err, sizeof(err)));
		assert_true(err[0] != '\0');
	}
	assert_int_equal(sync_item_key("binding", "a#b#1/tcp", key, sizeof(key)), 0);
	assert_string_equal(key, "binding#a#b#1/tcp");
	assert_int_equal(sync_item_key("binding", "a-key-longer-than-the-buffer", key, sizeof(key)),
	                 -E2BIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_binding_item),
	    cmocka_unit_test(test_tombstone_expires),
	    cmocka_unit_test(test_tenant_item),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
