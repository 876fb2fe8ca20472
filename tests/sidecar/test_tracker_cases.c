/*
 * The tracker's scenarios as case files (tests/sidecar/cases/NN-name.case), one
 * driver: what Docker says goes in (recorded event lines and inspect
 * answers, served by the fake Docker Engine; the ECS agent's task list),
 * the registry that must come out is checked. Each file is one fresh stack
 * (tests/sidecar/testutil.c); its lines, in order:
 *
 *   # comment
 *   set NAME VALUE             $NAME in later lines is VALUE
 *   start                      start the tracker and wait until it is connected
 *   inspect ID FIXTURE         Docker's inspect answer for ID is the fixture file
 *   container ID STATE [port=P/PROTO@HOSTIP:HOSTPORT | port=P/PROTO@null]...
 *                      [label=K=V]... [env=K=V]...
 *                              an inspect answer built from those parts
 *   gone ID                    Docker no longer has ID (inspect answers 404)
 *   event ACTION ID [K=V]...   a container event (attributes K=V)
 *   events FIXTURE FROM TO     lines FROM..TO (1-based) of a recorded stream
 *   line JSON                  one raw event line
 *   agent FIXTURE              the ECS agent's /v1/tasks answer, handed to the tracker
 *   break                      the event stream drops (reconnect, replay, reconcile)
 *   settle MS                  run the loop MS milliseconds (before checking an absence)
 *   mark                       remember Docker's inspect count
 *   inspects +N                exactly N inspects since the mark
 *   expect KEY [port=P] [FIELD=VALUE]...
 *                              waits (up to 5 s) until the row of KEY (a task ARN or a
 *                              container ID; with port=, that container port's row) has
 *                              these fields: status, host_port, host_port_v6, host_ip,
 *                              protocol, tenant, cluster, family, revision, container,
 *                              task_id, task_arn, exit_code, version
 *   rows ID N                  waits until container ID has N rows (removed ones count)
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/event.h>

#include "core/docker.h"
#include "registry/registry.h"
#include "sidecar/agent.h"
#include "sidecar/tracker.h"
#include "tests/lib/testlib.h"
#include "tests/sidecar/testutil.h"

#define CASE_ARGS 32
#define CASE_VARS 16
#define CASE_LINE 4096
#define CASE_BODY 8192
#define HOST_IP   "203.0.113.7"

struct case_run {
	const char *file;
	int lineno;
	struct tu_stack s;
	char names[CASE_VARS][32], values[CASE_VARS][256];
	int nvars;
	unsigned long mark;
};

#define case_fail(c, ...)                                                                          \
	do {                                                                                       \
		char case_msg_[2048];                                                              \
		snprintf(case_msg_, sizeof(case_msg_), __VA_ARGS__);                               \
		fail_msg("%s:%d: %s", (c)->file, (c)->lineno, case_msg_);                          \
	} while (0)

/* Replaces $NAME with its value; of names sharing a prefix ($ID, $ID2) the longest wins. */
static void
expand(struct case_run *c, const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	while (*in != '\0' && o + 1 < outlen) {
		int best = -1;
		size_t best_len = 0;

		if (*in == '$')
			for (int i = 0; i < c->nvars; i++) {
				size_t n = strlen(c->names[i]);

				if (n > best_len && strncmp(in + 1, c->names[i], n) == 0) {
					best = i;
					best_len = n;
				}
			}
		if (best >= 0) {
			o += (size_t)snprintf(out + o, outlen - o, "%s", c->values[best]);
			in += best_len + 1;
		} else {
			out[o++] = *in++;
		}
	}
	out[o < outlen ? o : outlen - 1] = '\0';
}

/* Splits line at blanks into at most CASE_ARGS words. */
static int
split(char *line, char **argv)
{
	char *save = NULL;
	int n = 0;

	for (char *p = strtok_r(line, " \t", &save); p != NULL && n < CASE_ARGS;
	     p = strtok_r(NULL, " \t", &save))
		argv[n++] = p;
	return n;
}

/* A number in a case line (0 when it is not one: the check then fails visibly). */
static int
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s != '\0' && *end == '\0' && v >= 0 && v <= 1000000 ? (int)v : 0;
}

/* The value of key= among argv[from..], or NULL. */
static const char *
arg(int argc, char **argv, int from, const char *key)
{
	size_t n = strlen(key);

	for (int i = from; i < argc; i++)
		if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
			return argv[i] + n + 1;
	return NULL;
}

static void add(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
add(char *buf, size_t len, const char *fmt, ...)
{
	size_t o = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + o, len - o, fmt, ap);
	va_end(ap);
}

