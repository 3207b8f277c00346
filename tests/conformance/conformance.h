/*
 * The libfs conformance suite: one set of tests, run over any storage stack
 * named by a spec string. Tests decide by capability bits, never by driver
 * name.
 */
#ifndef CONFORMANCE_H
#define CONFORMANCE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "libfs/fs.h"

#if defined(__GNUC__) || defined(__clang__)
#define CONF_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CONF_PRINTF(fmt, args)
#endif

#define CONF_KIB ((uint64_t)1024)
#define CONF_MIB ((uint64_t)1024 * 1024)
/* Default stream chunk, and the size of the scratch buffers. */
#define CONF_CHUNK (64 * 1024)
#define CONF_BUF_SIZE (256 * 1024)
#define CONF_MAX_OPEN 64
#define CONF_KEY_BUFS 16

/* A growable array of malloc'ed strings. */
struct conf_strv {
	char **v;
	size_t count, alloc;
};

/* The state of one test: a fresh fs and a unique key prefix. */
struct conf {
	struct fs *fs;
	unsigned int caps;
	char prefix[64];
	/* Handles opened through conf_open()/conf_iter_open(); teardown frees
	   what a failed test left open. */
	struct fs_file *files[CONF_MAX_OPEN];
	struct fs_iter *iters[CONF_MAX_OPEN];
	/* Keys handed out, deleted at teardown when the stack cannot list. */
	struct conf_strv written;
	/* Memory from conf_alloc(), freed at teardown. */
	void **allocs;
	size_t allocs_count, allocs_alloc;
	unsigned char *wbuf, *rbuf;
	char keys[CONF_KEY_BUFS][FS_KEY_MAX * 2];
	unsigned int next_key;
};

/* conformance.c: runs the suite as "conformance SPEC [TEST-GLOB]" from argv
   (main.c, or harness.c for a server in the same process). Returns the exit
   code: 0 when every test passed, 1 if not, 2 for a usage error. */
int conformance_main(int argc, char **argv);

/* Set by conformance_main(). */
extern const char *conf_spec;
/* The settings the suite opens its stacks with: the defaults, except for
   a CA file from LIBFS_CONF_CA_FILE (a TLS server with its own CA, as in
   tests/interop/apache-dav.sh). NULL when there is nothing to set. */
const struct fs_settings *conf_settings(void);
extern uint64_t conf_big_size;
extern const char *conf_tmpdir;

/* --- support.c --- */

int conf_setup(void **state);
int conf_teardown(void **state);

/* Fails the test at src:line with a printf message. */
void conf_fail_at(const char *src, int line, const char *fmt, ...)
	CONF_PRINTF(3, 4);
#define CONF_FAIL(...) conf_fail_at(__FILE__, __LINE__, __VA_ARGS__)

/* Fails unless got == expected, printing both with errno names, the key and
   the handle's last error. */
void conf_check_ret(const char *src, int line, const char *expr, long long got,
		    long long expected, const char *key, const char *error);

#define CHECK_FILE(expr, expected, file)                                       \
	do {                                                                   \
		struct fs_file *cf_ = (file);                                  \
		long long got_ = (long long)(expr);                            \
		conf_check_ret(__FILE__, __LINE__, #expr, got_,                \
			       (long long)(expected),                          \
			       cf_ != NULL ? fs_file_key(cf_) : NULL,          \
			       cf_ != NULL ? fs_file_last_error(cf_) : NULL);  \
	} while (0)

#define CHECK_FS(expr, expected, c, key)                                       \
	do {                                                                   \
		long long got_ = (long long)(expr);                            \
		conf_check_ret(__FILE__, __LINE__, #expr, got_,                \
			       (long long)(expected), (key),                   \
			       fs_last_error((c)->fs));                        \
	} while (0)

#define CHECK_ITER(expr, expected, iter)                                       \
	do {                                                                   \
		struct fs_iter *ci_ = (iter);                                  \
		long long got_ = (long long)(expr);                            \
		conf_check_ret(__FILE__, __LINE__, #expr, got_,                \
			       (long long)(expected), NULL,                    \
			       ci_ != NULL ? fs_iter_last_error(ci_) : NULL);  \
	} while (0)

