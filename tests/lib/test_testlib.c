/*
 * Unit tests of the test library itself: nearest-rank percentiles, state
 * directories kept or removed, tl_read_file_max's bound, tl_stop's bound, tl_run's output and exit
 * code, tl_wait_until's deadline, and tl_http refusing non-loopback URLs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "tests/lib/testlib.h"

static void
test_percentiles(void **state)
{
	double v[] = {9, 1, 8, 2, 7, 3, 6, 4, 5, 10};
	double one[] = {42};
	struct tl_summary s;

	(void)state;
	tl_summarize(v, 10, &s);
	assert_int_equal(s.n, 10);
	assert_true(v[0] == 1 && v[9] == 10); /* sorted in place */
	assert_true(s.p50 == 5);              /* nearest rank: ceil(0.5 * 10) = 5th */
	assert_true(s.p90 == 9);
	assert_true(s.p99 == 10);
	assert_true(s.max == 10);
	assert_true(s.mean == 5.5);
	tl_summarize(one, 1, &s);
	assert_true(s.p50 == 42 && s.p99 == 42 && s.max == 42);
	tl_summarize(one, 0, &s);
	assert_int_equal(s.n, 0);
}

static void
test_tmpdirs(void **state)
{
	char a[256], b[256], file[300];
	FILE *fp;

	(void)state;
	assert_int_equal(tl_tmpdir(a, sizeof(a), "testlib"), 0);
	snprintf(file, sizeof(file), "%s/sub", a);
	assert_int_equal(mkdir(file, 0700), 0);
	snprintf(file, sizeof(file), "%s/sub/log", a);
	assert_non_null(fp = fopen(file, "w"));
	fputs("x\n", fp);
	fclose(fp);
	tl_tmpdirs_done(0); /* a failed run keeps it */
	assert_int_equal(access(file, F_OK), 0);
	assert_int_equal(tl_rmtree(a), 0);
	assert_int_not_equal(access(a, F_OK), 0);

	assert_int_equal(tl_tmpdir(b, sizeof(b), "testlib"), 0);
	snprintf(file, sizeof(file), "%s/log", b);
	assert_non_null(fp = fopen(file, "w"));
	fclose(fp);
	tl_tmpdirs_done(1); /* a good one removes it */
	assert_int_not_equal(access(b, F_OK), 0);
	assert_int_equal(tl_tmpdir(a, 8, "too-long-for-the-buffer"), -1);
}

static void
test_read_file_max(void **state)
{
	char dir[256], file[300];
	size_t len = 0;
	char *buf;
	FILE *fp;

	(void)state;
	assert_int_equal(tl_tmpdir(dir, sizeof(dir), "testlib"), 0);
	snprintf(file, sizeof(file), "%s/ten", dir);
	assert_non_null(fp = fopen(file, "w"));
	fputs("0123456789", fp);
	fclose(fp);
	assert_non_null(buf = tl_read_file_max(file, 10, &len));
	assert_int_equal(len, 10);
	assert_string_equal(buf, "0123456789");
	free(buf);
	errno = 0;
	assert_null(tl_read_file_max(file, 9, &len)); /* one byte over: refused, not cut */
	assert_int_equal(errno, EFBIG);
	assert_non_null(buf = tl_read_file(file, NULL));
	free(buf);
	snprintf(file, sizeof(file), "%s/none", dir);
	assert_null(tl_read_file_max(file, 10, NULL));
	tl_tmpdirs_done(1);
}

static void
test_processes(void **state)
{
	const char *sleeper[] = {"sleep", "30", NULL};
	/* Ignores SIGTERM; its own children live 50 ms at most, so none outlives the test. */
	const char *stubborn[] = {"sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", NULL};
	char out[64];
	double t0;
	pid_t pid;
	int st;

	(void)state;
	assert_int_equal(tl_run("echo hello; exit 3", out, sizeof(out)), 3);
	assert_string_equal(out, "hello\n");
	assert_int_equal(tl_run("yes | head -c 100000", out, 8), 0); /* the rest is drained */
	assert_string_equal(out, "y\ny\ny\ny");

	pid = tl_spawn(sleeper, NULL, NULL);
	assert_true(pid > 0);
	st = tl_stop(pid, SIGTERM, 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);

	pid = tl_spawn(stubborn, NULL, NULL);
	assert_true(pid > 0);
	usleep(200 * 1000); /* the trap is set */
	t0 = tl_now_s();
	st = tl_stop(pid, SIGTERM, 300); /* ignored: SIGKILL after the bound */
	assert_true(tl_now_s() - t0 < 5);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(tl_stop(pid, SIGTERM, 100), -1); /* reaped already */
}

static int
never(void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_wait_and_http(void **state)
{
	double t0 = tl_now_s();
	char out[32];
	int calls = 0;

	(void)state;
	assert_int_equal(tl_wait_until(never, &calls, 100, 10), 0);
	assert_true(tl_now_s() - t0 >= 0.1);
	assert_true(calls >= 2);
	assert_int_equal(tl_http("http://192.0.2.1/", NULL, out, sizeof(out), 100), -1);
	assert_int_equal(tl_http("http://example.com/", NULL, out, sizeof(out), 100), -1);
	assert_int_equal(tl_http("http://localhost.example.com/", NULL, NULL, 0, 100), -1);
	assert_int_equal(tl_http("http://127.attacker.example/", NULL, NULL, 0, 100), -1);
	assert_int_equal(tl_http("http://[::2]:80/", NULL, NULL, 0, 100), -1);
	/* A loopback port nobody listens on: allowed, and no answer. */
	assert_int_equal(tl_http("http://127.0.0.1:1/", NULL, NULL, 0, 1000), -1);
	assert_string_equal(out, "");
	assert_true(tl_free_port() > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percentiles),   cmocka_unit_test(test_tmpdirs),
	    cmocka_unit_test(test_read_file_max), cmocka_unit_test(test_processes),
	    cmocka_unit_test(test_wait_and_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
