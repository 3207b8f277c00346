/*
 * AWS request signatures: Signature Version 4 for the S3 driver (header
 * authorization and presigned URLs) and for the mock S3 server, which
 * verifies requests from real clients; Signature Version 2 for the server to
 * verify legacy clients (s3cmd with signature_v2, old SDKs).
 *
 * A request is described as it is on the wire: the raw path (already
 * URI-encoded, never normalised: S3 keeps "//" and "." segments), the raw
 * query without '?', and the headers as sent (any case, duplicates allowed).
 * The signer and the verifier run the same canonicalisation, so what the
 * driver signs is exactly what the server checks.
 *
 * Conventions: functions return 0 on success or a negative errno: -EINVAL for
 * malformed input, -ENOMEM, -EACCES when a signature does not match, -EIO
 * when the crypto library fails. Strings returned through char ** outputs are
 * malloc'ed and freed by the caller with free(). Where a function takes
 * error_r (may be NULL), a failure sets it to a static message saying why;
 * messages never contain a secret or a signature.
 */
#ifndef LIBFS_SIGV4_H
#define LIBFS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define FS_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* Payload hash for bodies that are not hashed (presigned URLs, streams). */
#define FS_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* SHA-256 of the empty body. */
#define FS_SIGV4_EMPTY_SHA256                                                  \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* 64 lowercase hex digits and a NUL: hex SHA-256 and SigV4 signatures. */
#define FS_SIGV4_HEX_SIZE 65
/* The binary signing key (HMAC-SHA256 output). */
#define FS_SIGV4_KEY_SIZE 32
/* "YYYYMMDDTHHMMSSZ" and a NUL; the date part "YYYYMMDD" and a NUL. */
#define FS_SIGV4_TIMESTAMP_SIZE 17
#define FS_SIGV4_DATE_SIZE 9
/* Longest access key accepted (IAM allows 128). */
#define FS_SIGV4_ACCESS_KEY_MAX 128
/* Longest validity of a presigned URL, in seconds (S3's limit: 7 days). */
#define FS_SIGV4_PRESIGN_EXPIRES_MAX 604800u

/* One header as sent; name in any case. */
struct fs_sigv4_header {
	const char *name;
	const char *value;
};

/* A request as it is on the wire. */
struct fs_sigv4_request {
	const char *method; /* "GET", "PUT", ... */
	/* Raw path as sent, already URI-encoded; "" means "/". Kept as is. */
	const char *path;
	/* Raw query without '?', NULL or "" for none. */
	const char *query;
	const struct fs_sigv4_header *headers;
	size_t header_count;
	/* Hex SHA-256 of the body, or a literal such as UNSIGNED-PAYLOAD or
	   STREAMING-AWS4-HMAC-SHA256-PAYLOAD: the value of
	   x-amz-content-sha256. */
	const char *payload_hash;
	/* The query carries presigned-URL parameters: X-Amz-Signature is left
	   out of the canonical query. Set by fs_sigv4_verify() itself. */
	bool presigned;
};

struct fs_sigv4_credentials {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL if none */
	const char *region;	   /* "us-east-1" */
	const char *service;	   /* "s3" */
};

/* ------------------------------------------------------------------------ */
/* Building blocks                                                            */

/* URI-encodes str the way S3 wants it: RFC 3986 unreserved characters
   (A-Z a-z 0-9 - . _ ~) are kept, every other byte becomes %XX (uppercase
   hex), and '/' is kept unless encode_slash is set (keep it for paths, encode
   it for query names and values). Returns 0 and sets *encoded_r, or
   -ENOMEM. */
int fs_sigv4_uri_encode(const char *str, bool encode_slash, char **encoded_r);

/* Decodes %XX escapes in the len bytes at str ('+' stays '+'). Returns 0 and
   sets *decoded_r (NUL-terminated), or -EINVAL for a malformed escape or an
   escaped NUL byte, or -ENOMEM. */
int fs_sigv4_uri_decode(const char *str, size_t len, char **decoded_r);

/* Writes the lowercase hex SHA-256 of data to hex_r. Returns 0 or -EIO. */
int fs_sigv4_sha256_hex(const void *data, size_t size,
			char hex_r[FS_SIGV4_HEX_SIZE]);

/* Streaming SHA-256 for large bodies. A zeroed struct is "not started". */
struct fs_sigv4_sha256 {
	void *ctx;
};

