/*
 * registry_json: rows as JSON in the DESIGN.md shape (the CLI's --json, the
 * sidecar's API, outbox bodies, table items) and RFC 3339 times, written and
 * read back here only.
 *
 * Wire contract: field names and types here are read by scripts and by the
 * sync target. Add fields freely; renaming or retyping one is a breaking
 * change. Unset times are null; strings are always strings ("" when unset).
 */
#include "registry/registry.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws_creds.h"
#include "registry/registry_int.h"

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

/* --- readers: the same shapes back, from untrusted JSON ------------------- */

int
reg_json_str(const json_t *o, const char *key, char *dst, size_t dstlen)
{
	const json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	/* A string holding a NUL would be cut short by C: refused, not truncated. */
	if ((s = json_string_value(v)) == NULL || (n = json_string_length(v)) >= dstlen ||
	    memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

int64_t
reg_json_int(const json_t *o, const char *key, int64_t lo, int64_t hi, int64_t dflt, int *bad)
{
	const json_t *v = json_object_get(o, key);
	json_int_t n;

	if (v == NULL || json_is_null(v))
		return dflt;
	if (!json_is_integer(v) || (n = json_integer_value(v)) < lo || n > hi) {
		*bad = 1;
		return dflt;
	}
	return (int64_t)n;
}

int64_t
reg_json_time(const json_t *o, const char *key, int *bad)
{
	char buf[64];
	int64_t ms;

	if (reg_json_str(o, key, buf, sizeof(buf)) != 0) {
		*bad = 1;
		return 0;
	}
	if (buf[0] == '\0')
		return 0;
	if ((ms = aws_time_parse_iso8601(buf)) < 0) {
		*bad = 1;
		return 0;
	}
	return ms;
}

int
binding_from_json(const json_t *o, struct binding *b)
{
	char status[16];
	int bad = 0;
	const json_t *ec;

	memset(b, 0, sizeof(*b));
	if (!json_is_object(o))
		return -EINVAL;
	if (reg_json_str(o, "task_arn", b->task_arn, sizeof(b->task_arn)) != 0 ||
	    reg_json_str(o, "task_id", b->task_id, sizeof(b->task_id)) != 0 ||
	    reg_json_str(o, "container_name", b->container_name, sizeof(b->container_name)) != 0 ||
	    reg_json_str(o, "container_id", b->container_id, sizeof(b->container_id)) != 0 ||
	    reg_json_str(o, "protocol", b->protocol, sizeof(b->protocol)) != 0 ||
	    reg_json_str(o, "host_ip", b->host_ip, sizeof(b->host_ip)) != 0 ||
	    reg_json_str(o, "tenant", b->tenant, sizeof(b->tenant)) != 0 ||
	    reg_json_str(o, "cluster", b->cluster, sizeof(b->cluster)) != 0 ||
	    reg_json_str(o, "family", b->family, sizeof(b->family)) != 0 ||
	    reg_json_str(o, "revision", b->revision, sizeof(b->revision)) != 0 ||
	    reg_json_str(o, "status", status, sizeof(status)) != 0)
		return -EINVAL;
	b->container_port = (int)reg_json_int(o, "container_port", 0, 65535, 0, &bad);
	b->host_port = (int)reg_json_int(o, "host_port", 0, 65535, 0, &bad);
	b->host_port_v6 = (int)reg_json_int(o, "host_port_v6", 0, 65535, 0, &bad);
	b->version = reg_json_int(o, "version", 0, INT64_MAX, 0, &bad);
	if ((ec = json_object_get(o, "exit_code")) != NULL && !json_is_null(ec)) {
		b->exit_code = (int)reg_json_int(o, "exit_code", INT32_MIN, INT32_MAX, 0, &bad);
		b->has_exit_code = 1;
	}
	b->started_at = reg_json_time(o, "started_at", &bad);
	b->stopped_at = reg_json_time(o, "stopped_at", &bad);
	b->updated_at = reg_json_time(o, "updated_at", &bad);
	if (bad || binding_status_parse(status) < 0)
		return -EINVAL;
	b->status = (enum binding_status)binding_status_parse(status);
	if (b->protocol[0] == '\0')
		memcpy(b->protocol, "tcp", 4);
	return 0;
}

int
tenant_from_json(const json_t *o, struct tenant *t)
{
	char status[16];
	int bad = 0;

	memset(t, 0, sizeof(*t));
	if (!json_is_object(o))
		return -EINVAL;
	if (reg_json_str(o, "subdomain", t->subdomain, sizeof(t->subdomain)) != 0 ||
	    reg_json_str(o, "admin_email", t->admin_email, sizeof(t->admin_email)) != 0 ||
	    reg_json_str(o, "company_name", t->company_name, sizeof(t->company_name)) != 0 ||
	    reg_json_str(o, "url", t->url, sizeof(t->url)) != 0 ||
	    reg_json_str(o, "host_ip", t->host_ip, sizeof(t->host_ip)) != 0 ||
	    reg_json_str(o, "task_arn", t->task_arn, sizeof(t->task_arn)) != 0 ||
	    reg_json_str(o, "error", t->error, sizeof(t->error)) != 0 ||
	    reg_json_str(o, "status", status, sizeof(status)) != 0)
		return -EINVAL;
	t->host_port = (int)reg_json_int(o, "host_port", 0, 65535, 0, &bad);
	t->version = reg_json_int(o, "version", 0, INT64_MAX, 0, &bad);
	t->created_at = reg_json_time(o, "created_at", &bad);
	t->updated_at = reg_json_time(o, "updated_at", &bad);
	if (bad || tenant_status_parse(status) < 0)
		return -EINVAL;
	t->status = (enum tenant_status)tenant_status_parse(status);
	return 0;
}
