/*
 * S3 writes. An object up to multipart_threshold is buffered and sent in one
 * PUT with Content-MD5 (replayable, so the transport retries it). A larger
 * one becomes a multipart upload: CreateMultipartUpload when the buffer
 * overflows, parts of part_size bytes sent as they fill, up to `parallel` in
 * flight (memory: the parts in flight plus the one filling), and
 * CompleteMultipartUpload at finish. Any failure, abort or deinit of an
 * unfinished write sends AbortMultipartUpload, after letting the parts in
 * flight end, so that no upload and no part is left behind.
 *
 * CREATE sends If-None-Match: * with the PUT and the Complete (412 ->
 * -EEXIST); with create=head a HEAD comes first instead (racy, and the
 * capability says so). When a conditional write had to be retried, a 412 (or
 * NoSuchUpload for a Complete) may be the echo of our own first attempt that
 * succeeded unseen: a HEAD then compares the object's ETag with ours.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "s3-private.h"
#include "xml.h"

#define S3_COMPLETE_TRIES 3

uint64_t fs_s3_part_size(uint64_t base, unsigned int number)
{
	unsigned int shift =
		number > 0 ? (number - 1) / S3_PART_GROWTH_STEP : 0;
	uint64_t size = base;

	while (shift-- > 0 && size < S3_MAX_PART_SIZE)
		size *= 2;
	return size > S3_MAX_PART_SIZE ? S3_MAX_PART_SIZE : size;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static struct s3_fs *s3_file_fs(struct s3_file *file)
{
	return file->ctx.fs;
}

static int s3_buf_append(struct s3_file *file, const void *data, size_t size,
			 size_t max)
{
	size_t alloc = file->alloc == 0 ? 16384 : file->alloc;
	unsigned char *p;

	if (file->len + size > file->alloc) {
		while (alloc < file->len + size)
			alloc *= 2;
		if (alloc > max && max >= file->len + size)
			alloc = max;
		p = realloc(file->buf, alloc);
		if (p == NULL)
			return -ENOMEM;
		file->buf = p;
		file->alloc = alloc;
	}
	memcpy(file->buf + file->len, data, size);
	file->len += size;
	return 0;
}

static void s3_buf_free(struct s3_file *file)
{
	free(file->buf);
	file->buf = NULL;
	file->len = file->alloc = 0;
}

static int s3_add_meta_headers(struct s3_file *file,
			       struct fs_http_request *req)
{
	const struct fs_metadata_list *md = &file->file.write_md;
	char *name, *value;
	size_t i;
	int ret = 0;

	for (i = 0; i < md->count && ret == 0; i++) {
		value = fs_s3_meta_encode(md->items[i].value);
		if (value == NULL ||
		    asprintf(&name, "x-amz-meta-%s", md->items[i].name) < 0) {
			free(value);
			return -ENOMEM;
		}
		ret = fs_http_request_add_header(req, name, value);
		free(name);
		free(value);
	}
	return ret;
}

static bool s3_is_create(struct s3_file *file)
{
	return file->file.mode == FS_OPEN_CREATE &&
	       s3_file_fs(file)->create == S3_CREATE_IF_NONE_MATCH;
}

/* Creates the file's one-shot write request: method on the file's key with
   query, the metadata headers if meta, If-None-Match for CREATE if cond. */
static int s3_write_request(struct s3_file *file, const char *method,
			    const char *query, bool meta, bool cond)
{
	char *key = fs_s3_full_key(s3_file_fs(file), file->file.key);
	int ret;

	ret = key == NULL ? -ENOMEM
			  : fs_s3_request_new(&file->ctx, FS_OP_WRITE, method,
					      key, query, &file->req);
	free(key);
	if (ret == 0 && meta)
		ret = s3_add_meta_headers(file, file->req);
	if (ret == 0 && cond && s3_is_create(file))
		ret = fs_http_request_add_header(file->req, "If-None-Match",
						 "*");
	if (ret < 0)
		fs_http_request_deinit(&file->req);
	return ret;
}

static int s3_write_start(struct s3_file *file, enum s3_step step,
			  const char *what)
{
	int ret = fs_s3_request_start(&file->req);

	if (ret < 0)
		return fs_file_set_error(&file->file, ret,
					 "%s %s: cannot start: %s", what,
					 file->file.key, fs_errno_name(ret));
	file->step = step;
	return -EAGAIN;
}

static int s3_exists_error(struct s3_file *file)
{
	return fs_file_set_error(&file->file, -EEXIST,
				 "create %s: object exists (s3)",
				 file->file.key);
}

/* Ends the one-shot request; keeps ret. */
static int s3_req_done(struct s3_file *file, int ret)
{
	fs_http_request_deinit(&file->req);
	file->step = S3_STEP_NONE;
	return ret;
}