/* Starts a hash. Returns 0, -ENOMEM or -EIO. */
int fs_sigv4_sha256_init(struct fs_sigv4_sha256 *sha);
/* Adds size bytes. Returns 0, or -EINVAL if not started, or -EIO. */
int fs_sigv4_sha256_update(struct fs_sigv4_sha256 *sha, const void *data,
			   size_t size);
/* Writes the hex digest and frees the state (also on failure). Returns 0,
   -EINVAL if not started, or -EIO. */
int fs_sigv4_sha256_final(struct fs_sigv4_sha256 *sha,
			  char hex_r[FS_SIGV4_HEX_SIZE]);
/* Abandons a hash; safe on a zeroed or finished struct. */
void fs_sigv4_sha256_deinit(struct fs_sigv4_sha256 *sha);

/* Formats t (UTC) as "YYYYMMDDTHHMMSSZ". Returns 0 or -EINVAL (t out of
   range). */
int fs_sigv4_timestamp(time_t t, char ts_r[FS_SIGV4_TIMESTAMP_SIZE]);

/* Parses a strict "YYYYMMDDTHHMMSSZ" (a real date and time, UTC). Returns 0
   and sets *t_r, or -EINVAL. */
int fs_sigv4_timestamp_parse(const char *ts, time_t *t_r);

/* Returns the value of the first header called name (any case), or NULL. */
const char *fs_sigv4_header_get(const struct fs_sigv4_request *req,
				const char *name);

/* Returns true if the two NUL-terminated signatures are equal, comparing in
   time independent of where they differ (lengths are not secret). */
bool fs_sigv4_signature_equal(const char *a, const char *b);

/* ------------------------------------------------------------------------ */
/* Signing key                                                                */

/* Derives the signing key HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region),
   service), "aws4_request"); date is "YYYYMMDD". Returns 0, -EINVAL or
   -EIO. */
int fs_sigv4_signing_key(const char *secret_key, const char *date,
			 const char *region, const char *service,
			 unsigned char key_r[FS_SIGV4_KEY_SIZE]);

/* One cached signing key, valid for one secret, day, region and service. A
   zeroed struct is an empty cache; it holds no pointer to free. */
struct fs_sigv4_key_cache {
	bool valid;
	char date[FS_SIGV4_DATE_SIZE];
	char region[64];
	char service[32];
	unsigned char secret_hash[32]; /* SHA-256 of the secret */
	unsigned char key[FS_SIGV4_KEY_SIZE];
};

/* Returns in *key_r the signing key for cred on date ("YYYYMMDD" or a full
   timestamp), from the cache or derived and stored in it. The key stays valid
   until the next call on the cache. Returns 0, -EINVAL or -EIO. */
int fs_sigv4_key_cache_get(struct fs_sigv4_key_cache *cache,
			   const struct fs_sigv4_credentials *cred,
			   const char *date, const unsigned char **key_r);

/* Wipes the cache. */
void fs_sigv4_key_cache_clear(struct fs_sigv4_key_cache *cache);

/* ------------------------------------------------------------------------ */
/* Signature Version 4                                                        */

/* fs_sigv4_signed_headers() flags: sign every header of the request instead
   of the S3 set (host, x-amz-*, content-md5, content-type, range, the
   conditional and content-* headers, cache-control, expires). */
#define FS_SIGV4_SIGN_ALL (1u << 0)

/* Builds the SignedHeaders list for a signer: the lowercase names of the
   request's headers to sign, sorted, unique, joined with ';'. Returns 0 and
   sets *list_r, -EINVAL (a header name that is not an HTTP token, or no Host
   header) or -ENOMEM. */
int fs_sigv4_signed_headers(const struct fs_sigv4_request *req,
			    unsigned int flags, char **list_r);

/* Builds the canonical request, signing exactly the headers named in
   signed_headers (lowercase, ';'-separated, sorted, including "host"): a
   verifier passes the client's SignedHeaders as is. Every occurrence of a
   signed header is used, values trimmed with inner runs of whitespace
   collapsed and duplicates joined with ','. Query parameters are decoded,
   re-encoded and sorted by name then value; a parameter without '=' gets an
   empty value. Returns 0 and sets *creq_r, -EINVAL (malformed request, or a
   signed header missing from it) or -ENOMEM. */
int fs_sigv4_canonical_request(const struct fs_sigv4_request *req,
			       const char *signed_headers, char **creq_r,
			       const char **error_r);

/* Builds the credential scope "YYYYMMDD/region/service/aws4_request" for
   timestamp. Returns 0 and sets *scope_r, -EINVAL or -ENOMEM. */
int fs_sigv4_scope(const struct fs_sigv4_credentials *cred,
		   const char *timestamp, char **scope_r);

