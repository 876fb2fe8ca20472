/*
 * docker_parse: the pure parsers of docker.h (events, inspect, container
 * list, error bodies) and the capped line splitter of the event stream.
 * No I/O; every input is untrusted and fuzzed.
 */
#include "core/docker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENT_JSON_MAX (DOCKER_EVENT_LINE_MAX)

static void
seterr(char *err, size_t errlen, const char *fmt, const char *detail)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, fmt, detail != NULL ? detail : "");
}

/* Copies a JSON string member into out; "" when absent or not a string. 1 if truncated. */
static int
str_member(json_t *obj, const char *key, char *out, size_t outlen)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	out[0] = '\0';
	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= outlen) {
		memcpy(out, s, outlen - 1);
		out[outlen - 1] = '\0';
		return 1;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* A Docker ID is 1-64 lowercase hex digits. */
static int
id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return 0;
	return strspn(id, "0123456789abcdef") == n;
}

/* Parses a decimal port "0".."65535" (HostPort is a string in inspect). -1 on junk. */
static int
port_of(const char *s)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 65535)
		return -1;
	return (int)v;
}

/* RFC 3339 (nanoseconds allowed, Z or +hh:mm) to Unix ms; 0 for year 1 or junk. */
static int64_t
time_ms(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0, off = 0;
	long frac_ms = 0;
	const char *p;
	time_t t;

	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
		return 0;
	if (y <= 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return 0;
	p = s + n;
	if (*p == '.') {
		int digits = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		for (; digits < 3; digits++)
			frac_ms *= 10;
	}
	if (*p == '+' || *p == '-') {
		int oh, om;

		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return 0;
		off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return 0;
	return ((int64_t)t - off) * 1000 + frac_ms;
}

static int
port_cmp(const void *a, const void *b)
{
	const struct docker_port *x = a, *y = b;

	if (x->container_port != y->container_port)
		return x->container_port < y->container_port ? -1 : 1;
	return strcmp(x->proto, y->proto);
}

static int
is_v6(const char *ip)
{
	return strchr(ip, ':') != NULL;
}

/*
 * Folds one Docker binding (container port/proto, host IP, host port) into
 * v. Docker publishes hostPort 0 on both 0.0.0.0 and :: with the same port;
 * Docker 20.10.6 gave :: a different random port. So one entry per
 * (port, proto): the IPv4 port wins, a different IPv6 port goes to
 * host_port_v6.
 */
static void
fold_port(struct docker_port *v, int *n, int cport, const char *proto, const char *ip, int hport)
{
	struct docker_port *p = NULL;
	int v6 = is_v6(ip);

	if (hport <= 0)
		return;
	for (int i = 0; i < *n; i++)
		if (v[i].container_port == cport && strcmp(v[i].proto, proto) == 0)
			p = &v[i];
	if (p == NULL) {
		if (*n >= DOCKER_PORTS_MAX)
			return;
		p = &v[(*n)++];
		memset(p, 0, sizeof(*p));
		p->container_port = cport;
		snprintf(p->proto, sizeof(p->proto), "%s", proto);
		snprintf(p->host_ip, sizeof(p->host_ip), "%s", ip);
		p->host_port = hport;
		return;
	}
	if (!v6 && is_v6(p->host_ip)) {
		/* An IPv4 binding after an IPv6 one: IPv4 takes the main slot. */
		if (p->host_port != hport)
			p->host_port_v6 = p->host_port;
		snprintf(p->host_ip, sizeof(p->host_ip), "%s", ip);
		p->host_port = hport;
	} else if (v6 && !is_v6(p->host_ip) && p->host_port != hport && p->host_port_v6 == 0) {
		p->host_port_v6 = hport;
	}
}

/* "8000/tcp" → 8000, "tcp". -1 on junk. */
static int
port_key(const char *key, int *port, char *proto, size_t protolen)
{
	char num[8];
	const char *slash = strchr(key, '/');
	size_t n = slash != NULL ? (size_t)(slash - key) : strlen(key);

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, key, n);
	num[n] = '\0';
	if ((*port = port_of(num)) <= 0)
		return -1;
	snprintf(proto, protolen, "%s", slash != NULL ? slash + 1 : "tcp");
	if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0)
		return -1;
	return 0;
}

