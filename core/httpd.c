/* httpd: the helpers berth's evhttp servers share: binding, bodies, queries, JSON answers. */
#include "core/httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "core/clock.h"
#include "core/log.h"

#define HTTPD_LISTEN_MAX 300 /* "[v6 address]:port" */
#define HTTPD_SHED_MAX   64  /* connections shed per accept error */
#define HTTPD_WARN_MS    10000

/*
 * Out of descriptors (EMFILE, ENFILE), accept() fails while the connection
 * stays queued, so the listener is woken again at once: a busy loop that
 * also logs each failure. One descriptor is kept in reserve: on such an
 * error it is let go, the queued connections are accepted and closed at
 * once (the client sees a reset instead of a hang), and the reserve is taken
 * back. The warning is logged once per HTTPD_WARN_MS with what was shed.
 */
static int httpd_reserve_fd = -1;
static int64_t httpd_warned_ms;
static unsigned long httpd_shed, httpd_errors, httpd_errors_total;

unsigned long
httpd_accept_errors(void)
{
	return httpd_errors_total;
}

static void
httpd_accept_error(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR(), fd;
	int64_t now = clock_mono_ms();

	(void)arg;
	httpd_errors++;
	httpd_errors_total++;
	if ((err == EMFILE || err == ENFILE) && httpd_reserve_fd >= 0) {
		close(httpd_reserve_fd);
		httpd_reserve_fd = -1;
		for (int i = 0; i < HTTPD_SHED_MAX; i++) {
			fd = accept4(evconnlistener_get_fd(lev), NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				break;
			close(fd);
			httpd_shed++;
		}
		httpd_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (httpd_warned_ms == 0 || now - httpd_warned_ms >= HTTPD_WARN_MS) {
		log_warnx("accept_failed error=\"%s\" errors=%lu shed=%lu", strerror(err),
		          httpd_errors, httpd_shed);
		httpd_warned_ms = now;
		httpd_errors = httpd_shed = 0;
	}
}

/*
 * Splits "ADDR:PORT", "[V6]:PORT" or ":PORT" (any IPv4 address) into host and
 * port. The port must be a decimal 0..65535 (0 lets the kernel choose).
 */
static int
listen_split(const char *listen, char *host, size_t hostlen, unsigned short *port, char *err,
             size_t errlen)
{
	const char *colon, *p;
	char *end;
	size_t len;
	long v;

	if (listen == NULL || *listen == '\0' || strlen(listen) >= HTTPD_LISTEN_MAX) {
		snprintf(err, errlen, "listen address is empty or too long");
		return -EINVAL;
	}
	if (listen[0] == '[') {
		if ((p = strchr(listen, ']')) == NULL || p[1] != ':') {
			snprintf(err, errlen, "bad listen address \"%s\" (want [ADDR]:PORT)",
			         listen);
			return -EINVAL;
		}
		len = (size_t)(p - listen - 1);
		if (len == 0 || len >= hostlen) {
			snprintf(err, errlen, "bad listen address \"%s\"", listen);
			return -EINVAL;
		}
		memcpy(host, listen + 1, len);
		host[len] = '\0';
		colon = p + 1;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL || strchr(listen, ':') != colon) {
			snprintf(err, errlen, "bad listen address \"%s\" (want ADDR:PORT)", listen);
			return -EINVAL;
		}
		len = (size_t)(colon - listen);
		if (len >= hostlen) {
			snprintf(err, errlen, "bad listen address \"%s\"", listen);
			return -EINVAL;
		}
		if (len == 0) {
			snprintf(host, hostlen, "0.0.0.0");
		} else {
			memcpy(host, listen, len);
			host[len] = '\0';
		}
	}
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 65535) {
		snprintf(err, errlen, "bad port in listen address \"%s\"", listen);
		return -EINVAL;
	}
	*port = (unsigned short)v;
	return 0;
}

int
httpd_bind(struct evhttp *http, const char *listen, char *err, size_t errlen)
{
	char host[HTTPD_LISTEN_MAX];
	unsigned short port;
	int rc;

	struct evhttp_bound_socket *bs;

	if ((rc = listen_split(listen, host, sizeof(host), &port, err, errlen)) != 0)
		return rc;
	if ((bs = evhttp_bind_socket_with_handle(http, host, port)) == NULL) {
		rc = errno != 0 ? -errno : -EADDRNOTAVAIL;
		snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(-rc));
		return rc;
	}
	if (httpd_reserve_fd < 0)
		httpd_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bs), httpd_accept_error);
	return 0;
}

