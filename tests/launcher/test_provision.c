/*
 * The launcher's state machine in one process, with no services: the real
 * API and provision code over loopback HTTP, a temporary registry file (a
 * second handle plays the sidecar), a fake backend whose timing and answers
 * each case sets, and a tiny evhttp "tenant" to probe. Runs under ASan+UBSan
 * with the other unit tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sqlite3.h>

#include "core/evcurl.h"
#include "core/httpd.h"
#include "core/metrics.h"
#include "core/clock.h"
#include "launcher/await.h"
#include "launcher/launcher.h"
#include "launcher/probe.h"
#include "launcher/watch.h"
#include "tests/lib/testlib.h"

/* What the fake backend does, set per case. */
struct fake {
	struct event_base *base;
	struct registry *sidecar; /* writes bindings like the sidecar would */
	int start_delay_ms;
	int start_error;    /* start answers this error */
	int bind_on_start;  /* write a RUNNING binding when start answers */
	int bind_port;      /* the port that binding (or describe) gives */
	int describe_state; /* -1: describe fails; else enum backend_state */
	int starts, stops, describes;
	int starting, max_starting; /* starts in flight now, and at most */
	char last_stop_task[REG_ARN_MAX];
	char env[4][256];
};

static struct fake F;

struct fake_call {
	char task[REG_ARN_MAX];
	char sub[REG_SUBDOMAIN_MAX];
	int kind; /* 0 start, 1 stop, 2 describe */
	backend_start_cb on_start;
	backend_done_cb on_done;
	backend_describe_cb on_describe;
	void *arg;
	struct event *ev;
};

static void
fake_fire(evutil_socket_t fd, short what, void *arg)
{
	struct fake_call *c = arg;

	(void)fd;
	(void)what;
	if (c->kind == 0) {
		F.starting--;
		if (F.start_error != 0) {
			c->on_start(F.start_error, NULL, "", "fake start failed", c->arg);
		} else {
			if (F.bind_on_start) {
				struct binding b;

				memset(&b, 0, sizeof(b));
				snprintf(b.task_arn, sizeof(b.task_arn), "%s", c->task);
				snprintf(b.container_id, sizeof(b.container_id), "%.70s", c->task);
				snprintf(b.container_name, sizeof(b.container_name), "app");
				snprintf(b.protocol, sizeof(b.protocol), "tcp");
				snprintf(b.host_ip, sizeof(b.host_ip), "127.0.0.1");
				snprintf(b.tenant, sizeof(b.tenant), "%s", c->sub);
				b.container_port = 8000;
				b.host_port = F.bind_port;
				b.status = BINDING_RUNNING;
				assert_int_equal(registry_binding_upsert(F.sidecar, &b, NULL), 0);
			}
			c->on_start(0, c->task, "", "", c->arg);
		}
	} else if (c->kind == 1) {
		c->on_done(0, "", c->arg);
	} else {
		struct backend_task t;

		memset(&t, 0, sizeof(t));
		if (F.describe_state < 0) {
			c->on_describe(-EIO, NULL, "fake describe failed", c->arg);
		} else {
			t.state = (enum backend_state)F.describe_state;
			t.host_port = t.state == BACKEND_RUNNING ? F.bind_port : 0;
			snprintf(t.reason, sizeof(t.reason), "exit code 3");
			c->on_describe(0, &t, "", c->arg);
		}
	}
	event_free(c->ev);
	free(c);
}

static struct fake_call *
fake_schedule(int kind, int delay_ms)
{
	struct fake_call *c = calloc(1, sizeof(*c));
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	assert_non_null(c);
	c->kind = kind;
	c->ev = evtimer_new(F.base, fake_fire, c);
	evtimer_add(c->ev, &tv);
	return c;
}

static int
fake_init(const struct backend_ctx *ctx, void **state, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	*state = &F;
	return 0;
}

static void
fake_free(void *state)
{
	(void)state;
}

