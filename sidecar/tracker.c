/*
 * tracker: Docker events and inspect -> registry bindings.
 *
 * Three queues keep the event reader from ever waiting:
 *  - the container table (in memory) records what each event said, with a
 *    sequence number, so late inspect answers and reconciles never undo a
 *    newer event;
 *  - inspects go out asynchronously, at most INSPECT_INFLIGHT at a time;
 *  - registry writes are queued and committed in one transaction per loop
 *    turn (flush_ev), retried after REGISTRY_RETRY_MS when SQLite is busy.
 */
#include "sidecar/tracker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/docker.h"
#include "core/evcurl.h"
#include "core/log.h"
#include "registry/registry.h"
#include "sidecar/agent.h"
#include "sidecar/metrics.h"

#define CTR_BUCKETS        4096
#define INSPECT_INFLIGHT   16
#define BACKOFF_MIN_MS     250
#define BACKOFF_MAX_MS     5000
#define REGISTRY_RETRY_MS  100
#define REGISTRY_WARN_MS   10000 /* a failing commit is logged once per this */
#define RECONCILE_RETRY_MS 1000
#define INTERNAL_PREFIX    "~internal~" /* the agent's pause containers */
#define TENANT_ENV         "BERTH_TENANT"

/* What the events said about one container. */
struct ctr {
	struct ctr *next;
	char id[DOCKER_ID_MAX];
	uint64_t last_seq;  /* of the newest event for it */
	uint64_t start_seq; /* of the newest start */
	int dead, has_exit, exit_code;
	unsigned gen;        /* reconcile generation that last listed it */
	struct ireq *queued; /* its inspect waiting to be sent, if any */
};

enum reason { R_CREATE, R_START, R_RECONCILE, R_AGENT };

struct ireq {
	TAILQ_ENTRY(ireq) entry;
	struct tracker *t;
	struct evcurl_xfer *x;
	char id[DOCKER_ID_MAX];
	enum reason reason;
	uint64_t seq;
	int64_t event_ns; /* Docker's timeNano of the event */
	int64_t read_ns;  /* when we read that event */
};
TAILQ_HEAD(ireq_list, ireq);

enum op_kind { OP_UPSERT, OP_STOPPED, OP_REMOVED };

struct op {
	TAILQ_ENTRY(op) entry;
	enum op_kind kind;
	struct binding *b; /* OP_UPSERT only: a binding is ~1.7 KiB, stops and removals are many */
	char id[DOCKER_ID_MAX];
	int has_exit, exit_code;
	int64_t when_ms;
	int64_t event_ns;     /* Docker timeNano behind this write; 0 if none */
	int64_t read_ns;      /* when the event was read (debug log) */
	int64_t inspected_ns; /* when Docker answered the inspect (debug log) */
	int reconcile;        /* a reconcile found this difference */
	int changed;          /* rows this op changed, once applied */
};
TAILQ_HEAD(op_list, op);

/* One registry row, as a reconcile compares it. */
struct row {
	char id[REG_ID_MAX];
	int port;
	char proto[REG_PROTO_MAX];
	int host_port;
	int status;
};

struct tracker {
	struct event_base *base;
	struct docker *docker;
	struct registry *reg;
	char label_filter[512];
	int interval;
	char host_ip[REG_IP_MAX];
	char cluster[REG_NAME_MAX];
	tracker_commit_cb commit_cb;
	void *commit_arg;

	struct ctr *ctrs[CTR_BUCKETS];
	uint64_t seq;
	unsigned gen;

	struct ireq_list waiting, inflight;
	int ninflight;
	struct op_list ops;
	struct event *flush_ev, *retry_ev;
	int64_t fail_since_ms, fail_logged_ms; /* commits failing since (0: they land) */
	unsigned long fail_tries;

	struct docker_events *stream;
	struct evcurl_xfer *ping, *list;
	struct event *connect_ev, *reconcile_ev;
	int stream_up, reconciled, backoff_ms, reconcile_again, ever_connected;
	uint64_t list_seq;
	int64_t last_ns;
	const char *state;
	int closing;
};

