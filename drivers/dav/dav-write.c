/*
 * WebDAV writes.
 *
 * An object up to `buffer` bytes is kept in memory and sent with its length
 * at finish (replayable: the transport retries it). A larger one streams:
 * the PUT starts (chunked) once the buffer overflows, after the parent
 * collections were made and the authentication scheme is known, since a
 * streamed body cannot be sent twice.
 *
 * Where the body goes:
 *  - CREATE without metadata, small, on a server that honours
 *    If-None-Match: * (probed once per fs, or create=if-none-match): a PUT
 *    of the key with If-None-Match: * (412 -> -EEXIST). A 412 after a retry
 *    may be the echo of our own first attempt: the object is read back and
 *    compared with what we sent.
 *  - REPLACE without metadata (replace=put) that fits the buffer, or any
 *    REPLACE with metadata=0: a PUT of the key, which servers
 *    like Apache mod_dav_fs and nginx write to a temporary file and rename.
 *    Such a PUT keeps the old object's dead properties (Apache), so a
 *    PROPFIND first looks for libfs metadata; if there is some, the write
 *    goes through a temporary name instead, whose MOVE replaces them.
 *  - Everything else (streamed writes too: metadata may be set up to the
 *    finish): a PUT of a hidden temporary name next to the key
 *    (.libfs-tmp-RANDOM, never listed), a PROPPATCH with the metadata, and
 *    a MOVE into place with Overwrite: F for CREATE (412 -> -EEXIST) or T
 *    for REPLACE. A failure or an abort deletes the temporary.
 *
 * A PUT answered 409 (a parent collection is missing) creates the missing
 * collections with MKCOL and is sent once more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dav-private.h"

char *fs_dav_tmp_key(const char *key)
{
	const char *slash = strrchr(key, '/');
	int dir = slash != NULL ? (int)(slash - key + 1) : 0;
	char rnd[DAV_TMP_RANDOM + 1], *tmp;

	fs_dav_random_hex(rnd, sizeof(rnd));
	if (asprintf(&tmp, "%.*s" DAV_TMP_PREFIX "%s", dir, key, rnd) < 0)
		return NULL;
	return tmp;
}

static const char *dav_target(struct dav_file *file)
{
	return file->use_tmp ? file->tmp : file->file.key;
}

static bool dav_req_done(struct dav_file *file)
{
	return file->req != NULL && fs_http_request_is_done(file->req);
}

static void dav_buf_free(struct dav_file *file)
{
	free(file->buf);
	file->buf = NULL;
	file->len = file->alloc = file->buf_sent = 0;
}

static int dav_buf_append(struct dav_file *file, const void *data, size_t size)
{
	size_t alloc = file->alloc == 0 ? 16384 : file->alloc;
	unsigned char *p;

	if (file->len + size > file->alloc) {
		while (alloc < file->len + size)
			alloc *= 2;
		p = realloc(file->buf, alloc);
		if (p == NULL)
			return fs_file_set_error(&file->file, -ENOMEM,
						 "write %s: out of memory",
						 file->file.key);
		file->buf = p;
		file->alloc = alloc;
	}
	memcpy(file->buf + file->len, data, size);
	file->len += size;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Before the body: probe, stale metadata, parents, authentication           */

static int dav_probe_put(struct dav_file *file, enum dav_step step)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	ret = fs_dav_file_new(file, FS_OP_WRITE, "PUT",
			      fs_dav_url(fs, file->probe_key, false));
	if (ret == 0) {
		fs_http_request_set_body(file->req, "", 0);
		ret = fs_http_request_add_header(file->req, "If-None-Match",
						 "*");
	}
	return fs_dav_file_go(file, step, ret, "PUT");
}

static int dav_probe_start(struct dav_file *file)
{
	char rnd[17];

	fs_dav_random_hex(rnd, sizeof(rnd));
	snprintf(file->probe_key, sizeof(file->probe_key),
		 DAV_PROBE_PREFIX "%s", rnd);
	return dav_probe_put(file, DAV_STEP_PROBE_PUT1);
}

