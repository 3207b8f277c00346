/*
 * Reading: get_paths on the tracker, then GET on each path in turn until
 * one answers.
 *
 * The tracker is asked with noverify=1 (no HEAD on its side, as the Perl
 * client's get_file_data does): checking the copies is the GETs' job.
 * "paths=0" means no copy is readable now (a storage node just died), an
 * error, never an empty object. A GET that fails before its first byte
 * moves on to the next path; one that fails in the middle continues on the
 * next path at the byte it stopped at (Range): all paths are copies of one
 * immutable fid. The transport does not retry GETs itself, so that a dead
 * node costs one refused connection, not a series of backed-off retries;
 * each path gets up to two tries in all. When every path answered 404 the
 * key may have been replaced meanwhile: get_paths is asked once more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mogilefs-private.h"

static void mfs_paths_free(struct mfs_file *file)
{
	unsigned int i;

	for (i = 0; i < file->path_count; i++)
		free(file->paths[i]);
	free(file->paths);
	file->paths = NULL;
	file->path_count = file->path_idx = 0;
}

void mfs_read_free(struct mfs_file *file)
{
	mfs_treq_free(&file->rd_treq);
	fs_http_request_deinit(&file->rd_req);
	mfs_paths_free(file);
	free(file->rd_error_msg);
	file->rd_error_msg = NULL;
}

static int mfs_paths_start(struct mfs_file *file)
{
	mfs_treq_free(&file->rd_treq);
	file->rd_step = MFS_STEP_PATHS;
	file->rd_treq = mfs_file_treq(file, "get_paths", true);
	if (file->rd_treq != NULL) {
		(void)mfs_treq_arg(file->rd_treq, "key", file->file.key);
		(void)mfs_treq_arg(file->rd_treq, "noverify", "1");
		(void)mfs_treq_arg_u64(file->rd_treq, "pathcount",
				       MFS_PATHCOUNT);
	}
	return mfs_file_treq_start(file, &file->rd_treq);
}

/* Takes path1..pathN of the reply. Returns 0 or -errno. */
static int mfs_paths_take(struct mfs_file *file, uint64_t count)
{
	const char *path;
	char name[32];
	uint64_t i;

	mfs_paths_free(file);
	file->paths = calloc(count, sizeof(*file->paths));
	if (file->paths == NULL)
		return -ENOMEM;
	for (i = 1; i <= count; i++) {
		snprintf(name, sizeof(name), "path%" PRIu64, i);
		path = mfs_treq_get(file->rd_treq, name);
		if (path == NULL || path[0] == '\0')
			continue;
		file->paths[file->path_count] = strdup(path);
		if (file->paths[file->path_count] == NULL)
			return -ENOMEM;
		file->path_count++;
	}
	return 0;
}

/* The range still to read: [*offset_r, *offset_r + *length_r). */
static void mfs_read_range(const struct mfs_file *file, uint64_t *offset_r,
			   uint64_t *length_r)
{
	const struct fs_file *_file = &file->file;

	*offset_r = _file->range_offset + file->delivered;
	*length_r = _file->range_length == UINT64_MAX
			    ? UINT64_MAX
			    : _file->range_length - file->delivered;
}

static int mfs_get_failed(struct mfs_file *file, int err);

static int mfs_get_start(struct mfs_file *file)
{
	struct mfs_fs *fs = mfs_file_fs(&file->file);
	const char *url = file->paths[file->path_idx];
	uint64_t offset, length;
	int ret;

	fs_http_request_deinit(&file->rd_req);
	file->rd_step = MFS_STEP_GET;
	ret = fs_http_request_init(fs->http, FS_OP_READ, "GET", url,
				   &file->rd_req);
	if (ret < 0)
		return fs_file_set_error(&file->file, ret,
					 "read %s: bad path '%.200s' from the "
					 "tracker (mogilefs)",
					 file->file.key, url);
	fs_http_request_set_callbacks(file->rd_req, &mfs_http_callbacks, file);
	fs_http_request_set_idempotent(file->rd_req, false);
	fs_http_request_set_response_stream(file->rd_req);
	mfs_read_range(file, &offset, &length);
	if (offset > 0 || length != UINT64_MAX)
		fs_http_request_set_range(file->rd_req, offset, length);
	ret = fs_http_request_start(file->rd_req);
	return ret < 0 ? mfs_get_failed(file, ret) : -EAGAIN;
}