static void connect_docker(struct tracker *);
static void reconcile_start(struct tracker *);

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- container table ---- */

static unsigned
ctr_hash(const char *id)
{
	unsigned h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % CTR_BUCKETS;
}

static struct ctr *
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
static void
ctr_free(struct tracker *t, struct ctr *c)
{
	if (c->queued != NULL) {
		TAILQ_REMOVE(&t->waiting, c->queued, entry);
		free(c->queued);
	}
	free(c);
}

static void
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

/* ---- registry writes ---- */

static void
flush_later(struct tracker *t)
{
	if (!event_pending(t->retry_ev, EV_TIMEOUT, NULL))
		event_active(t->flush_ev, 0, 0);
}

static struct op *
op_new(struct tracker *t, enum op_kind kind, const char *id)
{
	struct op *o;

	if ((o = calloc(1, sizeof(*o))) == NULL ||
	    (kind == OP_UPSERT && (o->b = malloc(sizeof(*o->b))) == NULL)) {
		log_warnx("tracker_oom op=%d container=%.12s", kind, id);
		free(o);
		return NULL;
	}
	o->kind = kind;
	snprintf(o->id, sizeof(o->id), "%s", id);
	TAILQ_INSERT_TAIL(&t->ops, o, entry);
	flush_later(t);
	return o;
}

/* Applies one op inside the open transaction. <0 only for errors worth a retry. */
static int
op_apply(struct tracker *t, struct op *o, int *changed)
{
	int rc, n = 0, ch = 0;

	switch (o->kind) {
	case OP_UPSERT:
		rc = registry_binding_upsert(t->reg, o->b, &ch);
		n = ch;
		break;
	case OP_STOPPED:
		rc = registry_container_stopped(t->reg, o->id, o->has_exit, o->exit_code,
		                                o->when_ms, &n);
		break;
	case OP_REMOVED:
	default:
		rc = registry_container_removed(t->reg, o->id, o->when_ms, &n);
		break;
	}
	*changed = n;
	if (rc == -EBUSY || rc == -EIO)
		return rc;
	if (rc != 0 && rc != -ENOENT)
		log_warnx("registry_write_failed container=%.12s op=%d error=\"%s\"", o->id,
		          o->kind, registry_errmsg(t->reg));
	return 0;
}

/* Writes waiting for a commit (for the log). */
static int
ops_pending(const struct tracker *t)
{
	const struct op *o;
	int n = 0;

	for (o = TAILQ_FIRST(&t->ops); o != NULL; o = TAILQ_NEXT(o, entry))
		n++;
	return n;
}

