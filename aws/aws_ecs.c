/*
 * ECS calls: request building, answer parsing, the call wrappers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/aws_ecs.h"

enum ecs_kind { ECS_RUN, ECS_DESCRIBE, ECS_STOP, ECS_LIST, ECS_TASKDEF };

struct ecs_op {
	struct aws_call *call;
	enum ecs_kind kind;
	ecs_cb cb;
	void *arg;
};

static int
started_by_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ECS_STARTED_BY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '/' || c == '-'))
			return 0;
	}
	return 1;
}

static int
client_token_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ECS_CLIENT_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
			return 0;
	return 1;
}

static json_t *
kv_array(const struct ecs_kv *kv, size_t n, const char *k, const char *v)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", k, kv[i].name, v, kv[i].value));
	return a;
}

json_t *
ecs_run_task_request(const struct ecs_run_task *p, char *err, size_t errlen)
{
	json_t *req = NULL, *ov;
	char *dump;
	size_t n;

	if (p->cluster == NULL || p->task_definition == NULL || p->container_name == NULL ||
	    p->cluster[0] == '\0' || p->task_definition[0] == '\0' ||
	    p->container_name[0] == '\0') {
		snprintf(err, errlen,
		         "RunTask needs a cluster, a task definition and a container name");
		return NULL;
	}
	if (p->client_token == NULL || !client_token_ok(p->client_token)) {
		snprintf(err, errlen, "clientToken must be 1-64 printable ASCII characters");
		return NULL;
	}
	if (p->started_by != NULL && !started_by_ok(p->started_by)) {
		snprintf(err, errlen, "startedBy must be at most 128 of [A-Za-z0-9_/-]");
		return NULL;
	}
	if (p->n_tags > 50) {
		snprintf(err, errlen, "at most 50 tags");
		return NULL;
	}
	for (size_t i = 0; i < p->n_env; i++) {
		if (p->env[i].name == NULL || p->env[i].value == NULL ||
		    p->env[i].name[0] == '\0') {
			snprintf(err, errlen, "environment entries need a name and a value");
			return NULL;
		}
	}
	ov = json_pack("{s:[{s:s, s:o}]}", "containerOverrides", "name", p->container_name,
	               "environment", kv_array(p->env, p->n_env, "name", "value"));
	if (ov == NULL) {
		snprintf(err, errlen, "environment values must be UTF-8");
		return NULL;
	}
	/* ECS refuses overrides longer than 8192 characters. */
	if ((dump = json_dumps(ov, JSON_COMPACT)) == NULL) {
		json_decref(ov);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = strlen(dump);
	free(dump);
	if (n > ECS_OVERRIDES_MAX) {
		json_decref(ov);
		snprintf(err, errlen, "container overrides are %zu characters, over ECS's 8192", n);
		return NULL;
	}
	req = json_pack("{s:s, s:s, s:i, s:s, s:s, s:o}", "cluster", p->cluster, "taskDefinition",
	                p->task_definition, "count", 1, "launchType",
	                p->launch_type != NULL ? p->launch_type : "EC2", "clientToken",
	                p->client_token, "overrides", ov);
	if (req == NULL) {
		snprintf(err, errlen, "RunTask fields must be UTF-8");
		return NULL;
	}
	if (p->started_by != NULL)
		json_object_set_new(req, "startedBy", json_string(p->started_by));
	if (p->n_tags > 0)
		json_object_set_new(req, "tags", kv_array(p->tags, p->n_tags, "key", "value"));
	return req;
}

