/*
 * fs-bench-s3 and fs-bench-mail: what the two benchmarks share.
 *
 * Both run a workload through several S3 clients ("peers": libfs, raw
 * libcurl, libs3) against one server in one program run, so that each
 * figure can be printed as a ratio to raw libcurl measured next to it.
 *
 * A peer is one const struct bench_peer (a small vtable, peer-*.c); a
 * client is one instance of a peer at a given depth (operations in flight:
 * 1 means the peer's blocking calls, more means its asynchronous
 * machinery). A client runs phases: COUNT operations of one verb (PUT, GET,
 * LIST or DELETE) whose keys, sizes and bytes a workload defines. A
 * workload is a phase class (struct bench_phase_class) and a struct that
 * embeds struct bench_phase first: fs-bench-s3's objects of one size
 * (bench-s3-work.c), fs-bench-mail's messages and index files
 * (mail-work.c). Peers report each operation through bench_phase_ok(),
 * bench_phase_listed() or bench_phase_fail(), which time and verify it
 * (bench-phase.c). A new peer is a new vtable and a new workload a new
 * class: both programs get either.
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

/* The program's name ("fs-bench-s3"), defined next to its main(): libs3's
   User-Agent and the prefix of messages from the shared pieces. */
extern const char bench_program[];

/* The server and the credentials every client uses. */
struct bench_target {
	const char *endpoint; /* "http://127.0.0.1:40123" (no trailing '/') */
	const char *host;     /* "127.0.0.1:40123" */
	const char *bucket;
	const char *region;
	const char *access_key;
	const char *secret_key;
	/* A libfs spec to use instead of the S3 one built from the above;
	   "{endpoint}" in it stands for the endpoint. */
	const char *libfs_spec;
};

/* ------------------------------------------------------------------------ */
/* Phases (bench-phase.c)                                                     */

enum bench_verb {
	BENCH_VERB_PUT,	   /* store a payload */
	BENCH_VERB_GET,	   /* read an object back, verified */
	BENCH_VERB_LIST,   /* list a prefix, the keys counted and verified */
	BENCH_VERB_DELETE, /* delete a key */
};

struct bench_phase;

/* What a workload says of the operations of its phases. */
struct bench_phase_class {
	/* Writes operation i's key (for a LIST: the prefix listed). */
	void (*key)(const struct bench_phase *ph, unsigned int i,
		    char key_r[BENCH_KEY_MAX]);
	/* Payload size of operation i: what a PUT writes and a GET must
	   read; 0 for LIST and DELETE. */
	size_t (*size)(const struct bench_phase *ph, unsigned int i);
	/* Fills buf with the size() bytes of operation i. Returns 0 or
	   -errno. */
	int (*fill)(const struct bench_phase *ph, unsigned int i, void *buf);
	/* Returns true if data is what a GET of operation i must read. */
	bool (*verify)(const struct bench_phase *ph, unsigned int i,
		       const void *data, size_t size);
	/* Keys a LIST of operation i must find (NULL: the workload does not
	   list). */
	unsigned int (*list_expect)(const struct bench_phase *ph,
				    unsigned int i);
	/* Peers free their buffers above this after each operation, so that
	   a client's peak RSS shows what it holds, not the largest object it
	   ever saw; SIZE_MAX keeps them. */
	size_t keep_buffer_max;
	/* The libfs peer stops an operation's clock after freeing its file
	   (fs-bench-s3: open to close) instead of when the call returned
	   (fs-bench-mail). */
	bool time_file_free;
};

/* One phase: count operations of one verb, depth of them in flight. A
   workload embeds it first in its own phase struct. */
struct bench_phase {
	const struct bench_phase_class *v;
	enum bench_verb verb;
	const char *name; /* the operation in messages: "PUT", "IDXGET" */
	unsigned int count;
	unsigned int depth;

	/* Results, written by bench_phase_ok() and friends. */
	uint64_t *latency_usec; /* count entries, 0 where not completed */
	unsigned int completed, failed, corrupt;
	uint64_t bytes; /* payload bytes written or read */
	uint64_t start_usec, end_usec;
	char first_error[BENCH_ERROR_MAX];
};