static void
flush(struct tracker *t)
{
	struct op *o, *next;
	struct timeval tv = {0, REGISTRY_RETRY_MS * 1000};
	int rc = 0, changed, total = 0;
	int64_t now;

	if (TAILQ_EMPTY(&t->ops))
		return;
	if ((rc = registry_begin(t->reg)) != 0)
		goto retry;
	TAILQ_FOREACH(o, &t->ops, entry)
	{
		if ((rc = op_apply(t, o, &changed)) != 0) {
			registry_rollback(t->reg);
			goto retry;
		}
		o->changed = changed; /* counted once the commit lands */
	}
	/* A failed commit has rolled the batch back itself, and its errmsg is SQLite's. */
	if ((rc = registry_commit(t->reg)) != 0)
		goto retry;
	metrics.commits++;
	now = now_ns();
	if (t->fail_since_ms != 0) {
		log_info("registry_commit_recovered after_ms=%lld retries=%lu",
		         (long long)(now / 1000000 - t->fail_since_ms), t->fail_tries);
		t->fail_since_ms = 0;
		t->fail_tries = 0;
	}
	for (o = TAILQ_FIRST(&t->ops); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		changed = o->changed;
		total += changed;
		if (changed > 0 && o->event_ns > 0)
			metrics_observe_commit((double)(now - o->event_ns) / 1e9);
		if (changed > 0 && o->kind == OP_UPSERT && log_get_level() >= LOG_LEVEL_DEBUG)
			log_debug("binding_committed container=%s port=%d status=%s event_ns=%lld "
			          "read_ns=%lld inspected_ns=%lld commit_ns=%lld",
			          o->id, o->b->container_port, binding_status_str(o->b->status),
			          (long long)o->event_ns, (long long)o->read_ns,
			          (long long)o->inspected_ns, (long long)now);
		if (o->reconcile)
			metrics.reconcile_fixed += (unsigned long)changed;
		TAILQ_REMOVE(&t->ops, o, entry);
		free(o->b);
		free(o);
	}
	if (total > 0 && t->commit_cb != NULL)
		t->commit_cb(t->commit_arg);
	return;
retry:
	metrics.commit_errors++;
	/* Pending writes stay queued; a lock held elsewhere is logged once per REGISTRY_WARN_MS. */
	now = now_ns() / 1000000;
	if (t->fail_since_ms == 0)
		t->fail_since_ms = now;
	t->fail_tries++;
	if (t->fail_tries == 1 || now - t->fail_logged_ms >= REGISTRY_WARN_MS) {
		t->fail_logged_ms = now;
		log_warnx("registry_commit_failed rc=%d error=\"%s\" pending=%d retry_ms=%d "
		          "failing_ms=%lld",
		          rc, registry_errmsg(t->reg), ops_pending(t), REGISTRY_RETRY_MS,
		          (long long)(now - t->fail_since_ms));
	}
	evtimer_add(t->retry_ev, &tv);
}

static void
flush_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush(arg);
}

void
tracker_flush(struct tracker *t)
{
	flush(t);
}

int64_t
tracker_write_failing_ms(const struct tracker *t)
{
	return t->fail_since_ms != 0 ? now_ns() / 1000000 - t->fail_since_ms : 0;
}

/* ---- inspect ---- */

static void inspect_pump(struct tracker *);

static int
internal(const struct docker_container *c)
{
	return strncmp(c->ecs.container_name, INTERNAL_PREFIX, strlen(INTERNAL_PREFIX)) == 0;
}

static int
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

	metrics.inspects++;
	if (r->error == -ECANCELED)
		return;
	if (r->status == 404) {
		/* Gone before we looked: whatever rows it had are removed. */
		if ((o = op_new(t, OP_REMOVED, q->id)) != NULL) {
			o->when_ms = registry_now_ms();
			o->reconcile = reconcile;
		}
		ctr_del(t, q->id);
		return;
	}
	if (c == NULL) {
		metrics.inspect_errors++;
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
			if ((o = op_new(t, OP_UPSERT, c->id)) == NULL)
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
		if ((o = op_new(t, OP_STOPPED, c->id)) != NULL) {
			o->has_exit = 1;
			o->exit_code = base.exit_code;
			o->when_ms = base.stopped_at;
			o->reconcile = reconcile;
		}
	}
	/* No published port: no row. */
	for (int i = 0; i < c->nports; i++) {
		if ((o = op_new(t, OP_UPSERT, c->id)) == NULL)
			return;
		*o->b = base;
		binding_port(t, &c->ports[i], o->b);
		o->event_ns = q->event_ns;
		o->read_ns = q->read_ns;
		o->inspected_ns = now_ns();
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
			metrics.inspect_errors++;
			log_warnx("docker_inspect_not_started container=%.12s", q->id);
			free(q);
		}
	}
}

static void
inspect(struct tracker *t, const char *id, enum reason reason, uint64_t seq, int64_t event_ns)
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
		q->read_ns = event_ns != 0 ? now_ns() : 0;
		return;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return;
	q->t = t;
	snprintf(q->id, sizeof(q->id), "%s", id);
	q->reason = reason;
	q->seq = seq;
	q->event_ns = event_ns;
	q->read_ns = event_ns != 0 ? now_ns() : 0;
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