static int
str_field(json_t *o, const char *name, char *out, size_t outlen, int required, char *err,
          size_t errlen)
{
	json_t *v = json_object_get(o, name);

	out[0] = '\0';
	if (v == NULL || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "ECS answer: %s is missing", name);
			return -EPROTO;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "ECS answer: %s is not a string", name);
		return -EPROTO;
	}
	if (json_string_length(v) >= outlen) {
		snprintf(err, errlen, "ECS answer: %s is too long", name);
		return -EPROTO;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int
port_field(json_t *o, const char *name, int *out)
{
	json_t *v = json_object_get(o, name);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
		return -EPROTO;
	*out = (int)json_integer_value(v);
	return 0;
}

static int
parse_container(json_t *o, struct ecs_container *c, char *err, size_t errlen)
{
	json_t *nb, *b, *v;
	size_t i;
	int rc;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "ECS answer: a container is not an object");
		return -EPROTO;
	}
	if ((rc = str_field(o, "name", c->name, sizeof(c->name), 0, err, errlen)) != 0 ||
	    (rc = str_field(o, "runtimeId", c->runtime_id, sizeof(c->runtime_id), 0, err,
	                    errlen)) != 0 ||
	    (rc = str_field(o, "lastStatus", c->last_status, sizeof(c->last_status), 0, err,
	                    errlen)) != 0)
		return rc;
	if ((v = json_object_get(o, "exitCode")) != NULL && json_is_integer(v)) {
		c->has_exit_code = 1;
		c->exit_code = (int)json_integer_value(v);
	}
	nb = json_object_get(o, "networkBindings");
	if (nb == NULL)
		return 0;
	if (!json_is_array(nb)) {
		snprintf(err, errlen, "ECS answer: networkBindings is not an array");
		return -EPROTO;
	}
	json_array_foreach(nb, i, b)
	{
		struct ecs_binding *eb;
		if (c->n_bindings >= ECS_BINDINGS_MAX)
			break;
		if (!json_is_object(b))
			continue;
		eb = &c->bindings[c->n_bindings];
		memset(eb, 0, sizeof(*eb));
		if (str_field(b, "bindIP", eb->bind_ip, sizeof(eb->bind_ip), 0, err, errlen) != 0 ||
		    str_field(b, "protocol", eb->protocol, sizeof(eb->protocol), 0, err, errlen) !=
		        0 ||
		    port_field(b, "containerPort", &eb->container_port) != 0 ||
		    port_field(b, "hostPort", &eb->host_port) != 0) {
			snprintf(err, errlen, "ECS answer: a network binding is malformed");
			return -EPROTO;
		}
		/* A range mapping has no single hostPort: skip it. */
		if (eb->host_port == 0)
			continue;
		if (eb->protocol[0] == '\0')
			snprintf(eb->protocol, sizeof(eb->protocol), "tcp");
		c->n_bindings++;
	}
	return 0;
}

int
ecs_parse_task(json_t *o, struct ecs_task *t, char *err, size_t errlen)
{
	json_t *cs, *c, *v;
	size_t i;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "ECS answer: a task is not an object");
		return -EPROTO;
	}
	if ((rc = str_field(o, "taskArn", t->arn, sizeof(t->arn), 1, err, errlen)) != 0 ||
	    (rc = str_field(o, "lastStatus", t->last_status, sizeof(t->last_status), 0, err,
	                    errlen)) != 0 ||
	    (rc = str_field(o, "desiredStatus", t->desired_status, sizeof(t->desired_status), 0,
	                    err, errlen)) != 0 ||
	    (rc = str_field(o, "startedBy", t->started_by, sizeof(t->started_by), 0, err,
	                    errlen)) != 0 ||
	    (rc = str_field(o, "stopCode", t->stop_code, sizeof(t->stop_code), 0, err, errlen)) !=
	        0 ||
	    (rc = str_field(o, "containerInstanceArn", t->container_instance_arn,
	                    sizeof(t->container_instance_arn), 0, err, errlen)) != 0)
		return rc;
	/* A long reason is cut, not refused: it is only shown to people. */
	if ((v = json_object_get(o, "stoppedReason")) != NULL && json_is_string(v))
		snprintf(t->stopped_reason, sizeof(t->stopped_reason), "%s", json_string_value(v));
	if ((v = json_object_get(o, "version")) != NULL && json_is_integer(v))
		t->version = json_integer_value(v);
	cs = json_object_get(o, "containers");
	if (cs != NULL && !json_is_array(cs)) {
		snprintf(err, errlen, "ECS answer: containers is not an array");
		return -EPROTO;
	}
	json_array_foreach(cs, i, c)
	{
		if (t->n_containers >= ECS_CONTAINERS_MAX)
			break;
		if ((rc = parse_container(c, &t->containers[t->n_containers], err, errlen)) != 0)
			return rc;
		t->n_containers++;
	}
	return 0;
}

int
ecs_parse_task_arns(json_t *body, char (**arns)[ECS_ARN_MAX], int *n, char *err, size_t errlen)
{
	json_t *a, *v;
	size_t i;

	*arns = NULL;
	*n = 0;
	a = json_object_get(body, "taskArns");
	if (!json_is_object(body) || !json_is_array(a)) {
		snprintf(err, errlen, "ECS answer has no taskArns array");
		return -EPROTO;
	}
	if (json_array_size(a) > ECS_LIST_MAX) {
		snprintf(err, errlen, "ECS answer: too many task ARNs");
		return -EPROTO;
	}
	if (json_array_size(a) > 0 && (*arns = calloc(json_array_size(a), sizeof(**arns))) == NULL)
		return -ENOMEM;
	json_array_foreach(a, i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL || s[0] == '\0' || strlen(s) >= ECS_ARN_MAX) {
			snprintf(err, errlen, "ECS answer: taskArns[%zu] is not a task ARN", i);
			free(*arns);
			*arns = NULL;
			*n = 0;
			return -EPROTO;
		}
		memcpy((*arns)[*n], s, strlen(s) + 1);
		(*n)++;
	}
	return 0;
}

