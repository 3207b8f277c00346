/*
 * Per-layer operation statistics, and the names of operations and errnos.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fs-private.h"

uint64_t fs_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

unsigned int fs_latency_bucket(uint64_t usecs)
{
	unsigned int i;

	for (i = 0; i < FS_LATENCY_BUCKETS - 1; i++) {
		if (usecs < ((uint64_t)1 << i))
			return i;
	}
	return FS_LATENCY_BUCKETS - 1;
}

void fs_stats_record(struct fs *fs, enum fs_op op, uint64_t start_usec,
		     uint64_t bytes, int result)
{
	struct fs_op_stats *st;
	uint64_t now = fs_now_usec();
	uint64_t usecs = now > start_usec ? now - start_usec : 0;

	if ((unsigned int)op >= FS_OP_COUNT)
		return;
	st = &fs->stats.ops[op];
	st->count++;
	/* a missing or existing key is an answer, not a failure */
	if (result < 0 && result != -ENOENT && result != -EEXIST)
		st->errors++;
	st->bytes += bytes;
	st->usecs += usecs;
	st->latency[fs_latency_bucket(usecs)]++;
}

void fs_stats_add_retry(struct fs *fs, enum fs_op op)
{
	if ((unsigned int)op < FS_OP_COUNT)
		fs->stats.ops[op].retries++;
}

int fs_stats_get(struct fs *fs, unsigned int depth, struct fs_stats *stats_r)
{
	for (; fs != NULL && depth > 0; depth--)
		fs = fs->parent;
	if (fs == NULL)
		return -ENOENT;
	*stats_r = fs->stats;
	return 0;
}

void fs_stats_reset(struct fs *fs)
{
	uint64_t held;

	/* cache_bytes is a gauge (bytes held now), not a counter: it stays */
	for (; fs != NULL; fs = fs->parent) {
		held = fs->stats.cache_bytes;
		memset(&fs->stats, 0, sizeof(fs->stats));
		fs->stats.cache_bytes = held;
	}
}

uint64_t fs_op_stats_percentile(const struct fs_op_stats *st, double q)
{
	uint64_t total = 0, rank, sum = 0;
	unsigned int i;
	double exact;

	for (i = 0; i < FS_LATENCY_BUCKETS; i++)
		total += st->latency[i];
	if (total == 0)
		return 0;
	if (!(q > 0))
		q = 0;
	if (q > 1)
		q = 1;
	/* ceil() without libm */
	exact = q * (double)total;
	rank = (uint64_t)exact;
	if ((double)rank < exact)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > total)
		rank = total;
	for (i = 0; i < FS_LATENCY_BUCKETS; i++) {
		sum += st->latency[i];
		if (sum >= rank)
			break;
	}
	if (i >= FS_LATENCY_BUCKETS)
		i = FS_LATENCY_BUCKETS - 1;
	return (uint64_t)1 << i;
}

const char *fs_op_name(enum fs_op op)
{
	static const char *const names[FS_OP_COUNT] = {
		[FS_OP_READ] = "read",
		[FS_OP_WRITE] = "write",
		[FS_OP_STAT] = "stat",
		[FS_OP_EXISTS] = "exists",
		[FS_OP_METADATA] = "metadata",
		[FS_OP_DELETE] = "delete",
		[FS_OP_COPY] = "copy",
		[FS_OP_RENAME] = "rename",
		[FS_OP_ITER] = "iter",
		[FS_OP_REVALIDATE] = "revalidate",
	};

	if ((unsigned int)op >= FS_OP_COUNT)
		return "?";
	return names[op];
}

#define ERRNO_NAME(e)                                                          \
	{                                                                      \
		e, #e                                                          \
	}

