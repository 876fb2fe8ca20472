/* heartbeat: this host's item in the table, written every interval (see heartbeat.h). */
#include "sidecar/heartbeat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "registry/item.h"
#include "registry/registry.h"

struct heartbeat {
	struct event_base *base;
	struct aws *aws;
	struct registry *reg;
	char table[DDB_TABLE_MAX + 1];
	struct host_item h;
	int have_id, have_addr;
	struct event *timer;
	struct aws_call *call;
	int failing;
	struct metric *writes, *errors;
};

static void beat(struct heartbeat *);

static void
on_written(const struct aws_result *r, void *arg)
{
	struct heartbeat *hb = arg;

	hb->call = NULL;
	if (r->error == 0 || strcmp(r->aerr.code, "ConditionalCheckFailedException") == 0) {
		/* A failed condition: the table has a newer write of this host already. */
		metric_inc(hb->writes);
		if (hb->failing)
			log_info("heartbeat_recovered host=%s", hb->h.id);
		hb->failing = 0;
		return;
	}
	metric_inc(hb->errors);
	if (!hb->failing)
		log_warnx("heartbeat_failed host=%s error=\"%s\"", hb->h.id, r->aerr.code);
	hb->failing = 1;
}

/* Sends the item as it stands now (one write in flight at most). */
static void
beat(struct heartbeat *hb)
{
	struct registry_stats st;
	json_t *item;
	char v[24];

	if (!hb->have_id || !hb->have_addr || hb->call != NULL)
		return;
	hb->h.heartbeat_at = clock_real_ms();
	hb->h.version = hb->h.heartbeat_at;
	if (registry_stats(hb->reg, &st) == 0)
		hb->h.running = st.bindings[BINDING_RUNNING];
	if ((item = item_host(&hb->h)) == NULL)
		return;
	snprintf(v, sizeof(v), "%lld", (long long)hb->h.version);
	hb->call = ddb_put_item(hb->aws, hb->table, item, ITEM_NEWER_ONLY, item_condition_names(),
	                        json_pack("{s:{s:s}}", ":v", "N", v), on_written, hb);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	beat(arg);
}

struct heartbeat *
heartbeat_new(struct event_base *base, struct aws *aws, struct registry *reg, const char *table,
              int interval_s, struct metrics *ms)
{
	struct heartbeat *hb = calloc(1, sizeof(*hb));
	struct timeval tv = {interval_s > 0 ? interval_s : 10, 0};

	if (hb == NULL || strlen(table) > DDB_TABLE_MAX)
		goto fail;
	hb->base = base;
	hb->aws = aws;
	hb->reg = reg;
	snprintf(hb->table, sizeof(hb->table), "%s", table);
	hb->h.heartbeat_s = (int)tv.tv_sec;
	hb->h.started_at = clock_real_ms();
	snprintf(hb->h.berth_version, sizeof(hb->h.berth_version), "%s", BERTH_VERSION);
	hb->writes = metrics_counter(ms, "berth_sidecar_heartbeats_total",
	                             "Host item writes the table took.", NULL);
	hb->errors =
	    metrics_counter(ms, "berth_sidecar_heartbeat_errors_total",
	                    "Host item writes that failed (the next beat tries again).", NULL);
	if ((hb->timer = event_new(base, -1, EV_PERSIST, tick, hb)) == NULL)
		goto fail;
	event_add(hb->timer, &tv);
	return hb;
fail:
	free(hb);
	return NULL;
}

void
heartbeat_set_id(struct heartbeat *hb, const char *id, const char *instance_arn)
{
	if (hb == NULL || id == NULL || id[0] == '\0')
		return;
	snprintf(hb->h.id, sizeof(hb->h.id), "%s", id);
	snprintf(hb->h.instance_arn, sizeof(hb->h.instance_arn), "%s",
	         instance_arn != NULL ? instance_arn : "");
	if (!hb->have_id)
		log_info("heartbeat_host id=%s", hb->h.id);
	hb->have_id = 1;
	beat(hb);
}

void
heartbeat_set_address(struct heartbeat *hb, const char *host_ip, const char *api_url)
{
	if (hb == NULL)
		return;
	snprintf(hb->h.host_ip, sizeof(hb->h.host_ip), "%s", host_ip);
	snprintf(hb->h.api_url, sizeof(hb->h.api_url), "%s", api_url);
	if (!item_api_url_ok(api_url))
		log_warnx("heartbeat_api_url_unusable url=\"%s\" (other hosts long-poll only "
		          "http://IP:PORT on a private or loopback address)",
		          api_url);
	hb->have_addr = 1;
	beat(hb);
}

void
heartbeat_stop(struct heartbeat *hb)
{
	int64_t end;

	if (hb == NULL)
		return;
	event_free(hb->timer);
	if (hb->call != NULL) {
		aws_call_cancel(hb->call);
		hb->call = NULL;
	}
	if (hb->have_id && hb->have_addr) {
		hb->h.left = 1;
		beat(hb);
		end = clock_mono_ms() + HEARTBEAT_STOP_MS;
		while (hb->call != NULL && clock_mono_ms() < end)
			event_base_loop(hb->base, EVLOOP_ONCE);
		if (hb->call != NULL) {
			aws_call_cancel(hb->call);
			log_warnx("heartbeat_left_not_written host=%s", hb->h.id);
		} else {
			log_info("heartbeat_left host=%s", hb->h.id);
		}
	}
	free(hb);
}

void
heartbeat_machine_id(char *out, size_t outlen)
{
	FILE *f = fopen("/etc/machine-id", "r");
	char buf[128] = "";

	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\r\n")] = '\0';
	}
	if (buf[0] == '\0' && gethostname(buf, sizeof(buf)) != 0)
		snprintf(buf, sizeof(buf), "unknown");
	buf[sizeof(buf) - 1] = '\0';
	snprintf(out, outlen, "%s", buf);
}
