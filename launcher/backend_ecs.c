/*
 * backend_ecs: tenants as ECS tasks (EC2 launch type, bridge network,
 * hostPort 0). start = RunTask with the tenant's environment as container
 * overrides, startedBy = subdomain and the launcher's client token (so a
 * retry never starts a second task); describe = DescribeTasks (the fallback
 * that needs no sidecar; polled 1 s, backing off to 5 s per task); stop =
 * StopTask.
 *
 * At init DescribeTaskDefinition checks that --container-name exists, that
 * the network mode is bridge and that --container-port maps to hostPort 0,
 * and says plainly what is wrong if not (the launcher then exits).
 *
 * The host IP is not in DescribeTasks: describe leaves it empty, and the
 * launcher takes it from the sidecar's record or --host-ip. With
 * --dynamodb-table, describe first reads the task's binding item that the
 * sidecar of whichever host runs it synced there (host IP and port), and
 * falls back to DescribeTasks while there is none.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "aws/aws_ecs.h"
#include "aws/aws_retry.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/opts.h"
#include "launcher/backend.h"
#include "registry/item.h"

#define EB_INIT_TIMEOUT_MS   30000
#define EB_INIT_ATTEMPTS     10
#define EB_INIT_BACKOFF_CAP  3000 /* so the 10 attempts fit in EB_INIT_TIMEOUT_MS */
#define EB_RUN_RETRY_MAX_MS  5000 /* RunTask retried after throttling, up to the wait timeout */
#define EB_DESCRIBE_FIRST_MS 1000 /* DescribeTasks per task: 1 s, x1.5, up to 5 s */
#define EB_DESCRIBE_MAX_MS   5000
#define EB_PACE_MAX          1024 /* tasks whose describe pace is remembered */

enum eb_kind { EB_START, EB_STOP, EB_DESCRIBE };

struct eb_op {
	TAILQ_ENTRY(eb_op) entry;
	struct eb *eb;
	enum eb_kind kind;
	struct ecs_op *call;
	struct aws_call *ddb_call;
	struct event *timer;
	/* start */
	struct ecs_kv env[BACKEND_ENV_MAX];
	char *env_store[BACKEND_ENV_MAX * 2];
	size_t n_env;
	char subdomain[REG_SUBDOMAIN_MAX];
	char token[BACKEND_TOKEN_MAX];
	int64_t deadline_ms;
	int tries;
	/* describe */
	char task[ECS_ARN_MAX];
	int container_port;
	/* stop with no task ARN: what ListTasks found by startedBy */
	char (*orphans)[ECS_ARN_MAX];
	int n_orphans, orphan_i, orphan_error;
	int pages; /* ListTasks pages read after the first */
	char orphan_msg[BACKEND_REASON_MAX];
	backend_start_cb on_start;
	backend_done_cb on_done;
	backend_describe_cb on_describe;
	void *arg;
};
TAILQ_HEAD(eb_ops, eb_op);

struct eb_pace {
	char task[ECS_ARN_MAX];
	int64_t next_ms;
	long interval_ms;
	struct backend_task last;
};

struct eb {
	struct event_base *base;
	struct aws *aws;
	char cluster[ECS_NAME_MAX];
	char task_definition[ECS_NAME_MAX];
	char container[ECS_NAME_MAX];
	char table[DDB_TABLE_MAX + 1]; /* --dynamodb-table, "" when unset */
	int container_port;
	long wait_timeout_ms;
	struct eb_ops ops;
	struct eb_pace *pace; /* EB_PACE_MAX, a small ring */
	size_t pace_next;
};

static void
op_free(struct eb_op *op)
{
	if (op->timer != NULL)
		event_free(op->timer);
	for (size_t i = 0; i < op->n_env * 2; i++) {
		if (op->env_store[i] != NULL) {
			explicit_bzero(op->env_store[i], strlen(op->env_store[i]));
			free(op->env_store[i]);
		}
	}
	free(op->orphans);
	free(op);
}

