/*
 * The S3 front end: routing, request bodies (streamed into libfs with their
 * SHA-256, MD5 and CRC-32 checked), buckets and single objects. Listings are in
 * s3-list.c, multipart uploads in s3-multipart.c, authentication in
 * s3-auth.c. The storage layout is described in s3-private.h.
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "s3-private.h"

/* ------------------------------------------------------------------------ */
/* Paths and checks                                                           */

static char *s3_path_join(const char *a, const char *b, const char *c,
			  const char *d)
{
	struct mock_buf buf = {0};

	mock_buf_str(&buf, a);
	mock_buf_str(&buf, b);
	if (c != NULL) {
		mock_buf_str(&buf, "/");
		mock_buf_str(&buf, c);
	}
	if (d != NULL) {
		mock_buf_str(&buf, "/");
		mock_buf_str(&buf, d);
	}
	return mock_buf_steal(&buf, NULL);
}

char *s3_object_path(const char *bucket, const char *key)
{
	return s3_path_join(S3_OBJECTS_PREFIX, bucket, key, NULL);
}

char *s3_bucket_path(const char *bucket)
{
	return s3_path_join(S3_BUCKETS_PREFIX, bucket, NULL, NULL);
}

char *s3_upload_path(const char *bucket, const char *upload_id,
		     const char *leaf)
{
	return s3_path_join(S3_UPLOADS_PREFIX, bucket, upload_id, leaf);
}

/* S3's rules for bucket names created today: 3-63 of [a-z0-9.-], starting
   and ending with a letter or digit, no "..", not an IPv4 address. The
   admin endpoint relies on '_' being refused. */
