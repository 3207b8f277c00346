/*
 * The S3 driver against the in-process mock server (which checks every
 * signature): odd keys, multipart uploads (parallel parts, part counts, the
 * part size growth rule), aborts that leave nothing, CREATE, DELETE of a
 * missing key, listings v2 and v1 with pagination, CopyObject with metadata,
 * DeleteObjects batches, error messages and debug traces without secrets,
 * CRC-32 checks of damaged bodies, and the cache layer's request counts.
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
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "drivers/s3/s3-private.h"
#include "libfs/fs.h"
#include "unit/test_s3.h"

#define BUCKET "unit"
#define AK "AKIDUNITTEST"
#define SK "uNiT+SeCrEt/KeY"

static struct fs_mock *mock;
static char endpoint[128];

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static int group_setup(void **state)
{
	static const struct fs_mock_credential creds[] = {
		{S3T_ACCESS_KEY, S3T_SECRET_KEY},
		{AK, SK},
	};
	struct fs_mock_settings set;

	fs_mock_settings_init(&set);
	set.credentials = creds;
	set.credentials_count = 2;
	set.min_part_size = 64 * 1024;
	mock = s3t_mock_start_set(BUCKET, &set);
	if (mock == NULL)
		return -1;
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u",
		 fs_mock_port(mock));
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	return 0;
}

static int group_teardown(void **state)
{
	fs_mock_stop(&mock);
	return 0;
}

static int test_setup(void **state)
{
	fs_mock_faults_clear(mock);
	fs_mock_counters_reset(mock);
	return 0;
}

/* Opens LAYERS (e.g. "cache:max=1M::", or "") over s3://BUCKET/PREFIX on
   the mock with options (may be ""). */
static struct fs *s3_open_layered(const char *layers, const char *prefix,
				  const char *options)
{
	struct fs_settings set;
	const char *error = NULL;
	struct fs *fs = NULL;
	char spec[512];
	int ret;

	fs_settings_init(&set);
	set.access_key = AK;
	set.secret_key = SK;
	set.retry_base_ms = 5;
	set.retry_max_ms = 20;
	set.proxy = "";
	snprintf(spec, sizeof(spec),
		 "%ss3://" BUCKET "/%s?endpoint=%s&min_part_size=64k%s%s",
		 layers, prefix, endpoint, options[0] != '\0' ? "&" : "",
		 options);
	ret = fs_init(spec, &set, &fs, &error);
	if (ret < 0)
		fail_msg("fs_init(%s): %s", spec, error);
	return fs;
}

static struct fs *s3_open(const char *prefix, const char *options)
{
	return s3_open_layered("", prefix, options);
}

static void put(struct fs *fs, const char *key, const void *data, size_t size)
{
	struct fs_file *file;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_REPLACE, &file), 0);
	if (fs_write_all(file, data, size) != 0)
		fail_msg("put %s: %s", key, fs_file_last_error(file));
	fs_file_deinit(&file);
}

/* Reads key, compares it with data and returns the file, still open. */
static struct fs_file *read_expect(struct fs *fs, const char *key,
				   const void *data, size_t size)
{
	struct fs_file *file;
	void *got = NULL;
	size_t got_size = 0;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	if (fs_read_all(file, &got, &got_size) != 0)
		fail_msg("get %s: %s", key, fs_file_last_error(file));
	assert_int_equal(got_size, size);
	assert_memory_equal(got, data, size);
	free(got);
	return file;
}

/* Reads key and compares it with data. */
static void expect(struct fs *fs, const char *key, const void *data,
		   size_t size)
{
	struct fs_file *file = read_expect(fs, key, data, size);

	fs_file_deinit(&file);
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

static unsigned char *pattern(size_t size, unsigned int seed)
{
	unsigned char *data = malloc(size + 1);
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	return data;
}

static uint64_t counter(const char *name)
{
	return fs_mock_counter(mock, name);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("'%s' lacks '%s'", haystack, needle);
}

static void assert_lacks(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) != NULL)
		fail_msg("'%s' contains '%s'", haystack, needle);
}

