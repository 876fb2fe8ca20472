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

int
reg_outbox_put(struct registry *r, const char *kind, const char *key, int64_t version, json_t *body)
{
	sqlite3_stmt *st;
	char *text;
	int rc;

	if (body == NULL)
		return reg_fail(r, -ENOMEM, "outbox: out of memory");
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return reg_fail(r, -ENOMEM, "outbox: out of memory");
	/* A pending row of the same key is superseded: the new body is the whole row. */
	if ((st = reg_stmt(r, ST_OUTBOX_SUPERSEDE)) == NULL) {
		rc = -EIO;
		goto out;
	}
	reg_bind_text(st, 1, kind);
	reg_bind_text(st, 2, key);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = reg_sqlerr(r, rc, "outbox supersede");
		goto out;
	}
	if ((st = reg_stmt(r, ST_OUTBOX_INSERT)) == NULL) {
		rc = -EIO;
		goto out;
	}
	reg_bind_text(st, 1, kind);
	reg_bind_text(st, 2, key);
	sqlite3_bind_int64(st, 3, version);
	reg_bind_text(st, 4, text);
	sqlite3_bind_int64(st, 5, registry_now_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : reg_sqlerr(r, rc, "outbox insert");
	if (rc == 0)
		r->dirty = 1;
out:
	free(text);
	return rc;
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
	char *body, *last_error;
};

int
registry_outbox_pending(struct registry *r, int max, registry_outbox_cb cb, void *arg)
{
	struct pending *rows;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if (max <= 0 || max > REGISTRY_OUTBOX_MAX)
		max = REGISTRY_OUTBOX_MAX;
	if ((rows = calloc((size_t)max, sizeof(*rows))) == NULL)
		return -ENOMEM;
	if ((st = reg_stmt(r, ST_OUTBOX_PENDING)) == NULL) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int(st, 1, max);
	/*
	 * Rows are copied out and the statement finished before the callbacks
	 * run, so a callback may ack or fail rows (writes) as it goes.
	 */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pending *p = &rows[n];
		const char *body = (const char *)sqlite3_column_text(st, 4);
		const char *lerr = (const char *)sqlite3_column_text(st, 7);

		p->row.id = sqlite3_column_int64(st, 0);
		if (reg_col_text(st, 1, p->row.kind, sizeof(p->row.kind)) != 0 ||
		    reg_col_text(st, 2, p->row.key, sizeof(p->row.key)) != 0) {
			rc = reg_fail(r, -EIO, "%s: outbox row %lld out of bounds", r->path,
			              (long long)p->row.id);
			break;
		}
		p->row.version = sqlite3_column_int64(st, 3);
		p->row.created_at = sqlite3_column_int64(st, 5);
		p->row.attempts = sqlite3_column_int(st, 6);
		p->row.last_attempt_at = sqlite3_column_int64(st, 8);
		p->body = strdup(body != NULL ? body : "");
		p->last_error = strdup(lerr != NULL ? lerr : "");
		n++;
		if (p->body == NULL || p->last_error == NULL) {
			rc = -ENOMEM;
			break;
		}
		p->row.body = p->body;
		p->row.last_error = p->last_error;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = reg_sqlerr(r, rc, "outbox pending");
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = cb(&rows[i].row, arg);
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
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = reg_sqlerr(r, rc, "outbox update");
		goto out;
	}
	rc = 0;
	if (sqlite3_changes(r->db) > 0)
		r->dirty = 1;
out:
	return reg_write_end(r, own, rc);
}

int
registry_outbox_ack(struct registry *r, int64_t id)
{
	return outbox_write(r, ST_OUTBOX_ACK, id, NULL);
}

int
registry_outbox_fail(struct registry *r, int64_t id, const char *error)
{
	return outbox_write(r, ST_OUTBOX_FAIL, id, error);
}