static bool s3_bucket_name_valid(const char *name)
{
	size_t i, len = strlen(name);
	unsigned int a, b, c, d;
	char tail;

	if (len < 3 || len > 63 || !isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[len - 1]) ||
	    strstr(name, "..") != NULL)
		return false;
	for (i = 0; i < len; i++) {
		if (!islower((unsigned char)name[i]) &&
		    !isdigit((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '-')
			return false;
	}
	return sscanf(name, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4;
}

void s3_fail_fs(struct mock_request *req, int err, const char *what,
		const char *key, const char *message)
{
	struct mock_buf extra = {0};
	unsigned int status = 500;
	const char *code = "InternalError";

	if (key != NULL)
		mock_buf_xml_elem(&extra, "Key", key);
	switch (err) {
	case -ENOENT:
		status = 404;
		code = "NoSuchKey";
		message = "The specified key does not exist.";
		break;
	case -EEXIST:
		/* An exclusive write (If-None-Match: *) lost the race. */
		status = 412;
		code = "PreconditionFailed";
		mock_buf_str(&extra, "<Condition>If-None-Match</Condition>");
		message = "At least one of the pre-conditions you specified "
			  "did not hold";
		break;
	case -EACCES:
		status = 403;
		code = "AccessDenied";
		break;
	case -EINVAL:
		status = 400;
		code = "InvalidArgument";
		break;
	case -ENOSPC:
	case -EFBIG:
		status = 507;
		code = "InsufficientStorage";
		break;
	default:
		break;
	}
	mock_request_fail(req, status, code, extra.data, "%s: %s (%s)", what,
			  message != NULL && message[0] != '\0' ? message
								: "failed",
			  fs_errno_name(err));
	mock_buf_free(&extra);
}

bool s3_bucket_check(struct mock_request *req, const char *bucket)
{
	struct fs_file *file = NULL;
	struct mock_buf extra = {0};
	char *path;
	int ret = -EINVAL;

	if (bucket == NULL || !s3_bucket_name_valid(bucket) ||
	    (path = s3_bucket_path(bucket)) == NULL) {
		ret = 0;
	} else {
		mock_fs_lock(req->mock);
		ret = fs_file_init(req->mock->fs, path, FS_OPEN_READ, &file);
		if (ret == 0)
			ret = fs_file_exists(file);
		fs_file_deinit(&file);
		mock_fs_unlock(req->mock);
		free(path);
	}
	if (ret > 0)
		return true;
	if (ret < 0) {
		s3_fail_fs(req, ret, "bucket lookup", NULL, NULL);
		return false;
	}
	mock_buf_xml_elem(&extra, "BucketName", bucket != NULL ? bucket : "");
	mock_request_fail(req, 404, "NoSuchBucket", extra.data,
			  "The specified bucket does not exist");
	mock_buf_free(&extra);
	return false;
}

bool s3_key_check(struct mock_request *req, const char *bucket, const char *key)
{
	struct mock_buf extra = {0};
	const char *reason = NULL;
	char *path;
	int ret;

	if (strlen(key) > FS_KEY_MAX) {
		mock_request_fail(req, 400, "KeyTooLongError", NULL,
				  "Your key is too long");
		return false;
	}
	path = s3_object_path(bucket, key);
	if (path == NULL) {
		mock_request_fail(req, 500, "InternalError", NULL,
				  "Out of memory");
		return false;
	}
	ret = fs_key_validate(path, &reason);
	free(path);
	if (ret == 0)
		return true;
	mock_buf_xml_elem(&extra, "Key", key);
	if (strlen(key) + strlen(bucket) + 3 > FS_KEY_MAX)
		mock_request_fail(req, 400, "KeyTooLongError", extra.data,
				  "Your key is too long for this server's "
				  "storage (libfs keys are at most %d bytes "
				  "with the bucket)",
				  FS_KEY_MAX);
	else
		mock_request_fail(req, 400, "InvalidArgument", extra.data,
				  "This server's storage (libfs) cannot hold "
				  "this key: %s",
				  reason != NULL ? reason : "invalid");
	mock_buf_free(&extra);
	return false;
}

/* ------------------------------------------------------------------------ */
/* Objects and metadata                                                       */

void s3_object_clear(struct s3_object *obj)
{
	fs_metadata_list_clear(&obj->md);
	memset(obj, 0, sizeof(*obj));
}

void s3_md5_hex(const unsigned char md5[16], char hex_r[33])
{
	int i;

	for (i = 0; i < 16; i++)
		snprintf(hex_r + i * 2, 3, "%02x", md5[i]);
}

/* An object stored by other means has no ETag of ours: make a stable one
   from what the store says. */
static void s3_object_fake_etag(struct s3_object *obj, const char *path,
				const struct fs_stat *st)
{
	unsigned char md5[16];
	char seed[FS_KEY_MAX + 128];
	unsigned int len = 0;

	if ((st->valid & FS_STAT_ETAG) != 0 && st->etag[0] != '\0' &&
	    strchr(st->etag, '"') == NULL) {
		snprintf(obj->etag, sizeof(obj->etag), "%s", st->etag);
		return;
	}
	snprintf(seed, sizeof(seed), "%s:%llu:%lld", path,
		 (unsigned long long)obj->size, (long long)obj->mtime);
	EVP_Digest(seed, strlen(seed), md5, &len, EVP_md5(), NULL);
	s3_md5_hex(md5, obj->etag);
}

static int s3_object_load_md(struct fs_file *file, struct s3_object *obj)
{
	const struct fs_metadata *md;
	int i, count, ret = 0;

	count = fs_file_get_metadata_all(file, &md);
	if (count == -ENOTSUP)
		return 0;
	if (count < 0)
		return count;
	for (i = 0; i < count && ret == 0; i++) {
		if (strcmp(md[i].name, S3_MD_ETAG) == 0)
			snprintf(obj->etag, sizeof(obj->etag), "%s",
				 md[i].value);
		else
			ret = fs_metadata_list_set(&obj->md, md[i].name,
						   md[i].value);
	}
	return ret;
}

int s3_object_load(struct fs_mock *mock, const char *path,
		   struct fs_file **file_r, struct s3_object *obj_r,
		   char *error, size_t error_size)
{
	struct fs_file *file = NULL;
	struct fs_stat st;
	int ret;

	memset(obj_r, 0, sizeof(*obj_r));
	error[0] = '\0';
	mock_fs_lock(mock);
	ret = fs_file_init(mock->fs, path, FS_OPEN_READ, &file);
	if (ret < 0) {
		snprintf(error, error_size, "%s", fs_last_error(mock->fs));
		mock_fs_unlock(mock);
		return ret;
	}
	ret = fs_file_stat(file, &st);
	if (ret == 0)
		ret = s3_object_load_md(file, obj_r);
	if (ret < 0) {
		snprintf(error, error_size, "%s", fs_file_last_error(file));
		fs_file_deinit(&file);
		mock_fs_unlock(mock);
		s3_object_clear(obj_r);
		return ret;
	}
	obj_r->size = st.size;
	obj_r->mtime = (st.valid & FS_STAT_MTIME) != 0
			       ? st.mtime_ns / 1000000000
			       : (int64_t)time(NULL);
	if (obj_r->etag[0] == '\0')
		s3_object_fake_etag(obj_r, path, &st);
	if (file_r != NULL)
		*file_r = file;
	else
		fs_file_deinit(&file);
	mock_fs_unlock(mock);
	return 0;
}

/* Request headers S3 stores with an object, by their metadata name. */
static const char *const s3_stored_headers[] = {
	"cache-control",    "content-disposition", "content-encoding",
	"content-language", "content-type",	   "expires",
};

static bool s3_stored_header(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(s3_stored_headers) / sizeof(*s3_stored_headers);
	     i++) {
		if (strcasecmp(name, s3_stored_headers[i]) == 0)
			return true;
	}
	return false;
}

/* Adds header name: value as metadata. Returns false after replying. */
static bool s3_request_md_add(struct mock_request *req,
			      struct fs_metadata_list *md, const char *header,
			      const char *value)
{
	bool user = strncasecmp(header, "x-amz-meta-", 11) == 0;
	char name[FS_METADATA_NAME_MAX + 8];
	struct mock_buf extra = {0};
	size_t i;
	int len;

	if (user)
		len = snprintf(name, sizeof(name), "%s", header + 11);
	else
		len = snprintf(name, sizeof(name), "%s%s",
			       S3_MD_INTERNAL_PREFIX, header);
	for (i = 0; name[i] != '\0'; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	/* a cut name must not be stored as if it were the whole one */
	if (len >= 0 && (size_t)len < sizeof(name) &&
	    (!user || name[0] != S3_MD_INTERNAL_PREFIX[0]) &&
	    fs_metadata_validate(name, value) == 0) {
		if (fs_metadata_list_set(md, name, value) == 0)
			return true;
		mock_request_fail(req, 500, "InternalError", NULL,
				  "Out of memory");
		return false;
	}
	mock_buf_xml_elem(&extra, "Header", header);
	mock_request_fail(req, 400, "InvalidArgument", extra.data,
			  "This server's storage (libfs) cannot hold header "
			  "%s: metadata names are 1-%d of [a-z0-9_-] after "
			  "x-amz-meta- (not starting with '-'), values "
			  "printable UTF-8",
			  header, FS_METADATA_NAME_MAX);
	mock_buf_free(&extra);
	return false;
}

bool s3_request_metadata(struct mock_request *req, struct fs_metadata_list *md)
{
	size_t i, total = 0;
	const struct mock_header *h;

	for (i = 0; i < req->header_count; i++) {
		h = &req->headers[i];
		if (strncasecmp(h->name, "x-amz-meta-", 11) != 0 &&
		    !s3_stored_header(h->name))
			continue;
		if (!s3_request_md_add(req, md, h->name, h->value))
			return false;
	}
	for (i = 0; i < md->count; i++)
		total += strlen(md->items[i].name) + strlen(md->items[i].value);
	/* Room is kept for the ETag and CRC-32, metadata here too. */
	if (total + S3_MD_RESERVED > FS_METADATA_TOTAL_MAX) {
		mock_request_fail(req, 400, "MetadataTooLarge", NULL,
				  "Your metadata headers exceed the maximum "
				  "allowed metadata size (%d bytes here)",
				  FS_METADATA_TOTAL_MAX - S3_MD_RESERVED);
		return false;
	}
	return true;
}

static const char *s3_header_name(const char *md_name, char *buf, size_t size)
{
	static const char *const names[] = {
		"Cache-Control",    "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Type",	   "Expires",
	};
	size_t i;

	if (md_name[0] != S3_MD_INTERNAL_PREFIX[0]) {
		snprintf(buf, size, "x-amz-meta-%s", md_name);
		return buf;
	}
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		if (strcasecmp(md_name + 1, names[i]) == 0)
			return names[i];
	}
	return NULL;
}

void s3_reply_metadata(struct mock_reply *reply,
		       const struct fs_metadata_list *md)
{
	char buf[FS_METADATA_NAME_MAX + 16];
	const char *name;
	size_t i;

	for (i = 0; i < md->count; i++) {
		name = s3_header_name(md->items[i].name, buf, sizeof(buf));
		if (name != NULL)
			mock_reply_header(reply, name, md->items[i].value);
	}
}

int s3_file_set_metadata(struct fs_file *file,
			 const struct fs_metadata_list *md)
{
	size_t i;
	int ret;

	for (i = 0; i < md->count; i++) {
		ret = fs_file_set_metadata(file, md->items[i].name,
					   md->items[i].value);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Flexible checksums                                                         */

/*
 * S3's "flexible checksums" as far as this server has them: CRC-32 (zlib's
 * crc32, the polynomial of Ethernet and gzip) of the full object, sent as
 * the base64 of its 4 big-endian bytes. PutObject and UploadPart check the
 * body against x-amz-checksum-crc32, and the value is stored with the
 * object or part; GetObject and HeadObject return it when asked with
 * x-amz-checksum-mode: ENABLED. The other algorithms are refused with 501
 * rather than accepted unchecked.
 */

uint32_t s3_crc32_update(uint32_t crc, const void *data, size_t size)
{
	return (uint32_t)crc32_z(crc, data, size);
}

void s3_crc32_b64(uint32_t crc, char b64_r[S3_CRC32_B64_SIZE])
{
	unsigned char raw[4] = {(unsigned char)(crc >> 24),
				(unsigned char)(crc >> 16),
				(unsigned char)(crc >> 8), (unsigned char)crc};

	EVP_EncodeBlock((unsigned char *)b64_r, raw, sizeof(raw));
}

int s3_crc32_parse(const char *b64, uint32_t *crc_r)
{
	unsigned char raw[8];
	char again[S3_CRC32_B64_SIZE];
	uint32_t crc;

	if (strlen(b64) != S3_CRC32_B64_SIZE - 1 ||
	    strcmp(b64 + 6, "==") != 0 ||
	    EVP_DecodeBlock(raw, (const unsigned char *)b64, 8) != 6)
		return -EINVAL;
	crc = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
	      (uint32_t)raw[2] << 8 | raw[3];
	/* "y/Q5Jh==" decodes as "y/Q5Jg==" does: only one spelling is the
	   value, the one stored and returned. */
	s3_crc32_b64(crc, again);
	if (strcmp(again, b64) != 0)
		return -EINVAL;
	*crc_r = crc;
	return 0;
}

/* Names of x-amz-checksum-* headers that are not a checksum value. */
static bool s3_checksum_header_other(const char *name)
{
	const char *rest = name + strlen("x-amz-checksum-");

	return strcasecmp(rest, "mode") == 0 || strcasecmp(rest, "type") == 0 ||
	       strcasecmp(rest, "algorithm") == 0;
}

static void s3_checksum_not_implemented(struct mock_request *req,
					const char *header, const char *value)
{
	struct mock_buf extra = {0};

	mock_buf_xml_elem(&extra, "Header", header);
	mock_request_fail(req, 501, "NotImplemented", extra.data,
			  "%s%s%s: this server implements only the CRC32 "
			  "checksum algorithm (x-amz-checksum-crc32)",
			  header, value != NULL ? ": " : "",
			  value != NULL ? value : "");
	mock_buf_free(&extra);
}

/* x-amz-sdk-checksum-algorithm announces the checksum of the body: it must
   be CRC32, and come with its value (a trailer would be aws-chunked, which
   is refused anyway). Returns false after replying. */
static bool s3_checksum_sdk_algorithm(struct mock_request *req, bool have)
{
	const char *algo = mock_header(req, "x-amz-sdk-checksum-algorithm");

	if (algo == NULL)
		return true;
	if (strcasecmp(algo, "CRC32") != 0) {
		s3_checksum_not_implemented(req, "x-amz-sdk-checksum-algorithm",
					    algo);
		return false;
	}
	if (have)
		return true;
	mock_request_fail(req, 400, "InvalidRequest", NULL,
			  "x-amz-sdk-checksum-algorithm specified, but no "
			  "corresponding x-amz-checksum-* or x-amz-trailer "
			  "headers were found.");
	return false;
}

bool s3_checksum_headers(struct mock_request *req, bool body, bool *have_r,
			 uint32_t *crc_r)
{
	const struct mock_header *h;
	const char *value = NULL;
	size_t i;

	*have_r = false;
	for (i = 0; i < req->header_count; i++) {
		h = &req->headers[i];
		if (strncasecmp(h->name, "x-amz-checksum-", 15) != 0 ||
		    s3_checksum_header_other(h->name))
			continue;
		if (strcasecmp(h->name, "x-amz-checksum-crc32") != 0) {
			s3_checksum_not_implemented(req, h->name, NULL);
			return false;
		}
		value = h->value;
	}
	if (value != NULL && s3_crc32_parse(value, crc_r) < 0) {
		mock_request_fail(req, 400, "InvalidRequest", NULL,
				  "Value for x-amz-checksum-crc32 header is "
				  "invalid.");
		return false;
	}
	*have_r = value != NULL;
	return !body || s3_checksum_sdk_algorithm(req, *have_r);
}

void s3_reply_crc32(struct mock_reply *reply, const char *b64, bool type)
{
	mock_reply_header(reply, "x-amz-checksum-crc32", b64);
	if (type)
		mock_reply_header(reply, "x-amz-checksum-type", "FULL_OBJECT");
}

void s3_crc32_mismatch(struct mock_request *req)
{
	mock_request_fail(req, 400, "BadDigest", NULL,
			  "The CRC32 you specified did not match the "
			  "calculated checksum.");
}

/* ------------------------------------------------------------------------ */
/* XML replies                                                                */

struct mock_reply *s3_xml_reply(const char *root)
{
	struct mock_reply *reply = mock_reply_new(200);

	if (reply == NULL)
		return NULL;
	mock_reply_header(reply, "Content-Type", "application/xml");
	mock_buf_printf(&reply->body, S3_XML_HEAD "<%s xmlns=\"" S3_XMLNS "\">",
			root);
	return reply;
}

void s3_xml_reply_end(struct mock_reply *reply, const char *root)
{
	mock_buf_printf(&reply->body, "</%s>", root);
	if (reply->body.failed)
		reply->failed = true;
}

void s3_xml_owner(struct mock_buf *b)
{
	mock_buf_str(b, "<Owner><ID>" S3_OWNER_ID
			"</ID><DisplayName>" S3_OWNER_NAME
			"</DisplayName></Owner>");
}

void s3_xml_key(struct mock_buf *b, const char *elem, const char *key, bool url)
{
	char *enc = NULL;

	if (url && fs_sigv4_uri_encode(key, false, &enc) == 0) {
		mock_buf_xml_elem(b, elem, enc);
		free(enc);
		return;
	}
	mock_buf_xml_elem(b, elem, key);
}

void s3_malformed_xml(struct mock_request *req)
{
	mock_request_fail(req, 400, "MalformedXML", NULL,
			  "The XML you provided was not well-formed or did "
			  "not validate against our published schema");
}

xmlDocPtr s3_xml_body(struct mock_request *req, const char *root)
{
	struct s3_request *sreq = s3_req(req);
	xmlNodePtr node;
	xmlDocPtr doc;

	if (sreq->xml.len == 0 || sreq->xml.failed ||
	    sreq->xml.len > INT32_MAX) {
		s3_malformed_xml(req);
		return NULL;
	}
	/* No network, no entity substitution, no DTD loading: the body is
	   untrusted. */
	doc = xmlReadMemory(sreq->xml.data, (int)sreq->xml.len, NULL, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	node = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	if (node == NULL || xmlStrcmp(node->name, BAD_CAST root) != 0) {
		xmlFreeDoc(doc);
		s3_malformed_xml(req);
		return NULL;
	}
	return doc;
}

/* ------------------------------------------------------------------------ */
/* Streaming bodies into the store                                            */

bool s3_write_begin(struct mock_request *req, const char *path,
		    unsigned int mode, const struct fs_metadata_list *md)
{
	struct s3_request *sreq = s3_req(req);
	struct fs_file *file = NULL;
	char msg[512] = "";
	int ret;

	mock_fs_lock(req->mock);
	ret = fs_file_init(req->mock->fs, path, mode, &file);
	if (ret < 0)
		snprintf(msg, sizeof(msg), "%s", fs_last_error(req->mock->fs));
	else if ((ret = s3_file_set_metadata(file, md)) < 0)
		snprintf(msg, sizeof(msg), "%s", fs_file_last_error(file));
	if (ret < 0)
		fs_file_deinit(&file);
	mock_fs_unlock(req->mock);
	if (ret < 0) {
		s3_fail_fs(req, ret, "storing", req->key, msg);
		return false;
	}
	sreq->wfile = file;
	return true;
}

int s3_write_finish(struct mock_request *req, const char *etag)
{
	struct s3_request *sreq = s3_req(req);
	char msg[512] = "";
	int ret;

	mock_fs_lock(req->mock);
	ret = fs_file_set_metadata(sreq->wfile, S3_MD_ETAG, etag);
	if (ret == 0 && sreq->check_crc32)
		ret = fs_file_set_metadata(sreq->wfile, S3_MD_CRC32,
					   sreq->crc32_b64);
	if (ret == 0)
		ret = fs_write_finish(sreq->wfile);
	if (ret < 0)
		snprintf(msg, sizeof(msg), "%s",
			 fs_file_last_error(sreq->wfile));
	fs_file_deinit(&sreq->wfile);
	mock_fs_unlock(req->mock);
	if (ret < 0 && ret != -EEXIST)
		s3_fail_fs(req, ret, "storing", req->key, msg);
	return ret;
}

void s3_body_md5(struct mock_request *req, char hex_r[33])
{
	struct s3_request *sreq = s3_req(req);
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	hex_r[0] = '\0';
	if (sreq->md5 == NULL)
		return;
	EVP_DigestFinal_ex(sreq->md5, md5, &len);
	EVP_MD_CTX_free(sreq->md5);
	sreq->md5 = NULL;
	s3_md5_hex(md5, hex_r);
}

static int s3_body_write(struct mock_request *req, const char *data,
			 size_t size)
{
	struct s3_request *sreq = s3_req(req);
	char msg[512] = "";
	ssize_t ret = 0;

	mock_fs_lock(req->mock);
	while (size > 0) {
		ret = fs_write(sreq->wfile, data, size);
		if (ret <= 0)
			break;
		data += ret;
		size -= (size_t)ret;
	}
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "%s",
			 fs_file_last_error(sreq->wfile));
		fs_file_deinit(&sreq->wfile);
	}
	mock_fs_unlock(req->mock);
	if (ret < 0) {
		sreq->write_failed = true;
		s3_fail_fs(req, (int)ret, "storing", req->key, msg);
		return -1;
	}
	return 0;
}

static int s3_body(struct mock_request *req, const char *data, size_t size)
{
	struct s3_request *sreq = s3_req(req);

	if (sreq->check_sha256)
		fs_sigv4_sha256_update(&sreq->sha256, data, size);
	if (sreq->md5 != NULL)
		EVP_DigestUpdate(sreq->md5, data, size);
	if (sreq->check_crc32)
		sreq->crc32 = s3_crc32_update(sreq->crc32, data, size);
	sreq->body_size += size;
	if (sreq->wfile != NULL) {
		mock_count(req->mock, "bytes_in", size);
		return s3_body_write(req, data, size);
	}
	if (sreq->op->xml_body) {
		if (sreq->xml.len + size > S3_XML_BODY_MAX) {
			mock_request_fail(req, 400, "MaxMessageLengthExceeded",
					  NULL, "Your request was too big.");
			return -1;
		}
		mock_buf_add(&sreq->xml, data, size);
	}
	return 0;
}

/* Checks the body against x-amz-content-sha256, Content-MD5 and
   x-amz-checksum-crc32. Returns false after replying. */
static bool s3_body_verify(struct mock_request *req)
{
	struct s3_request *sreq = s3_req(req);
	char hex[FS_SIGV4_HEX_SIZE];
	struct mock_buf extra = {0};
	bool ok = true;

	if (sreq->check_sha256) {
		sreq->check_sha256 = false;
		if (fs_sigv4_sha256_final(&sreq->sha256, hex) < 0)
			hex[0] = '\0';
		if (strcmp(hex, sreq->want_sha256) != 0) {
			mock_buf_xml_elem(&extra, "ClientComputedContentSHA256",
					  sreq->want_sha256);
			mock_buf_xml_elem(&extra, "S3ComputedContentSHA256",
					  hex);
			mock_request_fail(req, 400, "XAmzContentSHA256Mismatch",
					  extra.data,
					  "The provided 'x-amz-content-sha256' "
					  "header does not match what was "
					  "computed.");
			ok = false;
		}
	}
	if (ok && sreq->check_md5 && sreq->md5 != NULL) {
		unsigned char md5[EVP_MAX_MD_SIZE];
		unsigned int len = 0;
		EVP_MD_CTX *copy = EVP_MD_CTX_new();

		if (copy != NULL && EVP_MD_CTX_copy_ex(copy, sreq->md5) == 1 &&
		    EVP_DigestFinal_ex(copy, md5, &len) == 1 &&
		    memcmp(md5, sreq->want_md5, 16) != 0) {
			mock_request_fail(req, 400, "BadDigest", NULL,
					  "The Content-MD5 you specified did "
					  "not match what we received.");
			ok = false;
		}
		EVP_MD_CTX_free(copy);
	}
	if (ok && sreq->check_crc32 && sreq->crc32 != sreq->want_crc32) {
		s3_crc32_mismatch(req);
		ok = false;
	}
	mock_buf_free(&extra);
	return ok;
}

static void s3_finish(struct mock_request *req)
{
	struct s3_request *sreq = s3_req(req);

	if (sreq->write_failed)
		return;
	if (!s3_body_verify(req)) {
		if (sreq->wfile != NULL) {
			mock_fs_lock(req->mock);
			fs_file_deinit(&sreq->wfile);
			mock_fs_unlock(req->mock);
		}
		return;
	}
	sreq->op->run(req);
}

static void s3_cleanup(struct mock_request *req)
{
	struct s3_request *sreq = s3_req(req);

	if (sreq == NULL)
		return;
	if (sreq->wfile != NULL) {
		/* Unfinished: the client went away. Nothing stays. */
		mock_fs_lock(req->mock);
		fs_file_deinit(&sreq->wfile);
		mock_fs_unlock(req->mock);
	}
	fs_sigv4_sha256_deinit(&sreq->sha256);
	EVP_MD_CTX_free(sreq->md5);
	mock_buf_free(&sreq->xml);
	free(sreq);
	req->ctx = NULL;
}

/* ------------------------------------------------------------------------ */
/* Buckets                                                                    */

int s3_bucket_ensure(struct fs_mock *mock, const char *bucket, char **error_r)
{
	struct fs_file *file = NULL;
	char *path;
	int ret;

	*error_r = NULL;
	if (!s3_bucket_name_valid(bucket)) {
		*error_r =
			mock_strdup_printf("invalid bucket name '%s'", bucket);
		return -EINVAL;
	}
	path = s3_bucket_path(bucket);
	mock_fs_lock(mock);
	ret = path == NULL
		      ? -ENOMEM
		      : fs_file_init(mock->fs, path, FS_OPEN_CREATE, &file);
	if (ret == 0)
		ret = fs_write_all(file, "", 0);
	if (ret < 0 && ret != -EEXIST)
		*error_r = mock_strdup_printf(
			"bucket %s: %s", bucket,
			file != NULL ? fs_file_last_error(file)
				     : fs_last_error(mock->fs));
	fs_file_deinit(&file);
	mock_fs_unlock(mock);
	free(path);
	return ret == -EEXIST ? 0 : ret;
}

static void s3_create_bucket(struct mock_request *req)
{
	struct fs_file *file = NULL;
	struct mock_buf extra = {0};
	struct mock_reply *reply;
	char msg[512] = "", *path;
	int ret;

	if (!s3_bucket_name_valid(req->bucket)) {
		mock_buf_xml_elem(&extra, "BucketName", req->bucket);
		mock_request_fail(req, 400, "InvalidBucketName", extra.data,
				  "The specified bucket is not valid.");
		mock_buf_free(&extra);
		return;
	}
	path = s3_bucket_path(req->bucket);
	mock_fs_lock(req->mock);
	ret = path == NULL ? -ENOMEM
			   : fs_file_init(req->mock->fs, path, FS_OPEN_CREATE,
					  &file);
	if (ret == 0)
		ret = fs_write_all(file, "", 0);
	if (ret < 0 && file != NULL)
		snprintf(msg, sizeof(msg), "%s", fs_file_last_error(file));
	fs_file_deinit(&file);
	mock_fs_unlock(req->mock);
	free(path);
	if (ret == -EEXIST) {
		mock_buf_xml_elem(&extra, "BucketName", req->bucket);
		mock_request_fail(req, 409, "BucketAlreadyOwnedByYou",
				  extra.data,
				  "Your previous request to create the named "
				  "bucket succeeded and you already own it.");
		mock_buf_free(&extra);
		return;
	}
	if (ret < 0) {
		s3_fail_fs(req, ret, "creating the bucket", NULL, msg);
		return;
	}
	reply = mock_reply_new(200);
	if (reply != NULL)
		mock_reply_headerf(reply, "Location", "/%s", req->bucket);
	mock_request_reply(req, reply);
}

static void s3_delete_bucket(struct mock_request *req)
{
	struct fs_file *file = NULL;
	struct mock_buf extra = {0};
	char *objects, *uploads, *path;
	int ret;

	if (!s3_bucket_check(req, req->bucket))
		return;
	objects = s3_path_join(S3_OBJECTS_PREFIX, req->bucket, "", NULL);
	uploads = s3_path_join(S3_UPLOADS_PREFIX, req->bucket, "", NULL);
	path = s3_bucket_path(req->bucket);
	ret = objects == NULL || uploads == NULL || path == NULL
		      ? -ENOMEM
		      : s3_prefix_used(req->mock, objects);
	if (ret == 1) {
		mock_buf_xml_elem(&extra, "BucketName", req->bucket);
		mock_request_fail(req, 409, "BucketNotEmpty", extra.data,
				  "The bucket you tried to delete is not "
				  "empty");
		mock_buf_free(&extra);
	} else {
		/* Unfinished uploads go with the bucket. */
		if (ret == 0)
			ret = s3_delete_prefix(req->mock, uploads);
		if (ret == 0) {
			mock_fs_lock(req->mock);
			ret = fs_file_init(req->mock->fs, path, FS_OPEN_READ,
					   &file);
			if (ret == 0)
				ret = fs_file_delete(file);
			fs_file_deinit(&file);
			mock_fs_unlock(req->mock);
		}
		if (ret < 0 && ret != -ENOENT)
			s3_fail_fs(req, ret, "deleting the bucket", NULL, NULL);
		else
			mock_request_reply(req, mock_reply_new(204));
	}
	free(objects);
	free(uploads);
	free(path);
}

static void s3_head_bucket(struct mock_request *req)
{
	struct mock_reply *reply;

	if (!s3_bucket_check(req, req->bucket))
		return;
	reply = mock_reply_new(200);
	if (reply != NULL)
		mock_reply_header(reply, "x-amz-bucket-region",
				  req->mock->region);
	mock_request_reply(req, reply);
}

static void s3_bucket_location(struct mock_request *req)
{
	struct mock_reply *reply;

	if (!s3_bucket_check(req, req->bucket))
		return;
	reply = mock_reply_new(200);
	if (reply == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	mock_reply_header(reply, "Content-Type", "application/xml");
	mock_buf_str(&reply->body,
		     S3_XML_HEAD "<LocationConstraint xmlns=\"" S3_XMLNS "\">");
	/* us-east-1 is the empty constraint. */
	if (strcmp(req->mock->region, "us-east-1") != 0)
		mock_buf_xml(&reply->body, req->mock->region);
	mock_buf_str(&reply->body, "</LocationConstraint>");
	mock_request_reply(req, reply);
}

/* Tags are not stored (requests that set them are refused), so every
   object has the empty tag set; awscli asks for it before multipart copies. */
static void s3_get_tagging(struct mock_request *req)
{
	struct mock_reply *reply;
	struct s3_object obj;
	char msg[256], *path;
	int ret;

	if (!s3_bucket_check(req, req->bucket) ||
	    !s3_key_check(req, req->bucket, req->key))
		return;
	path = s3_object_path(req->bucket, req->key);
	ret = path == NULL ? -ENOMEM
			   : s3_object_load(req->mock, path, NULL, &obj, msg,
					    sizeof(msg));
	free(path);
	if (ret < 0) {
		s3_fail_fs(req, ret, "reading", req->key, msg);
		return;
	}
	s3_object_clear(&obj);
	reply = s3_xml_reply("Tagging");
	if (reply != NULL) {
		mock_buf_str(&reply->body, "<TagSet></TagSet>");
		s3_xml_reply_end(reply, "Tagging");
	}
	mock_request_reply(req, reply);
}

/* Access control is the credentials': every key may do everything. The ACL
   says so (the owner has full control); changing it is not implemented. */
static void s3_get_acl(struct mock_request *req)
{
	struct mock_reply *reply;

	if (!s3_bucket_check(req, req->bucket))
		return;
	if (req->key != NULL) {
		struct s3_object obj;
		char msg[256], *path = NULL;
		int ret = -ENOMEM;

		if (!s3_key_check(req, req->bucket, req->key))
			return;
		path = s3_object_path(req->bucket, req->key);
		if (path != NULL)
			ret = s3_object_load(req->mock, path, NULL, &obj, msg,
					     sizeof(msg));
		free(path);
		if (ret < 0) {
			s3_fail_fs(req, ret, "reading", req->key, msg);
			return;
		}
		s3_object_clear(&obj);
	}
	reply = s3_xml_reply("AccessControlPolicy");
	if (reply != NULL) {
		s3_xml_owner(&reply->body);
		mock_buf_str(&reply->body,
			     "<AccessControlList><Grant><Grantee "
			     "xmlns:xsi=\"http://www.w3.org/2001/"
			     "XMLSchema-instance\" xsi:type=\"CanonicalUser\">"
			     "<ID>" S3_OWNER_ID
			     "</ID><DisplayName>" S3_OWNER_NAME
			     "</DisplayName></Grantee><Permission>FULL_CONTROL"
			     "</Permission></Grant></AccessControlList>");
		s3_xml_reply_end(reply, "AccessControlPolicy");
	}
	mock_request_reply(req, reply);
}

/* Returns true if every grant of the policy is full control for the owner,
   the only ACL this server has. */
static bool s3_acl_owner_only(xmlNodePtr node)
{
	xmlChar *text;
	bool ok = true;

	for (; node != NULL && ok; node = node->next) {
		if (node->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(node->name, BAD_CAST "ID") == 0) {
			text = xmlNodeGetContent(node);
			ok = text != NULL &&
			     xmlStrcmp(text, BAD_CAST S3_OWNER_ID) == 0;
			xmlFree(text);
		} else if (xmlStrcmp(node->name, BAD_CAST "Permission") == 0) {
			text = xmlNodeGetContent(node);
			ok = text != NULL &&
			     xmlStrcmp(text, BAD_CAST "FULL_CONTROL") == 0;
			xmlFree(text);
		} else if (xmlStrcmp(node->name, BAD_CAST "URI") == 0 ||
			   xmlStrcmp(node->name, BAD_CAST "EmailAddress") ==
				   0) {
			ok = false;
		} else {
			ok = s3_acl_owner_only(node->children);
		}
	}
	return ok;
}

/* Setting the ACL the object already has (s3cmd copies ACLs along) is
   accepted; any other grant is not implemented. */
static void s3_put_acl(struct mock_request *req)
{
	xmlDocPtr doc = NULL;
	bool ok = true;

	if (!s3_bucket_check(req, req->bucket))
		return;
	if (mock_header(req, "x-amz-acl") == NULL) {
		doc = s3_xml_body(req, "AccessControlPolicy");
		if (doc == NULL)
			return;
		ok = s3_acl_owner_only(xmlDocGetRootElement(doc)->children);
		xmlFreeDoc(doc);
	}
	if (!ok) {
		mock_request_fail(req, 501, "NotImplemented", NULL,
				  "Grants other than the owner's full control "
				  "are not implemented");
		return;
	}
	mock_request_reply(req, mock_reply_new(200));
}

static void s3_not_implemented(struct mock_request *req)
{
	mock_request_fail(req, 501, "NotImplemented", NULL,
			  "A header or query you provided implies "
			  "functionality that is not implemented");
}

/* ------------------------------------------------------------------------ */
/* Objects                                                                    */

/* Compares an If-Match / If-None-Match list with an ETag. */
static bool s3_etag_list_match(const char *list, const char *etag)
{
	const char *p = list, *start, *end;
	size_t len = strlen(etag);

	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		start = p;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		p = end;
		while (end > start && end[-1] == ' ')
			end--;
		if (end - start >= 2 && *start == '"' && end[-1] == '"') {
			start++;
			end--;
		}
		if ((size_t)(end - start) == len &&
		    memcmp(start, etag, len) == 0)
			return true;
	}
	return false;
}

/* RFC 7232 section 6 evaluation order. Returns 0 to go on, or the status
   (304 or 412) to reply with. */
static unsigned int s3_conditions(struct mock_request *req,
				  const struct s3_object *obj, bool get)
{
	const char *h;
	int64_t t;

	h = mock_header(req, "If-Match");
	if (h != NULL) {
		if (!s3_etag_list_match(h, obj->etag))
			return 412;
	} else if ((h = mock_header(req, "If-Unmodified-Since")) != NULL &&
		   mock_http_date_parse(h, &t) == 0 && obj->mtime > t) {
		return 412;
	}
	h = mock_header(req, "If-None-Match");
	if (h != NULL) {
		if (s3_etag_list_match(h, obj->etag))
			return get ? 304 : 412;
	} else if (get && (h = mock_header(req, "If-Modified-Since")) != NULL &&
		   mock_http_date_parse(h, &t) == 0 && obj->mtime <= t) {
		return 304;
	}
	return 0;
}

static void s3_object_headers(struct mock_reply *reply,
			      const struct s3_object *obj)
{
	char date[64];

	mock_reply_headerf(reply, "ETag", "\"%s\"", obj->etag);
	mock_http_date(obj->mtime, date);
	mock_reply_header(reply, "Last-Modified", date);
}

void s3_precondition_failed(struct mock_request *req, const char *condition)
{
	struct mock_buf extra = {0};

	mock_buf_xml_elem(&extra, "Condition", condition);
	mock_request_fail(req, 412, "PreconditionFailed", extra.data,
			  "At least one of the pre-conditions you specified "
			  "did not hold");
	mock_buf_free(&extra);
}

/* Parses a single "bytes=" range against size. Returns 1 and the range,
   0 to serve the whole object (absent or unusable header), -1 when it
   cannot be satisfied. */
int s3_parse_range(const char *h, uint64_t size, uint64_t *off_r,
		   uint64_t *len_r)
{
	unsigned long long first, last;
	int n = 0;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return 0;
	h += 6;
	if (sscanf(h, "-%llu%n", &last, &n) == 1 && h[n] == '\0') {
		if (last == 0 || size == 0)
			return -1;
		*len_r = last > size ? size : last;
		*off_r = size - *len_r;
		return 1;
	}
	if (sscanf(h, "%llu-%n", &first, &n) == 1 && h[n] == '\0') {
		last = UINT64_MAX;
	} else if (sscanf(h, "%llu-%llu%n", &first, &last, &n) != 2 ||
		   h[n] != '\0' || last < first || h[0] == '-') {
		return 0;
	}
	if (first >= size)
		return -1;
	if (last >= size)
		last = size - 1;
	*off_r = first;
	*len_r = last - first + 1;
	return 1;
}

static void s3_range_fail(struct mock_request *req, const char *range,
			  uint64_t size)
{
	struct mock_buf extra = {0};
	struct mock_reply *reply;
	char num[32];

	mock_buf_xml_elem(&extra, "RangeRequested", range);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
	mock_buf_xml_elem(&extra, "ActualObjectSize", num);
	reply = mock_error_reply(req, 416, "InvalidRange", extra.data,
				 "The requested range is not satisfiable");
	if (reply != NULL)
		mock_reply_headerf(reply, "Content-Range", "bytes */%llu",
				   (unsigned long long)size);
	mock_buf_free(&extra);
	mock_request_reply(req, reply);
}

/* response-content-type=... and friends replace the stored headers. */
static void s3_response_overrides(struct mock_request *req,
				  struct mock_reply *reply)
{
	static const char *const map[][2] = {
		{"response-cache-control", "Cache-Control"},
		{"response-content-disposition", "Content-Disposition"},
		{"response-content-encoding", "Content-Encoding"},
		{"response-content-language", "Content-Language"},
		{"response-content-type", "Content-Type"},
		{"response-expires", "Expires"},
	};
	size_t i, j;
	const char *value;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		value = mock_param(req, map[i][0]);
		if (value == NULL)
			continue;
		for (j = 0; j < reply->header_count; j++) {
			if (strcasecmp(reply->headers[j].name, map[i][1]) != 0)
				continue;
			free((char *)reply->headers[j].name);
			free((char *)reply->headers[j].value);
			reply->headers[j] =
				reply->headers[--reply->header_count];
			break;
		}
		mock_reply_header(reply, map[i][1], value);
	}
}

/* The stored checksum goes with a reply when asked for and when it is the
   checksum of what is sent: the whole object, not a range or a part (as
   S3 does). */
static void s3_get_checksum(struct mock_request *req, struct mock_reply *reply,
			    const struct s3_object *obj)
{
	const char *mode = mock_header(req, "x-amz-checksum-mode");
	const char *crc = fs_metadata_list_find(&obj->md, S3_MD_CRC32);

	if (crc != NULL && mode != NULL && strcasecmp(mode, "ENABLED") == 0 &&
	    mock_header(req, "Range") == NULL &&
	    !mock_has_param(req, "partNumber"))
		s3_reply_crc32(reply, crc, true);
}

static void s3_get_reply(struct mock_request *req, struct fs_file *file,
			 const struct s3_object *obj)
{
	const char *range = mock_header(req, "Range");
	uint64_t off = 0, len = obj->size;
	struct mock_reply *reply;
	int r;

	r = s3_parse_range(range, obj->size, &off, &len);
	if (r < 0) {
		mock_fs_lock(req->mock);
		fs_file_deinit(&file);
		mock_fs_unlock(req->mock);
		s3_range_fail(req, range, obj->size);
		return;
	}
	reply = mock_reply_new(r > 0 ? 206 : 200);
	if (reply == NULL || (r > 0 && fs_file_set_range(file, off, len) < 0)) {
		mock_fs_lock(req->mock);
		fs_file_deinit(&file);
		mock_fs_unlock(req->mock);
		mock_reply_free(&reply);
		mock_request_fail(req, 500, "InternalError", NULL,
				  "Cannot read a range");
		return;
	}
	s3_object_headers(reply, obj);
	mock_reply_header(reply, "Accept-Ranges", "bytes");
	if (fs_metadata_list_find(&obj->md,
				  S3_MD_INTERNAL_PREFIX "content-type") == NULL)
		mock_reply_header(reply, "Content-Type", "binary/octet-stream");
	s3_reply_metadata(reply, &obj->md);
	s3_get_checksum(req, reply, obj);
	if (r > 0)
		mock_reply_headerf(reply, "Content-Range",
				   "bytes %llu-%llu/%llu",
				   (unsigned long long)off,
				   (unsigned long long)(off + len - 1),
				   (unsigned long long)obj->size);
	s3_response_overrides(req, reply);
	reply->file = file;
	reply->file_size = len;
	reply->file_offset = off;
	reply->is_object = true;
	mock_request_reply(req, reply);
}

static void s3_get_object(struct mock_request *req)
{
	struct fs_file *file = NULL;
	struct mock_reply *reply;
	struct s3_object obj;
	char msg[512], *path;
	unsigned int status;
	int ret;

	if (!s3_bucket_check(req, req->bucket) ||
	    !s3_key_check(req, req->bucket, req->key))
		return;
	path = s3_object_path(req->bucket, req->key);
	ret = path == NULL ? -ENOMEM
			   : s3_object_load(req->mock, path, &file, &obj, msg,
					    sizeof(msg));
	free(path);
	if (ret < 0) {
		s3_fail_fs(req, ret, "reading", req->key, msg);
		return;
	}
	status = s3_conditions(req, &obj, true);
	if (status != 0) {
		mock_fs_lock(req->mock);
		fs_file_deinit(&file);
		mock_fs_unlock(req->mock);
		if (status == 412) {
			s3_precondition_failed(req,
					       mock_header(req, "If-Match")
						       ? "If-Match"
						       : "If-Unmodified-Since");
		} else {
			reply = mock_reply_new(304);
			if (reply != NULL)
				s3_object_headers(reply, &obj);
			mock_request_reply(req, reply);
		}
		s3_object_clear(&obj);
		return;
	}
	s3_get_reply(req, file, &obj);
	s3_object_clear(&obj);
}

bool s3_write_mode(struct mock_request *req, const char *path,
		   unsigned int *mode_r)
{
	const char *inm = mock_header(req, "If-None-Match");
	struct s3_object obj;
	char msg[256];

	*mode_r = FS_OPEN_REPLACE;
	if (mock_header(req, "If-Match") != NULL) {
		/* libfs has no compare-and-replace: a check here would race. */
		mock_request_fail(req, 501, "NotImplemented",
				  "<Header>If-Match</Header>",
				  "Conditional writes with If-Match are not "
				  "implemented");
		return false;
	}
	if (inm == NULL)
		return true;
	if (strcmp(inm, "*") != 0) {
		mock_request_fail(req, 501, "NotImplemented",
				  "<Header>If-None-Match</Header>",
				  "If-None-Match on writes takes only *");
		return false;
	}
	*mode_r = FS_OPEN_CREATE;
	/* Refuse early when the key exists; the atomic check is libfs's
	   FS_OPEN_CREATE when the write is published. */
	if (s3_object_load(req->mock, path, NULL, &obj, msg, sizeof(msg)) < 0)
		return true;
	s3_object_clear(&obj);
	s3_precondition_failed(req, "If-None-Match");
	return false;
}

static void s3_put_begin(struct mock_request *req)
{
	struct fs_metadata_list md = {0};
	unsigned int mode;
	char *path;

	if (!s3_bucket_check(req, req->bucket) ||
	    !s3_key_check(req, req->bucket, req->key))
		return;
	path = s3_object_path(req->bucket, req->key);
	if (path == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	if (s3_write_mode(req, path, &mode) && s3_request_metadata(req, &md))
		s3_write_begin(req, path, mode, &md);
	fs_metadata_list_clear(&md);
	free(path);
}

static void s3_put_run(struct mock_request *req)
{
	struct mock_reply *reply;
	char etag[33];
	int ret;

	s3_body_md5(req, etag);
	ret = s3_write_finish(req, etag);
	if (ret == -EEXIST) {
		s3_precondition_failed(req, "If-None-Match");
		return;
	}
	if (ret < 0)
		return;
	reply = mock_reply_new(200);
	if (reply != NULL) {
		mock_reply_headerf(reply, "ETag", "\"%s\"", etag);
		if (s3_req(req)->check_crc32)
			s3_reply_crc32(reply, s3_req(req)->crc32_b64, true);
	}
	mock_request_reply(req, reply);
}

static void s3_delete_object(struct mock_request *req)
{
	struct fs_file *file = NULL;
	char msg[512] = "", *path;
	int ret;

	if (!s3_bucket_check(req, req->bucket) ||
	    !s3_key_check(req, req->bucket, req->key))
		return;
	path = s3_object_path(req->bucket, req->key);
	mock_fs_lock(req->mock);
	ret = path == NULL
		      ? -ENOMEM
		      : fs_file_init(req->mock->fs, path, FS_OPEN_READ, &file);
	if (ret == 0)
		ret = fs_file_delete(file);
	if (ret < 0 && file != NULL)
		snprintf(msg, sizeof(msg), "%s", fs_file_last_error(file));
	fs_file_deinit(&file);
	mock_fs_unlock(req->mock);
	free(path);
	/* S3 answers 204 whether or not the key was there. */
	if (ret < 0 && ret != -ENOENT)
		s3_fail_fs(req, ret, "deleting", req->key, msg);
	else
		mock_request_reply(req, mock_reply_new(204));
}

/* ------------------------------------------------------------------------ */
/* Copies                                                                     */

bool s3_copy_source(struct mock_request *req, char **bucket_r, char **key_r)
{
	const char *src = mock_header(req, "x-amz-copy-source");
	char *decoded = NULL, *slash, *q;

	*bucket_r = *key_r = NULL;
	if (src == NULL ||
	    fs_sigv4_uri_decode(src, strlen(src), &decoded) < 0) {
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "Copy Source must mention the source bucket "
				  "and key: sourcebucket/sourcekey");
		return false;
	}
	q = strstr(decoded, "?versionId=");
	if (q != NULL)
		*q = '\0';
	slash = strchr(decoded + (decoded[0] == '/'), '/');
	if (slash == NULL || slash[1] == '\0') {
		free(decoded);
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "Copy Source must mention the source bucket "
				  "and key: sourcebucket/sourcekey");
		return false;
	}
	*slash = '\0';
	*bucket_r = strdup(decoded + (decoded[0] == '/'));
	*key_r = strdup(slash + 1);
	free(decoded);
	if (*bucket_r == NULL || *key_r == NULL) {
		free(*bucket_r);
		free(*key_r);
		mock_request_reply(req, NULL);
		return false;
	}
	return true;
}

