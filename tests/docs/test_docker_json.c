/*
 * The deployment files under docker/: every JSON file parses, the ECS task
 * and service definitions say what docs/deploy.md promises (bridge and
 * hostPort 0 for tenants, host network and a read-only Docker socket for the
 * sidecar, a DAEMON service), the IAM policies stay least-privilege, and the
 * files agree with each other (family, container, roles, table, cluster).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "tests/lib/testlib.h"

#define PATH_CAP  1024
#define FILES_MAX 64

static char docker_dir[PATH_CAP];

/* out = a "/" b; a path longer than PATH_CAP fails the test. */
static void
pjoin(char *out, const char *a, const char *b)
{
	if (snprintf(out, PATH_CAP, "%s/%s", a, b) >= PATH_CAP)
		fail_msg("path too long: %s/%s", a, b);
}

static json_t *
load(const char *rel)
{
	char path[PATH_CAP];
	json_error_t jerr;
	json_t *j;

	pjoin(path, docker_dir, rel);
	if ((j = json_load_file(path, 0, &jerr)) == NULL)
		fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
	return j;
}

/*
 * Walks a dotted path: "containerDefinitions.0.portMappings.0.hostPort".
 * A segment of digits indexes an array. Returns borrowed or NULL.
 */
static json_t *
at(json_t *j, const char *path)
{
	char seg[128];
	const char *p = path;

	while (j != NULL && *p != '\0') {
		size_t n = strcspn(p, ".");
		char *end;
		long idx;

		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, p, n);
		seg[n] = '\0';
		p += n + (p[n] == '.');
		if (json_is_array(j)) {
			idx = strtol(seg, &end, 10);
			if (*end != '\0' || idx < 0)
				return NULL;
			j = json_array_get(j, (size_t)idx);
		} else {
			j = json_object_get(j, seg);
		}
	}
	return j;
}

static const char *
str_at(json_t *j, const char *path)
{
	const char *s = json_string_value(at(j, path));

	return s != NULL ? s : "";
}

/* The value of environment variable name in container c, or NULL. */
/* The field field of the entry called name in container c's list list, or NULL. */
static const char *
entry_of(json_t *c, const char *list, const char *name, const char *field)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(c, list), i, e)
	{
		if (strcmp(str_at(e, "name"), name) == 0)
			return json_string_value(json_object_get(e, field));
	}
	return NULL;
}

static const char *
env_of(json_t *c, const char *name)
{
	return entry_of(c, "environment", name, "value");
}

/* The valueFrom of secret name of container c ("" when none). */
static const char *
secret_of(json_t *c, const char *name)
{
	const char *v = entry_of(c, "secrets", name, "valueFrom");

	return v != NULL ? v : "";
}

/* The host sourcePath of task volume name, or "". */
static const char *
volume_source(json_t *td, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(td, "volumes"), i, v)
	{
		if (strcmp(str_at(v, "name"), name) == 0)
			return str_at(v, "host.sourcePath");
	}
	return "";
}

/* The mount point of container c at containerPath, or NULL. */
static json_t *
mount_at(json_t *c, const char *container_path)
{
	size_t i;
	json_t *m;

	json_array_foreach(json_object_get(c, "mountPoints"), i, m)
	{
		if (strcmp(str_at(m, "containerPath"), container_path) == 0)
			return m;
	}
	return NULL;
}

/* Collects every *.json below dir (relative paths); returns the count. */
static int
find_json(const char *dir, const char *rel, char files[][PATH_CAP], int n)
{
	char path[PATH_CAP];
	struct dirent *de;
	DIR *d;

	pjoin(path, dir, rel);
	if ((d = opendir(path)) == NULL)
		fail_msg("cannot open %s", path);
	while ((de = readdir(d)) != NULL) {
		char sub[PATH_CAP], full[PATH_CAP];
		struct stat st;
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (*rel != '\0')
			pjoin(sub, rel, de->d_name);
		else if (snprintf(sub, sizeof(sub), "%s", de->d_name) >= (int)sizeof(sub))
			fail_msg("name too long: %s", de->d_name);
		pjoin(full, dir, sub);
		if (stat(full, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			n = find_json(dir, sub, files, n);
		} else if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
			if (n >= FILES_MAX)
				fail_msg("more than %d JSON files under docker/", FILES_MAX);
			snprintf(files[n++], PATH_CAP, "%s", sub);
		}
	}
	closedir(d);
	return n;
}