/* Does the server honour If-None-Match: * on PUT? A first PUT of a probe
   object with it, a second one that must get 412, a DELETE. Servers that
   cannot be probed get temporary names (always exclusive). */
static int dav_probe_next(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	long st = fs_http_request_status(file->req);
	int ret = fs_http_request_result(file->req);

	if (file->step == DAV_STEP_PROBE_DELETE) {
		if (ret < 0 && st != 404)
			fs_dav_bg_delete(fs, file->probe_key);
		file->probe_key[0] = '\0';
		return fs_dav_req_done(file, 0);
	}
	if (ret < 0 && st == 0) {
		/* it may have landed without a reply */
		fs_dav_bg_delete(fs, file->probe_key);
		file->probe_key[0] = '\0';
		return fs_dav_req_done(
			file, fs_dav_file_error(&file->file, file->req, "PUT"));
	}
	if (file->step == DAV_STEP_PROBE_PUT1) {
		if (ret == 0)
			return dav_probe_put(file, DAV_STEP_PROBE_PUT2);
		fs->inm = DAV_NO;
		file->probe_key[0] = '\0';
		return fs_dav_req_done(file, 0);
	}
	fs->inm = st == 412 ? DAV_YES : DAV_NO;
	ret = fs_dav_file_new(file, FS_OP_WRITE, "DELETE",
			      fs_dav_url(fs, file->probe_key, false));
	return fs_dav_file_go(file, DAV_STEP_PROBE_DELETE, ret, "DELETE");
}

static int dav_precheck_result(struct dav_file *file)
{
	int ret = fs_http_request_result(file->req);

	if (ret == -ENOENT) {
		file->stale_md = false;
		file->precheck_done = true;
		return fs_dav_req_done(file, 0);
	}
	ret = fs_dav_propfind_result(file, "PROPFIND", false);
	if (ret < 0)
		return ret;
	file->stale_md = file->entry.has_md;
	file->precheck_done = true;
	fs_dav_entry_clear(&file->entry);
	return 0;
}

/* Takes the result of a finished preparation step. Returns 0 (none, or
   done), -EAGAIN or -errno. */
static int dav_prepare_poll(struct dav_file *file)
{
	int ret;

	switch (file->step) {
	case DAV_STEP_MKCOL:
		ret = fs_dav_mkcol_next(file);
		if (ret == 0)
			file->parents_done = true;
		return ret;
	case DAV_STEP_PRIME:
		if (!dav_req_done(file))
			return -EAGAIN;
		(void)fs_dav_auth_learn(file->ctx.fs, file->req);
		file->primed = true;
		return fs_dav_req_done(file, 0);
	case DAV_STEP_PRECHECK:
		if (!dav_req_done(file))
			return -EAGAIN;
		if (fs_dav_auth_retry(file->ctx.fs, file->req,
				      &file->auth_retried))
			return fs_dav_propfind_start(
				file, DAV_STEP_PRECHECK, FS_OP_WRITE,
				file->file.key, DAV_PROPFIND_PROPNAME);
		return dav_precheck_result(file);
	case DAV_STEP_PROBE_PUT1:
	case DAV_STEP_PROBE_PUT2:
	case DAV_STEP_PROBE_DELETE:
		if (!dav_req_done(file))
			return -EAGAIN;
		if (file->step != DAV_STEP_PROBE_DELETE &&
		    fs_dav_auth_retry(file->ctx.fs, file->req,
				      &file->auth_retried))
			return dav_probe_put(file, file->step);
		ret = dav_probe_next(file);
		return ret == 0 && file->step != DAV_STEP_NONE ? -EAGAIN : ret;
	default:
		return 0;
	}
}

/* Decides where the body goes. Returns 0, -EAGAIN (a probe or check
   runs) or -errno. */
