/*
 * await: a task's binding from whichever source answers first, and its
 * stop (see await.h). An await lives from await_start to await_free; a
 * describe still in flight then keeps its memory until its callback comes
 * (marked dead, it only lets go).
 */
#include "launcher/await.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/evcurl.h"
#include "core/log.h"
#include "core/metrics.h"
#include "launcher/hosts.h"
#include "registry/sidecar_api.h"

struct await {
	struct launcher *l;
	TAILQ_ENTRY(await) entry;
	char task[REG_ARN_MAX];
	char tenant[REG_SUBDOMAIN_MAX];
	int64_t deadline_us;
	await_found_cb found;
	await_stopped_cb stopped;
	void *arg;

	int looking;    /* the binding is not known yet */
	int describing; /* a describe is in flight */
	int dead;       /* await_free came while describing */
	struct event *describe_timer;
	/* This host's sidecar (--sidecar-url) and the one on the task's host, when another. */
	struct poller {
		struct await *a;
		enum bind_source src;
		char base[REG_URL_MAX];
		struct evcurl_xfer *x;
		struct event *timer;
		int64_t sent_us;
		int on;
	} local, remote;
	char host[REG_ARN_MAX];   /* the container instance the task was placed on, or "" */
	char host_ip[REG_IP_MAX]; /* that host's address as its item says, or "" */
	struct hosts_ask *ask;    /* its host item, being read */
};

static void describe_now(struct await *);
static void poll_send(struct poller *);
static void poll_stop(struct poller *);

static struct timeval
describe_gap(const struct launcher *l)
{
	struct timeval tv = {l->describe_ms / 1000, (l->describe_ms % 1000) * 1000};

	return tv;
}

/* The binding is known: the long-poll ends; the registry and describe keep watching. */
static void
found(struct await *a, enum bind_source src, const char *ip, int port)
{
	/* A source that knows the port but not the address (DescribeTasks): the host item's. */
	struct await_found f = {src, ip != NULL && ip[0] != '\0' ? ip : a->host_ip, port};

	if (!a->looking)
		return;
	a->looking = 0;
	poll_stop(&a->local);
	poll_stop(&a->remote);
	hosts_cancel(a->ask);
	a->ask = NULL;
	a->found(&f, a->arg);
}

/* --- the registry ----------------------------------------------------------- */

struct bind_match {
	int container_port;
	struct binding found;
	int ok;
	int gone; /* a binding of the port that is STOPPED or REMOVED */
};

static int
match_binding(const struct binding *b, void *arg)
{
	struct bind_match *m = arg;

	if (b->container_port != m->container_port || strcmp(b->protocol, "tcp") != 0)
		return 0;
	if (b->status == BINDING_STOPPED || b->status == BINDING_REMOVED) {
		m->gone = 1;
		return 0;
	}
	if (b->host_port <= 0 || (b->status != BINDING_RUNNING && b->status != BINDING_PROVISIONAL))
		return 0;
	m->found = *b;
	m->ok = 1;
	return b->status == BINDING_RUNNING; /* prefer RUNNING; keep looking otherwise */
}

/*
 * Looks the task up in the registry: while looking, for its binding; after,
 * for a sign that the container stopped (the sidecar marks its binding
 * STOPPED on Docker's die), which asks the backend at once why.
 */
static void
registry_lookup(struct await *a)
{
	struct binding_filter f = {.task = a->task, .status = -1};
	struct bind_match m = {.container_port = a->l->container_port};
	int rc;

	/* A positive rc is match_binding stopping the walk at a RUNNING binding. */
	rc = registry_binding_list(a->l->reg, &f, match_binding, &m);
	if (rc < 0 && rc != -ENOENT) {
		log_warnx("registry_lookup_failed tenant=%s error=\"%s\"", a->tenant,
		          registry_errmsg(a->l->reg));
		return;
	}
	if (a->looking && m.ok)
		found(a, BS_REGISTRY, m.found.host_ip, m.found.host_port);
	else if (!a->looking && !m.ok && m.gone)
		describe_now(a);
}

