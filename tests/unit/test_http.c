/*
 * The HTTP transport (libfs/http.c) against a libmicrohttpd server started
 * here on 127.0.0.1 with an ephemeral port. Every test proves its point with
 * what the server saw (connections, concurrency, headers, arrival times) or
 * with the transport's own counters, never with a client-side stopwatch
 * alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "http.h"
#include "libfs/driver.h"

#define MAX_SEEN 64
#define BIG_SIZE (64u * 1024 * 1024)
#define RESUME_SIZE (1024u * 1024)
#define RESUME_CUT (300u * 1024)
#define INFLIGHT 32

enum srv_mode {
	MODE_SMALL,	 /* 200 "hello" */
	MODE_CONCURRENT, /* hold each request until all are in */
	MODE_BIG,	 /* 200, BIG_SIZE bytes of pattern */
	MODE_UPLOAD,	 /* hash the body, 200 */
	MODE_FAIL_FIRST, /* fail_status (+ headers) first, then 200 "ok" */
	MODE_ALWAYS_503, /* 503 SlowDown */
	MODE_RESUME,	 /* cut the first body, serve ranges with If-Match */
	MODE_ETAG_412,	 /* cut, then the object changed: 412 */
	MODE_ETAG_200,	 /* cut, then a new object, Range ignored: 200 */
	MODE_STALL,	 /* send 64 KiB then nothing */
	MODE_HUGE_XML,	 /* 2 MiB body */
	MODE_NO_ETAG,	 /* cut, and no ETag to resume with */
	MODE_UPLOAD_503, /* take the whole body, then 503 */
	MODE_NOT_FOUND,	 /* 404 with an S3 error body */
	MODE_DRIP,	 /* 200, DRIP_SIZE bytes, 16 KiB every DRIP_US */
};

#define DRIP_SIZE (1024u * 1024)
#define DRIP_CHUNK (16u * 1024)
#define DRIP_US 25000

struct server {
	struct MHD_Daemon *daemon;
	/* PEM certificate and key: serve HTTPS when set. */
	char *tls_cert, *tls_key;
	unsigned short port;
	enum srv_mode mode;
	unsigned int fail_status;
	const char *fail_body;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int connections, requests, in_flight, max_in_flight;
	bool stop;
	uint64_t times[MAX_SEEN];
	char auth[MAX_SEEN][64];
	char range[MAX_SEEN][64];
	char if_match[MAX_SEEN][64];
	char method[MAX_SEEN][16];
	char transfer_encoding[MAX_SEEN][32];
	/* The last upload. */
	uint64_t upload_bytes;
	uint32_t upload_hash;
};

struct test {
	struct server srv;
	struct fs fs;
	struct fs_http *http;
	unsigned int sign_calls, done_calls, progress_calls;
};

/* ------------------------------------------------------------------------ */
/* Data                                                                       */

static unsigned char pattern(uint64_t pos, unsigned int version)
{
	return (unsigned char)((pos % 251) ^ (pos >> 12) ^ (version * 0x5a));
}

static uint32_t hash_update(uint32_t hash, const void *data, size_t size)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < size; i++)
		hash = (hash ^ p[i]) * 16777619u;
	return hash;
}

static uint64_t now_usec(void)
{
	return fs_now_usec();
}

/* ------------------------------------------------------------------------ */
/* Server                                                                     */

struct body_gen {
	struct server *srv;
	uint64_t start; /* object offset of the response's first byte */
	uint64_t cut;	/* response offset where the connection dies */
	unsigned int version;
	bool stall;
	bool drip;
};

static ssize_t body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body_gen *gen = cls;
	size_t i;

	if (pos >= gen->cut) {
		if (!gen->stall)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		/* Hold the connection silent until the test ends. */
		for (i = 0; i < 1000 &&
			    !__atomic_load_n(&gen->srv->stop, __ATOMIC_SEQ_CST);
		     i++)
			usleep(10000);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (max > gen->cut - pos)
		max = (size_t)(gen->cut - pos);
	if (gen->drip) {
		usleep(DRIP_US);
		if (max > DRIP_CHUNK)
			max = DRIP_CHUNK;
	}
	for (i = 0; i < max; i++)
		buf[i] = (char)pattern(gen->start + pos + i, gen->version);
	return (ssize_t)max;
}

static enum MHD_Result queue_buffer(struct MHD_Connection *conn,
				    unsigned int status, const char *body,
				    const char *hname, const char *hvalue)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (hname != NULL)
		MHD_add_response_header(resp, hname, hvalue);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* An object response: bytes [first, last] of a size-byte object. */
struct obj_resp {
	unsigned int status;
	uint64_t size, first, last;
	uint64_t cut;	      /* response offset where the connection dies */
	unsigned int version; /* 0: no ETag */
	bool stall;	      /* at cut, go silent instead of closing */
	bool drip;	      /* DRIP_CHUNK bytes every DRIP_US */
};

static enum MHD_Result queue_object(struct server *srv,
				    struct MHD_Connection *conn,
				    const struct obj_resp *r)
{
	struct body_gen *gen = calloc(1, sizeof(*gen));
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char value[96];

	gen->srv = srv;
	gen->start = r->first;
	gen->cut = r->cut;
	gen->version = r->version;
	gen->stall = r->stall;
	gen->drip = r->drip;
	resp = MHD_create_response_from_callback(
		r->last - r->first + 1, 32 * 1024, body_reader, gen, free);
	if (r->version != 0) {
		snprintf(value, sizeof(value), "\"v%u\"", r->version);
		MHD_add_response_header(resp, "ETag", value);
	}
	if (r->status == 206) {
		snprintf(value, sizeof(value), "bytes %llu-%llu/%llu",
			 (unsigned long long)r->first,
			 (unsigned long long)r->last,
			 (unsigned long long)r->size);
		MHD_add_response_header(resp, "Content-Range", value);
	}
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result queue_whole(struct server *srv,
				   struct MHD_Connection *conn, uint64_t size,
				   unsigned int version)
{
	const struct obj_resp r = {.status = 200,
				   .size = size,
				   .last = size - 1,
				   .cut = UINT64_MAX,
				   .version = version};

	return queue_object(srv, conn, &r);
}

static void copy_header(struct MHD_Connection *conn, const char *name,
			char *dst, size_t size)
{
	const char *value =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	snprintf(dst, size, "%s", value != NULL ? value : "");
}

/* Records the request; returns its index (0 for the first). */
static unsigned int record(struct server *srv, struct MHD_Connection *conn,
			   const char *method)
{
	unsigned int idx;

	pthread_mutex_lock(&srv->lock);
	idx = srv->requests++;
	if (idx < MAX_SEEN) {
		srv->times[idx] = now_usec();
		copy_header(conn, "Authorization", srv->auth[idx],
			    sizeof(srv->auth[idx]));
		copy_header(conn, "Range", srv->range[idx],
			    sizeof(srv->range[idx]));
		copy_header(conn, "If-Match", srv->if_match[idx],
			    sizeof(srv->if_match[idx]));
		copy_header(conn, "Transfer-Encoding",
			    srv->transfer_encoding[idx],
			    sizeof(srv->transfer_encoding[idx]));
		snprintf(srv->method[idx], sizeof(srv->method[idx]), "%s",
			 method);
	}
	pthread_mutex_unlock(&srv->lock);
	return idx;
}

static enum MHD_Result serve_concurrent(struct server *srv,
					struct MHD_Connection *conn)
{
	uint64_t until = now_usec() + 5000000;
	struct timespec ts;

	pthread_mutex_lock(&srv->lock);
	srv->in_flight++;
	if (srv->in_flight > srv->max_in_flight)
		srv->max_in_flight = srv->in_flight;
	pthread_cond_broadcast(&srv->cond);
	/* Hold until every request is in (or 5 s), at least 100 ms. */
	while (srv->max_in_flight < INFLIGHT && now_usec() < until) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&srv->cond, &srv->lock, &ts);
	}
	pthread_mutex_unlock(&srv->lock);
	usleep(100000);
	pthread_mutex_lock(&srv->lock);
	srv->in_flight--;
	pthread_mutex_unlock(&srv->lock);
	return queue_buffer(conn, 200, "ok", NULL, NULL);
}

