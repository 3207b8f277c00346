/*
 * The MogileFS tracker client: one line per request ("cmd args\r\n"), one
 * line per reply ("OK args" or "ERR code text"), in order, on persistent
 * TCP connections.
 *
 * Requests wait in a queue until a connection takes them: an idle one, a
 * new one (up to MFS_MAX_CONNS), or else the one with the shortest queue,
 * behind whose requests they are pipelined. Connections are made without
 * blocking to the trackers round-robin from a shuffled list; a tracker that
 * refuses is skipped for MFS_DEAD_USECS. A request nothing of which was
 * written moves to another connection when its own fails. One that was
 * written and lost its answer is sent once more only if it is idempotent
 * (get_paths, file_info, list_keys, noop): create_open, create_close,
 * delete and rename fail with "uncertain" set, for the caller to find out
 * what happened instead of running them twice.
 *
 * Callbacks run from mfs_tracker_run() only, never from the call that
 * started the request, as the core wants.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mogilefs-private.h"

/* Longest reply line kept: list_keys pages of 1000 keys of 255 bytes
   escaped three times over fit. */
#define TR_LINE_MAX (16 * 1024 * 1024)
/* How long fs_deinit() waits for aborting closes still in flight. */
#define TR_FLUSH_MAX_MS 5000

struct tr_host {
	char *host, *port;
	char *name; /* "host:port", for messages */
	uint64_t dead_until;
};

enum tr_conn_state { TR_CONNECTING, TR_READY };

struct tr_buf {
	char *data;
	size_t len, alloc;
};

struct tr_conn {
	struct mfs_tracker *tr;
	struct tr_conn *next;
	int fd;
	unsigned int host;
	enum tr_conn_state state;
	/* Hosts tried for this connection, and why they failed. */
	unsigned int tried;
	char failures[256];
	uint64_t connect_deadline, activity_usec;
	/* Bytes to write: stream offsets out_base + [0, out.len), of which
	   out_pos are written. */
	struct tr_buf out;
	size_t out_pos;
	uint64_t out_base;
	struct tr_buf in;
	/* The requests written or to write here, answered in this order. */
	struct mfs_treq *head, *tail;
	unsigned int queued;
};

enum tr_req_state { TR_REQ_NEW, TR_REQ_WAITING, TR_REQ_QUEUED, TR_REQ_DONE };

struct mfs_treq {
	struct mfs_tracker *tr;
	char *cmd;
	struct tr_buf line; /* "cmd args\r\n" */
	bool idempotent, resent, orphan, oom, uncertain;
	/* Times the request went back to the wait queue unsent. */
	unsigned int requeues;
	enum tr_req_state state;
	struct mfs_treq *next; /* in the wait queue or a connection */
	struct tr_conn *conn;
	uint64_t out_start, out_end; /* stream offsets on conn */
	struct mfs_treq *notify_next;
	bool notify_queued;
	uint64_t start_usec;
	char host_name[80];

	int result;
	struct mfs_reply reply;
	char *error;
	mfs_treq_callback_t *cb;
	void *context;
};

struct mfs_tracker {
	struct fs *fs;
	struct tr_host *hosts;
	unsigned int host_count, rr;
	struct tr_conn *conns;
	unsigned int conn_count;
	struct mfs_treq *wait_head, *wait_tail;
	struct mfs_treq *notify_head, *notify_tail;
	unsigned int pending, connects;
	unsigned int connect_ms, stall_ms, total_ms;
	bool debug;
	uint64_t rng;
};

/* ------------------------------------------------------------------------ */
/* Buffers and encoding                                                       */