static void add_fault(const char *rule)
{
	char *error = NULL;

	if (fs_mock_fault_add(mock, rule, &error) <= 0)
		fail_msg("fault %s: %s", rule, error);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                      */

/* Keys that need every kind of encoding round-trip through the mock, which
   verifies each signature; listings give them back without the prefix. */
static void test_odd_keys(void **state)
{
	static const char *const keys[] = {
		"odd/with space",
		"odd/plus+sign",
		"odd/per%cent",
		"odd/tilde~x",
		"odd/utf8-\xc3\xa9\xe2\x82\xac",
		"odd/a/b/c",
		"odd/star*?&=#",
		"odd/quote\"'<>",
		"odd/semi;colon:@",
		"odd/%2F-encoded",
		"odd/x+y z%20",
	};
	struct fs *fs = s3_open("pre fix+", "");
	struct fs_iter *iter;
	const char *key;
	size_t i, n = sizeof(keys) / sizeof(keys[0]);
	char data[64];

	for (i = 0; i < n; i++) {
		snprintf(data, sizeof(data), "data %zu", i);
		put(fs, keys[i], data, strlen(data));
	}
	for (i = 0; i < n; i++) {
		snprintf(data, sizeof(data), "data %zu", i);
		expect(fs, keys[i], data, strlen(data));
	}
	assert_int_equal(counter("status_403"), 0);
	/* stored under the prefix */
	assert_int_equal(fs_mock_backend_count(mock, "b/" BUCKET "/pre fix+/"),
			 (int)n);
	assert_int_equal(fs_iter_init(fs, "odd/", 0, &iter), 0);
	for (i = 0; fs_iter_next(iter, &key) == 1; i++) {
		bool found = false;
		size_t j;

		for (j = 0; j < n; j++)
			found = found || strcmp(keys[j], key) == 0;
		if (!found)
			fail_msg("listed unknown key '%s'", key);
	}
	assert_int_equal(fs_iter_deinit(&iter), 0);
	assert_int_equal(i, n);
	assert_int_equal(fs_delete_prefix(fs, "odd/"), (int)n);
	fs_deinit(&fs);
}

/* An object over the threshold goes as a multipart upload: the parts go in
   parallel (the mock delays each, so the time says how many overlapped),
   the count is right and the object reads back whole. */
static void test_multipart(void **state)
{
	const size_t size = 8 * 64 * 1024 + 1234;
	unsigned char *data = pattern(size, 1);
	struct fs *fs = s3_open("mp", "multipart_threshold=100k&part_size=64k&"
				      "parallel=4");
	struct fs_file *file;
	struct fs_stat st;
	uint64_t start;

	add_fault("op=UploadPart,delay=300");
	start = fs_now_usec();
	put(fs, "big", data, size);
	/* 9 parts of 300 ms: 4 at a time takes 3 rounds, 1 at a time 9 */
	assert_true(fs_now_usec() - start < 5 * 300000);
	assert_true(fs_now_usec() - start >= 3 * 300000);
	assert_int_equal(counter("CreateMultipartUpload"), 1);
	assert_int_equal(counter("UploadPart"), 9);
	assert_int_equal(counter("CompleteMultipartUpload"), 1);
	assert_int_equal(counter("PutObject"), 0);
	fs_mock_faults_clear(mock);
	expect(fs, "big", data, size);
	assert_int_equal(fs_file_init(fs, "big", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, size);
	assert_true((st.valid & FS_STAT_ETAG) != 0);
	assert_contains(st.etag, "-9\"");
	fs_file_deinit(&file);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	/* a small object is one PUT */
	put(fs, "small", data, 1000);
	assert_int_equal(counter("PutObject"), 1);
	free(data);
	fs_deinit(&fs);
}

/* The part size doubles every S3_PART_GROWTH_STEP parts so that 10,000
   parts hold 5 TiB. */
static void test_part_size_growth(void **state)
{
	const unsigned int step = S3_PART_GROWTH_STEP;
	uint64_t base = S3_DEFAULT_PART_SIZE, total = 0;
	unsigned int n;

	assert_int_equal(fs_s3_part_size(base, 1), base);
	assert_int_equal(fs_s3_part_size(base, step), base);
	assert_int_equal(fs_s3_part_size(base, step + 1), 2 * base);
	assert_int_equal(fs_s3_part_size(base, 2 * step + 1), 4 * base);
	assert_int_equal(fs_s3_part_size(base, 10 * step + 1),
			 S3_MAX_PART_SIZE);
	assert_int_equal(fs_s3_part_size(S3_MAX_PART_SIZE, 9000),
			 S3_MAX_PART_SIZE);
	for (n = 1; n <= S3_MAX_PARTS; n++)
		total += fs_s3_part_size(base, n);
	assert_true(total >= 5 * S3_GIB * 1024);
}

/* Aborting or dropping an unfinished multipart write, or a part failing for
   good, leaves no object and no upload. */
static void test_abort_leaves_nothing(void **state)
{
	const size_t size = 5 * 64 * 1024;
	unsigned char *data = pattern(size, 2);
	struct fs *fs = s3_open("abort", "multipart_threshold=64k&"
					 "part_size=64k");
	struct fs_file *file;

	assert_int_equal(fs_file_init(fs, "a", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, data, size), (ssize_t)size);
	assert_int_equal(counter("CreateMultipartUpload"), 1);
	fs_write_abort(file);
	fs_file_deinit(&file);
	assert_int_equal(counter("AbortMultipartUpload"), 1);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	assert_int_equal(exists(fs, "a"), 0);

	assert_int_equal(fs_file_init(fs, "b", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, data, size), (ssize_t)size);
	fs_file_deinit(&file);
	assert_int_equal(counter("AbortMultipartUpload"), 2);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	assert_int_equal(exists(fs, "b"), 0);

	/* a part refused for good */
	add_fault("op=UploadPart,nth=2,status=403,code=AccessDenied");
	assert_int_equal(fs_file_init(fs, "c", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write_all(file, data, size), -EACCES);
	assert_contains(fs_file_last_error(file), "AccessDenied");
	fs_file_deinit(&file);
	assert_int_equal(counter("AbortMultipartUpload"), 3);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	assert_int_equal(exists(fs, "c"), 0);
	free(data);
	fs_deinit(&fs);
}

/* CREATE on an existing key: 412 -> -EEXIST, single PUT and multipart. */
static void test_create_exists(void **state)
{
	const size_t size = 3 * 64 * 1024;
	unsigned char *data = pattern(size, 3);
	struct fs *fs = s3_open("create", "multipart_threshold=64k&"
					  "part_size=64k");
	struct fs_file *file;

	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write_all(file, "one", 3), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write_all(file, "two", 3), -EEXIST);
	assert_contains(fs_file_last_error(file), "exists");
	fs_file_deinit(&file);
	assert_true(counter("status_412") >= 1);
	expect(fs, "k", "one", 3);

	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write_all(file, data, size), -EEXIST);
	fs_file_deinit(&file);
	assert_int_equal(counter("CompleteMultipartUpload"), 1);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	expect(fs, "k", "one", 3);
	free(data);
	fs_deinit(&fs);
}

/* S3 says 204 for a missing key; libfs says -ENOENT. Also stat/read. */
static void test_missing_key(void **state)
{
	struct fs *fs = s3_open("missing", "");
	struct fs_file *file;
	struct fs_stat st;
	char buf[16];

	assert_int_equal(fs_file_init(fs, "nope", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file), -ENOENT);
	assert_contains(fs_file_last_error(file), "nope");
	assert_int_equal(fs_file_stat(file, &st), -ENOENT);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -ENOENT);
	assert_contains(fs_file_last_error(file), "NoSuchKey");
	fs_file_deinit(&file);
	assert_int_equal(counter("DeleteObject"), 0);
	put(fs, "yes", "y", 1);
	assert_int_equal(fs_file_init(fs, "yes", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file), 0);
	assert_int_equal(fs_file_delete(file), -ENOENT);
	fs_file_deinit(&file);
	assert_int_equal(counter("DeleteObject"), 1);
	fs_deinit(&fs);
}

