/*
 * The asynchronous engine, over "mem:async" (every method answers -EAGAIN
 * first and completes in wait_async) and over small drivers defined here.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../drivers/mem/mem.h"
#include "fs-private.h"
#include "libfs/fs.h"

struct cb_state {
	unsigned int calls;
	/* set while fs_wait_async() runs: callbacks must come from inside */
	bool in_wait;
	bool called_outside;
};

static struct cb_state cb;

static void callback(void *context)
{
	struct cb_state *s = context;

	s->calls++;
	if (!s->in_wait)
		s->called_outside = true;
}

static int wait_all(struct fs *fs, int timeout_ms)
{
	int ret;

	cb.in_wait = true;
	ret = fs_wait_async(fs, timeout_ms);
	cb.in_wait = false;
	return ret;
}

static int setup(void **state)
{
	struct fs *fs;

	memset(&cb, 0, sizeof(cb));
	if (fs_init("mem:async", NULL, &fs, NULL) < 0)
		return -1;
	*state = fs;
	return 0;
}

static int teardown(void **state)
{
	struct fs *fs = *state;

	assert_false(cb.called_outside);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(fs->files_open, 0);
	assert_int_equal(fs->iters_open, 0);
	fs_deinit(&fs);
	return 0;
}

static struct fs_file *open_async(struct fs *fs, const char *key,
				  unsigned int mode)
{
	struct fs_file *file;

	assert_int_equal(
		fs_file_init(fs, key, mode | FS_OPEN_FLAG_ASYNC, &file), 0);
	fs_file_set_callback(file, callback, &cb);
	return file;
}

/* Blocking writes work over an asynchronous driver. */
static void put(struct fs *fs, const char *key, const char *data)
{
	struct fs_file *file;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "m", data), 0);
	assert_int_equal(fs_write_all(file, data, strlen(data)), 0);
	fs_file_deinit(&file);
}

static void test_caps(void **state)
{
	struct fs *fs = *state, *plain;

	assert_true((fs_get_caps(fs) & FS_CAP_ASYNC) != 0);
	assert_int_equal(fs_init("mem:", NULL, &plain, NULL), 0);
	assert_int_equal(fs_get_caps(plain) & FS_CAP_ASYNC, 0);
	fs_deinit(&plain);
}

static void test_read_steps(void **state)
{
	struct fs *fs = *state;
	struct fs_mem_counters c;
	struct fs_file *file;
	char buf[16];

	put(fs, "k", "hello");
	file = open_async(fs, "k", FS_OPEN_READ);
	fs_mem_reset_counters(fs);

	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(fs_async_pending(fs), 1);
	assert_int_equal(fs->async_pending, 1);
	assert_true(file->async_pending);
	assert_int_equal(file->op_pending, FS_OP_READ);
	assert_int_equal(cb.calls, 0);
	/* the same call again: -EAGAIN without bothering the driver */
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	assert_int_equal(c.read, 1);

	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(cb.calls, 1);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(file->op_pending, -1);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	/* the end takes another round trip */
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(wait_all(fs, 1000), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	assert_int_equal(cb.calls, 2);
	fs_file_deinit(&file);
}

static void test_busy(void **state)
{
	struct fs *fs = *state;
	struct fs_file *file;
	const struct fs_metadata *md;
	struct fs_stat st;
	char buf[16];

	put(fs, "k", "hello");
	file = open_async(fs, "k", FS_OPEN_READ);
	assert_int_equal(fs_file_stat(file, &st), -EAGAIN);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EBUSY);
	assert_non_null(strstr(fs_file_last_error(file), "in flight"));
	assert_int_equal(fs_file_exists(file), -EBUSY);
	assert_int_equal(fs_file_get_metadata_all(file, &md), -EBUSY);
	assert_int_equal(fs_file_delete(file), -EBUSY);
	/* the refusals did not disturb the stat */
	assert_int_equal(wait_all(fs, -1), 0);
	/* until its result is taken, other calls stay refused */
	assert_int_equal(fs_file_exists(file), -EBUSY);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, 5);
	assert_true((st.valid & FS_STAT_SIZE) != 0);
	/* and now the read is free to go; no sticky error from -EBUSY */
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 5);
	fs_file_deinit(&file);
}

