/*
 * The MogileFS tracker client (drivers/mogilefs/tracker.c): URL encoding
 * both ways, reply parsing (arguments in any order, "OK " with its trailing
 * space, ERR texts), the errno map, and the client itself against a
 * scripted fake tracker on 127.0.0.1: pipelining, fail-over to the next
 * tracker, a dead tracker skipped, timeouts, connections lost before and
 * after a request was sent (idempotent requests sent again, the others
 * reported as uncertain), and the driver's answers to odd replies (paths=0,
 * key listings in another case). Also the HTTP transport's hook for extra
 * descriptors (fs_http_wait_fds()).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../drivers/mogilefs/mogilefs-private.h"
#include "fs-private.h"

/* ------------------------------------------------------------------------ */
/* Encoding and parsing                                                       */

static char *encode(const char *str)
{
	char *out = NULL;
	size_t len = 0, alloc = 0;

	assert_int_equal(mfs_url_encode(str, &out, &len, &alloc), 0);
	if (out == NULL)
		out = strdup("");
	return out;
}

static void test_url_encode(void **state)
{
	/* the key of MOGILEFS.md, round-tripped on a real tracker */
	char *e = encode("we&ird=key%+sp ace/\xc3\xbc\\x:,");
	char *d;

	(void)state;
	assert_string_equal(e, "we%26ird%3Dkey%25%2Bsp+ace/%C3%BC\\x:,");
	d = mfs_url_decode(e, strlen(e));
	assert_string_equal(d, "we&ird=key%+sp ace/\xc3\xbc\\x:,");
	free(d);
	free(e);
	e = encode("A-Z_a.z/0,9:");
	assert_string_equal(e, "A-Z_a.z/0,9:");
	free(e);
	e = encode("~!*'();@$?#[]\x01\x7f\xff");
	assert_string_equal(e,
			    "%7E%21%2A%27%28%29%3B%40%24%3F%23%5B%5D%01%7F%FF");
	free(e);
}

static void test_url_decode(void **state)
{
	char *d;

	(void)state;
	/* '+' first, then %XX: "%2B" is a plus, not a space */
	d = mfs_url_decode("a+%2B+b", 7);
	assert_string_equal(d, "a + b");
	free(d);
	/* lower case hex, and '%' without two hex digits kept as is */
	d = mfs_url_decode("%c3%bc%zz%4", 11);
	assert_string_equal(d, "\xc3\xbc%zz%4");
	free(d);
	d = mfs_url_decode("", 0);
	assert_string_equal(d, "");
	free(d);
}

static void test_args_parse(void **state)
{
	struct mfs_args args = {0};

	(void)state;
	assert_int_equal(mfs_args_parse(&args, "a=1&b=&c&d=x%3Dy=z&&e=%26"), 0);
	assert_int_equal(args.count, 5);
	assert_string_equal(mfs_args_get(&args, "a"), "1");
	assert_string_equal(mfs_args_get(&args, "b"), "");
	assert_string_equal(mfs_args_get(&args, "c"), "");
	/* split at the first '=' only */
	assert_string_equal(mfs_args_get(&args, "d"), "x=y=z");
	assert_string_equal(mfs_args_get(&args, "e"), "&");
	assert_null(mfs_args_get(&args, "f"));
	mfs_args_free(&args);
	assert_int_equal(mfs_args_parse(&args, "=x"), -EINVAL);
	mfs_args_free(&args);
}

