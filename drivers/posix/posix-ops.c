/*
 * posix: reading, stat and metadata, and the whole-object operations:
 * delete (with the emptied directories), copy in the kernel, rename.
 *
 * Each operation is written once, on a struct posix_obj; the methods run it
 * directly for blocking files and as a worker request for ASYNC ones. An
 * ASYNC reader gets POSIX_READ_CHUNK bytes per request and, once it has
 * taken them, the next chunk is read ahead while it works.
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

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* ------------------------------------------------------------------------ */
/* ASYNC files: the request slot                                              */

int posix_file_slot(struct posix_file *file, enum posix_job_kind kind)
{
	struct posix_job *job = &file->job;

	if (!job->busy)
		return 0;
	if (!posix_job_claim(file->o.pfs, job))
		return -EAGAIN;
	if (job->kind == kind)
		return 1;
	/* A request running in the background: keep what it did. */
	if (job->kind == POSIX_JOB_READ)
		posix_read_collect(file);
	else if (job->kind == POSIX_JOB_WRITE)
		posix_write_collect(file);
	return 0;
}

ssize_t posix_file_async(struct posix_file *file, enum posix_job_kind kind,
			 posix_job_fn *fn, const char *src_key)
{
	int ret = posix_file_slot(file, kind);

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret == 0) {
		if (src_key != NULL)
			snprintf(file->src_key, sizeof(file->src_key), "%s",
				 src_key);
		if (posix_job_start(file->o.pfs, &file->job, kind, fn) ==
		    -EAGAIN)
			return -EAGAIN;
	}
	return file->job.ret;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                    */

/* Opens key as a regular file for reading; errors go on o. */
int posix_open_object(struct posix_obj *o, const char *op, const char *key,
		      int *fd_r)
{
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO planted under the key must not hang us. */
	fd = posix_open_beneath(
		o->pfs, key, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		return posix_lookup_error(o, op, key, fd);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return posix_fail(&o->err, -ENOENT,
				  "posix: %s '%s': no such object (not a "
				  "regular file)",
				  op, key);
	}
	*fd_r = fd;
	return 0;
}

/* Reads up to size bytes at the read position of the range. */
static ssize_t posix_obj_read(struct posix_obj *o, void *buf, size_t size)
{
	uint64_t left = UINT64_MAX;
	ssize_t ret;
	int err;

	if (o->fd < 0) {
		err = posix_open_object(o, "read", o->key, &o->fd);
		if (err < 0)
			return err;
	}
	if (o->range_length != UINT64_MAX)
		left = o->range_length - o->read_pos;
	if (left == 0)
		return 0;
	if (size > left)
		size = (size_t)left;
	if (o->range_offset > (uint64_t)INT64_MAX - o->read_pos)
		return 0;
	do {
		ret = pread(o->fd, buf, size,
			    (off_t)(o->range_offset + o->read_pos));
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return posix_fail(&o->err, -EIO, "posix: read '%s': %s", o->key,
				  posix_strerror(errno));
	o->read_pos += (uint64_t)ret;
	return ret;
}

/* Worker: fills the read-ahead buffer; a short chunk is the end. */
static void posix_run_read(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);
	size_t got = 0;
	ssize_t ret = 0;

	file->o.err.set = false;
	while (got < POSIX_READ_CHUNK) {
		ret = posix_obj_read(&file->o, file->rbuf + got,
				     POSIX_READ_CHUNK - got);
		if (ret <= 0)
			break;
		got += (size_t)ret;
	}
	/* data before a failure is given first; the failure comes again */
	file->rlen = got;
	file->reof = ret == 0;
	job->ret = got > 0 ? (ssize_t)got : ret;
}

/* A finished read-ahead: its data is served from rbuf. A failure is
   dropped here (the next chunk's read meets it again). */
void posix_read_collect(struct posix_file *file)
{
	file->rpos = 0;
	if (file->job.ret < 0) {
		file->rlen = 0;
		file->reof = false;
	}
}

/* Starts reading the next chunk. Returns -EAGAIN, or 0 when it was read at
   once (then collected), or -ENOMEM. */
