/*
 * The server: libmicrohttpd with a thread per connection, the request life
 * cycle, replies (with injected faults), counters and the public API.
 *
 * Request flow: MHD calls mock_uri_log() with the raw request target, which
 * creates the struct mock_request; then mock_access() once the headers are
 * in (mock_request_begin()), once per piece of body (mock_request_body())
 * and once more at the end (mock_request_end()); mock_completed() frees it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "dav.h"
#include "drivers/s3/sigv4.h"
#include "mock-private.h"

#define MOCK_ADMIN_PREFIX "/_mock/"
#define MOCK_ADMIN_BODY_MAX (64 * 1024)
#define MOCK_STREAM_BLOCK (64 * 1024)
#define MOCK_CONNECTION_MEMORY (256 * 1024)
#define MOCK_CONNECTION_TIMEOUT_SECS 120

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

void mock_fs_lock(struct fs_mock *mock)
{
	pthread_mutex_lock(&mock->fs_lock);
}

void mock_fs_unlock(struct fs_mock *mock)
{
	pthread_mutex_unlock(&mock->fs_lock);
}

void mock_count(struct fs_mock *mock, const char *name, uint64_t n)
{
	pthread_mutex_lock(&mock->lock);
	mock_counters_add(&mock->counters, name, n);
	pthread_mutex_unlock(&mock->lock);
}

void mock_sleep_ms(struct fs_mock *mock, uint64_t ms)
{
	struct timespec ts;
	uint64_t step;

	while (ms > 0 && !mock->stopping) {
		step = ms > 50 ? 50 : ms;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(step * 1000000);
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

void mock_log(struct fs_mock *mock, const char *fmt, ...)
{
	char line[1024];
	va_list args;

	if (!mock->log_requests)
		return;
	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	fprintf(stderr, "fs-mockserver: %s\n", line);
}

static void mock_mhd_log(void *cls, const char *fmt, va_list args)
{
	struct fs_mock *mock = cls;

	if (!mock->log_requests)
		return;
	fputs("fs-mockserver: libmicrohttpd: ", stderr);
	vfprintf(stderr, fmt, args);
}

const char *mock_header(struct mock_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->header_count; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	}
	return NULL;
}

const char *mock_param(struct mock_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->param_count; i++) {
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	}
	return NULL;
}

bool mock_has_param(struct mock_request *req, const char *name)
{
	return mock_param(req, name) != NULL;
}

int mock_request_fd(struct mock_request *req)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(req->conn,
				       MHD_CONNECTION_INFO_CONNECTION_FD);
	return info == NULL ? -1 : info->connect_fd;
}

/* Makes the kernel reset the connection now: with a zero linger, a TCP
   disconnect (connect() to AF_UNSPEC) sends RST and leaves MHD an
   unconnected socket to close as usual. */
static void mock_reset_fd(int fd)
{
	struct linger lin = {.l_onoff = 1, .l_linger = 0};
	struct sockaddr sa;

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNSPEC;
	if (connect(fd, &sa, sizeof(sa)) < 0)
		shutdown(fd, SHUT_RDWR);
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                    */

struct mock_reply *mock_reply_new(unsigned int status)
{
	struct mock_reply *reply = calloc(1, sizeof(*reply));

	if (reply != NULL)
		reply->status = status;
	return reply;
}

void mock_reply_free(struct mock_reply **_reply)
{
	struct mock_reply *reply = *_reply;
	size_t i;

	if (reply == NULL)
		return;
	*_reply = NULL;
	for (i = 0; i < reply->header_count; i++) {
		free((char *)reply->headers[i].name);
		free((char *)reply->headers[i].value);
	}
	free(reply->headers);
	mock_buf_free(&reply->body);
	free(reply);
}

/* Frees a reply that will not be sent, closing its file. */
static void mock_reply_discard(struct fs_mock *mock, struct mock_reply **reply)
{
	if (*reply != NULL && (*reply)->file != NULL) {
		mock_fs_lock(mock);
		fs_file_deinit(&(*reply)->file);
		mock_fs_unlock(mock);
	}
	mock_reply_free(reply);
}

void mock_reply_header(struct mock_reply *reply, const char *name,
		       const char *value)
{
	struct mock_header *headers;
	size_t alloc;

	if (reply->header_count == reply->header_alloc) {
		alloc = reply->header_alloc == 0 ? 8 : reply->header_alloc * 2;
		headers = realloc(reply->headers, alloc * sizeof(*headers));
		if (headers == NULL) {
			reply->failed = true;
			return;
		}
		reply->headers = headers;
		reply->header_alloc = alloc;
	}
	headers = &reply->headers[reply->header_count];
	headers->name = strdup(name);
	headers->value = strdup(value);
	if (headers->name == NULL || headers->value == NULL) {
		free((char *)headers->name);
		free((char *)headers->value);
		reply->failed = true;
		return;
	}
	reply->header_count++;
}

void mock_reply_headerf(struct mock_reply *reply, const char *name,
			const char *fmt, ...)
{
	char value[512];
	va_list args;

	va_start(args, fmt);
	vsnprintf(value, sizeof(value), fmt, args);
	va_end(args);
	mock_reply_header(reply, name, value);
}

const char *mock_status_code(unsigned int status)
{
	switch (status) {
	case 400:
		return "InvalidRequest";
	case 403:
		return "AccessDenied";
	case 404:
		return "NoSuchKey";
	case 405:
		return "MethodNotAllowed";
	case 409:
		return "OperationAborted";
	case 411:
		return "MissingContentLength";
	case 412:
		return "PreconditionFailed";
	case 416:
		return "InvalidRange";
	case 429:
		return "TooManyRequests";
	case 500:
		return "InternalError";
	case 501:
		return "NotImplemented";
	case 503:
		return "SlowDown";
	default:
		return status >= 500 ? "InternalError" : "InvalidRequest";
	}
}

struct mock_reply *mock_error_reply(struct mock_request *req,
				    unsigned int status, const char *code,
				    const char *extra, const char *message)
{
	struct mock_reply *reply = mock_reply_new(status);
	struct mock_buf *b;

	if (reply == NULL)
		return NULL;
	b = &reply->body;
	mock_buf_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
	mock_buf_xml_elem(b, "Code", code);
	mock_buf_xml_elem(b, "Message", message);
	if (extra != NULL)
		mock_buf_str(b, extra);
	mock_buf_xml_elem(b, "Resource", req->raw_path);
	mock_buf_xml_elem(b, "RequestId", req->request_id);
	mock_buf_str(b, "</Error>");
	mock_reply_header(reply, "Content-Type", "application/xml");
	return reply;
}

void mock_request_fail(struct mock_request *req, unsigned int status,
		       const char *code, const char *extra, const char *fmt,
		       ...)
{
	char message[1024];
	va_list args;

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);
	mock_request_reply(req,
			   mock_error_reply(req, status, code, extra, message));
}

