/*
 * Every relative link in README.md and docs/ (every .md file) points at a file of the
 * tree, and every #anchor at a heading of its target (GitHub's slugs:
 * lower case, punctuation dropped, spaces as '-').
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/testlib.h"

#define PATH_CAP 1024
#define DOC_CAP  (512 * 1024)
#define LINK_CAP 512

/* GitHub's anchor for a heading's text (without the leading #s). */
static void
slug(const char *text, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)text[i];

		if (isalnum(c) || c == '-' || c == '_')
			out[o++] = (char)tolower(c);
		else if (c == ' ')
			out[o++] = '-';
		else if (c >= 0x80)
			out[o++] = (char)c; /* non-ASCII letters are kept as they are */
	}
	out[o] = '\0';
}

/* 1 when the Markdown text has a heading whose slug is anchor. */
static int
has_anchor(const char *doc, const char *anchor)
{
	const char *line = doc;
	int fence = 0;

	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		char s[LINK_CAP];

		if (len >= 3 && strncmp(line, "```", 3) == 0)
			fence = !fence;
		if (!fence && len > 0 && line[0] == '#') {
			size_t h = 0;

			while (h < len && line[h] == '#')
				h++;
			while (h < len && line[h] == ' ')
				h++;
			slug(line + h, len - h, s, sizeof(s));
			if (strcmp(s, anchor) == 0)
				return 1;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	return 0;
}

/* Checks the links of file (relative to src); returns the number of bad ones. */
static int
check_file(const char *src, const char *rel)
{
	char path[PATH_CAP], dir[PATH_CAP];
	char *doc, *p, *slash;
	int bad = 0, fence = 0;

	if (snprintf(path, sizeof(path), "%s/%s", src, rel) >= (int)sizeof(path))
		fail_msg("path too long");
	if ((doc = tl_read_file_max(path, DOC_CAP, NULL)) == NULL)
		fail_msg("cannot read %s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	for (p = doc; *p != '\0'; p++) {
		char link[LINK_CAP], target[PATH_CAP], *hash, *end;
		size_t n;

		if ((p == doc || p[-1] == '\n') && strncmp(p, "```", 3) == 0)
			fence = !fence;
		if (fence || p[0] != ']' || p[1] != '(')
			continue;
		end = strchr(p + 2, ')');
		if (end == NULL || (n = (size_t)(end - (p + 2))) == 0 || n >= sizeof(link))
			continue;
		memcpy(link, p + 2, n);
		link[n] = '\0';
		if (strstr(link, "://") != NULL || strncmp(link, "mailto:", 7) == 0 ||
		    strchr(link, ' ') != NULL)
			continue;
		hash = strchr(link, '#');
		if (hash != NULL)
			*hash++ = '\0';
		if (link[0] == '\0') {
			snprintf(target, sizeof(target), "%s", path);
		} else if (snprintf(target, sizeof(target), "%s/%s", dir, link) >=
		           (int)sizeof(target)) {
			continue;
		}
		if (access(target, F_OK) != 0) {
			fprintf(stderr, "%s: link to %s: no such file\n", rel, link);
			bad++;
			continue;
		}
		if (hash != NULL && *hash != '\0') {
			size_t tl = strlen(target);
			char *t;

			if (tl < 3 || strcmp(target + tl - 3, ".md") != 0)
				continue;
			if ((t = tl_read_file_max(target, DOC_CAP, NULL)) == NULL)
				continue;
			if (!has_anchor(t, hash)) {
				fprintf(stderr, "%s: link to %s#%s: no such heading\n", rel, link,
				        hash);
				bad++;
			}
			free(t);
		}
	}
	free(doc);
	return bad;
}

static void
test_links(void **state)
{
	const char *src = getenv("BERTH_SOURCE_DIR");
	char docs[PATH_CAP];
	struct dirent *de;
	int bad, files = 1;
	DIR *d;

	(void)state;
	if (src == NULL || *src == '\0')
		fail_msg("BERTH_SOURCE_DIR is not set (run under ctest)");
	bad = check_file(src, "README.md");
	snprintf(docs, sizeof(docs), "%s/docs", src);
	if ((d = opendir(docs)) == NULL)
		fail_msg("cannot open %s", docs);
	while ((de = readdir(d)) != NULL) {
		char rel[PATH_CAP];
		size_t len = strlen(de->d_name);

		if (len < 4 || strcmp(de->d_name + len - 3, ".md") != 0)
			continue;
		snprintf(rel, sizeof(rel), "docs/%s", de->d_name);
		bad += check_file(src, rel);
		files++;
	}
	closedir(d);
	assert_true(files >= 5);
	if (bad > 0)
		fail_msg("%d broken links (listed above)", bad);
}

static void
test_slugs(void **state)
{
	const char *doc = "# Top\n```\n# not a heading\n```\n## 3. IAM roles\n"
	                  "### Users, the Docker socket and the shared registry\n";

	(void)state;
	assert_true(has_anchor(doc, "top"));
	assert_true(has_anchor(doc, "3-iam-roles"));
	assert_true(has_anchor(doc, "users-the-docker-socket-and-the-shared-registry"));
	assert_false(has_anchor(doc, "not-a-heading"));
	assert_false(has_anchor(doc, "iam-roles"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slugs),
	    cmocka_unit_test(test_links),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