void
await_lookup(struct await *a)
{
	registry_lookup(a);
}

/*
 * Why a timer: SQLite tells no other process about a commit (update hooks see
 * only their own connection), and the sidecar is another process. PRAGMA
 * data_version (registry_changed) reads a counter from the shared WAL index
 * in memory, a few microseconds with no disk I/O, so checking it every
 * LAUNCHER_REG_POLL_MS while something awaits costs nothing measurable and
 * bounds the added latency to that interval. The timer runs only while an
 * await does.
 */
void
await_registry_tick(int fd, short what, void *arg)
{
	struct launcher *l = arg;
	struct timeval tv = {0, LAUNCHER_REG_POLL_MS * 1000};
	struct await *a, *next;
	int changed = 0;

	(void)fd;
	(void)what;
	if (l->nawait == 0)
		return;
	metric_inc(l->m.registry_checks);
	if (registry_changed(l->reg, &changed) == 0 && changed) {
		metric_inc(l->m.registry_changes);
		l->reg_news = 1; /* for the watch of RUNNING tenants */
		for (a = TAILQ_FIRST(&l->awaits); a != NULL; a = next) {
			next = TAILQ_NEXT(a, entry); /* a callback may free a */
			registry_lookup(a);
		}
	}
	if (l->nawait > 0)
		evtimer_add(l->reg_timer, &tv);
}

/* --- the backend's describe ------------------------------------------------- */

static void
on_described(int error, const struct backend_task *t, const char *errmsg, void *arg)
{
	struct await *a = arg;
	struct timeval tv = describe_gap(a->l);

	a->describing = 0;
	if (a->dead) {
		free(a);
		return;
	}
	if (error == 0) {
		/* A task that stops while awaited or probed ends its provision at once. */
		if (t->state == BACKEND_STOPPED ||
		    (t->state == BACKEND_MISSING && a->l->bops->local)) {
			char reason[BACKEND_REASON_MAX + 32];

			snprintf(reason, sizeof(reason), "the task stopped: %s", t->reason);
			a->stopped(reason, a->arg); /* may free a */
			return;
		}
		if (a->looking && t->state == BACKEND_RUNNING && t->host_port > 0) {
			if (a->describe_timer != NULL)
				evtimer_add(a->describe_timer, &tv);
			found(a, BS_DESCRIBE, t->host_ip, t->host_port); /* may free a */
			return;
		}
	} else if (error != -ECANCELED) {
		log_debug("describe_failed tenant=%s error=\"%s\"", a->tenant, errmsg);
	}
	if (a->describe_timer != NULL && error != -ECANCELED)
		evtimer_add(a->describe_timer, &tv);
}

static void
describe_now(struct await *a)
{
	struct timeval tv = describe_gap(a->l);

	if (a->describing)
		return;
	a->describing = 1;
	if (a->l->bops->describe(a->l->bstate, a->task, a->l->container_port, on_described, a) !=
	    0) {
		a->describing = 0;
		if (a->describe_timer != NULL)
			evtimer_add(a->describe_timer, &tv);
	}
}

static void
describe_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	describe_now(arg);
}

/* --- the sidecar's long-poll ------------------------------------------------ */

/* The sidecar answers its binding route with one binding, a list, or {"bindings":[]}. */
static int
sidecar_pick(const char *body, size_t len, int container_port, char *ip, size_t iplen, int *port)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr), *list;
	struct binding b;
	size_t i;
	int ok = 0;

	if (root == NULL)
		return 0;
	if (json_is_array(root))
		list = root;
	else if ((list = json_object_get(root, "bindings")) == NULL || !json_is_array(list))
		list = NULL;
	for (i = 0; list != NULL ? i < json_array_size(list) : i < 1; i++) {
		if (binding_from_json(list != NULL ? json_array_get(list, i) : root, &b) != 0 ||
		    b.container_port != container_port || b.host_port <= 0 ||
		    strcmp(b.protocol, "tcp") != 0 ||
		    (b.status != BINDING_RUNNING && b.status != BINDING_PROVISIONAL))
			continue;
		snprintf(ip, iplen, "%s", b.host_ip);
		*port = b.host_port;
		ok = 1;
		break;
	}
	json_decref(root);
	return ok;
}