/* container ID STATE [port=...]... [label=...]... [env=...]...: an inspect body. */
static char *
container_body(struct case_run *c, int argc, char **argv)
{
	char ports[CASE_BODY] = "", labels[CASE_BODY] = "", env[CASE_BODY] = "";
	char *b = malloc(CASE_BODY * 4);
	const char *state = argv[2];

	assert_non_null(b);
	for (int i = 3; i < argc; i++) {
		char *v = strchr(argv[i], '='), *at, *colon;

		if (v == NULL)
			case_fail(c, "container: \"%s\" is not KEY=VALUE", argv[i]);
		*v++ = '\0';
		if (strcmp(argv[i], "port") == 0) {
			if ((at = strchr(v, '@')) == NULL)
				case_fail(c, "container: port=%s wants P/PROTO@IP:PORT", v);
			*at++ = '\0';
			/* Several bindings of one port follow each other: join them in one list. */
			if (strcmp(at, "null") == 0) {
				add(ports, sizeof(ports), "%s\"%s\":null", ports[0] ? "," : "", v);
				continue;
			}
			if ((colon = strrchr(at, ':')) == NULL)
				case_fail(c, "container: port=%s@%s wants IP:PORT", v, at);
			*colon++ = '\0';
			{
				char key[64];
				char *prev;

				snprintf(key, sizeof(key), "\"%s\":[", v);
				if ((prev = strstr(ports, key)) != NULL) {
					/* Insert before the list's closing bracket. */
					char *end = strchr(prev, ']');
					char tail[CASE_BODY];

					snprintf(tail, sizeof(tail), "%s", end);
					*end = '\0';
					add(ports, sizeof(ports),
					    ",{\"HostIp\":\"%s\",\"HostPort\":\"%s\"}%s", at, colon,
					    tail);
				} else {
					add(ports, sizeof(ports),
					    "%s\"%s\":[{\"HostIp\":\"%s\",\"HostPort\":\"%s\"}]",
					    ports[0] ? "," : "", v, at, colon);
				}
			}
		} else if (strcmp(argv[i], "label") == 0) {
			char *eq = strchr(v, '=');

			if (eq == NULL)
				case_fail(c, "container: label=%s wants K=V", v);
			*eq++ = '\0';
			add(labels, sizeof(labels), "%s\"%s\":\"%s\"", labels[0] ? "," : "", v, eq);
		} else if (strcmp(argv[i], "env") == 0) {
			add(env, sizeof(env), "%s\"%s\"", env[0] ? "," : "", v);
		} else {
			case_fail(c, "container: unknown part %s", argv[i]);
		}
	}
	snprintf(
	    b, CASE_BODY * 4,
	    "{\"Id\":\"%s\",\"Name\":\"/c-%.6s\",\"State\":{\"Status\":\"%s\",\"ExitCode\":%d,"
	    "\"StartedAt\":\"2026-01-01T00:00:00.5Z\",\"FinishedAt\":\"0001-01-01T00:00:00Z\"},"
	    "\"Config\":{\"Labels\":{%s},\"Env\":[%s]},"
	    "\"NetworkSettings\":{\"Ports\":{%s}}}",
	    argv[1], argv[1], state, strcmp(state, "exited") == 0 ? 3 : 0, labels, env, ports);
	return b;
}

static void
event_line(struct case_run *c, int argc, char **argv)
{
	char line[CASE_LINE * 2], attrs[CASE_LINE] = "";

	for (int i = 3; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL)
			case_fail(c, "event: \"%s\" is not K=V", argv[i]);
		*eq++ = '\0';
		add(attrs, sizeof(attrs), "%s\"%s\":\"%s\"", attrs[0] ? "," : "", argv[i], eq);
	}
	snprintf(line, sizeof(line),
	         "{\"Type\":\"container\",\"Action\":\"%s\",\"Actor\":{\"ID\":\"%s\","
	         "\"Attributes\":{%s}},\"scope\":\"local\",\"time\":1767225600,"
	         "\"timeNano\":1767225600000000000}",
	         argv[1], argv[2], attrs);
	fake_docker_event(c->s.fake, line);
}

static void
recorded(struct case_run *c, const char *fixture, int from, int to)
{
	size_t len;
	char *lines = tl_fixture(fixture, &len), *p = lines, *nl;

	for (int n = 1; p != NULL && *p != '\0' && n <= to; n++, p = nl != NULL ? nl + 1 : NULL) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		if (n >= from)
			fake_docker_event(c->s.fake, p);
	}
	free(lines);
}

