/*
 * reconcile: the tracker's second look. Docker's container list (after every
 * reconnect and every --reconcile-interval) is compared with the registry:
 * running containers are inspected, rows of containers that are gone are
 * removed. The ECS agent's task list (sidecar/agent.c hands it over) adds
 * containers Docker's events did not show.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/docker.h"
#include "core/evcurl.h"
#include "core/log.h"
#include "registry/registry.h"
#include "sidecar/agent.h"
#include "sidecar/tracker_int.h"

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
			metric_inc(t->m.reconnects);
			schedule_connect(t);
		} else if (t->stream_up) {
			evtimer_add(t->reconcile_ev, &tv);
		}
		return;
	}
	/* Rows first: commit what is queued so the comparison sees it. */
	commit_flush(t);
	if (rows_load(t, &rs) != 0) {
		evtimer_add(t->reconcile_ev, &tv);
		return;
	}
	metric_inc(t->m.reconciles);
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
				tracker_inspect(t, c->id, R_RECONCILE, t->list_seq, 0);
		} else if (rows_live(&rs, c->id)) {
			/* Stopped while we were not looking: inspect has the exit code. */
			tracker_inspect(t, c->id, R_RECONCILE, t->list_seq, 0);
		}
	}
	/* Rows of containers Docker no longer has. */
	for (i = 0; i < rs.n; i++) {
		if (i > 0 && strcmp(rs.v[i].id, rs.v[i - 1].id) == 0)
			continue;
		k = ctr_get(t, rs.v[i].id, 0);
		if (k != NULL && (k->gen == gen || k->last_seq > t->list_seq))
			continue;
		if ((o = commit_op(t, OP_REMOVED, rs.v[i].id)) != NULL) {
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
		backoff_reset(&t->backoff);
		t->ever_connected = 1;
	}
	if (again)
		reconcile_start(t);
}

void
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

void
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
				tracker_inspect(t, ac->docker_id, R_AGENT, t->seq, 0);
		}
	}
	free(rs.v);
}
