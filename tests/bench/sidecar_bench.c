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
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#define N_MAX    1000
#define LINE_MAX 1024

struct ctr {
	char id[72];
	int64_t start_returned_ns;
	int64_t event_ns, read_ns, inspected_ns, commit_ns;
};

static struct ctr ctrs[N_MAX];
static int nctrs;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
run(const char *cmd, char *out, size_t outlen)
{
	FILE *fp = popen(cmd, "r");
	size_t n = 0, r;
	int st;

	if (fp == NULL)
		return -1;
	while (out != NULL && n + 1 < outlen && (r = fread(out + n, 1, outlen - n - 1, fp)) > 0)
		n += r;
	if (out != NULL)
		out[n] = '\0';
	st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, int64_t *v, int n)
{
	if (n == 0) {
		printf("%-48s no samples\n", what);
		return;
	}
	qsort(v, (size_t)n, sizeof(*v), cmp64);
	printf("%-48s n=%d p50=%.2f ms p99=%.2f ms max=%.2f ms\n", what, n, (double)v[n / 2] / 1e6,
	       (double)v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6,
	       (double)v[n - 1] / 1e6);
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

static long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), fp) == NULL) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

int
main(int argc, char **argv)
{
	const char *host = getenv("BERTH_TEST_DOCKER_HOST");
	char dir[] = "/tmp/berth-bench-sidecar-XXXXXX", db[128], logp[128], listen[64], cmd[2048],
	     out[256], label[64];
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200, st;
	int64_t *a, *b, *c, *d, *e, *g;
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
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/registry.db", dir);
	snprintf(logp, sizeof(logp), "%s/sidecar.log", dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", 20000 + (int)(getpid() % 20000));
	snprintf(label, sizeof(label), "berth.bench=%d", (int)getpid());
	if ((pid = fork()) == 0) {
		execl(BERTH_SIDECAR_BIN, "berth-sidecar", "--db", db, "--docker-host", host,
		      "--agent-url", "none", "--host-ip", "127.0.0.1", "--listen", listen,
		      "--label-filter", label, "--log-level", "debug", "--log-file", logp,
		      (char *)NULL);
		_exit(127);
	}
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
		if (run(cmd, out, sizeof(out)) != 0) {
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
		if (run(cmd, out, sizeof(out)) != 0) {
			fprintf(stderr, "sidecar_bench: docker start failed: %s\n", out);
			goto out;
		}
		ctrs[i].start_returned_ns = now_ns();
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
		a[st] = ctrs[i].commit_ns - ctrs[i].event_ns;
		b[st] = ctrs[i].commit_ns - ctrs[i].start_returned_ns;
		c[st] = ctrs[i].read_ns - ctrs[i].event_ns;
		d[st] = ctrs[i].commit_ns - ctrs[i].read_ns;
		e[st] = ctrs[i].inspected_ns - ctrs[i].read_ns;
		g[st] = ctrs[i].commit_ns - ctrs[i].inspected_ns;
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
	t0 = cpu_ticks(pid);
	sleep(5);
	t1 = cpu_ticks(pid);
	printf("idle CPU over 5 s: %ld ticks (%.2f%% of one core)\n", t1 - t0,
	       (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / 5.0 * 100.0);
out:
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	snprintf(
	    cmd, sizeof(cmd),
	    "docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null 2>&1; rm -rf %s",
	    label, dir);
	run(cmd, NULL, 0);
	return 0;
}
