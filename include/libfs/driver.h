/*
 * libfs: the interface for driver and layer authors.
 *
 * A driver fills one const struct fs_driver with designated initializers and
 * is listed in the registry (libfs/registry.c). A layer is a driver with
 * .layer = true: the core gives it a parent fs (the rest of the stack below)
 * and it forwards what it does not change with the fs_passthrough_* helpers.
 *
 * Subclass by embedding: a driver's fs, file and iterator structs start with
 * the base struct, the core allocates .fs_size/.file_size/.iter_size bytes
 * zeroed, and the driver recovers its type with FS_CONTAINER_OF.
 *
 * A NULL method means "use the core's fallback": exists -> stat, copy ->
 * read + write, rename -> copy + delete, range reads -> skip and cut (when
 * FS_CAP_RANGE is off), wait_async -> the parent's, metadata -> -ENOTSUP,
 * iteration -> -ENOTSUP.
 *
 * Every method may return -EAGAIN to say "started, not done": the driver then
 * calls fs_file_async_done() (or fs_iter_async_done()) from inside its
 * wait_async when the operation progressed, and the core calls the method
 * again with the same arguments. The core turns this into blocking calls for
 * files opened without FS_OPEN_FLAG_ASYNC. Methods that finish at once just
 * return their result.
 */
#ifndef LIBFS_DRIVER_H
#define LIBFS_DRIVER_H

#include <stdarg.h>

#include "fs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FS_CONTAINER_OF(ptr, type, member)                                     \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Unit tests reach file-static helpers through this (curl's UNITTEST). */
#ifdef LIBFS_UNIT_TESTING
#define FS_STATIC
#else
#define FS_STATIC static
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define FS_PRINTF(fmt, args)
#endif

/* A growable list of name/value pairs owned by the core. */
struct fs_metadata_list {
	struct fs_metadata *items; /* names and values are malloc'ed */
	size_t count, alloc;
};

struct fs {
	const struct fs_driver *driver;
	/* The layer below (NULL for a leaf driver). */
	struct fs *parent;
	/* A private copy of the settings: strings are owned by the fs. */
	struct fs_settings set;
	struct fs_stats stats;
	char *last_error;
	/* Operations of this layer that returned -EAGAIN and are not done. */
	unsigned int async_pending;
	/* Files and iterators still open, to catch leaks at deinit. */
	unsigned int files_open, iters_open;

	/* core-private: bumped by every fs_set_error(). */
	unsigned int error_seq;
	/* core-private: bumped whenever an operation on this layer progressed
	   (fs_file_async_done(), fs_iter_async_done()). */
	unsigned int async_done_seq;
};

struct fs_file {
	struct fs *fs;
	char *key;
	unsigned int mode;  /* enum fs_open_mode */
	unsigned int flags; /* FS_OPEN_FLAG_* */
	/* For layers: the same key opened on fs->parent (see
	   fs_passthrough_file_init()). */
	struct fs_file *parent;

	/* The range of fs_file_set_range(); length UINT64_MAX = to the end. */
	uint64_t range_offset, range_length;
	/* Metadata set for writing, and loaded from the object by
	   fs_file_metadata_add() in the driver's get_metadata. */
	struct fs_metadata_list write_md, read_md;
	bool read_md_loaded;

	/* State kept by the core (core files may append members here). */
	bool read_started, read_eof, write_started, write_done;
	uint64_t skip_left, cut_left; /* range emulation */
	fs_callback_t *callback;
	void *context;
	bool async_pending;
	int op_pending; /* enum fs_op of the pending operation, -1 if none */
	uint64_t op_start_usec, op_bytes;
	char *last_error;

	/* core-private: drivers must not touch these. */
	unsigned int error_seq; /* bumped by every fs_file_set_error() */
	/* The operation in flight (started, result not yet returned to the
	   caller): an internal call id, the error_seq and the time at its
	   start. */
	unsigned int call_id, call_seq;
	uint64_t call_start_usec;
	bool stream_active;	     /* READ or WRITE stats span open */
	bool write_aborted;	     /* fs_write_abort() was called */
	int read_error, write_error; /* sticky stream errors */
	char *read_all_buf;	     /* fs_read_all() across -EAGAIN */
	size_t read_all_size, read_all_alloc;
	/* FS_CAP_READ_STAT: the buffer fs_read_all() needs (object size + 1
	   byte to see the end + the NUL), 0 if unknown; asked once */
	size_t read_all_want;
	bool read_all_sized;
	size_t write_all_offset; /* fs_write_all() across -EAGAIN */
	bool write_all_active;
};

struct fs_iter {
	struct fs *fs;
	char *prefix;
	unsigned int flags;	/* FS_ITER_FLAG_* */
	struct fs_iter *parent; /* for layers */
	fs_callback_t *callback;
	void *context;
	bool async_pending, done;
	int error;
	uint64_t start_usec;
	char *last_error;

