/*
 * Standard retry mode: backoff and quota.
 */
#include <stdlib.h>
#include <sys/random.h>

#include "core/backoff.h"
#include "aws/aws_retry.h"

void
aws_retry_quota_init(struct aws_retry_quota *q, int max)
{
	q->max = max > 0 ? max : AWS_RETRY_QUOTA_MAX;
	q->tokens = q->max;
}

int
aws_retry_quota_take(struct aws_retry_quota *q, int timed_out)
{
	int cost = timed_out ? AWS_RETRY_TIMEOUT_COST : AWS_RETRY_COST;

	if (q->tokens < cost)
		return 0;
	q->tokens -= cost;
	return cost;
}

void
aws_retry_quota_release(struct aws_retry_quota *q, int taken)
{
	q->tokens += taken > 0 ? taken : 1;
	if (q->tokens > q->max)
		q->tokens = q->max;
}

long
aws_retry_backoff_ms(int retry, long base_ms, long cap_ms, uint32_t rnd)
{
	return backoff_full_jitter(backoff_ceiling(retry < 1 ? 1 : retry, base_ms, cap_ms), rnd);
}

uint32_t
aws_retry_random(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)random();
	return r;
}
