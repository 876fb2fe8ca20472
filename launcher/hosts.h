/*
 * hosts: the cluster's hosts as their sidecars' items in the DynamoDB table
 * say (registry/item.h), cached by host id. The launcher asks for the host
 * a task was placed on (the container instance ARN RunTask names) to
 * long-poll that host's sidecar. A cached item is read again when it is
 * older than HOSTS_CACHE_MS or its host is not UP by it; an item with junk
 * fields or an unusable API URL is logged once and never long-polled.
 */
#ifndef BERTH_LAUNCHER_HOSTS_H
#define BERTH_LAUNCHER_HOSTS_H

#include "registry/item.h"

#define HOSTS_CACHE_MS 30000
#define HOSTS_MAX      4096 /* cached hosts; the oldest read goes first */

struct launcher;
struct hosts;
struct hosts_ask;

/*
 * h is the host as its item says (NULL: unknown, unreadable or junk); live is
 * 1 when it is UP with a usable API URL, the only case to long-poll it. A
 * STALE or LEFT host's address still names where its tasks run.
 */
typedef void (*hosts_cb)(const struct host_item *h, int live, void *arg);

/* Over the launcher's AWS client and table (both borrowed). NULL when out of memory. */
struct hosts *hosts_new(struct launcher *, const char *table);
void hosts_free(struct hosts *);
/*
 * Looks up host id. Answers from the cache at once (cb runs before the
 * return: NULL is returned) or reads the item (cb runs later; the returned
 * handle cancels it). NULL with cb never run only when id is "" (cb(NULL) is
 * not called either).
 */
struct hosts_ask *hosts_find(struct hosts *, const char *id, hosts_cb cb, void *arg);
void hosts_cancel(struct hosts_ask *);

#endif