/* --- Streamed bodies, and bodies that suffer a fault --- */

struct mock_stream {
	struct fs_mock *mock;
	struct fs_file *file; /* or data */
	char *data;
	uint64_t real_size; /* bytes there are to send */
	uint64_t cut_at;    /* UINT64_MAX: none */
	uint64_t flip_at;   /* the byte sent XOR 0x01; UINT64_MAX: none */
	uint64_t offset;    /* of the body in the object */
	bool reset;
	uint64_t rate;
	uint64_t drip_start_usec;
	int fd;
	bool is_object;
};

static void mock_stream_free(void *cls)
{
	struct mock_stream *stream = cls;

	if (stream->file != NULL) {
		mock_fs_lock(stream->mock);
		fs_file_deinit(&stream->file);
		mock_fs_unlock(stream->mock);
	}
	free(stream->data);
	free(stream);
}

/* Sleeps so that pos + n bytes go out no faster than the drip rate. */
static void mock_stream_drip(struct mock_stream *stream, uint64_t pos, size_t n)
{
	uint64_t due_usec, now = fs_now_usec();

	if (pos == 0)
		stream->drip_start_usec = now;
	due_usec =
		stream->drip_start_usec + (pos + n) * 1000000ULL / stream->rate;
	if (due_usec > now)
		mock_sleep_ms(stream->mock, (due_usec - now + 999) / 1000);
}

static ssize_t mock_stream_fill(struct mock_stream *stream, uint64_t pos,
				char *buf, size_t n)
{
	ssize_t ret;

	if (stream->file == NULL) {
		memcpy(buf, stream->data + pos, n);
		return (ssize_t)n;
	}
	mock_fs_lock(stream->mock);
	ret = fs_read(stream->file, buf, n);
	if (ret <= 0)
		mock_log(stream->mock, "read of %s failed at %llu: %s",
			 fs_file_key(stream->file), (unsigned long long)pos,
			 ret == 0 ? "object shrank"
				  : fs_file_last_error(stream->file));
	mock_fs_unlock(stream->mock);
	return ret;
}

