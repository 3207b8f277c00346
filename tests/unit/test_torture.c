/*
 * Torture: one fixed scenario (creates, a multi-chunk streamed object, a
 * replace, reads, stat, exists, metadata, listings, copy, rename, delete and
 * a prefix delete) runs through a faults layer that fails the 1st, 2nd, ...
 * eligible call in turn, transient and persistent, over mem:, mem:async and
 * a posix directory, each run on a fresh store.
 *
 * The scenario keeps, per key, the set of versions the key may hold: a
 * success narrows it to what the operation says (so everything that reported
 * success must really have happened), a failure widens it to "as before, or
 * done" (an injected failure may come after the operation below). Every
 * result is checked against that set while the scenario runs, and at the end
 * the store is read directly, without the layer: each key is absent or
 * byte-identical (metadata included) to one complete version the scenario
 * wrote, and no temporary file is left in the posix directory.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "libfs/fs.h"

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
	size_t size;
	const char *md; /* metadata "m", or NULL */
	unsigned char *data;
};
static struct version versions[V_COUNT] = {
	[V_A1] = {1000, "one", NULL},
	[V_A2] = {2000, "two", NULL},
	[V_B] = {5000, "three", NULL},
	/* five 64 KiB chunks and a bit */
	[V_BIG] = {4 * CHUNK + 54321, "four", NULL},
	[V_E] = {0, NULL, NULL},
};
#define PRESENT (~BIT(V_ABSENT) & (BIT(V_COUNT) - 1))

struct run {
	struct fs *fs;	 /* the faults stack */
	bool metadata;	 /* FS_CAP_METADATA */
	const char *dir; /* posix: the store's directory */
	/* bit v of possible[k]: key k may hold version v */
	unsigned int possible[K_COUNT];
	unsigned int failures; /* operations that failed (all injected) */
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

/* The outcome says key k holds one of mask: it must have been possible. */
static void narrow(struct run *run, int k, unsigned int mask, const char *what)
{
	if ((run->possible[k] & mask) == 0)
		fail_msg("%s %s: the outcome says one of versions %#x, but the "
			 "key can only hold %#x",
			 what, keys[k], mask, run->possible[k]);
	run->possible[k] &= mask;
}

/* Every failure in these runs is an injected one. */
static void failed(struct run *run, int ret, const char *what, int k)
{
	if (ret != -EIO)
		fail_msg("%s %s: %d (%s) where only an injected EIO may fail",
			 what, keys[k], ret, fs_errno_name(ret));
	run->failures++;
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

static void model_copy(struct run *run, int src, int dst, bool rename, int ret)
{
	const char *what = rename ? "rename" : "copy";
	unsigned int from = run->possible[src] & PRESENT;

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
	if (rename)
		run->possible[src] |= BIT(V_ABSENT);
}

/* ------------------------------------------------------------------------ */
/* The scenario's steps                                                       */

static int tmp_files;

static int visit_file(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	if (type == FTW_F && strncmp(path + ftw->base, ".libfs-", 7) == 0)
		tmp_files++;
	return 0;
}

/* The temporary files under dir. */
static int count_tmp_files(const char *dir)
{
	tmp_files = 0;
	assert_int_equal(nftw(dir, visit_file, 8, FTW_PHYS), 0);
	return tmp_files;
}

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
	if (ret < 0 && run->dir != NULL)
		assert_int_equal(count_tmp_files(run->dir), 0);
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
		narrow(run, k, mask, "stat");
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
		narrow(run, k, mask, "metadata");
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
			fail_msg("listing '%s' gave '%s'", prefix, key);
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

static void verify_child(struct fs *child, struct run *run, const char *dir)
{
	bool listed[K_COUNT] = {false};
	struct fs_iter *iter;
	const char *key;
	int k, ret;

	assert_int_equal(fs_iter_init(child, "", 0, &iter), 0);
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		k = key_index(key);
		if (k < 0)
			fail_msg("stray key '%s' in the store", key);
		listed[k] = true;
	}
	assert_int_equal(fs_iter_deinit(&iter), 0);
	for (k = 0; k < K_COUNT; k++) {
		if (listed[k])
			verify_key(child, run, k);
		else
			narrow(run, k, BIT(V_ABSENT), "final check of");
	}
	if (dir != NULL)
		assert_int_equal(count_tmp_files(dir), 0);
}

/* ------------------------------------------------------------------------ */
/* Runs                                                                       */

struct backend {
	const char *name;
	bool posix;
	const char *options; /* for mem */
};

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	return remove(path);
}

