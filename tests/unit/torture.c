/*
 * Torture: one fixed scenario (creates, a multi-chunk streamed object, a
 * replace, reads, stat, exists, metadata, listings, copy, rename, delete and
 * a prefix delete) runs through a faults layer that fails the 1st, 2nd, ...
 * eligible call in turn, transient and persistent, each run on a fresh
 * store of the backend under test (torture.h).
 *
 * The scenario keeps, per key, the set of versions the key may hold: a
 * success narrows it to what the operation says (so everything that reported
 * success must really have happened), a failure widens it to "as before, or
 * done" (an injected failure may come after the operation below). Every
 * result is checked against that set while the scenario runs, and at the end
 * the store is read directly, without the layer: each key is absent or
 * byte-identical (metadata included, where the stack stores it) to one
 * complete version the scenario wrote; then the backend checks that nothing
 * else was left behind.
 *
 * The model follows the capabilities of the stack (fs_get_caps()):
 *  - FS_CAP_METADATA: only then is metadata written, read and compared.
 *  - FS_CAP_RENAME_ATOMIC: fs.h says a rename without it is a copy
 *    followed by a delete, so a failed rename may have copied and not
 *    deleted: the source, the destination or both may hold the moved
 *    version, each complete. With it, a failed rename either happened or
 *    did not: not both. In neither case may the version be lost (the
 *    source gone and the destination without it): that is checked at the
 *    end, on the store itself, for the scenario's one rename.
 *  - FS_CAP_CREATE_EXCL: without it CREATE checks for the key and then
 *    writes, which differs from an atomic create only against another
 *    writer; the scenario is the only writer, so -EEXIST keeps its meaning.
 *  - FS_CAP_STAT_*: stat is only asked for the size, which every backend
 *    gives (FS_STAT_SIZE).
 *  - FS_CAP_APPEND: the scenario does not append (the HTTP drivers cannot).
 * Nothing else is widened: whatever the capabilities, a key holds one
 * complete version the scenario wrote, or nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"

#define CHUNK (64 * 1024)
#define BIT(v) (1u << (v))
/* Far more than the scenario's eligible calls: the loop must end before. */
#define MAX_CALLS 500

enum { K_A, K_B, K_BIG, K_E, K_C, K_R, K_COUNT };
static const char *const keys[K_COUNT] = {
	[K_A] = "a", [K_B] = "b", [K_BIG] = "dir/big",
	[K_E] = "e", [K_C] = "c", [K_R] = "r",
};

enum { V_ABSENT, V_A1, V_A2, V_B, V_BIG, V_E, V_COUNT };
struct version {
	const char *name;
	size_t size;
	const char *md; /* metadata "m", or NULL */
	unsigned char *data;
};
static struct version versions[V_COUNT] = {
	[V_ABSENT] = {"absent", 0, NULL, NULL},
	[V_A1] = {"a1", 1000, "one", NULL},
	[V_A2] = {"a2", 2000, "two", NULL},
	[V_B] = {"b", 5000, "three", NULL},
	/* five 64 KiB chunks and a bit: five parts of a multipart upload
	   where parts are 64 KiB */
	[V_BIG] = {"big", 4 * CHUNK + 54321, "four", NULL},
	[V_E] = {"e (empty, no metadata)", 0, NULL, NULL},
};
#define PRESENT (~BIT(V_ABSENT) & (BIT(V_COUNT) - 1))

/* A rename that failed: what the store must show at the end. */
struct rename_check {
	bool active;
	int src, dst;
	unsigned int from; /* the versions src could hold before */
	unsigned int old;  /* the versions dst could hold before */
};

struct run {
	const struct torture_backend *be;
	const char *options; /* the faults layer's */
	struct fs *fs;	     /* the faults stack */
	bool metadata;	     /* FS_CAP_METADATA */
	bool rename_atomic;  /* FS_CAP_RENAME_ATOMIC */
	/* bit v of possible[k]: key k may hold version v */
	unsigned int possible[K_COUNT];
	unsigned int failures; /* operations that failed (all injected) */
	struct rename_check rename;
};

