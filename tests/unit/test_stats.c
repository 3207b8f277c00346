/*
 * Statistics: per operation counts, bytes, errors (ENOENT/EEXIST are not
 * errors), the latency histogram and percentiles, per layer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fs-private.h"
#include "libfs/fs.h"

/* A passthrough layer, to see statistics per depth. */
static const struct fs_driver pass_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "pass",
	.layer = true,
	.fs_size = sizeof(struct fs),
	.file_size = sizeof(struct fs_file),
	.iter_size = sizeof(struct fs_iter),
	.v =
		{
			.get_caps = fs_passthrough_get_caps,
			.file_init = fs_passthrough_file_init,
			.file_deinit = fs_passthrough_file_deinit,
			.read = fs_passthrough_read,
			.write = fs_passthrough_write,
			.write_finish = fs_passthrough_write_finish,
			.write_abort = fs_passthrough_write_abort,
			.stat = fs_passthrough_stat,
			.exists = fs_passthrough_exists,
			.get_metadata = fs_passthrough_get_metadata,
			.delete_file = fs_passthrough_delete,
			.copy = fs_passthrough_copy,
			.rename = fs_passthrough_rename,
			.iter_init = fs_passthrough_iter_init,
			.iter_next = fs_passthrough_iter_next,
			.iter_deinit = fs_passthrough_iter_deinit,
		},
};

/* A leaf whose stat and read fail with -EIO (read after 3 bytes). */
static int fail_stat(struct fs_file *file, struct fs_stat *st_r)
{
	return -EIO;
}

static ssize_t fail_read(struct fs_file *file, void *buf, size_t size)
{
	if (file->op_bytes == 0 && size >= 3) {
		memcpy(buf, "abc", 3);
		return 3;
	}
	return fs_file_set_error(file, -EIO, "read %s: broken", file->key);
}

static const struct fs_driver fail_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "fail",
	.fs_size = sizeof(struct fs),
	.file_size = sizeof(struct fs_file),
	.v =
		{
			.stat = fail_stat,
			.read = fail_read,
		},
};

static void write_key(struct fs *fs, const char *key, const char *data)
{
	struct fs_file *file;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write_all(file, data, strlen(data)), 0);
	fs_file_deinit(&file);
}

static uint64_t histogram_sum(const struct fs_op_stats *st)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < FS_LATENCY_BUCKETS; i++)
		sum += st->latency[i];
	return sum;
}

