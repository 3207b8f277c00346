/*
 * WebDAV reads (GET with Range), PROPFIND Depth 0 for stat, exists and
 * metadata, DELETE, COPY and MOVE, the MKCOL chain that creates missing
 * parent collections, and the removal of collections a delete left empty.
 *
 * Every operation is a small state machine on the file's one-shot request:
 * it starts a request and returns -EAGAIN, and when the core calls it again
 * after the request's progress callback it takes the result and either
 * finishes or starts the next step. A request refused with 401 whose
 * challenge taught us how to authenticate is sent once more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dav-private.h"

/* ------------------------------------------------------------------------ */
/* One-shot requests                                                          */

int fs_dav_req_done(struct dav_file *file, int ret)
{
	fs_http_request_deinit(&file->req);
	free(file->body);
	file->body = NULL;
	file->step = DAV_STEP_NONE;
	return ret;
}

int fs_dav_file_new(struct dav_file *file, enum fs_op op, const char *method,
		    char *url)
{
	int ret;

	fs_dav_req_done(file, 0);
	ret = fs_dav_request_new(&file->ctx, op, method, url, &file->req);
	return ret;
}

int fs_dav_file_body(struct dav_file *file, char *body)
{
	if (body == NULL)
		return -ENOMEM;
	free(file->body);
	file->body = body;
	fs_http_request_set_body(file->req, body, strlen(body));
	return fs_http_request_add_header(file->req, "Content-Type",
					  "application/xml; charset=utf-8");
}

int fs_dav_file_go(struct dav_file *file, enum dav_step step, int ret,
		   const char *what)
{
	if (ret == 0)
		ret = fs_dav_request_start(&file->req);
	if (ret < 0) {
		fs_dav_req_done(file, 0);
		return fs_file_set_error(&file->file, ret,
					 "%s %s: cannot start: %s (dav)", what,
					 file->file.key, fs_errno_name(ret));
	}
	file->step = step;
	return -EAGAIN;
}

/* True once the one-shot request finished; false: return -EAGAIN. */
static bool dav_done(struct dav_file *file)
{
	return file->req != NULL && fs_http_request_is_done(file->req);
}

/* True if the finished request failed with 401 and is worth repeating. */
static bool dav_auth_again(struct dav_file *file)
{
	return fs_dav_auth_retry(file->ctx.fs, file->req, &file->auth_retried);
}

/* Forgets a request of another operation left on the file and starts
   afresh. */
static void dav_op_begin(struct dav_file *file)
{
	fs_dav_req_done(file, 0);
	fs_dav_mkcol_clear(file);
	file->auth_retried = false;
}

char *fs_dav_parent(const char *key)
{
	const char *slash = strrchr(key, '/');

	return slash == NULL ? NULL : strndup(key, (size_t)(slash - key + 1));
}

/* ------------------------------------------------------------------------ */
/* PROPFIND Depth 0                                                           */

int fs_dav_propfind_start(struct dav_file *file, enum dav_step step,
			  enum fs_op op, const char *key,
			  enum dav_propfind what)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	ret = fs_dav_file_new(file, op, "PROPFIND", fs_dav_url(fs, key, false));
	if (ret == 0)
		ret = fs_http_request_add_header(file->req, "Depth", "0");
	if (ret == 0)
		ret = fs_dav_file_body(file, fs_dav_propfind_body(what));
	return fs_dav_file_go(file, step, ret, "PROPFIND");
}

static int dav_entry_first(struct dav_entry *entry, void *context)
{
	struct dav_file *file = context;

	if (file->entry_found)
		return 0;
	fs_dav_entry_clear(&file->entry);
	file->entry = *entry;
	memset(entry, 0, sizeof(*entry));
	file->entry_found = true;
	return 0;
}