static int
fake_start(void *state, const struct backend_spec *spec, backend_start_cb cb, void *arg)
{
	struct fake_call *c = fake_schedule(0, F.start_delay_ms);

	(void)state;
	F.starts++;
	if (++F.starting > F.max_starting)
		F.max_starting = F.starting;
	assert_true(spec->timeout_ms >= 1000);
	for (size_t i = 0; i < spec->n_env && i < 4; i++)
		snprintf(F.env[i], sizeof(F.env[i]), "%s=%s", spec->env[i].name,
		         spec->env[i].value);
	assert_non_null(spec->client_token);
	assert_true(strlen(spec->client_token) < BACKEND_TOKEN_MAX);
	snprintf(c->task, sizeof(c->task), "fake-%s", spec->subdomain);
	snprintf(c->sub, sizeof(c->sub), "%s", spec->subdomain);
	c->on_start = cb;
	c->arg = arg;
	return 0;
}

static int
fake_stop(void *state, const char *sub, long long created_ms, const char *task, backend_done_cb cb,
          void *arg)
{
	struct fake_call *c = fake_schedule(1, 10);

	(void)state;
	(void)sub;
	(void)created_ms;
	F.stops++;
	snprintf(F.last_stop_task, sizeof(F.last_stop_task), "%s", task);
	c->on_done = cb;
	c->arg = arg;
	return 0;
}

static int
fake_describe(void *state, const char *task, int port, backend_describe_cb cb, void *arg)
{
	struct fake_call *c = fake_schedule(2, 1);

	(void)state;
	(void)task;
	(void)port;
	F.describes++;
	c->on_describe = cb;
	c->arg = arg;
	return 0;
}

static const struct backend_ops fake_ops = {
    .name = "fake",
    .local = 1,
    .init = fake_init,
    .free = fake_free,
    .start = fake_start,
    .stop = fake_stop,
    .describe = fake_describe,
};

/* One launcher, its registry and the tenant app, per case. */
struct fx {
	struct launcher l;
	struct evhttp *app;
	int port, app_port;
	char dir[256], db[300];
};

struct reply {
	int done;
	int status;
	char body[8192];
	char timing[256], location[128];
};

static void
each_port(struct evhttp_bound_socket *bs, void *arg)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl) == 0)
		*(int *)arg = ntohs(sin.sin_port);
}

static int
bound_port(struct evhttp *h)
{
	int port = 0;

	evhttp_foreach_bound_socket(h, each_port, &port);
	return port;
}

static void
app_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	httpd_json(req, 200, json_pack("{s:s}", "app", "ok"));
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	static int registered;

	assert_non_null(f);
	if (!registered) {
		assert_int_equal(backend_register(&fake_ops), 0);
		registered = 1;
	}
	assert_int_equal(tl_tmpdir(f->dir, sizeof(f->dir), "prov"), 0);
	snprintf(f->db, sizeof(f->db), "%s/r.db", f->dir);
	memset(&F, 0, sizeof(F));
	F.describe_state = BACKEND_PENDING;

	TAILQ_INIT(&f->l.provs);
	TAILQ_INIT(&f->l.startq);
	TAILQ_INIT(&f->l.awaits);
	f->l.base = event_base_new();
	F.base = f->l.base;
	f->l.curl = evcurl_new(f->l.base);
	assert_int_equal(
	    registry_open(&f->l.reg, f->db, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)), 0);
	assert_int_equal(registry_open(&F.sidecar, f->db, REGISTRY_RDWR, err, sizeof(err)), 0);
	f->l.bops = backend_find("fake");
	assert_int_equal(f->l.bops->init(NULL, &f->l.bstate, err, sizeof(err)), 0);
	f->l.url_template = "http://{subdomain}.{host_ip}.sslip.io:{host_port}";
	f->l.dburl_template = "postgres://app:pw@db/{db_name}";
	f->l.container_port = 8000;
	f->l.wait_timeout_s = 2;
	f->l.ready_http = 1;
	f->l.max_inflight = 16;
	f->l.describe_ms = 1000;
	f->l.reg_timer = evtimer_new(f->l.base, await_registry_tick, &f->l);
	f->l.http = evhttp_new(f->l.base);
	assert_int_equal(api_init(&f->l, err, sizeof(err)), 0);
	assert_int_equal(httpd_bind(f->l.http, "127.0.0.1:0", err, sizeof(err)), 0);
	f->port = bound_port(f->l.http);
	f->app = evhttp_new(f->l.base);
	assert_int_equal(httpd_bind(f->app, "127.0.0.1:0", err, sizeof(err)), 0);
	evhttp_set_gencb(f->app, app_cb, NULL);
	f->app_port = bound_port(f->app);
	F.bind_port = f->app_port;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	prov_shutdown(&f->l);
	/* Let pending fake callbacks run and free themselves. */
	{
		struct timeval tv = {0, 100 * 1000};

		event_base_loopexit(f->l.base, &tv);
		event_base_dispatch(f->l.base);
	}
	evhttp_free(f->l.http);
	api_free(&f->l);
	evhttp_free(f->app);
	evcurl_free(f->l.curl);
	event_free(f->l.reg_timer);
	registry_close(F.sidecar);
	registry_close(f->l.reg);
	event_base_free(f->l.base);
	tl_rmtree(f->dir);
	free(f);
	return 0;
}

