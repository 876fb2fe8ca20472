/*
 * berth's table commands:
 *   init-table   create the DynamoDB table (on-demand, key userId S) if absent,
 *                and the SYSTEM_CONFIG item (lastAssignedPort 7999) if absent
 *   sync-status  the outbox: depth, oldest pending age, rows failing, last error
 * AWS settings come from the usual environment (AWS_REGION,
 * AWS_ENDPOINT_URL_DYNAMODB, credentials chain); secrets are never printed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "core/clock.h"
#include "core/opts.h"
#include "berth/berth.h"
#include "registry/item.h"
#include "registry/registry.h"

#define TABLE_ACTIVE_MS    120000
#define SYSTEM_CONFIG_PORT 7999 /* the old system's seed */

const char *
berth_table_name(struct berth_ctx *c)
{
	const char *t = opts_get(&c->o, "dynamodb-table");

	return t != NULL && t[0] != '\0' ? t : NULL;
}

const char *
berth_table_status(json_t *body)
{
	const char *s =
	    json_string_value(json_object_get(json_object_get(body, "Table"), "TableStatus"));

	return s != NULL ? s : "";
}

/* --- init-table ------------------------------------------------------------ */

int
berth_cmd_init_table(struct berth_ctx *c)
{
	const char *table = berth_table_name(c) != NULL ? berth_table_name(c) : BERTH_DEFAULT_TABLE;
	struct berth_loop l;
	struct aws *aws = NULL;
	struct berth_call k;
	char err[256];
	int created = 0, seeded = 0, ttl_changed = 0, rc = BERTH_EXIT_REMOTE;
	const char *ttl_status, *ttl_attr;
	int64_t end;
	json_t *item, *out;

	if (!ddb_table_name_ok(table))
		return berth_usage_error("bad table name \"%s\" (3-255 of A-Z a-z 0-9 _ . -)",
		                         table);
	if (berth_loop_open(&l) != 0 || (aws = aws_new(l.base, l.ec, err, sizeof(err))) == NULL) {
		fprintf(stderr, "berth: AWS: %s\n", aws != NULL ? "" : err);
		goto out;
	}
	memset(&k, 0, sizeof(k));
	berth_call_wait(&l, &k, ddb_describe_table(aws, table, berth_call_done, &k),
	                BERTH_CMD_TIMEOUT_MS);
	if (k.error != 0 && strcmp(k.code, "ResourceNotFoundException") != 0) {
		fprintf(stderr, "berth: %s\n", k.text);
		goto out;
	}
	if (k.error != 0) {
		json_decref(k.body);
		memset(&k, 0, sizeof(k));
		berth_call_wait(&l, &k,
		                ddb_create_table(aws, table, ITEM_KEY_ATTR, berth_call_done, &k),
		                BERTH_CMD_TIMEOUT_MS);
		/* Another init-table may have won the race: that is fine. */
		if (k.error != 0 && strcmp(k.code, "ResourceInUseException") != 0) {
			fprintf(stderr, "berth: %s\n", k.text);
			goto out;
		}
		created = k.error == 0;
	}
	/* Wait until the table is ACTIVE. */
	end = clock_mono_ms() + TABLE_ACTIVE_MS;
	for (;;) {
		json_decref(k.body);
		memset(&k, 0, sizeof(k));
		if (berth_call_wait(&l, &k, ddb_describe_table(aws, table, berth_call_done, &k),
		                    BERTH_CMD_TIMEOUT_MS) != 0) {
			fprintf(stderr, "berth: %s\n", k.text);
			goto out;
		}
		if (strcmp(berth_table_status(k.body), "ACTIVE") == 0)
			break;
		if (clock_mono_ms() > end) {
			fprintf(stderr, "berth: table %s is still %s\n", table,
			        berth_table_status(k.body));
			goto out;
		}
		{
			int never = 0;
			berth_loop_wait(&l, &never, 200);
		}
	}
	json_decref(k.body);
	memset(&k, 0, sizeof(k));
	item = item_system_config();
	berth_call_wait(&l, &k,
	                ddb_put_item(aws, table, item, ITEM_RESERVE_NEW,
	                             json_pack("{s:s}", "#pk", ITEM_KEY_ATTR), NULL,
	                             berth_call_done, &k),
	                BERTH_CMD_TIMEOUT_MS);
	if (k.error != 0 && strcmp(k.code, "ConditionalCheckFailedException") != 0) {
		fprintf(stderr, "berth: %s\n", k.text);
		goto out;
	}
	seeded = k.error == 0;
	/*
	 * TTL on expires_at, so the items of gone containers expire (the
	 * sidecar's --tombstone-ttl). A table with TTL on another attribute is
	 * an error: DynamoDB allows one, and berth's items would never expire.
	 */
	json_decref(k.body);
	memset(&k, 0, sizeof(k));
	if (berth_call_wait(&l, &k, ddb_describe_ttl(aws, table, berth_call_done, &k),
	                    BERTH_CMD_TIMEOUT_MS) != 0) {
		fprintf(stderr, "berth: %s\n", k.text);
		goto out;
	}
	ttl_status = json_string_value(
	    json_object_get(json_object_get(k.body, "TimeToLiveDescription"), "TimeToLiveStatus"));
	ttl_attr = json_string_value(
	    json_object_get(json_object_get(k.body, "TimeToLiveDescription"), "AttributeName"));
	if (ttl_status != NULL &&
	    (strcmp(ttl_status, "ENABLED") == 0 || strcmp(ttl_status, "ENABLING") == 0) &&
	    (ttl_attr == NULL || strcmp(ttl_attr, ITEM_TTL_ATTR) != 0)) {
		fprintf(stderr,
		        "berth: table %s has TTL on \"%s\", not %s: berth's items would never "
		        "expire (disable it there, then run init-table again)\n",
		        table, ttl_attr != NULL ? ttl_attr : "?", ITEM_TTL_ATTR);
		goto out;
	}
	if (ttl_status == NULL ||
	    (strcmp(ttl_status, "ENABLED") != 0 && strcmp(ttl_status, "ENABLING") != 0)) {
		json_decref(k.body);
		memset(&k, 0, sizeof(k));
		berth_call_wait(&l, &k,
		                ddb_enable_ttl(aws, table, ITEM_TTL_ATTR, berth_call_done, &k),
		                BERTH_CMD_TIMEOUT_MS);
		/* "TimeToLive is already enabled": another init-table got there first. */
		if (k.error != 0 && strstr(k.text, "already enabled") == NULL) {
			fprintf(stderr, "berth: %s\n", k.text);
			goto out;
		}
		ttl_changed = k.error == 0;
	}
	if (c->json) {
		out = json_pack("{s:s, s:b, s:b, s:s, s:b, s:s}", "table", table, "table_created",
		                created, "system_config_created", seeded, "ttl_attribute",
		                ITEM_TTL_ATTR, "ttl_enabled_now", ttl_changed, "region",
		                aws_region(aws));
		berth_print_json(out);
		json_decref(out);
	} else {
		printf("table %s: %s (region %s)\n", table, created ? "created" : "exists",
		       aws_region(aws));
		printf("%s: %s\n", ITEM_SYSTEM_CONFIG,
		       seeded ? "created (lastAssignedPort 7999)" : "exists (left as it is)");
		printf("TTL on %s: %s\n", ITEM_TTL_ATTR, ttl_changed ? "enabled" : "already on");
	}
	rc = 0;
out:
	json_decref(k.body);
	aws_free(aws);
	berth_loop_close(&l);
	return rc;
}

