/*
 * S3 reads (GET with Range), HEAD for stat/exists/metadata, DELETE and
 * CopyObject. Each starts its request, returns -EAGAIN, and takes the result
 * when the core calls it again after the request's progress callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "crc32.h"
#include "s3-private.h"
#include "xml.h"

#define S3_META_PREFIX "x-amz-meta-"
#define S3_RFC2047_PREFIX "=?UTF-8?B?"

/* ------------------------------------------------------------------------ */
/* Reading                                                                    */

/* Starts the GET stream (conditional on etag unless NULL). Returns 1, 0
   for an empty range (nothing to read), or -errno. A whole-object GET asks
   for the CRC-32 the store keeps (x-amz-checksum-mode), to check the body
   against it. */
static int s3_read_start(struct s3_file *file, const char *etag)
{
	struct fs_file *_file = &file->file;
	struct s3_fs *fs = file->ctx.fs;
	uint64_t offset = _file->range_offset, length = _file->range_length;
	bool whole = offset == 0 && length == UINT64_MAX;
	char *key;
	int ret;

	if (length == 0) {
		file->read_done = true;
		return 0;
	}
	key = fs_s3_full_key(fs, _file->key);
	ret = key == NULL ? -ENOMEM
			  : fs_s3_request_new(&file->ctx, FS_OP_READ, "GET",
					      key, NULL, &file->read_req);
	free(key);
	if (ret == 0 && etag != NULL)
		ret = fs_http_request_add_header(file->read_req,
						 "If-None-Match", etag);
	if (ret == 0 && whole && !fs->no_verify && !fs->no_checksum)
		ret = fs_http_request_add_header(
			file->read_req, "x-amz-checksum-mode", "ENABLED");
	if (ret < 0)
		fs_http_request_deinit(&file->read_req);
	if (ret == 0) {
		fs_http_request_set_response_stream(file->read_req);
		if (!whole)
			fs_http_request_set_range(file->read_req, offset,
						  length);
		ret = fs_s3_request_start(&file->read_req);
	}
	if (ret < 0)
		return fs_file_set_error(_file, ret, "GET %s: cannot start: %s",
					 _file->key, fs_errno_name(ret));
	return 1;
}

/* Is etag the quoted MD5 of a plain single-PUT object? */
static bool s3_etag_is_md5(const char *etag)
{
	size_t i;

	if (etag == NULL || strlen(etag) != 34 || etag[0] != '"' ||
	    etag[33] != '"')
		return false;
	for (i = 1; i < 33; i++) {
		if (!((etag[i] >= '0' && etag[i] <= '9') ||
		      (etag[i] >= 'a' && etag[i] <= 'f')))
			return false;
	}
	return true;
}

/* Is this a whole object with a full-object CRC-32 (not a multipart
   object's composite "CRC-N")? */
static bool s3_verify_crc32(struct s3_file *file)
{
	struct fs_http_request *req = file->read_req;
	const char *type = fs_http_request_header(req, "x-amz-checksum-type");

	if (file->ctx.fs->no_checksum ||
	    (type != NULL && strcmp(type, "FULL_OBJECT") != 0) ||
	    !fs_s3_crc32_parse(
		    fs_http_request_header(req, "x-amz-checksum-crc32"),
		    &file->want_crc))
		return false;
	file->read_crc = 0;
	return true;
}

/* Where the ETag is the object's MD5: not for multipart objects ("...-N"),
   SSE-KMS or SSE-C objects (their ETag is no MD5). */
static bool s3_verify_md5(struct s3_file *file)
{
	struct fs_http_request *req = file->read_req;
	const char *etag = fs_http_request_header(req, "etag");
	const char *sse =
		fs_http_request_header(req, "x-amz-server-side-encryption");

	if (!s3_etag_is_md5(etag) ||
	    (sse != NULL && strncmp(sse, "aws:kms", 7) == 0) ||
	    fs_http_request_header(
		    req, "x-amz-server-side-encryption-customer-algorithm") !=
		    NULL)
		return false;
	file->md5_ctx = EVP_MD_CTX_new();
	if (file->md5_ctx == NULL ||
	    EVP_DigestInit_ex(file->md5_ctx, EVP_md5(), NULL) != 1)
		return false;
	strcpy(file->read_etag, etag);
	return true;
}

