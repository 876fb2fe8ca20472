/*
 * The outbox -> DynamoDB sync engine.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "aws/aws_retry.h"
#include "core/backoff.h"
#include "core/log.h"
#include "registry/item.h"
#include "registry/registry.h"
#include "registry/sync.h"

#define UNPROCESSED_BASE_MS 50
#define UNPROCESSED_CAP_MS  (UNPROCESSED_BASE_MS << (SYNC_UNPROCESSED_TRIES - 1))

struct item {
	int64_t row_id;
	char key[ITEM_KEY_MAX];
	int is_binding;
	json_t *av; /* the DynamoDB item */
	int state;  /* 0 pending, 1 written, 2 superseded, -1 failed */
};

/* One DynamoDB call of a drain: a batch of items or one conditional put. */
struct op {
	struct sync *s;
	int *idx; /* items of the drain */
	int n;
	int batch;
	int tries;
	struct aws_call *call;
	struct event *timer;
	struct op *next; /* queue */
};

struct sync {
	struct event_base *base;
	struct registry *reg;
	struct aws *aws;
	char table[DDB_TABLE_MAX + 1];
	struct sync_options opt;
	struct event *timer;
	int lock_fd;
	int has_lock;
	/* The drain in flight. */
	int draining;
	struct item *items;
	int n_items;
	struct op *queue, *queue_tail;
	struct op *live[SYNC_INFLIGHT_MAX + 1];
	int n_live;
	int n_waiting;      /* ops waiting on an UnprocessedItems backoff */
	struct op *waiting; /* their list */
	int drain_failed;
	int drain_full; /* the drain took SYNC_DRAIN_MAX rows: more may wait */
	int last_empty;
	int kicked;             /* a kick came during the drain: go again at once */
	struct backoff backoff; /* of the drain, after a failed one */
	struct sync_stats st;
};

static void drain(struct sync *);
static void op_run(struct op *);

/* --- the drainer lock --------------------------------------------------- */

