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
#include <signal.h>
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
	unsigned int count, rounds, warmup, latency_ms;
	size_t size;
	unsigned int depths[BENCH_DEPTHS_MAX];
	unsigned int depth_count;
	const char *endpoint;
	const char *clients;
	const char *faults[BENCH_FAULTS_MAX];
	unsigned int fault_count;
	bool keep;
	struct bench_target target;
};

/* In report order: the reference first. */
static const struct bench_peer *const bench_peers[] = {
	&bench_peer_curl,
	&bench_peer_libfs,
	&bench_peer_libs3,
};
#define BENCH_PEER_COUNT (sizeof(bench_peers) / sizeof(bench_peers[0]))

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

static int bench_parse_uint(const char *str, unsigned int min, unsigned int max,
			    unsigned int *num_r)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(str, &end, 10);
	if (errno != 0 || end == str || *end != '\0' || str[0] == '-' ||
	    n < min || n > max)
		return -EINVAL;
	*num_r = (unsigned int)n;
	return 0;
}

static int bench_parse_depths(struct bench_options *opt, const char *list)
{
	char buf[128], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	opt->depth_count = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (opt->depth_count == BENCH_DEPTHS_MAX ||
		    bench_parse_uint(tok, 1, 256,
				     &opt->depths[opt->depth_count]) < 0)
			return -EINVAL;
		opt->depth_count++;
	}
	return opt->depth_count > 0 ? 0 : -EINVAL;
}

static bool bench_client_wanted(const struct bench_options *opt,
				const char *name)
{
	const char *p = opt->clients;
	size_t len = strlen(name);

	if (p == NULL)
		return true;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == opt->clients || p[-1] == ',') &&
		    (p[len] == '\0' || p[len] == ','))
			return true;
		p += len;
	}
	return false;
}

static int bench_check_clients(const char *list)
{
	char buf[128], *tok, *save = NULL;
	size_t i;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < BENCH_PEER_COUNT; i++) {
			if (strcmp(tok, bench_peers[i]->name) == 0)
				break;
		}
		if (i == BENCH_PEER_COUNT)
			return -EINVAL;
	}
	return 0;
}

enum {
	OPT_COUNT = 256,
	OPT_SIZE,
	OPT_PARALLEL,
	OPT_ROUNDS,
	OPT_WARMUP,
	OPT_LATENCY,
	OPT_CLIENTS,
	OPT_ENDPOINT,
	OPT_BUCKET,
	OPT_REGION,
	OPT_ACCESS_KEY,
	OPT_SECRET_KEY,
	OPT_LIBFS_SPEC,
	OPT_FAULT,
	OPT_KEEP,
	OPT_HELP,
};

