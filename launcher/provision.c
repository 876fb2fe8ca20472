/*
 * provision: the launcher's state machine, one struct prov per tenant in
 * flight (see launcher.h for the steps).
 *
 * Lifetime: a prov lives while it has a result to produce or a backend call
 * outstanding (pending). Once it has a result (finished) it is only waiting
 * for the backend to stop the task (stop_wanted); it is freed when nothing is
 * pending. Backend callbacks never outlive it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/evcurl.h"
#include "core/log.h"
#include "core/metrics.h"
#include "launcher/await.h"
#include "launcher/ddb.h"
#include "launcher/launcher.h"
#include "launcher/probe.h"
#include "launcher/template.h"

struct prov {
	struct launcher *l;
	TAILQ_ENTRY(prov) entry;
	struct tenant t;          /* the row as last written */
	TAILQ_ENTRY(prov) qentry; /* in l->startq while queued */
	int queued;
	int retry_after_s; /* a 503 busy: when to ask again */
	int64_t start_begun_us;
	/* The task's environment, kept for a start that waits in the queue. */
	char dbname[REG_SUBDOMAIN_MAX], dburl[LAUNCHER_DBURL_MAX], token[BACKEND_TOKEN_MAX];

	int finished;     /* the result is written and answered */
	int starting;     /* backend start outstanding */
	int awaiting;     /* looking for the binding */
	int probing;      /* readiness probe running */
	int stop_wanted;  /* stop the task once start has answered */
	int stopping;     /* backend stop outstanding */
	int mark_stopped; /* a DELETE: write STOPPED when the stop succeeds */
	int pending;      /* backend calls outstanding */
	int detached;     /* shutdown: off the list, freed by the last callback */
	int keep_task;    /* a failure that started nothing: stop nothing */
	int unsaved;      /* p->t is not in the registry yet: save_timer retries it */
	int save_tries;
	int64_t save_warned_us;
	struct event *save_timer;

	struct waiter waiters[LAUNCHER_WAITERS_MAX]; /* POSTs */
	int nwaiters;
	void *deleters[LAUNCHER_WAITERS_MAX]; /* DELETEs */
	int ndeleters;

	struct event *deadline;
	struct await *await; /* the binding's sources and the stop watch (launcher/await.c) */
	struct probe *probe;

	char host[REG_ARN_MAX]; /* the container instance the backend placed the task on, or "" */
	char bound_ip[REG_IP_MAX];
	int bound_port;
	enum bind_source source;
	int64_t t0_us, start_us;    /* provision begun; backend start's own duration */
	int64_t bound_us, ready_us; /* since t0: binding known; port answered */
	int64_t recorded_us;        /* since t0: RUNNING recorded (in DynamoDB too, with a table) */
	struct ddb_record *record;  /* the tenant's item being written (read-your-writes) */
};

static void prov_cleanup(struct prov *);
static void prov_fail(struct prov *, int status, const char *code, const char *reason);
static void start_pump(struct launcher *);
static void unqueue(struct prov *);
static void await_begin(struct prov *);

struct prov *
prov_find(struct launcher *l, const char *subdomain)
{
	struct prov *p;

	TAILQ_FOREACH(p, &l->provs, entry)
	if (strcmp(p->t.subdomain, subdomain) == 0)
		return p;
	return NULL;
}

int
prov_finished(const struct prov *p)
{
	return p->finished;
}

static struct prov *
prov_new(struct launcher *l, const struct tenant *t)
{
	struct prov *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->l = l;
	p->t = *t;
	p->t0_us = clock_mono_us();
	TAILQ_INSERT_TAIL(&l->provs, p, entry);
	l->nprovs++;
	return p;
}

/* who (may be NULL) waits for p's result; the provision's clock starts when it came. */
static void
first_waiter(struct prov *p, void *who, int64_t t0_us)
{
	if (who == NULL)
		return;
	p->waiters[0].who = who;
	p->waiters[0].t0_us = t0_us;
	p->nwaiters = 1;
	p->t0_us = t0_us;
}

