/*
 * The MogileFS mock and the driver over it.
 *
 * First the mock on its own, spoken to with raw lines and raw HTTP: the
 * quirks of MOGILEFS.md (the trailing space of "OK ", random argument
 * order, pipelining, callid, none_match, after_mismatch, case-insensitive
 * prefixes, size_mismatch then no_temp_file, an empty file from a PUT
 * without length, paths=0 while the nodes are down). Then the driver:
 * round trips over two trackers, a dead tracker, a tracker dying between
 * requests, reads falling over to the second copy (node dead, node
 * failing, connection cut in the middle), writes falling over to the next
 * destination or starting over, create_close errors and lost answers,
 * aborts, listings with the tracker's case and regex quirks, pipelined
 * delete_prefix, timeouts, and a seeded fault run in which every
 * acknowledged write reads back byte-identical and every failed one leaves
 * no key.
 *
 * Every server runs on 127.0.0.1 with ephemeral ports and is stopped by the
 * test that started it.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "libfs/driver.h"
#include "mogilefs.h"

struct t {
	struct fs_mogmock *mock;
	struct fs *fs;
	char *spec;
};

static void t_start(struct t *t, struct fs_mogmock_settings *set,
		    const char *query, const struct fs_settings *fset)
{
	struct fs_mogmock_settings defaults;
	const char *ferror = NULL;
	char *error = NULL;

	memset(t, 0, sizeof(*t));
	if (set == NULL) {
		fs_mogmock_settings_init(&defaults);
		set = &defaults;
	}
	if (set->seed == 0)
		set->seed = 42;
	t->mock = fs_mogmock_start(set, &error);
	if (t->mock == NULL)
		fail_msg("mock: %s", error != NULL ? error : "?");
	t->spec = fs_mogmock_spec(t->mock, query);
	assert_non_null(t->spec);
	if (fs_init(t->spec, fset, &t->fs, &ferror) < 0)
		fail_msg("fs_init(%s): %s", t->spec, ferror);
}

static void t_stop(struct t *t)
{
	fs_deinit(&t->fs);
	fs_mogmock_stop(&t->mock);
	free(t->spec);
}

static void gen(unsigned int seed, unsigned char *buf, size_t size)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

/* Writes size bytes of gen(seed) in chunks. Returns the finish result. */
static int put(struct fs *fs, const char *key, unsigned int mode,
	       unsigned int seed, size_t size, char *error, size_t esize)
{
	unsigned char *buf = malloc(size + 1);
	struct fs_file *file;
	size_t pos = 0, n;
	int ret;

	assert_non_null(buf);
	gen(seed, buf, size);
	assert_int_equal(fs_file_init(fs, key, mode, &file), 0);
	ret = 0;
	while (pos < size && ret >= 0) {
		n = size - pos > 70000 ? 70000 : size - pos;
		ret = (int)fs_write(file, buf + pos, n);
		pos += n;
	}
	if (ret >= 0)
		ret = fs_write_finish(file);
	if (error != NULL)
		snprintf(error, esize, "%s", fs_file_last_error(file));
	fs_file_deinit(&file);
	free(buf);
	return ret;
}

static void put_ok(struct fs *fs, const char *key, unsigned int seed,
		   size_t size)
{
	char error[512];

	if (put(fs, key, FS_OPEN_REPLACE, seed, size, error, sizeof(error)) < 0)
		fail_msg("write %s: %s", key, error);
}

/* Reads key; returns 0 and checks the bytes against gen(seed, size), or
   the error (a read may fail, it may not return wrong data). */
static int get_check(struct fs *fs, const char *key, unsigned int seed,
		     size_t size)
{
	unsigned char *want = malloc(size + 1);
	struct fs_file *file;
	void *data = NULL;
	size_t got = 0;
	int ret;

	gen(seed, want, size);
	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	ret = fs_read_all(file, &data, &got);
	if (ret == 0) {
		if (got != size || memcmp(data, want, size) != 0)
			fail_msg("%s: %zu bytes read, not the %zu written", key,
				 got, size);
	}
	free(data);
	free(want);
	fs_file_deinit(&file);
	return ret;
}

static void get_ok(struct fs *fs, const char *key, unsigned int seed,
		   size_t size)
{
	struct fs_file *file;
	int ret = get_check(fs, key, seed, size);

	if (ret < 0) {
		assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
		fail_msg("read %s: %s", key, fs_errno_name(ret));
	}
}

static int exists(struct fs *fs, const char *key)
{
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	ret = fs_file_exists(file);
	fs_file_deinit(&file);
	return ret;
}

static void delete_ok(struct fs *fs, const char *key)
{
	struct fs_file *file;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file), 0);
	fs_file_deinit(&file);
}

/* Reopens the fs: fs_deinit() waits for the closes that discard fids,
   which are sent without waiting for their answer. */
static void t_flush(struct t *t)
{
	if (t->fs == NULL)
		return;
	fs_deinit(&t->fs);
	assert_int_equal(fs_init(t->spec, NULL, &t->fs, NULL), 0);
}

static void settled_state(struct t *t, struct fs_mogmock_state *st)
{
	t_flush(t);
	assert_int_equal(fs_mogmock_settle(t->mock, 10000), 0);
	assert_int_equal(fs_mogmock_state(t->mock, st), 0);
}

static void fault(struct t *t, const char *rule)
{
	char *error = NULL;

	if (fs_mogmock_fault_add(t->mock, rule, &error) <= 0)
		fail_msg("rule %s: %s", rule, error != NULL ? error : "?");
}

