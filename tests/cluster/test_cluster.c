/*
 * berth on a cluster of three hosts (tests/cluster/cluster.c): each a
 * network namespace with its own dockerd, ECS agent emulator and
 * berth-sidecar on its own address; one DynamoDB; the ECS emulator placing
 * tasks across the hosts with a start delay, like the agent after a pull;
 * the launcher on host 1's registry.
 *
 *  - tenants on every host get 201 with that host's IP, their URLs serve,
 *    and the ones on other hosts were answered by that host's sidecar;
 *  - off its host a sidecar wants the bearer token, which no log shows;
 *  - a sidecar that stops heartbeating is STALE in `berth hosts` and doctor
 *    warns; the launcher does not wait on it (the fallback answers);
 *  - a remote sidecar killed: the fallback answers within its bound;
 *  - a remote sidecar SIGKILLed and restarted while tenants start there:
 *    they all end RUNNING and serve;
 *  - two launchers on two hosts racing for one subdomain: one task.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "tests/cluster/cluster.h"
#include "tests/lib/testlib.h"

#define START_DELAY_MS 1000

static struct cl C;

static int
setup(void **state)
{
	const char *why;

	(void)state;
	if ((why = cl_up(&C, 3, "test-cluster", 1)) != NULL) {
		print_error("cluster: %s\n", why);
		cl_down(&C);
		return -1;
	}
	/* The agent reports a started container a moment later, as ECS does. */
	h_ecs_faults(&C.x, "\"start_delay_ms\":1000,\"describe_delay_ms\":1500");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cl_down(&C);
	return 0;
}

/* POSTs tenant sub to the launcher at port; r filled. */
static void
provision(int port, const char *sub, struct h_resp *r)
{
	char body[256];
	const char *hdr[] = {"Content-Type: application/json", NULL};

	snprintf(body, sizeof(body),
	         "{\"subdomain\":\"%s\",\"admin_email\":\"ops@%s.example\",\"company_name\":\"%s "
	         "Inc\"}",
	         sub, sub, sub);
	assert_int_equal(h_http(port, "POST", "/v1/tenants", hdr, body, strlen(body), r), 0);
}

/* The tenant answer's host_ip and host_port. */
static void
answer_of(const struct h_resp *r, char *ip, size_t iplen, int *port)
{
	json_error_t je;
	json_t *j = json_loads(r->body, 0, &je);

	assert_non_null(j);
	snprintf(ip, iplen, "%s", json_string_value(json_object_get(j, "host_ip")));
	*port = (int)json_integer_value(json_object_get(j, "host_port"));
	json_decref(j);
}

/* The tenant's page serves at its host's address. */
static void
serves(const char *ip, int port)
{
	char url[128];
	struct h_resp *r = malloc(sizeof(*r));

	snprintf(url, sizeof(url), "http://%s:%d/", ip, port);
	assert_int_equal(cl_get(url, 0, r), 0);
	assert_int_equal(r->status, 200);
	free(r);
}

static void
test_every_host(void **state)
{
	struct h_resp *r = malloc(sizeof(*r));

	(void)state;
	for (int i = 0; i < C.n; i++) {
		char sub[64], ip[64], source[32];
		int port;

		snprintf(sub, sizeof(sub), "%se%d", C.e.prefix, i);
		assert_int_equal(cl_place(&C, sub, i), 0);
		provision(C.launcher.port, sub, r);
		if (r->status != 201)
			fail_msg("host %d: %ld %s", i + 1, r->status, r->body);
		answer_of(r, ip, sizeof(ip), &port);
		assert_string_equal(ip, C.h[i].ip);
		serves(ip, port);
		cl_log_field(C.launcher.log, "provision_running", sub, "source", source,
		             sizeof(source));
		print_message("host %d: %s:%d source=%s\n", i + 1, ip, port, source);
		/* Host 1 is the launcher's own: its sidecar or registry; the others' sidecars. */
		if (i > 0)
			assert_string_equal(source, "remote_sidecar");
		else
			assert_true(strcmp(source, "sidecar") == 0 ||
			            strcmp(source, "registry") == 0);
	}
	free(r);
}

