/*
 * Table items (registry/item.c): the items the sync writes for outbox rows
 * (keys, types, version, empty strings and nulls left out, refusals), what an
 * item that beat a reservation means, and rows read back from JSON.
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
#include "aws/aws_ddb.h"
#include "registry/item.h"

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
	item = item_from_outbox(&row, 0, err, sizeof(err));
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
	item = item_from_outbox(&row, 1767225600, err, sizeof(err));
	assert_non_null(item);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(item, "expires_at"), "N")),
	    "1767225600");
	json_decref(item);
	row.body = "{\"task_arn\":\"t\",\"status\":\"REMOVED\"}";
	item = item_from_outbox(&row, 1767225600, err, sizeof(err));
	assert_non_null(json_object_get(item, "expires_at"));
	json_decref(item);
	row.body = "{\"task_arn\":\"t\",\"status\":\"RUNNING\"}";
	item = item_from_outbox(&row, 1767225600, err, sizeof(err));
	assert_null(json_object_get(item, "expires_at"));
	json_decref(item);
	snprintf(row.kind, sizeof(row.kind), "tenant");
	row.body = "{\"subdomain\":\"t\",\"status\":\"STOPPED\"}";
	item = item_from_outbox(&row, 1767225600, err, sizeof(err));
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
	item = item_from_outbox(&row, 0, err, sizeof(err));
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
		assert_null(item_from_outbox(&row, 0, err, sizeof(err)));
		assert_true(err[0] != '\0');
	}
	assert_int_equal(item_key("binding", "a#b#1/tcp", key, sizeof(key)), 0);
	assert_string_equal(key, "binding#a#b#1/tcp");
	assert_int_equal(item_key("binding", "a-key-longer-than-the-buffer", key, sizeof(key)),
	                 -E2BIG);
}

/* Each item (as DynamoDB could hold it, hostile ones too) against the request acme/ops/Acme. */
static void
test_judge(void **state)
{
	static const struct {
		const char *item;
		enum item_verdict want;
		const char *field;
	} cases[] = {
	    /* The same request, running under another launcher: served as it stands. */
	    {"{\"kind\":\"tenant\",\"version\":3,\"subdomain\":\"acme\",\"admin_email\":"
	     "\"ops@acme.example\",\"company_name\":\"Acme\",\"status\":\"RUNNING\",\"url\":"
	     "\"http://acme.203.0.113.7.sslip.io:32768\",\"host_ip\":\"203.0.113.7\","
	     "\"host_port\":32768,\"created_at\":\"2026-11-27T04:00:00.000Z\"}",
	     ITEM_SAME_RUNNING, NULL},
	    /* Running without a URL, a port out of range, a field that is not a string. */
	    {"{\"kind\":\"tenant\",\"version\":3,\"subdomain\":\"acme\",\"admin_email\":"
	     "\"ops@acme.example\",\"company_name\":\"Acme\",\"status\":\"RUNNING\"}",
	     ITEM_TAKEN, NULL},
	    {"{\"kind\":\"tenant\",\"version\":3,\"subdomain\":\"acme\",\"admin_email\":"
	     "\"ops@acme.example\",\"company_name\":\"Acme\",\"status\":\"RUNNING\",\"url\":"
	     "\"http://x\",\"host_port\":70000}",
	     ITEM_TAKEN, NULL},
	    {"{\"kind\":\"tenant\",\"version\":3,\"subdomain\":\"acme\",\"admin_email\":"
	     "\"ops@acme.example\",\"company_name\":\"Acme\",\"status\":\"RUNNING\",\"url\":"
	     "[1]}",
	     ITEM_TAKEN, NULL},
	    /* Other details: 409 naming the field. */
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ceo@acme.example\","
	     "\"company_name\":\"Acme\"}",
	     ITEM_OTHER_DETAILS, "admin_email"},
	    {"{\"kind\":\"tenant\",\"version\":2,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme Corp\",\"status\":\"RUNNING\"}",
	     ITEM_OTHER_DETAILS, "company_name"},
	    {"{\"kind\":\"tenant\",\"version\":2,\"admin_email\":7,\"company_name\":\"Acme\"}",
	     ITEM_OTHER_DETAILS, "admin_email"},
	    /* A reservation alone: fresh (in flight), stale (taken over), undated (in flight). */
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"2026-11-27T04:59:00.000Z\"}",
	     ITEM_IN_FLIGHT, NULL},
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"2026-11-27T04:44:59.000Z\"}",
	     ITEM_STALE, NULL},
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\"}",
	     ITEM_IN_FLIGHT, NULL},
	    /* Fresh, but this launcher's own (its registry write failed after it): taken back. */
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"2026-11-27T04:59:59.000Z\","
	     "\"reserved_by\":\"berth-launcher@here:7\"}",
	     ITEM_STALE, NULL},
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"2026-11-27T04:59:59.000Z\","
	     "\"reserved_by\":\"berth-launcher@there:7\"}",
	     ITEM_IN_FLIGHT, NULL},
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"yesterday\"}",
	     ITEM_IN_FLIGHT, NULL},
	    /* Provisioning under another launcher: lately (in flight), long ago (taken over). */
	    {"{\"kind\":\"tenant\",\"version\":1,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"status\":\"PROVISIONING\",\"created_at\":"
	     "\"2026-11-27T04:44:59.000Z\",\"updated_at\":\"2026-11-27T04:50:00.000Z\"}",
	     ITEM_IN_FLIGHT, NULL},
	    {"{\"kind\":\"tenant\",\"version\":2,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"status\":\"PROVISIONING\",\"created_at\":"
	     "\"2026-11-27T04:44:59.000Z\",\"updated_at\":\"2026-11-27T04:44:59.500Z\"}",
	     ITEM_STALE, NULL},
	    /* Failed or stopped under another launcher. */
	    {"{\"kind\":\"tenant\",\"version\":4,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"status\":\"FAILED\"}",
	     ITEM_TAKEN, NULL},
	    /* Not a tenant item at all, or no version. */
	    {"{\"kind\":\"binding\",\"version\":1}", ITEM_TAKEN, NULL},
	    {"{\"version\":1}", ITEM_TAKEN, NULL},
	    {"{\"kind\":\"tenant\",\"version\":\"1\",\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\"}",
	     ITEM_TAKEN, NULL},
	    {"[]", ITEM_TAKEN, NULL},
	};
	/* 2026-11-27T05:00:00Z */
	const int64_t now = 1795755600000LL;
	struct tenant t;

	(void)state;
	memset(&t, 0, sizeof(t));
	snprintf(t.subdomain, sizeof(t.subdomain), "acme");
	snprintf(t.admin_email, sizeof(t.admin_email), "ops@acme.example");
	snprintf(t.company_name, sizeof(t.company_name), "Acme");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t je;
		json_t *item = json_loads(cases[i].item, 0, &je);
		struct item_judgement j;

		assert_non_null(item);
		item_judge(item, &t, now, "berth-launcher@here:7", &j);
		if (j.verdict != cases[i].want)
			fail_msg("case %zu: verdict %d, want %d", i, j.verdict, cases[i].want);
		if (cases[i].field != NULL)
			assert_string_equal(j.field, cases[i].field);
		if (j.verdict == ITEM_STALE) {
			assert_true(strcmp(j.created, "2026-11-27T04:44:59.000Z") == 0 ||
			            strcmp(j.created, "2026-11-27T04:59:59.000Z") == 0);
			assert_true(j.version == 0 || j.version == 2);
		}
		if (j.verdict == ITEM_SAME_RUNNING) {
			assert_int_equal(j.tenant.status, TENANT_RUNNING);
			assert_int_equal(j.tenant.host_port, 32768);
			assert_int_equal(j.tenant.version, 3);
			assert_string_equal(j.tenant.host_ip, "203.0.113.7");
		} else {
			assert_string_equal(j.tenant.subdomain, "");
		}
		json_decref(item);
	}
	item_judge(NULL, &t, now, NULL, &(struct item_judgement){0});
}

