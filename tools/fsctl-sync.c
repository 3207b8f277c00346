/*
 * fsctl: sync, copying every key of one storage to another.
 *
 * The source is listed first (the total is needed for the progress bar, and
 * --delete needs the set). Then each of N slots copies one key at a time with
 * a small state machine over asynchronous files, so that N copies are in
 * flight:
 *
 *	IDLE -> [META] -> READ <-> WRITE -> FINISH -> IDLE
 *
 * and with --verify, after FINISH, both sides are opened again and compared:
 *
 *	VOPEN -> [VMETA_SRC -> VMETA_DST] -> VREAD_SRC <-> VREAD_DST -> VEOF
 *
 * Each slot owns one FSCTL_CHUNK_SIZE buffer (split in two halves when
 * verifying), so memory stays at N chunks plus the key list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsctl.h"

#define SYNC_DEFAULT_JOBS 4
#define SYNC_PROGRESS_USEC 100000
#define SYNC_BAR_WIDTH 30

enum sync_state {
	SYNC_IDLE,
	SYNC_META,
	SYNC_READ,
	SYNC_WRITE,
	SYNC_FINISH,
	SYNC_VOPEN,
	SYNC_VMETA_SRC,
	SYNC_VMETA_DST,
	SYNC_VREAD_SRC,
	SYNC_VREAD_DST,
	SYNC_VEOF,
};

struct sync_slot {
	struct fsctl_slot slot;
	enum sync_state state;
	const char *key;
	struct fs_file *src, *dst;
	char *buf;
	/* Copying: buf[off..len) is still to be written. Verifying: len bytes
	   of the source are in the first half, off bytes of the destination
	   in the second. */
	size_t len, off;
	bool src_eof;
	const struct fs_metadata *src_md;
	int src_md_count;
};

struct sync_keys {
	char **keys;
	size_t count, alloc;
};

struct sync_run {
	const char *cmd;
	struct fs *src, *dst;
	struct sync_keys list;
	size_t next;
	unsigned int jobs;
	bool verify, metadata;
	uint64_t bytes, done, failures, verified;
	/* The progress bar, drawn only on a terminal. */
	bool tty, drawn;
	uint64_t start_usec, drawn_usec;
};

/* ------------------------------------------------------------------------ */
/* Progress and failures                                                      */

static void sync_progress_clear(struct sync_run *run)
{
	if (run->drawn)
		fputs("\r\033[K", stderr);
	run->drawn = false;
}

/* Redraws the bar, at most every SYNC_PROGRESS_USEC. */
static void sync_progress(struct sync_run *run)
{
	uint64_t now = fsctl_now_usec(), usec = now - run->start_usec;
	size_t total = run->list.count;
	int filled = total == 0 ? SYNC_BAR_WIDTH
				: (int)(run->done * SYNC_BAR_WIDTH / total);
	char bytes[32];

	if (!run->tty || now - run->drawn_usec < SYNC_PROGRESS_USEC)
		return;
	run->drawn_usec = now;
	run->drawn = true;
	fprintf(stderr, "\r[%.*s%*s] %llu/%zu keys  %s  %.1f MB/s\033[K",
		filled, "##############################", /* SYNC_BAR_WIDTH */
		SYNC_BAR_WIDTH - filled, "", (unsigned long long)run->done,
		total, fsctl_fmt_bytes(run->bytes, bytes, sizeof(bytes)),
		usec > 0 ? (double)run->bytes / (double)usec : 0.0);
	fflush(stderr);
}

static void sync_tick(void *context)
{
	sync_progress(context);
}

/* The key is done (well or not): free the slot for the next one. */
static int sync_key_end(struct sync_run *run, struct sync_slot *s)
{
	fs_file_deinit(&s->src);
	fs_file_deinit(&s->dst);
	s->state = SYNC_IDLE;
	run->done++;
	sync_progress(run);
	return 1;
}

static int sync_key_fail(struct sync_run *run, struct sync_slot *s, int err,
			 const char *msg)
{
	sync_progress_clear(run);
	fsctl_fail(run->cmd, s->key, err, msg);
	run->failures++;
	return sync_key_end(run, s);
}

static int sync_file_fail(struct sync_run *run, struct sync_slot *s,
			  struct fs_file *file, int err)
{
	return sync_key_fail(run, s, err, fs_file_last_error(file));
}

static int sync_mismatch(struct sync_run *run, struct sync_slot *s,
			 const char *what)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "verify: %s", what);
	return sync_key_fail(run, s, -EIO, msg);
}

