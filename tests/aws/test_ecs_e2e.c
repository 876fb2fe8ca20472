/*
 * Provisioning end to end with --backend ecs (integration): the real
 * berth-launcher (and berth-sidecar) against the ECS emulator, which starts
 * real containers on the test dockerd.
 *  - with the sidecar: 201, the tenant page answers with the tenant's
 *    environment, DELETE stops the task; timed against the DescribeTasks
 *    polling baseline (no sidecar), with the emulator reporting RUNNING the
 *    way ECS does, a while after the container started;
 *  - 30 % throttling on every ECS call: every provision still succeeds;
 *  - a wrong secret: the launcher refuses to start and says why (the 403);
 *  - a RESOURCE:PORTS placement failure: 503 with the reason;
 *  - a task definition in awsvpc mode: the launcher says plainly what is wrong.
 *
 * Needs BERTH_TEST_ECS_URL, BERTH_TEST_DOCKER_HOST and the built daemons.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include <event2/event.h>

#include "aws/aws.h"
#include "core/evcurl.h"
#include "harness.h"
#include "tests/aws/ddbtest.h"
#include "tests/aws/testlib.h"
#include "tests/lib/testlib.h"

#define E2E_DESCRIBE_DELAY_MS 1500 /* ECS shows networkBindings a while after the start */

struct ctx {
	struct h_env e;
	struct h_ecs x;
};

static char *
read_all(const char *path)
{
	return tl_read_file(path, NULL);
}

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	const char *url = tl_need_env("BERTH_TEST_ECS_URL"), *why;

	assert_non_null(c);
	if ((why = h_env_init(&c->e, "ecs-e2e")) != NULL)
		fail_msg("%s", why);
	/* A key of our own, so injected faults touch only this test. */
	assert_int_equal(h_ecs_init(&c->x, url, "E2E", "e2e-secret"), 0);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	h_ecs_done(&c->x);
	h_env_done(&c->e);
	free(c);
	return 0;
}

static void
faults(struct ctx *c, const char *json_tail)
{
	assert_int_equal(h_ecs_faults(&c->x, json_tail), 200);
}

/* The ECS launcher of these tests: port 8000, a minute for the task to run, then more. */
static int
launcher_ecs(struct ctx *c, struct h_proc *p, const char *const *more)
{
	const char *argv[32] = {"--container-port", "8000", "--wait-timeout", "60"};
	size_t n = 4;

	for (size_t i = 0; more != NULL && more[i] != NULL && n < 31; i++)
		argv[n++] = more[i];
	argv[n] = NULL;
	return h_launcher_start_ecs(&c->e, p, &c->x, argv);
}

/* POSTs sub with company (NULL: "<sub> Inc") to p into r; the HTTP status. */
static long
post_as(struct h_proc *p, const char *sub, const char *company, struct h_resp *r)
{
	char req[512];
	const char *const hdrs[] = {"Content-Type: application/json", NULL};

	snprintf(req, sizeof(req),
	         "{\"subdomain\":\"%s\",\"admin_email\":\"ops@%s.example\",\"company_name\":"
	         "\"%s%s\"}",
	         sub, sub, company != NULL ? company : sub, company != NULL ? "" : " Inc");
	assert_int_equal(h_http(p->port, "POST", "/v1/tenants", hdrs, req, strlen(req), r), 0);
	return r->status;
}

/* POSTs one tenant; returns the HTTP status and fills url (when 201) and secs. */
static long
provision(struct ctx *c, struct h_proc *p, const char *sub, char *url, size_t urllen, double *secs,
          char *body, size_t bodylen)
{
	struct h_resp *r = calloc(1, sizeof(*r));
	long st;

	(void)c;
	assert_non_null(r);
	st = post_as(p, sub, NULL, r);
	if (secs != NULL)
		*secs = r->secs;
	if (body != NULL)
		snprintf(body, bodylen, "%.*s", (int)r->len, r->body);
	if (url != NULL) {
		json_error_t jerr;
		json_t *j = json_loadb(r->body, r->len, 0, &jerr);
		snprintf(url, urllen, "%s",
		         json_string_value(json_object_get(j, "url")) != NULL
		             ? json_string_value(json_object_get(j, "url"))
		             : "");
		json_decref(j);
	}
	free(r);
	return st;
}

static int
url_port(const char *url)
{
	const char *p = strrchr(url, ':');

	return p != NULL ? (int)strtol(p + 1, NULL, 10) : 0;
}

