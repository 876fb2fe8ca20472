/*
 * sidecar_api: the routes of berth-sidecar's HTTP API, declared once for the
 * sidecar that serves them (sidecar/api.c) and the launcher that calls them
 * (launcher/await.c). Answers are rows in registry_json.c's shape. A wire
 * contract (docs/api.md, docs/man/berth-sidecar.8): change both sides and
 * the docs together.
 *
 *   GET /healthz                               200 while Docker's stream is up
 *   GET /v1/bindings[?task=&tenant=&status=]   a list
 *   GET /v1/bindings/{task-id}[?wait=SECONDS]  long-poll until a binding exists
 *   GET /v1/changes?since=N[&wait=SECONDS]     the count of changing commits, long-polled
 *   GET /metrics                               Prometheus text
 *   GET /ui                                    the live dashboard (HTML)
 */
#ifndef BERTH_REGISTRY_SIDECAR_API_H
#define BERTH_REGISTRY_SIDECAR_API_H

#define SIDECAR_ROUTE_HEALTH   "/healthz"
#define SIDECAR_ROUTE_METRICS  "/metrics"
#define SIDECAR_ROUTE_BINDINGS "/v1/bindings"
#define SIDECAR_ROUTE_BINDING  SIDECAR_ROUTE_BINDINGS "/" /* + task id (URL-encoded) */
#define SIDECAR_ROUTE_CHANGES  "/v1/changes"
#define SIDECAR_ROUTE_UI       "/ui"
#define SIDECAR_QUERY_WAIT     "wait" /* seconds, 0..SIDECAR_WAIT_MAX */
#define SIDECAR_WAIT_MAX       300

#endif