/* A PortMap {"8000/tcp":[{"HostIp":"0.0.0.0","HostPort":"32768"},...] or null}. */
static void
port_map(json_t *map, struct docker_port *v, int *n)
{
	const char *key;
	json_t *list, *b;
	size_t i;
	char proto[8], ip[DOCKER_IP_MAX], hp[16];
	int cport, hport;

	*n = 0;
	if (!json_is_object(map))
		return;
	json_object_foreach(map, key, list)
	{
		if (!json_is_array(list) || port_key(key, &cport, proto, sizeof(proto)) != 0)
			continue;
		json_array_foreach(list, i, b)
		{
			if (!json_is_object(b))
				continue;
			str_member(b, "HostIp", ip, sizeof(ip));
			if (str_member(b, "HostPort", hp, sizeof(hp)) != 0)
				continue;
			if ((hport = port_of(hp)) <= 0)
				continue;
			fold_port(v, n, cport, proto, ip[0] != '\0' ? ip : "0.0.0.0", hport);
		}
	}
	qsort(v, (size_t)*n, sizeof(*v), port_cmp);
}

static void
ecs_labels(json_t *labels, struct docker_ecs *e)
{
	memset(e, 0, sizeof(*e));
	if (!json_is_object(labels))
		return;
	str_member(labels, "com.amazonaws.ecs.task-arn", e->task_arn, sizeof(e->task_arn));
	str_member(labels, "com.amazonaws.ecs.container-name", e->container_name,
	           sizeof(e->container_name));
	str_member(labels, "com.amazonaws.ecs.task-definition-family", e->family,
	           sizeof(e->family));
	str_member(labels, "com.amazonaws.ecs.task-definition-version", e->revision,
	           sizeof(e->revision));
	str_member(labels, "com.amazonaws.ecs.cluster", e->cluster, sizeof(e->cluster));
}

static void
set_name(char *out, size_t outlen, const char *name)
{
	if (name[0] == '/')
		name++;
	snprintf(out, outlen, "%s", name);
}

void
docker_container_clear(struct docker_container *c)
{
	if (c == NULL)
		return;
	json_decref(c->labels);
	c->labels = NULL;
}

static json_t *
load(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;

	if ((root = json_loadb(body, len, 0, &je)) == NULL)
		seterr(err, errlen, "bad JSON: %s", je.text);
	return root;
}

int
docker_inspect_parse(const char *body, size_t len, const char *env_name,
                     struct docker_container *out, char *err, size_t errlen)
{
	json_t *root, *cfg, *state, *ns, *hc, *env, *e;
	char name[DOCKER_NAME_MAX];
	size_t i, elen;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if ((root = load(body, len, err, errlen)) == NULL)
		return -EINVAL;
	if (!json_is_object(root)) {
		seterr(err, errlen, "inspect: not an object%s", NULL);
		goto out;
	}
	if (str_member(root, "Id", out->id, sizeof(out->id)) != 0 || !id_ok(out->id)) {
		seterr(err, errlen, "inspect: bad or missing Id%s", NULL);
		goto out;
	}
	str_member(root, "Name", name, sizeof(name));
	set_name(out->name, sizeof(out->name), name);
	state = json_object_get(root, "State");
	if (json_is_object(state)) {
		char t[64];
		json_t *x = json_object_get(state, "ExitCode");

		str_member(state, "Status", out->state, sizeof(out->state));
		if (json_is_integer(x) && json_integer_value(x) >= -1000000 &&
		    json_integer_value(x) <= 1000000)
			out->exit_code = (int)json_integer_value(x);
		str_member(state, "StartedAt", t, sizeof(t));
		out->started_at_ms = time_ms(t);
		str_member(state, "FinishedAt", t, sizeof(t));
		out->finished_at_ms = time_ms(t);
	}
	cfg = json_object_get(root, "Config");
	if (json_is_object(cfg)) {
		json_t *labels = json_object_get(cfg, "Labels");

		if (json_is_object(labels)) {
			out->labels = json_incref(labels);
			ecs_labels(labels, &out->ecs);
		}
		env = json_object_get(cfg, "Env");
		elen = env_name != NULL ? strlen(env_name) : 0;
		/* Read the one variable asked for; never keep or log the rest. */
		if (elen > 0 && json_is_array(env)) {
			json_array_foreach(env, i, e)
			{
				const char *s = json_string_value(e);

				if (s == NULL || strncmp(s, env_name, elen) != 0 || s[elen] != '=')
					continue;
				if (strlen(s + elen + 1) < sizeof(out->env_value)) {
					snprintf(out->env_value, sizeof(out->env_value), "%s",
					         s + elen + 1);
					out->has_env = 1;
				}
			}
		}
	}
	ns = json_object_get(root, "NetworkSettings");
	if (json_is_object(ns))
		port_map(json_object_get(ns, "Ports"), out->ports, &out->nports);
	hc = json_object_get(root, "HostConfig");
	if (json_is_object(hc))
		port_map(json_object_get(hc, "PortBindings"), out->requested, &out->nrequested);
	rc = 0;
out:
	json_decref(root);
	if (rc != 0)
		docker_container_clear(out);
	return rc;
}

