/*
 * Tests for the berth command: runs the built binary ($BERTH_BINARY_DIR/berth/berth)
 * against registries made here. Bad registry files are a data table; each must
 * give exit 3 and one line on stderr naming the file, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "registry/registry.h"
#include "reg_test.h"
#include "tests/lib/testlib.h"

#define OUT_MAX (1 << 20) /* cap on what one berth run may print */

static char berth_bin[512];
static char dir[256];

struct run {
	int status; /* exit code, or 128 + signal */
	char out[OUT_MAX];
	char err[8192];
};

static struct run *last;
static int as_nobody; /* run_berth drops to uid/gid 65534 first */

/* Runs berth with argv (NULL-terminated, without argv[0]); waits at most 20 s. */
static int
run_berth(const char *const *args)
{
	int po[2], pe[2], st;
	size_t no = 0, ne = 0;
	const char *argv[40];
	pid_t pid;
	int n = 0, open_fds = 2;
	time_t deadline = time(NULL) + 20;

	argv[n++] = "berth";
	for (; *args != NULL && n < 38; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	if ((pid = fork()) == 0) {
		if (as_nobody &&
		    (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
			_exit(126);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv(berth_bin, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	memset(last, 0, sizeof(*last));
	struct pollfd pfd[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
	while (open_fds > 0 && time(NULL) < deadline) {
		if (poll(pfd, 2, 1000) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			char *buf = i == 0 ? last->out : last->err;
			size_t cap = i == 0 ? sizeof(last->out) : sizeof(last->err);
			size_t *len = i == 0 ? &no : &ne;
			ssize_t r;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			r = read(pfd[i].fd, buf + *len, cap - 1 - *len);
			if (r <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			} else {
				*len += (size_t)r;
			}
		}
	}
	if (open_fds > 0)
		kill(pid, SIGKILL);
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	last->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return last->status;
}

static void
path_in(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static struct registry *
make_registry(const char *path)
{
	struct registry *r;
	char err[256] = "";

	if (registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", path, err);
	return r;
}

static void
sql(const char *path, const char *text)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", text, msg);
	sqlite3_close(db);
}

/* Fills a registry: tenants acme (RUNNING) and beta (FAILED), three tasks. */
static void
sample(const char *path, int extra)
{
	struct registry *r = make_registry(path);
	struct binding b;
	struct tenant t = {0};

	snprintf(t.subdomain, sizeof(t.subdomain), "acme");
	snprintf(t.admin_email, sizeof(t.admin_email), "ops@acme.example");
	snprintf(t.company_name, sizeof(t.company_name), "Acme");
	snprintf(t.url, sizeof(t.url), "http://acme.203.0.113.10.sslip.io:32769");
	t.status = TENANT_RUNNING;
	assert_int_equal(registry_tenant_insert(r, &t), 0);
	memset(&t, 0, sizeof(t));
	snprintf(t.subdomain, sizeof(t.subdomain), "beta");
	t.status = TENANT_FAILED;
	snprintf(t.error, sizeof(t.error), "RunTask: RESOURCE:MEMORY");
	assert_int_equal(registry_tenant_insert(r, &t), 0);

	rt_binding(&b, 1);
	snprintf(b.tenant, sizeof(b.tenant), "acme");
	assert_int_equal(registry_binding_upsert(r, &b, NULL), 0);
	rt_binding(&b, 2);
	snprintf(b.tenant, sizeof(b.tenant), "gamma\x1b[31m"); /* a hostile label */
	b.host_port_v6 = 40001;
	assert_int_equal(registry_binding_upsert(r, &b, NULL), 0);
	rt_binding(&b, 3);
	snprintf(b.tenant, sizeof(b.tenant), "delta");
	assert_int_equal(registry_binding_upsert(r, &b, NULL), 0);
	assert_int_equal(registry_container_stopped(r, b.container_id, 1, 1, 0, NULL), 0);
	rt_binding(&b, 4);
	snprintf(b.tenant, sizeof(b.tenant), "eps");
	assert_int_equal(registry_binding_upsert(r, &b, NULL), 0);
	assert_int_equal(registry_container_removed(r, b.container_id, 0, NULL), 0);
	assert_int_equal(registry_begin(r), 0);
	for (int i = 0; i < extra; i++) {
		rt_binding(&b, 1000 + i);
		assert_int_equal(registry_binding_upsert(r, &b, NULL), 0);
	}
	assert_int_equal(registry_commit(r), 0);
	registry_close(r);
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- bad registry files ---- */

static pid_t holder = -1;

static void
setup_missing(const char *path)
{
	(void)path;
}

static void
setup_empty(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	assert_true(fd >= 0);
	close(fd);
}

static void
write_bytes(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void
setup_random(const char *path)
{
	unsigned char buf[8192];
	unsigned x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (unsigned char)(x >> 16);
	}
	write_bytes(path, buf, sizeof(buf));
}

static void
setup_text(const char *path)
{
	static const char t[] = "task_arn,host_port\narn:aws:ecs:...,32768\n";

	write_bytes(path, t, sizeof(t) - 1);
}

static void
setup_foreign(const char *path)
{
	sql(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
}

static void
setup_newer(const char *path)
{
	registry_close(make_registry(path));
	sql(path, "PRAGMA user_version = 99");
}

static void
setup_other_app(const char *path)
{
	registry_close(make_registry(path));
	sql(path, "PRAGMA application_id = 42");
}

/* Cuts a registry of many pages to a third: b-tree pages point past the end. */
static void
setup_truncated(const char *path)
{
	struct stat sb;

	sample(path, 3000);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 3 * 4096);
	assert_int_equal(truncate(path, sb.st_size / 3), 0);
}

/* Overwrites pages in the middle of a registry with garbage. */
static void
setup_corrupt(const char *path)
{
	unsigned char junk[4096 * 4];
	struct stat sb;
	int fd;

	sample(path, 3000);
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(stat(path, &sb), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), (sb.st_size / 2) & ~4095L),
	                 (ssize_t)sizeof(junk));
	close(fd);
}

static void
setup_directory(const char *path)
{
	assert_int_equal(mkdir(path, 0755), 0);
}

/*
 * Another process holds the registry in an exclusive transaction (exclusive
 * locking mode, so even WAL readers are shut out) until it is killed.
 */
static void
setup_locked(const char *path)
{
	int p[2];
	char c;

	registry_close(make_registry(path));
	assert_int_equal(pipe(p), 0);
	if ((holder = fork()) == 0) {
		sqlite3 *db;

		close(p[0]);
		if (sqlite3_open(path, &db) != SQLITE_OK ||
		    sqlite3_exec(db,
		                 "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; "
		                 "INSERT INTO meta (key, value) VALUES ('lock', 'held');",
		                 NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		alarm(300); /* gone even if the parent fails before it kills this child */
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
}

static const struct bad_file {
	const char *name;
	void (*setup)(const char *path);
	const char *expect; /* in the one line on stderr */
} bad_files[] = {
    {"missing.db", setup_missing, "no such registry file"},
    {"empty.db", setup_empty, "empty, not a berth registry"},
    {"random.db", setup_random, "not an SQLite database"},
    {"text.db", setup_text, "not an SQLite database"},
    {"foreign.db", setup_foreign, "without the berth schema"},
    {"newer.db", setup_newer, "newer than this program"},
    {"otherapp.db", setup_other_app, "of another application"},
    {"truncated.db", setup_truncated, "corrupt"},
    {"corrupt.db", setup_corrupt, "corrupt"},
    {"adir.db", setup_directory, "a directory"},
    {"locked.db", setup_locked, "locked by another process"},
};

static void
test_bad_files(void **state)
{
	static const char *const cmds[][3] = {
	    {"ls", NULL}, {"stats", NULL}, {"get", "acme", NULL}, {"watch", NULL}};

	(void)state;
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const struct bad_file *bf = &bad_files[i];
		char path[400];

		path_in(path, sizeof(path), bf->name);
		bf->setup(path);
		for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
			const char *args[] = {"--db",     path, "--busy-timeout", "300", cmds[k][0],
			                      cmds[k][1], NULL};

			run_berth(args);
			if (last->status != 3 || strstr(last->err, path) == NULL ||
			    strstr(last->err, bf->expect) == NULL || count_lines(last->err) != 1 ||
			    last->out[0] != '\0')
				fail_msg("%s %s: exit %d, stderr \"%s\", stdout \"%.200s\"",
				         bf->name, cmds[k][0], last->status, last->err, last->out);
		}
		if (holder > 0) {
			kill(holder, SIGKILL);
			waitpid(holder, NULL, 0);
			holder = -1;
		}
	}
}

/* ---- normal use ---- */

static void
test_ls(void **state)
{
	char path[400];
	json_t *j;
	json_error_t je;

	(void)state;
	path_in(path, sizeof(path), "ls.db");
	sample(path, 0);
	setenv("BERTH_DB", path, 1);

	assert_int_equal(run_berth((const char *[]){"ls", NULL}), 0);
	assert_int_equal(count_lines(last->out), 4); /* header, RUNNING x2, STOPPED */
	assert_non_null(strstr(last->out, "TENANT"));
	assert_non_null(strstr(last->out, "00000000000000000000000000000001"));
	assert_non_null(strstr(last->out, "203.0.113.10:32769"));
	assert_non_null(strstr(last->out, "[::]:40001"));
	assert_non_null(strstr(last->out, "STOPPED"));
	assert_null(strstr(last->out, "REMOVED"));
	assert_null(strstr(last->out, "\x1b")); /* control characters never reach the terminal */
	assert_non_null(strstr(last->out, "gamma?[31m"));

	/* Columns line up: "STATUS" starts at the same offset on every line. */
	{
		const char *line = last->out;
		long col = -1;

		for (int i = 0; i < 4; i++) {
			const char *end = strchr(line, '\n');
			const char *hit = NULL;

			for (const char *p = line; p < end; p++)
				if (strncmp(p, "STATUS", 6) == 0 || strncmp(p, "RUNNING", 7) == 0 ||
				    strncmp(p, "STOPPED", 7) == 0) {
					hit = p;
					break;
				}
			assert_non_null(hit);
			if (col < 0)
				col = hit - line;
			assert_int_equal(hit - line, col);
			line = end + 1;
		}
	}

	assert_int_equal(run_berth((const char *[]){"ls", "--all", NULL}), 0);
	assert_int_equal(count_lines(last->out), 5);
	assert_int_equal(run_berth((const char *[]){"ls", "--tenant", "acme", NULL}), 0);
	assert_int_equal(count_lines(last->out), 2);
	assert_int_equal(run_berth((const char *[]){"ls", "--status=stopped", NULL}), 0);
	assert_int_equal(count_lines(last->out), 2);
	assert_non_null(strstr(last->out, "delta"));
	assert_int_equal(
	    run_berth((const char *[]){"ls", "--task", "00000000000000000000000000000002", NULL}),
	    0);
	assert_int_equal(count_lines(last->out), 2);
	assert_int_equal(run_berth((const char *[]){"ls", "--status", "bogus", NULL}), 2);
	assert_int_equal(run_berth((const char *[]){"ls", "extra", NULL}), 2);
	assert_int_equal(run_berth((const char *[]){"--nope", "ls", NULL}), 2);
	assert_int_equal(run_berth((const char *[]){"ls", "--count", "1", NULL}), 2);
	assert_int_equal(run_berth((const char *[]){NULL}), 2);
	assert_int_equal(run_berth((const char *[]){"--help", NULL}), 0);
	assert_non_null(strstr(last->out, "usage: berth"));
	assert_int_equal(run_berth((const char *[]){"--version", NULL}), 0);

	assert_int_equal(run_berth((const char *[]){"--json", "ls", "--all", NULL}), 0);
	j = json_loads(last->out, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "tenant")),
	                    "acme");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "host_port")),
	                 32769);
	json_decref(j);
	/* BERTH_JSON is the twin of --json. */
	setenv("BERTH_JSON", "1", 1);
	assert_int_equal(run_berth((const char *[]){"ls", NULL}), 0);
	assert_int_equal(last->out[0], '[');
	unsetenv("BERTH_JSON");
	unsetenv("BERTH_DB");
}

static void
test_get_stats(void **state)
{
	char path[400];
	json_t *j;
	json_error_t je;

	(void)state;
	path_in(path, sizeof(path), "get.db");
	sample(path, 0);

	assert_int_equal(run_berth((const char *[]){"--db", path, "get", "acme", NULL}), 0);
	assert_non_null(strstr(last->out, "tenant\n"));
	assert_non_null(strstr(last->out, "ops@acme.example"));
	assert_non_null(strstr(last->out, "binding\n"));
	assert_non_null(strstr(last->out, "00000000000000000000000000000001"));

	assert_int_equal(run_berth((const char *[]){"--db", path, "--json", "get",
	                                            "00000000000000000000000000000001", NULL}),
	                 0);
	j = json_loads(last->out, 0, &je);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "tenant"), "subdomain")), "acme");
	assert_int_equal(json_array_size(json_object_get(j, "bindings")), 1);
	json_decref(j);

	/* A failed tenant with no bindings; a removed task by container id prefix. */
	assert_int_equal(run_berth((const char *[]){"--db", path, "get", "beta", NULL}), 0);
	assert_non_null(strstr(last->out, "RESOURCE:MEMORY"));
	assert_int_equal(
	    run_berth((const char *[]){"--db", path, "get", "000000000000000000000000", NULL}), 0);
	assert_non_null(strstr(last->out, "REMOVED"));

	/* A tenant known only from its bindings' label (a sidecar host's registry). */
	assert_int_equal(run_berth((const char *[]){"--db", path, "--json", "get", "delta", NULL}),
	                 0);
	j = json_loads(last->out, 0, &je);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "tenant")));
	assert_int_equal(json_array_size(json_object_get(j, "bindings")), 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(j, "bindings"), 0), "tenant")),
	                    "delta");
	json_decref(j);

	assert_int_equal(run_berth((const char *[]){"--db", path, "get", "nobody", NULL}), 1);
	assert_non_null(strstr(last->err, "nobody"));
	assert_int_equal(run_berth((const char *[]){"--db", path, "get", NULL}), 2);
	assert_int_equal(run_berth((const char *[]){"--db", path, "get", "a", "b", NULL}), 2);

	assert_int_equal(run_berth((const char *[]){"--db", path, "stats", NULL}), 0);
	assert_non_null(strstr(last->out, "RUNNING 2"));
	assert_non_null(strstr(last->out, "pending 6"));
	assert_int_equal(run_berth((const char *[]){"--db", path, "stats", "--json", NULL}), 0);
	j = json_loads(last->out, 0, &je);
	assert_non_null(j);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "bindings"), "RUNNING")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "bindings"), "REMOVED")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "tenants"), "FAILED")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "outbox"), "pending")), 6);
	json_decref(j);
}

