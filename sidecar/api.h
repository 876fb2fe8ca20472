/*
 * api: the sidecar's HTTP API on --listen; its routes are declared in
 * registry/sidecar_api.h, shared with the launcher that calls them. A
 * long-poll parks until a commit makes its binding exist, or answers 404
 * when its wait runs out.
 */
#ifndef BERTH_SIDECAR_API_H
#define BERTH_SIDECAR_API_H

struct event_base;
struct evhttp;
struct registry;
struct tracker;
struct agent;
struct api;
struct metrics;

#define API_WAITERS_MAX 1024  /* long-polls parked at once; more get 503 */
#define API_LIST_MAX    10000 /* bindings in one /v1/bindings answer */

struct api_info {
	const char *host_ip;
	const char *host_ip_source;
	/* The process's figures, rendered at /metrics (the API adds its gauges); NULL: its own. */
	struct metrics *metrics;
	/* Requests from off the host must send "Authorization: Bearer <token>"; NULL or "": none.
	 */
	const char *token;
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
