/*
 * Unit tests for core/httpd: listen-address parsing, JSON and error replies,
 * the body cap, bearer auth and query values, over a real evhttp server and
 * libevent's own HTTP client on loopback in one event loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/httpd.h"

struct fixture {
	struct event_base *base;
	struct evhttp *http;
	int port;
	/* last reply seen by the client */
	int status;
	char body[4096];
	char ctype[64];
};

static void
slow_reply(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	httpd_json(arg, 200, json_pack("{s:s}", "slow", "done"));
}

/* The handler: GET /json, /error, /auth (token "s3cret"), /query?x=..; POST /body (cap 8). */
static void
handler(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	char q[8], *body;
	size_t len;
	int rc;

	(void)arg;
	if (!httpd_framing_ok(req))
		return;
	if (strcmp(path, "/json") == 0) {
		httpd_json(req, 200, json_pack("{s:i}", "n", 42));
	} else if (strcmp(path, "/error") == 0) {
		httpd_error(req, 400, "invalid_subdomain", "bad \"label\"", "subdomain");
	} else if (strcmp(path, "/auth") == 0) {
		if (httpd_bearer_ok(req, "s3cret"))
			httpd_json(req, 200, json_pack("{s:b}", "ok", 1));
		else
			httpd_error(req, 401, "unauthorized", "no", NULL);
	} else if (strcmp(path, "/query") == 0) {
		rc = httpd_query(req, "x", q, sizeof(q));
		httpd_json(req, 200, json_pack("{s:i, s:s}", "rc", rc, "x", q));
	} else if (strcmp(path, "/slow") == 0) {
		/* Answered 1.5 s later: a handler at work (a long-poll, a provision). */
		struct timeval tv = {1, 500 * 1000};

		event_base_once(evhttp_connection_get_base(evhttp_request_get_connection(req)), -1,
		                EV_TIMEOUT, slow_reply, req, &tv);
	} else if (strcmp(path, "/body") == 0) {
		rc = httpd_body(req, 8, &body, &len);
		if (rc == -E2BIG) {
			httpd_error(req, 413, "too_large", "body", NULL);
			return;
		}
		httpd_json(req, 200, json_pack("{s:s%}", "body", body, len));
		free(body);
	} else {
		httpd_error(req, 404, "not_found", "no route", NULL);
	}
}

static void
find_port(struct evhttp_bound_socket *bs, void *arg)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl) == 0)
		*(int *)arg = ntohs(sin.sin_port);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	f->base = event_base_new();
	f->http = evhttp_new(f->base);
	assert_int_equal(httpd_bind(f->http, "127.0.0.1:0", err, sizeof(err)), 0);
	evhttp_foreach_bound_socket(f->http, find_port, &f->port);
	assert_true(f->port > 0);
	evhttp_set_gencb(f->http, handler, NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	evhttp_free(f->http);
	httpd_guard_free();
	event_base_free(f->base);
	free(f);
	return 0;
}

static void
on_reply(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	struct evbuffer *b;
	const char *ct;
	size_t n;

	f->status = req != NULL ? evhttp_request_get_response_code(req) : -1;
	f->body[0] = f->ctype[0] = '\0';
	if (req != NULL) {
		b = evhttp_request_get_input_buffer(req);
		n = evbuffer_get_length(b);
		if (n >= sizeof(f->body))
			n = sizeof(f->body) - 1;
		evbuffer_remove(b, f->body, n);
		f->body[n] = '\0';
		ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
		snprintf(f->ctype, sizeof(f->ctype), "%s", ct != NULL ? ct : "");
	}
	event_base_loopexit(f->base, NULL);
}

/* Sends one request and runs the loop until its reply. */
static void
request(struct fixture *f, enum evhttp_cmd_type cmd, const char *uri, const char *auth,
        const char *body)
{
	struct evhttp_connection *c =
	    evhttp_connection_base_new(f->base, NULL, "127.0.0.1", (unsigned short)f->port);
	struct evhttp_request *req = evhttp_request_new(on_reply, f);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	if (auth != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
	if (body != NULL)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	f->status = 0;
	assert_int_equal(evhttp_make_request(c, req, cmd, uri), 0);
	event_base_dispatch(f->base);
	evhttp_connection_free(c);
}

static void
test_bind_errors(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "",     "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536", "127.0.0.1:-1",
	    "[::1", "[::1]80",   "[]:80",      "::1:80",      "256.1.1.1:80",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_true(httpd_bind(f->http, bad[i], err, sizeof(err)) < 0);
		assert_true(err[0] != '\0');
	}
	assert_true(httpd_bind(f->http, NULL, err, sizeof(err)) < 0);
	/* IPv6 loopback and the ":PORT" shorthand parse and bind. */
	assert_int_equal(httpd_bind(f->http, "[::1]:0", err, sizeof(err)), 0);
	assert_int_equal(httpd_bind(f->http, ":0", err, sizeof(err)), 0);
}