/* While a writer holds an open write transaction, readers see the last commit. */
static void
test_reader_during_write(void **state)
{
	char path[400];
	struct registry *w;
	struct binding b;

	(void)state;
	path_in(path, sizeof(path), "busy.db");
	sample(path, 0);
	w = make_registry(path);
	assert_int_equal(registry_begin(w), 0);
	for (int i = 0; i < 500; i++) {
		rt_binding(&b, 5000 + i);
		assert_int_equal(registry_binding_upsert(w, &b, NULL), 0);
	}
	assert_int_equal(
	    run_berth((const char *[]){"--db", path, "--busy-timeout", "0", "ls", NULL}), 0);
	assert_int_equal(count_lines(last->out), 4);
	assert_int_equal(registry_commit(w), 0);
	assert_int_equal(
	    run_berth((const char *[]){"--db", path, "--busy-timeout", "0", "ls", NULL}), 0);
	assert_int_equal(count_lines(last->out), 504);
	registry_close(w);
}

static void
test_watch(void **state)
{
	char path[400];
	pid_t pid;
	json_t *j;
	json_error_t je;

	(void)state;
	path_in(path, sizeof(path), "watch.db");
	sample(path, 0);

	/* Nothing changes: exits at the timeout, printing no rows. */
	assert_int_equal(
	    run_berth((const char *[]){"--db", path, "--json", "watch", "--timeout", "1", NULL}),
	    0);
	assert_string_equal(last->out, "");

	/* A writer in another process makes three changes (after watch has settled); watch
	 * prints the first two. */
	if ((pid = fork()) == 0) {
		struct registry *r;
		struct binding b;
		char err[256];

		usleep(1000 * 1000);
		if (registry_open(&r, path, REGISTRY_RDWR, err, sizeof(err)) != 0)
			_exit(1);
		rt_binding(&b, 77);
		snprintf(b.tenant, sizeof(b.tenant), "watched");
		if (registry_binding_upsert(r, &b, NULL) != 0)
			_exit(2);
		usleep(400 * 1000);
		b.host_port = 45000;
		if (registry_binding_upsert(r, &b, NULL) != 0)
			_exit(3);
		usleep(400 * 1000);
		if (registry_container_stopped(r, b.container_id, 0, 0, 0, NULL) != 0)
			_exit(4);
		registry_close(r);
		_exit(0);
	}
	assert_int_equal(run_berth((const char *[]){"--db", path, "--json", "watch", "--count", "2",
	                                            "--timeout", "15", NULL}),
	                 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(count_lines(last->out), 2);
	j = json_loads(last->out, JSON_DISABLE_EOF_CHECK, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "binding");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "row"), "tenant")),
	                    "watched");
	json_decref(j);
	j = json_loads(strchr(last->out, '\n') + 1, JSON_DISABLE_EOF_CHECK, &je);
	assert_non_null(j);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "row"), "host_port")), 45000);
	json_decref(j);

	/* Text mode. */
	assert_int_equal(run_berth((const char *[]){"--db", path, "watch", "--timeout", "1", NULL}),
	                 0);
	assert_non_null(strstr(last->out, "watching"));
}

