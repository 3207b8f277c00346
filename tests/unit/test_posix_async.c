/*
 * The posix driver's asynchronous path: the worker threads behind
 * FS_OPEN_FLAG_ASYNC files and FS_ITER_FLAG_ASYNC iterators. Many operations
 * in flight, callbacks only from inside fs_wait_async(), results and error
 * messages identical to the blocking path, cancellation when handles are
 * freed with work in flight, fs_deinit() right after, and a seeded mix of
 * injected faults. Run it under valgrind, ASan and TSan too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs-private.h"
#include "libfs/fs.h"

extern bool posix_spawn_fails;

#define KIB 1024u
#define MIB (1024u * 1024u)
#define BUF_SIZE (256 * KIB)
#define MANY 64

/* ------------------------------------------------------------------------ */
/* Test data and the store                                                    */

struct env {
	char dir[256];
	char spec[300];
	struct fs *fs;
};

static unsigned char gen_byte(uint64_t seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull;

	x ^= seed * 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return (unsigned char)((x * 0x94D049BB133111EBull) >> 56);
}

static void gen(uint64_t seed, uint64_t off, unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = gen_byte(seed, off + i);
}

/* Index of the first byte that differs from the generator, or -1. */
static long gen_mismatch(uint64_t seed, uint64_t off, const unsigned char *buf,
			 size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] != gen_byte(seed, off + i))
			return (long)i;
	}
	return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned int temp_files;

static int count_temp(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (strncmp(path + ftw->base, FS_RESERVED_PREFIX,
		    strlen(FS_RESERVED_PREFIX)) == 0)
		temp_files++;
	return 0;
}

/* No write left a temporary file anywhere in the store. */
static void assert_no_temp_files(const char *dir)
{
	temp_files = 0;
	nftw(dir, count_temp, 16, FTW_PHYS);
	assert_int_equal(temp_files, 0);
}

static unsigned int count_threads(void)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *dir = opendir("/proc/self/task");

	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(dir);
	return n;
}

/* TSan runs one thread of its own, started when it likes. */
#if defined(__SANITIZE_THREAD__)
#define THREADS_EXTRA 1u
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define THREADS_EXTRA 1u
#endif
#endif
#ifndef THREADS_EXTRA
#define THREADS_EXTRA 0u
#endif

/* The process has from min to max threads (besides a sanitizer's). */
static void assert_threads(unsigned int min, unsigned int max)
{
	unsigned int n = count_threads();

	if (n < min || n > max + THREADS_EXTRA)
		fail_msg("%u threads, expected %u to %u", n, min, max);
}

static struct fs *open_fs(const char *spec)
{
	const char *error;
	struct fs *fs;
	int ret = fs_init(spec, NULL, &fs, &error);

	if (ret < 0)
		fail_msg("fs_init(%s): %s", spec, error);
	return fs;
}

static int setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));
	const char *tmp = getenv("TMPDIR");

	if (env == NULL)
		return -1;
	snprintf(env->dir, sizeof(env->dir), "%s/libfs-pasync-XXXXXX",
		 tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(env->dir) == NULL)
		return -1;
	snprintf(env->spec, sizeof(env->spec), "posix:%s", env->dir);
	env->fs = open_fs(env->spec);
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	if (env->fs != NULL) {
		assert_int_equal(fs_async_pending(env->fs), 0);
		assert_int_equal(env->fs->files_open, 0);
		assert_int_equal(env->fs->iters_open, 0);
		fs_deinit(&env->fs);
	}
	rm_rf(env->dir);
	free(env);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Blocking helpers                                                           */

static void put_gen(struct fs *fs, const char *key, uint64_t seed, size_t size)
{
	unsigned char *buf = malloc(size + 1);
	struct fs_file *file;

	assert_non_null(buf);
	gen(seed, 0, buf, size);
	assert_int_equal(fs_file_init(fs, key, FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write_all(file, buf, size), 0);
	fs_file_deinit(&file);
	free(buf);
}

/* The object holds exactly gen(seed) of size bytes (size -1: absent). */
static void expect_gen(struct fs *fs, const char *key, uint64_t seed, long size)
{
	struct fs_file *file;
	size_t got;
	void *data;
	int ret;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	ret = fs_read_all(file, &data, &got);
	if (size < 0) {
		assert_int_equal(ret, -ENOENT);
	} else {
		if (ret != 0)
			fail_msg("read %s: %d %s", key, ret,
				 fs_file_last_error(file));
		assert_int_equal(got, (size_t)size);
		assert_int_equal(gen_mismatch(seed, 0, data, got), -1);
		free(data);
	}
	fs_file_deinit(&file);
}

struct strv {
	char **v;
	size_t count, alloc;
};

static void strv_add(struct strv *s, const char *str)
{
	if (s->count == s->alloc) {
		s->alloc = s->alloc == 0 ? 64 : s->alloc * 2;
		s->v = realloc(s->v, s->alloc * sizeof(*s->v));
		assert_non_null(s->v);
	}
	s->v[s->count] = strdup(str);
	assert_non_null(s->v[s->count]);
	s->count++;
}

static void strv_clear(struct strv *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void strv_expect(const struct strv *got, const struct strv *want)
{
	size_t i;

	assert_int_equal(got->count, want->count);
	for (i = 0; i < got->count; i++)
		assert_string_equal(got->v[i], want->v[i]);
}

/* The blocking listing of prefix. */
static void list_blocking(struct fs *fs, const char *prefix, unsigned int flags,
			  struct strv *out)
{
	struct fs_iter *iter;
	const char *key;
	int ret;

	assert_int_equal(fs_iter_init(fs, prefix, flags, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) == 1)
		strv_add(out, key);
	assert_int_equal(ret, 0);
	assert_int_equal(fs_iter_deinit(&iter), 0);
}

/* ------------------------------------------------------------------------ */
/* Running asynchronous operations                                            */

static unsigned int cb_total, cb_outside;
static bool in_wait;

struct op;
/* Returns 1 to go on, 0 when done (result in op->ret), -EAGAIN to wait. */
typedef int step_fn(struct op *op);

struct op {
	struct fs_file *file, *src;
	struct fs_iter *iter;
	step_fn *step;
	bool waiting, done, mismatch;
	unsigned int callbacks, eagain;
	int ret;
	uint64_t seed, size, pos;
	size_t chunk, len, off;
	unsigned char *buf;
	struct fs_stat st;
	const char *md;
	struct strv keys;
};

static void op_callback(void *context)
{
	struct op *op = context;

	if (!in_wait)
		cb_outside++;
	cb_total++;
	op->callbacks++;
	op->waiting = false;
}

static int wait_in(struct fs *fs, int timeout_ms)
{
	int ret;

	in_wait = true;
	ret = fs_wait_async(fs, timeout_ms);
	in_wait = false;
	return ret;
}

/* Waits for at least one callback. */
static void wait_progress(struct fs *fs)
{
	unsigned int before = cb_total;
	int ret = wait_in(fs, 30000);

	if (ret < 0)
		fail_msg("fs_wait_async: %d %s", ret, fs_last_error(fs));
	if (cb_total == before)
		fail_msg("fs_wait_async returned %d without a callback", ret);
}

/* Runs every op to its end, waiting whenever all unfinished ones wait.
   Returns the most ops that waited at the same time. */
static size_t run_ops(struct fs *fs, struct op *ops, size_t count)
{
	size_t i, active, waiting, max = 0;
	int ret;

	for (;;) {
		active = waiting = 0;
		for (i = 0; i < count; i++) {
			struct op *op = &ops[i];

			if (op->done)
				continue;
			if (!op->waiting) {
				ret = op->step(op);
				if (ret == 0) {
					op->done = true;
					continue;
				}
				if (ret == -EAGAIN) {
					op->waiting = true;
					op->eagain++;
				}
			}
			active++;
			waiting += op->waiting;
		}
		if (active == 0)
			return max;
		if (waiting > max)
			max = waiting;
		if (waiting == active)
			wait_progress(fs);
	}
}

static int op_end(struct op *op, int ret)
{
	op->ret = ret;
	return 0;
}

static int step_write(struct op *op)
{
	ssize_t ret;

	if (op->off == op->len && op->pos < op->size) {
		op->len = op->chunk;
		if (op->len > op->size - op->pos)
			op->len = (size_t)(op->size - op->pos);
		gen(op->seed, op->pos, op->buf, op->len);
		op->off = 0;
		op->pos += op->len;
	}
	if (op->off < op->len) {
		ret = fs_write(op->file, op->buf + op->off, op->len - op->off);
		if (ret == -EAGAIN)
			return -EAGAIN;
		if (ret <= 0)
			return op_end(op, ret < 0 ? (int)ret : -EPROTO);
		op->off += (size_t)ret;
		return 1;
	}
	ret = fs_write_finish(op->file);
	return ret == -EAGAIN ? -EAGAIN : op_end(op, (int)ret);
}

static int step_read(struct op *op)
{
	ssize_t ret = fs_read(op->file, op->buf, op->chunk);

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret <= 0)
		return op_end(op, (int)ret);
	if (gen_mismatch(op->seed, op->pos, op->buf, (size_t)ret) >= 0)
		op->mismatch = true;
	op->pos += (uint64_t)ret;
	return 1;
}

static int step_read_all(struct op *op)
{
	void *data;
	size_t size;
	int ret = fs_read_all(op->file, &data, &size);

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret == 0) {
		if (gen_mismatch(op->seed, 0, data, size) >= 0)
			op->mismatch = true;
		op->pos = size;
		free(data);
	}
	return op_end(op, ret);
}

