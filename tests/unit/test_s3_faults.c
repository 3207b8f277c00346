/*
 * The S3 driver under every fault rule of the mock server: a mixed workload
 * of small and multipart puts, a CREATE, gets, stats, listings, copies and
 * deletes. Every operation either succeeds (the retries show in the
 * statistics) or fails with a clean errno and a message; every acknowledged
 * write reads back byte-identical once the faults are gone; every failed
 * write leaves no object and no multipart upload behind.
 */
/* tests/CMakeLists.txt builds this with the mock server and defines
   LIBFS_TEST_S3_MOCK; a plain unit-test build has no mock: say so. */
#ifndef LIBFS_TEST_S3_MOCK
#include <stdio.h>

int main(void)
{
	puts("SKIP: built without the mock server (LIBFS_TEST_S3_MOCK)");
	return 77;
}
#else
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "libfs/fs.h"
#include "unit/test_s3.h"

#define BUCKET "faults"
#define NPUTS 6

static struct fs_mock *mock;

struct put_case {
	const char *key;
	size_t size;
	unsigned int mode;
	bool acked, tried;
	unsigned char *data;
};

static int group_setup(void **state)
{
	mock = s3t_mock_start(BUCKET, 64 * 1024, NULL);
	return mock != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	fs_mock_stop(&mock);
	return 0;
}

static struct fs *open_fs(const char *prefix)
{
	struct fs_settings set;
	const char *error = NULL;
	struct fs *fs = NULL;
	char spec[512];

	fs_settings_init(&set);
	set.access_key = S3T_ACCESS_KEY;
	set.secret_key = S3T_SECRET_KEY;
	set.proxy = "";
	set.retry_base_ms = 5;
	set.retry_max_ms = 20;
	set.stall_timeout_ms = 1000;
	set.total_timeout_ms = 4000;
	snprintf(spec, sizeof(spec),
		 "s3://" BUCKET "/%s?endpoint=%s&multipart_threshold=64k&"
		 "part_size=64k&min_part_size=64k&parallel=3",
		 prefix, fs_mock_url(mock));
	if (fs_init(spec, &set, &fs, &error) < 0)
		fail_msg("fs_init: %s", error);
	return fs;
}

static unsigned char *gen(size_t size, unsigned int seed)
{
	unsigned char *data = malloc(size + 1);
	uint32_t x = seed * 2654435761u + 7;
	size_t i;

	for (i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	return data;
}

/* A failed operation must say why with a clean errno. */
static void check_clean(int ret, const char *what, const char *key,
			const char *msg)
{
	static const int clean[] = {-EIO,    -ETIMEDOUT, -ENOENT, -EEXIST,
				    -EACCES, -EFBIG,	 -ENOSPC};
	size_t i;

	if (ret >= 0)
		return;
	for (i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
		if (ret == clean[i])
			break;
	}
	if (i == sizeof(clean) / sizeof(clean[0]))
		fail_msg("%s %s: unexpected %s (%s)", what, key,
			 fs_errno_name(ret), msg);
	if (msg == NULL || msg[0] == '\0')
		fail_msg("%s %s: %s without a message", what, key,
			 fs_errno_name(ret));
	if (strstr(msg, S3T_SECRET_KEY "\"") != NULL)
		fail_msg("%s %s: message shows the secret", what, key);
}

static void do_put(struct fs *fs, struct put_case *p)
{
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(fs, p->key, p->mode, &file), 0);
	ret = fs_file_set_metadata(file, "case", p->key);
	assert_int_equal(ret, 0);
	ret = fs_write_all(file, p->data, p->size);
	check_clean(ret, "put", p->key, fs_file_last_error(file));
	p->acked = ret == 0;
	p->tried = true;
	fs_file_deinit(&file);
}

