/* watch: RUNNING tenants follow their task (see watch.h). */
#include "launcher/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/metrics.h"
#include "launcher/launcher.h"

/* 1 when t's task is known here and has stopped; the reason into t. */
static int
task_gone(struct launcher *l, struct tenant *t)
{
	struct binding b;

	if (t->task_arn[0] == '\0' || prov_find(l, t->subdomain) != NULL)
		return 0;
	/* The first RUNNING binding of the task, else its latest. */
	if (registry_binding_get(l->reg, t->task_arn, &b) != 0)
		return 0;
	if (b.status != BINDING_STOPPED && b.status != BINDING_REMOVED)
		return 0;
	if (b.has_exit_code && b.exit_code == 0) {
		t->status = TENANT_STOPPED;
		snprintf(t->error, sizeof(t->error), "the task stopped (exit code 0)");
	} else if (b.has_exit_code) {
		t->status = TENANT_FAILED;
		snprintf(t->error, sizeof(t->error), "the task stopped: exit code %d", b.exit_code);
	} else {
		t->status = TENANT_FAILED;
		snprintf(t->error, sizeof(t->error), "the task stopped (%s)",
		         b.status == BINDING_REMOVED ? "its container is gone" : "no exit code");
	}
	return 1;
}

int
watch_scan(struct launcher *l)
{
	struct tenant *v;
	size_t n;
	int rc, changed = 0;

	if ((rc = registry_tenant_collect(l->reg, TENANT_RUNNING, &v, &n)) != 0) {
		l->reg_news = 1; /* look again next time */
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct tenant *t = &v[i];

		if (!task_gone(l, t))
			continue;
		if (registry_tenant_update(l->reg, t) != 0) {
			log_warnx("registry_update_failed tenant=%s status=%s error=\"%s\"",
			          t->subdomain, tenant_status_str(t->status),
			          registry_errmsg(l->reg));
			l->reg_news = 1;
			continue;
		}
		changed++;
		metric_inc(l->m.task_stopped);
		log_info("tenant_task_stopped tenant=%s task=%s status=%s reason=\"%s\"",
		         t->subdomain, t->task_arn, tenant_status_str(t->status), t->error);
	}
	free(v);
	return changed;
}

static void
watch_tick(evutil_socket_t fd, short what, void *arg)
{
	struct launcher *l = arg;
	struct timeval tv = {WATCH_INTERVAL_MS / 1000, (WATCH_INTERVAL_MS % 1000) * 1000};
	int changed = 0;

	(void)fd;
	(void)what;
	/* While provisions await, their 10 ms registry check sets reg_news. */
	if (l->nawait == 0 && registry_changed(l->reg, &changed) == 0 && changed)
		l->reg_news = 1;
	if (l->reg_news) {
		l->reg_news = 0;
		watch_scan(l);
	}
	evtimer_add(l->watch_timer, &tv);
}

int
watch_start(struct launcher *l)
{
	struct timeval tv = {WATCH_INTERVAL_MS / 1000, (WATCH_INTERVAL_MS % 1000) * 1000};

	if ((l->watch_timer = evtimer_new(l->base, watch_tick, l)) == NULL)
		return -ENOMEM;
	l->reg_news = 1; /* a first look at start-up */
	evtimer_add(l->watch_timer, &tv);
	return 0;
}

void
watch_stop(struct launcher *l)
{
	if (l->watch_timer != NULL)
		event_free(l->watch_timer);
	l->watch_timer = NULL;
}
