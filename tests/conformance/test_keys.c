/*
 * Conformance: keys. Characters that need escaping on the wire or on disk
 * must round-trip, the limits of fs.h must hold exactly, and every invalid
 * key must be rejected by fs_file_init() with -EINVAL.
 */
#include "conformance.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const special_names[] = {
	"with space",
	"two  spaces/ lead and trail ",
	"plus+sign",
	"percent%25and%",
	"a%2Fb",
	"%00",
	"hash#frag",
	"question?x=1&y=2",
	"tilde~x",
	"amp&er",
	"eq=ual",
	"subdelims!$'()*,;:@",
	"\xc3\xa4/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xf0\x9f\x99\x82",
	"UPPER/lower",
	".hidden",
	"..x",
	"x..",
	"...",
	"x.libfs-y",
	"-dash_under",
	"deep/l01/l02/l03/l04/l05/l06/l07/l08/l09/l10/l11/l12/l13/l14/l15/"
	"l16/l17/l18/l19/l20/l21/l22/l23/l24/l25/l26/l27/l28/l29/l30/leaf",
};

/* Each object holds its own name, so a mixed-up key shows. */
static void put_named(struct conf *c, const char *key)
{
	conf_put_str(c, key, key + strlen(c->prefix));
}

static void check_named(struct conf *c, const char *key)
{
	conf_expect_str(c, key, key + strlen(c->prefix));
	conf_expect_size(c, key, strlen(key) - strlen(c->prefix));
	if (conf_exists(c, key) != 1)
		CONF_FAIL("%s does not exist after writing it",
			  conf_escape(key));
}

static void roundtrip_keys(struct conf *c, const struct conf_strv *keys)
{
	size_t i;

	for (i = 0; i < keys->count; i++)
		put_named(c, keys->v[i]);
	for (i = 0; i < keys->count; i++)
		check_named(c, keys->v[i]);
	if ((c->caps & FS_CAP_ITER) != 0) {
		conf_expect_listing(c, c->prefix, keys);
		for (i = 0; i < keys->count; i++)
			conf_expect_listing(c, keys->v[i], keys);
	}
	for (i = 0; i < keys->count; i++) {
		conf_delete(c, keys->v[i]);
		conf_expect_missing(c, keys->v[i]);
	}
}

void test_special_keys(void **state)
{
	struct conf *c = *state;
	struct conf_strv keys = {0};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(special_names); i++) {
		const char *key = conf_key(c, "%s", special_names[i]);

		CHECK_FS(fs_key_validate(key, NULL), 0, c, key);
		conf_strv_add(&keys, key);
	}
	roundtrip_keys(c, &keys);
	conf_strv_clear(&keys);
}

/* prefix + "lim/" + segments of seg bytes up to exactly len bytes. */
static void make_long_key(struct conf *c, char *buf, size_t len, size_t seg)
{
	size_t pos = (size_t)snprintf(buf, len + 1, "%slim/", c->prefix);
	size_t run = 0;

	while (pos < len) {
		/* Never end in '/', never put two in a row. */
		if (run == seg && pos + 1 < len) {
			buf[pos++] = '/';
			run = 0;
			continue;
		}
		buf[pos++] = (char)('a' + run % 26);
		run++;
	}
	buf[pos] = '\0';
}

void test_key_limits(void **state)
{
	struct conf *c = *state;
	struct fs_limits limits;
	size_t max;
	size_t seg_len = strlen(c->prefix) + 4 + FS_KEY_SEGMENT_MAX;
	char *longest = conf_alloc(c, FS_KEY_MAX + 2);
	char *segment = conf_alloc(c, FS_KEY_MAX + 1);
	struct conf_strv keys = {0};
	struct fs_file *file = NULL;

	fs_get_limits(c->fs, &limits);
	max = limits.key_max;
	if (max > FS_KEY_MAX || max < strlen(c->prefix) + 16)
		CONF_FAIL("fs_get_limits(): key_max %zu out of range", max);
	/* Exactly the stack's longest key; where that is below FS_KEY_MAX, one
	   byte more is refused at once. */
	make_long_key(c, longest, max, 200);
	assert_int_equal(strlen(longest), max);
	CHECK_FS(fs_key_validate(longest, NULL), 0, c, longest);
	conf_strv_add(&keys, longest);
	/* A segment of FS_KEY_SEGMENT_MAX, where the stack takes keys that
	   long. */
	if (seg_len <= max) {
		make_long_key(c, segment, seg_len, FS_KEY_SEGMENT_MAX);
		assert_int_equal(strlen(strrchr(segment, '/') + 1),
				 FS_KEY_SEGMENT_MAX);
		CHECK_FS(fs_key_validate(segment, NULL), 0, c, segment);
		conf_strv_add(&keys, segment);
	}
	roundtrip_keys(c, &keys);
	conf_strv_clear(&keys);

	if (max < FS_KEY_MAX) {
		make_long_key(c, longest, max + 1, 200);
		CHECK_FS(conf_try_open(c, longest, FS_OPEN_REPLACE, &file),
			 -EINVAL, c, longest);
		assert_null(file);
	}
}

