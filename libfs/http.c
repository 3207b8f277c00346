/*
 * The HTTP transport on one libcurl multi handle per leaf fs: see http.h.
 *
 * Callbacks from libcurl (header, write, read) only record state and queue
 * the request for notification; the driver's callbacks run from
 * http_dispatch() at the end of a fs_http_wait() round, when no libcurl call
 * is on the stack, so that they may start, read, write and free requests.
 *
 * Timers are ours, not libcurl's: the stall timer must not count time during
 * which the transfer is paused because our reader or writer is slow (libcurl's
 * LOW_SPEED check only exempts receive pauses), and the total deadline spans
 * all attempts, backoff sleeps and waits for response headers, but not the
 * time a streamed body spends flowing: a large object that keeps moving is
 * guarded by the stall timer alone, however long it takes. The deadline is
 * pushed back by each such flowing span when it ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"

#define HTTP_DEFAULT_CONNECT_MS 10000
#define HTTP_DEFAULT_STALL_MS 30000
#define HTTP_DEFAULT_TOTAL_MS 300000
#define HTTP_DEFAULT_RETRIES 4
#define HTTP_DEFAULT_RETRY_BASE_MS 100
#define HTTP_DEFAULT_RETRY_MAX_MS 5000

struct http_header {
	char *name, *value;
};

struct http_headers {
	struct http_header *items;
	size_t count, alloc;
};

/* A NUL-terminated growable byte buffer. */
struct http_buf {
	char *data;
	size_t len, alloc;
};

/* A ring holding at most cap bytes; its memory grows with use. */
struct http_ring {
	unsigned char *data;
	size_t cap, alloc, head, used, max_used;
};

/* A ring starts this small and doubles up to its cap; freed rings of this
   size are kept (up to HTTP_SPARE_RINGS) for the next requests, so that a
   small object's GET costs no allocation of its own. */
#define HTTP_RING_FIRST 16384
#define HTTP_SPARE_RINGS 8

enum http_body {
	HTTP_BODY_NONE,
	HTTP_BODY_MEMORY,
	HTTP_BODY_STREAM,
};

enum http_state {
	HTTP_REQ_NEW,
	HTTP_REQ_RUNNING, /* an attempt is in the multi handle */
	HTTP_REQ_BACKOFF, /* waiting to start the next attempt */
	HTTP_REQ_DONE,
};

struct fs_http {
	struct fs *fs;
	CURLM *multi;
	CURLSH *share;
	unsigned int connect_ms, stall_ms, total_ms;
	unsigned int max_retries, retry_base_ms, retry_max_ms;
	bool debug;
	uint64_t rand_state;
	/* All requests not freed, and those waiting for their callbacks. */
	struct fs_http_request *requests;
	struct fs_http_request *notify_head, *notify_tail;
	unsigned int pending;
	/* Easy handles of finished requests, reset, for the next ones. */
	CURL *idle_easy[FS_HTTP_IDLE_CONNECTIONS];
	unsigned int idle_easy_count;
	unsigned char *spare_ring[HTTP_SPARE_RINGS];
	unsigned int spare_rings;
};

struct fs_http_request {
	struct fs_http *http;
	struct fs_http_request *prev, *next, *notify_next;
	bool notify_queued;

	enum fs_op op;
	char *method, *url;
	bool idempotent;
	struct http_headers headers, attempt_headers;
	struct fs_http_callbacks cb;
	void *context;

	/* Request body. */
	enum http_body body;
	const unsigned char *body_data;
	size_t body_size, body_pos;
	int64_t upload_size;
	uint64_t upload_written, upload_consumed;
	struct http_ring upload;
	bool upload_ended, writer_blocked;

	/* Response body: streamed through the ring, or kept in resp. */
	bool stream;
	size_t memory_max;
	struct http_buf resp;
	struct http_ring download;
	bool has_range;
	uint64_t range_offset, range_length;
	/* A server that ignored the Range (200 with the whole object): the
	   bytes before the range still to drop, and those of the range still
	   to deliver (UINT64_MAX: to the end). */
	bool trimming;
	uint64_t trim_skip, trim_left;
	/* Once a streamed 2xx response was exposed: its ETag, the object
	   offset its body started at and ends at (inclusive, UINT64_MAX: end
	   of object), and the body bytes taken so far over all attempts. */
	bool stream_started;
	char *etag;
	uint64_t stream_base, stream_last, delivered;

	/* The response: committed status and headers, and the attempt's. */
	long status, attempt_status;
	struct http_headers resp_headers, attempt_resp_headers;
	bool headers_done, resuming;
	char *server_code, *request_id;

	enum http_state state;
	CURL *easy;
	struct curl_slist *slist;
	char errbuf[CURL_ERROR_SIZE];
	unsigned int attempts, pauses;
	uint64_t start_usec, deadline_usec, attempt_usec, activity_usec;
	uint64_t retry_usec;
	/* A streamed body is flowing (since flow_usec): the deadline waits. */
	bool flowing;
	uint64_t flow_usec;
	bool paused_recv, paused_send, unpause_recv, unpause_send;
	/* Set by a libcurl callback that made the transfer fail. */
	int abort_err;
	bool abort_fatal;
	char abort_msg[160];
	char last_failure[256];

	int result;
	char *detail;
	bool done_called;
	unsigned int callback_depth;
	bool free_pending;
};

static pthread_once_t http_global_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_result;

/* ------------------------------------------------------------------------ */
/* Small containers                                                           */

static int http_buf_append(struct http_buf *buf, const void *data, size_t len)
{
	if (buf->len + len + 1 > buf->alloc) {
		size_t alloc = buf->alloc == 0 ? 256 : buf->alloc;
		char *p;

		while (alloc < buf->len + len + 1)
			alloc *= 2;
		p = realloc(buf->data, alloc);
		if (p == NULL)
			return -ENOMEM;
		buf->data = p;
		buf->alloc = alloc;
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return 0;
}

static void FS_PRINTF(2, 3)
	http_buf_printf(struct http_buf *buf, const char *fmt, ...)
{
	char tmp[512];
	va_list args;
	int len;

	va_start(args, fmt);
	len = vsnprintf(tmp, sizeof(tmp), fmt, args);
	va_end(args);
	if (len > 0)
		(void)http_buf_append(buf, tmp,
				      (size_t)len < sizeof(tmp)
					      ? (size_t)len
					      : sizeof(tmp) - 1);
}

static void http_buf_free(struct http_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

static size_t http_ring_get(struct http_ring *ring, void *buf, size_t len);

/* Small objects should not cost a full buffer each: grow by doubling. */
static int http_ring_grow(struct fs_http *http, struct http_ring *ring,
			  size_t need)
{
	size_t alloc = ring->alloc == 0 ? HTTP_RING_FIRST : ring->alloc, used;
	unsigned char *data;

	while (alloc < need)
		alloc *= 2;
	if (alloc > ring->cap)
		alloc = ring->cap;
	if (alloc == HTTP_RING_FIRST && http != NULL && http->spare_rings > 0)
		data = http->spare_ring[--http->spare_rings];
	else
		data = malloc(alloc);
	if (data == NULL)
		return -ENOMEM;
	used = ring->used;
	if (used > 0)
		http_ring_get(ring, data, used);
	free(ring->data);
	ring->data = data;
	ring->alloc = alloc;
	ring->head = 0;
	ring->used = used;
	return 0;
}

static int http_ring_put(struct fs_http *http, struct http_ring *ring,
			 const void *data, size_t len)
{
	const unsigned char *src = data;
	size_t tail, first;

	if (len > ring->cap - ring->used)
		return -ENOSPC;
	if (ring->used + len > ring->alloc &&
	    http_ring_grow(http, ring, ring->used + len) < 0)
		return -ENOMEM;
	tail = (ring->head + ring->used) % ring->alloc;
	first = ring->alloc - tail < len ? ring->alloc - tail : len;
	memcpy(ring->data + tail, src, first);
	memcpy(ring->data, src + first, len - first);
	ring->used += len;
	if (ring->used > ring->max_used)
		ring->max_used = ring->used;
	return 0;
}

static size_t http_ring_get(struct http_ring *ring, void *buf, size_t len)
{
	unsigned char *dst = buf;
	size_t first;

	if (len > ring->used)
		len = ring->used;
	if (len == 0)
		return 0;
	first = ring->alloc - ring->head < len ? ring->alloc - ring->head : len;
	memcpy(dst, ring->data + ring->head, first);
	memcpy(dst + first, ring->data, len - first);
	ring->head = (ring->head + len) % ring->alloc;
	ring->used -= len;
	if (ring->used == 0)
		ring->head = 0;
	return len;
}

static void http_ring_free(struct fs_http *http, struct http_ring *ring)
{
	if (http != NULL && ring->alloc == HTTP_RING_FIRST &&
	    http->spare_rings < HTTP_SPARE_RINGS)
		http->spare_ring[http->spare_rings++] = ring->data;
	else
		free(ring->data);
	ring->data = NULL;
	ring->alloc = ring->head = ring->used = 0;
}

static bool http_token_valid(const char *str)
{
	const char *p;

	if (*str == '\0')
		return false;
	for (p = str; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c))
			return false;
	}
	return true;
}

