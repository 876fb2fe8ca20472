/*
 * berth: the ops command. Reads the local registry (read-only): tables for
 * people, --json for scripts.
 *
 *   berth [--db PATH] [--json] COMMAND [ARGS]
 *
 * Commands are rows of `commands` below (name, usage, flags, handler; see
 * berth.h); add a row to add a command. Options are one table (`options`):
 * the ones in `global_flags` apply to every command, each command names the
 * others it accepts, and options may come before or after the command.
 *
 * Exit: 0 success, 1 not found, 2 usage, 3 the registry cannot be opened or read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/opts.h"
#include "berth/berth.h"
#include "registry/registry.h"

#define ARGS_MAX 64 /* command-line words berth accepts */

static const struct opt options[] = {
    {"db", "BERTH_DB", NULL, OPT_STRING, "PATH", "/var/lib/berth/registry.db", 0, 0,
     "the registry file"},
    {"json", "BERTH_JSON", NULL, OPT_FLAG, NULL, NULL, 0, 0, "JSON output for scripts"},
    {"busy-timeout", "BERTH_BUSY_TIMEOUT", NULL, OPT_INT, "MS", "2000", 0, 600000,
     "wait this long for a registry locked by another process"},
    {"tenant", "BERTH_LS_TENANT", NULL, OPT_STRING, "SUBDOMAIN", NULL, 0, 0,
     "ls: only this tenant's bindings"},
    {"task", "BERTH_LS_TASK", NULL, OPT_STRING, "ID", NULL, 0, 0,
     "ls: only this task (id, ARN, or container id prefix of 12+ characters)"},
    {"status", "BERTH_LS_STATUS", NULL, OPT_STRING, "STATUS", NULL, 0, 0,
     "ls: only bindings in this status (provisional, running, stopped, removed)"},
    {"all", "BERTH_LS_ALL", NULL, OPT_FLAG, NULL, NULL, 0, 0,
     "ls: include removed bindings (tombstones)"},
    {"count", "BERTH_WATCH_COUNT", NULL, OPT_INT, "N", NULL, 1, 1000000000,
     "watch: exit after N changes"},
    {"timeout", "BERTH_WATCH_TIMEOUT", NULL, OPT_INT, "SECONDS", NULL, 1, 31536000,
     "watch: exit after this many seconds"},
    {"interval", "BERTH_WATCH_INTERVAL", NULL, OPT_INT, "MS", "100", 10, 60000,
     "watch: how often to look for changes"},
    {"dynamodb-table", "BERTH_DYNAMODB_TABLE", NULL, OPT_STRING, "NAME", NULL, 0, 0,
     "init-table, hosts, doctor: the DynamoDB table (default UserPortRegistry)"},
    {"docker-host", "BERTH_DOCKER_HOST", "DOCKER_HOST", OPT_STRING, "URL",
     "unix:///var/run/docker.sock", 0, 0, "doctor: the Docker Engine to check (none skips)"},
    {"agent-url", "BERTH_AGENT_URL", NULL, OPT_STRING, "URL", "http://127.0.0.1:51678", 0, 0,
     "doctor: the ECS agent's introspection API (none skips)"},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))
/* Options every command takes. */
static const char *const global_flags[] = {"db", "json", "busy-timeout", NULL};

static const char *const ls_flags[] = {"tenant", "task", "status", "all", NULL};
static const char *const watch_flags[] = {"count", "timeout", "interval", NULL};
static const char *const table_flags[] = {"dynamodb-table", NULL};
static const char *const doctor_flags[] = {"dynamodb-table", "docker-host", "agent-url", NULL};

static const struct berth_command commands[] = {
    {"ls", "[--tenant SUBDOMAIN] [--task ID] [--status STATUS] [--all]",
     "list bindings: tenant, task, container, port, host address, status, age", ls_flags, 0, 0,
     REGISTRY_RDONLY | REGISTRY_CHECK, berth_cmd_ls},
    {"get", "SUBDOMAIN|TASK", "show one tenant or one task in full", NULL, 1, 1,
     REGISTRY_RDONLY | REGISTRY_CHECK, berth_cmd_get},
    {"watch", "[--count N] [--timeout SECONDS] [--interval MS]",
     "print each change as it happens, until interrupted", watch_flags, 0, 0,
     REGISTRY_RDONLY | REGISTRY_CHECK, berth_cmd_watch},
    {"stats", "", "count bindings and tenants by status, and the outbox depth", NULL, 0, 0,
     REGISTRY_RDONLY | REGISTRY_CHECK, berth_cmd_stats},
    {"sync-status", "", "the DynamoDB outbox: pending rows, oldest pending age, failing rows", NULL,
     0, 0, REGISTRY_RDONLY | REGISTRY_CHECK, berth_cmd_sync_status},
    {"init-table", "[--dynamodb-table NAME]",
     "create the DynamoDB table (on-demand, key userId) and SYSTEM_CONFIG if absent", table_flags,
     0, 0, -1, berth_cmd_init_table},
    {"hosts", "[--dynamodb-table NAME]",
     "list the cluster's hosts from their items: IP, API URL, UP/STALE/LEFT, heartbeat age, "
     "RUNNING bindings",
     table_flags, 0, 0, -1, berth_cmd_hosts},
    {"doctor", "[--dynamodb-table NAME] [--docker-host URL] [--agent-url URL|none]",
     "check the registry, Docker, the ECS agent, IMDS, AWS credentials and the table", doctor_flags,
     0, 0, -1, berth_cmd_doctor},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *fp)
{
	opts_usage(fp, "berth", "[--db PATH] [--json] COMMAND [ARGS]", options, NOPTIONS);
	fprintf(fp, "\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %s %s\n      %s\n", commands[i].name, commands[i].usage,
		        commands[i].help);
	fprintf(fp,
	        "\nexit: 0 ok, 1 not found (doctor: a check failed), 2 usage, 3 registry cannot "
	        "be opened or read, 4 an AWS call failed\n");
}