/* A whole object read (not a range; not with verify=0) is checked against
   the CRC-32 the store keeps with it (x-amz-checksum-crc32, written by
   this driver's PUTs), else against its ETag where that is the MD5. A body
   that a broken proxy or server cut short or damaged with a matching
   Content-Length is then an error, not silently wrong data. */
static void s3_verify_begin(struct s3_file *file)
{
	file->verify = S3_VERIFY_OFF;
	/* a range answered with the whole object (200) reaches the reader
	   cut to the range: not the bytes the checksum is of */
	if (file->ctx.fs->no_verify ||
	    fs_http_request_status(file->read_req) != 200 ||
	    file->file.range_offset != 0 ||
	    file->file.range_length != UINT64_MAX)
		return;
	if (s3_verify_crc32(file))
		file->verify = S3_VERIFY_CRC32;
	else if (s3_verify_md5(file))
		file->verify = S3_VERIFY_MD5;
}

static int s3_verify_end(struct s3_file *file, int mode)
{
	unsigned char md5[16];
	unsigned int len = 0;
	char etag[35];

	if (mode == S3_VERIFY_CRC32) {
		if (file->read_crc == file->want_crc)
			return 0;
		return fs_file_set_error(
			&file->file, -EIO,
			"GET %s: the body does not match its CRC-32 %08x (got "
			"%08x): damaged in transit or in the store (s3)",
			file->file.key, (unsigned int)file->want_crc,
			(unsigned int)file->read_crc);
	}
	if (EVP_DigestFinal_ex(file->md5_ctx, md5, &len) != 1 || len != 16)
		return 0;
	fs_s3_etag_from_md5(md5, etag);
	if (strcmp(etag, file->read_etag) == 0)
		return 0;
	return fs_file_set_error(&file->file, -EIO,
				 "GET %s: the body does not match its ETag %s "
				 "(got MD5 %s): cut short or damaged in "
				 "transit (s3)",
				 file->file.key, file->read_etag, etag);
}

static ssize_t s3_verify(struct s3_file *file, const void *buf, ssize_t ret)
{
	int mode;

	if (file->verify == S3_VERIFY_FAILED)
		return -EIO; /* again, with the message kept */
	if (file->verify == S3_VERIFY_UNDECIDED && ret >= 0)
		s3_verify_begin(file);
	mode = file->verify;
	if (mode <= S3_VERIFY_UNDECIDED)
		return ret;
	if (ret > 0 && mode == S3_VERIFY_CRC32)
		file->read_crc = fs_crc32(file->read_crc, buf, (size_t)ret);
	else if (ret > 0 &&
		 EVP_DigestUpdate(file->md5_ctx, buf, (size_t)ret) != 1)
		file->verify = S3_VERIFY_OFF;
	if (ret == 0) {
		ret = s3_verify_end(file, mode);
		file->verify = ret < 0 ? S3_VERIFY_FAILED : S3_VERIFY_OFF;
	}
	return ret;
}

ssize_t fs_s3_read(struct fs_file *_file, void *buf, size_t size)
{
	struct s3_file *file = S3_FILE(_file);
	ssize_t ret;

	if (file->read_done)
		return 0;
	if (file->read_req == NULL && (ret = s3_read_start(file, NULL)) <= 0)
		return ret;
	ret = fs_http_request_read(file->read_req, buf, size);
	if (ret >= 0) {
		/* a failed check has set its message */
		ret = s3_verify(file, buf, ret);
		if (ret == 0)
			file->read_done = true;
		return ret;
	}
	if (ret == -EAGAIN)
		return ret;
	/* A range at or past the end reads as empty. */
	if (fs_http_request_status(file->read_req) == 416) {
		file->read_done = true;
		return 0;
	}
	return fs_s3_file_error(_file, file->read_req, "GET");
}

