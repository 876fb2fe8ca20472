/*
 * aws_retry: the SDKs' standard retry mode. Full-jitter exponential backoff
 * capped at 20 s, and a retry quota (token bucket) shared by one client so an
 * outage does not multiply the load: a retry costs 5 tokens (10 after a
 * time-out), a success gives back what its retries took (1 when it needed
 * none), and without tokens a failure is returned at once.
 */
#ifndef BERTH_AWS_RETRY_H
#define BERTH_AWS_RETRY_H

#include <stdint.h>

#define AWS_RETRY_MAX_ATTEMPTS 3
#define AWS_RETRY_BACKOFF_CAP  20000 /* ms */
#define AWS_RETRY_QUOTA_MAX    500
#define AWS_RETRY_COST         5
#define AWS_RETRY_TIMEOUT_COST 10

struct aws_retry_quota {
	int tokens;
	int max;
};

void aws_retry_quota_init(struct aws_retry_quota *, int max);
/* Takes the cost of one retry; returns the cost taken, or 0 when the quota is empty. */
int aws_retry_quota_take(struct aws_retry_quota *, int timed_out);
/* A call succeeded after taking `taken` tokens for its retries (0 when none). */
void aws_retry_quota_release(struct aws_retry_quota *, int taken);

/*
 * Delay before retry number `retry` (1 for the first retry):
 * rnd/2^32 * min(cap_ms, base_ms * 2^(retry-1)). rnd is a uniform 32-bit value.
 */
long aws_retry_backoff_ms(int retry, long base_ms, long cap_ms, uint32_t rnd);

/* A uniform 32-bit value from the system's random source. */
uint32_t aws_retry_random(void);

#endif
