/*
 * posix driver internals, shared by the files of drivers/posix/ only.
 *
 * The syscall work of every operation runs on a struct posix_obj (a key's
 * state) or a struct posix_iter walk, never on the core's handles: it writes
 * its error message into a struct posix_err, and the method the core called
 * sets it on the handle. So the same code runs on the caller's thread (files
 * opened without FS_OPEN_FLAG_ASYNC) and on a worker thread (ASYNC files),
 * with the same results and the same messages.
 */
#ifndef LIBFS_POSIX_PRIVATE_H
#define LIBFS_POSIX_PRIVATE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <libfs/driver.h>

/* Cross-file helpers stay inside the library. */
#if defined(__GNUC__) || defined(__clang__)
#define POSIX_HIDDEN __attribute__((visibility("hidden")))
#else
#define POSIX_HIDDEN
#endif

#define POSIX_XATTR_PREFIX "user.libfs."
#define POSIX_TEMP_PREFIX FS_RESERVED_PREFIX "tmp."
#define POSIX_TEMP_NAME_MAX 64
#define POSIX_BUF_SIZE (64 * 1024)
/* Attempts when a concurrent delete removes a directory we just made. */
#define POSIX_RETRIES 16
#define POSIX_XATTR_LIST_MAX 65536
/* Longest message: two keys and an operation's words. */
#define POSIX_MSG_MAX (2 * FS_KEY_MAX + 256)

/* ASYNC handles: worker threads per fs (LIBFS_POSIX_THREADS overrides, 0
   runs everything on the caller's thread), the read-ahead and write buffer
   of a file, and a listing page. */
#define POSIX_THREADS_DEFAULT 4
#define POSIX_THREADS_MAX 64
#define POSIX_READ_CHUNK (128 * 1024)
#define POSIX_WRITE_CHUNK (128 * 1024)
#define POSIX_WRITE_FIRST (16 * 1024)
#define POSIX_PAGE_BYTES (64 * 1024)
#define POSIX_PAGE_KEYS 1000

/* An operation's error message, formatted where the work ran. */
struct posix_err {
	bool set;
	char msg[POSIX_MSG_MAX];
};

/* ------------------------------------------------------------------------ */
/* Worker threads                                                             */

enum posix_job_kind {
	POSIX_JOB_NONE,
	POSIX_JOB_READ,
	POSIX_JOB_WRITE,
	POSIX_JOB_FINISH,
	POSIX_JOB_STAT,
	POSIX_JOB_EXISTS,
	POSIX_JOB_METADATA,
	POSIX_JOB_DELETE,
	POSIX_JOB_COPY,
	POSIX_JOB_RENAME,
	POSIX_JOB_PAGE,
};

struct posix_job;
typedef void posix_job_fn(struct posix_job *job);

/*
 * One request of a file or iterator (each has one, so at most one request
 * per handle is in flight). The caller's thread fills it and starts it; a
 * worker runs fn, which touches only the driver state of that handle; the
 * caller's thread collects the result once it is done.
 */
struct posix_job {
	/* pool-private, under the pool's lock */
	struct posix_job *prev, *next;
	int state;

	enum posix_job_kind kind;
	posix_job_fn *fn;
	ssize_t ret; /* the worker's result */

	/* caller's thread only */
	bool busy;	      /* started, result not collected */
	struct fs_file *file; /* whose progress it reports */
	struct fs_iter *iter;
};

struct posix_job_list {
	struct posix_job *head, *tail;
	unsigned int count;
};

struct posix_pool {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stop */
	pthread_cond_t done; /* a job finished (for cancelling waiters) */
	struct posix_job_list todo, done_list;
	pthread_t threads[POSIX_THREADS_MAX];
	unsigned int nthreads, idle, cancel_waiters;
	bool stop;
	int efd; /* eventfd: the done list became non-empty */
};

struct posix_fs {
	struct fs fs;
	char *root;
	int root_fd;
	bool openat2;
	bool xattr;
	/* ASYNC handles: threads to use, the pool once started, and jobs
	   started and not yet reaped or collected (caller's thread). */
	unsigned int max_threads;
	struct posix_pool *pool;
	unsigned int jobs_pending;
};

