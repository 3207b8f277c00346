/*
 * Peer "libfs" of both benchmarks: the public API only (libfs/fs.h), as an
 * application (a mail server) uses it.
 *
 * Every operation is one file (or iterator) opened, used and freed:
 * fs_write_all() to store an object, fs_read_all() to read one back,
 * fs_file_delete(), and fs_iter_next() to the end for a listing. Depth 1
 * runs them blocking. Depth N keeps N slots busy with handles opened
 * FS_OPEN_FLAG_ASYNC / FS_ITER_FLAG_ASYNC: fs_wait_async_any() returns when
 * one progressed, its callback marks the slot, and the same call is
 * repeated for the result (fs.h, "Asynchronous use"). Both paths are the
 * same code: a blocking handle simply never returns -EAGAIN. The library's
 * own retries stay on (as users run it): the server's request counters
 * show whether any happened.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct libfs_slot {
	struct fs_file *file;
	struct fs_iter *iter;
	unsigned int index, nkeys;
	uint64_t start_usec;
	bool active, ready;
	void *buf; /* the payload of a write */
	size_t alloc;
};

struct libfs_client {
	struct bench_client client;
	struct fs *fs;
	struct libfs_slot *slots;
	unsigned int slot_count;
};

void bench_libfs_spec(const struct bench_target *target, const char *extra,
		      char *spec, size_t size)
{
	snprintf(spec, size, "s3://%s/?endpoint=%s&region=%s%s%s",
		 target->bucket, target->endpoint, target->region,
		 extra != NULL && extra[0] != '\0' ? "&" : "",
		 extra != NULL ? extra : "");
}

static void libfs_fail(struct bench_phase *ph, unsigned int i, const char *msg,
		       int err)
{
	char key[BENCH_KEY_MAX];

	ph->v->key(ph, i, key);
	bench_phase_fail(ph, i, "%s %s: %s (%s)", ph->name, key,
			 msg != NULL && msg[0] != '\0' ? msg : "no message",
			 fs_errno_name(err));
}

static void libfs_slot_callback(void *context)
{
	struct libfs_slot *s = context;

	s->ready = true;
}

static void libfs_slot_release(const struct bench_phase *ph,
			       struct libfs_slot *s)
{
	fs_file_deinit(&s->file);
	s->active = false;
	s->ready = false;
	if (s->alloc > ph->v->keep_buffer_max) {
		free(s->buf);
		s->buf = NULL;
		s->alloc = 0;
	}
}

/* Ends a listing: its error comes with fs_iter_deinit(). */
static void libfs_list_end(struct bench_phase *ph, struct libfs_slot *s,
			   int ret)
{
	char msg[BENCH_ERROR_MAX];

	snprintf(msg, sizeof(msg), "%s", fs_iter_last_error(s->iter));
	if (fs_iter_deinit(&s->iter) < 0 && ret == 0)
		ret = -EIO;
	if (ret < 0)
		libfs_fail(ph, s->index, msg, ret);
	else
		bench_phase_listed(ph, s->index, s->start_usec, s->nkeys);
	libfs_slot_release(ph, s);
}

/* Repeats a listing's fs_iter_next(). Returns true if it ended. */
static bool libfs_list_step(struct bench_phase *ph, struct libfs_slot *s)
{
	const char *key;
	int ret;

	while ((ret = fs_iter_next(s->iter, &key)) == 1)
		s->nkeys++;
	if (ret == -EAGAIN)
		return false;
	libfs_list_end(ph, s, ret);
	return true;
}

/* Ends the slot's file operation with result ret (not -EAGAIN); data is
   what a GET read. */
static void libfs_slot_end(struct bench_phase *ph, struct libfs_slot *s,
			   int ret, void *data, size_t size)
{
	if (ret < 0)
		libfs_fail(ph, s->index, fs_file_last_error(s->file), ret);
	if (ph->v->time_file_free)
		fs_file_deinit(&s->file);
	if (ret == 0)
		bench_phase_ok(ph, s->index, s->start_usec, data, size);
	free(data);
	libfs_slot_release(ph, s);
}

/* Runs (or repeats) the slot's operation. Returns true if it ended. */
static bool libfs_slot_step(struct bench_phase *ph, struct libfs_slot *s)
{
	void *data = NULL;
	size_t size = 0;
	int ret;

	s->ready = false;
	switch (ph->verb) {
	case BENCH_VERB_LIST:
		return libfs_list_step(ph, s);
	case BENCH_VERB_PUT:
		ret = fs_write_all(s->file, s->buf, ph->v->size(ph, s->index));
		break;
	case BENCH_VERB_DELETE:
		ret = fs_file_delete(s->file);
		break;
	default:
		ret = fs_read_all(s->file, &data, &size);
		break;
	}
	if (ret == -EAGAIN)
		return false;
	libfs_slot_end(ph, s, ret, data, size);
	return true;
}

