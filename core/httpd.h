/*
 * httpd: small helpers over libevent's evhttp for berth's HTTP APIs: bind an
 * ADDR:PORT, JSON replies, the error shape {"error":{"code","message"}},
 * request bodies read under a cap, bearer auth (constant-time), query values.
 */
#ifndef BERTH_HTTPD_H
#define BERTH_HTTPD_H

#include <stddef.h>

#include <jansson.h>

struct evhttp;
struct evhttp_request;
struct event_base;

#define HTTPD_BODY_MAX (16 * 1024) /* default request body cap */
/* Seconds a client may take between bytes of its request, or stay idle between requests. */
#define HTTPD_IO_TIMEOUT_S 10
/* Seconds a connection may take to send a whole request (httpd_guard), however it trickles. */
#define HTTPD_REQUEST_DEADLINE_S 30
#define HTTPD_CONN_MAX           4096 /* connections at once, at most (httpd_guard) */
/* evhttp_set_allowed_methods: all of them, so the handler answers 405 itself (JSON). */
#define HTTPD_ALL_METHODS                                                                          \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | \
	 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

/*
 * Binds "ADDR:PORT" ("[::1]:80" for IPv6) on http. 0 or negative with err.
 * Out of descriptors, the listener sheds queued connections instead of
 * spinning, and says so at most once per 10 s (see httpd.c).
 */
int httpd_bind(struct evhttp *, const char *listen, char *err, size_t errlen);
/* Accept errors seen since the process started (the listener's health). */
unsigned long httpd_accept_errors(void);
/* Sends status with body (stolen) as application/json. */
void httpd_json(struct evhttp_request *, int status, json_t *body);
/* Sends {"error":{"code":code,"message":msg[,"field":field]}}; field may be NULL. */
void httpd_error(struct evhttp_request *, int status, const char *code, const char *msg,
                 const char *field);
/* Sends status with body (borrowed; may be NULL); a HEAD gets the headers alone. */
struct evbuffer;
void httpd_send(struct evhttp_request *, int status, struct evbuffer *body);
/*
 * 1 when the request's framing is sound (Content-Length digits only, copies
 * equal); else answers 400, closes the connection and returns 0. Every
 * handler asks it first.
 */
int httpd_framing_ok(struct evhttp_request *);
/*
 * httpd_guard (httpd_guard.c): caps http's connections: max_total at once (0:
 * HTTPD_CONN_MAX, less when the descriptor limit is lower), max_client from
 * one address (0: a quarter of that, at least 16); a connection over a cap,
 * or one that has not sent a whole request HTTPD_REQUEST_DEADLINE_S after
 * it opened or its last answer, is shut down. One set of caps per process
 * (the first call's); base is the loop. 0 or -ENOMEM.
 */
int httpd_guard(struct evhttp *, struct event_base *, int max_total, int max_client);
void httpd_guard_free(void);
/* Sets the whole-request deadline (ms), for tests. */
void httpd_guard_deadline(int ms);
/* Connections the guard knows open now. */
size_t httpd_guard_open(void);
/* Marks req's connection busy until its answer is sent (httpd_framing_ok calls it). */
void httpd_guard_begin(struct evhttp_request *);
/* Copies the request body into a NUL-terminated malloc'd buffer; -E2BIG over cap. */
int httpd_body(struct evhttp_request *, size_t cap, char **out, size_t *outlen);
/* 1 when "Authorization: Bearer <token>" matches (constant time), else 0. */
int httpd_bearer_ok(struct evhttp_request *, const char *token);
/* 1 when the request came from a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
int httpd_peer_loopback(struct evhttp_request *);
/* 1 when an ADDR:PORT (--listen) names a loopback address. */
int httpd_addr_loopback(const char *addr_port);
/* Copies query parameter name of the request URI into out; -ENOENT if absent. */
int httpd_query(struct evhttp_request *, const char *name, char *out, size_t outlen);

#endif
