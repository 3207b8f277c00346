/*
 * fs-bench-mail: options, the scenario table and main. See bench-mail.h for
 * the shape of the program and bench/README.md for how to read its output.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-mail.h"

#ifndef BENCH_MAIL_MOCKSERVER
#define BENCH_MAIL_MOCKSERVER "fs-mockserver"
#endif
#ifndef BENCH_MAIL_FSCTL
#define BENCH_MAIL_FSCTL "fsctl"
#endif
#ifndef BENCH_MAIL_RUSAGE
#define BENCH_MAIL_RUSAGE "fs-bench-rusage"
#endif

extern char **environ;

const char bench_program[] = "fs-bench-mail";

/* Numbers may say k, M or G; up to MAIL_DEPTHS_MAX depths; --clients is
   not checked (a name that is no peer runs nothing). */
static const struct bench_option_rules mail_rules = {
	.warmup_max = 100000,
	.depths_max = MAIL_DEPTHS_MAX,
	.units = true,
	.check_clients = false,
};

static const struct {
	const char *name;
	int (*run)(const struct mail_options *opt);
} mail_scenarios[] = {
	{"mail", mail_scn_mail},
	{"sync", mail_scn_sync},
	{"big", mail_scn_big},
	{"cache", mail_scn_cache},
};
#define MAIL_SCENARIO_COUNT (sizeof(mail_scenarios) / sizeof(mail_scenarios[0]))

static const char mail_usage[] =
	"usage: fs-bench-mail --scenario mail|sync|big|cache|all [OPTIONS]\n"
	"A mail store's workload through libfs and its peers, each client in\n"
	"its own process (peak RSS from wait4), all in one run; every figure\n"
	"is also printed as a ratio to raw libcurl measured in the same run.\n"
	"Exit status: 0 all data verified, 1 a client failed or returned\n"
	"wrong data, 2 the benchmark could not run.\n"
	"\n"
	"  --smoke            the smallest version of the scenario(s), for\n"
	"                     ctest (correctness only)\n"
	"server (mail, cache):\n"
	"  --endpoint URL     an external S3 server (s3rver, fs-mockserver)\n"
	"                     instead of the in-process mock\n"
	"  --latency MS       mock: delay every request by MS (mail)\n"
	"  --bucket NAME, --region NAME, --access-key K, --secret-key S\n"
	"                     (default bench, us-east-1, test, test)\n"
	"mail:\n"
	"  --clients LIST     of curl,libfs,libs3 (default all)\n"
	"  --libfs-options O  appended to libfs's s3:// spec, e.g. verify=0\n"
	"  --parallel LIST    depths, e.g. 1,32 (default 1,32)\n"
	"  --rounds N         rounds; the median is shown (default 3)\n"
	"  --warmup N         warm-up messages per client (default 64)\n"
	"  --mails N          messages (default 1000)\n"
	"  --boxes N          mailboxes, one index file each (default 32)\n"
	"  --index-rounds N   rewrites + re-reads of every index (default 4)\n"
	"  --index-size BYTES (default 65536)\n"
	"  --lists N          listings of a mailbox (default 64)\n"
	"  --max-size BYTES   cut messages above this (default: none)\n"
	"  --flat-keys        '-' instead of '/' in keys (s3rver deletes\n"
	"                     fail when done in parallel in one directory)\n"
	"sync:\n"
	"  --sync-mails N     messages in the directory (default 5000)\n"
	"  --sync-max-size B  cut messages above this (default 262144)\n"
	"  --jobs N           fsctl sync -j N and the peers' concurrency\n"
	"                     (default 32)\n"
	"  --tools LIST       of curl,fsctl,aws,s3cmd,rclone (default all)\n"
	"  --tool-defaults    run aws and rclone at their own default\n"
	"                     concurrency instead of --jobs\n"
	"big:\n"
	"  --big-size BYTES   object size (default 1G)\n"
	"cache:\n"
	"  --cache-reads N    index files read (default 200)\n"
	"  --cache-size BYTES index file size (default 65536)\n"
	"  --cache-latency MS mock latency (default 1)\n"
	"programs:\n"
	"  --mockserver PATH  fs-mockserver (sync, big)\n"
	"  --fsctl PATH       fsctl (sync)\n"
	"  --rusage PATH      fs-bench-rusage, which starts every client\n"
	"  --tmpdir DIR       for the sync source and the big data (default\n"
	"                     TMPDIR or /tmp)\n";

