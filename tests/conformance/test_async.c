/*
 * Conformance: asynchronous use. 16 files in flight at once through
 * -EAGAIN, callbacks and fs_wait_async(), with results identical to the
 * blocking path. On stacks without FS_CAP_ASYNC the same code runs and the
 * operations just complete at once.
 */
#include "conformance.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ASYNC_FILES 16
#define ASYNC_COPIES 4
#define ASYNC_BUF (64 * 1024)

struct async_test {
	struct conf *c;
	struct conf_job jobs[ASYNC_FILES];
	const char *keys[ASYNC_FILES], *copies[ASYNC_COPIES];
	uint64_t sizes[ASYNC_FILES];
	unsigned int eagain;
};

static uint64_t async_size(unsigned int i)
{
	/* 0 bytes, small ones, several chunks, and one over 1 MiB. */
	if (i == ASYNC_FILES - 1)
		return CONF_MIB + 1;
	return (uint64_t)i * 37 * CONF_KIB + i * 3;
}

/* Opens one job per key with mode | ASYNC and the given step. */
static void jobs_open(struct async_test *t, const char *const *keys,
		      size_t count, unsigned int mode, conf_step_fn *step)
{
	size_t i;

	for (i = 0; i < count; i++) {
		struct conf_job *job = &t->jobs[i];
		unsigned char *buf = job->buf;

		memset(job, 0, sizeof(*job));
		job->c = t->c;
		job->buf = buf != NULL ? buf : conf_alloc(t->c, ASYNC_BUF);
		job->step = step;
		job->seed = 1000 + i;
		job->size = t->sizes[i];
		job->chunk = 16 * 1024 + i * 1000;
		job->file = conf_open(t->c, keys[i], mode | FS_OPEN_FLAG_ASYNC);
		fs_file_set_callback(job->file, conf_job_callback, job);
	}
}

static void jobs_close(struct async_test *t, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		t->eagain += t->jobs[i].eagain;
		conf_close(t->c, &t->jobs[i].file);
		conf_close(t->c, &t->jobs[i].src);
	}
}

/* Every job must have ended with expected. */
static void jobs_expect(struct async_test *t, size_t count, int expected,
			const char *what)
{
	size_t i;

	for (i = 0; i < count; i++) {
		struct conf_job *job = &t->jobs[i];

		if (job->ret != expected)
			print_error("async %s of %s: %d %s, expected %d %s: "
				    "%s\n",
				    what, fs_file_key(job->file), job->ret,
				    fs_errno_name(job->ret), expected,
				    fs_errno_name(expected),
				    fs_file_last_error(job->file));
		assert_int_equal(job->ret, expected);
		if (job->mismatch)
			CONF_FAIL("async %s of %s: content differs", what,
				  fs_file_key(job->file));
	}
}

static void async_write(struct async_test *t)
{
	char idx[16];
	size_t i;

	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_REPLACE, conf_step_write);
	for (i = 0; i < ASYNC_FILES; i++) {
		if ((t->c->caps & FS_CAP_METADATA) == 0)
			continue;
		snprintf(idx, sizeof(idx), "%zu", i);
		CHECK_FILE(fs_file_set_metadata(t->jobs[i].file, "idx", idx), 0,
			   t->jobs[i].file);
	}
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, 0, "write");
	jobs_close(t, ASYNC_FILES);
}

/* Half the files by fs_read(), half by fs_read_all(). */
static void async_read(struct async_test *t)
{
	size_t i;

	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_READ, conf_step_read);
	for (i = 0; i < ASYNC_FILES; i += 2)
		t->jobs[i].step = conf_step_read_all;
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, 0, "read");
	for (i = 0; i < ASYNC_FILES; i++) {
		if (t->jobs[i].pos != t->sizes[i])
			CONF_FAIL("async read of %s: %" PRIu64 " bytes, "
				  "expected %" PRIu64,
				  t->keys[i], t->jobs[i].pos, t->sizes[i]);
	}
	jobs_close(t, ASYNC_FILES);
}

