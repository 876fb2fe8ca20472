/*
 * evcurl: libcurl's multi-socket API driven by a libevent loop.
 *
 * curl tells us which sockets to watch (sock_cb) and when to call it back
 * (timer_cb); libevent tells curl when a socket is ready (sock_event) or the
 * timer fired (timer_event). Finished transfers are collected from
 * curl_multi_info_read() after each curl_multi_socket_action() call.
 *
 * curl forbids multi calls from inside its own callbacks, yet callers start
 * and cancel transfers from on_data (the Docker event stream starts an
 * inspect per event). So while curl is on the stack (depth > 0) starts are
 * queued and cancels are marked; both are carried out once curl returns.
 */
#include "core/evcurl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "core/log.h"

#define EVCURL_BODY_MAX_DEFAULT   (1024 * 1024)
#define EVCURL_HEADERS_MAX        (16 * 1024) /* cap on the raw response headers kept */
#define EVCURL_CONNECT_TIMEOUT_MS 2000

struct evcurl_xfer {
	TAILQ_ENTRY(evcurl_xfer) entry;
	struct evcurl *ec;
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	char *body;
	size_t body_len, body_cap, body_max;
	char *rhdr;
	size_t rhdr_len;
	evcurl_data_cb on_data;
	evcurl_done_cb on_done;
	void *arg;
	int added;     /* handle is in the multi */
	int cancelled; /* cancel asked while curl was on the stack */
	int too_big;   /* collected body passed body_max */
	int aborted;   /* on_data asked to stop */
};

TAILQ_HEAD(xfer_list, evcurl_xfer);

struct evcurl_sock {
	LIST_ENTRY(evcurl_sock) entry;
	struct evcurl *ec;
	struct event *ev;
	curl_socket_t fd;
};

struct evcurl {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct event *deferred;  /* runs queued starts and cancels */
	struct xfer_list xfers;  /* every live transfer */
	struct xfer_list queued; /* started while curl was on the stack */
	LIST_HEAD(, evcurl_sock) socks;
	int depth;
	int closing; /* evcurl_free is running: refuse new transfers */
};

static void check_done(struct evcurl *);

static void
xfer_free(struct evcurl_xfer *x)
{
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	free(x->body);
	free(x->rhdr);
	free(x);
}

static int
code_of(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	default:
		return -EIO;
	}
}

/* Detaches x from the multi and its lists, runs on_done once, frees x. */
static void
xfer_finish(struct evcurl_xfer *x, int error)
{
	struct evcurl *ec = x->ec;
	struct evcurl_resp r;
	long status = 0;

	if (x->added) {
		curl_multi_remove_handle(ec->multi, x->easy);
		x->added = 0;
		TAILQ_REMOVE(&ec->xfers, x, entry);
	} else {
		TAILQ_REMOVE(&ec->queued, x, entry);
	}
	if (x->too_big)
		error = -E2BIG;
	else if (x->cancelled || (x->aborted && error != 0))
		error = -ECANCELED;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.error = error;
	r.errmsg = x->errbuf;
	r.body = x->body != NULL ? x->body : "";
	r.body_len = x->body_len;
	r.headers = x->rhdr != NULL ? x->rhdr : "";
	if (x->on_done != NULL)
		x->on_done(&r, x->arg);
	xfer_free(x);
}

static void
sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct evcurl *ec = arg;
	int action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	ec->depth++;
	curl_multi_socket_action(ec->multi, fd, action, &running);
	ec->depth--;
	check_done(ec);
}

