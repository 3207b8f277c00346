/*
 * fs-bench-mail: a mail store's workload through libfs and its peers.
 *
 * Four scenarios, each one program run with every peer measured in it:
 *
 *   mail   message blobs of a realistic size mix, index files rewritten and
 *          re-read, listings and deletes, through libfs, raw libcurl and
 *          libs3, blocking and N in flight (mail-scn-mail.c)
 *   sync   fsctl sync of a mail directory into S3 against aws s3 cp,
 *          s3cmd sync, rclone copy and a raw libcurl uploader
 *          (mail-scn-sync.c)
 *   big    1 GiB streamed up and down through libfs, with the client's
 *          peak RSS (mail-scn-big.c)
 *   cache  cache hits against misses over a slow server (mail-scn-cache.c)
 *
 * Every client runs in a child process (this program again, "--child", or
 * a command-line tool), so that its peak RSS is its own: the kernel's
 * wait4() rusage gives it. A child of this program warms up, says "ready",
 * waits for "go" (the parent zeroes the server's counters meanwhile), runs,
 * and writes its results as text lines (mail-proc.c). The parent keeps the
 * server, the rounds and the report.
 *
 * The peers, the phases' timing and verification, the server, the signer
 * and the shared options are those of fs-bench-s3 (bench.h); this program
 * adds its workload as a phase class (mail-work.c). Nothing here asserts a
 * timing.
 */
#ifndef BENCH_MAIL_H
#define BENCH_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "bench-server.h"

#define MAIL_PREFIX_MAX 128
#define MAIL_PATH_MAX 4096
#define MAIL_PHASES_MAX 16
#define MAIL_STATS_MAX 24
#define MAIL_NAME_MAX 32
/* Buffers above this are freed after each operation, so that a peer's peak
   RSS shows what it holds, not the largest object it ever saw. */
#define MAIL_KEEP_BUFFER_MAX (1024 * 1024)

/* ------------------------------------------------------------------------ */
/* Workload (mail-work.c)                                                     */

enum mail_op {
	MAIL_PUT,     /* store message i */
	MAIL_GET,     /* read message i back, verified */
	MAIL_IDX_PUT, /* rewrite mailbox i's index file */
	MAIL_IDX_GET, /* re-read it, verified against the last rewrite */
	MAIL_LIST,    /* list mailbox i % boxes, count verified */
	MAIL_DELETE,  /* delete every message, then every index file */
	MAIL_OP_COUNT,
};

/* One client's workload: everything (keys, sizes, bytes) derives from
   these, so the parent, the child and a verifier agree without talking. */
struct mail_work {
	char prefix[MAIL_PREFIX_MAX]; /* "" or "bm123-0-curl32" (no '/') */
	uint64_t seed;		      /* the bytes: one per client and round */
	uint64_t size_seed;	      /* the sizes: the same for every client */
	unsigned int mails;	      /* messages */
	unsigned int boxes;	      /* mailboxes, one index file each */
	unsigned int index_rounds;    /* rewrite + re-read of every index */
	unsigned int lists;	      /* listings of one mailbox each */
	size_t index_size;
	size_t max_size; /* messages above it are cut to it */
	/* Read message payloads from DIR/KEY instead of generating them
	   (the sync scenario's raw libcurl uploader); NULL otherwise. */
	const char *source_dir;
	/* Keys without '/': '-' separates the prefix, the mailbox and the
	   message (for s3rver, see mail-work.c). */
	bool flat;
};

/* One phase: the operations of op in work, depth in flight; the peers
   run its base (bench.h). */
struct mail_phase {
	struct bench_phase base;
	enum mail_op op;
	const struct mail_work *work;
	unsigned int round; /* MAIL_IDX_*: which rewrite */
};

const char *mail_op_name(enum mail_op op);

/* snprintf() that says whether it fit: returns 0, or -ENAMETOOLONG (buf
   then holds the truncated text). For paths and messages. */
