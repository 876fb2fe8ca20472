/*
 * Unit tests for core/evcurl against a local evhttp server in the same loop:
 * bodies and headers, POST, caps, time-outs, refused connections, streams,
 * cancellation (also from inside on_data), Unix sockets, many at once.
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
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/evcurl.h"
#include "tests/lib/testlib.h"

#define STREAMS_MAX 32

struct stream {
	struct evhttp_request *req;
	int closed; /* the client went away: end the reply (which frees req) at the next tick */
	struct event *ev;
	int left;
	int slot;
};

struct fixture {
	struct stream *streams[STREAMS_MAX]; /* open chunked replies */
	struct event_base *base;
	struct evhttp *http;
	struct evcurl *ec;
	int port;
	char sock[108];
	char url[128];
};

struct result {
	int done;
	long status;
	int error;
	char *body;
	size_t body_len;
	char hdr[128];
	size_t streamed;
	int chunks;
	int abort_after; /* on_data returns nonzero after this many chunks (0: never) */
	struct evcurl_xfer *self;
	struct fixture *f;
	int cancel_self;
};

static void stream_tick(evutil_socket_t fd, short what, void *arg);

static struct fixture *cur;

static void
stream_free(struct stream *s)
{
	cur->streams[s->slot] = NULL;
	event_free(s->ev);
	free(s);
}

static void
stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct stream *s = arg;

	(void)evcon;
	s->closed = 1;
}

static void
handler(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	const char *uri = evhttp_request_get_uri(req);
	struct fixture *f = arg;

	if (strcmp(uri, "/hello") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Api-Version", "1.47");
		evbuffer_add_printf(out, "hello world");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(uri, "/echo") == 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		const char *m =
		    evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST:" : "PUT:";

		evbuffer_add_printf(out, "%s", m);
		evbuffer_add_buffer(out, in);
		evhttp_send_reply(req, 201, "Created", out);
	} else if (strcmp(uri, "/big") == 0) {
		char *buf = calloc(1, 300000);

		memset(buf, 'x', 300000);
		evbuffer_add(out, buf, 300000);
		free(buf);
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(uri, "/missing") == 0) {
		evbuffer_add_printf(out, "{\"message\":\"No such container: x\"}");
		evhttp_send_reply(req, 404, "Not Found", out);
	} else if (strcmp(uri, "/slow") == 0 || strcmp(uri, "/stream") == 0) {
		struct stream *s = calloc(1, sizeof(*s));
		struct timeval tv = {0, 1000};

		s->req = req;
		s->left = strcmp(uri, "/slow") == 0 ? -1 : 5;
		s->ev = evtimer_new(f->base, stream_tick, s);
		for (s->slot = 0; f->streams[s->slot] != NULL; s->slot++)
			assert_true(s->slot < STREAMS_MAX - 1);
		f->streams[s->slot] = s;
		evhttp_connection_set_closecb(evhttp_request_get_connection(req), stream_closed, s);
		if (s->left >= 0)
			evhttp_send_reply_start(req, 200, "OK");
		if (s->left < 0) {
			tv.tv_sec = 3;
			tv.tv_usec = 0;
		}
		evtimer_add(s->ev, &tv);
	} else {
		evhttp_send_error(req, 404, NULL);
	}
}