static void
test_provision_and_baseline(void **state)
{
	struct ctx *c = *state;
	struct h_proc fast = {0}, slow = {0};
	struct h_resp *r = calloc(1, sizeof(*r));
	char sub[64], url[512], body[2048], host[600], db2[400], *log;
	double t_fast = 0, t_slow = 0;
	const char *more[4];

	faults(c, "\"describe_delay_ms\":1500");
	/* With the sidecar: the binding comes from the Docker start event. */
	assert_int_equal(h_sidecar_start(&c->e), 0);
	assert_int_equal(launcher_ecs(c, &fast, NULL), 0);
	snprintf(sub, sizeof(sub), "%sfast", c->e.prefix);
	assert_int_equal(provision(c, &fast, sub, url, sizeof(url), &t_fast, body, sizeof(body)),
	                 201);
	print_message("ecs+sidecar: %s in %.3f s\n", url, t_fast);
	assert_non_null(strstr(url, sub));
	snprintf(host, sizeof(host), "%s.127.0.0.1.sslip.io", sub);
	assert_int_equal(h_page(url_port(url), host, r), 0);
	assert_int_equal(r->status, 200);
	assert_non_null(strstr(r->body, sub)); /* BERTH_TENANT reached the container */

	/* DELETE stops the task. */
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
	assert_int_equal(h_http(fast.port, "DELETE", path, NULL, NULL, 0, r), 0);
	print_message("DELETE: %ld %.*s\n", r->status, (int)r->len, r->body);
	assert_true(r->status == 200 || r->status == 204);
	h_proc_stop(&fast, 0);

	/* The baseline: no sidecar, a registry of its own; DescribeTasks polling alone. */
	snprintf(db2, sizeof(db2), "%s/baseline.db", c->e.dir);
	more[0] = "--db";
	more[1] = db2;
	more[2] = NULL;
	slow.no_sidecar_url = 1;
	assert_int_equal(launcher_ecs(c, &slow, more), 0);
	snprintf(sub, sizeof(sub), "%sslow", c->e.prefix);
	assert_int_equal(provision(c, &slow, sub, url, sizeof(url), &t_slow, body, sizeof(body)),
	                 201);
	print_message("ecs+DescribeTasks polling: %s in %.3f s\n", url, t_slow);
	printf("ecs_e2e provision_s sidecar=%.3f describe_polling=%.3f (emulated ECS report lag "
	       "%d ms)\n",
	       t_fast, t_slow, E2E_DESCRIBE_DELAY_MS);
	snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
	h_http(slow.port, "DELETE", path, NULL, NULL, 0, r);
	h_proc_stop(&slow, 0);
	log = read_all(slow.log);
	if (log != NULL)
		assert_non_null(strstr(log, "source=describe"));
	free(log);
	free(r);
}

/* 30 % of every ECS call throttled: each provision still answers 201. */
static void
test_throttling_30(void **state)
{
	struct ctx *c = *state;
	struct h_proc p = {0};
	char sub[64], url[512], body[2048];
	int ok = 0, n = 8;
	double secs;

	faults(c, "\"throttle\":0.3");
	assert_int_equal(h_sidecar_start(&c->e), 0);
	assert_int_equal(launcher_ecs(c, &p, NULL), 0);
	for (int i = 0; i < n; i++) {
		long st;
		snprintf(sub, sizeof(sub), "%sthr%d", c->e.prefix, i);
		st = provision(c, &p, sub, url, sizeof(url), &secs, body, sizeof(body));
		print_message("%s: %ld in %.3f s %s\n", sub, st, secs, st == 201 ? url : body);
		ok += st == 201;
	}
	char stats[512];
	control_get(c->x.url, "/_emulator/stats", stats, sizeof(stats));
	print_message("emulator: %s\n", stats);
	assert_int_equal(ok, n);
	h_proc_stop(&p, 0);
}

/* A wrong secret: the emulator's 403 stops the launcher at start-up, with AWS's reason. */
static void
test_wrong_secret(void **state)
{
	struct ctx *c = *state;
	struct h_proc p = {0};
	char *log;

	c->x.envp[2] = "AWS_SECRET_ACCESS_KEY=not-the-secret";
	assert_int_equal(launcher_ecs(c, &p, NULL), -1);
	log = read_all(p.log);
	assert_non_null(log);
	print_message("%s", log);
	assert_non_null(strstr(log, "InvalidSignatureException"));
	assert_non_null(strstr(log, "HTTP 403"));
	free(log);
}

