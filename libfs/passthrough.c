/*
 * Passthrough helpers: a layer's methods that change nothing run the same
 * operation on the parent handle through the public API (so the parent's
 * statistics, fallbacks and range handling apply) and copy its error up.
 *
 * Parent handles are always asynchronous: an -EAGAIN from below travels up
 * as the layer's own -EAGAIN, and the parent's completion callback marks the
 * layer's handle done. Blocking behaviour is added once, at the top.
 */
#include <errno.h>
#include <string.h>

#include "fs-private.h"

unsigned int fs_passthrough_get_caps(struct fs *fs)
{
	return fs_get_caps(fs->parent);
}

static void passthrough_file_done(void *context)
{
	fs_file_async_done(context);
}

static void passthrough_iter_done(void *context)
{
	fs_iter_async_done(context);
}

/* Copies the parent's error up, unless it is -EAGAIN. */
static ssize_t file_result(struct fs_file *file, ssize_t ret)
{
	if (ret < 0 && ret != -EAGAIN)
		fs_file_copy_error(file, file->parent, (int)ret);
	return ret;
}

int fs_passthrough_file_init(struct fs_file *file)
{
	struct fs *fs = file->fs;
	int ret;

	/* ASYNC only when the application's file is: a blocking file then
	   runs the parent's direct path (posix skips its thread pool). */
	ret = fs_file_init(fs->parent, file->key, file->mode | file->flags,
			   &file->parent);
	if (ret < 0)
		return fs_set_error(fs, ret, "%s", fs_last_error(fs->parent));
	fs_file_set_callback(file->parent, passthrough_file_done, file);
	return 0;
}

void fs_passthrough_file_deinit(struct fs_file *file)
{
	fs_file_deinit(&file->parent);
}

ssize_t fs_passthrough_read(struct fs_file *file, void *buf, size_t size)
{
	int ret;

	/* the core has cleared the range if it emulates it itself */
	if (!file->parent->read_started) {
		ret = fs_file_set_range(file->parent, file->range_offset,
					file->range_length);
		if (ret < 0)
			return file_result(file, ret);
	}
	return file_result(file, fs_read(file->parent, buf, size));
}

static int copy_write_metadata(struct fs_file *file)
{
	const struct fs_metadata_list *md = &file->write_md;
	size_t i;
	int ret;

	for (i = 0; i < md->count; i++) {
		ret = fs_file_set_metadata(file->parent, md->items[i].name,
					   md->items[i].value);
		if (ret < 0)
			return (int)file_result(file, ret);
	}
	return 0;
}

ssize_t fs_passthrough_write(struct fs_file *file, const void *data,
			     size_t size)
{
	int ret;

	/* The metadata set so far goes down before the first byte, and again
	   at finish: a driver may send it with the first part of the data
	   (an S3 multipart upload does). */
	if (!file->parent->write_started &&
	    file->parent->call_id == CALL_NONE) {
		ret = copy_write_metadata(file);
		if (ret < 0)
			return ret;
	}
	return file_result(file, fs_write(file->parent, data, size));
}

int fs_passthrough_write_finish(struct fs_file *file)
{
	int ret;

	/* only when the parent's finish is not in flight yet */
	if (file->parent->call_id == CALL_NONE) {
		ret = copy_write_metadata(file);
		if (ret < 0)
			return ret;
	}
	return (int)file_result(file, fs_write_finish(file->parent));
}

void fs_passthrough_write_abort(struct fs_file *file)
{
	fs_write_abort(file->parent);
}

int fs_passthrough_stat(struct fs_file *file, struct fs_stat *st_r)
{
	return (int)file_result(file, fs_file_stat(file->parent, st_r));
}

int fs_passthrough_exists(struct fs_file *file)
{
	return (int)file_result(file, fs_file_exists(file->parent));
}

int fs_passthrough_revalidate(struct fs_file *file, const char *etag)
{
	return (int)file_result(file, fs_file_revalidate(file->parent, etag));
}

int fs_passthrough_get_metadata(struct fs_file *file)
{
	const struct fs_metadata *md;
	int i, count;

	count = fs_file_get_metadata_all(file->parent, &md);
	if (count < 0)
		return (int)file_result(file, count);
	for (i = 0; i < count; i++) {
		if (fs_file_metadata_add(file, md[i].name, md[i].value) < 0)
			return fs_file_set_error(
				file, -ENOMEM, "get metadata %s: out of memory",
				file->key);
	}
	return 0;
}

int fs_passthrough_delete(struct fs_file *file)
{
	return (int)file_result(file, fs_file_delete(file->parent));
}

int fs_passthrough_copy(struct fs_file *src, struct fs_file *dst)
{
	return (int)file_result(dst, fs_copy(src->parent, dst->parent));
}

int fs_passthrough_rename(struct fs_file *src, struct fs_file *dst)
{
	return (int)file_result(dst, fs_rename(src->parent, dst->parent));
}

int fs_passthrough_iter_init(struct fs_iter *iter)
{
	struct fs *fs = iter->fs;
	int ret;

	ret = fs_iter_init(fs->parent, iter->prefix, iter->flags,
			   &iter->parent);
	if (ret < 0)
		return fs_iter_set_error(iter, ret, "%s",
					 fs_last_error(fs->parent));
	fs_iter_set_callback(iter->parent, passthrough_iter_done, iter);
	return 0;
}

int fs_passthrough_iter_next(struct fs_iter *iter, const char **key_r)
{
	int ret = fs_iter_next(iter->parent, key_r);

	if (ret < 0 && ret != -EAGAIN)
		fs_iter_copy_error(iter, iter->parent, ret);
	return ret;
}

void fs_passthrough_iter_deinit(struct fs_iter *iter)
{
	fs_iter_deinit(&iter->parent);
}