/* At shutdown a callback may still arrive (-ECANCELED): it only lets go of p. */
static int
detached_done(struct prov *p)
{
	if (!p->detached)
		return 0;
	if (--p->pending == 0)
		free(p);
	return 1;
}

static void
prov_free(struct prov *p)
{
	struct launcher *l = p->l;

	TAILQ_REMOVE(&l->provs, p, entry);
	l->nprovs--;
	if (p->deadline != NULL)
		event_free(p->deadline);
	if (p->save_timer != NULL)
		event_free(p->save_timer);
	free(p);
}

static void save_tick(evutil_socket_t, short, void *);

/*
 * Writes p->t; the registry sets version and updated_at. A write that fails
 * (a full disk, a lock held elsewhere past LAUNCHER_BUSY_MS) is retried from
 * a timer, 100 ms doubling to 5 s, and p stays until it lands: a tenant is
 * never left PROVISIONING with nothing behind it.
 */
static int
save(struct prov *p)
{
	int rc = registry_tenant_update(p->l->reg, &p->t);
	int64_t now = clock_mono_us();

	if (rc == 0) {
		if (p->unsaved)
			log_info("registry_write_recovered tenant=%s status=%s tries=%d",
			         p->t.subdomain, tenant_status_str(p->t.status), p->save_tries);
		p->unsaved = 0;
		p->save_tries = 0;
		return 0;
	}
	if (p->save_warned_us == 0 || now - p->save_warned_us >= 10 * 1000000) {
		log_warnx("registry_update_failed tenant=%s status=%s error=\"%s\"", p->t.subdomain,
		          tenant_status_str(p->t.status), registry_errmsg(p->l->reg));
		p->save_warned_us = now;
	}
	p->unsaved = 1;
	if (p->save_timer == NULL &&
	    (p->save_timer = evtimer_new(p->l->base, save_tick, p)) == NULL)
		return rc;
	if (!evtimer_pending(p->save_timer, NULL)) {
		long ms = backoff_ceiling(p->save_tries + 1, LAUNCHER_SAVE_RETRY_MS,
		                          LAUNCHER_SAVE_RETRY_MAX_MS);
		struct timeval tv = {0, 0};

		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(p->save_timer, &tv);
	}
	p->save_tries++;
	return rc;
}

static void
save_tick(evutil_socket_t fd, short what, void *arg)
{
	struct prov *p = arg;

	(void)fd;
	(void)what;
	if (p->unsaved && save(p) == 0)
		prov_cleanup(p);
}

int
prov_flush(struct prov *p)
{
	if (!p->unsaved)
		return 0;
	if (save(p) != 0)
		return -EBUSY;
	prov_cleanup(p);
	return 0;
}

static void
answer_waiters(struct prov *p, int status, const char *code, const char *msg)
{
	struct launcher *l = p->l;
	int64_t now = clock_mono_us();
	char timing[256];
	struct prov_outcome o = {.status = status, .code = code, .msg = msg};

	if (code == NULL)
		o.t = &p->t;
	else if (status == 503)
		o.retry_after_s = p->retry_after_s > 0 ? p->retry_after_s : 1;
	for (int i = 0; i < p->nwaiters; i++) {
		if (code == NULL) {
			double total = (double)(now - p->waiters[i].t0_us) / 1000.0;

			/*
			 * start: the backend's start call; bind: then until the
			 * binding was known; ready: then until the port answered.
			 * The launcher's own share is the total without start.
			 */
			snprintf(timing, sizeof(timing),
			         "start;dur=%.3f, bind;dur=%.3f, ready;dur=%.3f, record;dur=%.3f, "
			         "total;dur=%.3f, launcher;dur=%.3f",
			         (double)p->start_us / 1000.0,
			         (double)(p->bound_us - p->start_us) / 1000.0,
			         (double)(p->ready_us - p->bound_us) / 1000.0,
			         (double)(p->recorded_us - p->ready_us) / 1000.0, total,
			         total - (double)p->start_us / 1000.0);
			o.server_timing = timing;
		}
		l->answer(l, p->waiters[i].who, &o);
	}
	p->nwaiters = 0;
}

