/*
 * The aws library against the test services (integration): each credential
 * source (environment, container full and relative URI with an authorization
 * token, IMDSv2), refresh before expiry and recovery from an expired token,
 * region from IMDS, the emulator's 403 on a wrong secret, retries under
 * injected throttling and 5xx, and ECS calls end to end.
 *
 * Needs BERTH_TEST_ECS_URL, BERTH_TEST_METADATA_URL and the test keys that
 * tests/services/start-node-services.sh prints.
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
#include <sys/time.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_creds.h"
#include "aws/aws_ecs.h"
#include "core/evcurl.h"
#include "tests/aws/testlib.h"
#include "tests/lib/testlib.h"

struct ctx {
	struct event_base *base;
	struct evcurl *ec;
	struct aws *aws;
	const char *ecs_url, *meta_url;
};

struct outcome {
	int done;
	int error;
	long status;
	int attempts;
	char code[AWS_ERR_CODE_MAX];
	char text[1024];
	json_t *body;
};

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "BERTH_AWS_CONTAINER_CREDENTIALS_HOST",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ECS",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_MAX_ATTEMPTS",
};

static int64_t clock_offset_ms;

static int64_t
fake_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + clock_offset_ms;
}

/* A clean AWS environment: the emulators' endpoints, metadata never off-host. */
static void
env_reset(struct ctx *c)
{
	for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
	setenv("AWS_ENDPOINT_URL_ECS", c->ecs_url, 1);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", c->meta_url, 1);
	setenv("AWS_REGION", "us-east-1", 1);
}

static void
env_keys(const char *akid, const char *secret)
{
	setenv("AWS_ACCESS_KEY_ID", akid, 1);
	setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
}

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->ecs_url = tl_need_env("BERTH_TEST_ECS_URL");
	c->meta_url = tl_need_env("BERTH_TEST_METADATA_URL");
	tl_need_env("BERTH_TEST_AWS_ACCESS_KEY_ID");
	c->base = event_base_new();
	c->ec = evcurl_new(c->base);
	env_reset(c);
	/* Fresh emulator settings for every test. */
	control_post(c->meta_url, "/_emulator/config", "{\"ttl_s\":3600,\"auth_token\":\"\"}");
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	/* Tasks started with the shared test key go, so later tests see a clean dockerd. */
	control_post(c->ecs_url, "/_emulator/cleanup", "{\"access_key_id\":\"AKIDBERTHTEST\"}");
	aws_free(c->aws);
	evcurl_free(c->ec);
	event_base_free(c->base);
	clock_offset_ms = 0;
	free(c);
	return 0;
}

static struct aws *
make_aws(struct ctx *c)
{
	char err[256] = "";

	aws_free(c->aws);
	c->aws = aws_new(c->base, c->ec, err, sizeof(err));
	if (c->aws == NULL)
		fail_msg("aws_new: %s", err);
	return c->aws;
}

static void
on_result(const struct aws_result *r, void *arg)
{
	struct outcome *o = arg;

	o->error = r->error;
	o->status = r->status;
	o->attempts = r->attempts;
	snprintf(o->code, sizeof(o->code), "%s", r->aerr.code);
	aws_result_str(r, o->text, sizeof(o->text));
	o->body = r->body != NULL ? json_incref(r->body) : NULL;
	o->done = 1;
}

static void
call_sync(struct ctx *c, const char *op, json_t *req, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	assert_non_null(aws_call(c->aws, AWS_ECS, op, req, on_result, o));
	if (!tl_loop_until(c->base, &o->done, 60000))
		fail_msg("%s did not finish", op);
}

static void
describe_td(struct ctx *c, struct outcome *o)
{
	call_sync(c, "DescribeTaskDefinition", json_pack("{s:s}", "taskDefinition", "berth-tenant"),
	          o);
}

static void
test_env_credentials(void **state)
{
	struct ctx *c = *state;
	struct outcome o;
	char err[256];

	env_keys(getenv("BERTH_TEST_AWS_ACCESS_KEY_ID"),
	         getenv("BERTH_TEST_AWS_SECRET_ACCESS_KEY"));
	make_aws(c);
	assert_int_equal(aws_creds_source(aws_creds(c->aws)), AWS_CREDS_ENV);
	describe_td(c, &o);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.status, 200);
	assert_int_equal(o.attempts, 1);
	assert_int_equal(ecs_taskdef_check(json_object_get(o.body, "taskDefinition"), "app", 8000,
	                                   err, sizeof(err)),
	                 0);
	json_decref(o.body);
}

