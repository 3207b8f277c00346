/*
 * The mock's storage nodes (mogstored): HTTP on libmicrohttpd, one device
 * each, the files in the mock's libfs stack.
 *
 *   PUT    stores the body, streamed as it arrives (Content-Length or
 *          chunked; with neither, an empty file, as mogstored does); each
 *          PUT replaces the whole file; a PUT cut off leaves what arrived
 *   GET    the file, with Range (206, or 416 past the end); HEAD its size
 *   DELETE 204, or 404
 *   GET /devN/usage  the device's space figures
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mogilefs-private.h"

#define NODE_BLOCK (64 * 1024)

struct mog_nreq {
	struct mog_node *node;
	struct MHD_Connection *conn;
	const char *method;
	char key[128]; /* the path without its leading '/' */
	bool started, valid;
	struct mock_fault fault;
	struct fs_file *file; /* PUT */
	uint64_t received;
	int put_error;
};

/* A GET body read from the store. */
struct mog_nstream {
	struct mog_node *node;
	struct fs_file *file;
	uint64_t size, cut_at;
	bool reset;
	int fd;
};

static int node_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return info == NULL ? -1 : info->connect_fd;
}

/* Resets the connection now (RST): a zero linger and a disconnect. */
static void node_reset_fd(int fd)
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

static bool node_alive(struct mog_node *node)
{
	bool alive;

	pthread_mutex_lock(&node->mock->db_lock);
	alive = node->alive;
	pthread_mutex_unlock(&node->mock->db_lock);
	return alive;
}

