/*
 * posix: whole-object operations: delete (with the emptied directories),
 * copy in the kernel, rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix-private.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* ------------------------------------------------------------------------ */
/* Delete, copy, rename                                                       */

/* Opens the directory of key (O_PATH); errors go on errfile. */
static int posix_key_dir(struct fs_file *errfile, const char *op,
			 struct posix_file *file)
{
	struct posix_fs *pfs = posix_fs_of(file->file.fs);
	char dir[FS_KEY_MAX + 1];
	int fd;

	fd = posix_open_beneath(pfs, posix_dir_path(file, dir),
				O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return posix_lookup_error(errfile, op, file->file.key, fd);
	return fd;
}

/* Checks that base in dir_fd is an object, filling *st_r. */
static int posix_check_object(struct fs_file *errfile, const char *op,
			      const char *key, int dir_fd, const char *base,
			      struct stat *st_r)
{
	if (fstatat(dir_fd, base, st_r, AT_SYMLINK_NOFOLLOW) < 0)
		return posix_lookup_error(errfile, op, key, -errno);
	if (S_ISLNK(st_r->st_mode))
		return posix_lookup_error(errfile, op, key, -ELOOP);
	if (!S_ISREG(st_r->st_mode))
		return posix_lookup_error(errfile, op, key, -ENOENT);
	return 0;
}

int posix_delete(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	struct stat st;
	int dir_fd, ret;

	dir_fd = posix_key_dir(_file, "delete", file);
	if (dir_fd < 0)
		return dir_fd;
	ret = posix_check_object(_file, "delete", _file->key, dir_fd,
				 file->base, &st);
	if (ret == 0 && unlinkat(dir_fd, file->base, 0) < 0)
		ret = posix_lookup_error(_file, "delete", _file->key, -errno);
	if (ret == 0 && (_file->flags & FS_OPEN_FLAG_FSYNC))
		(void)posix_fsync_dir(dir_fd);
	close(dir_fd);
	if (ret == 0)
		posix_prune_dirs(posix_fs_of(_file->fs), _file->key,
				 file->dir_len);
	return ret;
}

/* Copies all of src_fd into dst_fd, in the kernel where it can. */
static int posix_copy_data(int src_fd, int dst_fd)
{
	ssize_t len;
	off_t pos = 0;
	char *buf;
	int ret = 0;

	for (;;) {
		len = copy_file_range(src_fd, NULL, dst_fd, NULL,
				      (size_t)1 << 30, 0);
		if (len == 0)
			return 0;
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0)
			break;
		pos += len;
	}
	if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
	    errno != EOPNOTSUPP)
		return -errno;
	buf = malloc(POSIX_BUF_SIZE);
	if (buf == NULL)
		return -ENOMEM;
	while (ret == 0) {
		len = pread(src_fd, buf, POSIX_BUF_SIZE, pos);
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0) {
			ret = len < 0 ? -errno : 0;
			break;
		}
		ret = posix_write_full(dst_fd, buf, (size_t)len);
		pos += len;
	}
	free(buf);
	return ret;
}

int posix_copy(struct fs_file *_src, struct fs_file *_dst)
{
	struct posix_file *dst = posix_file_of(_dst);
	int src_fd, ret;

	posix_write_abort(_dst);
	ret = posix_open_object(_dst, "copy", _src->key, &src_fd);
	if (ret < 0)
		return ret;
	ret = posix_write_begin(_dst);
	if (ret == 0) {
		ret = posix_copy_data(src_fd, dst->tmp_fd);
		if (ret < 0)
			ret = posix_write_error(_dst, "copy", -ret);
	}
	if (ret == 0 && posix_fs_of(_dst->fs)->xattr)
		ret = posix_md_copy(_dst, src_fd, dst->tmp_fd);
	close(src_fd);
	if (ret == 0 && _dst->mode == FS_OPEN_APPEND)
		ret = fs_file_set_error(_dst, -EINVAL,
					"posix: copy to '%s': the destination "
					"must be open with CREATE or REPLACE",
					_dst->key);
	if (ret == 0)
		ret = posix_publish(_dst);
	if (ret == 0)
		dst->dirs_created = false;
	posix_write_abort(_dst);
	return ret;
}

