/*
 * fsctl: command-line access to any libfs storage.
 *
 *	fsctl COMMAND [OPTIONS] SPEC ...
 *
 * This file holds main(), the one table of commands with their usage texts,
 * and option parsing. The commands live in fsctl-*.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsctl.h"

struct fsctl_command {
	const char *name;
	int (*run)(struct fsctl_args *args);
	/* First line: the synopsis; the rest: what it does and its options. */
	const char *usage;
};

static const struct fsctl_command fsctl_commands[] = {
	{"put", fsctl_cmd_put,
	 "put [--create] [--meta K=V]... [--fsync] SPEC KEY [FILE]\n"
	 "Stores FILE (or stdin if FILE is missing or \"-\") under KEY,\n"
	 "streaming it in 128 KiB chunks. Nothing is visible before the\n"
	 "whole stream is stored.\n"
	 "  --create    fail with EEXIST if KEY exists (default: replace)\n"
	 "  --meta K=V  store metadata K=V with the object (repeatable)\n"
	 "  --fsync     make the object durable before returning\n"},
	{"get", fsctl_cmd_get,
	 "get [--range A-B] SPEC KEY [FILE]\n"
	 "Writes the object KEY to FILE (or stdout if FILE is missing or\n"
	 "\"-\"). A regular FILE is written to a temporary file in the same\n"
	 "directory and renamed into place only when complete (keeping the\n"
	 "mode of the file it replaces; through a symlink, the file it points\n"
	 "to is replaced). A device or FIFO is written to as it is.\n"
	 "  --range A-B  only bytes A to B, both included (\"A-\": to the "
	 "end)\n"},
	{"stat", fsctl_cmd_stat,
	 "stat SPEC KEY\n"
	 "Prints what the storage knows of KEY, one \"name value\" per line:\n"
	 "  size N        bytes\n"
	 "  mtime T       ISO-8601 UTC with nanoseconds, e.g.\n"
	 "                2026-11-28T18:00:00.123456789Z\n"
	 "  etag E\n"
	 "  meta.K V      metadata, where the storage keeps it\n"
	 "A line is printed only when the storage provides the value.\n"},
	{"ls", fsctl_cmd_ls,
	 "ls [-1] SPEC [PREFIX]\n"
	 "Lists every key starting with PREFIX, one per line, in byte order.\n"
	 "  -1  one level only: keys directly under PREFIX, and the deeper\n"
	 "      levels as common prefixes ending in '/'\n"},
	{"rm", fsctl_cmd_rm,
	 "rm SPEC KEY...\n"
	 "Deletes each KEY. All are attempted; the exit status is 1 if any\n"
	 "failed.\n"},
	{"copy", fsctl_cmd_copy,
	 "copy [--create] SPEC SRC DST\n"
	 "Copies SRC to DST with its metadata (on the server where the\n"
	 "storage can).\n"
	 "  --create  fail with EEXIST if DST exists (default: replace)\n"},
	{"rename", fsctl_cmd_rename,
	 "rename [--create] SPEC SRC DST\n"
	 "Moves SRC to DST (atomically where the storage can).\n"
	 "  --create  fail with EEXIST if DST exists (default: replace)\n"},
	{"sync", fsctl_cmd_sync,
	 "sync [-j N] [--prefix P] [--verify] [--delete] SRC_SPEC DST_SPEC\n"
	 "Copies every key (under P) of SRC_SPEC to the same key in DST_SPEC,\n"
	 "with metadata when both storages keep it, replacing what is there.\n"
	 "Memory stays bounded to N x 128 KiB plus the list of keys.\n"
	 "  -j N        operations in flight (default 4)\n"
	 "  --prefix P  only keys starting with P\n"
	 "  --verify    re-read both sides afterwards and compare every byte\n"
	 "              and the metadata\n"
	 "  --delete    then delete keys (under P) of DST_SPEC that SRC_SPEC\n"
	 "              does not have; skipped if anything failed\n"
	 "A progress bar is drawn on stderr when it is a terminal; a summary\n"
	 "line goes to stdout. Sizes are binary (KiB, MiB), rates decimal "
	 "MB/s.\n"},
	{"bench", fsctl_cmd_bench,
	 "bench [-j N] [-n MESSAGES] [--seconds S] SPEC\n"
	 "Runs a mail-like workload under a unique prefix \"bench-PID-TIME/\"\n"
	 "and removes all it wrote: MESSAGES messages (70% 2-16 KiB, 25%\n"
	 "16-64 KiB, 5% 64 KiB-2 MiB), an index file rewritten and re-read\n"
	 "100 times, a listing, reading every message back (verified), and\n"
	 "deleting everything. Prints per phase: operations, bytes, ops/s,\n"
	 "MB/s, p50 and p99 latency, peak RSS.\n"
	 "  -j N         puts and gets in flight, asynchronously (default 1)\n"
	 "  -n MESSAGES  number of messages (default 500)\n"
	 "  --seconds S  repeat the whole workload until S seconds passed\n"},
	{"demo", fsctl_cmd_demo,
	 "demo [--keep] [SPEC]\n"
	 "Writes 300 generated mail messages (2-200 KiB, with a \"flags\"\n"
	 "metadata where supported) under user/INBOX/, rewrites and re-reads\n"
	 "an index file 50 times, lists, reads everything back and verifies\n"
	 "every byte, then prints a table of the phases. Without SPEC it uses\n"
	 "a new directory under TMPDIR (or /tmp). With SPEC, user/INBOX/ must\n"
	 "be empty there. What it wrote is removed at the end.\n"
	 "  --keep  keep the store (and the messages) for a look\n"},
};