int fs_dav_propfind_result(struct dav_file *file, const char *what,
			   bool want_md)
{
	struct fs_http_request *req = file->req;
	const char *body, *error = NULL;
	size_t size;
	int ret = fs_http_request_result(req);

	fs_dav_entry_clear(&file->entry);
	file->entry_found = false;
	if (ret == -ENOENT)
		return fs_dav_req_done(
			file, fs_file_set_error(&file->file, -ENOENT,
						"%s %s: no such object (dav)",
						what, file->file.key));
	if (ret < 0)
		return fs_dav_req_done(
			file, fs_dav_file_error(&file->file, req, what));
	body = fs_http_request_body(req, &size);
	ret = fs_dav_ms_parse(body, size, want_md, dav_entry_first, file,
			      &error);
	if (ret == 0 && !file->entry_found) {
		ret = -EIO;
		error = "no <response> in the multistatus";
	}
	if (ret < 0)
		return fs_dav_req_done(
			file, fs_file_set_error(&file->file,
						ret == -ENOMEM ? ret : -EIO,
						"%s %s: HTTP %ld: %s (dav)",
						what, file->file.key,
						fs_http_request_status(req),
						error != NULL ? error : "?"));
	if (file->entry.status == 404)
		return fs_dav_req_done(
			file, fs_file_set_error(&file->file, -ENOENT,
						"%s %s: no such object (dav)",
						what, file->file.key));
	return fs_dav_req_done(file, 0);
}

/* Runs a PROPFIND of the file's key for op: -EAGAIN while it runs, then
   0 with file->entry describing an object, -ENOENT (missing or a
   collection) or -errno. */
static int dav_propfind_call(struct dav_file *file, enum fs_op op,
			     enum dav_propfind what, const char *name)
{
	int ret;

	if (file->step != DAV_STEP_PROPFIND) {
		dav_op_begin(file);
		return fs_dav_propfind_start(file, DAV_STEP_PROPFIND, op,
					     file->file.key, what);
	}
	if (!dav_done(file))
		return -EAGAIN;
	if (dav_auth_again(file))
		return fs_dav_propfind_start(file, DAV_STEP_PROPFIND, op,
					     file->file.key, what);
	ret = fs_dav_propfind_result(file, name, what == DAV_PROPFIND_ALLPROP);
	if (ret == 0 && file->entry.collection)
		ret = fs_file_set_error(&file->file, -ENOENT,
					"%s %s: a collection, no object (dav)",
					name, file->file.key);
	return ret;
}

int fs_dav_stat(struct fs_file *_file, struct fs_stat *st_r)
{
	struct dav_file *file = DAV_FILE(_file);
	int ret =
		dav_propfind_call(file, FS_OP_STAT, DAV_PROPFIND_STAT, "stat");

	if (ret < 0)
		return ret;
	if (file->entry.has_size) {
		st_r->size = file->entry.size;
		st_r->valid |= FS_STAT_SIZE;
	}
	if (file->entry.has_mtime) {
		st_r->mtime_ns = file->entry.mtime_ns;
		st_r->valid |= FS_STAT_MTIME;
	}
	if (file->entry.has_etag) {
		memcpy(st_r->etag, file->entry.etag, sizeof(st_r->etag));
		st_r->valid |= FS_STAT_ETAG;
	}
	return 0;
}

int fs_dav_exists(struct fs_file *_file)
{
	struct dav_file *file = DAV_FILE(_file);
	int ret = dav_propfind_call(file, FS_OP_EXISTS, DAV_PROPFIND_STAT,
				    "exists");

	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}