static void async_stat(struct async_test *t)
{
	size_t i;

	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_READ, conf_step_stat);
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, 0, "stat");
	for (i = 0; i < ASYNC_FILES; i++)
		assert_int_equal(t->jobs[i].st.size, t->sizes[i]);
	jobs_close(t, ASYNC_FILES);

	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_READ, conf_step_exists);
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, 1, "exists");
	jobs_close(t, ASYNC_FILES);
}

static void async_metadata(struct async_test *t)
{
	char idx[16];
	size_t i;

	if ((t->c->caps & FS_CAP_METADATA) == 0)
		return;
	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_READ, conf_step_metadata);
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, 1, "get_metadata");
	for (i = 0; i < ASYNC_FILES; i++) {
		snprintf(idx, sizeof(idx), "%zu", i);
		assert_non_null(t->jobs[i].md_value);
		assert_string_equal(t->jobs[i].md_value, idx);
	}
	jobs_close(t, ASYNC_FILES);
}

static void async_copy(struct async_test *t)
{
	size_t i;

	jobs_open(t, t->copies, ASYNC_COPIES, FS_OPEN_CREATE, conf_step_copy);
	for (i = 0; i < ASYNC_COPIES; i++) {
		t->jobs[i].src = conf_open(t->c, t->keys[i + 8],
					   FS_OPEN_READ | FS_OPEN_FLAG_ASYNC);
		fs_file_set_callback(t->jobs[i].src, conf_job_callback,
				     &t->jobs[i]);
	}
	conf_jobs_run(t->c, t->jobs, ASYNC_COPIES);
	jobs_expect(t, ASYNC_COPIES, 0, "copy");
	jobs_close(t, ASYNC_COPIES);
	for (i = 0; i < ASYNC_COPIES; i++)
		conf_expect_gen(t->c, t->copies[i], 1000 + i + 8,
				t->sizes[i + 8]);
}

static void async_list(struct async_test *t)
{
	struct conf_strv expected = {0};
	struct conf_job *job = &t->jobs[0];
	size_t i;

	if ((t->c->caps & FS_CAP_ITER) == 0)
		return;
	memset(job, 0, sizeof(*job));
	job->c = t->c;
	job->step = conf_step_iter;
	job->iter = conf_iter_open(t->c, t->c->prefix, FS_ITER_FLAG_ASYNC);
	fs_iter_set_callback(job->iter, conf_job_callback, job);
	conf_jobs_run(t->c, job, 1);
	CHECK_ITER(job->ret, 0, job->iter);
	CHECK_ITER(conf_iter_close(t->c, &job->iter), 0, NULL);
	t->eagain += job->eagain;

	for (i = 0; i < ASYNC_FILES; i++)
		conf_strv_add(&expected, t->keys[i]);
	for (i = 0; i < ASYNC_COPIES; i++)
		conf_strv_add(&expected, t->copies[i]);
	conf_strv_sort_unique(&expected);
	conf_strv_expect(&job->keys, &expected, "async listing");
	conf_strv_clear(&job->keys);
	conf_strv_clear(&expected);
}

static void async_delete(struct async_test *t)
{
	jobs_open(t, t->copies, ASYNC_COPIES, FS_OPEN_READ, conf_step_delete);
	conf_jobs_run(t->c, t->jobs, ASYNC_COPIES);
	jobs_expect(t, ASYNC_COPIES, 0, "delete");
	jobs_close(t, ASYNC_COPIES);

	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_READ, conf_step_delete);
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, 0, "delete");
	jobs_close(t, ASYNC_FILES);

	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_READ, conf_step_exists);
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, 0, "exists");
	jobs_close(t, ASYNC_FILES);

	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_READ, conf_step_stat);
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, -ENOENT, "stat");
	jobs_close(t, ASYNC_FILES);

	jobs_open(t, t->keys, ASYNC_FILES, FS_OPEN_READ, conf_step_read);
	conf_jobs_run(t->c, t->jobs, ASYNC_FILES);
	jobs_expect(t, ASYNC_FILES, -ENOENT, "read");
	jobs_close(t, ASYNC_FILES);
}

