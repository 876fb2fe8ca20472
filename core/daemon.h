/*
 * daemon: the start-up and signal handling berth's daemons share
 * (berth-sidecar, berth-launcher). Each keeps its own options table; this
 * module reads its --log-level, --log-format and (when the table has it)
 * --log-file rows, answers --help and --version, and wires SIGTERM/SIGINT
 * (stop the loop) and SIGHUP (reopen the log file).
 */
#ifndef BERTH_DAEMON_H
#define BERTH_DAEMON_H

#include <stddef.h>

#include "core/opts.h"

struct event;
struct event_base;

#define DAEMON_RUN (-1) /* daemon_opts: go on starting */

/* The --log-level and --log-format rows every daemon's options table has. */
/* clang-format off */
#define DAEMON_LOG_OPTS                                                                            \
	{"log-level", "BERTH_LOG_LEVEL", NULL, OPT_STRING, "LEVEL", "info", 0, 0,                  \
	 "error, warn, info or debug"},                                                            \
	{"log-format", "BERTH_LOG_FORMAT", NULL, OPT_STRING, "FORMAT", "text", 0, 0,               \
	 "text (key=value) or json"}
/* clang-format on */

/*
 * Parses argv with table into *o. --help prints the usage to stdout,
 * --version "prog VERSION"; a bad option, a stray argument or an unknown
 * --log-level / --log-format is one line on stderr. Returns DAEMON_RUN, or
 * the exit status: 0 after --help or --version, 2 on a usage error.
 */
int daemon_opts(struct opts *o, const char *prog, const struct opt *table, size_t n, int argc,
                char **argv);

/*
 * Starts the log as the options parsed by daemon_opts say (to --log-file
 * when the table has that row and it is set, else stderr), routes libevent's
 * messages into it and ignores SIGPIPE. Returns 0, or the exit status 1 with
 * a line on stderr when the log file cannot be opened.
 */
int daemon_log(const struct opts *o, const char *prog);

struct daemon_signals {
	struct event *ev[3];
};

/*
 * On base: SIGTERM and SIGINT log "shutdown signal=N" and leave the loop;
 * SIGHUP reopens the log file. fatalx when the events cannot be set up.
 */
void daemon_signals_add(struct daemon_signals *, struct event_base *base);
void daemon_signals_free(struct daemon_signals *);

/*
 * Reads a secret (a bearer token) from path: its first line, trailing blanks
 * dropped, into out. 0, or a negative code with err naming flag and path
 * (never the content).
 */
int daemon_read_secret(const char *flag, const char *path, char *out, size_t outlen, char *err,
                       size_t errlen);

#endif
