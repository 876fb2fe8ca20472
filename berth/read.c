/*
 * read: berth's commands that read the registry: ls, get, watch, stats.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "berth/berth.h"
#include "registry/registry.h"

/* ---- ls ---- */

/* Rows collected for sorting: the registry lists in write order. */
struct rows {
	struct binding *v;
	size_t n, cap;
};

static int
rows_add(const struct binding *b, void *arg)
{
	struct rows *rs = arg;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		void *p = reallocarray(rs->v, cap, sizeof(*rs->v));

		if (p == NULL)
			return -ENOMEM;
		rs->v = p;
		rs->cap = cap;
	}
	rs->v[rs->n++] = *b;
	return 0;
}

static int
binding_order(const void *pa, const void *pb)
{
	const struct binding *a = pa, *b = pb;
	int c;

	if ((c = strcmp(a->tenant, b->tenant)) != 0 ||
	    (c = strcmp(a->task_arn, b->task_arn)) != 0 ||
	    (c = strcmp(a->container_name, b->container_name)) != 0)
		return c;
	if (a->container_port != b->container_port)
		return a->container_port < b->container_port ? -1 : 1;
	return strcmp(a->protocol, b->protocol);
}

static void
host_addr(char *out, size_t outlen, const struct binding *b)
{
	const char *ip = b->host_ip[0] ? b->host_ip : "0.0.0.0";

	if (b->host_port == 0)
		snprintf(out, outlen, "-");
	else if (b->host_port_v6 != 0 && b->host_port_v6 != b->host_port)
		snprintf(out, outlen, "%s:%d [::]:%d", ip, b->host_port, b->host_port_v6);
	else
		snprintf(out, outlen, "%s:%d", ip, b->host_port);
}

/* Task ids are 32 hex characters; a plain container's id is shown Docker-style (12). */
static void
short_task(char *out, size_t outlen, const struct binding *b)
{
	if (strlen(b->task_id) > 32)
		snprintf(out, outlen, "%.12s", b->task_id);
	else
		snprintf(out, outlen, "%s", b->task_id);
}

static int
ls_row(struct berth_table *t, const struct binding *b, int64_t now)
{
	char task[40], port[32], host[96], ag[16];
	const char *vals[7];

	short_task(task, sizeof(task), b);
	snprintf(port, sizeof(port), "%d/%s", b->container_port, b->protocol);
	host_addr(host, sizeof(host), b);
	berth_age(ag, sizeof(ag), b->started_at ? b->started_at : b->updated_at, now);
	vals[0] = b->tenant[0] ? b->tenant : "-";
	vals[1] = task;
	vals[2] = b->container_name[0] ? b->container_name : "-";
	vals[3] = port;
	vals[4] = host;
	vals[5] = binding_status_str(b->status);
	vals[6] = ag;
	return berth_table_add(t, vals);
}

int
berth_cmd_ls(struct berth_ctx *c)
{
	static const char *const head[7] = {"TENANT", "TASK",   "CONTAINER", "PORT",
	                                    "HOST",   "STATUS", "AGE"};
	struct binding_filter f = {.status = -1};
	struct berth_table t = {.ncols = 7};
	struct rows rs = {0};
	const char *st = opts_get(&c->o, "status");
	int64_t now = registry_now_ms();
	json_t *arr = NULL;
	int rc;

	f.tenant = opts_get(&c->o, "tenant");
	f.task = opts_get(&c->o, "task");
	f.include_removed = opts_get(&c->o, "all") != NULL;
	if (st != NULL && (f.status = binding_status_parse(st)) < 0)
		return berth_usage_error(
		    "--status %s: not one of provisional, running, stopped, removed", st);
	if ((rc = registry_binding_list(c->r, &f, rows_add, &rs)) != 0) {
		free(rs.v);
		return berth_registry_error(c, rc);
	}
	qsort(rs.v, rs.n, sizeof(*rs.v), binding_order);
	if (c->json) {
		if ((arr = json_array()) == NULL)
			goto nomem;
		for (size_t i = 0; i < rs.n; i++)
			if (json_array_append_new(arr, binding_to_json(&rs.v[i])) != 0)
				goto nomem;
		berth_print_json(arr);
		json_decref(arr);
	} else {
		if (berth_table_add(&t, head) != 0)
			goto nomem;
		for (size_t i = 0; i < rs.n; i++)
			if (ls_row(&t, &rs.v[i], now) != 0)
				goto nomem;
		berth_table_print(&t);
	}
	free(rs.v);
	return 0;
nomem:
	json_decref(arr);
	free(t.cells);
	free(rs.v);
	fprintf(stderr, "berth: out of memory\n");
	return BERTH_EXIT_REGISTRY;
}

