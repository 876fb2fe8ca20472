#include "tests/lib/testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "core/clock.h"

char *
tl_read_file_max(const char *path, size_t max, size_t *len)
{
	FILE *fp;
	char *buf = NULL;
	long n;

	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
		goto out;
	if ((unsigned long)n > max) {
		errno = EFBIG;
		goto out;
	}
	if ((buf = malloc((size_t)n + 1)) == NULL)
		goto out;
	if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
out:
	fclose(fp);
	return buf;
}

char *
tl_read_file(const char *path, size_t *len)
{
	return tl_read_file_max(path, SIZE_MAX, len);
}

#define TL_TMPDIRS_MAX 64
#define TL_PATH_MAX    512

/* The directories tl_tmpdir made, for tl_tmpdirs_done. */
static char tmpdirs[TL_TMPDIRS_MAX][TL_PATH_MAX];
static int ntmpdirs;

int
tl_tmpdir(char *dir, size_t dirlen, const char *tag)
{
	const char *t = getenv("TMPDIR");
	int n =
	    snprintf(dir, dirlen, "%s/berth-%s-XXXXXX", t != NULL && *t != '\0' ? t : "/tmp", tag);

	if (n < 0 || (size_t)n >= dirlen || n >= TL_PATH_MAX)
		return -1;
	if (mkdtemp(dir) == NULL)
		return -1;
	if (ntmpdirs < TL_TMPDIRS_MAX)
		memcpy(tmpdirs[ntmpdirs++], dir, (size_t)n + 1);
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

int
tl_rmtree(const char *dir)
{
	if (dir == NULL || dir[0] == '\0')
		return -1;
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

void
tl_tmpdirs_done(int ok)
{
	for (int i = 0; i < ntmpdirs; i++) {
		if (access(tmpdirs[i], F_OK) != 0)
			continue; /* removed already */
		if (!ok)
			fprintf(stderr, "kept %s (the logs of the failed run are in it)\n",
			        tmpdirs[i]);
		else if (tl_rmtree(tmpdirs[i]) != 0)
			fprintf(stderr, "cannot remove %s: %s\n", tmpdirs[i], strerror(errno));
	}
	ntmpdirs = 0;
}

double
tl_now_s(void)
{
	return (double)clock_mono_us() / 1e6;
}

int64_t
tl_now_ns(void)
{
	return clock_real_ns();
}

int
tl_wait_until(int (*cond)(void *), void *arg, long timeout_ms, long step_ms)
{
	double end = tl_now_s() + (double)timeout_ms / 1000.0;
	int v;

	while (!(v = cond(arg)) && tl_now_s() < end)
		usleep((useconds_t)(step_ms > 0 ? step_ms : 10) * 1000);
	return v;
}

static void
wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
tl_loop_until(struct event_base *base, const int *flag, long timeout_ms)
{
	struct timeval tv = {0, 10000};
	struct event *ev = event_new(base, -1, EV_PERSIST, wake, base);
	double end = tl_now_s() + (double)timeout_ms / 1000.0;

	event_add(ev, &tv);
	while (!*flag && tl_now_s() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return *flag;
}

pid_t
tl_spawn(const char *const *argv, const char *const *env, const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = log != NULL ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int
tl_stop(pid_t pid, int sig, long timeout_ms)
{
	double end = tl_now_s() + (double)timeout_ms / 1000.0;
	pid_t r;
	int st;

	if (pid <= 0)
		return -1;
	kill(pid, sig);
	while ((r = waitpid(pid, &st, WNOHANG)) == 0 && tl_now_s() < end)
		usleep(20 * 1000);
	if (r == pid)
		return st;
	if (r < 0)
		return -1;
	kill(pid, SIGKILL);
	return waitpid(pid, &st, 0) == pid ? st : -1;
}

int
tl_run(const char *cmd, char *out, size_t outlen)
{
	FILE *fp;
	size_t n = 0, r;
	char sink[512];
	int st;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if ((fp = popen(cmd, "r")) == NULL)
		return -1;
	while (out != NULL && n + 1 < outlen && (r = fread(out + n, 1, outlen - n - 1, fp)) > 0)
		n += r;
	if (out != NULL && outlen > 0)
		out[n] = '\0';
	while (fread(sink, 1, sizeof(sink), fp) > 0)
		; /* the rest, so the command never blocks on a full pipe */
	st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

long
tl_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), fp) == NULL) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

long
tl_proc_kb(pid_t pid, const char *file, const char *key)
{
	char path[128], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = strtol(line + klen + 1, NULL, 10);
	fclose(fp);
	return v;
}

long
tl_status_kb(pid_t pid, const char *key)
{
	return tl_proc_kb(pid, "status", key);
}

int
tl_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int
tl_evhttp_bind_unix(struct evhttp *http, struct event_base *base, const char *path)
{
	struct sockaddr_un sun;
	struct evconnlistener *l;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	unlink(path);
	l = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1,
	                            (struct sockaddr *)&sun, sizeof(sun));
	if (l == NULL)
		return -1;
	if (evhttp_bind_listener(http, l) == NULL) {
		evconnlistener_free(l);
		return -1;
	}
	return 0;
}

int
tl_evhttp_bind_local(struct evhttp *http)
{
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if (bs == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl) != 0)
		return -1;
	return ntohs(sin.sin_port);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
tl_pct(const double *sorted, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	return sorted[k > n ? n - 1 : k - 1];
}

void
tl_summarize(double *v, size_t n, struct tl_summary *s)
{
	double sum = 0;

	memset(s, 0, sizeof(*s));
	s->n = n;
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	s->p50 = tl_pct(v, n, 50);
	s->p90 = tl_pct(v, n, 90);
	s->p99 = tl_pct(v, n, 99);
	s->mean = sum / (double)n;
	s->max = v[n - 1];
}
