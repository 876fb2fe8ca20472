/*
 * tracker: Docker events and inspects -> registry bindings.
 *
 * Three queues keep the event reader from ever waiting:
 *  - the container table (in memory, here) records what each event said,
 *    with a sequence number, so late inspect answers and reconciles never
 *    undo a newer event;
 *  - inspects go out asynchronously, at most INSPECT_INFLIGHT at a time
 *    (here);
 *  - registry writes are queued and committed in one transaction per loop
 *    turn (sidecar/commit.c), retried after REGISTRY_RETRY_MS when SQLite is
 *    busy.
 * Reconciles against Docker's container list and the ECS agent's task list
 * are sidecar/reconcile.c's.
 */
#include "sidecar/tracker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/docker.h"
#include "core/evcurl.h"
#include "core/log.h"
#include "registry/registry.h"
#include "sidecar/agent.h"
#include "sidecar/tracker_int.h"

/* ---- container table ---- */

static unsigned
ctr_hash(const char *id)
{
	unsigned h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % CTR_BUCKETS;
}

struct ctr *
ctr_get(struct tracker *t, const char *id, int create)
{
	unsigned h = ctr_hash(id);
	struct ctr *c;

	for (c = t->ctrs[h]; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	if (!create || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->next = t->ctrs[h];
	t->ctrs[h] = c;
	return c;
}

/* Frees c and the inspect it still had waiting (nothing left to learn). */
void
ctr_free(struct tracker *t, struct ctr *c)
{
	if (c->queued != NULL) {
		TAILQ_REMOVE(&t->waiting, c->queued, entry);
		free(c->queued);
	}
	free(c);
}

void
ctr_del(struct tracker *t, const char *id)
{
	struct ctr **pp, *c;

	for (pp = &t->ctrs[ctr_hash(id)]; (c = *pp) != NULL; pp = &c->next)
		if (strcmp(c->id, id) == 0) {
			*pp = c->next;
			ctr_free(t, c);
			return;
		}
}

/* ---- inspect ---- */

static void inspect_pump(struct tracker *);

int
internal(const struct docker_container *c)
{
	return strncmp(c->ecs.container_name, INTERNAL_PREFIX, strlen(INTERNAL_PREFIX)) == 0;
}

int
running(const char *state)
{
	return strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
	       strcmp(state, "restarting") == 0;
}

/* Fills the fields a binding shares across its ports. */
static void
binding_base(struct tracker *t, const struct docker_container *c, struct binding *b)
{
	memset(b, 0, sizeof(*b));
	/* A plain container (no ECS labels) is keyed by its ID. */
	snprintf(b->task_arn, sizeof(b->task_arn), "%s",
	         c->ecs.task_arn[0] != '\0' ? c->ecs.task_arn : c->id);
	snprintf(b->container_name, sizeof(b->container_name), "%s",
	         c->ecs.container_name[0] != '\0' ? c->ecs.container_name : c->name);
	snprintf(b->container_id, sizeof(b->container_id), "%s", c->id);
	/* A tenant longer than a subdomain can be is not a tenant: leave it empty. */
	if (c->has_env && strlen(c->env_value) < sizeof(b->tenant))
		memcpy(b->tenant, c->env_value, strlen(c->env_value) + 1);
	/* The cluster label may hold an ARN: store the short name. */
	if (c->ecs.cluster[0] != '\0')
		agent_cluster_short(c->ecs.cluster, b->cluster, sizeof(b->cluster));
	else
		snprintf(b->cluster, sizeof(b->cluster), "%s", t->cluster);
	snprintf(b->family, sizeof(b->family), "%s", c->ecs.family);
	snprintf(b->revision, sizeof(b->revision), "%s", c->ecs.revision);
	b->started_at = c->started_at_ms;
}

static void
binding_port(struct tracker *t, const struct docker_port *p, struct binding *b)
{
	b->container_port = p->container_port;
	snprintf(b->protocol, sizeof(b->protocol), "%s", p->proto);
	/* A wildcard binding is reached on the host's address. */
	if (p->host_ip[0] == '\0' || strcmp(p->host_ip, "0.0.0.0") == 0 ||
	    strcmp(p->host_ip, "::") == 0)
		snprintf(b->host_ip, sizeof(b->host_ip), "%s", t->host_ip);
	else
		snprintf(b->host_ip, sizeof(b->host_ip), "%s", p->host_ip);
	b->host_port = p->host_port;
	b->host_port_v6 = p->host_port_v6;
}

static void
inspect_result(struct tracker *t, struct ireq *q, const struct docker_resp *r,
               const struct docker_container *c)
{
	struct ctr *k = ctr_get(t, q->id, 0);
	int reconcile = q->reason == R_RECONCILE || q->reason == R_AGENT;
	struct binding base;
	struct op *o;

	metric_inc(t->m.inspects);
	if (r->error == -ECANCELED)
		return;
	if (r->status == 404) {
		/* Gone before we looked: whatever rows it had are removed. */
		if ((o = commit_op(t, OP_REMOVED, q->id)) != NULL) {
			o->when_ms = registry_now_ms();
			o->reconcile = reconcile;
		}
		ctr_del(t, q->id);
		return;
	}
	if (c == NULL) {
		metric_inc(t->m.inspect_errors);
		log_warnx("docker_inspect_failed container=%.12s status=%ld error=\"%s\"", q->id,
		          r->status, r->message);
		return;
	}
	if (k == NULL && !reconcile)
		return; /* destroyed since the event */
	if (reconcile && k != NULL && k->last_seq > q->seq)
		return; /* a newer event is being handled */
	if (internal(c))
		return;
	binding_base(t, c, &base);
	if (q->reason == R_CREATE) {
		/* Since agent 1.70 PortBindings already holds the host port: provisional. */
		if (strcmp(c->state, "created") != 0 || (k != NULL && k->start_seq > q->seq))
			return;
		base.status = BINDING_PROVISIONAL;
		for (int i = 0; i < c->nrequested; i++) {
			if ((o = commit_op(t, OP_UPSERT, c->id)) == NULL)
				return;
			*o->b = base;
			binding_port(t, &c->requested[i], o->b);
			o->event_ns = q->event_ns;
			o->read_ns = q->read_ns;
		}
		return;
	}
	if (running(c->state) && (k == NULL || !k->dead)) {
		base.status = BINDING_RUNNING;
	} else {
		/* Exited (ports are {} by now) or died while we asked. */
		base.status = BINDING_STOPPED;
		base.has_exit_code = 1;
		base.exit_code = k != NULL && k->has_exit ? k->exit_code : c->exit_code;
		base.stopped_at = c->finished_at_ms != 0 ? c->finished_at_ms : registry_now_ms();
		if ((o = commit_op(t, OP_STOPPED, c->id)) != NULL) {
			o->has_exit = 1;
			o->exit_code = base.exit_code;
			o->when_ms = base.stopped_at;
			o->reconcile = reconcile;
		}
	}
	/* No published port: no row. */
	for (int i = 0; i < c->nports; i++) {
		if ((o = commit_op(t, OP_UPSERT, c->id)) == NULL)
			return;
		*o->b = base;
		binding_port(t, &c->ports[i], o->b);
		o->event_ns = q->event_ns;
		o->read_ns = q->read_ns;
		o->inspected_ns = clock_real_ns();
		o->reconcile = reconcile;
	}
}

static void
inspect_done(const struct docker_resp *r, const struct docker_container *c, void *arg)
{
	struct ireq *q = arg;
	struct tracker *t = q->t;

	TAILQ_REMOVE(&t->inflight, q, entry);
	t->ninflight--;
	if (!t->closing)
		inspect_result(t, q, r, c);
	free(q);
	if (!t->closing)
		inspect_pump(t);
}

static void
inspect_pump(struct tracker *t)
{
	struct ireq *q;

	while (t->ninflight < INSPECT_INFLIGHT && (q = TAILQ_FIRST(&t->waiting)) != NULL) {
		struct ctr *k = ctr_get(t, q->id, 0);

		TAILQ_REMOVE(&t->waiting, q, entry);
		if (k != NULL && k->queued == q)
			k->queued = NULL;
		/* Died before we asked: Docker has already released its ports. */
		if (q->reason == R_START && k != NULL && k->dead) {
			free(q);
			continue;
		}
		TAILQ_INSERT_TAIL(&t->inflight, q, entry);
		t->ninflight++;
		if ((q->x = docker_inspect(t->docker, q->id, inspect_done, q)) == NULL) {
			TAILQ_REMOVE(&t->inflight, q, entry);
			t->ninflight--;
			metric_inc(t->m.inspect_errors);
			log_warnx("docker_inspect_not_started container=%.12s", q->id);
			free(q);
		}
	}
}

void
tracker_inspect(struct tracker *t, const char *id, enum reason reason, uint64_t seq,
                int64_t event_ns)
{
	struct ctr *k = ctr_get(t, id, 0);
	struct ireq *q;

	/*
	 * One waiting inspect per container: a storm of events costs one
	 * request each. An event supersedes what is waiting (a start its
	 * create); a reconcile or the agent never supersedes an event.
	 */
	if (k != NULL && (q = k->queued) != NULL) {
		if (reason == R_START || reason == R_CREATE) {
			if (q->reason != R_START && q->reason != R_CREATE) {
				TAILQ_REMOVE(&t->waiting, q, entry);
				TAILQ_INSERT_HEAD(&t->waiting, q, entry);
			}
		} else if (q->reason == R_START || q->reason == R_CREATE) {
			return;
		}
		q->reason = reason;
		q->seq = seq;
		q->event_ns = event_ns;
		q->read_ns = event_ns != 0 ? clock_real_ns() : 0;
		return;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return;
	q->t = t;
	snprintf(q->id, sizeof(q->id), "%s", id);
	q->reason = reason;
	q->seq = seq;
	q->event_ns = event_ns;
	q->read_ns = event_ns != 0 ? clock_real_ns() : 0;
	/* Event inspects go before reconcile ones. */
	if (reason == R_START || reason == R_CREATE)
		TAILQ_INSERT_HEAD(&t->waiting, q, entry);
	else
		TAILQ_INSERT_TAIL(&t->waiting, q, entry);
	if (k != NULL)
		k->queued = q;
	inspect_pump(t);
}

/* ---- events ---- */

static const char *const event_names[EK__N] = {"create", "start", "die", "destroy", "other"};

static enum event_kind
event_kind(const char *action)
{
	for (int i = 0; i < EK_OTHER; i++)
		if (strcmp(action, event_names[i]) == 0)
			return (enum event_kind)i;
	/* Podman's Docker-compatible API says "died" and "remove". */
	if (strcmp(action, "died") == 0)
		return EK_DIE;
	if (strcmp(action, "remove") == 0)
		return EK_DESTROY;
	return EK_OTHER;
}

/* Docker's count of event lines it dropped (over-long, unparsable), as a counter. */
static void
count_dropped(struct tracker *t)
{
	uint64_t n = docker_dropped_lines(t->docker);

	if (n > t->dropped_seen)
		metric_add(t->m.dropped, n - t->dropped_seen);
	t->dropped_seen = n;
}

static void
on_event(const struct docker_event *e, void *arg)
{
	struct tracker *t = arg;
	enum event_kind kind = event_kind(e->action);
	struct ctr *k;
	struct op *o;

	metric_inc(t->m.events[kind]);
	count_dropped(t);
	backoff_reset(&t->backoff);
	if (e->time_nano > t->last_ns)
		t->last_ns = e->time_nano;
	if (strcmp(e->type, "container") != 0 || kind == EK_OTHER)
		return;
	t->seq++;
	k = ctr_get(t, e->id, kind == EK_CREATE || kind == EK_START);
	if (k != NULL)
		k->last_seq = t->seq;
	switch (kind) {
	case EK_CREATE:
		if (k != NULL)
			k->dead = 0;
		tracker_inspect(t, e->id, R_CREATE, t->seq, e->time_nano);
		break;
	case EK_START:
		if (k != NULL) {
			k->dead = k->has_exit = 0;
			k->start_seq = t->seq;
		}
		tracker_inspect(t, e->id, R_START, t->seq, e->time_nano);
		break;
	case EK_DIE:
		if (k != NULL) {
			k->dead = 1;
			k->has_exit = e->has_exit_code;
			k->exit_code = e->exit_code;
		}
		if ((o = commit_op(t, OP_STOPPED, e->id)) != NULL) {
			o->has_exit = e->has_exit_code;
			o->exit_code = e->exit_code;
			o->when_ms = e->time_nano / 1000000;
			o->event_ns = e->time_nano;
		}
		break;
	case EK_DESTROY:
		if ((o = commit_op(t, OP_REMOVED, e->id)) != NULL) {
			o->when_ms = e->time_nano / 1000000;
			o->event_ns = e->time_nano;
		}
		ctr_del(t, e->id);
		break;
	default:
		break;
	}
}

void
schedule_connect(struct tracker *t)
{
	struct timeval tv;
	long ms;

	if (t->closing)
		return;
	ms = backoff_next(&t->backoff);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(t->connect_ev, &tv);
}

static void
on_end(int error, const char *message, void *arg)
{
	struct tracker *t = arg;

	t->stream = NULL;
	t->stream_up = 0;
	t->reconciled = 0;
	t->state = "reconnecting";
	metric_inc(t->m.reconnects);
	count_dropped(t);
	log_warnx("docker_stream_lost error=%d reason=\"%s\" retry_ms=%ld", error, message,
	          backoff_peek(&t->backoff));
	schedule_connect(t);
}

/*
 * The events filter: container lifecycle actions, narrowed by --label-filter.
 * Podman's Docker-compatible API names two of them "died" and "remove", and
 * matches its filter by its own names: both spellings are asked for.
 */
static char *
events_filter(struct tracker *t)
{
	json_t *f = json_pack("{s:[s], s:[s,s,s,s,s,s]}", "type", "container", "event", "create",
	                      "start", "die", "destroy", "died", "remove");
	char *s;

	if (f == NULL)
		return NULL;
	if (t->label_filter[0] != '\0')
		json_object_set_new(f, "label", json_pack("[s]", t->label_filter));
	s = json_dumps(f, JSON_COMPACT);
	json_decref(f);
	return s;
}

static void
on_ping(const struct docker_resp *r, void *arg)
{
	struct tracker *t = arg;
	char since[48], *filter;

	t->ping = NULL;
	if (r->error == -ECANCELED)
		return;
	if (r->error != 0 || r->status != 200) {
		t->state = "unreachable";
		log_warnx("docker_ping_failed status=%ld error=\"%s\" retry_ms=%ld", r->status,
		          r->message, backoff_peek(&t->backoff));
		schedule_connect(t);
		return;
	}
	/*
	 * Replay what we missed with since=. Docker keeps only the last 256
	 * events, so the reconcile that follows covers anything older.
	 */
	if (t->last_ns == 0)
		t->last_ns = clock_real_ns();
	snprintf(since, sizeof(since), "%lld.%09lld", (long long)(t->last_ns / 1000000000),
	         (long long)(t->last_ns % 1000000000));
	filter = events_filter(t);
	t->stream = docker_events_start(t->docker, since, filter, on_event, on_end, t);
	free(filter);
	if (t->stream == NULL) {
		log_warnx("docker_events_not_started");
		schedule_connect(t);
		return;
	}
	t->stream_up = 1;
	t->state = "reconciling";
	log_info("docker_connected api=%s since=%s", docker_api_version(t->docker), since);
	reconcile_start(t);
}

void
connect_docker(struct tracker *t)
{
	if (t->ping != NULL || t->stream != NULL || t->closing)
		return;
	if ((t->ping = docker_ping(t->docker, on_ping, t)) == NULL) {
		log_warnx("docker_ping_not_started");
		schedule_connect(t);
	}
}

void
connect_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_docker(arg);
}

/* ---- lifetime ---- */

/* Upper bounds in seconds of event -> commit; the target is p99 <= 5 ms. */
static const double commit_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,   1,     2.5,  5,     10};

static void
register_metrics(struct tracker *t, struct metrics *ms)
{
	char label[32];

	for (int i = 0; i < EK__N; i++) {
		snprintf(label, sizeof(label), "type=\"%s\"", event_names[i]);
		t->m.events[i] = metrics_counter(ms, "berth_sidecar_events_total",
		                                 "Docker container events read, by action.", label);
	}
	t->m.dropped = metrics_counter(ms, "berth_sidecar_events_dropped_total",
	                               "Event lines dropped (over-long or unparsable).", NULL);
	t->m.reconnects = metrics_counter(ms, "berth_sidecar_reconnects_total",
	                                  "Docker event stream reconnects.", NULL);
	t->m.reconciles = metrics_counter(ms, "berth_sidecar_reconciles_total",
	                                  "Full reconciles against Docker.", NULL);
	t->m.fixed = metrics_counter(ms, "berth_sidecar_reconcile_rows_fixed_total",
	                             "Registry rows a reconcile (Docker or agent) changed.", NULL);
	t->m.inspects =
	    metrics_counter(ms, "berth_sidecar_inspects_total", "Docker inspects made.", NULL);
	t->m.inspect_errors =
	    metrics_counter(ms, "berth_sidecar_inspect_errors_total",
	                    "Docker inspects that failed (other than 404).", NULL);
	t->m.commits = metrics_counter(ms, "berth_sidecar_commits_total",
	                               "Registry write transactions.", NULL);
	t->m.commit_errors =
	    metrics_counter(ms, "berth_sidecar_commit_errors_total",
	                    "Registry write transactions that failed (retried).", NULL);
	t->m.event_to_commit =
	    metrics_histogram(ms, "berth_sidecar_event_to_commit_seconds",
	                      "From the Docker event's timeNano to the registry commit.",
	                      commit_bounds, sizeof(commit_bounds) / sizeof(commit_bounds[0]));
}

struct tracker *
tracker_new(struct event_base *base, struct docker *docker, struct registry *reg,
            const struct tracker_conf *conf)
{
	struct tracker *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->base = base;
	t->docker = docker;
	t->reg = reg;
	if (conf->label_filter != NULL)
		snprintf(t->label_filter, sizeof(t->label_filter), "%s", conf->label_filter);
	t->interval = conf->reconcile_interval;
	t->backoff = (struct backoff)BACKOFF_INIT(BACKOFF_MIN_MS, BACKOFF_MAX_MS);
	register_metrics(t, conf->metrics);
	t->state = "starting";
	TAILQ_INIT(&t->waiting);
	TAILQ_INIT(&t->inflight);
	TAILQ_INIT(&t->ops);
	if ((t->flush_ev = event_new(base, -1, 0, commit_event, t)) == NULL ||
	    (t->retry_ev = evtimer_new(base, commit_event, t)) == NULL ||
	    (t->connect_ev = evtimer_new(base, connect_event, t)) == NULL ||
	    (t->reconcile_ev = evtimer_new(base, reconcile_event, t)) == NULL) {
		tracker_free(t);
		return NULL;
	}
	return t;
}

void
tracker_free(struct tracker *t)
{
	struct ireq *q;
	struct op *o;

	if (t == NULL)
		return;
	t->closing = 1;
	if (t->stream != NULL)
		docker_events_stop(t->stream);
	if (t->ping != NULL)
		evcurl_cancel(t->ping);
	if (t->list != NULL)
		evcurl_cancel(t->list);
	while ((q = TAILQ_FIRST(&t->inflight)) != NULL)
		evcurl_cancel(q->x); /* inspect_done unlinks and frees */
	for (int i = 0; i < CTR_BUCKETS; i++) {
		struct ctr *k, *next;

		for (k = t->ctrs[i]; k != NULL; k = next) {
			next = k->next;
			ctr_free(t, k);
		}
		t->ctrs[i] = NULL;
	}
	while ((q = TAILQ_FIRST(&t->waiting)) != NULL) {
		TAILQ_REMOVE(&t->waiting, q, entry);
		free(q);
	}
	if (t->reg != NULL)
		commit_flush(t);
	while ((o = TAILQ_FIRST(&t->ops)) != NULL) {
		log_warnx("tracker_write_lost container=%.12s", o->id);
		TAILQ_REMOVE(&t->ops, o, entry);
		free(o->b);
		free(o);
	}
	if (t->flush_ev != NULL)
		event_free(t->flush_ev);
	if (t->retry_ev != NULL)
		event_free(t->retry_ev);
	if (t->connect_ev != NULL)
		event_free(t->connect_ev);
	if (t->reconcile_ev != NULL)
		event_free(t->reconcile_ev);
	free(t);
}

void
tracker_on_commit(struct tracker *t, tracker_commit_cb cb, void *arg)
{
	t->commit_cb = cb;
	t->commit_arg = arg;
}

void
tracker_set_host_ip(struct tracker *t, const char *ip)
{
	snprintf(t->host_ip, sizeof(t->host_ip), "%s", ip);
}

void
tracker_set_cluster(struct tracker *t, const char *cluster)
{
	snprintf(t->cluster, sizeof(t->cluster), "%s", cluster);
}

void
tracker_start(struct tracker *t)
{
	struct timeval tv = {t->interval, 0};

	connect_docker(t);
	if (t->interval > 0)
		evtimer_add(t->reconcile_ev, &tv);
}

int
tracker_connected(const struct tracker *t)
{
	return t->stream_up && t->reconciled;
}

const char *
tracker_docker_state(const struct tracker *t)
{
	return t->state;
}

int64_t
tracker_last_event_ns(const struct tracker *t)
{
	return t->last_ns;
}
