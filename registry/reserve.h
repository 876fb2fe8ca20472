/*
 * reserve: claims a tenant's subdomain in the DynamoDB table with one
 * conditional put (registry/item.h: the reservation item and its
 * conditions), or takes over an item left by a launcher that stopped, and
 * reads back the item that beat it. What that item means is item_judge's.
 */
#ifndef BERTH_REGISTRY_RESERVE_H
#define BERTH_REGISTRY_RESERVE_H

#include <stdint.h>

#include <jansson.h>

struct aws;
struct tenant;

/*
 * Reserves t->subdomain in the table with a conditional put
 * (attribute_not_exists(userId)), so two launchers cannot take one
 * subdomain. owner (e.g. the launcher's host) is recorded as reserved_by.
 * With over set, the put instead replaces a tenant item nobody will finish
 * (a reservation or a provision left by a launcher that stopped): only while
 * the item still has over's version and created_at, so of several launchers
 * taking one over, one wins.
 * cb gets 0, -EEXIST when it is taken (existing: the item as it stands,
 * read back consistently, as plain JSON; NULL when it could not be read;
 * borrowed for the call), or another error with a message.
 */
typedef void (*reserve_cb)(int err, const char *errmsg, json_t *existing, void *arg);
struct reserve_takeover {
	int64_t version;
	const char *created; /* the item's created_at, exactly */
};
/* Returns 0 (cb runs once, from the loop) or a negative code (cb never runs). */
int reserve_tenant(struct aws *, const char *table, const struct tenant *, const char *owner,
                   const struct reserve_takeover *over, reserve_cb, void *arg);

#endif
