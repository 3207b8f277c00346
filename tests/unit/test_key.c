/*
 * fs_key_validate(): every rule of fs.h, and fs_file_init() applying it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "libfs/driver.h"
#include "libfs/fs.h"

static void assert_valid(const char *key)
{
	const char *reason = "unset";

	if (fs_key_validate(key, &reason) != 0)
		fail_msg("key '%s' rejected: %s", key, reason);
	assert_null(reason);
}

static void assert_invalid(const char *key, const char *reason_part)
{
	const char *reason = NULL;

	if (fs_key_validate(key, &reason) != -EINVAL)
		fail_msg("key '%s' accepted", key);
	assert_non_null(reason);
	if (strstr(reason, reason_part) == NULL)
		fail_msg("key '%s': reason '%s' lacks '%s'", key, reason,
			 reason_part);
	/* reason_r is optional */
	assert_int_equal(fs_key_validate(key, NULL), -EINVAL);
}

static void test_valid_keys(void **state)
{
	assert_valid("a");
	assert_valid("a/b/c");
	assert_valid("mail/user@example.com/cur/1234.M5P6.host,S=100:2,S");
	assert_valid("with space");
	assert_valid("plus+percent%20hash#question?");
	assert_valid("...");
	assert_valid("a/.../b");
	assert_valid(".hidden");
	assert_valid("a/..b/c..");
	assert_valid(".libfs"); /* not the full reserved prefix */
	assert_valid("x.libfs-y");
	/* UTF-8: 2, 3 and 4 byte sequences, and the largest code point */
	assert_valid("caf\xc3\xa9");
	assert_valid("\xe2\x82\xac/\xe6\x97\xa5\xe6\x9c\xac");
	assert_valid("\xf0\x9f\x93\xa7");
	assert_valid("\xf4\x8f\xbf\xbf");
	assert_valid("\xed\x9f\xbf"); /* U+D7FF, just below the surrogates */
	assert_valid("\xee\x80\x80"); /* U+E000, just above */
	assert_valid("~!$&'()*,;=[]{}|^`\\\"<>");
}

static void test_length_limits(void **state)
{
	char key[FS_KEY_MAX + 2];
	size_t i;

	/* FS_KEY_MAX bytes in segments of 100 is valid, one more is not */
	for (i = 0; i < FS_KEY_MAX; i++)
		key[i] = i % 101 == 100 ? '/' : 'k';
	key[FS_KEY_MAX] = '\0';
	assert_valid(key);
	key[FS_KEY_MAX] = 'k';
	key[FS_KEY_MAX + 1] = '\0';
	assert_invalid(key, "too long");

	/* a segment of FS_KEY_SEGMENT_MAX is valid, one more is not */
	memset(key, 's', FS_KEY_SEGMENT_MAX);
	key[FS_KEY_SEGMENT_MAX] = '\0';
	assert_valid(key);
	memcpy(key, "a/", 2);
	memset(key + 2, 's', FS_KEY_SEGMENT_MAX + 1);
	key[FS_KEY_SEGMENT_MAX + 3] = '\0';
	assert_invalid(key, "segment is too long");
}

static void test_structure(void **state)
{
	assert_invalid("", "empty");
	assert_invalid(NULL, "empty");
	assert_invalid("/a", "starts with '/'");
	assert_invalid("/", "starts with '/'");
	assert_invalid("a/", "ends with '/'");
	assert_invalid("a//b", "empty segment");
	assert_invalid(".", "'.' or '..'");
	assert_invalid("..", "'.' or '..'");
	assert_invalid("a/./b", "'.' or '..'");
	assert_invalid("a/../b", "'.' or '..'");
	assert_invalid("a/..", "'.' or '..'");
	assert_invalid("../a", "'.' or '..'");
}

static void test_reserved_prefix(void **state)
{
	assert_invalid(FS_RESERVED_PREFIX "tmp", "reserved");
	assert_invalid("a/" FS_RESERVED_PREFIX "x/b", "reserved");
	assert_invalid("a/" FS_RESERVED_PREFIX, "reserved");
}

static void test_control_bytes(void **state)
{
	char key[8];
	int c;

	for (c = 1; c < 0x20; c++) {
		snprintf(key, sizeof(key), "a%cb", c);
		assert_invalid(key, "control");
	}
	assert_invalid("a\x7f", "control");
	assert_invalid("\ta", "control");
	assert_invalid("a/b\n", "control");
}

static void test_invalid_utf8(void **state)
{
	assert_invalid("\x80", "UTF-8"); /* stray continuation */
	assert_invalid("a\xbf", "UTF-8");
	assert_invalid("\xc3", "UTF-8"); /* truncated */
	assert_invalid("\xe2\x82", "UTF-8");
	assert_invalid("\xf0\x9f\x93", "UTF-8");
	assert_invalid("\xc3\x28", "UTF-8"); /* bad continuation */
	assert_invalid("\xc0\xaf", "UTF-8"); /* overlong '/' */
	assert_invalid("\xc1\xbf", "UTF-8");
	assert_invalid("\xe0\x80\xaf", "UTF-8"); /* overlong 3 bytes */
	assert_invalid("\xe0\x9f\xbf", "UTF-8");
	assert_invalid("\xf0\x80\x80\xaf", "UTF-8"); /* overlong 4 bytes */
	assert_invalid("\xf0\x8f\xbf\xbf", "UTF-8");
	assert_invalid("\xed\xa0\x80", "UTF-8");     /* U+D800 surrogate */
	assert_invalid("\xed\xbf\xbf", "UTF-8");     /* U+DFFF */
	assert_invalid("\xf4\x90\x80\x80", "UTF-8"); /* U+110000 */
	assert_invalid("\xf5\x80\x80\x80", "UTF-8");
	assert_invalid("\xfe", "UTF-8");
	assert_invalid("\xff", "UTF-8");
}

/* fs_file_init() rejects the same keys, with a message on the fs. */
static void test_file_init_validates(void **state)
{
	static const char *const bad[] = {
		"",	"/a",	    "a/",
		"a//b", "..",	    "a/./b",
		"a\nb", "\xc0\xaf", FS_RESERVED_PREFIX "x",
	};
	struct fs_file *file = (void *)1;
	const char *error;
	struct fs *fs;
	size_t i;

	assert_int_equal(fs_init("mem:", NULL, &fs, &error), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fs_file_init(fs, bad[i], FS_OPEN_READ, &file),
				 -EINVAL);
		assert_null(file);
		assert_non_null(strstr(fs_last_error(fs), "invalid key"));
		/* control bytes are not echoed into the message */
		assert_null(strchr(fs_last_error(fs), '\n'));
	}
	assert_int_equal(fs_file_init(fs, "ok key", FS_OPEN_READ, &file), 0);
	assert_string_equal(fs_file_key(file), "ok key");
	assert_ptr_equal(fs_file_fs(file), fs);
	fs_file_deinit(&file);
	assert_null(file);
	fs_deinit(&fs);
	assert_null(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_keys),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_reserved_prefix),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_file_init_validates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
