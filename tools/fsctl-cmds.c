/*
 * fsctl: the commands on single keys: put, get, stat, ls, rm, copy, rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsctl.h"

/* Opens spec, runs fn on it and closes it again. */
typedef int fsctl_with_fs_t(struct fsctl_args *args, struct fs *fs,
			    void *context);

static int fsctl_with_fs(struct fsctl_args *args, const char *spec,
			 fsctl_with_fs_t *fn, void *context)
{
	struct fs *fs;
	int ret;

	ret = fsctl_fs_open(args, spec, &fs);
	if (ret != FSCTL_OK)
		return ret;
	ret = fn(args, fs, context);
	fs_deinit(&fs);
	return ret;
}

/* Parses options without values, or-ing their ids into *flags_r. */
static int fsctl_parse_flags(struct fsctl_args *args,
			     const struct fsctl_opt *opts,
			     unsigned int *flags_r)
{
	const char *value;
	int id;

	*flags_r = 0;
	while ((id = fsctl_opt_next(args, opts, &value)) > 0)
		*flags_r |= (unsigned int)id;
	if (id == FSCTL_OPT_HELP)
		return FSCTL_HELP;
	return id == FSCTL_OPT_ERROR ? FSCTL_USAGE : FSCTL_OK;
}

/* ------------------------------------------------------------------------ */
/* put                                                                        */

enum { PUT_CREATE = 1, PUT_META, PUT_FSYNC };

static const struct fsctl_opt put_opts[] = {
	{"--create", false, PUT_CREATE},
	{"--meta", true, PUT_META},
	{"--fsync", false, PUT_FSYNC},
	{NULL, false, 0},
};

struct put_req {
	unsigned int mode_flags;
	const char **meta; /* "K=V" strings */
	unsigned int meta_count;
	const char *key, *path; /* path NULL: stdin */
	int fd;
};

static int put_parse_opts(struct fsctl_args *args, struct put_req *req)
{
	const char *value;
	int id;

	while ((id = fsctl_opt_next(args, put_opts, &value)) > 0) {
		if (id == PUT_CREATE) {
			req->mode_flags &= ~(unsigned int)FS_OPEN_REPLACE;
			req->mode_flags |= FS_OPEN_CREATE;
		} else if (id == PUT_FSYNC) {
			req->mode_flags |= FS_OPEN_FLAG_FSYNC;
		} else if (strchr(value, '=') == NULL || value[0] == '=') {
			return fsctl_usage_error(
				args, "--meta wants NAME=VALUE, not '%s'",
				value);
		} else {
			req->meta[req->meta_count++] = value;
		}
	}
	if (id == FSCTL_OPT_HELP)
		return FSCTL_HELP;
	return id == FSCTL_OPT_ERROR ? FSCTL_USAGE : FSCTL_OK;
}

static int put_set_metadata(struct fsctl_args *args, struct fs_file *file,
			    const struct put_req *req)
{
	char name[FS_METADATA_NAME_MAX + 1];
	const char *eq;
	size_t len;
	unsigned int i;
	int ret;

	for (i = 0; i < req->meta_count; i++) {
		eq = strchr(req->meta[i], '=');
		len = (size_t)(eq - req->meta[i]);
		if (len >= sizeof(name)) {
			fsctl_fail(args->cmd, req->key, -EINVAL,
				   "metadata name too long");
			return FSCTL_BAD_SPEC;
		}
		memcpy(name, req->meta[i], len);
		name[len] = '\0';
		ret = fs_file_set_metadata(file, name, eq + 1);
		if (ret < 0) {
			fsctl_file_fail(args->cmd, file, ret);
			return ret == -EINVAL ? FSCTL_BAD_SPEC : FSCTL_FAILED;
		}
	}
	return FSCTL_OK;
}

