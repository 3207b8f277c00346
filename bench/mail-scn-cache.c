/*
 * fs-bench-mail scenario "cache": index files read through the cache layer
 * over a slow server (the mock with 1 ms of injected latency per request).
 *
 * One child process stores N index files, then reads each of them, one at
 * a time, through:
 *
 *   curl        raw libcurl GETs: what a miss costs at best
 *   s3          libfs without a cache
 *   never       cache:max=64M,validate=never::s3://...: a first pass of
 *               misses, then two of hits (no request at all): one with
 *               fs_read_all() (a new buffer per read), one with fs_read()
 *               into a buffer the application reuses
 *   etag        cache:max=64M,validate=etag::s3://...: misses, then hits
 *               revalidated with one conditional GET each (304)
 *
 * Every read is verified, and the server's counters (read by the child
 * through the mock's admin endpoint) and the cache's own statistics show
 * that a hit made exactly the requests it should. The target: a
 * hit at least 100x faster than a miss with 1 ms of latency.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-mail.h"

#define CACHE_TARGET 100.0
/* What the files of a run may hold in all: room for the cache's overhead
   in its 64 MiB, so that every second read is a hit. */
#define CACHE_FIT_MAX (48ull << 20)

int mail_child_cache(const struct mail_options *opt, struct bench_server *srv);

/* ------------------------------------------------------------------------ */
/* Child                                                                      */

/* One pass over the index files: its name, and whether the application
   reads into a buffer of its own (fs_read()) instead of fs_read_all(). */
struct cache_pass_def {
	const char *name;
	bool own_buffer;
};

/* Reads the object into buf (size bytes of room). Returns the size or
   -errno (-EFBIG if it does not fit). */
static ssize_t cache_read_into(struct fs_file *file, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t ret;

	while ((ret = fs_read(file, buf + len, size - len)) > 0) {
		len += (size_t)ret;
		if (len == size)
			return -EFBIG;
	}
	return ret < 0 ? ret : (ssize_t)len;
}

/* Reads object i of ph through file, as the pass says. */
static int cache_read_one(struct fs_file *file, const struct mail_phase *ph,
			  char *buf, size_t buf_size, void **data_r,
			  size_t *size_r)
{
	ssize_t n;

	(void)ph;
	if (buf == NULL)
		return fs_read_all(file, data_r, size_r);
	n = cache_read_into(file, buf, buf_size);
	if (n < 0)
		return (int)n;
	*size_r = (size_t)n;
	return 0;
}

/* Reads every index file of ph once, blocking, through fs; buf (if not
   NULL) is the application's buffer, reused for every read. */
static void cache_pass(struct fs *fs, struct mail_phase *ph, char *buf,
		       size_t buf_size)
{
	struct fs_file *file = NULL;
	char key[BENCH_KEY_MAX];
	uint64_t start;
	void *data;
	size_t size;
	unsigned int i;
	int ret;

	ph->base.start_usec = bench_now_usec();
	for (i = 0; i < ph->base.count; i++) {
		data = NULL;
		size = 0;
		mail_key(ph, i, key);
		start = bench_now_usec();
		ret = fs_file_init(fs, key, FS_OPEN_READ, &file);
		if (ret == 0)
			ret = cache_read_one(file, ph, buf, buf_size, &data,
					     &size);
		if (ret == 0)
			bench_phase_ok(&ph->base, i, start,
				       buf != NULL ? buf : data, size);
		else
			bench_phase_fail(&ph->base, i, "GET %s: %s", key,
					 file != NULL ? fs_file_last_error(file)
						      : fs_last_error(fs));
		fs_file_deinit(&file);
		free(data);
	}
	ph->base.end_usec = bench_now_usec();
}

static int cache_fs(struct bench_server *srv, const char *layer,
		    struct fs **fs_r)
{
	struct fs_settings set;
	const char *why = NULL;
	char spec[BENCH_URL_MAX], s3[BENCH_URL_MAX];
	int ret;

	fs_settings_init(&set);
	set.access_key = srv->target.access_key;
	set.secret_key = srv->target.secret_key;
	bench_libfs_spec(&srv->target, NULL, s3, sizeof(s3));
	if (layer != NULL)
		mail_format(spec, sizeof(spec), "%s::%s", layer, s3);
	else
		mail_format(spec, sizeof(spec), "%s", s3);
	ret = fs_init(spec, &set, fs_r, &why);
	if (ret < 0)
		mail_say_error("init", why != NULL ? why : "fs_init failed");
	return ret;
}