void
httpd_json(struct evhttp_request *req, int status, json_t *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();
	char *text = NULL;

	if (body != NULL)
		text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (buf == NULL || (body != NULL && text == NULL)) {
		/* Out of memory: one request pays. */
		evbuffer_free(buf);
		free(text);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (text != NULL) {
		evbuffer_add(buf, text, strlen(text));
		evbuffer_add(buf, "\n", 1);
		free(text);
	}
	evhttp_remove_header(h, "Content-Type");
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	httpd_send(req, status, buf);
	evbuffer_free(buf);
}

/*
 * evhttp leaves Content-Length out of the answer to a HEAD but still sends
 * the body after the headers, where a keep-alive client reads it as the start
 * of the next answer. A HEAD gets the headers of the GET, body dropped.
 */
void
httpd_send(struct evhttp_request *req, int status, struct evbuffer *body)
{
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD && body != NULL) {
		char len[32];

		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_remove_header(evhttp_request_get_output_headers(req), "Content-Length");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	evhttp_send_reply(req, status, NULL, body);
}

/* Content-Length values: digits only, and two of them must agree (RFC 9112 6.3). */
int
httpd_framing_ok(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	const char *first = NULL;
	int bad = 0;

	httpd_guard_begin(req);
	TAILQ_FOREACH(kv, h, next)
	{
		if (strcasecmp(kv->key, "Content-Length") != 0)
			continue;
		if (kv->value[0] == '\0' || strspn(kv->value, "0123456789") != strlen(kv->value) ||
		    (first != NULL && strcmp(first, kv->value) != 0))
			bad = 1;
		first = kv->value;
	}
	if (!bad)
		return 1;
	/* Where this request ends is not known: answer, and close the connection. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	httpd_error(req, 400, "bad_request", "the Content-Length is malformed or ambiguous", NULL);
	return 0;
}

void
httpd_error(struct evhttp_request *req, int status, const char *code, const char *msg,
            const char *field)
{
	json_t *e = json_pack("{s:s, s:s}", "code", code != NULL ? code : "error", "message",
	                      msg != NULL ? msg : "");

	if (e != NULL && field != NULL)
		json_object_set_new(e, "field", json_string(field));
	httpd_json(req, status, e != NULL ? json_pack("{s:o}", "error", e) : NULL);
}

int
httpd_body(struct evhttp_request *req, size_t cap, char **out, size_t *outlen)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = in != NULL ? evbuffer_get_length(in) : 0;
	char *p;

	*out = NULL;
	*outlen = 0;
	if (len > cap)
		return -E2BIG;
	if ((p = malloc(len + 1)) == NULL)
		return -ENOMEM;
	if (len > 0 && evbuffer_copyout(in, p, len) != (ev_ssize_t)len) {
		free(p);
		return -EIO;
	}
	p[len] = '\0';
	*out = p;
	*outlen = len;
	return 0;
}

/*
 * Compares in time that depends only on the length of want (the secret), not
 * on where the first difference lies or on the length of got.
 */
static int
ct_equal(const char *got, size_t glen, const char *want, size_t wlen)
{
	unsigned char diff = (unsigned char)(glen != wlen);

	for (size_t i = 0; i < wlen; i++)
		diff |= (unsigned char)((i < glen ? (unsigned char)got[i] : 0) ^
		                        (unsigned char)want[i]);
	return diff == 0;
}

/* A NULL or empty token never matches: callers decide whether auth is on. */
int
httpd_bearer_ok(struct evhttp_request *req, const char *token)
{
	const char *v;

	if (token == NULL || *token == '\0')
		return 0;
	v = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return 0;
	v += 7;
	while (*v == ' ')
		v++;
	return ct_equal(v, strlen(v), token, strlen(token));
}

static int
ip_loopback(const char *ip)
{
	return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
	       strncmp(ip, "::ffff:127.", 11) == 0 || strcmp(ip, "localhost") == 0;
}

int
httpd_peer_loopback(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	const char *ip = NULL;
	ev_uint16_t port = 0;

	if (c == NULL)
		return 0;
	evhttp_connection_get_peer(c, (char **)&ip, &port);
	return ip != NULL && ip_loopback(ip);
}

int
httpd_addr_loopback(const char *addr_port)
{
	char host[64];
	const char *colon = strrchr(addr_port, ':');
	size_t n = colon != NULL ? (size_t)(colon - addr_port) : strlen(addr_port);

	if (n >= sizeof(host))
		return 0;
	memcpy(host, addr_port, n);
	host[n] = '\0';
	if (host[0] == '[' && n > 1 && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	return ip_loopback(host);
}

/* -ENOENT when absent, -EINVAL when the query does not parse, -E2BIG when out is too small. */
int
httpd_query(struct evhttp_request *req, const char *name, char *out, size_t outlen)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq q;
	const char *query, *v;
	int rc = -ENOENT;

	if (outlen > 0)
		out[0] = '\0';
	if (uri == NULL || (query = evhttp_uri_get_query(uri)) == NULL)
		return -ENOENT;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(query, &q) != 0) {
		evhttp_clear_headers(&q);
		return -EINVAL;
	}
	if ((v = evhttp_find_header(&q, name)) != NULL) {
		if (strlen(v) >= outlen) {
			rc = -E2BIG;
		} else {
			memcpy(out, v, strlen(v) + 1);
			rc = 0;
		}
	}
	evhttp_clear_headers(&q);
	return rc;
}