static int step_stat(struct op *op)
{
	int ret = fs_file_stat(op->file, &op->st);

	return ret == -EAGAIN ? -EAGAIN : op_end(op, ret);
}

static int step_exists(struct op *op)
{
	int ret = fs_file_exists(op->file);

	return ret == -EAGAIN ? -EAGAIN : op_end(op, ret);
}

static int step_meta(struct op *op)
{
	int ret = fs_file_get_metadata(op->file, "idx", &op->md);

	return ret == -EAGAIN ? -EAGAIN : op_end(op, ret);
}

static int step_delete(struct op *op)
{
	int ret = fs_file_delete(op->file);

	return ret == -EAGAIN ? -EAGAIN : op_end(op, ret);
}

static int step_copy(struct op *op)
{
	int ret = fs_copy(op->src, op->file);

	return ret == -EAGAIN ? -EAGAIN : op_end(op, ret);
}

static int step_rename(struct op *op)
{
	int ret = fs_rename(op->src, op->file);

	return ret == -EAGAIN ? -EAGAIN : op_end(op, ret);
}

static int step_iter(struct op *op)
{
	const char *key;
	int ret = fs_iter_next(op->iter, &key);

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret == 1) {
		strv_add(&op->keys, key);
		return 1;
	}
	return op_end(op, ret);
}

/* Zeroes op but keeps its buffer. */
static void op_clear(struct op *op)
{
	unsigned char *buf = op->buf;

	memset(op, 0, sizeof(*op));
	op->buf = buf;
}

/* Opens op's file on key with mode | ASYNC. */
static void op_open(struct op *op, struct fs *fs, const char *key,
		    unsigned int mode, step_fn *step)
{
	unsigned char *buf = op->buf;
	int ret;

	memset(op, 0, sizeof(*op));
	op->buf = buf != NULL ? buf : malloc(BUF_SIZE);
	assert_non_null(op->buf);
	op->step = step;
	op->chunk = 16 * KIB;
	ret = fs_file_init(fs, key, mode | FS_OPEN_FLAG_ASYNC, &op->file);
	if (ret < 0)
		fail_msg("open %s: %s", key, fs_last_error(fs));
	fs_file_set_callback(op->file, op_callback, op);
}

static void ops_close(struct op *ops, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		fs_file_deinit(&ops[i].file);
		fs_file_deinit(&ops[i].src);
		if (ops[i].iter != NULL)
			fs_iter_deinit(&ops[i].iter);
		strv_clear(&ops[i].keys);
	}
}

static void ops_free(struct op *ops, size_t count)
{
	size_t i;

	ops_close(ops, count);
	for (i = 0; i < count; i++)
		free(ops[i].buf);
	free(ops);
}

static void ops_expect(struct op *ops, size_t count, int expected)
{
	size_t i;

	for (i = 0; i < count; i++) {
		if (ops[i].ret != expected)
			fail_msg("op %zu on %s: %d (%s), expected %d", i,
				 fs_file_key(ops[i].file), ops[i].ret,
				 fs_file_last_error(ops[i].file), expected);
		assert_false(ops[i].mismatch);
	}
}

/* One operation, driven to its result with fs_wait_async(). */
#define ASYNC_CALL(fs, ret, expr)                                              \
	do {                                                                   \
		while (((ret) = (expr)) == -EAGAIN)                            \
			wait_progress(fs);                                     \
	} while (0)

static struct op *ops_new(size_t count)
{
	struct op *ops = calloc(count, sizeof(*ops));

	assert_non_null(ops);
	return ops;
}

/* ------------------------------------------------------------------------ */
/* Threads and capabilities                                                   */

static void threads_run_stats(struct fs *fs, const char *key, size_t count)
{
	struct op *ops = ops_new(count);
	size_t i;

	for (i = 0; i < count; i++)
		op_open(&ops[i], fs, key, FS_OPEN_READ, step_stat);
	run_ops(fs, ops, count);
	ops_expect(ops, count, 0);
	ops_free(ops, count);
}

