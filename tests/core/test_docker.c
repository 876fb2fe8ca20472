/*
 * Unit tests for the core/docker client against a fake Docker Engine served
 * by evhttp on a Unix socket: version negotiation, inspect (200 and 404 of a
 * container already gone), list, create/start/stop/remove, the event stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "core/docker.h"
#include "tests/lib/testlib.h"
#include "core/evcurl.h"

#define ID "9c2e5a7f1b3d4c6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e"

struct fake {
	struct event_base *base;
	struct evhttp *http;
	struct evcurl *ec;
	struct docker *d;
	char sock[108];
	const char *api_version; /* what /_ping answers */
	char last[512];          /* "METHOD uri" of the last request */
	char last_body[512];
	int done;
};

static const char *
method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	default:
		return "?";
	}
}

static void
reply_file(struct evhttp_request *req, int code, const char *name)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	size_t len;
	char *b = tl_fixture(name, &len);

	evbuffer_add(out, b, len);
	free(b);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", out);
}

static void
handler(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	size_t n = evbuffer_get_length(in);

	snprintf(f->last, sizeof(f->last), "%s %s", method_name(evhttp_request_get_command(req)),
	         uri);
	if (n >= sizeof(f->last_body))
		n = sizeof(f->last_body) - 1;
	evbuffer_copyout(in, f->last_body, n);
	f->last_body[n] = '\0';
	if (strcmp(uri, "/_ping") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Api-Version",
		                  f->api_version);
		evbuffer_add_printf(out, "OK");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strstr(uri, "/containers/" ID "/json") != NULL) {
		reply_file(req, 200, "docker-inspect-bridge-dynamic.json");
	} else if (strstr(uri, "/containers/0123456789ab/json") != NULL) {
		reply_file(req, 404, "docker-error-no-such-container.json");
	} else if (strstr(uri, "/containers/json") != NULL) {
		reply_file(req, 200, "docker-containers-list-ecs.json");
	} else if (strstr(uri, "/containers/create") != NULL) {
		evbuffer_add_printf(out, "{\"Id\":\"%s\",\"Warnings\":[]}", ID);
		evhttp_send_reply(req, 201, "Created", out);
	} else if (strstr(uri, "/events") != NULL) {
		size_t len;
		char *b = tl_fixture("docker-events-lifecycle.jsonl", &len);

		/* The whole recorded stream, an over-long junk line, then the end. */
		evbuffer_add(out, b, len);
		for (int i = 0; i < DOCKER_EVENT_LINE_MAX + 10; i++)
			evbuffer_add(out, "x", 1);
		evbuffer_add(out, "\nnot json\n", 10);
		free(b);
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strstr(uri, "/v1.99/") != NULL) {
		evbuffer_add_printf(out, "{\"message\":\"client version 1.99 is too new\"}");
		evhttp_send_reply(req, 400, "Bad Request", out);
	} else {
		evhttp_send_reply(req, 204, "No Content", NULL);
	}
}

static int
setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	char host[160], err[128];

	f->base = event_base_new();
	f->http = evhttp_new(f->base);
	evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(f->http, handler, f);
	snprintf(f->sock, sizeof(f->sock), "/tmp/berth-test-docker-%d.sock", (int)getpid());
	assert_int_equal(tl_evhttp_bind_unix(f->http, f->base, f->sock), 0);
	f->ec = evcurl_new(f->base);
	snprintf(host, sizeof(host), "unix://%s", f->sock);
	f->d = docker_new(f->ec, host, "BERTH_TENANT", err, sizeof(err));
	assert_non_null(f->d);
	f->api_version = "1.51";
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fake *f = *state;

	docker_free(f->d);
	evcurl_free(f->ec);
	evhttp_free(f->http);
	event_base_free(f->base);
	unlink(f->sock);
	free(f);
	return 0;
}

static void
run(struct fake *f, int want)
{
	for (int i = 0; i < 5000 && f->done < want; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(f->done, want);
}

static long last_status;
static char last_message[256];

static void
on_raw(const struct docker_resp *r, void *arg)
{
	struct fake *f = arg;

	last_status = r->status;
	snprintf(last_message, sizeof(last_message), "%s", r->message);
	f->done++;
}

static void
test_new_hosts(void **state)
{
	struct fake *f = *state;
	char err[128];
	struct docker *d;

	assert_null(docker_new(f->ec, "http://x", NULL, err, sizeof(err)));
	assert_null(docker_new(f->ec, "unix://relative.sock", NULL, err, sizeof(err)));
	assert_non_null(d = docker_new(f->ec, "tcp://127.0.0.1:2375", NULL, err, sizeof(err)));
	docker_free(d);
	assert_non_null(d = docker_new(f->ec, "/var/run/docker.sock", NULL, err, sizeof(err)));
	assert_string_equal(docker_api_version(d), DOCKER_API_MAX);
	docker_free(d);
}

static void
test_ping_negotiates(void **state)
{
	struct fake *f = *state;

	/* A newer daemon: speak DOCKER_API_MAX, never more. */
	assert_non_null(docker_ping(f->d, on_raw, f));
	run(f, 1);
	assert_int_equal(last_status, 200);
	assert_string_equal(f->last, "GET /_ping");
	assert_string_equal(docker_api_version(f->d), "1.44");
	/* An older daemon: speak its version. */
	f->api_version = "1.43";
	assert_non_null(docker_ping(f->d, on_raw, f));
	run(f, 2);
	assert_string_equal(docker_api_version(f->d), "1.43");
	f->api_version = "junk";
	assert_non_null(docker_ping(f->d, on_raw, f));
	run(f, 3);
	assert_string_equal(docker_api_version(f->d), "1.44");
}

static void
on_inspect(const struct docker_resp *r, const struct docker_container *c, void *arg)
{
	struct fake *f = arg;

	last_status = r->status;
	snprintf(last_message, sizeof(last_message), "%s", r->message);
	if (r->status == 200) {
		assert_non_null(c);
		assert_int_equal(c->nports, 1);
		assert_int_equal(c->ports[0].host_port, 32768);
		assert_string_equal(c->env_value, "acme");
	} else {
		assert_null(c);
	}
	f->done++;
}

static void
test_inspect(void **state)
{
	struct fake *f = *state;

	assert_non_null(docker_inspect(f->d, ID, on_inspect, f));
	run(f, 1);
	assert_int_equal(last_status, 200);
	assert_string_equal(f->last, "GET /v1.44/containers/" ID "/json");
	/* A container already gone. */
	assert_non_null(docker_inspect(f->d, "0123456789ab", on_inspect, f));
	run(f, 2);
	assert_int_equal(last_status, 404);
	assert_string_equal(last_message, "No such container: 0123456789ab");
	/* IDs that would change the path are refused before any request. */
	assert_null(docker_inspect(f->d, "../../x", on_inspect, f));
	assert_null(docker_inspect(f->d, "", on_inspect, f));
}

static void
on_list(const struct docker_resp *r, const struct docker_container *v, size_t n, void *arg)
{
	struct fake *f = arg;

	assert_int_equal(r->status, 200);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, ID);
	f->done++;
}

