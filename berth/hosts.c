/*
 * berth hosts: every host item in the DynamoDB table (one per sidecar): host,
 * IP, API URL, status (UP, STALE when its heartbeat is older than three
 * intervals, LEFT after a clean stop), heartbeat age and RUNNING bindings.
 * A table for people, --json for scripts. doctor uses the same scan.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "berth/berth.h"
#include "registry/item.h"
#include "registry/registry.h"

#define HOSTS_PAGES_MAX 1000 /* Scan pages read at most (1 MB each) */

int
berth_hosts_scan(struct berth_loop *l, struct aws *aws, const char *table, struct host_item **out,
                 size_t *n, int *junk, char *err, size_t errlen)
{
	json_t *start = NULL;
	struct host_item *v = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	*junk = 0;
	for (int page = 0; page < HOSTS_PAGES_MAX; page++) {
		struct berth_call k = {0};
		json_t *items, *it;
		size_t i;

		berth_call_wait(l, &k,
		                ddb_scan(aws, table, "#k = :host", json_pack("{s:s}", "#k", "kind"),
		                         json_pack("{s:{s:s}}", ":host", "S", "host"), start,
		                         berth_call_done, &k),
		                BERTH_CMD_TIMEOUT_MS);
		start = NULL;
		if (k.error != 0) {
			snprintf(err, errlen, "Scan %s: %s", table, k.text);
			json_decref(k.body);
			free(v);
			return k.error;
		}
		items = json_object_get(k.body, "Items");
		json_array_foreach(items, i, it)
		{
			json_t *plain = ddb_item_to_json(it);
			char why[160];

			if (*n == cap) {
				struct host_item *nv;

				cap = cap != 0 ? cap * 2 : 16;
				if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
					json_decref(plain);
					json_decref(k.body);
					free(v);
					snprintf(err, errlen, "out of memory");
					return -ENOMEM;
				}
				v = nv;
			}
			if (plain != NULL && item_host_parse(plain, &v[*n], why, sizeof(why)) == 0)
				(*n)++;
			else
				(*junk)++;
			json_decref(plain);
		}
		if ((start = json_object_get(k.body, "LastEvaluatedKey")) != NULL)
			json_incref(start);
		json_decref(k.body);
		if (start == NULL)
			break;
	}
	json_decref(start);
	*out = v;
	return 0;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(((const struct host_item *)a)->id, ((const struct host_item *)b)->id);
}

int
berth_cmd_hosts(struct berth_ctx *c)
{
	struct berth_loop l;
	struct aws *aws = NULL;
	struct host_item *v = NULL;
	size_t n = 0;
	int junk = 0, rc = 0;
	char err[768];
	int64_t now = registry_now_ms();

	if (berth_loop_open(&l) != 0) {
		fprintf(stderr, "berth: out of memory\n");
		return BERTH_EXIT_REMOTE;
	}
	if ((aws = aws_new(l.base, l.ec, err, sizeof(err))) == NULL) {
		fprintf(stderr, "berth: AWS: %s\n", err);
		rc = BERTH_EXIT_REMOTE;
		goto out;
	}
	if (berth_hosts_scan(
	        &l, aws, berth_table_name(c) != NULL ? berth_table_name(c) : BERTH_DEFAULT_TABLE,
	        &v, &n, &junk, err, sizeof(err)) != 0) {
		fprintf(stderr, "berth: %s\n", err);
		rc = BERTH_EXIT_REMOTE;
		goto out;
	}
	qsort(v, n, sizeof(*v), by_id);
	if (junk > 0)
		fprintf(stderr, "berth: %d host item(s) with junk fields left out\n", junk);
	if (c->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++) {
			char beat[40];

			registry_time_format(beat, sizeof(beat), v[i].heartbeat_at);
			json_array_append_new(
			    arr,
			    json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:I, s:s, s:s}", "host",
			              v[i].id, "host_ip", v[i].host_ip, "api_url", v[i].api_url,
			              "status", host_status_str(item_host_status(&v[i], now)),
			              "api_url_ok", item_api_url_ok(v[i].api_url), "heartbeat_at",
			              beat, "heartbeat_age_ms",
			              (json_int_t)(now - v[i].heartbeat_at), "bindings_running",
			              (json_int_t)v[i].running, "container_instance_arn",
			              v[i].instance_arn, "berth_version", v[i].berth_version));
		}
		berth_print_json(arr);
		json_decref(arr);
	} else {
		struct berth_table t = {.ncols = 6};
		const char *head[] = {"HOST", "IP", "API", "STATUS", "HEARTBEAT", "RUNNING"};

		berth_table_add(&t, head);
		for (size_t i = 0; i < n; i++) {
			char age[32], running[24];
			const char *row[6];

			berth_age(age, sizeof(age), v[i].heartbeat_at, now);
			snprintf(running, sizeof(running), "%ld", v[i].running);
			row[0] = v[i].id;
			row[1] = v[i].host_ip;
			row[2] = item_api_url_ok(v[i].api_url) ? v[i].api_url : "(unusable)";
			row[3] = host_status_str(item_host_status(&v[i], now));
			row[4] = age;
			row[5] = running;
			berth_table_add(&t, row);
		}
		berth_table_print(&t);
	}
out:
	free(v);
	aws_free(aws);
	berth_loop_close(&l);
	return rc;
}