bool s3_copy_conditions(struct mock_request *req, const struct s3_object *src)
{
	const char *h;
	int64_t t;

	h = mock_header(req, "x-amz-copy-source-if-match");
	if (h != NULL && !s3_etag_list_match(h, src->etag)) {
		s3_precondition_failed(req, "x-amz-copy-source-If-Match");
		return false;
	}
	h = mock_header(req, "x-amz-copy-source-if-none-match");
	if (h != NULL && s3_etag_list_match(h, src->etag)) {
		s3_precondition_failed(req, "x-amz-copy-source-If-None-Match");
		return false;
	}
	h = mock_header(req, "x-amz-copy-source-if-unmodified-since");
	if (h != NULL && mock_http_date_parse(h, &t) == 0 && src->mtime > t) {
		s3_precondition_failed(req,
				       "x-amz-copy-source-If-Unmodified-Since");
		return false;
	}
	h = mock_header(req, "x-amz-copy-source-if-modified-since");
	if (h != NULL && mock_http_date_parse(h, &t) == 0 && src->mtime <= t) {
		s3_precondition_failed(req,
				       "x-amz-copy-source-If-Modified-Since");
		return false;
	}
	return true;
}

/* Writes all of data. Returns 0 or -errno. */
static int s3_write_full(struct fs_file *file, const char *data, size_t size)
{
	ssize_t ret;

	while (size > 0) {
		ret = fs_write(file, data, size);
		if (ret < 0)
			return (int)ret;
		if (ret == 0)
			return -EIO;
		data += ret;
		size -= (size_t)ret;
	}
	return 0;
}