/* Off the host, a sidecar wants the token; it never shows up in a log. */
static void
test_token(void **state)
{
	struct h_resp *r = malloc(sizeof(*r));
	char url[128], *log;
	size_t len;

	(void)state;
	snprintf(url, sizeof(url), "http://%s:%d/v1/bindings", C.h[1].ip, CL_API_PORT);
	assert_int_equal(cl_get(url, 0, r), 0);
	assert_int_equal(r->status, 401);
	assert_null(strstr(r->body, CL_TOKEN));
	assert_int_equal(cl_get(url, 1, r), 0);
	assert_int_equal(r->status, 200);
	for (int i = 0; i < C.n; i++) {
		log = tl_read_file_max(C.h[i].log, 64 * 1024 * 1024, &len);
		assert_non_null(log);
		assert_null(strstr(log, CL_TOKEN));
		free(log);
	}
	log = tl_read_file_max(C.launcher.log, 64 * 1024 * 1024, &len);
	assert_non_null(log);
	assert_null(strstr(log, CL_TOKEN));
	free(log);
	free(r);
}

static void
test_stale_host(void **state)
{
	struct h_resp *r = malloc(sizeof(*r));
	char out[8192], sub[64], ip[64], source[32], skipped[32];
	int port;

	(void)state;
	/* Host 2's sidecar stops (no heartbeat, no answers) for more than three intervals. */
	assert_int_equal(kill(C.h[1].sidecar, SIGSTOP), 0);
	sleep(4);
	assert_int_equal(cl_berth(&C, "--json hosts", 1, out, sizeof(out)), 0);
	print_message("berth hosts: %s\n", out);
	{
		json_error_t je;
		json_t *arr = json_loads(out, 0, &je), *h;
		size_t k;
		int stale = 0;

		assert_non_null(arr);
		json_array_foreach(arr, k, h)
		{
			const char *id = json_string_value(json_object_get(h, "host"));
			const char *st = json_string_value(json_object_get(h, "status"));

			if (strcmp(id, C.h[1].arn) == 0)
				stale = strcmp(st, "STALE") == 0;
			else
				assert_string_equal(st, "UP");
		}
		json_decref(arr);
		assert_true(stale);
	}
	assert_int_equal(cl_berth(&C,
	                          "--agent-url none --docker-host none --db /nonexistent doctor", 1,
	                          out, sizeof(out)),
	                 1);
	assert_non_null(strstr(out, "STALE"));
	/* A tenant placed there: the launcher does not wait on the stopped sidecar. */
	snprintf(sub, sizeof(sub), "%sstale", C.e.prefix);
	assert_int_equal(cl_place(&C, sub, 1), 0);
	provision(C.launcher.port, sub, r);
	kill(C.h[1].sidecar, SIGCONT);
	if (r->status != 201)
		fail_msg("%ld %s", r->status, r->body);
	answer_of(r, ip, sizeof(ip), &port);
	assert_string_equal(ip, C.h[1].ip);
	cl_log_field(C.launcher.log, "provision_running", sub, "source", source, sizeof(source));
	cl_log_field(C.launcher.log, "remote_sidecar_skipped", sub, "status", skipped,
	             sizeof(skipped));
	print_message("stale host: %.2f s, source=%s, skipped as %s\n", r->secs, source, skipped);
	assert_string_equal(skipped, "STALE");
	assert_string_not_equal(source, "remote_sidecar");
	free(r);
}

static void
test_remote_sidecar_killed(void **state)
{
	struct h_resp *r = malloc(sizeof(*r));
	char sub[64], ip[64], source[32];
	int port;

	(void)state;
	/* Killed a moment ago: its item is still UP, so the launcher tries it and falls back. */
	tl_stop(C.h[2].sidecar, SIGKILL, 5000);
	C.h[2].sidecar = 0;
	snprintf(sub, sizeof(sub), "%skilled", C.e.prefix);
	assert_int_equal(cl_place(&C, sub, 2), 0);
	provision(C.launcher.port, sub, r);
	if (r->status != 201)
		fail_msg("%ld %s", r->status, r->body);
	answer_of(r, ip, sizeof(ip), &port);
	assert_string_equal(ip, C.h[2].ip);
	serves(ip, port);
	cl_log_field(C.launcher.log, "provision_running", sub, "source", source, sizeof(source));
	print_message("sidecar killed: 201 in %.2f s (start delay %d ms), source=%s\n", r->secs,
	              START_DELAY_MS, source);
	assert_string_equal(source, "describe");
	/* The documented bound: the start, then one --describe-interval (3 s here) and the probe.
	 */
	assert_true(r->secs < 15);
	assert_int_equal(cl_sidecar_start(&C, 2), 0);
	free(r);
}

