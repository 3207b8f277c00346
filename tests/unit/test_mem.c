/*
 * The mem driver: call counters, named shared stores, pinned readers,
 * write modes, etags, metadata, ranges, copy/rename and listing order.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../drivers/mem/mem.h"
#include "fs-private.h"
#include "libfs/fs.h"

static struct fs *open_fs(const char *spec)
{
	const char *error;
	struct fs *fs;

	if (fs_init(spec, NULL, &fs, &error) < 0)
		fail_msg("%s: %s", spec, error);
	return fs;
}

static int put_mode(struct fs *fs, const char *key, const char *data,
		    unsigned int mode)
{
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(fs, key, mode, &file), 0);
	ret = fs_write_all(file, data, strlen(data));
	fs_file_deinit(&file);
	return ret;
}

static void put(struct fs *fs, const char *key, const char *data)
{
	assert_int_equal(put_mode(fs, key, data, FS_OPEN_REPLACE), 0);
}

/* Reads key (with a range unless offset is UINT64_MAX); NULL if missing. */
static char *get_range(struct fs *fs, const char *key, uint64_t offset,
		       uint64_t length)
{
	struct fs_file *file;
	void *data;
	size_t size;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	if (offset != UINT64_MAX)
		assert_int_equal(fs_file_set_range(file, offset, length), 0);
	ret = fs_read_all(file, &data, &size);
	fs_file_deinit(&file);
	if (ret == -ENOENT)
		return NULL;
	assert_int_equal(ret, 0);
	assert_int_equal(strlen(data), size);
	return data;
}

static char *get(struct fs *fs, const char *key)
{
	return get_range(fs, key, UINT64_MAX, 0);
}

static void assert_content(struct fs *fs, const char *key, const char *data)
{
	char *got = get(fs, key);

	if (data == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, data);
	free(got);
}

static void test_counters(void **state)
{
	struct fs *fs = open_fs("mem:");
	struct fs_file *file, *dst;
	struct fs_mem_counters c;
	struct fs_iter *iter;
	const char *key;
	struct fs_stat st;
	char buf[8];

	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	assert_int_equal(c.file_init, 0);
	assert_int_equal(c.objects, 0);
	put(fs, "a", "12345");
	put(fs, "b", "xy");
	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	assert_int_equal(c.file_init, 2);
	assert_int_equal(c.write, 2);
	assert_int_equal(c.write_finish, 2);
	assert_int_equal(c.write_abort, 0);
	assert_int_equal(c.objects, 2);
	assert_int_equal(c.bytes, 7);

	fs_mem_reset_counters(fs);
	assert_int_equal(fs_file_init(fs, "a", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, 2), 2);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 3);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	/* after the end the core answers itself */
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(fs_file_exists(file), 1);
	assert_int_equal(fs_file_get_metadata_all(
				 file, &(const struct fs_metadata *){NULL}),
			 0);
	assert_int_equal(fs_file_init(fs, "c", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_copy(file, dst), 0);
	fs_file_deinit(&dst);
	assert_int_equal(fs_file_init(fs, "d", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_rename(file, dst), 0);
	assert_int_equal(fs_file_delete(dst), 0);
	assert_int_equal(fs_write(dst, "zz", 2), 2);
	fs_write_abort(dst);
	fs_file_deinit(&dst);
	fs_file_deinit(&file);
	assert_int_equal(fs_iter_init(fs, "", 0, &iter), 0);
	while (fs_iter_next(iter, &key) > 0)
		;
	assert_int_equal(fs_iter_deinit(&iter), 0);

	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	assert_int_equal(c.file_init, 3);
	assert_int_equal(c.read, 3);
	assert_int_equal(c.stat, 1);
	assert_int_equal(c.exists, 1);
	assert_int_equal(c.get_metadata, 1);
	assert_int_equal(c.copy, 1);
	assert_int_equal(c.rename, 1);
	assert_int_equal(c.delete_file, 1);
	assert_int_equal(c.write, 1);
	assert_int_equal(c.write_finish, 0);
	assert_true(c.write_abort >= 1);
	assert_int_equal(c.iter_init, 1);
	assert_int_equal(c.iter_next, 3); /* b, c, end */
	assert_int_equal(c.objects, 2);
	assert_int_equal(c.bytes, 7);
	fs_deinit(&fs);
}

static int nomem_init(struct fs *fs, const char *scheme, const char *args)
{
	return 0;
}

static const struct fs_driver nomem_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "nomem",
	.fs_size = sizeof(struct fs),
	.v = {.init = nomem_init},
};

