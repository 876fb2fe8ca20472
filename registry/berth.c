/*
 * berth: the ops command. Reads the local registry (read-only): tables for
 * people, --json for scripts.
 *
 *   berth [--db PATH] [--json] COMMAND [ARGS]
 *
 * Commands are rows of `commands` below (name, usage, flags, handler); add a
 * row to add a command. Options are one table (`options`); each command
 * names the non-global ones it accepts, and options may come before or after
 * the command.
 *
 * Exit: 0 success, 1 not found, 2 usage, 3 the registry cannot be opened or read.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/opts.h"
#include "registry/registry.h"

#define EXIT_NOTFOUND 1
#define EXIT_USAGE    2
#define EXIT_REGISTRY 3

#define ARGS_MAX 64 /* command-line words berth accepts */

static const struct opt options[] = {
    {"db", "BERTH_DB", NULL, OPT_STRING, "PATH", "/var/lib/berth/registry.db", 0, 0,
     "the registry file"},
    {"json", "BERTH_JSON", NULL, OPT_FLAG, NULL, NULL, 0, 0, "JSON output for scripts"},
    {"busy-timeout", "BERTH_BUSY_TIMEOUT", NULL, OPT_INT, "MS", "2000", 0, 600000,
     "wait this long for a registry locked by another process"},
    {"tenant", "BERTH_LS_TENANT", NULL, OPT_STRING, "SUBDOMAIN", NULL, 0, 0,
     "ls: only this tenant's bindings"},
    {"task", "BERTH_LS_TASK", NULL, OPT_STRING, "ID", NULL, 0, 0,
     "ls: only this task (id, ARN, or container id prefix of 12+ characters)"},
    {"status", "BERTH_LS_STATUS", NULL, OPT_STRING, "STATUS", NULL, 0, 0,
     "ls: only bindings in this status (provisional, running, stopped, removed)"},
    {"all", "BERTH_LS_ALL", NULL, OPT_FLAG, NULL, NULL, 0, 0,
     "ls: include removed bindings (tombstones)"},
    {"count", "BERTH_WATCH_COUNT", NULL, OPT_INT, "N", NULL, 1, 1000000000,
     "watch: exit after N changes"},
    {"timeout", "BERTH_WATCH_TIMEOUT", NULL, OPT_INT, "SECONDS", NULL, 1, 31536000,
     "watch: exit after this many seconds"},
    {"interval", "BERTH_WATCH_INTERVAL", NULL, OPT_INT, "MS", "100", 10, 60000,
     "watch: how often to look for changes"},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))
#define NGLOBAL  3 /* the first NGLOBAL options apply to every command */

struct ctx {
	struct opts o;
	struct registry *r; /* NULL for commands that need none */
	int json;
	char **argv; /* the command's positional arguments after its name */
	int argc;
};

struct command {
	const char *name;
	const char *usage; /* arguments after the name */
	const char *help;
	const char *const *flags; /* accepted non-global options; NULL for none */
	int nargs_min, nargs_max;
	int open_flags; /* registry_open flags, or -1 when the command opens no registry */
	int (*run)(struct ctx *);
};

static int cmd_ls(struct ctx *);
static int cmd_get(struct ctx *);
static int cmd_watch(struct ctx *);
static int cmd_stats(struct ctx *);

static const char *const ls_flags[] = {"tenant", "task", "status", "all", NULL};
static const char *const watch_flags[] = {"count", "timeout", "interval", NULL};

static const struct command commands[] = {
    {"ls", "[--tenant SUBDOMAIN] [--task ID] [--status STATUS] [--all]",
     "list bindings: tenant, task, container, port, host address, status, age", ls_flags, 0, 0,
     REGISTRY_RDONLY | REGISTRY_CHECK, cmd_ls},
    {"get", "SUBDOMAIN|TASK", "show one tenant or one task in full", NULL, 1, 1,
     REGISTRY_RDONLY | REGISTRY_CHECK, cmd_get},
    {"watch", "[--count N] [--timeout SECONDS] [--interval MS]",
     "print each change as it happens, until interrupted", watch_flags, 0, 0,
     REGISTRY_RDONLY | REGISTRY_CHECK, cmd_watch},
    {"stats", "", "count bindings and tenants by status, and the outbox depth", NULL, 0, 0,
     REGISTRY_RDONLY | REGISTRY_CHECK, cmd_stats},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *fp)
{
	opts_usage(fp, "berth", "[--db PATH] [--json] COMMAND [ARGS]", options, NOPTIONS);
	fprintf(fp, "\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %s %s\n      %s\n", commands[i].name, commands[i].usage,
		        commands[i].help);
	fprintf(fp, "\nexit: 0 ok, 1 not found, 2 usage, 3 registry cannot be opened or read\n");
}

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "berth: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see berth --help)\n");
	return EXIT_USAGE;
}

/* Errors from the registry after it opened: one line, exit 3. */
static int
registry_error(struct ctx *c, int rc)
{
	const char *m = registry_errmsg(c->r);

	fprintf(stderr, "berth: %s\n", *m ? m : strerror(-rc));
	return EXIT_REGISTRY;
}