static const struct option bench_long_options[] = {
	{"count", required_argument, NULL, OPT_COUNT},
	{"size", required_argument, NULL, OPT_SIZE},
	{"parallel", required_argument, NULL, OPT_PARALLEL},
	{"rounds", required_argument, NULL, OPT_ROUNDS},
	{"warmup", required_argument, NULL, OPT_WARMUP},
	{"latency", required_argument, NULL, OPT_LATENCY},
	{"clients", required_argument, NULL, OPT_CLIENTS},
	{"endpoint", required_argument, NULL, OPT_ENDPOINT},
	{"bucket", required_argument, NULL, OPT_BUCKET},
	{"region", required_argument, NULL, OPT_REGION},
	{"access-key", required_argument, NULL, OPT_ACCESS_KEY},
	{"secret-key", required_argument, NULL, OPT_SECRET_KEY},
	{"libfs-spec", required_argument, NULL, OPT_LIBFS_SPEC},
	{"fault", required_argument, NULL, OPT_FAULT},
	{"keep", no_argument, NULL, OPT_KEEP},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void bench_options_init(struct bench_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->count = 2000;
	opt->size = 8192;
	opt->rounds = 3;
	opt->warmup = 100;
	opt->depths[0] = 1;
	opt->depths[1] = 16;
	opt->depth_count = 2;
	opt->target.bucket = "bench";
	opt->target.region = "us-east-1";
	opt->target.access_key = "test";
	opt->target.secret_key = "test";
}

/* Takes one option; returns 0, 1 for --help, or -EINVAL. */
static int bench_option(struct bench_options *opt, int c, const char *arg)
{
	unsigned int n;

	switch (c) {
	case OPT_COUNT:
		return bench_parse_uint(arg, 1, 10000000, &opt->count);
	case OPT_SIZE:
		if (bench_parse_uint(arg, 0, 64u << 20, &n) < 0)
			return -EINVAL;
		opt->size = n;
		return 0;
	case OPT_PARALLEL:
		return bench_parse_depths(opt, arg);
	case OPT_ROUNDS:
		return bench_parse_uint(arg, 1, 64, &opt->rounds);
	case OPT_WARMUP:
		return bench_parse_uint(arg, 0, 1000000, &opt->warmup);
	case OPT_LATENCY:
		return bench_parse_uint(arg, 0, 60000, &opt->latency_ms);
	case OPT_CLIENTS:
		opt->clients = arg;
		return bench_check_clients(arg);
	case OPT_ENDPOINT:
		opt->endpoint = arg;
		return 0;
	case OPT_BUCKET:
		opt->target.bucket = arg;
		return 0;
	case OPT_REGION:
		opt->target.region = arg;
		return 0;
	case OPT_ACCESS_KEY:
		opt->target.access_key = arg;
		return 0;
	case OPT_SECRET_KEY:
		opt->target.secret_key = arg;
		return 0;
	case OPT_LIBFS_SPEC:
		opt->target.libfs_spec = arg;
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

static uint64_t bench_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Payload seed of run r in round (round 0xffff: the warm-up), salted per
   invocation so that objects left by an earlier one never verify. */
static uint64_t bench_seed(uint64_t salt, unsigned int r, unsigned int round)
{
	return bench_mix(salt ^ ((uint64_t)round << 32 | r));
}

static int bench_runs_init(struct bench_report *rep,
			   const struct bench_options *opt)
{
	unsigned int d, op;
	size_t p;

	rep->runs =
		calloc(opt->depth_count * BENCH_PEER_COUNT, sizeof(*rep->runs));
	if (rep->runs == NULL)
		return -ENOMEM;
	for (d = 0; d < opt->depth_count; d++) {
		for (p = 0; p < BENCH_PEER_COUNT; p++) {
			struct bench_run *run = &rep->runs[rep->run_count];

			if (!bench_client_wanted(opt, bench_peers[p]->name))
				continue;
			run->peer = bench_peers[p];
			run->depth = opt->depths[d];
			/* Injected faults make retries legitimate. */
			run->check_counts = opt->fault_count == 0 &&
					    (run->peer != &bench_peer_libfs ||
					     opt->target.libfs_spec == NULL);
			rep->run_count++;
			for (op = 0; op < BENCH_OP_COUNT; op++) {
				run->results[op] =
					calloc(opt->rounds,
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
	struct bench_phase ph;
	int ret;

	ret = bench_phase_init(&ph, op, prefix, count, size, seed, run->depth);
	if (ret < 0)
		return ret;
	ret = bench_phase_run(run->client, &ph);
	if (ret < 0)
		run->broken = true;
	run->failed += ph.failed;
	run->corrupt += ph.corrupt;
	bench_note(run, &ph);
	if (result != NULL)
		bench_result_set(result, &ph);
	bench_phase_deinit(&ph);
	return ret;
}

static void bench_warmup(struct bench_run *run, const struct bench_options *opt,
			 uint64_t seed)
{
	if (opt->warmup == 0)
		return;
	if (bench_phase(run, BENCH_OP_PUT, BENCH_WARM_PREFIX, opt->warmup,
			opt->size, seed, NULL) == 0)
		bench_phase(run, BENCH_OP_GET, BENCH_WARM_PREFIX, opt->warmup,
			    opt->size, seed, NULL);
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
	for (round = 0; round < opt->rounds; round++) {
		for (k = 0; k < rep->run_count; k++) {
			r = (k + round) % rep->run_count;
			if (rep->runs[r].skipped || rep->runs[r].broken)
				continue;
			bench_turn(srv, &rep->runs[r], opt,
				   bench_seed(salt, r, round), round);
		}
	}
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
	if (bench_server_delete(srv, BENCH_OBJ_PREFIX, opt->count, error,
				sizeof(error)) < 0 ||
	    bench_server_delete(srv, BENCH_WARM_PREFIX, opt->warmup, error,
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
		if (opt->latency_ms > 0 &&
		    strstr(opt->faults[i], "delay=") == NULL)
			snprintf(rule, sizeof(rule), "%s,delay=%u",
				 opt->faults[i], opt->latency_ms);
		else
			snprintf(rule, sizeof(rule), "%s", opt->faults[i]);
		ret = bench_server_add_fault(srv, rule, error, size);
	}
	if (ret == 0 && opt->latency_ms > 0) {
		snprintf(rule, sizeof(rule), "delay=%u", opt->latency_ms);
		ret = bench_server_add_fault(srv, rule, error, size);
	}
	return ret;
}

static int bench_setup_server(struct bench_server *srv,
			      const struct bench_options *opt)
{
	char error[BENCH_ERROR_MAX] = "";

	if (bench_server_start(srv, opt->endpoint, &opt->target, error,
			       sizeof(error)) < 0 ||
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
		rep.rounds = opt->rounds;
		rep.warmup = opt->warmup;
		rep.latency_ms = opt->latency_ms;
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
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "fs-bench-s3: curl_global_init failed\n");
		return 2;
	}
	ret = bench_main(&opt);
	curl_global_cleanup();
	return ret;
}