static void
test_restart_while_starting(void **state)
{
	static const char *const async[] = {"Content-Type: application/json",
	                                    "Prefer: respond-async", NULL};
	struct h_resp *r = malloc(sizeof(*r));
	char subs[4][64], path[400];

	(void)state;
	for (int i = 0; i < 4; i++) {
		char body[256];

		snprintf(subs[i], sizeof(subs[i]), "%sr%d", C.e.prefix, i);
		assert_int_equal(cl_place(&C, subs[i], 1), 0);
		snprintf(body, sizeof(body),
		         "{\"subdomain\":\"%s\",\"admin_email\":\"ops@x.example\","
		         "\"company_name\":\"X\"}",
		         subs[i]);
		assert_int_equal(
		    h_http(C.launcher.port, "POST", "/v1/tenants", async, body, strlen(body), r),
		    0);
		assert_int_equal(r->status, 202);
	}
	/* Their containers start in a second; the sidecar there dies now and comes back. */
	tl_stop(C.h[1].sidecar, SIGKILL, 5000);
	C.h[1].sidecar = 0;
	usleep(300 * 1000);
	assert_int_equal(cl_sidecar_start(&C, 1), 0);
	for (int i = 0; i < 4; i++) {
		char ip[64], status[32] = "";
		int port = 0;

		snprintf(path, sizeof(path), "/v1/tenants/%s", subs[i]);
		for (int k = 0; k < 600; k++) {
			json_error_t je;
			json_t *j;

			assert_int_equal(h_http(C.launcher.port, "GET", path, NULL, NULL, 0, r), 0);
			j = json_loads(r->body, 0, &je);
			snprintf(status, sizeof(status), "%s",
			         j != NULL ? json_string_value(json_object_get(j, "status")) : "");
			json_decref(j);
			if (strcmp(status, "RUNNING") == 0 || strcmp(status, "FAILED") == 0)
				break;
			usleep(100 * 1000);
		}
		if (strcmp(status, "RUNNING") != 0)
			fail_msg("%s: %s", subs[i], r->body);
		answer_of(r, ip, sizeof(ip), &port);
		assert_string_equal(ip, C.h[1].ip);
		serves(ip, port);
	}
	/* Host 2's registry converged: the restarted sidecar reconciled every container. */
	{
		char args[700], out[16384];

		snprintf(args, sizeof(args), "--db %s --json ls --status RUNNING", C.h[1].db);
		assert_int_equal(cl_berth(&C, args, 0, out, sizeof(out)), 0);
		for (int i = 0; i < 4; i++)
			assert_non_null(strstr(out, subs[i]));
	}
	free(r);
}

static void
test_two_launchers_one_subdomain(void **state)
{
	struct h_proc b = {0};
	struct h_resp *resp = calloc(2, sizeof(*resp));
	char sub[64], body[256], url[512], *tasks;
	const char *bodies[2];
	int ports[2], created = 0, n = 0;

	(void)state;
	assert_int_equal(cl_launcher_start(&C, &b, 1), 0);
	snprintf(sub, sizeof(sub), "%srace", C.e.prefix);
	snprintf(body, sizeof(body),
	         "{\"subdomain\":\"%s\",\"admin_email\":\"ops@race.example\",\"company_name\":"
	         "\"Race\"}",
	         sub);
	bodies[0] = bodies[1] = body;
	ports[0] = C.launcher.port;
	ports[1] = b.port;
	assert_int_equal(
	    h_post_many_at(ports, 0, bodies, 2, 0,
	                   (const char *const[]){"Content-Type: application/json", NULL}, resp, 90),
	    0);
	for (int i = 0; i < 2; i++) {
		print_message("launcher %d: %ld\n", i + 1, resp[i].status);
		created += resp[i].status == 201;
		assert_true(resp[i].status == 201 || resp[i].status == 200 ||
		            resp[i].status == 503);
	}
	assert_true(created >= 1);
	/* One task for the subdomain, whichever launcher started it. */
	snprintf(url, sizeof(url), "%s/_emulator/tasks", C.x.url);
	tasks = calloc(1, 1 << 20);
	assert_true(tl_http(url, NULL, tasks, 1 << 20, 10000) == 200);
	{
		json_error_t je;
		json_t *j = json_loads(tasks, 0, &je), *t;
		size_t k;

		assert_non_null(j);
		json_array_foreach(json_object_get(j, "tasks"), k, t)
		{
			const char *by = json_string_value(json_object_get(t, "startedBy"));

			n += by != NULL && strcmp(by, sub) == 0;
		}
		json_decref(j);
	}
	print_message("tasks for %s: %d\n", sub, n);
	assert_int_equal(n, 1);
	free(tasks);
	free(resp);
	h_proc_stop(&b, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_host),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_stale_host),
	    cmocka_unit_test(test_remote_sidecar_killed),
	    cmocka_unit_test(test_restart_while_starting),
	    cmocka_unit_test(test_two_launchers_one_subdomain),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);

	tl_tmpdirs_done(rc == 0);
	return rc;
}
