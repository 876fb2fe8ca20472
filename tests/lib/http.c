/* tl_http: the blocking loopback HTTP client of the test library (see testlib.h). */
#include "tests/lib/testlib.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

struct membuf {
	char *out;
	size_t cap, len;
};

static size_t
mem_write(char *p, size_t sz, size_t n, void *arg)
{
	struct membuf *m = arg;
	size_t k = sz * n, room = m->cap > 0 ? m->cap - 1 - m->len : 0;

	if (room > k)
		room = k;
	if (room > 0) {
		memcpy(m->out + m->len, p, room);
		m->len += room;
	}
	if (m->cap > 0)
		m->out[m->len] = '\0';
	return k;
}

/* Tests talk to loopback only: http://127.x.y.z, localhost or [::1], any port and path. */
static int
loopback_url(const char *url)
{
	const char *h, *end;
	size_t n;

	if (strncmp(url, "http://", 7) != 0)
		return 0;
	h = url + 7;
	if (strncmp(h, "[::1]", 5) == 0)
		return h[5] == '\0' || h[5] == ':' || h[5] == '/';
	end = h + strcspn(h, ":/");
	n = (size_t)(end - h);
	if (n == 9 && strncmp(h, "localhost", 9) == 0)
		return 1;
	if (n < 5 || strncmp(h, "127.", 4) != 0)
		return 0;
	for (const char *p = h; p < end; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return 0;
	return 1;
}

int
tl_http(const char *url, const char *json, char *out, size_t outlen, long timeout_ms)
{
	struct membuf m = {out, out != NULL ? outlen : 0, 0};
	struct curl_slist *hdrs = NULL;
	long status = -1;
	CURL *h;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (!loopback_url(url)) {
		fprintf(stderr, "tl_http: %s is not a loopback URL: refused\n", url);
		return -1;
	}
	if ((h = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mem_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
	if (json != NULL) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return (int)status;
}
