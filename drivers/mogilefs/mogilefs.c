/*
 * mogilefs: keys in a MogileFS domain.
 *
 *   mogilefs://HOST:PORT[,HOST:PORT...]/DOMAIN[?class=CLASS&checksumverify=1]
 *
 * The trackers answer the metadata questions (tracker.c); the bytes move
 * over HTTP between this process and the storage nodes (libfs/http.c, one
 * curl multi per fs). wait_async() waits on both at once: the tracker
 * sockets are handed to fs_http_wait_fds().
 *
 * What MogileFS can and cannot do, and what this driver does about it:
 *  - Range reads: a Range header on the storage node (FS_CAP_RANGE).
 *  - rename is one tracker command (FS_CAP_RENAME_ATOMIC). The tracker
 *    never overwrites with rename: a REPLACE rename onto an existing key
 *    deletes that key first, so for a moment neither exists there.
 *  - FS_OPEN_CREATE is not atomic (no FS_CAP_CREATE_EXCL): finishing asks
 *    file_info whether the key exists (-EEXIST if it does) and then
 *    publishes with create_close, which overwrites: a writer that creates
 *    the key between the two wins and is overwritten.
 *  - No mtime, no ETag, no metadata (the capability bits are off): stat
 *    gives the size only.
 *  - Keys are at most 255 bytes (the tracker's dkey column): get_limits
 *    says so, and the core refuses longer ones with -EINVAL.
 *  - No fsync: a closed file is on one storage node; the tracker copies it
 *    to the class's other devices afterwards.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mogilefs-private.h"

/* ------------------------------------------------------------------------ */
/* Helpers for the other files                                                */

void mfs_file_notify(struct mfs_file *file)
{
	mfs_file_fs(&file->file)->progress_seq++;
	fs_file_async_done(&file->file);
}

static void mfs_file_treq_done(struct mfs_treq *req, void *context)
{
	mfs_file_notify(context);
}

struct mfs_treq *mfs_file_treq(struct mfs_file *file, const char *cmd,
			       bool idempotent)
{
	struct mfs_fs *fs = mfs_file_fs(&file->file);
	struct mfs_treq *req = mfs_treq_new(fs->tracker, cmd, idempotent);

	if (req == NULL)
		return NULL;
	mfs_treq_set_callback(req, mfs_file_treq_done, file);
	(void)mfs_treq_arg(req, "domain", fs->domain);
	return req;
}

int mfs_file_treq_start(struct mfs_file *file, struct mfs_treq **req)
{
	if (*req == NULL || mfs_treq_start(*req) < 0) {
		mfs_treq_free(req);
		return fs_file_set_error(&file->file, -ENOMEM,
					 "%s: out of memory (mogilefs)",
					 file->file.key);
	}
	return -EAGAIN;
}

int mfs_file_treq_error(struct mfs_file *file, const struct mfs_treq *req,
			const char *what)
{
	return fs_file_set_error(&file->file, mfs_treq_result(req),
				 "%s %s: %s (mogilefs)", what, file->file.key,
				 mfs_treq_error(req));
}

static void mfs_http_progress(struct fs_http_request *req, void *context)
{
	struct mfs_file *file = context;

	if (req == file->wr_req) {
		/* the pump may free the request when the spool fails */
		mfs_write_pump(file);
		if (file->wr_req != NULL &&
		    !fs_http_request_is_done(file->wr_req))
			return;
	}
	mfs_file_notify(file);
}

const struct fs_http_callbacks mfs_http_callbacks = {
	.progress = mfs_http_progress,
};

/* ------------------------------------------------------------------------ */
/* The spec                                                                   */

static int mfs_bad_spec(struct mfs_fs *fs, const char *why)
{
	return fs_set_error(&fs->fs, -EINVAL,
			    "%s: expected mogilefs://HOST:PORT[,HOST:PORT...]"
			    "/DOMAIN[?class=CLASS&checksumverify=1]",
			    why);
}