static void list_expect(struct fs *fs, const char *prefix, unsigned int flags,
			const char *const *want, size_t n)
{
	struct fs_iter *iter;
	const char *key;
	size_t i = 0;
	int ret;

	assert_int_equal(fs_iter_init(fs, prefix, flags, &iter), 0);
	for (;;) {
		ret = fs_iter_next(iter, &key);
		if (ret == -EAGAIN) {
			assert_true(fs_wait_async(fs, 5000) >= 0);
			continue;
		}
		if (ret <= 0)
			break;
		if (i >= n)
			fail_msg("extra key '%s'", key);
		assert_string_equal(key, want[i]);
		i++;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(i, n);
	assert_int_equal(fs_iter_deinit(&iter), 0);
}

static void list_pages(const char *options, const char *op)
{
	static const char *const keys[] = {
		"l/a", "l/b", "l/c/1", "l/c/2", "l/d", "l/e",
		"l/f", "l/g", "l/h/x", "l/i",	"l/j",
	};
	static const char *const level[] = {
		"l/a", "l/b", "l/c/", "l/d", "l/e",
		"l/f", "l/g", "l/h/", "l/i", "l/j",
	};
	size_t n = sizeof(keys) / sizeof(keys[0]);
	struct fs *fs = s3_open("list", options);
	size_t i;

	for (i = 0; i < n; i++)
		put(fs, keys[i], "x", 1);
	fs_mock_counters_reset(mock);
	list_expect(fs, "l/", 0, keys, n);
	/* 11 keys, 3 a page */
	assert_int_equal(counter(op), 4);
	list_expect(fs, "l/", FS_ITER_FLAG_ONE_LEVEL | FS_ITER_FLAG_ASYNC,
		    level, sizeof(level) / sizeof(level[0]));
	assert_int_equal(fs_delete_prefix(fs, "l/"), (int)n);
	list_expect(fs, "l/", 0, NULL, 0);
	fs_deinit(&fs);
}

static void test_list_v2_pages(void **state)
{
	list_pages("max_keys=3", "ListObjectsV2");
	assert_int_equal(counter("ListObjects"), 0);
}

static void test_list_v1_pages(void **state)
{
	list_pages("max_keys=3&list=v1", "ListObjects");
	assert_int_equal(counter("ListObjectsV2"), 0);
}

/* CopyObject on the server keeps the metadata, also values HTTP headers
   cannot carry as they are. */
static void test_copy_metadata(void **state)
{
	static const char utf8[] = "caf\xc3\xa9 \xe2\x82\xac";
	struct fs *fs = s3_open("copy", "");
	struct fs_file *src, *dst;
	const char *value;

	assert_int_equal(fs_file_init(fs, "src", FS_OPEN_REPLACE, &src), 0);
	assert_int_equal(fs_file_set_metadata(src, "plain", "v1"), 0);
	assert_int_equal(fs_file_set_metadata(src, "utf8", utf8), 0);
	assert_int_equal(fs_file_set_metadata(src, "spaces", "  x  "), 0);
	assert_int_equal(fs_file_set_metadata(src, "look", "=?not?="), 0);
	assert_int_equal(fs_write_all(src, "payload", 7), 0);
	fs_file_deinit(&src);

	fs_mock_counters_reset(mock);
	assert_int_equal(fs_file_init(fs, "src", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_REPLACE, &dst), 0);
	assert_int_equal(fs_copy(src, dst), 0);
	fs_file_deinit(&dst);
	fs_file_deinit(&src);
	assert_int_equal(counter("CopyObject"), 1);
	assert_int_equal(counter("GetObject"), 0);
	expect(fs, "dst", "payload", 7);
	assert_int_equal(fs_file_init(fs, "dst", FS_OPEN_READ, &dst), 0);
	assert_int_equal(fs_file_get_metadata(dst, "plain", &value), 1);
	assert_string_equal(value, "v1");
	assert_int_equal(fs_file_get_metadata(dst, "utf8", &value), 1);
	assert_string_equal(value, utf8);
	assert_int_equal(fs_file_get_metadata(dst, "spaces", &value), 1);
	assert_string_equal(value, "  x  ");
	assert_int_equal(fs_file_get_metadata(dst, "look", &value), 1);
	assert_string_equal(value, "=?not?=");
	fs_file_deinit(&dst);

	/* a missing source */
	assert_int_equal(fs_file_init(fs, "none", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(fs, "dst2", FS_OPEN_REPLACE, &dst), 0);
	assert_int_equal(fs_copy(src, dst), -ENOENT);
	assert_contains(fs_file_last_error(dst), "none");
	fs_file_deinit(&dst);
	fs_file_deinit(&src);
	fs_deinit(&fs);
}

/* fs_delete_prefix() deletes 1000 keys per DeleteObjects request. */
static void test_delete_prefix_batches(void **state)
{
	const unsigned int n = 2345;
	struct fs *fs = s3_open("dp", "");
	struct fs_file *files[64];
	char key[64];
	unsigned int i, j;

	/* written 64 at a time, asynchronously */
	for (i = 0; i < n; i += j) {
		for (j = 0; j < 64 && i + j < n; j++) {
			snprintf(key, sizeof(key), "d/%05u", i + j);
			assert_int_equal(
				fs_file_init(fs, key,
					     FS_OPEN_REPLACE |
						     FS_OPEN_FLAG_ASYNC,
					     &files[j]),
				0);
			assert_true(fs_write_all(files[j], "x", 1) == -EAGAIN);
		}
		while (fs_wait_async(fs, 5000) > 0)
			;
		while (j-- > 0) {
			assert_int_equal(fs_write_all(files[j], "x", 1), 0);
			fs_file_deinit(&files[j]);
		}
		j = i + 64 <= n ? 64 : n - i;
	}
	put(fs, "dx", "keep", 4);
	fs_mock_counters_reset(mock);
	assert_int_equal(fs_delete_prefix(fs, "d/"), (int)n);
	assert_int_equal(counter("DeleteObjects"), (n + 999) / 1000);
	assert_int_equal(fs_mock_backend_count(mock, "b/" BUCKET "/dp/d/"), 0);
	assert_int_equal(exists(fs, "dx"), 1);
	fs_deinit(&fs);
}

/* Error messages name the operation, key, status, S3 code and request id;
   neither they nor the LIBFS_DEBUG=http trace show the secret. */
static void test_errors_and_secrets(void **state)
{
	struct fs_settings set;
	struct fs_file *file;
	struct fs *fs = s3_open("err", "");
	const char *error = NULL;
	char spec[256], trace[8192];
	int fd, saved;
	ssize_t len;
	FILE *tmp;

	add_fault("key=err/slow*,status=503,code=SlowDown");
	assert_int_equal(fs_file_init(fs, "slow", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write_all(file, "x", 1), -EIO);
	assert_contains(fs_file_last_error(file), "PUT slow: HTTP 503");
	assert_contains(fs_file_last_error(file), "SlowDown");
	assert_contains(fs_file_last_error(file), "request id");
	assert_contains(fs_file_last_error(file), "after 5 attempts");
	assert_lacks(fs_file_last_error(file), SK);
	fs_file_deinit(&file);
	fs_deinit(&fs);

	/* a wrong secret: -EACCES, and the trace is redacted */
	tmp = tmpfile();
	fd = fileno(tmp);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	fs_settings_init(&set);
	set.access_key = AK;
	set.secret_key = "wrong-" SK;
	set.debug = FS_DEBUG_HTTP;
	set.proxy = "";
	snprintf(spec, sizeof(spec), "s3://" BUCKET "/err?endpoint=%s",
		 endpoint);
	assert_int_equal(fs_init(spec, &set, &fs, &error), 0);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_exists(file), -EACCES);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "k2", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write_all(file, "x", 1), -EACCES);
	assert_contains(fs_file_last_error(file), "SignatureDoesNotMatch");
	assert_lacks(fs_file_last_error(file), SK);
	fs_file_deinit(&file);
	fs_deinit(&fs);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	len = (ssize_t)fread(trace, 1, sizeof(trace) - 1, tmp);
	fclose(tmp);
	assert_true(len > 0);
	trace[len] = '\0';
	assert_contains(trace, "libfs http: > PUT");
	assert_contains(trace, "Authorization: ***");
	assert_lacks(trace, SK);
	assert_lacks(trace, "Signature=");
}

/* No credentials: a clear -EACCES at init; anonymous=1 sends unsigned
   requests (the mock refuses them). Bad options are -EINVAL. */
static void test_spec_and_credentials(void **state)
{
	static const char *const bad[] = {
		"s3://" BUCKET "/?style=diagonal",
		"s3://" BUCKET "/?part_size=1M",
		"s3://" BUCKET "/?parallel=0",
		"s3://" BUCKET "/?nosuch=1",
		"s3://" BUCKET "/?endpoint=ftp://x",
		"s3://x/",
		"s3:" BUCKET,
		"s3://" BUCKET "/a/../b",
	};
	struct fs_settings set;
	const char *error = NULL;
	struct fs_file *file;
	struct fs *fs = NULL;
	char spec[256];
	size_t i;

	fs_settings_init(&set);
	set.proxy = "";
	snprintf(spec, sizeof(spec), "s3://" BUCKET "/?endpoint=%s", endpoint);
	assert_int_equal(fs_init(spec, &set, &fs, &error), -EACCES);
	assert_contains(error, "AWS_ACCESS_KEY_ID");
	snprintf(spec, sizeof(spec), "s3://" BUCKET "/?endpoint=%s&anonymous=1",
		 endpoint);
	assert_int_equal(fs_init(spec, &set, &fs, &error), 0);
	assert_true((fs_get_caps(fs) & FS_CAP_CREATE_EXCL) != 0);
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_exists(file), -EACCES);
	fs_file_deinit(&file);
	fs_deinit(&fs);

	setenv("AWS_ACCESS_KEY_ID", AK, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SK, 1);
	snprintf(spec, sizeof(spec), "s3://" BUCKET "/env?endpoint=%s",
		 endpoint);
	assert_int_equal(fs_init(spec, &set, &fs, &error), 0);
	put(fs, "k", "env", 3);
	expect(fs, "k", "env", 3);
	fs_deinit(&fs);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	set.access_key = AK;
	set.secret_key = SK;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fs_init(bad[i], &set, &fs, &error) != -EINVAL)
			fail_msg("fs_init(%s) was not -EINVAL", bad[i]);
		assert_true(error[0] != '\0');
	}
	snprintf(spec, sizeof(spec), "s3://" BUCKET "/?endpoint=%s&create=head",
		 endpoint);
	assert_int_equal(fs_init(spec, &set, &fs, &error), 0);
	assert_true((fs_get_caps(fs) & FS_CAP_CREATE_EXCL) == 0);
	assert_true((fs_get_caps(fs) & FS_CAP_RENAME_ATOMIC) == 0);
	fs_deinit(&fs);
}