struct s3_copy {
	struct mock_request *req;
	struct fs_file *dst, *src;
	EVP_MD_CTX *md5;
	uint32_t crc32;
	char *buf;
	char msg[512];
	const char *key; /* for errors */
};

/* Copies one source range into c->dst. Returns 0 or -errno with c->msg. */
static int s3_copy_one(struct s3_copy *c, const struct s3_copy_src *src)
{
	struct fs_mock *mock = c->req->mock;
	uint64_t left = src->length;
	ssize_t n = 0;
	int w = 0;
	int ret;

	mock_fs_lock(mock);
	ret = fs_file_init(mock->fs, src->path, FS_OPEN_READ, &c->src);
	if (ret == 0)
		ret = fs_file_set_range(c->src, src->offset, src->length);
	mock_fs_unlock(mock);
	while (ret == 0 && left > 0) {
		mock_fs_lock(mock);
		n = fs_read(c->src, c->buf,
			    left < S3_IO_BLOCK ? (size_t)left : S3_IO_BLOCK);
		if (n > 0)
			w = s3_write_full(c->dst, c->buf, (size_t)n);
		if (n < 0)
			snprintf(c->msg, sizeof(c->msg), "%s",
				 fs_file_last_error(c->src));
		else if (w < 0)
			snprintf(c->msg, sizeof(c->msg), "%s",
				 fs_file_last_error(c->dst));
		mock_fs_unlock(mock);
		if (n == 0) {
			snprintf(c->msg, sizeof(c->msg),
				 "%s changed during the copy", src->path);
			ret = -EIO;
		} else if (n < 0 || w < 0) {
			ret = n < 0 ? (int)n : w;
		} else {
			EVP_DigestUpdate(c->md5, c->buf, (size_t)n);
			c->crc32 = s3_crc32_update(c->crc32, c->buf, (size_t)n);
			left -= (uint64_t)n;
		}
	}
	mock_fs_lock(mock);
	fs_file_deinit(&c->src);
	mock_fs_unlock(mock);
	return ret;
}