static int dav_decide(struct dav_file *file, bool streamed)
{
	struct dav_fs *fs = file->ctx.fs;
	bool md = file->file.write_md.count > 0;

	if (file->decided)
		return 0;
	if (md && !fs->metadata)
		return fs_file_set_error(&file->file, -ENOTSUP,
					 "write %s: the server keeps no "
					 "metadata (no PROPPATCH) (dav)",
					 file->file.key);
	if (file->file.mode == FS_OPEN_CREATE) {
		if (!md && !streamed && fs->inm == DAV_UNKNOWN)
			return dav_probe_start(file);
		file->use_tmp = md || streamed || fs->inm != DAV_YES;
	} else if (streamed && fs->metadata) {
		/* metadata may still be set before the finish, and then has
		   to land with the body: a temporary name */
		file->use_tmp = true;
	} else {
		if (!md && !fs->replace_move && fs->metadata &&
		    !file->precheck_done)
			return fs_dav_propfind_start(
				file, DAV_STEP_PRECHECK, FS_OP_WRITE,
				file->file.key, DAV_PROPFIND_PROPNAME);
		file->use_tmp = md || fs->replace_move || file->stale_md;
	}
	if (file->use_tmp && file->tmp == NULL &&
	    (file->tmp = fs_dav_tmp_key(file->file.key)) == NULL)
		return fs_file_set_error(&file->file, -ENOMEM,
					 "write %s: out of memory",
					 file->file.key);
	file->decided = true;
	return 0;
}

static int dav_prime_start(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	ret = fs_dav_file_new(file, FS_OP_WRITE, "OPTIONS",
			      fs_dav_url(fs, "", true));
	return fs_dav_file_go(file, DAV_STEP_PRIME, ret, "OPTIONS");
}

/* Returns 0 once the body may go, -EAGAIN or -errno. */
static int dav_prepare(struct dav_file *file, bool streamed)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret = dav_prepare_poll(file);

	if (ret != 0)
		return ret;
	ret = dav_decide(file, streamed);
	if (ret != 0 || !streamed)
		return ret;
	if (!file->parents_done) {
		ret = fs_dav_parents_start(file, dav_target(file),
					   DAV_STEP_NONE, FS_OP_WRITE, false);
		if (ret != 0)
			return ret;
		file->parents_done = true;
	}
	/* A streamed body cannot be sent again after a 401: learn the
	   server's scheme first. */
	if (!file->primed && fs->password != NULL && fs->auth == DAV_AUTH_NONE)
		return dav_prime_start(file);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Streaming                                                                  */

static int dav_stream_start(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	fs_http_request_deinit(&file->put_req);
	ret = fs_dav_request_new(&file->ctx, FS_OP_WRITE, "PUT",
				 fs_dav_url(fs, dav_target(file), false),
				 &file->put_req);
	if (ret == 0) {
		fs_http_request_set_body_stream(file->put_req, -1);
		ret = fs_dav_request_start(&file->put_req);
	}
	if (ret < 0)
		return fs_file_set_error(&file->file, ret,
					 "PUT %s: cannot start: %s (dav)",
					 file->file.key, fs_errno_name(ret));
	file->streaming = true;
	return 0;
}

static int dav_stream_error(struct dav_file *file, ssize_t ret)
{
	if (fs_http_request_is_done(file->put_req))
		return fs_dav_file_error(&file->file, file->put_req, "PUT");
	return fs_file_set_error(&file->file, (int)ret, "PUT %s: %s (dav)",
				 file->file.key, fs_errno_name((int)ret));
}

/* Pushes the buffered bytes into the stream. Returns 0 when they all went,
   -EAGAIN or -errno. */
static int dav_stream_flush(struct dav_file *file)
{
	ssize_t ret;

	while (file->buf_sent < file->len) {
		ret = fs_http_request_write(file->put_req,
					    file->buf + file->buf_sent,
					    file->len - file->buf_sent);
		if (ret < 0)
			return ret == -EAGAIN ? -EAGAIN
					      : dav_stream_error(file, ret);
		file->buf_sent += (size_t)ret;
	}
	dav_buf_free(file);
	return 0;
}

