/*
 * Helpers shared by the aws tests: a capture server (evhttp on 127.0.0.1 with
 * an ephemeral port) that records the last request and answers a canned
 * reply, file reading, the integration tests' required environment, and
 * running the loop until a flag is set (bounded in time).
 */
#ifndef BERTH_TESTS_AWS_TESTLIB_H
#define BERTH_TESTS_AWS_TESTLIB_H

#include <stddef.h>

struct event_base;

#define CAPTURE_HDR_MAX 8192

struct capture {
	struct evhttp *http;
	int port;
	char url[64];
	int requests;
	char method[16];
	char authorization[1024];
	char headers[CAPTURE_HDR_MAX]; /* "name: value\n" as received */
	/* The reply: status, extra header (or NULL), body. */
	int reply_status;
	const char *reply_header_name, *reply_header_value;
	const char *reply_body;
};

int capture_start(struct capture *, struct event_base *);
void capture_stop(struct capture *);

/* A small HTTP client for the emulators' control routes (blocking, loopback only). */
int control_post(const char *base_url, const char *path, const char *json);
/* GET base_url+path into out; returns the HTTP status or -1. */
int control_get(const char *base_url, const char *path, char *out, size_t outlen);

#endif