/* fs_file_revalidate() in one request: a GET with If-None-Match. 304: the
   object is unchanged (1). 200: it changed (0), and the response is kept as
   the read stream, so that the following reads return the new object. */
int fs_s3_revalidate(struct fs_file *_file, const char *etag)
{
	struct s3_file *file = S3_FILE(_file);
	struct fs_http_request *req;
	long status;
	int ret;

	if (file->read_req == NULL) {
		ret = s3_read_start(file, etag);
		return ret < 0 ? ret : -EAGAIN;
	}
	req = file->read_req;
	status = fs_http_request_status(req);
	if (status == 0 && !fs_http_request_is_done(req))
		return -EAGAIN;
	if (status == 304) {
		if (!fs_http_request_is_done(req))
			return -EAGAIN;
		fs_http_request_deinit(&file->read_req);
		return 1;
	}
	if (status >= 200 && status < 300)
		return 0;
	if (!fs_http_request_is_done(req))
		return -EAGAIN;
	ret = fs_http_request_result(req);
	if (ret == -ENOENT)
		ret = fs_file_set_error(_file, ret,
					"revalidate %s: no such object (s3)",
					_file->key);
	else
		ret = fs_s3_file_error(_file, req, "revalidate");
	fs_http_request_deinit(&file->read_req);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* HEAD                                                                       */

int fs_s3_head_start(struct s3_file *file, enum s3_step step, enum fs_op op)
{
	char *key = fs_s3_full_key(file->ctx.fs, file->file.key);
	int ret;

	fs_http_request_deinit(&file->req);
	ret = key == NULL ? -ENOMEM
			  : fs_s3_request_new(&file->ctx, op, "HEAD", key, NULL,
					      &file->req);
	free(key);
	if (ret == 0)
		ret = fs_s3_request_start(&file->req);
	if (ret < 0)
		return fs_file_set_error(&file->file, ret,
					 "HEAD %s: cannot start: %s",
					 file->file.key, fs_errno_name(ret));
	file->step = step;
	return -EAGAIN;
}

/* Returns -EAGAIN while the HEAD runs (starting it first), else its result;
   the request stays in file->req for the caller to read and free. */
static int s3_head_call(struct s3_file *file, enum fs_op op)
{
	if (file->req != NULL && file->step != S3_STEP_HEAD)
		fs_http_request_deinit(&file->req);
	if (file->req == NULL)
		return fs_s3_head_start(file, S3_STEP_HEAD, op);
	if (!fs_http_request_is_done(file->req))
		return -EAGAIN;
	return fs_http_request_result(file->req);
}

/* Ends the file's one-shot request with result ret, setting a message for
   failures: "no such object" for -ENOENT, the HTTP failure else. */
static int s3_req_end(struct s3_file *file, int ret, const char *what)
{
	if (ret == -ENOENT)
		ret = fs_file_set_error(&file->file, ret,
					"%s %s: no such object (s3)", what,
					file->file.key);
	else if (ret < 0)
		ret = fs_s3_file_error(&file->file, file->req, what);
	fs_http_request_deinit(&file->req);
	file->step = S3_STEP_NONE;
	return ret;
}

static const char *const s3_months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Parses an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT". */
static bool s3_parse_http_date(const char *value, int64_t *ns_r)
{
	struct tm tm = {0};
	char mon[4];
	int day, year, h, m, s, i;
	const char *p = value != NULL ? strchr(value, ',') : NULL;
	time_t t;

	if (p == NULL || sscanf(p + 1, " %d %3s %d %d:%d:%d", &day, mon, &year,
				&h, &m, &s) != 6)
		return false;
	for (i = 0; i < 12 && strcmp(s3_months[i], mon) != 0; i++)
		;
	if (i == 12 || day < 1 || day > 31 || year < 1970 || h > 23 || m > 59 ||
	    s > 60)
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = i;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = s;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*ns_r = (int64_t)t * 1000000000;
	return true;
}

static void s3_fill_stat(struct fs_http_request *req, struct fs_stat *st)
{
	const char *len = fs_http_request_header(req, "content-length");
	const char *etag = fs_http_request_header(req, "etag");
	uint64_t first, last;
	char *end;

	if (fs_http_request_status(req) == 206) {
		if (fs_http_parse_content_range(
			    fs_http_request_header(req, "content-range"),
			    &first, &last, &st->size) &&
		    st->size != UINT64_MAX)
			st->valid |= FS_STAT_SIZE;
	} else if (len != NULL) {
		st->size = strtoull(len, &end, 10);
		if (end != len && *end == '\0')
			st->valid |= FS_STAT_SIZE;
	}
	if (s3_parse_http_date(fs_http_request_header(req, "last-modified"),
			       &st->mtime_ns))
		st->valid |= FS_STAT_MTIME;
	if (etag != NULL && strlen(etag) < sizeof(st->etag)) {
		strcpy(st->etag, etag);
		st->valid |= FS_STAT_ETAG;
	}
}

/* FS_CAP_READ_STAT: once the file's GET has its response headers, stat and
   metadata come from them (the version being read, no request). Returns
   the GET with a 200 or 206, NULL when there is none (a HEAD then), or
   sets -EAGAIN while its headers are still to come. */
static struct fs_http_request *s3_read_response(struct s3_file *file,
						int *ret_r)
{
	struct fs_http_request *req = file->read_req;
	long status;

	*ret_r = 0;
	if (req == NULL)
		return NULL;
	status = fs_http_request_status(req);
	if (status == 0 && !fs_http_request_is_done(req)) {
		*ret_r = -EAGAIN;
		return NULL;
	}
	return status == 200 || status == 206 ? req : NULL;
}

int fs_s3_stat(struct fs_file *_file, struct fs_stat *st_r)
{
	struct s3_file *file = S3_FILE(_file);
	struct fs_http_request *get;
	int ret;

	get = s3_read_response(file, &ret);
	if (ret < 0)
		return ret;
	if (get != NULL) {
		s3_fill_stat(get, st_r);
		return 0;
	}
	ret = s3_head_call(file, FS_OP_STAT);
	if (ret == -EAGAIN)
		return ret;
	if (ret == 0)
		s3_fill_stat(file->req, st_r);
	return s3_req_end(file, ret, "stat");
}

int fs_s3_exists(struct fs_file *_file)
{
	struct s3_file *file = S3_FILE(_file);
	int ret = s3_head_call(file, FS_OP_EXISTS);

	if (ret == -EAGAIN)
		return ret;
	if (ret == 0 || ret == -ENOENT) {
		fs_http_request_deinit(&file->req);
		file->step = S3_STEP_NONE;
		return ret == 0 ? 1 : 0;
	}
	return s3_req_end(file, ret, "exists");
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                   */

static bool s3_meta_plain(const char *value)
{
	const unsigned char *p = (const unsigned char *)value;
	size_t len = strlen(value);

	if (len == 0 || value[0] == ' ' || value[0] == '\t' ||
	    value[len - 1] == ' ' || value[len - 1] == '\t' ||
	    strncmp(value, "=?", 2) == 0)
		return false;
	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p >= 0x7f)
			return false;
	}
	return true;
}

