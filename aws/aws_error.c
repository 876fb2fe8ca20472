/*
 * AWS JSON-protocol errors: parsing and retry classification.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "aws/aws_error.h"
#include "core/evcurl.h"

/* botocore/retries/standard.py: the throttling codes. */
static const char *const throttle_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

/* Transient codes the SDKs retry whatever the status. */
static const char *const transient_codes[] = {
    "RequestTimeout",      "RequestTimeoutException", "InternalError",
    "InternalServerError", "ServiceUnavailable",      "ServerException",
};

static const char *const expired_codes[] = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
};

static int
in_list(const char *code, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return 1;
	return 0;
}

int
aws_error_is_throttle(const char *code)
{
	return code != NULL &&
	       in_list(code, throttle_codes, sizeof(throttle_codes) / sizeof(throttle_codes[0]));
}

void
aws_error_sanitize(char *code)
{
	char *p;

	if ((p = strrchr(code, '#')) != NULL)
		memmove(code, p + 1, strlen(p + 1) + 1);
	if ((p = strchr(code, ':')) != NULL)
		*p = '\0';
	/* Trim surrounding blanks a header value may carry. */
	while (code[0] == ' ' || code[0] == '\t')
		memmove(code, code + 1, strlen(code));
	for (size_t n = strlen(code); n > 0 && (code[n - 1] == ' ' || code[n - 1] == '\t'); n--)
		code[n - 1] = '\0';
}

static void
copy_printable(char *out, size_t outlen, const char *s, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		out[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[j] = '\0';
}

int
aws_error_parse(const char *headers, const char *body, size_t len, struct aws_error *out)
{
	char hdr[AWS_ERR_CODE_MAX];
	json_t *root = NULL, *v;
	json_error_t jerr;
	const char *s;
	int rc = -ENOENT;

	memset(out, 0, sizeof(*out));
	if (headers != NULL && evcurl_header(headers, "X-Amzn-ErrorType", hdr, sizeof(hdr)) == 0 &&
	    hdr[0] != '\0') {
		snprintf(out->code, sizeof(out->code), "%s", hdr);
		aws_error_sanitize(out->code);
		if (out->code[0] != '\0')
			rc = 0;
	}
	if (body != NULL && len > 0 && len <= AWS_ERR_BODY_MAX)
		root = json_loadb(body, len, 0, &jerr);
	if (root != NULL && json_is_object(root)) {
		if (rc != 0) {
			if (((v = json_object_get(root, "__type")) != NULL && json_is_string(v)) ||
			    ((v = json_object_get(root, "code")) != NULL && json_is_string(v)) ||
			    ((v = json_object_get(root, "Code")) != NULL && json_is_string(v))) {
				snprintf(out->code, sizeof(out->code), "%s", json_string_value(v));
				aws_error_sanitize(out->code);
				if (out->code[0] != '\0')
					rc = 0;
			}
		}
		if (((v = json_object_get(root, "message")) != NULL && json_is_string(v)) ||
		    ((v = json_object_get(root, "Message")) != NULL && json_is_string(v))) {
			s = json_string_value(v);
			copy_printable(out->message, sizeof(out->message), s, strlen(s));
		}
	} else if (body != NULL && len > 0 && rc != 0) {
		/* Not JSON (a proxy's HTML page, a truncated body): keep a short excerpt. */
		copy_printable(out->message, sizeof(out->message), body, len < 160 ? len : 160);
	}
	json_decref(root);
	return rc;
}

enum aws_retry_class
aws_retry_classify(int transport, long status, const char *code)
{
	if (transport != 0) {
		/* A body over our cap or a cancelled call will not get better by retrying. */
		if (transport == -E2BIG || transport == -ECANCELED)
			return AWS_RETRY_NONE;
		return AWS_RETRY_TRANSIENT;
	}
	if (code != NULL && code[0] != '\0') {
		if (aws_error_is_throttle(code))
			return AWS_RETRY_THROTTLE;
		if (in_list(code, expired_codes, sizeof(expired_codes) / sizeof(expired_codes[0])))
			return AWS_RETRY_EXPIRED;
		if (in_list(code, transient_codes,
		            sizeof(transient_codes) / sizeof(transient_codes[0])))
			return AWS_RETRY_TRANSIENT;
	}
	if (status == 429)
		return AWS_RETRY_THROTTLE;
	if (status == 500 || status == 502 || status == 503 || status == 504)
		return AWS_RETRY_TRANSIENT;
	return AWS_RETRY_NONE;
}