static int posix_read_start(struct posix_file *file)
{
	struct fs_file *_file = &file->file;

	if (file->rbuf == NULL) {
		file->rbuf = malloc(POSIX_READ_CHUNK);
		if (file->rbuf == NULL)
			return fs_file_set_error(_file, -ENOMEM,
						 "posix: read '%s': out of "
						 "memory",
						 file->o.key);
	}
	file->o.range_offset = _file->range_offset;
	file->o.range_length = _file->range_length;
	return posix_job_start(file->o.pfs, &file->job, POSIX_JOB_READ,
			       posix_run_read);
}

/* Takes the result of a read request: data into rbuf, or the error. */
static ssize_t posix_read_taken(struct posix_file *file)
{
	ssize_t ret = file->job.ret;

	if (ret < 0)
		return posix_file_result(&file->file, &file->o.err, ret);
	posix_read_collect(file);
	return 0;
}

static ssize_t posix_read_async(struct posix_file *file, void *buf, size_t size)
{
	ssize_t ret = posix_file_slot(file, POSIX_JOB_READ);
	size_t n;

	if (ret == 1)
		ret = posix_read_taken(file);
	if (ret == 0 && file->rpos == file->rlen && !file->reof) {
		ret = posix_read_start(file);
		if (ret == 0)
			ret = posix_read_taken(file);
	}
	if (ret < 0)
		return ret;
	n = file->rlen - file->rpos;
	if (n > size)
		n = size;
	memcpy(buf, file->rbuf + file->rpos, n);
	file->rpos += n;
	/* read ahead while the application works on this */
	if (n > 0 && file->rpos == file->rlen && !file->reof &&
	    posix_read_start(file) == 0)
		posix_read_collect(file);
	return (ssize_t)n;
}

ssize_t posix_read(struct fs_file *_file, void *buf, size_t size)
{
	struct posix_file *file = posix_file_of(_file);

	if (file->async)
		return posix_read_async(file, buf, size);
	file->o.err.set = false;
	file->o.range_offset = _file->range_offset;
	file->o.range_length = _file->range_length;
	return posix_file_result(_file, &file->o.err,
				 posix_obj_read(&file->o, buf, size));
}

void posix_read_free(struct posix_file *file)
{
	if (file->o.fd >= 0)
		close(file->o.fd);
	file->o.fd = -1;
	free(file->rbuf);
	file->rbuf = NULL;
	file->rpos = file->rlen = 0;
}

/* ------------------------------------------------------------------------ */
/* Stat and exists                                                            */

/* lstat() of the key beneath the root: 0, or an error. */
static int posix_stat_key(struct posix_obj *o, const char *op,
			  struct stat *st_r)
{
	int fd, err;

	fd = posix_open_beneath(o->pfs, o->key, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return posix_lookup_error(o, op, o->key, fd);
	err = fstat(fd, st_r) < 0 ? -errno : 0;
	close(fd);
	if (err < 0)
		return posix_lookup_error(o, op, o->key, err);
	if (S_ISLNK(st_r->st_mode))
		return posix_lookup_error(o, op, o->key, -ELOOP);
	if (!S_ISREG(st_r->st_mode))
		return posix_fail(&o->err, -ENOENT,
				  "posix: %s '%s': no such object (not a "
				  "regular file)",
				  op, o->key);
	return 0;
}

static int posix_obj_stat(struct posix_obj *o, struct fs_stat *st_r)
{
	struct stat st;
	int64_t mtime_ns;
	int ret;

	ret = posix_stat_key(o, "stat", &st);
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

static int posix_obj_exists(struct posix_obj *o)
{
	struct stat st;
	int ret;

	ret = posix_stat_key(o, "exists", &st);
	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}

static void posix_run_stat(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);

	file->o.err.set = false;
	job->ret = posix_obj_stat(&file->o, &file->st);
}

static void posix_run_exists(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);

	file->o.err.set = false;
	job->ret = posix_obj_exists(&file->o);
}

int posix_stat(struct fs_file *_file, struct fs_stat *st_r)
{
	struct posix_file *file = posix_file_of(_file);
	ssize_t ret;

	if (!file->async) {
		file->o.err.set = false;
		ret = posix_obj_stat(&file->o, st_r);
	} else {
		ret = posix_file_async(file, POSIX_JOB_STAT, posix_run_stat,
				       NULL);
		if (ret == 0)
			*st_r = file->st;
	}
	return (int)posix_file_result(_file, &file->o.err, ret);
}