int fs_dav_get_metadata(struct fs_file *_file)
{
	struct dav_file *file = DAV_FILE(_file);
	const struct fs_metadata_list *md = &file->entry.md;
	size_t i;
	int ret;

	ret = dav_propfind_call(file, FS_OP_METADATA, DAV_PROPFIND_ALLPROP,
				"get metadata");
	for (i = 0; ret == 0 && i < md->count; i++)
		ret = fs_file_metadata_add(_file, md->items[i].name,
					   md->items[i].value);
	if (ret == -ENOMEM)
		ret = fs_file_set_error(_file, ret,
					"get metadata %s: out of memory",
					_file->key);
	fs_dav_entry_clear(&file->entry);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* GET                                                                        */

static int dav_read_start(struct dav_file *file)
{
	struct fs_file *_file = &file->file;
	uint64_t offset = _file->range_offset, length = _file->range_length;
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	fs_http_request_deinit(&file->read_req);
	ret = fs_dav_request_new(&file->ctx, FS_OP_READ, "GET",
				 fs_dav_url(fs, _file->key, false),
				 &file->read_req);
	if (ret == 0) {
		fs_http_request_set_response_stream(file->read_req);
		if (offset != 0 || length != UINT64_MAX)
			fs_http_request_set_range(file->read_req, offset,
						  length);
		ret = fs_dav_request_start(&file->read_req);
	}
	if (ret < 0)
		return fs_file_set_error(_file, ret,
					 "GET %s: cannot start: %s (dav)",
					 _file->key, fs_errno_name(ret));
	return 0;
}

static ssize_t dav_read_error(struct dav_file *file, ssize_t ret)
{
	struct fs_file *_file = &file->file;
	long st = fs_http_request_status(file->read_req);

	/* A range starting at or past the end reads as empty. */
	if (st == 416) {
		file->read_done = true;
		return 0;
	}
	if (ret == -ENOENT)
		return fs_file_set_error(_file, -ENOENT,
					 "read %s: no such object (dav)",
					 _file->key);
	if (st == 0 || st >= 300)
		return fs_dav_file_error(_file, file->read_req, "GET");
	return fs_file_set_error(_file, (int)ret, "GET %s: %s (dav)",
				 _file->key, fs_errno_name((int)ret));
}

/* On the first bytes: a 200 to a ranged GET is the whole object. */
static void dav_read_check(struct dav_file *file)
{
	struct fs_file *_file = &file->file;

	file->read_checked = true;
	file->read_skip = 0;
	file->read_left = UINT64_MAX;
	if (fs_http_request_status(file->read_req) == 200 &&
	    (_file->range_offset != 0 || _file->range_length != UINT64_MAX)) {
		file->read_skip = _file->range_offset;
		file->read_left = _file->range_length;
	}
}

/* Applies an emulated range to ret bytes just read into buf. */
static ssize_t dav_read_cut(struct dav_file *file, char *buf, ssize_t ret)
{
	size_t skip = file->read_skip < (uint64_t)ret ? (size_t)file->read_skip
						      : (size_t)ret;

	file->read_skip -= skip;
	ret -= (ssize_t)skip;
	if (ret > 0 && skip > 0)
		memmove(buf, buf + skip, (size_t)ret);
	if (file->read_left != UINT64_MAX) {
		if ((uint64_t)ret > file->read_left)
			ret = (ssize_t)file->read_left;
		file->read_left -= (uint64_t)ret;
	}
	return ret;
}

ssize_t fs_dav_read(struct fs_file *_file, void *buf, size_t size)
{
	struct dav_file *file = DAV_FILE(_file);
	ssize_t ret;

	if (file->read_done)
		return 0;
	if (file->read_req == NULL) {
		if (_file->range_length == 0) {
			file->read_done = true;
			return 0;
		}
		file->read_checked = false;
		ret = dav_read_start(file);
		if (ret < 0)
			return ret;
	}
	for (;;) {
		if (file->read_checked && file->read_left == 0) {
			file->read_done = true;
			return 0;
		}
		ret = fs_http_request_read(file->read_req, buf, size);
		if (ret <= 0)
			break;
		if (!file->read_checked)
			dav_read_check(file);
		ret = dav_read_cut(file, buf, ret);
		if (ret > 0)
			return ret;
	}
	if (ret == -EAGAIN)
		return ret;
	if (ret == 0) {
		file->read_done = true;
		return 0;
	}
	if (fs_dav_auth_retry(file->ctx.fs, file->read_req,
			      &file->read_auth_retried)) {
		file->read_checked = false;
		ret = dav_read_start(file);
		return ret < 0 ? ret : -EAGAIN;
	}
	return dav_read_error(file, ret);
}

/* ------------------------------------------------------------------------ */
/* The MKCOL chain                                                            */

void fs_dav_mkcol_clear(struct dav_file *file)
{
	size_t i;

	for (i = 0; i < file->mkcol_count; i++)
		free(file->mkcol[i]);
	free(file->mkcol);
	file->mkcol = NULL;
	file->mkcol_count = file->mkcol_pos = 0;
}

/* Lists the parents of key, from the top, that are not known to exist. */
static int dav_parents_list(struct dav_file *file, const char *key)
{
	struct dav_fs *fs = file->ctx.fs;
	const char *p;
	size_t n = 0;

	for (p = key; (p = strchr(p, '/')) != NULL; p++)
		n++;
	fs_dav_mkcol_clear(file);
	if (n == 0)
		return 0;
	file->mkcol = calloc(n, sizeof(*file->mkcol));
	if (file->mkcol == NULL)
		return -ENOMEM;
	for (p = key; (p = strchr(p, '/')) != NULL; p++) {
		char *col = strndup(key, (size_t)(p - key + 1));

		if (col == NULL)
			return -ENOMEM;
		if (fs_dav_col_known(fs, col))
			free(col);
		else
			file->mkcol[file->mkcol_count++] = col;
	}
	return 0;
}

static int dav_mkcol_send(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	const char *col = file->mkcol[file->mkcol_pos];
	int ret;

	file->mkcol_checking = false;
	ret = fs_dav_file_new(file, file->mkcol_op, "MKCOL",
			      fs_dav_url(fs, col, true));
	/* a repeated MKCOL finds the collection (405): as good */
	if (ret == 0)
		fs_http_request_set_idempotent(file->req, true);
	return fs_dav_file_go(file, DAV_STEP_MKCOL, ret, "MKCOL");
}

int fs_dav_parents_start(struct dav_file *file, const char *key,
			 enum dav_step then, enum fs_op op, bool force)
{
	struct dav_fs *fs = file->ctx.fs;
	char *parent;
	int ret;

	if (force && (parent = fs_dav_parent(key)) != NULL) {
		/* the server says a parent is missing: forget what we knew */
		char *top = strndup(parent, strcspn(parent, "/") + 1);

		if (top != NULL)
			fs_dav_col_forget(fs, top);
		free(top);
		free(parent);
	}
	ret = dav_parents_list(file, key);
	if (ret < 0) {
		fs_dav_mkcol_clear(file);
		return fs_file_set_error(&file->file, ret,
					 "MKCOL %s: out of memory (dav)", key);
	}
	file->mkcol_then = then;
	file->mkcol_op = op;
	file->mkcol_created = false;
	if (file->mkcol_count == 0) {
		fs_dav_mkcol_clear(file);
		return 0;
	}
	return dav_mkcol_send(file);
}

/* A MKCOL refused with 403 or 409 may have raced with another client's
   MKCOL of the same collection (Apache answers 403 when the directory
   appeared meanwhile): a PROPFIND says whether it exists now. */
static int dav_mkcol_check(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	const char *col = file->mkcol[file->mkcol_pos];
	int ret;

	file->saved_status = fs_http_request_status(file->req);
	file->mkcol_checking = true;
	ret = fs_dav_file_new(file, file->mkcol_op, "PROPFIND",
			      fs_dav_url(fs, col, true));
	if (ret == 0)
		ret = fs_http_request_add_header(file->req, "Depth", "0");
	if (ret == 0)
		ret = fs_dav_file_body(file,
				       fs_dav_propfind_body(DAV_PROPFIND_STAT));
	return fs_dav_file_go(file, DAV_STEP_MKCOL, ret, "PROPFIND");
}

static int dav_mkcol_failed(struct dav_file *file, const char *col)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	if (file->saved_status == 409)
		ret = fs_file_set_error(&file->file, -EIO,
					"MKCOL %s: HTTP 409: the base "
					"collection %s may not exist (dav)",
					col, fs->base_decoded);
	else if (file->saved_status != 0)
		ret = fs_file_set_error(
			&file->file, file->saved_status == 403 ? -EACCES : -EIO,
			"MKCOL %s: HTTP %ld (dav)", col, file->saved_status);
	else
		ret = fs_dav_file_error(&file->file, file->req, "MKCOL");
	fs_dav_mkcol_clear(file);
	return fs_dav_req_done(file, ret);
}

