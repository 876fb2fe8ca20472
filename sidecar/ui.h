/*
 * ui: the live dashboard at GET /ui, one self-contained page (sidecar/ui.html,
 * built in): every binding of this host with tenant, task, container, port,
 * host address, status and age, filtered by tenant and status, kept current
 * through the changes long-poll (GET /v1/changes), with the discovery latency
 * histogram and the outbox depth from /metrics. Everything it shows is put in
 * as text, never as markup.
 */
#ifndef BERTH_SIDECAR_UI_H
#define BERTH_SIDECAR_UI_H

struct evhttp_request;

void ui_page(struct evhttp_request *);

#endif
