/*
 * fs-bench-s3: shared types of the benchmark.
 *
 * The benchmark runs the same workload through several S3 clients ("peers":
 * libfs, raw libcurl, libs3) against one server in one process run, so that
 * each figure can be printed as a ratio to raw libcurl measured next to it.
 *
 * A peer is one const struct bench_peer (a small vtable); a client is one
 * instance of a peer at a given depth (operations in flight: 1 means the
 * peer's blocking calls, more means its asynchronous machinery). A client
 * runs phases: COUNT operations of one kind (PUT or GET) on the keys
 * PREFIX0000000.. with payloads derived from a seed, and reports each
 * operation through bench_phase_ok() / bench_phase_fail(), which time and
 * verify it. New workloads (issue 6: size mixes, listings, deletes) are new
 * operation kinds and phases; new peers are new vtables.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libfs/fs.h"

#define BENCH_CONTAINER_OF(ptr, type, member)                                  \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#if defined(__GNUC__) || defined(__clang__)
#define BENCH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define BENCH_PRINTF(fmt, args)
#endif

#define BENCH_KEY_MAX 256
#define BENCH_ERROR_MAX 512
#define BENCH_URL_MAX 1024
#define BENCH_DEPTHS_MAX 8
/* Longest time one request may take before a client gives up on it. */
#define BENCH_REQUEST_TIMEOUT_SECS 120

enum bench_op {
	BENCH_OP_PUT,
	BENCH_OP_GET,
	BENCH_OP_COUNT,
};

/* The server and the credentials every client uses. */
struct bench_target {
	const char *endpoint; /* "http://127.0.0.1:40123" (no trailing '/') */
	const char *host;     /* "127.0.0.1:40123" */
	const char *bucket;
	const char *region;
	const char *access_key;
	const char *secret_key;
	/* A libfs spec to use instead of the S3 one built from the above. */
	const char *libfs_spec;
};

/* One phase: count operations of one kind, depth of them in flight. */
struct bench_phase {
	enum bench_op op;
	const char *prefix; /* keys are prefix + 7-digit index */
	unsigned int count;
	size_t size;   /* object size in bytes */
	uint64_t seed; /* payload of object i: bench_phase_fill() */
	unsigned int depth;

	/* Results, written by bench_phase_ok() / bench_phase_fail(). */
	uint64_t *latency_usec; /* count entries, 0 where not completed */
	unsigned int completed, failed, corrupt;
	uint64_t start_usec, end_usec;
	char first_error[BENCH_ERROR_MAX];
};

struct bench_peer;

/* One client: a peer at one depth. Peers embed it first in their own
   struct and recover theirs with BENCH_CONTAINER_OF. */
struct bench_client {
	const struct bench_peer *peer;
	unsigned int depth;
};

struct bench_peer {
	const char *name;
	/* Creates a client talking to target with depth operations in
	   flight. Returns 0 and sets *client_r; -ENOTSUP when the peer is not
	   available in this build (skipped, with the reason in error); or
	   another -errno with a message in error. */
	int (*init)(const struct bench_target *target, unsigned int depth,
		    struct bench_client **client_r, char *error,
		    size_t error_size);
	/* Runs every operation of ph, recording each with bench_phase_ok()
	   or bench_phase_fail(). Returns 0 when every operation was
	   attempted (failures are counted in ph), or -errno if the client
	   itself broke (ph->first_error says why). */
	int (*run)(struct bench_client *client, struct bench_phase *ph);
	void (*deinit)(struct bench_client **client);
};

extern const struct bench_peer bench_peer_libfs;
extern const struct bench_peer bench_peer_curl;
extern const struct bench_peer bench_peer_libs3;

/* --- bench-phase.c: what every peer calls --- */

/* Monotonic clock in microseconds. */
uint64_t bench_now_usec(void);

/* Writes object i's key (prefix + index) into key_r (BENCH_KEY_MAX bytes). */
void bench_phase_key(const struct bench_phase *ph, unsigned int i,
		     char key_r[BENCH_KEY_MAX]);

/* Fills buf with the ph->size bytes object i holds in this phase. */
void bench_phase_fill(const struct bench_phase *ph, unsigned int i, void *buf);

/* Records operation i as finished now after starting at start_usec. For a
   GET, data/size is what was read: it is compared with what the PUT of the
   same seed wrote, and a difference is counted as corrupt. For a PUT, pass
   NULL and 0. */
void bench_phase_ok(struct bench_phase *ph, unsigned int i, uint64_t start_usec,
		    const void *data, size_t size);

/* Records operation i as failed; the first message is kept. */
void bench_phase_fail(struct bench_phase *ph, unsigned int i, const char *fmt,
		      ...) BENCH_PRINTF(3, 4);

/* Prepares ph (zeroed results and a latency array). Returns 0 or -ENOMEM. */
int bench_phase_init(struct bench_phase *ph, enum bench_op op,
		     const char *prefix, unsigned int count, size_t size,
		     uint64_t seed, unsigned int depth);
void bench_phase_deinit(struct bench_phase *ph);

/* Runs ph with client, stamping its start and end. Returns as peer->run. */
int bench_phase_run(struct bench_client *client, struct bench_phase *ph);

/* --- bench-sign.c: SigV4 for the raw libcurl peer and the set-up --- */

struct curl_slist;

/* Signing state of one client: the cached signing key. */
struct bench_signer {
	const struct bench_target *target;
	void *key_cache; /* struct fs_sigv4_key_cache */
};

int bench_signer_init(struct bench_signer *signer,
		      const struct bench_target *target);
void bench_signer_deinit(struct bench_signer *signer);

/* Builds the headers of an S3 request signed with SigV4 the way real
   clients sign it: Host, X-Amz-Date, X-Amz-Content-Sha256 (the body's
   SHA-256), Content-MD5 for a body, Authorization; "Expect:" is disabled
   (small bodies, as the libfs transport does below 1 MiB). path is the raw
   URI-encoded path ("/bucket/key"), query without '?' or NULL. Returns 0
   and sets *list_r, or -errno. */
int bench_sign_request(struct bench_signer *signer, const char *method,
		       const char *path, const char *query, const void *body,
		       size_t size, struct curl_slist **list_r);

/* Copies the <Code> of an S3 error body (len bytes, not NUL-terminated)
   into code_r, or "" if there is none. */
void bench_s3_error_code(const void *body, size_t len, char *code_r,
			 size_t size);

/* Writes the base64 MD5 of data (Content-MD5) into b64_r. Returns 0 or
   -EIO. */
int bench_md5_base64(const void *data, size_t size, char b64_r[32]);

#endif
