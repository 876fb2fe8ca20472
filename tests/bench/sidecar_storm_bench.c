/*
 * Benchmark: an event storm. A fake Docker Engine (a child process, libevent
 * on a Unix socket) replays a recorded stream of container events as fast as
 * the socket takes them: L long-lived containers (create, network connect,
 * start) and S short-lived ones (create, connect, start, kill, die,
 * disconnect, stop, destroy), and answers each inspect. The real
 * berth-sidecar follows it. Printed: events/s until every event was read,
 * seconds until every live binding was committed, peak RSS (VmHWM) of the
 * sidecar with L live bindings, and its idle CPU afterwards.
 *
 *   sidecar_storm_bench [LIVE [SHORT]]   (default 10000 live, 5000 short: 70000 events)
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "tests/lib/testlib.h"

#define LIVE_MAX  100000
#define SHORT_MAX 100000

static int nlive = 10000, nshort = 5000;

static void
ctr_id(int i, char *out, size_t outlen)
{
	snprintf(out, outlen, "%016x%048d", (unsigned)i + 1, 0);
}

/* ---- the fake daemon (child) ---- */

static struct evbuffer *recorded;

static void
event_line(struct evbuffer *b, const char *type, const char *action, const char *id, int i,
           long long t)
{
	if (strcmp(type, "network") == 0) {
		evbuffer_add_printf(
		    b,
		    "{\"Type\":\"network\",\"Action\":\"%s\",\"Actor\":{\"ID\":"
		    "\"7ea29fc1412292a2d7bba362f9253545fecdfa8ce9a6e37dd10ba8bee7129812"
		    "\",\"Attributes\":{\"container\":\"%s\",\"name\":\"bridge\","
		    "\"type\":\"bridge\"}},\"scope\":\"local\",\"time\":%lld,"
		    "\"timeNano\":%lld}\n",
		    action, id, t / 1000000000, t);
		return;
	}
	evbuffer_add_printf(
	    b,
	    "{\"status\":\"%s\",\"id\":\"%s\",\"from\":\"tenant-app:1\",\"Type\":\"container\","
	    "\"Action\":\"%s\",\"Actor\":{\"ID\":\"%s\",\"Attributes\":{"
	    "\"com.amazonaws.ecs.cluster\":\"storm\",\"com.amazonaws.ecs.container-name\":\"app\","
	    "\"com.amazonaws.ecs.task-arn\":\"arn:aws:ecs:us-east-1:123456789012:task/storm/"
	    "%032d\",\"image\":\"tenant-app:1\",\"name\":\"ecs-storm-%d\"%s}},"
	    "\"scope\":\"local\",\"time\":%lld,\"timeNano\":%lld}\n",
	    action, id, action, id, i, i,
	    strcmp(action, "die") == 0 ? ",\"exitCode\":\"0\",\"execDuration\":\"1\"" : "",
	    t / 1000000000, t);
}

static size_t
record(void)
{
	static const char *const short_life[] = {"create", "connect",    "start", "kill",
	                                         "die",    "disconnect", "stop",  "destroy"};
	long long t = (long long)time(NULL) * 1000000000LL;
	char id[72];
	size_t n = 0;

	recorded = evbuffer_new();
	for (int i = 0; i < nlive + nshort; i++) {
		int live = i < nlive;
		int steps = live ? 3 : 8;

		ctr_id(i, id, sizeof(id));
		for (int s = 0; s < steps; s++, n++) {
			const char *a = short_life[s];
			int net = strcmp(a, "connect") == 0 || strcmp(a, "disconnect") == 0;

			event_line(recorded, net ? "network" : "container", a, id, i,
			           t + (long long)n);
		}
	}
	return n;
}

