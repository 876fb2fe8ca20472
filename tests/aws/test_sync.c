/*
 * The outbox -> DynamoDB sync against dynalite (integration):
 *  - dynalite stopped while 200 bindings (and some tenants) change, then
 *    started again: DynamoDB ends equal to the registry, nothing lost,
 *    nothing duplicated, every item at the registry's version;
 *  - an older version never replaces a newer one;
 *  - two launchers reserving one subdomain: one wins, one gets -EEXIST, and
 *    the winner's tenant row then replaces the reservation.
 *
 * Needs BERTH_TEST_DYNAMODB_URL and BERTH_TEST_DYNALITE_JS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "core/evcurl.h"
#include "registry/registry.h"
#include "registry/reserve.h"
#include "registry/sync.h"
#include "tests/aws/ddbtest.h"
#include "tests/aws/testlib.h"
#include "tests/lib/testlib.h"
#include "tests/registry/reg_test.h"

#define NBIND   200
#define NTENANT 10

struct ctx {
	char dir[256];
	struct event_base *base;
	struct evcurl *ec;
	struct aws *aws;
	struct registry *reg;
	struct sync *sync;
	struct dynalite d; /* the private dynalite of the outage test */
};

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char path[300], err[256];

	tl_need_env("BERTH_TEST_DYNAMODB_URL");
	tl_need_env("BERTH_TEST_DYNALITE_JS");
	assert_int_equal(tl_tmpdir(c->dir, sizeof(c->dir), "sync"), 0);
	snprintf(path, sizeof(path), "%s/registry.db", c->dir);
	assert_int_equal(
	    registry_open(&c->reg, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)), 0);
	c->base = event_base_new();
	c->ec = evcurl_new(c->base);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	sync_free(c->sync);
	dynalite_stop(&c->d);
	aws_free(c->aws);
	evcurl_free(c->ec);
	event_base_free(c->base);
	registry_close(c->reg);
	free(c);
	return 0;
}

static long
pending(struct ctx *c)
{
	struct registry_stats st;

	assert_int_equal(registry_stats(c->reg, &st), 0);
	return st.outbox_pending;
}

/* Runs the loop until the outbox is empty and the sync idle (bounded). */
static int
run_until_synced(struct ctx *c, long ms)
{
	int64_t end = registry_now_ms() + ms;

	while (registry_now_ms() < end) {
		int flag = 0;
		tl_loop_until(c->base, &flag, 100);
		if (pending(c) == 0 && sync_idle(c->sync))
			return 1;
	}
	return 0;
}

struct cmp {
	json_t *items;
	int checked, bad;
};

static int
cmp_binding(const struct binding *b, void *arg)
{
	struct cmp *m = arg;
	char key[1024];
	json_t *it;

	snprintf(key, sizeof(key), "binding#%s#%s#%d/%s", b->task_arn, b->container_name,
	         b->container_port, b->protocol);
	it = json_object_get(m->items, key);
	m->checked++;
	if (it == NULL || json_integer_value(json_object_get(it, "version")) != b->version ||
	    json_integer_value(json_object_get(it, "host_port")) != b->host_port ||
	    strcmp(json_string_value(json_object_get(it, "status")) ?: "",
	           binding_status_str(b->status)) != 0 ||
	    strcmp(json_string_value(json_object_get(it, "kind")) ?: "", "binding") != 0) {
		fprintf(stderr, "mismatch for %s (registry version %lld)\n", key,
		        (long long)b->version);
		m->bad++;
	}
	return 0;
}

static int
cmp_tenant(const struct tenant *t, void *arg)
{
	struct cmp *m = arg;
	json_t *it = json_object_get(m->items, t->subdomain);

	m->checked++;
	if (it == NULL || json_integer_value(json_object_get(it, "version")) != t->version ||
	    strcmp(json_string_value(json_object_get(it, "status")) ?: "",
	           tenant_status_str(t->status)) != 0) {
		fprintf(stderr, "mismatch for tenant %s\n", t->subdomain);
		m->bad++;
	}
	return 0;
}

