/*
 * aws_ddb: the DynamoDB calls berth makes (AWS JSON 1.0): PutItem,
 * UpdateItem, GetItem, BatchWriteItem, CreateTable, DescribeTable, and the
 * conversion between plain JSON and typed AttributeValues. The calls run
 * through aws_call (retries, CRC32 check of every answer); the callback gets
 * the parsed answer as result->body.
 *
 * Numbers are strings on the wire ({"N":"42"}); ddb_attr_from_json writes
 * integers and reals, ddb_item_to_json reads them back as integers when they
 * are integral.
 */
#ifndef BERTH_AWS_DDB_H
#define BERTH_AWS_DDB_H

#include <jansson.h>

#include "aws/aws.h"

#define DDB_BATCH_MAX  25 /* operations per BatchWriteItem */
#define DDB_TABLE_MAX  255
#define DDB_ATTR_DEPTH 16 /* nesting cap when converting */

/* 1 when name is a valid table name (3-255 of [A-Za-z0-9_.-]). */
int ddb_table_name_ok(const char *name);

/* Plain JSON value -> AttributeValue (new reference; NULL for unsupported input or depth). */
json_t *ddb_attr_from_json(json_t *v);
/* AttributeValue -> plain JSON (new reference; NULL when malformed). */
json_t *ddb_attr_to_json(json_t *av);
/* {"name": AttributeValue, ...} <-> {"name": value, ...}; new references, NULL when malformed. */
json_t *ddb_item_from_json(json_t *obj);
json_t *ddb_item_to_json(json_t *item);

/*
 * The calls. JSON arguments are stolen (NULL allowed where optional).
 * Return the call (aws_call_cancel) or NULL when it could not start.
 */
struct aws_call *ddb_put_item(struct aws *, const char *table, json_t *item, const char *condition,
                              json_t *names, json_t *values, aws_call_cb, void *arg);
struct aws_call *ddb_update_item(struct aws *, const char *table, json_t *key, const char *update,
                                 const char *condition, json_t *names, json_t *values,
                                 const char *return_values, aws_call_cb, void *arg);
struct aws_call *ddb_get_item(struct aws *, const char *table, json_t *key, int consistent,
                              aws_call_cb, void *arg);
/* requests: [{"PutRequest":{"Item":..}} | {"DeleteRequest":{"Key":..}}], at most 25. */
struct aws_call *ddb_batch_write(struct aws *, const char *table, json_t *requests, aws_call_cb,
                                 void *arg);
/* On-demand billing, partition key hash_key of type S. */
struct aws_call *ddb_create_table(struct aws *, const char *table, const char *hash_key,
                                  aws_call_cb, void *arg);
struct aws_call *ddb_describe_table(struct aws *, const char *table, aws_call_cb, void *arg);
/*
 * One page of a Scan with an optional filter (names/values as for put);
 * start: the previous page's LastEvaluatedKey, or NULL for the first.
 */
struct aws_call *ddb_scan(struct aws *, const char *table, const char *filter, json_t *names,
                          json_t *values, json_t *start, aws_call_cb, void *arg);
/* Turns DynamoDB TTL on for attribute attr (epoch seconds) of table. */
struct aws_call *ddb_enable_ttl(struct aws *, const char *table, const char *attr, aws_call_cb,
                                void *arg);
/* The table's TTL: {"TimeToLiveDescription":{"TimeToLiveStatus","AttributeName"}}. */
struct aws_call *ddb_describe_ttl(struct aws *, const char *table, aws_call_cb, void *arg);

#endif
