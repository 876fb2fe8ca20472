#include "tests/sidecar/testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "core/docker.h"
#include "core/metrics.h"
#include "core/evcurl.h"
#include "registry/registry.h"
#include "sidecar/tracker.h"
#include "tests/lib/testlib.h"

#define FAKE_CTRS    16384
#define FAKE_STREAMS 8

/* Leading decimal digits of s (0 when none); test data only. */
static int
atoi_safe(const char *s)
{
	long v = s != NULL ? strtol(s, NULL, 10) : 0;

	return v > 0 && v < 65536 ? (int)v : 0;
}

struct fake_ctr {
	char id[72];
	char *body;
};

struct fake_docker {
	struct event_base *base;
	struct evhttp *http;
	char sock[108];
	struct fake_ctr *ctrs;
	size_t nctrs;
	struct evhttp_request *streams[FAKE_STREAMS];
	struct evbuffer *backlog;
	unsigned long inspects;
};

static void
stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct fake_docker *f = arg;

	for (int i = 0; i < FAKE_STREAMS; i++)
		if (f->streams[i] != NULL && evhttp_request_get_connection(f->streams[i]) == evcon)
			f->streams[i] = NULL;
}

static struct fake_ctr *
find(struct fake_docker *f, const char *id)
{
	for (size_t i = 0; i < f->nctrs; i++)
		if (strcmp(f->ctrs[i].id, id) == 0)
			return &f->ctrs[i];
	return NULL;
}

static void
handler(struct evhttp_request *req, void *arg)
{
	struct fake_docker *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	const char *p;

	if (strcmp(uri, "/_ping") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Api-Version", "1.41");
		evbuffer_add_printf(out, "OK");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strstr(uri, "/events") != NULL) {
		int slot;

		for (slot = 0; slot < FAKE_STREAMS && f->streams[slot] != NULL; slot++)
			;
		assert_true(slot < FAKE_STREAMS);
		f->streams[slot] = req;
		evhttp_connection_set_closecb(evhttp_request_get_connection(req), stream_closed, f);
		evhttp_send_reply_start(req, 200, "OK");
		if (evbuffer_get_length(f->backlog) > 0)
			evhttp_send_reply_chunk(req, f->backlog); /* drains it */
	} else if (strstr(uri, "/containers/json") != NULL) {
		json_t *list = json_array();
		char *text;

		/* A ContainerSummary per container, made from its inspect body. */
		for (size_t i = 0; i < f->nctrs; i++) {
			json_t *in = json_loads(f->ctrs[i].body, 0, NULL);
			json_t *ports = json_array(), *map, *bl, *b;
			const char *key;
			size_t k;

			assert_non_null(in);
			map = json_object_get(json_object_get(in, "NetworkSettings"), "Ports");
			json_object_foreach(map, key, bl)
			{
				json_array_foreach(bl, k, b)
				{
					const char *hp =
					    json_string_value(json_object_get(b, "HostPort"));
					const char *ip =
					    json_string_value(json_object_get(b, "HostIp"));

					json_array_append_new(
					    ports,
					    json_pack("{s:s, s:i, s:i, s:s%}", "IP",
					              ip != NULL && *ip ? ip : "0.0.0.0",
					              "PrivatePort", atoi_safe(key), "PublicPort",
					              atoi_safe(hp), "Type", strchr(key, '/') + 1,
					              strlen(strchr(key, '/') + 1)));
				}
			}
			json_array_append_new(
			    list,
			    json_pack("{s:s, s:O?, s:O?, s:o}", "Id", f->ctrs[i].id, "State",
			              json_object_get(json_object_get(in, "State"), "Status"),
			              "Labels",
			              json_object_get(json_object_get(in, "Config"), "Labels"),
			              "Ports", ports));
			json_decref(in);
		}
		text = json_dumps(list, JSON_COMPACT);
		evbuffer_add(out, text, strlen(text));
		free(text);
		json_decref(list);
		evhttp_send_reply(req, 200, "OK", out);
	} else if ((p = strstr(uri, "/containers/")) != NULL) {
		char id[80];
		struct fake_ctr *c;

		f->inspects++;
		snprintf(id, sizeof(id), "%.*s", (int)strcspn(p + 12, "/"), p + 12);
		if ((c = find(f, id)) == NULL) {
			evbuffer_add_printf(out, "{\"message\":\"No such container: %s\"}", id);
			evhttp_send_reply(req, 404, "Not Found", out);
			return;
		}
		evbuffer_add(out, c->body, strlen(c->body));
		evhttp_send_reply(req, 200, "OK", out);
	} else {
		evhttp_send_error(req, 404, NULL);
	}
}