static void
on_event(const struct docker_event *e, void *arg)
{
	struct tracker *t = arg;
	enum metrics_event kind = metrics_event_kind(e->action);
	struct ctr *k;
	struct op *o;

	metrics.events[kind]++;
	metrics.events_dropped = docker_dropped_lines(t->docker);
	t->backoff_ms = BACKOFF_MIN_MS;
	if (e->time_nano > t->last_ns)
		t->last_ns = e->time_nano;
	if (strcmp(e->type, "container") != 0 || kind == ME_OTHER)
		return;
	t->seq++;
	k = ctr_get(t, e->id, kind == ME_CREATE || kind == ME_START);
	if (k != NULL)
		k->last_seq = t->seq;
	switch (kind) {
	case ME_CREATE:
		if (k != NULL)
			k->dead = 0;
		inspect(t, e->id, R_CREATE, t->seq, e->time_nano);
		break;
	case ME_START:
		if (k != NULL) {
			k->dead = k->has_exit = 0;
			k->start_seq = t->seq;
		}
		inspect(t, e->id, R_START, t->seq, e->time_nano);
		break;
	case ME_DIE:
		if (k != NULL) {
			k->dead = 1;
			k->has_exit = e->has_exit_code;
			k->exit_code = e->exit_code;
		}
		if ((o = op_new(t, OP_STOPPED, e->id)) != NULL) {
			o->has_exit = e->has_exit_code;
			o->exit_code = e->exit_code;
			o->when_ms = e->time_nano / 1000000;
			o->event_ns = e->time_nano;
		}
		break;
	case ME_DESTROY:
		if ((o = op_new(t, OP_REMOVED, e->id)) != NULL) {
			o->when_ms = e->time_nano / 1000000;
			o->event_ns = e->time_nano;
		}
		ctr_del(t, e->id);
		break;
	default:
		break;
	}
}

static void
schedule_connect(struct tracker *t)
{
	struct timeval tv;

	if (t->closing)
		return;
	tv.tv_sec = t->backoff_ms / 1000;
	tv.tv_usec = (t->backoff_ms % 1000) * 1000;
	evtimer_add(t->connect_ev, &tv);
	t->backoff_ms *= 2;
	if (t->backoff_ms > BACKOFF_MAX_MS)
		t->backoff_ms = BACKOFF_MAX_MS;
}

static void
on_end(int error, const char *message, void *arg)
{
	struct tracker *t = arg;

	t->stream = NULL;
	t->stream_up = 0;
	t->reconciled = 0;
	t->state = "reconnecting";
	metrics.reconnects++;
	metrics.events_dropped = docker_dropped_lines(t->docker);
	log_warnx("docker_stream_lost error=%d reason=\"%s\" retry_ms=%d", error, message,
	          t->backoff_ms);
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
		log_warnx("docker_ping_failed status=%ld error=\"%s\" retry_ms=%d", r->status,
		          r->message, t->backoff_ms);
		schedule_connect(t);
		return;
	}
	/*
	 * Replay what we missed with since=. Docker keeps only the last 256
	 * events, so the reconcile that follows covers anything older.
	 */
	if (t->last_ns == 0)
		t->last_ns = now_ns();
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

static void
connect_docker(struct tracker *t)
{
	if (t->ping != NULL || t->stream != NULL || t->closing)
		return;
	if ((t->ping = docker_ping(t->docker, on_ping, t)) == NULL) {
		log_warnx("docker_ping_not_started");
		schedule_connect(t);
	}
}

static void
connect_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_docker(arg);
}

/* ---- reconcile ---- */

struct rows {
	struct row *v;
	size_t n, cap;
};

static int
row_cb(const struct binding *b, void *arg)
{
	struct rows *rs = arg;
	struct row *p;

	if (b->container_id[0] == '\0')
		return 0;
	if (rs->n == rs->cap) {
		size_t cap = rs->cap != 0 ? rs->cap * 2 : 256;

		if ((p = realloc(rs->v, cap * sizeof(*p))) == NULL)
			return 1;
		rs->v = p;
		rs->cap = cap;
	}
	p = &rs->v[rs->n++];
	snprintf(p->id, sizeof(p->id), "%s", b->container_id);
	p->port = b->container_port;
	snprintf(p->proto, sizeof(p->proto), "%s", b->protocol);
	p->host_port = b->host_port;
	p->status = (int)b->status;
	return 0;
}

