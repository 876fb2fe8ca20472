/*
 * AWS JSON-protocol calls: region and endpoints, signing, retries.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_creds.h"
#include "aws/aws_imds.h"
#include "aws/aws_retry.h"
#include "core/evcurl.h"
#include "core/log.h"

#define DDB_BACKOFF_BASE_MS 50   /* botocore's DynamoDB base */
#define ECS_BACKOFF_BASE_MS 1000 /* botocore's standard-mode base */

struct svc_info {
	const char *name;         /* SigV4 service and endpoint prefix */
	const char *env;          /* AWS_ENDPOINT_URL_<SERVICE> */
	const char *content_type; /* JSON protocol version */
	const char *target;       /* X-Amz-Target prefix */
	long backoff_base_ms;
	int check_crc32;
};

static const struct svc_info svcs[] = {
    [AWS_ECS] = {"ecs", "AWS_ENDPOINT_URL_ECS", "application/x-amz-json-1.1",
                 "AmazonEC2ContainerServiceV20141113", ECS_BACKOFF_BASE_MS, 0},
    [AWS_DYNAMODB] = {"dynamodb", "AWS_ENDPOINT_URL_DYNAMODB", "application/x-amz-json-1.0",
                      "DynamoDB_20120810", DDB_BACKOFF_BASE_MS, 1},
};
#define NSVC (sizeof(svcs) / sizeof(svcs[0]))

struct aws_call {
	TAILQ_ENTRY(aws_call) entry;
	struct aws *aws;
	enum aws_service svc;
	char op[AWS_OPERATION_MAX];
	char *body;
	size_t body_len;
	aws_call_cb cb;
	void *arg;
	int attempts;
	int quota_taken;
	int refreshed;      /* credentials refreshed once after ExpiredToken */
	int waiting_region; /* on aws->region_waits */
	struct evcurl_xfer *xfer;
	struct aws_creds_wait *cw;
	struct event *timer;
	int cancelling;
};
TAILQ_HEAD(aws_calls, aws_call);

struct aws {
	struct event_base *base;
	struct evcurl *ec;
	struct aws_imds *imds;
	struct aws_creds_provider *creds;
	char region[AWS_REGION_MAX];
	char endpoint_env[NSVC][AWS_ENDPOINT_MAX]; /* from the environment, "" = default */
	char endpoint[NSVC][AWS_ENDPOINT_MAX];
	struct aws_imds_op *region_op;
	struct aws_calls calls;        /* every live call */
	struct aws_calls region_waits; /* calls waiting for the region */
	struct aws_retry_quota quota;
	long base_ms[NSVC];
	long cap_ms;
	int max_attempts;
	struct aws_stats stats;
};

static void call_creds(struct aws_call *);

static int
region_ok(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n >= AWS_REGION_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)r[i]) && !isdigit((unsigned char)r[i]) && r[i] != '-')
			return 0;
	return 1;
}

static int
endpoint_set(char *out, const char *url, char *err, size_t errlen, const char *what)
{
	size_t n;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "%s must be an http:// or https:// URL", what);
		return -EINVAL;
	}
	if (strlen(url) >= AWS_ENDPOINT_MAX || strpbrk(url, " \r\n\t") != NULL) {
		snprintf(err, errlen, "%s is too long or has blanks", what);
		return -EINVAL;
	}
	snprintf(out, AWS_ENDPOINT_MAX, "%s", url);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

static void
endpoints_resolve(struct aws *a)
{
	for (size_t i = 0; i < NSVC; i++) {
		if (a->endpoint_env[i][0] != '\0')
			snprintf(a->endpoint[i], sizeof(a->endpoint[i]), "%s", a->endpoint_env[i]);
		else if (a->region[0] != '\0')
			snprintf(a->endpoint[i], sizeof(a->endpoint[i]),
			         "https://%s.%s.amazonaws.com", svcs[i].name, a->region);
		else
			a->endpoint[i][0] = '\0';
	}
}

