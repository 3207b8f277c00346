/*
 * The faults layer: spec parsing, determinism, failures before and after the
 * operation below (checked by opening the same named mem store directly),
 * failures in the middle of read and write streams and listings, nth,
 * transient and persistent modes, errno=, asynchronous files and statistics.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../drivers/mem/mem.h"
#include "libfs/fs.h"

#define MIB (1024 * 1024)

static struct fs *open_fs(const char *spec)
{
	const char *error;
	struct fs *fs;
	int ret = fs_init(spec, NULL, &fs, &error);

	if (ret != 0)
		fail_msg("fs_init(%s): %d %s", spec, ret, error);
	return fs;
}

static int put(struct fs *fs, const char *key, const void *data, size_t size,
	       unsigned int mode)
{
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(fs, key, mode, &file), 0);
	ret = fs_write_all(file, data, size);
	fs_file_deinit(&file);
	return ret;
}

static void put_ok(struct fs *fs, const char *key, const char *data)
{
	assert_int_equal(put(fs, key, data, strlen(data), FS_OPEN_REPLACE), 0);
}

/* Returns the object's bytes (NUL-terminated) or NULL if it is missing. */
static char *get(struct fs *fs, const char *key, size_t *size_r)
{
	struct fs_file *file;
	size_t size;
	void *data;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	ret = fs_read_all(file, &data, &size);
	fs_file_deinit(&file);
	if (ret == -ENOENT)
		return NULL;
	assert_int_equal(ret, 0);
	if (size_r != NULL)
		*size_r = size;
	return data;
}

static void assert_content(struct fs *fs, const char *key, const char *data)
{
	char *got = get(fs, key, NULL);

	if (data == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, data);
	free(got);
}

static int stat_key(struct fs *fs, const char *key, char *msg, size_t size)
{
	struct fs_file *file;
	struct fs_stat st;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	ret = fs_file_stat(file, &st);
	if (msg != NULL)
		snprintf(msg, size, "%s", fs_file_last_error(file));
	fs_file_deinit(&file);
	return ret;
}

static uint64_t injected(struct fs *fs, unsigned int depth)
{
	struct fs_stats st;

	assert_int_equal(fs_stats_get(fs, depth, &st), 0);
	return st.faults_injected;
}

static struct fs_mem_counters counters(struct fs *fs)
{
	struct fs_mem_counters c;

	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	return c;
}

/* A deterministic pattern of size bytes. */
static unsigned char *pattern(size_t size)
{
	unsigned char *buf = malloc(size);
	size_t i;

	assert_non_null(buf);
	for (i = 0; i < size; i++)
		buf[i] = (unsigned char)(i * 7 + i / 251);
	return buf;
}

/* ------------------------------------------------------------------------ */

static void test_spec_good(void **state)
{
	static const char *const children[] = {
		"mem:", "mem:no-range,no-metadata", "mem:async"};
	static const char *const options[] = {
		"",
		"all=0%",
		"seed=18446744073709551615,all=10%,read=0.5%,write=1%,stat=0,"
		"exists=1,metadata=100%,delete=2%,copy=3%,rename=4%,iter=5%,"
		"revalidate=0.25",
		"nth=3,mode=persistent,when=after,errno=ENOSPC",
		"mode=transient,when=before,errno=ETIMEDOUT",
		"when=mid,errno=EIO",
		"when=both,errno=EACCES",
	};
	char spec[512];
	struct fs *fs, *child;
	size_t i, j;

	for (i = 0; i < sizeof(children) / sizeof(children[0]); i++) {
		child = open_fs(children[i]);
		for (j = 0; j < sizeof(options) / sizeof(options[0]); j++) {
			snprintf(spec, sizeof(spec), "faults:%s::%s",
				 options[j], children[i]);
			fs = open_fs(spec);
			assert_string_equal(fs_driver_name(fs, 0), "faults");
			assert_string_equal(fs_driver_name(fs, 1), "mem");
			assert_null(fs_driver_name(fs, 2));
			/* the layer changes no capability */
			assert_int_equal(fs_get_caps(fs), fs_get_caps(child));
			fs_deinit(&fs);
		}
		fs_deinit(&child);
	}

	/* injecting nothing is transparent */
	fs = open_fs("faults:all=0%::mem:");
	put_ok(fs, "k", "data");
	assert_content(fs, "k", "data");
	assert_int_equal(stat_key(fs, "k", NULL, 0), 0);
	assert_int_equal(injected(fs, 0), 0);
	fs_deinit(&fs);
}

