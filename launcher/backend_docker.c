/*
 * The docker backend: one container per tenant on a Docker Engine
 * (--docker-host), from --image, named "berth-<subdomain>", with the tenant's
 * environment, ECS-like labels (no task-arn label: the sidecar then keys the
 * binding by container ID) plus berth.tenant, and --container-port published
 * on host port 0 so Docker picks one from the ephemeral range, as ECS does
 * with hostPort 0 in bridge mode.
 */
#include "launcher/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/docker.h"
#include "core/log.h"
#include "core/opts.h"

#define DK_NAME_PREFIX    "berth-"
#define DK_REPLACE_TRIES  20  /* name conflicts resolved before start gives up */
#define DK_REPLACE_GAP_MS 250 /* between tries while an older create still holds the name */
#define DK_TARGET_MAX     (REG_ARN_MAX > DOCKER_NAME_MAX ? REG_ARN_MAX : DOCKER_NAME_MAX)

struct dk {
	struct docker *docker;
	struct event_base *base;
	char image[DOCKER_NAME_MAX];
	char container_name[DOCKER_NAME_MAX]; /* the com.amazonaws.ecs.container-name label */
	char family[DOCKER_NAME_MAX];
	char revision[16];
	char cluster[DOCKER_NAME_MAX];
	int stop_timeout;
	int pinged; /* the API version is negotiated */
};

/* One start, stop or describe in flight. */
struct dk_op {
	struct dk *dk;
	char name[DOCKER_NAME_MAX]; /* berth-<subdomain> */
	char target[DK_TARGET_MAX]; /* what stop and describe address */
	char id[DOCKER_ID_MAX];     /* the created container */
	json_t *config;             /* create body; owned */
	int container_port;
	int retried;                 /* creates retried after a name conflict */
	struct event *timer;         /* the gap before the next try */
	int (*next)(struct dk_op *); /* what runs once the version is negotiated */
	char errmsg[BACKEND_REASON_MAX];
	backend_start_cb on_start;
	backend_done_cb on_done;
	backend_describe_cb on_describe;
	void *arg;
};

static void
op_free(struct dk_op *op)
{
	if (op->timer != NULL)
		event_free(op->timer);
	json_decref(op->config);
	free(op);
}

static void op_fail(struct dk_op *, int error, const char *msg);

static void
dk_pinged(const struct docker_resp *r, void *arg)
{
	struct dk_op *op = arg;

	if (r->error == 0 && r->status == 200) {
		op->dk->pinged = 1;
		if (op->next(op) != 0)
			op_fail(op, -EIO, "the Docker request could not start");
		return;
	}
	snprintf(op->errmsg, sizeof(op->errmsg), "docker ping: %s",
	         r->message[0] != '\0' ? r->message : "no answer");
	op_fail(op, r->error != 0 ? r->error : -EIO, op->errmsg);
}

/* A new op for dk with the caller's arg; NULL when out of memory. */
static struct dk_op *
op_new(struct dk *dk, void *arg)
{
	struct dk_op *op = calloc(1, sizeof(*op));

	if (op != NULL) {
		op->dk = dk;
		op->arg = arg;
	}
	return op;
}

/*
 * Runs next(op) once the daemon's API version is known: Debian's Docker 20.10
 * speaks at most 1.41 and refuses the 1.44 spoken before /_ping answers.
 * When the request cannot start, op is freed and no callback runs: -EIO
 * (the caller says so).
 */
static int
op_run(struct dk_op *op, int (*next)(struct dk_op *))
{
	op->next = next;
	if (op->dk->pinged ? next(op) == 0 : docker_ping(op->dk->docker, dk_pinged, op) != NULL)
		return 0;
	op_free(op);
	return -EIO;
}

static int
resp_error(const struct docker_resp *r)
{
	if (r->error != 0)
		return r->error;
	if (r->status == 404)
		return -ENOENT;
	if (r->status == 409)
		return -EEXIST;
	return -EIO;
}

static void
copy_opt(char *out, size_t outlen, const struct opts *o, const char *name, const char *def)
{
	const char *v = opts_get(o, name);

	snprintf(out, outlen, "%s", v != NULL && *v != '\0' ? v : def);
}

