/*
 * libfs private: the HTTP transport shared by the S3, WebDAV and MogileFS
 * drivers, on one libcurl multi handle per leaf fs.
 *
 * A driver creates one struct fs_http in its init, creates one
 * struct fs_http_request per operation, starts it, returns -EAGAIN, and calls
 * fs_http_wait() from its wait_async. The request's progress callback (called
 * from inside fs_http_wait() only, never from a curl callback and never from
 * the call that started the work) is where the driver calls
 * fs_file_async_done(); the core then calls the driver's method again, which
 * looks at the request (read more, write more, or take the result).
 *
 * What the transport does for every request: keep-alive connection reuse,
 * connect/stall/total timeouts, retries with capped full-jitter backoff and
 * Retry-After for idempotent requests with replayable bodies, a fresh
 * signature (sign callback) before every attempt, resuming a streamed GET
 * with Range + If-Match, bounded buffers for streams both ways, a shared
 * status -> errno table and error messages without secrets.
 */
#ifndef LIBFS_HTTP_H
#define LIBFS_HTTP_H

#include <curl/curl.h>

#include "libfs/driver.h"

/* Bytes a streamed response or a streamed request body keeps buffered at
   most; the transfer pauses when the buffer is full. */
#define FS_HTTP_STREAM_BUFFER (256 * 1024)
/* Default cap of a response body kept in memory (XML replies). */
#define FS_HTTP_MEMORY_MAX (1024 * 1024)
/* Error bodies (non-2xx) are kept up to this size; the rest is dropped. */
#define FS_HTTP_ERROR_BODY_MAX (64 * 1024)
/* Idle connections kept for reuse per transport. */
#define FS_HTTP_IDLE_CONNECTIONS 64
/* Bodies below this size are sent without "Expect: 100-continue". */
#define FS_HTTP_EXPECT_MIN (1024 * 1024)

struct fs_http;
struct fs_http_request;

struct fs_http_callbacks {
	/* Called before every attempt, after the transport set its own
	   per-attempt headers (Range, If-Match): add fresh authentication with
	   fs_http_request_set_attempt_header() (and, for presigned URLs,
	   fs_http_request_set_url()). Returns 0, or -errno to fail the request
	   with that error. Must not free the request. May be NULL. */
	int (*sign)(struct fs_http_request *req, void *context);
	/* Called when an attempt ended with an HTTP error status (the status,
	   headers and error body are readable) to say whether it is transient.
	   NULL: 5xx, 429 and 408 are. Only consulted when a retry is otherwise
	   allowed (idempotent, replayable body, attempts left). Must not free
	   the request. */
	bool (*retryable)(struct fs_http_request *req, void *context);
	/* Called once when the request finally completed (success, HTTP error,
	   or transport failure after the retries). May be NULL. */
	void (*done)(struct fs_http_request *req, void *context);
	/* Called when the request progressed: response headers of a streamed
	   response are in, body data arrived, upload buffer space was freed, or
	   the request completed (after done). May be NULL. */
	void (*progress)(struct fs_http_request *req, void *context);
};

/* --- The transport --- */

/* Creates the transport of a leaf fs, with timeouts, retries, TLS, proxy and
   debug flags from fs->set (zero values mean the defaults of fs.h). Returns 0
   and sets *http_r, or -ENOMEM / -EIO. */
int fs_http_init(struct fs *fs, struct fs_http **http_r);

/* Cancels every request still running (their callbacks are not called; the
   owners still free them with fs_http_request_deinit(), which is then safe)
   and frees the transport. Accepts NULL and sets *http to NULL. */
void fs_http_deinit(struct fs_http **http);

/* Drives the transfers, retries and timers until at least one callback was
   called, nothing is pending, or timeout_ms passed (negative: no limit; 0: do
   what is ready without blocking). Returns 0, or -errno if the event loop
   itself failed. */
int fs_http_wait(struct fs_http *http, int timeout_ms);

/* As fs_http_wait(), and also returns as soon as one of the count extra
   file descriptors is ready for the events asked in fds[i].events (as
   curl_multi_poll() takes them); fds[i].revents then say which (they are
   zeroed first). With extra descriptors it waits on them even when no
   request is pending: a driver with its own sockets (the MogileFS tracker)
   waits on both at once. Returns 0, or -errno if the event loop itself
   failed. */
int fs_http_wait_fds(struct fs_http *http, struct curl_waitfd *fds,
		     unsigned int count, int timeout_ms);

/* Returns the number of started requests that did not complete yet
   (running or waiting for a retry). */
unsigned int fs_http_pending(struct fs_http *http);

/* --- Requests: setup (before fs_http_request_start()) --- */