static void test_reply_parse(void **state)
{
	struct mfs_reply r;

	(void)state;
	/* a bare success is "OK " with its space; "OK" alone is taken too */
	assert_int_equal(mfs_reply_parse(&r, "OK "), 0);
	assert_true(r.ok);
	assert_int_equal(r.args.count, 0);
	mfs_reply_free(&r);
	assert_int_equal(mfs_reply_parse(&r, "OK"), 0);
	assert_true(r.ok);
	mfs_reply_free(&r);
	/* any argument order */
	assert_int_equal(
		mfs_reply_parse(&r, "OK devid_1=2&path_1=http://127.0.0.1:7500/"
				    "dev2/0/000/000/0000000001.fid&dev_count=1&"
				    "fid=1"),
		0);
	assert_string_equal(mfs_args_get(&r.args, "fid"), "1");
	assert_string_equal(mfs_args_get(&r.args, "dev_count"), "1");
	assert_string_equal(mfs_args_get(&r.args, "path_1"),
			    "http://127.0.0.1:7500/dev2/0/000/000/"
			    "0000000001.fid");
	mfs_reply_free(&r);
	assert_int_equal(mfs_reply_parse(&r, "OK key_count=1&next_after=foo/"
					     "bar+baz&key_1=foo/bar+baz"),
			 0);
	assert_string_equal(mfs_args_get(&r.args, "key_1"), "foo/bar baz");
	mfs_reply_free(&r);
	/* ERR: the text defaults to the code; it is URL-encoded */
	assert_int_equal(mfs_reply_parse(&r, "ERR unknown_key unknown_key"), 0);
	assert_false(r.ok);
	assert_string_equal(r.code, "unknown_key");
	assert_string_equal(r.text, "unknown_key");
	mfs_reply_free(&r);
	assert_int_equal(
		mfs_reply_parse(&r, "ERR none_match No+keys+match+that+pattern+"
				    "and+after-value+%28if+any%29."),
		0);
	assert_string_equal(r.code, "none_match");
	assert_string_equal(r.text, "No keys match that pattern and "
				    "after-value (if any).");
	mfs_reply_free(&r);
	/* the echoed callid after the text */
	assert_int_equal(mfs_reply_parse(&r, "ERR db some+text 42"), 0);
	assert_string_equal(r.text, "some text");
	mfs_reply_free(&r);
	assert_int_equal(mfs_reply_parse(&r, "ERR no_devices"), 0);
	assert_string_equal(r.text, "no_devices");
	mfs_reply_free(&r);
	assert_int_equal(mfs_reply_parse(&r, "HTTP/1.0 400 Bad"), -EPROTO);
	mfs_reply_free(&r);
	assert_int_equal(mfs_reply_parse(&r, "OKAY"), -EPROTO);
	mfs_reply_free(&r);
	assert_int_equal(mfs_reply_parse(&r, "ERR"), -EPROTO);
	mfs_reply_free(&r);
}

static void test_err_errno(void **state)
{
	(void)state;
	assert_int_equal(mfs_err_errno("unknown_key"), -ENOENT);
	assert_int_equal(mfs_err_errno("key_exists"), -EEXIST);
	assert_int_equal(mfs_err_errno("none_match"), -ENOENT);
	assert_int_equal(mfs_err_errno("unreg_domain"), -EINVAL);
	assert_int_equal(mfs_err_errno("no_domain"), -EINVAL);
	assert_int_equal(mfs_err_errno("unreg_class"), -EINVAL);
	assert_int_equal(mfs_err_errno("after_mismatch"), -EINVAL);
	assert_int_equal(mfs_err_errno("no_devices"), -EIO);
	assert_int_equal(mfs_err_errno("size_mismatch"), -EIO);
	assert_int_equal(mfs_err_errno("no_temp_file"), -EIO);
	assert_int_equal(mfs_err_errno("db"), -EIO);
	assert_int_equal(mfs_err_errno("something_new"), -EIO);
}

static void test_regex_safe_len(void **state)
{
	(void)state;
	assert_int_equal(mfs_regex_safe_len("abc/def-ghi_"), 12);
	assert_int_equal(mfs_regex_safe_len("plus+sign"), 4);
	assert_int_equal(mfs_regex_safe_len("q?x"), 1);
	assert_int_equal(mfs_regex_safe_len("a.b"), 1);
	assert_int_equal(mfs_regex_safe_len("(x"), 0);
	assert_int_equal(mfs_regex_safe_len(""), 0);
}

/* ------------------------------------------------------------------------ */
/* A scripted fake tracker                                                    */

/* What the fake does with a request line. */
enum fake_act {
	FAKE_REPLY,   /* send reply + "\r\n" */
	FAKE_SILENT,  /* never answer */
	FAKE_CLOSE,   /* close the connection without answering */
	FAKE_PARTIAL, /* send half a reply line and close */
};

struct fake;
typedef enum fake_act fake_fn(struct fake *fk, const char *line, char *reply,
			      size_t size);

#define FAKE_CONNS 16

struct fake {
	int lfd, port;
	int conns[FAKE_CONNS];
	fake_fn *fn;
	pthread_t thread;
	pthread_mutex_t lock;
	volatile bool stop;
	/* Counters, under lock. */
	unsigned int lines, accepted, max_open;
	char last[4096];
	/* Requests seen per command prefix. */
	unsigned int seen[8];
	void *data;
};

static void fake_close_conn(struct fake *fk, int i)
{
	close(fk->conns[i]);
	fk->conns[i] = -1;
}