static bool http_value_valid(const char *str)
{
	return strpbrk(str, "\r\n") == NULL;
}

static int http_headers_add_len(struct http_headers *hdrs, const char *name,
				size_t name_len, const char *value,
				size_t value_len)
{
	struct http_header *hdr;

	if (hdrs->count == hdrs->alloc) {
		size_t alloc = hdrs->alloc == 0 ? 8 : hdrs->alloc * 2;
		void *p = realloc(hdrs->items, alloc * sizeof(*hdrs->items));

		if (p == NULL)
			return -ENOMEM;
		hdrs->items = p;
		hdrs->alloc = alloc;
	}
	hdr = &hdrs->items[hdrs->count];
	hdr->name = strndup(name, name_len);
	hdr->value = strndup(value, value_len);
	if (hdr->name == NULL || hdr->value == NULL) {
		free(hdr->name);
		free(hdr->value);
		return -ENOMEM;
	}
	hdrs->count++;
	return 0;
}

static int http_headers_add(struct http_headers *hdrs, const char *name,
			    const char *value)
{
	if (!http_token_valid(name) || !http_value_valid(value))
		return -EINVAL;
	return http_headers_add_len(hdrs, name, strlen(name), value,
				    strlen(value));
}

static const char *http_headers_find(const struct http_headers *hdrs,
				     const char *name)
{
	size_t i;

	for (i = 0; i < hdrs->count; i++) {
		if (strcasecmp(hdrs->items[i].name, name) == 0)
			return hdrs->items[i].value;
	}
	return NULL;
}

static void http_headers_clear(struct http_headers *hdrs)
{
	size_t i;

	for (i = 0; i < hdrs->count; i++) {
		free(hdrs->items[i].name);
		free(hdrs->items[i].value);
	}
	hdrs->count = 0;
}

static void http_headers_free(struct http_headers *hdrs)
{
	http_headers_clear(hdrs);
	free(hdrs->items);
	memset(hdrs, 0, sizeof(*hdrs));
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static bool http_is_2xx(long status)
{
	return status >= 200 && status < 300;
}

static uint64_t http_rand(struct fs_http *http)
{
	uint64_t x = http->rand_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	http->rand_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Headers of the current attempt: the committed ones unless the attempt
   resumes a stream (its headers are then only checked, never exposed). */
static const struct http_headers *
http_attempt_resp_headers(const struct fs_http_request *req)
{
	return req->resuming || !req->headers_done ? &req->attempt_resp_headers
						   : &req->resp_headers;
}

/* ------------------------------------------------------------------------ */
/* Debug trace: one line per attempt sent and per attempt ended              */

static void http_trace_line(struct http_buf *line)
{
	if (line->data != NULL)
		fprintf(stderr, "%s\n", line->data);
	http_buf_free(line);
}

static void http_trace_url(struct http_buf *line,
			   const struct fs_http_request *req)
{
	size_t size = strlen(req->url) * 2 + 16;
	char *url = malloc(size);

	if (url == NULL)
		return;
	fs_http_redact_url(req->url, url, size);
	(void)http_buf_append(line, req->method, strlen(req->method));
	(void)http_buf_append(line, " ", 1);
	(void)http_buf_append(line, url, strlen(url));
	free(url);
}

static void http_trace_headers(struct http_buf *line,
			       const struct http_headers *hdrs, bool *first)
{
	size_t i;

	for (i = 0; i < hdrs->count; i++) {
		const char *name = hdrs->items[i].name;

		http_buf_printf(line, "%s%s: %s", *first ? " [" : "; ", name,
				fs_http_header_is_secret(name)
					? "***"
					: hdrs->items[i].value);
		*first = false;
	}
}

static void http_trace_request(struct fs_http_request *req)
{
	struct http_buf line = {0};
	bool first = true;

	http_buf_printf(&line, "libfs http: > ");
	http_trace_url(&line, req);
	http_buf_printf(&line, " attempt %u", req->attempts);
	if (req->body == HTTP_BODY_MEMORY)
		http_buf_printf(&line, " body %zu bytes", req->body_size);
	else if (req->body == HTTP_BODY_STREAM)
		http_buf_printf(&line, " body stream %" PRId64 " bytes",
				req->upload_size);
	http_trace_headers(&line, &req->headers, &first);
	http_trace_headers(&line, &req->attempt_headers, &first);
	if (!first)
		http_buf_printf(&line, "]");
	http_trace_line(&line);
}

static double http_info_ms(CURL *easy, CURLINFO info)
{
	curl_off_t usec = 0;

	(void)curl_easy_getinfo(easy, info, &usec);
	return (double)usec / 1000.0;
}

static void http_trace_timing(struct http_buf *line,
			      const struct fs_http_request *req)
{
	long new_conns = 0;

	http_buf_printf(line, " in %.1f ms",
			(double)(fs_now_usec() - req->attempt_usec) / 1000.0);
	if (req->attempt_status == 0)
		return;
	(void)curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &new_conns);
	http_buf_printf(line, " (connect %.1f ms, first byte %.1f ms, %s)",
			http_info_ms(req->easy, CURLINFO_CONNECT_TIME_T),
			http_info_ms(req->easy, CURLINFO_STARTTRANSFER_TIME_T),
			new_conns > 0 ? "new connection" : "reused connection");
}

static void http_trace_response(struct fs_http_request *req, const char *fail)
{
	static const char *const names[] = {
		"content-length", "content-range",    "etag", "last-modified",
		"retry-after",	  "x-amz-request-id", NULL,
	};
	const struct http_headers *hdrs = http_attempt_resp_headers(req);
	struct http_buf line = {0};
	unsigned int i;

	http_buf_printf(&line, "libfs http: < ");
	http_trace_url(&line, req);
	http_buf_printf(&line, " attempt %u: ", req->attempts);
	if (req->attempt_status != 0)
		http_buf_printf(&line, "HTTP %ld", req->attempt_status);
	else
		http_buf_printf(&line, "no response");
	http_trace_timing(&line, req);
	for (i = 0; names[i] != NULL; i++) {
		const char *value = http_headers_find(hdrs, names[i]);

		if (value != NULL)
			http_buf_printf(&line, " %s: %s", names[i], value);
	}
	if (fail != NULL)
		http_buf_printf(&line, ", failed: %s", fail);
	http_trace_line(&line);
}

static void FS_PRINTF(2, 3)
	http_trace(const struct fs_http_request *req, const char *fmt, ...)
{
	struct http_buf line = {0};
	char tmp[512];
	va_list args;

	va_start(args, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, args);
	va_end(args);
	http_buf_printf(&line, "libfs http: ");
	http_trace_url(&line, req);
	http_buf_printf(&line, ": %s", tmp);
	http_trace_line(&line);
}

/* ------------------------------------------------------------------------ */
/* Notification queue: driver callbacks run from http_dispatch() only        */

static void http_notify(struct fs_http_request *req)
{
	struct fs_http *http = req->http;

	if (req->notify_queued || http == NULL)
		return;
	req->notify_queued = true;
	req->notify_next = NULL;
	if (http->notify_tail != NULL)
		http->notify_tail->notify_next = req;
	else
		http->notify_head = req;
	http->notify_tail = req;
}

static void http_notify_remove(struct fs_http_request *req)
{
	struct fs_http *http = req->http;
	struct fs_http_request **p, *prev = NULL;

	if (!req->notify_queued || http == NULL)
		return;
	for (p = &http->notify_head; *p != NULL; p = &(*p)->notify_next) {
		if (*p == req) {
			*p = req->notify_next;
			break;
		}
		prev = *p;
	}
	if (http->notify_tail == req)
		http->notify_tail = prev;
	req->notify_queued = false;
	req->notify_next = NULL;
}

static void http_request_free(struct fs_http_request *req);

static void http_dispatch_one(struct fs_http_request *req)
{
	req->callback_depth++;
	if (req->state == HTTP_REQ_DONE && !req->done_called) {
		req->done_called = true;
		if (req->cb.done != NULL)
			req->cb.done(req, req->context);
	}
	if (!req->free_pending && req->cb.progress != NULL)
		req->cb.progress(req, req->context);
	req->callback_depth--;
	if (req->free_pending && req->callback_depth == 0)
		http_request_free(req);
}

static unsigned int http_dispatch(struct fs_http *http)
{
	struct fs_http_request *req;
	unsigned int count = 0;

	while ((req = http->notify_head) != NULL) {
		http_notify_remove(req);
		http_dispatch_one(req);
		count++;
	}
	return count;
}

/* ------------------------------------------------------------------------ */
/* Completion                                                                 */

/* A streamed body (response after its 2xx headers, or request body once its
   first byte went out) starts flowing: the total deadline stops running. */
static void http_flow_begin(struct fs_http_request *req)
{
	if (req->flowing)
		return;
	req->flowing = true;
	req->flow_usec = fs_now_usec();
}

/* The flowing span ended (body done or attempt over): the deadline moves
   back by its length. */
static void http_flow_end(struct fs_http_request *req)
{
	if (!req->flowing)
		return;
	req->flowing = false;
	req->deadline_usec += fs_now_usec() - req->flow_usec;
}

static void http_remove_easy(struct fs_http_request *req)
{
	http_flow_end(req);
	if (req->easy != NULL && req->state == HTTP_REQ_RUNNING &&
	    req->http != NULL)
		(void)curl_multi_remove_handle(req->http->multi, req->easy);
	req->paused_recv = req->paused_send = false;
	req->unpause_recv = req->unpause_send = false;
}

/* Completes the request with err (0 for success) and an optional detail for
   messages (NULL: the message is built from the HTTP status). */
static void FS_PRINTF(3, 4)
	http_finish(struct fs_http_request *req, int err, const char *fmt, ...)
{
	if (req->state == HTTP_REQ_RUNNING || req->state == HTTP_REQ_BACKOFF)
		req->http->pending--;
	req->state = HTTP_REQ_DONE;
	req->result = err;
	free(req->detail);
	req->detail = NULL;
	if (fmt != NULL) {
		va_list args;

		va_start(args, fmt);
		if (vasprintf(&req->detail, fmt, args) < 0)
			req->detail = NULL;
		va_end(args);
	}
	if (req->http->debug)
		http_trace(req, "done: %s after %u attempt(s)",
			   err == 0 ? "OK" : fs_errno_name(err), req->attempts);
	http_notify(req);
}

static void http_finish_deadline(struct fs_http_request *req)
{
	http_finish(req, -ETIMEDOUT,
		    "timed out: total deadline of %u ms reached after %u "
		    "attempt(s)%s%s%s",
		    req->http->total_ms, req->attempts,
		    req->last_failure[0] != '\0' ? " (last error: " : "",
		    req->last_failure, req->last_failure[0] != '\0' ? ")" : "");
}

/* Why the request may not be tried again, or NULL if it may. */
static const char *http_no_retry_reason(const struct fs_http_request *req)
{
	if (req->attempts > req->http->max_retries)
		return "no retries left";
	if (!req->idempotent)
		return "not idempotent";
	if (req->body == HTTP_BODY_STREAM && req->upload_consumed > 0)
		return "request body already sent";
	if (req->stream_started && req->etag == NULL)
		return "cannot resume without an ETag";
	return NULL;
}

static uint64_t http_backoff_usec(struct fs_http_request *req)
{
	struct fs_http *http = req->http;
	unsigned int shift = req->attempts - 1 < 20 ? req->attempts - 1 : 20;
	uint64_t cap = (uint64_t)http->retry_base_ms << shift;
	uint64_t delay;
	curl_off_t after = 0;

	if (cap > http->retry_max_ms)
		cap = http->retry_max_ms;
	/* Full jitter: uniform in [0, cap]. */
	delay = http_rand(http) % (cap + 1) * 1000;
	if (req->easy == NULL ||
	    curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &after) !=
		    CURLE_OK ||
	    after <= 0)
		return delay;
	/* Only the deadline caps Retry-After; a day is past any deadline. */
	if (after > 86400)
		after = 86400;
	if ((uint64_t)after * 1000000 > delay)
		delay = (uint64_t)after * 1000000;
	return delay;
}

