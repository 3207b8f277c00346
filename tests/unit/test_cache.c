/*
 * The cache layer over named mem stores. The same store opened directly
 * plays "another host", and the mem driver's call counters of the cache's
 * child prove what a hit costs: nothing with validate=never, one stat
 * (revalidation) with validate=etag. A failing test layer between the cache
 * and mem shows that failed writes never leave a wrong copy behind, and a
 * randomized run against a reference model checks the strict byte bound
 * after every operation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../drivers/cache/cache-private.h"
#include "../drivers/mem/mem.h"
#include "fs-private.h"
#include "libfs/fs.h"

/* --- helpers --- */

static struct fs *open_spec(const char *spec)
{
	const char *error = NULL;
	struct fs *fs = NULL;
	int ret = fs_init(spec, NULL, &fs, &error);

	if (ret < 0)
		fail_msg("fs_init(%s): %s", spec, error);
	return fs;
}

/* Asserts the store's accounting is exact and within max. */
static uint64_t check_bound(struct fs *fs)
{
	uint64_t total = 0;

	assert_int_equal(cache_store_check(fs, &total), 0);
	assert_true(total <= CACHE_FS(fs)->max);
	return total;
}

static int put_md(struct fs *fs, const char *key, const void *data, size_t size,
		  unsigned int mode, const char *md_value)
{
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(fs, key, mode, &file), 0);
	if (md_value != NULL)
		assert_int_equal(fs_file_set_metadata(file, "m", md_value), 0);
	ret = fs_write_all(file, data, size);
	fs_file_deinit(&file);
	return ret;
}

static void put(struct fs *fs, const char *key, const char *str)
{
	assert_int_equal(
		put_md(fs, key, str, strlen(str), FS_OPEN_REPLACE, NULL), 0);
}

/* Reads key whole (or a range); returns NULL for -ENOENT. */
static char *get_range(struct fs *fs, const char *key, uint64_t offset,
		       uint64_t length, size_t *size_r)
{
	struct fs_file *file;
	void *data = NULL;
	size_t size = 0;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_set_range(file, offset, length), 0);
	ret = fs_read_all(file, &data, &size);
	fs_file_deinit(&file);
	if (size_r != NULL)
		*size_r = size;
	if (ret == -ENOENT)
		return NULL;
	assert_int_equal(ret, 0);
	return data;
}

static char *get(struct fs *fs, const char *key)
{
	return get_range(fs, key, 0, UINT64_MAX, NULL);
}

static void expect(struct fs *fs, const char *key, const char *str)
{
	char *got = get(fs, key);

	if (str == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, str);
	free(got);
}

static struct fs_mem_counters counters(struct fs *fs)
{
	struct fs_mem_counters c;

	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	return c;
}

/* Sum of every counted call. */
static uint64_t calls(const struct fs_mem_counters *c)
{
	return c->file_init + c->read + c->write + c->write_finish +
	       c->write_abort + c->stat + c->exists + c->get_metadata +
	       c->delete_file + c->copy + c->rename + c->iter_init +
	       c->iter_next;
}

static struct fs_stats layer_stats(struct fs *fs)
{
	struct fs_stats st;

	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	return st;
}

/* Every way of reading key through fs: data, stat, exists, metadata. */
static void read_all_ways(struct fs *fs, const char *key, const char *str,
			  const char *md_value)
{
	struct fs_file *file;
	const char *value;
	struct fs_stat st;

	expect(fs, key, str);
	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, strlen(str));
	assert_true((st.valid & FS_STAT_ETAG) != 0);
	assert_int_equal(fs_file_exists(file), 1);
	assert_int_equal(fs_file_get_metadata(file, "m", &value),
			 md_value != NULL ? 1 : 0);
	if (md_value != NULL)
		assert_string_equal(value, md_value);
	fs_file_deinit(&file);
}

/* --- a hit's cost --- */

static void test_hit_never_costs_nothing(void **state)
{
	struct fs *fs = open_spec("cache:max=1M,validate=never::mem:name=t1");
	struct fs_mem_counters c;
	struct fs_stats st;

	assert_int_equal(
		put_md(fs, "idx", "index data", 10, FS_OPEN_REPLACE, "v1"), 0);
	check_bound(fs);
	assert_int_equal(cache_store_has(fs, "idx"), 1);
	fs_mem_reset_counters(fs);
	fs_stats_reset(fs);
	read_all_ways(fs, "idx", "index data", "v1");
	/* ranges are served from the copy too */
	free(get_range(fs, "idx", 2, 3, NULL));
	c = counters(fs);
	assert_int_equal(calls(&c), 0);
	st = layer_stats(fs);
	assert_int_equal(st.cache_hits, 5);
	assert_int_equal(st.cache_misses, 0);
	assert_int_equal(st.cache_revalidations, 0);
	/* the layer's own operation statistics still count */
	assert_int_equal(st.ops[FS_OP_READ].count, 2);
	assert_int_equal(st.ops[FS_OP_READ].bytes, 13);
	check_bound(fs);
	fs_deinit(&fs);
}

