/* Helpers shared by the sidecar tests: a fake Docker Engine. */
#ifndef BERTH_TESTS_SIDECAR_TESTUTIL_H
#define BERTH_TESTS_SIDECAR_TESTUTIL_H

#include <stddef.h>

struct docker;
struct evcurl;
struct event_base;
struct fake_docker;
struct registry;
struct tracker;

/*
 * The sidecar's core under test: a private directory holding the fake
 * Docker Engine's socket and a fresh registry file, a Docker client on that
 * socket and a tracker (reconcile hourly, so only the test drives it) with
 * host IP host_ip. tu_stack_open fails the test when a piece cannot be made;
 * tu_stack_close frees them all and removes the directory.
 */
struct tu_stack {
	struct event_base *base;
	struct evcurl *ec;
	struct docker *docker;
	struct registry *reg;
	struct tracker *t;
	struct metrics *m; /* the tracker's figures */
	struct fake_docker *fake;
	char dir[256], sock[300], db[300];
};

void tu_stack_open(struct tu_stack *, const char *tag, const char *host_ip);
void tu_stack_close(struct tu_stack *);
/* Runs the loop until the tracker is connected to the fake (at most 10 s); fails the test if not.
 */
void tu_wait_connected(struct tu_stack *);
/* Runs base for about ms milliseconds. */
void tu_spin(struct event_base *, int ms);
/* Runs base until cond holds, at most 5 s (slow sanitizer runs). */
#define TU_UNTIL(base, cond)                                                                       \
	do {                                                                                       \
		for (int tu_until_i = 0; tu_until_i < 500 && !(cond); tu_until_i++)                \
			tu_spin(base, 10);                                                         \
	} while (0)

/*
 * A fake Docker Engine on a Unix socket, served by evhttp on base.
 * Containers are added with fake_docker_put (an inspect body, owned by the
 * fake after the call). /events sends the lines queued with
 * fake_docker_event and keeps the stream open until fake_docker_close_events.
 */
struct fake_docker *fake_docker_new(struct event_base *, const char *sock_path);
void fake_docker_free(struct fake_docker *);
void fake_docker_put(struct fake_docker *, const char *id, char *inspect_json);
void fake_docker_del(struct fake_docker *, const char *id);
/* Sends one event line (without newline) on every open /events stream; with none open, keeps it for
 * the next. */
void fake_docker_event(struct fake_docker *, const char *line);
void fake_docker_close_events(struct fake_docker *);
unsigned long fake_docker_inspects(const struct fake_docker *);

#endif