static void
fake(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	const char *p;

	(void)arg;
	if (strcmp(uri, "/_ping") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Api-Version", "1.44");
		evbuffer_add_printf(out, "OK");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strstr(uri, "/events") != NULL) {
		/* The whole recording at once; the stream stays open. */
		evhttp_send_reply_start(req, 200, "OK");
		evhttp_send_reply_chunk(req, recorded);
	} else if (strstr(uri, "/containers/json") != NULL) {
		evbuffer_add_printf(out, "[]");
		evhttp_send_reply(req, 200, "OK", out);
	} else if ((p = strstr(uri, "/containers/")) != NULL) {
		unsigned idx = 0;

		sscanf(p + 12, "%16x", &idx);
		idx -= 1;
		if ((int)idx >= nlive) {
			/* Short-lived: gone by the time it is inspected, often. */
			evbuffer_add_printf(out, "{\"message\":\"No such container: %.12s\"}",
			                    p + 12);
			evhttp_send_reply(req, 404, "Not Found", out);
			return;
		}
		evbuffer_add_printf(
		    out,
		    "{\"Id\":\"%.64s\",\"Name\":\"/"
		    "ecs-storm-%u\",\"State\":{\"Status\":\"running\","
		    "\"ExitCode\":0,\"StartedAt\":\"2026-01-01T00:00:00.1Z\",\"FinishedAt\":"
		    "\"0001-01-01T00:00:00Z\"},\"Config\":{\"Labels\":{"
		    "\"com.amazonaws.ecs.cluster\":\"storm\",\"com.amazonaws.ecs.container-name\":"
		    "\"app\",\"com.amazonaws.ecs.task-arn\":\"arn:aws:ecs:us-east-1:123456789012:"
		    "task/"
		    "storm/%032u\",\"com.amazonaws.ecs.task-definition-family\":\"tenant-app\","
		    "\"com.amazonaws.ecs.task-definition-version\":\"1\"},\"Env\":"
		    "[\"BERTH_TENANT=s%u\",\"PATH=/bin\"]},\"HostConfig\":{\"PortBindings\":"
		    "{\"8000/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"\"}]}},\"NetworkSettings\":{"
		    "\"Ports\":{\"8000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"%u\"},"
		    "{\"HostIp\":\"::\",\"HostPort\":\"%u\"}]}}}",
		    p + 12, idx, idx, idx, 20000 + idx % 40000, 20000 + idx % 40000);
		evhttp_send_reply(req, 200, "OK", out);
	} else {
		evhttp_send_error(req, 404, NULL);
	}
}

static void
fake_main(const char *sock)
{
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);

	if (tl_evhttp_bind_unix(http, base, sock) != 0)
		_exit(1);
	evhttp_set_gencb(http, fake, NULL);
	event_base_dispatch(base);
	_exit(0);
}

/* ---- the driver ---- */

/* Sum of a metric's samples whose line starts with prefix; -1 when unreachable. */
static double
metric(const char *url, const char *prefix)
{
	static char buf[64 * 1024];
	double sum = 0;
	char *p;

	if (tl_http(url, NULL, buf, sizeof(buf), 5000) != 200)
		return -1;
	for (p = buf; (p = strstr(p, prefix)) != NULL; p++)
		if ((p == buf || p[-1] == '\n') && strchr(p, ' ') != NULL)
			sum += strtod(strchr(p, ' ') + 1, NULL);
	return sum;
}