/* ------------------------------------------------------------------------ */
/* Raw protocol                                                               */

static int raw_connect(unsigned int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void raw_send(int fd, const char *text)
{
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL),
			 (ssize_t)strlen(text));
}

/* Reads one line with its "\r\n" into buf (5 s at most). */
static void raw_line(int fd, char *buf, size_t size)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t len = 0;

	while (len + 1 < size) {
		assert_true(poll(&pfd, 1, 5000) == 1);
		assert_int_equal(recv(fd, buf + len, 1, 0), 1);
		len++;
		if (buf[len - 1] == '\n')
			break;
	}
	buf[len] = '\0';
}

static char *raw_cmd(int fd, const char *line, char *buf, size_t size)
{
	raw_send(fd, line);
	raw_line(fd, buf, size);
	return buf;
}

/* The value of name in an "OK a=b&..." line (copied into val). */
static const char *raw_arg(const char *line, const char *name, char *val,
			   size_t size)
{
	char pat[64];
	const char *p;
	size_t len;

	snprintf(pat, sizeof(pat), "%s=", name);
	for (p = strstr(line, pat); p != NULL; p = strstr(p + 1, pat)) {
		if (p[-1] == ' ' || p[-1] == '&')
			break;
	}
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	len = strcspn(p, "&\r\n");
	snprintf(val, size, "%.*s", (int)len, p);
	return val;
}

/* A raw HTTP/1.0 request to a node; returns the status line's code and the
   response in resp. */
static int raw_http(unsigned int port, const char *req, size_t req_len,
		    char *resp, size_t size)
{
	int fd = raw_connect(port), code = 0;
	size_t len = 0;
	ssize_t n;

	assert_int_equal(send(fd, req, req_len, MSG_NOSIGNAL),
			 (ssize_t)req_len);
	while (len + 1 < size &&
	       (n = recv(fd, resp + len, size - len - 1, 0)) > 0)
		len += (size_t)n;
	resp[len] = '\0';
	close(fd);
	assert_int_equal(sscanf(resp, "HTTP/1.%*d %d", &code), 1);
	return code;
}

static void test_raw_framing(void **state)
{
	struct t t;
	char line[4096], v[64];
	int fd, i, order = 0, seen = 0;

	(void)state;
	t_start(&t, NULL, NULL, NULL);
	fd = raw_connect(fs_mogmock_tracker_port(t.mock, 0));
	/* a bare success is exactly "OK \r\n"; empty lines are ignored */
	assert_string_equal(raw_cmd(fd, "\r\nnoop\r\n", line, sizeof(line)),
			    "OK \r\n");
	assert_string_equal(raw_cmd(fd, "NOOP\n", line, sizeof(line)),
			    "OK \r\n");
	/* three pipelined lines, three answers in order */
	raw_send(fd, "noop callid=1\r\ndelete domain=testdom&key=nope&"
		     "callid=2\r\nbogus_cmd\r\n");
	raw_line(fd, line, sizeof(line));
	assert_string_equal(line, "OK callid=1\r\n");
	raw_line(fd, line, sizeof(line));
	assert_string_equal(line, "ERR unknown_key unknown_key 2\r\n");
	raw_line(fd, line, sizeof(line));
	assert_string_equal(line,
			    "ERR unknown_command Unknown+server+command\r\n");
	assert_string_equal(
		raw_cmd(fd, "file_info key=x\r\n", line, sizeof(line)),
		"ERR no_domain no_domain\r\n");
	assert_string_equal(raw_cmd(fd, "file_info domain=nodom&key=x\r\n",
				    line, sizeof(line)),
			    "ERR unreg_domain unreg_domain\r\n");
	assert_string_equal(raw_cmd(fd,
				    "list_keys domain=testdom&prefix=zzz\r\n",
				    line, sizeof(line)),
			    "ERR none_match No+keys+match+that+pattern+and+"
			    "after-value+%28if+any%29.\r\n");
	/* reply arguments come in a random order */
	for (i = 0; i < 20; i++) {
		raw_cmd(fd,
			"create_open "
			"domain=testdom&key=o&fid=0&multi_dest=1\r\n",
			line, sizeof(line));
		assert_non_null(raw_arg(line, "dev_count", v, sizeof(v)));
		assert_string_equal(v, "2");
		assert_non_null(raw_arg(line, "path_1", v, sizeof(v)));
		assert_int_equal(strncmp(line, "OK ", 3), 0);
		seen |= strncmp(line, "OK fid=", 7) == 0 ? 1 : 2;
		order++;
	}
	assert_int_equal(seen, 3);
	assert_string_equal(raw_cmd(fd,
				    "create_open domain=testdom&class=x\r\n",
				    line, sizeof(line)),
			    "ERR unreg_class unreg_class\r\n");
	close(fd);
	t_stop(&t);
}