/* --- Parsing --- */

static int mail_parse_u64(const char *str, uint64_t min, uint64_t max,
			  uint64_t *num_r)
{
	return bench_parse_u64(str, min, max, true, num_r);
}

static int mail_parse_uint(const char *str, unsigned int min, unsigned int max,
			   unsigned int *num_r)
{
	return bench_parse_uint(str, min, max, true, num_r);
}

static int mail_parse_size(const char *str, size_t min, size_t max,
			   size_t *size_r)
{
	uint64_t n;

	if (mail_parse_u64(str, min, max, &n) < 0)
		return -EINVAL;
	*size_r = (size_t)n;
	return 0;
}

enum {
	OPT_SCENARIO = BENCH_OPT_OWN,
	OPT_SMOKE,
	OPT_LIBFS_OPTIONS,
	OPT_MAILS,
	OPT_BOXES,
	OPT_INDEX_ROUNDS,
	OPT_INDEX_SIZE,
	OPT_LISTS,
	OPT_MAX_SIZE,
	OPT_SYNC_MAILS,
	OPT_SYNC_MAX_SIZE,
	OPT_JOBS,
	OPT_TOOLS,
	OPT_TOOL_DEFAULTS,
	OPT_BIG_SIZE,
	OPT_CACHE_READS,
	OPT_CACHE_SIZE,
	OPT_CACHE_LATENCY,
	OPT_MOCKSERVER,
	OPT_FSCTL,
	OPT_RUSAGE,
	OPT_TMPDIR,
	OPT_CHILD,
	OPT_PEER,
	OPT_DEPTH,
	OPT_PREFIX,
	OPT_SEED,
	OPT_SIZE_SEED,
	OPT_LIBFS_SPEC,
	OPT_SOURCE_DIR,
	OPT_FLAT_KEYS,
	OPT_HELP,
};

static const struct option mail_long_options[] = {
	{"scenario", required_argument, NULL, OPT_SCENARIO},
	{"smoke", no_argument, NULL, OPT_SMOKE},
	BENCH_COMMON_LONG_OPTIONS,
	{"libfs-options", required_argument, NULL, OPT_LIBFS_OPTIONS},
	{"mails", required_argument, NULL, OPT_MAILS},
	{"boxes", required_argument, NULL, OPT_BOXES},
	{"index-rounds", required_argument, NULL, OPT_INDEX_ROUNDS},
	{"index-size", required_argument, NULL, OPT_INDEX_SIZE},
	{"lists", required_argument, NULL, OPT_LISTS},
	{"max-size", required_argument, NULL, OPT_MAX_SIZE},
	{"sync-mails", required_argument, NULL, OPT_SYNC_MAILS},
	{"sync-max-size", required_argument, NULL, OPT_SYNC_MAX_SIZE},
	{"jobs", required_argument, NULL, OPT_JOBS},
	{"tools", required_argument, NULL, OPT_TOOLS},
	{"tool-defaults", no_argument, NULL, OPT_TOOL_DEFAULTS},
	{"big-size", required_argument, NULL, OPT_BIG_SIZE},
	{"cache-reads", required_argument, NULL, OPT_CACHE_READS},
	{"cache-size", required_argument, NULL, OPT_CACHE_SIZE},
	{"cache-latency", required_argument, NULL, OPT_CACHE_LATENCY},
	{"mockserver", required_argument, NULL, OPT_MOCKSERVER},
	{"fsctl", required_argument, NULL, OPT_FSCTL},
	{"rusage", required_argument, NULL, OPT_RUSAGE},
	{"tmpdir", required_argument, NULL, OPT_TMPDIR},
	{"child", required_argument, NULL, OPT_CHILD},
	{"peer", required_argument, NULL, OPT_PEER},
	{"depth", required_argument, NULL, OPT_DEPTH},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"seed", required_argument, NULL, OPT_SEED},
	{"size-seed", required_argument, NULL, OPT_SIZE_SEED},
	{"libfs-spec", required_argument, NULL, OPT_LIBFS_SPEC},
	{"source-dir", required_argument, NULL, OPT_SOURCE_DIR},
	{"flat-keys", no_argument, NULL, OPT_FLAT_KEYS},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void mail_options_init(struct mail_options *opt)
{
	const char *tmp = getenv("TMPDIR");

	memset(opt, 0, sizeof(*opt));
	bench_common_init(&opt->common);
	opt->mockserver = BENCH_MAIL_MOCKSERVER;
	opt->fsctl = BENCH_MAIL_FSCTL;
	opt->rusage = BENCH_MAIL_RUSAGE;
	opt->tmpdir = tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
	opt->common.depths[0] = 1;
	opt->common.depths[1] = 32;
	opt->common.depth_count = 2;
	opt->common.warmup = 64;
	opt->work.mails = 1000;
	opt->work.boxes = 32;
	opt->work.index_rounds = 4;
	opt->work.index_size = 64 * 1024;
	opt->work.lists = 64;
	opt->sync_mails = 5000;
	opt->sync_max_size = 256 * 1024;
	opt->sync_jobs = 32;
	opt->big_size = 1ull << 30;
	opt->cache_reads = 200;
	opt->cache_size = 64 * 1024;
	opt->cache_latency_ms = 1;
	opt->depth = 1;
}

