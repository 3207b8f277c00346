/*
 * faults: a layer that injects failures into the operations of the storage
 * below it, deterministically, so that tests can prove that no failure
 * crashes, leaks or leaves a partial object behind.
 *
 * Spec: "faults:OPTIONS::CHILD", OPTIONS separated by commas, all optional:
 *
 *   seed=N          seed of the layer's own PRNG (splitmix64; default 0). The
 *                   same seed and the same sequence of calls give the same
 *                   failures.
 *   all=P           probability of failing any eligible call: "10%", "0.5%"
 *                   or a fraction "0.1" (default 0: inject nothing)
 *   read=P write=P stat=P exists=P metadata=P delete=P copy=P rename=P
 *   iter=P revalidate=P
 *                   the same for one operation (the names of fs_op_name()),
 *                   overriding all= whatever the order
 *   nth=K           fail exactly the K-th eligible call (K >= 1) instead of
 *                   failing at random. The percentages then only choose the
 *                   eligible operations (those above 0); without any
 *                   percentage every operation is eligible.
 *   mode=transient  (default) a failure fails one call
 *   mode=persistent from the first call chosen to fail on, every eligible
 *                   call fails
 *   when=before     fail before the operation below starts: nothing happened
 *   when=after      fail after the operation below completed: it happened but
 *                   reports an error (a write that was published, a delete
 *                   that deleted, a copy that copied); a read stream fails
 *                   at its end instead of returning 0, a listing after its
 *                   last key
 *   when=mid        streams only: a read or write fails after a random number
 *                   of bytes (1 B .. 1 MiB, log-uniform), a listing after a
 *                   random number of keys (1 .. 1024); a write failing there
 *                   is aborted below and leaves nothing. Other operations
 *                   are not eligible.
 *   when=both       (default) each failure picks one of the above at random
 *                   (mid for streams only)
 *   errno=NAME      the error injected: EIO (default), ENOSPC, ETIMEDOUT,
 *                   EACCES, EPERM, EROFS, EDQUOT, EFBIG, ENOMEM, ECONNRESET,
 *                   ECONNREFUSED, EPIPE, EHOSTUNREACH. Errors with a meaning
 *                   in the API (ENOENT, EEXIST, EINVAL, ENOTSUP, EAGAIN,
 *                   EBUSY) are refused.
 *
 * Anything else is -EINVAL with a message naming the option.
 *
 * Eligible calls: every operation counts once, when it starts. stat, exists,
 * get metadata, revalidate and delete on their file; copy and rename on the
 * destination; a read stream at its first read; a write stream at its first
 * write (or at its finish when it has no data); a listing at its first
 * fs_iter_next(). Opening and freeing handles, fs_iter_init() and aborting a
 * write never fail. fs_delete_prefix() runs the core's list-and-delete over
 * this layer, so its listing and each delete are eligible calls.
 *
 * A failure chosen for a call always happens, unless the application drops
 * the stream first: if a stream ends, or the storage below fails, before
 * the chosen point, the injected error is returned there instead (the
 * message then says what the storage below answered). Injected errors say
 * so: "faults: injected EIO before write finish of KEY". They are counted in
 * fs_stats.faults_injected of this layer.
 *
 * Everything else passes through: the capabilities are the child's, files
 * below are opened asynchronously by the passthrough helpers, and the
 * decision taken at an operation's first call is kept across the repeated
 * calls after -EAGAIN (a failure "before" returns at once, without -EAGAIN).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "libfs/driver.h"

/* when=mid: the longest random offset is 2^bits bytes, or keys. */
#define FAULTS_MID_BYTES_BITS 20
#define FAULTS_MID_KEYS_BITS 10
/* An injected error's description of the operation: two keys and words. */
#define FAULTS_WHAT_MAX (2 * FS_KEY_MAX + 256)

enum faults_when {
	FAULTS_BEFORE,
	FAULTS_MID,
	FAULTS_AFTER,
	FAULTS_BOTH,
};

