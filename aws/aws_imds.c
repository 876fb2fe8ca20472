/*
 * IMDSv2 client: session token, then GET with the token.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws_imds.h"
#include "core/evcurl.h"
#include "core/log.h"

#define IMDS_TOKEN_TTL      21600 /* seconds asked for */
#define IMDS_TIMEOUT_MS     2000
#define IMDS_CONNECT_MS     1000
#define IMDS_ATTEMPTS       2
#define IMDS_TOKEN_MARGIN_S 60

struct aws_imds_op {
	TAILQ_ENTRY(aws_imds_op) entry;
	struct aws_imds *imds;
	char path[256];
	aws_imds_cb cb;
	void *arg;
	struct evcurl_xfer *xfer;
	int tries;
	int fresh_token; /* the token was taken for this op: a 401 is final */
};
TAILQ_HEAD(imds_ops, aws_imds_op);

struct aws_imds {
	struct evcurl *ec;
	char endpoint[AWS_IMDS_URL_MAX];
	int disabled;
	char token[AWS_IMDS_TOKEN_MAX];
	time_t token_expires;
	struct evcurl_xfer *token_xfer;
	int token_tries;
	long timeout_ms, connect_ms; /* per request */
	int attempts;                /* per request, on transport errors */
	struct imds_ops waiting;     /* for the token */
	struct imds_ops active;      /* GET in flight */
};

static void op_send(struct aws_imds_op *);
static void token_fetch(struct aws_imds *);

struct aws_imds *
aws_imds_new(struct evcurl *ec, const char *endpoint)
{
	struct aws_imds *m;
	const char *e;
	size_t n;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->ec = ec;
	m->timeout_ms = IMDS_TIMEOUT_MS;
	m->connect_ms = IMDS_CONNECT_MS;
	m->attempts = IMDS_ATTEMPTS;
	TAILQ_INIT(&m->waiting);
	TAILQ_INIT(&m->active);
	if (endpoint == NULL) {
		e = getenv("AWS_EC2_METADATA_DISABLED");
		if (e != NULL && strcasecmp(e, "true") == 0)
			m->disabled = 1;
		endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
		if (endpoint == NULL || endpoint[0] == '\0')
			endpoint = AWS_IMDS_DEFAULT_ENDPOINT;
	}
	snprintf(m->endpoint, sizeof(m->endpoint), "%s", endpoint);
	n = strlen(m->endpoint);
	while (n > 0 && m->endpoint[n - 1] == '/')
		m->endpoint[--n] = '\0';
	return m;
}

const char *
aws_imds_endpoint(const struct aws_imds *m)
{
	return m->endpoint;
}

int
aws_imds_disabled(const struct aws_imds *m)
{
	return m->disabled;
}

void
aws_imds_set_timeouts(struct aws_imds *m, long timeout_ms, long connect_ms, int attempts)
{
	m->timeout_ms = timeout_ms;
	m->connect_ms = connect_ms;
	m->attempts = attempts > 0 ? attempts : 1;
}

int
aws_imds_has_token(const struct aws_imds *m)
{
	return m->token[0] != '\0';
}

static void
op_finish(struct aws_imds_op *op, int err, const char *body, size_t len, const char *msg)
{
	if (op->cb != NULL)
		op->cb(err, body, len, msg, op->arg);
	free(op);
}

/* Takes the waiting ops off the client first: a callback may free it (see aws_imds_free). */
static void
fail_waiting(struct aws_imds *m, int err, const char *msg)
{
	struct imds_ops failed = TAILQ_HEAD_INITIALIZER(failed);
	struct aws_imds_op *op;

	TAILQ_CONCAT(&failed, &m->waiting, entry);
	while ((op = TAILQ_FIRST(&failed)) != NULL) {
		TAILQ_REMOVE(&failed, op, entry);
		op_finish(op, err, "", 0, msg);
	}
}

static void
token_done(const struct evcurl_resp *r, void *arg)
{
	struct aws_imds *m = arg;
	struct imds_ops ready = TAILQ_HEAD_INITIALIZER(ready);
	struct aws_imds_op *op;
	char msg[512];
	size_t n;

	m->token_xfer = NULL;
	if (r->error == -ECANCELED)
		return;
	if (r->error != 0 || r->status != 200) {
		if (r->error != 0 && ++m->token_tries < m->attempts) {
			token_fetch(m);
			return;
		}
		if (r->error != 0)
			snprintf(msg, sizeof(msg), "IMDS token: %s",
			         r->errmsg[0] != '\0' ? r->errmsg : strerror(-r->error));
		else
			snprintf(msg, sizeof(msg), "IMDS token: HTTP %ld", r->status);
		fail_waiting(m, r->error != 0 ? r->error : -EACCES, msg);
		return;
	}
	n = r->body_len;
	while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= sizeof(m->token) || memchr(r->body, '\n', n) != NULL) {
		fail_waiting(m, -EPROTO, "IMDS token: malformed");
		return;
	}
	memcpy(m->token, r->body, n);
	m->token[n] = '\0';
	m->token_expires = time(NULL) + IMDS_TOKEN_TTL;
	TAILQ_CONCAT(&ready, &m->waiting, entry);
	while ((op = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, op, entry);
		op->fresh_token = 1;
		op_send(op);
	}
}

