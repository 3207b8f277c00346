/*
 * libfs: one API, "key -> byte stream", over local disk, S3-compatible object
 * stores, WebDAV and MogileFS, with stackable layers in front.
 *
 * This is the only header an application includes.
 *
 * Conventions (they hold for every function below unless its comment says
 * otherwise):
 *  - Functions return 0 (or a count) on success and a negative errno on
 *    failure: -ENOENT, -EEXIST, -EINVAL (bad key, spec or argument), -EACCES
 *    (authentication or permission), -ENOTSUP (the capability bit is off),
 *    -ETIMEDOUT, -ENOSPC, -EFBIG, -EIO, -EAGAIN (asynchronous, still running).
 *  - After a failure, fs_last_error(), fs_file_last_error() or
 *    fs_iter_last_error() returns a message naming the operation, the key, the
 *    backend and, for HTTP, the status and the server's error code. Messages
 *    never contain a secret. A returned string stays valid until the next call
 *    on the same handle.
 *  - Destructors take a pointer to the handle, accept NULL and set it to NULL.
 *  - Outputs end in _r. The caller owns buffers it passes in.
 *  - One struct fs (with its files and iterators) is used by one thread at a
 *    time; separate struct fs handles in separate threads are independent.
 */
#ifndef LIBFS_FS_H
#define LIBFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIBFS_VERSION_MAJOR 0
#define LIBFS_VERSION_MINOR 1
#define LIBFS_VERSION_PATCH 0
#define LIBFS_VERSION_STRING "0.1.0"

/* Longest key in bytes (S3's limit), and longest single '/'-separated
   segment of a key (NAME_MAX on local filesystems). */
#define FS_KEY_MAX 1024
#define FS_KEY_SEGMENT_MAX 255
/* Key segments starting with this are reserved for libfs's own temporary
   objects; keys using it are rejected with -EINVAL. */
#define FS_RESERVED_PREFIX ".libfs-"
/* Metadata limits: names are [a-z0-9_-], 1..FS_METADATA_NAME_MAX bytes;
   values are printable UTF-8 without control bytes; the sum of all names and
   values of one object is at most FS_METADATA_TOTAL_MAX bytes (S3's 2 KiB). */
#define FS_METADATA_NAME_MAX 128
#define FS_METADATA_TOTAL_MAX 2048

struct fs;
struct fs_file;
struct fs_iter;

/* Returns the library version string, e.g. "0.1.0". */
const char *fs_version(void);

/* ------------------------------------------------------------------------ */
/* Settings and initialisation                                               */

#define FS_SETTINGS_VERSION 1

/* Debug trace bits for fs_settings.debug (also set from LIBFS_DEBUG, a comma
   separated list: "http", "tracker", "all"). Traces go to stderr and never
   contain secrets. */
#define FS_DEBUG_HTTP (1u << 0)
#define FS_DEBUG_TRACKER (1u << 1)

/* Settings for fs_init(). Fill with fs_settings_init() first, then change what
   you need: new members are only ever appended, and .version tells the library
   which members the caller knows about. Every string is copied by fs_init();
   NULL means "unset" (environment or default applies). A zero timeout or count
   means the default. */
struct fs_settings {
	unsigned int version;

	/* S3: credentials and region. Unset members come from
	   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and
	   AWS_REGION. */
	const char *access_key;
	const char *secret_key;
	const char *session_token;
	const char *region;

	/* WebDAV: user name (overrides the spec's USER@) and password (else
	   from LIBFS_DAV_PASSWORD or ~/.netrc). */
	const char *username;
	const char *password;

	/* TLS (verification is always on unless tls_insecure is set) and proxy
	   (else the usual *_proxy environment variables apply). */
	const char *ca_file;
	const char *ca_path;
	bool tls_insecure;
	const char *proxy;