static void test_threads(void **state)
{
	struct env *env = *state;
	unsigned int base = count_threads();
	struct fs_file *file;
	const char *error;
	char buf[16];
	struct fs *fs;
	int ret;

	assert_true((fs_get_caps(env->fs) & FS_CAP_ASYNC) != 0);
	/* started lazily, at the first asynchronous request */
	put_gen(env->fs, "t", 1, 10);
	assert_threads(base, base);
	/* nothing in flight: the driver's wait returns at once */
	assert_int_equal(env->fs->driver->v.wait_async(env->fs, -1), 0);
	threads_run_stats(env->fs, "t", 16);
	assert_threads(base + 1, base + 4);
	assert_int_equal(env->fs->driver->v.wait_async(env->fs, -1), 0);
	fs_deinit(&env->fs);
	assert_threads(base, base); /* joined */

	setenv("LIBFS_POSIX_THREADS", "2", 1);
	fs = open_fs(env->spec);
	threads_run_stats(fs, "t", 16);
	assert_threads(base + 1, base + 2);
	fs_deinit(&fs);

	/* 0: everything at once on this thread, and no FS_CAP_ASYNC */
	setenv("LIBFS_POSIX_THREADS", "0", 1);
	fs = open_fs(env->spec);
	assert_int_equal(fs_get_caps(fs) & FS_CAP_ASYNC, 0);
	assert_int_equal(
		fs_file_init(fs, "t", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 10);
	assert_int_equal(gen_mismatch(1, 0, (unsigned char *)buf, 10), -1);
	fs_file_deinit(&file);
	assert_threads(base, base);
	fs_deinit(&fs);

	setenv("LIBFS_POSIX_THREADS", "lots", 1);
	ret = fs_init(env->spec, NULL, &fs, &error);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(error, "LIBFS_POSIX_THREADS='lots'"));
	setenv("LIBFS_POSIX_THREADS", "65", 1);
	assert_int_equal(fs_init(env->spec, NULL, &fs, &error), -EINVAL);
	unsetenv("LIBFS_POSIX_THREADS");
	env->fs = open_fs(env->spec);
}

/* ------------------------------------------------------------------------ */
/* Many operations in flight                                                  */

static uint64_t many_size(unsigned int i)
{
	static const uint64_t special[] = {0, 1, 128 * KIB, 128 * KIB + 1,
					   MIB + 3};

	if (i < sizeof(special) / sizeof(special[0]))
		return special[i];
	return (i * 7919u) % (70 * KIB);
}

static void many_key(char *buf, size_t size, const char *what, unsigned int i)
{
	snprintf(buf, size, "%s/%u/msg%02u", what, i % 4, i);
}

static void many_write(struct fs *fs, struct op *ops)
{
	char key[64], idx[16];
	unsigned int i;
	size_t max;

	for (i = 0; i < MANY; i++) {
		many_key(key, sizeof(key), "m", i);
		op_open(&ops[i], fs, key, FS_OPEN_CREATE, step_write);
		ops[i].seed = 100 + i;
		ops[i].size = many_size(i);
		/* odd pieces, and some larger than a whole write buffer */
		ops[i].chunk = i % 8 == 0 ? 200 * KIB : 1000 + i * 517;
		snprintf(idx, sizeof(idx), "%u", i);
		assert_int_equal(fs_file_set_metadata(ops[i].file, "idx", idx),
				 0);
	}
	max = run_ops(fs, ops, MANY);
	print_message("[  INFO    ] writes: up to %zu in flight at once\n",
		      max);
	assert_true(max >= 2);
	ops_expect(ops, MANY, 0);
	ops_close(ops, MANY);
}

/* Half by fs_read() in odd chunks, half by fs_read_all(). */
static void many_read(struct fs *fs, struct op *ops)
{
	char key[64];
	unsigned int i;

	for (i = 0; i < MANY; i++) {
		many_key(key, sizeof(key), "m", i);
		op_open(&ops[i], fs, key, FS_OPEN_READ,
			i % 2 ? step_read : step_read_all);
		ops[i].seed = 100 + i;
		ops[i].chunk = i % 3 == 0 ? BUF_SIZE : 3000 + i * 311;
	}
	assert_true(run_ops(fs, ops, MANY) >= 2);
	ops_expect(ops, MANY, 0);
	for (i = 0; i < MANY; i++)
		assert_int_equal(ops[i].pos, many_size(i));
	ops_close(ops, MANY);
}

/* Range reads give what the blocking path gives. */
static void many_ranges(struct fs *fs, struct op *ops)
{
	static const uint64_t ranges[][2] = {{0, 1},
					     {100, 5000},
					     {128 * KIB - 1, 2},
					     {MIB, UINT64_MAX},
					     {MIB + 3, 10},
					     {5, 0}};
	unsigned int i, n = sizeof(ranges) / sizeof(ranges[0]);
	uint64_t want;
	char key[64];

	many_key(key, sizeof(key), "m", 4); /* MIB + 3 bytes */
	for (i = 0; i < n; i++) {
		op_open(&ops[i], fs, key, FS_OPEN_READ, step_read);
		ops[i].seed = 104;
		ops[i].pos = ranges[i][0];
		ops[i].chunk = 7777;
		assert_int_equal(fs_file_set_range(ops[i].file, ranges[i][0],
						   ranges[i][1]),
				 0);
	}
	run_ops(fs, ops, n);
	ops_expect(ops, n, 0);
	for (i = 0; i < n; i++) {
		want = MIB + 3 - ranges[i][0];
		if (ranges[i][1] < want)
			want = ranges[i][1];
		assert_int_equal(ops[i].pos - ranges[i][0], want);
	}
	ops_close(ops, n);
}

static void many_stat(struct fs *fs, struct op *ops)
{
	struct fs_file *file;
	struct fs_stat st;
	char key[64], idx[16];
	unsigned int i;

	for (i = 0; i < MANY; i++) {
		many_key(key, sizeof(key), "m", i);
		op_open(&ops[i], fs, key, FS_OPEN_READ, step_stat);
	}
	run_ops(fs, ops, MANY);
	ops_expect(ops, MANY, 0);
	for (i = 0; i < MANY; i++) {
		assert_int_equal(fs_file_init(fs, fs_file_key(ops[i].file),
					      FS_OPEN_READ, &file),
				 0);
		assert_int_equal(fs_file_stat(file, &st), 0);
		assert_int_equal(ops[i].st.valid, st.valid);
		assert_int_equal(ops[i].st.size, many_size(i));
		assert_int_equal(ops[i].st.size, st.size);
		assert_true(ops[i].st.mtime_ns == st.mtime_ns);
		assert_string_equal(ops[i].st.etag, st.etag);
		fs_file_deinit(&file);
	}
	ops_close(ops, MANY);

	for (i = 0; i < MANY; i++) {
		many_key(key, sizeof(key), "m", i);
		op_open(&ops[i], fs, key, FS_OPEN_READ,
			i % 2 ? step_exists : step_meta);
	}
	run_ops(fs, ops, MANY);
	for (i = 0; i < MANY; i++) {
		snprintf(idx, sizeof(idx), "%u", i);
		assert_int_equal(ops[i].ret, 1);
		if (i % 2 == 0)
			assert_string_equal(ops[i].md, idx);
	}
	ops_close(ops, MANY);
}

/* Copies of 8 messages, then renames of the copies. */
static void many_copy_rename(struct fs *fs, struct op *ops)
{
	char key[64], dst[64];
	unsigned int i;

	for (i = 0; i < 8; i++) {
		many_key(key, sizeof(key), "m", i);
		many_key(dst, sizeof(dst), "c", i);
		op_open(&ops[i], fs, dst, FS_OPEN_CREATE, step_copy);
		assert_int_equal(fs_file_init(fs, key,
					      FS_OPEN_READ | FS_OPEN_FLAG_ASYNC,
					      &ops[i].src),
				 0);
	}
	run_ops(fs, ops, 8);
	ops_expect(ops, 8, 0);
	ops_close(ops, 8);
	for (i = 0; i < 8; i++) {
		many_key(key, sizeof(key), "c", i);
		many_key(dst, sizeof(dst), "r", i);
		op_open(&ops[i], fs, dst, FS_OPEN_REPLACE, step_rename);
		assert_int_equal(
			fs_file_init(fs, key, FS_OPEN_READ, &ops[i].src), 0);
	}
	run_ops(fs, ops, 8);
	ops_expect(ops, 8, 0);
	ops_close(ops, 8);
	for (i = 0; i < 8; i++) {
		many_key(key, sizeof(key), "c", i);
		expect_gen(fs, key, 0, -1);
		many_key(key, sizeof(key), "r", i);
		expect_gen(fs, key, 100 + i, (long)many_size(i));
	}
}

