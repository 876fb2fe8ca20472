/*
 * Every flag a program prints in --help has an entry in its man page, with
 * the default --help prints; every environment twin --help names appears
 * there too; the ECS task definitions set only variables their program knows. The programs come
 * from the build tree (BERTH_BINARY_DIR); a missing binary is a failure.
 *
 * An entry is an mdoc list item naming the flag (".It Fl -db Ar PATH") or, in
 * man(7) pages, the flag spelled "\-\-db" on any line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/lib/testlib.h"

#define PATH_CAP  1024
#define HELP_CAP  (64 * 1024)
#define MAN_CAP   (256 * 1024)
#define WORD_CAP  64
#define WORDS_MAX 128

struct program {
	const char *name;
	const char *section;
	const char *dirs[4]; /* where the build puts it, relative to BERTH_BINARY_DIR */
};

static const struct program programs[] = {
    {"berth-sidecar", "8", {"sidecar", "bin", ".", NULL}},
    {"berth-launcher", "8", {"launcher", "bin", ".", NULL}},
    {"berth", "1", {"berth", "bin", NULL}},
};

static int
find_binary(const struct program *p, char *out, size_t outlen)
{
	const char *bin = getenv("BERTH_BINARY_DIR");

	if (bin == NULL || *bin == '\0')
		fail_msg("BERTH_BINARY_DIR is not set (run under ctest)");
	for (int i = 0; p->dirs[i] != NULL; i++) {
		snprintf(out, outlen, "%s/%s/%s", bin, p->dirs[i], p->name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* Runs "path --help" and returns its output (stdout and stderr); fails unless it exits 0. */
static char *
run_help(const char *path)
{
	char cmd[PATH_CAP + 32], *buf;
	size_t n = 0, r;
	FILE *fp;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", path);
	if ((fp = popen(cmd, "r")) == NULL)
		fail_msg("cannot run %s", cmd);
	buf = malloc(HELP_CAP);
	assert_non_null(buf);
	while (n < HELP_CAP - 1 && (r = fread(buf + n, 1, HELP_CAP - 1 - n, fp)) > 0)
		n += r;
	buf[n] = '\0';
	st = pclose(fp);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s --help exited with status %d:\n%s", path,
		         WIFEXITED(st) ? WEXITSTATUS(st) : -1, buf);
	return buf;
}

/*
 * Collects distinct words of text that start with prefix and continue with
 * [A-Za-z0-9_-] (flags "--db", environment names "BERTH_DB"). Returns the count.
 */
static int
collect(const char *text, const char *prefix, int keep_prefix, char words[][WORD_CAP], int max)
{
	size_t plen = strlen(prefix);
	int n = 0;

	for (const char *p = text; (p = strstr(p, prefix)) != NULL; p += plen) {
		const char *s = p + plen, *e = s;
		char w[WORD_CAP];
		int dup = 0;

		/* A word must start here: not inside another word. */
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '-'))
			continue;
		while (isalnum((unsigned char)*e) || *e == '-' || *e == '_')
			e++;
		if (e == s || (size_t)(e - s) + plen >= sizeof(w))
			continue;
		snprintf(w, sizeof(w), "%s%.*s", keep_prefix ? prefix : "", (int)(e - s), s);
		for (int i = 0; i < n; i++)
			dup |= strcmp(words[i], w) == 0;
		if (!dup && n < max)
			snprintf(words[n++], WORD_CAP, "%s", w);
	}
	return n;
}

