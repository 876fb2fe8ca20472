/*
 * Integration tests for berth-launcher with the docker backend, against the
 * test dockerd (BERTH_TEST_DOCKER_HOST) and the real berth-sidecar writing
 * bindings into the same registry file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "tests/lib/testlib.h"

static struct h_env E;
static struct h_proc L; /* the main launcher: rate limit off */
static const char *const JSON_CT[] = {"Content-Type: application/json", NULL};

static json_t *
parse(const struct h_resp *r)
{
	json_error_t err;
	json_t *j = json_loadb(r->body, r->len, 0, &err);

	if (j == NULL)
		fail_msg("not JSON (status %ld): %.200s", r->status, r->body);
	return j;
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v != NULL ? v : "";
}

static struct h_resp *
resp_new(void)
{
	struct h_resp *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	return r;
}

/* Builds a tenant body; NULL fields are left out, values are raw JSON. */
static void
body3(char *out, size_t outlen, const char *sub, const char *email, const char *company)
{
	size_t off = 0;

	off += (size_t)snprintf(out + off, outlen - off, "{");
	if (sub != NULL)
		off += (size_t)snprintf(out + off, outlen - off, "\"subdomain\":%s", sub);
	if (email != NULL)
		off += (size_t)snprintf(out + off, outlen - off, "%s\"admin_email\":%s",
		                        sub != NULL ? "," : "", email);
	if (company != NULL)
		off += (size_t)snprintf(out + off, outlen - off, "%s\"company_name\":%s",
		                        sub != NULL || email != NULL ? "," : "", company);
	snprintf(out + off, outlen - off, "}");
}

static void
tenant_body(char *out, size_t outlen, const char *sub, const char *email, const char *company)
{
	char s[128], e[300], c[300];

	snprintf(s, sizeof(s), "\"%s\"", sub);
	snprintf(e, sizeof(e), "\"%s\"", email);
	snprintf(c, sizeof(c), "\"%s\"", company);
	body3(out, outlen, s, e, c);
}