static ssize_t mock_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct mock_stream *stream = cls;
	size_t n = max;
	ssize_t ret;

	if (pos >= stream->cut_at || pos >= stream->real_size ||
	    stream->mock->stopping) {
		/* A cut, or a Content-Length that promised more. */
		if (stream->reset)
			mock_reset_fd(stream->fd);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (stream->cut_at != UINT64_MAX && n > stream->cut_at - pos)
		n = (size_t)(stream->cut_at - pos);
	if (n > stream->real_size - pos)
		n = (size_t)(stream->real_size - pos);
	if (stream->rate != 0) {
		if (n > stream->rate / 20 + 1)
			n = (size_t)(stream->rate / 20 + 1);
		mock_stream_drip(stream, pos, n);
	}
	ret = mock_stream_fill(stream, pos, buf, n);
	if (ret <= 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (stream->flip_at >= pos && stream->flip_at - pos < (uint64_t)ret)
		buf[stream->flip_at - pos] ^= 0x01;
	if (stream->is_object)
		mock_count(stream->mock, "bytes_out", (uint64_t)ret);
	return ret;
}

static ssize_t mock_head_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static bool mock_reply_has_body(struct mock_request *req,
				struct mock_reply *reply)
{
	if (strcmp(req->method, "HEAD") == 0)
		return false;
	return reply->status != 204 && reply->status != 304 &&
	       (reply->file != NULL || reply->body.len > 0);
}

/* Applies the request's response-side fault to a stream; returns the
   Content-Length to announce. */
static uint64_t mock_stream_fault(struct mock_request *req,
				  struct mock_stream *stream)
{
	const struct mock_fault *f = &req->fault;
	uint64_t size = stream->real_size;

	switch (f->action) {
	case MOCK_FAULT_RESET:
	case MOCK_FAULT_TRUNCATE:
		if (f->after < size)
			stream->cut_at = f->after;
		stream->reset = f->action == MOCK_FAULT_RESET;
		break;
	case MOCK_FAULT_BADLENGTH:
		if (f->delta < 0)
			size = (uint64_t)-f->delta >= size
				       ? 0
				       : size - (uint64_t)-f->delta;
		else
			size += (uint64_t)f->delta;
		break;
	case MOCK_FAULT_DRIP:
		stream->rate = f->rate;
		break;
	case MOCK_FAULT_CORRUPT:
		/* An offset in the object; outside the body sent (beyond it,
		   or outside the range read): nothing to damage. */
		if (f->after >= stream->offset &&
		    f->after - stream->offset < size)
			stream->flip_at = f->after - stream->offset;
		break;
	default:
		break;
	}
	return size;
}

static bool mock_fault_on_response(const struct mock_fault *f)
{
	return f->action == MOCK_FAULT_RESET ||
	       f->action == MOCK_FAULT_TRUNCATE ||
	       f->action == MOCK_FAULT_BADLENGTH ||
	       f->action == MOCK_FAULT_DRIP || f->action == MOCK_FAULT_CORRUPT;
}

static struct MHD_Response *mock_response_stream(struct mock_request *req,
						 struct mock_reply *reply)
{
	struct mock_stream *stream = calloc(1, sizeof(*stream));
	struct MHD_Response *resp;
	uint64_t size;

	if (stream == NULL)
		return NULL;
	stream->mock = req->mock;
	stream->cut_at = UINT64_MAX;
	stream->flip_at = UINT64_MAX;
	stream->fd = mock_request_fd(req);
	stream->is_object = reply->is_object;
	if (reply->file != NULL) {
		stream->file = reply->file;
		stream->real_size = reply->file_size;
		stream->offset = reply->file_offset;
		reply->file = NULL;
	} else {
		size_t len = 0;

		stream->data = mock_buf_steal(&reply->body, &len);
		stream->real_size = len;
		if (stream->data == NULL) {
			free(stream);
			return NULL;
		}
	}
	size = mock_stream_fault(req, stream);
	resp = MHD_create_response_from_callback(size, MOCK_STREAM_BLOCK,
						 mock_stream_read, stream,
						 mock_stream_free);
	if (resp == NULL)
		mock_stream_free(stream);
	return resp;
}

static struct MHD_Response *mock_response_create(struct mock_request *req,
						 struct mock_reply *reply)
{
	size_t len = reply->body.len;
	char *data;

	if (reply->file != NULL && strcmp(req->method, "HEAD") == 0) {
		/* MHD announces the size and sends nothing. */
		mock_fs_lock(req->mock);
		fs_file_deinit(&reply->file);
		mock_fs_unlock(req->mock);
		return MHD_create_response_from_callback(
			reply->file_size, MOCK_STREAM_BLOCK, mock_head_read,
			NULL, NULL);
	}
	if (reply->file != NULL || (mock_fault_on_response(&req->fault) &&
				    mock_reply_has_body(req, reply)))
		return mock_response_stream(req, reply);
	data = mock_buf_steal(&reply->body, &len);
	if (data == NULL)
		return NULL;
	return MHD_create_response_from_buffer(len, data,
					       MHD_RESPMEM_MUST_FREE);
}

static void mock_response_headers(struct mock_request *req,
				  struct mock_reply *reply,
				  struct MHD_Response *resp)
{
	size_t i;

	MHD_add_response_header(resp, "x-amz-request-id", req->request_id);
	MHD_add_response_header(resp, "x-amz-id-2", req->request_id);
	MHD_add_response_header(resp, "Server", "fs-mockserver");
	for (i = 0; i < reply->header_count; i++)
		MHD_add_response_header(resp, reply->headers[i].name,
					reply->headers[i].value);
	if (req->close_after)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
					"close");
}

static void mock_count_reply(struct mock_request *req, unsigned int status)
{
	char name[32];

	snprintf(name, sizeof(name), "status_%u", status);
	pthread_mutex_lock(&req->mock->lock);
	mock_counters_add(&req->mock->counters, name, 1);
	if (status >= 400)
		mock_counters_add(&req->mock->counters, "errors", 1);
	pthread_mutex_unlock(&req->mock->lock);
}

/* Queues reply on the connection now. */
static void mock_reply_send(struct mock_request *req, struct mock_reply *reply)
{
	struct MHD_Response *resp = NULL;

	req->replied = true;
	if (reply != NULL && reply->failed) {
		mock_reply_discard(req->mock, &reply);
		reply = mock_error_reply(req, 500, "InternalError", NULL,
					 "Out of memory");
	}
	if (reply != NULL)
		resp = mock_response_create(req, reply);
	if (resp == NULL) {
		/* Out of memory: MHD then closes the connection. */
		mock_log(req->mock, "cannot build a reply");
		mock_reply_discard(req->mock, &reply);
		return;
	}
	mock_response_headers(req, reply, resp);
	req->status = reply->status;
	mock_count_reply(req, reply->status);
	MHD_queue_response(req->conn, reply->status, resp);
	MHD_destroy_response(resp);
	mock_reply_free(&reply);
}

/* True when a reply is best sent at once: the client announced a body and
   waits for 100-continue before sending it, so refusing now saves the
   transfer (MHD then closes the connection). Every other reply waits for
   the end of the request: MHD keeps the connection alive only for replies
   queued once the request was read. */
static bool mock_request_reply_now(struct mock_request *req)
{
	const char *expect;

	if (req->body_done)
		return true;
	if (!req->has_body || req->in_body)
		return false;
	expect = mock_header(req, "Expect");
	return expect != NULL && strcasecmp(expect, "100-continue") == 0;
}

