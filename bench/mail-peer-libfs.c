/*
 * fs-bench-mail peer "libfs": the public API only (libfs/fs.h), as a mail
 * server uses it.
 *
 * Every operation is one file (or iterator) opened, used and freed:
 * fs_write_all() for a message or an index rewrite, fs_read_all() to read
 * one back, fs_file_delete(), and fs_iter_next() to the end for a listing.
 * Depth 1 runs them blocking. Depth N keeps N slots busy with handles
 * opened FS_OPEN_FLAG_ASYNC / FS_ITER_FLAG_ASYNC: fs_wait_async_any()
 * returns when one progressed, its callback marks the slot, and the same
 * call is repeated for the result (fs.h, "Asynchronous use"). Both paths
 * are the same code: a blocking handle simply never returns -EAGAIN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-mail.h"

struct lfs_slot {
	struct fs_file *file;
	struct fs_iter *iter;
	unsigned int index, nkeys;
	uint64_t start_usec;
	bool active, ready;
	void *buf; /* the payload of a write */
	size_t alloc;
};

struct lfs_client {
	struct mail_client client;
	struct fs *fs;
	struct lfs_slot *slots;
	unsigned int slot_count;
};

static void lfs_fail(struct mail_phase *ph, unsigned int i, const char *msg,
		     int err)
{
	char key[BENCH_KEY_MAX];

	mail_key(ph, i, key);
	mail_phase_fail(ph, i, "%s %s: %s (%s)", mail_op_name(ph->op), key,
			msg != NULL && msg[0] != '\0' ? msg : "no message",
			fs_errno_name(err));
}

static void lfs_slot_callback(void *context)
{
	struct lfs_slot *s = context;

	s->ready = true;
}

static bool lfs_is_write(const struct mail_phase *ph)
{
	return ph->op == MAIL_PUT || ph->op == MAIL_IDX_PUT;
}

static void lfs_slot_release(struct lfs_slot *s)
{
	fs_file_deinit(&s->file);
	s->active = false;
	s->ready = false;
	if (s->alloc > MAIL_KEEP_BUFFER_MAX) {
		free(s->buf);
		s->buf = NULL;
		s->alloc = 0;
	}
}

/* Ends a listing: its error comes with fs_iter_deinit(). */
static void lfs_list_end(struct mail_phase *ph, struct lfs_slot *s, int ret)
{
	char msg[BENCH_ERROR_MAX];

	snprintf(msg, sizeof(msg), "%s", fs_iter_last_error(s->iter));
	if (fs_iter_deinit(&s->iter) < 0 && ret == 0)
		ret = -EIO;
	if (ret < 0)
		lfs_fail(ph, s->index, msg, ret);
	else
		mail_phase_listed(ph, s->index, s->start_usec, s->nkeys);
	lfs_slot_release(s);
}

/* Repeats a listing's fs_iter_next(). Returns true if it ended. */
static bool lfs_list_step(struct mail_phase *ph, struct lfs_slot *s)
{
	const char *key;
	int ret;

	while ((ret = fs_iter_next(s->iter, &key)) == 1)
		s->nkeys++;
	if (ret == -EAGAIN)
		return false;
	lfs_list_end(ph, s, ret);
	return true;
}

/* Runs (or repeats) the slot's operation. Returns true if it ended. */
static bool lfs_slot_step(struct mail_phase *ph, struct lfs_slot *s)
{
	void *data = NULL;
	size_t size = 0;
	int ret;

	s->ready = false;
	if (ph->op == MAIL_LIST)
		return lfs_list_step(ph, s);
	if (lfs_is_write(ph))
		ret = fs_write_all(s->file, s->buf, mail_op_size(ph, s->index));
	else if (ph->op == MAIL_DELETE)
		ret = fs_file_delete(s->file);
	else
		ret = fs_read_all(s->file, &data, &size);
	if (ret == -EAGAIN)
		return false;
	if (ret < 0)
		lfs_fail(ph, s->index, fs_file_last_error(s->file), ret);
	else
		mail_phase_ok(ph, s->index, s->start_usec, data, size);
	free(data);
	lfs_slot_release(s);
	return true;
}

static int lfs_slot_payload(struct mail_phase *ph, struct lfs_slot *s)
{
	size_t size = mail_op_size(ph, s->index);
	void *buf;

	if (size > s->alloc) {
		buf = realloc(s->buf, size);
		if (buf == NULL)
			return -ENOMEM;
		s->buf = buf;
		s->alloc = size;
	}
	return mail_fill(ph, s->index, s->buf);
}

static int lfs_slot_open(struct lfs_client *c, struct mail_phase *ph,
			 struct lfs_slot *s, const char *key)
{
	bool async = c->client.depth > 1;
	unsigned int mode;

	if (ph->op == MAIL_LIST) {
		s->nkeys = 0;
		return fs_iter_init(c->fs, key, async ? FS_ITER_FLAG_ASYNC : 0,
				    &s->iter);
	}
	mode = lfs_is_write(ph) ? FS_OPEN_REPLACE : FS_OPEN_READ;
	return fs_file_init(c->fs, key, mode | (async ? FS_OPEN_FLAG_ASYNC : 0),
			    &s->file);
}

