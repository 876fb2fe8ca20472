/*
 * tracker: follows Docker (events + inspect) and keeps the registry's
 * bindings equal to the ports Docker published.
 *
 * Reading the event stream never waits: an event only updates the in-memory
 * container table, starts an inspect (asynchronous, capped in flight) or
 * queues a registry write. Queued writes are committed in one transaction
 * per loop turn. At start and after every reconnect (with backoff, replaying
 * with since=) the tracker lists the containers and reconciles in full.
 */
#ifndef BERTH_SIDECAR_TRACKER_H
#define BERTH_SIDECAR_TRACKER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct docker;
struct registry;
struct tracker;
struct agent_task;
struct metrics;

struct tracker_conf {
	const char *label_filter; /* "K" or "K=V", or NULL */
	int reconcile_interval;   /* seconds between periodic Docker reconciles; 0 = never */
	struct metrics *metrics;  /* gets the tracker's figures; NULL: none kept */
};

/* Runs after each committed batch that changed rows (long-poll waiters, sync kick). */
typedef void (*tracker_commit_cb)(void *arg);

/* All borrowed; they outlive the tracker. */
struct tracker *tracker_new(struct event_base *, struct docker *, struct registry *,
                            const struct tracker_conf *);
/* Commits what is queued and frees. */
void tracker_free(struct tracker *);
void tracker_on_commit(struct tracker *, tracker_commit_cb, void *arg);
/* The address written as host_ip for wildcard bindings. */
void tracker_set_host_ip(struct tracker *, const char *ip);
/* Cluster short name for containers without the cluster label (from the agent). */
void tracker_set_cluster(struct tracker *, const char *cluster);
/* Pings Docker, follows events, reconciles. */
void tracker_start(struct tracker *);
/* 1 while the event stream is connected and the last reconcile listed Docker. */
int tracker_connected(const struct tracker *);
/* How long registry commits have been failing (ms; they are retried), 0 while they land. */
int64_t tracker_write_failing_ms(const struct tracker *);
const char *tracker_docker_state(const struct tracker *); /* a word for /healthz */
int64_t tracker_last_event_ns(const struct tracker *);
/* Commits the queued writes now (shutdown). */
void tracker_flush(struct tracker *);

/*
 * Second source: the ECS agent's view. Any container the agent lists whose
 * registry rows disagree (RUNNING with no running binding, STOPPED with a
 * running one) is inspected again; Docker's answer is written.
 */
void tracker_agent_tasks(struct tracker *, const struct agent_task *tasks, size_t n);

#endif
