/*
 * Registry under several processes: two writers at once never see SQLITE_BUSY
 * (10,000 upserts each), and a writer killed with SIGKILL in the middle of a
 * batch leaves a file that opens and holds the whole batch or none of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "registry/registry.h"
#include "reg_test.h"
#include "tests/lib/testlib.h"

#define WRITES_PER_PROCESS 10000
#define SHARED_EVERY       10 /* every 10th write of each process updates one shared key */
#define BATCH_ROWS         40000
#define KILL_ROUNDS        8

static char dir[256];

static int
count_cb(const struct binding *b, void *arg)
{
	(void)b;
	(*(long *)arg)++;
	return 0;
}

static long
count_all(struct registry *r)
{
	struct binding_filter f = {.status = -1, .include_removed = 1};
	long n = 0;

	assert_int_equal(registry_binding_list(r, &f, count_cb, &n), 0);
	return n;
}

/*
 * Child body: WRITES_PER_PROCESS single-change transactions. Most write keys
 * of its own; every SHARED_EVERY-th changes the host port of one key both
 * processes share, so its version counts the changes of both. Exit status:
 * 0, or 10 + the position of the first error class.
 */
static int
writer(const char *path, int who)
{
	struct registry *r;
	struct binding b;
	char err[256];
	int rc;

	if (registry_open(&r, path, REGISTRY_RDWR, err, sizeof(err)) != 0) {
		fprintf(stderr, "writer %d: %s\n", who, err);
		return 10;
	}
	for (int i = 0; i < WRITES_PER_PROCESS; i++) {
		int changed = 0;

		if (i % SHARED_EVERY == 0) {
			rt_binding(&b, 999999);
			b.host_port = 1 + (who * WRITES_PER_PROCESS + i) % 65535;
		} else {
			rt_binding(&b, who * WRITES_PER_PROCESS + i);
		}
		if ((rc = registry_binding_upsert(r, &b, &changed)) != 0 || !changed) {
			fprintf(stderr, "writer %d: upsert %d: %d %s\n", who, i, rc,
			        registry_errmsg(r));
			registry_close(r);
			return rc == -EBUSY ? 11 : 12;
		}
	}
	registry_close(r);
	return 0;
}

static void
test_two_writers(void **state)
{
	char path[400], err[256];
	struct registry *r;
	struct registry_stats st;
	struct binding b;
	pid_t pid[2];
	int status;
	struct timespec t0, t1;

	(void)state;
	snprintf(path, sizeof(path), "%s/two.db", dir);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)),
	                 0);
	/* The shared key exists before both start, so each of their writes is a change. */
	rt_binding(&b, 999999);
	b.host_port = 0;
	assert_int_equal(registry_binding_upsert(r, &b, NULL), 0);
	registry_close(r);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 2; i++)
		if ((pid[i] = fork()) == 0)
			_exit(writer(path, i + 1));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "two writers: %d upserts in %.2f s\n", 2 * WRITES_PER_PROCESS,
	        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	assert_int_equal(
	    registry_open(&r, path, REGISTRY_RDONLY | REGISTRY_CHECK, err, sizeof(err)), 0);
	/* Own keys of both, plus the shared one. */
	long own = 2L * (WRITES_PER_PROCESS - WRITES_PER_PROCESS / SHARED_EVERY);
	assert_int_equal(count_all(r), own + 1);
	rt_binding(&b, 999999);
	struct binding g;
	assert_int_equal(registry_binding_get(r, b.task_arn, &g), 0);
	assert_int_equal(g.version, 1 + 2 * (WRITES_PER_PROCESS / SHARED_EVERY));
	/* One outbox row per key (a newer change supersedes the pending one). */
	assert_int_equal(registry_stats(r, &st), 0);
	assert_int_equal(st.outbox_pending, own + 1);
	registry_close(r);
}

/*
 * Child body for the kill test: one batch of BATCH_ROWS new rows (keys from
 * base), announced on fd before it starts; commits, then waits to be killed.
 */
