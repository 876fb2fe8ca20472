/*
 * registry_tenant: tenant rows (one per subdomain), written by the launcher.
 */
#include "registry/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_int.h"

#define LIST_CHUNK 128

/* Column order of TENANT_COLS in registry.c. */
enum {
	TC_SUBDOMAIN,
	TC_ADMIN_EMAIL,
	TC_COMPANY_NAME,
	TC_STATUS,
	TC_URL,
	TC_HOST_IP,
	TC_HOST_PORT,
	TC_TASK_ARN,
	TC_ERROR,
	TC_CREATED_AT,
	TC_UPDATED_AT,
	TC_VERSION,
	TC_OUTBOX_ID,
	TC_ROWID,
};

struct trow {
	struct tenant t;
	int64_t rowid, outbox_id;
};

/* A reg_read_fn: the current row into the struct trow at arg. */
static int
tenant_read(struct registry *r, sqlite3_stmt *st, void *arg)
{
	struct trow *row = arg;
	struct tenant *t = &row->t;
	char status[16];
	int rc = 0, s;

	memset(t, 0, sizeof(*t));
	row->rowid = sqlite3_column_int64(st, TC_ROWID);
	row->outbox_id = sqlite3_column_int64(st, TC_OUTBOX_ID);
	rc |= reg_col_text(st, TC_SUBDOMAIN, t->subdomain, sizeof(t->subdomain));
	rc |= reg_col_text(st, TC_ADMIN_EMAIL, t->admin_email, sizeof(t->admin_email));
	rc |= reg_col_text(st, TC_COMPANY_NAME, t->company_name, sizeof(t->company_name));
	rc |= reg_col_text(st, TC_STATUS, status, sizeof(status));
	rc |= reg_col_text(st, TC_URL, t->url, sizeof(t->url));
	rc |= reg_col_text(st, TC_HOST_IP, t->host_ip, sizeof(t->host_ip));
	rc |= reg_col_text(st, TC_TASK_ARN, t->task_arn, sizeof(t->task_arn));
	rc |= reg_col_text(st, TC_ERROR, t->error, sizeof(t->error));
	t->host_port = sqlite3_column_int(st, TC_HOST_PORT);
	t->created_at = sqlite3_column_int64(st, TC_CREATED_AT);
	t->updated_at = sqlite3_column_int64(st, TC_UPDATED_AT);
	t->version = sqlite3_column_int64(st, TC_VERSION);
	if (rc != 0 || (s = tenant_status_parse(status)) < 0)
		return reg_fail(r, -EIO, "%s: tenant row with an out-of-bounds value", r->path);
	t->status = (enum tenant_status)s;
	return 0;
}

static void
tenant_bind(sqlite3_stmt *st, const struct tenant *t)
{
	reg_bind_text(st, 1, t->subdomain);
	reg_bind_text(st, 2, t->admin_email);
	reg_bind_text(st, 3, t->company_name);
	reg_bind_text(st, 4, tenant_status_str(t->status));
	reg_bind_text(st, 5, t->url);
	reg_bind_text(st, 6, t->host_ip);
	sqlite3_bind_int(st, 7, t->host_port);
	reg_bind_text(st, 8, t->task_arn);
	reg_bind_text(st, 9, t->error);
	sqlite3_bind_int64(st, 10, t->created_at);
	sqlite3_bind_int64(st, 11, t->updated_at);
	sqlite3_bind_int64(st, 12, t->version);
}

