#include "sidecar/metrics.h"

#include <string.h>

#include <event2/buffer.h>

#include "registry/registry.h"

struct metrics metrics;

/* Upper bounds in seconds; the target is p99 <= 5 ms. */
static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,   1,     2.5,  5,     10};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static const char *const event_names[ME__N] = {"create", "start", "die", "destroy", "other"};

enum metrics_event
metrics_event_kind(const char *action)
{
	for (int i = 0; i < ME_OTHER; i++)
		if (strcmp(action, event_names[i]) == 0)
			return (enum metrics_event)i;
	/* Podman's Docker-compatible API says "died" and "remove". */
	if (strcmp(action, "died") == 0)
		return ME_DIE;
	if (strcmp(action, "remove") == 0)
		return ME_DESTROY;
	return ME_OTHER;
}

void
metrics_observe_commit(double seconds)
{
	if (seconds < 0)
		seconds = 0;
	for (size_t i = 0; i < NBOUNDS; i++)
		if (seconds <= bounds[i])
			metrics.hist[i]++;
	metrics.hist_count++;
	metrics.hist_sum += seconds;
}

void
metrics_render(struct evbuffer *b, const struct registry_stats *st, int connected)
{
	evbuffer_add_printf(b, "# HELP berth_sidecar_events_total Docker container events read, "
	                       "by action.\n# TYPE berth_sidecar_events_total counter\n");
	for (int i = 0; i < ME__N; i++)
		evbuffer_add_printf(b, "berth_sidecar_events_total{type=\"%s\"} %lu\n",
		                    event_names[i], metrics.events[i]);
	evbuffer_add_printf(b,
	                    "# HELP berth_sidecar_events_dropped_total Event lines dropped "
	                    "(over-long or unparsable).\n"
	                    "# TYPE berth_sidecar_events_dropped_total counter\n"
	                    "berth_sidecar_events_dropped_total %lu\n",
	                    metrics.events_dropped);
	evbuffer_add_printf(b,
	                    "# HELP berth_sidecar_docker_connected 1 while the Docker event "
	                    "stream is connected.\n# TYPE berth_sidecar_docker_connected gauge\n"
	                    "berth_sidecar_docker_connected %d\n",
	                    connected ? 1 : 0);
	evbuffer_add_printf(b,
	                    "# HELP berth_sidecar_reconnects_total Docker event stream "
	                    "reconnects.\n# TYPE berth_sidecar_reconnects_total counter\n"
	                    "berth_sidecar_reconnects_total %lu\n",
	                    metrics.reconnects);
	evbuffer_add_printf(b,
	                    "# HELP berth_sidecar_reconciles_total Full reconciles against "
	                    "Docker.\n# TYPE berth_sidecar_reconciles_total counter\n"
	                    "berth_sidecar_reconciles_total %lu\n",
	                    metrics.reconciles);
	evbuffer_add_printf(b,
	                    "# HELP berth_sidecar_reconcile_rows_fixed_total Registry rows a "
	                    "reconcile (Docker or agent) changed.\n"
	                    "# TYPE berth_sidecar_reconcile_rows_fixed_total counter\n"
	                    "berth_sidecar_reconcile_rows_fixed_total %lu\n",
	                    metrics.reconcile_fixed);
	evbuffer_add_printf(b,
	                    "# HELP berth_sidecar_agent_polls_total ECS agent /v1/tasks "
	                    "polls.\n# TYPE berth_sidecar_agent_polls_total counter\n"
	                    "berth_sidecar_agent_polls_total %lu\n"
	                    "# HELP berth_sidecar_agent_errors_total ECS agent calls that "
	                    "failed.\n# TYPE berth_sidecar_agent_errors_total counter\n"
	                    "berth_sidecar_agent_errors_total %lu\n",
	                    metrics.agent_polls, metrics.agent_errors);
	evbuffer_add_printf(b,
	                    "# HELP berth_sidecar_inspects_total Docker inspects made.\n"
	                    "# TYPE berth_sidecar_inspects_total counter\n"
	                    "berth_sidecar_inspects_total %lu\n"
	                    "# HELP berth_sidecar_inspect_errors_total Docker inspects that "
	                    "failed (other than 404).\n"
	                    "# TYPE berth_sidecar_inspect_errors_total counter\n"
	                    "berth_sidecar_inspect_errors_total %lu\n",
	                    metrics.inspects, metrics.inspect_errors);
	evbuffer_add_printf(b,
	                    "# HELP berth_sidecar_commits_total Registry write transactions.\n"
	                    "# TYPE berth_sidecar_commits_total counter\n"
	                    "berth_sidecar_commits_total %lu\n"
	                    "# HELP berth_sidecar_commit_errors_total Registry write "
	                    "transactions that failed (retried).\n"
	                    "# TYPE berth_sidecar_commit_errors_total counter\n"
	                    "berth_sidecar_commit_errors_total %lu\n",
	                    metrics.commits, metrics.commit_errors);
	if (st != NULL) {
		evbuffer_add_printf(b, "# HELP berth_sidecar_bindings Bindings in the registry, "
		                       "by status.\n# TYPE berth_sidecar_bindings gauge\n");
		for (int s = BINDING_PROVISIONAL; s <= BINDING_REMOVED; s++)
			evbuffer_add_printf(b, "berth_sidecar_bindings{status=\"%s\"} %ld\n",
			                    binding_status_str((enum binding_status)s),
			                    st->bindings[s]);
		evbuffer_add_printf(b,
		                    "# HELP berth_sidecar_outbox_pending Outbox rows not yet "
		                    "synced.\n# TYPE berth_sidecar_outbox_pending gauge\n"
		                    "berth_sidecar_outbox_pending %ld\n",
		                    st->outbox_pending);
	}
	evbuffer_add_printf(b, "# HELP berth_sidecar_event_to_commit_seconds From the Docker "
	                       "event's timeNano to the registry commit.\n"
	                       "# TYPE berth_sidecar_event_to_commit_seconds histogram\n");
	for (size_t i = 0; i < NBOUNDS; i++)
		evbuffer_add_printf(b,
		                    "berth_sidecar_event_to_commit_seconds_bucket{le=\"%g\"} %lu\n",
		                    bounds[i], metrics.hist[i]);
	evbuffer_add_printf(b,
	                    "berth_sidecar_event_to_commit_seconds_bucket{le=\"+Inf\"} %lu\n"
	                    "berth_sidecar_event_to_commit_seconds_sum %.6f\n"
	                    "berth_sidecar_event_to_commit_seconds_count %lu\n",
	                    metrics.hist_count, metrics.hist_sum, metrics.hist_count);
}