static int mfs_parse_option(struct mfs_fs *fs, const struct fs_kv *kv)
{
	if (strcmp(kv->name, "class") == 0 && kv->value[0] != '\0') {
		free(fs->class_name);
		fs->class_name = strdup(kv->value);
		return fs->class_name == NULL ? -ENOMEM : 0;
	}
	if (strcmp(kv->name, "checksumverify") == 0 &&
	    (kv->value[0] == '\0' || strcmp(kv->value, "1") == 0 ||
	     strcmp(kv->value, "0") == 0)) {
		fs->checksum_verify = strcmp(kv->value, "0") != 0;
		return 0;
	}
	return fs_set_error(&fs->fs, -EINVAL,
			    "unknown or malformed option '%s' (known: "
			    "class=CLASS, checksumverify=0|1)",
			    kv->name);
}

static int mfs_parse_options(struct mfs_fs *fs, const char *query)
{
	struct fs_kv *kv;
	int i, count, ret = 0;

	count = fs_kv_split(query, '&', &kv);
	if (count < 0)
		return mfs_bad_spec(fs, "malformed options");
	for (i = 0; i < count && ret == 0; i++)
		ret = mfs_parse_option(fs, &kv[i]);
	fs_kv_free(kv, count);
	if (ret == -ENOMEM)
		return fs_set_error(&fs->fs, ret, "out of memory");
	return ret;
}