/* Prints why and skips the test unless the stack has all caps. */
void conf_require(struct conf *c, unsigned int caps, const char *what);

/* Returns prefix + the formatted name in a ring of CONF_KEY_BUFS buffers. */
const char *conf_key(struct conf *c, const char *fmt, ...) CONF_PRINTF(2, 3);
/* Returns zeroed memory freed at teardown. */
void *conf_alloc(struct conf *c, size_t size);
char *conf_strdup(struct conf *c, const char *str);
/* Escapes control and non-ASCII bytes for messages (static buffer). */
const char *conf_escape(const char *str);

int conf_try_open(struct conf *c, const char *key, unsigned int mode_flags,
		  struct fs_file **file_r);
struct fs_file *conf_open(struct conf *c, const char *key,
			  unsigned int mode_flags);
void conf_close(struct conf *c, struct fs_file **file);
struct fs_iter *conf_iter_open(struct conf *c, const char *prefix,
			       unsigned int flags);
/* Closes the iterator and returns what fs_iter_deinit() returned. */
int conf_iter_close(struct conf *c, struct fs_iter **iter);

/* Deterministic data: byte i of stream seed, random access. */
void conf_gen(uint64_t seed, uint64_t offset, void *buf, size_t size);
/* Returns the index of the first byte that differs from the stream, or -1. */
long long conf_gen_mismatch(uint64_t seed, uint64_t offset, const void *buf,
			    size_t size);

/* Streams size generated bytes into file; chunk sizes cycle through chunks
   (NULL: CONF_CHUNK). Does not finish. */
void conf_write_gen(struct conf *c, struct fs_file *file, uint64_t seed,
		    uint64_t size, const size_t *chunks, size_t nchunks);
/* Reads file to the end, comparing with stream seed from offset; read sizes
   cycle through sizes (NULL: CONF_CHUNK). Returns the byte count. */
uint64_t conf_read_gen(struct conf *c, struct fs_file *file, uint64_t seed,
		       uint64_t offset, const size_t *sizes, size_t nsizes);

/* Whole-object helpers, asserting success. */
void conf_put(struct conf *c, const char *key, const void *data, size_t size);
void conf_put_str(struct conf *c, const char *key, const char *str);
void conf_put_gen(struct conf *c, const char *key, uint64_t seed,
		  uint64_t size);
void conf_expect_data(struct conf *c, const char *key, const void *data,
		      size_t size);
void conf_expect_str(struct conf *c, const char *key, const char *str);
void conf_expect_gen(struct conf *c, const char *key, uint64_t seed,
		     uint64_t size);
void conf_expect_size(struct conf *c, const char *key, uint64_t size);
/* Returns fs_file_exists() of key (asserting it is 0 or 1). */
int conf_exists(struct conf *c, const char *key);
void conf_expect_missing(struct conf *c, const char *key);
void conf_delete(struct conf *c, const char *key);
/* Reads the whole object: returns fs_read_all()'s result. */
int conf_get(struct conf *c, const char *key, void **data_r, size_t *size_r);

/* String arrays. */
void conf_strv_add(struct conf_strv *sv, const char *str);
void conf_strv_addn(struct conf_strv *sv, const char *str, size_t len);
void conf_strv_sort_unique(struct conf_strv *sv);
void conf_strv_clear(struct conf_strv *sv);
/* Fails (printing the first difference) unless got equals expected. */
void conf_strv_expect(const struct conf_strv *got,
		      const struct conf_strv *expected, const char *what);

/* Lists prefix into *out (appending), asserting success. */
void conf_list(struct conf *c, const char *prefix, unsigned int flags,
	       struct conf_strv *out);
/* The listing that keys (sorted or not) must give for prefix and flags. */
void conf_expected_listing(const struct conf_strv *keys, const char *prefix,
			   unsigned int flags, struct conf_strv *out);
/* Fails unless listing prefix (flat and one level) gives exactly keys. */
void conf_expect_listing(struct conf *c, const char *prefix,
			 const struct conf_strv *keys);