/* ------------------------------------------------------------------------ */
/* Files                                                                      */

/*
 * A key's state. Only the driver touches it: a worker while the handle's
 * request runs, the caller's thread otherwise.
 */
struct posix_obj {
	struct posix_fs *pfs;
	char *key; /* a copy of the handle's key */
	/* The key's last segment, and the length of what comes before its
	   '/' (0 for keys directly in the root). */
	const char *base;
	size_t dir_len;
	unsigned int mode, flags;

	/* Reading: the range, copied from the handle at each read. */
	int fd;
	uint64_t read_pos, range_offset, range_length;

	/* Writing: the key's directory and the temporary file in it, and the
	   metadata to store at finish (NULL: none). */
	int dir_fd;
	int tmp_fd;
	bool dirs_created, md_written;
	char tmp_name[POSIX_TEMP_NAME_MAX];
	const struct fs_metadata_list *write_md;
	/* Metadata loaded by get_metadata, moved to the handle after. */
	struct fs_metadata_list md_in;

	struct posix_err err;
};

struct posix_file {
	struct fs_file file;
	struct posix_obj o;
	bool async;

	/* ASYNC files: the request and its arguments and results. */
	struct posix_job job;
	struct fs_stat st;
	char src_key[FS_KEY_MAX + 1];
	struct fs_metadata_list md_copy; /* write_md at finish */
	/* Read ahead: rbuf[rpos, rlen) not returned yet; reof when the
	   object ends after it. A read request's worker fills rbuf, rlen and
	   reof. */
	char *rbuf;
	size_t rpos, rlen;
	bool reof;
	/* Write buffer: wbuf[0, wlen) taken, not written yet; werr is the
	   deferred failure of a chunk written in the background. */
	char *wbuf;
	size_t wlen, walloc;
	int werr;
	char *werr_msg;
};

/* ------------------------------------------------------------------------ */
/* Listing                                                                    */

/*
 * One directory's names, sorted, per level of the current path;
 * directories carry a trailing '/' so that strcmp() order is the byte order
 * of the full keys.
 */
struct posix_level {
	char **names;
	size_t count, alloc, pos;
	size_t path_len; /* iter->path[0..path_len) is this directory, "a/b/" */
};

/* ASYNC iterators: keys listed by a worker, NUL-terminated one after the
   other; end is what follows the last (1: more, 0: the end, -errno). */
struct posix_page {
	char *keys;
	size_t used, pos;
	int end;
};

struct posix_iter {
	struct fs_iter iter;
	struct posix_fs *pfs;
	char *prefix; /* a copy of the handle's */
	bool one_level;
	struct posix_level *levels;
	size_t depth, alloc;
	bool started, empty;
	/* The directory the prefix is fully inside, and the rest of the prefix
	   the names listed there must begin with. */
	size_t start_len;
	const char *match;
	size_t match_len;
	/* The current directory followed by the current name. */
	char path[FS_KEY_MAX + NAME_MAX + 2];
	struct posix_err err;

	/* ASYNC iterators: keys are served from pages[serve] while a worker
	   fills the other one. */
	struct posix_job job;
	struct posix_page pages[2];
	unsigned int serve;
	bool ready; /* the other page is listed, not served yet */
};

/* What a path turned out to hold where its lookup failed. */
enum posix_kind {
	POSIX_KIND_MISSING,
	POSIX_KIND_DIR,
	POSIX_KIND_OBJECT,
	POSIX_KIND_SYMLINK,
	POSIX_KIND_OTHER,
};

static inline struct posix_fs *posix_fs_of(struct fs *fs)
{
	return FS_CONTAINER_OF(fs, struct posix_fs, fs);
}

static inline struct posix_file *posix_file_of(struct fs_file *file)
{
	return FS_CONTAINER_OF(file, struct posix_file, file);
}

static inline struct posix_iter *posix_iter_of(struct fs_iter *iter)
{
	return FS_CONTAINER_OF(iter, struct posix_iter, iter);
}

/* --- posix-path.c --- */