static void test_spec_bad(void **state)
{
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{"faults:bogus=1::mem:", "unknown option 'bogus'"},
		{"faults:all=200%::mem:", "invalid all='200%'"},
		{"faults:all=-1%::mem:", "invalid all='-1%'"},
		{"faults:read=x::mem:", "invalid read='x'"},
		{"faults:write::mem:", "invalid write=''"},
		{"faults:stat=10%%::mem:", "invalid stat='10%%'"},
		{"faults:nth=0::mem:", "invalid nth='0'"},
		{"faults:nth=-1::mem:", "invalid nth='-1'"},
		{"faults:nth=1k::mem:", "invalid nth='1k'"},
		{"faults:seed=1x::mem:", "invalid seed='1x'"},
		{"faults:seed=99999999999999999999::mem:", "invalid seed="},
		{"faults:mode=sometimes::mem:", "invalid mode='sometimes'"},
		{"faults:when=never::mem:", "invalid when='never'"},
		{"faults:errno=ENOENT::mem:", "invalid errno='ENOENT'"},
		{"faults:errno=EAGAIN::mem:", "invalid errno='EAGAIN'"},
		{"faults:errno=eio::mem:", "invalid errno='eio'"},
		{"faults:,all=1%::mem:", "malformed options"},
		{"faults:all=1%", "needs a storage below it"},
		{"faults:all=1%::", "needs a storage below it"},
		{"faults:all=1%::nosuch:", "unknown storage driver"},
	};
	const char *error;
	struct fs *fs;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fs_init(bad[i].spec, NULL, &fs, &error),
				 -EINVAL);
		assert_null(fs);
		if (strstr(error, bad[i].msg) == NULL)
			fail_msg("%s: message '%s' lacks '%s'", bad[i].spec,
				 error, bad[i].msg);
	}
	/* the message names the layer's spec part */
	assert_int_equal(fs_init("faults:bogus=1::mem:", NULL, &fs, &error),
			 -EINVAL);
	assert_true(strncmp(error, "faults:bogus=1: ", 16) == 0);
}

static int read_key(struct fs *fs, const char *key)
{
	struct fs_file *file;
	size_t size;
	void *data;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	ret = fs_read_all(file, &data, &size);
	fs_file_deinit(&file);
	if (ret == 0)
		free(data);
	return ret;
}

/* One fixed sequence of calls of every kind; each result becomes one
   character of pattern_r: '.' success, 'E' an injected EIO, 'n' -ENOENT,
   'x' anything else. The sequence does not depend on the results. */
static void scripted_run(const char *spec, char *pattern_r, size_t size)
{
	struct fs *fs = open_fs(spec);
	struct fs_file *file, *dst;
	const struct fs_metadata *md;
	struct fs_iter *iter;
	struct fs_stat st;
	const char *key;
	char k1[16], k2[16];
	size_t n = 0;
	int i, ret;

#define RECORD(r)                                                              \
	do {                                                                   \
		int r_ = (r);                                                  \
		assert_true(n + 1 < size);                                     \
		pattern_r[n++] = r_ >= 0	 ? '.'                         \
				 : r_ == -EIO	 ? 'E'                         \
				 : r_ == -ENOENT ? 'n'                         \
						 : 'x';                        \
	} while (0)

	for (i = 0; i < 12; i++) {
		snprintf(k1, sizeof(k1), "k%d", i);
		snprintf(k2, sizeof(k2), "c%d", i);
		RECORD(put(fs, k1, "some data", 9, FS_OPEN_REPLACE));
		assert_int_equal(fs_file_init(fs, k1, FS_OPEN_READ, &file), 0);
		RECORD(fs_file_stat(file, &st));
		RECORD(fs_file_exists(file));
		RECORD(fs_file_get_metadata_all(file, &md));
		assert_int_equal(fs_file_init(fs, k2, FS_OPEN_REPLACE, &dst),
				 0);
		RECORD(i % 2 == 0 ? fs_copy(file, dst) : fs_rename(file, dst));
		fs_file_deinit(&dst);
		fs_file_deinit(&file);
		RECORD(read_key(fs, k2));
		assert_int_equal(fs_iter_init(fs, "", 0, &iter), 0);
		while ((ret = fs_iter_next(iter, &key)) > 0)
			;
		RECORD(ret);
		fs_iter_deinit(&iter);
		assert_int_equal(fs_file_init(fs, k2, FS_OPEN_READ, &file), 0);
		RECORD(fs_file_delete(file));
		fs_file_deinit(&file);
	}
#undef RECORD
	pattern_r[n] = '\0';
	fs_deinit(&fs);
}