static void test_hit_etag_costs_one_call(void **state)
{
	struct fs *fs = open_spec("cache:max=1M::mem:name=t2");
	struct fs_mem_counters c;
	struct fs_stats st;

	assert_int_equal(
		put_md(fs, "idx", "index data", 10, FS_OPEN_REPLACE, "v1"), 0);
	fs_mem_reset_counters(fs);
	fs_stats_reset(fs);
	expect(fs, "idx", "index data");
	c = counters(fs);
	/* one revalidation (a stat on mem), no data moved, no write */
	assert_int_equal(c.stat, 1);
	assert_int_equal(calls(&c) - c.file_init, 1);
	st = layer_stats(fs);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.cache_revalidations, 1);
	assert_int_equal(st.cache_misses, 0);

	/* every operation is revalidated once */
	fs_mem_reset_counters(fs);
	read_all_ways(fs, "idx", "index data", "v1");
	c = counters(fs);
	assert_int_equal(c.stat, 4);
	assert_int_equal(c.read + c.get_metadata + c.exists, 0);
	check_bound(fs);
	fs_deinit(&fs);
}

/* validate=etag never serves what another host replaced or deleted. */
static void test_other_host_etag(void **state)
{
	struct fs *fs = open_spec("cache:max=1M,validate=etag::mem:name=t3");
	struct fs *other = open_spec("mem:name=t3");
	struct fs_mem_counters c;
	struct fs_file *file;
	struct fs_stat st;

	put(fs, "idx", "version 1");
	expect(fs, "idx", "version 1");
	/* a file open for writing asks the child */
	assert_int_equal(fs_file_init(fs, "idx", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, 9);
	fs_file_deinit(&file);
	assert_int_equal(cache_store_has(fs, "idx"), 1);
	/* same size, other bytes */
	put(other, "idx", "version 2");
	fs_mem_reset_counters(fs);
	expect(fs, "idx", "version 2");
	c = counters(fs);
	assert_true(c.read > 0);
	/* the new version replaced the copy: the next read is a hit */
	assert_int_equal(cache_store_has(fs, "idx"), 1);
	fs_mem_reset_counters(fs);
	expect(fs, "idx", "version 2");
	c = counters(fs);
	assert_int_equal(c.read, 0);
	assert_int_equal(c.stat, 1);

	/* stat sees the replacement too */
	put(other, "idx", "version three");
	assert_int_equal(fs_file_init(fs, "idx", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, 13);
	fs_file_deinit(&file);
	expect(fs, "idx", "version three");

	/* a delete elsewhere: -ENOENT, and the copy is dropped */
	assert_int_equal(fs_delete_prefix(other, "idx"), 1);
	expect(fs, "idx", NULL);
	assert_int_equal(cache_store_has(fs, "idx"), 0);
	assert_int_equal(fs_file_init(fs, "idx", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_exists(file), 0);
	fs_file_deinit(&file);
	check_bound(fs);
	fs_deinit(&other);
	fs_deinit(&fs);
}

/* validate=never trusts its copy: for storage nobody else writes. */
static void test_other_host_never(void **state)
{
	struct fs *fs = open_spec("cache:max=1M,validate=never::mem:name=t4");
	struct fs *other = open_spec("mem:name=t4");

	put(fs, "idx", "version 1");
	put(other, "idx", "version 2");
	expect(fs, "idx", "version 1");
	expect(other, "idx", "version 2");
	fs_deinit(&other);
	fs_deinit(&fs);
}

/* User revalidation through the cache answers from the copy's etag. */
static void test_user_revalidate(void **state)
{
	const char *specs[] = {"cache:max=1M,validate=never::mem:name=t5",
			       "cache:max=1M,validate=etag::mem:name=t5"};
	struct fs_file *file;
	struct fs_stat st;
	size_t i;

	for (i = 0; i < 2; i++) {
		struct fs *fs = open_spec(specs[i]);

		put(fs, "k", "one");
		assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
		assert_int_equal(fs_file_stat(file, &st), 0);
		fs_file_deinit(&file);
		assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
		assert_int_equal(fs_file_revalidate(file, st.etag), 1);
		fs_file_deinit(&file);
		put(fs, "k", "two!");
		assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
		assert_int_equal(fs_file_revalidate(file, st.etag), 0);
		fs_file_deinit(&file);
		expect(fs, "k", "two!");
		fs_deinit(&fs);
	}
}

/* --- write-through --- */

static void test_write_through(void **state)
{
	struct fs *fs =
		open_spec("cache:max=1M,validate=never::mem:name=t6,async");
	struct fs *other = open_spec("mem:name=t6");
	struct fs_mem_counters c;
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(fs, "k",
				      FS_OPEN_REPLACE | FS_OPEN_FLAG_ASYNC,
				      &file),
			 0);
	assert_int_equal(fs_file_set_metadata(file, "m", "meta"), 0);
	while ((ret = (int)fs_write(file, "written", 7)) == -EAGAIN)
		assert_true(fs_wait_async(fs, -1) >= 0);
	assert_int_equal(ret, 7);
	/* not in the cache before the child acknowledged the finish */
	while ((ret = fs_write_finish(file)) == -EAGAIN) {
		assert_int_equal(cache_store_has(fs, "k"), 0);
		assert_true(fs_wait_async(fs, -1) >= 0);
	}
	assert_int_equal(ret, 0);
	fs_file_deinit(&file);
	expect(other, "k", "written");
	assert_int_equal(cache_store_has(fs, "k"), 1);
	fs_mem_reset_counters(fs);
	read_all_ways(fs, "k", "written", "meta");
	c = counters(fs);
	assert_int_equal(calls(&c), 0);

	/* a replacement too large for the copy drops the old one */
	assert_int_equal(put_md(fs, "k", "x", 1, FS_OPEN_APPEND, NULL), 0);
	assert_int_equal(cache_store_has(fs, "k"), 0);
	expect(fs, "k", "writtenx");
	/* CREATE on an existing key fails: conservative, the copy goes */
	assert_int_equal(cache_store_has(fs, "k"), 1);
	assert_int_equal(put_md(fs, "k", "y", 1, FS_OPEN_CREATE, NULL),
			 -EEXIST);
	assert_int_equal(cache_store_has(fs, "k"), 0);
	expect(fs, "k", "writtenx");
	check_bound(fs);
	fs_deinit(&other);
	fs_deinit(&fs);
}

/* A layer between cache and mem that fails on command. */
enum fail_mode {
	FAIL_NONE,
	FAIL_WRITE,	      /* fs_write() fails */
	FAIL_FINISH_BEFORE,   /* finish fails, nothing published */
	FAIL_FINISH_AFTER,    /* finish publishes, then reports -EIO */
	FAIL_READ_AFTER_SOME, /* reads fail after the first chunk */
};

static enum fail_mode fail_mode;

static ssize_t fail_write(struct fs_file *file, const void *data, size_t size)
{
	if (fail_mode == FAIL_WRITE)
		return fs_file_set_error(file, -EIO, "write %s: injected",
					 file->key);
	return fs_passthrough_write(file, data, size);
}

static int fail_write_finish(struct fs_file *file)
{
	int ret;

	if (fail_mode == FAIL_FINISH_BEFORE)
		return fs_file_set_error(file, -EIO, "finish %s: injected",
					 file->key);
	ret = fs_passthrough_write_finish(file);
	if (ret == 0 && fail_mode == FAIL_FINISH_AFTER)
		return fs_file_set_error(
			file, -EIO, "finish %s: injected after", file->key);
	return ret;
}

static ssize_t fail_read(struct fs_file *file, void *buf, size_t size)
{
	if (fail_mode == FAIL_READ_AFTER_SOME && file->parent->read_started)
		return fs_file_set_error(file, -EIO, "read %s: injected",
					 file->key);
	return fs_passthrough_read(file, buf, size < 100 ? size : 100);
}

static const struct fs_driver fail_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "fail",
	.layer = true,
	.fs_size = sizeof(struct fs),
	.file_size = sizeof(struct fs_file),
	.iter_size = sizeof(struct fs_iter),
	.v =
		{
			.get_caps = fs_passthrough_get_caps,
			.file_init = fs_passthrough_file_init,
			.file_deinit = fs_passthrough_file_deinit,
			.read = fail_read,
			.write = fail_write,
			.write_finish = fail_write_finish,
			.write_abort = fs_passthrough_write_abort,
			.stat = fs_passthrough_stat,
			.get_metadata = fs_passthrough_get_metadata,
			.delete_file = fs_passthrough_delete,
		},
};

static struct fs *failing_stack(const char *mem_spec)
{
	struct fs *mem = open_spec(mem_spec), *mid, *fs;

	assert_int_equal(fs_init_layer(&fail_driver, "", mem, &mid), 0);
	assert_int_equal(fs_init_layer(&fs_driver_cache,
				       "max=1M,validate=never", mid, &fs),
			 0);
	return fs;
}

static void test_failed_writes(void **state)
{
	struct fs *fs = failing_stack("mem:name=t7");
	struct fs *other = open_spec("mem:name=t7");
	struct fs_mem_counters c;
	struct fs_file *file;

	fail_mode = FAIL_NONE;
	put(fs, "k", "old");
	assert_int_equal(cache_store_has(fs, "k"), 1);

	/* a failed fs_write(): nothing published, the copy stays valid */
	fail_mode = FAIL_WRITE;
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, "new", 3), -EIO);
	assert_non_null(strstr(fs_file_last_error(file), "injected"));
	fs_file_deinit(&file);
	fail_mode = FAIL_NONE;
	assert_int_equal(cache_store_has(fs, "k"), 1);
	fs_mem_reset_counters(fs);
	expect(fs, "k", "old");
	c = counters(fs);
	assert_int_equal(calls(&c), 0);

	/* an aborted write leaves the cache exactly as it was */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, "new", 3), 3);
	fs_write_abort(file);
	fs_file_deinit(&file);
	assert_int_equal(cache_store_has(fs, "k"), 1);
	expect(fs, "k", "old");

	/* a failed finish: the copy is dropped, reads see the child */
	fail_mode = FAIL_FINISH_BEFORE;
	assert_int_equal(put_md(fs, "k", "new", 3, FS_OPEN_REPLACE, NULL),
			 -EIO);
	fail_mode = FAIL_NONE;
	assert_int_equal(cache_store_has(fs, "k"), 0);
	expect(fs, "k", "old");
	expect(other, "k", "old");

	fail_mode = FAIL_FINISH_AFTER;
	assert_int_equal(put_md(fs, "k", "new", 3, FS_OPEN_REPLACE, NULL),
			 -EIO);
	fail_mode = FAIL_NONE;
	assert_int_equal(cache_store_has(fs, "k"), 0);
	expect(fs, "k", "new");
	expect(other, "k", "new");
	check_bound(fs);
	fs_deinit(&other);
	fs_deinit(&fs);
}

