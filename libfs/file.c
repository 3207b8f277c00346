/*
 * Files: validation, the asynchronous/blocking call engine, range emulation,
 * the write state machine, metadata, and the copy and rename fallbacks.
 *
 * Every driver call goes through file_call(): it refuses a second operation
 * while one is in flight (-EBUSY), answers -EAGAIN while the driver has not
 * progressed, turns -EAGAIN into a wait for files opened without
 * FS_OPEN_FLAG_ASYNC, sets a generic message when the driver set none and
 * counts the statistics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs-private.h"

/* First buffer of fs_read_all(), and chunk of the streaming copy. */
#define READ_ALL_FIRST_SIZE (64 * 1024)
#define COPY_CHUNK_SIZE (128 * 1024)

#define MIN(a, b) ((a) < (b) ? (a) : (b))

static const char *const call_names[] = {
	[CALL_NONE] = "none",
	[CALL_READ] = "read",
	[CALL_WRITE] = "write",
	[CALL_FINISH] = "write finish",
	[CALL_STAT] = "stat",
	[CALL_EXISTS] = "exists",
	[CALL_METADATA] = "metadata",
	[CALL_DELETE] = "delete",
	[CALL_COPY] = "copy",
	[CALL_RENAME] = "rename",
	[CALL_REVALIDATE] = "revalidate",
};

struct file_call {
	enum fs_call_id id;
	enum fs_op op;
	/* READ and WRITE statistics span many calls: kept by the stream code */
	bool stream;
	ssize_t (*fn)(struct fs_file *file, struct file_call *call);

	void *buf;
	const void *data;
	size_t size;
	struct fs_stat *st;
	struct fs_file *src;
	const char *etag;
	uint64_t bytes; /* moved, for the statistics */
};

#define DRIVER(file) ((file)->fs->driver)

static ssize_t write_blocking(struct fs_file *file, const void *data,
			      size_t size);
static int finish_blocking(struct fs_file *file);

/* --- The call engine --- */

static void file_set_pending(struct fs_file *file, enum fs_op op)
{
	file->async_pending = true;
	file->op_pending = (int)op;
	file->fs->async_pending++;
}

/* Forgets a pending operation without calling the callback (cancel). */
static void file_clear_pending(struct fs_file *file)
{
	if (!file->async_pending)
		return;
	file->async_pending = false;
	file->op_pending = -1;
	file->fs->async_pending--;
}

void fs_file_async_done(struct fs_file *file)
{
	if (!file->async_pending)
		return;
	file_clear_pending(file);
	file->fs->async_done_seq++;
	if (file->callback != NULL)
		file->callback(file->context);
}

/* Drives the stack until file's operation progressed. */
static int file_wait(struct fs_file *file, const char *what)
{
	unsigned int seq = file->fs->error_seq;
	int ret;

	while (file->async_pending) {
		ret = fs_async_round(file->fs, -1);
		if (ret < 0) {
			file_clear_pending(file);
			if (file->fs->error_seq != seq)
				return fs_file_set_error(
					file, ret, "%s %s: %s", what, file->key,
					fs_last_error(file->fs));
			return ret;
		}
	}
	return 0;
}

/* Calls the driver until it gives a result, waiting while it is pending. The
   file's callback is not called meanwhile: this is the starting call. */
static ssize_t file_call_blocking(struct fs_file *file, struct file_call *call)
{
	fs_callback_t *callback = file->callback;
	ssize_t ret;

	file->callback = NULL;
	for (;;) {
		ret = call->fn(file, call);
		if (ret != -EAGAIN)
			break;
		file_set_pending(file, call->op);
		ret = file_wait(file, call_names[call->id]);
		if (ret < 0)
			break;
	}
	file->callback = callback;
	return ret;
}

static void file_generic_error(struct fs_file *file, const char *what,
			       ssize_t ret)
{
	char errbuf[128];

	fs_file_set_error(file, (int)ret, "%s %s: %s (%s)", what, file->key,
			  fs_strerror((int)ret, errbuf, sizeof(errbuf)),
			  DRIVER(file)->name);
}

/* Returns -EBUSY (with a message) if another operation than id is in flight
   on file, else 0. */
static int file_busy(struct fs_file *file, enum fs_call_id id)
{
	if (file->call_id == CALL_NONE || file->call_id == (unsigned int)id)
		return 0;
	return fs_file_set_error(file, -EBUSY,
				 "%s %s: a %s operation is still in flight on "
				 "this file",
				 call_names[id], file->key,
				 call_names[file->call_id]);
}