static int
tenant_check(struct registry *r, const struct tenant *t)
{
	if (!reg_fits(t->subdomain, sizeof(t->subdomain)) ||
	    !reg_fits(t->admin_email, sizeof(t->admin_email)) ||
	    !reg_fits(t->company_name, sizeof(t->company_name)) ||
	    !reg_fits(t->url, sizeof(t->url)) || !reg_fits(t->host_ip, sizeof(t->host_ip)) ||
	    !reg_fits(t->task_arn, sizeof(t->task_arn)) || !reg_fits(t->error, sizeof(t->error)))
		return reg_fail(r, -EINVAL, "tenant: a field is not terminated within its cap");
	if (t->subdomain[0] == '\0')
		return reg_fail(r, -EINVAL, "tenant: empty subdomain");
	if ((unsigned)t->status > TENANT_STOPPED)
		return reg_fail(r, -EINVAL, "tenant: bad status %d", (int)t->status);
	if (t->host_port < 0 || t->host_port > 65535)
		return reg_fail(r, -EINVAL, "tenant: host_port %d out of range", t->host_port);
	return 0;
}

/* Runs a one-row tenant query already bound: 1 found (*out filled), 0 absent, or an error. */
static int
tenant_one(struct registry *r, sqlite3_stmt *st, struct trow *out)
{
	return reg_read_rows(r, st, tenant_read, out, sizeof(*out), 1, "tenant lookup");
}

static int
tenant_lookup(struct registry *r, const char *subdomain, struct trow *out)
{
	sqlite3_stmt *st;

	if ((st = reg_stmt(r, ST_TENANT_GET)) == NULL)
		return -EIO;
	reg_bind_text(st, 1, subdomain);
	return tenant_one(r, st, out);
}

