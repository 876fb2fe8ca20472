/*
 * Unit tests for launcher/template, launcher/ratelimit, the backend table and
 * the judgement of a DynamoDB item that beat a reservation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "launcher/backend.h"
#include "launcher/ddb.h"
#include "launcher/ratelimit.h"
#include "launcher/template.h"

static const struct template_var vars[] = {
    {"subdomain", "acme"}, {"host_ip", "10.0.0.5"}, {"host_port", "32768"}, {NULL, NULL}};

static void
test_template(void **state)
{
	static const struct {
		const char *tpl, *want;
		int rc;
	} cases[] = {
	    {"http://{subdomain}.{host_ip}.sslip.io:{host_port}",
	     "http://acme.10.0.0.5.sslip.io:32768", 0},
	    {"plain", "plain", 0},
	    {"", "", 0},
	    {"{{literal}} {subdomain}", "{literal} acme", 0},
	    {"{nope}", NULL, -EINVAL},
	    {"{subdomain", NULL, -EINVAL},
	    {"x}", NULL, -EINVAL},
	    {"{}", NULL, -EINVAL},
	};
	char out[128], err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = template_expand(cases[i].tpl, vars, out, sizeof(out), err, sizeof(err));

		assert_int_equal(rc, cases[i].rc);
		assert_int_equal(template_check(cases[i].tpl, vars, err, sizeof(err)), cases[i].rc);
		if (rc == 0)
			assert_string_equal(out, cases[i].want);
	}
	/* Too small an output is -E2BIG, never a truncated URL. */
	assert_int_equal(
	    template_expand("http://{subdomain}.{host_ip}", vars, out, 12, err, sizeof(err)),
	    -E2BIG);
	assert_int_equal(template_expand("http://{subdomain}", vars, out, 12, err, sizeof(err)), 0);
	assert_string_equal(out, "http://acme");
}

static void
test_ratelimit(void **state)
{
	struct ratelimit *rl = ratelimit_new(2, 3, 4);
	int retry = 0;

	(void)state;
	assert_non_null(rl);
	assert_null(ratelimit_new(0, 3, 4));
	/* burst of 3, then refused with Retry-After >= 1 */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(rl, "10.0.0.1", 1000, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "10.0.0.1", 1000, &retry), 0);
	assert_int_equal(retry, 1);
	/* another client is independent */
	assert_int_equal(ratelimit_take(rl, "10.0.0.2", 1000, &retry), 1);
	/* 2 per second: half a second later one token is back */
	assert_int_equal(ratelimit_take(rl, "10.0.0.1", 1500, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "10.0.0.1", 1500, &retry), 0);
	/* never above the burst after a long pause */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(rl, "10.0.0.1", 100000, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "10.0.0.1", 100000, &retry), 0);
	/* a full table forgets the client seen longest ago (10.0.0.2 at 1000) */
	assert_int_equal(ratelimit_take(rl, "10.0.0.3", 100001, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "10.0.0.4", 100002, &retry), 1);
	assert_int_equal(ratelimit_count(rl), 4);
	assert_int_equal(ratelimit_take(rl, "10.0.0.5", 100003, &retry), 1);
	assert_int_equal(ratelimit_count(rl), 4);
	/* 10.0.0.1 is still remembered and still empty */
	assert_int_equal(ratelimit_take(rl, "10.0.0.1", 100004, &retry), 0);
	ratelimit_free(rl);
}

static void
test_client_key(void **state)
{
	char k[RATELIMIT_KEY_MAX];

	(void)state;
	assert_string_equal(ratelimit_client_key("10.0.0.9", NULL, k, sizeof(k)), "10.0.0.9");
	assert_string_equal(ratelimit_client_key("10.0.0.9", "203.0.113.5", k, sizeof(k)),
	                    "203.0.113.5");
	/* A client may put anything first; the proxy appends the real address last. */
	assert_string_equal(
	    ratelimit_client_key("10.0.0.9", "1.2.3.4, 198.51.100.7 ,203.0.113.5 ", k, sizeof(k)),
	    "203.0.113.5");
	assert_string_equal(ratelimit_client_key("10.0.0.9", " , ", k, sizeof(k)), "10.0.0.9");
	assert_string_equal(ratelimit_client_key(NULL, NULL, k, sizeof(k)), "?");
	/* Over-long values are cut to the key size. */
	assert_int_equal(
	    strlen(ratelimit_client_key(
	        "p", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	        k, sizeof(k))),
	    RATELIMIT_KEY_MAX - 1);
}

static int
fake_init(const struct backend_ctx *ctx, void **state, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	*state = NULL;
	return 0;
}

static void
test_backends(void **state)
{
	static const struct backend_ops fake = {.name = "fake", .init = fake_init};
	static const struct backend_ops dup = {.name = "docker", .init = fake_init};
	char names[64];

	(void)state;
	assert_non_null(backend_find("docker"));
	assert_null(backend_find("fake"));
	assert_int_equal(backend_register(&fake), 0);
	assert_ptr_equal(backend_find("fake"), &fake);
	assert_int_equal(backend_register(&dup), -EEXIST);
	backend_names(names, sizeof(names));
	assert_non_null(strstr(names, "docker"));
	assert_non_null(strstr(names, "|fake"));
}

