/*
 * registry_binding: binding rows (published host ports), their upsert with
 * change detection, stop/remove by container, listing and lookup.
 */
#include "registry/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_int.h"
#include "registry/registry_schema.h"

/* Rows per query when listing: callbacks run between queries, never inside one. */
#define LIST_CHUNK 128

/* Column order of BINDING_COLS in registry.c. */
enum {
	BC_ID,
	BC_TASK_ARN,
	BC_TASK_ID,
	BC_CONTAINER_NAME,
	BC_CONTAINER_ID,
	BC_CONTAINER_PORT,
	BC_PROTOCOL,
	BC_HOST_IP,
	BC_HOST_PORT,
	BC_HOST_PORT_V6,
	BC_STATUS,
	BC_EXIT_CODE,
	BC_TENANT,
	BC_CLUSTER,
	BC_FAMILY,
	BC_REVISION,
	BC_STARTED_AT,
	BC_STOPPED_AT,
	BC_UPDATED_AT,
	BC_VERSION,
	BC_OUTBOX_ID,
};

/* A stored binding with its row id and pending outbox row. */
struct brow {
	struct binding b;
	int64_t id, outbox_id;
};

/*
 * A reg_read_fn: the current row of a BINDING_COLS query into the struct brow
 * at arg. -EIO when a stored value is out of bounds.
 */
static int
binding_read(struct registry *r, sqlite3_stmt *st, void *arg)
{
	struct brow *row = arg;
	struct binding *b = &row->b;
	int rc = 0, s;
	char status[16];

	memset(b, 0, sizeof(*b));
	row->id = sqlite3_column_int64(st, BC_ID);
	row->outbox_id = sqlite3_column_int64(st, BC_OUTBOX_ID);
	rc |= reg_col_text(st, BC_TASK_ARN, b->task_arn, sizeof(b->task_arn));
	rc |= reg_col_text(st, BC_TASK_ID, b->task_id, sizeof(b->task_id));
	rc |= reg_col_text(st, BC_CONTAINER_NAME, b->container_name, sizeof(b->container_name));
	rc |= reg_col_text(st, BC_CONTAINER_ID, b->container_id, sizeof(b->container_id));
	rc |= reg_col_text(st, BC_PROTOCOL, b->protocol, sizeof(b->protocol));
	rc |= reg_col_text(st, BC_HOST_IP, b->host_ip, sizeof(b->host_ip));
	rc |= reg_col_text(st, BC_STATUS, status, sizeof(status));
	rc |= reg_col_text(st, BC_TENANT, b->tenant, sizeof(b->tenant));
	rc |= reg_col_text(st, BC_CLUSTER, b->cluster, sizeof(b->cluster));
	rc |= reg_col_text(st, BC_FAMILY, b->family, sizeof(b->family));
	rc |= reg_col_text(st, BC_REVISION, b->revision, sizeof(b->revision));
	b->container_port = sqlite3_column_int(st, BC_CONTAINER_PORT);
	b->host_port = sqlite3_column_int(st, BC_HOST_PORT);
	b->host_port_v6 = sqlite3_column_int(st, BC_HOST_PORT_V6);
	b->has_exit_code = sqlite3_column_type(st, BC_EXIT_CODE) != SQLITE_NULL;
	b->exit_code = b->has_exit_code ? sqlite3_column_int(st, BC_EXIT_CODE) : 0;
	b->started_at = sqlite3_column_int64(st, BC_STARTED_AT);
	b->stopped_at = sqlite3_column_int64(st, BC_STOPPED_AT);
	b->updated_at = sqlite3_column_int64(st, BC_UPDATED_AT);
	b->version = sqlite3_column_int64(st, BC_VERSION);
	if (rc != 0 || (s = binding_status_parse(status)) < 0)
		return reg_fail(r, -EIO, "%s: binding row with an out-of-bounds value", r->path);
	b->status = (enum binding_status)s;
	return 0;
}

