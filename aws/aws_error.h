/*
 * aws_error: AWS JSON-protocol error bodies and the standard retry mode's
 * classification, as pure functions (unit-tested and fuzzed).
 *
 * The code comes from the X-Amzn-ErrorType header if present, else __type,
 * else code; it is sanitized to the text after the last '#' and before the
 * first ':'. The message is in message or Message.
 */
#ifndef BERTH_AWS_ERROR_H
#define BERTH_AWS_ERROR_H

#include <stddef.h>

#define AWS_ERR_CODE_MAX 96
#define AWS_ERR_MSG_MAX  512
#define AWS_ERR_BODY_MAX (64 * 1024) /* error bodies larger than this are not parsed */

struct aws_error {
	char code[AWS_ERR_CODE_MAX]; /* "" when none could be found */
	char message[AWS_ERR_MSG_MAX];
};

enum aws_retry_class {
	AWS_RETRY_NONE,      /* not retryable */
	AWS_RETRY_THROTTLE,  /* a throttling code */
	AWS_RETRY_TRANSIENT, /* 5xx, connection errors, time-outs, CRC mismatch */
	AWS_RETRY_EXPIRED,   /* the credentials expired: refresh them, then retry */
};

/*
 * Fills out from a response. headers may be NULL (raw "Name: value\r\n"
 * lines). Returns 0 when a code was found, -ENOENT when the body carried none
 * (out->code is then "" and out->message a short description of the body).
 */
int aws_error_parse(const char *headers, const char *body, size_t len, struct aws_error *out);

/* Keeps the text after the last '#' and before the first ':' of code, in place. */
void aws_error_sanitize(char *code);

/*
 * How the standard retry mode treats a finished attempt. transport is 0 or a
 * negative evcurl error (-ETIMEDOUT, -ECONNREFUSED, ...); status the HTTP
 * status (0 when none); code the sanitized error code or "".
 */
enum aws_retry_class aws_retry_classify(int transport, long status, const char *code);

/* 1 when code is one of the SDKs' throttling codes. */
int aws_error_is_throttle(const char *code);

#endif
