/*
 * Peer "curl" of both benchmarks: raw libcurl, the practical limit.
 *
 * Depth 1: one easy handle reused for every request (keep-alive) with
 * curl_easy_perform(). Depth N: N easy handles on one multi handle, each
 * re-added as soon as its request ended. Requests are signed with libfs's
 * SigV4 signer the way a real client signs them (bench-sign.c: the body's
 * SHA-256, Content-MD5 on uploads); the upload is streamed from memory
 * through a read callback and the response collected into a buffer and
 * checked. A listing is one ListObjectsV2 GET whose <Key>s are counted; a
 * delete is one DELETE (S3 answers 204 whether the key was there or not).
 * No retries: a failure counts.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "drivers/s3/sigv4.h"

/* Room for an error body beyond the expected size, and for a listing. */
#define CURL_PEER_SLACK (16 * 1024)
#define CURL_PEER_LIST_MAX (4 * 1024 * 1024)

struct curl_xfer {
	CURL *easy;
	struct curl_slist *headers;
	unsigned int index;
	uint64_t start_usec;
	bool active;
	char url[BENCH_URL_MAX];

	unsigned char *put_buf; /* the body being uploaded */
	size_t put_alloc, put_size, put_off;
	unsigned char *get_buf; /* the response body */
	size_t get_alloc, get_len, get_max;
};

struct curl_client {
	struct bench_client client;
	const struct bench_target *target;
	struct bench_signer signer;
	CURLM *multi; /* depth > 1 only */
	struct curl_xfer *xfers;
	unsigned int xfer_count;
};

static size_t curl_peer_read(char *buf, size_t size, size_t n, void *context)
{
	struct curl_xfer *x = context;
	size_t len = x->put_size - x->put_off;

	if (len > size * n)
		len = size * n;
	memcpy(buf, x->put_buf + x->put_off, len);
	x->put_off += len;
	return len;
}

static size_t curl_peer_write(char *data, size_t size, size_t n, void *context)
{
	struct curl_xfer *x = context;
	size_t len = size * n, alloc;
	unsigned char *buf;

	/* More than was written (or than a listing needs): stop. */
	if (x->get_len + len > x->get_max)
		return 0;
	if (x->get_len + len > x->get_alloc) {
		alloc = x->get_alloc > 0 ? x->get_alloc : 16384;
		while (alloc < x->get_len + len)
			alloc *= 2;
		buf = realloc(x->get_buf, alloc);
		if (buf == NULL)
			return 0;
		x->get_buf = buf;
		x->get_alloc = alloc;
	}
	memcpy(x->get_buf + x->get_len, data, len);
	x->get_len += len;
	return len;
}

static int curl_xfer_init(struct curl_xfer *x)
{
	x->easy = curl_easy_init();
	if (x->easy == NULL)
		return -ENOMEM;
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT,
			 (long)BENCH_REQUEST_TIMEOUT_SECS);
	curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, curl_peer_read);
	curl_easy_setopt(x->easy, CURLOPT_READDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, curl_peer_write);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	return 0;
}

static void curl_xfer_deinit(struct curl_xfer *x)
{
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->put_buf);
	free(x->get_buf);
	memset(x, 0, sizeof(*x));
}

/* Frees buffers above the workload's limit after a request, as a client
   that does not want to hold its largest object forever would. */
static void curl_xfer_trim(struct curl_xfer *x, const struct bench_phase *ph)
{
	if (x->put_alloc > ph->v->keep_buffer_max) {
		free(x->put_buf);
		x->put_buf = NULL;
		x->put_alloc = 0;
	}
	if (x->get_alloc > ph->v->keep_buffer_max) {
		free(x->get_buf);
		x->get_buf = NULL;
		x->get_alloc = 0;
	}
}

static int curl_xfer_payload(struct curl_xfer *x, struct bench_phase *ph,
			     unsigned int i)
{
	size_t size = ph->v->size(ph, i);
	unsigned char *buf;

	/* Never NULL, even for an empty body: it is signed as a body. */
	if (size > x->put_alloc || x->put_buf == NULL) {
		buf = realloc(x->put_buf, size > 0 ? size : 1);
		if (buf == NULL)
			return -ENOMEM;
		x->put_buf = buf;
		x->put_alloc = size > 0 ? size : 1;
	}
	x->put_size = size;
	x->put_off = 0;
	return ph->v->fill(ph, i, x->put_buf);
}

static const char *curl_method(const struct bench_phase *ph)
{
	switch (ph->verb) {
	case BENCH_VERB_PUT:
		return "PUT";
	case BENCH_VERB_DELETE:
		return "DELETE";
	default:
		return "GET";
	}
}