static int put_input_fail(struct fsctl_args *args, struct fs_file *file,
			  const struct put_req *req, int err)
{
	char msg[512];

	fs_write_abort(file);
	snprintf(msg, sizeof(msg), "reading %s: %s",
		 req->path == NULL ? "stdin" : req->path, strerror(-err));
	return fsctl_fail(args->cmd, req->key, err, msg);
}

/* Streams the input into file, one chunk at a time. */
static int put_stream(struct fsctl_args *args, struct fs_file *file,
		      const struct put_req *req, char *buf)
{
	ssize_t len, ret;
	size_t off;

	while ((len = fsctl_read_fd(req->fd, buf, FSCTL_CHUNK_SIZE)) > 0) {
		for (off = 0; off < (size_t)len; off += (size_t)ret) {
			ret = fs_write(file, buf + off, (size_t)len - off);
			if (ret <= 0)
				return fsctl_file_fail(args->cmd, file,
						       ret == 0 ? -EIO
								: (int)ret);
		}
	}
	if (len < 0)
		return put_input_fail(args, file, req, (int)len);
	ret = fs_write_finish(file);
	if (ret < 0)
		return fsctl_file_fail(args->cmd, file, (int)ret);
	return FSCTL_OK;
}

static int put_run(struct fsctl_args *args, struct fs *fs, void *context)
{
	struct put_req *req = context;
	struct fs_file *file;
	char *buf;
	int ret;

	buf = malloc(FSCTL_CHUNK_SIZE);
	if (buf == NULL)
		return fsctl_fail(args->cmd, req->key, -ENOMEM, NULL);
	ret = fsctl_file_open(args, fs, req->key, req->mode_flags, &file);
	if (ret == FSCTL_OK)
		ret = put_set_metadata(args, file, req);
	if (ret == FSCTL_OK)
		ret = put_stream(args, file, req, buf);
	fs_file_deinit(&file);
	free(buf);
	return ret;
}

static int put_open_input(struct fsctl_args *args, struct put_req *req)
{
	if (req->path == NULL || strcmp(req->path, "-") == 0) {
		req->path = NULL;
		req->fd = STDIN_FILENO;
		return FSCTL_OK;
	}
	req->fd = open(req->path, O_RDONLY | O_CLOEXEC);
	if (req->fd < 0)
		return fsctl_fail(args->cmd, req->path, -errno, NULL);
	return FSCTL_OK;
}

