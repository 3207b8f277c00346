/*
 * Layers: a tiny layer made only of fs_passthrough_* helpers, stacked over
 * mem with fs_init_layer() and through fs_init() spec strings. Data,
 * metadata, ranges, errors, asynchronous completion, per-layer statistics
 * and the core's copy/rename/exists fallbacks all have to pass through.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../drivers/mem/mem.h"
#include "fs-private.h"
#include "libfs/fs.h"

#define PASSTHROUGH_FILE_METHODS                                               \
	.get_caps = fs_passthrough_get_caps,                                   \
	.file_init = fs_passthrough_file_init,                                 \
	.file_deinit = fs_passthrough_file_deinit,                             \
	.read = fs_passthrough_read, .write = fs_passthrough_write,            \
	.write_finish = fs_passthrough_write_finish,                           \
	.write_abort = fs_passthrough_write_abort,                             \
	.stat = fs_passthrough_stat,                                           \
	.get_metadata = fs_passthrough_get_metadata,                           \
	.delete_file = fs_passthrough_delete,                                  \
	.iter_init = fs_passthrough_iter_init,                                 \
	.iter_next = fs_passthrough_iter_next,                                 \
	.iter_deinit = fs_passthrough_iter_deinit

/* Everything forwarded. */
static const struct fs_driver pass_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "pass",
	.layer = true,
	.fs_size = sizeof(struct fs),
	.file_size = sizeof(struct fs_file),
	.iter_size = sizeof(struct fs_iter),
	.v =
		{
			PASSTHROUGH_FILE_METHODS,
			.exists = fs_passthrough_exists,
			.copy = fs_passthrough_copy,
			.rename = fs_passthrough_rename,
		},
};

/* No exists, copy or rename: the core's fallbacks run at this layer. */
static const struct fs_driver thin_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "thin",
	.layer = true,
	.fs_size = sizeof(struct fs),
	.file_size = sizeof(struct fs_file),
	.iter_size = sizeof(struct fs_iter),
	.v =
		{
			PASSTHROUGH_FILE_METHODS,
		},
};

static struct fs *stack(const struct fs_driver *driver, const char *spec)
{
	struct fs *mem, *fs;

	assert_int_equal(fs_init(spec, NULL, &mem, NULL), 0);
	assert_int_equal(fs_init_layer(driver, "", mem, &fs), 0);
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

static char *get_range(struct fs *fs, const char *key, uint64_t offset,
		       uint64_t length)
{
	struct fs_file *file;
	void *data;
	size_t size;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_set_range(file, offset, length), 0);
	ret = fs_read_all(file, &data, &size);
	fs_file_deinit(&file);
	if (ret == -ENOENT)
		return NULL;
	assert_int_equal(ret, 0);
	return data;
}

static void assert_content(struct fs *fs, const char *key, const char *data)
{
	char *got = get_range(fs, key, 0, UINT64_MAX);

	if (data == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, data);
	free(got);
}

static void test_data(void **state)
{
	struct fs *fs = stack(&pass_driver, "mem:");
	struct fs_file *file;
	struct fs_stat st;

	assert_int_equal(fs_get_caps(fs), fs_get_caps(fs->parent));
	assert_string_equal(fs_driver_name(fs, 0), "pass");
	assert_string_equal(fs_driver_name(fs, 1), "mem");
	assert_int_equal(put_mode(fs, "k", "hello", FS_OPEN_CREATE), 0);
	assert_content(fs, "k", "hello");
	/* the object is really below */
	assert_content(fs->parent, "k", "hello");
	assert_int_equal(put_mode(fs, "k", "x", FS_OPEN_CREATE), -EEXIST);
	assert_int_equal(put_mode(fs, "k", " world", FS_OPEN_APPEND), 0);
	assert_content(fs, "k", "hello world");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, 11);
	assert_int_equal(strlen(st.etag), 16);
	assert_int_equal(fs_file_exists(file), 1);
	assert_int_equal(fs_file_delete(file), 0);
	assert_int_equal(fs_file_exists(file), 0);
	fs_file_deinit(&file);
	assert_content(fs->parent, "k", NULL);

	/* an abandoned write leaves nothing below */
	assert_int_equal(fs_file_init(fs, "w", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write(file, "partial", 7), 7);
	fs_write_abort(file);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "w", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write(file, "partial", 7), 7);
	fs_file_deinit(&file);
	assert_content(fs->parent, "w", NULL);
	assert_int_equal(fs->files_open, 0);
	assert_int_equal(fs->parent->files_open, 0);
	fs_deinit(&fs);
}

