/*
 * Conformance: listing. Flat and one-level listings in S3's order and
 * grouping (ascending bytes, common prefixes ending in '/'), prefixes that
 * are not directory boundaries, empty results, no ghosts of deleted keys.
 */
#include "conformance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LIST_TOTAL 2500

/* Names whose byte order differs from a per-directory walk: '-' and '.'
   sort before '/', '0' and '~' after it, capitals before small letters,
   UTF-8 after ASCII. No name is both an object and a prefix of others. */
static const char *const tricky_names[] = {
	"a-b", "a.b", "a/b", "a/b-", "a/b0",	   "a/c/d",
	"a0",  "a~",  "A",   "a b",  "aa",	   "\xc3\xa4",
	"z",   "~x",  "B/x", "a/Z",  "a/\xc3\xa4",
};

static void list_names(struct conf_strv *names)
{
	char name[64];
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(tricky_names); i++)
		conf_strv_add(names, tricky_names[i]);
	for (i = 0; i < 20; i++) {
		for (j = 0; j < 100; j++) {
			snprintf(name, sizeof(name), "d%02u/f%03u", i, j);
			conf_strv_add(names, name);
		}
	}
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "d05/sub/x%u", i);
		conf_strv_add(names, name);
	}
	for (i = 0; names->count < LIST_TOTAL; i++) {
		snprintf(name, sizeof(name), "k%03u", i);
		conf_strv_add(names, name);
	}
}

/* Writes the keys in a shuffled order, so that insertion order is not
   the listing order. */
static void put_shuffled(struct conf *c, const struct conf_strv *keys)
{
	size_t *order = conf_alloc(c, keys->count * sizeof(*order));
	uint64_t rnd = 0x2545f4914f6cdd1dull;
	size_t i, j, tmp;

	for (i = 0; i < keys->count; i++)
		order[i] = i;
	for (i = keys->count - 1; i > 0; i--) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		j = (size_t)((rnd >> 33) % (i + 1));
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (i = 0; i < keys->count; i++)
		conf_put_str(c, keys->v[order[i]], "x");
}

/* Lists "" and picks what lies under the test's prefix: must be all keys
   in order. Stops once past the prefix, abandoning the listing. */
static void expect_in_full_listing(struct conf *c, const struct conf_strv *all,
				   unsigned int flags)
{
	struct fs_iter *iter = conf_iter_open(c, "", flags);
	struct conf_strv got = {0}, expected = {0};
	size_t plen = strlen(c->prefix);
	char *prev = NULL;
	const char *key;
	int ret;

	while ((ret = fs_iter_next(iter, &key)) == 1) {
		if (prev != NULL && strcmp(prev, key) >= 0)
			CONF_FAIL("listing \"\" is not ascending at \"%s\"",
				  key);
		free(prev);
		prev = strdup(key);
		if (strncmp(key, c->prefix, plen) == 0 ||
		    strcmp(key, c->prefix) == 0)
			conf_strv_add(&got, key);
		else if (strcmp(key, c->prefix) > 0)
			break;
	}
	free(prev);
	if (ret < 0)
		CHECK_ITER(ret, 0, iter);
	CHECK_ITER(conf_iter_close(c, &iter), 0, NULL);
	if ((flags & FS_ITER_FLAG_ONE_LEVEL) != 0)
		conf_strv_add(&expected, c->prefix);
	else
		conf_expected_listing(all, c->prefix, 0, &expected);
	conf_strv_expect(&got, &expected, "listing of \"\"");
	conf_strv_clear(&got);
	conf_strv_clear(&expected);
}

void test_list_2500(void **state)
{
	static const char *const prefixes[] = {
		"",   "d05/", "d05/sub/", "d1",	      "a",
		"a/", "a/b",  "k1",	  "nothing/",
	};
	struct conf *c = *state;
	struct conf_strv names = {0}, all = {0};
	size_t i;

	conf_require(c, FS_CAP_ITER, "FS_CAP_ITER");
	list_names(&names);
	for (i = 0; i < names.count; i++)
		conf_strv_add(&all, conf_key(c, "%s", names.v[i]));
	conf_strv_clear(&names);
	assert_int_equal(all.count, LIST_TOTAL);
	put_shuffled(c, &all);

	for (i = 0; i < ARRAY_SIZE(prefixes); i++)
		conf_expect_listing(c, conf_key(c, "%s", prefixes[i]), &all);
	expect_in_full_listing(c, &all, 0);
	expect_in_full_listing(c, &all, FS_ITER_FLAG_ONE_LEVEL);
	conf_strv_clear(&all);
}

static void expect_list(struct conf *c, const char *prefix, unsigned int flags,
			const char *const *names, size_t count)
{
	struct conf_strv got = {0}, expected = {0};
	size_t i;

	for (i = 0; i < count; i++)
		conf_strv_add(&expected, conf_key(c, "%s", names[i]));
	conf_list(c, conf_key(c, "%s", prefix), flags, &got);
	conf_strv_expect(&got, &expected, prefix);
	conf_strv_clear(&got);
	conf_strv_clear(&expected);
}

