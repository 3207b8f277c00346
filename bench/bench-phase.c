/*
 * fs-bench-s3: keys, payloads, timing and verification of one phase.
 *
 * Payloads are a fast pseudo-random stream seeded by (phase seed, index), so
 * a GET can be checked against what the matching PUT wrote without keeping
 * the objects in memory, and two clients never write the same bytes: a GET
 * that passes proves this client's own PUT landed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

uint64_t bench_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t bench_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void bench_phase_key(const struct bench_phase *ph, unsigned int i,
		     char key_r[BENCH_KEY_MAX])
{
	snprintf(key_r, BENCH_KEY_MAX, "%s%07u", ph->prefix, i);
}

void bench_phase_fill(const struct bench_phase *ph, unsigned int i, void *buf)
{
	uint64_t state = ph->seed ^ ((uint64_t)i << 32 | i);
	unsigned char *p = buf;
	size_t left = ph->size;
	uint64_t word;

	while (left >= sizeof(word)) {
		word = bench_splitmix64(&state);
		memcpy(p, &word, sizeof(word));
		p += sizeof(word);
		left -= sizeof(word);
	}
	if (left > 0) {
		word = bench_splitmix64(&state);
		memcpy(p, &word, left);
	}
}

static bool bench_phase_verify(const struct bench_phase *ph, unsigned int i,
			       const void *data, size_t size)
{
	unsigned char *expected;
	bool same;

	if (size != ph->size)
		return false;
	expected = malloc(ph->size > 0 ? ph->size : 1);
	if (expected == NULL)
		return false;
	bench_phase_fill(ph, i, expected);
	same = memcmp(expected, data, size) == 0;
	free(expected);
	return same;
}

void bench_phase_ok(struct bench_phase *ph, unsigned int i, uint64_t start_usec,
		    const void *data, size_t size)
{
	uint64_t now = bench_now_usec();

	ph->latency_usec[i] = now > start_usec ? now - start_usec : 1;
	ph->completed++;
	if (ph->op != BENCH_OP_GET || bench_phase_verify(ph, i, data, size))
		return;
	ph->corrupt++;
	if (ph->first_error[0] == '\0') {
		char key[BENCH_KEY_MAX];

		bench_phase_key(ph, i, key);
		snprintf(ph->first_error, sizeof(ph->first_error),
			 "GET %s: read back %zu bytes that differ from the "
			 "%zu bytes written",
			 key, size, ph->size);
	}
}

void bench_phase_fail(struct bench_phase *ph, unsigned int i, const char *fmt,
		      ...)
{
	va_list args;

	ph->latency_usec[i] = 0;
	ph->failed++;
	if (ph->first_error[0] != '\0')
		return;
	va_start(args, fmt);
	vsnprintf(ph->first_error, sizeof(ph->first_error), fmt, args);
	va_end(args);
}

int bench_phase_init(struct bench_phase *ph, enum bench_op op,
		     const char *prefix, unsigned int count, size_t size,
		     uint64_t seed, unsigned int depth)
{
	memset(ph, 0, sizeof(*ph));
	ph->op = op;
	ph->prefix = prefix;
	ph->count = count;
	ph->size = size;
	ph->seed = seed;
	ph->depth = depth;
	ph->latency_usec = calloc(count > 0 ? count : 1, sizeof(uint64_t));
	return ph->latency_usec == NULL ? -ENOMEM : 0;
}

void bench_phase_deinit(struct bench_phase *ph)
{
	free(ph->latency_usec);
	ph->latency_usec = NULL;
}

int bench_phase_run(struct bench_client *client, struct bench_phase *ph)
{
	int ret;

	ph->start_usec = bench_now_usec();
	ret = client->peer->run(client, ph);
	ph->end_usec = bench_now_usec();
	if (ret < 0 && ph->first_error[0] == '\0')
		snprintf(ph->first_error, sizeof(ph->first_error),
			 "%s: client failed: %s", client->peer->name,
			 fs_errno_name(ret));
	return ret;
}
