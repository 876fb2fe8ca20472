/* api: the sidecar's HTTP API; routes in registry/sidecar_api.h (see api.h). */
#include "sidecar/api.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "core/docker.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/metrics.h"
#include "registry/registry.h"
#include "registry/sidecar_api.h"
#include "sidecar/agent.h"
#include "sidecar/tracker.h"
#include "sidecar/ui.h"

#define API_WRITE_FAILING_MS 1000 /* registry writes failing this long: /healthz fails */
#define API_WAIT_MSG         "wait must be 0..300 seconds"

struct waiter {
	TAILQ_ENTRY(waiter) entry;
	struct api *api;
	struct evhttp_request *req;
	struct event *timer;
	struct event *gone; /* readable client socket: it may have closed */
	char task[REG_ARN_MAX];
	int changes;         /* a changes long-poll (the dashboard), not a binding's */
	unsigned long since; /* changes: the count the client has seen */
};

struct api {
	struct registry *reg;
	struct tracker *tracker;
	struct agent *agent;
	struct api_info info;
	struct metrics *own_metrics; /* when the caller gave none */
	struct metric *connected, *bindings[4], *outbox_pending, *unauthorized;
	TAILQ_HEAD(, waiter) waiters;
	int nwaiters;
	int file_warned;       /* registry_file_lost is logged */
	unsigned long changes; /* commits that changed rows since start (the changes feed) */
};

static void
waiter_free(struct waiter *w)
{
	TAILQ_REMOVE(&w->api->waiters, w, entry);
	w->api->nwaiters--;
	event_free(w->timer);
	if (w->gone != NULL)
		event_free(w->gone);
	free(w);
}

/* Replies to a parked long-poll and forgets it. */
static void
waiter_reply(struct waiter *w, const struct binding *b)
{
	evhttp_connection_set_closecb(evhttp_request_get_connection(w->req), NULL, NULL);
	if (w->changes)
		httpd_json(w->req, 200, json_pack("{s:I}", "changes", (json_int_t)w->api->changes));
	else if (b != NULL)
		httpd_json(w->req, 200, binding_to_json(b));
	else
		httpd_error(w->req, 404, "not_found", "no binding for this task yet", NULL);
	waiter_free(w);
}

static void
waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	waiter_reply(arg, NULL);
}

static void
waiter_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	waiter_free(arg); /* libevent frees the request */
}

/*
 * evhttp stops reading a connection while its request is being answered, so
 * a client that goes away mid long-poll would hold its slot until wait= ran
 * out. The waiter watches the socket itself: end of stream (or an error)
 * frees the connection, whose close callback frees the waiter.
 */
static void
waiter_readable(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	char c;
	ssize_t n;

	(void)what;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
		/* Bytes (a pipelined request) or nothing yet: stop looking, the timer ends it. */
		return;
	}
	evhttp_connection_free(evhttp_request_get_connection(w->req));
}

void
api_wake(struct api *a)
{
	struct waiter *w, *next;
	struct binding b;

	a->changes++;
	for (w = TAILQ_FIRST(&a->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->changes || registry_binding_get(a->reg, w->task, &b) == 0)
			waiter_reply(w, &b);
	}
}

/*
 * The registry's health: the file at --db is still the one open, and
 * writes land (they are retried, so a short failure is not one). Sets why.
 */
static int
registry_ok(struct api *a, char *why, size_t whylen)
{
	int64_t failing = tracker_write_failing_ms(a->tracker);

	if (registry_check_file(a->reg) != 0) {
		snprintf(why, whylen, "%s", registry_errmsg(a->reg));
		if (!a->file_warned)
			log_warnx("registry_file_lost error=\"%s\"", why);
		a->file_warned = 1;
		return 0;
	}
	a->file_warned = 0;
	if (failing >= API_WRITE_FAILING_MS) {
		snprintf(why, whylen, "registry writes have failed for %lld ms (see the log)",
		         (long long)failing);
		return 0;
	}
	why[0] = '\0';
	return 1;
}

