/*
 * Conformance: small API contracts, statistics, and that nothing is left
 * behind on disk once every test cleaned up.
 */
#include "conformance.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void check_names(void)
{
	assert_string_equal(fs_version(), LIBFS_VERSION_STRING);
	assert_string_equal(fs_errno_name(-ENOENT), "ENOENT");
	assert_string_equal(fs_errno_name(ENOENT), "ENOENT");
	assert_string_equal(fs_errno_name(-EEXIST), "EEXIST");
	assert_string_equal(fs_errno_name(-ENOTSUP), "ENOTSUP");
	assert_string_equal(fs_errno_name(-99999), "E?");
	assert_string_equal(fs_op_name(FS_OP_READ), "read");
	assert_string_equal(fs_op_name(FS_OP_WRITE), "write");
	assert_string_equal(fs_op_name((enum fs_op)999), "?");
}

static void check_init_errors(void)
{
	struct fs *fs = (struct fs *)&fs;
	const char *error = NULL;

	int ret = fs_init("no-such-driver-xyz:", NULL, &fs, &error);

	if (ret != -EINVAL)
		CONF_FAIL("fs_init(\"no-such-driver-xyz:\") = %d %s, expected "
			  "-EINVAL",
			  ret, fs_errno_name(ret));
	assert_null(fs);
	assert_non_null(error);
	assert_true(error[0] != '\0');
	/* "Destructors accept NULL": a NULL handle. */
	fs_deinit(&fs);
}

static void check_handles(struct conf *c)
{
	const char *key = conf_key(c, "basics/k");
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ), *none = NULL;
	struct fs_iter *iter = NULL;
	unsigned char buf[4];

	assert_string_equal(fs_file_key(file), key);
	assert_ptr_equal(fs_file_fs(file), c->fs);
	assert_string_equal(fs_file_last_error(file), "");
	/* Writing a file open for reading fails and creates nothing. */
	if (fs_write(file, "x", 1) >= 0)
		CONF_FAIL("fs_write() on a file open for reading succeeded");
	conf_close(c, &file);
	file = conf_open(c, key, FS_OPEN_REPLACE);
	if (fs_read(file, buf, sizeof(buf)) >= 0)
		CONF_FAIL("fs_read() on a file open for writing succeeded");
	conf_close(c, &file);
	conf_expect_missing(c, key);

	fs_file_deinit(&none);
	assert_int_equal(fs_iter_deinit(&iter), 0);
}

void test_api_basics(void **state)
{
	struct conf *c = *state;
	struct fs_settings set;
	struct fs *fs2 = NULL;
	const char *error = NULL;
	unsigned int depth;

	check_names();
	assert_string_equal(fs_last_error(c->fs), "");
	assert_non_null(fs_driver_name(c->fs, 0));
	for (depth = 0; fs_driver_name(c->fs, depth) != NULL; depth++)
		assert_true(depth < 16);
	assert_null(fs_driver_name(c->fs, 1000));
	check_init_errors();
	check_handles(c);

	fs_settings_init(&set);
	assert_int_equal(set.version, FS_SETTINGS_VERSION);
	if (conf_settings() != NULL)
		set.ca_file = conf_settings()->ca_file;
	if (fs_init(conf_spec, &set, &fs2, &error) < 0)
		CONF_FAIL("fs_init() with default settings: %s", error);
	assert_int_equal(fs_get_caps(fs2), c->caps);
	fs_deinit(&fs2);
	assert_null(fs2);
}

/* ------------------------------------------------------------------------ */

static void stats_sequence(struct conf *c)
{
	const char *a = conf_strdup(c, conf_key(c, "st/a"));
	const char *b = conf_strdup(c, conf_key(c, "st/b"));
	const char *e = conf_strdup(c, conf_key(c, "st/e"));
	struct fs_file *file;
	struct fs_stat st;
	void *data = NULL;
	size_t size = 0;

	conf_gen(1, 0, c->wbuf, 200);
	conf_put(c, a, c->wbuf, 100);		 /* write 1: 100 B */
	file = conf_open(c, b, FS_OPEN_REPLACE); /* write 2: 200 B */
	CHECK_FILE(fs_write(file, c->wbuf, 50), 50, file);
	CHECK_FILE(fs_write(file, c->wbuf + 50, 50), 50, file);
	CHECK_FILE(fs_write(file, c->wbuf + 100, 100), 100, file);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);
	conf_put(c, e, "", 0);			/* write 3: 0 B */
	file = conf_open(c, a, FS_OPEN_CREATE); /* write 4: EEXIST */
	CHECK_FILE(fs_write_all(file, "", 0), -EEXIST, file);
	conf_close(c, &file);

	file = conf_open(c, a, FS_OPEN_READ); /* read 1: 100 B */
	assert_int_equal(conf_read_gen(c, file, 1, 0, NULL, 0), 100);
	conf_close(c, &file);
	file = conf_open(c, b, FS_OPEN_READ); /* read 2: 200 B */
	CHECK_FILE(fs_read_all(file, &data, &size), 0, file);
	free(data);
	assert_int_equal(size, 200);
	CHECK_FILE(fs_file_stat(file, &st), 0, file); /* stat 1 */
	CHECK_FILE(fs_file_exists(file), 1, file);    /* exists 1 */
	conf_close(c, &file);
	file = conf_open(c, e, FS_OPEN_READ);
	CHECK_FILE(fs_file_delete(file), 0, file);	    /* delete 1 */
	CHECK_FILE(fs_file_stat(file, &st), -ENOENT, file); /* stat 2 */
	conf_close(c, &file);
}

