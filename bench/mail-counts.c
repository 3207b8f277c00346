/*
 * fs-bench-mail: the server's request counters, from the in-process mock's
 * API or from an fs-mockserver's admin endpoint (GET /_mock/stats, JSON).
 * Zeroing them is bench_server_counters_reset() (bench-server.c).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-mail.h"
#include "mockserver.h"

#define COUNTS_REPLY_MAX (64 * 1024)

static const char *const mail_counter_names[MC_COUNT] = {
	[MC_PUT] = "PutObject",
	[MC_GET] = "GetObject",
	[MC_HEAD] = "HeadObject",
	[MC_LIST2] = "ListObjectsV2",
	[MC_LIST1] = "ListObjects",
	[MC_DELETE] = "DeleteObject",
	[MC_MP_CREATE] = "CreateMultipartUpload",
	[MC_MP_PART] = "UploadPart",
	[MC_MP_COMPLETE] = "CompleteMultipartUpload",
	[MC_COPY] = "CopyObject",
	[MC_REQUESTS] = "requests",
	[MC_CONNECTIONS] = "connections",
	[MC_ERRORS] = "errors",
};

struct counts_reply {
	char buf[COUNTS_REPLY_MAX];
	size_t len;
};

static size_t counts_write(char *data, size_t size, size_t n, void *context)
{
	struct counts_reply *r = context;
	size_t len = size * n;

	if (r->len + len >= sizeof(r->buf))
		return 0;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	r->buf[r->len] = '\0';
	return len;
}

static int counts_fetch(const char *endpoint, struct counts_reply *r)
{
	char url[BENCH_URL_MAX];
	CURL *easy = curl_easy_init();
	long status = 0;
	CURLcode code;

	if (easy == NULL)
		return -1;
	r->len = 0;
	r->buf[0] = '\0';
	snprintf(url, sizeof(url), "%s/_mock/stats", endpoint);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, counts_write);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
	code = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(easy);
	return code == CURLE_OK && status == 200 && r->buf[0] == '{' ? 0 : -1;
}

void mail_counts_read(struct bench_server *srv, struct mail_counts *c)
{
	struct counts_reply *r;
	unsigned int i;

	memset(c, 0, sizeof(*c));
	if (srv->mock != NULL) {
		for (i = 0; i < MC_COUNT; i++)
			c->v[i] = fs_mock_counter(srv->mock,
						  mail_counter_names[i]);
		c->valid = true;
		return;
	}
	if (!srv->counters)
		return;
	r = malloc(sizeof(*r));
	if (r == NULL)
		return;
	if (counts_fetch(srv->endpoint, r) == 0) {
		for (i = 0; i < MC_COUNT; i++)
			c->v[i] = bench_server_json_counter(
				r->buf, mail_counter_names[i]);
		c->valid = true;
	}
	free(r);
}

void mail_counts_add(struct mail_counts *a, const struct mail_counts *b)
{
	unsigned int i;

	if (!b->valid)
		return;
	a->valid = true;
	for (i = 0; i < MC_COUNT; i++)
		a->v[i] += b->v[i];
}

uint64_t mail_counts_other(const struct mail_counts *c)
{
	uint64_t named = 0;
	unsigned int i;

	for (i = 0; i < MC_REQUESTS; i++)
		named += c->v[i];
	return c->v[MC_REQUESTS] > named ? c->v[MC_REQUESTS] - named : 0;
}
