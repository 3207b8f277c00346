/*
 * The torture test (torture.h) over mem:, mem:async, mem:no-range,no-metadata
 * and a posix directory. A mem store is a fresh named one per run (the run
 * opens it twice: under the faults layer and directly); a posix store is a
 * fresh temporary directory, which must hold no temporary file right after
 * a failed write nor at the end of the run. The HTTP drivers on their mocks
 * are in test_torture_mock.c.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"

/* ------------------------------------------------------------------------ */
/* mem                                                                        */

static char *mem_store_new(const struct torture_backend *be)
{
	static unsigned int serial;
	char *spec;

	if (asprintf(&spec, "mem:%sname=torture-%u", (const char *)be->context,
		     ++serial) < 0)
		return NULL;
	return spec;
}

static void test_torture_mem(void **state)
{
	static const struct torture_backend be = {
		.name = "mem",
		.store_new = mem_store_new,
		.context = "",
	};

	torture(&be);
}

static void test_torture_mem_async(void **state)
{
	static const struct torture_backend be = {
		.name = "mem:async",
		.store_new = mem_store_new,
		.context = "async,",
	};

	torture(&be);
}

static void test_torture_mem_plain(void **state)
{
	static const struct torture_backend be = {
		.name = "mem:no-range,no-metadata",
		.store_new = mem_store_new,
		.context = "no-range,no-metadata,",
	};

	torture(&be);
}

/* ------------------------------------------------------------------------ */
/* posix                                                                      */

static char posix_dir[64];
static int tmp_files;

static int visit_file(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	if (type == FTW_F && strncmp(path + ftw->base, FS_RESERVED_PREFIX,
				     strlen(FS_RESERVED_PREFIX)) == 0)
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

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static char *posix_store_new(const struct torture_backend *be)
{
	char *spec;

	(void)be;
	snprintf(posix_dir, sizeof(posix_dir), "/tmp/libfs-torture-XXXXXX");
	assert_non_null(mkdtemp(posix_dir));
	if (asprintf(&spec, "posix:%s", posix_dir) < 0)
		return NULL;
	return spec;
}

static void posix_write_failed(const struct torture_backend *be)
{
	(void)be;
	assert_int_equal(count_tmp_files(posix_dir), 0);
}

static void posix_store_done(const struct torture_backend *be, struct fs *child)
{
	(void)be;
	(void)child;
	assert_int_equal(count_tmp_files(posix_dir), 0);
	assert_int_equal(nftw(posix_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS),
			 0);
}

static void test_torture_posix(void **state)
{
	static const struct torture_backend be = {
		.name = "posix",
		.store_new = posix_store_new,
		.write_failed = posix_write_failed,
		.store_done = posix_store_done,
	};

	torture(&be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torture_mem),
		cmocka_unit_test(test_torture_mem_async),
		cmocka_unit_test(test_torture_mem_plain),
		cmocka_unit_test(test_torture_posix),
	};

	return cmocka_run_group_tests(tests, torture_setup, torture_teardown);
}
