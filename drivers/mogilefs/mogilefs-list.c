/*
 * Listing with list_keys, 1000 keys a page, and delete_prefix.
 *
 * The tracker's quirks, and what is done about them:
 *  - No match, also at the end of a pagination, is "ERR none_match": the
 *    end of the listing.
 *  - The prefix matches case-insensitively (SQL LIKE) while the order and
 *    "after" are binary: every key is checked against the exact prefix
 *    here, and a page made only of keys that sort before the prefix (other
 *    cases of it) continues at the prefix itself.
 *  - "after" must match the regular expression ^PREFIX (ERR after_mismatch
 *    otherwise), built from the prefix without quoting: the tracker is
 *    given the longest head of the prefix without regex metacharacters,
 *    and the rest is filtered here.
 *  - next_after is the largest key of the page; fewer keys than the limit
 *    is the last page.
 * FS_ITER_FLAG_ONE_LEVEL groups keys below the next '/' into one common
 * prefix here; the pages still walk every key under the prefix.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mogilefs-private.h"

size_t mfs_regex_safe_len(const char *prefix)
{
	return strcspn(prefix, "\\^$.|?*+()[]{}");
}

static bool starts_with(const char *str, const char *prefix)
{
	return strncmp(str, prefix, strlen(prefix)) == 0;
}

static void mfs_page_free(struct mfs_iter *iter)
{
	size_t i;

	for (i = 0; i < iter->count; i++)
		free(iter->keys[i]);
	free(iter->keys);
	iter->keys = NULL;
	iter->count = iter->pos = 0;
}

static void mfs_iter_treq_done(struct mfs_treq *req, void *context)
{
	struct mfs_iter *iter = context;

	MFS_FS(iter->iter.fs)->progress_seq++;
	fs_iter_async_done(&iter->iter);
}

int mfs_iter_init(struct fs_iter *_iter)
{
	struct mfs_iter *iter = MFS_ITER(_iter);
	const char *prefix = _iter->prefix;

	/* no key is longer than MFS_KEY_MAX: nothing can match */
	if (strlen(prefix) > MFS_KEY_MAX)
		iter->server_done = true;
	iter->server_prefix = strndup(prefix, mfs_regex_safe_len(prefix));
	if (iter->server_prefix == NULL)
		return fs_iter_set_error(_iter, -ENOMEM, "list: out of memory");
	return 0;
}

void mfs_iter_deinit(struct fs_iter *_iter)
{
	struct mfs_iter *iter = MFS_ITER(_iter);

	mfs_treq_free(&iter->treq);
	mfs_page_free(iter);
	free(iter->server_prefix);
	free(iter->after);
	free(iter->group);
	free(iter->key);
}

static int mfs_iter_start(struct mfs_iter *iter, const char *cmd)
{
	struct mfs_fs *fs = MFS_FS(iter->iter.fs);
	struct mfs_treq *req = mfs_treq_new(fs->tracker, cmd, true);

	iter->treq = req;
	if (req != NULL) {
		mfs_treq_set_callback(req, mfs_iter_treq_done, iter);
		(void)mfs_treq_arg(req, "domain", fs->domain);
		if (strcmp(cmd, "file_info") == 0) {
			(void)mfs_treq_arg(req, "key", iter->iter.prefix);
		} else {
			(void)mfs_treq_arg(req, "prefix", iter->server_prefix);
			if (iter->after != NULL)
				(void)mfs_treq_arg(req, "after", iter->after);
			(void)mfs_treq_arg_u64(req, "limit", MFS_LIST_LIMIT);
		}
	}
	if (req == NULL || mfs_treq_start(req) < 0) {
		mfs_treq_free(&iter->treq);
		return fs_iter_set_error(&iter->iter, -ENOMEM,
					 "list %s: out of memory",
					 iter->iter.prefix);
	}
	return -EAGAIN;
}

/* Adds key (or, one level deep, its common prefix) to the page. */
static int mfs_page_add(struct mfs_iter *iter, const char *key)
{
	const char *prefix = iter->iter.prefix, *slash = NULL;
	size_t len = strlen(key);
	char *item;

	if ((iter->iter.flags & FS_ITER_FLAG_ONE_LEVEL) != 0)
		slash = strchr(key + strlen(prefix), '/');
	if (slash != NULL) {
		len = (size_t)(slash - key) + 1;
		if (iter->group != NULL && strlen(iter->group) == len &&
		    strncmp(iter->group, key, len) == 0)
			return 0;
		free(iter->group);
		iter->group = strndup(key, len);
		if (iter->group == NULL)
			return -ENOMEM;
	}
	item = strndup(key, len);
	if (item == NULL)
		return -ENOMEM;
	iter->keys[iter->count++] = item;
	return 0;
}

