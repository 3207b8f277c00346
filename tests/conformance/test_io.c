/*
 * Conformance: reading and writing objects. Round trips of many sizes, a
 * large streamed object in bounded memory, CREATE/REPLACE/APPEND semantics,
 * aborts, range reads, stat, missing keys and concurrent writers.
 */
#include "conformance.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* AddressSanitizer keeps freed memory in quarantine and copies on realloc:
   RSS says nothing about the library there. */
#if defined(__SANITIZE_ADDRESS__)
#define CONF_RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONF_RSS_MEANINGFUL 0
#endif
#endif
#ifndef CONF_RSS_MEANINGFUL
#define CONF_RSS_MEANINGFUL 1
#endif

static void roundtrip_one(struct conf *c, uint64_t size, uint64_t seed)
{
	const char *key = conf_key(c, "rt/%" PRIu64, size);
	struct fs_file *file = conf_open(c, key, FS_OPEN_REPLACE);
	void *data = NULL;
	size_t got = 0;

	conf_write_gen(c, file, seed, size, NULL, 0);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);

	conf_expect_size(c, key, size);
	conf_expect_gen(c, key, seed, size);
	CHECK_FS(conf_get(c, key, &data, &got), 0, c, key);
	assert_non_null(data);
	assert_int_equal(got, size);
	assert_int_equal(conf_gen_mismatch(seed, 0, data, got), -1);
	assert_int_equal(((char *)data)[got], '\0');
	free(data);
}

void test_roundtrip_sizes(void **state)
{
	static const uint64_t sizes[] = {
		0,     1,     2,     4095,	   4096,	 4097,
		65535, 65536, 65537, 1 * CONF_MIB, CONF_MIB + 1,
	};
	struct conf *c = *state;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		roundtrip_one(c, sizes[i], 100 + i);
}

void test_big_stream(void **state)
{
	struct conf *c = *state;
	uint64_t size = conf_big_size, budget = 32 * CONF_MIB;
	const char *key = conf_key(c, "big/object");
	struct fs_file *file;
	long long before, after;

	if ((c->caps & FS_CAP_IN_MEMORY) != 0)
		budget += size;
	before = conf_rss_mark();

	file = conf_open(c, key, FS_OPEN_REPLACE);
	conf_write_gen(c, file, 7, size, NULL, 0);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);
	conf_expect_size(c, key, size);
	conf_expect_gen(c, key, 7, size);

	after = conf_rss_peak();
	print_message("[  INFO    ] %" PRIu64 " MiB streamed: peak RSS grew "
		      "%lld KiB (budget %" PRIu64 " KiB)\n",
		      size / CONF_MIB, (after - before) / 1024, budget / 1024);
	if (before < 0 || after < 0 || !CONF_RSS_MEANINGFUL)
		print_message("[  INFO    ] RSS not measurable here (no /proc "
			      "or a sanitizer build): not checked\n");
	else if ((uint64_t)(after - before) > budget)
		CONF_FAIL("streaming %" PRIu64 " bytes raised the peak RSS by "
			  "%lld KiB, over the %" PRIu64 " KiB budget",
			  size, (after - before) / 1024, budget / 1024);
	conf_delete(c, key);
}

void test_whole_object_helpers(void **state)
{
	struct conf *c = *state;
	const char *key = conf_key(c, "whole/hello");
	const char *empty = conf_key(c, "whole/empty");
	size_t size = 300 * 1000 + 3;
	unsigned char *data = conf_alloc(c, size);
	void *got = NULL;
	size_t got_size = 99;

	conf_put_str(c, key, "hello, world");
	conf_expect_str(c, key, "hello, world");

	/* An empty object still reads as a NUL-terminated buffer. */
	conf_put(c, empty, "", 0);
	CHECK_FS(conf_get(c, empty, &got, &got_size), 0, c, empty);
	assert_non_null(got);
	assert_int_equal(got_size, 0);
	assert_int_equal(((char *)got)[0], '\0');
	free(got);
	conf_expect_size(c, empty, 0);
	assert_int_equal(conf_exists(c, empty), 1);

	conf_gen(11, 0, data, size);
	conf_put(c, key, data, size);
	conf_expect_data(c, key, data, size);
	conf_expect_gen(c, key, 11, size);
}