int fsctl_cmd_put(struct fsctl_args *args)
{
	struct put_req req = {.mode_flags = FS_OPEN_REPLACE, .fd = -1};
	const char *spec;
	int ret;

	req.meta = calloc((size_t)args->argc, sizeof(*req.meta));
	if (req.meta == NULL)
		return fsctl_fail(args->cmd, "arguments", -ENOMEM, NULL);
	ret = put_parse_opts(args, &req);
	if (ret == FSCTL_OK)
		ret = fsctl_operands(args, 2, 3);
	if (ret == FSCTL_OK) {
		spec = fsctl_operand(args);
		req.key = fsctl_operand(args);
		req.path = fsctl_operand(args);
		ret = put_open_input(args, &req);
	}
	if (ret == FSCTL_OK)
		ret = fsctl_with_fs(args, spec, put_run, &req);
	if (req.fd > STDIN_FILENO)
		close(req.fd);
	free(req.meta);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* get                                                                        */

enum { GET_RANGE = 1 };

static const struct fsctl_opt get_opts[] = {
	{"--range", true, GET_RANGE},
	{NULL, false, 0},
};

struct get_req {
	const char *key, *path; /* path NULL: stdout */
	bool range;
	uint64_t offset, length;
	int fd;
	/* The regular file to replace (FILE, or where its symlink points), and
	   the temporary file next to it until the rename. Both NULL when FILE
	   is written as it is (stdout, a device, a FIFO). */
	char *target, *tmp_path;
};

/* Parses "A-B" (inclusive) or "A-". */
static int get_parse_range(struct fsctl_args *args, struct get_req *req,
			   const char *value)
{
	const char *dash = strchr(value, '-');
	char first[32];
	uint64_t last;

	if (dash == NULL || (size_t)(dash - value) >= sizeof(first))
		goto bad;
	memcpy(first, value, (size_t)(dash - value));
	first[dash - value] = '\0';
	if (fsctl_parse_uint(first, 0, UINT64_MAX - 1, &req->offset) < 0)
		goto bad;
	req->range = true;
	req->length = UINT64_MAX;
	if (dash[1] == '\0')
		return FSCTL_OK;
	if (fsctl_parse_uint(dash + 1, req->offset, UINT64_MAX - 1, &last) < 0)
		goto bad;
	req->length = last - req->offset + 1;
	return FSCTL_OK;
bad:
	return fsctl_usage_error(args,
				 "--range wants A-B (A <= B) or A-, "
				 "not '%s'",
				 value);
}

static int get_parse(struct fsctl_args *args, struct get_req *req)
{
	const char *value;
	int id, ret = FSCTL_OK;

	while (ret == FSCTL_OK &&
	       (id = fsctl_opt_next(args, get_opts, &value)) > 0)
		ret = get_parse_range(args, req, value);
	if (ret != FSCTL_OK)
		return ret;
	if (id == FSCTL_OPT_HELP)
		return FSCTL_HELP;
	if (id == FSCTL_OPT_ERROR)
		return FSCTL_USAGE;
	return fsctl_operands(args, 2, 3);
}

/* Opens a FILE that is not a regular file (a device, a FIFO) as it is:
   renaming over it would replace it, and /dev/null must stay /dev/null. */
static int get_open_direct(struct fsctl_args *args, struct get_req *req)
{
	req->fd = open(req->path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (req->fd < 0)
		return fsctl_fail(args->cmd, req->path, -errno, NULL);
	return FSCTL_OK;
}

/* Returns the mode for the new file: that of the file it replaces, else
   what the umask gives a new file. */
static mode_t get_output_mode(const struct stat *st, bool exists)
{
	mode_t mask;

	if (exists)
		return st->st_mode & 0777;
	mask = umask(0);
	umask(mask);
	return 0666 & ~mask;
}

/* Creates the temporary file next to req->target. */
static int get_open_temp(struct fsctl_args *args, struct get_req *req,
			 mode_t mode)
{
	if (asprintf(&req->tmp_path, "%s.fsctl-XXXXXX", req->target) < 0) {
		req->tmp_path = NULL;
		return fsctl_fail(args->cmd, req->path, -ENOMEM, NULL);
	}
	req->fd = mkostemp(req->tmp_path, O_CLOEXEC);
	if (req->fd < 0) {
		fsctl_fail(args->cmd, req->tmp_path, -errno, NULL);
		free(req->tmp_path);
		req->tmp_path = NULL;
		return FSCTL_FAILED;
	}
	if (fchmod(req->fd, mode) < 0)
		return fsctl_fail(args->cmd, req->tmp_path, -errno, NULL);
	return FSCTL_OK;
}

static int get_open_output(struct fsctl_args *args, struct get_req *req)
{
	struct stat st;
	bool exists;

	if (req->path == NULL || strcmp(req->path, "-") == 0) {
		req->path = NULL;
		req->fd = STDOUT_FILENO;
		return FSCTL_OK;
	}
	exists = stat(req->path, &st) == 0;
	if (exists && !S_ISREG(st.st_mode))
		return get_open_direct(args, req);
	/* Through a symlink, replace the file it points to, not the link. */
	req->target = exists ? realpath(req->path, NULL) : strdup(req->path);
	if (req->target == NULL)
		return fsctl_fail(args->cmd, req->path, -errno, NULL);
	return get_open_temp(args, req, get_output_mode(&st, exists));
}

/* Makes the temporary file durable and gives it its name (or just closes a
   FILE written directly). */
static int get_commit_output(struct fsctl_args *args, struct get_req *req)
{
	int fd = req->fd, ret = 0;

	req->fd = -1;
	if (req->tmp_path != NULL && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && req->tmp_path != NULL &&
	    rename(req->tmp_path, req->target) < 0)
		ret = -errno;
	if (ret < 0)
		return fsctl_fail(args->cmd, req->path, ret, NULL);
	free(req->tmp_path);
	req->tmp_path = NULL;
	return FSCTL_OK;
}

static void get_cleanup_output(struct get_req *req)
{
	if (req->fd > STDOUT_FILENO)
		close(req->fd);
	if (req->tmp_path != NULL) {
		unlink(req->tmp_path);
		free(req->tmp_path);
	}
	free(req->target);
}

static int get_stream(struct fsctl_args *args, struct fs_file *file,
		      struct get_req *req, char *buf)
{
	char msg[512];
	ssize_t len;
	int ret;

	while ((len = fs_read(file, buf, FSCTL_CHUNK_SIZE)) > 0) {
		ret = fsctl_write_fd(req->fd, buf, (size_t)len);
		if (ret < 0) {
			snprintf(msg, sizeof(msg), "writing %s: %s",
				 req->path == NULL ? "stdout" : req->path,
				 strerror(-ret));
			return fsctl_fail(args->cmd, req->key, ret, msg);
		}
	}
	if (len < 0)
		return fsctl_file_fail(args->cmd, file, (int)len);
	return FSCTL_OK;
}

static int get_run(struct fsctl_args *args, struct fs *fs, void *context)
{
	struct get_req *req = context;
	struct fs_file *file = NULL;
	char *buf;
	int ret;

	buf = malloc(FSCTL_CHUNK_SIZE);
	if (buf == NULL)
		return fsctl_fail(args->cmd, req->key, -ENOMEM, NULL);
	ret = fsctl_file_open(args, fs, req->key, FS_OPEN_READ, &file);
	if (ret == FSCTL_OK && req->range) {
		ret = fs_file_set_range(file, req->offset, req->length);
		if (ret < 0)
			ret = fsctl_file_fail(args->cmd, file, ret);
	}
	if (ret == FSCTL_OK)
		ret = get_open_output(args, req);
	if (ret == FSCTL_OK)
		ret = get_stream(args, file, req, buf);
	if (ret == FSCTL_OK && req->path != NULL)
		ret = get_commit_output(args, req);
	get_cleanup_output(req);
	fs_file_deinit(&file);
	free(buf);
	return ret;
}

int fsctl_cmd_get(struct fsctl_args *args)
{
	struct get_req req = {.fd = -1};
	const char *spec;
	int ret;

	ret = get_parse(args, &req);
	if (ret != FSCTL_OK)
		return ret;
	spec = fsctl_operand(args);
	req.key = fsctl_operand(args);
	req.path = fsctl_operand(args);
	return fsctl_with_fs(args, spec, get_run, &req);
}

/* ------------------------------------------------------------------------ */
/* stat                                                                       */

/* Formats nanoseconds since the epoch as 2026-11-28T18:00:00.123456789Z. */
static void stat_fmt_time(int64_t mtime_ns, char *buf, size_t size)
{
	int64_t sec = mtime_ns / 1000000000, nsec = mtime_ns % 1000000000;
	time_t t;
	struct tm tm;
	size_t len;

	if (nsec < 0) {
		nsec += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL ||
	    (len = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, size, "%lld.%09lld", (long long)sec,
			 (long long)nsec);
		return;
	}
	snprintf(buf + len, size - len, ".%09lldZ", (long long)nsec);
}

static int stat_print_metadata(struct fsctl_args *args, struct fs_file *file)
{
	const struct fs_metadata *md;
	int i, count;

	count = fs_file_get_metadata_all(file, &md);
	if (count < 0)
		return fsctl_file_fail(args->cmd, file, count);
	for (i = 0; i < count; i++)
		printf("meta.%s %s\n", md[i].name, md[i].value);
	return FSCTL_OK;
}

static int stat_print(struct fsctl_args *args, struct fs_file *file)
{
	struct fs_stat st;
	char mtime[64];
	int ret;

	ret = fs_file_stat(file, &st);
	if (ret < 0)
		return fsctl_file_fail(args->cmd, file, ret);
	if ((st.valid & FS_STAT_SIZE) != 0)
		printf("size %llu\n", (unsigned long long)st.size);
	if ((st.valid & FS_STAT_MTIME) != 0) {
		stat_fmt_time(st.mtime_ns, mtime, sizeof(mtime));
		printf("mtime %s\n", mtime);
	}
	if ((st.valid & FS_STAT_ETAG) != 0)
		printf("etag %s\n", st.etag);
	if ((fs_get_caps(fs_file_fs(file)) & FS_CAP_METADATA) != 0)
		return stat_print_metadata(args, file);
	return FSCTL_OK;
}

static int stat_run(struct fsctl_args *args, struct fs *fs, void *context)
{
	const char *key = context;
	struct fs_file *file;
	int ret;

	ret = fsctl_file_open(args, fs, key, FS_OPEN_READ, &file);
	if (ret == FSCTL_OK)
		ret = stat_print(args, file);
	fs_file_deinit(&file);
	return ret;
}

static int fsctl_stdout_check(struct fsctl_args *args, int ret)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return fsctl_fail(args->cmd, "stdout", -errno, NULL);
	return ret;
}

int fsctl_cmd_stat(struct fsctl_args *args)
{
	static const struct fsctl_opt opts[] = {{NULL, false, 0}};
	unsigned int flags;
	const char *spec, *key;
	int ret;

	ret = fsctl_parse_flags(args, opts, &flags);
	if (ret == FSCTL_OK)
		ret = fsctl_operands(args, 2, 2);
	if (ret != FSCTL_OK)
		return ret;
	spec = fsctl_operand(args);
	key = fsctl_operand(args);
	ret = fsctl_with_fs(args, spec, stat_run, (void *)key);
	return fsctl_stdout_check(args, ret);
}

/* ------------------------------------------------------------------------ */
/* ls                                                                         */

enum { LS_ONE_LEVEL = 1 };

struct ls_req {
	const char *spec, *prefix;
	unsigned int flags;
};

static int ls_run(struct fsctl_args *args, struct fs *fs, void *context)
{
	struct ls_req *req = context;
	struct fs_iter *iter;
	const char *key, *what = req->prefix;
	char shown[512];
	int ret;

	if (what[0] == '\0') {
		fsctl_spec_redact(req->spec, shown, sizeof(shown));
		what = shown;
	}

	ret = fs_iter_init(fs, req->prefix, req->flags, &iter);
	if (ret < 0) {
		fsctl_fail(args->cmd, what, ret, fs_last_error(fs));
		return ret == -EINVAL ? FSCTL_BAD_SPEC : FSCTL_FAILED;
	}
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		fputs(key, stdout);
		fputc('\n', stdout);
	}
	if (ret < 0)
		fsctl_fail(args->cmd, what, ret, fs_iter_last_error(iter));
	fs_iter_deinit(&iter);
	return ret < 0 ? FSCTL_FAILED : FSCTL_OK;
}