static void
agent(struct case_run *c, const char *fixture)
{
	struct agent_task *tasks;
	size_t n, len;
	char err[256], *body = tl_fixture(fixture, &len);

	if (agent_tasks_parse(body, len, &tasks, &n, err, sizeof(err)) != 0)
		case_fail(c, "agent %s: %s", fixture, err);
	tracker_agent_tasks(c->s.t, tasks, n);
	agent_tasks_free(tasks, n);
	free(body);
}

struct find {
	const char *key;
	int port; /* 0: any */
	struct binding b;
	int n, found;
};

static int
find_cb(const struct binding *b, void *arg)
{
	struct find *f = arg;

	f->n++;
	if (f->port == 0 || b->container_port == f->port) {
		f->b = *b;
		f->found = 1;
	}
	return 0;
}

/* The row of key (a task ARN or a container ID; with port, that port's row). */
static int
lookup(struct case_run *c, const char *key, int port, struct find *f)
{
	struct binding_filter by_task = {.status = -1, .include_removed = 1, .task = key};
	struct binding_filter by_ctr = {.status = -1, .include_removed = 1, .container_id = key};

	memset(f, 0, sizeof(*f));
	f->key = key;
	f->port = port;
	if (registry_binding_list(c->s.reg, &by_task, find_cb, f) != 0)
		return -1;
	if (!f->found && registry_binding_list(c->s.reg, &by_ctr, find_cb, f) != 0)
		return -1;
	return f->found ? 0 : -1;
}

/* "" when the row has every field of argv[from..] as wanted, else what differs. */
static void
differs(const struct binding *b, int argc, char **argv, int from, char *why, size_t whylen)
{
	why[0] = '\0';
	for (int i = from; i < argc; i++) {
		char key[32], got[REG_ARN_MAX];
		const char *want = strchr(argv[i], '=');

		if (want == NULL || (size_t)(want - argv[i]) >= sizeof(key)) {
			snprintf(why, whylen, "\"%s\" is not FIELD=VALUE", argv[i]);
			return;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(want - argv[i]), argv[i]);
		want++;
		if (strcmp(key, "port") == 0)
			continue;
		if (strcmp(key, "status") == 0)
			snprintf(got, sizeof(got), "%s", binding_status_str(b->status));
		else if (strcmp(key, "host_port") == 0)
			snprintf(got, sizeof(got), "%d", b->host_port);
		else if (strcmp(key, "host_port_v6") == 0)
			snprintf(got, sizeof(got), "%d", b->host_port_v6);
		else if (strcmp(key, "host_ip") == 0)
			snprintf(got, sizeof(got), "%s", b->host_ip);
		else if (strcmp(key, "protocol") == 0)
			snprintf(got, sizeof(got), "%s", b->protocol);
		else if (strcmp(key, "tenant") == 0)
			snprintf(got, sizeof(got), "%s", b->tenant);
		else if (strcmp(key, "cluster") == 0)
			snprintf(got, sizeof(got), "%s", b->cluster);
		else if (strcmp(key, "family") == 0)
			snprintf(got, sizeof(got), "%s", b->family);
		else if (strcmp(key, "revision") == 0)
			snprintf(got, sizeof(got), "%s", b->revision);
		else if (strcmp(key, "container") == 0)
			snprintf(got, sizeof(got), "%s", b->container_name);
		else if (strcmp(key, "task_id") == 0)
			snprintf(got, sizeof(got), "%s", b->task_id);
		else if (strcmp(key, "task_arn") == 0)
			snprintf(got, sizeof(got), "%s", b->task_arn);
		else if (strcmp(key, "exit_code") == 0)
			snprintf(got, sizeof(got), "%s",
			         b->has_exit_code
			             ? (snprintf(key, sizeof(key), "%d", b->exit_code), key)
			             : "none");
		else if (strcmp(key, "version") == 0)
			snprintf(got, sizeof(got), "%lld", (long long)b->version);
		else {
			snprintf(why, whylen, "unknown field %s", key);
			return;
		}
		if (strcmp(got, want) != 0) {
			snprintf(why, whylen, "%.*s is %s, want %s",
			         (int)(strchr(argv[i], '=') - argv[i]), argv[i], got, want);
			return;
		}
	}
}

static void
expect(struct case_run *c, int argc, char **argv)
{
	const char *p = arg(argc, argv, 2, "port");
	int port = p != NULL ? num(p) : 0;
	struct find f;
	char why[512] = "no such row";

	for (int i = 0; i < 500; i++) {
		if (lookup(c, argv[1], port, &f) == 0) {
			differs(&f.b, argc, argv, 2, why, sizeof(why));
			if (why[0] == '\0')
				return;
			if (strncmp(why, "unknown", 7) == 0 || strstr(why, "not FIELD") != NULL)
				break;
		}
		tu_spin(c->s.base, 10);
	}
	case_fail(c, "expect %s: %s", argv[1], why);
}