static void
on_reply(struct evhttp_request *req, void *arg)
{
	struct reply *r = arg;
	struct evbuffer *b;
	const char *h;
	size_t n;

	r->done = 1;
	r->status = req != NULL ? evhttp_request_get_response_code(req) : -1;
	if (req == NULL)
		return;
	b = evhttp_request_get_input_buffer(req);
	n = evbuffer_get_length(b);
	if (n >= sizeof(r->body))
		n = sizeof(r->body) - 1;
	evbuffer_remove(b, r->body, n);
	r->body[n] = '\0';
	h = evhttp_find_header(evhttp_request_get_input_headers(req), "Server-Timing");
	snprintf(r->timing, sizeof(r->timing), "%s", h != NULL ? h : "");
	h = evhttp_find_header(evhttp_request_get_input_headers(req), "Location");
	snprintf(r->location, sizeof(r->location), "%s", h != NULL ? h : "");
}

/* Sends a request; the reply lands in r (run the loop with wait()). */
static struct evhttp_connection *
send_req(struct fx *f, enum evhttp_cmd_type cmd, const char *uri, const char *body, int async,
         struct reply *r)
{
	struct evhttp_connection *c =
	    evhttp_connection_base_new(f->l.base, NULL, "127.0.0.1", (unsigned short)f->port);
	struct evhttp_request *req = evhttp_request_new(on_reply, r);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	memset(r, 0, sizeof(*r));
	evhttp_add_header(h, "Host", "127.0.0.1");
	evhttp_add_header(h, "Content-Type", "application/json");
	if (async)
		evhttp_add_header(h, "Prefer", "respond-async");
	if (body != NULL)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	assert_int_equal(evhttp_make_request(c, req, cmd, uri), 0);
	return c;
}

/* Runs the loop until every reply in rs is in (10 s at most). */
static void
wait_all(struct fx *f, struct reply **rs, int n)
{
	int64_t until = clock_mono_us() + 10 * 1000000;

	while (clock_mono_us() < until) {
		int done = 1;

		for (int k = 0; k < n; k++)
			done &= rs[k]->done;
		if (done)
			return;
		event_base_loop(f->l.base, EVLOOP_ONCE);
	}
	fail_msg("no reply within the time");
}

static void
run_ms(struct fx *f, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(f->l.base, &tv);
	event_base_dispatch(f->l.base);
}

static void
call(struct fx *f, enum evhttp_cmd_type cmd, const char *uri, const char *body, int async,
     struct reply *r)
{
	struct evhttp_connection *c = send_req(f, cmd, uri, body, async, r);
	struct reply *rs[1] = {r};

	wait_all(f, rs, 1);
	evhttp_connection_free(c);
}

static const char BODY[] =
    "{\"subdomain\":\"acme-co\",\"admin_email\":\"a@acme.example\",\"company_name\":\"Acme\"}";

static void
tenant_status(struct fx *f, const char *sub, char *out, size_t outlen)
{
	struct tenant t;

	assert_int_equal(registry_tenant_get(f->l.reg, sub, &t), 0);
	snprintf(out, outlen, "%s", tenant_status_str(t.status));
}

