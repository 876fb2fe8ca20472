/* Unit tests for core/daemon: exit statuses of daemon_opts, the log file, the signals. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "core/daemon.h"
#include "core/log.h"

static const struct opt with_file[] = {
    {"listen", "BERTH_LISTEN", NULL, OPT_STRING, "ADDR:PORT", "127.0.0.1:1", 0, 0, "listen"},
    {"log-level", "BERTH_LOG_LEVEL", NULL, OPT_STRING, "LEVEL", "info", 0, 0, "level"},
    {"log-format", "BERTH_LOG_FORMAT", NULL, OPT_STRING, "FORMAT", "text", 0, 0, "format"},
    {"log-file", "BERTH_LOG_FILE", NULL, OPT_STRING, "PATH", NULL, 0, 0, "file"},
};
static const struct opt no_file[] = {
    {"log-level", "BERTH_LOG_LEVEL", NULL, OPT_STRING, "LEVEL", "info", 0, 0, "level"},
    {"log-format", "BERTH_LOG_FORMAT", NULL, OPT_STRING, "FORMAT", "text", 0, 0, "format"},
};
#define NWITH (sizeof(with_file) / sizeof(with_file[0]))
#define NNO   (sizeof(no_file) / sizeof(no_file[0]))

static int
run_opts(struct opts *o, int argc, char **argv)
{
	return daemon_opts(o, "berth-test", with_file, NWITH, argc, argv);
}

static void
test_opts_status(void **state)
{
	struct opts o;
	char *ok[] = {"p", "--listen", "127.0.0.1:2", "--log-format=json"};
	char *help[] = {"p", "--help"};
	char *version[] = {"p", "--version"};
	char *unknown[] = {"p", "--no-such-flag"};
	char *stray[] = {"p", "extra"};
	char *level[] = {"p", "--log-level", "loud"};
	char *format[] = {"p", "--log-format", "xml"};

	(void)state;
	unsetenv("BERTH_LOG_LEVEL");
	unsetenv("BERTH_LOG_FORMAT");
	unsetenv("BERTH_LOG_FILE");
	assert_int_equal(run_opts(&o, 4, ok), DAEMON_RUN);
	assert_string_equal(opts_get(&o, "listen"), "127.0.0.1:2");
	assert_string_equal(opts_get(&o, "log-format"), "json");
	assert_int_equal(run_opts(&o, 2, help), 0);
	assert_int_equal(run_opts(&o, 2, version), 0);
	assert_int_equal(run_opts(&o, 2, unknown), 2);
	assert_int_equal(run_opts(&o, 2, stray), 2);
	assert_int_equal(run_opts(&o, 3, level), 2);
	assert_int_equal(run_opts(&o, 3, format), 2);
}

static void
test_log_file(void **state)
{
	struct opts o;
	char dir[] = "/tmp/berth-test-daemon-XXXXXX", path[128], bad[160], line[512];
	char *argv[] = {"p", "--log-file", path, "--log-level", "debug"};
	char *badv[] = {"p", "--log-file", bad};
	char *plain[] = {"p"};
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.log", dir);
	snprintf(bad, sizeof(bad), "%s/missing/d.log", dir);
	assert_int_equal(run_opts(&o, 5, argv), DAEMON_RUN);
	assert_int_equal(daemon_log(&o, "berth-test"), 0);
	assert_int_equal(log_get_level(), LOG_LEVEL_DEBUG);
	log_info("hello key=1");
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	assert_non_null(strstr(line, "prog=berth-test level=info hello key=1"));
	/* A directory that does not exist: exit status 1. */
	assert_int_equal(run_opts(&o, 3, badv), DAEMON_RUN);
	assert_int_equal(daemon_log(&o, "berth-test"), 1);
	/* A table without --log-file logs to stderr. */
	assert_int_equal(daemon_opts(&o, "berth-test", no_file, NNO, 1, plain), DAEMON_RUN);
	assert_int_equal(daemon_log(&o, "berth-test"), 0);
	assert_int_equal(log_get_level(), LOG_LEVEL_INFO);
	unlink(path);
	rmdir(dir);
}

static void
raise_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	raise(*(int *)arg);
}

struct mark {
	struct event_base *base;
	int fired;
};

static void
mark_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mark *m = arg;

	(void)fd;
	(void)what;
	m->fired = 1;
	event_base_loopbreak(m->base);
}

static void
test_signals(void **state)
{
	struct event_base *base = event_base_new();
	struct daemon_signals ds;
	struct timeval soon = {0, 10 * 1000}, later = {0, 200 * 1000}, much_later = {30, 0};
	int hup = SIGHUP, term = SIGTERM;
	struct mark m = {base, 0};

	(void)state;
	assert_non_null(base);
	daemon_signals_add(&ds, base);
	/* SIGHUP reopens the log: the loop goes on until the mark stops it. */
	assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, raise_cb, &hup, &soon), 0);
	assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, mark_cb, &m, &later), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_true(m.fired);
	assert_true(event_base_got_break(base));
	/* SIGTERM leaves the loop long before the mark. */
	m.fired = 0;
	assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, raise_cb, &term, &soon), 0);
	assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, mark_cb, &m, &much_later), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_false(m.fired);
	assert_true(event_base_got_exit(base));
	daemon_signals_free(&ds);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_opts_status),
	    cmocka_unit_test(test_log_file),
	    cmocka_unit_test(test_signals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
