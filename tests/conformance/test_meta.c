/*
 * Conformance: metadata stored with objects, copy and rename.
 */
#include "conformance.h"

#include <errno.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Sorted by name, as fs_file_get_metadata_all() returns them. */
static const struct fs_metadata md_sample[] = {
	{"a-b", "value=with=equals;and;semis: and colons"},
	{"dup", "2"},
	{"from", "Gr\xc3\xbc\xc3\x9f"
		 "e aus K\xc3\xb6ln \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82"},
	{"n_1", "1"},
	{"subject", "Hello world, with  two spaces"},
};

static void set_sample(struct fs_file *file)
{
	size_t i;

	/* Set dup twice: the last value wins. */
	CHECK_FILE(fs_file_set_metadata(file, "dup", "1"), 0, file);
	for (i = 0; i < ARRAY_SIZE(md_sample); i++)
		CHECK_FILE(fs_file_set_metadata(file, md_sample[i].name,
						md_sample[i].value),
			   0, file);
}

static void expect_md(struct conf *c, const char *key,
		      const struct fs_metadata *md, size_t count)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	const struct fs_metadata *all = NULL;
	const char *value = NULL;
	size_t i;

	for (i = 0; i < count; i++) {
		CHECK_FILE(fs_file_get_metadata(file, md[i].name, &value), 1,
			   file);
		if (value == NULL || strcmp(value, md[i].value) != 0)
			CONF_FAIL("%s: metadata %s = \"%s\", expected \"%s\"",
				  key, md[i].name, value ? value : "(null)",
				  md[i].value);
	}
	CHECK_FILE(fs_file_get_metadata(file, "absent", &value), 0, file);
	CHECK_FILE(fs_file_get_metadata_all(file, &all), count, file);
	for (i = 0; i < count; i++) {
		if (strcmp(all[i].name, md[i].name) != 0 ||
		    strcmp(all[i].value, md[i].value) != 0)
			CONF_FAIL("%s: metadata entry %zu is %s=\"%s\", "
				  "expected %s=\"%s\"",
				  key, i, all[i].name, all[i].value, md[i].name,
				  md[i].value);
	}
	conf_close(c, &file);
}

static void metadata_unsupported(struct conf *c, const char *key)
{
	const struct fs_metadata *all = NULL;
	struct fs_file *file = conf_open(c, key, FS_OPEN_REPLACE);
	const char *value = NULL;

	CHECK_FILE(fs_file_set_metadata(file, "name", "value"), -ENOTSUP, file);
	CHECK_FILE(fs_write_all(file, "body", 4), 0, file);
	conf_close(c, &file);
	file = conf_open(c, key, FS_OPEN_READ);
	CHECK_FILE(fs_file_get_metadata(file, "name", &value), -ENOTSUP, file);
	CHECK_FILE(fs_file_get_metadata_all(file, &all), -ENOTSUP, file);
	conf_close(c, &file);
	conf_expect_str(c, key, "body");
}

void test_metadata(void **state)
{
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "md/obj"));
	const char *key2 = conf_strdup(c, conf_key(c, "md/created"));
	struct fs_file *file;

	if ((c->caps & FS_CAP_METADATA) == 0) {
		metadata_unsupported(c, key);
		return;
	}
	file = conf_open(c, key, FS_OPEN_REPLACE);
	set_sample(file);
	CHECK_FILE(fs_write_all(file, "body", 4), 0, file);
	/* Too late once the write finished. */
	if (fs_file_set_metadata(file, "late", "x") >= 0)
		CONF_FAIL("fs_file_set_metadata() after finishing succeeded");
	conf_close(c, &file);
	expect_md(c, key, md_sample, ARRAY_SIZE(md_sample));
	conf_expect_str(c, key, "body");

	/* Only for files open for writing. */
	file = conf_open(c, key, FS_OPEN_READ);
	if (fs_file_set_metadata(file, "x", "y") >= 0)
		CONF_FAIL("fs_file_set_metadata() on a read file succeeded");
	conf_close(c, &file);

	/* A replacement without metadata has none. */
	conf_put_str(c, key, "plain");
	expect_md(c, key, NULL, 0);

	file = conf_open(c, key2, FS_OPEN_CREATE);
	set_sample(file);
	conf_write_gen(c, file, 95, 200000, NULL, 0);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);
	expect_md(c, key2, md_sample, ARRAY_SIZE(md_sample));
	conf_expect_gen(c, key2, 95, 200000);
}

