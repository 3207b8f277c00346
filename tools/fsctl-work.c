/*
 * fsctl: the mail-like workload behind bench and demo.
 *
 * One run: put every message (jobs in flight, asynchronously when jobs > 1),
 * rewrite and re-read an index file, list, read every message back and
 * compare it with what the generator produces again, then delete it all.
 * Each operation is timed here, from opening the file to its end, into the
 * same histogram the library uses, so fs_op_stats_percentile() applies to
 * blocking and asynchronous phases alike.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fsctl.h"

#define WORK_KEY_MAX (FS_KEY_MAX + 1)
#define WORK_INDEX_MAX (1024 * 1024)

static const char *const work_phase_names[FSCTL_PH_COUNT] = {
	[FSCTL_PH_PUT] = "put",
	[FSCTL_PH_INDEX_WRITE] = "index write",
	[FSCTL_PH_INDEX_READ] = "index read",
	[FSCTL_PH_LIST] = "list",
	[FSCTL_PH_GET] = "get+verify",
	[FSCTL_PH_DELETE] = "delete",
};

enum work_state {
	WORK_IDLE,
	WORK_WRITE,
	WORK_FINISH,
	WORK_READ,
	WORK_META,
};

struct work_slot {
	struct fsctl_slot slot;
	enum work_state state;
	struct fs_file *file;
	struct fsctl_mail mail;
	unsigned int uid;
	uint64_t start_usec, bytes;
	char *buf, *cmp; /* FSCTL_CHUNK_SIZE bytes each */
	size_t len, off;
};

struct work_engine {
	struct fsctl_work *work;
	enum fsctl_phase_id phase;
	bool metadata; /* put and check "flags" */
	unsigned int next_uid;
};

static void work_key(const struct fsctl_work *work, unsigned int uid, char *key)
{
	snprintf(key, WORK_KEY_MAX, "%s%u", work->msg_prefix, uid);
}

static void work_phase_begin(struct fsctl_work *work, enum fsctl_phase_id id,
			     uint64_t *start_r)
{
	work->phases[id].ran = true;
	*start_r = fsctl_now_usec();
}

static void work_phase_end(struct fsctl_work *work, enum fsctl_phase_id id,
			   uint64_t start)
{
	struct rusage ru;

	work->phases[id].wall_usec += fsctl_now_usec() - start;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		work->phases[id].rss_kib = ru.ru_maxrss;
}

/* Counts a failure of key in the current phase and prints it. */
static void work_fail(struct fsctl_work *work, enum fsctl_phase_id id,
		      const char *key, int err, const char *msg)
{
	fsctl_fail(work->cmd, key, err, msg);
	work->failures++;
	work->phases[id].st.errors++;
}

/* ------------------------------------------------------------------------ */
/* Puts and gets, jobs in flight                                              */

/* The slot's operation ended: count it and make the slot free again. */
static int work_slot_end(struct work_engine *eng, struct work_slot *s,
			 bool failed)
{
	struct fs_op_stats *st = &eng->work->phases[eng->phase].st;

	fsctl_stats_add(st, fsctl_now_usec() - s->start_usec, s->bytes, false);
	if (!failed && eng->phase == FSCTL_PH_GET)
		eng->work->verified++;
	if (!failed && eng->phase == FSCTL_PH_PUT)
		eng->work->written[s->uid] = 1;
	fs_file_deinit(&s->file);
	s->state = WORK_IDLE;
	return 1;
}

static int work_slot_fail(struct work_engine *eng, struct work_slot *s, int err,
			  const char *msg)
{
	char key[WORK_KEY_MAX];

	if (msg == NULL && s->file != NULL)
		msg = fs_file_last_error(s->file);
	work_key(eng->work, s->uid, key);
	work_fail(eng->work, eng->phase, key, err, msg);
	return work_slot_end(eng, s, true);
}

static int work_slot_mismatch(struct work_engine *eng, struct work_slot *s,
			      const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg),
		 "read back: %s (message of %llu bytes, near byte %llu)", what,
		 (unsigned long long)s->mail.size,
		 (unsigned long long)s->bytes);
	return work_slot_fail(eng, s, -EIO, msg);
}

