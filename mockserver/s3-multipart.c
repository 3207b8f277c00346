/*
 * Multipart uploads: CreateMultipartUpload, UploadPart (UploadPartCopy is
 * in s3.c with the other copies), CompleteMultipartUpload,
 * AbortMultipartUpload, ListParts and ListMultipartUploads.
 *
 * An upload is "u/BUCKET/ID/upload" (its key as content, the object's
 * metadata as metadata) and its parts "u/BUCKET/ID/part-NNNNN", outside
 * "b/" so listings never show them. Completing streams the parts into the
 * object (one atomic libfs write) and deletes the upload.
 *
 * Checksums: an upload created with x-amz-checksum-algorithm CRC32 and
 * x-amz-checksum-type FULL_OBJECT needs x-amz-checksum-crc32 on every
 * UploadPart (UploadPartCopy computes it); completing combines the parts'
 * CRC-32s (zlib's crc32_combine) into the object's, checked against the
 * x-amz-checksum-crc32 of the CompleteMultipartUpload when it has one, and
 * against the bytes as they are copied. The other checksum modes of S3
 * (composite, the other algorithms) are refused with 501.
 */
#include <ctype.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "s3-private.h"

#define S3_LIST_PARTS_MAX 1000
#define S3_LIST_UPLOADS_MAX 1000

static bool s3_upload_id_valid(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++) {
		if (!isdigit((unsigned char)id[i]) &&
		    (id[i] < 'a' || id[i] > 'f'))
			return false;
	}
	return i == S3_UPLOAD_ID_LEN;
}

static void s3_no_such_upload(struct mock_request *req, const char *id)
{
	struct mock_buf extra = {0};

	mock_buf_xml_elem(&extra, "UploadId", id != NULL ? id : "");
	mock_request_fail(req, 404, "NoSuchUpload", extra.data,
			  "The specified upload does not exist. The upload ID "
			  "may be invalid, or the upload may have been aborted "
			  "or completed.");
	mock_buf_free(&extra);
}

/* Reads the upload's key and metadata. Returns 0, -ENOENT or -errno. */
static int s3_upload_load(struct fs_mock *mock, const char *bucket,
			  const char *id, char **key_r, struct s3_object *obj)
{
	struct fs_file *file = NULL;
	char *path = s3_upload_path(bucket, id, "upload"), msg[256];
	void *data = NULL;
	size_t size;
	int ret;

	*key_r = NULL;
	ret = path == NULL ? -ENOMEM
			   : s3_object_load(mock, path, &file, obj, msg,
					    sizeof(msg));
	free(path);
	if (ret < 0)
		return ret;
	mock_fs_lock(mock);
	ret = fs_read_all(file, &data, &size);
	fs_file_deinit(&file);
	mock_fs_unlock(mock);
	if (ret < 0) {
		s3_object_clear(obj);
		return ret;
	}
	*key_r = data;
	return 0;
}

/* Checks the upload id of the request and that the upload is for this
   key, and notes whether it is a CRC32 upload. Returns false after
   replying; on success fills obj_r if not NULL. */
static bool s3_upload_check(struct mock_request *req, struct s3_object *obj_r)
{
	struct s3_request *sreq = s3_req(req);
	const char *id = mock_param(req, "uploadId"), *checksum;
	struct s3_object obj;
	char *key = NULL;
	int ret;

	if (!s3_bucket_check(req, req->bucket) ||
	    !s3_key_check(req, req->bucket, req->key))
		return false;
	if (id == NULL || !s3_upload_id_valid(id)) {
		s3_no_such_upload(req, id);
		return false;
	}
	ret = s3_upload_load(req->mock, req->bucket, id, &key, &obj);
	if (ret == -ENOENT || (ret == 0 && strcmp(key, req->key) != 0)) {
		s3_no_such_upload(req, id);
		ret = -ENOENT;
	} else if (ret < 0) {
		s3_fail_fs(req, ret, "reading the upload", req->key, NULL);
	}
	free(key);
	if (ret < 0)
		return false;
	snprintf(sreq->upload_id, sizeof(sreq->upload_id), "%s", id);
	checksum = fs_metadata_list_find(&obj.md, S3_MD_CHECKSUM);
	sreq->upload_crc32 = checksum != NULL &&
			     strcmp(checksum, S3_CHECKSUM_CRC32_FULL) == 0;
	if (obj_r != NULL)
		*obj_r = obj;
	else
		s3_object_clear(&obj);
	return true;
}

bool s3_part_check(struct mock_request *req)
{
	const char *num = mock_param(req, "partNumber");
	uint64_t n;

	if (num == NULL || fs_parse_uint(num, &n) < 0 || n < 1 ||
	    n > S3_MAX_PARTS) {
		mock_request_fail(req, 400, "InvalidArgument",
				  "<ArgumentName>partNumber</ArgumentName>",
				  "Part number must be an integer between 1 "
				  "and 10000, inclusive");
		return false;
	}
	if (!s3_upload_check(req, NULL))
		return false;
	s3_req(req)->part_number = (unsigned int)n;
	return true;
}

