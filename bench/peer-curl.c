/*
 * fs-bench-s3 peer "curl": raw libcurl, the practical limit.
 *
 * Depth 1: one easy handle reused for every request (keep-alive), blocking
 * curl_easy_perform(). Depth N: N easy handles on one multi handle, each
 * re-added as soon as its request completes. Requests are signed with
 * libfs's SigV4 signer the way a real client signs them (bench-sign.c), the
 * upload is streamed from memory through a read callback and the response
 * is collected into a buffer and checked. No retries: a failure counts.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "drivers/s3/sigv4.h"

/* Error bodies beyond the object size are kept up to this much. */
#define CURL_PEER_SLACK (16 * 1024)

struct curl_xfer {
	CURL *easy;
	struct curl_slist *headers;
	unsigned int index;
	uint64_t start_usec;
	bool active;
	char url[BENCH_URL_MAX];

	unsigned char *put_buf; /* the body being uploaded */
	size_t put_size, put_off;
	unsigned char *get_buf; /* the response body */
	size_t get_len, get_alloc;
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
	size_t len = size * n;

	/* A body larger than the buffer is not what was written: stop. */
	if (len > x->get_alloc - x->get_len)
		return 0;
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

/* Makes the buffers fit objects of size bytes. */
static int curl_xfer_buffers(struct curl_xfer *x, size_t size)
{
	unsigned char *put, *get;

	if (x->put_buf != NULL && x->put_size == size)
		return 0;
	put = realloc(x->put_buf, size > 0 ? size : 1);
	if (put == NULL)
		return -ENOMEM;
	x->put_buf = put;
	x->put_size = size;
	get = realloc(x->get_buf, size + CURL_PEER_SLACK);
	if (get == NULL)
		return -ENOMEM;
	x->get_buf = get;
	x->get_alloc = size + CURL_PEER_SLACK;
	return 0;
}

/* Prepares request i of ph on x; the clock starts after the payload is
   generated, so signing and hashing are timed as client work. */
static int curl_xfer_setup(struct curl_client *c, struct curl_xfer *x,
			   struct bench_phase *ph, unsigned int i)
{
	bool put = ph->op == BENCH_OP_PUT;
	char key[BENCH_KEY_MAX], path[BENCH_URL_MAX], *enc = NULL;
	int ret;

	x->index = i;
	x->put_off = 0;
	x->get_len = 0;
	if (put)
		bench_phase_fill(ph, i, x->put_buf);
	x->start_usec = bench_now_usec();
	bench_phase_key(ph, i, key);
	if (fs_sigv4_uri_encode(key, false, &enc) < 0)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/%s/%s", c->target->bucket, enc);
	free(enc);
	snprintf(x->url, sizeof(x->url), "%s%s", c->target->endpoint, path);
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	ret = bench_sign_request(&c->signer, put ? "PUT" : "GET", path, NULL,
				 put ? x->put_buf : NULL, put ? ph->size : 0,
				 &x->headers);
	if (ret < 0)
		return ret;
	curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	if (put) {
		curl_easy_setopt(x->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)ph->size);
	} else {
		curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	}
	return 0;
}

/* Records the outcome of x's request. */
static void curl_xfer_done(struct bench_phase *ph, struct curl_xfer *x,
			   CURLcode code)
{
	const char *method = ph->op == BENCH_OP_PUT ? "PUT" : "GET";
	char key[BENCH_KEY_MAX], s3code[64];
	long status = 0;

	bench_phase_key(ph, x->index, key);
	if (code != CURLE_OK) {
		bench_phase_fail(ph, x->index, "%s %s: %s", method, key,
				 curl_easy_strerror(code));
		return;
	}
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		bench_s3_error_code(x->get_buf, x->get_len, s3code,
				    sizeof(s3code));
		bench_phase_fail(ph, x->index, "%s %s: HTTP %ld %s", method,
				 key, status, s3code);
		return;
	}
	bench_phase_ok(ph, x->index, x->start_usec,
		       ph->op == BENCH_OP_GET ? x->get_buf : NULL, x->get_len);
}

static void curl_setup_failed(struct bench_phase *ph, struct curl_xfer *x,
			      int err)
{
	bench_phase_fail(ph, x->index, "signing request %u: %s", x->index,
			 fs_errno_name(err));
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
		if (active == 0)
			return 0;
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

	for (k = 0; k < c->xfer_count; k++) {
		ret = curl_xfer_buffers(&c->xfers[k], ph->size);
		if (ret < 0)
			return ret;
	}
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
	int ret = -ENOMEM;

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
	return ret;
}

const struct bench_peer bench_peer_curl = {
	.name = "curl",
	.init = curl_peer_init,
	.run = curl_peer_run,
	.deinit = curl_peer_deinit,
};