	/* HTTP and tracker timeouts in milliseconds: connect, stall (no byte
	   moved for this long) and one total deadline per request across all
	   its attempts, backoff sleeps and waits for the response headers.
	   While a streamed body flows (an object being read or uploaded as a
	   stream) the deadline waits and only the stall timeout applies, so a
	   large object that keeps moving is never cut off. Defaults 10 s, 30 s
	   and 300 s. */
	unsigned int connect_timeout_ms;
	unsigned int stall_timeout_ms;
	unsigned int total_timeout_ms;
	/* Retries after the first attempt (default 4; FS_SETTINGS_NO_RETRY for
	   none), with capped, jittered exponential backoff starting at
	   retry_base_ms (default 100) and never above retry_max_ms (default
	   5000). */
	unsigned int max_retries;
	unsigned int retry_base_ms;
	unsigned int retry_max_ms;

	/* Directory for spool files (streams of unknown length that a backend
	   needs the size of). Default: TMPDIR or /tmp. */
	const char *temp_dir;

	/* FS_DEBUG_* bits, or-ed with what LIBFS_DEBUG says. */
	unsigned int debug;
};

#define FS_SETTINGS_NO_RETRY ((unsigned int)-1)

/* Fills *set with defaults (all unset) and the current version. */
void fs_settings_init(struct fs_settings *set);

/* Creates a storage stack from a spec string, e.g. "/var/mail",
   "posix:/var/mail", "file:///var/mail", "mem:", "s3://BUCKET/PREFIX?...",
   "dav+https://USER@host/path/", "mogilefs://h:7001/DOMAIN?class=mail",
   "cache:max=64M::s3://...", "faults:seed=7,all=10%::posix:/tmp/x". Layers
   are chained with "::", leftmost on top. set may be NULL for defaults.
   Returns 0 and sets *fs_r, or -EINVAL (malformed spec, unknown driver or
   option), -ENOTSUP (driver not compiled in) or the driver's error; then
   *fs_r is NULL and, if error_r is not NULL, *error_r is a message valid
   until the next fs_init() call in the same thread. */
int fs_init(const char *spec, const struct fs_settings *set, struct fs **fs_r,
	    const char **error_r);

/* Cancels all pending asynchronous operations (their callbacks are not
   called), then frees the stack. Files and iterators must be freed first. */
void fs_deinit(struct fs **fs);

/* Returns the message of the last failed operation on this fs handle (not
   its files), or "" if none. */
const char *fs_last_error(struct fs *fs);

/* Returns the driver name of the layer at depth (0 = top), e.g. "cache",
   "s3", or NULL if the stack is not that deep. */
const char *fs_driver_name(struct fs *fs, unsigned int depth);

/* ------------------------------------------------------------------------ */
/* Capabilities                                                               */

/* Capability bits, computed through the whole stack. Tests and applications
   decide behaviour by these, never by driver name. */
enum fs_cap {
	FS_CAP_RANGE = 1u << 0,	   /* range reads are served by the backend */
	FS_CAP_METADATA = 1u << 1, /* key/value metadata stored with objects */
	FS_CAP_RENAME_ATOMIC = 1u << 2, /* rename is one atomic step */
	FS_CAP_COPY_SERVER = 1u
			     << 3, /* copy happens without data passing here */
	FS_CAP_APPEND = 1u << 4,   /* FS_OPEN_APPEND is supported */
	FS_CAP_CREATE_EXCL =
		1u << 5,	/* FS_OPEN_CREATE is atomic vs. other writers */
	FS_CAP_ITER = 1u << 6,	/* listing by prefix */
	FS_CAP_ASYNC = 1u << 7, /* operations really run asynchronously */
	FS_CAP_STAT_MTIME = 1u << 8, /* fs_stat.mtime is meaningful */
	FS_CAP_STAT_ETAG = 1u << 9,  /* fs_stat.etag is meaningful */
	FS_CAP_FSYNC = 1u << 10,     /* FS_OPEN_FSYNC makes data durable */
	FS_CAP_IN_MEMORY = 1u << 11, /* objects live in this process's memory */
	FS_CAP_CONDITIONAL = 1u << 12, /* reads can be conditional on an etag */
	/* Once reading a file has started, fs_file_stat() and (with
	   FS_CAP_METADATA) its metadata describe the very version being read
	   and cost no request of their own (S3: the GET's headers). */
	FS_CAP_READ_STAT = 1u << 13,
};