void mock_request_reply(struct mock_request *req, struct mock_reply *reply)
{
	if (req->replied || req->pending != NULL) {
		mock_reply_discard(req->mock, &reply);
		return;
	}
	if (reply == NULL) {
		/* Out of memory: an empty 500 still tells the client. */
		reply = mock_reply_new(500);
		if (reply == NULL) {
			req->replied = true;
			return;
		}
	}
	if (!mock_request_reply_now(req)) {
		req->pending = reply;
		req->discard_body = true;
		return;
	}
	mock_reply_send(req, reply);
}

/* ------------------------------------------------------------------------ */
/* Parsing the request                                                        */

static enum MHD_Result mock_header_iter(void *cls, enum MHD_ValueKind kind,
					const char *name, const char *value)
{
	struct mock_request *req = cls;

	if (req->headers != NULL) {
		req->headers[req->header_count].name = name;
		req->headers[req->header_count].value =
			value != NULL ? value : "";
	}
	req->header_count++;
	return MHD_YES;
}

static int mock_request_headers(struct mock_request *req)
{
	size_t count;

	req->header_count = 0;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, mock_header_iter,
				  req);
	count = req->header_count;
	req->headers = calloc(count + 1, sizeof(*req->headers));
	if (req->headers == NULL)
		return -ENOMEM;
	req->header_count = 0;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, mock_header_iter,
				  req);
	if (req->header_count > count)
		req->header_count = count;
	return 0;
}

/* Decodes a query name or value: %XX escapes; '+' stays a plus, as RFC 3986
   and the signature canonicalisation (sigv4.c) have it. */
static int mock_query_decode(const char *str, size_t len, char **decoded_r)
{
	return fs_sigv4_uri_decode(str, len, decoded_r);
}

static int mock_request_param(struct mock_request *req, const char *p,
			      size_t len)
{
	const char *eq = memchr(p, '=', len);
	size_t name_len = eq != NULL ? (size_t)(eq - p) : len;
	struct mock_param *param = &req->params[req->param_count];

	if (mock_query_decode(p, name_len, &param->name) < 0)
		return -EINVAL;
	if (eq != NULL) {
		if (mock_query_decode(eq + 1, len - name_len - 1,
				      &param->value) < 0) {
			free(param->name);
			return -EINVAL;
		}
	} else if ((param->value = strdup("")) == NULL) {
		free(param->name);
		return -ENOMEM;
	}
	req->param_count++;
	return 0;
}

static int mock_request_params(struct mock_request *req)
{
	const char *p = req->raw_query, *end;
	size_t count = 1;

	if (p == NULL || *p == '\0')
		return 0;
	for (end = p; *end != '\0'; end++) {
		if (*end == '&')
			count++;
	}
	req->params = calloc(count, sizeof(*req->params));
	if (req->params == NULL)
		return -ENOMEM;
	for (; *p != '\0'; p = *end == '\0' ? end : end + 1) {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if (end > p && mock_request_param(req, p, end - p) < 0)
			return -EINVAL;
	}
	return 0;
}

static bool mock_peer_loopback(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;

	info = MHD_get_connection_info(conn,
				       MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || (sa = info->client_addr) == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		const uint8_t *a = sin6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && a[12] == 127;
	}
	return false;
}

static void mock_request_id(struct mock_request *req)
{
	struct fs_mock *mock = req->mock;
	uint64_t seq;

	pthread_mutex_lock(&mock->lock);
	seq = ++mock->request_seq;
	pthread_mutex_unlock(&mock->lock);
	snprintf(req->request_id, sizeof(req->request_id), "%08X%08llX",
		 (unsigned int)(mock->port * 2654435761u),
		 (unsigned long long)seq);
}

static bool mock_request_has_body(struct mock_request *req)
{
	const char *len = mock_header(req, "Content-Length");
	const char *te = mock_header(req, "Transfer-Encoding");

	if (te != NULL && strcasecmp(te, "identity") != 0)
		return true;
	return len != NULL && strcmp(len, "0") != 0;
}

/* ------------------------------------------------------------------------ */
/* The admin endpoint                                                         */

static void mock_admin_text(struct mock_request *req, unsigned int status,
			    const char *type, struct mock_buf *body)
{
	struct mock_reply *reply = mock_reply_new(status);

	if (reply != NULL) {
		mock_reply_header(reply, "Content-Type", type);
		reply->body = *body;
		memset(body, 0, sizeof(*body));
	}
	mock_buf_free(body);
	mock_request_reply(req, reply);
}

