/*
 * item: berth's rows as DynamoDB table items, and what an item found in the
 * table means (registry/item.h has the contract).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_creds.h"
#include "aws/aws_ddb.h"
#include "registry/item.h"
#include "registry/registry_schema.h"

int
item_key(const char *kind, const char *key, char *out, size_t outlen)
{
	int n;

	if (strcmp(kind, "binding") == 0)
		n = snprintf(out, outlen, "%s%s", ITEM_BINDING_PREFIX, key);
	else
		n = snprintf(out, outlen, "%s", key);
	return n < 0 || (size_t)n >= outlen ? -E2BIG : 0;
}

int
item_binding_key(const char *task_arn, const char *container, int container_port, const char *proto,
                 char *out, size_t outlen)
{
	char rel[ITEM_KEY_MAX];
	int n = snprintf(rel, sizeof(rel), REGISTRY_BINDING_KEY_FMT, task_arn, container,
	                 container_port, proto);

	if (n < 0 || (size_t)n >= sizeof(rel))
		return -E2BIG;
	return item_key("binding", rel, out, outlen);
}

json_t *
item_key_av(const char *key)
{
	return json_pack("{s:{s:s}}", ITEM_KEY_ATTR, "S", key);
}

json_t *
item_condition_names(void)
{
	return json_pack("{s:s, s:s}", "#pk", ITEM_KEY_ATTR, "#v", "version");
}

json_t *
item_from_outbox(const struct outbox_row *row, int64_t tombstone_expires_s, char *err,
                 size_t errlen)
{
	json_t *body, *plain, *item, *v;
	json_error_t jerr;
	const char *k;
	char key[ITEM_KEY_MAX];

	if (item_key(row->kind, row->key, key, sizeof(key)) != 0) {
		snprintf(err, errlen, "outbox row %lld: key too long", (long long)row->id);
		return NULL;
	}
	body = json_loads(row->body != NULL ? row->body : "", 0, &jerr);
	if (!json_is_object(body)) {
		snprintf(err, errlen, "outbox row %lld: body is not a JSON object",
		         (long long)row->id);
		json_decref(body);
		return NULL;
	}
	plain = json_object();
	json_object_foreach(body, k, v)
	{
		/* Older tables keep no empty strings; absent means empty. */
		if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
			continue;
		json_object_set(plain, k, v);
	}
	json_decref(body);
	json_object_set_new(plain, ITEM_KEY_ATTR, json_string(key));
	json_object_set_new(plain, "kind", json_string(row->kind));
	json_object_set_new(plain, "version", json_integer(row->version));
	if (tombstone_expires_s > 0 && strcmp(row->kind, "binding") == 0) {
		int st = binding_status_parse(json_string_value(json_object_get(plain, "status")));

		/* A gone container's item expires (DynamoDB TTL); a live one never does. */
		if (st == BINDING_STOPPED || st == BINDING_REMOVED)
			json_object_set_new(plain, ITEM_TTL_ATTR,
			                    json_integer(tombstone_expires_s));
	}
	item = ddb_item_from_json(plain);
	json_decref(plain);
	if (item == NULL)
		snprintf(err, errlen, "outbox row %lld: body cannot be stored", (long long)row->id);
	return item;
}

json_t *
item_system_config(void)
{
	return json_pack("{s:{s:s}, s:{s:s}}", ITEM_KEY_ATTR, "S", ITEM_SYSTEM_CONFIG,
	                 "lastAssignedPort", "N", "7999");
}