static void test_counters_no_mem(void **state)
{
	struct fs_mem_counters c;
	struct fs *fs;

	assert_int_equal(fs_init_layer(&nomem_driver, "", NULL, &fs), 0);
	assert_int_equal(fs_mem_get_counters(fs, &c), -EINVAL);
	fs_mem_reset_counters(fs);
	fs_deinit(&fs);
}

static void test_named_stores(void **state)
{
	struct fs *fs1 = open_fs("mem:name=shared");
	struct fs *fs2 = open_fs("mem:name=shared");
	struct fs *other = open_fs("mem:name=other");
	struct fs *anon1 = open_fs("mem:"), *anon2 = open_fs("mem:");
	struct fs_mem_counters c;

	put(fs1, "k", "one");
	assert_content(fs2, "k", "one");
	assert_content(other, "k", NULL);
	put(anon1, "k", "private");
	assert_content(anon2, "k", NULL);
	/* call counters are per handle, contents per store */
	assert_int_equal(fs_mem_get_counters(fs2, &c), 0);
	assert_int_equal(c.write, 0);
	assert_int_equal(c.objects, 1);
	fs_deinit(&fs1);
	/* the store lives while a handle uses it */
	assert_content(fs2, "k", "one");
	fs1 = open_fs("mem:name=shared");
	assert_content(fs1, "k", "one");
	fs_deinit(&fs1);
	fs_deinit(&fs2);
	/* and goes with the last one */
	fs1 = open_fs("mem:name=shared");
	assert_content(fs1, "k", NULL);
	fs_deinit(&fs1);
	fs_deinit(&other);
	fs_deinit(&anon1);
	fs_deinit(&anon2);
}

static void test_pinned_reader(void **state)
{
	struct fs *fs = open_fs("mem:name=pin"), *fs2 = open_fs("mem:name=pin");
	struct fs_file *reader, *unopened;
	char buf[16];

	put(fs, "k", "old content");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &reader), 0);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &unopened), 0);
	assert_int_equal(fs_read(reader, buf, 4), 4);
	assert_memory_equal(buf, "old ", 4);
	/* replaced (through another handle) and deleted mid-read */
	put(fs2, "k", "NEW CONTENT, longer");
	assert_int_equal(fs_read(reader, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "content", 7);
	/* a file that had not read yet sees the new version */
	assert_int_equal(fs_read(unopened, buf, 3), 3);
	assert_memory_equal(buf, "NEW", 3);
	fs_file_deinit(&unopened);
	fs_file_deinit(&reader);

	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &reader), 0);
	assert_int_equal(fs_read(reader, buf, 4), 4);
	assert_int_equal(fs_file_init(fs2, "k", FS_OPEN_READ, &unopened), 0);
	assert_int_equal(fs_file_delete(unopened), 0);
	fs_file_deinit(&unopened);
	assert_int_equal(fs_read(reader, buf, sizeof(buf)), 15);
	assert_memory_equal(buf, "CONTENT, longer", 15);
	assert_int_equal(fs_read(reader, buf, sizeof(buf)), 0);
	fs_file_deinit(&reader);
	assert_content(fs, "k", NULL);
	fs_deinit(&fs);
	fs_deinit(&fs2);
}

