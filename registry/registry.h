/*
 * registry: the SQLite file shared by the sidecar, a launcher and berth
 * readers. Bindings (published host ports), tenants, and the outbox that the
 * DynamoDB sync drains.
 *
 * The handle is opaque and single-threaded; several processes may hold the
 * same file (WAL). Every function returns 0 or a negative errno-style code:
 *   -ENOENT  no such row (or, from registry_open, no such file)
 *   -EEXIST  a unique key is taken (registry_tenant_insert; registry_binding_upsert
 *            when the task id already belongs to another task ARN)
 *   -EINVAL  a value is out of bounds (too long, bad status)
 *   -ENOTSUP the file's schema is newer than this program knows
 *   -EBADF   the file is not a registry (not SQLite, or no berth schema)
 *   -EBUSY   the file stayed locked past the busy timeout
 *   -EIO     SQLite reported corruption or an I/O error
 *   -EROFS   a write on a handle opened read-only
 *   -EACCES  the file cannot be opened (permissions)
 *   -EPROTO  a read-only open of a file whose schema is older (a writer migrates it)
 *   -ERANGE  a stored value does not fit the caller's buffer (registry_meta_get)
 *   -ESTALE  registry_changed on a read-only handle that had to open the file as
 *            immutable (no write access to its directory, no writer running)
 *            once a writer has opened it: open it again
 * and, where err is given, a one-line reason (first error wins).
 *
 * The schema lives in registry_schema.h; bump REGISTRY_SCHEMA_VERSION there
 * (and add a migration) whenever it changes.
 */
#ifndef BERTH_REGISTRY_H
#define BERTH_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct registry;

#define REGISTRY_RDONLY 0x0
#define REGISTRY_RDWR   0x1
#define REGISTRY_CREATE 0x2 /* with RDWR: create the file and schema if absent */
#define REGISTRY_CHECK  0x4 /* run PRAGMA quick_check at open: -EIO when the file is damaged */

/* Default total wait for a lock held by another process before -EBUSY. */
#define REGISTRY_BUSY_MS 5000

/* Caps on stored strings, bytes including the terminating NUL. Longer input is -EINVAL. */
#define REG_ARN_MAX        320
#define REG_NAME_MAX       256
#define REG_ID_MAX         80
#define REG_IP_MAX         64
#define REG_PROTO_MAX      8
#define REG_SUBDOMAIN_MAX  64
#define REG_EMAIL_MAX      256
#define REG_COMPANY_MAX    808 /* 200 characters of up to 4 UTF-8 bytes */
#define REG_URL_MAX        512
#define REG_ERROR_MAX      512
#define REG_META_KEY_MAX   64
#define REG_META_VALUE_MAX 1024
/* At most this many rows per registry_outbox_pending call. */
#define REGISTRY_OUTBOX_MAX 1000

enum binding_status {
	BINDING_PROVISIONAL, /* host port known from HostConfig.PortBindings at create */
	BINDING_RUNNING,
	BINDING_STOPPED,
	BINDING_REMOVED,
};

enum tenant_status {
	TENANT_PROVISIONING,
	TENANT_RUNNING,
	TENANT_FAILED,
	TENANT_STOPPED,
};

/*
 * A binding is keyed by (task_arn, container_name, container_port, protocol).
 * For a plain Docker container with no ECS labels, task_arn holds the
 * container ID. Times are Unix milliseconds; 0 means unset.
 */
struct binding {
	char task_arn[REG_ARN_MAX];
	char task_id[REG_ID_MAX]; /* derived on write: text after the last '/' of task_arn */
	char container_name[REG_NAME_MAX];
	char container_id[REG_ID_MAX];
	int container_port;
	char protocol[REG_PROTO_MAX]; /* "tcp" or "udp" */
	char host_ip[REG_IP_MAX];
	int host_port;    /* IPv4 host port */
	int host_port_v6; /* IPv6 host port where Docker gave a different one; else 0 */
	enum binding_status status;
	int exit_code; /* valid when has_exit_code */
	int has_exit_code;
	char tenant[REG_SUBDOMAIN_MAX];
	char cluster[REG_NAME_MAX]; /* short name */
	char family[REG_NAME_MAX];
	char revision[16];
	int64_t started_at, stopped_at, updated_at;
	int64_t version; /* bumped by every change; set by the registry */
};