/* Parses "//HOSTS/DOMAIN[?OPTIONS]"; *hosts_r is the caller's. */
static int mfs_parse_spec(struct mfs_fs *fs, const char *args, char **hosts_r)
{
	const char *p = args + 2, *slash, *query;
	int ret;

	*hosts_r = NULL;
	if (strncmp(args, "//", 2) != 0)
		return mfs_bad_spec(fs, "no tracker");
	slash = strchr(p, '/');
	if (slash == NULL || slash == p)
		return mfs_bad_spec(fs, "no tracker or no domain");
	query = strchr(slash + 1, '?');
	if (query == NULL)
		query = slash + strlen(slash);
	if (query == slash + 1 || memchr(slash + 1, '/', query - slash - 1))
		return mfs_bad_spec(fs, "the domain is missing or has a '/'");
	fs->domain = strndup(slash + 1, (size_t)(query - slash - 1));
	*hosts_r = strndup(p, (size_t)(slash - p));
	if (fs->domain == NULL || *hosts_r == NULL)
		return fs_set_error(&fs->fs, -ENOMEM, "out of memory");
	if (*query == '?' && query[1] != '\0') {
		ret = mfs_parse_options(fs, query + 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* fs                                                                         */

static void mfs_free(struct mfs_fs *fs)
{
	mfs_tracker_deinit(&fs->tracker);
	fs_http_deinit(&fs->http);
	free(fs->domain);
	free(fs->class_name);
	fs->domain = fs->class_name = NULL;
}

static int mfs_init(struct fs *_fs, const char *scheme, const char *args)
{
	struct mfs_fs *fs = MFS_FS(_fs);
	char *hosts = NULL;
	int ret;

	ret = mfs_parse_spec(fs, args, &hosts);
	if (ret == 0)
		ret = mfs_tracker_init(_fs, hosts, &fs->tracker);
	if (ret == 0) {
		ret = fs_http_init(_fs, &fs->http);
		if (ret < 0)
			fs_set_error(_fs, ret, "HTTP transport: %s",
				     fs_errno_name(ret));
	}
	free(hosts);
	if (ret < 0)
		mfs_free(fs);
	return ret;
}

static void mfs_deinit(struct fs *_fs)
{
	mfs_free(MFS_FS(_fs));
}

static unsigned int mfs_get_caps(struct fs *_fs)
{
	return FS_CAP_RANGE | FS_CAP_RENAME_ATOMIC | FS_CAP_ITER | FS_CAP_ASYNC;
}

/* Converts the tracker's poll descriptors for curl_multi_poll(). */
static void mfs_waitfds(const struct pollfd *pfds, struct curl_waitfd *wfds,
			unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		wfds[i].fd = pfds[i].fd;
		wfds[i].events =
			((pfds[i].events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
			((pfds[i].events & POLLOUT) ? CURL_WAIT_POLLOUT : 0);
		wfds[i].revents = 0;
	}
}

/* Waits up to wait_ms for tracker sockets or HTTP transfers. */
static int mfs_wait_once(struct mfs_fs *fs, int wait_ms)
{
	struct pollfd pfds[MFS_MAX_CONNS];
	struct curl_waitfd wfds[MFS_MAX_CONNS];
	uint64_t now = fs_now_usec(), next;
	unsigned int n;
	int ret;

	n = mfs_tracker_pollfds(fs->tracker, pfds, MFS_MAX_CONNS, &next);
	if (next != UINT64_MAX) {
		next = next <= now ? 0 : (next - now + 999) / 1000;
		if (wait_ms < 0 || next < (uint64_t)wait_ms)
			wait_ms = (int)next;
	}
	if (fs_http_pending(fs->http) > 0) {
		mfs_waitfds(pfds, wfds, n);
		ret = fs_http_wait_fds(fs->http, wfds, n, wait_ms);
		if (ret < 0)
			return fs_set_error(&fs->fs, ret,
					    "HTTP event loop failed: %s",
					    fs_errno_name(ret));
		return 0;
	}
	if (n == 0 && wait_ms < 0)
		return 0;
	if (poll(pfds, n, wait_ms) < 0 && errno != EINTR)
		return fs_set_error(&fs->fs, -EIO, "poll: %s", strerror(errno));
	return 0;
}

static int mfs_wait_async(struct fs *_fs, int timeout_ms)
{
	struct mfs_fs *fs = MFS_FS(_fs);
	uint64_t seq = fs->progress_seq, now, end;
	int ret, wait_ms;

	end = timeout_ms < 0 ? UINT64_MAX
			     : fs_now_usec() + (uint64_t)timeout_ms * 1000;
	for (;;) {
		mfs_tracker_run(fs->tracker);
		if (fs->progress_seq != seq ||
		    (mfs_tracker_pending(fs->tracker) == 0 &&
		     fs_http_pending(fs->http) == 0))
			return 0;
		now = fs_now_usec();
		if (now >= end && timeout_ms != 0)
			return 0;
		wait_ms = end == UINT64_MAX ? -1
			  : now >= end	    ? 0
					    : (int)((end - now + 999) / 1000);
		ret = mfs_wait_once(fs, wait_ms);
		if (ret < 0)
			return ret;
		if (timeout_ms == 0) {
			mfs_tracker_run(fs->tracker);
			return 0;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Files                                                                      */

/* The tracker's dkey column is VARCHAR(255): the core refuses longer
   keys with -EINVAL. */
static void mfs_get_limits(struct fs *_fs, struct fs_limits *limits)
{
	if (limits->key_max > MFS_KEY_MAX)
		limits->key_max = MFS_KEY_MAX;
}

static int mfs_file_init(struct fs_file *_file)
{
	MFS_FILE(_file)->spool.fd = -1;
	return 0;
}

static void mfs_op_reset(struct mfs_file *file)
{
	mfs_treq_free(&file->op_treq);
	file->op_step = MFS_STEP_NONE;
	file->op_tries = 0;
}

static void mfs_file_deinit(struct fs_file *_file)
{
	struct mfs_file *file = MFS_FILE(_file);

	mfs_op_reset(file);
	mfs_read_free(file);
	mfs_write_abort(_file);
}

/* Starts a one-shot operation step with a request of cmd on key. */
static int mfs_op_start(struct mfs_file *file, enum mfs_step step,
			const char *cmd, bool idempotent, const char *key)
{
	mfs_treq_free(&file->op_treq);
	file->op_step = step;
	file->op_treq = mfs_file_treq(file, cmd, idempotent);
	if (file->op_treq != NULL && key != NULL)
		(void)mfs_treq_arg(file->op_treq, "key", key);
	return mfs_file_treq_start(file, &file->op_treq);
}

/* file_info for stat and exists. Returns 0 with *size_r, -ENOENT, -EAGAIN
   or -errno. */
static int mfs_info(struct mfs_file *file, const char *what, uint64_t *size_r)
{
	const char *length;
	int ret;

	if (file->op_step != MFS_STEP_INFO)
		return mfs_op_start(file, MFS_STEP_INFO, "file_info", true,
				    file->file.key);
	if (!mfs_treq_done(file->op_treq))
		return -EAGAIN;
	ret = mfs_treq_result(file->op_treq);
	length = mfs_treq_get(file->op_treq, "length");
	if (ret == 0 && (length == NULL || fs_parse_uint(length, size_r) < 0))
		ret = fs_file_set_error(&file->file, -EIO,
					"%s %s: file_info gave no length "
					"(mogilefs)",
					what, file->file.key);
	else if (ret == -ENOENT)
		fs_file_set_error(&file->file, ret, "%s %s: no such key (%s)",
				  what, file->file.key,
				  mfs_treq_error(file->op_treq));
	else if (ret < 0)
		mfs_file_treq_error(file, file->op_treq, what);
	mfs_op_reset(file);
	return ret;
}

static int mfs_stat(struct fs_file *_file, struct fs_stat *st_r)
{
	uint64_t size = 0;
	int ret = mfs_info(MFS_FILE(_file), "stat", &size);

	if (ret == 0) {
		st_r->valid = FS_STAT_SIZE;
		st_r->size = size;
	}
	return ret;
}

static int mfs_exists(struct fs_file *_file)
{
	uint64_t size;
	int ret = mfs_info(MFS_FILE(_file), "exists", &size);

	if (ret == -ENOENT)
		return 0;
	return ret == 0 ? 1 : ret;
}

/* A delete that got no answer: file_info says whether the key is gone. */
static int mfs_delete_verify(struct mfs_file *file)
{
	int ret = mfs_treq_result(file->op_treq);

	if (ret == -ENOENT)
		return 0;
	if (ret == 0)
		return fs_file_set_error(&file->file, -EIO,
					 "delete %s: the tracker did not "
					 "answer and the key still exists "
					 "(mogilefs)",
					 file->file.key);
	return mfs_file_treq_error(file, file->op_treq, "delete (verify)");
}

static int mfs_delete_done(struct mfs_file *file)
{
	int ret = mfs_treq_result(file->op_treq);

	if (ret < 0 && mfs_treq_uncertain(file->op_treq))
		return mfs_op_start(file, MFS_STEP_DELETE_VERIFY, "file_info",
				    true, file->file.key);
	if (ret == -ENOENT)
		fs_file_set_error(&file->file, ret,
				  "delete %s: no such key (mogilefs)",
				  file->file.key);
	else if (ret < 0)
		mfs_file_treq_error(file, file->op_treq, "delete");
	return ret;
}

static int mfs_delete(struct fs_file *_file)
{
	struct mfs_file *file = MFS_FILE(_file);
	enum mfs_step step = file->op_step;
	int ret;

	if (step != MFS_STEP_DELETE && step != MFS_STEP_DELETE_VERIFY)
		return mfs_op_start(file, MFS_STEP_DELETE, "delete", false,
				    _file->key);
	if (!mfs_treq_done(file->op_treq))
		return -EAGAIN;
	ret = step == MFS_STEP_DELETE ? mfs_delete_done(file)
				      : mfs_delete_verify(file);
	if (ret != -EAGAIN)
		mfs_op_reset(file);
	return ret;
}

static int mfs_rename_start(struct mfs_file *src, struct mfs_file *dst)
{
	mfs_treq_free(&dst->op_treq);
	dst->op_step = MFS_STEP_RENAME;
	dst->op_treq = mfs_file_treq(dst, "rename", false);
	if (dst->op_treq != NULL) {
		(void)mfs_treq_arg(dst->op_treq, "from_key", src->file.key);
		(void)mfs_treq_arg(dst->op_treq, "to_key", dst->file.key);
	}
	return mfs_file_treq_start(dst, &dst->op_treq);
}

static int mfs_rename_done(struct mfs_file *src, struct mfs_file *dst)
{
	struct fs_file *_dst = &dst->file;
	int ret = mfs_treq_result(dst->op_treq);

	if (ret == -EEXIST && _dst->mode == FS_OPEN_REPLACE &&
	    ++dst->op_tries < 3) {
		/* the tracker does not overwrite: delete, then again */
		return mfs_op_start(dst, MFS_STEP_RENAME_DELETE, "delete",
				    false, _dst->key);
	}
	if (ret == -ENOENT)
		return fs_file_set_error(_dst, ret,
					 "rename %s: no such key (mogilefs)",
					 src->file.key);
	if (ret == -EEXIST)
		return fs_file_set_error(_dst, ret,
					 "rename %s to %s: the destination "
					 "exists (mogilefs)",
					 src->file.key, _dst->key);
	if (ret < 0 && mfs_treq_uncertain(dst->op_treq))
		return fs_file_set_error(_dst, ret,
					 "rename %s to %s: %s; check both keys "
					 "(mogilefs)",
					 src->file.key, _dst->key,
					 mfs_treq_error(dst->op_treq));
	if (ret < 0)
		return mfs_file_treq_error(dst, dst->op_treq, "rename");
	return 0;
}

static int mfs_rename(struct fs_file *_src, struct fs_file *_dst)
{
	struct mfs_file *src = MFS_FILE(_src), *dst = MFS_FILE(_dst);
	int ret;

	if (dst->op_step != MFS_STEP_RENAME &&
	    dst->op_step != MFS_STEP_RENAME_DELETE) {
		dst->op_tries = 0;
		return mfs_rename_start(src, dst);
	}
	if (!mfs_treq_done(dst->op_treq))
		return -EAGAIN;
	if (dst->op_step == MFS_STEP_RENAME_DELETE) {
		ret = mfs_treq_result(dst->op_treq);
		if (ret < 0 && ret != -ENOENT) {
			ret = mfs_file_treq_error(dst, dst->op_treq,
						  "rename (deleting the old "
						  "destination)");
			mfs_op_reset(dst);
			return ret;
		}
		return mfs_rename_start(src, dst);
	}
	ret = mfs_rename_done(src, dst);
	if (ret != -EAGAIN)
		mfs_op_reset(dst);
	return ret;
}

const struct fs_driver fs_driver_mogilefs = {
	.version = FS_DRIVER_VERSION,
	.name = "mogilefs",
	.fs_size = sizeof(struct mfs_fs),
	.file_size = sizeof(struct mfs_file),
	.iter_size = sizeof(struct mfs_iter),
	.v =
		{
			.init = mfs_init,
			.deinit = mfs_deinit,
			.get_caps = mfs_get_caps,
			.file_init = mfs_file_init,
			.file_deinit = mfs_file_deinit,
			.read = mfs_read,
			.write = mfs_write,
			.write_finish = mfs_write_finish,
			.write_abort = mfs_write_abort,
			.stat = mfs_stat,
			.exists = mfs_exists,
			.delete_file = mfs_delete,
			.rename = mfs_rename,
			.iter_init = mfs_iter_init,
			.iter_next = mfs_iter_next,
			.iter_deinit = mfs_iter_deinit,
			.wait_async = mfs_wait_async,
			.delete_prefix = mfs_delete_prefix,
			.get_limits = mfs_get_limits,
		},
};
