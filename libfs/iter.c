/*
 * Listings: the same asynchronous engine as files, for one operation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs-private.h"

#define ITER_KNOWN_FLAGS (FS_ITER_FLAG_ONE_LEVEL | FS_ITER_FLAG_ASYNC)

/* True if no valid key can begin with prefix: one of its complete segments
   (those followed by '/') is empty, "." or "..", or it starts with '/'. The
   listing is then empty without asking the driver, so drivers never see such
   prefixes. The last, partial segment is free ("a/." matches "a/.x"). */
static bool prefix_matches_nothing(const char *prefix)
{
	const char *seg = prefix, *slash;
	size_t len;

	while ((slash = strchr(seg, '/')) != NULL) {
		len = (size_t)(slash - seg);
		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return true;
		seg = slash + 1;
	}
	return false;
}

static int prefix_check(struct fs *fs, const char *prefix)
{
	size_t i, len = strlen(prefix);

	if (len > FS_KEY_MAX)
		return fs_set_error(fs, -EINVAL,
				    "list: prefix longer than %d bytes",
				    FS_KEY_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)prefix[i];

		if (c < 0x20 || c == 0x7f)
			return fs_set_error(fs, -EINVAL,
					    "list: prefix contains a control "
					    "byte");
	}
	return 0;
}

static int iter_check(struct fs *fs, const char *prefix, unsigned int flags)
{
	if (prefix == NULL)
		return fs_set_error(fs, -EINVAL, "list: prefix is NULL");
	if (prefix_check(fs, prefix) < 0)
		return -EINVAL;
	if ((flags & ~ITER_KNOWN_FLAGS) != 0)
		return fs_set_error(fs, -EINVAL, "list %s: invalid flags 0x%x",
				    prefix, flags);
	if ((fs_get_caps(fs) & FS_CAP_ITER) == 0 ||
	    fs->driver->v.iter_init == NULL || fs->driver->v.iter_next == NULL)
		return fs_set_error(fs, -ENOTSUP,
				    "list %s: %s storage cannot list keys",
				    prefix, fs->driver->name);
	return 0;
}

static void iter_free(struct fs_iter *iter)
{
	free(iter->prefix);
	fs_error_free(&iter->last_error);
	free(iter);
}

static void iter_clear_pending(struct fs_iter *iter)
{
	if (!iter->async_pending)
		return;
	iter->async_pending = false;
	iter->fs->async_pending--;
}

void fs_iter_async_done(struct fs_iter *iter)
{
	if (!iter->async_pending)
		return;
	iter_clear_pending(iter);
	iter->fs->async_done_seq++;
	if (iter->callback != NULL)
		iter->callback(iter->context);
}

static void iter_set_pending(struct fs_iter *iter)
{
	iter->async_pending = true;
	iter->fs->async_pending++;
}

/* Drives the stack until iter's operation progressed; the callback is not
   called (this is the starting call). */
static int iter_wait(struct fs_iter *iter)
{
	fs_callback_t *callback = iter->callback;
	unsigned int seq = iter->fs->error_seq;
	int ret = 0;

	iter->callback = NULL;
	while (iter->async_pending) {
		ret = fs_async_round(iter->fs, -1);
		if (ret < 0) {
			iter_clear_pending(iter);
			if (iter->fs->error_seq != seq)
				fs_iter_set_error(iter, ret, "list %s: %s",
						  iter->prefix,
						  fs_last_error(iter->fs));
			break;
		}
	}
	iter->callback = callback;
	return ret;
}

static int iter_init_failed(struct fs_iter *iter, unsigned int seq, int ret)
{
	struct fs *fs = iter->fs;
	char errbuf[128];

	/* unless the driver said why on the fs */
	if (fs->error_seq == seq && iter->last_error != NULL)
		fs_set_error(fs, ret, "%s", iter->last_error);
	else if (fs->error_seq == seq)
		fs_set_error(fs, ret, "list %s: %s (%s)", iter->prefix,
			     fs_strerror(ret, errbuf, sizeof(errbuf)),
			     fs->driver->name);
	iter_free(iter);
	return ret;
}

/* A driver's iter_init may need to wait: it is driven to its end here, even
   for ASYNC iterators (fs_iter_init() has no -EAGAIN in its contract). */
static int iter_init_call(struct fs_iter *iter)
{
	int ret;

	for (;;) {
		ret = iter->fs->driver->v.iter_init(iter);
		if (ret != -EAGAIN)
			return ret;
		iter_set_pending(iter);
		ret = iter_wait(iter);
		if (ret < 0) {
			/* the driver has work in flight: cancel it (a plain
			   failure of iter_init cleans up by itself) */
			if (iter->fs->driver->v.iter_deinit != NULL)
				iter->fs->driver->v.iter_deinit(iter);
			return ret;
		}
	}
}

int fs_iter_init(struct fs *fs, const char *prefix, unsigned int flags,
		 struct fs_iter **iter_r)
{
	size_t size = fs->driver->iter_size;
	unsigned int seq = fs->error_seq;
	struct fs_iter *iter;
	int ret;

