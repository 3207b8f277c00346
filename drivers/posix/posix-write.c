/*
 * posix: writing through a temporary file in the key's directory, published
 * at finish with linkat() (CREATE), renameat() (REPLACE) or appended
 * (APPEND); see posix.c for the guarantees.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "posix-private.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* ------------------------------------------------------------------------ */
/* Metadata of written objects                                                */

/* Stores the file's write metadata on fd. */
static int posix_md_store(struct fs_file *_file, int fd)
{
	const struct fs_metadata_list *md = &_file->write_md;
	char name[sizeof(POSIX_XATTR_PREFIX) + FS_METADATA_NAME_MAX];
	size_t i;

	for (i = 0; i < md->count; i++) {
		snprintf(name, sizeof(name), "%s%s", POSIX_XATTR_PREFIX,
			 md->items[i].name);
		if (fsetxattr(fd, name, md->items[i].value,
			      strlen(md->items[i].value), 0) < 0)
			return posix_write_error(_file, "setxattr", errno);
	}
	return 0;
}

/* Copies the user.libfs.* xattrs of src_fd to dst_fd. */
int posix_md_copy(struct fs_file *dst, int src_fd, int dst_fd)
{
	size_t plen = strlen(POSIX_XATTR_PREFIX);
	char value[FS_METADATA_TOTAL_MAX + 1];
	char *list, *name;
	ssize_t len, vlen;
	int ret = 0;

	list = malloc(POSIX_XATTR_LIST_MAX);
	if (list == NULL)
		return posix_write_error(dst, "copy metadata", ENOMEM);
	len = flistxattr(src_fd, list, POSIX_XATTR_LIST_MAX);
	if (len < 0)
		ret = posix_write_error(dst, "listxattr", errno);
	for (name = list; ret == 0 && name < list + len;
	     name += strlen(name) + 1) {
		if (strncmp(name, POSIX_XATTR_PREFIX, plen) != 0)
			continue;
		vlen = fgetxattr(src_fd, name, value, sizeof(value));
		if (vlen < 0 && errno == ENODATA)
			continue;
		if (vlen < 0 ||
		    fsetxattr(dst_fd, name, value, (size_t)vlen, 0) < 0)
			ret = posix_write_error(dst, "copy xattr", errno);
	}
	free(list);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Writing: directories and the temporary file                                */

/* Opens (making it if needed) directory name in dfd, never through a
   symlink. Returns the fd, or -errno with -ENOTDIR for non-directories. */
static int posix_mkdir_one(struct fs_file *_file, int dfd, const char *name)
{
	int fd, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		fd = openat(dfd, name,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd >= 0 ? fd : -errno;
		if (mkdirat(dfd, name, 0777) < 0 && errno != EEXIST)
			return -errno;
		posix_file_of(_file)->dirs_created = true;
	}
	return -ENOENT;
}

/* mkdir -p of the key's directory (not the root), one segment at a time
   with O_NOFOLLOW. Returns the directory's O_PATH fd, the raw -ENOENT when
   a concurrent delete removed a directory under us, or an error set on
   file. */
static int posix_mkdirs(struct fs_file *_file)
{
	struct posix_fs *pfs = posix_fs_of(_file->fs);
	struct posix_file *file = posix_file_of(_file);
	char name[NAME_MAX + 1];
	const char *key = _file->key, *seg = key;
	size_t len, done;
	int dfd = pfs->root_fd, fd;
	struct stat st;

	while ((size_t)(seg - key) < file->dir_len) {
		len = strcspn(seg, "/");
		done = (size_t)(seg - key) + len;
		memcpy(name, seg, len);
		name[len] = '\0';
		fd = posix_mkdir_one(_file, dfd, name);
		if ((fd == -ENOTDIR || fd == -ELOOP) &&
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			fd = posix_conflict_error(
				_file, posix_kind_of(st.st_mode), key, done);
		} else if (fd < 0 && fd != -ENOENT) {
			fd = posix_write_error(_file, "mkdir", -fd);
		}
		if (dfd != pfs->root_fd)
			close(dfd);
		if (fd < 0)
			return fd;
		dfd = fd;
		seg += len + 1;
	}
	return dfd;
}

/* Opens the key's directory for writing, creating it where missing.
   Returns the fd, the raw -ENOENT (to retry) or an error set on file. */
int posix_dir_open(struct fs_file *_file)
{
	struct posix_fs *pfs = posix_fs_of(_file->fs);
	struct posix_file *file = posix_file_of(_file);
	char dir[FS_KEY_MAX + 1];
	enum posix_kind kind;
	size_t len;
	int fd;

	fd = posix_open_beneath(pfs, posix_dir_path(file, dir),
				O_PATH | O_DIRECTORY, 0);
	if (fd >= 0)
		return fd;
	if (fd == -ENOENT)
		return posix_mkdirs(_file);
	if (fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV) {
		kind = posix_classify(pfs, dir, &len);
		if (kind == POSIX_KIND_MISSING)
			return posix_mkdirs(_file);
		if (kind == POSIX_KIND_DIR)
			kind = POSIX_KIND_SYMLINK;
		return posix_conflict_error(_file, kind, dir, len);
	}
	return posix_write_error(_file, "open directory", -fd);
}

/* Creates the temporary file in dir_fd. Returns 0, the raw -ENOENT when the
   directory vanished (a concurrent delete), or an error set on file. */
static int posix_temp_create(struct fs_file *_file, int dir_fd)
{
	struct posix_file *file = posix_file_of(_file);
	int fd, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		posix_temp_name(file->tmp_name);
		fd = openat(dir_fd, file->tmp_name,
			    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0666);
		if (fd >= 0) {
			file->tmp_fd = fd;
			file->dir_fd = dir_fd;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	file->tmp_name[0] = '\0';
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	return posix_write_error(_file, "create temporary file",
				 fd < 0 ? errno : EEXIST);
}

int posix_write_begin(struct fs_file *_file)
{
	int dir_fd, ret, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		dir_fd = posix_dir_open(_file);
		if (dir_fd == -ENOENT)
			continue;
		if (dir_fd < 0)
			return dir_fd;
		ret = posix_temp_create(_file, dir_fd);
		if (ret == 0)
			return 0;
		close(dir_fd);
		if (ret != -ENOENT)
			return ret;
	}
	return posix_write_error(_file, "create temporary file", ENOENT);
}

void posix_write_abort(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);

	if (file->tmp_fd >= 0)
		close(file->tmp_fd);
	file->tmp_fd = -1;
	if (file->tmp_name[0] != '\0' && file->dir_fd >= 0)
		(void)unlinkat(file->dir_fd, file->tmp_name, 0);
	file->tmp_name[0] = '\0';
	if (file->dir_fd >= 0)
		close(file->dir_fd);
	file->dir_fd = -1;
	/* An abandoned write leaves no directory it made behind either. */
	if (file->dirs_created)
		posix_prune_dirs(posix_fs_of(_file->fs), _file->key,
				 file->dir_len);
	file->dirs_created = false;
}