/* ---- get ---- */

/* Prints a JSON object as "key  value" lines, indented by ind. */
static void
print_fields(json_t *o, int ind)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
	{
		char buf[1024];

		if (json_is_string(v))
			berth_safe(buf, sizeof(buf), json_string_value(v));
		else if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		else
			snprintf(buf, sizeof(buf), "-");
		printf("%*s%-15s %s\n", ind, "", k, buf[0] ? buf : "-");
	}
}

static int
get_collect(const struct binding *b, void *arg)
{
	return json_array_append_new(arg, binding_to_json(b)) == 0 ? 0 : -ENOMEM;
}

int
berth_cmd_get(struct berth_ctx *c)
{
	const char *name = c->argv[0];
	struct binding_filter f = {.status = -1, .include_removed = 1};
	struct tenant t;
	json_t *tj = NULL, *bindings = json_array();
	int rc, have_tenant = 0;

	if (bindings == NULL)
		return BERTH_EXIT_REGISTRY;
	if (strlen(name) >= REG_ARN_MAX) {
		json_decref(bindings);
		return berth_usage_error("%s: too long for a subdomain or task", "argument");
	}
	if (strlen(name) < REG_SUBDOMAIN_MAX) {
		rc = registry_tenant_get(c->r, name, &t);
		if (rc == 0)
			have_tenant = 1;
		else if (rc != -ENOENT)
			goto fail;
	}
	if (have_tenant) {
		f.tenant = t.subdomain;
		if ((rc = registry_binding_list(c->r, &f, get_collect, bindings)) != 0)
			goto fail;
		if (json_array_size(bindings) == 0 && t.task_arn[0]) {
			f.tenant = NULL;
			f.task = t.task_arn;
			if ((rc = registry_binding_list(c->r, &f, get_collect, bindings)) != 0)
				goto fail;
		}
	} else {
		f.task = name;
		if ((rc = registry_binding_list(c->r, &f, get_collect, bindings)) != 0)
			goto fail;
		/* A sidecar's registry holds bindings whose tenant row lives in a launcher's. */
		if (json_array_size(bindings) == 0 && strlen(name) < REG_SUBDOMAIN_MAX) {
			f.task = NULL;
			f.tenant = name;
			if ((rc = registry_binding_list(c->r, &f, get_collect, bindings)) != 0)
				goto fail;
		}
		if (json_array_size(bindings) == 0) {
			json_decref(bindings);
			fprintf(stderr, "berth: no tenant or task %s in %s\n", name,
			        registry_path(c->r));
			return BERTH_EXIT_NOTFOUND;
		}
		/* The task's tenant, when the registry knows it. */
		const char *tn =
		    json_string_value(json_object_get(json_array_get(bindings, 0), "tenant"));
		if (tn != NULL && *tn && strlen(tn) < REG_SUBDOMAIN_MAX &&
		    registry_tenant_get(c->r, tn, &t) == 0)
			have_tenant = 1;
	}
	if (have_tenant)
		tj = tenant_to_json(&t);
	if (c->json) {
		json_t *o = json_object();

		json_object_set_new(o, "tenant", tj != NULL ? tj : json_null());
		json_object_set_new(o, "bindings", bindings);
		berth_print_json(o);
		json_decref(o);
		return 0;
	}
	if (tj != NULL) {
		printf("tenant\n");
		print_fields(tj, 2);
		json_decref(tj);
	}
	for (size_t i = 0; i < json_array_size(bindings); i++) {
		printf("%sbinding\n", (tj != NULL || i > 0) ? "\n" : "");
		print_fields(json_array_get(bindings, i), 2);
	}
	json_decref(bindings);
	return 0;
fail:
	json_decref(bindings);
	return berth_registry_error(c, rc);
}

