/* hosts: host items read from the table and cached (see hosts.h). */
#include "launcher/hosts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <jansson.h>

#include "aws/aws.h"
#include "aws/aws_ddb.h"
#include "core/clock.h"
#include "core/log.h"
#include "launcher/launcher.h"

struct cached {
	TAILQ_ENTRY(cached) entry;
	struct host_item h;
	int parsed;      /* an item without junk was read */
	int usable;      /* parsed, with a usable API URL */
	int64_t read_ms; /* monotonic */
};

struct hosts_ask {
	struct hosts *hs;
	TAILQ_ENTRY(hosts_ask) entry;
	char id[ITEM_HOST_ID_MAX];
	hosts_cb cb;
	void *arg;
	struct aws_call *call;
};

struct hosts {
	struct launcher *l;
	char table[DDB_TABLE_MAX + 1];
	TAILQ_HEAD(cached_list, cached) cache; /* most recently read first */
	TAILQ_HEAD(, hosts_ask) asks;
	int ncached;
};

struct hosts *
hosts_new(struct launcher *l, const char *table)
{
	struct hosts *hs = calloc(1, sizeof(*hs));

	if (hs == NULL || strlen(table) > DDB_TABLE_MAX) {
		free(hs);
		return NULL;
	}
	hs->l = l;
	snprintf(hs->table, sizeof(hs->table), "%s", table);
	TAILQ_INIT(&hs->cache);
	TAILQ_INIT(&hs->asks);
	return hs;
}

void
hosts_free(struct hosts *hs)
{
	struct cached *c;
	struct hosts_ask *k;

	if (hs == NULL)
		return;
	while ((k = TAILQ_FIRST(&hs->asks)) != NULL)
		hosts_cancel(k);
	while ((c = TAILQ_FIRST(&hs->cache)) != NULL) {
		TAILQ_REMOVE(&hs->cache, c, entry);
		free(c);
	}
	free(hs);
}

static struct cached *
cache_get(struct hosts *hs, const char *id)
{
	struct cached *c;

	TAILQ_FOREACH(c, &hs->cache, entry)
	if (strcmp(c->h.id, id) == 0)
		return c;
	return NULL;
}

/* 1 when c's host is to be long-polled. */
static int
live(const struct cached *c)
{
	return c != NULL && c->usable && item_host_status(&c->h, registry_now_ms()) == HOST_UP;
}

/* The host as its item says, or NULL when there was none or it was junk. */
static const struct host_item *
known(const struct cached *c)
{
	return c != NULL && c->parsed ? &c->h : NULL;
}

static void
cache_put(struct hosts *hs, const char *id, const json_t *plain)
{
	struct cached *c = cache_get(hs, id);
	char why[160];

	if (c != NULL) {
		TAILQ_REMOVE(&hs->cache, c, entry);
	} else if (hs->ncached >= HOSTS_MAX) {
		/* Full: the host read longest ago makes room. */
		c = TAILQ_LAST(&hs->cache, cached_list);
		TAILQ_REMOVE(&hs->cache, c, entry);
		memset(c, 0, sizeof(*c));
	} else {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return;
		hs->ncached++;
	}
	c->read_ms = clock_mono_ms();
	c->usable = c->parsed = 0;
	if (plain == NULL) {
		snprintf(c->h.id, sizeof(c->h.id), "%s", id);
	} else if (item_host_parse(plain, &c->h, why, sizeof(why)) != 0) {
		snprintf(c->h.id, sizeof(c->h.id), "%s", id);
		log_warnx("host_item_ignored host=%s reason=\"%s\"", id, why);
	} else if (strcmp(c->h.id, id) != 0) {
		log_warnx("host_item_ignored host=%s reason=\"its host_id is another\"", id);
		memset(&c->h, 0, sizeof(c->h));
		snprintf(c->h.id, sizeof(c->h.id), "%s", id);
	} else if (!item_api_url_ok(c->h.api_url)) {
		c->parsed = 1;
		log_warnx("host_item_ignored host=%s reason=\"api_url is not http://IP:PORT on a "
		          "private or loopback address\"",
		          id);
	} else {
		c->parsed = c->usable = 1;
	}
	TAILQ_INSERT_HEAD(&hs->cache, c, entry);
}

static void
on_item(const struct aws_result *r, void *arg)
{
	struct hosts_ask *k = arg;
	struct hosts *hs = k->hs;
	json_t *plain = NULL;

	k->call = NULL;
	if (r->error == 0) {
		plain = ddb_item_to_json(json_object_get(r->body, "Item"));
		cache_put(hs, k->id, plain);
		json_decref(plain);
	} else {
		log_debug("host_item_read_failed host=%s error=\"%s\"", k->id, r->aerr.code);
	}
	TAILQ_REMOVE(&hs->asks, k, entry);
	if (r->error == 0)
		k->cb(known(cache_get(hs, k->id)), live(cache_get(hs, k->id)), k->arg);
	else
		k->cb(known(cache_get(hs, k->id)), 0, k->arg);
	free(k);
}

struct hosts_ask *
hosts_find(struct hosts *hs, const char *id, hosts_cb cb, void *arg)
{
	struct cached *c;
	struct hosts_ask *k;
	char key[ITEM_KEY_MAX];

	if (hs == NULL || id == NULL || id[0] == '\0' || strlen(id) >= ITEM_HOST_ID_MAX)
		return NULL;
	c = cache_get(hs, id);
	if (c != NULL && clock_mono_ms() - c->read_ms < HOSTS_CACHE_MS && live(c)) {
		cb(known(c), 1, arg);
		return NULL;
	}
	if (item_host_key(id, key, sizeof(key)) != 0 || (k = calloc(1, sizeof(*k))) == NULL) {
		cb(known(c), 0, arg);
		return NULL;
	}
	k->hs = hs;
	snprintf(k->id, sizeof(k->id), "%s", id);
	k->cb = cb;
	k->arg = arg;
	TAILQ_INSERT_TAIL(&hs->asks, k, entry);
	if ((k->call = ddb_get_item(hs->l->aws, hs->table, item_key_av(key), 0, on_item, k)) ==
	    NULL) {
		TAILQ_REMOVE(&hs->asks, k, entry);
		free(k);
		cb(known(c), 0, arg);
		return NULL;
	}
	return k;
}

void
hosts_cancel(struct hosts_ask *k)
{
	if (k == NULL)
		return;
	if (k->call != NULL)
		aws_call_cancel(k->call);
	TAILQ_REMOVE(&k->hs->asks, k, entry);
	free(k);
}