static int key_index(const char *key)
{
	int k;

	for (k = 0; k < K_COUNT; k++) {
		if (strcmp(keys[k], key) == 0)
			return k;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                  */

/* "{a1, b}" for a mask of versions. */
static const char *versions_str(unsigned int mask, char *buf, size_t size)
{
	size_t len = 0;
	unsigned int v;

	buf[0] = '\0';
	for (v = 0; v < V_COUNT && len < size; v++) {
		if ((mask & BIT(v)) != 0)
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
						len > 0 ? ", " : "",
						versions[v].name);
	}
	return buf;
}

/* The outcome says key k holds one of mask: it must have been possible. */
static void narrow(struct run *run, int k, unsigned int mask, const char *what)
{
	char says[128], can[128];

	if ((run->possible[k] & mask) == 0)
		fail_msg("%s (faults:%s): %s %s: the outcome says {%s}, but "
			 "the key can only hold {%s}",
			 run->be->name, run->options, what, keys[k],
			 versions_str(mask, says, sizeof(says)),
			 versions_str(run->possible[k], can, sizeof(can)));
	run->possible[k] &= mask;
}

/* Every failure in these runs is an injected one. */
static void failed(struct run *run, int ret, const char *what, int k)
{
	if (ret != -EIO)
		fail_msg("%s (faults:%s): %s %s: %d (%s) where only an "
			 "injected EIO may fail",
			 run->be->name, run->options, what, keys[k], ret,
			 fs_errno_name(ret));
	run->failures++;
}

/* Key k is written to: a failed rename's check no longer applies. */
static void touched(struct run *run, int k)
{
	if (run->rename.active &&
	    (run->rename.src == k || run->rename.dst == k))
		run->rename.active = false;
}

/* The versions whose bytes (and metadata, where stored) are these. */
static unsigned int versions_matching(const struct run *run, const void *data,
				      size_t size, const char *md,
				      bool md_known)
{
	unsigned int v, mask = 0;

	for (v = V_ABSENT + 1; v < V_COUNT; v++) {
		if (versions[v].size != size ||
		    (size > 0 && memcmp(versions[v].data, data, size) != 0))
			continue;
		if (md_known && run->metadata &&
		    (md == NULL) != (versions[v].md == NULL))
			continue;
		if (md_known && run->metadata && md != NULL &&
		    strcmp(md, versions[v].md) != 0)
			continue;
		mask |= BIT(v);
	}
	return mask;
}

static void model_write(struct run *run, int k, int v, int ret)
{
	touched(run, k);
	if (ret == 0) {
		run->possible[k] = BIT(v);
	} else if (ret == -EEXIST) {
		narrow(run, k, PRESENT, "create");
	} else {
		failed(run, ret, "write", k);
		run->possible[k] |= BIT(v);
	}
}

static void model_delete(struct run *run, int k, int ret)
{
	touched(run, k);
	if (ret == 0)
		narrow(run, k, PRESENT, "delete");
	else if (ret == -ENOENT)
		narrow(run, k, BIT(V_ABSENT), "delete");
	else
		failed(run, ret, "delete", k);
	if (ret == 0 || ret == -ENOENT)
		run->possible[k] = BIT(V_ABSENT);
	else
		run->possible[k] |= BIT(V_ABSENT);
}

/* A failed copy may have copied; a failed rename may have copied, deleted
   the source, both (it happened) or, without FS_CAP_RENAME_ATOMIC, only
   copied. The sets of the two keys are widened each on its own, which
   allows all of these (and "neither", the one thing a rename must not do:
   struct rename_check catches that at the end). */
static void model_copy(struct run *run, int src, int dst, bool rename, int ret)
{
	const char *what = rename ? "rename" : "copy";
	unsigned int from = run->possible[src] & PRESENT;
	unsigned int old = run->possible[dst];

	touched(run, dst);
	if (rename)
		touched(run, src);
	if (ret == -ENOENT) {
		narrow(run, src, BIT(V_ABSENT), what);
		return;
	}
	if (ret == 0) {
		narrow(run, src, PRESENT, what);
		run->possible[dst] = run->possible[src];
		if (rename)
			run->possible[src] = BIT(V_ABSENT);
		return;
	}
	failed(run, ret, what, dst);
	run->possible[dst] |= from;
	if (rename) {
		/* only an object known to be there can be lost */
		if ((run->possible[src] & BIT(V_ABSENT)) == 0)
			run->rename = (struct rename_check){true, src, dst,
							    from, old};
		run->possible[src] |= BIT(V_ABSENT);
	}
}

/* ------------------------------------------------------------------------ */
/* The scenario's steps                                                       */

static void step_write(struct run *run, int k, int v, unsigned int mode)
{
	const struct version *ver = &versions[v];
	struct fs_file *file;
	size_t done = 0, chunk;
	ssize_t ret = 0;

	assert_int_equal(fs_file_init(run->fs, keys[k], mode, &file), 0);
	if (ver->md != NULL && run->metadata)
		assert_int_equal(fs_file_set_metadata(file, "m", ver->md), 0);
	while (ret >= 0 && done < ver->size) {
		chunk = ver->size - done < CHUNK ? ver->size - done : CHUNK;
		ret = fs_write(file, ver->data + done, chunk);
		if (ret >= 0) {
			assert_int_equal(ret, chunk);
			done += chunk;
		}
	}
	if (ret >= 0)
		ret = fs_write_finish(file);
	/* a failed write is cleaned up at once, not when the handle goes */
	if (ret < 0 && run->be->write_failed != NULL)
		run->be->write_failed(run->be);
	fs_file_deinit(&file);
	model_write(run, k, v, (int)ret);
}

/* Reads key k with fs_read() in odd-sized pieces. */
static int read_stream(struct fs_file *file, void **data_r, size_t *size_r)
{
	size_t size = 0, alloc = 0;
	char *buf = NULL, *p;
	ssize_t ret;

	do {
		if (alloc - size < 50000) {
			alloc = alloc * 2 + 100000;
			p = realloc(buf, alloc);
			assert_non_null(p);
			buf = p;
		}
		ret = fs_read(file, buf + size, 50000);
		if (ret > 0)
			size += (size_t)ret;
	} while (ret > 0);
	if (ret < 0) {
		free(buf);
		return (int)ret;
	}
	*data_r = buf;
	*size_r = size;
	return 0;
}

static void step_read(struct run *run, int k, bool stream)
{
	struct fs_file *file;
	void *data = NULL;
	size_t size = 0;
	int ret;

	assert_int_equal(fs_file_init(run->fs, keys[k], FS_OPEN_READ, &file),
			 0);
	ret = stream ? read_stream(file, &data, &size)
		     : fs_read_all(file, &data, &size);
	fs_file_deinit(&file);
	if (ret == 0)
		narrow(run, k, versions_matching(run, data, size, NULL, false),
		       "read");
	else if (ret == -ENOENT)
		narrow(run, k, BIT(V_ABSENT), "read");
	else
		failed(run, ret, "read", k);
	free(data);
}

static void step_stat(struct run *run, int k)
{
	struct fs_file *file;
	struct fs_stat st;
	char what[64];
	unsigned int v, mask = 0;
	int ret;

	assert_int_equal(fs_file_init(run->fs, keys[k], FS_OPEN_READ, &file),
			 0);
	ret = fs_file_stat(file, &st);
	fs_file_deinit(&file);
	if (ret == -ENOENT) {
		narrow(run, k, BIT(V_ABSENT), "stat");
	} else if (ret < 0) {
		failed(run, ret, "stat", k);
	} else {
		assert_true((st.valid & FS_STAT_SIZE) != 0);
		for (v = V_ABSENT + 1; v < V_COUNT; v++) {
			if (versions[v].size == st.size)
				mask |= BIT(v);
		}
		snprintf(what, sizeof(what), "stat (size %llu)",
			 (unsigned long long)st.size);
		narrow(run, k, mask, what);
	}
}

static void step_exists(struct run *run, int k)
{
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(run->fs, keys[k], FS_OPEN_READ, &file),
			 0);
	ret = fs_file_exists(file);
	fs_file_deinit(&file);
	if (ret == 1)
		narrow(run, k, PRESENT, "exists");
	else if (ret == 0)
		narrow(run, k, BIT(V_ABSENT), "exists");
	else
		failed(run, ret, "exists", k);
}