/* Parses "bytes=F-" or "bytes=F-L" (L capped to the object). */
static bool parse_range(const char *range, uint64_t size, uint64_t *first_r,
			uint64_t *last_r)
{
	unsigned long long first, last = size - 1;
	int n = 0;

	if (sscanf(range, "bytes=%llu-%n", &first, &n) != 1 || n == 0)
		return false;
	if (range[n] != '\0' && sscanf(range + n, "%llu", &last) != 1)
		return false;
	if (last >= size)
		last = size - 1;
	if (first > last)
		return false;
	*first_r = first;
	*last_r = last;
	return true;
}

/* The first response dies at RESUME_CUT; later ones serve the Range asked
   if If-Match matches the object (version 1). */
static enum MHD_Result
serve_resume(struct server *srv, struct MHD_Connection *conn, unsigned int idx)
{
	struct obj_resp r = {.status = 200,
			     .size = RESUME_SIZE,
			     .last = RESUME_SIZE - 1,
			     .cut = UINT64_MAX,
			     .version = srv->mode == MODE_NO_ETAG ? 0 : 1};

	if (idx == 0) {
		if (parse_range(srv->range[0], RESUME_SIZE, &r.first, &r.last))
			r.status = 206;
		r.cut = RESUME_CUT;
		return queue_object(srv, conn, &r);
	}
	if (srv->mode == MODE_ETAG_200)
		return queue_whole(srv, conn, RESUME_SIZE, 2);
	if (srv->mode == MODE_ETAG_412 ||
	    strcmp(srv->if_match[idx], "\"v1\"") != 0)
		return queue_buffer(conn, 412, "", NULL, NULL);
	if (!parse_range(srv->range[idx], RESUME_SIZE, &r.first, &r.last))
		return queue_buffer(conn, 416, "", NULL, NULL);
	r.status = 206;
	return queue_object(srv, conn, &r);
}

/* Sends 64 KiB of what is asked, then nothing. */
static enum MHD_Result
serve_stall(struct server *srv, struct MHD_Connection *conn, unsigned int idx)
{
	struct obj_resp r = {.status = 200,
			     .size = RESUME_SIZE,
			     .last = RESUME_SIZE - 1,
			     .cut = 64 * 1024,
			     .version = 1,
			     .stall = true};

	if (parse_range(srv->range[idx], RESUME_SIZE, &r.first, &r.last))
		r.status = 206;
	return queue_object(srv, conn, &r);
}

static enum MHD_Result serve_upload(struct server *srv,
				    struct MHD_Connection *conn,
				    const char *data, size_t *size,
				    uint32_t *hash)
{
	if (*size > 0) {
		*hash = hash_update(*hash, data, *size);
		pthread_mutex_lock(&srv->lock);
		srv->upload_bytes += *size;
		pthread_mutex_unlock(&srv->lock);
		*size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&srv->lock);
	srv->upload_hash = *hash;
	pthread_mutex_unlock(&srv->lock);
	if (srv->mode == MODE_UPLOAD_503)
		return queue_buffer(conn, 503, "busy", NULL, NULL);
	return queue_buffer(conn, 200, "stored", NULL, NULL);
}

static enum MHD_Result serve(struct server *srv, struct MHD_Connection *conn,
			     unsigned int idx)
{
	switch (srv->mode) {
	case MODE_SMALL:
		return queue_buffer(conn, 200, "hello", NULL, NULL);
	case MODE_CONCURRENT:
		return serve_concurrent(srv, conn);
	case MODE_BIG:
		return queue_whole(srv, conn, BIG_SIZE, 1);
	case MODE_FAIL_FIRST:
		if (idx == 0)
			return queue_buffer(
				conn, srv->fail_status, srv->fail_body,
				srv->fail_status == 429 ? "Retry-After" : NULL,
				"1");
		return queue_buffer(conn, 200, "ok", NULL, NULL);
	case MODE_ALWAYS_503:
		return queue_buffer(conn, 503,
				    "<Error><Code>SlowDown</Code>"
				    "<RequestId>REQ42</RequestId></Error>",
				    "x-amz-request-id", "REQ42");
	case MODE_RESUME:
	case MODE_NO_ETAG:
	case MODE_ETAG_412:
	case MODE_ETAG_200:
		return serve_resume(srv, conn, idx);
	case MODE_STALL:
		return serve_stall(srv, conn, idx);
	case MODE_NOT_FOUND:
		return queue_buffer(conn, 404,
				    "<Error><Code>NoSuchKey</Code></Error>",
				    NULL, NULL);
	case MODE_HUGE_XML:
		return queue_whole(srv, conn, 2 * 1024 * 1024, 1);
	case MODE_DRIP: {
		struct obj_resp r = {.status = 200,
				     .size = DRIP_SIZE,
				     .last = DRIP_SIZE - 1,
				     .cut = UINT64_MAX,
				     .version = 1,
				     .drip = true};

		return queue_object(srv, conn, &r);
	}
	default:
		return MHD_NO;
	}
}

struct conn_state {
	unsigned int idx;
	uint32_t hash;
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct conn_state *st = *con_cls;

