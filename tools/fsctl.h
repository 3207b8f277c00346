/*
 * fsctl: internal interface between the files of the command-line tool.
 *
 *	fsctl.c		main(), the one table of commands, option parsing
 *	fsctl-util.c	what commands share: opening a storage, error lines,
 *			formatting, the loop driving asynchronous slots
 *	fsctl-cmds.c	put, get, stat, ls, rm, copy, rename
 *	fsctl-sync.c	sync
 *	fsctl-mail.c	deterministic mail messages and index files
 *	fsctl-work.c	the mail-like workload of bench and demo
 *	fsctl-bench.c	bench and demo
 *
 * There is no global state beyond the command table: commands get what they
 * need through their arguments.
 */
#ifndef FSCTL_H
#define FSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libfs/fs.h>

#define FSCTL_CONTAINER_OF(ptr, type, member)                                  \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Exit statuses. Commands may also return FSCTL_HELP when they saw --help
   (main() prints their usage and exits 0) and FSCTL_BAD_SPEC when the
   library rejected a spec or key the user gave (-EINVAL or -ENOTSUP from
   fs_init(), -EINVAL from fs_file_init()): exit 2, but without the usage
   line a malformed command line gets. */
#define FSCTL_OK 0
#define FSCTL_FAILED 1
#define FSCTL_USAGE 2
#define FSCTL_HELP (-1)
#define FSCTL_BAD_SPEC (-2)

/* Streams move through buffers of this size: memory stays bounded. */
#define FSCTL_CHUNK_SIZE (128 * 1024)

/* The arguments of one command: argv[0] is the command name. */
struct fsctl_args {
	const char *cmd;
	int argc;
	char **argv;
	int next; /* index of the next argument to consume */
};

/* An option a command accepts: name is "--long" or "-x". */
struct fsctl_opt {
	const char *name;
	bool has_value;
	int id; /* > 0 */
};

#define FSCTL_OPT_END 0
#define FSCTL_OPT_ERROR (-1)
#define FSCTL_OPT_HELP (-2)

/* Returns the id of the next option (and its value in *value_r), FSCTL_OPT_END
   when the operands begin, FSCTL_OPT_HELP for --help/-h, or FSCTL_OPT_ERROR
   after printing why. Accepts "--name value", "--name=value", "-j 4", "-j4";
   "--" ends the options and "-" is an operand. */
int fsctl_opt_next(struct fsctl_args *args, const struct fsctl_opt *opts,
		   const char **value_r);

/* Checks that between min and max operands remain. Returns FSCTL_OK, or
   FSCTL_USAGE after printing what is wrong. */
int fsctl_operands(const struct fsctl_args *args, int min, int max);

/* Returns the next operand, or NULL if none is left. */
const char *fsctl_operand(struct fsctl_args *args);

