/*
 * sync_hook: where the DynamoDB sync engine (registry/sync.*, built with the
 * AWS clients) plugs into the sidecar. When --dynamodb-table is set the
 * sidecar calls start() once the registry is open, kick() after every commit
 * that changed rows (the outbox has new rows), and stop() at shutdown.
 *
 * main.c points sidecar_sync at registry/sync.c's engine. Were it NULL, the
 * sidecar would keep writing the outbox (nothing is lost) and say once that
 * no sync runs.
 */
#ifndef BERTH_SIDECAR_SYNC_HOOK_H
#define BERTH_SIDECAR_SYNC_HOOK_H

#include <stddef.h>

struct event_base;
struct evcurl;
struct registry;
struct sync_options;

struct sidecar_sync {
	/* Returns the engine's handle, or NULL with err filled (the sidecar exits 1). */
	void *(*start)(struct event_base *, struct evcurl *, struct registry *, const char *table,
	               const struct sync_options *, char *err, size_t errlen);
	void (*kick)(void *handle);
	void (*stop)(void *handle); /* pushes what it can within its own deadline, frees */
};

extern const struct sidecar_sync *sidecar_sync;

#endif