static void test_determinism(void **state)
{
	char a[128], b[128], c[128];

	scripted_run("faults:seed=1,all=30%::mem:", a, sizeof(a));
	scripted_run("faults:seed=1,all=30%::mem:", b, sizeof(b));
	assert_string_equal(a, b);
	assert_non_null(strchr(a, 'E'));
	assert_non_null(strchr(a, '.'));
	/* the order of the options does not matter */
	scripted_run("faults:all=30%,seed=1::mem:", b, sizeof(b));
	assert_string_equal(a, b);
	/* over an asynchronous child too: repeated calls draw nothing */
	scripted_run("faults:seed=1,all=30%::mem:async", b, sizeof(b));
	assert_string_equal(a, b);
	scripted_run("faults:seed=2,all=30%::mem:", c, sizeof(c));
	assert_string_not_equal(a, c);
	scripted_run("faults:seed=3,all=30%::mem:", c, sizeof(c));
	assert_string_not_equal(a, c);
	/* nothing injected: all pass */
	scripted_run("faults:seed=1::mem:", c, sizeof(c));
	assert_int_equal(strspn(c, "."), strlen(a));
}

/* ------------------------------------------------------------------------ */
/* Before and after, seen in the child                                        */

static void test_write_before_after(void **state)
{
	struct fs *child = open_fs("mem:name=faults-ba-write");
	struct fs *fs;
	struct fs_file *file;
	const char *value;

	fs = open_fs("faults:write=100%,when=before::mem:name=faults-ba-write");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write_all(file, "hello", 5), -EIO);
	assert_string_equal(fs_file_last_error(file),
			    "faults: injected EIO before write of k");
	fs_file_deinit(&file);
	/* an empty write fails at its finish */
	assert_int_equal(fs_file_init(fs, "e", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write_finish(file), -EIO);
	assert_string_equal(fs_file_last_error(file),
			    "faults: injected EIO before write finish of e");
	fs_file_deinit(&file);
	assert_content(child, "k", NULL);
	assert_content(child, "e", NULL);
	/* the child below the layer saw no write */
	assert_int_equal(counters(fs).write, 0);
	assert_int_equal(counters(fs).write_finish, 0);
	assert_int_equal(injected(fs, 0), 2);
	fs_deinit(&fs);

	fs = open_fs("faults:write=100%,when=after::mem:name=faults-ba-write");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "m", "v"), 0);
	assert_int_equal(fs_write_all(file, "hello", 5), -EIO);
	assert_string_equal(fs_file_last_error(file),
			    "faults: injected EIO after write finish of k "
			    "(below: success)");
	fs_file_deinit(&file);
	fs_deinit(&fs);
	/* it happened: published, with its metadata */
	assert_content(child, "k", "hello");
	assert_int_equal(fs_file_init(child, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata(file, "m", &value), 1);
	assert_string_equal(value, "v");
	fs_file_deinit(&file);
	fs_deinit(&child);
}

static void test_delete_before_after(void **state)
{
	struct fs *child = open_fs("mem:name=faults-ba-delete");
	struct fs_file *file;
	struct fs *fs;

	put_ok(child, "k", "data");
	fs = open_fs("faults:delete=100%,when=before::"
		     "mem:name=faults-ba-delete");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file), -EIO);
	assert_string_equal(fs_file_last_error(file),
			    "faults: injected EIO before delete of k");
	fs_file_deinit(&file);
	fs_deinit(&fs);
	assert_content(child, "k", "data");

	fs = open_fs("faults:delete=100%,when=after,errno=ETIMEDOUT::"
		     "mem:name=faults-ba-delete");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file), -ETIMEDOUT);
	assert_string_equal(fs_file_last_error(file),
			    "faults: injected ETIMEDOUT after delete of k "
			    "(below: success)");
	/* the failure replaces the child's answer too */
	assert_int_equal(fs_file_delete(file), -ETIMEDOUT);
	assert_string_equal(fs_file_last_error(file),
			    "faults: injected ETIMEDOUT after delete of k "
			    "(below: ENOENT)");
	fs_file_deinit(&file);
	fs_deinit(&fs);
	assert_content(child, "k", NULL);
	fs_deinit(&child);
}