int mail_format(char *buf, size_t size, const char *fmt, ...)
	BENCH_PRINTF(3, 4);

/* Message uid's size: the mix (most 2-64 KiB, a tail to 5 MiB), cut to
   work->max_size. */
size_t mail_message_size(const struct mail_work *work, unsigned int uid);

/* Operations of op in one run of the workload (the index ones per round). */
unsigned int mail_op_count(const struct mail_work *work, enum mail_op op);

/* Writes operation i's key (for MAIL_LIST: the prefix listed) into key_r. */
void mail_key(const struct mail_phase *ph, unsigned int i,
	      char key_r[BENCH_KEY_MAX]);
/* Message uid's key without the work prefix: "box07/msg000123". */
void mail_message_name(const struct mail_work *work, unsigned int uid,
		       char *name_r, size_t size);

/* Payload size of operation i (0 for LIST and DELETE). */
size_t mail_op_size(const struct mail_phase *ph, unsigned int i);

/* Fills buf with operation i's payload (mail_op_size() bytes). Returns 0,
   or -errno when reading the source file failed. */
int mail_fill(const struct mail_phase *ph, unsigned int i, void *buf);

/* Keys a listing of mailbox (i % boxes) must return. */
unsigned int mail_list_expect(const struct mail_phase *ph, unsigned int i);

/* Prepares ph for the operations of op (the index ones of round). Returns
   0 or -ENOMEM; free with bench_phase_deinit(&ph->base). Peers record the
   operations through the base: bench_phase_ok() verifies what GET and
   IDX_GET read, bench_phase_listed() the keys of a LIST. */
int mail_phase_init(struct mail_phase *ph, const struct mail_work *work,
		    enum mail_op op, unsigned int round, unsigned int depth);

/* The payload seeds: a stream is a pure function of its seed, so that any
   part of it can be produced again to verify what came back. */
uint64_t mail_message_seed(const struct mail_work *work, unsigned int uid);
uint64_t mail_index_seed(const struct mail_work *work, unsigned int box,
			 unsigned int round);
/* Fills buf with bytes [offset, offset + len) of stream seed. */
void mail_stream_fill(uint64_t seed, uint64_t offset, void *buf, size_t len);
/* Returns true if buf holds bytes [offset, offset + len) of stream seed. */
bool mail_stream_check(uint64_t seed, uint64_t offset, const void *buf,
		       size_t len);

/* ------------------------------------------------------------------------ */
/* Child processes (mail-proc.c)                                              */

/* A phase as a child reports it. */
struct mail_result {
	bool ran;
	char name[MAIL_NAME_MAX];
	unsigned int count, ops, failed, corrupt;
	uint64_t bytes, usecs, p50_usec, p99_usec;
	uint64_t mean_usec; /* of the completed operations' latencies */
};

/* A named number a child reports beside its phases ("put_hwm_kib", ...). */
struct mail_stat {
	char name[MAIL_NAME_MAX];
	uint64_t value;
};

/* What one child process did. */
struct mail_report {
	struct mail_result phases[MAIL_PHASES_MAX];
	unsigned int phase_count;
	struct mail_stat stats[MAIL_STATS_MAX];
	unsigned int stat_count;
	char error[BENCH_ERROR_MAX]; /* the first one */
	bool done;		     /* it said "done 0" */
	int exit_status;	     /* of wait4(), -1 if killed */
	long maxrss_kib;	     /* peak RSS, from wait4() */
	uint64_t cpu_usec;	     /* user + system CPU time */
	uint64_t wall_usec;	     /* spawn to exit */
};

struct mail_proc {
	pid_t pid;
	int cmd_fd; /* its stdin, or -1 */
	FILE *out;  /* its stdout, or NULL */
	uint64_t start_usec;
	char result[MAIL_PATH_MAX]; /* fs-bench-rusage's report */
	struct mail_report rep;
};

