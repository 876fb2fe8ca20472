/*
 * Unit tests for the sidecar's HTTP API (routes, filters, the long-poll and
 * its wake-up, errors) over a tracker fed by the fake Docker Engine, and for
 * the host-IP resolution against a local IMDSv2 emulator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "core/docker.h"
#include "core/evcurl.h"
#include "core/httpd.h"
#include "core/log.h"
#include "registry/registry.h"
#include "sidecar/agent.h"
#include "sidecar/api.h"
#include "sidecar/hostip.h"
#include "sidecar/tracker.h"
#include "tests/sidecar/testutil.h"
#include "tests/lib/testlib.h"

#define X64       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X640      X64 X64 X64 X64 X64 X64 X64 X64 X64 X64
#define LONG_TASK X640 X640 X640 X640 X640 X640 X640 X640 /* 5,120 characters */
#define ID        "3333333333333333333333333333333333333333333333333333333333333333"
#define ARN       "arn:aws:ecs:us-east-1:123456789012:task/tenants/0123456789abcdef0123456789abcdef"

struct fx {
	struct tu_stack s;
	struct agent *agent;
	struct evhttp *http;
	struct api *api;
	int port;
};

struct reply {
	int done;
	long status;
	char body[8192];
	char ctype[128];
};

static void
on_commit(void *arg)
{
	api_wake(((struct fx *)arg)->api);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct api_info info = {"192.0.2.1", "flag", NULL, NULL};
	char err[256], listen[64];

	assert_non_null(f);
	tu_stack_open(&f->s, "test-api", "192.0.2.1");
	f->agent = agent_new(f->s.base, f->s.ec, "none", NULL, 0, f->s.m);
	f->http = evhttp_new(f->s.base);
	f->port = tl_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->port);
	assert_int_equal(httpd_bind(f->http, listen, err, sizeof(err)), 0);
	info.metrics = f->s.m;
	f->api = api_new(f->s.base, f->http, f->s.reg, f->s.t, f->agent, &info);
	tracker_on_commit(f->s.t, on_commit, f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	api_free(f->api);
	evhttp_free(f->http);
	agent_free(f->agent);
	tu_stack_close(&f->s);
	free(f);
	return 0;
}

static void
on_reply(const struct evcurl_resp *r, void *arg)
{
	struct reply *rp = arg;
	size_t n = r->body_len < sizeof(rp->body) - 1 ? r->body_len : sizeof(rp->body) - 1;

	rp->status = r->status;
	memcpy(rp->body, r->body, n);
	rp->body[n] = '\0';
	evcurl_header(r->headers, "Content-Type", rp->ctype, sizeof(rp->ctype));
	rp->done = 1;
}

static void
request(struct fx *f, const char *method, const char *path, struct reply *rp)
{
	struct evcurl_req req;
	char url[8192];

	memset(rp, 0, sizeof(*rp));
	memset(&req, 0, sizeof(req));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
	req.url = url;
	req.method = method;
	req.no_proxy = 1;
	req.timeout_ms = 10000;
	req.on_done = on_reply;
	req.arg = rp;
	assert_non_null(evcurl_start(f->s.ec, &req));
}

static void
wait_reply(struct fx *f, struct reply *rp, int max_ms)
{
	for (int i = 0; i < max_ms / 10 && !rp->done; i++)
		tu_spin(f->s.base, 10);
	assert_true(rp->done);
}

/* One request, answered within 2 s. */
static void
call(struct fx *f, const char *method, const char *path, struct reply *rp)
{
	request(f, method, path, rp);
	wait_reply(f, rp, 2000);
}

static void
start_container(struct fx *f)
{
	char *body = malloc(2048);
	char line[512];

	snprintf(body, 2048,
	         "{\"Id\":\"%s\",\"Name\":\"/x\",\"State\":{\"Status\":\"running\"},"
	         "\"Config\":{\"Labels\":{\"com.amazonaws.ecs.task-arn\":\"%s\","
	         "\"com.amazonaws.ecs.container-name\":\"app\"},\"Env\":[\"BERTH_TENANT=acme\"]},"
	         "\"NetworkSettings\":{\"Ports\":{\"8000/tcp\":[{\"HostIp\":\"0.0.0.0\","
	         "\"HostPort\":\"32800\"}]}}}",
	         ID, ARN);
	fake_docker_put(f->s.fake, ID, body);
	snprintf(line, sizeof(line),
	         "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"%s\"},"
	         "\"time\":1767225600,\"timeNano\":1767225600000000000}",
	         ID);
	fake_docker_event(f->s.fake, line);
}