/* Ranges: in the middle, past the end (416: empty), and 0 bytes. */
static void test_ranges(void **state)
{
	struct fs *fs = s3_open("range", "");
	struct fs_file *file;
	struct fs_stat st;
	void *data;
	size_t size;

	put(fs, "r", "0123456789", 10);
	assert_int_equal(fs_file_init(fs, "r", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_set_range(file, 3, 4), 0);
	assert_int_equal(fs_read_all(file, &data, &size), 0);
	assert_int_equal(size, 4);
	assert_memory_equal(data, "3456", 4);
	free(data);
	/* the stat of a range read: the whole object's size, from the 206's
	   Content-Range, without a HEAD */
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_true((st.valid & FS_STAT_SIZE) != 0);
	assert_int_equal(st.size, 10);
	assert_int_equal(counter("HeadObject"), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "r", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_set_range(file, 10, UINT64_MAX), 0);
	assert_int_equal(fs_read_all(file, &data, &size), 0);
	assert_int_equal(size, 0);
	free(data);
	fs_file_deinit(&file);
	assert_true(counter("status_416") >= 1);
	fs_deinit(&fs);
}

/* fs_file_revalidate() is one conditional GET: 304 unchanged, 200 changed
   (and the new object is what the file reads), 404 gone. */
/* Reads key, expecting the whole-object check to fail: -EIO, no data, and
   a message naming what did not match. */
static void expect_damaged(struct fs *fs, const char *key, const char *what)
{
	struct fs_file *file;
	void *got = NULL;
	size_t got_size = 0;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read_all(file, &got, &got_size), -EIO);
	assert_null(got);
	assert_contains(fs_file_last_error(file), what);
	assert_contains(fs_file_last_error(file), key);
	fs_file_deinit(&file);
}