/* HTTP header values are ASCII without surrounding blanks; anything else
   goes as RFC 2047 "=?UTF-8?B?base64?=", which is also what S3 itself
   returns for non-ASCII metadata. */
char *fs_s3_meta_encode(const char *value)
{
	size_t len = strlen(value), prefix = strlen(S3_RFC2047_PREFIX);
	char *out;

	if (s3_meta_plain(value))
		return strdup(value);
	out = malloc(prefix + 4 * ((len + 2) / 3) + 3);
	if (out == NULL)
		return NULL;
	memcpy(out, S3_RFC2047_PREFIX, prefix);
	EVP_EncodeBlock((unsigned char *)out + prefix,
			(const unsigned char *)value, (int)len);
	strcat(out, "?=");
	return out;
}

char *fs_s3_meta_decode(const char *value)
{
	size_t len = strlen(value), prefix = strlen(S3_RFC2047_PREFIX), n;
	unsigned char *out;
	int dec;

	if (len < prefix + 2 || strncasecmp(value, S3_RFC2047_PREFIX, prefix) ||
	    strcmp(value + len - 2, "?=") != 0)
		return strdup(value);
	n = len - prefix - 2;
	if (n % 4 != 0)
		return strdup(value);
	out = malloc(n / 4 * 3 + 1);
	if (out == NULL)
		return NULL;
	dec = n == 0 ? 0
		     : EVP_DecodeBlock(out,
				       (const unsigned char *)value + prefix,
				       (int)n);
	if (dec < 0) {
		free(out);
		return strdup(value);
	}
	/* EVP_DecodeBlock() counts the '=' padding as zero bytes. */
	if (n > 0 && value[prefix + n - 1] == '=')
		dec--;
	if (n > 1 && value[prefix + n - 2] == '=')
		dec--;
	out[dec] = '\0';
	return (char *)out;
}