/* A read that fails or is abandoned midway inserts nothing. */
static void test_partial_reads(void **state)
{
	struct fs *fs = failing_stack("mem:name=t8");
	struct fs *other = open_spec("mem:name=t8");
	char *big = malloc(5000), buf[10];
	struct fs_file *file;

	memset(big, 'b', 5000);
	assert_int_equal(put_md(other, "k", big, 5000, FS_OPEN_REPLACE, NULL),
			 0);
	fail_mode = FAIL_READ_AFTER_SOME;
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 10);
	assert_int_equal(fs_read(file, big, 5000), 90);
	assert_int_equal(fs_read(file, big, 5000), -EIO);
	fs_file_deinit(&file);
	fail_mode = FAIL_NONE;
	assert_int_equal(cache_store_has(fs, "k"), 0);

	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 10);
	fs_file_deinit(&file);
	assert_int_equal(cache_store_has(fs, "k"), 0);
	/* a range of a miss fills the whole object */
	free(get_range(fs, "k", 4990, 5, NULL));
	assert_int_equal(cache_store_has(fs, "k"), 1);
	check_bound(fs);
	free(big);
	fs_deinit(&other);
	fs_deinit(&fs);
}

/* A miss still filling when a write of its key is acknowledged never
   inserts the old bytes it read. */