int fs_dav_mkcol_next(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	const char *col;
	long st;
	int ret;

	if (!dav_done(file))
		return -EAGAIN;
	if (dav_auth_again(file))
		return file->mkcol_checking ? dav_mkcol_check(file)
					    : dav_mkcol_send(file);
	col = file->mkcol[file->mkcol_pos];
	st = fs_http_request_status(file->req);
	ret = fs_http_request_result(file->req);
	if (file->mkcol_checking) {
		file->mkcol_checking = false;
		if (ret != 0)
			return dav_mkcol_failed(file, col);
		fs_dav_col_add(fs, col);
	} else if (ret == 0 || ret == -EEXIST) {
		/* 405: it exists (RFC 4918 9.3.1), maybe made by another */
		file->mkcol_created |= ret == 0;
		fs_dav_col_add(fs, col);
	} else if (st == 403 || st == 409) {
		return dav_mkcol_check(file);
	} else {
		file->saved_status = 0;
		return dav_mkcol_failed(file, col);
	}
	file->auth_retried = false;
	if (++file->mkcol_pos < file->mkcol_count)
		return dav_mkcol_send(file);
	fs_dav_mkcol_clear(file);
	fs_dav_req_done(file, 0);
	file->step = file->mkcol_then;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Empty collections                                                          */

struct dav_rmdir_scan {
	struct dav_file *file;
	unsigned int members;
	bool self;
	char etag[FS_ETAG_MAX];
};

static int dav_rmdir_entry(struct dav_entry *entry, void *context)
{
	struct dav_rmdir_scan *scan = context;
	struct dav_file *file = scan->file;
	size_t len = strlen(file->rmdir_key);
	char *key = NULL;
	int ret = fs_dav_href_key(file->ctx.fs, entry->href, file->rmdir_key,
				  &key);

	if (ret > 0 && strlen(key) + 1 == len &&
	    strncmp(key, file->rmdir_key, len - 1) == 0) {
		scan->self = true;
		if (entry->has_etag)
			memcpy(scan->etag, entry->etag_raw, sizeof(scan->etag));
	} else if (ret != -ENOMEM) {
		scan->members++;
	}
	free(key);
	return ret == -ENOMEM ? ret : 0;
}

static int dav_rmdir_list(struct dav_file *file, enum fs_op op)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	ret = fs_dav_file_new(file, op, "PROPFIND",
			      fs_dav_url(fs, file->rmdir_key, true));
	if (ret == 0)
		ret = fs_http_request_add_header(file->req, "Depth", "1");
	if (ret == 0)
		ret = fs_dav_file_body(file,
				       fs_dav_propfind_body(DAV_PROPFIND_LIST));
	if (ret == 0)
		ret = fs_dav_request_start(&file->req);
	if (ret < 0)
		return fs_dav_req_done(file, 0);
	file->step = DAV_STEP_RMDIR_LIST;
	return -EAGAIN;
}