static void
binding_bind(sqlite3_stmt *st, const struct binding *b)
{
	reg_bind_text(st, 1, b->task_arn);
	reg_bind_text(st, 2, b->task_id);
	reg_bind_text(st, 3, b->container_name);
	reg_bind_text(st, 4, b->container_id);
	sqlite3_bind_int(st, 5, b->container_port);
	reg_bind_text(st, 6, b->protocol);
	reg_bind_text(st, 7, b->host_ip);
	sqlite3_bind_int(st, 8, b->host_port);
	sqlite3_bind_int(st, 9, b->host_port_v6);
	reg_bind_text(st, 10, binding_status_str(b->status));
	if (b->has_exit_code)
		sqlite3_bind_int(st, 11, b->exit_code);
	else
		sqlite3_bind_null(st, 11);
	reg_bind_text(st, 12, b->tenant);
	reg_bind_text(st, 13, b->cluster);
	reg_bind_text(st, 14, b->family);
	reg_bind_text(st, 15, b->revision);
	sqlite3_bind_int64(st, 16, b->started_at);
	sqlite3_bind_int64(st, 17, b->stopped_at);
	sqlite3_bind_int64(st, 18, b->updated_at);
	sqlite3_bind_int64(st, 19, b->version);
}

static int
valid_proto(const char *p)
{
	return strcmp(p, "tcp") == 0 || strcmp(p, "udp") == 0 || strcmp(p, "sctp") == 0;
}

/* Checks bounds and derives task_id. -EINVAL with the reason on the handle. */
static int
binding_check(struct registry *r, struct binding *b)
{
	const char *slash, *id;

	if (!reg_fits(b->task_arn, sizeof(b->task_arn)) ||
	    !reg_fits(b->container_name, sizeof(b->container_name)) ||
	    !reg_fits(b->container_id, sizeof(b->container_id)) ||
	    !reg_fits(b->protocol, sizeof(b->protocol)) ||
	    !reg_fits(b->host_ip, sizeof(b->host_ip)) || !reg_fits(b->tenant, sizeof(b->tenant)) ||
	    !reg_fits(b->cluster, sizeof(b->cluster)) || !reg_fits(b->family, sizeof(b->family)) ||
	    !reg_fits(b->revision, sizeof(b->revision)))
		return reg_fail(r, -EINVAL, "binding: a field is not terminated within its cap");
	if (b->task_arn[0] == '\0')
		return reg_fail(r, -EINVAL, "binding: empty task_arn");
	if (b->container_port < 1 || b->container_port > 65535)
		return reg_fail(r, -EINVAL, "binding: container_port %d out of range",
		                b->container_port);
	if (b->host_port < 0 || b->host_port > 65535 || b->host_port_v6 < 0 ||
	    b->host_port_v6 > 65535)
		return reg_fail(r, -EINVAL, "binding: host port out of range");
	if (!valid_proto(b->protocol))
		return reg_fail(r, -EINVAL, "binding: protocol \"%s\" is not tcp, udp or sctp",
		                b->protocol);
	if ((unsigned)b->status > BINDING_REMOVED)
		return reg_fail(r, -EINVAL, "binding: bad status %d", (int)b->status);
	if (b->started_at < 0 || b->stopped_at < 0)
		return reg_fail(r, -EINVAL, "binding: negative time");
	slash = strrchr(b->task_arn, '/');
	id = slash != NULL ? slash + 1 : b->task_arn;
	if (*id == '\0' || strlen(id) >= sizeof(b->task_id))
		return reg_fail(r, -EINVAL, "binding: cannot derive a task id from \"%s\"",
		                b->task_arn);
	memcpy(b->task_id, id, strlen(id) + 1);
	if (!b->has_exit_code)
		b->exit_code = 0;
	return 0;
}

/* 1 when a and b agree on every field but the timestamps and the version. */
static int
binding_same(const struct binding *a, const struct binding *b)
{
	return strcmp(a->task_id, b->task_id) == 0 &&
	       strcmp(a->container_id, b->container_id) == 0 &&
	       strcmp(a->host_ip, b->host_ip) == 0 && a->host_port == b->host_port &&
	       a->host_port_v6 == b->host_port_v6 && a->status == b->status &&
	       a->has_exit_code == b->has_exit_code && a->exit_code == b->exit_code &&
	       strcmp(a->tenant, b->tenant) == 0 && strcmp(a->cluster, b->cluster) == 0 &&
	       strcmp(a->family, b->family) == 0 && strcmp(a->revision, b->revision) == 0;
}

