/*
 * fs-mockserver: an HTTP server speaking the S3 protocol over any libfs
 * storage, with deterministic fault injection and request counters.
 *
 * Tests start it in-process on 127.0.0.1 with an ephemeral port and point a
 * client (the libfs S3 driver, libcurl, awscli, s3cmd) at fs_mock_url().
 * Objects live in a libfs stack ("mem:" unless told otherwise): buckets,
 * objects and multipart uploads are plain keys there, so the same front end
 * with real credentials in front of a real backend serves storage to others.
 *
 * Requests are authenticated with AWS Signature Version 4 (Authorization
 * header or presigned URL) or Version 2 against the configured credentials;
 * anonymous requests are refused. The backing store is used by one thread at
 * a time; injected latency and slow transfers sleep outside that lock.
 *
 * Conventions are libfs's: negative errno returns, destructors take a
 * pointer to the handle and clear it. The server is thread-safe: every
 * function may be called from any thread while it runs.
 */
#ifndef LIBFS_MOCKSERVER_H
#define LIBFS_MOCKSERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "libfs/fs.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fs_mock;

/* One access key and its secret. */
struct fs_mock_credential {
	const char *access_key;
	const char *secret_key;
};

#define FS_MOCK_SETTINGS_VERSION 1

/* Settings for fs_mock_start(). Fill with fs_mock_settings_init() first;
   members are only ever appended. Strings and arrays are copied. */
struct fs_mock_settings {
	unsigned int version;

	/* "HOST:PORT", "[IPV6]:PORT" or "PORT"; port 0 picks a free one.
	   Default "127.0.0.1:0". Addresses other than loopback are refused
	   unless allow_remote is set. */
	const char *listen;
	bool allow_remote;

	/* libfs spec of the backing store (default "mem:") and the settings
	   it is opened with (NULL for defaults). The store needs
	   FS_CAP_METADATA and FS_CAP_ITER. */
	const char *backend;
	const struct fs_settings *backend_settings;

	/* Accepted credentials; NULL or a count of 0 means one pair,
	   access key "test" with secret "test". */
	const struct fs_mock_credential *credentials;
	unsigned int credentials_count;

	/* Region the server claims (SigV4 scopes must name it). Default
	   "us-east-1". */
	const char *region;
	/* Host names "BUCKET.<domain>[:port]" address BUCKET
	   (virtual-hosted style). Default "localhost". */
	const char *domain;

	/* Fault rules (see fs_mock_fault_add()), NULL-terminated, or NULL. */
	const char *const *faults;

	/* Smallest size of a multipart part other than the last; 0 means
	   S3's 5 MiB. */
	uint64_t min_part_size;
	/* Largest allowed clock skew of a signed request in seconds; 0 means
	   S3's 900. */
	unsigned int max_skew_secs;

	/* Writes one line per request (no secrets) to stderr. */
	bool log_requests;

	/* Buckets that exist from the start (kept if the backing store has
	   them already), NULL-terminated, or NULL. */
	const char *const *buckets;

	/* Speak WebDAV (RFC 4918 class 1, see dav.h) instead of S3: paths
	   are keys of the backing store, the credentials above are user
	   names (access key) and passwords (secret). */
	bool dav;
	/* WebDAV authentication: "any" (default: Digest and Basic offered),
	   "basic", "digest" or "none". */
	const char *dav_auth;
};

/* Fills *set with the defaults. */
void fs_mock_settings_init(struct fs_mock_settings *set);

/* Opens the backing store and starts serving. Returns the server, or NULL
   and, if error_r is not NULL, a message in *error_r that the caller frees
   with free(). */
struct fs_mock *fs_mock_start(const struct fs_mock_settings *set,
			      char **error_r);

/* Stops accepting, waits for the requests in progress (aborting unfinished
   uploads: they leave nothing behind), frees everything and sets *mock to
   NULL. Accepts NULL. */
void fs_mock_stop(struct fs_mock **mock);

/* Returns the TCP port the server listens on. */
unsigned int fs_mock_port(struct fs_mock *mock);

/* Returns the base URL, e.g. "http://127.0.0.1:40123", valid until
   fs_mock_stop(). */
const char *fs_mock_url(struct fs_mock *mock);

/* Returns the region the server claims. */
const char *fs_mock_region(struct fs_mock *mock);

/* ------------------------------------------------------------------------ */
/* Fault rules                                                               */