/* Every JSON file parses; each is a task definition, a service, or a policy. */
static void
test_every_file_parses(void **state)
{
	static char files[FILES_MAX][PATH_CAP];
	int n, i, policies = 0, tasks = 0, services = 0;

	(void)state;
	n = find_json(docker_dir, "", files, 0);
	assert_true(n >= 5);
	for (i = 0; i < n; i++) {
		json_t *j = load(files[i]);

		if (json_object_get(j, "containerDefinitions") != NULL) {
			tasks++;
			if (json_string_value(json_object_get(j, "family")) == NULL)
				fail_msg("%s: a task definition without a family", files[i]);
		} else if (json_object_get(j, "serviceName") != NULL) {
			services++;
		} else if (json_object_get(j, "Statement") != NULL) {
			policies++;
			if (strcmp(str_at(j, "Version"), "2012-10-17") != 0)
				fail_msg("%s: policy Version is not 2012-10-17", files[i]);
		} else {
			fail_msg("%s: neither a task definition, a service nor a policy", files[i]);
		}
		json_decref(j);
	}
	assert_int_equal(tasks, 3);
	assert_true(services >= 1);
	assert_true(policies >= 2);
}

/* A data-driven table of facts: file, path, expected string or integer. */
struct fact {
	const char *file;
	const char *path;
	const char *str; /* NULL: compare as integer or boolean */
	long num;
};

static const struct fact facts[] = {
    /* The tenant app, as the task definition it replaces: bridge, EC2, 8000 -> hostPort 0. */
    {"ecs/tenant-app.json", "networkMode", "bridge", 0},
    {"ecs/tenant-app.json", "requiresCompatibilities.0", "EC2", 0},
    {"ecs/tenant-app.json", "cpu", "256", 0},
    {"ecs/tenant-app.json", "memory", "256", 0},
    {"ecs/tenant-app.json", "containerDefinitions.0.portMappings.0.containerPort", NULL, 8000},
    {"ecs/tenant-app.json", "containerDefinitions.0.portMappings.0.hostPort", NULL, 0},
    {"ecs/tenant-app.json", "containerDefinitions.0.portMappings.0.protocol", "tcp", 0},
    /* The sidecar: host network (agent on 127.0.0.1:51678, IMDS), EC2 only. */
    {"ecs/berth-sidecar.json", "networkMode", "host", 0},
    {"ecs/berth-sidecar.json", "requiresCompatibilities.0", "EC2", 0},
    {"ecs/berth-sidecar.json", "containerDefinitions.0.essential", NULL, 1},
    {"ecs/berth-sidecar.json", "containerDefinitions.0.command.0", "berth-sidecar", 0},
    {"ecs/berth-sidecar.json", "containerDefinitions.0.linuxParameters.capabilities.drop.0", "ALL",
     0},
    {"ecs/berth-sidecar.json", "containerDefinitions.0.readonlyRootFilesystem", NULL, 1},
    {"ecs/berth-sidecar.json", "containerDefinitions.0.healthCheck.command.1",
     "/usr/local/bin/berth-healthcheck", 0},
    /* One sidecar per host. */
    {"ecs/berth-sidecar-service.json", "schedulingStrategy", "DAEMON", 0},
    {"ecs/berth-sidecar-service.json", "taskDefinition", "berth-sidecar", 0},
    {"ecs/berth-sidecar-service.json", "launchType", "EC2", 0},
    /* The launcher: the ecs backend, non-root. */
    {"ecs/berth-launcher.json", "requiresCompatibilities.0", "EC2", 0},
    /* Host network: it reaches the sidecar's 127.0.0.1:9680 on the same host. */
    {"ecs/berth-launcher.json", "networkMode", "host", 0},
    {"ecs/berth-launcher.json", "containerDefinitions.0.command.0", "berth-launcher", 0},
    {"ecs/berth-launcher.json", "containerDefinitions.0.user", "10001:10001", 0},
    {"ecs/berth-launcher-service.json", "taskDefinition", "berth-launcher", 0},
    {"ecs/berth-launcher-service.json", "schedulingStrategy", "REPLICA", 0},
    {"ecs/berth-launcher-service.json", "placementConstraints.0.expression",
     "attribute:berth_launcher == true", 0},
};

