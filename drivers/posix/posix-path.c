/*
 * posix: resolving paths beneath the root without following symlinks, the
 * driver's error messages, and small helpers shared by its files.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define POSIX_HAVE_OPENAT2_H 1
#endif
#endif

#include "posix-private.h"

#ifndef POSIX_HAVE_OPENAT2_H
struct open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#endif

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Unit tests set this before fs_init() to exercise the openat() walk. */
FS_STATIC bool posix_disable_openat2;

/* ------------------------------------------------------------------------ */
/* Path resolution                                                            */

static int posix_openat2(struct posix_fs *pfs, const char *path, int flags,
			 mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd;
	int tries = 0;

	/* EAGAIN: a concurrent rename raced with the lookup; retrying is
	   what the kernel asks for. */
	do {
		fd = syscall(SYS_openat2, pfs->root_fd, path, &how,
			     sizeof(how));
	} while (fd < 0 && (errno == EINTR || errno == EAGAIN) &&
		 ++tries < 100);
	return fd < 0 ? -errno : (int)fd;
}

bool posix_segment_ok(const char *seg, size_t len)
{
	if (len == 0 || len > NAME_MAX)
		return false;
	if (seg[0] == '.' && (len == 1 || (len == 2 && seg[1] == '.')))
		return false;
	return true;
}

