/*
 * fs-bench-mail: the workload. Keys, sizes and every byte are functions of
 * (work, operation), so a GET is verified against what the PUT of the same
 * seed wrote without keeping a copy, and a child, its parent and a verifier
 * agree on them without talking. The peers (peer-*.c) see the workload
 * through its phase class (mail_phase_class, at the end).
 *
 * Layout under the work's prefix:
 *   box07/msg000123     message 123 (of mailbox 123 % boxes)
 *   idx/box07.index     mailbox 7's index file, rewritten every round
 * or with work->flat, '-' instead of every '/' (s3rver 3.7.1 keeps keys as
 * files and removes emptied directories after a delete without a lock:
 * concurrent deletes in one directory then fail with 500 there).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-mail.h"

#define KIB 1024ull
#define MIB (1024ull * 1024ull)

/* Message sizes: most 2-64 KiB, some attachments, a tail to 5 MiB (mean
   about 100 KiB before any cut). */
static const struct {
	unsigned int percent;
	uint64_t min, max;
} mail_mix[] = {
	{60, 2 * KIB, 16 * KIB},
	{28, 16 * KIB, 64 * KIB},
	{10, 64 * KIB, 512 * KIB},
	{2, 512 * KIB, 5 * MIB},
};

static const char *const mail_op_names[MAIL_OP_COUNT] = {
	[MAIL_PUT] = "PUT",	   [MAIL_GET] = "GET",
	[MAIL_IDX_PUT] = "IDXPUT", [MAIL_IDX_GET] = "IDXGET",
	[MAIL_LIST] = "LIST",	   [MAIL_DELETE] = "DELETE",
};

const char *mail_op_name(enum mail_op op)
{
	return op < MAIL_OP_COUNT ? mail_op_names[op] : "?";
}

int mail_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(buf, size, fmt, args);
	va_end(args);
	return n >= 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* Word k of stream seed (splitmix64 is counter based: random access). */
static uint64_t mail_word(uint64_t seed, uint64_t k)
{
	return bench_mix64(seed + (k + 1) * BENCH_GOLDEN);
}

uint64_t mail_message_seed(const struct mail_work *work, unsigned int uid)
{
	return bench_mix64(work->seed ^ ((uint64_t)uid * BENCH_GOLDEN) ^
			   0x6d61);
}

uint64_t mail_index_seed(const struct mail_work *work, unsigned int box,
			 unsigned int round)
{
	return bench_mix64(work->seed ^ ((uint64_t)box << 32 | round) ^
			   0x1d8e4e27c47d124full);
}

/* Applies fn to bytes [offset, offset + len) of the stream, one word (or
   the part of it in the range) at a time. */
static bool mail_stream_walk(uint64_t seed, uint64_t offset, unsigned char *buf,
			     size_t len, bool fill)
{
	uint64_t k = offset / 8, word;
	size_t skip = (size_t)(offset % 8), n;
	unsigned char bytes[8];

	while (len > 0) {
		word = mail_word(seed, k++);
		memcpy(bytes, &word, sizeof(bytes));
		n = 8 - skip;
		if (n > len)
			n = len;
		if (fill)
			memcpy(buf, bytes + skip, n);
		else if (memcmp(buf, bytes + skip, n) != 0)
			return false;
		buf += n;
		len -= n;
		skip = 0;
	}
	return true;
}

void mail_stream_fill(uint64_t seed, uint64_t offset, void *buf, size_t len)
{
	mail_stream_walk(seed, offset, buf, len, true);
}

bool mail_stream_check(uint64_t seed, uint64_t offset, const void *buf,
		       size_t len)
{
	return mail_stream_walk(seed, offset, (unsigned char *)(uintptr_t)buf,
				len, false);
}

size_t mail_message_size(const struct mail_work *work, unsigned int uid)
{
	uint64_t rng =
		bench_mix64(work->size_seed ^ ((uint64_t)uid << 20) ^ 0x51a3);
	unsigned int pick = (unsigned int)(rng % 100), sum = 0;
	size_t i, n = sizeof(mail_mix) / sizeof(mail_mix[0]);
	uint64_t size;

	for (i = 0; i + 1 < n; i++) {
		sum += mail_mix[i].percent;
		if (pick < sum)
			break;
	}
	rng = bench_mix64(rng);
	size = mail_mix[i].min + rng % (mail_mix[i].max - mail_mix[i].min + 1);
	if (work->max_size > 0 && size > work->max_size)
		size = work->max_size;
	return (size_t)size;
}

unsigned int mail_op_count(const struct mail_work *work, enum mail_op op)
{
	switch (op) {
	case MAIL_PUT:
	case MAIL_GET:
		return work->mails;
	case MAIL_IDX_PUT:
	case MAIL_IDX_GET:
		return work->index_rounds > 0 ? work->boxes : 0;
	case MAIL_LIST:
		return work->lists;
	case MAIL_DELETE:
		return work->mails + (work->index_rounds > 0 ? work->boxes : 0);
	default:
		return 0;
	}
}

static char mail_sep(const struct mail_work *work)
{
	return work->flat ? '-' : '/';
}

void mail_message_name(const struct mail_work *work, unsigned int uid,
		       char *name_r, size_t size)
{
	snprintf(name_r, size, "box%02u%cmsg%06u", uid % work->boxes,
		 mail_sep(work), uid);
}