void test_list_prefix_boundary(void **state)
{
	static const char *const names[] = {"p/a", "p/ab/x", "p/abc", "p/abd/e",
					    "p/b"};
	static const char *const flat_ab[] = {"p/ab/x", "p/abc", "p/abd/e"};
	static const char *const one_ab[] = {"p/ab/", "p/abc", "p/abd/"};
	static const char *const one_p[] = {"p/a", "p/ab/", "p/abc", "p/abd/",
					    "p/b"};
	static const char *const flat_abs[] = {"p/ab/x"};
	static const char *const one_top[] = {"p/"};
	struct conf *c = *state;
	size_t i;

	conf_require(c, FS_CAP_ITER, "FS_CAP_ITER");
	for (i = 0; i < ARRAY_SIZE(names); i++)
		conf_put_str(c, conf_key(c, "%s", names[i]), names[i]);
	expect_list(c, "p/ab", 0, flat_ab, ARRAY_SIZE(flat_ab));
	expect_list(c, "p/ab", FS_ITER_FLAG_ONE_LEVEL, one_ab,
		    ARRAY_SIZE(one_ab));
	expect_list(c, "p/", FS_ITER_FLAG_ONE_LEVEL, one_p, ARRAY_SIZE(one_p));
	expect_list(c, "p/ab/", 0, flat_abs, ARRAY_SIZE(flat_abs));
	expect_list(c, "p/ab/", FS_ITER_FLAG_ONE_LEVEL, flat_abs,
		    ARRAY_SIZE(flat_abs));
	expect_list(c, "", FS_ITER_FLAG_ONE_LEVEL, one_top,
		    ARRAY_SIZE(one_top));
	expect_list(c, "p", FS_ITER_FLAG_ONE_LEVEL, one_top,
		    ARRAY_SIZE(one_top));
	expect_list(c, "p/", 0, names, ARRAY_SIZE(names));
}

void test_list_empty(void **state)
{
	struct conf *c = *state;
	struct conf_strv none = {0};
	struct fs_iter *iter = NULL;
	char *longp;

	if ((c->caps & FS_CAP_ITER) == 0) {
		CHECK_FS(fs_iter_init(c->fs, c->prefix, 0, &iter), -ENOTSUP, c,
			 c->prefix);
		assert_null(iter);
		return;
	}
	conf_expect_listing(c, c->prefix, &none);
	conf_expect_listing(c, conf_key(c, "nothing/under/here/"), &none);
	conf_expect_listing(c, conf_key(c, "nothing"), &none);

	CHECK_FS(fs_iter_init(c->fs, "a\x01", 0, &iter), -EINVAL, c, "a\\x01");
	assert_null(iter);
	longp = conf_alloc(c, FS_KEY_MAX + 2);
	memset(longp, 'a', FS_KEY_MAX + 1);
	CHECK_FS(fs_iter_init(c->fs, longp, 0, &iter), -EINVAL, c,
		 "(FS_KEY_MAX + 1 bytes)");
	assert_null(iter);
}

void test_list_no_empty_dirs(void **state)
{
	struct conf *c = *state;
	const char *deep = conf_strdup(c, conf_key(c, "x/y/z"));
	const char *side = conf_strdup(c, conf_key(c, "x/w"));
	struct conf_strv none = {0}, keys = {0};

	conf_require(c, FS_CAP_ITER, "FS_CAP_ITER");
	conf_put_str(c, deep, "z");
	conf_put_str(c, side, "w");
	conf_delete(c, deep);
	conf_strv_add(&keys, side);
	conf_expect_listing(c, c->prefix, &keys);
	conf_expect_listing(c, conf_key(c, "x/"), &keys);
	conf_strv_clear(&keys);
	conf_delete(c, side);
	conf_expect_listing(c, c->prefix, &none);
	conf_expect_listing(c, conf_key(c, "x/"), &none);
}

/* Prefixes no valid key can start with list nothing and never reach outside
   what the stack holds. */
void test_list_impossible_prefix(void **state)
{
	struct conf *c = *state;
	static const char *const prefixes[] = {"../", "/", "a//", "./",
					       "a/../"};
	struct conf_strv none = {0};
	size_t i;

	conf_require(c, FS_CAP_ITER, "listing");
	conf_put_str(c, conf_key(c, "x"), "x");
	for (i = 0; i < ARRAY_SIZE(prefixes); i++)
		conf_expect_listing(c, prefixes[i], &none);
	conf_delete(c, conf_key(c, "x"));
}

/* fs_delete_prefix() deletes exactly the keys under the prefix, in batches
   where the backend has them, and refuses the empty prefix. */
void test_delete_prefix(void **state)
{
	struct conf *c = *state;
	struct conf_strv left = {0};
	const char *prefix;
	char name[64];
	int i;

	conf_require(c, FS_CAP_ITER, "deleting by prefix");
	for (i = 0; i < 1100; i++) {
		snprintf(name, sizeof(name), "d/%c/%04d", 'a' + i % 3, i);
		conf_put_str(c, conf_key(c, "%s", name), name);
	}
	conf_put_str(c, conf_key(c, "d2/stays"), "stays");
	conf_put_str(c, conf_key(c, "dx"), "stays too");

	prefix = conf_key(c, "d/");
	CHECK_FS(fs_delete_prefix(c->fs, prefix), 1100, c, prefix);
	{
		struct conf_strv none = {0};

		conf_expect_listing(c, prefix, &none);
	}
	conf_expect_str(c, conf_key(c, "d2/stays"), "stays");
	conf_expect_str(c, conf_key(c, "dx"), "stays too");
	CHECK_FS(fs_delete_prefix(c->fs, prefix), 0, c, prefix);
	CHECK_FS(fs_delete_prefix(c->fs, ""), -EINVAL, c, "(empty prefix)");
	CHECK_FS(fs_delete_prefix(c->fs, "../"), 0, c, "../");

	conf_strv_add(&left, conf_key(c, "dx"));
	conf_strv_add(&left, conf_key(c, "d2/stays"));
	conf_strv_sort_unique(&left);
	conf_expect_listing(c, c->prefix, &left);
	conf_strv_clear(&left);
}
