/*
 * backend: where a tenant's task runs. A small table of function pointers
 * chosen by name (--backend): "docker" (a container on a Docker Engine) and,
 * added by the AWS side, "ecs" (RunTask/StopTask/DescribeTasks). Tests may
 * register their own with backend_register().
 *
 * Every operation is asynchronous and runs its callback exactly once from the
 * loop, unless it returns nonzero (then the callback never runs). Strings
 * passed in are borrowed for the call only.
 */
#ifndef BERTH_BACKEND_H
#define BERTH_BACKEND_H

#include <stddef.h>

#include "registry/registry.h"

struct event_base;
struct evcurl;
struct opts;

#define BACKEND_ENV_MAX    8 /* environment entries per task */
#define BACKEND_REASON_MAX 256

/* What the launcher hands a backend at start-up. Borrowed for the backend's life. */
struct backend_ctx {
	struct event_base *base;
	struct evcurl *curl;
	const struct opts *opts; /* the launcher's options: each backend reads its own flags */
	struct aws *aws;         /* the process's AWS client when the backend asks for one */
};

struct backend_env {
	const char *name;
	const char *value; /* may be a secret (DATABASE_URL): never log values */
};

#define BACKEND_TOKEN_MAX 65 /* ECS RunTask clientToken: at most 64 ASCII characters */

/* One tenant's task to start. */
struct backend_spec {
	const char *subdomain;
	const struct backend_env *env; /* n_env entries */
	size_t n_env;
	int container_port;
	/*
	 * Names this provision attempt, the same when a restarted launcher
	 * starts it again (ECS: the RunTask clientToken, so the retry returns
	 * the task the first call made). [A-Za-z0-9-], under BACKEND_TOKEN_MAX.
	 */
	const char *client_token;
	/*
	 * When the tenant's row was created (Unix ms): it tells this tenant's
	 * containers from those of an earlier tenant of the same subdomain.
	 */
	long long tenant_created_ms;
	/* What is left of the provision's --wait-timeout (ms): no backend call waits longer. */
	long timeout_ms;
	/* The tenant's details, for a backend that records them with the task (list). */
	const char *admin_email, *company_name;
};

enum backend_state {
	BACKEND_PENDING, /* created or starting */
	BACKEND_RUNNING,
	BACKEND_STOPPED, /* exited or stopping: it will not serve */
	BACKEND_MISSING, /* the backend does not know the task */
};

/* What describe learns about a task. */
struct backend_task {
	enum backend_state state;
	char host_ip[REG_IP_MAX]; /* "" when the backend does not know it */
	int host_port;            /* of spec.container_port; 0 when not known yet */
	char reason[BACKEND_REASON_MAX];
};

/*
 * error 0 with task (the task ARN, or the container ID) set, and host (the
 * ECS container instance ARN the task was placed on; "" when the backend
 * does not say); else a negative code and errmsg. -EEXIST: something that
 * is not this tenant's holds its place (nothing was started, and nothing is
 * to be stopped).
 */
typedef void (*backend_start_cb)(int error, const char *task, const char *host, const char *errmsg,
                                 void *arg);
typedef void (*backend_done_cb)(int error, const char *errmsg, void *arg);
/* task is NULL unless error is 0. */
typedef void (*backend_describe_cb)(int error, const struct backend_task *task, const char *errmsg,
                                    void *arg);

/* A tenant's task as the backend finds it, without the registry (recovery). Borrowed. */
struct backend_found {
	const char *subdomain, *admin_email, *company_name; /* untrusted: validate */
	const char *task;                                   /* the task ARN or container ID */
	long long created_ms;                               /* the tenant row's created_at */
	int running;
};
/* v holds n tasks when error is 0. */
typedef void (*backend_found_cb)(int error, const struct backend_found *v, size_t n,
                                 const char *errmsg, void *arg);

struct backend_ops {
	const char *name;
	/*
	 * Published ports are on this machine, so readiness is probed on
	 * 127.0.0.1 whatever the advertised host IP is.
	 */
	int local;
	/* Calls AWS: the launcher passes its one AWS client in the context. */
	int aws;
	/* Reads the backend's flags from ctx->opts; *state is passed to every call. */
	int (*init)(const struct backend_ctx *ctx, void **state, char *err, size_t errlen);
	/* Cancels what is in flight (callbacks run with -ECANCELED) and frees. */
	void (*free)(void *state);
	int (*start)(void *state, const struct backend_spec *, backend_start_cb, void *arg);
	/*
	 * Stops and removes the task. task may be "" when start never
	 * answered: the backend then finds what it started for subdomain,
	 * if it can, and touches nothing that is not berth's for subdomain.
	 * A task that is already gone is a success.
	 */
	int (*stop)(void *state, const char *subdomain, long long tenant_created_ms,
	            const char *task, backend_done_cb, void *arg);
	int (*describe)(void *state, const char *task, int container_port, backend_describe_cb,
	                void *arg);
	/*
	 * Optional (NULL when the backend cannot): every tenant task it runs or
	 * ran, with the tenant's details as it recorded them at start, so a
	 * registry that lost its tenant rows gets them back.
	 */
	int (*list)(void *state, backend_found_cb, void *arg);
};

/* The backend called name, or NULL. */
const struct backend_ops *backend_find(const char *name);
/* Adds a backend (tests); the table is borrowed. -ENOSPC when full, -EEXIST on a taken name. */
int backend_register(const struct backend_ops *);
/* Names of the known backends, "docker|ecs", for --help and errors. */
void backend_names(char *out, size_t outlen);

extern const struct backend_ops backend_docker;
extern const struct backend_ops backend_ecs; /* launcher/backend_ecs.c */

#endif