/* berth watch ends cleanly on SIGINT (sent once it says it is watching). */
static void
test_watch_sigint(void **state)
{
	char path[400], buf[256] = "";
	size_t n = 0;
	pid_t pid;
	int st, p[2];

	(void)state;
	path_in(path, sizeof(path), "sigint.db");
	sample(path, 0);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(berth_bin, "berth", "--db", path, "watch", "--timeout", "60", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (n < sizeof(buf) - 1 && strstr(buf, "watching") == NULL) {
		ssize_t r = read(p[0], buf + n, sizeof(buf) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
	assert_non_null(strstr(buf, "watching"));
	assert_int_equal(kill(pid, SIGINT), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(p[0]);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * A reader without write access to the registry's directory: reads while a
 * writer runs (through its -shm), and when none runs (immutable); a watch
 * opened that way stops with exit 3 once a writer appears.
 */
static void
test_unprivileged_reader(void **state)
{
	char sub[400], path[500], wal[520];
	struct registry *w;
	struct binding b;
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0)
		skip(); /* needs root to drop to another user */
	snprintf(sub, sizeof(sub), "%s/ro", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/registry.db", sub);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	sample(path, 0);
	assert_int_not_equal(access(wal, F_OK), 0); /* no writer: no WAL file */
	as_nobody = 1;
	assert_int_equal(run_berth((const char *[]){"--db", path, "ls", NULL}), 0);
	assert_int_equal(count_lines(last->out), 4);
	w = make_registry(path);
	rt_binding(&b, 99);
	assert_int_equal(registry_binding_upsert(w, &b, NULL), 0);
	assert_int_equal(run_berth((const char *[]){"--db", path, "ls", NULL}), 0);
	assert_int_equal(count_lines(last->out), 5);
	registry_close(w);

	/* watch, opened with no writer running, ends with exit 3 when one starts */
	if ((pid = fork()) == 0) {
		usleep(1000 * 1000);
		w = make_registry(path);
		usleep(1000 * 1000);
		registry_close(w);
		_exit(0);
	}
	assert_int_equal(
	    run_berth((const char *[]){"--db", path, "watch", "--timeout", "20", NULL}), 3);
	assert_non_null(strstr(last->err, "run berth again"));
	as_nobody = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(chmod(dir, 0700), 0);
}

static int
group_setup(void **state)
{
	const char *bd = getenv("BERTH_BINARY_DIR");

	(void)state;
	if (bd == NULL || *bd == '\0') {
		fprintf(stderr, "BERTH_BINARY_DIR is not set (run under ctest)\n");
		return -1;
	}
	snprintf(berth_bin, sizeof(berth_bin), "%s/berth/berth", bd);
	if (access(berth_bin, X_OK) != 0) {
		fprintf(stderr, "%s: not built\n", berth_bin);
		return -1;
	}
	if (tl_tmpdir(dir, sizeof(dir), "cli") != 0)
		return -1;
	last = calloc(1, sizeof(*last));
	return last != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
	tl_rmtree(dir);
	free(last);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_ls),
	    cmocka_unit_test(test_get_stats),
	    cmocka_unit_test(test_reader_during_write),
	    cmocka_unit_test(test_watch),
	    cmocka_unit_test(test_watch_sigint),
	    cmocka_unit_test(test_unprivileged_reader),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
