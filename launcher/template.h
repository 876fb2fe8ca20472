/*
 * template: expands "{name}" placeholders (--url-template,
 * --database-url-template). Names are looked up in a NULL-terminated table;
 * "{{" and "}}" stand for literal braces.
 */
#ifndef BERTH_TEMPLATE_H
#define BERTH_TEMPLATE_H

#include <stddef.h>

struct template_var {
	const char *name;
	const char *value;
};

/*
 * Writes tpl with each {name} replaced into out. -EINVAL on an unknown name
 * or an unbalanced brace (err names it), -E2BIG when out is too small.
 */
int template_expand(const char *tpl, const struct template_var *vars, char *out, size_t outlen,
                    char *err, size_t errlen);
/* Checks tpl against the names in vars (values unused): 0 or -EINVAL with err. */
int template_check(const char *tpl, const struct template_var *vars, char *err, size_t errlen);

#endif