static void
test_facts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
		const struct fact *f = &facts[i];
		json_t *j = load(f->file), *v = at(j, f->path);

		if (v == NULL)
			fail_msg("%s: %s is missing", f->file, f->path);
		if (f->str != NULL) {
			if (!json_is_string(v) || strcmp(json_string_value(v), f->str) != 0)
				fail_msg("%s: %s is not \"%s\"", f->file, f->path, f->str);
		} else if (json_is_boolean(v)) {
			if ((long)json_is_true(v) != f->num)
				fail_msg("%s: %s is not %s", f->file, f->path,
				         f->num ? "true" : "false");
		} else if (!json_is_integer(v) || json_integer_value(v) != f->num) {
			fail_msg("%s: %s is not %ld", f->file, f->path, f->num);
		}
		json_decref(j);
	}
}

/* The sidecar mounts the Docker socket read-only and shares /var/lib/berth with the host. */
static void
test_sidecar_mounts(void **state)
{
	json_t *td = load("ecs/berth-sidecar.json");
	json_t *c = at(td, "containerDefinitions.0"), *sock, *data;
	const char *db;

	(void)state;
	sock = mount_at(c, "/var/run/docker.sock");
	assert_non_null(sock);
	assert_true(json_is_true(json_object_get(sock, "readOnly")));
	assert_string_equal(volume_source(td, str_at(sock, "sourceVolume")),
	                    "/var/run/docker.sock");
	data = mount_at(c, "/var/lib/berth");
	assert_non_null(data);
	assert_false(json_is_true(json_object_get(data, "readOnly")));
	assert_string_equal(volume_source(td, str_at(data, "sourceVolume")), "/var/lib/berth");
	/* The registry file lives on that host volume, and nothing publishes a port. */
	db = env_of(c, "BERTH_DB");
	assert_non_null(db);
	assert_int_equal(strncmp(db, "/var/lib/berth/", 15), 0);
	assert_null(json_object_get(c, "portMappings"));
	assert_false(json_is_true(json_object_get(c, "privileged")));
	json_decref(td);
}

/* No statement allows every action of a service, and only ECS's
 * DescribeTaskDefinition (which takes no resource ARN) gets Resource "*". */
static void
check_policy_shape(const char *file)
{
	json_t *p = load(file), *st;
	size_t i;

	json_array_foreach(json_object_get(p, "Statement"), i, st)
	{
		json_t *act = json_object_get(st, "Action"), *res = json_object_get(st, "Resource");
		json_t *a, *r;
		size_t k;
		int star = 0;

		if (strcmp(str_at(st, "Effect"), "Allow") != 0)
			continue;
		if (json_is_string(act))
			act = json_pack("[O]", act);
		else
			json_incref(act);
		if (json_is_string(res))
			res = json_pack("[O]", res);
		else
			json_incref(res);
		if (!json_is_array(act) || !json_is_array(res))
			fail_msg("%s: statement %zu needs Action and Resource", file, i);
		json_array_foreach(act, k, a)
		{
			const char *s = json_string_value(a);

			if (s == NULL || strchr(s, '*') != NULL)
				fail_msg("%s: statement %zu allows a wildcard action", file, i);
		}
		json_array_foreach(res, k, r)
		{
			if (strcmp(json_string_value(r), "*") == 0)
				star = 1;
		}
		/*
		 * "*" only where IAM allows nothing narrower: DescribeTaskDefinition
		 * (no resource-level permissions), and ListTasks without a
		 * container-instance filter, which must then carry ecs:cluster.
		 */
		if (star) {
			const char *only = json_array_size(act) == 1
			                       ? json_string_value(json_array_get(act, 0))
			                       : "";
			json_t *cond =
			    json_object_get(json_object_get(st, "Condition"), "ArnEquals");

			if (strcmp(only, "ecs:DescribeTaskDefinition") != 0 &&
			    !(strcmp(only, "ecs:ListTasks") == 0 &&
			      json_object_get(cond, "ecs:cluster") != NULL))
				fail_msg("%s: statement %zu grants Resource \"*\"", file, i);
		}
		json_decref(act);
		json_decref(res);
	}
	json_decref(p);
}