static void do_get(struct fs *fs, struct put_case *p)
{
	struct fs_file *file;
	struct fs_stat st;
	void *data = NULL;
	size_t size = 0;
	int ret;

	assert_int_equal(fs_file_init(fs, p->key, FS_OPEN_READ, &file), 0);
	ret = fs_read_all(file, &data, &size);
	check_clean(ret, "get", p->key, fs_file_last_error(file));
	if (ret == 0 && p->acked) {
		if (size != p->size || memcmp(data, p->data, size) != 0)
			fail_msg("get %s under faults: %zu bytes, wrong data",
				 p->key, size);
	}
	free(data);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, p->key, FS_OPEN_READ, &file), 0);
	ret = fs_file_stat(file, &st);
	check_clean(ret, "stat", p->key, fs_file_last_error(file));
	if (ret == 0 && p->acked)
		assert_int_equal(st.size, p->size);
	fs_file_deinit(&file);
}

static void do_list(struct fs *fs)
{
	struct fs_iter *iter;
	const char *key;
	int ret;

	assert_int_equal(fs_iter_init(fs, "", 0, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0)
		;
	check_clean(ret, "list", "", fs_iter_last_error(iter));
	fs_iter_deinit(&iter);
}

/* Copies p to dst; returns true if the copy was acknowledged. */
static bool do_copy(struct fs *fs, const struct put_case *p, const char *dst)
{
	struct fs_file *s, *d;
	int ret;

	assert_int_equal(fs_file_init(fs, p->key, FS_OPEN_READ, &s), 0);
	assert_int_equal(fs_file_init(fs, dst, FS_OPEN_REPLACE, &d), 0);
	ret = fs_copy(s, d);
	check_clean(ret, "copy", dst, fs_file_last_error(d));
	fs_file_deinit(&d);
	fs_file_deinit(&s);
	return ret == 0;
}

static int do_delete(struct fs *fs, const char *key)
{
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	ret = fs_file_delete(file);
	check_clean(ret, "delete", key, fs_file_last_error(file));
	fs_file_deinit(&file);
	return ret;
}

/* With the faults gone: acknowledged writes are intact, failed ones left
   nothing, no upload is left. */
static void verify_clean(struct fs *fs, struct put_case *puts, size_t n,
			 bool copied, const char *deleted, int uploads)
{
	struct fs_file *file;
	void *data;
	size_t i, size;
	int ret;

	fs_mock_faults_clear(mock);
	for (i = 0; i < n; i++) {
		if (!puts[i].tried || strcmp(puts[i].key, deleted) == 0)
			continue;
		assert_int_equal(
			fs_file_init(fs, puts[i].key, FS_OPEN_READ, &file), 0);
		data = NULL;
		ret = fs_read_all(file, &data, &size);
		if (puts[i].acked) {
			if (ret != 0)
				fail_msg("acknowledged %s: %s", puts[i].key,
					 fs_file_last_error(file));
			assert_int_equal(size, puts[i].size);
			assert_memory_equal(data, puts[i].data, size);
		} else if (ret != -ENOENT) {
			fail_msg("failed write %s left an object (%s)",
				 puts[i].key, fs_errno_name(ret));
		}
		free(data);
		fs_file_deinit(&file);
	}
	if (copied) {
		assert_int_equal(fs_file_init(fs, "copy", FS_OPEN_READ, &file),
				 0);
		assert_int_equal(fs_read_all(file, &data, &size), 0);
		assert_int_equal(size, puts[0].size);
		assert_memory_equal(data, puts[0].data, size);
		free(data);
		fs_file_deinit(&file);
	}
	assert_int_equal(fs_mock_backend_count(mock, "u/"), uploads);
}

static uint64_t total_retries(struct fs *fs)
{
	struct fs_stats st;
	uint64_t sum = 0;
	unsigned int op;

	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	for (op = 0; op < FS_OP_COUNT; op++)
		sum += st.ops[op].retries;
	return sum;
}

static void run_rule(const char *rule, const char *prefix, bool retries)
{
	struct put_case puts[NPUTS] = {
		{.key = "small/a", .size = 100, .mode = FS_OPEN_REPLACE},
		{.key = "small/b", .size = 20000, .mode = FS_OPEN_REPLACE},
		{.key = "small/empty", .size = 0, .mode = FS_OPEN_REPLACE},
		{.key = "create", .size = 3000, .mode = FS_OPEN_CREATE},
		{.key = "multi/a",
		 .size = 5 * 64 * 1024 + 17,
		 .mode = FS_OPEN_REPLACE},
		{.key = "multi/b",
		 .size = 3 * 64 * 1024,
		 .mode = FS_OPEN_CREATE},
	};
	struct fs *fs = open_fs(prefix);
	char *error = NULL;
	bool copied = false;
	const char *deleted = "";
	uint64_t faults;
	size_t i;
	int uploads = fs_mock_backend_count(mock, "u/");

	for (i = 0; i < NPUTS; i++)
		puts[i].data = gen(puts[i].size, (unsigned int)i + 1);
	fs_mock_faults_clear(mock);
	fs_mock_counters_reset(mock);
	if (fs_mock_fault_add(mock, rule, &error) <= 0)
		fail_msg("rule %s: %s", rule, error);
	for (i = 0; i < NPUTS; i++)
		do_put(fs, &puts[i]);
	for (i = 0; i < NPUTS; i++)
		do_get(fs, &puts[i]);
	do_list(fs);
	if (puts[0].acked)
		copied = do_copy(fs, &puts[0], "copy");
	if (puts[1].acked && do_delete(fs, puts[1].key) == 0)
		deleted = puts[1].key;
	faults = fs_mock_counter(mock, "faults");
	print_message("[  INFO    ] %s: %" PRIu64 " faults, %" PRIu64
		      " retries\n",
		      rule, faults, total_retries(fs));
	assert_true(faults > 0);
	if (retries)
		assert_true(total_retries(fs) > 0);
	verify_clean(fs, puts, NPUTS, copied, deleted, uploads);
	assert_true(fs_delete_prefix(fs, "") == -EINVAL);
	for (i = 0; i < NPUTS; i++)
		free(puts[i].data);
	fs_deinit(&fs);
}

static void test_slowdown(void **state)
{
	run_rule("nth=3,status=503,code=SlowDown", "slowdown", true);
}

static void test_internal_error(void **state)
{
	run_rule("nth=4,status=500,code=InternalError", "500", true);
}

/* Resets and truncations cut response bodies: on GETs they must be retried
   (resumed); on any request (where which one is the nth depends on how the
   parallel multipart parts interleave, and an empty-bodied reply has nothing
   to cut) every outcome must still be clean. */
static void test_reset(void **state)
{
	run_rule("method=GET,nth=3,action=reset,after=100", "reset", true);
}

static void test_reset_any(void **state)
{
	run_rule("nth=3,action=reset,after=100", "reset-any", false);
}

static void test_truncate(void **state)
{
	run_rule("method=GET,nth=3,action=truncate,after=100", "truncate",
		 true);
}

static void test_truncate_any(void **state)
{
	run_rule("nth=3,action=truncate,after=100", "truncate-any", false);
}

static void test_bad_length_short(void **state)
{
	run_rule("nth=3,action=badlength,delta=-1", "badlen-short", false);
}

static void test_bad_length_long(void **state)
{
	run_rule("nth=3,action=badlength,delta=5", "badlen-long", true);
}

static void test_latency(void **state)
{
	run_rule("nth=2,delay=30", "latency", false);
}

static void test_drip(void **state)
{
	run_rule("method=GET,action=drip,rate=500000", "drip", false);
}

static void test_429_retry_after(void **state)
{
	run_rule("nth=4,times=2,status=429,code=SlowDown,retry-after=1", "429",
		 true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slowdown),
		cmocka_unit_test(test_internal_error),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_reset_any),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_truncate_any),
		cmocka_unit_test(test_bad_length_short),
		cmocka_unit_test(test_bad_length_long),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_drip),
		cmocka_unit_test(test_429_retry_after),
	};

	return cmocka_run_group_tests_name("s3 faults", tests, group_setup,
					   group_teardown);
}

#endif
