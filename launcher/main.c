/*
 * berth-launcher: provisions tenants over HTTP and answers with their URL.
 * See berth-launcher(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "aws/aws.h"
#include "core/daemon.h"
#include "core/evcurl.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/opts.h"
#include "launcher/ddb.h"
#include "launcher/await.h"
#include "launcher/hosts.h"
#include "launcher/launcher.h"
#include "launcher/ratelimit.h"
#include "launcher/template.h"
#include "launcher/recover.h"
#include "launcher/watch.h"

#define RATELIMIT_SLOTS 4096

/* One table drives parsing, defaults, environment twins, --help and the man page. */
static const struct opt launcher_opts[] = {
    {"db", "BERTH_DB", NULL, OPT_STRING, "PATH", "/var/lib/berth/registry.db", 0, 0,
     "registry file (SQLite), shared with the sidecar"},
    {"listen", "BERTH_LISTEN", NULL, OPT_STRING, "ADDR:PORT", "0.0.0.0:8080", 0, 0,
     "address of the HTTP API"},
    {"backend", "BERTH_BACKEND", NULL, OPT_STRING, "NAME", "docker", 0, 0,
     "where tasks run: docker or ecs"},
    {"docker-host", "BERTH_DOCKER_HOST", "DOCKER_HOST", OPT_STRING, "URL",
     "unix:///var/run/docker.sock", 0, 0, "Docker Engine API (docker backend)"},
    {"image", "BERTH_IMAGE", NULL, OPT_STRING, "NAME", NULL, 0, 0, "tenant image (docker backend)"},
    {"cluster", "BERTH_CLUSTER", NULL, OPT_STRING, "NAME", NULL, 0, 0,
     "ECS cluster (ecs backend; a label with docker)"},
    {"task-definition", "BERTH_TASK_DEFINITION", NULL, OPT_STRING, "FAMILY[:REV]", NULL, 0, 0,
     "ECS task definition (ecs backend; a label with docker)"},
    {"container-name", "BERTH_CONTAINER_NAME", NULL, OPT_STRING, "NAME", "app", 0, 0,
     "the tenant's container in the task"},
    {"container-port", "BERTH_CONTAINER_PORT", NULL, OPT_INT, "N", "8000", 1, 65535,
     "the tenant container's port, published on a host port"},
    {"url-template", "BERTH_URL_TEMPLATE", NULL, OPT_STRING, "TEMPLATE",
     "http://{subdomain}.{host_ip}.sslip.io:{host_port}", 0, 0,
     "tenant URL from {subdomain} {host_ip} {host_port}"},
    {"database-url-template", "BERTH_DATABASE_URL_TEMPLATE", NULL, OPT_STRING, "TEMPLATE", NULL, 0,
     0, "DATABASE_URL for the tenant from {db_name} {subdomain} (never logged)"},
    {"token-file", "BERTH_TOKEN_FILE", NULL, OPT_STRING, "PATH", NULL, 0, 0,
     "bearer token file (else BERTH_LAUNCHER_TOKEN); requests then need it"},
    {"cors-origin", "BERTH_CORS_ORIGIN", NULL, OPT_STRING, "ORIGIN", NULL, 0, 0,
     "origin allowed to call the API from a browser (or *)"},
    {"wait-timeout", "BERTH_WAIT_TIMEOUT", NULL, OPT_INT, "SECONDS", "60", 1, 3600,
     "longest a provision may take before 504"},
    {"dynamodb-table", "BERTH_DYNAMODB_TABLE", NULL, OPT_STRING, "NAME", NULL, 0, 0,
     "DynamoDB table: reserve subdomains there (conditional put) and sync tenant rows to it"},
    {"sidecar-url", "BERTH_SIDECAR_URL", NULL, OPT_STRING, "URL", NULL, 0, 0,
     "the sidecar's API, long-polled for bindings (e.g. http://127.0.0.1:9680)"},
    {"api-token-file", "BERTH_API_TOKEN_FILE", NULL, OPT_STRING, "PATH", NULL, 0, 0,
     "the bearer token the sidecars' APIs want from off their host (the same file as "
     "berth-sidecar's)"},
    {"host-ip", "BERTH_HOST_IP", NULL, OPT_STRING, "ADDR", NULL, 0, 0,
     "host IP for tenant URLs (default: the binding's)"},
    {"describe-interval", "BERTH_DESCRIBE_INTERVAL", NULL, OPT_INT, "SECONDS", "1", 0, 60,
     "ask the backend for the port this often as a fallback; 0 turns it off"},
    {"ready-check", "BERTH_READY_CHECK", NULL, OPT_STRING, "http|tcp", "http", 0, 0,
     "before 201: the host port answers HTTP, or accepts TCP"},
    {"stop-timeout", "BERTH_STOP_TIMEOUT", NULL, OPT_INT, "SECONDS", "10", 0, 600,
     "grace before a stopped container is killed (docker backend)"},
    {"rate-limit", "BERTH_RATE_LIMIT", NULL, OPT_INT, "N", "10", 0, 100000,
     "requests per second per client address; 0 turns the limit off"},
    {"rate-burst", "BERTH_RATE_BURST", NULL, OPT_INT, "N", "60", 1, 100000,
     "requests a client may make at once"},
    {"client-ip-header", "BERTH_CLIENT_IP_HEADER", NULL, OPT_STRING, "NAME", NULL, 0, 0,
     "rate-limit by the last address in this header (set behind a load balancer)"},
    {"backend-concurrency", "BERTH_BACKEND_CONCURRENCY", NULL, OPT_INT, "N", "16", 1, 1024,
     "backend starts in flight at once; more wait in a queue"},
    {"max-inflight", "BERTH_MAX_INFLIGHT", NULL, OPT_INT, "N", "256", 1, 100000,
     "provisions at once before 503"},
    DAEMON_LOG_OPTS,
};
#define NOPTS (sizeof(launcher_opts) / sizeof(launcher_opts[0]))