/* ------------------------------------------------------------------------ */
/* Copying one key                                                            */

/* Opens both sides of s->key; a failure ends the key. Returns 1 (go on). */
static int sync_open(struct sync_run *run, struct sync_slot *s,
		     unsigned int dst_mode)
{
	int ret;

	ret = fs_file_init(run->src, s->key, FS_OPEN_READ | FS_OPEN_FLAG_ASYNC,
			   &s->src);
	if (ret < 0)
		return sync_key_fail(run, s, ret, fs_last_error(run->src));
	ret = fs_file_init(run->dst, s->key, dst_mode | FS_OPEN_FLAG_ASYNC,
			   &s->dst);
	if (ret < 0)
		return sync_key_fail(run, s, ret, fs_last_error(run->dst));
	fs_file_set_callback(s->src, fsctl_slot_callback, &s->slot);
	fs_file_set_callback(s->dst, fsctl_slot_callback, &s->slot);
	return 1;
}

static int sync_start(struct sync_run *run, struct sync_slot *s)
{
	if (run->next >= run->list.count)
		return -1;
	s->key = run->list.keys[run->next++];
	s->len = s->off = 0;
	s->state = run->metadata ? SYNC_META : SYNC_READ;
	return sync_open(run, s, FS_OPEN_REPLACE);
}

static int sync_meta(struct sync_run *run, struct sync_slot *s)
{
	const struct fs_metadata *md;
	int i, count, ret;

	count = fs_file_get_metadata_all(s->src, &md);
	if (count == -EAGAIN)
		return 0;
	if (count < 0)
		return sync_file_fail(run, s, s->src, count);
	for (i = 0; i < count; i++) {
		ret = fs_file_set_metadata(s->dst, md[i].name, md[i].value);
		if (ret < 0)
			return sync_file_fail(run, s, s->dst, ret);
	}
	s->state = SYNC_READ;
	return 1;
}

static int sync_read(struct sync_run *run, struct sync_slot *s)
{
	ssize_t ret;

	ret = fs_read(s->src, s->buf, FSCTL_CHUNK_SIZE);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return sync_file_fail(run, s, s->src, (int)ret);
	s->len = (size_t)ret;
	s->off = 0;
	s->state = ret == 0 ? SYNC_FINISH : SYNC_WRITE;
	return 1;
}

static int sync_write(struct sync_run *run, struct sync_slot *s)
{
	ssize_t ret;

	ret = fs_write(s->dst, s->buf + s->off, s->len - s->off);
	if (ret == -EAGAIN)
		return 0;
	if (ret <= 0)
		return sync_file_fail(run, s, s->dst,
				      ret == 0 ? -EIO : (int)ret);
	s->off += (size_t)ret;
	run->bytes += (uint64_t)ret;
	if (s->off == s->len)
		s->state = SYNC_READ;
	return 1;
}

