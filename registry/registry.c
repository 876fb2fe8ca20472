/*
 * registry: opening (classification of bad files, schema creation and
 * migrations), the statement cache, the busy policy, transactions, the change
 * check, stats and meta. Bindings, tenants, the outbox and JSON live in the
 * other registry_*.c files.
 */
#include "core/clock.h"
#include "registry/registry.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "registry/registry_int.h"
#include "registry/registry_schema.h"

#define BINDING_COLS                                                                               \
	"id, task_arn, task_id, container_name, container_id, container_port, protocol, host_ip, " \
	"host_port, host_port_v6, status, exit_code, tenant, cluster, family, revision, "          \
	"started_at, stopped_at, updated_at, version, outbox_id"
/* Container id ?N exactly, or by a prefix of 12+ characters; uses the substr(id, 1, 12) index. */
#define CONTAINER_MATCH(n)                                                                         \
	"(substr(container_id, 1, 12) = substr(" n ", 1, 12) AND (container_id = " n " OR "        \
	"(length(" n ") >= 12 AND substr(container_id, 1, length(" n ")) = " n ")))"
/* A task id, task ARN (?9 is the task id derived from it) or container id (prefix). */
#define TASK_MATCH "(task_id = ?1 OR (task_id = ?9 AND task_arn = ?1) OR " CONTAINER_MATCH("?1") ")"
#define TENANT_COLS                                                                                \
	"subdomain, admin_email, company_name, status, url, host_ip, host_port, task_arn, error, " \
	"created_at, updated_at, version, outbox_id, rowid"

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_BINDING_BY_KEY] = "SELECT " BINDING_COLS " FROM bindings WHERE task_id = ?5 AND "
                          "container_name = ?2 AND container_port = ?3 AND protocol = ?4",
    [ST_BINDING_BY_ID] = "SELECT " BINDING_COLS " FROM bindings WHERE id = ?1",
    [ST_BINDING_INSERT] =
        "INSERT INTO bindings (task_arn, task_id, container_name, container_id, "
        "container_port, protocol, host_ip, host_port, host_port_v6, status, exit_code, tenant, "
        "cluster, family, revision, started_at, stopped_at, updated_at, version, id, outbox_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20, ?21)",
    [ST_BINDING_UPDATE] =
        "UPDATE bindings SET task_id = ?2, container_id = ?4, host_ip = ?7, host_port = ?8, "
        "host_port_v6 = ?9, status = ?10, exit_code = ?11, tenant = ?12, cluster = ?13, "
        "family = ?14, revision = ?15, started_at = ?16, stopped_at = ?17, updated_at = ?18, "
        "version = ?19, outbox_id = ?20 WHERE id = ?21 AND task_arn = ?1 AND "
        "container_name = ?3 AND container_port = ?5 AND protocol = ?6",
    [ST_BINDING_INSERT_NEW] =
        "INSERT INTO bindings (task_arn, task_id, container_name, container_id, "
        "container_port, protocol, host_ip, host_port, host_port_v6, status, exit_code, tenant, "
        "cluster, family, revision, started_at, stopped_at, updated_at, version, outbox_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20) ON CONFLICT DO NOTHING",
    [ST_OUTBOX_SEQ] = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)",
    [ST_BINDING_SET_OUTBOX] = "UPDATE bindings SET outbox_id = ?2 WHERE id = ?1",
    [ST_BINDING_BY_CONTAINER] =
        "SELECT " BINDING_COLS " FROM bindings WHERE substr(container_id, 1, 12) = "
        "substr(?1, 1, 12) AND container_id = ?1 AND status <> 'REMOVED' AND "
        "(?2 = 0 OR status IN ('PROVISIONAL', 'RUNNING')) ORDER BY id",
    [ST_BINDING_LIST] =
        "SELECT " BINDING_COLS " FROM bindings WHERE (?1 IS NULL OR " TASK_MATCH ") "
        "AND (?3 IS NULL OR tenant = ?3) AND (?4 IS NULL OR (substr(container_id, 1, 12) = "
        "substr(?4, 1, 12) AND container_id = ?4)) "
        "AND (?5 IS NULL OR status = ?5) AND (?6 OR ?5 IS NOT NULL OR status <> 'REMOVED') "
        "AND id > ?7 ORDER BY id LIMIT ?8",
    [ST_BINDING_GET] = "SELECT " BINDING_COLS " FROM bindings WHERE " TASK_MATCH
                       " ORDER BY CASE status WHEN 'RUNNING' THEN 0 WHEN 'PROVISIONAL' THEN 1 "
                       "WHEN 'STOPPED' THEN 2 ELSE 3 END, updated_at DESC, id DESC LIMIT 1",
    [ST_BINDING_PRUNE] = "DELETE FROM bindings WHERE status = 'REMOVED' AND updated_at < ?1 AND "
                         "NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.id = bindings.outbox_id)",
    [ST_TENANT_GET] = "SELECT " TENANT_COLS " FROM tenants WHERE subdomain = ?1",
    [ST_TENANT_BY_ROWID] = "SELECT " TENANT_COLS " FROM tenants WHERE rowid = ?1",
    [ST_TENANT_INSERT] = "INSERT INTO tenants (subdomain, admin_email, company_name, status, url, "
                         "host_ip, host_port, task_arn, error, created_at, updated_at, version) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_TENANT_UPDATE] = "UPDATE tenants SET admin_email = ?2, company_name = ?3, status = ?4, "
                         "url = ?5, host_ip = ?6, host_port = ?7, task_arn = ?8, error = ?9, "
                         "created_at = ?10, updated_at = ?11, version = ?12, outbox_id = ?13 "
                         "WHERE subdomain = ?1",
    [ST_TENANT_SET_OUTBOX] = "UPDATE tenants SET outbox_id = ?2 WHERE rowid = ?1",
    [ST_TENANT_LIST] = "SELECT " TENANT_COLS " FROM tenants WHERE (?1 IS NULL OR status = ?1) "
                       "AND (?2 IS NULL OR subdomain > ?2) ORDER BY subdomain LIMIT ?3",
    [ST_OUTBOX_INSERT] = "INSERT INTO outbox (kind, ref, created_at) VALUES (?1, ?2, ?3)",
    [ST_OUTBOX_PENDING] = "SELECT id, kind, ref, created_at, attempts, last_error, "
                          "last_attempt_at FROM outbox ORDER BY id LIMIT ?1",
    [ST_OUTBOX_DELETE] = "DELETE FROM outbox WHERE id = ?1",
    [ST_OUTBOX_FAIL] = "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, "
                       "last_attempt_at = ?3 WHERE id = ?1",
    [ST_STATS_BINDINGS] = "SELECT status, count(*) FROM bindings GROUP BY status",
    [ST_STATS_TENANTS] = "SELECT status, count(*) FROM tenants GROUP BY status",
    [ST_STATS_OUTBOX] = "SELECT count(*), coalesce(min(created_at), 0), "
                        "coalesce(sum(attempts > 0), 0) FROM outbox",
};