static void mock_admin_faults_post(struct mock_request *req)
{
	struct mock_buf *in = req->ctx, out = {0};
	char *line, *save = NULL, *error = NULL;
	int id;

	if (in == NULL || in->failed || in->data == NULL) {
		mock_buf_str(&out, "no rule in the body\n");
		mock_admin_text(req, 400, "text/plain", &out);
		return;
	}
	for (line = strtok_r(in->data, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (line[0] == '\0' || line[0] == '#')
			continue;
		id = fs_mock_fault_add(req->mock, line, &error);
		if (id < 0) {
			mock_buf_free(&out);
			mock_buf_printf(&out, "%s\n",
					error != NULL ? error : "bad rule");
			free(error);
			mock_admin_text(req, 400, "text/plain", &out);
			return;
		}
		mock_buf_printf(&out, "%d\n", id);
	}
	mock_admin_text(req, 200, "text/plain", &out);
}

static int mock_admin_body(struct mock_request *req, const char *data,
			   size_t size)
{
	struct mock_buf *in = req->ctx;

	if (in->len + size > MOCK_ADMIN_BODY_MAX) {
		mock_request_fail(req, 400, "EntityTooLarge", NULL,
				  "Admin request body too large");
		return -1;
	}
	mock_buf_add(in, data, size);
	return 0;
}

static void mock_admin_cleanup(struct mock_request *req)
{
	struct mock_buf *in = req->ctx;

	if (in != NULL) {
		mock_buf_free(in);
		free(in);
	}
	req->ctx = NULL;
}

static void mock_admin_faults(struct mock_request *req, const char *rest)
{
	struct mock_buf out = {0};
	uint64_t id;

	if (strcmp(req->method, "GET") == 0 && rest[0] == '\0') {
		pthread_mutex_lock(&req->mock->lock);
		mock_faults_list(&req->mock->faults, &out);
		pthread_mutex_unlock(&req->mock->lock);
		mock_admin_text(req, 200, "text/plain", &out);
	} else if (strcmp(req->method, "DELETE") == 0 && rest[0] == '\0') {
		fs_mock_faults_clear(req->mock);
		mock_admin_text(req, 204, "text/plain", &out);
	} else if (strcmp(req->method, "DELETE") == 0 && rest[0] == '/' &&
		   fs_parse_uint(rest + 1, &id) == 0 && id <= INT32_MAX) {
		if (fs_mock_fault_remove(req->mock, (int)id) < 0) {
			mock_buf_str(&out, "no such rule\n");
			mock_admin_text(req, 404, "text/plain", &out);
		} else {
			mock_admin_text(req, 204, "text/plain", &out);
		}
	} else if (strcmp(req->method, "POST") == 0 && rest[0] == '\0') {
		req->ctx = calloc(1, sizeof(struct mock_buf));
		if (req->ctx == NULL) {
			mock_request_fail(req, 500, "InternalError", NULL,
					  "Out of memory");
			return;
		}
		req->body_fn = mock_admin_body;
		req->finish_fn = mock_admin_faults_post;
		req->cleanup_fn = mock_admin_cleanup;
	} else {
		mock_buf_str(&out, "unknown admin request\n");
		mock_admin_text(req, 404, "text/plain", &out);
	}
}

static void mock_admin_begin(struct mock_request *req)
{
	const char *what = req->raw_path + strlen(MOCK_ADMIN_PREFIX);
	struct mock_buf out = {0};
	char *json;

	req->op = "Admin";
	if (!req->loopback) {
		mock_request_fail(req, 403, "AccessDenied", NULL,
				  "The admin endpoint is for loopback "
				  "clients only");
		return;
	}
	if (strncmp(what, "faults", 6) == 0) {
		mock_admin_faults(req, what + 6);
	} else if (strcmp(what, "stats") == 0 &&
		   strcmp(req->method, "GET") == 0) {
		json = fs_mock_counters_json(req->mock);
		if (json != NULL)
			mock_buf_str(&out, json);
		free(json);
		mock_admin_text(req, 200, "application/json", &out);
	} else if (strcmp(what, "stats") == 0 &&
		   strcmp(req->method, "DELETE") == 0) {
		fs_mock_counters_reset(req->mock);
		mock_admin_text(req, 204, "text/plain", &out);
	} else {
		mock_buf_str(&out, "unknown admin request\n");
		mock_admin_text(req, 404, "text/plain", &out);
	}
}

/* ------------------------------------------------------------------------ */
/* Request life cycle                                                         */

static void mock_request_free(struct mock_request *req)
{
	size_t i;

	if (req->cleanup_fn != NULL)
		req->cleanup_fn(req);
	mock_reply_discard(req->mock, &req->pending);
	for (i = 0; i < req->param_count; i++) {
		free(req->params[i].name);
		free(req->params[i].value);
	}
	free(req->params);
	free(req->headers);
	free(req->bucket);
	free(req->key);
	free(req->raw_uri);
	free(req->raw_path);
	free(req);
}

static void *mock_uri_log(void *cls, const char *uri,
			  struct MHD_Connection *conn)
{
	struct mock_request *req = calloc(1, sizeof(*req));
	const char *q;

	if (req == NULL)
		return NULL;
	req->mock = cls;
	req->conn = conn;
	req->start_usec = fs_now_usec();
	req->raw_uri = strdup(uri != NULL ? uri : "/");
	if (req->raw_uri == NULL) {
		free(req);
		return NULL;
	}
	q = strchr(req->raw_uri, '?');
	req->raw_path = q == NULL ? strdup(req->raw_uri)
				  : strndup(req->raw_uri, q - req->raw_uri);
	req->raw_query = q == NULL ? NULL : (char *)q + 1;
	if (req->raw_path == NULL) {
		free(req->raw_uri);
		free(req);
		return NULL;
	}
	return req;
}

static void mock_count_request(struct mock_request *req)
{
	struct fs_mock *mock = req->mock;

	pthread_mutex_lock(&mock->lock);
	mock_counters_add(&mock->counters, "requests", 1);
	mock_counters_add(&mock->counters, req->method, 1);
	if (req->op != NULL)
		mock_counters_add(&mock->counters, req->op, 1);
	if (mock_faults_match(&mock->faults, req->method, req->op, req->bucket,
			      req->key, &req->fault))
		mock_counters_add(&mock->counters, "faults", 1);
	pthread_mutex_unlock(&mock->lock);
}

static void mock_fault_error(struct mock_request *req)
{
	const struct mock_fault *f = &req->fault;
	struct mock_reply *reply;

	reply = mock_error_reply(req, f->status, f->code, NULL,
				 f->message[0] != '\0'
					 ? f->message
					 : "Injected by fs-mockserver");
	if (reply != NULL && f->retry_after != 0)
		mock_reply_headerf(reply, "Retry-After", "%u", f->retry_after);
	mock_request_reply(req, reply);
}

/* Returns false if the connection is to be dropped at once. */
static bool mock_request_begin(struct mock_request *req, const char *method)
{
	req->started = true;
	req->method = method;
	req->loopback = mock_peer_loopback(req->conn);
	mock_request_id(req);
	if (mock_request_headers(req) < 0)
		return false;
	req->has_body = mock_request_has_body(req);
	if (mock_request_params(req) < 0) {
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "Malformed query string");
		return true;
	}
	if (strncmp(req->raw_path, MOCK_ADMIN_PREFIX,
		    strlen(MOCK_ADMIN_PREFIX)) == 0) {
		mock_admin_begin(req);
		return true;
	}
	if ((req->mock->dav != NULL ? dav_request_route(req)
				    : s3_request_route(req)) < 0)
		return true;
	mock_count_request(req);
	if (req->fault.delay_ms != 0)
		mock_sleep_ms(req->mock, req->fault.delay_ms);
	switch (req->fault.action) {
	case MOCK_FAULT_ERROR:
		mock_fault_error(req);
		return true;
	case MOCK_FAULT_RESET:
		if (!req->has_body && strcmp(method, "GET") != 0) {
			/* Nothing to cut in the middle of: drop it now. */
			mock_reset_fd(mock_request_fd(req));
			return false;
		}
		break;
	default:
		break;
	}
	if (req->mock->dav != NULL)
		dav_request_begin(req);
	else
		s3_request_begin(req);
	return true;
}

