/*
 * The credentials chain: environment, ECS container endpoint, IMDSv2.
 */
#include <sys/queue.h>
#include <sys/time.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aws/aws_creds.h"
#include "aws/aws_imds.h"
#include "core/evcurl.h"
#include "core/log.h"

#define CREDS_URL_MAX    1024
#define CREDS_AUTH_MAX   2048
#define CREDS_TIMEOUT_MS 5000
#define CREDS_CONNECT_MS 1000
#define IMDS_ROLE_PATH   "/latest/meta-data/iam/security-credentials/"
#define IMDS_ROLE_MAX    128

struct aws_creds_wait {
	TAILQ_ENTRY(aws_creds_wait) entry;
	struct aws_creds_provider *p;
	aws_creds_cb cb;
	void *arg;
};
TAILQ_HEAD(creds_waits, aws_creds_wait);

struct aws_creds_provider {
	struct evcurl *ec;
	struct aws_imds *imds;
	enum aws_creds_source source;
	char url[CREDS_URL_MAX];   /* container endpoint */
	char auth[CREDS_AUTH_MAX]; /* AWS_CONTAINER_AUTHORIZATION_TOKEN */
	char auth_file[CREDS_URL_MAX];
	char role[IMDS_ROLE_MAX];
	struct aws_creds cached;
	int have;
	int fetching;
	struct evcurl_xfer *xfer;
	struct aws_imds_op *imds_op;
	struct creds_waits waits;
	unsigned long fetches;
	int64_t (*now_ms)(void);
};

static int64_t
real_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

const char *
aws_creds_source_str(enum aws_creds_source s)
{
	switch (s) {
	case AWS_CREDS_ENV:
		return "environment";
	case AWS_CREDS_CONTAINER:
		return "container";
	case AWS_CREDS_IMDS:
		return "imds";
	default:
		return "none";
	}
}

int64_t
aws_time_parse_iso8601(const char *s)
{
	struct tm tm;
	const char *p;
	long ms = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.') {
		int digits = 0;
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*p - '0');
		for (; digits > 0 && digits < 3; digits++)
			ms *= 10;
		if (digits == 0)
			return -1;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	return (int64_t)t * 1000 + ms;
}

/* A credential field: present, a string, within cap, no control characters. */
static int
field(json_t *root, const char *name, char *out, size_t outlen, int required, char *err,
      size_t errlen)
{
	json_t *v = json_object_get(root, name);
	const char *s;
	size_t n;

	if (v == NULL || json_is_null(v)) {
		out[0] = '\0';
		if (required) {
			snprintf(err, errlen, "credentials document has no %s", name);
			return -EPROTO;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "credentials document: %s is not a string", name);
		return -EPROTO;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= outlen || (required && n == 0)) {
		snprintf(err, errlen, "credentials document: %s is empty or too long", name);
		return -EPROTO;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f) {
			snprintf(err, errlen, "credentials document: %s has control characters",
			         name);
			return -EPROTO;
		}
	}
	memcpy(out, s, n + 1);
	return 0;
}

int
aws_creds_parse(const char *body, size_t len, struct aws_creds *out, char *err, size_t errlen)
{
	json_t *root, *v;
	json_error_t jerr;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > AWS_CREDS_BODY_MAX) {
		snprintf(err, errlen, "credentials document too large");
		return -EPROTO;
	}
	if ((root = json_loadb(body, len, 0, &jerr)) == NULL || !json_is_object(root)) {
		snprintf(err, errlen, "credentials document is not a JSON object");
		json_decref(root);
		return -EPROTO;
	}
	/* IMDS adds "Code"; anything but Success is a failure. */
	v = json_object_get(root, "Code");
	if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), "Success") != 0)) {
		snprintf(err, errlen, "credentials document: Code is not Success");
		rc = -EPROTO;
		goto out;
	}
	if ((rc = field(root, "AccessKeyId", out->akid, sizeof(out->akid), 1, err, errlen)) != 0 ||
	    (rc = field(root, "SecretAccessKey", out->secret, sizeof(out->secret), 1, err,
	                errlen)) != 0 ||
	    (rc = field(root, "Token", out->token, sizeof(out->token), 0, err, errlen)) != 0)
		goto out;
	v = json_object_get(root, "Expiration");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    (out->expires_ms = aws_time_parse_iso8601(json_string_value(v))) < 0) {
			snprintf(err, errlen,
			         "credentials document: Expiration is not an ISO 8601 time");
			rc = -EPROTO;
			goto out;
		}
	}
