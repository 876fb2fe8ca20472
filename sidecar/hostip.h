/*
 * hostip: the address written into bindings for wildcard host ports.
 * Order: the configured address; else IMDSv2 (PUT /latest/api/token, then
 * public-ipv4, else local-ipv4; 1 s time-outs, never through a proxy); else
 * the first non-loopback IPv4 address of an interface that is up.
 */
#ifndef BERTH_SIDECAR_HOSTIP_H
#define BERTH_SIDECAR_HOSTIP_H

#include <stddef.h>

struct evcurl;

#define HOSTIP_MAX 64

/* ip is "" when nothing worked; source is "flag", "imds-public", "imds-local", "interface". */
typedef void (*hostip_cb)(const char *ip, const char *source, void *arg);

/*
 * Resolves the host IP; cb runs exactly once (possibly before this returns).
 * configured may be NULL; imds_url NULL or "none" skips IMDS.
 */
void hostip_resolve(struct evcurl *, const char *configured, const char *imds_url, hostip_cb,
                    void *arg);
/* First non-loopback IPv4 address of an interface that is up; -ENOENT if none. */
int hostip_interface(char *out, size_t outlen);
/* 1 when s is a dotted-quad IPv4 or an IPv6 address. */
int hostip_valid(const char *s);

#endif