	if (st == NULL) {
		st = calloc(1, sizeof(*st));
		st->idx = record(srv, conn, method);
		st->hash = 2166136261u;
		*con_cls = st;
		return MHD_YES;
	}
	if (srv->mode == MODE_UPLOAD || srv->mode == MODE_UPLOAD_503)
		return serve_upload(srv, conn, upload_data, upload_data_size,
				    &st->hash);
	if (*upload_data_size > 0) {
		*upload_data_size = 0; /* bodies of other modes are dropped */
		return MHD_YES;
	}
	return serve(srv, conn, st->idx);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
			      void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

static void connection_notify(void *cls, struct MHD_Connection *conn,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct server *srv = cls;

	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->connections++;
	pthread_mutex_unlock(&srv->lock);
}

static void server_start(struct server *srv, enum srv_mode mode)
{
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = 0;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv->mode = mode;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cond, NULL);
	srv->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_THREAD_PER_CONNECTION |
			(srv->tls_cert != NULL ? MHD_USE_TLS : 0),
		0, NULL, NULL, handler, srv, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
		request_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
		connection_notify, srv,
		/* Ignored without MHD_USE_TLS; NULL ends the list early. */
		srv->tls_cert != NULL ? MHD_OPTION_HTTPS_MEM_KEY
				      : MHD_OPTION_END,
		srv->tls_key, MHD_OPTION_HTTPS_MEM_CERT, srv->tls_cert,
		MHD_OPTION_END);
	assert_non_null(srv->daemon);
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	srv->port = info->port;
	assert_true(srv->port != 0);
}

static void server_stop(struct server *srv)
{
	if (srv->daemon == NULL)
		return;
	__atomic_store_n(&srv->stop, true, __ATOMIC_SEQ_CST);
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	free(srv->tls_cert);
	free(srv->tls_key);
}

static unsigned int server_requests(struct server *srv)
{
	unsigned int n;

	pthread_mutex_lock(&srv->lock);
	n = srv->requests;
	pthread_mutex_unlock(&srv->lock);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Client helpers                                                             */

static int setup(void **state)
{
	struct test *t = calloc(1, sizeof(*t));

	/* What fs_settings_init() gives: all zero means the defaults. */
	t->fs.set.version = FS_SETTINGS_VERSION;
	/* No proxy from the environment: only 127.0.0.1 is ever reached. */
	t->fs.set.proxy = "";
	t->fs.set.retry_base_ms = 10;
	t->fs.set.retry_max_ms = 50;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct test *t = *state;

	fs_http_deinit(&t->http);
	server_stop(&t->srv);
	free(t);
	return 0;
}

static void http_new(struct test *t)
{
	assert_int_equal(fs_http_init(&t->fs, &t->http), 0);
}

static struct fs_http_request *req_new(struct test *t, const char *method,
				       const char *path)
{
	struct fs_http_request *req;
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", t->srv.port, path);
	assert_int_equal(
		fs_http_request_init(t->http, FS_OP_READ, method, url, &req),
		0);
	return req;
}

/* Starts the server in mode and a transport to reach it. */
static void start_server(struct test *t, enum srv_mode mode)
{
	server_start(&t->srv, mode);
	http_new(t);
}

/* Starts the server in mode and a transport, and makes a first request. */
static struct fs_http_request *start_request(struct test *t, enum srv_mode mode,
					     const char *method,
					     const char *path)
{
	start_server(t, mode);
	return req_new(t, method, path);
}

/* The same with the server failing the first request with status and body
   (and Retry-After: 1 for a 429), then answering 200 "ok"; the request is
   method on /x. */
static struct fs_http_request *start_fail_first(struct test *t,
						unsigned int status,
						const char *body,
						const char *method)
{
	t->srv.fail_status = status;
	t->srv.fail_body = body;
	return start_request(t, MODE_FAIL_FIRST, method, "/x");
}

/* The same for a PUT to /upload whose body is streamed (declared bytes, or
   chunked if negative), started. */
static struct fs_http_request *start_upload(struct test *t, enum srv_mode mode,
					    int64_t declared)
{
	struct fs_http_request *req = start_request(t, mode, "PUT", "/upload");

	fs_http_request_set_body_stream(req, declared);
	assert_int_equal(fs_http_request_start(req), 0);
	return req;
}

/* The same for a GET whose response is read as a stream. */
static struct fs_http_request *start_stream(struct test *t, enum srv_mode mode,
					    const char *path)
{
	struct fs_http_request *req = start_request(t, mode, "GET", path);

	fs_http_request_set_response_stream(req);
	return req;
}

/* Drives the transport until req is done. */
static void wait_done(struct test *t, struct fs_http_request *req)
{
	while (!fs_http_request_is_done(req))
		assert_int_equal(fs_http_wait(t->http, 10000), 0);
}

static int run(struct test *t, struct fs_http_request *req)
{
	int ret = fs_http_request_start(req);

	if (ret < 0)
		return ret;
	wait_done(t, req);
	assert_int_equal(fs_http_pending(t->http), 0);
	return fs_http_request_result(req);
}

/* Returns the message of a failed request (valid until the next call),
   asserting that the failure is err. */
static const char *error_msg(struct fs_http_request *req, int err)
{
	static char msg[1024];

	assert_int_equal(fs_http_request_error(req, msg, sizeof(msg)), err);
	return msg;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("'%s' lacks '%s'", haystack, needle);
}

static void assert_lacks(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) != NULL)
		fail_msg("'%s' contains '%s'", haystack, needle);
}

static int count_sign(struct fs_http_request *req, void *context)
{
	struct test *t = context;
	char value[32];

	t->sign_calls++;
	snprintf(value, sizeof(value), "sig-%u", fs_http_request_attempt(req));
	return fs_http_request_set_attempt_header(req, "Authorization", value);
}

static void count_done(struct fs_http_request *req, void *context)
{
	struct test *t = context;

	t->done_calls++;
}

static void count_progress(struct fs_http_request *req, void *context)
{
	struct test *t = context;

	t->progress_calls++;
}

static const struct fs_http_callbacks counting_callbacks = {
	.sign = count_sign,
	.done = count_done,
	.progress = count_progress,
};

/* Reads the next bytes of a streamed response into buf, waiting while none
   are there, and checks them against pattern(version) from offset + *pos;
   advances *pos. Returns the count, 0 at the end or -errno. */
static ssize_t read_some(struct test *t, struct fs_http_request *req,
			 unsigned char *buf, size_t size, unsigned int version,
			 uint64_t offset, uint64_t *pos)
{
	ssize_t n, i;

	while ((n = fs_http_request_read(req, buf, size)) == -EAGAIN)
		assert_int_equal(fs_http_wait(t->http, 10000), 0);
	for (i = 0; i < n; i++) {
		if (buf[i] != pattern(offset + *pos + (uint64_t)i, version))
			fail_msg("byte %llu differs",
				 (unsigned long long)(*pos + (uint64_t)i));
	}
	if (n > 0)
		*pos += (uint64_t)n;
	return n;
}

/* Reads a streamed response to the end, checking every byte against
   pattern(version). Returns the result (0 or -errno); *size_r gets the bytes
   read. */
static int read_stream(struct test *t, struct fs_http_request *req,
		       unsigned int version, uint64_t offset, uint64_t *size_r)
{
	unsigned char buf[4096];
	ssize_t n;

	*size_r = 0;
	do {
		n = read_some(t, req, buf, sizeof(buf), version, offset,
			      size_r);
	} while (n > 0);
	return (int)n;
}

