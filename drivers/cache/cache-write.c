/*
 * cache: writing through, and the operations that change keys.
 *
 * A write streams to the child as it comes (the cache keeps a copy of the
 * bytes only while they fit object_max). Once the child acknowledged the
 * finish, the key's old entry is dropped and, with a copy, the child's stat
 * of the new object is taken and the copy inserted with it. A failed finish
 * drops the old entry too (the child may have published before failing); an
 * aborted write or a failed fs_write() leaves the cache as it was. Appends
 * are not copied: the key's entry is just dropped.
 *
 * Delete, copy and rename drop the entries they change (delete: the key;
 * copy: dst; rename: src and dst) before they start and again when they
 * end, so that a read filling meanwhile is marked stale and never inserts
 * what was there before.
 */
#include <errno.h>
#include <string.h>

#include "cache-private.h"

#define WCOPY_FIRST_ALLOC (16 * 1024)

static struct cache_fs *file_fs(struct cache_file *file)
{
	return CACHE_FS(file->file.fs);
}

void cache_write_deinit(struct cache_file *file)
{
	cache_obj_unref(&file->wcopy);
}

static void wcopy_drop(struct cache_file *file)
{
	cache_obj_unref(&file->wcopy);
	file->wcopy_ok = false;
}

/* Appends what the child took to the copy, or gives the copy up once it
   outgrows object_max. */
static void wcopy_append(struct cache_file *file, const void *data, size_t size)
{
	uint64_t object_max = file_fs(file)->object_max;
	struct cache_obj *obj = file->wcopy;
	size_t alloc;

	if (!file->wcopy_ok)
		return;
	if (obj == NULL) {
		obj = file->wcopy = cache_obj_new(WCOPY_FIRST_ALLOC);
		if (obj == NULL) {
			wcopy_drop(file);
			return;
		}
	}
	if (size > object_max || obj->size > object_max - size) {
		wcopy_drop(file);
		return;
	}
	if (obj->size + size > obj->alloc) {
		alloc = obj->alloc * 2;
		if (alloc < obj->size + size)
			alloc = obj->size + size;
		if (alloc > object_max)
			alloc = (size_t)object_max;
		if (cache_obj_reserve(&file->wcopy, alloc) < 0) {
			wcopy_drop(file);
			return;
		}
		obj = file->wcopy;
	}
	memcpy(obj->data + obj->size, data, size);
	obj->size += size;
}

ssize_t cache_write(struct fs_file *_file, const void *data, size_t size)
{
	struct cache_file *file = CACHE_FILE(_file);
	ssize_t ret;

	ret = cache_parent_open(file);
	if (ret < 0)
		return ret;
	ret = fs_passthrough_write(_file, data, size);
	if (ret > 0)
		wcopy_append(file, data, (size_t)ret);
	return ret;
}

/* Inserts the copy with the child's stat of what it published, unless the
   key changed meanwhile or the stat describes another object. */
static void write_insert(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);
	const struct fs_stat *st = &file->st;
	const struct fs_metadata_list *md = &file->file.write_md;
	struct cache_obj *obj = file->wcopy;

	if (file->fill_stale || (st->valid & FS_STAT_SIZE) == 0 ||
	    st->size != obj->size)
		return;
	if (fs->validate_etag &&
	    ((st->valid & FS_STAT_ETAG) == 0 || st->etag[0] == '\0'))
		return;
	if (cache_obj_set_metadata(obj, md->items, md->count) < 0)
		return;
	cache_obj_trim(&file->wcopy);
	file->wcopy->st = *st;
	(void)cache_store_insert(fs, file->file.key, file->wcopy);
}

/* The child acknowledged the finish. Returns true if the copy is to be
   inserted (after a stat). */
static bool write_published(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);

	cache_store_invalidate(fs, file->file.key);
	if (!file->wcopy_ok)
		return false;
	if (file->wcopy == NULL) {
		/* an empty object */
		file->wcopy = cache_obj_new(0);
		if (file->wcopy == NULL)
			return false;
	}
	/* a change of the key from now on makes the copy outdated */
	cache_fill_register(fs, file);
	file->wphase = CACHE_W_STAT;
	return true;
}

