/*
 * opts: one options table per program drives parsing, defaults, the
 * environment twins, range checks and --help.
 *
 * Precedence: command-line flag, then environment twin(s), then default.
 * Values are kept as strings (borrowed from argv, the environment or the
 * table); opts_int() converts with the table's range.
 */
#ifndef BERTH_OPTS_H
#define BERTH_OPTS_H

#include <stddef.h>
#include <stdio.h>

enum opt_type {
	OPT_STRING,
	OPT_INT,  /* decimal, checked against [min, max] */
	OPT_FLAG, /* no argument; value "1" when given, NULL otherwise */
};

struct opt {
	const char *name;    /* long name without "--" */
	const char *env;     /* environment twin, e.g. "BERTH_DB"; NULL for none */
	const char *env_alt; /* second twin read after env (e.g. DOCKER_HOST); may be NULL */
	enum opt_type type;
	const char *metavar; /* "PATH"; NULL for flags */
	const char *def;     /* default as text; NULL for none */
	long min, max;       /* OPT_INT only */
	const char *help;
};

#define OPTS_MAX 48

struct opts {
	const struct opt *table;
	size_t n;
	const char *val[OPTS_MAX]; /* borrowed */
};

enum { OPTS_OK = 0, OPTS_HELP = 1, OPTS_VERSION = 2, OPTS_ERROR = -1 };

/*
 * Parses argv from index 1. Stops at the first argument that is not an option
 * (or after "--") and stores its index in *next. Returns OPTS_OK, OPTS_HELP
 * (--help or -h), OPTS_VERSION (--version) or OPTS_ERROR with err filled.
 */
int opts_parse(struct opts *o, const struct opt *table, size_t n, int argc, char **argv, int *next,
               char *err, size_t errlen);
/* The value of option name, or NULL. Calling with an unknown name is a bug (fatalx). */
const char *opts_get(const struct opts *o, const char *name);
/* The integer value of name (already range-checked by opts_parse); 0 when unset. */
long opts_int(const struct opts *o, const char *name);
/* Prints "usage: prog synopsis" and the options table to fp. */
void opts_usage(FILE *fp, const char *prog, const char *synopsis, const struct opt *table,
                size_t n);

#endif