static void
stream_tick(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	struct evbuffer *b = evbuffer_new();
	struct timeval tv = {0, 1000};

	(void)fd;
	(void)what;
	if (s->closed) {
		if (s->left >= 0)
			evhttp_send_reply_end(s->req);
		stream_free(s);
		evbuffer_free(b);
		return;
	}
	if (s->left < 0) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
		evhttp_send_reply(s->req, 200, "OK", b);
		stream_free(s);
		evbuffer_free(b);
		return;
	}
	if (s->left <= 0) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
		evhttp_send_reply_end(s->req);
		stream_free(s);
		evbuffer_free(b);
		return;
	}
	evbuffer_add_printf(b, "{\"n\":%d}\n", s->left);
	evhttp_send_reply_chunk(s->req, b);
	evbuffer_free(b);
	s->left--;
	evtimer_add(s->ev, &tv);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->base = event_base_new();
	f->http = evhttp_new(f->base);
	evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
	evhttp_set_gencb(f->http, handler, f);
	f->port = tl_evhttp_bind_local(f->http);
	assert_true(f->port > 0);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
	snprintf(f->sock, sizeof(f->sock), "/tmp/berth-test-evcurl-%d.sock", (int)getpid());
	assert_int_equal(tl_evhttp_bind_unix(f->http, f->base, f->sock), 0);
	f->ec = evcurl_new(f->base);
	assert_non_null(f->ec);
	cur = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	struct timeval tv = {0, 50000};

	evcurl_free(f->ec);
	/* Let the server side see the closed connections and end its replies. */
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	evhttp_free(f->http);
	for (int i = 0; i < STREAMS_MAX; i++)
		if (f->streams[i] != NULL)
			stream_free(f->streams[i]);
	event_base_free(f->base);
	unlink(f->sock);
	free(f);
	return 0;
}

static void
on_done(const struct evcurl_resp *r, void *arg)
{
	struct result *res = arg;

	res->done++;
	res->status = r->status;
	res->error = r->error;
	res->body = malloc(r->body_len + 1);
	memcpy(res->body, r->body, r->body_len + 1);
	res->body_len = r->body_len;
	evcurl_header(r->headers, "api-version", res->hdr, sizeof(res->hdr));
}

static int
on_data(const char *buf, size_t len, void *arg)
{
	struct result *res = arg;

	(void)buf;
	res->streamed += len;
	res->chunks++;
	if (res->cancel_self && res->chunks == 2) {
		evcurl_cancel(res->self);
		return 0;
	}
	return res->abort_after != 0 && res->chunks >= res->abort_after;
}

/* Runs the loop until every result is done (bounded). */
static void
run(struct fixture *f, struct result *res, int n)
{
	for (int i = 0; i < 2000; i++) {
		int all = 1;

		for (int k = 0; k < n; k++)
			if (!res[k].done)
				all = 0;
		if (all)
			return;
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	fail_msg("transfers did not finish");
}

static struct evcurl_xfer *
get(struct fixture *f, const char *path, struct result *res, struct evcurl_req *tmpl)
{
	struct evcurl_req req;
	char url[256];

	if (tmpl != NULL)
		req = *tmpl;
	else
		memset(&req, 0, sizeof(req));
	snprintf(url, sizeof(url), "%s%s", f->url, path);
	req.url = url;
	req.on_done = on_done;
	req.arg = res;
	return evcurl_start(f->ec, &req);
}

static void
test_get(void **state)
{
	struct fixture *f = *state;
	struct result res = {0};

	assert_non_null(get(f, "/hello", &res, NULL));
	run(f, &res, 1);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.error, 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "hello world");
	assert_string_equal(res.hdr, "1.47");
	free(res.body);
}

static void
test_post_put(void **state)
{
	struct fixture *f = *state;
	struct result res[2] = {{0}};
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	struct evcurl_req req = {
	    .method = "POST", .body = "{\"a\":1}", .body_len = 7, .headers = hdrs};

	assert_non_null(get(f, "/echo", &res[0], &req));
	req.method = "PUT";
	assert_non_null(get(f, "/echo", &res[1], &req));
	run(f, res, 2);
	assert_int_equal(res[0].status, 201);
	assert_string_equal(res[0].body, "POST:{\"a\":1}");
	assert_string_equal(res[1].body, "PUT:{\"a\":1}");
	free(res[0].body);
	free(res[1].body);
}

