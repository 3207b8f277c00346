/*
 * fs-bench-s3 and fs-bench-mail: timing, verification and results of one
 * phase, whatever its workload, and the peer table.
 *
 * An operation's latency runs from its start (after its payload was
 * generated) to its result; a GET is verified against what the workload
 * says the PUT of the same seed wrote, after its clock stopped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

const struct bench_peer *const bench_peers[BENCH_PEER_COUNT] = {
	&bench_peer_curl,
	&bench_peer_libfs,
	&bench_peer_libs3,
};

const struct bench_peer *bench_peer_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < BENCH_PEER_COUNT; i++) {
		if (strcmp(bench_peers[i]->name, name) == 0)
			return bench_peers[i];
	}
	return NULL;
}

uint64_t bench_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t bench_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int bench_phase_init(struct bench_phase *ph, const struct bench_phase_class *v,
		     enum bench_verb verb, const char *name, unsigned int count,
		     unsigned int depth)
{
	memset(ph, 0, sizeof(*ph));
	ph->v = v;
	ph->verb = verb;
	ph->name = name;
	ph->count = count;
	ph->depth = depth;
	ph->latency_usec = calloc(count > 0 ? count : 1, sizeof(uint64_t));
	return ph->latency_usec == NULL ? -ENOMEM : 0;
}

void bench_phase_deinit(struct bench_phase *ph)
{
	free(ph->latency_usec);
	ph->latency_usec = NULL;
}

static void phase_record(struct bench_phase *ph, unsigned int i,
			 uint64_t start_usec)
{
	uint64_t now = bench_now_usec();

	ph->latency_usec[i] = now > start_usec ? now - start_usec : 1;
	ph->completed++;
}

static void phase_corrupt(struct bench_phase *ph, const char *fmt, ...)
	BENCH_PRINTF(2, 3);

static void phase_corrupt(struct bench_phase *ph, const char *fmt, ...)
{
	va_list args;

	ph->corrupt++;
	if (ph->first_error[0] != '\0')
		return;
	va_start(args, fmt);
	vsnprintf(ph->first_error, sizeof(ph->first_error), fmt, args);
	va_end(args);
}

void bench_phase_ok(struct bench_phase *ph, unsigned int i, uint64_t start_usec,
		    const void *data, size_t size)
{
	char key[BENCH_KEY_MAX];

	phase_record(ph, i, start_usec);
	if (ph->verb != BENCH_VERB_GET) {
		ph->bytes += ph->v->size(ph, i);
		return;
	}
	ph->bytes += size;
	if (ph->v->verify(ph, i, data, size))
		return;
	ph->v->key(ph, i, key);
	phase_corrupt(ph,
		      "%s %s: read back %zu bytes that differ from the %zu "
		      "bytes written",
		      ph->name, key, size, ph->v->size(ph, i));
}

void bench_phase_listed(struct bench_phase *ph, unsigned int i,
			uint64_t start_usec, unsigned int nkeys)
{
	unsigned int expect = ph->v->list_expect(ph, i);
	char key[BENCH_KEY_MAX];

	phase_record(ph, i, start_usec);
	if (nkeys == expect)
		return;
	ph->v->key(ph, i, key);
	phase_corrupt(ph, "LIST %s: %u keys, expected %u", key, nkeys, expect);
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

static int phase_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The smallest of the n sorted samples with the fraction permille/1000 of
   them at or below it (nearest rank). */
static uint64_t phase_percentile(const uint64_t *sorted, size_t n,
				 unsigned int permille)
{
	size_t rank = (n * permille + 999) / 1000;

	if (n == 0)
		return 0;
	return sorted[rank > 0 ? rank - 1 : 0];
}

void bench_phase_latency(const struct bench_phase *ph,
			 struct bench_latency *lat_r)
{
	uint64_t *lat =
		malloc((ph->count > 0 ? ph->count : 1) * sizeof(uint64_t));
	uint64_t sum = 0;
	size_t n = 0;
	unsigned int i;

	memset(lat_r, 0, sizeof(*lat_r));
	if (lat == NULL)
		return;
	for (i = 0; i < ph->count; i++) {
		if (ph->latency_usec[i] > 0) {
			lat[n++] = ph->latency_usec[i];
			sum += ph->latency_usec[i];
		}
	}
	qsort(lat, n, sizeof(*lat), phase_cmp_u64);
	lat_r->mean_usec = n > 0 ? sum / n : 0;
	lat_r->p50_usec = phase_percentile(lat, n, 500);
	lat_r->p99_usec = phase_percentile(lat, n, 990);
	free(lat);
}

unsigned int bench_median(const double *keys, unsigned int n)
{
	unsigned int order[64], i, j, tmp;

	if (n > 64)
		n = 64;
	for (i = 0; i < n; i++)
		order[i] = i;
	/* Insertion sort: equal keys keep their order. */
	for (i = 1; i < n; i++) {
		for (j = i; j > 0 && keys[order[j - 1]] > keys[order[j]]; j--) {
			tmp = order[j];
			order[j] = order[j - 1];
			order[j - 1] = tmp;
		}
	}
	return n > 0 ? order[(n - 1) / 2] : 0;
}

void bench_format_mode(unsigned int depth, char *buf, size_t size)
{
	if (depth == 1)
		snprintf(buf, size, "seq");
	else
		snprintf(buf, size, "%u async", depth);
}
