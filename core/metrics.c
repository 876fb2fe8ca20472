/* metrics: registered figures and their Prometheus text (see metrics.h). */
#include "core/metrics.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

enum metric_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

struct metric {
	enum metric_type type;
	char *name, *help, *labels;
	uint64_t count; /* counter; histogram observations */
	double value;   /* gauge; histogram sum */
	double *bounds;
	uint64_t *buckets; /* per bound, not cumulative */
	size_t nbounds;
};

struct metrics {
	struct metric **v;
	size_t n, cap;
};

struct metrics *
metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

static void
metric_free(struct metric *m)
{
	free(m->name);
	free(m->help);
	free(m->labels);
	free(m->bounds);
	free(m->buckets);
	free(m);
}

void
metrics_free(struct metrics *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++)
		metric_free(ms->v[i]);
	free(ms->v);
	free(ms);
}

static struct metric *
add(struct metrics *ms, enum metric_type type, const char *name, const char *help,
    const char *labels)
{
	struct metric *m, **v;

	if (ms == NULL)
		return NULL;
	if (ms->n == ms->cap) {
		size_t cap = ms->cap != 0 ? ms->cap * 2 : 32;

		if ((v = realloc(ms->v, cap * sizeof(*v))) == NULL)
			return NULL;
		ms->v = v;
		ms->cap = cap;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->type = type;
	m->name = strdup(name);
	m->help = strdup(help);
	m->labels = labels != NULL ? strdup(labels) : NULL;
	if (m->name == NULL || m->help == NULL || (labels != NULL && m->labels == NULL)) {
		metric_free(m);
		return NULL;
	}
	ms->v[ms->n++] = m;
	return m;
}

struct metric *
metrics_counter(struct metrics *ms, const char *name, const char *help, const char *labels)
{
	return add(ms, MT_COUNTER, name, help, labels);
}

struct metric *
metrics_gauge(struct metrics *ms, const char *name, const char *help, const char *labels)
{
	return add(ms, MT_GAUGE, name, help, labels);
}

struct metric *
metrics_histogram(struct metrics *ms, const char *name, const char *help, const double *bounds,
                  size_t n)
{
	struct metric *m = add(ms, MT_HISTOGRAM, name, help, NULL);

	if (m == NULL)
		return NULL;
	m->bounds = calloc(n, sizeof(*m->bounds));
	m->buckets = calloc(n + 1, sizeof(*m->buckets));
	if (m->bounds == NULL || m->buckets == NULL) {
		/* Keeps its slot: rendered with no buckets but +Inf. */
		free(m->bounds);
		free(m->buckets);
		m->bounds = NULL;
		m->buckets = NULL;
		return m;
	}
	memcpy(m->bounds, bounds, n * sizeof(*bounds));
	m->nbounds = n;
	return m;
}

void
metric_inc(struct metric *m)
{
	metric_add(m, 1);
}

void
metric_add(struct metric *m, uint64_t n)
{
	if (m != NULL && m->type == MT_COUNTER)
		m->count += n;
}

void
metric_set(struct metric *m, double v)
{
	if (m != NULL && m->type == MT_GAUGE)
		m->value = v;
}

void
metric_observe(struct metric *m, double v)
{
	size_t i;

	if (m == NULL || m->type != MT_HISTOGRAM)
		return;
	if (v < 0)
		v = 0;
	for (i = 0; i < m->nbounds && v > m->bounds[i]; i++)
		;
	if (m->buckets != NULL)
		m->buckets[i]++;
	m->count++;
	m->value += v;
}

double
metric_value(const struct metric *m)
{
	if (m == NULL)
		return 0;
	return m->type == MT_GAUGE ? m->value : (double)m->count;
}

double
metrics_value(const struct metrics *ms, const char *name, const char *labels)
{
	for (size_t i = 0; ms != NULL && i < ms->n; i++) {
		const struct metric *m = ms->v[i];

		if (strcmp(m->name, name) == 0 &&
		    (labels == NULL ? m->labels == NULL
		                    : m->labels != NULL && strcmp(m->labels, labels) == 0))
			return metric_value(m);
	}
	return 0;
}

static void
render_one(const struct metric *m, struct evbuffer *b)
{
	const char *l = m->labels;
	uint64_t cum = 0;

	switch (m->type) {
	case MT_COUNTER:
		evbuffer_add_printf(b, "%s%s%s%s %llu\n", m->name, l ? "{" : "", l ? l : "",
		                    l ? "}" : "", (unsigned long long)m->count);
		break;
	case MT_GAUGE:
		evbuffer_add_printf(b, "%s%s%s%s %.17g\n", m->name, l ? "{" : "", l ? l : "",
		                    l ? "}" : "", m->value);
		break;
	case MT_HISTOGRAM:
		for (size_t i = 0; i < m->nbounds; i++) {
			cum += m->buckets[i];
			evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", m->name, m->bounds[i],
			                    (unsigned long long)cum);
		}
		evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
		                    m->name, (unsigned long long)m->count, m->name, m->value,
		                    m->name, (unsigned long long)m->count);
		break;
	}
}

void
metrics_render(const struct metrics *ms, struct evbuffer *b)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};

	for (size_t i = 0; i < ms->n; i++) {
		const struct metric *m = ms->v[i];
		size_t j;

		/* A family is rendered where its first series was registered. */
		for (j = 0; j < i && strcmp(ms->v[j]->name, m->name) != 0; j++)
			;
		if (j < i)
			continue;
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
		                    types[m->type]);
		for (j = i; j < ms->n; j++)
			if (strcmp(ms->v[j]->name, m->name) == 0)
				render_one(ms->v[j], b);
	}
}
