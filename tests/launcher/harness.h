/*
 * harness: what the launcher's integration tests and benchmark share: a
 * state directory, the real berth-sidecar and berth-launcher started from
 * BERTH_BINARY_DIR against the test dockerd (BERTH_TEST_DOCKER_HOST), and
 * small blocking HTTP helpers (libcurl easy) for the API, the Docker socket
 * and tenant pages on 127.0.0.1.
 */
#ifndef BERTH_TEST_HARNESS_H
#define BERTH_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#define H_BODY_MAX (64 * 1024)

struct h_resp {
	long status;
	char body[H_BODY_MAX];
	size_t len;
	char headers[8192];
	double secs; /* whole request */
};

struct h_proc {
	pid_t pid;
	int port;
	char log[512];
	int no_sidecar_url; /* launcher: learn bindings from the registry (and describe) alone */
	int no_host_ip;     /* launcher: no --host-ip 127.0.0.1 (URLs name the binding's host) */
};

struct h_env {
	char dir[256];         /* state directory */
	char db[320];          /* shared registry file */
	char docker_host[512]; /* unix:///... */
	char docker_sock[512];
	char bindir[512];
	char srcdir[512];
	char prefix[16]; /* per-run subdomain prefix, e.g. "t4242" */
	struct h_proc sidecar;
};

/* Reads the environment; returns a reason when something is missing (the test must fail). */
const char *h_env_init(struct h_env *, const char *name);
/* Builds the tenant image (tests/services/tenant-image.sh). 0 on success. */
int h_tenant_image(struct h_env *);
/* Starts the sidecar on a free port writing into e->db. 0 on success. */
int h_sidecar_start(struct h_env *);
/*
 * Starts berth-launcher with the common flags plus extra (NULL-terminated);
 * envp extra "K=V" (NULL-terminated, may be NULL). Waits for /healthz.
 */
int h_launcher_start(struct h_env *, struct h_proc *, const char *const *extra,
                     const char *const *env);
/* SIGTERM (or SIGKILL when kill9) and reap. */
void h_proc_stop(struct h_proc *, int kill9);
/*
 * Stops everything and removes the containers of this run. The state
 * directory stays: the caller's tl_tmpdirs_done removes it after a good run.
 */
void h_env_done(struct h_env *);

/* One request to the launcher at port; headers NULL-terminated (may be NULL). */
int h_http(int port, const char *method, const char *path, const char *const *headers,
           const char *body, size_t body_len, struct h_resp *);
/* A request over the Docker socket: path like "/containers/x/json". */
int h_docker(struct h_env *, const char *method, const char *path, struct h_resp *);
/* GET http://127.0.0.1:port/ with a Host header. */
int h_page(int port, const char *host, struct h_resp *);
/* Value of a response header (case-insensitive) into out; 0 or -1. */
int h_header(const struct h_resp *, const char *name, char *out, size_t outlen);
/* Runs n POSTs to /v1/tenants, window at a time (0: all at once); resp[i] filled. */
int h_post_many(int port, const char *const *bodies, size_t n, size_t window,
                const char *const *headers, struct h_resp *resp, long timeout_s);
/* The same, request i to the launcher at ports[i] (port when ports is NULL). */
int h_post_many_at(const int *ports, int port, const char *const *bodies, size_t n, size_t window,
                   const char *const *headers, struct h_resp *resp, long timeout_s);
/* Number of containers of the test dockerd whose name starts with berth-<prefix>. */
int h_count_containers(struct h_env *, const char *prefix);

/*
 * The ECS emulator (BERTH_TEST_ECS_URL) seen through an access key of this
 * run's own, so the faults it injects and the tasks it cleans up touch no
 * other test. envp is the AWS environment of a launcher using it.
 */
struct h_ecs {
	const char *url;
	char akid[64], secret[64];
	char env_ecs[300], env_akid[128], env_secret[128], env_ddb[300];
	const char *envp[8];
};

/* Registers a fresh key (tag names the user, e.g. "E2E") with secret. 0, or -1 when the
 * emulator refused. */
int h_ecs_init(struct h_ecs *, const char *url, const char *tag, const char *secret);
/* POSTs {"access_key_id":KEY[,json_tail]} to /_emulator/faults; the HTTP status. */
int h_ecs_faults(struct h_ecs *, const char *json_tail);
/* Clears the key's faults and stops the tasks it started. */
void h_ecs_done(struct h_ecs *);
/*
 * h_launcher_start with --backend ecs --cluster berth-test --task-definition
 * berth-tenant --container-name app, then more (NULL-terminated, may be
 * NULL), in the environment of x.
 */
int h_launcher_start_ecs(struct h_env *, struct h_proc *, struct h_ecs *x, const char *const *more);

#endif
