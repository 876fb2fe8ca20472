/* daemon: what both daemons share at start: options, logging, signals (see daemon.h). */
#include "core/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"

static const int daemon_signo[3] = {SIGTERM, SIGINT, SIGHUP};

/* 1 when the options table has a row called name (opts_get would fatalx otherwise). */
static int
has_opt(const struct opts *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->table[i].name, name) == 0)
			return 1;
	return 0;
}

int
daemon_opts(struct opts *o, const char *prog, const struct opt *table, size_t n, int argc,
            char **argv)
{
	char err[512];
	int next, rc;

	rc = opts_parse(o, table, n, argc, argv, &next, err, sizeof(err));
	if (rc == OPTS_HELP) {
		opts_usage(stdout, prog, "[options]", table, n);
		return 0;
	}
	if (rc == OPTS_VERSION) {
		printf("%s %s\n", prog, BERTH_VERSION);
		return 0;
	}
	if (rc != OPTS_OK || next != argc) {
		fprintf(stderr, "%s: %s\n", prog, rc != OPTS_OK ? err : "unexpected argument");
		return 2;
	}
	if (log_level_parse(opts_get(o, "log-level")) < 0 ||
	    log_format_parse(opts_get(o, "log-format")) < 0) {
		fprintf(stderr, "%s: bad --log-level or --log-format\n", prog);
		return 2;
	}
	return DAEMON_RUN;
}

int
daemon_log(const struct opts *o, const char *prog)
{
	const char *path = has_opt(o, "log-file") ? opts_get(o, "log-file") : NULL;
	int rc;

	rc = log_init(prog, (enum log_level)log_level_parse(opts_get(o, "log-level")),
	              (enum log_format)log_format_parse(opts_get(o, "log-format")), path);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot open the log file: %s\n", prog, strerror(-rc));
		return 1;
	}
	log_route_libevent();
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	(void)what;
	if (sig == SIGHUP) {
		if (log_reopen() != 0)
			log_warn("log_reopen_failed");
		else
			log_info("log_reopened");
		return;
	}
	log_info("shutdown signal=%d", (int)sig);
	event_base_loopexit(base, NULL);
}

void
daemon_signals_add(struct daemon_signals *ds, struct event_base *base)
{
	for (int i = 0; i < 3; i++) {
		if ((ds->ev[i] = evsignal_new(base, daemon_signo[i], on_signal, base)) == NULL ||
		    evsignal_add(ds->ev[i], NULL) != 0)
			fatalx("signal_setup_failed");
	}
}

void
daemon_signals_free(struct daemon_signals *ds)
{
	for (int i = 0; i < 3; i++) {
		if (ds->ev[i] != NULL)
			event_free(ds->ev[i]);
		ds->ev[i] = NULL;
	}
}

int
daemon_read_secret(const char *flag, const char *path, char *out, size_t outlen, char *err,
                   size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t len;

	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
		return -errno;
	}
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
		return -EIO;
	}
	if ((size_t)n == outlen - 1) {
		snprintf(err, errlen, "%s %s: longer than %zu bytes", flag, path, outlen - 2);
		return -E2BIG;
	}
	out[n] = '\0';
	len = strcspn(out, "\r\n");
	while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t'))
		len--;
	out[len] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "%s %s: empty", flag, path);
		return -EINVAL;
	}
	return 0;
}
