/*
 * fs-bench-mail scenario "big": one large object (1 GiB by default)
 * streamed up and down, and the peak RSS of the client's process.
 *
 * The server is an fs-mockserver process keeping its objects in a posix
 * directory (--data), so that neither the server's memory nor the object
 * is in any client's. Runs, each a child process:
 *
 *   curl          one streamed PUT (UNSIGNED-PAYLOAD: no hashing), one
 *                 streamed GET: the wire and the server, the reference
 *   libfs         fs_write() of 128 KiB chunks then fs_read(), with the S3
 *                 driver's defaults (5 MiB parts, 2 in flight, threshold
 *                 5 MiB: a multipart upload holding up to (2 + 1) x 5 MiB)
 *   libfs tuned   part_size=5M&parallel=3, (3 + 1) x 5 MiB
 *
 * The stream is generated and verified chunk by chunk on both sides, so
 * the client holds no more than a chunk of its own. The child reports its
 * VmHWM after the upload, and wait4() its peak over both directions.
 */
#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench-mail.h"

#define BIG_CHUNK (128 * 1024)
#define BIG_KEY "bench-big/object"
#define BIG_RSS_TARGET_KIB (32 * 1024)

int mail_child_big(const struct mail_options *opt, struct bench_server *srv);

/* ------------------------------------------------------------------------ */
/* Child: libfs                                                               */

struct big_io {
	uint64_t seed, size, off;
	bool corrupt;
	unsigned char buf[BIG_CHUNK];
};

static void big_result(struct mail_result *r, const char *name, uint64_t start,
		       uint64_t bytes, bool ok, bool corrupt)
{
	memset(r, 0, sizeof(*r));
	r->ran = true;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->count = 1;
	r->ops = ok ? 1 : 0;
	r->failed = ok ? 0 : 1;
	r->corrupt = corrupt ? 1 : 0;
	r->bytes = bytes;
	r->usecs = bench_now_usec() - start;
	r->p50_usec = r->p99_usec = r->mean_usec = ok ? r->usecs : 0;
}

static int big_libfs_put(struct fs *fs, struct big_io *io)
{
	struct fs_file *file = NULL;
	size_t n;
	ssize_t ret;

	ret = fs_file_init(fs, BIG_KEY, FS_OPEN_REPLACE, &file);
	if (ret < 0) {
		mail_say_error("PUT", fs_last_error(fs));
		return (int)ret;
	}
	for (io->off = 0; io->off < io->size && ret >= 0;) {
		n = io->size - io->off < BIG_CHUNK ? io->size - io->off
						   : BIG_CHUNK;
		mail_stream_fill(io->seed, io->off, io->buf, n);
		ret = fs_write(file, io->buf, n);
		if (ret > 0)
			io->off += (size_t)ret;
	}
	if (ret >= 0)
		ret = fs_write_finish(file);
	if (ret < 0)
		mail_say_error("PUT", fs_file_last_error(file));
	fs_file_deinit(&file);
	return (int)ret;
}

static int big_libfs_get(struct fs *fs, struct big_io *io)
{
	struct fs_file *file = NULL;
	ssize_t ret;

	ret = fs_file_init(fs, BIG_KEY, FS_OPEN_READ, &file);
	if (ret < 0) {
		mail_say_error("GET", fs_last_error(fs));
		return (int)ret;
	}
	io->off = 0;
	while ((ret = fs_read(file, io->buf, BIG_CHUNK)) > 0) {
		if (!mail_stream_check(io->seed, io->off, io->buf, (size_t)ret))
			io->corrupt = true;
		io->off += (uint64_t)ret;
	}
	if (ret < 0)
		mail_say_error("GET", fs_file_last_error(file));
	else if (io->off != io->size)
		io->corrupt = true;
	fs_file_deinit(&file);
	return (int)ret;
}