struct aws *
aws_new(struct event_base *base, struct evcurl *ec, char *err, size_t errlen)
{
	struct aws *a;
	const char *s, *all;
	long n;
	char *end;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->base = base;
	a->ec = ec;
	TAILQ_INIT(&a->calls);
	TAILQ_INIT(&a->region_waits);
	aws_retry_quota_init(&a->quota, AWS_RETRY_QUOTA_MAX);
	for (size_t i = 0; i < NSVC; i++)
		a->base_ms[i] = svcs[i].backoff_base_ms;
	a->cap_ms = AWS_RETRY_BACKOFF_CAP;
	a->max_attempts = AWS_RETRY_MAX_ATTEMPTS;
	if ((s = getenv("AWS_MAX_ATTEMPTS")) != NULL && s[0] != '\0') {
		errno = 0;
		n = strtol(s, &end, 10);
		if (errno != 0 || *end != '\0' || n < 1 || n > 10) {
			snprintf(err, errlen, "AWS_MAX_ATTEMPTS must be 1-10");
			goto fail;
		}
		a->max_attempts = (int)n;
	}
	if ((s = getenv("AWS_REGION")) == NULL || s[0] == '\0')
		s = getenv("AWS_DEFAULT_REGION");
	if (s != NULL && s[0] != '\0') {
		if (!region_ok(s)) {
			snprintf(err, errlen, "AWS_REGION is not a region name");
			goto fail;
		}
		snprintf(a->region, sizeof(a->region), "%s", s);
	}
	all = getenv("AWS_ENDPOINT_URL");
	for (size_t i = 0; i < NSVC; i++) {
		s = getenv(svcs[i].env);
		if (s != NULL && s[0] != '\0') {
			if (endpoint_set(a->endpoint_env[i], s, err, errlen, svcs[i].env) != 0)
				goto fail;
		} else if (all != NULL && all[0] != '\0') {
			if (endpoint_set(a->endpoint_env[i], all, err, errlen,
			                 "AWS_ENDPOINT_URL") != 0)
				goto fail;
		}
	}
	endpoints_resolve(a);
	if ((a->imds = aws_imds_new(ec, NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((a->creds = aws_creds_new(ec, a->imds, err, errlen)) == NULL)
		goto fail;
	return a;
fail:
	aws_imds_free(a->imds);
	free(a);
	return NULL;
}

const char *
aws_region(const struct aws *a)
{
	return a->region;
}

const char *
aws_endpoint(const struct aws *a, enum aws_service s)
{
	return a->endpoint[s];
}

struct aws_creds_provider *
aws_creds(struct aws *a)
{
	return a->creds;
}

struct aws_imds *
aws_imds(struct aws *a)
{
	return a->imds;
}

int
aws_env_max_attempts(void)
{
	const char *s = getenv("AWS_MAX_ATTEMPTS");
	char *end;
	long n;

	if (s == NULL || s[0] == '\0')
		return AWS_RETRY_MAX_ATTEMPTS;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 10)
		return AWS_RETRY_MAX_ATTEMPTS;
	return (int)n;
}

void
aws_set_retry(struct aws *a, long base_ms, long cap_ms, int max_attempts)
{
	for (size_t i = 0; i < NSVC; i++)
		a->base_ms[i] = base_ms > 0 ? base_ms : svcs[i].backoff_base_ms;
	a->cap_ms = cap_ms > 0 ? cap_ms : AWS_RETRY_BACKOFF_CAP;
	if (max_attempts >= 1 && max_attempts <= 10)
		a->max_attempts = max_attempts;
}

void
aws_get_stats(const struct aws *a, struct aws_stats *out)
{
	*out = a->stats;
	out->quota_tokens = a->quota.tokens;
}

/* --- signing ------------------------------------------------------------ */

static int
add_header(struct aws_signing *s, size_t *used, int *nh, const char *name, const char *value)
{
	int n;

	/* A blank value would be signed by libcurl 7.88 and break the signature. */
	if (value == NULL || value[0] == '\0')
		return 0;
	if (*nh >= (int)(sizeof(s->hdrs) / sizeof(s->hdrs[0])) - 1)
		return -E2BIG;
	n = snprintf(s->store + *used, sizeof(s->store) - *used, "%s: %s", name, value);
	if (n < 0 || (size_t)n >= sizeof(s->store) - *used)
		return -E2BIG;
	s->hdrs[(*nh)++] = s->store + *used;
	*used += (size_t)n + 1;
	return 0;
}

int
aws_signing_prepare(struct aws_signing *s, const char *akid, const char *secret, const char *token,
                    const char *region, const char *service, const char *content_type,
                    const char *target, const char *const *extra)
{
	size_t used = 0;
	int nh = 0, rc, n;

	memset(s, 0, sizeof(*s));
	if (strchr(akid, ':') != NULL || akid[0] == '\0' || secret[0] == '\0')
		return -EINVAL;
	n = snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:%s", region, service);
	if (n < 0 || (size_t)n >= sizeof(s->sigv4))
		return -E2BIG;
	n = snprintf(s->userpwd, sizeof(s->userpwd), "%s:%s", akid, secret);
	if (n < 0 || (size_t)n >= sizeof(s->userpwd))
		return -E2BIG;
	if ((rc = add_header(s, &used, &nh, "Content-Type", content_type)) != 0 ||
	    (rc = add_header(s, &used, &nh, "X-Amz-Target", target)) != 0 ||
	    (rc = add_header(s, &used, &nh, "X-Amz-Security-Token", token)) != 0)
		return rc;
	for (const char *const *e = extra; e != NULL && *e != NULL; e++) {
		if (nh >= (int)(sizeof(s->hdrs) / sizeof(s->hdrs[0])) - 1)
			return -E2BIG;
		s->hdrs[nh++] = *e;
	}
	s->hdrs[nh] = NULL;
	return 0;
}

void
aws_signing_wipe(struct aws_signing *s)
{
	explicit_bzero(s, sizeof(*s));
}

/* --- calls -------------------------------------------------------------- */

static void
call_free(struct aws_call *c)
{
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->body);
	free(c);
}

static void
call_finish(struct aws_call *c, struct aws_result *r)
{
	struct aws *a = c->aws;

	r->attempts = c->attempts;
	r->service = svcs[c->svc].name;
	r->operation = c->op;
	TAILQ_REMOVE(&a->calls, c, entry);
	if (r->error != 0)
		a->stats.failures++;
	if (r->error != 0 && r->error != -ECANCELED) {
		char msg[768];
		aws_result_str(r, msg, sizeof(msg));
		log_debug("aws_call_failed %s", msg);
	}
	c->cb(r, c->arg);
	call_free(c);
}

static void
call_fail(struct aws_call *c, int error, const char *code, const char *msg)
{
	struct aws_result r;

	memset(&r, 0, sizeof(r));
	r.error = error;
	snprintf(r.aerr.code, sizeof(r.aerr.code), "%s", code);
	snprintf(r.aerr.message, sizeof(r.aerr.message), "%s", msg);
	call_finish(c, &r);
}

void
aws_result_str(const struct aws_result *r, char *out, size_t outlen)
{
	const char *what = r->aerr.code[0] != '\0' ? r->aerr.code : strerror(-r->error);

	if (r->error == 0) {
		snprintf(out, outlen, "%s %s: ok (HTTP %ld, %d attempt%s)", r->service,
		         r->operation, r->status, r->attempts, r->attempts == 1 ? "" : "s");
		return;
	}
	snprintf(out, outlen, "%s %s: %s%s%s (HTTP %ld, %d attempt%s)",
	         r->service != NULL ? r->service : "aws", r->operation != NULL ? r->operation : "",
	         what, r->aerr.message[0] != '\0' ? ": " : "", r->aerr.message, r->status,
	         r->attempts, r->attempts == 1 ? "" : "s");
}

static uint32_t
crc32_buf(const unsigned char *p, size_t n)
{
	static uint32_t table[256];
	static int ready;
	uint32_t c;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		ready = 1;
	}
	c = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static void
retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct aws_call *c = arg;

	(void)fd;
	(void)what;
	call_creds(c);
}

