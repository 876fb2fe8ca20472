/*
 * metrics: a process's counters, gauges and histograms, and their Prometheus
 * text exposition (format 0.0.4). The module that owns a figure registers it
 * once and keeps the handle; series of one name (told apart by their fixed
 * labels) form one family, rendered together in the order first registered.
 * Touched only from the event loop. A NULL handle (registration out of
 * memory) is accepted and ignored everywhere.
 */
#ifndef BERTH_CORE_METRICS_H
#define BERTH_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *);

/*
 * labels: the series' fixed labels as Prometheus writes them inside braces
 * (`route="post",code="2xx"`), or NULL. name, help and labels are copied.
 */
struct metric *metrics_counter(struct metrics *, const char *name, const char *help,
                               const char *labels);
struct metric *metrics_gauge(struct metrics *, const char *name, const char *help,
                             const char *labels);
/* bounds: n upper bounds in increasing order (copied); +Inf is implied. */
struct metric *metrics_histogram(struct metrics *, const char *name, const char *help,
                                 const double *bounds, size_t n);

void metric_inc(struct metric *);
void metric_add(struct metric *, uint64_t n);
void metric_set(struct metric *, double v);
void metric_observe(struct metric *, double v);
/* A counter's count, a gauge's value, a histogram's number of observations. */
double metric_value(const struct metric *);

/* The value (as metric_value) of the series name{labels}; 0 when there is none. */
double metrics_value(const struct metrics *, const char *name, const char *labels);

/* Appends every family's text exposition. */
void metrics_render(const struct metrics *, struct evbuffer *);

#endif
