/*
 * cluster: what the cluster test and the cluster bench share. A cluster of
 * hosts on this machine (tests/services/cluster.sh: a network namespace,
 * dockerd and ECS agent emulator per host, DynamoDB on the bridge), a
 * berth-sidecar per host inside its namespace, listening on the host's
 * address with a bearer token and writing its host item, the repo's ECS
 * emulator placing tasks across the hosts, and berth-launchers (ECS backend,
 * the table) in the root namespace, the first sharing host 1's registry.
 */
#ifndef BERTH_TEST_CLUSTER_H
#define BERTH_TEST_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

#include "tests/launcher/harness.h"

#define CL_HOSTS_MAX  3
#define CL_API_PORT   9680
#define CL_TOKEN      "cluster-test-token"
#define CL_DESCRIBE_S "3" /* the launcher's --describe-interval */

struct cl_host {
	char ns[128], ip[32], docker_host[512], arn[200], dir[400], db[512], log[512];
	pid_t sidecar;
};

struct cl {
	struct h_env e; /* bindir, srcdir, prefix; e.dir is the cluster's state directory */
	int n;
	struct cl_host h[CL_HOSTS_MAX];
	char cldir[600]; /* cluster.sh's state directory */
	char ddb_url[128], table[64], token_file[512];
	int heartbeat_s;
	struct h_ecs x;
	char env_ddb[200];
	struct h_proc launcher;
};

/* Brings the cluster up (n hosts), the table, the sidecars and a launcher. NULL or why not. */
const char *cl_up(struct cl *, int n, const char *name, int heartbeat_s);
/* Removes everything (processes, tasks, namespaces, bridges), even after a failure. */
void cl_down(struct cl *);
/* Starts (again) host i's sidecar; 0 once its API answers. */
int cl_sidecar_start(struct cl *, int i);
/* Starts a launcher sharing host i's registry and sidecar (port 0: a free one). */
int cl_launcher_start(struct cl *, struct h_proc *, int i);
/* The next tasks of tenant go to host i. 0 or -1. */
int cl_place(struct cl *, const char *tenant, int i);
/* GET url (with the token when token) into r; 0 or -1. */
int cl_get(const char *url, int token, struct h_resp *r);
/*
 * Runs `berth [--dynamodb-table TABLE] ARGS` with the cluster's AWS
 * environment; its output in out. The exit status.
 */
int cl_berth(struct cl *, const char *args, int with_table, char *out, size_t outlen);
/* The value of key=... on the launcher log line of event for tenant, or "" */
void cl_log_field(const char *log, const char *event, const char *tenant, const char *key,
                  char *out, size_t outlen);

#endif