/* Is there an entry for --flag in the page? */
static int
has_entry(const char *page, const char *flag)
{
	char mdoc[WORD_CAP + 8], roff[2 * WORD_CAP + 8];
	const char *line = page;

	snprintf(mdoc, sizeof(mdoc), "Fl -%s", flag);
	snprintf(roff, sizeof(roff), "\\-\\-%s", flag);
	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		const char *hit;

		if (len > 4 && strncmp(line, ".It ", 4) == 0) {
			for (hit = line; (hit = strstr(hit, mdoc)) != NULL && hit < line + len;
			     hit++) {
				char after = hit[strlen(mdoc)];

				if (!(isalnum((unsigned char)after) || after == '-' ||
				      after == '_'))
					return 1;
			}
		}
		for (hit = line; (hit = strstr(hit, roff)) != NULL && hit < line + len; hit++) {
			char after = hit[strlen(roff)];

			if (!(isalnum((unsigned char)after) || after == '-' || after == '_'))
				return 1;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	return 0;
}

/*
 * The text of the mdoc entry for --flag: from its ".It Fl -flag" line to the
 * next ".It", lines joined with spaces, into out. Empty when there is none.
 */
static void
entry_text(const char *page, const char *flag, char *out, size_t outlen)
{
	char head[WORD_CAP + 16];
	const char *line = page;
	size_t o = 0;
	int in = 0;

	snprintf(head, sizeof(head), ".It Fl -%s", flag);
	out[0] = '\0';
	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		size_t hl = strlen(head);

		if (strncmp(line, ".It", 3) == 0) {
			if (in)
				break;
			in = len >= hl && strncmp(line, head, hl) == 0 &&
			     (len == hl || line[hl] == ' ');
		}
		if (in && o + len + 2 < outlen) {
			memcpy(out + o, line, len);
			o += len;
			out[o++] = ' ';
			out[o] = '\0';
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
}

/* Each "[default: X]" that --help prints for a flag appears in its man entry. */
static int
check_defaults(const struct program *p, const char *help, const char *page, const char *man)
{
	static char entry[16 * 1024];
	const char *line = help;
	int bad = 0;

	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		char l[1024], flag[WORD_CAP], def[512];
		const char *f, *d, *e;
		size_t fl;

		snprintf(l, sizeof(l), "%.*s", (int)(len < sizeof(l) ? len : sizeof(l) - 1), line);
		line = nl != NULL ? nl + 1 : NULL;
		f = l + strspn(l, " ");
		if (strncmp(f, "--", 2) != 0 || (d = strstr(l, "[default: ")) == NULL ||
		    (e = strchr(d, ']')) == NULL)
			continue;
		fl = strcspn(f + 2, " ");
		if (fl == 0 || fl >= sizeof(flag))
			continue;
		snprintf(flag, sizeof(flag), "%.*s", (int)fl, f + 2);
		d += strlen("[default: ");
		snprintf(def, sizeof(def), "%.*s", (int)(e - d), d);
		entry_text(page, flag, entry, sizeof(entry));
		if (strstr(entry, def) == NULL) {
			fprintf(stderr,
			        "%s: --%s has default \"%s\" in --help, not in its entry in %s\n",
			        p->name, flag, def, man);
			bad++;
		}
	}
	return bad;
}

static void
check_program(const struct program *p)
{
	static char flags[WORDS_MAX][WORD_CAP], envs[WORDS_MAX][WORD_CAP];
	char bin[PATH_CAP], man[PATH_CAP], *help, *page;
	const char *src = getenv("BERTH_SOURCE_DIR");
	int nf, ne, missing = 0;

	if (src == NULL || *src == '\0')
		fail_msg("BERTH_SOURCE_DIR is not set (run under ctest)");
	if (find_binary(p, bin, sizeof(bin)) != 0)
		fail_msg("%s is not built: no executable %s under $BERTH_BINARY_DIR/{%s,bin,.} "
		         "(build it before running this test)",
		         p->name, p->name, p->dirs[0]);
	snprintf(man, sizeof(man), "%s/docs/man/%s.%s", src, p->name, p->section);
	if ((page = tl_read_file_max(man, MAN_CAP, NULL)) == NULL)
		fail_msg("%s has no man page: cannot read %s", p->name, man);
	help = run_help(bin);
	nf = collect(help, "--", 0, flags, WORDS_MAX);
	if (nf < 3)
		fail_msg("%s --help lists only %d flags:\n%s", p->name, nf, help);
	for (int i = 0; i < nf; i++) {
		if (!has_entry(page, flags[i])) {
			fprintf(stderr, "%s: --%s (in --help) has no entry in %s\n", p->name,
			        flags[i], man);
			missing++;
		}
	}
	ne = collect(help, "BERTH_", 1, envs, WORDS_MAX);
	for (int i = 0; i < ne; i++) {
		if (strstr(page, envs[i]) == NULL) {
			fprintf(stderr, "%s: environment variable %s (in --help) is not in %s\n",
			        p->name, envs[i], man);
			missing++;
		}
	}
	missing += check_defaults(p, help, page, man);
	free(help);
	free(page);
	if (missing > 0)
		fail_msg("%s: %d undocumented flags or variables (listed above)", p->name, missing);
}

static void
test_sidecar(void **state)
{
	(void)state;
	check_program(&programs[0]);
}

static void
test_launcher(void **state)
{
	(void)state;
	check_program(&programs[1]);
}

static void
test_berth(void **state)
{
	(void)state;
	check_program(&programs[2]);
}

/*
 * The ECS task definitions under docker/ecs/ set only variables the program
 * they run knows: each BERTH_* name in a container's environment or secrets
 * appears in that program's --help.
 */
static void
test_ecs_environment(void **state)
{
	static const char *const files[] = {"berth-sidecar.json", "berth-launcher.json"};
	const char *src = getenv("BERTH_SOURCE_DIR");
	int bad = 0;

	(void)state;
	if (src == NULL || *src == '\0')
		fail_msg("BERTH_SOURCE_DIR is not set (run under ctest)");
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		char path[PATH_CAP], bin[PATH_CAP], *help;
		const struct program *p = NULL;
		static const char *const lists[] = {"environment", "secrets"};
		json_error_t jerr;
		json_t *td, *c;
		const char *prog;

		snprintf(path, sizeof(path), "%s/docker/ecs/%s", src, files[f]);
		if ((td = json_load_file(path, 0, &jerr)) == NULL)
			fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
		c = json_array_get(json_object_get(td, "containerDefinitions"), 0);
		prog = json_string_value(json_array_get(json_object_get(c, "command"), 0));
		for (size_t i = 0; prog != NULL && i < sizeof(programs) / sizeof(programs[0]); i++)
			if (strcmp(programs[i].name, prog) == 0)
				p = &programs[i];
		if (p == NULL)
			fail_msg("%s: command[0] is not a berth program", path);
		if (find_binary(p, bin, sizeof(bin)) != 0)
			fail_msg("%s is not built (build it before running this test)", p->name);
		help = run_help(bin);
		for (size_t l = 0; l < 2; l++) {
			json_t *e;
			size_t k;

			json_array_foreach(json_object_get(c, lists[l]), k, e)
			{
				const char *name = json_string_value(json_object_get(e, "name"));

				if (name == NULL || strncmp(name, "BERTH_", 6) != 0)
					continue;
				if (strstr(help, name) == NULL) {
					fprintf(stderr,
					        "%s: %s sets %s, which %s --help does not know\n",
					        files[f], lists[l], name, p->name);
					bad++;
				}
			}
		}
		free(help);
		json_decref(td);
	}
	if (bad > 0)
		fail_msg("%d unknown variables in docker/ecs (listed above)", bad);
}

