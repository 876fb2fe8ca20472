/* opts: one options table per program: flags, BERTH_* environment twins, defaults, --help. */
#include "core/opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static int
opt_check(const struct opt *op, const char *v, const char *from, char *err, size_t errlen)
{
	char *end;
	long x;

	if (op->type != OPT_INT)
		return 0;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || x < op->min || x > op->max) {
		snprintf(err, errlen, "%s: --%s wants an integer from %ld to %ld, got \"%s\"", from,
		         op->name, op->min, op->max, v);
		return -1;
	}
	return 0;
}

static const struct opt *
opt_find(const struct opt *table, size_t n, const char *name, size_t len, size_t *idx)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0) {
			*idx = i;
			return &table[i];
		}
	}
	return NULL;
}

int
opts_parse(struct opts *o, const struct opt *table, size_t n, int argc, char **argv, int *next,
           char *err, size_t errlen)
{
	int i;

	if (n > OPTS_MAX)
		fatalx("opts table too large n=%zu", n);
	memset(o, 0, sizeof(*o));
	o->table = table;
	o->n = n;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *v;
		const struct opt *op;
		size_t idx, len;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return OPTS_HELP;
		if (strcmp(a, "--version") == 0)
			return OPTS_VERSION;
		if (strncmp(a, "--", 2) != 0) {
			if (a[0] == '-' && a[1] != '\0') {
				snprintf(err, errlen, "unknown option %s (see --help)", a);
				return OPTS_ERROR;
			}
			break;
		}
		a += 2;
		eq = strchr(a, '=');
		len = eq != NULL ? (size_t)(eq - a) : strlen(a);
		if ((op = opt_find(table, n, a, len, &idx)) == NULL) {
			snprintf(err, errlen, "unknown option --%.*s (see --help)", (int)len, a);
			return OPTS_ERROR;
		}
		if (op->type == OPT_FLAG) {
			if (eq != NULL) {
				snprintf(err, errlen, "--%s takes no value", op->name);
				return OPTS_ERROR;
			}
			o->val[idx] = "1";
			continue;
		}
		if (eq != NULL) {
			v = eq + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			snprintf(err, errlen, "--%s needs a value %s", op->name, op->metavar);
			return OPTS_ERROR;
		}
		if (opt_check(op, v, "flag", err, errlen) != 0)
			return OPTS_ERROR;
		o->val[idx] = v;
	}
	*next = i;
	for (size_t k = 0; k < n; k++) {
		const char *v = NULL, *from = NULL;

		if (o->val[k] != NULL)
			continue;
		if (table[k].env != NULL && (v = getenv(table[k].env)) != NULL && *v != '\0')
			from = table[k].env;
		else if (table[k].env_alt != NULL && (v = getenv(table[k].env_alt)) != NULL &&
		         *v != '\0')
			from = table[k].env_alt;
		else
			v = NULL;
		if (v != NULL) {
			if (table[k].type == OPT_FLAG)
				v = (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) ? NULL : "1";
			else if (opt_check(&table[k], v, from, err, errlen) != 0)
				return OPTS_ERROR;
			o->val[k] = v;
		} else {
			o->val[k] = table[k].def;
		}
	}
	return OPTS_OK;
}

static size_t
opt_index(const struct opts *o, const char *name)
{
	size_t idx;

	if (opt_find(o->table, o->n, name, strlen(name), &idx) == NULL)
		fatalx("opts: no option named %s", name);
	return idx;
}

const char *
opts_get(const struct opts *o, const char *name)
{
	return o->val[opt_index(o, name)];
}

long
opts_int(const struct opts *o, const char *name)
{
	const char *v = opts_get(o, name);

	return v != NULL ? strtol(v, NULL, 10) : 0;
}

void
opts_usage(FILE *fp, const char *prog, const char *synopsis, const struct opt *table, size_t n)
{
	fprintf(fp, "usage: %s %s\n\noptions:\n", prog, synopsis);
	for (size_t i = 0; i < n; i++) {
		char lhs[64];

		snprintf(lhs, sizeof(lhs), "--%s%s%s", table[i].name, table[i].metavar ? " " : "",
		         table[i].metavar ? table[i].metavar : "");
		fprintf(fp, "  %-28s %s", lhs, table[i].help);
		if (table[i].def != NULL)
			fprintf(fp, " [default: %s]", table[i].def);
		if (table[i].env != NULL)
			fprintf(fp, " [env: %s%s%s]", table[i].env, table[i].env_alt ? ", " : "",
			        table[i].env_alt ? table[i].env_alt : "");
		fputc('\n', fp);
	}
	fprintf(fp, "  %-28s %s\n  %-28s %s\n", "--help", "show this help and exit", "--version",
	        "show the version and exit");
}
