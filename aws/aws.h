/*
 * aws: calls to AWS JSON-protocol APIs (ECS, DynamoDB) from the libevent loop.
 *
 * One struct aws per program: region, endpoints, the credentials chain, the
 * IMDS client and the retry quota. A call takes a JSON request, signs it with
 * libcurl's SigV4 (CURLOPT_AWS_SIGV4 "aws:amz:<region>:<service>"; session
 * credentials add a signed X-Amz-Security-Token header; no header is ever sent
 * blank, which libcurl 7.88 would sign and so break the signature), retries as
 * the SDKs' standard mode (aws_retry.h), and hands back the parsed answer.
 *
 * Region: AWS_REGION, else AWS_DEFAULT_REGION, else IMDS (fetched at the
 * first call). Endpoints: AWS_ENDPOINT_URL_ECS / AWS_ENDPOINT_URL_DYNAMODB,
 * else AWS_ENDPOINT_URL, else https://<service>.<region>.amazonaws.com.
 * AWS_MAX_ATTEMPTS (1-10) replaces the 3 attempts.
 */
#ifndef BERTH_AWS_H
#define BERTH_AWS_H

#include <stddef.h>

#include <jansson.h>

#include "aws/aws_error.h"

struct event_base;
struct evcurl;
struct aws;
struct aws_call;
struct aws_creds_provider;
struct aws_imds;

enum aws_service {
	AWS_ECS,
	AWS_DYNAMODB,
};

#define AWS_REGION_MAX      32
#define AWS_ENDPOINT_MAX    256
#define AWS_RESP_BODY_MAX   (4 * 1024 * 1024) /* cap on one response body */
#define AWS_CALL_TIMEOUT_MS 10000             /* one attempt */
#define AWS_OPERATION_MAX   64

struct aws_result {
	/*
	 * 0 on a 2xx answer; -EIO for an AWS error (aerr holds code and message);
	 * -EACCES when no credentials could be had; -EPROTO for a 2xx body that is
	 * not JSON; otherwise a transport error (-ETIMEDOUT, -ECONNREFUSED, ...).
	 */
	int error;
	long status;
	struct aws_error aerr;
	json_t *body; /* borrowed for the callback; NULL unless error is 0 */
	int attempts;
	const char *service;   /* "ecs" / "dynamodb" */
	const char *operation; /* "RunTask" */
};

typedef void (*aws_call_cb)(const struct aws_result *, void *arg);

/*
 * Reads the environment. evcurl is borrowed. Returns NULL with err filled
 * when the credentials environment or an endpoint is unusable.
 */
struct aws *aws_new(struct event_base *, struct evcurl *, char *err, size_t errlen);
/* Calls in flight are cancelled; their callbacks do not run. */
void aws_free(struct aws *);

/*
 * Starts operation (e.g. "RunTask") on service with the JSON request req
 * (stolen). cb runs exactly once, never before this returns, unless the call
 * is cancelled. Returns NULL (and cb does not run) on allocation failure.
 */
struct aws_call *aws_call(struct aws *, enum aws_service, const char *operation, json_t *req,
                          aws_call_cb cb, void *arg);
/* Cancels a call; its callback does not run. */
void aws_call_cancel(struct aws_call *);

/* "ecs RunTask: ThrottlingException: Rate exceeded (HTTP 400, 3 attempts)" for logs and replies. */
void aws_result_str(const struct aws_result *, char *out, size_t outlen);

/* The region ("" until known), the endpoint for a service ("" until the region is known). */
const char *aws_region(const struct aws *);
const char *aws_endpoint(const struct aws *, enum aws_service);
struct aws_creds_provider *aws_creds(struct aws *);
struct aws_imds *aws_imds(struct aws *);

/* AWS_MAX_ATTEMPTS when set to 1-10, else 3. */
int aws_env_max_attempts(void);
/* Test and tuning hooks: backoff base and cap (ms, 0 = default), attempts (1-10). */
void aws_set_retry(struct aws *, long base_ms, long cap_ms, int max_attempts);

struct aws_stats {
	unsigned long calls, attempts, retries, throttled, failures, quota_exhausted;
	int quota_tokens;
};
void aws_get_stats(const struct aws *, struct aws_stats *);

/*
 * Builds the headers and SigV4 settings of one request (used by aws_call and
 * by the signer tests against the official vectors). hdrs gets up to 5
 * entries plus NULL, pointing into store. extra (NULL-terminated, may be NULL)
 * is appended. Returns 0 or -E2BIG.
 */
struct aws_signing {
	char sigv4[96];
	char userpwd[128 + 1 + 128];
	char store[4608];
	const char *hdrs[12];
};
int aws_signing_prepare(struct aws_signing *, const char *akid, const char *secret,
                        const char *token, const char *region, const char *service,
                        const char *content_type, const char *target, const char *const *extra);
void aws_signing_wipe(struct aws_signing *);

#endif