static void test_metadata(void **state)
{
	struct fs *fs = stack(&pass_driver, "mem:");
	const struct fs_metadata *md;
	struct fs_file *file;
	const char *value;

	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "b", "2"), 0);
	assert_int_equal(fs_file_set_metadata(file, "a", "1"), 0);
	assert_int_equal(fs_write_all(file, "x", 1), 0);
	fs_file_deinit(&file);
	/* stored below */
	assert_int_equal(fs_file_init(fs->parent, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata(file, "b", &value), 1);
	assert_string_equal(value, "2");
	fs_file_deinit(&file);
	/* read through the layer, sorted */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata_all(file, &md), 2);
	assert_string_equal(md[0].name, "a");
	assert_string_equal(md[1].value, "2");
	fs_file_deinit(&file);
	fs_deinit(&fs);

	/* no metadata below: none through the layer */
	fs = stack(&pass_driver, "mem:no-metadata");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "a", "1"), -ENOTSUP);
	fs_file_deinit(&file);
	fs_deinit(&fs);
}

static void check_ranges(const char *spec)
{
	struct fs *fs = stack(&pass_driver, spec);
	struct fs_mem_counters c;
	char *got;

	assert_int_equal(put_mode(fs, "k", "0123456789", FS_OPEN_REPLACE), 0);
	got = get_range(fs, "k", 3, 4);
	assert_string_equal(got, "3456");
	free(got);
	got = get_range(fs, "k", 8, UINT64_MAX);
	assert_string_equal(got, "89");
	free(got);
	got = get_range(fs, "k", 20, 1);
	assert_string_equal(got, "");
	free(got);
	assert_null(get_range(fs, "missing", 1, 1));
	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	assert_int_equal(c.objects, 1);
	fs_deinit(&fs);
}

static void test_ranges(void **state)
{
	/* served below, or emulated once at the top */
	check_ranges("mem:");
	check_ranges("mem:no-range");
	check_ranges("mem:async");
	check_ranges("mem:async,no-range");
}

static void test_errors(void **state)
{
	struct fs *fs = stack(&pass_driver, "mem:");
	struct fs_file *file, *dst;
	struct fs_stat st;
	char buf[4];

	assert_int_equal(fs_file_init(fs, "missing", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -ENOENT);
	/* the driver's own message, from two layers down */
	assert_string_equal(fs_file_last_error(file),
			    "read missing: no such object (mem)");
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(fs_file_stat(file, &st), -ENOENT);
	/* a generic message made below */
	assert_string_equal(fs_file_last_error(file),
			    "stat missing: No such file or directory (mem)");
	assert_int_equal(fs_file_delete(file), -ENOENT);
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_copy(file, dst), -ENOENT);
	assert_non_null(strstr(fs_file_last_error(dst), "missing"));
	fs_file_deinit(&dst);
	fs_file_deinit(&file);
	/* file_init errors of the parent reach the layer's fs */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_APPEND, &file), 0);
	fs_file_deinit(&file);
	fs_deinit(&fs);
}

struct counter {
	unsigned int calls;
};

static void count_cb(void *context)
{
	((struct counter *)context)->calls++;
}