static ssize_t file_call(struct fs_file *file, struct file_call *call)
{
	bool async = (file->flags & FS_OPEN_FLAG_ASYNC) != 0;
	ssize_t ret;

	ret = file_busy(file, call->id);
	if (ret < 0)
		return ret;
	if (file->async_pending)
		return -EAGAIN;
	if (file->call_id == CALL_NONE) {
		file->call_id = call->id;
		file->call_seq = file->error_seq;
		file->call_start_usec = fs_now_usec();
	}
	if (async) {
		ret = call->fn(file, call);
		if (ret == -EAGAIN) {
			file_set_pending(file, call->op);
			return -EAGAIN;
		}
	} else {
		ret = file_call_blocking(file, call);
	}
	if (ret < 0 && file->error_seq == file->call_seq)
		file_generic_error(file, call_names[call->id], ret);
	if (!call->stream)
		fs_stats_record(file->fs, call->op, file->call_start_usec,
				call->bytes, (int)ret);
	file->call_id = CALL_NONE;
	return ret;
}

/* Ends the READ or WRITE statistics span. */
static void stream_end(struct fs_file *file, int result)
{
	if (!file->stream_active)
		return;
	file->stream_active = false;
	fs_stats_record(file->fs,
			file->mode == FS_OPEN_READ ? FS_OP_READ : FS_OP_WRITE,
			file->op_start_usec, file->op_bytes, result);
}

static void stream_begin(struct fs_file *file)
{
	file->stream_active = true;
	file->op_start_usec = fs_now_usec();
	file->op_bytes = 0;
}

static ssize_t not_supported(struct fs_file *file, const char *what)
{
	return fs_file_set_error(file, -ENOTSUP, "%s %s: not supported by %s",
				 what, file->key, DRIVER(file)->name);
}

/* --- Handles --- */

static int file_mode_check(struct fs *fs, unsigned int mode_flags)
{
	unsigned int mode = mode_flags & 0xff, flags = mode_flags & ~0xffu;

	if (mode > FS_OPEN_APPEND ||
	    (flags & ~(FS_OPEN_FLAG_FSYNC | FS_OPEN_FLAG_ASYNC)) != 0)
		return fs_set_error(fs, -EINVAL, "invalid open mode 0x%x",
				    mode_flags);
	if (mode == FS_OPEN_APPEND && (fs_get_caps(fs) & FS_CAP_APPEND) == 0)
		return fs_set_error(fs, -ENOTSUP, "%s storage cannot append",
				    fs->driver->name);
	return 0;
}

static void file_free(struct fs_file *file)
{
	free(file->key);
	fs_metadata_list_clear(&file->write_md);
	fs_metadata_list_clear(&file->read_md);
	fs_error_free(&file->last_error);
	free(file->read_all_buf);
	free(file);
}

static int file_init_failed(struct fs_file *file, unsigned int seq, int ret)
{
	struct fs *fs = file->fs;
	char errbuf[128];

	/* unless the driver said why on the fs */
	if (fs->error_seq == seq && file->last_error != NULL)
		fs_set_error(fs, ret, "%s", file->last_error);
	else if (fs->error_seq == seq)
		fs_set_error(fs, ret, "open %s: %s (%s)", file->key,
			     fs_strerror(ret, errbuf, sizeof(errbuf)),
			     fs->driver->name);
	file_free(file);
	return ret;
}

int fs_file_init(struct fs *fs, const char *key, unsigned int mode_flags,
		 struct fs_file **file_r)
{
	struct fs_limits limits;
	size_t size = fs->driver->file_size;
	unsigned int seq = fs->error_seq;
	const char *reason;
	struct fs_file *file;
	char printable[128];
	int ret;

	*file_r = NULL;
	if (fs_key_validate(key, &reason) < 0) {
		fs_printable(key != NULL ? key : "", printable,
			     sizeof(printable));
		return fs_set_error(fs, -EINVAL, "invalid key '%s': %s",
				    printable, reason);
	}
	fs_get_limits(fs, &limits);
	if (strlen(key) > limits.key_max) {
		fs_printable(key, printable, sizeof(printable));
		return fs_set_error(fs, -EINVAL,
				    "invalid key '%s': longer than the %zu "
				    "bytes this storage (%s) can hold",
				    printable, limits.key_max,
				    fs->driver->name);
	}
	ret = file_mode_check(fs, mode_flags);
	if (ret < 0)
		return ret;
	file = calloc(1, size > sizeof(*file) ? size : sizeof(*file));
	if (file == NULL || (file->key = strdup(key)) == NULL) {
		free(file);
		return fs_set_error(fs, -ENOMEM, "open %s: out of memory", key);
	}
	file->fs = fs;
	file->mode = mode_flags & 0xff;
	file->flags = mode_flags & ~0xffu;
	file->range_length = UINT64_MAX;
	file->op_pending = -1;
	if (fs->driver->v.file_init != NULL) {
		ret = fs->driver->v.file_init(file);
		if (ret < 0)
			return file_init_failed(file, seq, ret);
	}
	fs->files_open++;
	*file_r = file;
	return 0;
}

