/*
 * libFuzzer target: damaged registry files. A valid registry (a few bindings
 * and tenants) is made once; each input is a list of patches to it
 * (offset: 2 bytes, scaled to the file; length: 1 byte; bytes), written to a
 * file that is then opened read-only (with quick_check) and read-write and
 * read every way berth reads it, plus a write. Any outcome but a crash or a
 * sanitizer report is fine: bad files must cost an error, never the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/registry.h"

#define TEMPLATE_MAX (1 << 20) /* cap on the template registry's size */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256], path[300];
static uint8_t *tmpl, *work;
static size_t tmpl_len;

static void
unlink_all(void)
{
	char p[320];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static void
cleanup(void)
{
	unlink_all();
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct registry *r;
	struct binding b;
	struct tenant t;
	char err[256];
	ssize_t n;
	int fd;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/tmp/berth-fuzz-registry-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	atexit(cleanup);
	if (registry_open(&r, path, REGISTRY_RDWR | REGISTRY_CREATE, err, sizeof(err)) != 0)
		abort();
	for (int i = 0; i < 40; i++) {
		memset(&b, 0, sizeof(b));
		snprintf(b.task_arn, sizeof(b.task_arn), "arn:aws:ecs:eu-west-1:1:task/c/%032x", i);
		snprintf(b.container_name, sizeof(b.container_name), "app");
		snprintf(b.container_id, sizeof(b.container_id), "%064x", i);
		snprintf(b.protocol, sizeof(b.protocol), i % 2 ? "tcp" : "udp");
		snprintf(b.tenant, sizeof(b.tenant), "t%d", i % 5);
		b.container_port = 8000;
		b.host_port = 32768 + i;
		b.status = (enum binding_status)(i % 4);
		if (registry_binding_upsert(r, &b, NULL) != 0)
			abort();
	}
	for (int i = 0; i < 5; i++) {
		memset(&t, 0, sizeof(t));
		snprintf(t.subdomain, sizeof(t.subdomain), "t%d", i);
		t.status = (enum tenant_status)(i % 4);
		if (registry_tenant_insert(r, &t) != 0)
			abort();
	}
	registry_close(r); /* the last connection: the WAL is folded into the file */
	if ((tmpl = malloc(TEMPLATE_MAX)) == NULL || (work = malloc(TEMPLATE_MAX)) == NULL ||
	    (fd = open(path, O_RDONLY)) < 0)
		abort();
	n = read(fd, tmpl, TEMPLATE_MAX);
	close(fd);
	if (n <= 0)
		abort();
	tmpl_len = (size_t)n;
	return 0;
}

static int
count_b(const struct binding *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

static int
count_t(const struct tenant *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

static int
count_o(const struct outbox_row *o, void *arg)
{
	(void)o;
	(*(int *)arg)++;
	return 0;
}

static void
read_all(struct registry *r)
{
	struct binding_filter f = {.status = -1, .include_removed = 1};
	struct registry_stats st;
	struct binding b;
	struct tenant t;
	int n = 0, changed;

	registry_binding_list(r, &f, count_b, &n);
	registry_tenant_list(r, -1, NULL, 0, count_t, &n);
	registry_outbox_pending(r, 0, count_o, &n);
	registry_stats(r, &st);
	registry_binding_get(r, "00000000000000000000000000000003", &b);
	registry_tenant_get(r, "t1", &t);
	registry_changed(r, &changed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry *r;
	struct binding b;
	size_t len = tmpl_len;
	char err[256];
	int fd;

	memcpy(work, tmpl, tmpl_len);
	while (size >= 3) {
		size_t off = ((size_t)data[0] << 8 | data[1]) * tmpl_len / 65536;
		size_t n = data[2];

		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		if (off + n > tmpl_len)
			n = tmpl_len - off;
		memcpy(work + off, data, n);
		data += n;
		size -= n;
	}
	if (size > 0) /* a trailing odd byte also cuts the file */
		len = tmpl_len * data[0] / 256;
	unlink_all();
	if ((fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644)) < 0)
		abort();
	if (write(fd, work, len) != (ssize_t)len)
		abort();
	close(fd);
	if (registry_open_busy(&r, path, REGISTRY_RDONLY | REGISTRY_CHECK, 0, err, sizeof(err)) ==
	    0) {
		read_all(r);
		registry_close(r);
	}
	if (registry_open_busy(&r, path, REGISTRY_RDWR, 0, err, sizeof(err)) == 0) {
		read_all(r);
		memset(&b, 0, sizeof(b));
		snprintf(b.task_arn, sizeof(b.task_arn), "arn:aws:ecs:eu-west-1:1:task/c/%032x", 3);
		snprintf(b.container_name, sizeof(b.container_name), "app");
		snprintf(b.protocol, sizeof(b.protocol), "udp");
		b.container_port = 8000;
		b.host_port = 40000;
		registry_binding_upsert(r, &b, NULL);
		registry_container_removed(r,
		                           "0000000000000000000000000000000000000000000000000000000"
		                           "000000004",
		                           0, NULL);
		registry_close(r);
	}
	return 0;
}
