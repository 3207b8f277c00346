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
	struct posix_err *e = &iter->err;
	size_t len = 0;

	if (err == -EACCES || err == -EPERM)
		return posix_fail(e, -EACCES,
				  "posix: list '%s': directory '%s': %s",
				  iter->prefix, dir, posix_strerror(err));
	if (err == -ENOENT ||
	    (!first && (err == -ENOTDIR || err == -ELOOP || err == -EXDEV)))
		return 0;
	if (err == -ENOTDIR || err == -ELOOP || err == -EXDEV) {
		if (posix_classify(iter->pfs, dir, &len) == POSIX_KIND_OBJECT &&
		    err == -ENOTDIR)
			return 0;
		return posix_fail(e, -EACCES,
				  "posix: list '%s': refused to follow the "
				  "symlink '%.*s'",
				  iter->prefix, (int)len, dir);
	}
	return posix_fail(e, -EIO, "posix: list '%s': directory '%s': %s",
			  iter->prefix, dir, posix_strerror(err));
}

/* Enters the directory iter->path[0..path_len) ("" or "a/b/"). Returns 1,
   0 if it is to be skipped, or an error set on the iterator. */
static int posix_iter_push(struct posix_iter *iter, size_t path_len, bool first)
{
	struct posix_level lvl = {.path_len = path_len};
	struct posix_level *levels;
	char dir[FS_KEY_MAX + 1];
	int fd, ret;

	memcpy(dir, iter->path, path_len > 0 ? path_len - 1 : 0);
	dir[path_len > 0 ? path_len - 1 : 0] = '\0';
	fd = posix_open_beneath(iter->pfs, dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return posix_iter_open_error(iter, dir, fd, first);
	if (iter->depth == iter->alloc) {
		iter->alloc = iter->alloc == 0 ? 8 : iter->alloc * 2;
		levels = realloc(iter->levels,
				 iter->alloc * sizeof(*iter->levels));
		if (levels == NULL) {
			close(fd);
			return posix_fail(&iter->err, -ENOMEM,
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
	const char *prefix, *seg, *slash;
	size_t len;

	iter->prefix = strdup(_iter->prefix);
	if (iter->prefix == NULL)
		return fs_iter_set_error(_iter, -ENOMEM,
					 "posix: list '%s': out of memory",
					 _iter->prefix);
	iter->pfs = posix_fs_of(_iter->fs);
	iter->one_level = (_iter->flags & FS_ITER_FLAG_ONE_LEVEL) != 0;
	iter->job.iter = _iter;
	iter->pages[0].end = iter->pages[1].end = 1;
	prefix = seg = iter->prefix;
	slash = strrchr(prefix, '/');
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
	if (iter->one_level && iter->depth > 1) {
		iter->path[iter->levels[1].path_len] = '\0';
		while (iter->depth > 1)
			posix_iter_pop(iter);
	}
	*key_r = iter->path;
	return 1;
}

/* The next key of the walk: 1 with *key_r, 0 at the end, or an error. */
static int posix_iter_walk(struct posix_iter *iter, const char **key_r)
{
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

/* ------------------------------------------------------------------------ */
/* ASYNC iterators: pages                                                     */

/* Worker: lists the next keys into the page not being served. */
static void posix_run_page(struct posix_job *job)
{
	struct posix_iter *iter = FS_CONTAINER_OF(job, struct posix_iter, job);
	struct posix_page *page = &iter->pages[!iter->serve];
	size_t count = 0, len;
	const char *key;
	int ret = 1;

	iter->err.set = false;
	page->used = page->pos = 0;
	while (count < POSIX_PAGE_KEYS &&
	       POSIX_PAGE_BYTES - page->used > FS_KEY_MAX) {
		ret = posix_iter_walk(iter, &key);
		if (ret <= 0)
			break;
		len = strnlen(key, FS_KEY_MAX);
		memcpy(page->keys + page->used, key, len);
		page->keys[page->used + len] = '\0';
		page->used += len + 1;
		count++;
	}
	page->end = ret;
	job->ret = 0;
}

/* Starts filling the other page. Returns -EAGAIN, or 0 when it was filled
   at once. */
static int posix_page_start(struct posix_iter *iter)
{
	struct posix_page *page = &iter->pages[!iter->serve];

	if (page->keys == NULL) {
		page->keys = malloc(POSIX_PAGE_BYTES);
		if (page->keys == NULL)
			return fs_iter_set_error(&iter->iter, -ENOMEM,
						 "posix: list '%s': out of "
						 "memory",
						 iter->prefix);
	}
	return posix_job_start(iter->pfs, &iter->job, POSIX_JOB_PAGE,
			       posix_run_page);
}

/* Makes the other page ready: the worker's, or one listed now. Returns 0,
   -EAGAIN or -errno. */
static int posix_page_ready(struct posix_iter *iter)
{
	if (iter->job.busy)
		return posix_job_claim(iter->pfs, &iter->job) ? 0 : -EAGAIN;
	return posix_page_start(iter);
}

static int posix_iter_next_async(struct posix_iter *iter, const char **key_r)
{
	struct posix_page *page;
	int ret;

	for (;;) {
		page = &iter->pages[iter->serve];
		if (page->pos < page->used) {
			*key_r = page->keys + page->pos;
			page->pos += strlen(*key_r) + 1;
			return 1;
		}
		if (page->end != 1)
			return posix_iter_result(&iter->iter, &iter->err,
						 page->end);
		if (!iter->ready) {
			ret = posix_page_ready(iter);
			if (ret < 0)
				return ret;
		}
		/* the page served before is free: list the next one into it
		   while this one is served */
		iter->serve = !iter->serve;
		iter->ready = iter->pages[iter->serve].end == 1 &&
			      posix_page_start(iter) == 0;
	}
}

int posix_iter_next(struct fs_iter *_iter, const char **key_r)
{
	struct posix_iter *iter = posix_iter_of(_iter);

	if ((_iter->flags & FS_ITER_FLAG_ASYNC) && iter->pfs->max_threads > 0)
		return posix_iter_next_async(iter, key_r);
	iter->err.set = false;
	return posix_iter_result(_iter, &iter->err,
				 posix_iter_walk(iter, key_r));
}

void posix_iter_deinit(struct fs_iter *_iter)
{
	struct posix_iter *iter = posix_iter_of(_iter);

	posix_job_cancel(iter->pfs, &iter->job);
	free(iter->pages[0].keys);
	free(iter->pages[1].keys);
	while (iter->depth > 0)
		posix_iter_pop(iter);
	free(iter->levels);
	iter->levels = NULL;
	iter->alloc = 0;
	free(iter->prefix);
	iter->prefix = NULL;
}
