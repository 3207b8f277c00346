/*
 * The S3 driver's private declarations, shared by its files:
 *   s3.c        spec, credentials, requests (URLs, signing, errors), vtable
 *   s3-ops.c    GET, HEAD (stat, exists, metadata), DELETE, CopyObject
 *   s3-write.c  PUT and multipart uploads
 *   s3-list.c   ListObjectsV2 / ListObjects and DeleteObjects
 */
#ifndef LIBFS_S3_PRIVATE_H
#define LIBFS_S3_PRIVATE_H

#include "http.h"
#include "libfs/driver.h"
#include "sigv4.h"

#define S3_MIB ((uint64_t)1024 * 1024)
#define S3_GIB (S3_MIB * 1024)

/* Objects up to multipart_threshold (default: the part size) are sent in one
   PUT; larger ones in parts of part_size, parallel of them in flight. The
   defaults keep a write's buffers at (2 + 1) x 5 MiB, so that a process
   streaming a GiB stays near 32 MiB of memory; raise parallel (and
   part_size) for throughput over long distances. */
#define S3_DEFAULT_PART_SIZE (5 * S3_MIB)
/* S3's smallest part (but the last) and largest part, and its part count and
   object size limits. */
#define S3_MIN_PART_SIZE (5 * S3_MIB)
#define S3_MAX_PART_SIZE (5 * S3_GIB)
#define S3_MAX_PARTS 10000
/* The part size doubles every this many parts (see fs_s3_part_size()):
   from 5 MiB parts, 10,000 parts then hold more than S3's 5 TiB. */
#define S3_PART_GROWTH_STEP 900
#define S3_DEFAULT_PARALLEL 2
#define S3_MAX_PARALLEL 64
/* CopyObject copies at most 5 GiB; larger needs UploadPartCopy. */
#define S3_COPY_MAX (5 * S3_GIB)
/* Keys per ListObjects page and per DeleteObjects request. */
#define S3_MAX_KEYS 1000

enum s3_create {
	/* If-None-Match: * on PUT, CompleteMultipartUpload and CopyObject. */
	S3_CREATE_IF_NONE_MATCH,
	/* HEAD, then write: for stores that ignore If-None-Match (racy). */
	S3_CREATE_HEAD,
};

struct s3_fs {
	struct fs fs;
	struct fs_http *http;

	char *bucket;
	char *prefix;	/* "" or ending in '/' */
	char *base_url; /* scheme://host[:port][/path][/bucket], no '/' at end
			 */
	char *host;	/* the Host header */
	char *region;
	char *access_key, *secret_key, *session_token;
	bool anonymous, virtual_style, list_v1, no_verify, no_checksum;
	enum s3_create create, copy_create;
	unsigned int max_keys, parallel;
	/* longest key the store takes (key_max=, S3's 1024 by default) */
	unsigned int key_max, metadata_max;
	uint64_t threshold, part_size, min_part_size;
	struct fs_sigv4_key_cache key_cache;
};

struct s3_ctx;
/* Called from the request's progress callback instead of notifying the
   owner file or iterator. */
typedef void s3_progress_fn(struct s3_ctx *ctx, struct fs_http_request *req);

/* The context of a request: who is told about its progress, and the payload
   hash its signature carries. */
struct s3_ctx {
	struct s3_fs *fs;
	struct fs_file *file;
	struct fs_iter *iter;
	s3_progress_fn *progress;
	char payload_hash[FS_SIGV4_HEX_SIZE];
};

/* How a whole-object GET is checked. */
enum s3_verify {
	S3_VERIFY_FAILED = -2, /* the check failed: reads return -EIO */
	S3_VERIFY_OFF = -1,
	S3_VERIFY_UNDECIDED = 0,
	S3_VERIFY_MD5,	 /* the body's MD5 against the ETag */
	S3_VERIFY_CRC32, /* its CRC-32 against x-amz-checksum-crc32 */
};