/* Writes the changed binding b (version and updated_at set) over the stored row old. */
static int
binding_write(struct registry *r, const struct binding *b, const struct brow *old)
{
	sqlite3_stmt *st;
	int64_t outbox_id = 0;
	int rc;

	if ((rc = reg_outbox_put(r, "binding", old->id, old->outbox_id, &outbox_id)) != 0)
		return rc;
	if ((st = reg_stmt(r, ST_BINDING_UPDATE)) == NULL)
		return -EIO;
	binding_bind(st, b);
	sqlite3_bind_int64(st, 20, outbox_id);
	sqlite3_bind_int64(st, 21, old->id);
	if ((rc = reg_step_done(r, st, "binding write")) != 0)
		return rc;
	r->dirty = 1;
	return 0;
}

/*
 * Inserts b as a new binding (version 1) with its outbox row, unless its key
 * exists: 0 inserted, 1 the key exists (nothing written), or an error. The
 * binding row names the outbox row the next AUTOINCREMENT id will be; the
 * write lock is held, so it is, and a mismatch is repaired all the same.
 */
static int
binding_insert_new(struct registry *r, const struct binding *in)
{
	struct binding b = *in;
	sqlite3_stmt *st;
	int64_t id = 0, predicted = 0, outbox_id;
	int rc;

	b.version = 1;
	b.updated_at = registry_now_ms();
	if ((b.status == BINDING_STOPPED || b.status == BINDING_REMOVED) && b.stopped_at == 0)
		b.stopped_at = b.updated_at;
	if ((predicted = reg_outbox_next(r)) <= 0)
		return predicted < 0 ? (int)predicted : -EIO;
	if ((st = reg_stmt(r, ST_BINDING_INSERT_NEW)) == NULL)
		return -EIO;
	binding_bind(st, &b);
	sqlite3_bind_int64(st, 20, predicted);
	if ((rc = reg_step_done(r, st, "binding insert")) != 0)
		return rc;
	if (sqlite3_changes(r->db) == 0)
		return 1; /* the key exists */
	r->dirty = 1;
	id = sqlite3_last_insert_rowid(r->db);
	if ((st = reg_stmt(r, ST_OUTBOX_INSERT)) == NULL)
		return -EIO;
	reg_bind_text(st, 1, "binding");
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, b.updated_at);
	if ((rc = reg_step_done(r, st, "outbox insert")) != 0)
		return rc;
	outbox_id = sqlite3_last_insert_rowid(r->db);
	r->outbox_next = outbox_id + 1;
	if (outbox_id == predicted)
		return 0;
	if ((st = reg_stmt(r, ST_BINDING_SET_OUTBOX)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, outbox_id);
	return reg_step_done(r, st, "binding insert");
}

/* Looks the binding up by its key: 1 found (*out filled), 0 absent, or a negative code. */
static int
binding_by_key(struct registry *r, const struct binding *k, struct brow *out)
{
	sqlite3_stmt *st;

	if ((st = reg_stmt(r, ST_BINDING_BY_KEY)) == NULL)
		return -EIO;
	reg_bind_text(st, 1, k->task_arn);
	reg_bind_text(st, 2, k->container_name);
	sqlite3_bind_int(st, 3, k->container_port);
	reg_bind_text(st, 4, k->protocol);
	reg_bind_text(st, 5, k->task_id);
	return reg_read_rows(r, st, binding_read, out, sizeof(*out), 1, "binding lookup");
}

int
reg_binding_by_id(struct registry *r, int64_t id, struct binding *out)
{
	struct brow row;
	sqlite3_stmt *st;
	int rc;

	if ((st = reg_stmt(r, ST_BINDING_BY_ID)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = reg_read_rows(r, st, binding_read, &row, sizeof(row), 1, "binding by id")) == 1)
		*out = row.b;
	return rc;
}