#define FSCTL_N_COMMANDS (sizeof(fsctl_commands) / sizeof(fsctl_commands[0]))

static const struct fsctl_command *fsctl_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < FSCTL_N_COMMANDS; i++) {
		if (strcmp(fsctl_commands[i].name, name) == 0)
			return &fsctl_commands[i];
	}
	return NULL;
}

/* Prints the first line of the usage text after lead. */
static void fsctl_print_synopsis(FILE *out, const char *lead,
				 const struct fsctl_command *cmd)
{
	const char *nl = strchr(cmd->usage, '\n');
	int len = nl == NULL ? (int)strlen(cmd->usage) : (int)(nl - cmd->usage);

	fprintf(out, "%s%.*s\n", lead, len, cmd->usage);
}

static int fsctl_print_help(FILE *out, const struct fsctl_command *cmd)
{
	fprintf(out, "usage: fsctl %s", cmd->usage);
	return fflush(out) == 0 && !ferror(out) ? FSCTL_OK : FSCTL_FAILED;
}

static int fsctl_print_overview(FILE *out)
{
	size_t i;

	fputs("usage: fsctl COMMAND [OPTIONS] SPEC ...\n"
	      "       fsctl help COMMAND | fsctl COMMAND --help\n"
	      "       fsctl --help | --version\n\n"
	      "Commands:\n",
	      out);
	for (i = 0; i < FSCTL_N_COMMANDS; i++)
		fsctl_print_synopsis(out, "  ", &fsctl_commands[i]);
	fputs("\nSPEC names a storage: /dir, posix:/dir, file:///dir, mem:,\n"
	      "s3://BUCKET/PREFIX?..., dav+https://USER@host/path/,\n"
	      "mogilefs://HOST:PORT[,HOST:PORT]/DOMAIN?class=C, layers\n"
	      "such as cache:max=64M::SPEC. FILE \"-\" is stdin or stdout.\n"
	      "Exit status: 0 success, 1 an operation failed, 2 usage or\n"
	      "spec error.\n",
	      out);
	return fflush(out) == 0 && !ferror(out) ? FSCTL_OK : FSCTL_FAILED;
}

static int fsctl_help(int argc, char **argv)
{
	const struct fsctl_command *cmd;

	if (argc < 3)
		return fsctl_print_overview(stdout);
	cmd = fsctl_command_find(argv[2]);
	if (cmd == NULL) {
		fprintf(stderr, "fsctl: help: unknown command '%s'\n", argv[2]);
		return FSCTL_USAGE;
	}
	return fsctl_print_help(stdout, cmd);
}

static int fsctl_run(const struct fsctl_command *cmd, int argc, char **argv)
{
	struct fsctl_args args = {
		.cmd = cmd->name,
		.argc = argc,
		.argv = argv,
		.next = 1,
	};
	int ret;

	ret = cmd->run(&args);
	if (ret == FSCTL_HELP)
		return fsctl_print_help(stdout, cmd);
	if (ret == FSCTL_BAD_SPEC)
		return FSCTL_USAGE;
	if (ret == FSCTL_USAGE) {
		fsctl_print_synopsis(stderr, "usage: fsctl ", cmd);
		fprintf(stderr, "Try 'fsctl help %s'.\n", cmd->name);
	}
	return ret;
}