static void
op_end(struct eb_op *op)
{
	TAILQ_REMOVE(&op->eb->ops, op, entry);
	op_free(op);
}

/* --- init: the task definition check -------------------------------------- */

struct td_check {
	int done;
	int error;
	char msg[768];
	const char *container;
	int port;
};

static void
td_checked(const struct ecs_result *r, void *arg)
{
	struct td_check *c = arg;

	c->done = 1;
	c->error = r->error;
	if (r->error != 0) {
		snprintf(c->msg, sizeof(c->msg), "%s", r->errmsg);
		return;
	}
	c->error =
	    ecs_taskdef_check(r->task_definition, c->container, c->port, c->msg, sizeof(c->msg));
}

static void
td_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int
eb_init(const struct backend_ctx *ctx, void **state, char *err, size_t errlen)
{
	struct eb *eb;
	struct td_check chk;
	struct event *tick;
	struct timeval tv = {0, 100000};
	const char *v;
	int64_t end;

	if ((eb = calloc(1, sizeof(*eb))) == NULL ||
	    (eb->pace = calloc(EB_PACE_MAX, sizeof(*eb->pace))) == NULL) {
		free(eb);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	TAILQ_INIT(&eb->ops);
	eb->base = ctx->base;
	if ((v = opts_get(ctx->opts, "cluster")) == NULL || *v == '\0' ||
	    strlen(v) >= sizeof(eb->cluster)) {
		snprintf(err, errlen, "the ecs backend needs --cluster");
		goto fail;
	}
	snprintf(eb->cluster, sizeof(eb->cluster), "%s", v);
	if ((v = opts_get(ctx->opts, "task-definition")) == NULL || *v == '\0' ||
	    strlen(v) >= sizeof(eb->task_definition)) {
		snprintf(err, errlen, "the ecs backend needs --task-definition FAMILY[:REV]");
		goto fail;
	}
	snprintf(eb->task_definition, sizeof(eb->task_definition), "%s", v);
	v = opts_get(ctx->opts, "container-name");
	snprintf(eb->container, sizeof(eb->container), "%s", v != NULL && *v != '\0' ? v : "app");
	eb->container_port = (int)opts_int(ctx->opts, "container-port");
	if ((v = opts_get(ctx->opts, "dynamodb-table")) != NULL && *v != '\0') {
		if (!ddb_table_name_ok(v)) {
			snprintf(err, errlen, "--dynamodb-table: not a table name");
			goto fail;
		}
		snprintf(eb->table, sizeof(eb->table), "%s", v);
	}
	eb->wait_timeout_ms = opts_int(ctx->opts, "wait-timeout") * 1000;
	if (eb->wait_timeout_ms <= 0)
		eb->wait_timeout_ms = 60000;
	if ((eb->aws = ctx->aws) == NULL) {
		snprintf(err, errlen, "no AWS client");
		goto fail;
	}

	/* Check the task definition now, with patience for throttling, before serving. */
	memset(&chk, 0, sizeof(chk));
	chk.container = eb->container;
	chk.port = eb->container_port;
	aws_set_retry(eb->aws, 0, EB_INIT_BACKOFF_CAP, EB_INIT_ATTEMPTS);
	if (aws_ecs_describe_task_definition(eb->aws, eb->task_definition, td_checked, &chk) ==
	    NULL) {
		snprintf(err, errlen, "cannot start DescribeTaskDefinition");
		goto fail;
	}
	tick = event_new(ctx->base, -1, EV_PERSIST, td_tick, NULL);
	if (tick != NULL)
		event_add(tick, &tv);
	end = clock_mono_ms() + EB_INIT_TIMEOUT_MS;
	while (!chk.done && clock_mono_ms() < end)
		event_base_loop(ctx->base, EVLOOP_ONCE);
	if (tick != NULL)
		event_free(tick);
	aws_set_retry(eb->aws, 0, 0, aws_env_max_attempts());
	if (!chk.done) {
		snprintf(err, errlen, "DescribeTaskDefinition %s did not answer in %d s",
		         eb->task_definition, EB_INIT_TIMEOUT_MS / 1000);
		goto fail;
	}
	if (chk.error != 0) {
		snprintf(err, errlen, "task definition %s: %s", eb->task_definition, chk.msg);
		goto fail;
	}
	log_info("ecs_backend cluster=%s task_definition=%s container=%s port=%d region=%s",
	         eb->cluster, eb->task_definition, eb->container, eb->container_port,
	         aws_region(eb->aws));
	*state = eb;
	return 0;
fail:
	free(eb->pace);
	free(eb);
	return -EINVAL;
}

static void
eb_free(void *state)
{
	struct eb *eb = state;
	struct eb_op *op;

	if (eb == NULL)
		return;
	while ((op = TAILQ_FIRST(&eb->ops)) != NULL) {
		if (op->call != NULL)
			ecs_cancel(op->call);
		if (op->ddb_call != NULL)
			aws_call_cancel(op->ddb_call);
		TAILQ_REMOVE(&eb->ops, op, entry);
		if (op->kind == EB_START)
			op->on_start(-ECANCELED, NULL, "", "cancelled", op->arg);
		else if (op->kind == EB_STOP)
			op->on_done(-ECANCELED, "cancelled", op->arg);
		else
			op->on_describe(-ECANCELED, NULL, "cancelled", op->arg);
		op_free(op);
	}
	free(eb->pace);
	free(eb);
}

/* --- start ---------------------------------------------------------------- */

static void run_task(struct eb_op *);

static void
run_again(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_task(arg);
}

static int
retryable(const struct ecs_result *r)
{
	enum aws_retry_class c;
	int e;

	if (r->aws == NULL)
		return 0;
	e = r->aws->error;
	if (e == -ETIMEDOUT || e == -ECONNREFUSED || e == -ECONNRESET || e == -EHOSTUNREACH)
		return 1;
	if (e != -EIO)
		return 0; /* no credentials, no region, a malformed answer */
	c = aws_retry_classify(0, r->aws->status, r->aws->aerr.code);
	return c == AWS_RETRY_THROTTLE || c == AWS_RETRY_TRANSIENT;
}

static void
run_done(const struct ecs_result *r, void *arg)
{
	struct eb_op *op = arg;
	char msg[BACKEND_REASON_MAX + 256];
	long ms;

	op->call = NULL;
	if (r->error != 0) {
		/*
		 * Throttled or transient after the SDK-style retries: the same
		 * clientToken makes another RunTask safe, so keep trying while
		 * the provision may still succeed.
		 */
		ms =
		    aws_retry_backoff_ms(++op->tries, 500, EB_RUN_RETRY_MAX_MS, aws_retry_random());
		if (retryable(r) && clock_mono_ms() + ms < op->deadline_ms &&
		    (op->timer != NULL || (op->timer = evtimer_new(op->eb->base, run_again, op)))) {
			struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
			log_info("ecs_runtask_retry tenant=%s try=%d ms=%ld error=\"%s\"",
			         op->subdomain, op->tries, ms, r->errmsg);
			evtimer_add(op->timer, &tv);
			return;
		}
		log_warnx("ecs_runtask_failed tenant=%s error=\"%s\"", op->subdomain, r->errmsg);
		op->on_start(r->error, NULL, "", r->errmsg, op->arg);
		op_end(op);
		return;
	}
	if (r->n_tasks == 0) {
		/* HTTP 200 and nothing placed: capacity (RESOURCE:*), AGENT, ATTRIBUTE... */
		snprintf(msg, sizeof(msg), "ECS could not place the task: %.128s%s%.200s",
		         r->n_failures > 0 ? r->failures[0].reason : "no task and no failure given",
		         r->n_failures > 0 && r->failures[0].detail[0] != '\0' ? " " : "",
		         r->n_failures > 0 ? r->failures[0].detail : "");
		log_warnx("ecs_runtask_unplaced tenant=%s reason=\"%s\"", op->subdomain, msg);
		op->on_start(-EAGAIN, NULL, "", msg, op->arg);
		op_end(op);
		return;
	}
	op->on_start(0, r->tasks[0].arn, r->tasks[0].container_instance_arn, "", op->arg);
	op_end(op);
}

static void
run_task(struct eb_op *op)
{
	struct eb *eb = op->eb;
	struct ecs_run_task p = {
	    .cluster = eb->cluster,
	    .task_definition = eb->task_definition,
	    .container_name = eb->container,
	    .started_by = op->subdomain,
	    .client_token = op->token,
	    .env = op->env,
	    .n_env = op->n_env,
	};
	struct ecs_kv tag = {"berth:tenant", op->subdomain};
	char err[256];

	p.tags = &tag;
	p.n_tags = 1;
	if ((op->call = aws_ecs_run_task(eb->aws, &p, run_done, op, err, sizeof(err))) == NULL) {
		op->on_start(-EINVAL, NULL, "", err, op->arg);
		op_end(op);
	}
}

static struct eb_op *
op_new(struct eb *eb, enum eb_kind kind, void *arg)
{
	struct eb_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->eb = eb;
	op->kind = kind;
	op->arg = arg;
	TAILQ_INSERT_TAIL(&eb->ops, op, entry);
	return op;
}

static int
eb_start(void *state, const struct backend_spec *spec, backend_start_cb cb, void *arg)
{
	struct eb *eb = state;
	struct ecs_run_task p;
	struct eb_op *op;
	json_t *req;
	char err[256];

	if (spec->n_env > BACKEND_ENV_MAX || spec->client_token == NULL ||
	    spec->client_token[0] == '\0')
		return -EINVAL;
	if ((op = op_new(eb, EB_START, arg)) == NULL)
		return -ENOMEM;
	op->on_start = cb;
	op->deadline_ms = clock_mono_ms() + eb->wait_timeout_ms;
	snprintf(op->subdomain, sizeof(op->subdomain), "%s", spec->subdomain);
	snprintf(op->token, sizeof(op->token), "%s", spec->client_token);
	for (size_t i = 0; i < spec->n_env; i++) {
		op->env_store[2 * i] = strdup(spec->env[i].name);
		op->env_store[2 * i + 1] = strdup(spec->env[i].value);
		op->n_env = i + 1;
		if (op->env_store[2 * i] == NULL || op->env_store[2 * i + 1] == NULL) {
			op_end(op);
			return -ENOMEM;
		}
		op->env[i].name = op->env_store[2 * i];
		op->env[i].value = op->env_store[2 * i + 1];
	}
	/* Refuse bad input now (it would fail the same way on every retry). */
	memset(&p, 0, sizeof(p));
	p.cluster = eb->cluster;
	p.task_definition = eb->task_definition;
	p.container_name = eb->container;
	p.started_by = op->subdomain;
	p.client_token = op->token;
	p.env = op->env;
	p.n_env = op->n_env;
	if ((req = ecs_run_task_request(&p, err, sizeof(err))) == NULL) {
		log_warnx("ecs_runtask_refused tenant=%s error=\"%s\"", op->subdomain, err);
		op_end(op);
		return -EINVAL;
	}
	json_decref(req);
	run_task(op);
	return 0;
}

/* --- stop ----------------------------------------------------------------- */

/* A task ECS no longer knows is stopped already. */
static int
task_gone(const struct ecs_result *r)
{
	return r->aws != NULL && strcmp(r->aws->aerr.code, "InvalidParameterException") == 0 &&
	       strstr(r->aws->aerr.message, "not found") != NULL;
}

static void
stop_done(const struct ecs_result *r, void *arg)
{
	struct eb_op *op = arg;

	op->call = NULL;
	if (r->error == 0 || task_gone(r))
		op->on_done(0, "", op->arg);
	else
		op->on_done(r->error, r->errmsg, op->arg);
	op_end(op);
}

/*
 * A stop with no task ARN: RunTask never answered, yet ECS may have started
 * the task. ListTasks by startedBy (the subdomain) finds it; each is stopped.
 */
static void orphan_next(struct eb_op *);

static void
orphan_stopped(const struct ecs_result *r, void *arg)
{
	struct eb_op *op = arg;
	const char *arn = op->orphans[op->orphan_i - 1];

	op->call = NULL;
	if (r->error == 0 || task_gone(r)) {
		log_info("ecs_orphan_stopped tenant=%s task=%s", op->subdomain, arn);
	} else {
		log_warnx("ecs_orphan_stop_failed tenant=%s task=%s error=\"%s\"", op->subdomain,
		          arn, r->errmsg);
		op->orphan_error = r->error;
		snprintf(op->orphan_msg, sizeof(op->orphan_msg), "%.200s", r->errmsg);
	}
	orphan_next(op);
}

static void
orphan_next(struct eb_op *op)
{
	struct eb *eb = op->eb;

	while (op->orphan_i < op->n_orphans) {
		const char *arn = op->orphans[op->orphan_i++];

		if ((op->call = aws_ecs_stop_task(eb->aws, eb->cluster, arn,
		                                  "berth: its RunTask was never answered",
		                                  orphan_stopped, op)) != NULL)
			return;
		op->orphan_error = -ENOMEM;
		snprintf(op->orphan_msg, sizeof(op->orphan_msg), "cannot start StopTask");
	}
	op->on_done(op->orphan_error, op->orphan_error != 0 ? op->orphan_msg : "", op->arg);
	op_end(op);
}

static void
orphans_listed(const struct ecs_result *r, void *arg)
{
	struct eb_op *op = arg;

	op->call = NULL;
	if (r->error != 0) {
		log_warnx("ecs_orphan_lookup_failed tenant=%s error=\"%s\"", op->subdomain,
		          r->errmsg);
		if (op->n_orphans > 0) { /* the pages read so far are stopped all the same */
			orphan_next(op);
			return;
		}
		op->on_done(r->error, r->errmsg, op->arg);
		op_end(op);
		return;
	}
	if (r->n_task_arns > 0) {
		void *v = realloc(op->orphans,
		                  (size_t)(op->n_orphans + r->n_task_arns) * sizeof(*op->orphans));

		if (v == NULL) {
			op->on_done(-ENOMEM, "out of memory", op->arg);
			op_end(op);
			return;
		}
		op->orphans = v;
		memcpy(op->orphans + op->n_orphans, r->task_arns,
		       (size_t)r->n_task_arns * sizeof(*op->orphans));
		op->n_orphans += r->n_task_arns;
	}
	/* Every page first: stopping changes what a later page would hold. */
	if (r->next_token[0] != '\0' && ++op->pages < ECS_LIST_PAGES_MAX) {
		if ((op->call = aws_ecs_list_tasks(op->eb->aws, op->eb->cluster, op->subdomain,
		                                   r->next_token, orphans_listed, op)) != NULL)
			return;
		log_warnx("ecs_orphan_lookup_failed tenant=%s error=\"cannot start ListTasks\"",
		          op->subdomain);
	}
	if (op->n_orphans == 0) {
		log_info("ecs_stop_no_task tenant=%s", op->subdomain);
		op->on_done(0, "", op->arg);
		op_end(op);
		return;
	}
	orphan_next(op);
}

static int
eb_stop(void *state, const char *subdomain, long long created_ms, const char *task,
        backend_done_cb cb, void *arg)
{
	struct eb *eb = state;
	struct eb_op *op;

	(void)created_ms; /* the task ARN, or startedBy = subdomain, names the task */
	if ((op = op_new(eb, EB_STOP, arg)) == NULL)
		return -ENOMEM;
	op->on_done = cb;
	snprintf(op->subdomain, sizeof(op->subdomain), "%s", subdomain != NULL ? subdomain : "");
	if (task == NULL || task[0] == '\0') {
		if (op->subdomain[0] == '\0' ||
		    (op->call = aws_ecs_list_tasks(eb->aws, eb->cluster, op->subdomain, NULL,
		                                   orphans_listed, op)) == NULL) {
			op_end(op);
			return -ENOMEM;
		}
		return 0;
	}
	op->call =
	    aws_ecs_stop_task(eb->aws, eb->cluster, task, "berth: tenant deleted", stop_done, op);
	if (op->call == NULL) {
		op_end(op);
		return -ENOMEM;
	}
	return 0;
}

/* --- describe -------------------------------------------------------------- */

static struct eb_pace *
pace_find(struct eb *eb, const char *task, int create)
{
	struct eb_pace *p;

	for (size_t i = 0; i < EB_PACE_MAX; i++)
		if (eb->pace[i].task[0] != '\0' && strcmp(eb->pace[i].task, task) == 0)
			return &eb->pace[i];
	if (!create)
		return NULL;
	p = &eb->pace[eb->pace_next];
	eb->pace_next = (eb->pace_next + 1) % EB_PACE_MAX;
	memset(p, 0, sizeof(*p));
	snprintf(p->task, sizeof(p->task), "%s", task);
	p->interval_ms = EB_DESCRIBE_FIRST_MS;
	p->last.state = BACKEND_PENDING;
	return p;
}

static void
map_task(const struct ecs_task *t, int port, struct backend_task *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(t->last_status, "STOPPED") == 0 || strcmp(t->desired_status, "STOPPED") == 0) {
		out->state = BACKEND_STOPPED;
		snprintf(out->reason, sizeof(out->reason), "%.40s%s%.200s",
		         t->stop_code[0] != '\0' ? t->stop_code : "stopped",
		         t->stopped_reason[0] != '\0' ? ": " : "", t->stopped_reason);
		return;
	}
	out->state = BACKEND_PENDING;
	if (strcmp(t->last_status, "RUNNING") != 0)
		return;
	out->state = BACKEND_RUNNING;
	for (int c = 0; c < t->n_containers; c++)
		for (int b = 0; b < t->containers[c].n_bindings; b++) {
			const struct ecs_binding *eb = &t->containers[c].bindings[b];
			if (eb->container_port == port && strcmp(eb->protocol, "tcp") == 0) {
				out->host_port = eb->host_port;
				return;
			}
		}
}

