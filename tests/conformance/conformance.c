/*
 * The libfs conformance suite.
 *
 *   conformance SPEC [TEST-GLOB]
 *
 * Runs every test over the stack SPEC names. "@TMPDIR@" in SPEC is replaced
 * by a fresh directory, removed at the end. Each test opens a fresh fs from
 * SPEC and works under its own key prefix "conf-PID-N/", and cleans up.
 * LIBFS_CONF_BIG_MIB sets the size of the large streamed object (default
 * 100; lower it for valgrind runs).
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TMPDIR_MARK "@TMPDIR@"

const char *conf_spec;
uint64_t conf_big_size = 100 * CONF_MIB;
const char *conf_tmpdir;

#define CONF_TEST(f)                                                           \
	cmocka_unit_test_setup_teardown(f, conf_setup, conf_teardown)

static const struct CMUnitTest conf_tests[] = {
	CONF_TEST(test_api_basics),
	CONF_TEST(test_roundtrip_sizes),
	CONF_TEST(test_whole_object_helpers),
	CONF_TEST(test_odd_chunks),
	CONF_TEST(test_big_stream),
	CONF_TEST(test_create_replace),
	CONF_TEST(test_abort),
	CONF_TEST(test_range_reads),
	CONF_TEST(test_range_misuse),
	CONF_TEST(test_stat),
	CONF_TEST(test_missing_key),
	CONF_TEST(test_list_2500),
	CONF_TEST(test_list_prefix_boundary),
	CONF_TEST(test_list_empty),
	CONF_TEST(test_list_no_empty_dirs),
	CONF_TEST(test_list_impossible_prefix),
	CONF_TEST(test_delete_prefix),
	CONF_TEST(test_revalidate),
	CONF_TEST(test_copy),
	CONF_TEST(test_rename),
	CONF_TEST(test_metadata),
	CONF_TEST(test_metadata_invalid),
	CONF_TEST(test_special_keys),
	CONF_TEST(test_key_limits),
	CONF_TEST(test_invalid_keys),
	CONF_TEST(test_prefix_is_not_object),
	CONF_TEST(test_two_replace_writers),
	CONF_TEST(test_two_create_writers),
	CONF_TEST(test_reader_isolation),
	CONF_TEST(test_append),
	CONF_TEST(test_fsync_flag),
	CONF_TEST(test_async_many),
	CONF_TEST(test_async_busy_cancel),
	CONF_TEST(test_stats),
	/* Last: checks what all the others left behind. */
	cmocka_unit_test(test_no_leftovers),
};

/* Returns spec with every TMPDIR_MARK replaced by dir. */
static char *replace_mark(const char *spec, const char *dir)
{
	size_t mlen = strlen(TMPDIR_MARK), dlen = strlen(dir), n = 0;
	const char *p;
	char *out, *o;

	for (p = spec; (p = strstr(p, TMPDIR_MARK)) != NULL; p += mlen)
		n++;
	out = malloc(strlen(spec) + n * dlen + 1);
	if (out == NULL)
		return NULL;
	for (o = out; (p = strstr(spec, TMPDIR_MARK)) != NULL;
	     spec = p + mlen) {
		memcpy(o, spec, (size_t)(p - spec));
		o += p - spec;
		memcpy(o, dir, dlen);
		o += dlen;
	}
	strcpy(o, spec);
	return out;
}

static char *expand_spec(const char *spec, char **tmpdir_r)
{
	*tmpdir_r = NULL;
	if (strstr(spec, TMPDIR_MARK) == NULL)
		return strdup(spec);
	*tmpdir_r = conf_tmpdir_create(NULL);
	if (*tmpdir_r == NULL)
		return NULL;
	return replace_mark(spec, *tmpdir_r);
}

/* Prints the stack and its capabilities, so a log says what was tested. */
static int describe_stack(void)
{
	const char *error = NULL, *name;
	struct fs *fs = NULL;
	unsigned int depth;
	int ret;

	ret = fs_init(conf_spec, conf_settings(), &fs, &error);
	if (ret < 0) {
		fprintf(stderr, "fs_init(\"%s\") = %s: %s\n", conf_spec,
			fs_errno_name(ret), error != NULL ? error : "");
		return -1;
	}
	printf("spec: %s\nstack:", conf_spec);
	for (depth = 0; (name = fs_driver_name(fs, depth)) != NULL; depth++)
		printf(" %s", name);
	printf("\ncaps: 0x%x\n", fs_get_caps(fs));
	fs_deinit(&fs);
	return 0;
}

int conformance_main(int argc, char **argv)
{
	const char *big = getenv("LIBFS_CONF_BIG_MIB");
	char *spec, *tmpdir = NULL;
	int ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SPEC [TEST-GLOB]\n", argv[0]);
		return 2;
	}
	if (big != NULL)
		conf_big_size = strtoull(big, NULL, 10) * CONF_MIB;
	spec = expand_spec(argv[1], &tmpdir);
	if (spec == NULL) {
		conf_tmpdir_remove(&tmpdir);
		return 1;
	}
	conf_spec = spec;
	conf_tmpdir = tmpdir;
	if (argc == 3)
		cmocka_set_test_filter(argv[2]);

	ret = describe_stack();
	if (ret == 0)
		ret = cmocka_run_group_tests_name("conformance", conf_tests,
						  NULL, NULL);
	conf_tmpdir_remove(&tmpdir);
	free(spec);
	return ret == 0 ? 0 : 1;
}