/* What a file's one-shot request is doing. */
enum s3_step {
	S3_STEP_NONE,
	S3_STEP_HEAD,	     /* stat, exists, get_metadata */
	S3_STEP_DELETE_HEAD, /* DELETE: does the key exist? */
	S3_STEP_DELETE,	     /* DELETE: the DELETE */
	S3_STEP_CREATE_HEAD, /* create=head: does the key exist? */
	S3_STEP_PUT,	     /* single PUT */
	S3_STEP_MP_CREATE,   /* CreateMultipartUpload */
	S3_STEP_MP_COMPLETE, /* CompleteMultipartUpload */
	S3_STEP_VERIFY,	     /* HEAD: did our retried write land? */
	S3_STEP_COPY_HEAD,   /* copy with create=head: does dst exist? */
	S3_STEP_COPY,	     /* CopyObject */
};

struct s3_part {
	struct s3_ctx ctx;
	struct s3_file *file;
	struct fs_http_request *req;
	unsigned char *data;
	size_t size;
	unsigned int number;
	uint32_t crc;
	char md5_b64[32];
};

struct s3_upload {
	char *upload_id;
	unsigned int next_number; /* the next part's number, from 1 */
	/* Parts in flight, and their bytes. */
	struct s3_part **parts;
	unsigned int count;
	uint64_t bytes;
	/* ETags and CRC-32s of the finished parts: etags[number - 1]. */
	char **etags;
	uint32_t *crcs;
	unsigned int etags_alloc;
	/* CRC-32 of the whole object so far (parts are cut in order), given
	   to CompleteMultipartUpload as a FULL_OBJECT checksum. */
	uint32_t crc;
	/* The first part failure, with its message. */
	int error;
	char *error_msg;
	char *complete_xml;
	size_t complete_len;
	unsigned int complete_tries;
};

struct s3_file {
	struct fs_file file;
	struct s3_ctx ctx;
	/* The one-shot request (HEAD, PUT, DELETE, COPY...) and its step. */
	struct fs_http_request *req;
	enum s3_step step;
	/* The streamed GET. A whole object read is checked against the CRC-32
	   the store keeps with it, else against its ETag where that is the
	   MD5 (verify: 0 undecided, -1 off, S3_VERIFY_*). */
	struct fs_http_request *read_req;
	bool read_done;
	int verify;
	void *md5_ctx;
	uint32_t read_crc, want_crc;
	char read_etag[FS_ETAG_MAX];
	/* Writing: the bytes of a small object, or of the coming parts. */
	unsigned char *buf;
	size_t len, alloc;
	struct s3_upload *mp;
	bool aborting;
	/* The metadata CreateMultipartUpload sent: S3 takes none later. */
	struct fs_metadata_list mp_md;
	/* The ETag a verification HEAD looks for, and the error and message
	   to give if it does not find it. */
	char *expect_etag, *verify_msg;
	int verify_err;
};

struct s3_iter {
	struct fs_iter iter;
	struct s3_ctx ctx;
	struct fs_http_request *req; /* the page in flight */
	/* The current page: keys without the spec's prefix, sorted. */
	char **keys;
	size_t count, pos;
	char *next_token; /* continuation token or marker of the next page */
	bool started, truncated;
};

#define S3_FS(_fs) FS_CONTAINER_OF(_fs, struct s3_fs, fs)
#define S3_FILE(_file) FS_CONTAINER_OF(_file, struct s3_file, file)
#define S3_ITER(_iter) FS_CONTAINER_OF(_iter, struct s3_iter, iter)

/* --- s3.c: requests --- */

/* Creates a request for key (the full object key with the spec's prefix, or
   NULL for the bucket) with an encoded query (or NULL), with the driver's
   callbacks and ctx as their context; the payload hash is the empty body's
   until fs_s3_request_set_body() changes it. Returns 0 or -errno. */
int fs_s3_request_new(struct s3_ctx *ctx, enum fs_op op, const char *method,
		      const char *key, const char *query,
		      struct fs_http_request **req_r);
/* Sets a memory body and its SHA-256 for the signature. Returns 0 or
   -EIO. */
int fs_s3_request_set_body(struct s3_ctx *ctx, struct fs_http_request *req,
			   const void *data, size_t size);