static void test_write_modes(void **state)
{
	struct fs *fs = open_fs("mem:");
	struct fs_file *file, *file2;

	assert_int_equal(put_mode(fs, "k", "first", FS_OPEN_CREATE), 0);
	assert_int_equal(put_mode(fs, "k", "again", FS_OPEN_CREATE), -EEXIST);
	assert_content(fs, "k", "first");
	assert_int_equal(put_mode(fs, "k", "second", FS_OPEN_REPLACE), 0);
	assert_content(fs, "k", "second");
	assert_int_equal(put_mode(fs, "k", "+more", FS_OPEN_APPEND), 0);
	assert_content(fs, "k", "second+more");
	assert_int_equal(put_mode(fs, "new", "appended", FS_OPEN_APPEND), 0);
	assert_content(fs, "new", "appended");
	assert_int_equal(put_mode(fs, "new", "", FS_OPEN_APPEND), 0);
	assert_content(fs, "new", "appended");

	/* nothing is visible before finish; the race goes to the first */
	assert_int_equal(fs_file_init(fs, "race", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_file_init(fs, "race", FS_OPEN_CREATE, &file2), 0);
	assert_int_equal(fs_write(file, "one", 3), 3);
	assert_int_equal(fs_write(file2, "two", 3), 3);
	assert_content(fs, "race", NULL);
	assert_int_equal(fs_write_finish(file2), 0);
	assert_int_equal(fs_write_finish(file), -EEXIST);
	assert_non_null(strstr(fs_file_last_error(file), "exists"));
	/* the failure sticks */
	assert_int_equal(fs_write_finish(file), -EEXIST);
	assert_int_equal(fs_write(file, "x", 1), -EEXIST);
	fs_file_deinit(&file);
	fs_file_deinit(&file2);
	assert_content(fs, "race", "two");

	/* finish without a write publishes an empty object */
	assert_int_equal(fs_file_init(fs, "empty", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write_finish(file), 0);
	fs_file_deinit(&file);
	assert_content(fs, "empty", "");
	/* abort and deinit leave nothing */
	assert_int_equal(fs_file_init(fs, "gone", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write(file, "x", 1), 1);
	fs_file_deinit(&file);
	assert_content(fs, "gone", NULL);
	fs_deinit(&fs);
}

static void test_stat_etag(void **state)
{
	struct fs *fs = open_fs("mem:");
	struct fs_stat st1, st2;
	struct fs_file *file;
	struct timespec now;
	size_t i;

	put(fs, "k", "data");
	clock_gettime(CLOCK_REALTIME, &now);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st1), 0);
	assert_int_equal(st1.valid,
			 FS_STAT_SIZE | FS_STAT_MTIME | FS_STAT_ETAG);
	assert_int_equal(st1.size, 4);
	assert_true(st1.mtime_ns <=
		    (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	assert_true(st1.mtime_ns > ((int64_t)now.tv_sec - 60) * 1000000000);
	assert_int_equal(strlen(st1.etag), 16);
	for (i = 0; i < 16; i++)
		assert_non_null(strchr("0123456789abcdef", st1.etag[i]));
	fs_file_deinit(&file);
	/* the same bytes written again: a new version, a new etag */
	put(fs, "k", "data");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st2), 0);
	assert_string_not_equal(st1.etag, st2.etag);
	assert_true(st2.mtime_ns >= st1.mtime_ns);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "missing", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st1), -ENOENT);
	assert_int_equal(st1.valid, 0);
	assert_int_equal(fs_file_exists(file), 0);
	fs_file_deinit(&file);
	fs_deinit(&fs);
}

static void test_metadata(void **state)
{
	struct fs *fs = open_fs("mem:");
	const struct fs_metadata *md;
	struct fs_file *file, *dst;
	const char *value;
	char big[FS_METADATA_TOTAL_MAX + 1];

	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "zeta", "last"), 0);
	assert_int_equal(fs_file_set_metadata(file, "alpha", "first"), 0);
	assert_int_equal(fs_file_set_metadata(file, "mid-1_x", "v"), 0);
	assert_int_equal(fs_file_set_metadata(file, "zeta", "replaced"), 0);
	assert_int_equal(fs_file_set_metadata(file, "Upper", "x"), -EINVAL);
	assert_int_equal(fs_file_set_metadata(file, "", "x"), -EINVAL);
	assert_int_equal(fs_file_set_metadata(file, "a b", "x"), -EINVAL);
	assert_int_equal(fs_file_set_metadata(file, "ctl", "a\nb"), -EINVAL);
	assert_int_equal(fs_file_set_metadata(file, "utf", "\xc3\x28"),
			 -EINVAL);
	assert_int_equal(fs_file_set_metadata(file, "utf", "caf\xc3\xa9"), 0);
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(fs_file_set_metadata(file, "big", big), -EINVAL);
	assert_non_null(strstr(fs_file_last_error(file), "2048"));
	assert_int_equal(fs_write_all(file, "x", 1), 0);
	assert_int_equal(fs_file_set_metadata(file, "late", "x"), -EINVAL);
	fs_file_deinit(&file);

	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "a", "x"), -EINVAL);
	assert_int_equal(fs_file_get_metadata_all(file, &md), 4);
	assert_string_equal(md[0].name, "alpha");
	assert_string_equal(md[1].name, "mid-1_x");
	assert_string_equal(md[2].name, "utf");
	assert_string_equal(md[3].name, "zeta");
	assert_string_equal(md[3].value, "replaced");
	assert_int_equal(fs_file_get_metadata(file, "alpha", &value), 1);
	assert_string_equal(value, "first");
	assert_int_equal(fs_file_get_metadata(file, "nope", &value), 0);
	assert_null(value);
	/* copy keeps metadata */
	assert_int_equal(fs_file_init(fs, "copy", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_copy(file, dst), 0);
	fs_file_deinit(&dst);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "copy", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata(file, "zeta", &value), 1);
	assert_string_equal(value, "replaced");
	fs_file_deinit(&file);
	/* append keeps the old metadata, updated by the new */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_APPEND, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "alpha", "new"), 0);
	assert_int_equal(fs_write_all(file, "y", 1), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata_all(file, &md), 4);
	assert_string_equal(md[0].value, "new");
	assert_string_equal(md[3].value, "replaced");
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "missing", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata(file, "a", &value), -ENOENT);
	fs_file_deinit(&file);
	fs_deinit(&fs);

	fs = open_fs("mem:no-metadata");
	assert_int_equal(fs_get_caps(fs) & FS_CAP_METADATA, 0);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "a", "x"), -ENOTSUP);
	assert_int_equal(fs_write_all(file, "x", 1), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata(file, "a", &value), -ENOTSUP);
	assert_int_equal(fs_file_get_metadata_all(file, &md), -ENOTSUP);
	fs_file_deinit(&file);
	fs_deinit(&fs);
}