/* Rows written as JSON read back the same; hostile shapes are refused. */
static void
test_rows_from_json(void **state)
{
	struct binding b, b2;
	struct tenant t, t2;
	json_t *j;
	static const char *const bad[] = {"[]",
	                                  "{\"status\":\"RUNNING\",\"host_port\":70000}",
	                                  "{\"status\":\"RUNNING\",\"host_port\":\"80\"}",
	                                  "{\"status\":\"NOPE\"}",
	                                  "{\"status\":\"RUNNING\",\"host_ip\":7}",
	                                  "{\"status\":\"RUNNING\",\"updated_at\":\"yesterday\"}",
	                                  "{}"};

	(void)state;
	memset(&b, 0, sizeof(b));
	snprintf(b.task_arn, sizeof(b.task_arn), "arn:aws:ecs:us-east-1:1:task/c/abc");
	snprintf(b.task_id, sizeof(b.task_id), "abc");
	snprintf(b.container_name, sizeof(b.container_name), "app");
	snprintf(b.protocol, sizeof(b.protocol), "tcp");
	snprintf(b.host_ip, sizeof(b.host_ip), "10.0.0.7");
	b.container_port = 8000;
	b.host_port = 32768;
	b.status = BINDING_STOPPED;
	b.has_exit_code = 1;
	b.exit_code = -9;
	b.started_at = 1795755600123LL;
	b.version = 4;
	j = binding_to_json(&b);
	assert_int_equal(binding_from_json(j, &b2), 0);
	json_decref(j);
	assert_memory_equal(&b, &b2, sizeof(b));

	memset(&t, 0, sizeof(t));
	snprintf(t.subdomain, sizeof(t.subdomain), "acme");
	snprintf(t.url, sizeof(t.url), "http://acme.10.0.0.7.sslip.io:32768");
	t.status = TENANT_RUNNING;
	t.host_port = 32768;
	t.created_at = 1795755600000LL;
	t.version = 2;
	j = tenant_to_json(&t);
	assert_int_equal(tenant_from_json(j, &t2), 0);
	json_decref(j);
	assert_memory_equal(&t, &t2, sizeof(t));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t je;

		j = json_loads(bad[i], 0, &je);
		assert_non_null(j);
		if (binding_from_json(j, &b2) != -EINVAL || tenant_from_json(j, &t2) != -EINVAL)
			fail_msg("case %zu accepted: %s", i, bad[i]);
		json_decref(j);
	}
	/* A binding item needs its kind; a tenant item is not a binding. */
	j = json_pack("{s:s, s:i, s:s, s:i}", "kind", "binding", "version", 1, "status", "RUNNING",
	              "host_port", 32768);
	assert_int_equal(item_binding(j, &b2), 0);
	assert_int_equal(b2.host_port, 32768);
	json_object_set_new(j, "kind", json_string("tenant"));
	assert_int_equal(item_binding(j, &b2), -EINVAL);
	json_decref(j);
}

