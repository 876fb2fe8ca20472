/*
 * item: berth's rows as DynamoDB table items, and what an item found in the
 * table means (registry/item.h has the contract).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_creds.h"
#include "aws/aws_ddb.h"
#include "registry/item.h"
#include "registry/registry_int.h"
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

/* The item for a row's JSON body (stolen) under key: empty strings and nulls left out. */
static json_t *
item_of_body(json_t *body, const char *kind, const char *key, int64_t version,
             int64_t tombstone_expires_s)
{
	json_t *plain = json_object(), *item, *v;
	const char *k;

	if (plain == NULL) {
		json_decref(body);
		return NULL;
	}
	json_object_foreach(body, k, v)
	{
		/* Older tables keep no empty strings; absent means empty. */
		if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
			continue;
		json_object_set(plain, k, v);
	}
	json_decref(body);
	json_object_set_new(plain, ITEM_KEY_ATTR, json_string(key));
	json_object_set_new(plain, "kind", json_string(kind));
	json_object_set_new(plain, "version", json_integer(version));
	if (tombstone_expires_s > 0 && strcmp(kind, "binding") == 0) {
		int st = binding_status_parse(json_string_value(json_object_get(plain, "status")));

		/* A gone container's item expires (DynamoDB TTL); a live one never does. */
		if (st == BINDING_STOPPED || st == BINDING_REMOVED)
			json_object_set_new(plain, ITEM_TTL_ATTR,
			                    json_integer(tombstone_expires_s));
	}
	item = ddb_item_from_json(plain);
	json_decref(plain);
	return item;
}

json_t *
item_from_outbox(const struct outbox_row *row, int64_t tombstone_expires_s, char *err,
                 size_t errlen)
{
	json_t *body, *item;
	json_error_t jerr;
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
	item = item_of_body(body, row->kind, key, row->version, tombstone_expires_s);
	if (item == NULL)
		snprintf(err, errlen, "outbox row %lld: body cannot be stored", (long long)row->id);
	return item;
}

json_t *
item_from_tenant(const struct tenant *t)
{
	json_t *body = tenant_to_json(t);

	return body != NULL ? item_of_body(body, "tenant", t->subdomain, t->version, 0) : NULL;
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

/* --- hosts ------------------------------------------------------------------ */

const char *
host_status_str(enum host_status s)
{
	return s == HOST_UP ? "UP" : s == HOST_STALE ? "STALE" : "LEFT";
}

enum host_status
item_host_status(const struct host_item *h, int64_t now_ms)
{
	int beat = h->heartbeat_s > 0 ? h->heartbeat_s : 10;

	if (h->left)
		return HOST_LEFT;
	if (now_ms - h->heartbeat_at > (int64_t)ITEM_HOST_STALE_BEATS * beat * 1000)
		return HOST_STALE;
	return HOST_UP;
}

int
item_host_key(const char *id, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s", ITEM_HOST_PREFIX, id);

	return n < 0 || (size_t)n >= outlen ? -E2BIG : 0;
}

json_t *
item_host(const struct host_item *h)
{
	char key[ITEM_KEY_MAX], started[40], beat[40];
	json_t *plain, *item;

	if (item_host_key(h->id, key, sizeof(key)) != 0)
		return NULL;
	registry_time_format(started, sizeof(started), h->started_at);
	registry_time_format(beat, sizeof(beat), h->heartbeat_at);
	plain = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I}", ITEM_KEY_ATTR,
	                  key, "kind", "host", "version", (json_int_t)h->version, "host_id", h->id,
	                  "status", h->left ? "LEFT" : "UP", "host_ip", h->host_ip, "api_url",
	                  h->api_url, "started_at", started, "heartbeat_at", beat, "heartbeat_s",
	                  h->heartbeat_s, "bindings_running", (json_int_t)h->running);
	if (plain == NULL)
		return NULL;
	if (h->instance_arn[0] != '\0')
		json_object_set_new(plain, "container_instance_arn", json_string(h->instance_arn));
	if (h->ec2_instance_id[0] != '\0')
		json_object_set_new(plain, "ec2_instance_id", json_string(h->ec2_instance_id));
	if (h->berth_version[0] != '\0')
		json_object_set_new(plain, "berth_version", json_string(h->berth_version));
	item = ddb_item_from_json(plain);
	json_decref(plain);
	return item;
}

int
item_api_url_ok(const char *url)
{
	char ip[INET_ADDRSTRLEN];
	const char *p, *colon;
	struct in_addr a;
	uint32_t v;
	long port;
	char *end;

	if (url == NULL || strncmp(url, "http://", 7) != 0)
		return 0;
	p = url + 7;
	if ((colon = strchr(p, ':')) == NULL || (size_t)(colon - p) >= sizeof(ip))
		return 0;
	memcpy(ip, p, (size_t)(colon - p));
	ip[colon - p] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		return 0;
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || port < 1 || port > 65535 || (*end != '\0' && strcmp(end, "/") != 0))
		return 0;
	v = ntohl(a.s_addr);
	return (v >> 24) == 127 || (v >> 24) == 10 || (v >> 20) == (172u << 4 | 1) ||
	       (v >> 16) == (192u << 8 | 168);
}

int
item_host_parse(const json_t *o, struct host_item *h, char *why, size_t whylen)
{
	char status[16];
	int bad = 0;

	memset(h, 0, sizeof(*h));
	if (!is_kind(o, "host")) {
		snprintf(why, whylen, "not a host item");
		return -EINVAL;
	}
	if (reg_json_str(o, "host_id", h->id, sizeof(h->id)) != 0 || h->id[0] == '\0' ||
	    reg_json_str(o, "container_instance_arn", h->instance_arn, sizeof(h->instance_arn)) !=
	        0 ||
	    reg_json_str(o, "ec2_instance_id", h->ec2_instance_id, sizeof(h->ec2_instance_id)) !=
	        0 ||
	    reg_json_str(o, "host_ip", h->host_ip, sizeof(h->host_ip)) != 0 ||
	    reg_json_str(o, "api_url", h->api_url, sizeof(h->api_url)) != 0 ||
	    reg_json_str(o, "berth_version", h->berth_version, sizeof(h->berth_version)) != 0 ||
	    reg_json_str(o, "status", status, sizeof(status)) != 0) {
		snprintf(why, whylen, "a field is not a string or is too long");
		return -EINVAL;
	}
	if (strcmp(status, "UP") != 0 && strcmp(status, "LEFT") != 0) {
		snprintf(why, whylen, "status is not UP or LEFT");
		return -EINVAL;
	}
	h->left = strcmp(status, "LEFT") == 0;
	h->heartbeat_at = reg_json_time(o, "heartbeat_at", &bad);
	h->started_at = reg_json_time(o, "started_at", &bad);
	if (bad || h->heartbeat_at <= 0 || h->started_at <= 0) {
		snprintf(why, whylen, "started_at or heartbeat_at is not a time");
		return -EINVAL;
	}
	h->heartbeat_s = (int)reg_json_int(o, "heartbeat_s", 1, 3600, 0, &bad);
	if (bad || h->heartbeat_s == 0) {
		snprintf(why, whylen, "heartbeat_s is not 1..3600");
		return -EINVAL;
	}
	/* Informative only: a count that is not one shows as 0. */
	h->running = (long)reg_json_int(o, "bindings_running", 0, INT64_MAX, 0, &bad);
	h->version = (int64_t)json_integer_value(json_object_get(o, "version"));
	return 0;
}
