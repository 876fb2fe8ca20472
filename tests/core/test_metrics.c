/*
 * core/metrics and core/backoff: the text exposition (families grouped under
 * one HELP/TYPE, labels, cumulative histogram buckets), lookups, NULL handles;
 * doubling delays with a cap, and jitter bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "core/backoff.h"
#include "core/metrics.h"

static char *
render(const struct metrics *ms)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	metrics_render(ms, b);
	n = evbuffer_get_length(b);
	s = calloc(1, n + 1);
	evbuffer_remove(b, s, n);
	evbuffer_free(b);
	return s;
}

static void
test_exposition(void **state)
{
	static const double bounds[] = {0.01, 0.1, 1};
	struct metrics *ms = metrics_new();
	struct metric *post, *get, *gauge, *h;
	char *text;

	(void)state;
	assert_non_null(ms);
	post = metrics_counter(ms, "x_requests_total", "Requests.", "route=\"post\"");
	gauge = metrics_gauge(ms, "x_inflight", "In flight.", NULL);
	get = metrics_counter(ms, "x_requests_total", "Requests.", "route=\"get\"");
	h = metrics_histogram(ms, "x_seconds", "Latency.", bounds, 3);
	metric_inc(post);
	metric_add(get, 41);
	metric_inc(get);
	metric_set(gauge, 3);
	metric_observe(h, 0.005);
	metric_observe(h, 0.5);
	metric_observe(h, 7);
	metric_observe(h, -1); /* counted as 0 */
	/* A handle of the wrong kind ignores what does not fit it. */
	metric_set(post, 99);
	metric_observe(gauge, 1);
	text = render(ms);
	assert_string_equal(text, "# HELP x_requests_total Requests.\n"
	                          "# TYPE x_requests_total counter\n"
	                          "x_requests_total{route=\"post\"} 1\n"
	                          "x_requests_total{route=\"get\"} 42\n"
	                          "# HELP x_inflight In flight.\n"
	                          "# TYPE x_inflight gauge\n"
	                          "x_inflight 3\n"
	                          "# HELP x_seconds Latency.\n"
	                          "# TYPE x_seconds histogram\n"
	                          "x_seconds_bucket{le=\"0.01\"} 2\n"
	                          "x_seconds_bucket{le=\"0.1\"} 2\n"
	                          "x_seconds_bucket{le=\"1\"} 3\n"
	                          "x_seconds_bucket{le=\"+Inf\"} 4\n"
	                          "x_seconds_sum 7.505000\n"
	                          "x_seconds_count 4\n");
	free(text);
	assert_true(metrics_value(ms, "x_requests_total", "route=\"get\"") == 42);
	assert_true(metrics_value(ms, "x_requests_total", NULL) == 0);
	assert_true(metrics_value(ms, "x_seconds", NULL) == 4);
	assert_true(metrics_value(ms, "nope", NULL) == 0);
	/* NULL handles and a NULL set are accepted everywhere. */
	metric_inc(NULL);
	metric_set(NULL, 1);
	metric_observe(NULL, 1);
	assert_null(metrics_counter(NULL, "a", "b", NULL));
	assert_true(metric_value(NULL) == 0);
	metrics_free(ms);
	metrics_free(NULL);
}

static void
test_backoff(void **state)
{
	struct backoff b = BACKOFF_INIT(250, 5000);
	static const long want[] = {250, 500, 1000, 2000, 4000, 5000, 5000};

	(void)state;
	assert_false(backoff_active(&b));
	assert_int_equal(backoff_peek(&b), 250);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_next(&b), want[i]);
	assert_true(backoff_active(&b));
	backoff_reset(&b);
	assert_int_equal(backoff_next(&b), 250);
	assert_int_equal(backoff_ceiling(0, 100, 5000), 100);
	assert_int_equal(backoff_ceiling(40, 100, 5000), 5000);
	assert_int_equal(backoff_full_jitter(1000, 0), 0);
	assert_true(backoff_full_jitter(1000, UINT32_MAX) < 1000);
	assert_int_equal(backoff_equal_jitter(1000, 0), 500);
	assert_true(backoff_equal_jitter(1000, UINT32_MAX) <= 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exposition),
	    cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
