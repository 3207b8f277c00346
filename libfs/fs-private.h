/*
 * libfs core-private declarations, shared by the files of libfs/ and reachable
 * from unit tests. Not installed; drivers use only driver.h.
 */
#ifndef LIBFS_FS_PRIVATE_H
#define LIBFS_FS_PRIVATE_H

#include "libfs/driver.h"

/* What is in flight on a file (file->call_id). */
enum fs_call_id {
	CALL_NONE = 0,
	CALL_READ,
	CALL_WRITE,
	CALL_FINISH,
	CALL_STAT,
	CALL_EXISTS,
	CALL_METADATA,
	CALL_DELETE,
	CALL_COPY,
	CALL_RENAME,
	CALL_REVALIDATE,
};

/* Stacks driver (a layer, or a leaf when parent is NULL) with args over
   parent, with the parent's settings (defaults for a leaf). Returns 0 and sets
   *fs_r, which then owns parent (fs_deinit() frees both); or -errno, then
   *fs_r is NULL, the caller still owns parent and the message is in
   fs_init_last_error(). Used by fs_init() and by tests. */
int fs_init_layer(const struct fs_driver *driver, const char *args,
		  struct fs *parent, struct fs **fs_r);

/* The message of the last failed fs_init()/fs_init_layer() in this thread. */
const char *fs_init_last_error(void);

/* One round of the asynchronous loop: the bottom-most layer with a
   wait_async blocks up to timeout_ms, every other one runs with timeout 0.
   Returns 0, -EIO if no layer can drive anything, or the driver's -errno. */
int fs_async_round(struct fs *fs, int timeout_ms);

/* Statistics: counts one finished operation of op on fs that started at
   start_usec, moved bytes and ended with result (< 0: -errno). */
void fs_stats_record(struct fs *fs, enum fs_op op, uint64_t start_usec,
		     uint64_t bytes, int result);
/* The histogram bucket of a latency. */
unsigned int fs_latency_bucket(uint64_t usecs);

/* Metadata lists. */
/* Sum of the lengths of all names and values. */
size_t fs_metadata_list_size(const struct fs_metadata_list *list);

/* Returns true if [s, s+len) is valid UTF-8 (no overlong forms, surrogates or
   code points over U+10FFFF). */
bool fs_utf8_valid(const char *s, size_t len);

/* Registry: true for a scheme libfs knows but this build lacks. */
bool fs_driver_not_built(const char *scheme);

/* Frees a handle's message (set by the fs_*_set_error() family). */
void fs_error_free(char **msg);

#ifdef LIBFS_UNIT_TESTING
/* One more driver fs_driver_lookup() finds: unit tests put a test layer or
   driver here to reach it through fs_init() spec strings. */
extern const struct fs_driver *fs_driver_test_extra;
#endif

/* Thread-safe strerror(). */
const char *fs_strerror(int err, char *buf, size_t size);

/* Copies str into buf for a message: control bytes (and, in invalid UTF-8,
   every byte >= 0x80) become '?', long strings are cut with "...". For keys
   and prefixes that failed validation. */
void fs_printable(const char *str, char *buf, size_t size);

#endif
