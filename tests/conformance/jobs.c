/*
 * Drives many asynchronous operations at once, the way an application with
 * an event loop would: start each, and when every unfinished one waits for
 * its callback, run fs_wait_async(). Each job is one handle and one
 * operation; its step function calls the same libfs function again after the
 * callback, as the API asks.
 */
#include "conformance.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* How long a set of jobs may take before the test calls it a hang. */
#define CONF_JOBS_DEADLINE_MS 120000

unsigned int conf_callbacks_total, conf_callbacks_outside_wait;
size_t conf_jobs_max_waiting;
static bool conf_in_wait;

void conf_job_callback(void *context)
{
	struct conf_job *job = context;

	/* The API promises callbacks only from inside fs_wait_async(). */
	if (!conf_in_wait)
		conf_callbacks_outside_wait++;
	conf_callbacks_total++;
	job->callbacks++;
	job->waiting = false;
}

static void conf_jobs_wait(struct conf *c, uint64_t deadline)
{
	unsigned int before = conf_callbacks_total;
	int ret;

	conf_in_wait = true;
	ret = fs_wait_async(c->fs, 1000);
	conf_in_wait = false;
	if (ret < 0)
		CONF_FAIL("fs_wait_async() = %d %s: %s", ret,
			  fs_errno_name(ret), fs_last_error(c->fs));
	if (ret == 0 && conf_callbacks_total == before)
		CONF_FAIL("operations returned -EAGAIN, but fs_wait_async() "
			  "has nothing pending and called no callback (%u "
			  "callbacks so far came from outside it)",
			  conf_callbacks_outside_wait);
	if (conf_mono_ms() > deadline)
		CONF_FAIL("asynchronous operations did not finish in %d ms "
			  "(%d still pending)",
			  CONF_JOBS_DEADLINE_MS, ret);
}

/* Runs one step of every job that is not waiting; returns how many are
   unfinished and, in *waiting_r, how many of those wait for a callback. */
static size_t conf_jobs_step(struct conf_job *jobs, size_t count,
			     size_t *waiting_r)
{
	size_t i, active = 0, waiting = 0;
	int ret;

	for (i = 0; i < count; i++) {
		struct conf_job *job = &jobs[i];

		if (job->done)
			continue;
		if (!job->waiting) {
			ret = job->step(job);
			if (ret == CONF_STEP_DONE) {
				job->done = true;
				continue;
			}
			if (ret == -EAGAIN) {
				job->waiting = true;
				job->eagain++;
			}
		}
		active++;
		if (job->waiting)
			waiting++;
	}
	*waiting_r = waiting;
	return active;
}

void conf_jobs_run(struct conf *c, struct conf_job *jobs, size_t count)
{
	uint64_t deadline = conf_mono_ms() + CONF_JOBS_DEADLINE_MS;
	size_t active, waiting;

	for (;;) {
		active = conf_jobs_step(jobs, count, &waiting);
		if (active == 0)
			break;
		if (waiting > conf_jobs_max_waiting)
			conf_jobs_max_waiting = waiting;
		if (waiting == active)
			conf_jobs_wait(c, deadline);
	}
}

/* A result that is neither data, -EAGAIN nor an error ends the job with
   -EPROTO so that the test fails on it. */
static int conf_step_finish(struct conf_job *job, int ret)
{
	job->ret = ret;
	return CONF_STEP_DONE;
}

int conf_step_write(struct conf_job *job)
{
	ssize_t ret;

	if (job->buf_off == job->buf_len && job->pos < job->size) {
		job->buf_len = job->chunk;
		if (job->buf_len > job->size - job->pos)
			job->buf_len = (size_t)(job->size - job->pos);
		conf_gen(job->seed, job->pos, job->buf, job->buf_len);
		job->buf_off = 0;
		job->pos += job->buf_len;
	}
	if (job->buf_off < job->buf_len) {
		/* After -EAGAIN the same arguments are passed again. */
		ret = fs_write(job->file, job->buf + job->buf_off,
			       job->buf_len - job->buf_off);
		if (ret == -EAGAIN)
			return -EAGAIN;
		if (ret <= 0 || (size_t)ret > job->buf_len - job->buf_off)
			return conf_step_finish(job,
						ret < 0 ? (int)ret : -EPROTO);
		job->buf_off += (size_t)ret;
		return CONF_STEP_MORE;
	}
	ret = fs_write_finish(job->file);
	if (ret == -EAGAIN)
		return -EAGAIN;
	return conf_step_finish(job, (int)ret);
}

int conf_step_read(struct conf_job *job)
{
	ssize_t ret = fs_read(job->file, job->buf, job->chunk);

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret <= 0)
		return conf_step_finish(job, (int)ret);
	if ((size_t)ret > job->chunk)
		return conf_step_finish(job, -EPROTO);
	if (conf_gen_mismatch(job->seed, job->pos, job->buf, (size_t)ret) >= 0)
		job->mismatch = true;
	job->pos += (uint64_t)ret;
	return CONF_STEP_MORE;
}

int conf_step_read_all(struct conf_job *job)
{
	void *data = NULL;
	size_t size = 0;
	int ret = fs_read_all(job->file, &data, &size);

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret == 0) {
		if (data == NULL || ((char *)data)[size] != '\0' ||
		    conf_gen_mismatch(job->seed, 0, data, size) >= 0)
			job->mismatch = true;
		job->pos = size;
	}
	free(data);
	return conf_step_finish(job, ret);
}

int conf_step_stat(struct conf_job *job)
{
	int ret = fs_file_stat(job->file, &job->st);

	return ret == -EAGAIN ? -EAGAIN : conf_step_finish(job, ret);
}

int conf_step_exists(struct conf_job *job)
{
	int ret = fs_file_exists(job->file);

	return ret == -EAGAIN ? -EAGAIN : conf_step_finish(job, ret);
}

int conf_step_delete(struct conf_job *job)
{
	int ret = fs_file_delete(job->file);

	return ret == -EAGAIN ? -EAGAIN : conf_step_finish(job, ret);
}

int conf_step_metadata(struct conf_job *job)
{
	int ret = fs_file_get_metadata(job->file, "idx", &job->md_value);

	return ret == -EAGAIN ? -EAGAIN : conf_step_finish(job, ret);
}

int conf_step_copy(struct conf_job *job)
{
	int ret = fs_copy(job->src, job->file);

	return ret == -EAGAIN ? -EAGAIN : conf_step_finish(job, ret);
}

int conf_step_iter(struct conf_job *job)
{
	const char *key = NULL;
	int ret = fs_iter_next(job->iter, &key);

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret == 1 && key != NULL) {
		conf_strv_add(&job->keys, key);
		return CONF_STEP_MORE;
	}
	return conf_step_finish(job, ret == 1 ? -EPROTO : ret);
}
