/*
 * item: what berth's items in the DynamoDB table mean; the one home of that
 * wire contract, used by the sync (registry/sync.c), the launcher and berth.
 *
 * Every item has the partition key userId (S), kind ("tenant" or
 * "binding"), version (N) and the fields of the row's JSON (DESIGN.md shape,
 * registry_json.c; empty strings and nulls left out, since older tables keep
 * no empty strings). A tenant's userId is its subdomain; a binding's is
 * "binding#<task_arn>#<container>#<port>/<proto>"; a binding of a gone
 * container also has expires_at (N, epoch seconds), the table's TTL
 * attribute. A host's item, "host#<id>" (id: the ECS container instance
 * ARN, or a stable machine id without an agent), is its sidecar's heartbeat
 * (item_host). The old system's SYSTEM_CONFIG item (lastAssignedPort)
 * shares the table. A tenant item at version 0 is a reservation: the subdomain is
 * taken by the launcher named in reserved_by, which has not written the
 * tenant yet. Bump ITEM_FORMAT_VERSION when a name or type changes.
 *
 * Writes never let an older version replace a newer one: ITEM_NEWER_ONLY is
 * the condition of every conditional put of a row.
 */
#ifndef BERTH_REGISTRY_ITEM_H
#define BERTH_REGISTRY_ITEM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "registry/registry.h"

#define ITEM_FORMAT_VERSION   1
#define ITEM_KEY_ATTR         "userId"
#define ITEM_BINDING_PREFIX   "binding#"
#define ITEM_HOST_PREFIX      "host#"
#define ITEM_SYSTEM_CONFIG    "SYSTEM_CONFIG"
#define ITEM_TTL_ATTR         "expires_at" /* DynamoDB TTL attribute: epoch seconds */
#define ITEM_KEY_MAX          (REG_ARN_MAX + REG_NAME_MAX + 64)
#define ITEM_NEWER_ONLY       "attribute_not_exists(#pk) OR #v < :v" /* #pk, #v, :v */
#define ITEM_RESERVE_NEW      "attribute_not_exists(#pk)"            /* #pk */
#define ITEM_RESERVE_TAKEOVER "#v = :version AND #c = :created"      /* #v, #c */
/*
 * A reservation (version 0) or a PROVISIONING tenant item that nobody
 * updated for this long was left by a launcher that stopped: the same
 * request takes it over.
 */
#define ITEM_STALE_MS (15 * 60 * 1000)

/* The partition key for an outbox row's kind and key; -E2BIG when it does not fit. */
int item_key(const char *kind, const char *key, char *out, size_t outlen);
/* The partition key of a binding; -E2BIG when it does not fit. */
int item_binding_key(const char *task_arn, const char *container, int container_port,
                     const char *proto, char *out, size_t outlen);
/* {"userId": {"S": key}}, the Key of a GetItem (new reference). */
json_t *item_key_av(const char *key);
/* The names every conditional write of this module uses ({"#pk": "userId", ...}). */
json_t *item_condition_names(void);

/*
 * The DynamoDB item (attribute values) for an outbox row (new reference),
 * or NULL with err filled when the row's body is not a JSON object. A
 * binding that is STOPPED or REMOVED gets expires_at = tombstone_expires_s
 * when that is not 0.
 */
json_t *item_from_outbox(const struct outbox_row *, int64_t tombstone_expires_s, char *err,
                         size_t errlen);

/* The SYSTEM_CONFIG item as the old system seeds it (attribute values; new reference). */
json_t *item_system_config(void);

/* The item of tenant row t at its version, as the sync writes it (attribute values). */
json_t *item_from_tenant(const struct tenant *t);

/* The reservation item of t (attribute values; new reference), owner its reserved_by. */
json_t *item_reservation(const struct tenant *t, const char *owner);

/*
 * The binding a synced binding item (as plain JSON, untrusted) describes:
 * 0 with *b filled, or -EINVAL when it is not one.
 */
int item_binding(const json_t *item, struct binding *b);

/* What the tenant item that beat a reservation means for the request. */
enum item_verdict {
	ITEM_TAKEN,         /* another kind of item, or one no launcher can serve: 409 */
	ITEM_OTHER_DETAILS, /* the subdomain with other details: 409 naming the field */
	ITEM_SAME_RUNNING,  /* the same request, running under another launcher: 200 */
	ITEM_IN_FLIGHT,     /* the same request, being provisioned elsewhere: ask again */
	ITEM_STALE,         /* the same request, an item left by a launcher that stopped */
};

struct item_judgement {
	enum item_verdict verdict;
	const char *field; /* ITEM_OTHER_DETAILS: "admin_email" or "company_name" */
	char created[40];  /* ITEM_STALE: the item's created_at and version, for the takeover */
	int64_t version;
	struct tenant tenant; /* ITEM_SAME_RUNNING: the tenant as the item has it */
};

/*
 * Judges existing (the item as plain JSON, untrusted; NULL when it could not
 * be read) against the request t at now_ms. Only the same request (same
 * e-mail and company) is ever served or takes over. A reservation of owner
 * (the judging launcher: one whose registry write failed after it) is stale
 * at once.
 */
void item_judge(const json_t *existing, const struct tenant *t, int64_t now_ms, const char *owner,
                struct item_judgement *out);

/* --- hosts ------------------------------------------------------------------ */

#define ITEM_HOST_ID_MAX      REG_ARN_MAX
#define ITEM_HOST_STALE_BEATS 3 /* heartbeats missed before a host is STALE */

enum host_status { HOST_UP, HOST_STALE, HOST_LEFT };

/*
 * A sidecar's host as its item has it. Written at start and every
 * heartbeat_s by the sidecar (conditional on version: a newer write always
 * wins), LEFT after a clean shutdown; STALE is what readers make of an UP
 * item whose heartbeat is older than ITEM_HOST_STALE_BEATS intervals.
 */
struct host_item {
	char id[ITEM_HOST_ID_MAX];      /* container instance ARN or machine id */
	char instance_arn[REG_ARN_MAX]; /* "" without an ECS agent */
	char ec2_instance_id[32];       /* "" when IMDS did not say */
	char host_ip[REG_IP_MAX];
	char api_url[REG_URL_MAX]; /* where other hosts reach its sidecar's API */
	char berth_version[32];
	int64_t started_at, heartbeat_at; /* ms */
	int heartbeat_s;
	int left;        /* status LEFT (else UP) */
	long running;    /* RUNNING bindings at the last heartbeat */
	int64_t version; /* of the item: ms of the write */
};

const char *host_status_str(enum host_status);
/* The host's status at now_ms. */
enum host_status item_host_status(const struct host_item *, int64_t now_ms);
/* The partition key of a host; -E2BIG when it does not fit. */
int item_host_key(const char *id, char *out, size_t outlen);
/* The host's item (attribute values; new reference), or NULL. */
json_t *item_host(const struct host_item *);
/*
 * The host a host item (plain JSON, untrusted) describes: 0, or -EINVAL with
 * why filled (a junk field). Its api_url is long-polled only when
 * item_api_url_ok says so.
 */
int item_host_parse(const json_t *item, struct host_item *h, char *why, size_t whylen);
/* 1 when url is http://A.B.C.D:PORT[/] with A.B.C.D loopback or private (RFC 1918). */
int item_api_url_ok(const char *url);

#endif
