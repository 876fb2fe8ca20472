/*
 * ddb: the launcher's DynamoDB side, on when --dynamodb-table is set.
 * Before a new tenant is written, its subdomain is claimed in the table with
 * a conditional put, so two launchers (on different hosts, with different
 * registries) cannot both take it; what an item that beat the claim means is
 * registry/item.c's verdict, acted on here (a stale one is taken over, once).
 * The registry's outbox (tenant rows) is synced to the table by
 * registry/sync (one drainer per registry file: with a sidecar on the same
 * file, one of the two drains). Everything goes through the process's one
 * AWS client (launcher.h: l->aws).
 */
#ifndef BERTH_LAUNCHER_DDB_H
#define BERTH_LAUNCHER_DDB_H

#include <stddef.h>
#include <stdint.h>

struct launcher;
struct tenant;

/* Opens l->ddb for table; -1 with err filled when the table name is unusable. */
int launcher_ddb_open(struct launcher *, const char *table, char *err, size_t errlen);
/* Pushes what it can (a few seconds at most) and frees; a no-op when off. */
void launcher_ddb_close(struct launcher *);

/* What claiming a new tenant's subdomain in the table came to. */
enum ddb_claim {
	DDB_CLAIMED,      /* reserved for this request: write the tenant and provision it */
	DDB_MINE,         /* taken meanwhile by this launcher: the registry has the tenant */
	DDB_CONFLICT,     /* taken by another request (field: the detail that differs) */
	DDB_SAME_RUNNING, /* the same request, running under another launcher (tenant) */
	DDB_IN_FLIGHT,    /* the same request, being provisioned by another launcher */
	DDB_ERROR,        /* DynamoDB did not answer (errmsg) */
};

struct ddb_claim_result {
	enum ddb_claim outcome;
	const char *field;           /* DDB_CONFLICT: "admin_email", "company_name", or NULL */
	const struct tenant *tenant; /* DDB_SAME_RUNNING: as the item has it (borrowed) */
	const char *errmsg;          /* DDB_ERROR */
};

typedef void (*ddb_claim_cb)(const struct ddb_claim_result *, void *arg);

/*
 * Claims t's subdomain for this request. cb runs once, from the loop.
 * 0, or a negative code (cb never runs; -ENOTSUP when DynamoDB is off).
 */
int launcher_ddb_claim(struct launcher *, const struct tenant *t, ddb_claim_cb cb, void *arg);

/*
 * Read-your-writes: writes tenant t's item as it stands (RUNNING with its
 * URL) conditionally on its version, retried with back-off until
 * deadline_ms (monotonic). cb gets 0 once the table holds this version or a
 * newer one, else an error and a message. Returns the write (for
 * launcher_ddb_record_cancel) or NULL (cb never runs).
 */
typedef void (*ddb_record_cb)(int error, const char *errmsg, void *arg);
struct ddb_record;
struct ddb_record *launcher_ddb_record(struct launcher *, const struct tenant *t,
                                       int64_t deadline_ms, ddb_record_cb cb, void *arg);
/* Cancels a write; its callback does not run. */
void launcher_ddb_record_cancel(struct ddb_record *);

/* This launcher's reserved_by ("" when DynamoDB is off). */
const char *launcher_ddb_owner(const struct launcher *);

#endif