static void
timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct evcurl *ec = arg;
	int running;

	(void)fd;
	(void)what;
	ec->depth++;
	curl_multi_socket_action(ec->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	ec->depth--;
	check_done(ec);
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct evcurl *ec = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(ec->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(ec->timer, &tv);
	return 0;
}

static int
sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct evcurl *ec = arg;
	struct evcurl_sock *s = sockp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			LIST_REMOVE(s, entry);
			free(s);
			curl_multi_assign(ec->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		s->ec = ec;
		s->fd = fd;
		LIST_INSERT_HEAD(&ec->socks, s, entry);
		curl_multi_assign(ec->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	if ((s->ev = event_new(ec->base, fd, kind, sock_event, ec)) == NULL ||
	    event_add(s->ev, NULL) != 0) {
		log_warnx("evcurl_sock_event_failed fd=%d", (int)fd);
		return -1;
	}
	return 0;
}

/* Adds queued transfers and performs cancels marked while curl was busy. */
static void
run_deferred(struct evcurl *ec)
{
	struct evcurl_xfer *x;
	CURLMcode mc;

	while ((x = TAILQ_FIRST(&ec->queued)) != NULL) {
		if (x->cancelled) {
			xfer_finish(x, -ECANCELED);
			continue;
		}
		TAILQ_REMOVE(&ec->queued, x, entry);
		if ((mc = curl_multi_add_handle(ec->multi, x->easy)) != CURLM_OK) {
			TAILQ_INSERT_HEAD(&ec->queued, x, entry);
			snprintf(x->errbuf, sizeof(x->errbuf), "%s", curl_multi_strerror(mc));
			xfer_finish(x, -EIO);
			continue;
		}
		x->added = 1;
		TAILQ_INSERT_TAIL(&ec->xfers, x, entry);
	}
	/* From the head each time: an on_done may cancel (and free) any other transfer. */
	for (;;) {
		TAILQ_FOREACH(x, &ec->xfers, entry)
		{
			if (x->cancelled)
				break;
		}
		if (x == NULL)
			break;
		xfer_finish(x, -ECANCELED);
	}
}

static void
deferred_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_deferred(arg);
}

static void
check_done(struct evcurl *ec)
{
	CURLMsg *msg;
	int left;
	struct evcurl_xfer *x;

	if (ec->depth > 0)
		return;
	while ((msg = curl_multi_info_read(ec->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x != NULL)
			xfer_finish(x, code_of(msg->data.result));
	}
	run_deferred(ec);
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct evcurl_xfer *x = arg;
	size_t n = size * nmemb, cap;
	char *p;

	if (x->cancelled)
		return 0;
	if (x->on_data != NULL) {
		if (x->on_data(ptr, n, x->arg) != 0 || x->cancelled) {
			x->aborted = 1;
			return 0;
		}
		return n;
	}
	if (x->body_len + n > x->body_max) {
		x->too_big = 1;
		return 0;
	}
	if (x->body_len + n + 1 > x->body_cap) {
		cap = x->body_cap != 0 ? x->body_cap : 4096;
		while (cap < x->body_len + n + 1)
			cap *= 2;
		if ((p = realloc(x->body, cap)) == NULL)
			return 0;
		x->body = p;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, ptr, n);
	x->body_len += n;
	x->body[x->body_len] = '\0';
	return n;
}

static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct evcurl_xfer *x = arg;
	size_t n = size * nmemb;

	/* A new status line (after a 100 Continue or a redirect) starts a new block. */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
		x->rhdr_len = 0;
	if (x->rhdr == NULL && (x->rhdr = malloc(EVCURL_HEADERS_MAX)) == NULL)
		return 0;
	if (x->rhdr_len + n + 1 <= EVCURL_HEADERS_MAX) {
		memcpy(x->rhdr + x->rhdr_len, ptr, n);
		x->rhdr_len += n;
	}
	x->rhdr[x->rhdr_len] = '\0';
	return n;
}

struct evcurl *
evcurl_new(struct event_base *base)
{
	struct evcurl *ec;

	if ((ec = calloc(1, sizeof(*ec))) == NULL)
		return NULL;
	ec->base = base;
	TAILQ_INIT(&ec->xfers);
	TAILQ_INIT(&ec->queued);
	LIST_INIT(&ec->socks);
	if ((ec->multi = curl_multi_init()) == NULL ||
	    (ec->timer = evtimer_new(base, timer_event, ec)) == NULL ||
	    (ec->deferred = event_new(base, -1, 0, deferred_event, ec)) == NULL) {
		evcurl_free(ec);
		return NULL;
	}
	curl_multi_setopt(ec->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(ec->multi, CURLMOPT_SOCKETDATA, ec);
	curl_multi_setopt(ec->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(ec->multi, CURLMOPT_TIMERDATA, ec);
	return ec;
}

void
evcurl_free(struct evcurl *ec)
{
	struct evcurl_xfer *x;
	struct evcurl_sock *s;

	if (ec == NULL)
		return;
	ec->closing = 1;
	while ((x = TAILQ_FIRST(&ec->queued)) != NULL)
		xfer_finish(x, -ECANCELED);
	while ((x = TAILQ_FIRST(&ec->xfers)) != NULL) {
		x->cancelled = 1;
		xfer_finish(x, -ECANCELED);
	}
	if (ec->multi != NULL)
		curl_multi_cleanup(ec->multi);
	while ((s = LIST_FIRST(&ec->socks)) != NULL) {
		LIST_REMOVE(s, entry);
		event_free(s->ev);
		free(s);
	}
	if (ec->timer != NULL)
		event_free(ec->timer);
	if (ec->deferred != NULL)
		event_free(ec->deferred);
	free(ec);
}

/* Sets the method and body on the easy handle. */
static int
set_method(CURL *easy, const struct evcurl_req *req)
{
	const char *m = req->method != NULL ? req->method : "GET";

	if (strcmp(m, "GET") == 0 && req->body == NULL)
		return 0;
	if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
		return 0;
	}
	if (req->body != NULL || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(req->body != NULL ? req->body_len : 0));
		curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, req->body != NULL ? req->body : "");
	}
	if (strcmp(m, "POST") != 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, m);
	return 0;
}