/* Options of the mail workload; returns 1 if c is not one of them. */
static int mail_option_work(struct mail_options *opt, int c, const char *arg)
{
	struct mail_work *w = &opt->work;

	switch (c) {
	case OPT_MAILS:
		return mail_parse_uint(arg, 0, 1000000, &w->mails);
	case OPT_BOXES:
		return mail_parse_uint(arg, 1, 100000, &w->boxes);
	case OPT_INDEX_ROUNDS:
		return mail_parse_uint(arg, 0, 10000, &w->index_rounds);
	case OPT_INDEX_SIZE:
		return mail_parse_size(arg, 1, 64u << 20, &w->index_size);
	case OPT_LISTS:
		return mail_parse_uint(arg, 0, 1000000, &w->lists);
	case OPT_MAX_SIZE:
		return mail_parse_size(arg, 1, 1u << 30, &w->max_size);
	case OPT_PREFIX:
		/* "-" is the empty prefix (keys at the bucket's top). */
		if (strlen(arg) >= sizeof(w->prefix))
			return -EINVAL;
		snprintf(w->prefix, sizeof(w->prefix), "%s",
			 strcmp(arg, "-") == 0 ? "" : arg);
		return 0;
	case OPT_SEED:
		return mail_parse_u64(arg, 0, UINT64_MAX, &w->seed);
	case OPT_SIZE_SEED:
		return mail_parse_u64(arg, 0, UINT64_MAX, &w->size_seed);
	case OPT_SOURCE_DIR:
		w->source_dir = arg;
		return 0;
	case OPT_FLAT_KEYS:
		w->flat = true;
		return 0;
	default:
		return 1;
	}
}

/* Options of the programs; returns 1 if c is not one of them. */
static int mail_option_programs(struct mail_options *opt, int c,
				const char *arg)
{
	switch (c) {
	case OPT_MOCKSERVER:
		opt->mockserver = arg;
		return 0;
	case OPT_FSCTL:
		opt->fsctl = arg;
		return 0;
	case OPT_RUSAGE:
		opt->rusage = arg;
		return 0;
	case OPT_TMPDIR:
		opt->tmpdir = arg;
		return 0;
	default:
		return 1;
	}
}

/* The scenarios' own options; returns 1 if c is not one of them. */
static int mail_option_scenario(struct mail_options *opt, int c,
				const char *arg)
{
	switch (c) {
	case OPT_LIBFS_OPTIONS:
		opt->libfs_options = arg;
		return 0;
	case OPT_SYNC_MAILS:
		return mail_parse_uint(arg, 1, 1000000, &opt->sync_mails);
	case OPT_SYNC_MAX_SIZE:
		return mail_parse_size(arg, 1, 1u << 30, &opt->sync_max_size);
	case OPT_JOBS:
		return mail_parse_uint(arg, 1, 256, &opt->sync_jobs);
	case OPT_TOOLS:
		opt->tools = arg;
		return 0;
	case OPT_TOOL_DEFAULTS:
		opt->tool_defaults = true;
		return 0;
	case OPT_BIG_SIZE:
		return mail_parse_u64(arg, 1, 1ull << 40, &opt->big_size);
	case OPT_CACHE_READS:
		return mail_parse_uint(arg, 1, 100000, &opt->cache_reads);
	case OPT_CACHE_SIZE:
		return mail_parse_size(arg, 1, 16u << 20, &opt->cache_size);
	case OPT_CACHE_LATENCY:
		return mail_parse_uint(arg, 0, 10000, &opt->cache_latency_ms);
	default:
		return 1;
	}
}

