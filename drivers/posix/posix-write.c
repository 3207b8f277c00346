/*
 * posix: writing through a temporary file in the key's directory, published
 * at finish with linkat() (CREATE), renameat() (REPLACE) or appended
 * (APPEND); see posix.c for the guarantees.
 *
 * ASYNC files take the data into a buffer of up to POSIX_WRITE_CHUNK bytes;
 * a full buffer is written to the temporary file by a worker while the
 * application goes on (one chunk in flight per file: the next fs_write()
 * answers -EAGAIN until it is written), and the rest goes with the finish,
 * which a worker runs too (write, metadata, fsync, link or rename). So a
 * small object costs one worker request.
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

/* Stores the write metadata of o on fd. */
static int posix_md_store(struct posix_obj *o, int fd)
{
	const struct fs_metadata_list *md = o->write_md;
	char name[sizeof(POSIX_XATTR_PREFIX) + FS_METADATA_NAME_MAX];
	size_t i;

	for (i = 0; md != NULL && i < md->count; i++) {
		snprintf(name, sizeof(name), "%s%s", POSIX_XATTR_PREFIX,
			 md->items[i].name);
		if (fsetxattr(fd, name, md->items[i].value,
			      strlen(md->items[i].value), 0) < 0)
			return posix_write_error(o, "setxattr", errno);
		o->md_written = true;
	}
	return 0;
}

