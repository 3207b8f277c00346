/*
 * fs-bench-s3: the workload, COUNT objects of one size under PREFIX0000000..
 * (the phase class its peers run).
 *
 * Payloads are a fast pseudo-random stream seeded by (phase seed, index), so
 * a GET can be checked against what the matching PUT wrote without keeping
 * the objects in memory, and two clients never write the same bytes: a GET
 * that passes proves this client's own PUT landed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-run.h"

static const char *const s3_op_names[BENCH_OP_COUNT] = {
	[BENCH_OP_PUT] = "PUT",
	[BENCH_OP_GET] = "GET",
};

const char *bench_s3_op_name(enum bench_op op)
{
	return op < BENCH_OP_COUNT ? s3_op_names[op] : "?";
}

void bench_s3_key(const char *prefix, unsigned int i, char key_r[BENCH_KEY_MAX])
{
	snprintf(key_r, BENCH_KEY_MAX, "%s%07u", prefix, i);
}

static const struct bench_s3_phase *s3_phase(const struct bench_phase *ph)
{
	return BENCH_CONTAINER_OF(ph, const struct bench_s3_phase, base);
}

static void s3_key(const struct bench_phase *ph, unsigned int i,
		   char key_r[BENCH_KEY_MAX])
{
	bench_s3_key(s3_phase(ph)->prefix, i, key_r);
}

static size_t s3_size(const struct bench_phase *ph, unsigned int i)
{
	(void)i;
	return s3_phase(ph)->size;
}

static int s3_fill(const struct bench_phase *ph, unsigned int i, void *buf)
{
	const struct bench_s3_phase *sp = s3_phase(ph);
	uint64_t state = sp->seed ^ ((uint64_t)i << 32 | i);
	unsigned char *p = buf;
	size_t left = sp->size;
	uint64_t word;

	while (left >= sizeof(word)) {
		word = bench_mix64(state += BENCH_GOLDEN);
		memcpy(p, &word, sizeof(word));
		p += sizeof(word);
		left -= sizeof(word);
	}
	if (left > 0) {
		word = bench_mix64(state += BENCH_GOLDEN);
		memcpy(p, &word, left);
	}
	return 0;
}

static bool s3_verify(const struct bench_phase *ph, unsigned int i,
		      const void *data, size_t size)
{
	size_t want = s3_phase(ph)->size;
	unsigned char *expected;
	bool same;

	if (size != want)
		return false;
	expected = malloc(want > 0 ? want : 1);
	if (expected == NULL)
		return false;
	s3_fill(ph, i, expected);
	same = memcmp(expected, data, size) == 0;
	free(expected);
	return same;
}

static const struct bench_phase_class s3_phase_class = {
	.key = s3_key,
	.size = s3_size,
	.fill = s3_fill,
	.verify = s3_verify,
	/* Buffers sized for the objects are kept: there is one size. */
	.keep_buffer_max = SIZE_MAX,
	.time_file_free = true,
};

int bench_s3_phase_init(struct bench_s3_phase *sp, enum bench_op op,
			const char *prefix, unsigned int count, size_t size,
			uint64_t seed, unsigned int depth)
{
	sp->prefix = prefix;
	sp->size = size;
	sp->seed = seed;
	return bench_phase_init(&sp->base, &s3_phase_class,
				op == BENCH_OP_PUT ? BENCH_VERB_PUT
						   : BENCH_VERB_GET,
				bench_s3_op_name(op), count, depth);
}
