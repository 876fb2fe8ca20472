/*
 * registry_bench: prints single-change commits per second and batched rows
 * per second on a fresh registry (WAL, synchronous=NORMAL), plus the change
 * check and a list pass. Figures, not a pass/fail test.
 *
 *   registry_bench [DIR]   (default: $TMPDIR or /tmp)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "registry/registry.h"
#include "tests/lib/testlib.h"
#include "tests/registry/reg_test.h"

#define SINGLE_N  20000
#define BATCH_N   200000
#define BATCH_ROW 1000 /* rows per batch transaction */
#define CHANGED_N 200000

/* CPU seconds (user + system) of this process: wall figures mean little on a loaded machine. */
static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int
count_cb(const struct binding *b, void *arg)
{
	(void)b;
	(*(long *)arg)++;
	return 0;
}

int
main(int argc, char **argv)
{
	char dir[512], path[600], err[256];
	struct registry *r;
	struct binding b;
	double t0, t, c0, c;
	long n = 0;
	int rc, changed;

	if (argc > 1)
		setenv("TMPDIR", argv[1], 1);
	if (tl_tmpdir(dir, sizeof(dir), "bench") != 0) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	if ((rc = registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err))) !=
	    0) {
		fprintf(stderr, "registry_bench: %s\n", err);
		return 1;
	}
	printf("registry_bench: %s (WAL, synchronous=NORMAL), %ld CPUs\n", path,
	       sysconf(_SC_NPROCESSORS_ONLN));

	/* Single-change transactions: each upsert commits on its own. */
	c0 = cpu_s();
	t0 = tl_now_s();
	for (int i = 0; i < SINGLE_N; i++) {
		rt_binding(&b, i);
		if ((rc = registry_binding_upsert(r, &b, NULL)) != 0)
			goto fail;
	}
	t = tl_now_s() - t0;
	c = cpu_s() - c0;
	printf("single-change commits: %d in %.3f s = %.0f commits/s (%.0f per CPU second)\n",
	       SINGLE_N, t, SINGLE_N / t, SINGLE_N / c);

	/* The same rows again, unchanged: a read and no write each. */
	c0 = cpu_s();
	t0 = tl_now_s();
	for (int i = 0; i < SINGLE_N; i++) {
		rt_binding(&b, i);
		if ((rc = registry_binding_upsert(r, &b, &changed)) != 0 || changed)
			goto fail;
	}
	t = tl_now_s() - t0;
	c = cpu_s() - c0;
	printf("unchanged upserts:     %d in %.3f s = %.0f upserts/s (%.0f per CPU second)\n",
	       SINGLE_N, t, SINGLE_N / t, SINGLE_N / c);

	/* Batched: BATCH_ROW new rows per transaction. */
	c0 = cpu_s();
	t0 = tl_now_s();
	for (int i = 0; i < BATCH_N; i += BATCH_ROW) {
		if ((rc = registry_begin(r)) != 0)
			goto fail;
		for (int k = 0; k < BATCH_ROW; k++) {
			rt_binding(&b, SINGLE_N + i + k);
			if ((rc = registry_binding_upsert(r, &b, NULL)) != 0)
				goto fail;
		}
		if ((rc = registry_commit(r)) != 0)
			goto fail;
	}
	t = tl_now_s() - t0;
	c = cpu_s() - c0;
	printf("batched rows:          %d in %.3f s = %.0f rows/s (%.0f per CPU second; %d rows "
	       "per commit)\n",
	       BATCH_N, t, BATCH_N / t, BATCH_N / c, BATCH_ROW);

	c0 = cpu_s();
	t0 = tl_now_s();
	for (int i = 0; i < CHANGED_N; i++)
		if ((rc = registry_changed(r, &changed)) != 0)
			goto fail;
	t = tl_now_s() - t0;
	c = cpu_s() - c0;
	printf("registry_changed:      %d in %.3f s = %.0f calls/s (%.0f per CPU second)\n",
	       CHANGED_N, t, CHANGED_N / t, CHANGED_N / c);

	c0 = cpu_s();
	t0 = tl_now_s();
	if ((rc = registry_binding_list(r, NULL, count_cb, &n)) != 0)
		goto fail;
	t = tl_now_s() - t0;
	c = cpu_s() - c0;
	printf("list:                  %ld rows in %.3f s = %.0f rows/s (%.0f per CPU second)\n", n,
	       t, n / t, n / c);

	registry_close(r);
	tl_tmpdirs_done(1);
	return 0;
fail:
	fprintf(stderr, "registry_bench: error %d: %s\n", rc, registry_errmsg(r));
	registry_close(r);
	tl_tmpdirs_done(0);
	return 1;
}