/* Reports a phase with the server's requests and the cache's counters. */
static void cache_say(struct bench_server *srv, struct fs *fs, const char *name,
		      const struct mail_phase *ph)
{
	struct mail_counts c;
	struct fs_stats st;
	char stat[64];

	mail_say_phase(name, &ph->base);
	mail_counts_read(srv, &c);
	if (c.valid) {
		snprintf(stat, sizeof(stat), "%s_requests", name);
		mail_say_stat(stat, c.v[MC_REQUESTS]);
	}
	if (fs == NULL || fs_stats_get(fs, 0, &st) < 0)
		return;
	snprintf(stat, sizeof(stat), "%s_hits", name);
	mail_say_stat(stat, st.cache_hits);
	snprintf(stat, sizeof(stat), "%s_misses", name);
	mail_say_stat(stat, st.cache_misses);
	snprintf(stat, sizeof(stat), "%s_revalidations", name);
	mail_say_stat(stat, st.cache_revalidations);
	fs_stats_reset(fs);
}

static int cache_run_fs(struct bench_server *srv, const struct mail_work *w,
			const char *layer, const struct cache_pass_def *passes)
{
	struct mail_phase ph;
	struct fs *fs = NULL;
	size_t buf_size = w->index_size + 1;
	char *buf = malloc(buf_size);
	int ret;

	ret = buf == NULL ? -ENOMEM : cache_fs(srv, layer, &fs);
	for (; ret == 0 && passes->name != NULL; passes++) {
		ret = mail_phase_init(&ph, w, MAIL_IDX_GET, 0, 1);
		if (ret < 0)
			break;
		bench_server_counters_reset(srv);
		cache_pass(fs, &ph, passes->own_buffer ? buf : NULL, buf_size);
		cache_say(srv, layer != NULL ? fs : NULL, passes->name, &ph);
		bench_phase_deinit(&ph.base);
	}
	fs_deinit(&fs);
	free(buf);
	return ret;
}

/* The same reads with raw libcurl (the peer of the mail scenario). */
static int cache_run_curl(struct bench_server *srv, const struct mail_work *w)
{
	struct bench_client *client = NULL;
	char error[BENCH_ERROR_MAX] = "";
	struct mail_phase ph;
	int ret;

	ret = bench_peer_curl.init(&srv->target, 1, &client, error,
				   sizeof(error));
	if (ret < 0) {
		mail_say_error("curl", error);
		return ret;
	}
	ret = mail_phase_init(&ph, w, MAIL_IDX_GET, 0, 1);
	if (ret == 0) {
		bench_server_counters_reset(srv);
		ret = bench_phase_run(client, &ph.base);
		cache_say(srv, NULL, "curl", &ph);
		bench_phase_deinit(&ph.base);
	}
	client->peer->deinit(&client);
	return ret;
}

/* Stores the index files (before the handshake: not measured). */
static int cache_setup(struct bench_server *srv, const struct mail_work *w)
{
	struct bench_client *client = NULL;
	char error[BENCH_ERROR_MAX] = "";
	struct mail_phase ph;
	int ret;

	ret = bench_peer_libfs.init(&srv->target, 8, &client, error,
				    sizeof(error));
	if (ret < 0) {
		mail_say_error("setup", error);
		return ret;
	}
	ret = mail_phase_init(&ph, w, MAIL_IDX_PUT, 0, 8);
	if (ret == 0) {
		ret = bench_phase_run(client, &ph.base);
		if (ret == 0 && ph.base.completed != ph.base.count)
			ret = -EIO;
		if (ret < 0)
			mail_say_error("setup", ph.base.first_error);
		bench_phase_deinit(&ph.base);
	}
	client->peer->deinit(&client);
	return ret;
}