int fsctl_cmd_ls(struct fsctl_args *args)
{
	static const struct fsctl_opt opts[] = {
		{"-1", false, LS_ONE_LEVEL},
		{NULL, false, 0},
	};
	struct ls_req req = {.prefix = ""};
	unsigned int flags;
	int ret;

	ret = fsctl_parse_flags(args, opts, &flags);
	if (ret == FSCTL_OK)
		ret = fsctl_operands(args, 1, 2);
	if (ret != FSCTL_OK)
		return ret;
	if ((flags & LS_ONE_LEVEL) != 0)
		req.flags |= FS_ITER_FLAG_ONE_LEVEL;
	req.spec = fsctl_operand(args);
	if (args->next < args->argc)
		req.prefix = fsctl_operand(args);
	ret = fsctl_with_fs(args, req.spec, ls_run, &req);
	return fsctl_stdout_check(args, ret);
}

/* ------------------------------------------------------------------------ */
/* rm                                                                         */

static int rm_one(struct fsctl_args *args, struct fs *fs, const char *key)
{
	struct fs_file *file;
	int ret;

	ret = fsctl_file_open(args, fs, key, FS_OPEN_READ, &file);
	if (ret != FSCTL_OK)
		return ret;
	ret = fs_file_delete(file);
	if (ret < 0)
		fsctl_file_fail(args->cmd, file, ret);
	fs_file_deinit(&file);
	return ret < 0 ? FSCTL_FAILED : FSCTL_OK;
}

