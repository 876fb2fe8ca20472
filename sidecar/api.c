#include "sidecar/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "core/docker.h"
#include "core/httpd.h"
#include "core/log.h"
#include "registry/registry.h"
#include "sidecar/agent.h"
#include "sidecar/metrics.h"
#include "sidecar/tracker.h"

#define BINDINGS_PREFIX "/v1/bindings/"

struct waiter {
	TAILQ_ENTRY(waiter) entry;
	struct api *api;
	struct evhttp_request *req;
	struct event *timer;
	char task[REG_ARN_MAX];
};

struct api {
	struct registry *reg;
	struct tracker *tracker;
	struct agent *agent;
	struct api_info info;
	TAILQ_HEAD(, waiter) waiters;
	int nwaiters;
};

static void
waiter_free(struct waiter *w)
{
	TAILQ_REMOVE(&w->api->waiters, w, entry);
	w->api->nwaiters--;
	event_free(w->timer);
	free(w);
}

/* Replies to a parked long-poll and forgets it. */
static void
waiter_reply(struct waiter *w, const struct binding *b)
{
	evhttp_connection_set_closecb(evhttp_request_get_connection(w->req), NULL, NULL);
	if (b != NULL)
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

void
api_wake(struct api *a)
{
	struct waiter *w, *next;
	struct binding b;

	for (w = TAILQ_FIRST(&a->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (registry_binding_get(a->reg, w->task, &b) == 0)
			waiter_reply(w, &b);
	}
}

static void
healthz(struct api *a, struct evhttp_request *req)
{
	const struct agent_metadata *m = agent_metadata(a->agent);
	int up = tracker_connected(a->tracker);
	char when[40];
	json_t *body;

	registry_time_format(when, sizeof(when), tracker_last_event_ns(a->tracker) / 1000000);
	body = json_pack("{s:s, s:{s:b, s:s}, s:{s:s, s:s?, s:s?}, s:s, s:s, s:s}", "status",
	                 up ? "ok" : "unavailable", "docker", "connected", up, "state",
	                 tracker_docker_state(a->tracker), "agent", "state", agent_state(a->agent),
	                 "cluster", m != NULL ? m->cluster_short : NULL, "container_instance",
	                 m != NULL && m->instance_arn[0] != '\0' ? m->instance_arn : NULL,
	                 "host_ip", a->info.host_ip, "host_ip_source", a->info.host_ip_source,
	                 "last_event_at", when);
	httpd_json(req, up ? 200 : 503, body);
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

	if (httpd_query(req, "task", task, sizeof(task)) == 0)
		f.task = task;
	if (httpd_query(req, "tenant", tenant, sizeof(tenant)) == 0)
		f.tenant = tenant;
	if (httpd_query(req, "status", status, sizeof(status)) == 0) {
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

static void
binding_one(struct api *a, struct evhttp_request *req, const char *path)
{
	struct binding b;
	struct waiter *w;
	char *task, buf[16];
	long wait = 0;
	struct timeval tv;
	int rc;

	if ((task = evhttp_uridecode(path + strlen(BINDINGS_PREFIX), 0, NULL)) == NULL) {
		httpd_error(req, 400, "bad_request", "bad task id", "task");
		return;
	}
	if (!task_ok(task)) {
		free(task);
		httpd_error(req, 400, "bad_request", "bad task id", "task");
		return;
	}
	if (httpd_query(req, "wait", buf, sizeof(buf)) == 0) {
		char *end;

		errno = 0;
		wait = strtol(buf, &end, 10);
		if (buf[0] == '\0' || *end != '\0' || errno != 0 || wait < 0 ||
		    wait > API_WAIT_MAX) {
			free(task);
			httpd_error(req, 400, "bad_request", "wait must be 0..300 seconds", "wait");
			return;
		}
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
	if (a->nwaiters >= API_WAITERS_MAX || (w = calloc(1, sizeof(*w))) == NULL) {
		free(task);
		httpd_error(req, 503, "busy", "too many waiting requests", NULL);
		return;
	}
	w->api = a;
	w->req = req;
	snprintf(w->task, sizeof(w->task), "%s", task);
	free(task);
	w->timer = evtimer_new(evhttp_connection_get_base(evhttp_request_get_connection(req)),
	                       waiter_timeout, w);
	TAILQ_INSERT_TAIL(&a->waiters, w, entry);
	a->nwaiters++;
	tv.tv_sec = wait;
	tv.tv_usec = 0;
	evtimer_add(w->timer, &tv);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), waiter_closed, w);
}

static void
metrics_page(struct api *a, struct evhttp_request *req)
{
	struct registry_stats st;
	struct evbuffer *b = evbuffer_new();
	int have = registry_stats(a->reg, &st) == 0;

	metrics_render(b, have ? &st : NULL, tracker_connected(a->tracker));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
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
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		httpd_error(req, 405, "method_not_allowed", "only GET is served", NULL);
		return;
	}
	if (strcmp(path, "/healthz") == 0)
		healthz(a, req);
	else if (strcmp(path, "/v1/bindings") == 0 || strcmp(path, "/v1/bindings/") == 0)
		bindings_list(a, req);
	else if (strncmp(path, BINDINGS_PREFIX, strlen(BINDINGS_PREFIX)) == 0)
		binding_one(a, req, path);
	else if (strcmp(path, "/metrics") == 0)
		metrics_page(a, req);
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
	TAILQ_INIT(&a->waiters);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
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
	free(a);
}
