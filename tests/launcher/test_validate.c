/* Unit tests for launcher/validate and launcher/request: tables of inputs and expected codes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "launcher/request.h"
#include "launcher/validate.h"

struct vcase {
	const char *in;
	const char *code; /* NULL: valid */
};

static void
run(int (*fn)(const char *, size_t, struct validate_error *), const struct vcase *c, size_t n,
    const char *field)
{
	for (size_t i = 0; i < n; i++) {
		struct validate_error e;
		int rc;

		memset(&e, 0, sizeof(e));
		rc = fn(c[i].in, strlen(c[i].in), &e);
		if (c[i].code == NULL) {
			if (rc != 0)
				fail_msg("case %zu \"%s\": want valid, got %s", i, c[i].in, e.code);
		} else {
			if (rc != -EINVAL || strcmp(e.code, c[i].code) != 0)
				fail_msg("case %zu \"%s\": want %s, got rc=%d %s", i, c[i].in,
				         c[i].code, rc, e.code);
			assert_string_equal(e.field, field);
			assert_true(e.message[0] != '\0');
		}
	}
}

static void
test_subdomain(void **state)
{
	static const struct vcase cases[] = {
	    {"acme", NULL},
	    {"a-1", NULL},
	    {"abc", NULL},
	    {"123", NULL},
	    {"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123", NULL},
	    {"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234",
	     "invalid_subdomain"},
	    {"", "invalid_subdomain"},
	    {"ab", "invalid_subdomain"},
	    {"Acme", "invalid_subdomain"},
	    {"ac_me", "invalid_subdomain"},
	    {"ac.me", "invalid_subdomain"},
	    {"ac me", "invalid_subdomain"},
	    {"-acme", "invalid_subdomain"},
	    {"acme-", "invalid_subdomain"},
	    {"xn--acme", "invalid_subdomain"},
	    {"caf\xc3\xa9", "invalid_subdomain"},
	    {"www", "reserved_subdomain"},
	    {"api", "reserved_subdomain"},
	    {"admin", "reserved_subdomain"},
	};

	(void)state;
	run(validate_subdomain, cases, sizeof(cases) / sizeof(cases[0]), "subdomain");
	assert_int_equal(validate_reserved("acme"), 0);
	/* Lengths are honoured: no NUL needed, none read past. */
	assert_int_equal(validate_subdomain("wwwacme", 3, NULL), -EINVAL);
	assert_int_equal(validate_subdomain("acme-", 4, NULL), 0);
}

static void
test_email(void **state)
{
	char longmail[300];
	static const struct vcase cases[] = {
	    {"a@b.co", NULL},
	    {"first.last+tag@mail.example.com", NULL},
	    {"o'hara@ex-ample.org", NULL},
	    {"", "invalid_admin_email"},
	    {"plain", "invalid_admin_email"},
	    {"a@@b.co", "invalid_admin_email"},
	    {"a@b@c.co", "invalid_admin_email"},
	    {"@b.co", "invalid_admin_email"},
	    {"a@", "invalid_admin_email"},
	    {"a@localhost", "invalid_admin_email"},
	    {"a@b..co", "invalid_admin_email"},
	    {"a@.b.co", "invalid_admin_email"},
	    {"a@b.co.", "invalid_admin_email"},
	    {"a@-b.co", "invalid_admin_email"},
	    {"a@b-.co", "invalid_admin_email"},
	    {".a@b.co", "invalid_admin_email"},
	    {"a.@b.co", "invalid_admin_email"},
	    {"a..b@b.co", "invalid_admin_email"},
	    {"a b@b.co", "invalid_admin_email"},
	    {"a@b_c.co", "invalid_admin_email"},
	    {"a\x01@b.co", "invalid_admin_email"},
	    {"\xc3\xa9@b.co", "invalid_admin_email"},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.co",
	     "invalid_admin_email"},
	};

	(void)state;
	run(validate_email, cases, sizeof(cases) / sizeof(cases[0]), "admin_email");
	/* 254 bytes pass, 255 fail. */
	memset(longmail, 'a', sizeof(longmail));
	memcpy(longmail, "x@", 2);
	for (size_t i = 2; i < 250; i += 50)
		longmail[i + 49] = '.';
	memcpy(longmail + 250, ".com", 4);
	longmail[254] = '\0';
	assert_int_equal(validate_email(longmail, 254, NULL), 0);
	longmail[254] = 'm';
	assert_int_equal(validate_email(longmail, 255, NULL), -EINVAL);
}

static void
test_company(void **state)
{
	char big[1000];
	static const struct vcase cases[] = {
	    {"Acme Inc.", NULL},
	    {"Caf\xc3\xa9 M\xc3\xbcller & S\xc3\xb6hne", NULL},
	    {"\xe6\x97\xa5\xe6\x9c\xac", NULL},
	    {"\xf0\x9f\x9a\xa2 Ships", NULL},
	    {"", "invalid_company_name"},
	    {"   ", "invalid_company_name"},
	    {"Acme\nInc", "invalid_company_name"},
	    {"Acme\tInc", "invalid_company_name"},
	    {"Acme\x7f", "invalid_company_name"},
	    {"Acme\xc2\x85", "invalid_company_name"},
	    {"\xc3", "invalid_company_name"},
	    {"\xc0\xaf", "invalid_company_name"},
	    {"\xe0\x80\xaf", "invalid_company_name"},
	    {"\xed\xa0\x80", "invalid_company_name"},
	    {"\xf4\x90\x80\x80", "invalid_company_name"},
	    {"\xff", "invalid_company_name"},
	};

	(void)state;
	run(validate_company_name, cases, sizeof(cases) / sizeof(cases[0]), "company_name");
	/* 200 characters of 4 bytes each pass; 201 characters fail. */
	for (int i = 0; i < 201; i++)
		memcpy(big + i * 4, "\xf0\x9f\x9a\xa2", 4);
	assert_int_equal(validate_company_name(big, 800, NULL), 0);
	assert_int_equal(validate_company_name(big, 804, NULL), -EINVAL);
	memset(big, 'x', 201);
	assert_int_equal(validate_company_name(big, 200, NULL), 0);
	assert_int_equal(validate_company_name(big, 201, NULL), -EINVAL);
}

