/*
 * await: learns a started task's binding (host IP and port of
 * --container-port) and watches the task until its provision ends.
 *
 * Each source of the binding sits behind the same two callbacks:
 *  - the registry the sidecar on this host writes, checked every
 *    LAUNCHER_REG_POLL_MS through the cheap registry_changed() (one timer for
 *    every await);
 *  - the sidecar's long-poll route, GET /v1/bindings/{task}?wait= (--sidecar-url);
 *  - the same route of the sidecar on the host the task was placed on, when
 *    that is another host whose item (launcher/hosts.c) says it is UP; one
 *    that fails or answers junk is dropped for this await (the others go on);
 *  - the backend's describe, every --describe-interval, the slow fallback.
 * found() runs once, for whichever answers first; stopped() when the task
 * stops (the backend says so, asked at once when the registry shows its
 * binding stopped), before or after found().
 */
#ifndef BERTH_LAUNCHER_AWAIT_H
#define BERTH_LAUNCHER_AWAIT_H

#include <stdint.h>

#include "launcher/launcher.h"

struct await;

struct await_found {
	enum bind_source source;
	const char *host_ip; /* "" when the source does not know it */
	int host_port;
};

typedef void (*await_found_cb)(const struct await_found *, void *arg);
/* reason: the backend's, e.g. "the container is exited (exit code 1)". */
typedef void (*await_stopped_cb)(const char *reason, void *arg);

/*
 * Starts awaiting task (a task ARN or container ID), placed on host (the
 * container instance ARN, or "" when unknown), for tenant (for the log).
 * The sidecar's long-poll asks for no longer than deadline_us (monotonic).
 * The callbacks never run from within this call: await_lookup() next. NULL
 * when out of memory.
 */
struct await *await_start(struct launcher *, const char *task, const char *host, const char *tenant,
                          int64_t deadline_us, await_found_cb, await_stopped_cb, void *arg);
/*
 * Looks in the registry now (the sidecar may have recorded the binding before
 * the start answered, and registry_changed() only tells of later commits).
 * The callbacks may run from within.
 */
void await_lookup(struct await *);
/* Stops and frees; the callbacks never run after this. NULL is fine. */
void await_free(struct await *);
/* The registry check timer of l (armed while any await runs). */
void await_registry_tick(int fd, short what, void *launcher);

#endif
