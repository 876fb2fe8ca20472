/*
 * The launcher's DynamoDB side: subdomain reservation and the outbox sync.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "core/log.h"
#include "launcher/ddb.h"
#include "launcher/launcher.h"
#include "registry/sync.h"

#define DDB_OWNER_MAX 128

struct launcher_ddb {
	void *service; /* sync_service_start's handle: its own AWS client and the sync */
	struct aws *aws;
	char table[256];
	char owner[DDB_OWNER_MAX];
};

int
launcher_ddb_open(struct launcher *l, const char *table, char *err, size_t errlen)
{
	struct launcher_ddb *d;
	char host[64], aerr[256];

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(d->table, sizeof(d->table), "%s", table);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(d->owner, sizeof(d->owner), "berth-launcher@%s:%d", host, (int)getpid());
	if ((d->aws = aws_new(l->base, l->curl, aerr, sizeof(aerr))) == NULL) {
		snprintf(err, errlen, "--dynamodb-table: AWS: %s", aerr);
		free(d);
		return -1;
	}
	if ((d->service = sync_service_start(l->base, l->curl, l->reg, table, err, errlen)) ==
	    NULL) {
		aws_free(d->aws);
		free(d);
		return -1;
	}
	l->ddb = d;
	log_info("dynamodb table=%s owner=%s", table, d->owner);
	return 0;
}

void
launcher_ddb_close(struct launcher *l)
{
	struct launcher_ddb *d = l->ddb;

	if (d == NULL)
		return;
	sync_service_stop(d->service);
	aws_free(d->aws);
	free(d);
	l->ddb = NULL;
}

int
launcher_ddb_reserve(struct launcher *l, const struct tenant *t, sync_reserve_cb cb, void *arg)
{
	struct launcher_ddb *d = l->ddb;

	if (d == NULL)
		return -ENOTSUP;
	return sync_reserve_tenant(d->aws, d->table, t, d->owner, cb, arg);
}