static void
test_decode(void **state)
{
	static const struct {
		const char *ct;
		const char *body;
		const char *code, *field;
	} cases[] = {
	    {"application/json",
	     "{\"subdomain\":\"acme\",\"admin_email\":\"a@b.co\",\"company_name\":\"Acme\"}", NULL,
	     NULL},
	    {"Application/JSON; charset=utf-8",
	     "{\"company_name\":\"Acme\",\"subdomain\":\"acme\",\"admin_email\":\"a@b.co\"}", NULL,
	     NULL},
	    {NULL, "{}", "unsupported_media_type", ""},
	    {"text/plain", "{}", "unsupported_media_type", ""},
	    {"application/jsonx", "{}", "unsupported_media_type", ""},
	    {"application/json", "", "invalid_json", ""},
	    {"application/json", "{", "invalid_json", ""},
	    {"application/json", "[]", "invalid_json", ""},
	    {"application/json", "\"x\"", "invalid_json", ""},
	    {"application/json", "{} {}", "invalid_json", ""},
	    {"application/json", "{\"a\":[[[[[1]]]]]}", "invalid_json", ""},
	    {"application/json", "{\"subdomain\":\"caf\xe9\"}", "invalid_json", ""},
	    {"application/json",
	     "{\"subdomain\":\"acme\",\"subdomain\":\"acme\",\"admin_email\":\"a@b.co\","
	     "\"company_name\":\"Acme\"}",
	     "invalid_json", ""},
	    {"application/json",
	     "{\"subdomain\":\"acme\",\"admin_email\":\"a@b.co\",\"company_name\":\"Acme\",\"x\":"
	     "1}",
	     "unknown_field", "x"},
	    {"application/json", "{\"admin_email\":\"a@b.co\",\"company_name\":\"Acme\"}",
	     "missing_field", "subdomain"},
	    {"application/json", "{\"subdomain\":\"acme\",\"company_name\":\"Acme\"}",
	     "missing_field", "admin_email"},
	    {"application/json", "{\"subdomain\":\"acme\",\"admin_email\":\"a@b.co\"}",
	     "missing_field", "company_name"},
	    {"application/json",
	     "{\"subdomain\":7,\"admin_email\":\"a@b.co\",\"company_name\":\"Acme\"}",
	     "invalid_type", "subdomain"},
	    {"application/json",
	     "{\"subdomain\":\"acme\",\"admin_email\":null,\"company_name\":\"Acme\"}",
	     "invalid_type", "admin_email"},
	    {"application/json",
	     "{\"subdomain\":\"acme\",\"admin_email\":\"a@b.co\",\"company_name\":[\"A\"]}",
	     "invalid_type", "company_name"},
	    {"application/json",
	     "{\"subdomain\":\"ACME\",\"admin_email\":\"a@b.co\",\"company_name\":\"Acme\"}",
	     "invalid_subdomain", "subdomain"},
	    {"application/json",
	     "{\"subdomain\":\"acme\",\"admin_email\":\"a@b.co\",\"company_name\":\"A\\u0000B\"}",
	     "invalid_json", ""},
	    {"application/json",
	     "{\"subdomain\":\"acme\",\"admin_email\":\"a@b.co\",\"company_name\":\"A\\u0007B\"}",
	     "invalid_company_name", "company_name"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tenant_req r;
		struct validate_error e;
		int rc = request_decode_tenant(cases[i].ct, cases[i].body, strlen(cases[i].body),
		                               &r, &e);

		if (cases[i].code == NULL) {
			if (rc != 0)
				fail_msg("case %zu: want ok, got %s (%s)", i, e.code, e.message);
			assert_string_equal(r.subdomain, "acme");
			assert_string_equal(r.admin_email, "a@b.co");
			assert_string_equal(r.company_name, "Acme");
		} else {
			if (rc == 0 || strcmp(e.code, cases[i].code) != 0 ||
			    strcmp(e.field, cases[i].field) != 0)
				fail_msg("case %zu: want %s/%s, got rc=%d %s/%s", i, cases[i].code,
				         cases[i].field, rc, e.code, e.field);
		}
	}
}

static void
test_body_cap(void **state)
{
	size_t n = REQUEST_BODY_MAX + 1;
	char *body = malloc(n);
	struct tenant_req r;
	struct validate_error e;

	(void)state;
	assert_non_null(body);
	memset(body, ' ', n);
	body[0] = '{';
	body[n - 1] = '}';
	assert_int_equal(request_decode_tenant("application/json", body, n, &r, &e), -EINVAL);
	assert_string_equal(e.code, "body_too_large");
	/* Exactly at the cap the size is accepted (and the empty object lacks fields). */
	assert_int_equal(request_decode_tenant("application/json", body + 1, n - 1, &r, &e),
	                 -EINVAL);
	assert_string_equal(e.code, "invalid_json");
	body[1] = '{';
	assert_int_equal(request_decode_tenant("application/json", body + 1, n - 1, &r, &e),
	                 -EINVAL);
	assert_string_equal(e.code, "missing_field");
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_subdomain), cmocka_unit_test(test_email),
	    cmocka_unit_test(test_company),   cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_body_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