int cache_write_finish(struct fs_file *_file)
{
	struct cache_file *file = CACHE_FILE(_file);
	int ret;

	if (file->wphase == CACHE_W_DATA) {
		ret = cache_parent_open(file);
		if (ret < 0)
			return ret;
		ret = fs_passthrough_write_finish(_file);
		if (ret == -EAGAIN)
			return ret;
		if (ret < 0) {
			/* the child may have published before it failed */
			cache_store_invalidate(file_fs(file), _file->key);
			wcopy_drop(file);
			return ret;
		}
		if (!write_published(file)) {
			wcopy_drop(file);
			return 0;
		}
	}
	/* on the write handle, so a driver that knows what it just published
	   can answer without asking the server */
	ret = fs_file_stat(_file->parent, &file->st);
	if (ret == -EAGAIN)
		return ret;
	if (ret == 0)
		write_insert(file);
	/* the object is written whatever the stat said */
	cache_fill_unregister(file_fs(file), file);
	wcopy_drop(file);
	file->wphase = CACHE_W_DATA;
	return 0;
}

void cache_write_abort(struct fs_file *_file)
{
	struct cache_file *file = CACHE_FILE(_file);

	if (file->wphase == CACHE_W_STAT) {
		/* abandoned after the child published: the old entry is
		   outdated and the copy is not inserted */
		cache_store_invalidate(file_fs(file), _file->key);
		cache_fill_unregister(file_fs(file), file);
		file->wphase = CACHE_W_DATA;
	}
	wcopy_drop(file);
	if (_file->parent != NULL)
		fs_passthrough_write_abort(_file);
}

/* --- Delete, copy, rename --- */

int cache_delete(struct fs_file *_file)
{
	struct cache_file *file = CACHE_FILE(_file);
	struct cache_fs *fs = file_fs(file);
	int ret;

	cache_store_invalidate(fs, _file->key);
	ret = cache_parent_open(file);
	if (ret < 0)
		return ret;
	ret = fs_passthrough_delete(_file);
	if (ret != -EAGAIN)
		cache_store_invalidate(fs, _file->key);
	return ret;
}

/* Opens src's child file too; errors go on dst. */
static int copy_open(struct fs_file *src, struct fs_file *dst)
{
	int ret = cache_parent_open(CACHE_FILE(src));

	if (ret < 0)
		return fs_file_copy_error(dst, src, ret);
	return cache_parent_open(CACHE_FILE(dst));
}

int cache_copy(struct fs_file *src, struct fs_file *dst)
{
	struct cache_fs *fs = CACHE_FS(dst->fs);
	int ret;

	cache_store_invalidate(fs, dst->key);
	ret = copy_open(src, dst);
	if (ret < 0)
		return ret;
	ret = fs_passthrough_copy(src, dst);
	if (ret != -EAGAIN)
		cache_store_invalidate(fs, dst->key);
	return ret;
}

int cache_rename(struct fs_file *src, struct fs_file *dst)
{
	struct cache_fs *fs = CACHE_FS(dst->fs);
	int ret;

	cache_store_invalidate(fs, src->key);
	cache_store_invalidate(fs, dst->key);
	ret = copy_open(src, dst);
	if (ret < 0)
		return ret;
	ret = fs_passthrough_rename(src, dst);
	if (ret != -EAGAIN) {
		cache_store_invalidate(fs, src->key);
		cache_store_invalidate(fs, dst->key);
	}
	return ret;
}

int cache_delete_prefix(struct fs *_fs, const char *prefix)
{
	struct cache_fs *fs = CACHE_FS(_fs);
	int ret;

	cache_store_invalidate_prefix(fs, prefix);
	ret = fs_delete_prefix(_fs->parent, prefix);
	cache_store_invalidate_prefix(fs, prefix);
	if (ret < 0)
		return fs_set_error(_fs, ret, "%s", fs_last_error(_fs->parent));
	return ret;
}
