/*
 * Helpers shared by the aws tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/queue.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "tests/aws/testlib.h"
#include "tests/lib/testlib.h"

static void
capture_cb(struct evhttp_request *req, void *arg)
{
	struct capture *c = arg;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	struct evbuffer *out;
	size_t used = 0;
	const char *a;

	c->requests++;
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		snprintf(c->method, sizeof(c->method), "GET");
		break;
	case EVHTTP_REQ_POST:
		snprintf(c->method, sizeof(c->method), "POST");
		break;
	case EVHTTP_REQ_PUT:
		snprintf(c->method, sizeof(c->method), "PUT");
		break;
	default:
		snprintf(c->method, sizeof(c->method), "OTHER");
	}
	a = evhttp_find_header(h, "Authorization");
	snprintf(c->authorization, sizeof(c->authorization), "%s", a != NULL ? a : "");
	c->headers[0] = '\0';
	TAILQ_FOREACH(kv, h, next)
	{
		int n = snprintf(c->headers + used, sizeof(c->headers) - used, "%s: %s\n", kv->key,
		                 kv->value);
		if (n < 0 || (size_t)n >= sizeof(c->headers) - used)
			break;
		used += (size_t)n;
	}
	out = evbuffer_new();
	evbuffer_add(out, c->reply_body != NULL ? c->reply_body : "{}",
	             strlen(c->reply_body != NULL ? c->reply_body : "{}"));
	if (c->reply_header_name != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), c->reply_header_name,
		                  c->reply_header_value);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evhttp_send_reply(req, c->reply_status != 0 ? c->reply_status : 200, "OK", out);
	evbuffer_free(out);
}

int
capture_start(struct capture *c, struct event_base *base)
{
	if ((c->http = evhttp_new(base)) == NULL)
		return -1;
	evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
	evhttp_set_gencb(c->http, capture_cb, c);
	if ((c->port = tl_evhttp_bind_local(c->http)) < 0)
		return -1;
	snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d", c->port);
	return 0;
}

void
capture_stop(struct capture *c)
{
	if (c->http != NULL)
		evhttp_free(c->http);
	c->http = NULL;
}

static int
control(const char *base_url, const char *path, const char *json, char *out, size_t outlen)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", base_url, path);
	return tl_http(url, json, out, outlen, 20000);
}

int
control_post(const char *base_url, const char *path, const char *json)
{
	char out[256];

	return control(base_url, path, json, out, sizeof(out));
}

int
control_get(const char *base_url, const char *path, char *out, size_t outlen)
{
	return control(base_url, path, NULL, out, outlen);
}