static void fake_line(struct fake *fk, int i, char *line)
{
	char reply[8192];
	enum fake_act act;
	size_t len;

	pthread_mutex_lock(&fk->lock);
	fk->lines++;
	snprintf(fk->last, sizeof(fk->last), "%s", line);
	pthread_mutex_unlock(&fk->lock);
	reply[0] = '\0';
	act = fk->fn(fk, line, reply, sizeof(reply) - 2);
	if (act == FAKE_SILENT)
		return;
	if (act == FAKE_CLOSE) {
		fake_close_conn(fk, i);
		return;
	}
	len = strlen(reply);
	if (act == FAKE_PARTIAL) {
		(void)!send(fk->conns[i], reply, len / 2, MSG_NOSIGNAL);
		fake_close_conn(fk, i);
		return;
	}
	memcpy(reply + len, "\r\n", 2);
	(void)!send(fk->conns[i], reply, len + 2, MSG_NOSIGNAL);
}

/* Reads what conn i has; handles complete lines (one buffer per conn is
   enough for these tests: lines are short). */
static void fake_read(struct fake *fk, int i, char bufs[][4096], size_t *lens)
{
	ssize_t n = recv(fk->conns[i], bufs[i] + lens[i],
			 sizeof(bufs[i]) - lens[i] - 1, 0);
	char *nl, *start;

	if (n <= 0) {
		fake_close_conn(fk, i);
		lens[i] = 0;
		return;
	}
	lens[i] += (size_t)n;
	bufs[i][lens[i]] = '\0';
	start = bufs[i];
	while (fk->conns[i] >= 0 && (nl = strchr(start, '\n')) != NULL) {
		*nl = '\0';
		if (nl > start && nl[-1] == '\r')
			nl[-1] = '\0';
		fake_line(fk, i, start);
		start = nl + 1;
	}
	if (fk->conns[i] < 0) {
		lens[i] = 0;
		return;
	}
	lens[i] -= (size_t)(start - bufs[i]);
	memmove(bufs[i], start, lens[i]);
}

static void fake_accept(struct fake *fk)
{
	int fd = accept(fk->lfd, NULL, NULL), i, open = 0;

	if (fd < 0)
		return;
	for (i = 0; i < FAKE_CONNS; i++) {
		if (fk->conns[i] < 0) {
			fk->conns[i] = fd;
			fd = -1;
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	for (i = 0; i < FAKE_CONNS; i++)
		open += fk->conns[i] >= 0;
	pthread_mutex_lock(&fk->lock);
	fk->accepted++;
	if ((unsigned int)open > fk->max_open)
		fk->max_open = (unsigned int)open;
	pthread_mutex_unlock(&fk->lock);
}

static void *fake_thread(void *context)
{
	static char bufs[FAKE_CONNS][4096];
	struct fake *fk = context;
	struct pollfd pfds[FAKE_CONNS + 1];
	size_t lens[FAKE_CONNS] = {0};
	int i;

	while (!fk->stop) {
		pfds[0].fd = fk->lfd;
		pfds[0].events = POLLIN;
		for (i = 0; i < FAKE_CONNS; i++) {
			pfds[i + 1].fd = fk->conns[i];
			pfds[i + 1].events = POLLIN;
		}
		if (poll(pfds, FAKE_CONNS + 1, 20) <= 0)
			continue;
		if (pfds[0].revents & POLLIN)
			fake_accept(fk);
		for (i = 0; i < FAKE_CONNS; i++) {
			if (pfds[i + 1].fd >= 0 &&
			    (pfds[i + 1].revents & (POLLIN | POLLHUP)))
				fake_read(fk, i, bufs, lens);
		}
	}
	return NULL;
}

static struct fake *fake_start(fake_fn *fn)
{
	struct fake *fk = calloc(1, sizeof(*fk));
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int i;

	assert_non_null(fk);
	fk->fn = fn;
	for (i = 0; i < FAKE_CONNS; i++)
		fk->conns[i] = -1;
	pthread_mutex_init(&fk->lock, NULL);
	fk->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fk->lfd, (struct sockaddr *)&sin, sizeof(sin)),
			 0);
	assert_int_equal(listen(fk->lfd, 16), 0);
	assert_int_equal(getsockname(fk->lfd, (struct sockaddr *)&sin, &len),
			 0);
	fk->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&fk->thread, NULL, fake_thread, fk), 0);
	return fk;
}

static void fake_stop(struct fake **_fk)
{
	struct fake *fk = *_fk;
	int i;

	*_fk = NULL;
	fk->stop = true;
	pthread_join(fk->thread, NULL);
	for (i = 0; i < FAKE_CONNS; i++) {
		if (fk->conns[i] >= 0)
			close(fk->conns[i]);
	}
	close(fk->lfd);
	pthread_mutex_destroy(&fk->lock);
	free(fk);
}

