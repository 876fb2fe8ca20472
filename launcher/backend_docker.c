/*
 * The docker backend: one container per tenant on a Docker Engine
 * (--docker-host), from --image, named "berth-<subdomain>", with the tenant's
 * environment, ECS-like labels (no task-arn label: the sidecar then keys the
 * binding by container ID) plus berth.tenant, and --container-port published
 * on host port 0 so Docker picks one from the ephemeral range, as ECS does
 * with hostPort 0 in bridge mode.
 *
 * The container name is the only thing that ties a container to a tenant
 * before it is known, so the backend removes or replaces a container by name
 * only when it is berth's for that tenant: its berth.tenant label is the
 * subdomain and, while it runs, its berth.tenant-created label is the
 * tenant row's created_at (a running container of an earlier tenant of that
 * subdomain, one the registry no longer knows, is never replaced). Anything
 * else holding the name is a conflict (-EEXIST).
 *
 * The admin e-mail and company name are labels too, so that a registry that
 * lost its tenant rows can get them back from the containers (list).
 */
#include "launcher/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/docker.h"
#include "core/log.h"
#include "core/opts.h"

#define DK_NAME_PREFIX    "berth-"
#define DK_REPLACE_TRIES  20  /* name conflicts resolved before start gives up */
#define DK_REPLACE_GAP_MS 250 /* between tries while an older create still holds the name */
#define DK_TARGET_MAX     (REG_ARN_MAX > DOCKER_NAME_MAX ? REG_ARN_MAX : DOCKER_NAME_MAX)
#define DK_LABEL_TENANT   "berth.tenant"
#define DK_LABEL_CREATED  "berth.tenant-created"
#define DK_LABEL_EMAIL    "berth.admin-email"
#define DK_LABEL_COMPANY  "berth.company-name"

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
	char subdomain[REG_SUBDOMAIN_MAX];
	char created[24];           /* the tenant's created_at, as labelled */
	char target[DK_TARGET_MAX]; /* what stop and describe address */
	char id[DOCKER_ID_MAX];     /* the created container */
	json_t *config;             /* create body; owned */
	int container_port;
	int64_t deadline_ms;         /* the provision's --wait-timeout: no call waits past it */
	int retried;                 /* creates retried after a name conflict */
	struct event *timer;         /* the gap before the next try */
	int (*next)(struct dk_op *); /* what runs once the version is negotiated */
	char errmsg[BACKEND_REASON_MAX];
	backend_start_cb on_start;
	backend_done_cb on_done;
	backend_describe_cb on_describe;
	backend_found_cb on_list;
	void *arg;
};

/* What is left of op's time (ms), at least 1 s; 0 (the default) without a deadline. */
static long
op_left_ms(const struct dk_op *op)
{
	int64_t now = clock_mono_ms();

	if (op->deadline_ms == 0)
		return 0;
	return op->deadline_ms - now > 1000 ? (long)(op->deadline_ms - now) : 1000;
}

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
	snprintf(port, sizeof(port), "%lld", spec->tenant_created_ms);
	labels = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", DK_LABEL_TENANT, spec->subdomain,
	                   DK_LABEL_CREATED, port, DK_LABEL_EMAIL,
	                   spec->admin_email != NULL ? spec->admin_email : "", DK_LABEL_COMPANY,
	                   spec->company_name != NULL ? spec->company_name : "",
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
		op->on_start(0, op->id, "", "", op->arg);
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
	op->on_start(resp_error(r), NULL, "", op->errmsg, op->arg);
	op_free(op);
}