void fs_file_deinit(struct fs_file **_file)
{
	struct fs_file *file = *_file;

	if (file == NULL)
		return;
	*_file = NULL;
	/* the driver's file_deinit aborts too; this also keeps the stats */
	fs_write_abort(file);
	stream_end(file, 0);
	if (DRIVER(file)->v.file_deinit != NULL)
		DRIVER(file)->v.file_deinit(file);
	/* the driver cancelled what was pending: no callback */
	file_clear_pending(file);
	file->fs->files_open--;
	file_free(file);
}

const char *fs_file_key(struct fs_file *file)
{
	return file->key;
}

struct fs *fs_file_fs(struct fs_file *file)
{
	return file->fs;
}

void fs_file_set_callback(struct fs_file *file, fs_callback_t *callback,
			  void *context)
{
	file->callback = callback;
	file->context = context;
}

/* --- Reading --- */

int fs_file_set_range(struct fs_file *file, uint64_t offset, uint64_t length)
{
	if (file->mode != FS_OPEN_READ)
		return fs_file_set_error(file, -EINVAL,
					 "set range %s: file is not open for "
					 "reading",
					 file->key);
	if (file->read_started)
		return fs_file_set_error(file, -EINVAL,
					 "set range %s: reading has started",
					 file->key);
	file->range_offset = offset;
	file->range_length = length;
	return 0;
}

static ssize_t file_read_fn(struct fs_file *file, struct file_call *call)
{
	ssize_t ret = DRIVER(file)->v.read(file, call->buf, call->size);

	if (ret > (ssize_t)call->size)
		return fs_file_set_error(file, -EIO,
					 "read %s: driver %s returned %zd "
					 "bytes for a %zu byte buffer",
					 file->key, DRIVER(file)->name, ret,
					 call->size);
	return ret;
}

static void read_begin(struct fs_file *file)
{
	file->read_started = true;
	stream_begin(file);
	file->skip_left = 0;
	file->cut_left = UINT64_MAX;
	if ((fs_get_caps(file->fs) & FS_CAP_RANGE) != 0)
		return;
	/* emulate the range: the driver reads the whole object */
	file->skip_left = file->range_offset;
	file->cut_left = file->range_length;
	file->range_offset = 0;
	file->range_length = UINT64_MAX;
}

/* One read with the emulated range applied (cut_left UINT64_MAX: no cut). */
static ssize_t read_range(struct fs_file *file, void *buf, size_t size)
{
	struct file_call call = {
		.id = CALL_READ,
		.op = FS_OP_READ,
		.stream = true,
		.fn = file_read_fn,
		.buf = buf,
	};
	ssize_t ret;

	while (file->skip_left > 0) {
		call.size = (size_t)MIN((uint64_t)size, file->skip_left);
		ret = file_call(file, &call);
		if (ret <= 0)
			return ret;
		file->skip_left -= (uint64_t)ret;
	}
	if (file->cut_left == 0)
		return 0;
	call.size = (size_t)MIN((uint64_t)size, file->cut_left);
	ret = file_call(file, &call);
	if (ret > 0 && file->cut_left != UINT64_MAX)
		file->cut_left -= (uint64_t)ret;
	return ret;
}

ssize_t fs_read(struct fs_file *file, void *buf, size_t size)
{
	ssize_t ret;

	if (file->mode != FS_OPEN_READ)
		return fs_file_set_error(file, -EINVAL,
					 "read %s: file is not open for "
					 "reading",
					 file->key);
	if (file->read_error != 0)
		return file->read_error;
	if (file->read_eof || size == 0)
		return 0;
	if (DRIVER(file)->v.read == NULL)
		return not_supported(file, "read");
	ret = file_busy(file, CALL_READ);
	if (ret < 0)
		return ret;
	if (!file->read_started)
		read_begin(file);
	ret = read_range(file, buf, size);
	if (ret > 0) {
		file->op_bytes += (uint64_t)ret;
	} else if (ret == 0) {
		file->read_eof = true;
		stream_end(file, 0);
	} else if (ret != -EAGAIN) {
		file->read_error = (int)ret;
		stream_end(file, (int)ret);
	}
	return ret;
}