static void
answer_deleters(struct prov *p, int error, const char *msg)
{
	struct prov_outcome ok = {.status = 200, .t = &p->t};
	struct prov_outcome bad = {.status = 502, .code = "backend_error", .msg = msg};

	for (int i = 0; i < p->ndeleters; i++)
		p->l->answer(p->l, p->deleters[i], error == 0 ? &ok : &bad);
	p->ndeleters = 0;
}

/* The task has a result: its await (binding sources, stop watch) ends. */
static void
stop_watching(struct prov *p)
{
	p->awaiting = 0;
	await_free(p->await);
	p->await = NULL;
}

static void
stop_probe(struct prov *p)
{
	p->probing = 0;
	probe_free(p->probe);
	p->probe = NULL;
}

static void
on_stopped(int error, const char *errmsg, void *arg)
{
	struct prov *p = arg;

	if (detached_done(p))
		return;
	p->pending--;
	p->stopping = 0;
	if (error == -ECANCELED) {
		prov_cleanup(p);
		return;
	}
	if (error != 0) {
		log_warnx("stop_failed tenant=%s task=%s error=\"%s\"", p->t.subdomain,
		          p->t.task_arn, errmsg);
		answer_deleters(p, error, errmsg);
	} else {
		log_info("task_stopped tenant=%s task=%s", p->t.subdomain, p->t.task_arn);
		if (p->mark_stopped) {
			p->t.status = TENANT_STOPPED;
			save(p);
			metric_inc(p->l->m.tenants_stopped);
		}
		answer_deleters(p, 0, NULL);
	}
	p->stop_wanted = 0;
	prov_cleanup(p);
}

/*
 * Releases what the provision holds once it has a result: timers, the probe,
 * the await; stops the task when asked; frees p when nothing is pending.
 */
static void
prov_cleanup(struct prov *p)
{
	struct launcher *l = p->l;

	if (!p->finished)
		return;
	unqueue(p);
	stop_watching(p);
	stop_probe(p);
	if (p->deadline != NULL) {
		event_free(p->deadline);
		p->deadline = NULL;
	}
	if (p->stop_wanted && !p->stopping && !p->starting) {
		p->stopping = 1;
		if (l->bops->stop(l->bstate, p->t.subdomain, (long long)p->t.created_at,
		                  p->t.task_arn, on_stopped, p) == 0) {
			p->pending++;
		} else {
			p->stopping = 0;
			p->stop_wanted = 0;
			log_warnx("stop_failed tenant=%s error=\"could not start\"",
			          p->t.subdomain);
			answer_deleters(p, -EIO, "the backend could not stop the task");
		}
	}
	if (p->pending == 0 && !p->unsaved) {
		answer_deleters(p, 0, NULL);
		prov_free(p);
	}
}

/* Records FAILED with reason, answers the waiters, stops the task. */
static void
prov_fail(struct prov *p, int status, const char *code, const char *reason)
{
	struct launcher *l = p->l;

	if (p->finished)
		return;
	p->finished = 1;
	p->t.status = TENANT_FAILED;
	snprintf(p->t.error, sizeof(p->t.error), "%s", reason);
	save(p);
	metric_inc(l->m.failed);
	if (status == 504)
		metric_inc(l->m.timed_out);
	log_warnx("provision_failed tenant=%s task=%s code=%s reason=\"%s\"", p->t.subdomain,
	          p->t.task_arn, code, reason);
	answer_waiters(p, status, code, reason);
	p->stop_wanted = !p->keep_task;
	prov_cleanup(p);
}

static void prov_answer_running(struct prov *);
static void record_failed(struct prov *, const char *why);
static void on_recorded(int error, const char *errmsg, void *arg);