/* Monotonic clock in microseconds. */
uint64_t bench_now_usec(void);

/* splitmix64's finalizer, and the constant its state steps by: payload
   generators and seeds. */
#define BENCH_GOLDEN 0x9e3779b97f4a7c15ull
uint64_t bench_mix64(uint64_t z);

/* Prepares ph (zeroed results and a latency array of count entries).
   Returns 0 or -ENOMEM. */
int bench_phase_init(struct bench_phase *ph, const struct bench_phase_class *v,
		     enum bench_verb verb, const char *name, unsigned int count,
		     unsigned int depth);
void bench_phase_deinit(struct bench_phase *ph);

/* Records operation i as finished now after starting at start_usec. For a
   GET, data/size is what was read: it is verified, and a difference is
   counted as corrupt. Other verbs pass NULL and 0. */
void bench_phase_ok(struct bench_phase *ph, unsigned int i, uint64_t start_usec,
		    const void *data, size_t size);
/* Records listing i as finished now with nkeys keys (verified). */
void bench_phase_listed(struct bench_phase *ph, unsigned int i,
			uint64_t start_usec, unsigned int nkeys);
/* Records operation i as failed; the first message is kept. */
void bench_phase_fail(struct bench_phase *ph, unsigned int i, const char *fmt,
		      ...) BENCH_PRINTF(3, 4);

/* Latencies of a phase's completed operations: nearest-rank percentiles
   and the mean (all 0 when none completed or memory ran out). */
struct bench_latency {
	uint64_t p50_usec, p99_usec, mean_usec;
};

void bench_phase_latency(const struct bench_phase *ph,
			 struct bench_latency *lat_r);

/* Returns the index of the median of keys[0..n) (0 < n <= 64): the lower
   one of an even count, ties in their order. Reports show the median
   round. */
unsigned int bench_median(const double *keys, unsigned int n);

/* "seq" for depth 1, else "N async". */
void bench_format_mode(unsigned int depth, char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* Peers (peer-curl.c, peer-libfs.c, peer-libs3.c)                            */

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
	/* Runs every operation of ph, recording each with bench_phase_ok(),
	   bench_phase_listed() or bench_phase_fail(). Returns 0 when every
	   operation was attempted (failures are counted in ph), or -errno if
	   the client itself broke (ph->first_error says why). */
	int (*run)(struct bench_client *client, struct bench_phase *ph);
	void (*deinit)(struct bench_client **client);
};

extern const struct bench_peer bench_peer_curl;
extern const struct bench_peer bench_peer_libfs;
extern const struct bench_peer bench_peer_libs3;

/* Every peer, in report order: the reference (raw libcurl) first. */
#define BENCH_PEER_COUNT 3
extern const struct bench_peer *const bench_peers[BENCH_PEER_COUNT];

/* Returns the peer named name, or NULL. */
const struct bench_peer *bench_peer_find(const char *name);

/* Runs ph with client, stamping its start and end. Returns as peer->run. */
int bench_phase_run(struct bench_client *client, struct bench_phase *ph);

/* The libfs spec of target's bucket ("s3://BUCKET/?endpoint=..&region=.."),
   with extra "&name=value" options (NULL or "": none). */
void bench_libfs_spec(const struct bench_target *target, const char *extra,
		      char *spec, size_t size);

/* ------------------------------------------------------------------------ */
/* Options both programs take (bench-options.c)                               */

/* getopt_long() codes of the shared options; a program numbers its own
   from BENCH_OPT_OWN and lists BENCH_COMMON_LONG_OPTIONS (which needs
   <getopt.h>) in its table. */
enum bench_opt {
	BENCH_OPT_ENDPOINT = 256,
	BENCH_OPT_LATENCY,
	BENCH_OPT_BUCKET,
	BENCH_OPT_REGION,
	BENCH_OPT_ACCESS_KEY,
	BENCH_OPT_SECRET_KEY,
	BENCH_OPT_CLIENTS,
	BENCH_OPT_PARALLEL,
	BENCH_OPT_ROUNDS,
	BENCH_OPT_WARMUP,
	BENCH_OPT_OWN,
};