struct faults_fs {
	struct fs fs;
	uint64_t rng;
	/* per enum fs_op: the probability of failing and whether a call of
	   that operation is eligible at all */
	double prob[FS_OP_COUNT];
	bool eligible[FS_OP_COUNT];
	uint64_t nth;	/* 0: fail at random */
	uint64_t calls; /* eligible calls so far */
	bool persistent, tripped;
	enum faults_when when;
	int err; /* negative */
};

/* What was decided for one operation or stream, at its first call. */
struct faults_plan {
	bool active; /* decided, and the operation has not ended */
	bool fail, fired;
	enum fs_op op;
	enum faults_when when;
	/* streams: bytes (keys) that pass before the failure; 0 for "before",
	   UINT64_MAX for "after" */
	uint64_t offset;
};

struct faults_file {
	struct fs_file file;
	struct faults_plan op;	   /* the whole-object operation in flight */
	struct faults_plan stream; /* the read or write stream */
	uint64_t pos;		   /* stream bytes passed so far */
};

struct faults_iter {
	struct fs_iter iter;
	struct faults_plan plan;
	uint64_t keys; /* keys passed so far */
};

#define FAULTS_FS(_fs) FS_CONTAINER_OF(_fs, struct faults_fs, fs)
#define FAULTS_FILE(_file) FS_CONTAINER_OF(_file, struct faults_file, file)
#define FAULTS_ITER(_iter) FS_CONTAINER_OF(_iter, struct faults_iter, iter)

static const int faults_errnos[] = {
	EIO,   ENOSPC, ETIMEDOUT,  EACCES,	 EPERM, EROFS,	      EDQUOT,
	EFBIG, ENOMEM, ECONNRESET, ECONNREFUSED, EPIPE, EHOSTUNREACH,
};

/* ------------------------------------------------------------------------ */
/* Options                                                                    */

/* Percentages as parsed, before all= is applied. */
struct faults_args {
	double all, prob[FS_OP_COUNT];
	bool all_set, prob_set[FS_OP_COUNT];
};

static int faults_op_by_name(const char *name)
{
	int op;

	for (op = 0; op < FS_OP_COUNT; op++) {
		if (strcmp(fs_op_name((enum fs_op)op), name) == 0)
			return op;
	}
	return -1;
}

static int faults_parse_prob(struct fs *fs, const struct fs_kv *kv,
			     double *prob_r, bool *set_r)
{
	if (fs_parse_fraction(kv->value, prob_r) < 0)
		return fs_set_error(fs, -EINVAL,
				    "invalid %s='%.64s': expected a "
				    "percentage from 0%% to 100%% (\"10%%\", "
				    "\"0.5%%\") or a fraction (\"0.1\")",
				    kv->name, kv->value);
	*set_r = true;
	return 0;
}

static int faults_parse_num(struct fs *fs, const struct fs_kv *kv, uint64_t min,
			    uint64_t *num_r)
{
	if (fs_parse_uint(kv->value, num_r) < 0 || *num_r < min)
		return fs_set_error(fs, -EINVAL,
				    "invalid %s='%.64s': expected a decimal "
				    "number of at least %llu",
				    kv->name, kv->value,
				    (unsigned long long)min);
	return 0;
}

static int faults_parse_mode(struct faults_fs *fs, const char *value)
{
	if (strcmp(value, "transient") == 0)
		fs->persistent = false;
	else if (strcmp(value, "persistent") == 0)
		fs->persistent = true;
	else
		return fs_set_error(&fs->fs, -EINVAL,
				    "invalid mode='%.64s': expected transient "
				    "or persistent",
				    value);
	return 0;
}

static int faults_parse_when(struct faults_fs *fs, const char *value)
{
	static const char *const names[] = {
		[FAULTS_BEFORE] = "before",
		[FAULTS_MID] = "mid",
		[FAULTS_AFTER] = "after",
		[FAULTS_BOTH] = "both",
	};
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value, names[i]) == 0) {
			fs->when = (enum faults_when)i;
			return 0;
		}
	}
	return fs_set_error(&fs->fs, -EINVAL,
			    "invalid when='%.64s': expected before, mid, "
			    "after or both",
			    value);
}