static void
prov_running(struct prov *p)
{
	struct launcher *l = p->l;

	p->ready_us = clock_mono_us() - p->t0_us;
	p->finished = 1;
	p->t.status = TENANT_RUNNING;
	p->t.error[0] = '\0';
	snprintf(p->t.host_ip, sizeof(p->t.host_ip), "%s", p->bound_ip);
	p->t.host_port = p->bound_port;
	if (save(p) != 0) {
		/*
		 * Not recorded, so not promised: the task is stopped, the
		 * tenant becomes FAILED (written once the registry takes it)
		 * and the client may ask again.
		 */
		answer_waiters(p, 503, "registry_error", "the tenant could not be recorded");
		p->t.status = TENANT_FAILED;
		snprintf(p->t.error, sizeof(p->t.error), "the tenant could not be recorded");
		p->t.url[0] = '\0';
		p->stop_wanted = 1;
		prov_cleanup(p);
		return;
	}
	if (l->ddb != NULL) {
		/* Read-your-writes: the table has the tenant RUNNING before the 201. */
		p->record = launcher_ddb_record(
		    l, &p->t, (p->t0_us + (int64_t)l->wait_timeout_s * 1000000) / 1000 + 1000,
		    on_recorded, p);
		if (p->record != NULL) {
			p->pending++;
			return;
		}
		record_failed(p, "could not start");
		return;
	}
	prov_answer_running(p);
}

/*
 * The table did not take the RUNNING item in time: the tenant runs and is in
 * the registry (the outbox still syncs it), and the same request asked again
 * is answered from there.
 */
static void
record_failed(struct prov *p, const char *why)
{
	log_warnx("dynamodb_record_failed tenant=%s error=\"%s\"", p->t.subdomain, why);
	answer_waiters(p, 503, "dynamodb_error",
	               "the tenant runs but could not be recorded in DynamoDB; ask again");
	prov_cleanup(p);
}

/* RUNNING is recorded (the registry, and the table with one): the 201. */
static void
prov_answer_running(struct prov *p)
{
	struct launcher *l = p->l;
	double total = (double)(clock_mono_us() - p->t0_us) / 1e6;

	p->recorded_us = clock_mono_us() - p->t0_us;
	metric_inc(l->m.running);
	metric_observe(l->m.total, total);
	metric_observe(l->m.share, total - (double)p->start_us / 1e6);
	log_info("provision_running tenant=%s task=%s host_port=%d source=%s ms=%.1f start_ms=%.1f "
	         "record_ms=%.1f",
	         p->t.subdomain, p->t.task_arn, p->bound_port, bind_source_names[p->source],
	         total * 1000, (double)p->start_us / 1000.0,
	         (double)(p->recorded_us - p->ready_us) / 1000.0);
	answer_waiters(p, 201, NULL, NULL);
	prov_cleanup(p);
}

static void
on_recorded(int error, const char *errmsg, void *arg)
{
	struct prov *p = arg;

	p->record = NULL;
	if (detached_done(p))
		return;
	p->pending--;
	if (error != 0) {
		record_failed(p, errmsg);
		return;
	}
	prov_answer_running(p);
}

static void
on_deadline(int fd, short what, void *arg)
{
	struct prov *p = arg;
	char reason[160];

	(void)fd;
	(void)what;
	if (p->queued) {
		/* Never started: nothing to stop, and worth asking again. */
		unqueue(p);
		p->retry_after_s = 1;
		prov_fail(
		    p, 503, "busy",
		    "too many tenants are being started to start this one in time; ask again");
		return;
	}
	snprintf(reason, sizeof(reason), "%s within %d s",
	         p->probing    ? "the host port did not answer"
	         : p->starting ? "the backend did not start the task"
	                       : "no host port was published",
	         p->l->wait_timeout_s);
	prov_fail(p, 504, "timeout", reason);
}

/* --- readiness probe ------------------------------------------------------ */

static int
is_loopback(const char *ip)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, ip, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* The host[:port] part of url (into out); "localhost" when none. */
static void
url_authority(const char *url, char *out, size_t outlen)
{
	const char *s = strstr(url, "://");

	if (s == NULL || s[3] == '\0') {
		snprintf(out, outlen, "localhost");
		return;
	}
	s += 3;
	snprintf(out, outlen, "%.*s", (int)strcspn(s, "/?#"), s);
}