struct tenant {
	char subdomain[REG_SUBDOMAIN_MAX];
	char admin_email[REG_EMAIL_MAX];
	char company_name[REG_COMPANY_MAX];
	enum tenant_status status;
	char url[REG_URL_MAX];
	char host_ip[REG_IP_MAX];
	int host_port;
	char task_arn[REG_ARN_MAX];
	char error[REG_ERROR_MAX];
	int64_t created_at, updated_at;
	int64_t version;
};

/* Filters for listing; an empty string or -1 status means "any". */
struct binding_filter {
	const char *task; /* task id, task ARN or container id (prefix of 12+ chars) */
	const char *tenant;
	const char *container_id; /* exact */
	int status;               /* enum binding_status or -1 */
	int include_removed;      /* removed rows are skipped unless set or status asks */
};

struct registry_stats {
	long bindings[4]; /* by enum binding_status */
	long tenants[4];  /* by enum tenant_status */
	long outbox_pending;
	int64_t outbox_oldest; /* created_at (ms) of the oldest pending row; 0 when empty */
	long outbox_failing;   /* pending rows with at least one failed attempt */
};

/* One pending outbox row: what changed, for the sync target. */
struct outbox_row {
	int64_t id;
	char kind[16]; /* "binding" or "tenant" */
	char key[REG_ARN_MAX + REG_NAME_MAX + 32];
	int64_t version;
	const char *body; /* JSON of the row (DESIGN.md shape); borrowed for the callback */
	int64_t created_at;
	int attempts;
	const char *last_error;  /* of the last failed attempt, "" if none; borrowed */
	int64_t last_attempt_at; /* ms; 0 if never tried */
};

const char *binding_status_str(enum binding_status);
const char *tenant_status_str(enum tenant_status);
int binding_status_parse(const char *); /* -1 when unknown */
int tenant_status_parse(const char *);
int64_t registry_now_ms(void);

/*
 * Opens path with REGISTRY_RDONLY or REGISTRY_RDWR[|REGISTRY_CREATE], each
 * optionally |REGISTRY_CHECK; *out owned by caller (registry_close). A
 * read-write open sets WAL mode and synchronous=NORMAL and creates or
 * migrates the schema. On failure err holds one line naming the file and
 * what to do: a missing file -ENOENT, a directory / non-SQLite / empty /
 * foreign SQLite file -EBADF, a newer schema -ENOTSUP, an older schema on a
 * read-only open -EPROTO, a locked file -EBUSY, a damaged file -EIO.
 */
int registry_open(struct registry **out, const char *path, int flags, char *err, size_t errlen);
/* registry_open with the total lock wait in ms (registry_open uses REGISTRY_BUSY_MS). */
int registry_open_busy(struct registry **out, const char *path, int flags, int busy_ms, char *err,
                       size_t errlen);
void registry_close(struct registry *);
/*
 * Sets the handle's SQLite page cache to kib KiB (a read-write open starts
 * with 16 MiB, for batches that touch many index pages; a long-running
 * process that writes little can keep its memory down with less).
 */
int registry_set_cache(struct registry *, int kib);
/*
 * Sets the total lock wait (ms) of later calls. An event loop that retries
 * a write on its own (-EBUSY) keeps this short, so a lock held elsewhere
 * never stalls the loop for long.
 */
void registry_set_busy(struct registry *, int busy_ms);
const char *registry_path(const struct registry *);
/*
 * Whether the file at the handle's path is still the one it opened (device
 * and inode): 0, -ENOENT when it was deleted, -ESTALE when another file
 * took its place, with the reason in registry_errmsg. A few microseconds
 * (one stat); the daemons' /healthz asks it.
 */
int registry_check_file(struct registry *);
/* The last error text of this handle (never NULL). */
const char *registry_errmsg(const struct registry *);

/*
 * Batches: between begin and commit every write joins one transaction.
 * Without a batch each write is its own transaction. Rollback drops the batch.
 */
int registry_begin(struct registry *);
int registry_commit(struct registry *);
int registry_rollback(struct registry *);
/* 1 while a batch is open. */
int registry_in_batch(const struct registry *);

/*
 * Inserts or updates a binding. Writes nothing when every field but the
 * timestamps equals the stored row (*changed = 0); otherwise bumps version,
 * sets updated_at, and writes the outbox row in the same transaction
 * (*changed = 1). changed may be NULL. started_at/stopped_at of 0 keep the
 * stored values.
 */
int registry_binding_upsert(struct registry *, const struct binding *, int *changed);
/* Every binding of container_id not yet STOPPED/REMOVED becomes STOPPED. *n = rows changed. */
int registry_container_stopped(struct registry *, const char *container_id, int has_exit_code,
                               int exit_code, int64_t when_ms, int *n);
