/*
 * berth-sidecar: records every published host port the moment its container
 * starts. One libevent loop: Docker events and inspect over the Unix socket,
 * the ECS agent, IMDS, and the local HTTP API (see api.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>

#include "aws/aws.h"
#include "core/daemon.h"
#include "core/docker.h"
#include "core/evcurl.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/opts.h"
#include "registry/registry.h"
#include "registry/item.h"
#include "registry/sync.h"
#include "sidecar/agent.h"
#include "sidecar/api.h"
#include "sidecar/heartbeat.h"
#include "sidecar/hostip.h"
#include "sidecar/tracker.h"

/*
 * The registry's page cache: the sidecar's commits are small (one event's
 * binding, a reconcile's batch), so 1 MiB instead of the 16 MiB a writer
 * opens with keeps the daemon's memory down.
 */
#define SIDECAR_CACHE_KIB 1024
#define SIDECAR_BUSY_MS   50   /* the loop's lock wait; the tracker retries a busy commit */
#define SIDECAR_TOKEN_MAX 4096 /* bytes of --api-token-file */

static const struct opt sidecar_opts[] = {
    {"db", "BERTH_DB", NULL, OPT_STRING, "PATH", "/var/lib/berth/registry.db", 0, 0,
     "the registry (SQLite) file; created when absent"},
    {"docker-host", "BERTH_DOCKER_HOST", "DOCKER_HOST", OPT_STRING, "URL",
     "unix:///var/run/docker.sock", 0, 0,
     "the Docker Engine API (unix:///path or tcp://host:port)"},
    {"agent-url", "BERTH_AGENT_URL", NULL, OPT_STRING, "URL", "http://127.0.0.1:51678", 0, 0,
     "the ECS agent introspection API; \"none\" runs on Docker alone"},
    {"host-ip", "BERTH_HOST_IP", NULL, OPT_STRING, "ADDR", NULL, 0, 0,
     "the address written into bindings (default: IMDSv2, then the first non-loopback IPv4)"},
    {"imds-url", "BERTH_IMDS_URL", NULL, OPT_STRING, "URL", "http://169.254.169.254", 0, 0,
     "the IMDSv2 endpoint asked for the host IP; \"none\" skips it"},
    {"listen", "BERTH_LISTEN", NULL, OPT_STRING, "ADDR:PORT", "127.0.0.1:9680", 0, 0,
     "where the HTTP API listens"},
    {"label-filter", "BERTH_LABEL_FILTER", NULL, OPT_STRING, "K[=V]", NULL, 0, 0,
     "track only containers with this label (default: every container that publishes a port)"},
    {"reconcile-interval", "BERTH_RECONCILE_INTERVAL", NULL, OPT_INT, "SECONDS", "30", 1, 86400,
     "seconds between reconciles with Docker and the agent's /v1/tasks"},
    {"dynamodb-table", "BERTH_DYNAMODB_TABLE", NULL, OPT_STRING, "NAME", NULL, 0, 0,
     "sync the registry to this DynamoDB table (no sync when unset)"},
    {"heartbeat-interval", "BERTH_HEARTBEAT_INTERVAL", NULL, OPT_INT, "SECONDS", "10", 1, 3600,
     "seconds between writes of this host's item to --dynamodb-table (other hosts read it; "
     "three missed make the host STALE)"},
    {"api-url", "BERTH_API_URL", NULL, OPT_STRING, "URL", NULL, 0, 0,
     "the URL other hosts reach this API at, as the host item says (default: from --listen, "
     "with the host IP for a wildcard address)"},
    {"api-token-file", "BERTH_API_TOKEN_FILE", NULL, OPT_STRING, "PATH", NULL, 0, 0,
     "a file holding the bearer token requests from off the host must send; needed when "
     "--listen is not a loopback address"},
    {"tombstone-ttl", "BERTH_TOMBSTONE_TTL", NULL, OPT_INT, "SECONDS", "604800", 0, 315360000,
     "a stopped or removed container's item expires this long after it is written (DynamoDB "
     "TTL on expires_at); 0 keeps it"},
    DAEMON_LOG_OPTS,
    {"log-file", "BERTH_LOG_FILE", NULL, OPT_STRING, "PATH", NULL, 0, 0,
     "append the log here (reopened on SIGHUP) instead of stderr"},
};
#define NOPTS (sizeof(sidecar_opts) / sizeof(sidecar_opts[0]))

struct sidecar {
	struct event_base *base;
	struct evcurl *ec;
	struct docker *docker;
	struct registry *reg;
	struct tracker *tracker;
	struct agent *agent;
	struct evhttp *http;
	struct api *api;
	struct api_info info;
	struct metrics *metrics; /* every module's figures, for GET /metrics */
	struct aws *aws;         /* the process's one AWS client, with --dynamodb-table */
	struct sync *sync;
	struct heartbeat *heartbeat; /* this host's item, with --dynamodb-table */
	const char *listen, *api_url;
	char token[SIDECAR_TOKEN_MAX]; /* --api-token-file; "" when none */
	char host_ip[HOSTIP_MAX];
	char host_ip_source[16];
};

