/*
 * berth doctor: checks the registry, Docker (through core/docker, as the
 * sidecar reaches it), the ECS agent, IMDS, the AWS credentials and the
 * table, one line each (or --json); exits 1 when one fails.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_creds.h"
#include "aws/aws_ddb.h"
#include "aws/aws_imds.h"
#include "core/docker.h"
#include "core/evcurl.h"
#include "core/opts.h"
#include "berth/berth.h"
#include "registry/item.h"
#include "registry/registry.h"

#define PROBE_TIMEOUT_MS 3000

/* --- doctor ---------------------------------------------------------------- */

struct probe {
	int done;
	long status;
	int error;
	char msg[256];
	char body[512];
};

static void
probe_done(const struct evcurl_resp *r, void *arg)
{
	struct probe *p = arg;

	p->status = r->status;
	p->error = r->error;
	snprintf(p->msg, sizeof(p->msg), "%s", r->errmsg != NULL ? r->errmsg : "");
	snprintf(p->body, sizeof(p->body), "%.*s", (int)(r->body_len < 511 ? r->body_len : 511),
	         r->body);
	p->done = 1;
}

static void
probe_get(struct berth_loop *l, const char *url, struct probe *p)
{
	struct evcurl_req req;

	memset(p, 0, sizeof(*p));
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.timeout_ms = PROBE_TIMEOUT_MS;
	req.connect_timeout_ms = PROBE_TIMEOUT_MS;
	req.body_max = 64 * 1024;
	req.no_proxy = 1;
	req.on_done = probe_done;
	req.arg = p;
	if (evcurl_start(l->ec, &req) == NULL) {
		p->error = -ENOMEM;
		p->done = 1;
		return;
	}
	berth_loop_wait(l, &p->done, PROBE_TIMEOUT_MS + 1000);
}

struct report {
	json_t *checks;
	int failed;
	int json;
};

