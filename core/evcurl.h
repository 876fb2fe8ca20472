/*
 * evcurl: libcurl's multi-socket API driven by a libevent loop. The one place
 * that touches CURLM; every HTTP client call in berth (Docker over a Unix
 * socket, the ECS agent, IMDS, AWS) goes through it, and none blocks the loop.
 *
 * A request is described by struct evcurl_req (borrowed for the call only:
 * evcurl copies what it keeps). The body of the response is collected up to
 * body_max bytes (a larger body fails the request with -E2BIG) unless on_data
 * is set, in which case chunks are handed over as they arrive (streams such as
 * Docker's /events) and nothing is collected.
 */
#ifndef BERTH_EVCURL_H
#define BERTH_EVCURL_H

#include <stddef.h>

struct event_base;
struct evcurl;
struct evcurl_xfer;

struct evcurl_resp {
	long status;        /* HTTP status; 0 when no response */
	int error;          /* 0, or a negative code (-ETIMEDOUT, -ECONNREFUSED, -E2BIG, -EIO) */
	const char *errmsg; /* libcurl's error buffer, "" when none */
	const char *body;   /* NUL-terminated; borrowed for the callback */
	size_t body_len;
	const char *headers; /* raw response headers "Name: value\r\n..."; borrowed */
};

/* Returns 0 to continue, nonzero to abort the transfer (its on_done then gets -ECANCELED). */
typedef int (*evcurl_data_cb)(const char *buf, size_t len, void *arg);
/* Called exactly once per request, after which the transfer is freed. */
typedef void (*evcurl_done_cb)(const struct evcurl_resp *, void *arg);

struct evcurl_req {
	const char *method;         /* "GET" when NULL */
	const char *url;            /* "http://localhost/v1.44/_ping" for a Unix socket */
	const char *unix_socket;    /* path, or NULL */
	const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
	const char *body;           /* request body or NULL */
	size_t body_len;
	long timeout_ms;         /* whole transfer; 0 = none (streams) */
	long connect_timeout_ms; /* 0 = 2000 */
	size_t body_max;         /* cap on the collected response body; 0 = 1 MiB */
	int no_proxy;            /* ignore proxy settings (metadata addresses) */
	const char *aws_sigv4;   /* CURLOPT_AWS_SIGV4 value, e.g. "aws:amz:us-east-1:ecs" */
	const char *userpwd;     /* "AKID:SECRET" for SigV4; never logged */
	evcurl_data_cb on_data;  /* streaming; NULL to collect */
	evcurl_done_cb on_done;
	void *arg;
};

struct evcurl *evcurl_new(struct event_base *);
/* Aborts transfers in flight (their on_done runs with -ECANCELED) and frees. */
void evcurl_free(struct evcurl *);
/* Starts a request; returns the transfer (for evcurl_cancel) or NULL on failure. */
struct evcurl_xfer *evcurl_start(struct evcurl *, const struct evcurl_req *);
/*
 * Cancels a transfer in flight; its on_done runs with -ECANCELED before this
 * returns, or, when called from inside an evcurl callback (on_data), as soon
 * as that callback has returned. Starting a transfer from a callback is fine.
 */
void evcurl_cancel(struct evcurl_xfer *);
/* Copies the value of response header name (case-insensitive) into out; -ENOENT if absent. */
int evcurl_header(const char *headers, const char *name, char *out, size_t outlen);

#endif