/* Host items: written and read back; junk refused; which API URLs may be long-polled. */
static void
test_host_items(void **state)
{
	struct host_item h, back;
	json_t *av, *plain;
	char why[160];
	static const char *const junk[] = {
	    "{\"kind\":\"host\",\"version\":1}",
	    "{\"kind\":\"host\",\"version\":1,\"host_id\":\"h\",\"status\":\"UP\","
	    "\"started_at\":\"2026-01-01T00:00:00Z\",\"heartbeat_at\":\"soon\",\"heartbeat_s\":10}",
	    "{\"kind\":\"host\",\"version\":1,\"host_id\":\"h\",\"status\":\"MAYBE\","
	    "\"started_at\":\"2026-01-01T00:00:00Z\",\"heartbeat_at\":\"2026-01-01T00:00:00Z\","
	    "\"heartbeat_s\":10}",
	    "{\"kind\":\"host\",\"version\":1,\"host_id\":7,\"status\":\"UP\"}",
	    "{\"kind\":\"host\",\"version\":1,\"host_id\":\"h\",\"status\":\"UP\","
	    "\"started_at\":\"2026-01-01T00:00:00Z\",\"heartbeat_at\":\"2026-01-01T00:00:00Z\","
	    "\"heartbeat_s\":0}",
	    "{\"kind\":\"binding\",\"version\":1}"};

	(void)state;
	memset(&h, 0, sizeof(h));
	snprintf(h.id, sizeof(h.id), "arn:aws:ecs:us-east-1:1:container-instance/c/abc");
	snprintf(h.instance_arn, sizeof(h.instance_arn), "%s", h.id);
	snprintf(h.host_ip, sizeof(h.host_ip), "10.0.0.7");
	snprintf(h.api_url, sizeof(h.api_url), "http://10.0.0.7:9680");
	snprintf(h.berth_version, sizeof(h.berth_version), "0.1.0");
	h.started_at = 1795755600000LL;
	h.heartbeat_at = 1795755610000LL;
	h.heartbeat_s = 10;
	h.running = 4;
	h.version = h.heartbeat_at;
	av = item_host(&h);
	assert_non_null(av);
	plain = ddb_item_to_json(av);
	json_decref(av);
	assert_string_equal(json_string_value(json_object_get(plain, "userId")),
	                    "host#arn:aws:ecs:us-east-1:1:container-instance/c/abc");
	assert_int_equal(item_host_parse(plain, &back, why, sizeof(why)), 0);
	json_decref(plain);
	assert_memory_equal(&h, &back, sizeof(h));
	/* UP within three beats, STALE after, LEFT whatever the time. */
	assert_int_equal(item_host_status(&h, h.heartbeat_at + 29000), HOST_UP);
	assert_int_equal(item_host_status(&h, h.heartbeat_at + 31000), HOST_STALE);
	h.left = 1;
	assert_int_equal(item_host_status(&h, h.heartbeat_at), HOST_LEFT);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		json_error_t je;

		plain = json_loads(junk[i], 0, &je);
		assert_non_null(plain);
		if (item_host_parse(plain, &back, why, sizeof(why)) != -EINVAL)
			fail_msg("junk %zu accepted", i);
		json_decref(plain);
	}
	/* Only http://IP:PORT on loopback or RFC 1918 addresses is ever long-polled. */
	assert_true(item_api_url_ok("http://10.1.2.3:9680"));
	assert_true(item_api_url_ok("http://172.16.0.1:9680/"));
	assert_true(item_api_url_ok("http://192.168.1.1:1"));
	assert_true(item_api_url_ok("http://127.0.0.1:9680"));
	assert_false(item_api_url_ok("http://203.0.113.7:9680"));
	assert_false(item_api_url_ok("http://172.32.0.1:9680"));
	assert_false(item_api_url_ok("https://10.0.0.1:9680"));
	assert_false(item_api_url_ok("http://10.0.0.1"));
	assert_false(item_api_url_ok("http://10.0.0.1:0"));
	assert_false(item_api_url_ok("http://10.0.0.1:9680/x"));
	assert_false(item_api_url_ok("http://evil.example:9680"));
	assert_false(item_api_url_ok("http://169.254.169.254:80"));
	assert_false(item_api_url_ok(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_binding_item), cmocka_unit_test(test_tombstone_expires),
	    cmocka_unit_test(test_tenant_item),  cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_judge),        cmocka_unit_test(test_rows_from_json),
	    cmocka_unit_test(test_host_items),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