/* Sets pfs->openat2: whether openat2() works here (and is not disabled). */
POSIX_HIDDEN void posix_probe_openat2(struct posix_fs *pfs);
/* Opens path ("" or "." for the root itself) beneath the root without
   following any symlink. Returns the fd or the raw -errno: -ELOOP, -EXDEV or
   -ENOTDIR when a symlink or a non-directory was in the way. */
POSIX_HIDDEN int posix_open_beneath(struct posix_fs *pfs, const char *path,
				    int flags, mode_t mode);
/* True for a segment that can be a key's: not empty, ".", ".." or too long. */
POSIX_HIDDEN bool posix_segment_ok(const char *seg, size_t len);
POSIX_HIDDEN enum posix_kind posix_kind_of(mode_t mode);
/* Finds the first segment of path that is not a directory; returns what it
   is and sets *len_r to the length of path up to and including it. */
POSIX_HIDDEN enum posix_kind posix_classify(struct posix_fs *pfs,
					    const char *path, size_t *len_r);
/* Sets *base_r to key's last segment and *dir_len_r to the length before
   its '/' (0 in the root). */
POSIX_HIDDEN void posix_key_split(const char *key, const char **base_r,
				  size_t *dir_len_r);
/* Copies key[0..dir_len) into buf (FS_KEY_MAX + 1 bytes). */
POSIX_HIDDEN const char *posix_dir_path(const char *key, size_t dir_len,
					char *buf);

/* strerror() for any thread: the string stays until the next call in the
   same thread. */
POSIX_HIDDEN const char *posix_strerror(int err);
/* Formats the message into e and returns err. */
POSIX_HIDDEN int posix_fail(struct posix_err *e, int err, const char *fmt, ...)
	FS_PRINTF(3, 4);
/* Sets e's message (if any) on the handle when ret is a failure; clears e.
   Returns ret. */
POSIX_HIDDEN ssize_t posix_file_result(struct fs_file *file,
				       struct posix_err *e, ssize_t ret);
POSIX_HIDDEN int posix_iter_result(struct fs_iter *iter, struct posix_err *e,
				   int ret);

/* The message of a failed lookup of key (raw -errno in); of a failed write
   step op of o (positive errno in); of something in the way of o's write
   (kind of path[0..len)). They return the error. */
POSIX_HIDDEN int posix_lookup_error(struct posix_obj *o, const char *op,
				    const char *key, int err);
POSIX_HIDDEN int posix_write_error(struct posix_obj *o, const char *op,
				   int err);
POSIX_HIDDEN int posix_conflict_error(struct posix_obj *o, enum posix_kind kind,
				      const char *path, size_t len);

/* write() all of data. Returns 0 or -errno. */
POSIX_HIDDEN int posix_write_full(int fd, const void *data, size_t size);
/* fsync() of the directory behind an O_PATH fd. Returns 0 or -errno. */
POSIX_HIDDEN int posix_fsync_dir(int dir_fd);
/* A new ".libfs-tmp.<random>" name (POSIX_TEMP_NAME_MAX bytes). */
POSIX_HIDDEN void posix_temp_name(char *buf);
/* Removes empty directories from key[0..dir_len) up to, not including, the
   root. */
POSIX_HIDDEN void posix_prune_dirs(struct posix_fs *pfs, const char *key,
				   size_t dir_len);

/* --- posix.c: the worker threads --- */

/* Starts job with fn on a worker. Returns -EAGAIN, or 0 when it ran at once
   on this thread (no worker could take it): its result is then ready. */
POSIX_HIDDEN int posix_job_start(struct posix_fs *pfs, struct posix_job *job,
				 enum posix_job_kind kind, posix_job_fn *fn);
/* Takes a busy job's result if it is done: returns true (job no longer busy)
   or false while it runs. */
POSIX_HIDDEN bool posix_job_claim(struct posix_fs *pfs, struct posix_job *job);
/* Takes a busy job back: unqueued if no worker took it yet, else waited for
   (its syscalls are local and bounded). No completion is reported after. */
POSIX_HIDDEN void posix_job_cancel(struct posix_fs *pfs, struct posix_job *job);
/* Runs a busy job to its end (on this thread if no worker took it yet);
   its completion is still reported by wait_async. */
