/*
 * posix: listing keys in byte order.
 *
 * A depth-first walk that reads one directory at a time and sorts it by name,
 * where a directory's name carries a trailing '/': then the walk's order is
 * the byte order of the full keys ("a.b" < "a/" because '.' < '/'). Memory is
 * one sorted listing per level of the current path, not the whole tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix-private.h"

/* ------------------------------------------------------------------------ */
/* Listing                                                                    */

static struct posix_iter *posix_iter_of(struct fs_iter *iter)
{
	return FS_CONTAINER_OF(iter, struct posix_iter, iter);
}

static int posix_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns 1 for a regular file, 2 for a directory, 0 for anything else. */
static int posix_entry_type(DIR *dir, const struct dirent *de)
{
	struct stat st;

	if (de->d_type == DT_REG)
		return 1;
	if (de->d_type == DT_DIR)
		return 2;
	if (de->d_type != DT_UNKNOWN ||
	    fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return S_ISREG(st.st_mode) ? 1 : S_ISDIR(st.st_mode) ? 2 : 0;
}

static int posix_level_add(struct posix_level *lvl, const char *name,
			   size_t len, bool is_dir)
{
	char **names, *copy;

	if (lvl->count == lvl->alloc) {
		lvl->alloc = lvl->alloc == 0 ? 16 : lvl->alloc * 2;
		names = realloc(lvl->names, lvl->alloc * sizeof(*names));
		if (names == NULL)
			return -ENOMEM;
		lvl->names = names;
	}
	copy = malloc(len + 2);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, name, len);
	copy[len] = '/';
	copy[len + is_dir] = '\0';
	lvl->names[lvl->count++] = copy;
	return 0;
}

/* Adds the entry if it can be (part of) a listed key. */
static int posix_level_consider(struct posix_iter *iter,
				struct posix_level *lvl, DIR *dir,
				const struct dirent *de, bool first)
{
	const char *name = de->d_name;
	size_t len = strlen(name);
	int type;

	if (!posix_segment_ok(name, len) ||
	    strncmp(name, FS_RESERVED_PREFIX, strlen(FS_RESERVED_PREFIX)) == 0)
		return 0;
	if (first && strncmp(name, iter->match, iter->match_len) != 0)
		return 0;
	/* Names no key could have (control bytes, bad UTF-8, too long). */
	if (lvl->path_len + len > FS_KEY_MAX || fs_key_validate(name, NULL))
		return 0;
	type = posix_entry_type(dir, de);
	if (type == 0 || (type == 2 && lvl->path_len + len + 2 > FS_KEY_MAX))
		return 0;
	return posix_level_add(lvl, name, len, type == 2);
}

/* Reads and sorts the directory open at fd (which this closes). */
static int posix_level_read(struct posix_iter *iter, struct posix_level *lvl,
			    int fd, bool first)
{
	struct dirent *de;
	DIR *dir;
	int ret = 0;

	dir = fdopendir(fd);
	if (dir == NULL) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while (ret == 0) {
		errno = 0;
		de = readdir(dir);
		if (de == NULL) {
			ret = -errno;
			break;
		}
		ret = posix_level_consider(iter, lvl, dir, de, first);
	}
	closedir(dir);
	if (ret == 0 && lvl->count > 1)
		qsort(lvl->names, lvl->count, sizeof(*lvl->names),
		      posix_name_cmp);
	return ret;
}

static void posix_level_free(struct posix_level *lvl)
{
	size_t i;

	for (i = 0; i < lvl->count; i++)
		free(lvl->names[i]);
	free(lvl->names);
	memset(lvl, 0, sizeof(*lvl));
}

static void posix_iter_pop(struct posix_iter *iter)
{
	posix_level_free(&iter->levels[--iter->depth]);
}

/* A directory that cannot be opened: the start directory's lookup errors
   are the listing's (a symlink in the prefix is refused), deeper ones were
   removed or replaced during the walk and are skipped. */
static int posix_iter_open_error(struct posix_iter *iter, const char *dir,
				 int err, bool first)
{
	struct fs_iter *_iter = &iter->iter;
	size_t len = 0;

	if (err == -EACCES || err == -EPERM)
		return fs_iter_set_error(_iter, -EACCES,
					 "posix: list '%s': directory '%s': %s",
					 _iter->prefix, dir, strerror(-err));
	if (err == -ENOENT ||
	    (!first && (err == -ENOTDIR || err == -ELOOP || err == -EXDEV)))
		return 0;
	if (err == -ENOTDIR || err == -ELOOP || err == -EXDEV) {
		if (posix_classify(posix_fs_of(_iter->fs), dir, &len) ==
			    POSIX_KIND_OBJECT &&
		    err == -ENOTDIR)
			return 0;
		return fs_iter_set_error(_iter, -EACCES,
					 "posix: list '%s': refused to follow "
					 "the symlink '%.*s'",
					 _iter->prefix, (int)len, dir);
	}
	return fs_iter_set_error(_iter, -EIO,
				 "posix: list '%s': directory '%s': %s",
				 _iter->prefix, dir, strerror(-err));
}