static const char *const md_bad_names[] = {
	"", "Upper", "a b", "a.b", "\xc3\xa4", "a/b", "a=b", "a:b", "a\n",
};

static const char *const md_bad_values[] = {
	"a\nb", "\x01", "tab\there", "cr\r", "\x7f", "\xff", "\xc0\xaf",
};

void test_metadata_invalid(void **state)
{
	static const struct fs_metadata stored[3] = {
		{"big", NULL}, {"m", "1234567890123"}, {NULL, "v"}};
	struct fs_metadata expected[3];
	struct conf *c = *state;
	const char *key = conf_strdup(c, conf_key(c, "md/limits"));
	char *name = conf_alloc(c, FS_METADATA_NAME_MAX + 2);
	char *big = conf_alloc(c, FS_METADATA_TOTAL_MAX);
	struct fs_limits limits;
	struct fs_file *file;
	size_t i, big_len;

	conf_require(c, FS_CAP_METADATA, "FS_CAP_METADATA");
	fs_get_limits(c->fs, &limits);
	if (limits.metadata_max < FS_METADATA_NAME_MAX + 1 + 3 + 14 + 100)
		CONF_FAIL("fs_get_limits(): metadata_max %zu too small",
			  limits.metadata_max);
	file = conf_open(c, key, FS_OPEN_REPLACE);
	for (i = 0; i < ARRAY_SIZE(md_bad_names); i++)
		CHECK_FILE(fs_file_set_metadata(file, md_bad_names[i], "v"),
			   -EINVAL, file);
	for (i = 0; i < ARRAY_SIZE(md_bad_values); i++)
		CHECK_FILE(fs_file_set_metadata(file, "n", md_bad_values[i]),
			   -EINVAL, file);
	memset(name, 'n', FS_METADATA_NAME_MAX + 1);
	CHECK_FILE(fs_file_set_metadata(file, name, "v"), -EINVAL, file);
	name[FS_METADATA_NAME_MAX] = '\0';
	CHECK_FILE(fs_file_set_metadata(file, name, "v"), 0, file);

	/* name (128 + 1) + "big" + big_len = the stack's limit - 16 bytes:
	   24 more would pass it, 14 not. */
	big_len = limits.metadata_max - 16 - (FS_METADATA_NAME_MAX + 1) - 3;
	memset(big, 'b', big_len);
	CHECK_FILE(fs_file_set_metadata(file, "big", big), 0, file);
	CHECK_FILE(fs_file_set_metadata(file, "more", "12345678901234567890"),
		   -EINVAL, file);
	CHECK_FILE(fs_file_set_metadata(file, "m", "1234567890123"), 0, file);
	CHECK_FILE(fs_write_all(file, "limits", 6), 0, file);
	conf_close(c, &file);

	memcpy(expected, stored, sizeof(expected));
	expected[0].value = big;
	expected[2].name = name;
	expect_md(c, key, expected, ARRAY_SIZE(expected));
}

/* Copies or renames src to dst (opened with mode); expects ret. */
static void copy_expect(struct conf *c, const char *src, const char *dst,
			unsigned int mode, bool rename, int expected)
{
	struct fs_file *s = conf_open(c, src, FS_OPEN_READ);
	struct fs_file *d = conf_open(c, dst, mode);

	if (rename)
		CHECK_FILE(fs_rename(s, d), expected, d);
	else
		CHECK_FILE(fs_copy(s, d), expected, d);
	if (expected < 0 && fs_file_last_error(d)[0] == '\0')
		CONF_FAIL("%s failed without a message on dst",
			  rename ? "fs_rename()" : "fs_copy()");
	conf_close(c, &s);
	conf_close(c, &d);
}