POSIX_HIDDEN void posix_job_settle(struct posix_fs *pfs, struct posix_job *job);
/* Starts a job that does nothing, so that wait_async reports progress of
   the handle (after a request the core waited for was taken back). */
POSIX_HIDDEN void posix_job_kick(struct posix_fs *pfs, struct posix_job *job);

/* --- posix-ops.c --- */

/* Opens key as a regular file for reading into *fd_r. Returns 0 or an
   error with its message in o. */
POSIX_HIDDEN int posix_open_object(struct posix_obj *o, const char *op,
				   const char *key, int *fd_r);
/* Frees an ASYNC file's request slot for kind: 1 when the request done is
   of kind (its result in file->job.ret), 0 when the slot is free (a
   background read-ahead or chunk collected), -EAGAIN while one runs. */
POSIX_HIDDEN int posix_file_slot(struct posix_file *file,
				 enum posix_job_kind kind);
POSIX_HIDDEN ssize_t posix_read(struct fs_file *file, void *buf, size_t size);
/* Keeps what a finished read-ahead read, for the next fs_read(). */
POSIX_HIDDEN void posix_read_collect(struct posix_file *file);
/* Closes the object and frees the read-ahead buffer. */
POSIX_HIDDEN void posix_read_free(struct posix_file *file);
POSIX_HIDDEN int posix_stat(struct fs_file *file, struct fs_stat *st_r);
POSIX_HIDDEN int posix_exists(struct fs_file *file);
POSIX_HIDDEN int posix_get_metadata(struct fs_file *file);
POSIX_HIDDEN int posix_delete(struct fs_file *file);
POSIX_HIDDEN int posix_copy(struct fs_file *src, struct fs_file *dst);
POSIX_HIDDEN int posix_rename(struct fs_file *src, struct fs_file *dst);
/* The result of an ASYNC file's one-shot operation kind: -EAGAIN while it
   runs (started now, with src_key copied if not NULL, if it was not), else
   its result. */
POSIX_HIDDEN ssize_t posix_file_async(struct posix_file *file,
				      enum posix_job_kind kind,
				      posix_job_fn *fn, const char *src_key);

/* --- posix-write.c --- */

/* Opens the key's directory, creating it where missing. Returns the O_PATH
   fd, the raw -ENOENT when a concurrent delete got in between (retry), or
   an error with its message in o. */
POSIX_HIDDEN int posix_dir_open(struct posix_obj *o);
/* Creates the temporary file. Returns 0 or an error. */
POSIX_HIDDEN int posix_write_begin(struct posix_obj *o);
/* Closes and removes what an unfinished write of o made. */
POSIX_HIDDEN void posix_obj_abort(struct posix_obj *o);
/* Publishes the filled temporary file as o's mode says. Returns 0 or an
   error. */
POSIX_HIDDEN int posix_publish(struct posix_obj *o);
/* Checks what is at base in dir_fd: -EACCES for a symlink, -EEXIST for a
   directory or (exists_ok false) an object. Returns 1 if an object is
   there, 0 if nothing, or an error. */
POSIX_HIDDEN int posix_check_target(struct posix_obj *o, int dir_fd,
				    const char *base, bool exists_ok);
/* Copies the user.libfs.* xattrs of src_fd to dst_fd. */
POSIX_HIDDEN int posix_md_copy(struct posix_obj *o, int src_fd, int dst_fd);
POSIX_HIDDEN ssize_t posix_write(struct fs_file *file, const void *data,
				 size_t size);
POSIX_HIDDEN int posix_write_finish(struct fs_file *file);
POSIX_HIDDEN void posix_write_abort(struct fs_file *file);
/* Frees the buffer of a chunk written in the background; keeps its failure
   for the next fs_write() or fs_write_finish(). */
POSIX_HIDDEN void posix_write_collect(struct posix_file *file);

/* --- posix-iter.c --- */

POSIX_HIDDEN int posix_iter_init(struct fs_iter *iter);
POSIX_HIDDEN int posix_iter_next(struct fs_iter *iter, const char **key_r);
POSIX_HIDDEN void posix_iter_deinit(struct fs_iter *iter);

#endif