/* Runs the scenario once over "faults:OPTIONS::CHILD" on a fresh store;
   returns the failures injected, and the run's model in *run. */
static uint64_t run_once(const struct backend *be, const char *options,
			 struct run *run)
{
	static unsigned int serial;
	char dir[] = "/tmp/libfs-torture-XXXXXX", child_spec[128], spec[256];
	struct fs *child, *fs;
	struct fs_stats st;
	const char *error;

	if (be->posix) {
		assert_non_null(mkdtemp(dir));
		snprintf(child_spec, sizeof(child_spec), "posix:%s", dir);
	} else {
		snprintf(child_spec, sizeof(child_spec),
			 "mem:%sname=torture-%u", be->options, ++serial);
	}
	snprintf(spec, sizeof(spec), "faults:%s::%s", options, child_spec);
	if (fs_init(child_spec, NULL, &child, &error) != 0)
		fail_msg("%s: %s", child_spec, error);
	if (fs_init(spec, NULL, &fs, &error) != 0)
		fail_msg("%s: %s", spec, error);
	memset(run, 0, sizeof(*run));
	run->fs = fs;
	run->metadata = (fs_get_caps(fs) & FS_CAP_METADATA) != 0;
	run->dir = be->posix ? dir : NULL;
	scenario(run);
	assert_int_equal(fs_async_pending(fs), 0);
	assert_int_equal(fs_stats_get(fs, 0, &st), 0);
	fs_deinit(&fs);
	run->fs = NULL;
	run->dir = NULL;
	verify_child(child, run, be->posix ? dir : NULL);
	fs_deinit(&child);
	if (be->posix)
		assert_int_equal(
			nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
	return st.faults_injected;
}

/* Fails the 1st, 2nd, ... eligible call until a run injects nothing (the
   scenario has fewer eligible calls than that k); returns their count. */
static unsigned int torture_loop(const struct backend *be, const char *extra,
				 bool persistent)
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

static void torture(const struct backend *be)
{
	static const unsigned int expect[K_COUNT] = {
		[K_A] = BIT(V_ABSENT),	 [K_B] = BIT(V_B),
		[K_BIG] = BIT(V_ABSENT), [K_E] = BIT(V_ABSENT),
		[K_C] = BIT(V_B),	 [K_R] = BIT(V_BIG),
	};
	unsigned int calls;
	struct run run;

	/* without faults: everything succeeds, and the model is exact */
	assert_int_equal(run_once(be, "seed=1", &run), 0);
	assert_int_equal(run.failures, 0);
	assert_memory_equal(run.possible, expect, sizeof(expect));

	calls = torture_loop(be, "seed=1", false);
	/* every step of the scenario has at least one eligible call */
	assert_true(calls >= 20);
	assert_int_equal(torture_loop(be, "seed=2", true), calls);
	/* "it happened but failed", for every call */
	assert_int_equal(torture_loop(be, "seed=3,when=after", false), calls);
	print_message("%s: %u eligible calls, each failed in turn\n", be->name,
		      calls);
}

static void test_torture_mem(void **state)
{
	static const struct backend be = {"mem", false, ""};

	torture(&be);
}

static void test_torture_mem_async(void **state)
{
	static const struct backend be = {"mem:async", false, "async,"};

	torture(&be);
}

static void test_torture_mem_plain(void **state)
{
	static const struct backend be = {"mem:no-range,no-metadata", false,
					  "no-range,no-metadata,"};

	torture(&be);
}

static void test_torture_posix(void **state)
{
	static const struct backend be = {"posix", true, NULL};

	torture(&be);
}

static int setup(void **state)
{
	unsigned int v;
	size_t i;

	for (v = V_ABSENT + 1; v < V_COUNT; v++) {
		versions[v].data = malloc(versions[v].size + 1);
		if (versions[v].data == NULL)
			return -1;
		for (i = 0; i < versions[v].size; i++)
			versions[v].data[i] = (unsigned char)(i * v + i / 97);
	}
	return 0;
}

static int teardown(void **state)
{
	unsigned int v;

	for (v = 0; v < V_COUNT; v++) {
		free(versions[v].data);
		versions[v].data = NULL;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torture_mem),
		cmocka_unit_test(test_torture_mem_async),
		cmocka_unit_test(test_torture_mem_plain),
		cmocka_unit_test(test_torture_posix),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