static int
group_setup(void **state)
{
	const char *why = h_env_init(&E, "launcher-integ");
	const char *const extra[] = {"--image",
	                             "berth-demo/tenant:latest",
	                             "--rate-limit",
	                             "0",
	                             "--wait-timeout",
	                             "60",
	                             "--stop-timeout",
	                             "2",
	                             "--database-url-template",
	                             "postgres://app:hunter2@db:5432/{db_name}",
	                             NULL};

	(void)state;
	if (why != NULL) {
		fprintf(stderr, "launcher integration: %s\n", why);
		return -1;
	}
	if (h_tenant_image(&E) != 0) {
		fprintf(stderr, "could not build the tenant image\n");
		return -1;
	}
	if (h_sidecar_start(&E) != 0) {
		fprintf(stderr, "berth-sidecar did not become healthy; see %s\n", E.sidecar.log);
		return -1;
	}
	if (h_launcher_start(&E, &L, extra, NULL) != 0) {
		fprintf(stderr, "berth-launcher did not become healthy; see %s\n", L.log);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	h_proc_stop(&L, 0);
	h_env_done(&E);
	return 0;
}

/* Runs a shell command against the test dockerd; its first line of output into out. */
static int
dsh(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[2048], *nl;
	va_list ap;
	FILE *f;
	int n;

	n = snprintf(cmd, sizeof(cmd), "DOCKER_HOST='%s' ", E.docker_host);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	if (out != NULL) {
		out[0] = '\0';
		if (fgets(out, (int)outlen, f) != NULL && (nl = strchr(out, '\n')) != NULL)
			*nl = '\0';
	}
	return pclose(f);
}

/*
 * A sign-up never removes what is not berth's: a stranger's container that
 * happens to be named berth-<subdomain>, and a running container of an earlier
 * tenant of that subdomain that the registry does not know, both stay, and
 * the POST gets 409. berth's own names are reserved.
 */
static void
test_never_touches_strangers(void **state)
{
	struct h_resp *r = resp_new();
	char sub[64], body[512], id[128], st[64];
	json_t *j;

	(void)state;
	/* Someone else's container, no berth labels. */
	snprintf(sub, sizeof(sub), "%s-redis", E.prefix);
	assert_int_equal(dsh(id, sizeof(id),
	                     "docker run -d --name berth-%s berth-test/busybox:latest "
	                     "/bin/sleep 600",
	                     sub),
	                 0);
	tenant_body(body, sizeof(body), sub, "r@redis.example", "Redis Co");
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	if (r->status != 409)
		fail_msg("want 409 for a stranger's container, got %ld %s", r->status, r->body);
	j = parse(r);
	assert_string_equal(jstr(json_object_get(j, "error"), "code"), "conflict");
	assert_non_null(strstr(jstr(json_object_get(j, "error"), "message"), "did not start"));
	json_decref(j);
	usleep(300 * 1000); /* a stop would have come by now */
	assert_int_equal(
	    dsh(st, sizeof(st), "docker inspect -f '{{.State.Status}} {{.Id}}' %s", id), 0);
	assert_true(strncmp(st, "running ", 8) == 0);
	assert_int_equal(dsh(NULL, 0, "docker rm -f %s >/dev/null", id), 0);

	/* A running container of an earlier tenant of the subdomain, unknown here. */
	snprintf(sub, sizeof(sub), "%s-earlier", E.prefix);
	assert_int_equal(dsh(id, sizeof(id),
	                     "docker run -d --name berth-%s --label berth.tenant=%s "
	                     "--label berth.tenant-created=1 berth-test/busybox:latest "
	                     "/bin/sleep 600",
	                     sub, sub),
	                 0);
	tenant_body(body, sizeof(body), sub, "new@owner.example", "New Owner");
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	if (r->status != 409)
		fail_msg("want 409 for an unknown tenant's container, got %ld %s", r->status,
		         r->body);
	usleep(300 * 1000);
	assert_int_equal(dsh(st, sizeof(st), "docker inspect -f '{{.State.Status}}' %s", id), 0);
	assert_string_equal(st, "running");
	/* Once it has exited it is berth's dead container: replaced. */
	assert_int_equal(dsh(NULL, 0, "docker stop -t 0 %s >/dev/null", id), 0);
	{
		char path[128];

		snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
		assert_int_equal(h_http(L.port, "DELETE", path, NULL, NULL, 0, r), 0);
	}
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	if (r->status != 201)
		fail_msg("want 201 once the old container exited, got %ld %s", r->status, r->body);

	/* berth's own parts are not tenants. */
	tenant_body(body, sizeof(body), "sidecar", "s@x.example", "X");
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	assert_int_equal(r->status, 400);
	assert_non_null(strstr(r->body, "reserved_subdomain"));
	free(r);
}

/* POSTs a tenant on L, which must answer 201; its task into task. */
static void
provision_ok(const char *sub, const char *email, const char *company, char *task, size_t tasklen)
{
	struct h_resp *r = resp_new();
	char body[512];
	json_t *j;

	tenant_body(body, sizeof(body), sub, email, company);
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	if (r->status != 201)
		fail_msg("POST %s: %ld %s", sub, r->status, r->body);
	j = parse(r);
	snprintf(task, tasklen, "%s", jstr(j, "task_arn"));
	json_decref(j);
	free(r);
}

/* A tenant whose container is killed (no DELETE) becomes FAILED with the exit code. */
static void
test_tenant_follows_container(void **state)
{
	struct h_resp *r = resp_new();
	char sub[64], path[128], task[128];
	json_t *j;
	int k;

	(void)state;
	snprintf(sub, sizeof(sub), "%s-killed", E.prefix);
	provision_ok(sub, "k@killed.example", "Killed Co", task, sizeof(task));
	assert_int_equal(dsh(NULL, 0, "docker kill %s >/dev/null", task), 0);
	snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
	for (k = 0; k < 50; k++) {
		assert_int_equal(h_http(L.port, "GET", path, NULL, NULL, 0, r), 0);
		if (strstr(r->body, "\"status\":\"RUNNING\"") == NULL)
			break;
		usleep(100 * 1000);
	}
	j = parse(r);
	if (strcmp(jstr(j, "status"), "FAILED") != 0)
		fail_msg("after the kill: %s", r->body);
	assert_non_null(strstr(jstr(j, "error"), "exit code 137"));
	json_decref(j);
	assert_int_equal(h_http(L.port, "DELETE", path, NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	free(r);
}

/*
 * A registry that lost its tenants (here: a launcher on an empty file) gets
 * them back from the containers' labels, so a POST for a live tenant's
 * subdomain with other details is a 409, not a new tenant in its place.
 */
static void
test_recover_from_containers(void **state)
{
	struct h_proc T = {0};
	struct h_resp *r = resp_new();
	char sub[64], body[512], path[128], db[400], task[128];
	const char *extra[] = {
	    "--image", "berth-demo/tenant:latest", "--rate-limit", "0", "--db", db, NULL};
	json_t *j;
	int k;

	(void)state;
	snprintf(sub, sizeof(sub), "%s-recov", E.prefix);
	provision_ok(sub, "r@recov.example", "Recov Co", task, sizeof(task));
	snprintf(db, sizeof(db), "%s/lost.db", E.dir);
	assert_int_equal(h_launcher_start(&E, &T, extra, NULL), 0);
	snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
	for (k = 0; k < 50; k++) {
		assert_int_equal(h_http(T.port, "GET", path, NULL, NULL, 0, r), 0);
		if (r->status == 200)
			break;
		usleep(100 * 1000);
	}
	if (r->status != 200)
		fail_msg("not recovered: %ld %s", r->status, r->body);
	j = parse(r);
	assert_string_equal(jstr(j, "status"), "RUNNING");
	assert_string_equal(jstr(j, "admin_email"), "r@recov.example");
	assert_string_equal(jstr(j, "company_name"), "Recov Co");
	assert_string_equal(jstr(j, "task_arn"), task);
	json_decref(j);
	tenant_body(body, sizeof(body), sub, "thief@other.example", "Other Co");
	assert_int_equal(h_http(T.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	if (r->status != 409)
		fail_msg("want 409, got %ld %s", r->status, r->body);
	assert_non_null(strstr(r->body, "admin_email"));
	h_proc_stop(&T, 0);
	assert_int_equal(h_http(L.port, "DELETE", path, NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	free(r);
}

/* Both daemons' /metrics pass Prometheus' own linter (promtool, Debian's prometheus). */
static void
test_metrics_lint(void **state)
{
	char cmd[1024], out[4096];
	const int ports[] = {L.port, E.sidecar.port};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd),
		         "command -v promtool >/dev/null || { echo 'promtool is not installed "
		         "(./dev deps installs prometheus)'; exit 1; }; "
		         "curl -sS --noproxy '*' -m 10 http://127.0.0.1:%d/metrics | "
		         "promtool check metrics 2>&1",
		         ports[i]);
		if (tl_run(cmd, out, sizeof(out)) != 0)
			fail_msg("promtool check metrics on port %d: %s", ports[i], out);
	}
}

/* Provision -> the URL's port serves the page; DELETE -> container gone, STOPPED. */
static void
test_provision_and_delete(void **state)
{
	struct h_resp *r = resp_new(), *page = resp_new();
	char sub[64], body[512], url[256], host[200], path[200], timing[200];
	json_t *j;
	int port;

	(void)state;
	snprintf(sub, sizeof(sub), "%s-acme", E.prefix);
	tenant_body(body, sizeof(body), sub, "boss@acme.example.com", "Acme <Ships> & Co");
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	if (r->status != 201)
		fail_msg("POST: %ld %s", r->status, r->body);
	assert_int_equal(h_header(r, "Server-Timing", timing, sizeof(timing)), 0);
	j = parse(r);
	assert_string_equal(jstr(j, "status"), "RUNNING");
	assert_string_equal(jstr(j, "subdomain"), sub);
	assert_string_equal(jstr(j, "host_ip"), "127.0.0.1");
	port = (int)json_integer_value(json_object_get(j, "host_port"));
	assert_true(port > 0 && port < 65536);
	snprintf(url, sizeof(url), "http://%s.127.0.0.1.sslip.io:%d", sub, port);
	assert_string_equal(jstr(j, "url"), url);
	assert_true(strlen(jstr(j, "task_arn")) == 64);
	assert_null(strstr(r->body, "hunter2")); /* DATABASE_URL never shown */

	/* The page answers at once on 127.0.0.1, with the company name escaped. */
	snprintf(host, sizeof(host), "%s.127.0.0.1.sslip.io:%d", sub, port);
	assert_int_equal(h_page(port, host, page), 0);
	assert_int_equal(page->status, 200);
	assert_non_null(strstr(page->body, "Acme &lt;Ships&gt; &amp; Co"));

	/* The registry agrees. */
	snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
	assert_int_equal(h_http(L.port, "GET", path, NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	json_decref(j);
	j = parse(r);
	assert_string_equal(jstr(j, "status"), "RUNNING");
	snprintf(path, sizeof(path), "/containers/%s/json", jstr(j, "task_arn"));
	json_decref(j);

	/* The container got the tenant's environment and labels. */
	assert_int_equal(h_docker(&E, "GET", path, page), 0);
	assert_int_equal(page->status, 200);
	{
		json_t *c = parse(page),
		       *env = json_object_get(json_object_get(c, "Config"), "Env");
		char want[4][200], dbname[64];
		int found[4] = {0};
		size_t i;
		json_t *v;

		snprintf(dbname, sizeof(dbname), "%s", sub);
		for (char *p = dbname; *p != '\0'; p++)
			if (*p == '-')
				*p = '_';
		snprintf(want[0], sizeof(want[0]), "BERTH_TENANT=%s", sub);
		snprintf(want[1], sizeof(want[1]), "DB_NAME=%s", dbname);
		snprintf(want[2], sizeof(want[2]), "DATABASE_URL=postgres://app:hunter2@db:5432/%s",
		         dbname);
		snprintf(want[3], sizeof(want[3]), "BERTH_COMPANY_NAME=Acme <Ships> & Co");
		json_array_foreach(env, i, v)
		{
			for (int k = 0; k < 4; k++)
				found[k] |= strcmp(json_string_value(v), want[k]) == 0;
		}
		for (int k = 0; k < 4; k++)
			if (!found[k])
				fail_msg("container env lacks %s", want[k]);
		assert_string_equal(
		    jstr(json_object_get(json_object_get(c, "Config"), "Labels"), "berth.tenant"),
		    sub);
		json_decref(c);
	}

	/* DELETE: 200 STOPPED, and the container is gone. */
	snprintf(url, sizeof(url), "/v1/tenants/%s", sub);
	assert_int_equal(h_http(L.port, "DELETE", url, NULL, NULL, 0, r), 0);
	if (r->status != 200)
		fail_msg("DELETE: %ld %s", r->status, r->body);
	j = parse(r);
	assert_string_equal(jstr(j, "status"), "STOPPED");
	json_decref(j);
	assert_int_equal(h_docker(&E, "GET", path, page), 0);
	assert_int_equal(page->status, 404);
	assert_int_equal(h_http(L.port, "GET", url, NULL, NULL, 0, r), 0);
	j = parse(r);
	assert_string_equal(jstr(j, "status"), "STOPPED");
	json_decref(j);
	/* DELETE again is idempotent. */
	assert_int_equal(h_http(L.port, "DELETE", url, NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);

	/* The secret in DATABASE_URL never reached the log. */
	{
		FILE *fp = fopen(L.log, "r");
		char line[4096];

		assert_non_null(fp);
		while (fgets(line, sizeof(line), fp) != NULL)
			if (strstr(line, "hunter2") != NULL)
				fail_msg("DATABASE_URL logged: %s", line);
		fclose(fp);
	}
	free(r);
	free(page);
}

struct bad {
	const char *method, *path, *ctype;
	const char *sub, *email, *company; /* raw JSON; "-" = leave out; NULL body = raw */
	const char *raw;                   /* a raw body when not NULL */
	long status;
	const char *code, *field;
};

#define OK_SUB     "\"@-bad\"" /* '@' is replaced by the run's prefix */
#define OK_EMAIL   "\"a@b.example\""
#define OK_COMPANY "\"Bad Co\""
#define J          "application/json"

static const struct bad bad_cases[] = {
    /* method and route */
    {"PUT", "/v1/tenants", J, OK_SUB, OK_EMAIL, OK_COMPANY, NULL, 405, "method_not_allowed", ""},
    {"PATCH", "/v1/tenants", J, OK_SUB, OK_EMAIL, OK_COMPANY, NULL, 405, "method_not_allowed", ""},
    {"DELETE", "/v1/tenants", J, NULL, NULL, NULL, "", 405, "method_not_allowed", ""},
    {"POST", "/v1/tenants/x-bad", J, OK_SUB, OK_EMAIL, OK_COMPANY, NULL, 405, "method_not_allowed",
     ""},
    {"POST", "/v1/tenant", J, OK_SUB, OK_EMAIL, OK_COMPANY, NULL, 404, "not_found", ""},
    /* content type */
    {"POST", "/v1/tenants", NULL, OK_SUB, OK_EMAIL, OK_COMPANY, NULL, 400, "unsupported_media_type",
     ""},
    {"POST", "/v1/tenants", "text/plain", OK_SUB, OK_EMAIL, OK_COMPANY, NULL, 400,
     "unsupported_media_type", ""},
    {"POST", "/v1/tenants", "application/x-www-form-urlencoded", OK_SUB, OK_EMAIL, OK_COMPANY, NULL,
     400, "unsupported_media_type", ""},
    /* JSON shape */
    {"POST", "/v1/tenants", J, NULL, NULL, NULL, "", 400, "invalid_json", ""},
    {"POST", "/v1/tenants", J, NULL, NULL, NULL, "{", 400, "invalid_json", ""},
    {"POST", "/v1/tenants", J, NULL, NULL, NULL, "[]", 400, "invalid_json", ""},
    {"POST", "/v1/tenants", J, NULL, NULL, NULL, "null", 400, "invalid_json", ""},
    {"POST", "/v1/tenants", J, NULL, NULL, NULL, "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", 400,
     "invalid_json", ""},
    {"POST", "/v1/tenants", J, NULL, NULL, NULL, "{} x", 400, "invalid_json", ""},
    {"POST", "/v1/tenants", J, NULL, NULL, NULL,
     "{\"subdomain\":\"caf\xe9\",\"admin_email\":\"a@b.example\",\"company_name\":\"x\"}", 400,
     "invalid_json", ""},
    {"POST", "/v1/tenants", J, NULL, NULL, NULL,
     "{\"subdomain\":\"dup-bad\",\"subdomain\":\"dup-bad\",\"admin_email\":\"a@b.example\","
     "\"company_name\":\"x\"}",
     400, "invalid_json", ""},
    {"POST", "/v1/tenants", J, NULL, NULL, NULL,
     "{\"subdomain\":\"x-bad\",\"admin_email\":\"a@b.example\",\"company_name\":\"x\","
     "\"plan\":\"gold\"}",
     400, "unknown_field", "plan"},
    /* missing and mistyped fields */
    {"POST", "/v1/tenants", J, "-", OK_EMAIL, OK_COMPANY, NULL, 400, "missing_field", "subdomain"},
    {"POST", "/v1/tenants", J, OK_SUB, "-", OK_COMPANY, NULL, 400, "missing_field", "admin_email"},
    {"POST", "/v1/tenants", J, OK_SUB, OK_EMAIL, "-", NULL, 400, "missing_field", "company_name"},
    {"POST", "/v1/tenants", J, "42", OK_EMAIL, OK_COMPANY, NULL, 400, "invalid_type", "subdomain"},
    {"POST", "/v1/tenants", J, OK_SUB, "[\"a@b.example\"]", OK_COMPANY, NULL, 400, "invalid_type",
     "admin_email"},
    {"POST", "/v1/tenants", J, OK_SUB, OK_EMAIL, "null", NULL, 400, "invalid_type", "company_name"},
    /* subdomain */
    {"POST", "/v1/tenants", J, "\"ab\"", OK_EMAIL, OK_COMPANY, NULL, 400, "invalid_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J,
     "\"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234\"", OK_EMAIL, OK_COMPANY,
     NULL, 400, "invalid_subdomain", "subdomain"},
    {"POST", "/v1/tenants", J, "\"Acme-bad\"", OK_EMAIL, OK_COMPANY, NULL, 400, "invalid_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J, "\"acme_bad\"", OK_EMAIL, OK_COMPANY, NULL, 400, "invalid_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J, "\"acme.bad\"", OK_EMAIL, OK_COMPANY, NULL, 400, "invalid_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J, "\"-acmebad\"", OK_EMAIL, OK_COMPANY, NULL, 400, "invalid_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J, "\"acmebad-\"", OK_EMAIL, OK_COMPANY, NULL, 400, "invalid_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J, "\"xn--acme\"", OK_EMAIL, OK_COMPANY, NULL, 400, "invalid_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J, "\"www\"", OK_EMAIL, OK_COMPANY, NULL, 400, "reserved_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J, "\"api\"", OK_EMAIL, OK_COMPANY, NULL, 400, "reserved_subdomain",
     "subdomain"},
    {"POST", "/v1/tenants", J, "\"admin\"", OK_EMAIL, OK_COMPANY, NULL, 400, "reserved_subdomain",
     "subdomain"},
    /* admin_email */
    {"POST", "/v1/tenants", J, OK_SUB, "\"plainaddress\"", OK_COMPANY, NULL, 400,
     "invalid_admin_email", "admin_email"},
    {"POST", "/v1/tenants", J, OK_SUB, "\"a@b@c.example\"", OK_COMPANY, NULL, 400,
     "invalid_admin_email", "admin_email"},
    {"POST", "/v1/tenants", J, OK_SUB, "\"a@localhost\"", OK_COMPANY, NULL, 400,
     "invalid_admin_email", "admin_email"},
    {"POST", "/v1/tenants", J, OK_SUB, "\"a b@c.example\"", OK_COMPANY, NULL, 400,
     "invalid_admin_email", "admin_email"},
    {"POST", "/v1/tenants", J, OK_SUB, "\"\"", OK_COMPANY, NULL, 400, "invalid_admin_email",
     "admin_email"},
    /* company_name */
    {"POST", "/v1/tenants", J, OK_SUB, OK_EMAIL, "\"\"", NULL, 400, "invalid_company_name",
     "company_name"},
    {"POST", "/v1/tenants", J, OK_SUB, OK_EMAIL, "\"   \"", NULL, 400, "invalid_company_name",
     "company_name"},
    {"POST", "/v1/tenants", J, OK_SUB, OK_EMAIL, "\"Bell\\u0007Co\"", NULL, 400,
     "invalid_company_name", "company_name"},
    {"POST", "/v1/tenants", J, OK_SUB, OK_EMAIL, "\"Line\\nBreak\"", NULL, 400,
     "invalid_company_name", "company_name"},
};

/* Each bad request gets its documented status and code; nothing is written or started. */
static void
test_bad_requests(void **state)
{
	struct h_resp *r = resp_new();
	size_t n = sizeof(bad_cases) / sizeof(bad_cases[0]);
	char body[20 * 1024], sub[64], longv[300], ct[128], path[128];
	int before = h_count_containers(&E, E.prefix);

	(void)state;
	assert_true(n >= 30);
	assert_true(before >= 0);
	snprintf(sub, sizeof(sub), "\"%s-bad\"", E.prefix);
	for (size_t i = 0; i < n + 3; i++) {
		const struct bad *b = i < n ? &bad_cases[i] : NULL;
		const char *hdr[2] = {ct, NULL};
		long want_status = 400;
		const char *want_code, *want_field = "", *method = "POST", *p = "/v1/tenants";
		json_t *j, *e;

		snprintf(ct, sizeof(ct), "Content-Type: application/json");
		if (b != NULL) {
			method = b->method;
			p = b->path;
			want_status = b->status;
			want_code = b->code;
			want_field = b->field;
			if (b->ctype == NULL)
				snprintf(ct, sizeof(ct), "Content-Type:"); /* curl: none */
			else
				snprintf(ct, sizeof(ct), "Content-Type: %s", b->ctype);
			if (b->raw != NULL)
				snprintf(body, sizeof(body), "%s", b->raw);
			else
				body3(body, sizeof(body),
				      strcmp(b->sub, "-") == 0      ? NULL
				      : strcmp(b->sub, OK_SUB) == 0 ? sub
				                                    : b->sub,
				      strcmp(b->email, "-") == 0 ? NULL : b->email,
				      strcmp(b->company, "-") == 0 ? NULL : b->company);
		} else if (i == n) {
			/* over the 16 KiB cap */
			want_code = "body_too_large";
			memset(body, ' ', 17 * 1024);
			body[0] = '{';
			body[17 * 1024 - 1] = '}';
			body[17 * 1024] = '\0';
		} else if (i == n + 1) {
			/* 255-byte address */
			want_code = "invalid_admin_email";
			want_field = "admin_email";
			memset(longv, 'a', 255);
			memcpy(longv + 240, "@b.example.com", 14);
			longv[254] = 'm';
			longv[255] = '\0';
			snprintf(body, sizeof(body),
			         "{\"subdomain\":%s,\"admin_email\":\"%s\",\"company_name\":\"x\"}",
			         sub, longv);
		} else {
			/* 201 characters */
			want_code = "invalid_company_name";
			want_field = "company_name";
			memset(longv, 'x', 201);
			longv[201] = '\0';
			snprintf(body, sizeof(body),
			         "{\"subdomain\":%s,\"admin_email\":\"a@b.example\","
			         "\"company_name\":\"%s\"}",
			         sub, longv);
		}
		assert_int_equal(h_http(L.port, method, p, hdr, body, strlen(body), r), 0);
		if (r->status != want_status)
			fail_msg("case %zu (%s): want %ld, got %ld %s", i, want_code, want_status,
			         r->status, r->body);
		j = parse(r);
		e = json_object_get(j, "error");
		if (strcmp(jstr(e, "code"), want_code) != 0 ||
		    strcmp(jstr(e, "field"), want_field) != 0)
			fail_msg("case %zu: want %s/%s, got %s", i, want_code, want_field, r->body);
		assert_true(strlen(jstr(e, "message")) > 0);
		json_decref(j);
	}
	/* Nothing was written or started. */
	snprintf(path, sizeof(path), "/v1/tenants/%s-bad", E.prefix);
	assert_int_equal(h_http(L.port, "GET", path, NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 404);
	assert_int_equal(h_count_containers(&E, E.prefix), before);
	free(r);
}

/* The same request again is idempotent; other fields are a 409; two at once get one task. */
static void
test_duplicate(void **state)
{
	struct h_resp *r = resp_new(), *two = calloc(2, sizeof(*two));
	char sub[64], body[512], other[512], task[80], path[128];
	const char *bodies[2];
	json_t *j, *k;

	(void)state;
	assert_non_null(two);
	snprintf(sub, sizeof(sub), "%s-dup", E.prefix);
	tenant_body(body, sizeof(body), sub, "o@dup.example", "Dup Ltd");
	/* Two at once: one provision, both answered with the same task. */
	bodies[0] = bodies[1] = body;
	assert_int_equal(h_post_many(L.port, bodies, 2, 0, JSON_CT, two, 90), 0);
	if (two[0].status != 201 || (two[1].status != 201 && two[1].status != 200))
		fail_msg("concurrent duplicate: %ld / %ld %s", two[0].status, two[1].status,
		         two[1].body);
	j = parse(&two[0]);
	k = parse(&two[1]);
	snprintf(task, sizeof(task), "%s", jstr(j, "task_arn"));
	assert_string_equal(task, jstr(k, "task_arn"));
	assert_string_equal(jstr(k, "status"), "RUNNING");
	json_decref(j);
	json_decref(k);
	/* Again, later: 200 with the tenant as it stands. */
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	assert_int_equal(r->status, 200);
	j = parse(r);
	assert_string_equal(jstr(j, "task_arn"), task);
	json_decref(j);
	/* Other details: 409, naming the field. */
	tenant_body(other, sizeof(other), sub, "someone-else@dup.example", "Dup Ltd");
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, other, strlen(other), r),
	                 0);
	assert_int_equal(r->status, 409);
	j = parse(r);
	assert_string_equal(jstr(json_object_get(j, "error"), "code"), "conflict");
	assert_string_equal(jstr(json_object_get(j, "error"), "field"), "admin_email");
	json_decref(j);
	assert_int_equal(h_count_containers(&E, sub), 1);
	/* Deleted, the same request provisions it again with a new task. */
	snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
	assert_int_equal(h_http(L.port, "DELETE", path, NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	assert_int_equal(r->status, 201);
	j = parse(r);
	assert_string_not_equal(jstr(j, "task_arn"), task);
	json_decref(j);
	assert_int_equal(h_http(L.port, "DELETE", path, NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	free(two);
	free(r);
}

#define MANY 50

/* 50 provisions at once: 50 distinct host ports, all RUNNING, all serving. */
static void
test_concurrent_50(void **state)
{
	struct h_resp *resp = calloc(MANY, sizeof(*resp)), *r = resp_new();
	char *bodies[MANY], sub[64], host[160], path[128];
	int ports[MANY];
	time_t t0 = time(NULL);

	(void)state;
	assert_non_null(resp);
	for (int i = 0; i < MANY; i++) {
		bodies[i] = malloc(512);
		snprintf(sub, sizeof(sub), "%s-many-%02d", E.prefix, i);
		tenant_body(bodies[i], 512, sub, "ops@many.example", "Many Inc");
	}
	/* Bounded: each request has 120 s at most. */
	assert_int_equal(
	    h_post_many(L.port, (const char *const *)bodies, MANY, 0, JSON_CT, resp, 120), 0);
	fprintf(stderr, "50 concurrent provisions took %ld s\n", (long)(time(NULL) - t0));
	for (int i = 0; i < MANY; i++) {
		json_t *j;

		if (resp[i].status != 201)
			fail_msg("provision %d: %ld %s", i, resp[i].status, resp[i].body);
		j = parse(&resp[i]);
		assert_string_equal(jstr(j, "status"), "RUNNING");
		ports[i] = (int)json_integer_value(json_object_get(j, "host_port"));
		assert_true(ports[i] > 0);
		for (int k = 0; k < i; k++)
			if (ports[k] == ports[i])
				fail_msg("host port %d given twice (%d and %d)", ports[i], k, i);
		snprintf(host, sizeof(host), "%s:%d", jstr(j, "subdomain"), ports[i]);
		assert_int_equal(h_page(ports[i], host, r), 0);
		assert_int_equal(r->status, 200);
		json_decref(j);
	}
	for (int i = 0; i < MANY; i++) {
		snprintf(path, sizeof(path), "/v1/tenants/%s-many-%02d", E.prefix, i);
		assert_int_equal(h_http(L.port, "GET", path, NULL, NULL, 0, r), 0);
		assert_non_null(strstr(r->body, "\"status\":\"RUNNING\""));
	}
	/* Clean up, and check DELETE removes every container. */
	for (int i = 0; i < MANY; i++) {
		snprintf(path, sizeof(path), "/v1/tenants/%s-many-%02d", E.prefix, i);
		assert_int_equal(h_http(L.port, "DELETE", path, NULL, NULL, 0, r), 0);
		assert_int_equal(r->status, 200);
		free(bodies[i]);
	}
	snprintf(sub, sizeof(sub), "%s-many-", E.prefix);
	assert_int_equal(h_count_containers(&E, sub), 0);
	free(resp);
	free(r);
}

/* Lists tenants in status PROVISIONING (count) through the API. */
static int
count_status(int port, const char *status, const char *prefix)
{
	struct h_resp *r = resp_new();
	char path[128];
	json_t *j, *t;
	size_t i;
	int n = 0;

	snprintf(path, sizeof(path), "/v1/tenants?limit=1000&status=%s", status);
	if (h_http(port, "GET", path, NULL, NULL, 0, r) != 0 || r->status != 200) {
		free(r);
		return -1;
	}
	j = parse(r);
	json_array_foreach(json_object_get(j, "tenants"), i,
	                   t) if (strncmp(jstr(t, "subdomain"), prefix, strlen(prefix)) == 0) n++;
	json_decref(j);
	free(r);
	return n;
}

/* Waits (5 s at most) until tenant <prefix><i> has a task recorded. */
static void
wait_task(int port, const char *prefix, int i)
{
	struct h_resp *r = resp_new();
	char path[128];

	snprintf(path, sizeof(path), "/v1/tenants/%s%d", prefix, i);
	for (int k = 0; k < 100; k++) {
		if (h_http(port, "GET", path, NULL, NULL, 0, r) == 0 &&
		    strstr(r->body, "\"task_arn\":\"\"") == NULL)
			break;
		usleep(50 * 1000);
	}
	free(r);
}

/* SIGKILL mid-provision, restart: nothing is left PROVISIONING and nothing leaks. */
static void
test_kill_mid_provision(void **state)
{
	struct h_proc K = {0};
	struct h_resp *r = resp_new();
	const char *const extra[] = {"--image", "berth-demo/tenant:latest", "--rate-limit",
	                             "0",       "--wait-timeout",           "20",
	                             NULL};
	const char *const hdr[] = {"Content-Type: application/json", "Prefer: respond-async", NULL};
	char sub[64], body[512], prefix[32];
	int left = -1;

	(void)state;
	snprintf(prefix, sizeof(prefix), "%s-kill-", E.prefix);
	assert_int_equal(h_launcher_start(&E, &K, extra, NULL), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(sub, sizeof(sub), "%s%d", prefix, i);
		tenant_body(body, sizeof(body), sub, "k@kill.example", "Killed Co");
		assert_int_equal(h_http(K.port, "POST", "/v1/tenants", hdr, body, strlen(body), r),
		                 0);
		assert_int_equal(r->status, 202);
		if (i == 2)
			wait_task(K.port, prefix, 2); /* some have a task, some do not */
	}
	assert_true(count_status(K.port, "PROVISIONING", prefix) > 0);
	h_proc_stop(&K, 1);
	assert_int_equal(h_launcher_start(&E, &K, extra, NULL), 0);
	for (int i = 0; i < 60 * 4; i++) {
		if ((left = count_status(K.port, "PROVISIONING", prefix)) == 0)
			break;
		usleep(250 * 1000);
	}
	assert_int_equal(left, 0);
	assert_int_equal(
	    count_status(K.port, "RUNNING", prefix) + count_status(K.port, "FAILED", prefix), 6);
	/* A FAILED tenant leaves no container; a RUNNING one has exactly one. */
	for (int i = 0; i < 6; i++) {
		char path[128];
		json_t *j;

		snprintf(path, sizeof(path), "/v1/tenants/%s%d", prefix, i);
		assert_int_equal(h_http(K.port, "GET", path, NULL, NULL, 0, r), 0);
		j = parse(r);
		snprintf(sub, sizeof(sub), "%s%d", prefix, i);
		if (strcmp(jstr(j, "status"), "FAILED") == 0) {
			int c = -1;

			/* its stop runs right after the FAILED write */
			for (int k = 0; k < 40 && (c = h_count_containers(&E, sub)) != 0; k++)
				usleep(250 * 1000);
			assert_int_equal(c, 0);
		} else {
			assert_int_equal(h_count_containers(&E, sub), 1);
		}
		json_decref(j);
		assert_int_equal(h_http(K.port, "DELETE", path, NULL, NULL, 0, r), 0);
	}
	h_proc_stop(&K, 0);
	free(r);
}

/* A task whose port never answers: 504 after --wait-timeout, FAILED with the reason, stopped. */
static void
test_timeout(void **state)
{
	struct h_proc T = {0};
	struct h_resp *r = resp_new();
	char sub[64], body[512], path[128], cmd[1024];
	const char *const extra[] = {"--image",
	                             "berth-test/sleeper:latest",
	                             "--rate-limit",
	                             "0",
	                             "--wait-timeout",
	                             "3",
	                             "--stop-timeout",
	                             "1",
	                             NULL};
	json_t *j;

	(void)state;
	/* An image that publishes the port but never listens on it. */
	snprintf(
	    cmd, sizeof(cmd),
	    "export DOCKER_HOST='%s'; docker image inspect berth-test/sleeper >/dev/null 2>&1 || "
	    "{ docker rm -f berth-%s-mk >/dev/null 2>&1; "
	    "docker create --name berth-%s-mk berth-test/busybox:latest >/dev/null && "
	    "docker commit -c 'CMD [\"/bin/sleep\",\"3600\"]' berth-%s-mk "
	    "berth-test/sleeper:latest >/dev/null && docker rm berth-%s-mk >/dev/null; }",
	    E.docker_host, E.prefix, E.prefix, E.prefix, E.prefix);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(h_launcher_start(&E, &T, extra, NULL), 0);
	snprintf(sub, sizeof(sub), "%s-slow", E.prefix);
	tenant_body(body, sizeof(body), sub, "s@slow.example", "Slow Co");
	assert_int_equal(h_http(T.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	if (r->status != 504)
		fail_msg("want 504, got %ld %s", r->status, r->body);
	j = parse(r);
	assert_string_equal(jstr(json_object_get(j, "error"), "code"), "timeout");
	json_decref(j);
	snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
	assert_int_equal(h_http(T.port, "GET", path, NULL, NULL, 0, r), 0);
	j = parse(r);
	assert_string_equal(jstr(j, "status"), "FAILED");
	assert_non_null(strstr(jstr(j, "error"), "within 3 s"));
	json_decref(j);
	for (int k = 0; k < 40 && h_count_containers(&E, sub) != 0; k++)
		usleep(250 * 1000);
	assert_int_equal(h_count_containers(&E, sub), 0);
	h_proc_stop(&T, 0);
	free(r);
}

/* Bearer auth, CORS preflight and headers, and the per-client token bucket. */
static void
test_auth_cors_ratelimit(void **state)
{
	struct h_proc A = {0};
	struct h_resp *r = resp_new();
	const char *const extra[] = {"--image",
	                             "berth-demo/tenant:latest",
	                             "--rate-limit",
	                             "1",
	                             "--rate-burst",
	                             "5",
	                             "--cors-origin",
	                             "https://landing.example",
	                             "--client-ip-header",
	                             "X-Forwarded-For",
	                             NULL};
	const char *const env[] = {"BERTH_LAUNCHER_TOKEN=s3cret-token", NULL};
	const char *const good[] = {"Authorization: Bearer s3cret-token",
	                            "Origin: https://landing.example", NULL};
	const char *const bad[] = {"Authorization: Bearer s3cret-tokem", NULL};
	const char *const pre[] = {"Origin: https://landing.example",
	                           "Access-Control-Request-Method: POST", NULL};
	const char *const evil[] = {"Origin: https://evil.example",
	                            "Access-Control-Request-Method: POST", NULL};
	char v[256];

	(void)state;
	assert_int_equal(h_launcher_start(&E, &A, extra, env), 0);
	/* /healthz needs nothing; preflight is answered without a token. */
	assert_int_equal(h_http(A.port, "GET", "/healthz", NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	assert_int_equal(h_http(A.port, "OPTIONS", "/v1/tenants", pre, NULL, 0, r), 0);
	assert_int_equal(r->status, 204);
	assert_int_equal(h_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), 0);
	assert_string_equal(v, "https://landing.example");
	assert_int_equal(h_header(r, "Access-Control-Allow-Headers", v, sizeof(v)), 0);
	assert_non_null(strstr(v, "Authorization"));
	assert_int_equal(h_http(A.port, "OPTIONS", "/v1/tenants", evil, NULL, 0, r), 0);
	assert_int_equal(r->status, 403);
	/* Tokens: none, wrong -> 401; right -> 200 with CORS headers. */
	assert_int_equal(h_http(A.port, "GET", "/v1/tenants", NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 401);
	assert_non_null(strstr(r->body, "\"unauthorized\""));
	assert_int_equal(h_http(A.port, "GET", "/metrics", bad, NULL, 0, r), 0);
	assert_int_equal(r->status, 401);
	assert_int_equal(h_http(A.port, "GET", "/v1/tenants", good, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	assert_int_equal(h_header(r, "Access-Control-Allow-Origin", v, sizeof(v)), 0);
	/*
	 * Callers without the token are checked first and limited in buckets of
	 * their own: however many they send, the client with the token is not
	 * held back by them.
	 */
	for (int i = 0; i < 10; i++)
		assert_int_equal(h_http(A.port, "GET", "/v1/tenants", bad, NULL, 0, r), 0);
	assert_int_equal(r->status, 429);
	assert_int_equal(h_http(A.port, "GET", "/v1/tenants", good, NULL, 0, r), 0);
	if (r->status != 200)
		fail_msg("unauthenticated calls spent the client's budget: %ld", r->status);
	/* A burst of 5 at 1/s: a 429 with Retry-After comes soon. */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(h_http(A.port, "GET", "/v1/tenants", good, NULL, 0, r), 0);
		if (r->status != 200)
			break;
	}
	assert_int_equal(r->status, 429);
	assert_int_equal(h_header(r, "Retry-After", v, sizeof(v)), 0);
	assert_true(strtol(v, NULL, 10) >= 1);
	assert_non_null(strstr(r->body, "\"rate_limited\""));
	/* Another client behind the same proxy has its own bucket. */
	{
		const char *const fwd[] = {"Authorization: Bearer s3cret-token",
		                           "X-Forwarded-For: 198.51.100.1, 203.0.113.9", NULL};

		assert_int_equal(h_http(A.port, "GET", "/v1/tenants", fwd, NULL, 0, r), 0);
		assert_int_equal(r->status, 200);
	}
	/* /healthz is not limited. */
	assert_int_equal(h_http(A.port, "GET", "/healthz", NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	h_proc_stop(&A, 0);
	free(r);
}

#define RACES 5

/* Two launchers on one registry, the same requests at once: one provision per subdomain. */
static void
test_two_launchers_race(void **state)
{
	struct h_proc L2 = {0};
	struct h_resp *resp = calloc(2 * RACES, sizeof(*resp)), *r = resp_new();
	const char *const extra[] = {"--image", "berth-demo/tenant:latest", "--rate-limit", "0",
	                             NULL};
	char *bodies[2 * RACES], sub[64], path[128];
	int ports[2 * RACES];

	(void)state;
	assert_non_null(resp);
	assert_int_equal(h_launcher_start(&E, &L2, extra, NULL), 0);
	for (int i = 0; i < 2 * RACES; i++) {
		bodies[i] = malloc(512);
		snprintf(sub, sizeof(sub), "%s-race-%d", E.prefix, i / 2);
		tenant_body(bodies[i], 512, sub, "r@race.example", "Race Co");
		ports[i] = i % 2 == 0 ? L.port : L2.port;
	}
	assert_int_equal(
	    h_post_many_at(ports, 0, (const char *const *)bodies, 2 * RACES, 0, JSON_CT, resp, 120),
	    0);
	for (int i = 0; i < RACES; i++) {
		struct h_resp *a = &resp[2 * i], *b = &resp[2 * i + 1];
		int created = (a->status == 201) + (b->status == 201);

		/*
		 * The loser answers the tenant as it stands: 202 while the
		 * other one provisions it, 200 if it came late enough to see it
		 * RUNNING.
		 */
		long other = a->status == 201 ? b->status : a->status;

		if (created != 1 || (other != 202 && other != 200))
			fail_msg("race %d: %ld / %ld", i, a->status, b->status);
		snprintf(sub, sizeof(sub), "%s-race-%d", E.prefix, i);
		assert_int_equal(h_count_containers(&E, sub), 1);
	}
	for (int i = 0; i < RACES; i++) {
		snprintf(path, sizeof(path), "/v1/tenants/%s-race-%d", E.prefix, i);
		assert_int_equal(h_http(L2.port, "GET", path, NULL, NULL, 0, r), 0);
		assert_non_null(strstr(r->body, "\"status\":\"RUNNING\""));
		assert_int_equal(h_http(L.port, "DELETE", path, NULL, NULL, 0, r), 0);
		assert_int_equal(r->status, 200);
	}
	for (int i = 0; i < 2 * RACES; i++)
		free(bodies[i]);
	h_proc_stop(&L2, 0);
	free(resp);
	free(r);
}

/* DELETE while the task is still starting: 200 STOPPED, and no container is left. */
static void
test_delete_in_flight(void **state)
{
	struct h_resp *r = resp_new();
	const char *const hdr[] = {"Content-Type: application/json", "Prefer: respond-async", NULL};
	char sub[64], body[512], path[128];
	json_t *j;
	int c = -1;

	(void)state;
	snprintf(sub, sizeof(sub), "%s-gone", E.prefix);
	tenant_body(body, sizeof(body), sub, "g@gone.example", "Gone Co");
	assert_int_equal(h_http(L.port, "POST", "/v1/tenants", hdr, body, strlen(body), r), 0);
	assert_int_equal(r->status, 202);
	assert_int_equal(h_header(r, "Location", path, sizeof(path)), 0);
	snprintf(body, sizeof(body), "/v1/tenants/%s", sub);
	assert_string_equal(path, body);
	assert_int_equal(h_http(L.port, "DELETE", path, NULL, NULL, 0, r), 0);
	if (r->status != 200)
		fail_msg("DELETE: %ld %s", r->status, r->body);
	j = parse(r);
	assert_string_equal(jstr(j, "status"), "STOPPED");
	json_decref(j);
	for (int k = 0; k < 40 && (c = h_count_containers(&E, sub)) != 0; k++)
		usleep(250 * 1000);
	assert_int_equal(c, 0);
	assert_int_equal(h_http(L.port, "GET", path, NULL, NULL, 0, r), 0);
	assert_non_null(strstr(r->body, "\"status\":\"STOPPED\""));
	free(r);
}

/* Without --sidecar-url the binding comes from the shared registry file the sidecar writes. */
static void
test_registry_path(void **state)
{
	struct h_proc R = {.no_sidecar_url = 1};
	struct h_resp *r = resp_new();
	const char *const extra[] = {"--image", "berth-demo/tenant:latest", "--rate-limit",
	                             "0",       "--describe-interval",      "0",
	                             NULL};
	char sub[64], body[512], path[128];
	const char *m;

	(void)state;
	assert_int_equal(h_launcher_start(&E, &R, extra, NULL), 0);
	snprintf(sub, sizeof(sub), "%s-reg", E.prefix);
	tenant_body(body, sizeof(body), sub, "r@reg.example", "Registry Co");
	assert_int_equal(h_http(R.port, "POST", "/v1/tenants", JSON_CT, body, strlen(body), r), 0);
	if (r->status != 201)
		fail_msg("POST: %ld %s", r->status, r->body);
	assert_int_equal(h_http(R.port, "GET", "/metrics", NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	/* With the describe fallback off, only the registry can have told it. */
	m = strstr(r->body, "berth_launcher_bindings_total{source=\"registry\"} ");
	assert_non_null(m);
	assert_int_equal(
	    strtol(m + strlen("berth_launcher_bindings_total{source=\"registry\"} "), NULL, 10), 1);
	snprintf(path, sizeof(path), "/v1/tenants/%s", sub);
	assert_int_equal(h_http(R.port, "DELETE", path, NULL, NULL, 0, r), 0);
	assert_int_equal(r->status, 200);
	h_proc_stop(&R, 0);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_provision_and_delete),
	    cmocka_unit_test(test_never_touches_strangers),
	    cmocka_unit_test(test_tenant_follows_container),
	    cmocka_unit_test(test_recover_from_containers),
	    cmocka_unit_test(test_metrics_lint),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_duplicate),
	    cmocka_unit_test(test_concurrent_50),
	    cmocka_unit_test(test_kill_mid_provision),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_auth_cors_ratelimit),
	    cmocka_unit_test(test_registry_path),
	    cmocka_unit_test(test_delete_in_flight),
	    cmocka_unit_test(test_two_launchers_race),
	};

	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

	tl_tmpdirs_done(rc == 0); /* kept when a case failed: its logs are in them */
	return rc;
}
