/* Unit tests for core/opts: precedence, ranges, unknown flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/opts.h"

static const struct opt table[] = {
    {"db", "BERTH_DB", NULL, OPT_STRING, "PATH", "/var/lib/berth/registry.db", 0, 0, "registry"},
    {"docker-host", "BERTH_DOCKER_HOST", "DOCKER_HOST", OPT_STRING, "URL",
     "unix:///var/run/docker.sock", 0, 0, "docker"},
    {"wait-timeout", "BERTH_WAIT_TIMEOUT", NULL, OPT_INT, "SECONDS", "60", 1, 3600, "wait"},
    {"json", NULL, NULL, OPT_FLAG, NULL, NULL, 0, 0, "json output"},
};
#define N (sizeof(table) / sizeof(table[0]))

static int
parse(struct opts *o, int argc, char **argv, int *next)
{
	char err[256];

	return opts_parse(o, table, N, argc, argv, next, err, sizeof(err));
}

static void
test_defaults_env_flags(void **state)
{
	struct opts o;
	int next;
	char *argv[] = {"p", "--db=/tmp/x.db", "--json", "ls", "--tenant"};

	(void)state;
	unsetenv("BERTH_DOCKER_HOST");
	setenv("DOCKER_HOST", "unix:///alt.sock", 1);
	setenv("BERTH_WAIT_TIMEOUT", "5", 1);
	assert_int_equal(parse(&o, 5, argv, &next), OPTS_OK);
	assert_int_equal(next, 3);
	assert_string_equal(opts_get(&o, "db"), "/tmp/x.db");
	assert_string_equal(opts_get(&o, "docker-host"), "unix:///alt.sock");
	assert_int_equal(opts_int(&o, "wait-timeout"), 5);
	assert_non_null(opts_get(&o, "json"));
	setenv("BERTH_DOCKER_HOST", "unix:///primary.sock", 1);
	assert_int_equal(parse(&o, 1, argv, &next), OPTS_OK);
	assert_string_equal(opts_get(&o, "docker-host"), "unix:///primary.sock");
	assert_string_equal(opts_get(&o, "db"), "/var/lib/berth/registry.db");
	assert_null(opts_get(&o, "json"));
	unsetenv("BERTH_WAIT_TIMEOUT");
	unsetenv("BERTH_DOCKER_HOST");
	unsetenv("DOCKER_HOST");
}

static void
test_errors(void **state)
{
	struct opts o;
	int next;
	char *bad_range[] = {"p", "--wait-timeout", "0"};
	char *bad_int[] = {"p", "--wait-timeout=12x"};
	char *unknown[] = {"p", "--nope"};
	char *missing[] = {"p", "--db"};
	char *flagval[] = {"p", "--json=1"};
	char *help[] = {"p", "--help"};
	char *version[] = {"p", "--version"};

	(void)state;
	assert_int_equal(parse(&o, 3, bad_range, &next), OPTS_ERROR);
	assert_int_equal(parse(&o, 2, bad_int, &next), OPTS_ERROR);
	assert_int_equal(parse(&o, 2, unknown, &next), OPTS_ERROR);
	assert_int_equal(parse(&o, 2, missing, &next), OPTS_ERROR);
	assert_int_equal(parse(&o, 2, flagval, &next), OPTS_ERROR);
	assert_int_equal(parse(&o, 2, help, &next), OPTS_HELP);
	assert_int_equal(parse(&o, 2, version, &next), OPTS_VERSION);
	setenv("BERTH_WAIT_TIMEOUT", "99999", 1);
	assert_int_equal(parse(&o, 1, help, &next), OPTS_ERROR);
	unsetenv("BERTH_WAIT_TIMEOUT");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_env_flags),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