/* Completes a request whose last attempt failed and is not tried again. */
static void http_finish_failed(struct fs_http_request *req, int err,
			       const char *detail, const char *reason)
{
	char attempts[32] = "", why[64] = "";

	/* The reasons worth telling: a transient failure not retried. */
	if (reason != NULL && strcmp(reason, "fatal") != 0 &&
	    strcmp(reason, "no retries left") != 0)
		snprintf(why, sizeof(why), ", not retried: %s", reason);
	if (detail[0] == '\0' && why[0] == '\0') {
		http_finish(req, err, NULL); /* message from the status */
		return;
	}
	if (req->attempts > 1)
		snprintf(attempts, sizeof(attempts), " (after %u attempts)",
			 req->attempts);
	http_finish(req, err, "%s%s%s", req->last_failure, attempts, why);
}

/* An attempt failed with err; transient says whether trying again may help.
   detail describes the failure ("" for an HTTP status). */
static void http_attempt_failed(struct fs_http_request *req, int err,
				bool transient, const char *detail)
{
	const char *reason = transient ? http_no_retry_reason(req) : "fatal";
	uint64_t delay, now = fs_now_usec();

	if (detail[0] != '\0')
		snprintf(req->last_failure, sizeof(req->last_failure), "%s",
			 detail);
	else
		snprintf(req->last_failure, sizeof(req->last_failure),
			 "HTTP %ld", req->attempt_status);
	if (reason != NULL) {
		http_finish_failed(req, err, detail, reason);
		return;
	}
	delay = http_backoff_usec(req);
	if (now + delay >= req->deadline_usec) {
		http_finish_deadline(req);
		return;
	}
	req->state = HTTP_REQ_BACKOFF;
	req->retry_usec = now + delay;
	if (req->http->debug)
		http_trace(req, "retry in %" PRIu64 " ms (attempt %u of %u)",
			   delay / 1000, req->attempts + 1,
			   req->http->max_retries + 1);
}

static bool http_status_transient(struct fs_http_request *req)
{
	long st = req->attempt_status;
	bool transient;

	if (req->resuming || req->cb.retryable == NULL)
		return st >= 500 || st == 429 || st == 408;
	req->callback_depth++;
	transient = req->cb.retryable(req, req->context);
	req->callback_depth--;
	return transient;
}

/* The transfer of the current attempt ended (its easy handle is still in
   the multi handle). */
static void http_attempt_end(struct fs_http_request *req, CURLcode code)
{
	const char *fail = NULL;
	char detail[sizeof(req->abort_msg) + CURL_ERROR_SIZE];
	int err;

	if (req->abort_err != 0)
		fail = req->abort_msg;
	else if (code != CURLE_OK)
		fail = req->errbuf[0] != '\0' ? req->errbuf
					      : curl_easy_strerror(code);
	if (req->http->debug)
		http_trace_response(req, fail);
	http_remove_easy(req);

	if (req->abort_err != 0) {
		http_attempt_failed(req, req->abort_err, !req->abort_fatal,
				    req->abort_msg);
	} else if (code != CURLE_OK) {
		snprintf(detail, sizeof(detail), "%s", fail);
		http_attempt_failed(req, fs_http_curl_errno(code),
				    fs_http_curl_transient(code), detail);
	} else if (req->resuming && !http_is_2xx(req->attempt_status)) {
		snprintf(detail, sizeof(detail),
			 "HTTP %ld while resuming at byte %" PRIu64,
			 req->attempt_status,
			 req->stream_base + req->delivered);
		http_attempt_failed(req, -EIO, http_status_transient(req),
				    detail);
	} else if ((err = fs_http_status_errno(req->attempt_status,
					       req->method)) == 0) {
		http_finish(req, 0, NULL);
	} else {
		http_attempt_failed(req, err,
				    http_no_retry_reason(req) == NULL &&
					    http_status_transient(req),
				    "");
	}
}