static void test_counts_and_bytes(void **state)
{
	struct fs_file *file, *dst;
	struct fs_stats st;
	struct fs_iter *iter;
	struct fs_stat fst;
	const char *key;
	char buf[4];
	struct fs *fs;
	unsigned int i;

	assert_int_equal(fs_init("mem:", NULL, &fs, NULL), 0);
	write_key(fs, "a", "hello");
	write_key(fs, "b", "0123456789");

	/* a read stream is one op, however many reads */
	assert_int_equal(fs_file_init(fs, "b", FS_OPEN_READ, &file), 0);
	while (fs_read(file, buf, sizeof(buf)) > 0)
		;
	assert_int_equal(fs_file_stat(file, &fst), 0);
	assert_int_equal(fs_file_exists(file), 1);
	fs_file_deinit(&file);

	/* missing keys and existing destinations are answers */
	assert_int_equal(fs_file_init(fs, "missing", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(fs_file_stat(file, &fst), -ENOENT);
	assert_int_equal(fs_file_delete(file), -ENOENT);
	assert_int_equal(fs_file_exists(file), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "a", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write_all(file, "x", 1), -EEXIST);
	fs_file_deinit(&file);

	assert_int_equal(fs_file_init(fs, "a", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_init(fs, "c", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_copy(file, dst), 0);
	fs_file_deinit(&dst);
	assert_int_equal(fs_file_init(fs, "d", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_rename(file, dst), 0);
	fs_file_deinit(&dst);
	fs_file_deinit(&file);

	assert_int_equal(fs_iter_init(fs, "", 0, &iter), 0);
	while (fs_iter_next(iter, &key) > 0)
		;
	assert_int_equal(fs_iter_deinit(&iter), 0);

	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_WRITE].count, 3);
	assert_int_equal(st.ops[FS_OP_WRITE].bytes, 5 + 10 + 1);
	assert_int_equal(st.ops[FS_OP_WRITE].errors, 0);
	assert_int_equal(st.ops[FS_OP_READ].count, 2);
	assert_int_equal(st.ops[FS_OP_READ].bytes, 10);
	assert_int_equal(st.ops[FS_OP_READ].errors, 0);
	assert_int_equal(st.ops[FS_OP_STAT].count, 2);
	assert_int_equal(st.ops[FS_OP_EXISTS].count, 2);
	assert_int_equal(st.ops[FS_OP_DELETE].count, 1);
	assert_int_equal(st.ops[FS_OP_COPY].count, 1);
	assert_int_equal(st.ops[FS_OP_RENAME].count, 1);
	assert_int_equal(st.ops[FS_OP_ITER].count, 1);
	assert_int_equal(st.ops[FS_OP_METADATA].count, 0);
	for (i = 0; i < FS_OP_COUNT; i++) {
		assert_int_equal(st.ops[i].errors, 0);
		assert_int_equal(histogram_sum(&st.ops[i]), st.ops[i].count);
	}
	assert_int_equal(fs_stats_get(fs, 1, &st), -ENOENT);

	fs_stats_reset(fs);
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_WRITE].count, 0);
	assert_int_equal(histogram_sum(&st.ops[FS_OP_WRITE]), 0);
	fs_deinit(&fs);
}

static void test_errors(void **state)
{
	struct fs_file *file;
	struct fs_stats st;
	struct fs_stat fst;
	char buf[16];
	struct fs *fs;

	assert_int_equal(fs_init_layer(&fail_driver, "", NULL, &fs), 0);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &fst), -EIO);
	/* a generic message when the driver set none */
	assert_string_equal(fs_file_last_error(file),
			    "stat k: Input/output error (fail)");
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 3);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EIO);
	assert_string_equal(fs_file_last_error(file), "read k: broken");
	/* the error sticks without another driver call or count */
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EIO);
	fs_file_deinit(&file);

	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_STAT].count, 1);
	assert_int_equal(st.ops[FS_OP_STAT].errors, 1);
	assert_int_equal(st.ops[FS_OP_READ].count, 1);
	assert_int_equal(st.ops[FS_OP_READ].errors, 1);
	assert_int_equal(st.ops[FS_OP_READ].bytes, 3);
	fs_stats_add_retry(fs, FS_OP_READ);
	fs_stats_add_retry(fs, FS_OP_READ);
	fs_stats_add_retry(fs, FS_OP_COUNT); /* ignored */
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_READ].retries, 2);
	fs_deinit(&fs);
}

static void test_abandoned_streams(void **state)
{
	struct fs_file *file;
	struct fs_stats st;
	char buf[2];
	struct fs *fs;

	assert_int_equal(fs_init("mem:", NULL, &fs, NULL), 0);
	write_key(fs, "k", "data");
	fs_stats_reset(fs);
	/* a read closed before the end counts when the file is freed */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 2);
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_READ].count, 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_READ].count, 1);
	assert_int_equal(st.ops[FS_OP_READ].bytes, 2);
	/* an aborted write counts once, not as an error */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, "xyz", 3), 3);
	fs_write_abort(file);
	fs_write_abort(file);
	fs_file_deinit(&file);
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_WRITE].count, 1);
	assert_int_equal(st.ops[FS_OP_WRITE].errors, 0);
	/* opening alone is no operation */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	assert_int_equal(st.ops[FS_OP_READ].count, 1);
	fs_deinit(&fs);
}

static void test_per_layer(void **state)
{
	struct fs *mem, *fs;
	struct fs_file *file;
	struct fs_stats st0, st1;
	void *data;
	size_t size;

	assert_int_equal(fs_init("mem:", NULL, &mem, NULL), 0);
	assert_int_equal(fs_init_layer(&pass_driver, "", mem, &fs), 0);
	write_key(fs, "k", "abcdef");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read_all(file, &data, &size), 0);
	free(data);
	fs_file_deinit(&file);
	assert_int_equal(fs_stats_get(fs, 0, &st0), 0);
	assert_int_equal(fs_stats_get(fs, 1, &st1), 0);
	assert_int_equal(fs_stats_get(fs, 2, &st1), -ENOENT);
	assert_int_equal(fs_stats_get(fs, 1, &st1), 0);
	assert_int_equal(st0.ops[FS_OP_WRITE].count, 1);
	assert_int_equal(st1.ops[FS_OP_WRITE].count, 1);
	assert_int_equal(st0.ops[FS_OP_READ].bytes, 6);
	assert_int_equal(st1.ops[FS_OP_READ].bytes, 6);
	/* reset clears every layer */
	fs_stats_reset(fs);
	assert_int_equal(fs_stats_get(fs, 1, &st1), 0);
	assert_int_equal(st1.ops[FS_OP_READ].count, 0);
	fs_deinit(&fs);
}

