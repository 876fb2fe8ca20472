/*
 * probe: the readiness check of a tenant's host port (see probe.h). One
 * non-blocking socket per attempt, driven by one event: EV_WRITE until the
 * connect completes, then EV_READ for the status line, each with the
 * attempt's time-out; any failure closes the socket and schedules the next
 * attempt.
 */
#include "launcher/probe.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"

struct probe {
	struct event_base *base;
	struct sockaddr_storage ss;
	socklen_t sl;
	enum probe_kind kind;
	char host[PROBE_HOST_MAX];
	probe_ready_cb cb;
	void *arg;

	struct event *ev; /* the attempt's I/O event, or the gap's timer */
	int fd;
	int sent;                  /* the HEAD request is written */
	char line[PROBE_LINE_MAX]; /* the answer so far */
	size_t nline;
	int attempts;
	int done;
};

static void attempt(evutil_socket_t, short, void *);

int
probe_is_self(int fd)
{
	struct sockaddr_storage a, b;
	socklen_t al = sizeof(a), bl = sizeof(b);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (getsockname(fd, (struct sockaddr *)&a, &al) != 0 ||
	    getpeername(fd, (struct sockaddr *)&b, &bl) != 0)
		return 0;
	if (al != bl || a.ss_family != b.ss_family)
		return 0;
	if (a.ss_family == AF_INET) {
		const struct sockaddr_in *x = (void *)&a, *y = (void *)&b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (void *)&a, *y = (void *)&b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

int
probe_status_line(const char *buf, size_t n)
{
	static const char want[] = "HTTP/d.d ddd";
	size_t i;

	for (i = 0; i < n && i < sizeof(want) - 1; i++) {
		char w = want[i], c = buf[i];

		if (w == 'd' ? !isdigit((unsigned char)c) : c != w)
			return -1;
	}
	return i == sizeof(want) - 1 ? 1 : 0;
}

static void
close_attempt(struct probe *p)
{
	if (p->ev != NULL) {
		event_free(p->ev);
		p->ev = NULL;
	}
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	p->sent = 0;
	p->nline = 0;
}

/* Closes the attempt and arms the gap before the next one. */
static void
retry(struct probe *p)
{
	/*
	 * 5, 10, then every 20 ms: an application a moment from listening is
	 * not kept waiting, and one that takes long costs 50 attempts a second.
	 */
	long gap = PROBE_FIRST_MS << (p->attempts < 4 ? p->attempts : 4);
	struct timeval tv = {0, (gap < PROBE_GAP_MS ? gap : PROBE_GAP_MS) * 1000};

	close_attempt(p);
	if ((p->ev = evtimer_new(p->base, attempt, p)) == NULL) {
		log_warnx("probe_retry error=\"out of memory\"");
		return; /* the provision's deadline ends it */
	}
	evtimer_add(p->ev, &tv);
}

static void
ready(struct probe *p)
{
	close_attempt(p);
	p->done = 1;
	p->cb(p->arg);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	struct timeval tv = {PROBE_ATTEMPT_MS / 1000, (PROBE_ATTEMPT_MS % 1000) * 1000};
	char req[PROBE_HOST_MAX + 128];
	int soerr = 0, n;
	socklen_t sl = sizeof(soerr);
	ssize_t got;

	if (what & EV_TIMEOUT) {
		retry(p);
		return;
	}
	if (!p->sent) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0 ||
		    probe_is_self(fd)) {
			retry(p);
			return;
		}
		if (p->kind == PROBE_TCP) {
			ready(p);
			return;
		}
		n = snprintf(req, sizeof(req),
		             "HEAD / HTTP/1.0\r\nHost: %s\r\nUser-Agent: berth-launcher\r\n\r\n",
		             p->host);
		if (n < 0 || (size_t)n >= sizeof(req) ||
		    send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
			retry(p);
			return;
		}
		p->sent = 1;
		event_free(p->ev);
		if ((p->ev = event_new(p->base, fd, EV_READ | EV_PERSIST, on_io, p)) == NULL) {
			retry(p);
			return;
		}
		event_add(p->ev, &tv);
		return;
	}
	got = recv(fd, p->line + p->nline, sizeof(p->line) - p->nline, 0);
	if (got <= 0) {
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		retry(p);
		return;
	}
	p->nline += (size_t)got;
	switch (probe_status_line(p->line, p->nline)) {
	case 1:
		ready(p);
		return;
	case 0:
		return; /* more to come, within the attempt's time-out */
	default:
		retry(p);
		return;
	}
}

static void
attempt(evutil_socket_t unused, short what, void *arg)
{
	struct probe *p = arg;
	struct timeval tv = {PROBE_ATTEMPT_MS / 1000, (PROBE_ATTEMPT_MS % 1000) * 1000};

	(void)unused;
	(void)what;
	close_attempt(p);
	p->attempts++;
	p->fd = socket(p->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		log_warn("probe_socket");
		retry(p);
		return;
	}
	if (connect(p->fd, (struct sockaddr *)&p->ss, p->sl) != 0 && errno != EINPROGRESS) {
		retry(p);
		return;
	}
	if ((p->ev = event_new(p->base, p->fd, EV_WRITE, on_io, p)) == NULL) {
		retry(p);
		return;
	}
	event_add(p->ev, &tv);
}

struct probe *
probe_new(struct event_base *base, const char *ip, int port, enum probe_kind kind, const char *host,
          probe_ready_cb cb, void *arg, int *error)
{
	struct probe *p;
	struct sockaddr_in *s4;
	struct sockaddr_in6 *s6;
	struct timeval now = {0, 0};

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		*error = -ENOMEM;
		return NULL;
	}
	s4 = (struct sockaddr_in *)&p->ss;
	s6 = (struct sockaddr_in6 *)&p->ss;
	if (port <= 0 || port > 65535) {
		free(p);
		*error = -EINVAL;
		return NULL;
	}
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		p->sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		p->sl = sizeof(*s6);
	} else {
		free(p);
		*error = -EINVAL;
		return NULL;
	}
	p->base = base;
	p->kind = kind;
	p->fd = -1;
	p->cb = cb;
	p->arg = arg;
	snprintf(p->host, sizeof(p->host), "%s",
	         host != NULL && *host != '\0' ? host : "localhost");
	if ((p->ev = evtimer_new(base, attempt, p)) == NULL) {
		free(p);
		*error = -ENOMEM;
		return NULL;
	}
	evtimer_add(p->ev, &now);
	*error = 0;
	return p;
}

void
probe_free(struct probe *p)
{
	if (p == NULL)
		return;
	close_attempt(p);
	free(p);
}

int
probe_attempts(const struct probe *p)
{
	return p->attempts;
}