/* The collection is empty: DELETE it unless it changed since we looked
   (its ETag says so), so that an object put there meanwhile stays. */
static int dav_rmdir_delete(struct dav_file *file, enum fs_op op,
			    const char *etag)
{
	struct dav_fs *fs = file->ctx.fs;
	char *url = fs_dav_url(fs, file->rmdir_key, true), *cond = NULL;
	int ret;

	if (url == NULL || asprintf(&cond, "<%s> ([%s])", url, etag) < 0) {
		free(url);
		return fs_dav_req_done(file, 0);
	}
	ret = fs_dav_file_new(file, op, "DELETE", url);
	if (ret == 0)
		ret = fs_http_request_add_header(file->req, "If", cond);
	free(cond);
	if (ret == 0)
		ret = fs_dav_request_start(&file->req);
	if (ret < 0)
		return fs_dav_req_done(file, 0);
	file->step = DAV_STEP_RMDIR;
	return -EAGAIN;
}

int fs_dav_rmdir_start(struct dav_file *file, const char *key, enum fs_op op)
{
	struct dav_fs *fs = file->ctx.fs;

	free(file->rmdir_key);
	file->rmdir_key = NULL;
	if (!fs->rmdir || fs->in_delete_prefix)
		return 0;
	file->rmdir_key = fs_dav_parent(key);
	if (file->rmdir_key == NULL)
		return 0;
	return dav_rmdir_list(file, op);
}

/* Goes one collection up. Returns 0 at the top. */
static int dav_rmdir_up(struct dav_file *file, enum fs_op op)
{
	size_t len = strlen(file->rmdir_key);

	file->rmdir_key[len - 1] = '\0';
	if (strchr(file->rmdir_key, '/') == NULL) {
		free(file->rmdir_key);
		file->rmdir_key = NULL;
		return fs_dav_req_done(file, 0);
	}
	*(strrchr(file->rmdir_key, '/') + 1) = '\0';
	return dav_rmdir_list(file, op);
}