static int faults_parse_errno(struct faults_fs *fs, const char *value)
{
	unsigned int i;

	for (i = 0; i < sizeof(faults_errnos) / sizeof(faults_errnos[0]); i++) {
		if (strcmp(value, fs_errno_name(faults_errnos[i])) == 0) {
			fs->err = -faults_errnos[i];
			return 0;
		}
	}
	return fs_set_error(&fs->fs, -EINVAL,
			    "invalid errno='%.64s': expected one of EIO, "
			    "ENOSPC, ETIMEDOUT, EACCES, EPERM, EROFS, EDQUOT, "
			    "EFBIG, ENOMEM, ECONNRESET, ECONNREFUSED, EPIPE, "
			    "EHOSTUNREACH",
			    value);
}

static int faults_parse_option(struct faults_fs *fs, struct faults_args *args,
			       const struct fs_kv *kv)
{
	int op = faults_op_by_name(kv->name);

	if (op >= 0)
		return faults_parse_prob(&fs->fs, kv, &args->prob[op],
					 &args->prob_set[op]);
	if (strcmp(kv->name, "all") == 0)
		return faults_parse_prob(&fs->fs, kv, &args->all,
					 &args->all_set);
	if (strcmp(kv->name, "seed") == 0)
		return faults_parse_num(&fs->fs, kv, 0, &fs->rng);
	if (strcmp(kv->name, "nth") == 0)
		return faults_parse_num(&fs->fs, kv, 1, &fs->nth);
	if (strcmp(kv->name, "mode") == 0)
		return faults_parse_mode(fs, kv->value);
	if (strcmp(kv->name, "when") == 0)
		return faults_parse_when(fs, kv->value);
	if (strcmp(kv->name, "errno") == 0)
		return faults_parse_errno(fs, kv->value);
	return fs_set_error(&fs->fs, -EINVAL,
			    "unknown option '%.64s' (known: seed=N, all=P%%, "
			    "read=P%%, write=P%%, stat=P%%, exists=P%%, "
			    "metadata=P%%, delete=P%%, copy=P%%, rename=P%%, "
			    "iter=P%%, revalidate=P%%, nth=K, "
			    "mode=transient|persistent, "
			    "when=before|mid|after|both, errno=NAME)",
			    kv->name);
}

/* Applies all= and decides which operations are eligible. */
static void faults_setup(struct faults_fs *fs, const struct faults_args *args)
{
	bool any = args->all_set;
	double prob;
	int op;

	for (op = 0; op < FS_OP_COUNT; op++)
		any = any || args->prob_set[op];
	for (op = 0; op < FS_OP_COUNT; op++) {
		if (args->prob_set[op])
			prob = args->prob[op];
		else
			prob = args->all_set ? args->all : 0;
		fs->prob[op] = prob;
		fs->eligible[op] = any ? prob > 0 : fs->nth > 0;
	}
}