/* Closes every open connection of the fake (a tracker restart). */
static void fake_drop_conns(struct fake *fk)
{
	int i;

	/* the fake thread owns the array: only shut them down */
	for (i = 0; i < FAKE_CONNS; i++) {
		if (fk->conns[i] >= 0)
			shutdown(fk->conns[i], SHUT_RDWR);
	}
}

static unsigned int fake_lines(struct fake *fk)
{
	unsigned int n;

	pthread_mutex_lock(&fk->lock);
	n = fk->lines;
	pthread_mutex_unlock(&fk->lock);
	return n;
}

/* A port nothing listens on. */
static int dead_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* The echo tracker: noop answers "OK " and anything else "OK cmd=CMD&..."
   with the arguments of the request in reverse order (any order must do). */
static enum fake_act fake_echo(struct fake *fk, const char *line, char *reply,
			       size_t size)
{
	const char *sp = strchr(line, ' ');
	char args[4096], *p, *parts[64];
	int n = 0, i;
	size_t len;

	if (strncmp(line, "noop", 4) == 0) {
		snprintf(reply, size, "OK ");
		return FAKE_REPLY;
	}
	if (strncmp(line, "silent", 6) == 0)
		return FAKE_SILENT;
	if (strncmp(line, "close", 5) == 0)
		return FAKE_CLOSE;
	if (strncmp(line, "partial", 7) == 0) {
		snprintf(reply, size, "OK abcdefghijklmnop=1");
		return FAKE_PARTIAL;
	}
	if (strncmp(line, "fail", 4) == 0) {
		snprintf(reply, size, "ERR size_mismatch Expected%%3A+99");
		return FAKE_REPLY;
	}
	snprintf(args, sizeof(args), "%s", sp != NULL ? sp + 1 : "");
	for (p = strtok(args, "&"); p != NULL && n < 64; p = strtok(NULL, "&"))
		parts[n++] = p;
	len = (size_t)snprintf(
		reply, size, "OK cmd=%.*s",
		(int)(sp != NULL ? (size_t)(sp - line) : strlen(line)), line);
	for (i = n - 1; i >= 0 && len < size; i--)
		len += (size_t)snprintf(reply + len, size - len, "&%s",
					parts[i]);
	return FAKE_REPLY;
}

/* ------------------------------------------------------------------------ */
/* The client against the fake                                                */

struct client {
	struct fs fs;
	struct mfs_tracker *tr;
	unsigned int done;
};

static void client_init(struct client *c, const char *hosts,
			unsigned int stall_ms)
{
	memset(c, 0, sizeof(*c));
	fs_settings_init(&c->fs.set);
	c->fs.set.connect_timeout_ms = 1000;
	c->fs.set.stall_timeout_ms = stall_ms;
	assert_int_equal(mfs_tracker_init(&c->fs, hosts, &c->tr), 0);
}

static void client_deinit(struct client *c)
{
	mfs_tracker_deinit(&c->tr);
	fs_error_free(&c->fs.last_error);
}

static void client_done(struct mfs_treq *req, void *context)
{
	struct client *c = context;

	c->done++;
}

static struct mfs_treq *client_req(struct client *c, const char *cmd,
				   bool idempotent)
{
	struct mfs_treq *req = mfs_treq_new(c->tr, cmd, idempotent);

	assert_non_null(req);
	mfs_treq_set_callback(req, client_done, c);
	return req;
}

/* Runs the client until want callbacks came (or 5 s). */
static void client_wait(struct client *c, unsigned int want)
{
	uint64_t end = fs_now_usec() + 5000000, next;
	struct pollfd fds[MFS_MAX_CONNS];
	unsigned int n;

	mfs_tracker_run(c->tr);
	while (c->done < want && fs_now_usec() < end) {
		n = mfs_tracker_pollfds(c->tr, fds, MFS_MAX_CONNS, &next);
		(void)poll(fds, n, 10);
		mfs_tracker_run(c->tr);
	}
	assert_int_equal(c->done, want);
}

static char *hosts_of(int port1, int port2)
{
	char *hosts;

	if (port2 == 0)
		assert_true(asprintf(&hosts, "127.0.0.1:%d", port1) > 0);
	else
		assert_true(asprintf(&hosts, "127.0.0.1:%d,127.0.0.1:%d", port1,
				     port2) > 0);
	return hosts;
}