int fs_dav_rmdir_next(struct dav_file *file, enum fs_op op)
{
	struct dav_rmdir_scan scan = {.file = file};
	const char *body;
	size_t size;

	if (!dav_done(file))
		return -EAGAIN;
	if (file->step == DAV_STEP_RMDIR) {
		if (fs_http_request_result(file->req) != 0)
			return fs_dav_req_done(file, 0);
		fs_dav_col_forget(file->ctx.fs, file->rmdir_key);
		return dav_rmdir_up(file, op);
	}
	if (fs_http_request_result(file->req) != 0)
		return fs_dav_req_done(file, 0);
	body = fs_http_request_body(file->req, &size);
	if (fs_dav_ms_parse(body, size, false, dav_rmdir_entry, &scan, NULL) <
		    0 ||
	    !scan.self || scan.members > 0 || scan.etag[0] == '\0')
		return fs_dav_req_done(file, 0);
	return dav_rmdir_delete(file, op, scan.etag);
}

/* ------------------------------------------------------------------------ */
/* DELETE                                                                     */

static int dav_delete_start(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	ret = fs_dav_file_new(file, FS_OP_DELETE, "DELETE",
			      fs_dav_url(fs, file->file.key, false));
	/* Depth 0 never deletes a collection (RFC 4918 9.6.1: servers refuse
	   it), so a key that names one cannot take a whole tree along. */
	if (ret == 0)
		ret = fs_http_request_add_header(file->req, "Depth", "0");
	return fs_dav_file_go(file, DAV_STEP_DELETE, ret, "DELETE");
}

static int dav_delete_result(struct dav_file *file)
{
	struct fs_file *_file = &file->file;
	long st = fs_http_request_status(file->req);
	int ret = fs_http_request_result(file->req);

	if (ret == 0 && st == 207)
		return fs_dav_req_done(
			file, fs_file_set_error(_file, -EIO,
						"delete %s: HTTP 207: partly "
						"failed (dav)",
						_file->key));
	if (ret == 0) {
		fs_dav_req_done(file, 0);
		return fs_dav_rmdir_start(file, _file->key, FS_OP_DELETE);
	}
	if (ret == -ENOENT)
		return fs_dav_req_done(
			file, fs_file_set_error(_file, -ENOENT,
						"delete %s: no such object "
						"(dav)",
						_file->key));
	if (st == 400 || st == 403 || st == 405 || st == 409) {
		/* refused: a collection? */
		file->saved_status = st;
		return fs_dav_propfind_start(file, DAV_STEP_DELETE_CHECK,
					     FS_OP_DELETE, _file->key,
					     DAV_PROPFIND_STAT);
	}
	return fs_dav_req_done(file,
			       fs_dav_file_error(_file, file->req, "delete"));
}

static int dav_delete_check(struct dav_file *file)
{
	struct fs_file *_file = &file->file;
	int ret = fs_dav_propfind_result(file, "delete", false);

	if (ret == 0 && file->entry.collection)
		return fs_file_set_error(_file, -ENOENT,
					 "delete %s: a collection, no object "
					 "(dav)",
					 _file->key);
	if (ret < 0)
		return ret;
	return fs_file_set_error(_file, -EIO,
				 "delete %s: HTTP %ld: the server refused to "
				 "delete it (dav)",
				 _file->key, file->saved_status);
}

int fs_dav_delete(struct fs_file *_file)
{
	struct dav_file *file = DAV_FILE(_file);

	switch (file->step) {
	case DAV_STEP_DELETE:
		if (!dav_done(file))
			return -EAGAIN;
		if (dav_auth_again(file))
			return dav_delete_start(file);
		return dav_delete_result(file);
	case DAV_STEP_DELETE_CHECK:
		if (!dav_done(file))
			return -EAGAIN;
		return dav_delete_check(file);
	case DAV_STEP_RMDIR_LIST:
	case DAV_STEP_RMDIR:
		return fs_dav_rmdir_next(file, FS_OP_DELETE);
	default:
		dav_op_begin(file);
		return dav_delete_start(file);
	}
}

/* ------------------------------------------------------------------------ */
/* COPY and MOVE                                                              */

/* Sends a COPY or MOVE of key src to key dst. */
static int dav_copymove_start(struct dav_file *dst, enum dav_step step,
			      enum fs_op op, const char *method,
			      const char *src, const char *to, bool overwrite)
{
	struct dav_fs *fs = dst->ctx.fs;
	char *dest = fs_dav_url(fs, to, false);
	int ret;

	ret = dest == NULL ? -ENOMEM
			   : fs_dav_file_new(dst, op, method,
					     fs_dav_url(fs, src, false));
	if (ret == 0)
		ret = fs_http_request_add_header(dst->req, "Destination", dest);
	if (ret == 0)
		ret = fs_http_request_add_header(dst->req, "Overwrite",
						 overwrite ? "T" : "F");
	if (ret == 0)
		ret = fs_http_request_add_header(dst->req, "Depth", "0");
	free(dest);
	return fs_dav_file_go(dst, step, ret, method);
}