/* Path (and for a listing, query) of operation i, URI-encoded. */
static int curl_target(struct curl_client *c, struct bench_phase *ph,
		       unsigned int i, char *path, char *query, size_t size)
{
	char key[BENCH_KEY_MAX], *enc = NULL;

	ph->v->key(ph, i, key);
	query[0] = '\0';
	if (ph->verb == BENCH_VERB_LIST) {
		if (fs_sigv4_uri_encode(key, true, &enc) < 0)
			return -ENOMEM;
		snprintf(path, size, "/%s", c->target->bucket);
		snprintf(query, size, "list-type=2&prefix=%s", enc);
	} else {
		if (fs_sigv4_uri_encode(key, false, &enc) < 0)
			return -ENOMEM;
		snprintf(path, size, "/%s/%s", c->target->bucket, enc);
	}
	free(enc);
	return 0;
}

static void curl_set_method(struct curl_xfer *x, struct bench_phase *ph)
{
	/* HTTPGET resets an earlier upload; CUSTOMREQUEST only for DELETE. */
	curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST,
			 ph->verb == BENCH_VERB_DELETE ? "DELETE" : NULL);
	if (ph->verb == BENCH_VERB_PUT) {
		curl_easy_setopt(x->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)x->put_size);
	}
}

/* Prepares operation i on x; the clock starts after the payload was
   generated, so signing and hashing count as client work. */
static int curl_xfer_setup(struct curl_client *c, struct curl_xfer *x,
			   struct bench_phase *ph, unsigned int i)
{
	bool put = ph->verb == BENCH_VERB_PUT;
	char path[BENCH_URL_MAX], query[BENCH_URL_MAX];
	int ret;

	x->index = i;
	x->get_len = 0;
	x->get_max = ph->verb == BENCH_VERB_LIST
			     ? CURL_PEER_LIST_MAX
			     : ph->v->size(ph, i) + CURL_PEER_SLACK;
	if (put && (ret = curl_xfer_payload(x, ph, i)) < 0)
		return ret;
	x->start_usec = bench_now_usec();
	ret = curl_target(c, ph, i, path, query, sizeof(path));
	if (ret < 0)
		return ret;
	if (snprintf(x->url, sizeof(x->url), "%s%s%s%s", c->target->endpoint,
		     path, query[0] != '\0' ? "?" : "",
		     query) >= (int)sizeof(x->url))
		return -ENAMETOOLONG;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	ret = bench_sign_request(&c->signer, curl_method(ph), path,
				 query[0] != '\0' ? query : NULL,
				 put ? x->put_buf : NULL, put ? x->put_size : 0,
				 &x->headers);
	if (ret < 0)
		return ret;
	curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	curl_set_method(x, ph);
	return 0;
}

/* Counts the <Key> elements of a ListObjects reply; sets *truncated_r. */
static unsigned int curl_count_keys(const char *xml, size_t len,
				    bool *truncated_r)
{
	const char *p = xml, *end = xml + len;
	unsigned int n = 0;

	*truncated_r = xml != NULL &&
		       memmem(xml, len, "<IsTruncated>true<", 18) != NULL;
	while (p != NULL && p < end) {
		p = memmem(p, (size_t)(end - p), "<Key>", 5);
		if (p == NULL)
			break;
		n++;
		p += 5;
	}
	return n;
}

static void curl_list_done(struct bench_phase *ph, struct curl_xfer *x)
{
	unsigned int n;
	bool truncated;

	n = curl_count_keys((const char *)x->get_buf, x->get_len, &truncated);
	if (truncated) {
		bench_phase_fail(ph, x->index, "LIST: more than one page");
		return;
	}
	bench_phase_listed(ph, x->index, x->start_usec, n);
}

/* Records the outcome of x's request. */
static void curl_xfer_done(struct bench_phase *ph, struct curl_xfer *x,
			   CURLcode code)
{
	char key[BENCH_KEY_MAX], s3code[64];
	long status = 0, want = ph->verb == BENCH_VERB_DELETE ? 204 : 200;

	ph->v->key(ph, x->index, key);
	if (code != CURLE_OK) {
		bench_phase_fail(ph, x->index, "%s %s: %s", ph->name, key,
				 curl_easy_strerror(code));
		return;
	}
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != want && status != 200) {
		bench_s3_error_code(x->get_buf, x->get_len, s3code,
				    sizeof(s3code));
		bench_phase_fail(ph, x->index, "%s %s: HTTP %ld %s", ph->name,
				 key, status, s3code);
		return;
	}
	if (ph->verb == BENCH_VERB_LIST)
		curl_list_done(ph, x);
	else
		bench_phase_ok(ph, x->index, x->start_usec, x->get_buf,
			       x->get_len);
}

static void curl_setup_failed(struct bench_phase *ph, struct curl_xfer *x,
			      int err)
{
	bench_phase_fail(ph, x->index, "%s %u: preparing the request: %s",
			 ph->name, x->index, fs_errno_name(err));
}