int posix_exists(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	ssize_t ret;

	if (!file->async) {
		file->o.err.set = false;
		ret = posix_obj_exists(&file->o);
	} else {
		ret = posix_file_async(file, POSIX_JOB_EXISTS, posix_run_exists,
				       NULL);
	}
	return (int)posix_file_result(_file, &file->o.err, ret);
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                   */

/* Adds the value of the xattr name to o's loaded metadata. */
static int posix_md_load_one(struct posix_obj *o, int fd, const char *name)
{
	char value[FS_METADATA_TOTAL_MAX + 1];
	ssize_t len;

	len = fgetxattr(fd, name, value, sizeof(value) - 1);
	if (len < 0 && errno == ENODATA)
		return 0; /* removed meanwhile */
	if (len < 0)
		return posix_fail(&o->err, -EIO, "posix: metadata '%s': %s: %s",
				  o->key, name, posix_strerror(errno));
	value[len] = '\0';
	if (fs_metadata_list_set(&o->md_in, name + strlen(POSIX_XATTR_PREFIX),
				 value) < 0)
		return posix_fail(&o->err, -ENOMEM,
				  "posix: metadata '%s': out of memory",
				  o->key);
	return 0;
}

static int posix_md_load(struct posix_obj *o, int fd)
{
	size_t plen = strlen(POSIX_XATTR_PREFIX);
	char *list, *name;
	ssize_t len;
	int ret = 0;

	list = malloc(POSIX_XATTR_LIST_MAX);
	if (list == NULL)
		return posix_fail(&o->err, -ENOMEM,
				  "posix: metadata '%s': out of memory",
				  o->key);
	len = flistxattr(fd, list, POSIX_XATTR_LIST_MAX);
	if (len < 0)
		ret = posix_fail(&o->err, -EIO,
				 "posix: metadata '%s': listxattr: %s", o->key,
				 posix_strerror(errno));
	for (name = list; ret == 0 && name < list + len;
	     name += strlen(name) + 1) {
		if (strncmp(name, POSIX_XATTR_PREFIX, plen) == 0 &&
		    fs_metadata_validate(name + plen, NULL) == 0)
			ret = posix_md_load_one(o, fd, name);
	}
	free(list);
	return ret;
}

static int posix_obj_get_metadata(struct posix_obj *o)
{
	int fd = o->fd, ret;

	fs_metadata_list_clear(&o->md_in);
	if (!o->pfs->xattr)
		return posix_fail(&o->err, -ENOTSUP,
				  "posix: metadata '%s': the filesystem has no "
				  "user xattrs",
				  o->key);
	/* A file being read answers from the inode it reads. */
	if (fd < 0) {
		ret = posix_open_object(o, "metadata", o->key, &fd);
		if (ret < 0)
			return ret;
	}
	ret = posix_md_load(o, fd);
	if (fd != o->fd)
		close(fd);
	return ret;
}

static void posix_run_metadata(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);

	file->o.err.set = false;
	job->ret = posix_obj_get_metadata(&file->o);
}

/* Hands the loaded metadata to the handle. */
static int posix_md_move(struct fs_file *_file, struct posix_obj *o)
{
	size_t i;
	int ret = 0;

	for (i = 0; ret == 0 && i < o->md_in.count; i++) {
		if (fs_file_metadata_add(_file, o->md_in.items[i].name,
					 o->md_in.items[i].value) < 0)
			ret = fs_file_set_error(_file, -ENOMEM,
						"posix: metadata '%s': out of "
						"memory",
						o->key);
	}
	fs_metadata_list_clear(&o->md_in);
	return ret;
}

int posix_get_metadata(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	ssize_t ret;

	if (!file->async) {
		file->o.err.set = false;
		ret = posix_obj_get_metadata(&file->o);
	} else {
		ret = posix_file_async(file, POSIX_JOB_METADATA,
				       posix_run_metadata, NULL);
	}
	if (ret == 0)
		ret = posix_md_move(_file, &file->o);
	if (ret < 0 && ret != -EAGAIN)
		fs_metadata_list_clear(&file->o.md_in);
	return (int)posix_file_result(_file, &file->o.err, ret);
}

/* ------------------------------------------------------------------------ */
/* Delete                                                                     */