static void test_histogram(void **state)
{
	struct fs_op_stats st;

	assert_int_equal(fs_latency_bucket(0), 0);
	assert_int_equal(fs_latency_bucket(1), 1);
	assert_int_equal(fs_latency_bucket(2), 2);
	assert_int_equal(fs_latency_bucket(3), 2);
	assert_int_equal(fs_latency_bucket(4), 3);
	assert_int_equal(fs_latency_bucket(1023), 10);
	assert_int_equal(fs_latency_bucket(1024), 11);
	assert_int_equal(fs_latency_bucket(UINT64_MAX), FS_LATENCY_BUCKETS - 1);
	assert_int_equal(fs_latency_bucket((uint64_t)1 << 40),
			 FS_LATENCY_BUCKETS - 1);

	memset(&st, 0, sizeof(st));
	assert_int_equal(fs_op_stats_percentile(&st, 0.5), 0);
	st.latency[0] = 1;
	st.latency[3] = 2;
	st.latency[10] = 1;
	assert_int_equal(fs_op_stats_percentile(&st, 0), 1);
	assert_int_equal(fs_op_stats_percentile(&st, 0.25), 1);
	assert_int_equal(fs_op_stats_percentile(&st, 0.26), 8);
	assert_int_equal(fs_op_stats_percentile(&st, 0.5), 8);
	assert_int_equal(fs_op_stats_percentile(&st, 0.75), 8);
	assert_int_equal(fs_op_stats_percentile(&st, 0.99), 1024);
	assert_int_equal(fs_op_stats_percentile(&st, 1), 1024);
	assert_int_equal(fs_op_stats_percentile(&st, 7), 1024);
	st.latency[FS_LATENCY_BUCKETS - 1] = 100;
	assert_int_equal(fs_op_stats_percentile(&st, 0.99),
			 (uint64_t)1 << (FS_LATENCY_BUCKETS - 1));
}

static void test_names(void **state)
{
	static const char *const ops[FS_OP_COUNT] = {
		"read",	  "write", "stat",   "exists", "metadata",
		"delete", "copy",  "rename", "iter",   "revalidate",
	};
	unsigned int i;

	for (i = 0; i < FS_OP_COUNT; i++)
		assert_string_equal(fs_op_name((enum fs_op)i), ops[i]);
	assert_string_equal(fs_op_name(FS_OP_COUNT), "?");
	assert_string_equal(fs_op_name((enum fs_op) - 1), "?");
	assert_string_equal(fs_errno_name(ENOENT), "ENOENT");
	assert_string_equal(fs_errno_name(-ENOENT), "ENOENT");
	assert_string_equal(fs_errno_name(-EAGAIN), "EAGAIN");
	assert_string_equal(fs_errno_name(ENOTSUP), "ENOTSUP");
	assert_string_equal(fs_errno_name(-ETIMEDOUT), "ETIMEDOUT");
	assert_string_equal(fs_errno_name(EACCES), "EACCES");
	assert_string_equal(fs_errno_name(ENOSPC), "ENOSPC");
	assert_string_equal(fs_errno_name(EFBIG), "EFBIG");
	assert_string_equal(fs_errno_name(EIO), "EIO");
	assert_string_equal(fs_errno_name(EEXIST), "EEXIST");
	assert_string_equal(fs_errno_name(EINVAL), "EINVAL");
	assert_string_equal(fs_errno_name(0), "E?");
	assert_string_equal(fs_errno_name(99999), "E?");
}

static void test_clock(void **state)
{
	uint64_t t1 = fs_now_usec(), t2 = fs_now_usec();

	assert_true(t1 > 0);
	assert_true(t2 >= t1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_bytes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_abandoned_streams),
		cmocka_unit_test(test_per_layer),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