ssize_t fs_dav_write(struct fs_file *_file, const void *data, size_t size)
{
	struct dav_file *file = DAV_FILE(_file);
	struct dav_fs *fs = file->ctx.fs;
	ssize_t ret;

	if (!file->streaming) {
		if (file->step == DAV_STEP_NONE &&
		    file->len + size <= fs->buffer_max) {
			ret = dav_buf_append(file, data, size);
			return ret < 0 ? ret : (ssize_t)size;
		}
		ret = dav_prepare(file, true);
		if (ret == 0)
			ret = dav_stream_start(file);
		if (ret < 0)
			return ret;
	}
	ret = dav_stream_flush(file);
	if (ret < 0)
		return ret;
	ret = fs_http_request_write(file->put_req, data, size);
	if (ret < 0 && ret != -EAGAIN)
		return dav_stream_error(file, ret);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Publishing                                                                 */

static int dav_success(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	char *parent = fs_dav_parent(file->file.key);

	/* the parents exist now */
	while (parent != NULL) {
		fs_dav_col_add(fs, parent);
		parent[strlen(parent) - 1] = '\0';
		if (strrchr(parent, '/') == NULL)
			break;
		*(strrchr(parent, '/') + 1) = '\0';
	}
	free(parent);
	dav_buf_free(file);
	free(file->tmp);
	file->tmp = NULL;
	file->tmp_exists = false;
	return fs_dav_req_done(file, 0);
}

/* The write failed with err (message set): removes the temporary first if
   it may exist. Returns -EAGAIN while it does, else err. */
static int dav_fail(struct dav_file *file, int err)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	fs_dav_req_done(file, 0);
	if (file->tmp == NULL || !file->tmp_exists)
		return err;
	free(file->fail_msg);
	file->fail_msg = strdup(fs_file_last_error(&file->file));
	file->fail_err = err;
	ret = fs_dav_file_new(file, FS_OP_WRITE, "DELETE",
			      fs_dav_url(fs, file->tmp, false));
	if (ret == 0)
		ret = fs_dav_request_start(&file->req);
	if (ret < 0) {
		fs_dav_req_done(file, 0);
		fs_dav_bg_delete(fs, file->tmp);
		file->tmp_exists = false;
		return err;
	}
	file->step = DAV_STEP_TMP_DELETE;
	return -EAGAIN;
}

static int dav_tmp_deleted(struct dav_file *file)
{
	int err = file->fail_err;

	if (fs_http_request_result(file->req) < 0 &&
	    fs_http_request_status(file->req) != 404)
		fs_dav_bg_delete(file->ctx.fs, file->tmp);
	file->tmp_exists = false;
	fs_dav_req_done(file, 0);
	if (file->fail_msg != NULL)
		fs_file_set_error(&file->file, err, "%s", file->fail_msg);
	free(file->fail_msg);
	file->fail_msg = NULL;
	return err;
}

static int dav_put_start(struct dav_file *file)
{
	static const char empty[1] = "";
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	ret = fs_dav_file_new(file, FS_OP_WRITE, "PUT",
			      fs_dav_url(fs, dav_target(file), false));
	if (ret == 0) {
		fs_http_request_set_body(file->req,
					 file->buf != NULL ? (void *)file->buf
							   : (void *)empty,
					 file->len);
		if (!file->use_tmp && file->file.mode == FS_OPEN_CREATE)
			ret = fs_http_request_add_header(file->req,
							 "If-None-Match", "*");
	}
	if (file->use_tmp)
		file->tmp_exists = true;
	return fs_dav_file_go(file, DAV_STEP_PUT, ret, "PUT");
}