/* Opens the directory of key (O_PATH); errors go on o. */
static int posix_key_dir(struct posix_obj *o, const char *op, const char *key,
			 size_t dir_len)
{
	char dir[FS_KEY_MAX + 1];
	int fd;

	fd = posix_open_beneath(o->pfs, posix_dir_path(key, dir_len, dir),
				O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return posix_lookup_error(o, op, key, fd);
	return fd;
}

/* Checks that base in dir_fd is an object, filling *st_r. */
static int posix_check_object(struct posix_obj *o, const char *op,
			      const char *key, int dir_fd, const char *base,
			      struct stat *st_r)
{
	if (fstatat(dir_fd, base, st_r, AT_SYMLINK_NOFOLLOW) < 0)
		return posix_lookup_error(o, op, key, -errno);
	if (S_ISLNK(st_r->st_mode))
		return posix_lookup_error(o, op, key, -ELOOP);
	if (!S_ISREG(st_r->st_mode))
		return posix_lookup_error(o, op, key, -ENOENT);
	return 0;
}

static int posix_obj_delete(struct posix_obj *o)
{
	struct stat st;
	int dir_fd, ret;

	dir_fd = posix_key_dir(o, "delete", o->key, o->dir_len);
	if (dir_fd < 0)
		return dir_fd;
	ret = posix_check_object(o, "delete", o->key, dir_fd, o->base, &st);
	if (ret == 0 && unlinkat(dir_fd, o->base, 0) < 0)
		ret = posix_lookup_error(o, "delete", o->key, -errno);
	if (ret == 0 && (o->flags & FS_OPEN_FLAG_FSYNC))
		(void)posix_fsync_dir(dir_fd);
	close(dir_fd);
	if (ret == 0)
		posix_prune_dirs(o->pfs, o->key, o->dir_len);
	return ret;
}

static void posix_run_delete(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);

	file->o.err.set = false;
	job->ret = posix_obj_delete(&file->o);
}

int posix_delete(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	ssize_t ret;

	if (!file->async) {
		file->o.err.set = false;
		ret = posix_obj_delete(&file->o);
	} else {
		ret = posix_file_async(file, POSIX_JOB_DELETE, posix_run_delete,
				       NULL);
	}
	return (int)posix_file_result(_file, &file->o.err, ret);
}

/* ------------------------------------------------------------------------ */
/* Copy                                                                       */

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

/* Copies the object src_key to o's key; errors go on o. */
static int posix_obj_copy(struct posix_obj *o, const char *src_key)
{
	int src_fd, ret;

	posix_obj_abort(o);
	ret = posix_open_object(o, "copy", src_key, &src_fd);
	if (ret < 0)
		return ret;
	ret = posix_write_begin(o);
	if (ret == 0) {
		ret = posix_copy_data(src_fd, o->tmp_fd);
		if (ret < 0)
			ret = posix_write_error(o, "copy", -ret);
	}
	if (ret == 0 && o->pfs->xattr)
		ret = posix_md_copy(o, src_fd, o->tmp_fd);
	close(src_fd);
	if (ret == 0 && o->mode == FS_OPEN_APPEND)
		ret = posix_fail(&o->err, -EINVAL,
				 "posix: copy to '%s': the destination must be "
				 "open with CREATE or REPLACE",
				 o->key);
	if (ret == 0)
		ret = posix_publish(o);
	if (ret == 0)
		o->dirs_created = false;
	posix_obj_abort(o);
	return ret;
}

static void posix_run_copy(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);

	file->o.err.set = false;
	job->ret = posix_obj_copy(&file->o, file->src_key);
}

int posix_copy(struct fs_file *_src, struct fs_file *_dst)
{
	struct posix_file *dst = posix_file_of(_dst);
	ssize_t ret;

	if (!dst->async) {
		dst->o.err.set = false;
		ret = posix_obj_copy(&dst->o, posix_file_of(_src)->o.key);
	} else {
		ret = posix_file_async(dst, POSIX_JOB_COPY, posix_run_copy,
				       posix_file_of(_src)->o.key);
	}
	return (int)posix_file_result(_dst, &dst->o.err, ret);
}

/* ------------------------------------------------------------------------ */
/* Rename                                                                     */

/* The source of a rename: its key, and the directory it is in. */
struct posix_src {
	const char *key, *base;
	size_t dir_len;
	int dir_fd;
	struct stat st;
};

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

/* One attempt at moving src into the directory ddir of o. Returns 0, the
   raw -ENOENT (src or ddir vanished) or -EXDEV (a mount point between
   them), or an error. */
