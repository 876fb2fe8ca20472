/* libFuzzer target: Docker inspect and container-list bodies, and error bodies. */
#include <stddef.h>
#include <stdint.h>

#include "core/docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docker_container c, *v;
	char err[128], msg[256];
	size_t n;

	if (docker_inspect_parse((const char *)data, size, "BERTH_TENANT", &c, err, sizeof(err)) ==
	    0)
		docker_container_clear(&c);
	if (docker_list_parse((const char *)data, size, &v, &n, err, sizeof(err)) == 0)
		docker_list_free(v, n);
	docker_error_message((const char *)data, size, msg, sizeof(msg));
	return 0;
}