static void many_list(struct fs *fs, struct op *ops, const char *prefix,
		      unsigned int flags)
{
	struct strv want = {0};

	op_clear(&ops[0]);
	ops[0].step = step_iter;
	assert_int_equal(fs_iter_init(fs, prefix, flags | FS_ITER_FLAG_ASYNC,
				      &ops[0].iter),
			 0);
	fs_iter_set_callback(ops[0].iter, op_callback, &ops[0]);
	run_ops(fs, ops, 1);
	assert_int_equal(ops[0].ret, 0);
	assert_int_equal(fs_iter_deinit(&ops[0].iter), 0);
	list_blocking(fs, prefix, flags, &want);
	strv_expect(&ops[0].keys, &want);
	strv_clear(&want);
	strv_clear(&ops[0].keys);
}

static void many_delete(struct fs *fs, struct op *ops, const char *what,
			unsigned int count)
{
	char key[64];
	unsigned int i;

	for (i = 0; i < count; i++) {
		many_key(key, sizeof(key), what, i);
		op_open(&ops[i], fs, key, FS_OPEN_READ, step_delete);
	}
	run_ops(fs, ops, count);
	ops_expect(ops, count, 0);
	ops_close(ops, count);
	for (i = 0; i < count; i++) {
		many_key(key, sizeof(key), what, i);
		op_open(&ops[i], fs, key, FS_OPEN_READ, step_exists);
	}
	run_ops(fs, ops, count);
	ops_expect(ops, count, 0);
	ops_close(ops, count);
}

static void test_many_in_flight(void **state)
{
	struct env *env = *state;
	struct op *ops = ops_new(MANY);
	char key[64];
	unsigned int i;

	cb_total = cb_outside = 0;
	many_write(env->fs, ops);
	/* the blocking path reads exactly what the workers wrote */
	for (i = 0; i < MANY; i++) {
		many_key(key, sizeof(key), "m", i);
		expect_gen(env->fs, key, 100 + i, (long)many_size(i));
	}
	many_read(env->fs, ops);
	many_ranges(env->fs, ops);
	many_stat(env->fs, ops);
	many_copy_rename(env->fs, ops);
	many_list(env->fs, ops, "", 0);
	many_list(env->fs, ops, "", FS_ITER_FLAG_ONE_LEVEL);
	many_list(env->fs, ops, "m/1/", 0);
	many_list(env->fs, ops, "m/1/msg1", 0);
	many_list(env->fs, ops, "nothing/", 0);
	many_delete(env->fs, ops, "m", MANY);
	many_delete(env->fs, ops, "r", 8);
	ops_free(ops, MANY);

	assert_int_equal(cb_outside, 0);
	assert_true(cb_total > MANY);
	assert_int_equal(fs_async_pending(env->fs), 0);
	assert_int_equal(fs_wait_async(env->fs, 0), 0);
	assert_no_temp_files(env->dir);
}

/* Appends and FSYNC writes go through the workers as well. */
static void test_append_fsync(void **state)
{
	struct env *env = *state;
	struct fs_file *file;
	struct op op = {0};
	unsigned char buf[3000];
	unsigned int i;
	int ret;

	cb_total = cb_outside = 0;
	gen(7, 0, buf, sizeof(buf));
	for (i = 0; i < 3; i++) {
		assert_int_equal(fs_file_init(env->fs, "ap/log",
					      FS_OPEN_APPEND |
						      FS_OPEN_FLAG_FSYNC |
						      FS_OPEN_FLAG_ASYNC,
					      &file),
				 0);
		fs_file_set_callback(file, op_callback, &op);
		ASYNC_CALL(env->fs, ret,
			   fs_write_all(file, buf + i * 1000, 1000));
		assert_int_equal(ret, 0);
		fs_file_deinit(&file);
	}
	expect_gen(env->fs, "ap/log", 7, sizeof(buf));
	assert_int_equal(cb_outside, 0);
}

/* ------------------------------------------------------------------------ */
/* Listings over several pages                                                */