static void
on_ready(void *arg)
{
	prov_running(arg);
}

/* The binding is known, from whichever source answered first. */
static void
prov_bound(struct prov *p, const char *ip, int port, enum bind_source src)
{
	struct launcher *l = p->l;
	char portstr[16], err[160];
	const struct template_var vars[] = {
	    {"subdomain", p->t.subdomain},
	    {"host_ip", p->bound_ip},
	    {"host_port", portstr},
	    {NULL, NULL},
	};

	if (p->finished || !p->awaiting)
		return;
	p->awaiting = 0; /* the await watches on, for a stop */
	p->bound_us = clock_mono_us() - p->t0_us;
	p->source = src;
	metric_inc(l->m.bound_by[src]);
	p->bound_port = port;
	if (l->host_ip != NULL && *l->host_ip != '\0')
		snprintf(p->bound_ip, sizeof(p->bound_ip), "%s", l->host_ip);
	else if (ip != NULL && *ip != '\0')
		snprintf(p->bound_ip, sizeof(p->bound_ip), "%s", ip);
	else
		snprintf(p->bound_ip, sizeof(p->bound_ip), "127.0.0.1");
	log_debug("binding_found tenant=%s task=%s host_port=%d source=%d", p->t.subdomain,
	          p->t.task_arn, port, (int)src);
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (template_expand(l->url_template, vars, p->t.url, sizeof(p->t.url), err, sizeof(err)) !=
	    0) {
		prov_fail(p, 500, "url_template", "the URL does not fit");
		return;
	}
	{
		/* A local backend publishes on this machine: probe loopback, never another host. */
		const char *addr =
		    (l->bops->local && !is_loopback(p->bound_ip)) ? "127.0.0.1" : p->bound_ip;
		char host[PROBE_HOST_MAX];
		int error;

		url_authority(p->t.url, host, sizeof(host));
		p->probe = probe_new(l->base, addr, port, l->ready_http ? PROBE_HTTP : PROBE_TCP,
		                     host, on_ready, p, &error);
		if (p->probe == NULL) {
			if (error == -EINVAL)
				prov_fail(p, 502, "bad_binding",
				          "the binding's host IP is not an IP address");
			else
				prov_fail(p, 500, "internal", "out of memory");
			return;
		}
	}
	p->probing = 1;
}

/* --- awaiting the binding (launcher/await.c) -------------------------------- */

static void
on_found(const struct await_found *f, void *arg)
{
	prov_bound(arg, f->host_ip, f->host_port, f->source);
}

static void
on_task_stopped(const char *reason, void *arg)
{
	prov_fail(arg, 502, "task_stopped", reason);
}

static void
await_begin(struct prov *p)
{
	p->awaiting = 1;
	p->await = await_start(p->l, p->t.task_arn, p->host, p->t.subdomain,
	                       p->t0_us + (int64_t)p->l->wait_timeout_s * 1000000, on_found,
	                       on_task_stopped, p);
	if (p->await == NULL) {
		prov_fail(p, 500, "internal", "out of memory");
		return;
	}
	await_lookup(p->await);
}

/* --- start ------------------------------------------------------------------ */