void test_odd_chunks(void **state)
{
	static const size_t wsizes[] = {1,    7,  4095,	 4096, 4097,
					13,   3,  65537, 1,    131071,
					8191, 17, 65536, 2,    100003};
	static const size_t rsizes[] = {1,	7,  4095,  65536, 3,
					100003, 13, 65537, 2,	  8192};
	struct conf *c = *state;
	const char *key = conf_key(c, "odd/chunks");
	uint64_t size = 700001;
	struct fs_file *file = conf_open(c, key, FS_OPEN_REPLACE);

	/* A zero-length write takes nothing and is not an error. */
	CHECK_FILE(fs_write(file, c->wbuf, 0), 0, file);
	conf_write_gen(c, file, 21, size, wsizes, ARRAY_SIZE(wsizes));
	CHECK_FILE(fs_write(file, c->wbuf, 0), 0, file);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);

	file = conf_open(c, key, FS_OPEN_READ);
	assert_int_equal(
		conf_read_gen(c, file, 21, 0, rsizes, ARRAY_SIZE(rsizes)),
		size);
	conf_close(c, &file);
	conf_expect_size(c, key, size);
}

/* The error message names the key (fs.h: "naming the operation, the key"). */
static void expect_error_names_key(struct fs_file *file)
{
	const char *error = fs_file_last_error(file);

	assert_non_null(error);
	if (strstr(error, fs_file_key(file)) == NULL)
		CONF_FAIL("error message \"%s\" does not name the key %s",
			  error, fs_file_key(file));
}

static void create_on_existing(struct conf *c, const char *key, bool stream)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_CREATE);

	if (stream) {
		conf_write_gen(c, file, 5, 256 * CONF_KIB, NULL, 0);
		CHECK_FILE(fs_write_finish(file), -EEXIST, file);
	} else {
		CHECK_FILE(fs_write_all(file, "new", 3), -EEXIST, file);
	}
	expect_error_names_key(file);
	conf_close(c, &file);
}

void test_create_replace(void **state)
{
	struct conf *c = *state;
	const char *a = conf_strdup(c, conf_key(c, "cr/a"));
	const char *b = conf_strdup(c, conf_key(c, "cr/b"));
	struct conf_strv keys = {0};
	struct fs_file *file;

	conf_put_str(c, a, "old content");
	create_on_existing(c, a, false);
	conf_expect_str(c, a, "old content");
	create_on_existing(c, a, true);
	conf_expect_str(c, a, "old content");

	conf_put_str(c, a, "replaced, longer than before");
	conf_expect_str(c, a, "replaced, longer than before");
	/* A shorter replacement leaves no tail of the old one. */
	conf_put_str(c, a, "r");
	conf_expect_str(c, a, "r");
	conf_expect_size(c, a, 1);

	file = conf_open(c, b, FS_OPEN_CREATE);
	CHECK_FILE(fs_write_all(file, "fresh", 5), 0, file);
	conf_close(c, &file);
	conf_expect_str(c, b, "fresh");

	/* CREATE works again once the key is deleted. */
	conf_delete(c, b);
	file = conf_open(c, b, FS_OPEN_CREATE);
	CHECK_FILE(fs_write_all(file, "again", 5), 0, file);
	conf_close(c, &file);
	conf_expect_str(c, b, "again");

	if ((c->caps & FS_CAP_ITER) != 0) {
		conf_strv_add(&keys, a);
		conf_strv_add(&keys, b);
		conf_expect_listing(c, c->prefix, &keys);
		conf_strv_clear(&keys);
	}
}

static void write_then_abort(struct conf *c, const char *key, bool deinit)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_REPLACE);

	conf_write_gen(c, file, 3, 100 * CONF_KIB + 5, NULL, 0);
	if (deinit) {
		conf_close(c, &file);
		return;
	}
	fs_write_abort(file);
	/* Abort is safe at any time, also twice. */
	fs_write_abort(file);
	conf_close(c, &file);
}