int
registry_binding_upsert(struct registry *r, const struct binding *in, int *changed)
{
	struct binding b = *in;
	struct brow old;
	int rc, own, found;

	if (changed != NULL)
		*changed = 0;
	if (r->rdonly)
		return reg_fail(r, -EROFS, "%s: opened read-only", r->path);
	if ((rc = binding_check(r, &b)) != 0)
		return rc;
	if ((rc = reg_write_begin(r, &own)) != 0)
		return rc;
	/* The common case in bulk is a new binding: try that first, in two statements. */
	if ((rc = binding_insert_new(r, &b)) <= 0) {
		if (rc == 0 && changed != NULL)
			*changed = 1;
		goto out;
	}
	rc = 0;
	if ((found = binding_by_key(r, &b, &old)) <= 0) {
		/* The insert met the key, so the row is there. */
		rc = found < 0 ? found : reg_fail(r, -EIO, "%s: binding key vanished", r->path);
		goto out;
	}
	if (strcmp(old.b.task_arn, b.task_arn) != 0) {
		rc = reg_fail(r, -EEXIST, "binding: task id %s already belongs to %s", b.task_id,
		              old.b.task_arn);
		goto out;
	}
	if (binding_same(&old.b, &b))
		goto out;
	if (b.started_at == 0)
		b.started_at = old.b.started_at;
	if (b.stopped_at == 0)
		b.stopped_at = old.b.stopped_at;
	b.version = old.b.version + 1;
	b.updated_at = registry_now_ms();
	if ((b.status == BINDING_STOPPED || b.status == BINDING_REMOVED) && b.stopped_at == 0)
		b.stopped_at = b.updated_at;
	if ((rc = binding_write(r, &b, &old)) == 0 && changed != NULL)
		*changed = 1;
out:
	return reg_write_end(r, own, rc);
}

/*
 * Moves every binding of container_id (only the live ones when live_only) to
 * status, in one transaction. Rows are read first, then written, so no
 * statement is open while writing.
 */
static int
container_move(struct registry *r, const char *container_id, int live_only,
               enum binding_status status, int has_exit_code, int exit_code, int64_t when_ms,
               int *n)
{
	struct brow *rows = NULL, *tmp;
	size_t nrows = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, own;
	int64_t now;

	if (n != NULL)
		*n = 0;
	if (r->rdonly)
		return reg_fail(r, -EROFS, "%s: opened read-only", r->path);
	if (container_id == NULL || *container_id == '\0' || strlen(container_id) >= REG_ID_MAX)
		return reg_fail(r, -EINVAL, "container id empty or too long");
	if ((rc = reg_write_begin(r, &own)) != 0)
		return rc;
	if ((st = reg_stmt(r, ST_BINDING_BY_CONTAINER)) == NULL) {
		rc = -EIO;
		goto out;
	}
	reg_bind_text(st, 1, container_id);
	sqlite3_bind_int(st, 2, live_only);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nrows == cap) {
			cap = cap ? cap * 2 : 8;
			if ((tmp = reallocarray(rows, cap, sizeof(*rows))) == NULL) {
				rc = -ENOMEM;
				break;
			}
			rows = tmp;
		}
		if ((rc = binding_read(r, st, &rows[nrows])) != 0)
			break;
		nrows++;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = reg_sqlerr(r, rc, "bindings of container");
	if (rc != 0)
		goto out;
	now = registry_now_ms();
	for (size_t i = 0; i < nrows; i++) {
		struct binding *b = &rows[i].b;

		b->status = status;
		if (has_exit_code) {
			b->has_exit_code = 1;
			b->exit_code = exit_code;
		}
		if (b->stopped_at == 0 || status == BINDING_STOPPED)
			b->stopped_at = when_ms > 0 ? when_ms : now;
		b->updated_at = now;
		b->version++;
		if ((rc = binding_write(r, b, &rows[i])) != 0)
			goto out;
	}
	if (n != NULL)
		*n = (int)nrows;
out:
	free(rows);
	return reg_write_end(r, own, rc);
}

