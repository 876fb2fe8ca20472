/*
 * metrics: the launcher's figures (core/metrics), registered once in
 * l->m, counted by the modules that own them, rendered for GET /metrics.
 */
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"
#include "launcher/launcher.h"

/* Seconds as Prometheus histogram buckets: 0.01 .. 60 (and +Inf). */
static const double provision_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

const char *const bind_source_names[BS__N] = {"registry", "sidecar", "remote_sidecar", "describe"};

int
launcher_metrics_init(struct launcher *l)
{
	static const char *const routes[] = {"post",    "get",     "list", "delete",
	                                     "healthz", "metrics", "other"};
	static const char *const classes[] = {"2xx", "4xx", "5xx"};
	static const char *const results[] = {"started",   "running", "failed",
	                                      "timed_out", "resumed", "refused"};
	struct launcher_metrics *m = &l->m;
	struct metric **by_result[] = {&m->started,   &m->running, &m->failed,
	                               &m->timed_out, &m->resumed, &m->refused};
	struct metrics *all;
	char label[64];

	if ((all = m->all = metrics_new()) == NULL)
		return -1;
	for (int r = 0; r < MR__N; r++)
		for (int c = 0; c < MC__N; c++) {
			snprintf(label, sizeof(label), "route=\"%s\",code=\"%s\"", routes[r],
			         classes[c]);
			m->requests[r][c] = metrics_counter(all, "berth_launcher_requests_total",
			                                    "HTTP requests answered.", label);
		}
	m->rate_limited = metrics_counter(all, "berth_launcher_rate_limited_total",
	                                  "Requests answered 429.", NULL);
	m->unauthorized = metrics_counter(all, "berth_launcher_unauthorized_total",
	                                  "Requests answered 401.", NULL);
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
		snprintf(label, sizeof(label), "result=\"%s\"", results[i]);
		*by_result[i] = metrics_counter(all, "berth_launcher_provisions_total",
		                                "Provisions, by result.", label);
	}
	m->tenants_stopped = metrics_counter(all, "berth_launcher_tenants_stopped_total",
	                                     "Tenants stopped by DELETE.", NULL);
	m->task_stopped =
	    metrics_counter(all, "berth_launcher_tenants_task_stopped_total",
	                    "RUNNING tenants whose task stopped without a DELETE.", NULL);
	m->inflight =
	    metrics_gauge(all, "berth_launcher_inflight", "Provisions in progress.", NULL);
	m->start_queue = metrics_gauge(all, "berth_launcher_start_queue",
	                               "Provisions waiting for a backend start slot.", NULL);
	m->registry_checks = metrics_counter(all, "berth_launcher_registry_checks_total",
	                                     "Looks at the registry while waiting.", NULL);
	m->registry_changes = metrics_counter(all, "berth_launcher_registry_changes_total",
	                                      "Looks that found the registry changed.", NULL);
	for (int i = 0; i < BS__N; i++) {
		snprintf(label, sizeof(label), "source=\"%s\"", bind_source_names[i]);
		m->bound_by[i] =
		    metrics_counter(all, "berth_launcher_bindings_total",
		                    "Bindings learned, by the source that answered first.", label);
	}
	m->remote_failures = metrics_counter(
	    all, "berth_launcher_remote_sidecar_failures_total",
	    "Long-polls of another host's sidecar that failed (the fallback went on).", NULL);
	m->total = metrics_histogram(all, "berth_launcher_provision_seconds", "POST to RUNNING.",
	                             provision_bounds,
	                             sizeof(provision_bounds) / sizeof(provision_bounds[0]));
	m->share =
	    metrics_histogram(all, "berth_launcher_provision_own_seconds",
	                      "POST to RUNNING minus the backend's start call.", provision_bounds,
	                      sizeof(provision_bounds) / sizeof(provision_bounds[0]));
	for (int i = 0; i < 4; i++) {
		snprintf(label, sizeof(label), "status=\"%s\"",
		         tenant_status_str((enum tenant_status)i));
		m->tenants[i] = metrics_gauge(all, "berth_launcher_tenants",
		                              "Tenants in the registry, by status.", label);
	}
	return 0;
}

void
launcher_metrics_render(struct launcher *l, struct evbuffer *b)
{
	struct registry_stats st;

	metric_set(l->m.inflight, l->nprovs);
	metric_set(l->m.start_queue, l->nqueued);
	/* A registry that cannot be read keeps the last figures. */
	if (registry_stats(l->reg, &st) == 0)
		for (int i = 0; i < 4; i++)
			metric_set(l->m.tenants[i], (double)st.tenants[i]);
	metrics_render(l->m.all, b);
}

void
launcher_metrics_free(struct launcher *l)
{
	metrics_free(l->m.all);
	memset(&l->m, 0, sizeof(l->m));
}