static void report(struct report *r, const char *name, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report(struct report *r, const char *name, const char *state, const char *fmt, ...)
{
	char detail[512], safe[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (strcmp(state, "fail") == 0)
		r->failed = 1;
	berth_safe(safe, sizeof(safe), detail);
	if (r->json)
		json_array_append_new(r->checks, json_pack("{s:s, s:s, s:s}", "check", name,
		                                           "state", state, "detail", safe));
	else
		printf("%-12s %-5s %s\n", name, state, safe);
}

struct ping_wait {
	int done, error;
	long status;
	char msg[256];
};

static void
ping_done(const struct docker_resp *r, void *arg)
{
	struct ping_wait *w = arg;

	w->error = r->error;
	w->status = r->status;
	snprintf(w->msg, sizeof(w->msg), "%s", r->message);
	w->done = 1;
}

/* Docker answers /_ping at --docker-host (core/docker: the same client the sidecar uses). */
static void
check_docker(struct berth_loop *l, struct berth_ctx *c, struct report *r)
{
	const char *host = opts_get(&c->o, "docker-host");
	struct ping_wait w = {0};
	struct evcurl_xfer *x;
	struct docker *d;
	char err[256];

	if (host == NULL || strcmp(host, "none") == 0) {
		report(r, "docker", "skip", "--docker-host none");
		return;
	}
	if ((d = docker_new(l->ec, host, NULL, err, sizeof(err))) == NULL) {
		report(r, "docker", "fail", "%s: %s", host, err);
		return;
	}
	if ((x = docker_ping(d, ping_done, &w)) == NULL) {
		report(r, "docker", "fail", "%s: the ping could not start", host);
	} else if (!berth_loop_wait(l, &w.done, PROBE_TIMEOUT_MS)) {
		evcurl_cancel(x);
		report(r, "docker", "fail", "%s: no answer within %d ms", host, PROBE_TIMEOUT_MS);
	} else if (w.error == 0 && w.status == 200) {
		report(r, "docker", "ok", "%s answers, API %s", host, docker_api_version(d));
	} else {
		report(r, "docker", "fail", "%s: %s", host,
		       w.msg[0] != '\0' ? w.msg
		       : w.error != 0   ? strerror(-w.error)
		                        : "bad answer");
	}
	docker_free(d);
}

static void
check_agent(struct berth_loop *l, struct berth_ctx *c, struct report *r)
{
	const char *base = opts_get(&c->o, "agent-url");
	char url[300];
	struct probe p;
	json_error_t jerr;
	json_t *j;

	if (base == NULL || strcmp(base, "none") == 0) {
		report(r, "ecs-agent", "skip", "--agent-url none");
		return;
	}
	snprintf(url, sizeof(url), "%s/v1/metadata", base);
	probe_get(l, url, &p);
	if (p.error != 0 || p.status != 200) {
		report(r, "ecs-agent", "fail", "%s: %s", url,
		       p.error != 0 ? (p.msg[0] != '\0' ? p.msg : strerror(-p.error))
		                    : "bad answer");
		return;
	}
	j = json_loads(p.body, 0, &jerr);
	report(r, "ecs-agent", "ok", "cluster %s",
	       json_string_value(json_object_get(j, "Cluster")) != NULL
	           ? json_string_value(json_object_get(j, "Cluster"))
	           : "?");
	json_decref(j);
}

struct imds_wait {
	int done, err;
	char val[128];
	char msg[256];
};

static void
imds_done(int err, const char *body, size_t len, const char *msg, void *arg)
{
	struct imds_wait *w = arg;

	w->err = err;
	snprintf(w->val, sizeof(w->val), "%.*s", (int)(len < 127 ? len : 127), body);
	snprintf(w->msg, sizeof(w->msg), "%s", msg);
	w->done = 1;
}

static void
check_imds(struct berth_loop *l, struct aws *aws, struct report *r)
{
	struct imds_wait w = {0};
	struct aws_imds *m = aws_imds(aws);

	if (aws_imds_disabled(m)) {
		report(r, "imds", "skip", "AWS_EC2_METADATA_DISABLED");
		return;
	}
	aws_imds_get(m, "/latest/meta-data/instance-id", imds_done, &w);
	berth_loop_wait(l, &w.done, 8000);
	if (w.done && w.err == 0)
		report(r, "imds", "ok", "%s: instance %s", aws_imds_endpoint(m), w.val);
	else
		report(r, "imds", "warn", "%s: %s (fine off EC2)", aws_imds_endpoint(m),
		       w.done ? w.msg : "no answer");
}

struct creds_wait {
	int done, err;
	char akid[AWS_AKID_MAX];
	int has_token;
	int64_t expires;
	char msg[256];
};

static void
creds_done(int err, const struct aws_creds *cr, const char *msg, void *arg)
{
	struct creds_wait *w = arg;

	w->err = err;
	if (cr != NULL) {
		snprintf(w->akid, sizeof(w->akid), "%s", cr->akid);
		w->has_token = cr->token[0] != '\0';
		w->expires = cr->expires_ms;
	}
	snprintf(w->msg, sizeof(w->msg), "%s", msg);
	w->done = 1;
}

static void
check_creds(struct berth_loop *l, struct aws *aws, struct report *r)
{
	struct aws_creds_provider *p = aws_creds(aws);
	struct creds_wait w = {0};
	char exp[40];

	aws_creds_get(p, creds_done, &w);
	berth_loop_wait(l, &w.done, 10000);
	if (!w.done || w.err != 0) {
		report(r, "credentials", "fail", "%s: %s",
		       aws_creds_source_str(aws_creds_source(p)), w.done ? w.msg : "no answer");
		return;
	}
	registry_time_format(exp, sizeof(exp), w.expires);
	/* The key id's first characters only: enough to tell keys apart, never the secret. */
	report(r, "credentials", "ok", "%s: key %.8s...%s%s%s",
	       aws_creds_source_str(aws_creds_source(p)), w.akid, w.has_token ? " (session)" : "",
	       w.expires != 0 ? ", expires " : "", w.expires != 0 ? exp : "");
}

static void
check_table(struct berth_loop *l, struct aws *aws, const char *table, struct report *r)
{
	struct berth_call k = {0};
	json_t *t, *ks;
	const char *key;

	if (table == NULL) {
		report(r, "table", "skip", "no --dynamodb-table");
		return;
	}
	berth_call_wait(l, &k, ddb_describe_table(aws, table, berth_call_done, &k),
	                BERTH_CMD_TIMEOUT_MS);
	if (k.error != 0) {
		report(r, "table", "fail", "%s", k.text);
		json_decref(k.body);
		return;
	}
	t = json_object_get(k.body, "Table");
	ks = json_array_get(json_object_get(t, "KeySchema"), 0);
	key = json_string_value(json_object_get(ks, "AttributeName"));
	if (key == NULL || strcmp(key, ITEM_KEY_ATTR) != 0 ||
	    json_array_size(json_object_get(t, "KeySchema")) != 1)
		report(r, "table", "fail", "%s: the key must be %s (S) alone", table,
		       ITEM_KEY_ATTR);
	else
		report(r, "table",
		       strcmp(berth_table_status(k.body), "ACTIVE") == 0 ? "ok" : "warn",
		       "%s %s, %lld items, region %s", table, berth_table_status(k.body),
		       (long long)json_integer_value(json_object_get(t, "ItemCount")),
		       aws_region(aws));
	json_decref(k.body);
}

/* The cluster's hosts: a STALE one is a sidecar that stopped heartbeating. */
static void
check_hosts(struct berth_loop *l, struct aws *aws, const char *table, struct report *r)
{
	struct host_item *v;
	size_t n, stale = 0, up = 0;
	int junk;
	char err[768], names[512] = "";
	int64_t now = registry_now_ms();

	if (berth_hosts_scan(l, aws, table, &v, &n, &junk, err, sizeof(err)) != 0) {
		report(r, "hosts", "fail", "%s", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		enum host_status s = item_host_status(&v[i], now);

		if (s == HOST_UP)
			up++;
		if (s == HOST_STALE) {
			size_t o = strlen(names);

			stale++;
			snprintf(names + o, sizeof(names) - o, "%s%s", o > 0 ? ", " : "", v[i].id);
		}
	}
	if (stale > 0)
		report(r, "hosts", "warn",
		       "%zu of %zu hosts STALE (no heartbeat for three intervals): %s; see "
		       "operations.md",
		       stale, n, names);
	else
		report(r, "hosts", "ok", "%zu hosts UP, %zu LEFT%s", up, n - up,
		       junk > 0 ? ", some items with junk fields" : "");
	free(v);
}

int
berth_cmd_doctor(struct berth_ctx *c)
{
	struct report r = {NULL, 0, c->json};
	struct registry *reg = NULL;
	struct registry_stats st;
	struct berth_loop l;
	struct aws *aws = NULL;
	char err[256];
	const char *db = opts_get(&c->o, "db");
	json_t *out;

	if (c->json)
		r.checks = json_array();
	if (registry_open(&reg, db, REGISTRY_RDONLY | REGISTRY_CHECK, err, sizeof(err)) != 0)
		report(&r, "registry", "fail", "%s", err);
	else if (registry_stats(reg, &st) != 0)
		report(&r, "registry", "fail", "%s", registry_errmsg(reg));
	else
		report(&r, "registry", "ok", "%s: %ld running bindings, %ld pending outbox rows",
		       db, st.bindings[BINDING_RUNNING], st.outbox_pending);
	registry_close(reg);
	if (berth_loop_open(&l) != 0) {
		report(&r, "loop", "fail", "out of memory");
		goto out;
	}
	check_docker(&l, c, &r);
	check_agent(&l, c, &r);
	if ((aws = aws_new(l.base, l.ec, err, sizeof(err))) == NULL) {
		report(&r, "credentials", "fail", "%s", err);
	} else {
		check_imds(&l, aws, &r);
		check_creds(&l, aws, &r);
		check_table(&l, aws, berth_table_name(c), &r);
		if (opts_get(&c->o, "dynamodb-table") != NULL)
			check_hosts(&l, aws, berth_table_name(c), &r);
	}
	aws_free(aws);
	berth_loop_close(&l);
out:
	if (c->json) {
		out = json_pack("{s:b, s:o}", "ok", !r.failed, "checks", r.checks);
		berth_print_json(out);
		json_decref(out);
	}
	return r.failed ? BERTH_EXIT_NOTFOUND : 0;
}
