/*
 * Fuzzes what the launcher parses from outside: the POST /v1/tenants body
 * (under a few Content-Type values picked by the first byte), each field
 * validator on raw bytes, and template expansion. Checks the decoder's
 * promises: a success holds only valid, NUL-terminated fields; an error has a
 * code and a message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "launcher/request.h"
#include "launcher/template.h"
#include "launcher/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ctypes[] = {"application/json", "application/json; charset=utf-8",
	                                     "text/plain", NULL};
	static const struct template_var vars[] = {
	    {"subdomain", "acme"}, {"host_ip", "10.0.0.1"}, {"host_port", "32768"}, {NULL, NULL}};
	struct tenant_req r;
	struct validate_error e;
	const char *body;
	char out[512], err[160], *tpl;
	size_t len;
	int rc;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	len = size - 1;
	rc = request_decode_tenant(ctypes[data[0] % 4], body, len, &r, &e);
	if (rc == 0) {
		if (validate_subdomain(r.subdomain, strlen(r.subdomain), NULL) != 0 ||
		    validate_email(r.admin_email, strlen(r.admin_email), NULL) != 0 ||
		    validate_company_name(r.company_name, strlen(r.company_name), NULL) != 0)
			abort();
	} else if (e.code[0] == '\0' || e.message[0] == '\0') {
		abort();
	}
	memset(&e, 0, sizeof(e));
	validate_subdomain(body, len, &e);
	validate_email(body, len, &e);
	validate_company_name(body, len, &e);
	validate_utf8(body, len);
	/* Templates are NUL-terminated strings. */
	if ((tpl = malloc(len + 1)) == NULL)
		return 0;
	memcpy(tpl, body, len);
	tpl[len] = '\0';
	if (template_expand(tpl, vars, out, sizeof(out), err, sizeof(err)) == 0 &&
	    strlen(out) >= sizeof(out))
		abort();
	template_check(tpl, vars, err, sizeof(err));
	free(tpl);
	return 0;
}