static void
describe_done(const struct ecs_result *r, void *arg)
{
	struct eb_op *op = arg;
	struct eb_pace *p;
	struct backend_task t;

	op->call = NULL;
	if (r->error != 0) {
		op->on_describe(r->error, NULL, r->errmsg, op->arg);
		op_end(op);
		return;
	}
	memset(&t, 0, sizeof(t));
	if (r->n_tasks > 0) {
		map_task(&r->tasks[0], op->container_port, &t);
	} else {
		t.state = BACKEND_MISSING;
		snprintf(t.reason, sizeof(t.reason), "%s",
		         r->n_failures > 0 ? r->failures[0].reason : "MISSING");
	}
	if ((p = pace_find(op->eb, op->task, 1)) != NULL)
		p->last = t;
	op->on_describe(0, &t, "", op->arg);
	op_end(op);
}

static void
describe_cached(evutil_socket_t fd, short what, void *arg)
{
	struct eb_op *op = arg;
	struct eb_pace *p = pace_find(op->eb, op->task, 0);
	struct backend_task t;

	(void)fd;
	(void)what;
	memset(&t, 0, sizeof(t));
	if (p != NULL)
		t = p->last;
	else
		t.state = BACKEND_PENDING;
	op->on_describe(0, &t, "", op->arg);
	op_end(op);
}