/* Ends the running attempt from outside libcurl (stall timer). */
static void http_attempt_abort(struct fs_http_request *req, int err,
			       bool transient, const char *detail)
{
	if (req->http->debug)
		http_trace_response(req, detail);
	http_remove_easy(req);
	http_attempt_failed(req, err, transient, detail);
}

/* Makes the transfer fail from inside a libcurl callback. */
static void FS_PRINTF(4, 5) http_abort(struct fs_http_request *req, int err,
				       bool fatal, const char *fmt, ...)
{
	va_list args;

	req->abort_err = err;
	req->abort_fatal = fatal;
	va_start(args, fmt);
	vsnprintf(req->abort_msg, sizeof(req->abort_msg), fmt, args);
	va_end(args);
}

/* ------------------------------------------------------------------------ */
/* libcurl callbacks                                                          */

static long http_parse_status(const char *line, size_t len)
{
	const char *p = memchr(line, ' ', len);
	long status = 0;
	int i;

	if (p == NULL || (size_t)(p - line) + 4 > len)
		return 0;
	for (i = 1; i <= 3; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		status = status * 10 + (p[i] - '0');
	}
	return status;
}

/* Parses the first byte position and the last one of "bytes F-L/T". */
bool fs_http_auth_param(const char **pp, char *name, size_t name_size,
			char *value, size_t value_size)
{
	const char *p = *pp;
	size_t n = 0, v = 0;

	while (*p == ' ' || *p == ',' || *p == '\t')
		p++;
	while (*p != '\0' && *p != '=' && *p != ' ' && *p != ',' &&
	       n + 1 < name_size)
		name[n++] = *p++;
	name[n] = '\0';
	if (*p != '=' || n == 0)
		return false;
	p++;
	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (v + 1 < value_size)
				value[v++] = *p;
		}
		if (*p == '"')
			p++;
	} else {
		while (*p != '\0' && *p != ',' && *p != ' ' &&
		       v + 1 < value_size)
			value[v++] = *p++;
	}
	value[v] = '\0';
	*pp = p;
	return true;
}

bool fs_http_parse_content_range(const char *value, uint64_t *first_r,
				 uint64_t *last_r, uint64_t *total_r)
{
	unsigned long long first, last, total;
	char *end;
	int n = 0;

	if (value == NULL ||
	    sscanf(value, "bytes %llu-%llu/%n", &first, &last, &n) != 2 ||
	    n == 0 || last < first)
		return false;
	*first_r = first;
	*last_r = last;
	if (total_r != NULL) {
		*total_r = UINT64_MAX; /* "*", or unreadable: unknown */
		if (value[n] >= '0' && value[n] <= '9') {
			total = strtoull(value + n, &end, 10);
			if (*end == '\0')
				*total_r = total;
		}
	}
	return true;
}

/* A resumed streamed GET must continue the same object where it stopped. */
static int http_resume_check(struct fs_http_request *req)
{
	const struct http_headers *hdrs = &req->attempt_resp_headers;
	uint64_t want = req->stream_base + req->delivered, first, last;
	const char *etag = http_headers_find(hdrs, "etag");
	long st = req->attempt_status;

	if (st >= 500 || st == 429 || st == 408)
		return 0; /* the retry logic decides */
	if (st == 412) {
		http_abort(
			req, -EIO, true,
			"object changed while reading (HTTP 412 for If-Match "
			"%s at byte %" PRIu64 ")",
			req->etag, want);
		return -1;
	}
	if (st != 206) {
		http_abort(req, -EIO, true,
			   "resuming at byte %" PRIu64 ": HTTP %ld instead of "
			   "206, the object may have changed",
			   want, st);
		return -1;
	}
	if (etag != NULL && strcmp(etag, req->etag) != 0) {
		http_abort(req, -EIO, true,
			   "object changed while reading (ETag %s, was %s)",
			   etag, req->etag);
		return -1;
	}
	if (!fs_http_parse_content_range(
		    http_headers_find(hdrs, "content-range"), &first, &last,
		    NULL) ||
	    first != want) {
		http_abort(req, -EIO, true,
			   "resuming at byte %" PRIu64 ": bad Content-Range",
			   want);
		return -1;
	}
	return 0;
}

static int http_stream_start(struct fs_http_request *req)
{
	const char *etag = http_headers_find(&req->resp_headers, "etag");
	uint64_t first, last;

	free(req->etag);
	req->etag = NULL;
	if (etag != NULL && (req->etag = strdup(etag)) == NULL) {
		http_abort(req, -ENOMEM, true, "out of memory");
		return -1;
	}
	req->stream_base = 0;
	req->stream_last = UINT64_MAX;
	req->trimming = false;
	if (req->status == 200 && req->has_range &&
	    (req->range_offset != 0 || req->range_length != UINT64_MAX)) {
		/* The Range was ignored: the reader still gets only its
		   range, cut from the whole object here. */
		req->trimming = true;
		req->trim_skip = req->range_offset;
		req->trim_left = req->range_length;
		req->stream_base = req->range_offset;
		if (req->http->debug)
			http_trace(req, "200 for a Range: the range is cut "
					"from the whole object");
	}
	if (req->status == 206 &&
	    fs_http_parse_content_range(
		    http_headers_find(&req->resp_headers, "content-range"),
		    &first, &last, NULL)) {
		req->stream_base = first;
		req->stream_last = last;
	}
	req->stream_started = true;
	http_flow_begin(req);
	http_notify(req);
	return 0;
}

static int http_headers_complete(struct fs_http_request *req)
{
	struct http_headers tmp;

	req->headers_done = true;
	if (req->resuming) {
		if (http_resume_check(req) < 0)
			return -1;
		if (req->attempt_status == 206)
			http_flow_begin(req);
		return 0;
	}
	tmp = req->resp_headers;
	req->resp_headers = req->attempt_resp_headers;
	req->attempt_resp_headers = tmp;
	http_headers_clear(&req->attempt_resp_headers);
	req->status = req->attempt_status;
	if (req->stream && http_is_2xx(req->status) &&
	    strcmp(req->method, "HEAD") != 0)
		return http_stream_start(req);
	return 0;
}

