/*
 * fs-bench-mail scenario "mail": the mail workload through libfs, raw
 * libcurl and libs3, each blocking and N in flight, against one server.
 *
 * Every run (a peer at a depth) is a child process per round: it warms up,
 * the server's counters are zeroed, it runs the workload (PUT, GET, the
 * index rounds, LIST, DELETE) and reports. The order of the runs rotates
 * by one each round, and per run and operation the round with the median
 * ops/s is shown. The sizes of the messages are the same for every run of
 * an invocation; their bytes differ per run and round, so that a GET only
 * verifies if this run's own PUT landed. Each run works under its own
 * prefix and deletes everything it stored.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-mail.h"

#define SCN_RUNS_MAX (MAIL_DEPTHS_MAX * 3)

struct scn_run {
	const struct bench_peer *peer;
	unsigned int depth;
	bool skipped, failed, mismatch;
	char note[BENCH_ERROR_MAX];
	struct mail_report *reps; /* [rounds] */
	struct mail_counts counts;
	long maxrss_kib;
};

struct scn_mail {
	const struct mail_options *opt;
	struct bench_server srv;
	struct scn_run runs[SCN_RUNS_MAX];
	unsigned int run_count;
	uint64_t salt;
};

static int scn_runs_init(struct scn_mail *s)
{
	const struct mail_options *opt = s->opt;
	unsigned int d;
	size_t p;

	for (d = 0; d < opt->common.depth_count; d++) {
		for (p = 0; p < BENCH_PEER_COUNT; p++) {
			struct scn_run *run = &s->runs[s->run_count];

			if (!bench_list_has(opt->common.clients,
					    bench_peers[p]->name))
				continue;
			run->peer = bench_peers[p];
			run->depth = opt->common.depths[d];
			run->reps =
				calloc(opt->common.rounds, sizeof(*run->reps));
			if (run->reps == NULL)
				return -ENOMEM;
			s->run_count++;
		}
	}
	return s->run_count > 0 ? 0 : -EINVAL;
}

static uint64_t scn_mix(uint64_t x)
{
	return bench_mix64(x + BENCH_GOLDEN);
}

/* The expected requests of one round of run (the workload's operations;
   libfs's delete is a HEAD and a DELETE, for its -ENOENT). */
static void scn_expect(const struct scn_mail *s, const struct scn_run *run,
		       struct mail_counts *e)
{
	const struct mail_work *w = &s->opt->work;
	unsigned int idx = w->index_rounds > 0 ? w->boxes * w->index_rounds : 0;

	memset(e, 0, sizeof(*e));
	e->v[MC_PUT] = w->mails + idx;
	e->v[MC_GET] = w->mails + idx;
	e->v[MC_LIST2] = w->lists; /* ListObjects (v1) for libs3 */
	e->v[MC_DELETE] = mail_op_count(w, MAIL_DELETE);
	if (run->peer == &bench_peer_libfs)
		e->v[MC_HEAD] = e->v[MC_DELETE];
	e->v[MC_REQUESTS] = e->v[MC_PUT] + e->v[MC_GET] + e->v[MC_LIST2] +
			    e->v[MC_DELETE] + e->v[MC_HEAD];
}

static void scn_check_counts(struct scn_mail *s, struct scn_run *run,
			     const struct mail_counts *c)
{
	struct mail_counts e;

	mail_counts_add(&run->counts, c);
	if (!c->valid)
		return;
	scn_expect(s, run, &e);
	if (c->v[MC_PUT] != e.v[MC_PUT] || c->v[MC_GET] != e.v[MC_GET] ||
	    c->v[MC_LIST1] + c->v[MC_LIST2] != e.v[MC_LIST2] ||
	    c->v[MC_DELETE] != e.v[MC_DELETE] ||
	    c->v[MC_HEAD] != e.v[MC_HEAD] ||
	    c->v[MC_REQUESTS] != e.v[MC_REQUESTS])
		run->mismatch = true;
}

static void scn_note(struct scn_run *run, const char *what)
{
	if (run->note[0] == '\0' && what[0] != '\0')
		snprintf(run->note, sizeof(run->note), "%s", what);
}

/* Looks at what the child of run said in round. */
static void scn_judge(struct scn_run *run, const struct mail_report *rep,
		      int ret)
{
	unsigned int i;

	if (mail_report_stat(rep, "skipped", 0) != 0) {
		run->skipped = true;
		scn_note(run, rep->error);
		return;
	}
	if (rep->maxrss_kib > run->maxrss_kib)
		run->maxrss_kib = rep->maxrss_kib;
	for (i = 0; i < rep->phase_count; i++) {
		if (rep->phases[i].failed + rep->phases[i].corrupt > 0)
			run->failed = true;
	}
	if (ret < 0 || !rep->done)
		run->failed = true;
	if (run->failed || rep->error[0] != '\0')
		scn_note(run, rep->error[0] != '\0' ? rep->error
						    : "the child failed");
}

