/*
 * aws_creds: the credentials chain, in the SDKs' order, on the libevent loop:
 *   1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN]
 *   2. ECS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on
 *      http://169.254.170.2, else AWS_CONTAINER_CREDENTIALS_FULL_URI (http only
 *      to a loopback or ECS/EKS metadata address) with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN as Authorization
 *   3. IMDSv2 instance-role credentials
 * The source is chosen once, at creation, from the environment. Fetched
 * credentials are cached and fetched again 15 minutes before their
 * Expiration; a failed refresh keeps the cached ones while they are valid.
 * Secrets are never logged; freed memory is wiped.
 *
 * BERTH_AWS_CONTAINER_CREDENTIALS_HOST replaces http://169.254.170.2 for the
 * relative URI (tests use an emulator on 127.0.0.1).
 */
#ifndef BERTH_AWS_CREDS_H
#define BERTH_AWS_CREDS_H

#include <stddef.h>
#include <stdint.h>

struct evcurl;
struct aws_imds;
struct aws_creds_provider;
struct aws_creds_wait;

#define AWS_AKID_MAX           128
#define AWS_SECRET_MAX         128
#define AWS_TOKEN_MAX          4096
#define AWS_CREDS_BODY_MAX     (16 * 1024) /* cap on a credentials document */
#define AWS_CREDS_REFRESH_MS   (15 * 60 * 1000)
#define AWS_CONTAINER_HOST_DEF "http://169.254.170.2"

enum aws_creds_source {
	AWS_CREDS_NONE,
	AWS_CREDS_ENV,
	AWS_CREDS_CONTAINER,
	AWS_CREDS_IMDS,
};

struct aws_creds {
	char akid[AWS_AKID_MAX];
	char secret[AWS_SECRET_MAX];
	char token[AWS_TOKEN_MAX]; /* "" when none */
	int64_t expires_ms;        /* Unix ms; 0 = does not expire */
};

/* err 0 with creds (borrowed for the call), or negative with a reason. */
typedef void (*aws_creds_cb)(int err, const struct aws_creds *, const char *errmsg, void *arg);

/*
 * Reads the environment and picks the source. imds is borrowed (may be NULL:
 * no IMDS source). Returns NULL with err filled when the environment is
 * contradictory or unusable (e.g. a FULL_URI to a non-loopback http host).
 */
struct aws_creds_provider *aws_creds_new(struct evcurl *, struct aws_imds *, char *err,
                                         size_t errlen);
/* Not from inside one of this provider's callbacks; waiters are dropped silently. */
void aws_creds_free(struct aws_creds_provider *);
enum aws_creds_source aws_creds_source(const struct aws_creds_provider *);
const char *aws_creds_source_str(enum aws_creds_source);

/*
 * Hands valid credentials to cb: at once (before returning NULL) when cached,
 * else after a fetch (returns a handle for aws_creds_cancel).
 */
struct aws_creds_wait *aws_creds_get(struct aws_creds_provider *, aws_creds_cb, void *arg);
void aws_creds_cancel(struct aws_creds_wait *);
/* Drops the cache (after ExpiredToken), so the next get fetches. */
void aws_creds_invalidate(struct aws_creds_provider *);
/* Number of fetches made (for tests and metrics). */
unsigned long aws_creds_fetches(const struct aws_creds_provider *);
/* Replaces the clock (Unix ms) for tests; NULL restores the real one. */
void aws_creds_set_clock(struct aws_creds_provider *, int64_t (*now_ms)(void));

/*
 * Parses a container or IMDS credentials document into out. Returns 0, or
 * -EPROTO with err filled. Exposed for unit tests and fuzzing.
 */
int aws_creds_parse(const char *body, size_t len, struct aws_creds *out, char *err, size_t errlen);
/* Parses "2026-11-27T03:04:34Z" (fractions allowed) to Unix ms; -1 when malformed. */
int64_t aws_time_parse_iso8601(const char *);

#endif
