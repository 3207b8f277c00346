/*
 * fs-bench-s3 and fs-bench-mail: the server the clients talk to
 * (bench-server.c).
 */
#ifndef BENCH_SERVER_H
#define BENCH_SERVER_H

#include "bench.h"

struct fs_mock;

#define BENCH_SERVER_FAULTS_MAX 16

struct bench_server {
	struct fs_mock *mock; /* NULL for an external endpoint */
	/* Request counters can be read (the mock, in process or not). */
	bool counters;
	char endpoint[BENCH_URL_MAX];
	char host[256];
	struct bench_target target; /* endpoint and host point above */
	struct bench_signer signer;
	void *easy; /* CURL *, for set-up requests */
	/* Fault rules added by bench_server_add_fault(), to remove. */
	int fault_ids[BENCH_SERVER_FAULTS_MAX];
	unsigned int fault_count;
};

/* What the server counted since the last reset. */
struct bench_counts {
	bool valid;
	uint64_t put, get, requests, connections, errors;
};

/* Starts the in-process mock (endpoint NULL) or checks the external
   endpoint, with target's bucket, region and credentials. Returns 0, or
   -errno with a message in error. Call bench_server_stop() in both cases. */
int bench_server_start(struct bench_server *srv, const char *endpoint,
		       const struct bench_target *target, char *error,
		       size_t size);
void bench_server_stop(struct bench_server *srv);

/* Creates the bucket (an existing one is fine). Returns 0 or -errno. */
int bench_server_create_bucket(struct bench_server *srv, char *error,
			       size_t size);

/* Adds a mock fault rule (mockserver.h), e.g. "delay=20" for 20 ms of
   latency on every request. Returns 0, -ENOTSUP when the server is not a
   mock, -E2BIG past BENCH_SERVER_FAULTS_MAX rules, or -errno with a message
   in error. */
int bench_server_add_fault(struct bench_server *srv, const char *rule,
			   char *error, size_t size);

/* Removes the fault rules added above (an external server keeps running
   after the benchmark). */
void bench_server_clear_faults(struct bench_server *srv);

/* Zeroes, then reads, the request counters (c->valid is false when the
   server has none). */
void bench_server_counters_reset(struct bench_server *srv);
void bench_server_counters(struct bench_server *srv, struct bench_counts *c);

/* Deletes key; a missing one is fine. Returns 0 or -errno with a message
   in error. */
int bench_server_delete(struct bench_server *srv, const char *key, char *error,
			size_t size);

/* Reads "name": N from the admin endpoint's JSON (GET /_mock/stats); 0 if
   it is not there. */
uint64_t bench_server_json_counter(const char *json, const char *name);

#endif