static enum MHD_Result mock_request_body(struct mock_request *req,
					 const char *data, size_t size)
{
	const struct mock_fault *f = &req->fault;

	req->in_body = true;
	req->body_received += size;
	if (f->action == MOCK_FAULT_RESET && req->body_received > f->after) {
		mock_log(req->mock, "%s %s: reset after %llu body bytes",
			 req->method, req->raw_path,
			 (unsigned long long)f->after);
		mock_reset_fd(mock_request_fd(req));
		return MHD_NO;
	}
	if (req->replied || req->discard_body || req->body_fn == NULL)
		return MHD_YES;
	if (req->body_fn(req, data, size) < 0 && !req->replied &&
	    req->pending == NULL)
		mock_request_fail(req, 500, "InternalError", NULL,
				  "Request body refused");
	return MHD_YES;
}

static void mock_request_end(struct mock_request *req)
{
	struct mock_reply *reply;

	req->body_done = true;
	if (req->pending != NULL) {
		reply = req->pending;
		req->pending = NULL;
		mock_reply_send(req, reply);
		return;
	}
	if (req->finish_fn != NULL)
		req->finish_fn(req);
	if (!req->replied)
		mock_request_fail(req, 500, "InternalError", NULL,
				  "The server did not reply");
}

static enum MHD_Result mock_access(void *cls, struct MHD_Connection *conn,
				   const char *url, const char *method,
				   const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct mock_request *req = *con_cls;

	if (req == NULL)
		return MHD_NO;
	if (!req->started) {
		if (!mock_request_begin(req, method))
			return MHD_NO;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t size = *upload_data_size;

		*upload_data_size = 0;
		return mock_request_body(req, upload_data, size);
	}
	if (!req->replied)
		mock_request_end(req);
	return MHD_YES;
}

static void mock_completed(void *cls, struct MHD_Connection *conn,
			   void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct mock_request *req = *con_cls;

	if (req == NULL)
		return;
	*con_cls = NULL;
	if (req->started && req->op != NULL && strcmp(req->op, "Admin") != 0)
		mock_log(req->mock, "%s %s %s -> %u%s (%llu ms)", req->method,
			 req->raw_path, req->op, req->status,
			 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK
				 ? ""
				 : " (connection ended)",
			 (unsigned long long)(fs_now_usec() - req->start_usec) /
				 1000);
	mock_request_free(req);
}

static void mock_connection(void *cls, struct MHD_Connection *conn,
			    void **socket_context,
			    enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		mock_count(cls, "connections", 1);
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                             */

void fs_mock_settings_init(struct fs_mock_settings *set)
{
	memset(set, 0, sizeof(*set));
	set->version = FS_MOCK_SETTINGS_VERSION;
}

char *mock_strdup_printf(const char *fmt, ...)
{
	struct mock_buf buf = {0};
	char msg[512];
	va_list args;

	va_start(args, fmt);
	vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);
	mock_buf_str(&buf, msg);
	return mock_buf_steal(&buf, NULL);
}

/* Parses "HOST:PORT", "[V6]:PORT" or "PORT" into *ss. Returns 0 or an
   error message. */