/* Resets the peak RSS and returns the current RSS in bytes (-1 unknown). */
long long conf_rss_mark(void);
/* Returns the peak RSS in bytes since the last mark (-1 unknown). */
long long conf_rss_peak(void);
/* Wall clock in nanoseconds since the epoch, and monotonic milliseconds. */
int64_t conf_now_ns(void);
uint64_t conf_mono_ms(void);

/* Creates TMPDIR/libfs-conf-TAG-XXXXXX (TAG NULL: libfs-conf-XXXXXX; /tmp
   without TMPDIR). Returns its path, to free with conf_tmpdir_remove(), or
   NULL after printing why. */
char *conf_tmpdir_create(const char *tag);
/* Removes the directory and all below it, frees the path and sets *dir to
   NULL. Accepts NULL. */
void conf_tmpdir_remove(char **dir);

/* --- jobs.c: drives many asynchronous operations at once --- */

enum conf_step {
	CONF_STEP_MORE = 1, /* progressed: call the step again */
	CONF_STEP_DONE = 2, /* finished: the result is in job->ret */
};

struct conf_job;
/* Returns CONF_STEP_MORE, CONF_STEP_DONE or -EAGAIN (wait for callback). */
typedef int conf_step_fn(struct conf_job *job);

struct conf_job {
	struct conf *c;
	struct fs_file *file, *src;
	struct fs_iter *iter;
	conf_step_fn *step;
	bool waiting, done, mismatch;
	int ret;
	unsigned int eagain, callbacks;
	uint64_t seed, size, pos;
	size_t chunk, buf_len, buf_off;
	unsigned char *buf;
	struct fs_stat st;
	const char *md_value;
	struct conf_strv keys;
};

/* Callback counters, checked by the async tests. */
extern unsigned int conf_callbacks_total, conf_callbacks_outside_wait;
/* The most jobs that waited for their callbacks at the same time. */
extern size_t conf_jobs_max_waiting;

void conf_job_callback(void *context);
/* Runs the steps of all jobs until all are done, waiting with
   fs_wait_async() when every unfinished job waits for its callback. */
void conf_jobs_run(struct conf *c, struct conf_job *jobs, size_t count);

int conf_step_write(struct conf_job *job);
int conf_step_read(struct conf_job *job);
int conf_step_read_all(struct conf_job *job);
int conf_step_stat(struct conf_job *job);
int conf_step_exists(struct conf_job *job);
int conf_step_delete(struct conf_job *job);
int conf_step_metadata(struct conf_job *job);
int conf_step_copy(struct conf_job *job);
int conf_step_iter(struct conf_job *job);

/* --- The tests --- */

/* test_io.c */
void test_roundtrip_sizes(void **state);
void test_big_stream(void **state);
void test_whole_object_helpers(void **state);
void test_odd_chunks(void **state);
void test_create_replace(void **state);
void test_abort(void **state);
void test_range_reads(void **state);
void test_range_misuse(void **state);
void test_stat(void **state);
void test_missing_key(void **state);
void test_two_replace_writers(void **state);
void test_two_create_writers(void **state);
void test_reader_isolation(void **state);
void test_append(void **state);
void test_fsync_flag(void **state);

/* test_keys.c */
void test_special_keys(void **state);
void test_key_limits(void **state);
void test_invalid_keys(void **state);
void test_prefix_is_not_object(void **state);

/* test_list.c */
void test_list_2500(void **state);
void test_list_prefix_boundary(void **state);
void test_list_empty(void **state);
void test_list_no_empty_dirs(void **state);
void test_list_impossible_prefix(void **state);
void test_delete_prefix(void **state);
void test_revalidate(void **state);

/* test_meta.c */
void test_metadata(void **state);
void test_metadata_invalid(void **state);
void test_copy(void **state);
void test_rename(void **state);

/* test_async.c */
void test_async_many(void **state);
void test_async_busy_cancel(void **state);

/* test_misc.c */
void test_api_basics(void **state);
void test_stats(void **state);
void test_no_leftovers(void **state);

#endif