static int dav_proppatch_start(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	char *body = NULL;
	size_t size;
	int ret;

	ret = fs_dav_proppatch_body(&file->file.write_md, NULL, &body, &size);
	if (ret < 0)
		return dav_fail(file, fs_file_set_error(&file->file, ret,
							"PROPPATCH %s: %s",
							file->file.key,
							fs_errno_name(ret)));
	ret = fs_dav_file_new(file, FS_OP_WRITE, "PROPPATCH",
			      fs_dav_url(fs, file->tmp, false));
	if (ret == 0) {
		/* the same values twice on our own temporary: harmless */
		fs_http_request_set_idempotent(file->req, true);
		ret = fs_dav_file_body(file, body);
	} else {
		free(body);
	}
	ret = fs_dav_file_go(file, DAV_STEP_PROPPATCH, ret, "PROPPATCH");
	return ret == -EAGAIN ? ret : dav_fail(file, ret);
}

static int dav_move_start(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	char *dest = fs_dav_url(fs, file->file.key, false);
	int ret;

	ret = dest == NULL ? -ENOMEM
			   : fs_dav_file_new(file, FS_OP_WRITE, "MOVE",
					     fs_dav_url(fs, file->tmp, false));
	if (ret == 0)
		ret = fs_http_request_add_header(file->req, "Destination",
						 dest);
	if (ret == 0)
		ret = fs_http_request_add_header(
			file->req, "Overwrite",
			file->file.mode == FS_OPEN_CREATE ? "F" : "T");
	if (ret == 0)
		ret = fs_http_request_add_header(file->req, "Depth", "0");
	/* Tried again after a lost reply, a MOVE of our temporary name that
	   made it says 404 (or 412): the check below tells. */
	if (ret == 0)
		fs_http_request_set_idempotent(file->req, true);
	free(dest);
	ret = fs_dav_file_go(file, DAV_STEP_MOVE, ret, "MOVE");
	return ret == -EAGAIN ? ret : dav_fail(file, ret);
}

/* The body is stored (at the key, or at the temporary name). */
static int dav_body_stored(struct dav_file *file)
{
	if (!file->use_tmp)
		return dav_success(file);
	file->tmp_exists = true;
	dav_buf_free(file);
	if (file->file.write_md.count > 0)
		return dav_proppatch_start(file);
	return dav_move_start(file);
}

static int dav_exists_error(struct dav_file *file)
{
	return fs_file_set_error(&file->file, -EEXIST,
				 "create %s: object exists (dav)",
				 file->file.key);
}

/* A CREATE PUT retried after a lost reply got 412: reads the object
   back; if it holds our bytes, the first attempt made it. */
static int dav_verify_start(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	int ret;

	ret = fs_dav_file_new(file, FS_OP_WRITE, "GET",
			      fs_dav_url(fs, file->file.key, false));
	if (ret == 0)
		fs_http_request_set_response_max(file->req, file->len + 1);
	ret = fs_dav_file_go(file, DAV_STEP_VERIFY, ret, "GET");
	return ret == -EAGAIN ? ret : dav_exists_error(file);
}

static int dav_verify_result(struct dav_file *file)
{
	size_t size;
	const char *body = fs_http_request_body(file->req, &size);

	if (fs_http_request_result(file->req) == 0 && size == file->len &&
	    (size == 0 || memcmp(body, file->buf, size) == 0))
		return dav_success(file);
	return fs_dav_req_done(file, dav_exists_error(file));
}

static int dav_put_result(struct dav_file *file)
{
	struct fs_http_request *req = file->req;
	long st = fs_http_request_status(req);
	int ret = fs_http_request_result(req);

	if (ret == 0)
		return dav_body_stored(file);
	if (st == 409 && !file->parents_retried) {
		file->parents_retried = true;
		ret = fs_dav_parents_start(file, dav_target(file), DAV_STEP_PUT,
					   FS_OP_WRITE, true);
		if (ret == 0)
			return dav_put_start(file);
		return ret == -EAGAIN ? ret : dav_fail(file, ret);
	}
	if (st == 412 && !file->use_tmp) {
		if (fs_http_request_attempt(req) > 1)
			return dav_verify_start(file);
		return fs_dav_req_done(file, dav_exists_error(file));
	}
	return dav_fail(file, fs_dav_file_error(&file->file, req, "PUT"));
}