static void read_all_reset(struct fs_file *file)
{
	free(file->read_all_buf);
	file->read_all_buf = NULL;
	file->read_all_size = 0;
	file->read_all_alloc = 0;
	file->read_all_want = 0;
	file->read_all_sized = false;
}

/* Where FS_CAP_READ_STAT makes the stat free once reading started, the
   buffer the whole object needs (size, one byte to see the end, the NUL),
   learnt after the first bytes: one buffer of the right size instead of
   doublings (a 64 KiB object read into 128 KiB, mmap'ed, then shrunk).
   The driver's stat is called directly: this is no stat of the
   application's, nor counted as one. */
static void read_all_size_hint(struct fs_file *file)
{
	struct fs_stat st;

	if (file->read_all_sized || file->read_all_size == 0 ||
	    file->range_offset != 0 || file->range_length != UINT64_MAX ||
	    (fs_get_caps(file->fs) & FS_CAP_READ_STAT) == 0 ||
	    DRIVER(file)->v.stat == NULL)
		return;
	file->read_all_sized = true;
	memset(&st, 0, sizeof(st));
	if (DRIVER(file)->v.stat(file, &st) == 0 &&
	    (st.valid & FS_STAT_SIZE) != 0 && st.size < SIZE_MAX / 4 &&
	    st.size >= file->read_all_size)
		file->read_all_want = (size_t)st.size + 2;
}

/* Makes room for more data plus the NUL in the read_all buffer. */
static int read_all_grow(struct fs_file *file)
{
	size_t alloc = file->read_all_alloc;
	size_t left = alloc - file->read_all_size;
	char *buf;

	/* no tiny reads into the last bytes of the buffer */
	if (alloc > 0 && left > 4096)
		return 0;
	read_all_size_hint(file);
	if (file->read_all_want != 0 && alloc >= file->read_all_want &&
	    left >= 2)
		return 0; /* the rest and the end fit */
	if (alloc > SIZE_MAX / 2)
		return fs_file_set_error(file, -EFBIG,
					 "read %s: object too large for memory",
					 file->key);
	if (file->read_all_want > alloc)
		alloc = file->read_all_want;
	else
		alloc = alloc == 0 ? READ_ALL_FIRST_SIZE : alloc * 2;
	buf = realloc(file->read_all_buf, alloc);
	if (buf == NULL)
		return fs_file_set_error(file, -ENOMEM,
					 "read %s: out of memory for %zu bytes",
					 file->key, alloc);
	file->read_all_buf = buf;
	file->read_all_alloc = alloc;
	return 0;
}

int fs_read_all(struct fs_file *file, void **data_r, size_t *size_r)
{
	ssize_t ret;
	char *buf;

	*data_r = NULL;
	*size_r = 0;
	for (;;) {
		ret = read_all_grow(file);
		if (ret < 0)
			break;
		ret = fs_read(file, file->read_all_buf + file->read_all_size,
			      file->read_all_alloc - file->read_all_size - 1);
		if (ret <= 0)
			break;
		file->read_all_size += (size_t)ret;
	}
	/* the data read so far is kept for the repeated call */
	if (ret == -EAGAIN || ret == -EBUSY)
		return (int)ret;
	if (ret < 0) {
		/* what was read goes with the buffer: no later read may return
		   the rest of the object as if it were all of it */
		if (file->mode == FS_OPEN_READ && file->read_error == 0) {
			file->read_error = (int)ret;
			stream_end(file, (int)ret);
		}
		read_all_reset(file);
		return (int)ret;
	}
	buf = file->read_all_buf;
	buf[file->read_all_size] = '\0';
	/* give back the unused part of a large buffer */
	if (file->read_all_alloc - file->read_all_size > 4096) {
		char *shrunk = realloc(buf, file->read_all_size + 1);

		if (shrunk != NULL)
			buf = shrunk;
	}
	*data_r = buf;
	*size_r = file->read_all_size;
	file->read_all_buf = NULL;
	read_all_reset(file);
	return 0;
}

/* --- Writing --- */

static int write_check(struct fs_file *file, const char *what)
{
	if (file->mode == FS_OPEN_READ)
		return fs_file_set_error(file, -EINVAL,
					 "%s %s: file is not open for writing",
					 what, file->key);
	if (file->write_error != 0)
		return file->write_error;
	if (file->write_aborted)
		return fs_file_set_error(file, -EINVAL,
					 "%s %s: the write was aborted", what,
					 file->key);
	if (file->write_done)
		return fs_file_set_error(file, -EINVAL,
					 "%s %s: the write is already finished",
					 what, file->key);
	if (DRIVER(file)->v.write == NULL ||
	    DRIVER(file)->v.write_finish == NULL)
		return (int)not_supported(file, what);
	return 0;
}

