/*
 * fs_crc32() against zlib's crc32_z(), the reference: the published check
 * value, every length from 0 to 1100 at every alignment of 0..15, chained
 * calls that split a buffer anywhere, start values, and large buffers.
 * Where the CPU has PCLMULQDQ every length from 256 up goes through the
 * folding code; elsewhere this checks the zlib path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "crc32.h"

static unsigned char *random_bytes(size_t size, uint32_t seed)
{
	unsigned char *data = malloc(size);
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	assert_non_null(data);
	for (i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)(x >> 3);
	}
	return data;
}

static uint32_t zlib_crc(uint32_t crc, const void *data, size_t size)
{
	return (uint32_t)crc32_z(crc, data, size);
}

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(fs_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(fs_crc32(0, NULL, 0), 0);
	assert_int_equal(fs_crc32(0x12345678u, "", 0), 0x12345678u);
}

static void test_lengths_and_alignments(void **state)
{
	const size_t max = 1100;
	unsigned char *data = random_bytes(max + 16, 1);
	size_t len, align;

	(void)state;
	for (align = 0; align < 16; align++) {
		for (len = 0; len <= max; len++) {
			uint32_t want = zlib_crc(0, data + align, len);
			uint32_t got = fs_crc32(0, data + align, len);

			if (got != want)
				fail_msg("length %zu at +%zu: %08x, want %08x",
					 len, align, got, want);
		}
	}
	free(data);
}

/* A running CRC fed in pieces of any size equals the CRC of the whole. */
static void test_chained(void **state)
{
	const size_t size = 70000;
	unsigned char *data = random_bytes(size, 2);
	uint32_t want = zlib_crc(0, data, size), seed = 7;
	unsigned int round;

	(void)state;
	for (round = 0; round < 200; round++) {
		uint32_t crc = 0;
		size_t pos = 0;

		while (pos < size) {
			size_t n;

			seed = seed * 1103515245u + 12345u;
			n = (seed >> 8) % (round < 100 ? 600 : 9000);
			if (n > size - pos)
				n = size - pos;
			crc = fs_crc32(crc, data + pos, n);
			pos += n;
		}
		assert_int_equal(crc, want);
	}
	free(data);
}

static void test_start_values(void **state)
{
	static const uint32_t starts[] = {1, 0xffffffffu, 0x80000000u,
					  0xdeadbeefu, 0x7fffffffu};
	unsigned char *data = random_bytes(5000, 3);
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		for (len = 250; len < 5000; len += 97)
			assert_int_equal(fs_crc32(starts[i], data, len),
					 zlib_crc(starts[i], data, len));
	}
	free(data);
}

/* Several MiB, zeros and all-ones patterns too. */
static void test_large(void **state)
{
	const size_t size = 5 * 1024 * 1024 + 13;
	unsigned char *data = random_bytes(size, 4);

	(void)state;
	assert_int_equal(fs_crc32(0, data, size), zlib_crc(0, data, size));
	memset(data, 0, size);
	assert_int_equal(fs_crc32(0, data, size), zlib_crc(0, data, size));
	memset(data, 0xff, size);
	assert_int_equal(fs_crc32(0, data, size), zlib_crc(0, data, size));
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_lengths_and_alignments),
		cmocka_unit_test(test_chained),
		cmocka_unit_test(test_start_values),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