/* Returns the FS_CAP_* bits of the stack. */
unsigned int fs_get_caps(struct fs *fs);

/* What a stack can hold, at most the FS_* constants: a backend may need room
   (an S3 spec's prefix counts against S3's 1024 bytes of key; a MogileFS
   tracker keeps 255; a server storing its own attributes beside user
   metadata has less than 2 KiB for it). */
struct fs_limits {
	size_t key_max;	     /* longest key in bytes */
	size_t metadata_max; /* sum of metadata names and values in bytes */
};

/* Fills *limits_r for the stack. fs_file_init() refuses longer keys and
   fs_file_set_metadata() more metadata, with -EINVAL. */
void fs_get_limits(struct fs *fs, struct fs_limits *limits_r);

/* ------------------------------------------------------------------------ */
/* Files                                                                      */

enum fs_open_mode {
	FS_OPEN_READ = 0,
	/* Write a new object; finishing fails with -EEXIST if the key exists.
	   Atomic where FS_CAP_CREATE_EXCL is set. */
	FS_OPEN_CREATE = 1,
	/* Write an object, replacing any existing one atomically: readers see
	   the old or the new object, never a mix. */
	FS_OPEN_REPLACE = 2,
	/* Append to an object (created if missing); needs FS_CAP_APPEND. */
	FS_OPEN_APPEND = 3,
};

enum fs_open_flags {
	/* Finishing a write makes it durable (fdatasync and a directory fsync
	   on posix). */
	FS_OPEN_FLAG_FSYNC = 1u << 8,
	/* Operations on this file may return -EAGAIN; see "Asynchronous use".
	 */
	FS_OPEN_FLAG_ASYNC = 1u << 9,
};

/* Opens a handle on key with mode | flags. No I/O happens here: a missing key
   shows at the first read or stat. Returns 0 and sets *file_r, or -EINVAL for
   an invalid key (empty, starting with '/', longer than FS_KEY_MAX, an empty,
   "." or ".." segment, a segment over FS_KEY_SEGMENT_MAX or starting with
   FS_RESERVED_PREFIX, a trailing '/', control bytes or invalid UTF-8) or
   mode, or -ENOTSUP (APPEND without FS_CAP_APPEND); the message is then in
   fs_last_error(fs). */
int fs_file_init(struct fs *fs, const char *key, unsigned int mode_flags,
		 struct fs_file **file_r);

/* Aborts an unfinished write (leaving nothing behind), cancels a pending
   asynchronous operation and frees the handle. */
void fs_file_deinit(struct fs_file **file);

/* Returns the key the file was opened with. */
const char *fs_file_key(struct fs_file *file);

/* Returns the fs the file belongs to. */
struct fs *fs_file_fs(struct fs_file *file);

/* Returns the message of the last failed operation on this file, or "". */
const char *fs_file_last_error(struct fs_file *file);

/* Checks keys the way fs_file_init() does. Returns 0 if key is valid, else
   -EINVAL and, if reason_r is not NULL, a static string saying why. */
int fs_key_validate(const char *key, const char **reason_r);

/* --- Reading --- */

/* Limits the following reads to bytes [offset, offset + length) of the object;
   length UINT64_MAX means "to the end". Must be called before the first read.
   A range starting at or past the end reads as empty (0 bytes), not an error.
   Returns 0, or -EINVAL if the file is not open for reading or reading has
   started. */
int fs_file_set_range(struct fs_file *file, uint64_t offset, uint64_t length);