static void
on_commit(void *arg)
{
	struct sidecar *s = arg;

	api_wake(s->api);
	/* The outbox has new rows: the DynamoDB sync (--dynamodb-table) drains them soon. */
	if (s->sync != NULL)
		sync_kick(s->sync);
}

/* The agent's metadata: the cluster for bindings, the container instance for the host item. */
static void
on_agent_metadata(const struct agent_metadata *m, void *arg)
{
	struct sidecar *s = arg;

	tracker_set_cluster(s->tracker, m->cluster_short);
	if (m->instance_arn[0] != '\0')
		heartbeat_set_id(s->heartbeat, m->instance_arn, m->instance_arn);
}

/* Requests that come while the sidecar stops. */
static void
shutting_down(struct evhttp_request *req, void *arg)
{
	(void)arg;
	httpd_error(req, 503, "shutting_down", "the sidecar is stopping", NULL);
}

static void
on_agent_tasks(const struct agent_task *tasks, size_t n, void *arg)
{
	tracker_agent_tasks(((struct sidecar *)arg)->tracker, tasks, n);
}

/* The URL other hosts reach this API at: --api-url, else --listen with a wildcard made ip. */
static void
api_url_of(const struct sidecar *s, const char *ip, char *out, size_t outlen)
{
	const char *colon = strrchr(s->listen, ':');
	size_t alen = colon != NULL ? (size_t)(colon - s->listen) : 0;

	if (s->api_url != NULL && *s->api_url != '\0')
		snprintf(out, outlen, "%s", s->api_url);
	else if (colon == NULL)
		snprintf(out, outlen, "http://%s", s->listen);
	else if (alen == 0 || (alen == 7 && strncmp(s->listen, "0.0.0.0", 7) == 0))
		snprintf(out, outlen, "http://%s:%s", ip, colon + 1);
	else
		snprintf(out, outlen, "http://%.*s:%s", (int)alen, s->listen, colon + 1);
}

static void
on_host_ip(const char *ip, const char *source, void *arg)
{
	struct sidecar *s = arg;
	char url[REG_URL_MAX];

	snprintf(s->host_ip, sizeof(s->host_ip), "%s", ip);
	snprintf(s->host_ip_source, sizeof(s->host_ip_source), "%s", source);
	if (ip[0] == '\0')
		log_warnx("host_ip_unknown bindings_get=empty_host_ip");
	else
		log_info("host_ip ip=%s source=%s", ip, source);
	tracker_set_host_ip(s->tracker, s->host_ip);
	tracker_start(s->tracker);
	api_url_of(s, s->host_ip, url, sizeof(url));
	heartbeat_set_address(s->heartbeat, s->host_ip, url);
}

