/*
 * Private declarations shared by the files of the mock server.
 *
 * One struct mock_request lives for one HTTP request: created when MHD has
 * the request line (mock_uri_log()), handed to the front end once the
 * headers are in, fed the body as it arrives, and freed when MHD reports the
 * request complete. Everything a front end replies goes through
 * mock_reply_*(), which applies the request's fault.
 */
#ifndef LIBFS_MOCK_PRIVATE_H
#define LIBFS_MOCK_PRIVATE_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libfs/driver.h"
#include "mockserver.h"

#if defined(__GNUC__) || defined(__clang__)
#define MOCK_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define MOCK_PRINTF(fmt, args)
#endif

/* --- Growable strings (buf.c) --- */

struct mock_buf {
	char *data; /* always NUL-terminated once anything was added */
	size_t len, alloc;
	bool failed; /* an allocation failed: the content is incomplete */
};

void mock_buf_add(struct mock_buf *buf, const void *data, size_t size);
void mock_buf_str(struct mock_buf *buf, const char *str);
void mock_buf_printf(struct mock_buf *buf, const char *fmt, ...)
	MOCK_PRINTF(2, 3);
/* Appends str with the XML special characters escaped. */
void mock_buf_xml(struct mock_buf *buf, const char *str);
/* Appends <name>escaped text</name>. */
void mock_buf_xml_elem(struct mock_buf *buf, const char *name,
		       const char *text);
/* Appends str as a JSON string literal with its quotes. */
void mock_buf_json(struct mock_buf *buf, const char *str);
/* Takes the data (NULL if failed); the buffer is empty afterwards. */
char *mock_buf_steal(struct mock_buf *buf, size_t *len_r);
void mock_buf_free(struct mock_buf *buf);

/* Formats t as an RFC 7231 HTTP date / an ISO 8601 time with
   milliseconds, as S3 writes them. */
void mock_http_date(int64_t t, char buf[64]);
void mock_iso_date(int64_t t, char buf[64]);
/* Parses the three HTTP date formats. Returns 0 or -EINVAL. */
int mock_http_date_parse(const char *str, int64_t *t_r);

/* --- Fault rules (faults.c) --- */

enum mock_fault_action {
	MOCK_FAULT_NONE = 0,
	MOCK_FAULT_ERROR,
	MOCK_FAULT_DELAY,
	MOCK_FAULT_RESET,
	MOCK_FAULT_TRUNCATE,
	MOCK_FAULT_BADLENGTH,
	MOCK_FAULT_DRIP,
	MOCK_FAULT_CORRUPT,
};

/* What a request is to suffer, copied out of the rule that fired. */
struct mock_fault {
	enum mock_fault_action action;
	int rule_id;
	unsigned int delay_ms;
	unsigned int status;
	char code[64];
	char message[160];
	unsigned int retry_after; /* 0: no header */
	uint64_t after;		  /* reset, truncate, corrupt */
	int64_t delta;		  /* badlength */
	uint64_t rate;		  /* drip, bytes per second */
};

struct mock_rule;

struct mock_faults {
	struct mock_rule *head;
	int next_id;
};

/* Parses rule and appends it. Returns the id or -EINVAL with *error_r. */
int mock_faults_add(struct mock_faults *faults, const char *rule,
		    char **error_r);
int mock_faults_remove(struct mock_faults *faults, int id);
void mock_faults_clear(struct mock_faults *faults);
/* Appends "ID RULE\n" for every rule. */
void mock_faults_list(struct mock_faults *faults, struct mock_buf *out);
/* Finds the first rule that fires for this request (advancing the nth
   counters and generators of the rules that match) and fills *fault_r.
   Returns true if one fired. */
bool mock_faults_match(struct mock_faults *faults, const char *method,
		       const char *op, const char *bucket, const char *key,
		       struct mock_fault *fault_r);

/* --- Counters (counters.c) --- */

struct mock_counter;

struct mock_counters {
	struct mock_counter *items;
	size_t count, alloc;
};

void mock_counters_add(struct mock_counters *counters, const char *name,
		       uint64_t n);
uint64_t mock_counters_get(const struct mock_counters *counters,
			   const char *name);
void mock_counters_reset(struct mock_counters *counters);
void mock_counters_json(const struct mock_counters *counters,
			struct mock_buf *out);
void mock_counters_free(struct mock_counters *counters);

/* --- The server (mock.c) --- */

struct mock_credential {
	char *access_key;
	char *secret_key;
};

struct fs_mock {
	struct MHD_Daemon *daemon;
	struct fs *fs;
	/* Held around every libfs call on fs and its files. */
	pthread_mutex_t fs_lock;
	/* Held around counters, fault rules and the request id. */
	pthread_mutex_t lock;

	struct mock_credential *creds;
	unsigned int creds_count;
	char *region, *domain;
	uint64_t min_part_size;
	unsigned int max_skew_secs;
	bool log_requests;

	struct mock_faults faults;
	struct mock_counters counters;
	uint64_t request_seq;
	unsigned int port;
	char url[96];
	/* Set at stop: sleeps of injected faults end early. */
	volatile bool stopping;
	/* The WebDAV front end (dav.h), or NULL for S3. */
	struct mock_dav *dav;
};