/* Sets md on the new object, without the checksums the copy decides. */
static int s3_copy_set_md(struct fs_file *dst,
			  const struct fs_metadata_list *md)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < md->count && ret == 0; i++) {
		if (strcmp(md->items[i].name, S3_MD_CRC32) != 0 &&
		    strcmp(md->items[i].name, S3_MD_CHECKSUM) != 0)
			ret = fs_file_set_metadata(dst, md->items[i].name,
						   md->items[i].value);
	}
	return ret;
}

/* Sets the ETag and CRC-32 of the copied bytes and publishes the copy.
   Returns 0 or -errno with c->msg. Takes the fs lock. */
static int s3_copy_finish(struct s3_copy *c, const char *etag,
			  struct s3_crc32 *crc)
{
	char b64[S3_CRC32_B64_SIZE];
	int ret;

	if (crc != NULL && crc->mode == S3_CRC32_VERIFY &&
	    crc->value != c->crc32) {
		snprintf(c->msg, sizeof(c->msg),
			 "the data read back does not have its stored CRC32");
		return -EIO;
	}
	mock_fs_lock(c->req->mock);
	ret = fs_file_set_metadata(c->dst, S3_MD_ETAG, etag);
	if (ret == 0 && crc != NULL && crc->mode != S3_CRC32_NONE) {
		crc->value = c->crc32;
		s3_crc32_b64(c->crc32, b64);
		ret = fs_file_set_metadata(c->dst, S3_MD_CRC32, b64);
	}
	if (ret == 0)
		ret = fs_write_finish(c->dst);
	if (ret < 0)
		snprintf(c->msg, sizeof(c->msg), "%s",
			 fs_file_last_error(c->dst));
	mock_fs_unlock(c->req->mock);
	return ret;
}