static void
test_policies_least_privilege(void **state)
{
	(void)state;
	check_policy_shape("iam/berth-launcher-policy.json");
	check_policy_shape("iam/berth-sidecar-policy.json");
	check_policy_shape("iam/berth-ops-policy.json");
	check_policy_shape("iam/berth-task-execution-policy.json");
}

/* Does policy p allow action on a resource equal to res? */
static int
allows(json_t *p, const char *action, const char *res)
{
	json_t *st;
	size_t i;

	json_array_foreach(json_object_get(p, "Statement"), i, st)
	{
		json_t *act = json_object_get(st, "Action"), *rs = json_object_get(st, "Resource");
		int a_ok = 0, r_ok = 0;
		json_t *x;
		size_t k;

		if (json_is_string(act))
			a_ok = strcmp(json_string_value(act), action) == 0;
		json_array_foreach(act, k, x) a_ok |= strcmp(json_string_value(x), action) == 0;
		if (json_is_string(rs))
			r_ok = strcmp(json_string_value(rs), res) == 0;
		json_array_foreach(rs, k, x) r_ok |= strcmp(json_string_value(x), res) == 0;
		if (a_ok && r_ok)
			return 1;
	}
	return 0;
}

/* Does any statement of p mention an action with this prefix ("ecs:")? */
static int
mentions(json_t *p, const char *prefix)
{
	json_t *st, *x;
	size_t i, k;

	json_array_foreach(json_object_get(p, "Statement"), i, st)
	{
		json_t *act = json_object_get(st, "Action");

		if (json_is_string(act) &&
		    strncmp(json_string_value(act), prefix, strlen(prefix)) == 0)
			return 1;
		json_array_foreach(act, k, x)
		{
			if (strncmp(json_string_value(x), prefix, strlen(prefix)) == 0)
				return 1;
		}
	}
	return 0;
}