int
reg_tenant_by_rowid(struct registry *r, int64_t rowid, struct tenant *out)
{
	struct trow row;
	sqlite3_stmt *st;
	int rc;

	if ((st = reg_stmt(r, ST_TENANT_BY_ROWID)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, rowid);
	if ((rc = tenant_one(r, st, &row)) == 1)
		*out = row.t;
	return rc;
}

/* Writes t and its outbox row; old is the stored row (NULL for an insert). */
static int
tenant_write(struct registry *r, const struct tenant *t, const struct trow *old)
{
	sqlite3_stmt *st;
	int64_t rowid, outbox_id;
	int rc;

	if (old == NULL) {
		if ((st = reg_stmt(r, ST_TENANT_INSERT)) == NULL)
			return -EIO;
		tenant_bind(st, t);
		if ((rc = reg_step_done(r, st, "tenant insert")) != 0)
			return rc;
		r->dirty = 1;
		rowid = sqlite3_last_insert_rowid(r->db);
		if ((rc = reg_outbox_put(r, "tenant", rowid, 0, &outbox_id)) != 0)
			return rc;
		if ((st = reg_stmt(r, ST_TENANT_SET_OUTBOX)) == NULL)
			return -EIO;
		sqlite3_bind_int64(st, 1, rowid);
		sqlite3_bind_int64(st, 2, outbox_id);
	} else {
		if ((rc = reg_outbox_put(r, "tenant", old->rowid, old->outbox_id, &outbox_id)) != 0)
			return rc;
		if ((st = reg_stmt(r, ST_TENANT_UPDATE)) == NULL)
			return -EIO;
		tenant_bind(st, t);
		sqlite3_bind_int64(st, 13, outbox_id);
	}
	if ((rc = reg_step_done(r, st, "tenant write")) != 0)
		return rc;
	r->dirty = 1;
	return 0;
}

/*
 * Inserts t (update 0: -EEXIST when its subdomain is taken) or writes it over
 * the stored row (update 1: -ENOENT when there is none), setting its times
 * and version.
 */
static int
tenant_put(struct registry *r, struct tenant *t, int update)
{
	struct trow old;
	int rc, own, found;

	if (r->rdonly)
		return reg_fail(r, -EROFS, "%s: opened read-only", r->path);
	if ((rc = tenant_check(r, t)) != 0)
		return rc;
	if ((rc = reg_write_begin(r, &own)) != 0)
		return rc;
	if ((found = tenant_lookup(r, t->subdomain, &old)) < 0) {
		rc = found;
		goto out;
	}
	if (found && !update) {
		rc = reg_fail(r, -EEXIST, "tenant %s exists", t->subdomain);
		goto out;
	}
	if (!found && update) {
		rc = reg_fail(r, -ENOENT, "no tenant %s", t->subdomain);
		goto out;
	}
	t->updated_at = registry_now_ms();
	if (t->created_at == 0)
		t->created_at = update ? old.t.created_at : t->updated_at;
	t->version = update ? old.t.version + 1 : 1;
	rc = tenant_write(r, t, update ? &old : NULL);
out:
	return reg_write_end(r, own, rc);
}

int
registry_tenant_insert(struct registry *r, struct tenant *t)
{
	return tenant_put(r, t, 0);
}

int
registry_tenant_update(struct registry *r, struct tenant *t)
{
	return tenant_put(r, t, 1);
}

int
registry_tenant_get(struct registry *r, const char *subdomain, struct tenant *out)
{
	struct trow row;
	int rc;

	if (subdomain == NULL || *subdomain == '\0' || strlen(subdomain) >= REG_SUBDOMAIN_MAX)
		return reg_fail(r, -EINVAL, "tenant get: empty or too long subdomain");
	if ((rc = tenant_lookup(r, subdomain, &row)) == 0)
		return reg_fail(r, -ENOENT, "%s: no tenant %s", r->path, subdomain);
	if (rc < 0)
		return rc;
	*out = row.t;
	return 0;
}

int
registry_tenant_list(struct registry *r, int status, const char *after, int limit,
                     registry_tenant_cb cb, void *arg)
{
	char last[REG_SUBDOMAIN_MAX] = "";
	struct trow *chunk;
	sqlite3_stmt *st;
	int rc = 0, have_last = 0, left = limit > 0 ? limit : -1;
	size_t n, want;

	if (status < -1 || status > TENANT_STOPPED)
		return reg_fail(r, -EINVAL, "tenant list: bad status %d", status);
	if (after != NULL && *after != '\0') {
		if (strlen(after) >= sizeof(last))
			return reg_fail(r, -EINVAL, "tenant list: after too long");
		memcpy(last, after, strlen(after) + 1);
		have_last = 1;
	}
	if ((chunk = reallocarray(NULL, LIST_CHUNK, sizeof(*chunk))) == NULL)
		return -ENOMEM;
	while (left != 0) {
		want = left > 0 && left < LIST_CHUNK ? (size_t)left : LIST_CHUNK;
		if ((st = reg_stmt(r, ST_TENANT_LIST)) == NULL) {
			rc = -EIO;
			break;
		}
		reg_bind_text(st, 1, status >= 0 ? tenant_status_str(status) : NULL);
		reg_bind_text(st, 2, have_last ? last : NULL);
		sqlite3_bind_int64(st, 3, (int64_t)want);
		if ((rc = reg_read_rows(r, st, tenant_read, chunk, sizeof(*chunk), want,
		                        "tenant list")) < 0)
			break;
		n = (size_t)rc;
		rc = 0;
		for (size_t i = 0; i < n; i++)
			if ((rc = cb(&chunk[i].t, arg)) != 0)
				goto out;
		if (n < want)
			break;
		if (left > 0)
			left -= (int)n;
		memcpy(last, chunk[n - 1].t.subdomain, sizeof(last));
		have_last = 1;
	}
out:
	free(chunk);
	return rc;
}

struct collector {
	struct tenant *v;
	size_t n, cap;
};

static int
collect_one(const struct tenant *t, void *arg)
{
	struct collector *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct tenant *nv = reallocarray(c->v, cap, sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = *t;
	return 0;
}

int
registry_tenant_collect(struct registry *r, int status, struct tenant **v, size_t *n)
{
	struct collector c = {NULL, 0, 0};
	int rc = registry_tenant_list(r, status, NULL, 0, collect_one, &c);

	if (rc != 0 && rc != -ENOENT) {
		free(c.v);
		*v = NULL;
		*n = 0;
		return rc;
	}
	*v = c.v;
	*n = c.n;
	return 0;
}
