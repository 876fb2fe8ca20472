/* recover: tenant rows back from the backend's tasks (see recover.h). */
#include "launcher/recover.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "launcher/launcher.h"
#include "launcher/template.h"
#include "launcher/validate.h"

/* The tenant's URL from the binding the sidecar recorded for its task, when there is one. */
static void
with_binding(struct launcher *l, struct tenant *t)
{
	struct binding b;
	char port[16], err[160];
	const struct template_var vars[] = {{"subdomain", t->subdomain},
	                                    {"host_ip", t->host_ip},
	                                    {"host_port", port},
	                                    {NULL, NULL}};

	if (registry_binding_get(l->reg, t->task_arn, &b) != 0 || b.status != BINDING_RUNNING ||
	    b.host_port <= 0)
		return;
	snprintf(t->host_ip, sizeof(t->host_ip), "%s",
	         l->host_ip != NULL && *l->host_ip != '\0' ? l->host_ip
	         : b.host_ip[0] != '\0'                    ? b.host_ip
	                                                   : "127.0.0.1");
	t->host_port = b.host_port;
	snprintf(port, sizeof(port), "%d", b.host_port);
	if (template_expand(l->url_template, vars, t->url, sizeof(t->url), err, sizeof(err)) != 0)
		t->url[0] = '\0';
}

static void
on_found(int error, const struct backend_found *v, size_t n, const char *errmsg, void *arg)
{
	struct launcher *l = arg;
	size_t recovered = 0;

	if (error != 0) {
		if (error != -ECANCELED)
			log_warnx("recover_failed error=\"%s\"", errmsg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct validate_error e = {0};
		struct tenant t;
		int rc;

		/* Labels are anyone's to set: only a well-formed tenant comes back. */
		if (validate_subdomain(v[i].subdomain, strlen(v[i].subdomain), &e) != 0 ||
		    validate_email(v[i].admin_email, strlen(v[i].admin_email), &e) != 0 ||
		    validate_company_name(v[i].company_name, strlen(v[i].company_name), &e) != 0 ||
		    v[i].created_ms <= 0 || strlen(v[i].task) >= sizeof(t.task_arn)) {
			log_warnx("recover_skipped task=%.64s reason=\"%s\"", v[i].task,
			          e.message[0] != '\0' ? e.message : "bad labels");
			continue;
		}
		if ((rc = registry_tenant_get(l->reg, v[i].subdomain, &t)) != -ENOENT)
			continue; /* known (or the registry cannot say: leave it) */
		memset(&t, 0, sizeof(t));
		snprintf(t.subdomain, sizeof(t.subdomain), "%s", v[i].subdomain);
		snprintf(t.admin_email, sizeof(t.admin_email), "%s", v[i].admin_email);
		snprintf(t.company_name, sizeof(t.company_name), "%s", v[i].company_name);
		snprintf(t.task_arn, sizeof(t.task_arn), "%s", v[i].task);
		t.created_at = v[i].created_ms;
		if (v[i].running) {
			t.status = TENANT_RUNNING;
			with_binding(l, &t);
		} else {
			t.status = TENANT_STOPPED;
			snprintf(t.error, sizeof(t.error), "recovered: its task was not running");
		}
		if (registry_tenant_insert(l->reg, &t) != 0) {
			log_warnx("recover_failed tenant=%s error=\"%s\"", t.subdomain,
			          registry_errmsg(l->reg));
			continue;
		}
		recovered++;
		log_info("tenant_recovered tenant=%s task=%.64s status=%s url=%s", t.subdomain,
		         t.task_arn, tenant_status_str(t.status), t.url[0] != '\0' ? t.url : "-");
	}
	if (recovered > 0)
		log_warnx("registry_recovered tenants=%zu source=%s", recovered, l->bops->name);
}

int
recover_start(struct launcher *l)
{
	if (l->bops->list == NULL)
		return 0;
	return l->bops->list(l->bstate, on_found, l);
}