static const char *mock_parse_listen(const char *listen,
				     struct sockaddr_storage *ss, bool *ipv6_r,
				     bool *loopback_r)
{
	char host[128] = "127.0.0.1";
	const char *port_str = listen, *colon;
	uint64_t port;

	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		colon = strstr(listen, "]:");
		if (colon == NULL ||
		    (size_t)(colon - listen - 1) >= sizeof(host))
			return "expected [IPV6]:PORT";
		memcpy(host, listen + 1, colon - listen - 1);
		host[colon - listen - 1] = '\0';
		port_str = colon + 2;
	} else if ((colon = strrchr(listen, ':')) != NULL) {
		if ((size_t)(colon - listen) >= sizeof(host))
			return "host name too long";
		memcpy(host, listen, colon - listen);
		host[colon - listen] = '\0';
		port_str = colon + 1;
	}
	if (fs_parse_uint(port_str, &port) < 0 || port > 65535)
		return "bad port";
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return "bad IPv6 address";
		*ipv6_r = true;
		*loopback_r = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	} else {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return "bad IPv4 address (use a numeric address)";
		*ipv6_r = false;
		*loopback_r = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	return NULL;
}

static int mock_copy_settings(struct fs_mock *mock,
			      const struct fs_mock_settings *set)
{
	static const struct fs_mock_credential def = {"test", "test"};
	const struct fs_mock_credential *creds = set->credentials;
	unsigned int i, count = set->credentials_count;

	if (creds == NULL || count == 0) {
		creds = &def;
		count = 1;
	}
	mock->creds = calloc(count, sizeof(*mock->creds));
	if (mock->creds == NULL)
		return -ENOMEM;
	mock->creds_count = count;
	for (i = 0; i < count; i++) {
		if (creds[i].access_key == NULL || creds[i].secret_key == NULL)
			return -EINVAL;
		mock->creds[i].access_key = strdup(creds[i].access_key);
		mock->creds[i].secret_key = strdup(creds[i].secret_key);
		if (mock->creds[i].access_key == NULL ||
		    mock->creds[i].secret_key == NULL)
			return -ENOMEM;
	}
	mock->region = strdup(set->region != NULL ? set->region : "us-east-1");
	mock->domain = strdup(set->domain != NULL ? set->domain : "localhost");
	if (mock->region == NULL || mock->domain == NULL)
		return -ENOMEM;
	mock->min_part_size =
		set->min_part_size != 0 ? set->min_part_size : 5ULL << 20;
	mock->max_skew_secs =
		set->max_skew_secs != 0 ? set->max_skew_secs : 900;
	mock->log_requests = set->log_requests;
	return 0;
}

static void mock_free(struct fs_mock *mock)
{
	unsigned int i;

	if (mock->fs != NULL)
		fs_deinit(&mock->fs);
	dav_mock_free(mock);
	for (i = 0; i < mock->creds_count; i++) {
		free(mock->creds[i].access_key);
		if (mock->creds[i].secret_key != NULL) {
			explicit_bzero(mock->creds[i].secret_key,
				       strlen(mock->creds[i].secret_key));
			free(mock->creds[i].secret_key);
		}
	}
	free(mock->creds);
	free(mock->region);
	free(mock->domain);
	mock_faults_clear(&mock->faults);
	mock_counters_free(&mock->counters);
	pthread_mutex_destroy(&mock->fs_lock);
	pthread_mutex_destroy(&mock->lock);
	free(mock);
}

static char *mock_open_backend(struct fs_mock *mock,
			       const struct fs_mock_settings *set)
{
	const char *spec = set->backend != NULL ? set->backend : "mem:";
	const char *error = NULL;
	unsigned int caps, missing;
	int ret;

	ret = fs_init(spec, set->backend_settings, &mock->fs, &error);
	if (ret < 0)
		return mock_strdup_printf("backend %s: %s", spec,
					  error != NULL ? error
							: fs_errno_name(ret));
	caps = fs_get_caps(mock->fs);
	missing = (FS_CAP_METADATA | FS_CAP_ITER) & ~caps;
	if (missing != 0)
		return mock_strdup_printf(
			"backend %s lacks %s%s: the S3 front end keeps ETags, "
			"content types and user metadata as libfs metadata "
			"and lists buckets by prefix",
			spec,
			(missing & FS_CAP_METADATA) ? "FS_CAP_METADATA " : "",
			(missing & FS_CAP_ITER) ? "FS_CAP_ITER" : "");
	return NULL;
}

static char *mock_start_daemon(struct fs_mock *mock,
			       const struct fs_mock_settings *set)
{
	const char *listen = set->listen != NULL ? set->listen : "127.0.0.1:0";
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	bool ipv6 = false, loopback = false;
	unsigned int flags;
	const char *why;

	why = mock_parse_listen(listen, &ss, &ipv6, &loopback);
	if (why != NULL)
		return mock_strdup_printf("listen address %s: %s", listen, why);
	if (!loopback && !set->allow_remote)
		return mock_strdup_printf(
			"listen address %s is not loopback (allow_remote, "
			"--allow-remote in fs-mockserver, serves other hosts)",
			listen);
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO_INTERNAL_THREAD |
		MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
	mock->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, mock_access, mock,
		MHD_OPTION_EXTERNAL_LOGGER, mock_mhd_log, mock,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_URI_LOG_CALLBACK, mock_uri_log, mock,
		MHD_OPTION_NOTIFY_COMPLETED, mock_completed, mock,
		MHD_OPTION_NOTIFY_CONNECTION, mock_connection, mock,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)MOCK_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)MOCK_CONNECTION_TIMEOUT_SECS, MHD_OPTION_END);
	if (mock->daemon == NULL)
		return mock_strdup_printf("cannot listen on %s: %s", listen,
					  "address in use or not available");
	info = MHD_get_daemon_info(mock->daemon, MHD_DAEMON_INFO_BIND_PORT);
	mock->port = info != NULL ? info->port : 0;
	if (ipv6) {
		char addr[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			  addr, sizeof(addr));
		snprintf(mock->url, sizeof(mock->url), "http://[%s]:%u", addr,
			 mock->port);
	} else {
		char addr[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr,
			  sizeof(addr));
		snprintf(mock->url, sizeof(mock->url), "http://%s:%u", addr,
			 mock->port);
	}
	return NULL;
}