/* After a retried conditional write failed with err: HEAD the object and
   succeed if its ETag is ours. The failure's message is kept for later. */
static int s3_verify_start(struct s3_file *file, int err, const char *etag,
			   const char *what)
{
	char msg[768];

	if (err == -EEXIST)
		snprintf(msg, sizeof(msg), "create %s: object exists (s3)",
			 file->file.key);
	else
		(void)fs_s3_request_error(file->req, what, file->file.key, msg,
					  sizeof(msg));
	free(file->verify_msg);
	free(file->expect_etag);
	file->verify_msg = strdup(msg);
	file->expect_etag = strdup(etag);
	file->verify_err = err;
	if (file->verify_msg == NULL || file->expect_etag == NULL)
		return fs_file_set_error(&file->file, -ENOMEM,
					 "%s %s: out of memory", what,
					 file->file.key);
	return fs_s3_head_start(file, S3_STEP_VERIFY, FS_OP_WRITE);
}

/* Returns 0 if the HEAD found our ETag, else the kept failure. */
static int s3_verify_result(struct s3_file *file)
{
	const char *etag = fs_http_request_result(file->req) == 0
				   ? fs_http_request_header(file->req, "etag")
				   : NULL;
	int ret = 0;

	if (etag == NULL || strcasecmp(etag, file->expect_etag) != 0)
		ret = fs_file_set_error(&file->file, file->verify_err, "%s",
					file->verify_msg);
	return s3_req_done(file, ret);
}

/* ------------------------------------------------------------------------ */
/* Single PUT                                                                 */

static int s3_put_start(struct s3_file *file)
{
	static const char empty[1] = "";
	unsigned char md5[16];
	char b64[32], etag[35];
	const void *data = file->buf != NULL ? (const void *)file->buf : empty;
	int ret;

	ret = s3_write_request(file, "PUT", NULL, true, true);
	if (ret == 0)
		ret = fs_s3_request_set_body(&file->ctx, file->req, data,
					     file->len);
	if (ret == 0)
		ret = fs_s3_request_set_md5(file->req, data, file->len, b64,
					    md5);
	if (ret == 0)
		ret = fs_s3_request_set_crc32(&file->ctx, file->req, data,
					      file->len, NULL);
	if (ret < 0) {
		fs_http_request_deinit(&file->req);
		return fs_file_set_error(&file->file, ret,
					 "PUT %s: cannot start: %s",
					 file->file.key, fs_errno_name(ret));
	}
	fs_s3_etag_from_md5(md5, etag);
	free(file->expect_etag);
	file->expect_etag = strdup(etag);
	return s3_write_start(file, S3_STEP_PUT, "PUT");
}

static int s3_put_result(struct s3_file *file)
{
	struct fs_http_request *req = file->req;
	int ret = fs_http_request_result(req);
	char etag[64];

	if (ret == 0) {
		s3_buf_free(file);
		return s3_req_done(file, 0);
	}
	if (ret == -EEXIST && fs_http_request_attempt(req) > 1 &&
	    file->expect_etag != NULL) {
		snprintf(etag, sizeof(etag), "%s", file->expect_etag);
		return s3_verify_start(file, ret, etag, "PUT");
	}
	if (ret == -EEXIST)
		ret = s3_exists_error(file);
	else
		ret = fs_s3_file_error(&file->file, req, "PUT");
	return s3_req_done(file, ret);
}

static int s3_put_finish(struct s3_file *file)
{
	int ret;

	if (file->req == NULL) {
		if (file->file.mode == FS_OPEN_CREATE &&
		    s3_file_fs(file)->create == S3_CREATE_HEAD)
			return fs_s3_head_start(file, S3_STEP_CREATE_HEAD,
						FS_OP_WRITE);
		return s3_put_start(file);
	}
	if (!fs_http_request_is_done(file->req))
		return -EAGAIN;
	switch (file->step) {
	case S3_STEP_CREATE_HEAD:
		ret = fs_http_request_result(file->req);
		if (ret == -ENOENT) {
			s3_req_done(file, 0);
			return s3_put_start(file);
		}
		if (ret == 0)
			return s3_req_done(file, s3_exists_error(file));
		return s3_req_done(
			file, fs_s3_file_error(&file->file, file->req, "HEAD"));
	case S3_STEP_VERIFY:
		ret = s3_verify_result(file);
		if (ret == 0)
			s3_buf_free(file);
		return ret;
	default:
		return s3_put_result(file);
	}
}

/* ------------------------------------------------------------------------ */
/* Multipart: create and parts                                                */

static void s3_mp_abort_request(struct s3_file *file, const char *upload_id);