/* The common ends of COPY and MOVE: 412 for Overwrite: F is -EEXIST, 404
   is a missing source. */
static int dav_copymove_error(struct dav_file *dst, const char *what,
			      const char *src)
{
	struct fs_file *_dst = &dst->file;
	int ret = fs_http_request_result(dst->req);

	if (ret == -ENOENT)
		return fs_file_set_error(_dst, -ENOENT,
					 "%s %s: no such object (dav)", what,
					 src);
	if (ret == -EEXIST && fs_http_request_status(dst->req) == 412)
		return fs_file_set_error(_dst, -EEXIST,
					 "%s to %s: object exists (dav)", what,
					 _dst->key);
	return fs_dav_file_error(_dst, dst->req, what);
}

static bool dav_parent_missing(struct dav_file *dst)
{
	long st = fs_http_request_status(dst->req);

	/* 409: RFC 4918; Apache says 500 for a MOVE into a missing one */
	return !dst->parents_retried && (st == 409 || st == 500);
}

/* copy: PROPFIND of the source (a collection is no object), COPY to a
   temporary name next to dst, MOVE it into place. A COPY with Overwrite
   on Apache deletes the destination and then writes it in place: readers
   could see half an object, a MOVE of a whole one they cannot. */
static int dav_copy_start(struct dav_file *dst, struct fs_file *src)
{
	free(dst->tmp);
	dst->tmp = fs_dav_tmp_key(dst->file.key);
	if (dst->tmp == NULL)
		return fs_file_set_error(&dst->file, -ENOMEM,
					 "copy %s: out of memory", src->key);
	dst->tmp_exists = false;
	return dav_copymove_start(dst, DAV_STEP_COPY, FS_OP_COPY, "COPY",
				  src->key, dst->tmp, false);
}

static int dav_copy_move(struct dav_file *dst)
{
	return dav_copymove_start(dst, DAV_STEP_MOVE, FS_OP_COPY, "MOVE",
				  dst->tmp, dst->file.key,
				  dst->file.mode != FS_OPEN_CREATE);
}

/* A failed copy: removes the temporary, keeps the error. */
static int dav_copy_fail(struct dav_file *dst, int ret)
{
	if (dst->tmp != NULL && dst->tmp_exists)
		fs_dav_bg_delete(dst->ctx.fs, dst->tmp);
	free(dst->tmp);
	dst->tmp = NULL;
	dst->tmp_exists = false;
	return fs_dav_req_done(dst, ret);
}

static int dav_copy_step(struct dav_file *dst, struct fs_file *src)
{
	int ret;

	switch (dst->step) {
	case DAV_STEP_COPY_CHECK:
		ret = fs_dav_propfind_result(dst, "copy", false);
		if (ret == -ENOENT || (ret == 0 && dst->entry.collection))
			return fs_file_set_error(&dst->file, -ENOENT,
						 "copy %s: no such object "
						 "(dav)",
						 src->key);
		return ret < 0 ? ret : dav_copy_start(dst, src);
	case DAV_STEP_COPY:
		if (fs_http_request_result(dst->req) == 0) {
			dst->tmp_exists = true;
			return dav_copy_move(dst);
		}
		if (dav_parent_missing(dst)) {
			dst->parents_retried = true;
			ret = fs_dav_parents_start(dst, dst->file.key,
						   DAV_STEP_COPY, FS_OP_COPY,
						   true);
			return ret < 0 ? dav_copy_fail(dst, ret)
				       : (ret == 0 ? dav_copy_start(dst, src)
						   : ret);
		}
		return dav_copy_fail(dst,
				     dav_copymove_error(dst, "copy", src->key));
	default: /* DAV_STEP_MOVE */
		if (fs_http_request_result(dst->req) == 0) {
			free(dst->tmp);
			dst->tmp = NULL;
			dst->tmp_exists = false;
			return fs_dav_req_done(dst, 0);
		}
		return dav_copy_fail(dst,
				     dav_copymove_error(dst, "copy", src->key));
	}
}

