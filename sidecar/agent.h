/*
 * agent: the ECS agent's introspection API (GET /v1/metadata, /v1/tasks),
 * the sidecar's second source. Metadata is asked at start and retried until
 * the agent answers; /v1/tasks every reconcile interval goes to the tracker.
 * With no agent (url "none", or nothing answering) the sidecar runs on Docker
 * alone and says so once.
 *
 * The parsers are pure and fuzzed. Wire traps (see WIRE.md a.): agent 1.19.0
 * spelled DockerId as "DockerID"; HostPort is left out until the agent has
 * inspected the container (read it as "not known yet"); the IPv4 and IPv6
 * bindings show as two identical Ports entries; agents before 1.17.2 send no
 * Ports at all; a ?dockerid= / ?taskarn= answer is one bare task.
 */
#ifndef BERTH_SIDECAR_AGENT_H
#define BERTH_SIDECAR_AGENT_H

#include <stddef.h>

struct event_base;
struct evcurl;
struct metrics;
struct agent;

#define AGENT_ARN_MAX        320
#define AGENT_NAME_MAX       256
#define AGENT_ID_MAX         72
#define AGENT_PORTS_MAX      32
#define AGENT_BODY_MAX       (8 * 1024 * 1024) /* /v1/tasks on a busy host */
#define AGENT_TASKS_MAX      20000
#define AGENT_CONTAINERS_MAX 64 /* per task */

struct agent_port {
	int container_port;
	char proto[8];
	int host_port; /* 0: not known yet */
};

struct agent_container {
	char docker_id[AGENT_ID_MAX]; /* "" until docker create returned */
	char docker_name[AGENT_NAME_MAX];
	char name[AGENT_NAME_MAX];
	struct agent_port ports[AGENT_PORTS_MAX]; /* deduplicated */
	int nports;
};

struct agent_task {
	char arn[AGENT_ARN_MAX];
	char known_status[16];   /* PENDING, RUNNING, STOPPED */
	char desired_status[16]; /* may be "" (omitempty) */
	char family[AGENT_NAME_MAX];
	char version[16];
	struct agent_container *containers;
	size_t ncontainers;
};

struct agent_metadata {
	char cluster[AGENT_ARN_MAX];        /* as configured: a name or an ARN */
	char cluster_short[AGENT_NAME_MAX]; /* after the last '/' of an ARN */
	char instance_arn[AGENT_ARN_MAX];   /* "" when null */
	char version[128];
};

int agent_metadata_parse(const char *body, size_t len, struct agent_metadata *out, char *err,
                         size_t errlen);
/* {"Tasks":[...]} or one bare task. *out is malloc'd; free with agent_tasks_free. */
int agent_tasks_parse(const char *body, size_t len, struct agent_task **out, size_t *n, char *err,
                      size_t errlen);
void agent_tasks_free(struct agent_task *, size_t n);
/* The short name of a cluster name or ARN, into out. */
void agent_cluster_short(const char *cluster, char *out, size_t outlen);

/* What the agent hands on: its metadata once, then every task list polled. */
struct agent_sink {
	void (*metadata)(const struct agent_metadata *, void *arg);
	void (*tasks)(const struct agent_task *tasks, size_t n, void *arg);
	void *arg;
};

/*
 * url "none" disables. sink gets what the agent learns (copied); metrics
 * (may be NULL) gets the agent's figures. All borrowed.
 */
struct agent *agent_new(struct event_base *, struct evcurl *, const char *url,
                        const struct agent_sink *sink, int interval_s, struct metrics *metrics);
void agent_free(struct agent *);
void agent_start(struct agent *);
/* "none", "waiting", "ok", "unavailable" */
const char *agent_state(const struct agent *);
/* NULL until /v1/metadata answered. */
const struct agent_metadata *agent_metadata(const struct agent *);

#endif