/* DynamoDB equals the registry: same keys, same versions, nothing extra. */
static void
assert_table_equals_registry(struct ctx *c, const char *table, int want_bindings, int want_tenants)
{
	struct binding_filter f = {.status = -1, .include_removed = 1};
	struct cmp m = {0};
	const char *k;
	json_t *v;
	int n_bind = 0, n_ten = 0;

	m.items = ddbt_scan(c->base, c->aws, table);
	assert_non_null(m.items);
	json_object_foreach(m.items, k, v)
	{
		const char *kind = json_string_value(json_object_get(v, "kind"));
		if (kind != NULL && strcmp(kind, "binding") == 0)
			n_bind++;
		else if (kind != NULL && strcmp(kind, "tenant") == 0)
			n_ten++;
	}
	assert_int_equal(registry_binding_list(c->reg, &f, cmp_binding, &m), 0);
	assert_int_equal(registry_tenant_list(c->reg, -1, NULL, 0, cmp_tenant, &m), 0);
	print_message("table %s: %d binding items, %d tenant items; %d rows checked, %d bad\n",
	              table, n_bind, n_ten, m.checked, m.bad);
	assert_int_equal(m.bad, 0);
	assert_int_equal(m.checked, want_bindings + want_tenants);
	assert_int_equal(n_bind, want_bindings);
	assert_int_equal(n_ten, want_tenants);
	json_decref(m.items);
}

static void
test_outage_and_restart(void **state)
{
	struct ctx *c = *state;
	struct dynalite *d = &c->d;
	struct binding b;
	struct tenant t;
	struct sync_stats st;
	char err[256];
	int changed;

	snprintf(d->dir, sizeof(d->dir), "%s", c->dir);
	assert_int_equal(dynalite_start(d), 0);
	c->aws = ddbt_aws(c->base, c->ec, d->url);
	assert_non_null(c->aws);
	aws_set_retry(c->aws, 20, 500, 3);
	assert_int_equal(ddbt_create_table(c->base, c->aws, "UserPortRegistry"), 0);
	c->sync = sync_new(c->base, c->reg, c->aws, "UserPortRegistry", NULL, err, sizeof(err));
	assert_non_null(c->sync);

	/* 200 bindings and 10 tenants, synced. */
	assert_int_equal(registry_begin(c->reg), 0);
	for (int i = 0; i < NBIND; i++) {
		rt_binding(&b, i);
		assert_int_equal(registry_binding_upsert(c->reg, &b, &changed), 0);
	}
	for (int i = 0; i < NTENANT; i++) {
		memset(&t, 0, sizeof(t));
		snprintf(t.subdomain, sizeof(t.subdomain), "tenant%d", i);
		snprintf(t.admin_email, sizeof(t.admin_email), "ops@tenant%d.example", i);
		snprintf(t.company_name, sizeof(t.company_name), "Tenant %d", i);
		t.status = TENANT_PROVISIONING;
		assert_int_equal(registry_tenant_insert(c->reg, &t), 0);
	}
	assert_int_equal(registry_commit(c->reg), 0);
	sync_kick(c->sync);
	assert_true(run_until_synced(c, 30000));
	assert_table_equals_registry(c, "UserPortRegistry", NBIND, NTENANT);

	/* DynamoDB goes away; every binding changes (some several times), tenants too. */
	dynalite_stop(d);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(registry_begin(c->reg), 0);
		for (int i = 0; i < NBIND; i++) {
			if (round > 0 && i % 10 != 0)
				continue;
			rt_binding(&b, i);
			b.host_port = 40000 + i + round;
			b.status = i % 2 == 0 ? BINDING_STOPPED : BINDING_RUNNING;
			assert_int_equal(registry_binding_upsert(c->reg, &b, &changed), 0);
			assert_int_equal(changed, 1);
		}
		assert_int_equal(registry_commit(c->reg), 0);
		sync_kick(c->sync);
		int flag = 0;
		tl_loop_until(c->base, &flag, 700);
	}
	for (int i = 0; i < NTENANT; i++) {
		char sub[32];
		snprintf(sub, sizeof(sub), "tenant%d", i);
		assert_int_equal(registry_tenant_get(c->reg, sub, &t), 0);
		t.status = TENANT_RUNNING;
		t.host_port = 40000 + i;
		assert_int_equal(registry_tenant_update(c->reg, &t), 0);
	}
	sync_kick(c->sync);
	{
		int flag = 0;
		tl_loop_until(c->base, &flag, 1500);
	}
	sync_get_stats(c->sync, &st);
	print_message("during the outage: %ld pending, %lu failed attempts, last error: %s\n",
	              pending(c), st.failures, st.last_error);
	assert_int_equal(pending(c), NBIND + NTENANT);
	assert_true(st.failures > 0);
	assert_true(st.last_error[0] != '\0');

	/* Back: the backlog drains and the table equals the registry. */
	assert_int_equal(dynalite_start(d), 0);
	assert_true(run_until_synced(c, 60000));
	sync_get_stats(c->sync, &st);
	print_message("after restart: written %lu, superseded %lu, batches %lu, puts %lu\n",
	              st.written, st.superseded, st.batches, st.puts);
	assert_table_equals_registry(c, "UserPortRegistry", NBIND, NTENANT);
	dynalite_stop(d);
}

