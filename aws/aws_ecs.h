/*
 * aws_ecs: the ECS calls berth makes (AWS JSON 1.1): RunTask, DescribeTasks,
 * StopTask, ListTasks, DescribeTaskDefinition. Requests are built and answers parsed by
 * pure functions (unit-tested against the shared fixtures, fuzzed); the calls
 * run through aws_call with its retries. A RunTask retry is safe only with a
 * clientToken, which ecs_run_task_request therefore requires.
 */
#ifndef BERTH_AWS_ECS_H
#define BERTH_AWS_ECS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "aws/aws.h"

#define ECS_ARN_MAX          320
#define ECS_NAME_MAX         256
#define ECS_STATUS_MAX       24
#define ECS_REASON_MAX       256
#define ECS_BINDINGS_MAX     8
#define ECS_CONTAINERS_MAX   10
#define ECS_DESCRIBE_MAX     100  /* tasks per DescribeTasks */
#define ECS_LIST_MAX         100  /* task ARNs per ListTasks page */
#define ECS_TOKEN_MAX        2048 /* a ListTasks nextToken */
#define ECS_LIST_PAGES_MAX   10   /* pages a caller follows */
#define ECS_OVERRIDES_MAX    8192
#define ECS_STARTED_BY_MAX   128
#define ECS_CLIENT_TOKEN_MAX 64

struct ecs_kv {
	const char *name, *value;
};

struct ecs_run_task {
	const char *cluster;         /* name or ARN */
	const char *task_definition; /* family[:rev] or ARN */
	const char *container_name;  /* the container the environment goes to */
	const char *launch_type;     /* "EC2" when NULL */
	const char *started_by;      /* <= 128 of [A-Za-z0-9_/-], or NULL */
	const char *client_token;    /* 1-64 of ASCII 33-126; required */
	const struct ecs_kv *env;
	size_t n_env;
	const struct ecs_kv *tags;
	size_t n_tags;
};

struct ecs_binding {
	char bind_ip[64];
	int container_port;
	int host_port;
	char protocol[8];
};

struct ecs_container {
	char name[ECS_NAME_MAX];
	char runtime_id[80]; /* the Docker container ID */
	char last_status[ECS_STATUS_MAX];
	int has_exit_code, exit_code;
	struct ecs_binding bindings[ECS_BINDINGS_MAX];
	int n_bindings;
};

struct ecs_task {
	char arn[ECS_ARN_MAX];
	char last_status[ECS_STATUS_MAX];
	char desired_status[ECS_STATUS_MAX];
	char started_by[ECS_STARTED_BY_MAX + 1];
	char stop_code[48];
	char stopped_reason[ECS_REASON_MAX];
	char container_instance_arn[ECS_ARN_MAX];
	int64_t version;
	struct ecs_container containers[ECS_CONTAINERS_MAX];
	int n_containers;
};

struct ecs_failure {
	char arn[ECS_ARN_MAX];
	char reason[ECS_REASON_MAX];
	char detail[ECS_REASON_MAX];
};

struct ecs_result {
	int error; /* 0, or negative: the call's error, or -EPROTO for an unreadable answer */
	char errmsg[768];
	const struct aws_result *aws; /* the underlying call (status, code, attempts) */
	struct ecs_task *tasks;       /* RunTask, DescribeTasks, StopTask */
	int n_tasks;
	struct ecs_failure *failures; /* RunTask, DescribeTasks */
	int n_failures;
	json_t *task_definition;        /* DescribeTaskDefinition; borrowed */
	char (*task_arns)[ECS_ARN_MAX]; /* ListTasks: this page */
	int n_task_arns;
	char next_token[ECS_TOKEN_MAX]; /* ListTasks: the next page's token, "" when last */
};

struct ecs_op;
typedef void (*ecs_cb)(const struct ecs_result *, void *arg);

/* Builds the RunTask request; NULL with err filled when a field is out of bounds. */
json_t *ecs_run_task_request(const struct ecs_run_task *, char *err, size_t errlen);
/* Parses one Task object. 0 or -EPROTO with err. */
int ecs_parse_task(json_t *, struct ecs_task *, char *err, size_t errlen);
/*
 * Parses {"tasks":[...],"failures":[...]} (RunTask, DescribeTasks) or
 * {"task":{...}} (StopTask) into malloc'd arrays the caller frees.
 */
int ecs_parse_tasks(json_t *body, struct ecs_task **tasks, int *n_tasks,
                    struct ecs_failure **failures, int *n_failures, char *err, size_t errlen);
/* Parses ListTasks' {"taskArns":[...]} into a malloc'd array the caller frees. */
int ecs_parse_task_arns(json_t *body, char (**arns)[ECS_ARN_MAX], int *n, char *err, size_t errlen);
/*
 * Checks a task definition for berth: container exists, bridge network
 * mode, and a mapping of container_port with hostPort 0 (or absent). Returns
 * 0, or -EINVAL with a plain reason in err.
 */
int ecs_taskdef_check(json_t *td, const char *container, int container_port, char *err,
                      size_t errlen);

/* The calls: cb runs once unless cancelled (ecs_cancel). NULL on failure to start (cb not run). */
struct ecs_op *aws_ecs_run_task(struct aws *, const struct ecs_run_task *, ecs_cb, void *arg,
                                char *err, size_t errlen);
struct ecs_op *aws_ecs_describe_tasks(struct aws *, const char *cluster, const char *const *tasks,
                                      size_t n, ecs_cb, void *arg);
struct ecs_op *aws_ecs_stop_task(struct aws *, const char *cluster, const char *task,
                                 const char *reason, ecs_cb, void *arg);
/*
 * ListTasks: the cluster's tasks started by started_by whose desired status
 * is RUNNING (ECS's default: startedBy must be the only filter). next_token
 * is "" or NULL for the first page, else the previous page's next_token.
 */
struct ecs_op *aws_ecs_list_tasks(struct aws *, const char *cluster, const char *started_by,
                                  const char *next_token, ecs_cb, void *arg);
struct ecs_op *aws_ecs_describe_task_definition(struct aws *, const char *task_definition, ecs_cb,
                                                void *arg);
void ecs_cancel(struct ecs_op *);

#endif
