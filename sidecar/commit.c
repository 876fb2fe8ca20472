/*
 * commit: the tracker's registry writes. Events and inspects queue ops; one
 * transaction per loop turn commits them all, and a failed commit (SQLite
 * busy, a full disk) keeps them queued and retries after REGISTRY_RETRY_MS.
 * Each landed commit observes event -> commit latency and tells the
 * commit callback (the API's long-polls, the outbox sync).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/clock.h"
#include "core/log.h"
#include "registry/registry.h"
#include "sidecar/tracker_int.h"

void
commit_later(struct tracker *t)
{
	if (!event_pending(t->retry_ev, EV_TIMEOUT, NULL))
		event_active(t->flush_ev, 0, 0);
}

struct op *
commit_op(struct tracker *t, enum op_kind kind, const char *id)
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
	commit_later(t);
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

void
commit_flush(struct tracker *t)
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
	metric_inc(t->m.commits);
	now = clock_real_ns();
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
			metric_observe(t->m.event_to_commit, (double)(now - o->event_ns) / 1e9);
		if (changed > 0 && o->kind == OP_UPSERT && log_get_level() >= LOG_LEVEL_DEBUG)
			log_debug("binding_committed container=%s port=%d status=%s event_ns=%lld "
			          "read_ns=%lld inspected_ns=%lld commit_ns=%lld",
			          o->id, o->b->container_port, binding_status_str(o->b->status),
			          (long long)o->event_ns, (long long)o->read_ns,
			          (long long)o->inspected_ns, (long long)now);
		if (o->reconcile)
			metric_add(t->m.fixed, (uint64_t)changed);
		TAILQ_REMOVE(&t->ops, o, entry);
		free(o->b);
		free(o);
	}
	if (total > 0 && t->commit_cb != NULL)
		t->commit_cb(t->commit_arg);
	return;
retry:
	metric_inc(t->m.commit_errors);
	/* Pending writes stay queued; a lock held elsewhere is logged once per REGISTRY_WARN_MS. */
	now = clock_real_ns() / 1000000;
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

void
commit_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	commit_flush(arg);
}

void
tracker_flush(struct tracker *t)
{
	commit_flush(t);
}

int64_t
tracker_write_failing_ms(const struct tracker *t)
{
	return t->fail_since_ms != 0 ? clock_real_ns() / 1000000 - t->fail_since_ms : 0;
}