static void check_ranges(const char *spec)
{
	static const struct {
		uint64_t offset, length;
		const char *expect;
	} ranges[] = {
		{0, UINT64_MAX, "0123456789"},
		{0, 3, "012"},
		{3, 4, "3456"},
		{7, UINT64_MAX, "789"},
		{7, 100, "789"},
		{9, 1, "9"},
		{10, 5, ""},
		{1000, UINT64_MAX, ""},
		{4, 0, ""},
		{UINT64_MAX - 1, 5, ""},
		{2, UINT64_MAX - 1, "23456789"},
	};
	struct fs *fs = open_fs(spec);
	struct fs_file *file;
	char buf[4];
	size_t i;
	char *got;

	put(fs, "k", "0123456789");
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		got = get_range(fs, "k", ranges[i].offset, ranges[i].length);
		assert_non_null(got);
		if (strcmp(got, ranges[i].expect) != 0)
			fail_msg("%s range %zu: '%s', expected '%s'", spec, i,
				 got, ranges[i].expect);
		free(got);
	}
	/* small reads through a range */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_set_range(file, 5, 4), 0);
	assert_int_equal(fs_read(file, buf, 3), 3);
	assert_memory_equal(buf, "567", 3);
	assert_int_equal(fs_file_set_range(file, 0, 1), -EINVAL);
	assert_int_equal(fs_read(file, buf, 3), 1);
	assert_int_equal(buf[0], '8');
	assert_int_equal(fs_read(file, buf, 3), 0);
	fs_file_deinit(&file);
	/* a range on a missing object: -ENOENT */
	assert_null(get_range(fs, "missing", 2, 2));
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_file_set_range(file, 0, 1), -EINVAL);
	fs_file_deinit(&file);
	fs_deinit(&fs);
}

static void test_ranges(void **state)
{
	check_ranges("mem:");
	check_ranges("mem:no-range");
	check_ranges("mem:no-range,async");
}

static void test_copy_rename(void **state)
{
	struct fs *fs = open_fs("mem:");
	struct fs_file *src, *dst, *missing;

	put(fs, "src", "S");
	put(fs, "dst", "D");
	assert_int_equal(fs_file_init(fs, "src", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_copy(src, dst), -EEXIST);
	assert_int_equal(fs_rename(src, dst), -EEXIST);
	fs_file_deinit(&dst);
	assert_content(fs, "src", "S");
	assert_content(fs, "dst", "D");
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_REPLACE, &dst), 0);
	assert_int_equal(fs_rename(src, dst), 0);
	assert_content(fs, "src", NULL);
	assert_content(fs, "dst", "S");
	assert_int_equal(fs_rename(src, dst), -ENOENT);
	assert_int_equal(fs_copy(src, dst), -ENOENT);
	assert_non_null(strstr(fs_file_last_error(dst), "src"));
	/* the core refuses what makes no sense */
	assert_int_equal(fs_copy(dst, dst), -EINVAL);
	assert_int_equal(fs_copy(dst, src), -EINVAL);
	assert_int_equal(fs_file_init(fs, "src", FS_OPEN_APPEND, &missing), 0);
	assert_int_equal(fs_copy(dst, missing), -EINVAL);
	fs_file_deinit(&missing);
	fs_file_deinit(&src);
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_CREATE, &src), 0);
	assert_int_equal(fs_copy(dst, src), -EINVAL);
	fs_file_deinit(&src);
	fs_file_deinit(&dst);
	fs_deinit(&fs);
}