/* Reads up to size bytes of the object as a stream. Returns the number of
   bytes read (> 0), 0 at the end, -ENOENT if the key does not exist, -EAGAIN
   (ASYNC files only) when no data is ready yet, or another -errno. */
ssize_t fs_read(struct fs_file *file, void *buf, size_t size);

/* Reads the whole object (or the range set) into a new buffer that the caller
   frees with free(); a NUL byte follows the data (not counted in *size_r).
   Returns 0, or -errno (-EAGAIN only for ASYNC files, where data read so far
   is kept and the call is to be repeated). */
int fs_read_all(struct fs_file *file, void **data_r, size_t *size_r);

/* --- Writing --- */

/* Sets metadata name=value, stored with the object when the write finishes.
   Only for files open for writing, before fs_write_finish(). Set it before
   the first fs_write() where possible: a backend that sends metadata with
   the first part of a large object (S3 above multipart_threshold) cannot
   take it later, and then fails fs_write_finish() with -EINVAL, storing
   nothing, rather than losing it. Returns 0, -EINVAL (bad name or value,
   or over the limits) or -ENOTSUP (no FS_CAP_METADATA). */
int fs_file_set_metadata(struct fs_file *file, const char *name,
			 const char *value);

/* Streams size bytes into the object being written. Nothing is visible to
   readers before fs_write_finish(). Returns the number of bytes taken: size
   for blocking files; for ASYNC files possibly fewer (pass the rest again),
   or -EAGAIN when none could be taken yet. Returns -errno on failure; the
   write is then aborted and leaves nothing behind. */
ssize_t fs_write(struct fs_file *file, const void *data, size_t size);

/* Publishes the object atomically. Returns 0; -EEXIST for FS_OPEN_CREATE when
   the key exists; -EAGAIN (ASYNC files only) while it runs; or -errno, after
   which nothing of the write remains. */
int fs_write_finish(struct fs_file *file);

/* Abandons the write: no object, no temporary file, no partial upload stays.
   Safe to call at any time; does nothing if no write is in progress. */
void fs_write_abort(struct fs_file *file);

/* Writes size bytes and finishes: fs_write() + fs_write_finish(). Returns 0 or
   -errno as fs_write_finish(). */
int fs_write_all(struct fs_file *file, const void *data, size_t size);

/* --- Metadata and stat --- */

/* Fields of struct fs_stat that the backend filled; see also FS_CAP_STAT_*. */
#define FS_STAT_SIZE (1u << 0)
#define FS_STAT_MTIME (1u << 1)
#define FS_STAT_ETAG (1u << 2)

#define FS_ETAG_MAX 128

struct fs_stat {
	unsigned int valid; /* FS_STAT_* bits */
	uint64_t size;
	int64_t mtime_ns; /* nanoseconds since the Unix epoch */
	char etag[FS_ETAG_MAX];
};

/* Fills *st_r for the object. Returns 0, -ENOENT, -EAGAIN (ASYNC) or -errno. */
int fs_file_stat(struct fs_file *file, struct fs_stat *st_r);

/* Returns 1 if the key exists, 0 if not, -EAGAIN (ASYNC) or -errno. */
int fs_file_exists(struct fs_file *file);

/* Checks whether the stored object still has etag (from an earlier
   fs_file_stat()), as a cache does before serving its copy. Only on files
   open for reading, before the first read. Returns 1 if it does (not
   modified), 0 if it changed (fs_read() then reads the new object and
   fs_file_stat() describes it), -ENOENT if it is gone, -EAGAIN (ASYNC) or
   -errno. One conditional request where FS_CAP_CONDITIONAL is set, else a
   stat; without FS_CAP_STAT_ETAG it always answers 0. */
int fs_file_revalidate(struct fs_file *file, const char *etag);

/* Gets metadata name of the stored object. Returns 1 and sets *value_r (valid
   until the file is freed), 0 if the object has no such metadata, -ENOENT if
   the object does not exist, -ENOTSUP without FS_CAP_METADATA, -EAGAIN
   (ASYNC) or -errno. */