static const char *const migrations[] = REGISTRY_MIGRATIONS;
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == REGISTRY_SCHEMA_VERSION,
               "one migration step per schema version");

static const char *const binding_status_names[] = {"PROVISIONAL", "RUNNING", "STOPPED", "REMOVED"};
static const char *const tenant_status_names[] = {"PROVISIONING", "RUNNING", "FAILED", "STOPPED"};

const char *
binding_status_str(enum binding_status s)
{
	if ((unsigned)s >= sizeof(binding_status_names) / sizeof(binding_status_names[0]))
		return "UNKNOWN";
	return binding_status_names[s];
}

const char *
tenant_status_str(enum tenant_status s)
{
	if ((unsigned)s >= sizeof(tenant_status_names) / sizeof(tenant_status_names[0]))
		return "UNKNOWN";
	return tenant_status_names[s];
}

static int
status_parse(const char *s, const char *const *names, size_t n)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

int
binding_status_parse(const char *s)
{
	return status_parse(s, binding_status_names,
	                    sizeof(binding_status_names) / sizeof(binding_status_names[0]));
}

int
tenant_status_parse(const char *s)
{
	return status_parse(s, tenant_status_names,
	                    sizeof(tenant_status_names) / sizeof(tenant_status_names[0]));
}

int64_t
registry_now_ms(void)
{
	return clock_real_ms();
}

int
reg_fail(struct registry *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
	va_end(ap);
	/* Always one line: SQLite's quick_check text spans several. */
	for (char *p = r->errmsg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return code;
}

static int
sql_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOTADB:
		return -EBADF;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
		return -EINVAL;
	default: /* CORRUPT, IOERR, SCHEMA, ERROR, ... */
		return -EIO;
	}
}

