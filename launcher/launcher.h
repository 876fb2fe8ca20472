/*
 * launcher: the state shared by berth-launcher's modules: api (HTTP),
 * provision (the state machine below, with its start queue), await (the
 * binding's sources), probe (readiness), watch (RUNNING tenants follow their
 * task), recover (tenant rows back from the backend), ddb, main. Nothing
 * outside launcher/ includes this.
 *
 * A provision ("prov") is one tenant being started, awaited, probed, failed
 * or stopped by this process; at most one per subdomain. Its steps:
 *
 *   backend start -> await the binding -> probe the host port -> RUNNING
 *        |                |                     |
 *        +--- error ------+---- deadline -------+--> FAILED, task stopped
 *
 * The binding comes from whichever answers first (launcher/await.c): the
 * shared registry (the sidecar writes it; checked on a short timer through
 * the cheap registry_changed()), the sidecar's long-poll route
 * (--sidecar-url), or the backend's describe as a slow fallback. While the
 * port is probed (launcher/probe.c), the await keeps watching the task: one
 * that stops fails the provision at once. Every state change is written
 * to the registry before it is answered, so a restarted launcher can finish
 * or fail what it finds PROVISIONING.
 */
#ifndef BERTH_LAUNCHER_H
#define BERTH_LAUNCHER_H

#include <stdint.h>
#include <sys/queue.h>

#include "launcher/backend.h"
#include "registry/registry.h"

struct evhttp;
struct evhttp_request;
struct evbuffer;
struct event;
struct ratelimit;
struct aws;
struct launcher;
struct hosts;
struct metric;
struct metrics;

#define LAUNCHER_TOKEN_MAX         4096         /* bytes of --token-file */
#define LAUNCHER_DBURL_MAX         1024         /* an expanded DATABASE_URL */
#define LAUNCHER_WAITERS_MAX       32           /* requests waiting on one provision */
#define LAUNCHER_SIDECAR_BODY_MAX  (256 * 1024) /* a sidecar binding answer */
#define LAUNCHER_REG_POLL_MS       10           /* registry_changed() interval while awaiting */
#define LAUNCHER_BUSY_MS           50 /* a registry lock held elsewhere stalls the loop this long */
#define LAUNCHER_SAVE_RETRY_MS     100  /* a failed state write is tried again after this, */
#define LAUNCHER_SAVE_RETRY_MAX_MS 5000 /* doubling up to this */
#define LAUNCHER_ORPHAN_GRACE_S    30   /* past --wait-timeout: a PROVISIONING row nobody owns */
#define LAUNCHER_BACKEND_MAX       16   /* default --backend-concurrency */
#define LAUNCHER_AFTER_START_MS    1000 /* kept for binding and probe when judging the queue */

enum metric_route { MR_POST, MR_GET, MR_LIST, MR_DELETE, MR_HEALTH, MR_METRICS, MR_OTHER, MR__N };
enum metric_class { MC_2XX, MC_4XX, MC_5XX, MC__N };
enum bind_source { BS_REGISTRY, BS_SIDECAR, BS_REMOTE, BS_DESCRIBE, BS__N };
/* "registry", "sidecar", "remote_sidecar", "describe": for logs and metrics. */
extern const char *const bind_source_names[BS__N];

/* The launcher's figures (core/metrics), registered by launcher/metrics.c. */
struct launcher_metrics {
	struct metrics *all;
	struct metric *requests[MR__N][MC__N];
	struct metric *rate_limited, *unauthorized;
	struct metric *started, *running, *failed, *timed_out, *resumed;
	struct metric *refused; /* 503 at once: the start queue could not serve in time */
	struct metric *tenants_stopped;
	struct metric *task_stopped; /* RUNNING tenants whose task stopped (watch.c) */
	struct metric *inflight, *start_queue;
	struct metric *registry_checks, *registry_changes;
	struct metric *bound_by[BS__N];
	struct metric *remote_failures; /* another host's sidecar failed: the fallback answered */
	/* seconds from POST to RUNNING, and the launcher's own share (minus backend start) */
	struct metric *total, *share;
	struct metric *tenants[4];
};

/*
 * What a provision (or a stop) came to, for one request waiting on it. The
 * provision hands it to l->answer with the request's opaque handle; only
 * the HTTP layer (api.c) knows what the handle is.
 */
struct prov_outcome {
	int status;                /* the HTTP status to answer */
	const struct tenant *t;    /* success (201 or 200): the tenant as recorded */
	const char *code, *msg;    /* failure: error code and message */
	int retry_after_s;         /* 503: when to ask again (0: no header) */
	const char *server_timing; /* 201: how the time was spent, or NULL */
};
typedef void (*prov_answer_fn)(struct launcher *, void *who, const struct prov_outcome *);