/*
 * A rule is a comma-separated list of name=value:
 *
 *   Matching (all given must match; none given matches every request):
 *     method=GET|PUT|HEAD|DELETE|POST
 *     op=NAME        S3 operation: GetObject, PutObject, HeadObject,
 *                    DeleteObject, CopyObject, ListObjectsV2, ListObjects,
 *                    CreateMultipartUpload, UploadPart, UploadPartCopy,
 *                    CompleteMultipartUpload, AbortMultipartUpload,
 *                    ListParts, ListMultipartUploads, DeleteObjects,
 *                    CreateBucket, DeleteBucket, HeadBucket, ListBuckets,
 *                    GetBucketLocation
 *     bucket=GLOB, key=GLOB   fnmatch() patterns ('*' crosses '/')
 *   When, among the matching requests:
 *     nth=N          every Nth (N, 2N, ...); default every one
 *     p=F            with probability F ("0.1" or "10%"), drawn from a
 *     seed=S         generator seeded with S (default 1): same seed, same
 *                    sequence of decisions
 *     times=N        at most N times in all
 *   What:
 *     action=error   reply status (default 503) with S3 error code (default
 *                    by status: SlowDown, InternalError, ...); implied by
 *                    status= or code=
 *       status=NNN code=NAME message=TEXT retry-after=SECONDS
 *     action=delay   only the delay below (implied by delay= alone)
 *     action=reset   reset the connection (RST) after=BYTES of the body
 *                    (request body for uploads, else response body)
 *     action=truncate  send after=BYTES of the response body, fewer than
 *                    its Content-Length, then close
 *     action=badlength  Content-Length off by delta=N (default -1): a
 *                    shorter body that looks complete, or a longer claim
 *                    cut by a close
 *     action=drip    send the response body at rate=BYTES per second
 *     action=corrupt  send the whole response body with its right length
 *                    but the byte at offset after=BYTES (default 0) XOR
 *                    0x01: what a checksum must catch. For an object the
 *                    offset is in the object, so a Range read shows the
 *                    damage where it covers that byte; else in the body.
 *                    An offset outside what is sent changes nothing.
 *                    Headers, x-amz-checksum-* included, are the true
 *                    object's.
 *     delay=MS       sleep before handling (with any action; also
 *                    latency=MS)
 *
 * e.g. "op=GetObject,key=mail*,nth=3,status=503,code=SlowDown" or
 *      "method=PUT,p=0.1,seed=7,action=reset,after=1000".
 */

/* Adds a rule. Returns its id (> 0), or -EINVAL and, if error_r is not NULL,
   a message the caller frees. */
int fs_mock_fault_add(struct fs_mock *mock, const char *rule, char **error_r);

/* Removes rule id. Returns 0 or -ENOENT. */
int fs_mock_fault_remove(struct fs_mock *mock, int id);

/* Removes every rule. */
void fs_mock_faults_clear(struct fs_mock *mock);

/* ------------------------------------------------------------------------ */
/* Counters                                                                   */

/* Returns a counter (0 for a name never counted):
     "requests"     S3 requests handled (the admin endpoint is not counted)
     "connections"  TCP connections accepted
     "faults"       faults injected
     "errors"       replies with status >= 400 (injected ones included)
     "bytes_in", "bytes_out"  object payload bytes received and sent
     "GET", "PUT", ...        requests by method
     "GetObject", ...         requests by S3 operation
     "status_503", ...        replies by status */
uint64_t fs_mock_counter(struct fs_mock *mock, const char *name);

/* Zeroes every counter (fault rules keep their state). */
void fs_mock_counters_reset(struct fs_mock *mock);

/* Returns all counters as a JSON object, {"requests": 3, ...}, in a string
   the caller frees, or NULL if out of memory. */
char *fs_mock_counters_json(struct fs_mock *mock);

/* Counts the keys of the backing store that start with prefix: "b/BUCKET/"
   holds a bucket's objects, "u/" the parts of unfinished multipart uploads.
   Returns the count or -errno. */
int fs_mock_backend_count(struct fs_mock *mock, const char *prefix);

/* The admin endpoint, served only to loopback clients and never a valid
   bucket name:
     GET    /_mock/stats    counters as JSON
     DELETE /_mock/stats    zero the counters
     GET    /_mock/faults   the rules, one "ID RULE" per line
     POST   /_mock/faults   add the rules of the body, one per line; replies
			    with their ids
     DELETE /_mock/faults   remove every rule
     DELETE /_mock/faults/ID  remove one rule */

#ifdef __cplusplus
}
#endif

#endif
