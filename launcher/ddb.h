/*
 * ddb: the launcher's DynamoDB side, on when --dynamodb-table is set.
 * Before a new tenant is written, its subdomain is reserved in the table with
 * a conditional put, so two launchers (on different hosts, with different
 * registries) cannot both take it; and the registry's outbox (tenant rows)
 * is synced to the table by registry/sync (one drainer per registry file:
 * with a sidecar on the same file, one of the two drains).
 */
#ifndef BERTH_LAUNCHER_DDB_H
#define BERTH_LAUNCHER_DDB_H

#include <stddef.h>

#include "registry/sync.h"

struct launcher;
struct tenant;

/* Opens l->ddb for table; -1 with err filled when the table name or AWS settings are unusable. */
int launcher_ddb_open(struct launcher *, const char *table, char *err, size_t errlen);
/* Pushes what it can (a few seconds at most) and frees; a no-op when off. */
void launcher_ddb_close(struct launcher *);
/* Reserves t's subdomain: cb gets 0, -EEXIST (taken), or an error. 0 or negative (cb not run). */
int launcher_ddb_reserve(struct launcher *, const struct tenant *t, sync_reserve_cb cb, void *arg);

#endif
