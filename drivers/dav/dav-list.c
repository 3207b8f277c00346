/*
 * WebDAV listings: PROPFIND Depth 1 (asking for resourcetype and getetag
 * only), one collection at a time, parsed as the body streams in, walked
 * depth-first with each collection's members sorted, so that keys come in
 * ascending byte order as S3 lists them (a collection "a/" sorts as "a/",
 * after "a-b" and "a.b", before "a0").
 *
 * ONE_LEVEL listings show a collection as the common prefix "dir/" only if
 * some object lies below it: a collection left empty (by a client without
 * rmdir, or a write that failed) is no prefix of any key. That takes one
 * more PROPFIND per collection, stopping at the first object found.
 *
 * Members whose names are no valid keys (libfs's temporary names among
 * them) are left out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dav-private.h"

#define DAV_READ_CHUNK (64 * 1024)

struct dav_level {
	char *dir; /* "" or "a/b/" */
	char **names;
	size_t count, alloc, pos;
	bool loaded;
	struct dav_ms_parser *parser;
	/* only members starting with this are kept (the first level) */
	const char *filter;
	struct dav_iter *iter;
};

static void dav_level_free(struct dav_level *level)
{
	size_t i;

	for (i = 0; i < level->count; i++)
		free(level->names[i]);
	free(level->names);
	free(level->dir);
	fs_dav_ms_deinit(&level->parser);
	free(level);
}

static int dav_level_push(struct dav_iter *iter, const char *dir,
			  const char *filter)
{
	struct dav_level *level, **levels;

	if (iter->depth == iter->alloc) {
		size_t alloc = iter->alloc == 0 ? 8 : iter->alloc * 2;

		levels = realloc(iter->levels, alloc * sizeof(*levels));
		if (levels == NULL)
			return -ENOMEM;
		iter->levels = levels;
		iter->alloc = alloc;
	}
	level = calloc(1, sizeof(*level));
	if (level == NULL || (level->dir = strdup(dir)) == NULL) {
		free(level);
		return -ENOMEM;
	}
	level->filter = filter;
	level->iter = iter;
	iter->levels[iter->depth++] = level;
	return 0;
}

static void dav_level_pop(struct dav_iter *iter)
{
	fs_http_request_deinit(&iter->req);
	dav_level_free(iter->levels[--iter->depth]);
}

static int dav_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A member of the level's collection: keeps its name ("x" or "x/"). */
static int dav_level_entry(struct dav_entry *entry, void *context)
{
	struct dav_level *level = context;
	struct dav_iter *iter = level->iter;
	size_t dlen = strlen(level->dir);
	char *key = NULL, *name, **names;
	int ret = fs_dav_href_key(iter->ctx.fs, entry->href, level->dir, &key);

	if (ret == -ENOMEM)
		return ret;
	/* the collection itself, or something that is no member */
	if (ret <= 0 || strncmp(key, level->dir, dlen) != 0 ||
	    key[dlen] == '\0' || strchr(key + dlen, '/') != NULL ||
	    fs_key_validate(key, NULL) < 0 ||
	    (entry->status != 0 &&
	     (entry->status < 200 || entry->status >= 300))) {
		free(key);
		return 0;
	}
	if (level->filter != NULL &&
	    strncmp(key, level->filter, strlen(level->filter)) != 0) {
		free(key);
		return 0;
	}
	if (asprintf(&name, "%s%s", key + dlen, entry->collection ? "/" : "") <
	    0) {
		free(key);
		return -ENOMEM;
	}
	free(key);
	if (level->count == level->alloc) {
		size_t alloc = level->alloc == 0 ? 64 : level->alloc * 2;

		names = realloc(level->names, alloc * sizeof(*names));
		if (names == NULL) {
			free(name);
			return -ENOMEM;
		}
		level->names = names;
		level->alloc = alloc;
	}
	level->names[level->count++] = name;
	return 0;
}

static int dav_list_start(struct dav_iter *iter, struct dav_level *level)
{
	struct dav_fs *fs = iter->ctx.fs;
	char *body = fs_dav_propfind_body(DAV_PROPFIND_LIST);
	int ret;

	fs_http_request_deinit(&iter->req);
	ret = body == NULL
		      ? -ENOMEM
		      : fs_dav_request_new(&iter->ctx, FS_OP_ITER, "PROPFIND",
					   fs_dav_url(fs, level->dir, true),
					   &iter->req);
	if (ret == 0) {
		fs_http_request_set_body(iter->req, body, strlen(body));
		fs_http_request_set_response_stream(iter->req);
		ret = fs_http_request_add_header(iter->req, "Depth", "1");
	}
	if (ret == 0)
		ret = fs_http_request_add_header(
			iter->req, "Content-Type",
			"application/xml; charset=utf-8");
	if (ret == 0)
		ret = fs_dav_request_start(&iter->req);
	/* the transport copied nothing: the body lives with the level */
	fs_dav_ms_deinit(&level->parser);
	if (ret == 0)
		ret = fs_dav_ms_init(false, dav_level_entry, level,
				     &level->parser);
	if (ret < 0) {
		free(body);
		fs_http_request_deinit(&iter->req);
		return fs_iter_set_error(&iter->iter, ret,
					 "list %s: cannot start: %s (dav)",
					 iter->iter.prefix, fs_errno_name(ret));
	}
	/* kept until the request is freed */
	free(iter->req_body);
	iter->req_body = body;
	return -EAGAIN;
}

