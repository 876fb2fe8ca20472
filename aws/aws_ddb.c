/*
 * DynamoDB calls and AttributeValue conversion.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/aws_ddb.h"

int
ddb_table_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n > DDB_TABLE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

typedef json_t *(*conv_fn)(json_t *, int depth);

/* A new object of conv(member, depth) for each member of obj; NULL when obj is no object or a conv
 * fails. */
static json_t *
map_members(json_t *obj, conv_fn conv, int depth)
{
	json_t *out, *x, *v;
	const char *k;

	if (!json_is_object(obj) || (out = json_object()) == NULL)
		return NULL;
	json_object_foreach(obj, k, x)
	{
		if ((v = conv(x, depth)) == NULL) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, k, v);
	}
	return out;
}

/* A new array of conv(element, depth) for each element of arr; NULL when a conv fails. */
static json_t *
map_elements(json_t *arr, conv_fn conv, int depth)
{
	json_t *out, *x, *v;
	size_t i;

	if (!json_is_array(arr) || (out = json_array()) == NULL)
		return NULL;
	json_array_foreach(arr, i, x)
	{
		if ((v = conv(x, depth)) == NULL) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, v);
	}
	return out;
}

static json_t *
from_json(json_t *v, int depth)
{
	json_t *m;
	char num[64];

	if (depth > DDB_ATTR_DEPTH)
		return NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_pack("{s:O}", "S", v);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return json_pack("{s:s}", "N", num);
	case JSON_REAL:
		if (!isfinite(json_real_value(v)))
			return NULL;
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		return json_pack("{s:s}", "N", num);
	case JSON_TRUE:
	case JSON_FALSE:
		return json_pack("{s:b}", "BOOL", json_is_true(v));
	case JSON_NULL:
		return json_pack("{s:b}", "NULL", 1);
	case JSON_OBJECT:
		if ((m = map_members(v, from_json, depth + 1)) == NULL)
			return NULL;
		return json_pack("{s:o}", "M", m);
	case JSON_ARRAY:
		if ((m = map_elements(v, from_json, depth + 1)) == NULL)
			return NULL;
		return json_pack("{s:o}", "L", m);
	}
	return NULL;
}

json_t *
ddb_attr_from_json(json_t *v)
{
	return v != NULL ? from_json(v, 0) : NULL;
}

static json_t *
number(const char *s)
{
	char *end;
	long long ll;
	double d;

	errno = 0;
	ll = strtoll(s, &end, 10);
	if (errno == 0 && end != s && *end == '\0')
		return json_integer(ll);
	errno = 0;
	d = strtod(s, &end);
	if (errno == 0 && end != s && *end == '\0' && isfinite(d))
		return json_real(d);
	return NULL;
}

static json_t *
to_json(json_t *av, int depth)
{
	const char *type;
	json_t *v;

	if (depth > DDB_ATTR_DEPTH || !json_is_object(av) || json_object_size(av) != 1)
		return NULL;
	json_object_foreach(av, type, v)
	{
		if (strcmp(type, "S") == 0 && json_is_string(v))
			return json_incref(v);
		if (strcmp(type, "N") == 0 && json_is_string(v))
			return number(json_string_value(v));
		if (strcmp(type, "BOOL") == 0 && json_is_boolean(v))
			return json_incref(v);
		if (strcmp(type, "NULL") == 0)
			return json_null();
		if (strcmp(type, "M") == 0 && json_is_object(v))
			return map_members(v, to_json, depth + 1);
		if (strcmp(type, "L") == 0 && json_is_array(v))
			return map_elements(v, to_json, depth + 1);
		if ((strcmp(type, "SS") == 0 || strcmp(type, "B") == 0) &&
		    (json_is_array(v) || json_is_string(v)))
			return json_incref(v);
		return NULL;
	}
	return NULL;
}

json_t *
ddb_attr_to_json(json_t *av)
{
	return av != NULL ? to_json(av, 0) : NULL;
}

json_t *
ddb_item_from_json(json_t *obj)
{
	return map_members(obj, from_json, 1);
}

json_t *
ddb_item_to_json(json_t *item)
{
	return map_members(item, to_json, 1);
}

static void
add_expr(json_t *req, const char *name, const char *expr)
{
	if (expr != NULL && expr[0] != '\0')
		json_object_set_new(req, name, json_string(expr));
}

static void
add_obj(json_t *req, const char *name, json_t *o)
{
	if (o != NULL)
		json_object_set_new(req, name, o);
}

