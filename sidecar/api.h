/*
 * api: the sidecar's local HTTP API on --listen.
 *
 *   GET /healthz                          200 while the Docker stream is connected, else 503
 *   GET /v1/bindings[?task=&tenant=&status=]
 *   GET /v1/bindings/{task-id}[?wait=SECONDS]  long-poll until a binding exists; 404 after
 *   GET /metrics                          Prometheus text
 *
 * Routes and JSON field names are a wire contract (docs/man/berth-sidecar.8,
 * DESIGN.md); change them together.
 */
#ifndef BERTH_SIDECAR_API_H
#define BERTH_SIDECAR_API_H

struct event_base;
struct evhttp;
struct registry;
struct tracker;
struct agent;
struct api;

#define API_WAIT_MAX    300   /* seconds a long-poll may ask for */
#define API_WAITERS_MAX 1024  /* long-polls parked at once; more get 503 */
#define API_LIST_MAX    10000 /* bindings in one /v1/bindings answer */

struct api_info {
	const char *host_ip;
	const char *host_ip_source;
};

/* All borrowed. Installs the routes on http. */
struct api *api_new(struct event_base *, struct evhttp *, struct registry *, struct tracker *,
                    struct agent *, const struct api_info *);
/* Answers every parked long-poll (404) and frees. */
void api_free(struct api *);
/* Long-polls parked now. */
int api_waiters(const struct api *);
/* A commit changed rows: wake the long-polls whose binding now exists. */
void api_wake(struct api *);

#endif
