/*
 * berth's AWS-side commands:
 *   init-table   create the DynamoDB table (on-demand, key userId S) if absent,
 *                and the SYSTEM_CONFIG item (lastAssignedPort 7999) if absent
 *   sync-status  the outbox: depth, oldest pending age, rows failing, last error
 *   doctor       check the registry, Docker, the ECS agent, IMDS, the AWS
 *                credentials and the table, one line each
 * AWS settings come from the usual environment (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB,
 * credentials chain); secrets are never printed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_creds.h"
#include "aws/aws_ddb.h"
#include "aws/aws_imds.h"
#include "core/clock.h"
#include "core/evcurl.h"
#include "core/opts.h"
#include "registry/berth.h"
#include "registry/registry.h"
#include "registry/item.h"

#define CMD_TIMEOUT_MS     30000 /* one AWS step of a command */
#define TABLE_ACTIVE_MS    120000
#define PROBE_TIMEOUT_MS   3000
#define SYSTEM_CONFIG_PORT 7999 /* the old system's seed */
#define DEFAULT_TABLE      "UserPortRegistry"

struct loop {
	struct event_base *base;
	struct evcurl *ec;
	struct event *tick;
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int
loop_open(struct loop *l)
{
	struct timeval tv = {0, 50000};

	memset(l, 0, sizeof(*l));
	if ((l->base = event_base_new()) == NULL || (l->ec = evcurl_new(l->base)) == NULL ||
	    (l->tick = event_new(l->base, -1, EV_PERSIST, tick_cb, NULL)) == NULL)
		return -ENOMEM;
	event_add(l->tick, &tv);
	return 0;
}

static void
loop_close(struct loop *l)
{
	if (l->tick != NULL)
		event_free(l->tick);
	if (l->ec != NULL)
		evcurl_free(l->ec);
	if (l->base != NULL)
		event_base_free(l->base);
}

/* Runs the loop until *flag or ms pass; returns *flag. */
static int
loop_wait(struct loop *l, const int *flag, long ms)
{
	int64_t end = clock_mono_ms() + ms;

	while (!*flag && clock_mono_ms() < end)
		event_base_loop(l->base, EVLOOP_ONCE);
	return *flag;
}

/* One AWS call, waited for. */
struct call {
	int done;
	int error;
	char code[AWS_ERR_CODE_MAX];
	char text[768];
	json_t *body;
};

static void
call_done(const struct aws_result *r, void *arg)
{
	struct call *c = arg;

	c->error = r->error;
	snprintf(c->code, sizeof(c->code), "%s", r->aerr.code);
	aws_result_str(r, c->text, sizeof(c->text));
	c->body = r->body != NULL ? json_incref(r->body) : NULL;
	c->done = 1;
}

static int
call_wait(struct loop *l, struct call *c, struct aws_call *started, long ms)
{
	if (started == NULL) {
		snprintf(c->text, sizeof(c->text), "cannot start the AWS call");
		c->error = -ENOMEM;
		return c->error;
	}
	if (!loop_wait(l, &c->done, ms)) {
		aws_call_cancel(started);
		snprintf(c->text, sizeof(c->text), "no answer in %ld s", ms / 1000);
		c->error = -ETIMEDOUT;
	}
	return c->error;
}

static const char *
table_name(struct berth_ctx *c)
{
	const char *t = opts_get(&c->o, "dynamodb-table");

	return t != NULL && t[0] != '\0' ? t : NULL;
}

static const char *
table_status(json_t *body)
{
	const char *s =
	    json_string_value(json_object_get(json_object_get(body, "Table"), "TableStatus"));

	return s != NULL ? s : "";
}

/* --- init-table ------------------------------------------------------------ */

int
berth_cmd_init_table(struct berth_ctx *c)
{
	const char *table = table_name(c) != NULL ? table_name(c) : DEFAULT_TABLE;
	struct loop l;
	struct aws *aws = NULL;
	struct call k;
	char err[256];
	int created = 0, seeded = 0, ttl_changed = 0, rc = BERTH_EXIT_REMOTE;
	const char *ttl_status, *ttl_attr;
	int64_t end;
	json_t *item, *out;

	if (!ddb_table_name_ok(table))
		return berth_usage_error("bad table name \"%s\" (3-255 of A-Z a-z 0-9 _ . -)",
		                         table);
	if (loop_open(&l) != 0 || (aws = aws_new(l.base, l.ec, err, sizeof(err))) == NULL) {
		fprintf(stderr, "berth: AWS: %s\n", aws != NULL ? "" : err);
		goto out;
	}
	memset(&k, 0, sizeof(k));
	call_wait(&l, &k, ddb_describe_table(aws, table, call_done, &k), CMD_TIMEOUT_MS);
	if (k.error != 0 && strcmp(k.code, "ResourceNotFoundException") != 0) {
		fprintf(stderr, "berth: %s\n", k.text);
		goto out;
	}
	if (k.error != 0) {
		json_decref(k.body);
		memset(&k, 0, sizeof(k));
		call_wait(&l, &k, ddb_create_table(aws, table, ITEM_KEY_ATTR, call_done, &k),
		          CMD_TIMEOUT_MS);
		/* Another init-table may have won the race: that is fine. */
		if (k.error != 0 && strcmp(k.code, "ResourceInUseException") != 0) {
			fprintf(stderr, "berth: %s\n", k.text);
			goto out;
		}
		created = k.error == 0;
	}
	/* Wait until the table is ACTIVE. */
	end = clock_mono_ms() + TABLE_ACTIVE_MS;
	for (;;) {
		json_decref(k.body);
		memset(&k, 0, sizeof(k));
		if (call_wait(&l, &k, ddb_describe_table(aws, table, call_done, &k),
		              CMD_TIMEOUT_MS) != 0) {
			fprintf(stderr, "berth: %s\n", k.text);
			goto out;
		}
		if (strcmp(table_status(k.body), "ACTIVE") == 0)
			break;
		if (clock_mono_ms() > end) {
			fprintf(stderr, "berth: table %s is still %s\n", table,
			        table_status(k.body));
			goto out;
		}
		{
			int never = 0;
			loop_wait(&l, &never, 200);
		}
	}
	json_decref(k.body);
	memset(&k, 0, sizeof(k));
	item = item_system_config();
	call_wait(&l, &k,
	          ddb_put_item(aws, table, item, ITEM_RESERVE_NEW,
	                       json_pack("{s:s}", "#pk", ITEM_KEY_ATTR), NULL, call_done, &k),
	          CMD_TIMEOUT_MS);
	if (k.error != 0 && strcmp(k.code, "ConditionalCheckFailedException") != 0) {
		fprintf(stderr, "berth: %s\n", k.text);
		goto out;
	}
	seeded = k.error == 0;
	/*
	 * TTL on expires_at, so the items of gone containers expire (the
	 * sidecar's --tombstone-ttl). A table with TTL on another attribute is
	 * an error: DynamoDB allows one, and berth's items would never expire.
	 */
	json_decref(k.body);
	memset(&k, 0, sizeof(k));
	if (call_wait(&l, &k, ddb_describe_ttl(aws, table, call_done, &k), CMD_TIMEOUT_MS) != 0) {
		fprintf(stderr, "berth: %s\n", k.text);
		goto out;
	}
	ttl_status = json_string_value(
	    json_object_get(json_object_get(k.body, "TimeToLiveDescription"), "TimeToLiveStatus"));
	ttl_attr = json_string_value(
	    json_object_get(json_object_get(k.body, "TimeToLiveDescription"), "AttributeName"));
	if (ttl_status != NULL &&
	    (strcmp(ttl_status, "ENABLED") == 0 || strcmp(ttl_status, "ENABLING") == 0) &&
	    (ttl_attr == NULL || strcmp(ttl_attr, ITEM_TTL_ATTR) != 0)) {
		fprintf(stderr,
		        "berth: table %s has TTL on \"%s\", not %s: berth's items would never "
		        "expire (disable it there, then run init-table again)\n",
		        table, ttl_attr != NULL ? ttl_attr : "?", ITEM_TTL_ATTR);
		goto out;
	}
	if (ttl_status == NULL ||
	    (strcmp(ttl_status, "ENABLED") != 0 && strcmp(ttl_status, "ENABLING") != 0)) {
		json_decref(k.body);
		memset(&k, 0, sizeof(k));
		call_wait(&l, &k, ddb_enable_ttl(aws, table, ITEM_TTL_ATTR, call_done, &k),
		          CMD_TIMEOUT_MS);
		/* "TimeToLive is already enabled": another init-table got there first. */
		if (k.error != 0 && strstr(k.text, "already enabled") == NULL) {
			fprintf(stderr, "berth: %s\n", k.text);
			goto out;
		}
		ttl_changed = k.error == 0;
	}
	if (c->json) {
		out = json_pack("{s:s, s:b, s:b, s:s, s:b, s:s}", "table", table, "table_created",
		                created, "system_config_created", seeded, "ttl_attribute",
		                ITEM_TTL_ATTR, "ttl_enabled_now", ttl_changed, "region",
		                aws_region(aws));
		berth_print_json(out);
		json_decref(out);
	} else {
		printf("table %s: %s (region %s)\n", table, created ? "created" : "exists",
		       aws_region(aws));
		printf("%s: %s\n", ITEM_SYSTEM_CONFIG,
		       seeded ? "created (lastAssignedPort 7999)" : "exists (left as it is)");
		printf("TTL on %s: %s\n", ITEM_TTL_ATTR, ttl_changed ? "enabled" : "already on");
	}
	rc = 0;
out:
	json_decref(k.body);
	aws_free(aws);
	loop_close(&l);
	return rc;
}

/* --- sync-status ----------------------------------------------------------- */

struct last_err {
	char error[REG_ERROR_MAX];
	int64_t at;
	char key[REG_ARN_MAX + REG_NAME_MAX + 32];
};

static int
find_last_error(const struct outbox_row *row, void *arg)
{
	struct last_err *e = arg;

	if (row->last_error != NULL && row->last_error[0] != '\0' && row->last_attempt_at > e->at) {
		snprintf(e->error, sizeof(e->error), "%s", row->last_error);
		snprintf(e->key, sizeof(e->key), "%s", row->key);
		e->at = row->last_attempt_at;
	}
	return 0;
}

int
berth_cmd_sync_status(struct berth_ctx *c)
{
	struct registry_stats st;
	struct last_err le;
	char age[32], at[40], safe[REG_ERROR_MAX];
	int64_t now = registry_now_ms();
	json_t *out;
	int rc;

	memset(&le, 0, sizeof(le));
	if ((rc = registry_stats(c->r, &st)) != 0)
		return berth_registry_error(c, rc);
	if ((rc = registry_outbox_pending(c->r, REGISTRY_OUTBOX_MAX, find_last_error, &le)) != 0)
		return berth_registry_error(c, rc);
	berth_age(age, sizeof(age), st.outbox_oldest, now);
	registry_time_format(at, sizeof(at), le.at);
	if (c->json) {
		out =
		    json_pack("{s:I, s:I, s:I, s:s, s:s}", "pending", (json_int_t)st.outbox_pending,
		              "failing", (json_int_t)st.outbox_failing, "oldest_age_ms",
		              (json_int_t)(st.outbox_oldest != 0 ? now - st.outbox_oldest : 0),
		              "last_error", le.error, "last_error_at", at);
		berth_print_json(out);
		json_decref(out);
		return 0;
	}
	berth_safe(safe, sizeof(safe), le.error);
	printf("outbox pending:  %ld\n", st.outbox_pending);
	printf("oldest pending:  %s\n", st.outbox_pending > 0 ? age : "-");
	printf("rows failing:    %ld\n", st.outbox_failing);
	printf("last error:      %s%s%s\n", le.error[0] != '\0' ? safe : "-",
	       le.error[0] != '\0' ? " at " : "", le.error[0] != '\0' ? at : "");
	return 0;
}

/* --- doctor ---------------------------------------------------------------- */

struct probe {
	int done;
	long status;
	int error;
	char msg[256];
	char body[512];
	char hdr[64];
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
	if (evcurl_header(r->headers, "Api-Version", p->hdr, sizeof(p->hdr)) != 0)
		p->hdr[0] = '\0';
	p->done = 1;
}

static void
probe_get(struct loop *l, const char *url, const char *sock, struct probe *p)
{
	struct evcurl_req req;

	memset(p, 0, sizeof(*p));
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.unix_socket = sock;
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
	loop_wait(l, &p->done, PROBE_TIMEOUT_MS + 1000);
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

static void
check_docker(struct loop *l, struct berth_ctx *c, struct report *r)
{
	const char *host = opts_get(&c->o, "docker-host");
	char url[300];
	struct probe p;

	if (host == NULL || strcmp(host, "none") == 0) {
		report(r, "docker", "skip", "--docker-host none");
		return;
	}
	if (strncmp(host, "unix://", 7) == 0) {
		probe_get(l, "http://localhost/_ping", host + 7, &p);
	} else if (strncmp(host, "tcp://", 6) == 0) {
		snprintf(url, sizeof(url), "http://%s/_ping", host + 6);
		probe_get(l, url, NULL, &p);
	} else {
		report(r, "docker", "fail", "%s: only unix:// and tcp:// are supported", host);
		return;
	}
	if (p.error == 0 && p.status == 200)
		report(r, "docker", "ok", "%s answers, API %s", host,
		       p.hdr[0] != '\0' ? p.hdr : "?");
	else
		report(r, "docker", "fail", "%s: %s", host,
		       p.error != 0 ? (p.msg[0] != '\0' ? p.msg : strerror(-p.error))
		                    : "bad answer");
}

static void
check_agent(struct loop *l, struct berth_ctx *c, struct report *r)
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
	probe_get(l, url, NULL, &p);
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
check_imds(struct loop *l, struct aws *aws, struct report *r)
{
	struct imds_wait w = {0};
	struct aws_imds *m = aws_imds(aws);

	if (aws_imds_disabled(m)) {
		report(r, "imds", "skip", "AWS_EC2_METADATA_DISABLED");
		return;
	}
	aws_imds_get(m, "/latest/meta-data/instance-id", imds_done, &w);
	loop_wait(l, &w.done, 8000);
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
check_creds(struct loop *l, struct aws *aws, struct report *r)
{
	struct aws_creds_provider *p = aws_creds(aws);
	struct creds_wait w = {0};
	char exp[40];

	aws_creds_get(p, creds_done, &w);
	loop_wait(l, &w.done, 10000);
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
check_table(struct loop *l, struct aws *aws, const char *table, struct report *r)
{
	struct call k = {0};
	json_t *t, *ks;
	const char *key;

	if (table == NULL) {
		report(r, "table", "skip", "no --dynamodb-table");
		return;
	}
	call_wait(l, &k, ddb_describe_table(aws, table, call_done, &k), CMD_TIMEOUT_MS);
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
		report(r, "table", strcmp(table_status(k.body), "ACTIVE") == 0 ? "ok" : "warn",
		       "%s %s, %lld items, region %s", table, table_status(k.body),
		       (long long)json_integer_value(json_object_get(t, "ItemCount")),
		       aws_region(aws));
	json_decref(k.body);
}

int
berth_cmd_doctor(struct berth_ctx *c)
{
	struct report r = {NULL, 0, c->json};
	struct registry *reg = NULL;
	struct registry_stats st;
	struct loop l;
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
	if (loop_open(&l) != 0) {
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
		check_table(&l, aws, table_name(c), &r);
	}
	aws_free(aws);
	loop_close(&l);
out:
	if (c->json) {
		out = json_pack("{s:b, s:o}", "ok", !r.failed, "checks", r.checks);
		berth_print_json(out);
		json_decref(out);
	}
	return r.failed ? BERTH_EXIT_NOTFOUND : 0;
}
