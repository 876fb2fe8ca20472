/*
 * request: decodes and validates the body of POST /v1/tenants.
 *
 * The body must be Content-Type application/json, at most REQUEST_BODY_MAX
 * bytes, valid UTF-8, one flat JSON object (nesting past REQUEST_DEPTH_MAX
 * is refused before parsing) with exactly the string fields subdomain,
 * admin_email and company_name, each checked by launcher/validate.
 */
#ifndef BERTH_REQUEST_H
#define BERTH_REQUEST_H

#include <stddef.h>

#include "launcher/validate.h"

#define REQUEST_BODY_MAX  (16 * 1024)
#define REQUEST_DEPTH_MAX 4

struct tenant_req {
	char subdomain[VALIDATE_SUBDOMAIN_MAX + 1];
	char admin_email[VALIDATE_EMAIL_MAX + 1];
	char company_name[VALIDATE_COMPANY_BYTES_MAX + 1];
};

/*
 * Fills out from body (len bytes; need not be NUL-terminated). content_type
 * is the request header, NULL when absent. Returns 0, or -EINVAL with e
 * filled; every failure maps to HTTP 400.
 */
int request_decode_tenant(const char *content_type, const char *body, size_t len,
                          struct tenant_req *out, struct validate_error *e);
/* 1 when content_type is application/json (any case, parameters allowed). */
int request_is_json(const char *content_type);

#endif