static void
healthz(struct api *a, struct evhttp_request *req)
{
	const struct agent_metadata *m = agent_metadata(a->agent);
	int up = tracker_connected(a->tracker);
	char when[40], why[512];
	int reg_ok = registry_ok(a, why, sizeof(why));
	json_t *body;

	registry_time_format(when, sizeof(when), tracker_last_event_ns(a->tracker) / 1000000);
	body = json_pack(
	    "{s:s, s:{s:b, s:s}, s:{s:s, s:s?}, s:{s:s, s:s?, s:s?}, s:s, s:s, s:s}", "status",
	    !reg_ok ? "failing"
	    : up    ? "ok"
	            : "unavailable",
	    "docker", "connected", up, "state", tracker_docker_state(a->tracker), "registry",
	    "state", reg_ok ? "ok" : "failing", "error", reg_ok ? NULL : why, "agent", "state",
	    agent_state(a->agent), "cluster", m != NULL ? m->cluster_short : NULL,
	    "container_instance", m != NULL && m->instance_arn[0] != '\0' ? m->instance_arn : NULL,
	    "host_ip", a->info.host_ip, "host_ip_source", a->info.host_ip_source, "last_event_at",
	    when);
	httpd_json(req, up && reg_ok ? 200 : 503, body);
}

struct list_ctx {
	json_t *arr;
	size_t n;
};

static int
list_cb(const struct binding *b, void *arg)
{
	struct list_ctx *c = arg;

	json_array_append_new(c->arr, binding_to_json(b));
	return ++c->n >= API_LIST_MAX;
}

static void
bindings_list(struct api *a, struct evhttp_request *req)
{
	char task[REG_ARN_MAX], tenant[REG_SUBDOMAIN_MAX], status[16];
	struct binding_filter f = {.status = -1};
	struct list_ctx c = {0};

	int rt = httpd_query(req, "task", task, sizeof(task)),
	    rn = httpd_query(req, "tenant", tenant, sizeof(tenant)),
	    rs = httpd_query(req, "status", status, sizeof(status));

	/* A value that is too long or does not parse is an error, never "no filter". */
	if ((rt != 0 && rt != -ENOENT) || (rn != 0 && rn != -ENOENT) ||
	    (rs != 0 && rs != -ENOENT)) {
		httpd_error(req, 400, "bad_request", "a query value is too long or malformed",
		            rt != 0 && rt != -ENOENT   ? "task"
		            : rn != 0 && rn != -ENOENT ? "tenant"
		                                       : "status");
		return;
	}
	if (rt == 0)
		f.task = task;
	if (rn == 0)
		f.tenant = tenant;
	if (rs == 0) {
		for (char *p = status; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		if ((f.status = binding_status_parse(status)) < 0) {
			httpd_error(req, 400, "bad_request",
			            "status must be PROVISIONAL, RUNNING, STOPPED or REMOVED",
			            "status");
			return;
		}
		f.include_removed = f.status == BINDING_REMOVED;
	}
	c.arr = json_array();
	if (registry_binding_list(a->reg, &f, list_cb, &c) != 0) {
		json_decref(c.arr);
		httpd_error(req, 503, "registry_unavailable", registry_errmsg(a->reg), NULL);
		return;
	}
	httpd_json(req, 200, json_pack("{s:o}", "bindings", c.arr));
}

static int
task_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < REG_ARN_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/_.-") ==
	           n;
}

/*
 * Parks req for up to wait seconds: answered by api_wake or the timer, freed
 * when the client goes. NULL (and req answered 503) when too many wait.
 */
static struct waiter *
park(struct api *a, struct evhttp_request *req, long wait)
{
	struct event_base *base = evhttp_connection_get_base(evhttp_request_get_connection(req));
	struct bufferevent *bev;
	struct timeval tv = {wait, 0};
	struct waiter *w;
	evutil_socket_t fd;

	if (a->nwaiters >= API_WAITERS_MAX || (w = calloc(1, sizeof(*w))) == NULL) {
		httpd_error(req, 503, "busy", "too many waiting requests", NULL);
		return NULL;
	}
	w->api = a;
	w->req = req;
	w->timer = evtimer_new(base, waiter_timeout, w);
	TAILQ_INSERT_TAIL(&a->waiters, w, entry);
	a->nwaiters++;
	evtimer_add(w->timer, &tv);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), waiter_closed, w);
	bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
	fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	if (fd >= 0 && (w->gone = event_new(base, fd, EV_READ, waiter_readable, w)) != NULL)
		event_add(w->gone, NULL);
	return w;
}

