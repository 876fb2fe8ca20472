/*
 * DynamoDB helpers for the sync tests and the drain benchmark.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "tests/aws/ddbtest.h"
#include "tests/lib/testlib.h"

struct wait {
	int done;
	int error;
	char code[AWS_ERR_CODE_MAX];
	json_t *body;
};

static void
on_done(const struct aws_result *r, void *arg)
{
	struct wait *w = arg;

	w->error = r->error;
	snprintf(w->code, sizeof(w->code), "%s", r->aerr.code);
	w->body = r->body != NULL ? json_incref(r->body) : NULL;
	w->done = 1;
	if (r->error != 0) {
		char msg[512];
		aws_result_str(r, msg, sizeof(msg));
		fprintf(stderr, "ddbtest: %s\n", msg);
	}
}

struct aws *
ddbt_aws(struct event_base *base, struct evcurl *ec, const char *url)
{
	char err[256];
	struct aws *a;

	setenv("AWS_ACCESS_KEY_ID", "AKIDDDBTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ddb-test-secret", 1);
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_REGION", "us-east-1", 1);
	setenv("AWS_ENDPOINT_URL_DYNAMODB", url, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	if ((a = aws_new(base, ec, err, sizeof(err))) == NULL)
		fprintf(stderr, "ddbtest: aws_new: %s\n", err);
	return a;
}

int
ddbt_create_table(struct event_base *base, struct aws *a, const char *table)
{
	struct wait w;

	memset(&w, 0, sizeof(w));
	if (ddb_create_table(a, table, "userId", on_done, &w) == NULL)
		return -1;
	tl_loop_until(base, &w.done, 60000);
	json_decref(w.body);
	if (w.error != 0 && strcmp(w.code, "ResourceInUseException") != 0)
		return -1;
	for (int i = 0; i < 200; i++) {
		const char *st;
		memset(&w, 0, sizeof(w));
		if (ddb_describe_table(a, table, on_done, &w) == NULL)
			return -1;
		tl_loop_until(base, &w.done, 60000);
		st = json_string_value(
		    json_object_get(json_object_get(w.body, "Table"), "TableStatus"));
		if (w.error == 0 && st != NULL && strcmp(st, "ACTIVE") == 0) {
			json_decref(w.body);
			return 0;
		}
		json_decref(w.body);
		usleep(50 * 1000);
	}
	return -1;
}

json_t *
ddbt_scan(struct event_base *base, struct aws *a, const char *table)
{
	json_t *all = json_object(), *start = NULL, *req, *x;
	struct wait w;
	size_t i;

	for (int page = 0; page < 1000; page++) {
		req = json_pack("{s:s}", "TableName", table);
		if (start != NULL)
			json_object_set_new(req, "ExclusiveStartKey", start);
		start = NULL;
		memset(&w, 0, sizeof(w));
		if (aws_call(a, AWS_DYNAMODB, "Scan", req, on_done, &w) == NULL)
			goto fail;
		tl_loop_until(base, &w.done, 60000);
		if (w.error != 0)
			goto fail;
		json_array_foreach(json_object_get(w.body, "Items"), i, x)
		{
			json_t *plain = ddb_item_to_json(x);
			const char *k = json_string_value(json_object_get(plain, "userId"));
			if (k == NULL) {
				json_decref(plain);
				goto fail;
			}
			json_object_set_new(all, k, plain);
		}
		x = json_object_get(w.body, "LastEvaluatedKey");
		if (x == NULL) {
			json_decref(w.body);
			return all;
		}
		start = json_incref(x);
		json_decref(w.body);
	}
fail:
	json_decref(w.body);
	json_decref(all);
	return NULL;
}

int
ddbt_put(struct event_base *base, struct aws *a, const char *table, json_t *plain)
{
	struct wait w;

	memset(&w, 0, sizeof(w));
	if (ddb_put_item(a, table, ddb_item_from_json(plain), NULL, NULL, NULL, on_done, &w) ==
	    NULL)
		return -1;
	tl_loop_until(base, &w.done, 60000);
	json_decref(w.body);
	return w.error == 0 ? 0 : -1;
}

/* Whether dynalite wrote its URL file yet (the URL into d->url). */
static int
url_written(void *arg)
{
	struct dynalite *d = arg;
	char urlfile[300];
	FILE *fp;
	int ok;

	snprintf(urlfile, sizeof(urlfile), "%s/dynalite.url", d->dir);
	if ((fp = fopen(urlfile, "r")) == NULL)
		return 0;
	ok = fscanf(fp, "%63s", d->url) == 1;
	fclose(fp);
	return ok;
}

int
dynalite_start(struct dynalite *d)
{
	const char *js = getenv("BERTH_TEST_DYNALITE_JS");
	char port[16], urlfile[300], path[300];
	const char *argv[] = {
	    "node", js,  "--port", port, "--path", path, "--url-file", urlfile, "--create-table-ms",
	    "20",   NULL};

	if (js == NULL || js[0] == '\0') {
		fprintf(stderr, "BERTH_TEST_DYNALITE_JS is not set: run through ./dev test\n");
		return -1;
	}
	if (d->port == 0 && (d->port = tl_free_port()) <= 0)
		return -1;
	snprintf(port, sizeof(port), "%d", d->port);
	snprintf(urlfile, sizeof(urlfile), "%s/dynalite.url", d->dir);
	snprintf(path, sizeof(path), "%s/data", d->dir);
	unlink(urlfile);
	if ((d->pid = tl_spawn(argv, NULL, NULL)) < 0)
		return -1;
	if (tl_wait_until(url_written, d, 10000, 50))
		return 0;
	dynalite_stop(d);
	return -1;
}

void
dynalite_stop(struct dynalite *d)
{
	if (d->pid <= 0)
		return;
	tl_stop(d->pid, SIGTERM, 5000);
	d->pid = 0;
}