int main(int argc, char **argv)
{
	const struct fsctl_command *cmd;

	if (argc < 2) {
		fsctl_print_overview(stderr);
		return FSCTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return fsctl_help(argc, argv);
	if (strcmp(argv[1], "--version") == 0) {
		printf("fsctl %s (libfs %s)\n", LIBFS_VERSION_STRING,
		       fs_version());
		return fflush(stdout) == 0 ? FSCTL_OK : FSCTL_FAILED;
	}
	cmd = fsctl_command_find(argv[1]);
	if (cmd == NULL) {
		fprintf(stderr,
			"fsctl: unknown command '%s'\nTry 'fsctl --help'.\n",
			argv[1]);
		return FSCTL_USAGE;
	}
	return fsctl_run(cmd, argc - 1, argv + 1);
}

/* ------------------------------------------------------------------------ */
/* Options                                                                    */

static const struct fsctl_opt *fsctl_opt_find(const struct fsctl_opt *opts,
					      const char *arg, size_t len)
{
	for (; opts->name != NULL; opts++) {
		if (strlen(opts->name) == len &&
		    strncmp(opts->name, arg, len) == 0)
			return opts;
	}
	return NULL;
}

/* Finds arg among the options: "--name", "--name=value", "-x", "-xVALUE".
   Sets *inline_r to an attached value, or NULL. */
static const struct fsctl_opt *fsctl_opt_match(const struct fsctl_opt *opts,
					       const char *arg,
					       const char **inline_r)
{
	const struct fsctl_opt *opt;
	const char *eq;

	*inline_r = NULL;
	if (arg[1] == '-') {
		eq = strchr(arg, '=');
		if (eq == NULL)
			return fsctl_opt_find(opts, arg, strlen(arg));
		opt = fsctl_opt_find(opts, arg, (size_t)(eq - arg));
		*inline_r = eq + 1;
		return opt;
	}
	opt = fsctl_opt_find(opts, arg, 2);
	if (opt != NULL && arg[2] != '\0')
		*inline_r = arg + 2;
	return opt;
}

static int fsctl_opt_value(struct fsctl_args *args, const struct fsctl_opt *opt,
			   const char *inline_value, const char **value_r)
{
	if (!opt->has_value) {
		if (inline_value != NULL) {
			fsctl_usage_error(args, "option %s takes no value",
					  opt->name);
			return FSCTL_OPT_ERROR;
		}
		*value_r = NULL;
		return opt->id;
	}
	if (inline_value != NULL) {
		*value_r = inline_value;
		return opt->id;
	}
	if (args->next >= args->argc) {
		fsctl_usage_error(args, "option %s needs a value", opt->name);
		return FSCTL_OPT_ERROR;
	}
	*value_r = args->argv[args->next++];
	return opt->id;
}

int fsctl_opt_next(struct fsctl_args *args, const struct fsctl_opt *opts,
		   const char **value_r)
{
	const struct fsctl_opt *opt;
	const char *arg, *inline_value;

	*value_r = NULL;
	if (args->next >= args->argc)
		return FSCTL_OPT_END;
	arg = args->argv[args->next];
	if (arg[0] != '-' || arg[1] == '\0')
		return FSCTL_OPT_END;
	args->next++;
	if (strcmp(arg, "--") == 0)
		return FSCTL_OPT_END;
	if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
		return FSCTL_OPT_HELP;
	opt = fsctl_opt_match(opts, arg, &inline_value);
	if (opt == NULL) {
		fsctl_usage_error(args, "unknown option '%s'", arg);
		return FSCTL_OPT_ERROR;
	}
	return fsctl_opt_value(args, opt, inline_value, value_r);
}

int fsctl_operands(const struct fsctl_args *args, int min, int max)
{
	int left = args->argc - args->next;

	if (left < min)
		return fsctl_usage_error(args, "missing arguments");
	if (max >= 0 && left > max)
		return fsctl_usage_error(args, "too many arguments");
	return FSCTL_OK;
}

const char *fsctl_operand(struct fsctl_args *args)
{
	if (args->next >= args->argc)
		return NULL;
	return args->argv[args->next++];
}

int fsctl_usage_error(const struct fsctl_args *args, const char *fmt, ...)
{
	va_list va;

	fprintf(stderr, "fsctl: %s: ", args->cmd);
	va_start(va, fmt);
	vfprintf(stderr, fmt, va);
	va_end(va);
	fputc('\n', stderr);
	return FSCTL_USAGE;
}

int fsctl_parse_uint(const char *str, uint64_t min, uint64_t max,
		     uint64_t *num_r)
{
	unsigned long long num;
	char *end;

	if (str[0] < '0' || str[0] > '9')
		return -EINVAL;
	errno = 0;
	num = strtoull(str, &end, 10);
	if (errno != 0 || *end != '\0' || num < min || num > max)
		return -EINVAL;
	*num_r = num;
	return 0;
}

int fsctl_opt_uint(const struct fsctl_args *args, const char *opt,
		   const char *value, uint64_t min, uint64_t max,
		   uint64_t *num_r)
{
	if (fsctl_parse_uint(value, min, max, num_r) < 0) {
		return fsctl_usage_error(
			args, "%s: '%s' is not a number from %llu to %llu", opt,
			value, (unsigned long long)min,
			(unsigned long long)max);
	}
	return FSCTL_OK;
}