/* Keys with every special byte round-trip through the tracker. */
static void test_raw_encoding(void **state)
{
	struct t t;
	char line[4096], v[256];
	int fd;

	(void)state;
	t_start(&t, NULL, NULL, NULL);
	put_ok(t.fs, "we&ird=key%+sp ace/\xc3\xbc\\x:,", 1, 15);
	fd = raw_connect(fs_mogmock_tracker_port(t.mock, 1));
	raw_cmd(fd,
		"file_info domain=testdom&key=we%26ird%3Dkey%25%2Bsp+ace/"
		"%C3%BC\\x:,\r\n",
		line, sizeof(line));
	assert_non_null(raw_arg(line, "key", v, sizeof(v)));
	assert_string_equal(v, "we%26ird%3Dkey%25%2Bsp+ace/%C3%BC\\x:,");
	assert_non_null(raw_arg(line, "length", v, sizeof(v)));
	assert_string_equal(v, "15");
	raw_cmd(fd, "list_keys domain=testdom&prefix=we\r\n", line,
		sizeof(line));
	assert_non_null(raw_arg(line, "next_after", v, sizeof(v)));
	assert_string_equal(v, "we%26ird%3Dkey%25%2Bsp+ace/%C3%BC\\x:,");
	close(fd);
	get_ok(t.fs, "we&ird=key%+sp ace/\xc3\xbc\\x:,", 1, 15);
	t_stop(&t);
}

/* create_close checks the size it finds; any error is final for the fid;
   a PUT without length stores an empty file. */
static void test_raw_close(void **state)
{
	struct fs_mogmock_settings set;
	struct fs_mogmock_state st;
	char line[4096], path[256], devid[16], fid[16], req[512], resp[2048];
	char close_cmd[1024];
	unsigned int port;
	struct t t;
	int fd;

	(void)state;
	fs_mogmock_settings_init(&set);
	set.ordered_devices = true;
	t_start(&t, &set, NULL, NULL);
	fd = raw_connect(fs_mogmock_tracker_port(t.mock, 0));
	raw_cmd(fd, "create_open domain=testdom&key=&multi_dest=1\r\n", line,
		sizeof(line));
	assert_non_null(raw_arg(line, "path_1", path, sizeof(path)));
	assert_non_null(raw_arg(line, "devid_1", devid, sizeof(devid)));
	assert_non_null(raw_arg(line, "fid", fid, sizeof(fid)));
	assert_string_equal(devid, "1");
	assert_int_equal(sscanf(path, "http://127.0.0.1:%u/", &port), 1);
	assert_non_null(strstr(path, "/dev1/0/000/000/000000000"));
	/* PUT with Content-Length, the Perl client's way */
	snprintf(req, sizeof(req),
		 "PUT %s HTTP/1.0\r\nContent-length: 11\r\n\r\nhello world",
		 strchr(path + 7, '/'));
	assert_int_equal(raw_http(port, req, strlen(req), resp, sizeof(resp)),
			 200);
	snprintf(close_cmd, sizeof(close_cmd),
		 "create_close domain=testdom&fid=%s&devid=%s&path=%s&key=k&"
		 "size=99\r\n",
		 fid, devid, path);
	raw_cmd(fd, close_cmd, line, sizeof(line));
	assert_int_equal(strncmp(line,
				 "ERR size_mismatch Expected:+99%3B+actual:+"
				 "11%3B+path:+http://127.0.0.1:",
				 71),
			 0);
	/* the fid is gone: a retry gets no_temp_file */
	assert_string_equal(raw_cmd(fd, close_cmd, line, sizeof(line)),
			    "ERR no_temp_file no_temp_file\r\n");
	assert_int_equal(fs_mogmock_devcount(t.mock, "k"), -ENOENT);

	/* a PUT without length stores an empty file */
	raw_cmd(fd, "create_open domain=testdom&key=&multi_dest=1\r\n", line,
		sizeof(line));
	raw_arg(line, "path_1", path, sizeof(path));
	raw_arg(line, "fid", fid, sizeof(fid));
	snprintf(req, sizeof(req), "PUT %s HTTP/1.0\r\n\r\nignored body",
		 strchr(path + 7, '/'));
	assert_int_equal(raw_http(port, req, strlen(req), resp, sizeof(resp)),
			 200);
	snprintf(close_cmd, sizeof(close_cmd),
		 "create_close domain=testdom&fid=%s&devid=1&path=%s&key=e\r\n",
		 fid, path);
	assert_string_equal(raw_cmd(fd, close_cmd, line, sizeof(line)),
			    "OK \r\n");
	raw_cmd(fd, "file_info domain=testdom&key=e\r\n", line, sizeof(line));
	assert_string_equal(raw_arg(line, "length", fid, sizeof(fid)), "0");
	/* a bad checksum and a wrong path */
	assert_string_equal(
		raw_cmd(fd,
			"create_close domain=testdom&fid=99&devid=1&path=x&"
			"key=k&checksum=CRC:1\r\n",
			line, sizeof(line)),
		"ERR invalid_checksum_format invalid_checksum_format\r\n");
	assert_string_equal(raw_cmd(fd,
				    "create_close domain=testdom&fid=99&devid=1"
				    "&path=http://x/&key=k\r\n",
				    line, sizeof(line)),
			    "ERR bogus_args bogus_args\r\n");
	/* rename never overwrites */
	put_ok(t.fs, "r1", 1, 10);
	assert_string_equal(
		raw_cmd(fd, "rename domain=testdom&from_key=r1&to_key=e\r\n",
			line, sizeof(line)),
		"ERR key_exists key_exists\r\n");
	assert_string_equal(raw_cmd(fd, "noop\r\n", line, sizeof(line)),
			    "OK \r\n");
	close(fd);
	settled_state(&t, &st);
	assert_int_equal(st.keys, 2);
	assert_int_equal(st.tempfiles, 0);
	t_stop(&t);
}

