/*
 * aws_bench: how fast the sync engine drains the outbox into DynamoDB
 * (dynalite from the test services): N bindings written to a fresh registry,
 * then the time until the outbox is empty. Prints items/s with BatchWriteItem
 * and with conditional PutItems only.
 *
 *   aws_bench [N]      (default 5000; needs BERTH_TEST_DYNAMODB_URL)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "aws/aws.h"
#include "core/evcurl.h"
#include "registry/registry.h"
#include "registry/sync.h"
#include "tests/aws/ddbtest.h"
#include "tests/lib/testlib.h"

#define BENCH_N_MAX 100000

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int
run(const char *url, int n, int no_batch)
{
	struct event_base *base = event_base_new();
	struct evcurl *ec = evcurl_new(base);
	struct registry *reg;
	struct aws *aws;
	struct sync *s;
	struct sync_options opt = {.no_batch = no_batch, .poll_ms = 50};
	struct sync_stats st;
	struct registry_stats rs;
	struct binding b;
	struct event *ev;
	struct timeval tv = {0, 10000};
	char dir[256], path[300], err[256], table[64];
	double t0, t1;
	int changed, rc = 1;

	if (tl_tmpdir(dir, sizeof(dir), "aws-bench") != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	if (registry_open(&reg, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)) != 0) {
		fprintf(stderr, "registry: %s\n", err);
		return 1;
	}
	registry_begin(reg);
	for (int i = 0; i < n; i++) {
		memset(&b, 0, sizeof(b));
		snprintf(b.task_arn, sizeof(b.task_arn),
		         "arn:aws:ecs:us-east-1:123456789012:task/bench/%032x", i);
		snprintf(b.container_name, sizeof(b.container_name), "app");
		snprintf(b.container_id, sizeof(b.container_id), "%064x", i + 1);
		b.container_port = 8000;
		snprintf(b.protocol, sizeof(b.protocol), "tcp");
		snprintf(b.host_ip, sizeof(b.host_ip), "127.0.0.1");
		b.host_port = 32768 + i % 28000;
		b.status = BINDING_RUNNING;
		snprintf(b.tenant, sizeof(b.tenant), "t%d", i);
		snprintf(b.cluster, sizeof(b.cluster), "bench");
		snprintf(b.family, sizeof(b.family), "berth-tenant");
		snprintf(b.revision, sizeof(b.revision), "1");
		b.started_at = 1795000000000LL + i;
		if (registry_binding_upsert(reg, &b, &changed) != 0) {
			fprintf(stderr, "upsert: %s\n", registry_errmsg(reg));
			goto out;
		}
	}
	registry_commit(reg);
	if ((aws = ddbt_aws(base, ec, url)) == NULL)
		goto out;
	snprintf(table, sizeof(table), "berth-bench-%d-%d", (int)getpid(), no_batch);
	if (ddbt_create_table(base, aws, table) != 0) {
		fprintf(stderr, "cannot create table %s\n", table);
		goto out_aws;
	}
	ev = event_new(base, -1, EV_PERSIST, tick, NULL);
	event_add(ev, &tv);
	t0 = tl_now_s();
	if ((s = sync_new(base, reg, aws, table, &opt, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sync: %s\n", err);
		goto out_aws;
	}
	for (;;) {
		event_base_loop(base, EVLOOP_ONCE);
		registry_stats(reg, &rs);
		if (rs.outbox_pending == 0 || tl_now_s() - t0 > 300)
			break;
	}
	t1 = tl_now_s();
	sync_get_stats(s, &st);
	printf("aws_bench drain mode=%s items=%d pending_left=%ld seconds=%.2f items_per_s=%.0f "
	       "batches=%lu puts=%lu unprocessed=%lu failures=%lu\n",
	       no_batch ? "conditional-put" : "batch-write", n, rs.outbox_pending, t1 - t0,
	       (n - rs.outbox_pending) / (t1 - t0), st.batches, st.puts, st.unprocessed,
	       st.failures);
	rc = rs.outbox_pending == 0 ? 0 : 1;
	sync_free(s);
	event_free(ev);
out_aws:
	aws_free(aws);
out:
	registry_close(reg);
	evcurl_free(ec);
	event_base_free(base);
	tl_tmpdirs_done(rc == 0);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *url = getenv("BERTH_TEST_DYNAMODB_URL");
	long n = 5000;
	char *end;
	int rc;

	if (url == NULL || url[0] == '\0') {
		fprintf(stderr, "aws_bench: BERTH_TEST_DYNAMODB_URL is not set (./dev bench starts "
		                "dynalite)\n");
		return 1;
	}
	if (argc > 1) {
		errno = 0;
		n = strtol(argv[1], &end, 10);
		if (errno != 0 || *end != '\0' || n < 1 || n > BENCH_N_MAX) {
			fprintf(stderr, "usage: aws_bench [N (1-%d)]\n", BENCH_N_MAX);
			return 2;
		}
	}
	rc = run(url, (int)n, 0);
	rc |= run(url, (int)(n < 2000 ? n : 2000), 1);
	return rc;
}