struct fake_docker *
fake_docker_new(struct event_base *base, const char *sock_path)
{
	struct fake_docker *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->base = base;
	f->http = evhttp_new(base);
	f->backlog = evbuffer_new();
	f->ctrs = calloc(FAKE_CTRS, sizeof(*f->ctrs));
	evhttp_set_gencb(f->http, handler, f);
	snprintf(f->sock, sizeof(f->sock), "%s", sock_path);
	if (tl_evhttp_bind_unix(f->http, base, f->sock) != 0)
		fail_msg("cannot listen on %s", f->sock);
	return f;
}

void
fake_docker_close_events(struct fake_docker *f)
{
	for (int i = 0; i < FAKE_STREAMS; i++) {
		if (f->streams[i] == NULL)
			continue;
		evhttp_connection_set_closecb(evhttp_request_get_connection(f->streams[i]), NULL,
		                              NULL);
		evhttp_send_reply_end(f->streams[i]);
		f->streams[i] = NULL;
	}
	evbuffer_drain(f->backlog, evbuffer_get_length(f->backlog));
}

void
fake_docker_free(struct fake_docker *f)
{
	fake_docker_close_events(f);
	evhttp_free(f->http);
	evbuffer_free(f->backlog);
	for (size_t i = 0; i < f->nctrs; i++)
		free(f->ctrs[i].body);
	free(f->ctrs);
	unlink(f->sock);
	free(f);
}

void
fake_docker_put(struct fake_docker *f, const char *id, char *inspect_json)
{
	struct fake_ctr *c = find(f, id);

	if (c == NULL) {
		assert_true(f->nctrs < FAKE_CTRS);
		c = &f->ctrs[f->nctrs++];
		snprintf(c->id, sizeof(c->id), "%s", id);
	} else {
		free(c->body);
	}
	c->body = inspect_json;
}

void
fake_docker_del(struct fake_docker *f, const char *id)
{
	struct fake_ctr *c = find(f, id);

	if (c == NULL)
		return;
	free(c->body);
	*c = f->ctrs[--f->nctrs];
}

void
fake_docker_event(struct fake_docker *f, const char *line)
{
	struct evbuffer *b;
	int open = 0;

	for (int i = 0; i < FAKE_STREAMS; i++)
		open += f->streams[i] != NULL;
	if (!open) {
		evbuffer_add_printf(f->backlog, "%s\n", line);
		return;
	}
	for (int i = 0; i < FAKE_STREAMS; i++) {
		if (f->streams[i] == NULL)
			continue;
		b = evbuffer_new();
		evbuffer_add_printf(b, "%s\n", line);
		evhttp_send_reply_chunk(f->streams[i], b);
		evbuffer_free(b);
	}
}

unsigned long
fake_docker_inspects(const struct fake_docker *f)
{
	return f->inspects;
}

void
tu_stack_open(struct tu_stack *s, const char *tag, const char *host_ip)
{
	struct tracker_conf conf = {.reconcile_interval = 3600};
	char err[256], host[320];

	memset(s, 0, sizeof(*s));
	assert_int_equal(tl_tmpdir(s->dir, sizeof(s->dir), tag), 0);
	snprintf(s->sock, sizeof(s->sock), "%s/docker.sock", s->dir);
	snprintf(s->db, sizeof(s->db), "%s/registry.db", s->dir);
	s->base = event_base_new();
	s->ec = evcurl_new(s->base);
	s->fake = fake_docker_new(s->base, s->sock);
	snprintf(host, sizeof(host), "unix://%s", s->sock);
	s->docker = docker_new(s->ec, host, "BERTH_TENANT", err, sizeof(err));
	if (s->docker == NULL)
		fail_msg("docker_new: %s", err);
	if (registry_open(&s->reg, s->db, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)) != 0)
		fail_msg("registry_open %s: %s", s->db, err);
	s->m = metrics_new();
	conf.metrics = s->m;
	s->t = tracker_new(s->base, s->docker, s->reg, &conf);
	assert_non_null(s->t);
	tracker_set_host_ip(s->t, host_ip);
}

void
tu_stack_close(struct tu_stack *s)
{
	tracker_free(s->t);
	metrics_free(s->m);
	fake_docker_free(s->fake);
	docker_free(s->docker);
	evcurl_free(s->ec);
	registry_close(s->reg);
	event_base_free(s->base);
	tl_rmtree(s->dir);
}

void
tu_spin(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

void
tu_wait_connected(struct tu_stack *s)
{
	for (int i = 0; i < 1000 && !tracker_connected(s->t); i++)
		tu_spin(s->base, 10);
	assert_true(tracker_connected(s->t));
}