static void test_fill_race(void **state)
{
	struct fs *fs = open_spec("cache:max=1M,validate=never::mem:name=race");
	struct fs *other = open_spec("mem:name=race");
	char *old = malloc(5000), *buf = malloc(5000);
	struct fs_file *reader;
	size_t got = 10;
	ssize_t ret;

	memset(old, 'o', 5000);
	assert_int_equal(put_md(other, "k", old, 5000, FS_OPEN_REPLACE, NULL),
			 0);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &reader), 0);
	assert_int_equal(fs_read(reader, buf, 10), 10);
	put(fs, "k", "new");
	assert_int_equal(cache_store_has(fs, "k"), 1);
	/* the reader goes on with the version it started with */
	while ((ret = fs_read(reader, buf, 5000)) > 0) {
		assert_memory_equal(buf, old, (size_t)ret);
		got += (size_t)ret;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(got, 5000);
	fs_file_deinit(&reader);
	expect(fs, "k", "new");
	free(old);
	free(buf);
	fs_deinit(&other);
	fs_deinit(&fs);
}

/* --- invalidation --- */

static void test_invalidation(void **state)
{
	struct fs *fs = open_spec("cache:max=1M,validate=never::mem:name=t9");
	struct fs_file *src, *dst;

	put(fs, "a", "A");
	put(fs, "b", "B");
	put(fs, "c", "C");
	put(fs, "e", "E");
	put(fs, "x/1", "X1");
	put(fs, "x/2", "X2");

	assert_int_equal(fs_file_init(fs, "a", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_exists(src), 1);
	assert_int_equal(fs_file_delete(src), 0);
	/* the same handle sees the delete */
	assert_int_equal(fs_file_exists(src), 0);
	fs_file_deinit(&src);
	assert_int_equal(cache_store_has(fs, "a"), 0);
	assert_int_equal(cache_store_has(fs, "b"), 1);
	expect(fs, "a", NULL);

	assert_int_equal(fs_file_init(fs, "b", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(fs, "d", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_rename(src, dst), 0);
	fs_file_deinit(&src);
	fs_file_deinit(&dst);
	assert_int_equal(cache_store_has(fs, "b"), 0);
	assert_int_equal(cache_store_has(fs, "d"), 0);
	assert_int_equal(cache_store_has(fs, "c"), 1);
	expect(fs, "b", NULL);
	expect(fs, "d", "B");

	assert_int_equal(fs_file_init(fs, "c", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(fs, "e", FS_OPEN_REPLACE, &dst), 0);
	assert_int_equal(fs_copy(src, dst), 0);
	fs_file_deinit(&src);
	fs_file_deinit(&dst);
	assert_int_equal(cache_store_has(fs, "c"), 1);
	assert_int_equal(cache_store_has(fs, "e"), 0);
	expect(fs, "e", "C");

	assert_int_equal(cache_store_has(fs, "x/1"), 1);
	assert_int_equal(fs_delete_prefix(fs, "x/"), 2);
	assert_int_equal(cache_store_has(fs, "x/1"), 0);
	assert_int_equal(cache_store_has(fs, "x/2"), 0);
	assert_int_equal(cache_store_has(fs, "c"), 1);
	expect(fs, "x/1", NULL);
	check_bound(fs);
	fs_deinit(&fs);
}

/* --- the strict bound, against a reference model --- */

#define MODEL_KEYS 48
#define MODEL_MAX_SIZE 12000

struct model {
	struct fs *fs, *other;
	bool other_writes;
	char *data[MODEL_KEYS]; /* NULL: missing */
	size_t size[MODEL_KEYS];
	unsigned char *buf;
	uint64_t seed;
};

static uint32_t rnd(struct model *m)
{
	m->seed ^= m->seed << 13;
	m->seed ^= m->seed >> 7;
	m->seed ^= m->seed << 17;
	return (uint32_t)(m->seed >> 11);
}

static void model_key(unsigned int i, char *buf, size_t size)
{
	snprintf(buf, size, "dir%u/key%u", i % 3, i);
}

static void model_set(struct model *m, unsigned int i, const void *data,
		      size_t size)
{
	free(m->data[i]);
	m->data[i] = NULL;
	if (data == NULL)
		return;
	m->data[i] = malloc(size > 0 ? size : 1);
	memcpy(m->data[i], data, size);
	m->size[i] = size;
}

static void model_expect(struct model *m, unsigned int i, uint64_t offset,
			 uint64_t length)
{
	char key[32], *got;
	size_t size, want;

	model_key(i, key, sizeof(key));
	got = get_range(m->fs, key, offset, length, &size);
	if (m->data[i] == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	want = offset >= m->size[i] ? 0 : m->size[i] - (size_t)offset;
	if (length < want)
		want = (size_t)length;
	assert_int_equal(size, want);
	if (want > 0)
		assert_memory_equal(got, m->data[i] + offset, want);
	free(got);
}

static void model_put(struct model *m, unsigned int i, bool other)
{
	size_t size = rnd(m) % 4 == 0 ? rnd(m) % MODEL_MAX_SIZE : rnd(m) % 3000;
	char key[32];
	size_t j;

	model_key(i, key, sizeof(key));
	for (j = 0; j < size; j++)
		m->buf[j] = (unsigned char)rnd(m);
	assert_int_equal(put_md(other ? m->other : m->fs, key, m->buf, size,
				FS_OPEN_REPLACE, NULL),
			 0);
	model_set(m, i, m->buf, size);
}

static void model_stat(struct model *m, unsigned int i)
{
	struct fs_file *file;
	struct fs_stat st;
	char key[32];

	model_key(i, key, sizeof(key));
	assert_int_equal(fs_file_init(m->fs, key, FS_OPEN_READ, &file), 0);
	if (m->data[i] == NULL) {
		assert_int_equal(fs_file_stat(file, &st), -ENOENT);
		assert_int_equal(fs_file_exists(file), 0);
	} else {
		assert_int_equal(fs_file_stat(file, &st), 0);
		assert_int_equal(st.size, m->size[i]);
		assert_int_equal(fs_file_exists(file), 1);
	}
	fs_file_deinit(&file);
}

static void model_delete(struct model *m, unsigned int i)
{
	struct fs_file *file;
	char key[32];

	model_key(i, key, sizeof(key));
	assert_int_equal(fs_file_init(m->fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file),
			 m->data[i] != NULL ? 0 : -ENOENT);
	fs_file_deinit(&file);
	model_set(m, i, NULL, 0);
}

static void model_move(struct model *m, unsigned int i, unsigned int j,
		       bool rename)
{
	struct fs_file *src, *dst;
	char skey[32], dkey[32];
	int ret;

	if (i == j)
		return;
	model_key(i, skey, sizeof(skey));
	model_key(j, dkey, sizeof(dkey));
	assert_int_equal(fs_file_init(m->fs, skey, FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(m->fs, dkey, FS_OPEN_REPLACE, &dst), 0);
	ret = rename ? fs_rename(src, dst) : fs_copy(src, dst);
	fs_file_deinit(&src);
	fs_file_deinit(&dst);
	if (m->data[i] == NULL) {
		assert_int_equal(ret, -ENOENT);
		return;
	}
	assert_int_equal(ret, 0);
	model_set(m, j, m->data[i], m->size[i]);
	if (rename)
		model_set(m, i, NULL, 0);
}

static void model_abandon(struct model *m, unsigned int i)
{
	struct fs_file *file;
	char key[32];

	model_key(i, key, sizeof(key));
	assert_int_equal(fs_file_init(m->fs, key, FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, "junk", 4), 4);
	fs_file_deinit(&file);
}

static void model_step(struct model *m)
{
	unsigned int i = rnd(m) % MODEL_KEYS, op = rnd(m) % 20;
	uint64_t offset = rnd(m) % 4000, length = rnd(m) % 4000;

	if (op < 5)
		model_put(m, i, m->other_writes && op == 0);
	else if (op < 11)
		model_expect(m, i, 0, UINT64_MAX);
	else if (op < 13)
		model_expect(m, i, offset, length);
	else if (op < 15)
		model_stat(m, i);
	else if (op < 16)
		model_delete(m, i);
	else if (op < 17)
		model_move(m, i, rnd(m) % MODEL_KEYS, false);
	else if (op < 18)
		model_move(m, i, rnd(m) % MODEL_KEYS, true);
	else
		model_abandon(m, i);
}

static void run_model(const char *spec, const char *other_spec,
		      unsigned int steps, uint64_t seed)
{
	struct model m = {.seed = seed};
	struct fs_stats st;
	unsigned int n, i;

	m.fs = open_spec(spec);
	m.other = open_spec(other_spec);
	m.other_writes = strstr(spec, "validate=never") == NULL;
	m.buf = malloc(MODEL_MAX_SIZE);
	for (n = 0; n < steps; n++) {
		model_step(&m);
		check_bound(m.fs);
	}
	/* the child holds exactly what the model says */
	for (i = 0; i < MODEL_KEYS; i++) {
		char key[32], *got;

		model_key(i, key, sizeof(key));
		got = get(m.other, key);
		assert_true((got == NULL) == (m.data[i] == NULL));
		if (got != NULL)
			assert_memory_equal(got, m.data[i], m.size[i]);
		free(got);
		model_set(&m, i, NULL, 0);
	}
	st = layer_stats(m.fs);
	print_message("[  INFO    ] %s: %u steps, %llu hits, %llu misses, "
		      "%llu evictions, %llu bytes held\n",
		      spec, steps, (unsigned long long)st.cache_hits,
		      (unsigned long long)st.cache_misses,
		      (unsigned long long)st.cache_evictions,
		      (unsigned long long)st.cache_bytes);
	assert_true(st.cache_hits > 0);
	assert_true(st.cache_evictions > 0);
	free(m.buf);
	fs_deinit(&m.other);
	fs_deinit(&m.fs);
}

static void test_strict_bound_model(void **state)
{
	run_model("cache:max=48k,object_max=8k,validate=never,negative_ttl=1h"
		  "::mem:name=m1",
		  "mem:name=m1", 10000, 0x9e3779b97f4a7c15ull);
	run_model("cache:max=48k,object_max=8k,validate=etag::mem:name=m2",
		  "mem:name=m2", 4000, 12345);
	run_model("cache:max=40k,validate=etag::mem:name=m3,async",
		  "mem:name=m3", 2000, 777);
}

/* Over a faults layer failing 15% of the calls, before, after or in the
   middle of the operation: whatever an operation through the cache
   returned, what the cache serves afterwards is what the child holds. */
static void faults_check_key(struct fs *fs, struct fs *other, const char *key)
{
	struct fs_file *file;
	void *data = NULL;
	char *truth;
	size_t size = 0, tsize = 0;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	ret = fs_read_all(file, &data, &size);
	fs_file_deinit(&file);
	truth = get_range(other, key, 0, UINT64_MAX, &tsize);
	if (ret == -ENOENT) {
		assert_null(truth);
	} else if (ret == 0) {
		assert_non_null(truth);
		assert_int_equal(size, tsize);
		assert_memory_equal(data, truth, size);
	} else {
		/* an injected failure: nothing served */
		assert_null(data);
	}
	free(data);
	free(truth);
}

static void run_faults(const char *spec, const char *other_spec,
		       unsigned int steps, uint64_t seed)
{
	struct model m = {.seed = seed};
	struct fs_file *src, *dst;
	char key[32], key2[32];
	unsigned int n, i, op;
	struct fs_stats st;

	m.fs = open_spec(spec);
	m.other = open_spec(other_spec);
	m.buf = malloc(MODEL_MAX_SIZE);
	for (n = 0; n < steps; n++) {
		i = rnd(&m) % MODEL_KEYS;
		op = rnd(&m) % 8;
		model_key(i, key, sizeof(key));
		model_key(rnd(&m) % MODEL_KEYS, key2, sizeof(key2));
		if (op < 3) {
			size_t size = rnd(&m) % MODEL_MAX_SIZE;

			memset(m.buf, (int)(n & 0xff), size);
			(void)put_md(m.fs, key, m.buf, size, FS_OPEN_REPLACE,
				     NULL);
		} else if (op < 5) {
			faults_check_key(m.fs, m.other, key);
		} else if (op == 5) {
			assert_int_equal(
				fs_file_init(m.fs, key, FS_OPEN_READ, &src), 0);
			(void)fs_file_delete(src);
			fs_file_deinit(&src);
		} else if (strcmp(key, key2) != 0) {
			assert_int_equal(
				fs_file_init(m.fs, key, FS_OPEN_READ, &src), 0);
			assert_int_equal(
				fs_file_init(m.fs, key2, FS_OPEN_REPLACE, &dst),
				0);
			(void)(op == 6 ? fs_copy(src, dst)
				       : fs_rename(src, dst));
			fs_file_deinit(&src);
			fs_file_deinit(&dst);
		}
		faults_check_key(m.fs, m.other, key);
		faults_check_key(m.fs, m.other, key2);
		check_bound(m.fs);
	}
	assert_int_equal(fs_stats_get(m.fs, 1, &st), 0);
	assert_true(st.faults_injected > steps / 10);
	st = layer_stats(m.fs);
	assert_true(st.cache_hits > 0);
	free(m.buf);
	fs_deinit(&m.other);
	fs_deinit(&m.fs);
}

static void test_faults_below(void **state)
{
#ifdef LIBFS_DRIVER_FAULTS
	run_faults("cache:max=48k,object_max=8k,validate=never::"
		   "faults:seed=3,all=15%::mem:name=f1",
		   "mem:name=f1", 3000, 99);
	run_faults("cache:max=48k,object_max=8k,validate=etag::"
		   "faults:seed=4,all=15%::mem:name=f2,async",
		   "mem:name=f2", 2000, 100);
#else
	skip();
#endif
}

/* --- scan resistance --- */

static void test_scan_resistance(void **state)
{
	struct fs *fs =
		open_spec("cache:max=256k,validate=never::mem:name=scan");
	struct fs *other = open_spec("mem:name=scan");
	char key[32], *data = calloc(1, 8192);
	struct fs_mem_counters c;
	unsigned int i, round;

	/* 4 hot index files, read again and again */
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "hot/%u", i);
		assert_int_equal(
			put_md(other, key, data, 8192, FS_OPEN_REPLACE, NULL),
			0);
		for (round = 0; round < 3; round++)
			free(get(fs, key));
	}
	/* a migration reads 200 other objects once: 1.6 MB, 6x the cache */
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "scan/%u", i);
		assert_int_equal(
			put_md(other, key, data, 8192, FS_OPEN_REPLACE, NULL),
			0);
		free(get(fs, key));
		check_bound(fs);
		if (i % 50 == 49) {
			/* the hot set is still read now and then */
			snprintf(key, sizeof(key), "hot/%u", i / 50);
			free(get(fs, key));
		}
	}
	assert_true(layer_stats(fs).cache_evictions > 100);
	fs_mem_reset_counters(fs);
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "hot/%u", i);
		assert_int_equal(cache_store_has(fs, key), 1);
		free(get(fs, key));
	}
	c = counters(fs);
	assert_int_equal(calls(&c), 0);
	free(data);
	fs_deinit(&other);
	fs_deinit(&fs);
}