/* ECS answers 200 with failures[] (no room on any instance): 503 with the reason. */
static void
test_placement_failure(void **state)
{
	struct ctx *c = *state;
	struct h_proc p = {0};
	char sub[64], body[2048];

	assert_int_equal(launcher_ecs(c, &p, NULL), 0);
	faults(c, "\"runtask_failure\":\"RESOURCE:PORTS\"");
	snprintf(sub, sizeof(sub), "%sfull", c->e.prefix);
	assert_int_equal(provision(c, &p, sub, NULL, 0, NULL, body, sizeof(body)), 503);
	print_message("%s\n", body);
	assert_non_null(strstr(body, "RESOURCE:PORTS"));
	h_proc_stop(&p, 0);
}

/* How many of the emulator's tasks started by sub are still wanted RUNNING; -1 on error. */
static int
running_started_by(struct ctx *c, const char *sub, int *total)
{
	char *out = malloc(256 * 1024);
	json_t *j, *t;
	json_error_t je;
	size_t i;
	int n = 0;

	assert_non_null(out);
	*total = 0;
	if (control_get(c->x.url, "/_emulator/tasks", out, 256 * 1024) != 200 ||
	    (j = json_loads(out, 0, &je)) == NULL) {
		free(out);
		return -1;
	}
	free(out);
	json_array_foreach(json_object_get(j, "tasks"), i, t)
	{
		const char *by = json_string_value(json_object_get(t, "startedBy"));
		const char *want = json_string_value(json_object_get(t, "desiredStatus"));

		if (by == NULL || strcmp(by, sub) != 0)
			continue;
		(*total)++;
		n += want != NULL && strcmp(want, "RUNNING") == 0;
	}
	json_decref(j);
	return n;
}

/*
 * ECS starts the task but its RunTask answer never arrives (every retry
 * alike): the provision fails, and the task it did start is found with
 * ListTasks by startedBy and stopped, not left running.
 */
static void
test_runtask_never_answered(void **state)
{
	struct ctx *c = *state;
	struct h_proc p = {0};
	const char *more[] = {"--wait-timeout", "4", NULL};
	char sub[64], body[2048], *log;
	long st;
	int running = -1, total = 0;

	assert_int_equal(launcher_ecs(c, &p, more), 0);
	faults(c, "\"runtask_lost\":true");
	snprintf(sub, sizeof(sub), "%slost", c->e.prefix);
	st = provision(c, &p, sub, NULL, 0, NULL, body, sizeof(body));
	print_message("RunTask never answered: %ld %s\n", st, body);
	assert_true(st == 502 || st == 503 || st == 504);
	/* The fault stays on, so no late RunTask answer gives the launcher the ARN after all. */
	for (int i = 0; i < 200; i++) {
		running = running_started_by(c, sub, &total);
		if (total > 0 && running == 0)
			break;
		usleep(100 * 1000);
	}
	print_message("tasks started by %s: %d, still wanted running: %d\n", sub, total, running);
	assert_true(total >= 1); /* ECS did start it */
	assert_int_equal(running, 0);
	h_proc_stop(&p, 0);
	faults(c, "");
	log = read_all(p.log);
	assert_non_null(log);
	assert_non_null(strstr(log, "ecs_orphan_stopped"));
	free(log);
}

/* A task definition berth cannot use: the launcher says what is wrong and exits. */
static void
test_bad_task_definition(void **state)
{
	struct ctx *c = *state;
	struct h_proc p = {0};
	const char *more[] = {"--task-definition", "berth-awsvpc", NULL};
	char cmd[1024], *log;

	/* Register it through the real API (signed), with curl's SigV4. */
	snprintf(cmd, sizeof(cmd),
	         "curl -sf -o /dev/null --noproxy '*' '%s/' --aws-sigv4 aws:amz:us-east-1:ecs "
	         "--user '%s:e2e-secret' -H 'Content-Type: application/x-amz-json-1.1' "
	         "-H 'X-Amz-Target: AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition' "
	         "-d '{\"family\":\"berth-awsvpc\",\"networkMode\":\"awsvpc\","
	         "\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"x\","
	         "\"portMappings\":[{\"containerPort\":8000}]}]}'",
	         c->x.url, c->x.akid);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(launcher_ecs(c, &p, more), -1);
	log = read_all(p.log);
	assert_non_null(log);
	print_message("%s", log);
	assert_non_null(strstr(log, "awsvpc"));
	assert_non_null(strstr(log, "bridge"));
	free(log);
}

/* POSTs sub with company to launcher p; the status, body into body. */
static long
provision_as(struct h_proc *p, const char *sub, const char *company, char *body, size_t bodylen)
{
	struct h_resp *r = calloc(1, sizeof(*r));
	long st;

	assert_non_null(r);
	st = post_as(p, sub, company, r);
	snprintf(body, bodylen, "%.*s", (int)r->len, r->body);
	free(r);
	return st;
}