/* PROPPATCH answers 207 with a status per property: all must be 2xx. */
static int dav_proppatch_result(struct dav_file *file)
{
	struct dav_fs *fs = file->ctx.fs;
	long st = fs_http_request_status(file->req);
	int ret;

	if (st == 405 || st == 501) {
		/* no PROPPATCH here: metadata cannot be kept, and from now on
		   the capability says so */
		fs->metadata = false;
		return dav_fail(file,
				fs_file_set_error(&file->file, -ENOTSUP,
						  "PROPPATCH %s: HTTP %ld: the "
						  "server keeps no metadata "
						  "(dav)",
						  file->file.key, st));
	}
	if (fs_http_request_result(file->req) < 0)
		return dav_fail(file, fs_dav_file_error(&file->file, file->req,
							"PROPPATCH"));
	ret = fs_dav_propfind_result(file, "PROPPATCH", false);
	if (ret == 0 && file->entry.prop_error != 0)
		ret = fs_file_set_error(
			&file->file,
			file->entry.prop_error == 507 ? -ENOSPC : -EIO,
			"PROPPATCH %s: HTTP %d for the metadata "
			"(dav)",
			file->file.key, file->entry.prop_error);
	fs_dav_entry_clear(&file->entry);
	if (ret < 0)
		return dav_fail(file, ret);
	return dav_move_start(file);
}

/* A MOVE without a reply: if the temporary is gone, it moved (nobody else
   knows its name). */
static int dav_move_check_start(struct dav_file *file)
{
	return fs_dav_propfind_start(file, DAV_STEP_MOVE_CHECK, FS_OP_WRITE,
				     file->tmp, DAV_PROPFIND_STAT);
}

static int dav_move_result(struct dav_file *file)
{
	long st = fs_http_request_status(file->req);
	int ret = fs_http_request_result(file->req);

	if (ret == 0) {
		file->tmp_exists = false;
		return dav_success(file);
	}
	if (st == 0 || ((st == 404 || st == 412) &&
			fs_http_request_attempt(file->req) > 1))
		return dav_move_check_start(file);
	if (st == 412 && file->file.mode == FS_OPEN_CREATE)
		return dav_fail(file, dav_exists_error(file));
	return dav_fail(file,
			fs_dav_file_error(&file->file, file->req, "MOVE"));
}

static int dav_move_check_result(struct dav_file *file)
{
	int ret = fs_http_request_result(file->req);

	if (ret == -ENOENT) {
		file->tmp_exists = false;
		return dav_success(file);
	}
	return dav_fail(file, fs_file_set_error(&file->file, -EIO,
						"MOVE %s: no reply, the "
						"object was not published "
						"(dav)",
						file->file.key));
}

/* Repeats the step's request after learning how to authenticate. */
static int dav_step_again(struct dav_file *file)
{
	switch (file->step) {
	case DAV_STEP_PUT:
		return dav_put_start(file);
	case DAV_STEP_VERIFY:
		return dav_verify_start(file);
	case DAV_STEP_PROPPATCH:
		return dav_proppatch_start(file);
	case DAV_STEP_MOVE:
		return dav_move_start(file);
	default:
		return dav_move_check_start(file);
	}
}