int
reg_sqlerr(struct registry *r, int rc, const char *what)
{
	int code = sql_to_errno(rc);

	if (code == 0)
		code = -EIO;
	if (code == -EBUSY)
		return reg_fail(r, code, "%s: %s: locked by another process for more than %d ms",
		                r->path, what, r->busy_ms);
	return reg_fail(r, code, "%s: %s: %s", r->path, what,
	                r->db != NULL ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
}

/*
 * Busy handler: waits with a growing, jittered sleep (50 us doubling to 4 ms)
 * until busy_ms have passed since the first call of this wait. Short first
 * sleeps keep two busy writers fast; the cap keeps a long wait cheap.
 */
static int
busy_handler(void *arg, int count)
{
	struct registry *r = arg;
	int64_t now = clock_mono_us(), step;

	if (count == 0)
		r->busy_started = now;
	if (now - r->busy_started >= (int64_t)r->busy_ms * 1000)
		return 0;
	step = 50LL << (count < 7 ? count : 7);
	step += (now ^ (int64_t)getpid()) % (step / 2 + 1);
	usleep((useconds_t)step);
	return 1;
}

sqlite3_stmt *
reg_stmt(struct registry *r, enum reg_stmt id)
{
	int rc;

	if (r->st[id] == NULL) {
		rc = sqlite3_prepare_v3(r->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                        &r->st[id], NULL);
		if (rc != SQLITE_OK) {
			reg_sqlerr(r, rc, "prepare");
			r->st[id] = NULL;
			return NULL;
		}
	} else {
		sqlite3_reset(r->st[id]);
		sqlite3_clear_bindings(r->st[id]);
	}
	return r->st[id];
}

/*
 * Steps a statement that may be retried from the start (BEGIN, COMMIT): when
 * SQLite returns BUSY without (or after) calling the busy handler, sleeps and
 * tries again until busy_ms have passed in total.
 */
static int
step_retry(struct registry *r, sqlite3_stmt *st)
{
	int64_t start = clock_mono_us();
	int rc, n = 0;

	for (;;) {
		rc = sqlite3_step(st);
		if ((rc & 0xff) != SQLITE_BUSY)
			return rc;
		if (clock_mono_us() - start >= (int64_t)r->busy_ms * 1000)
			return rc;
		sqlite3_reset(st);
		usleep((useconds_t)(200 << (n < 5 ? n++ : 5)));
	}
}

static int
exec_simple(struct registry *r, enum reg_stmt id, const char *what)
{
	sqlite3_stmt *st = reg_stmt(r, id);
	int rc;

	if (st == NULL)
		return -EIO;
	rc = step_retry(r, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return reg_sqlerr(r, rc, what);
	return 0;
}

static void
rollback_quietly(struct registry *r)
{
	if (!sqlite3_get_autocommit(r->db))
		exec_simple(r, ST_ROLLBACK, "rollback");
}

int
reg_write_begin(struct registry *r, int *own)
{
	int rc;

	*own = 0;
	if (r->rdonly)
		return reg_fail(r, -EROFS, "%s: opened read-only", r->path);
	if (r->in_batch)
		return r->batch_err;
	if (!sqlite3_get_autocommit(r->db))
		return 0; /* an internal transaction (migration) is open: join it */
	if ((rc = exec_simple(r, ST_BEGIN, "begin")) != 0)
		return rc;
	r->dirty = 0;
	r->outbox_next = 0;
	*own = 1;
	return 0;
}

int
reg_step_done(struct registry *r, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : reg_sqlerr(r, rc, what);
}

int
reg_read_rows(struct registry *r, sqlite3_stmt *st, reg_read_fn read, void *rows, size_t size,
              size_t max, const char *what)
{
	size_t n = 0;
	int rc = 0;

	while (n < max) {
		if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
			rc = 0;
			break;
		}
		if (rc != SQLITE_ROW) {
			rc = reg_sqlerr(r, rc, what);
			break;
		}
		if ((rc = read(r, st, (char *)rows + n * size)) != 0)
			break;
		n++;
	}
	sqlite3_reset(st);
	return rc != 0 ? rc : (int)n;
}

/* Commits the open write transaction (rolled back when that fails) and counts it. */
static int
commit_write(struct registry *r)
{
	int rc;

	if ((rc = exec_simple(r, ST_COMMIT, "commit")) != 0) {
		rollback_quietly(r);
		return rc;
	}
	if (r->dirty)
		r->writes++;
	return 0;
}

/* Errors that the write functions return before writing anything: they leave a batch usable. */
static int
clean_error(int rc)
{
	return rc == -EINVAL || rc == -ENOENT || rc == -EEXIST;
}

int
reg_write_end(struct registry *r, int own, int rc)
{
	if (own) {
		if (rc != 0) {
			rollback_quietly(r);
			return rc;
		}
		return commit_write(r);
	}
	if (rc != 0 && !clean_error(rc) && r->in_batch && r->batch_err == 0) {
		rollback_quietly(r);
		r->batch_err = rc;
	}
	return rc;
}

int
registry_begin(struct registry *r)
{
	int rc;

	if (r->rdonly)
		return reg_fail(r, -EROFS, "%s: opened read-only", r->path);
	if (r->in_batch)
		return reg_fail(r, -EINVAL, "%s: a batch is already open", r->path);
	if ((rc = exec_simple(r, ST_BEGIN, "begin")) != 0)
		return rc;
	r->outbox_next = 0;
	r->in_batch = 1;
	r->batch_err = 0;
	r->dirty = 0;
	return 0;
}

int
registry_commit(struct registry *r)
{
	int rc;

	if (!r->in_batch)
		return reg_fail(r, -EINVAL, "%s: commit without a batch", r->path);
	r->in_batch = 0;
	if ((rc = r->batch_err) != 0) {
		r->batch_err = 0;
		rollback_quietly(r);
		return rc;
	}
	return commit_write(r);
}

int
registry_rollback(struct registry *r)
{
	if (!r->in_batch)
		return reg_fail(r, -EINVAL, "%s: rollback without a batch", r->path);
	r->in_batch = 0;
	r->batch_err = 0;
	rollback_quietly(r);
	return 0;
}

int
registry_in_batch(const struct registry *r)
{
	return r->in_batch;
}

/* Runs one SQL text (no results wanted) on the handle; maps errors. */
static int
exec_sql(struct registry *r, const char *sql, const char *what)
{
	int rc = sqlite3_exec(r->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : reg_sqlerr(r, rc, what);
}

/*
 * Switches the file to WAL mode. That needs an exclusive lock, and SQLite
 * answers busy at once (without the busy handler) while another connection
 * reads, e.g. a second process creating the same new file: retry within
 * busy_ms. A file already in WAL mode is left alone.
 */
static int
set_wal(struct registry *r)
{
	int64_t start = clock_mono_us();
	sqlite3_stmt *st = NULL;
	char mode[16] = "";
	int rc, n = 0;

	for (;;) {
		rc = sqlite3_prepare_v2(r->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *t = (const char *)sqlite3_column_text(st, 0);

			snprintf(mode, sizeof(mode), "%s", t != NULL ? t : "");
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
		st = NULL;
		if ((rc & 0xff) != SQLITE_BUSY ||
		    clock_mono_us() - start >= (int64_t)r->busy_ms * 1000)
			break;
		usleep((useconds_t)(500 << (n < 4 ? n++ : 4)));
	}
	if (rc != SQLITE_OK)
		return reg_sqlerr(r, rc, "set WAL mode");
	if (strcmp(mode, "wal") != 0)
		return reg_fail(r, -EIO, "%s: cannot use WAL mode (journal mode is %s)", r->path,
		                mode);
	return 0;
}

/* Reads one integer from a one-row query (PRAGMA user_version etc.). */
static int
query_int(struct registry *r, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK) {
		/* errmsg must be read before finalize resets it */
		rc = reg_sqlerr(r, rc, sql);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Brings the schema from version `from` to REGISTRY_SCHEMA_VERSION in one write transaction. */
static int
migrate(struct registry *r, int creating)
{
	char sql[96];
	int64_t uv, nobj;
	int rc, own;

	if ((rc = reg_write_begin(r, &own)) != 0)
		return rc;
	/* Another process may have created or migrated the file meanwhile. */
	if ((rc = query_int(r, "PRAGMA user_version", &uv)) != 0)
		goto out;
	if ((rc = query_int(r, "SELECT count(*) FROM sqlite_schema", &nobj)) != 0)
		goto out;
	if (uv < 0 || (uv == 0 && (!creating || nobj != 0))) {
		rc =
		    reg_fail(r, -EBADF, "%s: an SQLite database without the berth schema", r->path);
		goto out;
	}
	if (uv > REGISTRY_SCHEMA_VERSION) {
		rc =
		    reg_fail(r, -ENOTSUP, "%s: schema version %lld is newer than this program's %d",
		             r->path, (long long)uv, REGISTRY_SCHEMA_VERSION);
		goto out;
	}
	for (int64_t v = uv; v < REGISTRY_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "migration to schema version %lld", (long long)v + 1);
		if ((rc = exec_sql(r, migrations[v], sql)) != 0)
			goto out;
		r->dirty = 1;
	}
	if (uv == REGISTRY_SCHEMA_VERSION)
		goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d",
	         REGISTRY_SCHEMA_VERSION, REGISTRY_APPLICATION_ID);
	if ((rc = exec_sql(r, sql, "set schema version")) != 0)
		goto out;
	if (uv == 0) {
		char now[40];

		registry_time_format(now, sizeof(now), registry_now_ms());
		if ((rc = registry_meta_set(r, "created_at", now)) != 0 ||
		    (rc = registry_meta_set(r, "created_by", "berth " BERTH_VERSION)) != 0)
			goto out;
	}
out:
	return reg_write_end(r, own, rc);
}

/* Fills err (when given) and returns code. */
static int open_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
open_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/*
 * Classifies what the open found; returns 0 or a code with r->errmsg holding
 * the one-line reason (naming the file and what to do).
 */
static int
open_check(struct registry *r, int flags, int64_t *version)
{
	int64_t nobj = 0, uv = 0, appid = 0;
	int rc;

	*version = 0;
	rc = query_int(r, "SELECT count(*) FROM sqlite_schema", &nobj);
	if (rc == -EBADF)
		return reg_fail(r, rc, "%s: not an SQLite database (wrong --db path?)", r->path);
	if (rc == -EBUSY)
		return reg_fail(
		    r, rc,
		    "%s: locked by another process for more than %d ms (retry later, or "
		    "find the holder with fuser %s)",
		    r->path, r->busy_ms, r->path);
	if (rc == -EIO)
		return reg_fail(r, rc,
		                "%s: corrupt or unreadable (%s); restore it from a backup, or move "
		                "it away and let berth-sidecar rebuild it",
		                r->path, sqlite3_errmsg(r->db));
	if (rc != 0)
		return rc;
	if ((rc = query_int(r, "PRAGMA user_version", &uv)) != 0 ||
	    (rc = query_int(r, "PRAGMA application_id", &appid)) != 0)
		return rc;
	*version = uv;
	if (uv < 0)
		return reg_fail(r, -EBADF,
		                "%s: schema version %lld is not a berth one (damaged header? wrong "
		                "--db path?)",
		                r->path, (long long)uv);
	if (uv == 0) {
		if (nobj == 0 && (flags & REGISTRY_RDWR) && (flags & REGISTRY_CREATE))
			return 0; /* new or empty file: the caller creates the schema */
		if (nobj == 0)
			return reg_fail(r, -EBADF,
			                "%s: empty, not a berth registry (wrong --db path? "
			                "berth-sidecar creates the registry)",
			                r->path);
		return reg_fail(
		    r, -EBADF, "%s: an SQLite database without the berth schema (wrong --db path?)",
		    r->path);
	}
	if (appid != REGISTRY_APPLICATION_ID)
		return reg_fail(r, -EBADF,
		                "%s: an SQLite database of another application (application_id "
		                "0x%llx; wrong --db path?)",
		                r->path, (unsigned long long)appid);
	if (uv > REGISTRY_SCHEMA_VERSION)
		return reg_fail(r, -ENOTSUP,
		                "%s: schema version %lld is newer than this program's %d (upgrade "
		                "berth)",
		                r->path, (long long)uv, REGISTRY_SCHEMA_VERSION);
	if (uv < REGISTRY_SCHEMA_VERSION && !(flags & REGISTRY_RDWR))
		return reg_fail(
		    r, -EPROTO,
		    "%s: schema version %lld is older than this program's %d (start the "
		    "newer berth-sidecar once to migrate it)",
		    r->path, (long long)uv, REGISTRY_SCHEMA_VERSION);
	return 0;
}

/* PRAGMA quick_check: -EIO with the first problem when the file is damaged. */
static int
quick_check(struct registry *r)
{
	sqlite3_stmt *st = NULL;
	char first[200] = "";
	int rc;

	rc = sqlite3_prepare_v2(r->db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		/* skip SQLite's "*** in database main ***" preamble */
		if (t != NULL && strncmp(t, "*** in database main ***", 24) == 0)
			t += 24;
		snprintf(first, sizeof(first), "%s", t != NULL ? t + strspn(t, " \n") : "");
		rc = strcmp(first, "ok") == 0 ? SQLITE_OK : SQLITE_CORRUPT;
	}
	if (rc != SQLITE_OK) {
		if ((rc & 0xff) == SQLITE_BUSY)
			rc = reg_sqlerr(r, rc, "quick_check");
		else
			rc = reg_fail(r, -EIO,
			              "%s: corrupt (%s); restore it from a backup, or move it away "
			              "and let berth-sidecar rebuild it",
			              r->path, first[0] ? first : sqlite3_errmsg(r->db));
	}
	sqlite3_finalize(st);
	return rc;
}

/* 1 when path's WAL file exists, i.e. some connection has the registry open or crashed. */
static int
wal_exists(const char *path)
{
	char wal[PATH_MAX + 8];

	snprintf(wal, sizeof(wal), "%s-wal", path);
	return access(wal, F_OK) == 0;
}

/*
 * Opens the SQLite handle. immutable opens read-only through a URI with
 * immutable=1 (no locks, no -shm): see the read-only fallback below.
 */
static int
db_open(struct registry *r, int oflags, int immutable)
{
	char uri[PATH_MAX * 3 + 32];
	size_t n = 0;
	int rc;

	if (!immutable) {
		rc = sqlite3_open_v2(r->path, &r->db, oflags, NULL);
	} else {
		/* file:PATH?immutable=1 with %, ? and # escaped; file:/// for an absolute path */
		n = (size_t)snprintf(uri, sizeof(uri), "%s",
		                     r->path[0] == '/' ? "file://" : "file:");
		for (const char *p = r->path; *p != '\0' && n + 4 < sizeof(uri); p++) {
			if (*p == '%' || *p == '?' || *p == '#')
				n += (size_t)snprintf(uri + n, sizeof(uri) - n, "%%%02X",
				                      (unsigned char)*p);
			else
				uri[n++] = *p;
		}
		snprintf(uri + n, sizeof(uri) - n, "?immutable=1");
		rc = sqlite3_open_v2(uri, &r->db, oflags | SQLITE_OPEN_URI, NULL);
	}
	if (rc != SQLITE_OK) {
		int code = sql_to_errno(rc);

		return reg_fail(r, code, "%s: cannot open: %s (check the path and its permissions)",
		                r->path, r->db != NULL ? sqlite3_errmsg(r->db) : "out of memory");
	}
	r->immutable = immutable;
	sqlite3_extended_result_codes(r->db, 1);
	sqlite3_busy_handler(r->db, busy_handler, r);
	return 0;
}

int
registry_open(struct registry **out, const char *path, int flags, char *err, size_t errlen)
{
	return registry_open_busy(out, path, flags, REGISTRY_BUSY_MS, err, errlen);
}

int
registry_open_busy(struct registry **out, const char *path, int flags, int busy_ms, char *err,
                   size_t errlen)
{
	struct registry *r = NULL;
	struct stat sb;
	int64_t version;
	int rc, oflags;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return open_fail(err, errlen, -EINVAL, "registry: no path given (pass --db PATH)");
	if (flags & ~(REGISTRY_RDWR | REGISTRY_CREATE | REGISTRY_CHECK) ||
	    ((flags & REGISTRY_CREATE) && !(flags & REGISTRY_RDWR)))
		return open_fail(err, errlen, -EINVAL, "%s: bad open flags 0x%x", path, flags);
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT && (flags & REGISTRY_CREATE))
			goto open;
		if (errno == ENOENT)
			return open_fail(
			    err, errlen, -ENOENT,
			    "%s: no such registry file (is berth-sidecar running here? "
			    "pass --db PATH or set BERTH_DB)",
			    path);
		rc = -errno;
		return open_fail(err, errlen, rc == -EACCES ? -EACCES : -EIO, "%s: cannot stat: %s",
		                 path, strerror(-rc));
	}
	if (S_ISDIR(sb.st_mode))
		return open_fail(err, errlen, -EBADF,
		                 "%s: a directory, not a registry file (pass the file's path with "
		                 "--db)",
		                 path);
	if (!S_ISREG(sb.st_mode))
		return open_fail(err, errlen, -EBADF, "%s: not a regular file (wrong --db path?)",
		                 path);
open:
	if ((r = calloc(1, sizeof(*r))) == NULL || (r->path = strdup(path)) == NULL) {
		free(r);
		return open_fail(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	/*
	 * Process-wide, before SQLite's first use: no memory statistics, so no
	 * global mutex around every allocation (Debian's SQLite has no
	 * lookaside, so allocations are many). Fails harmlessly once initialised.
	 */
	static int configured;
	if (!configured) {
		configured = 1;
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	}
	r->rdonly = !(flags & REGISTRY_RDWR);
	r->busy_ms = busy_ms > 0 ? busy_ms : 0;
	oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	if (r->rdonly)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |=
		    SQLITE_OPEN_READWRITE | ((flags & REGISTRY_CREATE) ? SQLITE_OPEN_CREATE : 0);
	if ((rc = db_open(r, oflags, 0)) != 0)
		goto fail;
	rc = open_check(r, flags, &version);
	/*
	 * A reader without write access to the directory cannot create the
	 * -shm file that WAL mode needs. While a writer runs, the -wal and
	 * -shm files exist and the read works; when none runs (no -wal), the
	 * whole registry is in the main file and nothing writes it, so it is
	 * read as immutable. If a writer starts meanwhile, registry_changed
	 * says so (-ESTALE).
	 */
	if ((rc == -EROFS || rc == -EACCES) && r->rdonly && !wal_exists(path)) {
		sqlite3_close_v2(r->db);
		r->db = NULL;
		if ((rc = db_open(r, oflags, 1)) != 0)
			goto fail;
		rc = open_check(r, flags, &version);
	}
	if ((rc == -EROFS || rc == -EACCES) && r->rdonly)
		rc = reg_fail(r, -EACCES,
		              "%s: cannot read it without write access to its directory while "
		              "its WAL is being recovered (run berth as the registry's owner)",
		              path);
	if (rc != 0)
		goto fail;
	if (!r->rdonly) {
		/*
		 * WAL lets readers (berth, the launcher) read while the sidecar
		 * writes; NORMAL is durable across a process crash (a power loss
		 * may drop the last commits, never corrupt the file).
		 */
		if ((rc = set_wal(r)) != 0 ||
		    (rc = exec_sql(r, "PRAGMA synchronous = NORMAL", "set synchronous")) != 0 ||
		    (rc = exec_sql(r, REG_WRITER_PRAGMAS, "set cache and checkpoint")) != 0)
			goto fail;
		if (version < REGISTRY_SCHEMA_VERSION &&
		    (rc = migrate(r, flags & REGISTRY_CREATE)) != 0)
			goto fail;
	}
	if ((flags & REGISTRY_CHECK) && (rc = quick_check(r)) != 0)
		goto fail;
	if ((rc = query_int(r, "PRAGMA data_version", &r->seen_dv)) != 0)
		goto fail;
	if (stat(path, &sb) == 0) {
		r->dev = sb.st_dev;
		r->ino = sb.st_ino;
	}
	r->seen_writes = r->writes;
	*out = r;
	return 0;
fail:
	open_fail(err, errlen, rc, "%s", r->errmsg);
	registry_close(r);
	return rc;
}

int
registry_check_file(struct registry *r)
{
	struct stat sb;

	if (r->immutable)
		return 0;
	if (stat(r->path, &sb) != 0) {
		if (errno == ENOENT)
			return reg_fail(
			    r, -ENOENT,
			    "%s: the registry file was deleted while open; writes go to "
			    "the unlinked file and are lost at the next start (restore "
			    "it, then restart)",
			    r->path);
		return reg_fail(r, -EIO, "%s: cannot stat: %s", r->path, strerror(errno));
	}
	if (sb.st_dev != r->dev || sb.st_ino != r->ino)
		return reg_fail(r, -ESTALE,
		                "%s: the registry file was replaced while open; this process "
		                "still writes the old one (restart it)",
		                r->path);
	return 0;
}

void
registry_close(struct registry *r)
{
	if (r == NULL)
		return;
	if (r->db != NULL) {
		if (r->in_batch)
			rollback_quietly(r);
		for (int i = 0; i < ST__COUNT; i++)
			sqlite3_finalize(r->st[i]);
		sqlite3_close_v2(r->db);
	}
	free(r->path);
	free(r);
}

int
registry_set_cache(struct registry *r, int kib)
{
	char sql[64];

	if (kib < 1)
		return reg_fail(r, -EINVAL, "%s: cache size %d KiB", r->path, kib);
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", kib);
	return exec_sql(r, sql, "set cache size");
}

void
registry_set_busy(struct registry *r, int busy_ms)
{
	r->busy_ms = busy_ms > 0 ? busy_ms : 0;
}

const char *
registry_path(const struct registry *r)
{
	return r->path;
}

const char *
registry_errmsg(const struct registry *r)
{
	return r->errmsg;
}

int
registry_changed(struct registry *r, int *changed)
{
	sqlite3_stmt *st;
	int64_t dv;
	int rc;

	*changed = 0;
	if (r->immutable && wal_exists(r->path))
		return reg_fail(r, -ESTALE,
		                "%s: a writer opened the registry after this reader (run berth "
		                "again)",
		                r->path);
	if ((st = reg_stmt(r, ST_DATA_VERSION)) == NULL)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = reg_sqlerr(r, rc, "data_version");
		sqlite3_reset(st);
		return rc;
	}
	dv = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	*changed = dv != r->seen_dv || r->writes != r->seen_writes;
	r->seen_dv = dv;
	r->seen_writes = r->writes;
	return 0;
}

int
registry_stats(struct registry *r, struct registry_stats *s)
{
	static const enum reg_stmt which[2] = {ST_STATS_BINDINGS, ST_STATS_TENANTS};
	sqlite3_stmt *st;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	for (int k = 0; k < 2; k++) {
		if ((st = reg_stmt(r, which[k])) == NULL)
			return -EIO;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 0);
			int i = k == 0 ? binding_status_parse(name) : tenant_status_parse(name);

			if (i >= 0 && i < 4)
				(k == 0 ? s->bindings : s->tenants)[i] =
				    sqlite3_column_int64(st, 1);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return reg_sqlerr(r, rc, "stats");
	}
	if ((st = reg_stmt(r, ST_STATS_OUTBOX)) == NULL)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		s->outbox_pending = sqlite3_column_int64(st, 0);
		s->outbox_oldest = sqlite3_column_int64(st, 1);
		s->outbox_failing = sqlite3_column_int64(st, 2);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : reg_sqlerr(r, rc, "stats");
}

