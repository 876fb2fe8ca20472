/*
 * ECS and DynamoDB request building and answer parsing, against the shared
 * fixtures and a table of malformed answers; task-definition checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include <jansson.h>

#include "aws/aws_ddb.h"
#include "aws/aws_ecs.h"
#include "tests/aws/testlib.h"
#include "tests/lib/testlib.h"

static json_t *
load_fixture(const char *name)
{
	char rel[256], *txt;
	json_t *j;
	json_error_t jerr;

	snprintf(rel, sizeof(rel), "fixtures/%s", name);
	txt = tl_data(rel, NULL);
	j = json_loads(txt, 0, &jerr);
	free(txt);
	assert_non_null(j);
	return j;
}

static void
test_describe_running(void **state)
{
	json_t *j = load_fixture("ecs-describetasks-running.json");
	struct ecs_task *t;
	struct ecs_failure *f;
	int nt, nf;
	char err[256];

	(void)state;
	assert_int_equal(ecs_parse_tasks(j, &t, &nt, &f, &nf, err, sizeof(err)), 0);
	assert_int_equal(nt, 1);
	assert_int_equal(nf, 0);
	assert_string_equal(t[0].arn, "arn:aws:ecs:us-east-1:123456789012:task/tenants/"
	                              "3f8c2a9be0d14e6f9a7b5c4d3e2f1a0b");
	assert_string_equal(t[0].last_status, "RUNNING");
	assert_int_equal(t[0].n_containers, 1);
	assert_string_equal(t[0].containers[0].name, "app");
	assert_string_equal(t[0].containers[0].runtime_id,
	                    "9c2e5a7f1b3d4c6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e");
	assert_int_equal(t[0].containers[0].n_bindings, 1);
	assert_int_equal(t[0].containers[0].bindings[0].host_port, 32768);
	assert_int_equal(t[0].containers[0].bindings[0].container_port, 8000);
	assert_string_equal(t[0].containers[0].bindings[0].protocol, "tcp");
	free(t);
	free(f);
	json_decref(j);
}

static void
test_describe_stopped_missing(void **state)
{
	json_t *j = load_fixture("ecs-describetasks-stopped.json");
	struct ecs_task *t;
	struct ecs_failure *f;
	int nt, nf;
	char err[256];

	(void)state;
	assert_int_equal(ecs_parse_tasks(j, &t, &nt, &f, &nf, err, sizeof(err)), 0);
	assert_string_equal(t[0].last_status, "STOPPED");
	assert_string_equal(t[0].stop_code, "EssentialContainerExited");
	assert_int_equal(t[0].containers[0].n_bindings, 0);
	assert_int_equal(t[0].containers[0].has_exit_code, 1);
	free(t);
	free(f);
	json_decref(j);

	j = load_fixture("ecs-describetasks-missing.json");
	assert_int_equal(ecs_parse_tasks(j, &t, &nt, &f, &nf, err, sizeof(err)), 0);
	assert_int_equal(nt, 0);
	assert_int_equal(nf, 1);
	assert_string_equal(f[0].reason, "MISSING");
	free(t);
	free(f);
	json_decref(j);
}

static void
test_runtask_answers(void **state)
{
	json_t *j = load_fixture("ecs-runtask-response.json");
	struct ecs_task *t;
	struct ecs_failure *f;
	int nt, nf;
	char err[256];

	(void)state;
	assert_int_equal(ecs_parse_tasks(j, &t, &nt, &f, &nf, err, sizeof(err)), 0);
	assert_int_equal(nt, 1);
	assert_int_equal(nf, 0);
	free(t);
	free(f);
	json_decref(j);

	/* HTTP 200 with nothing placed: the failures carry the reason. */
	j = load_fixture("ecs-runtask-response-failures.json");
	assert_int_equal(ecs_parse_tasks(j, &t, &nt, &f, &nf, err, sizeof(err)), 0);
	assert_int_equal(nt, 0);
	assert_int_equal(nf, 2);
	assert_string_equal(f[0].reason, "RESOURCE:MEMORY");
	assert_string_equal(f[1].reason, "RESOURCE:PORTS");
	free(t);
	free(f);
	json_decref(j);
}

static const char *const bad_answers[] = {
    "[]",
    "{\"tasks\":{}}",
    "{\"tasks\":[1]}",
    "{\"tasks\":[{}]}",
    "{\"tasks\":[{\"taskArn\":7}]}",
    "{\"tasks\":[{\"taskArn\":\"a\",\"containers\":{}}]}",
    ("{\"tasks\":[{\"taskArn\":\"a\",\"containers\":[{\"networkBindings\":[{\"hostPort\":70000}]}]"
     "}]}"), /* one string: the parentheses say so to clang */
    "{\"tasks\":[{\"taskArn\":\"a\",\"containers\":[{\"networkBindings\":{}}]}]}",
    "{\"failures\":\"x\"}",
};