static int copy_or_rename(struct fs *fs, bool rename, char *msg, size_t size)
{
	struct fs_file *src, *dst;
	int ret;

	assert_int_equal(fs_file_init(fs, "src", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_REPLACE, &dst), 0);
	ret = rename ? fs_rename(src, dst) : fs_copy(src, dst);
	snprintf(msg, size, "%s", fs_file_last_error(dst));
	fs_file_deinit(&dst);
	fs_file_deinit(&src);
	return ret;
}

static void test_copy_rename_before_after(void **state)
{
	struct fs *child = open_fs("mem:name=faults-ba-copy");
	struct fs *before = open_fs("faults:copy=100%,rename=100%,when=before::"
				    "mem:name=faults-ba-copy");
	struct fs *after = open_fs("faults:copy=100%,rename=100%,when=after::"
				   "mem:name=faults-ba-copy");
	char msg[256];

	put_ok(child, "src", "payload");
	assert_int_equal(copy_or_rename(before, false, msg, sizeof(msg)), -EIO);
	assert_string_equal(msg,
			    "faults: injected EIO before copy of src to dst");
	assert_content(child, "dst", NULL);
	assert_int_equal(copy_or_rename(before, true, msg, sizeof(msg)), -EIO);
	assert_string_equal(msg,
			    "faults: injected EIO before rename of src to dst");
	assert_content(child, "src", "payload");
	assert_content(child, "dst", NULL);

	assert_int_equal(copy_or_rename(after, false, msg, sizeof(msg)), -EIO);
	assert_string_equal(msg, "faults: injected EIO after copy of src to "
				 "dst (below: success)");
	assert_content(child, "src", "payload");
	assert_content(child, "dst", "payload");
	put_ok(child, "src", "second");
	assert_int_equal(copy_or_rename(after, true, msg, sizeof(msg)), -EIO);
	assert_string_equal(msg, "faults: injected EIO after rename of src "
				 "to dst (below: success)");
	assert_content(child, "src", NULL);
	assert_content(child, "dst", "second");
	assert_int_equal(injected(before, 0), 2);
	assert_int_equal(injected(after, 0), 2);
	fs_deinit(&before);
	fs_deinit(&after);
	fs_deinit(&child);
}

/* Read-only operations: "after" means the child did the work. */
static void test_lookups_before_after(void **state)
{
	struct fs *child = open_fs("mem:name=faults-ba-lookup");
	struct fs *fs;
	struct fs_file *file;
	const char *value;
	struct fs_stat st;
	char msg[256];

	put_ok(child, "k", "data");
	fs = open_fs("faults:all=100%,when=before::mem:name=faults-ba-lookup");
	assert_int_equal(stat_key(fs, "k", msg, sizeof(msg)), -EIO);
	assert_string_equal(msg, "faults: injected EIO before stat of k");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_exists(file), -EIO);
	assert_int_equal(fs_file_get_metadata(file, "m", &value), -EIO);
	assert_string_equal(fs_file_last_error(file),
			    "faults: injected EIO before metadata of k");
	assert_int_equal(fs_file_revalidate(file, "etag"), -EIO);
	fs_file_deinit(&file);
	/* the mem counters of the stack's own child */
	assert_int_equal(counters(fs).stat, 0);
	assert_int_equal(counters(fs).exists, 0);
	assert_int_equal(counters(fs).get_metadata, 0);
	assert_int_equal(injected(fs, 0), 4);
	fs_deinit(&fs);

	fs = open_fs("faults:all=100%,when=after::mem:name=faults-ba-lookup");
	assert_int_equal(stat_key(fs, "k", msg, sizeof(msg)), -EIO);
	assert_string_equal(msg, "faults: injected EIO after stat of k (below: "
				 "success)");
	assert_int_equal(stat_key(fs, "nope", msg, sizeof(msg)), -EIO);
	assert_string_equal(msg, "faults: injected EIO after stat of nope "
				 "(below: ENOENT)");
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_exists(file), -EIO);
	assert_int_equal(fs_file_get_metadata(file, "m", &value), -EIO);
	assert_null(value);
	assert_int_equal(fs_file_revalidate(file, "etag"), -EIO);
	assert_int_equal(fs_file_stat(file, &st), -EIO);
	fs_file_deinit(&file);
	assert_int_equal(counters(fs).stat, 4); /* revalidate: a stat */
	assert_int_equal(counters(fs).exists, 1);
	assert_int_equal(counters(fs).get_metadata, 1);
	fs_deinit(&fs);
	fs_deinit(&child);
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                    */

