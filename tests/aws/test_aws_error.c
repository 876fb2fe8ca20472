/*
 * Error bodies (the shared fixtures and hand-made cases), code sanitizing,
 * the standard retry mode's classification, backoff and quota.
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

#include "aws/aws_error.h"
#include "aws/aws_retry.h"
#include "tests/aws/testlib.h"
#include "tests/lib/testlib.h"

struct fixture_case {
	const char *file;
	const char *code;
	const char *message_prefix;
	enum aws_retry_class cls;
	long status;
};

static const struct fixture_case fixtures[] = {
    {"ddb-error-conditional-check-failed.json", "ConditionalCheckFailedException",
     "The conditional request failed", AWS_RETRY_NONE, 400},
    {"ddb-error-conditional-check-failed-all-old.json", "ConditionalCheckFailedException", "",
     AWS_RETRY_NONE, 400},
    {"ddb-error-provisioned-throughput.json", "ProvisionedThroughputExceededException", "",
     AWS_RETRY_THROTTLE, 400},
    {"ddb-error-throttling.json", "ThrottlingException", "", AWS_RETRY_THROTTLE, 400},
    {"ecs-error-clusternotfound.json", "ClusterNotFoundException", "Cluster not found.",
     AWS_RETRY_NONE, 400},
    {"ecs-error-conflict.json", "ConflictException", "", AWS_RETRY_NONE, 400},
    {"ecs-error-throttling.json", "ThrottlingException", "Rate exceeded", AWS_RETRY_THROTTLE, 400},
};

static void
test_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		const struct fixture_case *f = &fixtures[i];
		struct aws_error e;
		char rel[256], *body;
		size_t len;

		snprintf(rel, sizeof(rel), "fixtures/%s", f->file);
		body = tl_data(rel, &len);
		assert_int_equal(aws_error_parse(NULL, body, len, &e), 0);
		print_message("%s -> code=%s message=%s\n", f->file, e.code, e.message);
		assert_string_equal(e.code, f->code);
		assert_true(strncmp(e.message, f->message_prefix, strlen(f->message_prefix)) == 0);
		assert_int_equal(aws_retry_classify(0, f->status, e.code), f->cls);
		free(body);
	}
}

struct body_case {
	const char *headers;
	const char *body;
	int rc;
	const char *code;
	const char *message;
};

static const struct body_case bodies[] = {
    /* The header wins over the body. */
    {"X-Amzn-ErrorType: ThrottlingException:http://internal.amazon.com/\r\n",
     "{\"__type\":\"Other\",\"message\":\"m\"}", 0, "ThrottlingException", "m"},
    {NULL, "{\"__type\":\"com.amazon.coral.validate#ValidationException\",\"Message\":\"bad\"}", 0,
     "ValidationException", "bad"},
    {NULL, "{\"code\":\"SlowDown\"}", 0, "SlowDown", ""},
    {NULL, "{\"__type\":\"a#b#ClientException:extra\",\"message\":\"x\\ny\"}", 0, "ClientException",
     "x y"},
    {NULL, "{}", -ENOENT, "", ""},
    {NULL, "[1,2]", -ENOENT, "", "[1,2]"},
    {NULL, "<html>Bad Gateway</html>", -ENOENT, "", "<html>Bad Gateway</html>"},
    {NULL, "", -ENOENT, "", ""},
    {NULL, "{\"__type\":42,\"message\":[]}", -ENOENT, "", ""},
};

static void
test_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		const struct body_case *b = &bodies[i];
		struct aws_error e;

		assert_int_equal(aws_error_parse(b->headers, b->body, strlen(b->body), &e), b->rc);
		assert_string_equal(e.code, b->code);
		assert_string_equal(e.message, b->message);
	}
}

static void
test_sanitize(void **state)
{
	static const char *const cases[][2] = {
	    {"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
	     "ResourceNotFoundException"},
	    {"ThrottlingException:http://internal.amazon.com/coral/", "ThrottlingException"},
	    {"  Plain ", "Plain"},
	    {"#", ""},
	    {"", ""},
	};
	char buf[AWS_ERR_CODE_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i][0]);
		aws_error_sanitize(buf);
		assert_string_equal(buf, cases[i][1]);
	}
}

struct class_case {
	int transport;
	long status;
	const char *code;
	enum aws_retry_class cls;
};