/* Takes one option; returns 0, 1 for --help, or -EINVAL. */
static int mail_option(struct mail_options *opt, int c, const char *arg)
{
	int ret;

	ret = bench_common_option(&opt->common, &mail_rules, c, arg);
	if (ret != 1 || (ret = mail_option_work(opt, c, arg)) != 1 ||
	    (ret = mail_option_programs(opt, c, arg)) != 1 ||
	    (ret = mail_option_scenario(opt, c, arg)) != 1)
		return ret;
	switch (c) {
	case OPT_SCENARIO:
		opt->scenario = arg;
		return 0;
	case OPT_SMOKE:
		opt->smoke = true;
		return 0;
	case OPT_CHILD:
		opt->child = arg;
		return 0;
	case OPT_PEER:
		opt->peer = arg;
		return 0;
	case OPT_DEPTH:
		return mail_parse_uint(arg, 1, 256, &opt->depth);
	case OPT_LIBFS_SPEC:
		opt->libfs_spec = arg;
		return 0;
	case OPT_HELP:
		return 1;
	default:
		return -EINVAL;
	}
}

/* The smallest version of every scenario: correctness only. */
static void mail_options_smoke(struct mail_options *opt)
{
	opt->common.rounds = 1;
	opt->common.warmup = 4;
	opt->common.depths[0] = 1;
	opt->common.depths[1] = 4;
	opt->common.depth_count = 2;
	opt->work.mails = 24;
	opt->work.boxes = 4;
	opt->work.index_rounds = 1;
	opt->work.index_size = 4096;
	opt->work.lists = 4;
	opt->work.max_size = 256 * 1024;
	opt->sync_mails = 40;
	opt->sync_max_size = 64 * 1024;
	opt->sync_jobs = 4;
	opt->big_size = 12ull << 20;
	opt->cache_reads = 10;
	opt->cache_size = 4096;
}

static int mail_parse_args(struct mail_options *opt, int argc, char **argv)
{
	bool smoke_sizes = false;
	int c, ret;

	mail_options_init(opt);
	/* --smoke first, so that explicit options still override it. */
	for (c = 1; c < argc; c++)
		smoke_sizes = smoke_sizes || strcmp(argv[c], "--smoke") == 0;
	if (smoke_sizes)
		mail_options_smoke(opt);
	while ((c = getopt_long(argc, argv, "", mail_long_options, NULL)) !=
	       -1) {
		ret = mail_option(opt, c, optarg);
		if (ret != 0)
			return ret;
	}
	if (optind != argc || (opt->scenario == NULL && opt->child == NULL))
		return -EINVAL;
	return 0;
}

/* --- Children and specs --- */

void mail_argv_add(struct mail_argv *a, const char *arg)
{
	char **v;

	if (a->failed)
		return;
	if (a->n + 2 > a->alloc) {
		a->alloc = a->alloc == 0 ? 32 : a->alloc * 2;
		v = realloc(a->v, a->alloc * sizeof(*v));
		if (v == NULL) {
			a->failed = true;
			return;
		}
		a->v = v;
	}
	a->v[a->n] = strdup(arg);
	if (a->v[a->n] == NULL) {
		a->failed = true;
		return;
	}
	a->v[++a->n] = NULL;
}

void mail_argv_addf(struct mail_argv *a, const char *fmt, ...)
{
	char buf[MAIL_PATH_MAX];
	va_list args;

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	mail_argv_add(a, buf);
}

static void mail_argv_num(struct mail_argv *a, const char *name, uint64_t num)
{
	mail_argv_add(a, name);
	mail_argv_addf(a, "%llu", (unsigned long long)num);
}

char **mail_argv_done(struct mail_argv *a)
{
	if (!a->failed)
		return a->v;
	mail_argv_free(a->v);
	return NULL;
}