static void test_every_op(void **state)
{
	struct fs *fs = *state;
	struct fs_file *file, *dst;
	const char *value;
	struct fs_stat st;

	put(fs, "src", "payload");
	file = open_async(fs, "src", FS_OPEN_READ);
	assert_int_equal(fs_file_exists(file), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_file_exists(file), 1);
	assert_int_equal(fs_file_get_metadata(file, "m", &value), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_file_get_metadata(file, "m", &value), 1);
	assert_string_equal(value, "payload");
	/* loaded once: no more round trips */
	assert_int_equal(fs_file_get_metadata(file, "x", &value), 0);

	dst = open_async(fs, "dst", FS_OPEN_CREATE);
	assert_int_equal(fs_copy(file, dst), -EAGAIN);
	assert_int_equal(fs_async_pending(fs), 1);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_copy(file, dst), 0);
	fs_file_deinit(&dst);
	dst = open_async(fs, "moved", FS_OPEN_CREATE);
	assert_int_equal(fs_rename(file, dst), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_rename(file, dst), 0);
	assert_int_equal(fs_file_stat(dst, &st), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_file_stat(dst, &st), 0);
	assert_int_equal(st.size, 7);
	assert_int_equal(fs_file_delete(dst), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_file_delete(dst), 0);
	assert_int_equal(fs_file_delete(dst), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_file_delete(dst), -ENOENT);
	fs_file_deinit(&dst);
	assert_int_equal(fs_file_exists(file), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_file_exists(file), 0);
	fs_file_deinit(&file);
	assert_int_equal(cb.calls, 8);
}

static void test_write_steps(void **state)
{
	struct fs *fs = *state;
	struct fs_file *file;
	void *data;
	size_t size;

	file = open_async(fs, "w", FS_OPEN_CREATE);
	assert_int_equal(fs_write(file, "abc", 3), -EAGAIN);
	assert_int_equal(fs_write_finish(file), -EBUSY);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_write(file, "abc", 3), 3);
	assert_int_equal(fs_write_finish(file), -EAGAIN);
	/* not visible before finish completes */
	assert_int_equal(fs_async_pending(fs), 1);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(fs_write_finish(file), 0);
	assert_int_equal(fs_write_finish(file), 0);
	fs_file_deinit(&file);

	/* fs_write_all keeps its offset across -EAGAIN */
	file = open_async(fs, "w2", FS_OPEN_CREATE);
	while (fs_write_all(file, "0123456789", 10) == -EAGAIN)
		assert_int_equal(wait_all(fs, -1), 0);
	fs_file_deinit(&file);

	/* fs_read_all keeps its buffer across -EAGAIN */
	file = open_async(fs, "w2", FS_OPEN_READ);
	while (fs_read_all(file, &data, &size) == -EAGAIN) {
		assert_null(data);
		assert_int_equal(wait_all(fs, -1), 0);
	}
	assert_int_equal(size, 10);
	assert_string_equal(data, "0123456789");
	free(data);
	fs_file_deinit(&file);
	assert_true(cb.calls >= 5);
}

/* Bigger than fs_read_all()'s first buffer: several -EAGAIN steps, the data
   read so far kept in between. */