void test_abort(void **state)
{
	struct conf *c = *state;
	const char *old = conf_strdup(c, conf_key(c, "ab/old"));
	struct conf_strv keys = {0};
	struct fs_file *file;

	write_then_abort(c, conf_key(c, "ab/sub/new"), false);
	conf_expect_missing(c, conf_key(c, "ab/sub/new"));
	write_then_abort(c, conf_key(c, "ab/sub/new2"), true);
	conf_expect_missing(c, conf_key(c, "ab/sub/new2"));
	if ((c->caps & FS_CAP_ITER) != 0)
		conf_expect_listing(c, c->prefix, &keys);

	/* Nothing written at all: no empty object either. */
	file = conf_open(c, conf_key(c, "ab/sub/empty"), FS_OPEN_REPLACE);
	fs_write_abort(file);
	conf_close(c, &file);
	file = conf_open(c, conf_key(c, "ab/sub/empty2"), FS_OPEN_CREATE);
	conf_close(c, &file);
	conf_expect_missing(c, conf_key(c, "ab/sub/empty"));
	conf_expect_missing(c, conf_key(c, "ab/sub/empty2"));

	/* An aborted replacement leaves the old object. */
	conf_put_str(c, old, "keep me");
	write_then_abort(c, old, false);
	conf_expect_str(c, old, "keep me");
	write_then_abort(c, old, true);
	conf_expect_str(c, old, "keep me");

	/* Aborting a file open for reading does nothing. */
	file = conf_open(c, old, FS_OPEN_READ);
	fs_write_abort(file);
	conf_close(c, &file);
	conf_expect_str(c, old, "keep me");

	if ((c->caps & FS_CAP_ITER) != 0) {
		conf_strv_add(&keys, old);
		conf_expect_listing(c, c->prefix, &keys);
		conf_expect_listing(c, conf_key(c, "ab/"), &keys);
		conf_strv_clear(&keys);
	}
}

struct range_case {
	uint64_t offset, length;
	uint64_t want_offset, want_length;
};

static void range_read_one(struct conf *c, const char *key, uint64_t seed,
			   const struct range_case *rc)
{
	static const size_t rsizes[] = {4096, 1, 65536, 333};
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	void *data = NULL;
	size_t size = 0;
	uint64_t got;

	CHECK_FILE(fs_file_set_range(file, rc->offset, rc->length), 0, file);
	got = conf_read_gen(c, file, seed, rc->want_offset, rsizes,
			    ARRAY_SIZE(rsizes));
	conf_close(c, &file);
	if (got != rc->want_length)
		CONF_FAIL("range (%" PRIu64 ", %" PRIu64 "): read %" PRIu64
			  " bytes, expected %" PRIu64,
			  rc->offset, rc->length, got, rc->want_length);

	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_file_set_range(file, rc->offset, rc->length), 0, file);
	CHECK_FILE(fs_read_all(file, &data, &size), 0, file);
	conf_close(c, &file);
	assert_non_null(data);
	if (size != rc->want_length ||
	    conf_gen_mismatch(seed, rc->want_offset, data, size) >= 0 ||
	    ((char *)data)[size] != '\0') {
		free(data);
		CONF_FAIL("range (%" PRIu64 ", %" PRIu64 ") with "
			  "fs_read_all: %zu bytes or content wrong",
			  rc->offset, rc->length, size);
	}
	free(data);
}

void test_range_reads(void **state)
{
	const uint64_t n = 100000;
	const struct range_case cases[] = {
		{1000, 5000, 1000, 5000},
		{0, 10, 0, 10},
		{0, UINT64_MAX, 0, n},
		{0, n, 0, n},
		{50000, UINT64_MAX, 50000, n - 50000},
		{n - 10, 100, n - 10, 10},
		{n - 1, 1, n - 1, 1},
		{n, 10, n, 0},
		{n, UINT64_MAX, n, 0},
		{2 * n, 10, 2 * n, 0},
		{UINT64_MAX - 1, 10, 0, 0},
		{500, 0, 500, 0},
		{5, UINT64_MAX - 1, 5, n - 5},
	};
	const struct range_case empty_cases[] = {
		{0, 10, 0, 0},
		{0, UINT64_MAX, 0, 0},
		{0, 0, 0, 0},
		{5, 5, 5, 0},
	};
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "range/obj"));
	const char *empty = conf_strdup(c, conf_key(c, "range/empty"));
	size_t i;

	conf_put_gen(c, key, 31, n);
	conf_put(c, empty, "", 0);
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		range_read_one(c, key, 31, &cases[i]);
	for (i = 0; i < ARRAY_SIZE(empty_cases); i++)
		range_read_one(c, empty, 31, &empty_cases[i]);
}

