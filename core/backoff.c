/* backoff: doubling delays with a cap, and jitter (see backoff.h). */
#include "core/backoff.h"

long
backoff_ceiling(int n, long first_ms, long cap_ms)
{
	long ms = first_ms;

	for (int i = 1; i < n && ms < cap_ms; i++)
		ms *= 2;
	return ms > cap_ms ? cap_ms : ms;
}

long
backoff_next(struct backoff *b)
{
	return backoff_ceiling(++b->tries, b->first_ms, b->cap_ms);
}

long
backoff_peek(const struct backoff *b)
{
	return backoff_ceiling(b->tries + 1, b->first_ms, b->cap_ms);
}

int
backoff_active(const struct backoff *b)
{
	return b->tries > 0;
}

void
backoff_reset(struct backoff *b)
{
	b->tries = 0;
}

long
backoff_full_jitter(long ms, uint32_t rnd)
{
	return (long)(((uint64_t)rnd * (uint64_t)ms) >> 32);
}

long
backoff_equal_jitter(long ms, uint32_t rnd)
{
	return ms / 2 + (long)(rnd % (uint32_t)(ms / 2 + 1));
}