/* A conditional put never replaces a newer version with an older one. */
static void
test_older_version_loses(void **state)
{
	struct ctx *c = *state;
	struct sync_options opt = {.no_batch = 1, .poll_ms = 100};
	struct binding b;
	char err[256], table[64], key[1024];
	json_t *items, *plain;
	int changed;

	c->aws = ddbt_aws(c->base, c->ec, getenv("BERTH_TEST_DYNAMODB_URL"));
	snprintf(table, sizeof(table), "berth-sync-cond-%d", (int)getpid());
	assert_int_equal(ddbt_create_table(c->base, c->aws, table), 0);
	rt_binding(&b, 7);
	assert_int_equal(registry_binding_upsert(c->reg, &b, &changed), 0);
	/* Another writer already stored version 99 of this binding. */
	snprintf(key, sizeof(key), "binding#%s#app#8000/tcp", b.task_arn);
	plain = json_pack("{s:s, s:s, s:i, s:i}", "userId", key, "kind", "binding", "version", 99,
	                  "host_port", 1);
	assert_int_equal(ddbt_put(c->base, c->aws, table, plain), 0);
	json_decref(plain);
	c->sync = sync_new(c->base, c->reg, c->aws, table, &opt, err, sizeof(err));
	assert_true(run_until_synced(c, 30000));
	items = ddbt_scan(c->base, c->aws, table);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(items, key), "version")), 99);
	json_decref(items);
	struct sync_stats st;
	sync_get_stats(c->sync, &st);
	assert_int_equal(st.superseded, 1);
	assert_int_equal(st.written, 0);
}

struct reservation {
	int done, err;
	char by[64]; /* -EEXIST: reserved_by of the item that won */
};

static void
on_reserved(int err, const char *msg, json_t *existing, void *arg)
{
	struct reservation *r = arg;
	const char *by = json_string_value(json_object_get(existing, "reserved_by"));

	(void)msg;
	r->err = err;
	r->done = 1;
	snprintf(r->by, sizeof(r->by), "%s", by != NULL ? by : "");
}

static void
wait_reserved(struct ctx *c, struct reservation *a, struct reservation *b)
{
	for (int i = 0; i < 300 && !(a->done && (b == NULL || b->done)); i++) {
		int flag = 0;
		tl_loop_until(c->base, &flag, 100);
	}
	assert_true(a->done && (b == NULL || b->done));
}

/* Two launchers, one subdomain: one reservation wins, the other is told it is taken. */
static void
test_two_launchers_one_subdomain(void **state)
{
	struct ctx *c = *state;
	struct reservation r1 = {0}, r2 = {0};
	struct tenant t;
	char table[64], err[256];
	json_t *items;

	c->aws = ddbt_aws(c->base, c->ec, getenv("BERTH_TEST_DYNAMODB_URL"));
	snprintf(table, sizeof(table), "berth-sync-reserve-%d", (int)getpid());
	assert_int_equal(ddbt_create_table(c->base, c->aws, table), 0);
	memset(&t, 0, sizeof(t));
	snprintf(t.subdomain, sizeof(t.subdomain), "acme");
	snprintf(t.admin_email, sizeof(t.admin_email), "ops@acme.example");
	snprintf(t.company_name, sizeof(t.company_name), "Acme");
	assert_int_equal(reserve_tenant(c->aws, table, &t, "launcher-a", NULL, on_reserved, &r1),
	                 0);
	assert_int_equal(reserve_tenant(c->aws, table, &t, "launcher-b", NULL, on_reserved, &r2),
	                 0);
	wait_reserved(c, &r1, &r2);
	print_message("reservations: a=%d b=%d (loser told: %s%s)\n", r1.err, r2.err, r1.by, r2.by);
	assert_true((r1.err == 0 && r2.err == -EEXIST) || (r1.err == -EEXIST && r2.err == 0));
	/* The loser is shown the winner's item. */
	assert_string_equal(r1.err == 0 ? r2.by : r1.by, r1.err == 0 ? "launcher-a" : "launcher-b");

	/* The winner's tenant row (version 1) then replaces the reservation (version 0). */
	t.status = TENANT_PROVISIONING;
	assert_int_equal(registry_tenant_insert(c->reg, &t), 0);
	c->sync = sync_new(c->base, c->reg, c->aws, table, NULL, err, sizeof(err));
	assert_true(run_until_synced(c, 30000));
	items = ddbt_scan(c->base, c->aws, table);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(items, "acme"), "version")), 1);
	json_decref(items);
}