/* Writes data[0..size) into a streamed request body, waiting while the
   transfer takes nothing. Returns the bytes taken (> 0). */
static size_t write_some(struct test *t, struct fs_http_request *req,
			 const void *data, size_t size)
{
	ssize_t n;

	while ((n = fs_http_request_write(req, data, size)) == -EAGAIN)
		assert_int_equal(fs_http_wait(t->http, 10000), 0);
	assert_true(n > 0);
	return (size_t)n;
}

/* Ends a streamed request body and waits for the response. */
static void write_end(struct test *t, struct fs_http_request *req)
{
	assert_int_equal(fs_http_request_write_end(req), 0);
	wait_done(t, req);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                      */

static void test_keepalive_reuse(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	size_t size;
	int i;

	start_server(t, MODE_SMALL);
	for (i = 0; i < 5; i++) {
		req = req_new(t, "GET", "/small");
		assert_int_equal(run(t, req), 0);
		assert_int_equal(fs_http_request_status(req), 200);
		assert_string_equal(fs_http_request_body(req, &size), "hello");
		assert_int_equal(size, 5);
		fs_http_request_deinit(&req);
		assert_null(req);
	}
	assert_int_equal(server_requests(&t->srv), 5);
	assert_int_equal(t->srv.connections, 1);
}

static void test_many_in_flight(void **state)
{
	struct test *t = *state;
	struct fs_http_request *reqs[INFLIGHT];
	unsigned int i, done;

	start_server(t, MODE_CONCURRENT);
	for (i = 0; i < INFLIGHT; i++) {
		reqs[i] = req_new(t, "GET", "/slow");
		fs_http_request_set_callbacks(reqs[i], &counting_callbacks, t);
		assert_int_equal(fs_http_request_start(reqs[i]), 0);
	}
	assert_int_equal(fs_http_pending(t->http), INFLIGHT);
	while (fs_http_pending(t->http) > 0)
		assert_int_equal(fs_http_wait(t->http, 10000), 0);
	for (i = 0, done = 0; i < INFLIGHT; i++) {
		assert_int_equal(fs_http_request_result(reqs[i]), 0);
		assert_string_equal(fs_http_request_body(reqs[i], NULL), "ok");
		done++;
		fs_http_request_deinit(&reqs[i]);
	}
	assert_int_equal(done, INFLIGHT);
	assert_int_equal(t->done_calls, INFLIGHT);
	assert_int_equal(t->sign_calls, INFLIGHT);
	/* The server held every request until all 32 were in at once. */
	assert_int_equal(t->srv.max_in_flight, INFLIGHT);
}

/* Drives the transfer without reading until it paused on the full buffer. */
static void fill_until_paused(struct test *t, struct fs_http_request *req)
{
	int i;

	for (i = 0; i < 1000 && !fs_http_request_paused(req); i++)
		assert_int_equal(fs_http_wait(t->http, 10), 0);
	assert_true(fs_http_request_paused(req));
	assert_true(fs_http_request_pauses(req) > 0);
	/* Paused on a full buffer, and resumed only once the reader took
	   half of it. */
	assert_true(fs_http_request_buffered(req) > FS_HTTP_STREAM_BUFFER / 2);
	assert_true(fs_http_request_buffered(req) <= FS_HTTP_STREAM_BUFFER);
}

/* A server that ignores the Range and sends the whole object (200): the
   reader still gets exactly its range, cut from the body. */
static void test_range_ignored_by_server(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req = start_stream(t, MODE_BIG, "/big");
	const uint64_t offset = 100000, length = 300000;
	uint64_t size = 0;

	fs_http_request_set_range(req, offset, length);
	assert_int_equal(fs_http_request_start(req), 0);
	assert_int_equal(read_stream(t, req, 1, offset, &size), 0);
	assert_int_equal(size, length);
	assert_int_equal(fs_http_request_status(req), 200);
	fs_http_request_deinit(&req);

	/* open-ended: from offset to the end */
	req = req_new(t, "GET", "/big");
	fs_http_request_set_response_stream(req);
	fs_http_request_set_range(req, BIG_SIZE - 5000, UINT64_MAX);
	assert_int_equal(fs_http_request_start(req), 0);
	assert_int_equal(read_stream(t, req, 1, BIG_SIZE - 5000, &size), 0);
	assert_int_equal(size, 5000);
	fs_http_request_deinit(&req);
}

static void test_stream_big_slow_reader(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	unsigned char *buf = malloc(4096);
	uint64_t pos = 0, next_break = 0;
	ssize_t n;

	/* The reader sleeps longer than the stall timeout: a transfer paused
	   because of us must not count as stalled. */
	t->fs.set.stall_timeout_ms = 200;
	req = start_stream(t, MODE_BIG, "/big");
	assert_int_equal(fs_http_request_start(req), 0);
	do {
		if (pos >= next_break && pos < BIG_SIZE - (1u << 20)) {
			fill_until_paused(t, req);
			usleep(300000);
			next_break += 16u * 1024 * 1024;
		}
		n = read_some(t, req, buf, 4096, 1, 0, &pos);
	} while (n > 0);
	assert_int_equal(n, 0);
	assert_int_equal(pos, BIG_SIZE);
	assert_int_equal(fs_http_request_status(req), 200);
	assert_string_equal(fs_http_request_header(req, "ETAG"), "\"v1\"");
	assert_true(fs_http_request_pauses(req) >= 4);
	assert_true(fs_http_request_buffered_max(req) <= FS_HTTP_STREAM_BUFFER);
	assert_true(fs_http_request_buffered_max(req) > 0);
	assert_int_equal(fs_http_request_attempt(req), 1);
	assert_int_equal(server_requests(&t->srv), 1);
	fs_http_request_deinit(&req);
	free(buf);
}

static void upload_stream(struct test *t, int64_t declared)
{
	const size_t total = 8u * 1024 * 1024;
	unsigned char *chunk = malloc(65536);
	struct fs_http_request *req;
	uint32_t hash = 2166136261u;
	size_t pos = 0, i, len, n;

	req = start_upload(t, MODE_UPLOAD, declared);
	while (pos < total) {
		len = total - pos < 65536 ? total - pos : 65536;
		for (i = 0; i < len; i++)
			chunk[i] = pattern(pos + i, 3);
		n = write_some(t, req, chunk, len);
		hash = hash_update(hash, chunk, n);
		pos += n;
	}
	write_end(t, req);
	assert_int_equal(fs_http_request_result(req), 0);
	assert_int_equal(fs_http_request_status(req), 200);
	assert_string_equal(fs_http_request_body(req, NULL), "stored");
	assert_true(fs_http_request_buffered_max(req) <= FS_HTTP_STREAM_BUFFER);
	assert_int_equal(server_requests(&t->srv), 1);
	assert_int_equal(t->srv.upload_bytes, total);
	assert_int_equal(t->srv.upload_hash, hash);
	if (declared < 0)
		assert_string_equal(t->srv.transfer_encoding[0], "chunked");
	else
		assert_string_equal(t->srv.transfer_encoding[0], "");
	fs_http_request_deinit(&req);
	free(chunk);
}

static void test_stream_upload_chunked(void **state)
{
	upload_stream(*state, -1);
}

static void test_stream_upload_sized(void **state)
{
	upload_stream(*state, 8 * 1024 * 1024);
}

static void test_503_then_200_resigned(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;

	req = start_fail_first(t, 503, "busy", "GET");
	fs_http_request_set_callbacks(req, &counting_callbacks, t);
	assert_int_equal(run(t, req), 0);
	assert_int_equal(fs_http_request_status(req), 200);
	assert_string_equal(fs_http_request_body(req, NULL), "ok");
	assert_int_equal(server_requests(&t->srv), 2);
	assert_int_equal(t->sign_calls, 2);
	assert_string_equal(t->srv.auth[0], "sig-1");
	assert_string_equal(t->srv.auth[1], "sig-2");
	assert_int_equal(t->done_calls, 1);
	assert_int_equal(fs_http_request_attempt(req), 2);
	assert_int_equal(t->fs.stats.ops[FS_OP_READ].retries, 1);
	fs_http_request_deinit(&req);
}

static bool s3_retryable(struct fs_http_request *req, void *context)
{
	long status = fs_http_request_status(req);

	if (status == 400)
		return strstr(fs_http_request_body(req, NULL),
			      "<Code>RequestTimeout</Code>") != NULL;
	return status >= 500 || status == 429;
}

static void test_400_request_timeout_retryable(void **state)
{
	struct test *t = *state;
	const struct fs_http_callbacks cb = {.retryable = s3_retryable};
	struct fs_http_request *req;

	req = start_fail_first(
		t, 400, "<Error><Code>RequestTimeout</Code></Error>", "PUT");
	fs_http_request_set_body(req, "data", 4);
	fs_http_request_set_callbacks(req, &cb, t);
	assert_int_equal(run(t, req), 0);
	assert_int_equal(server_requests(&t->srv), 2);
	fs_http_request_deinit(&req);

	/* A plain 400 is final. */
	t->srv.fail_body = "<Error><Code>InvalidArgument</Code></Error>";
	pthread_mutex_lock(&t->srv.lock);
	t->srv.requests = 0;
	pthread_mutex_unlock(&t->srv.lock);
	req = req_new(t, "PUT", "/x");
	fs_http_request_set_body(req, "data", 4);
	fs_http_request_set_callbacks(req, &cb, t);
	assert_int_equal(run(t, req), -EIO);
	assert_int_equal(fs_http_request_status(req), 400);
	assert_int_equal(server_requests(&t->srv), 1);
	fs_http_request_deinit(&req);
}

static void test_429_retry_after(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;

	req = start_fail_first(t, 429, "slow down", "GET");
	assert_int_equal(run(t, req), 0);
	assert_int_equal(server_requests(&t->srv), 2);
	/* Retry-After: 1 wins over the 10..50 ms backoff. */
	assert_true(t->srv.times[1] - t->srv.times[0] >= 950000);
	fs_http_request_deinit(&req);
}

static void test_post_not_retried(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	const char *msg;

	req = start_request(t, MODE_ALWAYS_503, "POST", "/upload?uploads");
	fs_http_request_set_body(req, "<x/>", 4);
	assert_int_equal(run(t, req), -EIO);
	assert_int_equal(fs_http_request_status(req), 503);
	assert_int_equal(server_requests(&t->srv), 1);
	assert_string_equal(t->srv.method[0], "POST");
	assert_int_equal(t->fs.stats.ops[FS_OP_READ].retries, 0);
	msg = error_msg(req, -EIO);
	assert_contains(msg, "POST http://127.0.0.1:");
	assert_contains(msg, "HTTP 503");
	fs_http_request_deinit(&req);
}

static void test_503_error_message(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	const char *msg;
	char expect[256];

	t->fs.set.max_retries = 1;
	req = start_request(t, MODE_ALWAYS_503, "GET", "/b/k");
	assert_int_equal(run(t, req), -EIO);
	assert_int_equal(server_requests(&t->srv), 2);
	assert_int_equal(
		fs_http_request_set_server_error(req, "SlowDown", "REQ42"), 0);
	msg = error_msg(req, -EIO);
	snprintf(expect, sizeof(expect),
		 "GET http://127.0.0.1:%u/b/k: HTTP 503 SlowDown (request id "
		 "REQ42, after 2 attempts)",
		 t->srv.port);
	assert_string_equal(msg, expect);
	assert_contains(fs_http_request_body(req, NULL), "<Code>SlowDown");
	fs_http_request_deinit(&req);
}

static void test_resume_range_if_match(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	unsigned long long start = 0;
	uint64_t size = 0;
	int n = 0;

	req = start_stream(t, MODE_RESUME, "/obj");
	assert_int_equal(fs_http_request_start(req), 0);
	assert_int_equal(read_stream(t, req, 1, 0, &size), 0);
	assert_int_equal(size, RESUME_SIZE);
	assert_int_equal(server_requests(&t->srv), 2);
	assert_string_equal(t->srv.range[0], "");
	assert_int_equal(sscanf(t->srv.range[1], "bytes=%llu-%n", &start, &n),
			 1);
	assert_true(n > 0 && t->srv.range[1][n] == '\0');
	assert_true(start > 0 && start <= RESUME_CUT);
	assert_string_equal(t->srv.if_match[1], "\"v1\"");
	/* The first response's headers stay the ones exposed. */
	assert_int_equal(fs_http_request_status(req), 200);
	assert_int_equal(t->fs.stats.ops[FS_OP_READ].retries, 1);
	fs_http_request_deinit(&req);
}

static void test_resume_ranged(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	unsigned long long start = 0, last = 0;
	uint64_t size = 0;

	req = start_stream(t, MODE_RESUME, "/obj");
	fs_http_request_set_range(req, 1000, 500000);
	assert_int_equal(fs_http_request_start(req), 0);
	assert_int_equal(read_stream(t, req, 1, 1000, &size), 0);
	assert_int_equal(size, 500000);
	assert_int_equal(server_requests(&t->srv), 2);
	assert_string_equal(t->srv.range[0], "bytes=1000-500999");
	assert_int_equal(
		sscanf(t->srv.range[1], "bytes=%llu-%llu", &start, &last), 2);
	assert_true(start > 1000 && start <= 1000 + RESUME_CUT);
	assert_int_equal(last, 500999);
	assert_string_equal(t->srv.if_match[1], "\"v1\"");
	assert_int_equal(fs_http_request_status(req), 206);
	fs_http_request_deinit(&req);
}

/* The first response is cut and resuming is refused: no ETag to resume with,
   or the object changed. Only bytes of version (pattern) are ever returned,
   then -EIO after requests requests, with a message saying why. */
static void resume_refused(struct test *t, enum srv_mode mode,
			   unsigned int version, unsigned int requests,
			   const char *why)
{
	struct fs_http_request *req;
	uint64_t size = 0;

	req = start_stream(t, mode, "/obj");
	assert_int_equal(fs_http_request_start(req), 0);
	assert_int_equal(read_stream(t, req, version, 0, &size), -EIO);
	assert_true(size <= RESUME_CUT);
	assert_int_equal(server_requests(&t->srv), requests);
	if (requests > 1)
		assert_string_equal(t->srv.if_match[1], "\"v1\"");
	assert_contains(error_msg(req, -EIO), why);
	fs_http_request_deinit(&req);
}

static void test_no_etag_no_resume(void **state)
{
	resume_refused(*state, MODE_NO_ETAG, 0, 1,
		       "not retried: cannot resume without an ETag");
}

static void test_stream_upload_not_retried(void **state)
{
	struct test *t = *state;
	const size_t total = 1024 * 1024;
	unsigned char *data = calloc(1, total);
	struct fs_http_request *req;
	size_t pos = 0;

	req = start_upload(t, MODE_UPLOAD_503, (int64_t)total);
	while (pos < total)
		pos += write_some(t, req, data + pos, total - pos);
	write_end(t, req);
	assert_int_equal(fs_http_request_result(req), -EIO);
	assert_int_equal(fs_http_request_status(req), 503);
	assert_int_equal(fs_http_request_attempt(req), 1);
	assert_int_equal(server_requests(&t->srv), 1);
	assert_int_equal(t->srv.upload_bytes, total);
	/* The writer learns the failure too. */
	assert_int_equal(fs_http_request_write_end(req), -EIO);
	fs_http_request_deinit(&req);
	free(data);
}

static void test_stream_not_found(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	char buf[16];

	req = start_stream(t, MODE_NOT_FOUND, "/missing");
	fs_http_request_set_callbacks(req, &counting_callbacks, t);
	assert_int_equal(fs_http_request_start(req), 0);
	while (fs_http_request_read(req, buf, sizeof(buf)) == -EAGAIN)
		assert_int_equal(fs_http_wait(t->http, 10000), 0);
	assert_int_equal(fs_http_request_read(req, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(fs_http_request_status(req), 404);
	assert_contains(fs_http_request_body(req, NULL), "NoSuchKey");
	assert_int_equal(server_requests(&t->srv), 1);
	assert_int_equal(t->done_calls, 1);
	fs_http_request_deinit(&req);
}

static void test_etag_changed_412(void **state)
{
	resume_refused(*state, MODE_ETAG_412, 1, 2, "changed");
}

static void test_etag_changed_200(void **state)
{
	resume_refused(*state, MODE_ETAG_200, 1, 2, "changed");
}

static void test_stall_timeout(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	uint64_t size = 0, start;
	const char *msg;

	t->fs.set.stall_timeout_ms = 300;
	t->fs.set.total_timeout_ms = 10000;
	t->fs.set.max_retries = 1;
	req = start_stream(t, MODE_STALL, "/obj");
	start = now_usec();
	assert_int_equal(fs_http_request_start(req), 0);
	assert_int_equal(read_stream(t, req, 1, 0, &size), -ETIMEDOUT);
	/* Two attempts of ~300 ms each, far inside the 10 s deadline. */
	assert_true(now_usec() - start < 5000000);
	assert_int_equal(size, 128 * 1024);
	assert_int_equal(server_requests(&t->srv), 2);
	msg = error_msg(req, -ETIMEDOUT);
	assert_contains(msg, "stall");
	assert_contains(msg, "after 2 attempts");
	fs_http_request_deinit(&req);
}

static void test_total_deadline(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	uint64_t start;
	const char *msg;

	t->fs.set.total_timeout_ms = 700;
	t->fs.set.max_retries = 1000;
	t->fs.set.retry_base_ms = 50;
	t->fs.set.retry_max_ms = 100;
	req = start_request(t, MODE_ALWAYS_503, "GET", "/x");
	start = now_usec();
	assert_int_equal(run(t, req), -ETIMEDOUT);
	assert_true(now_usec() - start < 700000 + 500000);
	assert_true(server_requests(&t->srv) >= 3);
	/* The deadline may cut an attempt before the server logged it. */
	assert_in_range(fs_http_request_attempt(req), server_requests(&t->srv),
			server_requests(&t->srv) + 1);
	msg = error_msg(req, -ETIMEDOUT);
	assert_contains(msg, "deadline of 700 ms");
	assert_contains(msg, "last error: HTTP 503");
	fs_http_request_deinit(&req);
}

/* A streamed body that keeps flowing outlives the total deadline: the
   deadline covers attempts, backoff and the wait for headers, the stall
   timeout guards the flow. A body kept in memory is no stream: there the
   deadline still cuts. */
static void test_deadline_spares_flowing_stream(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	uint64_t size = 0, start;

	t->fs.set.total_timeout_ms = 300;
	t->fs.set.stall_timeout_ms = 2000;
	t->fs.set.max_retries = FS_SETTINGS_NO_RETRY;
	req = start_stream(t, MODE_DRIP, "/drip");
	start = now_usec();
	assert_int_equal(fs_http_request_start(req), 0);
	assert_int_equal(read_stream(t, req, 1, 0, &size), 0);
	assert_int_equal(size, DRIP_SIZE);
	/* It took far longer than the deadline. */
	assert_true(now_usec() - start > 3 * 300000);
	assert_int_equal(fs_http_request_attempt(req), 1);
	fs_http_request_deinit(&req);

	req = req_new(t, "GET", "/drip");
	fs_http_request_set_response_max(req, 2 * DRIP_SIZE);
	assert_int_equal(run(t, req), -ETIMEDOUT);
	assert_contains(error_msg(req, -ETIMEDOUT), "deadline of 300 ms");
	fs_http_request_deinit(&req);
}

static void test_connect_refused(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	const char *msg;
	char url[128];
	int fd;

	/* A bound socket that never listens: connecting to it is refused,
	   and no other process can take the port meanwhile. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	t->fs.set.max_retries = 2;
	http_new(t);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/k",
		 ntohs(addr.sin_port));
	assert_int_equal(
		fs_http_request_init(t->http, FS_OP_STAT, "HEAD", url, &req),
		0);
	assert_int_equal(run(t, req), -EIO);
	assert_int_equal(fs_http_request_attempt(req), 3);
	assert_int_equal(t->fs.stats.ops[FS_OP_STAT].retries, 2);
	assert_int_equal(fs_http_request_status(req), 0);
	msg = error_msg(req, -EIO);
	assert_contains(msg, "HEAD http://127.0.0.1:");
	assert_contains(msg, "Failed to connect to 127.0.0.1");
	assert_contains(msg, "after 3 attempts");
	fs_http_request_deinit(&req);
	close(fd);
}

static void test_memory_cap(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;

	req = start_request(t, MODE_HUGE_XML, "GET", "/list");
	assert_int_equal(run(t, req), -EIO);
	assert_int_equal(fs_http_request_attempt(req), 1);
	assert_contains(error_msg(req, -EIO), "over 1048576 bytes");
	fs_http_request_deinit(&req);
}

/* Content-Range values: the range, and the total where it is a number. */
static void test_content_range(void **state)
{
	uint64_t first, last, total;

	(void)state;
	assert_true(fs_http_parse_content_range("bytes 3-6/10", &first, &last,
						&total));
	assert_int_equal(first, 3);
	assert_int_equal(last, 6);
	assert_int_equal(total, 10);
	assert_true(fs_http_parse_content_range("bytes 0-0/*", &first, &last,
						&total));
	assert_int_equal(total, UINT64_MAX);
	assert_true(fs_http_parse_content_range("bytes 0-9/12x", &first, &last,
						&total));
	assert_int_equal(total, UINT64_MAX);
	assert_true(fs_http_parse_content_range("bytes 5-9/10", &first, &last,
						NULL));
	assert_false(fs_http_parse_content_range("bytes 9-5/10", &first, &last,
						 &total));
	assert_false(fs_http_parse_content_range("bytes 0-9", &first, &last,
						 &total));
	assert_false(fs_http_parse_content_range("items 0-9/10", &first, &last,
						 &total));
	assert_false(fs_http_parse_content_range(NULL, &first, &last, &total));
}

static void test_status_table(void **state)
{
	static const struct {
		long status;
		const char *method;
		int err;
	} statuses[] = {
		{200, "GET", 0},	 {204, "DELETE", 0},
		{206, "GET", 0},	 {304, "GET", 0},
		{301, "GET", -EIO},	 {400, "GET", -EIO},
		{401, "GET", -EACCES},	 {403, "PUT", -EACCES},
		{404, "GET", -ENOENT},	 {405, "GET", -EIO},
		{405, "MKCOL", -EEXIST}, {408, "GET", -ETIMEDOUT},
		{409, "PUT", -EEXIST},	 {412, "PUT", -EEXIST},
		{413, "PUT", -EFBIG},	 {416, "GET", -EIO},
		{429, "GET", -EIO},	 {500, NULL, -EIO},
		{503, "GET", -EIO},	 {504, "GET", -ETIMEDOUT},
		{507, "PUT", -ENOSPC},	 {599, "PUT", -EIO},
	};
	size_t i;
	int err;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		err = fs_http_status_errno(statuses[i].status,
					   statuses[i].method);
		if (err != statuses[i].err)
			fail_msg("HTTP %ld (%s): %d %s, expected %d %s",
				 statuses[i].status,
				 statuses[i].method != NULL ? statuses[i].method
							    : "no method",
				 err, fs_errno_name(err), statuses[i].err,
				 fs_errno_name(statuses[i].err));
	}

	assert_int_equal(fs_http_curl_errno(CURLE_OK), 0);
	assert_int_equal(fs_http_curl_errno(CURLE_OPERATION_TIMEDOUT),
			 -ETIMEDOUT);
	assert_int_equal(fs_http_curl_errno(CURLE_COULDNT_CONNECT), -EIO);
	assert_int_equal(fs_http_curl_errno(CURLE_OUT_OF_MEMORY), -ENOMEM);
	assert_int_equal(fs_http_curl_errno(CURLE_PEER_FAILED_VERIFICATION),
			 -EIO);
	assert_true(fs_http_curl_transient(CURLE_COULDNT_CONNECT));
	assert_true(fs_http_curl_transient(CURLE_RECV_ERROR));
	assert_true(fs_http_curl_transient(CURLE_PARTIAL_FILE));
	assert_true(fs_http_curl_transient(CURLE_OPERATION_TIMEDOUT));
	assert_false(fs_http_curl_transient(CURLE_PEER_FAILED_VERIFICATION));
	assert_false(fs_http_curl_transient(CURLE_URL_MALFORMAT));
}

static void test_redact_url(void **state)
{
	char buf[512];

	fs_http_redact_url("https://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
			   "X-Amz-Credential=AKIDs3cr3t%2F20240101&X-Amz-Date="
			   "20240101T000000Z&X-Amz-Signature=abcs3cr3t&x-id=1",
			   buf, sizeof(buf));
	assert_string_equal(buf, "https://h/b/k?X-Amz-Algorithm=AWS4-HMAC-"
				 "SHA256&X-Amz-Credential=***&X-Amz-Date="
				 "20240101T000000Z&X-Amz-Signature=***&x-id=1");
	fs_http_redact_url("http://user:pa55s3cr3t@dav.example/x?signature=s3"
			   "cr3t#frag",
			   buf, sizeof(buf));
	assert_string_equal(buf,
			    "http://user:***@dav.example/x?signature=***#frag");
	fs_http_redact_url("http://h/k?AWSAccessKeyId=AKIA&Expires=1&"
			   "x-amz-security-token=tok",
			   buf, sizeof(buf));
	assert_string_equal(buf, "http://h/k?AWSAccessKeyId=***&Expires=1&"
				 "x-amz-security-token=***");
	fs_http_redact_url("http://user@h/p", buf, sizeof(buf));
	assert_string_equal(buf, "http://user@h/p");
	/* Truncation keeps the buffer terminated. */
	fs_http_redact_url("http://h/k?Signature=s3cr3t", buf, 16);
	assert_string_equal(buf, "http://h/k?Sign");
	assert_true(fs_http_header_is_secret("authorization"));
	assert_true(fs_http_header_is_secret("X-Amz-Security-Token"));
	assert_true(fs_http_header_is_secret("Cookie"));
	assert_false(fs_http_header_is_secret("Range"));
}

static int secret_sign(struct fs_http_request *req, void *context)
{
	return fs_http_request_set_attempt_header(
		req, "Authorization",
		"AWS4-HMAC-SHA256 Credential=AKIDs3cr3t/x, "
		"Signature=sigs3cr3t");
}

static char *read_file(FILE *file)
{
	static char text[65536];
	size_t len;

	rewind(file);
	len = fread(text, 1, sizeof(text) - 1, file);
	text[len] = '\0';
	return text;
}

static void test_redact_trace_and_message(void **state)
{
	struct test *t = *state;
	const struct fs_http_callbacks cb = {.sign = secret_sign};
	struct fs_http_request *req;
	FILE *trace = tmpfile();
	const char *msg;
	char *text;
	int saved;

	t->fs.set.debug = FS_DEBUG_HTTP;
	t->fs.set.max_retries = 1;
	req = start_request(
		t, MODE_ALWAYS_503, "GET",
		"/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
		"AKIDs3cr3t&X-Amz-Signature=abcs3cr3t");
	fs_http_request_set_callbacks(req, &cb, t);
	assert_int_equal(fs_http_request_add_header(req, "X-Amz-Security-Token",
						    "toks3cr3t"),
			 0);
	assert_int_equal(fs_http_request_add_header(req, "Cookie", "c=s3cr3t"),
			 0);
	assert_int_equal(fs_http_request_add_header(req, "X-Trace", "visible"),
			 0);

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(trace), STDERR_FILENO);
	assert_int_equal(run(t, req), -EIO);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	text = read_file(trace);
	assert_lacks(text, "s3cr3t");
	assert_contains(text, "libfs http: > GET http://127.0.0.1:");
	assert_contains(text, "X-Amz-Credential=***");
	assert_contains(text, "X-Amz-Signature=***");
	assert_contains(text, "Authorization: ***");
	assert_contains(text, "X-Amz-Security-Token: ***");
	assert_contains(text, "Cookie: ***");
	assert_contains(text, "X-Trace: visible");
	assert_contains(text, "attempt 2");
	assert_contains(text, "HTTP 503");
	assert_contains(text, "x-amz-request-id: REQ42");
	fclose(trace);

	msg = error_msg(req, -EIO);
	assert_lacks(msg, "s3cr3t");
	assert_contains(msg, "X-Amz-Signature=***");
	assert_contains(msg, "HTTP 503 (request id REQ42, after 2 attempts)");
	fs_http_request_deinit(&req);
}

static char *bio_string(BIO *bio)
{
	char *data, *copy;
	long len = BIO_get_mem_data(bio, &data);

	copy = strndup(data, (size_t)len);
	BIO_free(bio);
	return copy;
}

/* A self-signed certificate for IP 127.0.0.1, made here. */
static void make_cert(char **cert_r, char **key_r)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	BIO *bio;

	assert_non_null(key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"127.0.0.1", -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
				  "IP:127.0.0.1");
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, x);
	*cert_r = bio_string(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	*key_r = bio_string(bio);
	X509_free(x);
	EVP_PKEY_free(key);
}

static int https_get(struct test *t, char *msg, size_t size)
{
	struct fs_http_request *req;
	char url[128];
	int ret;

	fs_http_deinit(&t->http);
	http_new(t);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/tls", t->srv.port);
	assert_int_equal(
		fs_http_request_init(t->http, FS_OP_READ, "GET", url, &req), 0);
	ret = run(t, req);
	fs_http_request_error(req, msg, size);
	if (ret == 0)
		assert_string_equal(fs_http_request_body(req, NULL), "hello");
	fs_http_request_deinit(&req);
	return ret;
}

static void test_tls_verification(void **state)
{
	struct test *t = *state;
	char ca_file[] = "/tmp/libfs-test-http-ca-XXXXXX", msg[512];
	int fd;

	make_cert(&t->srv.tls_cert, &t->srv.tls_key);
	server_start(&t->srv, MODE_SMALL);
	fd = mkstemp(ca_file);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, t->srv.tls_cert, strlen(t->srv.tls_cert)),
			 (ssize_t)strlen(t->srv.tls_cert));
	close(fd);

	/* On by default: an unknown CA is refused, and not retried. */
	assert_int_equal(https_get(t, msg, sizeof(msg)), -EIO);
	assert_int_equal(server_requests(&t->srv), 0);
	assert_contains(msg, "GET https://127.0.0.1:");
	assert_contains(msg, "certificate");
	assert_int_equal(t->fs.stats.ops[FS_OP_READ].retries, 0);

	/* Trusted through ca_file. */
	t->fs.set.ca_file = ca_file;
	assert_int_equal(https_get(t, msg, sizeof(msg)), 0);
	assert_int_equal(server_requests(&t->srv), 1);

	/* Or not verified at all when asked. */
	t->fs.set.ca_file = NULL;
	t->fs.set.tls_insecure = true;
	assert_int_equal(https_get(t, msg, sizeof(msg)), 0);
	assert_int_equal(server_requests(&t->srv), 2);
	unlink(ca_file);
}

