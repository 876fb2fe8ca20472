/* Unit tests for registry: bindings, tenants, batches, the outbox, changes, stats, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "registry/registry.h"
#include "registry/registry_schema.h"
#include "reg_test.h"
#include "tests/lib/testlib.h"

struct fx {
	char dir[256];
	char path[300];
	struct registry *r;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256] = "";

	if (tl_tmpdir(f->dir, sizeof(f->dir), "reg") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	if (registry_open(&f->r, f->path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)) != 0) {
		fprintf(stderr, "open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	registry_close(f->r);
	tl_rmtree(f->dir);
	free(f);
	return 0;
}

static int
count_cb(const struct binding *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

static int
count_bindings(struct registry *r, const struct binding_filter *flt)
{
	int n = 0;

	assert_int_equal(registry_binding_list(r, flt, count_cb, &n), 0);
	return n;
}

struct outbox_seen {
	int n;
	int64_t ids[64];
	char keys[64][REG_ARN_MAX + REG_NAME_MAX + 32];
	json_t *bodies[64];
	int attempts[64];
	char last_error[64][REG_ERROR_MAX];
};

static int
outbox_cb(const struct outbox_row *row, void *arg)
{
	struct outbox_seen *s = arg;
	json_error_t je;

	if (s->n >= 64)
		return 1;
	s->ids[s->n] = row->id;
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", row->key);
	s->bodies[s->n] = json_loads(row->body, 0, &je);
	s->attempts[s->n] = row->attempts;
	snprintf(s->last_error[s->n], sizeof(s->last_error[0]), "%s", row->last_error);
	s->n++;
	return 0;
}

static void
outbox_free(struct outbox_seen *s)
{
	for (int i = 0; i < s->n; i++)
		json_decref(s->bodies[i]);
	memset(s, 0, sizeof(*s));
}

static void
test_open_schema(void **state)
{
	struct fx *f = *state;
	char v[128];
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_string_equal(registry_path(f->r), f->path);
	assert_int_equal(registry_meta_get(f->r, "created_by", v, sizeof(v)), 0);
	assert_string_equal(v, "berth " BERTH_VERSION);
	assert_int_equal(registry_meta_get(f->r, "nope", v, sizeof(v)), -ENOENT);
	assert_int_equal(registry_meta_set(f->r, "sync_cursor", "abc"), 0);
	assert_int_equal(registry_meta_get(f->r, "sync_cursor", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(registry_meta_set(f->r, "sync_cursor", "abcdef"), 0);
	assert_int_equal(registry_meta_get(f->r, "sync_cursor", v, 4), -ERANGE);
	assert_int_equal(registry_meta_set(f->r, "", "x"), -EINVAL);

	/* The file carries the schema version, the application id, WAL mode. */
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), REGISTRY_SCHEMA_VERSION);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), REGISTRY_APPLICATION_ID);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* A second writer and a reader open the same file. */
	struct registry *w2, *ro;
	char err[256] = "";

	assert_int_equal(registry_open(&w2, f->path, REGISTRY_RDWR, err, sizeof(err)), 0);
	assert_int_equal(
	    registry_open(&ro, f->path, REGISTRY_RDONLY | REGISTRY_CHECK, err, sizeof(err)), 0);
	assert_int_equal(registry_meta_set(ro, "k", "v"), -EROFS);
	assert_int_equal(registry_begin(ro), -EROFS);
	registry_close(w2);
	registry_close(ro);
	assert_int_equal(registry_open(&ro, f->path, REGISTRY_CREATE, err, sizeof(err)), -EINVAL);
}