struct waiter {
	void *who;     /* the waiting request, as the HTTP layer gave it */
	int64_t t0_us; /* when the request arrived (monotonic) */
};

struct prov;
TAILQ_HEAD(prov_list, prov);
struct await;

struct launcher {
	struct event_base *base;
	struct evhttp *http;
	struct evcurl *curl;
	struct aws *aws; /* the one AWS client (ecs backend or --dynamodb-table), or NULL */
	struct registry *reg;
	const struct backend_ops *bops;
	void *bstate;
	struct ratelimit *rl;
	struct launcher_metrics m;
	prov_answer_fn answer; /* set by api_init: answers a waiting request */

	/* configuration (strings borrowed from the options or owned where noted) */
	char token[LAUNCHER_TOKEN_MAX]; /* "" when auth is off */
	const char *cors_origin;
	const char *url_template, *dburl_template;
	const char *host_ip; /* NULL: the binding's */
	const char *sidecar_url;
	char sidecar_auth[LAUNCHER_TOKEN_MAX + 32]; /* "Authorization: Bearer ..." for sidecars */
	struct hosts *hosts; /* the cluster's host items (launcher/hosts.c), with a table */
	const char *client_ip_header; /* e.g. X-Forwarded-For; NULL: the peer address */
	int container_port, wait_timeout_s, ready_http, max_inflight;
	int backend_max; /* backend starts in flight at once (--backend-concurrency); 0: 16 */
	int describe_ms; /* backend describe fallback interval; 0: off */

	struct prov_list provs;
	int nprovs;
	/* Provisions waiting for a backend start slot, oldest first (provision.c). */
	TAILQ_HEAD(, prov) startq;
	int nqueued, nstarting;
	double start_ewma_ms;       /* how long a backend start takes, smoothed */
	TAILQ_HEAD(, await) awaits; /* launcher/await.c */
	int nawait;                 /* awaits running: the registry timer runs while > 0 */
	struct event *reg_timer;
	int64_t started_ms;
	int closing;               /* shutting down: new requests get 503 */
	int file_warned;           /* registry_file_lost is logged */
	struct event *watch_timer; /* launcher/watch.c */
	int reg_news;              /* the registry changed since the watch last looked */
	struct launcher_ddb *ddb;  /* --dynamodb-table (launcher/ddb.c), or NULL */
};

/* provision.c */
/* Finds this process's provision of subdomain, or NULL. */
struct prov *prov_find(struct launcher *, const char *subdomain);
/* 1 when the provision has a result and only cleanup (a stop) is left. */
int prov_finished(const struct prov *);
/*
 * Starts provisioning tenant t (already written PROVISIONING). who, when not
 * NULL, is answered with the result (201 or an error) through l->answer.
 * Returns 0, or a negative code when nothing could be started (t is then
 * FAILED).
 */
int prov_start(struct launcher *, const struct tenant *t, void *who, int64_t t0_us);
/* Adds who as one more waiter for the result; -ENOSPC when too many wait. */
int prov_join(struct prov *, void *who, int64_t t0_us);
/*
 * Stops subdomain's task and marks it STOPPED, then answers who (200 with the
 * tenant, or 502). Waiting POSTs get 409 "deleted". t is the stored row.
 */
int prov_delete(struct launcher *, const struct tenant *t, void *who);
/* Finishes or fails every tenant left PROVISIONING by an earlier run. */
int prov_resume(struct launcher *);
/*
 * 1 when t is PROVISIONING and older than any provision can be (its
 * --wait-timeout plus LAUNCHER_ORPHAN_GRACE_S without a write): no launcher
 * sharing this registry is working on it any more.
 */
int prov_orphaned(const struct launcher *, const struct tenant *t);
/*
 * Takes up t, left PROVISIONING by a provision that is gone: awaits its task
 * when one is recorded, else starts it again. who (may be NULL) waits for the
 * result. why names the log event. 0, or negative as prov_start.
 */
int prov_take_over(struct launcher *, const struct tenant *t, void *who, int64_t t0_us,
                   const char *why);
/*
 * Writes the provision's last state now if an earlier write failed. 0 when
 * the registry has it (p may then be freed), -EBUSY when it still fails.
 */
int prov_flush(struct prov *);
/* Answers every waiter with 503 and frees every provision (shutdown). */
void prov_shutdown(struct launcher *);

/* metrics.c: registers l->m (handles stay NULL, never counted, when out of memory) */
int launcher_metrics_init(struct launcher *);
/* Sets the gauges read at scrape time and appends the text exposition. */
void launcher_metrics_render(struct launcher *, struct evbuffer *);
void launcher_metrics_free(struct launcher *);

/* api.c */
/* Sets up routes on l->http and l->answer. */
int api_init(struct launcher *, char *err, size_t errlen);
/* Frees what api_init made (after the last request). */
void api_free(struct launcher *);

#endif