static int scn_spawn(struct scn_mail *s, struct scn_run *run,
		     unsigned int round, struct mail_proc *p)
{
	struct mail_work work = s->opt->work;
	char depth[16], spec[BENCH_URL_MAX];
	const char *extra[] = {
		"--peer", run->peer->name, "--depth", depth, NULL, NULL, NULL};

	snprintf(depth, sizeof(depth), "%u", run->depth);
	if (run->peer == &bench_peer_libfs && s->opt->libfs_options != NULL) {
		bench_libfs_spec(&s->srv.target, s->opt->libfs_options, spec,
				 sizeof(spec));
		extra[4] = "--libfs-spec";
		extra[5] = spec;
	}
	snprintf(work.prefix, sizeof(work.prefix), "bm%06u-%u-%s%u",
		 (unsigned int)(s->salt % 1000000), round, run->peer->name,
		 run->depth);
	work.seed = scn_mix(s->salt ^ ((uint64_t)round << 32) ^
			    (uint64_t)(run - s->runs));
	work.size_seed = s->salt;
	return mail_child_spawn(p, s->opt, "mail", &s->srv.target, &work,
				extra);
}

/* One run's turn in a round: a child from spawn to exit. */
static void scn_turn(struct scn_mail *s, struct scn_run *run,
		     unsigned int round)
{
	struct mail_counts c = {.valid = false};
	struct mail_proc p;
	int ret;

	ret = scn_spawn(s, run, round, &p);
	if (ret < 0) {
		run->failed = true;
		scn_note(run, "cannot start the child process");
		return;
	}
	ret = mail_proc_wait_ready(&p);
	if (ret == 0) {
		bench_server_counters_reset(&s->srv);
		ret = mail_proc_go(&p);
	}
	ret = mail_proc_finish(&p) < 0 ? -EIO : ret;
	if (ret == 0)
		mail_counts_read(&s->srv, &c);
	run->reps[round] = p.rep;
	scn_judge(run, &p.rep, ret);
	if (!run->skipped && ret == 0)
		scn_check_counts(s, run, &c);
}

static void scn_rounds(struct scn_mail *s)
{
	unsigned int round, k, r;

	for (round = 0; round < s->opt->common.rounds; round++) {
		for (k = 0; k < s->run_count; k++) {
			r = (k + round) % s->run_count;
			if (!s->runs[r].skipped)
				scn_turn(s, &s->runs[r], round);
		}
	}
}

/* --- The report --- */

/* The median round of phase name in run by ops/s, or NULL. */
static const struct mail_result *scn_median(const struct scn_mail *s,
					    const struct scn_run *run,
					    const char *name)
{
	const struct mail_result *ran[64];
	double ops[64];
	unsigned int n = 0, i;

	for (i = 0; i < s->opt->common.rounds && n < 64 && !run->skipped; i++) {
		ran[n] = mail_report_phase(&run->reps[i], name);
		if (ran[n] != NULL) {
			ops[n] = mail_result_ops(ran[n]);
			n++;
		}
	}
	return n > 0 ? ran[bench_median(ops, n)] : NULL;
}

static double scn_ref_ops(const struct scn_mail *s, const char *peer,
			  unsigned int depth, const char *name)
{
	unsigned int i;

	for (i = 0; i < s->run_count; i++) {
		const struct scn_run *run = &s->runs[i];

		if (strcmp(run->peer->name, peer) == 0 && run->depth == depth)
			return mail_result_ops(scn_median(s, run, name));
	}
	return 0;
}

static void scn_table(const struct scn_mail *s)
{
	static const char *const names[] = {
		"PUT", "GET", "IDXPUT", "IDXGET", "LIST", "DELETE", "ALL"};
	const struct mail_result *r;
	unsigned int i;
	size_t n;
	char mode[32];

	mail_print_phase_header();
	for (n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		for (i = 0; i < s->run_count; i++) {
			const struct scn_run *run = &s->runs[i];

			r = scn_median(s, run, names[n]);
			if (r == NULL)
				continue;
			bench_format_mode(run->depth, mode, sizeof(mode));
			mail_print_phase_row(
				run->peer->name, mode, r,
				scn_ref_ops(s, "curl", run->depth, names[n]),
				scn_ref_ops(s, run->peer->name, 1, names[n]));
		}
	}
}

static const char *scn_check(const struct scn_run *run)
{
	if (!run->counts.valid)
		return "n/a";
	return run->mismatch ? "MISMATCH" : "ok";
}