static const struct class_case classes[] = {
    {0, 400, "ThrottlingException", AWS_RETRY_THROTTLE},
    {0, 400, "ProvisionedThroughputExceededException", AWS_RETRY_THROTTLE},
    {0, 400, "RequestLimitExceeded", AWS_RETRY_THROTTLE},
    {0, 400, "TransactionInProgressException", AWS_RETRY_THROTTLE},
    {0, 429, "", AWS_RETRY_THROTTLE},
    {0, 500, "ServerException", AWS_RETRY_TRANSIENT},
    {0, 500, "", AWS_RETRY_TRANSIENT},
    {0, 502, "", AWS_RETRY_TRANSIENT},
    {0, 503, "", AWS_RETRY_TRANSIENT},
    {0, 504, "", AWS_RETRY_TRANSIENT},
    {0, 501, "", AWS_RETRY_NONE},
    {0, 400, "ValidationException", AWS_RETRY_NONE},
    {0, 400, "ConditionalCheckFailedException", AWS_RETRY_NONE},
    {0, 403, "InvalidSignatureException", AWS_RETRY_NONE},
    {0, 403, "UnrecognizedClientException", AWS_RETRY_NONE},
    {0, 403, "ExpiredTokenException", AWS_RETRY_EXPIRED},
    {0, 400, "ClusterNotFoundException", AWS_RETRY_NONE},
    {0, 404, "", AWS_RETRY_NONE},
    {-ETIMEDOUT, 0, "", AWS_RETRY_TRANSIENT},
    {-ECONNREFUSED, 0, "", AWS_RETRY_TRANSIENT},
    {-EIO, 0, "", AWS_RETRY_TRANSIENT},
    {-E2BIG, 200, "", AWS_RETRY_NONE},
    {-ECANCELED, 0, "", AWS_RETRY_NONE},
};

static void
test_classify(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		const struct class_case *c = &classes[i];
		assert_int_equal(aws_retry_classify(c->transport, c->status, c->code), c->cls);
	}
}

static void
test_backoff(void **state)
{
	(void)state;
	/* The ceiling doubles per retry and stops at the cap; rnd scales it. */
	assert_int_equal(aws_retry_backoff_ms(1, 1000, 20000, UINT32_MAX), 999);
	assert_int_equal(aws_retry_backoff_ms(2, 1000, 20000, UINT32_MAX), 1999);
	assert_int_equal(aws_retry_backoff_ms(5, 1000, 20000, UINT32_MAX), 15999);
	assert_int_equal(aws_retry_backoff_ms(6, 1000, 20000, UINT32_MAX), 19999);
	assert_int_equal(aws_retry_backoff_ms(60, 1000, 20000, UINT32_MAX), 19999);
	assert_int_equal(aws_retry_backoff_ms(3, 1000, 20000, 0), 0);
	assert_int_equal(aws_retry_backoff_ms(2, 50, 20000, 1u << 31), 50);
	/* Random values stay within [0, ceiling). */
	for (int i = 0; i < 1000; i++) {
		long ms = aws_retry_backoff_ms(3, 100, 20000, aws_retry_random());
		assert_true(ms >= 0 && ms < 400);
	}
}

static void
test_quota(void **state)
{
	struct aws_retry_quota q;
	int taken = 0, n = 0;

	(void)state;
	aws_retry_quota_init(&q, 0);
	assert_int_equal(q.tokens, AWS_RETRY_QUOTA_MAX);
	/* 500 tokens pay for 100 retries, then none. */
	while (aws_retry_quota_take(&q, 0) == AWS_RETRY_COST)
		n++;
	assert_int_equal(n, AWS_RETRY_QUOTA_MAX / AWS_RETRY_COST);
	assert_int_equal(aws_retry_quota_take(&q, 0), 0);
	/* Successes refill: a first-try success gives 1, a retried one its cost. */
	aws_retry_quota_release(&q, 0);
	assert_int_equal(q.tokens, 1);
	aws_retry_quota_release(&q, 10);
	assert_int_equal(q.tokens, 11);
	taken = aws_retry_quota_take(&q, 1);
	assert_int_equal(taken, AWS_RETRY_TIMEOUT_COST);
	assert_int_equal(q.tokens, 1);
	for (int i = 0; i < 1000; i++)
		aws_retry_quota_release(&q, 0);
	assert_int_equal(q.tokens, AWS_RETRY_QUOTA_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixtures), cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_sanitize), cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_backoff),  cmocka_unit_test(test_quota),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
