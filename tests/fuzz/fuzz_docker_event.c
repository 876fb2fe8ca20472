/* libFuzzer target: one Docker /events line, and the line splitter over the same bytes. */
#include <stddef.h>
#include <stdint.h>

#include "core/docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
line(const char *p, size_t len, void *arg)
{
	struct docker_event e;
	char err[128];

	(void)arg;
	docker_event_parse(p, len, &e, err, sizeof(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docker_event e;
	struct docker_lines l;
	char err[128];
	size_t half = size / 2;

	docker_event_parse((const char *)data, size, &e, err, sizeof(err));
	/* A small cap so over-long lines are exercised too; fed in two pieces. */
	docker_lines_init(&l, 512);
	docker_lines_feed(&l, (const char *)data, half, line, NULL);
	docker_lines_feed(&l, (const char *)data + half, size - half, line, NULL);
	docker_lines_free(&l);
	return 0;
}