static void big_libfs_delete(struct fs *fs)
{
	struct fs_file *file = NULL;

	if (fs_file_init(fs, BIG_KEY, FS_OPEN_READ, &file) == 0 &&
	    fs_file_delete(file) < 0)
		mail_say_error("DELETE", fs_file_last_error(file));
	fs_file_deinit(&file);
}

/* Runs PUT then GET with the handshake; fills r[2]. */
static void big_libfs_run(struct fs *fs, struct big_io *io,
			  struct mail_result r[2])
{
	uint64_t start = bench_now_usec();
	int ret;

	ret = big_libfs_put(fs, io);
	big_result(&r[0], "PUT", start, io->off, ret == 0, false);
	mail_say_stat("put_hwm_kib", (uint64_t)mail_self_hwm_kib());
	start = bench_now_usec();
	ret = ret == 0 ? big_libfs_get(fs, io) : -EIO;
	big_result(&r[1], "GET", start, io->off, ret == 0, io->corrupt);
	big_libfs_delete(fs);
}

static int big_child_libfs(const struct mail_options *opt,
			   struct bench_server *srv, struct big_io *io,
			   struct mail_result r[2])
{
	struct fs_settings set;
	struct fs *fs = NULL;
	const char *why = NULL;
	int ret;

	fs_settings_init(&set);
	set.access_key = srv->target.access_key;
	set.secret_key = srv->target.secret_key;
	ret = fs_init(opt->libfs_spec != NULL ? opt->libfs_spec : "", &set, &fs,
		      &why);
	if (ret < 0) {
		mail_say_error("init", why != NULL ? why : "fs_init failed");
		return ret;
	}
	mail_say_ready();
	ret = mail_wait_go();
	if (ret == 0)
		big_libfs_run(fs, io, r);
	fs_deinit(&fs);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Child: raw libcurl                                                         */

struct big_curl {
	struct bench_signer signer;
	const struct bench_target *target;
	CURL *easy;
	struct curl_slist *headers;
	char url[BENCH_URL_MAX];
	struct big_io *io;
};

static size_t big_curl_read(char *buf, size_t size, size_t n, void *context)
{
	struct big_io *io = context;
	size_t len = size * n;

	if (len > io->size - io->off)
		len = (size_t)(io->size - io->off);
	mail_stream_fill(io->seed, io->off, buf, len);
	io->off += len;
	return len;
}

static size_t big_curl_write(char *data, size_t size, size_t n, void *context)
{
	struct big_io *io = context;
	size_t len = size * n;

	if (!mail_stream_check(io->seed, io->off, data, len))
		io->corrupt = true;
	io->off += len;
	return len;
}

/* One request on the object; returns 0 if the server said 2xx. */
static int big_curl_request(struct big_curl *bc, const char *method)
{
	char path[BENCH_URL_MAX];
	long status = 0;
	CURLcode code;

	snprintf(path, sizeof(path), "/%s/%s", bc->target->bucket, BIG_KEY);
	snprintf(bc->url, sizeof(bc->url), "%s%s", bc->target->endpoint, path);
	curl_slist_free_all(bc->headers);
	bc->headers = NULL;
	if (bench_sign_streaming(&bc->signer, method, path, &bc->headers) < 0)
		return -EIO;
	bc->io->off = 0;
	curl_easy_setopt(bc->easy, CURLOPT_URL, bc->url);
	curl_easy_setopt(bc->easy, CURLOPT_HTTPHEADER, bc->headers);
	curl_easy_setopt(bc->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(bc->easy, CURLOPT_CUSTOMREQUEST,
			 strcmp(method, "DELETE") == 0 ? method : NULL);
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(bc->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(bc->easy, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)bc->io->size);
	}
	code = curl_easy_perform(bc->easy);
	curl_easy_getinfo(bc->easy, CURLINFO_RESPONSE_CODE, &status);
	if (code == CURLE_OK && status >= 200 && status < 300)
		return 0;
	mail_say_error(method, code != CURLE_OK ? curl_easy_strerror(code)
						: "HTTP error status");
	return -EIO;
}

static void big_curl_run(struct big_curl *bc, struct mail_result r[2])
{
	uint64_t start = bench_now_usec();
	int ret;

	ret = big_curl_request(bc, "PUT");
	big_result(&r[0], "PUT", start, bc->io->off, ret == 0, false);
	mail_say_stat("put_hwm_kib", (uint64_t)mail_self_hwm_kib());
	start = bench_now_usec();
	ret = ret == 0 ? big_curl_request(bc, "GET") : -EIO;
	if (ret == 0 && bc->io->off != bc->io->size)
		bc->io->corrupt = true;
	big_result(&r[1], "GET", start, bc->io->off, ret == 0, bc->io->corrupt);
	big_curl_request(bc, "DELETE");
}

static int big_child_curl(struct bench_server *srv, struct big_io *io,
			  struct mail_result r[2])
{
	struct big_curl bc = {.target = &srv->target, .io = io};
	int ret = -ENOMEM;