static int
row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->id, ((const struct row *)b)->id);
}

/* Loads every row not REMOVED, sorted by container ID. */
static int
rows_load(struct tracker *t, struct rows *rs)
{
	struct binding_filter f = {.status = -1};
	int rc;

	memset(rs, 0, sizeof(*rs));
	if ((rc = registry_binding_list(t->reg, &f, row_cb, rs)) != 0) {
		log_warnx("registry_list_failed error=\"%s\"", registry_errmsg(t->reg));
		free(rs->v);
		memset(rs, 0, sizeof(*rs));
		return rc;
	}
	if (rs->n > 0)
		qsort(rs->v, rs->n, sizeof(*rs->v), row_cmp);
	return 0;
}

/* The rows of one container: [*first, *first + count). */
static size_t
rows_of(const struct rows *rs, const char *id, size_t *first)
{
	size_t lo = 0, hi = rs->n, n = 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(rs->v[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	while (lo + n < rs->n && strcmp(rs->v[lo + n].id, id) == 0)
		n++;
	return n;
}

/* 1 when the rows already say what the list says for a running container. */
static int
rows_match(const struct rows *rs, const struct docker_container *c)
{
	size_t first, n = rows_of(rs, c->id, &first);

	for (int i = 0; i < c->nports; i++) {
		int ok = 0;

		for (size_t j = first; j < first + n; j++) {
			const struct row *w = &rs->v[j];

			if (w->port == c->ports[i].container_port &&
			    strcmp(w->proto, c->ports[i].proto) == 0 &&
			    w->host_port == c->ports[i].host_port && w->status == BINDING_RUNNING)
				ok = 1;
		}
		if (!ok)
			return 0;
	}
	return 1;
}

static int
rows_live(const struct rows *rs, const char *id)
{
	size_t first, n = rows_of(rs, id, &first);

	for (size_t j = first; j < first + n; j++)
		if (rs->v[j].status == BINDING_RUNNING || rs->v[j].status == BINDING_PROVISIONAL)
			return 1;
	return 0;
}

static void
on_list(const struct docker_resp *r, const struct docker_container *v, size_t n, void *arg)
{
	struct tracker *t = arg;
	struct timeval tv = {0, RECONCILE_RETRY_MS * 1000};
	struct rows rs;
	struct op *o;
	struct ctr *k;
	unsigned gen;
	size_t i;
	int again;

	t->list = NULL;
	if (r->error == -ECANCELED)
		return;
	if (r->error != 0 || r->status != 200) {
		log_warnx("docker_list_failed status=%ld error=\"%s\"", r->status, r->message);
		if (r->error != 0 && t->stream != NULL) {
			/* The daemon does not answer: a stream that looks open may be dead too. */
			docker_events_stop(t->stream);
			t->stream = NULL;
			t->stream_up = t->reconciled = 0;
			t->state = "reconnecting";
			metrics.reconnects++;
			schedule_connect(t);
		} else if (t->stream_up) {
			evtimer_add(t->reconcile_ev, &tv);
		}
		return;
	}
	/* Rows first: commit what is queued so the comparison sees it. */
	flush(t);
	if (rows_load(t, &rs) != 0) {
		evtimer_add(t->reconcile_ev, &tv);
		return;
	}
	metrics.reconciles++;
	gen = ++t->gen;
	for (i = 0; i < n; i++) {
		const struct docker_container *c = &v[i];

		if ((k = ctr_get(t, c->id, 1)) != NULL)
			k->gen = gen;
		if (k != NULL && k->last_seq > t->list_seq)
			continue; /* an event since the list: the event path has it */
		if (internal(c))
			continue;
		if (running(c->state)) {
			if (c->nports > 0 && !rows_match(&rs, c))
				inspect(t, c->id, R_RECONCILE, t->list_seq, 0);
		} else if (rows_live(&rs, c->id)) {
			/* Stopped while we were not looking: inspect has the exit code. */
			inspect(t, c->id, R_RECONCILE, t->list_seq, 0);
		}
	}
	/* Rows of containers Docker no longer has. */
	for (i = 0; i < rs.n; i++) {
		if (i > 0 && strcmp(rs.v[i].id, rs.v[i - 1].id) == 0)
			continue;
		k = ctr_get(t, rs.v[i].id, 0);
		if (k != NULL && (k->gen == gen || k->last_seq > t->list_seq))
			continue;
		if ((o = op_new(t, OP_REMOVED, rs.v[i].id)) != NULL) {
			o->when_ms = registry_now_ms();
			o->reconcile = 1;
		}
	}
	free(rs.v);
	/* Forget containers that are gone. */
	for (i = 0; i < CTR_BUCKETS; i++) {
		struct ctr **pp = &t->ctrs[i];

		while ((k = *pp) != NULL) {
			if (k->gen != gen && k->last_seq <= t->list_seq) {
				*pp = k->next;
				ctr_free(t, k);
			} else {
				pp = &k->next;
			}
		}
	}
	again = t->reconcile_again;
	t->reconcile_again = 0;
	if (t->stream_up) {
		if (!t->reconciled)
			log_info("docker_reconciled containers=%zu", n);
		t->reconciled = 1;
		t->state = "connected";
		t->backoff_ms = BACKOFF_MIN_MS;
		t->ever_connected = 1;
	}
	if (again)
		reconcile_start(t);
}

static void
reconcile_start(struct tracker *t)
{
	json_t *f;
	char *filters = NULL;

	if (t->list != NULL) {
		t->reconcile_again = 1;
		return;
	}
	if (t->label_filter[0] != '\0' &&
	    (f = json_pack("{s:[s]}", "label", t->label_filter)) != NULL) {
		filters = json_dumps(f, JSON_COMPACT);
		json_decref(f);
	}
	t->list_seq = t->seq;
	t->list = docker_list(t->docker, 1, filters, on_list, t);
	free(filters);
	if (t->list == NULL)
		log_warnx("docker_list_not_started");
}

static void
reconcile_event(evutil_socket_t fd, short what, void *arg)
{
	struct tracker *t = arg;
	struct timeval tv = {t->interval, 0};

	(void)fd;
	(void)what;
	if (t->stream_up)
		reconcile_start(t);
	if (t->interval > 0)
		evtimer_add(t->reconcile_ev, &tv);
}

/* ---- agent, the second source ---- */

void
tracker_agent_tasks(struct tracker *t, const struct agent_task *tasks, size_t n)
{
	struct rows rs;
	size_t first, m;

	if (!t->stream_up || rows_load(t, &rs) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int task_running = strcmp(tasks[i].known_status, "RUNNING") == 0;
		int task_stopped = strcmp(tasks[i].known_status, "STOPPED") == 0;

		for (size_t j = 0; j < tasks[i].ncontainers; j++) {
			const struct agent_container *ac = &tasks[i].containers[j];
			int live = 0, known = 0;

			if (strlen(ac->docker_id) != 64)
				continue;
			m = rows_of(&rs, ac->docker_id, &first);
			for (size_t k = first; k < first + m; k++)
				if (rs.v[k].status == BINDING_RUNNING)
					live = 1;
			for (int p = 0; p < ac->nports; p++)
				if (ac->ports[p].host_port > 0)
					known = 1;
			/* RUNNING with a known host port but no running row, or STOPPED but live.
			 */
			if ((task_running && known && !live) || (task_stopped && live))
				inspect(t, ac->docker_id, R_AGENT, t->seq, 0);
		}
	}
	free(rs.v);
}

/* ---- lifetime ---- */

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
	t->backoff_ms = BACKOFF_MIN_MS;
	t->state = "starting";
	TAILQ_INIT(&t->waiting);
	TAILQ_INIT(&t->inflight);
	TAILQ_INIT(&t->ops);
	if ((t->flush_ev = event_new(base, -1, 0, flush_event, t)) == NULL ||
	    (t->retry_ev = evtimer_new(base, flush_event, t)) == NULL ||
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
		flush(t);
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