static int dav_list_fail(struct dav_iter *iter, struct dav_level *level,
			 int ret, const char *error)
{
	char msg[768];
	long st = fs_http_request_status(iter->req);

	if (error != NULL)
		snprintf(msg, sizeof(msg),
			 "list %s: PROPFIND %s: HTTP %ld: %s (dav)",
			 iter->iter.prefix, level->dir, st, error);
	else
		ret = fs_dav_request_error(iter->req, "list", level->dir, msg,
					   sizeof(msg));
	fs_http_request_deinit(&iter->req);
	return fs_iter_set_error(&iter->iter, ret, "%s", msg);
}

/* Reads what arrived of the level's PROPFIND. Returns 0 once the level
   is loaded, -EAGAIN or -errno. */
static int dav_list_read(struct dav_iter *iter, struct dav_level *level)
{
	char buf[DAV_READ_CHUNK];
	const char *error = NULL;
	ssize_t n;
	int ret;

	for (;;) {
		n = fs_http_request_read(iter->req, buf, sizeof(buf));
		if (n <= 0)
			break;
		ret = fs_dav_ms_feed(level->parser, buf, (size_t)n, &error);
		if (ret < 0)
			return dav_list_fail(iter, level, ret, error);
	}
	if (n == -EAGAIN)
		return -EAGAIN;
	if (n == -ENOENT) {
		/* no such collection: nothing under it */
		fs_http_request_deinit(&iter->req);
		level->loaded = true;
		return 0;
	}
	if (n < 0) {
		if (fs_dav_auth_retry(iter->ctx.fs, iter->req,
				      &iter->auth_retried))
			return dav_list_start(iter, level);
		return dav_list_fail(iter, level, (int)n, NULL);
	}
	ret = fs_dav_ms_finish(level->parser, &error);
	if (ret < 0)
		return dav_list_fail(iter, level, ret, error);
	fs_http_request_deinit(&iter->req);
	fs_dav_ms_deinit(&level->parser);
	if (level->count > 0)
		qsort(level->names, level->count, sizeof(*level->names),
		      dav_name_cmp);
	level->loaded = true;
	return 0;
}

int fs_dav_iter_init(struct fs_iter *_iter)
{
	struct dav_iter *iter = DAV_ITER(_iter);
	const char *prefix = _iter->prefix, *slash = strrchr(prefix, '/');
	size_t dlen = slash != NULL ? (size_t)(slash - prefix + 1) : 0;

	iter->ctx.fs = DAV_FS(_iter->fs);
	iter->ctx.iter = _iter;
	iter->start_dir = strndup(prefix, dlen);
	if (iter->start_dir == NULL)
		return fs_iter_set_error(_iter, -ENOMEM, "list: out of memory");
	/* a prefix no key can start with lists nothing */
	if (dlen > 0) {
		iter->start_dir[dlen - 1] = '\0';
		if (fs_key_validate(iter->start_dir, NULL) < 0) {
			iter->started = true;
			iter->start_dir[dlen - 1] = '/';
			return 0;
		}
		iter->start_dir[dlen - 1] = '/';
	}
	if (dav_level_push(iter, iter->start_dir, prefix) < 0)
		return fs_iter_set_error(_iter, -ENOMEM, "list: out of memory");
	iter->started = true;
	return 0;
}

/* The object below the probed collection was found: returns its common
   prefix, popping the walk back to the level it belongs to. */
static int dav_probe_found(struct dav_iter *iter, const char **key_r)
{
	char *col = strdup(iter->levels[iter->probe_depth - 1]->dir);

	if (col == NULL)
		return fs_iter_set_error(&iter->iter, -ENOMEM,
					 "list: out of memory");
	while (iter->depth >= iter->probe_depth)
		dav_level_pop(iter);
	iter->probe_depth = 0;
	free(iter->key);
	iter->key = col;
	*key_r = col;
	return 1;
}

static int dav_emit(struct dav_iter *iter, struct dav_level *level,
		    const char *name, const char **key_r)
{
	char *key;

	if (asprintf(&key, "%s%s", level->dir, name) < 0)
		return fs_iter_set_error(&iter->iter, -ENOMEM,
					 "list: out of memory");
	free(iter->key);
	iter->key = key;
	*key_r = key;
	return 1;
}

/* Takes the next member of the top level: 1 with a key, 0 to go on, or
   -errno. */