	bc.easy = curl_easy_init();
	if (bc.easy != NULL && bench_signer_init(&bc.signer, bc.target) == 0) {
		curl_easy_setopt(bc.easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(bc.easy, CURLOPT_READFUNCTION, big_curl_read);
		curl_easy_setopt(bc.easy, CURLOPT_READDATA, io);
		curl_easy_setopt(bc.easy, CURLOPT_WRITEFUNCTION,
				 big_curl_write);
		curl_easy_setopt(bc.easy, CURLOPT_WRITEDATA, io);
		mail_say_ready();
		ret = mail_wait_go();
		if (ret == 0)
			big_curl_run(&bc, r);
	}
	bench_signer_deinit(&bc.signer);
	curl_slist_free_all(bc.headers);
	if (bc.easy != NULL)
		curl_easy_cleanup(bc.easy);
	return ret;
}

int mail_child_big(const struct mail_options *opt, struct bench_server *srv)
{
	struct mail_result r[2];
	struct big_io *io = calloc(1, sizeof(*io));
	bool curl = opt->peer != NULL && strcmp(opt->peer, "curl") == 0;
	int ret;

	if (io == NULL) {
		mail_say_done(2);
		return 2;
	}
	memset(r, 0, sizeof(r));
	io->seed = opt->work.seed;
	io->size = opt->big_size;
	ret = curl ? big_child_curl(srv, io, r)
		   : big_child_libfs(opt, srv, io, r);
	free(io);
	if (r[0].ran) {
		mail_say_result(&r[0]);
		mail_say_result(&r[1]);
	}
	ret = ret < 0 || !r[1].ran || r[1].ops != 1 || r[1].corrupt > 0;
	mail_say_done(ret);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Parent                                                                     */

struct big_run {
	const char *peer;
	const char *label;
	const char *options; /* the S3 spec's, for libfs */
	struct mail_report rep;
	struct mail_counts counts;
	bool failed;
};

/* The runs, in order; the first is the reference for the ratios. */
static const struct {
	const char *peer, *label, *options;
} big_configs[] = {
	{"curl", "curl (one streamed request)", NULL},
	{"libfs", "libfs defaults (5M, 2 parallel)", NULL},
	{"libfs", "libfs part_size=5M&parallel=3", "part_size=5M&parallel=3"},
	{"libfs", "  + multipart_threshold=5M",
	 "multipart_threshold=5M&part_size=5M&parallel=3"},
	{"libfs", "libfs 5M, 2 parallel, thr. 5M",
	 "multipart_threshold=5M&part_size=5M&parallel=2"},
};
#define BIG_RUNS (sizeof(big_configs) / sizeof(big_configs[0]))

struct scn_big {
	const struct mail_options *opt;
	struct mail_mockproc mock;
	struct bench_server srv;
	char dir[MAIL_PATH_MAX];
	struct big_run runs[BIG_RUNS];
	long floor_kib; /* /usr/bin/curl's peak RSS for one tiny request */
};

static void big_run_one(struct scn_big *s, struct big_run *run, uint64_t seed)
{
	struct mail_work work = s->opt->work;
	char spec[BENCH_URL_MAX], size[32];
	const char *extra[] = {"--peer",       run->peer, "--big-size", size,
			       "--libfs-spec", spec,	  NULL};
	struct mail_proc p;
	int ret;

	work.seed = seed;
	snprintf(size, sizeof(size), "%" PRIu64, s->opt->big_size);
	bench_libfs_spec(&s->srv.target, run->options, spec, sizeof(spec));
	ret = mail_child_spawn(&p, s->opt, "big", &s->srv.target, &work, extra);
	if (ret < 0) {
		run->failed = true;
		return;
	}
	ret = mail_proc_wait_ready(&p);
	if (ret == 0) {
		bench_server_counters_reset(&s->srv);
		ret = mail_proc_go(&p);
	}
	if (mail_proc_finish(&p) < 0 || ret < 0)
		run->failed = true;
	run->rep = p.rep;
	mail_counts_read(&s->srv, &run->counts);
}

/* The RSS any libcurl + OpenSSL process starts from: the curl program's
   peak for one tiny request (0 if there is no curl program). */
static void big_floor(struct scn_big *s)
{
	char url[BENCH_URL_MAX];
	char *argv[] = {"/usr/bin/curl", "-s", "-o", "/dev/null", url, NULL};
	struct mail_proc p;

	if (access(argv[0], X_OK) < 0)
		return;
	mail_format(url, sizeof(url), "%s/_mock/stats", s->srv.endpoint);
	if (mail_proc_spawn(&p, argv, NULL, false, NULL) == 0 &&
	    mail_proc_finish(&p) == 0)
		s->floor_kib = p.rep.maxrss_kib;
}

static double big_mib(const struct mail_report *rep, const char *name)
{
	return mail_result_mib(mail_report_phase(rep, name));
}

static void big_row(const struct scn_big *s, const struct big_run *run)
{
	const struct mail_report *ref = &s->runs[0].rep;
	const struct mail_counts *c = &run->counts;
	char put_ratio[16], get_ratio[16], hwm[16], rss[16];
	double put = big_mib(&run->rep, "PUT"), get = big_mib(&run->rep, "GET");
	bool fits = run->rep.maxrss_kib > 0 &&
		    run->rep.maxrss_kib < BIG_RSS_TARGET_KIB;

	mail_format_ratio(put, big_mib(ref, "PUT"), put_ratio,
			  sizeof(put_ratio));
	mail_format_ratio(get, big_mib(ref, "GET"), get_ratio,
			  sizeof(get_ratio));
	mail_format_rss((long)mail_report_stat(&run->rep, "put_hwm_kib", 0),
			hwm, sizeof(hwm));
	mail_format_rss(run->rep.maxrss_kib, rss, sizeof(rss));
	printf("%-31s %8.1f %8.1f %7s %7s %9s %8s %-6s %5" PRIu64 " %5" PRIu64
	       " %5" PRIu64 " %s\n",
	       run->label, put, get, put_ratio, get_ratio, hwm, rss,
	       fits ? "yes" : "NO", c->v[MC_PUT] + c->v[MC_MP_PART],
	       c->v[MC_GET],
	       c->v[MC_REQUESTS] - c->v[MC_PUT] - c->v[MC_MP_PART] -
		       c->v[MC_GET] - c->v[MC_DELETE] - c->v[MC_HEAD],
	       run->failed ? "FAILED" : "yes");
}

static bool big_report(const struct scn_big *s, uint64_t wall_usec)
{
	bool ok = true;
	unsigned int i;

	printf("fs-bench-mail big: one object of %.1f MiB streamed up, then "
	       "down (verified), 128 KiB at a time; every client in its own "
	       "process\n",
	       (double)s->opt->big_size / (1024.0 * 1024.0));
	printf("server: fs-mockserver process %s storing in a directory "
	       "(its memory is not the client's); peak RSS target < 32 "
	       "MiB\n\n",
	       s->srv.endpoint);
	printf("%-31s %8s %8s %7s %7s %9s %8s %-6s %5s %5s %5s %s\n", "client",
	       "PUT MiB/s", "GET MiB/s", "PUT vs", "GET vs", "RSS@PUT",
	       "peak RSS", "<32MiB", "Puts", "Gets", "other", "verified");
	for (i = 0; i < BIG_RUNS; i++)
		big_row(s, &s->runs[i]);
	printf("(vs: ratio to raw libcurl's single streamed request; RSS in "
	       "MiB: after the upload, and the process's peak; Puts counts "
	       "UploadPart, other the multipart\ncreates and completes; "
	       "the final delete is not counted)\n");
	if (s->floor_kib > 0)
		printf("floor: /usr/bin/curl peaks at %.1f MiB for one tiny "
		       "request: libcurl and OpenSSL alone\n",
		       (double)s->floor_kib / 1024.0);
	printf("\n");
	for (i = 0; i < BIG_RUNS; i++) {
		if (!s->runs[i].failed)
			continue;
		ok = false;
		printf("%s: FAILED: %s\n", s->runs[i].label,
		       s->runs[i].rep.error[0] != '\0' ? s->runs[i].rep.error
						       : "the child failed");
	}
	printf("wall time %.1f s; %s\n", (double)wall_usec / 1e6,
	       ok ? "all data verified" : "SOME CLIENTS FAILED");
	return ok;
}

static int big_rm(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static int big_setup(struct scn_big *s)
{
	char error[BENCH_ERROR_MAX] = "", data[MAIL_PATH_MAX];
	const char *extra[] = {"--data", data, NULL};

	if (mail_format(s->dir, sizeof(s->dir), "%s/fs-bench-big-XXXXXX",
			s->opt->tmpdir) < 0 ||
	    mkdtemp(s->dir) == NULL) {
		fprintf(stderr, "fs-bench-mail: big: mkdtemp under %s: %s\n",
			s->opt->tmpdir, strerror(errno));
		s->dir[0] = '\0';
		return -EIO;
	}
	mail_format(data, sizeof(data), "%s/data", s->dir);
	if (mkdir(data, 0700) < 0 ||
	    mail_mockproc_start(&s->mock, s->opt->mockserver, extra, error,
				sizeof(error)) < 0 ||
	    bench_server_start(&s->srv, s->mock.url, &s->opt->common.target,
			       error, sizeof(error)) < 0 ||
	    bench_server_create_bucket(&s->srv, error, sizeof(error)) < 0) {
		fprintf(stderr, "fs-bench-mail: big: %s\n",
			error[0] != '\0' ? error : strerror(errno));
		return -EIO;
	}
	return 0;
}

int mail_scn_big(const struct mail_options *opt)
{
	struct scn_big *s = calloc(1, sizeof(*s));
	uint64_t start = bench_now_usec(), seed;
	unsigned int i;
	int status = 2;

	if (s == NULL)
		return 2;
	s->opt = opt;
	s->mock.proc.pid = -1;
	for (i = 0; i < BIG_RUNS; i++) {
		s->runs[i].peer = big_configs[i].peer;
		s->runs[i].label = big_configs[i].label;
		s->runs[i].options = big_configs[i].options;
	}
	seed = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	if (big_setup(s) == 0) {
		big_floor(s);
		for (i = 0; i < BIG_RUNS; i++)
			big_run_one(s, &s->runs[i], seed + i);
		status = big_report(s, bench_now_usec() - start) ? 0 : 1;
	}
	bench_server_stop(&s->srv);
	mail_mockproc_stop(&s->mock);
	if (s->dir[0] != '\0')
		nftw(s->dir, big_rm, 16, FTW_DEPTH | FTW_PHYS);
	free(s);
	return status;
}