static void test_list_pages(void **state)
{
	struct env *env = *state;
	struct op *ops = ops_new(MANY);
	unsigned int i, n, total = 2300;
	struct strv want = {0};
	char key[64];
	const char *k;
	int ret;

	/* 1100 keys in one directory (more than a page), 1200 in 12 */
	for (i = 0; i < total; i += n) {
		for (n = 0; n < MANY && i + n < total; n++) {
			if (i + n < 1100)
				snprintf(key, sizeof(key), "q/k%04u", i + n);
			else
				snprintf(key, sizeof(key), "p/%02u/k%04u",
					 (i + n) % 12, i + n);
			op_open(&ops[n], env->fs, key, FS_OPEN_CREATE,
				step_write);
			ops[n].size = 1;
		}
		run_ops(env->fs, ops, n);
		ops_expect(ops, n, 0);
		ops_close(ops, n);
	}
	many_list(env->fs, ops, "", 0);
	many_list(env->fs, ops, "", FS_ITER_FLAG_ONE_LEVEL);
	many_list(env->fs, ops, "p/", FS_ITER_FLAG_ONE_LEVEL);
	many_list(env->fs, ops, "q/k05", 0);
	list_blocking(env->fs, "", 0, &want);
	assert_int_equal(want.count, total);
	strv_clear(&want);

	/* freed in the middle, with the next page being listed: no
	   callback after */
	cb_total = 0;
	op_clear(&ops[0]);
	assert_int_equal(
		fs_iter_init(env->fs, "", FS_ITER_FLAG_ASYNC, &ops[0].iter), 0);
	fs_iter_set_callback(ops[0].iter, op_callback, &ops[0]);
	for (n = 0; n < 1500;) {
		ret = fs_iter_next(ops[0].iter, &k);
		if (ret == -EAGAIN) {
			wait_progress(env->fs);
			continue;
		}
		assert_int_equal(ret, 1);
		n++;
	}
	i = cb_total;
	assert_int_equal(fs_iter_deinit(&ops[0].iter), 0);
	assert_int_equal(fs_wait_async(env->fs, 50), 0);
	assert_int_equal(cb_total, i);
	ops_free(ops, MANY);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */

/* Runs fn on key opened blocking, then ASYNC: same result, same message. */
typedef int file_fn(struct fs *fs, struct fs_file *file);

static int fn_read(struct fs *fs, struct fs_file *file)
{
	char buf[100];
	int ret;

	ASYNC_CALL(fs, ret, (int)fs_read(file, buf, sizeof(buf)));
	return ret;
}

static int fn_read_all(struct fs *fs, struct fs_file *file)
{
	void *data = NULL;
	size_t size;
	int ret;

	ASYNC_CALL(fs, ret, fs_read_all(file, &data, &size));
	free(data);
	return ret;
}

static int fn_stat(struct fs *fs, struct fs_file *file)
{
	struct fs_stat st;
	int ret;

	ASYNC_CALL(fs, ret, fs_file_stat(file, &st));
	return ret;
}

static int fn_exists(struct fs *fs, struct fs_file *file)
{
	int ret;

	ASYNC_CALL(fs, ret, fs_file_exists(file));
	return ret;
}

static int fn_meta(struct fs *fs, struct fs_file *file)
{
	const struct fs_metadata *md;
	int ret;

	ASYNC_CALL(fs, ret, fs_file_get_metadata_all(file, &md));
	return ret;
}

static int fn_delete(struct fs *fs, struct fs_file *file)
{
	int ret;

	ASYNC_CALL(fs, ret, fs_file_delete(file));
	return ret;
}

static int fn_write(struct fs *fs, struct fs_file *file)
{
	int ret;

	ASYNC_CALL(fs, ret, fs_write_all(file, "data", 4));
	return ret;
}

static int fn_copy_missing(struct fs *fs, struct fs_file *file)
{
	struct fs_file *src;
	int ret;

	assert_int_equal(fs_file_init(fs, "missing", FS_OPEN_READ, &src), 0);
	ASYNC_CALL(fs, ret, fs_copy(src, file));
	fs_file_deinit(&src);
	return ret;
}

static int fn_rename_obj(struct fs *fs, struct fs_file *file)
{
	struct fs_file *src;
	int ret;

	assert_int_equal(fs_file_init(fs, "obj2", FS_OPEN_READ, &src), 0);
	ASYNC_CALL(fs, ret, fs_rename(src, file));
	fs_file_deinit(&src);
	return ret;
}

static void same_error(struct fs *fs, const char *key, unsigned int mode,
		       file_fn *fn, int expected, const char *needle)
{
	struct fs_file *file;
	char *msg;
	int ret;

	assert_int_equal(fs_file_init(fs, key, mode, &file), 0);
	ret = fn(fs, file);
	assert_int_equal(ret, expected);
	msg = strdup(fs_file_last_error(file));
	fs_file_deinit(&file);

	assert_int_equal(
		fs_file_init(fs, key, mode | FS_OPEN_FLAG_ASYNC, &file), 0);
	fs_file_set_callback(file, op_callback, &(struct op){0});
	ret = fn(fs, file);
	if (ret != expected)
		fail_msg("async on %s: %d %s, expected %d", key, ret,
			 fs_file_last_error(file), expected);
	if (expected < 0) {
		assert_string_equal(fs_file_last_error(file), msg);
		if (strstr(msg, needle) == NULL)
			fail_msg("'%s' does not say '%s'", msg, needle);
	}
	fs_file_deinit(&file);
	free(msg);
}

static void iter_same_error(struct fs *fs, const char *prefix, int expected,
			    const char *needle)
{
	struct fs_iter *iter;
	const char *key;
	char *msg;
	int ret;

	assert_int_equal(fs_iter_init(fs, prefix, 0, &iter), 0);
	assert_int_equal(fs_iter_next(iter, &key), expected);
	msg = strdup(fs_iter_last_error(iter));
	assert_int_equal(fs_iter_deinit(&iter), expected);
	assert_int_equal(fs_iter_init(fs, prefix, FS_ITER_FLAG_ASYNC, &iter),
			 0);
	fs_iter_set_callback(iter, op_callback, &(struct op){0});
	ASYNC_CALL(fs, ret, fs_iter_next(iter, &key));
	assert_int_equal(ret, expected);
	assert_string_equal(fs_iter_last_error(iter), msg);
	assert_non_null(strstr(msg, needle));
	assert_int_equal(fs_iter_deinit(&iter), expected);
	free(msg);
}

static void test_errors(void **state)
{
	struct env *env = *state;
	struct fs *fs = env->fs;
	char path[512];

	put_gen(fs, "obj", 1, 100);
	put_gen(fs, "obj2", 2, 100);
	snprintf(path, sizeof(path), "%s/lnk", env->dir);
	assert_int_equal(symlink("obj", path), 0);
	snprintf(path, sizeof(path), "%s/outside", env->dir);
	assert_int_equal(symlink("/tmp", path), 0);

	same_error(fs, "missing", FS_OPEN_READ, fn_read, -ENOENT,
		   "no such object");
	same_error(fs, "missing", FS_OPEN_READ, fn_read_all, -ENOENT,
		   "no such object");
	same_error(fs, "d/missing", FS_OPEN_READ, fn_stat, -ENOENT,
		   "no such object");
	same_error(fs, "missing", FS_OPEN_READ, fn_exists, 0, "");
	same_error(fs, "missing", FS_OPEN_READ, fn_meta, -ENOENT,
		   "no such object");
	same_error(fs, "missing", FS_OPEN_READ, fn_delete, -ENOENT,
		   "no such object");
	same_error(fs, "obj", FS_OPEN_CREATE, fn_write, -EEXIST,
		   "the key exists");
	same_error(fs, "obj/child", FS_OPEN_CREATE, fn_write, -EEXIST,
		   "'obj' is an object, cannot hold 'obj/child'");
	same_error(fs, "lnk", FS_OPEN_READ, fn_read, -EACCES,
		   "refused to follow the symlink 'lnk'");
	same_error(fs, "outside/x", FS_OPEN_READ, fn_stat, -EACCES,
		   "refused to follow the symlink 'outside'");
	same_error(fs, "outside/x", FS_OPEN_REPLACE, fn_write, -EACCES,
		   "refused to follow the symlink 'outside'");
	same_error(fs, "lnk", FS_OPEN_REPLACE, fn_write, -EACCES,
		   "refused to follow the symlink 'lnk'");
	same_error(fs, "copy", FS_OPEN_CREATE, fn_copy_missing, -ENOENT,
		   "posix: copy 'missing': no such object");
	same_error(fs, "obj", FS_OPEN_CREATE, fn_rename_obj, -EEXIST,
		   "the key exists");
	iter_same_error(fs, "outside/", -EACCES,
			"refused to follow the symlink 'outside'");
	/* none of it changed anything */
	expect_gen(fs, "obj", 1, 100);
	expect_gen(fs, "obj2", 2, 100);
	expect_gen(fs, "copy", 0, -1);
	assert_no_temp_files(env->dir);
}

/* ------------------------------------------------------------------------ */
/* Cancellation                                                               */

/* Starts op's first step(s) so that a request is in flight. */
static void op_start(struct op *op, unsigned int steps)
{
	unsigned int i;
	int ret;

	for (i = 0; i < steps; i++) {
		ret = op->step(op);
		if (ret != 1)
			break;
	}
}

static void cancel_round(struct env *env, unsigned int round)
{
	struct op *ops = ops_new(48);
	unsigned int i, calls;
	char key[64];

	put_gen(env->fs, "big", 9, 600 * KIB);
	cb_total = 0;
	for (i = 0; i < 48; i++) {
		snprintf(key, sizeof(key), "cancel/%u/w%02u", round, i);
		switch (i % 4) {
		case 0: /* a chunk in flight, unfinished */
		case 1: /* finishing */
			op_open(&ops[i], env->fs, key, FS_OPEN_CREATE,
				step_write);
			ops[i].seed = 50 + i;
			ops[i].size = i % 4 == 0 ? 400 * KIB : 20 * KIB;
			ops[i].chunk = 200 * KIB;
			op_start(&ops[i], 4);
			break;
		case 2: /* reading, with the next chunk read ahead */
			op_open(&ops[i], env->fs, "big", FS_OPEN_READ,
				step_read);
			ops[i].seed = 9;
			ops[i].chunk = BUF_SIZE;
			op_start(&ops[i], 1 + i % 3);
			break;
		default:
			op_open(&ops[i], env->fs, "big", FS_OPEN_READ,
				step_stat);
			op_start(&ops[i], 1);
			break;
		}
		/* some done and reported, the last ones surely not */
		if (i % 12 == 5)
			(void)wait_in(env->fs, 0);
	}
	assert_true(fs_async_pending(env->fs) > 0);
	calls = cb_total;
	ops_free(ops, 48);
	/* nothing pending, no callback after the handles went */
	assert_int_equal(fs_async_pending(env->fs), 0);
	assert_int_equal(fs_wait_async(env->fs, 20), 0);
	assert_int_equal(cb_total, calls);
	for (i = 0; i < 48; i += 4) {
		/* an unfinished write leaves nothing; a cancelled finish
		   published all or nothing */
		snprintf(key, sizeof(key), "cancel/%u/w%02u", round, i);
		expect_gen(env->fs, key, 0, -1);
	}
	assert_no_temp_files(env->dir);
}

static void test_cancel(void **state)
{
	struct env *env = *state;
	struct fs_file *file;
	unsigned int round;
	char key[64];
	int ret;

	for (round = 0; round < 6; round++)
		cancel_round(env, round);
	/* the finishes either published the whole object or nothing */
	for (round = 0; round < 6; round++) {
		unsigned int i;

		for (i = 1; i < 48; i += 4) {
			snprintf(key, sizeof(key), "cancel/%u/w%02u", round, i);
			assert_int_equal(
				fs_file_init(env->fs, key, FS_OPEN_READ, &file),
				0);
			ret = fs_file_exists(file);
			fs_file_deinit(&file);
			assert_true(ret == 0 || ret == 1);
			if (ret == 1)
				expect_gen(env->fs, key, 50 + i, 20 * KIB);
		}
	}
}

/* A callback frees the other handles, whose requests may be done and
   waiting to be reported: they are not reported. */
struct killer {
	struct op ops[16];
	unsigned int first;
};

static struct killer *killer;

static void kill_callback(void *context)
{
	struct op *op = context;
	unsigned int i;

	op->callbacks++;
	op->waiting = false;
	if (killer->first != UINT32_MAX)
		return;
	killer->first = (unsigned int)(op - killer->ops);
	for (i = 0; i < 16; i++) {
		if (&killer->ops[i] != op)
			fs_file_deinit(&killer->ops[i].file);
	}
}

static void test_cancel_in_callback(void **state)
{
	struct env *env = *state;
	unsigned int i, total = 0;

	killer = calloc(1, sizeof(*killer));
	assert_non_null(killer);
	killer->first = UINT32_MAX;
	put_gen(env->fs, "obj", 3, 1000);
	for (i = 0; i < 16; i++) {
		op_open(&killer->ops[i], env->fs, "obj", FS_OPEN_READ,
			step_stat);
		fs_file_set_callback(killer->ops[i].file, kill_callback,
				     &killer->ops[i]);
		assert_int_equal(
			fs_file_stat(killer->ops[i].file, &killer->ops[i].st),
			-EAGAIN);
	}
	/* let all of them finish before any is reported */
	while (fs_async_pending(env->fs) > 0) {
		usleep(20000);
		assert_true(fs_wait_async(env->fs, 1000) >= 0);
	}
	for (i = 0; i < 16; i++)
		total += killer->ops[i].callbacks;
	assert_int_equal(total, 1);
	assert_int_equal(killer->ops[killer->first].callbacks, 1);
	assert_int_equal(fs_file_stat(killer->ops[killer->first].file,
				      &killer->ops[killer->first].st),
			 0);
	assert_int_equal(killer->ops[killer->first].st.size, 1000);
	ops_close(killer->ops, 16);
	for (i = 0; i < 16; i++)
		free(killer->ops[i].buf);
	free(killer);
}

/* fs_deinit() right after handles with requests in flight were freed. */
static void test_deinit_pending(void **state)
{
	struct env *env = *state;
	unsigned int base = count_threads(), i;
	struct op *ops = ops_new(32);
	char key[64];

	put_gen(env->fs, "big", 9, 600 * KIB);
	fs_deinit(&env->fs);
	env->fs = open_fs(env->spec);
	cb_total = 0;
	for (i = 0; i < 32; i++) {
		snprintf(key, sizeof(key), "dp/w%02u", i);
		if (i % 2 == 0) {
			op_open(&ops[i], env->fs, key, FS_OPEN_REPLACE,
				step_write);
			ops[i].size = 300 * KIB;
			ops[i].chunk = BUF_SIZE;
		} else {
			op_open(&ops[i], env->fs, "big", FS_OPEN_READ,
				step_read);
			ops[i].chunk = 1000;
		}
		op_start(&ops[i], 3);
	}
	assert_threads(base + 1, base + 4);
	ops_free(ops, 32);
	fs_deinit(&env->fs);
	assert_int_equal(cb_total, 0);
	assert_threads(base, base);
	env->fs = open_fs(env->spec);
	for (i = 0; i < 32; i += 2) {
		snprintf(key, sizeof(key), "dp/w%02u", i);
		expect_gen(env->fs, key, 0, -1);
	}
	assert_no_temp_files(env->dir);
}

/* ------------------------------------------------------------------------ */
/* Aborts and other operations on a file with a request in flight            */

static void test_abort_paths(void **state)
{
	struct env *env = *state;
	struct fs *fs = env->fs;
	unsigned char *buf = malloc(BUF_SIZE);
	struct op op = {0};
	struct fs_file *file;
	struct fs_stat st;
	uint64_t pos = 0;
	ssize_t n;
	int ret;

	assert_non_null(buf);
	put_gen(fs, "k", 5, 300 * KIB);
	gen(6, 0, buf, BUF_SIZE);

	/* abort with a chunk in flight: nothing left, the old object stays */
	assert_int_equal(fs_file_init(fs, "k",
				      FS_OPEN_REPLACE | FS_OPEN_FLAG_ASYNC,
				      &file),
			 0);
	fs_file_set_callback(file, op_callback, &op);
	assert_int_equal(fs_write(file, buf, BUF_SIZE), 128 * KIB);
	fs_write_abort(file);
	assert_int_equal(fs_write(file, buf, 10), -EINVAL);
	fs_file_deinit(&file);
	expect_gen(fs, "k", 5, 300 * KIB);
	assert_no_temp_files(env->dir);

	/* a stat waiting for the chunk's slot, then the write aborted: the
	   stat still completes, inside fs_wait_async() */
	cb_total = cb_outside = 0;
	assert_int_equal(fs_file_init(fs, "k",
				      FS_OPEN_REPLACE | FS_OPEN_FLAG_ASYNC,
				      &file),
			 0);
	fs_file_set_callback(file, op_callback, &op);
	assert_int_equal(fs_write(file, buf, BUF_SIZE), 128 * KIB);
	ret = fs_file_stat(file, &st);
	if (ret == -EAGAIN) {
		fs_write_abort(file);
		ASYNC_CALL(fs, ret, fs_file_stat(file, &st));
	}
	assert_int_equal(ret, 0);
	assert_int_equal(st.size, 300 * KIB);
	assert_int_equal(cb_outside, 0);
	fs_file_deinit(&file);
	expect_gen(fs, "k", 5, 300 * KIB);

	/* a stat while the next chunk is read ahead; reading goes on */
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	fs_file_set_callback(file, op_callback, &op);
	for (;;) {
		ASYNC_CALL(fs, n, fs_read(file, buf, BUF_SIZE));
		if (n <= 0)
			break;
		assert_int_equal(gen_mismatch(5, pos, buf, (size_t)n), -1);
		pos += (uint64_t)n;
		ASYNC_CALL(fs, ret, fs_file_stat(file, &st));
		assert_int_equal(ret, 0);
		assert_int_equal(st.size, 300 * KIB);
	}
	assert_int_equal(n, 0);
	assert_int_equal(pos, 300 * KIB);
	fs_file_deinit(&file);

	/* -EBUSY while a request of another operation is pending */
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	fs_file_set_callback(file, op_callback, &op);
	assert_int_equal(fs_file_stat(file, &st), -EAGAIN);
	assert_int_equal(fs_file_exists(file), -EBUSY);
	assert_int_equal(fs_wait_async(fs, 0) >= 0, 1);
	ASYNC_CALL(fs, ret, fs_file_stat(file, &st));
	assert_int_equal(ret, 0);
	fs_file_deinit(&file);

	/* an abort while the finish is pending: all or nothing */
	assert_int_equal(fs_file_init(fs, "k2",
				      FS_OPEN_CREATE | FS_OPEN_FLAG_ASYNC,
				      &file),
			 0);
	fs_file_set_callback(file, op_callback, &op);
	gen(6, 0, buf, 1000);
	assert_int_equal(fs_write(file, buf, 1000), 1000);
	assert_int_equal(fs_write_finish(file), -EAGAIN);
	fs_write_abort(file);
	fs_file_deinit(&file);
	assert_int_equal(fs_wait_async(fs, 20), 0);
	assert_int_equal(fs_file_init(fs, "k2", FS_OPEN_READ, &file), 0);
	ret = fs_file_exists(file);
	fs_file_deinit(&file);
	if (ret == 1)
		expect_gen(fs, "k2", 6, 1000);
	assert_no_temp_files(env->dir);
	free(buf);
}

/* ------------------------------------------------------------------------ */
/* Faults                                                                     */

#define FAULT_FILES 24

static uint64_t fault_size(unsigned int i)
{
	return i % 6 == 0 ? 300 * KIB + i : (i * 4099u) % (40 * KIB);
}

/* Writes through the faults layer: what succeeded is there whole, what
   failed is whole or absent (a failure "after"), never partial. */
static void faults_write(struct env *env, struct fs *fs, struct fs *child,
			 struct op *ops, unsigned int seed)
{
	unsigned int i, ok = 0;
	char key[64];

	for (i = 0; i < FAULT_FILES; i++) {
		snprintf(key, sizeof(key), "f/%u/k%02u", i % 3, i);
		op_open(&ops[i], fs, key, FS_OPEN_REPLACE, step_write);
		ops[i].seed = seed * 100 + i;
		ops[i].size = fault_size(i);
		ops[i].chunk = 7000 + i * 1000;
	}
	run_ops(fs, ops, FAULT_FILES);
	for (i = 0; i < FAULT_FILES; i++) {
		struct fs_file *file;
		int ret;

		snprintf(key, sizeof(key), "f/%u/k%02u", i % 3, i);
		if (ops[i].ret == 0) {
			ok++;
			expect_gen(child, key, seed * 100 + i,
				   (long)fault_size(i));
			continue;
		}
		assert_true(ops[i].ret < 0);
		assert_true(fs_file_last_error(ops[i].file)[0] != '\0');
		assert_int_equal(fs_file_init(child, key, FS_OPEN_READ, &file),
				 0);
		ret = fs_file_exists(file);
		fs_file_deinit(&file);
		expect_gen(child, key, seed * 100 + i,
			   ret == 1 ? (long)fault_size(i) : -1);
	}
	ops_close(ops, FAULT_FILES);
	assert_true(ok > 0);
	assert_no_temp_files(env->dir);
}

/* Reads, stats and a listing through the faults layer: a success is
   right, a failure says why. */
static void faults_read(struct fs *fs, struct fs *child, struct op *ops,
			unsigned int seed)
{
	struct strv want = {0};
	unsigned int i;
	char key[64];

	for (i = 0; i < FAULT_FILES; i++) {
		snprintf(key, sizeof(key), "f/%u/k%02u", i % 3, i);
		op_open(&ops[i], fs, key, FS_OPEN_READ,
			i % 3 == 0   ? step_read
			: i % 3 == 1 ? step_read_all
				     : step_stat);
		ops[i].seed = seed * 100 + i;
		ops[i].chunk = 5000 + i * 700;
	}
	run_ops(fs, ops, FAULT_FILES);
	for (i = 0; i < FAULT_FILES; i++) {
		if (ops[i].ret < 0 && ops[i].ret != -ENOENT)
			assert_true(fs_file_last_error(ops[i].file)[0] != '\0');
		if (ops[i].ret == 0 && i % 3 != 2)
			assert_false(ops[i].mismatch);
	}
	ops_close(ops, FAULT_FILES);

	op_clear(&ops[0]);
	ops[0].step = step_iter;
	assert_int_equal(
		fs_iter_init(fs, "f/", FS_ITER_FLAG_ASYNC, &ops[0].iter), 0);
	fs_iter_set_callback(ops[0].iter, op_callback, &ops[0]);
	run_ops(fs, ops, 1);
	if (ops[0].ret == 0) {
		list_blocking(child, "f/", 0, &want);
		strv_expect(&ops[0].keys, &want);
		strv_clear(&want);
	} else {
		assert_true(fs_iter_last_error(ops[0].iter)[0] != '\0');
	}
	fs_iter_deinit(&ops[0].iter);
	strv_clear(&ops[0].keys);
}

static void test_faults_mix(void **state)
{
	struct env *env = *state;
	struct op *ops = ops_new(FAULT_FILES);
	uint64_t injected = 0;
	struct fs_stats stats;
	struct fs *fs, *child;
	unsigned int seed, seeds = 8;
	char spec[400];

	cb_total = cb_outside = 0;
	/* LIBFS_TEST_SEEDS=N runs more seeds than the quick default */
	if (getenv("LIBFS_TEST_SEEDS") != NULL)
		seeds = (unsigned int)strtoul(getenv("LIBFS_TEST_SEEDS"), NULL,
					      10);
	for (seed = 1; seed <= seeds; seed++) {
		snprintf(spec, sizeof(spec), "faults:seed=%u,all=10%%::%s",
			 seed, env->spec);
		fs = open_fs(spec);
		child = open_fs(env->spec);
		assert_true((fs_get_caps(fs) & FS_CAP_ASYNC) != 0);
		faults_write(env, fs, child, ops, seed);
		faults_read(fs, child, ops, seed);
		assert_int_equal(fs_stats_get(fs, 0, &stats), 0);
		injected += stats.faults_injected;
		assert_true(fs_delete_prefix(child, "f/") >= 0);
		assert_int_equal(fs_async_pending(fs), 0);
		fs_deinit(&fs);
		fs_deinit(&child);
	}
	ops_free(ops, FAULT_FILES);
	print_message("[  INFO    ] %" PRIu64 " faults injected\n", injected);
	assert_true(injected > 0);
	assert_int_equal(cb_outside, 0);
	assert_no_temp_files(env->dir);
}

/* ------------------------------------------------------------------------ */
/* Requests waiting for the worker                                            */

/* One worker, parked by an APPEND whose publish waits for the flock() this
   test holds: every other request stays queued meanwhile. */
static void test_queued(void **state)
{
	struct env *env = *state;
	unsigned char buf[128 * KIB];
	struct op w = {0}, w2 = {0}, app = {0}, r = {0};
	char path[512];
	int lock_fd, ret;
	struct fs *fs;

	setenv("LIBFS_POSIX_THREADS", "1", 1);
	fs = open_fs(env->spec);
	unsetenv("LIBFS_POSIX_THREADS");
	cb_total = cb_outside = 0;
	put_gen(fs, "held", 1, 10);
	put_gen(fs, "k", 2, 1000);
	put_gen(fs, "k2", 3, 2000);
	snprintf(path, sizeof(path), "%s/held", env->dir);
	lock_fd = open(path, O_RDONLY);
	assert_true(lock_fd >= 0);
	assert_int_equal(flock(lock_fd, LOCK_EX), 0);
	op_open(&app, fs, "held", FS_OPEN_APPEND, step_write);
	assert_int_equal(fs_write(app.file, "x", 1), 1);
	assert_int_equal(fs_write_finish(app.file), -EAGAIN);

	/* a stat waits for the slot of a queued chunk; the write is aborted:
	   the chunk is unqueued and the stat still gets its callback */
	gen(4, 0, buf, sizeof(buf));
	op_open(&w, fs, "k", FS_OPEN_REPLACE, step_stat);
	assert_int_equal(fs_write(w.file, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(fs_file_stat(w.file, &w.st), -EAGAIN);
	fs_write_abort(w.file);
	/* a queued stat on a file being written, then the write aborted: the
	   stat runs at once, its completion is still reported */
	op_open(&w2, fs, "k2", FS_OPEN_REPLACE, step_stat);
	assert_int_equal(fs_write(w2.file, buf, 100), 100);
	assert_int_equal(fs_file_stat(w2.file, &w2.st), -EAGAIN);
	fs_write_abort(w2.file);
	/* a queued read, freed */
	op_open(&r, fs, "k", FS_OPEN_READ, step_read);
	assert_int_equal(fs_read(r.file, r.buf, 100), -EAGAIN);
	fs_file_deinit(&r.file);
	assert_int_equal(fs_async_pending(fs), 3);
	assert_int_equal(cb_total, 0);

	assert_int_equal(flock(lock_fd, LOCK_UN), 0);
	close(lock_fd);
	ASYNC_CALL(fs, ret, fs_file_stat(w.file, &w.st));
	assert_int_equal(ret, 0);
	assert_int_equal(w.st.size, 1000);
	ASYNC_CALL(fs, ret, fs_file_stat(w2.file, &w2.st));
	assert_int_equal(ret, 0);
	assert_int_equal(w2.st.size, 2000);
	ASYNC_CALL(fs, ret, fs_write_finish(app.file));
	assert_int_equal(ret, 0);
	assert_int_equal(cb_outside, 0);
	ops_close(&app, 1);
	ops_close(&w, 1);
	ops_close(&w2, 1);
	ops_close(&r, 1);
	free(app.buf);
	free(w.buf);
	free(w2.buf);
	free(r.buf);
	assert_int_equal(fs_async_pending(fs), 0);
	fs_deinit(&fs);
	expect_gen(env->fs, "k", 2, 1000);
	expect_gen(env->fs, "k2", 3, 2000);
	assert_no_temp_files(env->dir);
}

/* A chunk written in the background fails (the file size limit): the
   error comes with the next call, with the blocking path's message. */
static void test_background_failure(void **state)
{
	struct env *env = *state;
	struct rlimit old, lim;
	struct fs_file *file;
	struct op *ops = ops_new(1);
	unsigned char *buf = malloc(400 * KIB);
	char *msg;

	assert_non_null(buf);
	gen(8, 0, buf, 400 * KIB);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 200 * KIB;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	assert_int_equal(fs_file_init(env->fs, "big", FS_OPEN_REPLACE, &file),
			 0);
	assert_int_equal(fs_write_all(file, buf, 400 * KIB), -EFBIG);
	msg = strdup(fs_file_last_error(file));
	fs_file_deinit(&file);

	op_open(&ops[0], env->fs, "big", FS_OPEN_REPLACE, step_write);
	ops[0].seed = 8;
	ops[0].size = 400 * KIB;
	ops[0].chunk = 50 * KIB;
	run_ops(env->fs, ops, 1);
	assert_int_equal(ops[0].ret, -EFBIG);
	assert_string_equal(fs_file_last_error(ops[0].file), msg);
	assert_non_null(strstr(msg, "posix: write 'big': write temporary "
				    "file"));
	ops_free(ops, 1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	free(msg);
	free(buf);
	expect_gen(env->fs, "big", 0, -1);
	assert_no_temp_files(env->dir);
}

/* No worker thread can be started: ASYNC operations run at once on the
   caller's thread, with the same results. */
static void test_no_worker(void **state)
{
	struct env *env = *state;
	struct op *ops = ops_new(8);
	unsigned int i, eagain = 0;
	char key[64];
	struct fs *fs;

	posix_spawn_fails = true;
	fs = open_fs(env->spec);
	for (i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "nw/k%u", i);
		op_open(&ops[i], fs, key, FS_OPEN_CREATE, step_write);
		ops[i].seed = 20 + i;
		ops[i].size = 100 * KIB * i + 1;
		ops[i].chunk = 70 * KIB;
	}
	run_ops(fs, ops, 8);
	ops_expect(ops, 8, 0);
	ops_close(ops, 8);
	for (i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "nw/k%u", i);
		op_open(&ops[i], fs, key, FS_OPEN_READ, step_read);
		ops[i].seed = 20 + i;
		ops[i].chunk = 50 * KIB;
	}
	run_ops(fs, ops, 8);
	ops_expect(ops, 8, 0);
	for (i = 0; i < 8; i++) {
		assert_int_equal(ops[i].pos, 100 * KIB * i + 1);
		eagain += ops[i].eagain;
	}
	ops_close(ops, 8);
	many_list(fs, ops, "nw/", 0);
	for (i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "nw/k%u", i);
		op_open(&ops[i], fs, key, FS_OPEN_READ, step_delete);
	}
	run_ops(fs, ops, 8);
	ops_expect(ops, 8, 0);
	for (i = 0; i < 8; i++)
		eagain += ops[i].eagain;
	ops_close(ops, 8);
	assert_int_equal(eagain, 0);
	ops_free(ops, 8);
	fs_deinit(&fs);
	posix_spawn_fails = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_append_fsync, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_list_pages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_in_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deinit_pending, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_abort_paths, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_background_failure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_worker, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_faults_mix, setup,
						teardown),
	};

	unsetenv("LIBFS_POSIX_THREADS");
	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