static void
poll_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	poll_send(arg);
}

static void
poll_stop(struct poller *p)
{
	p->on = 0;
	if (p->timer != NULL) {
		event_free(p->timer);
		p->timer = NULL;
	}
	if (p->x != NULL) {
		struct evcurl_xfer *x = p->x;

		p->x = NULL;
		evcurl_cancel(x); /* its callback sees x == NULL and returns */
	}
}

static void
on_poll(const struct evcurl_resp *r, void *arg)
{
	struct poller *p = arg;
	struct await *a = p->a;
	struct timeval tv = {0, 250 * 1000};
	char ip[REG_IP_MAX];
	int port, waited;

	if (p->x == NULL)
		return; /* cancelled */
	p->x = NULL;
	if (!a->looking || !p->on)
		return;
	if (r->error == 0 && r->status == 200 &&
	    sidecar_pick(r->body, r->body_len, a->l->container_port, ip, sizeof(ip), &port)) {
		found(a, p->src, ip, port);
		return;
	}
	waited = r->error == 0 && r->status == 404 && clock_mono_us() - p->sent_us > 500000;
	if (p->src == BS_REMOTE && !waited) {
		/*
		 * Another host's sidecar that fails, answers garbage or 401 costs
		 * this provision its fast path only: the fallback sources go on.
		 */
		log_warnx("remote_sidecar_failed tenant=%s host=%s status=%ld error=\"%s\"",
		          a->tenant, a->host, r->status, r->error != 0 ? r->errmsg : "bad answer");
		metric_inc(a->l->m.remote_failures);
		poll_stop(p);
		return;
	}
	/*
	 * A long poll that ended empty (404) after waiting is asked again at
	 * once; anything else (errors, a binding of another port, a quick
	 * answer) backs off a little, so it never turns into a busy loop.
	 */
	if (waited)
		tv.tv_usec = 0;
	if (p->timer == NULL && (p->timer = evtimer_new(a->l->base, poll_retry_cb, p)) == NULL)
		return;
	evtimer_add(p->timer, &tv);
}

static void
poll_send(struct poller *p)
{
	struct await *a = p->a;
	struct launcher *l = a->l;
	struct evcurl_req req;
	const char *id = strrchr(a->task, '/');
	const char *headers[] = {l->sidecar_auth[0] != '\0' ? l->sidecar_auth : NULL, NULL};
	char url[REG_URL_MAX + REG_ARN_MAX + 64];
	long left_ms;

	if (!a->looking || !p->on || p->x != NULL)
		return;
	left_ms = (long)((a->deadline_us - clock_mono_us()) / 1000);
	if (left_ms < 1000)
		left_ms = 1000;
	snprintf(url, sizeof(url), "%s" SIDECAR_ROUTE_BINDING "%s?" SIDECAR_QUERY_WAIT "=%ld",
	         p->base, id != NULL ? id + 1 : a->task, left_ms / 1000 > 30 ? 30 : left_ms / 1000);
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.headers = headers;
	req.timeout_ms = left_ms + 2000;
	/* Another host answers within its long-poll or not at all: no long connect wait. */
	req.connect_timeout_ms = p->src == BS_REMOTE ? 1000 : 0;
	req.body_max = LAUNCHER_SIDECAR_BODY_MAX;
	req.no_proxy = 1;
	req.on_done = on_poll;
	req.arg = p;
	p->sent_us = clock_mono_us();
	p->x = evcurl_start(l->curl, &req);
	if (p->x == NULL)
		log_debug("sidecar_poll_failed tenant=%s", a->tenant);
}