static int
dk_init(const struct backend_ctx *ctx, void **state, char *err, size_t errlen)
{
	struct dk *dk;
	const char *td, *host = opts_get(ctx->opts, "docker-host");
	char *colon;

	if (opts_get(ctx->opts, "image") == NULL || *opts_get(ctx->opts, "image") == '\0') {
		snprintf(err, errlen, "the docker backend needs --image");
		return -EINVAL;
	}
	if ((dk = calloc(1, sizeof(*dk))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	copy_opt(dk->image, sizeof(dk->image), ctx->opts, "image", "");
	copy_opt(dk->container_name, sizeof(dk->container_name), ctx->opts, "container-name",
	         "app");
	copy_opt(dk->cluster, sizeof(dk->cluster), ctx->opts, "cluster", "local");
	td = opts_get(ctx->opts, "task-definition");
	snprintf(dk->family, sizeof(dk->family), "%s", td != NULL && *td != '\0' ? td : "berth");
	if ((colon = strchr(dk->family, ':')) != NULL) {
		*colon = '\0';
		snprintf(dk->revision, sizeof(dk->revision), "%s", colon + 1);
	}
	dk->stop_timeout = (int)opts_int(ctx->opts, "stop-timeout");
	dk->base = ctx->base;
	dk->docker = docker_new(ctx->curl, host != NULL ? host : "unix:///var/run/docker.sock",
	                        NULL, err, errlen);
	if (dk->docker == NULL) {
		free(dk);
		return -EINVAL;
	}
	*state = dk;
	return 0;
}

static void
dk_free(void *state)
{
	struct dk *dk = state;

	if (dk == NULL)
		return;
	docker_free(dk->docker);
	free(dk);
}

/* The create body: image, environment, labels, the published port. */
static json_t *
dk_config(const struct dk *dk, const struct backend_spec *spec)
{
	json_t *env = json_array(), *labels, *cfg;
	char port[32];

	for (size_t i = 0; i < spec->n_env; i++) {
		size_t n = strlen(spec->env[i].name) + strlen(spec->env[i].value) + 2;
		char *kv = malloc(n);

		if (kv == NULL) {
			json_decref(env);
			return NULL;
		}
		snprintf(kv, n, "%s=%s", spec->env[i].name, spec->env[i].value);
		json_array_append_new(env, json_string(kv));
		free(kv);
	}
	labels = json_pack("{s:s, s:s, s:s, s:s}", "berth.tenant", spec->subdomain,
	                   "com.amazonaws.ecs.container-name", dk->container_name,
	                   "com.amazonaws.ecs.task-definition-family", dk->family,
	                   "com.amazonaws.ecs.cluster", dk->cluster);
	if (labels != NULL && dk->revision[0] != '\0')
		json_object_set_new(labels, "com.amazonaws.ecs.task-definition-version",
		                    json_string(dk->revision));
	snprintf(port, sizeof(port), "%d/tcp", spec->container_port);
	/* HostPort "" (not "0") is how the Docker CLI asks for an ephemeral port. */
	cfg = json_pack("{s:s, s:o, s:o, s:{s:{}}, s:{s:{s:[{s:s, s:s}]}, s:{s:s}}}", "Image",
	                dk->image, "Env", env, "Labels", labels, "ExposedPorts", port, "HostConfig",
	                "PortBindings", port, "HostIp", "", "HostPort", "", "RestartPolicy", "Name",
	                "no");
	return cfg;
}

static void dk_create_done(const struct docker_resp *, const char *, void *);

static void
dk_ignore(const struct docker_resp *r, void *arg)
{
	(void)r;
	(void)arg;
}

static void
dk_start_done(const struct docker_resp *r, void *arg)
{
	struct dk_op *op = arg;

	if (r->error == 0 && (r->status == 204 || r->status == 304)) {
		op->on_start(0, op->id, "", op->arg);
		op_free(op);
		return;
	}
	snprintf(op->errmsg, sizeof(op->errmsg), "docker start: %s",
	         r->message[0] != '\0' ? r->message : "no answer");
	/* Leave nothing behind: the created container goes. */
	log_warnx("docker_start_failed container=%s status=%ld error=\"%s\"", op->name, r->status,
	          r->message);
	if (r->error != -ECANCELED)
		docker_remove(op->dk->docker, op->id, 1, dk_ignore, NULL);
	op->on_start(resp_error(r), NULL, op->errmsg, op->arg);
	op_free(op);
}

static void
dk_retry_create(evutil_socket_t fd, short what, void *arg)
{
	struct dk_op *op = arg;

	(void)fd;
	(void)what;
	if (docker_create(op->dk->docker, op->name, op->config, dk_create_done, op) == NULL)
		op_fail(op, -EIO, "docker create could not start");
}

static void
dk_conflict_removed(const struct docker_resp *r, void *arg)
{
	struct dk_op *op = arg;
	struct timeval tv = {0, 0};

	if (r->error == -ECANCELED) {
		op_fail(op, -ECANCELED, "cancelled");
		return;
	}
	/*
	 * Removed: create again at once. Not found: an older create (from a
	 * launcher killed mid-request) holds the name but has not registered
	 * the container yet; try again shortly, when it can be removed.
	 */
	if (!(r->error == 0 && (r->status == 204 || r->status == 200)))
		tv.tv_usec = DK_REPLACE_GAP_MS * 1000;
	if (op->timer == NULL &&
	    (op->timer = evtimer_new(op->dk->base, dk_retry_create, op)) == NULL) {
		op_fail(op, -ENOMEM, "out of memory");
		return;
	}
	evtimer_add(op->timer, &tv);
}

static void
dk_create_done(const struct docker_resp *r, const char *id, void *arg)
{
	struct dk_op *op = arg;

	if (r->error == 0 && r->status == 201 && id[0] != '\0') {
		snprintf(op->id, sizeof(op->id), "%s", id);
		if (docker_start(op->dk->docker, op->id, dk_start_done, op) == NULL) {
			op->on_start(-EIO, NULL, "docker start could not start", op->arg);
			op_free(op);
		}
		return;
	}
	if (r->error == 0 && r->status == 409 && op->retried < DK_REPLACE_TRIES) {
		/*
		 * A container of that name is left from an earlier provision
		 * of this tenant (failed, or launcher killed): it is ours to
		 * replace.
		 */
		op->retried++;
		log_info("docker_replace container=%s", op->name);
		if (docker_remove(op->dk->docker, op->name, 1, dk_conflict_removed, op) != NULL)
			return;
	}
	snprintf(op->errmsg, sizeof(op->errmsg), "docker create: %s",
	         r->message[0] != '\0' ? r->message : "no answer");
	op->on_start(resp_error(r), NULL, op->errmsg, op->arg);
	op_free(op);
}

static int
dk_do_create(struct dk_op *op)
{
	return docker_create(op->dk->docker, op->name, op->config, dk_create_done, op) != NULL
	           ? 0
	           : -EIO;
}

static int
dk_start(void *state, const struct backend_spec *spec, backend_start_cb cb, void *arg)
{
	struct dk *dk = state;
	struct dk_op *op = op_new(dk, arg);

	if (op == NULL)
		return -ENOMEM;
	op->on_start = cb;
	snprintf(op->name, sizeof(op->name), DK_NAME_PREFIX "%s", spec->subdomain);
	if ((op->config = dk_config(dk, spec)) == NULL) {
		op_free(op);
		return -ENOMEM;
	}
	return op_run(op, dk_do_create);
}

static void
dk_removed(const struct docker_resp *r, void *arg)
{
	struct dk_op *op = arg;

	if (r->error == 0 && (r->status == 204 || r->status == 404)) {
		op->on_done(0, "", op->arg);
	} else {
		snprintf(op->errmsg, sizeof(op->errmsg), "docker remove: %s",
		         r->message[0] != '\0' ? r->message : "no answer");
		op->on_done(resp_error(r), op->errmsg, op->arg);
	}
	op_free(op);
}

static void
dk_stopped(const struct docker_resp *r, void *arg)
{
	struct dk_op *op = arg;

	if ((r->error == 0 && r->status == 404) || r->error == -ECANCELED) {
		op->on_done(r->error, r->error != 0 ? "cancelled" : "", op->arg);
		op_free(op);
		return;
	}
	/* Whatever stop said (a timeout included), force removal finishes the job. */
	if (docker_remove(op->dk->docker, op->target, 1, dk_removed, op) == NULL) {
		op->on_done(-EIO, "docker remove could not start", op->arg);
		op_free(op);
	}
}

static int
dk_do_stop(struct dk_op *op)
{
	return docker_stop(op->dk->docker, op->target, op->dk->stop_timeout, dk_stopped, op) != NULL
	           ? 0
	           : -EIO;
}

static int
dk_stop(void *state, const char *subdomain, const char *task, backend_done_cb cb, void *arg)
{
	struct dk_op *op = op_new(state, arg);

	if (op == NULL)
		return -ENOMEM;
	op->on_done = cb;
	if (task != NULL && *task != '\0')
		snprintf(op->target, sizeof(op->target), "%s", task);
	else
		snprintf(op->target, sizeof(op->target), DK_NAME_PREFIX "%s", subdomain);
	return op_run(op, dk_do_stop);
}

static void
dk_inspected(const struct docker_resp *r, const struct docker_container *c, void *arg)
{
	struct dk_op *op = arg;
	struct backend_task t;

	memset(&t, 0, sizeof(t));
	if (r->error == 0 && r->status == 404) {
		t.state = BACKEND_MISSING;
		snprintf(t.reason, sizeof(t.reason), "the container is gone");
		op->on_describe(0, &t, "", op->arg);
		op_free(op);
		return;
	}
	if (c == NULL) {
		snprintf(op->errmsg, sizeof(op->errmsg), "docker inspect: %s",
		         r->message[0] != '\0' ? r->message : "no answer");
		op->on_describe(resp_error(r), NULL, op->errmsg, op->arg);
		op_free(op);
		return;
	}
	if (strcmp(c->state, "running") == 0) {
		t.state = BACKEND_RUNNING;
	} else if (strcmp(c->state, "created") == 0 || strcmp(c->state, "restarting") == 0) {
		t.state = BACKEND_PENDING;
	} else {
		t.state = BACKEND_STOPPED;
		snprintf(t.reason, sizeof(t.reason), "the container is %s (exit code %d)", c->state,
		         c->exit_code);
	}
	for (int i = 0; i < c->nports; i++) {
		const struct docker_port *p = &c->ports[i];

		if (p->container_port != op->container_port || strcmp(p->proto, "tcp") != 0)
			continue;
		t.host_port = p->host_port;
		/* 0.0.0.0 and :: say "every address": the launcher knows the host IP. */
		if (strcmp(p->host_ip, "0.0.0.0") != 0 && strcmp(p->host_ip, "::") != 0)
			snprintf(t.host_ip, sizeof(t.host_ip), "%s", p->host_ip);
		break;
	}
	op->on_describe(0, &t, "", op->arg);
	op_free(op);
}

static int
dk_do_describe(struct dk_op *op)
{
	return docker_inspect(op->dk->docker, op->target, dk_inspected, op) != NULL ? 0 : -EIO;
}

static int
dk_describe(void *state, const char *task, int container_port, backend_describe_cb cb, void *arg)
{
	struct dk_op *op = op_new(state, arg);

	if (op == NULL)
		return -ENOMEM;
	op->on_describe = cb;
	op->container_port = container_port;
	snprintf(op->target, sizeof(op->target), "%s", task);
	return op_run(op, dk_do_describe);
}

/* Ends op with an error through whichever callback it carries. */
static void
op_fail(struct dk_op *op, int error, const char *msg)
{
	if (op->on_start != NULL)
		op->on_start(error, NULL, msg, op->arg);
	else if (op->on_done != NULL)
		op->on_done(error, msg, op->arg);
	else
		op->on_describe(error, NULL, msg, op->arg);
	op_free(op);
}

const struct backend_ops backend_docker = {
    .name = "docker",
    .local = 1,
    .init = dk_init,
    .free = dk_free,
    .start = dk_start,
    .stop = dk_stop,
    .describe = dk_describe,
};
