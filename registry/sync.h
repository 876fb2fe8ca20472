/*
 * sync: drains the registry's outbox into a DynamoDB table (the sync target),
 * and reserves tenant subdomains there.
 *
 * Items (the DynamoDB attribute names are a wire contract: bump
 * SYNC_ITEM_VERSION when they change): every item has the partition key
 * userId (S), kind ("tenant" or "binding"), version (N) and the fields of
 * the row's JSON (DESIGN.md shape, snake_case; empty strings and nulls left
 * out); a binding of a gone container also expires_at (N, epoch seconds),
 * the table's TTL attribute. A tenant's userId is its subdomain; a binding's is
 * "binding#<task_arn>#<container>#<port>/<proto>". The old system's
 * SYSTEM_CONFIG item (lastAssignedPort) shares the table.
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

#include <jansson.h>

struct event_base;
struct registry;
struct aws;
struct aws_call;
struct outbox_row;
struct tenant;

#define SYNC_ITEM_VERSION      1
#define SYNC_KEY_ATTR          "userId"
#define SYNC_BINDING_PREFIX    "binding#"
#define SYNC_SYSTEM_CONFIG_KEY "SYSTEM_CONFIG"
#define SYNC_DRAIN_MAX         500 /* outbox rows per drain */
#define SYNC_INFLIGHT_MAX      8   /* DynamoDB calls in flight per drain */
#define SYNC_POLL_MS           500 /* outbox check when nothing kicks */
#define SYNC_BACKOFF_MAX_MS    30000
#define SYNC_UNPROCESSED_TRIES 8
#define SYNC_TTL_ATTR          "expires_at"    /* DynamoDB TTL attribute: epoch seconds */
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

/*
 * A sync with its own AWS client, for daemons (the sidecar's and launcher's
 * --dynamodb-table hooks): start returns the handle or NULL with err filled;
 * kick drains soon; stop pushes what it can for up to SYNC_STOP_FLUSH_MS,
 * then frees. evcurl and reg are borrowed.
 */
#define SYNC_STOP_FLUSH_MS 5000
struct evcurl;
void *sync_service_start(struct event_base *, struct evcurl *, struct registry *, const char *table,
                         const struct sync_options *, char *err, size_t errlen);
void sync_service_kick(void *);
void sync_service_stop(void *);

/*
 * The DynamoDB item for an outbox row (new reference), or NULL with err
 * filled when the row's body is not a JSON object. A binding that is
 * STOPPED or REMOVED gets expires_at = tombstone_expires_s (epoch seconds)
 * when that is not 0. Exposed for tests.
 */
json_t *sync_item(const struct outbox_row *, int64_t tombstone_expires_s, char *err, size_t errlen);
/* The partition key for an outbox row's kind and key; -E2BIG when it does not fit. */
int sync_item_key(const char *kind, const char *key, char *out, size_t outlen);

/*
 * Reserves t->subdomain in the table with a conditional put
 * (attribute_not_exists(userId)), so two launchers cannot take one
 * subdomain. owner (e.g. the launcher's host) is recorded as reserved_by.
 * With over set, the put instead replaces a tenant item nobody will finish
 * (a reservation or a provision left by a launcher that stopped): only while
 * the item still has over's version and created_at, so of several launchers
 * taking one over, one wins.
 * cb gets 0, -EEXIST when it is taken (existing: the item as it stands,
 * read back consistently, as plain JSON; NULL when it could not be read;
 * borrowed for the call), or another error with a message.
 */
typedef void (*sync_reserve_cb)(int err, const char *errmsg, json_t *existing, void *arg);
struct sync_takeover {
	int64_t version;
	const char *created; /* the item's created_at, exactly */
};
/* Returns 0 (cb runs once, from the loop) or a negative code (cb never runs). */
int sync_reserve_tenant(struct aws *, const char *table, const struct tenant *, const char *owner,
                        const struct sync_takeover *over, sync_reserve_cb, void *arg);

#endif