struct aws_call *
ddb_put_item(struct aws *a, const char *table, json_t *item, const char *condition, json_t *names,
             json_t *values, aws_call_cb cb, void *arg)
{
	json_t *req = json_pack("{s:s, s:o}", "TableName", table, "Item", item);

	if (req == NULL) {
		json_decref(names);
		json_decref(values);
		return NULL;
	}
	add_expr(req, "ConditionExpression", condition);
	add_obj(req, "ExpressionAttributeNames", names);
	add_obj(req, "ExpressionAttributeValues", values);
	return aws_call(a, AWS_DYNAMODB, "PutItem", req, cb, arg);
}

struct aws_call *
ddb_update_item(struct aws *a, const char *table, json_t *key, const char *update,
                const char *condition, json_t *names, json_t *values, const char *return_values,
                aws_call_cb cb, void *arg)
{
	json_t *req = json_pack("{s:s, s:o}", "TableName", table, "Key", key);

	if (req == NULL) {
		json_decref(names);
		json_decref(values);
		return NULL;
	}
	add_expr(req, "UpdateExpression", update);
	add_expr(req, "ConditionExpression", condition);
	add_obj(req, "ExpressionAttributeNames", names);
	add_obj(req, "ExpressionAttributeValues", values);
	add_expr(req, "ReturnValues", return_values);
	return aws_call(a, AWS_DYNAMODB, "UpdateItem", req, cb, arg);
}

struct aws_call *
ddb_get_item(struct aws *a, const char *table, json_t *key, int consistent, aws_call_cb cb,
             void *arg)
{
	json_t *req = json_pack("{s:s, s:o, s:b}", "TableName", table, "Key", key, "ConsistentRead",
	                        consistent);

	return req != NULL ? aws_call(a, AWS_DYNAMODB, "GetItem", req, cb, arg) : NULL;
}

struct aws_call *
ddb_batch_write(struct aws *a, const char *table, json_t *requests, aws_call_cb cb, void *arg)
{
	json_t *req;

	if (!json_is_array(requests) || json_array_size(requests) == 0 ||
	    json_array_size(requests) > DDB_BATCH_MAX) {
		json_decref(requests);
		return NULL;
	}
	req = json_pack("{s:{s:o}}", "RequestItems", table, requests);
	return req != NULL ? aws_call(a, AWS_DYNAMODB, "BatchWriteItem", req, cb, arg) : NULL;
}

struct aws_call *
ddb_create_table(struct aws *a, const char *table, const char *hash_key, aws_call_cb cb, void *arg)
{
	json_t *req = json_pack("{s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:s}", "TableName", table,
	                        "AttributeDefinitions", "AttributeName", hash_key, "AttributeType",
	                        "S", "KeySchema", "AttributeName", hash_key, "KeyType", "HASH",
	                        "BillingMode", "PAY_PER_REQUEST");

	return req != NULL ? aws_call(a, AWS_DYNAMODB, "CreateTable", req, cb, arg) : NULL;
}

struct aws_call *
ddb_describe_table(struct aws *a, const char *table, aws_call_cb cb, void *arg)
{
	json_t *req = json_pack("{s:s}", "TableName", table);

	return req != NULL ? aws_call(a, AWS_DYNAMODB, "DescribeTable", req, cb, arg) : NULL;
}

struct aws_call *
ddb_scan(struct aws *a, const char *table, const char *filter, json_t *names, json_t *values,
         json_t *start, aws_call_cb cb, void *arg)
{
	json_t *req = json_pack("{s:s}", "TableName", table);

	if (req == NULL) {
		json_decref(names);
		json_decref(values);
		json_decref(start);
		return NULL;
	}
	if (filter != NULL)
		json_object_set_new(req, "FilterExpression", json_string(filter));
	if (names != NULL)
		json_object_set_new(req, "ExpressionAttributeNames", names);
	if (values != NULL)
		json_object_set_new(req, "ExpressionAttributeValues", values);
	if (start != NULL)
		json_object_set_new(req, "ExclusiveStartKey", start);
	return aws_call(a, AWS_DYNAMODB, "Scan", req, cb, arg);
}

struct aws_call *
ddb_enable_ttl(struct aws *a, const char *table, const char *attr, aws_call_cb cb, void *arg)
{
	json_t *req = json_pack("{s:s, s:{s:s, s:b}}", "TableName", table,
	                        "TimeToLiveSpecification", "AttributeName", attr, "Enabled", 1);

	return req != NULL ? aws_call(a, AWS_DYNAMODB, "UpdateTimeToLive", req, cb, arg) : NULL;
}

struct aws_call *
ddb_describe_ttl(struct aws *a, const char *table, aws_call_cb cb, void *arg)
{
	json_t *req = json_pack("{s:s}", "TableName", table);

	return req != NULL ? aws_call(a, AWS_DYNAMODB, "DescribeTimeToLive", req, cb, arg) : NULL;
}