int
ecs_parse_tasks(json_t *body, struct ecs_task **tasks, int *n_tasks, struct ecs_failure **failures,
                int *n_failures, char *err, size_t errlen)
{
	json_t *ts, *fs, *one, *f;
	size_t i, n;
	int rc = 0;

	*tasks = NULL;
	*failures = NULL;
	*n_tasks = *n_failures = 0;
	if (!json_is_object(body)) {
		snprintf(err, errlen, "ECS answer is not an object");
		return -EPROTO;
	}
	ts = json_object_get(body, "tasks");
	one = json_object_get(body, "task");
	fs = json_object_get(body, "failures");
	if ((ts != NULL && !json_is_array(ts)) || (fs != NULL && !json_is_array(fs))) {
		snprintf(err, errlen, "ECS answer: tasks or failures is not an array");
		return -EPROTO;
	}
	n = (ts != NULL ? json_array_size(ts) : 0) + (one != NULL ? 1 : 0);
	if (n > ECS_DESCRIBE_MAX) {
		snprintf(err, errlen, "ECS answer: too many tasks");
		return -EPROTO;
	}
	if (n > 0 && (*tasks = calloc(n, sizeof(**tasks))) == NULL)
		return -ENOMEM;
	if (one != NULL) {
		if ((rc = ecs_parse_task(one, &(*tasks)[0], err, errlen)) != 0)
			goto fail;
		*n_tasks = 1;
	}
	json_array_foreach(ts, i, one)
	{
		if ((rc = ecs_parse_task(one, &(*tasks)[*n_tasks], err, errlen)) != 0)
			goto fail;
		(*n_tasks)++;
	}
	n = fs != NULL ? json_array_size(fs) : 0;
	if (n > ECS_DESCRIBE_MAX)
		n = ECS_DESCRIBE_MAX;
	if (n > 0 && (*failures = calloc(n, sizeof(**failures))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	json_array_foreach(fs, i, f)
	{
		struct ecs_failure *x;
		json_t *v;
		if ((size_t)*n_failures >= n)
			break;
		if (!json_is_object(f))
			continue;
		x = &(*failures)[(*n_failures)++];
		if ((v = json_object_get(f, "arn")) != NULL && json_is_string(v))
			snprintf(x->arn, sizeof(x->arn), "%s", json_string_value(v));
		if ((v = json_object_get(f, "reason")) != NULL && json_is_string(v))
			snprintf(x->reason, sizeof(x->reason), "%s", json_string_value(v));
		if ((v = json_object_get(f, "detail")) != NULL && json_is_string(v))
			snprintf(x->detail, sizeof(x->detail), "%s", json_string_value(v));
	}
	return 0;
fail:
	free(*tasks);
	free(*failures);
	*tasks = NULL;
	*failures = NULL;
	*n_tasks = *n_failures = 0;
	return rc;
}

int
ecs_taskdef_check(json_t *td, const char *container, int container_port, char *err, size_t errlen)
{
	json_t *cds, *cd = NULL, *x, *pms, *pm;
	const char *mode;
	size_t i;
	int found = 0;

	if (!json_is_object(td)) {
		snprintf(err, errlen, "the task definition is not an object");
		return -EINVAL;
	}
	x = json_object_get(td, "networkMode");
	mode = json_is_string(x) ? json_string_value(x) : "bridge"; /* EC2's default is bridge */
	if (strcmp(mode, "bridge") != 0) {
		snprintf(
		    err, errlen,
		    "task definition uses network mode \"%s\"; berth needs \"bridge\" (host ports "
		    "are published per container)",
		    mode);
		return -EINVAL;
	}
	cds = json_object_get(td, "containerDefinitions");
	json_array_foreach(cds, i, x)
	{
		json_t *n = json_object_get(x, "name");
		if (json_is_string(n) && strcmp(json_string_value(n), container) == 0)
			cd = x;
	}
	if (cd == NULL) {
		snprintf(err, errlen, "task definition has no container named \"%s\"", container);
		return -EINVAL;
	}
	pms = json_object_get(cd, "portMappings");
	json_array_foreach(pms, i, pm)
	{
		json_t *cp = json_object_get(pm, "containerPort"),
		       *hp = json_object_get(pm, "hostPort");
		if (!json_is_integer(cp) || json_integer_value(cp) != container_port)
			continue;
		found = 1;
		if (hp != NULL && json_is_integer(hp) && json_integer_value(hp) != 0) {
			snprintf(
			    err, errlen,
			    "container \"%s\" maps port %d to fixed host port %lld; berth needs "
			    "hostPort 0 (a dynamic port) so tenants can share a host",
			    container, container_port, (long long)json_integer_value(hp));
			return -EINVAL;
		}
	}
	if (!found) {
		snprintf(err, errlen, "container \"%s\" has no port mapping for container port %d",
		         container, container_port);
		return -EINVAL;
	}
	return 0;
}

/* --- calls -------------------------------------------------------------- */

static void
op_done(const struct aws_result *r, void *arg)
{
	struct ecs_op *op = arg;
	struct ecs_result res;

	memset(&res, 0, sizeof(res));
	res.aws = r;
	res.error = r->error;
	if (r->error != 0) {
		aws_result_str(r, res.errmsg, sizeof(res.errmsg));
		goto out;
	}
	if (op->kind == ECS_TASKDEF) {
		res.task_definition = json_object_get(r->body, "taskDefinition");
		if (!json_is_object(res.task_definition)) {
			res.error = -EPROTO;
			snprintf(res.errmsg, sizeof(res.errmsg),
			         "ECS answer has no taskDefinition");
		}
		goto out;
	}
	if (op->kind == ECS_LIST) {
		const char *tok = json_string_value(json_object_get(r->body, "nextToken"));

		res.error = ecs_parse_task_arns(r->body, &res.task_arns, &res.n_task_arns,
		                                res.errmsg, sizeof(res.errmsg));
		if (res.error == 0 && tok != NULL) {
			if (strlen(tok) >= sizeof(res.next_token)) {
				res.error = -EPROTO;
				snprintf(res.errmsg, sizeof(res.errmsg),
				         "ECS answer: nextToken too long");
			} else {
				memcpy(res.next_token, tok, strlen(tok) + 1);
			}
		}
		goto out;
	}
	res.error = ecs_parse_tasks(r->body, &res.tasks, &res.n_tasks, &res.failures,
	                            &res.n_failures, res.errmsg, sizeof(res.errmsg));
out:
	op->cb(&res, op->arg);
	free(res.tasks);
	free(res.failures);
	free(res.task_arns);
	free(op);
}

static struct ecs_op *
op_start(struct aws *a, enum ecs_kind kind, const char *name, json_t *req, ecs_cb cb, void *arg)
{
	struct ecs_op *op;

	if (req == NULL)
		return NULL;
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		json_decref(req);
		return NULL;
	}
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	if ((op->call = aws_call(a, AWS_ECS, name, req, op_done, op)) == NULL) {
		free(op);
		return NULL;
	}
	return op;
}

struct ecs_op *
aws_ecs_run_task(struct aws *a, const struct ecs_run_task *p, ecs_cb cb, void *arg, char *err,
                 size_t errlen)
{
	json_t *req = ecs_run_task_request(p, err, errlen);
	struct ecs_op *op;

	if (req == NULL)
		return NULL;
	if ((op = op_start(a, ECS_RUN, "RunTask", req, cb, arg)) == NULL)
		snprintf(err, errlen, "cannot start RunTask");
	return op;
}

struct ecs_op *
aws_ecs_describe_tasks(struct aws *a, const char *cluster, const char *const *tasks, size_t n,
                       ecs_cb cb, void *arg)
{
	json_t *req, *arr;

	if (n == 0 || n > ECS_DESCRIBE_MAX)
		return NULL;
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(tasks[i]));
	req = json_pack("{s:s, s:o}", "cluster", cluster, "tasks", arr);
	return op_start(a, ECS_DESCRIBE, "DescribeTasks", req, cb, arg);
}