/* Builds the page from key_1..key_N, in the tracker's (binary) order. */
static int mfs_page_build(struct mfs_iter *iter, uint64_t n)
{
	const char *prefix = iter->iter.prefix, *key;
	char name[32];
	uint64_t i;
	int ret = 0;

	mfs_page_free(iter);
	iter->keys = calloc(n > 0 ? n : 1, sizeof(*iter->keys));
	if (iter->keys == NULL)
		return -ENOMEM;
	for (i = 1; i <= n && ret == 0; i++) {
		snprintf(name, sizeof(name), "key_%" PRIu64, i);
		key = mfs_treq_get(iter->treq, name);
		if (key == NULL || !starts_with(key, prefix) ||
		    (iter->key != NULL && strcmp(key, iter->key) <= 0))
			continue;
		ret = mfs_page_add(iter, key);
	}
	return ret;
}

/* Where the next page starts, after a full page ending at last. */
static int mfs_page_next(struct mfs_iter *iter, const char *last)
{
	const char *sp = iter->server_prefix;
	char *after;

	if (!starts_with(last, iter->iter.prefix) &&
	    strcmp(last, iter->iter.prefix) > 0) {
		/* past every key with the prefix */
		iter->server_done = true;
		return 0;
	}
	/* keys of another case sort before the prefix: jump to it (the key
	   equal to the prefix is then asked for on its own) */
	after = strdup(starts_with(last, sp) ? last : sp);
	if (after == NULL)
		return -ENOMEM;
	if (!starts_with(last, sp) && strcmp(sp, iter->iter.prefix) == 0)
		iter->exact_pending = true;
	free(iter->after);
	iter->after = after;
	return 0;
}

static int mfs_list_done(struct mfs_iter *iter)
{
	const char *count = mfs_treq_get(iter->treq, "key_count");
	const char *last = mfs_treq_get(iter->treq, "next_after");
	int ret = mfs_treq_result(iter->treq);
	uint64_t n = 0;

	if (ret < 0 && strcmp(mfs_treq_errcode(iter->treq) != NULL
				      ? mfs_treq_errcode(iter->treq)
				      : "",
			      "none_match") == 0) {
		iter->server_done = true;
		return 0;
	}
	if (ret < 0)
		return fs_iter_set_error(&iter->iter, ret, "list %s: %s",
					 iter->iter.prefix,
					 mfs_treq_error(iter->treq));
	if (count == NULL || fs_parse_uint(count, &n) < 0 || n > 100000)
		return fs_iter_set_error(&iter->iter, -EIO,
					 "list %s: list_keys gave no key_count",
					 iter->iter.prefix);
	ret = mfs_page_build(iter, n);
	if (ret == 0 && n < MFS_LIST_LIMIT)
		iter->server_done = true;
	else if (ret == 0 && last != NULL)
		ret = mfs_page_next(iter, last);
	else if (ret == 0)
		ret = fs_iter_set_error(&iter->iter, -EIO,
					"list %s: list_keys gave no "
					"next_after",
					iter->iter.prefix);
	if (ret == -ENOMEM)
		return fs_iter_set_error(&iter->iter, ret,
					 "list %s: out of memory",
					 iter->iter.prefix);
	return ret;
}

/* The answer of file_info on the prefix itself (see mfs_page_next()). */
static int mfs_exact_done(struct mfs_iter *iter)
{
	int ret = mfs_treq_result(iter->treq);

	iter->exact_pending = false;
	iter->exact_checked = true;
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return fs_iter_set_error(&iter->iter, ret, "list %s: %s",
					 iter->iter.prefix,
					 mfs_treq_error(iter->treq));
	mfs_page_free(iter);
	iter->keys = calloc(1, sizeof(*iter->keys));
	if (iter->keys == NULL || mfs_page_add(iter, iter->iter.prefix) < 0)
		return fs_iter_set_error(&iter->iter, -ENOMEM,
					 "list %s: out of memory",
					 iter->iter.prefix);
	return 0;
}

/* Takes the next key of the page. */
static int mfs_iter_take(struct mfs_iter *iter, const char **key_r)
{
	free(iter->key);
	iter->key = iter->keys[iter->pos];
	iter->keys[iter->pos++] = NULL;
	*key_r = iter->key;
	return 1;
}

/* Takes the answer of the request that just completed. */
static int mfs_iter_answer(struct mfs_iter *iter)
{
	bool exact = strcmp(mfs_treq_cmd(iter->treq), "file_info") == 0;
	int ret = exact ? mfs_exact_done(iter) : mfs_list_done(iter);

	mfs_treq_free(&iter->treq);
	return ret;
}

int mfs_iter_next(struct fs_iter *_iter, const char **key_r)
{
	struct mfs_iter *iter = MFS_ITER(_iter);
	int ret;

	if (iter->treq != NULL) {
		if (!mfs_treq_done(iter->treq))
			return -EAGAIN;
		ret = mfs_iter_answer(iter);
		if (ret < 0)
			return ret;
	}
	if (iter->pos < iter->count)
		return mfs_iter_take(iter, key_r);
	if (iter->exact_pending && !iter->exact_checked)
		return mfs_iter_start(iter, "file_info");
	if (iter->server_done)
		return 0;
	return mfs_iter_start(iter, "list_keys");
}

