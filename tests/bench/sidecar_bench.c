/*
 * Benchmark: berth-sidecar against the real test dockerd (BERTH_TEST_DOCKER_HOST).
 * Creates N containers (-p 0:8000, ECS labels), then starts them one by one
 * with `docker start` and prints p50/p99/max of
 *   row committed - Docker start event timeNano, and
 *   row committed - `docker start` returned,
 * taking the commit instants from the sidecar's debug log (binding_committed
 * lines, CLOCK_REALTIME ns). Then idle CPU of the sidecar over a few seconds.
 * Figures only; nothing here passes or fails on timing.
 *
 *   sidecar_bench [N]     (default 200, at most 1000)
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/testlib.h"

#define N_MAX    1000
#define LINE_MAX 1024

struct ctr {
	char id[72];
	int64_t start_returned_ns;
	int64_t event_ns, read_ns, inspected_ns, commit_ns;
};

static struct ctr ctrs[N_MAX];
static int nctrs;

/* Prints nearest-rank p50/p99/max of n durations in ns (v is sorted, in ms, on return). */
static void
report(const char *what, double *v, int n)
{
	struct tl_summary s;

	if (n == 0) {
		printf("%-48s no samples\n", what);
		return;
	}
	for (int i = 0; i < n; i++)
		v[i] /= 1e6;
	tl_summarize(v, (size_t)n, &s);
	printf("%-48s n=%d p50=%.2f ms p99=%.2f ms max=%.2f ms\n", what, n, s.p50, s.p99, s.max);
}

/* Reads binding_committed lines of the log into ctrs. Returns how many have a commit. */
static int
read_log(const char *path)
{
	char line[LINE_MAX];
	FILE *fp = fopen(path, "r");
	int have = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = strstr(line, "binding_committed container="), id[72];
		long long ev = 0, rd = 0, in = 0, cm = 0;
		char *q;

		if (p == NULL || strstr(line, "status=RUNNING") == NULL)
			continue;
		if (sscanf(p, "binding_committed container=%71s", id) != 1)
			continue;
		if ((q = strstr(p, "event_ns=")) == NULL || sscanf(q, "event_ns=%lld", &ev) != 1)
			continue;
		if ((q = strstr(p, "read_ns=")) == NULL || sscanf(q, "read_ns=%lld", &rd) != 1)
			continue;
		if ((q = strstr(p, "inspected_ns=")) == NULL ||
		    sscanf(q, "inspected_ns=%lld", &in) != 1)
			continue;
		if ((q = strstr(p, "commit_ns=")) == NULL || sscanf(q, "commit_ns=%lld", &cm) != 1)
			continue;
		for (int i = 0; i < nctrs; i++)
			if (strcmp(ctrs[i].id, id) == 0 && ctrs[i].commit_ns == 0 && ev > 0) {
				ctrs[i].event_ns = ev;
				ctrs[i].read_ns = rd;
				ctrs[i].inspected_ns = in;
				ctrs[i].commit_ns = cm;
			}
	}
	fclose(fp);
	for (int i = 0; i < nctrs; i++)
		have += ctrs[i].commit_ns != 0;
	return have;
}