void test_range_misuse(void **state)
{
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "range/obj"));
	struct fs_file *file;
	unsigned char buf[10];

	conf_put_gen(c, key, 41, 1000);

	/* Once reading started the range is fixed; reading goes on. */
	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_file_set_range(file, 100, 100), 0, file);
	CHECK_FILE(fs_read(file, buf, sizeof(buf)), sizeof(buf), file);
	assert_int_equal(conf_gen_mismatch(41, 100, buf, sizeof(buf)), -1);
	CHECK_FILE(fs_file_set_range(file, 0, 50), -EINVAL, file);
	assert_int_equal(conf_read_gen(c, file, 41, 110, NULL, 0), 90);
	conf_close(c, &file);

	/* Not on files open for writing. */
	file = conf_open(c, conf_key(c, "range/w"), FS_OPEN_REPLACE);
	CHECK_FILE(fs_file_set_range(file, 0, 10), -EINVAL, file);
	conf_close(c, &file);
	conf_expect_missing(c, conf_key(c, "range/w"));

	/* A range on a missing key: no I/O at set, -ENOENT at the read. */
	file = conf_open(c, conf_key(c, "range/missing"), FS_OPEN_READ);
	CHECK_FILE(fs_file_set_range(file, 10, 10), 0, file);
	CHECK_FILE(fs_read(file, buf, sizeof(buf)), -ENOENT, file);
	conf_close(c, &file);
}

static void stat_key(struct conf *c, const char *key, struct fs_stat *st)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);

	memset(st, 0, sizeof(*st));
	CHECK_FILE(fs_file_stat(file, st), 0, file);
	conf_close(c, &file);
	assert_true((st->valid & FS_STAT_SIZE) != 0);
}

static void check_mtime(struct conf *c, const struct fs_stat *st)
{
	int64_t now = conf_now_ns(), slack = 300ll * 1000000000;

	if ((c->caps & FS_CAP_STAT_MTIME) == 0)
		return;
	if ((st->valid & FS_STAT_MTIME) == 0)
		CONF_FAIL("FS_CAP_STAT_MTIME is set but stat did not set "
			  "FS_STAT_MTIME");
	if (st->mtime_ns < now - slack || st->mtime_ns > now + slack)
		CONF_FAIL("mtime %lld ns is not within 300 s of now (%lld)",
			  (long long)st->mtime_ns, (long long)now);
}

static void check_etag(const struct fs_stat *st)
{
	if ((st->valid & FS_STAT_ETAG) == 0)
		CONF_FAIL("FS_CAP_STAT_ETAG is set but stat did not set "
			  "FS_STAT_ETAG");
	if (st->etag[0] == '\0' ||
	    strnlen(st->etag, FS_ETAG_MAX) == FS_ETAG_MAX)
		CONF_FAIL("etag is empty or not NUL-terminated");
}

void test_stat(void **state)
{
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "stat/obj"));
	const char *empty = conf_strdup(c, conf_key(c, "stat/empty"));
	struct fs_stat st, st2;

	conf_put_gen(c, key, 51, 1234);
	stat_key(c, key, &st);
	assert_int_equal(st.size, 1234);
	check_mtime(c, &st);

	conf_put(c, empty, "", 0);
	stat_key(c, empty, &st2);
	assert_int_equal(st2.size, 0);

	if ((c->caps & FS_CAP_STAT_ETAG) == 0) {
		print_message("[  INFO    ] no FS_CAP_STAT_ETAG: etags not "
			      "checked\n");
		return;
	}
	check_etag(&st);
	/* Same size, other content: the etag must change. */
	conf_put_gen(c, key, 52, 1234);
	stat_key(c, key, &st2);
	check_etag(&st2);
	if (strcmp(st.etag, st2.etag) == 0)
		CONF_FAIL("etag \"%s\" did not change when the object was "
			  "replaced with other content",
			  st.etag);
}

void test_missing_key(void **state)
{
	struct conf *c = *state;
	const char *key = conf_key(c, "missing/x");
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	const char *value = NULL;
	unsigned char buf[16];
	struct fs_stat st;
	void *data = NULL;
	size_t size = 0;

	CHECK_FILE(fs_file_stat(file, &st), -ENOENT, file);
	expect_error_names_key(file);
	CHECK_FILE(fs_file_exists(file), 0, file);
	CHECK_FILE(fs_file_delete(file), -ENOENT, file);
	expect_error_names_key(file);
	CHECK_FILE(fs_file_get_metadata(file, "name", &value),
		   (c->caps & FS_CAP_METADATA) != 0 ? -ENOENT : -ENOTSUP, file);
	conf_close(c, &file);

	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_read(file, buf, sizeof(buf)), -ENOENT, file);
	expect_error_names_key(file);
	conf_close(c, &file);

	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_read_all(file, &data, &size), -ENOENT, file);
	assert_null(data);
	conf_close(c, &file);

	conf_expect_missing(c, key);
}