static int tr_buf_add(struct tr_buf *buf, const void *data, size_t len)
{
	size_t alloc;
	char *p;

	if (buf->len + len + 1 > buf->alloc) {
		alloc = buf->alloc == 0 ? 128 : buf->alloc;
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

static int tr_buf_str(struct tr_buf *buf, const char *str)
{
	return tr_buf_add(buf, str, strlen(str));
}

static void tr_buf_free(struct tr_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

static bool url_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == ',' || c == '-' ||
	       c == '.' || c == '/' || c == '\\' || c == ':';
}

int mfs_url_encode(const char *str, char **out, size_t *len, size_t *alloc)
{
	static const char hex[] = "0123456789ABCDEF";
	struct tr_buf buf = {*out, *len, *alloc};
	const unsigned char *p;
	char esc[3];
	int ret = 0;

	for (p = (const unsigned char *)str; *p != '\0' && ret == 0; p++) {
		if (*p == ' ') {
			ret = tr_buf_add(&buf, "+", 1);
		} else if (url_safe(*p)) {
			ret = tr_buf_add(&buf, p, 1);
		} else {
			esc[0] = '%';
			esc[1] = hex[*p >> 4];
			esc[2] = hex[*p & 15];
			ret = tr_buf_add(&buf, esc, 3);
		}
	}
	*out = buf.data;
	*len = buf.len;
	*alloc = buf.alloc;
	return ret;
}

char *mfs_url_decode(const char *str, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	size_t i;
	int hi, lo;

	if (out == NULL)
		return NULL;
	/* '+' first, then %XX: "%2B" stays a plus */
	for (i = 0; i < len; i++) {
		if (str[i] == '+') {
			*o++ = ' ';
		} else if (str[i] == '%' && i + 2 < len &&
			   (hi = fs_hex_value(str[i + 1])) >= 0 &&
			   (lo = fs_hex_value(str[i + 2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = str[i];
		}
	}
	*o = '\0';
	return out;
}

static int args_add(struct mfs_args *args, char *name, char *value)
{
	size_t alloc;
	char **names, **values;

	if (args->count == args->alloc) {
		alloc = args->alloc == 0 ? 8 : args->alloc * 2;
		names = realloc(args->names, alloc * sizeof(*names));
		if (names == NULL)
			return -ENOMEM;
		args->names = names;
		values = realloc(args->values, alloc * sizeof(*values));
		if (values == NULL)
			return -ENOMEM;
		args->values = values;
		args->alloc = alloc;
	}
	args->names[args->count] = name;
	args->values[args->count] = value;
	args->count++;
	return 0;
}

/* Adds one "name=value" (or "name") of [p, p + len). */
static int args_parse_one(struct mfs_args *args, const char *p, size_t len)
{
	const char *eq = memchr(p, '=', len);
	size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
	char *name, *value;

	if (nlen == 0)
		return -EINVAL;
	name = mfs_url_decode(p, nlen);
	value = eq != NULL ? mfs_url_decode(eq + 1, len - nlen - 1)
			   : strdup("");
	if (name == NULL || value == NULL || args_add(args, name, value) < 0) {
		free(name);
		free(value);
		return -ENOMEM;
	}
	return 0;
}

int mfs_args_parse(struct mfs_args *args, const char *str)
{
	const char *p = str, *end;
	int ret;

	while (*p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if (end > p) {
			ret = args_parse_one(args, p, (size_t)(end - p));
			if (ret < 0)
				return ret;
		}
		p = *end == '\0' ? end : end + 1;
	}
	return 0;
}

const char *mfs_args_get(const struct mfs_args *args, const char *name)
{
	size_t i;

	for (i = 0; i < args->count; i++) {
		if (strcmp(args->names[i], name) == 0)
			return args->values[i];
	}
	return NULL;
}

void mfs_args_free(struct mfs_args *args)
{
	size_t i;

	for (i = 0; i < args->count; i++) {
		free(args->names[i]);
		free(args->values[i]);
	}
	free(args->names);
	free(args->values);
	memset(args, 0, sizeof(*args));
}

/* "ERR code text [callid]": text is URL-encoded and has no space. */
static int reply_parse_err(struct mfs_reply *reply, const char *p)
{
	size_t len;

	while (*p == ' ')
		p++;
	len = strcspn(p, " ");
	if (len == 0)
		return -EPROTO;
	reply->code = strndup(p, len);
	p += len;
	while (*p == ' ')
		p++;
	len = strcspn(p, " ");
	reply->text = len > 0 ? mfs_url_decode(p, len) : strdup(reply->code);
	if (reply->code == NULL || reply->text == NULL)
		return -ENOMEM;
	return 0;
}

int mfs_reply_parse(struct mfs_reply *reply, const char *line)
{
	memset(reply, 0, sizeof(*reply));
	if (strncmp(line, "OK", 2) == 0 &&
	    (line[2] == '\0' || line[2] == ' ')) {
		reply->ok = true;
		/* "OK " with its trailing space, or a bare "OK" */
		return mfs_args_parse(&reply->args,
				      line[2] == ' ' ? line + 3 : line + 2);
	}
	if (strncmp(line, "ERR", 3) == 0 && line[3] == ' ')
		return reply_parse_err(reply, line + 4);
	return -EPROTO;
}

void mfs_reply_free(struct mfs_reply *reply)
{
	mfs_args_free(&reply->args);
	free(reply->code);
	free(reply->text);
	memset(reply, 0, sizeof(*reply));
}

int mfs_err_errno(const char *code)
{
	static const struct {
		const char *code;
		int err;
	} map[] = {
		{"unknown_key", -ENOENT},
		{"none_match", -ENOENT},
		{"key_exists", -EEXIST},
		{"no_domain", -EINVAL},
		{"unreg_domain", -EINVAL},
		{"domain_not_found", -EINVAL},
		{"unreg_class", -EINVAL},
		{"class_not_found", -EINVAL},
		{"no_class", -EINVAL},
		{"no_key", -EINVAL},
		{"invalid_key", -ENOENT},
		{"bogus_args", -EINVAL},
		{"invalid_checksum_format", -EINVAL},
		{"after_mismatch", -EINVAL},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].code, code) == 0)
			return map[i].err;
	}
	/* no_devices, size_mismatch, no_temp_file, db, failure, ... */
	return -EIO;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                   */

static void tr_trace(struct mfs_tracker *tr, const char *host, char dir,
		     const char *line, size_t len)
{
	if (!tr->debug)
		return;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	fprintf(stderr, "libfs tracker %s %c %.*s\n", host, dir, (int)len,
		line);
}

static void tr_notify(struct mfs_treq *req)
{
	struct mfs_tracker *tr = req->tr;

	if (req->notify_queued)
		return;
	req->notify_queued = true;
	req->notify_next = NULL;
	if (tr->notify_tail != NULL)
		tr->notify_tail->notify_next = req;
	else
		tr->notify_head = req;
	tr->notify_tail = req;
}

static void tr_notify_remove(struct mfs_treq *req)
{
	struct mfs_tracker *tr = req->tr;
	struct mfs_treq **p, *prev = NULL;

	if (!req->notify_queued)
		return;
	for (p = &tr->notify_head; *p != NULL; p = &(*p)->notify_next) {
		if (*p == req) {
			*p = req->notify_next;
			break;
		}
		prev = *p;
	}
	if (tr->notify_tail == req)
		tr->notify_tail = prev;
	req->notify_queued = false;
}

static void treq_destroy(struct mfs_treq *req)
{
	tr_notify_remove(req);
	free(req->cmd);
	tr_buf_free(&req->line);
	mfs_reply_free(&req->reply);
	free(req->error);
	free(req);
}

static void FS_PRINTF(3, 4)
	treq_finish(struct mfs_treq *req, int result, const char *fmt, ...)
{
	char detail[512];
	va_list args;

	if (req->state == TR_REQ_DONE)
		return;
	req->state = TR_REQ_DONE;
	req->conn = NULL;
	req->next = NULL;
	req->result = result;
	req->tr->pending--;
	if (fmt != NULL) {
		va_start(args, fmt);
		vsnprintf(detail, sizeof(detail), fmt, args);
		va_end(args);
		free(req->error);
		if (asprintf(&req->error, "%s on tracker %s: %s", req->cmd,
			     req->host_name[0] != '\0' ? req->host_name : "-",
			     detail) < 0)
			req->error = NULL;
	}
	tr_notify(req);
}

/* Completes the request with its reply line. */
static void treq_answer(struct mfs_treq *req, const char *line)
{
	int ret = mfs_reply_parse(&req->reply, line);

	if (ret == -EPROTO) {
		treq_finish(req, -EIO, "unexpected reply '%.100s'", line);
	} else if (ret < 0) {
		treq_finish(req, -ENOMEM, "out of memory parsing the reply");
	} else if (req->reply.ok) {
		treq_finish(req, 0, "OK");
	} else {
		treq_finish(req, mfs_err_errno(req->reply.code), "ERR %s %s",
			    req->reply.code, req->reply.text);
	}
}

struct mfs_treq *mfs_treq_new(struct mfs_tracker *tr, const char *cmd,
			      bool idempotent)
{
	struct mfs_treq *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->tr = tr;
	req->idempotent = idempotent;
	req->cmd = strdup(cmd);
	if (req->cmd == NULL || tr_buf_str(&req->line, cmd) < 0 ||
	    tr_buf_add(&req->line, " ", 1) < 0) {
		treq_destroy(req);
		return NULL;
	}
	return req;
}

int mfs_treq_arg(struct mfs_treq *req, const char *name, const char *value)
{
	struct tr_buf *line = &req->line;

	if (req->oom)
		return -ENOMEM;
	if ((line->data[line->len - 1] != ' ' &&
	     tr_buf_add(line, "&", 1) < 0) ||
	    tr_buf_str(line, name) < 0 || tr_buf_add(line, "=", 1) < 0 ||
	    mfs_url_encode(value, &line->data, &line->len, &line->alloc) < 0) {
		req->oom = true;
		return -ENOMEM;
	}
	return 0;
}

int mfs_treq_arg_u64(struct mfs_treq *req, const char *name, uint64_t value)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, value);
	return mfs_treq_arg(req, name, num);
}

void mfs_treq_set_callback(struct mfs_treq *req, mfs_treq_callback_t *cb,
			   void *context)
{
	req->cb = cb;
	req->context = context;
}

bool mfs_treq_done(const struct mfs_treq *req)
{
	return req->state == TR_REQ_DONE;
}

int mfs_treq_result(const struct mfs_treq *req)
{
	return req->state == TR_REQ_DONE ? req->result : -EAGAIN;
}

const char *mfs_treq_errcode(const struct mfs_treq *req)
{
	return req->state == TR_REQ_DONE && !req->reply.ok ? req->reply.code
							   : NULL;
}

const char *mfs_treq_get(const struct mfs_treq *req, const char *name)
{
	return mfs_args_get(&req->reply.args, name);
}

bool mfs_treq_uncertain(const struct mfs_treq *req)
{
	return req->uncertain;
}

const char *mfs_treq_error(const struct mfs_treq *req)
{
	return req->error != NULL ? req->error : "out of memory";
}

const char *mfs_treq_cmd(const struct mfs_treq *req)
{
	return req->cmd;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                                */

static bool tr_host_dead(const struct tr_host *host, uint64_t now)
{
	return host->dead_until > now;
}

static void tr_host_failed(struct tr_conn *conn, const char *why)
{
	struct tr_host *host = &conn->tr->hosts[conn->host];
	size_t len = strlen(conn->failures);

	host->dead_until = fs_now_usec() + MFS_DEAD_USECS;
	snprintf(conn->failures + len, sizeof(conn->failures) - len, "%s%s: %s",
		 len > 0 ? "; " : "", host->name, why);
}

static void conn_close_fd(struct tr_conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

/* Starts a non-blocking connect to host. Returns 0 (connecting or
   connected) or -errno with why filled. */
static int conn_connect_host(struct tr_conn *conn, unsigned int idx, char *why,
			     size_t why_size)
{
	struct tr_host *host = &conn->tr->hosts[idx];
	struct addrinfo hints, *res = NULL;
	int fd, ret, one = 1;

	conn->tr->connects++;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	ret = getaddrinfo(host->host, host->port, &hints, &res);
	if (ret != 0) {
		snprintf(why, why_size, "cannot resolve: %s",
			 gai_strerror(ret));
		return -EIO;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		ret = -errno;
		freeaddrinfo(res);
		snprintf(why, why_size, "socket: %s", strerror(-ret));
		return ret;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ret = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ret < 0 && errno != EINPROGRESS) {
		ret = -errno;
		close(fd);
		snprintf(why, why_size, "%s", strerror(-ret));
		return ret;
	}
	conn->fd = fd;
	conn->host = idx;
	conn->state = TR_CONNECTING;
	conn->connect_deadline =
		fs_now_usec() + (uint64_t)conn->tr->connect_ms * 1000;
	return 0;
}

/* Connects to the next tracker that is not known dead (or, when all are,
   to any), trying each at most once for this connection. Returns 0 or
   -EIO when none could be tried. */
static int conn_connect_next(struct tr_conn *conn)
{
	struct mfs_tracker *tr = conn->tr;
	uint64_t now = fs_now_usec();
	unsigned int i, idx, alive = 0;
	char why[160];

	for (i = 0; i < tr->host_count; i++)
		alive += tr_host_dead(&tr->hosts[i], now) ? 0 : 1;
	while (conn->tried < tr->host_count) {
		idx = tr->rr % tr->host_count;
		for (i = 0; i < tr->host_count; i++) {
			idx = (tr->rr + i) % tr->host_count;
			if (alive == 0 || !tr_host_dead(&tr->hosts[idx], now))
				break;
		}
		tr->rr = (idx + 1) % tr->host_count;
		conn->tried++;
		if (conn_connect_host(conn, idx, why, sizeof(why)) == 0)
			return 0;
		conn->host = idx;
		tr_host_failed(conn, why);
		if (alive > 0)
			alive--;
	}
	return -EIO;
}

static struct tr_conn *conn_new(struct mfs_tracker *tr)
{
	struct tr_conn *conn = calloc(1, sizeof(*conn));

	if (conn == NULL)
		return NULL;
	conn->tr = tr;
	conn->fd = -1;
	conn->next = tr->conns;
	tr->conns = conn;
	tr->conn_count++;
	return conn;
}

static void conn_free(struct tr_conn *conn)
{
	struct mfs_tracker *tr = conn->tr;
	struct tr_conn **p;

	for (p = &tr->conns; *p != NULL; p = &(*p)->next) {
		if (*p == conn) {
			*p = conn->next;
			break;
		}
	}
	tr->conn_count--;
	conn_close_fd(conn);
	tr_buf_free(&conn->out);
	tr_buf_free(&conn->in);
	free(conn);
}

static uint64_t conn_written(const struct tr_conn *conn)
{
	return conn->out_base + conn->out_pos;
}

static void wait_push(struct mfs_tracker *tr, struct mfs_treq *req)
{
	req->state = TR_REQ_WAITING;
	req->conn = NULL;
	req->next = NULL;
	if (tr->wait_tail != NULL)
		tr->wait_tail->next = req;
	else
		tr->wait_head = req;
	tr->wait_tail = req;
}

/* Puts req on conn: its line goes to the output buffer. */
static int conn_enqueue(struct tr_conn *conn, struct mfs_treq *req)
{
	if (conn->out_pos == conn->out.len) {
		conn->out_base += conn->out.len;
		conn->out.len = conn->out_pos = 0;
	}
	req->out_start = conn->out_base + conn->out.len;
	if (tr_buf_add(&conn->out, req->line.data, req->line.len) < 0)
		return -ENOMEM;
	req->out_end = conn->out_base + conn->out.len;
	req->state = TR_REQ_QUEUED;
	req->conn = conn;
	req->next = NULL;
	snprintf(req->host_name, sizeof(req->host_name), "%s",
		 conn->tr->hosts[conn->host].name);
	tr_trace(conn->tr, req->host_name, '>', req->line.data, req->line.len);
	if (conn->tail != NULL)
		conn->tail->next = req;
	else
		conn->head = req;
	conn->tail = req;
	conn->queued++;
	if (conn->queued == 1)
		conn->activity_usec = fs_now_usec();
	return 0;
}

/* The connection broke (err, why): requests nothing of which was written
   go back to the wait queue, written idempotent ones too (once), the rest
   fail as uncertain. The connection is freed. */
static void conn_fail(struct tr_conn *conn, int err, const char *why)
{
	struct mfs_tracker *tr = conn->tr;
	uint64_t written = conn_written(conn);
	struct mfs_treq *req;

	while ((req = conn->head) != NULL) {
		conn->head = req->next;
		if (written <= req->out_start && ++req->requeues <= 4) {
			wait_push(tr, req);
		} else if (written <= req->out_start) {
			treq_finish(req, err,
				    "%s (gave up after %u connections)", why,
				    req->requeues);
		} else if (req->idempotent && !req->resent) {
			req->resent = true;
			wait_push(tr, req);
		} else {
			req->uncertain = true;
			treq_finish(req, err,
				    "%s after the request was sent; not sent "
				    "again (it is not idempotent)",
				    why);
		}
	}
	conn->tail = NULL;
	conn_free(conn);
}

/* No tracker could be connected for conn: its requests fail. */
static void conn_fail_all(struct tr_conn *conn)
{
	struct mfs_treq *req;

	while ((req = conn->head) != NULL) {
		conn->head = req->next;
		treq_finish(req, -EIO, "no tracker reachable (%s)",
			    conn->failures);
	}
	conn->tail = NULL;
	conn_free(conn);
}

/* A connect attempt failed (why): on to the next tracker, or fail. */
static void conn_connect_failed(struct tr_conn *conn, const char *why)
{
	conn_close_fd(conn);
	tr_host_failed(conn, why);
	if (conn_connect_next(conn) < 0)
		conn_fail_all(conn);
}

/* True if an idle connection is still usable: the tracker may have closed
   it (a restart) since its last answer. */
static bool conn_idle_alive(struct tr_conn *conn)
{
	char c;
	ssize_t n;

	if (conn->state != TR_READY)
		return true;
	n = recv(conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void conn_write(struct tr_conn *conn)
{
	ssize_t n;

	while (conn->state == TR_READY && conn->out_pos < conn->out.len) {
		n = send(conn->fd, conn->out.data + conn->out_pos,
			 conn->out.len - conn->out_pos,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			char why[128];

			snprintf(why, sizeof(why), "sending failed: %s",
				 strerror(n < 0 ? errno : EPIPE));
			conn_fail(conn, -EIO, why);
			return;
		}
		conn->out_pos += (size_t)n;
		conn->activity_usec = fs_now_usec();
	}
}

/* Hands out the complete lines in conn->in. Returns false if the
   connection was failed. */
static bool conn_lines(struct tr_conn *conn)
{
	struct mfs_treq *req;
	char *nl, *line = conn->in.data;
	size_t used = 0, len;

	while ((nl = memchr(line, '\n', conn->in.len - used)) != NULL) {
		len = (size_t)(nl - line);
		*nl = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		tr_trace(conn->tr, conn->tr->hosts[conn->host].name, '<', line,
			 len);
		used += len + 1;
		if (line[0] != '\0') {
			req = conn->head;
			if (req == NULL) {
				conn_fail(conn, -EIO, "unexpected reply");
				return false;
			}
			conn->head = req->next;
			if (conn->head == NULL)
				conn->tail = NULL;
			conn->queued--;
			treq_answer(req, line);
		}
		line = nl + 1;
	}
	memmove(conn->in.data, line, conn->in.len - used);
	conn->in.len -= used;
	return true;
}

static void conn_read(struct tr_conn *conn)
{
	char buf[16384];
	ssize_t n;

	while (conn->state == TR_READY) {
		n = recv(conn->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			char why[128];

			snprintf(why, sizeof(why), "connection %s",
				 n == 0 ? "closed by the tracker"
					: strerror(errno));
			conn_fail(conn, -EIO, why);
			return;
		}
		conn->activity_usec = fs_now_usec();
		if (conn->in.len + (size_t)n > TR_LINE_MAX ||
		    tr_buf_add(&conn->in, buf, (size_t)n) < 0) {
			conn_fail(conn, -EIO, "reply line too long");
			return;
		}
		if (!conn_lines(conn))
			return;
	}
}

/* A connecting socket became writable or failed. */
static void conn_connected(struct tr_conn *conn)
{
	struct pollfd pfd = {.fd = conn->fd, .events = POLLOUT};
	socklen_t len = sizeof(int);
	int err = 0;

	if (poll(&pfd, 1, 0) <= 0)
		return;
	if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		conn_connect_failed(conn, strerror(err));
		return;
	}
	conn->state = TR_READY;
	conn->activity_usec = fs_now_usec();
	conn_write(conn);
}

/* Does what I/O the connection allows now. */
static void conn_io(struct tr_conn *conn)
{
	if (conn->state == TR_CONNECTING) {
		conn_connected(conn);
		return;
	}
	conn_write(conn);
	/* conn_write() may have freed it: callers re-walk the list */
}

static void conn_timers(struct tr_conn *conn, uint64_t now)
{
	struct mfs_tracker *tr = conn->tr;
	char why[128];

	if (conn->state == TR_CONNECTING) {
		if (now >= conn->connect_deadline) {
			snprintf(why, sizeof(why),
				 "connect timed out after %u ms",
				 tr->connect_ms);
			conn_connect_failed(conn, why);
		}
		return;
	}
	if (conn->head == NULL)
		return;
	if (now - conn->activity_usec >= (uint64_t)tr->stall_ms * 1000) {
		snprintf(why, sizeof(why), "no reply for %u ms", tr->stall_ms);
		conn_fail(conn, -ETIMEDOUT, why);
	} else if (now - conn->head->start_usec >=
		   (uint64_t)tr->total_ms * 1000) {
		snprintf(why, sizeof(why), "no reply within %u ms",
			 tr->total_ms);
		conn_fail(conn, -ETIMEDOUT, why);
	}
}

static uint64_t conn_next_timer(const struct tr_conn *conn)
{
	const struct mfs_tracker *tr = conn->tr;
	uint64_t stall, total;

	if (conn->state == TR_CONNECTING)
		return conn->connect_deadline;
	if (conn->head == NULL)
		return UINT64_MAX;
	stall = conn->activity_usec + (uint64_t)tr->stall_ms * 1000;
	total = conn->head->start_usec + (uint64_t)tr->total_ms * 1000;
	return stall < total ? stall : total;
}

/* ------------------------------------------------------------------------ */
/* Scheduling                                                                 */

/* Opens a connection. Returns it, or NULL after failing every waiting
   request when no tracker can be connected (or memory ran out). */
static struct tr_conn *tr_open_conn(struct mfs_tracker *tr)
{
	struct tr_conn *conn = conn_new(tr);
	struct mfs_treq *req;

	if (conn != NULL && conn_connect_next(conn) == 0)
		return conn;
	while ((req = tr->wait_head) != NULL) {
		tr->wait_head = req->next;
		if (conn == NULL)
			treq_finish(req, -ENOMEM, "out of memory");
		else
			treq_finish(req, -EIO, "no tracker reachable (%s)",
				    conn->failures);
	}
	tr->wait_tail = NULL;
	if (conn != NULL)
		conn_free(conn);
	return NULL;
}

/* The connection for the next request: an idle one, a new one, or the
   least busy one to pipeline on. */
static struct tr_conn *tr_pick_conn(struct mfs_tracker *tr)
{
	struct tr_conn *conn, *next, *best = NULL;

	for (conn = tr->conns; conn != NULL; conn = next) {
		next = conn->next;
		if (conn->head != NULL)
			continue;
		if (conn_idle_alive(conn))
			return conn;
		conn_free(conn);
	}
	if (tr->conn_count < MFS_MAX_CONNS)
		return tr_open_conn(tr);
	for (conn = tr->conns; conn != NULL; conn = conn->next) {
		if (best == NULL || conn->queued < best->queued)
			best = conn;
	}
	return best;
}

/* Moves waiting requests onto connections. */
static void tr_assign(struct mfs_tracker *tr)
{
	struct mfs_treq *req;
	struct tr_conn *conn;

	while (tr->wait_head != NULL) {
		conn = tr_pick_conn(tr);
		if (conn == NULL)
			return;
		req = tr->wait_head;
		tr->wait_head = req->next;
		if (tr->wait_head == NULL)
			tr->wait_tail = NULL;
		if (conn_enqueue(conn, req) < 0) {
			treq_finish(req, -ENOMEM, "out of memory");
			continue;
		}
		conn_write(conn);
	}
}

int mfs_treq_start(struct mfs_treq *req)
{
	struct mfs_tracker *tr = req->tr;

	if (req->state != TR_REQ_NEW)
		return -EINVAL;
	req->start_usec = fs_now_usec();
	tr->pending++;
	if (req->oom || tr_buf_add(&req->line, "\r\n", 2) < 0) {
		treq_finish(req, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	wait_push(tr, req);
	tr_assign(tr);
	return 0;
}

void mfs_treq_start_orphan(struct mfs_treq *req)
{
	req->orphan = true;
	req->cb = NULL;
	/* one that failed at once is freed from the notification queue in
	   mfs_tracker_run(), as every finished orphan */
	(void)mfs_treq_start(req);
}

static void wait_remove(struct mfs_tracker *tr, struct mfs_treq *req)
{
	struct mfs_treq **p, *prev = NULL;

	for (p = &tr->wait_head; *p != NULL; p = &(*p)->next) {
		if (*p == req) {
			*p = req->next;
			break;
		}
		prev = *p;
	}
	if (tr->wait_tail == req)
		tr->wait_tail = prev;
}

void mfs_treq_free(struct mfs_treq **_req)
{
	struct mfs_treq *req = *_req;

	if (req == NULL)
		return;
	*_req = NULL;
	switch (req->state) {
	case TR_REQ_QUEUED:
		/* its reply is still coming: drop it then */
		req->orphan = true;
		req->cb = NULL;
		return;
	case TR_REQ_WAITING:
		wait_remove(req->tr, req);
		req->tr->pending--;
		break;
	default:
		break;
	}
	treq_destroy(req);
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                   */

unsigned int mfs_tracker_pending(const struct mfs_tracker *tr)
{
	return tr->pending + (tr->notify_head != NULL ? 1 : 0);
}

unsigned int mfs_tracker_connects(const struct mfs_tracker *tr)
{
	return tr->connects;
}

unsigned int mfs_tracker_pollfds(struct mfs_tracker *tr, struct pollfd *fds,
				 unsigned int max, uint64_t *next_usec)
{
	struct tr_conn *conn;
	unsigned int n = 0;
	uint64_t t;

	*next_usec = tr->notify_head != NULL ? 0 : UINT64_MAX;
	for (conn = tr->conns; conn != NULL && n < max; conn = conn->next) {
		fds[n].fd = conn->fd;
		fds[n].revents = 0;
		if (conn->state == TR_CONNECTING)
			fds[n].events = POLLOUT;
		else
			fds[n].events =
				POLLIN |
				(conn->out_pos < conn->out.len ? POLLOUT : 0);
		n++;
		t = conn_next_timer(conn);
		if (t < *next_usec)
			*next_usec = t;
	}
	return n;
}

/* Runs fn on every connection; fn may free the one it is given, so the
   walk restarts from a snapshot of the pointers. */
static void tr_each_conn(struct mfs_tracker *tr,
			 void (*fn)(struct tr_conn *conn, uint64_t now))
{
	struct tr_conn *list[MFS_MAX_CONNS + 1], *conn, *c;
	unsigned int i, n = 0;
	uint64_t now = fs_now_usec();

	for (conn = tr->conns; conn != NULL && n < MFS_MAX_CONNS + 1;
	     conn = conn->next)
		list[n++] = conn;
	for (i = 0; i < n; i++) {
		/* skip those freed by an earlier call */
		for (c = tr->conns; c != NULL && c != list[i]; c = c->next)
			;
		if (c != NULL)
			fn(c, now);
	}
}

static void tr_io_one(struct tr_conn *conn, uint64_t now)
{
	struct mfs_tracker *tr = conn->tr;
	struct tr_conn *c;

	conn_io(conn);
	/* conn may be gone */
	for (c = tr->conns; c != NULL && c != conn; c = c->next)
		;
	if (c != NULL && c->state == TR_READY)
		conn_read(c);
}

/* Frees orphans that are done and calls the callbacks of the others. */
static unsigned int tr_dispatch(struct mfs_tracker *tr)
{
	struct mfs_treq *req;
	unsigned int count = 0;

	while ((req = tr->notify_head) != NULL) {
		tr_notify_remove(req);
		if (req->orphan) {
			treq_destroy(req);
			continue;
		}
		count++;
		if (req->cb != NULL)
			req->cb(req, req->context);
	}
	return count;
}

unsigned int mfs_tracker_run(struct mfs_tracker *tr)
{
	tr_each_conn(tr, tr_io_one);
	tr_each_conn(tr, conn_timers);
	tr_assign(tr);
	return tr_dispatch(tr);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                     */

static uint64_t tr_rand(struct mfs_tracker *tr)
{
	uint64_t z = (tr->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Parses "host:port" or "[v6]:port" of [p, p + len) into host. */
static int tr_host_parse(struct tr_host *host, const char *p, size_t len)
{
	const char *colon, *end = p + len, *hend;
	uint64_t port;
	char *port_str;

	if (len > 0 && p[0] == '[') {
		hend = memchr(p, ']', len);
		if (hend == NULL || hend + 1 >= end || hend[1] != ':')
			return -EINVAL;
		colon = hend + 1;
		host->host = strndup(p + 1, (size_t)(hend - p - 1));
	} else {
		colon = memchr(p, ':', len);
		if (colon == NULL || memchr(colon + 1, ':', end - colon - 1))
			return -EINVAL;
		host->host = strndup(p, (size_t)(colon - p));
	}
	port_str = strndup(colon + 1, (size_t)(end - colon - 1));
	host->port = port_str;
	host->name = strndup(p, len);
	if (host->host == NULL || port_str == NULL || host->name == NULL)
		return -ENOMEM;
	if (host->host[0] == '\0' || fs_parse_uint(port_str, &port) < 0 ||
	    port == 0 || port > 65535)
		return -EINVAL;
	return 0;
}

static int tr_hosts_parse(struct mfs_tracker *tr, const char *hosts)
{
	const char *p = hosts, *end;
	unsigned int count = 1, i;
	struct tr_host tmp;
	int ret;

	for (end = hosts; *end != '\0'; end++)
		count += *end == ',' ? 1 : 0;
	tr->hosts = calloc(count, sizeof(*tr->hosts));
	if (tr->hosts == NULL)
		return fs_set_error(tr->fs, -ENOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		tr->host_count++;
		ret = tr_host_parse(&tr->hosts[i], p, (size_t)(end - p));
		if (ret < 0)
			return fs_set_error(tr->fs, ret,
					    "tracker '%.*s': expected "
					    "HOST:PORT or [IPV6]:PORT",
					    (int)(end - p), p);
		p = end + 1;
	}
	/* shuffled once, as the Perl client does */
	for (i = count - 1; i > 0; i--) {
		unsigned int j = (unsigned int)(tr_rand(tr) % (i + 1));

		tmp = tr->hosts[i];
		tr->hosts[i] = tr->hosts[j];
		tr->hosts[j] = tmp;
	}
	tr->rr = (unsigned int)(tr_rand(tr) % count);
	return 0;
}

static unsigned int tr_setting(unsigned int value, unsigned int def)
{
	return value == 0 ? def : value;
}

static void tr_free(struct mfs_tracker *tr)
{
	unsigned int i;

	for (i = 0; i < tr->host_count; i++) {
		free(tr->hosts[i].host);
		free(tr->hosts[i].port);
		free(tr->hosts[i].name);
	}
	free(tr->hosts);
	free(tr);
}

int mfs_tracker_init(struct fs *fs, const char *hosts,
		     struct mfs_tracker **tr_r)
{
	struct mfs_tracker *tr = calloc(1, sizeof(*tr));
	int ret;

	*tr_r = NULL;
	if (tr == NULL)
		return fs_set_error(fs, -ENOMEM, "out of memory");
	tr->fs = fs;
	tr->rng = fs_now_usec() ^ ((uint64_t)getpid() << 32) ^
		  (uint64_t)(uintptr_t)tr;
	tr->connect_ms =
		tr_setting(fs->set.connect_timeout_ms, MFS_DEFAULT_CONNECT_MS);
	tr->stall_ms =
		tr_setting(fs->set.stall_timeout_ms, MFS_DEFAULT_STALL_MS);
	tr->total_ms =
		tr_setting(fs->set.total_timeout_ms, MFS_DEFAULT_TOTAL_MS);
	tr->debug = (fs->set.debug & FS_DEBUG_TRACKER) != 0;
	ret = tr_hosts_parse(tr, hosts);
	if (ret < 0) {
		tr_free(tr);
		return ret;
	}
	*tr_r = tr;
	return 0;
}

/* Waits (bounded) for the orphans: aborting closes must reach a tracker,
   or the reserved fid stays until the tracker purges it an hour later. */
static void tr_flush(struct mfs_tracker *tr)
{
	uint64_t end = fs_now_usec() + (uint64_t)TR_FLUSH_MAX_MS * 1000, next;
	struct pollfd fds[MFS_MAX_CONNS];
	uint64_t now;
	unsigned int n;
	int ms;

	mfs_tracker_run(tr);
	while (tr->pending > 0 && (now = fs_now_usec()) < end) {
		n = mfs_tracker_pollfds(tr, fds, MFS_MAX_CONNS, &next);
		if (next > end)
			next = end;
		ms = next <= now ? 0 : (int)((next - now + 999) / 1000);
		(void)poll(fds, n, ms);
		mfs_tracker_run(tr);
	}
}

void mfs_tracker_deinit(struct mfs_tracker **_tr)
{
	struct mfs_tracker *tr = *_tr;
	struct mfs_treq *req;

	if (tr == NULL)
		return;
	*_tr = NULL;
	tr_flush(tr);
	while (tr->conns != NULL) {
		while ((req = tr->conns->head) != NULL) {
			tr->conns->head = req->next;
			treq_destroy(req);
		}
		conn_free(tr->conns);
	}
	while ((req = tr->wait_head) != NULL) {
		tr->wait_head = req->next;
		treq_destroy(req);
	}
	while ((req = tr->notify_head) != NULL)
		treq_destroy(req);
	tr_free(tr);
}
