/*
 * reserve: a subdomain claimed in the table (registry/reserve.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "core/log.h"
#include "registry/item.h"
#include "registry/registry.h"
#include "registry/reserve.h"

struct reserve {
	reserve_cb cb;
	void *arg;
	struct aws *aws;
	char table[DDB_TABLE_MAX + 1];
	char subdomain[REG_SUBDOMAIN_MAX];
};

/* The item that beat the reservation, read back for the caller to judge. */
static void
reserve_seen(const struct aws_result *r, void *arg)
{
	struct reserve *rv = arg;
	json_t *item = NULL;

	if (r->error == 0)
		item = ddb_item_to_json(json_object_get(r->body, "Item"));
	else
		log_debug("dynamodb_reservation_read_failed tenant=%s error=\"%s\"", rv->subdomain,
		          r->aerr.code);
	rv->cb(-EEXIST, "the subdomain is taken", item, rv->arg);
	json_decref(item);
	free(rv);
}

static void
reserve_done(const struct aws_result *r, void *arg)
{
	struct reserve *rv = arg;
	char msg[768];

	if (r->error == 0) {
		rv->cb(0, "", NULL, rv->arg);
	} else if (strcmp(r->aerr.code, "ConditionalCheckFailedException") == 0) {
		if (ddb_get_item(rv->aws, rv->table, item_key_av(rv->subdomain), 1, reserve_seen,
		                 rv) != NULL)
			return;
		rv->cb(-EEXIST, "the subdomain is taken", NULL, rv->arg);
	} else {
		aws_result_str(r, msg, sizeof(msg));
		rv->cb(r->error, msg, NULL, rv->arg);
	}
	free(rv);
}

int
reserve_tenant(struct aws *aws, const char *table, const struct tenant *t, const char *owner,
               const struct reserve_takeover *over, reserve_cb cb, void *arg)
{
	struct reserve *rv;
	json_t *item, *names, *values = NULL;
	const char *cond;

	if (strlen(table) >= sizeof(rv->table) || strlen(t->subdomain) >= sizeof(rv->subdomain))
		return -EINVAL;
	if ((rv = calloc(1, sizeof(*rv))) == NULL)
		return -ENOMEM;
	rv->cb = cb;
	rv->arg = arg;
	rv->aws = aws;
	snprintf(rv->table, sizeof(rv->table), "%s", table);
	snprintf(rv->subdomain, sizeof(rv->subdomain), "%s", t->subdomain);
	if ((item = item_reservation(t, owner)) == NULL)
		goto fail;
	if (over == NULL) {
		cond = ITEM_RESERVE_NEW;
		names = json_pack("{s:s}", "#pk", ITEM_KEY_ATTR);
	} else {
		char ver[24];

		snprintf(ver, sizeof(ver), "%lld", (long long)over->version);
		cond = ITEM_RESERVE_TAKEOVER;
		names = json_pack("{s:s, s:s}", "#v", "version", "#c", "created_at");
		values = json_pack("{s:{s:s}, s:{s:s}}", ":version", "N", ver, ":created", "S",
		                   over->created);
	}
	if (ddb_put_item(aws, table, item, cond, names, values, reserve_done, rv) == NULL)
		goto fail;
	return 0;
fail:
	free(rv);
	return -ENOMEM;
}