static void test_client_basic(void **state)
{
	struct fake *fk = fake_start(fake_echo);
	char *hosts = hosts_of(fk->port, 0);
	struct mfs_treq *req;
	struct client c;

	(void)state;
	client_init(&c, hosts, 2000);
	req = client_req(&c, "file_info", true);
	assert_int_equal(mfs_treq_arg(req, "domain", "d"), 0);
	assert_int_equal(
		mfs_treq_arg(req, "key", "we&ird=key%+sp ace/\xc3\xbc"), 0);
	assert_int_equal(mfs_treq_arg_u64(req, "size", 18446744073709551615ULL),
			 0);
	assert_int_equal(mfs_treq_start(req), 0);
	/* never from the starting call */
	assert_int_equal(c.done, 0);
	assert_int_equal(mfs_treq_result(req), -EAGAIN);
	client_wait(&c, 1);
	assert_int_equal(mfs_treq_result(req), 0);
	assert_string_equal(mfs_treq_get(req, "cmd"), "file_info");
	assert_string_equal(mfs_treq_get(req, "key"),
			    "we&ird=key%+sp ace/\xc3\xbc");
	assert_string_equal(mfs_treq_get(req, "size"), "18446744073709551615");
	assert_string_equal(fk->last,
			    "file_info domain=d&key=we%26ird%3Dkey%25%2Bsp+"
			    "ace/%C3%BC&size=18446744073709551615");
	mfs_treq_free(&req);

	/* ERR: mapped, with the tracker and the decoded text */
	req = client_req(&c, "fail", false);
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 2);
	assert_int_equal(mfs_treq_result(req), -EIO);
	assert_string_equal(mfs_treq_errcode(req), "size_mismatch");
	assert_non_null(
		strstr(mfs_treq_error(req), "ERR size_mismatch Expected: 99"));
	assert_non_null(strstr(mfs_treq_error(req), hosts));
	assert_false(mfs_treq_uncertain(req));
	mfs_treq_free(&req);
	client_deinit(&c);
	free(hosts);
	fake_stop(&fk);
}

/* More requests than connections: they are pipelined, answered in order,
   on persistent connections. */
static void test_client_pipeline(void **state)
{
	struct fake *fk = fake_start(fake_echo);
	char *hosts = hosts_of(fk->port, 0), num[16];
	struct mfs_treq *reqs[20];
	struct client c;
	unsigned int i;

	(void)state;
	client_init(&c, hosts, 2000);
	for (i = 0; i < 20; i++) {
		reqs[i] = client_req(&c, "echo", true);
		snprintf(num, sizeof(num), "%u", i);
		mfs_treq_arg(reqs[i], "n", num);
		assert_int_equal(mfs_treq_start(reqs[i]), 0);
	}
	client_wait(&c, 20);
	for (i = 0; i < 20; i++) {
		snprintf(num, sizeof(num), "%u", i);
		assert_int_equal(mfs_treq_result(reqs[i]), 0);
		assert_string_equal(mfs_treq_get(reqs[i], "n"), num);
		mfs_treq_free(&reqs[i]);
	}
	assert_true(fk->accepted <= MFS_MAX_CONNS);
	/* the connections stay: more requests need no new one */
	for (i = 0; i < 5; i++) {
		reqs[i] = client_req(&c, "noop", true);
		assert_int_equal(mfs_treq_start(reqs[i]), 0);
	}
	client_wait(&c, 25);
	for (i = 0; i < 5; i++)
		mfs_treq_free(&reqs[i]);
	assert_true(fk->accepted <= MFS_MAX_CONNS);
	client_deinit(&c);
	free(hosts);
	fake_stop(&fk);
}

/* The first tracker refuses: the second answers, and the dead one is not
   tried again for a while. Both dead: a clear error naming both. */
static void test_client_failover(void **state)
{
	struct fake *fk = fake_start(fake_echo);
	int dead1 = dead_port(), dead2 = dead_port();
	char *hosts = hosts_of(dead1, fk->port);
	struct mfs_treq *req;
	struct client c;
	unsigned int i;

	(void)state;
	client_init(&c, hosts, 2000);
	for (i = 0; i < 10; i++) {
		req = client_req(&c, "noop", false);
		assert_int_equal(mfs_treq_start(req), 0);
		client_wait(&c, i + 1);
		assert_int_equal(mfs_treq_result(req), 0);
		mfs_treq_free(&req);
		/* a new connection each time: the tracker closes them */
		fake_drop_conns(fk);
		usleep(20000);
	}
	/* the dead tracker was tried once, then skipped */
	assert_int_equal(mfs_tracker_connects(c.tr), 10 + 1);
	client_deinit(&c);
	free(hosts);

	hosts = hosts_of(dead1, dead2);
	client_init(&c, hosts, 2000);
	req = client_req(&c, "noop", false);
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 1);
	assert_int_equal(mfs_treq_result(req), -EIO);
	assert_false(mfs_treq_uncertain(req));
	assert_non_null(strstr(mfs_treq_error(req), "no tracker reachable"));
	assert_non_null(strstr(mfs_treq_error(req), "Connection refused"));
	mfs_treq_free(&req);
	client_deinit(&c);
	free(hosts);
	fake_stop(&fk);
}