static void test_read_all_big(void **state)
{
	struct fs *fs = *state;
	size_t size = 200 * 1024 + 3, got_size, i;
	unsigned int steps = 0;
	struct fs_file *file;
	char *data;
	void *got;
	int ret;

	data = malloc(size);
	for (i = 0; i < size; i++)
		data[i] = (char)('a' + i % 23);
	file = open_async(fs, "big", FS_OPEN_CREATE);
	while ((ret = fs_write_all(file, data, size)) == -EAGAIN) {
		assert_int_equal(wait_all(fs, -1), 0);
		steps++;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(steps, 2);
	fs_file_deinit(&file);

	steps = 0;
	file = open_async(fs, "big", FS_OPEN_READ);
	while ((ret = fs_read_all(file, &got, &got_size)) == -EAGAIN) {
		assert_null(got);
		assert_int_equal(wait_all(fs, -1), 0);
		steps++;
	}
	assert_int_equal(ret, 0);
	/* 64 KiB - 1, then 64 KiB, then 128 KiB buffers, then the end */
	assert_int_equal(steps, 4);
	assert_int_equal(got_size, size);
	assert_memory_equal(got, data, size);
	free(got);
	fs_file_deinit(&file);
	free(data);
}

static void test_wait_timeout_zero(void **state)
{
	struct fs *fs = *state;
	struct fs_file *f1, *f2;
	struct fs_stat st;

	put(fs, "k", "x");
	f1 = open_async(fs, "k", FS_OPEN_READ);
	f2 = open_async(fs, "k", FS_OPEN_READ);
	assert_int_equal(fs_file_stat(f1, &st), -EAGAIN);
	assert_int_equal(fs_file_exists(f2), -EAGAIN);
	assert_int_equal(fs_async_pending(fs), 2);
	/* one non-blocking round runs what is ready */
	assert_int_equal(wait_all(fs, 0), 0);
	assert_int_equal(cb.calls, 2);
	assert_int_equal(fs_file_stat(f1, &st), 0);
	assert_int_equal(fs_file_exists(f2), 1);
	assert_int_equal(wait_all(fs, 0), 0);
	fs_file_deinit(&f1);
	fs_file_deinit(&f2);
}

/* A callback that restarts its read: what it queues waits for the next
   round, so one fs_wait_async(fs, 0) does not loop forever. */
struct reader {
	struct fs_file *file;
	char buf[2];
	size_t got;
	bool eof;
};

static void reader_callback(void *context)
{
	struct reader *r = context;
	ssize_t ret;

	while ((ret = fs_read(r->file, r->buf, sizeof(r->buf))) > 0)
		r->got += (size_t)ret;
	if (ret == 0)
		r->eof = true;
	else
		assert_int_equal(ret, -EAGAIN);
}

static void test_callback_restarts(void **state)
{
	struct fs *fs = *state;
	struct reader r = {0};
	unsigned int rounds = 0;
	int ret;

	put(fs, "k", "0123456789");
	assert_int_equal(fs_file_init(fs, "k",
				      FS_OPEN_READ | FS_OPEN_FLAG_ASYNC,
				      &r.file),
			 0);
	fs_file_set_callback(r.file, reader_callback, &r);
	assert_int_equal(fs_read(r.file, r.buf, sizeof(r.buf)), -EAGAIN);
	while (!r.eof) {
		ret = fs_wait_async(fs, 0);
		assert_int_equal(ret, r.eof ? 0 : 1);
		assert_true(++rounds < 100);
	}
	assert_int_equal(r.got, 10);
	assert_int_equal(rounds, 6);
	fs_file_deinit(&r.file);
}

static void test_cancel_at_deinit(void **state)
{
	struct fs *fs = *state;
	struct fs_file *file;
	struct fs_stat st;
	char buf[4];

	put(fs, "k", "x");
	file = open_async(fs, "k", FS_OPEN_READ);
	assert_int_equal(fs_file_stat(file, &st), -EAGAIN);
	assert_int_equal(fs_async_pending(fs), 1);
	fs_file_deinit(&file);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(cb.calls, 0);

	file = open_async(fs, "k", FS_OPEN_READ);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), -EAGAIN);
	fs_file_deinit(&file);
	assert_int_equal(wait_all(fs, -1), 0);

	/* an abandoned write leaves nothing */
	file = open_async(fs, "new", FS_OPEN_CREATE);
	assert_int_equal(fs_write(file, "abc", 3), -EAGAIN);
	fs_write_abort(file);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(fs_write(file, "abc", 3), -EINVAL);
	fs_file_deinit(&file);
	file = open_async(fs, "new", FS_OPEN_CREATE);
	assert_int_equal(fs_write_finish(file), -EAGAIN);
	fs_file_deinit(&file);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(cb.calls, 0);
	assert_int_equal(fs_file_init(fs, "new", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_exists(file), 0);
	fs_file_deinit(&file);
}