static void
on_started(int error, const char *task, const char *host, const char *errmsg, void *arg)
{
	struct prov *p = arg;

	if (detached_done(p))
		return;
	p->pending--;
	p->starting = 0;
	p->l->nstarting--;
	p->start_us = clock_mono_us() - p->t0_us;
	if (error == 0) {
		double ms = (double)(clock_mono_us() - p->start_begun_us) / 1000.0;

		/* Smoothed, for judging how long the start queue takes. */
		p->l->start_ewma_ms =
		    p->l->start_ewma_ms > 0 ? 0.8 * p->l->start_ewma_ms + 0.2 * ms : ms;
	}
	start_pump(p->l);
	if (error == 0) {
		snprintf(p->t.task_arn, sizeof(p->t.task_arn), "%s", task);
		snprintf(p->host, sizeof(p->host), "%s", host != NULL ? host : "");
		log_info("task_started tenant=%s task=%s ms=%.1f", p->t.subdomain, task,
		         (double)p->start_us / 1000.0);
	}
	if (p->finished) { /* timed out or deleted meanwhile: prov_cleanup stops it */
		prov_cleanup(p);
		return;
	}
	if (error != 0) {
		char reason[REG_ERROR_MAX];

		snprintf(reason, sizeof(reason), "%s", errmsg != NULL ? errmsg : "start failed");
		if (error == -EEXIST) {
			/* Someone else's holds the tenant's place: leave it alone. */
			p->keep_task = 1;
			prov_fail(p, 409, "conflict", reason);
			return;
		}
		/* -EAGAIN: the backend had no room (ECS RESOURCE:* failures). */
		prov_fail(p, error == -ECANCELED || error == -EAGAIN ? 503 : 502, "backend_error",
		          reason);
		return;
	}
	if (save(p) != 0) {
		prov_fail(p, 503, "registry_error", "the task could not be recorded");
		return;
	}
	await_begin(p);
}

static int
arm_deadline(struct prov *p)
{
	struct timeval tv = {p->l->wait_timeout_s, 0};

	if ((p->deadline = evtimer_new(p->l->base, on_deadline, p)) == NULL)
		return -ENOMEM;
	evtimer_add(p->deadline, &tv);
	return 0;
}

/* Starts p's task now (a start slot is free). 0, or negative with p failed. */
static int
backend_start(struct prov *p)
{
	struct launcher *l = p->l;
	struct backend_env env[BACKEND_ENV_MAX];
	struct backend_spec spec;
	int64_t left_ms =
	    (p->t0_us + (int64_t)l->wait_timeout_s * 1000000 - clock_mono_us()) / 1000;
	size_t n = 0;
	int rc;

	env[n++] = (struct backend_env){"DB_NAME", p->dbname};
	if (p->dburl[0] != '\0')
		env[n++] = (struct backend_env){"DATABASE_URL", p->dburl};
	env[n++] = (struct backend_env){"BERTH_TENANT", p->t.subdomain};
	env[n++] = (struct backend_env){"BERTH_COMPANY_NAME", p->t.company_name};
	spec = (struct backend_spec){p->t.subdomain,
	                             env,
	                             n,
	                             l->container_port,
	                             p->token,
	                             (long long)p->t.created_at,
	                             left_ms > 1000 ? (long)left_ms : 1000,
	                             p->t.admin_email,
	                             p->t.company_name};
	p->starting = 1;
	p->start_begun_us = clock_mono_us();
	l->nstarting++;
	if ((rc = l->bops->start(l->bstate, &spec, on_started, p)) != 0) {
		p->starting = 0;
		l->nstarting--;
		prov_fail(p, 502, "backend_error", "the backend could not start the task");
		return rc;
	}
	p->pending++;
	return 0;
}

static int
backend_max(const struct launcher *l)
{
	return l->backend_max > 0 ? l->backend_max : LAUNCHER_BACKEND_MAX;
}

/* Starts queued provisions while start slots are free. */
static void
start_pump(struct launcher *l)
{
	struct prov *p;

	while (l->nstarting < backend_max(l) && (p = TAILQ_FIRST(&l->startq)) != NULL) {
		TAILQ_REMOVE(&l->startq, p, qentry);
		p->queued = 0;
		l->nqueued--;
		backend_start(p);
	}
}

/* Takes p out of the start queue (it finished while waiting): nothing was started. */
static void
unqueue(struct prov *p)
{
	if (!p->queued)
		return;
	TAILQ_REMOVE(&p->l->startq, p, qentry);
	p->queued = 0;
	p->l->nqueued--;
	p->keep_task = 1;
}

/*
 * Starts p's task, or queues it behind --backend-concurrency starts in
 * flight. A provision that the queue cannot start in time (the starts ahead
 * of it, at the smoothed start time, leave too little of --wait-timeout) is
 * answered 503 with Retry-After at once instead of timing out later.
 */