/* Every PUT and part carries its CRC-32 (x-amz-checksum-crc32), which the
   store checks and keeps, a multipart object as one FULL_OBJECT CRC; a
   whole-object GET asks for it and checks the body against it, so one
   flipped byte is an error for single and multipart objects alike (a
   multipart ETag is no MD5). With checksum=none the MD5 ETag still catches
   it for a single PUT. Ranges and verify=0 are not checked. */
static void test_checksums(void **state)
{
	const size_t big = 3 * 64 * 1024 + 99;
	unsigned char *data = pattern(big, 7);
	struct fs *fs = s3_open("crc", "multipart_threshold=100k&"
				       "part_size=64k");
	struct fs *plain = s3_open("crc", "checksum=none&"
					  "multipart_threshold=100k&"
					  "part_size=64k");
	struct fs *noverify = s3_open("crc", "verify=0");
	struct fs_settings set;
	struct fs *bad = NULL;
	const char *error = NULL;
	struct fs_file *file;
	char spec[256];
	unsigned char buf[64];

	put(fs, "small", data, 5000);
	put(fs, "big", data, big);
	put(plain, "small-plain", data, 5000);
	put(plain, "big-plain", data, big);
	assert_int_equal(counter("PutObject"), 2);
	assert_int_equal(counter("CompleteMultipartUpload"), 2);
	expect(fs, "small", data, 5000);
	expect(fs, "big", data, big);
	expect(fs, "big-plain", data, big);

	add_fault("op=GetObject,action=corrupt,after=100");
	expect_damaged(fs, "small", "CRC-32");
	expect_damaged(fs, "big", "CRC-32");
	expect_damaged(plain, "small", "ETag");
	expect_damaged(fs, "small-plain", "ETag");
	/* a damaged read is not retried into success: one GET each */
	assert_int_equal(counter("GetObject"), 3 + 4);

	/* a range is not checked: its bytes are the server's */
	assert_int_equal(fs_file_init(fs, "small", FS_OPEN_READ, &file), 0);
	fs_file_set_range(file, 90, 20);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 20);
	assert_memory_equal(buf, data + 90, 10);
	assert_int_equal(buf[10], data[100] ^ 0x01);
	fs_file_deinit(&file);
	/* nor with verify=0 */
	assert_int_equal(fs_file_init(noverify, "big", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(buf[0], data[0]);
	fs_file_deinit(&file);
	fs_mock_faults_clear(mock);

	fs_settings_init(&set);
	set.access_key = AK;
	set.secret_key = SK;
	snprintf(spec, sizeof(spec),
		 "s3://" BUCKET "/?endpoint=%s&checksum=md5", endpoint);
	assert_int_equal(fs_init(spec, &set, &bad, &error), -EINVAL);
	assert_contains(error, "checksum");
	free(data);
	fs_deinit(&fs);
	fs_deinit(&plain);
	fs_deinit(&noverify);
}

/* Reads key through fs and checks bytes, size and etag from its stat, and
   metadata "color" = color. */
static void expect_cached(struct fs *fs, const char *key, const void *data,
			  size_t size, const char *color)
{
	struct fs_file *file = read_expect(fs, key, data, size);
	struct fs_stat st;
	const char *value = NULL;

	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_true((st.valid & FS_STAT_SIZE) != 0);
	assert_int_equal(st.size, size);
	assert_true((st.valid & FS_STAT_ETAG) != 0);
	assert_int_equal(fs_file_get_metadata(file, "color", &value), 1);
	assert_string_equal(value, color);
	fs_file_deinit(&file);
}

static void put_color(struct fs *fs, const char *key, const void *data,
		      size_t size, const char *color)
{
	struct fs_file *file;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "color", color), 0);
	if (fs_write_all(file, data, size) != 0)
		fail_msg("put %s: %s", key, fs_file_last_error(file));
	fs_file_deinit(&file);
}