ssize_t posix_write(struct fs_file *_file, const void *data, size_t size)
{
	struct posix_file *file = posix_file_of(_file);
	int ret;

	if (file->tmp_fd < 0) {
		ret = posix_write_begin(_file);
		if (ret < 0)
			return ret;
	}
	ret = posix_write_full(file->tmp_fd, data, size);
	if (ret < 0) {
		ret = posix_write_error(_file, "write temporary file", -ret);
		posix_write_abort(_file);
		return ret;
	}
	return (ssize_t)size;
}

/* ------------------------------------------------------------------------ */
/* Writing: publishing                                                        */

/* Checks what is at the key now: -EACCES for a symlink, -EEXIST for a
   directory or (exists_ok false) an object. Returns 1 if an object is there,
   0 if nothing. */
int posix_check_target(struct fs_file *_file, int dir_fd, const char *base,
		       bool exists_ok)
{
	struct stat st;
	enum posix_kind kind;

	if (fstatat(dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT
			       ? 0
			       : posix_write_error(_file, "stat", errno);
	kind = posix_kind_of(st.st_mode);
	if (kind == POSIX_KIND_OBJECT && exists_ok)
		return 1;
	if (kind == POSIX_KIND_OBJECT)
		return fs_file_set_error(_file, -EEXIST,
					 "posix: write '%s': the key exists",
					 _file->key);
	return posix_conflict_error(_file, kind, _file->key,
				    strlen(_file->key));
}

/* Makes the temporary file appear at the key unless something is there. */
static int posix_link_noreplace(int dir_fd, const char *tmp, int dst_dir,
				const char *base)
{
	if (linkat(dir_fd, tmp, dst_dir, base, 0) == 0)
		return 0;
	/* Filesystems without hard links: renameat2() can do it too. */
	if (errno != EPERM && errno != EOPNOTSUPP && errno != EMLINK)
		return -errno;
	if (renameat2(dir_fd, tmp, dst_dir, base, RENAME_NOREPLACE) == 0)
		return 1;
	return -errno;
}

static int posix_publish_create(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	int ret;

	ret = posix_check_target(_file, file->dir_fd, file->base, false);
	if (ret < 0)
		return ret;
	ret = posix_link_noreplace(file->dir_fd, file->tmp_name, file->dir_fd,
				   file->base);
	if (ret == -EEXIST) {
		/* Someone was quicker: say what is there now. */
		ret = posix_check_target(_file, file->dir_fd, file->base,
					 false);
		return ret < 0 ? ret
			       : fs_file_set_error(_file, -EEXIST,
						   "posix: write '%s': the key "
						   "exists",
						   _file->key);
	}
	if (ret < 0)
		return posix_write_error(_file, "link", -ret);
	if (ret == 1)
		file->tmp_name[0] = '\0'; /* renamed, not linked */
	return 0;
}

static int posix_publish_replace(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	int ret;

	ret = posix_check_target(_file, file->dir_fd, file->base, true);
	if (ret < 0)
		return ret;
	if (renameat(file->dir_fd, file->tmp_name, file->dir_fd, file->base) <
	    0) {
		if (errno == EISDIR || errno == ENOTEMPTY)
			return posix_conflict_error(_file, POSIX_KIND_DIR,
						    _file->key, 0);
		return posix_write_error(_file, "rename", errno);
	}
	file->tmp_name[0] = '\0'; /* consumed */
	return 0;
}

/* Copies the temporary file's data to the end of fd. Returns 0 or -errno. */
static int posix_append_copy(struct posix_file *file, int fd)
{
	off_t pos = 0;
	ssize_t len;
	char *buf;
	int ret = 0;

	buf = malloc(POSIX_BUF_SIZE);
	if (buf == NULL)
		return -ENOMEM;
	while (ret == 0) {
		len = pread(file->tmp_fd, buf, POSIX_BUF_SIZE, pos);
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0) {
			ret = len < 0 ? -errno : 0;
			break;
		}
		ret = posix_write_full(fd, buf, (size_t)len);
		pos += len;
	}
	free(buf);
	return ret;
}

/* Appends data and metadata to fd (locked); on failure cuts fd back to
   its old size. Returns 0 or an error set on file. */
static int posix_append_data(struct fs_file *_file, int fd)
{
	struct posix_file *file = posix_file_of(_file);
	struct stat st;
	int ret;

	if (fstat(fd, &st) < 0)
		return posix_write_error(_file, "stat", errno);
	ret = posix_append_copy(file, fd);
	if (ret < 0)
		ret = posix_write_error(_file, "append", -ret);
	if (ret == 0)
		ret = posix_md_store(_file, fd);
	if (ret == 0 && (_file->flags & FS_OPEN_FLAG_FSYNC) && fdatasync(fd))
		ret = posix_write_error(_file, "fdatasync", errno);
	if (ret < 0 && ftruncate(fd, st.st_size) < 0) {
		/* Nothing more can be done; the message says what failed. */
	}
	return ret;
}

/* Appends to the existing object. Returns 1 when done, 0 to look again (it
   was deleted or replaced by something else meanwhile), or an error set on
   file. */
static int posix_append_existing(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	struct stat st;
	int fd, ret;

	fd = openat(file->dir_fd, file->base,
		    O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
			    O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ELOOP || errno == EISDIR ||
		       errno == ENXIO))
		return 0;
	if (fd < 0)
		return posix_write_error(_file, "open", errno);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	/* libfs appenders take turns; others only get O_APPEND's promise. */
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	ret = posix_append_data(_file, fd);
	close(fd);
	return ret < 0 ? ret : 1;
}