static int
start_or_queue(struct prov *p)
{
	struct launcher *l = p->l;
	int64_t left_ms, est_ms;

	if (l->nstarting < backend_max(l) && TAILQ_EMPTY(&l->startq))
		return backend_start(p);
	left_ms = (p->t0_us + (int64_t)l->wait_timeout_s * 1000000 - clock_mono_us()) / 1000;
	est_ms = (int64_t)((double)(l->nqueued / backend_max(l) + 1) * l->start_ewma_ms);
	if (est_ms > left_ms - LAUNCHER_AFTER_START_MS) {
		p->keep_task = 1;
		p->retry_after_s = (int)(est_ms / 1000) + 1;
		log_info(
		    "provision_refused tenant=%s queued=%d starting=%d est_ms=%lld left_ms=%lld",
		    p->t.subdomain, l->nqueued, l->nstarting, (long long)est_ms,
		    (long long)left_ms);
		metric_inc(l->m.refused);
		prov_fail(
		    p, 503, "busy",
		    "too many tenants are being started to start this one in time; ask again");
		return -EBUSY;
	}
	TAILQ_INSERT_TAIL(&l->startq, p, qentry);
	p->queued = 1;
	l->nqueued++;
	return 0;
}

int
prov_start(struct launcher *l, const struct tenant *t, void *who, int64_t t0_us)
{
	struct prov *p = prov_new(l, t);
	char err[160];

	if (p == NULL) {
		struct tenant f = *t;

		/* No provision to hold it: record the failure and answer here. */
		f.status = TENANT_FAILED;
		snprintf(f.error, sizeof(f.error), "out of memory");
		registry_tenant_update(l->reg, &f);
		if (who != NULL)
			l->answer(l, who,
			          &(struct prov_outcome){
			              .status = 503, .code = "internal", .msg = "out of memory"});
		return -ENOMEM;
	}
	first_waiter(p, who, t0_us);
	/* DB_NAME: the subdomain with '-' as '_', a valid SQL identifier. */
	snprintf(p->dbname, sizeof(p->dbname), "%s", t->subdomain);
	for (char *c = p->dbname; *c != '\0'; c++)
		if (*c == '-')
			*c = '_';
	if (l->dburl_template != NULL && *l->dburl_template != '\0') {
		const struct template_var vars[] = {
		    {"db_name", p->dbname}, {"subdomain", t->subdomain}, {NULL, NULL}};

		if (template_expand(l->dburl_template, vars, p->dburl, sizeof(p->dburl), err,
		                    sizeof(err)) != 0) {
			prov_fail(p, 500, "internal", "the database URL template does not fit");
			return -E2BIG;
		}
	}
	/*
	 * The attempt's token: the subdomain's hash, its creation time and the
	 * row version written with PROVISIONING, none of which a resume changes.
	 */
	{
		uint64_t h = 1469598103934665603ULL; /* FNV-1a */

		for (const char *c = t->subdomain; *c != '\0'; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ULL;
		snprintf(p->token, sizeof(p->token), "berth-%016llx-%lld-%lld",
		         (unsigned long long)h, (long long)t->created_at, (long long)t->version);
	}
	if (arm_deadline(p) != 0) {
		prov_fail(p, 500, "internal", "out of memory");
		return -ENOMEM;
	}
	metric_inc(l->m.started);
	return start_or_queue(p);
}

int
prov_join(struct prov *p, void *who, int64_t t0_us)
{
	if (p->finished || p->nwaiters == LAUNCHER_WAITERS_MAX)
		return -ENOSPC;
	p->waiters[p->nwaiters].who = who;
	p->waiters[p->nwaiters].t0_us = t0_us;
	p->nwaiters++;
	return 0;
}

int
prov_delete(struct launcher *l, const struct tenant *t, void *who)
{
	struct prov *p = prov_find(l, t->subdomain);

	if (p == NULL && (p = prov_new(l, t)) == NULL)
		return -ENOMEM;
	if (p->ndeleters == LAUNCHER_WAITERS_MAX)
		return -ENOSPC;
	p->deleters[p->ndeleters++] = who;
	p->mark_stopped = 1;
	p->stop_wanted = 1;
	if (!p->finished) {
		p->finished = 1;
		if (p->nwaiters > 0)
			answer_waiters(p, 409, "deleted",
			               "the tenant was deleted while it was being provisioned");
	}
	log_info("tenant_delete tenant=%s task=%s", t->subdomain, p->t.task_arn);
	prov_cleanup(p);
	return 0;
}

int
prov_resume(struct launcher *l)
{
	struct tenant *v;
	size_t n;
	int rc;

	/* Collect first: resuming writes to the table being listed. */
	if ((rc = registry_tenant_collect(l->reg, TENANT_PROVISIONING, &v, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (prov_find(l, v[i].subdomain) != NULL)
			continue;
		metric_inc(l->m.resumed);
		prov_take_over(l, &v[i], NULL, clock_mono_us(), "provision_resume");
	}
	free(v);
	return 0;
}

int
prov_orphaned(const struct launcher *l, const struct tenant *t)
{
	return t->status == TENANT_PROVISIONING &&
	       registry_now_ms() - t->updated_at >
	           ((int64_t)l->wait_timeout_s + LAUNCHER_ORPHAN_GRACE_S) * 1000;
}

int
prov_take_over(struct launcher *l, const struct tenant *t, void *who, int64_t t0_us,
               const char *why)
{
	struct prov *p;

	if (t->task_arn[0] == '\0') {
		/*
		 * The start may or may not have reached the backend. Starting
		 * again is safe: the docker backend names the container after
		 * the tenant (its own leftover is replaced, and a create still
		 * in flight loses the name), and ECS takes a client token for
		 * RunTask.
		 */
		log_info("%s tenant=%s task=none action=start", why, t->subdomain);
		return prov_start(l, t, who, t0_us);
	}
	if ((p = prov_new(l, t)) == NULL)
		return -ENOMEM;
	first_waiter(p, who, t0_us);
	log_info("%s tenant=%s task=%s action=await", why, p->t.subdomain, p->t.task_arn);
	if (arm_deadline(p) != 0) {
		prov_fail(p, 500, "internal", "out of memory");
		return -ENOMEM;
	}
	await_begin(p);
	return 0;
}

void
prov_shutdown(struct launcher *l)
{
	const struct prov_outcome down = {.status = 503,
	                                  .code = "shutting_down",
	                                  .msg = "the launcher is shutting down; ask again"};
	struct prov *p;

	while ((p = TAILQ_FIRST(&l->provs)) != NULL) {
		/* Left PROVISIONING on purpose: the next start resumes it. */
		for (int i = 0; i < p->nwaiters; i++)
			l->answer(l, p->waiters[i].who, &down);
		p->nwaiters = 0;
		for (int i = 0; i < p->ndeleters; i++)
			l->answer(l, p->deleters[i], &down);
		p->ndeleters = 0;
		p->finished = 1;
		p->stop_wanted = 0;
		if (p->unsaved && save(p) != 0)
			log_warnx("registry_write_lost tenant=%s status=%s", p->t.subdomain,
			          tenant_status_str(p->t.status));
		if (p->save_timer != NULL) {
			event_free(p->save_timer);
			p->save_timer = NULL;
		}
		unqueue(p);
		stop_watching(p);
		stop_probe(p);
		if (p->record != NULL) {
			/* Its RUNNING row is in the registry; the outbox takes it to the table. */
			launcher_ddb_record_cancel(p->record);
			p->record = NULL;
			p->pending--;
		}
		TAILQ_REMOVE(&l->provs, p, entry);
		l->nprovs--;
		if (p->deadline != NULL)
			event_free(p->deadline);
		/* Backend calls still in flight hold p until their (cancelled) callbacks. */
		p->detached = 1;
		if (p->pending == 0)
			free(p);
	}
}
