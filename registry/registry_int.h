/*
 * registry_int: what the registry's own .c files share. Nothing outside
 * registry/ includes this: callers never see sqlite3 or its statements.
 */
#ifndef BERTH_REGISTRY_INT_H
#define BERTH_REGISTRY_INT_H

#include <sqlite3.h>
#include <sys/types.h>

#include "registry/registry.h"

/* Cached statements, prepared on first use and kept for the handle's life. */
enum reg_stmt {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DATA_VERSION,
	ST_META_GET,
	ST_META_SET,
	ST_BINDING_BY_KEY,
	ST_BINDING_BY_ID,
	ST_BINDING_INSERT,
	ST_BINDING_UPDATE,
	ST_BINDING_INSERT_NEW,
	ST_BINDING_SET_OUTBOX,
	ST_OUTBOX_SEQ,
	ST_BINDING_BY_CONTAINER,
	ST_BINDING_LIST,
	ST_BINDING_GET,
	ST_BINDING_PRUNE,
	ST_TENANT_GET,
	ST_TENANT_BY_ROWID,
	ST_TENANT_INSERT,
	ST_TENANT_UPDATE,
	ST_TENANT_SET_OUTBOX,
	ST_TENANT_LIST,
	ST_OUTBOX_INSERT,
	ST_OUTBOX_PENDING,
	ST_OUTBOX_DELETE,
	ST_OUTBOX_FAIL,
	ST_STATS_BINDINGS,
	ST_STATS_TENANTS,
	ST_STATS_OUTBOX,
	ST__COUNT
};

#define REG_ERRMSG_MAX 512

struct registry {
	sqlite3 *db;
	char *path;
	int rdonly;
	int immutable;        /* read-only through immutable=1 (no writer was running) */
	int busy_ms;          /* total wait for a lock before -EBUSY */
	int64_t busy_started; /* monotonic ms of the first retry of the current wait */
	int in_batch;
	int batch_err;       /* first SQL error inside the open batch; 0 if none */
	int dirty;           /* the open transaction wrote something */
	int64_t outbox_next; /* the next outbox id in this write transaction; 0 = not known */
	int64_t writes;      /* own committed write transactions */
	int64_t seen_writes; /* ... as of the previous registry_changed() */
	int64_t seen_dv;     /* PRAGMA data_version as of the previous registry_changed() */
	sqlite3_stmt *st[ST__COUNT];
	char errmsg[REG_ERRMSG_MAX];
	dev_t dev; /* the file opened at path (registry_check_file) */
	ino_t ino;
};

/* The cached statement id, reset and with its bindings cleared; NULL on error (errmsg set). */
sqlite3_stmt *reg_stmt(struct registry *, enum reg_stmt);
/* Maps an SQLite result code to a negative errno and records sqlite3_errmsg as errmsg. */
int reg_sqlerr(struct registry *, int rc, const char *what);
/* Records a formatted error text on the handle and returns code. */
int reg_fail(struct registry *, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Write transactions. reg_write_begin opens BEGIN IMMEDIATE unless a batch is
 * open (then it joins it; *own = 0). reg_write_end commits an own transaction
 * when rc is 0 and rolls it back otherwise; inside a batch an error poisons
 * and rolls back the whole batch (the following writes and the commit return
 * it). Returns the final code.
 */
int reg_write_begin(struct registry *, int *own);
int reg_write_end(struct registry *, int own, int rc);

/* Runs one SQL text (no results wanted); maps errors (errmsg set). */
int reg_exec_sql(struct registry *, const char *sql, const char *what);
/* The negative code for an SQLite result code. */
int reg_sql_to_errno(int rc);
/* SQLite's busy handler for r (arg): waits up to r->busy_ms, then gives up. */
int reg_busy_handler(void *arg, int count);
/* 1 when path's -wal file exists (a writer has the file open or left it). */
int reg_wal_exists(const char *path);

/* Steps a bound statement that returns no rows and resets it: 0, or the error (errmsg set). */
int reg_step_done(struct registry *, sqlite3_stmt *, const char *what);

/* Reads the current row of st into *row: 0, or -EIO with errmsg set. */
typedef int (*reg_read_fn)(struct registry *, sqlite3_stmt *, void *row);
/*
 * Steps a bound query, reading up to max rows with read into rows (an array
 * of elements of size bytes), and resets it. Returns the count of rows read
 * or a negative code (errmsg set).
 */
int reg_read_rows(struct registry *, sqlite3_stmt *, reg_read_fn read, void *rows, size_t size,
                  size_t max, const char *what);

/* Text columns: bind "" as '' and NULL as NULL. */
int reg_bind_text(sqlite3_stmt *, int idx, const char *s);
/* Copies column col into out (cap outlen); -EIO when the stored text does not fit. */
int reg_col_text(sqlite3_stmt *, int col, char *out, size_t outlen);
/* 1 when s is NUL-terminated within cap bytes. */
int reg_fits(const char *s, size_t cap);

/*
 * Outbox write used by bindings and tenants, inside a write transaction:
 * deletes the row's pending outbox row old_outbox_id (0 for none), adds one
 * for (kind, ref) and stores its id in *outbox_id.
 */
int reg_outbox_put(struct registry *, const char *kind, int64_t ref, int64_t old_outbox_id,
                   int64_t *outbox_id);

/*
 * The id the next outbox row will get (AUTOINCREMENT: the stored sequence + 1),
 * known for the open write transaction; 0 or a negative code on error.
 */
int64_t reg_outbox_next(struct registry *);

/* Reads a binding / tenant row by rowid (for outbox bodies): 1 found, 0 gone, or an error. */
int reg_binding_by_id(struct registry *, int64_t id, struct binding *out);
int reg_tenant_by_rowid(struct registry *, int64_t rowid, struct tenant *out);
/* The task id of a task ARN: the text after its last '/' (all of it when there is none). */
const char *reg_task_id(const char *task_arn);

/*
 * Writers: a 16 MB page cache (batches touch many index pages; a process
 * may set less with registry_set_cache, as the sidecar does), and a
 * checkpoint every 8000 WAL pages rather than 1000: a checkpoint writes each
 * page once however often it changed, so fewer checkpoints mean fewer writes
 * and fsyncs per commit. The WAL is cut back to 64 MB after a checkpoint.
 */
#define REG_WRITER_PRAGMAS                                                                         \
	"PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 8000; PRAGMA temp_store = "       \
	"MEMORY; "                                                                                 \
	"PRAGMA journal_size_limit = 67108864"

/*
 * Readers of untrusted JSON rows and items (registry_json.c). str copies the
 * string at key into dst: absent or null is "" (0); not a string, too long or
 * holding a NUL is -1. int is the integer at key in [lo, hi]: absent or null
 * gives dflt, anything else sets *bad. time is an RFC 3339 time at key in ms:
 * absent, null or "" is 0, anything unparsable sets *bad.
 */
int reg_json_str(const json_t *o, const char *key, char *dst, size_t dstlen);
int64_t reg_json_int(const json_t *o, const char *key, int64_t lo, int64_t hi, int64_t dflt,
                     int *bad);
int64_t reg_json_time(const json_t *o, const char *key, int *bad);

#endif