/* DescribeTasks, paced per task; answers from the last result when too soon. */
static int
describe_ecs(struct eb_op *op)
{
	struct eb *eb = op->eb;
	struct eb_pace *p;
	const char *tasks[1];
	const char *task = op->task;
	int64_t now = clock_mono_ms();

	p = pace_find(eb, task, 1);
	if (p->next_ms > now && p->last.state != BACKEND_RUNNING) {
		/* Too soon for this task: answer what was last seen, from the loop. */
		struct timeval tv = {0, 0};
		if ((op->timer = evtimer_new(eb->base, describe_cached, op)) == NULL) {
			op_end(op);
			return -ENOMEM;
		}
		evtimer_add(op->timer, &tv);
		return 0;
	}
	p->next_ms = now + p->interval_ms;
	p->interval_ms = p->interval_ms * 3 / 2;
	if (p->interval_ms > EB_DESCRIBE_MAX_MS)
		p->interval_ms = EB_DESCRIBE_MAX_MS;
	tasks[0] = task;
	if ((op->call = aws_ecs_describe_tasks(eb->aws, eb->cluster, tasks, 1, describe_done,
	                                       op)) == NULL) {
		op_end(op);
		return -ENOMEM;
	}
	return 0;
}

/* From a callback: DescribeTasks, or an error answer when it cannot start. */
static void
describe_or_fail(struct eb_op *op)
{
	backend_describe_cb cb = op->on_describe;
	void *arg = op->arg;

	if (describe_ecs(op) != 0) /* op is gone */
		cb(-ENOMEM, NULL, "DescribeTasks could not start", arg);
}

