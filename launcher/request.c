/* request: a POST /v1/tenants body decoded and validated (see request.h). */
#include "launcher/request.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

static int
fail(struct validate_error *e, const char *code, const char *field, const char *message)
{
	if (e->code[0] == '\0') {
		snprintf(e->code, sizeof(e->code), "%s", code);
		snprintf(e->field, sizeof(e->field), "%s", field);
		snprintf(e->message, sizeof(e->message), "%s", message);
	}
	return -EINVAL;
}

int
request_is_json(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/*
 * Nesting depth of [ and { outside strings, stopping early past max: the
 * parser's own limit (2048) is far more than a three-field object needs.
 */
static int
too_deep(const char *s, size_t len, int max)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return 1;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

/* Copies the string member name (borrowed from obj) into out after checking it. */
static int
take(json_t *obj, const char *name, char *out, size_t outlen,
     int (*check)(const char *, size_t, struct validate_error *), struct validate_error *e)
{
	json_t *v = json_object_get(obj, name);
	char msg[96];
	size_t len;

	if (v == NULL) {
		snprintf(msg, sizeof(msg), "%s is required", name);
		return fail(e, "missing_field", name, msg);
	}
	if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), "%s must be a string", name);
		return fail(e, "invalid_type", name, msg);
	}
	len = json_string_length(v);
	/* Jansson strings may hold NUL only with JSON_ALLOW_NUL, which is not set. */
	if (check(json_string_value(v), len, e) != 0)
		return -EINVAL;
	if (len >= outlen) /* the validators cap below outlen; a bug if reached */
		return fail(e, "invalid_value", name, "value too long");
	memcpy(out, json_string_value(v), len + 1);
	return 0;
}

int
request_decode_tenant(const char *content_type, const char *body, size_t len,
                      struct tenant_req *out, struct validate_error *e)
{
	static const char *const known[] = {"subdomain", "admin_email", "company_name"};
	json_error_t jerr;
	json_t *root = NULL;
	const char *key;
	json_t *val;
	int rc = -EINVAL;

	memset(e, 0, sizeof(*e));
	memset(out, 0, sizeof(*out));
	if (!request_is_json(content_type))
		return fail(e, "unsupported_media_type", "",
		            "Content-Type must be application/json");
	if (len > REQUEST_BODY_MAX)
		return fail(e, "body_too_large", "", "the request body is larger than 16 KiB");
	if (len == 0)
		return fail(e, "invalid_json", "", "the request body is empty");
	if (validate_utf8(body, len) < 0)
		return fail(e, "invalid_json", "", "the request body is not valid UTF-8");
	if (too_deep(body, len, REQUEST_DEPTH_MAX))
		return fail(e, "invalid_json", "", "the request body is nested too deeply");
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return fail(e, "invalid_json", "", "the request body is not valid JSON");
	if (!json_is_object(root)) {
		fail(e, "invalid_json", "", "the request body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, val)
	{
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0])) {
			char field[32];

			/* Echo at most a short, printable prefix of the unknown name. */
			snprintf(field, sizeof(field), "%.31s", key);
			for (char *p = field; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
					*p = '?';
			fail(e, "unknown_field", field,
			     "the request has a field this API does not know");
			goto out;
		}
	}
	if (take(root, "subdomain", out->subdomain, sizeof(out->subdomain), validate_subdomain,
	         e) != 0 ||
	    take(root, "admin_email", out->admin_email, sizeof(out->admin_email), validate_email,
	         e) != 0 ||
	    take(root, "company_name", out->company_name, sizeof(out->company_name),
	         validate_company_name, e) != 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}