static int mfs_paths_done(struct mfs_file *file)
{
	const char *count_str = mfs_treq_get(file->rd_treq, "paths");
	struct fs_file *_file = &file->file;
	uint64_t count;
	int ret = mfs_treq_result(file->rd_treq);

	if (ret == -ENOENT)
		return fs_file_set_error(_file, ret,
					 "read %s: no such key (mogilefs)",
					 _file->key);
	if (ret < 0)
		return mfs_file_treq_error(file, file->rd_treq, "read");
	if (count_str == NULL || fs_parse_uint(count_str, &count) < 0 ||
	    count > 1000)
		return fs_file_set_error(_file, -EIO,
					 "read %s: get_paths gave no path "
					 "count (mogilefs)",
					 _file->key);
	if (mfs_paths_take(file, count) < 0)
		return fs_file_set_error(_file, -ENOMEM,
					 "read %s: out of memory", _file->key);
	mfs_treq_free(&file->rd_treq);
	if (file->path_count == 0)
		return fs_file_set_error(_file, -EIO,
					 "read %s: the tracker has no readable "
					 "copy now (get_paths: paths=0; a "
					 "storage node may be down) (mogilefs)",
					 _file->key);
	if (_file->range_length == 0) {
		file->rd_step = MFS_STEP_DONE;
		return 0;
	}
	file->path_idx = 0;
	file->tries_left = 2 * file->path_count;
	file->rd_all_missing = true;
	return mfs_get_start(file);
}

/* The GET on the current path failed with err: the next path, get_paths
   again, or the end. */
static int mfs_get_failed(struct mfs_file *file, int err)
{
	struct fs_file *_file = &file->file;
	long status = fs_http_request_status(file->rd_req);
	char detail[512];

	(void)fs_http_request_error(file->rd_req, detail, sizeof(detail));
	free(file->rd_error_msg);
	file->rd_error_msg = strdup(detail);
	if (status != 404)
		file->rd_all_missing = false;
	fs_http_request_deinit(&file->rd_req);
	if (file->tries_left > 1) {
		file->tries_left--;
		file->path_idx = (file->path_idx + 1) % file->path_count;
		fs_stats_add_retry(_file->fs, FS_OP_READ);
		return mfs_get_start(file);
	}
	if (file->rd_all_missing && file->delivered == 0 &&
	    !file->paths_requeried) {
		file->paths_requeried = true;
		return mfs_paths_start(file);
	}
	return fs_file_set_error(_file, err == -ETIMEDOUT ? err : -EIO,
				 "read %s: no storage node served it (%u "
				 "paths; last: %s) (mogilefs)",
				 _file->key, file->path_count,
				 file->rd_error_msg != NULL ? file->rd_error_msg
							    : "?");
}

static ssize_t mfs_get_read(struct mfs_file *file, void *buf, size_t size)
{
	ssize_t n = fs_http_request_read(file->rd_req, buf, size);

	if (n > 0) {
		file->delivered += (uint64_t)n;
		return n;
	}
	if (n == -EAGAIN)
		return n;
	if (n == 0 || fs_http_request_status(file->rd_req) == 416) {
		/* the end, or a range starting past it */
		fs_http_request_deinit(&file->rd_req);
		file->rd_step = MFS_STEP_DONE;
		return 0;
	}
	return mfs_get_failed(file, (int)n);
}

ssize_t mfs_read(struct fs_file *_file, void *buf, size_t size)
{
	struct mfs_file *file = MFS_FILE(_file);
	int ret;

	switch (file->rd_step) {
	case MFS_STEP_PATHS:
		if (!mfs_treq_done(file->rd_treq))
			return -EAGAIN;
		ret = mfs_paths_done(file);
		if (ret < 0)
			return ret;
		break;
	case MFS_STEP_GET:
		return mfs_get_read(file, buf, size);
	case MFS_STEP_DONE:
		return 0;
	default:
		return mfs_paths_start(file);
	}
	/* paths arrived and the range is empty */
	return 0;
}