static int rm_run(struct fsctl_args *args, struct fs *fs, void *context)
{
	const char *key;
	int ret = FSCTL_OK;

	while ((key = fsctl_operand(args)) != NULL) {
		if (rm_one(args, fs, key) != FSCTL_OK)
			ret = FSCTL_FAILED;
	}
	return ret;
}

int fsctl_cmd_rm(struct fsctl_args *args)
{
	static const struct fsctl_opt opts[] = {{NULL, false, 0}};
	unsigned int flags;
	int ret;

	ret = fsctl_parse_flags(args, opts, &flags);
	if (ret == FSCTL_OK)
		ret = fsctl_operands(args, 2, -1);
	if (ret != FSCTL_OK)
		return ret;
	return fsctl_with_fs(args, fsctl_operand(args), rm_run, NULL);
}

/* ------------------------------------------------------------------------ */
/* copy and rename                                                            */

enum { XFER_CREATE = 1 };

struct xfer_req {
	int (*op)(struct fs_file *src, struct fs_file *dst);
	unsigned int mode;
	const char *src_key, *dst_key;
};

static int xfer_run(struct fsctl_args *args, struct fs *fs, void *context)
{
	struct xfer_req *req = context;
	struct fs_file *src = NULL, *dst = NULL;
	char what[2 * FS_KEY_MAX + 8];
	int ret;

	ret = fsctl_file_open(args, fs, req->src_key, FS_OPEN_READ, &src);
	if (ret == FSCTL_OK)
		ret = fsctl_file_open(args, fs, req->dst_key, req->mode, &dst);
	if (ret == FSCTL_OK) {
		ret = req->op(src, dst);
		if (ret < 0) {
			snprintf(what, sizeof(what), "%s -> %s", req->src_key,
				 req->dst_key);
			ret = fsctl_fail(args->cmd, what, ret,
					 fs_file_last_error(dst));
		}
	}
	fs_file_deinit(&dst);
	fs_file_deinit(&src);
	return ret;
}

static int fsctl_xfer(struct fsctl_args *args,
		      int (*op)(struct fs_file *src, struct fs_file *dst))
{
	static const struct fsctl_opt opts[] = {
		{"--create", false, XFER_CREATE},
		{NULL, false, 0},
	};
	struct xfer_req req = {.op = op};
	unsigned int flags;
	const char *spec;
	int ret;

	ret = fsctl_parse_flags(args, opts, &flags);
	if (ret == FSCTL_OK)
		ret = fsctl_operands(args, 3, 3);
	if (ret != FSCTL_OK)
		return ret;
	req.mode =
		(flags & XFER_CREATE) != 0 ? FS_OPEN_CREATE : FS_OPEN_REPLACE;
	spec = fsctl_operand(args);
	req.src_key = fsctl_operand(args);
	req.dst_key = fsctl_operand(args);
	return fsctl_with_fs(args, spec, xfer_run, &req);
}

int fsctl_cmd_copy(struct fsctl_args *args)
{
	return fsctl_xfer(args, fs_copy);
}

int fsctl_cmd_rename(struct fsctl_args *args)
{
	return fsctl_xfer(args, fs_rename);
}