out:
	json_decref(root);
	if (rc != 0)
		explicit_bzero(out, sizeof(*out));
	return rc;
}

/*
 * The SDKs allow http for the full URI only to loopback and the ECS/EKS
 * metadata addresses, so credentials never cross a network in the clear.
 */
static int
full_uri_allowed(const char *uri)
{
	static const char *const hosts[] = {"127.",          "localhost",      "[::1]",
	                                    "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"};
	const char *h;

	if (strncmp(uri, "https://", 8) == 0)
		return 1;
	if (strncmp(uri, "http://", 7) != 0)
		return 0;
	h = uri + 7;
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		size_t n = strlen(hosts[i]);
		if (strncmp(h, hosts[i], n) == 0) {
			if (hosts[i][n - 1] == '.')
				return 1;
			if (h[n] == '\0' || h[n] == ':' || h[n] == '/')
				return 1;
		}
	}
	return 0;
}

struct aws_creds_provider *
aws_creds_new(struct evcurl *ec, struct aws_imds *imds, char *err, size_t errlen)
{
	struct aws_creds_provider *p;
	const char *akid, *secret, *token, *rel, *full, *host, *auth, *authf;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->ec = ec;
	p->imds = imds;
	p->now_ms = real_now_ms;
	TAILQ_INIT(&p->waits);
	akid = getenv("AWS_ACCESS_KEY_ID");
	secret = getenv("AWS_SECRET_ACCESS_KEY");
	token = getenv("AWS_SESSION_TOKEN");
	rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	if (akid != NULL && akid[0] != '\0') {
		if (secret == NULL || secret[0] == '\0') {
			snprintf(err, errlen,
			         "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
			goto fail;
		}
		if (strlen(akid) >= sizeof(p->cached.akid) ||
		    strlen(secret) >= sizeof(p->cached.secret) ||
		    (token != NULL && strlen(token) >= sizeof(p->cached.token))) {
			snprintf(err, errlen, "AWS credentials in the environment are too long");
			goto fail;
		}
		if (strpbrk(akid, "\r\n:") != NULL || strpbrk(secret, "\r\n") != NULL ||
		    (token != NULL && strpbrk(token, "\r\n") != NULL)) {
			snprintf(err, errlen,
			         "AWS credentials in the environment have bad characters");
			goto fail;
		}
		snprintf(p->cached.akid, sizeof(p->cached.akid), "%s", akid);
		snprintf(p->cached.secret, sizeof(p->cached.secret), "%s", secret);
		snprintf(p->cached.token, sizeof(p->cached.token), "%s",
		         token != NULL ? token : "");
		p->have = 1;
		p->source = AWS_CREDS_ENV;
		return p;
	}
	if (rel != NULL && rel[0] != '\0') {
		host = getenv("BERTH_AWS_CONTAINER_CREDENTIALS_HOST");
		if (host == NULL || host[0] == '\0')
			host = AWS_CONTAINER_HOST_DEF;
		if (rel[0] != '/' ||
		    (size_t)snprintf(p->url, sizeof(p->url), "%s%s", host, rel) >= sizeof(p->url)) {
			snprintf(err, errlen,
			         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not a path");
			goto fail;
		}
		p->source = AWS_CREDS_CONTAINER;
	} else if (full != NULL && full[0] != '\0') {
		if (!full_uri_allowed(full)) {
			snprintf(err, errlen,
			         "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or http to a "
			         "loopback or ECS/EKS metadata address");
			goto fail;
		}
		if ((size_t)snprintf(p->url, sizeof(p->url), "%s", full) >= sizeof(p->url)) {
			snprintf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI is too long");
			goto fail;
		}
		authf = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
		auth = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
		if (authf != NULL && authf[0] != '\0')
			snprintf(p->auth_file, sizeof(p->auth_file), "%s", authf);
		else if (auth != NULL && auth[0] != '\0') {
			if (strpbrk(auth, "\r\n") != NULL || strlen(auth) >= sizeof(p->auth)) {
				snprintf(err, errlen,
				         "AWS_CONTAINER_AUTHORIZATION_TOKEN is malformed");
				goto fail;
			}
			snprintf(p->auth, sizeof(p->auth), "%s", auth);
		}
		p->source = AWS_CREDS_CONTAINER;
	} else if (imds != NULL && !aws_imds_disabled(imds)) {
		p->source = AWS_CREDS_IMDS;
	} else {
		snprintf(
		    err, errlen,
		    "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run in ECS, "
		    "or enable IMDS");
		goto fail;
	}
	return p;
fail:
	explicit_bzero(p, sizeof(*p));
	free(p);
	return NULL;
}

enum aws_creds_source
aws_creds_source(const struct aws_creds_provider *p)
{
	return p->source;
}

unsigned long
aws_creds_fetches(const struct aws_creds_provider *p)
{
	return p->fetches;
}

void
aws_creds_set_clock(struct aws_creds_provider *p, int64_t (*now_ms)(void))
{
	p->now_ms = now_ms != NULL ? now_ms : real_now_ms;
}

static int
fresh(const struct aws_creds_provider *p)
{
	if (!p->have)
		return 0;
	if (p->cached.expires_ms == 0)
		return 1;
	return p->now_ms() < p->cached.expires_ms - AWS_CREDS_REFRESH_MS;
}

static int
valid(const struct aws_creds_provider *p)
{
	return p->have && (p->cached.expires_ms == 0 || p->now_ms() < p->cached.expires_ms);
}

/* Hands the outcome to every waiter. */
static void
settle(struct aws_creds_provider *p, int err, const char *msg)
{
	struct creds_waits done;
	struct aws_creds_wait *w;

	p->fetching = 0;
	if (err != 0 && valid(p)) {
		/* The refresh failed but the cached credentials still work. */
		log_warnx("aws_creds_refresh_failed source=%s error=\"%s\" using=cached",
		          aws_creds_source_str(p->source), msg);
		err = 0;
	}
	/* Callbacks may ask again: hand out only to the waiters of this fetch. */
	TAILQ_INIT(&done);
	TAILQ_CONCAT(&done, &p->waits, entry);
	while ((w = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, w, entry);
		w->cb(err, err == 0 ? &p->cached : NULL, msg, w->arg);
		free(w);
	}
}

static void
accept_doc(struct aws_creds_provider *p, const char *body, size_t len)
{
	struct aws_creds c;
	char err[160];

	if (aws_creds_parse(body, len, &c, err, sizeof(err)) != 0) {
		settle(p, -EPROTO, err);
		return;
	}
	p->cached = c;
	p->have = 1;
	explicit_bzero(&c, sizeof(c));
	log_debug("aws_creds_fetched source=%s expires_ms=%lld", aws_creds_source_str(p->source),
	          (long long)p->cached.expires_ms);
	settle(p, 0, "");
}

static void
container_done(const struct evcurl_resp *r, void *arg)
{
	struct aws_creds_provider *p = arg;
	char msg[256];

	p->xfer = NULL;
	if (r->error == -ECANCELED)
		return;
	if (r->error != 0) {
		snprintf(msg, sizeof(msg), "container credentials endpoint: %s",
		         r->errmsg[0] != '\0' ? r->errmsg : strerror(-r->error));
		settle(p, r->error, msg);
		return;
	}
	if (r->status != 200) {
		snprintf(msg, sizeof(msg), "container credentials endpoint: HTTP %ld", r->status);
		settle(p, r->status == 401 || r->status == 403 ? -EACCES : -EIO, msg);
		return;
	}
	accept_doc(p, r->body, r->body_len);
}

/* Reads the authorization token file (EKS rotates it, so at every fetch). */
static int
read_auth_file(const char *path, char *out, size_t outlen)
{
	FILE *fp;
	size_t n;

	if ((fp = fopen(path, "r")) == NULL)
		return -errno;
	n = fread(out, 1, outlen - 1, fp);
	fclose(fp);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	if (n == 0 || strpbrk(out, "\r\n") != NULL)
		return -EINVAL;
	return 0;
}

static void
container_fetch(struct aws_creds_provider *p)
{
	struct evcurl_req req;
	char auth[CREDS_AUTH_MAX], hdr[CREDS_AUTH_MAX + 32];
	const char *hdrs[2] = {NULL, NULL};
	int rc;

	auth[0] = '\0';
	if (p->auth_file[0] != '\0') {
		if ((rc = read_auth_file(p->auth_file, auth, sizeof(auth))) != 0) {
			settle(p, rc, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
			return;
		}
	} else if (p->auth[0] != '\0') {
		snprintf(auth, sizeof(auth), "%s", p->auth);
	}
	if (auth[0] != '\0') {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
		hdrs[0] = hdr;
	}
	memset(&req, 0, sizeof(req));
	req.url = p->url;
	req.headers = hdrs[0] != NULL ? hdrs : NULL;
	req.timeout_ms = CREDS_TIMEOUT_MS;
	req.connect_timeout_ms = CREDS_CONNECT_MS;
	req.body_max = AWS_CREDS_BODY_MAX;
	req.no_proxy = 1;
	req.on_done = container_done;
	req.arg = p;
	p->xfer = evcurl_start(p->ec, &req);
	explicit_bzero(auth, sizeof(auth));
	explicit_bzero(hdr, sizeof(hdr));
	if (p->xfer == NULL)
		settle(p, -ENOMEM, "container credentials: cannot start the request");
}

static void
imds_creds_done(int err, const char *body, size_t len, const char *msg, void *arg)
{
	struct aws_creds_provider *p = arg;

	p->imds_op = NULL;
	if (err != 0) {
		settle(p, err, msg);
		return;
	}
	accept_doc(p, body, len);
}

static void
imds_role_done(int err, const char *body, size_t len, const char *msg, void *arg)
{
	struct aws_creds_provider *p = arg;
	char path[sizeof(IMDS_ROLE_PATH) + IMDS_ROLE_MAX];
	size_t n = len;

	p->imds_op = NULL;
	if (err != 0) {
		settle(p, err, msg);
		return;
	}
	/* One role per instance profile; take the first line. */
	for (n = 0; n < len && body[n] != '\n' && body[n] != '\r'; n++)
		;
	if (n == 0 || n >= sizeof(p->role) || memchr(body, '/', n) != NULL) {
		settle(p, -EPROTO, "IMDS: no instance role");
		return;
	}
	memcpy(p->role, body, n);
	p->role[n] = '\0';
	snprintf(path, sizeof(path), "%s%s", IMDS_ROLE_PATH, p->role);
	p->imds_op = aws_imds_get(p->imds, path, imds_creds_done, p);
}

static void
fetch(struct aws_creds_provider *p)
{
	p->fetching = 1;
	p->fetches++;
	switch (p->source) {
	case AWS_CREDS_CONTAINER:
		container_fetch(p);
		break;
	case AWS_CREDS_IMDS:
		p->imds_op = aws_imds_get(p->imds, IMDS_ROLE_PATH, imds_role_done, p);
		break;
	default:
		settle(p, -ENOENT, "no credentials source");
		break;
	}
}

struct aws_creds_wait *
aws_creds_get(struct aws_creds_provider *p, aws_creds_cb cb, void *arg)
{
	struct aws_creds_wait *w;

	if (fresh(p) || (p->source == AWS_CREDS_ENV && p->have)) {
		cb(0, &p->cached, "", arg);
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		cb(-ENOMEM, NULL, "out of memory", arg);
		return NULL;
	}
	w->p = p;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&p->waits, w, entry);
	if (!p->fetching)
		fetch(p);
	/* fetch may have settled at once (a start failure): then w is gone. */
	return p->fetching ? w : NULL;
}

void
aws_creds_cancel(struct aws_creds_wait *w)
{
	TAILQ_REMOVE(&w->p->waits, w, entry);
	free(w);
}

void
aws_creds_invalidate(struct aws_creds_provider *p)
{
	if (p->source == AWS_CREDS_ENV)
		return;
	p->have = 0;
	explicit_bzero(&p->cached, sizeof(p->cached));
}

void
aws_creds_free(struct aws_creds_provider *p)
{
	struct aws_creds_wait *w;

	if (p == NULL)
		return;
	while ((w = TAILQ_FIRST(&p->waits)) != NULL) {
		TAILQ_REMOVE(&p->waits, w, entry);
		free(w);
	}
	if (p->xfer != NULL)
		evcurl_cancel(p->xfer);
	if (p->imds_op != NULL)
		aws_imds_cancel(p->imds_op);
	explicit_bzero(p, sizeof(*p));
	free(p);
}