	/* core-private: drivers must not touch these. */
	unsigned int error_seq; /* bumped by every fs_iter_set_error() */
	unsigned int call_seq;	/* error_seq when the current call started */
	bool call_active, stats_done;
	bool driver_skipped; /* empty by the core: the driver never saw it */
};

#define FS_DRIVER_VERSION 1

struct fs_vfuncs {
	/* Sets the driver up; on failure it cleans up itself (deinit is not
	   called after a failed init, nor file_deinit after a failed file_init,
	   nor iter_deinit after a failed iter_init). scheme is the name the
	   spec used (e.g. "posix", "file", "dav+https"); args is the rest after
	   "scheme:" (a layer gets its options, "max=64M,validate=etag"; a leaf
	   its location, "/var/mail" or "//bucket/prefix?region=..."). For
	   layers fs->parent is set. */
	int (*init)(struct fs *fs, const char *scheme, const char *args);
	void (*deinit)(struct fs *fs);
	/* FS_CAP_* bits; a layer derives them from fs_get_caps(fs->parent). */
	unsigned int (*get_caps)(struct fs *fs);

	/* No I/O here. key, mode and flags are set on file. */
	int (*file_init)(struct fs_file *file);
	/* Must abort an unfinished write and cancel a pending operation. */
	void (*file_deinit)(struct fs_file *file);

	/* Returns bytes read (> 0), 0 at the end, -EAGAIN or -errno. Drivers
	   with FS_CAP_RANGE honour file->range_offset/range_length themselves.
	 */
	ssize_t (*read)(struct fs_file *file, void *buf, size_t size);
	/* Returns the bytes taken (1..size), -EAGAIN (none taken) or -errno. */
	ssize_t (*write)(struct fs_file *file, const void *data, size_t size);
	int (*write_finish)(struct fs_file *file);
	/* Idempotent; the core also calls it after a failed write or finish. */
	void (*write_abort)(struct fs_file *file);

	int (*stat)(struct fs_file *file, struct fs_stat *st_r);
	int (*exists)(struct fs_file *file);
	/* Loads the stored object's metadata with fs_file_metadata_add(). */
	int (*get_metadata)(struct fs_file *file);
	int (*delete_file)(struct fs_file *file);
	/* Both files are on this fs; errors go on dst. */
	int (*copy)(struct fs_file *src, struct fs_file *dst);
	int (*rename)(struct fs_file *src, struct fs_file *dst);

	int (*iter_init)(struct fs_iter *iter);
	int (*iter_next)(struct fs_iter *iter, const char **key_r);
	void (*iter_deinit)(struct fs_iter *iter);

	/* Drives this layer's pending work for up to timeout_ms (negative:
	   until something completes), calling fs_file_async_done() for what
	   progressed. Must return at once when this layer has nothing in
	   flight, whatever the timeout: the core hands the blocking wait to the
	   bottom-most layer with a wait_async whenever anything in the stack is
	   pending. Returns 0 or -errno. */
	int (*wait_async)(struct fs *fs, int timeout_ms);

	/* Deletes every key under prefix (non-empty, validated by the core) in
	   batches; returns the count deleted or -errno with fs_set_error().
	   NULL: the core lists and deletes key by key. */
	int (*delete_prefix)(struct fs *fs, const char *prefix);

	/* fs_file_revalidate(): 1 unchanged, 0 changed (reads then return the
	   new object), -ENOENT, -EAGAIN or -errno. NULL: the core compares the
	   etag of a stat. */
	int (*revalidate)(struct fs_file *file, const char *etag);

	/* Lowers what fs_get_limits() says (the core sets the FS_* maxima, and
	   clamps to them afterwards). NULL: the parent's for a layer, the
	   maxima for a leaf. */
	void (*get_limits)(struct fs *fs, struct fs_limits *limits);
};

struct fs_driver {
	unsigned int version; /* FS_DRIVER_VERSION */
	const char *name;
	/* Other scheme names this driver answers to, NULL-terminated, or NULL.
	 */
	const char *const *aliases;
	bool layer;
	size_t fs_size, file_size, iter_size;
	struct fs_vfuncs v;
};

/* --- Errors --- */

/* Set the handle's message (printf format) and return err, so that a driver
   writes: return fs_file_set_error(file, -EIO, "PUT %s: HTTP %d", ...). */
int fs_set_error(struct fs *fs, int err, const char *fmt, ...) FS_PRINTF(3, 4);
int fs_file_set_error(struct fs_file *file, int err, const char *fmt, ...)
	FS_PRINTF(3, 4);
int fs_iter_set_error(struct fs_iter *iter, int err, const char *fmt, ...)
	FS_PRINTF(3, 4);
/* Copy the message of a parent handle up to a layer's handle; return err. */
int fs_file_copy_error(struct fs_file *file, const struct fs_file *from,
		       int err);
int fs_iter_copy_error(struct fs_iter *iter, const struct fs_iter *from,
		       int err);