static int
lock_take(struct sync *s)
{
	char path[1024];

	if (s->opt.no_lock)
		return s->has_lock = 1;
	if (s->lock_fd < 0) {
		snprintf(path, sizeof(path), "%s.sync-lock", registry_path(s->reg));
		if ((s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
			log_warn("sync_lock_open path=%s", path);
			return 0;
		}
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return 0;
	if (!s->has_lock)
		log_info("sync_drainer table=%s", s->table);
	return s->has_lock = 1;
}

/* --- a drain ------------------------------------------------------------ */

static void
schedule(struct sync *s, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(s->timer, &tv);
}

static void
drain_end(struct sync *s)
{
	for (int i = 0; i < s->n_items; i++)
		json_decref(s->items[i].av);
	free(s->items);
	s->items = NULL;
	s->n_items = 0;
	s->draining = 0;
	s->st.draining = 0;
	if (s->drain_failed) {
		long ms = backoff_next(&s->backoff);

		log_warnx("sync_backoff table=%s ms=%ld error=\"%s\"", s->table, ms,
		          s->st.last_error);
		schedule(s, ms);
		return;
	}
	backoff_reset(&s->backoff);
	schedule(s, s->drain_full || s->kicked
	                ? 0
	                : (s->opt.poll_ms > 0 ? s->opt.poll_ms : SYNC_POLL_MS));
	s->kicked = 0;
}

static void
op_free(struct op *op)
{
	if (op->timer != NULL)
		event_free(op->timer);
	free(op->idx);
	free(op);
}

static void
queue_push(struct sync *s, struct op *op)
{
	op->next = NULL;
	if (s->queue_tail != NULL)
		s->queue_tail->next = op;
	else
		s->queue = op;
	s->queue_tail = op;
}

/* Starts queued ops up to the in-flight cap; ends the drain when nothing is left. */
static void
pump(struct sync *s)
{
	struct op *op;

	while (s->n_live < SYNC_INFLIGHT_MAX && (op = s->queue) != NULL) {
		s->queue = op->next;
		if (s->queue == NULL)
			s->queue_tail = NULL;
		op_run(op);
	}
	if (s->n_live == 0 && s->queue == NULL && s->n_waiting == 0)
		drain_end(s);
}

static void
live_remove(struct sync *s, struct op *op)
{
	for (int i = 0; i < s->n_live; i++) {
		if (s->live[i] == op) {
			s->live[i] = s->live[--s->n_live];
			return;
		}
	}
}

/* Acknowledges written items (one transaction) and records failed ones. */
static void
settle(struct sync *s, struct op *op, const char *error)
{
	int began = registry_begin(s->reg) == 0;

	for (int i = 0; i < op->n; i++) {
		struct item *it = &s->items[op->idx[i]];
		int rc;

		if (it->state > 0) {
			rc = registry_outbox_ack(s->reg, it->row_id);
			if (it->state == 1)
				s->st.written++;
			else
				s->st.superseded++;
		} else if (it->state < 0) {
			rc = registry_outbox_fail(s->reg, it->row_id,
			                          error != NULL ? error : "failed");
			s->st.failures++;
		} else {
			continue;
		}
		if (rc != 0)
			log_warnx("sync_outbox_update id=%lld error=\"%s\"", (long long)it->row_id,
			          registry_errmsg(s->reg));
	}
	if (began && registry_commit(s->reg) != 0) {
		log_warnx("sync_commit error=\"%s\"", registry_errmsg(s->reg));
		registry_rollback(s->reg);
	}
	if (error != NULL) {
		s->drain_failed = 1;
		snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", error);
	} else {
		s->st.last_ok_ms = registry_now_ms();
	}
}

static void
retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct op *op = arg, **pp;

	(void)fd;
	(void)what;
	for (pp = &op->s->waiting; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	}
	op->s->n_waiting--;
	queue_push(op->s, op);
	pump(op->s);
}

static void
batch_done(struct op *op, const struct aws_result *r)
{
	struct sync *s = op->s;
	json_t *un, *reqs, *x;
	struct op *again = NULL;
	size_t i;
	char msg[768];

	if (r->error != 0) {
		aws_result_str(r, msg, sizeof(msg));
		for (int k = 0; k < op->n; k++)
			s->items[op->idx[k]].state = -1;
		settle(s, op, msg);
		return;
	}
	/* Everything not handed back was written. */
	un = json_object_get(r->body, "UnprocessedItems");
	reqs = json_object_get(un, s->table);
	for (int k = 0; k < op->n; k++)
		s->items[op->idx[k]].state = 1;
	if (json_is_array(reqs) && json_array_size(reqs) > 0) {
		if ((again = calloc(1, sizeof(*again))) != NULL &&
		    (again->idx = calloc((size_t)op->n, sizeof(int))) != NULL) {
			again->s = s;
			again->batch = 1;
			again->tries = op->tries + 1;
		}
		json_array_foreach(reqs, i, x)
		{
			json_t *id = json_object_get(
			    json_object_get(
			        json_object_get(json_object_get(x, "PutRequest"), "Item"),
			        ITEM_KEY_ATTR),
			    "S");
			for (int k = 0; k < op->n; k++) {
				struct item *it = &s->items[op->idx[k]];
				if (json_is_string(id) &&
				    strcmp(it->key, json_string_value(id)) == 0 && it->state == 1) {
					it->state = 0;
					s->st.unprocessed++;
					if (again != NULL && again->idx != NULL)
						again->idx[again->n++] = op->idx[k];
				}
			}
		}
	}
	settle(s, op, NULL);
	if (again == NULL || again->idx == NULL || again->n == 0) {
		if (again != NULL)
			op_free(again);
		return;
	}
	if (again->tries >= SYNC_UNPROCESSED_TRIES) {
		for (int k = 0; k < again->n; k++)
			s->items[again->idx[k]].state = -1;
		settle(s, again, "BatchWriteItem: items stayed unprocessed");
		op_free(again);
		return;
	}
	/* Exponential backoff with jitter before sending the leftovers again. */
	long ms = backoff_equal_jitter(
	    backoff_ceiling(again->tries, UNPROCESSED_BASE_MS, UNPROCESSED_CAP_MS),
	    aws_retry_random());
	if ((again->timer = evtimer_new(s->base, retry_timer, again)) == NULL) {
		queue_push(s, again);
		return;
	}
	s->n_waiting++;
	again->next = s->waiting;
	s->waiting = again;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(again->timer, &tv);
}

static void
put_done(struct op *op, const struct aws_result *r)
{
	struct sync *s = op->s;
	struct item *it = &s->items[op->idx[0]];
	char msg[768];

	if (r->error == 0) {
		it->state = 1;
		settle(s, op, NULL);
	} else if (strcmp(r->aerr.code, "ConditionalCheckFailedException") == 0) {
		/* The table holds this version or a newer one. */
		it->state = 2;
		settle(s, op, NULL);
	} else {
		aws_result_str(r, msg, sizeof(msg));
		it->state = -1;
		settle(s, op, msg);
	}
}

static void
op_done(const struct aws_result *r, void *arg)
{
	struct op *op = arg;
	struct sync *s = op->s;

	op->call = NULL;
	live_remove(s, op);
	if (op->batch)
		batch_done(op, r);
	else
		put_done(op, r);
	op_free(op);
	pump(s);
}

static void
op_run(struct op *op)
{
	struct sync *s = op->s;
	json_t *reqs;

	s->live[s->n_live++] = op;
	if (op->batch) {
		reqs = json_array();
		for (int k = 0; k < op->n; k++)
			json_array_append_new(reqs, json_pack("{s:{s:O}}", "PutRequest", "Item",
			                                      s->items[op->idx[k]].av));
		s->st.batches++;
		op->call = ddb_batch_write(s->aws, s->table, reqs, op_done, op);
	} else {
		struct item *it = &s->items[op->idx[0]];
		json_t *v = json_object_get(json_object_get(it->av, "version"), "N");
		s->st.puts++;
		op->call = ddb_put_item(s->aws, s->table, json_incref(it->av), ITEM_NEWER_ONLY,
		                        item_condition_names(),
		                        json_pack("{s:{s:O}}", ":v", "N", v), op_done, op);
	}
	if (op->call == NULL) {
		struct aws_result r;
		memset(&r, 0, sizeof(r));
		r.error = -ENOMEM;
		r.service = "dynamodb";
		r.operation = op->batch ? "BatchWriteItem" : "PutItem";
		/* op_done pumps, which may start more ops: defer through the timer path. */
		live_remove(s, op);
		for (int k = 0; k < op->n; k++)
			s->items[op->idx[k]].state = -1;
		settle(s, op, "cannot start a DynamoDB call");
		op_free(op);
	}
}

static struct op *
op_new(struct sync *s, int batch, int cap)
{
	struct op *op = calloc(1, sizeof(*op));

	if (op == NULL || (op->idx = calloc((size_t)cap, sizeof(int))) == NULL) {
		free(op);
		return NULL;
	}
	op->s = s;
	op->batch = batch;
	return op;
}

static int
collect(const struct outbox_row *row, void *arg)
{
	struct sync *s = arg;
	struct item *it = &s->items[s->n_items];
	char err[256];

	memset(it, 0, sizeof(*it));
	it->row_id = row->id;
	it->is_binding = strcmp(row->kind, "binding") == 0;
	if (item_key(row->kind, row->key, it->key, sizeof(it->key)) != 0 ||
	    (it->av = item_from_outbox(
	         row,
	         s->opt.tombstone_ttl_s > 0 ? registry_now_ms() / 1000 + s->opt.tombstone_ttl_s : 0,
	         err, sizeof(err))) == NULL) {
		/* A row that cannot be stored stays pending with its reason. */
		registry_outbox_fail(s->reg, row->id, "cannot be converted to a DynamoDB item");
		return 0;
	}
	s->n_items++;
	return 0;
}

static void
drain(struct sync *s)
{
	struct op *batch = NULL;
	int n_bind = 0, rc;

	if (s->draining)
		return;
	if (!s->has_lock && !lock_take(s)) {
		s->st.has_lock = 0;
		schedule(s, s->opt.poll_ms > 0 ? s->opt.poll_ms * 4 : SYNC_POLL_MS * 4);
		return;
	}
	s->st.has_lock = 1;
	if ((s->items = calloc(SYNC_DRAIN_MAX, sizeof(*s->items))) == NULL) {
		schedule(s, 1000);
		return;
	}
	s->n_items = 0;
	s->drain_failed = 0;
	rc = registry_outbox_pending(s->reg, SYNC_DRAIN_MAX, collect, s);
	if (rc != 0) {
		log_warnx("sync_outbox_read error=\"%s\"", registry_errmsg(s->reg));
		free(s->items);
		s->items = NULL;
		schedule(s, 1000);
		return;
	}
	s->drain_full = s->n_items >= SYNC_DRAIN_MAX;
	s->last_empty = s->n_items == 0;
	s->draining = 1;
	s->st.draining = 1;
	for (int i = 0; i < s->n_items; i++)
		n_bind += s->items[i].is_binding;
	for (int i = 0; i < s->n_items; i++) {
		struct op *op;
		if (s->items[i].is_binding && n_bind >= 2 && !s->opt.no_batch) {
			if (batch == NULL && (batch = op_new(s, 1, DDB_BATCH_MAX)) == NULL)
				continue;
			batch->idx[batch->n++] = i;
			if (batch->n == DDB_BATCH_MAX) {
				queue_push(s, batch);
				batch = NULL;
			}
			continue;
		}
		if ((op = op_new(s, 0, 1)) == NULL)
			continue;
		op->idx[op->n++] = i;
		queue_push(s, op);
	}
	if (batch != NULL)
		queue_push(s, batch);
	pump(s);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drain(arg);
}

struct sync *
sync_new(struct event_base *base, struct registry *reg, struct aws *aws, const char *table,
         const struct sync_options *opt, char *err, size_t errlen)
{
	struct sync *s;

	if (table == NULL || !ddb_table_name_ok(table)) {
		snprintf(err, errlen, "DynamoDB table name must be 3-255 of [A-Za-z0-9_.-]");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->base = base;
	s->reg = reg;
	s->aws = aws;
	s->lock_fd = -1;
	s->backoff = (struct backoff)BACKOFF_INIT(SYNC_BACKOFF_MIN_MS, SYNC_BACKOFF_MAX_MS);
	snprintf(s->table, sizeof(s->table), "%s", table);
	if (opt != NULL)
		s->opt = *opt;
	else
		s->opt.tombstone_ttl_s = SYNC_TOMBSTONE_TTL_S;
	if ((s->timer = evtimer_new(base, timer_cb, s)) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	schedule(s, 0);
	return s;
}

void
sync_kick(struct sync *s)
{
	if (s == NULL)
		return;
	if (s->draining)
		s->kicked = 1;
	else if (!backoff_active(&s->backoff))
		schedule(s, 0);
}

int
sync_idle(const struct sync *s)
{
	return !s->draining && s->last_empty;
}

void
sync_get_stats(const struct sync *s, struct sync_stats *out)
{
	*out = s->st;
}

static void
flush_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

int
sync_flush(struct sync *s, long deadline_ms)
{
	int64_t end = registry_now_ms() + deadline_ms;
	struct timeval tv = {0, 50000};
	struct event *ev = event_new(s->base, -1, EV_PERSIST, flush_tick, NULL);

	if (ev != NULL)
		event_add(ev, &tv);
	sync_kick(s);
	s->last_empty = 0;
	while (!sync_idle(s) && registry_now_ms() < end)
		event_base_loop(s->base, EVLOOP_ONCE);
	if (ev != NULL)
		event_free(ev);
	return sync_idle(s);
}

void
sync_free(struct sync *s)
{
	struct op *op;

	if (s == NULL)
		return;
	evtimer_del(s->timer);
	/* Rows in flight stay pending: the next start sends them again. */
	while (s->n_live > 0) {
		op = s->live[--s->n_live];
		if (op->call != NULL)
			aws_call_cancel(op->call);
		op_free(op);
	}
	while ((op = s->queue) != NULL) {
		s->queue = op->next;
		op_free(op);
	}
	while ((op = s->waiting) != NULL) {
		s->waiting = op->next;
		op_free(op);
	}
	for (int i = 0; i < s->n_items; i++)
		json_decref(s->items[i].av);
	free(s->items);
	event_free(s->timer);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}

void
sync_stop(struct sync *s)
{
	if (s == NULL)
		return;
	if (!sync_flush(s, SYNC_STOP_FLUSH_MS))
		log_warnx("sync_stopped_with_pending table=%s", s->table);
	sync_free(s);
}