/* No answer: -ETIMEDOUT after the stall timeout. An idempotent request is
   sent once more; the others are not, and say they are uncertain. */
static void test_client_timeout(void **state)
{
	struct fake *fk = fake_start(fake_echo);
	char *hosts = hosts_of(fk->port, 0);
	struct mfs_treq *req;
	struct client c;
	uint64_t start;

	(void)state;
	client_init(&c, hosts, 200);
	req = client_req(&c, "silent", false);
	start = fs_now_usec();
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 1);
	assert_true(fs_now_usec() - start >= 190000);
	assert_int_equal(mfs_treq_result(req), -ETIMEDOUT);
	assert_true(mfs_treq_uncertain(req));
	assert_non_null(strstr(mfs_treq_error(req), "not sent again"));
	assert_int_equal(fake_lines(fk), 1);
	mfs_treq_free(&req);

	req = client_req(&c, "silent", true);
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 2);
	assert_int_equal(mfs_treq_result(req), -ETIMEDOUT);
	/* sent twice */
	assert_int_equal(fake_lines(fk), 3);
	mfs_treq_free(&req);
	client_deinit(&c);
	free(hosts);
	fake_stop(&fk);
}

/* The tracker closes the connection after reading a request, or sends
   half a line: the same as a lost answer. */
static void test_client_lost_answer(void **state)
{
	struct fake *fk = fake_start(fake_echo);
	char *hosts = hosts_of(fk->port, 0);
	struct mfs_treq *req;
	struct client c;

	(void)state;
	client_init(&c, hosts, 2000);
	req = client_req(&c, "close", false);
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 1);
	assert_int_equal(mfs_treq_result(req), -EIO);
	assert_true(mfs_treq_uncertain(req));
	assert_non_null(strstr(mfs_treq_error(req), "closed by the tracker"));
	mfs_treq_free(&req);

	req = client_req(&c, "partial", false);
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 2);
	assert_int_equal(mfs_treq_result(req), -EIO);
	assert_true(mfs_treq_uncertain(req));
	mfs_treq_free(&req);

	/* idempotent: sent again on a new connection, and closed again */
	req = client_req(&c, "close", true);
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 3);
	assert_int_equal(mfs_treq_result(req), -EIO);
	assert_int_equal(fake_lines(fk), 4);
	mfs_treq_free(&req);
	client_deinit(&c);
	free(hosts);
	fake_stop(&fk);
}

/* An idle connection the tracker closed (a restart) is noticed before a
   request is sent on it: a new one is made, nothing is uncertain. */
static void test_client_stale(void **state)
{
	struct fake *fk = fake_start(fake_echo);
	char *hosts = hosts_of(fk->port, 0);
	struct mfs_treq *req;
	struct client c;

	(void)state;
	client_init(&c, hosts, 2000);
	req = client_req(&c, "noop", false);
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 1);
	mfs_treq_free(&req);
	fake_drop_conns(fk);
	usleep(50000);
	req = client_req(&c, "create_close", false);
	assert_int_equal(mfs_treq_start(req), 0);
	client_wait(&c, 2);
	assert_int_equal(mfs_treq_result(req), 0);
	assert_int_equal(fk->accepted, 2);
	mfs_treq_free(&req);
	client_deinit(&c);
	free(hosts);
	fake_stop(&fk);
}

/* A request freed while on a connection: its answer is read and dropped,
   and the next request gets its own answer. Orphans are sent and freed. */
static void test_client_cancel(void **state)
{
	struct fake *fk = fake_start(fake_echo);
	char *hosts = hosts_of(fk->port, 0);
	struct mfs_treq *reqs[MFS_MAX_CONNS + 2], *req;
	struct client c;
	unsigned int i;

	(void)state;
	client_init(&c, hosts, 2000);
	for (i = 0; i < MFS_MAX_CONNS + 2; i++) {
		reqs[i] = client_req(&c, "echo", true);
		mfs_treq_arg_u64(reqs[i], "n", i);
		assert_int_equal(mfs_treq_start(reqs[i]), 0);
	}
	for (i = 0; i < MFS_MAX_CONNS + 2; i += 2)
		mfs_treq_free(&reqs[i]);
	client_wait(&c, (MFS_MAX_CONNS + 2) / 2);
	for (i = 1; i < MFS_MAX_CONNS + 2; i += 2) {
		assert_int_equal(mfs_treq_result(reqs[i]), 0);
		assert_int_equal(atoi(mfs_treq_get(reqs[i], "n")), (int)i);
		mfs_treq_free(&reqs[i]);
	}
	req = mfs_treq_new(c.tr, "create_close", false);
	mfs_treq_arg(req, "key", "");
	mfs_treq_start_orphan(req);
	assert_true(mfs_tracker_pending(c.tr) >= 1);
	/* deinit waits for it */
	client_deinit(&c);
	assert_non_null(strstr(fk->last, "create_close key="));
	free(hosts);
	fake_stop(&fk);
}