struct mock_header {
	const char *name;
	const char *value;
};

struct mock_param {
	char *name;  /* decoded */
	char *value; /* decoded; "" when the parameter had no '=' */
};

/* A reply being built. */
struct mock_reply {
	unsigned int status;
	struct mock_header *headers; /* malloc'ed names and values */
	size_t header_count, header_alloc;
	/* The body: a buffer, or an object streamed from a file. */
	struct mock_buf body;
	struct fs_file *file;
	uint64_t file_size;
	/* Where the body starts in the object (a range): the corrupt fault
	   damages a byte of the object, wherever a read of it puts it. */
	uint64_t file_offset;
	bool is_object; /* payload: counted in bytes_out */
	bool failed;	/* out of memory while building */
};

struct mock_request;

/* A front end's body consumer: takes size bytes. Returns 0, or -1 to stop
   (a reply must then be set with mock_request_fail() or a fault). */
typedef int mock_body_fn(struct mock_request *req, const char *data,
			 size_t size);
/* Called once the whole body is in; sets the reply. */
typedef void mock_finish_fn(struct mock_request *req);
/* Frees what the front end kept in req->ctx (unfinished writes aborted). */
typedef void mock_cleanup_fn(struct mock_request *req);

struct mock_request {
	struct fs_mock *mock;
	struct MHD_Connection *conn;
	char *raw_uri; /* request target as sent */
	char *raw_path, *raw_query;
	const char *method;
	bool started, loopback, replied, close_after;
	/* The request has a body; it is being received; it is all in. */
	bool has_body, in_body, body_done;

	struct mock_header *headers; /* pointers into MHD's storage */
	size_t header_count;
	struct mock_param *params;
	size_t param_count;

	char request_id[24];
	uint64_t start_usec;
	/* Set by the front end for counters, faults and the log. */
	const char *op;
	char *bucket, *key;

	struct mock_fault fault;
	uint64_t body_received;
	/* A reply decided before the body arrived, sent once it is read and
	   thrown away (keeps the connection usable when the client did not
	   wait for 100-continue). */
	struct mock_reply *pending;
	bool discard_body;

	mock_body_fn *body_fn;
	mock_finish_fn *finish_fn;
	mock_cleanup_fn *cleanup_fn;
	void *ctx;
	unsigned int status; /* sent, for the log */
};

/* Returns the value of the first request header called name (any case), or
   NULL. */
const char *mock_header(struct mock_request *req, const char *name);
/* Returns the decoded value of query parameter name, or NULL. */
const char *mock_param(struct mock_request *req, const char *name);
bool mock_has_param(struct mock_request *req, const char *name);

/* Runs fn with the backing store lock held. Files of the store are touched
   only between mock_fs_lock() and mock_fs_unlock(). */
void mock_fs_lock(struct fs_mock *mock);
void mock_fs_unlock(struct fs_mock *mock);

void mock_count(struct fs_mock *mock, const char *name, uint64_t n);
/* Sleeps ms milliseconds, ending early when the server stops. */
void mock_sleep_ms(struct fs_mock *mock, uint64_t ms);
void mock_log(struct fs_mock *mock, const char *fmt, ...) MOCK_PRINTF(2, 3);

struct mock_reply *mock_reply_new(unsigned int status);
void mock_reply_free(struct mock_reply **reply);
void mock_reply_header(struct mock_reply *reply, const char *name,
		       const char *value);
void mock_reply_headerf(struct mock_reply *reply, const char *name,
			const char *fmt, ...) MOCK_PRINTF(3, 4);
/* Sends reply (taking it) now, or after the body when the client is still
   sending one without having asked for 100-continue. */
void mock_request_reply(struct mock_request *req, struct mock_reply *reply);
/* Replies with an S3 error document. extra is XML added inside <Error>
   (already escaped) or NULL. */
void mock_request_fail(struct mock_request *req, unsigned int status,
		       const char *code, const char *extra, const char *fmt,
		       ...) MOCK_PRINTF(5, 6);
/* Builds the S3 error reply without sending it. */
struct mock_reply *mock_error_reply(struct mock_request *req,
				    unsigned int status, const char *code,
				    const char *extra, const char *message);
/* Returns the S3 error code S3 uses with status. */
const char *mock_status_code(unsigned int status);

/* Returns the peer socket, for resets. */
int mock_request_fd(struct mock_request *req);

/* --- The S3 front end (s3.c and friends) --- */

/* Called once the request's headers are in (after faults of the delay kind
   ran): routes and authenticates the request, then either replies or sets
   body_fn/finish_fn. */
void s3_request_begin(struct mock_request *req);
/* Fills req->op, req->bucket and req->key from the request, for faults
   and counters. Returns 0, or -1 after replying with an error. */
int s3_request_route(struct mock_request *req);
/* Creates bucket in the backing store unless it exists. Returns 0, -EINVAL
   (invalid name) or the store's -errno, with a message in *error_r that the
   caller frees. */
int s3_bucket_ensure(struct fs_mock *mock, const char *bucket, char **error_r);

/* A malloc'ed formatted string, or NULL without memory. */
char *mock_strdup_printf(const char *fmt, ...) MOCK_PRINTF(1, 2);

#endif
