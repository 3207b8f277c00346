/*
 * posix: keys as files beneath one root directory.
 *
 * Confinement: the root is opened once (it may itself be a symlink) and every
 * later path is resolved beneath that descriptor, with openat2(RESOLVE_BENEATH
 * | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) where the kernel has it, else
 * by walking one segment at a time with O_NOFOLLOW. No symlink is ever
 * followed, inside or outside the root: a key whose path meets one fails with
 * -EACCES.
 *
 * Writes go to a temporary file ".libfs-tmp.<random>" in the key's directory
 * and are published at finish: CREATE with linkat() (atomic, -EEXIST if the
 * key exists), REPLACE with renameat() (readers see the old or the new file;
 * an open reader keeps the old inode). Metadata lives in "user.libfs.<name>"
 * extended attributes set on the temporary file, so it is published together
 * with the data.
 *
 * APPEND is NOT atomic against crashes: the data is staged in a temporary file
 * and then appended to the object (under flock(), so libfs appenders do not
 * interleave); if that fails the object is truncated back to its old size,
 * but a crash in the middle can leave a partial tail. Appending to a missing
 * key publishes the staged file with linkat(), which is atomic.
 *
 * Etags are the unquoted hex of "inode-size-mtime_ns".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "posix-private.h"

#define POSIX_CAPS                                                             \
	(FS_CAP_RANGE | FS_CAP_RENAME_ATOMIC | FS_CAP_COPY_SERVER |            \
	 FS_CAP_APPEND | FS_CAP_CREATE_EXCL | FS_CAP_ITER |                    \
	 FS_CAP_STAT_MTIME | FS_CAP_STAT_ETAG | FS_CAP_FSYNC)

/* ------------------------------------------------------------------------ */
/* Reading and stat                                                           */

/* Opens key as a regular file for reading; errors go on errfile. */
int posix_open_object(struct fs_file *errfile, const char *op, const char *key,
		      int *fd_r)
{
	struct posix_fs *pfs = posix_fs_of(errfile->fs);
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO planted under the key must not hang us. */
	fd = posix_open_beneath(
		pfs, key, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		return posix_lookup_error(errfile, op, key, fd);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fs_file_set_error(errfile, -ENOENT,
					 "posix: %s '%s': no such object "
					 "(not a regular file)",
					 op, key);
	}
	*fd_r = fd;
	return 0;
}

