/*
 * fs-bench-s3: S3 PUT and GET of small objects through libfs, raw libcurl
 * and libs3, against the same server in the same invocation.
 *
 * Every client ("run": a peer at a depth) is warmed up, then each round runs
 * every client in turn, the order rotating by one each round so that no
 * client always goes first or last on a noisy machine. In a run's turn, the
 * server's counters are zeroed, count PUTs are done (keys shared by all
 * clients, bytes unique to this client and round), then count GETs that
 * verify every byte, and the counters are read: each client must have
 * made exactly count PutObject and count GetObject requests. The report
 * shows the median round. There are no timing assertions anywhere: the
 * exit status says whether every client's data verified (0), whether one
 * failed (1), or whether the benchmark could not run (2).
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench-run.h"

#define BENCH_OBJ_PREFIX "bench-s3/obj-"
#define BENCH_WARM_PREFIX "bench-s3/warm-"
#define BENCH_FAULTS_MAX 8

struct bench_options {
	struct bench_common_options common; /* bench-options.c */
	unsigned int count;
	size_t size;
	const char *faults[BENCH_FAULTS_MAX];
	unsigned int fault_count;
	bool keep;
};

const char bench_program[] = "fs-bench-s3";

/* Plain numbers, up to 8 depths, --clients checked. */
static const struct bench_option_rules bench_rules = {
	.warmup_max = 1000000,
	.depths_max = BENCH_DEPTHS_MAX,
	.units = false,
	.check_clients = true,
};

static const char bench_usage[] =
	"usage: fs-bench-s3 [OPTIONS]\n"
	"Runs the same S3 workload (COUNT PUTs of SIZE-byte objects, then\n"
	"COUNT GETs verifying every byte) through libfs, raw libcurl and\n"
	"libs3 against one server, and prints each as a ratio to raw libcurl\n"
	"measured in the same run. Exit status: 0 all data verified, 1 a\n"
	"client failed or corrupted data, 2 the benchmark could not run.\n"
	"  --count N        objects per phase (default 2000)\n"
	"  --size BYTES     object size (default 8192)\n"
	"  --parallel LIST  depths to run, comma-separated (default 1,16);\n"
	"                   1 means blocking calls, N means N in flight\n"
	"  --rounds N       rounds; the median is reported (default 3)\n"
	"  --warmup N       warm-up PUT+GET per client (default 100)\n"
	"  --latency MS     make the mock delay every request by MS\n"
	"  --clients LIST   any of libfs,curl,libs3 (default all)\n"
	"  --endpoint URL   use an external server (http://HOST:PORT)\n"
	"                   instead of the in-process mock\n"
	"  --bucket NAME    bucket to create and use (default bench)\n"
	"  --region NAME    region to sign for (default us-east-1)\n"
	"  --access-key K, --secret-key S   credentials (default test/test)\n"
	"  --fault RULE     add a mock fault rule (see mockserver.h), e.g.\n"
	"                   op=GetObject,nth=50,status=503 (repeatable);\n"
	"                   request counts are then shown but not checked\n"
	"  --libfs-spec S   libfs storage spec instead of the s3:// one\n"
	"                   built from the endpoint; \"{endpoint}\" in it is\n"
	"                   replaced by the server's URL, e.g.\n"
	"                   'cache:max=64M::s3://bench/?endpoint={endpoint}'\n"
	"                   (request counts are then not checked for libfs)\n"
	"  --keep           leave the objects on an external server\n";

/* --- Options --- */

enum {
	OPT_COUNT = BENCH_OPT_OWN,
	OPT_SIZE,
	OPT_LIBFS_SPEC,
	OPT_FAULT,
	OPT_KEEP,
	OPT_HELP,
};