static void
test_routes(void **state)
{
	/* Bad requests and unknown things: the status alone. */
	static const struct {
		const char *method, *path;
		long status;
	} errors[] = {
	    {"GET", "/v1/bindings/abc?wait=x", 400},
	    {"GET", "/v1/bindings/abc?wait=301", 400},
	    {"GET", "/v1/bindings/a%20b", 400},
	    {"GET", "/v1/bindings/abc", 404},
	    {"GET", "/nope", 404},
	    {"DELETE", "/v1/bindings", 405},
	    /* Values too long to hold are errors, never ignored. */
	    {"GET", "/v1/bindings/abc?wait=1234567890123456789012", 400},
	    {"GET", "/v1/bindings?task=" LONG_TASK, 400},
	    {"GET", "/v1/bindings?tenant=" LONG_TASK, 400},
	};
	struct fx *f = *state;
	struct reply r;
	json_t *j;

	/* Before Docker is connected /healthz says so with 503. */
	call(f, "GET", "/healthz", &r);
	assert_int_equal(r.status, 503);
	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	call(f, "GET", "/healthz", &r);
	assert_int_equal(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
	assert_string_equal(json_string_value(json_object_get(j, "host_ip")), "192.0.2.1");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "agent"), "state")), "none");
	json_decref(j);
	call(f, "GET", "/v1/bindings", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "{\"bindings\":[]}"));
	call(f, "GET", "/v1/bindings?status=bogus", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"error\""));
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		call(f, errors[i].method, errors[i].path, &r);
		if (r.status != errors[i].status)
			fail_msg("%ld, want %ld: %s %.60s", r.status, errors[i].status,
			         errors[i].method, errors[i].path);
	}
	call(f, "GET", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.ctype, "text/plain"));
	assert_non_null(strstr(r.body, "berth_sidecar_docker_connected 1"));
	assert_non_null(strstr(r.body, "# TYPE berth_sidecar_event_to_commit_seconds histogram"));
}

static void
test_long_poll(void **state)
{
	struct fx *f = *state;
	struct reply early, late, timeout;
	double t;

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	/* Parked before the binding exists; answered when the commit lands. */
	request(f, "GET", "/v1/bindings/0123456789abcdef0123456789abcdef?wait=10", &early);
	request(f, "GET", "/v1/bindings/other-task?wait=1", &timeout);
	tu_spin(f->s.base, 100);
	assert_false(early.done);
	start_container(f);
	wait_reply(f, &early, 3000);
	assert_int_equal(early.status, 200);
	assert_non_null(strstr(early.body, "\"host_port\":32800"));
	assert_non_null(strstr(early.body, "\"host_ip\":\"192.0.2.1\""));
	assert_non_null(strstr(early.body, "\"tenant\":\"acme\""));
	/* The other one is still waiting, then 404 after its second. */
	assert_false(timeout.done);
	t = 0;
	for (; t < 3000 && !timeout.done; t += 10)
		tu_spin(f->s.base, 10);
	assert_true(timeout.done);
	assert_int_equal(timeout.status, 404);
	/* Once the binding exists the answer is immediate, and the filters work. */
	request(f, "GET", "/v1/bindings/" ARN "?wait=10", &late);
	wait_reply(f, &late, 1000);
	assert_int_equal(late.status, 200);
	request(f, "GET", "/v1/bindings?tenant=acme&status=running", &late);
	wait_reply(f, &late, 1000);
	assert_non_null(strstr(late.body, ID));
	request(f, "GET", "/v1/bindings?tenant=other", &late);
	wait_reply(f, &late, 1000);
	assert_non_null(strstr(late.body, "{\"bindings\":[]}"));
	/* Still parked at shutdown: api_free answers it (404). */
	{
		static struct reply parked;

		request(f, "GET", "/v1/bindings/gone-away?wait=30", &parked);
		tu_spin(f->s.base, 50);
		assert_false(parked.done);
	}
}

/* ---- hostip against an IMDSv2 emulator ---- */

struct imds {
	int token_ok, public_ok;
	int puts, gets;
	char last_token[128];
};