static void
test_bound_from_registry(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char url[128], st[32];

	F.bind_on_start = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	if (r.status != 201)
		fail_msg("%d %s", r.status, r.body);
	snprintf(url, sizeof(url), "\"url\":\"http://acme-co.127.0.0.1.sslip.io:%d\"", f->app_port);
	assert_non_null(strstr(r.body, url));
	assert_non_null(strstr(r.body, "\"task_arn\":\"fake-acme-co\""));
	assert_non_null(strstr(r.timing, "start;dur="));
	assert_non_null(strstr(r.timing, "launcher;dur="));
	assert_int_equal(metric_value(f->l.m.bound_by[BS_REGISTRY]), 1);
	assert_int_equal(F.starts, 1);
	assert_int_equal(F.stops, 0);
	assert_string_equal(F.env[0], "DB_NAME=acme_co");
	assert_string_equal(F.env[1], "DATABASE_URL=postgres://app:pw@db/acme_co");
	assert_string_equal(F.env[2], "BERTH_TENANT=acme-co");
	assert_string_equal(F.env[3], "BERTH_COMPANY_NAME=Acme");
	tenant_status(f, "acme-co", st, sizeof(st));
	assert_string_equal(st, "RUNNING");
	/* Again: 200 as it stands, nothing started. */
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(F.starts, 1);
	/* The registry timer stops once nothing awaits. */
	assert_int_equal(f->l.nawait, 0);
	assert_int_equal(f->l.nprovs, 0);
}

static void
test_bound_from_describe(void **state)
{
	struct fx *f = *state;
	struct reply r;

	F.describe_state = BACKEND_RUNNING;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	if (r.status != 201)
		fail_msg("%d %s", r.status, r.body);
	assert_int_equal(metric_value(f->l.m.bound_by[BS_DESCRIBE]), 1);
	assert_true(F.describes >= 1);
}

static void
test_start_error(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char st[32];
	struct tenant t;

	F.start_error = -EIO;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 502);
	assert_non_null(strstr(r.body, "\"backend_error\""));
	tenant_status(f, "acme-co", st, sizeof(st));
	assert_string_equal(st, "FAILED");
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_string_equal(t.error, "fake start failed");
	run_ms(f, 50);
	/* Whatever start left is stopped, by name (no task known). */
	assert_int_equal(F.stops, 1);
	assert_string_equal(F.last_stop_task, "");
	assert_int_equal(f->l.nprovs, 0);
	/* A failed tenant asked for again is provisioned again. */
	F.start_error = 0;
	F.bind_on_start = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 201);
	assert_int_equal(F.starts, 2);
}

static void
test_timeout_while_starting(void **state)
{
	struct fx *f = *state;
	struct reply r;
	char st[32];

	f->l.wait_timeout_s = 1;
	F.start_delay_ms = 1500;
	F.bind_on_start = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 504);
	assert_non_null(strstr(r.body, "did not start the task"));
	tenant_status(f, "acme-co", st, sizeof(st));
	assert_string_equal(st, "FAILED");
	assert_int_equal(F.stops, 0); /* nothing to stop until start answers */
	run_ms(f, 800);
	assert_int_equal(F.stops, 1);
	assert_string_equal(F.last_stop_task, "fake-acme-co");
	tenant_status(f, "acme-co", st, sizeof(st));
	assert_string_equal(st, "FAILED");
	assert_int_equal(f->l.nprovs, 0);
}

/* A loopback port nobody listens on (bound, not listening) into *port; the socket to close. */
static int
dead_port(int *port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return s;
}

static void
test_port_never_answers(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct tenant t;
	int s = dead_port(&F.bind_port);
	F.bind_on_start = 1;
	f->l.wait_timeout_s = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 504);
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_string_equal(t.error, "the host port did not answer within 1 s");
	run_ms(f, 50);
	assert_int_equal(F.stops, 1);
	close(s);
}

static void
test_task_stopped(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct tenant t;

	F.describe_state = BACKEND_STOPPED;
	f->l.wait_timeout_s = 5;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 502);
	assert_non_null(strstr(r.body, "\"task_stopped\""));
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_int_equal(t.status, TENANT_FAILED);
	assert_non_null(strstr(t.error, "exit code 3"));
}

