/*
 * fs-bench-s3 peer "libfs": the S3 driver through the public API only
 * (libfs/fs.h), as an application uses it.
 *
 * Depth 1: blocking calls, fs_write_all() / fs_read_all() on one file per
 * object. Depth N: a pool of N slots, each holding one file opened with
 * FS_OPEN_FLAG_ASYNC; fs_wait_async_any() returns as soon as one made
 * progress, the slot's callback marks it, and the same call is repeated to
 * take its result (fs.h, "Asynchronous use"). The library's own retries
 * stay on (as users run it): the server's request counters show whether
 * any happened.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct libfs_slot {
	struct fs_file *file;
	unsigned int index;
	uint64_t start_usec;
	bool active, ready;
	unsigned char *put_buf;
	size_t put_size;
};

struct libfs_client {
	struct bench_client client;
	struct fs *fs;
	struct libfs_slot *slots;
	unsigned int slot_count;
};

static void libfs_fail(struct bench_phase *ph, unsigned int i, const char *what,
		       int err, const char *msg)
{
	char key[BENCH_KEY_MAX];

	bench_phase_key(ph, i, key);
	bench_phase_fail(ph, i, "%s %s: %s (%s)", what, key,
			 msg != NULL && msg[0] != '\0' ? msg : "no message",
			 fs_errno_name(err));
}

/* --- Blocking --- */

static void libfs_put_blocking(struct libfs_client *c, struct bench_phase *ph,
			       unsigned int i, const void *buf)
{
	struct fs_file *file = NULL;
	char key[BENCH_KEY_MAX];
	uint64_t start = bench_now_usec();
	int ret;

	bench_phase_key(ph, i, key);
	ret = fs_file_init(c->fs, key, FS_OPEN_REPLACE, &file);
	if (ret < 0) {
		libfs_fail(ph, i, "open", ret, fs_last_error(c->fs));
		return;
	}
	ret = fs_write_all(file, buf, ph->size);
	if (ret < 0)
		libfs_fail(ph, i, "PUT", ret, fs_file_last_error(file));
	fs_file_deinit(&file);
	if (ret == 0)
		bench_phase_ok(ph, i, start, NULL, 0);
}

static void libfs_get_blocking(struct libfs_client *c, struct bench_phase *ph,
			       unsigned int i)
{
	struct fs_file *file = NULL;
	char key[BENCH_KEY_MAX];
	uint64_t start = bench_now_usec();
	void *data = NULL;
	size_t size = 0;
	int ret;

	bench_phase_key(ph, i, key);
	ret = fs_file_init(c->fs, key, FS_OPEN_READ, &file);
	if (ret < 0) {
		libfs_fail(ph, i, "open", ret, fs_last_error(c->fs));
		return;
	}
	ret = fs_read_all(file, &data, &size);
	if (ret < 0)
		libfs_fail(ph, i, "GET", ret, fs_file_last_error(file));
	fs_file_deinit(&file);
	if (ret == 0)
		bench_phase_ok(ph, i, start, data, size);
	free(data);
}

static int libfs_run_blocking(struct libfs_client *c, struct bench_phase *ph)
{
	struct libfs_slot *s = &c->slots[0];
	unsigned int i;

	for (i = 0; i < ph->count; i++) {
		if (ph->op == BENCH_OP_PUT) {
			bench_phase_fill(ph, i, s->put_buf);
			libfs_put_blocking(c, ph, i, s->put_buf);
		} else {
			libfs_get_blocking(c, ph, i);
		}
	}
	return 0;
}

/* --- Asynchronous, a pool of slots --- */

static void libfs_slot_callback(void *context)
{
	struct libfs_slot *s = context;

	s->ready = true;
}

/* Ends the slot's operation with result ret (not -EAGAIN). */
static void libfs_slot_end(struct bench_phase *ph, struct libfs_slot *s,
			   int ret, void *data, size_t size)
{
	const char *what = ph->op == BENCH_OP_PUT ? "PUT" : "GET";

	if (ret < 0)
		libfs_fail(ph, s->index, what, ret,
			   fs_file_last_error(s->file));
	fs_file_deinit(&s->file);
	if (ret == 0)
		bench_phase_ok(ph, s->index, s->start_usec, data, size);
	free(data);
	s->active = false;
	s->ready = false;
}

/* Runs (or repeats) the slot's operation. Returns true if it ended. */
static bool libfs_slot_step(struct bench_phase *ph, struct libfs_slot *s)
{
	void *data = NULL;
	size_t size = 0;
	int ret;

	s->ready = false;
	if (ph->op == BENCH_OP_PUT)
		ret = fs_write_all(s->file, s->put_buf, ph->size);
	else
		ret = fs_read_all(s->file, &data, &size);
	if (ret == -EAGAIN)
		return false;
	libfs_slot_end(ph, s, ret, data, size);
	return true;
}

/* Opens object i in slot s and starts its operation. */
static void libfs_slot_start(struct libfs_client *c, struct bench_phase *ph,
			     struct libfs_slot *s, unsigned int i)
{
	unsigned int mode =
		ph->op == BENCH_OP_PUT ? FS_OPEN_REPLACE : FS_OPEN_READ;
	char key[BENCH_KEY_MAX];
	int ret;

	s->index = i;
	if (ph->op == BENCH_OP_PUT)
		bench_phase_fill(ph, i, s->put_buf);
	s->start_usec = bench_now_usec();
	bench_phase_key(ph, i, key);
	ret = fs_file_init(c->fs, key, mode | FS_OPEN_FLAG_ASYNC, &s->file);
	if (ret < 0) {
		libfs_fail(ph, i, "open", ret, fs_last_error(c->fs));
		return;
	}
	fs_file_set_callback(s->file, libfs_slot_callback, s);
	s->active = true;
	libfs_slot_step(ph, s);
}

