#include "sidecar/hostip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/evcurl.h"
#include "core/log.h"

#define IMDS_TIMEOUT_MS 1000
#define IMDS_TOKEN_MAX  1024
#define IMDS_URL_MAX    512

struct resolve {
	struct evcurl *ec;
	char url[IMDS_URL_MAX];
	char token[IMDS_TOKEN_MAX];
	int step; /* 0 token, 1 public-ipv4, 2 local-ipv4 */
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
	explicit_bzero(r->token, sizeof(r->token));
	free(r);
}

static void step(struct resolve *);

static void
imds_done(const struct evcurl_resp *resp, void *arg)
{
	struct resolve *r = arg;
	char ip[HOSTIP_MAX];
	struct in_addr a4;

	if (resp->error == -ECANCELED) {
		finish(r, NULL, NULL);
		return;
	}
	if (r->step == 0) {
		if (resp->error != 0 || resp->status != 200 || resp->body_len == 0 ||
		    resp->body_len >= sizeof(r->token)) {
			log_info("imds_unavailable url=%s status=%ld error=\"%s\"", r->url,
			         resp->status, resp->errmsg);
			finish(r, NULL, NULL);
			return;
		}
		memcpy(r->token, resp->body, resp->body_len);
		r->token[resp->body_len] = '\0';
		r->token[strcspn(r->token, "\r\n")] = '\0';
		r->step = 1;
		step(r);
		return;
	}
	/* An answer from IMDS is untrusted: only a dotted quad is accepted. */
	if (resp->error == 0 && resp->status == 200 && resp->body_len > 0 &&
	    resp->body_len < sizeof(ip)) {
		memcpy(ip, resp->body, resp->body_len);
		ip[resp->body_len] = '\0';
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
	static const char *const put_hdrs[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
	struct evcurl_req req;
	char url[IMDS_URL_MAX + 64], tok[IMDS_TOKEN_MAX + 40];
	const char *get_hdrs[] = {tok, NULL};

	memset(&req, 0, sizeof(req));
	req.timeout_ms = IMDS_TIMEOUT_MS;
	req.connect_timeout_ms = IMDS_TIMEOUT_MS;
	req.no_proxy = 1;
	req.body_max = 4096;
	req.on_done = imds_done;
	req.arg = r;
	req.url = url;
	if (r->step == 0) {
		snprintf(url, sizeof(url), "%s/latest/api/token", r->url);
		req.method = "PUT";
		req.headers = put_hdrs;
	} else {
		snprintf(url, sizeof(url), "%s/latest/meta-data/%s", r->url,
		         r->step == 1 ? "public-ipv4" : "local-ipv4");
		snprintf(tok, sizeof(tok), "X-aws-ec2-metadata-token: %s", r->token);
		req.headers = get_hdrs;
	}
	if (evcurl_start(r->ec, &req) == NULL)
		finish(r, NULL, NULL);
	explicit_bzero(tok, sizeof(tok));
}

void
hostip_resolve(struct evcurl *ec, const char *configured, const char *imds_url, hostip_cb cb,
               void *arg)
{
	struct resolve *r;
	size_t len;

	if (configured != NULL && configured[0] != '\0') {
		cb(configured, "flag", arg);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		cb("", "none", arg);
		return;
	}
	r->ec = ec;
	r->cb = cb;
	r->arg = arg;
	if (imds_url == NULL || strcmp(imds_url, "none") == 0 ||
	    (len = strlen(imds_url)) >= sizeof(r->url)) {
		finish(r, NULL, NULL);
		return;
	}
	snprintf(r->url, sizeof(r->url), "%s", imds_url);
	while (len > 0 && r->url[len - 1] == '/')
		r->url[--len] = '\0';
	step(r);
}
