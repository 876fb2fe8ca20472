/*
 * registry_outbox: rows waiting to be pushed to the sync target. Written in
 * the same transaction as the change they describe; drained by the sync
 * engine, oldest first.
 */
#include "registry/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_int.h"
#include "registry/registry_schema.h"

int
reg_outbox_put(struct registry *r, const char *kind, int64_t ref, int64_t old_outbox_id,
               int64_t *outbox_id)
{
	sqlite3_stmt *st;
	int rc;

	/* The row's pending outbox row is superseded: the body is built from the current row. */
	if (old_outbox_id > 0) {
		if ((st = reg_stmt(r, ST_OUTBOX_DELETE)) == NULL)
			return -EIO;
		sqlite3_bind_int64(st, 1, old_outbox_id);
		if ((rc = reg_step_done(r, st, "outbox supersede")) != 0)
			return rc;
	}
	if ((st = reg_stmt(r, ST_OUTBOX_INSERT)) == NULL)
		return -EIO;
	reg_bind_text(st, 1, kind);
	sqlite3_bind_int64(st, 2, ref);
	sqlite3_bind_int64(st, 3, registry_now_ms());
	if ((rc = reg_step_done(r, st, "outbox insert")) != 0)
		return rc;
	*outbox_id = sqlite3_last_insert_rowid(r->db);
	r->outbox_next = *outbox_id + 1;
	r->dirty = 1;
	return 0;
}

int64_t
reg_outbox_next(struct registry *r)
{
	sqlite3_stmt *st;
	int rc;

	if (r->outbox_next > 0)
		return r->outbox_next;
	if ((st = reg_stmt(r, ST_OUTBOX_SEQ)) == NULL)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r->outbox_next = sqlite3_column_int64(st, 0) + 1;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? r->outbox_next : reg_sqlerr(r, rc, "outbox sequence");
}

/* Cuts s back so that it does not end inside a UTF-8 sequence (after a byte-wise truncation). */
static void
utf8_trim(char *s)
{
	size_t n = strlen(s), i = n;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0 && ((unsigned char)s[i - 1] & 0x80)) {
		unsigned char lead = (unsigned char)s[i - 1];
		size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;

		if (n - (i - 1) < want)
			s[i - 1] = '\0';
	}
}

struct pending {
	struct outbox_row row;
	int64_t ref;
	char *body, *last_error;
};

/* Reads up to max outbox rows (oldest first) with their bodies into rows; *n = count. */
static int
outbox_read(struct registry *r, int max, struct pending *rows, size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if ((st = reg_stmt(r, ST_OUTBOX_PENDING)) == NULL)
		return -EIO;
	sqlite3_bind_int(st, 1, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pending *p = &rows[*n];
		const char *lerr = (const char *)sqlite3_column_text(st, 5);

		p->row.id = sqlite3_column_int64(st, 0);
		if (reg_col_text(st, 1, p->row.kind, sizeof(p->row.kind)) != 0) {
			rc = reg_fail(r, -EIO, "%s: outbox row %lld out of bounds", r->path,
			              (long long)p->row.id);
			break;
		}
		p->ref = sqlite3_column_int64(st, 2);
		p->row.created_at = sqlite3_column_int64(st, 3);
		p->row.attempts = sqlite3_column_int(st, 4);
		p->row.last_attempt_at = sqlite3_column_int64(st, 6);
		if ((p->last_error = strdup(lerr != NULL ? lerr : "")) == NULL) {
			rc = -ENOMEM;
			break;
		}
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = reg_sqlerr(r, rc, "outbox pending");
	/* Bodies and keys from the rows the outbox entries point at. */
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		struct pending *p = &rows[i];
		json_t *j = NULL;
		int found;

		if (strcmp(p->row.kind, "binding") == 0) {
			struct binding b;

			if ((found = reg_binding_by_id(r, p->ref, &b)) < 0) {
				rc = found;
				break;
			}
			if (found) {
				snprintf(p->row.key, sizeof(p->row.key), REGISTRY_BINDING_KEY_FMT,
				         b.task_arn, b.container_name, b.container_port,
				         b.protocol);
				p->row.version = b.version;
				j = binding_to_json(&b);
			}
		} else {
			struct tenant t;

			if ((found = reg_tenant_by_rowid(r, p->ref, &t)) < 0) {
				rc = found;
				break;
			}
			if (found) {
				snprintf(p->row.key, sizeof(p->row.key), "%s", t.subdomain);
				p->row.version = t.version;
				j = tenant_to_json(&t);
			}
		}
		/* A row whose target is gone (only by hand) is skipped; prune never does that. */
		if (!found)
			continue;
		p->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (p->body == NULL)
			rc = -ENOMEM;
	}
	return rc;
}

int
registry_outbox_pending(struct registry *r, int max, registry_outbox_cb cb, void *arg)
{
	struct pending *rows;
	size_t n = 0;
	int rc, read_txn = 0;

	if (max <= 0 || max > REGISTRY_OUTBOX_MAX)
		max = REGISTRY_OUTBOX_MAX;
	if ((rows = calloc((size_t)max, sizeof(*rows))) == NULL)
		return -ENOMEM;
	/*
	 * One read transaction, so each entry's body is the row as of the
	 * entry. Rows are copied out and the transaction ended before the
	 * callbacks run, so a callback may ack or fail rows as it goes.
	 */
	if (sqlite3_get_autocommit(r->db)) {
		sqlite3_stmt *st = reg_stmt(r, ST_BEGIN_READ);

		if (st == NULL) {
			rc = -EIO;
			goto out;
		}
		if ((rc = reg_step_done(r, st, "begin")) != 0)
			goto out;
		read_txn = 1;
	}
	rc = outbox_read(r, max, rows, &n);
	if (read_txn) {
		sqlite3_stmt *st = reg_stmt(r, ST_COMMIT);

		if (st != NULL) {
			sqlite3_step(st);
			sqlite3_reset(st);
		}
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (rows[i].body == NULL)
			continue;
		rows[i].row.body = rows[i].body;
		rows[i].row.last_error = rows[i].last_error;
		rc = cb(&rows[i].row, arg);
	}
out:
	for (size_t i = 0; i < n; i++) {
		free(rows[i].body);
		free(rows[i].last_error);
	}
	free(rows);
	return rc;
}

static int
outbox_write(struct registry *r, enum reg_stmt which, int64_t id, const char *error)
{
	sqlite3_stmt *st;
	int rc, own;

	if ((rc = reg_write_begin(r, &own)) != 0)
		return rc;
	if ((st = reg_stmt(r, which)) == NULL) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	if (which == ST_OUTBOX_FAIL) {
		char msg[REG_ERROR_MAX];

		/* Cap the stored text; a sync error may quote a long response. */
		if (snprintf(msg, sizeof(msg), "%s", error != NULL ? error : "") >=
		    (int)sizeof(msg))
			utf8_trim(msg);
		sqlite3_bind_text(st, 2, msg, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, registry_now_ms());
	}
	if ((rc = reg_step_done(r, st, "outbox update")) != 0)
		goto out;
	if (sqlite3_changes(r->db) > 0)
		r->dirty = 1;
out:
	return reg_write_end(r, own, rc);
}

int
registry_outbox_ack(struct registry *r, int64_t id)
{
	return outbox_write(r, ST_OUTBOX_DELETE, id, NULL);
}

int
registry_outbox_fail(struct registry *r, int64_t id, const char *error)
{
	return outbox_write(r, ST_OUTBOX_FAIL, id, error);
}
