/* backend: the table of backends (docker, ecs) the launcher starts tasks with. */
#include "launcher/backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BACKENDS_MAX 8

/* Built-in backends first; backend_register() appends. */
static const struct backend_ops *backends[BACKENDS_MAX] = {
    &backend_docker,
    &backend_ecs,
};
static size_t nbackends = 2;

const struct backend_ops *
backend_find(const char *name)
{
	for (size_t i = 0; i < nbackends; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

int
backend_register(const struct backend_ops *ops)
{
	if (backend_find(ops->name) != NULL)
		return -EEXIST;
	if (nbackends == BACKENDS_MAX)
		return -ENOSPC;
	backends[nbackends++] = ops;
	return 0;
}

void
backend_names(char *out, size_t outlen)
{
	size_t off = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < nbackends && off < outlen; i++) {
		int n =
		    snprintf(out + off, outlen - off, "%s%s", i > 0 ? "|" : "", backends[i]->name);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}