/* ---- watch ---- */

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* What a scan saw: one key and its version per row, sorted by key. */
struct seen {
	char *key;
	int64_t version;
};

struct seen_set {
	struct seen *v;
	size_t n, cap;
};

static int
seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->key, ((const struct seen *)b)->key);
}

static void
seen_free(struct seen_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].key);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int
seen_add(struct seen_set *s, const char *key, int64_t version)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		void *p = reallocarray(s->v, cap, sizeof(*s->v));

		if (p == NULL)
			return -ENOMEM;
		s->v = p;
		s->cap = cap;
	}
	if ((s->v[s->n].key = strdup(key)) == NULL)
		return -ENOMEM;
	s->v[s->n++].version = version;
	return 0;
}

/* Version of key in the previous scan, or -1. */
static int64_t
seen_find(const struct seen_set *s, const char *key)
{
	struct seen k = {(char *)key, 0}, *hit;

	if (s->n == 0)
		return -1;
	hit = bsearch(&k, s->v, s->n, sizeof(*s->v), seen_cmp);
	return hit != NULL ? hit->version : -1;
}

struct watch {
	struct berth_ctx *c;
	struct seen_set old, cur;
	int report; /* print rows that are new or changed since old */
	long printed, limit;
};

static void
watch_print(struct watch *w, const char *kind, json_t *row, const char *line)
{
	if (w->c->json) {
		json_t *o = json_pack("{s:s, s:O}", "kind", kind, "row", row);

		berth_print_json(o);
		json_decref(o);
	} else {
		char buf[1024];

		berth_safe(buf, sizeof(buf), line);
		printf("%s\n", buf);
		fflush(stdout);
	}
	w->printed++;
}

static int
watch_binding(const struct binding *b, void *arg)
{
	struct watch *w = arg;
	char key[REG_ARN_MAX + REG_NAME_MAX + 32], line[900], when[40], host[96];
	int64_t v;

	snprintf(key, sizeof(key), "%s#%s#%d/%s", b->task_arn, b->container_name, b->container_port,
	         b->protocol);
	v = seen_find(&w->old, key);
	if (w->report && v != b->version && (w->limit == 0 || w->printed < w->limit)) {
		json_t *j = binding_to_json(b);

		registry_time_format(when, sizeof(when), b->updated_at);
		host_addr(host, sizeof(host), b);
		snprintf(line, sizeof(line), "%s binding %s %s %s %d/%s %s %s v%lld", when,
		         b->tenant[0] ? b->tenant : "-", b->task_id, b->container_name,
		         b->container_port, b->protocol, host, binding_status_str(b->status),
		         (long long)b->version);
		watch_print(w, "binding", j, line);
		json_decref(j);
	}
	return seen_add(&w->cur, key, b->version);
}

static int
watch_tenant(const struct tenant *t, void *arg)
{
	struct watch *w = arg;
	char key[REG_SUBDOMAIN_MAX + 8], line[900], when[40];
	int64_t v;

	snprintf(key, sizeof(key), "tenant#%s", t->subdomain);
	v = seen_find(&w->old, key);
	if (w->report && v != t->version && (w->limit == 0 || w->printed < w->limit)) {
		json_t *j = tenant_to_json(t);

		registry_time_format(when, sizeof(when), t->updated_at);
		snprintf(line, sizeof(line), "%s tenant %s %s %s v%lld", when, t->subdomain,
		         tenant_status_str(t->status), t->url[0] ? t->url : "-",
		         (long long)t->version);
		watch_print(w, "tenant", j, line);
		json_decref(j);
	}
	return seen_add(&w->cur, key, t->version);
}