/* Each item (as DynamoDB could hold it, hostile ones too) against the request acme/ops/Acme. */
static void
test_ddb_judge(void **state)
{
	static const struct {
		const char *item;
		enum ddb_verdict want;
		const char *field;
	} cases[] = {
	    /* The same request, running under another launcher: served as it stands. */
	    {"{\"kind\":\"tenant\",\"version\":3,\"subdomain\":\"acme\",\"admin_email\":"
	     "\"ops@acme.example\",\"company_name\":\"Acme\",\"status\":\"RUNNING\",\"url\":"
	     "\"http://acme.203.0.113.7.sslip.io:32768\",\"host_ip\":\"203.0.113.7\","
	     "\"host_port\":32768,\"created_at\":\"2026-11-27T04:00:00.000Z\"}",
	     DDB_SAME_RUNNING, NULL},
	    /* Running without a URL, a port out of range, a field that is not a string. */
	    {"{\"kind\":\"tenant\",\"version\":3,\"subdomain\":\"acme\",\"admin_email\":"
	     "\"ops@acme.example\",\"company_name\":\"Acme\",\"status\":\"RUNNING\"}",
	     DDB_TAKEN, NULL},
	    {"{\"kind\":\"tenant\",\"version\":3,\"subdomain\":\"acme\",\"admin_email\":"
	     "\"ops@acme.example\",\"company_name\":\"Acme\",\"status\":\"RUNNING\",\"url\":"
	     "\"http://x\",\"host_port\":70000}",
	     DDB_TAKEN, NULL},
	    {"{\"kind\":\"tenant\",\"version\":3,\"subdomain\":\"acme\",\"admin_email\":"
	     "\"ops@acme.example\",\"company_name\":\"Acme\",\"status\":\"RUNNING\",\"url\":"
	     "[1]}",
	     DDB_TAKEN, NULL},
	    /* Other details: 409 naming the field. */
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ceo@acme.example\","
	     "\"company_name\":\"Acme\"}",
	     DDB_OTHER_DETAILS, "admin_email"},
	    {"{\"kind\":\"tenant\",\"version\":2,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme Corp\",\"status\":\"RUNNING\"}",
	     DDB_OTHER_DETAILS, "company_name"},
	    {"{\"kind\":\"tenant\",\"version\":2,\"admin_email\":7,\"company_name\":\"Acme\"}",
	     DDB_OTHER_DETAILS, "admin_email"},
	    /* A reservation alone: fresh (in flight), stale (taken over), undated (in flight). */
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"2026-11-27T04:59:00.000Z\"}",
	     DDB_IN_FLIGHT, NULL},
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"2026-11-27T04:44:59.000Z\"}",
	     DDB_STALE, NULL},
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\"}",
	     DDB_IN_FLIGHT, NULL},
	    /* Fresh, but this launcher's own (its registry write failed after it): taken back. */
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"2026-11-27T04:59:59.000Z\","
	     "\"reserved_by\":\"berth-launcher@here:7\"}",
	     DDB_STALE, NULL},
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"2026-11-27T04:59:59.000Z\","
	     "\"reserved_by\":\"berth-launcher@there:7\"}",
	     DDB_IN_FLIGHT, NULL},
	    {"{\"kind\":\"tenant\",\"version\":0,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"created_at\":\"yesterday\"}",
	     DDB_IN_FLIGHT, NULL},
	    /* Provisioning under another launcher: lately (in flight), long ago (taken over). */
	    {"{\"kind\":\"tenant\",\"version\":1,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"status\":\"PROVISIONING\",\"created_at\":"
	     "\"2026-11-27T04:44:59.000Z\",\"updated_at\":\"2026-11-27T04:50:00.000Z\"}",
	     DDB_IN_FLIGHT, NULL},
	    {"{\"kind\":\"tenant\",\"version\":2,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"status\":\"PROVISIONING\",\"created_at\":"
	     "\"2026-11-27T04:44:59.000Z\",\"updated_at\":\"2026-11-27T04:44:59.500Z\"}",
	     DDB_STALE, NULL},
	    /* Failed or stopped under another launcher. */
	    {"{\"kind\":\"tenant\",\"version\":4,\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\",\"status\":\"FAILED\"}",
	     DDB_TAKEN, NULL},
	    /* Not a tenant item at all, or no version. */
	    {"{\"kind\":\"binding\",\"version\":1}", DDB_TAKEN, NULL},
	    {"{\"version\":1}", DDB_TAKEN, NULL},
	    {"{\"kind\":\"tenant\",\"version\":\"1\",\"admin_email\":\"ops@acme.example\","
	     "\"company_name\":\"Acme\"}",
	     DDB_TAKEN, NULL},
	    {"[]", DDB_TAKEN, NULL},
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
		struct ddb_judgement j;

		assert_non_null(item);
		launcher_ddb_judge(item, &t, now, "berth-launcher@here:7", &j);
		if (j.verdict != cases[i].want)
			fail_msg("case %zu: verdict %d, want %d", i, j.verdict, cases[i].want);
		if (cases[i].field != NULL)
			assert_string_equal(j.field, cases[i].field);
		if (j.verdict == DDB_STALE) {
			assert_true(strcmp(j.created, "2026-11-27T04:44:59.000Z") == 0 ||
			            strcmp(j.created, "2026-11-27T04:59:59.000Z") == 0);
			assert_true(j.version == 0 || j.version == 2);
		}
		if (j.verdict == DDB_SAME_RUNNING) {
			assert_non_null(j.tenant);
			assert_int_equal(j.tenant->status, TENANT_RUNNING);
			assert_int_equal(j.tenant->host_port, 32768);
			assert_int_equal(j.tenant->version, 3);
			assert_string_equal(j.tenant->host_ip, "203.0.113.7");
		} else {
			assert_null(j.tenant);
		}
		free(j.tenant);
		json_decref(item);
	}
	launcher_ddb_judge(NULL, &t, now, NULL, &(struct ddb_judgement){0});
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template),   cmocka_unit_test(test_ratelimit),
	    cmocka_unit_test(test_client_key), cmocka_unit_test(test_backends),
	    cmocka_unit_test(test_ddb_judge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