/* Repeats the operations whose callback was called (all active ones when
   force is set); returns how many ended. */
static unsigned int libfs_slots_step(struct libfs_client *c,
				     struct bench_phase *ph, bool force)
{
	unsigned int k, ended = 0;

	for (k = 0; k < c->slot_count; k++) {
		struct libfs_slot *s = &c->slots[k];

		if (s->active && (s->ready || force) && libfs_slot_step(ph, s))
			ended++;
	}
	return ended;
}

static unsigned int libfs_slots_active(const struct libfs_client *c)
{
	unsigned int k, n = 0;

	for (k = 0; k < c->slot_count; k++)
		n += c->slots[k].active ? 1 : 0;
	return n;
}

/* Fails every operation still in flight (the event loop broke). */
static void libfs_slots_abort(struct libfs_client *c, struct bench_phase *ph,
			      int err, const char *why)
{
	unsigned int k;

	for (k = 0; k < c->slot_count; k++) {
		struct libfs_slot *s = &c->slots[k];

		if (!s->active)
			continue;
		libfs_fail(ph, s->index, why, err, NULL);
		fs_file_deinit(&s->file);
		s->active = false;
	}
}

static int libfs_run_async(struct libfs_client *c, struct bench_phase *ph)
{
	unsigned int next = 0, k;
	int pending;

	for (;;) {
		for (k = 0; k < c->slot_count && next < ph->count; k++) {
			if (!c->slots[k].active)
				libfs_slot_start(c, ph, &c->slots[k], next++);
		}
		if (libfs_slots_active(c) == 0) {
			/* Everything ended, or every open just failed. */
			if (next == ph->count)
				return 0;
			continue;
		}
		pending = fs_wait_async_any(c->fs, -1);
		if (pending < 0) {
			libfs_slots_abort(c, ph, pending, "fs_wait_async_any");
			return pending;
		}
		if (libfs_slots_step(c, ph, false) > 0 || pending > 0)
			continue;
		/* Nothing pending and no callback: the operations must be
		   able to end now, else a completion was lost. */
		libfs_slots_step(c, ph, true);
		if (fs_async_pending(c->fs) == 0 && libfs_slots_active(c) > 0) {
			libfs_slots_abort(c, ph, -EIO,
					  "no completion (lost callback)");
			return -EIO;
		}
	}
}

static int libfs_peer_run(struct bench_client *client, struct bench_phase *ph)
{
	struct libfs_client *c =
		BENCH_CONTAINER_OF(client, struct libfs_client, client);
	unsigned int k;

	for (k = 0; k < c->slot_count; k++) {
		struct libfs_slot *s = &c->slots[k];
		unsigned char *buf;

		if (s->put_buf != NULL && s->put_size == ph->size)
			continue;
		buf = realloc(s->put_buf, ph->size > 0 ? ph->size : 1);
		if (buf == NULL)
			return -ENOMEM;
		s->put_buf = buf;
		s->put_size = ph->size;
	}
	if (client->depth == 1)
		return libfs_run_blocking(c, ph);
	return libfs_run_async(c, ph);
}

static void libfs_peer_deinit(struct bench_client **client)
{
	struct libfs_client *c;
	unsigned int k;

	if (*client == NULL)
		return;
	c = BENCH_CONTAINER_OF(*client, struct libfs_client, client);
	for (k = 0; k < c->slot_count; k++) {
		fs_file_deinit(&c->slots[k].file);
		free(c->slots[k].put_buf);
	}
	free(c->slots);
	fs_deinit(&c->fs);
	free(c);
	*client = NULL;
}

/* The S3 spec of the target, or --libfs-spec with "{endpoint}" replaced by
   the server's URL (the in-process mock's port is only known now). */
static void libfs_spec(const struct bench_target *target, char *spec,
		       size_t size)
{
	const char *given = target->libfs_spec, *at;

	if (given == NULL) {
		snprintf(spec, size, "s3://%s/?endpoint=%s&region=%s",
			 target->bucket, target->endpoint, target->region);
		return;
	}
	at = strstr(given, "{endpoint}");
	if (at == NULL)
		snprintf(spec, size, "%s", given);
	else
		snprintf(spec, size, "%.*s%s%s", (int)(at - given), given,
			 target->endpoint, at + strlen("{endpoint}"));
}

static int libfs_peer_init(const struct bench_target *target,
			   unsigned int depth, struct bench_client **client_r,
			   char *error, size_t error_size)
{
	struct fs_settings set;
	struct libfs_client *c;
	const char *why = NULL;
	char spec[BENCH_URL_MAX];
	int ret;

	fs_settings_init(&set);
	set.access_key = target->access_key;
	set.secret_key = target->secret_key;
	set.region = target->region;
	libfs_spec(target, spec, sizeof(spec));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->client.peer = &bench_peer_libfs;
	c->client.depth = depth;
	c->slots = calloc(depth, sizeof(*c->slots));
	c->slot_count = depth;
	ret = c->slots == NULL ? -ENOMEM : fs_init(spec, &set, &c->fs, &why);
	if (ret < 0) {
		snprintf(error, error_size, "libfs: %s: %s (%s)", spec,
			 why != NULL ? why : "out of memory",
			 fs_errno_name(ret));
		free(c->slots);
		free(c);
		return ret;
	}
	*client_r = &c->client;
	return 0;
}

const struct bench_peer bench_peer_libfs = {
	.name = "libfs",
	.init = libfs_peer_init,
	.run = libfs_peer_run,
	.deinit = libfs_peer_deinit,
};