int fs_dav_copy(struct fs_file *src, struct fs_file *_dst)
{
	struct dav_file *dst = DAV_FILE(_dst);
	int ret;

	switch (dst->step) {
	case DAV_STEP_COPY_CHECK:
	case DAV_STEP_COPY:
	case DAV_STEP_MOVE:
		if (!dav_done(dst))
			return -EAGAIN;
		if (dav_auth_again(dst)) {
			if (dst->step == DAV_STEP_COPY_CHECK)
				break;
			return dst->step == DAV_STEP_COPY
				       ? dav_copy_start(dst, src)
				       : dav_copy_move(dst);
		}
		return dav_copy_step(dst, src);
	case DAV_STEP_MKCOL:
		ret = fs_dav_mkcol_next(dst);
		if (ret < 0)
			return ret == -EAGAIN ? ret : dav_copy_fail(dst, ret);
		return dav_copy_start(dst, src);
	default:
		dav_op_begin(dst);
		dst->parents_retried = false;
		break;
	}
	return fs_dav_propfind_start(dst, DAV_STEP_COPY_CHECK, FS_OP_COPY,
				     src->key, DAV_PROPFIND_STAT);
}

static int dav_rename_start(struct dav_file *dst, struct fs_file *src)
{
	return dav_copymove_start(dst, DAV_STEP_RENAME, FS_OP_RENAME, "MOVE",
				  src->key, dst->file.key,
				  dst->file.mode != FS_OPEN_CREATE);
}

static int dav_rename_result(struct dav_file *dst, struct fs_file *src)
{
	long st = fs_http_request_status(dst->req);
	int ret = fs_http_request_result(dst->req);

	if (ret == 0) {
		fs_dav_req_done(dst, 0);
		return fs_dav_rmdir_start(dst, src->key, FS_OP_RENAME);
	}
	if (dav_parent_missing(dst)) {
		dst->parents_retried = true;
		dst->saved_status = st;
		ret = fs_dav_parents_start(dst, dst->file.key, DAV_STEP_RENAME,
					   FS_OP_RENAME, true);
		return ret == 0 ? dav_rename_start(dst, src) : ret;
	}
	if (st == 400) {
		/* Depth: 0 refused: a collection? */
		dst->saved_status = st;
		return fs_dav_propfind_start(dst, DAV_STEP_RENAME_CHECK,
					     FS_OP_RENAME, src->key,
					     DAV_PROPFIND_STAT);
	}
	return fs_dav_req_done(dst,
			       dav_copymove_error(dst, "rename", src->key));
}

int fs_dav_rename(struct fs_file *src, struct fs_file *_dst)
{
	struct dav_file *dst = DAV_FILE(_dst);
	int ret;

	switch (dst->step) {
	case DAV_STEP_RENAME:
		if (!dav_done(dst))
			return -EAGAIN;
		if (dav_auth_again(dst))
			return dav_rename_start(dst, src);
		return dav_rename_result(dst, src);
	case DAV_STEP_RENAME_CHECK:
		if (!dav_done(dst))
			return -EAGAIN;
		ret = fs_dav_propfind_result(dst, "rename", false);
		if (ret == -ENOENT || (ret == 0 && dst->entry.collection))
			return fs_file_set_error(_dst, -ENOENT,
						 "rename %s: no such object "
						 "(dav)",
						 src->key);
		return ret < 0 ? ret
			       : fs_file_set_error(_dst, -EIO,
						   "rename %s: HTTP %ld (dav)",
						   src->key, dst->saved_status);
	case DAV_STEP_MKCOL:
		ret = fs_dav_mkcol_next(dst);
		if (ret < 0)
			return ret;
		if (!dst->mkcol_created)
			return fs_file_set_error(_dst, -EIO,
						 "rename %s to %s: HTTP %ld "
						 "(dav)",
						 src->key, _dst->key,
						 dst->saved_status);
		return dav_rename_start(dst, src);
	case DAV_STEP_RMDIR_LIST:
	case DAV_STEP_RMDIR:
		return fs_dav_rmdir_next(dst, FS_OP_RENAME);
	default:
		dav_op_begin(dst);
		dst->parents_retried = false;
		return dav_rename_start(dst, src);
	}
}