static void test_client_bad_hosts(void **state)
{
	static const char *const bad[] = {
		"",	      "host",	"host:", ":7001",     "host:0",
		"host:65536", "host:x", "a:1,",	 "[::1]7001", "a:b:c",
	};
	struct mfs_tracker *tr;
	struct fs fs;
	size_t i;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	fs_settings_init(&fs.set);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tr = NULL;
		if (mfs_tracker_init(&fs, bad[i], &tr) != -EINVAL)
			fail_msg("hosts '%s' accepted", bad[i]);
		assert_null(tr);
	}
	assert_int_equal(mfs_tracker_init(&fs, "[::1]:7001,h:1", &tr), 0);
	mfs_tracker_deinit(&tr);
	fs_error_free(&fs.last_error);
}

/* ------------------------------------------------------------------------ */
/* The driver over the fake                                                   */

/* A tracker with odd answers: get_paths paths=0, file_info in any order,
   list_keys pages mixing other cases of the prefix (LIKE matches them). */
static enum fake_act fake_odd(struct fake *fk, const char *line, char *reply,
			      size_t size)
{
	if (strncmp(line, "get_paths ", 10) == 0) {
		snprintf(reply, size, "OK paths=0");
	} else if (strncmp(line, "file_info ", 10) == 0) {
		snprintf(reply, size,
			 "OK devcount=1&length=15&class=x&"
			 "domain=d&fid=7&key=k");
	} else if (strncmp(line, "list_keys ", 10) == 0 &&
		   strstr(line, "after=") == NULL) {
		snprintf(reply, size,
			 "OK key_count=3&next_after=p/z&"
			 "key_1=P/a&key_2=p/b&key_3=p/z");
	} else if (strncmp(line, "list_keys ", 10) == 0) {
		snprintf(reply, size, "ERR none_match No+keys");
	} else if (strncmp(line, "delete ", 7) == 0) {
		snprintf(reply, size, "ERR db db+error");
	} else {
		snprintf(reply, size,
			 "ERR unknown_command Unknown+server+"
			 "command");
	}
	return FAKE_REPLY;
}

static void test_driver_odd_replies(void **state)
{
	struct fake *fk = fake_start(fake_odd);
	struct fs_file *file;
	struct fs_iter *iter;
	struct fs_stat st;
	const char *key;
	char spec[128], buf[16];
	struct fs *fs;

	(void)state;
	snprintf(spec, sizeof(spec), "mogilefs://127.0.0.1:%d/d", fk->port);
	assert_int_equal(fs_init(spec, NULL, &fs, NULL), 0);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	/* paths=0: an error, never an empty object */
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EIO);
	assert_non_null(strstr(fs_file_last_error(file), "paths=0"));
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, 15);
	assert_int_equal(st.valid, FS_STAT_SIZE);
	assert_int_equal(fs_file_delete(file), -EIO);
	assert_non_null(strstr(fs_file_last_error(file), "ERR db db error"));
	fs_file_deinit(&file);

	/* "P/a" matched the LIKE but not the prefix */
	assert_int_equal(fs_iter_init(fs, "p/", 0, &iter), 0);
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_string_equal(key, "p/b");
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_string_equal(key, "p/z");
	assert_int_equal(fs_iter_next(iter, &key), 0);
	assert_int_equal(fs_iter_deinit(&iter), 0);
	fs_deinit(&fs);
	fake_stop(&fk);
}

