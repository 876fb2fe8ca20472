/*
 * agent: ECS agent introspection client and parsers (see agent.h).
 */
#include "sidecar/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/backoff.h"
#include "core/evcurl.h"
#include "core/log.h"
#include "core/metrics.h"

#define AGENT_TIMEOUT_MS  3000
#define AGENT_RETRY_MIN_S 2
#define AGENT_RETRY_MAX_S 60
#define AGENT_URL_MAX     512

struct agent {
	struct event_base *base;
	struct evcurl *ec;
	struct agent_sink sink;
	struct metric *polls, *errors;
	char url[AGENT_URL_MAX];
	int none;
	int interval;
	struct backoff retry; /* asking /v1/metadata again */
	int have_meta, said_unavailable;
	const char *state;
	struct agent_metadata meta;
	struct evcurl_xfer *x;
	struct event *meta_ev, *poll_ev;
};

static void
copy_str(json_t *obj, const char *key, char *out, size_t outlen)
{
	json_t *v = json_object_get(obj, key);

	out[0] = '\0';
	if (json_is_string(v) && json_string_length(v) < outlen)
		memcpy(out, json_string_value(v), json_string_length(v) + 1);
}

void
agent_cluster_short(const char *cluster, char *out, size_t outlen)
{
	const char *slash = strrchr(cluster, '/');
	const char *name = slash != NULL ? slash + 1 : cluster;
	size_t n = strlen(name);

	if (outlen == 0)
		return;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, name, n);
	out[n] = '\0';
}

int
agent_metadata_parse(const char *body, size_t len, struct agent_metadata *out, char *err,
                     size_t errlen)
{
	json_error_t je;
	json_t *root;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if ((root = json_loadb(body, len, 0, &je)) == NULL) {
		snprintf(err, errlen, "metadata: bad JSON: %s", je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "metadata: not an object");
		goto out;
	}
	copy_str(root, "Cluster", out->cluster, sizeof(out->cluster));
	if (out->cluster[0] == '\0') {
		snprintf(err, errlen, "metadata: no Cluster");
		goto out;
	}
	agent_cluster_short(out->cluster, out->cluster_short, sizeof(out->cluster_short));
	/* ContainerInstanceArn is a *string in the agent: it may be null. */
	copy_str(root, "ContainerInstanceArn", out->instance_arn, sizeof(out->instance_arn));
	copy_str(root, "Version", out->version, sizeof(out->version));
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static void
parse_ports(json_t *ports, struct agent_container *c)
{
	size_t i;
	json_t *p;

	json_array_foreach(ports, i, p)
	{
		json_t *cp = json_object_get(p, "ContainerPort");
		json_t *hp = json_object_get(p, "HostPort");
		struct agent_port ap;
		int dup = 0;

		memset(&ap, 0, sizeof(ap));
		if (!json_is_integer(cp) || json_integer_value(cp) <= 0 ||
		    json_integer_value(cp) > 65535)
			continue;
		ap.container_port = (int)json_integer_value(cp);
		copy_str(p, "Protocol", ap.proto, sizeof(ap.proto));
		if (ap.proto[0] == '\0')
			snprintf(ap.proto, sizeof(ap.proto), "tcp");
		/* HostPort is left out (omitempty) until the agent has inspected the container. */
		if (json_is_integer(hp) && json_integer_value(hp) > 0 &&
		    json_integer_value(hp) <= 65535)
			ap.host_port = (int)json_integer_value(hp);
		/* IPv4 and IPv6 bindings arrive as two identical entries: keep one. */
		for (int k = 0; k < c->nports; k++)
			if (c->ports[k].container_port == ap.container_port &&
			    c->ports[k].host_port == ap.host_port &&
			    strcmp(c->ports[k].proto, ap.proto) == 0)
				dup = 1;
		if (!dup && c->nports < AGENT_PORTS_MAX)
			c->ports[c->nports++] = ap;
	}
}

static int
parse_task(json_t *o, struct agent_task *t)
{
	json_t *cs, *c;
	size_t i, n;

	memset(t, 0, sizeof(*t));
	if (!json_is_object(o))
		return -EINVAL;
	copy_str(o, "Arn", t->arn, sizeof(t->arn));
	copy_str(o, "KnownStatus", t->known_status, sizeof(t->known_status));
	copy_str(o, "DesiredStatus", t->desired_status, sizeof(t->desired_status));
	copy_str(o, "Family", t->family, sizeof(t->family));
	copy_str(o, "Version", t->version, sizeof(t->version));
	if (t->arn[0] == '\0')
		return -EINVAL;
	cs = json_object_get(o, "Containers");
	if (!json_is_array(cs) || (n = json_array_size(cs)) == 0)
		return 0;
	if (n > AGENT_CONTAINERS_MAX)
		n = AGENT_CONTAINERS_MAX;
	if ((t->containers = calloc(n, sizeof(*t->containers))) == NULL)
		return -ENOMEM;
	json_array_foreach(cs, i, c)
	{
		struct agent_container *ac = &t->containers[t->ncontainers];

		if (i >= n)
			break;
		if (!json_is_object(c))
			continue;
		/* Agent 1.19.0 spelled it DockerID. */
		copy_str(c, "DockerId", ac->docker_id, sizeof(ac->docker_id));
		if (ac->docker_id[0] == '\0')
			copy_str(c, "DockerID", ac->docker_id, sizeof(ac->docker_id));
		if (strspn(ac->docker_id, "0123456789abcdef") != strlen(ac->docker_id))
			ac->docker_id[0] = '\0';
		copy_str(c, "DockerName", ac->docker_name, sizeof(ac->docker_name));
		copy_str(c, "Name", ac->name, sizeof(ac->name));
		parse_ports(json_object_get(c, "Ports"), ac);
		t->ncontainers++;
	}
	return 0;
}

void
agent_tasks_free(struct agent_task *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i].containers);
	free(v);
}

