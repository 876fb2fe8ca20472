/*
 * tracker_int: what the tracker's three files share (sidecar/tracker.c: the
 * container table, inspects and the Docker event stream; sidecar/commit.c:
 * the registry write queue; sidecar/reconcile.c: reconciles against Docker's
 * list and the ECS agent's). Nothing outside those files includes this.
 */
#ifndef BERTH_SIDECAR_TRACKER_INT_H
#define BERTH_SIDECAR_TRACKER_INT_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "core/backoff.h"
#include "core/docker.h"
#include "core/metrics.h"
#include "registry/registry.h"
#include "sidecar/tracker.h"

#define CTR_BUCKETS        4096
#define INSPECT_INFLIGHT   16
#define BACKOFF_MIN_MS     250
#define BACKOFF_MAX_MS     5000
#define REGISTRY_RETRY_MS  100
#define REGISTRY_WARN_MS   10000 /* a failing commit is logged once per this */
#define RECONCILE_RETRY_MS 1000
#define INTERNAL_PREFIX    "~internal~" /* the agent's pause containers */
#define TENANT_ENV         "BERTH_TENANT"

/* What the events said about one container. */
struct ctr {
	struct ctr *next;
	char id[DOCKER_ID_MAX];
	uint64_t last_seq;  /* of the newest event for it */
	uint64_t start_seq; /* of the newest start */
	int dead, has_exit, exit_code;
	unsigned gen;        /* reconcile generation that last listed it */
	struct ireq *queued; /* its inspect waiting to be sent, if any */
};

enum reason { R_CREATE, R_START, R_RECONCILE, R_AGENT };

struct ireq {
	TAILQ_ENTRY(ireq) entry;
	struct tracker *t;
	struct evcurl_xfer *x;
	char id[DOCKER_ID_MAX];
	enum reason reason;
	uint64_t seq;
	int64_t event_ns; /* Docker's timeNano of the event */
	int64_t read_ns;  /* when we read that event */
};
TAILQ_HEAD(ireq_list, ireq);

enum op_kind { OP_UPSERT, OP_STOPPED, OP_REMOVED };

struct op {
	TAILQ_ENTRY(op) entry;
	enum op_kind kind;
	struct binding *b; /* OP_UPSERT only: a binding is ~1.7 KiB, stops and removals are many */
	char id[DOCKER_ID_MAX];
	int has_exit, exit_code;
	int64_t when_ms;
	int64_t event_ns;     /* Docker timeNano behind this write; 0 if none */
	int64_t read_ns;      /* when the event was read (debug log) */
	int64_t inspected_ns; /* when Docker answered the inspect (debug log) */
	int reconcile;        /* a reconcile found this difference */
	int changed;          /* rows this op changed, once applied */
};
TAILQ_HEAD(op_list, op);

/* One registry row, as a reconcile compares it. */
struct row {
	char id[REG_ID_MAX];
	int port;
	char proto[REG_PROTO_MAX];
	int host_port;
	int status;
};

/* The tracker's figures (core/metrics), registered by tracker_new. */
enum event_kind { EK_CREATE, EK_START, EK_DIE, EK_DESTROY, EK_OTHER, EK__N };
struct tracker_metrics {
	struct metric *events[EK__N], *dropped, *reconnects, *reconciles, *fixed;
	struct metric *inspects, *inspect_errors, *commits, *commit_errors, *event_to_commit;
};

struct tracker {
	struct event_base *base;
	struct docker *docker;
	struct registry *reg;
	char label_filter[512];
	int interval;
	char host_ip[REG_IP_MAX];
	char cluster[REG_NAME_MAX];
	tracker_commit_cb commit_cb;
	void *commit_arg;

	struct ctr *ctrs[CTR_BUCKETS];
	uint64_t seq;
	unsigned gen;

	struct ireq_list waiting, inflight;
	int ninflight;
	struct op_list ops;
	struct event *flush_ev, *retry_ev;
	int64_t fail_since_ms, fail_logged_ms; /* commits failing since (0: they land) */
	unsigned long fail_tries;

	struct docker_events *stream;
	struct evcurl_xfer *ping, *list;
	struct event *connect_ev, *reconcile_ev;
	int stream_up, reconciled, reconcile_again, ever_connected;
	struct backoff backoff; /* reconnecting to Docker */
	uint64_t list_seq;
	int64_t last_ns;
	const char *state;
	int closing;
	struct tracker_metrics m;
	uint64_t dropped_seen; /* Docker's dropped event lines already counted */
};

/* tracker.c: the container table */
struct ctr *ctr_get(struct tracker *, const char *id, int create);
void ctr_free(struct tracker *, struct ctr *);
void ctr_del(struct tracker *, const char *id);
/* tracker.c: inspects, at most INSPECT_INFLIGHT at a time */
int internal(const struct docker_container *);
int running(const char *state);
void tracker_inspect(struct tracker *, const char *id, enum reason, uint64_t seq, int64_t event_ns);
/* tracker.c: the event stream */
void schedule_connect(struct tracker *);
void connect_docker(struct tracker *);
void connect_event(evutil_socket_t, short, void *);

/* commit.c: queues one registry write (committed with the others next loop turn) */
struct op *commit_op(struct tracker *, enum op_kind, const char *id);
void commit_later(struct tracker *);
/* Commits what is queued in one transaction; a failure retries after REGISTRY_RETRY_MS. */
void commit_flush(struct tracker *);
void commit_event(evutil_socket_t, short, void *);

/* reconcile.c */
void reconcile_start(struct tracker *);
void reconcile_event(evutil_socket_t, short, void *);

#endif