static void step_metadata(struct run *run, int k)
{
	struct fs_file *file;
	const char *value;
	char what[128];
	unsigned int v, mask = 0;
	int ret;

	if (!run->metadata)
		return;
	assert_int_equal(fs_file_init(run->fs, keys[k], FS_OPEN_READ, &file),
			 0);
	ret = fs_file_get_metadata(file, "m", &value);
	if (ret == -ENOENT) {
		narrow(run, k, BIT(V_ABSENT), "metadata");
	} else if (ret < 0) {
		failed(run, ret, "metadata", k);
	} else {
		for (v = V_ABSENT + 1; v < V_COUNT; v++) {
			if (ret == 0 ? versions[v].md == NULL
				     : versions[v].md != NULL &&
					       strcmp(versions[v].md, value) ==
						       0)
				mask |= BIT(v);
		}
		snprintf(what, sizeof(what), "metadata (m=%s)",
			 ret == 0 ? "none" : value);
		narrow(run, k, mask, what);
	}
	fs_file_deinit(&file);
}

static void step_copy(struct run *run, int src, int dst, bool rename)
{
	struct fs_file *s, *d;
	int ret;

	assert_int_equal(fs_file_init(run->fs, keys[src], FS_OPEN_READ, &s), 0);
	assert_int_equal(fs_file_init(run->fs, keys[dst], FS_OPEN_REPLACE, &d),
			 0);
	ret = rename ? fs_rename(s, d) : fs_copy(s, d);
	fs_file_deinit(&d);
	fs_file_deinit(&s);
	model_copy(run, src, dst, rename, ret);
}

