/*
 * DynamoDB helpers for the sync tests and the drain benchmark: an aws handle
 * pointed at a dynalite, table creation (waits for ACTIVE), a full Scan, and
 * a private dynalite process that can be stopped and started again on the
 * same port and data directory.
 */
#ifndef BERTH_TESTS_AWS_DDBTEST_H
#define BERTH_TESTS_AWS_DDBTEST_H

#include <sys/types.h>

#include <jansson.h>

struct event_base;
struct evcurl;
struct aws;

/* Sets the AWS environment for a dynalite at url (static test keys, no IMDS) and makes a handle. */
struct aws *ddbt_aws(struct event_base *, struct evcurl *, const char *url);
/* CreateTable (key userId S) and wait until ACTIVE; 0 or -1. */
int ddbt_create_table(struct event_base *, struct aws *, const char *table);
/* Scans the whole table into {userId: plain item}; NULL on error. New reference. */
json_t *ddbt_scan(struct event_base *, struct aws *, const char *table);
/* PutItem of a plain JSON object (unconditional); 0 or -1. */
int ddbt_put(struct event_base *, struct aws *, const char *table, json_t *plain);

struct dynalite {
	pid_t pid;
	int port;
	char dir[256];
	char url[64];
};
/* Starts node $BERTH_TEST_DYNALITE_JS on 127.0.0.1 (port 0 picks one, kept for restarts). */
int dynalite_start(struct dynalite *);
void dynalite_stop(struct dynalite *);

#endif