static void
test_json_and_error(void **state)
{
	struct fixture *f = *state;

	request(f, EVHTTP_REQ_GET, "/json", NULL, NULL);
	assert_int_equal(f->status, 200);
	assert_string_equal(f->ctype, "application/json");
	assert_string_equal(f->body, "{\"n\":42}\n");
	request(f, EVHTTP_REQ_GET, "/error", NULL, NULL);
	assert_int_equal(f->status, 400);
	assert_string_equal(f->body,
	                    "{\"error\":{\"code\":\"invalid_subdomain\","
	                    "\"message\":\"bad \\\"label\\\"\",\"field\":\"subdomain\"}}\n");
	request(f, EVHTTP_REQ_GET, "/nowhere", NULL, NULL);
	assert_int_equal(f->status, 404);
	assert_non_null(strstr(f->body, "\"code\":\"not_found\""));
	assert_null(strstr(f->body, "\"field\""));
}

static void
test_body_cap(void **state)
{
	struct fixture *f = *state;

	request(f, EVHTTP_REQ_POST, "/body", NULL, "12345678");
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "{\"body\":\"12345678\"}\n");
	request(f, EVHTTP_REQ_POST, "/body", NULL, "123456789");
	assert_int_equal(f->status, 413);
	request(f, EVHTTP_REQ_POST, "/body", NULL, NULL);
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "{\"body\":\"\"}\n");
}

static void
test_bearer(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *auth;
		int status;
	} cases[] = {
	    {NULL, 401},           {"Bearer s3cret", 200},  {"bearer s3cret", 200},
	    {"Bearer s3cre", 401}, {"Bearer s3cret2", 401}, {"Bearer ", 401},
	    {"Basic s3cret", 401}, {"s3cret", 401},         {"Bearer S3CRET", 401},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		request(f, EVHTTP_REQ_GET, "/auth", cases[i].auth, NULL);
		assert_int_equal(f->status, cases[i].status);
	}
}

static void
test_query(void **state)
{
	struct fixture *f = *state;

	request(f, EVHTTP_REQ_GET, "/query?x=abc&y=2", NULL, NULL);
	assert_string_equal(f->body, "{\"rc\":0,\"x\":\"abc\"}\n");
	request(f, EVHTTP_REQ_GET, "/query?x=a%20b", NULL, NULL);
	assert_string_equal(f->body, "{\"rc\":0,\"x\":\"a b\"}\n");
	request(f, EVHTTP_REQ_GET, "/query?y=1", NULL, NULL);
	assert_string_equal(f->body, "{\"rc\":-2,\"x\":\"\"}\n");
	request(f, EVHTTP_REQ_GET, "/query", NULL, NULL);
	assert_string_equal(f->body, "{\"rc\":-2,\"x\":\"\"}\n");
	request(f, EVHTTP_REQ_GET, "/query?x=12345678", NULL, NULL);
	assert_string_equal(f->body, "{\"rc\":-7,\"x\":\"\"}\n");
}

/*
 * Out of descriptors with connections queued: the listener sheds them instead
 * of spinning on accept() (which, unguarded, fails and is woken again at once,
 * hundreds of thousands of times a second), and serves again afterwards.
 */
static void
test_out_of_descriptors(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct rlimit old, low;
	struct timeval run = {1, 0};
	unsigned long before = httpd_accept_errors(), errors;
	int fd, ready[2];
	pid_t pid;
	char c;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)f->port);
	assert_int_equal(pipe(ready), 0);
	if ((pid = fork()) == 0) {
		/* The clients: 100 idle connections, held for 3 s. */
		int fds[100];

		for (int i = 0; i < 100; i++) {
			fds[i] = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)) != 0)
				_exit(1);
		}
		(void)!write(ready[1], "x", 1);
		sleep(3);
		_exit(0);
	}
	assert_true(pid > 0);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	/* Leave the server a few descriptors above what it holds now. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	fd = dup(0);
	low = old;
	low.rlim_cur = (rlim_t)fd + 6;
	close(fd);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	event_base_loopexit(f->base, &run);
	event_base_dispatch(f->base);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	errors = httpd_accept_errors() - before;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* Each error sheds the queue: a handful, not a spin. */
	if (errors == 0 || errors > 100)
		fail_msg("accept errors in 1 s: %lu", errors);
	/* And the server answers again. */
	request(f, EVHTTP_REQ_GET, "/json", NULL, NULL);
	assert_int_equal(f->status, 200);
}