int fs_file_get_metadata(struct fs_file *file, const char *name,
			 const char **value_r);

struct fs_metadata {
	const char *name;
	const char *value;
};

/* Gets all metadata of the stored object as an array sorted by name, valid
   until the file is freed. Returns the number of entries (>= 0), -ENOENT,
   -ENOTSUP, -EAGAIN (ASYNC) or -errno. */
int fs_file_get_metadata_all(struct fs_file *file,
			     const struct fs_metadata **md_r);

/* --- Whole-object operations --- */

/* Deletes the object. Returns 0, -ENOENT if it does not exist, -EAGAIN (ASYNC)
   or -errno. */
int fs_file_delete(struct fs_file *file);

/* Copies src's object with its metadata to dst, which must be open with
   FS_OPEN_CREATE (-EEXIST if dst exists) or FS_OPEN_REPLACE. Both files must
   be on the same fs. Done by the server where FS_CAP_COPY_SERVER is set,
   else by streaming. Returns 0, -ENOENT (no src), -EEXIST, -EAGAIN (ASYNC,
   on dst) or -errno; the result and error are on dst. */
int fs_copy(struct fs_file *src, struct fs_file *dst);

/* Moves src's object to dst (mode as for fs_copy). Atomic where
   FS_CAP_RENAME_ATOMIC is set, else a copy followed by a delete. Returns as
   fs_copy(). */
int fs_rename(struct fs_file *src, struct fs_file *dst);

/* ------------------------------------------------------------------------ */
/* Listing                                                                    */

enum fs_iter_flags {
	/* One level below prefix: keys and "common prefixes" (ending in '/') as
	   S3's delimiter '/' gives them. Without it, every key under prefix. */
	FS_ITER_FLAG_ONE_LEVEL = 1u << 0,
	/* fs_iter_next() may return -EAGAIN. */
	FS_ITER_FLAG_ASYNC = 1u << 1,
};

/* Starts listing the keys that begin with prefix (a plain string prefix, as
   on S3; "" for all, "a/" for what is under a/). Keys come in ascending byte
   order; pagination is hidden. Returns 0 and sets *iter_r, -EINVAL (prefix
   with control bytes or over FS_KEY_MAX) or -ENOTSUP (no FS_CAP_ITER). */
int fs_iter_init(struct fs *fs, const char *prefix, unsigned int flags,
		 struct fs_iter **iter_r);

/* Gets the next key (valid until the next call). Returns 1 and sets *key_r,
   0 at the end, -EAGAIN (ASYNC) when the next page is not here yet, or -errno
   (the listing then stops). */
int fs_iter_next(struct fs_iter *iter, const char **key_r);

/* Returns the message of the last failure on this iterator, or "". */
const char *fs_iter_last_error(struct fs_iter *iter);

/* Frees the iterator. Returns 0 if the listing ran without error, else the
   -errno it failed with. */
int fs_iter_deinit(struct fs_iter **iter);

/* Deletes every key that begins with prefix (a plain string prefix as for
   fs_iter_init(); "" deletes everything, so it is refused with -EINVAL unless
   prefix is non-empty). Uses the backend's batch delete where it has one
   (S3 DeleteObjects), else lists and deletes key by key. Blocking. Returns the
   number of keys deleted (>= 0), or -errno on the first failure (keys deleted
   before it stay deleted); the message is in fs_last_error(fs). */
int fs_delete_prefix(struct fs *fs, const char *prefix);

/* ------------------------------------------------------------------------ */
/* Asynchronous use                                                           */

/*
 * A file opened with FS_OPEN_FLAG_ASYNC (or an iterator with
 * FS_ITER_FLAG_ASYNC) lets its operations return -EAGAIN: the operation has
 * started and runs while the application drives fs_wait_async(). When it has
 * progressed, the callback set on the handle is called (from inside
 * fs_wait_async(), never from the starting call); the application then calls
 * the same function again with the same arguments to get the result, or
 * -EAGAIN again if it needs more. An operation that can finish at once
 * returns its result directly and does not call the callback. Only one
 * operation per handle is in flight at a time; starting another one on a
 * handle whose operation is pending returns -EBUSY.
 *
 * The blocking calls are these same operations plus a wait.
 */