/* A missing object gets the staged file linked in (atomic); an existing one
   has the data appended. Loops while a concurrent delete or create moves
   the ground between the two cases. */
static int posix_publish_append(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	int ret, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		ret = posix_check_target(_file, file->dir_fd, file->base, true);
		if (ret == 1) {
			ret = posix_append_existing(_file);
		} else if (ret == 0) {
			ret = posix_link_noreplace(file->dir_fd, file->tmp_name,
						   file->dir_fd, file->base);
			if (ret == 1)
				file->tmp_name[0] = '\0';
			if (ret >= 0)
				return 0;
			ret = ret == -EEXIST
				      ? 0
				      : posix_write_error(_file, "link", -ret);
		}
		if (ret != 0)
			return ret < 0 ? ret : 0;
	}
	return posix_write_error(_file, "append", EAGAIN);
}

/* fsync of the key's directory and, where this write made directories,
   of every directory up to the root. */
static int posix_sync_dirs(struct fs_file *_file)
{
	struct posix_fs *pfs = posix_fs_of(_file->fs);
	struct posix_file *file = posix_file_of(_file);
	char dir[FS_KEY_MAX + 1];
	char *slash;
	int fd, ret;

	ret = posix_fsync_dir(file->dir_fd);
	posix_dir_path(file, dir);
	while (ret == 0 && file->dirs_created && dir[0] != '\0') {
		slash = strrchr(dir, '/');
		if (slash != NULL)
			*slash = '\0';
		else
			dir[0] = '\0';
		fd = posix_open_beneath(pfs, dir, O_RDONLY | O_DIRECTORY, 0);
		ret = fd < 0 ? fd : (fsync(fd) < 0 ? -errno : 0);
		if (fd >= 0)
			close(fd);
	}
	return ret < 0 ? posix_write_error(_file, "fsync directory", -ret) : 0;
}