/* --- object_max, negative_ttl, listings, stats --- */

static void test_object_max(void **state)
{
	struct fs *fs = open_spec(
		"cache:max=1M,object_max=1k,validate=never::mem:name=om");
	struct fs_mem_counters c;
	char *data = calloc(1, 2048);

	assert_int_equal(put_md(fs, "big", data, 2048, FS_OPEN_REPLACE, NULL),
			 0);
	assert_int_equal(put_md(fs, "fits", data, 1024, FS_OPEN_REPLACE, NULL),
			 0);
	assert_int_equal(cache_store_has(fs, "big"), 0);
	assert_int_equal(cache_store_has(fs, "fits"), 1);
	fs_mem_reset_counters(fs);
	free(get(fs, "big"));
	free(get(fs, "big"));
	assert_int_equal(cache_store_has(fs, "big"), 0);
	c = counters(fs);
	assert_true(c.read >= 2);
	fs_mem_reset_counters(fs);
	free(get(fs, "fits"));
	c = counters(fs);
	assert_int_equal(calls(&c), 0);
	check_bound(fs);
	free(data);
	fs_deinit(&fs);
}

static void test_negative_ttl(void **state)
{
	struct fs *fs = open_spec("cache:max=1M,validate=etag,negative_ttl="
				  "200ms::mem:name=neg");
	struct fs *other = open_spec("mem:name=neg");
	struct fs_mem_counters c;

	expect(fs, "k", NULL);
	assert_int_equal(cache_store_has(fs, "k"), 2);
	fs_mem_reset_counters(fs);
	expect(fs, "k", NULL);
	c = counters(fs);
	assert_int_equal(calls(&c), 0);
	/* a write of the key through the cache ends it at once */
	put(fs, "k", "now here");
	expect(fs, "k", "now here");

	/* another host's new key shows once the ttl passed */
	expect(fs, "k2", NULL);
	put(other, "k2", "elsewhere");
	expect(fs, "k2", NULL);
	usleep(250 * 1000);
	expect(fs, "k2", "elsewhere");
	check_bound(fs);
	fs_deinit(&other);
	fs_deinit(&fs);

	/* off by default */
	fs = open_spec("cache:max=1M::mem:name=neg2");
	expect(fs, "k", NULL);
	assert_int_equal(cache_store_has(fs, "k"), 0);
	fs_deinit(&fs);
}