/* Copies the user.libfs.* xattrs of src_fd to dst_fd. */
int posix_md_copy(struct posix_obj *o, int src_fd, int dst_fd)
{
	size_t plen = strlen(POSIX_XATTR_PREFIX);
	char value[FS_METADATA_TOTAL_MAX + 1];
	char *list, *name;
	ssize_t len, vlen;
	int ret = 0;

	list = malloc(POSIX_XATTR_LIST_MAX);
	if (list == NULL)
		return posix_write_error(o, "copy metadata", ENOMEM);
	len = flistxattr(src_fd, list, POSIX_XATTR_LIST_MAX);
	if (len < 0)
		ret = posix_write_error(o, "listxattr", errno);
	for (name = list; ret == 0 && name < list + len;
	     name += strlen(name) + 1) {
		if (strncmp(name, POSIX_XATTR_PREFIX, plen) != 0)
			continue;
		vlen = fgetxattr(src_fd, name, value, sizeof(value));
		if (vlen < 0 && errno == ENODATA)
			continue;
		if (vlen < 0 ||
		    fsetxattr(dst_fd, name, value, (size_t)vlen, 0) < 0)
			ret = posix_write_error(o, "copy xattr", errno);
		o->md_written = true;
	}
	free(list);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Writing: directories and the temporary file                                */

/* Opens (making it if needed) directory name in dfd, never through a
   symlink. Returns the fd, or -errno with -ENOTDIR for non-directories. */
static int posix_mkdir_one(struct posix_obj *o, int dfd, const char *name)
{
	int fd, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		fd = openat(dfd, name,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd >= 0 ? fd : -errno;
		if (mkdirat(dfd, name, 0777) < 0 && errno != EEXIST)
			return -errno;
		o->dirs_created = true;
	}
	return -ENOENT;
}

/* mkdir -p of the key's directory (not the root), one segment at a time
   with O_NOFOLLOW. Returns the directory's O_PATH fd, the raw -ENOENT when
   a concurrent delete removed a directory under us, or an error. */
static int posix_mkdirs(struct posix_obj *o)
{
	struct posix_fs *pfs = o->pfs;
	char name[NAME_MAX + 1];
	const char *key = o->key, *seg = key;
	size_t len, done;
	int dfd = pfs->root_fd, fd;
	struct stat st;

	while ((size_t)(seg - key) < o->dir_len) {
		len = strcspn(seg, "/");
		done = (size_t)(seg - key) + len;
		memcpy(name, seg, len);
		name[len] = '\0';
		fd = posix_mkdir_one(o, dfd, name);
		if ((fd == -ENOTDIR || fd == -ELOOP) &&
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			fd = posix_conflict_error(o, posix_kind_of(st.st_mode),
						  key, done);
		} else if (fd < 0 && fd != -ENOENT) {
			fd = posix_write_error(o, "mkdir", -fd);
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
   Returns the fd, the raw -ENOENT (to retry) or an error. */
int posix_dir_open(struct posix_obj *o)
{
	char dir[FS_KEY_MAX + 1];
	enum posix_kind kind;
	size_t len;
	int fd;

	fd = posix_open_beneath(o->pfs, posix_dir_path(o->key, o->dir_len, dir),
				O_PATH | O_DIRECTORY, 0);
	if (fd >= 0)
		return fd;
	if (fd == -ENOENT)
		return posix_mkdirs(o);
	if (fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV) {
		kind = posix_classify(o->pfs, dir, &len);
		if (kind == POSIX_KIND_MISSING)
			return posix_mkdirs(o);
		if (kind == POSIX_KIND_DIR)
			kind = POSIX_KIND_SYMLINK;
		return posix_conflict_error(o, kind, dir, len);
	}
	return posix_write_error(o, "open directory", -fd);
}

/* Creates the temporary file in dir_fd. Returns 0, the raw -ENOENT when the
   directory vanished (a concurrent delete), or an error. */
static int posix_temp_create(struct posix_obj *o, int dir_fd)
{
	int fd, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		posix_temp_name(o->tmp_name);
		fd = openat(dir_fd, o->tmp_name,
			    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0666);
		if (fd >= 0) {
			o->tmp_fd = fd;
			o->dir_fd = dir_fd;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	o->tmp_name[0] = '\0';
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	return posix_write_error(o, "create temporary file",
				 fd < 0 ? errno : EEXIST);
}

int posix_write_begin(struct posix_obj *o)
{
	int dir_fd, ret, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		dir_fd = posix_dir_open(o);
		if (dir_fd == -ENOENT)
			continue;
		if (dir_fd < 0)
			return dir_fd;
		ret = posix_temp_create(o, dir_fd);
		if (ret == 0)
			return 0;
		close(dir_fd);
		if (ret != -ENOENT)
			return ret;
	}
	return posix_write_error(o, "create temporary file", ENOENT);
}

void posix_obj_abort(struct posix_obj *o)
{
	if (o->tmp_fd >= 0)
		close(o->tmp_fd);
	o->tmp_fd = -1;
	if (o->tmp_name[0] != '\0' && o->dir_fd >= 0)
		(void)unlinkat(o->dir_fd, o->tmp_name, 0);
	o->tmp_name[0] = '\0';
	if (o->dir_fd >= 0)
		close(o->dir_fd);
	o->dir_fd = -1;
	/* An abandoned write leaves no directory it made behind either. */
	if (o->dirs_created)
		posix_prune_dirs(o->pfs, o->key, o->dir_len);
	o->dirs_created = false;
	o->md_written = false;
}

/* Appends data to the temporary file, creating it first. Returns size, or
   an error after which nothing of the write remains. */
static ssize_t posix_obj_write(struct posix_obj *o, const void *data,
			       size_t size)
{
	int ret;

	if (o->tmp_fd < 0) {
		ret = posix_write_begin(o);
		if (ret < 0)
			return ret;
	}
	ret = posix_write_full(o->tmp_fd, data, size);
	if (ret < 0) {
		ret = posix_write_error(o, "write temporary file", -ret);
		posix_obj_abort(o);
		return ret;
	}
	return (ssize_t)size;
}

/* ------------------------------------------------------------------------ */
/* Writing: publishing                                                        */

/* Checks what is at the key now: -EACCES for a symlink, -EEXIST for a
   directory or (exists_ok false) an object. Returns 1 if an object is there,
   0 if nothing. */
int posix_check_target(struct posix_obj *o, int dir_fd, const char *base,
		       bool exists_ok)
{
	struct stat st;
	enum posix_kind kind;

	if (fstatat(dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0
				       : posix_write_error(o, "stat", errno);
	kind = posix_kind_of(st.st_mode);
	if (kind == POSIX_KIND_OBJECT && exists_ok)
		return 1;
	if (kind == POSIX_KIND_OBJECT)
		return posix_fail(&o->err, -EEXIST,
				  "posix: write '%s': the key exists", o->key);
	return posix_conflict_error(o, kind, o->key, strlen(o->key));
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

static int posix_publish_create(struct posix_obj *o)
{
	int ret;

	ret = posix_check_target(o, o->dir_fd, o->base, false);
	if (ret < 0)
		return ret;
	ret = posix_link_noreplace(o->dir_fd, o->tmp_name, o->dir_fd, o->base);
	if (ret == -EEXIST) {
		/* Someone was quicker: say what is there now. */
		ret = posix_check_target(o, o->dir_fd, o->base, false);
		return ret < 0 ? ret
			       : posix_fail(&o->err, -EEXIST,
					    "posix: write '%s': the key exists",
					    o->key);
	}
	if (ret < 0)
		return posix_write_error(o, "link", -ret);
	if (ret == 1)
		o->tmp_name[0] = '\0'; /* renamed, not linked */
	return 0;
}

static int posix_publish_replace(struct posix_obj *o)
{
	int ret;

	ret = posix_check_target(o, o->dir_fd, o->base, true);
	if (ret < 0)
		return ret;
	if (renameat(o->dir_fd, o->tmp_name, o->dir_fd, o->base) < 0) {
		if (errno == EISDIR || errno == ENOTEMPTY)
			return posix_conflict_error(o, POSIX_KIND_DIR, o->key,
						    0);
		return posix_write_error(o, "rename", errno);
	}
	o->tmp_name[0] = '\0'; /* consumed */
	return 0;
}

/* Copies the temporary file's data to the end of fd. Returns 0 or -errno. */
static int posix_append_copy(struct posix_obj *o, int fd)
{
	off_t pos = 0;
	ssize_t len;
	char *buf;
	int ret = 0;

	buf = malloc(POSIX_BUF_SIZE);
	if (buf == NULL)
		return -ENOMEM;
	while (ret == 0) {
		len = pread(o->tmp_fd, buf, POSIX_BUF_SIZE, pos);
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
   its old size. Returns 0 or an error. */
static int posix_append_data(struct posix_obj *o, int fd)
{
	struct stat st;
	int ret;

	if (fstat(fd, &st) < 0)
		return posix_write_error(o, "stat", errno);
	ret = posix_append_copy(o, fd);
	if (ret < 0)
		ret = posix_write_error(o, "append", -ret);
	if (ret == 0)
		ret = posix_md_store(o, fd);
	if (ret == 0 && (o->flags & FS_OPEN_FLAG_FSYNC) &&
	    (o->md_written ? fsync(fd) : fdatasync(fd)) < 0)
		ret = posix_write_error(o, "fdatasync", errno);
	if (ret < 0 && ftruncate(fd, st.st_size) < 0) {
		/* Nothing more can be done; the message says what failed. */
	}
	return ret;
}

/* Appends to the existing object. Returns 1 when done, 0 to look again (it
   was deleted or replaced by something else meanwhile), or an error. */
static int posix_append_existing(struct posix_obj *o)
{
	struct stat st;
	int fd, ret;

	fd = openat(o->dir_fd, o->base,
		    O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
			    O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ELOOP || errno == EISDIR ||
		       errno == ENXIO))
		return 0;
	if (fd < 0)
		return posix_write_error(o, "open", errno);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	/* libfs appenders take turns; others only get O_APPEND's promise. */
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	ret = posix_append_data(o, fd);
	close(fd);
	return ret < 0 ? ret : 1;
}

/* A missing object gets the staged file linked in (atomic); an existing one
   has the data appended. Loops while a concurrent delete or create moves
   the ground between the two cases. */
static int posix_publish_append(struct posix_obj *o)
{
	int ret, tries;

	for (tries = 0; tries < POSIX_RETRIES; tries++) {
		ret = posix_check_target(o, o->dir_fd, o->base, true);
		if (ret == 1) {
			ret = posix_append_existing(o);
		} else if (ret == 0) {
			ret = posix_link_noreplace(o->dir_fd, o->tmp_name,
						   o->dir_fd, o->base);
			if (ret == 1)
				o->tmp_name[0] = '\0';
			if (ret >= 0)
				return 0;
			ret = ret == -EEXIST
				      ? 0
				      : posix_write_error(o, "link", -ret);
		}
		if (ret != 0)
			return ret < 0 ? ret : 0;
	}
	return posix_write_error(o, "append", EAGAIN);
}

/* fsync of the key's directory and, where this write made directories,
   of every directory up to the root. */
static int posix_sync_dirs(struct posix_obj *o)
{
	char dir[FS_KEY_MAX + 1];
	char *slash;
	int fd, ret;

	ret = posix_fsync_dir(o->dir_fd);
	posix_dir_path(o->key, o->dir_len, dir);
	while (ret == 0 && o->dirs_created && dir[0] != '\0') {
		slash = strrchr(dir, '/');
		if (slash != NULL)
			*slash = '\0';
		else
			dir[0] = '\0';
		fd = posix_open_beneath(o->pfs, dir, O_RDONLY | O_DIRECTORY, 0);
		ret = fd < 0 ? fd : (fsync(fd) < 0 ? -errno : 0);
		if (fd >= 0)
			close(fd);
	}
	return ret < 0 ? posix_write_error(o, "fsync directory", -ret) : 0;
}

/* Publishes the filled temporary file as o's mode says. */
int posix_publish(struct posix_obj *o)
{
	int ret, fd = o->tmp_fd;

	/* fsync, not fdatasync, when xattrs must be durable too. */
	if ((o->flags & FS_OPEN_FLAG_FSYNC) &&
	    (o->md_written ? fsync(fd) : fdatasync(fd)) < 0)
		return posix_write_error(o, "fsync", errno);
	switch (o->mode) {
	case FS_OPEN_CREATE:
		ret = posix_publish_create(o);
		break;
	case FS_OPEN_REPLACE:
		ret = posix_publish_replace(o);
		break;
	case FS_OPEN_APPEND:
		ret = posix_publish_append(o);
		break;
	default:
		ret = posix_fail(&o->err, -EINVAL,
				 "posix: write '%s': not open for writing",
				 o->key);
		break;
	}
	if (ret == 0 && (o->flags & FS_OPEN_FLAG_FSYNC))
		ret = posix_sync_dirs(o);
	return ret;
}

/* Stores the metadata and publishes; nothing of the write stays behind. */
static int posix_obj_finish(struct posix_obj *o)
{
	int ret;

	if (o->tmp_fd < 0) {
		ret = posix_write_begin(o);
		if (ret < 0)
			return ret;
	}
	ret = posix_md_store(o, o->tmp_fd);
	if (ret == 0)
		ret = posix_publish(o);
	/* Published: what made the directories no longer owns them. */
	if (ret == 0)
		o->dirs_created = false;
	posix_obj_abort(o);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* ASYNC files                                                                */

/* Workers: the buffered chunk; the rest of the data and the finish. */
static void posix_run_write(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);

	file->o.err.set = false;
	job->ret = posix_obj_write(&file->o, file->wbuf, file->wlen);
}

static void posix_run_finish(struct posix_job *job)
{
	struct posix_file *file = FS_CONTAINER_OF(job, struct posix_file, job);
	ssize_t ret = 0;

	file->o.err.set = false;
	if (file->wlen > 0)
		ret = posix_obj_write(&file->o, file->wbuf, file->wlen);
	if (ret >= 0)
		ret = posix_obj_finish(&file->o);
	job->ret = ret;
}

static void posix_wbuf_free(struct posix_file *file)
{
	free(file->wbuf);
	file->wbuf = NULL;
	file->wlen = file->walloc = 0;
	file->o.write_md = NULL;
	fs_metadata_list_clear(&file->md_copy);
}

/* A chunk written in the background: its failure (the write is aborted
   then) is kept for the next write or finish call. */
void posix_write_collect(struct posix_file *file)
{
	ssize_t ret = file->job.ret;

	file->wlen = 0;
	if (ret >= 0)
		return;
	file->werr = (int)ret;
	free(file->werr_msg);
	file->werr_msg = file->o.err.set ? strdup(file->o.err.msg) : NULL;
	file->o.err.set = false;
}

static int posix_werr(struct posix_file *file)
{
	if (file->werr_msg != NULL)
		fs_file_set_error(&file->file, file->werr, "%s",
				  file->werr_msg);
	return file->werr;
}

/* Room for size more bytes (up to the chunk) in the write buffer. */
static int posix_wbuf_grow(struct posix_file *file, size_t size)
{
	size_t alloc = file->walloc;
	char *buf;

	if (alloc == POSIX_WRITE_CHUNK || alloc - file->wlen >= size)
		return 0;
	if (alloc == 0)
		alloc = POSIX_WRITE_FIRST;
	while (alloc < POSIX_WRITE_CHUNK && alloc - file->wlen < size)
		alloc *= 2;
	if (alloc > POSIX_WRITE_CHUNK)
		alloc = POSIX_WRITE_CHUNK;
	buf = realloc(file->wbuf, alloc);
	if (buf == NULL)
		return fs_file_set_error(&file->file, -ENOMEM,
					 "posix: write '%s': out of memory",
					 file->o.key);
	file->wbuf = buf;
	file->walloc = alloc;
	return 0;
}

static ssize_t posix_write_async(struct posix_file *file, const void *data,
				 size_t size)
{
	int ret = posix_file_slot(file, POSIX_JOB_WRITE);
	size_t n;

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret == 1)
		posix_write_collect(file);
	if (file->werr != 0)
		return posix_werr(file);
	ret = posix_wbuf_grow(file, size);
	if (ret < 0)
		return ret;
	n = file->walloc - file->wlen;
	if (n > size)
		n = size;
	memcpy(file->wbuf + file->wlen, data, n);
	file->wlen += n;
	if (file->wlen == POSIX_WRITE_CHUNK &&
	    posix_job_start(file->o.pfs, &file->job, POSIX_JOB_WRITE,
			    posix_run_write) == 0) {
		/* no worker: written at once */
		posix_write_collect(file);
		if (file->werr != 0)
			return posix_werr(file);
	}
	return (ssize_t)n;
}

/* The write metadata, copied for the worker. */
static int posix_md_snapshot(struct posix_file *file)
{
	const struct fs_metadata_list *md = &file->file.write_md;
	size_t i;

	fs_metadata_list_clear(&file->md_copy);
	for (i = 0; i < md->count; i++) {
		if (fs_metadata_list_set(&file->md_copy, md->items[i].name,
					 md->items[i].value) < 0)
			return fs_file_set_error(&file->file, -ENOMEM,
						 "posix: write '%s': out of "
						 "memory",
						 file->o.key);
	}
	file->o.write_md = &file->md_copy;
	return 0;
}

static int posix_finish_collect(struct posix_file *file)
{
	ssize_t ret = file->job.ret;

	posix_wbuf_free(file);
	return (int)posix_file_result(&file->file, &file->o.err, ret);
}

static int posix_finish_async(struct posix_file *file)
{
	int ret = posix_file_slot(file, POSIX_JOB_FINISH);

	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret == 1)
		return posix_finish_collect(file);
	if (file->werr != 0)
		return posix_werr(file);
	ret = posix_md_snapshot(file);
	if (ret < 0)
		return ret;
	if (posix_job_start(file->o.pfs, &file->job, POSIX_JOB_FINISH,
			    posix_run_finish) == -EAGAIN)
		return -EAGAIN;
	return posix_finish_collect(file);
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                    */

ssize_t posix_write(struct fs_file *_file, const void *data, size_t size)
{
	struct posix_file *file = posix_file_of(_file);

	if (file->async)
		return posix_write_async(file, data, size);
	file->o.err.set = false;
	return posix_file_result(_file, &file->o.err,
				 posix_obj_write(&file->o, data, size));
}

int posix_write_finish(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	int ret;

	if (file->async)
		return posix_finish_async(file);
	file->o.err.set = false;
	file->o.write_md = &_file->write_md;
	ret = posix_obj_finish(&file->o);
	file->o.write_md = NULL;
	return (int)posix_file_result(_file, &file->o.err, ret);
}

/* A chunk or finish in flight is taken back (and the core told, through a
   no-op request, if it waits on this file for something else: the request
   slot it waited for is free now). Any other request in flight is run to
   its end first: it may use the write state. */
static void posix_abort_job(struct posix_file *file)
{
	struct fs_file *_file = &file->file;
	struct posix_job *job = &file->job;

	if (job->kind != POSIX_JOB_WRITE && job->kind != POSIX_JOB_FINISH) {
		posix_job_settle(file->o.pfs, job);
		return;
	}
	posix_job_cancel(file->o.pfs, job);
	if (_file->async_pending && _file->op_pending != FS_OP_WRITE)
		posix_job_kick(file->o.pfs, job);
}

void posix_write_abort(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);

	if (file->job.busy)
		posix_abort_job(file);
	posix_obj_abort(&file->o);
	posix_wbuf_free(file);
	file->werr = 0;
	free(file->werr_msg);
	file->werr_msg = NULL;
}
