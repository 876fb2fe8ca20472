/*
 * aws_imds: an IMDSv2 client on the libevent loop. A session token is taken
 * with PUT /latest/api/token (TTL 6 h, refreshed a minute before it lapses,
 * taken again after a 401) and sent with every GET. Never through a proxy.
 *
 * The endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT, else
 * http://169.254.169.254; AWS_EC2_METADATA_DISABLED=true turns the client off
 * (every get then fails with -ENOTSUP). Tests point the endpoint at an
 * emulator on 127.0.0.1.
 */
#ifndef BERTH_AWS_IMDS_H
#define BERTH_AWS_IMDS_H

#include <stddef.h>

struct evcurl;
struct aws_imds;
struct aws_imds_op;

#define AWS_IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define AWS_IMDS_URL_MAX          512
#define AWS_IMDS_BODY_MAX         (64 * 1024) /* cap on one metadata value */
#define AWS_IMDS_TOKEN_MAX        1024

/*
 * err is 0 (status 200, body the value, NUL-terminated), or negative:
 * -ENOENT (404), -EACCES (401/403 after a fresh token), -ENOTSUP (disabled),
 * -ECANCELED, or a transport error. body and errmsg are borrowed for the call.
 */
typedef void (*aws_imds_cb)(int err, const char *body, size_t len, const char *errmsg, void *arg);

/* endpoint NULL reads the environment. Returns NULL on allocation failure. */
struct aws_imds *aws_imds_new(struct evcurl *, const char *endpoint);
/*
 * Cancels gets in flight (their callbacks run with -ECANCELED) and frees.
 * From inside one of this client's callbacks only when no other get is
 * waiting or in flight (a one-shot client freed by its last answer).
 */
void aws_imds_free(struct aws_imds *);
const char *aws_imds_endpoint(const struct aws_imds *);
int aws_imds_disabled(const struct aws_imds *);
/*
 * Each request's whole and connect time-outs, and how many times a request
 * is tried on a transport error (default 2000 ms, 1000 ms, 2 tries).
 */
void aws_imds_set_timeouts(struct aws_imds *, long timeout_ms, long connect_ms, int attempts);
/* 1 while the client holds a session token (IMDS answered its PUT). */
int aws_imds_has_token(const struct aws_imds *);

/*
 * GETs path ("/latest/meta-data/placement/region"). The callback runs exactly
 * once, possibly before this returns (when disabled). Returns the op for
 * aws_imds_cancel, or NULL when the callback already ran.
 */
struct aws_imds_op *aws_imds_get(struct aws_imds *, const char *path, aws_imds_cb, void *arg);
/* Cancels an op; its callback does not run. */
void aws_imds_cancel(struct aws_imds_op *);

#endif
