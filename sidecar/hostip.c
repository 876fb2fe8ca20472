/* hostip: the address written as host_ip (see hostip.h). */
#include "sidecar/hostip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_imds.h"
#include "core/log.h"

#define IMDS_TIMEOUT_MS 1000 /* whole request and connect; one try each */

struct resolve {
	struct aws_imds *imds;
	int step; /* 1 public-ipv4, 2 local-ipv4 */
	hostip_cb cb;
	void *arg;
};

int
hostip_valid(const char *s)
{
	struct in_addr a4;
	struct in6_addr a6;

	return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

int
hostip_interface(char *out, size_t outlen)
{
	struct ifaddrs *ifa, *p;
	int rc = -ENOENT;

	if (getifaddrs(&ifa) != 0)
		return -errno;
	for (p = ifa; p != NULL; p = p->ifa_next) {
		if (p->ifa_addr == NULL || p->ifa_addr->sa_family != AF_INET)
			continue;
		if ((p->ifa_flags & IFF_LOOPBACK) || !(p->ifa_flags & IFF_UP))
			continue;
		if (inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)p->ifa_addr)->sin_addr, out,
		              (socklen_t)outlen) != NULL) {
			rc = 0;
			break;
		}
	}
	freeifaddrs(ifa);
	return rc;
}

static void
finish(struct resolve *r, const char *ip, const char *source)
{
	char buf[HOSTIP_MAX] = "";

	if (ip == NULL) {
		if (hostip_interface(buf, sizeof(buf)) == 0) {
			ip = buf;
			source = "interface";
		} else {
			ip = "";
			source = "none";
		}
	}
	r->cb(ip, source, r->arg);
	aws_imds_free(r->imds); /* from its last answer's callback: see aws_imds.h */
	free(r);
}

static void step(struct resolve *);

static void
imds_done(int err, const char *body, size_t len, const char *errmsg, void *arg)
{
	struct resolve *r = arg;
	char ip[HOSTIP_MAX];
	struct in_addr a4;

	if (err == -ECANCELED) {
		finish(r, NULL, NULL);
		return;
	}
	/* No session token: IMDS is not there (or refuses); skip local-ipv4 too. */
	if (err != 0 && !aws_imds_has_token(r->imds)) {
		log_info("imds_unavailable url=%s error=\"%s\"", aws_imds_endpoint(r->imds),
		         errmsg);
		finish(r, NULL, NULL);
		return;
	}
	/* An answer from IMDS is untrusted: only a dotted quad is accepted. */
	if (err == 0 && len > 0 && len < sizeof(ip)) {
		memcpy(ip, body, len);
		ip[len] = '\0';
		ip[strcspn(ip, "\r\n ")] = '\0';
		if (inet_pton(AF_INET, ip, &a4) == 1) {
			finish(r, ip, r->step == 1 ? "imds-public" : "imds-local");
			return;
		}
	}
	if (r->step == 1) {
		r->step = 2;
		step(r);
		return;
	}
	finish(r, NULL, NULL);
}

static void
step(struct resolve *r)
{
	aws_imds_get(r->imds,
	             r->step == 1 ? "/latest/meta-data/public-ipv4"
	                          : "/latest/meta-data/local-ipv4",
	             imds_done, r);
}

void
hostip_resolve(struct evcurl *ec, const char *configured, const char *imds_url, hostip_cb cb,
               void *arg)
{
	struct resolve *r;

	if (configured != NULL && configured[0] != '\0') {
		cb(configured, "flag", arg);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		cb("", "none", arg);
		return;
	}
	r->cb = cb;
	r->arg = arg;
	if (imds_url == NULL || strcmp(imds_url, "none") == 0 ||
	    strlen(imds_url) >= AWS_IMDS_URL_MAX ||
	    (r->imds = aws_imds_new(ec, imds_url)) == NULL) {
		finish(r, NULL, NULL);
		return;
	}
	aws_imds_set_timeouts(r->imds, IMDS_TIMEOUT_MS, IMDS_TIMEOUT_MS, 1);
	r->step = 1;
	step(r);
}