static int dav_member(struct dav_iter *iter, struct dav_level *level,
		      const char **key_r)
{
	const char *name = level->names[level->pos++];
	size_t len = strlen(name);
	char *dir;
	int ret;

	if (name[len - 1] != '/') {
		if (iter->probe_depth > 0)
			return dav_probe_found(iter, key_r);
		return dav_emit(iter, level, name, key_r);
	}
	if (asprintf(&dir, "%s%s", level->dir, name) < 0)
		return fs_iter_set_error(&iter->iter, -ENOMEM,
					 "list: out of memory");
	ret = dav_level_push(iter, dir, NULL);
	free(dir);
	if (ret < 0)
		return fs_iter_set_error(&iter->iter, ret,
					 "list: out of memory");
	if (iter->probe_depth == 0 &&
	    (iter->iter.flags & FS_ITER_FLAG_ONE_LEVEL) != 0)
		iter->probe_depth = iter->depth;
	return 0;
}

int fs_dav_iter_next(struct fs_iter *_iter, const char **key_r)
{
	struct dav_iter *iter = DAV_ITER(_iter);
	struct dav_level *level;
	int ret;

	while (iter->depth > 0) {
		level = iter->levels[iter->depth - 1];
		if (!level->loaded) {
			if (iter->req == NULL) {
				iter->auth_retried = false;
				ret = dav_list_start(iter, level);
			} else {
				ret = dav_list_read(iter, level);
			}
			if (ret < 0)
				return ret;
			continue;
		}
		if (level->pos == level->count) {
			/* an empty collection is no common prefix */
			if (iter->depth == iter->probe_depth)
				iter->probe_depth = 0;
			dav_level_pop(iter);
			continue;
		}
		ret = dav_member(iter, level, key_r);
		if (ret != 0)
			return ret;
	}
	return 0;
}

void fs_dav_iter_deinit(struct fs_iter *_iter)
{
	struct dav_iter *iter = DAV_ITER(_iter);

	fs_http_request_deinit(&iter->req);
	while (iter->depth > 0)
		dav_level_free(iter->levels[--iter->depth]);
	free(iter->req_body);
	iter->req_body = NULL;
	free(iter->levels);
	free(iter->key);
	free(iter->start_dir);
	iter->levels = NULL;
	iter->key = iter->start_dir = NULL;
}

/* ------------------------------------------------------------------------ */
/* delete_prefix                                                              */

/* Removes the collections left empty above key, blocking. */
static void dav_sweep(struct dav_fs *fs, struct fs_file *helper,
		      const char *col)
{
	struct dav_file *file = DAV_FILE(helper);
	char *key;
	int ret;

	if (asprintf(&key, "%sx", col) < 0)
		return;
	ret = fs_dav_rmdir_start(file, key, FS_OP_DELETE);
	while (ret == -EAGAIN) {
		if (fs_http_wait(fs->http, -1) < 0)
			break;
		ret = fs_dav_rmdir_next(file, FS_OP_DELETE);
	}
	fs_dav_req_done(file, 0);
	free(key);
}

static int dav_len_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Deletes what lies under the prefix one key at a time, without looking
   for empty collections after each, then removes the collections that are
   left empty, deepest first. */
int fs_dav_delete_prefix(struct fs *_fs, const char *prefix)
{
	struct dav_fs *fs = DAV_FS(_fs);
	struct dav_set parents = {0};
	struct fs_iter *iter = NULL;
	struct fs_file *file = NULL;
	const char *key;
	char *parent;
	size_t i;
	int ret, count = 0;

	fs->in_delete_prefix = true;
	ret = fs_iter_init(_fs, prefix, 0, &iter);
	while (ret == 0 && (ret = fs_iter_next(iter, &key)) > 0) {
		ret = fs_file_init(_fs, key, FS_OPEN_READ, &file);
		if (ret == 0) {
			ret = fs_file_delete(file);
			if (ret < 0 && ret != -ENOENT)
				fs_set_error(_fs, ret, "%s",
					     fs_file_last_error(file));
			fs_file_deinit(&file);
		}
		if (ret == 0)
			count++;
		if (ret == -ENOENT)
			ret = 0;
		if (ret == 0 && (parent = fs_dav_parent(key)) != NULL) {
			fs_dav_set_add(&parents, parent);
			free(parent);
		}
	}
	if (iter != NULL) {
		int ret2 = fs_iter_deinit(&iter);

		if (ret == 0 && ret2 < 0)
			ret = fs_set_error(_fs, ret2, "delete %s: listing: %s",
					   prefix, fs_last_error(_fs));
	}
	fs->in_delete_prefix = false;
	if (fs->rmdir && parents.count > 0 &&
	    fs_file_init(_fs, "x", FS_OPEN_READ, &file) == 0) {
		qsort(parents.items, parents.count, sizeof(*parents.items),
		      dav_len_desc);
		for (i = 0; i < parents.count; i++)
			dav_sweep(fs, file, parents.items[i]);
		fs_file_deinit(&file);
	}
	fs_dav_set_clear(&parents);
	return ret < 0 ? ret : count;
}