static void write_begin(struct fs_file *file)
{
	if (file->write_started)
		return;
	file->write_started = true;
	stream_begin(file);
}

/* A write or finish failed: nothing of it may remain. */
static void write_fail(struct fs_file *file, int err)
{
	if (DRIVER(file)->v.write_abort != NULL)
		DRIVER(file)->v.write_abort(file);
	file->write_error = err;
	stream_end(file, err);
}

static ssize_t file_write_fn(struct fs_file *file, struct file_call *call)
{
	ssize_t ret = DRIVER(file)->v.write(file, call->data, call->size);

	if (ret == 0 || ret > (ssize_t)call->size)
		return fs_file_set_error(file, -EIO,
					 "write %s: driver %s took %zd of %zu "
					 "bytes",
					 file->key, DRIVER(file)->name, ret,
					 call->size);
	return ret;
}

static ssize_t file_finish_fn(struct fs_file *file, struct file_call *call)
{
	return DRIVER(file)->v.write_finish(file);
}

ssize_t fs_write(struct fs_file *file, const void *data, size_t size)
{
	struct file_call call = {
		.id = CALL_WRITE,
		.op = FS_OP_WRITE,
		.stream = true,
		.fn = file_write_fn,
	};
	ssize_t ret = write_check(file, "write");
	size_t done = 0;

	if (ret == 0)
		ret = file_busy(file, CALL_WRITE);
	if (ret < 0 || size == 0)
		return ret;
	write_begin(file);
	/* blocking files loop over partial takes; ASYNC ones return them */
	do {
		call.data = (const char *)data + done;
		call.size = size - done;
		ret = file_call(file, &call);
		if (ret < 0)
			break;
		file->op_bytes += (uint64_t)ret;
		done += (size_t)ret;
	} while (done < size && (file->flags & FS_OPEN_FLAG_ASYNC) == 0);
	if (ret == -EAGAIN)
		return ret;
	if (ret < 0) {
		write_fail(file, (int)ret);
		return ret;
	}
	return (ssize_t)done;
}

static int write_finished(struct fs_file *file, int ret)
{
	if (ret == -EAGAIN)
		return ret;
	if (ret < 0) {
		write_fail(file, ret);
		return ret;
	}
	file->write_done = true;
	stream_end(file, 0);
	return 0;
}

int fs_write_finish(struct fs_file *file)
{
	struct file_call call = {
		.id = CALL_FINISH,
		.op = FS_OP_WRITE,
		.stream = true,
		.fn = file_finish_fn,
	};
	int ret;

	if (file->mode != FS_OPEN_READ && file->write_done &&
	    file->write_error == 0)
		return 0;
	ret = write_check(file, "write finish");
	if (ret == 0)
		ret = file_busy(file, CALL_FINISH);
	if (ret < 0)
		return ret;
	write_begin(file);
	return write_finished(file, (int)file_call(file, &call));
}

void fs_write_abort(struct fs_file *file)
{
	if (file->mode == FS_OPEN_READ || file->write_done ||
	    file->write_error != 0 || file->write_aborted)
		return;
	if (!file->write_started && file->write_md.count == 0)
		return;
	/* the driver's write_abort also cancels a pending write or finish */
	if (DRIVER(file)->v.write_abort != NULL)
		DRIVER(file)->v.write_abort(file);
	if (file->call_id == CALL_WRITE || file->call_id == CALL_FINISH) {
		file_clear_pending(file);
		file->call_id = CALL_NONE;
	}
	file->write_aborted = true;
	file->write_all_active = false;
	/* an abandoned write is counted, but it is no failure */
	stream_end(file, 0);
}

int fs_write_all(struct fs_file *file, const void *data, size_t size)
{
	ssize_t ret;

	if (!file->write_all_active) {
		file->write_all_active = true;
		file->write_all_offset = 0;
	}
	while (file->write_all_offset < size) {
		ret = fs_write(file,
			       (const char *)data + file->write_all_offset,
			       size - file->write_all_offset);
		/* -EBUSY leaves the write as it was: keep the offset for the
		   repeated call, or the data would be written twice */
		if (ret == -EAGAIN || ret == -EBUSY)
			return (int)ret;
		if (ret < 0) {
			file->write_all_active = false;
			return (int)ret;
		}
		file->write_all_offset += (size_t)ret;
	}
	ret = fs_write_finish(file);
	if (ret != -EAGAIN && ret != -EBUSY)
		file->write_all_active = false;
	return (int)ret;
}