int
registry_container_stopped(struct registry *r, const char *container_id, int has_exit_code,
                           int exit_code, int64_t when_ms, int *n)
{
	return container_move(r, container_id, 1, BINDING_STOPPED, has_exit_code, exit_code,
	                      when_ms, n);
}

int
registry_container_removed(struct registry *r, const char *container_id, int64_t when_ms, int *n)
{
	return container_move(r, container_id, 0, BINDING_REMOVED, 0, 0, when_ms, n);
}

static const char *
empty_null(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

int
registry_binding_list(struct registry *r, const struct binding_filter *f, registry_binding_cb cb,
                      void *arg)
{
	static const struct binding_filter all = {NULL, NULL, NULL, -1, 0};
	struct brow *chunk;
	sqlite3_stmt *st;
	int64_t last_id = 0;
	int rc = 0;
	size_t n;

	if (f == NULL)
		f = &all;
	if (f->status < -1 || f->status > BINDING_REMOVED)
		return reg_fail(r, -EINVAL, "binding filter: bad status %d", f->status);
	if (f->task != NULL && strlen(f->task) >= REG_ARN_MAX)
		return reg_fail(r, -EINVAL, "binding filter: task too long");
	if ((chunk = reallocarray(NULL, LIST_CHUNK, sizeof(*chunk))) == NULL)
		return -ENOMEM;
	for (;;) {
		if ((st = reg_stmt(r, ST_BINDING_LIST)) == NULL) {
			rc = -EIO;
			break;
		}
		reg_bind_text(st, 1, empty_null(f->task));
		reg_bind_text(st, 9, empty_null(f->task) != NULL ? reg_task_id(f->task) : NULL);
		reg_bind_text(st, 3, empty_null(f->tenant));
		reg_bind_text(st, 4, empty_null(f->container_id));
		reg_bind_text(st, 5, f->status >= 0 ? binding_status_str(f->status) : NULL);
		sqlite3_bind_int(st, 6, f->include_removed != 0);
		sqlite3_bind_int64(st, 7, last_id);
		sqlite3_bind_int(st, 8, LIST_CHUNK);
		if ((rc = reg_read_rows(r, st, binding_read, chunk, sizeof(*chunk), LIST_CHUNK,
		                        "binding list")) < 0)
			break;
		n = (size_t)rc;
		rc = 0;
		if (n > 0)
			last_id = chunk[n - 1].id;
		for (size_t i = 0; i < n; i++)
			if ((rc = cb(&chunk[i].b, arg)) != 0)
				goto out;
		if (n < LIST_CHUNK)
			break;
	}
out:
	free(chunk);
	return rc;
}

int
registry_binding_get(struct registry *r, const char *task, struct binding *out)
{
	struct brow row;
	sqlite3_stmt *st;
	int rc;

	if (task == NULL || *task == '\0' || strlen(task) >= REG_ARN_MAX)
		return reg_fail(r, -EINVAL, "binding get: empty or too long task");
	if ((st = reg_stmt(r, ST_BINDING_GET)) == NULL)
		return -EIO;
	reg_bind_text(st, 1, task);
	reg_bind_text(st, 9, reg_task_id(task));
	if ((rc = reg_read_rows(r, st, binding_read, &row, sizeof(row), 1, "binding get")) < 0)
		return rc;
	if (rc == 0)
		return reg_fail(r, -ENOENT, "%s: no binding for task %s", r->path, task);
	*out = row.b;
	return 0;
}

int
registry_prune(struct registry *r, int64_t older_than_ms, int *n)
{
	sqlite3_stmt *st;
	int rc, own;

	if (n != NULL)
		*n = 0;
	if ((rc = reg_write_begin(r, &own)) != 0)
		return rc;
	if ((st = reg_stmt(r, ST_BINDING_PRUNE)) == NULL) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, older_than_ms);
	if ((rc = reg_step_done(r, st, "prune")) != 0)
		goto out;
	if (sqlite3_changes(r->db) > 0)
		r->dirty = 1;
	if (n != NULL)
		*n = sqlite3_changes(r->db);
out:
	return reg_write_end(r, own, rc);
}