/* Moves src to dst without replacing anything. */
static int posix_rename_noreplace(int sdir, const char *sbase, int ddir,
				  const char *dbase)
{
	if (renameat2(sdir, sbase, ddir, dbase, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -errno;
	if (linkat(sdir, sbase, ddir, dbase, 0) < 0)
		return -errno;
	(void)unlinkat(sdir, sbase, 0);
	return 0;
}

/* One attempt at moving src into the directory ddir of dst. Returns 0,
   the raw -ENOENT (src or ddir vanished) or -EXDEV (a mount point between
   them), or an error set on dst. */
static int posix_rename_once(struct fs_file *_src, struct fs_file *_dst,
			     int sdir, int ddir)
{
	struct posix_file *src = posix_file_of(_src);
	struct posix_file *dst = posix_file_of(_dst);
	bool replace = _dst->mode == FS_OPEN_REPLACE;
	int ret;

	ret = posix_check_target(_dst, ddir, dst->base, replace);
	if (ret < 0)
		return ret;
	if (replace)
		ret = renameat(sdir, src->base, ddir, dst->base) < 0 ? -errno
								     : 0;
	else
		ret = posix_rename_noreplace(sdir, src->base, ddir, dst->base);
	switch (ret) {
	case 0:
	case -ENOENT:
	case -EXDEV:
		return ret;
	case -EEXIST:
		return fs_file_set_error(_dst, -EEXIST,
					 "posix: rename to '%s': the key "
					 "exists",
					 _dst->key);
	case -EISDIR:
	case -ENOTEMPTY:
		return posix_conflict_error(_dst, POSIX_KIND_DIR, _dst->key, 0);
	default:
		return posix_write_error(_dst, "rename", -ret);
	}
}

/* After a rename, src may still be there if it was a hard link of dst. */
static void posix_rename_cleanup(int sdir, const char *sbase,
				 const struct stat *before, bool same_key)
{
	struct stat st;

	if (same_key || fstatat(sdir, sbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (st.st_ino == before->st_ino && st.st_dev == before->st_dev)
		(void)unlinkat(sdir, sbase, 0);
}

/* Returns 0, 1 when only a copy can do it, or an error set on dst. */
static int posix_rename_loop(struct fs_file *_src, struct fs_file *_dst,
			     int sdir, const struct stat *sst)
{
	struct posix_file *src = posix_file_of(_src);
	struct stat st;
	int ddir, ret = -ENOENT, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		ddir = posix_dir_open(_dst);
		if (ddir == -ENOENT)
			continue;
		if (ddir < 0)
			return ddir;
		ret = posix_rename_once(_src, _dst, sdir, ddir);
		if (ret == 0 && (_dst->flags & FS_OPEN_FLAG_FSYNC))
			(void)posix_fsync_dir(ddir);
		close(ddir);
		if (ret != -ENOENT)
			break;
		/* src is gone, or a concurrent delete removed the directory
		   we made for dst: then again. */
		ret = posix_check_object(_dst, "rename", _src->key, sdir,
					 src->base, &st);
		if (ret < 0)
			return ret;
		ret = -ENOENT;
	}
	if (ret == -ENOENT)
		return posix_write_error(_dst, "rename", ENOENT);
	if (ret == -EXDEV)
		return 1;
	if (ret == 0)
		posix_rename_cleanup(sdir, src->base, sst,
				     strcmp(_src->key, _dst->key) == 0);
	return ret;
}

int posix_rename(struct fs_file *_src, struct fs_file *_dst)
{
	struct posix_file *src = posix_file_of(_src);
	struct stat st;
	int sdir, ret;

	sdir = posix_key_dir(_dst, "rename", src);
	if (sdir < 0)
		return sdir;
	ret = posix_check_object(_dst, "rename", _src->key, sdir, src->base,
				 &st);
	if (ret == 0)
		ret = posix_rename_loop(_src, _dst, sdir, &st);
	if (ret == 1) {
		/* A mount point between the two: copy, then delete. */
		ret = posix_copy(_src, _dst);
		if (ret == 0 && unlinkat(sdir, src->base, 0) < 0 &&
		    errno != ENOENT)
			ret = posix_write_error(_dst, "rename", errno);
	}
	if (ret == 0 && (_dst->flags & FS_OPEN_FLAG_FSYNC))
		(void)posix_fsync_dir(sdir);
	close(sdir);
	if (ret == 0)
		posix_prune_dirs(posix_fs_of(_src->fs), _src->key,
				 src->dir_len);
	return ret;
}
