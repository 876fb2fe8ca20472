/*
 * ddb: claims subdomains in the DynamoDB table and runs the outbox sync
 * (launcher/ddb.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "launcher/ddb.h"
#include "launcher/launcher.h"
#include "registry/item.h"
#include "registry/reserve.h"
#include "registry/sync.h"

#define DDB_OWNER_MAX 128

struct launcher_ddb {
	struct sync *sync;
	char table[DDB_TABLE_MAX + 1];
	char owner[DDB_OWNER_MAX];
};

/* One claim: a reservation, the judging of what beat it, a takeover at most once. */
struct claim {
	struct launcher *l;
	struct tenant t;
	ddb_claim_cb cb;
	void *arg;
	int took_over;
};

int
launcher_ddb_open(struct launcher *l, const char *table, char *err, size_t errlen)
{
	struct launcher_ddb *d;
	char host[64];

	if (strlen(table) > DDB_TABLE_MAX) {
		snprintf(err, errlen, "--dynamodb-table: longer than %d bytes", DDB_TABLE_MAX);
		return -1;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(d->table, sizeof(d->table), "%s", table);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(d->owner, sizeof(d->owner), "berth-launcher@%s:%d", host, (int)getpid());
	if ((d->sync = sync_new(l->base, l->reg, l->aws, table, NULL, err, errlen)) == NULL) {
		free(d);
		return -1;
	}
	l->ddb = d;
	log_info("dynamodb table=%s owner=%s region=%s", table, d->owner, aws_region(l->aws));
	return 0;
}

void
launcher_ddb_close(struct launcher *l)
{
	struct launcher_ddb *d = l->ddb;

	if (d == NULL)
		return;
	sync_stop(d->sync);
	free(d);
	l->ddb = NULL;
}

const char *
launcher_ddb_owner(const struct launcher *l)
{
	return l->ddb != NULL ? l->ddb->owner : "";
}

static void on_reserved(int err, const char *msg, json_t *existing, void *arg);

static void
claim_end(struct claim *c, const struct ddb_claim_result *res)
{
	c->cb(res, c->arg);
	free(c);
}

/* The item that beat the claim, judged (existing: plain JSON, or NULL when unread). */
static void
claim_judge(struct claim *c, const json_t *existing)
{
	struct item_judgement j;
	struct ddb_claim_result res = {.outcome = DDB_CONFLICT};
	const char *by;

	item_judge(existing, &c->t, registry_now_ms(), launcher_ddb_owner(c->l), &j);
	if (j.verdict == ITEM_STALE && c->took_over)
		j.verdict = ITEM_IN_FLIGHT; /* another launcher took it over first */
	switch (j.verdict) {
	case ITEM_OTHER_DETAILS:
		res.field = j.field;
		break;
	case ITEM_SAME_RUNNING:
		res.outcome = DDB_SAME_RUNNING;
		res.tenant = &j.tenant;
		break;
	case ITEM_IN_FLIGHT:
		res.outcome = DDB_IN_FLIGHT;
		break;
	case ITEM_STALE:
		/* Left by a launcher that stopped before it finished: take it over, once. */
		by = json_string_value(json_object_get(existing, "reserved_by"));
		log_warnx("dynamodb_item_stale tenant=%s version=%lld created_at=%s "
		          "reserved_by=\"%s\"",
		          c->t.subdomain, (long long)j.version, j.created, by != NULL ? by : "");
		c->took_over = 1;
		if (reserve_tenant(c->l->aws, c->l->ddb->table, &c->t, launcher_ddb_owner(c->l),
		                   &(struct reserve_takeover){j.version, j.created}, on_reserved,
		                   c) == 0)
			return; /* c lives on */
		res.outcome = DDB_ERROR;
		res.errmsg = "out of memory";
		break;
	case ITEM_TAKEN:
	default:
		break;
	}
	claim_end(c, &res);
}

static void
on_reserved(int err, const char *msg, json_t *existing, void *arg)
{
	struct claim *c = arg;
	struct tenant mine;

	if (err == 0)
		claim_end(c, &(struct ddb_claim_result){.outcome = DDB_CLAIMED});
	else if (err != -EEXIST)
		claim_end(c, &(struct ddb_claim_result){.outcome = DDB_ERROR, .errmsg = msg});
	else if (registry_tenant_get(c->l->reg, c->t.subdomain, &mine) == 0)
		/* Taken by this launcher meanwhile (the same POST twice). */
		claim_end(c, &(struct ddb_claim_result){.outcome = DDB_MINE});
	else
		claim_judge(c, existing);
}

int
launcher_ddb_claim(struct launcher *l, const struct tenant *t, ddb_claim_cb cb, void *arg)
{
	struct claim *c;
	int rc;

	if (l->ddb == NULL)
		return -ENOTSUP;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	*c = (struct claim){.l = l, .t = *t, .cb = cb, .arg = arg};
	rc = reserve_tenant(l->aws, l->ddb->table, t, launcher_ddb_owner(l), NULL, on_reserved, c);
	if (rc != 0)
		free(c);
	return rc;
}

/* --- read-your-writes --------------------------------------------------------- */

struct ddb_record {
	struct launcher *l;
	json_t *item;
	char subdomain[REG_SUBDOMAIN_MAX];
	int64_t version, deadline_ms;
	struct backoff backoff;
	struct aws_call *call;
	struct event *timer;
	ddb_record_cb cb;
	void *arg;
};

static int record_send(struct ddb_record *);

static void
record_free(struct ddb_record *w)
{
	if (w->timer != NULL)
		event_free(w->timer);
	json_decref(w->item);
	free(w);
}

static void
record_again(evutil_socket_t fd, short what, void *arg)
{
	struct ddb_record *w = arg;

	(void)fd;
	(void)what;
	if (record_send(w) != 0) {
		w->cb(-ENOMEM, "the DynamoDB write could not start", w->arg);
		record_free(w);
	}
}

static void
record_done(const struct aws_result *r, void *arg)
{
	struct ddb_record *w = arg;
	char msg[768];
	long ms;

	w->call = NULL;
	/* A failed condition: the table already holds this version or a newer one. */
	if (r->error == 0 || strcmp(r->aerr.code, "ConditionalCheckFailedException") == 0) {
		w->cb(0, "", w->arg);
		record_free(w);
		return;
	}
	aws_result_str(r, msg, sizeof(msg));
	ms = backoff_next(&w->backoff);
	if (clock_mono_ms() + ms < w->deadline_ms &&
	    (w->timer != NULL || (w->timer = evtimer_new(w->l->base, record_again, w)) != NULL)) {
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

		log_info("dynamodb_record_retry tenant=%s ms=%ld error=\"%s\"", w->subdomain, ms,
		         msg);
		evtimer_add(w->timer, &tv);
		return;
	}
	w->cb(r->error != 0 ? r->error : -EIO, msg, w->arg);
	record_free(w);
}

static int
record_send(struct ddb_record *w)
{
	char v[24];

	snprintf(v, sizeof(v), "%lld", (long long)w->version);
	w->call = ddb_put_item(w->l->aws, w->l->ddb->table, json_incref(w->item), ITEM_NEWER_ONLY,
	                       item_condition_names(), json_pack("{s:{s:s}}", ":v", "N", v),
	                       record_done, w);
	return w->call != NULL ? 0 : -ENOMEM;
}

struct ddb_record *
launcher_ddb_record(struct launcher *l, const struct tenant *t, int64_t deadline_ms,
                    ddb_record_cb cb, void *arg)
{
	struct ddb_record *w;

	if (l->ddb == NULL || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->item = item_from_tenant(t)) == NULL) {
		free(w);
		return NULL;
	}
	w->l = l;
	snprintf(w->subdomain, sizeof(w->subdomain), "%s", t->subdomain);
	w->version = t->version;
	w->deadline_ms = deadline_ms;
	w->backoff = (struct backoff)BACKOFF_INIT(100, 2000);
	w->cb = cb;
	w->arg = arg;
	if (record_send(w) != 0) {
		record_free(w);
		return NULL;
	}
	return w;
}

void
launcher_ddb_record_cancel(struct ddb_record *w)
{
	if (w == NULL)
		return;
	if (w->call != NULL)
		aws_call_cancel(w->call);
	record_free(w);
}
