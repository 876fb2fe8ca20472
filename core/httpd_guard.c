/*
 * httpd_guard: bounds on the connections of berth's HTTP servers, which
 * libevent 2.1's evhttp does not have: a total and a per-client cap, and a
 * deadline for a whole request (a client that trickles its headers a byte
 * at a time keeps resetting evhttp's read time-out).
 *
 * evhttp offers no accept hook, but it asks a callback for each accepted
 * connection's bufferevent (evhttp_set_bevcb). The guard makes that
 * bufferevent, holds a reference to it until the next turn of the loop,
 * when evhttp has given it its socket, and then looks at the socket: over a
 * cap, it is shut down at once (evhttp sees the end of stream and frees the
 * connection). Each admitted socket is remembered by descriptor and inode
 * (a closed descriptor that is reused has another inode), which is how the
 * guard learns, at its once-a-second sweep, which connections are gone.
 * httpd_begin() marks a connection busy while a handler answers it, so a
 * long-poll or a POST awaiting its tenant is never cut short.
 */
#include "core/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "core/clock.h"
#include "core/log.h"

#define GUARD_FRESH_MAX 256 /* connections accepted in one turn of the loop */

struct gconn {
	int fd;
	ino_t ino;
	char addr[INET6_ADDRSTRLEN];
	int busy;        /* requests being answered */
	int64_t idle_ms; /* since when it waits for a (complete) request */
};

static struct {
	struct event_base *base;
	struct event *sweep;
	struct gconn *v;
	size_t n;
	int max_total, max_client, request_ms;
	struct bufferevent *fresh[GUARD_FRESH_MAX];
	size_t nfresh;
	unsigned long refused, cut;
	int64_t warned_ms;
} G;

static int
alive(const struct gconn *c)
{
	struct stat sb;

	return fstat(c->fd, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_ino == c->ino;
}

/* The record of fd; a closed one whose descriptor was reused is not it. */
static struct gconn *
find(int fd)
{
	for (size_t i = 0; i < G.n; i++)
		if (G.v[i].fd == fd && alive(&G.v[i]))
			return &G.v[i];
	return NULL;
}

static void
warn(const char *what, const char *addr)
{
	int64_t now = clock_mono_ms();

	if (G.warned_ms != 0 && now - G.warned_ms < 10000)
		return;
	G.warned_ms = now;
	log_warnx("connections_limited last=%s addr=%s refused=%lu cut=%lu open=%zu max=%d "
	          "max_per_client=%d",
	          what, addr, G.refused, G.cut, G.n, G.max_total, G.max_client);
}

/* Drops the records of closed connections; cuts those past the request deadline. */
static void
prune(int64_t now)
{
	size_t i = 0;

	while (i < G.n) {
		struct gconn *c = &G.v[i];

		if (!alive(c)) {
			G.v[i] = G.v[--G.n];
			continue;
		}
		if (c->busy == 0 && now - c->idle_ms > G.request_ms) {
			/* No whole request in time: evhttp frees it on the end of stream. */
			shutdown(c->fd, SHUT_RDWR);
			G.cut++;
			warn("request_deadline", c->addr);
			G.v[i] = G.v[--G.n];
			continue;
		}
		i++;
	}
}

static void
admit(struct bufferevent *bev, int64_t now)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct stat sb;
	char addr[INET6_ADDRSTRLEN] = "?";
	int fd = (int)bufferevent_getfd(bev), same = 0;

	if (fd < 0 || fstat(fd, &sb) != 0)
		return;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr,
			          sizeof(addr));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
			          sizeof(addr));
	}
	for (size_t i = 0; i < G.n; i++)
		same += strcmp(G.v[i].addr, addr) == 0;
	if ((int)G.n >= G.max_total || same >= G.max_client) {
		shutdown(fd, SHUT_RDWR);
		G.refused++;
		warn((int)G.n >= G.max_total ? "max_connections" : "max_per_client", addr);
		return;
	}
	G.v[G.n] = (struct gconn){fd, sb.st_ino, "", 0, now};
	snprintf(G.v[G.n].addr, sizeof(G.v[G.n].addr), "%s", addr);
	G.n++;
}

static void
sweep(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = {1, 0};
	int64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	(void)arg;
	prune(now);
	for (size_t i = 0; i < G.nfresh; i++) {
		admit(G.fresh[i], now);
		bufferevent_decref(G.fresh[i]);
	}
	G.nfresh = 0;
	if (G.n > 0)
		evtimer_add(G.sweep, &tv);
}

static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	(void)arg;
	if (bev == NULL)
		return NULL;
	if (G.nfresh < GUARD_FRESH_MAX) {
		/* Held until the sweep has seen its socket, even if evhttp lets go first. */
		bufferevent_incref(bev);
		G.fresh[G.nfresh++] = bev;
		event_active(G.sweep, EV_TIMEOUT, 0);
	}
	return bev;
}

int
httpd_guard(struct evhttp *http, struct event_base *base, int max_total, int max_client)
{
	struct rlimit rl;

	if (G.sweep == NULL) {
		if (max_total <= 0) {
			/* What the descriptor limit leaves, less some for everything else. */
			max_total = HTTPD_CONN_MAX;
			if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
			    (rlim_t)max_total + 32 > rl.rlim_cur)
				max_total = rl.rlim_cur > 48 ? (int)rl.rlim_cur - 32 : 16;
		}
		if (max_client <= 0)
			max_client = max_total / 4 > 16 ? max_total / 4 : 16;
		if ((G.v = calloc((size_t)max_total, sizeof(*G.v))) == NULL ||
		    (G.sweep = evtimer_new(base, sweep, NULL)) == NULL) {
			free(G.v);
			G.v = NULL;
			return -ENOMEM;
		}
		G.base = base;
		G.max_total = max_total;
		G.max_client = max_client;
		G.request_ms = HTTPD_REQUEST_DEADLINE_S * 1000;
	}
	evhttp_set_bevcb(http, make_bev, NULL);
	return 0;
}

void
httpd_guard_free(void)
{
	for (size_t i = 0; i < G.nfresh; i++)
		bufferevent_decref(G.fresh[i]);
	if (G.sweep != NULL)
		event_free(G.sweep);
	free(G.v);
	memset(&G, 0, sizeof(G));
}

void
httpd_guard_deadline(int ms)
{
	G.request_ms = ms;
}

size_t
httpd_guard_open(void)
{
	prune(clock_mono_ms());
	return G.n;
}

static int
req_fd(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c != NULL ? evhttp_connection_get_bufferevent(c) : NULL;

	return bev != NULL ? (int)bufferevent_getfd(bev) : -1;
}

static void
on_complete(struct evhttp_request *req, void *arg)
{
	struct gconn *c = find(req_fd(req));

	(void)arg;
	if (c != NULL && c->busy > 0 && --c->busy == 0)
		c->idle_ms = clock_mono_ms();
}

void
httpd_guard_begin(struct evhttp_request *req)
{
	struct gconn *c;

	if (G.v == NULL || (c = find(req_fd(req))) == NULL)
		return;
	c->busy++;
	evhttp_request_set_on_complete_cb(req, on_complete, NULL);
}