/* Aborts node's upload if it is one of key's. */
static void s3_mp_sweep_one(struct s3_file *file, const char *key,
			    xmlNodePtr node)
{
	char *ukey = fs_xml_child_text(node, "Key");
	char *id = fs_xml_child_text(node, "UploadId");

	if (ukey != NULL && id != NULL && strcmp(ukey, key) == 0)
		s3_mp_abort_request(file, id);
	free(ukey);
	free(id);
}

/* Aborts the uploads of the file's key that a CreateMultipartUpload whose
   reply got lost may have left (ListMultipartUploads, then an Abort each).
   A concurrent writer of the same key loses its upload too and fails
   cleanly; an upload nobody knows of would stay (and cost) forever. */
static void s3_mp_sweep(struct s3_file *file)
{
	struct s3_fs *fs = s3_file_fs(file);
	struct s3_ctx ctx = {.fs = fs};
	struct fs_http_request *req = NULL;
	char *key = fs_s3_full_key(fs, file->file.key), *enc = NULL;
	char *query = NULL;
	xmlNodePtr node;
	xmlDocPtr doc;
	size_t size;
	const char *body;

	if (key != NULL && fs_sigv4_uri_encode(key, true, &enc) == 0 &&
	    asprintf(&query, "uploads&prefix=%s", enc) >= 0 &&
	    fs_s3_request_new(&ctx, FS_OP_WRITE, "GET", NULL, query, &req) ==
		    0 &&
	    fs_s3_request_run(fs, req) == 0) {
		body = fs_http_request_body(req, &size);
		if (fs_xml_parse(body, size, &doc, NULL) == 0) {
			node = fs_xml_child(
				fs_xml_root(doc, "ListMultipartUploadsResult"),
				"Upload");
			for (; node != NULL; node = fs_xml_next(node, "Upload"))
				s3_mp_sweep_one(file, key, node);
			xmlFreeDoc(doc);
		}
	}
	fs_http_request_deinit(&req);
	free(key);
	free(enc);
	free(query);
}

static int s3_mp_create_result(struct s3_file *file)
{
	const char *body;
	xmlDocPtr doc;
	size_t size;
	char *id = NULL;
	int ret = fs_http_request_result(file->req);
	long status = fs_http_request_status(file->req);

	if (ret < 0) {
		ret = s3_req_done(file,
				  fs_s3_file_error(&file->file, file->req,
						   "CreateMultipartUpload"));
		/* no reply, or a cut one: the upload may exist */
		if (status == 0 || (status >= 200 && status < 300))
			s3_mp_sweep(file);
		return ret;
	}
	body = fs_http_request_body(file->req, &size);
	if (fs_xml_parse(body, size, &doc, NULL) == 0) {
		id = fs_xml_child_text(
			fs_xml_root(doc, "InitiateMultipartUploadResult"),
			"UploadId");
		xmlFreeDoc(doc);
	}
	file->mp = calloc(1, sizeof(*file->mp));
	if (id == NULL || id[0] == '\0' || file->mp == NULL) {
		free(id);
		free(file->mp);
		file->mp = NULL;
		return s3_req_done(file,
				   fs_file_set_error(&file->file, -EIO,
						     "CreateMultipartUpload "
						     "%s: no UploadId in the "
						     "reply (s3)",
						     file->file.key));
	}
	file->mp->upload_id = id;
	file->mp->next_number = 1;
	return s3_req_done(file, 0);
}

/* With checksum=crc32, CreateMultipartUpload asks for (and
   CompleteMultipartUpload gives) a FULL_OBJECT CRC-32: the object's CRC
   as a whole, which a GET can check, not a checksum of part checksums. */
static int s3_add_checksum_type(struct s3_file *file, const char *name,
				const char *value)
{
	int ret;

	if (s3_file_fs(file)->no_checksum)
		return 0;
	ret = fs_http_request_add_header(file->req, name, value);
	if (ret == 0)
		ret = fs_http_request_add_header(
			file->req, "x-amz-checksum-type", "FULL_OBJECT");
	if (ret < 0)
		fs_http_request_deinit(&file->req);
	return ret;
}

/* Returns 0 once the upload exists, -EAGAIN while it is being created. */
static int s3_mp_create(struct s3_file *file)
{
	int ret;

	if (file->req == NULL) {
		/* POST: not retried, a lost reply would orphan an upload */
		ret = s3_write_request(file, "POST", "uploads", true, false);
		if (ret == 0)
			ret = s3_add_checksum_type(file,
						   "x-amz-checksum-"
						   "algorithm",
						   "CRC32");
		if (ret == 0) {
			fs_metadata_list_clear(&file->mp_md);
			ret = fs_metadata_list_copy(&file->mp_md,
						    &file->file.write_md);
		}
		if (ret < 0)
			return fs_file_set_error(&file->file, ret,
						 "CreateMultipartUpload %s: "
						 "cannot start: %s",
						 file->file.key,
						 fs_errno_name(ret));
		return s3_write_start(file, S3_STEP_MP_CREATE,
				      "CreateMultipartUpload");
	}
	if (!fs_http_request_is_done(file->req))
		return -EAGAIN;
	return s3_mp_create_result(file);
}