static void expect_op(const struct fs_stats *st, enum fs_op op, uint64_t count,
		      uint64_t bytes, bool check_bytes)
{
	const struct fs_op_stats *os = &st->ops[op];
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < FS_LATENCY_BUCKETS; i++)
		sum += os->latency[i];
	if (os->count != count || os->errors != 0 ||
	    (check_bytes && os->bytes != bytes) || sum != os->count)
		CONF_FAIL("stats of %s: count %llu errors %llu bytes %llu "
			  "histogram %llu; expected count %llu errors 0 "
			  "bytes %llu",
			  fs_op_name(op), (unsigned long long)os->count,
			  (unsigned long long)os->errors,
			  (unsigned long long)os->bytes,
			  (unsigned long long)sum, (unsigned long long)count,
			  (unsigned long long)bytes);
	if (count > 0 && fs_op_stats_percentile(os, 1.0) == 0)
		CONF_FAIL("stats of %s: percentile 1.0 is 0", fs_op_name(op));
	if (fs_op_stats_percentile(os, 0.5) > fs_op_stats_percentile(os, 1.0))
		CONF_FAIL("stats of %s: percentile 0.5 above 1.0",
			  fs_op_name(op));
}

void test_stats(void **state)
{
	struct conf *c = *state;
	struct fs_stats st;

	fs_stats_reset(c->fs);
	CHECK_FS(fs_stats_get(c->fs, 0, &st), 0, c, NULL);
	expect_op(&st, FS_OP_WRITE, 0, 0, true);
	stats_sequence(c);
	CHECK_FS(fs_stats_get(c->fs, 0, &st), 0, c, NULL);
	expect_op(&st, FS_OP_WRITE, 4, 300, true);
	expect_op(&st, FS_OP_READ, 2, 300, true);
	expect_op(&st, FS_OP_STAT, 2, 0, false);
	expect_op(&st, FS_OP_EXISTS, 1, 0, false);
	expect_op(&st, FS_OP_DELETE, 1, 0, false);
	expect_op(&st, FS_OP_METADATA, 0, 0, true);
	expect_op(&st, FS_OP_COPY, 0, 0, true);
	expect_op(&st, FS_OP_RENAME, 0, 0, true);
	expect_op(&st, FS_OP_ITER, 0, 0, true);
	CHECK_FS(fs_stats_get(c->fs, 1000, &st), -ENOENT, c, NULL);

	fs_stats_reset(c->fs);
	CHECK_FS(fs_stats_get(c->fs, 0, &st), 0, c, NULL);
	expect_op(&st, FS_OP_WRITE, 0, 0, true);
	expect_op(&st, FS_OP_READ, 0, 0, true);
}

/* ------------------------------------------------------------------------ */

static unsigned int leftover_count;

static int leftover_visit(const char *path, const struct stat *st, int type,
			  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_D || type == FTW_DP)
		return 0;
	if (leftover_count++ < 20)
		print_error("left behind: %s\n", path);
	return 0;
}

/* Runs last, without a fixture: once every test cleaned up, a stack kept
   under @TMPDIR@ has no file left (no temporary, no half object). */
void test_no_leftovers(void **state)
{
	(void)state;
	if (conf_tmpdir == NULL) {
		print_message("[  SKIP    ] the spec has no @TMPDIR@\n");
		skip();
	}
	leftover_count = 0;
	assert_int_equal(nftw(conf_tmpdir, leftover_visit, 16, FTW_PHYS), 0);
	if (leftover_count > 0)
		CONF_FAIL("%u files left under %s after all tests cleaned up",
			  leftover_count, conf_tmpdir);
}

/* fs_file_revalidate(): what a cache asks before serving its copy. */
void test_revalidate(void **state)
{
	struct conf *c = *state;
	const char *key = conf_key(c, "index");
	struct fs_file *file;
	struct fs_stat st;
	char etag[FS_ETAG_MAX];
	void *data;
	size_t size;
	bool etags = (c->caps & FS_CAP_STAT_ETAG) != 0;

	conf_put_str(c, key, "version one");
	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_file_stat(file, &st), 0, file);
	conf_close(c, &file);
	snprintf(etag, sizeof(etag), "%s", st.etag);

	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_file_revalidate(file, etag), etags ? 1 : 0, file);
	conf_close(c, &file);

	conf_put_str(c, key, "version two, longer");
	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_file_revalidate(file, etag), 0, file);
	/* after "changed", the same handle reads the new object */
	CHECK_FILE(fs_read_all(file, &data, &size), 0, file);
	assert_int_equal(size, strlen("version two, longer"));
	assert_memory_equal(data, "version two, longer", size);
	free(data);
	/* only before reading */
	CHECK_FILE(fs_file_revalidate(file, etag), -EINVAL, file);
	conf_close(c, &file);

	conf_delete(c, key);
	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_file_revalidate(file, etag), -ENOENT, file);
	conf_close(c, &file);
}