static unsigned int list_count(struct fs *fs, const char *prefix)
{
	struct fs_iter *iter;
	const char *key;
	unsigned int n = 0;

	assert_int_equal(fs_iter_init(fs, prefix, 0, &iter), 0);
	while (fs_iter_next(iter, &key) > 0)
		n++;
	assert_int_equal(fs_iter_deinit(&iter), 0);
	return n;
}

static void test_list_ttl(void **state)
{
	struct fs *fs = open_spec("cache:max=1M,list_ttl=1h::mem:name=list");
	struct fs_mem_counters c;

	put(fs, "d/a", "1");
	put(fs, "d/b", "2");
	assert_int_equal(list_count(fs, "d/"), 2);
	fs_mem_reset_counters(fs);
	assert_int_equal(list_count(fs, "d/"), 2);
	c = counters(fs);
	assert_int_equal(c.iter_init + c.iter_next, 0);
	check_bound(fs);
	/* any change drops the kept listings */
	put(fs, "d/c", "3");
	assert_int_equal(list_count(fs, "d/"), 3);
	c = counters(fs);
	assert_true(c.iter_init > 0);
	fs_deinit(&fs);

	/* off by default */
	fs = open_spec("cache:max=1M::mem:name=list2");
	assert_int_equal(list_count(fs, ""), 0);
	fs_mem_reset_counters(fs);
	assert_int_equal(list_count(fs, ""), 0);
	c = counters(fs);
	assert_int_equal(c.iter_init, 1);
	fs_deinit(&fs);
}