static int curl_run_sequential(struct curl_client *c, struct bench_phase *ph)
{
	struct curl_xfer *x = &c->xfers[0];
	unsigned int i;
	int ret;

	for (i = 0; i < ph->count; i++) {
		ret = curl_xfer_setup(c, x, ph, i);
		if (ret < 0)
			curl_setup_failed(ph, x, ret);
		else
			curl_xfer_done(ph, x, curl_easy_perform(x->easy));
		curl_xfer_trim(x, ph);
	}
	return 0;
}

/* Starts requests on idle transfers while there are some to start. */
static int curl_multi_refill(struct curl_client *c, struct bench_phase *ph,
			     unsigned int *next, unsigned int *active)
{
	struct curl_xfer *x;
	unsigned int k;
	int ret;

	for (k = 0; k < c->xfer_count && *next < ph->count; k++) {
		x = &c->xfers[k];
		if (x->active)
			continue;
		ret = curl_xfer_setup(c, x, ph, (*next)++);
		if (ret < 0) {
			curl_setup_failed(ph, x, ret);
			continue;
		}
		if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
			return -EIO;
		x->active = true;
		(*active)++;
	}
	return 0;
}

/* Takes the finished transfers off the multi handle; returns how many. */
static unsigned int curl_multi_drain(struct curl_client *c,
				     struct bench_phase *ph)
{
	struct curl_xfer *x;
	unsigned int done = 0;
	CURLMsg *msg;
	int queued;

	while ((msg = curl_multi_info_read(c->multi, &queued)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				  (char **)&x);
		curl_multi_remove_handle(c->multi, x->easy);
		curl_xfer_done(ph, x, msg->data.result);
		curl_xfer_trim(x, ph);
		x->active = false;
		done++;
	}
	return done;
}

static int curl_run_multi(struct curl_client *c, struct bench_phase *ph)
{
	unsigned int next = 0, active = 0, done;
	int running;

	for (;;) {
		if (curl_multi_refill(c, ph, &next, &active) < 0)
			return -EIO;
		if (active == 0) {
			/* Everything ended, or every set-up just failed. */
			if (next == ph->count)
				return 0;
			continue;
		}
		if (curl_multi_perform(c->multi, &running) != CURLM_OK)
			return -EIO;
		done = curl_multi_drain(c, ph);
		active -= done;
		if (done == 0 &&
		    curl_multi_poll(c->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			return -EIO;
	}
}

static int curl_peer_run(struct bench_client *client, struct bench_phase *ph)
{
	struct curl_client *c =
		BENCH_CONTAINER_OF(client, struct curl_client, client);
	unsigned int k;
	int ret;

	if (c->multi == NULL)
		return curl_run_sequential(c, ph);
	ret = curl_run_multi(c, ph);
	if (ret < 0) {
		/* Leave no transfer on the multi handle. */
		for (k = 0; k < c->xfer_count; k++) {
			if (c->xfers[k].active)
				curl_multi_remove_handle(c->multi,
							 c->xfers[k].easy);
			c->xfers[k].active = false;
		}
	}
	return ret;
}

static void curl_peer_deinit(struct bench_client **client)
{
	struct curl_client *c;
	unsigned int k;

	if (*client == NULL)
		return;
	c = BENCH_CONTAINER_OF(*client, struct curl_client, client);
	for (k = 0; k < c->xfer_count; k++) {
		if (c->xfers[k].active)
			curl_multi_remove_handle(c->multi, c->xfers[k].easy);
		curl_xfer_deinit(&c->xfers[k]);
	}
	free(c->xfers);
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	bench_signer_deinit(&c->signer);
	free(c);
	*client = NULL;
}

static int curl_peer_init(const struct bench_target *target, unsigned int depth,
			  struct bench_client **client_r, char *error,
			  size_t error_size)
{
	struct curl_client *c = calloc(1, sizeof(*c));
	struct bench_client *client;
	unsigned int k;

	if (c == NULL)
		return -ENOMEM;
	c->client.peer = &bench_peer_curl;
	c->client.depth = depth;
	c->target = target;
	client = &c->client;
	c->xfers = calloc(depth, sizeof(*c->xfers));
	if (c->xfers == NULL || bench_signer_init(&c->signer, target) < 0)
		goto fail;
	c->xfer_count = depth;
	for (k = 0; k < depth; k++) {
		if (curl_xfer_init(&c->xfers[k]) < 0)
			goto fail;
	}
	if (depth > 1) {
		c->multi = curl_multi_init();
		if (c->multi == NULL)
			goto fail;
		/* Keep a connection per transfer: the default cache shrinks
		   with the handles added, and a handle is off the multi
		   between two requests. */
		curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)depth);
	}
	*client_r = client;
	return 0;
fail:
	snprintf(error, error_size, "curl: out of memory");
	curl_peer_deinit(&client);
	return -ENOMEM;
}

const struct bench_peer bench_peer_curl = {
	.name = "curl",
	.init = curl_peer_init,
	.run = curl_peer_run,
	.deinit = curl_peer_deinit,
};
