/*
 * probe: is a tenant's host port serving? Connects to ADDR:PORT on the loop
 * until it is, then calls back once.
 *
 * "Serving" means, for PROBE_HTTP, that a HEAD / request got a real HTTP
 * status line back ("HTTP/1.x NNN"): Docker's userland proxy accepts on the
 * host port before the application listens, and a socket that the kernel
 * connected to itself (TCP simultaneous open, when the local port it picked
 * equals the destination and nothing listens there) reads back its own
 * request. For PROBE_TCP it means a connected socket whose peer is not the
 * probe itself. Attempts are spaced 5, 10, then every 20 ms; each waits
 * PROBE_ATTEMPT_MS at most.
 */
#ifndef BERTH_LAUNCHER_PROBE_H
#define BERTH_LAUNCHER_PROBE_H

#include <stddef.h>

struct event_base;
struct probe;

#define PROBE_ATTEMPT_MS 1000 /* one attempt at most */
#define PROBE_GAP_MS     20   /* between attempts, at most */
#define PROBE_FIRST_MS   5    /* the first gap; doubled up to the above */
#define PROBE_HOST_MAX   300  /* the Host header's value */
#define PROBE_LINE_MAX   64   /* bytes of the answer read for its status line */

enum probe_kind { PROBE_TCP, PROBE_HTTP };

/* Called once, when the port serves; the probe is then idle (free it). */
typedef void (*probe_ready_cb)(void *arg);

/*
 * Starts probing ip:port (numeric IPv4 or IPv6; NULL with -EINVAL when it is
 * not). host is the Host header's value (copied; may be NULL). The first
 * attempt runs from the loop, never from within this call.
 */
struct probe *probe_new(struct event_base *, const char *ip, int port, enum probe_kind,
                        const char *host, probe_ready_cb, void *arg, int *error);
/* Stops probing and frees; NULL is fine. The callback never runs after this. */
void probe_free(struct probe *);
/* Attempts made so far. */
int probe_attempts(const struct probe *);

/* 1 when connected socket fd's local and peer addresses are the same (a self-connect). */
int probe_is_self(int fd);
/*
 * Judges the first n bytes of an answer: 1 a real status line
 * ("HTTP/d.d ddd"), 0 too short to tell yet, -1 not HTTP.
 */
int probe_status_line(const char *buf, size_t n);

#endif