int mail_child_cache(const struct mail_options *opt, struct bench_server *srv)
{
	static const struct cache_pass_def s3[] = {{"s3", false}, {NULL, 0}};
	static const struct cache_pass_def never[] = {
		{"never-miss", false},
		{"never-hit", false},
		{"never-hitbuf", true},
		{NULL, false},
	};
	static const struct cache_pass_def etag[] = {
		{"etag-miss", false},
		{"etag-hit", false},
		{NULL, false},
	};
	struct mail_work w = opt->work;
	int ret;

	w.index_rounds = 1;
	ret = cache_setup(srv, &w);
	if (ret == 0) {
		mail_say_ready();
		ret = mail_wait_go();
	}
	if (ret == 0)
		ret = cache_run_curl(srv, &w);
	if (ret == 0)
		ret = cache_run_fs(srv, &w, NULL, s3);
	if (ret == 0)
		ret = cache_run_fs(srv, &w, "cache:max=64M,validate=never",
				   never);
	if (ret == 0)
		ret = cache_run_fs(srv, &w, "cache:max=64M,validate=etag",
				   etag);
	mail_say_done(ret < 0 ? 1 : 0);
	return ret < 0 ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Parent                                                                     */

/* The requests per read that are checked: what the cache promises for a
   hit (none, or one conditional request), and a plain GET elsewhere. What
   a miss costs is shown, not judged (-1). */
static const struct {
	const char *name, *label;
	int requests;
} cache_rows[] = {
	{"curl", "raw libcurl GET", 1},
	{"s3", "libfs s3, no cache", 1},
	{"never-miss", "cache never: miss", -1},
	{"never-hit", "cache never: hit", 0},
	{"never-hitbuf", "  hit, fs_read() to own", 0},
	{"etag-miss", "cache etag: miss", -1},
	{"etag-hit", "cache etag: hit (304)", 1},
};

static double cache_mean_usec(const struct mail_result *r)
{
	return r != NULL ? (double)r->mean_usec : 0;
}

static bool cache_row(const struct mail_report *rep, size_t k,
		      unsigned int reads)
{
	const struct mail_result *r =
		mail_report_phase(rep, cache_rows[k].name);
	char name[64], hits[24] = "-", misses[24] = "-", reqs[24] = "n/a";
	uint64_t req;
	bool ok;

	if (r == NULL)
		return false;
	snprintf(name, sizeof(name), "%s_requests", r->name);
	req = mail_report_stat(rep, name, UINT64_MAX);
	snprintf(name, sizeof(name), "%s_hits", r->name);
	if (mail_report_stat(rep, name, UINT64_MAX) != UINT64_MAX)
		snprintf(hits, sizeof(hits), "%" PRIu64,
			 mail_report_stat(rep, name, 0));
	snprintf(name, sizeof(name), "%s_misses", r->name);
	if (mail_report_stat(rep, name, UINT64_MAX) != UINT64_MAX)
		snprintf(misses, sizeof(misses), "%" PRIu64,
			 mail_report_stat(rep, name, 0));
	if (req != UINT64_MAX)
		snprintf(reqs, sizeof(reqs), "%.2f", (double)req / reads);
	ok = r->ops == reads && r->corrupt == 0 &&
	     (req == UINT64_MAX || cache_rows[k].requests < 0 ||
	      req == (uint64_t)cache_rows[k].requests * reads);
	printf("%-23s %9.1f %8.3f %8.3f %8.3f %9s %6s %6s %s\n",
	       cache_rows[k].label, mail_result_ops(r),
	       (double)r->p50_usec / 1e3, (double)r->p99_usec / 1e3,
	       cache_mean_usec(r) / 1e3, reqs, hits, misses,
	       ok ? "ok" : "WRONG");
	return ok;
}

/* Hit against miss (and against a plain GET without a cache, what a miss
   would cost if it were one request), at p50 and on average. */
static void cache_ratio(const struct mail_report *rep, const char *mode,
			const char *hit_kind, bool target)
{
	char miss_name[32], hit_name[32];
	const struct mail_result *miss, *hit, *plain;
	double p50, mean, plain_p50 = 0;

	snprintf(miss_name, sizeof(miss_name), "%s-miss", mode);
	snprintf(hit_name, sizeof(hit_name), "%s-%s", mode, hit_kind);
	miss = mail_report_phase(rep, miss_name);
	hit = mail_report_phase(rep, hit_name);
	plain = mail_report_phase(rep, "s3");
	if (miss == NULL || hit == NULL || hit->p50_usec == 0 ||
	    cache_mean_usec(hit) <= 0)
		return;
	p50 = (double)miss->p50_usec / (double)hit->p50_usec;
	mean = cache_mean_usec(miss) / cache_mean_usec(hit);
	if (plain != NULL)
		plain_p50 = (double)plain->p50_usec / (double)hit->p50_usec;
	printf("validate=%-5s a %-6s is %.0fx faster than a miss at p50 "
	       "(%.0fx on average; %.0fx faster than a GET without cache)",
	       mode, hit_kind, p50, mean, plain_p50);
	if (target)
		printf(": target >= %.0fx %s\n", CACHE_TARGET,
		       p50 >= CACHE_TARGET ? "met" : "MISSED");
	else
		printf("; for comparison, no target: a hit is a "
		       "conditional request\n");
}

static bool cache_report(const struct mail_options *opt,
			 const struct bench_server *srv,
			 const struct mail_report *rep, uint64_t wall_usec)
{
	bool ok = rep->done && rep->exit_status == 0;
	size_t k;

	printf("fs-bench-mail cache: %u index files of %zu KiB, each read "
	       "once per pass, one at a time (verified)\n",
	       opt->cache_reads, opt->cache_size / 1024);
	printf("server: %s %s with %u ms injected latency per request; "
	       "cache:max=64M over s3\n\n",
	       srv->mock != NULL ? "in-process mock" : "external",
	       srv->endpoint, opt->cache_latency_ms);
	printf("%-23s %9s %8s %8s %8s %9s %6s %6s %s\n", "reads", "ops/s",
	       "p50 ms", "p99 ms", "mean ms", "req/read", "hits", "misses",
	       "check");
	for (k = 0; k < sizeof(cache_rows) / sizeof(cache_rows[0]); k++)
		ok = cache_row(rep, k, opt->cache_reads) && ok;
	printf("\n");
	cache_ratio(rep, "never", "hit", true);
	cache_ratio(rep, "never", "hitbuf", true);
	cache_ratio(rep, "etag", "hit", false);
	printf("(hit: fs_read_all(), a new buffer per read; hitbuf: fs_read() "
	       "into the application's own buffer)\n");
	if (rep->error[0] != '\0')
		printf("first error: %s\n", rep->error);
	printf("peak RSS of the client process %.1f MiB; wall time %.1f s; "
	       "%s\n",
	       (double)rep->maxrss_kib / 1024.0, (double)wall_usec / 1e6,
	       ok ? "all reads verified, request counts as expected"
		  : "SOMETHING FAILED");
	return ok;
}

static int cache_spawn(const struct mail_options *opt, struct bench_server *srv,
		       struct mail_proc *p)
{
	struct mail_work w = opt->work;

	snprintf(w.prefix, sizeof(w.prefix), "bm-cache-%u",
		 (unsigned int)getpid());
	w.seed = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	w.mails = 0;
	w.boxes = opt->cache_reads;
	w.index_rounds = 1;
	w.index_size = opt->cache_size;
	w.lists = 0;
	return mail_child_spawn(p, opt, "cache", &srv->target, &w, NULL);
}

static int cache_setup_server(const struct mail_options *opt,
			      struct bench_server *srv)
{
	char error[BENCH_ERROR_MAX] = "", rule[64];

	snprintf(rule, sizeof(rule), "delay=%u", opt->cache_latency_ms);
	if (bench_server_start(srv, opt->common.endpoint, &opt->common.target,
			       error, sizeof(error)) < 0 ||
	    bench_server_create_bucket(srv, error, sizeof(error)) < 0 ||
	    (opt->cache_latency_ms > 0 &&
	     bench_server_add_fault(srv, rule, error, sizeof(error)) < 0)) {
		fprintf(stderr, "fs-bench-mail: cache: %s\n", error);
		return -EIO;
	}
	return 0;
}

int mail_scn_cache(const struct mail_options *opt)
{
	struct bench_server srv;
	struct mail_proc p;
	uint64_t start = bench_now_usec();
	int status = 2, ret;

	memset(&srv, 0, sizeof(srv));
	/* Every file must stay cached (64 MiB, overhead included). */
	if ((uint64_t)opt->cache_reads * opt->cache_size > CACHE_FIT_MAX) {
		fprintf(stderr,
			"fs-bench-mail: cache: --cache-reads x --cache-size "
			"must stay under %u MiB to fit the 64 MiB cache\n",
			(unsigned int)(CACHE_FIT_MAX >> 20));
		return 2;
	}
	if (cache_setup_server(opt, &srv) == 0 &&
	    cache_spawn(opt, &srv, &p) == 0) {
		ret = mail_proc_wait_ready(&p);
		if (ret == 0)
			ret = mail_proc_go(&p);
		if (mail_proc_finish(&p) < 0)
			ret = -EIO;
		status = cache_report(opt, &srv, &p.rep,
				      bench_now_usec() - start) &&
					 ret == 0
				 ? 0
				 : 1;
	}
	bench_server_stop(&srv);
	return status;
}