static int sync_finish(struct sync_run *run, struct sync_slot *s)
{
	int ret;

	ret = fs_write_finish(s->dst);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return sync_file_fail(run, s, s->dst, ret);
	if (!run->verify)
		return sync_key_end(run, s);
	s->state = SYNC_VOPEN;
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Verifying one key                                                          */

static int sync_vopen(struct sync_run *run, struct sync_slot *s)
{
	fs_file_deinit(&s->src);
	fs_file_deinit(&s->dst);
	s->len = s->off = 0;
	s->src_eof = false;
	s->state = run->metadata ? SYNC_VMETA_SRC : SYNC_VREAD_SRC;
	return sync_open(run, s, FS_OPEN_READ);
}

static int sync_vmeta_src(struct sync_run *run, struct sync_slot *s)
{
	int count;

	count = fs_file_get_metadata_all(s->src, &s->src_md);
	if (count == -EAGAIN)
		return 0;
	if (count < 0)
		return sync_file_fail(run, s, s->src, count);
	s->src_md_count = count;
	s->state = SYNC_VMETA_DST;
	return 1;
}

static int sync_vmeta_dst(struct sync_run *run, struct sync_slot *s)
{
	const struct fs_metadata *md;
	int i, count;

	count = fs_file_get_metadata_all(s->dst, &md);
	if (count == -EAGAIN)
		return 0;
	if (count < 0)
		return sync_file_fail(run, s, s->dst, count);
	if (count != s->src_md_count)
		return sync_mismatch(run, s, "metadata differs");
	/* Both arrays are sorted by name. */
	for (i = 0; i < count; i++) {
		if (strcmp(md[i].name, s->src_md[i].name) != 0 ||
		    strcmp(md[i].value, s->src_md[i].value) != 0)
			return sync_mismatch(run, s, "metadata differs");
	}
	s->state = SYNC_VREAD_SRC;
	return 1;
}

/* Fills the first half of buf from the source. */
static int sync_vread_src(struct sync_run *run, struct sync_slot *s)
{
	size_t half = FSCTL_CHUNK_SIZE / 2;
	ssize_t ret;

	if (s->src_eof || s->len == half) {
		s->state = s->len == 0 ? SYNC_VEOF : SYNC_VREAD_DST;
		return 1;
	}
	ret = fs_read(s->src, s->buf + s->len, half - s->len);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return sync_file_fail(run, s, s->src, (int)ret);
	if (ret == 0)
		s->src_eof = true;
	s->len += (size_t)ret;
	return 1;
}

/* Reads as many bytes of the destination and compares. */
static int sync_vread_dst(struct sync_run *run, struct sync_slot *s)
{
	char *dst_buf = s->buf + FSCTL_CHUNK_SIZE / 2;
	ssize_t ret;

	if (s->off < s->len) {
		ret = fs_read(s->dst, dst_buf + s->off, s->len - s->off);
		if (ret == -EAGAIN)
			return 0;
		if (ret < 0)
			return sync_file_fail(run, s, s->dst, (int)ret);
		if (ret == 0)
			return sync_mismatch(run, s, "destination is shorter");
		s->off += (size_t)ret;
		return 1;
	}
	if (memcmp(s->buf, dst_buf, s->len) != 0)
		return sync_mismatch(run, s, "content differs");
	s->len = s->off = 0;
	s->state = s->src_eof ? SYNC_VEOF : SYNC_VREAD_SRC;
	return 1;
}

/* The source ended: so must the destination. */
static int sync_veof(struct sync_run *run, struct sync_slot *s)
{
	ssize_t ret;

	ret = fs_read(s->dst, s->buf, FSCTL_CHUNK_SIZE / 2);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return sync_file_fail(run, s, s->dst, (int)ret);
	if (ret > 0)
		return sync_mismatch(run, s, "destination is longer");
	run->verified++;
	return sync_key_end(run, s);
}

/* Returns 1 to go on, 0 while waiting for a storage, -1 when no key is left. */
static int sync_step(struct sync_run *run, struct sync_slot *s)
{
	static int (*const steps[])(struct sync_run *, struct sync_slot *) = {
		[SYNC_IDLE] = sync_start,
		[SYNC_META] = sync_meta,
		[SYNC_READ] = sync_read,
		[SYNC_WRITE] = sync_write,
		[SYNC_FINISH] = sync_finish,
		[SYNC_VOPEN] = sync_vopen,
		[SYNC_VMETA_SRC] = sync_vmeta_src,
		[SYNC_VMETA_DST] = sync_vmeta_dst,
		[SYNC_VREAD_SRC] = sync_vread_src,
		[SYNC_VREAD_DST] = sync_vread_dst,
		[SYNC_VEOF] = sync_veof,
	};

	return steps[s->state](run, s);
}

static bool sync_slot_run(struct fsctl_slot *slot, void *context)
{
	struct sync_slot *s = FSCTL_CONTAINER_OF(slot, struct sync_slot, slot);
	int ret;

	while ((ret = sync_step(context, s)) > 0)
		;
	return ret == 0;
}

/* Runs the slots over all keys. Returns 0 or -errno (event loop failed). */
static int sync_copy_all(struct sync_run *run)
{
	struct sync_slot *slots = calloc(run->jobs, sizeof(*slots));
	struct fsctl_slot **ptrs = calloc(run->jobs, sizeof(*ptrs));
	struct fsctl_pool pool = {
		.fs_a = run->src,
		.fs_b = run->dst,
		.slots = ptrs,
		.count = run->jobs,
		.run = sync_slot_run,
		.tick = sync_tick,
		.context = run,
	};
	unsigned int i;
	int ret = 0;

	for (i = 0; i < run->jobs && slots != NULL && ptrs != NULL; i++) {
		ptrs[i] = &slots[i].slot;
		slots[i].buf = malloc(FSCTL_CHUNK_SIZE);
		if (slots[i].buf == NULL)
			break;
	}
	if (slots == NULL || ptrs == NULL || i < run->jobs)
		ret = -ENOMEM;
	if (ret == 0)
		ret = fsctl_pool_run(&pool, run->cmd);
	else
		fsctl_fail(run->cmd, "slots", ret, NULL);
	for (i = 0; slots != NULL && i < run->jobs; i++) {
		fs_file_deinit(&slots[i].src);
		fs_file_deinit(&slots[i].dst);
		free(slots[i].buf);
	}
	free(slots);
	free(ptrs);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Listing                                                                    */

static int sync_keys_add(struct sync_keys *list, const char *key)
{
	char **keys;
	size_t alloc;

	if (list->count == list->alloc) {
		alloc = list->alloc == 0 ? 256 : list->alloc * 2;
		keys = realloc(list->keys, alloc * sizeof(*keys));
		if (keys == NULL)
			return -ENOMEM;
		list->keys = keys;
		list->alloc = alloc;
	}
	list->keys[list->count] = strdup(key);
	if (list->keys[list->count] == NULL)
		return -ENOMEM;
	list->count++;
	return 0;
}

static void sync_keys_free(struct sync_keys *list)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		free(list->keys[i]);
	free(list->keys);
	memset(list, 0, sizeof(*list));
}

/* Lists every key under prefix into list. Returns 0 or FSCTL_FAILED. */
static int sync_list(const char *cmd, struct fs *fs, const char *prefix,
		     const char *spec, struct sync_keys *list)
{
	struct fs_iter *iter;
	const char *key;
	char shown[512];
	int ret;

	fsctl_spec_redact(spec, shown, sizeof(shown));
	ret = fs_iter_init(fs, prefix, 0, &iter);
	if (ret < 0)
		return fsctl_fail(cmd, shown, ret, fs_last_error(fs));
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		ret = sync_keys_add(list, key);
		if (ret < 0)
			break;
	}
	if (ret < 0)
		fsctl_fail(cmd, shown, ret,
			   ret == -ENOMEM ? NULL : fs_iter_last_error(iter));
	fs_iter_deinit(&iter);
	return ret < 0 ? FSCTL_FAILED : FSCTL_OK;
}