/* The write path without the engine's busy check, blocking even on ASYNC
   files: for the copy fallback, which runs inside dst's COPY call. */
static ssize_t write_blocking(struct fs_file *file, const void *data,
			      size_t size)
{
	struct file_call call = {
		.id = CALL_WRITE, .op = FS_OP_WRITE, .fn = file_write_fn};
	ssize_t ret;
	size_t done = 0;

	write_begin(file);
	while (done < size) {
		call.data = (const char *)data + done;
		call.size = size - done;
		ret = file_call_blocking(file, &call);
		if (ret < 0) {
			write_fail(file, (int)ret);
			return ret;
		}
		file->op_bytes += (uint64_t)ret;
		done += (size_t)ret;
	}
	return (ssize_t)done;
}

static int finish_blocking(struct fs_file *file)
{
	struct file_call call = {
		.id = CALL_FINISH, .op = FS_OP_WRITE, .fn = file_finish_fn};

	write_begin(file);
	return write_finished(file, (int)file_call_blocking(file, &call));
}

/* --- Metadata --- */

static int metadata_check_caps(struct fs_file *file, const char *what)
{
	if ((fs_get_caps(file->fs) & FS_CAP_METADATA) == 0)
		return fs_file_set_error(file, -ENOTSUP,
					 "%s %s: %s storage has no metadata",
					 what, file->key, DRIVER(file)->name);
	return 0;
}

int fs_file_set_metadata(struct fs_file *file, const char *name,
			 const char *value)
{
	struct fs_limits limits;
	const char *old;
	size_t total;
	int ret;

	ret = write_check(file, "set metadata");
	if (ret == 0)
		ret = metadata_check_caps(file, "set metadata");
	if (ret < 0)
		return ret;
	if (file->call_id == CALL_FINISH)
		return file_busy(file, CALL_WRITE);
	if (name == NULL || value == NULL ||
	    fs_metadata_validate(name, value) < 0)
		return fs_file_set_error(file, -EINVAL,
					 "set metadata %s: invalid name or "
					 "value for '%s'",
					 file->key, name != NULL ? name : "");
	old = fs_metadata_list_find(&file->write_md, name);
	total = fs_metadata_list_size(&file->write_md) + strlen(value) +
		(old != NULL ? 0 : strlen(name)) -
		(old != NULL ? strlen(old) : 0);
	fs_get_limits(file->fs, &limits);
	if (total > limits.metadata_max)
		return fs_file_set_error(file, -EINVAL,
					 "set metadata %s: more than the %zu "
					 "bytes of metadata this storage (%s) "
					 "can hold",
					 file->key, limits.metadata_max,
					 DRIVER(file)->name);
	if (fs_metadata_list_set(&file->write_md, name, value) < 0)
		return fs_file_set_error(file, -ENOMEM,
					 "set metadata %s: out of memory",
					 file->key);
	return 0;
}

static ssize_t file_metadata_fn(struct fs_file *file, struct file_call *call)
{
	/* a repeated call loads again from the start */
	fs_metadata_list_clear(&file->read_md);
	return DRIVER(file)->v.get_metadata(file);
}

static int metadata_load(struct fs_file *file)
{
	struct file_call call = {
		.id = CALL_METADATA,
		.op = FS_OP_METADATA,
		.fn = file_metadata_fn,
	};
	ssize_t ret = metadata_check_caps(file, "get metadata");

	if (ret < 0)
		return (int)ret;
	if (DRIVER(file)->v.get_metadata == NULL)
		return (int)not_supported(file, "get metadata");
	if (file->read_md_loaded)
		return 0;
	ret = file_call(file, &call);
	if (ret < 0) {
		if (ret != -EAGAIN)
			fs_metadata_list_clear(&file->read_md);
		return (int)ret;
	}
	fs_metadata_list_sort(&file->read_md);
	file->read_md_loaded = true;
	return 0;
}

int fs_file_get_metadata(struct fs_file *file, const char *name,
			 const char **value_r)
{
	int ret = metadata_load(file);

	*value_r = NULL;
	if (ret < 0)
		return ret;
	*value_r = fs_metadata_list_find(&file->read_md, name);
	return *value_r != NULL ? 1 : 0;
}

int fs_file_get_metadata_all(struct fs_file *file,
			     const struct fs_metadata **md_r)
{
	int ret = metadata_load(file);

	*md_r = NULL;
	if (ret < 0)
		return ret;
	*md_r = file->read_md.items;
	return (int)file->read_md.count;
}