/* Schedules another attempt, or returns -1 when none is allowed. */
static int
call_retry(struct aws_call *c, enum aws_retry_class cls, int timed_out)
{
	struct aws *a = c->aws;
	struct timeval tv;
	int cost;
	long ms;

	if (cls == AWS_RETRY_EXPIRED) {
		if (c->refreshed)
			return -1;
		/* Fetch new credentials and try again at once; not a quota matter. */
		c->refreshed = 1;
		aws_creds_invalidate(a->creds);
		ms = 0;
	} else {
		if (c->attempts >= a->max_attempts)
			return -1;
		if ((cost = aws_retry_quota_take(&a->quota, timed_out)) == 0) {
			a->stats.quota_exhausted++;
			return -1;
		}
		c->quota_taken += cost;
		ms = aws_retry_backoff_ms(c->attempts, a->base_ms[c->svc], a->cap_ms,
		                          aws_retry_random());
	}
	a->stats.retries++;
	if (c->timer == NULL && (c->timer = evtimer_new(a->base, retry_timer, c)) == NULL)
		return -1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	return 0;
}

static void
call_done(const struct evcurl_resp *r, void *arg)
{
	struct aws_call *c = arg;
	struct aws *a = c->aws;
	struct aws_result res;
	enum aws_retry_class cls;
	json_error_t jerr;
	char crc[16], *end;
	unsigned long want;

	c->xfer = NULL;
	if (c->cancelling) {
		call_free(c);
		return;
	}
	memset(&res, 0, sizeof(res));
	res.status = r->status;
	if (r->error == 0 && r->status >= 200 && r->status < 300) {
		if (svcs[c->svc].check_crc32 &&
		    evcurl_header(r->headers, "x-amz-crc32", crc, sizeof(crc)) == 0) {
			errno = 0;
			want = strtoul(crc, &end, 10);
			if (errno != 0 || *end != '\0' ||
			    want != crc32_buf((const unsigned char *)r->body, r->body_len)) {
				/* A damaged body: botocore retries these. */
				if (call_retry(c, AWS_RETRY_TRANSIENT, 0) == 0)
					return;
				call_fail(c, -EPROTO, "CRC32CheckFailed",
				          "response body does not match x-amz-crc32");
				return;
			}
		}
		res.body =
		    r->body_len == 0 ? json_object() : json_loadb(r->body, r->body_len, 0, &jerr);
		if (res.body == NULL || !json_is_object(res.body)) {
			json_decref(res.body);
			call_fail(c, -EPROTO, "SerializationException",
			          "response is not a JSON object");
			return;
		}
		aws_retry_quota_release(&a->quota, c->quota_taken);
		call_finish(c, &res);
		json_decref(res.body);
		return;
	}
	if (r->error != 0) {
		res.error = r->error;
		snprintf(res.aerr.message, sizeof(res.aerr.message), "%s",
		         r->errmsg[0] != '\0' ? r->errmsg : strerror(-r->error));
	} else {
		res.error = -EIO;
		aws_error_parse(r->headers, r->body, r->body_len, &res.aerr);
	}
	cls = aws_retry_classify(r->error, r->status, res.aerr.code);
	if (cls == AWS_RETRY_THROTTLE)
		a->stats.throttled++;
	if (cls != AWS_RETRY_NONE && call_retry(c, cls, r->error == -ETIMEDOUT) == 0) {
		log_debug("aws_retry service=%s op=%s attempt=%d code=%s status=%ld",
		          svcs[c->svc].name, c->op, c->attempts,
		          res.aerr.code[0] != '\0' ? res.aerr.code : "-", r->status);
		return;
	}
	call_finish(c, &res);
}

