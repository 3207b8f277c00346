/*
 * posix driver internals, shared by the files of drivers/posix/ only.
 */
#ifndef LIBFS_POSIX_PRIVATE_H
#define LIBFS_POSIX_PRIVATE_H

#include <limits.h>
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

struct posix_fs {
	struct fs fs;
	char *root;
	int root_fd;
	bool openat2;
	bool xattr;
};

struct posix_file {
	struct fs_file file;
	/* The key's last segment, and the length of what comes before its
	   '/' (0 for keys directly in the root). */
	const char *base;
	size_t dir_len;

	/* Reading */
	int fd;
	uint64_t read_pos;

	/* Writing: the key's directory and the temporary file in it. */
	int dir_fd;
	int tmp_fd;
	bool dirs_created;
	char tmp_name[POSIX_TEMP_NAME_MAX];
};

/*
 * Listing: one directory's names, sorted, per level of the current path;
 * directories carry a trailing '/' so that strcmp() order is the byte order
 * of the full keys.
 */
struct posix_level {
	char **names;
	size_t count, alloc, pos;
	size_t path_len; /* iter->path[0..path_len) is this directory, "a/b/" */
};

struct posix_iter {
	struct fs_iter iter;
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
/* Copies the key's directory part into buf (FS_KEY_MAX + 1 bytes). */
POSIX_HIDDEN const char *posix_dir_path(struct posix_file *file, char *buf);

/* Set the message on file and return the error: a failed lookup of key (raw
   -errno in); a failed write step op (positive errno in); something in the
   way of a write (kind of path[0..len)). */
POSIX_HIDDEN int posix_lookup_error(struct fs_file *file, const char *op,
				    const char *key, int err);
POSIX_HIDDEN int posix_write_error(struct fs_file *file, const char *op,
				   int err);
POSIX_HIDDEN int posix_conflict_error(struct fs_file *file,
				      enum posix_kind kind, const char *path,
				      size_t len);

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

/* --- posix.c --- */

/* Opens key as a regular file for reading into *fd_r. Returns 0 or an
   error set on errfile. */
POSIX_HIDDEN int posix_open_object(struct fs_file *errfile, const char *op,
				   const char *key, int *fd_r);

/* --- posix-write.c --- */

/* Opens the key's directory, creating it where missing. Returns the O_PATH
   fd, the raw -ENOENT when a concurrent delete got in between (retry), or
   an error set on file. */
POSIX_HIDDEN int posix_dir_open(struct fs_file *file);
/* Creates the temporary file. Returns 0 or an error set on file. */
POSIX_HIDDEN int posix_write_begin(struct fs_file *file);
POSIX_HIDDEN void posix_write_abort(struct fs_file *file);
POSIX_HIDDEN ssize_t posix_write(struct fs_file *file, const void *data,
				 size_t size);
POSIX_HIDDEN int posix_write_finish(struct fs_file *file);
/* Publishes the filled temporary file as file's mode says. Returns 0 or an
   error set on file. */
POSIX_HIDDEN int posix_publish(struct fs_file *file);
/* Checks what is at base in dir_fd: -EACCES for a symlink, -EEXIST for a
   directory or (exists_ok false) an object. Returns 1 if an object is
   there, 0 if nothing, or an error set on file. */
POSIX_HIDDEN int posix_check_target(struct fs_file *file, int dir_fd,
				    const char *base, bool exists_ok);
/* Copies the user.libfs.* xattrs of src_fd to dst_fd. */
POSIX_HIDDEN int posix_md_copy(struct fs_file *dst, int src_fd, int dst_fd);

/* --- posix-ops.c --- */

POSIX_HIDDEN int posix_delete(struct fs_file *file);
POSIX_HIDDEN int posix_copy(struct fs_file *src, struct fs_file *dst);
POSIX_HIDDEN int posix_rename(struct fs_file *src, struct fs_file *dst);

/* --- posix-iter.c --- */

POSIX_HIDDEN int posix_iter_init(struct fs_iter *iter);
POSIX_HIDDEN int posix_iter_next(struct fs_iter *iter, const char **key_r);
POSIX_HIDDEN void posix_iter_deinit(struct fs_iter *iter);

#endif