/* Enters the directory iter->path[0..path_len) ("" or "a/b/"). Returns 1,
   0 if it is to be skipped, or an error set on the iterator. */
static int posix_iter_push(struct posix_iter *iter, size_t path_len, bool first)
{
	struct posix_fs *pfs = posix_fs_of(iter->iter.fs);
	struct posix_level lvl = {.path_len = path_len};
	struct posix_level *levels;
	char dir[FS_KEY_MAX + 1];
	int fd, ret;

	memcpy(dir, iter->path, path_len > 0 ? path_len - 1 : 0);
	dir[path_len > 0 ? path_len - 1 : 0] = '\0';
	fd = posix_open_beneath(pfs, dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return posix_iter_open_error(iter, dir, fd, first);
	if (iter->depth == iter->alloc) {
		iter->alloc = iter->alloc == 0 ? 8 : iter->alloc * 2;
		levels = realloc(iter->levels,
				 iter->alloc * sizeof(*iter->levels));
		if (levels == NULL) {
			close(fd);
			return fs_iter_set_error(&iter->iter, -ENOMEM,
						 "posix: list: out of memory");
		}
		iter->levels = levels;
	}
	ret = posix_level_read(iter, &lvl, fd, first);
	if (ret < 0) {
		posix_level_free(&lvl);
		return posix_iter_open_error(
			iter, dir, ret == -ENOENT ? -EIO : ret, first);
	}
	iter->levels[iter->depth++] = lvl;
	return 1;
}

int posix_iter_init(struct fs_iter *_iter)
{
	struct posix_iter *iter = posix_iter_of(_iter);
	const char *prefix = _iter->prefix, *seg = prefix;
	const char *slash = strrchr(prefix, '/');
	size_t len;

	iter->start_len = slash != NULL ? (size_t)(slash - prefix) + 1 : 0;
	iter->match = prefix + iter->start_len;
	iter->match_len = strlen(iter->match);
	/* A prefix whose directory part no key can have lists nothing; this
	   also keeps "../" and "/" from being looked up at all. */
	while (seg < prefix + iter->start_len) {
		len = strcspn(seg, "/");
		if (!posix_segment_ok(seg, len) ||
		    strncmp(seg, FS_RESERVED_PREFIX,
			    strlen(FS_RESERVED_PREFIX)) == 0)
			iter->empty = true;
		seg += len + 1;
	}
	if (iter->start_len > FS_KEY_MAX)
		iter->empty = true;
	if (!iter->empty)
		memcpy(iter->path, prefix, iter->start_len);
	return 0;
}

/* Goes one entry further: 1 with a key in *key_r, 0 to go on, -errno. */
static int posix_iter_step(struct posix_iter *iter, const char **key_r)
{
	struct posix_level *lvl = &iter->levels[iter->depth - 1];
	const char *name;
	size_t len;
	int ret;

	if (lvl->pos == lvl->count) {
		posix_iter_pop(iter);
		return 0;
	}
	name = lvl->names[lvl->pos++];
	len = strlen(name);
	memcpy(iter->path + lvl->path_len, name, len + 1);
	if (name[len - 1] == '/') {
		ret = posix_iter_push(iter, lvl->path_len + len, false);
		return ret < 0 ? ret : 0;
	}
	/* One level: the first key found under a directory stands for it. */
	if ((iter->iter.flags & FS_ITER_FLAG_ONE_LEVEL) && iter->depth > 1) {
		iter->path[iter->levels[1].path_len] = '\0';
		while (iter->depth > 1)
			posix_iter_pop(iter);
	}
	*key_r = iter->path;
	return 1;
}

int posix_iter_next(struct fs_iter *_iter, const char **key_r)
{
	struct posix_iter *iter = posix_iter_of(_iter);
	int ret;

	if (!iter->started) {
		iter->started = true;
		if (iter->empty)
			return 0;
		ret = posix_iter_push(iter, iter->start_len, true);
		if (ret <= 0)
			return ret;
	}
	while (iter->depth > 0) {
		ret = posix_iter_step(iter, key_r);
		if (ret != 0)
			return ret;
	}
	return 0;
}

void posix_iter_deinit(struct fs_iter *_iter)
{
	struct posix_iter *iter = posix_iter_of(_iter);

	while (iter->depth > 0)
		posix_iter_pop(iter);
	free(iter->levels);
	iter->levels = NULL;
	iter->alloc = 0;
}