/* Two writers, writes interleaved chunk by chunk; the first of them (a or
   b, by a_first) finishes first. Returns nothing: checks the outcome. */
static void two_writers(struct conf *c, const char *key, unsigned int mode,
			bool a_first)
{
	struct fs_file *fa = conf_open(c, key, mode);
	struct fs_file *fb = conf_open(c, key, mode);
	const uint64_t size_a = 256 * CONF_KIB, size_b = size_a + 1000;
	const size_t chunk = 16 * CONF_KIB;
	uint64_t pos;
	size_t n;

	for (pos = 0; pos < size_b; pos += chunk) {
		if (pos < size_a) {
			n = size_a - pos < chunk ? size_a - pos : chunk;
			conf_gen(61, pos, c->wbuf, n);
			CHECK_FILE(fs_write(fa, c->wbuf, n), n, fa);
		}
		n = size_b - pos < chunk ? size_b - pos : chunk;
		conf_gen(62, pos, c->wbuf, n);
		CHECK_FILE(fs_write(fb, c->wbuf, n), n, fb);
	}
	if (mode == FS_OPEN_CREATE) {
		CHECK_FILE(fs_write_finish(a_first ? fa : fb), 0,
			   a_first ? fa : fb);
		CHECK_FILE(fs_write_finish(a_first ? fb : fa), -EEXIST,
			   a_first ? fb : fa);
	} else {
		CHECK_FILE(fs_write_finish(a_first ? fa : fb), 0,
			   a_first ? fa : fb);
		CHECK_FILE(fs_write_finish(a_first ? fb : fa), 0,
			   a_first ? fb : fa);
	}
	conf_close(c, &fa);
	conf_close(c, &fb);
}

/* The key must hold exactly one writer's object: a's or b's. */
static char expect_one_of(struct conf *c, const char *key)
{
	void *data = NULL;
	size_t size = 0;
	char which = '?';

	CHECK_FS(conf_get(c, key, &data, &size), 0, c, key);
	if (size == 256 * CONF_KIB && conf_gen_mismatch(61, 0, data, size) < 0)
		which = 'a';
	else if (size == 256 * CONF_KIB + 1000 &&
		 conf_gen_mismatch(62, 0, data, size) < 0)
		which = 'b';
	free(data);
	if (which == '?')
		CONF_FAIL("%s holds %zu bytes that are neither writer's whole "
			  "object",
			  conf_escape(key), size);
	return which;
}

void test_two_replace_writers(void **state)
{
	struct conf *c = *state;
	const char *k1 = conf_strdup(c, conf_key(c, "race/existing"));
	const char *k2 = conf_strdup(c, conf_key(c, "race/new"));
	char won;

	conf_put_str(c, k1, "the old one");
	two_writers(c, k1, FS_OPEN_REPLACE, true);
	won = expect_one_of(c, k1);
	print_message("[  INFO    ] REPLACE a, b finished a then b: %c holds\n",
		      won);
	two_writers(c, k2, FS_OPEN_REPLACE, false);
	won = expect_one_of(c, k2);
	print_message("[  INFO    ] REPLACE a, b finished b then a: %c holds\n",
		      won);
}

void test_two_create_writers(void **state)
{
	struct conf *c = *state;
	const char *k1 = conf_strdup(c, conf_key(c, "race/c1"));
	const char *k2 = conf_strdup(c, conf_key(c, "race/c2"));

	two_writers(c, k1, FS_OPEN_CREATE, true);
	assert_int_equal(expect_one_of(c, k1), 'a');
	two_writers(c, k2, FS_OPEN_CREATE, false);
	assert_int_equal(expect_one_of(c, k2), 'b');
}

/* Reads 64 KiB of key's object (seed old_seed, old_size bytes), calls
   change, then reads on: the bytes must be the old object whole, or the
   read fails with an error; never a mix. */