struct bound {
	struct evhttp_bound_socket *v[8];
	int n;
};

/* Collects the listening sockets (deleting inside the walk would break it). */
static void
collect_bound(struct evhttp_bound_socket *bs, void *arg)
{
	struct bound *b = arg;

	if (b->n < (int)(sizeof(b->v) / sizeof(b->v[0])))
		b->v[b->n++] = bs;
}

int
main(int argc, char **argv)
{
	static struct launcher L;
	struct launcher *l = &L;
	struct opts o;
	struct backend_ctx bctx;
	struct daemon_signals sig;
	struct bound bound = {{NULL}, 0};
	const char *v;
	char err[512], names[64];
	int rc;
	const struct template_var url_vars[] = {
	    {"subdomain", ""}, {"host_ip", ""}, {"host_port", ""}, {NULL, NULL}};
	const struct template_var db_vars[] = {{"db_name", ""}, {"subdomain", ""}, {NULL, NULL}};

	if ((rc = daemon_opts(&o, "berth-launcher", launcher_opts, NOPTS, argc, argv)) !=
	    DAEMON_RUN)
		return rc;
	if ((rc = daemon_log(&o, "berth-launcher")) != 0)
		return rc;

	TAILQ_INIT(&l->provs);
	TAILQ_INIT(&l->startq);
	TAILQ_INIT(&l->awaits);
	l->url_template = opts_get(&o, "url-template");
	l->dburl_template = opts_get(&o, "database-url-template");
	l->host_ip = opts_get(&o, "host-ip");
	l->sidecar_url = opts_get(&o, "sidecar-url");
	l->cors_origin = opts_get(&o, "cors-origin");
	l->client_ip_header = opts_get(&o, "client-ip-header");
	l->container_port = (int)opts_int(&o, "container-port");
	l->wait_timeout_s = (int)opts_int(&o, "wait-timeout");
	l->max_inflight = (int)opts_int(&o, "max-inflight");
	l->backend_max = (int)opts_int(&o, "backend-concurrency");
	l->describe_ms = (int)opts_int(&o, "describe-interval") * 1000;
	v = opts_get(&o, "ready-check");
	if (strcmp(v, "http") == 0)
		l->ready_http = 1;
	else if (strcmp(v, "tcp") != 0)
		fatalx("bad --ready-check \"%s\" (want http or tcp)", v);
	if (template_check(l->url_template, url_vars, err, sizeof(err)) != 0)
		fatalx("--url-template: %s", err);
	if (l->dburl_template != NULL &&
	    template_check(l->dburl_template, db_vars, err, sizeof(err)) != 0)
		fatalx("--database-url-template: %s", err);
	if ((v = opts_get(&o, "api-token-file")) != NULL && *v != '\0') {
		char tok[LAUNCHER_TOKEN_MAX];

		if (daemon_read_secret("--api-token-file", v, tok, sizeof(tok), err, sizeof(err)) !=
		    0)
			fatalx("%s", err);
		snprintf(l->sidecar_auth, sizeof(l->sidecar_auth), "Authorization: Bearer %s", tok);
		explicit_bzero(tok, sizeof(tok));
	} else if ((v = getenv("BERTH_API_TOKEN")) != NULL && *v != '\0') {
		/* The token itself, as an ECS secret gives it. */
		if (strlen(v) >= LAUNCHER_TOKEN_MAX)
			fatalx("BERTH_API_TOKEN is longer than %d bytes", LAUNCHER_TOKEN_MAX - 1);
		snprintf(l->sidecar_auth, sizeof(l->sidecar_auth), "Authorization: Bearer %s", v);
	}
	if ((v = opts_get(&o, "token-file")) != NULL && *v != '\0') {
		if (daemon_read_secret("--token-file", v, l->token, sizeof(l->token), err,
		                       sizeof(err)) != 0)
			fatalx("%s", err);
	} else if ((v = getenv("BERTH_LAUNCHER_TOKEN")) != NULL && *v != '\0') {
		if (strlen(v) >= sizeof(l->token))
			fatalx("BERTH_LAUNCHER_TOKEN is longer than %zu bytes",
			       sizeof(l->token) - 1);
		snprintf(l->token, sizeof(l->token), "%s", v);
	}
	if (opts_int(&o, "rate-limit") > 0) {
		l->rl = ratelimit_new((double)opts_int(&o, "rate-limit"),
		                      (double)opts_int(&o, "rate-burst"), RATELIMIT_SLOTS);
		if (l->rl == NULL)
			fatalx("out of memory");
	}
	if ((l->bops = backend_find(opts_get(&o, "backend"))) == NULL) {
		backend_names(names, sizeof(names));
		fatalx("unknown --backend \"%s\" (want %s)", opts_get(&o, "backend"), names);
	}

	if ((l->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if ((l->curl = evcurl_new(l->base)) == NULL)
		fatalx("evcurl_new failed");
	rc = registry_open(&l->reg, opts_get(&o, "db"), REGISTRY_RDWR | REGISTRY_CREATE, err,
	                   sizeof(err));
	if (rc != 0)
		fatalx("registry %s: %s", opts_get(&o, "db"), err);
	/* The loop never waits long on a lock held elsewhere: writes are retried instead. */
	registry_set_busy(l->reg, LAUNCHER_BUSY_MS);
	v = opts_get(&o, "dynamodb-table");
	/* One AWS client for everything in the process: backend, claims, sync. */
	if ((l->bops->aws || (v != NULL && *v != '\0')) &&
	    (l->aws = aws_new(l->base, l->curl, err, sizeof(err))) == NULL)
		fatalx("AWS: %s", err);
	if (v != NULL && *v != '\0' && launcher_ddb_open(l, v, err, sizeof(err)) != 0)
		fatalx("%s", err);
	/* The hosts' items: a task on another host is awaited from that host's sidecar. */
	if (v != NULL && *v != '\0' && (l->hosts = hosts_new(l, v)) == NULL)
		fatalx("out of memory");
	bctx = (struct backend_ctx){l->base, l->curl, &o, l->aws};
	if (l->bops->init(&bctx, &l->bstate, err, sizeof(err)) != 0)
		fatalx("backend %s: %s", l->bops->name, err);
	if ((l->reg_timer = evtimer_new(l->base, await_registry_tick, l)) == NULL)
		fatalx("evtimer_new failed");
	if ((l->http = evhttp_new(l->base)) == NULL)
		fatalx("evhttp_new failed");
	if (api_init(l, err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (httpd_bind(l->http, opts_get(&o, "listen"), err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (httpd_guard(l->http, l->base, 0, 0) != 0)
		fatalx("out of memory");
	daemon_signals_add(&sig, l->base);
	log_info("start listen=%s backend=%s db=%s auth=%s sidecar=%s wait_timeout=%d",
	         opts_get(&o, "listen"), l->bops->name, opts_get(&o, "db"),
	         l->token[0] != '\0' ? "bearer" : "off",
	         l->sidecar_url != NULL ? l->sidecar_url : "none", l->wait_timeout_s);
	if ((rc = prov_resume(l)) != 0)
		log_warnx("resume_failed error=\"%s\"", registry_errmsg(l->reg));
	if (watch_start(l) != 0)
		fatalx("out of memory");
	if (recover_start(l) != 0)
		log_warnx("recover_failed error=\"the backend could not be asked\"");

	event_base_dispatch(l->base);

	/*
	 * Stop accepting, answer whoever waits (503), and give those answers
	 * a moment to leave before the connections are freed.
	 */
	l->closing = 1;
	evhttp_foreach_bound_socket(l->http, collect_bound, &bound);
	for (int i = 0; i < bound.n; i++)
		evhttp_del_accept_socket(l->http, bound.v[i]);
	watch_stop(l);
	prov_shutdown(l);
	{
		struct timeval flush = {0, 200 * 1000};

		event_base_loopexit(l->base, &flush);
		event_base_dispatch(l->base);
	}
	evhttp_free(l->http);
	httpd_guard_free();
	launcher_ddb_close(l); /* pushes the last tenant rows to DynamoDB */
	evcurl_free(l->curl);  /* cancels what is in flight; callbacks let go of their provisions */
	l->bops->free(l->bstate);
	hosts_free(l->hosts);
	aws_free(l->aws);
	daemon_signals_free(&sig);
	event_free(l->reg_timer);
	registry_close(l->reg);
	ratelimit_free(l->rl);
	api_free(l);
	event_base_free(l->base);
	explicit_bzero(l->token, sizeof(l->token));
	explicit_bzero(l->sidecar_auth, sizeof(l->sidecar_auth));
	log_info("stopped");
	return 0;
}
