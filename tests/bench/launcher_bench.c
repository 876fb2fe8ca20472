/*
 * launcher_bench: 100 provisions (docker backend), 20 in flight at a time,
 * with the real sidecar writing bindings. For each POST the client measures
 * the whole request; the launcher reports its backend start time in
 * Server-Timing ("start;dur=ms"), and the launcher's own share is the POST
 * minus that start: validation, registry writes, awaiting the binding the
 * sidecar records, and the readiness probe. It is printed whole and split
 * into those waits (from Server-Timing "bind" and "ready"); "the rest" is the
 * launcher's own work: HTTP, validation, registry writes, loop latency.
 *
 * Then a burst: BURST provisions sent at once (a landing page's launch day),
 * with --wait-timeout 600, so the start queue (--backend-concurrency) serves
 * them all; it prints how they ended and the sustained provisions per minute.
 *
 *   launcher_bench [N [WINDOW [BURST]]]    (defaults 100, 20 and 200)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "tests/lib/testlib.h"

static void
report(const char *what, double *v, size_t n)
{
	struct tl_summary s;

	tl_summarize(v, n, &s);
	printf("  %-28s p50 %8.1f ms   p99 %8.1f ms   mean %8.1f ms   max %8.1f ms\n", what, s.p50,
	       s.p99, s.mean, s.max);
}

/* BURST provisions at once; prints how they ended and provisions per minute. 0 when all 201. */
static int
burst_run(struct h_env *e, struct h_proc *l, size_t burst)
{
	static const char *const ct[] = {"Content-Type: application/json", NULL};
	struct h_resp *resp = calloc(burst, sizeof(*resp)), r;
	char **bodies = calloc(burst, sizeof(*bodies));
	size_t created = 0, busy = 0, other = 0;
	struct timespec t0, t1;
	double secs;
	int rc = 1;

	if (resp == NULL || bodies == NULL)
		goto out;
	for (size_t i = 0; i < burst; i++) {
		if ((bodies[i] = malloc(256)) == NULL)
			goto out;
		snprintf(bodies[i], 256,
		         "{\"subdomain\":\"%s-s%03zu\",\"admin_email\":\"b@bench.example\","
		         "\"company_name\":\"Burst %zu\"}",
		         e->prefix, i, i);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h_post_many(l->port, (const char *const *)bodies, burst, 0, ct, resp, 600);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (size_t i = 0; i < burst; i++) {
		if (resp[i].status == 201)
			created++;
		else if (resp[i].status == 503)
			busy++;
		else if (other++ < 3)
			fprintf(stderr, "burst %zu: %ld %.200s\n", i, resp[i].status, resp[i].body);
	}
	printf("launcher_bench: burst of %zu at once (--wait-timeout 600)\n", burst);
	printf("  %zu x 201, %zu x 503, %zu other, in %.1f s: %.0f provisions per minute\n",
	       created, busy, other, secs, secs > 0 ? (double)created * 60.0 / secs : 0.0);
	rc = created == burst ? 0 : 1;
	for (size_t i = 0; i < burst; i++) {
		char path[128];

		snprintf(path, sizeof(path), "/v1/tenants/%s-s%03zu", e->prefix, i);
		h_http(l->port, "DELETE", path, NULL, NULL, 0, &r);
	}
out:
	for (size_t i = 0; bodies != NULL && i < burst; i++)
		free(bodies[i]);
	free(bodies);
	free(resp);
	return rc;
}

int
main(int argc, char **argv)
{
	static const char *const ct[] = {"Content-Type: application/json", NULL};
	const char *const extra[] = {"--image",
	                             "berth-demo/tenant:latest",
	                             "--rate-limit",
	                             "0",
	                             "--log-level",
	                             "info",
	                             "--wait-timeout",
	                             "600",
	                             "--max-inflight",
	                             "1000",
	                             NULL};
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
	size_t window = argc > 2 ? strtoul(argv[2], NULL, 10) : 20;
	size_t burst = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
	struct h_env e;
	struct h_proc l = {0};
	struct h_resp *resp, *r;
	char **bodies;
	double *total, *start, *share, *bind, *ready, *own;
	const char *why;
	size_t ok = 0;
	struct timespec t0, t1;
	int rc = 1;

	if (n < 1 || n > 1000 || window < 1)
		n = 100, window = 20;
	if (burst > 1000)
		burst = 200;
	setenv("BERTH_SOURCE_DIR", BENCH_SOURCE_DIR, 0);
	setenv("BERTH_BINARY_DIR", BENCH_BINARY_DIR, 0);
	if ((why = h_env_init(&e, "launcher-bench")) != NULL) {
		fprintf(stderr, "launcher_bench: %s\n", why);
		return 1;
	}
	resp = calloc(n, sizeof(*resp));
	r = calloc(1, sizeof(*r));
	bodies = calloc(n, sizeof(*bodies));
	total = calloc(n, sizeof(double));
	start = calloc(n, sizeof(double));
	share = calloc(n, sizeof(double));
	bind = calloc(n, sizeof(double));
	ready = calloc(n, sizeof(double));
	own = calloc(n, sizeof(double));
	if (resp == NULL || r == NULL || bodies == NULL || total == NULL || start == NULL ||
	    share == NULL)
		return 1;
	if (h_tenant_image(&e) != 0 || h_sidecar_start(&e) != 0 ||
	    h_launcher_start(&e, &l, extra, NULL) != 0) {
		fprintf(stderr, "launcher_bench: could not start the services (see %s)\n", e.dir);
		goto out;
	}
	/* One warm-up provision, not counted. */
	bodies[0] = malloc(256);
	snprintf(bodies[0], 256,
	         "{\"subdomain\":\"%s-warm\",\"admin_email\":\"b@bench.example\","
	         "\"company_name\":\"Bench\"}",
	         e.prefix);
	h_post_many(l.port, (const char *const *)bodies, 1, 1, ct, resp, 60);
	snprintf(bodies[0], 256, "/v1/tenants/%s-warm", e.prefix);
	h_http(l.port, "DELETE", bodies[0], NULL, NULL, 0, r);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			bodies[i] = malloc(256);
		snprintf(bodies[i], 256,
		         "{\"subdomain\":\"%s-b%03zu\",\"admin_email\":\"b@bench.example\","
		         "\"company_name\":\"Bench %zu\"}",
		         e.prefix, i, i);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h_post_many(l.port, (const char *const *)bodies, n, window, ct, resp, 120);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (size_t i = 0; i < n; i++) {
		char st[256];
		const char *p;

		if (resp[i].status != 201) {
			fprintf(stderr, "provision %zu: %ld %.200s\n", i, resp[i].status,
			        resp[i].body);
			continue;
		}
		if (h_header(&resp[i], "Server-Timing", st, sizeof(st)) != 0 ||
		    (p = strstr(st, "start;dur=")) == NULL)
			continue;
		total[ok] = resp[i].secs * 1000.0;
		start[ok] = strtod(p + 10, NULL);
		bind[ok] = (p = strstr(st, "bind;dur=")) != NULL ? strtod(p + 9, NULL) : 0;
		ready[ok] = (p = strstr(st, "ready;dur=")) != NULL ? strtod(p + 10, NULL) : 0;
		share[ok] = total[ok] - start[ok];
		own[ok] = share[ok] - bind[ok] - ready[ok];
		ok++;
	}
	printf("launcher_bench: %zu provisions, %zu at a time, docker backend, sidecar bindings\n",
	       n, window);
	printf("  %zu answered 201 in %.2f s (%.1f provisions/s)\n", ok,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (double)ok /
	           ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9));
	if (ok > 0) {
		report("whole POST", total, ok);
		report("container start (backend)", start, ok);
		report("launcher share", share, ok);
		report("  of which: await binding", bind, ok);
		report("  of which: port answers", ready, ok);
		report("  of which: the rest", own, ok);
		printf("  target: launcher share p99 <= 50 ms\n");
	}
	if (h_http(l.port, "GET", "/metrics", NULL, NULL, 0, r) == 0) {
		for (const char *line = r->body; line != NULL && *line != '\0';) {
			const char *eol = strchr(line, '\n');
			int len = eol != NULL ? (int)(eol - line) : (int)strlen(line);

			if (strncmp(line, "berth_launcher_bindings_total", 29) == 0)
				printf("  %.*s\n", len, line);
			line = eol != NULL ? eol + 1 : NULL;
		}
	}
	rc = ok == n ? 0 : 1;
out:
	for (size_t i = 0; i < n; i++)
		free(bodies[i]);
	/* Delete every tenant (the test bridge has room for some 250 containers). */
	for (size_t i = 0; i < n && l.pid > 0; i++) {
		char path[128];

		snprintf(path, sizeof(path), "/v1/tenants/%s-b%03zu", e.prefix, i);
		h_http(l.port, "DELETE", path, NULL, NULL, 0, r);
	}
	if (rc == 0 && burst > 0 && burst_run(&e, &l, burst) != 0)
		rc = 1;
	h_proc_stop(&l, 0);
	h_env_done(&e);
	tl_tmpdirs_done(rc == 0);
	free(resp);
	free(r);
	free(bodies);
	free(total);
	free(start);
	free(share);
	free(bind);
	free(ready);
	free(own);
	return rc;
}
