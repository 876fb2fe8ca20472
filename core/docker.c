/*
 * docker: the Docker Engine API client over evcurl. The parsers live in
 * docker_parse.c.
 */
#include "core/docker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/evcurl.h"
#include "core/log.h"

#define DOCKER_TIMEOUT_MS  30000
#define DOCKER_URL_MAX     2048
#define DOCKER_MESSAGE_MAX 512

struct docker {
	struct evcurl *ec;
	char sock[108]; /* Unix socket path; "" for tcp */
	char base[256]; /* "http://localhost" or "http://host:port" */
	char version[16];
	char *env_name;
	unsigned long dropped;
};

enum dreq_kind { DREQ_RAW, DREQ_INSPECT, DREQ_LIST, DREQ_CREATE };

struct dreq {
	struct docker *d;
	enum dreq_kind kind;
	union {
		docker_done_cb raw;
		docker_inspect_cb inspect;
		docker_list_cb list;
		docker_create_cb create;
	} cb;
	void *arg;
	int ping;
};

struct docker_events {
	struct docker *d;
	struct evcurl_xfer *x;
	struct docker_lines lines;
	docker_event_cb on_event;
	docker_end_cb on_end;
	void *arg;
	int stopped;
	long status;
};

struct docker *
docker_new(struct evcurl *ec, const char *host, const char *env_name, char *err, size_t errlen)
{
	struct docker *d;
	const char *path = NULL;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->ec = ec;
	snprintf(d->version, sizeof(d->version), "%s", DOCKER_API_MAX);
	if (strncmp(host, "unix://", 7) == 0)
		path = host + 7;
	else if (host[0] == '/')
		path = host;
	if (path != NULL) {
		if (strlen(path) >= sizeof(d->sock) || path[0] != '/') {
			snprintf(err, errlen, "bad Docker socket path");
			goto fail;
		}
		snprintf(d->sock, sizeof(d->sock), "%s", path);
		snprintf(d->base, sizeof(d->base), "http://localhost");
	} else if (strncmp(host, "tcp://", 6) == 0 && strlen(host + 6) > 0 &&
	           strlen(host + 6) < sizeof(d->base) - 8 && strchr(host + 6, '/') == NULL) {
		snprintf(d->base, sizeof(d->base), "http://%s", host + 6);
	} else {
		snprintf(err, errlen,
		         "unsupported Docker host (want unix:///path or tcp://host:port)");
		goto fail;
	}
	if (env_name != NULL && (d->env_name = strdup(env_name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return d;
fail:
	free(d);
	return NULL;
}

void
docker_free(struct docker *d)
{
	if (d == NULL)
		return;
	free(d->env_name);
	free(d);
}

const char *
docker_api_version(const struct docker *d)
{
	return d->version;
}

unsigned long
docker_dropped_lines(const struct docker *d)
{
	return d->dropped;
}

/* "1.44" → 144 style number for comparison; -1 on junk. */
static long
version_num(const char *v)
{
	char *end;
	long major, minor;

	errno = 0;
	major = strtol(v, &end, 10);
	if (errno != 0 || *end != '.' || major < 0 || major > 99)
		return -1;
	minor = strtol(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || minor < 0 || minor > 999)
		return -1;
	return major * 1000 + minor;
}

static void
dreq_done(const struct evcurl_resp *r, void *arg)
{
	struct dreq *q = arg;
	struct docker *d = q->d;
	struct docker_resp resp;
	char msg[DOCKER_MESSAGE_MAX] = "", err[256] = "";

	resp.status = r->status;
	resp.error = r->error;
	resp.body = r->body;
	resp.body_len = r->body_len;
	if (r->error != 0)
		snprintf(msg, sizeof(msg), "%s",
		         r->errmsg[0] != '\0' ? r->errmsg : strerror(-r->error));
	else if (r->status >= 400)
		docker_error_message(r->body, r->body_len, msg, sizeof(msg));
	resp.message = msg;
	if (q->ping && r->error == 0 && r->status == 200) {
		char v[16];
		long have, max = version_num(DOCKER_API_MAX);

		/* Speak min(Api-Version, DOCKER_API_MAX). */
		if (evcurl_header(r->headers, "Api-Version", v, sizeof(v)) == 0 &&
		    (have = version_num(v)) > 0 && have < max)
			snprintf(d->version, sizeof(d->version), "%s", v);
		else
			snprintf(d->version, sizeof(d->version), "%s", DOCKER_API_MAX);
	}
	switch (q->kind) {
	case DREQ_RAW:
		q->cb.raw(&resp, q->arg);
		break;
	case DREQ_INSPECT: {
		struct docker_container c;

		if (r->error == 0 && r->status == 200) {
			if (docker_inspect_parse(r->body, r->body_len, d->env_name, &c, err,
			                         sizeof(err)) == 0) {
				q->cb.inspect(&resp, &c, q->arg);
				docker_container_clear(&c);
				break;
			}
			resp.error = -EPROTO;
			snprintf(msg, sizeof(msg), "%s", err);
		}
		q->cb.inspect(&resp, NULL, q->arg);
		break;
	}
	case DREQ_LIST: {
		struct docker_container *v = NULL;
		size_t n = 0;

		if (r->error == 0 && r->status == 200) {
			if (docker_list_parse(r->body, r->body_len, &v, &n, err, sizeof(err)) ==
			    0) {
				q->cb.list(&resp, v, n, q->arg);
				docker_list_free(v, n);
				break;
			}
			resp.error = -EPROTO;
			snprintf(msg, sizeof(msg), "%s", err);
		}
		q->cb.list(&resp, NULL, 0, q->arg);
		break;
	}
	case DREQ_CREATE: {
		char id[DOCKER_ID_MAX] = "";
		json_t *root;

		if (r->error == 0 && r->status == 201 &&
		    (root = json_loadb(r->body, r->body_len, 0, NULL)) != NULL) {
			json_t *v = json_object_get(root, "Id");

			if (json_is_string(v) && json_string_length(v) < sizeof(id))
				snprintf(id, sizeof(id), "%s", json_string_value(v));
			json_decref(root);
		}
		q->cb.create(&resp, id, q->arg);
		break;
	}
	}
	free(q);
}

/* Starts a request; path is versioned unless unversioned is set. */
static struct evcurl_xfer *
dreq_start(struct docker *d, struct dreq *q, const char *method, const char *path, const char *body,
           long timeout_ms, int unversioned)
{
	static const char *const json_hdrs[] = {"Content-Type: application/json", NULL};
	struct evcurl_req req;
	struct evcurl_xfer *x;
	char url[DOCKER_URL_MAX];
	int n;

	if (unversioned)
		n = snprintf(url, sizeof(url), "%s%s", d->base, path);
	else
		n = snprintf(url, sizeof(url), "%s/v%s%s", d->base, d->version, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		free(q);
		return NULL;
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.unix_socket = d->sock[0] != '\0' ? d->sock : NULL;
	req.headers = body != NULL ? json_hdrs : NULL;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = timeout_ms > 0 ? timeout_ms : DOCKER_TIMEOUT_MS;
	req.body_max = DOCKER_BODY_MAX;
	req.no_proxy = 1;
	req.on_done = dreq_done;
	req.arg = q;
	if ((x = evcurl_start(d->ec, &req)) == NULL)
		free(q);
	return x;
}

static struct dreq *
dreq_new(struct docker *d, enum dreq_kind kind, void *arg)
{
	struct dreq *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->d = d;
	q->kind = kind;
	q->arg = arg;
	return q;
}

struct evcurl_xfer *
docker_ping(struct docker *d, docker_done_cb cb, void *arg)
{
	struct dreq *q;

	if ((q = dreq_new(d, DREQ_RAW, arg)) == NULL)
		return NULL;
	q->cb.raw = cb;
	q->ping = 1;
	return dreq_start(d, q, "GET", "/_ping", NULL, 5000, 1);
}

struct evcurl_xfer *
docker_request(struct docker *d, const char *method, const char *path, const char *body,
               long timeout_ms, docker_done_cb cb, void *arg)
{
	struct dreq *q;

	if (path[0] != '/' || (q = dreq_new(d, DREQ_RAW, arg)) == NULL)
		return NULL;
	q->cb.raw = cb;
	return dreq_start(d, q, method, path, body, timeout_ms, 0);
}

/* An ID or name goes into a path: allow only what Docker allows in names. */
static int
ref_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n < DOCKER_NAME_MAX &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

struct evcurl_xfer *
docker_inspect(struct docker *d, const char *id, docker_inspect_cb cb, void *arg)
{
	struct dreq *q;
	char path[DOCKER_NAME_MAX + 32];

	if (!ref_ok(id) || (q = dreq_new(d, DREQ_INSPECT, arg)) == NULL)
		return NULL;
	q->cb.inspect = cb;
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	return dreq_start(d, q, "GET", path, NULL, 0, 0);
}

/* Percent-encodes s into out; -E2BIG when it does not fit. */
static int
urlencode(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (o + 4 > outlen)
			return -E2BIG;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

struct evcurl_xfer *
docker_list(struct docker *d, int all, const char *filters, docker_list_cb cb, void *arg)
{
	struct dreq *q;
	char enc[1024], path[1200];

	if (filters != NULL && urlencode(filters, enc, sizeof(enc)) != 0)
		return NULL;
	if ((q = dreq_new(d, DREQ_LIST, arg)) == NULL)
		return NULL;
	q->cb.list = cb;
	snprintf(path, sizeof(path), "/containers/json?all=%d%s%s", all ? 1 : 0,
	         filters != NULL ? "&filters=" : "", filters != NULL ? enc : "");
	return dreq_start(d, q, "GET", path, NULL, 0, 0);
}

struct evcurl_xfer *
docker_create(struct docker *d, const char *name, json_t *config, long timeout_ms,
              docker_create_cb cb, void *arg)
{
	struct dreq *q;
	struct evcurl_xfer *x;
	char path[DOCKER_NAME_MAX + 32];
	char *body;

	if (name != NULL && !ref_ok(name))
		return NULL;
	if ((body = json_dumps(config, JSON_COMPACT)) == NULL)
		return NULL;
	if ((q = dreq_new(d, DREQ_CREATE, arg)) == NULL) {
		free(body);
		return NULL;
	}
	q->cb.create = cb;
	snprintf(path, sizeof(path), "/containers/create%s%s", name != NULL ? "?name=" : "",
	         name != NULL ? name : "");
	x = dreq_start(d, q, "POST", path, body, timeout_ms, 0);
	free(body);
	return x;
}

/* A bodiless request to fmt (with id and n) that may take timeout_ms. */
static struct evcurl_xfer *
simple(struct docker *d, const char *method, const char *fmt, const char *id, int n,
       long timeout_ms, docker_done_cb cb, void *arg)
{
	struct dreq *q;
	char path[DOCKER_NAME_MAX + 64];

	if (!ref_ok(id) || (q = dreq_new(d, DREQ_RAW, arg)) == NULL)
		return NULL;
	q->cb.raw = cb;
	snprintf(path, sizeof(path), fmt, id, n);
	return dreq_start(d, q, method, path, NULL, timeout_ms, 0);
}

struct evcurl_xfer *
docker_start(struct docker *d, const char *id, long timeout_ms, docker_done_cb cb, void *arg)
{
	return simple(d, "POST", "/containers/%s/start", id, 0, timeout_ms, cb, arg);
}

struct evcurl_xfer *
docker_stop(struct docker *d, const char *id, int timeout_s, docker_done_cb cb, void *arg)
{
	if (timeout_s < 0 || timeout_s > 3600)
		return NULL;
	/* A stop waits up to its time-out inside the daemon. */
	return simple(d, "POST", "/containers/%s/stop?t=%d", id, timeout_s,
	              DOCKER_TIMEOUT_MS + timeout_s * 1000L, cb, arg);
}

struct evcurl_xfer *
docker_remove(struct docker *d, const char *id, int force, docker_done_cb cb, void *arg)
{
	return simple(d, "DELETE", "/containers/%s?force=%d", id, force ? 1 : 0,
	              DOCKER_TIMEOUT_MS + (force ? 1000L : 0), cb, arg);
}

static void
events_line(const char *line, size_t len, void *arg)
{
	struct docker_events *ev = arg;
	struct docker_event e;
	char err[128];

	if (ev->stopped)
		return;
	if (docker_event_parse(line, len, &e, err, sizeof(err)) != 0) {
		ev->d->dropped++;
		log_debug("docker_event_dropped reason=\"%s\"", err);
		return;
	}
	ev->on_event(&e, ev->arg);
}

static int
events_data(const char *buf, size_t len, void *arg)
{
	struct docker_events *ev = arg;
	unsigned long before = ev->lines.dropped;

	if (ev->stopped)
		return 1;
	if (docker_lines_feed(&ev->lines, buf, len, events_line, ev) < 0)
		return 1;
	ev->d->dropped += ev->lines.dropped - before;
	return ev->stopped;
}

static void
events_done(const struct evcurl_resp *r, void *arg)
{
	struct docker_events *ev = arg;
	char msg[DOCKER_MESSAGE_MAX] = "";
	int error = r->error;

	if (!ev->stopped) {
		if (error == 0 && r->status != 200) {
			error = -EPROTO;
			snprintf(msg, sizeof(msg), "HTTP %ld", r->status);
		} else if (error != 0) {
			snprintf(msg, sizeof(msg), "%s",
			         r->errmsg[0] != '\0' ? r->errmsg : strerror(-error));
		} else {
			snprintf(msg, sizeof(msg), "stream closed by the daemon");
		}
		ev->on_end(error, msg, ev->arg);
	}
	docker_lines_free(&ev->lines);
	free(ev);
}

struct docker_events *
docker_events_start(struct docker *d, const char *since, const char *filters,
                    docker_event_cb on_event, docker_end_cb on_end, void *arg)
{
	struct docker_events *ev;
	struct evcurl_req req;
	char enc[1024] = "", sinc[64] = "", url[DOCKER_URL_MAX];

	if (filters != NULL && urlencode(filters, enc, sizeof(enc)) != 0)
		return NULL;
	if (since != NULL && urlencode(since, sinc, sizeof(sinc)) != 0)
		return NULL;
	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return NULL;
	ev->d = d;
	ev->on_event = on_event;
	ev->on_end = on_end;
	ev->arg = arg;
	docker_lines_init(&ev->lines, DOCKER_EVENT_LINE_MAX);
	snprintf(url, sizeof(url), "%s/v%s/events?%s%s%s%s", d->base, d->version,
	         since != NULL ? "since=" : "", sinc, filters != NULL ? "&filters=" : "", enc);
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.unix_socket = d->sock[0] != '\0' ? d->sock : NULL;
	req.no_proxy = 1;
	req.timeout_ms = 0; /* a stream */
	req.on_data = events_data;
	req.on_done = events_done;
	req.arg = ev;
	if ((ev->x = evcurl_start(d->ec, &req)) == NULL) {
		docker_lines_free(&ev->lines);
		free(ev);
		return NULL;
	}
	return ev;
}

void
docker_events_stop(struct docker_events *ev)
{
	if (ev == NULL || ev->stopped)
		return;
	ev->stopped = 1;
	evcurl_cancel(ev->x);
}
