/*
 * testlib: what the tests and benchmarks of every area share: files and the
 * shared fixtures, private temp directories, child processes, waiting for a
 * condition under a deadline, a local evhttp listener for fakes, and the
 * percentile math the benchmarks print.
 *
 * Functions marked (cmocka) fail the running test with a clear message
 * instead of returning an error; the others return -1 / NULL and never call
 * into cmocka, so benchmarks may use them.
 */
#ifndef BERTH_TESTS_LIB_TESTLIB_H
#define BERTH_TESTS_LIB_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct evhttp;

/* Files */

/* Whole file, NUL-terminated (caller frees); *len set when len != NULL. NULL on failure. */
char *tl_read_file(const char *path, size_t *len);
/* tl_read_file for a file of at most max bytes; a bigger one is a failure (errno EFBIG). */
char *tl_read_file_max(const char *path, size_t max, size_t *len);
/* (cmocka) BERTH_SOURCE_DIR/tests/data/REL, e.g. "fixtures/x.json" (caller frees). */
char *tl_data(const char *rel, size_t *len);
/* (cmocka) BERTH_SOURCE_DIR/tests/data/fixtures/NAME (caller frees). */
char *tl_fixture(const char *name, size_t *len);
/* (cmocka) The value of an environment variable the test needs; a clear failure when unset. */
const char *tl_need_env(const char *name);

/* Temp directories */

/*
 * Makes a fresh TMPDIR (or /tmp)/berth-TAG-XXXXXX into dir and remembers it
 * for tl_tmpdirs_done. 0 or -1.
 */
int tl_tmpdir(char *dir, size_t dirlen, const char *tag);
/* Removes dir and everything under it. 0 or -1. */
int tl_rmtree(const char *dir);
/*
 * The end of a run's state directories (those tl_tmpdir made that still
 * exist): removed when ok, kept when not, with their paths printed on stderr
 * so the logs in them can be read. Integration tests call it with the result
 * of cmocka_run_group_tests.
 */
void tl_tmpdirs_done(int ok);

/* Time */

/* CLOCK_MONOTONIC seconds. */
double tl_now_s(void);
/* CLOCK_REALTIME nanoseconds (comparable with timestamps other processes log). */
int64_t tl_now_ns(void);
/*
 * Calls cond(arg) every step_ms until it returns non-zero or timeout_ms
 * passed. Returns the last value of cond (0: the deadline passed).
 */
int tl_wait_until(int (*cond)(void *), void *arg, long timeout_ms, long step_ms);

/*
 * Runs base until *flag becomes non-zero or timeout_ms passed (a timer wakes
 * the loop every 10 ms so the deadline holds on an idle loop). Returns *flag.
 */
int tl_loop_until(struct event_base *base, const int *flag, long timeout_ms);

/* Processes */

/*
 * fork + execvp argv[0] (a path, or a name looked up in PATH) with argv, the "K=V" strings of env
 * (NULL-terminated, may be NULL) added to the environment, stdout and stderr appended to log (when
 * not NULL). The child's pid, or -1.
 */
pid_t tl_spawn(const char *const *argv, const char *const *env, const char *log);
/*
 * Sends sig to pid, waits up to timeout_ms for it to exit, then SIGKILL and
 * reap. The wait status, or -1 when pid was not a child.
 */
int tl_stop(pid_t pid, int sig, long timeout_ms);
/* Runs cmd with sh (popen); its stdout into out (may be NULL). The exit code, or -1. */
int tl_run(const char *cmd, char *out, size_t outlen);
/* User + system clock ticks of pid (from /proc), or -1. */
long tl_cpu_ticks(pid_t pid);
/* A "Key:" line of /proc/PID/status in kB (e.g. "RssAnon"), or -1. */
long tl_status_kb(pid_t pid, const char *key);
/* The same from another /proc/PID file (e.g. "smaps_rollup", "Pss"), or -1. */
long tl_proc_kb(pid_t pid, const char *file, const char *key);

/* Network (loopback only) */

/* A free TCP port on 127.0.0.1 (bound and released), or -1. */
int tl_free_port(void);
/* Serves http on a Unix socket at path (an old file there is removed). 0 or -1. */
int tl_evhttp_bind_unix(struct evhttp *http, struct event_base *base, const char *path);
/* Serves http on 127.0.0.1 at an ephemeral port, returned. -1 on failure. */
int tl_evhttp_bind_local(struct evhttp *http);

/*
 * A blocking HTTP request (libcurl, no proxy) to url, which must be on
 * 127.0.0.0/8, localhost or [::1] (anything else is refused with -1): a POST
 * of json (Content-Type: application/json) when json is not NULL, else a
 * GET. The body goes into out (cut to outlen - 1 bytes, NUL-terminated; out
 * may be NULL). The HTTP status, or -1.
 */
int tl_http(const char *url, const char *json, char *out, size_t outlen, long timeout_ms);

/* Benchmark figures */

struct tl_summary {
	size_t n;
	double p50, p90, p99, mean, max;
};

/* Sorts v (n values) in place and fills s with nearest-rank percentiles. */
void tl_summarize(double *v, size_t n, struct tl_summary *s);
/* Nearest-rank percentile p (0-100] of n sorted values (n > 0). */
double tl_pct(const double *sorted, size_t n, double p);

#endif
