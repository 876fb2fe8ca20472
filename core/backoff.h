/*
 * backoff: how long to wait before trying again. Every retry in berth (the
 * Docker stream, the ECS agent, the outbox drain, a registry write, AWS
 * calls) waits a first delay, doubled after each failure up to a cap, with
 * jitter where many clients could retry in step.
 */
#ifndef BERTH_CORE_BACKOFF_H
#define BERTH_CORE_BACKOFF_H

#include <stdint.h>

struct backoff {
	long first_ms, cap_ms;
	int tries; /* failures since the last reset */
};

#define BACKOFF_INIT(first_ms, cap_ms)                                                             \
	{                                                                                          \
		(first_ms), (cap_ms), 0                                                            \
	}

/* The ceiling for try n (1-based): first_ms doubled n - 1 times, at most cap_ms. */
long backoff_ceiling(int n, long first_ms, long cap_ms);
/* Counts one more failure and returns the delay before the next try. */
long backoff_next(struct backoff *);
/* The delay backoff_next would return now (for a log line). */
long backoff_peek(const struct backoff *);
/* 1 while failures are counted (since the last reset). */
int backoff_active(const struct backoff *);
/* A success: the next failure waits first_ms again. */
void backoff_reset(struct backoff *);
/* Jitter of ms with a random rnd: full, in [0, ms); equal, in [ms/2, ms]. */
long backoff_full_jitter(long ms, uint32_t rnd);
long backoff_equal_jitter(long ms, uint32_t rnd);

#endif