static char **list(struct fs *fs, const char *prefix, unsigned int flags,
		   size_t *count_r)
{
	char **keys = NULL;
	struct fs_iter *iter;
	const char *key;
	size_t count = 0;
	int ret;

	assert_int_equal(fs_iter_init(fs, prefix, flags, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		keys = realloc(keys, (count + 1) * sizeof(*keys));
		keys[count++] = strdup(key);
	}
	assert_int_equal(ret, 0);
	assert_int_equal(fs_iter_deinit(&iter), 0);
	*count_r = count;
	return keys;
}

static void check_list(struct fs *fs, const char *prefix, unsigned int flags,
		       const char *const *expect, size_t expect_count)
{
	size_t i, count;
	char **keys = list(fs, prefix, flags, &count);

	if (count != expect_count)
		fail_msg("list '%s': %zu keys, expected %zu", prefix, count,
			 expect_count);
	for (i = 0; i < count; i++) {
		assert_string_equal(keys[i], expect[i]);
		free(keys[i]);
	}
	free(keys);
}

static void test_listing(void **state)
{
	static const char *const all[] = {
		"a",   "a/b", "a/b/c", "a/b0", "a/c/d/e",
		"a/z", "b",   "b.",    "b/x",  "\xc3\xa9",
	};
	static const char *const under_a[] = {
		"a/b", "a/b/c", "a/b0", "a/c/d/e", "a/z",
	};
	static const char *const one_level[] = {"a",  "a/", "b",
						"b.", "b/", "\xc3\xa9"};
	static const char *const one_level_a[] = {"a/b", "a/b/", "a/b0", "a/c/",
						  "a/z"};
	static const char *const partial[] = {"b", "b.", "b/"};
	struct fs *fs = open_fs("mem:");
	size_t i;

	/* inserted out of order */
	for (i = sizeof(all) / sizeof(all[0]); i > 0; i--)
		put(fs, all[(i * 7) % 10], "x");
	check_list(fs, "", 0, all, 10);
	check_list(fs, "a/", 0, under_a, 5);
	check_list(fs, "", FS_ITER_FLAG_ONE_LEVEL, one_level, 6);
	check_list(fs, "a/", FS_ITER_FLAG_ONE_LEVEL, one_level_a, 5);
	check_list(fs, "b", FS_ITER_FLAG_ONE_LEVEL, partial, 3);
	check_list(fs, "nothing", 0, NULL, 0);
	check_list(fs, "\xc3", 0, all + 9, 1);
	fs_deinit(&fs);
}

static void test_listing_resumes(void **state)
{
	struct fs *fs = open_fs("mem:");
	struct fs_iter *iter;
	struct fs_file *file;
	const char *key;

	put(fs, "k1", "x");
	put(fs, "k3", "x");
	put(fs, "k5", "x");
	assert_int_equal(fs_iter_init(fs, "k", 0, &iter), 0);
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_string_equal(key, "k1");
	/* the returned key goes away, one appears before, one after */
	assert_int_equal(fs_file_init(fs, "k1", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file), 0);
	fs_file_deinit(&file);
	put(fs, "k0", "x");
	put(fs, "k4", "x");
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_string_equal(key, "k3");
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_string_equal(key, "k4");
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_string_equal(key, "k5");
	assert_int_equal(fs_iter_next(iter, &key), 0);
	assert_int_equal(fs_iter_next(iter, &key), 0);
	assert_int_equal(fs_iter_deinit(&iter), 0);

	/* bad arguments */
	assert_int_equal(fs_iter_init(fs, "a\nb", 0, &iter), -EINVAL);
	assert_null(iter);
	assert_int_equal(fs_iter_init(fs, "", 1u << 7, &iter), -EINVAL);
	assert_non_null(strstr(fs_last_error(fs), "flags"));
	assert_int_equal(fs_iter_deinit(&iter), 0);
	fs_deinit(&fs);
}

static void test_big_object(void **state)
{
	struct fs *fs = open_fs("mem:");
	size_t size = 1024 * 1024 + 17, i, got_size;
	struct fs_file *file;
	unsigned char *data;
	void *got;

	data = malloc(size);
	for (i = 0; i < size; i++)
		data[i] = (unsigned char)(i * 31 + i / 251);
	assert_int_equal(fs_file_init(fs, "big", FS_OPEN_CREATE, &file), 0);
	for (i = 0; i < size; i += 4000)
		assert_int_equal(fs_write(file, data + i,
					  size - i < 4000 ? size - i : 4000),
				 (ssize_t)(size - i < 4000 ? size - i : 4000));
	assert_int_equal(fs_write_finish(file), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "big", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read_all(file, &got, &got_size), 0);
	assert_int_equal(got_size, size);
	assert_memory_equal(got, data, size);
	assert_int_equal(((char *)got)[size], '\0');
	free(got);
	fs_file_deinit(&file);
	free(data);
	fs_deinit(&fs);
}

static void test_bad_usage(void **state)
{
	struct fs *fs = open_fs("mem:");
	struct fs_file *file;
	char buf[4];

	assert_int_equal(fs_file_init(fs, "k", 7, &file), -EINVAL);
	assert_null(file);
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | (1u << 12), &file),
		-EINVAL);
	assert_non_null(strstr(fs_last_error(fs), "mode"));
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_write(file, "x", 1), -EINVAL);
	assert_int_equal(fs_write_finish(file), -EINVAL);
	assert_int_equal(fs_write_all(file, "x", 1), -EINVAL);
	assert_non_null(
		strstr(fs_file_last_error(file), "not open for writing"));
	fs_write_abort(file);
	assert_int_equal(fs_read(file, buf, 0), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EINVAL);
	assert_string_equal(fs_file_last_error(file),
			    "read k: file is not open for reading");
	assert_int_equal(fs_write_all(file, "abc", 3), 0);
	assert_int_equal(fs_write(file, "x", 1), -EINVAL);
	assert_non_null(strstr(fs_file_last_error(file), "already finished"));
	fs_file_deinit(&file);
	fs_deinit(&fs);

	/* APPEND needs FS_CAP_APPEND: a driver without it */
	assert_int_equal(fs_init_layer(&nomem_driver, "", NULL, &fs), 0);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_APPEND, &file),
			 -ENOTSUP);
	assert_non_null(strstr(fs_last_error(fs), "append"));
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	/* NULL methods are -ENOTSUP, not a crash */
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -ENOTSUP);
	assert_int_equal(fs_file_exists(file), -ENOTSUP);
	assert_int_equal(fs_file_delete(file), -ENOTSUP);
	assert_int_equal(fs_iter_init(fs, "", 0, &(struct fs_iter *){NULL}),
			 -ENOTSUP);
	fs_file_deinit(&file);
	fs_deinit(&fs);
}