/* Reads key through fs in 64 KiB reads; returns the last result, the bytes
   read (checked against expect) in *got_r. */
static ssize_t read_stream(struct fs *fs, const char *key,
			   const unsigned char *expect, size_t *got_r,
			   char *msg, size_t msg_size)
{
	unsigned char *buf = malloc(64 * 1024);
	struct fs_file *file;
	size_t got = 0;
	ssize_t ret;

	assert_non_null(buf);
	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	while ((ret = fs_read(file, buf, 64 * 1024)) > 0) {
		assert_memory_equal(buf, expect + got, (size_t)ret);
		got += (size_t)ret;
	}
	snprintf(msg, msg_size, "%s", fs_file_last_error(file));
	/* the failure sticks */
	if (ret < 0)
		assert_int_equal(fs_read(file, buf, 1), ret);
	fs_file_deinit(&file);
	free(buf);
	*got_r = got;
	return ret;
}

static void test_read_mid_stream(void **state)
{
	const size_t size = 3 * MIB;
	unsigned char *data = pattern(size);
	struct fs *child = open_fs("mem:name=faults-read");
	char spec[128], msg[256], expect[256];
	size_t got, first = 0;
	bool differ = false;
	struct fs *fs;
	int seed;

	assert_int_equal(put(child, "big", data, size, FS_OPEN_CREATE), 0);
	for (seed = 1; seed <= 8; seed++) {
		snprintf(spec, sizeof(spec),
			 "faults:seed=%d,read=100%%,when=mid::"
			 "mem:name=faults-read",
			 seed);
		fs = open_fs(spec);
		assert_int_equal(
			read_stream(fs, "big", data, &got, msg, sizeof(msg)),
			-EIO);
		/* between 1 byte and 1 MiB, then the failure */
		assert_true(got >= 1 && got <= MIB);
		snprintf(expect, sizeof(expect),
			 "faults: injected EIO in read of big after %zu bytes",
			 got);
		assert_string_equal(msg, expect);
		assert_int_equal(injected(fs, 0), 1);
		fs_deinit(&fs);
		if (seed == 1)
			first = got;
		differ = differ || got != first;
	}
	assert_true(differ);

	/* after: the whole object, then the failure instead of the end */
	fs = open_fs("faults:read=100%,when=after::mem:name=faults-read");
	assert_int_equal(read_stream(fs, "big", data, &got, msg, sizeof(msg)),
			 -EIO);
	assert_int_equal(got, size);
	assert_string_equal(msg, "faults: injected EIO at the end of read of "
				 "big (after 3145728 bytes)");
	fs_deinit(&fs);

	/* before: not a byte, and the child was not asked */
	fs = open_fs("faults:read=100%,when=before::mem:name=faults-read");
	assert_int_equal(read_stream(fs, "big", data, &got, msg, sizeof(msg)),
			 -EIO);
	assert_int_equal(got, 0);
	assert_string_equal(msg, "faults: injected EIO before read of big");
	assert_int_equal(counters(fs).read, 0);
	fs_deinit(&fs);
	fs_deinit(&child);
	free(data);
}

static int count_file(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	return type == FTW_F ? 1 : 0;
}

/* Checks that a failed write left nothing below: no file in dir (posix), or
   an abort counted by mem. */
