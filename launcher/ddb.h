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
#include <stdint.h>

#include <jansson.h>

#include "registry/sync.h"

struct launcher;
struct tenant;

/* Opens l->ddb for table; -1 with err filled when the table name or AWS settings are unusable. */
int launcher_ddb_open(struct launcher *, const char *table, char *err, size_t errlen);
/* Pushes what it can (a few seconds at most) and frees; a no-op when off. */
void launcher_ddb_close(struct launcher *);
/*
 * Reserves t's subdomain: cb gets 0, -EEXIST (taken; the item as it stands
 * when it could be read), or an error. With over, takes over the stale item
 * launcher_ddb_judge found. 0 or negative (cb not run).
 */
int launcher_ddb_reserve(struct launcher *, const struct tenant *t,
                         const struct sync_takeover *over, sync_reserve_cb cb, void *arg);

/*
 * A reservation (version 0) or a PROVISIONING tenant item that nobody
 * updated for this long was left by a launcher that stopped: the same
 * request takes it over.
 */
#define LAUNCHER_DDB_STALE_MS (15 * 60 * 1000)

/* What the item that beat a reservation means for the request (t). */
enum ddb_verdict {
	DDB_TAKEN,         /* another kind of item, or one this launcher cannot serve: 409 */
	DDB_OTHER_DETAILS, /* the subdomain with other details: 409 naming the field */
	DDB_SAME_RUNNING,  /* the same request, running under another launcher: 200 */
	DDB_IN_FLIGHT,     /* the same request, being provisioned elsewhere: ask again */
	DDB_STALE,         /* the same request, an item left by a launcher that stopped */
};

struct ddb_judgement {
	enum ddb_verdict verdict;
	const char *field; /* DDB_OTHER_DETAILS: "admin_email" or "company_name" */
	char created[40];  /* DDB_STALE: the item's created_at and version, for the takeover */
	int64_t version;
	struct tenant *tenant; /* DDB_SAME_RUNNING: the tenant as the item has it (caller frees) */
};

/*
 * Judges existing (the item as plain JSON, untrusted; NULL when it could not
 * be read) against the request t at now_ms. Only the same request (same
 * e-mail and company) is ever served or takes over. A reservation of owner
 * (this launcher: one whose registry write failed after it) is stale at once.
 */
void launcher_ddb_judge(const json_t *existing, const struct tenant *t, int64_t now_ms,
                        const char *owner, struct ddb_judgement *out);
/* This launcher's reserved_by ("" when DynamoDB is off). */
const char *launcher_ddb_owner(const struct launcher *);

#endif