/* Adds one x-amz-meta-* header to the file's loaded metadata. Names libfs
   cannot hold (set by other clients) are skipped. */
static int s3_meta_add(struct fs_file *file, const char *name,
		       const char *value)
{
	char *lname = strdup(name), *dvalue = fs_s3_meta_decode(value), *p;
	int ret = -ENOMEM;

	if (lname != NULL && dvalue != NULL) {
		for (p = lname; *p != '\0'; p++)
			*p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
		ret = 0;
		if (fs_metadata_validate(lname, dvalue) == 0)
			ret = fs_file_metadata_add(file, lname, dvalue);
	}
	free(lname);
	free(dvalue);
	return ret;
}

/* Adds the x-amz-meta-* headers of req to the file's loaded metadata. */
static int s3_meta_from(struct fs_file *_file, struct fs_http_request *req)
{
	size_t idx = 0, plen = strlen(S3_META_PREFIX);
	const char *name, *value;
	int ret = 0;

	while (ret == 0 &&
	       fs_http_request_response_header_next(req, &idx, &name, &value)) {
		if (strncasecmp(name, S3_META_PREFIX, plen) == 0 &&
		    name[plen] != '\0')
			ret = s3_meta_add(_file, name + plen, value);
	}
	if (ret == -ENOMEM)
		return fs_file_set_error(_file, ret,
					 "get metadata %s: out of memory",
					 _file->key);
	return ret;
}

int fs_s3_get_metadata(struct fs_file *_file)
{
	struct s3_file *file = S3_FILE(_file);
	struct fs_http_request *get;
	int ret;

	get = s3_read_response(file, &ret);
	if (ret < 0)
		return ret;
	if (get != NULL)
		return s3_meta_from(_file, get);
	ret = s3_head_call(file, FS_OP_METADATA);
	if (ret == -EAGAIN)
		return ret;
	if (ret == 0)
		ret = s3_meta_from(_file, file->req);
	if (ret == -ENOMEM) {
		fs_http_request_deinit(&file->req);
		file->step = S3_STEP_NONE;
		return ret;
	}
	return s3_req_end(file, ret, "get metadata");
}

/* ------------------------------------------------------------------------ */
/* DELETE                                                                     */

