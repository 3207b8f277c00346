/*
 * Spec strings and fs_init(): drivers by path, scheme and alias, layers,
 * errors and their messages, settings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs-private.h"
#include "libfs/fs.h"

/* --- A layer for stacking, reachable as "tlayer:" through the registry's
   unit test slot. Option "fail" makes its init fail. --- */

static unsigned int tlayer_inits, tlayer_deinits;
static struct fs *tlayer_parent_seen;

static int tlayer_init(struct fs *fs, const char *scheme, const char *args)
{
	tlayer_parent_seen = fs->parent;
	if (strncmp(args, "fail", 4) == 0)
		return fs_set_error(fs, -EINVAL, "told to fail");
	tlayer_inits++;
	return 0;
}

static void tlayer_deinit(struct fs *fs)
{
	tlayer_deinits++;
}

static const struct fs_driver tlayer_driver = {
	.version = FS_DRIVER_VERSION,
	.name = "tlayer",
	.layer = true,
	.fs_size = sizeof(struct fs),
	.file_size = sizeof(struct fs_file),
	.iter_size = sizeof(struct fs_iter),
	.v =
		{
			.init = tlayer_init,
			.deinit = tlayer_deinit,
			.get_caps = fs_passthrough_get_caps,
		},
};

static const struct fs_driver tlayer_old_driver = {
	.version = FS_DRIVER_VERSION + 1,
	.name = "told",
};

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/libfs-test-spec-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	fs_driver_test_extra = &tlayer_driver;
	return 0;
}

static int teardown(void **state)
{
	fs_driver_test_extra = NULL;
	return rmdir(tmpdir);
}

static void expect_init_error(const char *spec, int err, const char *part)
{
	struct fs *fs = (void *)1;
	const char *error = NULL;
	int ret = fs_init(spec, NULL, &fs, &error);

	if (ret != err)
		fail_msg("spec '%s': %d (%s), expected %d", spec, ret,
			 error != NULL ? error : "", err);
	assert_null(fs);
	assert_non_null(error);
	if (strstr(error, part) == NULL)
		fail_msg("spec '%s': message '%s' lacks '%s'", spec, error,
			 part);
}

static void expect_driver(const char *spec, const char *name)
{
	const char *error = NULL;
	struct fs *fs;

	if (fs_init(spec, NULL, &fs, &error) != 0)
		fail_msg("spec '%s' failed: %s", spec, error);
	assert_string_equal(error, "");
	assert_string_equal(fs_driver_name(fs, 0), name);
	assert_null(fs_driver_name(fs, 1));
	assert_string_equal(fs_last_error(fs), "");
	fs_deinit(&fs);
	assert_null(fs);
}

static void test_posix_specs(void **state)
{
	char spec[128];

	expect_driver(tmpdir, "posix");
	snprintf(spec, sizeof(spec), "posix:%s", tmpdir);
	expect_driver(spec, "posix");
	snprintf(spec, sizeof(spec), "file://%s", tmpdir);
	expect_driver(spec, "posix");
	expect_init_error("file://relative/path", -EINVAL, "file:///PATH");
	expect_init_error("file://", -EINVAL, "file:///PATH");
}

static void test_mem_specs(void **state)
{
	expect_driver("mem:", "mem");
	expect_driver("mem:async,no-range,no-metadata,name=x", "mem");
	expect_init_error("mem:bogus", -EINVAL, "mem:bogus: ");
	expect_init_error("mem:name=", -EINVAL, "name");
	expect_init_error("mem:,", -EINVAL, "mem:,");
	/* a leaf takes everything after "scheme:", "::" included */
	expect_init_error("mem:::mem:", -EINVAL, "mem:::mem:");
}