/* Waits until the table's item for sub has status want; fails the test after 10 s. */
static void
await_item_status(struct event_base *base, struct aws *aws, const char *table, const char *sub,
                  const char *want)
{
	for (int i = 0; i < 50; i++) {
		json_t *items = ddbt_scan(base, aws, table);
		const char *st =
		    json_string_value(json_object_get(json_object_get(items, sub), "status"));
		int ok = st != NULL && strcmp(st, want) == 0;

		json_decref(items);
		if (ok)
			return;
		usleep(200 * 1000);
	}
	fail_msg("DynamoDB item %s never reached %s", sub, want);
}

/* "2026-11-27T04:00:00.000Z" for secs_ago seconds before now. */
static void
iso_ago(char *out, size_t outlen, long secs_ago)
{
	time_t t = time(NULL) - secs_ago;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* A reservation item as a launcher leaves it (version 0), created at created. */
static void
put_reservation(struct event_base *base, struct aws *aws, const char *table, const char *sub,
                const char *created)
{
	char email[128], company[128];
	json_t *item;

	snprintf(email, sizeof(email), "ops@%s.example", sub);
	snprintf(company, sizeof(company), "%s Inc", sub);
	item =
	    json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "userId", sub, "kind", "tenant",
	              "version", 0, "status", "PROVISIONING", "created_at", created, "admin_email",
	              email, "company_name", company, "reserved_by", "berth-launcher@gone:1");
	assert_int_equal(ddbt_put(base, aws, table, item), 0);
	json_decref(item);
}

/*
 * Two launchers (own registries, one DynamoDB table), one subdomain: a
 * provisions it; b answers the same request with a's tenant and another
 * company with 409. A fresh reservation of a third launcher is in flight
 * (503, ask again); one left an hour ago by a launcher that stopped is taken over.
 */
static void
test_two_launchers_one_subdomain(void **state)
{
	struct ctx *c = *state;
	struct h_proc a = {0}, b = {0};
	struct event_base *base = event_base_new();
	struct evcurl *ec = evcurl_new(base);
	struct aws *aws;
	char table[64], dba[400], dbb[400], sub[64], url[512], body[2048], company[96], old[40];
	const char *ma[] = {"--db", dba, "--dynamodb-table", table, NULL};
	const char *mb[] = {"--db", dbb, "--dynamodb-table", table, NULL};
	json_t *items;
	long sa, sb;

	tl_need_env("BERTH_TEST_DYNAMODB_URL");
	snprintf(table, sizeof(table), "berth-e2e-%d", (int)getpid());
	aws = ddbt_aws(base, ec, getenv("BERTH_TEST_DYNAMODB_URL"));
	assert_non_null(aws);
	assert_int_equal(ddbt_create_table(base, aws, table), 0);
	snprintf(dba, sizeof(dba), "%s/a.db", c->e.dir);
	snprintf(dbb, sizeof(dbb), "%s/b.db", c->e.dir);
	assert_int_equal(launcher_ecs(c, &a, ma), 0);
	assert_int_equal(launcher_ecs(c, &b, mb), 0);
	snprintf(sub, sizeof(sub), "%stwo", c->e.prefix);
	sa = provision(c, &a, sub, url, sizeof(url), NULL, body, sizeof(body));
	print_message("launcher a: %ld %s\n", sa, sa == 201 ? url : body);
	assert_int_equal(sa, 201);
	/* Launcher a's tenant row reaches the table (it replaces the reservation). */
	await_item_status(base, aws, table, sub, "RUNNING");

	/* The same request at launcher b: a's tenant, as it stands. */
	snprintf(company, sizeof(company), "%s Inc", sub);
	sb = provision_as(&b, sub, company, body, sizeof(body));
	print_message("launcher b, same request: %ld %s\n", sb, body);
	assert_int_equal(sb, 200);
	assert_non_null(strstr(body, url));
	/* Another company: taken. */
	sb = provision_as(&b, sub, "Someone Else Ltd", body, sizeof(body));
	print_message("launcher b, other company: %ld %s\n", sb, body);
	assert_int_equal(sb, 409);
	assert_non_null(strstr(body, "company_name"));

	/* A reservation made a moment ago by a launcher still at work: ask again. */
	snprintf(sub, sizeof(sub), "%sbusy", c->e.prefix);
	iso_ago(old, sizeof(old), 0);
	put_reservation(base, aws, table, sub, old);
	snprintf(company, sizeof(company), "%s Inc", sub);
	sb = provision_as(&b, sub, company, body, sizeof(body));
	print_message("fresh reservation elsewhere: %ld %s\n", sb, body);
	assert_int_equal(sb, 503);
	assert_non_null(strstr(body, "another launcher"));

	/* One left an hour ago by a launcher that stopped before writing the tenant: taken over. */
	snprintf(sub, sizeof(sub), "%sstale", c->e.prefix);
	iso_ago(old, sizeof(old), 3600);
	put_reservation(base, aws, table, sub, old);
	sb = provision(c, &b, sub, url, sizeof(url), NULL, body, sizeof(body));
	print_message("stale reservation: %ld %s\n", sb, sb == 201 ? url : body);
	assert_int_equal(sb, 201);
	await_item_status(base, aws, table, sub, "RUNNING");
	items = ddbt_scan(base, aws, table);
	assert_true(json_integer_value(json_object_get(json_object_get(items, sub), "version")) >=
	            1);
	json_decref(items);

	h_proc_stop(&a, 0);
	h_proc_stop(&b, 0);
	aws_free(aws);
	evcurl_free(ec);
	event_base_free(base);
}