static void
test_caps_and_errors(void **state)
{
	struct fixture *f = *state;
	struct result res[4] = {{0}};
	struct evcurl_req capped = {.body_max = 1000};
	struct evcurl_req quick = {.timeout_ms = 200};
	struct evcurl_req req = {0};

	assert_non_null(get(f, "/big", &res[0], &capped));
	assert_non_null(get(f, "/slow", &res[1], &quick));
	assert_non_null(get(f, "/missing", &res[2], NULL));
	req.url = "http://127.0.0.1:1/";
	req.on_done = on_done;
	req.arg = &res[3];
	assert_non_null(evcurl_start(f->ec, &req));
	run(f, res, 4);
	assert_int_equal(res[0].error, -E2BIG);
	assert_int_equal(res[1].error, -ETIMEDOUT);
	assert_int_equal(res[2].error, 0);
	assert_int_equal(res[2].status, 404);
	assert_string_equal(res[2].body, "{\"message\":\"No such container: x\"}");
	assert_int_equal(res[3].error, -ECONNREFUSED);
	assert_int_equal(res[3].status, 0);
	for (int i = 0; i < 4; i++)
		free(res[i].body);
}

static void
test_stream_and_cancel(void **state)
{
	struct fixture *f = *state;
	struct result res[4] = {{0}};
	struct evcurl_req stream = {.on_data = on_data};

	assert_non_null(get(f, "/stream", &res[0], &stream));
	res[1].abort_after = 2;
	assert_non_null(get(f, "/stream", &res[1], &stream));
	res[2].cancel_self = 1;
	res[2].self = get(f, "/stream", &res[2], &stream);
	assert_non_null(res[2].self);
	evcurl_cancel(get(f, "/slow", &res[3], NULL));
	assert_int_equal(res[3].done, 1);
	assert_int_equal(res[3].error, -ECANCELED);
	res[3].done = 0;
	free(res[3].body);
	run(f, res, 3);
	assert_int_equal(res[0].error, 0);
	assert_int_equal(res[0].body_len, 0);
	assert_true(res[0].streamed >= 5 * 8);
	assert_int_equal(res[1].error, -ECANCELED);
	assert_int_equal(res[1].chunks, 2);
	assert_int_equal(res[2].error, -ECANCELED);
	for (int i = 0; i < 3; i++)
		free(res[i].body);
}

static void
test_unix_socket(void **state)
{
	struct fixture *f = *state;
	struct result res = {0};
	struct evcurl_req req = {0};

	req.url = "http://localhost/hello";
	req.unix_socket = f->sock;
	req.on_done = on_done;
	req.arg = &res;
	assert_non_null(evcurl_start(f->ec, &req));
	run(f, &res, 1);
	assert_int_equal(res.error, 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "hello world");
	free(res.body);
}

static void
test_many(void **state)
{
	struct fixture *f = *state;
	struct result res[64];

	memset(res, 0, sizeof(res));
	for (int i = 0; i < 64; i++)
		assert_non_null(get(f, "/hello", &res[i], NULL));
	run(f, res, 64);
	for (int i = 0; i < 64; i++) {
		assert_int_equal(res[i].done, 1);
		assert_int_equal(res[i].status, 200);
		free(res[i].body);
	}
}

static void
test_header_parse(void **state)
{
	const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nApi-Version:  1.51 \r\n"
	                "X-Empty:\r\n\r\n";
	char out[16];

	(void)state;
	assert_int_equal(evcurl_header(h, "API-VERSION", out, sizeof(out)), 0);
	assert_string_equal(out, "1.51");
	assert_int_equal(evcurl_header(h, "x-empty", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(evcurl_header(h, "Content", out, sizeof(out)), -ENOENT);
	assert_int_equal(evcurl_header(h, "Content-Type", out, 4), -E2BIG);
	assert_int_equal(evcurl_header("", "a", out, sizeof(out)), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_post_put, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_caps_and_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_and_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	    cmocka_unit_test(test_header_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