static int s3_copy_run(struct s3_copy *c, const char *dst_path,
		       unsigned int mode, const struct fs_metadata_list *md,
		       const struct s3_copy_src *srcs, unsigned int count,
		       const char *etag, char etag_r[FS_ETAG_MAX],
		       struct s3_crc32 *crc)
{
	struct fs_mock *mock = c->req->mock;
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned int i, len = 0;
	int ret;

	mock_fs_lock(mock);
	ret = fs_file_init(mock->fs, dst_path, mode, &c->dst);
	if (ret == 0)
		ret = s3_copy_set_md(c->dst, md);
	if (ret < 0)
		snprintf(c->msg, sizeof(c->msg), "%s",
			 c->dst != NULL ? fs_file_last_error(c->dst)
					: fs_last_error(mock->fs));
	mock_fs_unlock(mock);
	for (i = 0; ret == 0 && i < count; i++)
		ret = s3_copy_one(c, &srcs[i]);
	if (ret < 0)
		return ret;
	EVP_DigestFinal_ex(c->md5, md5, &len);
	if (etag == NULL)
		s3_md5_hex(md5, etag_r);
	else if (etag != etag_r)
		snprintf(etag_r, FS_ETAG_MAX, "%s", etag);
	return s3_copy_finish(c, etag_r, crc);
}

int s3_copy_stream(struct mock_request *req, const char *dst_path,
		   unsigned int mode, const struct fs_metadata_list *md,
		   const struct s3_copy_src *srcs, unsigned int count,
		   const char *etag, char etag_r[FS_ETAG_MAX],
		   struct s3_crc32 *crc)
{
	struct s3_copy c;
	int ret;