/* Sends raw bytes on a new connection; what came back within ms (or until EOF) into out. */
static size_t
raw(struct fixture *f, const char *req, char *out, size_t outlen, int ms, int *eof)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	size_t n = 0;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	*eof = 0;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)f->port);
	connect(s, (struct sockaddr *)&sin, sizeof(sin));
	for (int i = 0; i < 50; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (send(s, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req))
			break;
		usleep(1000);
	}
	for (int i = 0; i < ms && n < outlen - 1; i++) {
		ssize_t got;

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		got = recv(s, out + n, outlen - 1 - n, 0);
		if (got == 0) {
			*eof = 1;
			break;
		}
		if (got > 0)
			n += (size_t)got;
		else
			usleep(1000);
	}
	out[n] = '\0';
	close(s);
	return n;
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/*
 * Framing: a HEAD answer has the GET's Content-Length and no body, so the
 * next answer on the connection is read whole; a request whose end is
 * ambiguous (two different Content-Lengths, a signed one) is a JSON 400 and
 * the connection closes, so no rest of it is taken for another request.
 */
static void
test_framing(void **state)
{
	struct fixture *f = *state;
	char out[8192];
	const char *p;
	int eof;

	raw(f, "HEAD /json HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n\r\n", out,
	    sizeof(out), 500, &eof);
	assert_int_equal(count_of(out, "HTTP/1.1 200"), 2);
	assert_non_null(strstr(out, "Content-Length: 9"));
	/* Right after the HEAD answer's headers comes the GET's status line. */
	p = strstr(out, "\r\n\r\n");
	assert_non_null(p);
	if (strncmp(p + 4, "HTTP/1.1 200", 12) != 0)
		fail_msg("bytes after the HEAD answer: %.40s", p + 4);

	raw(f,
	    "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\n"
	    "abcGET /json HTTP/1.1\r\nHost: x\r\n\r\n",
	    out, sizeof(out), 500, &eof);
	assert_int_equal(count_of(out, "HTTP/1.1 "), 1);
	assert_non_null(strstr(out, "HTTP/1.1 400"));
	assert_non_null(strstr(out, "\"bad_request\""));
	assert_true(eof);

	raw(f, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab", out, sizeof(out),
	    500, &eof);
	assert_non_null(strstr(out, "HTTP/1.1 400"));
	assert_non_null(strstr(out, "application/json"));
}

/* A socket to the fixture from local address src (127.0.0.x), not yet sending. */
static int
client_from(struct fixture *f, const char *src)
{
	struct sockaddr_in sin = {.sin_family = AF_INET}, me = {.sin_family = AF_INET};
	int s = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, src, &me.sin_addr);
	assert_int_equal(bind(s, (struct sockaddr *)&me, sizeof(me)), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)f->port);
	assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return s;
}

static void
spin(struct fixture *f, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

/* 1 when the server has closed s (end of stream), 0 when it is still open. */
static int
closed(int s)
{
	char c;
	ssize_t n = recv(s, &c, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN);
}

/*
 * The guard: at most 3 connections from one address and 8 in all; over a
 * cap a connection is shut at once, and others still get in.
 */
static void
test_guard_caps(void **state)
{
	struct fixture *f = *state;
	int a[5], b[5], shut = 0;

	assert_int_equal(httpd_guard(f->http, f->base, 8, 3), 0);
	for (int i = 0; i < 5; i++) {
		a[i] = client_from(f, "127.0.0.2");
		spin(f, 20);
	}
	spin(f, 100);
	for (int i = 0; i < 5; i++)
		shut += closed(a[i]);
	assert_int_equal(shut, 2);
	assert_int_equal(httpd_guard_open(), 3);
	for (int i = 0; i < 5; i++) {
		b[i] = client_from(f, "127.0.0.3");
		spin(f, 20);
	}
	spin(f, 100);
	assert_int_equal(httpd_guard_open(), 6);
	/* Someone else is served. */
	request(f, EVHTTP_REQ_GET, "/json", NULL, NULL);
	assert_int_equal(f->status, 200);
	for (int i = 0; i < 5; i++) {
		close(a[i]);
		close(b[i]);
	}
}

/*
 * A client that trickles its request is cut at the deadline; a handler that
 * takes longer than that to answer is not.
 */
static void
test_guard_deadline(void **state)
{
	struct fixture *f = *state;
	static const char req[] = "GET /json HTTP/1.1\r\nHost: x\r\n\r\n";
	int s, cut = 0;

	assert_int_equal(httpd_guard(f->http, f->base, 0, 0), 0);
	httpd_guard_deadline(1000);
	s = client_from(f, "127.0.0.4");
	for (size_t i = 0; i < sizeof(req) - 1 && !cut; i++) {
		(void)!send(s, req + i, 1, MSG_NOSIGNAL);
		spin(f, 150);
		cut = closed(s);
	}
	if (!cut)
		fail_msg("a trickled request was not cut at the deadline");
	close(s);
	/* A slow handler (1.5 s) is not cut by a 1 s deadline. */
	request(f, EVHTTP_REQ_GET, "/slow", NULL, NULL);
	assert_int_equal(f->status, 200);
	assert_non_null(strstr(f->body, "done"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bind_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_and_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bearer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_descriptors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_framing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guard_caps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guard_deadline, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
