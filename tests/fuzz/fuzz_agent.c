/* libFuzzer target: ECS agent /v1/tasks (list or bare task) and /v1/metadata bodies. */
#include <stddef.h>
#include <stdint.h>

#include "sidecar/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_metadata m;
	struct agent_task *v;
	char err[256];
	size_t n;

	agent_metadata_parse((const char *)data, size, &m, err, sizeof(err));
	if (agent_tasks_parse((const char *)data, size, &v, &n, err, sizeof(err)) == 0)
		agent_tasks_free(v, n);
	return 0;
}
