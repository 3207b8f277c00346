/*
 * Spec argument helpers: fs_kv_split(), fs_parse_size(), fs_parse_fraction(),
 * fs_parse_uint().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "libfs/driver.h"

static void test_kv_split(void **state)
{
	struct fs_kv *kv;
	int count;

	count = fs_kv_split("a=1,b,c=x=y,d=", ',', &kv);
	assert_int_equal(count, 4);
	assert_string_equal(kv[0].name, "a");
	assert_string_equal(kv[0].value, "1");
	assert_string_equal(kv[1].name, "b");
	assert_string_equal(kv[1].value, "");
	/* only the first '=' separates */
	assert_string_equal(kv[2].name, "c");
	assert_string_equal(kv[2].value, "x=y");
	assert_string_equal(kv[3].name, "d");
	assert_string_equal(kv[3].value, "");
	fs_kv_free(kv, count);

	count = fs_kv_split("k=v&x=1", '&', &kv);
	assert_int_equal(count, 2);
	assert_string_equal(kv[1].name, "x");
	fs_kv_free(kv, count);

	/* empty input: no items */
	assert_int_equal(fs_kv_split("", ',', &kv), 0);
	assert_null(kv);
	assert_int_equal(fs_kv_split(NULL, ',', &kv), 0);
	fs_kv_free(NULL, 0);
}

static void test_kv_split_errors(void **state)
{
	static const char *const bad[] = {
		",", "a,", ",a", "a,,b", "=1", "a,=1",
	};
	struct fs_kv *kv = (void *)1;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fs_kv_split(bad[i], ',', &kv), -EINVAL);
		assert_null(kv);
	}
}

static void check_size(const char *str, uint64_t expected)
{
	uint64_t size = 12345;

	if (fs_parse_size(str, &size) != 0)
		fail_msg("size '%s' rejected", str);
	if (size != expected)
		fail_msg("size '%s' = %llu, expected %llu", str,
			 (unsigned long long)size,
			 (unsigned long long)expected);
}

static void test_parse_size(void **state)
{
	static const char *const bad[] = {
		"",	     "M",
		"-1",	     "+1",
		" 1",	     "1 ",
		"1X",	     "1.5M",
		"1MM",	     "1iB",
		"1KiBx",     "0x10",
		"16777216T", "18446744073709551616",
	};
	uint64_t size = 7;
	size_t i;

	check_size("0", 0);
	check_size("100", 100);
	check_size("100B", 100);
	check_size("100b", 100);
	check_size("512k", 512 * 1024);
	check_size("512K", 512 * 1024);
	check_size("64M", 64ull << 20);
	check_size("64MB", 64ull << 20);
	check_size("64MiB", 64ull << 20);
	check_size("64mib", 64ull << 20);
	check_size("1G", 1ull << 30);
	check_size("2T", 2ull << 40);
	check_size("16777215T", 16777215ull << 40);
	check_size("18446744073709551615", UINT64_MAX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fs_parse_size(bad[i], &size) != -EINVAL)
			fail_msg("size '%s' accepted", bad[i]);
	}
	assert_int_equal(size, 7);
	assert_int_equal(fs_parse_size(NULL, &size), -EINVAL);
}

static void check_fraction(const char *str, double expected)
{
	double value = -1;

	if (fs_parse_fraction(str, &value) != 0)
		fail_msg("fraction '%s' rejected", str);
	if (value < expected - 1e-12 || value > expected + 1e-12)
		fail_msg("fraction '%s' = %g, expected %g", str, value,
			 expected);
}

static void test_parse_fraction(void **state)
{
	static const char *const bad[] = {
		"",   "%",     "-0.1", "1.5",  "101%", "2",    "0.",
		".5", "0.5%%", "0,5",  "10 %", "abc",  "1e-3", "0.5x",
	};
	double value = 7;
	size_t i;

	check_fraction("10%", 0.1);
	check_fraction("0.5%", 0.005);
	check_fraction("100%", 1.0);
	check_fraction("0%", 0.0);
	check_fraction("0.5", 0.5);
	check_fraction("0.1", 0.1);
	check_fraction("1", 1.0);
	check_fraction("0", 0.0);
	check_fraction("1.0", 1.0);
	check_fraction("0.001", 0.001);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fs_parse_fraction(bad[i], &value) != -EINVAL)
			fail_msg("fraction '%s' accepted", bad[i]);
	}
	assert_true(value == 7);
}

static void test_parse_uint(void **state)
{
	static const char *const bad[] = {
		"",
		"-1",
		"+1",
		" 1",
		"1 ",
		"1k",
		"0x1",
		"18446744073709551616",
		"99999999999999999999",
	};
	uint64_t num = 7;
	size_t i;

	assert_int_equal(fs_parse_uint("0", &num), 0);
	assert_int_equal(num, 0);
	assert_int_equal(fs_parse_uint("0042", &num), 0);
	assert_int_equal(num, 42);
	assert_int_equal(fs_parse_uint("18446744073709551615", &num), 0);
	assert_true(num == UINT64_MAX);
	num = 7;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fs_parse_uint(bad[i], &num) != -EINVAL)
			fail_msg("uint '%s' accepted", bad[i]);
	}
	assert_int_equal(num, 7);
	assert_int_equal(fs_parse_uint(NULL, &num), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_split),
		cmocka_unit_test(test_kv_split_errors),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_fraction),
		cmocka_unit_test(test_parse_uint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