/* Starts long-polling base (trailing '/' dropped) as src. */
static void
poll_start(struct await *a, struct poller *p, enum bind_source src, const char *base)
{
	size_t n;

	p->a = a;
	p->src = src;
	snprintf(p->base, sizeof(p->base), "%s", base);
	n = strlen(p->base);
	while (n > 0 && p->base[n - 1] == '/')
		p->base[--n] = '\0';
	p->on = 1;
	poll_send(p);
}

/* The task's host, as its item says: long-poll its sidecar unless it is this host's. */
static void
on_host(const struct host_item *h, int live, void *arg)
{
	struct await *a = arg;
	size_t n;

	a->ask = NULL;
	if (h != NULL)
		snprintf(a->host_ip, sizeof(a->host_ip), "%s", h->host_ip);
	if (!a->looking)
		return;
	if (h == NULL || !live) {
		log_info("remote_sidecar_skipped tenant=%s host=%s status=%s", a->tenant, a->host,
		         h == NULL ? "unknown"
		                   : host_status_str(item_host_status(h, registry_now_ms())));
		return;
	}
	n = strlen(a->l->sidecar_url != NULL ? a->l->sidecar_url : "");
	if (n > 0 && strncmp(h->api_url, a->l->sidecar_url, n) == 0 &&
	    (h->api_url[n] == '\0' || strcmp(h->api_url + n, "/") == 0))
		return; /* this host's sidecar: already long-polled */
	poll_start(a, &a->remote, BS_REMOTE, h->api_url);
}

/* --- life ------------------------------------------------------------------- */

struct await *
await_start(struct launcher *l, const char *task, const char *host, const char *tenant,
            int64_t deadline_us, await_found_cb found_cb, await_stopped_cb stopped_cb, void *arg)
{
	struct timeval now = {0, 0}, gap = describe_gap(l);
	struct await *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->l = l;
	snprintf(a->task, sizeof(a->task), "%s", task);
	snprintf(a->tenant, sizeof(a->tenant), "%s", tenant);
	snprintf(a->host, sizeof(a->host), "%s", host != NULL ? host : "");
	a->deadline_us = deadline_us;
	a->found = found_cb;
	a->stopped = stopped_cb;
	a->arg = arg;
	a->looking = 1;
	TAILQ_INSERT_TAIL(&l->awaits, a, entry);
	l->nawait++;
	/* The backend's describe is the slow fallback, and watches a probed task; 0: off. */
	if (l->describe_ms > 0 &&
	    (a->describe_timer = evtimer_new(l->base, describe_tick, a)) != NULL)
		evtimer_add(a->describe_timer, &gap);
	if (!evtimer_pending(l->reg_timer, NULL))
		evtimer_add(l->reg_timer, &now);
	if (l->sidecar_url != NULL && *l->sidecar_url != '\0')
		poll_start(a, &a->local, BS_SIDECAR, l->sidecar_url);
	/* The task is on another host: that host's sidecar knows first (launcher/hosts.c). */
	if (a->host[0] != '\0' && l->hosts != NULL)
		a->ask = hosts_find(l->hosts, a->host, on_host, a);
	return a;
}

void
await_free(struct await *a)
{
	if (a == NULL)
		return;
	TAILQ_REMOVE(&a->l->awaits, a, entry);
	a->l->nawait--;
	a->looking = 0;
	if (a->describe_timer != NULL)
		event_free(a->describe_timer);
	a->describe_timer = NULL;
	poll_stop(&a->local);
	poll_stop(&a->remote);
	hosts_cancel(a->ask);
	a->ask = NULL;
	if (a->describing) {
		a->dead = 1; /* on_described frees it */
		return;
	}
	free(a);
}
