/*
 * The signer against the official SigV4 vectors (and two derived JSON-protocol
 * ones): each request is built with aws_signing_prepare, the way every AWS
 * call is, and sent through evcurl to a capture server on 127.0.0.1 with the
 * vector's Host and a forced X-Amz-Date; the Authorization header that
 * arrives must equal the vector's.
 *
 * Not covered: get-vanilla-query-order-key-case (libcurl before 8.3.0 neither
 * sorts nor encodes the query; berth's calls are all POST / with no query)
 * and post-x-www-form-urlencoded (signs Content-Length and a body hash, which
 * only S3-style signing does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "core/evcurl.h"
#include "tests/aws/testlib.h"
#include "tests/lib/testlib.h"

struct vec {
	const char *dir;
	int derived; /* header-authorization.txt holds the whole expected value */
};

static const struct vec vectors[] = {
    {"post-vanilla", 0},
    {"post-sts-header-before", 0},
    {"get-vanilla-with-session-token", 0},
    {"derived-dynamodb-getitem-json10-port", 1},
    {"derived-ecs-describeclusters-json11", 1},
};

struct done {
	int done;
	long status;
	int error;
};

static void
on_done(const struct evcurl_resp *r, void *arg)
{
	struct done *d = arg;

	d->status = r->status;
	d->error = r->error;
	d->done = 1;
}