/* ------------------------------------------------------------------------ */
/* --delete                                                                   */

static int sync_cmp_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool sync_src_has(const struct sync_run *run, const char *key)
{
	return run->list.count > 0 &&
	       bsearch(&key, run->list.keys, run->list.count, sizeof(char *),
		       sync_cmp_keys) != NULL;
}

static void sync_delete_key(struct sync_run *run, const char *key,
			    uint64_t *deleted)
{
	struct fs_file *file;
	int ret;

	ret = fs_file_init(run->dst, key, FS_OPEN_READ, &file);
	if (ret < 0) {
		fsctl_fail(run->cmd, key, ret, fs_last_error(run->dst));
		run->failures++;
		return;
	}
	ret = fs_file_delete(file);
	if (ret < 0 && ret != -ENOENT) {
		fsctl_file_fail(run->cmd, file, ret);
		run->failures++;
	} else {
		(*deleted)++;
	}
	fs_file_deinit(&file);
}

/* Deletes the keys of the destination that the source does not have. */
static uint64_t sync_delete_extra(struct sync_run *run, const char *prefix,
				  const char *dst_spec)
{
	struct sync_keys dst_list = {.count = 0};
	uint64_t deleted = 0;
	size_t i;

	if (run->failures > 0) {
		fprintf(stderr,
			"fsctl: sync: --delete skipped: %llu keys "
			"failed\n",
			(unsigned long long)run->failures);
		return 0;
	}
	if (sync_list(run->cmd, run->dst, prefix, dst_spec, &dst_list) != 0) {
		run->failures++;
		return 0;
	}
	for (i = 0; i < dst_list.count; i++) {
		if (!sync_src_has(run, dst_list.keys[i]))
			sync_delete_key(run, dst_list.keys[i], &deleted);
	}
	sync_keys_free(&dst_list);
	return deleted;
}

/* ------------------------------------------------------------------------ */
/* The command                                                                */

enum { SYNC_JOBS = 1, SYNC_PREFIX, SYNC_VERIFY, SYNC_DELETE };

struct sync_req {
	uint64_t jobs;
	const char *prefix, *src_spec, *dst_spec;
	bool verify, delete;
};

