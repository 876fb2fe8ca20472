/*
 * The launcher's DynamoDB side: subdomain reservation and the outbox sync.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/aws_creds.h"
#include "core/log.h"
#include "launcher/ddb.h"
#include "launcher/launcher.h"
#include "registry/sync.h"

#define DDB_OWNER_MAX 128

struct launcher_ddb {
	void *service; /* sync_service_start's handle: its own AWS client and the sync */
	struct aws *aws;
	char table[256];
	char owner[DDB_OWNER_MAX];
};

int
launcher_ddb_open(struct launcher *l, const char *table, char *err, size_t errlen)
{
	struct launcher_ddb *d;
	char host[64], aerr[256];

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(d->table, sizeof(d->table), "%s", table);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(d->owner, sizeof(d->owner), "berth-launcher@%s:%d", host, (int)getpid());
	if ((d->aws = aws_new(l->base, l->curl, aerr, sizeof(aerr))) == NULL) {
		snprintf(err, errlen, "--dynamodb-table: AWS: %s", aerr);
		free(d);
		return -1;
	}
	if ((d->service = sync_service_start(l->base, l->curl, l->reg, table, NULL, err, errlen)) ==
	    NULL) {
		aws_free(d->aws);
		free(d);
		return -1;
	}
	l->ddb = d;
	log_info("dynamodb table=%s owner=%s", table, d->owner);
	return 0;
}

void
launcher_ddb_close(struct launcher *l)
{
	struct launcher_ddb *d = l->ddb;

	if (d == NULL)
		return;
	sync_service_stop(d->service);
	aws_free(d->aws);
	free(d);
	l->ddb = NULL;
}

int
launcher_ddb_reserve(struct launcher *l, const struct tenant *t, const struct sync_takeover *over,
                     sync_reserve_cb cb, void *arg)
{
	struct launcher_ddb *d = l->ddb;

	if (d == NULL)
		return -ENOTSUP;
	return sync_reserve_tenant(d->aws, d->table, t, d->owner, over, cb, arg);
}

const char *
launcher_ddb_owner(const struct launcher *l)
{
	return l->ddb != NULL ? l->ddb->owner : "";
}

/* The string at key, "" when absent; NULL when present but not a string. */
static const char *
item_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return "";
	return json_string_value(v);
}

/* Copies a string attribute into a tenant field; -1 when it is not a string or does not fit. */
static int
copy_str(char *dst, size_t dstlen, const json_t *o, const char *key)
{
	const char *v = item_str(o, key);

	if (v == NULL || strlen(v) >= dstlen)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* The tenant a synced tenant item describes; NULL when the item is not one. */
static struct tenant *
item_tenant(const json_t *o)
{
	struct tenant *t = calloc(1, sizeof(*t));
	json_int_t port = json_integer_value(json_object_get(o, "host_port"));
	json_int_t version = json_integer_value(json_object_get(o, "version"));

	if (t == NULL)
		return NULL;
	if (copy_str(t->subdomain, sizeof(t->subdomain), o, "subdomain") != 0 ||
	    copy_str(t->admin_email, sizeof(t->admin_email), o, "admin_email") != 0 ||
	    copy_str(t->company_name, sizeof(t->company_name), o, "company_name") != 0 ||
	    copy_str(t->url, sizeof(t->url), o, "url") != 0 ||
	    copy_str(t->host_ip, sizeof(t->host_ip), o, "host_ip") != 0 ||
	    copy_str(t->task_arn, sizeof(t->task_arn), o, "task_arn") != 0 ||
	    copy_str(t->error, sizeof(t->error), o, "error") != 0 || port < 0 || port > 65535 ||
	    version < 1) {
		free(t);
		return NULL;
	}
	t->status = tenant_status_parse(item_str(o, "status"));
	t->host_port = (int)port;
	t->version = (int64_t)version;
	t->created_at = aws_time_parse_iso8601(item_str(o, "created_at"));
	t->updated_at = aws_time_parse_iso8601(item_str(o, "updated_at"));
	if (t->created_at < 0)
		t->created_at = 0;
	if (t->updated_at < 0)
		t->updated_at = 0;
	return t;
}

void
launcher_ddb_judge(const json_t *o, const struct tenant *t, int64_t now_ms, const char *owner,
                   struct ddb_judgement *out)
{
	const char *kind = item_str(o, "kind"), *email, *company, *created;
	const json_t *v = json_object_get(o, "version");
	int64_t last;
	int status, mine;

	memset(out, 0, sizeof(*out));
	out->verdict = DDB_TAKEN;
	if (!json_is_object(o) || kind == NULL || strcmp(kind, "tenant") != 0 ||
	    !json_is_integer(v) || json_integer_value(v) < 0)
		return;
	email = item_str(o, "admin_email");
	company = item_str(o, "company_name");
	if (email == NULL || strcmp(email, t->admin_email) != 0) {
		out->verdict = DDB_OTHER_DETAILS;
		out->field = "admin_email";
		return;
	}
	if (company == NULL || strcmp(company, t->company_name) != 0) {
		out->verdict = DDB_OTHER_DETAILS;
		out->field = "company_name";
		return;
	}
	status = item_str(o, "status") != NULL ? tenant_status_parse(item_str(o, "status")) : -1;
	if (json_integer_value(v) == 0 || status == TENANT_PROVISIONING) {
		/* Its launcher is at work, or stopped before it finished. */
		const char *since =
		    item_str(o, json_integer_value(v) == 0 ? "created_at" : "updated_at");
		const char *by = item_str(o, "reserved_by");

		created = item_str(o, "created_at");
		last = since != NULL ? aws_time_parse_iso8601(since) : -1;
		mine = json_integer_value(v) == 0 && owner != NULL && owner[0] != '\0' &&
		       by != NULL && strcmp(by, owner) == 0;
		out->verdict = DDB_IN_FLIGHT;
		if ((mine || (last > 0 && now_ms - last >= LAUNCHER_DDB_STALE_MS)) &&
		    created != NULL && created[0] != '\0' &&
		    strlen(created) < sizeof(out->created)) {
			out->verdict = DDB_STALE;
			out->version = (int64_t)json_integer_value(v);
			memcpy(out->created, created, strlen(created) + 1);
		}
		return;
	}
	/* RUNNING: served as it stands. FAILED or STOPPED: its launcher provisions it again. */
	if (status != TENANT_RUNNING || (out->tenant = item_tenant(o)) == NULL)
		return;
	if (out->tenant->url[0] == '\0') {
		free(out->tenant);
		out->tenant = NULL;
		return;
	}
	out->verdict = DDB_SAME_RUNNING;
}