/* Files opened without FS_OPEN_FLAG_ASYNC block over the same driver. */
static void test_blocking_files(void **state)
{
	struct fs *fs = *state;
	struct fs_file *file, *dst;
	struct fs_mem_counters c;
	const char *value;
	struct fs_stat st;
	void *data;
	size_t size;

	put(fs, "a", "blocking");
	fs_mem_reset_counters(fs);
	assert_int_equal(fs_file_init(fs, "a", FS_OPEN_READ, &file), 0);
	fs_file_set_callback(file, callback, &cb);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.size, 8);
	assert_int_equal(fs_file_exists(file), 1);
	assert_int_equal(fs_file_get_metadata(file, "m", &value), 1);
	assert_int_equal(fs_read_all(file, &data, &size), 0);
	assert_string_equal(data, "blocking");
	free(data);
	assert_int_equal(fs_file_init(fs, "b", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_copy(file, dst), 0);
	fs_file_deinit(&dst);
	assert_int_equal(fs_file_init(fs, "c", FS_OPEN_CREATE, &dst), 0);
	assert_int_equal(fs_rename(file, dst), 0);
	assert_int_equal(fs_file_delete(dst), 0);
	fs_file_deinit(&dst);
	fs_file_deinit(&file);
	/* each call went twice to the driver, no callback for blocking calls */
	assert_int_equal(fs_mem_get_counters(fs, &c), 0);
	assert_int_equal(c.stat, 2);
	assert_int_equal(c.exists, 2);
	assert_int_equal(c.copy, 2);
	assert_int_equal(c.rename, 2);
	assert_int_equal(c.objects, 1);
	assert_int_equal(cb.calls, 0);
	assert_int_equal(fs_async_pending(fs), 0);
}

static void test_iterators(void **state)
{
	struct fs *fs = *state;
	struct fs_iter *iter;
	const char *key;
	unsigned int n = 0;
	int ret;

	put(fs, "d/1", "1");
	put(fs, "d/2", "2");
	put(fs, "e", "3");
	assert_int_equal(fs_iter_init(fs, "d/", FS_ITER_FLAG_ASYNC, &iter), 0);
	fs_iter_set_callback(iter, callback, &cb);
	assert_int_equal(fs_iter_next(iter, &key), -EAGAIN);
	assert_null(key);
	assert_int_equal(fs_async_pending(fs), 1);
	assert_int_equal(fs_iter_next(iter, &key), -EAGAIN);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(cb.calls, 1);
	assert_int_equal(fs_iter_next(iter, &key), 1);
	assert_string_equal(key, "d/1");
	while ((ret = fs_iter_next(iter, &key)) != 0) {
		if (ret == -EAGAIN) {
			assert_int_equal(wait_all(fs, -1), 0);
			continue;
		}
		assert_int_equal(ret, 1);
		assert_string_equal(key, "d/2");
		n++;
	}
	assert_int_equal(n, 1);
	assert_int_equal(fs_iter_next(iter, &key), 0);
	assert_int_equal(fs_iter_deinit(&iter), 0);

	/* cancelled at deinit, callback not called */
	cb.calls = 0;
	assert_int_equal(fs_iter_init(fs, "", FS_ITER_FLAG_ASYNC, &iter), 0);
	fs_iter_set_callback(iter, callback, &cb);
	assert_int_equal(fs_iter_next(iter, &key), -EAGAIN);
	assert_int_equal(fs_iter_deinit(&iter), 0);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(wait_all(fs, -1), 0);
	assert_int_equal(cb.calls, 0);

	/* blocking iterators over the asynchronous driver */
	n = 0;
	assert_int_equal(fs_iter_init(fs, "", 0, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0)
		n++;
	assert_int_equal(ret, 0);
	assert_int_equal(n, 3);
	assert_int_equal(fs_iter_deinit(&iter), 0);
}

/* --- A driver whose stat stays pending, with and without wait_async --- */

static int stuck_stat(struct fs_file *file, struct fs_stat *st_r)
{
	return -EAGAIN;
}

static int stuck_wait(struct fs *fs, int timeout_ms)
{
	struct timespec ts = {0, 5 * 1000 * 1000};

	/* nothing ever completes; sleep a little like a real poll would */
	if (timeout_ms != 0)
		nanosleep(&ts, NULL);
	return 0;
}

static const struct fs_driver stuck_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "stuck",
	.fs_size = sizeof(struct fs),
	.file_size = sizeof(struct fs_file),
	.v =
		{
			.stat = stuck_stat,
			.wait_async = stuck_wait,
		},
};