static void step_delete(struct run *run, int k)
{
	struct fs_file *file;
	int ret;

	assert_int_equal(fs_file_init(run->fs, keys[k], FS_OPEN_READ, &file),
			 0);
	ret = fs_file_delete(file);
	fs_file_deinit(&file);
	model_delete(run, k, ret);
}

static bool in_listing(const char *key, const char *prefix, bool one_level)
{
	size_t len = strlen(prefix);

	return strncmp(key, prefix, len) == 0 &&
	       (!one_level || strchr(key + len, '/') == NULL);
}

static void step_list(struct run *run, const char *prefix, unsigned int flags)
{
	bool one_level = (flags & FS_ITER_FLAG_ONE_LEVEL) != 0;
	bool listed[K_COUNT] = {false};
	struct fs_iter *iter;
	const char *key;
	int k, ret;

	assert_int_equal(fs_iter_init(run->fs, prefix, flags, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		k = key_index(key);
		if (k < 0 || !in_listing(key, prefix, one_level))
			fail_msg("%s (faults:%s): listing '%s' gave '%s'",
				 run->be->name, run->options, prefix, key);
		narrow(run, k, PRESENT, "list");
		listed[k] = true;
	}
	assert_int_equal(fs_iter_deinit(&iter), ret);
	if (ret < 0) {
		failed(run, ret, "list", 0);
		return;
	}
	for (k = 0; k < K_COUNT; k++) {
		if (!listed[k] && in_listing(keys[k], prefix, one_level))
			narrow(run, k, BIT(V_ABSENT), "list");
	}
}

static void step_delete_prefix(struct run *run, int k)
{
	int ret = fs_delete_prefix(run->fs, keys[k]);

	/* only k begins with its name */
	touched(run, k);
	if (ret == 1 || ret == 0)
		narrow(run, k, ret == 1 ? PRESENT : BIT(V_ABSENT),
		       "delete prefix");
	else
		failed(run, ret, "delete prefix", k);
	if (ret >= 0)
		run->possible[k] = BIT(V_ABSENT);
	else
		run->possible[k] |= BIT(V_ABSENT);
}

static void scenario(struct run *run)
{
	int k;

	for (k = 0; k < K_COUNT; k++)
		run->possible[k] = BIT(V_ABSENT);
	step_write(run, K_A, V_A1, FS_OPEN_CREATE);
	step_write(run, K_B, V_B, FS_OPEN_CREATE);
	step_write(run, K_BIG, V_BIG, FS_OPEN_CREATE);
	step_write(run, K_E, V_E, FS_OPEN_CREATE);
	step_write(run, K_A, V_A2, FS_OPEN_REPLACE);
	step_read(run, K_A, false);
	step_read(run, K_BIG, true);
	step_stat(run, K_B);
	step_exists(run, K_E);
	step_list(run, "", 0);
	step_list(run, "dir/", FS_ITER_FLAG_ONE_LEVEL);
	step_metadata(run, K_A);
	step_copy(run, K_B, K_C, false);
	step_copy(run, K_BIG, K_R, true);
	step_delete(run, K_E);
	step_read(run, K_C, false);
	step_read(run, K_R, true);
	step_metadata(run, K_R);
	step_delete_prefix(run, K_A);
	step_exists(run, K_A);
	step_stat(run, K_R);
}

/* ------------------------------------------------------------------------ */
/* Checking the store without the layer                                       */

static void verify_key(struct fs *child, struct run *run, int k)
{
	struct fs_file *file;
	const char *md = NULL;
	void *data;
	size_t size;

	assert_int_equal(fs_file_init(child, keys[k], FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read_all(file, &data, &size), 0);
	if (run->metadata)
		assert_true(fs_file_get_metadata(file, "m", &md) >= 0);
	narrow(run, k, versions_matching(run, data, size, md, true),
	       "final check of");
	fs_file_deinit(&file);
	free(data);
}

/* The failed rename, against the store (the keys' sets are narrowed to
   their contents by now). */
static void verify_rename(const struct run *run, const bool listed[K_COUNT])
{
	const struct rename_check *rc = &run->rename;
	bool src = listed[rc->src];
	bool dst_moved = listed[rc->dst] && (run->possible[rc->dst] & rc->from);
	bool dst_only_moved =
		listed[rc->dst] && (run->possible[rc->dst] & rc->old) == 0;

	if (!rc->active)
		return;
	if (!src && !dst_moved)
		fail_msg("%s (faults:%s): a failed rename of %s to %s lost "
			 "the object",
			 run->be->name, run->options, keys[rc->src],
			 keys[rc->dst]);
	if (run->rename_atomic && src && dst_only_moved)
		fail_msg("%s (faults:%s): a failed atomic rename of %s to %s "
			 "left both",
			 run->be->name, run->options, keys[rc->src],
			 keys[rc->dst]);
}

static void verify_child(struct fs *child, struct run *run)
{
	bool listed[K_COUNT] = {false};
	struct fs_iter *iter;
	const char *key;
	int k, ret;

	assert_int_equal(fs_iter_init(child, "", 0, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		k = key_index(key);
		if (k < 0)
			fail_msg("%s (faults:%s): stray key '%s' in the store",
				 run->be->name, run->options, key);
		listed[k] = true;
	}
	assert_int_equal(fs_iter_deinit(&iter), 0);
	for (k = 0; k < K_COUNT; k++) {
		if (listed[k])
			verify_key(child, run, k);
		else
			narrow(run, k, BIT(V_ABSENT), "final check of");
	}
	verify_rename(run, listed);
}

unsigned int torture_store_empty(struct fs *fs)
{
	char **list = NULL, **p;
	struct fs_iter *iter;
	struct fs_file *file;
	const char *key;
	unsigned int i, count = 0;
	int ret;

	/* the whole listing first: deleting under a listing's feet is not
	   what is tested here */
	assert_int_equal(fs_iter_init(fs, "", 0, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		p = realloc(list, (count + 1) * sizeof(*list));
		assert_non_null(p);
		list = p;
		list[count] = strdup(key);
		assert_non_null(list[count++]);
	}
	assert_int_equal(fs_iter_deinit(&iter), 0);
	for (i = 0; i < count; i++) {
		assert_int_equal(fs_file_init(fs, list[i], FS_OPEN_READ, &file),
				 0);
		assert_int_equal(fs_file_delete(file), 0);
		fs_file_deinit(&file);
		free(list[i]);
	}
	free(list);
	return count;
}

/* ------------------------------------------------------------------------ */
/* Runs                                                                       */

static struct fs *torture_fs(const struct torture_backend *be, const char *spec)
{
	const char *error;
	struct fs *fs;

	if (fs_init(spec, be->settings, &fs, &error) != 0)
		fail_msg("%s: %s", spec, error);
	return fs;
}

/* Runs the scenario once over "faults:OPTIONS::CHILD" on a fresh store;
   returns the failures injected, and the run's model in *run. */
static uint64_t run_once(const struct torture_backend *be, const char *options,
			 struct run *run)
{
	char *child_spec, *spec;
	struct fs *child, *fs;
	struct fs_stats st;
	unsigned int caps;

	child_spec = be->store_new(be);
	assert_non_null(child_spec);
	assert_true(asprintf(&spec, "faults:%s::%s", options, child_spec) > 0);
	child = torture_fs(be, child_spec);
	fs = torture_fs(be, spec);
	free(spec);
	free(child_spec);
	caps = fs_get_caps(fs);
	memset(run, 0, sizeof(*run));
	run->be = be;
	run->options = options;
	run->fs = fs;
	run->metadata = (caps & FS_CAP_METADATA) != 0;
	run->rename_atomic = (caps & FS_CAP_RENAME_ATOMIC) != 0;
	scenario(run);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	fs_deinit(&fs);
	run->fs = NULL;
	verify_child(child, run);
	if (be->store_done != NULL)
		be->store_done(be, child);
	fs_deinit(&child);
	return st.faults_injected;
}

/* Fails the 1st, 2nd, ... eligible call until a run injects nothing (the
   scenario has fewer eligible calls than that k); returns their count. */
static unsigned int torture_loop(const struct torture_backend *be,
				 const char *extra, bool persistent)
{
	char options[128];
	struct run run;
	uint64_t count;
	unsigned int k;

	for (k = 1; k < MAX_CALLS; k++) {
		snprintf(options, sizeof(options), "%s,nth=%u,mode=%s", extra,
			 k, persistent ? "persistent" : "transient");
		count = run_once(be, options, &run);
		if (count == 0) {
			assert_int_equal(run.failures, 0);
			return k - 1;
		}
		/* transient: exactly the one call failed */
		if (!persistent)
			assert_int_equal(count, 1);
		assert_true(run.failures >= 1);
	}
	fail_msg("%s: more than %d eligible calls", be->name, MAX_CALLS);
	return 0;
}

void torture(const struct torture_backend *be)
{
	static const unsigned int expect[K_COUNT] = {
		[K_A] = BIT(V_ABSENT),	 [K_B] = BIT(V_B),
		[K_BIG] = BIT(V_ABSENT), [K_E] = BIT(V_ABSENT),
		[K_C] = BIT(V_B),	 [K_R] = BIT(V_BIG),
	};
	unsigned int calls, streams;
	struct run run;

	/* without faults: everything succeeds, and the model is exact */
	assert_int_equal(run_once(be, "seed=1", &run), 0);
	assert_int_equal(run.failures, 0);
	assert_memory_equal(run.possible, expect, sizeof(expect));

	/* The layer draws random numbers only for a call that fails, so every
	   run of a transient loop fails its call the same way: the loops say
	   how. "Nothing happened", then "it happened but failed", for every
	   call; then every call from the Nth on, each failing a random way. */
	calls = torture_loop(be, "seed=1,when=before", false);
	/* every step of the scenario has at least one eligible call */
	assert_true(calls >= 20);
	assert_int_equal(torture_loop(be, "seed=1,when=after", false), calls);
	assert_int_equal(torture_loop(be, "seed=2", true), calls);
	/* Streams cut in the middle (the others are not eligible then): seed
	   3 after 400 bytes (every non-empty object), seed 5 after 100804
	   (the big one only: in its second 64 KiB part, where S3 has an
	   upload to abort); shorter streams fail at their end instead. */
	streams = torture_loop(be, "seed=3,when=mid", false);
	assert_true(streams >= 10);
	assert_int_equal(torture_loop(be, "seed=5,when=mid", false), streams);
	print_message("%s: %u eligible calls and %u streams, each failed in "
		      "turn\n",
		      be->name, calls, streams);
}

int torture_setup(void **state)
{
	unsigned int v;
	size_t i;

	(void)state;
	for (v = V_ABSENT + 1; v < V_COUNT; v++) {
		versions[v].data = malloc(versions[v].size + 1);
		if (versions[v].data == NULL)
			return -1;
		for (i = 0; i < versions[v].size; i++)
			versions[v].data[i] = (unsigned char)(i * v + i / 97);
	}
	return 0;
}

int torture_teardown(void **state)
{
	unsigned int v;

	(void)state;
	for (v = 0; v < V_COUNT; v++) {
		free(versions[v].data);
		versions[v].data = NULL;
	}
	return 0;
}