/* --- Stat, exists, delete --- */

static ssize_t file_stat_fn(struct fs_file *file, struct file_call *call)
{
	memset(call->st, 0, sizeof(*call->st));
	return DRIVER(file)->v.stat(file, call->st);
}

int fs_file_stat(struct fs_file *file, struct fs_stat *st_r)
{
	struct file_call call = {
		.id = CALL_STAT,
		.op = FS_OP_STAT,
		.fn = file_stat_fn,
		.st = st_r,
	};

	memset(st_r, 0, sizeof(*st_r));
	if (DRIVER(file)->v.stat == NULL)
		return (int)not_supported(file, "stat");
	return (int)file_call(file, &call);
}

static ssize_t file_exists_fn(struct fs_file *file, struct file_call *call)
{
	struct fs_stat st;
	int ret;

	if (DRIVER(file)->v.exists != NULL)
		return DRIVER(file)->v.exists(file);
	memset(&st, 0, sizeof(st));
	ret = DRIVER(file)->v.stat(file, &st);
	if (ret == -ENOENT)
		return 0;
	return ret == 0 ? 1 : ret;
}

int fs_file_exists(struct fs_file *file)
{
	struct file_call call = {
		.id = CALL_EXISTS,
		.op = FS_OP_EXISTS,
		.fn = file_exists_fn,
	};

	if (DRIVER(file)->v.exists == NULL && DRIVER(file)->v.stat == NULL)
		return (int)not_supported(file, "exists");
	return (int)file_call(file, &call);
}

static ssize_t file_revalidate_fn(struct fs_file *file, struct file_call *call)
{
	struct fs_stat st;
	int ret;

	if (DRIVER(file)->v.revalidate != NULL)
		return DRIVER(file)->v.revalidate(file, call->etag);
	memset(&st, 0, sizeof(st));
	ret = DRIVER(file)->v.stat(file, &st);
	if (ret < 0)
		return ret;
	return (st.valid & FS_STAT_ETAG) != 0 && st.etag[0] != '\0' &&
	       strcmp(st.etag, call->etag) == 0;
}

int fs_file_revalidate(struct fs_file *file, const char *etag)
{
	struct file_call call = {
		.id = CALL_REVALIDATE,
		.op = FS_OP_REVALIDATE,
		.fn = file_revalidate_fn,
		.etag = etag,
	};

	if (file->mode != FS_OPEN_READ || file->read_started || etag == NULL)
		return fs_file_set_error(file, -EINVAL,
					 "revalidate %s: needs a file open for "
					 "reading, before the first read, and "
					 "an etag",
					 file->key);
	if (DRIVER(file)->v.revalidate == NULL && DRIVER(file)->v.stat == NULL)
		return (int)not_supported(file, "revalidate");
	return (int)file_call(file, &call);
}

static ssize_t file_delete_fn(struct fs_file *file, struct file_call *call)
{
	return DRIVER(file)->v.delete_file(file);
}

int fs_file_delete(struct fs_file *file)
{
	struct file_call call = {
		.id = CALL_DELETE,
		.op = FS_OP_DELETE,
		.fn = file_delete_fn,
	};

	if (DRIVER(file)->v.delete_file == NULL)
		return (int)not_supported(file, "delete");
	return (int)file_call(file, &call);
}

/* --- Copy and rename --- */

static int copy_check(struct fs_file *src, struct fs_file *dst,
		      const char *what)
{
	if (src->fs != dst->fs)
		return fs_file_set_error(dst, -EINVAL,
					 "%s %s to %s: the files are on "
					 "different storages",
					 what, src->key, dst->key);
	if (dst->mode != FS_OPEN_CREATE && dst->mode != FS_OPEN_REPLACE)
		return fs_file_set_error(dst, -EINVAL,
					 "%s %s to %s: destination must be "
					 "open with CREATE or REPLACE",
					 what, src->key, dst->key);
	if (strcmp(src->key, dst->key) == 0)
		return fs_file_set_error(dst, -EINVAL,
					 "%s %s: source and destination are "
					 "the same key",
					 what, src->key);
	if (dst->write_started || dst->write_done || dst->write_error != 0 ||
	    dst->write_aborted)
		return fs_file_set_error(dst, -EINVAL,
					 "%s %s to %s: destination file is "
					 "already used for writing",
					 what, src->key, dst->key);
	if (src->call_id != CALL_NONE)
		return fs_file_set_error(dst, -EBUSY,
					 "%s %s to %s: an operation is in "
					 "flight on the source file",
					 what, src->key, dst->key);
	return 0;
}