static void
imds_handler(struct evhttp_request *req, void *arg)
{
	struct imds *m = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	const char *tok;

	if (strcmp(uri, "/latest/api/token") == 0) {
		m->puts++;
		if (evhttp_request_get_command(req) != EVHTTP_REQ_PUT || !m->token_ok ||
		    evhttp_find_header(evhttp_request_get_input_headers(req),
		                       "X-aws-ec2-metadata-token-ttl-seconds") == NULL) {
			evhttp_send_error(req, 403, NULL);
			return;
		}
		evbuffer_add_printf(out, "TOKEN-abc");
		evhttp_send_reply(req, 200, "OK", out);
		return;
	}
	m->gets++;
	tok = evhttp_find_header(evhttp_request_get_input_headers(req), "X-aws-ec2-metadata-token");
	snprintf(m->last_token, sizeof(m->last_token), "%s", tok != NULL ? tok : "");
	if (tok == NULL || strcmp(tok, "TOKEN-abc") != 0) {
		evhttp_send_error(req, 401, NULL);
	} else if (strcmp(uri, "/latest/meta-data/public-ipv4") == 0 && m->public_ok) {
		evbuffer_add_printf(out, "198.51.100.7");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(uri, "/latest/meta-data/local-ipv4") == 0) {
		evbuffer_add_printf(out, "10.0.0.5\n");
		evhttp_send_reply(req, 200, "OK", out);
	} else {
		evhttp_send_error(req, 404, NULL);
	}
}

struct got {
	int done;
	char ip[64], source[32];
};

static void
on_ip(const char *ip, const char *source, void *arg)
{
	struct got *g = arg;

	snprintf(g->ip, sizeof(g->ip), "%s", ip);
	snprintf(g->source, sizeof(g->source), "%s", source);
	g->done = 1;
}