/*
 * A number in 0..max from query name; dflt when absent; -2, with req answered
 * 400 bad_request saying msg, when it is anything else.
 */
static long
query_num(struct evhttp_request *req, const char *name, long max, long dflt, const char *msg)
{
	char buf[24], *end;
	long v;
	int rc;

	if ((rc = httpd_query(req, name, buf, sizeof(buf))) == -ENOENT)
		return dflt;
	errno = 0;
	v = rc == 0 ? strtol(buf, &end, 10) : -1;
	if (rc != 0 || buf[0] == '\0' || *end != '\0' || errno != 0 || v < 0 || v > max) {
		httpd_error(req, 400, "bad_request", msg, name);
		return -2;
	}
	return v;
}

/*
 * GET /v1/changes?since=N&wait=S: the count of commits that changed rows, at
 * once when it is not since, else when the next one lands (or after wait).
 * The dashboard refetches what it shows whenever the count moves.
 */
static void
changes(struct api *a, struct evhttp_request *req)
{
	long since, wait;
	struct waiter *w;

	if ((since = query_num(req, "since", LONG_MAX, -1, "since must be a count of changes")) ==
	        -2 ||
	    (wait = query_num(req, SIDECAR_QUERY_WAIT, SIDECAR_WAIT_MAX, 0, API_WAIT_MSG)) == -2)
		return;
	if (since < 0 || (unsigned long)since != a->changes || wait == 0) {
		httpd_json(req, 200, json_pack("{s:I}", "changes", (json_int_t)a->changes));
		return;
	}
	if ((w = park(a, req, wait)) != NULL) {
		w->changes = 1;
		w->since = (unsigned long)since;
	}
}

static void
binding_one(struct api *a, struct evhttp_request *req, const char *path)
{
	struct binding b;
	struct waiter *w;
	char *task;
	long wait;
	int rc;

	if ((task = evhttp_uridecode(path + strlen(SIDECAR_ROUTE_BINDING), 0, NULL)) == NULL) {
		httpd_error(req, 400, "bad_request", "bad task id", "task");
		return;
	}
	if (!task_ok(task)) {
		free(task);
		httpd_error(req, 400, "bad_request", "bad task id", "task");
		return;
	}
	if ((wait = query_num(req, SIDECAR_QUERY_WAIT, SIDECAR_WAIT_MAX, 0, API_WAIT_MSG)) == -2) {
		free(task);
		return;
	}
	if ((rc = registry_binding_get(a->reg, task, &b)) == 0) {
		free(task);
		httpd_json(req, 200, binding_to_json(&b));
		return;
	}
	if (rc != -ENOENT) {
		free(task);
		httpd_error(req, 503, "registry_unavailable", registry_errmsg(a->reg), NULL);
		return;
	}
	if (wait == 0) {
		free(task);
		httpd_error(req, 404, "not_found", "no binding for this task", NULL);
		return;
	}
	if ((w = park(a, req, wait)) == NULL) {
		free(task);
		return;
	}
	snprintf(w->task, sizeof(w->task), "%s", task);
	free(task);
}

int
api_waiters(const struct api *a)
{
	return a->nwaiters;
}

static void
metrics_page(struct api *a, struct evhttp_request *req)
{
	struct registry_stats st;
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		httpd_error(req, 500, "internal", "out of memory", NULL);
		return;
	}
	metric_set(a->connected, tracker_connected(a->tracker) ? 1 : 0);
	/* A registry that cannot be read keeps the last figures. */
	if (registry_stats(a->reg, &st) == 0) {
		for (int i = BINDING_PROVISIONAL; i <= BINDING_REMOVED; i++)
			metric_set(a->bindings[i], (double)st.bindings[i]);
		metric_set(a->outbox_pending, (double)st.outbox_pending);
	}
	metrics_render(a->info.metrics, b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	httpd_send(req, 200, b);
	evbuffer_free(b);
}