static char *s3_part_path(struct mock_request *req, unsigned int part)
{
	char leaf[32];

	snprintf(leaf, sizeof(leaf), "part-%05u", part);
	return s3_upload_path(req->bucket, s3_req(req)->upload_id, leaf);
}

/* ------------------------------------------------------------------------ */
/* Create, upload, abort                                                      */

static int s3_upload_create(struct mock_request *req, const char *id,
			    const struct fs_metadata_list *md)
{
	char *path = s3_upload_path(req->bucket, id, "upload");
	struct fs_file *file = NULL;
	int ret;

	if (path == NULL)
		return -ENOMEM;
	mock_fs_lock(req->mock);
	ret = fs_file_init(req->mock->fs, path, FS_OPEN_CREATE, &file);
	if (ret == 0)
		ret = s3_file_set_metadata(file, md);
	if (ret == 0)
		ret = fs_write_all(file, req->key, strlen(req->key));
	fs_file_deinit(&file);
	mock_fs_unlock(req->mock);
	free(path);
	return ret;
}

/* x-amz-checksum-algorithm and x-amz-checksum-type: none, or CRC32 of the
   full object (recorded in md). Returns false after replying. */
static bool s3_create_checksum(struct mock_request *req,
			       struct fs_metadata_list *md, bool *crc32_r)
{
	const char *algo = mock_header(req, "x-amz-checksum-algorithm");
	const char *type = mock_header(req, "x-amz-checksum-type");
	struct mock_buf extra = {0};

	*crc32_r = false;
	if (algo == NULL && type == NULL)
		return true;
	if (algo != NULL && type != NULL && strcasecmp(algo, "CRC32") == 0 &&
	    strcasecmp(type, "FULL_OBJECT") == 0) {
		*crc32_r = true;
		if (fs_metadata_list_set(md, S3_MD_CHECKSUM,
					 S3_CHECKSUM_CRC32_FULL) == 0)
			return true;
		mock_request_reply(req, NULL);
		return false;
	}
	mock_buf_xml_elem(&extra, "Header",
			  algo != NULL ? "x-amz-checksum-algorithm"
				       : "x-amz-checksum-type");
	mock_request_fail(req, 501, "NotImplemented", extra.data,
			  "Multipart uploads with x-amz-checksum-algorithm %s "
			  "and x-amz-checksum-type %s are not implemented: "
			  "only CRC32 with FULL_OBJECT is (or no checksum)",
			  algo != NULL ? algo : "(none)",
			  type != NULL ? type : "(none, i.e. COMPOSITE)");
	mock_buf_free(&extra);
	return false;
}

void s3_create_multipart(struct mock_request *req)
{
	struct fs_metadata_list md = {0};
	unsigned char rnd[S3_UPLOAD_ID_LEN / 2];
	char id[S3_UPLOAD_ID_LEN + 1];
	struct mock_reply *reply;
	bool crc32;
	int ret;

	if (!s3_bucket_check(req, req->bucket) ||
	    !s3_key_check(req, req->bucket, req->key))
		return;
	if (!s3_request_metadata(req, &md) ||
	    !s3_create_checksum(req, &md, &crc32)) {
		fs_metadata_list_clear(&md);
		return;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		fs_metadata_list_clear(&md);
		mock_request_fail(req, 500, "InternalError", NULL,
				  "No random bytes for an upload id");
		return;
	}
	s3_md5_hex(rnd, id);
	ret = s3_upload_create(req, id, &md);
	fs_metadata_list_clear(&md);
	if (ret < 0) {
		s3_fail_fs(req, ret, "creating the upload", req->key, NULL);
		return;
	}
	reply = s3_xml_reply("InitiateMultipartUploadResult");
	if (reply != NULL && crc32) {
		mock_reply_header(reply, "x-amz-checksum-algorithm", "CRC32");
		mock_reply_header(reply, "x-amz-checksum-type", "FULL_OBJECT");
	}
	if (reply != NULL) {
		mock_buf_xml_elem(&reply->body, "Bucket", req->bucket);
		mock_buf_xml_elem(&reply->body, "Key", req->key);
		mock_buf_xml_elem(&reply->body, "UploadId", id);
		s3_xml_reply_end(reply, "InitiateMultipartUploadResult");
	}
	mock_request_reply(req, reply);
}

/* A part of a CRC32 upload carries its CRC-32; other parts none (as S3:
   the checksum type is the upload's). Returns false after replying. */
static bool s3_part_checksum(struct mock_request *req)
{
	struct s3_request *sreq = s3_req(req);

	if (sreq->upload_crc32 && !sreq->check_crc32) {
		mock_request_fail(req, 400, "InvalidRequest", NULL,
				  "The multipart upload was created with the "
				  "CRC32 checksum algorithm: every part needs "
				  "its x-amz-checksum-crc32 header.");
		return false;
	}
	if (!sreq->upload_crc32 && sreq->check_crc32) {
		mock_request_fail(req, 400, "InvalidRequest", NULL,
				  "Checksum Type mismatch occurred, expected "
				  "checksum Type: null, actual checksum Type: "
				  "crc32");
		return false;
	}
	return true;
}