static void assert_aborted_below(struct fs *fs, const char *dir)
{
	if (dir != NULL) {
		assert_int_equal(nftw(dir, count_file, 8, FTW_PHYS), 0);
		return;
	}
	assert_int_equal(counters(fs).write_abort, 1);
	assert_int_equal(counters(fs).write_finish, 0);
}

/* Writes size bytes of data in 64 KiB chunks; returns the first failure of
   fs_write() or fs_write_finish(), with its message in msg. A failed write
   must have been cleaned up below at once, before the handle is freed. */
static int write_stream(struct fs *fs, const char *key,
			const unsigned char *data, size_t size, char *msg,
			size_t msg_size, const char *dir)
{
	struct fs_file *file;
	size_t done = 0, chunk;
	ssize_t ret = 0;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_CREATE, &file), 0);
	while (done < size) {
		chunk = size - done < 65536 ? size - done : 65536;
		ret = fs_write(file, data + done, chunk);
		if (ret < 0)
			break;
		assert_int_equal(ret, chunk);
		done += chunk;
	}
	if (ret >= 0)
		ret = fs_write_finish(file);
	snprintf(msg, msg_size, "%s", fs_file_last_error(file));
	/* a failed write stays failed */
	if (ret < 0) {
		assert_int_equal(fs_write_finish(file), ret);
		assert_aborted_below(fs, dir);
	}
	fs_file_deinit(&file);
	return (int)ret;
}

static void check_write_mid_stream(const char *child_spec, const char *dir)
{
	const size_t size = 3 * MIB;
	unsigned char *data = pattern(size);
	char spec[512], msg[256];
	unsigned long long after;
	struct fs *fs;
	int seed;

	for (seed = 1; seed <= 6; seed++) {
		snprintf(spec, sizeof(spec),
			 "faults:seed=%d,write=100%%,when=mid::%s", seed,
			 child_spec);
		fs = open_fs(spec);
		assert_int_equal(write_stream(fs, "big", data, size, msg,
					      sizeof(msg), dir),
				 -EIO);
		if (sscanf(msg,
			   "faults: injected EIO in write of big after %llu",
			   &after) != 1)
			fail_msg("unexpected message '%s'", msg);
		assert_true(after >= 1 && after <= MIB);
		/* aborted below: no object, no temporary file */
		assert_content(fs, "big", NULL);
		assert_aborted_below(fs, dir);
		/* the child had started the write */
		if (dir == NULL)
			assert_true(counters(fs).write > 0);
		assert_int_equal(injected(fs, 0), 1);
		fs_deinit(&fs);
	}
	/* a small object ends before the offset: failing at its finish */
	snprintf(spec, sizeof(spec), "faults:seed=1,write=100%%,when=mid::%s",
		 child_spec);
	fs = open_fs(spec);
	assert_int_equal(
		write_stream(fs, "small", data, 1, msg, sizeof(msg), dir),
		-EIO);
	assert_string_equal(msg, "faults: injected EIO before write finish of "
				 "small (after 1 bytes)");
	assert_content(fs, "small", NULL);
	fs_deinit(&fs);
	free(data);
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	return remove(path);
}