static void
call_send(struct aws_call *c, const struct aws_creds *cr)
{
	struct aws *a = c->aws;
	struct aws_signing s;
	struct evcurl_req req;
	char target[AWS_OPERATION_MAX + 64], url[AWS_ENDPOINT_MAX + 2];

	snprintf(target, sizeof(target), "%s.%s", svcs[c->svc].target, c->op);
	snprintf(url, sizeof(url), "%s/", a->endpoint[c->svc]);
	if (aws_signing_prepare(&s, cr->akid, cr->secret, cr->token, a->region, svcs[c->svc].name,
	                        svcs[c->svc].content_type, target, NULL) != 0) {
		aws_signing_wipe(&s);
		call_fail(c, -EACCES, "InvalidCredentials",
		          "credentials cannot be used for signing");
		return;
	}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.headers = s.hdrs;
	req.body = c->body;
	req.body_len = c->body_len;
	req.timeout_ms = AWS_CALL_TIMEOUT_MS;
	req.body_max = AWS_RESP_BODY_MAX;
	req.aws_sigv4 = s.sigv4;
	req.userpwd = s.userpwd;
	req.on_done = call_done;
	req.arg = c;
	c->attempts++;
	a->stats.attempts++;
	c->xfer = evcurl_start(a->ec, &req);
	aws_signing_wipe(&s);
	if (c->xfer == NULL)
		call_fail(c, -ENOMEM, "", "cannot start the request");
}

