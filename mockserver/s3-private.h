/*
 * Private declarations of the S3 front end (s3*.c).
 *
 * Layout in the backing store (libfs keys):
 *   buckets/BUCKET               one empty object per bucket
 *   b/BUCKET/KEY                 the objects
 *   u/BUCKET/UPLOADID/upload     an unfinished multipart upload: the key as
 *                                content, the object's metadata as metadata
 *   u/BUCKET/UPLOADID/part-NNNNN its parts
 * Metadata of objects, uploads and parts (libfs names are [a-z0-9_-]):
 * the stored headers and our own are "-" + their name, user metadata
 * (x-amz-meta-NAME) is NAME, so the two cannot collide:
 *   -etag                        MD5 hex, or "MD5HEX-N" for multipart
 *   -content-type, -cache-control, -content-disposition, -content-encoding,
 *   -content-language, -expires  the headers S3 keeps
 *   -crc32                       objects and parts: the CRC-32 of the bytes
 *                                as S3 writes it (base64 of 4 bytes, big
 *                                endian), when the PUT or part carried
 *                                x-amz-checksum-crc32, the object was
 *                                completed from a CRC32 upload or copied
 *                                from one that had it; always of the full
 *                                object (x-amz-checksum-type FULL_OBJECT).
 *                                Absent: no checksum.
 *   -checksum                    uploads only: "CRC32/FULL_OBJECT" when
 *                                created with that algorithm and type (never
 *                                copied to the object)
 *   NAME                         x-amz-meta-NAME
 */
#ifndef LIBFS_MOCK_S3_PRIVATE_H
#define LIBFS_MOCK_S3_PRIVATE_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "drivers/s3/sigv4.h"
#include "mock-private.h"

#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_OWNER_ID                                                            \
	"75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"
#define S3_OWNER_NAME "fs-mockserver"

#define S3_BUCKETS_PREFIX "buckets/"
#define S3_OBJECTS_PREFIX "b/"
#define S3_UPLOADS_PREFIX "u/"
#define S3_UPLOAD_ID_LEN 32
#define S3_MAX_PARTS 10000
#define S3_MAX_OBJECT_SIZE (5ULL << 40)
#define S3_MAX_PUT_SIZE (5ULL << 30)
/* Stored headers (ETag, Content-Type, ...) are metadata named "-" + the
   lowercase header name; user metadata (x-amz-meta-NAME) is stored as NAME,
   so user names get the whole FS_METADATA_NAME_MAX and cannot collide. */
#define S3_MD_INTERNAL_PREFIX "-"
#define S3_MD_ETAG S3_MD_INTERNAL_PREFIX "etag"
#define S3_MD_CRC32 S3_MD_INTERNAL_PREFIX "crc32"
#define S3_MD_CHECKSUM S3_MD_INTERNAL_PREFIX "checksum"
#define S3_CHECKSUM_CRC32_FULL "CRC32/FULL_OBJECT"
/* Room kept in an object's metadata for what the server adds: the ETag
   ("-etag" and up to 38 bytes of "MD5HEX-10000") and the CRC-32 ("-crc32"
   and 8 bytes). */
#define S3_MD_RESERVED 64
/* Base64 of a CRC-32: 8 characters and a NUL. */
#define S3_CRC32_B64_SIZE 9
#define S3_IO_BLOCK (64 * 1024)
/* XML request bodies (CompleteMultipartUpload, DeleteObjects, ...). */
#define S3_XML_BODY_MAX (4 * 1024 * 1024)

/* One S3 request's state, in req->ctx. */
struct s3_request {
	struct fs_mock *mock;
	const struct s3_op *op;
	bool virtual_host;

	/* Body checks: x-amz-content-sha256 and Content-MD5. */
	bool check_sha256, check_md5;
	char want_sha256[FS_SIGV4_HEX_SIZE];
	unsigned char want_md5[16];
	struct fs_sigv4_sha256 sha256;
	EVP_MD_CTX *md5; /* of the body: ETag of PutObject and UploadPart */
	/* x-amz-checksum-crc32 of PutObject and UploadPart: the value sent
	   (as sent, canonical base64) and the CRC-32 of the body so far. */
	bool check_crc32;
	uint32_t want_crc32, crc32;
	char crc32_b64[S3_CRC32_B64_SIZE];

	/* The body: streamed into wfile, or kept in xml. */
	struct fs_file *wfile;
	uint64_t body_size;
	bool write_failed;
	struct mock_buf xml;

	/* Multipart: the upload and part of this request, and whether the
	   upload was created with the full-object CRC32 checksum. */
	char upload_id[S3_UPLOAD_ID_LEN + 1];
	unsigned int part_number;
	bool upload_crc32;
};

/* One operation: its name, and its handlers. begin runs once the request
   is authenticated and may set up a streamed body (wfile); run runs once
   the body is in and checked, and replies. */