json_t *
item_reservation(const struct tenant *t, const char *owner)
{
	json_t *plain, *item;
	char created[40];

	registry_time_format(created, sizeof(created),
	                     t->created_at != 0 ? t->created_at : registry_now_ms());
	/* version 0: the tenant's first outbox write (version 1) replaces it. */
	plain = json_pack("{s:s, s:s, s:i, s:s, s:s}", ITEM_KEY_ATTR, t->subdomain, "kind",
	                  "tenant", "version", 0, "status", tenant_status_str(TENANT_PROVISIONING),
	                  "created_at", created);
	if (plain == NULL)
		return NULL;
	if (t->admin_email[0] != '\0')
		json_object_set_new(plain, "admin_email", json_string(t->admin_email));
	if (t->company_name[0] != '\0')
		json_object_set_new(plain, "company_name", json_string(t->company_name));
	if (owner != NULL && owner[0] != '\0')
		json_object_set_new(plain, "reserved_by", json_string(owner));
	item = ddb_item_from_json(plain);
	json_decref(plain);
	return item;
}

/* The item's kind is kind and its version an integer >= 0. */
static int
is_kind(const json_t *o, const char *kind)
{
	const char *k = json_string_value(json_object_get(o, "kind"));
	const json_t *v = json_object_get(o, "version");

	return json_is_object(o) && k != NULL && strcmp(k, kind) == 0 && json_is_integer(v) &&
	       json_integer_value(v) >= 0;
}

int
item_binding(const json_t *o, struct binding *b)
{
	if (!is_kind(o, "binding"))
		return -EINVAL;
	return binding_from_json(o, b);
}

/* The string at key, "" when absent or null; NULL when present but not a string. */
static const char *
item_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return "";
	return json_string_value(v);
}

/* A reservation, or a PROVISIONING item: whose, and whether it is left for good. */
static void
judge_in_flight(const json_t *o, int64_t version, int64_t now_ms, const char *owner,
                struct item_judgement *out)
{
	const char *since = item_str(o, version == 0 ? "created_at" : "updated_at");
	const char *by = item_str(o, "reserved_by"), *created = item_str(o, "created_at");
	int64_t last = since != NULL ? aws_time_parse_iso8601(since) : -1;
	int mine = version == 0 && owner != NULL && owner[0] != '\0' && by != NULL &&
	           strcmp(by, owner) == 0;

	out->verdict = ITEM_IN_FLIGHT;
	if ((mine || (last > 0 && now_ms - last >= ITEM_STALE_MS)) && created != NULL &&
	    created[0] != '\0' && strlen(created) < sizeof(out->created)) {
		out->verdict = ITEM_STALE;
		out->version = version;
		memcpy(out->created, created, strlen(created) + 1);
	}
}

void
item_judge(const json_t *o, const struct tenant *t, int64_t now_ms, const char *owner,
           struct item_judgement *out)
{
	const char *email, *company;
	int64_t version;
	int status;

	memset(out, 0, sizeof(*out));
	out->verdict = ITEM_TAKEN;
	if (!is_kind(o, "tenant"))
		return;
	version = (int64_t)json_integer_value(json_object_get(o, "version"));
	email = item_str(o, "admin_email");
	company = item_str(o, "company_name");
	if (email == NULL || strcmp(email, t->admin_email) != 0) {
		out->verdict = ITEM_OTHER_DETAILS;
		out->field = "admin_email";
		return;
	}
	if (company == NULL || strcmp(company, t->company_name) != 0) {
		out->verdict = ITEM_OTHER_DETAILS;
		out->field = "company_name";
		return;
	}
	status = tenant_status_parse(item_str(o, "status"));
	if (version == 0 || status == TENANT_PROVISIONING) {
		/* Its launcher is at work, or stopped before it finished. */
		judge_in_flight(o, version, now_ms, owner, out);
		return;
	}
	/* RUNNING: served as it stands. FAILED or STOPPED: its launcher provisions it again. */
	if (status != TENANT_RUNNING || tenant_from_json(o, &out->tenant) != 0 ||
	    out->tenant.url[0] == '\0' || out->tenant.version < 1) {
		memset(&out->tenant, 0, sizeof(out->tenant));
		return;
	}
	out->verdict = ITEM_SAME_RUNNING;
}