struct ecs_op *
aws_ecs_stop_task(struct aws *a, const char *cluster, const char *task, const char *reason,
                  ecs_cb cb, void *arg)
{
	json_t *req = json_pack("{s:s, s:s}", "cluster", cluster, "task", task);

	if (req != NULL && reason != NULL && reason[0] != '\0')
		json_object_set_new(req, "reason", json_string(reason));
	return op_start(a, ECS_STOP, "StopTask", req, cb, arg);
}

struct ecs_op *
aws_ecs_list_tasks(struct aws *a, const char *cluster, const char *started_by,
                   const char *next_token, ecs_cb cb, void *arg)
{
	/* startedBy must be the only filter: RUNNING is the desired status ECS lists by default. */
	json_t *req = json_pack("{s:s, s:s, s:i}", "cluster", cluster, "startedBy", started_by,
	                        "maxResults", ECS_LIST_MAX);

	if (req != NULL && next_token != NULL && next_token[0] != '\0')
		json_object_set_new(req, "nextToken", json_string(next_token));
	return op_start(a, ECS_LIST, "ListTasks", req, cb, arg);
}

struct ecs_op *
aws_ecs_describe_task_definition(struct aws *a, const char *td, ecs_cb cb, void *arg)
{
	return op_start(a, ECS_TASKDEF, "DescribeTaskDefinition",
	                json_pack("{s:s}", "taskDefinition", td), cb, arg);
}

void
ecs_cancel(struct ecs_op *op)
{
	aws_call_cancel(op->call);
	free(op);
}