static void
dk_retry_create(evutil_socket_t fd, short what, void *arg)
{
	struct dk_op *op = arg;

	(void)fd;
	(void)what;
	if (docker_create(op->dk->docker, op->name, op->config, op_left_ms(op), dk_create_done,
	                  op) == NULL)
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

/* The value of label name of c, or "". */
static const char *
label_of(const struct docker_container *c, const char *name)
{
	const char *v = json_string_value(json_object_get(c->labels, name));

	return v != NULL ? v : "";
}

/*
 * Whether c (found under op's name) may be removed for op's tenant: 0 yes,
 * else -EEXIST with the reason in op->errmsg.
 */
static int
dk_owned(struct dk_op *op, const struct docker_container *c, int need_created)
{
	if (strcmp(label_of(c, DK_LABEL_TENANT), op->subdomain) != 0) {
		snprintf(op->errmsg, sizeof(op->errmsg),
		         "a container named %.64s exists that berth did not start for this tenant",
		         op->name);
		return -EEXIST;
	}
	if (need_created && strcmp(c->state, "running") == 0 &&
	    strcmp(label_of(c, DK_LABEL_CREATED), op->created) != 0) {
		snprintf(op->errmsg, sizeof(op->errmsg),
		         "a running container of an earlier tenant %s exists that the registry "
		         "does not know",
		         op->subdomain);
		return -EEXIST;
	}
	return 0;
}

static void
dk_conflict_inspected(const struct docker_resp *r, const struct docker_container *c, void *arg)
{
	struct dk_op *op = arg;

	if (r->error == -ECANCELED) {
		op_fail(op, -ECANCELED, "cancelled");
		return;
	}
	if (c == NULL) {
		/* Gone meanwhile, or an older create still holds the name: try again. */
		dk_conflict_removed(&(struct docker_resp){.status = 404, .message = ""}, op);
		return;
	}
	if (dk_owned(op, c, 1) != 0) {
		log_warnx("docker_conflict container=%s state=%s reason=\"%s\"", op->name, c->state,
		          op->errmsg);
		op->on_start(-EEXIST, NULL, "", op->errmsg, op->arg);
		op_free(op);
		return;
	}
	log_info("docker_replace container=%s state=%s", op->name, c->state);
	if (docker_remove(op->dk->docker, c->id, 1, dk_conflict_removed, op) == NULL)
		op_fail(op, -EIO, "docker remove could not start");
}

static void
dk_create_done(const struct docker_resp *r, const char *id, void *arg)
{
	struct dk_op *op = arg;

	if (r->error == 0 && r->status == 201 && id[0] != '\0') {
		snprintf(op->id, sizeof(op->id), "%s", id);
		if (docker_start(op->dk->docker, op->id, op_left_ms(op), dk_start_done, op) ==
		    NULL) {
			op->on_start(-EIO, NULL, "", "docker start could not start", op->arg);
			op_free(op);
		}
		return;
	}
	if (r->error == 0 && r->status == 409 && op->retried < DK_REPLACE_TRIES) {
		/*
		 * A container of that name: left from an earlier provision of
		 * this tenant (failed, or launcher killed), which is ours to
		 * replace, or someone else's, which is not.
		 */
		op->retried++;
		if (docker_inspect(op->dk->docker, op->name, dk_conflict_inspected, op) != NULL)
			return;
	}
	snprintf(op->errmsg, sizeof(op->errmsg), "docker create: %s",
	         r->message[0] != '\0' ? r->message : "no answer");
	op->on_start(resp_error(r), NULL, "", op->errmsg, op->arg);
	op_free(op);
}

static int
dk_do_create(struct dk_op *op)
{
	return docker_create(op->dk->docker, op->name, op->config, op_left_ms(op), dk_create_done,
	                     op) != NULL
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
	snprintf(op->subdomain, sizeof(op->subdomain), "%s", spec->subdomain);
	snprintf(op->created, sizeof(op->created), "%lld", spec->tenant_created_ms);
	if (spec->timeout_ms > 0)
		op->deadline_ms = clock_mono_ms() + spec->timeout_ms;
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

/* A stop by name: only a container that is this tenant's (dk_owned) is stopped. */
static void
dk_stop_inspected(const struct docker_resp *r, const struct docker_container *c, void *arg)
{
	struct dk_op *op = arg;

	if (c == NULL) {
		if (r->error == 0 && r->status == 404)
			op->on_done(0, "", op->arg); /* nothing by that name: nothing to stop */
		else
			op->on_done(r->error != 0 ? r->error : -EIO, "docker inspect failed",
			            op->arg);
		op_free(op);
		return;
	}
	if (dk_owned(op, c, 1) != 0) {
		log_warnx("docker_stop_refused container=%s reason=\"%s\"", op->name, op->errmsg);
		op->on_done(0, "", op->arg); /* not ours: for this tenant, nothing runs */
		op_free(op);
		return;
	}
	snprintf(op->target, sizeof(op->target), "%s", c->id);
	if (dk_do_stop(op) != 0)
		op_fail(op, -EIO, "docker stop could not start");
}

static int
dk_do_stop_by_name(struct dk_op *op)
{
	return docker_inspect(op->dk->docker, op->name, dk_stop_inspected, op) != NULL ? 0 : -EIO;
}

static int
dk_stop(void *state, const char *subdomain, long long created_ms, const char *task,
        backend_done_cb cb, void *arg)
{
	struct dk_op *op = op_new(state, arg);

	if (op == NULL)
		return -ENOMEM;
	op->on_done = cb;
	if (task != NULL && *task != '\0') {
		snprintf(op->target, sizeof(op->target), "%s", task);
		return op_run(op, dk_do_stop);
	}
	snprintf(op->name, sizeof(op->name), DK_NAME_PREFIX "%s", subdomain);
	snprintf(op->subdomain, sizeof(op->subdomain), "%s", subdomain);
	snprintf(op->created, sizeof(op->created), "%lld", created_ms);
	return op_run(op, dk_do_stop_by_name);
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

/* --- list: the tenants' containers, for a registry that lost its rows ----- */

static void
dk_listed(const struct docker_resp *r, const struct docker_container *v, size_t n, void *arg)
{
	struct dk_op *op = arg;
	struct backend_found *f = n > 0 ? calloc(n, sizeof(*f)) : NULL;
	size_t k = 0;

	if (v == NULL || (n > 0 && f == NULL)) {
		op->on_list(r->error != 0 ? r->error : -EIO, NULL, 0,
		            r->message[0] != '\0' ? r->message : "docker list failed", op->arg);
		free(f);
		op_free(op);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *created = label_of(&v[i], DK_LABEL_CREATED);
		char *end;
		long long ms = strtoll(created, &end, 10);

		if (*label_of(&v[i], DK_LABEL_TENANT) == '\0' || *created == '\0' || *end != '\0')
			continue;
		f[k++] = (struct backend_found){label_of(&v[i], DK_LABEL_TENANT),
		                                label_of(&v[i], DK_LABEL_EMAIL),
		                                label_of(&v[i], DK_LABEL_COMPANY),
		                                v[i].id,
		                                ms,
		                                strcmp(v[i].state, "running") == 0};
	}
	op->on_list(0, f, k, "", op->arg);
	free(f);
	op_free(op);
}

static int
dk_do_list(struct dk_op *op)
{
	return docker_list(op->dk->docker, 1, "{\"label\":[\"" DK_LABEL_TENANT "\"]}", dk_listed,
	                   op) != NULL
	           ? 0
	           : -EIO;
}

static int
dk_list(void *state, backend_found_cb cb, void *arg)
{
	struct dk_op *op = op_new(state, arg);

	if (op == NULL)
		return -ENOMEM;
	op->on_list = cb;
	return op_run(op, dk_do_list);
}

/* Ends op with an error through whichever callback it carries. */
static void
op_fail(struct dk_op *op, int error, const char *msg)
{
	if (op->on_start != NULL)
		op->on_start(error, NULL, "", msg, op->arg);
	else if (op->on_done != NULL)
		op->on_done(error, msg, op->arg);
	else if (op->on_list != NULL)
		op->on_list(error, NULL, 0, msg, op->arg);
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
    .list = dk_list,
};