static void read_across_change(struct conf *c, const char *key,
			       uint64_t old_seed, uint64_t old_size,
			       void (*change)(struct conf *c, const char *key))
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	uint64_t pos = 0;
	ssize_t ret;

	while (pos < CONF_CHUNK) {
		ret = fs_read(file, c->rbuf, CONF_CHUNK);
		if (ret <= 0)
			CHECK_FILE(ret, CONF_CHUNK, file);
		assert_int_equal(
			conf_gen_mismatch(old_seed, pos, c->rbuf, (size_t)ret),
			-1);
		pos += (uint64_t)ret;
	}
	change(c, key);
	while ((ret = fs_read(file, c->rbuf, CONF_CHUNK)) > 0) {
		if (conf_gen_mismatch(old_seed, pos, c->rbuf, (size_t)ret) >= 0)
			CONF_FAIL("%s: a reader got a mix of the old and the "
				  "new object at byte %" PRIu64,
				  conf_escape(key), pos);
		pos += (uint64_t)ret;
	}
	if (ret == 0 && pos != old_size)
		CONF_FAIL("%s: a reader got %" PRIu64 " of %" PRIu64 " bytes "
			  "and then a clean end",
			  conf_escape(key), pos, old_size);
	if (ret < 0)
		print_message("[  INFO    ] reader failed cleanly: %s: %s\n",
			      fs_errno_name((int)ret),
			      fs_file_last_error(file));
	conf_close(c, &file);
}

static void change_replace(struct conf *c, const char *key)
{
	conf_put_gen(c, key, 72, CONF_MIB + 7);
}

static void change_delete(struct conf *c, const char *key)
{
	conf_delete(c, key);
}

void test_reader_isolation(void **state)
{
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "iso/obj"));

	conf_put_gen(c, key, 71, CONF_MIB);
	read_across_change(c, key, 71, CONF_MIB, change_replace);
	conf_expect_gen(c, key, 72, CONF_MIB + 7);

	conf_put_gen(c, key, 71, CONF_MIB);
	read_across_change(c, key, 71, CONF_MIB, change_delete);
	conf_expect_missing(c, key);
}

static void append_str(struct conf *c, const char *key, const char *str)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_APPEND);

	CHECK_FILE(fs_write_all(file, str, strlen(str)), 0, file);
	conf_close(c, &file);
}

void test_append(void **state)
{
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "app/log"));
	struct fs_file *file = NULL;

	if ((c->caps & FS_CAP_APPEND) == 0) {
		CHECK_FS(conf_try_open(c, key, FS_OPEN_APPEND, &file), -ENOTSUP,
			 c, key);
		assert_null(file);
		assert_true(fs_last_error(c->fs)[0] != '\0');
		conf_expect_missing(c, key);
		return;
	}
	append_str(c, key, "abc");
	conf_expect_str(c, key, "abc");
	append_str(c, key, "def");
	conf_expect_str(c, key, "abcdef");

	/* An aborted append leaves the object as it was. */
	file = conf_open(c, key, FS_OPEN_APPEND);
	CHECK_FILE(fs_write(file, "XYZ", 3), 3, file);
	fs_write_abort(file);
	conf_close(c, &file);
	conf_expect_str(c, key, "abcdef");

	file = conf_open(c, key, FS_OPEN_APPEND);
	CHECK_FILE(fs_write(file, "g", 1), 1, file);
	CHECK_FILE(fs_write(file, "hi", 2), 2, file);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);
	conf_expect_str(c, key, "abcdefghi");
	conf_expect_size(c, key, 9);
}

void test_fsync_flag(void **state)
{
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "sync/a"));
	const char *key2 = conf_strdup(c, conf_key(c, "sync/b"));
	struct fs_file *file;

	/* The flag is accepted everywhere; FS_CAP_FSYNC says if it is
	   durable. */
	file = conf_open(c, key, FS_OPEN_REPLACE | FS_OPEN_FLAG_FSYNC);
	conf_write_gen(c, file, 81, 70000, NULL, 0);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);
	conf_expect_gen(c, key, 81, 70000);

	file = conf_open(c, key2, FS_OPEN_CREATE | FS_OPEN_FLAG_FSYNC);
	CHECK_FILE(fs_write_all(file, "synced", 6), 0, file);
	conf_close(c, &file);
	conf_expect_str(c, key2, "synced");
}