static int copy_metadata(struct fs_file *in, struct fs_file *dst)
{
	const struct fs_metadata *md;
	int i, count;

	if ((fs_get_caps(dst->fs) & FS_CAP_METADATA) == 0 ||
	    DRIVER(dst)->v.get_metadata == NULL)
		return 0;
	count = fs_file_get_metadata_all(in, &md);
	if (count < 0)
		return fs_file_copy_error(dst, in, count);
	for (i = 0; i < count; i++) {
		if (fs_metadata_list_set(&dst->write_md, md[i].name,
					 md[i].value) < 0)
			return fs_file_set_error(dst, -ENOMEM,
						 "copy %s: out of memory",
						 dst->key);
	}
	return 0;
}

/* Streams src into dst's write path and finishes it. */
static int copy_stream(struct fs_file *in, struct fs_file *dst,
		       struct file_call *call)
{
	char *buf = malloc(COPY_CHUNK_SIZE);
	ssize_t ret;

	if (buf == NULL)
		return fs_file_set_error(dst, -ENOMEM, "copy %s: out of memory",
					 dst->key);
	for (;;) {
		ret = fs_read(in, buf, COPY_CHUNK_SIZE);
		if (ret <= 0)
			break;
		ret = write_blocking(dst, buf, (size_t)ret);
		if (ret < 0)
			break;
		call->bytes += (uint64_t)ret;
	}
	free(buf);
	if (ret < 0 && in->read_error == (int)ret) {
		fs_file_copy_error(dst, in, (int)ret);
		if (dst->write_started)
			write_fail(dst, (int)ret);
	}
	if (ret < 0)
		return (int)ret;
	return finish_blocking(dst);
}

/* The fallback when the driver has no copy: read src through an internal
   file and write dst. It runs blocking even on ASYNC files: it is one call
   on dst, and splitting it into -EAGAIN steps would need a state machine
   for what is a last resort anyway. */
static int copy_fallback(struct fs_file *src, struct fs_file *dst,
			 struct file_call *call)
{
	struct fs_file *in;
	int ret;

	ret = fs_file_init(src->fs, src->key, FS_OPEN_READ, &in);
	if (ret < 0)
		return fs_file_set_error(dst, ret, "copy %s: %s", src->key,
					 fs_last_error(src->fs));
	ret = copy_metadata(in, dst);
	if (ret == 0)
		ret = copy_stream(in, dst, call);
	fs_file_deinit(&in);
	return ret;
}

static int copy_any(struct fs_file *src, struct fs_file *dst,
		    struct file_call *call)
{
	if (DRIVER(dst)->v.copy != NULL)
		return DRIVER(dst)->v.copy(src, dst);
	return copy_fallback(src, dst, call);
}

static ssize_t file_copy_fn(struct fs_file *dst, struct file_call *call)
{
	return copy_any(call->src, dst, call);
}

static ssize_t file_delete_any_fn(struct fs_file *file, struct file_call *call)
{
	if (DRIVER(file)->v.delete_file == NULL)
		return not_supported(file, "delete");
	return DRIVER(file)->v.delete_file(file);
}

/* The fallback when the driver has no rename: copy, then delete the source
   (blocking, see copy_fallback()). A source that vanished meanwhile counts
   as deleted. */
static ssize_t file_rename_fn(struct fs_file *dst, struct file_call *call)
{
	struct file_call del = {.id = CALL_DELETE,
				.op = FS_OP_DELETE,
				.fn = file_delete_any_fn};
	struct fs_file *src = call->src;
	ssize_t ret;

	if (DRIVER(dst)->v.rename != NULL)
		return DRIVER(dst)->v.rename(src, dst);
	ret = copy_any(src, dst, call);
	if (ret < 0)
		return ret;
	ret = file_call_blocking(src, &del);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return fs_file_copy_error(dst, src, (int)ret);
	return 0;
}

int fs_copy(struct fs_file *src, struct fs_file *dst)
{
	struct file_call call = {
		.id = CALL_COPY,
		.op = FS_OP_COPY,
		.fn = file_copy_fn,
		.src = src,
	};
	int ret = copy_check(src, dst, "copy");

	if (ret < 0)
		return ret;
	return (int)file_call(dst, &call);
}

int fs_rename(struct fs_file *src, struct fs_file *dst)
{
	struct file_call call = {
		.id = CALL_RENAME,
		.op = FS_OP_RENAME,
		.fn = file_rename_fn,
		.src = src,
	};
	int ret = copy_check(src, dst, "rename");

	if (ret < 0)
		return ret;
	return (int)file_call(dst, &call);
}