/* The files agree: family, container name, roles, table and cluster. */
static void
test_cross_references(void **state)
{
	json_t *tenant = load("ecs/tenant-app.json"), *launcher = load("ecs/berth-launcher.json");
	json_t *sidecar = load("ecs/berth-sidecar.json"),
	       *lp = load("iam/berth-launcher-policy.json");
	json_t *sp = load("iam/berth-sidecar-policy.json");
	json_t *lsvc = load("ecs/berth-launcher-service.json");
	json_t *ssvc = load("ecs/berth-sidecar-service.json");
	json_t *op = load("iam/berth-ops-policy.json");
	json_t *lc = at(launcher, "containerDefinitions.0"),
	       *sc = at(sidecar, "containerDefinitions.0");
	const char *family = str_at(tenant, "family"), *table, *cluster;
	char arn[512];
	/* What registry/sync.c calls: conditional PutItem and BatchWriteItem. */
	static const char *sidecar_writes[] = {"dynamodb:PutItem", "dynamodb:BatchWriteItem"};
	static const char *sidecar_never[] = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan",
	                                      "dynamodb:DeleteTable", "dynamodb:CreateTable"};
	/*
	 * launcher/ddb.c and registry/sync.c: the conditional reserve, the tenant sync;
	 * launcher/backend_ecs.c: the binding item a sidecar on another host synced.
	 */
	static const char *launcher_items[] = {"dynamodb:GetItem", "dynamodb:PutItem",
	                                       "dynamodb:BatchWriteItem"};
	/* berth/table.c and berth/doctor.c: init-table and doctor. */
	static const char *ops_calls[] = {"dynamodb:CreateTable",
	                                  "dynamodb:DescribeTable",
	                                  "dynamodb:DescribeTimeToLive",
	                                  "dynamodb:UpdateTimeToLive",
	                                  "dynamodb:PutItem",
	                                  "dynamodb:UpdateContinuousBackups"};

	(void)state;
	/* The launcher runs the tenant family and its container. */
	assert_non_null(env_of(lc, "BERTH_TASK_DEFINITION"));
	assert_string_equal(env_of(lc, "BERTH_TASK_DEFINITION"), family);
	assert_string_equal(env_of(lc, "BERTH_CONTAINER_NAME"),
	                    str_at(tenant, "containerDefinitions.0.name"));
	assert_string_equal(env_of(lc, "BERTH_CONTAINER_PORT"), "8000");
	assert_string_equal(env_of(lc, "BERTH_BACKEND"), "ecs");
	cluster = env_of(lc, "BERTH_CLUSTER");
	assert_non_null(cluster);
	assert_string_equal(str_at(lsvc, "cluster"), cluster);
	assert_string_equal(str_at(ssvc, "cluster"), cluster);

	/* RunTask is scoped to that family and that cluster. */
	snprintf(arn, sizeof(arn), "arn:aws:ecs:us-east-1:123456789012:task-definition/%s:*",
	         family);
	assert_true(allows(lp, "ecs:RunTask", arn));
	snprintf(arn, sizeof(arn), "arn:aws:ecs:us-east-1:123456789012:task/%s/*", cluster);
	assert_true(allows(lp, "ecs:DescribeTasks", arn));
	assert_true(allows(lp, "ecs:StopTask", arn));
	assert_true(allows(lp, "ecs:DescribeTaskDefinition", "*"));
	/*
	 * ListTasks (a start never answered) without a container-instance filter is
	 * authorized against "*": allowed there, held to the cluster by ecs:cluster.
	 */
	assert_true(allows(lp, "ecs:ListTasks", "*"));
	{
		json_t *st;
		size_t i;
		int conditioned = 0;

		json_array_foreach(json_object_get(lp, "Statement"), i, st)
		{
			const char *a = json_string_value(json_object_get(st, "Action"));
			json_t *c = json_object_get(json_object_get(st, "Condition"), "ArnEquals");

			if (a != NULL && strcmp(a, "ecs:ListTasks") == 0)
				conditioned = json_object_get(c, "ecs:cluster") != NULL;
		}
		assert_true(conditioned);
	}

	/* The launcher may pass exactly the roles the tenant task definition names. */
	assert_true(allows(lp, "iam:PassRole", str_at(tenant, "taskRoleArn")));
	assert_true(allows(lp, "iam:PassRole", str_at(tenant, "executionRoleArn")));

	/* One table, named the same everywhere; the sidecar only writes items. */
	table = env_of(lc, "BERTH_DYNAMODB_TABLE");
	assert_non_null(table);
	assert_string_equal(env_of(sc, "BERTH_DYNAMODB_TABLE"), table);
	/* The host's sidecar tracks (and syncs) ECS tasks' containers only, not the host's own. */
	assert_non_null(env_of(sc, "BERTH_LABEL_FILTER"));
	assert_string_equal(env_of(sc, "BERTH_LABEL_FILTER"), "com.amazonaws.ecs.task-arn");
	snprintf(arn, sizeof(arn), "arn:aws:dynamodb:us-east-1:123456789012:table/%s", table);
	for (size_t i = 0; i < sizeof(launcher_items) / sizeof(launcher_items[0]); i++)
		if (!allows(lp, launcher_items[i], arn))
			fail_msg("launcher policy lacks %s on %s", launcher_items[i], arn);
	for (size_t i = 0; i < sizeof(sidecar_writes) / sizeof(sidecar_writes[0]); i++)
		if (!allows(sp, sidecar_writes[i], arn))
			fail_msg("sidecar policy lacks %s on %s", sidecar_writes[i], arn);
	/* berth doctor runs in the sidecar's container, with its role: it describes the table. */
	assert_true(allows(sp, "dynamodb:DescribeTable", arn));
	/* A tenant must never act as the host: IMDS is kept from bridge containers. */
	{
		char path[PATH_CAP], *dep;

		pjoin(path, docker_dir, "../docs/deploy.md");
		dep = tl_read_file_max(path, 1 << 20, NULL);
		assert_non_null(dep);
		assert_non_null(strstr(dep, "HttpPutResponseHopLimit=1"));
		assert_null(strstr(dep, "HttpPutResponseHopLimit=2"));
		assert_null(strstr(dep, "hop-limit 2"));
		assert_non_null(strstr(dep, "--destination 169.254.169.254/32 --jump DROP"));
		/* Steps that fail now and then on a fresh account, or on another machine. */
		assert_non_null(strstr(dep, "--platform linux/amd64"));
		assert_non_null(strstr(dep, "aws iam wait instance-profile-exists"));
		assert_non_null(strstr(dep, "AmazonSSMManagedInstanceCore"));
		assert_non_null(strstr(dep, "berth-ops-policy.json"));
		assert_non_null(strstr(dep, "attach-user-policy"));
		free(dep);
	}
	for (size_t i = 0; i < sizeof(ops_calls) / sizeof(ops_calls[0]); i++)
		if (!allows(op, ops_calls[i], arn))
			fail_msg("ops policy lacks %s on %s", ops_calls[i], arn);
	assert_false(allows(op, "dynamodb:DeleteTable", arn));
	/*
	 * The launcher long-polls the sidecar of its host for bindings, on the port the
	 * sidecar listens on (all the host's addresses, so other hosts' launchers reach it
	 * too), with the sidecars' token both task definitions get from SSM.
	 */
	{
		const char *listen = env_of(sc, "BERTH_LISTEN"), *port;
		char url[128];

		assert_non_null(listen);
		assert_non_null(port = strrchr(listen, ':'));
		snprintf(url, sizeof(url), "http://127.0.0.1%s", port);
		assert_non_null(env_of(lc, "BERTH_SIDECAR_URL"));
		assert_string_equal(env_of(lc, "BERTH_SIDECAR_URL"), url);
		assert_string_equal(secret_of(sc, "BERTH_API_TOKEN"),
		                    secret_of(lc, "BERTH_API_TOKEN"));
	}
	assert_false(mentions(sp, "ecs:"));
	assert_false(mentions(sp, "iam:"));
	for (size_t i = 0; i < sizeof(sidecar_never) / sizeof(sidecar_never[0]); i++)
		if (allows(sp, sidecar_never[i], arn))
			fail_msg("sidecar policy allows %s, which it never calls",
			         sidecar_never[i]);

	json_decref(tenant);
	json_decref(launcher);
	json_decref(sidecar);
	json_decref(lp);
	json_decref(sp);
	json_decref(lsvc);
	json_decref(ssvc);
	json_decref(op);
}