/* The cache layer over S3, counted by the mock. A miss is one GetObject:
   stat and metadata come from its headers (FS_CAP_READ_STAT), no HEAD. A
   hit with validate=never makes no request at all; with validate=etag
   exactly one conditional GetObject (304). An object replaced by another
   client is read anew from that same conditional GET. */
static void test_cache_requests(void **state)
{
	const size_t size = 20000;
	unsigned char *data = pattern(size, 9), *data2 = pattern(size, 10);
	struct fs *writer = s3_open("cache", "");
	struct fs *never =
		s3_open_layered("cache:max=8M,validate=never::", "cache", "");
	struct fs *etag =
		s3_open_layered("cache:max=8M,validate=etag::", "cache", "");
	struct fs_stats stats;
	struct fs_file *file;
	void *got = NULL;
	size_t got_size = 0;

	assert_true((fs_get_caps(writer) & FS_CAP_READ_STAT) != 0);
	assert_true((fs_get_caps(etag) & FS_CAP_READ_STAT) != 0);
	put_color(writer, "index", data, size, "blue");
	fs_mock_counters_reset(mock);

	/* fs_read_all() sizes its buffer from the GET's headers: no HEAD,
	   and no stat counted that the application did not make */
	fs_stats_reset(writer);
	expect(writer, "index", data, size);
	assert_int_equal(counter("GetObject"), 1);
	assert_int_equal(counter("HeadObject"), 0);
	assert_int_equal(fs_stats_get(writer, 0, &stats), 0);
	assert_int_equal(stats.ops[FS_OP_STAT].count, 0);
	assert_int_equal(stats.ops[FS_OP_READ].count, 1);
	fs_mock_counters_reset(mock);

	/* a miss: one GET, and the copy has stat and metadata */
	expect_cached(never, "index", data, size, "blue");
	assert_int_equal(counter("GetObject"), 1);
	assert_int_equal(counter("HeadObject"), 0);
	/* hits: nothing */
	expect_cached(never, "index", data, size, "blue");
	expect_cached(never, "index", data, size, "blue");
	assert_int_equal(counter("GetObject"), 1);
	assert_int_equal(counter("HeadObject"), 0);
	assert_int_equal(fs_stats_get(never, 0, &stats), 0);
	assert_int_equal(stats.cache_misses, 1);
	assert_int_equal(stats.cache_hits, 2);

	/* validate=etag: a miss is one GET, each hit one conditional GET */
	fs_mock_counters_reset(mock);
	expect_cached(etag, "index", data, size, "blue");
	assert_int_equal(counter("GetObject"), 1);
	expect_cached(etag, "index", data, size, "blue");
	expect_cached(etag, "index", data, size, "blue");
	assert_int_equal(counter("GetObject"), 3);
	assert_int_equal(counter("HeadObject"), 0);
	assert_int_equal(counter("bytes_out"), size);

	/* another host replaces it: the conditional GET brings the new bytes
	   and metadata, and they replace the copy */
	put_color(writer, "index", data2, size, "green");
	fs_mock_counters_reset(mock);
	expect_cached(etag, "index", data2, size, "green");
	assert_int_equal(counter("GetObject"), 1);
	expect_cached(etag, "index", data2, size, "green");
	assert_int_equal(counter("GetObject"), 2);
	assert_int_equal(counter("HeadObject"), 0);
	assert_int_equal(counter("bytes_out"), size);
	/* validate=never does not see it: it owns its keys alone */
	expect_cached(never, "index", data, size, "blue");

	/* a missing key: reading it is one GET, -ENOENT; exists one HEAD */
	fs_mock_counters_reset(mock);
	assert_int_equal(fs_file_init(etag, "missing", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read_all(file, &got, &got_size), -ENOENT);
	fs_file_deinit(&file);
	assert_int_equal(counter("GetObject"), 1);
	assert_int_equal(counter("HeadObject"), 0);
	assert_int_equal(exists(etag, "missing"), 0);
	assert_int_equal(counter("HeadObject"), 1);
	free(data);
	free(data2);
	fs_deinit(&writer);
	fs_deinit(&never);
	fs_deinit(&etag);
}

/* S3 takes a multipart object's metadata with CreateMultipartUpload:
   metadata set before the first part keeps (through layers too, which hand
   it down before the first byte); metadata set after it would be lost, so
   the write fails with -EINVAL and leaves no object and no upload. */
static void test_late_metadata(void **state)
{
	const size_t size = 3 * 64 * 1024 + 7;
	unsigned char *data = pattern(size, 11);
	struct fs *fs = s3_open("late", "multipart_threshold=64k&"
					"part_size=64k");
	struct fs *layered = s3_open_layered("faults:all=0%::", "late",
					     "multipart_threshold=64k&"
					     "part_size=64k");
	struct fs_file *file;
	const char *value = NULL;

	/* the faults layer's stat may fail on purpose: not free */
	assert_true((fs_get_caps(fs) & FS_CAP_READ_STAT) != 0);
	assert_true((fs_get_caps(layered) & FS_CAP_READ_STAT) == 0);
	/* set before writing, through a layer: kept */
	assert_int_equal(fs_file_init(layered, "early", FS_OPEN_REPLACE, &file),
			 0);
	assert_int_equal(fs_file_set_metadata(file, "m", "early"), 0);
	assert_int_equal(fs_write_all(file, data, size), 0);
	fs_file_deinit(&file);
	assert_int_equal(counter("CompleteMultipartUpload"), 1);
	assert_int_equal(fs_file_init(fs, "early", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata(file, "m", &value), 1);
	assert_string_equal(value, "early");
	fs_file_deinit(&file);

	/* set after the upload began: the write fails, nothing is left */
	assert_int_equal(fs_file_init(fs, "late", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, data, size), (ssize_t)size);
	assert_int_equal(fs_file_set_metadata(file, "m", "late"), 0);
	assert_int_equal(fs_write_finish(file), -EINVAL);
	assert_contains(fs_file_last_error(file), "metadata");
	fs_file_deinit(&file);
	assert_int_equal(exists(fs, "late"), 0);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	assert_int_equal(counter("AbortMultipartUpload"), 1);
	free(data);
	fs_deinit(&fs);
	fs_deinit(&layered);
}

static void test_revalidate(void **state)
{
	struct fs *fs = s3_open("reval", "");
	struct fs_file *file;
	struct fs_stat st;
	void *data;
	size_t size;

	put(fs, "r", "old", 3);
	assert_int_equal(fs_file_init(fs, "r", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	fs_file_deinit(&file);
	fs_mock_counters_reset(mock);
	assert_int_equal(fs_file_init(fs, "r", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_revalidate(file, st.etag), 1);
	fs_file_deinit(&file);
	assert_int_equal(counter("status_304"), 1);
	assert_int_equal(counter("requests"), 1);

	put(fs, "r", "newer", 5);
	fs_mock_counters_reset(mock);
	assert_int_equal(fs_file_init(fs, "r", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_revalidate(file, st.etag), 0);
	assert_int_equal(fs_read_all(file, &data, &size), 0);
	assert_int_equal(size, 5);
	assert_memory_equal(data, "newer", 5);
	free(data);
	fs_file_deinit(&file);
	assert_int_equal(counter("requests"), 1);

	assert_int_equal(fs_file_init(fs, "r", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "r", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_revalidate(file, st.etag), -ENOENT);
	fs_file_deinit(&file);
	fs_deinit(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_part_size_growth),
		cmocka_unit_test_setup(test_odd_keys, test_setup),
		cmocka_unit_test_setup(test_multipart, test_setup),
		cmocka_unit_test_setup(test_abort_leaves_nothing, test_setup),
		cmocka_unit_test_setup(test_create_exists, test_setup),
		cmocka_unit_test_setup(test_missing_key, test_setup),
		cmocka_unit_test_setup(test_list_v2_pages, test_setup),
		cmocka_unit_test_setup(test_list_v1_pages, test_setup),
		cmocka_unit_test_setup(test_copy_metadata, test_setup),
		cmocka_unit_test_setup(test_delete_prefix_batches, test_setup),
		cmocka_unit_test_setup(test_errors_and_secrets, test_setup),
		cmocka_unit_test_setup(test_spec_and_credentials, test_setup),
		cmocka_unit_test_setup(test_ranges, test_setup),
		cmocka_unit_test_setup(test_revalidate, test_setup),
		cmocka_unit_test_setup(test_checksums, test_setup),
		cmocka_unit_test_setup(test_cache_requests, test_setup),
		cmocka_unit_test_setup(test_late_metadata, test_setup),
	};

	return cmocka_run_group_tests_name("s3", tests, group_setup,
					   group_teardown);
}

#endif