static const struct option bench_long_options[] = {
	{"count", required_argument, NULL, OPT_COUNT},
	{"size", required_argument, NULL, OPT_SIZE},
	BENCH_COMMON_LONG_OPTIONS,
	{"libfs-spec", required_argument, NULL, OPT_LIBFS_SPEC},
	{"fault", required_argument, NULL, OPT_FAULT},
	{"keep", no_argument, NULL, OPT_KEEP},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void bench_options_init(struct bench_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	bench_common_init(&opt->common);
	opt->count = 2000;
	opt->size = 8192;
	opt->common.warmup = 100;
	opt->common.depths[0] = 1;
	opt->common.depths[1] = 16;
	opt->common.depth_count = 2;
}

/* Takes one option; returns 0, 1 for --help, or -EINVAL. */
static int bench_option(struct bench_options *opt, int c, const char *arg)
{
	unsigned int n;
	int ret;

	ret = bench_common_option(&opt->common, &bench_rules, c, arg);
	if (ret != 1)
		return ret;
	switch (c) {
	case OPT_COUNT:
		return bench_parse_uint(arg, 1, 10000000, false, &opt->count);
	case OPT_SIZE:
		if (bench_parse_uint(arg, 0, 64u << 20, false, &n) < 0)
			return -EINVAL;
		opt->size = n;
		return 0;
	case OPT_LIBFS_SPEC:
		opt->common.target.libfs_spec = arg;
		return 0;
	case OPT_FAULT:
		if (opt->fault_count == BENCH_FAULTS_MAX)
			return -EINVAL;
		opt->faults[opt->fault_count++] = arg;
		return 0;
	case OPT_KEEP:
		opt->keep = true;
		return 0;
	case OPT_HELP:
		return 1;
	default:
		return -EINVAL;
	}
}

static int bench_parse_args(struct bench_options *opt, int argc, char **argv)
{
	int c, ret;

	bench_options_init(opt);
	while ((c = getopt_long(argc, argv, "", bench_long_options, NULL)) !=
	       -1) {
		ret = bench_option(opt, c, optarg);
		if (ret != 0)
			return ret;
	}
	return optind == argc ? 0 : -EINVAL;
}

/* --- Runs --- */

/* Payload seed of run r in round (round 0xffff: the warm-up), salted per
   invocation so that objects left by an earlier one never verify. */
static uint64_t bench_seed(uint64_t salt, unsigned int r, unsigned int round)
{
	return bench_mix64((salt ^ ((uint64_t)round << 32 | r)) + BENCH_GOLDEN);
}

static int bench_runs_init(struct bench_report *rep,
			   const struct bench_options *opt)
{
	unsigned int d, op;
	size_t p;

	rep->runs = calloc(opt->common.depth_count * BENCH_PEER_COUNT,
			   sizeof(*rep->runs));
	if (rep->runs == NULL)
		return -ENOMEM;
	for (d = 0; d < opt->common.depth_count; d++) {
		for (p = 0; p < BENCH_PEER_COUNT; p++) {
			struct bench_run *run = &rep->runs[rep->run_count];

			if (!bench_list_has(opt->common.clients,
					    bench_peers[p]->name))
				continue;
			run->peer = bench_peers[p];
			run->depth = opt->common.depths[d];
			/* Injected faults make retries legitimate. */
			run->check_counts =
				opt->fault_count == 0 &&
				(run->peer != &bench_peer_libfs ||
				 opt->common.target.libfs_spec == NULL);
			rep->run_count++;
			for (op = 0; op < BENCH_OP_COUNT; op++) {
				run->results[op] =
					calloc(opt->common.rounds,
					       sizeof(struct bench_result));
				if (run->results[op] == NULL)
					return -ENOMEM;
			}
		}
	}
	return 0;
}

static void bench_runs_deinit(struct bench_report *rep)
{
	unsigned int i, op;

	for (i = 0; i < rep->run_count; i++) {
		struct bench_run *run = &rep->runs[i];

		if (run->client != NULL)
			run->peer->deinit(&run->client);
		for (op = 0; op < BENCH_OP_COUNT; op++)
			free(run->results[op]);
	}
	free(rep->runs);
	rep->runs = NULL;
}

/* Creates each run's client. A peer that is not available is skipped; any
   other failure stops the benchmark. */
static int bench_clients_init(struct bench_report *rep,
			      const struct bench_target *target)
{
	unsigned int i;
	int ret;

	for (i = 0; i < rep->run_count; i++) {
		struct bench_run *run = &rep->runs[i];

		ret = run->peer->init(target, run->depth, &run->client,
				      run->note, sizeof(run->note));
		if (ret == -ENOTSUP) {
			run->skipped = true;
			continue;
		}
		if (ret < 0) {
			fprintf(stderr, "fs-bench-s3: %s\n", run->note);
			return ret;
		}
	}
	return 0;
}

static void bench_note(struct bench_run *run, const struct bench_phase *ph)
{
	if (run->note[0] == '\0' && ph->first_error[0] != '\0')
		snprintf(run->note, sizeof(run->note), "%s", ph->first_error);
}

/* Runs one phase of run; the result goes to *result if not NULL. */
static int bench_phase(struct bench_run *run, enum bench_op op,
		       const char *prefix, unsigned int count, size_t size,
		       uint64_t seed, struct bench_result *result)
{
	struct bench_s3_phase ph;
	int ret;

	ret = bench_s3_phase_init(&ph, op, prefix, count, size, seed,
				  run->depth);
	if (ret < 0)
		return ret;
	ret = bench_phase_run(run->client, &ph.base);
	if (ret < 0)
		run->broken = true;
	run->failed += ph.base.failed;
	run->corrupt += ph.base.corrupt;
	bench_note(run, &ph.base);
	if (result != NULL)
		bench_result_set(result, &ph.base);
	bench_phase_deinit(&ph.base);
	return ret;
}

static void bench_warmup(struct bench_run *run, const struct bench_options *opt,
			 uint64_t seed)
{
	if (opt->common.warmup == 0)
		return;
	if (bench_phase(run, BENCH_OP_PUT, BENCH_WARM_PREFIX,
			opt->common.warmup, opt->size, seed, NULL) == 0)
		bench_phase(run, BENCH_OP_GET, BENCH_WARM_PREFIX,
			    opt->common.warmup, opt->size, seed, NULL);
}

/* Stores every object once before the rounds, so that each measured PUT
   replaces an object, whichever client goes first: servers that store to
   disk create slower than they overwrite. */
static void bench_prefill(struct bench_report *rep,
			  const struct bench_options *opt, uint64_t seed)
{
	unsigned int r;

	for (r = 0; r < rep->run_count; r++) {
		if (!rep->runs[r].skipped && !rep->runs[r].broken) {
			bench_phase(&rep->runs[r], BENCH_OP_PUT,
				    BENCH_OBJ_PREFIX, opt->count, opt->size,
				    seed, NULL);
			return;
		}
	}
}

static void bench_check_counts(struct bench_run *run,
			       const struct bench_counts *c, unsigned int count)
{
	if (!c->valid)
		return;
	run->counts.valid = true;
	run->counts.put += c->put;
	run->counts.get += c->get;
	run->counts.requests += c->requests;
	run->counts.connections += c->connections;
	run->counts.errors += c->errors;
	if (run->check_counts &&
	    (c->put != count || c->get != count || c->requests != 2ull * count))
		run->counts_mismatch = true;
}

/* One run's turn in a round: PUT all, GET all, count. */
static void bench_turn(struct bench_server *srv, struct bench_run *run,
		       const struct bench_options *opt, uint64_t seed,
		       unsigned int round)
{
	struct bench_counts c;

	bench_server_counters_reset(srv);
	if (bench_phase(run, BENCH_OP_PUT, BENCH_OBJ_PREFIX, opt->count,
			opt->size, seed,
			&run->results[BENCH_OP_PUT][round]) == 0)
		bench_phase(run, BENCH_OP_GET, BENCH_OBJ_PREFIX, opt->count,
			    opt->size, seed,
			    &run->results[BENCH_OP_GET][round]);
	bench_server_counters(srv, &c);
	bench_check_counts(run, &c, opt->count);
}

static void bench_rounds(struct bench_server *srv, struct bench_report *rep,
			 const struct bench_options *opt, uint64_t salt)
{
	unsigned int round, k, r;

	for (r = 0; r < rep->run_count; r++) {
		if (!rep->runs[r].skipped)
			bench_warmup(&rep->runs[r], opt,
				     bench_seed(salt, r, 0xffff));
	}
	bench_prefill(rep, opt, bench_seed(salt, 0xffff, 0xffff));
	for (round = 0; round < opt->common.rounds; round++) {
		for (k = 0; k < rep->run_count; k++) {
			r = (k + round) % rep->run_count;
			if (rep->runs[r].skipped || rep->runs[r].broken)
				continue;
			bench_turn(srv, &rep->runs[r], opt,
				   bench_seed(salt, r, round), round);
		}
	}
}

/* Deletes the keys prefix0000000 .. prefix(count - 1). */
static int bench_delete(struct bench_server *srv, const char *prefix,
			unsigned int count, char *error, size_t size)
{
	char key[BENCH_KEY_MAX];
	unsigned int i;
	int ret = 0;

	for (i = 0; i < count && ret == 0; i++) {
		bench_s3_key(prefix, i, key);
		ret = bench_server_delete(srv, key, error, size);
	}
	return ret;
}

/* Removes what the benchmark stored on an external server. */
static void bench_cleanup(struct bench_server *srv,
			  const struct bench_options *opt)
{
	char error[BENCH_ERROR_MAX];

	/* Without the injected latency and faults. */
	bench_server_clear_faults(srv);
	if (srv->mock != NULL || opt->keep)
		return;
	if (bench_delete(srv, BENCH_OBJ_PREFIX, opt->count, error,
			 sizeof(error)) < 0 ||
	    bench_delete(srv, BENCH_WARM_PREFIX, opt->common.warmup, error,
			 sizeof(error)) < 0)
		fprintf(stderr, "fs-bench-s3: cleaning up: %s\n", error);
}

/* Adds the --fault rules, then the latency rule. The mock applies the
   first rule that fires, so the latency goes last, and into each fault
   rule that has no delay of its own. */
static int bench_setup_faults(struct bench_server *srv,
			      const struct bench_options *opt, char *error,
			      size_t size)
{
	char rule[BENCH_URL_MAX];
	unsigned int i;
	int ret = 0;

	for (i = 0; i < opt->fault_count && ret == 0; i++) {
		if (opt->common.latency_ms > 0 &&
		    strstr(opt->faults[i], "delay=") == NULL)
			snprintf(rule, sizeof(rule), "%s,delay=%u",
				 opt->faults[i], opt->common.latency_ms);
		else
			snprintf(rule, sizeof(rule), "%s", opt->faults[i]);
		ret = bench_server_add_fault(srv, rule, error, size);
	}
	if (ret == 0 && opt->common.latency_ms > 0) {
		snprintf(rule, sizeof(rule), "delay=%u",
			 opt->common.latency_ms);
		ret = bench_server_add_fault(srv, rule, error, size);
	}
	return ret;
}

static int bench_setup_server(struct bench_server *srv,
			      const struct bench_options *opt)
{
	char error[BENCH_ERROR_MAX] = "";

	if (bench_server_start(srv, opt->common.endpoint, &opt->common.target,
			       error, sizeof(error)) < 0 ||
	    bench_server_create_bucket(srv, error, sizeof(error)) < 0 ||
	    bench_setup_faults(srv, opt, error, sizeof(error)) < 0) {
		fprintf(stderr, "fs-bench-s3: %s\n", error);
		return -1;
	}
	return 0;
}

static int bench_main(const struct bench_options *opt)
{
	struct bench_server srv;
	struct bench_report rep;
	struct rusage ru;
	uint64_t start = bench_now_usec();
	int status = 2;

	memset(&rep, 0, sizeof(rep));
	if (bench_setup_server(&srv, opt) == 0 &&
	    bench_runs_init(&rep, opt) == 0 &&
	    bench_clients_init(&rep, &srv.target) == 0) {
		bench_rounds(&srv, &rep, opt,
			     (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid());
		rep.count = opt->count;
		rep.size = opt->size;
		rep.rounds = opt->common.rounds;
		rep.warmup = opt->common.warmup;
		rep.latency_ms = opt->common.latency_ms;
		rep.server = srv.mock != NULL ? "in-process mock" : "external";
		rep.endpoint = srv.endpoint;
		rep.counters = srv.counters;
		rep.in_process = srv.mock != NULL;
		rep.wall_usec = bench_now_usec() - start;
		if (getrusage(RUSAGE_SELF, &ru) == 0)
			rep.peak_rss_kib = ru.ru_maxrss;
		status = bench_report_print(&rep) ? 0 : 1;
		bench_cleanup(&srv, opt);
	}
	bench_runs_deinit(&rep);
	bench_server_stop(&srv);
	return status;
}

int main(int argc, char **argv)
{
	struct bench_options opt;
	int ret;

	ret = bench_parse_args(&opt, argc, argv);
	if (ret != 0) {
		fputs(bench_usage, ret > 0 ? stdout : stderr);
		return ret > 0 ? 0 : 2;
	}
	if (bench_process_init() < 0)
		return 2;
	ret = bench_main(&opt);
	curl_global_cleanup();
	return ret;
}