/* Publishes the filled temporary file as the file's mode says. */
int posix_publish(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	int ret, fd = file->tmp_fd;

	/* fsync, not fdatasync, when xattrs must be durable too. */
	if ((_file->flags & FS_OPEN_FLAG_FSYNC) &&
	    (_file->write_md.count > 0 ? fsync(fd) : fdatasync(fd)) < 0)
		return posix_write_error(_file, "fsync", errno);
	switch (_file->mode) {
	case FS_OPEN_CREATE:
		ret = posix_publish_create(_file);
		break;
	case FS_OPEN_REPLACE:
		ret = posix_publish_replace(_file);
		break;
	case FS_OPEN_APPEND:
		ret = posix_publish_append(_file);
		break;
	default:
		ret = fs_file_set_error(_file, -EINVAL,
					"posix: write '%s': not open for "
					"writing",
					_file->key);
		break;
	}
	if (ret == 0 && (_file->flags & FS_OPEN_FLAG_FSYNC))
		ret = posix_sync_dirs(_file);
	return ret;
}

int posix_write_finish(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	int ret;

	if (file->tmp_fd < 0) {
		ret = posix_write_begin(_file);
		if (ret < 0)
			return ret;
	}
	ret = posix_md_store(_file, file->tmp_fd);
	if (ret == 0)
		ret = posix_publish(_file);
	/* Published: what made the directories no longer owns them. */
	if (ret == 0)
		file->dirs_created = false;
	posix_write_abort(_file);
	return ret;
}
