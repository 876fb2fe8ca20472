/*
 * berth: what the berth command's files share: the context a command runs
 * with, the command table's row, exit codes and output helpers. Each command
 * has its file (read.c: ls, get, watch, stats; table.c: init-table,
 * sync-status; doctor.c); add one by writing its handler and adding a row to
 * the table in main.c (and its options to the options table there).
 */
#ifndef BERTH_BERTH_BERTH_H
#define BERTH_BERTH_BERTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/opts.h"
#include "registry/registry.h"

/* Exit codes (berth(1)). */
#define BERTH_EXIT_NOTFOUND 1
#define BERTH_EXIT_USAGE    2
#define BERTH_EXIT_REGISTRY 3
#define BERTH_EXIT_REMOTE   4 /* an AWS call failed (init-table) */

struct berth_ctx {
	struct opts o;      /* every option of berth's table, parsed */
	struct registry *r; /* opened with the command's open_flags; NULL when it opens none */
	int json;           /* --json */
	char **argv;        /* the command's positional arguments after its name */
	int argc;
};

struct berth_command {
	const char *name;
	const char *usage; /* arguments after the name */
	const char *help;
	const char *const *flags; /* accepted non-global options; NULL for none */
	int nargs_min, nargs_max;
	int open_flags; /* registry_open flags, or -1 when the command opens no registry */
	int (*run)(struct berth_ctx *); /* returns the exit code */
};

/* The read commands (read.c). */
int berth_cmd_ls(struct berth_ctx *);
int berth_cmd_get(struct berth_ctx *);
int berth_cmd_watch(struct berth_ctx *);
int berth_cmd_stats(struct berth_ctx *);
/* The table commands (table.c). */
int berth_cmd_init_table(struct berth_ctx *);
int berth_cmd_sync_status(struct berth_ctx *);
/* doctor.c */
int berth_cmd_doctor(struct berth_ctx *);
/* hosts.c */
int berth_cmd_hosts(struct berth_ctx *);
struct aws;
struct host_item;
struct berth_loop;
/*
 * Every host item of table (a Scan): *out (free it) holds *n hosts, *junk
 * counts items left out for junk fields. 0, or an error with err filled.
 */
int berth_hosts_scan(struct berth_loop *, struct aws *, const char *table, struct host_item **out,
                     size_t *n, int *junk, char *err, size_t errlen);

/* --dynamodb-table, or NULL; init-table and hosts then use BERTH_DEFAULT_TABLE. */
#define BERTH_DEFAULT_TABLE "UserPortRegistry"
const char *berth_table_name(struct berth_ctx *);
/* Table.TableStatus of a DescribeTable answer ("?" when absent). */
const char *berth_table_status(json_t *body);

/* The loop a command's network steps run on, one at a time (wait.c). */
#define BERTH_CMD_TIMEOUT_MS 30000 /* one AWS step of a command */
struct evcurl;
struct aws_call;
struct aws_result;
struct berth_loop {
	struct event_base *base;
	struct evcurl *ec;
	struct event *tick;
};
int berth_loop_open(struct berth_loop *);
void berth_loop_close(struct berth_loop *);
/* Runs the loop until *flag or ms pass; returns *flag. */
int berth_loop_wait(struct berth_loop *, const int *flag, long ms);
/* One AWS call, waited for: berth_call_done is its callback, berth_call_wait waits. */
struct berth_call {
	int done;
	int error;
	char code[96]; /* AWS_ERR_CODE_MAX */
	char text[768];
	json_t *body; /* the answer (a reference the caller drops) */
};
void berth_call_done(const struct aws_result *, void *arg);
/* Waits for started (cancelled after ms); c->error, with c->text saying why. */
int berth_call_wait(struct berth_loop *, struct berth_call *c, struct aws_call *started, long ms);

/* Prints "berth: " fmt (with one string argument) and a hint to stderr; returns 2. */
int berth_usage_error(const char *fmt, const char *arg);
/* Prints the registry's last error (one line) to stderr; returns 3. */
int berth_registry_error(struct berth_ctx *, int rc);
/* Copies s for a terminal: control characters (escape sequences from labels) become '?'. */
void berth_safe(char *out, size_t outlen, const char *s);
/* Prints j compactly on one line and flushes stdout; j is borrowed. */
void berth_print_json(json_t *j);
/* "45s", "12m", "3h", "2d" from ms until now; "-" when ms is unset. */
void berth_age(char *out, size_t outlen, int64_t ms, int64_t now);

/* An aligned text table for people: add rows (the first is the header), print once. */
#define BERTH_TABLE_COLS 8
#define BERTH_CELL_MAX   160 /* longer cells are cut */

struct berth_table {
	int ncols;
	size_t nrows, cap;
	char (*cells)[BERTH_TABLE_COLS][BERTH_CELL_MAX];
	int width[BERTH_TABLE_COLS];
};

/* Adds a row of ncols strings (copied, made terminal-safe); -ENOMEM. */
int berth_table_add(struct berth_table *, const char *const *vals);
/* Prints the rows aligned and frees them. */
void berth_table_print(struct berth_table *);

#endif