static ssize_t posix_read(struct fs_file *_file, void *buf, size_t size)
{
	struct posix_file *file = posix_file_of(_file);
	uint64_t left = UINT64_MAX;
	ssize_t ret;
	int err;

	if (file->fd < 0) {
		err = posix_open_object(_file, "read", _file->key, &file->fd);
		if (err < 0)
			return err;
	}
	if (_file->range_length != UINT64_MAX)
		left = _file->range_length - file->read_pos;
	if (left == 0)
		return 0;
	if (size > left)
		size = (size_t)left;
	if (_file->range_offset > (uint64_t)INT64_MAX - file->read_pos)
		return 0;
	do {
		ret = pread(file->fd, buf, size,
			    (off_t)(_file->range_offset + file->read_pos));
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return fs_file_set_error(_file, -EIO, "posix: read '%s': %s",
					 _file->key, strerror(errno));
	file->read_pos += (uint64_t)ret;
	return ret;
}

/* lstat() of the key beneath the root: 0, or an error set on file. */
static int posix_stat_key(struct fs_file *_file, const char *op,
			  struct stat *st_r)
{
	struct posix_fs *pfs = posix_fs_of(_file->fs);
	int fd, err;

	fd = posix_open_beneath(pfs, _file->key, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return posix_lookup_error(_file, op, _file->key, fd);
	err = fstat(fd, st_r) < 0 ? -errno : 0;
	close(fd);
	if (err < 0)
		return posix_lookup_error(_file, op, _file->key, err);
	if (S_ISLNK(st_r->st_mode))
		return posix_lookup_error(_file, op, _file->key, -ELOOP);
	if (!S_ISREG(st_r->st_mode))
		return fs_file_set_error(_file, -ENOENT,
					 "posix: %s '%s': no such object "
					 "(not a regular file)",
					 op, _file->key);
	return 0;
}

static int posix_stat(struct fs_file *_file, struct fs_stat *st_r)
{
	struct stat st;
	int64_t mtime_ns;
	int ret;

	ret = posix_stat_key(_file, "stat", &st);
	if (ret < 0)
		return ret;
	mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	memset(st_r, 0, sizeof(*st_r));
	st_r->valid = FS_STAT_SIZE | FS_STAT_MTIME | FS_STAT_ETAG;
	st_r->size = (uint64_t)st.st_size;
	st_r->mtime_ns = mtime_ns;
	snprintf(st_r->etag, sizeof(st_r->etag),
		 "%" PRIx64 "-%" PRIx64 "-%" PRIx64, (uint64_t)st.st_ino,
		 (uint64_t)st.st_size, (uint64_t)mtime_ns);
	return 0;
}

static int posix_exists(struct fs_file *_file)
{
	struct stat st;
	int ret;

	ret = posix_stat_key(_file, "exists", &st);
	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                   */

/* Adds the value of the xattr name to the file's loaded metadata. */
static int posix_md_load_one(struct fs_file *_file, int fd, const char *name)
{
	char value[FS_METADATA_TOTAL_MAX + 1];
	ssize_t len;

	len = fgetxattr(fd, name, value, sizeof(value) - 1);
	if (len < 0 && errno == ENODATA)
		return 0; /* removed meanwhile */
	if (len < 0)
		return fs_file_set_error(_file, -EIO,
					 "posix: metadata '%s': %s: %s",
					 _file->key, name, strerror(errno));
	value[len] = '\0';
	if (fs_file_metadata_add(_file, name + strlen(POSIX_XATTR_PREFIX),
				 value) < 0)
		return fs_file_set_error(_file, -ENOMEM,
					 "posix: metadata '%s': out of memory",
					 _file->key);
	return 0;
}

static int posix_md_load(struct fs_file *_file, int fd)
{
	size_t plen = strlen(POSIX_XATTR_PREFIX);
	char *list, *name;
	ssize_t len;
	int ret = 0;

	list = malloc(POSIX_XATTR_LIST_MAX);
	if (list == NULL)
		return fs_file_set_error(_file, -ENOMEM,
					 "posix: metadata '%s': out of memory",
					 _file->key);
	len = flistxattr(fd, list, POSIX_XATTR_LIST_MAX);
	if (len < 0)
		ret = fs_file_set_error(_file, -EIO,
					"posix: metadata '%s': listxattr: %s",
					_file->key, strerror(errno));
	for (name = list; ret == 0 && name < list + len;
	     name += strlen(name) + 1) {
		if (strncmp(name, POSIX_XATTR_PREFIX, plen) == 0 &&
		    fs_metadata_validate(name + plen, NULL) == 0)
			ret = posix_md_load_one(_file, fd, name);
	}
	free(list);
	return ret;
}

static int posix_get_metadata(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	int fd = file->fd, ret;

	if (!posix_fs_of(_file->fs)->xattr)
		return fs_file_set_error(_file, -ENOTSUP,
					 "posix: metadata '%s': the filesystem "
					 "has no user xattrs",
					 _file->key);
	/* A file being read answers from the inode it reads. */
	if (fd < 0) {
		ret = posix_open_object(_file, "metadata", _file->key, &fd);
		if (ret < 0)
			return ret;
	}
	ret = posix_md_load(_file, fd);
	if (fd != file->fd)
		close(fd);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                      */

static int posix_file_init(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	const char *slash = strrchr(_file->key, '/');

	file->base = slash != NULL ? slash + 1 : _file->key;
	file->dir_len = slash != NULL ? (size_t)(slash - _file->key) : 0;
	file->fd = -1;
	file->dir_fd = -1;
	file->tmp_fd = -1;
	return 0;
}

static void posix_file_deinit(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);

	posix_write_abort(_file);
	if (file->fd >= 0)
		close(file->fd);
	file->fd = -1;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                      */

/* mkdir -p path, mode 0777 & umask. */
static int posix_mkdir_p(const char *path)
{
	char *copy = strdup(path), *p;
	int ret = 0;

	if (copy == NULL)
		return -ENOMEM;
	for (p = copy + 1; *p != '\0' && ret == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0777) < 0 && errno != EEXIST)
			ret = -errno;
		*p = '/';
	}
	if (ret == 0 && mkdir(copy, 0777) < 0 && errno != EEXIST)
		ret = -errno;
	free(copy);
	return ret;
}

/* User xattrs work if a file in the root takes one. A read-only root
   answers through a get on the root itself. */
static void posix_probe_xattr(struct posix_fs *pfs)
{
	char name[POSIX_TEMP_NAME_MAX], value;
	int fd, ret;

	posix_temp_name(name);
	fd = openat(pfs->root_fd, name,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fd = openat(pfs->root_fd, ".",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = fd < 0 ? -1
			     : (int)fgetxattr(fd, POSIX_XATTR_PREFIX "probe",
					      &value, 1);
		pfs->xattr = fd >= 0 && (ret >= 0 || errno == ENODATA);
	} else {
		ret = fsetxattr(fd, POSIX_XATTR_PREFIX "probe", "1", 1, 0);
		pfs->xattr = ret == 0;
		(void)unlinkat(pfs->root_fd, name, 0);
	}
	if (fd >= 0)
		close(fd);
}

static void posix_deinit(struct fs *_fs)
{
	struct posix_fs *pfs = posix_fs_of(_fs);

	if (pfs->root_fd >= 0)
		close(pfs->root_fd);
	pfs->root_fd = -1;
	free(pfs->root);
	pfs->root = NULL;
}

static int posix_root_errno(int err)
{
	switch (err) {
	case -EACCES:
	case -EPERM:
	case -EROFS:
		return -EACCES;
	case -ENOTDIR:
	case -EEXIST:
		return -EINVAL; /* the spec names something else */
	case -ENOSPC:
	case -EDQUOT:
		return -ENOSPC;
	case -ENOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Makes and opens the root. A failed init cleans up after itself (the core
   does not call deinit then). */
static int posix_init(struct fs *_fs, const char *scheme, const char *args)
{
	struct posix_fs *pfs = posix_fs_of(_fs);
	int ret;

	pfs->root_fd = -1;
	if (args == NULL || *args == '\0')
		return fs_set_error(_fs, -EINVAL,
				    "posix: no root directory given");
	ret = posix_mkdir_p(args);
	if (ret == 0) {
		pfs->root_fd = open(args, O_PATH | O_DIRECTORY | O_CLOEXEC);
		ret = pfs->root_fd < 0 ? -errno : 0;
	}
	if (ret == 0) {
		pfs->root = strdup(args);
		ret = pfs->root == NULL ? -ENOMEM : 0;
	}
	if (ret < 0) {
		posix_deinit(_fs);
		return fs_set_error(_fs, posix_root_errno(ret),
				    "posix: root '%s': %s", args,
				    strerror(-ret));
	}
	posix_probe_openat2(pfs);
	posix_probe_xattr(pfs);
	return 0;
}

static unsigned int posix_get_caps(struct fs *_fs)
{
	return POSIX_CAPS | (posix_fs_of(_fs)->xattr ? FS_CAP_METADATA : 0);
}

static const char *const posix_aliases[] = {"file", NULL};

const struct fs_driver fs_driver_posix = {
	.version = FS_DRIVER_VERSION,
	.name = "posix",
	.aliases = posix_aliases,
	.fs_size = sizeof(struct posix_fs),
	.file_size = sizeof(struct posix_file),
	.iter_size = sizeof(struct posix_iter),
	.v =
		{
			.init = posix_init,
			.deinit = posix_deinit,
			.get_caps = posix_get_caps,
			.file_init = posix_file_init,
			.file_deinit = posix_file_deinit,
			.read = posix_read,
			.write = posix_write,
			.write_finish = posix_write_finish,
			.write_abort = posix_write_abort,
			.stat = posix_stat,
			.exists = posix_exists,
			.get_metadata = posix_get_metadata,
			.delete_file = posix_delete,
			.copy = posix_copy,
			.rename = posix_rename,
			.iter_init = posix_iter_init,
			.iter_next = posix_iter_next,
			.iter_deinit = posix_iter_deinit,
		},
};
