/* validate: the rules for subdomain, admin_email and company_name. */
#include "launcher/validate.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Names a tenant may not take: they collide with the service's own hosts, read
 * as official, or would name one of berth's own containers (berth-sidecar,
 * berth-launcher: a docker-backend tenant's container is berth-<subdomain>). Sorted for people; the
 * list is short, so a scan is fine.
 */
static const char *const reserved[] = {
    "abuse",   "admin",  "administrator", "api",       "app",       "assets",  "auth", "berth",
    "billing", "blog",   "cdn",           "console",   "dashboard", "dev",     "docs", "ftp",
    "help",    "imap",   "launcher",      "localhost", "login",     "mail",    "mx",   "ns1",
    "ns2",     "pop",    "postmaster",    "root",      "security",  "sidecar", "smtp", "staging",
    "static",  "status", "support",       "test",      "webmail",   "www",
};

static int
fail(struct validate_error *e, const char *code, const char *field, const char *message)
{
	if (e != NULL && e->code[0] == '\0') {
		snprintf(e->code, sizeof(e->code), "%s", code);
		snprintf(e->field, sizeof(e->field), "%s", field);
		snprintf(e->message, sizeof(e->message), "%s", message);
	}
	return -EINVAL;
}

/* s need not be NUL-terminated. */
static int
reserved_n(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strlen(reserved[i]) == len && memcmp(s, reserved[i], len) == 0)
			return 1;
	return 0;
}

int
validate_reserved(const char *s)
{
	return reserved_n(s, strlen(s));
}

int
validate_subdomain(const char *s, size_t len, struct validate_error *e)
{
	static const char field[] = "subdomain";

	if (len < VALIDATE_SUBDOMAIN_MIN || len > VALIDATE_SUBDOMAIN_MAX)
		return fail(e, "invalid_subdomain", field,
		            "subdomain must be 3 to 63 characters long");
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return fail(
			    e, "invalid_subdomain", field,
			    "subdomain may hold only lower-case letters a-z, digits and '-'");
	}
	if (s[0] == '-' || s[len - 1] == '-')
		return fail(e, "invalid_subdomain", field,
		            "subdomain may not begin or end with '-'");
	/* "ab--" is the IDNA prefix space (xn--): RFC 5891 reserves it. */
	if (s[2] == '-' && s[3] == '-')
		return fail(e, "invalid_subdomain", field,
		            "subdomain may not have '--' in the third and fourth positions");
	if (reserved_n(s, len))
		return fail(e, "reserved_subdomain", field, "this subdomain is reserved");
	return 0;
}

static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

int
validate_email(const char *s, size_t len, struct validate_error *e)
{
	static const char field[] = "admin_email";
	const char *at = NULL, *dom;
	size_t local, dlen, label = 0, labels = 0;

	if (len == 0 || len > VALIDATE_EMAIL_MAX)
		return fail(e, "invalid_admin_email", field,
		            "admin_email must be 1 to 254 characters long");
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '@') {
			if (at != NULL)
				return fail(e, "invalid_admin_email", field,
				            "admin_email must hold exactly one '@'");
			at = s + i;
		}
	}
	if (at == NULL)
		return fail(e, "invalid_admin_email", field, "admin_email must hold one '@'");
	local = (size_t)(at - s);
	if (local == 0 || local > VALIDATE_EMAIL_LOCAL_MAX)
		return fail(e, "invalid_admin_email", field,
		            "the part before '@' must be 1 to 64 characters long");
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (i == 0 || i == local - 1 || s[i - 1] == '.')
				return fail(e, "invalid_admin_email", field,
				            "the part before '@' has a misplaced '.'");
		} else if (!is_atext(c)) {
			return fail(
			    e, "invalid_admin_email", field,
			    "the part before '@' has a character not allowed in an address");
		}
	}
	dom = at + 1;
	dlen = len - local - 1;
	if (dlen == 0)
		return fail(e, "invalid_admin_email", field, "admin_email needs a domain");
	for (size_t i = 0; i <= dlen; i++) {
		char c = i < dlen ? dom[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || dom[i - 1] == '-')
				return fail(e, "invalid_admin_email", field,
				            "the domain of admin_email is not a valid host name");
			labels++;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-') ||
		    (c == '-' && label == 0))
			return fail(e, "invalid_admin_email", field,
			            "the domain of admin_email is not a valid host name");
		label++;
	}
	if (labels < 2)
		return fail(e, "invalid_admin_email", field,
		            "the domain of admin_email must be dotted (example.com)");
	return 0;
}

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. Returns the number of code points or -1.
 */
long
validate_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t k;

		if (c < 0x80) {
			i++;
			n++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return -1;
		}
		if (len - i - 1 < k)
			return -1;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += k + 1;
		n++;
	}
	return n;
}

int
validate_company_name(const char *s, size_t len, struct validate_error *e)
{
	static const char field[] = "company_name";
	const unsigned char *p = (const unsigned char *)s;
	long chars;
	int blank = 1;

	if (len > VALIDATE_COMPANY_BYTES_MAX)
		return fail(e, "invalid_company_name", field,
		            "company_name must be 1 to 200 characters long");
	if ((chars = validate_utf8(s, len)) < 0)
		return fail(e, "invalid_company_name", field, "company_name is not valid UTF-8");
	if (chars < 1 || chars > VALIDATE_COMPANY_CHARS_MAX)
		return fail(e, "invalid_company_name", field,
		            "company_name must be 1 to 200 characters long");
	for (size_t i = 0; i < len; i++) {
		/* C0 controls, DEL, and C1 controls (U+0080..U+009F are C2 80..C2 9F). */
		if (p[i] < 0x20 || p[i] == 0x7f ||
		    (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f))
			return fail(e, "invalid_company_name", field,
			            "company_name may not hold control characters");
		if (p[i] != ' ')
			blank = 0;
	}
	if (blank)
		return fail(e, "invalid_company_name", field, "company_name may not be blank");
	return 0;
}