static int libfs_slot_payload(struct bench_phase *ph, struct libfs_slot *s)
{
	size_t size = ph->v->size(ph, s->index);
	void *buf;

	if (size > s->alloc || s->buf == NULL) {
		buf = realloc(s->buf, size > 0 ? size : 1);
		if (buf == NULL)
			return -ENOMEM;
		s->buf = buf;
		s->alloc = size > 0 ? size : 1;
	}
	return ph->v->fill(ph, s->index, s->buf);
}

static int libfs_slot_open(struct libfs_client *c, struct bench_phase *ph,
			   struct libfs_slot *s, const char *key)
{
	bool async = c->client.depth > 1;
	unsigned int mode;

	if (ph->verb == BENCH_VERB_LIST) {
		s->nkeys = 0;
		return fs_iter_init(c->fs, key, async ? FS_ITER_FLAG_ASYNC : 0,
				    &s->iter);
	}
	mode = ph->verb == BENCH_VERB_PUT ? FS_OPEN_REPLACE : FS_OPEN_READ;
	return fs_file_init(c->fs, key, mode | (async ? FS_OPEN_FLAG_ASYNC : 0),
			    &s->file);
}

/* Opens operation i in slot s and starts it; the clock starts after the
   payload was generated. */
static void libfs_slot_start(struct libfs_client *c, struct bench_phase *ph,
			     struct libfs_slot *s, unsigned int i)
{
	char key[BENCH_KEY_MAX];
	int ret = 0;

	s->index = i;
	if (ph->verb == BENCH_VERB_PUT)
		ret = libfs_slot_payload(ph, s);
	if (ret < 0) {
		libfs_fail(ph, i, "preparing the payload", ret);
		return;
	}
	s->start_usec = bench_now_usec();
	ph->v->key(ph, i, key);
	ret = libfs_slot_open(c, ph, s, key);
	if (ret < 0) {
		libfs_fail(ph, i, fs_last_error(c->fs), ret);
		return;
	}
	if (s->iter != NULL)
		fs_iter_set_callback(s->iter, libfs_slot_callback, s);
	else
		fs_file_set_callback(s->file, libfs_slot_callback, s);
	s->active = true;
	libfs_slot_step(ph, s);
}

/* Repeats the operations whose callback came (all active ones when force
   is set); returns how many ended. */
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
		libfs_fail(ph, s->index, why, err);
		fs_iter_deinit(&s->iter);
		libfs_slot_release(ph, s);
	}
}

static void libfs_slots_fill(struct libfs_client *c, struct bench_phase *ph,
			     unsigned int *next)
{
	unsigned int k;

	for (k = 0; k < c->slot_count && *next < ph->count; k++) {
		if (!c->slots[k].active)
			libfs_slot_start(c, ph, &c->slots[k], (*next)++);
	}
}

static int libfs_peer_run(struct bench_client *client, struct bench_phase *ph)
{
	struct libfs_client *c =
		BENCH_CONTAINER_OF(client, struct libfs_client, client);
	unsigned int next = 0;
	int pending;

	for (;;) {
		libfs_slots_fill(c, ph, &next);
		if (libfs_slots_active(c) == 0) {
			/* Everything ended, or blocking, or failed to open. */
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

static void libfs_peer_deinit(struct bench_client **client)
{
	struct libfs_client *c;
	unsigned int k;

	if (*client == NULL)
		return;
	c = BENCH_CONTAINER_OF(*client, struct libfs_client, client);
	for (k = 0; k < c->slot_count; k++) {
		fs_iter_deinit(&c->slots[k].iter);
		fs_file_deinit(&c->slots[k].file);
		free(c->slots[k].buf);
	}
	free(c->slots);
	fs_deinit(&c->fs);
	free(c);
	*client = NULL;
}

/* The S3 spec of the target, or its libfs_spec with "{endpoint}" replaced
   by the server's URL (the in-process mock's port is only known now). */
static void libfs_spec(const struct bench_target *target, char *spec,
		       size_t size)
{
	const char *given = target->libfs_spec, *at;

	if (given == NULL) {
		bench_libfs_spec(target, NULL, spec, size);
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