static void
test_hostip(void **state)
{
	struct event_base *base = event_base_new();
	struct evcurl *ec = evcurl_new(base);
	struct evhttp *http = evhttp_new(base);
	struct imds m = {.token_ok = 1, .public_ok = 1};
	struct got g;
	char url[64], buf[64];
	int port = tl_free_port();

	(void)state;
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT);
	evhttp_set_gencb(http, imds_handler, &m);
	assert_int_equal(evhttp_bind_socket(http, "127.0.0.1", (unsigned short)port), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	/* The flag wins without any request. */
	memset(&g, 0, sizeof(g));
	hostip_resolve(ec, "203.0.113.9", url, on_ip, &g);
	assert_true(g.done);
	assert_string_equal(g.ip, "203.0.113.9");
	assert_string_equal(g.source, "flag");
	assert_int_equal(m.puts, 0);
	/* IMDSv2: token, then public-ipv4. */
	memset(&g, 0, sizeof(g));
	hostip_resolve(ec, NULL, url, on_ip, &g);
	for (int i = 0; i < 300 && !g.done; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_string_equal(g.ip, "198.51.100.7");
	assert_string_equal(g.source, "imds-public");
	assert_string_equal(m.last_token, "TOKEN-abc");
	/* No public address: local-ipv4. */
	m.public_ok = 0;
	memset(&g, 0, sizeof(g));
	hostip_resolve(ec, NULL, url, on_ip, &g);
	for (int i = 0; i < 300 && !g.done; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_string_equal(g.ip, "10.0.0.5");
	assert_string_equal(g.source, "imds-local");
	/* No token (IMDS refuses): the first non-loopback interface address, if any. */
	m.token_ok = 0;
	memset(&g, 0, sizeof(g));
	hostip_resolve(ec, NULL, url, on_ip, &g);
	for (int i = 0; i < 300 && !g.done; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_true(g.done);
	if (hostip_interface(buf, sizeof(buf)) == 0) {
		assert_string_equal(g.ip, buf);
		assert_string_equal(g.source, "interface");
	} else {
		assert_string_equal(g.ip, "");
	}
	/* "none" skips IMDS altogether. */
	m.puts = 0;
	memset(&g, 0, sizeof(g));
	hostip_resolve(ec, NULL, "none", on_ip, &g);
	assert_true(g.done);
	assert_int_equal(m.puts, 0);
	assert_true(hostip_valid("10.1.2.3"));
	assert_true(hostip_valid("::1"));
	assert_false(hostip_valid("10.1.2"));
	assert_false(hostip_valid("example.com"));
	evhttp_free(http);
	evcurl_free(ec);
	event_base_free(base);
}

/* Long-polls whose clients go away free their slots at once, not when wait= runs out. */
/* The dashboard's feed: a count of changing commits, long-polled; and the page itself. */
static void
test_changes_and_ui(void **state)
{
	struct fx *f = *state;
	struct reply now, parked, bad, page;
	char path[96];
	long n;

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	request(f, "GET", "/v1/changes", &now);
	wait_reply(f, &now, 1000);
	assert_int_equal(now.status, 200);
	assert_non_null(strstr(now.body, "\"changes\":"));
	n = strtol(strstr(now.body, "\"changes\":") + 10, NULL, 10);
	/* Parked on the current count; the next changing commit answers it. */
	snprintf(path, sizeof(path), "/v1/changes?since=%ld&wait=10", n);
	request(f, "GET", path, &parked);
	tu_spin(f->s.base, 100);
	assert_false(parked.done);
	start_container(f);
	wait_reply(f, &parked, 3000);
	assert_int_equal(parked.status, 200);
	assert_true(strtol(strstr(parked.body, "\"changes\":") + 10, NULL, 10) > n);
	/* A stale count answers at once; junk is 400. */
	snprintf(path, sizeof(path), "/v1/changes?since=%ld&wait=10", n);
	request(f, "GET", path, &now);
	wait_reply(f, &now, 1000);
	assert_int_equal(now.status, 200);
	request(f, "GET", "/v1/changes?since=-1", &bad);
	wait_reply(f, &bad, 1000);
	assert_int_equal(bad.status, 400);
	request(f, "GET", "/v1/changes?wait=301", &bad);
	wait_reply(f, &bad, 1000);
	assert_int_equal(bad.status, 400);
	request(f, "GET", "/ui", &page);
	wait_reply(f, &page, 1000);
	assert_int_equal(page.status, 200);
	assert_non_null(strstr(page.ctype, "text/html"));
	assert_non_null(strstr(page.body, "id=\"bindings\""));
}

static void
test_long_poll_client_gone(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	static const char req[] = "GET /v1/bindings/abc?wait=60 HTTP/1.1\r\nHost: x\r\n\r\n";
	int fds[100];

	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)f->port);
	for (int i = 0; i < 100; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(write(fds[i], req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	}
	TU_UNTIL(f->s.base, api_waiters(f->api) == 100);
	assert_int_equal(api_waiters(f->api), 100);
	for (int i = 0; i < 100; i++)
		close(fds[i]);
	TU_UNTIL(f->s.base, api_waiters(f->api) == 0);
	if (api_waiters(f->api) != 0)
		fail_msg("%d long-polls still parked after their clients left",
		         api_waiters(f->api));
}

/* Reads the log file written since the test began. */
static char *
log_text(const char *path)
{
	char *t = tl_read_file(path, NULL);

	assert_non_null(t);
	return t;
}

/*
 * /healthz fails while registry writes fail (here: a lock held by another
 * process) and once the file at --db is not the one open; the log carries
 * SQLite's own reason.
 */
static void
test_health_registry(void **state)
{
	struct fx *f = *state;
	struct registry *other;
	struct reply r;
	char err[256], logpath[400], *text;

	snprintf(logpath, sizeof(logpath), "%s/log", f->s.dir);
	assert_int_equal(log_init("test", LOG_LEVEL_INFO, LOG_FORMAT_TEXT, logpath), 0);
	registry_set_busy(f->s.reg, 50);
	tracker_start(f->s.t);
	tu_wait_connected(&f->s);
	call(f, "GET", "/healthz", &r);
	assert_int_equal(r.status, 200);
	/* Another process holds the write lock: the container's binding cannot land. */
	assert_int_equal(registry_open(&other, f->s.db, REGISTRY_RDWR, err, sizeof(err)), 0);
	assert_int_equal(registry_begin(other), 0);
	start_container(f);
	tu_spin(f->s.base, 1300);
	call(f, "GET", "/healthz", &r);
	if (r.status != 503 || strstr(r.body, "\"failing\"") == NULL)
		fail_msg("healthz while writes fail: %ld %s", r.status, r.body);
	text = log_text(logpath);
	assert_non_null(strstr(text, "registry_commit_failed"));
	assert_null(strstr(text, "rollback without a batch"));
	assert_non_null(strstr(text, "locked"));
	free(text);
	/* The lock goes: the write lands and health comes back. */
	assert_int_equal(registry_rollback(other), 0);
	registry_close(other);
	TU_UNTIL(f->s.base, tracker_write_failing_ms(f->s.t) == 0);
	call(f, "GET", "/healthz", &r);
	assert_int_equal(r.status, 200);
	/* The file is deleted underneath. */
	assert_int_equal(unlink(f->s.db), 0);
	call(f, "GET", "/healthz", &r);
	if (r.status != 503 || strstr(r.body, "deleted") == NULL)
		fail_msg("healthz with the file deleted: %ld %s", r.status, r.body);
	log_init("test", LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_poll, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changes_and_ui, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_poll_client_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_health_registry, setup, teardown),
	    cmocka_unit_test(test_hostip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