struct s3_op {
	const char *name;
	void (*begin)(struct mock_request *req);
	void (*run)(struct mock_request *req);
	/* The body is an XML document kept in memory. */
	bool xml_body;
};

/* What an object has besides its bytes. */
struct s3_object {
	uint64_t size;
	int64_t mtime;
	char etag[FS_ETAG_MAX];
	struct fs_metadata_list md; /* everything but etag */
};

void s3_object_clear(struct s3_object *obj);

static inline struct s3_request *s3_req(struct mock_request *req)
{
	return req->ctx;
}

/* --- s3.c --- */

/* Builds "b/BUCKET/KEY" etc. Returns a malloc'ed string or NULL. */
char *s3_object_path(const char *bucket, const char *key);
char *s3_bucket_path(const char *bucket);
char *s3_upload_path(const char *bucket, const char *upload_id,
		     const char *leaf);
/* Replies NoSuchBucket and returns false if the bucket is missing (or
   the store fails). */
bool s3_bucket_check(struct mock_request *req, const char *bucket);
/* Checks that key can be stored under bucket. Replies with an error and
   returns false if not. */
bool s3_key_check(struct mock_request *req, const char *bucket,
		  const char *key);
/* Replies with the S3 error for a libfs failure on key. */
void s3_fail_fs(struct mock_request *req, int err, const char *what,
		const char *key, const char *message);
/* Opens path for reading and loads size, mtime, etag and metadata. Returns
   0 and *file_r (unless file_r is NULL), or -errno (-ENOENT if missing)
   with *message_r set to a static or file-owned message. Takes the fs lock
   itself. */
int s3_object_load(struct fs_mock *mock, const char *path,
		   struct fs_file **file_r, struct s3_object *obj_r,
		   char *error, size_t error_size);
/* Collects Content-Type and friends and x-amz-meta-* of the request into
   md. Replies with an error and returns false if one cannot be stored. */
bool s3_request_metadata(struct mock_request *req, struct fs_metadata_list *md);
/* Adds the stored metadata to a reply as S3 headers. */
void s3_reply_metadata(struct mock_reply *reply,
		       const struct fs_metadata_list *md);
/* Sets md on a file open for writing. Returns 0 or -errno. */
int s3_file_set_metadata(struct fs_file *file,
			 const struct fs_metadata_list *md);
/* Copies source ranges into a new object at dst_path (mode
   FS_OPEN_REPLACE or FS_OPEN_CREATE) with metadata md (but for its -crc32
   and -checksum) plus etag (NULL: the MD5 of what was copied, written to
   etag_r) and the CRC-32 as crc says (NULL: none). Replies with an error
   and returns -1 on failure. */
struct s3_copy_src {
	const char *path;
	uint64_t offset, length;
};
enum s3_crc32_mode {
	S3_CRC32_NONE,	  /* no -crc32 on the new object */
	S3_CRC32_COMPUTE, /* the CRC-32 of the bytes copied, set in value */
	/* The bytes copied must have value as CRC-32 (it is then stored),
	   else nothing is published: a store that changed or damaged the
	   source is caught rather than copied. */
	S3_CRC32_VERIFY,
};
struct s3_crc32 {
	enum s3_crc32_mode mode;
	uint32_t value;
};
int s3_copy_stream(struct mock_request *req, const char *dst_path,
		   unsigned int mode, const struct fs_metadata_list *md,
		   const struct s3_copy_src *srcs, unsigned int count,
		   const char *etag, char etag_r[FS_ETAG_MAX],
		   struct s3_crc32 *crc);
/* Decides the libfs mode of a write to path from If-None-Match ("*":
   FS_OPEN_CREATE, refused at once when the key exists) and If-Match (not
   implemented). Returns false after replying. */
bool s3_write_mode(struct mock_request *req, const char *path,
		   unsigned int *mode_r);
/* Replies 412 PreconditionFailed naming condition. */
void s3_precondition_failed(struct mock_request *req, const char *condition);
/* Starts streaming the body into path (metadata md). Returns false after
   replying with an error. */
bool s3_write_begin(struct mock_request *req, const char *path,
		    unsigned int mode, const struct fs_metadata_list *md);
/* Finishes the streamed body with etag stored, and the body's CRC-32 when
   the request carried x-amz-checksum-crc32 (checked by then). Returns 0, or
   -errno after replying (unless the error is -EEXIST, left to the
   caller). */
int s3_write_finish(struct mock_request *req, const char *etag);
/* The MD5 of the body as hex (valid once the body is in). */
void s3_body_md5(struct mock_request *req, char hex_r[33]);
/* --- Flexible checksums (s3.c): only CRC-32, of the full object --- */