static int sync_parse(struct fsctl_args *args, struct sync_req *req)
{
	static const struct fsctl_opt opts[] = {
		{"-j", true, SYNC_JOBS},
		{"--prefix", true, SYNC_PREFIX},
		{"--verify", false, SYNC_VERIFY},
		{"--delete", false, SYNC_DELETE},
		{NULL, false, 0},
	};
	const char *value;
	int id, ret = FSCTL_OK;

	while (ret == FSCTL_OK &&
	       (id = fsctl_opt_next(args, opts, &value)) > 0) {
		if (id == SYNC_JOBS)
			ret = fsctl_opt_uint(args, "-j", value, 1, 256,
					     &req->jobs);
		else if (id == SYNC_PREFIX)
			req->prefix = value;
		else if (id == SYNC_VERIFY)
			req->verify = true;
		else
			req->delete = true;
	}
	if (ret != FSCTL_OK)
		return ret;
	if (id == FSCTL_OPT_HELP)
		return FSCTL_HELP;
	if (id == FSCTL_OPT_ERROR)
		return FSCTL_USAGE;
	return fsctl_operands(args, 2, 2);
}

static void sync_summary(const struct sync_run *run, const struct sync_req *req,
			 uint64_t deleted)
{
	uint64_t usec = fsctl_now_usec() - run->start_usec;
	char bytes[32];

	printf("sync: %zu keys, %s, %.2f s, %.1f MB/s, %llu failures",
	       run->list.count,
	       fsctl_fmt_bytes(run->bytes, bytes, sizeof(bytes)),
	       (double)usec / 1e6,
	       usec > 0 ? (double)run->bytes / (double)usec : 0.0,
	       (unsigned long long)run->failures);
	if (req->verify)
		printf(", %llu verified", (unsigned long long)run->verified);
	if (req->delete)
		printf(", %llu deleted", (unsigned long long)deleted);
	putchar('\n');
}

/* Copy metadata only when both sides keep it; say so when it is lost. */
static void sync_check_metadata(struct sync_run *run, const char *dst_spec)
{
	bool src_md = (fs_get_caps(run->src) & FS_CAP_METADATA) != 0;
	bool dst_md = (fs_get_caps(run->dst) & FS_CAP_METADATA) != 0;
	char shown[512];

	run->metadata = src_md && dst_md;
	if (src_md && !dst_md) {
		fsctl_spec_redact(dst_spec, shown, sizeof(shown));
		fprintf(stderr,
			"fsctl: sync: %s keeps no metadata: metadata is not "
			"copied\n",
			shown);
	}
}

static int sync_run_all(struct sync_run *run, const struct sync_req *req)
{
	uint64_t deleted = 0;
	int ret;

	sync_check_metadata(run, req->dst_spec);
	if (sync_list(run->cmd, run->src, req->prefix, req->src_spec,
		      &run->list) != FSCTL_OK)
		return FSCTL_FAILED;
	/* Sorted once more so that --delete can never be misled by a
	   listing out of order into deleting a key the source has. */
	if (run->list.count > 1)
		qsort(run->list.keys, run->list.count, sizeof(char *),
		      sync_cmp_keys);
	run->start_usec = fsctl_now_usec();
	ret = sync_copy_all(run);
	sync_progress_clear(run);
	if (ret < 0)
		return FSCTL_FAILED;
	if (req->delete)
		deleted = sync_delete_extra(run, req->prefix, req->dst_spec);
	sync_summary(run, req, deleted);
	if (fflush(stdout) != 0)
		return FSCTL_FAILED;
	return run->failures > 0 ? FSCTL_FAILED : FSCTL_OK;
}

int fsctl_cmd_sync(struct fsctl_args *args)
{
	struct sync_req req = {.jobs = SYNC_DEFAULT_JOBS, .prefix = ""};
	struct sync_run run = {.cmd = args->cmd};
	int ret;

	ret = sync_parse(args, &req);
	if (ret != FSCTL_OK)
		return ret;
	req.src_spec = fsctl_operand(args);
	req.dst_spec = fsctl_operand(args);
	run.jobs = (unsigned int)req.jobs;
	run.verify = req.verify;
	run.tty = isatty(STDERR_FILENO) != 0;
	ret = fsctl_fs_open(args, req.src_spec, &run.src);
	if (ret == FSCTL_OK)
		ret = fsctl_fs_open(args, req.dst_spec, &run.dst);
	if (ret == FSCTL_OK)
		ret = sync_run_all(&run, &req);
	sync_keys_free(&run.list);
	fs_deinit(&run.dst);
	fs_deinit(&run.src);
	return ret;
}
