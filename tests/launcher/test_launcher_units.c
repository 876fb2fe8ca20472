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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template),
	    cmocka_unit_test(test_ratelimit),
	    cmocka_unit_test(test_client_key),
	    cmocka_unit_test(test_backends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