/* Status lines the probe takes and refuses, and a socket connected to itself. */
static void
test_probe_units(void **state)
{
	static const struct {
		const char *in;
		int want;
	} lines[] = {
	    {"HTTP/1.1 200 OK\r\n", 1},
	    {"HTTP/1.0 404 Not Found", 1},
	    {"HTTP/1.1 503", 1},
	    {"HTTP/1.", 0},
	    {"", 0},
	    {"HEAD / HTTP/1.0\r\n", -1},
	    {"HTTP/x.1 200", -1},
	    {"SSH-2.0-OpenSSH", -1},
	    {"HTTP/1.1 2x0", -1},
	};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int s, a, b;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (probe_status_line(lines[i].in, strlen(lines[i].in)) != lines[i].want)
			fail_msg("probe_status_line(\"%s\") != %d", lines[i].in, lines[i].want);
	/* TCP simultaneous open: bound to a port and connected to that same port. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(probe_is_self(s), 1);
	close(s);
	/* A real peer is not. */
	a = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = 0;
	assert_int_equal(bind(a, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sl = sizeof(sin);
	assert_int_equal(getsockname(a, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(listen(a, 1), 0);
	b = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(b, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(probe_is_self(b), 0);
	close(b);
	close(a);
}

static void
echo_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

static void
echo_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	bufferevent_free(bev);
}

static void
echo_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa, int salen,
            void *arg)
{
	struct bufferevent *bev =
	    bufferevent_socket_new(evconnlistener_get_base(lst), fd, BEV_OPT_CLOSE_ON_FREE);

	(void)sa;
	(void)salen;
	(void)arg;
	bufferevent_setcb(bev, echo_read, NULL, echo_event, NULL);
	bufferevent_enable(bev, EV_READ);
}

/*
 * A port that sends back what it reads (as a socket connected to itself
 * does): the probe's own HEAD is no HTTP answer, so the tenant is not ready.
 */
static void
test_probe_echo_is_not_ready(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	struct evconnlistener *lst;
	struct tenant t;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lst = evconnlistener_new_bind(f->l.base, echo_accept, NULL,
	                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                              (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(lst);
	assert_int_equal(getsockname(evconnlistener_get_fd(lst), (struct sockaddr *)&sin, &sl), 0);
	F.bind_port = ntohs(sin.sin_port);
	F.bind_on_start = 1;
	f->l.wait_timeout_s = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	if (r.status != 504)
		fail_msg("an echoing port was taken for a tenant: %d %s", r.status, r.body);
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_int_equal(t.status, TENANT_FAILED);
	evconnlistener_free(lst);
}

/* The sidecar marks the binding STOPPED while the port is probed. */
static void
mark_stopped(evutil_socket_t fd, short what, void *arg)
{
	int n = 0;

	(void)fd;
	(void)what;
	(void)arg;
	assert_int_equal(registry_container_stopped(F.sidecar, "fake-acme-co", 1, 3, 0, &n), 0);
	assert_int_equal(n, 1);
}

/*
 * A container that exits while its port is probed fails the provision at
 * once with the reason, not after --wait-timeout (nor with a 201).
 */
static void
test_stops_while_probing(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct tenant t;
	/* The binding's port: nobody listens (the container's app is gone). */
	int s = dead_port(&F.bind_port);
	struct timeval tv = {0, 300 * 1000};
	struct event *ev = evtimer_new(f->l.base, mark_stopped, NULL);
	int64_t t0;

	F.bind_on_start = 1;
	F.describe_state = BACKEND_STOPPED;
	f->l.wait_timeout_s = 20;
	f->l.describe_ms = 15000; /* only the registry's news can ask describe in time */
	evtimer_add(ev, &tv);
	t0 = clock_mono_us();
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	if (r.status != 502)
		fail_msg("want 502 task_stopped, got %d %s", r.status, r.body);
	assert_non_null(strstr(r.body, "\"task_stopped\""));
	assert_true(clock_mono_us() - t0 < 5 * 1000000);
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_int_equal(t.status, TENANT_FAILED);
	assert_non_null(strstr(t.error, "exit code 3"));
	event_free(ev);
	close(s);
}

static void
lock_registry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	assert_int_equal(registry_begin(F.sidecar), 0); /* BEGIN IMMEDIATE: the write lock */
}

/*
 * The final FAILED write does not land (the registry is locked elsewhere):
 * the answer goes out, the write is retried from a timer, and the tenant is
 * never left PROVISIONING. A POST meanwhile gets 503 with Retry-After, not a
 * 202 for a provision that is over; once the lock goes, the row is FAILED and
 * the next POST provisions it again.
 */
static void
test_failed_write_is_retried(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct tenant t;
	struct timeval tv = {0, 300 * 1000};
	struct event *ev = evtimer_new(f->l.base, lock_registry, NULL);
	int64_t t0;

	registry_set_busy(f->l.reg, LAUNCHER_BUSY_MS);
	F.describe_state = BACKEND_STOPPED;
	f->l.wait_timeout_s = 5;
	evtimer_add(ev, &tv);
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 502);
	assert_int_equal(f->l.nprovs, 1); /* held until its state is written */
	assert_int_equal(registry_tenant_get(F.sidecar, "acme-co", &t), 0);
	assert_int_equal(t.status, TENANT_PROVISIONING);
	/* Asked again while the registry is still locked: 503, and quickly. */
	t0 = clock_mono_us();
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	if (r.status != 503)
		fail_msg("want 503 while the registry is locked, got %d %s", r.status, r.body);
	assert_non_null(strstr(r.body, "registry_error"));
	assert_true(clock_mono_us() - t0 < 2 * 1000000);
	/* The lock goes: the retry lands FAILED, the provision is freed. */
	assert_int_equal(registry_rollback(F.sidecar), 0);
	run_ms(f, 800);
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_int_equal(t.status, TENANT_FAILED);
	assert_int_equal(f->l.nprovs, 0);
	/* And the same request provisions it again. */
	F.describe_state = BACKEND_PENDING;
	F.bind_on_start = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	if (r.status != 201)
		fail_msg("want 201, got %d %s", r.status, r.body);
	event_free(ev);
}

/* Ages a tenant row in the file, as if its provision had died long ago. */
static void
age_tenant(struct fx *f, const char *sub)
{
	sqlite3 *db;
	char sql[256];

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	snprintf(sql, sizeof(sql), "UPDATE tenants SET updated_at = 1000 WHERE subdomain = '%s'",
	         sub);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * A PROVISIONING row that no provision owns (its launcher died without a
 * restart, or its last write was lost) is taken up by the next request for
 * it, once it is older than any provision can be; a young one is left to
 * whoever provisions it (202).
 */
static void
test_orphan_taken_over(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct tenant t;

	memset(&t, 0, sizeof(t));
	snprintf(t.subdomain, sizeof(t.subdomain), "acme-co");
	snprintf(t.admin_email, sizeof(t.admin_email), "a@acme.example");
	snprintf(t.company_name, sizeof(t.company_name), "Acme");
	t.status = TENANT_PROVISIONING;
	assert_int_equal(registry_tenant_insert(F.sidecar, &t), 0);
	F.bind_on_start = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 202); /* young: someone may be on it */
	assert_int_equal(F.starts, 0);
	age_tenant(f, "acme-co");
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	if (r.status != 201)
		fail_msg("want the orphan taken over (201), got %d %s", r.status, r.body);
	assert_int_equal(F.starts, 1);
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_int_equal(t.status, TENANT_RUNNING);
}

/* /healthz fails once the file at --db is not the one the launcher has open. */
static void
test_healthz_file_lost(void **state)
{
	struct fx *f = *state;
	struct reply r;
	FILE *fp;

	call(f, EVHTTP_REQ_GET, "/healthz", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(unlink(f->db), 0);
	call(f, EVHTTP_REQ_GET, "/healthz", NULL, 0, &r);
	if (r.status != 503 || strstr(r.body, "deleted") == NULL)
		fail_msg("healthz with the file deleted: %d %s", r.status, r.body);
	/* Another file in its place is no better. */
	assert_non_null(fp = fopen(f->db, "w"));
	fclose(fp);
	call(f, EVHTTP_REQ_GET, "/healthz", NULL, 0, &r);
	if (r.status != 503 || strstr(r.body, "replaced") == NULL)
		fail_msg("healthz with the file replaced: %d %s", r.status, r.body);
}

/*
 * A RUNNING tenant whose container exits (no DELETE) follows it: FAILED with
 * the exit code, or STOPPED for exit code 0; the same POST then provisions it
 * again.
 */
static void
test_tenant_follows_task(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct tenant t;
	int n = 0;

	F.bind_on_start = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	assert_int_equal(r.status, 201);
	assert_int_equal(watch_scan(&f->l), 0); /* running: nothing to do */
	assert_int_equal(registry_container_stopped(F.sidecar, "fake-acme-co", 1, 137, 0, &n), 0);
	assert_int_equal(watch_scan(&f->l), 1);
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_int_equal(t.status, TENANT_FAILED);
	assert_string_equal(t.error, "the task stopped: exit code 137");
	call(f, EVHTTP_REQ_GET, "/v1/tenants/acme-co", NULL, 0, &r);
	assert_non_null(strstr(r.body, "\"status\":\"FAILED\""));
	/* Asked again: provisioned again (the fake binds the same task id anew). */
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &r);
	if (r.status != 201)
		fail_msg("want 201 again, got %d %s", r.status, r.body);
	/* A clean exit is STOPPED. */
	assert_int_equal(registry_container_stopped(F.sidecar, "fake-acme-co", 1, 0, 0, &n), 0);
	assert_int_equal(watch_scan(&f->l), 1);
	assert_int_equal(registry_tenant_get(f->l.reg, "acme-co", &t), 0);
	assert_int_equal(t.status, TENANT_STOPPED);
}

/*
 * Backend starts are bounded by --backend-concurrency; the rest wait in a
 * queue, and what the queue cannot start within --wait-timeout is answered
 * 503 with Retry-After at once.
 */
static void
test_start_queue(void **state)
{
	struct fx *f = *state;
	struct reply warm, r[5], *rs[5];
	struct evhttp_connection *c[5];
	char body[256];
	int created = 0, busy = 0, late = 0;

	f->l.backend_max = 1;
	f->l.wait_timeout_s = 3;
	F.start_delay_ms = 1000;
	F.bind_on_start = 1;
	call(f, EVHTTP_REQ_POST, "/v1/tenants",
	     "{\"subdomain\":\"warm\",\"admin_email\":\"a@b.example\",\"company_name\":\"W\"}", 0,
	     &warm);
	assert_int_equal(warm.status, 201);
	for (int i = 0; i < 5; i++) {
		snprintf(body, sizeof(body),
		         "{\"subdomain\":\"queued-%d\",\"admin_email\":\"a@b.example\","
		         "\"company_name\":\"Q\"}",
		         i);
		rs[i] = &r[i];
		c[i] = send_req(f, EVHTTP_REQ_POST, "/v1/tenants", body, 0, &r[i]);
	}
	wait_all(f, rs, 5);
	for (int i = 0; i < 5; i++) {
		if (r[i].status == 201)
			created++;
		else if (r[i].status == 503 && strstr(r[i].body, "\"busy\"") != NULL)
			busy++;
		else if (r[i].status == 504)
			late++; /* the third start ends right at its deadline */
		else
			fail_msg("q%d: %d %s", i, r[i].status, r[i].body);
		evhttp_connection_free(c[i]);
	}
	/*
	 * 1 s a start, one at a time, 3 s each: the first two fit, the third may
	 * just fit, and the last two (3 s and more of starts ahead) are told at once.
	 */
	assert_true(created >= 2);
	assert_true(busy >= 2);
	assert_int_equal(created + busy + late, 5);
	assert_int_equal(F.max_starting, 1);
	assert_int_equal(f->l.nqueued, 0);
}

static void
test_delete_while_starting(void **state)
{
	struct fx *f = *state;
	struct reply post, del, *rs[2] = {&post, &del};
	struct evhttp_connection *c1, *c2;
	char st[32];

	F.start_delay_ms = 300;
	F.bind_on_start = 1;
	c1 = send_req(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &post);
	run_ms(f, 50);
	c2 = send_req(f, EVHTTP_REQ_DELETE, "/v1/tenants/acme-co", NULL, 0, &del);
	wait_all(f, rs, 2);
	assert_int_equal(post.status, 409);
	assert_non_null(strstr(post.body, "\"deleted\""));
	assert_int_equal(del.status, 200);
	assert_non_null(strstr(del.body, "\"status\":\"STOPPED\""));
	assert_int_equal(F.stops, 1);
	assert_string_equal(F.last_stop_task, "fake-acme-co");
	tenant_status(f, "acme-co", st, sizeof(st));
	assert_string_equal(st, "STOPPED");
	evhttp_connection_free(c1);
	evhttp_connection_free(c2);
	assert_int_equal(f->l.nprovs, 0);
}

static void
test_duplicate_joins(void **state)
{
	struct fx *f = *state;
	struct reply a, b, c, *rs[2] = {&a, &b};
	struct evhttp_connection *c1, *c2;
	const char *other = "{\"subdomain\":\"acme-co\",\"admin_email\":\"b@acme.example\","
	                    "\"company_name\":\"Acme\"}";

	F.start_delay_ms = 100;
	F.bind_on_start = 1;
	c1 = send_req(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &a);
	c2 = send_req(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 0, &b);
	wait_all(f, rs, 2);
	assert_int_equal(a.status, 201);
	assert_int_equal(b.status, 201);
	assert_int_equal(F.starts, 1);
	call(f, EVHTTP_REQ_POST, "/v1/tenants", other, 0, &c);
	assert_int_equal(c.status, 409);
	assert_non_null(strstr(c.body, "\"field\":\"admin_email\""));
	evhttp_connection_free(c1);
	evhttp_connection_free(c2);
}

static void
test_async_then_get(void **state)
{
	struct fx *f = *state;
	struct reply r;

	F.bind_on_start = 1;
	F.start_delay_ms = 50;
	call(f, EVHTTP_REQ_POST, "/v1/tenants", BODY, 1, &r);
	assert_int_equal(r.status, 202);
	assert_string_equal(r.location, "/v1/tenants/acme-co");
	assert_non_null(strstr(r.body, "\"status\":\"PROVISIONING\""));
	for (int i = 0; i < 50; i++) {
		call(f, EVHTTP_REQ_GET, "/v1/tenants/acme-co", NULL, 0, &r);
		if (strstr(r.body, "\"status\":\"RUNNING\"") != NULL)
			break;
		run_ms(f, 20);
	}
	assert_non_null(strstr(r.body, "\"status\":\"RUNNING\""));
	call(f, EVHTTP_REQ_GET, "/v1/tenants?limit=1", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"next\":\"acme-co\""));
	call(f, EVHTTP_REQ_GET, "/v1/tenants?limit=0", NULL, 0, &r);
	assert_int_equal(r.status, 400);
	call(f, EVHTTP_REQ_GET, "/v1/tenants?status=BOGUS", NULL, 0, &r);
	assert_int_equal(r.status, 400);
	call(f, EVHTTP_REQ_GET, "/v1/tenants/nobody", NULL, 0, &r);
	assert_int_equal(r.status, 404);
	call(f, EVHTTP_REQ_GET, "/metrics", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "berth_launcher_provisions_total{result=\"running\"} 1"));
}

static void
test_resume(void **state)
{
	struct fx *f = *state;
	struct tenant a, b;
	char st[32];

	/* a: its task was recorded (awaited again); b: none was (started again). */
	memset(&a, 0, sizeof(a));
	snprintf(a.subdomain, sizeof(a.subdomain), "resume-a");
	snprintf(a.admin_email, sizeof(a.admin_email), "a@r.example");
	snprintf(a.company_name, sizeof(a.company_name), "R");
	snprintf(a.task_arn, sizeof(a.task_arn), "fake-resume-a");
	a.status = TENANT_PROVISIONING;
	b = a;
	snprintf(b.subdomain, sizeof(b.subdomain), "resume-b");
	b.task_arn[0] = '\0';
	assert_int_equal(registry_tenant_insert(f->l.reg, &a), 0);
	assert_int_equal(registry_tenant_insert(f->l.reg, &b), 0);
	F.describe_state = BACKEND_RUNNING; /* how a's port is learned */
	F.bind_on_start = 1;                /* and b's */
	assert_int_equal(prov_resume(&f->l), 0);
	assert_int_equal(F.starts, 1);
	for (int i = 0; i < 100 && f->l.nprovs > 0; i++)
		run_ms(f, 20);
	tenant_status(f, "resume-a", st, sizeof(st));
	assert_string_equal(st, "RUNNING");
	tenant_status(f, "resume-b", st, sizeof(st));
	assert_string_equal(st, "RUNNING");
	assert_int_equal(metric_value(f->l.m.resumed), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bound_from_registry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bound_from_describe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_while_starting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_port_never_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_task_stopped, setup, teardown),
	    cmocka_unit_test(test_probe_units),
	    cmocka_unit_test_setup_teardown(test_probe_echo_is_not_ready, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stops_while_probing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_write_is_retried, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_orphan_taken_over, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_healthz_file_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tenant_follows_task, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_while_starting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_joins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_async_then_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
