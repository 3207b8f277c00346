/*
 * fs-bench-s3: its workload (bench-s3-work.c), runs (a client at a depth),
 * their results per round, and the report (bench-report.c).
 */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include "bench-server.h"

enum bench_op {
	BENCH_OP_PUT,
	BENCH_OP_GET,
	BENCH_OP_COUNT,
};

/* One phase: count objects of size bytes, keys prefix + 7-digit index, the
   bytes of object i a function of (seed, i). */
struct bench_s3_phase {
	struct bench_phase base;
	const char *prefix;
	size_t size;
	uint64_t seed;
};

/* Prepares ph for count operations of op at depth. Returns 0 or -ENOMEM;
   free with bench_phase_deinit(&ph->base). */
int bench_s3_phase_init(struct bench_s3_phase *ph, enum bench_op op,
			const char *prefix, unsigned int count, size_t size,
			uint64_t seed, unsigned int depth);

/* Writes object i's key (prefix + index) into key_r. */
void bench_s3_key(const char *prefix, unsigned int i,
		  char key_r[BENCH_KEY_MAX]);

/* "PUT" or "GET". */
const char *bench_s3_op_name(enum bench_op op);

/* One phase of one round, summarised. */
struct bench_result {
	bool ran;
	uint64_t usecs; /* wall time of the phase */
	unsigned int ops, failed, corrupt;
	uint64_t p50_usec, p99_usec;
};

/* One client at one depth, measured over every round. */
struct bench_run {
	const struct bench_peer *peer;
	unsigned int depth;
	struct bench_client *client;
	bool skipped, broken;
	char note[BENCH_ERROR_MAX]; /* why skipped, or the first error */

	struct bench_result *results[BENCH_OP_COUNT]; /* [rounds] */
	/* Server counters summed over the rounds; check_counts says whether
	   they must equal count PUT + count GET per round. */
	struct bench_counts counts;
	bool check_counts, counts_mismatch;
	unsigned int failed, corrupt; /* over all rounds and warm-up */
};

struct bench_report {
	unsigned int count, rounds, warmup, latency_ms;
	size_t size;
	const char *server; /* "in-process mock" or the endpoint */
	const char *endpoint;
	bool counters;	 /* the server has request counters */
	bool in_process; /* the mock runs in this process */
	struct bench_run *runs;
	unsigned int run_count;
	uint64_t wall_usec;
	long peak_rss_kib; /* of the whole process, mock included */
};

/* Summarises a finished phase into *r. */
void bench_result_set(struct bench_result *r, const struct bench_phase *ph);

/* Prints the results table, the request counts and notes to stdout.
   Returns true if every run verified, completed and counted right. */
bool bench_report_print(const struct bench_report *rep);

#endif
