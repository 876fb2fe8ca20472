/* Helpers shared by the sidecar tests: a fake Docker Engine. */
#ifndef BERTH_TESTS_SIDECAR_TESTUTIL_H
#define BERTH_TESTS_SIDECAR_TESTUTIL_H

#include <stddef.h>

struct event_base;
struct fake_docker;

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