static void deinit_in_done(struct fs_http_request *req, void *context)
{
	struct fs_http_request **slot = context;

	fs_http_request_deinit(slot);
}

static void test_free_in_callback_and_cancel(void **state)
{
	struct test *t = *state;
	const struct fs_http_callbacks cb = {.done = deinit_in_done};
	struct fs_http_request *req, *other;

	req = start_request(t, MODE_SMALL, "GET", "/a");
	fs_http_request_set_callbacks(req, &cb, &req);
	assert_int_equal(fs_http_request_start(req), 0);
	while (req != NULL)
		assert_int_equal(fs_http_wait(t->http, 10000), 0);
	assert_int_equal(fs_http_pending(t->http), 0);

	/* Freeing the transport cancels what runs; the owner frees later. */
	other = req_new(t, "GET", "/b");
	assert_int_equal(fs_http_request_start(other), 0);
	assert_int_equal(fs_http_pending(t->http), 1);
	fs_http_deinit(&t->http);
	assert_null(t->http);
	assert_int_equal(fs_http_request_result(other), -ECANCELED);
	fs_http_request_deinit(&other);
}

static void test_bad_input(void **state)
{
	struct test *t = *state;
	struct fs_http_request *req;

	http_new(t);
	assert_int_equal(fs_http_request_init(t->http, FS_OP_READ, "GET",
					      "ftp://h/x", &req),
			 -EINVAL);
	assert_null(req);
	assert_int_equal(fs_http_request_init(t->http, FS_OP_READ, "G T",
					      "http://h/x", &req),
			 -EINVAL);
	assert_int_equal(fs_http_request_init(t->http, FS_OP_READ, "GET",
					      "http://h/x y", &req),
			 -EINVAL);
	assert_int_equal(fs_http_request_init(t->http, FS_OP_READ, "GET",
					      "http://127.0.0.1:1/x", &req),
			 0);
	assert_int_equal(fs_http_request_add_header(req, "X-A", "a\r\nB: c"),
			 -EINVAL);
	assert_int_equal(fs_http_request_add_header(req, "X A", "a"), -EINVAL);
	assert_int_equal(fs_http_request_add_header(req, "", "a"), -EINVAL);
	assert_int_equal(fs_http_request_read(req, NULL, 0), -EINVAL);
	assert_int_equal(fs_http_request_write(req, "x", 1), -EINVAL);
	fs_http_request_deinit(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_content_range),
		cmocka_unit_test(test_redact_url),
		cmocka_unit_test_setup_teardown(test_bad_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_reuse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_range_ignored_by_server,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_big_slow_reader,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_upload_chunked,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_upload_sized, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_503_then_200_resigned,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_400_request_timeout_retryable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_429_retry_after, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_post_not_retried, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_503_error_message, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resume_range_if_match,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_ranged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_etag_no_resume, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stream_upload_not_retried,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_not_found, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_etag_changed_412, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_etag_changed_200, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stall_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_total_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_deadline_spares_flowing_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_memory_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_redact_trace_and_message,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_free_in_callback_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_verification, setup,
						teardown),
	};

	/* Only 127.0.0.1 is reached; no proxy variable may redirect it. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("all_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("HTTPS_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("LIBFS_DEBUG");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