/* clang-format off */
#define BENCH_COMMON_LONG_OPTIONS                                              \
	{"endpoint", required_argument, NULL, BENCH_OPT_ENDPOINT},             \
	{"latency", required_argument, NULL, BENCH_OPT_LATENCY},               \
	{"bucket", required_argument, NULL, BENCH_OPT_BUCKET},                 \
	{"region", required_argument, NULL, BENCH_OPT_REGION},                 \
	{"access-key", required_argument, NULL, BENCH_OPT_ACCESS_KEY},         \
	{"secret-key", required_argument, NULL, BENCH_OPT_SECRET_KEY},         \
	{"clients", required_argument, NULL, BENCH_OPT_CLIENTS},               \
	{"parallel", required_argument, NULL, BENCH_OPT_PARALLEL},             \
	{"rounds", required_argument, NULL, BENCH_OPT_ROUNDS},                 \
	{"warmup", required_argument, NULL, BENCH_OPT_WARMUP}
/* clang-format on */

/* The values of the shared options. */
struct bench_common_options {
	/* Server: NULL for the in-process mock, or --endpoint. */
	const char *endpoint;
	struct bench_target target;
	unsigned int latency_ms; /* injected by the mock on every request */
	unsigned int rounds, warmup;
	unsigned int depths[BENCH_DEPTHS_MAX];
	unsigned int depth_count;
	const char *clients; /* comma-separated peers, NULL: all */
};

/* How a program takes them: the limits it has always had. */
struct bench_option_rules {
	unsigned int warmup_max;
	unsigned int depths_max; /* at most BENCH_DEPTHS_MAX */
	bool units;		 /* numbers may end in k, M or G (binary) */
	bool check_clients;	 /* --clients may only name known peers */
};

/* Fills c with the defaults: bucket "bench", region us-east-1,
   credentials test/test, 3 rounds; the program sets its warm-up and
   depths. */
void bench_common_init(struct bench_common_options *c);

/* Takes option opt (a BENCH_OPT_* code) with its argument. Returns 0, 1 if
   opt is not a shared option, or -EINVAL. */
int bench_common_option(struct bench_common_options *c,
			const struct bench_option_rules *rules, int opt,
			const char *arg);

/* Parses a decimal number in [min, max], with a k, M or G suffix when
   units is set. Returns 0 or -EINVAL. */
int bench_parse_u64(const char *str, uint64_t min, uint64_t max, bool units,
		    uint64_t *num_r);
int bench_parse_uint(const char *str, unsigned int min, unsigned int max,
		     bool units, unsigned int *num_r);

/* Returns true if the comma-separated list names name (NULL: all do). */
bool bench_list_has(const char *list, const char *name);

/* What a program does once options are parsed: SIGPIPE ignored (a server
   may close on us), curl_global_init(). Returns 0, or -EIO with a message
   on stderr; curl_global_cleanup() at the end. */
int bench_process_init(void);

/* ------------------------------------------------------------------------ */
/* bench-sign.c: SigV4 for the raw libcurl peer and the set-up requests      */

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

/* The same for a streamed body: X-Amz-Content-Sha256 is UNSIGNED-PAYLOAD
   and there is no Content-MD5 (what a streaming client sends). */
int bench_sign_streaming(struct bench_signer *signer, const char *method,
			 const char *path, struct curl_slist **list_r);

/* Copies the <Code> of an S3 error body (len bytes, not NUL-terminated)
   into code_r, or "" if there is none. */
void bench_s3_error_code(const void *body, size_t len, char *code_r,
			 size_t size);

/* Writes the base64 MD5 of data (Content-MD5) into b64_r. Returns 0 or
   -EIO. */
int bench_md5_base64(const void *data, size_t size, char b64_r[32]);

#endif