/* Builds the string to sign for a canonical request. Returns 0 and sets
 *sts_r, -EINVAL, -ENOMEM or -EIO. */
int fs_sigv4_string_to_sign(const struct fs_sigv4_credentials *cred,
			    const char *timestamp,
			    const char *canonical_request, char **sts_r);

/* Writes the hex HMAC-SHA256 of sts with key. Returns 0 or -EIO. */
int fs_sigv4_signature(const unsigned char key[FS_SIGV4_KEY_SIZE],
		       const char *sts, char sig_r[FS_SIGV4_HEX_SIZE]);

/* All the steps of one signature, kept for debugging and for the server's
   SignatureDoesNotMatch reply. Clear with fs_sigv4_signing_clear(). */
struct fs_sigv4_signing {
	char *canonical_request;
	char *string_to_sign;
	char signature[FS_SIGV4_HEX_SIZE];
};

/* Signs req (canonical request, string to sign, signature) with the headers
   in signed_headers. key is the signing key for cred and the timestamp's day
   (see fs_sigv4_key_cache_get()), or NULL to derive it from
   cred->secret_key. Returns 0 and fills *signing_r, or -errno (then
   *signing_r is empty). */
int fs_sigv4_sign(const struct fs_sigv4_request *req,
		  const char *signed_headers,
		  const struct fs_sigv4_credentials *cred,
		  const char *timestamp, const unsigned char *key,
		  struct fs_sigv4_signing *signing_r, const char **error_r);

/* Frees what *signing holds and zeroes it; safe on a zeroed struct. */
void fs_sigv4_signing_clear(struct fs_sigv4_signing *signing);

/* Formats the Authorization header value "AWS4-HMAC-SHA256
   Credential=AK/scope, SignedHeaders=..., Signature=...". Returns 0 and sets
   *value_r, -EINVAL or -ENOMEM. */
int fs_sigv4_format_authorization(const struct fs_sigv4_credentials *cred,
				  const char *timestamp,
				  const char *signed_headers,
				  const char *signature, char **value_r);

/* Signs req for header authorization and returns the Authorization value.
   signed_headers NULL means the S3 set of fs_sigv4_signed_headers(); key as
   for fs_sigv4_sign(). The request must already carry the headers that are
   signed: Host, X-Amz-Date (equal to timestamp), X-Amz-Content-Sha256 for S3,
   and X-Amz-Security-Token when cred has a session token. Returns 0 and sets
   *authorization_r, or -EINVAL, -ENOMEM, -EIO. */
int fs_sigv4_sign_request(const struct fs_sigv4_request *req,
			  const struct fs_sigv4_credentials *cred,
			  const char *timestamp, const char *signed_headers,
			  const unsigned char *key, char **authorization_r,
			  const char **error_r);

/* Builds the query of a presigned URL for req: req->query (other parameters,
   e.g. "partNumber=1&uploadId=...") plus X-Amz-Algorithm, X-Amz-Credential,
   X-Amz-Date, X-Amz-Expires, X-Amz-Security-Token (with a session token) and
   X-Amz-SignedHeaders, canonically encoded and sorted, then
   "&X-Amz-Signature=...". The payload hash is req->payload_hash (normally
   UNSIGNED-PAYLOAD); signed_headers NULL means "host". expires is in seconds,
   1..FS_SIGV4_PRESIGN_EXPIRES_MAX. Returns 0 and sets *query_r, or -EINVAL
   (also when req->query already has X-Amz-* authentication parameters),
   -ENOMEM, -EIO. */
int fs_sigv4_presign_query(const struct fs_sigv4_request *req,
			   const struct fs_sigv4_credentials *cred,
			   const char *timestamp, unsigned int expires,
			   const char *signed_headers, const unsigned char *key,
			   char **query_r, const char **error_r);

/* Authentication parsed from an Authorization header or a presigned URL. The
   strings point into buf; release with fs_sigv4_auth_clear(). */
struct fs_sigv4_auth {
	const char *access_key;
	const char *date; /* "YYYYMMDD" of the credential scope */
	const char *region;
	const char *service;
	const char *signed_headers; /* validated: lowercase, sorted, has host */
	const char *signature;	    /* 64 lowercase hex digits */
	/* Presigned URLs only (else NULL and 0). */
	const char *timestamp;	    /* X-Amz-Date */
	unsigned int expires;	    /* X-Amz-Expires, seconds */
	const char *security_token; /* X-Amz-Security-Token, if sent */
	char *buf;
};