static void test_async_completion(void **state)
{
	struct fs *fs = stack(&pass_driver, "mem:async");
	struct counter cnt = {0};
	struct fs_file *file;
	struct fs_iter *iter;
	const char *key;
	char buf[16];
	int ret;

	assert_true((fs_get_caps(fs) & FS_CAP_ASYNC) != 0);
	/* blocking files over an asynchronous parent */
	assert_int_equal(put_mode(fs, "k", "async data", FS_OPEN_CREATE), 0);
	assert_int_equal(fs_async_pending(fs), 0);

	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	fs_file_set_callback(file, count_cb, &cnt);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	/* one in the layer, one below */
	assert_int_equal(fs->async_pending, 1);
	assert_int_equal(fs->parent->async_pending, 1);
	assert_int_equal(fs_async_pending(fs), 2);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(cnt.calls, 0);
	assert_int_equal(fs_wait_async(fs, -1), 0);
	assert_int_equal(cnt.calls, 1);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "async data", 10);
	while ((ret = (int)fs_read(file, buf, sizeof(buf))) == -EAGAIN)
		assert_int_equal(fs_wait_async(fs, -1), 0);
	assert_int_equal(ret, 0);
	assert_int_equal(cnt.calls, 2);
	/* cancel through the layers */
	fs_file_deinit(&file);
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	fs_file_set_callback(file, count_cb, &cnt);
	assert_int_equal(fs_file_exists(file), -EAGAIN);
	fs_file_deinit(&file);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(fs_wait_async(fs, -1), 0);
	assert_int_equal(cnt.calls, 2);

	/* iterators */
	assert_int_equal(fs_iter_init(fs, "", FS_ITER_FLAG_ASYNC, &iter), 0);
	fs_iter_set_callback(iter, count_cb, &cnt);
	assert_int_equal(fs_iter_next(iter, &key), -EAGAIN);
	assert_int_equal(fs_async_pending(fs), 2);
	assert_int_equal(fs_wait_async(fs, -1), 0);
	assert_int_equal(cnt.calls, 3);
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_string_equal(key, "k");
	assert_int_equal(fs_iter_deinit(&iter), 0);
	assert_int_equal(fs_iter_init(fs, "", 0, &iter), 0);
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_int_equal(fs_iter_next(iter, &key), 0);
	assert_int_equal(fs_iter_deinit(&iter), 0);
	assert_int_equal(fs->iters_open, 0);
	assert_int_equal(fs->parent->iters_open, 0);
	fs_deinit(&fs);
}

static void test_stats_per_layer(void **state)
{
	struct fs *fs = stack(&pass_driver, "mem:");
	struct fs_stats st0, st1;
	struct fs_file *file;
	struct fs_stat st;

	assert_int_equal(put_mode(fs, "k", "12345", FS_OPEN_CREATE), 0);
	free(get_range(fs, "k", 1, 2));
	assert_int_equal(fs_file_init(fs, "nope", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), -ENOENT);
	fs_file_deinit(&file);
	assert_int_equal(fs_stats_get(fs, 0, &st0), 0);
	assert_int_equal(fs_stats_get(fs, 1, &st1), 0);
	assert_int_equal(st0.ops[FS_OP_WRITE].count, 1);
	assert_int_equal(st1.ops[FS_OP_WRITE].count, 1);
	assert_int_equal(st0.ops[FS_OP_WRITE].bytes, 5);
	assert_int_equal(st1.ops[FS_OP_WRITE].bytes, 5);
	assert_int_equal(st0.ops[FS_OP_READ].bytes, 2);
	assert_int_equal(st1.ops[FS_OP_READ].bytes, 2);
	assert_int_equal(st0.ops[FS_OP_STAT].count, 1);
	assert_int_equal(st1.ops[FS_OP_STAT].count, 1);
	assert_int_equal(st0.ops[FS_OP_STAT].errors, 0);
	assert_int_equal(st1.ops[FS_OP_STAT].errors, 0);
	assert_int_equal(fs_stats_get(fs, 2, &st0), -ENOENT);
	fs_deinit(&fs);
}