static size_t http_header_line(struct fs_http_request *req, const char *buf,
			       size_t len)
{
	const char *colon = memchr(buf, ':', len), *value;
	size_t name_len, value_len;

	if (colon == NULL || buf[0] == ' ' || buf[0] == '\t')
		return 0; /* not a field; obsolete folding is ignored */
	name_len = (size_t)(colon - buf);
	while (name_len > 0 && (buf[name_len - 1] == ' '))
		name_len--;
	value = colon + 1;
	value_len = len - (size_t)(value - buf);
	while (value_len > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		value_len--;
	}
	while (value_len > 0 &&
	       (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
		value_len--;
	if (name_len == 0)
		return 0;
	if (http_headers_add_len(&req->attempt_resp_headers, buf, name_len,
				 value, value_len) < 0) {
		http_abort(req, -ENOMEM, true, "out of memory");
		return 1;
	}
	return 0;
}

static size_t http_header_cb(char *buf, size_t size, size_t nitems, void *ctx)
{
	struct fs_http_request *req = ctx;
	size_t len = size * nitems, n = len;

	req->activity_usec = fs_now_usec();
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		req->attempt_status = http_parse_status(buf, n);
		req->headers_done = false;
		http_headers_clear(&req->attempt_resp_headers);
		return len;
	}
	if (req->headers_done)
		return len; /* trailers */
	if (n == 0) {
		if (req->attempt_status < 200)
			return len; /* 1xx: the real response follows */
		return http_headers_complete(req) == 0 ? len : 0;
	}
	return http_header_line(req, buf, n) == 0 ? len : 0;
}

static size_t http_stream_put(struct fs_http_request *req, const char *data,
			      size_t len)
{
	struct http_ring *ring = &req->download;

	if (len > ring->cap - ring->used) {
		if (ring->used == 0) {
			http_abort(req, -EIO, true, "chunk over buffer size");
			return 0;
		}
		req->paused_recv = true;
		req->pauses++;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (http_ring_put(req->http, ring, data, len) < 0) {
		http_abort(req, -ENOMEM, true, "out of memory");
		return 0;
	}
	req->delivered += len;
	http_notify(req);
	return len;
}

static size_t http_memory_put(struct fs_http_request *req, const char *data,
			      size_t len)
{
	size_t take = len;

	if (http_is_2xx(req->attempt_status)) {
		if (req->resp.len + len > req->memory_max) {
			http_abort(req, -EIO, true,
				   "response body over %zu bytes",
				   req->memory_max);
			return 0;
		}
	} else if (req->resp.len + len > FS_HTTP_ERROR_BODY_MAX) {
		/* Error bodies are only for messages: keep the start. */
		take = FS_HTTP_ERROR_BODY_MAX - req->resp.len;
	}
	if (http_buf_append(&req->resp, data, take) < 0) {
		http_abort(req, -ENOMEM, true, "out of memory");
		return 0;
	}
	return len;
}

/* A chunk of a whole object sent for a Range: only the range's bytes go to
   the reader. The counters move only once the reader's buffer took them
   (a paused chunk comes again). */
static size_t http_stream_trim(struct fs_http_request *req, const char *data,
			       size_t len)
{
	size_t skip = req->trim_skip < len ? (size_t)req->trim_skip : len;
	size_t take = len - skip;
	size_t ret;

	if (take > req->trim_left)
		take = (size_t)req->trim_left;
	if (take > 0) {
		ret = http_stream_put(req, data + skip, take);
		if (ret != take)
			return ret; /* paused, or failed */
	}
	req->trim_skip -= skip;
	if (req->trim_left != UINT64_MAX)
		req->trim_left -= take;
	return len;
}

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct fs_http_request *req = ctx;
	size_t len = size * nmemb;

	req->activity_usec = fs_now_usec();
	if (req->stream && http_is_2xx(req->attempt_status))
		return req->trimming ? http_stream_trim(req, data, len)
				     : http_stream_put(req, data, len);
	return http_memory_put(req, data, len);
}

static size_t http_read_cb(char *buf, size_t size, size_t nitems, void *ctx)
{
	struct fs_http_request *req = ctx;
	size_t len = size * nitems, n;

	req->activity_usec = fs_now_usec();
	if (req->body == HTTP_BODY_MEMORY) {
		n = req->body_size - req->body_pos;
		if (n > len)
			n = len;
		memcpy(buf, req->body_data + req->body_pos, n);
		req->body_pos += n;
		return n;
	}
	if (req->upload.used == 0) {
		if (req->upload_ended) {
			/* all sent: waiting for the response counts again */
			http_flow_end(req);
			return 0;
		}
		req->paused_send = true;
		req->pauses++;
		return CURL_READFUNC_PAUSE;
	}
	n = http_ring_get(&req->upload, buf, len);
	req->upload_consumed += n;
	http_flow_begin(req);
	if (req->writer_blocked && req->upload.used <= req->upload.cap / 2) {
		req->writer_blocked = false;
		http_notify(req);
	}
	return n;
}

static int http_seek_cb(void *ctx, curl_off_t offset, int origin)
{
	struct fs_http_request *req = ctx;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	if (req->body == HTTP_BODY_MEMORY) {
		if ((uint64_t)offset > req->body_size)
			return CURL_SEEKFUNC_FAIL;
		req->body_pos = (size_t)offset;
		return CURL_SEEKFUNC_OK;
	}
	if (offset == 0 && req->upload_consumed == 0)
		return CURL_SEEKFUNC_OK;
	return CURL_SEEKFUNC_CANTSEEK;
}

/* ------------------------------------------------------------------------ */
/* Attempts                                                                   */

static void http_easy_set_method(struct fs_http_request *req, CURL *easy)
{
	const char *method = req->method;

	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	} else if (req->body != HTTP_BODY_NONE) {
		curl_off_t size = req->body == HTTP_BODY_MEMORY
					  ? (curl_off_t)req->body_size
					  : (curl_off_t)req->upload_size;

		curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, size);
		curl_easy_setopt(easy, CURLOPT_READFUNCTION, http_read_cb);
		curl_easy_setopt(easy, CURLOPT_READDATA, req);
		curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, http_seek_cb);
		curl_easy_setopt(easy, CURLOPT_SEEKDATA, req);
		if (strcmp(method, "PUT") != 0)
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	}
}

static void http_easy_set_tls(struct fs_http *http, CURL *easy)
{
	const struct fs_settings *set = &http->fs->set;

	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER,
			 set->tls_insecure ? 0L : 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST,
			 set->tls_insecure ? 0L : 2L);
	if (set->ca_file != NULL)
		curl_easy_setopt(easy, CURLOPT_CAINFO, set->ca_file);
	if (set->ca_path != NULL)
		curl_easy_setopt(easy, CURLOPT_CAPATH, set->ca_path);
	/* Unset: libcurl applies the *_proxy environment variables; "" turns
	   proxies off. */
	if (set->proxy != NULL)
		curl_easy_setopt(easy, CURLOPT_PROXY, set->proxy);
}

static CURL *http_easy_create(struct fs_http_request *req)
{
	struct fs_http *http = req->http;
	CURL *easy = http->idle_easy_count > 0
			     ? http->idle_easy[--http->idle_easy_count]
			     : curl_easy_init();

	if (easy == NULL)
		return NULL;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(easy, CURLOPT_SHARE, http->share);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
			 (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)http->connect_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* Objects are byte streams: never decode Content-Encoding. */
	curl_easy_setopt(easy, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	http_easy_set_tls(http, easy);
	http_easy_set_method(req, easy);
	return easy;
}

static int http_slist_add(struct curl_slist **list, const char *name,
			  const char *value)
{
	struct curl_slist *p;
	char *line;

	/* "Name;" is libcurl's way to send a header with an empty value. */
	if (asprintf(&line, value[0] == '\0' ? "%s;" : "%s: %s", name, value) <
	    0)
		return -ENOMEM;
	p = curl_slist_append(*list, line);
	free(line);
	if (p == NULL)
		return -ENOMEM;
	*list = p;
	return 0;
}

static int http_build_slist(struct fs_http_request *req)
{
	size_t idx = 0;
	const char *name, *value;
	int64_t body_size = req->body == HTTP_BODY_MEMORY
				    ? (int64_t)req->body_size
				    : req->upload_size;

	curl_slist_free_all(req->slist);
	req->slist = NULL;
	while (fs_http_request_header_next(req, &idx, &name, &value)) {
		if (http_slist_add(&req->slist, name, value) < 0)
			return -ENOMEM;
	}
	/* Small bodies go at once; big or unknown ones wait for 100. */
	if (req->body != HTTP_BODY_NONE && body_size >= 0 &&
	    body_size < FS_HTTP_EXPECT_MIN) {
		struct curl_slist *p = curl_slist_append(req->slist, "Expect:");

		if (p == NULL)
			return -ENOMEM;
		req->slist = p;
	}
	return 0;
}

/* The transport's own per-attempt headers: Range and, when resuming a
   stream, If-Match. Returns 1 if nothing is left to fetch. */
static int http_set_range_headers(struct fs_http_request *req)
{
	uint64_t first = req->range_offset, last = UINT64_MAX;
	char range[64];
	int ret;

	if (req->resuming) {
		first = req->stream_base + req->delivered;
		last = req->stream_last;
		if (last != UINT64_MAX && first > last)
			return 1;
		ret = fs_http_request_set_attempt_header(req, "If-Match",
							 req->etag);
		if (ret < 0)
			return ret;
	} else if (!req->has_range) {
		return 0;
	} else if (req->range_length != UINT64_MAX &&
		   req->range_length <= UINT64_MAX - req->range_offset) {
		last = req->range_offset + req->range_length - 1;
	}
	if (last == UINT64_MAX)
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", first);
	else
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64,
			 first, last);
	return fs_http_request_set_attempt_header(req, "Range", range);
}