/* Creates a request. method is the HTTP method ("GET", "PUT", "PROPFIND",
   ...), url an already encoded absolute http:// or https:// URL, op the
   operation retries are counted on. Idempotency defaults by method (GET,
   HEAD, PUT, DELETE, OPTIONS, PROPFIND: yes). Returns 0 and sets *req_r,
   -EINVAL (bad method or URL) or -ENOMEM. */
int fs_http_request_init(struct fs_http *http, enum fs_op op,
			 const char *method, const char *url,
			 struct fs_http_request **req_r);

/* Cancels the request if it is running (no callback is called) and frees it.
   May be called from the request's own callbacks. Accepts NULL and sets *req
   to NULL. */
void fs_http_request_deinit(struct fs_http_request **req);

void fs_http_request_set_callbacks(struct fs_http_request *req,
				   const struct fs_http_callbacks *callbacks,
				   void *context);
void fs_http_request_set_idempotent(struct fs_http_request *req,
				    bool idempotent);

/* Adds a header sent with every attempt. Returns 0, -EINVAL (CR, LF or NUL,
   or an empty or malformed name) or -ENOMEM. */
int fs_http_request_add_header(struct fs_http_request *req, const char *name,
			       const char *value);

/* Asks for bytes [offset, offset + length) of the response (length
   UINT64_MAX: to the end). The transport writes the Range header itself so
   that a resumed read asks for the rest only. */
void fs_http_request_set_range(struct fs_http_request *req, uint64_t offset,
			       uint64_t length);

/* Sends size bytes at data as the body: replayable, so retries are allowed.
   data is not copied and must stay valid until the request is freed. */
void fs_http_request_set_body(struct fs_http_request *req, const void *data,
			      size_t size);

/* The body is pushed with fs_http_request_write() and ended with
   fs_http_request_write_end(). size is the total (sent as Content-Length), or
   -1 if unknown (chunked). A streamed body is retried only while no byte of
   it was handed to the network. */
void fs_http_request_set_body_stream(struct fs_http_request *req, int64_t size);

/* The response body is pulled with fs_http_request_read() (bounded buffer,
   resumed with Range + If-Match after a cut). Without this, it is kept in
   memory up to max_memory bytes (see below). */
void fs_http_request_set_response_stream(struct fs_http_request *req);

/* Cap of an in-memory 2xx response body (default FS_HTTP_MEMORY_MAX); a
   longer body fails the request with -EIO. */
void fs_http_request_set_response_max(struct fs_http_request *req,
				      size_t max_memory);

/* Starts the first attempt (the sign callback runs here). The total deadline
   (settings' total_timeout_ms) runs from here over all attempts, backoff
   sleeps and waits for response headers; while a streamed body flows (a
   streamed 2xx response after its headers, a streamed request body after its
   first byte), including pauses on a slow reader or writer, it waits, and
   only the stall timeout guards the transfer. Returns 0 (the result comes later
   through the callbacks), or -errno if it could not start (the request is then
   completed with that error, without callbacks). */
int fs_http_request_start(struct fs_http_request *req);

/* --- Requests: for the sign callback --- */

/* Adds a header to the current attempt only (cleared before the next one).
   Returns 0, -EINVAL or -ENOMEM. */
int fs_http_request_set_attempt_header(struct fs_http_request *req,
				       const char *name, const char *value);
/* Replaces the URL (e.g. for a presigned query string). Returns 0, -EINVAL
   or -ENOMEM. */
int fs_http_request_set_url(struct fs_http_request *req, const char *url);
const char *fs_http_request_method(const struct fs_http_request *req);
const char *fs_http_request_url(const struct fs_http_request *req);
/* Iterates over the headers of the coming attempt (the request's, then the
   attempt's): set *idx to 0 first. Returns true and sets *name_r and
   *value_r, or false at the end. */
bool fs_http_request_header_next(const struct fs_http_request *req, size_t *idx,
				 const char **name_r, const char **value_r);
/* Returns the attempt about to run or running, 1 for the first. */
unsigned int fs_http_request_attempt(const struct fs_http_request *req);
/* Returns the request body bytes libcurl took for sending in the last
   attempt (for a streamed body: over all attempts). 0 means no byte of the
   body left this process, e.g. because the connection failed: a driver
   may then send the body elsewhere without having half-written it here. */
uint64_t fs_http_request_body_sent(const struct fs_http_request *req);

/* --- Requests: streams --- */

/* Pushes body bytes. Returns the number taken (1..size), -EAGAIN when the
   buffer is full (the progress callback says when to try again), -EINVAL
   (more than the declared size, or after the end) or the request's -errno if
   it already failed. */
ssize_t fs_http_request_write(struct fs_http_request *req, const void *data,
			      size_t size);
/* Ends a streamed body. Returns 0, -EINVAL (fewer bytes than declared) or the
   request's -errno if it already failed. */