void mail_argv_free(char **argv)
{
	size_t i;

	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

char **mail_child_argv(const struct mail_options *opt, const char *kind,
		       const struct bench_target *target,
		       const struct mail_work *work, const char *const *extra)
{
	struct mail_argv a = {.v = NULL};
	const char *const fixed[] = {
		opt->self,
		"--child",
		kind,
		"--endpoint",
		target->endpoint,
		"--bucket",
		target->bucket,
		"--region",
		target->region,
		"--prefix",
		work->prefix[0] != '\0' ? work->prefix : "-",
	};
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		mail_argv_add(&a, fixed[i]);
	mail_argv_num(&a, "--seed", work->seed);
	mail_argv_num(&a, "--size-seed", work->size_seed);
	mail_argv_num(&a, "--mails", work->mails);
	mail_argv_num(&a, "--boxes", work->boxes);
	mail_argv_num(&a, "--index-rounds", work->index_rounds);
	if (work->index_size > 0)
		mail_argv_num(&a, "--index-size", work->index_size);
	mail_argv_num(&a, "--lists", work->lists);
	if (work->max_size > 0)
		mail_argv_num(&a, "--max-size", work->max_size);
	mail_argv_num(&a, "--warmup", opt->common.warmup);
	if (work->flat)
		mail_argv_add(&a, "--flat-keys");
	if (work->source_dir != NULL) {
		mail_argv_add(&a, "--source-dir");
		mail_argv_add(&a, work->source_dir);
	}
	while (extra != NULL && *extra != NULL)
		mail_argv_add(&a, *extra++);
	return mail_argv_done(&a);
}

char **mail_child_env(const struct bench_target *target)
{
	struct mail_argv a = {.v = NULL};
	char line[512];
	char **e;

	for (e = environ; *e != NULL; e++) {
		if (strncmp(*e, "AWS_ACCESS_KEY_ID=", 18) != 0 &&
		    strncmp(*e, "AWS_SECRET_ACCESS_KEY=", 22) != 0 &&
		    strncmp(*e, "AWS_SESSION_TOKEN=", 18) != 0)
			mail_argv_add(&a, *e);
	}
	snprintf(line, sizeof(line), "AWS_ACCESS_KEY_ID=%s",
		 target->access_key);
	mail_argv_add(&a, line);
	snprintf(line, sizeof(line), "AWS_SECRET_ACCESS_KEY=%s",
		 target->secret_key);
	mail_argv_add(&a, line);
	return mail_argv_done(&a);
}

int mail_child_spawn(struct mail_proc *p, const struct mail_options *opt,
		     const char *kind, const struct bench_target *target,
		     const struct mail_work *work, const char *const *extra)
{
	char **argv = mail_child_argv(opt, kind, target, work, extra);
	char **envp = mail_child_env(target);
	int ret;

	ret = argv == NULL || envp == NULL
		      ? -ENOMEM
		      : mail_proc_spawn(p, argv, envp, true, NULL);
	mail_argv_free(argv);
	mail_argv_free(envp);
	return ret;
}

/* --- main --- */

static int mail_run_scenarios(const struct mail_options *opt)
{
	bool all = strcmp(opt->scenario, "all") == 0;
	int status = 0, ret;
	size_t i;

	for (i = 0; i < MAIL_SCENARIO_COUNT; i++) {
		if (!all && strcmp(opt->scenario, mail_scenarios[i].name) != 0)
			continue;
		if (all)
			printf("\n==== scenario %s ====\n",
			       mail_scenarios[i].name);
		mail_print_machine("at the start");
		ret = mail_scenarios[i].run(opt);
		mail_print_machine("at the end");
		if (ret > status)
			status = ret;
		if (!all)
			return ret;
	}
	if (!all) {
		fprintf(stderr, "fs-bench-mail: unknown scenario '%s'\n",
			opt->scenario);
		return 2;
	}
	return status;
}

static int mail_self_path(struct mail_options *opt)
{
	ssize_t n = readlink("/proc/self/exe", opt->self, sizeof(opt->self));

	if (n <= 0 || (size_t)n >= sizeof(opt->self))
		return -EIO;
	opt->self[n] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	struct mail_options opt;
	int ret;

	ret = mail_parse_args(&opt, argc, argv);
	if (ret != 0) {
		fputs(mail_usage, ret > 0 ? stdout : stderr);
		return ret > 0 ? 0 : 2;
	}
	if (mail_self_path(&opt) < 0) {
		fprintf(stderr, "fs-bench-mail: cannot find its own path\n");
		return 2;
	}
	if (bench_process_init() < 0)
		return 2;
	mail_proc_setup(opt.rusage, opt.tmpdir);
	if (opt.child != NULL)
		ret = mail_child_main(&opt);
	else
		ret = mail_run_scenarios(&opt);
	curl_global_cleanup();
	return ret;
}