int
berth_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "berth: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see berth --help)\n");
	return BERTH_EXIT_USAGE;
}

/* Errors from the registry after it opened: one line, exit 3. */
int
berth_registry_error(struct berth_ctx *c, int rc)
{
	const char *m = registry_errmsg(c->r);

	fprintf(stderr, "berth: %s\n", *m ? m : strerror(-rc));
	return BERTH_EXIT_REGISTRY;
}

/* Copies s for a terminal: control characters (escape sequences from labels) become '?'. */
void
berth_safe(char *out, size_t outlen, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < outlen && s[i] != '\0'; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	out[i] = '\0';
}

void
berth_print_json(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	fflush(stdout);
}

/* "45s", "12m", "3h", "2d" since ms; "-" when unset. */
void
berth_age(char *out, size_t outlen, int64_t ms, int64_t now)
{
	int64_t s = (now - ms) / 1000;

	if (ms <= 0)
		snprintf(out, outlen, "-");
	else if (s < 0)
		snprintf(out, outlen, "0s");
	else if (s < 120)
		snprintf(out, outlen, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, outlen, "%lldm", (long long)s / 60);
	else if (s < 172800)
		snprintf(out, outlen, "%lldh", (long long)s / 3600);
	else
		snprintf(out, outlen, "%lldd", (long long)s / 86400);
}

/* ---- an aligned text table ---- */

int
berth_table_add(struct berth_table *t, const char *const *vals)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		void *p = reallocarray(t->cells, cap, sizeof(*t->cells));

		if (p == NULL)
			return -ENOMEM;
		t->cells = p;
		t->cap = cap;
	}
	for (int i = 0; i < t->ncols; i++) {
		int n;

		berth_safe(t->cells[t->nrows][i], BERTH_CELL_MAX, vals[i]);
		if ((n = (int)strlen(t->cells[t->nrows][i])) > t->width[i])
			t->width[i] = n;
	}
	t->nrows++;
	return 0;
}

void
berth_table_print(struct berth_table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			if (i == t->ncols - 1)
				printf("%s\n", t->cells[r][i]);
			else
				printf("%-*s  ", t->width[i], t->cells[r][i]);
		}
	}
	free(t->cells);
	t->cells = NULL;
}

/* ---- main ---- */

static const struct opt *
find_option(const char *name, size_t len, size_t *idx)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0) {
			*idx = i;
			return &options[i];
		}
	return NULL;
}

static int
command_accepts(const struct berth_command *cmd, const char *name)
{
	for (const char *const *f = global_flags; *f != NULL; f++)
		if (strcmp(*f, name) == 0)
			return 1;
	for (const char *const *f = cmd->flags; f != NULL && *f != NULL; f++)
		if (strcmp(*f, name) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	char *optv[ARGS_MAX + 1], *posv[ARGS_MAX];
	int given[NOPTIONS] = {0};
	int optc = 1, posc = 0, next, rc;
	const struct berth_command *cmd = NULL;
	struct berth_ctx c;
	char err[1024] = "";

	if (argc > ARGS_MAX)
		return berth_usage_error("%s: too many arguments", "berth");
	/*
	 * Options may come before or after the command: split argv into option
	 * words (with their values) and positional words, then parse the options
	 * with the one table.
	 */
	optv[0] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				posv[posc++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			posv[posc++] = argv[i];
			continue;
		}
		optv[optc++] = argv[i];
		if (strncmp(a, "--", 2) == 0) {
			const char *eq = strchr(a + 2, '=');
			size_t idx, len = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
			const struct opt *op = find_option(a + 2, len, &idx);

			if (op == NULL)
				continue;
			given[idx] = 1;
			if (op->type != OPT_FLAG && eq == NULL && i + 1 < argc)
				optv[optc++] = argv[++i];
		}
	}
	optv[optc] = NULL;
	switch (opts_parse(&c.o, options, NOPTIONS, optc, optv, &next, err, sizeof(err))) {
	case OPTS_HELP:
		usage(stdout);
		return 0;
	case OPTS_VERSION:
		printf("berth %s\n", BERTH_VERSION);
		return 0;
	case OPTS_ERROR:
		return berth_usage_error("%s", err);
	default:
		break;
	}
	if (posc == 0) {
		usage(stderr);
		return BERTH_EXIT_USAGE;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(posv[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		return berth_usage_error("unknown command %s", posv[0]);
	for (size_t i = 0; i < NOPTIONS; i++)
		if (given[i] && !command_accepts(cmd, options[i].name)) {
			fprintf(stderr, "berth: %s does not take --%s (usage: berth %s %s)\n",
			        cmd->name, options[i].name, cmd->name, cmd->usage);
			return BERTH_EXIT_USAGE;
		}
	if (posc - 1 < cmd->nargs_min || posc - 1 > cmd->nargs_max) {
		fprintf(stderr, "berth: usage: berth %s %s\n", cmd->name, cmd->usage);
		return BERTH_EXIT_USAGE;
	}
	c.json = opts_get(&c.o, "json") != NULL;
	c.argv = posv + 1;
	c.argc = posc - 1;
	c.r = NULL;
	if (cmd->open_flags >= 0) {
		rc = registry_open_busy(&c.r, opts_get(&c.o, "db"), cmd->open_flags,
		                        (int)opts_int(&c.o, "busy-timeout"), err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "berth: %s\n", err);
			return BERTH_EXIT_REGISTRY;
		}
	}
	rc = cmd->run(&c);
	registry_close(c.r);
	return rc;
}