static void test_stats(void **state)
{
	struct fs *fs = open_spec("cache:max=16k,validate=etag::mem:name=st");
	struct fs_stats st;
	char key[16], *data = calloc(1, 1000);
	unsigned int i;

	st = layer_stats(fs);
	assert_int_equal(st.cache_bytes, check_bound(fs));
	assert_int_equal(put_md(fs, "a", data, 1000, FS_OPEN_REPLACE, NULL), 0);
	fs_stats_reset(fs);
	expect(fs, "missing", NULL); /* miss */
	free(get(fs, "a"));	     /* hit, revalidated */
	st = layer_stats(fs);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.cache_misses, 1);
	assert_int_equal(st.cache_revalidations, 1);
	assert_int_equal(st.cache_evictions, 0);
	assert_int_equal(st.cache_bytes, check_bound(fs));
	assert_true(st.cache_bytes > 1000);
	for (i = 0; i < 30; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		assert_int_equal(
			put_md(fs, key, data, 1000, FS_OPEN_REPLACE, NULL), 0);
	}
	st = layer_stats(fs);
	assert_true(st.cache_evictions >= 15);
	assert_int_equal(st.cache_bytes, check_bound(fs));
	assert_true(st.cache_bytes <= 16 * 1024);
	free(data);
	fs_deinit(&fs);
}