/* --- Asynchronous completion --- */

/* Marks file's pending operation as progressed and calls its callback. */
void fs_file_async_done(struct fs_file *file);
void fs_iter_async_done(struct fs_iter *iter);

/* --- Metadata --- */

/* Adds (or replaces) name=value in the list. Returns 0 or -ENOMEM. */
int fs_metadata_list_set(struct fs_metadata_list *list, const char *name,
			 const char *value);
void fs_metadata_list_clear(struct fs_metadata_list *list);
/* Sorts the list by name (the order applications get). */
void fs_metadata_list_sort(struct fs_metadata_list *list);
/* Returns the value of name, or NULL. */
const char *fs_metadata_list_find(const struct fs_metadata_list *list,
				  const char *name);
/* Copies src into dst (replacing same names). Returns 0 or -ENOMEM. */
int fs_metadata_list_copy(struct fs_metadata_list *dst,
			  const struct fs_metadata_list *src);
/* Do a and b hold the same names with the same values, in any order? */
bool fs_metadata_list_equal(const struct fs_metadata_list *a,
			    const struct fs_metadata_list *b);
/* Adds name=value to the file's loaded metadata (for get_metadata). */
int fs_file_metadata_add(struct fs_file *file, const char *name,
			 const char *value);
/* Returns 0 if name (and value, unless NULL) are valid metadata, -EINVAL. */
int fs_metadata_validate(const char *name, const char *value);

/* --- Statistics --- */

/* Counts one extra attempt (a retry) of op on fs. */
void fs_stats_add_retry(struct fs *fs, enum fs_op op);

/* Monotonic clock in microseconds. */
uint64_t fs_now_usec(void);

/* --- Spec argument helpers --- */

struct fs_kv {
	char *name;
	char *value; /* "" when the argument had no '=' */
};

/* Splits "a=1,b,c=x" at sep into a new array. Returns the count (>= 0) or
   -EINVAL (empty name). Free with fs_kv_free(). */
int fs_kv_split(const char *args, char sep, struct fs_kv **kv_r);
void fs_kv_free(struct fs_kv *kv, int count);
/* "64M", "1G", "512k", "100" -> bytes (binary multiples). Returns 0 or -EINVAL.
 */
int fs_parse_size(const char *str, uint64_t *size_r);
/* "10%", "0.5%", "0.1" -> fraction 0..1. Returns 0 or -EINVAL. */
int fs_parse_fraction(const char *str, double *fraction_r);
/* Decimal unsigned integer without junk. Returns 0 or -EINVAL. */
int fs_parse_uint(const char *str, uint64_t *num_r);
/* The value of a hex digit (either case), or -1: for %XX decoders. */
int fs_hex_value(int c);
/* Decodes %XX escapes of str[0..len) into a new NUL-terminated string (free
   with free()); other bytes are copied. Returns 0, -EINVAL for a malformed
   escape or %00, or -ENOMEM. */
int fs_percent_decode(const char *str, size_t len, char **out_r);

/* --- Passthrough helpers for layers --- */

/*
 * A layer's method that changes nothing calls these: they run the same
 * operation on file->parent (or iter->parent) through the public API, so the
 * parent layer's statistics and fallbacks apply, and copy its error up. The
 * parent file is opened with the layer file's mode and flags (so ASYNC only
 * when the application asked for it), and its completion is forwarded to
 * the layer's file.
 */
unsigned int fs_passthrough_get_caps(struct fs *fs);
int fs_passthrough_file_init(struct fs_file *file);
void fs_passthrough_file_deinit(struct fs_file *file);
ssize_t fs_passthrough_read(struct fs_file *file, void *buf, size_t size);
ssize_t fs_passthrough_write(struct fs_file *file, const void *data,
			     size_t size);
int fs_passthrough_write_finish(struct fs_file *file);
void fs_passthrough_write_abort(struct fs_file *file);
int fs_passthrough_stat(struct fs_file *file, struct fs_stat *st_r);
int fs_passthrough_exists(struct fs_file *file);
int fs_passthrough_revalidate(struct fs_file *file, const char *etag);
int fs_passthrough_get_metadata(struct fs_file *file);
int fs_passthrough_delete(struct fs_file *file);
int fs_passthrough_copy(struct fs_file *src, struct fs_file *dst);
int fs_passthrough_rename(struct fs_file *src, struct fs_file *dst);
int fs_passthrough_iter_init(struct fs_iter *iter);
int fs_passthrough_iter_next(struct fs_iter *iter, const char **key_r);
void fs_passthrough_iter_deinit(struct fs_iter *iter);

/* --- Registry --- */

/* Returns the built-in driver answering to scheme, or NULL. */
const struct fs_driver *fs_driver_lookup(const char *scheme);

/* Drivers of this build. */
extern const struct fs_driver fs_driver_posix;
extern const struct fs_driver fs_driver_mem;

#ifdef __cplusplus
}
#endif

#endif