	memset(&c, 0, sizeof(c));
	c.req = req;
	c.md5 = EVP_MD_CTX_new();
	c.buf = malloc(S3_IO_BLOCK);
	if (c.md5 == NULL || c.buf == NULL ||
	    EVP_DigestInit_ex(c.md5, EVP_md5(), NULL) != 1)
		ret = -ENOMEM;
	else
		ret = s3_copy_run(&c, dst_path, mode, md, srcs, count, etag,
				  etag_r, crc);
	mock_fs_lock(req->mock);
	fs_file_deinit(&c.dst);
	mock_fs_unlock(req->mock);
	EVP_MD_CTX_free(c.md5);
	free(c.buf);
	if (ret < 0) {
		if (ret == -ENOENT)
			/* The source went away. */
			s3_fail_fs(req, ret, "copying", NULL, c.msg);
		else
			s3_fail_fs(req, ret, "copying", req->key, c.msg);
		return -1;
	}
	return 0;
}

static bool s3_copy_directive(struct mock_request *req, bool *replace_r)
{
	const char *d = mock_header(req, "x-amz-metadata-directive");

	*replace_r = false;
	if (d == NULL || strcmp(d, "COPY") == 0)
		return true;
	if (strcmp(d, "REPLACE") == 0) {
		*replace_r = true;
		return true;
	}
	mock_request_fail(req, 400, "InvalidArgument", NULL,
			  "Unknown metadata directive.");
	return false;
}

/* Replies CopyObjectResult or CopyPartResult; crc (NULL: none) is the
   copy's CRC-32, with its type for an object. */
static void s3_copy_reply(struct mock_request *req, const char *root,
			  const char *etag, const struct s3_crc32 *crc,
			  bool type)
{
	struct mock_reply *reply = s3_xml_reply(root);
	char date[64], quoted[FS_ETAG_MAX + 2], b64[S3_CRC32_B64_SIZE];

	if (reply != NULL) {
		mock_iso_date(time(NULL), date);
		mock_buf_xml_elem(&reply->body, "LastModified", date);
		snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
		mock_buf_xml_elem(&reply->body, "ETag", quoted);
		if (crc != NULL && crc->mode != S3_CRC32_NONE) {
			if (type)
				mock_buf_str(&reply->body,
					     "<ChecksumType>FULL_OBJECT"
					     "</ChecksumType>");
			s3_crc32_b64(crc->value, b64);
			mock_buf_xml_elem(&reply->body, "ChecksumCRC32", b64);
		}
		s3_xml_reply_end(reply, root);
	}
	mock_request_reply(req, reply);
}

char *s3_copy_source_load(struct mock_request *req, struct s3_object *obj)
{
	char *bucket, *key, *path = NULL, msg[512];
	int ret;

	if (!s3_copy_source(req, &bucket, &key))
		return NULL;
	if (s3_bucket_check(req, bucket) && s3_key_check(req, bucket, key)) {
		path = s3_object_path(bucket, key);
		ret = path == NULL ? -ENOMEM
				   : s3_object_load(req->mock, path, NULL, obj,
						    msg, sizeof(msg));
		if (ret < 0) {
			s3_fail_fs(req, ret, "reading the copy source", key,
				   msg);
			free(path);
			path = NULL;
		} else if (!s3_copy_conditions(req, obj)) {
			s3_object_clear(obj);
			free(path);
			path = NULL;
		}
	}
	free(bucket);
	free(key);
	return path;
}

/* The CRC-32 a copy of src gets: the source's, checked while copying, or
   a new one when x-amz-checksum-algorithm asks for CRC32. Returns false
   after replying. */
static bool s3_copy_crc32(struct mock_request *req, const struct s3_object *src,
			  struct s3_crc32 *crc_r)
{
	const char *algo = mock_header(req, "x-amz-checksum-algorithm");
	const char *b64 = fs_metadata_list_find(&src->md, S3_MD_CRC32);

	crc_r->mode = S3_CRC32_NONE;
	if (algo != NULL && strcasecmp(algo, "CRC32") != 0) {
		s3_checksum_not_implemented(req, "x-amz-checksum-algorithm",
					    algo);
		return false;
	}
	/* A stored value that does not parse is not ours: computed anew. */
	if (b64 != NULL && s3_crc32_parse(b64, &crc_r->value) == 0)
		crc_r->mode = S3_CRC32_VERIFY;
	else if (algo != NULL)
		crc_r->mode = S3_CRC32_COMPUTE;
	return true;
}

static void s3_copy_object(struct mock_request *req)
{
	struct fs_metadata_list md = {0};
	struct s3_object src;
	struct s3_copy_src range;
	struct s3_crc32 crc;
	char *src_path, *dst_path = NULL, etag[FS_ETAG_MAX];
	bool replace;

	if (!s3_bucket_check(req, req->bucket) ||
	    !s3_key_check(req, req->bucket, req->key) ||
	    !s3_copy_directive(req, &replace))
		return;
	src_path = s3_copy_source_load(req, &src);
	if (src_path == NULL)
		return;
	dst_path = s3_object_path(req->bucket, req->key);
	if (dst_path != NULL && strcmp(src_path, dst_path) == 0 && !replace) {
		mock_request_fail(req, 400, "InvalidRequest", NULL,
				  "This copy request is illegal because it is "
				  "trying to copy an object to itself without "
				  "changing the object's metadata, storage "
				  "class, website redirect location or "
				  "encryption attributes.");
	} else if (dst_path != NULL && s3_copy_crc32(req, &src, &crc) &&
		   (replace ? s3_request_metadata(req, &md)
			    : fs_metadata_list_copy(&md, &src.md) == 0)) {
		range.path = src_path;
		range.offset = 0;
		range.length = src.size;
		if (s3_copy_stream(req, dst_path, FS_OPEN_REPLACE, &md, &range,
				   1, NULL, etag, &crc) == 0)
			s3_copy_reply(req, "CopyObjectResult", etag, &crc,
				      true);
	}
	fs_metadata_list_clear(&md);
	s3_object_clear(&src);
	free(src_path);
	free(dst_path);
}

void s3_upload_part_copy(struct mock_request *req)
{
	struct fs_metadata_list md = {0};
	struct s3_copy_src range;
	struct s3_object src;
	struct s3_crc32 crc = {S3_CRC32_NONE, 0};
	char *src_path, *part_path, etag[FS_ETAG_MAX], leaf[32];
	const char *h = mock_header(req, "x-amz-copy-source-range");
	int r;

	if (!s3_part_check(req))
		return;
	src_path = s3_copy_source_load(req, &src);
	if (src_path == NULL)
		return;
	/* A part of a CRC32 upload has its CRC-32, for the object's. */
	if (s3_req(req)->upload_crc32)
		crc.mode = S3_CRC32_COMPUTE;
	range.path = src_path;
	range.offset = 0;
	range.length = src.size;
	r = h == NULL
		    ? 0
		    : s3_parse_range(h, src.size, &range.offset, &range.length);
	if (h != NULL && r <= 0) {
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "Range specified is not valid for source "
				  "object of size: %llu",
				  (unsigned long long)src.size);
	} else {
		snprintf(leaf, sizeof(leaf), "part-%05u",
			 s3_req(req)->part_number);
		part_path = s3_upload_path(req->bucket, s3_req(req)->upload_id,
					   leaf);
		if (part_path != NULL &&
		    s3_copy_stream(req, part_path, FS_OPEN_REPLACE, &md, &range,
				   1, NULL, etag, &crc) == 0)
			s3_copy_reply(req, "CopyPartResult", etag, &crc, false);
		free(part_path);
	}
	s3_object_clear(&src);
	free(src_path);
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                    */

static const struct s3_op s3_op_list_buckets = {"ListBuckets", NULL,
						s3_list_buckets, false};
static const struct s3_op s3_op_create_bucket = {"CreateBucket", NULL,
						 s3_create_bucket, true};
static const struct s3_op s3_op_delete_bucket = {"DeleteBucket", NULL,
						 s3_delete_bucket, false};
static const struct s3_op s3_op_head_bucket = {"HeadBucket", NULL,
					       s3_head_bucket, false};
static const struct s3_op s3_op_location = {"GetBucketLocation", NULL,
					    s3_bucket_location, false};
static const struct s3_op s3_op_list_v1 = {"ListObjects", NULL, s3_list_objects,
					   false};
static const struct s3_op s3_op_list_v2 = {"ListObjectsV2", NULL,
					   s3_list_objects, false};
static const struct s3_op s3_op_list_uploads = {"ListMultipartUploads", NULL,
						s3_list_uploads, false};
static const struct s3_op s3_op_delete_objects = {"DeleteObjects", NULL,
						  s3_delete_objects, true};
static const struct s3_op s3_op_put = {"PutObject", s3_put_begin, s3_put_run,
				       false};
static const struct s3_op s3_op_copy = {"CopyObject", NULL, s3_copy_object,
					false};
static const struct s3_op s3_op_get = {"GetObject", NULL, s3_get_object, false};
static const struct s3_op s3_op_head = {"HeadObject", NULL, s3_get_object,
					false};
static const struct s3_op s3_op_delete = {"DeleteObject", NULL,
					  s3_delete_object, false};
static const struct s3_op s3_op_create_mpu = {"CreateMultipartUpload", NULL,
					      s3_create_multipart, false};
static const struct s3_op s3_op_upload_part = {
	"UploadPart", s3_upload_part_begin, s3_upload_part, false};
static const struct s3_op s3_op_upload_part_copy = {"UploadPartCopy", NULL,
						    s3_upload_part_copy, false};
