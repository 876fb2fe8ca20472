/* Sample rows shared by the registry tests and benchmark. */
#ifndef BERTH_REG_TEST_H
#define BERTH_REG_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/registry.h"

/* A RUNNING ECS binding of task number n, port 8000/tcp on host port 32768 + n % 28000. */
static inline void
rt_binding(struct binding *b, int n)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->task_arn, sizeof(b->task_arn),
	         "arn:aws:ecs:us-east-1:123456789012:task/poc/%032x", n);
	snprintf(b->container_name, sizeof(b->container_name), "app");
	snprintf(b->container_id, sizeof(b->container_id), "%064x", n + 1);
	b->container_port = 8000;
	snprintf(b->protocol, sizeof(b->protocol), "tcp");
	snprintf(b->host_ip, sizeof(b->host_ip), "203.0.113.10");
	b->host_port = 32768 + n % 28000;
	b->status = BINDING_RUNNING;
	snprintf(b->tenant, sizeof(b->tenant), "t%d", n);
	snprintf(b->cluster, sizeof(b->cluster), "poc");
	snprintf(b->family, sizeof(b->family), "crownmercado-poc-task");
	snprintf(b->revision, sizeof(b->revision), "3");
	b->started_at = 1795000000000LL + n;
}

#endif
