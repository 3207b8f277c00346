/*
 * WebDAV methods on objects and collections: OPTIONS, GET and HEAD (with
 * Range and If-Match/If-None-Match), PUT (streamed into the store, with
 * If-None-Match: * atomic through FS_OPEN_CREATE), DELETE, MKCOL, COPY and
 * MOVE (Overwrite, Depth; a MOVE of an object is one libfs rename).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dav.h"

void dav_mock_options(struct mock_request *req)
{
	struct mock_reply *reply = mock_reply_new(200);

	if (reply != NULL) {
		mock_reply_header(reply, "DAV", "1");
		mock_reply_header(reply, "MS-Author-Via", "DAV");
		mock_reply_header(reply, "Allow",
				  "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, "
				  "COPY, MOVE, PROPFIND, PROPPATCH");
	}
	mock_request_reply(req, reply);
}

/* ------------------------------------------------------------------------ */
/* GET and HEAD                                                               */

/* One "bytes=F-L", "bytes=F-" or "bytes=-N" range. Returns 1 with the
   range, 0 for no (or an ignored) Range header, -1 if unsatisfiable. */
static int dav_range(const char *h, uint64_t size, uint64_t *off_r,
		     uint64_t *len_r)
{
	unsigned long long a, b;
	char *end;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return 0;
	h += 6;
	if (*h == '-') {
		b = strtoull(h + 1, &end, 10);
		if (end == h + 1 || *end != '\0')
			return 0;
		if (b == 0)
			return -1;
		*off_r = b >= size ? 0 : size - b;
		*len_r = size - *off_r;
		return size == 0 ? -1 : 1;
	}
	a = strtoull(h, &end, 10);
	if (end == h || *end != '-')
		return 0;
	if (end[1] == '\0') {
		b = UINT64_MAX;
	} else {
		char *e2;

		b = strtoull(end + 1, &e2, 10);
		if (*e2 != '\0' || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*off_r = a;
	*len_r = (b >= size ? size - 1 : b) - a + 1;
	return 1;
}

static bool dav_etag_listed(const char *list, const char *etag)
{
	const char *p = list;
	size_t len = strlen(etag);

	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, len) == 0 &&
		    (p[len] == '\0' || p[len] == ',' || p[len] == ' '))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

static const char *dav_ctype(const struct fs_metadata *md, int count)
{
	int i;

	for (i = 0; i < count; i++) {
		if (strcmp(md[i].name, DAV_MOCK_MD_CTYPE) == 0)
			return md[i].value;
	}
	return "application/octet-stream";
}

static void dav_object_headers(struct mock_reply *reply, struct fs_file *file,
			       const struct fs_stat *st)
{
	const struct fs_metadata *md = NULL;
	char date[64];
	int count = fs_file_get_metadata_all(file, &md);

	mock_reply_headerf(reply, "ETag", "\"%s\"", st->etag);
	mock_http_date(st->mtime_ns / 1000000000, date);
	mock_reply_header(reply, "Last-Modified", date);
	mock_reply_header(reply, "Content-Type",
			  dav_ctype(md, count > 0 ? count : 0));
	mock_reply_header(reply, "Accept-Ranges", "bytes");
}

/* Conditions of a GET: 0 to go on, or the status to answer. */
static unsigned int dav_get_conditions(struct mock_request *req,
				       const char *etag)
{
	const char *im = mock_header(req, "If-Match");
	const char *inm = mock_header(req, "If-None-Match");

	if (im != NULL && !dav_etag_listed(im, etag))
		return 412;
	if (inm != NULL && dav_etag_listed(inm, etag))
		return 304;
	return 0;
}

static void dav_get_reply(struct mock_request *req, struct fs_file *file,
			  const struct fs_stat *st)
{
	const char *range = mock_header(req, "Range");
	uint64_t off = 0, len = st->size;
	struct mock_reply *reply;
	char etag[FS_ETAG_MAX + 2];
	unsigned int cond;
	int r;

	snprintf(etag, sizeof(etag), "\"%s\"", st->etag);
	cond = dav_get_conditions(req, etag);
	r = cond == 0 ? dav_range(range, st->size, &off, &len) : 0;
	reply = mock_reply_new(cond != 0 ? cond
			       : r < 0	 ? 416
			       : r > 0	 ? 206
					 : 200);
	if (reply == NULL) {
		fs_file_deinit(&file);
		mock_request_reply(req, NULL);
		return;
	}
	dav_object_headers(reply, file, st);
	if (cond != 0 || r < 0) {
		if (r < 0)
			mock_reply_headerf(reply, "Content-Range",
					   "bytes */%llu",
					   (unsigned long long)st->size);
		fs_file_deinit(&file);
		mock_request_reply(req, reply);
		return;
	}
	if (r > 0) {
		mock_reply_headerf(reply, "Content-Range",
				   "bytes %llu-%llu/%llu",
				   (unsigned long long)off,
				   (unsigned long long)(off + len - 1),
				   (unsigned long long)st->size);
		(void)fs_file_set_range(file, off, len);
	}
	reply->file = file;
	reply->file_size = len;
	reply->is_object = true;
	mock_request_reply(req, reply);
}

void dav_mock_get(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	struct fs_file *file = NULL;
	struct fs_stat st;
	char *key;
	int ret = -ENOENT;

	mock_fs_lock(req->mock);
	key = dav_mock_key(dreq->path);
	if (key != NULL && !dreq->trailing_slash &&
	    (ret = fs_file_init(req->mock->fs, key, FS_OPEN_READ, &file)) == 0)
		ret = fs_file_stat(file, &st);
	free(key);
	if (ret < 0) {
		fs_file_deinit(&file);
		mock_fs_unlock(req->mock);
		/* a collection has no body (as Apache without an index) */
		dav_mock_fail_fs(req, ret, req->method);
		return;
	}
	dav_get_reply(req, file, &st);
	mock_fs_unlock(req->mock);
}

/* ------------------------------------------------------------------------ */
/* PUT                                                                        */

static int dav_put_body(struct mock_request *req, const char *data, size_t size)
{
	struct dav_mock_req *dreq = dav_req(req);
	ssize_t ret = 0;
	int err;

	if (dreq->wfile == NULL || dreq->write_failed)
		return 0;
	mock_count(req->mock, "bytes_in", size);
	mock_fs_lock(req->mock);
	while (size > 0) {
		ret = fs_write(dreq->wfile, data, size);
		if (ret <= 0)
			break;
		data += ret;
		size -= (size_t)ret;
	}
	if (ret < 0)
		fs_file_deinit(&dreq->wfile);
	mock_fs_unlock(req->mock);
	if (ret < 0) {
		dreq->write_failed = true;
		err = (int)ret;
		dav_mock_fail_fs(req, err, "PUT");
		return -1;
	}
	return 0;
}

static void dav_put_finish(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	struct mock_reply *reply;
	struct fs_stat st;
	int ret;

	if (dreq->write_failed || dreq->wfile == NULL)
		return;
	st.etag[0] = '\0';
	mock_fs_lock(req->mock);
	ret = fs_write_finish(dreq->wfile);
	fs_file_deinit(&dreq->wfile);
	if (ret == 0 &&
	    dav_mock_lookup(req->mock, dreq->path, &st) != DAV_RES_OBJECT)
		st.etag[0] = '\0';
	mock_fs_unlock(req->mock);
	if (ret == -EEXIST) {
		dav_mock_reply(req, 412, "the resource exists (If-None-Match)");
		return;
	}
	if (ret < 0) {
		dav_mock_fail_fs(req, ret, "PUT");
		return;
	}
	reply = mock_reply_new(dreq->created ? 201 : 204);
	if (reply != NULL && st.etag[0] != '\0')
		mock_reply_headerf(reply, "ETag", "\"%s\"", st.etag);
	mock_request_reply(req, reply);
}

/* Checks a PUT before its body comes: returns the mode to open with, or
   0 after replying. */
static unsigned int dav_put_check(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	const char *inm = mock_header(req, "If-None-Match");
	char *parent = dav_mock_parent(dreq->path);
	enum dav_res res, pres;

	res = dav_mock_lookup(req->mock, dreq->path, NULL);
	pres = parent != NULL ? dav_mock_lookup(req->mock, parent, NULL)
			      : DAV_RES_NONE;
	free(parent);
	if (dreq->path[0] == '\0' || dreq->trailing_slash ||
	    res == DAV_RES_COLLECTION) {
		dav_mock_reply(req, 405, "cannot PUT to a collection");
		return 0;
	}
	if (pres != DAV_RES_COLLECTION) {
		dav_mock_reply(req, 409,
			       "the parent collection does not exist");
		return 0;
	}
	if (mock_header(req, "If-Match") != NULL) {
		dav_mock_reply(req, 501, "If-Match on PUT is not implemented");
		return 0;
	}
	if (inm != NULL && strcmp(inm, "*") != 0) {
		dav_mock_reply(req, 501, "If-None-Match takes only * on PUT");
		return 0;
	}
	if (!dav_mock_if_ok(req, dreq->path))
		return 0;
	if (inm != NULL && res == DAV_RES_OBJECT) {
		dav_mock_reply(req, 412, "the resource exists (If-None-Match)");
		return 0;
	}
	dreq->created = res == DAV_RES_NONE;
	return inm != NULL ? FS_OPEN_CREATE : FS_OPEN_REPLACE;
}

void dav_mock_put_begin(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	const char *ctype = mock_header(req, "Content-Type");
	unsigned int mode;
	char *key;
	int ret;

	mock_fs_lock(req->mock);
	mode = dav_put_check(req);
	key = mode != 0 ? dav_mock_key(dreq->path) : NULL;
	if (mode != 0 && key == NULL) {
		mock_fs_unlock(req->mock);
		dav_mock_reply(req, 400,
			       "the path cannot be stored (too long or "
			       "invalid as a libfs key)");
		return;
	}
	ret = mode == 0 ? 0
			: fs_file_init(req->mock->fs, key, mode, &dreq->wfile);
	if (ret == 0 && dreq->wfile != NULL && ctype != NULL &&
	    fs_metadata_validate(DAV_MOCK_MD_CTYPE, ctype) == 0)
		ret = fs_file_set_metadata(dreq->wfile, DAV_MOCK_MD_CTYPE,
					   ctype);
	if (ret < 0)
		fs_file_deinit(&dreq->wfile);
	mock_fs_unlock(req->mock);
	free(key);
	if (mode == 0)
		return;
	if (ret < 0) {
		dav_mock_fail_fs(req, ret, "PUT");
		return;
	}
	req->body_fn = dav_put_body;
	req->finish_fn = dav_put_finish;
}

/* ------------------------------------------------------------------------ */
/* DELETE and MKCOL                                                           */

/* A collection stays when its last member goes (as a directory does). */
static void dav_keep_parent(struct fs_mock *mock, const char *path)
{
	char *parent = dav_mock_parent(path);

	if (parent != NULL && parent[0] != '\0')
		(void)dav_mock_col_add(mock, parent);
	free(parent);
}

static int dav_delete_object(struct fs_mock *mock, const char *path)
{
	struct fs_file *file = NULL;
	char *key = dav_mock_key(path);
	int ret = key == NULL
			  ? -ENOENT
			  : fs_file_init(mock->fs, key, FS_OPEN_READ, &file);

	if (ret == 0)
		ret = fs_file_delete(file);
	fs_file_deinit(&file);
	free(key);
	return ret;
}

static bool dav_depth_infinity(struct mock_request *req)
{
	const char *depth = mock_header(req, "Depth");

	return depth == NULL || strcasecmp(depth, "infinity") == 0;
}

void dav_mock_delete(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	struct fs_mock *mock = req->mock;
	enum dav_res res;
	int ret = 0;

	mock_fs_lock(mock);
	res = dav_mock_lookup(mock, dreq->path, NULL);
	if (res == DAV_RES_NONE || dreq->path[0] == '\0') {
		mock_fs_unlock(mock);
		dav_mock_reply(req, res == DAV_RES_NONE ? 404 : 403,
			       res == DAV_RES_NONE ? "no such resource"
						   : "the root stays");
		return;
	}
	if (res == DAV_RES_COLLECTION && !dav_depth_infinity(req)) {
		mock_fs_unlock(mock);
		/* RFC 4918 9.6.1, and what Apache says */
		dav_mock_reply(req, 400,
			       "Depth must be infinity for a collection");
		return;
	}
	if (!dav_mock_if_ok(req, dreq->path)) {
		mock_fs_unlock(mock);
		return;
	}
	if (res == DAV_RES_OBJECT)
		ret = dav_delete_object(mock, dreq->path);
	else
		ret = dav_mock_delete_tree(mock, dreq->path);
	if (ret == 0)
		dav_keep_parent(mock, dreq->path);
	mock_fs_unlock(mock);
	if (ret < 0)
		dav_mock_fail_fs(req, ret, "DELETE");
	else
		dav_mock_reply(req, 204, NULL);
}

void dav_mock_mkcol(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	struct fs_mock *mock = req->mock;
	char *parent, *key;
	unsigned int status = 201;
	const char *text = NULL;

	if (dreq->body.len > 0 || dreq->body_too_big) {
		dav_mock_reply(req, 415, "MKCOL takes no body");
		return;
	}
	mock_fs_lock(mock);
	parent = dav_mock_parent(dreq->path);
	key = dav_mock_key(dreq->path);
	if (dav_mock_lookup(mock, dreq->path, NULL) != DAV_RES_NONE) {
		status = 405;
		text = "the resource exists";
	} else if (parent == NULL ||
		   dav_mock_lookup(mock, parent, NULL) != DAV_RES_COLLECTION) {
		status = 409;
		text = "the parent collection does not exist";
	} else if (key == NULL) {
		status = 400;
		text = "the path cannot be stored";
	} else if (!dav_mock_if_ok(req, dreq->path)) {
		status = 0;
	} else if (dav_mock_col_add(mock, dreq->path) == NULL) {
		status = 500;
		text = "out of memory";
	}
	mock_fs_unlock(mock);
	free(parent);
	free(key);
	if (status != 0)
		dav_mock_reply(req, status, text);
}

/* ------------------------------------------------------------------------ */
/* COPY and MOVE                                                              */

struct dav_copy {
	struct fs_mock *mock;
	bool move;
	const char *src, *dst; /* the tops */
	int error;
};

/* Copies or renames one object src to dst (REPLACE). */
static int dav_copy_object(struct fs_mock *mock, const char *src,
			   const char *dst, bool move)
{
	struct fs_file *s = NULL, *d = NULL;
	char *skey = dav_mock_key(src), *dkey = dav_mock_key(dst);
	int ret = -EINVAL;

	if (skey != NULL && dkey != NULL &&
	    (ret = fs_file_init(mock->fs, skey, FS_OPEN_READ, &s)) == 0 &&
	    (ret = fs_file_init(mock->fs, dkey, FS_OPEN_REPLACE, &d)) == 0)
		ret = move ? fs_rename(s, d) : fs_copy(s, d);
	fs_file_deinit(&s);
	fs_file_deinit(&d);
	free(skey);
	free(dkey);
	return ret;
}

static int dav_copy_col(struct fs_mock *mock, const char *src, const char *dst)
{
	struct dav_mock_col *from = dav_mock_col_find(mock, src), *to;

	to = dav_mock_col_add(mock, dst);
	if (to == NULL)
		return -ENOMEM;
	return from != NULL ? dav_mock_props_copy(&to->props, &from->props) : 0;
}

static int dav_copy_member(struct fs_mock *mock, const char *path,
			   bool collection, void *context)
{
	struct dav_copy *c = context;
	char *dst;
	int ret;

	if (asprintf(&dst, "%s%s", c->dst, path + strlen(c->src)) < 0)
		return -ENOMEM;
	if (collection) {
		ret = dav_copy_col(mock, path, dst);
		if (ret == 0)
			ret = dav_mock_members(mock, path, dav_copy_member, c);
	} else {
		ret = dav_copy_object(mock, path, dst, c->move);
	}
	free(dst);
	return ret;
}

/* The path of the Destination header (an absolute URI or path). */
static char *dav_destination(struct mock_request *req)
{
	const char *dest = mock_header(req, "Destination"), *p;
	char *raw, *path;
	bool trailing;

	if (dest == NULL)
		return NULL;
	p = strstr(dest, "://");
	if (p != NULL) {
		p = strchr(p + 3, '/');
		if (p == NULL)
			p = "/";
	} else {
		p = dest;
	}
	raw = strndup(p, strcspn(p, "?#"));
	if (raw == NULL)
		return NULL;
	path = dav_mock_request_path(raw, &trailing);
	free(raw);
	return path;
}

struct dav_cm {
	bool move, overwrite, shallow;
	char *dst;
	enum dav_res src_res, dst_res;
};

/* Header checks before the store is touched. Returns false after
   replying. */
static bool dav_cm_headers(struct mock_request *req, struct dav_cm *cm)
{
	const char *ow = mock_header(req, "Overwrite");
	const char *depth = mock_header(req, "Depth");

	cm->move = strcmp(req->method, "MOVE") == 0;
	cm->dst = dav_destination(req);
	if (cm->dst == NULL) {
		dav_mock_reply(req, 400, "missing or malformed Destination");
		return false;
	}
	if (ow != NULL && strcmp(ow, "T") != 0 && strcmp(ow, "F") != 0) {
		dav_mock_reply(req, 400, "Overwrite must be T or F");
		return false;
	}
	cm->overwrite = ow == NULL || strcmp(ow, "T") == 0;
	if (depth != NULL && strcmp(depth, "0") != 0 &&
	    strcasecmp(depth, "infinity") != 0) {
		dav_mock_reply(req, 400, "Depth must be 0 or infinity");
		return false;
	}
	cm->shallow = depth != NULL && strcmp(depth, "0") == 0;
	return true;
}

/* Checks source and destination (fs lock held). Returns 0 to go on, or
   the status to answer with. */
static unsigned int dav_cm_check(struct mock_request *req, struct dav_cm *cm,
				 const char **text_r)
{
	const char *src = dav_req(req)->path;
	size_t slen = strlen(src);
	char *parent = dav_mock_parent(cm->dst), *key;
	enum dav_res pres;

	cm->src_res = dav_mock_lookup(req->mock, src, NULL);
	pres = parent != NULL ? dav_mock_lookup(req->mock, parent, NULL)
			      : DAV_RES_NONE;
	free(parent);
	key = dav_mock_key(cm->dst);
	free(key);
	*text_r = NULL;
	if (cm->src_res == DAV_RES_NONE)
		return 404;
	if (src[0] == '\0' || cm->dst[0] == '\0' || strcmp(src, cm->dst) == 0 ||
	    (strncmp(cm->dst, src, slen) == 0 && cm->dst[slen] == '/')) {
		*text_r = "source and destination overlap";
		return 403;
	}
	if (cm->move && cm->src_res == DAV_RES_COLLECTION && cm->shallow) {
		*text_r = "Depth must be infinity to move a collection";
		return 400;
	}
	if (pres != DAV_RES_COLLECTION) {
		*text_r = "the destination's parent collection does not exist";
		return 409;
	}
	if (key == NULL) {
		*text_r = "the destination cannot be stored";
		return 400;
	}
	cm->dst_res = dav_mock_lookup(req->mock, cm->dst, NULL);
	if (cm->dst_res != DAV_RES_NONE && !cm->overwrite) {
		*text_r = "the destination exists and Overwrite is F";
		return 412;
	}
	return dav_mock_if_ok(req, src) ? 0 : 1;
}

static int dav_cm_collection(struct fs_mock *mock, const char *src,
			     struct dav_cm *cm)
{
	struct dav_copy c = {
		.mock = mock, .move = cm->move, .src = src, .dst = cm->dst};
	int ret = dav_copy_col(mock, src, cm->dst);

	if (ret == 0 && !cm->shallow)
		ret = dav_mock_members(mock, src, dav_copy_member, &c);
	if (ret == 0 && cm->move)
		ret = dav_mock_delete_tree(mock, src);
	return ret;
}

/* Does the COPY or MOVE (fs lock held). */
static int dav_cm_run(struct mock_request *req, struct dav_cm *cm)
{
	struct fs_mock *mock = req->mock;
	const char *src = dav_req(req)->path;
	int ret = 0;

	/* A replaced collection (or an object replaced by one) goes first;
	   an object replacing an object is one atomic libfs rename/copy. */
	if (cm->dst_res == DAV_RES_COLLECTION ||
	    (cm->dst_res == DAV_RES_OBJECT &&
	     cm->src_res == DAV_RES_COLLECTION))
		ret = cm->dst_res == DAV_RES_COLLECTION
			      ? dav_mock_delete_tree(mock, cm->dst)
			      : dav_delete_object(mock, cm->dst);
	if (ret == 0 && cm->src_res == DAV_RES_OBJECT)
		ret = dav_copy_object(mock, src, cm->dst, cm->move);
	else if (ret == 0)
		ret = dav_cm_collection(mock, src, cm);
	if (ret == 0 && cm->move)
		dav_keep_parent(mock, src);
	return ret;
}

void dav_mock_copymove(struct mock_request *req)
{
	struct dav_cm cm = {0};
	const char *text;
	unsigned int status;
	int ret = 0;

	if (!dav_cm_headers(req, &cm)) {
		free(cm.dst);
		return;
	}
	mock_fs_lock(req->mock);
	status = dav_cm_check(req, &cm, &text);
	if (status == 0)
		ret = dav_cm_run(req, &cm);
	mock_fs_unlock(req->mock);
	free(cm.dst);
	if (status == 1)
		return; /* the If header failed: replied */
	if (status != 0)
		dav_mock_reply(req, status, text);
	else if (ret < 0)
		dav_mock_fail_fs(req, ret, req->method);
	else
		dav_mock_reply(req, cm.dst_res == DAV_RES_NONE ? 201 : 204,
			       NULL);
}