/* list_keys: LIKE prefixes match any case, "after" must match ^PREFIX. */
static void test_raw_list(void **state)
{
	char line[4096], v[64];
	struct t t;
	int fd;

	(void)state;
	t_start(&t, NULL, NULL, NULL);
	put_ok(t.fs, "Ab/1", 1, 1);
	put_ok(t.fs, "ab/2", 1, 1);
	put_ok(t.fs, "ab/3", 1, 1);
	fd = raw_connect(fs_mogmock_tracker_port(t.mock, 0));
	raw_cmd(fd, "list_keys domain=testdom&prefix=ab/\r\n", line,
		sizeof(line));
	assert_string_equal(raw_arg(line, "key_count", v, sizeof(v)), "3");
	assert_string_equal(raw_arg(line, "key_1", v, sizeof(v)), "Ab/1");
	assert_string_equal(raw_arg(line, "next_after", v, sizeof(v)), "ab/3");
	raw_cmd(fd,
		"list_keys domain=testdom&prefix=ab/&after=ab/2&limit=1\r\n",
		line, sizeof(line));
	assert_string_equal(raw_arg(line, "key_1", v, sizeof(v)), "ab/3");
	assert_string_equal(raw_cmd(fd,
				    "list_keys domain=testdom&prefix=ab/&"
				    "after=Ab/1\r\n",
				    line, sizeof(line)),
			    "ERR after_mismatch after_mismatch\r\n");
	/* the end of a pagination is ERR none_match too */
	assert_int_equal(strncmp(raw_cmd(fd,
					 "list_keys domain=testdom&prefix=ab/"
					 "&after=ab/3\r\n",
					 line, sizeof(line)),
				 "ERR none_match ", 15),
			 0);
	close(fd);
	t_stop(&t);
}

/* While the only node with a copy is down: paths=0 (then, later, a dead
   path as a lone fallback); create_open has no device. */
static void test_raw_nodes_down(void **state)
{
	struct fs_mogmock_settings set;
	struct fs_file *file;
	char line[4096], buf[16];
	struct fs_stat st;
	struct t t;
	int fd;

	(void)state;
	fs_mogmock_settings_init(&set);
	set.nodes = 1;
	set.mindevcount = 1;
	set.dead_paths0_ms = 60000;
	t_start(&t, &set, NULL, NULL);
	put_ok(t.fs, "k", 3, 1000);
	assert_int_equal(fs_mogmock_kill(t.mock, "node0"), 0);
	fd = raw_connect(fs_mogmock_tracker_port(t.mock, 0));
	assert_string_equal(raw_cmd(fd,
				    "get_paths domain=testdom&key=k&noverify="
				    "1\r\n",
				    line, sizeof(line)),
			    "OK paths=0\r\n");
	assert_string_equal(raw_cmd(fd, "create_open domain=testdom&key=k\r\n",
				    line, sizeof(line)),
			    "ERR no_devices no_devices\r\n");
	close(fd);
	/* the driver: an error, never an empty object; stat still works */
	assert_int_equal(fs_file_init(t.fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EIO);
	assert_non_null(strstr(fs_file_last_error(file), "paths=0"));
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(t.fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, 1000);
	fs_file_deinit(&file);
	assert_int_equal(
		put(t.fs, "k2", FS_OPEN_REPLACE, 1, 10, line, sizeof(line)),
		-EIO);
	assert_non_null(strstr(line, "no_devices"));
	assert_int_equal(fs_mogmock_revive(t.mock, "node0"), 0);
	get_ok(t.fs, "k", 3, 1000);
	t_stop(&t);
}

/* ------------------------------------------------------------------------ */
/* The driver                                                                 */

static const size_t sizes[] = {0,      1,	100,	 4095,	 65536,
			       200000, 1048576, 1048577, 2500000};

/* Round trips over two trackers, one of them killed half-way, and the
   first one dead from the start in a second fs. */
static void test_roundtrip_trackers(void **state)
{
	struct fs_mogmock_state st;
	struct fs_settings fset;
	struct fs *fs2;
	char key[64];
	struct t t;
	size_t i;

	(void)state;
	fs_settings_init(&fset);
	fset.temp_dir = "/tmp";
	t_start(&t, NULL, NULL, &fset);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(key, sizeof(key), "rt/%zu", i);
		put_ok(t.fs, key, (unsigned int)i, sizes[i]);
		if (i == 3)
			assert_int_equal(fs_mogmock_kill(t.mock, "tracker0"),
					 0);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(key, sizeof(key), "rt/%zu", i);
		get_ok(t.fs, key, (unsigned int)i, sizes[i]);
	}
	assert_int_equal(fs_init(t.spec, NULL, &fs2, NULL), 0);
	get_ok(fs2, "rt/6", 6, sizes[6]);
	fs_deinit(&fs2);
	assert_int_equal(fs_mogmock_revive(t.mock, "tracker0"), 0);
	assert_int_equal(fs_mogmock_kill(t.mock, "tracker1"), 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(key, sizeof(key), "rt/%zu", i);
		delete_ok(t.fs, key);
		assert_int_equal(exists(t.fs, key), 0);
	}
	assert_true(fs_mogmock_counter(t.mock, "tracker1_requests") > 0);
	assert_true(fs_mogmock_counter(t.mock, "tracker0_requests") > 0);
	settled_state(&t, &st);
	assert_int_equal(st.keys, 0);
	assert_int_equal(st.tempfiles, 0);
	assert_int_equal(st.stored, 0);
	t_stop(&t);
}

/* A two-copy file; the node of the first path dies after the tracker last
   heard of it: the read takes the second copy. */