static int s3_mp_set_etag(struct s3_upload *mp, const struct s3_part *part,
			  const char *etag)
{
	unsigned int alloc = mp->etags_alloc, number = part->number;
	uint32_t *crcs;
	char **p;

	if (number > alloc) {
		while (alloc < number)
			alloc = alloc == 0 ? 64 : alloc * 2;
		p = realloc(mp->etags, alloc * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		memset(p + mp->etags_alloc, 0,
		       (alloc - mp->etags_alloc) * sizeof(*p));
		mp->etags = p;
		crcs = realloc(mp->crcs, alloc * sizeof(*crcs));
		if (crcs == NULL)
			return -ENOMEM;
		mp->crcs = crcs;
		mp->etags_alloc = alloc;
	}
	free(mp->etags[number - 1]);
	mp->etags[number - 1] = strdup(etag);
	mp->crcs[number - 1] = part->crc;
	return mp->etags[number - 1] != NULL ? 0 : -ENOMEM;
}

static void s3_mp_fail(struct s3_upload *mp, int err, const char *msg)
{
	if (mp->error != 0)
		return;
	mp->error = err;
	mp->error_msg = strdup(msg);
}

static void s3_part_free(struct s3_upload *mp, struct s3_part *part)
{
	unsigned int i;

	for (i = 0; i < mp->count; i++) {
		if (mp->parts[i] == part) {
			mp->parts[i] = mp->parts[--mp->count];
			break;
		}
	}
	mp->bytes -= part->size;
	fs_http_request_deinit(&part->req);
	free(part->data);
	free(part);
}

static void s3_part_done(struct s3_part *part, struct fs_http_request *req)
{
	struct s3_file *file = part->file;
	struct s3_upload *mp = file->mp;
	const char *etag = fs_http_request_header(req, "etag");
	char what[64], msg[768];
	int ret = fs_http_request_result(req);

	if (ret == 0 && etag == NULL) {
		snprintf(msg, sizeof(msg),
			 "UploadPart %s: part %u: no ETag in the reply (s3)",
			 file->file.key, part->number);
		s3_mp_fail(mp, -EIO, msg);
	} else if (ret == 0 && s3_mp_set_etag(mp, part, etag) < 0) {
		s3_mp_fail(mp, -ENOMEM, "UploadPart: out of memory");
	} else if (ret < 0) {
		snprintf(what, sizeof(what), "UploadPart %u of", part->number);
		ret = fs_s3_request_error(req, what, file->file.key, msg,
					  sizeof(msg));
		s3_mp_fail(mp, ret, msg);
	}
}

static void s3_part_progress(struct s3_ctx *ctx, struct fs_http_request *req)
{
	struct s3_part *part = FS_CONTAINER_OF(ctx, struct s3_part, ctx);
	struct s3_file *file = part->file;

	if (!fs_http_request_is_done(req))
		return;
	s3_part_done(part, req);
	s3_part_free(file->mp, part);
	/* an abort waiting for the parts is no operation to report */
	if (!file->aborting)
		fs_file_async_done(&file->file);
}

static int s3_part_request(struct s3_file *file, struct s3_part *part)
{
	struct s3_fs *fs = s3_file_fs(file);
	char *key = fs_s3_full_key(fs, file->file.key), *id = NULL,
	     *query = NULL;
	unsigned char md5[16];
	int ret = -ENOMEM;

	if (key != NULL &&
	    fs_sigv4_uri_encode(file->mp->upload_id, true, &id) == 0 &&
	    asprintf(&query, "partNumber=%u&uploadId=%s", part->number, id) >=
		    0)
		ret = fs_s3_request_new(&part->ctx, FS_OP_WRITE, "PUT", key,
					query, &part->req);
	if (ret == 0)
		ret = fs_s3_request_set_body(&part->ctx, part->req, part->data,
					     part->size);
	if (ret == 0)
		ret = fs_s3_request_set_md5(part->req, part->data, part->size,
					    part->md5_b64, md5);
	if (ret == 0)
		ret = fs_s3_request_set_crc32(&part->ctx, part->req, part->data,
					      part->size, &part->crc);
	if (ret == 0)
		ret = fs_s3_request_start(&part->req);
	else
		fs_http_request_deinit(&part->req);
	free(key);
	free(id);
	free(query);
	return ret;
}

/* Takes the first size bytes of the buffer as the part's data. */
static int s3_part_take(struct s3_file *file, struct s3_part *part, size_t size)
{
	if (size == file->len) {
		part->data = file->buf;
		file->buf = NULL;
		file->len = file->alloc = 0;
	} else {
		part->data = malloc(size > 0 ? size : 1);
		if (part->data == NULL)
			return -ENOMEM;
		memcpy(part->data, file->buf, size);
		memmove(file->buf, file->buf + size, file->len - size);
		file->len -= size;
	}
	part->size = size;
	return 0;
}

/* Room for one more part of size bytes in flight? At most `parallel` parts,
   and, once parts grew, no more bytes than `parallel` base-sized parts. */
static bool s3_part_room(struct s3_file *file, uint64_t size)
{
	struct s3_fs *fs = s3_file_fs(file);
	struct s3_upload *mp = file->mp;

	if (mp->count >= fs->parallel)
		return false;
	return mp->count == 0 ||
	       mp->bytes + size <= (uint64_t)fs->parallel * fs->part_size;
}

/* Sends the first size bytes of the buffer as the next part. Returns 0,
   -EAGAIN (no room in flight) or -errno (with the message). */
static int s3_part_send(struct s3_file *file, size_t size)
{
	struct s3_upload *mp = file->mp;
	struct s3_part *part;
	int ret;

	if (!s3_part_room(file, size))
		return -EAGAIN;
	if (mp->parts == NULL &&
	    (mp->parts = calloc(s3_file_fs(file)->parallel,
				sizeof(*mp->parts))) == NULL)
		return fs_file_set_error(&file->file, -ENOMEM,
					 "UploadPart %s: out of memory",
					 file->file.key);
	part = calloc(1, sizeof(*part));
	if (part == NULL || s3_part_take(file, part, size) < 0) {
		free(part);
		return fs_file_set_error(&file->file, -ENOMEM,
					 "UploadPart %s: out of memory",
					 file->file.key);
	}
	part->file = file;
	part->number = mp->next_number;
	part->ctx.fs = s3_file_fs(file);
	part->ctx.progress = s3_part_progress;
	ret = s3_part_request(file, part);
	if (ret < 0) {
		free(part->data);
		free(part);
		return fs_file_set_error(&file->file, ret,
					 "UploadPart %s: cannot start: %s",
					 file->file.key, fs_errno_name(ret));
	}
	mp->next_number++;
	mp->parts[mp->count++] = part;
	mp->bytes += size;
	mp->crc = (uint32_t)crc32_combine(mp->crc, part->crc, (z_off_t)size);
	return 0;
}

static int s3_mp_error(struct s3_file *file)
{
	struct s3_upload *mp = file->mp;

	return fs_file_set_error(&file->file, mp->error, "%s",
				 mp->error_msg != NULL ? mp->error_msg
						       : "UploadPart failed");
}

static ssize_t s3_mp_write(struct s3_file *file, const void *data, size_t size)
{
	struct s3_fs *fs = s3_file_fs(file);
	size_t taken = 0, n;
	uint64_t psize;
	int ret;

	for (;;) {
		if (file->mp->error != 0)
			return s3_mp_error(file);
		psize = fs_s3_part_size(fs->part_size, file->mp->next_number);
		if (file->len >= psize) {
			ret = s3_part_send(file, (size_t)psize);
			if (ret == -EAGAIN && taken > 0)
				return (ssize_t)taken;
			if (ret < 0)
				return ret;
			continue;
		}
		if (taken == size)
			return (ssize_t)taken;
		n = (size_t)(psize - file->len);
		if (n > size - taken)
			n = size - taken;
		if (s3_buf_append(file, (const char *)data + taken, n,
				  (size_t)psize) < 0)
			return fs_file_set_error(&file->file, -ENOMEM,
						 "write %s: out of memory",
						 file->file.key);
		taken += n;
	}
}

ssize_t fs_s3_write(struct fs_file *_file, const void *data, size_t size)
{
	struct s3_file *file = S3_FILE(_file);
	struct s3_fs *fs = s3_file_fs(file);
	int ret;

	if (file->mp == NULL) {
		if (file->req == NULL && file->len + size <= fs->threshold) {
			if (s3_buf_append(file, data, size, SIZE_MAX) < 0)
				return fs_file_set_error(
					_file, -ENOMEM,
					"write %s: out of memory", _file->key);
			return (ssize_t)size;
		}
		ret = s3_mp_create(file);
		if (ret < 0)
			return ret;
	}
	return s3_mp_write(file, data, size);
}

/* ------------------------------------------------------------------------ */
/* Multipart: complete                                                        */

static int s3_complete_xml(struct s3_file *file, struct s3_upload *mp)
{
	bool crc = !s3_file_fs(file)->no_checksum;
	char num[32], b64[16];
	unsigned int i;
	int ret;

	free(mp->complete_xml);
	mp->complete_xml = NULL;
	mp->complete_len = 0;
	ret = fs_xml_append(&mp->complete_xml, &mp->complete_len,
			    "<CompleteMultipartUpload>");
	for (i = 0; i + 1 < mp->next_number && ret == 0; i++) {
		if (i >= mp->etags_alloc || mp->etags[i] == NULL)
			return -EIO;
		snprintf(num, sizeof(num), "%u", i + 1);
		ret = fs_xml_append(&mp->complete_xml, &mp->complete_len,
				    "<Part><PartNumber>");
		if (ret == 0)
			ret = fs_xml_append(&mp->complete_xml,
					    &mp->complete_len, num);
		if (ret == 0)
			ret = fs_xml_append(&mp->complete_xml,
					    &mp->complete_len,
					    "</PartNumber><ETag>");
		if (ret == 0)
			ret = fs_xml_append_escaped(&mp->complete_xml,
						    &mp->complete_len,
						    mp->etags[i]);
		if (ret == 0)
			ret = fs_xml_append(&mp->complete_xml,
					    &mp->complete_len, "</ETag>");
		if (ret == 0 && crc) {
			fs_s3_crc32_format(mp->crcs[i], b64);
			ret = fs_xml_append(&mp->complete_xml,
					    &mp->complete_len,
					    "<ChecksumCRC32>");
			if (ret == 0)
				ret = fs_xml_append(&mp->complete_xml,
						    &mp->complete_len, b64);
			if (ret == 0)
				ret = fs_xml_append(&mp->complete_xml,
						    &mp->complete_len,
						    "</ChecksumCRC32>");
		}
		if (ret == 0)
			ret = fs_xml_append(&mp->complete_xml,
					    &mp->complete_len, "</Part>");
	}
	if (ret == 0)
		ret = fs_xml_append(&mp->complete_xml, &mp->complete_len,
				    "</CompleteMultipartUpload>");
	return ret;
}

static int s3_complete_start(struct s3_file *file)
{
	struct s3_upload *mp = file->mp;
	char *id = NULL, *query = NULL, b64[16];
	int ret = s3_complete_xml(file, mp);

	if (ret == 0 && (fs_sigv4_uri_encode(mp->upload_id, true, &id) < 0 ||
			 asprintf(&query, "uploadId=%s", id) < 0))
		ret = -ENOMEM;
	if (ret == 0)
		ret = s3_write_request(file, "POST", query, false, true);
	free(id);
	free(query);
	if (ret == 0) {
		/* Completing twice is harmless: a retry either completes or
		   finds NoSuchUpload, which the ETag check resolves. */
		fs_http_request_set_idempotent(file->req, true);
		ret = fs_s3_request_set_body(&file->ctx, file->req,
					     mp->complete_xml,
					     mp->complete_len);
		fs_s3_crc32_format(mp->crc, b64);
		if (ret == 0)
			ret = s3_add_checksum_type(file, "x-amz-checksum-crc32",
						   b64);
	}
	if (ret < 0) {
		fs_http_request_deinit(&file->req);
		return fs_file_set_error(&file->file, ret,
					 "CompleteMultipartUpload %s: cannot "
					 "start: %s",
					 file->file.key, fs_errno_name(ret));
	}
	return s3_write_start(file, S3_STEP_MP_COMPLETE,
			      "CompleteMultipartUpload");
}

/* The ETag S3 gives a multipart object: the MD5 of the parts' binary MD5s,
   "-" and the part count. Returns false if a part ETag is no MD5. */
static bool s3_mp_etag(struct s3_upload *mp, char *buf, size_t size)
{
	unsigned int parts = mp->next_number - 1, i, j, hi, lo;
	unsigned char *md5s = malloc((size_t)parts * 16 + 1), md5[16];
	unsigned int len = 0;
	char hex[35];
	bool ok = md5s != NULL;

	for (i = 0; ok && i < parts; i++) {
		const char *e = mp->etags[i];

		e += e[0] == '"';
		for (j = 0; ok && j < 16; j++) {
			ok = sscanf(e + 2 * j, "%1x%1x", &hi, &lo) == 2;
			md5s[i * 16 + j] = (unsigned char)(hi << 4 | lo);
		}
	}
	if (ok)
		ok = EVP_Digest(md5s, (size_t)parts * 16, md5, &len, EVP_md5(),
				NULL) == 1;
	free(md5s);
	if (!ok)
		return false;
	fs_s3_etag_from_md5(md5, hex);
	hex[33] = '\0';
	snprintf(buf, size, "%s-%u\"", hex, parts);
	return true;
}

static void s3_mp_free(struct s3_file *file)
{
	struct s3_upload *mp = file->mp;
	unsigned int i;

	if (mp == NULL)
		return;
	for (i = 0; i < mp->etags_alloc; i++)
		free(mp->etags[i]);
	free(mp->etags);
	free(mp->crcs);
	free(mp->parts);
	free(mp->upload_id);
	free(mp->error_msg);
	free(mp->complete_xml);
	free(mp);
	file->mp = NULL;
}

/* A failed Complete: retried 200-with-<Error> replies, the ETag check for a
   retried one, else the failure (the core then aborts the upload). */
static int s3_complete_failed(struct s3_file *file, int ret, const char *code)
{
	struct fs_http_request *req = file->req;
	char etag[64];

	if ((ret == -EEXIST ||
	     (code != NULL && strcmp(code, "NoSuchUpload") == 0)) &&
	    fs_http_request_attempt(req) > 1 &&
	    s3_mp_etag(file->mp, etag, sizeof(etag)))
		return s3_verify_start(file, ret == -EEXIST ? ret : -EIO, etag,
				       "CompleteMultipartUpload");
	if (ret == -EEXIST)
		ret = s3_exists_error(file);
	else if (fs_http_request_result(req) == 0)
		ret = fs_file_set_error(&file->file, ret,
					"CompleteMultipartUpload %s: HTTP 200 "
					"with error %s (s3)",
					file->file.key, code);
	else
		ret = fs_s3_file_error(&file->file, req,
				       "CompleteMultipartUpload");
	return s3_req_done(file, ret);
}

static int s3_complete_result(struct s3_file *file)
{
	char *code = NULL, *message = NULL, *request_id = NULL;
	int ret = fs_http_request_result(file->req);
	const char *body;
	size_t size;

	/* S3 may answer 200 and fail in the body: retry those. */
	body = fs_http_request_body(file->req, &size);
	if (fs_s3_parse_error(body, size, &code, &message, &request_id) == 0 &&
	    ret == 0) {
		ret = -EIO;
		if (++file->mp->complete_tries < S3_COMPLETE_TRIES &&
		    strcmp(code, "NoSuchUpload") != 0) {
			fs_stats_add_retry(file->file.fs, FS_OP_WRITE);
			s3_req_done(file, 0);
			ret = s3_complete_start(file);
			goto out;
		}
	}
	if (ret == 0) {
		s3_req_done(file, 0);
		s3_mp_free(file);
		s3_buf_free(file);
	} else {
		ret = s3_complete_failed(file, ret, code);
	}
out:
	free(code);
	free(message);
	free(request_id);
	return ret;
}

/* Sends what is buffered as the last parts and waits for all parts. Returns
   0 when every part is done, -EAGAIN or -errno. */
static int s3_mp_flush(struct s3_file *file)
{
	struct s3_upload *mp = file->mp;
	uint64_t psize;
	int ret;

	while (mp->error == 0 && (file->len > 0 || mp->next_number == 1)) {
		psize = fs_s3_part_size(s3_file_fs(file)->part_size,
					mp->next_number);
		ret = s3_part_send(file, file->len < psize ? file->len
							   : (size_t)psize);
		if (ret < 0)
			return ret;
	}
	if (mp->error != 0)
		return s3_mp_error(file);
	return mp->count > 0 ? -EAGAIN : 0;
}

static int s3_mp_finish(struct s3_file *file)
{
	int ret;

	if (file->req != NULL) {
		if (!fs_http_request_is_done(file->req))
			return -EAGAIN;
		switch (file->step) {
		case S3_STEP_MP_COMPLETE:
			return s3_complete_result(file);
		case S3_STEP_VERIFY:
			ret = s3_verify_result(file);
			if (ret == 0) {
				s3_mp_free(file);
				s3_buf_free(file);
			}
			return ret;
		default: /* S3_STEP_CREATE_HEAD */
			ret = fs_http_request_result(file->req);
			if (ret == 0)
				return s3_req_done(file, s3_exists_error(file));
			if (ret != -ENOENT)
				return s3_req_done(file,
						   fs_s3_file_error(&file->file,
								    file->req,
								    "HEAD"));
			s3_req_done(file, 0);
			return s3_complete_start(file);
		}
	}
	/* S3 keeps the metadata CreateMultipartUpload gave: metadata set
	   after the upload began would be lost without a word, so the write
	   fails (and the upload is aborted) instead */
	if (!fs_metadata_list_equal(&file->file.write_md, &file->mp_md))
		return fs_file_set_error(
			&file->file, -EINVAL,
			"write %s: metadata was set after the object's first "
			"part was sent (an S3 multipart upload takes its "
			"metadata at the start): set metadata before writing "
			"more than multipart_threshold bytes (s3)",
			file->file.key);
	ret = s3_mp_flush(file);
	if (ret < 0)
		return ret;
	if (file->file.mode == FS_OPEN_CREATE &&
	    s3_file_fs(file)->create == S3_CREATE_HEAD)
		return fs_s3_head_start(file, S3_STEP_CREATE_HEAD, FS_OP_WRITE);
	return s3_complete_start(file);
}

int fs_s3_write_finish(struct fs_file *_file)
{
	struct s3_file *file = S3_FILE(_file);
	int ret;

	if (file->mp == NULL && file->step == S3_STEP_MP_CREATE) {
		ret = s3_mp_create(file);
		if (ret < 0)
			return ret;
	}
	if (file->mp == NULL)
		return s3_put_finish(file);
	return s3_mp_finish(file);
}

/* ------------------------------------------------------------------------ */
/* Abort                                                                      */

/* Runs the file's request to its end (a Create or Complete that may reach
   the server must not be cut off blindly). */
static void s3_req_drain(struct s3_file *file)
{
	struct fs_http *http = s3_file_fs(file)->http;

	while (file->req != NULL && !fs_http_request_is_done(file->req) &&
	       fs_http_wait(http, -1) == 0)
		;
}

static void s3_mp_abort_request(struct s3_file *file, const char *upload_id)
{
	struct s3_fs *fs = s3_file_fs(file);
	struct s3_ctx ctx = {.fs = fs};
	struct fs_http_request *req = NULL;
	char *key = fs_s3_full_key(fs, file->file.key), *id = NULL,
	     *query = NULL;
	char msg[768];
	int ret = -ENOMEM;

	if (key != NULL && fs_sigv4_uri_encode(upload_id, true, &id) == 0 &&
	    asprintf(&query, "uploadId=%s", id) >= 0)
		ret = fs_s3_request_new(&ctx, FS_OP_WRITE, "DELETE", key, query,
					&req);
	if (ret == 0)
		ret = fs_s3_request_run(fs, req);
	/* 404 NoSuchUpload: it is gone already. */
	if (ret < 0 && ret != -ENOENT) {
		if (req != NULL)
			(void)fs_s3_request_error(req, "AbortMultipartUpload",
						  file->file.key, msg,
						  sizeof(msg));
		else
			snprintf(msg, sizeof(msg),
				 "AbortMultipartUpload %s: %s", file->file.key,
				 fs_errno_name(ret));
		fs_file_set_error(&file->file, ret,
				  "%s: upload %s may be left behind", msg,
				  upload_id);
	}
	fs_http_request_deinit(&req);
	free(key);
	free(id);
	free(query);
}

static void s3_mp_abort(struct s3_file *file)
{
	struct fs_http *http = s3_file_fs(file)->http;

	/* Parts in flight could land after the Abort and leave storage
	   behind: let them end first (they are bounded by the timeouts). */
	while (file->mp->count > 0 && fs_http_wait(http, -1) == 0)
		;
	while (file->mp->count > 0)
		s3_part_free(file->mp, file->mp->parts[0]);
	s3_mp_abort_request(file, file->mp->upload_id);
	s3_mp_free(file);
}

static bool s3_step_is_write(enum s3_step step)
{
	return step == S3_STEP_PUT || step == S3_STEP_CREATE_HEAD ||
	       step == S3_STEP_MP_CREATE || step == S3_STEP_MP_COMPLETE ||
	       step == S3_STEP_VERIFY;
}

/* Did the Complete in file->req publish the object? */
static bool s3_complete_landed(struct s3_file *file)
{
	char *code = NULL, *message = NULL, *request_id = NULL;
	const char *body;
	size_t size;
	bool error;

	if (fs_http_request_result(file->req) != 0)
		return false;
	body = fs_http_request_body(file->req, &size);
	error = fs_s3_parse_error(body, size, &code, &message, &request_id) ==
		0;
	free(code);
	free(message);
	free(request_id);
	return !error;
}

void fs_s3_write_abort(struct fs_file *_file)
{
	struct s3_file *file = S3_FILE(_file);

	file->aborting = true;
	if (file->req != NULL && s3_step_is_write(file->step)) {
		/* A Create or Complete that may reach the server must not be
		   cut off blindly: let it end, then undo what it did. An
		   object a Complete published before the abort stays (the
		   abort came too late, as with any finished write). */
		if (file->step == S3_STEP_MP_CREATE ||
		    file->step == S3_STEP_MP_COMPLETE)
			s3_req_drain(file);
		if (file->step == S3_STEP_MP_CREATE &&
		    fs_http_request_is_done(file->req))
			(void)s3_mp_create_result(file);
		else if (file->step == S3_STEP_MP_COMPLETE &&
			 s3_complete_landed(file))
			s3_mp_free(file);
		fs_http_request_deinit(&file->req);
		file->step = S3_STEP_NONE;
	}
	s3_buf_free(file);
	if (file->mp != NULL)
		s3_mp_abort(file);
	file->aborting = false;
}