/* Children are started through fs-bench-rusage (bench-rusage.c), which
   writes its report in a file under tmpdir: without it, a child's
   ru_maxrss would include this process's memory at the fork. */
void mail_proc_setup(const char *rusage_helper, const char *tmpdir);

/* Starts argv[0] (a path) with envp (NULL: this process's environment).
   With talk set, its stdin and stdout are pipes to p (the child protocol);
   else stdin is /dev/null and stdout and stderr go to log (a path, or
   NULL for /dev/null). Returns 0 or -errno. */
int mail_proc_spawn(struct mail_proc *p, char *const argv[], char *const envp[],
		    bool talk, const char *log);
/* Reads lines until "ready" (0), or the end of the output (-EIO). */
int mail_proc_wait_ready(struct mail_proc *p);
/* Tells a ready child to start. */
int mail_proc_go(struct mail_proc *p);
/* Reads the result lines to the end, then reaps the child (wait4) into
   p->rep. Returns 0 if it exited 0 after "done", else -EIO. */
int mail_proc_finish(struct mail_proc *p);
/* Kills (SIGTERM) and reaps a child that is still running. */
void mail_proc_kill(struct mail_proc *p);

/* Returns the value of stat name in rep, or def if it is not there. */
uint64_t mail_report_stat(const struct mail_report *rep, const char *name,
			  uint64_t def);
/* Returns the phase name of rep, or NULL. */
const struct mail_result *mail_report_phase(const struct mail_report *rep,
					    const char *name);

/* Child side: the lines of the protocol, on stdout. */
void mail_say_ready(void);
/* Waits for "go" on stdin. Returns 0, or -EIO at its end. */
int mail_wait_go(void);
void mail_say_phase(const char *name, const struct bench_phase *ph);
void mail_say_result(const struct mail_result *r);
void mail_say_stat(const char *name, uint64_t value);
void mail_say_error(const char *name, const char *msg);
void mail_say_done(int status);
/* Fills r from a finished phase (percentiles over the completed ones). */
void mail_result_from_phase(struct mail_result *r, const char *name,
			    const struct bench_phase *ph);

/* Peak RSS so far of this process (VmHWM), in KiB; 0 if unknown. */
long mail_self_hwm_kib(void);

/* A separate fs-mockserver process. */
struct mail_mockproc {
	struct mail_proc proc;
	char url[BENCH_URL_MAX];
};

/* Starts path with "--listen 127.0.0.1:0" and extra arguments (NULL-
   terminated, may be NULL), and waits for its "listening on URL". Returns
   0 or -errno with a message in error. */
int mail_mockproc_start(struct mail_mockproc *m, const char *path,
			const char *const *extra, char *error, size_t size);
void mail_mockproc_stop(struct mail_mockproc *m);

/* ------------------------------------------------------------------------ */
/* Server request counters (mail-counts.c)                                    */

enum mail_counter {
	MC_PUT,
	MC_GET,
	MC_HEAD,
	MC_LIST2,
	MC_LIST1,
	MC_DELETE,
	MC_MP_CREATE,
	MC_MP_PART,
	MC_MP_COMPLETE,
	MC_COPY,
	MC_REQUESTS,
	MC_CONNECTIONS,
	MC_ERRORS,
	MC_COUNT,
};

struct mail_counts {
	bool valid; /* the server has counters */
	uint64_t v[MC_COUNT];
};

/* Reads the counters of the in-process mock or of an fs-mockserver's
   admin endpoint (c->valid is false for other servers). */
void mail_counts_read(struct bench_server *srv, struct mail_counts *c);
/* Adds b to a. */
void mail_counts_add(struct mail_counts *a, const struct mail_counts *b);
/* Requests other than those named in the enum before MC_REQUESTS. */
uint64_t mail_counts_other(const struct mail_counts *c);