int
main(int argc, char **argv)
{
	const char *host = getenv("BERTH_TEST_DOCKER_HOST");
	char dir[256], db[300], logp[300], listen[64], cmd[2048], out[256], label[64];
	const char *sargv[] = {BERTH_SIDECAR_BIN,
	                       "--db",
	                       db,
	                       "--docker-host",
	                       host,
	                       "--agent-url",
	                       "none",
	                       "--host-ip",
	                       "127.0.0.1",
	                       "--listen",
	                       listen,
	                       "--label-filter",
	                       label,
	                       "--log-level",
	                       "debug",
	                       "--log-file",
	                       logp,
	                       NULL};
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200, st, ok = 0;
	double *a, *b, *c, *d, *e, *g;
	pid_t pid;
	long t0, t1;

	if (host == NULL || *host == '\0') {
		fprintf(stderr,
		        "sidecar_bench: BERTH_TEST_DOCKER_HOST is not set (./dev bench sets "
		        "it)\n");
		return 1;
	}
	if (n < 1 || n > N_MAX) {
		fprintf(stderr, "sidecar_bench: N must be 1..%d\n", N_MAX);
		return 2;
	}
	setenv("DOCKER_HOST", host, 1);
	if (tl_tmpdir(dir, sizeof(dir), "bench-sidecar") != 0)
		return 1;
	snprintf(db, sizeof(db), "%s/registry.db", dir);
	snprintf(logp, sizeof(logp), "%s/sidecar.log", dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", tl_free_port());
	snprintf(label, sizeof(label), "berth.bench=%d", (int)getpid());
	if ((pid = tl_spawn(sargv, NULL, NULL)) < 0)
		return 1;
	printf("sidecar_bench: %d containers on %s (storage vfs), sidecar pid %d\n", n, host,
	       (int)pid);
	for (int i = 0; i < n; i++) {
		snprintf(
		    cmd, sizeof(cmd),
		    "docker create -p 0:8000 -l %s "
		    "-l com.amazonaws.ecs.task-arn=arn:aws:ecs:us-east-1:123456789012:task/bench/"
		    "%08d%024d -l com.amazonaws.ecs.container-name=app "
		    "-l com.amazonaws.ecs.cluster=bench -e BERTH_TENANT=b%d "
		    "berth-test/busybox:latest sleep 3600",
		    label, (int)getpid(), i, i);
		if (tl_run(cmd, out, sizeof(out)) != 0) {
			fprintf(stderr, "sidecar_bench: docker create failed: %s\n", out);
			goto out;
		}
		out[strcspn(out, "\n")] = '\0';
		if (strlen(out) != 64) {
			fprintf(stderr, "sidecar_bench: docker create said \"%s\"\n", out);
			goto out;
		}
		memcpy(ctrs[nctrs++].id, out, 65);
	}
	sleep(1); /* the create events settle */
	for (int i = 0; i < nctrs; i++) {
		snprintf(cmd, sizeof(cmd), "docker start %.64s", ctrs[i].id);
		if (tl_run(cmd, out, sizeof(out)) != 0) {
			fprintf(stderr, "sidecar_bench: docker start failed: %s\n", out);
			goto out;
		}
		ctrs[i].start_returned_ns = tl_now_ns();
	}
	for (int i = 0; i < 100 && read_log(logp) < nctrs; i++)
		usleep(100000);
	a = calloc((size_t)nctrs, sizeof(*a));
	b = calloc((size_t)nctrs, sizeof(*b));
	c = calloc((size_t)nctrs, sizeof(*c));
	d = calloc((size_t)nctrs, sizeof(*d));
	e = calloc((size_t)nctrs, sizeof(*e));
	g = calloc((size_t)nctrs, sizeof(*g));
	st = 0;
	for (int i = 0; i < nctrs; i++) {
		if (ctrs[i].commit_ns == 0)
			continue;
		a[st] = (double)(ctrs[i].commit_ns - ctrs[i].event_ns);
		b[st] = (double)(ctrs[i].commit_ns - ctrs[i].start_returned_ns);
		c[st] = (double)(ctrs[i].read_ns - ctrs[i].event_ns);
		d[st] = (double)(ctrs[i].commit_ns - ctrs[i].read_ns);
		e[st] = (double)(ctrs[i].inspected_ns - ctrs[i].read_ns);
		g[st] = (double)(ctrs[i].commit_ns - ctrs[i].inspected_ns);
		st++;
	}
	printf("bindings committed: %d of %d\n", st, nctrs);
	report("row committed - event timeNano", a, st);
	report("row committed - `docker start` returned", b, st);
	report("  of which: event read - timeNano", c, st);
	report("  of which: row committed - event read", d, st);
	report("    of which: inspect answered - event read", e, st);
	report("    of which: row committed - inspect answered", g, st);
	printf("(negative values of the second mean the row was committed before the CLI "
	       "returned)\n");
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	free(g);
	t0 = tl_cpu_ticks(pid);
	sleep(5);
	t1 = tl_cpu_ticks(pid);
	printf("idle CPU over 5 s: %ld ticks (%.2f%% of one core)\n", t1 - t0,
	       (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / 5.0 * 100.0);
	ok = st == nctrs;
out:
	tl_stop(pid, SIGTERM, 10000);
	snprintf(cmd, sizeof(cmd),
	         "docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null 2>&1", label);
	tl_run(cmd, NULL, 0);
	tl_tmpdirs_done(ok);
	return 0;
}