static void mail_join(const struct mail_work *work, const char *name,
		      char key_r[BENCH_KEY_MAX])
{
	if (work->prefix[0] == '\0')
		snprintf(key_r, BENCH_KEY_MAX, "%s", name);
	else
		snprintf(key_r, BENCH_KEY_MAX, "%s%c%s", work->prefix,
			 mail_sep(work), name);
}

void mail_key(const struct mail_phase *ph, unsigned int i,
	      char key_r[BENCH_KEY_MAX])
{
	const struct mail_work *w = ph->work;
	char name[64];

	switch (ph->op) {
	case MAIL_IDX_PUT:
	case MAIL_IDX_GET:
		snprintf(name, sizeof(name), "idx%cbox%02u.index", mail_sep(w),
			 i);
		break;
	case MAIL_LIST:
		snprintf(name, sizeof(name), "box%02u%c", i % w->boxes,
			 mail_sep(w));
		break;
	case MAIL_DELETE:
		if (i >= w->mails) {
			snprintf(name, sizeof(name), "idx%cbox%02u.index",
				 mail_sep(w), i - w->mails);
			break;
		}
		/* fall through */
	default:
		mail_message_name(w, i, name, sizeof(name));
		break;
	}
	mail_join(w, name, key_r);
}

size_t mail_op_size(const struct mail_phase *ph, unsigned int i)
{
	switch (ph->op) {
	case MAIL_PUT:
	case MAIL_GET:
		return mail_message_size(ph->work, i);
	case MAIL_IDX_PUT:
	case MAIL_IDX_GET:
		return ph->work->index_size;
	default:
		return 0;
	}
}

static int mail_read_file(const char *path, void *buf, size_t size)
{
	size_t off = 0;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off < size) {
		n = read(fd, (char *)buf + off, size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	return err;
}

int mail_fill(const struct mail_phase *ph, unsigned int i, void *buf)
{
	const struct mail_work *w = ph->work;
	char path[MAIL_PATH_MAX], name[64];

	if (ph->op == MAIL_IDX_PUT) {
		mail_stream_fill(mail_index_seed(w, i, ph->round), 0, buf,
				 w->index_size);
		return 0;
	}
	if (w->source_dir == NULL) {
		mail_stream_fill(mail_message_seed(w, i), 0, buf,
				 mail_message_size(w, i));
		return 0;
	}
	mail_message_name(w, i, name, sizeof(name));
	if (mail_format(path, sizeof(path), "%s/%s", w->source_dir, name) < 0)
		return -ENAMETOOLONG;
	return mail_read_file(path, buf, mail_message_size(w, i));
}

unsigned int mail_list_expect(const struct mail_phase *ph, unsigned int i)
{
	const struct mail_work *w = ph->work;
	unsigned int box = i % w->boxes;

	return w->mails / w->boxes + (box < w->mails % w->boxes ? 1 : 0);
}

static const struct mail_phase *mail_phase_of(const struct bench_phase *ph)
{
	return BENCH_CONTAINER_OF(ph, const struct mail_phase, base);
}

static void mail_class_key(const struct bench_phase *ph, unsigned int i,
			   char key_r[BENCH_KEY_MAX])
{
	mail_key(mail_phase_of(ph), i, key_r);
}

static size_t mail_class_size(const struct bench_phase *ph, unsigned int i)
{
	return mail_op_size(mail_phase_of(ph), i);
}

static int mail_class_fill(const struct bench_phase *ph, unsigned int i,
			   void *buf)
{
	return mail_fill(mail_phase_of(ph), i, buf);
}

static bool mail_class_verify(const struct bench_phase *ph, unsigned int i,
			      const void *data, size_t size)
{
	const struct mail_phase *mp = mail_phase_of(ph);
	uint64_t seed;

	if (size != mail_op_size(mp, i))
		return false;
	if (mp->op == MAIL_IDX_GET)
		seed = mail_index_seed(mp->work, i, mp->round);
	else
		seed = mail_message_seed(mp->work, i);
	return mail_stream_check(seed, 0, data, size);
}

static unsigned int mail_class_list_expect(const struct bench_phase *ph,
					   unsigned int i)
{
	return mail_list_expect(mail_phase_of(ph), i);
}

static const struct bench_phase_class mail_phase_class = {
	.key = mail_class_key,
	.size = mail_class_size,
	.fill = mail_class_fill,
	.verify = mail_class_verify,
	.list_expect = mail_class_list_expect,
	.keep_buffer_max = MAIL_KEEP_BUFFER_MAX,
	.time_file_free = false,
};

static enum bench_verb mail_verb(enum mail_op op)
{
	switch (op) {
	case MAIL_PUT:
	case MAIL_IDX_PUT:
		return BENCH_VERB_PUT;
	case MAIL_LIST:
		return BENCH_VERB_LIST;
	case MAIL_DELETE:
		return BENCH_VERB_DELETE;
	default:
		return BENCH_VERB_GET;
	}
}

int mail_phase_init(struct mail_phase *ph, const struct mail_work *work,
		    enum mail_op op, unsigned int round, unsigned int depth)
{
	ph->op = op;
	ph->work = work;
	ph->round = round;
	return bench_phase_init(&ph->base, &mail_phase_class, mail_verb(op),
				mail_op_name(op), mail_op_count(work, op),
				depth);
}