/* ------------------------------------------------------------------------ */
/* Options and scenarios (bench-mail.c, mail-scn-*.c, mail-child.c)           */

#define MAIL_DEPTHS_MAX 4

struct mail_options {
	const char *scenario; /* mail, sync, big, cache, all */
	bool smoke;	      /* the smallest version, for ctest */

	/* The server (the in-process mock, or --endpoint: s3rver, ...), its
	   latency, and the runs of the mail scenario: clients, depths,
	   rounds, warm-up (bench.h). */
	struct bench_common_options common;

	/* Programs: this one, fs-mockserver, fsctl. */
	char self[MAIL_PATH_MAX];
	const char *mockserver;
	const char *fsctl;
	const char *rusage;
	const char *tmpdir;

	/* mail */
	const char *libfs_options; /* appended to libfs's s3:// spec */
	struct mail_work work;

	/* sync */
	unsigned int sync_mails;
	size_t sync_max_size;
	unsigned int sync_jobs;
	const char *tools;  /* comma-separated, NULL: all */
	bool tool_defaults; /* peers at their own concurrency defaults */

	/* big */
	uint64_t big_size;

	/* cache */
	unsigned int cache_reads;
	size_t cache_size;
	unsigned int cache_latency_ms;

	/* --child KIND and what only children take. */
	const char *child;
	const char *peer;
	unsigned int depth;
	const char *libfs_spec;
};

/* Child entry points (mail-child.c). Each returns the exit status. */
int mail_child_main(const struct mail_options *opt);

/* Scenarios; each returns 0 (all verified), 1 (a client failed) or 2
   (could not run). */
int mail_scn_mail(const struct mail_options *opt);
int mail_scn_sync(const struct mail_options *opt);
int mail_scn_big(const struct mail_options *opt);
int mail_scn_cache(const struct mail_options *opt);

/* Builds the argv of a child of this program: "--child kind", the target,
   the workload of opt and the extra arguments. Returns a NULL-terminated
   array to free with mail_argv_free(), or NULL. */
char **mail_child_argv(const struct mail_options *opt, const char *kind,
		       const struct bench_target *target,
		       const struct mail_work *work, const char *const *extra);
void mail_argv_free(char **argv);
/* Starts that child with the credentials in its environment
   (mail_child_env()), talking to p. Returns 0 or -errno. */
int mail_child_spawn(struct mail_proc *p, const struct mail_options *opt,
		     const char *kind, const struct bench_target *target,
		     const struct mail_work *work, const char *const *extra);

/* A NULL-terminated array of strings being built; a failed allocation is
   remembered and reported by mail_argv_done(). */
struct mail_argv {
	char **v;
	size_t n, alloc;
	bool failed;
};

void mail_argv_add(struct mail_argv *a, const char *arg);
void mail_argv_addf(struct mail_argv *a, const char *fmt, ...)
	BENCH_PRINTF(2, 3);
/* Returns the array (free with mail_argv_free()), or NULL if anything
   failed. */
char **mail_argv_done(struct mail_argv *a);
/* Environment for children of this program: this one plus the target's
   credentials (never on the command line). Free with mail_argv_free(). */
char **mail_child_env(const struct bench_target *target);

/* Reports (mail-report.c). */
/* Prints what else the machine is doing: CPUs, load average and CPU
   pressure (figures from a busy machine are noisy). */
void mail_print_machine(const char *when);
void mail_format_rss(long kib, char *buf, size_t size);
void mail_format_ratio(double a, double b, char *buf, size_t size);
void mail_print_phase_header(void);
/* One row: who, mode, the phase, and the reference ops/s for "vs curl" and
   "vs seq" (0: none). */
void mail_print_phase_row(const char *who, const char *mode,
			  const struct mail_result *r, double ref_ops,
			  double seq_ops);
double mail_result_ops(const struct mail_result *r);
double mail_result_mib(const struct mail_result *r);

#endif