static void
test_bad_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_answers) / sizeof(bad_answers[0]); i++) {
		json_error_t jerr;
		json_t *j = json_loads(bad_answers[i], 0, &jerr);
		struct ecs_task *t;
		struct ecs_failure *f;
		int nt, nf;
		char err[256];

		assert_non_null(j);
		assert_int_equal(ecs_parse_tasks(j, &t, &nt, &f, &nf, err, sizeof(err)), -EPROTO);
		assert_null(t);
		assert_true(err[0] != '\0');
		json_decref(j);
	}
}

/* ListTasks: a page of ARNs; anything else is refused whole. */
static void
test_list_tasks_answers(void **state)
{
	static const char *const bad[] = {"[]",
	                                  "{}",
	                                  "{\"taskArns\":{}}",
	                                  "{\"taskArns\":[7]}",
	                                  "{\"taskArns\":[\"\"]}",
	                                  "{\"taskArns\":[\"a\",null]}"};
	char(*arns)[ECS_ARN_MAX];
	char err[256], *big;
	json_error_t jerr;
	json_t *j;
	int n;

	(void)state;
	j = json_loads("{\"taskArns\":[\"arn:aws:ecs:us-east-1:123456789012:task/berth/a1\","
	               "\"arn:aws:ecs:us-east-1:123456789012:task/berth/b2\"],\"nextToken\":\"2\"}",
	               0, &jerr);
	assert_int_equal(ecs_parse_task_arns(j, &arns, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(arns[1], "arn:aws:ecs:us-east-1:123456789012:task/berth/b2");
	free(arns);
	json_decref(j);
	j = json_loads("{\"taskArns\":[]}", 0, &jerr);
	assert_int_equal(ecs_parse_task_arns(j, &arns, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(arns);
	json_decref(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_loads(bad[i], 0, &jerr);
		assert_non_null(j);
		err[0] = '\0';
		assert_int_equal(ecs_parse_task_arns(j, &arns, &n, err, sizeof(err)), -EPROTO);
		assert_null(arns);
		assert_int_equal(n, 0);
		assert_true(err[0] != '\0');
		json_decref(j);
	}
	/* An ARN too long for the buffer, and more ARNs than one page holds. */
	big = malloc(ECS_ARN_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', ECS_ARN_MAX);
	big[ECS_ARN_MAX] = '\0';
	j = json_pack("{s:[s]}", "taskArns", big);
	assert_int_equal(ecs_parse_task_arns(j, &arns, &n, err, sizeof(err)), -EPROTO);
	json_decref(j);
	free(big);
	j = json_pack("{s:[]}", "taskArns");
	for (int i = 0; i <= ECS_LIST_MAX; i++)
		json_array_append_new(json_object_get(j, "taskArns"), json_string("x"));
	assert_int_equal(ecs_parse_task_arns(j, &arns, &n, err, sizeof(err)), -EPROTO);
	json_decref(j);
}

static void
test_runtask_request(void **state)
{
	const struct ecs_kv env[] = {
	    {"DB_NAME", "tenant_acme"},
	    {"DATABASE_URL", "postgres://app@db.internal:5432/tenant_acme"},
	    {"BERTH_TENANT", "acme"}};
	const struct ecs_kv tags[] = {{"berth:tenant", "acme"}};
	struct ecs_run_task p = {
	    .cluster = "tenants",
	    .task_definition = "tenant-app:12",
	    .container_name = "app",
	    .started_by = "berth/acme",
	    .client_token = "berth-acme-2f9c1d7e4b6a4e0f9c3d5b7a1e2f4c6d",
	    .env = env,
	    .n_env = 3,
	    .tags = tags,
	    .n_tags = 1,
	};
	json_t *want = load_fixture("ecs-runtask-request.json"), *got;
	char err[256], big[9000];

	(void)state;
	got = ecs_run_task_request(&p, err, sizeof(err));
	assert_non_null(got);
	/* The fields berth sets match the fixture's. */
	assert_true(
	    json_equal(json_object_get(got, "overrides"), json_object_get(want, "overrides")));
	assert_true(json_equal(json_object_get(got, "tags"), json_object_get(want, "tags")));
	const char *keys[] = {"cluster",    "taskDefinition", "count",
	                      "launchType", "startedBy",      "clientToken"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_true(
		    json_equal(json_object_get(got, keys[i]), json_object_get(want, keys[i])));
	json_decref(got);
	json_decref(want);

	/* Bounds. */
	p.client_token = NULL;
	assert_null(ecs_run_task_request(&p, err, sizeof(err)));
	p.client_token = "has space";
	assert_null(ecs_run_task_request(&p, err, sizeof(err)));
	p.client_token = "ok";
	p.started_by = "bad:char";
	assert_null(ecs_run_task_request(&p, err, sizeof(err)));
	p.started_by = "acme";
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct ecs_kv huge[] = {{"BIG", big}};
	p.env = huge;
	p.n_env = 1;
	assert_null(ecs_run_task_request(&p, err, sizeof(err)));
	assert_non_null(strstr(err, "8192"));
}

static void
test_taskdef_check(void **state)
{
	static const struct {
		const char *td;
		int rc;
		const char *says;
	} cases[] = {
	    {"{\"networkMode\":\"bridge\",\"containerDefinitions\":[{\"name\":\"app\","
	     "\"portMappings\":[{\"containerPort\":8000,\"hostPort\":0}]}]}",
	     0, NULL},
	    {"{\"containerDefinitions\":[{\"name\":\"app\",\"portMappings\":[{\"containerPort\":"
	     "8000}]}]}",
	     0, NULL},
	    {"{\"networkMode\":\"awsvpc\",\"containerDefinitions\":[{\"name\":\"app\"}]}", -EINVAL,
	     "awsvpc"},
	    {"{\"networkMode\":\"bridge\",\"containerDefinitions\":[{\"name\":\"web\"}]}", -EINVAL,
	     "no container named \"app\""},
	    {"{\"containerDefinitions\":[{\"name\":\"app\",\"portMappings\":[{\"containerPort\":"
	     "8000,"
	     "\"hostPort\":8000}]}]}",
	     -EINVAL, "hostPort 0"},
	    {"{\"containerDefinitions\":[{\"name\":\"app\",\"portMappings\":[{\"containerPort\":80}"
	     "]}]}",
	     -EINVAL, "no port mapping"},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t jerr;
		json_t *td = json_loads(cases[i].td, 0, &jerr);
		err[0] = '\0';
		assert_int_equal(ecs_taskdef_check(td, "app", 8000, err, sizeof(err)), cases[i].rc);
		if (cases[i].says != NULL)
			assert_non_null(strstr(err, cases[i].says));
		json_decref(td);
	}
}

static void
test_ddb_attrs(void **state)
{
	json_error_t jerr;
	json_t *plain = json_loads("{\"userId\":\"acme\",\"hostPort\":32768,\"ok\":true,\"n\":null,"
	                           "\"m\":{\"a\":[1,\"b\"]},\"r\":1.5}",
	                           0, &jerr);
	json_t *item = ddb_item_from_json(plain), *back;
	char *s;

	(void)state;
	assert_non_null(item);
	s = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    s, "{\"hostPort\":{\"N\":\"32768\"},\"m\":{\"M\":{\"a\":{\"L\":[{\"N\":\"1\"},"
	       "{\"S\":\"b\"}]}}},\"n\":{\"NULL\":true},\"ok\":{\"BOOL\":true},\"r\":{"
	       "\"N\":\"1.5\"},\"userId\":{\"S\":\"acme\"}}");
	free(s);
	back = ddb_item_to_json(item);
	assert_true(json_equal(back, plain));
	json_decref(back);
	json_decref(item);
	json_decref(plain);

	/* The fixture GetItem answer reads back. */
	json_t *hit = load_fixture("ddb-getitem-hit.response.json");
	back = ddb_item_to_json(json_object_get(hit, "Item"));
	assert_non_null(back);
	json_decref(back);
	json_decref(hit);

	/* Malformed AttributeValues are refused. */
	const char *bad[] = {"{\"a\":{\"N\":\"x\"}}", "{\"a\":{\"S\":1}}", "{\"a\":{}}",
	                     "{\"a\":{\"S\":\"x\",\"N\":\"1\"}}", "{\"a\":{\"Q\":\"x\"}}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, &jerr);
		assert_null(ddb_item_to_json(j));
		json_decref(j);
	}
	assert_true(ddb_table_name_ok("UserPortRegistry"));
	assert_false(ddb_table_name_ok("ab"));
	assert_false(ddb_table_name_ok("bad name"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_describe_running),
	    cmocka_unit_test(test_describe_stopped_missing),
	    cmocka_unit_test(test_runtask_answers),
	    cmocka_unit_test(test_bad_answers),
	    cmocka_unit_test(test_list_tasks_answers),
	    cmocka_unit_test(test_runtask_request),
	    cmocka_unit_test(test_taskdef_check),
	    cmocka_unit_test(test_ddb_attrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