static const struct fs_metadata md_copy[] = {
	{"k", "v"},
	{"utf", "\xc3\xa4 \xf0\x9f\x99\x82"},
};

static void put_source(struct conf *c, const char *key, uint64_t seed)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_REPLACE);
	size_t i;

	if ((c->caps & FS_CAP_METADATA) != 0) {
		for (i = 0; i < ARRAY_SIZE(md_copy); i++)
			CHECK_FILE(fs_file_set_metadata(file, md_copy[i].name,
							md_copy[i].value),
				   0, file);
	}
	conf_write_gen(c, file, seed, 300 * CONF_KIB + 3, NULL, 0);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);
}

static void expect_source(struct conf *c, const char *key, uint64_t seed)
{
	conf_expect_gen(c, key, seed, 300 * CONF_KIB + 3);
	if ((c->caps & FS_CAP_METADATA) != 0)
		expect_md(c, key, md_copy, ARRAY_SIZE(md_copy));
}

void test_copy(void **state)
{
	struct conf *c = *state;
	const char *src = conf_strdup(c, conf_key(c, "cp/src"));
	const char *dnew = conf_strdup(c, conf_key(c, "cp/dst-new"));
	const char *dold = conf_strdup(c, conf_key(c, "cp/dst-old"));
	const char *none = conf_strdup(c, conf_key(c, "cp/dst-none"));
	const char *empty = conf_strdup(c, conf_key(c, "cp/empty"));
	const char *empty2 = conf_strdup(c, conf_key(c, "cp/empty-copy"));

	put_source(c, src, 91);
	copy_expect(c, src, dnew, FS_OPEN_CREATE, false, 0);
	expect_source(c, dnew, 91);
	expect_source(c, src, 91);

	conf_put_str(c, dold, "old");
	copy_expect(c, src, dold, FS_OPEN_CREATE, false, -EEXIST);
	conf_expect_str(c, dold, "old");
	copy_expect(c, src, dold, FS_OPEN_REPLACE, false, 0);
	expect_source(c, dold, 91);

	copy_expect(c, conf_key(c, "cp/missing"), none, FS_OPEN_CREATE, false,
		    -ENOENT);
	conf_expect_missing(c, none);

	conf_put(c, empty, "", 0);
	copy_expect(c, empty, empty2, FS_OPEN_REPLACE, false, 0);
	conf_expect_str(c, empty2, "");

	/* dst must be open for writing. */
	copy_expect(c, src, empty2, FS_OPEN_READ, false, -EINVAL);
	conf_expect_str(c, empty2, "");
	expect_source(c, src, 91);
}

void test_rename(void **state)
{
	struct conf *c = *state;
	const char *src = conf_strdup(c, conf_key(c, "rn/src"));
	const char *dnew = conf_strdup(c, conf_key(c, "rn/sub/dst-new"));
	const char *dold = conf_strdup(c, conf_key(c, "rn/dst-old"));
	const char *none = conf_strdup(c, conf_key(c, "rn/dst-none"));
	struct conf_strv keys = {0};

	put_source(c, src, 92);
	copy_expect(c, src, dnew, FS_OPEN_CREATE, true, 0);
	conf_expect_missing(c, src);
	expect_source(c, dnew, 92);

	put_source(c, src, 93);
	conf_put_str(c, dold, "old");
	copy_expect(c, src, dold, FS_OPEN_CREATE, true, -EEXIST);
	expect_source(c, src, 93);
	conf_expect_str(c, dold, "old");
	copy_expect(c, src, dold, FS_OPEN_REPLACE, true, 0);
	conf_expect_missing(c, src);
	expect_source(c, dold, 93);

	copy_expect(c, src, none, FS_OPEN_CREATE, true, -ENOENT);
	conf_expect_missing(c, none);

	if ((c->caps & FS_CAP_ITER) != 0) {
		conf_strv_add(&keys, dnew);
		conf_strv_add(&keys, dold);
		conf_expect_listing(c, c->prefix, &keys);
		conf_strv_clear(&keys);
	}
}