static enum MHD_Result node_reply(struct mog_nreq *req, unsigned int status,
				  const char *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/html");
	MHD_add_response_header(resp, "Server", "Perlbal (mogmock)");
	mog_countf(req->node->mock, "node_status_%u", status);
	ret = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result node_status(struct mog_nreq *req, unsigned int status)
{
	char body[128];

	snprintf(body, sizeof(body), "<h1>%u</h1>", status);
	return node_reply(req, status, body);
}

/* ------------------------------------------------------------------------ */
/* GET and HEAD                                                               */

static ssize_t node_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct mog_nstream *st = cls;
	ssize_t n;

	if (pos >= st->cut_at || st->node->mock->stopping) {
		if (st->reset)
			node_reset_fd(st->fd);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (st->cut_at != UINT64_MAX && max > st->cut_at - pos)
		max = (size_t)(st->cut_at - pos);
	pthread_mutex_lock(&st->node->mock->fs_lock);
	n = fs_read(st->file, buf, max);
	pthread_mutex_unlock(&st->node->mock->fs_lock);
	if (n <= 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n;
}

static void node_stream_free(void *cls)
{
	struct mog_nstream *st = cls;

	pthread_mutex_lock(&st->node->mock->fs_lock);
	fs_file_deinit(&st->file);
	pthread_mutex_unlock(&st->node->mock->fs_lock);
	free(st);
}

static ssize_t node_head_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Parses "bytes=a-b", "bytes=a-", "bytes=-n" against size. Returns 1 with
   [*first, *last], 0 when absent or not understood (the whole file), -1
   when unsatisfiable. */
static int node_range(const char *hdr, uint64_t size, uint64_t *first,
		      uint64_t *last)
{
	unsigned long long a, b;
	int n = 0;

	if (hdr == NULL || strncmp(hdr, "bytes=", 6) != 0 ||
	    strchr(hdr, ',') != NULL)
		return 0;
	hdr += 6;
	if (sscanf(hdr, "-%llu%n", &b, &n) == 1 && hdr[n] == '\0') {
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (sscanf(hdr, "%llu-%n", &a, &n) == 1 && hdr[n] == '\0')
		b = UINT64_MAX;
	else if (sscanf(hdr, "%llu-%llu%n", &a, &b, &n) != 2 ||
		 hdr[n] != '\0' || b < a)
		return 0;
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}

static enum MHD_Result node_get_response(struct mog_nreq *req,
					 struct mog_nstream *st, uint64_t first,
					 uint64_t len, int partial,
					 uint64_t size)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char value[96];
	bool head = strcmp(req->method, "HEAD") == 0;

	if (head)
		resp = MHD_create_response_from_callback(
			len, NODE_BLOCK, node_head_read, NULL, NULL);
	else
		resp = MHD_create_response_from_callback(len, NODE_BLOCK,
							 node_stream_read, st,
							 node_stream_free);
	if (resp == NULL) {
		node_stream_free(st);
		return MHD_NO;
	}
	if (head)
		node_stream_free(st);
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	MHD_add_response_header(resp, "Server", "Perlbal (mogmock)");
	if (partial > 0) {
		snprintf(value, sizeof(value),
			 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first,
			 first + len - 1, size);
		MHD_add_response_header(resp, "Content-Range", value);
	}
	mog_countf(req->node->mock, "node_status_%u", partial > 0 ? 206 : 200);
	ret = MHD_queue_response(req->conn, partial > 0 ? 206 : 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result node_get(struct mog_nreq *req)
{
	struct fs_mogmock *mock = req->node->mock;
	struct mog_nstream *st = calloc(1, sizeof(*st));
	const char *range;
	uint64_t first = 0, last = 0, size;
	struct fs_stat stat;
	int ret, partial;

	if (st == NULL)
		return MHD_NO;
	st->node = req->node;
	st->cut_at = UINT64_MAX;
	st->fd = node_fd(req->conn);
	pthread_mutex_lock(&mock->fs_lock);
	ret = fs_file_init(mock->fs, req->key, FS_OPEN_READ, &st->file);
	if (ret == 0)
		ret = fs_file_stat(st->file, &stat);
	size = stat.size;
	range = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					    "Range");
	partial = ret == 0 ? node_range(range, size, &first, &last) : 0;
	if (ret == 0 && partial > 0)
		ret = fs_file_set_range(st->file, first, last - first + 1);
	pthread_mutex_unlock(&mock->fs_lock);
	if (ret < 0 || partial < 0) {
		node_stream_free(st);
		return node_status(req, ret == -ENOENT ? 404
					: partial < 0  ? 416
						       : 500);
	}
	if (req->fault.action == MOCK_FAULT_RESET ||
	    req->fault.action == MOCK_FAULT_TRUNCATE) {
		st->cut_at = req->fault.after;
		st->reset = req->fault.action == MOCK_FAULT_RESET;
	}
	return node_get_response(req, st, first,
				 partial > 0 ? last - first + 1 : size, partial,
				 size);
}

/* ------------------------------------------------------------------------ */
/* PUT and DELETE                                                             */

static int node_put_open(struct mog_nreq *req)
{
	struct fs_mogmock *mock = req->node->mock;
	int ret;

	pthread_mutex_lock(&mock->fs_lock);
	ret = fs_file_init(mock->fs, req->key, FS_OPEN_REPLACE, &req->file);
	pthread_mutex_unlock(&mock->fs_lock);
	return ret;
}

static void node_put_data(struct mog_nreq *req, const char *data, size_t size)
{
	struct fs_mogmock *mock = req->node->mock;
	ssize_t n;

	if (req->file == NULL || req->put_error != 0)
		return;
	pthread_mutex_lock(&mock->fs_lock);
	n = fs_write(req->file, data, size);
	pthread_mutex_unlock(&mock->fs_lock);
	if (n < 0)
		req->put_error = (int)n;
}

/* True while fid is open on the tracker (a tempfile row). */
static bool node_fid_open(struct fs_mogmock *mock, const char *key)
{
	const char *name = strrchr(key, '/');
	unsigned long long fid;
	bool open = false;
	size_t i;

	if (name == NULL || sscanf(name + 1, "%llu.fid", &fid) != 1)
		return false;
	pthread_mutex_lock(&mock->db_lock);
	for (i = 0; i < mock->temp_count && !open; i++)
		open = mock->temps[i].fid == fid;
	pthread_mutex_unlock(&mock->db_lock);
	return open;
}

/* Publishes what arrived: all of it, or what a cut left, as mogstored
   does. A cut upload whose fid the client already discarded is dropped
   instead: on the real server the delete worker and fsck would remove it
   later, here it would outlive the test. */
static int node_put_close(struct mog_nreq *req, bool cut)
{
	struct fs_mogmock *mock = req->node->mock;
	bool keep = !cut || node_fid_open(mock, req->key);
	int ret = req->put_error;

	if (req->file == NULL)
		return ret;
	pthread_mutex_lock(&mock->fs_lock);
	if (ret == 0 && keep)
		ret = fs_write_finish(req->file);
	fs_file_deinit(&req->file);
	pthread_mutex_unlock(&mock->fs_lock);
	return ret;
}

static enum MHD_Result node_delete(struct mog_nreq *req)
{
	int ret = mog_store_delete(req->node->mock, req->key);

	return node_status(req, ret == 0 ? 204 : ret == -ENOENT ? 404 : 500);
}

static enum MHD_Result node_usage(struct mog_nreq *req)
{
	char body[256];

	snprintf(body, sizeof(body),
		 "available: 104857600\ndevice: dev%u\ndisk: /var/mogdata/"
		 "dev%u\ntime: 0\ntotal: 209715200\nused: 104857600\n",
		 req->node->devid, req->node->devid);
	return node_reply(req, 200, body);
}

/* ------------------------------------------------------------------------ */
/* The request cycle                                                          */

/* Checks "/devN/..." for this node's device and fills req->key. */
static bool node_path(struct mog_nreq *req, const char *url)
{
	char prefix[32];
	int len;

	len = snprintf(prefix, sizeof(prefix), "/dev%u/", req->node->devid);
	if (strncmp(url, prefix, (size_t)len) != 0 ||
	    strlen(url) >= sizeof(req->key) + 1 || strstr(url, "..") != NULL)
		return false;
	snprintf(req->key, sizeof(req->key), "%s", url + 1);
	return true;
}

/* The first call: counters, faults, and what can be answered at once.
   Returns MHD_YES to go on with the body, or the reply's result. */
static enum MHD_Result node_begin(struct mog_nreq *req, const char *url,
				  bool *done_r)
{
	struct fs_mogmock *mock = req->node->mock;
	char server[32];
	bool kill = false;

	*done_r = true;
	snprintf(server, sizeof(server), "node%u", req->node->idx);
	mog_log(mock, "%s %s %s", server, req->method, url);
	mog_count(mock, "node_requests", 1);
	mog_countf(mock, "%s_requests", server);
	mog_countf(mock, "node_%s", req->method);
	req->valid = node_path(req, url);
	if (mog_fault_match(mock, req->method, "node", server, url, &req->fault,
			    &kill) &&
	    req->fault.delay_ms != 0)
		mog_sleep_ms(mock, req->fault.delay_ms);
	if (kill || !node_alive(req->node)) {
		if (kill)
			mog_kill(mock, server, true);
		node_reset_fd(node_fd(req->conn));
		return MHD_NO;
	}
	if (req->fault.action == MOCK_FAULT_RESET &&
	    strcmp(req->method, "PUT") != 0 && req->fault.after == 0) {
		node_reset_fd(node_fd(req->conn));
		return MHD_NO;
	}
	*done_r = false;
	return MHD_YES;
}

static enum MHD_Result node_end(struct mog_nreq *req)
{
	const char *m = req->method;
	size_t klen = strlen(req->key);

	if (req->fault.action == MOCK_FAULT_ERROR) {
		(void)node_put_close(req, false);
		return node_status(req, req->fault.status);
	}
	if (strcmp(m, "PUT") == 0) {
		if (!req->valid)
			return node_status(req, 403);
		return node_status(req,
				   node_put_close(req, false) == 0 ? 200 : 500);
	}
	if (!req->valid && klen == 0)
		return node_status(req, 404);
	if (strcmp(m, "GET") == 0 && klen > 6 &&
	    strcmp(req->key + klen - 6, "/usage") == 0)
		return node_usage(req);
	if (!req->valid)
		return node_status(req, 404);
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return node_get(req);
	if (strcmp(m, "DELETE") == 0)
		return node_delete(req);
	return node_status(req, 405);
}

static enum MHD_Result node_body(struct mog_nreq *req, const char *data,
				 size_t size)
{
	const struct mock_fault *f = &req->fault;

	req->received += size;
	if (f->action == MOCK_FAULT_RESET && req->received > f->after) {
		/* what came before the cut stays */
		if (f->after > req->received - size)
			node_put_data(
				req, data,
				(size_t)(f->after - (req->received - size)));
		/* stored before the client can see the cut */
		(void)node_put_close(req, false);
		node_reset_fd(node_fd(req->conn));
		return MHD_NO;
	}
	node_put_data(req, data, size);
	return MHD_YES;
}

static enum MHD_Result node_access(void *cls, struct MHD_Connection *conn,
				   const char *url, const char *method,
				   const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct mog_nreq *req = *con_cls;
	enum MHD_Result ret;
	bool done;

	if (req == NULL) {
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			return MHD_NO;
		req->node = cls;
		req->conn = conn;
		req->method = method;
		*con_cls = req;
		ret = node_begin(req, url, &done);
		if (done)
			return ret;
		if (strcmp(method, "PUT") == 0 && req->valid &&
		    req->fault.action != MOCK_FAULT_ERROR &&
		    node_put_open(req) < 0)
			req->put_error = -EIO;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t size = *upload_data_size;

		*upload_data_size = 0;
		return node_body(req, upload_data, size);
	}
	return node_end(req);
}

static void node_completed(void *cls, struct MHD_Connection *conn,
			   void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct mog_nreq *req = *con_cls;

	if (req == NULL)
		return;
	*con_cls = NULL;
	/* a PUT cut off: the file keeps what arrived, as on mogstored */
	(void)node_put_close(req, true);
	free(req);
}

static void node_connection(void *cls, struct MHD_Connection *conn,
			    void **socket_context,
			    enum MHD_ConnectionNotificationCode toe)
{
	struct mog_node *node = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		mog_count(node->mock, "node_connections", 1);
}

static void node_mhd_log(void *cls, const char *fmt, va_list args)
{
	struct mog_node *node = cls;

	if (!node->mock->log)
		return;
	fprintf(stderr, "mogmock: node%u: libmicrohttpd: ", node->idx);
	vfprintf(stderr, fmt, args);
}

int mog_node_start(struct mog_node *node, char **error_r)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)node->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	node->daemon = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO_INTERNAL_THREAD |
			MHD_USE_ERROR_LOG | MHD_USE_ITC,
		0, NULL, NULL, node_access, node, MHD_OPTION_EXTERNAL_LOGGER,
		node_mhd_log, node, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED,
		node_completed, node, MHD_OPTION_NOTIFY_CONNECTION,
		node_connection, node, MHD_OPTION_LISTENING_ADDRESS_REUSE,
		(unsigned int)1, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)120, MHD_OPTION_END);
	if (node->daemon == NULL) {
		if (error_r != NULL &&
		    asprintf(error_r, "node%u: cannot listen on 127.0.0.1:%u",
			     node->idx, node->port) < 0)
			*error_r = NULL;
		return -EIO;
	}
	info = MHD_get_daemon_info(node->daemon, MHD_DAEMON_INFO_BIND_PORT);
	node->port = info != NULL ? info->port : node->port;
	return 0;
}

void mog_node_quiesce(struct mog_node *node)
{
	MHD_socket fd = MHD_INVALID_SOCKET;

	pthread_mutex_lock(&node->mock->db_lock);
	if (node->daemon != NULL && !node->quiesced) {
		fd = MHD_quiesce_daemon(node->daemon);
		node->quiesced = true;
	}
	pthread_mutex_unlock(&node->mock->db_lock);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void mog_node_stop(struct mog_node *node)
{
	struct MHD_Daemon *daemon;

	pthread_mutex_lock(&node->mock->db_lock);
	daemon = node->daemon;
	node->daemon = NULL;
	node->quiesced = false;
	pthread_mutex_unlock(&node->mock->db_lock);
	if (daemon != NULL)
		MHD_stop_daemon(daemon);
}