int
registry_meta_get(struct registry *r, const char *key, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = reg_stmt(r, ST_META_GET)) == NULL)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = reg_col_text(st, 0, out, outlen) == 0 ? 0 : -ERANGE;
	else if (rc == SQLITE_DONE)
		rc = -ENOENT;
	else
		rc = reg_sqlerr(r, rc, "meta get");
	sqlite3_reset(st);
	return rc;
}

int
registry_meta_set(struct registry *r, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc, own;

	if (key == NULL || value == NULL || *key == '\0' || strlen(key) >= REG_META_KEY_MAX ||
	    strlen(value) >= REG_META_VALUE_MAX)
		return reg_fail(r, -EINVAL, "%s: meta key or value empty or too long", r->path);
	if ((rc = reg_write_begin(r, &own)) != 0)
		return rc;
	if ((st = reg_stmt(r, ST_META_SET)) == NULL) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if ((rc = reg_step_done(r, st, "meta set")) == 0)
		r->dirty = 1;
out:
	return reg_write_end(r, own, rc);
}

int
reg_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

int
reg_col_text(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	if (outlen == 0)
		return -ERANGE;
	if (t == NULL) {
		out[0] = '\0';
		return 0;
	}
	if (n >= outlen) {
		memcpy(out, t, outlen - 1);
		out[outlen - 1] = '\0';
		return -ERANGE;
	}
	memcpy(out, t, n + 1);
	return 0;
}

const char *
reg_task_id(const char *task_arn)
{
	const char *slash = strrchr(task_arn, '/');

	return slash != NULL ? slash + 1 : task_arn;
}

int
reg_fits(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}