/* The CRC-32 (zlib's crc32) of size more bytes after crc. */
uint32_t s3_crc32_update(uint32_t crc, const void *data, size_t size);
/* Writes the base64 of crc's 4 big-endian bytes, as S3 sends it. */
void s3_crc32_b64(uint32_t crc, char b64_r[S3_CRC32_B64_SIZE]);
/* Parses a base64 CRC-32. Returns 0, or -EINVAL unless b64 is the
   canonical base64 of exactly 4 bytes. */
int s3_crc32_parse(const char *b64, uint32_t *crc_r);
/* Checks the x-amz-checksum-* headers of a request that carries an
   object's bytes (body: PutObject, UploadPart, also checking
   x-amz-sdk-checksum-algorithm) or its checksum (CompleteMultipartUpload):
   sets *have_r and *crc_r from x-amz-checksum-crc32 (400 InvalidRequest
   if malformed); another algorithm's header gets 501 NotImplemented.
   Returns false after replying. */
bool s3_checksum_headers(struct mock_request *req, bool body, bool *have_r,
			 uint32_t *crc_r);
/* Adds x-amz-checksum-crc32 (and x-amz-checksum-type: FULL_OBJECT if
   type) to a reply. */
void s3_reply_crc32(struct mock_reply *reply, const char *b64, bool type);
/* Replies 400 BadDigest for a CRC-32 that does not match. */
void s3_crc32_mismatch(struct mock_request *req);

/* Parses the source of x-amz-copy-source. Returns false after replying. */
bool s3_copy_source(struct mock_request *req, char **bucket_r, char **key_r);
/* Evaluates x-amz-copy-source-if-* against the source. Returns false after
   replying 412. */
bool s3_copy_conditions(struct mock_request *req, const struct s3_object *src);
void s3_md5_hex(const unsigned char md5[16], char hex_r[33]);
/* Adds <Owner> for listings. */
void s3_xml_owner(struct mock_buf *b);
/* Starts an XML reply with root element name. */
struct mock_reply *s3_xml_reply(const char *root);
void s3_xml_reply_end(struct mock_reply *reply, const char *root);
/* Encodes a key for encoding-type=url, or copies it. */
void s3_xml_key(struct mock_buf *b, const char *elem, const char *key,
		bool url);

/* Parses the XML body kept for the request, whose root must be root.
   Returns the document (xmlFreeDoc() it) or NULL after replying. */
xmlDocPtr s3_xml_body(struct mock_request *req, const char *root);
void s3_malformed_xml(struct mock_request *req);
/* Loads the copy source of CopyObject and UploadPartCopy, checking the
   x-amz-copy-source-if-* conditions. Returns its store path (the caller
   frees it) or NULL after replying. */
char *s3_copy_source_load(struct mock_request *req, struct s3_object *obj);
/* Parses a "bytes=" range header against size: 1 and the range, 0 when
   absent or unusable (serve everything), -1 when unsatisfiable. */
int s3_parse_range(const char *h, uint64_t size, uint64_t *off_r,
		   uint64_t *len_r);

/* --- s3-auth.c --- */

/* Authenticates the request. Returns 0, or -1 after replying. Sets the body
   checks of x-amz-content-sha256 and Content-MD5. */
int s3_authenticate(struct mock_request *req);

/* --- s3-list.c --- */

void s3_list_buckets(struct mock_request *req);
void s3_list_objects(struct mock_request *req);
void s3_delete_objects(struct mock_request *req);
/* Calls fn with every store key under prefix, in order. Returns 0, the
   first negative value fn returned (-ECANCELED to stop early), or -errno of
   the listing. */
int s3_walk_prefix(struct fs_mock *mock, const char *prefix,
		   int (*fn)(const char *key, void *context), void *context);
/* Returns 1 if any key starts with prefix, 0 if none, -errno. */
int s3_prefix_used(struct fs_mock *mock, const char *prefix);
/* Deletes path; a missing one is no error. Returns 0 or -errno. */
int s3_delete_path(struct fs_mock *mock, const char *path);
/* Deletes every key under prefix. Returns 0 or -errno. */
int s3_delete_prefix(struct fs_mock *mock, const char *prefix);

/* --- s3-multipart.c --- */

/* Checks uploadId and partNumber of an UploadPart(Copy) and that the upload
   exists; fills the request's upload_id and part_number. Returns false
   after replying. */
bool s3_part_check(struct mock_request *req);
void s3_create_multipart(struct mock_request *req);
void s3_upload_part_begin(struct mock_request *req);
void s3_upload_part(struct mock_request *req);
void s3_upload_part_copy(struct mock_request *req);
void s3_complete_multipart(struct mock_request *req);
void s3_abort_multipart(struct mock_request *req);
void s3_list_parts(struct mock_request *req);
void s3_list_uploads(struct mock_request *req);

#endif