void
docker_list_free(struct docker_container *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		docker_container_clear(&v[i]);
	free(v);
}

int
docker_list_parse(const char *body, size_t len, struct docker_container **out, size_t *n, char *err,
                  size_t errlen)
{
	json_t *root, *item, *names, *ports, *p, *labels;
	struct docker_container *v = NULL, *c;
	size_t i, j, k = 0;
	int rc = -EINVAL;

	*out = NULL;
	*n = 0;
	if ((root = load(body, len, err, errlen)) == NULL)
		return -EINVAL;
	if (!json_is_array(root)) {
		seterr(err, errlen, "list: not an array%s", NULL);
		goto out;
	}
	if (json_array_size(root) > 0 && (v = calloc(json_array_size(root), sizeof(*v))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(root, i, item)
	{
		if (!json_is_object(item))
			continue;
		c = &v[k];
		if (str_member(item, "Id", c->id, sizeof(c->id)) != 0 || !id_ok(c->id)) {
			memset(c, 0, sizeof(*c));
			continue;
		}
		names = json_object_get(item, "Names");
		if (json_is_array(names) && json_is_string(json_array_get(names, 0)))
			set_name(c->name, sizeof(c->name),
			         json_string_value(json_array_get(names, 0)));
		str_member(item, "State", c->state, sizeof(c->state));
		labels = json_object_get(item, "Labels");
		if (json_is_object(labels)) {
			c->labels = json_incref(labels);
			ecs_labels(labels, &c->ecs);
		}
		ports = json_object_get(item, "Ports");
		json_array_foreach(ports, j, p)
		{
			json_t *priv = json_object_get(p, "PrivatePort");
			json_t *pub = json_object_get(p, "PublicPort");
			char ip[DOCKER_IP_MAX], type[8];

			/* Here the ports are integers (in inspect, HostPort is a string). */
			if (!json_is_integer(priv) || !json_is_integer(pub))
				continue;
			if (json_integer_value(priv) <= 0 || json_integer_value(priv) > 65535 ||
			    json_integer_value(pub) <= 0 || json_integer_value(pub) > 65535)
				continue;
			str_member(p, "IP", ip, sizeof(ip));
			str_member(p, "Type", type, sizeof(type));
			if (strcmp(type, "tcp") != 0 && strcmp(type, "udp") != 0 &&
			    strcmp(type, "sctp") != 0)
				continue;
			fold_port(c->ports, &c->nports, (int)json_integer_value(priv), type,
			          ip[0] != '\0' ? ip : "0.0.0.0", (int)json_integer_value(pub));
		}
		qsort(c->ports, (size_t)c->nports, sizeof(c->ports[0]), port_cmp);
		k++;
	}
	*out = v;
	*n = k;
	v = NULL;
	rc = 0;
out:
	json_decref(root);
	free(v);
	return rc;
}

int
docker_event_parse(const char *line, size_t len, struct docker_event *out, char *err, size_t errlen)
{
	json_t *root, *actor, *attrs, *tn, *t;
	char code[16];
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (len > EVENT_JSON_MAX) {
		seterr(err, errlen, "event: line too long%s", NULL);
		return -E2BIG;
	}
	if ((root = load(line, len, err, errlen)) == NULL)
		return -EINVAL;
	if (!json_is_object(root)) {
		seterr(err, errlen, "event: not an object%s", NULL);
		goto out;
	}
	/* API >= 1.52 has no legacy status/id/from: read Type, Action, Actor.ID first. */
	str_member(root, "Type", out->type, sizeof(out->type));
	str_member(root, "Action", out->action, sizeof(out->action));
	actor = json_object_get(root, "Actor");
	attrs = json_object_get(actor, "Attributes");
	if (json_is_object(actor))
		str_member(actor, "ID", out->id, sizeof(out->id));
	if (out->action[0] == '\0')
		str_member(root, "status", out->action, sizeof(out->action));
	if (out->id[0] == '\0')
		str_member(root, "id", out->id, sizeof(out->id));
	if (out->type[0] == '\0' && out->id[0] != '\0')
		snprintf(out->type, sizeof(out->type), "container");
	if (out->action[0] == '\0' || out->type[0] == '\0') {
		seterr(err, errlen, "event: no Type or Action%s", NULL);
		goto out;
	}
	if (json_is_object(attrs)) {
		char name[DOCKER_NAME_MAX];

		str_member(attrs, "name", name, sizeof(name));
		set_name(out->name, sizeof(out->name), name);
		if (str_member(attrs, "exitCode", code, sizeof(code)) == 0 && code[0] != '\0') {
			char *end;
			long v;

			errno = 0;
			v = strtol(code, &end, 10);
			if (errno == 0 && *end == '\0' && v >= -1000000 && v <= 1000000) {
				out->exit_code = (int)v;
				out->has_exit_code = 1;
			}
		}
	}
	tn = json_object_get(root, "timeNano");
	t = json_object_get(root, "time");
	if (json_is_integer(tn) && json_integer_value(tn) > 0)
		out->time_nano = json_integer_value(tn);
	else if (json_is_integer(t) && json_integer_value(t) > 0 &&
	         json_integer_value(t) < INT64_MAX / 1000000000)
		out->time_nano = json_integer_value(t) * 1000000000;
	if (strcmp(out->type, "container") == 0 && !id_ok(out->id)) {
		seterr(err, errlen, "event: bad container ID%s", NULL);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

void
docker_error_message(const char *body, size_t len, char *out, size_t outlen)
{
	json_t *root;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (body == NULL || len == 0 || (root = json_loadb(body, len, 0, NULL)) == NULL)
		return;
	if (json_is_object(root))
		str_member(root, "message", out, outlen);
	json_decref(root);
}

void
docker_lines_init(struct docker_lines *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max;
}

void
docker_lines_free(struct docker_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
}

int
docker_lines_feed(struct docker_lines *l, const char *buf, size_t len, docker_line_cb cb, void *arg)
{
	int lines = 0;
	const char *nl;
	size_t n, cap;
	char *p;

	while (len > 0) {
		nl = memchr(buf, '\n', len);
		n = nl != NULL ? (size_t)(nl - buf) : len;
		if (l->skipping) {
			if (nl != NULL)
				l->skipping = 0;
		} else if (l->len + n > l->max) {
			/* Over the cap: drop this line whole, up to its newline. */
			l->dropped++;
			l->len = 0;
			l->skipping = nl == NULL;
		} else if (nl != NULL && l->len == 0) {
			/* The common case: a whole line in the chunk, no copy. */
			if (n > 0) {
				cb(buf, n, arg);
				lines++;
			}
		} else {
			if (l->len + n > l->cap) {
				cap = l->cap != 0 ? l->cap : 4096;
				while (cap < l->len + n)
					cap *= 2;
				if ((p = realloc(l->buf, cap)) == NULL)
					return -ENOMEM;
				l->buf = p;
				l->cap = cap;
			}
			memcpy(l->buf + l->len, buf, n);
			l->len += n;
			if (nl != NULL) {
				if (l->len > 0) {
					cb(l->buf, l->len, arg);
					lines++;
				}
				l->len = 0;
			}
		}
		if (nl == NULL)
			break;
		buf = nl + 1;
		len -= n + 1;
	}
	return lines;
}