static char *mock_add_faults(struct fs_mock *mock,
			     const struct fs_mock_settings *set)
{
	char *error = NULL;
	size_t i;

	for (i = 0; set->faults != NULL && set->faults[i] != NULL; i++) {
		if (mock_faults_add(&mock->faults, set->faults[i], &error) < 0)
			return error != NULL ? error
					     : mock_strdup_printf("bad rule");
	}
	return NULL;
}

struct fs_mock *fs_mock_start(const struct fs_mock_settings *set,
			      char **error_r)
{
	struct fs_mock_settings defaults;
	struct fs_mock *mock;
	char *error = NULL;
	size_t i;
	int ret;

	if (error_r != NULL)
		*error_r = NULL;
	if (set == NULL) {
		fs_mock_settings_init(&defaults);
		set = &defaults;
	}
	/* Before any connection thread parses a request body. */
	xmlInitParser();
	mock = calloc(1, sizeof(*mock));
	if (mock == NULL)
		return NULL;
	pthread_mutex_init(&mock->fs_lock, NULL);
	pthread_mutex_init(&mock->lock, NULL);
	ret = mock_copy_settings(mock, set);
	if (ret < 0)
		error = mock_strdup_printf(
			"settings: %s", ret == -EINVAL ? "credential without "
							 "a key or secret"
						       : "out of memory");
	if (error == NULL)
		error = mock_add_faults(mock, set);
	if (error == NULL && set->dav)
		error = dav_mock_init(mock, set);
	if (error == NULL)
		error = mock_open_backend(mock, set);
	for (i = 0;
	     error == NULL && set->buckets != NULL && set->buckets[i] != NULL;
	     i++)
		(void)s3_bucket_ensure(mock, set->buckets[i], &error);
	if (error == NULL)
		error = mock_start_daemon(mock, set);
	if (error != NULL) {
		if (error_r != NULL)
			*error_r = error;
		else
			free(error);
		mock_free(mock);
		return NULL;
	}
	return mock;
}

void fs_mock_stop(struct fs_mock **_mock)
{
	struct fs_mock *mock = *_mock;

	if (mock == NULL)
		return;
	*_mock = NULL;
	mock->stopping = true;
	/* Joins every connection thread; their requests are freed (and
	   unfinished uploads aborted) on the way. */
	if (mock->daemon != NULL)
		MHD_stop_daemon(mock->daemon);
	mock_free(mock);
}

unsigned int fs_mock_port(struct fs_mock *mock)
{
	return mock->port;
}

const char *fs_mock_url(struct fs_mock *mock)
{
	return mock->url;
}

const char *fs_mock_region(struct fs_mock *mock)
{
	return mock->region;
}

int fs_mock_fault_add(struct fs_mock *mock, const char *rule, char **error_r)
{
	int ret;

	pthread_mutex_lock(&mock->lock);
	ret = mock_faults_add(&mock->faults, rule, error_r);
	pthread_mutex_unlock(&mock->lock);
	return ret;
}

int fs_mock_fault_remove(struct fs_mock *mock, int id)
{
	int ret;

	pthread_mutex_lock(&mock->lock);
	ret = mock_faults_remove(&mock->faults, id);
	pthread_mutex_unlock(&mock->lock);
	return ret;
}

void fs_mock_faults_clear(struct fs_mock *mock)
{
	pthread_mutex_lock(&mock->lock);
	mock_faults_clear(&mock->faults);
	pthread_mutex_unlock(&mock->lock);
}

uint64_t fs_mock_counter(struct fs_mock *mock, const char *name)
{
	uint64_t value;

	pthread_mutex_lock(&mock->lock);
	value = mock_counters_get(&mock->counters, name);
	pthread_mutex_unlock(&mock->lock);
	return value;
}

void fs_mock_counters_reset(struct fs_mock *mock)
{
	pthread_mutex_lock(&mock->lock);
	mock_counters_reset(&mock->counters);
	pthread_mutex_unlock(&mock->lock);
}

char *fs_mock_counters_json(struct fs_mock *mock)
{
	struct mock_buf buf = {0};

	pthread_mutex_lock(&mock->lock);
	mock_counters_json(&mock->counters, &buf);
	pthread_mutex_unlock(&mock->lock);
	return mock_buf_steal(&buf, NULL);
}

int fs_mock_backend_count(struct fs_mock *mock, const char *prefix)
{
	struct fs_iter *iter = NULL;
	const char *key;
	int ret, count = 0;

	mock_fs_lock(mock);
	ret = fs_iter_init(mock->fs, prefix, 0, &iter);
	while (ret == 0 && (ret = fs_iter_next(iter, &key)) > 0) {
		count++;
		ret = 0;
	}
	if (iter != NULL) {
		int ret2 = fs_iter_deinit(&iter);

		if (ret == 0)
			ret = ret2;
	}
	mock_fs_unlock(mock);
	return ret < 0 ? ret : count;
}