static void test_read_node_dead(void **state)
{
	struct fs_mogmock_settings set;
	struct fs_stats stats;
	struct t t;

	(void)state;
	fs_mogmock_settings_init(&set);
	set.ordered_devices = true;
	set.monitor_delay_ms = 600000;
	t_start(&t, &set, NULL, NULL);
	put_ok(t.fs, "k", 7, 300000);
	assert_int_equal(fs_mogmock_settle(t.mock, 10000), 0);
	assert_int_equal(fs_mogmock_devcount(t.mock, "k"), 2);
	assert_int_equal(fs_mogmock_kill(t.mock, "node0"), 0);
	fs_mogmock_counters_reset(t.mock);
	fs_stats_reset(t.fs);
	get_ok(t.fs, "k", 7, 300000);
	assert_int_equal(fs_stats_get(t.fs, 0, &stats), 0);
	assert_int_equal(stats.ops[FS_OP_READ].retries, 1);
	assert_int_equal(fs_mogmock_counter(t.mock, "node0_requests"), 0);
	t_stop(&t);
}

/* The first node answers 500, or cuts the body in the middle (the read
   goes on at that byte on the other copy), or every path says 404 once
   (get_paths is asked again). */
static void test_read_node_faults(void **state)
{
	struct fs_mogmock_settings set;
	struct fs_file *file;
	unsigned char buf[1000], want[1000], *all;
	struct t t;

	(void)state;
	fs_mogmock_settings_init(&set);
	set.ordered_devices = true;
	t_start(&t, &set, NULL, NULL);
	put_ok(t.fs, "k", 8, 1048576);
	assert_int_equal(fs_mogmock_settle(t.mock, 10000), 0);
	fault(&t, "method=GET,bucket=node0,status=500,times=1");
	get_ok(t.fs, "k", 8, 1048576);
	fault(&t, "method=GET,bucket=node0,action=reset,after=300000,times=1");
	fs_mogmock_counters_reset(t.mock);
	get_ok(t.fs, "k", 8, 1048576);
	assert_int_equal(fs_mogmock_counter(t.mock, "node_status_206"), 1);
	fault(&t, "method=GET,status=404,times=4");
	fs_mogmock_counters_reset(t.mock);
	get_ok(t.fs, "k", 8, 1048576);
	assert_int_equal(fs_mogmock_counter(t.mock, "get_paths"), 2);
	/* a range read cut in the middle */
	fault(&t, "method=GET,bucket=node0,action=truncate,after=500,times=1");
	all = malloc(1048576);
	gen(8, all, 1048576);
	memcpy(want, all + 5000, sizeof(want));
	free(all);
	assert_int_equal(fs_file_init(t.fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_set_range(file, 5000, sizeof(buf)), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 500);
	assert_int_equal(fs_read(file, buf + 500, sizeof(buf) - 500), 500);
	assert_memory_equal(buf, want, sizeof(buf));
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	fs_file_deinit(&file);
	/* a range past the end reads as empty */
	assert_int_equal(fs_file_init(t.fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_set_range(file, 1048576, 10), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	fs_file_deinit(&file);
	t_stop(&t);
}

/* The first destination's node is dead: the PUT moves on to the second
   destination of the same fid. A PUT cut after some bytes starts over with
   a new fid, and the half-written one is discarded. */
static void test_write_failover(void **state)
{
	struct fs_mogmock_settings set;
	struct fs_mogmock_state st;
	struct t t;

	(void)state;
	fs_mogmock_settings_init(&set);
	set.ordered_devices = true;
	set.monitor_delay_ms = 600000;
	t_start(&t, &set, NULL, NULL);
	assert_int_equal(fs_mogmock_kill(t.mock, "node0"), 0);
	put_ok(t.fs, "k", 9, 100000);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_open"), 1);
	assert_int_equal(fs_mogmock_devcount(t.mock, "k"), 1);
	get_ok(t.fs, "k", 9, 100000);
	assert_int_equal(fs_mogmock_revive(t.mock, "node0"), 0);

	fault(&t, "method=PUT,bucket=node0,action=reset,after=30000,times=1");
	fs_mogmock_counters_reset(t.mock);
	put_ok(t.fs, "k2", 10, 100000);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_open"), 2);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_close"), 2);
	get_ok(t.fs, "k2", 10, 100000);
	settled_state(&t, &st);
	assert_int_equal(st.keys, 2);
	assert_int_equal(st.tempfiles, 0);
	/* two copies each, nothing of the cut PUT */
	assert_int_equal(st.stored, 4);
	t_stop(&t);
}

/* create_close errors start over; an error that stays fails the write
   and leaves nothing; an answer lost after the close ran is found by
   file_info, one lost before it ran starts over. */
static void test_write_close(void **state)
{
	struct fs_mogmock_state st;
	char error[512];
	struct t t;

	(void)state;
	t_start(&t, NULL, NULL, NULL);
	fault(&t, "op=create_close,code=size_mismatch,times=1");
	put_ok(t.fs, "a", 1, 5000);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_open"), 2);
	get_ok(t.fs, "a", 1, 5000);

	/* not for the discarding closes (no key): they must go through */
	fault(&t, "op=create_close,key=b,code=db,message=the db is gone");
	assert_int_equal(
		put(t.fs, "b", FS_OPEN_REPLACE, 2, 5000, error, sizeof(error)),
		-EIO);
	assert_non_null(strstr(error, "3 attempts"));
	assert_non_null(strstr(error, "ERR db the db is gone"));
	assert_int_equal(exists(t.fs, "b"), 0);
	fs_mogmock_faults_clear(t.mock);
	t_flush(&t);

	fault(&t, "op=create_close,after=1,action=reset,times=1");
	fs_mogmock_counters_reset(t.mock);
	put_ok(t.fs, "c", 3, 5000);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_close"), 1);
	assert_int_equal(fs_mogmock_counter(t.mock, "file_info"), 1);
	get_ok(t.fs, "c", 3, 5000);

	fault(&t, "op=create_close,action=reset,times=1");
	t_flush(&t);
	fs_mogmock_counters_reset(t.mock);
	put_ok(t.fs, "d", 4, 5000);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_open"), 2);
	get_ok(t.fs, "d", 4, 5000);

	fault(&t, "op=create_open,code=no_devices");
	assert_int_equal(
		put(t.fs, "e", FS_OPEN_REPLACE, 5, 10, error, sizeof(error)),
		-EIO);
	assert_non_null(strstr(error, "no_devices"));
	fs_mogmock_faults_clear(t.mock);
	settled_state(&t, &st);
	assert_int_equal(st.keys, 3);
	assert_int_equal(st.tempfiles, 0);
	assert_int_equal(st.stored, 6);
	t_stop(&t);
}

/* CREATE: -EEXIST when the key exists, checked before create_open. */
static void test_create_mode(void **state)
{
	struct fs_mogmock_state st;
	struct t t;

	(void)state;
	t_start(&t, NULL, "class=single", NULL);
	assert_int_equal(put(t.fs, "k", FS_OPEN_CREATE, 1, 10, NULL, 0), 0);
	fs_mogmock_counters_reset(t.mock);
	assert_int_equal(put(t.fs, "k", FS_OPEN_CREATE, 2, 20, NULL, 0),
			 -EEXIST);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_open"), 0);
	get_ok(t.fs, "k", 1, 10);
	settled_state(&t, &st);
	assert_int_equal(st.tempfiles, 0);
	assert_int_equal(st.stored, 1);
	t_stop(&t);
}

/* An abort at any point leaves no key, no tempfile and no stored file. */
static void test_abort(void **state)
{
	struct fs_mogmock_state st;
	struct fs_file *file;
	unsigned char buf[4096];
	struct t t;
	int ret, rounds = 0;

	(void)state;
	t_start(&t, NULL, NULL, NULL);
	memset(buf, 'x', sizeof(buf));
	/* before finish: nothing was asked of the tracker */
	assert_int_equal(fs_file_init(t.fs, "a", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, buf, sizeof(buf)), sizeof(buf));
	fs_file_deinit(&file);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_open"), 0);
	/* while the PUT runs: the fid is closed with an empty key */
	fault(&t, "method=PUT,delay=300");
	assert_int_equal(fs_file_init(t.fs, "b",
				      FS_OPEN_REPLACE | FS_OPEN_FLAG_ASYNC,
				      &file),
			 0);
	assert_int_equal(fs_write(file, buf, sizeof(buf)), sizeof(buf));
	while ((ret = fs_write_finish(file)) == -EAGAIN &&
	       fs_mogmock_counter(t.mock, "node_PUT") == 0 && rounds++ < 500)
		fs_wait_async(t.fs, 10);
	assert_int_equal(ret, -EAGAIN);
	fs_write_abort(file);
	fs_file_deinit(&file);
	assert_int_equal(fs_async_pending(t.fs), 0);
	fs_deinit(&t.fs);
	settled_state(&t, &st);
	assert_int_equal(st.keys, 0);
	assert_int_equal(st.tempfiles, 0);
	assert_int_equal(st.stored, 0);
	assert_int_equal(fs_mogmock_counter(t.mock, "create_close"), 1);
	t_stop(&t);
}

/* A large write is spooled to an unnamed file under temp_dir: nothing is
   visible there, and memory stays small. */
static void test_spool(void **state)
{
	char dir[] = "/tmp/libfs-mog-spool-XXXXXX";
	struct fs_settings fset;
	struct dirent *de;
	unsigned int entries = 0;
	DIR *d;
	struct t t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fs_settings_init(&fset);
	fset.temp_dir = dir;
	t_start(&t, NULL, NULL, &fset);
	put_ok(t.fs, "big", 11, 5 * 1048576 + 3);
	get_ok(t.fs, "big", 11, 5 * 1048576 + 3);
	d = opendir(dir);
	while ((de = readdir(d)) != NULL)
		entries += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(entries, 0);
	rmdir(dir);
	/* a temp_dir that does not exist: a clear error, nothing written */
	fs_deinit(&t.fs);
	fset.temp_dir = "/nonexistent/dir";
	assert_int_equal(fs_init(t.spec, &fset, &t.fs, NULL), 0);
	{
		char error[512];

		assert_int_equal(put(t.fs, "big2", FS_OPEN_REPLACE, 1,
				     2 * 1048576, error, sizeof(error)),
				 -ENOENT);
		assert_non_null(strstr(error, "/nonexistent/dir"));
	}
	t_stop(&t);
}

static void expect_list(struct fs *fs, const char *prefix, unsigned int flags,
			const char *const *want, size_t count)
{
	struct fs_iter *iter;
	const char *key;
	size_t n = 0;
	int ret;

	assert_int_equal(fs_iter_init(fs, prefix, flags, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		if (n >= count || strcmp(key, want[n]) != 0)
			fail_msg("list '%s': key %zu is '%s', expected '%s'",
				 prefix, n, key, n < count ? want[n] : "end");
		n++;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(n, count);
	assert_int_equal(fs_iter_deinit(&iter), 0);
}

/* Listings through the tracker's quirks: over a thousand keys of another
   case before the prefix, a key equal to the prefix, a prefix with regex
   metacharacters over more than one page, and one-level grouping. */
static void test_list_quirks(void **state)
{
	static const char *const want_b[] = {"b/x", "b/x1", "b/x2"};
	static const char *const want_top[] = {"B/", "b/", "c+d/"};
	const char *keys[1101];
	struct fs_iter *iter;
	char key[64];
	const char *k;
	struct t t;
	int i, n = 0;

	(void)state;
	t_start(&t, NULL, "class=single", NULL);
	for (i = 0; i < 1100; i++) {
		snprintf(key, sizeof(key), "B/x%04d", i);
		assert_int_equal(put(t.fs, key, FS_OPEN_REPLACE, 0, 0, NULL, 0),
				 0);
	}
	put_ok(t.fs, "b/x", 0, 0);
	put_ok(t.fs, "b/x1", 0, 0);
	put_ok(t.fs, "b/x2", 0, 0);
	for (i = 0; i < 1001; i++) {
		snprintf(key, sizeof(key), "c+d/%04d", i);
		assert_int_equal(put(t.fs, key, FS_OPEN_REPLACE, 0, 0, NULL, 0),
				 0);
	}
	expect_list(t.fs, "b/x", 0, want_b, 3);
	expect_list(t.fs, "b/", 0, want_b, 3);
	expect_list(t.fs, "", FS_ITER_FLAG_ONE_LEVEL, want_top, 3);
	/* the regex prefix: all 1001 keys in order over two pages */
	assert_int_equal(fs_iter_init(t.fs, "c+d/", 0, &iter), 0);
	while (fs_iter_next(iter, &k) > 0) {
		snprintf(key, sizeof(key), "c+d/%04d", n++);
		assert_string_equal(k, key);
	}
	assert_int_equal(fs_iter_deinit(&iter), 0);
	assert_int_equal(n, 1001);
	/* case-sensitive B/ */
	for (i = 0; i < 1100; i++)
		keys[i] = NULL;
	assert_int_equal(fs_delete_prefix(t.fs, "B/"), 1100);
	expect_list(t.fs, "B/", 0, keys, 0);
	expect_list(t.fs, "b/", 0, want_b, 3);
	t_stop(&t);
}

/* fs_delete_prefix() pipelines its deletes on the few connections. */
static void test_delete_prefix(void **state)
{
	struct fs_mogmock_state st;
	char key[64];
	struct t t;
	int i;

	(void)state;
	t_start(&t, NULL, "class=single", NULL);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "dp/%03d", i);
		put_ok(t.fs, key, (unsigned int)i, 10);
	}
	put_ok(t.fs, "dq", 1, 10);
	fs_mogmock_counters_reset(t.mock);
	assert_int_equal(fs_delete_prefix(t.fs, "dp/"), 300);
	assert_int_equal(fs_mogmock_counter(t.mock, "delete"), 300);
	assert_true(fs_mogmock_counter(t.mock, "tracker_connections") <= 4);
	settled_state(&t, &st);
	assert_int_equal(st.keys, 1);
	assert_int_equal(st.stored, 1);
	t_stop(&t);
}

/* rename: atomic on the tracker; CREATE onto an existing key -EEXIST,
   REPLACE deletes it first. */
static void test_rename(void **state)
{
	struct fs_file *src, *dst;
	struct t t;

	(void)state;
	t_start(&t, NULL, NULL, NULL);
	put_ok(t.fs, "s", 1, 100);
	put_ok(t.fs, "d", 2, 200);
	assert_int_equal(fs_file_init(t.fs, "s", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(t.fs, "d", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_rename(src, dst), -EEXIST);
	fs_file_deinit(&dst);
	assert_int_equal(fs_file_init(t.fs, "d", FS_OPEN_REPLACE, &dst), 0);
	assert_int_equal(fs_rename(src, dst), 0);
	fs_file_deinit(&dst);
	assert_int_equal(fs_file_init(t.fs, "n", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_rename(src, dst), -ENOENT);
	fs_file_deinit(&dst);
	fs_file_deinit(&src);
	get_ok(t.fs, "d", 1, 100);
	assert_int_equal(exists(t.fs, "s"), 0);
	t_stop(&t);
}

/* A tracker that does not answer within the stall timeout. */
static void test_timeout(void **state)
{
	struct fs_settings fset;
	struct fs_file *file;
	struct fs_stat st;
	uint64_t start;
	struct t t;

	(void)state;
	fs_settings_init(&fset);
	fset.stall_timeout_ms = 300;
	t_start(&t, NULL, NULL, &fset);
	put_ok(t.fs, "k", 1, 10);
	fault(&t, "op=file_info,delay=2000");
	assert_int_equal(fs_file_init(t.fs, "k", FS_OPEN_READ, &file), 0);
	start = fs_now_usec();
	assert_int_equal(fs_file_stat(file, &st), -ETIMEDOUT);
	assert_true(fs_now_usec() - start < 1500000);
	assert_non_null(strstr(fs_file_last_error(file), "no reply"));
	fs_file_deinit(&file);
	fs_mogmock_faults_clear(t.mock);
	get_ok(t.fs, "k", 1, 10);
	t_stop(&t);
}

static bool port_refuses(unsigned int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ret;

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ret = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return ret < 0;
}

/* Fault rules that kill: a node on its first GET (the read goes on with
   the other copy), a tracker on a command (the request goes to the other
   tracker). */
static void test_kill_rules(void **state)
{
	struct fs_mogmock_settings set;
	struct fs_file *file;
	struct fs_stat st;
	struct t t;
	int i;

	(void)state;
	fs_mogmock_settings_init(&set);
	set.ordered_devices = true;
	set.monitor_delay_ms = 600000;
	t_start(&t, &set, NULL, NULL);
	put_ok(t.fs, "k", 5, 200000);
	assert_int_equal(fs_mogmock_settle(t.mock, 10000), 0);
	fs_mogmock_counters_reset(t.mock);
	fault(&t, "method=GET,bucket=node0,action=kill");
	get_ok(t.fs, "k", 5, 200000);
	get_ok(t.fs, "k", 5, 200000);
	assert_int_equal(fs_mogmock_counter(t.mock, "node0_requests"), 1);
	assert_true(port_refuses(fs_mogmock_node_port(t.mock, 0)));
	fs_mogmock_faults_clear(t.mock);
	assert_int_equal(fs_mogmock_revive(t.mock, "node0"), 0);
	assert_false(port_refuses(fs_mogmock_node_port(t.mock, 0)));

	/* whichever tracker gets the first file_info dies without answering:
	   the idempotent request goes to the other one */
	fault(&t, "op=file_info,action=kill,times=1");
	for (i = 0; i < 5; i++) {
		assert_int_equal(fs_file_init(t.fs, "k", FS_OPEN_READ, &file),
				 0);
		assert_int_equal(fs_file_stat(file, &st), 0);
		assert_int_equal(st.size, 200000);
		fs_file_deinit(&file);
	}
	assert_int_equal(fs_mogmock_counter(t.mock, "faults"), 2);
	assert_true(port_refuses(fs_mogmock_tracker_port(t.mock, 0)) !=
		    port_refuses(fs_mogmock_tracker_port(t.mock, 1)));
	t_stop(&t);
}

/* Seeded faults everywhere: every acknowledged write reads back
   byte-identical (reads may fail, never return other bytes), every failed
   write leaves no key, and nothing is left over. The closes that discard a
   fid (no key) are spared: one that fails leaves a tempfile the real
   tracker purges an hour later, which this test could not tell from a
   leak. */
static void test_fault_run(void **state)
{
	static const char *const rules[] = {
		"method=PUT,p=0.25,seed=1,action=reset,after=20000",
		"method=PUT,p=0.1,seed=2,status=500",
		"op=create_open,p=0.1,seed=3,code=no_devices",
		"op=create_close,key=f/*,p=0.15,seed=4,code=db",
		"op=create_close,key=f/*,p=0.1,seed=5,after=1,action=reset",
		"op=create_close,key=f/*,p=0.05,seed=6,action=reset",
		"op=get_paths,p=0.1,seed=7,action=reset",
		"method=GET,p=0.25,seed=8,action=reset,after=30000",
		"op=file_info,p=0.1,seed=9,action=reset",
	};
	struct fs_mogmock_state st;
	struct fs_settings fset;
	bool ok[40];
	size_t size[40], i;
	unsigned int acked = 0, failed = 0;
	char key[32];
	struct t t;
	int ret;

	(void)state;
	fs_settings_init(&fset);
	fset.stall_timeout_ms = 2000;
	t_start(&t, NULL, NULL, &fset);
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		fault(&t, rules[i]);
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "f/%02zu", i);
		size[i] = (i * 7919) % 150000;
		ok[i] = put(t.fs, key, FS_OPEN_REPLACE, (unsigned int)i,
			    size[i], NULL, 0) == 0;
		acked += ok[i];
		failed += !ok[i];
	}
	/* reads under faults: right bytes or an error */
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "f/%02zu", i);
		if (ok[i])
			ret = get_check(t.fs, key, (unsigned int)i, size[i]);
	}
	fs_mogmock_faults_clear(t.mock);
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "f/%02zu", i);
		if (ok[i])
			get_ok(t.fs, key, (unsigned int)i, size[i]);
		else
			assert_int_equal(exists(t.fs, key), 0);
	}
	print_message("[  INFO    ] %u writes acknowledged, %u failed, %llu "
		      "faults injected\n",
		      acked, failed,
		      (unsigned long long)fs_mogmock_counter(t.mock, "faults"));
	assert_true(acked > 20);
	fs_deinit(&t.fs);
	settled_state(&t, &st);
	assert_int_equal(st.keys, acked);
	assert_int_equal(st.tempfiles, 0);
	(void)ret;
	t_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_framing),
		cmocka_unit_test(test_raw_encoding),
		cmocka_unit_test(test_raw_close),
		cmocka_unit_test(test_raw_list),
		cmocka_unit_test(test_raw_nodes_down),
		cmocka_unit_test(test_roundtrip_trackers),
		cmocka_unit_test(test_read_node_dead),
		cmocka_unit_test(test_read_node_faults),
		cmocka_unit_test(test_write_failover),
		cmocka_unit_test(test_write_close),
		cmocka_unit_test(test_create_mode),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_spool),
		cmocka_unit_test(test_list_quirks),
		cmocka_unit_test(test_delete_prefix),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_kill_rules),
		cmocka_unit_test(test_fault_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