static void test_driver_spec(void **state)
{
	static const char *const bad[] = {
		"mogilefs:",
		"mogilefs://",
		"mogilefs://127.0.0.1:7001",
		"mogilefs://127.0.0.1:7001/",
		"mogilefs://127.0.0.1:7001/d/e",
		"mogilefs:///dom",
		"mogilefs://127.0.0.1/dom",
		"mogilefs://127.0.0.1:7001/dom?bogus=1",
		"mogilefs://127.0.0.1:7001/dom?class=",
		"mogilefs://127.0.0.1:7001/dom?checksumverify=2",
	};
	const char *error;
	struct fs_file *file;
	char key[300];
	struct fs *fs;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fs = NULL;
		error = NULL;
		if (fs_init(bad[i], NULL, &fs, &error) != -EINVAL)
			fail_msg("spec '%s' accepted", bad[i]);
		assert_null(fs);
		assert_true(error != NULL && error[0] != '\0');
	}
	assert_int_equal(fs_init("mogilefs://127.0.0.1:7001,[::1]:7002/dom?"
				 "class=mail&checksumverify=1",
				 NULL, &fs, &error),
			 0);
	assert_int_equal(fs_get_caps(fs), FS_CAP_RANGE | FS_CAP_RENAME_ATOMIC |
						  FS_CAP_ITER | FS_CAP_ASYNC);
	/* keys over 255 bytes cannot exist on the tracker */
	memset(key, 'k', 256);
	key[128] = '/';
	key[256] = '\0';
	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), -EINVAL);
	assert_non_null(strstr(fs_last_error(fs), "255 bytes"));
	{
		struct fs_limits limits;

		fs_get_limits(fs, &limits);
		assert_int_equal(limits.key_max, 255);
	}
	key[255] = '\0';
	assert_int_equal(fs_file_init(fs, key, FS_OPEN_REPLACE, &file), 0);
	fs_file_deinit(&file);
	/* no metadata */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "a", "b"), -ENOTSUP);
	fs_file_deinit(&file);
	fs_deinit(&fs);
}

/* ------------------------------------------------------------------------ */
/* fs_http_wait_fds() */

static void test_http_wait_fds(void **state)
{
	struct curl_waitfd wfd;
	struct fs_http *http;
	uint64_t start;
	int pipefd[2];
	struct fs fs;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	fs_settings_init(&fs.set);
	assert_int_equal(fs_http_init(&fs, &http), 0);
	assert_int_equal(pipe(pipefd), 0);
	wfd.fd = pipefd[0];
	wfd.events = CURL_WAIT_POLLIN;
	/* nothing ready: waits the timeout although no request is pending */
	start = fs_now_usec();
	assert_int_equal(fs_http_wait_fds(http, &wfd, 1, 100), 0);
	assert_true(fs_now_usec() - start >= 90000);
	assert_int_equal(wfd.revents, 0);
	/* ready: returns at once and says so */
	assert_int_equal(write(pipefd[1], "x", 1), 1);
	start = fs_now_usec();
	assert_int_equal(fs_http_wait_fds(http, &wfd, 1, 5000), 0);
	assert_true(fs_now_usec() - start < 1000000);
	assert_true((wfd.revents & CURL_WAIT_POLLIN) != 0);
	/* without extra descriptors and requests it returns at once */
	start = fs_now_usec();
	assert_int_equal(fs_http_wait_fds(http, NULL, 0, 5000), 0);
	assert_true(fs_now_usec() - start < 1000000);
	close(pipefd[0]);
	close(pipefd[1]);
	fs_http_deinit(&http);
}

/* A PUT to a port nothing listens on: no byte of the body left. */
static void test_http_body_sent(void **state)
{
	struct fs_http_request *req;
	struct fs_http *http;
	char url[64];
	struct fs fs;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	fs_settings_init(&fs.set);
	fs.set.max_retries = FS_SETTINGS_NO_RETRY;
	assert_int_equal(fs_http_init(&fs, &http), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", dead_port());
	assert_int_equal(
		fs_http_request_init(http, FS_OP_WRITE, "PUT", url, &req), 0);
	fs_http_request_set_body(req, "0123456789", 10);
	assert_int_equal(fs_http_request_start(req), 0);
	while (!fs_http_request_is_done(req))
		assert_int_equal(fs_http_wait(http, 1000), 0);
	assert_true(fs_http_request_result(req) < 0);
	assert_int_equal(fs_http_request_status(req), 0);
	assert_int_equal(fs_http_request_body_sent(req), 0);
	fs_http_request_deinit(&req);
	fs_http_deinit(&http);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_encode),
		cmocka_unit_test(test_url_decode),
		cmocka_unit_test(test_args_parse),
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test(test_err_errno),
		cmocka_unit_test(test_regex_safe_len),
		cmocka_unit_test(test_client_basic),
		cmocka_unit_test(test_client_pipeline),
		cmocka_unit_test(test_client_failover),
		cmocka_unit_test(test_client_timeout),
		cmocka_unit_test(test_client_lost_answer),
		cmocka_unit_test(test_client_stale),
		cmocka_unit_test(test_client_cancel),
		cmocka_unit_test(test_client_bad_hosts),
		cmocka_unit_test(test_driver_odd_replies),
		cmocka_unit_test(test_driver_spec),
		cmocka_unit_test(test_http_wait_fds),
		cmocka_unit_test(test_http_body_sent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