/* Copies s for a terminal: control characters (escape sequences from labels) become '?'. */
static void
safe(char *out, size_t outlen, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < outlen && s[i] != '\0'; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	out[i] = '\0';
}

static void
print_json(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	fflush(stdout);
}

/* "45s", "12m", "3h", "2d" since ms; "-" when unset. */
static void
age(char *out, size_t outlen, int64_t ms, int64_t now)
{
	int64_t s = (now - ms) / 1000;

	if (ms <= 0)
		snprintf(out, outlen, "-");
	else if (s < 0)
		snprintf(out, outlen, "0s");
	else if (s < 120)
		snprintf(out, outlen, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, outlen, "%lldm", (long long)s / 60);
	else if (s < 172800)
		snprintf(out, outlen, "%lldh", (long long)s / 3600);
	else
		snprintf(out, outlen, "%lldd", (long long)s / 86400);
}

/* ---- an aligned text table ---- */

#define TABLE_COLS 8
#define CELL_MAX   160

struct table {
	int ncols;
	size_t nrows, cap;
	char (*cells)[TABLE_COLS][CELL_MAX];
	int width[TABLE_COLS];
};

static int
table_add(struct table *t, const char *const *vals)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		void *p = reallocarray(t->cells, cap, sizeof(*t->cells));

		if (p == NULL)
			return -ENOMEM;
		t->cells = p;
		t->cap = cap;
	}
	for (int i = 0; i < t->ncols; i++) {
		int n;

		safe(t->cells[t->nrows][i], CELL_MAX, vals[i]);
		if ((n = (int)strlen(t->cells[t->nrows][i])) > t->width[i])
			t->width[i] = n;
	}
	t->nrows++;
	return 0;
}

static void
table_print(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			if (i == t->ncols - 1)
				printf("%s\n", t->cells[r][i]);
			else
				printf("%-*s  ", t->width[i], t->cells[r][i]);
		}
	}
	free(t->cells);
	t->cells = NULL;
}

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
ls_row(struct table *t, const struct binding *b, int64_t now)
{
	char task[40], port[32], host[96], ag[16];
	const char *vals[7];

	short_task(task, sizeof(task), b);
	snprintf(port, sizeof(port), "%d/%s", b->container_port, b->protocol);
	host_addr(host, sizeof(host), b);
	age(ag, sizeof(ag), b->started_at ? b->started_at : b->updated_at, now);
	vals[0] = b->tenant[0] ? b->tenant : "-";
	vals[1] = task;
	vals[2] = b->container_name[0] ? b->container_name : "-";
	vals[3] = port;
	vals[4] = host;
	vals[5] = binding_status_str(b->status);
	vals[6] = ag;
	return table_add(t, vals);
}