static void
rows(struct case_run *c, const char *id, int want)
{
	struct binding_filter flt = {.status = -1, .include_removed = 1, .container_id = id};
	struct find f;

	for (int i = 0; i < 500; i++) {
		memset(&f, 0, sizeof(f));
		assert_int_equal(registry_binding_list(c->s.reg, &flt, find_cb, &f), 0);
		if (f.n == want)
			return;
		tu_spin(c->s.base, 10);
	}
	case_fail(c, "rows %s: %d, want %d", id, f.n, want);
}

static void
step(struct case_run *c, char *line)
{
	char buf[CASE_LINE], *argv[CASE_ARGS];
	int argc;

	expand(c, line, buf, sizeof(buf));
	if (strncmp(buf, "line ", 5) == 0) {
		fake_docker_event(c->s.fake, buf + 5);
		return;
	}
	if ((argc = split(buf, argv)) == 0 || argv[0][0] == '#')
		return;
	if (strcmp(argv[0], "set") == 0 && argc == 3 && c->nvars < CASE_VARS) {
		snprintf(c->names[c->nvars], sizeof(c->names[0]), "%s", argv[1]);
		snprintf(c->values[c->nvars], sizeof(c->values[0]), "%s", argv[2]);
		c->nvars++;
	} else if (strcmp(argv[0], "start") == 0) {
		tracker_start(c->s.t);
		tu_wait_connected(&c->s);
	} else if (strcmp(argv[0], "inspect") == 0 && argc == 3) {
		fake_docker_put(c->s.fake, argv[1], tl_fixture(argv[2], NULL));
	} else if (strcmp(argv[0], "container") == 0 && argc >= 3) {
		fake_docker_put(c->s.fake, argv[1], container_body(c, argc, argv));
	} else if (strcmp(argv[0], "gone") == 0 && argc == 2) {
		fake_docker_del(c->s.fake, argv[1]);
	} else if (strcmp(argv[0], "event") == 0 && argc >= 3) {
		event_line(c, argc, argv);
	} else if (strcmp(argv[0], "events") == 0 && argc == 4) {
		recorded(c, argv[1], num(argv[2]), num(argv[3]));
	} else if (strcmp(argv[0], "agent") == 0 && argc == 2) {
		agent(c, argv[1]);
	} else if (strcmp(argv[0], "break") == 0) {
		fake_docker_close_events(c->s.fake);
		tu_spin(c->s.base, 50);
	} else if (strcmp(argv[0], "settle") == 0 && argc == 2) {
		tu_spin(c->s.base, num(argv[1]));
	} else if (strcmp(argv[0], "mark") == 0) {
		c->mark = fake_docker_inspects(c->s.fake);
	} else if (strcmp(argv[0], "inspects") == 0 && argc == 2 && argv[1][0] == '+') {
		unsigned long got = fake_docker_inspects(c->s.fake) - c->mark;

		if (got != strtoul(argv[1] + 1, NULL, 10))
			case_fail(c, "inspects: +%lu, want %s", got, argv[1]);
	} else if (strcmp(argv[0], "expect") == 0 && argc >= 2) {
		expect(c, argc, argv);
	} else if (strcmp(argv[0], "rows") == 0 && argc == 3) {
		rows(c, argv[1], num(argv[2]));
	} else {
		case_fail(c, "cannot read \"%s\"", line);
	}
}

static void
run_case(const char *dir, const char *name)
{
	struct case_run *c = calloc(1, sizeof(*c));
	char path[1400], *text, *line, *save = NULL;
	size_t len;

	assert_non_null(c);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	c->file = name;
	if ((text = tl_read_file_max(path, 1024 * 1024, &len)) == NULL)
		fail_msg("%s: cannot read", path);
	print_message("case %s\n", name);
	tu_stack_open(&c->s, "test-tracker-case", HOST_IP);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		c->lineno++;
		step(c, line);
	}
	tu_stack_close(&c->s);
	free(text);
	free(c);
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
is_case(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".case") == 0;
}

static void
test_cases(void **state)
{
	const char *src = tl_need_env("BERTH_SOURCE_DIR");
	char dir[1024];
	struct dirent **v;
	int n;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/sidecar/cases", src);
	n = scandir(dir, &v, is_case, by_name);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		run_case(dir, v[i]->d_name);
		free(v[i]);
	}
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