static void
creds_ready(int err, const struct aws_creds *cr, const char *msg, void *arg)
{
	struct aws_call *c = arg;
	char m[AWS_ERR_MSG_MAX];

	c->cw = NULL;
	if (err != 0) {
		snprintf(m, sizeof(m), "no credentials (%s): %s",
		         aws_creds_source_str(aws_creds_source(c->aws->creds)), msg);
		call_fail(c, -EACCES, "CredentialsError", m);
		return;
	}
	call_send(c, cr);
}

static void
call_creds(struct aws_call *c)
{
	c->cw = aws_creds_get(c->aws->creds, creds_ready, c);
}

static void
region_done(int err, const char *body, size_t len, const char *msg, void *arg)
{
	struct aws *a = arg;
	struct aws_calls waits;
	struct aws_call *c;
	char r[AWS_REGION_MAX], m[AWS_ERR_MSG_MAX];

	a->region_op = NULL;
	r[0] = '\0';
	if (err == 0) {
		while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
			len--;
		if (len < sizeof(r)) {
			memcpy(r, body, len);
			r[len] = '\0';
		}
		if (!region_ok(r)) {
			err = -EPROTO;
			msg = "IMDS region is malformed";
		}
	}
	if (err == 0) {
		snprintf(a->region, sizeof(a->region), "%s", r);
		endpoints_resolve(a);
		log_info("aws_region region=%s source=imds", a->region);
	}
	TAILQ_INIT(&waits);
	TAILQ_CONCAT(&waits, &a->region_waits, entry);
	while ((c = TAILQ_FIRST(&waits)) != NULL) {
		TAILQ_REMOVE(&waits, c, entry);
		c->waiting_region = 0;
		TAILQ_INSERT_TAIL(&a->calls, c, entry);
		if (err != 0) {
			snprintf(m, sizeof(m), "no region: set AWS_REGION (IMDS: %s)", msg);
			call_fail(c, -ENOENT, "RegionUnknown", m);
		} else
			call_creds(c);
	}
}

static void
start_timer(evutil_socket_t fd, short what, void *arg)
{
	struct aws_call *c = arg;
	struct aws *a = c->aws;

	(void)fd;
	(void)what;
	if (a->region[0] != '\0') {
		call_creds(c);
		return;
	}
	TAILQ_REMOVE(&a->calls, c, entry);
	TAILQ_INSERT_TAIL(&a->region_waits, c, entry);
	c->waiting_region = 1;
	if (a->region_op == NULL)
		a->region_op =
		    aws_imds_get(a->imds, "/latest/meta-data/placement/region", region_done, a);
}

struct aws_call *
aws_call(struct aws *a, enum aws_service svc, const char *op, json_t *req, aws_call_cb cb,
         void *arg)
{
	struct aws_call *c;
	struct timeval tv = {0, 0};

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->aws = a;
	c->svc = svc;
	c->cb = cb;
	c->arg = arg;
	snprintf(c->op, sizeof(c->op), "%s", op);
	c->body = json_dumps(req, JSON_COMPACT);
	if (c->body == NULL || (c->timer = evtimer_new(a->base, start_timer, c)) == NULL)
		goto fail;
	c->body_len = strlen(c->body);
	json_decref(req);
	TAILQ_INSERT_TAIL(&a->calls, c, entry);
	a->stats.calls++;
	/* Start from the loop, so cb never runs before aws_call returns. */
	evtimer_add(c->timer, &tv);
	return c;
fail:
	json_decref(req);
	if (c != NULL)
		call_free(c);
	return NULL;
}

void
aws_call_cancel(struct aws_call *c)
{
	struct aws *a = c->aws;

	if (c->waiting_region)
		TAILQ_REMOVE(&a->region_waits, c, entry);
	else
		TAILQ_REMOVE(&a->calls, c, entry);
	if (c->cw != NULL)
		aws_creds_cancel(c->cw);
	if (c->xfer != NULL) {
		/* evcurl runs call_done with -ECANCELED, which frees c. */
		c->cancelling = 1;
		evcurl_cancel(c->xfer);
		return;
	}
	call_free(c);
}

void
aws_free(struct aws *a)
{
	struct aws_call *c;

	if (a == NULL)
		return;
	while ((c = TAILQ_FIRST(&a->calls)) != NULL)
		aws_call_cancel(c);
	while ((c = TAILQ_FIRST(&a->region_waits)) != NULL)
		aws_call_cancel(c);
	if (a->region_op != NULL)
		aws_imds_cancel(a->region_op);
	aws_creds_free(a->creds);
	aws_imds_free(a->imds);
	free(a);
}