static const struct {
	int err;
	const char *name;
} errno_names[] = {
	ERRNO_NAME(EPERM),
	ERRNO_NAME(ENOENT),
	ERRNO_NAME(ESRCH),
	ERRNO_NAME(EINTR),
	ERRNO_NAME(EIO),
	ERRNO_NAME(ENXIO),
	ERRNO_NAME(E2BIG),
	ERRNO_NAME(ENOEXEC),
	ERRNO_NAME(EBADF),
	ERRNO_NAME(ECHILD),
	ERRNO_NAME(EAGAIN),
	ERRNO_NAME(ENOMEM),
	ERRNO_NAME(EACCES),
	ERRNO_NAME(EFAULT),
	ERRNO_NAME(EBUSY),
	ERRNO_NAME(EEXIST),
	ERRNO_NAME(EXDEV),
	ERRNO_NAME(ENODEV),
	ERRNO_NAME(ENOTDIR),
	ERRNO_NAME(EISDIR),
	ERRNO_NAME(EINVAL),
	ERRNO_NAME(ENFILE),
	ERRNO_NAME(EMFILE),
	ERRNO_NAME(ENOTTY),
	ERRNO_NAME(ETXTBSY),
	ERRNO_NAME(EFBIG),
	ERRNO_NAME(ENOSPC),
	ERRNO_NAME(ESPIPE),
	ERRNO_NAME(EROFS),
	ERRNO_NAME(EMLINK),
	ERRNO_NAME(EPIPE),
	ERRNO_NAME(EDOM),
	ERRNO_NAME(ERANGE),
	ERRNO_NAME(EDEADLK),
	ERRNO_NAME(ENAMETOOLONG),
	ERRNO_NAME(ENOLCK),
	ERRNO_NAME(ENOSYS),
	ERRNO_NAME(ENOTEMPTY),
	ERRNO_NAME(ELOOP),
	ERRNO_NAME(ENOMSG),
	ERRNO_NAME(EIDRM),
	ERRNO_NAME(ENOSTR),
	ERRNO_NAME(ENODATA),
	ERRNO_NAME(ETIME),
	ERRNO_NAME(ENOSR),
	ERRNO_NAME(ENOLINK),
	ERRNO_NAME(EPROTO),
	ERRNO_NAME(EBADMSG),
	ERRNO_NAME(EOVERFLOW),
	ERRNO_NAME(EILSEQ),
	ERRNO_NAME(ENOTSOCK),
	ERRNO_NAME(EDESTADDRREQ),
	ERRNO_NAME(EMSGSIZE),
	ERRNO_NAME(EPROTOTYPE),
	ERRNO_NAME(ENOPROTOOPT),
	ERRNO_NAME(EPROTONOSUPPORT),
	ERRNO_NAME(ENOTSUP),
	ERRNO_NAME(EAFNOSUPPORT),
	ERRNO_NAME(EADDRINUSE),
	ERRNO_NAME(EADDRNOTAVAIL),
	ERRNO_NAME(ENETDOWN),
	ERRNO_NAME(ENETUNREACH),
	ERRNO_NAME(ENETRESET),
	ERRNO_NAME(ECONNABORTED),
	ERRNO_NAME(ECONNRESET),
	ERRNO_NAME(ENOBUFS),
	ERRNO_NAME(EISCONN),
	ERRNO_NAME(ENOTCONN),
	ERRNO_NAME(ETIMEDOUT),
	ERRNO_NAME(ECONNREFUSED),
	ERRNO_NAME(EHOSTDOWN),
	ERRNO_NAME(EHOSTUNREACH),
	ERRNO_NAME(EALREADY),
	ERRNO_NAME(EINPROGRESS),
	ERRNO_NAME(ESTALE),
	ERRNO_NAME(EDQUOT),
	ERRNO_NAME(ECANCELED),
	ERRNO_NAME(EOWNERDEAD),
	ERRNO_NAME(ENOTRECOVERABLE),
};

const char *fs_errno_name(int err)
{
	size_t i;

	if (err < 0)
		err = -err;
	/* first match wins: EAGAIN before EWOULDBLOCK, ENOTSUP before
	   EOPNOTSUPP where they are the same number */
	for (i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
		if (errno_names[i].err == err)
			return errno_names[i].name;
	}
	return "E?";
}
