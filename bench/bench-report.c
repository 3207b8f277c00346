/*
 * fs-bench-s3: the report. For every run and operation the median round
 * (by ops/s) is shown, with that round's latency percentiles, and its
 * ratio to raw libcurl at the same depth in the same invocation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-run.h"

void bench_result_set(struct bench_result *r, const struct bench_phase *ph)
{
	struct bench_latency lat;

	memset(r, 0, sizeof(*r));
	r->ran = true;
	r->usecs = ph->end_usec > ph->start_usec ? ph->end_usec - ph->start_usec
						 : 1;
	r->ops = ph->completed;
	r->failed = ph->failed + (ph->count - ph->completed - ph->failed);
	r->corrupt = ph->corrupt;
	bench_phase_latency(ph, &lat);
	r->p50_usec = lat.p50_usec;
	r->p99_usec = lat.p99_usec;
}

static double report_ops_per_sec(const struct bench_result *r)
{
	return r->usecs > 0 ? (double)r->ops * 1e6 / (double)r->usecs : 0;
}

/* The median round of op in run by ops/s (the lower one of an even count),
   or NULL if none ran. */
static const struct bench_result *report_median(const struct bench_report *rep,
						const struct bench_run *run,
						enum bench_op op)
{
	const struct bench_result *ran[64];
	double ops[64];
	unsigned int n = 0, i;

	if (run->skipped || run->results[op] == NULL)
		return NULL;
	for (i = 0; i < rep->rounds && n < 64; i++) {
		if (run->results[op][i].ran) {
			ran[n] = &run->results[op][i];
			ops[n] = report_ops_per_sec(ran[n]);
			n++;
		}
	}
	return n > 0 ? ran[bench_median(ops, n)] : NULL;
}

static const struct bench_run *report_reference(const struct bench_report *rep,
						unsigned int depth)
{
	unsigned int i;

	for (i = 0; i < rep->run_count; i++) {
		if (rep->runs[i].peer == &bench_peer_curl &&
		    rep->runs[i].depth == depth && !rep->runs[i].skipped)
			return &rep->runs[i];
	}
	return NULL;
}

/* The same peer's blocking run, for the parallel speed-up. */
static const struct bench_run *report_sequential(const struct bench_report *rep,
						 const struct bench_run *run)
{
	unsigned int i;

	for (i = 0; i < rep->run_count; i++) {
		if (rep->runs[i].peer == run->peer && rep->runs[i].depth == 1 &&
		    !rep->runs[i].skipped)
			return &rep->runs[i];
	}
	return NULL;
}