static void
on_create(const struct docker_resp *r, const char *id, void *arg)
{
	struct fake *f = arg;

	assert_int_equal(r->status, 201);
	assert_string_equal(id, ID);
	f->done++;
}

static void
test_list_and_lifecycle_calls(void **state)
{
	struct fake *f = *state;
	json_t *cfg = json_pack("{s:s}", "Image", "berth-test/busybox:latest");

	assert_non_null(docker_list(f->d, 1, "{\"label\":[\"a=b c\"]}", on_list, f));
	run(f, 1);
	assert_string_equal(f->last, "GET /v1.44/containers/json?all=1&filters="
	                             "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D");
	assert_non_null(docker_create(f->d, "t1", cfg, 0, on_create, f));
	run(f, 2);
	assert_string_equal(f->last, "POST /v1.44/containers/create?name=t1");
	assert_string_equal(f->last_body, "{\"Image\":\"berth-test/busybox:latest\"}");
	assert_non_null(docker_start(f->d, ID, 0, on_raw, f));
	run(f, 3);
	assert_string_equal(f->last, "POST /v1.44/containers/" ID "/start");
	assert_int_equal(last_status, 204);
	assert_non_null(docker_stop(f->d, ID, 3, on_raw, f));
	run(f, 4);
	assert_string_equal(f->last, "POST /v1.44/containers/" ID "/stop?t=3");
	assert_non_null(docker_remove(f->d, ID, 1, on_raw, f));
	run(f, 5);
	assert_string_equal(f->last, "DELETE /v1.44/containers/" ID "?force=1");
	assert_null(docker_create(f->d, "bad/name", cfg, 0, on_create, f));
	assert_non_null(docker_request(f->d, "GET", "/info", NULL, 0, on_raw, f));
	run(f, 6);
	assert_string_equal(f->last, "GET /v1.44/info");
	json_decref(cfg);
}

struct evstate {
	struct fake *f;
	int events, ended, end_error;
	char actions[16][64];
};

static void
on_event(const struct docker_event *e, void *arg)
{
	struct evstate *s = arg;

	if (s->events < 16)
		snprintf(s->actions[s->events], sizeof(s->actions[0]), "%s", e->action);
	s->events++;
}

static void
on_end(int error, const char *message, void *arg)
{
	struct evstate *s = arg;

	assert_non_null(message);
	s->ended++;
	s->end_error = error;
	s->f->done++;
}

static void
test_events(void **state)
{
	struct fake *f = *state;
	struct evstate s = {.f = f};
	struct docker_events *ev;

	ev = docker_events_start(f->d, "1749719643.000000000", "{\"type\":[\"container\"]}",
	                         on_event, on_end, &s);
	assert_non_null(ev);
	run(f, 1);
	assert_int_equal(s.ended, 1);
	assert_int_equal(s.end_error, 0);
	assert_int_equal(s.events, 8);
	assert_string_equal(s.actions[0], "create");
	assert_string_equal(s.actions[7], "destroy");
	assert_int_equal(docker_dropped_lines(f->d), 2); /* the over-long line and "not json" */
	assert_string_equal(f->last, "GET /v1.44/events?since=1749719643.000000000&filters="
	                             "%7B%22type%22%3A%5B%22container%22%5D%7D");
}

static void
test_events_refused(void **state)
{
	struct fake *f = *state;
	struct evstate s = {.f = f};
	char host[160], err[128];
	struct docker *d;

	/* Nothing listens there: the stream ends at once with an error. */
	snprintf(host, sizeof(host), "unix://%s.none", f->sock);
	d = docker_new(f->ec, host, NULL, err, sizeof(err));
	assert_non_null(docker_events_start(d, NULL, NULL, on_event, on_end, &s));
	run(f, 1);
	assert_int_equal(s.ended, 1);
	assert_true(s.end_error < 0);
	/* A stream stopped by the caller never calls on_end. */
	s.ended = 0;
	docker_events_stop(docker_events_start(f->d, NULL, NULL, on_event, on_end, &s));
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(s.ended, 0);
	docker_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_hosts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ping_negotiates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inspect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_and_lifecycle_calls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