/* Prints "fsctl: CMD: message" on stderr and returns FSCTL_USAGE. */
int fsctl_usage_error(const struct fsctl_args *args, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses a decimal number in [min, max]. Returns 0 or -EINVAL. */
int fsctl_parse_uint(const char *str, uint64_t min, uint64_t max,
		     uint64_t *num_r);

/* Parses a decimal number option; prints a usage error if it is bad.
   Returns FSCTL_OK or FSCTL_USAGE. */
int fsctl_opt_uint(const struct fsctl_args *args, const char *opt,
		   const char *value, uint64_t min, uint64_t max,
		   uint64_t *num_r);

/* Opens the storage named by spec. Returns FSCTL_OK; or prints the error and
   returns FSCTL_BAD_SPEC for a bad spec (-EINVAL, -ENOTSUP), else
   FSCTL_FAILED. */
int fsctl_fs_open(const struct fsctl_args *args, const char *spec,
		  struct fs **fs_r);
/* The same with settings (credentials of the embedded demo server). */
int fsctl_fs_open_set(const struct fsctl_args *args, const char *spec,
		      const struct fs_settings *set, struct fs **fs_r);

/* Copies spec into buf with any password or secret-looking query value
   replaced by "***", so that it can be printed. */
void fsctl_spec_redact(const char *spec, char *buf, size_t size);

/* Opens key on fs with mode_flags. Returns FSCTL_OK; or prints the error and
   returns FSCTL_BAD_SPEC for an invalid key (-EINVAL), else FSCTL_FAILED. */
int fsctl_file_open(const struct fsctl_args *args, struct fs *fs,
		    const char *key, unsigned int mode_flags,
		    struct fs_file **file_r);

/* Prints "fsctl: CMD WHAT: ENAME: message" on stderr (message from the
   library, or strerror if it gave none). Returns FSCTL_FAILED. */
int fsctl_fail(const char *cmd, const char *what, int err, const char *msg);

/* As fsctl_fail() with the message of file. */
int fsctl_file_fail(const char *cmd, struct fs_file *file, int err);

/* Monotonic clock in microseconds. */
uint64_t fsctl_now_usec(void);

/* Counts one operation of latency usec in the histogram of st (the buckets
   of struct fs_op_stats, so fs_op_stats_percentile() applies). */
void fsctl_stats_add(struct fs_op_stats *st, uint64_t usec, uint64_t bytes,
		     bool failed);

/* Formats bytes as "512 B", "12.3 KiB", "4.5 MiB"; returns buf. */
const char *fsctl_fmt_bytes(uint64_t bytes, char *buf, size_t size);

/* Formats a latency as "850 µs", "1.5 ms" or "2.10 s"; returns buf. */
const char *fsctl_fmt_usec(uint64_t usec, char *buf, size_t size);

/* Writes str padded with spaces to width display columns (UTF-8 aware),
   right-aligned, or left-aligned if left is set. */
void fsctl_put_padded(FILE *out, const char *str, int width, bool left);

/* Writes all size bytes to fd. Returns 0 or -errno. */
int fsctl_write_fd(int fd, const void *data, size_t size);

/* Reads up to size bytes from fd, retrying on EINTR. Returns the count (0 at
   end of file) or -errno. */
ssize_t fsctl_read_fd(int fd, void *buf, size_t size);

/* --- Driving asynchronous work --- */

/*
 * A slot is one operation in flight. Engines embed it first in their own slot
 * struct; fsctl_slot_callback() is the callback set on every file of a slot.
 */
struct fsctl_slot {
	bool ready;   /* its operation progressed: run it again */
	bool waiting; /* its last call returned -EAGAIN */
};

void fsctl_slot_callback(void *context);

/* Runs slot as far as it goes without blocking. Returns true while it waits
   for an operation (-EAGAIN), false when it has no more work. */
typedef bool fsctl_slot_run_t(struct fsctl_slot *slot, void *context);
/* Called once per round of the loop, e.g. to draw a progress bar. */
typedef void fsctl_pool_tick_t(void *context);

struct fsctl_pool {
	struct fs *fs_a, *fs_b; /* b may be NULL or equal to a */
	struct fsctl_slot **slots;
	unsigned int count;
	fsctl_slot_run_t *run;
	fsctl_pool_tick_t *tick; /* may be NULL */
	void *context;
};

/* Runs all slots until none has work left, driving both storages with
   fs_wait_async(). Returns 0, or the -errno of a failed event loop (its
   message printed; slots may then still hold open files). */
int fsctl_pool_run(const struct fsctl_pool *pool, const char *cmd);

/* --- Generated mail (fsctl-mail.c) --- */

/* One class of a size mix: percent of the messages get a size in
   [min, max]. A mix is an array ended by percent 0. */
struct fsctl_size_class {
	unsigned int percent;
	uint64_t min, max;
};

/* A message being produced: see fsctl_mail_fill(). */
struct fsctl_mail {
	uint64_t rng;
	uint64_t size, pos;
	unsigned int uid, line_no;
	char line[160];
	size_t line_len, line_off;
};

/* Returns the next number of the splitmix64 generator at *state. */
uint64_t fsctl_rng_next(uint64_t *state);

/* Returns the size of message uid drawn from mix. */
uint64_t fsctl_mail_size(const struct fsctl_size_class *mix, uint64_t seed,
			 unsigned int uid);

/* Returns the IMAP flags of message uid, e.g. "\\Seen \\Answered". */
const char *fsctl_mail_flags(uint64_t seed, unsigned int uid);

/* Starts producing message uid of size bytes: RFC 5322 headers, a blank
   line, then lines of text, all CRLF-terminated. */
void fsctl_mail_init(struct fsctl_mail *mail, uint64_t seed, unsigned int uid,
		     uint64_t size);

/* Writes the next (up to) size bytes of the message into buf. Returns the
   count, 0 at the end. The same (seed, uid, size) gives the same bytes. */
size_t fsctl_mail_fill(struct fsctl_mail *mail, char *buf, size_t size);

/* Fills buf with the content of an index file as rewritten in round. */
void fsctl_index_fill(char *buf, size_t size, uint64_t seed,
		      unsigned int round);

/* --- The mail-like workload of bench and demo (fsctl-work.c) --- */

enum fsctl_phase_id {
	FSCTL_PH_PUT,
	FSCTL_PH_INDEX_WRITE,
	FSCTL_PH_INDEX_READ,
	FSCTL_PH_LIST,
	FSCTL_PH_GET,
	FSCTL_PH_DELETE,
	FSCTL_PH_COUNT
};

struct fsctl_phase {
	struct fs_op_stats st; /* timed here, one entry per operation */
	uint64_t wall_usec;
	long rss_kib; /* peak RSS when the phase ended */
	bool ran;
	const char *note; /* printed instead of numbers, e.g. "skipped" */
};

struct fsctl_work {
	/* Set by the caller. Keys are msg_prefix + uid (1..messages). */
	const char *cmd;
	struct fs *fs;
	const char *msg_prefix, *index_key, *list_prefix;
	const struct fsctl_size_class *mix;
	unsigned int messages, index_rounds, jobs;
	uint64_t seed;
	bool metadata; /* store and check a "flags" metadata */
	bool keep;     /* leave what was written in place */

	/* Results, summed over runs. */
	struct fsctl_phase phases[FSCTL_PH_COUNT];
	uint64_t expected, verified, failures;

	/* State of the current run. */
	uint8_t *written; /* per uid: the put succeeded */
	bool index_written;
};

/* Runs the workload once, printing each failure (and counting it in
   work->failures). Returns 0, or -errno if it had to stop early (what it
   wrote is removed all the same, unless work->keep). */
int fsctl_work_run(struct fsctl_work *work);

/* Prints the table of phases: operations, bytes, ops/s, MB/s, p50, p99 and,
   if rss is set, the peak RSS. */
void fsctl_work_print(const struct fsctl_work *work, FILE *out, bool rss);
/* Prints one line per layer of fs that has cache or fault statistics. */
void fsctl_layers_print(struct fs *fs, FILE *out);

/* --- Commands --- */

int fsctl_cmd_put(struct fsctl_args *args);
int fsctl_cmd_get(struct fsctl_args *args);
int fsctl_cmd_stat(struct fsctl_args *args);
int fsctl_cmd_ls(struct fsctl_args *args);
int fsctl_cmd_rm(struct fsctl_args *args);
int fsctl_cmd_copy(struct fsctl_args *args);
int fsctl_cmd_rename(struct fsctl_args *args);
int fsctl_cmd_sync(struct fsctl_args *args);
int fsctl_cmd_bench(struct fsctl_args *args);
int fsctl_cmd_demo(struct fsctl_args *args);

#endif