int
agent_tasks_parse(const char *body, size_t len, struct agent_task **out, size_t *n, char *err,
                  size_t errlen)
{
	json_error_t je;
	json_t *root, *tasks, *o;
	struct agent_task *v = NULL;
	size_t i, k = 0, cnt;
	int rc = -EINVAL;

	*out = NULL;
	*n = 0;
	if ((root = json_loadb(body, len, 0, &je)) == NULL) {
		snprintf(err, errlen, "tasks: bad JSON: %s", je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "tasks: not an object");
		goto out;
	}
	tasks = json_object_get(root, "Tasks");
	if (tasks == NULL) {
		/* ?dockerid= / ?taskarn=: one bare TaskResponse. */
		if ((v = calloc(1, sizeof(*v))) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		if ((rc = parse_task(root, v)) != 0) {
			agent_tasks_free(v, 1);
			v = NULL;
			snprintf(err, errlen, "tasks: bad task");
			goto out;
		}
		*out = v;
		*n = 1;
		goto out;
	}
	if (!json_is_array(tasks)) {
		snprintf(err, errlen, "tasks: Tasks is not an array");
		goto out;
	}
	cnt = json_array_size(tasks);
	if (cnt > AGENT_TASKS_MAX) {
		snprintf(err, errlen, "tasks: too many tasks");
		rc = -E2BIG;
		goto out;
	}
	if (cnt > 0 && (v = calloc(cnt, sizeof(*v))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(tasks, i, o)
	{
		int r = parse_task(o, &v[k]);

		if (r == -ENOMEM) {
			agent_tasks_free(v, k + 1);
			rc = -ENOMEM;
			goto out;
		}
		if (r == 0)
			k++;
		else
			free(v[k].containers);
	}
	*out = v;
	*n = k;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- client ---- */

static void agent_get(struct agent *, const char *path);

static void
say_unavailable(struct agent *a, const char *why)
{
	a->state = "unavailable";
	if (!a->said_unavailable)
		log_warnx("agent_unavailable url=%s reason=\"%s\" mode=docker-only", a->url, why);
	a->said_unavailable = 1;
}

static void
schedule(struct event *ev, int seconds)
{
	struct timeval tv = {seconds, 0};

	evtimer_add(ev, &tv);
}

static void
on_metadata(struct agent *a, const struct evcurl_resp *r)
{
	char err[256];

	if (r->error == 0 && r->status == 200 &&
	    agent_metadata_parse(r->body, r->body_len, &a->meta, err, sizeof(err)) == 0) {
		a->have_meta = 1;
		a->state = "ok";
		if (a->sink.metadata != NULL)
			a->sink.metadata(&a->meta, a->sink.arg);
		log_info("agent_metadata cluster=%s instance=\"%s\"", a->meta.cluster_short,
		         a->meta.instance_arn);
		agent_get(a, "/v1/tasks");
		return;
	}
	metric_inc(a->errors);
	say_unavailable(a, r->error != 0 ? r->errmsg : "bad /v1/metadata answer");
	/* Retried until the agent answers; Docker tracking does not wait for it. */
	schedule(a->meta_ev, (int)(backoff_next(&a->retry) / 1000));
}

static void
on_tasks(struct agent *a, const struct evcurl_resp *r)
{
	struct agent_task *v;
	size_t n;
	char err[256];

	metric_inc(a->polls);
	if (r->error == 0 && r->status == 200 &&
	    agent_tasks_parse(r->body, r->body_len, &v, &n, err, sizeof(err)) == 0) {
		if (a->said_unavailable)
			log_info("agent_available url=%s", a->url);
		a->said_unavailable = 0;
		a->state = "ok";
		if (a->sink.tasks != NULL)
			a->sink.tasks(v, n, a->sink.arg);
		agent_tasks_free(v, n);
	} else {
		metric_inc(a->errors);
		say_unavailable(a, r->error != 0 ? r->errmsg : "bad /v1/tasks answer");
	}
	if (a->interval > 0)
		schedule(a->poll_ev, a->interval);
}

struct agent_call {
	struct agent *a;
	int meta;
};

static void
agent_done(const struct evcurl_resp *r, void *arg)
{
	struct agent_call *c = arg;
	struct agent *a = c->a;

	a->x = NULL;
	if (r->error != -ECANCELED) {
		if (c->meta)
			on_metadata(a, r);
		else
			on_tasks(a, r);
	}
	free(c);
}

static void
agent_get(struct agent *a, const char *path)
{
	struct evcurl_req req;
	struct agent_call *c;
	char url[AGENT_URL_MAX + 32];

	if (a->x != NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->a = a;
	c->meta = strcmp(path, "/v1/metadata") == 0;
	snprintf(url, sizeof(url), "%s%s", a->url, path);
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.timeout_ms = AGENT_TIMEOUT_MS;
	req.connect_timeout_ms = 1000;
	req.body_max = AGENT_BODY_MAX;
	req.no_proxy = 1;
	req.on_done = agent_done;
	req.arg = c;
	if ((a->x = evcurl_start(a->ec, &req)) == NULL) {
		schedule(c->meta ? a->meta_ev : a->poll_ev, AGENT_RETRY_MIN_S);
		free(c);
	}
}

static void
meta_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent_get(arg, "/v1/metadata");
}

static void
poll_event(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	agent_get(a, "/v1/tasks");
}

struct agent *
agent_new(struct event_base *base, struct evcurl *ec, const char *url,
          const struct agent_sink *sink, int interval_s, struct metrics *metrics)
{
	struct agent *a;
	size_t len;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->base = base;
	a->ec = ec;
	if (sink != NULL)
		a->sink = *sink;
	a->polls = metrics_counter(metrics, "berth_sidecar_agent_polls_total",
	                           "ECS agent /v1/tasks polls.", NULL);
	a->errors = metrics_counter(metrics, "berth_sidecar_agent_errors_total",
	                            "ECS agent calls that failed.", NULL);
	a->interval = interval_s;
	a->retry = (struct backoff)BACKOFF_INIT(AGENT_RETRY_MIN_S * 1000, AGENT_RETRY_MAX_S * 1000);
	a->none = url == NULL || strcmp(url, "none") == 0;
	a->state = a->none ? "none" : "waiting";
	if (!a->none) {
		if (strncmp(url, "http://", 7) != 0 || (len = strlen(url)) >= sizeof(a->url)) {
			free(a);
			return NULL;
		}
		snprintf(a->url, sizeof(a->url), "%s", url);
		while (len > 0 && a->url[len - 1] == '/')
			a->url[--len] = '\0';
	}
	if ((a->meta_ev = evtimer_new(base, meta_event, a)) == NULL ||
	    (a->poll_ev = evtimer_new(base, poll_event, a)) == NULL) {
		agent_free(a);
		return NULL;
	}
	return a;
}

void
agent_free(struct agent *a)
{
	if (a == NULL)
		return;
	if (a->x != NULL)
		evcurl_cancel(a->x);
	if (a->meta_ev != NULL)
		event_free(a->meta_ev);
	if (a->poll_ev != NULL)
		event_free(a->poll_ev);
	free(a);
}

void
agent_start(struct agent *a)
{
	if (a->none) {
		log_info("agent_disabled mode=docker-only");
		return;
	}
	agent_get(a, "/v1/metadata");
}

const char *
agent_state(const struct agent *a)
{
	return a->state;
}

const struct agent_metadata *
agent_metadata(const struct agent *a)
{
	return a->have_meta ? &a->meta : NULL;
}
