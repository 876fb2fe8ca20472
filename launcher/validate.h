/*
 * validate: the launcher's rules for the fields of a tenant request. Each
 * validator returns 0, or -EINVAL and fills code and message (first error
 * wins) with text safe to send back: it never echoes the input.
 *
 * Error codes are part of the HTTP API (docs/api.md); keep them stable.
 */
#ifndef BERTH_VALIDATE_H
#define BERTH_VALIDATE_H

#include <stddef.h>

#define VALIDATE_SUBDOMAIN_MIN     3
#define VALIDATE_SUBDOMAIN_MAX     63  /* bytes: one DNS label */
#define VALIDATE_EMAIL_MAX         254 /* bytes (RFC 5321 path limit) */
#define VALIDATE_EMAIL_LOCAL_MAX   64
#define VALIDATE_COMPANY_CHARS_MAX 200 /* Unicode scalar values */
#define VALIDATE_COMPANY_BYTES_MAX (VALIDATE_COMPANY_CHARS_MAX * 4)

struct validate_error {
	char code[32];     /* "invalid_subdomain", "reserved_subdomain", ... */
	char message[160]; /* for people */
	char field[32];    /* the request field, "" when none */
};

/* A DNS label: a-z, 0-9, '-', 3..63 bytes, no hyphen at either end, not reserved. */
int validate_subdomain(const char *s, size_t len, struct validate_error *);
/* A plausible address: <= 254 bytes, one '@', a dot-atom local part, a dotted domain. */
int validate_email(const char *s, size_t len, struct validate_error *);
/* Valid UTF-8, 1..200 characters, no control characters, not only spaces. */
int validate_company_name(const char *s, size_t len, struct validate_error *);
/* 1 when s names a reserved subdomain (www, api, admin, ...). */
int validate_reserved(const char *s);
/* Number of code points in valid UTF-8 s, or -1 when s is not valid UTF-8. */
long validate_utf8(const char *s, size_t len);

#endif
