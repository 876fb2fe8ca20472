/*
 * berth: what the berth command's files share: the context a command runs
 * with, the command table's row, exit codes and output helpers. Commands
 * live in berth_*.c; add one by writing its handler and adding a row to the
 * table in berth.c (and its options to the options table there).
 */
#ifndef BERTH_BERTH_H
#define BERTH_BERTH_H

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

/* The read commands (berth_read.c). */
int berth_cmd_ls(struct berth_ctx *);
int berth_cmd_get(struct berth_ctx *);
int berth_cmd_watch(struct berth_ctx *);
int berth_cmd_stats(struct berth_ctx *);
/* The AWS-side commands (berth_aws.c). */
int berth_cmd_init_table(struct berth_ctx *);
int berth_cmd_sync_status(struct berth_ctx *);
int berth_cmd_doctor(struct berth_ctx *);

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