/* A wrong secret: the emulator's 403 comes back at once, with AWS's words. */
static void
test_wrong_secret(void **state)
{
	struct ctx *c = *state;
	struct outcome o;

	env_keys(getenv("BERTH_TEST_AWS_ACCESS_KEY_ID"), "not-the-secret");
	make_aws(c);
	describe_td(c, &o);
	print_message("%s\n", o.text);
	assert_int_equal(o.error, -EIO);
	assert_int_equal(o.status, 403);
	assert_string_equal(o.code, "InvalidSignatureException");
	assert_int_equal(o.attempts, 1);
	assert_non_null(strstr(o.text, "signature we calculated does not match"));
	/* An unknown key id. */
	env_keys("AKIDNOSUCHKEY", "x");
	make_aws(c);
	describe_td(c, &o);
	assert_int_equal(o.status, 403);
	assert_string_equal(o.code, "UnrecognizedClientException");
}

static void
test_container_full_uri(void **state)
{
	struct ctx *c = *state;
	struct outcome o;
	char url[256], path[] = "/tmp/berth-aws-token-XXXXXX";
	FILE *fp;
	int fd;

	assert_int_equal(
	    control_post(c->meta_url, "/_emulator/config", "{\"auth_token\":\"Bearer s3cret\"}"),
	    200);
	snprintf(url, sizeof(url), "%s/creds", c->meta_url);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);

	/* Wrong authorization token: no credentials, a clear error, no AWS call. */
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong", 1);
	make_aws(c);
	assert_int_equal(aws_creds_source(aws_creds(c->aws)), AWS_CREDS_CONTAINER);
	describe_td(c, &o);
	print_message("%s\n", o.text);
	assert_int_equal(o.error, -EACCES);
	assert_non_null(strstr(o.text, "container"));

	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer s3cret", 1);
	make_aws(c);
	describe_td(c, &o);
	assert_int_equal(o.error, 0);
	json_decref(o.body);
	describe_td(c, &o);
	assert_int_equal(o.error, 0);
	json_decref(o.body);
	/* Cached: one fetch for both calls. */
	assert_int_equal(aws_creds_fetches(aws_creds(c->aws)), 1);

	/* The token file wins over the token and is read at each fetch. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs("Bearer s3cret\n", fp);
	fclose(fp);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
	make_aws(c);
	describe_td(c, &o);
	assert_int_equal(o.error, 0);
	json_decref(o.body);
	unlink(path);

	/* http to a non-loopback host is refused at start. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
	{
		char err[256];
		assert_null(aws_new(c->base, c->ec, err, sizeof(err)));
		assert_non_null(strstr(err, "loopback"));
	}
}

static void
test_container_relative_uri(void **state)
{
	struct ctx *c = *state;
	struct outcome o;

	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task-1", 1);
	setenv("BERTH_AWS_CONTAINER_CREDENTIALS_HOST", c->meta_url, 1);
	make_aws(c);
	assert_int_equal(aws_creds_source(aws_creds(c->aws)), AWS_CREDS_CONTAINER);
	describe_td(c, &o);
	assert_int_equal(o.error, 0);
	json_decref(o.body);
}

static void
test_imds_credentials_and_region(void **state)
{
	struct ctx *c = *state;
	struct outcome o;
	char stats[512];

	unsetenv("AWS_REGION");
	make_aws(c);
	assert_int_equal(aws_creds_source(aws_creds(c->aws)), AWS_CREDS_IMDS);
	assert_string_equal(aws_region(c->aws), "");
	describe_td(c, &o);
	print_message("%s\n", o.text);
	assert_int_equal(o.error, 0);
	json_decref(o.body);
	assert_string_equal(aws_region(c->aws), "us-east-1");
	assert_int_equal(control_get(c->meta_url, "/_emulator/stats", stats, sizeof(stats)), 200);
	assert_null(strstr(stats, "\"imds_credentials\":0"));

	/* No region anywhere: a plain error, not a call to a guessed endpoint. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	env_keys("AKIDBERTHTEST", "x");
	make_aws(c);
	describe_td(c, &o);
	print_message("%s\n", o.text);
	assert_int_equal(o.error, -ENOENT);
	assert_non_null(strstr(o.text, "AWS_REGION"));
}

/* Credentials are fetched again 15 minutes before they expire, not at every call. */
static void
test_refresh_before_expiry(void **state)
{
	struct ctx *c = *state;
	struct outcome o;

	/* 30-minute credentials, by the emulator's (real) clock. */
	assert_int_equal(control_post(c->meta_url, "/_emulator/config", "{\"ttl_s\":1800}"), 200);
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task-2", 1);
	setenv("BERTH_AWS_CONTAINER_CREDENTIALS_HOST", c->meta_url, 1);
	make_aws(c);
	aws_creds_set_clock(aws_creds(c->aws), fake_now_ms);
	describe_td(c, &o);
	assert_int_equal(o.error, 0);
	json_decref(o.body);
	/* 14 minutes on: still more than 15 minutes left, no fetch. */
	clock_offset_ms = 14 * 60 * 1000;
	describe_td(c, &o);
	json_decref(o.body);
	assert_int_equal(aws_creds_fetches(aws_creds(c->aws)), 1);
	/* 16 minutes on: within 15 minutes of expiry, fetched again before use. */
	clock_offset_ms = 16 * 60 * 1000;
	describe_td(c, &o);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.attempts, 1);
	json_decref(o.body);
	assert_int_equal(aws_creds_fetches(aws_creds(c->aws)), 2);
	/* Back to now: the new credentials are fresh and cached. */
	clock_offset_ms = 0;
	describe_td(c, &o);
	json_decref(o.body);
	assert_int_equal(aws_creds_fetches(aws_creds(c->aws)), 2);
}