static const struct s3_op s3_op_complete_mpu = {"CompleteMultipartUpload", NULL,
						s3_complete_multipart, true};
static const struct s3_op s3_op_abort_mpu = {"AbortMultipartUpload", NULL,
					     s3_abort_multipart, false};
static const struct s3_op s3_op_list_parts = {"ListParts", NULL, s3_list_parts,
					      false};
static const struct s3_op s3_op_get_tagging = {"GetObjectTagging", NULL,
					       s3_get_tagging, false};
static const struct s3_op s3_op_get_acl = {"GetAcl", NULL, s3_get_acl, false};
static const struct s3_op s3_op_put_acl = {"PutAcl", NULL, s3_put_acl, true};
static const struct s3_op s3_op_not_implemented = {"NotImplemented", NULL,
						   s3_not_implemented, false};

/* Subresources this server does not serve: 501 rather than a wrong
   answer. */
static const char *const s3_unsupported[] = {
	"accelerate",
	"acl",
	"analytics",
	"attributes",
	"cors",
	"encryption",
	"intelligent-tiering",
	"inventory",
	"legal-hold",
	"lifecycle",
	"logging",
	"metrics",
	"notification",
	"object-lock",
	"ownershipControls",
	"policy",
	"policyStatus",
	"publicAccessBlock",
	"replication",
	"requestPayment",
	"restore",
	"retention",
	"select",
	"tagging",
	"torrent",
	"versioning",
	"versions",
	"website",
};

/* A canned ACL other than the owner's full control would be a promise
   this server does not keep. */
static bool s3_canned_acl_ok(struct mock_request *req)
{
	const char *acl = mock_header(req, "x-amz-acl");

	return acl == NULL || strcmp(acl, "private") == 0 ||
	       strcmp(acl, "bucket-owner-full-control") == 0;
}

static bool s3_unsupported_subresource(struct mock_request *req)
{
	size_t i;

	for (i = 0; i < sizeof(s3_unsupported) / sizeof(*s3_unsupported); i++) {
		if (mock_has_param(req, s3_unsupported[i]))
			return true;
	}
	return false;
}

static const struct s3_op *s3_route_bucket(struct mock_request *req)
{
	const char *m = req->method;

	if (strcmp(m, "PUT") == 0)
		return &s3_op_create_bucket;
	if (strcmp(m, "DELETE") == 0)
		return &s3_op_delete_bucket;
	if (strcmp(m, "HEAD") == 0)
		return &s3_op_head_bucket;
	if (strcmp(m, "POST") == 0)
		return mock_has_param(req, "delete") ? &s3_op_delete_objects
						     : &s3_op_not_implemented;
	if (strcmp(m, "GET") != 0)
		return &s3_op_not_implemented;
	if (mock_has_param(req, "location"))
		return &s3_op_location;
	if (mock_has_param(req, "uploads"))
		return &s3_op_list_uploads;
	if (mock_has_param(req, "list-type")) {
		const char *v = mock_param(req, "list-type");

		return strcmp(v, "2") == 0 ? &s3_op_list_v2
					   : &s3_op_not_implemented;
	}
	return &s3_op_list_v1;
}

static const struct s3_op *s3_route_object(struct mock_request *req)
{
	const char *m = req->method;
	bool upload = mock_has_param(req, "uploadId");
	bool copy = mock_header(req, "x-amz-copy-source") != NULL;

	if (strcmp(m, "PUT") == 0) {
		if (upload || mock_has_param(req, "partNumber"))
			return copy ? &s3_op_upload_part_copy
				    : &s3_op_upload_part;
		return copy ? &s3_op_copy : &s3_op_put;
	}
	if (strcmp(m, "GET") == 0)
		return upload ? &s3_op_list_parts : &s3_op_get;
	if (strcmp(m, "HEAD") == 0)
		return &s3_op_head;
	if (strcmp(m, "DELETE") == 0)
		return upload ? &s3_op_abort_mpu : &s3_op_delete;
	if (strcmp(m, "POST") == 0) {
		if (mock_has_param(req, "uploads"))
			return &s3_op_create_mpu;
		if (upload)
			return &s3_op_complete_mpu;
	}
	return &s3_op_not_implemented;
}

/* The bucket named by a Host of "BUCKET.<domain>[:port]", or NULL. */
static char *s3_host_bucket(struct mock_request *req)
{
	const char *host = mock_header(req, "Host");
	const char *domain = req->mock->domain;
	size_t len, dlen = strlen(domain);
	const char *colon;

	if (host == NULL || host[0] == '[')
		return NULL;
	colon = strrchr(host, ':');
	len = colon != NULL ? (size_t)(colon - host) : strlen(host);
	if (len <= dlen + 1 || host[len - dlen - 1] != '.' ||
	    strncasecmp(host + len - dlen, domain, dlen) != 0)
		return NULL;
	return strndup(host, len - dlen - 1);
}

static int s3_route_path(struct mock_request *req, struct s3_request *sreq)
{
	const char *path = req->raw_path, *slash;
	char *host_bucket = s3_host_bucket(req);

	if (path[0] != '/')
		return -EINVAL;
	path++;
	if (host_bucket != NULL) {
		sreq->virtual_host = true;
		req->bucket = host_bucket;
	} else if (path[0] != '\0') {
		slash = strchr(path, '/');
		if (fs_sigv4_uri_decode(path,
					slash != NULL ? (size_t)(slash - path)
						      : strlen(path),
					&req->bucket) < 0)
			return -EINVAL;
		path = slash != NULL ? slash + 1 : "";
	}
	if (path[0] != '\0' &&
	    fs_sigv4_uri_decode(path, strlen(path), &req->key) < 0)
		return -EINVAL;
	return 0;
}

int s3_request_route(struct mock_request *req)
{
	struct s3_request *sreq = calloc(1, sizeof(*sreq));

	if (sreq == NULL) {
		mock_request_reply(req, NULL);
		return -1;
	}
	sreq->mock = req->mock;
	req->ctx = sreq;
	req->cleanup_fn = s3_cleanup;
	if (s3_route_path(req, sreq) < 0) {
		sreq->op = &s3_op_not_implemented;
		req->op = "InvalidURI";
		mock_request_fail(req, 400, "InvalidURI", NULL,
				  "Couldn't parse the specified URI.");
		return -1;
	}
	if (req->key != NULL && strcmp(req->method, "GET") == 0 &&
	    mock_has_param(req, "tagging"))
		sreq->op = &s3_op_get_tagging;
	else if (req->bucket != NULL && strcmp(req->method, "GET") == 0 &&
		 mock_has_param(req, "acl"))
		sreq->op = &s3_op_get_acl;
	else if (req->bucket != NULL && strcmp(req->method, "PUT") == 0 &&
		 mock_has_param(req, "acl") && s3_canned_acl_ok(req))
		sreq->op = &s3_op_put_acl;
	else if (s3_unsupported_subresource(req) ||
		 mock_header(req, "x-amz-tagging") != NULL ||
		 !s3_canned_acl_ok(req))
		sreq->op = &s3_op_not_implemented;
	else if (req->bucket == NULL)
		sreq->op = strcmp(req->method, "GET") == 0
				   ? &s3_op_list_buckets
				   : &s3_op_not_implemented;
	else if (req->key == NULL)
		sreq->op = s3_route_bucket(req);
	else
		sreq->op = s3_route_object(req);
	req->op = sreq->op->name;
	return 0;
}

/* Checks the framing of a body the store will take. Returns false after
   replying. */
static bool s3_body_framing(struct mock_request *req)
{
	const char *te = mock_header(req, "Transfer-Encoding");
	const char *cl = mock_header(req, "Content-Length");
	uint64_t len;

	if (te != NULL && strcasecmp(te, "identity") != 0) {
		mock_request_fail(req, 501, "NotImplemented",
				  "<Header>Transfer-Encoding</Header>",
				  "A header you provided implies "
				  "functionality that is not implemented");
		return false;
	}
	if (cl == NULL || fs_parse_uint(cl, &len) < 0) {
		mock_request_fail(req, 411, "MissingContentLength", NULL,
				  "You must provide the Content-Length HTTP "
				  "header.");
		return false;
	}
	if (len > S3_MAX_PUT_SIZE) {
		mock_request_fail(req, 400, "EntityTooLarge", NULL,
				  "Your proposed upload exceeds the maximum "
				  "allowed size");
		return false;
	}
	return true;
}

/* The x-amz-checksum-crc32 of a body the store will take. Returns false
   after replying. */
static bool s3_body_checksum(struct mock_request *req)
{
	struct s3_request *sreq = s3_req(req);
	uint32_t crc;
	bool have;

	if (!s3_checksum_headers(req, true, &have, &crc))
		return false;
	if (have) {
		sreq->check_crc32 = true;
		sreq->want_crc32 = crc;
		sreq->crc32 = 0;
		s3_crc32_b64(crc, sreq->crc32_b64);
	}
	return true;
}

void s3_request_begin(struct mock_request *req)
{
	struct s3_request *sreq = s3_req(req);

	if (s3_authenticate(req) < 0)
		return;
	if (sreq->op->begin != NULL &&
	    (!s3_body_framing(req) || !s3_body_checksum(req)))
		return;
	if (sreq->op->begin != NULL || sreq->check_md5) {
		sreq->md5 = EVP_MD_CTX_new();
		if (sreq->md5 == NULL ||
		    EVP_DigestInit_ex(sreq->md5, EVP_md5(), NULL) != 1) {
			mock_request_reply(req, NULL);
			return;
		}
	}
	req->body_fn = s3_body;
	req->finish_fn = s3_finish;
	if (sreq->op->begin != NULL)
		sreq->op->begin(req);
}