static int faults_init(struct fs *_fs, const char *scheme, const char *args)
{
	struct faults_fs *fs = FAULTS_FS(_fs);
	struct faults_args parsed;
	struct fs_kv *kv;
	int i, count, ret = 0;

	memset(&parsed, 0, sizeof(parsed));
	fs->when = FAULTS_BOTH;
	fs->err = -EIO;
	count = fs_kv_split(args, ',', &kv);
	if (count < 0)
		return fs_set_error(_fs, count, "malformed options '%.200s'",
				    args);
	for (i = 0; i < count && ret == 0; i++)
		ret = faults_parse_option(fs, &parsed, &kv[i]);
	fs_kv_free(kv, count);
	if (ret == 0)
		faults_setup(fs, &parsed);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Deciding                                                                   */

/* splitmix64: small, fast, and the same sequence everywhere. */
static uint64_t faults_random(struct faults_fs *fs)
{
	uint64_t z = (fs->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* True with probability prob; draws only when the answer is not certain. */
static bool faults_chance(struct faults_fs *fs, double prob)
{
	if (prob <= 0)
		return false;
	if (prob >= 1)
		return true;
	/* 53 random bits against the probability scaled to 2^53 */
	return (double)(faults_random(fs) >> 11) < prob * 9007199254740992.0;
}

static bool faults_is_stream(enum fs_op op)
{
	return op == FS_OP_READ || op == FS_OP_WRITE || op == FS_OP_ITER;
}

/* Counts an eligible call of op; returns true if it is to fail. */
static bool faults_should_fail(struct faults_fs *fs, enum fs_op op)
{
	if (!fs->eligible[op] ||
	    (fs->when == FAULTS_MID && !faults_is_stream(op)))
		return false;
	fs->calls++;
	if (fs->tripped)
		return true;
	if (fs->nth > 0)
		return fs->calls == fs->nth;
	return faults_chance(fs, fs->prob[op]);
}

static enum faults_when faults_pick_when(struct faults_fs *fs, enum fs_op op)
{
	if (fs->when != FAULTS_BOTH)
		return fs->when;
	if (faults_is_stream(op))
		return (enum faults_when)(faults_random(fs) % 3);
	return faults_random(fs) % 2 == 0 ? FAULTS_BEFORE : FAULTS_AFTER;
}

/* A log-uniform offset in [1, 2^bits]: small and large ones alike. */
static uint64_t faults_pick_offset(struct faults_fs *fs, enum fs_op op,
				   enum faults_when when)
{
	unsigned int bits =
		op == FS_OP_ITER ? FAULTS_MID_KEYS_BITS : FAULTS_MID_BYTES_BITS;
	uint64_t r;

	if (when == FAULTS_BEFORE)
		return 0;
	if (when == FAULTS_AFTER)
		return UINT64_MAX;
	r = faults_random(fs);
	return 1 + ((r >> 8) & ((1ull << (r % (bits + 1))) - 1));
}

/* Decides the fate of an operation at its first call. */
static void faults_plan_new(struct faults_fs *fs, enum fs_op op,
			    struct faults_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->active = true;
	plan->op = op;
	if (!faults_should_fail(fs, op))
		return;
	if (fs->persistent)
		fs->tripped = true;
	plan->fail = true;
	plan->when = faults_pick_when(fs, op);
	plan->offset = faults_pick_offset(fs, op, plan->when);
}

/* "success", "end of data" or the errno name of what the storage below
   answered. */
static const char *faults_below(ssize_t ret)
{
	if (ret > 0)
		return "success";
	return ret == 0 ? "end of data" : fs_errno_name((int)ret);
}

/* ------------------------------------------------------------------------ */
/* Injecting                                                                  */

static int faults_file_fail(struct faults_file *file, struct faults_plan *plan,
			    const char *fmt, ...) FS_PRINTF(3, 4);
static int faults_file_fail(struct faults_file *file, struct faults_plan *plan,
			    const char *fmt, ...)
{
	struct faults_fs *fs = FAULTS_FS(file->file.fs);
	char what[FAULTS_WHAT_MAX];
	va_list args;

	va_start(args, fmt);
	vsnprintf(what, sizeof(what), fmt, args);
	va_end(args);
	plan->fired = true;
	fs->fs.stats.faults_injected++;
	return fs_file_set_error(&file->file, fs->err, "faults: injected %s %s",
				 fs_errno_name(fs->err), what);
}

/* Fails a whole-object operation; src is set for copy and rename. */
static int faults_op_fail(struct faults_file *file, const struct fs_file *src,
			  const char *when, const char *below)
{
	const char *op = fs_op_name(file->op.op);
	const char *key = file->file.key;

	if (src != NULL && below != NULL)
		return faults_file_fail(file, &file->op,
					"after %s of %s to %s (below: %s)", op,
					src->key, key, below);
	if (src != NULL)
		return faults_file_fail(file, &file->op, "%s %s of %s to %s",
					when, op, src->key, key);
	if (below != NULL)
		return faults_file_fail(file, &file->op,
					"after %s of %s (below: %s)", op, key,
					below);
	return faults_file_fail(file, &file->op, "%s %s of %s", when, op, key);
}

/* Starts operation op: decides at its first call (not at the calls repeated
   after -EAGAIN). Returns 0 to go on below, or the injected error of a
   failure before it. */
static int faults_op_begin(struct faults_file *file, enum fs_op op,
			   const struct fs_file *src)
{
	struct faults_plan *plan = &file->op;

	if (!plan->active || plan->op != op)
		faults_plan_new(FAULTS_FS(file->file.fs), op, plan);
	if (!plan->fail || plan->when != FAULTS_BEFORE)
		return 0;
	plan->active = false;
	return faults_op_fail(file, src, "before", NULL);
}

/* Ends the operation with ret from below, or with the injected error of a
   failure after it. */
static int faults_op_end(struct faults_file *file, const struct fs_file *src,
			 int ret)
{
	struct faults_plan *plan = &file->op;

	if (ret == -EAGAIN)
		return ret;
	plan->active = false;
	if (!plan->fail)
		return ret;
	return faults_op_fail(file, src, "after",
			      faults_below(ret >= 0 ? 1 : ret));
}

/* ------------------------------------------------------------------------ */
/* Whole-object operations                                                    */

static int faults_stat(struct fs_file *_file, struct fs_stat *st_r)
{
	struct faults_file *file = FAULTS_FILE(_file);
	int ret = faults_op_begin(file, FS_OP_STAT, NULL);

	if (ret < 0)
		return ret;
	return faults_op_end(file, NULL, fs_passthrough_stat(_file, st_r));
}

static int faults_exists(struct fs_file *_file)
{
	struct faults_file *file = FAULTS_FILE(_file);
	int ret = faults_op_begin(file, FS_OP_EXISTS, NULL);

	if (ret < 0)
		return ret;
	return faults_op_end(file, NULL, fs_passthrough_exists(_file));
}

/* The child's capabilities, but for FS_CAP_READ_STAT: a stat here is a
   call that may fail on purpose, so neither the core (fs_read_all()'s
   buffer size) nor a layer above (the cache's one-request miss) may make
   one the application did not ask for: it would take the injected failure
   and shift every nth= count. */
static unsigned int faults_get_caps(struct fs *fs)
{
	return fs_passthrough_get_caps(fs) & ~FS_CAP_READ_STAT;
}

static int faults_revalidate(struct fs_file *_file, const char *etag)
{
	struct faults_file *file = FAULTS_FILE(_file);
	int ret = faults_op_begin(file, FS_OP_REVALIDATE, NULL);

	if (ret < 0)
		return ret;
	return faults_op_end(file, NULL,
			     fs_passthrough_revalidate(_file, etag));
}

static int faults_get_metadata(struct fs_file *_file)
{
	struct faults_file *file = FAULTS_FILE(_file);
	int ret = faults_op_begin(file, FS_OP_METADATA, NULL);

	if (ret < 0)
		return ret;
	return faults_op_end(file, NULL, fs_passthrough_get_metadata(_file));
}

static int faults_delete(struct fs_file *_file)
{
	struct faults_file *file = FAULTS_FILE(_file);
	int ret = faults_op_begin(file, FS_OP_DELETE, NULL);

	if (ret < 0)
		return ret;
	return faults_op_end(file, NULL, fs_passthrough_delete(_file));
}

static int faults_copy(struct fs_file *src, struct fs_file *_dst)
{
	struct faults_file *dst = FAULTS_FILE(_dst);
	int ret = faults_op_begin(dst, FS_OP_COPY, src);

	if (ret < 0)
		return ret;
	return faults_op_end(dst, src, fs_passthrough_copy(src, _dst));
}

static int faults_rename(struct fs_file *src, struct fs_file *_dst)
{
	struct faults_file *dst = FAULTS_FILE(_dst);
	int ret = faults_op_begin(dst, FS_OP_RENAME, src);

	if (ret < 0)
		return ret;
	return faults_op_end(dst, src, fs_passthrough_rename(src, _dst));
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                    */

static struct faults_plan *faults_stream_plan(struct faults_file *file,
					      enum fs_op op)
{
	struct faults_plan *plan = &file->stream;

	if (!plan->active)
		faults_plan_new(FAULTS_FS(file->file.fs), op, plan);
	return plan;
}

/* Fails a read stream; below is what the storage below answered instead of
   data (0 at its end), or 1 if the chosen offset was reached. */
static ssize_t faults_read_fail(struct faults_file *file, ssize_t below)
{
	struct faults_plan *plan = &file->stream;
	unsigned long long pos = file->pos;
	const char *key = file->file.key;

	if (plan->fired)
		return FAULTS_FS(file->file.fs)->err;
	if (plan->when == FAULTS_BEFORE)
		return faults_file_fail(file, plan, "before read of %s", key);
	if (below == 0)
		return faults_file_fail(file, plan,
					"at the end of read of %s (after %llu "
					"bytes)",
					key, pos);
	if (below < 0)
		return faults_file_fail(file, plan,
					"in read of %s after %llu bytes "
					"(below: %s)",
					key, pos, faults_below(below));
	return faults_file_fail(file, plan, "in read of %s after %llu bytes",
				key, pos);
}

static ssize_t faults_read(struct fs_file *_file, void *buf, size_t size)
{
	struct faults_file *file = FAULTS_FILE(_file);
	struct faults_plan *plan = faults_stream_plan(file, FS_OP_READ);
	ssize_t ret;

	if (!plan->fail)
		return fs_passthrough_read(_file, buf, size);
	if (plan->fired || file->pos >= plan->offset)
		return faults_read_fail(file, 1);
	/* stop exactly at the chosen offset */
	if (size > plan->offset - file->pos)
		size = (size_t)(plan->offset - file->pos);
	ret = fs_passthrough_read(_file, buf, size);
	if (ret > 0)
		file->pos += (uint64_t)ret;
	if (ret > 0 || ret == -EAGAIN)
		return ret;
	return faults_read_fail(file, ret);
}

/* Fails a write stream in fs_write(); below as for faults_read_fail(). */
static ssize_t faults_write_fail(struct faults_file *file, ssize_t below)
{
	struct faults_plan *plan = &file->stream;
	unsigned long long pos = file->pos;
	const char *key = file->file.key;

	if (plan->fired)
		return FAULTS_FS(file->file.fs)->err;
	if (below < 0)
		return faults_file_fail(file, plan,
					"in write of %s after %llu bytes "
					"(below: %s)",
					key, pos, faults_below(below));
	if (pos == 0)
		return faults_file_fail(file, plan, "before write of %s", key);
	return faults_file_fail(file, plan, "in write of %s after %llu bytes",
				key, pos);
}

static ssize_t faults_write(struct fs_file *_file, const void *data,
			    size_t size)
{
	struct faults_file *file = FAULTS_FILE(_file);
	struct faults_plan *plan = faults_stream_plan(file, FS_OP_WRITE);
	ssize_t ret;

	if (plan->fail && plan->when != FAULTS_AFTER) {
		if (plan->fired || file->pos >= plan->offset)
			return faults_write_fail(file, 1);
		/* the bytes before the offset do reach the storage below */
		if (size > plan->offset - file->pos)
			size = (size_t)(plan->offset - file->pos);
	}
	ret = fs_passthrough_write(_file, data, size);
	if (ret > 0)
		file->pos += (uint64_t)ret;
	if (ret < 0 && ret != -EAGAIN && plan->fail)
		return faults_write_fail(file, ret);
	return ret;
}

static int faults_write_finish(struct fs_file *_file)
{
	struct faults_file *file = FAULTS_FILE(_file);
	struct faults_plan *plan = faults_stream_plan(file, FS_OP_WRITE);
	const char *key = _file->key;
	int ret;

	if (plan->fired)
		return FAULTS_FS(_file->fs)->err;
	if (plan->fail && plan->when != FAULTS_AFTER && file->pos == 0)
		return faults_file_fail(file, plan, "before write finish of %s",
					key);
	if (plan->fail && plan->when != FAULTS_AFTER)
		return faults_file_fail(file, plan,
					"before write finish of %s (after "
					"%llu bytes)",
					key, (unsigned long long)file->pos);
	ret = fs_passthrough_write_finish(_file);
	if (ret == -EAGAIN || !plan->fail)
		return ret;
	return faults_file_fail(file, plan,
				"after write finish of %s (below: %s)", key,
				faults_below(ret == 0 ? 1 : ret));
}

/* ------------------------------------------------------------------------ */
/* Listings                                                                   */

static int faults_iter_fail(struct faults_iter *iter, int below)
{
	struct faults_fs *fs = FAULTS_FS(iter->iter.fs);
	struct faults_plan *plan = &iter->plan;
	const char *name = fs_errno_name(fs->err);
	unsigned long long keys = iter->keys;
	const char *prefix = iter->iter.prefix;

	if (plan->fired)
		return fs->err;
	plan->fired = true;
	fs->fs.stats.faults_injected++;
	if (plan->when == FAULTS_BEFORE)
		return fs_iter_set_error(&iter->iter, fs->err,
					 "faults: injected %s before listing "
					 "'%s'",
					 name, prefix);
	if (below <= 0)
		return fs_iter_set_error(&iter->iter, fs->err,
					 "faults: injected %s at the end of "
					 "listing '%s' after %llu keys "
					 "(below: %s)",
					 name, prefix, keys,
					 faults_below(below));
	return fs_iter_set_error(&iter->iter, fs->err,
				 "faults: injected %s in listing '%s' after "
				 "%llu keys",
				 name, prefix, keys);
}

static int faults_iter_next(struct fs_iter *_iter, const char **key_r)
{
	struct faults_iter *iter = FAULTS_ITER(_iter);
	struct faults_plan *plan = &iter->plan;
	int ret;

	if (!plan->active)
		faults_plan_new(FAULTS_FS(_iter->fs), FS_OP_ITER, plan);
	if (!plan->fail)
		return fs_passthrough_iter_next(_iter, key_r);
	if (plan->fired || iter->keys >= plan->offset)
		return faults_iter_fail(iter, 1);
	ret = fs_passthrough_iter_next(_iter, key_r);
	if (ret > 0)
		iter->keys++;
	if (ret > 0 || ret == -EAGAIN)
		return ret;
	*key_r = NULL;
	return faults_iter_fail(iter, ret);
}

const struct fs_driver fs_driver_faults = {
	.version = FS_DRIVER_VERSION,
	.name = "faults",
	.layer = true,
	.fs_size = sizeof(struct faults_fs),
	.file_size = sizeof(struct faults_file),
	.iter_size = sizeof(struct faults_iter),
	.v =
		{
			.init = faults_init,
			.get_caps = faults_get_caps,
			.file_init = fs_passthrough_file_init,
			.file_deinit = fs_passthrough_file_deinit,
			.read = faults_read,
			.write = faults_write,
			.write_finish = faults_write_finish,
			.write_abort = fs_passthrough_write_abort,
			.stat = faults_stat,
			.exists = faults_exists,
			.get_metadata = faults_get_metadata,
			.delete_file = faults_delete,
			.copy = faults_copy,
			.rename = faults_rename,
			.iter_init = fs_passthrough_iter_init,
			.iter_next = faults_iter_next,
			.iter_deinit = fs_passthrough_iter_deinit,
			.revalidate = faults_revalidate,
		},
};