/* Credentials that expired early (clock skew, revocation): ExpiredToken, refetch, success. */
static void
test_expired_token_recovers(void **state)
{
	struct ctx *c = *state;
	struct outcome o;

	assert_int_equal(control_post(c->meta_url, "/_emulator/config", "{\"ttl_s\":1}"), 200);
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task-3", 1);
	setenv("BERTH_AWS_CONTAINER_CREDENTIALS_HOST", c->meta_url, 1);
	make_aws(c);
	/* The provider's clock runs 20 minutes behind: it believes the credentials fresh. */
	clock_offset_ms = -20 * 60 * 1000;
	aws_creds_set_clock(aws_creds(c->aws), fake_now_ms);
	describe_td(c, &o);
	assert_int_equal(o.error, 0);
	json_decref(o.body);
	usleep(1300 * 1000);
	describe_td(c, &o);
	print_message("%s\n", o.text);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.attempts, 2);
	json_decref(o.body);
	assert_int_equal(aws_creds_fetches(aws_creds(c->aws)), 2);
}

static void
set_faults(struct ctx *c, const char *json)
{
	assert_int_equal(control_post(c->ecs_url, "/_emulator/faults", json), 200);
}

/* 30 % throttling: retries absorb it; with 10 attempts every call succeeds. */
static void
test_throttling(void **state)
{
	struct ctx *c = *state;
	struct outcome o;
	struct aws_stats st;
	int ok = 0, n = 40;

	assert_int_equal(control_post(c->ecs_url, "/_emulator/keys",
	                              "{\"access_key_id\":\"AKIDTHROTTLE1\","
	                              "\"secret_access_key\":\"throttle-secret\"}"),
	                 200);
	set_faults(c, "{\"access_key_id\":\"AKIDTHROTTLE1\",\"throttle\":0.3}");
	env_keys("AKIDTHROTTLE1", "throttle-secret");
	make_aws(c);
	aws_set_retry(c->aws, 10, 200, 10);
	for (int i = 0; i < n; i++) {
		describe_td(c, &o);
		if (o.error == 0)
			ok++;
		else
			print_message("failed: %s\n", o.text);
		json_decref(o.body);
	}
	aws_get_stats(c->aws, &st);
	print_message("throttling 30%%: %d/%d ok, %lu attempts, %lu retries, %lu throttled\n", ok,
	              n, st.attempts, st.retries, st.throttled);
	assert_int_equal(ok, n);
	assert_true(st.throttled > 0);
	assert_int_equal(st.retries, st.throttled);

	/* Always 5xx: exactly the allowed attempts, then the server's error. */
	set_faults(c, "{\"access_key_id\":\"AKIDTHROTTLE1\",\"error5xx\":1}");
	aws_set_retry(c->aws, 10, 200, 3);
	describe_td(c, &o);
	print_message("%s\n", o.text);
	assert_int_equal(o.error, -EIO);
	assert_int_equal(o.status, 500);
	assert_string_equal(o.code, "ServerException");
	assert_int_equal(o.attempts, 3);
	set_faults(c, "{\"access_key_id\":\"AKIDTHROTTLE1\"}");
}

/* RunTask, DescribeTasks until RUNNING, StopTask: the emulator starts a real container. */
static void test_ecs_roundtrip(void **state);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_env_credentials, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secret, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_full_uri, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_relative_uri, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_imds_credentials_and_region, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_before_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired_token_recovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_throttling, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ecs_roundtrip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