/* One pass over the registry: prints what changed since the previous pass. */
static int
watch_scan(struct watch *w)
{
	struct binding_filter f = {.status = -1, .include_removed = 1};
	int rc;

	if ((rc = registry_tenant_list(w->c->r, -1, NULL, 0, watch_tenant, w)) != 0 ||
	    (rc = registry_binding_list(w->c->r, &f, watch_binding, w)) != 0) {
		seen_free(&w->cur);
		return rc;
	}
	qsort(w->cur.v, w->cur.n, sizeof(*w->cur.v), seen_cmp);
	seen_free(&w->old);
	w->old = w->cur;
	memset(&w->cur, 0, sizeof(w->cur));
	w->report = 1;
	return 0;
}

int
berth_cmd_watch(struct berth_ctx *c)
{
	struct watch w = {.c = c, .limit = opts_int(&c->o, "count")};
	long timeout = opts_int(&c->o, "timeout"), interval = opts_int(&c->o, "interval");
	int64_t deadline = timeout > 0 ? clock_mono_ms() + timeout * 1000 : 0;
	struct sigaction sa;
	int rc = 0, changed;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* The first pass records the current state; later passes print differences. */
	if ((rc = registry_changed(c->r, &changed)) != 0 || (rc = watch_scan(&w)) != 0)
		goto out;
	if (!c->json) {
		printf("watching %s (interrupt to stop)\n", registry_path(c->r));
		fflush(stdout);
	}
	while (!stop_flag && (w.limit == 0 || w.printed < w.limit)) {
		struct timespec ts = {interval / 1000, (interval % 1000) * 1000000L};

		if (deadline != 0 && clock_mono_ms() >= deadline)
			break;
		nanosleep(&ts, NULL); /* a signal ends it early */
		if (stop_flag)
			break;
		if ((rc = registry_changed(c->r, &changed)) != 0)
			break;
		if (changed && (rc = watch_scan(&w)) != 0)
			break;
	}
out:
	seen_free(&w.old);
	seen_free(&w.cur);
	return rc != 0 ? berth_registry_error(c, rc) : 0;
}

/* ---- stats ---- */

int
berth_cmd_stats(struct berth_ctx *c)
{
	struct registry_stats s;
	char when[40], ag[16];
	int rc;

	if ((rc = registry_stats(c->r, &s)) != 0)
		return berth_registry_error(c, rc);
	registry_time_format(when, sizeof(when), s.outbox_oldest);
	if (c->json) {
		json_t *o = json_object(), *b = json_object(), *t = json_object();

		for (int i = 0; i < 4; i++) {
			json_object_set_new(b, binding_status_str(i), json_integer(s.bindings[i]));
			json_object_set_new(t, tenant_status_str(i), json_integer(s.tenants[i]));
		}
		json_object_set_new(o, "db", json_string(registry_path(c->r)));
		json_object_set_new(o, "bindings", b);
		json_object_set_new(o, "tenants", t);
		json_object_set_new(o, "outbox",
		                    json_pack("{s:I, s:I, s:o}", "pending",
		                              (json_int_t)s.outbox_pending, "failing",
		                              (json_int_t)s.outbox_failing, "oldest",
		                              s.outbox_oldest ? json_string(when) : json_null()));
		berth_print_json(o);
		json_decref(o);
		return 0;
	}
	printf("%-10s", "bindings");
	for (int i = 0; i < 4; i++)
		printf("  %s %ld", binding_status_str(i), s.bindings[i]);
	printf("\n%-10s", "tenants");
	for (int i = 0; i < 4; i++)
		printf("  %s %ld", tenant_status_str(i), s.tenants[i]);
	printf("\n%-10s  pending %ld  failing %ld", "outbox", s.outbox_pending, s.outbox_failing);
	if (s.outbox_oldest) {
		berth_age(ag, sizeof(ag), s.outbox_oldest, registry_now_ms());
		printf("  oldest %s (%s ago)", when, ag);
	}
	printf("\n");
	return 0;
}