static void test_unknown_and_not_built(void **state)
{
	expect_init_error("bogus:x", -EINVAL, "unknown storage driver 'bogus'");
	/* Each driver this build lacks says so (LIBFS_DRIVER_* are the build's
	   drivers). */
#ifndef LIBFS_DRIVER_S3
	expect_init_error("s3://bucket/prefix", -ENOTSUP,
			  "'s3' support is not built into this libfs");
#endif
#ifndef LIBFS_DRIVER_DAV
	expect_init_error("dav+http://h/p", -ENOTSUP, "'dav+http' support");
	expect_init_error("dav+https://h/p", -ENOTSUP, "'dav+https' support");
#endif
#ifndef LIBFS_DRIVER_MOGILEFS
	expect_init_error("mogilefs://h:7001/d", -ENOTSUP, "'mogilefs'");
#endif
#ifndef LIBFS_DRIVER_CACHE
	expect_init_error("cache:max=64M::mem:", -ENOTSUP, "'cache'");
#endif
#ifndef LIBFS_DRIVER_FAULTS
	expect_init_error("faults:seed=7::mem:", -ENOTSUP, "'faults'");
#endif
}

static void test_malformed(void **state)
{
	expect_init_error("", -EINVAL, "empty");
	expect_init_error(NULL, -EINVAL, "empty");
	expect_init_error("mem", -EINVAL, "malformed spec");
	expect_init_error(":x", -EINVAL, "malformed spec");
	expect_init_error("MEM:", -EINVAL, "malformed spec");
	expect_init_error("me m:", -EINVAL, "malformed spec");
	expect_init_error("relative/path", -EINVAL, "malformed spec");
}

static void test_layers(void **state)
{
	const char *error;
	struct fs *fs;

	tlayer_inits = tlayer_deinits = 0;
	assert_int_equal(fs_init("tlayer:opt::mem:", NULL, &fs, &error), 0);
	assert_string_equal(fs_driver_name(fs, 0), "tlayer");
	assert_string_equal(fs_driver_name(fs, 1), "mem");
	assert_null(fs_driver_name(fs, 2));
	/* the parent exists before the layer's init */
	assert_non_null(tlayer_parent_seen);
	assert_ptr_equal(tlayer_parent_seen, fs->parent);
	assert_true((fs_get_caps(fs) & FS_CAP_IN_MEMORY) != 0);
	fs_deinit(&fs);
	assert_int_equal(tlayer_deinits, 1);

	/* two layers: the first "::" ends the options */
	assert_int_equal(
		fs_init("tlayer:a::tlayer:b::mem:name=x", NULL, &fs, &error),
		0);
	assert_string_equal(fs_driver_name(fs, 1), "tlayer");
	assert_string_equal(fs_driver_name(fs, 2), "mem");
	fs_deinit(&fs);
	assert_int_equal(tlayer_inits, 3);
	assert_int_equal(tlayer_deinits, 3);

	expect_init_error("tlayer:opt", -EINVAL,
			  "layer 'tlayer' needs a storage below it: "
			  "tlayer:OPTIONS::SPEC");
	expect_init_error("tlayer:opt::", -EINVAL, "needs a storage below");
	expect_init_error("tlayer:", -EINVAL, "needs a storage below");
	/* errors of the parent name the parent's part */
	expect_init_error("tlayer:x::mem:bogus", -EINVAL, "mem:bogus: ");
	expect_init_error("tlayer:x::nope:", -EINVAL, "'nope'");
	/* errors of the layer name the layer's part, parent freed */
	expect_init_error("tlayer:fail::mem:", -EINVAL,
			  "tlayer:fail: told to fail");
	assert_int_equal(tlayer_inits, 3);
}

static void test_secret_redacted(void **state)
{
	const char *error;
	struct fs *fs;

	assert_int_equal(fs_init("tlayer:fail//user:s3cr3t@host/x::mem:", NULL,
				 &fs, &error),
			 -EINVAL);
	assert_null(strstr(error, "s3cr3t"));
	assert_non_null(strstr(error, "tlayer:fail//user:***@host/x"));
	/* without a password there is nothing to hide */
	assert_int_equal(
		fs_init("tlayer:fail//user@host::mem:", NULL, &fs, &error),
		-EINVAL);
	assert_non_null(strstr(error, "tlayer:fail//user@host"));
	/* malformed specs are quoted redacted too */
	assert_int_equal(fs_init("BAD://u:pw@h", NULL, &fs, &error), -EINVAL);
	assert_null(strstr(error, ":pw@"));
}