static void expect_invalid(struct conf *c, const char *key)
{
	static const unsigned int modes[] = {FS_OPEN_READ, FS_OPEN_CREATE,
					     FS_OPEN_REPLACE};
	const char *reason = NULL;
	struct fs_file *file;
	size_t i;

	CHECK_FS(fs_key_validate(key, &reason), -EINVAL, c, key);
	if (reason == NULL || reason[0] == '\0')
		CONF_FAIL("fs_key_validate(%s) gave no reason",
			  conf_escape(key));
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		file = NULL;
		CHECK_FS(conf_try_open(c, key, modes[i], &file), -EINVAL, c,
			 key);
		assert_null(file);
		if (fs_last_error(c->fs)[0] == '\0')
			CONF_FAIL("fs_file_init(%s) failed without a message",
				  conf_escape(key));
	}
}

static const char *const invalid_keys[] = {
	"",
	"/a",
	"a/",
	"a//b",
	".",
	"..",
	"./a",
	"a/.",
	"a/..",
	"a/./b",
	"a/../b",
	"../x",
	"a\nb",
	"a\rb",
	"\tx",
	"a\x01",
	"a\x1f",
	"a\x7f",
	"\xff",
	"a\xfe",
	"\xc0\xaf",	    /* overlong '/' */
	"\xe0\x80\xaf",	    /* overlong '/' */
	"\xe6\x97",	    /* truncated */
	"\x80x",	    /* stray continuation byte */
	"\xed\xa0\x80",	    /* UTF-16 surrogate */
	"\xf4\x90\x80\x80", /* above U+10FFFF */
	".libfs-tmp.x",
	"a/.libfs-tmp.x",
	".libfs-",
};

void test_invalid_keys(void **state)
{
	struct conf *c = *state;
	char *key = conf_alloc(c, 2 * FS_KEY_MAX);
	struct fs_file *file = NULL;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(invalid_keys); i++) {
		expect_invalid(c, invalid_keys[i]);
		/* The same under the test's prefix, where that is still
		   invalid. */
		if (invalid_keys[i][0] != '\0' && invalid_keys[i][0] != '/')
			expect_invalid(c, conf_key(c, "%s", invalid_keys[i]));
	}
	/* FS_KEY_MAX + 1 bytes with short segments. */
	make_long_key(c, key, FS_KEY_MAX + 1, 100);
	expect_invalid(c, key);
	/* A segment of FS_KEY_SEGMENT_MAX + 1 bytes. */
	make_long_key(c, key, strlen(c->prefix) + 4 + FS_KEY_SEGMENT_MAX + 1,
		      FS_KEY_SEGMENT_MAX + 1);
	expect_invalid(c, key);

	/* Bad modes. */
	CHECK_FS(conf_try_open(c, conf_key(c, "k"), 7, &file), -EINVAL, c,
		 "mode 7");
	CHECK_FS(conf_try_open(c, conf_key(c, "k"), 4, &file), -EINVAL, c,
		 "mode 4");
	conf_expect_missing(c, conf_key(c, "k"));
}

/* A key that is only a prefix of others ("a directory") is no object. */
void test_prefix_is_not_object(void **state)
{
	struct conf *c = *state;
	const char *leaf = conf_strdup(c, conf_key(c, "pno/dir/x"));
	const char *dirs[2];
	struct fs_file *file;
	unsigned char buf[8];
	struct fs_stat st;
	size_t i;

	dirs[0] = conf_strdup(c, conf_key(c, "pno/dir"));
	dirs[1] = conf_strdup(c, conf_key(c, "pno"));
	conf_put_str(c, leaf, "leaf");
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		file = conf_open(c, dirs[i], FS_OPEN_READ);
		CHECK_FILE(fs_file_exists(file), 0, file);
		CHECK_FILE(fs_file_stat(file, &st), -ENOENT, file);
		CHECK_FILE(fs_read(file, buf, sizeof(buf)), -ENOENT, file);
		conf_close(c, &file);
		file = conf_open(c, dirs[i], FS_OPEN_READ);
		CHECK_FILE(fs_file_delete(file), -ENOENT, file);
		conf_close(c, &file);
	}
	conf_expect_str(c, leaf, "leaf");
}