static int s3_delete_start(struct s3_file *file)
{
	char *key = fs_s3_full_key(file->ctx.fs, file->file.key);
	int ret;

	ret = key == NULL ? -ENOMEM
			  : fs_s3_request_new(&file->ctx, FS_OP_DELETE,
					      "DELETE", key, NULL, &file->req);
	free(key);
	if (ret == 0)
		ret = fs_s3_request_start(&file->req);
	if (ret < 0)
		return fs_file_set_error(&file->file, ret,
					 "DELETE %s: cannot start: %s",
					 file->file.key, fs_errno_name(ret));
	file->step = S3_STEP_DELETE;
	return -EAGAIN;
}

/* S3 answers 204 for a missing key too, but libfs promises -ENOENT: a HEAD
   first. Racy by nature: a key deleted by another client between our HEAD
   and DELETE still gives 0, one created meanwhile is deleted. */
int fs_s3_delete(struct fs_file *_file)
{
	struct s3_file *file = S3_FILE(_file);
	int ret;

	if (file->req != NULL && file->step != S3_STEP_DELETE_HEAD &&
	    file->step != S3_STEP_DELETE)
		fs_http_request_deinit(&file->req);
	if (file->req == NULL)
		return fs_s3_head_start(file, S3_STEP_DELETE_HEAD,
					FS_OP_DELETE);
	if (!fs_http_request_is_done(file->req))
		return -EAGAIN;
	ret = fs_http_request_result(file->req);
	if (file->step == S3_STEP_DELETE_HEAD && ret == 0) {
		fs_http_request_deinit(&file->req);
		return s3_delete_start(file);
	}
	return s3_req_end(file, ret, "delete");
}

/* ------------------------------------------------------------------------ */
/* CopyObject                                                                 */

static int s3_copy_headers(struct s3_file *dst, struct fs_file *src)
{
	struct s3_fs *fs = dst->ctx.fs;
	char *key = fs_s3_full_key(fs, src->key), *enc = NULL, *value = NULL;
	struct fs_http_request *req = dst->req;
	int ret = -ENOMEM;

	if (key != NULL && fs_sigv4_uri_encode(key, false, &enc) == 0 &&
	    asprintf(&value, "%s/%s", fs->bucket, enc) >= 0)
		ret = fs_http_request_add_header(req, "x-amz-copy-source",
						 value);
	if (ret == 0)
		ret = fs_http_request_add_header(
			req, "x-amz-metadata-directive", "COPY");
	if (ret == 0 && dst->file.mode == FS_OPEN_CREATE &&
	    fs->copy_create == S3_CREATE_IF_NONE_MATCH)
		ret = fs_http_request_add_header(req, "If-None-Match", "*");
	free(key);
	free(enc);
	free(value);
	return ret;
}

static int s3_copy_start(struct s3_file *dst, struct fs_file *src)
{
	char *key = fs_s3_full_key(dst->ctx.fs, dst->file.key);
	int ret;

	fs_http_request_deinit(&dst->req);
	ret = key == NULL ? -ENOMEM
			  : fs_s3_request_new(&dst->ctx, FS_OP_COPY, "PUT", key,
					      NULL, &dst->req);
	free(key);
	if (ret == 0)
		ret = s3_copy_headers(dst, src);
	if (ret == 0)
		ret = fs_s3_request_start(&dst->req);
	else
		fs_http_request_deinit(&dst->req);
	if (ret < 0)
		return fs_file_set_error(
			&dst->file, ret, "copy %s to %s: cannot start: %s",
			src->key, dst->file.key, fs_errno_name(ret));
	dst->step = S3_STEP_COPY;
	return -EAGAIN;
}

/* Maps the <Error> of a failed copy (also in a 200 reply) to -errno. */
static int s3_copy_errno(const char *code, const char *message)
{
	if (code == NULL)
		return -EIO;
	if (strcmp(code, "NoSuchKey") == 0 || strcmp(code, "NoSuchBucket") == 0)
		return -ENOENT;
	if (strcmp(code, "PreconditionFailed") == 0)
		return -EEXIST;
	if (strcmp(code, "AccessDenied") == 0 ||
	    strcmp(code, "SignatureDoesNotMatch") == 0)
		return -EACCES;
	if (strcmp(code, "InvalidRequest") == 0 && message != NULL &&
	    strstr(message, "copy source is larger") != NULL)
		return -EFBIG;
	return -EIO;
}