static void check_fallbacks(const char *spec)
{
	struct fs *fs = stack(&thin_driver, spec);
	struct fs_file *src, *dst;
	struct fs_mem_counters c;
	struct fs_stats st;
	const char *value;
	unsigned int flags = strstr(spec, "async") ? FS_OPEN_FLAG_ASYNC : 0;

	assert_int_equal(fs_file_init(fs, "src", FS_OPEN_CREATE, &src), 0);
	if ((fs_get_caps(fs) & FS_CAP_METADATA) != 0)
		assert_int_equal(fs_file_set_metadata(src, "m", "v"), 0);
	assert_int_equal(fs_write_all(src, "copy me", 7), 0);
	fs_file_deinit(&src);
	fs_mem_reset_counters(fs);

	/* copy by streaming, metadata included; blocking even on ASYNC */
	assert_int_equal(fs_file_init(fs, "src", FS_OPEN_READ | flags, &src),
			 0);
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_CREATE | flags, &dst),
			 0);
	assert_int_equal(fs_copy(src, dst), 0);
	assert_int_equal(fs_copy(src, dst), -EINVAL);
	fs_file_deinit(&dst);
	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	assert_int_equal(c.copy, 0);
	assert_true(c.read > 0);
	assert_true(c.write_finish > 0);
	assert_content(fs, "dst", "copy me");
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_READ, &dst), 0);
	if ((fs_get_caps(fs) & FS_CAP_METADATA) != 0) {
		assert_int_equal(fs_file_get_metadata(dst, "m", &value), 1);
		assert_string_equal(value, "v");
	}
	/* exists falls back to stat */
	assert_int_equal(fs_file_exists(dst), 1);
	fs_file_deinit(&dst);
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_CREATE | flags, &dst),
			 0);
	assert_int_equal(fs_copy(src, dst), -EEXIST);
	assert_int_equal(fs_async_pending(fs), 0);
	fs_file_deinit(&dst);

	/* rename = copy + delete */
	assert_int_equal(
		fs_file_init(fs, "moved", FS_OPEN_CREATE | flags, &dst), 0);
	assert_int_equal(fs_rename(src, dst), 0);
	fs_file_deinit(&dst);
	fs_file_deinit(&src);
	assert_content(fs, "src", NULL);
	assert_content(fs, "moved", "copy me");
	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	assert_int_equal(c.rename, 0);
	assert_int_equal(c.objects, 2);

	/* a missing source: -ENOENT on dst, nothing created */
	assert_int_equal(fs_file_init(fs, "src", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(fs, "x", FS_OPEN_REPLACE | flags, &dst),
			 0);
	assert_int_equal(fs_rename(src, dst), -ENOENT);
	assert_non_null(strstr(fs_file_last_error(dst), "src"));
	fs_file_deinit(&dst);
	fs_file_deinit(&src);
	assert_content(fs, "x", NULL);
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_COPY].count, 2);
	assert_int_equal(st.ops[FS_OP_COPY].bytes, 14); /* both streamed */
	assert_int_equal(st.ops[FS_OP_RENAME].count, 2);
	assert_int_equal(st.ops[FS_OP_RENAME].errors, 0);
	assert_int_equal(fs_async_pending(fs), 0);
	fs_deinit(&fs);
}

static void test_fallbacks(void **state)
{
	check_fallbacks("mem:");
	check_fallbacks("mem:no-metadata");
	check_fallbacks("mem:async");
}

static void test_spec_stacking(void **state)
{
	const char *error;
	struct fs *fs;

	fs_driver_test_extra = &pass_driver;
	assert_int_equal(fs_init("pass:::pass:::mem:async", NULL, &fs, &error),
			 0);
	assert_string_equal(fs_driver_name(fs, 0), "pass");
	assert_string_equal(fs_driver_name(fs, 1), "pass");
	assert_string_equal(fs_driver_name(fs, 2), "mem");
	assert_int_equal(put_mode(fs, "a/b", "deep", FS_OPEN_CREATE), 0);
	assert_content(fs, "a/b", "deep");
	assert_content(fs->parent->parent, "a/b", "deep");
	assert_int_equal(fs_async_pending(fs), 0);
	fs_deinit(&fs);
	fs_driver_test_extra = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_async_completion),
		cmocka_unit_test(test_stats_per_layer),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_spec_stacking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
