/*
 * api: berth-launcher's HTTP routes (docs/api.md).
 *
 *   POST   /v1/tenants              provision (201, or 202 with Prefer: respond-async)
 *   GET    /v1/tenants              list, paged: ?limit=&after=&status=
 *   GET    /v1/tenants/{subdomain}  one tenant
 *   DELETE /v1/tenants/{subdomain}  stop its task, mark it STOPPED
 *   GET    /healthz                 liveness (no auth, no rate limit)
 *   GET    /metrics                 Prometheus text
 *
 * Every request but /healthz passes the bearer check when a token is set,
 * then the per-client token bucket (failed checks have buckets of their
 * own). CORS headers go on every answer when
 * --cors-origin is set, and OPTIONS preflights are answered for that origin.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/clock.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/metrics.h"
#include "launcher/ddb.h"
#include "launcher/launcher.h"
#include "launcher/ratelimit.h"
#include "launcher/request.h"

#define API_PREFIX             "/v1/tenants"
#define API_LIST_MAX           1000
#define API_LIST_DEF           100
#define API_PATH_MAX           512
#define API_TRANSPORT_BODY_MAX (1024 * 1024) /* evhttp refuses (413) past this */
#define API_HEADERS_MAX        (16 * 1024)

static enum metric_route
route_of(struct evhttp_request *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (path == NULL)
		return MR_OTHER;
	if (strcmp(path, "/healthz") == 0)
		return MR_HEALTH;
	if (strcmp(path, "/metrics") == 0)
		return MR_METRICS;
	if (strcmp(path, API_PREFIX) == 0)
		return cmd == EVHTTP_REQ_POST  ? MR_POST
		       : cmd == EVHTTP_REQ_GET ? MR_LIST
		                               : MR_OTHER;
	if (strncmp(path, API_PREFIX "/", sizeof(API_PREFIX)) == 0)
		return cmd == EVHTTP_REQ_GET      ? MR_GET
		       : cmd == EVHTTP_REQ_DELETE ? MR_DELETE
		                                  : MR_OTHER;
	return MR_OTHER;
}

static void
count(struct launcher *l, struct evhttp_request *req, int status)
{
	enum metric_class c = status < 400 ? MC_2XX : status < 500 ? MC_4XX : MC_5XX;

	metric_inc(l->m.requests[route_of(req)][c]);
}

static void
api_reply_json(struct launcher *l, struct evhttp_request *req, int status, json_t *body)
{
	count(l, req, status);
	httpd_json(req, status, body);
}

static void
api_reply_error(struct launcher *l, struct evhttp_request *req, int status, const char *code,
                const char *msg, const char *field)
{
	count(l, req, status);
	httpd_error(req, status, code, msg, field != NULL && *field != '\0' ? field : NULL);
}

static json_t *
api_tenant_json(const struct tenant *t)
{
	return tenant_to_json(t);
}

static void
add_header(struct evhttp_request *req, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
}

/* A provision's outcome, for the request that waited on it (l->answer). */
static void
answer(struct launcher *l, void *who, const struct prov_outcome *o)
{
	struct evhttp_request *req = who;
	char ra[16];

	if (o->server_timing != NULL)
		add_header(req, "Server-Timing", o->server_timing);
	if (o->retry_after_s > 0) {
		snprintf(ra, sizeof(ra), "%d", o->retry_after_s);
		add_header(req, "Retry-After", ra);
	}
	if (o->code == NULL)
		api_reply_json(l, req, o->status, api_tenant_json(o->t));
	else
		api_reply_error(l, req, o->status, o->code, o->msg, NULL);
}

/*
 * The registry did not take a read or write (a lock held elsewhere past
 * LAUNCHER_BUSY_MS, a full disk): this request pays, and may ask again.
 */
static void
reply_registry_error(struct launcher *l, struct evhttp_request *req, const char *msg)
{
	add_header(req, "Retry-After", "1");
	api_reply_error(l, req, 503, "registry_error", msg, NULL);
}