static void test_write_mid_stream(void **state)
{
	char dir[] = "/tmp/libfs-test-faults-XXXXXX", spec[128];

	check_write_mid_stream("mem:", NULL);

	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "posix:%s", dir);
	check_write_mid_stream(spec, dir);
	assert_int_equal(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* ------------------------------------------------------------------------ */
/* Listings                                                                   */

/* Lists everything; returns the result of the last fs_iter_next(). */
static int list_all(struct fs *fs, unsigned int *keys_r, char *msg, size_t size)
{
	struct fs_iter *iter;
	const char *key;
	int ret;

	*keys_r = 0;
	assert_int_equal(fs_iter_init(fs, "", 0, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0)
		(*keys_r)++;
	snprintf(msg, size, "%s", fs_iter_last_error(iter));
	assert_int_equal(fs_iter_deinit(&iter), ret);
	return ret;
}

static void test_iter(void **state)
{
	struct fs *child = open_fs("mem:name=faults-iter");
	char spec[128], msg[256], key[16];
	unsigned int keys, mid = 0;
	struct fs *fs;
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		put_ok(child, key, "x");
	}
	fs = open_fs("faults:iter=100%,when=before::mem:name=faults-iter");
	assert_int_equal(list_all(fs, &keys, msg, sizeof(msg)), -EIO);
	assert_int_equal(keys, 0);
	assert_string_equal(msg, "faults: injected EIO before listing ''");
	fs_deinit(&fs);

	fs = open_fs("faults:iter=100%,when=after::mem:name=faults-iter");
	assert_int_equal(list_all(fs, &keys, msg, sizeof(msg)), -EIO);
	assert_int_equal(keys, 40);
	assert_string_equal(msg, "faults: injected EIO at the end of listing "
				 "'' after 40 keys (below: end of data)");
	fs_deinit(&fs);

	for (i = 1; i <= 10; i++) {
		snprintf(spec, sizeof(spec),
			 "faults:seed=%d,iter=100%%,when=mid::"
			 "mem:name=faults-iter",
			 i);
		fs = open_fs(spec);
		assert_int_equal(list_all(fs, &keys, msg, sizeof(msg)), -EIO);
		assert_true(keys >= 1 && keys <= 40);
		if (keys < 40) {
			mid++;
			assert_non_null(strstr(msg, "in listing '' after"));
		}
		fs_deinit(&fs);
	}
	assert_true(mid > 0);

	/* fs_delete_prefix() lists through the layer */
	fs = open_fs("faults:iter=100%,when=before::mem:name=faults-iter");
	assert_int_equal(fs_delete_prefix(fs, "k"), -EIO);
	assert_non_null(strstr(fs_last_error(fs), "injected EIO"));
	assert_int_equal(counters(child).objects, 40);
	fs_deinit(&fs);
	fs = open_fs("faults:delete=100%,when=after::mem:name=faults-iter");
	assert_int_equal(fs_delete_prefix(fs, "k"), -EIO);
	/* the first delete happened, and stopped the rest */
	assert_int_equal(counters(child).objects, 39);
	fs_deinit(&fs);
	assert_int_equal(fs_delete_prefix(child, "k"), 39);
	fs_deinit(&child);
}

/* ------------------------------------------------------------------------ */
/* nth, modes, errno, statistics                                              */

/* Runs count stats of an existing key; returns the pattern of results. */
static void stat_pattern(struct fs *fs, int count, char *out)
{
	int i, ret;

	for (i = 0; i < count; i++) {
		ret = stat_key(fs, "k", NULL, 0);
		out[i] = ret == 0 ? '.' : ret == -EIO ? 'E' : 'x';
	}
	out[count] = '\0';
}

static void check_pattern(const char *spec, const char *expect)
{
	struct fs *fs = open_fs(spec);
	char got[64];

	put_ok(fs, "k", "x");
	stat_pattern(fs, (int)strlen(expect), got);
	if (strcmp(got, expect) != 0)
		fail_msg("%s: %s, expected %s", spec, got, expect);
	fs_deinit(&fs);
}

static void test_nth_and_modes(void **state)
{
	char a[64], b[64];
	struct fs *fs;
	int i;

	/* the put is the first eligible call when all are eligible */
	check_pattern("faults:nth=4::mem:", "..E...");
	check_pattern("faults:nth=4,mode=persistent::mem:", "..EEEE");
	/* only stats eligible */
	check_pattern("faults:nth=3,stat=100%::mem:", "..E...");
	check_pattern("faults:nth=1,stat=1%,mode=persistent::mem:", "EEEE");
	/* stats not eligible: nothing fails */
	check_pattern("faults:nth=2,write=100%::mem:", "......");
	check_pattern("faults:nth=2,when=mid::mem:", "......");
	/* asynchronous child: the repeated calls after -EAGAIN are one call */
	check_pattern("faults:nth=3,stat=100%,when=after::mem:async", "..E..");

	/* at random: once one failed, all fail */
	fs = open_fs("faults:seed=5,stat=50%,mode=persistent::mem:");
	put_ok(fs, "k", "x");
	stat_pattern(fs, 40, a);
	fs_deinit(&fs);
	assert_non_null(strchr(a, 'E'));
	for (i = (int)(strchr(a, 'E') - a); a[i] != '\0'; i++)
		assert_int_equal(a[i], 'E');
	/* transient: failures and successes mix */
	fs = open_fs("faults:seed=5,stat=50%::mem:");
	put_ok(fs, "k", "x");
	stat_pattern(fs, 40, b);
	fs_deinit(&fs);
	assert_non_null(strstr(b, "E."));
	/* the first failure is at the same call in both modes */
	assert_int_equal(strchr(a, 'E') - a, strchr(b, 'E') - b);
}

static void test_errno_and_stats(void **state)
{
	struct fs *fs = open_fs("faults:nth=2,errno=ENOSPC,mode=persistent,"
				"when=before::mem:");
	struct fs_stats st0, st1;
	char msg[256];

	put_ok(fs, "k", "x");
	assert_int_equal(stat_key(fs, "k", msg, sizeof(msg)), -ENOSPC);
	assert_string_equal(msg, "faults: injected ENOSPC before stat of k");
	assert_int_equal(put(fs, "k", "y", 1, FS_OPEN_REPLACE), -ENOSPC);
	assert_int_equal(stat_key(fs, "nope", NULL, 0), -ENOSPC);
	assert_int_equal(fs_stats_get(fs, 0, &st0), 0);
	assert_int_equal(fs_stats_get(fs, 1, &st1), 0);
	assert_int_equal(st0.faults_injected, 3);
	assert_int_equal(st1.faults_injected, 0);
	assert_int_equal(st0.ops[FS_OP_STAT].count, 2);
	assert_int_equal(st0.ops[FS_OP_STAT].errors, 2);
	assert_int_equal(st0.ops[FS_OP_WRITE].count, 2);
	assert_int_equal(st0.ops[FS_OP_WRITE].errors, 1);
	/* the child only saw the first write */
	assert_int_equal(st1.ops[FS_OP_STAT].count, 0);
	assert_int_equal(st1.ops[FS_OP_WRITE].count, 1);
	assert_int_equal(st1.ops[FS_OP_WRITE].errors, 0);
	fs_stats_reset(fs);
	assert_int_equal(injected(fs, 0), 0);
	fs_deinit(&fs);
}

/* ------------------------------------------------------------------------ */
/* Asynchronous files                                                         */

static void test_async(void **state)
{
	struct fs *child = open_fs("mem:name=faults-async");
	struct fs_file *file;
	struct fs_stat st;
	struct fs *fs;
	int ret;

	put_ok(child, "k", "data");
	/* before: at once, nothing pending */
	fs = open_fs(
		"faults:all=100%,when=before::mem:async,name=faults-async");
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	assert_int_equal(fs_file_stat(file, &st), -EIO);
	assert_int_equal(fs_async_pending(fs), 0);
	fs_file_deinit(&file);
	fs_deinit(&fs);

	/* after: the child's operation runs to its end first */
	fs = open_fs("faults:all=100%,when=after::mem:async,name=faults-async");
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	assert_int_equal(fs_file_delete(file), -EAGAIN);
	assert_int_equal(fs_async_pending(fs), 2);
	assert_int_equal(fs_file_delete(file), -EAGAIN);
	assert_int_equal(fs_wait_async(fs, -1), 0);
	assert_int_equal(fs_file_delete(file), -EIO);
	fs_file_deinit(&file);
	assert_content(child, "k", NULL);
	assert_int_equal(injected(fs, 0), 1);

	/* an asynchronous write published below, then failed */
	assert_int_equal(fs_file_init(fs, "w",
				      FS_OPEN_CREATE | FS_OPEN_FLAG_ASYNC,
				      &file),
			 0);
	while ((ret = fs_write_all(file, "async", 5)) == -EAGAIN)
		assert_int_equal(fs_wait_async(fs, -1), 0);
	assert_int_equal(ret, -EIO);
	fs_file_deinit(&file);
	assert_content(child, "w", "async");
	assert_int_equal(fs_async_pending(fs), 0);
	fs_deinit(&fs);
	fs_deinit(&child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_good),
		cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_write_before_after),
		cmocka_unit_test(test_delete_before_after),
		cmocka_unit_test(test_copy_rename_before_after),
		cmocka_unit_test(test_lookups_before_after),
		cmocka_unit_test(test_read_mid_stream),
		cmocka_unit_test(test_write_mid_stream),
		cmocka_unit_test(test_iter),
		cmocka_unit_test(test_nth_and_modes),
		cmocka_unit_test(test_errno_and_stats),
		cmocka_unit_test(test_async),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
