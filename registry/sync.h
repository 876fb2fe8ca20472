/*
 * sync: drains the registry's outbox into a DynamoDB table (the sync target).
 *
 * The items and their conditions are registry/item.h's.
 *
 * Writes never let an older version replace a newer one:
 *  - tenants, and a lone binding, are conditional PutItems
 *    (attribute_not_exists(userId) OR version < :v); a failed condition
 *    means the table already holds this or a newer version, and the row is
 *    acknowledged;
 *  - a backlog of bindings goes out in BatchWriteItems of 25 (no conditions
 *    there), which is safe because binding items have one writer: the one
 *    process draining this host's registry (an exclusive lock on
 *    "<db>.sync-lock" elects it; others wait) and a key's newer change is
 *    never sent before its older one finished. UnprocessedItems are sent
 *    again with backoff.
 * A failed write stays in the outbox with its error (berth sync-status shows
 * it) and the drain backs off (1 s doubling to 30 s), so an outage loses
 * nothing and a restart resumes.
 */
#ifndef BERTH_REGISTRY_SYNC_H
#define BERTH_REGISTRY_SYNC_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct registry;
struct aws;
struct aws_call;

#define SYNC_DRAIN_MAX         500  /* outbox rows per drain */
#define SYNC_INFLIGHT_MAX      8    /* DynamoDB calls in flight per drain */
#define SYNC_POLL_MS           500  /* outbox check when nothing kicks */
#define SYNC_BACKOFF_MIN_MS    1000 /* after a failed drain, doubling */
#define SYNC_BACKOFF_MAX_MS    30000
#define SYNC_UNPROCESSED_TRIES 8
#define SYNC_TOMBSTONE_TTL_S   (7 * 24 * 3600) /* a gone container's item: 7 days */

struct sync;

struct sync_options {
	int no_batch; /* conditional PutItem for every row (no BatchWriteItem) */
	int poll_ms;  /* 0 = SYNC_POLL_MS */
	int no_lock;  /* skip the single-drainer lock (tests with one process) */
	/*
	 * Seconds a STOPPED or REMOVED binding's item lives in the table after
	 * it is written (its expires_at, for DynamoDB TTL); 0 keeps it forever.
	 * Without options: SYNC_TOMBSTONE_TTL_S.
	 */
	int64_t tombstone_ttl_s;
};

struct sync_stats {
	unsigned long written;     /* rows acknowledged after a write */
	unsigned long superseded;  /* rows whose condition failed: the table had newer */
	unsigned long batches;     /* BatchWriteItem calls */
	unsigned long puts;        /* conditional PutItem calls */
	unsigned long unprocessed; /* items DynamoDB handed back unprocessed */
	unsigned long failures;    /* rows that failed an attempt */
	int64_t last_ok_ms;
	char last_error[512];
	int draining; /* a drain is in flight */
	int has_lock; /* this process is the drainer */
};

/*
 * Starts draining reg's outbox to table through aws (both borrowed). Returns
 * NULL with err filled when the table name is invalid.
 */
struct sync *sync_new(struct event_base *, struct registry *, struct aws *, const char *table,
                      const struct sync_options *, char *err, size_t errlen);
/* Cancels calls in flight (their rows stay pending) and frees. */
void sync_free(struct sync *);
/* Drains soon (after a local commit that wrote outbox rows). */
void sync_kick(struct sync *);
/* 1 when no drain is in flight and the last drain found the outbox empty. */
int sync_idle(const struct sync *);
void sync_get_stats(const struct sync *, struct sync_stats *);
/* Runs the loop until idle or deadline_ms passes (shutdown); returns sync_idle(). */
int sync_flush(struct sync *, long deadline_ms);

/* Pushes what it can for up to SYNC_STOP_FLUSH_MS (shutdown), then frees; NULL is a no-op. */
#define SYNC_STOP_FLUSH_MS 5000
void sync_stop(struct sync *);

#endif