struct ecs_out {
	int done;
	int error;
	char errmsg[768];
	struct ecs_task task;
	int n_tasks;
	char failure[ECS_REASON_MAX];
};

static void
on_ecs(const struct ecs_result *r, void *arg)
{
	struct ecs_out *o = arg;

	o->error = r->error;
	snprintf(o->errmsg, sizeof(o->errmsg), "%s", r->errmsg);
	o->n_tasks = r->n_tasks;
	if (r->n_tasks > 0)
		o->task = r->tasks[0];
	if (r->n_failures > 0)
		snprintf(o->failure, sizeof(o->failure), "%s", r->failures[0].reason);
	o->done = 1;
}

static void
test_ecs_roundtrip(void **state)
{
	struct ctx *c = *state;
	const struct ecs_kv env[] = {{"BERTH_TENANT", "live1"}, {"DB_NAME", "live1_db"}};
	struct ecs_run_task p = {.cluster = "berth-test",
	                         .task_definition = "berth-tenant",
	                         .container_name = "app",
	                         .started_by = "live1",
	                         .client_token = NULL,
	                         .env = env,
	                         .n_env = 2};
	struct ecs_out o, d;
	char token[64], err[256], arn[ECS_ARN_MAX];
	const char *tasks[1];
	int running = 0;

	tl_need_env("BERTH_TEST_DOCKER_HOST");
	snprintf(token, sizeof(token), "live-%d-%ld", (int)getpid(), (long)time(NULL));
	p.client_token = token;
	env_keys(getenv("BERTH_TEST_AWS_ACCESS_KEY_ID"),
	         getenv("BERTH_TEST_AWS_SECRET_ACCESS_KEY"));
	make_aws(c);
	memset(&o, 0, sizeof(o));
	assert_non_null(aws_ecs_run_task(c->aws, &p, on_ecs, &o, err, sizeof(err)));
	assert_true(tl_loop_until(c->base, &o.done, 30000));
	print_message("RunTask: %s %s\n", o.errmsg, o.task.arn);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.n_tasks, 1);
	assert_string_equal(o.task.started_by, "live1");
	snprintf(arn, sizeof(arn), "%s", o.task.arn);

	/* The same clientToken returns the same task, not a second one. */
	memset(&o, 0, sizeof(o));
	assert_non_null(aws_ecs_run_task(c->aws, &p, on_ecs, &o, err, sizeof(err)));
	assert_true(tl_loop_until(c->base, &o.done, 30000));
	assert_string_equal(o.task.arn, arn);

	tasks[0] = arn;
	for (int i = 0; i < 100 && !running; i++) {
		memset(&d, 0, sizeof(d));
		assert_non_null(aws_ecs_describe_tasks(c->aws, "berth-test", tasks, 1, on_ecs, &d));
		assert_true(tl_loop_until(c->base, &d.done, 30000));
		assert_int_equal(d.error, 0);
		if (strcmp(d.task.last_status, "RUNNING") == 0)
			running = 1;
		else
			usleep(100 * 1000);
	}
	assert_true(running);
	assert_int_equal(d.task.containers[0].n_bindings, 1);
	assert_int_equal(d.task.containers[0].bindings[0].container_port, 8000);
	assert_true(d.task.containers[0].bindings[0].host_port >= 1024);
	assert_int_equal(strlen(d.task.containers[0].runtime_id), 64);

	memset(&d, 0, sizeof(d));
	assert_non_null(aws_ecs_stop_task(c->aws, "berth-test", arn, "test done", on_ecs, &d));
	assert_true(tl_loop_until(c->base, &d.done, 30000));
	assert_int_equal(d.error, 0);
	assert_string_equal(d.task.desired_status, "STOPPED");

	/* A placement failure on a 200 comes back as a failure, not a task. */
	set_faults(c, "{\"runtask_failure\":\"RESOURCE:PORTS\"}");
	snprintf(token, sizeof(token), "live-fail-%d-%ld", (int)getpid(), (long)time(NULL));
	memset(&o, 0, sizeof(o));
	assert_non_null(aws_ecs_run_task(c->aws, &p, on_ecs, &o, err, sizeof(err)));
	assert_true(tl_loop_until(c->base, &o.done, 30000));
	set_faults(c, "{}");
	assert_int_equal(o.error, 0);
	assert_int_equal(o.n_tasks, 0);
	assert_string_equal(o.failure, "RESOURCE:PORTS");
}
