/* The testlib functions that fail the running cmocka test (see testlib.h). */
#include "tests/lib/testlib.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

const char *
tl_need_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0') {
		fprintf(stderr,
		        "FAIL: %s is not set: run the tests with ./dev test (ctest sets the "
		        "BERTH_*_DIR variables; ./dev test also starts the test services and "
		        "exports BERTH_TEST_*), or export it yourself\n",
		        name);
		fail_msg("%s is not set", name);
	}
	return v;
}

char *
tl_data(const char *rel, size_t *len)
{
	const char *dir = tl_need_env("BERTH_SOURCE_DIR");
	char path[1024];
	char *b;

	snprintf(path, sizeof(path), "%s/tests/data/%s", dir, rel);
	if ((b = tl_read_file(path, len)) == NULL)
		fail_msg("cannot read %s", path);
	return b;
}

char *
tl_fixture(const char *name, size_t *len)
{
	char rel[512];

	snprintf(rel, sizeof(rel), "fixtures/%s", name);
	return tl_data(rel, len);
}