/* Several threads, each with its own handle on one named store. */
static void *thread_main(void *arg)
{
	struct fs *fs = open_fs("mem:name=threads");
	char key[32], data[32], *got;
	unsigned int i, id = *(unsigned int *)arg;

	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "t%u/%u", id, i % 10);
		snprintf(data, sizeof(data), "%u-%u", id, i);
		put(fs, key, data);
		put(fs, "shared", data);
		got = get(fs, key);
		assert_string_equal(got, data);
		free(got);
		free(get(fs, "shared"));
	}
	fs_deinit(&fs);
	return NULL;
}

static void test_threads(void **state)
{
	struct fs *keep = open_fs("mem:name=threads");
	unsigned int ids[4] = {0, 1, 2, 3};
	struct fs_mem_counters c;
	pthread_t threads[4];
	unsigned int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(
			pthread_create(&threads[i], NULL, thread_main, &ids[i]),
			0);
	for (i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	assert_int_equal(fs_mem_get_counters(keep, &c), 0);
	assert_int_equal(c.objects, 4 * 10 + 1);
	fs_deinit(&keep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_counters_no_mem),
		cmocka_unit_test(test_named_stores),
		cmocka_unit_test(test_pinned_reader),
		cmocka_unit_test(test_write_modes),
		cmocka_unit_test(test_stat_etag),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_copy_rename),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_listing_resumes),
		cmocka_unit_test(test_big_object),
		cmocka_unit_test(test_bad_usage),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