static void
token_fetch(struct aws_imds *m)
{
	static const char *const hdrs[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
	struct evcurl_req req;
	char url[AWS_IMDS_URL_MAX + 32];

	snprintf(url, sizeof(url), "%s/latest/api/token", m->endpoint);
	memset(&req, 0, sizeof(req));
	req.method = "PUT";
	req.url = url;
	req.headers = hdrs;
	req.body = "";
	req.body_len = 0;
	req.timeout_ms = m->timeout_ms;
	req.connect_timeout_ms = m->connect_ms;
	req.body_max = AWS_IMDS_TOKEN_MAX;
	req.no_proxy = 1;
	req.on_done = token_done;
	req.arg = m;
	if ((m->token_xfer = evcurl_start(m->ec, &req)) == NULL)
		fail_waiting(m, -ENOMEM, "IMDS token: cannot start the request");
}

static void
get_done(const struct evcurl_resp *r, void *arg)
{
	struct aws_imds_op *op = arg;
	struct aws_imds *m = op->imds;
	char msg[512];

	op->xfer = NULL;
	TAILQ_REMOVE(&m->active, op, entry);
	if (r->error == -ECANCELED) {
		op_finish(op, -ECANCELED, "", 0, "cancelled");
		return;
	}
	if (r->error == 0 && r->status == 401 && !op->fresh_token) {
		/* The token lapsed or the instance was restarted: take a new one. */
		m->token[0] = '\0';
		m->token_expires = 0;
		op->fresh_token = 1;
		TAILQ_INSERT_TAIL(&m->waiting, op, entry);
		if (m->token_xfer == NULL) {
			m->token_tries = 0;
			token_fetch(m);
		}
		return;
	}
	if (r->error != 0 && ++op->tries < m->attempts) {
		op_send(op);
		return;
	}
	if (r->error != 0) {
		snprintf(msg, sizeof(msg), "IMDS %s: %s", op->path,
		         r->errmsg[0] != '\0' ? r->errmsg : strerror(-r->error));
		op_finish(op, r->error, "", 0, msg);
		return;
	}
	if (r->status != 200) {
		snprintf(msg, sizeof(msg), "IMDS %s: HTTP %ld", op->path, r->status);
		op_finish(op,
		          r->status == 404                       ? -ENOENT
		          : r->status == 401 || r->status == 403 ? -EACCES
		                                                 : -EIO,
		          "", 0, msg);
		return;
	}
	op_finish(op, 0, r->body, r->body_len, "");
}

static void
op_send(struct aws_imds_op *op)
{
	struct aws_imds *m = op->imds;
	struct evcurl_req req;
	char url[AWS_IMDS_URL_MAX + 256], tokhdr[AWS_IMDS_TOKEN_MAX + 40];
	const char *hdrs[2];

	snprintf(url, sizeof(url), "%s%s", m->endpoint, op->path);
	snprintf(tokhdr, sizeof(tokhdr), "X-aws-ec2-metadata-token: %s", m->token);
	hdrs[0] = tokhdr;
	hdrs[1] = NULL;
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.headers = hdrs;
	req.timeout_ms = m->timeout_ms;
	req.connect_timeout_ms = m->connect_ms;
	req.body_max = AWS_IMDS_BODY_MAX;
	req.no_proxy = 1;
	req.on_done = get_done;
	req.arg = op;
	TAILQ_INSERT_TAIL(&m->active, op, entry);
	if ((op->xfer = evcurl_start(m->ec, &req)) == NULL) {
		TAILQ_REMOVE(&m->active, op, entry);
		op_finish(op, -ENOMEM, "", 0, "IMDS: cannot start the request");
	}
}

struct aws_imds_op *
aws_imds_get(struct aws_imds *m, const char *path, aws_imds_cb cb, void *arg)
{
	struct aws_imds_op *op;

	if (m->disabled) {
		cb(-ENOTSUP, "", 0, "IMDS is disabled (AWS_EC2_METADATA_DISABLED)", arg);
		return NULL;
	}
	if (strlen(path) >= sizeof(op->path) || path[0] != '/') {
		cb(-EINVAL, "", 0, "IMDS: bad path", arg);
		return NULL;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		cb(-ENOMEM, "", 0, "IMDS: out of memory", arg);
		return NULL;
	}
	op->imds = m;
	snprintf(op->path, sizeof(op->path), "%s", path);
	op->cb = cb;
	op->arg = arg;
	if (m->token[0] != '\0' && time(NULL) + IMDS_TOKEN_MARGIN_S < m->token_expires) {
		op_send(op);
		return op;
	}
	TAILQ_INSERT_TAIL(&m->waiting, op, entry);
	if (m->token_xfer == NULL) {
		m->token_tries = 0;
		token_fetch(m);
	}
	return op;
}

void
aws_imds_cancel(struct aws_imds_op *op)
{
	struct aws_imds *m = op->imds;
	struct aws_imds_op *w;

	TAILQ_FOREACH(w, &m->waiting, entry)
	{
		if (w == op) {
			TAILQ_REMOVE(&m->waiting, op, entry);
			free(op);
			return;
		}
	}
	/* In flight: drop the callback, then cancel (get_done frees the op). */
	op->cb = NULL;
	if (op->xfer != NULL)
		evcurl_cancel(op->xfer);
}

void
aws_imds_free(struct aws_imds *m)
{
	struct aws_imds_op *op;

	if (m == NULL)
		return;
	if (m->token_xfer != NULL)
		evcurl_cancel(m->token_xfer);
	fail_waiting(m, -ECANCELED, "cancelled");
	while ((op = TAILQ_FIRST(&m->active)) != NULL)
		evcurl_cancel(op->xfer);
	explicit_bzero(m->token, sizeof(m->token));
	free(m);
}