static int posix_rename_once(struct posix_obj *o, const struct posix_src *src,
			     int ddir)
{
	bool replace = o->mode == FS_OPEN_REPLACE;
	int ret;

	ret = posix_check_target(o, ddir, o->base, replace);
	if (ret < 0)
		return ret;
	if (replace)
		ret = renameat(src->dir_fd, src->base, ddir, o->base) < 0
			      ? -errno
			      : 0;
	else
		ret = posix_rename_noreplace(src->dir_fd, src->base, ddir,
					     o->base);
	switch (ret) {
	case 0:
	case -ENOENT:
	case -EXDEV:
		return ret;
	case -EEXIST:
		return posix_fail(&o->err, -EEXIST,
				  "posix: rename to '%s': the key exists",
				  o->key);
	case -EISDIR:
	case -ENOTEMPTY:
		return posix_conflict_error(o, POSIX_KIND_DIR, o->key, 0);
	default:
		return posix_write_error(o, "rename", -ret);
	}
}

/* After a rename, src may still be there if it was a hard link of dst. */
static void posix_rename_cleanup(const struct posix_src *src, bool same_key)
{
	struct stat st;

	if (same_key ||
	    fstatat(src->dir_fd, src->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (st.st_ino == src->st.st_ino && st.st_dev == src->st.st_dev)
		(void)unlinkat(src->dir_fd, src->base, 0);
}

/* Returns 0, 1 when only a copy can do it, or an error. */
static int posix_rename_loop(struct posix_obj *o, const struct posix_src *src)
{
	struct stat st;
	int ddir, ret = -ENOENT, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		ddir = posix_dir_open(o);
		if (ddir == -ENOENT)
			continue;
		if (ddir < 0)
			return ddir;
		ret = posix_rename_once(o, src, ddir);
		if (ret == 0 && (o->flags & FS_OPEN_FLAG_FSYNC))
			(void)posix_fsync_dir(ddir);
		close(ddir);
		if (ret != -ENOENT)
			break;
		/* src is gone, or a concurrent delete removed the directory
		   we made for dst: then again. */
		ret = posix_check_object(o, "rename", src->key, src->dir_fd,
					 src->base, &st);
		if (ret < 0)
			return ret;
		ret = -ENOENT;
	}
	if (ret == -ENOENT)
		return posix_write_error(o, "rename", ENOENT);
	if (ret == -EXDEV)
		return 1;
	if (ret == 0)
		posix_rename_cleanup(src, strcmp(src->key, o->key) == 0);
	return ret;
}

/* Moves the object src_key to o's key; errors go on o. */
static int posix_obj_rename(struct posix_obj *o, const char *src_key)
{
	struct posix_src src = {.key = src_key};
	int ret;

	posix_key_split(src_key, &src.base, &src.dir_len);
	src.dir_fd = posix_key_dir(o, "rename", src_key, src.dir_len);
	if (src.dir_fd < 0)
		return src.dir_fd;
	ret = posix_check_object(o, "rename", src_key, src.dir_fd, src.base,
				 &src.st);
	if (ret == 0)
		ret = posix_rename_loop(o, &src);
	if (ret == 1) {
		/* A mount point between the two: copy, then delete. */
		ret = posix_obj_copy(o, src_key);
		if (ret == 0 && unlinkat(src.dir_fd, src.base, 0) < 0 &&
		    errno != ENOENT)
			ret = posix_write_error(o, "rename", errno);
	}
	if (ret == 0 && (o->flags & FS_OPEN_FLAG_FSYNC))
		(void)posix_fsync_dir(src.dir_fd);
	close(src.dir_fd);
	if (ret == 0)
		posix_prune_dirs(o->pfs, src_key, src.dir_len);
	return ret;
}

static void posix_run_rename(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);

	file->o.err.set = false;
	job->ret = posix_obj_rename(&file->o, file->src_key);
}

int posix_rename(struct fs_file *_src, struct fs_file *_dst)
{
	struct posix_file *dst = posix_file_of(_dst);
	ssize_t ret;

	if (!dst->async) {
		dst->o.err.set = false;
		ret = posix_obj_rename(&dst->o, posix_file_of(_src)->o.key);
	} else {
		ret = posix_file_async(dst, POSIX_JOB_RENAME, posix_run_rename,
				       posix_file_of(_src)->o.key);
	}
	return (int)posix_file_result(_dst, &dst->o.err, ret);
}
