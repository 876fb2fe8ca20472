/*
 * metrics: the sidecar's counters and its event-to-commit histogram, rendered
 * in the Prometheus text format for GET /metrics. One process-wide instance,
 * touched only from the loop.
 */
#ifndef BERTH_SIDECAR_METRICS_H
#define BERTH_SIDECAR_METRICS_H

#include <stdint.h>

struct evbuffer;
struct registry_stats;

enum metrics_event { ME_CREATE, ME_START, ME_DIE, ME_DESTROY, ME_OTHER, ME__N };

struct metrics {
	unsigned long events[ME__N];
	unsigned long events_dropped; /* over-long or unparsable lines */
	unsigned long reconnects;
	unsigned long reconciles;      /* full Docker reconciles run */
	unsigned long reconcile_fixed; /* rows a reconcile (Docker or agent) changed */
	unsigned long agent_polls, agent_errors;
	unsigned long inspects, inspect_errors;
	unsigned long commits, commit_errors;
	/* event -> commit seconds: cumulative buckets as Prometheus wants them */
	unsigned long hist[16];
	unsigned long hist_count;
	double hist_sum;
};

extern struct metrics metrics;

enum metrics_event metrics_event_kind(const char *action);
/* Records one event-to-commit delay in seconds. */
void metrics_observe_commit(double seconds);
/* Appends the text exposition; stats may be NULL when the registry could not be read. */
void metrics_render(struct evbuffer *, const struct registry_stats *, int connected);

#endif
