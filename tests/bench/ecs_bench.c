/*
 * ecs_bench: end-to-end provision time with --backend ecs, the sidecar path
 * (binding from the Docker start event) against the DescribeTasks-polling
 * baseline (no sidecar), in one run. The ECS emulator starts real containers
 * on the test dockerd and, like ECS, shows networkBindings in DescribeTasks
 * only a while after the container started (the report lag, argv[2] ms).
 *
 *   ecs_bench [N [LAG_MS]]   (default 10 provisions each way, 1500 ms)
 * Needs BERTH_TEST_ECS_URL and BERTH_TEST_DOCKER_HOST (./dev bench sets them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tests/lib/testlib.h"

#define N_MAX 100

/* n provisions through the launcher at port; times in t[]; returns how many got 201. */
static int
run(struct h_env *e, struct h_proc *p, const char *tag, int n, double *t)
{
	const char *const hdrs[] = {"Content-Type: application/json", NULL};
	struct h_resp *r = calloc(1, sizeof(*r));
	char body[512], sub[64], path[128];
	int ok = 0;

	for (int i = 0; i < n && r != NULL; i++) {
		snprintf(sub, sizeof(sub), "%s%s%d", e->prefix, tag, i);
		snprintf(body, sizeof(body),
		         "{\"subdomain\":\"%s\",\"admin_email\":\"ops@%s.example\","
		         "\"company_name\":\"Bench\"}",
		         sub, sub);
		if (h_http(p->port, "POST", "/v1/tenants", hdrs, body, strlen(body), r) == 0 &&
		    r->status == 201)
			t[ok++] = r->secs;
		else
			fprintf(stderr, "ecs_bench: %s: %ld %.*s\n", sub, r->status, (int)r->len,
			        r->body);
		snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
		h_http(p->port, "DELETE", path, NULL, NULL, 0, r);
	}
	free(r);
	return ok;
}

static void
report(const char *mode, int n, int ok, double *t, long lag)
{
	struct tl_summary s;

	if (ok == 0) {
		printf("ecs_bench provision mode=%s n=%d ok=0\n", mode, n);
		return;
	}
	tl_summarize(t, (size_t)ok, &s);
	printf("ecs_bench provision mode=%s n=%d ok=%d p50_s=%.3f p90_s=%.3f max_s=%.3f "
	       "report_lag_ms=%ld\n",
	       mode, n, ok, s.p50, s.p90, s.max, lag);
}

int
main(int argc, char **argv)
{
	struct h_env e;
	struct h_ecs x = {0};
	struct h_proc fast = {0}, slow = {0};
	double tf[N_MAX], ts[N_MAX];
	char delay[64], db2[400];
	const char *ecs_url, *why;
	const char *info[] = {"--log-level", "info", NULL};
	const char *baseline[] = {"--log-level", "info", "--db", db2, NULL};
	long n = 10, lag = 1500;
	int okf, oks, rc = 1;

	if (argc > 1 && ((n = strtol(argv[1], NULL, 10)) < 1 || n > N_MAX)) {
		fprintf(stderr, "usage: ecs_bench [N (1-%d) [LAG_MS]]\n", N_MAX);
		return 2;
	}
	if (argc > 2 && ((lag = strtol(argv[2], NULL, 10)) < 0 || lag > 60000)) {
		fprintf(stderr, "ecs_bench: LAG_MS must be 0-60000\n");
		return 2;
	}
	if ((ecs_url = getenv("BERTH_TEST_ECS_URL")) == NULL || *ecs_url == '\0') {
		fprintf(stderr, "ecs_bench: BERTH_TEST_ECS_URL is not set (./dev bench starts the "
		                "ECS emulator)\n");
		return 1;
	}
	setenv("BERTH_SOURCE_DIR", BENCH_SOURCE_DIR, 0);
	setenv("BERTH_BINARY_DIR", BENCH_BINARY_DIR, 0);
	if ((why = h_env_init(&e, "ecs-bench")) != NULL) {
		fprintf(stderr, "ecs_bench: %s\n", why);
		return 1;
	}
	if (h_ecs_init(&x, ecs_url, "BENCH", "bench-secret") != 0)
		goto out;
	snprintf(delay, sizeof(delay), "\"describe_delay_ms\":%ld", lag);
	if (h_ecs_faults(&x, delay) != 200)
		goto out;

	if (h_sidecar_start(&e) != 0) {
		fprintf(stderr, "ecs_bench: the sidecar did not start\n");
		goto out;
	}
	if (h_launcher_start_ecs(&e, &fast, &x, info) != 0) {
		fprintf(stderr, "ecs_bench: the launcher did not start; see %s\n", fast.log);
		goto out;
	}
	okf = run(&e, &fast, "f", (int)n, tf);
	h_proc_stop(&fast, 0);

	snprintf(db2, sizeof(db2), "%s/baseline.db", e.dir);
	slow.no_sidecar_url = 1;
	if (h_launcher_start_ecs(&e, &slow, &x, baseline) != 0) {
		fprintf(stderr, "ecs_bench: the baseline launcher did not start; see %s\n",
		        slow.log);
		goto out;
	}
	oks = run(&e, &slow, "s", (int)n, ts);
	h_proc_stop(&slow, 0);
	report("sidecar", (int)n, okf, tf, lag);
	report("describe-polling", (int)n, oks, ts, lag);
	rc = okf == n && oks == n ? 0 : 1;
out:
	h_ecs_done(&x);
	h_env_done(&e);
	tl_tmpdirs_done(rc == 0);
	return rc;
}