/* --- asynchronous files --- */

static void test_async(void **state)
{
	struct fs *fs =
		open_spec("cache:max=1M,validate=never::mem:name=as,async");
	struct fs *other = open_spec("mem:name=as");
	struct fs_file *file;
	char buf[16];
	ssize_t ret;

	put(fs, "k", "async");
	/* a hit completes at once */
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 5);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	fs_file_deinit(&file);
	/* a miss goes through the child's -EAGAIN */
	assert_int_equal(fs_file_init(fs, "missing",
				      FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
			 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	assert_true(fs_async_pending(fs) > 0);
	while ((ret = fs_read(file, buf, sizeof(buf))) == -EAGAIN)
		assert_true(fs_wait_async(fs, -1) >= 0);
	assert_int_equal(ret, -ENOENT);
	fs_file_deinit(&file);
	/* a miss cancelled midway: nothing pending, nothing inserted */
	put(other, "k2", "elsewhere");
	assert_int_equal(fs_file_init(fs, "k2",
				      FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
			 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	fs_file_deinit(&file);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(cache_store_has(fs, "k2"), 0);
	/* and completed, it is inserted */
	expect(fs, "k2", "elsewhere");
	assert_int_equal(cache_store_has(fs, "k2"), 1);
	check_bound(fs);
	fs_deinit(&other);
	fs_deinit(&fs);
}

static void test_spec_errors(void **state)
{
	static const char *const bad[] = {
		"cache:::mem:",
		"cache:max=1k::mem:",
		"cache:max=1M,object_max=2M::mem:",
		"cache:max=1M,validate=sometimes::mem:",
		"cache:max=1M,negative_ttl=5x::mem:",
		"cache:max=1M,list_ttl=::mem:",
		"cache:max=1M,colour=blue::mem:",
	};
	const char *error;
	struct fs *fs;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fs_init(bad[i], NULL, &fs, &error), -EINVAL);
		assert_null(fs);
		assert_true(strlen(error) > 10);
	}
	fs = open_spec("cache:max=64M,object_max=1M,validate=never,"
		       "negative_ttl=30s,list_ttl=500ms::mem:");
	assert_string_equal(fs_driver_name(fs, 0), "cache");
	assert_int_equal(CACHE_FS(fs)->object_max, 1024 * 1024);
	assert_int_equal(CACHE_FS(fs)->negative_ttl_usec, 30000000);
	assert_int_equal(CACHE_FS(fs)->list_ttl_usec, 500000);
	/* the child's capabilities, nothing more */
	assert_int_equal(fs_get_caps(fs), fs_get_caps(fs->parent));
	fs_deinit(&fs);
	fs = open_spec("cache:max=8M::mem:");
	assert_int_equal(CACHE_FS(fs)->object_max, 1024 * 1024);
	assert_true(CACHE_FS(fs)->validate_etag);
	fs_deinit(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_never_costs_nothing),
		cmocka_unit_test(test_hit_etag_costs_one_call),
		cmocka_unit_test(test_other_host_etag),
		cmocka_unit_test(test_other_host_never),
		cmocka_unit_test(test_user_revalidate),
		cmocka_unit_test(test_write_through),
		cmocka_unit_test(test_failed_writes),
		cmocka_unit_test(test_partial_reads),
		cmocka_unit_test(test_fill_race),
		cmocka_unit_test(test_invalidation),
		cmocka_unit_test(test_strict_bound_model),
		cmocka_unit_test(test_faults_below),
		cmocka_unit_test(test_scan_resistance),
		cmocka_unit_test(test_object_max),
		cmocka_unit_test(test_negative_ttl),
		cmocka_unit_test(test_list_ttl),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_spec_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