static int dav_publish_next(struct dav_file *file)
{
	if (!dav_req_done(file))
		return -EAGAIN;
	if (file->step != DAV_STEP_TMP_DELETE &&
	    fs_dav_auth_retry(file->ctx.fs, file->req, &file->auth_retried))
		return dav_step_again(file);
	switch (file->step) {
	case DAV_STEP_PUT:
		return dav_put_result(file);
	case DAV_STEP_VERIFY:
		return dav_verify_result(file);
	case DAV_STEP_PROPPATCH:
		return dav_proppatch_result(file);
	case DAV_STEP_MOVE:
		return dav_move_result(file);
	case DAV_STEP_MOVE_CHECK:
		return dav_move_check_result(file);
	default:
		return dav_tmp_deleted(file);
	}
}

static int dav_finish_stream(struct dav_file *file)
{
	struct fs_http_request *req = file->put_req;
	int ret = dav_stream_flush(file);

	if (ret < 0)
		return ret;
	if (!file->stream_ended) {
		ret = fs_http_request_write_end(req);
		if (ret < 0)
			return dav_stream_error(file, ret);
		file->stream_ended = true;
		if (file->use_tmp)
			file->tmp_exists = true;
	}
	if (!fs_http_request_is_done(req))
		return -EAGAIN;
	file->streaming = false;
	ret = fs_http_request_result(req);
	if (ret < 0)
		ret = fs_dav_file_error(&file->file, req, "PUT");
	fs_http_request_deinit(&file->put_req);
	return ret < 0 ? dav_fail(file, ret) : dav_body_stored(file);
}

int fs_dav_write_finish(struct fs_file *_file)
{
	struct dav_file *file = DAV_FILE(_file);
	int ret;

	if (file->streaming)
		return dav_finish_stream(file);
	switch (file->step) {
	case DAV_STEP_PUT:
	case DAV_STEP_VERIFY:
	case DAV_STEP_PROPPATCH:
	case DAV_STEP_MOVE:
	case DAV_STEP_MOVE_CHECK:
	case DAV_STEP_TMP_DELETE:
		return dav_publish_next(file);
	case DAV_STEP_MKCOL:
		if (file->mkcol_then == DAV_STEP_PUT) {
			ret = fs_dav_mkcol_next(file);
			if (ret == 0)
				return dav_put_start(file);
			return ret == -EAGAIN ? ret : dav_fail(file, ret);
		}
		break;
	default:
		break;
	}
	ret = dav_prepare(file, false);
	if (ret != 0)
		return ret;
	return dav_put_start(file);
}

/* ------------------------------------------------------------------------ */
/* Abort                                                                      */

static bool dav_step_may_store(enum dav_step step)
{
	return step == DAV_STEP_PUT || step == DAV_STEP_PROPPATCH ||
	       step == DAV_STEP_MOVE || step == DAV_STEP_MOVE_CHECK ||
	       step == DAV_STEP_TMP_DELETE;
}

void fs_dav_write_abort(struct fs_file *_file)
{
	struct dav_file *file = DAV_FILE(_file);
	struct dav_fs *fs = file->ctx.fs;

	if (_file->mode == FS_OPEN_READ)
		return;
	/* A body cut off before its end is dropped by the server. */
	if (file->put_req != NULL && file->stream_ended && file->use_tmp)
		file->tmp_exists = true;
	fs_http_request_deinit(&file->put_req);
	if (file->req != NULL && dav_step_may_store(file->step) &&
	    file->use_tmp)
		file->tmp_exists = true;
	if ((file->step == DAV_STEP_PROBE_PUT1 ||
	     file->step == DAV_STEP_PROBE_PUT2 ||
	     file->step == DAV_STEP_PROBE_DELETE) &&
	    file->probe_key[0] != '\0')
		fs_dav_bg_delete(fs, file->probe_key);
	fs_dav_req_done(file, 0);
	fs_dav_mkcol_clear(file);
	if (file->tmp != NULL && file->tmp_exists)
		fs_dav_bg_delete(fs, file->tmp);
	free(file->tmp);
	file->tmp = NULL;
	file->tmp_exists = false;
	dav_buf_free(file);
	file->streaming = file->stream_ended = file->decided = false;
	file->probe_key[0] = '\0';
}
