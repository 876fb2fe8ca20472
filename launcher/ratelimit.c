/* ratelimit: a token bucket per client key, in a fixed table (see ratelimit.h). */
#include "launcher/ratelimit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bucket {
	char key[RATELIMIT_KEY_MAX]; /* "" when the slot is free */
	double tokens;
	int64_t last_ms;
};

struct ratelimit {
	double rate, burst;
	size_t slots, used;
	struct bucket *b;
};

struct ratelimit *
ratelimit_new(double rate, double burst, size_t slots)
{
	struct ratelimit *rl;

	if (rate <= 0 || burst < 1 || slots == 0 || (rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	if ((rl->b = calloc(slots, sizeof(*rl->b))) == NULL) {
		free(rl);
		return NULL;
	}
	rl->rate = rate;
	rl->burst = burst;
	rl->slots = slots;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->b);
	free(rl);
}

const char *
ratelimit_client_key(const char *peer, const char *fwd, char *out, size_t outlen)
{
	const char *s, *e;

	if (fwd != NULL) {
		s = strrchr(fwd, ',');
		s = s != NULL ? s + 1 : fwd;
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s) {
			snprintf(out, outlen, "%.*s", (int)(e - s), s);
			return out;
		}
	}
	snprintf(out, outlen, "%s", peer != NULL && *peer != '\0' ? peer : "?");
	return out;
}

size_t
ratelimit_count(const struct ratelimit *rl)
{
	return rl->used;
}

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/*
 * Open addressing with linear probing. Slots are never emptied (a full table
 * replaces its oldest entry in place), so a free slot ends every probe chain.
 */
static struct bucket *
lookup(struct ratelimit *rl, const char *key, int64_t now_ms)
{
	size_t start = (size_t)(hash(key) % rl->slots), oldest = 0;
	struct bucket *b = NULL;

	for (size_t n = 0; n < rl->slots; n++) {
		struct bucket *c = &rl->b[(start + n) % rl->slots];

		if (c->key[0] == '\0') {
			b = c;
			rl->used++;
			break;
		}
		if (strcmp(c->key, key) == 0)
			return c;
	}
	if (b == NULL) {
		/* Full: forget the client seen longest ago. */
		for (size_t i = 1; i < rl->slots; i++)
			if (rl->b[i].last_ms < rl->b[oldest].last_ms)
				oldest = i;
		b = &rl->b[oldest];
	}
	snprintf(b->key, sizeof(b->key), "%s", key);
	b->tokens = rl->burst;
	b->last_ms = now_ms;
	return b;
}

int
ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s)
{
	struct bucket *b = lookup(rl, key, now_ms);
	double wait;

	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) / 1000.0 * rl->rate;
		if (b->tokens > rl->burst)
			b->tokens = rl->burst;
	}
	b->last_ms = now_ms;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 1;
	}
	wait = ceil((1.0 - b->tokens) / rl->rate);
	*retry_after_s = wait < 1 ? 1 : (int)wait;
	return 0;
}