/* Opens one segment after another with O_NOFOLLOW (no openat2). */
static int posix_walk(struct posix_fs *pfs, const char *path, int flags,
		      mode_t mode)
{
	char name[NAME_MAX + 1];
	const char *seg = path, *slash;
	int dfd = pfs->root_fd, fd, err;

	if (strcmp(path, ".") == 0) {
		fd = openat(dfd, ".", flags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	while ((slash = strchr(seg, '/')) != NULL) {
		size_t len = (size_t)(slash - seg);

		if (!posix_segment_ok(seg, len)) {
			err = -EINVAL;
			goto out;
		}
		memcpy(name, seg, len);
		name[len] = '\0';
		fd = openat(dfd, name,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		err = fd < 0 ? -errno : 0;
		if (dfd != pfs->root_fd)
			close(dfd);
		if (fd < 0)
			return err;
		dfd = fd;
		seg = slash + 1;
	}
	if (!posix_segment_ok(seg, strlen(seg))) {
		err = -EINVAL;
		goto out;
	}
	fd = openat(dfd, seg, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	err = fd < 0 ? -errno : fd;
out:
	if (dfd != pfs->root_fd)
		close(dfd);
	return err;
}

/* Opens path ("" or "." for the root itself) beneath the root without
   following any symlink. Returns the fd or the raw -errno: -ELOOP, -EXDEV or
   -ENOTDIR when a symlink or a non-directory was in the way. */
int posix_open_beneath(struct posix_fs *pfs, const char *path, int flags,
		       mode_t mode)
{
	if (*path == '\0')
		path = ".";
	if (pfs->openat2)
		return posix_openat2(pfs, path, flags, mode);
	return posix_walk(pfs, path, flags, mode);
}

enum posix_kind posix_kind_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return POSIX_KIND_DIR;
	if (S_ISREG(mode))
		return POSIX_KIND_OBJECT;
	if (S_ISLNK(mode))
		return POSIX_KIND_SYMLINK;
	return POSIX_KIND_OTHER;
}

/* Finds the first segment of path that is not a directory and returns what
   it is; *len_r is the length of path up to and including it. Only used to
   explain a failed lookup, so a race here can at worst blur a message. */
enum posix_kind posix_classify(struct posix_fs *pfs, const char *path,
			       size_t *len_r)
{
	char buf[FS_KEY_MAX + 1];
	size_t len = strlen(path), i;
	struct stat st;
	enum posix_kind kind;

	if (len > FS_KEY_MAX)
		len = FS_KEY_MAX;
	memcpy(buf, path, len);
	buf[len] = '\0';
	for (i = 0; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		*len_r = i;
		if (fstatat(pfs->root_fd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return POSIX_KIND_MISSING;
		kind = posix_kind_of(st.st_mode);
		if (kind != POSIX_KIND_DIR)
			return kind;
		buf[i] = '/';
	}
	return POSIX_KIND_DIR;
}

void posix_key_split(const char *key, const char **base_r, size_t *dir_len_r)
{
	const char *slash = strrchr(key, '/');

	*base_r = slash != NULL ? slash + 1 : key;
	*dir_len_r = slash != NULL ? (size_t)(slash - key) : 0;
}

/* Copies key[0..dir_len) into buf (size FS_KEY_MAX + 1). */
const char *posix_dir_path(const char *key, size_t dir_len, char *buf)
{
	memcpy(buf, key, dir_len);
	buf[dir_len] = '\0';
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */

const char *posix_strerror(int err)
{
	static _Thread_local char buf[128];

	if (err < 0)
		err = -err;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(err, buf, sizeof(buf));
#else
	if (strerror_r(err, buf, sizeof(buf)) != 0)
		snprintf(buf, sizeof(buf), "error %d", err);
	return buf;
#endif
}

int posix_fail(struct posix_err *e, int err, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, args);
	va_end(args);
	e->set = true;
	return err;
}

/* -EAGAIN leaves e alone: a worker may be filling it. */
ssize_t posix_file_result(struct fs_file *file, struct posix_err *e,
			  ssize_t ret)
{
	if (ret == -EAGAIN)
		return ret;
	if (ret < 0 && e->set)
		fs_file_set_error(file, (int)ret, "%s", e->msg);
	e->set = false;
	return ret;
}

int posix_iter_result(struct fs_iter *iter, struct posix_err *e, int ret)
{
	if (ret == -EAGAIN)
		return ret;
	if (ret < 0 && e->set)
		fs_iter_set_error(iter, ret, "%s", e->msg);
	e->set = false;
	return ret;
}

/* The error of a failed lookup of key (raw -errno), with its message. */
int posix_lookup_error(struct posix_obj *o, const char *op, const char *key,
		       int err)
{
	enum posix_kind kind = POSIX_KIND_MISSING;
	size_t len = 0;

	if (err == -ELOOP || err == -EXDEV || err == -ENOTDIR)
		kind = posix_classify(o->pfs, key, &len);
	if (kind != POSIX_KIND_SYMLINK)
		len = strlen(key);
	if (kind == POSIX_KIND_SYMLINK || err == -ELOOP || err == -EXDEV)
		return posix_fail(&o->err, -EACCES,
				  "posix: %s '%s': refused to follow the "
				  "symlink '%.*s'",
				  op, key, (int)len, key);
	if (err == -ENOENT || err == -ENOTDIR)
		return posix_fail(&o->err, -ENOENT,
				  "posix: %s '%s': no such object", op, key);
	if (err == -EACCES || err == -EPERM)
		return posix_fail(&o->err, -EACCES, "posix: %s '%s': %s", op,
				  key, posix_strerror(err));
	return posix_fail(&o->err, -EIO, "posix: %s '%s': %s", op, key,
			  posix_strerror(err));
}

static int posix_map_write_errno(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return -ENOSPC;
	case EFBIG:
		return -EFBIG;
	case EACCES:
	case EPERM:
	case EROFS:
		return -EACCES;
	case ENOTSUP:
		return -ENOTSUP;
	case ENOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* The error of a failed write step (err is a positive errno). */
int posix_write_error(struct posix_obj *o, const char *op, int err)
{
	return posix_fail(&o->err, posix_map_write_errno(err),
			  "posix: write '%s': %s: %s", o->key, op,
			  posix_strerror(err));
}

/* Says why o's key cannot be written where the filesystem has kind. */
int posix_conflict_error(struct posix_obj *o, enum posix_kind kind,
			 const char *path, size_t len)
{
	const char *key = o->key;

	if (kind == POSIX_KIND_SYMLINK)
		return posix_fail(&o->err, -EACCES,
				  "posix: write '%s': refused to follow the "
				  "symlink '%.*s'",
				  key, (int)len, path);
	if (kind == POSIX_KIND_OBJECT && len < strlen(key))
		return posix_fail(&o->err, -EEXIST,
				  "posix: write '%s': '%.*s' is an object, "
				  "cannot hold '%s'",
				  key, (int)len, path, key);
	if (kind == POSIX_KIND_DIR)
		return posix_fail(&o->err, -EEXIST,
				  "posix: write '%s': '%s' is a directory of "
				  "other keys",
				  key, key);
	return posix_fail(&o->err, -EEXIST,
			  "posix: write '%s': '%.*s' is not a regular file or "
			  "directory",
			  key, (int)len, path);
}

/* ------------------------------------------------------------------------ */
/* Small I/O helpers                                                          */

int posix_write_full(int fd, const void *data, size_t size)
{
	const char *p = data;
	ssize_t ret;

	while (size > 0) {
		ret = write(fd, p, size);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret == 0)
			return -EIO;
		p += ret;
		size -= (size_t)ret;
	}
	return 0;
}

/* fsync() of the directory behind an O_PATH descriptor. */
int posix_fsync_dir(int dir_fd)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* O_EXCL makes a clash an error the caller retries, so the fallback for
   an entropy pool not ready yet only has to make clashes unlikely. */
void posix_temp_name(char *buf)
{
	static unsigned int counter;
	uint64_t rnd;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		rnd = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
		      ((uint64_t)getpid() << 40) ^
		      __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	}
	snprintf(buf, POSIX_TEMP_NAME_MAX, "%s%016" PRIx64, POSIX_TEMP_PREFIX,
		 rnd);
}

/* Removes empty directories from the key's directory up to (not including)
   the root; stops at the first that is not empty or cannot go. */
void posix_prune_dirs(struct posix_fs *pfs, const char *key, size_t dir_len)
{
	char path[FS_KEY_MAX + 1];
	const char *name;
	char *slash;
	int pfd, ret;

	memcpy(path, key, dir_len);
	path[dir_len] = '\0';
	while (path[0] != '\0') {
		slash = strrchr(path, '/');
		name = slash != NULL ? slash + 1 : path;
		if (slash != NULL)
			*slash = '\0';
		pfd = posix_open_beneath(pfs, slash != NULL ? path : "",
					 O_PATH | O_DIRECTORY, 0);
		if (pfd < 0)
			return;
		ret = unlinkat(pfd, name, AT_REMOVEDIR);
		close(pfd);
		if (ret < 0 || slash == NULL)
			return;
	}
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                      */

void posix_probe_openat2(struct posix_fs *pfs)
{
	int fd;

	pfs->openat2 = !posix_disable_openat2;
	if (!pfs->openat2)
		return;
	fd = posix_openat2(pfs, ".", O_PATH | O_DIRECTORY, 0);
	if (fd >= 0)
		close(fd);
	/* ENOSYS: older kernel; EPERM: a seccomp filter refuses it. */
	pfs->openat2 = fd >= 0;
}