typedef void fs_callback_t(void *context);

/* Sets the callback called when an asynchronous operation on file progresses.
 */
void fs_file_set_callback(struct fs_file *file, fs_callback_t *callback,
			  void *context);

/* Sets the callback called when an asynchronous iterator has more to give. */
void fs_iter_set_callback(struct fs_iter *iter, fs_callback_t *callback,
			  void *context);

/* Drives all pending asynchronous work of the stack, calling callbacks, until
   nothing is pending or timeout_ms passes (negative: no limit; 0: run what is
   ready without blocking). Returns the number of operations still pending
   (0 when all is done), or -errno if the event loop itself failed. */
int fs_wait_async(struct fs *fs, int timeout_ms);

/* As fs_wait_async(), but also returns as soon as at least one operation
   started on this fs progressed (its callback was called), so that an
   application keeping N operations in flight can start the next one at once.
   Returns the number of operations still pending, or -errno. */
int fs_wait_async_any(struct fs *fs, int timeout_ms);

/* Returns the number of asynchronous operations pending on the stack. */
unsigned int fs_async_pending(struct fs *fs);

/* ------------------------------------------------------------------------ */
/* Statistics                                                                 */

enum fs_op {
	FS_OP_READ,  /* a whole read stream, open to end or abandon */
	FS_OP_WRITE, /* a whole write, from first byte to finish */
	FS_OP_STAT,
	FS_OP_EXISTS,
	FS_OP_METADATA, /* fs_file_get_metadata*() */
	FS_OP_DELETE,
	FS_OP_COPY,
	FS_OP_RENAME,
	FS_OP_ITER, /* one listing, init to end */
	FS_OP_REVALIDATE,
	FS_OP_COUNT
};

/* Latency histogram: bucket i counts operations that took less than 2^i
   microseconds (and at least 2^(i-1)); the last bucket takes the rest. */
#define FS_LATENCY_BUCKETS 32

struct fs_op_stats {
	uint64_t count;	 /* operations completed, successful or not */
	uint64_t errors; /* of which failed (ENOENT/EEXIST outcomes excluded) */
	uint64_t retries; /* extra attempts the driver made */
	uint64_t bytes;	  /* payload bytes moved */
	uint64_t usecs;	  /* total latency */
	uint64_t latency[FS_LATENCY_BUCKETS];
};

struct fs_stats {
	struct fs_op_stats ops[FS_OP_COUNT];
	/* Cache layers; zero elsewhere. */
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t cache_revalidations;
	uint64_t cache_evictions;
	uint64_t cache_bytes;
	/* Faults layers: failures injected. */
	uint64_t faults_injected;
};

/* Copies the statistics of the layer at depth (0 = top) into *stats_r.
   Returns 0, or -ENOENT if the stack is not that deep. */
int fs_stats_get(struct fs *fs, unsigned int depth, struct fs_stats *stats_r);

/* Zeroes the statistics of every layer (cache_bytes, the bytes a cache
   holds now, stays). */
void fs_stats_reset(struct fs *fs);

/* Returns the latency in microseconds below which the fraction q (0..1) of
   the operations counted in *st completed (upper bucket bound), 0 if none. */
uint64_t fs_op_stats_percentile(const struct fs_op_stats *st, double q);

/* Returns the name of an operation, e.g. "read", or "?" if unknown. */
const char *fs_op_name(enum fs_op op);

/* Returns the symbolic name of an errno value (positive or negative), e.g.
   "ENOENT", or "E?" for unknown ones. */
const char *fs_errno_name(int err);

#ifdef __cplusplus
}
#endif

#endif