static void
route(struct evhttp_request *req, void *arg)
{
	struct api *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	if (path == NULL) {
		httpd_error(req, 400, "bad_request", "bad request URI", NULL);
		return;
	}
	if (!httpd_framing_ok(req))
		return;
	/* Loopback stays open to ops on the host; anyone else shows the token. */
	if (a->info.token != NULL && a->info.token[0] != '\0' && !httpd_peer_loopback(req) &&
	    !httpd_bearer_ok(req, a->info.token)) {
		metric_inc(a->unauthorized);
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer");
		httpd_error(req, 401, "unauthorized",
		            "a bearer token is required from off the host", NULL);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		httpd_error(req, 405, "method_not_allowed", "only GET is served", NULL);
		return;
	}
	if (strcmp(path, SIDECAR_ROUTE_HEALTH) == 0)
		healthz(a, req);
	else if (strcmp(path, SIDECAR_ROUTE_BINDINGS) == 0 ||
	         strcmp(path, SIDECAR_ROUTE_BINDING) == 0)
		bindings_list(a, req);
	else if (strncmp(path, SIDECAR_ROUTE_BINDING, strlen(SIDECAR_ROUTE_BINDING)) == 0)
		binding_one(a, req, path);
	else if (strcmp(path, SIDECAR_ROUTE_METRICS) == 0)
		metrics_page(a, req);
	else if (strcmp(path, SIDECAR_ROUTE_CHANGES) == 0)
		changes(a, req);
	else if (strcmp(path, SIDECAR_ROUTE_UI) == 0)
		ui_page(req);
	else
		httpd_error(req, 404, "not_found", "no such route", NULL);
}

struct api *
api_new(struct event_base *base, struct evhttp *http, struct registry *reg, struct tracker *tracker,
        struct agent *agent, const struct api_info *info)
{
	struct api *a;

	(void)base;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->reg = reg;
	a->tracker = tracker;
	a->agent = agent;
	a->info = *info;
	if (a->info.metrics == NULL && (a->info.metrics = a->own_metrics = metrics_new()) == NULL) {
		free(a);
		return NULL;
	}
	a->connected = metrics_gauge(a->info.metrics, "berth_sidecar_docker_connected",
	                             "1 while the Docker event stream is connected.", NULL);
	for (int i = BINDING_PROVISIONAL; i <= BINDING_REMOVED; i++) {
		char label[32];

		snprintf(label, sizeof(label), "status=\"%s\"",
		         binding_status_str((enum binding_status)i));
		a->bindings[i] = metrics_gauge(a->info.metrics, "berth_sidecar_bindings",
		                               "Bindings in the registry, by status.", label);
	}
	a->outbox_pending = metrics_gauge(a->info.metrics, "berth_sidecar_outbox_pending",
	                                  "Outbox rows not yet synced.", NULL);
	a->unauthorized =
	    metrics_counter(a->info.metrics, "berth_sidecar_unauthorized_total",
	                    "Requests from off the host without the bearer token.", NULL);
	TAILQ_INIT(&a->waiters);
	/* Idle and stalled clients go; a long-poll's wait is not bounded by this. */
	evhttp_set_timeout(http, HTTPD_IO_TIMEOUT_S);
	/* Every method reaches route(), so a 405 is JSON like every other error. */
	evhttp_set_allowed_methods(http, HTTPD_ALL_METHODS);
	evhttp_set_max_body_size(http, HTTPD_BODY_MAX);
	evhttp_set_gencb(http, route, a);
	return a;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	while (!TAILQ_EMPTY(&a->waiters))
		waiter_reply(TAILQ_FIRST(&a->waiters), NULL);
	metrics_free(a->own_metrics);
	free(a);
}
