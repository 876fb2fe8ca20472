/*
 * registry_json: rows as JSON in the DESIGN.md shape (the CLI's --json, the
 * sidecar's API, outbox bodies) and RFC 3339 times.
 *
 * Wire contract: field names and types here are read by scripts and by the
 * sync target. Add fields freely; renaming or retyping one is a breaking
 * change. Unset times are null; strings are always strings ("" when unset).
 */
#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
registry_time_format(char *out, size_t outlen, int64_t ms)
{
	struct tm tm;
	time_t secs;
	char date[32];

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (ms <= 0)
		return;
	secs = (time_t)(ms / 1000);
	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return;
	snprintf(out, outlen, "%s.%03dZ", date, (int)(ms % 1000));
}

/* A JSON string of s; bytes that are not valid UTF-8 become '?' rather than losing the field. */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char *copy;
	size_t n;

	if ((j = json_string(s)) != NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	n = strlen(copy);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *
jtime(int64_t ms)
{
	char buf[40];

	if (ms <= 0)
		return json_null();
	registry_time_format(buf, sizeof(buf), ms);
	return json_string(buf);
}

/* Sets key to the stolen value v; marks *bad when v is NULL (out of memory). */
static void
set(json_t *o, const char *key, json_t *v, int *bad)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*bad = 1;
}

json_t *
binding_to_json(const struct binding *b)
{
	json_t *o = json_object();
	int bad = 0;

	if (o == NULL)
		return NULL;
	set(o, "task_arn", jstr(b->task_arn), &bad);
	set(o, "task_id", jstr(b->task_id), &bad);
	set(o, "container_name", jstr(b->container_name), &bad);
	set(o, "container_id", jstr(b->container_id), &bad);
	set(o, "container_port", json_integer(b->container_port), &bad);
	set(o, "protocol", jstr(b->protocol), &bad);
	set(o, "host_ip", jstr(b->host_ip), &bad);
	set(o, "host_port", json_integer(b->host_port), &bad);
	set(o, "host_port_v6", json_integer(b->host_port_v6), &bad);
	set(o, "status", json_string(binding_status_str(b->status)), &bad);
	set(o, "exit_code", b->has_exit_code ? json_integer(b->exit_code) : json_null(), &bad);
	set(o, "tenant", jstr(b->tenant), &bad);
	set(o, "cluster", jstr(b->cluster), &bad);
	set(o, "family", jstr(b->family), &bad);
	set(o, "revision", jstr(b->revision), &bad);
	set(o, "started_at", jtime(b->started_at), &bad);
	set(o, "stopped_at", jtime(b->stopped_at), &bad);
	set(o, "updated_at", jtime(b->updated_at), &bad);
	set(o, "version", json_integer(b->version), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
tenant_to_json(const struct tenant *t)
{
	json_t *o = json_object();
	int bad = 0;

	if (o == NULL)
		return NULL;
	set(o, "subdomain", jstr(t->subdomain), &bad);
	set(o, "admin_email", jstr(t->admin_email), &bad);
	set(o, "company_name", jstr(t->company_name), &bad);
	set(o, "status", json_string(tenant_status_str(t->status)), &bad);
	set(o, "url", jstr(t->url), &bad);
	set(o, "host_ip", jstr(t->host_ip), &bad);
	set(o, "host_port", json_integer(t->host_port), &bad);
	set(o, "task_arn", jstr(t->task_arn), &bad);
	set(o, "error", jstr(t->error), &bad);
	set(o, "created_at", jtime(t->created_at), &bad);
	set(o, "updated_at", jtime(t->updated_at), &bad);
	set(o, "version", json_integer(t->version), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