static int work_open(struct work_engine *eng, struct work_slot *s)
{
	struct fsctl_work *work = eng->work;
	unsigned int mode =
		eng->phase == FSCTL_PH_PUT ? FS_OPEN_CREATE : FS_OPEN_READ;
	char key[WORK_KEY_MAX];
	int ret;

	if (work->jobs > 1)
		mode |= FS_OPEN_FLAG_ASYNC;
	work_key(work, s->uid, key);
	ret = fs_file_init(work->fs, key, mode, &s->file);
	if (ret < 0)
		return work_slot_fail(eng, s, ret, fs_last_error(work->fs));
	fs_file_set_callback(s->file, fsctl_slot_callback, &s->slot);
	if (eng->phase == FSCTL_PH_GET) {
		s->state = WORK_READ;
		return 1;
	}
	s->state = WORK_WRITE;
	if (eng->metadata) {
		ret = fs_file_set_metadata(
			s->file, "flags", fsctl_mail_flags(work->seed, s->uid));
		if (ret < 0)
			return work_slot_fail(eng, s, ret, NULL);
	}
	return 1;
}

static int work_start(struct work_engine *eng, struct work_slot *s)
{
	struct fsctl_work *work = eng->work;
	uint64_t size;

	/* Messages whose put failed were reported then: don't read them. */
	while (eng->phase == FSCTL_PH_GET && eng->next_uid <= work->messages &&
	       !work->written[eng->next_uid])
		eng->next_uid++;
	if (eng->next_uid > work->messages)
		return -1;
	s->uid = eng->next_uid++;
	s->start_usec = fsctl_now_usec();
	s->bytes = 0;
	s->len = s->off = 0;
	size = fsctl_mail_size(work->mix, work->seed, s->uid);
	fsctl_mail_init(&s->mail, work->seed, s->uid, size);
	return work_open(eng, s);
}

static int work_write(struct work_engine *eng, struct work_slot *s)
{
	ssize_t ret;

	if (s->off == s->len) {
		s->len = fsctl_mail_fill(&s->mail, s->buf, FSCTL_CHUNK_SIZE);
		s->off = 0;
		if (s->len == 0) {
			s->state = WORK_FINISH;
			return 1;
		}
	}
	ret = fs_write(s->file, s->buf + s->off, s->len - s->off);
	if (ret == -EAGAIN)
		return 0;
	if (ret <= 0)
		return work_slot_fail(eng, s, ret == 0 ? -EIO : (int)ret, NULL);
	s->off += (size_t)ret;
	s->bytes += (uint64_t)ret;
	return 1;
}

static int work_finish(struct work_engine *eng, struct work_slot *s)
{
	int ret;

	ret = fs_write_finish(s->file);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return work_slot_fail(eng, s, ret, NULL);
	return work_slot_end(eng, s, false);
}

static int work_read(struct work_engine *eng, struct work_slot *s)
{
	ssize_t ret;
	size_t n;

	ret = fs_read(s->file, s->buf, FSCTL_CHUNK_SIZE);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return work_slot_fail(eng, s, (int)ret, NULL);
	if (ret == 0) {
		if (fsctl_mail_fill(&s->mail, s->cmp, 1) != 0)
			return work_slot_mismatch(eng, s,
						  "shorter than written");
		if (!eng->metadata)
			return work_slot_end(eng, s, false);
		s->state = WORK_META;
		return 1;
	}
	n = fsctl_mail_fill(&s->mail, s->cmp, (size_t)ret);
	if (n != (size_t)ret)
		return work_slot_mismatch(eng, s, "longer than written");
	if (memcmp(s->buf, s->cmp, n) != 0)
		return work_slot_mismatch(eng, s, "content differs");
	s->bytes += n;
	return 1;
}

static int work_meta(struct work_engine *eng, struct work_slot *s)
{
	const char *value;
	int ret;

	ret = fs_file_get_metadata(s->file, "flags", &value);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return work_slot_fail(eng, s, ret, NULL);
	if (ret == 0)
		return work_slot_mismatch(eng, s, "\"flags\" metadata missing");
	if (strcmp(value, fsctl_mail_flags(eng->work->seed, s->uid)) != 0)
		return work_slot_mismatch(eng, s, "\"flags\" metadata differs");
	return work_slot_end(eng, s, false);
}

/* Returns 1 to go on, 0 while waiting for the storage, -1 when no work is
   left. */
static int work_step(struct work_engine *eng, struct work_slot *s)
{
	switch (s->state) {
	case WORK_IDLE:
		return work_start(eng, s);
	case WORK_WRITE:
		return work_write(eng, s);
	case WORK_FINISH:
		return work_finish(eng, s);
	case WORK_READ:
		return work_read(eng, s);
	case WORK_META:
		return work_meta(eng, s);
	}
	return -1;
}