static const struct fs_driver nowait_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "nowait",
	.fs_size = sizeof(struct fs),
	.file_size = sizeof(struct fs_file),
	.v =
		{
			.stat = stuck_stat,
		},
};

static void test_wait_timeout(void **state)
{
	struct fs_file *file;
	struct fs_stat st;
	uint64_t start;
	struct fs *fs;

	assert_int_equal(fs_init_layer(&stuck_driver, "", NULL, &fs), 0);
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	assert_int_equal(fs_file_stat(file, &st), -EAGAIN);
	start = fs_now_usec();
	assert_int_equal(fs_wait_async(fs, 50), 1);
	assert_true(fs_now_usec() - start >= 50 * 1000);
	assert_true(fs_now_usec() - start < 5000 * 1000);
	assert_int_equal(fs_wait_async(fs, 0), 1);
	fs_file_deinit(&file);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(fs_wait_async(fs, -1), 0);
	fs_deinit(&fs);
}

static void test_no_wait_async(void **state)
{
	struct fs_file *file;
	struct fs_stat st;
	struct fs *fs;

	assert_int_equal(fs_init_layer(&nowait_driver, "", NULL, &fs), 0);
	/* a blocking file cannot wait: -EIO with a message */
	assert_int_equal(fs_file_init(fs, "k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), -EIO);
	assert_non_null(strstr(fs_file_last_error(file), "no layer"));
	assert_int_equal(fs_async_pending(fs), 0);
	fs_file_deinit(&file);
	/* an async one gets -EAGAIN, then fs_wait_async() fails */
	assert_int_equal(
		fs_file_init(fs, "k", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &file),
		0);
	assert_int_equal(fs_file_stat(file, &st), -EAGAIN);
	assert_int_equal(fs_wait_async(fs, -1), -EIO);
	assert_int_equal(fs_async_pending(fs), 1);
	fs_file_deinit(&file);
	assert_int_equal(fs_wait_async(fs, -1), 0);
	fs_deinit(&fs);
}

/* fs_wait_async_any() returns once an operation progressed, even when a
   callback started another one; fs_wait_async() would run that one too. */
struct chain {
	struct fs_file *next;
	struct fs_stat st;
	int started;
	unsigned int calls;
};

static void chain_callback(void *context)
{
	struct chain *ch = context;

	ch->calls++;
	if (ch->next != NULL) {
		ch->started = fs_file_stat(ch->next, &ch->st);
		ch->next = NULL;
	}
}

static void test_wait_any(void **state)
{
	struct fs *fs = *state;
	struct fs_file *a, *b;
	struct fs_stat st;
	struct chain ch = {0};

	assert_int_equal(fs_wait_async_any(fs, -1), 0);
	assert_int_equal(
		fs_file_init(fs, "a", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &a),
		0);
	assert_int_equal(
		fs_file_init(fs, "b", FS_OPEN_READ | FS_OPEN_FLAG_ASYNC, &b),
		0);
	fs_file_set_callback(a, chain_callback, &ch);
	fs_file_set_callback(b, chain_callback, &ch);
	ch.next = b;
	assert_int_equal(fs_file_stat(a, &st), -EAGAIN);
	assert_int_equal(fs_async_pending(fs), 1);

	/* a progressed and its callback started b: one still pending */
	assert_int_equal(fs_wait_async_any(fs, -1), 1);
	assert_int_equal(ch.calls, 1);
	assert_int_equal(ch.started, -EAGAIN);
	assert_int_equal(fs_file_stat(a, &st), -ENOENT);

	assert_int_equal(fs_wait_async_any(fs, -1), 0);
	assert_int_equal(ch.calls, 2);
	assert_int_equal(fs_file_stat(b, &st), -ENOENT);
	fs_file_deinit(&a);
	fs_file_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_steps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_steps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_all_big, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_timeout_zero, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_callback_restarts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cancel_at_deinit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blocking_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_iterators, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_any, setup, teardown),
		cmocka_unit_test(test_wait_timeout),
		cmocka_unit_test(test_no_wait_async),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
