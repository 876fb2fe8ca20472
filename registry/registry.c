/*
 * registry: the statement cache, the busy policy, transactions, the change
 * check, stats and meta. Opening a file is registry_open.c's; bindings,
 * tenants, the outbox and JSON live in the other registry_*.c files.
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

int
reg_sql_to_errno(int rc)
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
	int code = reg_sql_to_errno(rc);

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
int
reg_busy_handler(void *arg, int count)
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
	return reg_exec_sql(r, sql, "set cache size");
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
	if (r->immutable && reg_wal_exists(r->path))
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