/* The sidecar with --dynamodb-table: the provisioned task's binding reaches DynamoDB. */
static void
test_sidecar_syncs_bindings(void **state)
{
	struct ctx *c = *state;
	struct h_proc p = {0};
	struct event_base *base = event_base_new();
	struct evcurl *ec = evcurl_new(base);
	struct aws *aws;
	char table[64], sub[64], url[512], body[2048];
	const char *k;
	json_t *items, *it;
	int found = 0;

	tl_need_env("BERTH_TEST_DYNAMODB_URL");
	snprintf(table, sizeof(table), "berth-e2e-side-%d", (int)getpid());
	aws = ddbt_aws(base, ec, getenv("BERTH_TEST_DYNAMODB_URL"));
	assert_non_null(aws);
	assert_int_equal(ddbt_create_table(base, aws, table), 0);
	/* The sidecar inherits this environment: its flags' twins and the AWS settings. */
	setenv("BERTH_DYNAMODB_TABLE", table, 1);
	assert_int_equal(h_sidecar_start(&c->e), 0);
	unsetenv("BERTH_DYNAMODB_TABLE");
	assert_int_equal(launcher_ecs(c, &p, NULL), 0);
	snprintf(sub, sizeof(sub), "%ssync", c->e.prefix);
	assert_int_equal(provision(c, &p, sub, url, sizeof(url), NULL, body, sizeof(body)), 201);
	for (int i = 0; i < 50 && !found; i++) {
		items = ddbt_scan(base, aws, table);
		json_object_foreach(items, k, it)
		{
			const char *kind = json_string_value(json_object_get(it, "kind"));
			if (kind != NULL && strcmp(kind, "binding") == 0 &&
			    json_integer_value(json_object_get(it, "host_port")) == url_port(url) &&
			    strncmp(k, "binding#arn:aws:ecs:", 20) == 0) {
				print_message("DynamoDB has %s\n", k);
				found = 1;
			}
		}
		json_decref(items);
		if (!found)
			usleep(200 * 1000);
	}
	assert_true(found);
	h_proc_stop(&p, 0);

	/*
	 * A launcher on "another host": its own registry, no sidecar to ask, and
	 * DescribeTasks that would not show RUNNING for 30 s. The binding item the
	 * sidecar synced to DynamoDB is what answers it.
	 */
	{
		struct h_proc remote = {0};
		char db3[400];
		const char *more[] = {"--db", db3, "--dynamodb-table", table, NULL};
		double secs = 0;

		faults(c, "\"describe_delay_ms\":30000");
		snprintf(db3, sizeof(db3), "%s/remote.db", c->e.dir);
		remote.no_sidecar_url = 1;
		assert_int_equal(launcher_ecs(c, &remote, more), 0);
		snprintf(sub, sizeof(sub), "%sremote", c->e.prefix);
		assert_int_equal(
		    provision(c, &remote, sub, url, sizeof(url), &secs, body, sizeof(body)), 201);
		print_message("via DynamoDB: %s in %.3f s\n", url, secs);
		assert_true(secs < 20);
		h_proc_stop(&remote, 0);
	}
	aws_free(aws);
	evcurl_free(ec);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_provision_and_baseline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_throttling_30, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secret, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_placement_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_runtask_never_answered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_task_definition, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_launchers_one_subdomain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sidecar_syncs_bindings, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tl_tmpdirs_done(rc == 0); /* kept when a case failed: its logs are in them */
	return rc;
}