static const char *
in_header(struct evhttp_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

static void
set_location(struct evhttp_request *req, const char *subdomain)
{
	char loc[sizeof(API_PREFIX) + REG_SUBDOMAIN_MAX + 1];

	snprintf(loc, sizeof(loc), API_PREFIX "/%s", subdomain);
	add_header(req, "Location", loc);
}

/* Prefer: respond-async (RFC 7240), among other preferences. */
static int
wants_async(struct evhttp_request *req)
{
	const char *v = in_header(req, "Prefer");

	return v != NULL && strcasestr(v, "respond-async") != NULL;
}

/* The first field of a request that differs from the stored tenant, or NULL. */
static const char *
differs(const struct tenant *t, const struct tenant_req *r)
{
	if (strcmp(t->admin_email, r->admin_email) != 0)
		return "admin_email";
	if (strcmp(t->company_name, r->company_name) != 0)
		return "company_name";
	return NULL;
}

/*
 * Starts provisioning t (written PROVISIONING). Synchronous: the provision
 * answers req when it ends, failures included. Asynchronous: 202 now, or the
 * failure when nothing could be started.
 */
static void
start_and_answer(struct launcher *l, struct evhttp_request *req, const struct tenant *t, int async,
                 int64_t t0, int takeover)
{
	struct evhttp_request *waiter = async ? NULL : req;

	if ((takeover ? prov_take_over(l, t, waiter, t0, "provision_takeover")
	              : prov_start(l, t, waiter, t0)) != 0) {
		if (async)
			api_reply_error(l, req, 502, "backend_error",
			                "the task could not be started", NULL);
		return;
	}
	if (async) {
		set_location(req, t->subdomain);
		api_reply_json(l, req, 202, api_tenant_json(t));
	}
}

/* An existing tenant and the same request again: idempotent, or provisioned again. */
static void
post_existing(struct launcher *l, struct evhttp_request *req, struct tenant *t, int async,
              int64_t t0)
{
	struct prov *p = prov_find(l, t->subdomain);

	switch (t->status) {
	case TENANT_RUNNING:
		api_reply_json(l, req, 200, api_tenant_json(t));
		return;
	case TENANT_PROVISIONING:
		if (p != NULL && prov_finished(p)) {
			/* Its last state did not reach the registry: write it, look again. */
			if (prov_flush(p) != 0 ||
			    registry_tenant_get(l->reg, t->subdomain, t) != 0) {
				reply_registry_error(l, req, "the tenant could not be recorded");
				return;
			}
			if (t->status != TENANT_PROVISIONING) {
				post_existing(l, req, t, async, t0);
				return;
			}
			p = prov_find(l, t->subdomain);
		}
		if (p == NULL && prov_orphaned(l, t)) {
			/* Left by a provision that is gone (a crash, a lost write): take it up. */
			log_warnx("provision_takeover tenant=%s task=%s idle_ms=%lld", t->subdomain,
			          t->task_arn[0] != '\0' ? t->task_arn : "none",
			          (long long)(registry_now_ms() - t->updated_at));
			start_and_answer(l, req, t, async, t0, 1);
			return;
		}
		/* In flight here: wait with the first request; elsewhere: as it stands. */
		if (!async && p != NULL && !prov_finished(p) && prov_join(p, req, t0) == 0)
			return;
		set_location(req, t->subdomain);
		api_reply_json(l, req, 202, api_tenant_json(t));
		return;
	case TENANT_FAILED:
	case TENANT_STOPPED:
		break;
	}
	if (p != NULL) {
		/* The last attempt is still being cleaned up (its task stopped). */
		add_header(req, "Retry-After", "1");
		api_reply_error(l, req, 503, "busy", "the tenant is being stopped; ask again",
		                NULL);
		return;
	}
	log_info("provision_again tenant=%s was=%s", t->subdomain, tenant_status_str(t->status));
	t->status = TENANT_PROVISIONING;
	t->error[0] = t->url[0] = t->host_ip[0] = t->task_arn[0] = '\0';
	t->host_port = 0;
	if (registry_tenant_update(l->reg, t) != 0) {
		reply_registry_error(l, req, "the tenant could not be recorded");
		return;
	}
	start_and_answer(l, req, t, async, t0, 0);
}

/* A new tenant waiting for its subdomain's claim in DynamoDB (--dynamodb-table). */
struct claiming {
	struct launcher *l;
	struct evhttp_request *req;
	struct tenant t;
	int async;
	int64_t t0;
};

/* DynamoDB's answer as HTTP: the table decides a race between launchers on different hosts. */
static void
on_claimed(const struct ddb_claim_result *res, void *arg)
{
	struct claiming *w = arg;
	struct launcher *l = w->l;
	struct tenant t;

	switch (res->outcome) {
	case DDB_CLAIMED:
		if (registry_tenant_insert(l->reg, &w->t) == 0) {
			log_info("provision_begin tenant=%s reserved=dynamodb", w->t.subdomain);
			start_and_answer(l, w->req, &w->t, w->async, w->t0, 0);
			break;
		}
		log_warnx("registry_error tenant=%s error=\"%s\"", w->t.subdomain,
		          registry_errmsg(l->reg));
		reply_registry_error(l, w->req, "the registry is not available");
		break;
	case DDB_MINE:
		if (registry_tenant_get(l->reg, w->t.subdomain, &t) == 0) {
			post_existing(l, w->req, &t, w->async, w->t0);
			break;
		}
		reply_registry_error(l, w->req, "the registry is not available");
		break;
	case DDB_SAME_RUNNING:
		/* The same request, served by another launcher: as it stands. */
		log_info("provision_existing tenant=%s reserved=elsewhere", w->t.subdomain);
		api_reply_json(l, w->req, 200, api_tenant_json(res->tenant));
		break;
	case DDB_IN_FLIGHT:
		log_info("provision_in_flight tenant=%s reserved=elsewhere", w->t.subdomain);
		add_header(w->req, "Retry-After", "1");
		api_reply_error(l, w->req, 503, "busy",
		                "the tenant is being provisioned by another launcher; ask again",
		                NULL);
		break;
	case DDB_ERROR:
		log_warnx("dynamodb_reserve_failed tenant=%s error=\"%s\"", w->t.subdomain,
		          res->errmsg);
		api_reply_error(l, w->req, 503, "dynamodb_error",
		                "the subdomain could not be reserved in DynamoDB", NULL);
		break;
	case DDB_CONFLICT:
	default:
		if (res->field != NULL) {
			log_info("provision_conflict tenant=%s reserved=elsewhere field=%s",
			         w->t.subdomain, res->field);
			api_reply_error(l, w->req, 409, "conflict",
			                "the subdomain is taken with other details", res->field);
		} else {
			log_info("provision_conflict tenant=%s reserved=elsewhere", w->t.subdomain);
			api_reply_error(l, w->req, 409, "conflict",
			                "the subdomain is taken (reserved by another launcher)",
			                "subdomain");
		}
		break;
	}
	free(w);
}

static void
post_tenant(struct launcher *l, struct evhttp_request *req, int64_t t0)
{
	struct tenant_req r;
	struct validate_error e;
	struct tenant t;
	const char *field;
	char *body = NULL;
	size_t len = 0;
	int async = wants_async(req), rc;

	if (l->nprovs >= l->max_inflight) {
		add_header(req, "Retry-After", "1");
		api_reply_error(l, req, 503, "busy", "too many tenants are being provisioned",
		                NULL);
		return;
	}
	if ((rc = httpd_body(req, REQUEST_BODY_MAX, &body, &len)) != 0) {
		if (rc == -E2BIG)
			api_reply_error(l, req, 400, "body_too_large",
			                "the request body is larger than 16 KiB", NULL);
		else
			api_reply_error(l, req, 500, "internal", "out of memory", NULL);
		return;
	}
	rc = request_decode_tenant(in_header(req, "Content-Type"), body, len, &r, &e);
	free(body);
	if (rc != 0) {
		api_reply_error(l, req, 400, e.code, e.message, e.field);
		return;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = registry_tenant_get(l->reg, r.subdomain, &t);
		if (rc == 0) {
			if ((field = differs(&t, &r)) != NULL) {
				api_reply_error(l, req, 409, "conflict",
				                "the subdomain is taken with other details", field);
				return;
			}
			post_existing(l, req, &t, async, t0);
			return;
		}
		if (rc != -ENOENT)
			break;
		memset(&t, 0, sizeof(t));
		snprintf(t.subdomain, sizeof(t.subdomain), "%s", r.subdomain);
		snprintf(t.admin_email, sizeof(t.admin_email), "%s", r.admin_email);
		snprintf(t.company_name, sizeof(t.company_name), "%s", r.company_name);
		t.status = TENANT_PROVISIONING;
		if (l->ddb != NULL) {
			struct claiming *w = calloc(1, sizeof(*w));

			if (w == NULL) {
				api_reply_error(l, req, 500, "internal", "out of memory", NULL);
				return;
			}
			*w = (struct claiming){l, req, t, async, t0};
			if (launcher_ddb_claim(l, &t, on_claimed, w) != 0) {
				free(w);
				api_reply_error(l, req, 500, "internal", "out of memory", NULL);
			}
			return;
		}
		/* The registry's unique key decides a race between launchers. */
		rc = registry_tenant_insert(l->reg, &t);
		if (rc == -EEXIST)
			continue;
		if (rc != 0)
			break;
		log_info("provision_begin tenant=%s", t.subdomain);
		start_and_answer(l, req, &t, async, t0, 0);
		return;
	}
	log_warnx("registry_error tenant=%s error=\"%s\"", r.subdomain, registry_errmsg(l->reg));
	reply_registry_error(l, req, "the registry is not available");
}

static void
get_tenant(struct launcher *l, struct evhttp_request *req, const char *sub)
{
	struct tenant t;
	int rc = registry_tenant_get(l->reg, sub, &t);

	if (rc == -ENOENT || rc == -EINVAL)
		api_reply_error(l, req, 404, "not_found", "no such tenant", NULL);
	else if (rc != 0)
		reply_registry_error(l, req, "the registry is not available");
	else
		api_reply_json(l, req, 200, api_tenant_json(&t));
}

static void
delete_tenant(struct launcher *l, struct evhttp_request *req, const char *sub)
{
	struct tenant t;
	struct prov *p;
	int rc = registry_tenant_get(l->reg, sub, &t);

	if (rc == -ENOENT || rc == -EINVAL) {
		api_reply_error(l, req, 404, "not_found", "no such tenant", NULL);
		return;
	}
	if (rc != 0) {
		reply_registry_error(l, req, "the registry is not available");
		return;
	}
	p = prov_find(l, sub);
	if (t.status == TENANT_STOPPED && p == NULL) {
		api_reply_json(l, req, 200, api_tenant_json(&t));
		return;
	}
	if (prov_delete(l, &t, req) != 0) {
		add_header(req, "Retry-After", "1");
		api_reply_error(l, req, 503, "busy", "the tenant is busy; ask again", NULL);
	}
}

struct list_ctx {
	json_t *arr;
	char last[REG_SUBDOMAIN_MAX];
};

static int
list_one(const struct tenant *t, void *arg)
{
	struct list_ctx *c = arg;

	json_array_append_new(c->arr, api_tenant_json(t));
	snprintf(c->last, sizeof(c->last), "%s", t->subdomain);
	return 0;
}

static void
list_tenants(struct launcher *l, struct evhttp_request *req)
{
	char v[REG_SUBDOMAIN_MAX], after[REG_SUBDOMAIN_MAX] = "", *end;
	struct list_ctx c = {json_array(), ""};
	long limit = API_LIST_DEF;
	int status = -1, rc;

	if ((rc = httpd_query(req, "limit", v, sizeof(v))) == 0) {
		limit = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || limit < 1 || limit > API_LIST_MAX) {
			json_decref(c.arr);
			api_reply_error(l, req, 400, "invalid_query", "limit must be 1 to 1000",
			                "limit");
			return;
		}
	} else if (rc != -ENOENT) {
		json_decref(c.arr);
		api_reply_error(l, req, 400, "invalid_query", "bad limit", "limit");
		return;
	}
	if ((rc = httpd_query(req, "status", v, sizeof(v))) == 0) {
		if ((status = tenant_status_parse(v)) < 0) {
			json_decref(c.arr);
			api_reply_error(l, req, 400, "invalid_query",
			                "status must be PROVISIONING, RUNNING, FAILED or STOPPED",
			                "status");
			return;
		}
	} else if (rc != -ENOENT) {
		json_decref(c.arr);
		api_reply_error(l, req, 400, "invalid_query", "bad status", "status");
		return;
	}
	if ((rc = httpd_query(req, "after", after, sizeof(after))) != 0 && rc != -ENOENT) {
		json_decref(c.arr);
		api_reply_error(l, req, 400, "invalid_query", "bad after", "after");
		return;
	}
	rc = registry_tenant_list(l->reg, status, after[0] != '\0' ? after : NULL, (int)limit,
	                          list_one, &c);
	if (rc != 0 && rc != -ENOENT) {
		json_decref(c.arr);
		reply_registry_error(l, req, "the registry is not available");
		return;
	}
	api_reply_json(
	    l, req, 200,
	    json_pack("{s:o, s:o}", "tenants", c.arr, "next",
	              (long)json_array_size(c.arr) == limit ? json_string(c.last) : json_null()));
}

