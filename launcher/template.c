/* template: {name} placeholders expanded (--url-template, --database-url-template). */
#include "launcher/template.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Appends n bytes of s at *off; -E2BIG when it does not fit with the NUL. */
static int
put(char *out, size_t outlen, size_t *off, const char *s, size_t n)
{
	if (out == NULL)
		return 0;
	if (*off + n + 1 > outlen)
		return -E2BIG;
	memcpy(out + *off, s, n);
	*off += n;
	out[*off] = '\0';
	return 0;
}

static int
expand(const char *tpl, const struct template_var *vars, char *out, size_t outlen, char *err,
       size_t errlen)
{
	size_t off = 0;
	const char *p = tpl;

	if (out != NULL) {
		if (outlen == 0)
			return -E2BIG;
		out[0] = '\0';
	}
	while (*p != '\0') {
		const char *end;
		const struct template_var *v;
		size_t len;
		int rc;

		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			if ((rc = put(out, outlen, &off, p, 1)) != 0)
				return rc;
			p += 2;
			continue;
		}
		if (*p == '}') {
			snprintf(err, errlen, "template has a '}' with no '{'");
			return -EINVAL;
		}
		if (*p != '{') {
			len = strcspn(p, "{}");
			if ((rc = put(out, outlen, &off, p, len)) != 0)
				return rc;
			p += len;
			continue;
		}
		if ((end = strchr(p, '}')) == NULL) {
			snprintf(err, errlen, "template has a '{' with no '}'");
			return -EINVAL;
		}
		len = (size_t)(end - p - 1);
		for (v = vars; v->name != NULL; v++)
			if (strlen(v->name) == len && strncmp(v->name, p + 1, len) == 0)
				break;
		if (v->name == NULL) {
			snprintf(err, errlen, "template names an unknown placeholder {%.*s}",
			         (int)(len > 40 ? 40 : len), p + 1);
			return -EINVAL;
		}
		if (v->value != NULL &&
		    (rc = put(out, outlen, &off, v->value, strlen(v->value))) != 0)
			return rc;
		p = end + 1;
	}
	return 0;
}

int
template_expand(const char *tpl, const struct template_var *vars, char *out, size_t outlen,
                char *err, size_t errlen)
{
	return expand(tpl, vars, out, outlen, err, errlen);
}

int
template_check(const char *tpl, const struct template_var *vars, char *err, size_t errlen)
{
	return expand(tpl, vars, NULL, 0, err, errlen);
}