/* The Dockerfile names the base tag the image test imports, runs as a user, checks health. */
static void
test_dockerfile(void **state)
{
	char path[PATH_CAP], line[512];
	int base = 0, user = 0, health = 0;
	FILE *fp;

	(void)state;
	pjoin(path, docker_dir, "Dockerfile");
	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strcmp(line, "ARG DEBIAN_BASE=debian:bookworm-slim\n") == 0)
			base = 1;
		if (strcmp(line, "USER berth\n") == 0)
			user = 1;
		if (strncmp(line, "HEALTHCHECK ", 12) == 0)
			health = 1;
	}
	fclose(fp);
	assert_true(base);
	assert_true(user);
	assert_true(health);
}

int
main(void)
{
	const char *src = getenv("BERTH_SOURCE_DIR");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_file_parses),
	    cmocka_unit_test(test_facts),
	    cmocka_unit_test(test_sidecar_mounts),
	    cmocka_unit_test(test_policies_least_privilege),
	    cmocka_unit_test(test_cross_references),
	    cmocka_unit_test(test_dockerfile),
	};

	if (src == NULL || *src == '\0') {
		fprintf(stderr, "BERTH_SOURCE_DIR is not set (run under ctest)\n");
		return 1;
	}
	if (snprintf(docker_dir, sizeof(docker_dir), "%s/docker", src) >= (int)sizeof(docker_dir)) {
		fprintf(stderr, "BERTH_SOURCE_DIR is too long\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