/* Every binding of container_id becomes REMOVED. */
int registry_container_removed(struct registry *, const char *container_id, int64_t when_ms,
                               int *n);

/*
 * Lists bindings matching f (NULL: all but REMOVED) in the order they were
 * first written (callers sort for display). Rows are read in chunks and the
 * callbacks run between queries, so a callback may write to the registry.
 * The row is borrowed for the callback. Returns 0, the callback's nonzero
 * value when it stopped the walk, or an error.
 */
typedef int (*registry_binding_cb)(const struct binding *, void *arg); /* nonzero stops */
int registry_binding_list(struct registry *, const struct binding_filter *, registry_binding_cb,
                          void *arg);
/* First RUNNING (else most recent) binding of a task id / ARN / container id; -ENOENT if none. */
int registry_binding_get(struct registry *, const char *task, struct binding *out);
/*
 * Deletes REMOVED bindings last changed before older_than_ms whose outbox row
 * is gone (synced). *n = rows deleted; n may be NULL.
 */
int registry_prune(struct registry *, int64_t older_than_ms, int *n);

/*
 * Inserts a new tenant; -EEXIST when the subdomain is taken. Writes the
 * outbox row. Sets t->version = 1, t->updated_at, and t->created_at when 0.
 */
int registry_tenant_insert(struct registry *, struct tenant *);
/*
 * Updates an existing tenant (all fields); bumps version (written back to
 * t->version) and updated_at; created_at of 0 keeps the stored one; -ENOENT
 * when absent.
 */
int registry_tenant_update(struct registry *, struct tenant *);
int registry_tenant_get(struct registry *, const char *subdomain, struct tenant *out);
typedef int (*registry_tenant_cb)(const struct tenant *, void *arg);
/*
 * Lists tenants (status -1 for any) ordered by subdomain, after `after` (NULL
 * for the start), at most limit (0 = all). Chunked like the binding list: a
 * callback may write; the row is borrowed for the callback.
 */
int registry_tenant_list(struct registry *, int status, const char *after, int limit,
                         registry_tenant_cb, void *arg);
/*
 * Every tenant of status (-1: any) as one malloc'd array *v of *n (the caller
 * frees; NULL when none), for callers that write while they go through them.
 */
int registry_tenant_collect(struct registry *, int status, struct tenant **v, size_t *n);

int registry_stats(struct registry *, struct registry_stats *);

/*
 * Cheap change check: *changed = 1 when any connection (this process or
 * another) committed since the previous call on this handle. Uses
 * PRAGMA data_version plus this handle's own write counter.
 */
int registry_changed(struct registry *, int *changed);

/*
 * Outbox: oldest pending rows first, at most max (<= 0 or above
 * REGISTRY_OUTBOX_MAX means REGISTRY_OUTBOX_MAX). The rows are copied out
 * first, so a callback may ack or fail them as it goes. A key has at most one
 * pending row: a newer change supersedes (deletes) the older row, and its
 * body is always the whole current row.
 */
typedef int (*registry_outbox_cb)(const struct outbox_row *, void *arg);
int registry_outbox_pending(struct registry *, int max, registry_outbox_cb, void *arg);
/* Deletes a synced row; 0 also when it is already gone (superseded by a newer change). */
int registry_outbox_ack(struct registry *, int64_t id);
/* Records a failed attempt with its error text. */
int registry_outbox_fail(struct registry *, int64_t id, const char *error);

/* Rows as JSON in the DESIGN.md shape; new references (caller decrefs). */
json_t *binding_to_json(const struct binding *);
json_t *tenant_to_json(const struct tenant *);
/*
 * The same shapes read back from untrusted JSON (a sidecar's answer, a table
 * item): every field checked for type, size and range; an absent or null
 * field is unset. 0, or -EINVAL when o is not such a row (b or t then zeroed
 * or partial: do not use).
 */
int binding_from_json(const json_t *o, struct binding *b);
int tenant_from_json(const json_t *o, struct tenant *t);
/* Formats Unix ms as RFC 3339 UTC ("2026-11-27T01:57:48.123Z"); "" for 0. */
void registry_time_format(char *out, size_t outlen, int64_t ms);

/*
 * meta key/value (schema version lives in PRAGMA user_version, not here).
 * get: -ENOENT when absent, -ERANGE when the value does not fit outlen.
 * set: key below REG_META_KEY_MAX, value below REG_META_VALUE_MAX bytes.
 */
int registry_meta_get(struct registry *, const char *key, char *out, size_t outlen);
int registry_meta_set(struct registry *, const char *key, const char *value);

#endif