static bool work_slot_run(struct fsctl_slot *slot, void *context)
{
	struct work_slot *s = FSCTL_CONTAINER_OF(slot, struct work_slot, slot);
	int ret;

	while ((ret = work_step(context, s)) > 0)
		;
	return ret == 0;
}

static void work_slots_free(struct work_slot *slots, unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		fs_file_deinit(&slots[i].file);
		free(slots[i].buf);
	}
	free(slots);
}

static struct work_slot *work_slots_alloc(unsigned int count,
					  struct fsctl_slot **ptrs)
{
	struct work_slot *slots = calloc(count, sizeof(*slots));
	unsigned int i;

	if (slots == NULL)
		return NULL;
	for (i = 0; i < count; i++) {
		slots[i].buf = malloc(2 * FSCTL_CHUNK_SIZE);
		if (slots[i].buf == NULL) {
			work_slots_free(slots, count);
			return NULL;
		}
		slots[i].cmp = slots[i].buf + FSCTL_CHUNK_SIZE;
		ptrs[i] = &slots[i].slot;
	}
	return slots;
}

/* Runs the put or get phase. Returns 0, or -errno if it could not run. */
static int work_transfer(struct fsctl_work *work, enum fsctl_phase_id phase)
{
	struct work_engine eng = {
		.work = work,
		.phase = phase,
		.metadata = work->metadata,
		.next_uid = 1,
	};
	struct fsctl_pool pool = {
		.fs_a = work->fs,
		.count = work->jobs,
		.run = work_slot_run,
		.context = &eng,
	};
	struct work_slot *slots;
	uint64_t start;
	int ret;

	pool.slots = calloc(work->jobs, sizeof(*pool.slots));
	slots = pool.slots == NULL ? NULL
				   : work_slots_alloc(work->jobs, pool.slots);
	if (slots == NULL) {
		free(pool.slots);
		fsctl_fail(work->cmd, work_phase_names[phase], -ENOMEM, NULL);
		return -ENOMEM;
	}
	work_phase_begin(work, phase, &start);
	ret = fsctl_pool_run(&pool, work->cmd);
	work_phase_end(work, phase, start);
	work_slots_free(slots, work->jobs);
	free(pool.slots);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* The index file                                                             */

static void work_index_write(struct fsctl_work *work, const char *data,
			     size_t size)
{
	struct fs_op_stats *st = &work->phases[FSCTL_PH_INDEX_WRITE].st;
	uint64_t start = fsctl_now_usec();
	struct fs_file *file;
	int ret;

	ret = fs_file_init(work->fs, work->index_key, FS_OPEN_REPLACE, &file);
	if (ret < 0) {
		work_fail(work, FSCTL_PH_INDEX_WRITE, work->index_key, ret,
			  fs_last_error(work->fs));
		return;
	}
	ret = fs_write_all(file, data, size);
	if (ret < 0)
		work_fail(work, FSCTL_PH_INDEX_WRITE, work->index_key, ret,
			  fs_file_last_error(file));
	else
		work->index_written = true;
	fs_file_deinit(&file);
	fsctl_stats_add(st, fsctl_now_usec() - start, size, false);
}

static void work_index_read(struct fsctl_work *work, const char *expect,
			    size_t size)
{
	struct fs_op_stats *st = &work->phases[FSCTL_PH_INDEX_READ].st;
	uint64_t start = fsctl_now_usec();
	struct fs_file *file;
	void *data = NULL;
	size_t len = 0;
	int ret;

	ret = fs_file_init(work->fs, work->index_key, FS_OPEN_READ, &file);
	if (ret < 0) {
		work_fail(work, FSCTL_PH_INDEX_READ, work->index_key, ret,
			  fs_last_error(work->fs));
		return;
	}
	ret = fs_read_all(file, &data, &len);
	if (ret < 0)
		work_fail(work, FSCTL_PH_INDEX_READ, work->index_key, ret,
			  fs_file_last_error(file));
	else if (len != size || memcmp(data, expect, size) != 0)
		work_fail(work, FSCTL_PH_INDEX_READ, work->index_key, -EIO,
			  "read back: not the version just written");
	fs_file_deinit(&file);
	fsctl_stats_add(st, fsctl_now_usec() - start, len, false);
	free(data);
}

static int work_index(struct fsctl_work *work)
{
	size_t size = 16384 + 64 * (size_t)work->messages;
	uint64_t start;
	unsigned int round;
	char *buf;

	/* A header and 64 bytes per message, as a mail index grows, but
	   capped so that memory stays bounded with many messages. */
	if (size > WORK_INDEX_MAX)
		size = WORK_INDEX_MAX;
	buf = malloc(size);
	if (buf == NULL)
		return -ENOMEM;
	for (round = 0; round < work->index_rounds; round++) {
		fsctl_index_fill(buf, size, work->seed, round);
		work_phase_begin(work, FSCTL_PH_INDEX_WRITE, &start);
		work_index_write(work, buf, size);
		work_phase_end(work, FSCTL_PH_INDEX_WRITE, start);
		work_phase_begin(work, FSCTL_PH_INDEX_READ, &start);
		work_index_read(work, buf, size);
		work_phase_end(work, FSCTL_PH_INDEX_READ, start);
	}
	free(buf);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Listing                                                                    */

struct work_list {
	uint8_t *seen; /* per uid */
	bool index_seen;
	char prev[WORK_KEY_MAX];
};

/* Returns the uid a key of ours names, or 0. */
static unsigned int work_key_uid(const struct fsctl_work *work, const char *key)
{
	size_t len = strlen(work->msg_prefix);
	uint64_t uid;

	if (strncmp(key, work->msg_prefix, len) != 0 ||
	    fsctl_parse_uint(key + len, 1, work->messages, &uid) < 0)
		return 0;
	return (unsigned int)uid;
}

static void work_list_key(struct fsctl_work *work, struct work_list *list,
			  const char *key)
{
	unsigned int uid = work_key_uid(work, key);

	if (strcmp(key, list->prev) <= 0 && list->prev[0] != '\0')
		work_fail(work, FSCTL_PH_LIST, key, -EIO,
			  "listing is not in ascending byte order");
	snprintf(list->prev, sizeof(list->prev), "%s", key);
	if (strcmp(key, work->index_key) == 0 && work->index_written)
		list->index_seen = true;
	else if (uid != 0 && work->written[uid] && !list->seen[uid])
		list->seen[uid] = 1;
	else
		work_fail(work, FSCTL_PH_LIST, key, -EIO,
			  "listed, but not written (or listed twice)");
}

static void work_list_missing(struct fsctl_work *work, struct work_list *list)
{
	char key[WORK_KEY_MAX];
	unsigned int uid;

	for (uid = 1; uid <= work->messages; uid++) {
		if (work->written[uid] && !list->seen[uid]) {
			work_key(work, uid, key);
			work_fail(work, FSCTL_PH_LIST, key, -ENOENT,
				  "written, but missing from the listing");
		}
	}
	if (work->index_written && !list->index_seen)
		work_fail(work, FSCTL_PH_LIST, work->index_key, -ENOENT,
			  "written, but missing from the listing");
}

static void work_list_run(struct fsctl_work *work, struct work_list *list)
{
	struct fs_op_stats *st = &work->phases[FSCTL_PH_LIST].st;
	uint64_t start = fsctl_now_usec();
	struct fs_iter *iter;
	const char *key;
	int ret;

	ret = fs_iter_init(work->fs, work->list_prefix, 0, &iter);
	if (ret == -ENOTSUP) {
		work->phases[FSCTL_PH_LIST].note = "skipped: cannot list";
		return;
	}
	if (ret < 0) {
		work_fail(work, FSCTL_PH_LIST, work->list_prefix, ret,
			  fs_last_error(work->fs));
		return;
	}
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		fsctl_stats_add(st, fsctl_now_usec() - start, 0, false);
		work_list_key(work, list, key);
		start = fsctl_now_usec();
	}
	if (ret < 0)
		work_fail(work, FSCTL_PH_LIST, work->list_prefix, ret,
			  fs_iter_last_error(iter));
	fs_iter_deinit(&iter);
	if (ret == 0)
		work_list_missing(work, list);
}

static int work_list(struct fsctl_work *work)
{
	struct work_list list = {.index_seen = false};
	uint64_t start;

	list.seen = calloc((size_t)work->messages + 1, 1);
	if (list.seen == NULL)
		return -ENOMEM;
	work_phase_begin(work, FSCTL_PH_LIST, &start);
	work_list_run(work, &list);
	work_phase_end(work, FSCTL_PH_LIST, start);
	free(list.seen);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Deleting                                                                   */

static void work_delete_key(struct fsctl_work *work, const char *key)
{
	struct fs_op_stats *st = &work->phases[FSCTL_PH_DELETE].st;
	uint64_t start = fsctl_now_usec();
	struct fs_file *file;
	int ret;

	ret = fs_file_init(work->fs, key, FS_OPEN_READ, &file);
	if (ret < 0) {
		work_fail(work, FSCTL_PH_DELETE, key, ret,
			  fs_last_error(work->fs));
		return;
	}
	ret = fs_file_delete(file);
	if (ret < 0)
		work_fail(work, FSCTL_PH_DELETE, key, ret,
			  fs_file_last_error(file));
	fs_file_deinit(&file);
	fsctl_stats_add(st, fsctl_now_usec() - start, 0, false);
}

/* Deletes everything this run wrote. */
static void work_delete(struct fsctl_work *work)
{
	char key[WORK_KEY_MAX];
	unsigned int uid;
	uint64_t start;

	work_phase_begin(work, FSCTL_PH_DELETE, &start);
	for (uid = 1; uid <= work->messages; uid++) {
		if (work->written[uid]) {
			work_key(work, uid, key);
			work_delete_key(work, key);
		}
	}
	if (work->index_written)
		work_delete_key(work, work->index_key);
	work_phase_end(work, FSCTL_PH_DELETE, start);
}

/* ------------------------------------------------------------------------ */
/* One run and its report                                                     */

int fsctl_work_run(struct fsctl_work *work)
{
	int ret;

	work->written = calloc((size_t)work->messages + 1, 1);
	if (work->written == NULL) {
		fsctl_fail(work->cmd, "workload", -ENOMEM, NULL);
		return -ENOMEM;
	}
	work->index_written = false;
	work->expected += work->messages;
	ret = work_transfer(work, FSCTL_PH_PUT);
	if (ret == 0)
		ret = work_index(work);
	if (ret == 0)
		ret = work_list(work);
	if (ret == -ENOMEM)
		fsctl_fail(work->cmd, "workload", ret, NULL);
	if (ret == 0)
		ret = work_transfer(work, FSCTL_PH_GET);
	if (ret < 0)
		work->failures++;
	/* What was written goes away even after a failure. */
	if (!work->keep)
		work_delete(work);
	free(work->written);
	work->written = NULL;
	return ret;
}

static void work_print_header(FILE *out, bool rss)
{
	fprintf(out, "%-12s %8s %11s %10s %9s %9s %9s", "phase", "ops", "bytes",
		"ops/s", "MB/s", "p50", "p99");
	if (rss)
		fprintf(out, " %10s", "peak RSS");
	fputc('\n', out);
}

/* Formats a rate: one decimal below 100, none above. */
static const char *work_fmt_rate(double rate, char *buf, size_t size)
{
	snprintf(buf, size, rate < 100 ? "%.1f" : "%.0f", rate);
	return buf;
}

static void work_print_latency(FILE *out, const struct fs_op_stats *st,
			       double q)
{
	char buf[32];

	fputc(' ', out);
	fsctl_put_padded(
		out,
		fsctl_fmt_usec(fs_op_stats_percentile(st, q), buf, sizeof(buf)),
		9, false);
}

static void work_print_phase(FILE *out, const struct fsctl_phase *ph,
			     const char *name, bool rss)
{
	double secs = (double)ph->wall_usec / 1e6;
	char bytes[32], ops_rate[32], mb_rate[32];

	fprintf(out, "%-12s ", name);
	if (ph->note != NULL) {
		fprintf(out, "%s\n", ph->note);
		return;
	}
	if (ph->st.bytes == 0 || secs <= 0)
		snprintf(mb_rate, sizeof(mb_rate), "-");
	else
		work_fmt_rate((double)ph->st.bytes / 1e6 / secs, mb_rate,
			      sizeof(mb_rate));
	fprintf(out, "%8llu %11s %10s %9s", (unsigned long long)ph->st.count,
		fsctl_fmt_bytes(ph->st.bytes, bytes, sizeof(bytes)),
		work_fmt_rate(secs > 0 ? (double)ph->st.count / secs : 0,
			      ops_rate, sizeof(ops_rate)),
		mb_rate);
	work_print_latency(out, &ph->st, 0.5);
	work_print_latency(out, &ph->st, 0.99);
	if (rss)
		fprintf(out, " %10s",
			fsctl_fmt_bytes((uint64_t)ph->rss_kib * 1024, bytes,
					sizeof(bytes)));
	fputc('\n', out);
}

void fsctl_work_print(const struct fsctl_work *work, FILE *out, bool rss)
{
	unsigned int i;

	work_print_header(out, rss);
	for (i = 0; i < FSCTL_PH_COUNT; i++) {
		if (work->phases[i].ran)
			work_print_phase(out, &work->phases[i],
					 work_phase_names[i], rss);
	}
}