static void
metrics(struct launcher *l, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		api_reply_error(l, req, 500, "internal", "out of memory", NULL);
		return;
	}
	count(l, req, 200);
	launcher_metrics_render(l, b);
	add_header(req, "Content-Type", "text/plain; version=0.0.4");
	httpd_send(req, 200, b);
	evbuffer_free(b);
}

/* Liveness, and the registry file at --db is still the one open (a stat). */
static void
healthz(struct launcher *l, struct evhttp_request *req)
{
	if (registry_check_file(l->reg) != 0) {
		if (!l->file_warned)
			log_warnx("registry_file_lost error=\"%s\"", registry_errmsg(l->reg));
		l->file_warned = 1;
		api_reply_json(l, req, 503,
		               json_pack("{s:s, s:{s:s, s:s}}", "status", "failing", "registry",
		                         "state", "failing", "error", registry_errmsg(l->reg)));
		return;
	}
	l->file_warned = 0;
	api_reply_json(l, req, 200, json_pack("{s:s}", "status", "ok"));
}

static void
cors_headers(struct launcher *l, struct evhttp_request *req)
{
	if (l->cors_origin == NULL || *l->cors_origin == '\0')
		return;
	add_header(req, "Access-Control-Allow-Origin", l->cors_origin);
	add_header(req, "Vary", "Origin");
	add_header(req, "Access-Control-Expose-Headers", "Location, Retry-After, Server-Timing");
}