/* The checker itself: entries are found only where they are entries. */
static void
test_has_entry(void **state)
{
	const char *page = ".Sh OPTIONS\n.Bl -tag -width Ds\n.It Fl -db Ar PATH\nx\n"
	                   ".It Fl -log-level Ar LEVEL\nSee also Fl -json .\n.El\n"
	                   ".TP\n\\fB\\-\\-wait\\-timeout\\fR\n.TP\n\\fB\\-\\-cors-origin\\fR\n";
	char words[8][WORD_CAP];

	(void)state;
	assert_true(has_entry(page, "db"));
	assert_true(has_entry(page, "log-level"));
	assert_false(has_entry(page, "log"));
	assert_false(has_entry(page, "json")); /* mentioned, but not an entry */
	assert_true(has_entry(page, "cors-origin"));
	assert_false(has_entry(page, "listen"));
	assert_int_equal(
	    collect("  --db PATH x [env: BERTH_DB]\n  --db again --a-b\n", "--", 0, words, 8), 2);
	assert_string_equal(words[0], "db");
	assert_string_equal(words[1], "a-b");
	{
		char e[256];

		entry_text(page, "db", e, sizeof(e));
		assert_string_equal(e, ".It Fl -db Ar PATH x ");
		entry_text(page, "log", e, sizeof(e));
		assert_string_equal(e, "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_has_entry),       cmocka_unit_test(test_sidecar),
	    cmocka_unit_test(test_launcher),        cmocka_unit_test(test_berth),
	    cmocka_unit_test(test_ecs_environment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