/* --- sync-status ----------------------------------------------------------- */

struct last_err {
	char error[REG_ERROR_MAX];
	int64_t at;
	char key[REG_ARN_MAX + REG_NAME_MAX + 32];
};

static int
find_last_error(const struct outbox_row *row, void *arg)
{
	struct last_err *e = arg;

	if (row->last_error != NULL && row->last_error[0] != '\0' && row->last_attempt_at > e->at) {
		snprintf(e->error, sizeof(e->error), "%s", row->last_error);
		snprintf(e->key, sizeof(e->key), "%s", row->key);
		e->at = row->last_attempt_at;
	}
	return 0;
}

int
berth_cmd_sync_status(struct berth_ctx *c)
{
	struct registry_stats st;
	struct last_err le;
	char age[32], at[40], safe[REG_ERROR_MAX];
	int64_t now = registry_now_ms();
	json_t *out;
	int rc;

	memset(&le, 0, sizeof(le));
	if ((rc = registry_stats(c->r, &st)) != 0)
		return berth_registry_error(c, rc);
	if ((rc = registry_outbox_pending(c->r, REGISTRY_OUTBOX_MAX, find_last_error, &le)) != 0)
		return berth_registry_error(c, rc);
	berth_age(age, sizeof(age), st.outbox_oldest, now);
	registry_time_format(at, sizeof(at), le.at);
	if (c->json) {
		out =
		    json_pack("{s:I, s:I, s:I, s:s, s:s}", "pending", (json_int_t)st.outbox_pending,
		              "failing", (json_int_t)st.outbox_failing, "oldest_age_ms",
		              (json_int_t)(st.outbox_oldest != 0 ? now - st.outbox_oldest : 0),
		              "last_error", le.error, "last_error_at", at);
		berth_print_json(out);
		json_decref(out);
		return 0;
	}
	berth_safe(safe, sizeof(safe), le.error);
	printf("outbox pending:  %ld\n", st.outbox_pending);
	printf("oldest pending:  %s\n", st.outbox_pending > 0 ? age : "-");
	printf("rows failing:    %ld\n", st.outbox_failing);
	printf("last error:      %s%s%s\n", le.error[0] != '\0' ? safe : "-",
	       le.error[0] != '\0' ? " at " : "", le.error[0] != '\0' ? at : "");
	return 0;
}