static int
cmd_ls(struct ctx *c)
{
	static const char *const head[7] = {"TENANT", "TASK",   "CONTAINER", "PORT",
	                                    "HOST",   "STATUS", "AGE"};
	struct binding_filter f = {.status = -1};
	struct table t = {.ncols = 7};
	struct rows rs = {0};
	const char *st = opts_get(&c->o, "status");
	int64_t now = registry_now_ms();
	json_t *arr = NULL;
	int rc;

	f.tenant = opts_get(&c->o, "tenant");
	f.task = opts_get(&c->o, "task");
	f.include_removed = opts_get(&c->o, "all") != NULL;
	if (st != NULL && (f.status = binding_status_parse(st)) < 0)
		return usage_error("--status %s: not one of provisional, running, stopped, removed",
		                   st);
	if ((rc = registry_binding_list(c->r, &f, rows_add, &rs)) != 0) {
		free(rs.v);
		return registry_error(c, rc);
	}
	qsort(rs.v, rs.n, sizeof(*rs.v), binding_order);
	if (c->json) {
		if ((arr = json_array()) == NULL)
			goto nomem;
		for (size_t i = 0; i < rs.n; i++)
			if (json_array_append_new(arr, binding_to_json(&rs.v[i])) != 0)
				goto nomem;
		print_json(arr);
		json_decref(arr);
	} else {
		if (table_add(&t, head) != 0)
			goto nomem;
		for (size_t i = 0; i < rs.n; i++)
			if (ls_row(&t, &rs.v[i], now) != 0)
				goto nomem;
		table_print(&t);
	}
	free(rs.v);
	return 0;
nomem:
	json_decref(arr);
	free(t.cells);
	free(rs.v);
	fprintf(stderr, "berth: out of memory\n");
	return EXIT_REGISTRY;
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
			safe(buf, sizeof(buf), json_string_value(v));
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

static int
cmd_get(struct ctx *c)
{
	const char *name = c->argv[0];
	struct binding_filter f = {.status = -1, .include_removed = 1};
	struct tenant t;
	json_t *tj = NULL, *bindings = json_array();
	int rc, have_tenant = 0;

	if (bindings == NULL)
		return EXIT_REGISTRY;
	if (strlen(name) >= REG_ARN_MAX) {
		json_decref(bindings);
		return usage_error("%s: too long for a subdomain or task", "argument");
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
		if (json_array_size(bindings) == 0) {
			json_decref(bindings);
			fprintf(stderr, "berth: no tenant or task %s in %s\n", name,
			        registry_path(c->r));
			return EXIT_NOTFOUND;
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
		print_json(o);
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
	return registry_error(c, rc);
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
	struct ctx *c;
	struct seen_set old, cur;
	int report; /* print rows that are new or changed since old */
	long printed, limit;
};

static void
watch_print(struct watch *w, const char *kind, json_t *row, const char *line)
{
	if (w->c->json) {
		json_t *o = json_pack("{s:s, s:O}", "kind", kind, "row", row);

		print_json(o);
		json_decref(o);
	} else {
		char buf[1024];

		safe(buf, sizeof(buf), line);
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

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
cmd_watch(struct ctx *c)
{
	struct watch w = {.c = c, .limit = opts_int(&c->o, "count")};
	long timeout = opts_int(&c->o, "timeout"), interval = opts_int(&c->o, "interval");
	int64_t deadline = timeout > 0 ? mono_ms() + timeout * 1000 : 0;
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

		if (deadline != 0 && mono_ms() >= deadline)
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
	return rc != 0 ? registry_error(c, rc) : 0;
}

/* ---- stats ---- */

static int
cmd_stats(struct ctx *c)
{
	struct registry_stats s;
	char when[40], ag[16];
	int rc;

	if ((rc = registry_stats(c->r, &s)) != 0)
		return registry_error(c, rc);
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
		print_json(o);
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
		age(ag, sizeof(ag), s.outbox_oldest, registry_now_ms());
		printf("  oldest %s (%s ago)", when, ag);
	}
	printf("\n");
	return 0;
}

/* ---- main ---- */

static const struct opt *
find_option(const char *name, size_t len, size_t *idx)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0) {
			*idx = i;
			return &options[i];
		}
	return NULL;
}

static int
command_accepts(const struct command *cmd, const char *name)
{
	for (size_t i = 0; i < NGLOBAL; i++)
		if (strcmp(options[i].name, name) == 0)
			return 1;
	for (const char *const *f = cmd->flags; f != NULL && *f != NULL; f++)
		if (strcmp(*f, name) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	char *optv[ARGS_MAX + 1], *posv[ARGS_MAX];
	int given[NOPTIONS] = {0};
	int optc = 1, posc = 0, next, rc;
	const struct command *cmd = NULL;
	struct ctx c;
	char err[1024] = "";

	if (argc > ARGS_MAX)
		return usage_error("%s: too many arguments", "berth");
	/*
	 * Options may come before or after the command: split argv into option
	 * words (with their values) and positional words, then parse the options
	 * with the one table.
	 */
	optv[0] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				posv[posc++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			posv[posc++] = argv[i];
			continue;
		}
		optv[optc++] = argv[i];
		if (strncmp(a, "--", 2) == 0) {
			const char *eq = strchr(a + 2, '=');
			size_t idx, len = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
			const struct opt *op = find_option(a + 2, len, &idx);

			if (op == NULL)
				continue;
			given[idx] = 1;
			if (op->type != OPT_FLAG && eq == NULL && i + 1 < argc)
				optv[optc++] = argv[++i];
		}
	}
	optv[optc] = NULL;
	switch (opts_parse(&c.o, options, NOPTIONS, optc, optv, &next, err, sizeof(err))) {
	case OPTS_HELP:
		usage(stdout);
		return 0;
	case OPTS_VERSION:
		printf("berth %s\n", BERTH_VERSION);
		return 0;
	case OPTS_ERROR:
		return usage_error("%s", err);
	default:
		break;
	}
	if (posc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(posv[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		return usage_error("unknown command %s", posv[0]);
	for (size_t i = 0; i < NOPTIONS; i++)
		if (given[i] && !command_accepts(cmd, options[i].name)) {
			fprintf(stderr, "berth: %s does not take --%s (usage: berth %s %s)\n",
			        cmd->name, options[i].name, cmd->name, cmd->usage);
			return EXIT_USAGE;
		}
	if (posc - 1 < cmd->nargs_min || posc - 1 > cmd->nargs_max) {
		fprintf(stderr, "berth: usage: berth %s %s\n", cmd->name, cmd->usage);
		return EXIT_USAGE;
	}
	c.json = opts_get(&c.o, "json") != NULL;
	c.argv = posv + 1;
	c.argc = posc - 1;
	c.r = NULL;
	if (cmd->open_flags >= 0) {
		rc = registry_open_busy(&c.r, opts_get(&c.o, "db"), cmd->open_flags,
		                        (int)opts_int(&c.o, "busy-timeout"), err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "berth: %s\n", err);
			return EXIT_REGISTRY;
		}
	}
	rc = cmd->run(&c);
	registry_close(c.r);
	return rc;
}