/* Formats a/b as "1.23x" into buf, or "-" when b is missing. */
static void report_ratio(const struct bench_result *a,
			 const struct bench_result *b, char *buf, size_t size)
{
	double den = b != NULL ? report_ops_per_sec(b) : 0;

	if (a == NULL || den <= 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.2fx", report_ops_per_sec(a) / den);
}

static unsigned int report_errors(const struct bench_report *rep,
				  const struct bench_run *run, enum bench_op op)
{
	unsigned int i, n = 0;

	for (i = 0; run->results[op] != NULL && i < rep->rounds; i++)
		n += run->results[op][i].failed + run->results[op][i].corrupt;
	return n;
}

static void report_row(const struct bench_report *rep,
		       const struct bench_run *run, enum bench_op op)
{
	const struct bench_run *ref = report_reference(rep, run->depth);
	const struct bench_run *seq = report_sequential(rep, run);
	const struct bench_result *r = report_median(rep, run, op);
	char mode[32], vs_curl[16], vs_seq[16];
	double ops;

	if (r == NULL)
		return;
	bench_format_mode(run->depth, mode, sizeof(mode));
	report_ratio(r, ref != NULL ? report_median(rep, ref, op) : NULL,
		     vs_curl, sizeof(vs_curl));
	report_ratio(r, seq != NULL ? report_median(rep, seq, op) : NULL,
		     vs_seq, sizeof(vs_seq));
	ops = report_ops_per_sec(r);
	printf("%-7s %-9s %-4s %10.1f %8.2f %8.3f %8.3f %8s %7s %7u\n",
	       run->peer->name, mode, bench_s3_op_name((enum bench_op)op), ops,
	       ops * (double)rep->size / (1024.0 * 1024.0),
	       (double)r->p50_usec / 1000.0, (double)r->p99_usec / 1000.0,
	       vs_curl, vs_seq, report_errors(rep, run, op));
}

static void report_table(const struct bench_report *rep)
{
	unsigned int i, op;

	printf("%-7s %-9s %-4s %10s %8s %8s %8s %8s %7s %7s\n", "client",
	       "mode", "op", "ops/s", "MiB/s", "p50 ms", "p99 ms", "vs curl",
	       "vs seq", "errors");
	for (i = 0; i < rep->run_count; i++) {
		for (op = 0; op < BENCH_OP_COUNT; op++)
			report_row(rep, &rep->runs[i], (enum bench_op)op);
	}
}

static const char *report_count_check(const struct bench_run *run)
{
	if (!run->counts.valid)
		return "n/a";
	if (!run->check_counts)
		return "unchecked";
	return run->counts_mismatch ? "MISMATCH" : "ok";
}

static void report_counts(const struct bench_report *rep)
{
	const struct bench_run *run;
	uint64_t other;
	unsigned int i;
	char mode[32];

	if (!rep->counters) {
		printf("\nrequest counts: n/a (the server has no counters; "
		       "use the in-process mock or fs-mockserver)\n");
		return;
	}
	printf("\nrequests the server counted per client, all rounds "
	       "(expected %u PutObject + %u GetObject each):\n",
	       rep->count * rep->rounds, rep->count * rep->rounds);
	printf("%-7s %-9s %10s %10s %7s %7s %10s %s\n", "client", "mode",
	       "PutObject", "GetObject", "other", "errors", "new conns",
	       "check");
	for (i = 0; i < rep->run_count; i++) {
		run = &rep->runs[i];
		if (run->skipped)
			continue;
		bench_format_mode(run->depth, mode, sizeof(mode));
		other = run->counts.requests - run->counts.put -
			run->counts.get;
		printf("%-7s %-9s %10" PRIu64 " %10" PRIu64 " %7" PRIu64
		       " %7" PRIu64 " %10" PRIu64 " %s\n",
		       run->peer->name, mode, run->counts.put, run->counts.get,
		       other, run->counts.errors, run->counts.connections,
		       report_count_check(run));
	}
}

/* Prints the notes of skipped and failed runs; returns true if all ran
   clean. */
static bool report_notes(const struct bench_report *rep)
{
	const struct bench_run *run;
	bool ok = true;
	unsigned int i;
	char mode[32];

	for (i = 0; i < rep->run_count; i++) {
		run = &rep->runs[i];
		bench_format_mode(run->depth, mode, sizeof(mode));
		if (run->skipped) {
			printf("%s %s: skipped: %s\n", run->peer->name, mode,
			       run->note);
			continue;
		}
		if (run->broken || run->failed > 0 || run->corrupt > 0 ||
		    run->counts_mismatch) {
			ok = false;
			printf("%s %s: FAILED: %u failed, %u corrupt (warm-up "
			       "included)%s%s%s\n",
			       run->peer->name, mode, run->failed, run->corrupt,
			       run->counts_mismatch ? ", request counts "
						      "mismatch"
						    : "",
			       run->note[0] != '\0' ? "; first error: " : "",
			       run->note);
		}
	}
	return ok;
}

bool bench_report_print(const struct bench_report *rep)
{
	bool ok;

	printf("fs-bench-s3: %u objects of %zu bytes, PUT then GET with "
	       "verification; %u round%s (median shown), %u warm-up "
	       "operations per client\n",
	       rep->count, rep->size, rep->rounds, rep->rounds == 1 ? "" : "s",
	       rep->warmup);
	printf("server: %s %s, %u ms injected latency\n\n", rep->server,
	       rep->endpoint, rep->latency_ms);
	report_table(rep);
	report_counts(rep);
	printf("\n");
	ok = report_notes(rep);
	printf("wall time %.1f s, peak RSS %.1f MiB (this process%s); %s\n",
	       (double)rep->wall_usec / 1e6, (double)rep->peak_rss_kib / 1024.0,
	       rep->in_process ? ", mock included" : "",
	       ok ? "all data verified" : "SOME CLIENTS FAILED");
	return ok;
}