void s3_upload_part_begin(struct mock_request *req)
{
	struct fs_metadata_list md = {0};
	char *path;

	if (!s3_part_check(req) || !s3_part_checksum(req))
		return;
	path = s3_part_path(req, s3_req(req)->part_number);
	if (path == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	s3_write_begin(req, path, FS_OPEN_REPLACE, &md);
	free(path);
}

void s3_upload_part(struct mock_request *req)
{
	struct s3_request *sreq = s3_req(req);
	struct mock_reply *reply;
	struct s3_object obj;
	char etag[33], *key = NULL, *path;
	int ret;

	s3_body_md5(req, etag);
	if (s3_write_finish(req, etag) < 0)
		return;
	/* An abort or completion that ran meanwhile took the upload: the
	   part must not outlive it. */
	ret = s3_upload_load(req->mock, req->bucket, sreq->upload_id, &key,
			     &obj);
	free(key);
	if (ret == 0) {
		s3_object_clear(&obj);
	} else {
		path = s3_part_path(req, sreq->part_number);
		if (path != NULL)
			s3_delete_path(req->mock, path);
		free(path);
		s3_no_such_upload(req, sreq->upload_id);
		return;
	}
	reply = mock_reply_new(200);
	if (reply != NULL) {
		mock_reply_headerf(reply, "ETag", "\"%s\"", etag);
		if (sreq->check_crc32)
			s3_reply_crc32(reply, sreq->crc32_b64, false);
	}
	mock_request_reply(req, reply);
}

void s3_abort_multipart(struct mock_request *req)
{
	char *prefix;
	int ret;

	if (!s3_upload_check(req, NULL))
		return;
	prefix = s3_upload_path(req->bucket, s3_req(req)->upload_id, "");
	ret = prefix == NULL ? -ENOMEM : s3_delete_prefix(req->mock, prefix);
	free(prefix);
	if (ret < 0)
		s3_fail_fs(req, ret, "aborting the upload", req->key, NULL);
	else
		mock_request_reply(req, mock_reply_new(204));
}

/* ------------------------------------------------------------------------ */
/* Complete                                                                   */

struct s3_part {
	unsigned int number;
	char etag[FS_ETAG_MAX];
	/* <ChecksumCRC32> of the request: 0 none, 1 listed_crc, -1 invalid */
	int listed;
	uint32_t listed_crc;
	uint64_t size;
	bool has_crc; /* the stored part's CRC-32 */
	uint32_t crc;
	char *path;
};

struct s3_complete {
	struct s3_part *parts;
	unsigned int count;
	/* x-amz-checksum-crc32 of the request: the whole object's */
	bool have_crc;
	uint32_t want_crc;
	/* The object's CRC-32, from the parts' */
	struct s3_crc32 crc;
};

static void s3_complete_free(struct s3_complete *c)
{
	unsigned int i;

	for (i = 0; i < c->count; i++)
		free(c->parts[i].path);
	free(c->parts);
	memset(c, 0, sizeof(*c));
}

/* Copies an ETag without quotes. */
static void s3_etag_unquote(const char *in, char out[FS_ETAG_MAX])
{
	size_t len = strlen(in);

	if (len >= 2 && in[0] == '"' && in[len - 1] == '"') {
		in++;
		len -= 2;
	}
	if (len >= FS_ETAG_MAX)
		len = FS_ETAG_MAX - 1;
	memcpy(out, in, len);
	out[len] = '\0';
}

static int s3_complete_part(xmlNodePtr node, struct s3_part *part)
{
	xmlNodePtr child;
	xmlChar *text;
	uint64_t num = 0;
	bool have_num = false, have_etag = false;

	for (child = node->children; child != NULL; child = child->next) {
		if (child->type != XML_ELEMENT_NODE)
			continue;
		text = xmlNodeGetContent(child);
		if (text == NULL)
			return -1;
		if (xmlStrcmp(child->name, BAD_CAST "PartNumber") == 0) {
			have_num = fs_parse_uint((const char *)text, &num) == 0;
		} else if (xmlStrcmp(child->name, BAD_CAST "ETag") == 0) {
			s3_etag_unquote((const char *)text, part->etag);
			have_etag = true;
		} else if (xmlStrcmp(child->name, BAD_CAST "ChecksumCRC32") ==
			   0) {
			part->listed = s3_crc32_parse((const char *)text,
						      &part->listed_crc) == 0
					       ? 1
					       : -1;
		}
		xmlFree(text);
	}
	if (!have_num || !have_etag || num < 1 || num > S3_MAX_PARTS)
		return -1;
	part->number = (unsigned int)num;
	return 0;
}

/* Reads the part list of the body. Returns false after replying. */
static bool s3_complete_parse(struct mock_request *req, struct s3_complete *c)
{
	xmlDocPtr doc = s3_xml_body(req, "CompleteMultipartUpload");
	xmlNodePtr node;
	unsigned int alloc = 0;
	struct s3_part *parts;
	int ret = 0;

	if (doc == NULL)
		return false;
	for (node = xmlDocGetRootElement(doc)->children;
	     node != NULL && ret == 0; node = node->next) {
		if (node->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(node->name, BAD_CAST "Part") != 0)
			continue;
		if (c->count == S3_MAX_PARTS) {
			ret = -1;
			break;
		}
		if (c->count == alloc) {
			alloc = alloc == 0 ? 16 : alloc * 2;
			parts = realloc(c->parts, alloc * sizeof(*parts));
			if (parts == NULL) {
				ret = -1;
				break;
			}
			c->parts = parts;
		}
		memset(&c->parts[c->count], 0, sizeof(*c->parts));
		ret = s3_complete_part(node, &c->parts[c->count]);
		if (ret == 0)
			c->count++;
	}
	xmlFreeDoc(doc);
	if (ret < 0 || c->count == 0) {
		s3_malformed_xml(req);
		return false;
	}
	return true;
}

static void s3_invalid_part(struct mock_request *req, const struct s3_part *p,
			    const char *code, const char *message)
{
	struct mock_buf extra = {0};

	mock_buf_xml_elem(&extra, "UploadId", s3_req(req)->upload_id);
	mock_buf_printf(&extra, "<PartNumber>%u</PartNumber>", p->number);
	mock_buf_xml_elem(&extra, "ETag", p->etag);
	mock_request_fail(req, 400, code, extra.data, "%s", message);
	mock_buf_free(&extra);
}

/* Checks the CRC-32 of a part: listed in the request, it must be the
   stored one; a CRC32 upload has one for every part. Returns false after
   replying. */
static bool s3_complete_part_crc32(struct mock_request *req,
				   const struct s3_part *p)
{
	if (p->listed != 0 &&
	    (!p->has_crc || p->listed < 0 || p->listed_crc != p->crc)) {
		s3_invalid_part(req, p, "InvalidPart",
				"One or more of the specified parts could not "
				"be found.  The ChecksumCRC32 of a part does "
				"not match the part's checksum.");
		return false;
	}
	if (s3_req(req)->upload_crc32 && !p->has_crc) {
		s3_invalid_part(req, p, "InvalidPart",
				"A part of this CRC32 upload has no CRC32 "
				"checksum.");
		return false;
	}
	return true;
}

/* Checks one listed part against what was uploaded. Returns false after
   replying. */
static bool s3_complete_check_part(struct mock_request *req, struct s3_part *p,
				   bool last)
{
	struct s3_object obj;
	struct mock_buf extra = {0};
	const char *crc;
	char msg[256];
	int ret;

	p->path = s3_part_path(req, p->number);
	ret = p->path == NULL ? -ENOMEM
			      : s3_object_load(req->mock, p->path, NULL, &obj,
					       msg, sizeof(msg));
	if (ret < 0 && ret != -ENOENT) {
		s3_fail_fs(req, ret, "reading a part", req->key, msg);
		return false;
	}
	if (ret == -ENOENT || strcmp(obj.etag, p->etag) != 0) {
		if (ret == 0)
			s3_object_clear(&obj);
		s3_invalid_part(req, p, "InvalidPart",
				"One or more of the specified parts could not "
				"be found.  The part may not have been "
				"uploaded, or the specified entity tag may not "
				"match the part's entity tag.");
		return false;
	}
	p->size = obj.size;
	crc = fs_metadata_list_find(&obj.md, S3_MD_CRC32);
	p->has_crc = crc != NULL && s3_crc32_parse(crc, &p->crc) == 0;
	s3_object_clear(&obj);
	if (!s3_complete_part_crc32(req, p))
		return false;
	if (last || p->size >= req->mock->min_part_size)
		return true;
	mock_buf_printf(&extra,
			"<ProposedSize>%llu</ProposedSize><MinSizeAllowed>%llu"
			"</MinSizeAllowed><PartNumber>%u</PartNumber>",
			(unsigned long long)p->size,
			(unsigned long long)req->mock->min_part_size,
			p->number);
	mock_buf_xml_elem(&extra, "ETag", p->etag);
	mock_request_fail(req, 400, "EntityTooSmall", extra.data,
			  "Your proposed upload is smaller than the minimum "
			  "allowed object size.");
	mock_buf_free(&extra);
	return false;
}

/* Reads 32 hex digits into 16 bytes. */
static bool s3_md5_parse(const char *hex, unsigned char bin[16])
{
	unsigned int i, byte;

	if (strlen(hex) != 32)
		return false;
	for (i = 0; i < 16; i++) {
		if (!isxdigit((unsigned char)hex[i * 2]) ||
		    !isxdigit((unsigned char)hex[i * 2 + 1]) ||
		    sscanf(hex + i * 2, "%2x", &byte) != 1)
			return false;
		bin[i] = (unsigned char)byte;
	}
	return true;
}

/* The multipart ETag: MD5 of the parts' binary MD5s, "-" and the count. */
static bool s3_complete_etag(const struct s3_complete *c,
			     char etag_r[FS_ETAG_MAX])
{
	unsigned char md5[EVP_MAX_MD_SIZE], bin[16];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
	unsigned int i, len = 0;
	char hex[33];

	for (i = 0; ok && i < c->count; i++) {
		ok = s3_md5_parse(c->parts[i].etag, bin) &&
		     EVP_DigestUpdate(ctx, bin, sizeof(bin)) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md5, &len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return false;
	s3_md5_hex(md5, hex);
	snprintf(etag_r, FS_ETAG_MAX, "%s-%u", hex, c->count);
	return true;
}

/* Combines the parts' CRC-32s in order into the object's, and checks it
   against the request's. Returns false after replying. */
static bool s3_complete_crc32(struct mock_request *req, struct s3_complete *c)
{
	uint32_t crc = 0;
	unsigned int i;

	c->crc.mode = S3_CRC32_NONE;
	if (!s3_req(req)->upload_crc32) {
		if (!c->have_crc)
			return true;
		mock_request_fail(req, 400, "InvalidRequest", NULL,
				  "The multipart upload was created without a "
				  "checksum algorithm: its completion cannot "
				  "carry x-amz-checksum-crc32.");
		return false;
	}
	for (i = 0; i < c->count; i++) {
		/* zlib takes the length as a z_off_t. */
		if ((uint64_t)(z_off_t)c->parts[i].size != c->parts[i].size) {
			mock_request_fail(req, 500, "InternalError", NULL,
					  "A part is too large for this "
					  "build's zlib to combine CRC32s");
			return false;
		}
		crc = (uint32_t)crc32_combine(crc, c->parts[i].crc,
					      (z_off_t)c->parts[i].size);
	}
	if (c->have_crc && crc != c->want_crc) {
		s3_crc32_mismatch(req);
		return false;
	}
	/* The bytes copied into the object are checked against it too. */
	c->crc.mode = S3_CRC32_VERIFY;
	c->crc.value = crc;
	return true;
}

static void s3_complete_reply(struct mock_request *req, const char *etag,
			      const struct s3_crc32 *crc)
{
	struct mock_reply *reply =
		s3_xml_reply("CompleteMultipartUploadResult");
	const char *host = mock_header(req, "Host");
	char quoted[FS_ETAG_MAX + 2], b64[S3_CRC32_B64_SIZE];
	char *enc = NULL;

	if (reply == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	if (fs_sigv4_uri_encode(req->key, false, &enc) == 0) {
		mock_buf_str(&reply->body, "<Location>http://");
		mock_buf_xml(&reply->body, host != NULL ? host : "localhost");
		mock_buf_str(&reply->body, "/");
		mock_buf_xml(&reply->body, req->bucket);
		mock_buf_str(&reply->body, "/");
		mock_buf_xml(&reply->body, enc);
		mock_buf_str(&reply->body, "</Location>");
		free(enc);
	}
	mock_buf_xml_elem(&reply->body, "Bucket", req->bucket);
	mock_buf_xml_elem(&reply->body, "Key", req->key);
	snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
	mock_buf_xml_elem(&reply->body, "ETag", quoted);
	if (crc->mode != S3_CRC32_NONE) {
		s3_crc32_b64(crc->value, b64);
		mock_buf_xml_elem(&reply->body, "ChecksumCRC32", b64);
		mock_buf_str(&reply->body,
			     "<ChecksumType>FULL_OBJECT</ChecksumType>");
	}
	s3_xml_reply_end(reply, "CompleteMultipartUploadResult");
	mock_request_reply(req, reply);
}

static void s3_complete_run(struct mock_request *req, struct s3_complete *c,
			    const struct s3_object *upload)
{
	struct s3_copy_src *srcs;
	char etag[FS_ETAG_MAX], *path, *prefix;
	unsigned int i, mode;

	for (i = 0; i < c->count; i++) {
		if (i > 0 && c->parts[i].number <= c->parts[i - 1].number) {
			s3_invalid_part(
				req, &c->parts[i], "InvalidPartOrder",
				"The list of parts was not in ascending "
				"order. The parts list must be "
				"specified in order by part number.");
			return;
		}
	}
	for (i = 0; i < c->count; i++) {
		if (!s3_complete_check_part(req, &c->parts[i],
					    i + 1 == c->count))
			return;
	}
	if (!s3_complete_crc32(req, c))
		return;
	if (!s3_complete_etag(c, etag)) {
		s3_invalid_part(req, &c->parts[0], "InvalidPart",
				"A part's entity tag is not an MD5");
		return;
	}
	srcs = calloc(c->count, sizeof(*srcs));
	path = s3_object_path(req->bucket, req->key);
	prefix = s3_upload_path(req->bucket, s3_req(req)->upload_id, "");
	if (srcs == NULL || path == NULL || prefix == NULL) {
		mock_request_reply(req, NULL);
	} else if (s3_write_mode(req, path, &mode)) {
		for (i = 0; i < c->count; i++) {
			srcs[i].path = c->parts[i].path;
			srcs[i].length = c->parts[i].size;
		}
		/* On failure the upload stays, for a retry or an abort. */
		if (s3_copy_stream(req, path, mode, &upload->md, srcs, c->count,
				   etag, etag, &c->crc) == 0) {
			s3_delete_prefix(req->mock, prefix);
			s3_complete_reply(req, etag, &c->crc);
		}
	}
	free(srcs);
	free(path);
	free(prefix);
}

/* x-amz-checksum-type of a completion: the upload's, if given. Returns
   false after replying. */
static bool s3_complete_type(struct mock_request *req)
{
	const char *type = mock_header(req, "x-amz-checksum-type");

	if (type == NULL ||
	    (s3_req(req)->upload_crc32 && strcasecmp(type, "FULL_OBJECT") == 0))
		return true;
	mock_request_fail(req, 400, "InvalidRequest", NULL,
			  "The x-amz-checksum-type %s does not match the "
			  "upload's (%s).",
			  type,
			  s3_req(req)->upload_crc32 ? "FULL_OBJECT" : "none");
	return false;
}

void s3_complete_multipart(struct mock_request *req)
{
	struct s3_complete c;
	struct s3_object upload;

	memset(&c, 0, sizeof(c));
	if (!s3_checksum_headers(req, false, &c.have_crc, &c.want_crc) ||
	    !s3_upload_check(req, &upload))
		return;
	if (s3_complete_type(req) && s3_complete_parse(req, &c))
		s3_complete_run(req, &c, &upload);
	s3_complete_free(&c);
	s3_object_clear(&upload);
}

/* ------------------------------------------------------------------------ */
/* ListParts                                                                  */

struct s3_parts_list {
	struct mock_request *req;
	struct mock_buf *out;
	unsigned int marker, max, count, last;
	bool truncated;
};

static int s3_list_part_fn(const char *path, void *context)
{
	struct s3_parts_list *pl = context;
	const char *leaf = strrchr(path, '/'), *crc;
	struct s3_object obj;
	char date[64], msg[256];
	unsigned int num;
	int n = 0;

	if (leaf == NULL || sscanf(leaf, "/part-%5u%n", &num, &n) != 1 ||
	    leaf[n] != '\0' || num <= pl->marker)
		return 0;
	if (pl->count >= pl->max) {
		pl->truncated = true;
		return -ECANCELED;
	}
	if (s3_object_load(pl->req->mock, path, NULL, &obj, msg, sizeof(msg)) <
	    0)
		return 0;
	mock_iso_date(obj.mtime, date);
	mock_buf_printf(pl->out, "<Part><PartNumber>%u</PartNumber>", num);
	mock_buf_xml_elem(pl->out, "LastModified", date);
	mock_buf_str(pl->out, "<ETag>&quot;");
	mock_buf_xml(pl->out, obj.etag);
	mock_buf_printf(pl->out, "&quot;</ETag><Size>%llu</Size>",
			(unsigned long long)obj.size);
	crc = fs_metadata_list_find(&obj.md, S3_MD_CRC32);
	if (crc != NULL)
		mock_buf_xml_elem(pl->out, "ChecksumCRC32", crc);
	mock_buf_str(pl->out, "</Part>");
	s3_object_clear(&obj);
	pl->last = num;
	pl->count++;
	return 0;
}

static int s3_walk_parts(struct mock_request *req, struct s3_parts_list *pl)
{
	char *prefix =
		s3_upload_path(req->bucket, s3_req(req)->upload_id, "part-");
	int ret;

	if (prefix == NULL)
		return -ENOMEM;
	ret = s3_walk_prefix(req->mock, prefix, s3_list_part_fn, pl);
	free(prefix);
	return ret == -ECANCELED ? 0 : ret;
}

static void s3_list_parts_reply(struct mock_request *req,
				struct s3_parts_list *pl,
				struct mock_buf *parts)
{
	struct mock_reply *reply = s3_xml_reply("ListPartsResult");
	struct mock_buf *b;

	if (reply == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	b = &reply->body;
	mock_buf_xml_elem(b, "Bucket", req->bucket);
	mock_buf_xml_elem(b, "Key", req->key);
	mock_buf_xml_elem(b, "UploadId", s3_req(req)->upload_id);
	mock_buf_str(b, "<Initiator><ID>" S3_OWNER_ID
			"</ID><DisplayName>" S3_OWNER_NAME
			"</DisplayName></Initiator>");
	s3_xml_owner(b);
	mock_buf_printf(b,
			"<StorageClass>STANDARD</StorageClass>"
			"<PartNumberMarker>%u</PartNumberMarker>"
			"<NextPartNumberMarker>%u</NextPartNumberMarker>"
			"<MaxParts>%u</MaxParts><IsTruncated>%s</IsTruncated>",
			pl->marker, pl->last, pl->max,
			pl->truncated ? "true" : "false");
	if (s3_req(req)->upload_crc32)
		mock_buf_str(b, "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
				"<ChecksumType>FULL_OBJECT</ChecksumType>");
	if (parts->data != NULL)
		mock_buf_add(b, parts->data, parts->len);
	if (parts->failed)
		reply->failed = true;
	s3_xml_reply_end(reply, "ListPartsResult");
	mock_request_reply(req, reply);
}

void s3_list_parts(struct mock_request *req)
{
	const char *max = mock_param(req, "max-parts");
	const char *marker = mock_param(req, "part-number-marker");
	struct mock_buf parts = {0};
	struct s3_parts_list pl;
	uint64_t n;
	int ret;

	if (!s3_upload_check(req, NULL))
		return;
	memset(&pl, 0, sizeof(pl));
	pl.req = req;
	pl.out = &parts;
	pl.max = S3_LIST_PARTS_MAX;
	if (max != NULL && fs_parse_uint(max, &n) == 0 && n < pl.max)
		pl.max = (unsigned int)n;
	if (marker != NULL && fs_parse_uint(marker, &n) == 0 &&
	    n <= S3_MAX_PARTS)
		pl.marker = (unsigned int)n;
	pl.last = pl.marker;
	ret = s3_walk_parts(req, &pl);
	if (ret < 0)
		s3_fail_fs(req, ret, "listing parts", req->key, NULL);
	else
		s3_list_parts_reply(req, &pl, &parts);
	mock_buf_free(&parts);
}

/* ------------------------------------------------------------------------ */
/* ListMultipartUploads                                                       */

struct s3_upload_entry {
	char *key;
	char id[S3_UPLOAD_ID_LEN + 1];
	int64_t initiated;
};

struct s3_uploads {
	struct mock_request *req;
	const char *prefix;
	struct s3_upload_entry *items;
	size_t count, alloc;
};

static int s3_uploads_fn(const char *path, void *context)
{
	struct s3_uploads *u = context;
	const char *rest =
		path + strlen(S3_UPLOADS_PREFIX) + strlen(u->req->bucket) + 1;
	struct s3_upload_entry *e;
	struct s3_object obj;
	char id[S3_UPLOAD_ID_LEN + 1], *key = NULL;
	int64_t initiated;

	if (strlen(rest) != S3_UPLOAD_ID_LEN + 7 ||
	    strcmp(rest + S3_UPLOAD_ID_LEN, "/upload") != 0)
		return 0;
	memcpy(id, rest, S3_UPLOAD_ID_LEN);
	id[S3_UPLOAD_ID_LEN] = '\0';
	if (s3_upload_load(u->req->mock, u->req->bucket, id, &key, &obj) < 0)
		return 0;
	initiated = obj.mtime;
	s3_object_clear(&obj);
	if (strncmp(key, u->prefix, strlen(u->prefix)) != 0) {
		free(key);
		return 0;
	}
	if (u->count == u->alloc) {
		u->alloc = u->alloc == 0 ? 16 : u->alloc * 2;
		e = realloc(u->items, u->alloc * sizeof(*e));
		if (e == NULL) {
			free(key);
			return -ENOMEM;
		}
		u->items = e;
	}
	e = &u->items[u->count++];
	e->key = key;
	memcpy(e->id, id, sizeof(e->id));
	e->initiated = initiated;
	return 0;
}

static int s3_upload_cmp(const void *a, const void *b)
{
	const struct s3_upload_entry *x = a, *y = b;
	int cmp = strcmp(x->key, y->key);

	if (cmp != 0)
		return cmp;
	if (x->initiated != y->initiated)
		return x->initiated < y->initiated ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void s3_uploads_free(struct s3_uploads *u)
{
	size_t i;

	for (i = 0; i < u->count; i++)
		free(u->items[i].key);
	free(u->items);
}

static void s3_upload_xml(struct mock_buf *b, const struct s3_upload_entry *e)
{
	char date[64];

	mock_iso_date(e->initiated, date);
	mock_buf_str(b, "<Upload>");
	mock_buf_xml_elem(b, "Key", e->key);
	mock_buf_xml_elem(b, "UploadId", e->id);
	mock_buf_str(b, "<Initiator><ID>" S3_OWNER_ID
			"</ID><DisplayName>" S3_OWNER_NAME
			"</DisplayName></Initiator>");
	s3_xml_owner(b);
	mock_buf_str(b, "<StorageClass>STANDARD</StorageClass>");
	mock_buf_xml_elem(b, "Initiated", date);
	mock_buf_str(b, "</Upload>");
}

/* Skips entries up to and including the markers. */
static bool s3_upload_after(const struct s3_upload_entry *e,
			    const char *key_marker, const char *id_marker)
{
	int cmp;

	if (key_marker == NULL || key_marker[0] == '\0')
		return true;
	cmp = strcmp(e->key, key_marker);
	if (cmp != 0 || id_marker == NULL || id_marker[0] == '\0')
		return cmp > 0;
	return strcmp(e->id, id_marker) > 0;
}

struct s3_uploads_page {
	unsigned int max, count;
	bool truncated;
	const struct s3_upload_entry *last;
	char *last_prefix;
	struct mock_buf uploads, prefixes;
};

static void s3_uploads_page(struct mock_request *req, struct s3_uploads *u,
			    struct s3_uploads_page *pg)
{
	const char *delim = mock_param(req, "delimiter");
	const char *km = mock_param(req, "key-marker");
	const char *im = mock_param(req, "upload-id-marker");
	const struct s3_upload_entry *e;
	const char *d;
	size_t i;

	for (i = 0; i < u->count; i++) {
		e = &u->items[i];
		if (!s3_upload_after(e, km, im))
			continue;
		d = delim != NULL && delim[0] != '\0'
			    ? strstr(e->key + strlen(u->prefix), delim)
			    : NULL;
		if (d != NULL && pg->last_prefix != NULL &&
		    strncmp(e->key, pg->last_prefix, strlen(pg->last_prefix)) ==
			    0)
			continue;
		if (pg->count >= pg->max) {
			pg->truncated = true;
			break;
		}
		pg->count++;
		pg->last = e;
		if (d == NULL) {
			s3_upload_xml(&pg->uploads, e);
			continue;
		}
		free(pg->last_prefix);
		pg->last_prefix =
			strndup(e->key, (size_t)(d - e->key) + strlen(delim));
		mock_buf_str(&pg->prefixes, "<CommonPrefixes>");
		mock_buf_xml_elem(&pg->prefixes, "Prefix",
				  pg->last_prefix != NULL ? pg->last_prefix
							  : "");
		mock_buf_str(&pg->prefixes, "</CommonPrefixes>");
	}
}

static void s3_uploads_reply(struct mock_request *req, struct s3_uploads *u,
			     struct s3_uploads_page *pg)
{
	struct mock_reply *reply = s3_xml_reply("ListMultipartUploadsResult");
	const char *km = mock_param(req, "key-marker");
	const char *im = mock_param(req, "upload-id-marker");
	const char *delim = mock_param(req, "delimiter");
	struct mock_buf *b;

	if (reply == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	b = &reply->body;
	mock_buf_xml_elem(b, "Bucket", req->bucket);
	mock_buf_xml_elem(b, "KeyMarker", km != NULL ? km : "");
	mock_buf_xml_elem(b, "UploadIdMarker", im != NULL ? im : "");
	if (pg->truncated && pg->last != NULL) {
		mock_buf_xml_elem(b, "NextKeyMarker", pg->last->key);
		mock_buf_xml_elem(b, "NextUploadIdMarker", pg->last->id);
	}
	if (delim != NULL)
		mock_buf_xml_elem(b, "Delimiter", delim);
	mock_buf_xml_elem(b, "Prefix", u->prefix);
	mock_buf_printf(b, "<MaxUploads>%u</MaxUploads>", pg->max);
	mock_buf_printf(b, "<IsTruncated>%s</IsTruncated>",
			pg->truncated ? "true" : "false");
	if (pg->uploads.data != NULL)
		mock_buf_add(b, pg->uploads.data, pg->uploads.len);
	if (pg->prefixes.data != NULL)
		mock_buf_add(b, pg->prefixes.data, pg->prefixes.len);
	if (pg->uploads.failed || pg->prefixes.failed)
		reply->failed = true;
	s3_xml_reply_end(reply, "ListMultipartUploadsResult");
	mock_request_reply(req, reply);
}

void s3_list_uploads(struct mock_request *req)
{
	const char *max = mock_param(req, "max-uploads");
	struct s3_uploads_page pg;
	struct s3_uploads u;
	char *prefix;
	uint64_t n;
	int ret;

	if (!s3_bucket_check(req, req->bucket))
		return;
	memset(&u, 0, sizeof(u));
	memset(&pg, 0, sizeof(pg));
	u.req = req;
	u.prefix = mock_param(req, "prefix");
	if (u.prefix == NULL)
		u.prefix = "";
	pg.max = S3_LIST_UPLOADS_MAX;
	if (max != NULL && fs_parse_uint(max, &n) == 0 && n < pg.max)
		pg.max = (unsigned int)n;
	prefix = s3_upload_path(req->bucket, "", NULL);
	ret = prefix == NULL
		      ? -ENOMEM
		      : s3_walk_prefix(req->mock, prefix, s3_uploads_fn, &u);
	free(prefix);
	if (ret < 0) {
		s3_fail_fs(req, ret, "listing uploads", NULL, NULL);
	} else {
		qsort(u.items, u.count, sizeof(*u.items), s3_upload_cmp);
		s3_uploads_page(req, &u, &pg);
		s3_uploads_reply(req, &u, &pg);
	}
	free(pg.last_prefix);
	mock_buf_free(&pg.uploads);
	mock_buf_free(&pg.prefixes);
	s3_uploads_free(&u);
}