static void http_attempt_reset(struct fs_http_request *req)
{
	req->attempt_usec = req->activity_usec = fs_now_usec();
	req->attempt_status = 0;
	req->headers_done = false;
	req->resuming = req->stream && req->stream_started;
	req->abort_err = 0;
	req->abort_fatal = false;
	req->abort_msg[0] = '\0';
	req->errbuf[0] = '\0';
	req->body_pos = 0;
	req->resp.len = 0;
	if (req->resp.data != NULL)
		req->resp.data[0] = '\0';
	http_headers_clear(&req->attempt_resp_headers);
	http_headers_clear(&req->attempt_headers);
	if (!req->resuming) {
		/* What is exposed is the response of this attempt. */
		req->status = 0;
		http_headers_clear(&req->resp_headers);
	}
}

static int http_sign(struct fs_http_request *req)
{
	int ret;

	if (req->cb.sign == NULL)
		return 0;
	req->callback_depth++;
	ret = req->cb.sign(req, req->context);
	req->callback_depth--;
	return ret < 0 ? ret : 0;
}

/* Starts the next attempt: returns 0 (running or, when a resume found
   nothing left to fetch, completed) or -errno. */
static int http_attempt_start(struct fs_http_request *req)
{
	int ret;

	req->attempts++;
	http_attempt_reset(req);
	ret = http_set_range_headers(req);
	if (ret == 1) {
		http_finish(req, 0, NULL);
		return 0;
	}
	if (ret < 0 || (ret = http_sign(req)) < 0 ||
	    (ret = http_build_slist(req)) < 0)
		return ret;
	if (req->easy == NULL && (req->easy = http_easy_create(req)) == NULL)
		return -ENOMEM;
	curl_easy_setopt(req->easy, CURLOPT_URL, req->url);
	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->slist);
	if (curl_multi_add_handle(req->http->multi, req->easy) != CURLM_OK)
		return -EIO;
	req->state = HTTP_REQ_RUNNING;
	if (req->http->debug)
		http_trace_request(req);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The event loop                                                             */

static void http_apply_unpause(struct fs_http_request *req)
{
	int mask;
	CURLcode code;

	if (req->unpause_recv)
		req->paused_recv = false;
	if (req->unpause_send)
		req->paused_send = false;
	req->unpause_recv = req->unpause_send = false;
	req->activity_usec = fs_now_usec();
	mask = (req->paused_recv ? CURLPAUSE_RECV : 0) |
	       (req->paused_send ? CURLPAUSE_SEND : 0);
	/* This may call the write callback at once with held-back data. */
	code = curl_easy_pause(req->easy, mask);
	if (code != CURLE_OK)
		http_attempt_end(req, code);
}

static void http_start_due(struct fs_http *http, uint64_t now)
{
	struct fs_http_request *req;
	int ret;

	for (req = http->requests; req != NULL; req = req->next) {
		if (req->state == HTTP_REQ_RUNNING &&
		    (req->unpause_recv || req->unpause_send))
			http_apply_unpause(req);
		if (req->state != HTTP_REQ_BACKOFF || req->retry_usec > now)
			continue;
		fs_stats_add_retry(http->fs, req->op);
		ret = http_attempt_start(req);
		if (ret < 0)
			http_finish(req, ret, "retry could not start: %s",
				    fs_errno_name(ret));
	}
}

static void http_read_messages(struct fs_http *http)
{
	struct fs_http_request *req;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
		CURLcode code = msg->data.result;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		req = (struct fs_http_request *)(void *)priv;
		if (req != NULL && req->state == HTTP_REQ_RUNNING)
			http_attempt_end(req, code);
	}
}

static void http_check_timers(struct fs_http *http, uint64_t now)
{
	struct fs_http_request *req;
	char detail[96];

	for (req = http->requests; req != NULL; req = req->next) {
		if (req->state != HTTP_REQ_RUNNING &&
		    req->state != HTTP_REQ_BACKOFF)
			continue;
		if (now >= req->deadline_usec && !req->flowing) {
			if (req->http->debug && req->state == HTTP_REQ_RUNNING)
				http_trace_response(req, "total deadline");
			http_remove_easy(req);
			http_finish_deadline(req);
		} else if (req->state != HTTP_REQ_RUNNING) {
			continue;
		} else if (req->paused_recv || req->paused_send) {
			/* Our reader or writer is slow, not the peer. */
			req->activity_usec = now;
		} else if (now - req->activity_usec >=
			   (uint64_t)http->stall_ms * 1000) {
			snprintf(detail, sizeof(detail),
				 "no data moved for %u ms (stall timeout)",
				 http->stall_ms);
			http_attempt_abort(req, -ETIMEDOUT, true, detail);
		}
	}
}

static uint64_t http_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The next time one of our timers fires, or now if work is ready. */
static uint64_t http_next_timer(struct fs_http *http, uint64_t now)
{
	const struct fs_http_request *req;
	uint64_t next = UINT64_MAX;

	if (http->notify_head != NULL)
		return now;
	for (req = http->requests; req != NULL; req = req->next) {
		if (req->state == HTTP_REQ_BACKOFF) {
			next = http_min(next, req->retry_usec);
		} else if (req->state == HTTP_REQ_RUNNING) {
			if (req->unpause_recv || req->unpause_send)
				return now;
			if (!req->flowing)
				next = http_min(next, req->deadline_usec);
			if (!req->paused_recv && !req->paused_send)
				next = http_min(
					next, req->activity_usec +
						      (uint64_t)http->stall_ms *
							      1000);
		}
	}
	return next;
}

static int http_run_once(struct fs_http *http)
{
	CURLMcode mc;
	int running;

	http_start_due(http, fs_now_usec());
	mc = curl_multi_perform(http->multi, &running);
	if (mc != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	http_read_messages(http);
	http_check_timers(http, fs_now_usec());
	return 0;
}

int fs_http_wait(struct fs_http *http, int timeout_ms)
{
	return fs_http_wait_fds(http, NULL, 0, timeout_ms);
}

static bool http_fds_ready(const struct curl_waitfd *fds, unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (fds[i].revents != 0)
			return true;
	}
	return false;
}

int fs_http_wait_fds(struct fs_http *http, struct curl_waitfd *fds,
		     unsigned int count, int timeout_ms)
{
	uint64_t now = fs_now_usec(), next;
	uint64_t end =
		timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * 1000;
	unsigned int i;
	int ret, wait_ms;

	for (i = 0; i < count; i++)
		fds[i].revents = 0;
	for (;;) {
		ret = http_run_once(http);
		if (ret < 0)
			return ret;
		if (http_dispatch(http) > 0 ||
		    (http->pending == 0 && count == 0))
			return 0;
		now = fs_now_usec();
		if (now >= end)
			return 0;
		next = http_min(end, http_next_timer(http, now));
		/* Round up so that a timer is due when we wake up. */
		next = next <= now ? 0 : (next - now + 999) / 1000;
		wait_ms = next > INT_MAX ? INT_MAX : (int)next;
		if (wait_ms > 0 && curl_multi_poll(http->multi, fds, count,
						   wait_ms, NULL) != CURLM_OK)
			return -EIO;
		if (http_fds_ready(fds, count))
			return 0;
	}
}

unsigned int fs_http_pending(struct fs_http *http)
{
	return http->pending;
}

/* ------------------------------------------------------------------------ */
/* The transport                                                              */