/* Parses an Authorization header value strictly: "AWS4-HMAC-SHA256", then
   Credential=AK/YYYYMMDD/region/service/aws4_request, SignedHeaders=... and
   Signature=<64 hex> separated by ',' and optional spaces, each exactly once.
   Returns 0 and fills *auth_r, -EINVAL (then error_r says what is wrong) or
   -ENOMEM. */
int fs_sigv4_parse_authorization(const char *value,
				 struct fs_sigv4_auth *auth_r,
				 const char **error_r);

/* Parses the X-Amz-* parameters of a presigned URL's raw query (algorithm,
   credential, date, expires, signed headers, signature; security token
   optional). Returns 0 and fills *auth_r, -EINVAL or -ENOMEM. */
int fs_sigv4_parse_presigned(const char *query, struct fs_sigv4_auth *auth_r,
			     const char **error_r);

/* Frees the parsed strings and zeroes *auth; safe on a zeroed struct. */
void fs_sigv4_auth_clear(struct fs_sigv4_auth *auth);

/* Verifies req against auth with the secret of auth->access_key. timestamp is
   the request's X-Amz-Date for header authorization; NULL for presigned
   URLs (auth->timestamp is used). The credential scope date must be the
   timestamp's day. Freshness and expiry are the caller's policy (see
   fs_sigv4_timestamp_parse()). If signing_r is not NULL it receives the
   computed steps, also on mismatch (the caller clears it). Returns 0 if the
   signature matches, -EACCES if not, -EINVAL (malformed request), -ENOMEM,
   -EIO. */
int fs_sigv4_verify(const struct fs_sigv4_request *req,
		    const struct fs_sigv4_auth *auth, const char *secret_key,
		    const char *timestamp, struct fs_sigv4_signing *signing_r,
		    const char **error_r);

/* ------------------------------------------------------------------------ */
/* Signature Version 2 (verification of legacy clients)                      */

/* Base64 of an HMAC-SHA1 and a NUL. */
#define FS_SIGV2_SIGNATURE_SIZE 29

struct fs_sigv2_request {
	const char *method;
	/* The bucket when it was named by the Host (virtual-hosted style):
	   the resource becomes "/bucket" + path. NULL for path style, where
	   the path already starts with the bucket. */
	const char *bucket;
	const char *path;  /* raw, as sent; "" means "/" */
	const char *query; /* raw, without '?'; NULL or "" for none */
	const struct fs_sigv4_header *headers;
	size_t header_count;
};

/* Builds the SigV2 string to sign: method, Content-MD5, Content-Type, the
   date (empty when X-Amz-Date is sent, or expires for presigned URLs when not
   NULL), the x-amz-* headers (lowercase, sorted, duplicates joined with ',')
   and the resource with its subresources (acl, uploadId, response-*, ...,
   sorted, values decoded). Returns 0 and sets *sts_r, -EINVAL or -ENOMEM. */
int fs_sigv2_string_to_sign(const struct fs_sigv2_request *req,
			    const char *expires, char **sts_r,
			    const char **error_r);

/* Writes the base64 HMAC-SHA1 of sts. Returns 0, -EINVAL or -EIO. */
int fs_sigv2_signature(const char *secret_key, const char *sts,
		       char sig_r[FS_SIGV2_SIGNATURE_SIZE]);

struct fs_sigv2_auth {
	char access_key[FS_SIGV4_ACCESS_KEY_MAX + 1];
	char signature[FS_SIGV2_SIGNATURE_SIZE];
	/* Presigned URLs: the Expires parameter (seconds since the epoch). */
	bool presigned;
	char expires[21];
};

/* Parses "AWS AK:signature" strictly. Returns 0 or -EINVAL. */
int fs_sigv2_parse_authorization(const char *value,
				 struct fs_sigv2_auth *auth_r,
				 const char **error_r);

/* Parses AWSAccessKeyId, Expires and Signature from a presigned URL's raw
   query. Returns 0, -EINVAL or -ENOMEM. */
int fs_sigv2_parse_presigned(const char *query, struct fs_sigv2_auth *auth_r,
			     const char **error_r);

/* Verifies req against auth with the secret of auth->access_key. If sts_r is
   not NULL it receives the string to sign (the caller frees it), also on
   mismatch. Returns 0 on a match, -EACCES if not, -EINVAL, -ENOMEM, -EIO. */
int fs_sigv2_verify(const struct fs_sigv2_request *req,
		    const struct fs_sigv2_auth *auth, const char *secret_key,
		    char **sts_r, const char **error_r);

#endif
