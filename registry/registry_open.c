/*
 * registry_open: opening a registry file. A bad file is classified (missing,
 * not SQLite, foreign, newer, damaged, locked) with one line saying what to
 * do; a writer sets WAL mode and creates or migrates the schema; the file
 * opened is remembered so registry_check_file can tell when it is deleted or
 * replaced underneath.
 */
#include "registry/registry.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "registry/registry_int.h"
#include "registry/registry_schema.h"

static const char *const migrations[] = REGISTRY_MIGRATIONS;
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == REGISTRY_SCHEMA_VERSION,
               "one migration step per schema version");

/* Runs one SQL text (no results wanted) on the handle; maps errors. */
int
reg_exec_sql(struct registry *r, const char *sql, const char *what)
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
		if ((rc = reg_exec_sql(r, migrations[v], sql)) != 0)
			goto out;
		r->dirty = 1;
	}
	if (uv == REGISTRY_SCHEMA_VERSION)
		goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d",
	         REGISTRY_SCHEMA_VERSION, REGISTRY_APPLICATION_ID);
	if ((rc = reg_exec_sql(r, sql, "set schema version")) != 0)
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
int
reg_wal_exists(const char *path)
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
		int code = reg_sql_to_errno(rc);

		return reg_fail(r, code, "%s: cannot open: %s (check the path and its permissions)",
		                r->path, r->db != NULL ? sqlite3_errmsg(r->db) : "out of memory");
	}
	r->immutable = immutable;
	sqlite3_extended_result_codes(r->db, 1);
	sqlite3_busy_handler(r->db, reg_busy_handler, r);
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
	if ((rc == -EROFS || rc == -EACCES) && r->rdonly && !reg_wal_exists(path)) {
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
		    (rc = reg_exec_sql(r, "PRAGMA synchronous = NORMAL", "set synchronous")) != 0 ||
		    (rc = reg_exec_sql(r, REG_WRITER_PRAGMAS, "set cache and checkpoint")) != 0)
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
