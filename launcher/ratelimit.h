/*
 * ratelimit: a token bucket per client (its address), in a fixed-size table.
 * Each client may make `burst` requests at once and `rate` per second after.
 * When the table is full the client seen longest ago is forgotten (it starts
 * again with a full bucket), so memory stays bounded whoever connects.
 */
#ifndef BERTH_RATELIMIT_H
#define BERTH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_MAX 64 /* an IPv6 address in text fits */

struct ratelimit;

/* rate: tokens per second (> 0); burst: bucket size (>= 1); slots: clients remembered. */
struct ratelimit *ratelimit_new(double rate, double burst, size_t slots);
void ratelimit_free(struct ratelimit *);
/*
 * Takes one token for key at now_ms (monotonic). Returns 1 when allowed; 0
 * when not, with *retry_after_s the whole seconds until a token is back (>= 1).
 */
int ratelimit_take(struct ratelimit *, const char *key, int64_t now_ms, int *retry_after_s);
/*
 * The client's key: the rightmost entry of a forwarded-for header value
 * (what the nearest trusted proxy appended), else the peer address. fwd may
 * be NULL. Returns out.
 */
const char *ratelimit_client_key(const char *peer, const char *fwd, char *out, size_t outlen);
/* Clients currently remembered. */
size_t ratelimit_count(const struct ratelimit *);

#endif