struct evcurl_xfer *
evcurl_start(struct evcurl *ec, const struct evcurl_req *req)
{
	struct evcurl_xfer *x;
	struct curl_slist *l;
	CURLMcode mc;

	if (req->url == NULL || req->on_done == NULL || ec->closing)
		return NULL;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	x->ec = ec;
	x->on_data = req->on_data;
	x->on_done = req->on_done;
	x->arg = req->arg;
	x->body_max = req->body_max != 0 ? req->body_max : EVCURL_BODY_MAX_DEFAULT;
	if ((x->easy = curl_easy_init()) == NULL)
		goto fail;
	for (const char *const *h = req->headers; h != NULL && *h != NULL; h++) {
		if ((l = curl_slist_append(x->hdrs, *h)) == NULL)
			goto fail;
		x->hdrs = l;
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, req->url);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	                 req->connect_timeout_ms != 0 ? req->connect_timeout_ms
	                                              : (long)EVCURL_CONNECT_TIMEOUT_MS);
	if (x->hdrs != NULL)
		curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	if (req->unix_socket != NULL)
		curl_easy_setopt(x->easy, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
	if (req->no_proxy)
		curl_easy_setopt(x->easy, CURLOPT_PROXY, "");
	if (req->aws_sigv4 != NULL)
		curl_easy_setopt(x->easy, CURLOPT_AWS_SIGV4, req->aws_sigv4);
	if (req->userpwd != NULL)
		curl_easy_setopt(x->easy, CURLOPT_USERPWD, req->userpwd);
	set_method(x->easy, req);
	if (ec->depth > 0) {
		/* Inside a curl callback: add once curl has returned. */
		TAILQ_INSERT_TAIL(&ec->queued, x, entry);
		event_active(ec->deferred, 0, 0);
		return x;
	}
	if ((mc = curl_multi_add_handle(ec->multi, x->easy)) != CURLM_OK) {
		log_warnx("evcurl_add_failed error=\"%s\"", curl_multi_strerror(mc));
		goto fail;
	}
	x->added = 1;
	TAILQ_INSERT_TAIL(&ec->xfers, x, entry);
	return x;
fail:
	xfer_free(x);
	return NULL;
}

void
evcurl_cancel(struct evcurl_xfer *x)
{
	struct evcurl *ec;

	if (x == NULL)
		return;
	ec = x->ec;
	if (ec->depth > 0) {
		/* curl is on the stack: mark it; run_deferred finishes it. */
		x->cancelled = 1;
		event_active(ec->deferred, 0, 0);
		return;
	}
	x->cancelled = 1;
	xfer_finish(x, -ECANCELED);
}

int
evcurl_header(const char *headers, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name), vlen;
	const char *p = headers, *eol, *v;

	if (outlen == 0)
		return -EINVAL;
	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vlen = (size_t)(eol - v);
			while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			if (vlen >= outlen)
				return -E2BIG;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p = *eol != '\0' ? eol + 1 : NULL;
	}
	return -ENOENT;
}