/* The Authorization value from header-signed-request.txt (official layout). */
static void
expected_auth(const char *dir, int derived, char *out, size_t outlen)
{
	char rel[256], *txt, *p, *e;

	if (derived) {
		snprintf(rel, sizeof(rel), "sigv4-vectors/%s/header-authorization.txt", dir);
		txt = tl_data(rel, NULL);
		snprintf(out, outlen, "%s", txt);
		free(txt);
	} else {
		snprintf(rel, sizeof(rel), "sigv4-vectors/%s/header-signed-request.txt", dir);
		txt = tl_data(rel, NULL);
		p = strstr(txt, "\nAuthorization:");
		assert_non_null(p);
		p += strlen("\nAuthorization:");
		e = strchr(p, '\n');
		snprintf(out, outlen, "%.*s", e != NULL ? (int)(e - p) : (int)strlen(p), p);
		free(txt);
	}
	for (size_t n = strlen(out); n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'); n--)
		out[n - 1] = '\0';
}

static void
run_vector(const struct vec *v)
{
	struct event_base *base = event_base_new();
	struct evcurl *ec = evcurl_new(base);
	struct capture cap;
	struct aws_signing s;
	struct evcurl_req req;
	struct done d;
	json_t *ctx, *cr;
	json_error_t jerr;
	char rel[256], method[16], host[256], ctype[128], target[128], want[1024];
	char hosthdr[300], url[128], *txt, *line, *body = NULL, *save = NULL;
	const char *extra[3];
	const char *token;

	memset(&cap, 0, sizeof(cap));
	assert_int_equal(capture_start(&cap, base), 0);
	snprintf(rel, sizeof(rel), "sigv4-vectors/%s/context.json", v->dir);
	txt = tl_data(rel, NULL);
	ctx = json_loads(txt, 0, &jerr);
	free(txt);
	assert_non_null(ctx);
	cr = json_object_get(ctx, "credentials");
	token = json_string_value(json_object_get(cr, "token"));

	/* request.txt: "METHOD /path HTTP/1.1", "Name:value" lines, blank, body. */
	snprintf(rel, sizeof(rel), "sigv4-vectors/%s/request.txt", v->dir);
	txt = tl_data(rel, NULL);
	method[0] = host[0] = ctype[0] = target[0] = '\0';
	body = strstr(txt, "\n\n");
	if (body != NULL) {
		*body = '\0';
		body += 2;
	}
	for (line = txt; line != NULL && *line != '\0'; line = save) {
		if ((save = strchr(line, '\n')) != NULL)
			*save++ = '\0';
		if (method[0] == '\0') {
			sscanf(line, "%15s", method);
			continue;
		}
		if (strncasecmp(line, "Host:", 5) == 0)
			snprintf(host, sizeof(host), "%s", line + 5);
		else if (strncasecmp(line, "Content-Type:", 13) == 0)
			snprintf(ctype, sizeof(ctype), "%s", line + 13);
		else if (strncasecmp(line, "X-Amz-Target:", 13) == 0)
			snprintf(target, sizeof(target), "%s", line + 13);
	}
	assert_true(host[0] != '\0');

	assert_int_equal(
	    aws_signing_prepare(&s, json_string_value(json_object_get(cr, "access_key_id")),
	                        json_string_value(json_object_get(cr, "secret_access_key")), token,
	                        json_string_value(json_object_get(ctx, "region")),
	                        json_string_value(json_object_get(ctx, "service")), ctype, target,
	                        NULL),
	    0);
	/* The vector's Host, and its time (libcurl then sends X-Amz-Date twice; it signs this one).
	 */
	snprintf(hosthdr, sizeof(hosthdr), "Host: %s", host);
	extra[0] = hosthdr;
	extra[1] = "X-Amz-Date: 20150830T123600Z";
	extra[2] = NULL;
	{
		int n = 0;
		while (s.hdrs[n] != NULL)
			n++;
		for (int i = 0; extra[i] != NULL; i++)
			s.hdrs[n++] = extra[i];
		s.hdrs[n] = NULL;
	}
	/* Never a blank header: every one has a value. */
	for (int i = 0; s.hdrs[i] != NULL; i++) {
		const char *c = strchr(s.hdrs[i], ':');
		assert_non_null(c);
		assert_true(c[1] == ' ' && c[2] != '\0');
	}
	snprintf(url, sizeof(url), "%s/", cap.url);
	memset(&req, 0, sizeof(req));
	memset(&d, 0, sizeof(d));
	req.method = method;
	req.url = url;
	req.headers = s.hdrs;
	if (body != NULL && body[0] != '\0') {
		req.body = body;
		req.body_len = strlen(body);
	}
	req.timeout_ms = 5000;
	req.aws_sigv4 = s.sigv4;
	req.userpwd = s.userpwd;
	req.on_done = on_done;
	req.arg = &d;
	assert_non_null(evcurl_start(ec, &req));
	assert_true(tl_loop_until(base, &d.done, 5000));
	assert_int_equal(d.error, 0);
	assert_int_equal(d.status, 200);
	assert_int_equal(cap.requests, 1);

	expected_auth(v->dir, v->derived, want, sizeof(want));
	print_message("vector %s\n  want %s\n  got  %s\n", v->dir, want, cap.authorization);
	assert_string_equal(cap.authorization, want);
	if (token != NULL) {
		/* The session token travels as a header, and is signed. */
		assert_non_null(strstr(cap.headers, "X-Amz-Security-Token: "));
		assert_non_null(strstr(cap.authorization, "x-amz-security-token"));
	}

	aws_signing_wipe(&s);
	free(txt);
	json_decref(ctx);
	capture_stop(&cap);
	evcurl_free(ec);
	event_base_free(base);
}

static void
test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		run_vector(&vectors[i]);
}

/* No header is ever sent blank; a missing token adds no header at all. */
static void
test_no_blank_headers(void **state)
{
	struct aws_signing s;

	(void)state;
	assert_int_equal(
	    aws_signing_prepare(&s, "AKID", "secret", "", "us-east-1", "ecs", "", "T.Op", NULL), 0);
	assert_string_equal(s.hdrs[0], "X-Amz-Target: T.Op");
	assert_null(s.hdrs[1]);
	assert_string_equal(s.sigv4, "aws:amz:us-east-1:ecs");
	assert_string_equal(s.userpwd, "AKID:secret");
	assert_int_equal(aws_signing_prepare(&s, "AKID", "secret", NULL, "us-east-1", "dynamodb",
	                                     "application/x-amz-json-1.0", NULL, NULL),
	                 0);
	assert_string_equal(s.hdrs[0], "Content-Type: application/x-amz-json-1.0");
	assert_null(s.hdrs[1]);
	/* A key id with ':' would split CURLOPT_USERPWD wrongly. */
	assert_int_equal(
	    aws_signing_prepare(&s, "AK:ID", "secret", NULL, "us-east-1", "ecs", NULL, NULL, NULL),
	    -EINVAL);
	aws_signing_wipe(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_no_blank_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