/* ------------------------------------------------------------------------ */
/* delete_prefix: a page of keys, then their deletes pipelined               */

struct mfs_batch {
	struct mfs_treq *reqs[MFS_LIST_LIMIT];
	unsigned int count, done;
};

static void mfs_batch_done(struct mfs_treq *req, void *context)
{
	struct mfs_batch *batch = context;

	batch->done++;
}

/* Drives the fs until every request of the batch is answered. */
static int mfs_batch_wait(struct mfs_fs *fs, struct mfs_batch *batch)
{
	struct pollfd pfds[MFS_MAX_CONNS];
	uint64_t next, now;
	unsigned int n;
	int ms;

	mfs_tracker_run(fs->tracker);
	while (batch->done < batch->count) {
		n = mfs_tracker_pollfds(fs->tracker, pfds, MFS_MAX_CONNS,
					&next);
		now = fs_now_usec();
		ms = next == UINT64_MAX ? -1
		     : next <= now	? 0
					: (int)((next - now + 999) / 1000);
		if (poll(pfds, n, ms) < 0 && errno != EINTR)
			return fs_set_error(&fs->fs, -EIO, "poll: %s",
					    strerror(errno));
		mfs_tracker_run(fs->tracker);
	}
	return 0;
}

/* Deletes the keys in parallel; returns the count deleted or -errno. */
static int mfs_delete_keys(struct mfs_fs *fs, char **keys, unsigned int n)
{
	struct mfs_batch *batch = calloc(1, sizeof(*batch));
	int ret = 0, count = 0, r;
	unsigned int i;

	if (batch == NULL)
		return fs_set_error(&fs->fs, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		struct mfs_treq *req =
			mfs_treq_new(fs->tracker, "delete", false);

		batch->reqs[i] = req;
		if (req == NULL)
			break;
		mfs_treq_set_callback(req, mfs_batch_done, batch);
		(void)mfs_treq_arg(req, "domain", fs->domain);
		(void)mfs_treq_arg(req, "key", keys[i]);
		if (mfs_treq_start(req) < 0) {
			mfs_treq_free(&batch->reqs[i]);
			break;
		}
		batch->count++;
	}
	if (batch->count < n)
		ret = fs_set_error(&fs->fs, -ENOMEM, "out of memory");
	if (mfs_batch_wait(fs, batch) < 0 && ret == 0)
		ret = -EIO;
	for (i = 0; i < n; i++) {
		if (batch->reqs[i] == NULL)
			continue;
		r = mfs_treq_result(batch->reqs[i]);
		if (r == 0)
			count++;
		else if (r != -ENOENT && r != -EAGAIN && ret == 0)
			ret = fs_set_error(&fs->fs, r, "delete %s: %s", keys[i],
					   mfs_treq_error(batch->reqs[i]));
		mfs_treq_free(&batch->reqs[i]);
	}
	free(batch);
	return ret < 0 ? ret : count;
}

/* Lists up to MFS_LIST_LIMIT keys under prefix into keys. */
static int mfs_list_page(struct fs *fs, const char *prefix, char **keys,
			 unsigned int *n_r)
{
	struct fs_iter *iter;
	const char *key;
	int ret;

	*n_r = 0;
	ret = fs_iter_init(fs, prefix, 0, &iter);
	if (ret < 0)
		return ret;
	while (*n_r < MFS_LIST_LIMIT && (ret = fs_iter_next(iter, &key)) > 0) {
		keys[*n_r] = strdup(key);
		if (keys[*n_r] == NULL) {
			ret = -ENOMEM;
			break;
		}
		(*n_r)++;
	}
	if (ret < 0)
		fs_set_error(fs, ret, "delete %s*: listing failed: %s", prefix,
			     fs_iter_last_error(iter));
	fs_iter_deinit(&iter);
	return ret < 0 ? ret : 0;
}

int mfs_delete_prefix(struct fs *_fs, const char *prefix)
{
	struct mfs_fs *fs = MFS_FS(_fs);
	char **keys = calloc(MFS_LIST_LIMIT, sizeof(*keys));
	unsigned int n, i;
	int ret, total = 0;

	if (keys == NULL)
		return fs_set_error(_fs, -ENOMEM, "out of memory");
	do {
		ret = mfs_list_page(_fs, prefix, keys, &n);
		if (ret == 0 && n > 0)
			ret = mfs_delete_keys(fs, keys, n);
		for (i = 0; i < n; i++)
			free(keys[i]);
		if (ret > 0)
			total += ret;
	} while (ret >= 0 && n == MFS_LIST_LIMIT);
	free(keys);
	return ret < 0 ? ret : total;
}