static void
preflight(struct launcher *l, struct evhttp_request *req)
{
	const char *origin = in_header(req, "Origin");

	if (l->cors_origin == NULL || *l->cors_origin == '\0') {
		add_header(req, "Allow", "GET, POST, DELETE");
		api_reply_error(l, req, 405, "method_not_allowed", "CORS is not enabled", NULL);
		return;
	}
	if (strcmp(l->cors_origin, "*") != 0 &&
	    (origin == NULL || strcmp(origin, l->cors_origin) != 0)) {
		api_reply_error(l, req, 403, "cors_origin", "this origin may not call the API",
		                NULL);
		return;
	}
	add_header(req, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
	add_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type, Prefer");
	add_header(req, "Access-Control-Max-Age", "600");
	count(l, req, 204);
	evhttp_send_reply(req, 204, NULL, NULL);
}

static void
method_not_allowed(struct launcher *l, struct evhttp_request *req, const char *allow)
{
	add_header(req, "Allow", allow);
	api_reply_error(l, req, 405, "method_not_allowed", "this route does not take that method",
	                NULL);
}

/*
 * The client's token bucket. Requests with a valid token (or when auth is
 * off) and requests without one draw from separate buckets of the same
 * client (unauth is 1: the key gets a "!" prefix), so callers that fail auth
 * can never spend the budget of the ones that pass it.
 */
static int
rate_ok(struct launcher *l, struct evhttp_request *req, int unauth)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	char *addr = NULL, ra[16], key[RATELIMIT_KEY_MAX + 1];
	const char *fwd = NULL;
	ev_uint16_t port;
	int retry = 1;

	if (l->rl == NULL)
		return 1;
	if (c != NULL)
		evhttp_connection_get_peer(c, &addr, &port);
	/* Behind a load balancer the peer is the balancer: trust its header if told to. */
	if (l->client_ip_header != NULL && *l->client_ip_header != '\0')
		fwd = in_header(req, l->client_ip_header);
	key[0] = '!';
	ratelimit_client_key(addr, fwd, key + 1, sizeof(key) - 1);
	if (ratelimit_take(l->rl, unauth ? key : key + 1, clock_mono_us() / 1000, &retry))
		return 1;
	metric_inc(l->m.rate_limited);
	snprintf(ra, sizeof(ra), "%d", retry);
	add_header(req, "Retry-After", ra);
	api_reply_error(l, req, 429, "rate_limited", "too many requests; slow down", NULL);
	return 0;
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct launcher *l = arg;
	int64_t t0 = clock_mono_us();
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int is_get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	if (path == NULL || *path == '\0')
		path = "/";
	cors_headers(l, req);
	if (!httpd_framing_ok(req)) {
		count(l, req, 400);
		return;
	}
	if (cmd == EVHTTP_REQ_OPTIONS) {
		preflight(l, req);
		return;
	}
	if (l->closing) {
		api_reply_error(l, req, 503, "shutting_down", "the launcher is shutting down",
		                NULL);
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		if (!is_get)
			method_not_allowed(l, req, "GET");
		else
			healthz(l, req);
		return;
	}
	/* Authenticate first: a caller without the token never spends anyone's budget. */
	if (l->token[0] != '\0' && !httpd_bearer_ok(req, l->token)) {
		if (!rate_ok(l, req, 1))
			return;
		metric_inc(l->m.unauthorized);
		add_header(req, "WWW-Authenticate", "Bearer");
		api_reply_error(l, req, 401, "unauthorized", "a valid bearer token is required",
		                NULL);
		return;
	}
	if (!rate_ok(l, req, 0))
		return;
	if (strcmp(path, "/metrics") == 0) {
		if (!is_get)
			method_not_allowed(l, req, "GET");
		else
			metrics(l, req);
		return;
	}
	if (strcmp(path, API_PREFIX) == 0) {
		if (cmd == EVHTTP_REQ_POST)
			post_tenant(l, req, t0);
		else if (is_get)
			list_tenants(l, req);
		else
			method_not_allowed(l, req, "GET, POST");
		return;
	}
	if (strncmp(path, API_PREFIX "/", sizeof(API_PREFIX)) == 0) {
		const char *sub = path + sizeof(API_PREFIX);

		if (*sub == '\0' || strchr(sub, '/') != NULL || strlen(sub) >= REG_SUBDOMAIN_MAX) {
			api_reply_error(l, req, 404, "not_found", "no such tenant", NULL);
			return;
		}
		if (is_get)
			get_tenant(l, req, sub);
		else if (cmd == EVHTTP_REQ_DELETE)
			delete_tenant(l, req, sub);
		else
			method_not_allowed(l, req, "GET, DELETE");
		return;
	}
	api_reply_error(l, req, 404, "not_found", "no such route", NULL);
}

int
api_init(struct launcher *l, char *err, size_t errlen)
{
	if (launcher_metrics_init(l) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->answer = answer;
	evhttp_set_gencb(l->http, handle, l);
	evhttp_set_max_body_size(l->http, API_TRANSPORT_BODY_MAX);
	evhttp_set_max_headers_size(l->http, API_HEADERS_MAX);
	/* Every method reaches the handler, so a 405 is JSON like every other error. */
	evhttp_set_allowed_methods(l->http, HTTPD_ALL_METHODS);
	/*
	 * evhttp's time-out bounds reading a request and idle keep-alive, not
	 * the time a handler takes to answer (a POST waits --wait-timeout).
	 */
	evhttp_set_timeout(l->http, HTTPD_IO_TIMEOUT_S);
	return 0;
}

void
api_free(struct launcher *l)
{
	launcher_metrics_free(l);
}