int fs_http_request_write_end(struct fs_http_request *req);

/* Pulls response body bytes of a streamed 2xx response. Returns bytes (> 0),
   0 at the end, -EAGAIN when none are here yet, or -errno (a non-2xx status
   mapped by fs_http_status_errno(), or the transport failure). Bytes received
   before a failure are returned first. */
ssize_t fs_http_request_read(struct fs_http_request *req, void *buf,
			     size_t size);

/* Response bytes buffered now, and the most that were ever buffered. */
size_t fs_http_request_buffered(const struct fs_http_request *req);
size_t fs_http_request_buffered_max(const struct fs_http_request *req);
/* Number of times the transfer was paused because a buffer was full/empty,
   and whether it is paused now. */
unsigned int fs_http_request_pauses(const struct fs_http_request *req);
bool fs_http_request_paused(const struct fs_http_request *req);

/* --- Requests: results --- */

/* Returns -EAGAIN while running, 0 once completed with a 2xx (or 304)
   status, else the -errno it failed with. */
int fs_http_request_result(const struct fs_http_request *req);
bool fs_http_request_is_done(const struct fs_http_request *req);

/* Returns the HTTP status of the last attempt's response (for a resumed
   stream, the first response's), or 0 if that attempt got none. */
long fs_http_request_status(const struct fs_http_request *req);
/* Reads one auth-param of a WWW-Authenticate or Authorization header at
   *pp (name=token or name="quoted", RFC 7235), skipping separators before
   it; values are cut to value_size - 1 bytes. Returns false at the end or
   on a malformed param; *pp is then unchanged. */
bool fs_http_auth_param(const char **pp, char *name, size_t name_size,
			char *value, size_t value_size);
/* Parses a Content-Range value "bytes FIRST-LAST/TOTAL": returns false if
   it is not one; *total_r (unless NULL) is UINT64_MAX where TOTAL is "*"
   or unreadable. */
bool fs_http_parse_content_range(const char *value, uint64_t *first_r,
				 uint64_t *last_r, uint64_t *total_r);

/* Returns the value of response header name (case-insensitive), or NULL. */
const char *fs_http_request_header(const struct fs_http_request *req,
				   const char *name);

/* Iterates over the response headers (those fs_http_request_header() looks
   at): set *idx to 0 first. Returns true and sets *name_r and *value_r, or
   false at the end. */
bool fs_http_request_response_header_next(const struct fs_http_request *req,
					  size_t *idx, const char **name_r,
					  const char **value_r);

/* Returns the in-memory response body (NUL-terminated, not counted in
   *size_r): the 2xx body of a memory response, or the error body of a
   failed one. Never NULL. */
const char *fs_http_request_body(const struct fs_http_request *req,
				 size_t *size_r);

/* The driver gives the server's error code and request id it parsed from the
   error body (e.g. S3 XML) for messages. NULLs are allowed. Returns 0 or
   -ENOMEM. */
int fs_http_request_set_server_error(struct fs_http_request *req,
				     const char *code, const char *request_id);

/* Formats the error of a completed request into buf, e.g. "GET
   https://host/b/k: HTTP 503 SlowDown (request id X, after 5 attempts)".
   Never contains credentials, Authorization headers or signature query
   parameters. Returns fs_http_request_result(). */
int fs_http_request_error(const struct fs_http_request *req, char *buf,
			  size_t size);

/* --- Shared tables and redaction (http-status.c) --- */

/* Maps an HTTP status to 0 (1xx, 2xx, 304) or -errno: 404 -ENOENT, 409 and
   412 -EEXIST, 401/403 -EACCES, 413 -EFBIG, 507 -ENOSPC, 408/504 -ETIMEDOUT,
   405 for MKCOL -EEXIST (RFC 4918), other 3xx/4xx/5xx -EIO. 416 maps to -EIO:
   a driver reading a range past the end checks for 416 first. method may be
   NULL. */
int fs_http_status_errno(long status, const char *method);

/* Maps a libcurl result to -errno (0 for CURLE_OK). */
int fs_http_curl_errno(CURLcode code);

/* Returns true if a failed attempt with this libcurl result may succeed when
   tried again (connection failures, resets, truncation, timeouts). */
bool fs_http_curl_transient(CURLcode code);

/* Copies url into buf with the secrets replaced by "***": the password of
   user:password@, and the values of X-Amz-Signature, X-Amz-Credential,
   X-Amz-Security-Token, Signature and AWSAccessKeyId query parameters. The
   result is always NUL-terminated (truncated if needed). */
void fs_http_redact_url(const char *url, char *buf, size_t size);

/* Returns true if header name carries a secret (Authorization, Cookie,
   X-Amz-Security-Token, SSE-C keys...) and must be shown as "***". */
bool fs_http_header_is_secret(const char *name);

#endif