static int s3_copy_fail(struct s3_file *dst, struct fs_file *src, int ret,
			const char *code, const char *message)
{
	struct fs_file *_dst = &dst->file;

	if (ret == -ENOENT)
		ret = fs_file_set_error(
			_dst, ret, "copy %s: no such object (s3%s%s)", src->key,
			code != NULL ? ", " : "", code != NULL ? code : "");
	else if (ret == -EEXIST)
		ret = fs_file_set_error(
			_dst, ret, "copy to %s: object exists (s3)", _dst->key);
	else if (ret == -EFBIG)
		ret = fs_file_set_error(_dst, ret,
					"copy %s: objects over 5 GiB need "
					"UploadPartCopy, which the s3 driver "
					"does not do (s3: %s)",
					src->key, message);
	else if (code != NULL && fs_http_request_result(dst->req) == 0)
		ret = fs_file_set_error(
			_dst, ret,
			"copy %s to %s: HTTP 200 with error %s: "
			"%s (s3)",
			src->key, _dst->key, code,
			message != NULL ? message : "");
	else
		ret = fs_s3_file_error(_dst, dst->req, "copy");
	return ret;
}

/* The result of the finished CopyObject: S3 may fail a copy with 200 and an
   <Error> body. */
static int s3_copy_result(struct s3_file *dst, struct fs_file *src)
{
	char *code = NULL, *message = NULL, *request_id = NULL;
	int ret = fs_http_request_result(dst->req);
	const char *body;
	size_t size;

	body = fs_http_request_body(dst->req, &size);
	if (fs_s3_parse_error(body, size, &code, &message, &request_id) == 0 &&
	    ret == 0)
		ret = s3_copy_errno(code, message);
	else if (ret == -EIO && code != NULL)
		ret = s3_copy_errno(code, message);
	if (ret < 0)
		ret = s3_copy_fail(dst, src, ret, code, message);
	free(code);
	free(message);
	free(request_id);
	fs_http_request_deinit(&dst->req);
	dst->step = S3_STEP_NONE;
	return ret;
}

/* CopyObject with x-amz-metadata-directive COPY (the metadata is kept). A
   CREATE destination uses If-None-Match: * on the copy (AWS S3 has it since
   2024), or with copy_create=head (or create=head) for stores without it a
   HEAD of the destination first (racy). Objects over 5 GiB fail with
   -EFBIG (they would need a multipart UploadPartCopy). */
int fs_s3_copy(struct fs_file *src, struct fs_file *_dst)
{
	struct s3_file *dst = S3_FILE(_dst);
	int ret;

	if (dst->req != NULL && dst->step != S3_STEP_COPY_HEAD &&
	    dst->step != S3_STEP_COPY)
		fs_http_request_deinit(&dst->req);
	if (dst->req == NULL) {
		if (_dst->mode == FS_OPEN_CREATE &&
		    dst->ctx.fs->copy_create == S3_CREATE_HEAD)
			return fs_s3_head_start(dst, S3_STEP_COPY_HEAD,
						FS_OP_COPY);
		return s3_copy_start(dst, src);
	}
	if (!fs_http_request_is_done(dst->req))
		return -EAGAIN;
	if (dst->step == S3_STEP_COPY)
		return s3_copy_result(dst, src);
	ret = fs_http_request_result(dst->req);
	if (ret == -ENOENT)
		return s3_copy_start(dst, src);
	if (ret == 0)
		ret = -EEXIST;
	ret = s3_copy_fail(dst, src, ret, NULL, NULL);
	fs_http_request_deinit(&dst->req);
	dst->step = S3_STEP_NONE;
	return ret;
}