int
main(int argc, char **argv)
{
	static struct sidecar S;
	struct sidecar *s = &S;
	struct tracker_conf tc;
	struct agent_sink sink;
	struct opts o;
	struct daemon_signals sig;
	const char *v, *table;
	struct sync_options sopt = {0};
	char err[512];
	int rc;

	if ((rc = daemon_opts(&o, "berth-sidecar", sidecar_opts, NOPTS, argc, argv)) != DAEMON_RUN)
		return rc;
	if ((v = opts_get(&o, "host-ip")) != NULL && *v != '\0' && !hostip_valid(v)) {
		fprintf(stderr, "berth-sidecar: --host-ip \"%s\" is not an IP address\n", v);
		return 2;
	}
	if ((v = opts_get(&o, "label-filter")) != NULL &&
	    (*v == '\0' || *v == '=' || strlen(v) >= 256)) {
		fprintf(stderr, "berth-sidecar: --label-filter wants K or K=V\n");
		return 2;
	}
	s->listen = opts_get(&o, "listen");
	s->api_url = opts_get(&o, "api-url");
	if ((v = opts_get(&o, "api-token-file")) != NULL && *v != '\0') {
		if (daemon_read_secret("--api-token-file", v, s->token, sizeof(s->token), err,
		                       sizeof(err)) != 0) {
			fprintf(stderr, "berth-sidecar: %s\n", err);
			return 2;
		}
	} else if ((v = getenv("BERTH_API_TOKEN")) != NULL && *v != '\0') {
		/* The token itself, as an ECS secret gives it. */
		if (strlen(v) >= sizeof(s->token)) {
			fprintf(stderr, "berth-sidecar: BERTH_API_TOKEN is longer than %zu bytes\n",
			        sizeof(s->token) - 1);
			return 2;
		}
		snprintf(s->token, sizeof(s->token), "%s", v);
	}
	if (!httpd_addr_loopback(s->listen) && s->token[0] == '\0') {
		fprintf(stderr,
		        "berth-sidecar: --listen %s is reachable from off the host: set "
		        "--api-token-file\n",
		        s->listen);
		return 2;
	}
	if ((v = opts_get(&o, "api-url")) != NULL && *v != '\0' && !item_api_url_ok(v)) {
		fprintf(stderr, "berth-sidecar: --api-url wants http://IP:PORT on a private or "
		                "loopback address\n");
		return 2;
	}
	if ((rc = daemon_log(&o, "berth-sidecar")) != 0)
		return rc;

	if (registry_open(&s->reg, opts_get(&o, "db"), REGISTRY_RDWR | REGISTRY_CREATE, err,
	                  sizeof(err)) != 0)
		fatalx("registry_open_failed path=%s error=\"%s\"", opts_get(&o, "db"), err);
	if (registry_set_cache(s->reg, SIDECAR_CACHE_KIB) != 0)
		fatalx("registry_cache_failed error=\"%s\"", registry_errmsg(s->reg));
	registry_set_busy(s->reg, SIDECAR_BUSY_MS);
	if ((s->base = event_base_new()) == NULL || (s->ec = evcurl_new(s->base)) == NULL)
		fatalx("event_loop_failed");
	if ((s->docker = docker_new(s->ec, opts_get(&o, "docker-host"), "BERTH_TENANT", err,
	                            sizeof(err))) == NULL)
		fatalx("docker_host_bad url=\"%s\" error=\"%s\"", opts_get(&o, "docker-host"), err);
	if ((s->metrics = metrics_new()) == NULL)
		fatalx("out of memory");
	memset(&tc, 0, sizeof(tc));
	tc.metrics = s->metrics;
	tc.label_filter = opts_get(&o, "label-filter");
	tc.reconcile_interval = (int)opts_int(&o, "reconcile-interval");
	if ((s->tracker = tracker_new(s->base, s->docker, s->reg, &tc)) == NULL)
		fatalx("tracker_failed");
	sink = (struct agent_sink){on_agent_metadata, on_agent_tasks, s};
	if ((s->agent = agent_new(s->base, s->ec, opts_get(&o, "agent-url"), &sink,
	                          tc.reconcile_interval, s->metrics)) == NULL)
		fatalx("agent_url_bad url=\"%s\" (want http://HOST:PORT or none)",
		       opts_get(&o, "agent-url"));
	if ((s->http = evhttp_new(s->base)) == NULL)
		fatalx("evhttp_failed");
	if (httpd_bind(s->http, opts_get(&o, "listen"), err, sizeof(err)) != 0)
		fatalx("listen_failed addr=%s error=\"%s\"", opts_get(&o, "listen"), err);
	if (httpd_guard(s->http, s->base, 0, 0) != 0)
		fatalx("out of memory");
	s->info.host_ip = s->host_ip;
	s->info.host_ip_source = s->host_ip_source;
	s->info.metrics = s->metrics;
	s->info.token = s->token;
	if ((s->api = api_new(s->base, s->http, s->reg, s->tracker, s->agent, &s->info)) == NULL)
		fatalx("api_failed");
	tracker_on_commit(s->tracker, on_commit, s);
	table = opts_get(&o, "dynamodb-table");
	sopt.tombstone_ttl_s = opts_int(&o, "tombstone-ttl");
	if (table != NULL && *table != '\0') {
		if ((s->aws = aws_new(s->base, s->ec, err, sizeof(err))) == NULL)
			fatalx("aws_failed error=\"AWS: %s\"", err);
		if ((s->sync = sync_new(s->base, s->reg, s->aws, table, &sopt, err, sizeof(err))) ==
		    NULL)
			fatalx("dynamodb_sync_failed table=%s error=\"%s\"", table, err);
		log_info("sync_started table=%s region=%s", table, aws_region(s->aws));
		if ((s->heartbeat = heartbeat_new(s->base, s->aws, s->reg, table,
		                                  (int)opts_int(&o, "heartbeat-interval"),
		                                  s->metrics)) == NULL)
			fatalx("out of memory");
		v = opts_get(&o, "agent-url");
		if (v == NULL || strcmp(v, "none") == 0) {
			char id[128];

			/* No ECS agent: the machine's own id names the host. */
			heartbeat_machine_id(id, sizeof(id));
			heartbeat_set_id(s->heartbeat, id, "");
		}
	}
	daemon_signals_add(&sig, s->base);
	log_info("started version=%s db=%s docker=%s agent=%s listen=%s", BERTH_VERSION,
	         opts_get(&o, "db"), opts_get(&o, "docker-host"), opts_get(&o, "agent-url"),
	         opts_get(&o, "listen"));
	agent_start(s->agent);
	hostip_resolve(s->ec, opts_get(&o, "host-ip"), opts_get(&o, "imds-url"), on_host_ip, s);

	event_base_dispatch(s->base);

	api_free(s->api);
	/* The loop turns again below (LEFT, the last sync): no request reaches the API. */
	evhttp_set_gencb(s->http, shutting_down, NULL);
	agent_free(s->agent);
	tracker_free(s->tracker);     /* commits what is queued */
	heartbeat_stop(s->heartbeat); /* the host item says LEFT */
	sync_stop(s->sync);           /* pushes what it can within its own deadline */
	aws_free(s->aws);
	daemon_signals_free(&sig);
	evhttp_free(s->http);
	httpd_guard_free();
	docker_free(s->docker);
	evcurl_free(s->ec);
	event_base_free(s->base);
	registry_close(s->reg);
	metrics_free(s->metrics);
	explicit_bzero(s->token, sizeof(s->token));
	log_info("stopped");
	return 0;
}
