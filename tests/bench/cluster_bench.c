/*
 * cluster_bench: berth's promise on every host. Three hosts (network
 * namespaces, each with its dockerd, ECS agent emulator and berth-sidecar),
 * the ECS emulator starting each container START_DELAY ms after RunTask
 * answers (the agent after its pull), the launcher on host 1's registry.
 * N tenants (default 30) are placed round-robin and posted WINDOW at a time
 * (default 3: one per host, sign-ups arriving over time; N posts everything
 * at once, which on a small machine mostly measures CPU contention); for
 * each, the container's `start` event (its timeNano on that host's dockerd)
 * to the 201 reaching the client. Printed for tenants on the launcher's host
 * and on the others, with the remote/local ratio, and the cost of writing
 * the tenant RUNNING to DynamoDB before the 201 (Server-Timing "record").
 * Figures only; nothing passes or fails on timing.
 *
 *   cluster_bench [N [START_DELAY_MS [WINDOW]]]    (defaults 30, 3000 and 3)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/clock.h"
#include "tests/cluster/cluster.h"
#include "tests/lib/testlib.h"

#define BENCH_MAX 300

struct job {
	struct cl *c;
	char sub[64];
	int host;
	struct h_resp r;
	int64_t done_ns;
	char task[256];
	double record_ms;
};

static void *
post(void *arg)
{
	struct job *j = arg;
	char body[256];
	const char *hdr[] = {"Content-Type: application/json", NULL};

	snprintf(body, sizeof(body),
	         "{\"subdomain\":\"%s\",\"admin_email\":\"ops@bench.example\",\"company_name\":"
	         "\"Bench\"}",
	         j->sub);
	h_http(j->c->launcher.port, "POST", "/v1/tenants", hdr, body, strlen(body), &j->r);
	j->done_ns = clock_real_ns();
	return NULL;
}

/* timeNano of the start event of task's container on host h, or 0. */
static int64_t
start_ns(struct cl *c, int h, const char *task, int64_t since_s)
{
	struct h_env e = c->e;
	struct h_resp *r = malloc(sizeof(*r));
	char path[512], *line, *save = NULL;
	int64_t ns = 0;

	snprintf(e.docker_sock, sizeof(e.docker_sock), "%s", c->h[h].docker_host + 7);
	snprintf(
	    path, sizeof(path),
	    "/events?since=%lld&until=%lld&filters=%%7B%%22event%%22%%3A%%5B%%22start%%22%%5D%%7D",
	    (long long)since_s, (long long)(time(NULL) + 1));
	if (h_docker(&e, "GET", path, r) != 0) {
		free(r);
		return 0;
	}
	for (line = strtok_r(r->body, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *ev = json_loads(line, 0, &je);
		const char *arn = json_string_value(
		    json_object_get(json_object_get(json_object_get(ev, "Actor"), "Attributes"),
		                    "com.amazonaws.ecs.task-arn"));

		if (arn != NULL && strcmp(arn, task) == 0)
			ns = (int64_t)json_integer_value(json_object_get(ev, "timeNano"));
		json_decref(ev);
	}
	free(r);
	return ns;
}

static void
print(const char *what, double *v, size_t n)
{
	struct tl_summary s;

	if (n == 0) {
		printf("  %-34s n=0\n", what);
		return;
	}
	tl_summarize(v, n, &s);
	printf("  %-34s n=%zu p50=%.1f ms p99=%.1f ms max=%.1f ms\n", what, n, s.p50, s.p99, s.max);
}

int
main(int argc, char **argv)
{
	static struct cl c;
	static struct job jobs[BENCH_MAX];
	static double local[BENCH_MAX], remote[BENCH_MAX], record[BENCH_MAX];
	static double bind_l[BENCH_MAX], bind_r[BENCH_MAX], ready_l[BENCH_MAX], ready_r[BENCH_MAX];
	pthread_t th[BENCH_MAX];
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 30, nl = 0, nr = 0, nrec = 0;
	long delay = argc > 2 ? strtol(argv[2], NULL, 10) : 3000;
	size_t window = argc > 3 ? strtoul(argv[3], NULL, 10) : 3;
	const char *why;
	char tail[64];
	int64_t since = time(NULL) - 1, ok = 0;

	if (n == 0 || n > BENCH_MAX || delay < 0 || delay > 60000 || window == 0) {
		fprintf(stderr, "usage: cluster_bench [N (1..%d) [START_DELAY_MS [WINDOW]]]\n",
		        BENCH_MAX);
		return 2;
	}
	if ((why = cl_up(&c, 3, "cluster-bench", 1)) != NULL) {
		fprintf(stderr, "cluster_bench: %s\n", why);
		cl_down(&c);
		return 1;
	}
	/* DescribeTasks shows the port a moment after the start, as ECS does once the agent
	 * reports. */
	snprintf(tail, sizeof(tail), "\"start_delay_ms\":%ld,\"describe_delay_ms\":2000", delay);
	h_ecs_faults(&c.x, tail);
	printf("cluster_bench: %zu tenants on 3 hosts, %zu at a time, start delay %ld ms, launcher "
	       "on host 1\n",
	       n, window, delay);
	for (size_t i = 0; i < n; i++) {
		jobs[i].c = &c;
		jobs[i].host = (int)(i % 3);
		snprintf(jobs[i].sub, sizeof(jobs[i].sub), "%sb%zu", c.e.prefix, i);
		cl_place(&c, jobs[i].sub, jobs[i].host);
	}
	for (size_t b = 0; b < n; b += window) {
		size_t e = b + window < n ? b + window : n;

		for (size_t i = b; i < e; i++)
			pthread_create(&th[i], NULL, post, &jobs[i]);
		for (size_t i = b; i < e; i++)
			pthread_join(th[i], NULL);
	}
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		json_error_t je;
		json_t *t = json_loads(j->r.body, 0, &je);
		char timing[512];
		const char *rec, *rdy;
		double rec_ms = 0, ready_ms = 0, total;
		int64_t s;

		if (j->r.status != 201 || t == NULL) {
			printf("  %s: %ld %.200s\n", j->sub, j->r.status, j->r.body);
			json_decref(t);
			continue;
		}
		ok++;
		snprintf(j->task, sizeof(j->task), "%s",
		         json_string_value(json_object_get(t, "task_arn")));
		json_decref(t);
		if (h_header(&j->r, "Server-Timing", timing, sizeof(timing)) == 0) {
			if ((rec = strstr(timing, "record;dur=")) != NULL)
				record[nrec++] = rec_ms = strtod(rec + 11, NULL);
			if ((rdy = strstr(timing, "ready;dur=")) != NULL)
				ready_ms = strtod(rdy + 10, NULL);
		}
		if ((s = start_ns(&c, j->host, j->task, since)) == 0) {
			printf("  %s: no start event found on host %d\n", j->sub, j->host + 1);
			continue;
		}
		/* The whole, and its parts: the binding known, then the port answering. */
		total = (double)(j->done_ns - s) / 1e6;
		if (j->host == 0) {
			bind_l[nl] = total - ready_ms - rec_ms;
			ready_l[nl] = ready_ms;
			local[nl++] = total;
		} else {
			bind_r[nr] = total - ready_ms - rec_ms;
			ready_r[nr] = ready_ms;
			remote[nr++] = total;
		}
	}
	printf("  answered 201: %lld of %zu\n", (long long)ok, n);
	printf("container start event -> 201:\n");
	print("on the launcher's host (local)", local, nl);
	print("on other hosts (remote)", remote, nr);
	if (nl > 0 && nr > 0) {
		struct tl_summary l, r;

		tl_summarize(local, nl, &l);
		tl_summarize(remote, nr, &r);
		printf("  remote/local: p50 %+.1f ms (x%.2f), p99 %+.1f ms (x%.2f)\n",
		       r.p50 - l.p50, l.p50 > 0 ? r.p50 / l.p50 : 0, r.p99 - l.p99,
		       l.p99 > 0 ? r.p99 / l.p99 : 0);
		printf(
		    "  target: remote p50 <= local p50 + 5 ms, remote p99 <= local p99 + 20 ms\n");
	}
	printf("of which:\n");
	print("start event -> binding, local", bind_l, nl);
	print("start event -> binding, remote", bind_r, nr);
	print("port answers (probe), local", ready_l, nl);
	print("port answers (probe), remote", ready_r, nr);
	print("read-your-writes (DynamoDB put)", record, nrec);
	{
		struct h_resp *m = malloc(sizeof(*m));

		if (h_http(c.launcher.port, "GET", "/metrics", NULL, NULL, 0, m) == 0) {
			char *line, *save = NULL;

			for (line = strtok_r(m->body, "\n", &save); line != NULL;
			     line = strtok_r(NULL, "\n", &save))
				if (strncmp(line, "berth_launcher_bindings_total{", 30) == 0)
					printf("  %s\n", line);
		}
		free(m);
	}
	cl_down(&c);
	tl_tmpdirs_done(1);
	return 0;
}