/* Adds x-amz-checksum-crc32 for the body, unless checksum=none (nothing
   is computed then); crc_r (unless NULL) receives the CRC-32, or 0 with
   checksum=none. Returns 0 or -errno. */
int fs_s3_request_set_crc32(struct s3_ctx *ctx, struct fs_http_request *req,
			    const void *data, size_t size, uint32_t *crc_r);
/* Formats crc as an x-amz-checksum-crc32 value (9 bytes with the NUL). */
void fs_s3_crc32_format(uint32_t crc, char b64_r[16]);
/* Parses an x-amz-checksum-crc32 value (base64 of the big-endian CRC).
   Returns false if it is not one. */
bool fs_s3_crc32_parse(const char *value, uint32_t *crc_r);

/* Sets Content-MD5 for the body (b64_r receives it, >= 25 bytes). Returns 0
   or -errno. */
int fs_s3_request_set_md5(struct fs_http_request *req, const void *data,
			  size_t size, char *b64_r, unsigned char md5_r[16]);
/* Starts req, or frees it and returns the -errno it could not start with. */
int fs_s3_request_start(struct fs_http_request **req);
/* Runs req to its end, blocking. Returns fs_http_request_result(). */
int fs_s3_request_run(struct s3_fs *fs, struct fs_http_request *req);

/* The full object key of a file or prefix: the spec's prefix + key. Returns
   a new string or NULL. */
char *fs_s3_full_key(struct s3_fs *fs, const char *key);

/* Formats the failure of a completed request as "WHAT KEY: HTTP 503 SlowDown
   (request id X)" into buf. Returns its -errno (403 SignatureDoesNotMatch,
   AccessDenied... -EACCES; the shared table else). */
int fs_s3_request_error(struct fs_http_request *req, const char *what,
			const char *key, char *buf, size_t size);
/* fs_s3_request_error() onto the file's message. */
int fs_s3_file_error(struct fs_file *file, struct fs_http_request *req,
		     const char *what);

/* Parses an S3 <Error> document. Returns 0 and sets the strings (free()
   them; any may be NULL) or -EINVAL if body is no <Error>. */
int fs_s3_parse_error(const char *body, size_t size, char **code_r,
		      char **message_r, char **request_id_r);

/* Uppercase/lowercase hex of 16 MD5 bytes to an S3 ETag and back. */
void fs_s3_etag_from_md5(const unsigned char md5[16], char etag_r[35]);

/* --- s3-ops.c --- */

ssize_t fs_s3_read(struct fs_file *file, void *buf, size_t size);
int fs_s3_stat(struct fs_file *file, struct fs_stat *st_r);
int fs_s3_exists(struct fs_file *file);
int fs_s3_get_metadata(struct fs_file *file);
int fs_s3_delete(struct fs_file *file);
int fs_s3_copy(struct fs_file *src, struct fs_file *dst);
int fs_s3_revalidate(struct fs_file *file, const char *etag);
/* Starts a HEAD of the file's key as its one-shot request with step. */
int fs_s3_head_start(struct s3_file *file, enum s3_step step, enum fs_op op);
/* Encodes or decodes an x-amz-meta-* value (RFC 2047 for what HTTP headers
   cannot carry as is). Returns a new string or NULL. */
char *fs_s3_meta_encode(const char *value);
char *fs_s3_meta_decode(const char *value);

/* --- s3-write.c --- */

ssize_t fs_s3_write(struct fs_file *file, const void *data, size_t size);
int fs_s3_write_finish(struct fs_file *file);
void fs_s3_write_abort(struct fs_file *file);
/* The size of part number (1-based) for a configured part size: doubled
   every S3_PART_GROWTH_STEP parts, at most S3_MAX_PART_SIZE, so that
   10,000 parts hold S3's largest object (5 TiB) from base 5 MiB up. */
uint64_t fs_s3_part_size(uint64_t base, unsigned int number);

/* --- s3-list.c --- */

int fs_s3_iter_init(struct fs_iter *iter);
int fs_s3_iter_next(struct fs_iter *iter, const char **key_r);
void fs_s3_iter_deinit(struct fs_iter *iter);
int fs_s3_delete_prefix(struct fs *fs, const char *prefix);

#endif