static void test_init_layer(void **state)
{
	struct fs *parent, *fs;

	/* a layer needs a parent, a leaf must not have one */
	assert_int_equal(fs_init_layer(&tlayer_driver, "", NULL, &fs), -EINVAL);
	assert_null(fs);
	assert_non_null(strstr(fs_init_last_error(), "needs"));
	assert_int_equal(fs_init_layer(&fs_driver_mem, "", NULL, &parent), 0);
	assert_int_equal(fs_init_layer(&tlayer_old_driver, "", parent, &fs),
			 -ENOTSUP);
	assert_non_null(strstr(fs_init_last_error(), "version"));
	assert_int_equal(fs_init_layer(&tlayer_driver, "fail", parent, &fs),
			 -EINVAL);
	assert_null(fs);
	/* still ours after a failure */
	assert_int_equal(fs_init_layer(&tlayer_driver, "x", parent, &fs), 0);
	assert_ptr_equal(fs->parent, parent);
	fs_deinit(&fs);
}

static void test_settings(void **state)
{
	struct fs_settings set;
	const char *error;
	char region[16];
	struct fs *fs;

	fs_settings_init(&set);
	assert_int_equal(set.version, FS_SETTINGS_VERSION);
	assert_null(set.region);
	assert_int_equal(set.max_retries, 0);

	strcpy(region, "eu-west-1");
	set.region = region;
	set.secret_key = "secret";
	set.max_retries = FS_SETTINGS_NO_RETRY;
	set.debug = FS_DEBUG_TRACKER;
	unsetenv("LIBFS_DEBUG");
	assert_int_equal(fs_init("mem:", &set, &fs, &error), 0);
	strcpy(region, "changed");
	/* copied, not referenced */
	assert_string_equal(fs->set.region, "eu-west-1");
	assert_ptr_not_equal(fs->set.secret_key, set.secret_key);
	assert_string_equal(fs->set.secret_key, "secret");
	assert_null(fs->set.access_key);
	assert_int_equal(fs->set.max_retries, FS_SETTINGS_NO_RETRY);
	assert_int_equal(fs->set.debug, FS_DEBUG_TRACKER);
	fs_deinit(&fs);

	/* an uninitialised struct is refused */
	set.version = 0;
	assert_int_equal(fs_init("mem:", &set, &fs, &error), -EINVAL);
	assert_non_null(strstr(error, "fs_settings_init"));
}

static void test_debug_env(void **state)
{
	const char *error;
	struct fs *fs;

	setenv("LIBFS_DEBUG", "http,tracker", 1);
	assert_int_equal(fs_init("mem:", NULL, &fs, &error), 0);
	assert_int_equal(fs->set.debug, FS_DEBUG_HTTP | FS_DEBUG_TRACKER);
	fs_deinit(&fs);
	setenv("LIBFS_DEBUG", "tracker,nonsense", 1);
	assert_int_equal(fs_init("mem:", NULL, &fs, &error), 0);
	assert_int_equal(fs->set.debug, FS_DEBUG_TRACKER);
	fs_deinit(&fs);
	setenv("LIBFS_DEBUG", "all", 1);
	assert_int_equal(fs_init("mem:", NULL, &fs, &error), 0);
	assert_true((fs->set.debug & (FS_DEBUG_HTTP | FS_DEBUG_TRACKER)) ==
		    (FS_DEBUG_HTTP | FS_DEBUG_TRACKER));
	fs_deinit(&fs);
	unsetenv("LIBFS_DEBUG");
}

static void test_misc(void **state)
{
	const char *error;
	struct fs *fs;

	assert_string_equal(fs_version(), LIBFS_VERSION_STRING);
	assert_int_equal(fs_init("mem:", NULL, &fs, NULL), 0);
	assert_int_equal(fs_get_caps(fs) & FS_CAP_ASYNC, 0);
	fs_deinit(&fs);
	fs_deinit(&fs); /* NULL is fine */
	/* the error string stays until the next fs_init() */
	assert_int_equal(fs_init("nope:", NULL, &fs, &error), -EINVAL);
	assert_non_null(strstr(error, "nope"));
	assert_int_equal(fs_init("mem:", NULL, &fs, NULL), 0);
	fs_deinit(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_posix_specs),
		cmocka_unit_test(test_mem_specs),
		cmocka_unit_test(test_unknown_and_not_built),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_layers),
		cmocka_unit_test(test_secret_redacted),
		cmocka_unit_test(test_init_layer),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_debug_env),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