/* Opens operation i in slot s and starts it; the clock starts after the
   payload was generated. */
static void lfs_slot_start(struct lfs_client *c, struct mail_phase *ph,
			   struct lfs_slot *s, unsigned int i)
{
	char key[BENCH_KEY_MAX];
	int ret = 0;

	s->index = i;
	if (lfs_is_write(ph))
		ret = lfs_slot_payload(ph, s);
	if (ret < 0) {
		lfs_fail(ph, i, "preparing the payload", ret);
		return;
	}
	s->start_usec = bench_now_usec();
	mail_key(ph, i, key);
	ret = lfs_slot_open(c, ph, s, key);
	if (ret < 0) {
		lfs_fail(ph, i, fs_last_error(c->fs), ret);
		return;
	}
	if (s->iter != NULL)
		fs_iter_set_callback(s->iter, lfs_slot_callback, s);
	else
		fs_file_set_callback(s->file, lfs_slot_callback, s);
	s->active = true;
	lfs_slot_step(ph, s);
}

/* Repeats the operations whose callback came (all active ones when force
   is set); returns how many ended. */
static unsigned int lfs_slots_step(struct lfs_client *c, struct mail_phase *ph,
				   bool force)
{
	unsigned int k, ended = 0;

	for (k = 0; k < c->slot_count; k++) {
		struct lfs_slot *s = &c->slots[k];

		if (s->active && (s->ready || force) && lfs_slot_step(ph, s))
			ended++;
	}
	return ended;
}

static unsigned int lfs_slots_active(const struct lfs_client *c)
{
	unsigned int k, n = 0;

	for (k = 0; k < c->slot_count; k++)
		n += c->slots[k].active ? 1 : 0;
	return n;
}

/* Fails every operation still in flight (the event loop broke). */
static void lfs_slots_abort(struct lfs_client *c, struct mail_phase *ph,
			    int err, const char *why)
{
	unsigned int k;

	for (k = 0; k < c->slot_count; k++) {
		struct lfs_slot *s = &c->slots[k];

		if (!s->active)
			continue;
		lfs_fail(ph, s->index, why, err);
		fs_iter_deinit(&s->iter);
		lfs_slot_release(s);
	}
}

static void lfs_slots_fill(struct lfs_client *c, struct mail_phase *ph,
			   unsigned int *next)
{
	unsigned int k;

	for (k = 0; k < c->slot_count && *next < ph->count; k++) {
		if (!c->slots[k].active)
			lfs_slot_start(c, ph, &c->slots[k], (*next)++);
	}
}

static int lfs_peer_run(struct mail_client *client, struct mail_phase *ph)
{
	struct lfs_client *c =
		BENCH_CONTAINER_OF(client, struct lfs_client, client);
	unsigned int next = 0;
	int pending;

	for (;;) {
		lfs_slots_fill(c, ph, &next);
		if (lfs_slots_active(c) == 0) {
			/* Everything ended, or blocking, or failed to open. */
			if (next == ph->count)
				return 0;
			continue;
		}
		pending = fs_wait_async_any(c->fs, -1);
		if (pending < 0) {
			lfs_slots_abort(c, ph, pending, "fs_wait_async_any");
			return pending;
		}
		if (lfs_slots_step(c, ph, false) > 0 || pending > 0)
			continue;
		/* Nothing pending and no callback: the operations must be
		   able to end now, else a completion was lost. */
		lfs_slots_step(c, ph, true);
		if (fs_async_pending(c->fs) == 0 && lfs_slots_active(c) > 0) {
			lfs_slots_abort(c, ph, -EIO,
					"no completion (lost callback)");
			return -EIO;
		}
	}
}

static void lfs_peer_deinit(struct mail_client **client)
{
	struct lfs_client *c;
	unsigned int k;

	if (*client == NULL)
		return;
	c = BENCH_CONTAINER_OF(*client, struct lfs_client, client);
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

static int lfs_peer_init(const struct bench_target *target, unsigned int depth,
			 struct mail_client **client_r, char *error,
			 size_t error_size)
{
	struct fs_settings set;
	struct lfs_client *c;
	const char *why = NULL;
	char spec[BENCH_URL_MAX];
	int ret;

	fs_settings_init(&set);
	set.access_key = target->access_key;
	set.secret_key = target->secret_key;
	set.region = target->region;
	if (target->libfs_spec != NULL)
		snprintf(spec, sizeof(spec), "%s", target->libfs_spec);
	else
		mail_libfs_spec(target, NULL, spec, sizeof(spec));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->client.peer = &mail_peer_libfs;
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

const struct mail_peer mail_peer_libfs = {
	.name = "libfs",
	.init = lfs_peer_init,
	.run = lfs_peer_run,
	.deinit = lfs_peer_deinit,
};