static void scn_counts_table(const struct scn_mail *s)
{
	const struct mail_counts *c;
	char mode[32], rss[16];
	unsigned int i;

	printf("\nper client, all rounds: peak RSS of its process (max over "
	       "rounds) and the requests the server counted\n");
	printf("%-7s %-9s %8s %8s %8s %6s %7s %6s %6s %6s %s\n", "client",
	       "mode", "RSS MiB", "Put", "Get", "List", "Delete", "Head",
	       "other", "conns", "check");
	for (i = 0; i < s->run_count; i++) {
		const struct scn_run *run = &s->runs[i];

		if (run->skipped)
			continue;
		c = &run->counts;
		bench_format_mode(run->depth, mode, sizeof(mode));
		mail_format_rss(run->maxrss_kib, rss, sizeof(rss));
		if (!c->valid) {
			printf("%-7s %-9s %8s %s\n", run->peer->name, mode, rss,
			       "(the server has no request counters)");
			continue;
		}
		printf("%-7s %-9s %8s %8" PRIu64 " %8" PRIu64 " %6" PRIu64
		       " %7" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64
		       " %s\n",
		       run->peer->name, mode, rss, c->v[MC_PUT], c->v[MC_GET],
		       c->v[MC_LIST1] + c->v[MC_LIST2], c->v[MC_DELETE],
		       c->v[MC_HEAD], mail_counts_other(c),
		       c->v[MC_CONNECTIONS], scn_check(run));
	}
}

static bool scn_notes(const struct scn_mail *s)
{
	bool ok = true;
	unsigned int i;
	char mode[32];

	for (i = 0; i < s->run_count; i++) {
		const struct scn_run *run = &s->runs[i];

		bench_format_mode(run->depth, mode, sizeof(mode));
		if (run->skipped) {
			printf("%s %s: skipped: %s\n", run->peer->name, mode,
			       run->note);
		} else if (run->failed || run->mismatch) {
			ok = false;
			printf("%s %s: FAILED%s; first error: %s\n",
			       run->peer->name, mode,
			       run->mismatch ? " (request counts mismatch)"
					     : "",
			       run->note[0] != '\0' ? run->note : "none");
		}
	}
	return ok;
}

static void scn_header(const struct scn_mail *s)
{
	const struct mail_options *opt = s->opt;
	const struct mail_work *w = &opt->work;

	printf("fs-bench-mail mail: %u messages (60%% 2-16 KiB, 28%% 16-64 "
	       "KiB, 10%% 64-512 KiB, 2%% 512 KiB-5 MiB",
	       w->mails);
	if (w->max_size > 0)
		printf(", cut at %zu KiB", w->max_size / 1024);
	printf(") PUT then GET (verified); %u mailboxes with a %zu KiB "
	       "index file rewritten and re-read %u times; %u listings of "
	       "a mailbox; all deleted\n",
	       w->boxes, w->index_size / 1024, w->index_rounds, w->lists);
	if (opt->libfs_options != NULL)
		printf("libfs spec options: %s\n", opt->libfs_options);
	printf("server: %s %s, %u ms injected latency; %u round%s (median "
	       "shown), %u warm-up messages per client; every client in its "
	       "own process\n\n",
	       s->srv.mock != NULL ? "in-process mock" : "external",
	       s->srv.endpoint, opt->common.latency_ms, opt->common.rounds,
	       opt->common.rounds == 1 ? "" : "s", opt->common.warmup);
}

static bool scn_report(const struct scn_mail *s, uint64_t wall_usec)
{
	bool ok;

	scn_header(s);
	scn_table(s);
	scn_counts_table(s);
	printf("\n");
	ok = scn_notes(s);
	printf("wall time %.1f s; %s\n", (double)wall_usec / 1e6,
	       ok ? "all data verified" : "SOME CLIENTS FAILED");
	return ok;
}

static int scn_setup(struct scn_mail *s)
{
	const struct mail_options *opt = s->opt;
	char error[BENCH_ERROR_MAX] = "", rule[64];

	if (bench_server_start(&s->srv, opt->common.endpoint,
			       &opt->common.target, error, sizeof(error)) < 0 ||
	    bench_server_create_bucket(&s->srv, error, sizeof(error)) < 0)
		goto fail;
	if (opt->common.latency_ms > 0) {
		snprintf(rule, sizeof(rule), "delay=%u",
			 opt->common.latency_ms);
		if (bench_server_add_fault(&s->srv, rule, error,
					   sizeof(error)) < 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "fs-bench-mail: %s\n", error);
	return -EIO;
}

int mail_scn_mail(const struct mail_options *opt)
{
	struct scn_mail *s = calloc(1, sizeof(*s));
	uint64_t start = bench_now_usec();
	unsigned int i;
	int status = 2;

	if (s == NULL)
		return 2;
	s->opt = opt;
	s->salt = scn_mix((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid());
	if (scn_setup(s) == 0 && scn_runs_init(s) == 0) {
		scn_rounds(s);
		status = scn_report(s, bench_now_usec() - start) ? 0 : 1;
	}
	bench_server_stop(&s->srv);
	for (i = 0; i < s->run_count; i++)
		free(s->runs[i].reps);
	free(s);
	return status;
}