void test_async_many(void **state)
{
	struct conf *c = *state;
	struct async_test *t = conf_alloc(c, sizeof(*t));
	unsigned int i;

	t->c = c;
	conf_callbacks_total = conf_callbacks_outside_wait = 0;
	conf_jobs_max_waiting = 0;
	for (i = 0; i < ASYNC_FILES; i++) {
		t->keys[i] = conf_strdup(c, conf_key(c, "async/f%02u", i));
		t->sizes[i] = async_size(i);
	}
	for (i = 0; i < ASYNC_COPIES; i++)
		t->copies[i] = conf_strdup(c, conf_key(c, "async/copy%u", i));

	async_write(t);
	/* The blocking path sees exactly what the async one wrote. */
	for (i = 0; i < ASYNC_FILES; i++)
		conf_expect_gen(c, t->keys[i], 1000 + i, t->sizes[i]);
	async_read(t);
	async_stat(t);
	async_metadata(t);
	async_copy(t);
	async_list(t);
	async_delete(t);

	print_message("[  INFO    ] %u -EAGAIN, %u callbacks, up to %zu "
		      "operations in flight at once\n",
		      t->eagain, conf_callbacks_total, conf_jobs_max_waiting);
	assert_int_equal(conf_callbacks_outside_wait, 0);
	assert_int_equal(fs_async_pending(c->fs), 0);
	assert_int_equal(fs_wait_async(c->fs, 0), 0);
	if ((c->caps & FS_CAP_ASYNC) != 0 && conf_jobs_max_waiting < 2)
		CONF_FAIL("FS_CAP_ASYNC is set but never were two operations "
			  "in flight at once (%u -EAGAIN)",
			  t->eagain);
}

static unsigned int cancel_calls;

static void cancel_callback(void *context)
{
	(void)context;
	cancel_calls++;
}

/* A second operation on a handle with one pending gets -EBUSY; the
   pending one then completes normally. */
static void busy_check(struct conf *c, const char *key)
{
	struct conf_job job;
	struct fs_file *file =
		conf_open(c, key, FS_OPEN_READ | FS_OPEN_FLAG_ASYNC);
	int ret;

	memset(&job, 0, sizeof(job));
	job.c = c;
	job.file = file;
	job.step = conf_step_stat;
	fs_file_set_callback(file, conf_job_callback, &job);
	ret = fs_file_stat(file, &job.st);
	if (ret == -EAGAIN) {
		CHECK_FILE(fs_file_exists(file), -EBUSY, file);
		job.waiting = true;
		conf_jobs_run(c, &job, 1);
		ret = job.ret;
	} else {
		print_message("[  INFO    ] stat completed at once\n");
	}
	CHECK_FILE(ret, 0, file);
	assert_int_equal(job.st.size, 256 * CONF_KIB);
	conf_close(c, &file);
}

/* Freeing a file cancels its pending operation: no callback afterwards,
   nothing left pending, an unfinished write leaves nothing. */
static void cancel_check(struct conf *c, const char *key, const char *wkey)
{
	struct fs_file *file;
	unsigned char buf[4096];
	ssize_t ret;

	cancel_calls = 0;
	file = conf_open(c, key, FS_OPEN_READ | FS_OPEN_FLAG_ASYNC);
	fs_file_set_callback(file, cancel_callback, NULL);
	ret = fs_read(file, buf, sizeof(buf));
	assert_true(ret == -EAGAIN || ret == sizeof(buf));
	conf_close(c, &file);

	file = conf_open(c, wkey, FS_OPEN_REPLACE | FS_OPEN_FLAG_ASYNC);
	fs_file_set_callback(file, cancel_callback, NULL);
	conf_gen(5, 0, c->wbuf, CONF_CHUNK);
	ret = fs_write(file, c->wbuf, CONF_CHUNK);
	assert_true(ret == -EAGAIN || (ret > 0 && ret <= CONF_CHUNK));
	conf_close(c, &file);

	assert_int_equal(fs_wait_async(c->fs, 100), 0);
	assert_int_equal(fs_async_pending(c->fs), 0);
	assert_int_equal(cancel_calls, 0);
	conf_expect_missing(c, wkey);
}

void test_async_busy_cancel(void **state)
{
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "busy/obj"));

	conf_put_gen(c, key, 3, 256 * CONF_KIB);
	busy_check(c, key);
	cancel_check(c, key, conf_key(c, "busy/unfinished"));
	conf_expect_gen(c, key, 3, 256 * CONF_KIB);
}
