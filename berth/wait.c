/*
 * wait: the event loop berth's AWS and network commands run one step at a
 * time: a call is started, then waited for with a time-out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "core/clock.h"
#include "core/evcurl.h"
#include "berth/berth.h"

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

int
berth_loop_open(struct berth_loop *l)
{
	struct timeval tv = {0, 50000};

	memset(l, 0, sizeof(*l));
	if ((l->base = event_base_new()) == NULL || (l->ec = evcurl_new(l->base)) == NULL ||
	    (l->tick = event_new(l->base, -1, EV_PERSIST, tick_cb, NULL)) == NULL)
		return -ENOMEM;
	event_add(l->tick, &tv);
	return 0;
}

void
berth_loop_close(struct berth_loop *l)
{
	if (l->tick != NULL)
		event_free(l->tick);
	if (l->ec != NULL)
		evcurl_free(l->ec);
	if (l->base != NULL)
		event_base_free(l->base);
}

/* Runs the loop until *flag or ms pass; returns *flag. */
int
berth_loop_wait(struct berth_loop *l, const int *flag, long ms)
{
	int64_t end = clock_mono_ms() + ms;

	while (!*flag && clock_mono_ms() < end)
		event_base_loop(l->base, EVLOOP_ONCE);
	return *flag;
}

void
berth_call_done(const struct aws_result *r, void *arg)
{
	struct berth_call *c = arg;

	c->error = r->error;
	snprintf(c->code, sizeof(c->code), "%s", r->aerr.code);
	aws_result_str(r, c->text, sizeof(c->text));
	c->body = r->body != NULL ? json_incref(r->body) : NULL;
	c->done = 1;
}

int
berth_call_wait(struct berth_loop *l, struct berth_call *c, struct aws_call *started, long ms)
{
	if (started == NULL) {
		snprintf(c->text, sizeof(c->text), "cannot start the AWS call");
		c->error = -ENOMEM;
		return c->error;
	}
	if (!berth_loop_wait(l, &c->done, ms)) {
		aws_call_cancel(started);
		snprintf(c->text, sizeof(c->text), "no answer in %ld s", ms / 1000);
		c->error = -ETIMEDOUT;
	}
	return c->error;
}