int
main(int argc, char **argv)
{
	char dir[256], sock[300], host[320], db[300], logp[300], listen[64], url[128];
	const char *sargv[] = {BERTH_SIDECAR_BIN,
	                       "--db",
	                       db,
	                       "--docker-host",
	                       host,
	                       "--agent-url",
	                       "none",
	                       "--host-ip",
	                       "127.0.0.1",
	                       "--listen",
	                       listen,
	                       "--reconcile-interval",
	                       "3600",
	                       "--log-file",
	                       logp,
	                       NULL};
	size_t nevents;
	pid_t fpid, spid;
	double t0, t_read = 0, t_commit = 0, ev = 0, running = 0;
	long c0, c1, anon, anon_max = 0;

	if (argc > 1)
		nlive = (int)strtol(argv[1], NULL, 10);
	if (argc > 2)
		nshort = (int)strtol(argv[2], NULL, 10);
	if (nlive < 1 || nlive > LIVE_MAX || nshort < 0 || nshort > SHORT_MAX) {
		fprintf(stderr, "usage: sidecar_storm_bench [LIVE<=%d [SHORT<=%d]]\n", LIVE_MAX,
		        SHORT_MAX);
		return 2;
	}
	if (tl_tmpdir(dir, sizeof(dir), "bench-storm") != 0)
		return 1;
	snprintf(sock, sizeof(sock), "%s/docker.sock", dir);
	snprintf(host, sizeof(host), "unix://%s", sock);
	snprintf(db, sizeof(db), "%s/registry.db", dir);
	snprintf(logp, sizeof(logp), "%s/sidecar.log", dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", tl_free_port());
	snprintf(url, sizeof(url), "http://%s/metrics", listen);
	nevents = record();
	if ((fpid = fork()) == 0)
		fake_main(sock);
	for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
		usleep(10000);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("sidecar_storm_bench: %zu recorded events (%.1f MiB), %d live + %d short-lived "
	       "containers\n",
	       nevents, (double)evbuffer_get_length(recorded) / 1048576.0, nlive, nshort);
	t0 = tl_now_s();
	spid = tl_spawn(sargv, NULL, NULL);
	/* Poll /metrics until every event was read and every live binding committed (<= 120 s). */
	while (tl_now_s() - t0 < 120) {
		usleep(20000);
		if ((anon = tl_status_kb(spid, "RssAnon")) > anon_max)
			anon_max = anon;
		ev = metric(url, "berth_sidecar_events_total{");
		running = metric(url, "berth_sidecar_bindings{status=\"RUNNING\"}");
		if (t_read == 0 && ev >= (double)nevents)
			t_read = tl_now_s() - t0;
		if (t_read != 0 && running >= nlive) {
			t_commit = tl_now_s() - t0;
			break;
		}
	}
	printf("events read: %.0f of %zu in %.2f s from process start (a lower bound): %.0f "
	       "events/s\n",
	       ev, nevents, t_read, t_read > 0 ? ev / t_read : 0);
	printf("live bindings committed: %.0f of %d after %.2f s\n", running, nlive, t_commit);
	/* RSS counts the shared libraries' pages too (libcrypto, libc, SQLite...): ~10 MiB. */
	printf("peak RSS (VmHWM): %.2f MiB; RSS now %.2f MiB, of which shared-library "
	       "file pages %.2f MiB\n",
	       (double)tl_status_kb(spid, "VmHWM") / 1024.0,
	       (double)tl_status_kb(spid, "VmRSS") / 1024.0,
	       (double)tl_status_kb(spid, "RssFile") / 1024.0);
	printf("private (anonymous) memory: peak sampled %.2f MiB, now %.2f MiB\n",
	       (double)anon_max / 1024.0, (double)tl_status_kb(spid, "RssAnon") / 1024.0);
	/* PSS: each shared page divided by the processes that map it (what the host pays). */
	printf("proportional set size (Pss): %.2f MiB now\n",
	       (double)tl_proc_kb(spid, "smaps_rollup", "Pss") / 1024.0);
	c0 = tl_cpu_ticks(spid);
	sleep(3);
	c1 = tl_cpu_ticks(spid);
	printf("idle CPU over 3 s: %ld ticks (%.2f%% of one core)\n", c1 - c0,
	       (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK) / 3.0 * 100.0);
	tl_stop(spid, SIGTERM, 10000);
	tl_stop(fpid, SIGTERM, 10000);
	tl_tmpdirs_done(t_commit > 0);
	evbuffer_free(recorded);
	curl_global_cleanup();
	return 0;
}