static void
batch_writer(const char *path, int base, int fd)
{
	struct registry *r;
	struct binding b;
	char err[256];

	if (registry_open(&r, path, REGISTRY_RDWR, err, sizeof(err)) != 0)
		_exit(1);
	if (registry_begin(r) != 0)
		_exit(2);
	if (write(fd, "b", 1) != 1)
		_exit(3);
	for (int i = 0; i < BATCH_ROWS; i++) {
		rt_binding(&b, base + i);
		if (registry_binding_upsert(r, &b, NULL) != 0)
			_exit(4);
	}
	if (registry_commit(r) != 0)
		_exit(5);
	if (write(fd, "c", 1) != 1)
		_exit(6);
	alarm(300); /* gone even if the parent fails before it kills this child */
	for (;;)
		pause();
}

static void
test_sigkill_mid_batch(void **state)
{
	char path[400], err[256];
	struct registry *r;
	struct registry_stats st;
	long expect = 0;
	int none = 0, all = 0;
	int64_t batch_us = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/kill.db", dir);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)),
	                 0);
	registry_close(r);

	for (int round = 0; round < KILL_ROUNDS; round++) {
		int p[2], status;
		char c;
		pid_t pid;
		struct timespec t0, t1;
		long n;

		assert_int_equal(pipe(p), 0);
		if ((pid = fork()) == 0) {
			close(p[0]);
			batch_writer(path, (round + 1) * 1000000, p[1]);
		}
		close(p[1]);
		assert_int_equal(read(p[0], &c, 1), 1);
		assert_int_equal(c, 'b');
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (round == 0) {
			/* Measure one whole batch (killed after its commit) to aim the others. */
			assert_int_equal(read(p[0], &c, 1), 1);
			assert_int_equal(c, 'c');
			clock_gettime(CLOCK_MONOTONIC, &t1);
			batch_us =
			    (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
		} else {
			/* Kill at 10%, 30%, ..., 130% of a batch's time. */
			usleep((useconds_t)(batch_us * (round * 2 - 1) / 10));
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		close(p[0]);

		/* The file opens (recovering the WAL), passes quick_check, holds all or none. */
		assert_int_equal(
		    registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CHECK, err, sizeof(err)), 0);
		n = count_all(r);
		assert_int_equal(registry_stats(r, &st), 0);
		assert_int_equal(st.outbox_pending, n); /* each row came with its outbox row */
		registry_close(r);
		if (n == expect) {
			none++;
		} else {
			assert_int_equal(n, expect + BATCH_ROWS);
			expect = n;
			all++;
		}
	}
	fprintf(stderr, "sigkill: batch of %d rows takes %lld ms; %d rounds kept none, %d all\n",
	        BATCH_ROWS, (long long)batch_us / 1000, none, all);
	/* The first round commits before the kill; the 10% round dies mid-batch. */
	assert_true(all >= 1);
	assert_true(none >= 1);
}

/* Two processes creating the same new registry at once: both open it, one schema. */
static void
test_concurrent_create(void **state)
{
	(void)state;
	for (int round = 0; round < 8; round++) {
		char path[400], err[256];
		struct registry *r;
		pid_t pid[2];
		int status;
		long n;

		snprintf(path, sizeof(path), "%s/create%d.db", dir, round);
		for (int i = 0; i < 2; i++) {
			if ((pid[i] = fork()) == 0) {
				struct binding b;

				if (registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err,
				                  sizeof(err)) != 0) {
					fprintf(stderr, "create %d: %s\n", i, err);
					_exit(1);
				}
				rt_binding(&b, i);
				_exit(registry_binding_upsert(r, &b, NULL) != 0 ? 2 : 0);
			}
		}
		for (int i = 0; i < 2; i++) {
			assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
		assert_int_equal(
		    registry_open(&r, path, REGISTRY_RDONLY | REGISTRY_CHECK, err, sizeof(err)), 0);
		n = count_all(r);
		assert_int_equal(n, 2);
		registry_close(r);
	}
}

static int
group_setup(void **state)
{
	(void)state;
	if (tl_tmpdir(dir, sizeof(dir), "conc") != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	tl_rmtree(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_writers),
	    cmocka_unit_test(test_sigkill_mid_batch),
	    cmocka_unit_test(test_concurrent_create),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