	*iter_r = NULL;
	ret = iter_check(fs, prefix, flags);
	if (ret < 0)
		return ret;
	iter = calloc(1, size > sizeof(*iter) ? size : sizeof(*iter));
	if (iter == NULL || (iter->prefix = strdup(prefix)) == NULL) {
		free(iter);
		return fs_set_error(fs, -ENOMEM, "list %s: out of memory",
				    prefix);
	}
	iter->fs = fs;
	iter->flags = flags;
	iter->start_usec = fs_now_usec();
	if (prefix_matches_nothing(prefix)) {
		iter->done = true;
		iter->driver_skipped = true;
		fs->iters_open++;
		*iter_r = iter;
		return 0;
	}
	ret = iter_init_call(iter);
	if (ret < 0)
		return iter_init_failed(iter, seq, ret);
	fs->iters_open++;
	*iter_r = iter;
	return 0;
}

static void iter_stats_end(struct fs_iter *iter, int result)
{
	if (iter->stats_done)
		return;
	iter->stats_done = true;
	fs_stats_record(iter->fs, FS_OP_ITER, iter->start_usec, 0, result);
}

static int iter_next_call(struct fs_iter *iter, const char **key_r)
{
	int ret;

	for (;;) {
		ret = iter->fs->driver->v.iter_next(iter, key_r);
		if (ret != -EAGAIN)
			return ret;
		iter_set_pending(iter);
		if ((iter->flags & FS_ITER_FLAG_ASYNC) != 0)
			return -EAGAIN;
		ret = iter_wait(iter);
		if (ret < 0)
			return ret;
	}
}

int fs_iter_next(struct fs_iter *iter, const char **key_r)
{
	char errbuf[128];
	int ret;

	*key_r = NULL;
	if (iter->error != 0)
		return iter->error;
	if (iter->done)
		return 0;
	if (iter->async_pending)
		return -EAGAIN;
	if (!iter->call_active) {
		iter->call_active = true;
		iter->call_seq = iter->error_seq;
	}
	ret = iter_next_call(iter, key_r);
	if (ret == -EAGAIN)
		return ret;
	iter->call_active = false;
	if (ret > 0 && *key_r != NULL)
		return 1;
	if (ret > 0)
		ret = fs_iter_set_error(iter, -EIO,
					"list %s: driver %s gave "
					"no key",
					iter->prefix, iter->fs->driver->name);
	iter->done = true;
	if (ret < 0) {
		iter->error = ret;
		if (iter->error_seq == iter->call_seq)
			fs_iter_set_error(
				iter, ret, "list %s: %s (%s)", iter->prefix,
				fs_strerror(ret, errbuf, sizeof(errbuf)),
				iter->fs->driver->name);
	}
	iter_stats_end(iter, ret);
	return ret;
}

void fs_iter_set_callback(struct fs_iter *iter, fs_callback_t *callback,
			  void *context)
{
	iter->callback = callback;
	iter->context = context;
}

int fs_iter_deinit(struct fs_iter **_iter)
{
	struct fs_iter *iter = *_iter;
	int ret;

	if (iter == NULL)
		return 0;
	*_iter = NULL;
	ret = iter->error;
	iter_stats_end(iter, ret);
	if (iter->fs->driver->v.iter_deinit != NULL && !iter->driver_skipped)
		iter->fs->driver->v.iter_deinit(iter);
	/* the driver cancelled what was pending: no callback */
	iter_clear_pending(iter);
	iter->fs->iters_open--;
	iter_free(iter);
	return ret;
}

/* The fallback of fs_delete_prefix(): list a page of keys, delete them, and
   list again, so that the listing never walks over what it deletes. */
static int delete_prefix_fallback(struct fs *fs, const char *prefix)
{
	enum { BATCH = 1000 };
	char *keys[BATCH];
	struct fs_file *file;
	struct fs_iter *iter;
	const char *key;
	int ret, count = 0;
	unsigned int i, n;

	do {
		ret = fs_iter_init(fs, prefix, 0, &iter);
		if (ret < 0)
			return ret;
		n = 0;
		while (n < BATCH && (ret = fs_iter_next(iter, &key)) > 0) {
			if ((keys[n] = strdup(key)) == NULL) {
				ret = -ENOMEM;
				break;
			}
			n++;
		}
		if (ret < 0)
			fs_set_error(fs, ret, "delete %s*: listing failed: %s",
				     prefix, fs_iter_last_error(iter));
		fs_iter_deinit(&iter);
		for (i = 0; i < n; i++) {
			if (ret >= 0 &&
			    (ret = fs_file_init(fs, keys[i], FS_OPEN_READ,
						&file)) == 0) {
				ret = fs_file_delete(file);
				if (ret == -ENOENT)
					ret = 0; /* deleted meanwhile */
				else if (ret < 0)
					fs_set_error(fs, ret, "%s",
						     fs_file_last_error(file));
				else
					count++;
				fs_file_deinit(&file);
			}
			free(keys[i]);
		}
		if (ret < 0)
			return ret;
	} while (n == BATCH);
	return count;
}

int fs_delete_prefix(struct fs *fs, const char *prefix)
{
	char printable[128];
	int ret;

	if (prefix == NULL || prefix[0] == '\0')
		return fs_set_error(fs, -EINVAL,
				    "delete prefix: an empty prefix would "
				    "delete everything");
	ret = prefix_check(fs, prefix);
	if (ret < 0) {
		fs_printable(prefix, printable, sizeof(printable));
		return fs_set_error(fs, ret, "delete prefix %s: %s", printable,
				    fs_last_error(fs));
	}
	if (prefix_matches_nothing(prefix))
		return 0;
	if (fs->driver->v.delete_prefix != NULL)
		return fs->driver->v.delete_prefix(fs, prefix);
	return delete_prefix_fallback(fs, prefix);
}
