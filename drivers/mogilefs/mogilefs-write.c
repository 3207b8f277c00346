/*
 * Writing: the bytes are spooled (in memory up to MFS_SPOOL_MEMORY, then
 * in an unlinked temporary file under the settings' temp_dir) with their
 * MD5, because a storage node takes one PUT with Content-Length per file
 * and the length is known only at finish. Then:
 *
 *   [CREATE: file_info, -EEXIST if the key exists; see mogilefs.c]
 *   create_open key class multi_dest=1 size   -> fid and destinations
 *   PUT to the first destination (Content-Length)
 *   create_close fid devid path key size checksum=MD5:hex
 *
 * A PUT whose connection failed before any byte of the body left moves on
 * to the next destination of the same fid, as the Perl client does. Any
 * other failure of the PUT, or an ERR of create_close (the tracker then
 * drops the fid: a retry would get no_temp_file), starts over with a new
 * create_open, up to MFS_WRITE_ATTEMPTS times: the spool still has every
 * byte. A fid given up is closed with an empty key, which makes the tracker
 * delete what was stored for it. A create_close without answer is not sent
 * again: file_info tells whether the key now points at our fid.
 *
 * An abort before finish closes a reserved fid with an empty key and
 * drops the spool: nothing remains. An abort while create_close is in flight
 * cannot stop the tracker from publishing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mogilefs-private.h"

#define MFS_PUMP_CHUNK (64 * 1024)

/* ------------------------------------------------------------------------ */
/* The spool                                                                  */

static void mfs_spool_free(struct mfs_spool *spool)
{
	free(spool->mem);
	if (spool->fd >= 0)
		close(spool->fd);
	if (spool->md5 != NULL)
		EVP_MD_CTX_free(spool->md5);
	memset(spool, 0, sizeof(*spool));
	spool->fd = -1;
}

static const char *mfs_temp_dir(struct mfs_file *file)
{
	const char *dir = file->file.fs->set.temp_dir;

	if (dir == NULL || dir[0] == '\0')
		dir = getenv("TMPDIR");
	return dir != NULL && dir[0] != '\0' ? dir : "/tmp";
}

/* An anonymous file under the temporary directory: O_TMPFILE, or a named
   one unlinked at once where the filesystem lacks it. */