static void http_global_init(void)
{
	http_global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static unsigned int http_setting(unsigned int value, unsigned int def)
{
	return value == 0 ? def : value;
}

static void http_read_settings(struct fs_http *http)
{
	const struct fs_settings *set = &http->fs->set;

	http->connect_ms =
		http_setting(set->connect_timeout_ms, HTTP_DEFAULT_CONNECT_MS);
	http->stall_ms =
		http_setting(set->stall_timeout_ms, HTTP_DEFAULT_STALL_MS);
	http->total_ms =
		http_setting(set->total_timeout_ms, HTTP_DEFAULT_TOTAL_MS);
	http->max_retries =
		set->max_retries == FS_SETTINGS_NO_RETRY
			? 0
			: http_setting(set->max_retries, HTTP_DEFAULT_RETRIES);
	http->retry_base_ms =
		http_setting(set->retry_base_ms, HTTP_DEFAULT_RETRY_BASE_MS);
	http->retry_max_ms =
		http_setting(set->retry_max_ms, HTTP_DEFAULT_RETRY_MAX_MS);
	if (http->retry_max_ms < http->retry_base_ms)
		http->retry_max_ms = http->retry_base_ms;
	/* The core has or-ed LIBFS_DEBUG into set->debug. */
	http->debug = (set->debug & FS_DEBUG_HTTP) != 0;
}

int fs_http_init(struct fs *fs, struct fs_http **http_r)
{
	struct fs_http *http;

	*http_r = NULL;
	if (pthread_once(&http_global_once, http_global_init) != 0 ||
	    http_global_result != CURLE_OK)
		return -EIO;
	http = calloc(1, sizeof(*http));
	if (http == NULL)
		return -ENOMEM;
	http->fs = fs;
	http_read_settings(http);
	http->rand_state = fs_now_usec() ^ ((uint64_t)getpid() << 32) ^
			   (uint64_t)(uintptr_t)http;
	if (http->rand_state == 0)
		http->rand_state = 0x9E3779B97F4A7C15ULL;
	http->multi = curl_multi_init();
	http->share = curl_share_init();
	if (http->multi == NULL || http->share == NULL) {
		fs_http_deinit(&http);
		return -ENOMEM;
	}
	/* curl sizes its connection cache by the easy handles attached, which
	   come and go with each request here: keep idle connections for as
	   many requests as are commonly in flight, so that keep-alive holds
	   at 32 in flight too. */
	curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS,
			  (long)FS_HTTP_IDLE_CONNECTIONS);
	curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(http->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	*http_r = http;
	return 0;
}

/* Keeps a finished request's easy handle, reset to no options, for the
   next request (saves setting one up per request), or frees it. */
static void http_easy_release(struct fs_http *http, CURL *easy)
{
	if (http != NULL && http->idle_easy_count < FS_HTTP_IDLE_CONNECTIONS) {
		curl_easy_reset(easy);
		http->idle_easy[http->idle_easy_count++] = easy;
	} else {
		curl_easy_cleanup(easy);
	}
}

/* Stops the request's transfer and takes it out of the pending count. */
static void http_request_stop(struct fs_http_request *req)
{
	http_remove_easy(req);
	if (req->easy != NULL) {
		http_easy_release(req->http, req->easy);
		req->easy = NULL;
	}
	curl_slist_free_all(req->slist);
	req->slist = NULL;
	if (req->http != NULL &&
	    (req->state == HTTP_REQ_RUNNING || req->state == HTTP_REQ_BACKOFF))
		req->http->pending--;
	http_notify_remove(req);
}

static void http_request_unlink(struct fs_http_request *req)
{
	if (req->http == NULL)
		return;
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		req->http->requests = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
	req->http = NULL;
}

void fs_http_deinit(struct fs_http **_http)
{
	struct fs_http *http = *_http;

	if (http == NULL)
		return;
	*_http = NULL;
	while (http->requests != NULL) {
		struct fs_http_request *req = http->requests;

		http_request_stop(req);
		if (req->state != HTTP_REQ_DONE) {
			req->state = HTTP_REQ_DONE;
			req->result = -ECANCELED;
		}
		req->done_called = true;
		http_request_unlink(req);
	}
	while (http->idle_easy_count > 0)
		curl_easy_cleanup(http->idle_easy[--http->idle_easy_count]);
	while (http->spare_rings > 0)
		free(http->spare_ring[--http->spare_rings]);
	if (http->multi != NULL)
		curl_multi_cleanup(http->multi);
	if (http->share != NULL)
		curl_share_cleanup(http->share);
	free(http);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                   */

static bool http_method_idempotent(const char *method)
{
	static const char *const methods[] = {
		"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PROPFIND", NULL,
	};
	unsigned int i;

	for (i = 0; methods[i] != NULL; i++) {
		if (strcmp(method, methods[i]) == 0)
			return true;
	}
	return false;
}

static bool http_url_valid(const char *url)
{
	const char *p;

	if (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0)
		return false;
	for (p = url; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 127)
			return false;
	}
	return true;
}

int fs_http_request_init(struct fs_http *http, enum fs_op op,
			 const char *method, const char *url,
			 struct fs_http_request **req_r)
{
	struct fs_http_request *req;

	*req_r = NULL;
	if (!http_token_valid(method) || !http_url_valid(url))
		return -EINVAL;
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		return -ENOMEM;
	req->method = strdup(method);
	req->url = strdup(url);
	if (req->method == NULL || req->url == NULL) {
		free(req->method);
		free(req->url);
		free(req);
		return -ENOMEM;
	}
	req->http = http;
	req->op = op;
	req->idempotent = http_method_idempotent(method);
	req->memory_max = FS_HTTP_MEMORY_MAX;
	req->upload.cap = req->download.cap = FS_HTTP_STREAM_BUFFER;
	req->upload_size = -1;
	req->result = -EAGAIN;
	req->next = http->requests;
	if (req->next != NULL)
		req->next->prev = req;
	http->requests = req;
	*req_r = req;
	return 0;
}

static void http_request_free(struct fs_http_request *req)
{
	/* NULL once the transport is gone: the rings are then freed */
	struct fs_http *http = req->http;

	http_request_stop(req);
	http_request_unlink(req);
	http_headers_free(&req->headers);
	http_headers_free(&req->attempt_headers);
	http_headers_free(&req->resp_headers);
	http_headers_free(&req->attempt_resp_headers);
	http_ring_free(http, &req->upload);
	http_ring_free(http, &req->download);
	http_buf_free(&req->resp);
	free(req->method);
	free(req->url);
	free(req->etag);
	free(req->server_code);
	free(req->request_id);
	free(req->detail);
	free(req);
}

void fs_http_request_deinit(struct fs_http_request **_req)
{
	struct fs_http_request *req = *_req;

	if (req == NULL)
		return;
	*_req = NULL;
	if (req->callback_depth > 0) {
		/* Freed when its callback returns. */
		http_request_stop(req);
		req->state = HTTP_REQ_DONE;
		req->free_pending = true;
		return;
	}
	http_request_free(req);
}

void fs_http_request_set_callbacks(struct fs_http_request *req,
				   const struct fs_http_callbacks *callbacks,
				   void *context)
{
	req->cb = *callbacks;
	req->context = context;
}

void fs_http_request_set_idempotent(struct fs_http_request *req,
				    bool idempotent)
{
	req->idempotent = idempotent;
}

int fs_http_request_add_header(struct fs_http_request *req, const char *name,
			       const char *value)
{
	return http_headers_add(&req->headers, name, value);
}

void fs_http_request_set_range(struct fs_http_request *req, uint64_t offset,
			       uint64_t length)
{
	req->has_range = true;
	req->range_offset = offset;
	req->range_length = length;
}

void fs_http_request_set_body(struct fs_http_request *req, const void *data,
			      size_t size)
{
	req->body = HTTP_BODY_MEMORY;
	req->body_data = data;
	req->body_size = size;
}

void fs_http_request_set_body_stream(struct fs_http_request *req, int64_t size)
{
	req->body = HTTP_BODY_STREAM;
	req->upload_size = size < 0 ? -1 : size;
}

void fs_http_request_set_response_stream(struct fs_http_request *req)
{
	req->stream = true;
}

void fs_http_request_set_response_max(struct fs_http_request *req,
				      size_t max_memory)
{
	req->memory_max = max_memory;
}

int fs_http_request_start(struct fs_http_request *req)
{
	struct fs_http *http = req->http;
	int ret;

	if (http == NULL)
		return -ECANCELED;
	if (req->state != HTTP_REQ_NEW)
		return -EINVAL;
	if (req->body == HTTP_BODY_NONE && (strcmp(req->method, "PUT") == 0 ||
					    strcmp(req->method, "POST") == 0))
		fs_http_request_set_body(req, "", 0); /* Content-Length: 0 */
	req->start_usec = fs_now_usec();
	req->deadline_usec = req->start_usec + (uint64_t)http->total_ms * 1000;
	req->state = HTTP_REQ_BACKOFF; /* counted as pending from here */
	http->pending++;
	ret = http_attempt_start(req);
	if (ret < 0) {
		http_request_stop(req);
		req->state = HTTP_REQ_DONE;
		req->result = ret;
		req->done_called = true;
	}
	return ret;
}

int fs_http_request_set_attempt_header(struct fs_http_request *req,
				       const char *name, const char *value)
{
	return http_headers_add(&req->attempt_headers, name, value);
}

int fs_http_request_set_url(struct fs_http_request *req, const char *url)
{
	char *copy;

	if (!http_url_valid(url))
		return -EINVAL;
	copy = strdup(url);
	if (copy == NULL)
		return -ENOMEM;
	free(req->url);
	req->url = copy;
	return 0;
}

const char *fs_http_request_method(const struct fs_http_request *req)
{
	return req->method;
}

const char *fs_http_request_url(const struct fs_http_request *req)
{
	return req->url;
}

bool fs_http_request_header_next(const struct fs_http_request *req, size_t *idx,
				 const char **name_r, const char **value_r)
{
	const struct http_header *hdr;

	if (*idx < req->headers.count)
		hdr = &req->headers.items[*idx];
	else if (*idx - req->headers.count < req->attempt_headers.count)
		hdr = &req->attempt_headers.items[*idx - req->headers.count];
	else
		return false;
	(*idx)++;
	*name_r = hdr->name;
	*value_r = hdr->value;
	return true;
}

unsigned int fs_http_request_attempt(const struct fs_http_request *req)
{
	return req->attempts;
}

uint64_t fs_http_request_body_sent(const struct fs_http_request *req)
{
	if (req->body == HTTP_BODY_MEMORY)
		return req->body_pos;
	return req->upload_consumed;
}

ssize_t fs_http_request_write(struct fs_http_request *req, const void *data,
			      size_t size)
{
	struct http_ring *ring = &req->upload;
	size_t n;

	if (req->body != HTTP_BODY_STREAM || req->upload_ended)
		return -EINVAL;
	if (req->state == HTTP_REQ_DONE)
		return req->result < 0 ? req->result : -EIO;
	if (req->upload_size >= 0 &&
	    req->upload_written + size > (uint64_t)req->upload_size)
		return -EINVAL;
	if (size == 0)
		return 0;
	n = ring->cap - ring->used;
	if (n == 0) {
		req->writer_blocked = true;
		return -EAGAIN;
	}
	if (n > size)
		n = size;
	if (http_ring_put(req->http, ring, data, n) < 0)
		return -ENOMEM;
	req->upload_written += n;
	if (req->paused_send)
		req->unpause_send = true;
	return (ssize_t)n;
}

int fs_http_request_write_end(struct fs_http_request *req)
{
	if (req->body != HTTP_BODY_STREAM)
		return -EINVAL;
	if (req->state == HTTP_REQ_DONE && req->result < 0)
		return req->result;
	if (req->upload_size >= 0 &&
	    req->upload_written != (uint64_t)req->upload_size)
		return -EINVAL;
	req->upload_ended = true;
	if (req->paused_send)
		req->unpause_send = true;
	return 0;
}

ssize_t fs_http_request_read(struct fs_http_request *req, void *buf,
			     size_t size)
{
	struct http_ring *ring = &req->download;
	size_t n;

	if (!req->stream)
		return -EINVAL;
	if (ring->used > 0 && size > 0) {
		n = http_ring_get(ring, buf, size);
		/* Resume only with room for a good run, not one chunk. */
		if (req->paused_recv && ring->used <= ring->cap / 2)
			req->unpause_recv = true;
		return (ssize_t)n;
	}
	if (req->paused_recv)
		req->unpause_recv = true;
	if (req->state == HTTP_REQ_DONE)
		return req->result;
	return -EAGAIN;
}

size_t fs_http_request_buffered(const struct fs_http_request *req)
{
	return req->download.used + req->upload.used;
}

size_t fs_http_request_buffered_max(const struct fs_http_request *req)
{
	return req->download.max_used > req->upload.max_used
		       ? req->download.max_used
		       : req->upload.max_used;
}

unsigned int fs_http_request_pauses(const struct fs_http_request *req)
{
	return req->pauses;
}

bool fs_http_request_paused(const struct fs_http_request *req)
{
	return (req->paused_recv && !req->unpause_recv) ||
	       (req->paused_send && !req->unpause_send);
}

int fs_http_request_result(const struct fs_http_request *req)
{
	return req->state == HTTP_REQ_DONE ? req->result : -EAGAIN;
}

bool fs_http_request_is_done(const struct fs_http_request *req)
{
	return req->state == HTTP_REQ_DONE;
}

long fs_http_request_status(const struct fs_http_request *req)
{
	return req->status;
}

const char *fs_http_request_header(const struct fs_http_request *req,
				   const char *name)
{
	return http_headers_find(&req->resp_headers, name);
}

bool fs_http_request_response_header_next(const struct fs_http_request *req,
					  size_t *idx, const char **name_r,
					  const char **value_r)
{
	if (*idx >= req->resp_headers.count)
		return false;
	*name_r = req->resp_headers.items[*idx].name;
	*value_r = req->resp_headers.items[*idx].value;
	(*idx)++;
	return true;
}

const char *fs_http_request_body(const struct fs_http_request *req,
				 size_t *size_r)
{
	if (size_r != NULL)
		*size_r = req->resp.len;
	return req->resp.data != NULL ? req->resp.data : "";
}

static int http_replace_str(char **dst, const char *src)
{
	char *copy = NULL;

	if (src != NULL && (copy = strdup(src)) == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

int fs_http_request_set_server_error(struct fs_http_request *req,
				     const char *code, const char *request_id)
{
	if (http_replace_str(&req->server_code, code) < 0 ||
	    http_replace_str(&req->request_id, request_id) < 0)
		return -ENOMEM;
	return 0;
}

struct http_out_str {
	char *buf;
	size_t size, len;
};

static void FS_PRINTF(2, 3)
	http_out_printf(struct http_out_str *out, const char *fmt, ...)
{
	va_list args;
	int n;

	if (out->len + 1 >= out->size)
		return;
	va_start(args, fmt);
	n = vsnprintf(out->buf + out->len, out->size - out->len, fmt, args);
	va_end(args);
	if (n > 0)
		out->len = out->len + (size_t)n < out->size
				   ? out->len + (size_t)n
				   : out->size - 1;
}

/* Appends "HTTP 503 SlowDown (request id X, after 3 attempts)". */
static void http_format_status(const struct fs_http_request *req,
			       struct http_out_str *out)
{
	const char *request_id = req->request_id;
	const char *sep = " (";

	if (request_id == NULL)
		request_id = fs_http_request_header(req, "x-amz-request-id");
	http_out_printf(out, "HTTP %ld", req->status);
	if (req->server_code != NULL)
		http_out_printf(out, " %s", req->server_code);
	if (request_id != NULL) {
		http_out_printf(out, "%srequest id %s", sep, request_id);
		sep = ", ";
	}
	if (req->attempts > 1) {
		http_out_printf(out, "%safter %u attempts", sep, req->attempts);
		sep = ", ";
	}
	if (sep[0] == ',')
		http_out_printf(out, ")");
}

int fs_http_request_error(const struct fs_http_request *req, char *buf,
			  size_t size)
{
	struct http_out_str out = {.buf = buf, .size = size, .len = 0};
	int result = fs_http_request_result(req);

	if (size == 0)
		return result;
	buf[0] = '\0';
	if (result == 0)
		return 0;
	http_out_printf(&out, "%s ", req->method);
	fs_http_redact_url(req->url, buf + out.len, size - out.len);
	out.len += strlen(buf + out.len);
	if (result == -EAGAIN)
		http_out_printf(&out, ": in progress");
	else if (req->detail != NULL)
		http_out_printf(&out, ": %s", req->detail);
	else if (req->status != 0 && result != -ECANCELED) {
		http_out_printf(&out, ": ");
		http_format_status(req, &out);
	} else
		http_out_printf(&out, ": %s", fs_errno_name(result));
	return result;
}