static void
test_binding_upsert(void **state)
{
	struct fx *f = *state;
	struct binding b, g;
	struct outbox_seen s = {0};
	int changed = -1;

	rt_binding(&b, 1);
	assert_int_equal(registry_binding_upsert(f->r, &b, &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(registry_binding_get(f->r, "00000000000000000000000000000001", &g), 0);
	assert_string_equal(g.task_arn, b.task_arn);
	assert_string_equal(g.task_id, "00000000000000000000000000000001");
	assert_int_equal(g.version, 1);
	assert_int_equal(g.host_port, 32769);
	assert_int_equal(g.status, BINDING_RUNNING);
	assert_int_equal(g.started_at, b.started_at);
	assert_true(g.updated_at > 0);
	assert_false(g.has_exit_code);

	/* Same row again: nothing written; timestamps alone are not a change. */
	b.started_at += 5;
	assert_int_equal(registry_binding_upsert(f->r, &b, &changed), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(registry_binding_get(f->r, b.task_arn, &g), 0);
	assert_int_equal(g.version, 1);
	assert_int_equal(g.started_at, b.started_at - 5);

	/* A new host port is a change: version 2, one outbox row (superseded), body is the row. */
	b.host_port = 40000;
	b.started_at = 0;
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	assert_int_equal(registry_binding_get(f->r, b.container_id, &g), 0);
	assert_int_equal(g.version, 2);
	assert_int_equal(g.host_port, 40000);
	assert_int_equal(g.started_at, 1795000000001LL); /* 0 keeps the stored value */
	assert_int_equal(registry_outbox_pending(f->r, 0, outbox_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_non_null(s.bodies[0]);
	assert_string_equal(s.keys[0], "arn:aws:ecs:us-east-1:123456789012:task/poc/"
	                               "00000000000000000000000000000001#app#8000/tcp");
	assert_int_equal(json_integer_value(json_object_get(s.bodies[0], "host_port")), 40000);
	assert_int_equal(json_integer_value(json_object_get(s.bodies[0], "version")), 2);
	assert_string_equal(json_string_value(json_object_get(s.bodies[0], "status")), "RUNNING");
	outbox_free(&s);

	/* Container id prefix of 12+ characters finds it; shorter does not. */
	assert_int_equal(registry_binding_get(f->r, "000000000000", &g), 0);
	assert_int_equal(registry_binding_get(f->r, "00000000000", &g), -ENOENT);
	assert_int_equal(registry_binding_get(f->r, "nope", &g), -ENOENT);

	/* A second port of the same task is a second row. */
	b.container_port = 9000;
	assert_int_equal(registry_binding_upsert(f->r, &b, &changed), 0);
	assert_int_equal(changed, 1);
	struct binding_filter flt = {.task = "00000000000000000000000000000001", .status = -1};
	assert_int_equal(count_bindings(f->r, &flt), 2);
}

static void
test_binding_invalid(void **state)
{
	struct fx *f = *state;
	struct binding b;

	rt_binding(&b, 2);
	b.container_port = 0;
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	assert_true(strlen(registry_errmsg(f->r)) > 0);
	rt_binding(&b, 2);
	b.container_port = 70000;
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	rt_binding(&b, 2);
	b.host_port = -1;
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	rt_binding(&b, 2);
	snprintf(b.protocol, sizeof(b.protocol), "http");
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	rt_binding(&b, 2);
	b.task_arn[0] = '\0';
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	rt_binding(&b, 2);
	memset(b.tenant, 'x', sizeof(b.tenant)); /* not terminated */
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	rt_binding(&b, 2);
	b.status = (enum binding_status)9;
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	rt_binding(&b, 2);
	snprintf(b.task_arn, sizeof(b.task_arn), "arn:aws:ecs:x:task/");
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	rt_binding(&b, 2);
	memset(b.task_arn, 'a', sizeof(b.task_arn) - 1); /* task id too long to derive */
	b.task_arn[sizeof(b.task_arn) - 1] = '\0';
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	assert_int_equal(count_bindings(f->r, NULL), 0);
	/* Inside a batch, refused rows leave the batch usable. */
	assert_int_equal(registry_begin(f->r), 0);
	rt_binding(&b, 2);
	b.host_port = 70000;
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	rt_binding(&b, 2);
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	assert_int_equal(registry_commit(f->r), 0);
	assert_int_equal(count_bindings(f->r, NULL), 1);

	/* The task id (after the ARN's last '/') is unique: another ARN with it is refused. */
	rt_binding(&b, 4);
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	snprintf(b.task_arn, sizeof(b.task_arn),
	         "arn:aws:ecs:eu-west-1:123456789012:task/other/%032x", 4);
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EEXIST);

	/* A plain Docker container: the container id is the key and the task id. */
	rt_binding(&b, 3);
	snprintf(b.task_arn, sizeof(b.task_arn), "%s", b.container_id);
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	struct binding g;
	assert_int_equal(registry_binding_get(f->r, b.container_id, &g), 0);
	assert_string_equal(g.task_id, b.container_id);
}

static void
test_container_stop_remove(void **state)
{
	struct fx *f = *state;
	struct binding b, g;
	struct outbox_seen s = {0};
	struct binding_filter flt = {.status = -1};
	int n = -1;

	rt_binding(&b, 7);
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	b.container_port = 8001;
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	rt_binding(&b, 8);
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);

	rt_binding(&b, 7);
	assert_int_equal(
	    registry_container_stopped(f->r, b.container_id, 1, 137, 1795000009000LL, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(registry_binding_get(f->r, b.task_arn, &g), 0);
	assert_int_equal(g.status, BINDING_STOPPED);
	assert_true(g.has_exit_code);
	assert_int_equal(g.exit_code, 137);
	assert_int_equal(g.stopped_at, 1795000009000LL);
	assert_int_equal(g.version, 2);
	/* Stopped again: nothing live is left. */
	assert_int_equal(registry_container_stopped(f->r, b.container_id, 0, 0, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(registry_container_stopped(f->r, "", 0, 0, 0, &n), -EINVAL);

	flt.status = BINDING_RUNNING;
	assert_int_equal(count_bindings(f->r, &flt), 1);
	flt.status = BINDING_STOPPED;
	assert_int_equal(count_bindings(f->r, &flt), 2);

	assert_int_equal(registry_container_removed(f->r, b.container_id, 0, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(registry_container_removed(f->r, b.container_id, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(registry_binding_get(f->r, b.task_arn, &g), 0);
	assert_int_equal(g.status, BINDING_REMOVED);
	assert_int_equal(g.stopped_at, 1795000009000LL); /* kept from the stop */
	assert_int_equal(g.version, 3);
	/* Removed rows are tombstones: hidden unless asked for. */
	assert_int_equal(count_bindings(f->r, NULL), 1);
	flt.status = BINDING_REMOVED;
	assert_int_equal(count_bindings(f->r, &flt), 2);
	flt.status = -1;
	flt.include_removed = 1;
	assert_int_equal(count_bindings(f->r, &flt), 3);

	/* The outbox holds one row per key, the latest state, oldest first. */
	assert_int_equal(registry_outbox_pending(f->r, 10, outbox_cb, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(json_string_value(json_object_get(s.bodies[0], "status")), "RUNNING");
	assert_string_equal(json_string_value(json_object_get(s.bodies[1], "status")), "REMOVED");
	assert_int_equal(json_integer_value(json_object_get(s.bodies[1], "exit_code")), 137);
	assert_true(s.ids[0] < s.ids[1] && s.ids[1] < s.ids[2]);
	outbox_free(&s);

	/* Prune drops tombstones only once synced. */
	assert_int_equal(registry_prune(f->r, registry_now_ms() + 1000, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(registry_outbox_pending(f->r, 10, outbox_cb, &s), 0);
	for (int i = 0; i < s.n; i++)
		assert_int_equal(registry_outbox_ack(f->r, s.ids[i]), 0);
	assert_int_equal(registry_outbox_ack(f->r, s.ids[0]), 0); /* already gone */
	outbox_free(&s);
	assert_int_equal(registry_prune(f->r, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(registry_prune(f->r, registry_now_ms() + 1000, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(count_bindings(f->r, &flt), 1);
}

static void
test_list_filters(void **state)
{
	struct fx *f = *state;
	struct binding b;
	struct binding_filter flt = {.status = -1};

	/* More rows than one list chunk, over three tenants. */
	assert_int_equal(registry_begin(f->r), 0);
	for (int i = 0; i < 300; i++) {
		rt_binding(&b, i);
		snprintf(b.tenant, sizeof(b.tenant), "tenant%d", i % 3);
		assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	}
	assert_int_equal(registry_commit(f->r), 0);
	assert_int_equal(count_bindings(f->r, NULL), 300);
	flt.tenant = "tenant1";
	assert_int_equal(count_bindings(f->r, &flt), 100);
	flt.tenant = "";
	assert_int_equal(count_bindings(f->r, &flt), 300);
	rt_binding(&b, 42);
	flt.container_id = b.container_id;
	assert_int_equal(count_bindings(f->r, &flt), 1);
	flt.container_id = NULL;
	flt.status = 7;
	assert_int_equal(registry_binding_list(f->r, &flt, count_cb, &(int){0}), -EINVAL);
}

static int
stop_after_one(const struct binding *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
	return 42;
}

/* A list callback may write (rows are read in chunks, callbacks run between queries). */
static int
stop_in_callback(const struct binding *b, void *arg)
{
	struct registry *r = arg;

	return registry_container_stopped(r, b->container_id, 0, 0, 0, NULL);
}

static void
test_list_callback(void **state)
{
	struct fx *f = *state;
	struct binding b;
	struct binding_filter flt = {.status = BINDING_RUNNING};
	int n = 0;

	for (int i = 0; i < 200; i++) {
		rt_binding(&b, i);
		assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	}
	assert_int_equal(registry_binding_list(f->r, NULL, stop_after_one, &n), 42);
	assert_int_equal(n, 1);
	assert_int_equal(registry_binding_list(f->r, &flt, stop_in_callback, f->r), 0);
	assert_int_equal(count_bindings(f->r, &flt), 0);
	flt.status = BINDING_STOPPED;
	assert_int_equal(count_bindings(f->r, &flt), 200);
}

static int
tenant_names(const struct tenant *t, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s%s", n ? "," : "", t->subdomain);
	return 0;
}

static void
test_tenants(void **state)
{
	struct fx *f = *state;
	struct tenant t = {0}, g;
	char names[512] = "";
	json_t *j;

	snprintf(t.subdomain, sizeof(t.subdomain), "acme");
	snprintf(t.admin_email, sizeof(t.admin_email), "ops@acme.example");
	snprintf(t.company_name, sizeof(t.company_name), "Acme \xc3\x9cnited");
	t.status = TENANT_PROVISIONING;
	assert_int_equal(registry_tenant_insert(f->r, &t), 0);
	assert_int_equal(t.version, 1);
	assert_true(t.created_at > 0 && t.updated_at == t.created_at);
	assert_int_equal(registry_tenant_insert(f->r, &t), -EEXIST);
	assert_int_equal(registry_tenant_get(f->r, "acme", &g), 0);
	assert_string_equal(g.company_name, "Acme \xc3\x9cnited");
	assert_int_equal(g.status, TENANT_PROVISIONING);

	t.status = TENANT_RUNNING;
	t.created_at = 0;
	snprintf(t.url, sizeof(t.url), "http://acme.203.0.113.10.sslip.io:32768");
	t.host_port = 32768;
	assert_int_equal(registry_tenant_update(f->r, &t), 0);
	assert_int_equal(t.version, 2);
	assert_int_equal(registry_tenant_get(f->r, "acme", &g), 0);
	assert_int_equal(g.status, TENANT_RUNNING);
	assert_int_equal(g.version, 2);
	assert_int_equal(g.created_at, t.created_at);
	assert_string_equal(g.url, t.url);

	j = tenant_to_json(&g);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "RUNNING");
	assert_string_equal(json_string_value(json_object_get(j, "company_name")),
	                    "Acme \xc3\x9cnited");
	assert_int_equal(json_integer_value(json_object_get(j, "host_port")), 32768);
	assert_true(json_is_string(json_object_get(j, "created_at")));
	json_decref(j);

	snprintf(g.subdomain, sizeof(g.subdomain), "nobody");
	assert_int_equal(registry_tenant_update(f->r, &g), -ENOENT);
	assert_int_equal(registry_tenant_get(f->r, "nobody", &g), -ENOENT);
	assert_int_equal(registry_tenant_get(f->r, "", &g), -EINVAL);
	g.subdomain[0] = '\0';
	assert_int_equal(registry_tenant_insert(f->r, &g), -EINVAL);

	/* Listing: ordered, paged with after/limit, filtered by status. */
	for (int i = 0; i < 150; i++) {
		memset(&t, 0, sizeof(t));
		snprintf(t.subdomain, sizeof(t.subdomain), "b%03d", i);
		t.status = i % 2 ? TENANT_FAILED : TENANT_RUNNING;
		assert_int_equal(registry_tenant_insert(f->r, &t), 0);
	}
	assert_int_equal(registry_tenant_list(f->r, -1, NULL, 3, tenant_names, names), 0);
	assert_string_equal(names, "acme,b000,b001");
	names[0] = '\0';
	assert_int_equal(registry_tenant_list(f->r, TENANT_FAILED, "b140", 0, tenant_names, names),
	                 0);
	assert_string_equal(names, "b141,b143,b145,b147,b149");
	names[0] = '\0';
	assert_int_equal(registry_tenant_list(f->r, TENANT_RUNNING, "b", 0, tenant_names, names),
	                 0);
	assert_int_equal((int)strlen(names), 75 * 5 - 1);
	assert_int_equal(registry_tenant_list(f->r, 9, NULL, 0, tenant_names, names), -EINVAL);
}

static void
test_batches(void **state)
{
	struct fx *f = *state;
	struct binding b;
	struct registry_stats st;

	assert_int_equal(registry_commit(f->r), -EINVAL);
	assert_int_equal(registry_rollback(f->r), -EINVAL);
	assert_int_equal(registry_begin(f->r), 0);
	assert_true(registry_in_batch(f->r));
	assert_int_equal(registry_begin(f->r), -EINVAL);
	for (int i = 0; i < 100; i++) {
		rt_binding(&b, i);
		assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	}
	/* A bad row inside a batch fails alone and leaves the batch usable. */
	b.container_port = 0;
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), -EINVAL);
	assert_int_equal(count_bindings(f->r, NULL), 100);
	assert_int_equal(registry_rollback(f->r), 0);
	assert_false(registry_in_batch(f->r));
	assert_int_equal(count_bindings(f->r, NULL), 0);
	assert_int_equal(registry_stats(f->r, &st), 0);
	assert_int_equal(st.outbox_pending, 0);

	assert_int_equal(registry_begin(f->r), 0);
	for (int i = 0; i < 100; i++) {
		rt_binding(&b, i);
		assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	}
	assert_int_equal(registry_commit(f->r), 0);
	assert_int_equal(count_bindings(f->r, NULL), 100);

	/* Closing with an open batch drops it. */
	char err[256];
	struct registry *w;

	assert_int_equal(registry_open(&w, f->path, REGISTRY_RDWR, err, sizeof(err)), 0);
	assert_int_equal(registry_begin(w), 0);
	rt_binding(&b, 500);
	assert_int_equal(registry_binding_upsert(w, &b, NULL), 0);
	registry_close(w);
	assert_int_equal(count_bindings(f->r, NULL), 100);
}

static void
test_changed_stats(void **state)
{
	struct fx *f = *state;
	struct registry *ro, *w2;
	struct registry_stats st;
	struct binding b;
	struct tenant t = {0};
	char err[256];
	int ch = -1;

	assert_int_equal(registry_open(&ro, f->path, REGISTRY_RDONLY, err, sizeof(err)), 0);
	assert_int_equal(registry_open(&w2, f->path, REGISTRY_RDWR, err, sizeof(err)), 0);
	assert_int_equal(registry_changed(ro, &ch), 0);
	assert_int_equal(ch, 0);
	assert_int_equal(registry_changed(f->r, &ch), 0);
	assert_int_equal(ch, 0);

	/* Own write: seen by the writer (own counter) and the reader (data_version). */
	rt_binding(&b, 1);
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	assert_int_equal(registry_changed(f->r, &ch), 0);
	assert_int_equal(ch, 1);
	assert_int_equal(registry_changed(f->r, &ch), 0);
	assert_int_equal(ch, 0);
	assert_int_equal(registry_changed(ro, &ch), 0);
	assert_int_equal(ch, 1);
	assert_int_equal(registry_changed(ro, &ch), 0);
	assert_int_equal(ch, 0);

	/* An unchanged upsert is no change for anyone. */
	assert_int_equal(registry_binding_upsert(f->r, &b, NULL), 0);
	assert_int_equal(registry_changed(f->r, &ch), 0);
	assert_int_equal(ch, 0);
	assert_int_equal(registry_changed(ro, &ch), 0);
	assert_int_equal(ch, 0);

	/* Another writer's change. */
	rt_binding(&b, 2);
	b.status = BINDING_PROVISIONAL;
	assert_int_equal(registry_binding_upsert(w2, &b, NULL), 0);
	assert_int_equal(registry_changed(f->r, &ch), 0);
	assert_int_equal(ch, 1);
	assert_int_equal(registry_changed(ro, &ch), 0);
	assert_int_equal(ch, 1);

	snprintf(t.subdomain, sizeof(t.subdomain), "x");
	t.status = TENANT_FAILED;
	assert_int_equal(registry_tenant_insert(w2, &t), 0);
	assert_int_equal(registry_stats(ro, &st), 0);
	assert_int_equal(st.bindings[BINDING_RUNNING], 1);
	assert_int_equal(st.bindings[BINDING_PROVISIONAL], 1);
	assert_int_equal(st.bindings[BINDING_STOPPED], 0);
	assert_int_equal(st.tenants[TENANT_FAILED], 1);
	assert_int_equal(st.outbox_pending, 3);
	assert_true(st.outbox_oldest > 0);
	assert_int_equal(st.outbox_failing, 0);

	/* Failed attempts are counted and keep their error text. */
	struct outbox_seen s = {0};
	char longerr[2000];

	memset(longerr, 'e', sizeof(longerr) - 1);
	longerr[sizeof(longerr) - 1] = '\0';
	assert_int_equal(registry_outbox_pending(ro, 1, outbox_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(registry_outbox_fail(ro, s.ids[0], "x"), -EROFS);
	assert_int_equal(registry_outbox_fail(f->r, s.ids[0], "throttled"), 0);
	assert_int_equal(registry_outbox_fail(f->r, s.ids[0], longerr), 0);
	outbox_free(&s);
	assert_int_equal(registry_outbox_pending(ro, 1, outbox_cb, &s), 0);
	assert_int_equal(s.attempts[0], 2);
	assert_int_equal((int)strlen(s.last_error[0]), REG_ERROR_MAX - 1);
	outbox_free(&s);
	assert_int_equal(registry_stats(ro, &st), 0);
	assert_int_equal(st.outbox_failing, 1);

	registry_close(w2);
	registry_close(ro);
}

static void
test_json_time(void **state)
{
	struct binding b;
	char buf[40];
	json_t *j;

	(void)state;
	registry_time_format(buf, sizeof(buf), 1795744668123LL);
	assert_string_equal(buf, "2026-11-27T01:57:48.123Z");
	registry_time_format(buf, sizeof(buf), 0);
	assert_string_equal(buf, "");
	registry_time_format(buf, 5, 1795744668123LL);
	assert_string_equal(buf, "2026");

	rt_binding(&b, 5);
	b.has_exit_code = 1;
	b.exit_code = 0;
	snprintf(b.tenant, sizeof(b.tenant), "bad\xff\xfe");
	j = binding_to_json(&b);
	assert_non_null(j);
	const char *keys[] = {"task_arn",       "task_id",   "container_name", "container_id",
	                      "container_port", "protocol",  "host_ip",        "host_port",
	                      "host_port_v6",   "status",    "tenant",         "cluster",
	                      "family",         "revision",  "started_at",     "stopped_at",
	                      "updated_at",     "exit_code", "version"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(j, keys[i]));
	assert_string_equal(json_string_value(json_object_get(j, "tenant")), "bad??");
	assert_true(json_is_null(json_object_get(j, "stopped_at")));
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 0);
	json_decref(j);

	assert_int_equal(binding_status_parse("running"), BINDING_RUNNING);
	assert_int_equal(binding_status_parse("REMOVED"), BINDING_REMOVED);
	assert_int_equal(binding_status_parse("x"), -1);
	assert_int_equal(binding_status_parse(NULL), -1);
	assert_int_equal(tenant_status_parse("PROVISIONING"), TENANT_PROVISIONING);
	assert_string_equal(binding_status_str((enum binding_status)99), "UNKNOWN");
	assert_string_equal(tenant_status_str(TENANT_STOPPED), "STOPPED");
}

static void
sqlx(const char *path, const char *text)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Each kind of bad file gets its own code and a message naming the file. */
static void
test_open_errors(void **state)
{
	struct fx *f = *state;
	struct registry *r;
	char path[400], err[512];
	int fd;

	/* missing; a directory; create on a missing path works */
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDONLY, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_null(r);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR, err, sizeof(err)), -ENOENT);
	assert_int_equal(registry_open(&r, f->dir, REGISTRY_RDONLY, err, sizeof(err)), -EBADF);
	assert_non_null(strstr(err, "directory"));
	assert_int_equal(registry_open(&r, "", REGISTRY_RDONLY, err, sizeof(err)), -EINVAL);

	/* an empty file: not a registry to read, but a writer with CREATE fills it */
	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	close(fd);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDONLY, err, sizeof(err)), -EBADF);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR, err, sizeof(err)), -EBADF);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)),
	                 0);
	registry_close(r);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDONLY, err, sizeof(err)), 0);
	registry_close(r);

	/* garbage */
	snprintf(path, sizeof(path), "%s/text.db", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_int_equal(write(fd, "hello, world\n", 13), 13);
	close(fd);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDONLY, err, sizeof(err)), -EBADF);
	assert_non_null(strstr(err, "not an SQLite database"));
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)),
	                 -EBADF);

	/* someone else's SQLite file is refused and left as it was (no WAL switch) */
	snprintf(path, sizeof(path), "%s/foreign.db", f->dir);
	sqlx(path, "CREATE TABLE t (x)");
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)),
	                 -EBADF);
	assert_non_null(strstr(err, "without the berth schema"));
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), 0);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}

	/* a newer schema, for readers and writers */
	snprintf(path, sizeof(path), "%s/newer.db", f->dir);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)),
	                 0);
	registry_close(r);
	sqlx(path, "PRAGMA user_version = 7");
	assert_int_equal(registry_open(&r, path, REGISTRY_RDONLY, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR, err, sizeof(err)), -ENOTSUP);
	/* a negative version (a damaged header) is no berth schema, for writers too */
	sqlx(path, "PRAGMA user_version = -16777215");
	assert_int_equal(registry_open(&r, path, REGISTRY_RDONLY, err, sizeof(err)), -EBADF);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR, err, sizeof(err)), -EBADF);

	/* locked by another process in exclusive mode: -EBUSY after the bounded wait */
	snprintf(path, sizeof(path), "%s/locked.db", f->dir);
	assert_int_equal(registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)),
	                 0);
	registry_close(r);
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		sqlite3 *db;

		if (sqlite3_open(path, &db) != SQLITE_OK ||
		    sqlite3_exec(db,
		                 "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; "
		                 "INSERT INTO meta VALUES ('k', 'v')",
		                 NULL, NULL, NULL) != SQLITE_OK ||
		    write(p[1], "x", 1) != 1)
			_exit(1);
		alarm(300); /* gone even if the parent fails before it kills this child */
		for (;;)
			pause();
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(registry_open_busy(&r, path, REGISTRY_RDONLY, 200, err, sizeof(err)),
	                 -EBUSY);
	assert_non_null(strstr(err, "locked"));
	assert_int_equal(registry_open_busy(&r, path, REGISTRY_RDWR, 200, err, sizeof(err)),
	                 -EBUSY);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(registry_open_busy(&r, path, REGISTRY_RDWR, 200, err, sizeof(err)), 0);
	registry_close(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binding_upsert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binding_invalid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_stop_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tenants, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changed_stats, setup, teardown),
	    cmocka_unit_test(test_json_time),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