/* The binding item a sidecar synced: RUNNING with a host port answers at once. */
static void
binding_item_done(const struct aws_result *r, void *arg)
{
	struct eb_op *op = arg;
	json_t *item;
	struct binding b;
	struct backend_task t;
	int ok;

	op->ddb_call = NULL;
	if (r->error == 0 && (item = ddb_item_to_json(json_object_get(r->body, "Item"))) != NULL) {
		ok = item_binding(item, &b) == 0 && b.status == BINDING_RUNNING && b.host_port > 0;
		json_decref(item);
		if (ok) {
			memset(&t, 0, sizeof(t));
			t.state = BACKEND_RUNNING;
			t.host_port = b.host_port;
			snprintf(t.host_ip, sizeof(t.host_ip), "%s", b.host_ip);
			op->on_describe(0, &t, "", op->arg);
			op_end(op);
			return;
		}
	} else if (r->error != 0) {
		log_debug("ecs_binding_lookup_failed task=%s error=\"%s\"", op->task, r->aerr.code);
	}
	describe_or_fail(op);
}

static int
eb_describe(void *state, const char *task, int container_port, backend_describe_cb cb, void *arg)
{
	struct eb *eb = state;
	struct eb_op *op;
	char key[ITEM_KEY_MAX];

	if (task == NULL || task[0] == '\0' || strlen(task) >= ECS_ARN_MAX)
		return -EINVAL;
	if ((op = op_new(eb, EB_DESCRIBE, arg)) == NULL)
		return -ENOMEM;
	op->on_describe = cb;
	op->container_port = container_port;
	snprintf(op->task, sizeof(op->task), "%s", task);
	if (eb->table[0] == '\0')
		return describe_ecs(op);
	if (item_binding_key(task, eb->container, container_port, "tcp", key, sizeof(key)) != 0 ||
	    (op->ddb_call = ddb_get_item(eb->aws, eb->table, item_key_av(key), 1, binding_item_done,
	                                 op)) == NULL)
		return describe_ecs(op);
	return 0;
}

const struct backend_ops backend_ecs = {
    .name = "ecs",
    .local = 0,
    .aws = 1,
    .init = eb_init,
    .free = eb_free,
    .start = eb_start,
    .stop = eb_stop,
    .describe = eb_describe,
};