/*
 * A reservation left at version 0 by a launcher that stopped: a takeover
 * naming another created_at is refused; two naming the right one race and
 * one wins; once a tenant row (version 1) replaced it, a takeover of
 * version 0 is refused.
 */
static void
test_stale_reservation_takeover(void **state)
{
	struct ctx *c = *state;
	struct reservation wrong = {0}, r1 = {0}, r2 = {0}, late = {0};
	const char *old = "2026-01-01T00:00:00.000Z";
	struct reserve_takeover over = {0, old};
	struct tenant t;
	char table[64];
	json_t *items, *it, *item;

	c->aws = ddbt_aws(c->base, c->ec, getenv("BERTH_TEST_DYNAMODB_URL"));
	snprintf(table, sizeof(table), "berth-sync-takeover-%d", (int)getpid());
	assert_int_equal(ddbt_create_table(c->base, c->aws, table), 0);
	item = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "userId", "acme", "kind",
	                 "tenant", "version", 0, "status", "PROVISIONING", "created_at", old,
	                 "admin_email", "ops@acme.example", "company_name", "Acme", "reserved_by",
	                 "launcher-gone");
	assert_int_equal(ddbt_put(c->base, c->aws, table, item), 0);
	json_decref(item);
	memset(&t, 0, sizeof(t));
	snprintf(t.subdomain, sizeof(t.subdomain), "acme");
	snprintf(t.admin_email, sizeof(t.admin_email), "ops@acme.example");
	snprintf(t.company_name, sizeof(t.company_name), "Acme");

	assert_int_equal(reserve_tenant(c->aws, table, &t, "launcher-a",
	                                &(struct reserve_takeover){0, "2026-01-01T00:00:00.001Z"},
	                                on_reserved, &wrong),
	                 0);
	wait_reserved(c, &wrong, NULL);
	assert_int_equal(wrong.err, -EEXIST);
	assert_string_equal(wrong.by, "launcher-gone");

	assert_int_equal(reserve_tenant(c->aws, table, &t, "launcher-a", &over, on_reserved, &r1),
	                 0);
	assert_int_equal(reserve_tenant(c->aws, table, &t, "launcher-b", &over, on_reserved, &r2),
	                 0);
	wait_reserved(c, &r1, &r2);
	print_message("takeovers: a=%d b=%d\n", r1.err, r2.err);
	assert_true((r1.err == 0 && r2.err == -EEXIST) || (r1.err == -EEXIST && r2.err == 0));
	items = ddbt_scan(c->base, c->aws, table);
	it = json_object_get(items, "acme");
	assert_string_equal(json_string_value(json_object_get(it, "reserved_by")),
	                    r1.err == 0 ? "launcher-a" : "launcher-b");
	assert_int_equal(json_integer_value(json_object_get(it, "version")), 0);
	json_decref(items);

	/* Once the tenant row (version 1) is there, a takeover of version 0 fails. */
	item = json_pack("{s:s, s:s, s:i, s:s, s:s}", "userId", "acme", "kind", "tenant", "version",
	                 1, "status", "RUNNING", "created_at", old);
	assert_int_equal(ddbt_put(c->base, c->aws, table, item), 0);
	json_decref(item);
	assert_int_equal(reserve_tenant(c->aws, table, &t, "launcher-c", &over, on_reserved, &late),
	                 0);
	wait_reserved(c, &late, NULL);
	assert_int_equal(late.err, -EEXIST);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_outage_and_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_older_version_loses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_launchers_one_subdomain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_reservation_takeover, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tl_tmpdirs_done(rc == 0); /* kept when a case failed: its logs are in them */
	return rc;
}