static int mfs_spool_tmpfile(struct mfs_file *file)
{
	const char *dir = mfs_temp_dir(file);
	char *path;
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (asprintf(&path, "%s/.libfs-mogilefs-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	else
		fd = -errno;
	free(path);
	return fd;
}

static int mfs_write_fd(int fd, const void *data, size_t size)
{
	const char *p = data;
	ssize_t n;

	while (size > 0) {
		n = write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

/* Moves the spool from memory to a temporary file. */
static int mfs_spool_to_file(struct mfs_file *file)
{
	struct mfs_spool *spool = &file->spool;
	int fd = mfs_spool_tmpfile(file), ret;

	if (fd < 0)
		return fs_file_set_error(&file->file, fd,
					 "write %s: cannot create a spool file "
					 "in %s: %s (mogilefs)",
					 file->file.key, mfs_temp_dir(file),
					 strerror(-fd));
	ret = mfs_write_fd(fd, spool->mem, spool->mem_size);
	if (ret < 0) {
		close(fd);
		return fs_file_set_error(&file->file,
					 ret == -ENOSPC ? ret : -EIO,
					 "write %s: spool file: %s (mogilefs)",
					 file->file.key, strerror(-ret));
	}
	free(spool->mem);
	spool->mem = NULL;
	spool->mem_size = spool->mem_alloc = 0;
	spool->fd = fd;
	return 0;
}

static int mfs_spool_mem_add(struct mfs_spool *spool, const void *data,
			     size_t size)
{
	size_t alloc = spool->mem_alloc;
	unsigned char *mem;

	if (spool->mem_size + size > alloc) {
		if (alloc == 0)
			alloc = 16 * 1024;
		while (alloc < spool->mem_size + size)
			alloc *= 2;
		mem = realloc(spool->mem, alloc);
		if (mem == NULL)
			return -ENOMEM;
		spool->mem = mem;
		spool->mem_alloc = alloc;
	}
	memcpy(spool->mem + spool->mem_size, data, size);
	spool->mem_size += size;
	return 0;
}

static int mfs_spool_add(struct mfs_file *file, const void *data, size_t size)
{
	struct mfs_spool *spool = &file->spool;
	int ret;

	if (spool->md5 == NULL) {
		spool->md5 = EVP_MD_CTX_new();
		if (spool->md5 == NULL ||
		    EVP_DigestInit_ex(spool->md5, EVP_md5(), NULL) != 1)
			return fs_file_set_error(&file->file, -ENOMEM,
						 "write %s: MD5 unavailable "
						 "(mogilefs)",
						 file->file.key);
	}
	if (spool->fd < 0 && spool->mem_size + size > MFS_SPOOL_MEMORY) {
		ret = mfs_spool_to_file(file);
		if (ret < 0)
			return ret;
	}
	if (size == 0)
		ret = 0;
	else if (spool->fd < 0)
		ret = mfs_spool_mem_add(spool, data, size);
	else
		ret = mfs_write_fd(spool->fd, data, size);
	if (ret < 0)
		return fs_file_set_error(
			&file->file,
			ret == -ENOSPC || ret == -ENOMEM ? ret : -EIO,
			"write %s: spooling: %s (mogilefs)", file->file.key,
			strerror(-ret));
	spool->size += size;
	(void)EVP_DigestUpdate(spool->md5, data, size);
	return 0;
}

static int mfs_spool_finish(struct mfs_file *file)
{
	struct mfs_spool *spool = &file->spool;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (spool->md5_hex[0] != '\0')
		return 0;
	if (spool->md5 == NULL && mfs_spool_add(file, "", 0) < 0)
		return -ENOMEM;
	if (EVP_DigestFinal_ex(spool->md5, md, &len) != 1 || len != 16)
		return fs_file_set_error(&file->file, -EIO,
					 "write %s: MD5 failed (mogilefs)",
					 file->file.key);
	for (i = 0; i < len; i++)
		snprintf(spool->md5_hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

ssize_t mfs_write(struct fs_file *_file, const void *data, size_t size)
{
	struct mfs_file *file = MFS_FILE(_file);
	int ret;

	if (file->wr_step != MFS_STEP_NONE)
		return fs_file_set_error(_file, -EINVAL,
					 "write %s: the write is finishing "
					 "(mogilefs)",
					 _file->key);
	ret = mfs_spool_add(file, data, size);
	return ret < 0 ? ret : (ssize_t)size;
}

/* ------------------------------------------------------------------------ */
/* Destinations                                                               */

static void mfs_dests_free(struct mfs_file *file)
{
	unsigned int i;

	for (i = 0; i < file->dest_count; i++)
		free(file->dests[i].path);
	memset(file->dests, 0, sizeof(file->dests));
	file->dest_count = file->dest_idx = 0;
}

static int mfs_dest_add(struct mfs_file *file, const char *devid,
			const char *path)
{
	struct mfs_dest *dest = &file->dests[file->dest_count];

	if (devid == NULL || path == NULL || fs_parse_uint(devid, &dest->devid))
		return -EINVAL;
	dest->path = strdup(path);
	if (dest->path == NULL)
		return -ENOMEM;
	file->dest_count++;
	return 0;
}

/* Takes fid and the destinations of the create_open reply. */
static int mfs_dests_take(struct mfs_file *file, const struct mfs_treq *req)
{
	const char *fid = mfs_treq_get(req, "fid");
	const char *count = mfs_treq_get(req, "dev_count");
	char name1[32], name2[32];
	uint64_t n = 0, i;
	int ret = 0;

	mfs_dests_free(file);
	if (fid == NULL || fs_parse_uint(fid, &file->fid) < 0 || file->fid == 0)
		return -EINVAL;
	if (count == NULL)
		return mfs_dest_add(file, mfs_treq_get(req, "devid"),
				    mfs_treq_get(req, "path"));
	if (fs_parse_uint(count, &n) < 0 || n == 0)
		return -EINVAL;
	for (i = 1; i <= n && file->dest_count < MFS_MAX_DESTS && ret == 0;
	     i++) {
		snprintf(name1, sizeof(name1), "devid_%" PRIu64, i);
		snprintf(name2, sizeof(name2), "path_%" PRIu64, i);
		ret = mfs_dest_add(file, mfs_treq_get(req, name1),
				   mfs_treq_get(req, name2));
	}
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                      */

static struct mfs_treq *mfs_close_req(struct mfs_file *file, bool publish)
{
	const struct mfs_dest *dest = &file->dests[file->dest_idx];
	struct mfs_fs *fs = mfs_file_fs(&file->file);
	struct mfs_treq *req = mfs_file_treq(file, "create_close", false);
	char checksum[40];

	if (req == NULL)
		return NULL;
	(void)mfs_treq_arg_u64(req, "fid", file->fid);
	(void)mfs_treq_arg_u64(req, "devid", dest->devid);
	(void)mfs_treq_arg(req, "path", dest->path);
	/* an empty key discards the fid */
	(void)mfs_treq_arg(req, "key", publish ? file->file.key : "");
	if (!publish)
		return req;
	(void)mfs_treq_arg_u64(req, "size", file->spool.size);
	snprintf(checksum, sizeof(checksum), "MD5:%s", file->spool.md5_hex);
	(void)mfs_treq_arg(req, "checksum", checksum);
	if (fs->checksum_verify)
		(void)mfs_treq_arg(req, "checksumverify", "1");
	return req;
}

/* Gives up the reserved fid: the tracker deletes what it has of it. */
static void mfs_fid_discard(struct mfs_file *file)
{
	struct mfs_treq *req;

	if (file->fid == 0 || file->dest_count == 0)
		return;
	req = mfs_close_req(file, false);
	if (req != NULL)
		mfs_treq_start_orphan(req);
	file->fid = 0;
	mfs_dests_free(file);
}

static int mfs_step_treq(struct mfs_file *file, enum mfs_step step,
			 struct mfs_treq *req)
{
	mfs_treq_free(&file->wr_treq);
	file->wr_step = step;
	file->wr_treq = req;
	return mfs_file_treq_start(file, &file->wr_treq);
}

static int mfs_open_start(struct mfs_file *file)
{
	struct mfs_fs *fs = mfs_file_fs(&file->file);
	struct mfs_treq *req = mfs_file_treq(file, "create_open", false);

	if (req != NULL) {
		(void)mfs_treq_arg(req, "key", file->file.key);
		if (fs->class_name != NULL)
			(void)mfs_treq_arg(req, "class", fs->class_name);
		(void)mfs_treq_arg(req, "fid", "0");
		(void)mfs_treq_arg(req, "multi_dest", "1");
		if (file->spool.size > 0)
			(void)mfs_treq_arg_u64(req, "size", file->spool.size);
	}
	file->attempts++;
	return mfs_step_treq(file, MFS_STEP_OPEN, req);
}

/* Another attempt from create_open, or the error err with detail. */
static int mfs_retry_or_fail(struct mfs_file *file, int err, const char *detail)
{
	mfs_fid_discard(file);
	if (file->attempts < MFS_WRITE_ATTEMPTS && err != -EINVAL &&
	    err != -ENOMEM) {
		fs_stats_add_retry(file->file.fs, FS_OP_WRITE);
		return mfs_open_start(file);
	}
	return fs_file_set_error(&file->file, err,
				 "write %s: %u attempts failed; last: %s "
				 "(mogilefs)",
				 file->file.key, file->attempts, detail);
}

void mfs_write_pump(struct mfs_file *file)
{
	struct mfs_spool *spool = &file->spool;
	ssize_t n, taken;
	size_t len;

	if (file->wr_req == NULL || spool->fd < 0 || file->put_buf == NULL)
		return;
	while (file->put_pos < spool->size) {
		len = spool->size - file->put_pos > MFS_PUMP_CHUNK
			      ? MFS_PUMP_CHUNK
			      : (size_t)(spool->size - file->put_pos);
		n = pread(spool->fd, file->put_buf, len, (off_t)file->put_pos);
		if (n <= 0) {
			/* the request cannot go on: it fails as truncated */
			fs_http_request_deinit(&file->wr_req);
			return;
		}
		taken = fs_http_request_write(file->wr_req, file->put_buf,
					      (size_t)n);
		if (taken <= 0)
			return;
		file->put_pos += (uint64_t)taken;
	}
	(void)fs_http_request_write_end(file->wr_req);
}

static int mfs_put_done(struct mfs_file *file);

static int mfs_put_start(struct mfs_file *file)
{
	struct mfs_fs *fs = mfs_file_fs(&file->file);
	struct mfs_spool *spool = &file->spool;
	const char *url = file->dests[file->dest_idx].path;
	int ret;

	fs_http_request_deinit(&file->wr_req);
	file->wr_step = MFS_STEP_PUT;
	file->put_pos = 0;
	ret = fs_http_request_init(fs->http, FS_OP_WRITE, "PUT", url,
				   &file->wr_req);
	if (ret < 0)
		return mfs_retry_or_fail(file, -EIO,
					 "create_open gave a bad path");
	fs_http_request_set_callbacks(file->wr_req, &mfs_http_callbacks, file);
	/* fail-over is ours: the next destination or a new fid */
	fs_http_request_set_idempotent(file->wr_req, false);
	if (spool->fd < 0) {
		fs_http_request_set_body(file->wr_req,
					 spool->mem != NULL ? spool->mem
							    : (void *)"",
					 spool->mem_size);
	} else {
		fs_http_request_set_body_stream(file->wr_req,
						(int64_t)spool->size);
		if (file->put_buf == NULL &&
		    (file->put_buf = malloc(MFS_PUMP_CHUNK)) == NULL)
			return fs_file_set_error(&file->file, -ENOMEM,
						 "write %s: out of memory",
						 file->file.key);
	}
	ret = fs_http_request_start(file->wr_req);
	if (ret == 0)
		mfs_write_pump(file);
	if (file->wr_req == NULL || fs_http_request_is_done(file->wr_req))
		return mfs_put_done(file);
	return -EAGAIN;
}

static int mfs_exists_done(struct mfs_file *file)
{
	int ret = mfs_treq_result(file->wr_treq);

	if (ret == 0)
		return fs_file_set_error(&file->file, -EEXIST,
					 "create %s: the key exists (mogilefs)",
					 file->file.key);
	if (ret != -ENOENT)
		return mfs_file_treq_error(file, file->wr_treq, "create");
	return mfs_open_start(file);
}

static int mfs_open_done(struct mfs_file *file)
{
	int ret = mfs_treq_result(file->wr_treq);

	if (ret < 0 && mfs_treq_uncertain(file->wr_treq))
		/* at worst a fid reserved for nothing, purged in an hour */
		return mfs_retry_or_fail(file, ret,
					 mfs_treq_error(file->wr_treq));
	if (ret < 0)
		return mfs_file_treq_error(file, file->wr_treq, "write");
	if (mfs_dests_take(file, file->wr_treq) < 0 || file->dest_count == 0) {
		file->fid = 0;
		return fs_file_set_error(&file->file, -EIO,
					 "write %s: create_open gave no usable "
					 "destination (mogilefs)",
					 file->file.key);
	}
	mfs_treq_free(&file->wr_treq);
	return mfs_put_start(file);
}

static int mfs_put_done(struct mfs_file *file)
{
	struct fs_http_request *req = file->wr_req;
	char detail[512];
	int ret;

	if (req == NULL)
		return mfs_retry_or_fail(file, -EIO,
					 "reading the spool file failed");
	if (!fs_http_request_is_done(req))
		return -EAGAIN;
	ret = fs_http_request_result(req);
	if (ret == 0) {
		fs_http_request_deinit(&file->wr_req);
		file->wr_step = MFS_STEP_CLOSE;
		return mfs_step_treq(file, MFS_STEP_CLOSE,
				     mfs_close_req(file, true));
	}
	(void)fs_http_request_error(req, detail, sizeof(detail));
	if (fs_http_request_status(req) == 0 &&
	    fs_http_request_body_sent(req) == 0 &&
	    file->dest_idx + 1 < file->dest_count) {
		/* nothing reached this node: the next destination */
		file->dest_idx++;
		fs_stats_add_retry(file->file.fs, FS_OP_WRITE);
		return mfs_put_start(file);
	}
	fs_http_request_deinit(&file->wr_req);
	return mfs_retry_or_fail(file, ret == -ETIMEDOUT ? ret : -EIO, detail);
}

static int mfs_close_done(struct mfs_file *file)
{
	int ret = mfs_treq_result(file->wr_treq);

	if (ret == 0) {
		file->fid = 0;
		return 0;
	}
	if (mfs_treq_uncertain(file->wr_treq)) {
		struct mfs_treq *req = mfs_file_treq(file, "file_info", true);

		if (req != NULL)
			(void)mfs_treq_arg(req, "key", file->file.key);
		return mfs_step_treq(file, MFS_STEP_CLOSE_VERIFY, req);
	}
	/* The real tracker drops the fid on most errors (a retry would get
	   no_temp_file), not on all (bogus_args, no_fid...): the discard
	   makes sure, and at worst gets no_temp_file. */
	return mfs_retry_or_fail(file, ret, mfs_treq_error(file->wr_treq));
}

/* create_close got no answer: did the key get our fid? If not, the fid is
   discarded (in case the close never ran) and the write starts over: the
   same bytes, whichever close wins. */
static int mfs_close_verify_done(struct mfs_file *file)
{
	const char *fid = mfs_treq_get(file->wr_treq, "fid");
	int ret = mfs_treq_result(file->wr_treq);
	char detail[128];
	uint64_t num;

	if (ret == 0 && fid != NULL && fs_parse_uint(fid, &num) == 0 &&
	    num == file->fid) {
		file->fid = 0;
		return 0;
	}
	snprintf(detail, sizeof(detail),
		 "create_close got no answer and the key does not hold the "
		 "new file (file_info: %s)",
		 ret == 0 ? "another fid" : fs_errno_name(ret));
	return mfs_retry_or_fail(file, -EIO, detail);
}

static int mfs_finish_step(struct mfs_file *file)
{
	switch (file->wr_step) {
	case MFS_STEP_EXISTS:
		return mfs_exists_done(file);
	case MFS_STEP_OPEN:
		return mfs_open_done(file);
	case MFS_STEP_CLOSE:
		return mfs_close_done(file);
	case MFS_STEP_CLOSE_VERIFY:
		return mfs_close_verify_done(file);
	default:
		return fs_file_set_error(&file->file, -EIO,
					 "write %s: internal state %d",
					 file->file.key, (int)file->wr_step);
	}
}

static int mfs_finish_begin(struct mfs_file *file)
{
	struct mfs_treq *req;
	int ret = mfs_spool_finish(file);

	if (ret < 0)
		return ret;
	file->attempts = 0;
	if (file->file.mode != FS_OPEN_CREATE)
		return mfs_open_start(file);
	req = mfs_file_treq(file, "file_info", true);
	if (req != NULL)
		(void)mfs_treq_arg(req, "key", file->file.key);
	return mfs_step_treq(file, MFS_STEP_EXISTS, req);
}

int mfs_write_finish(struct fs_file *_file)
{
	struct mfs_file *file = MFS_FILE(_file);
	int ret;

	if (file->wr_step == MFS_STEP_NONE)
		ret = mfs_finish_begin(file);
	else if (file->wr_step == MFS_STEP_DONE)
		ret = 0;
	else if (file->wr_step == MFS_STEP_PUT)
		ret = mfs_put_done(file);
	else if (!mfs_treq_done(file->wr_treq))
		ret = -EAGAIN;
	else
		ret = mfs_finish_step(file);
	if (ret == 0) {
		file->wr_step = MFS_STEP_DONE;
		mfs_treq_free(&file->wr_treq);
		mfs_spool_free(&file->spool);
	}
	return ret;
}

void mfs_write_abort(struct fs_file *_file)
{
	struct mfs_file *file = MFS_FILE(_file);

	fs_http_request_deinit(&file->wr_req);
	if (file->wr_step != MFS_STEP_CLOSE &&
	    file->wr_step != MFS_STEP_CLOSE_VERIFY)
		mfs_fid_discard(file);
	mfs_treq_free(&file->wr_treq);
	mfs_dests_free(file);
	mfs_spool_free(&file->spool);
	free(file->put_buf);
	file->put_buf = NULL;
	file->fid = 0;
	if (file->wr_step != MFS_STEP_DONE)
		file->wr_step = MFS_STEP_NONE;
}
