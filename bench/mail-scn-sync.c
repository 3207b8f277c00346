/*
 * fs-bench-mail scenario "sync": a directory of mails copied into S3 by
 * `fsctl sync -j N` and by the tools people use today, in the same run:
 *
 *   curl    this program's raw libcurl uploader, N in flight (the limit)
 *   fsctl   fsctl sync -j N posix:DIR s3://BUCKET/?endpoint=...
 *   aws     aws s3 cp --recursive DIR s3://BUCKET/ (max_concurrent_requests
 *           N in a private config, unless --tool-defaults)
 *   s3cmd   s3cmd sync DIR/ s3://BUCKET/ (one request at a time: it has no
 *           concurrency setting)
 *   rclone  rclone copy DIR mock:BUCKET (--transfers N --checkers N unless
 *           --tool-defaults; provider Other, a private config)
 *
 * The server is an fs-mockserver process, so that every client talks to
 * the same server over TCP and the server's memory is not any client's.
 * Each tool gets a fresh bucket; its time is from spawn to exit (start-up
 * included: that is what a user waits for), its peak RSS and CPU time come
 * from wait4(), the requests it made from the server's counters. Then the
 * bucket is checked through libfs: exactly the expected keys, every byte
 * of every object, and emptied. The tools see no credentials but test/test
 * in their own configuration and environment; AWS_CA_BUNDLE and the like
 * of the caller's environment are not passed on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench-mail.h"

enum sync_tool_id {
	SYNC_CURL,
	SYNC_FSCTL,
	SYNC_AWS,
	SYNC_S3CMD,
	SYNC_RCLONE,
	SYNC_TOOL_COUNT,
};

static const char *const sync_tool_names[SYNC_TOOL_COUNT] = {
	[SYNC_CURL] = "curl",	[SYNC_FSCTL] = "fsctl",	  [SYNC_AWS] = "aws",
	[SYNC_S3CMD] = "s3cmd", [SYNC_RCLONE] = "rclone",
};

struct sync_tool {
	enum sync_tool_id id;
	bool wanted, skipped, failed;
	char path[MAIL_PATH_MAX];
	char note[BENCH_ERROR_MAX];
	struct mail_report *reps; /* [rounds] */
	struct mail_counts counts;
	uint64_t verified;
};

struct scn_sync {
	const struct mail_options *opt;
	struct mail_mockproc mock;
	struct bench_server srv;
	struct mail_work work;
	char dir[MAIL_PATH_MAX]; /* everything of the run, removed at the end */
	char src[MAIL_PATH_MAX];
	char bucket[64];
	uint64_t total_bytes;
	struct sync_tool tools[SYNC_TOOL_COUNT];
	struct fs *fs; /* the verifier's, on the current bucket */
};

/* ------------------------------------------------------------------------ */
/* Set-up: the source directory, the tools' configurations                    */

static int sync_write_file(const char *path, uint64_t seed, size_t size)
{
	char buf[65536];
	size_t off = 0, n;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (off < size && ret == 0) {
		n = size - off < sizeof(buf) ? size - off : sizeof(buf);
		mail_stream_fill(seed, off, buf, n);
		if (write(fd, buf, n) != (ssize_t)n)
			ret = -EIO;
		off += n;
	}
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

/* DIR/src/boxNN/msgNNNNNN, one file per message of the workload. */
static int sync_make_source(struct scn_sync *s)
{
	char path[MAIL_PATH_MAX], name[64];
	unsigned int uid, box;
	size_t size;
	int ret;

	if (mail_format(s->src, sizeof(s->src), "%s/src", s->dir) < 0)
		return -ENAMETOOLONG;
	if (mkdir(s->src, 0700) < 0)
		return -errno;
	for (box = 0; box < s->work.boxes; box++) {
		mail_format(path, sizeof(path), "%s/box%02u", s->src, box);
		if (mkdir(path, 0700) < 0)
			return -errno;
	}
	for (uid = 0; uid < s->work.mails; uid++) {
		mail_message_name(&s->work, uid, name, sizeof(name));
		mail_format(path, sizeof(path), "%s/%s", s->src, name);
		size = mail_message_size(&s->work, uid);
		ret = sync_write_file(path, mail_message_seed(&s->work, uid),
				      size);
		if (ret < 0)
			return ret;
		s->total_bytes += size;
	}
	return 0;
}

static int sync_write_text(const struct scn_sync *s, const char *name,
			   const char *text)
{
	char path[MAIL_PATH_MAX];
	FILE *f;

	mail_format(path, sizeof(path), "%s/%s", s->dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

static int sync_configs(struct scn_sync *s)
{
	const struct bench_target *t = &s->srv.target;
	char text[2048];
	int ret;

	snprintf(text, sizeof(text), "[default]\nregion = %s\n%s", t->region,
		 s->opt->tool_defaults ? "" : "s3 =\n");
	if (!s->opt->tool_defaults)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "    max_concurrent_requests = %u\n",
			 s->opt->sync_jobs);
	ret = sync_write_text(s, "aws.cfg", text);
	snprintf(text, sizeof(text),
		 "[default]\naccess_key = %s\nsecret_key = %s\n"
		 "host_base = %s\nhost_bucket = %s\nuse_https = False\n"
		 "bucket_location = %s\nsignature_v2 = False\n",
		 t->access_key, t->secret_key, t->host, t->host, t->region);
	if (ret == 0)
		ret = sync_write_text(s, "s3cmd.cfg", text);
	snprintf(text, sizeof(text),
		 "[mock]\ntype = s3\nprovider = Other\naccess_key_id = %s\n"
		 "secret_access_key = %s\nendpoint = %s\nregion = %s\n",
		 t->access_key, t->secret_key, t->endpoint, t->region);
	if (ret == 0)
		ret = sync_write_text(s, "rclone.conf", text);
	mail_format(text, sizeof(text), "%s/home", s->dir);
	if (ret == 0 && mkdir(text, 0700) < 0)
		ret = -errno;
	return ret;
}

/* Finds name (a path, or a name in PATH). Returns true if executable. */
static bool sync_which(const char *name, char *path, size_t size)
{
	const char *env = getenv("PATH");
	char dirs[MAIL_PATH_MAX], *dir, *save = NULL;

	if (strchr(name, '/') != NULL) {
		snprintf(path, size, "%s", name);
		return access(path, X_OK) == 0;
	}
	snprintf(dirs, sizeof(dirs), "%s",
		 env != NULL ? env : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir != NULL;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(path, size, "%s/%s", dir, name);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

static void sync_find_tool(struct scn_sync *s, struct sync_tool *t)
{
	const char *name = sync_tool_names[t->id];
	bool found;

	switch (t->id) {
	case SYNC_CURL:
		found = sync_which(s->opt->self, t->path, sizeof(t->path));
		break;
	case SYNC_FSCTL:
		found = sync_which(s->opt->fsctl, t->path, sizeof(t->path));
		break;
	case SYNC_AWS:
		/* Debian's awscli first: a pyenv shim in PATH may hide it. */
		found = sync_which("/usr/bin/aws", t->path, sizeof(t->path)) ||
			sync_which("aws", t->path, sizeof(t->path));
		break;
	default:
		found = sync_which(name, t->path, sizeof(t->path));
		break;
	}
	if (found)
		return;
	t->skipped = true;
	snprintf(t->note, sizeof(t->note), "%s is not installed%s", name,
		 t->id == SYNC_RCLONE ? " (apt-get install -y rclone)" : "");
}

/* ------------------------------------------------------------------------ */
/* Command lines                                                              */

/* The environment of a command-line tool: a clean one. */
static char **sync_tool_env(const struct scn_sync *s)
{
	const struct bench_target *t = &s->srv.target;
	const char *path = getenv("PATH"), *lang = getenv("LANG");
	struct mail_argv a = {.v = NULL};

	mail_argv_addf(&a, "PATH=%s", path != NULL ? path : "/usr/bin:/bin");
	mail_argv_addf(&a, "LANG=%s", lang != NULL ? lang : "C.UTF-8");
	mail_argv_addf(&a, "HOME=%s/home", s->dir);
	mail_argv_addf(&a, "TMPDIR=%s", s->dir);
	mail_argv_addf(&a, "AWS_ACCESS_KEY_ID=%s", t->access_key);
	mail_argv_addf(&a, "AWS_SECRET_ACCESS_KEY=%s", t->secret_key);
	mail_argv_addf(&a, "AWS_DEFAULT_REGION=%s", t->region);
	mail_argv_addf(&a, "AWS_CONFIG_FILE=%s/aws.cfg", s->dir);
	mail_argv_addf(&a, "AWS_SHARED_CREDENTIALS_FILE=%s/none", s->dir);
	mail_argv_add(&a, "NO_PROXY=127.0.0.1,localhost");
	return mail_argv_done(&a);
}

static void sync_cmd_tool(const struct scn_sync *s, const struct sync_tool *t,
			  struct mail_argv *a)
{
	const struct bench_target *tg = &s->srv.target;
	unsigned int j = s->opt->sync_jobs;

	mail_argv_add(a, t->path);
	switch (t->id) {
	case SYNC_FSCTL:
		mail_argv_add(a, "sync");
		mail_argv_add(a, "-j");
		mail_argv_addf(a, "%u", j);
		mail_argv_addf(a, "posix:%s", s->src);
		mail_argv_addf(a, "s3://%s/?endpoint=%s&region=%s", s->bucket,
			       tg->endpoint, tg->region);
		break;
	case SYNC_AWS:
		mail_argv_add(a, "--endpoint-url");
		mail_argv_add(a, tg->endpoint);
		mail_argv_add(a, "s3");
		mail_argv_add(a, "cp");
		mail_argv_add(a, "--recursive");
		mail_argv_add(a, "--only-show-errors");
		mail_argv_add(a, s->src);
		mail_argv_addf(a, "s3://%s/", s->bucket);
		break;
	case SYNC_S3CMD:
		mail_argv_addf(a, "--config=%s/s3cmd.cfg", s->dir);
		mail_argv_add(a, "--no-progress");
		mail_argv_add(a, "sync");
		mail_argv_addf(a, "%s/", s->src);
		mail_argv_addf(a, "s3://%s/", s->bucket);
		break;
	default: /* rclone */
		mail_argv_addf(a, "--config=%s/rclone.conf", s->dir);
		mail_argv_add(a, "copy");
		mail_argv_add(a, s->src);
		mail_argv_addf(a, "mock:%s", s->bucket);
		if (!s->opt->tool_defaults) {
			mail_argv_addf(a, "--transfers=%u", j);
			mail_argv_addf(a, "--checkers=%u", j);
		}
		break;
	}
}

static int sync_command(const struct scn_sync *s, const struct sync_tool *t,
			char ***argv_r, char ***envp_r)
{
	struct bench_target target = s->srv.target;
	struct mail_work work = s->work;
	struct mail_argv a = {.v = NULL};
	char jobs[16];
	const char *extra[] = {"--peer", "curl", "--depth", jobs, NULL};

	if (t->id == SYNC_CURL) {
		target.bucket = s->bucket;
		work.source_dir = s->src;
		snprintf(jobs, sizeof(jobs), "%u", s->opt->sync_jobs);
		*argv_r =
			mail_child_argv(s->opt, "sync", &target, &work, extra);
		*envp_r = mail_child_env(&target);
	} else {
		sync_cmd_tool(s, t, &a);
		*argv_r = mail_argv_done(&a);
		*envp_r = t->id == SYNC_FSCTL ? mail_child_env(&target)
					      : sync_tool_env(s);
	}
	return *argv_r != NULL && *envp_r != NULL ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------------ */
/* A tool's turn: fresh bucket, run, count, verify, empty                     */

static int sync_open_bucket(struct scn_sync *s, char *error, size_t size)
{
	struct fs_settings set;
	const char *why = NULL;
	char spec[BENCH_URL_MAX];
	int ret;

	s->srv.target.bucket = s->bucket;
	ret = bench_server_create_bucket(&s->srv, error, size);
	if (ret < 0)
		return ret;
	fs_settings_init(&set);
	set.access_key = s->srv.target.access_key;
	set.secret_key = s->srv.target.secret_key;
	bench_libfs_spec(&s->srv.target, NULL, spec, sizeof(spec));
	ret = fs_init(spec, &set, &s->fs, &why);
	if (ret < 0)
		mail_format(error, size, "%s: %s", spec,
			    why != NULL ? why : "?");
	return ret;
}

/* Checks that the bucket holds exactly the messages' keys. */
static int sync_check_keys(struct scn_sync *s, char *error, size_t size)
{
	struct fs_iter *iter = NULL;
	const char *key;
	unsigned int n = 0, uid, box;
	int ret;

	ret = fs_iter_init(s->fs, "", 0, &iter);
	while (ret == 0 && (ret = fs_iter_next(iter, &key)) == 1) {
		if (sscanf(key, "box%u/msg%u", &box, &uid) != 2 ||
		    uid >= s->work.mails || box != uid % s->work.boxes) {
			snprintf(error, size, "unexpected key '%s'", key);
			ret = -EINVAL;
			break;
		}
		ret = 0;
		n++;
	}
	if (ret == 0 && n != s->work.mails) {
		snprintf(error, size, "%u keys, expected %u", n, s->work.mails);
		ret = -EINVAL;
	}
	if (ret < 0 && error[0] == '\0')
		snprintf(error, size, "listing: %s",
			 iter != NULL ? fs_iter_last_error(iter) : "?");
	fs_iter_deinit(&iter);
	return ret;
}

/* Reads every object back through libfs, 32 in flight, verified. */
static int sync_check_bytes(struct scn_sync *s, char *error, size_t size)
{
	struct bench_client *client = NULL;
	struct mail_phase ph;
	int ret;

	ret = bench_peer_libfs.init(&s->srv.target, 32, &client, error, size);
	if (ret < 0)
		return ret;
	ret = mail_phase_init(&ph, &s->work, MAIL_GET, 0, 32);
	if (ret == 0) {
		ret = bench_phase_run(client, &ph.base);
		if (ret == 0 && ph.base.completed != ph.base.count)
			ret = -EIO;
		if (ret == 0 && ph.base.corrupt > 0)
			ret = -EINVAL;
		if (ret < 0)
			snprintf(error, size, "%s", ph.base.first_error);
		bench_phase_deinit(&ph.base);
	}
	client->peer->deinit(&client);
	return ret;
}

static void sync_verify(struct scn_sync *s, struct sync_tool *t)
{
	char error[BENCH_ERROR_MAX] = "";
	int ret;

	ret = sync_check_keys(s, error, sizeof(error));
	if (ret == 0)
		ret = sync_check_bytes(s, error, sizeof(error));
	if (ret == 0) {
		t->verified++;
		return;
	}
	t->failed = true;
	if (t->note[0] == '\0')
		mail_format(t->note, sizeof(t->note), "verifying %s: %s",
			    s->bucket, error);
}

static void sync_empty(struct scn_sync *s)
{
	int ret = fs_delete_prefix(s->fs, "box");

	if (ret < 0)
		fprintf(stderr, "fs-bench-mail: emptying %s: %s\n", s->bucket,
			fs_last_error(s->fs));
	fs_deinit(&s->fs);
}

/* Prints the end of a failed tool's log. */
static void sync_log_tail(const char *log)
{
	char line[512];
	FILE *f = fopen(log, "r");
	long size;

	if (f == NULL)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > 2000 ? size - 2000 : 0, SEEK_SET);
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(stderr, "  | %s", line);
	fclose(f);
}

static void sync_run_tool(struct scn_sync *s, struct sync_tool *t,
			  unsigned int round)
{
	struct mail_counts c;
	struct mail_proc p;
	char **argv = NULL, **envp = NULL, log[MAIL_PATH_MAX];
	int ret;

	memset(&p, 0, sizeof(p));
	p.pid = -1;
	mail_format(log, sizeof(log), "%s/%s.log", s->dir,
		    sync_tool_names[t->id]);
	bench_server_counters_reset(&s->srv);
	ret = sync_command(s, t, &argv, &envp);
	if (ret == 0)
		ret = mail_proc_spawn(&p, argv, envp, t->id == SYNC_CURL,
				      t->id == SYNC_CURL ? NULL : log);
	mail_argv_free(argv);
	mail_argv_free(envp);
	if (ret == 0)
		ret = mail_proc_finish(&p);
	t->reps[round] = p.rep;
	mail_counts_read(&s->srv, &c);
	mail_counts_add(&t->counts, &c);
	if (ret == 0)
		return;
	t->failed = true;
	mail_format(t->note, sizeof(t->note), "exit status %d%s%s",
		    p.rep.exit_status, p.rep.error[0] != '\0' ? ": " : "",
		    p.rep.error);
	if (t->id != SYNC_CURL) {
		fprintf(stderr, "fs-bench-mail: %s failed, its log:\n",
			sync_tool_names[t->id]);
		sync_log_tail(log);
	}
}

static void sync_turn(struct scn_sync *s, struct sync_tool *t,
		      unsigned int round)
{
	char error[BENCH_ERROR_MAX] = "";

	snprintf(s->bucket, sizeof(s->bucket), "bm-sync-%s-%u",
		 sync_tool_names[t->id], round);
	if (sync_open_bucket(s, error, sizeof(error)) < 0) {
		t->failed = true;
		mail_format(t->note, sizeof(t->note), "bucket %s: %s",
			    s->bucket, error);
		fs_deinit(&s->fs);
		return;
	}
	sync_run_tool(s, t, round);
	sync_verify(s, t);
	sync_empty(s);
}

static void sync_rounds(struct scn_sync *s)
{
	unsigned int round, k, id;

	for (round = 0; round < s->opt->common.rounds; round++) {
		for (k = 0; k < SYNC_TOOL_COUNT; k++) {
			id = (k + round) % SYNC_TOOL_COUNT;
			if (s->tools[id].wanted && !s->tools[id].skipped)
				sync_turn(s, &s->tools[id], round);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Report                                                                     */

/* The round with the median wall time. */
static const struct mail_report *sync_median(const struct scn_sync *s,
					     const struct sync_tool *t)
{
	const struct mail_report *sorted[64], *tmp;
	unsigned int n = 0, i, j;

	for (i = 0; i < s->opt->common.rounds && n < 64; i++) {
		if (t->reps[i].wall_usec > 0)
			sorted[n++] = &t->reps[i];
	}
	for (i = 1; i < n; i++) {
		for (j = i;
		     j > 0 && sorted[j - 1]->wall_usec > sorted[j]->wall_usec;
		     j--) {
			tmp = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = tmp;
		}
	}
	return n > 0 ? sorted[(n - 1) / 2] : NULL;
}

static double sync_secs(const struct scn_sync *s, enum sync_tool_id id)
{
	const struct sync_tool *t = &s->tools[id];
	const struct mail_report *r;

	if (!t->wanted || t->skipped || t->failed)
		return 0;
	r = sync_median(s, t);
	return r != NULL ? (double)r->wall_usec / 1e6 : 0;
}

static void sync_row(const struct scn_sync *s, const struct sync_tool *t)
{
	const struct mail_report *r = sync_median(s, t);
	const struct mail_counts *c = &t->counts;
	double secs, curl = sync_secs(s, SYNC_CURL);
	double fsctl = sync_secs(s, SYNC_FSCTL);
	char vs_curl[16], vs_fsctl[16], rss[16];

	if (r == NULL)
		return;
	secs = (double)r->wall_usec / 1e6;
	mail_format_ratio(curl, secs, vs_curl, sizeof(vs_curl));
	mail_format_ratio(fsctl, secs, vs_fsctl, sizeof(vs_fsctl));
	mail_format_rss(r->maxrss_kib, rss, sizeof(rss));
	printf("%-7s %7.2f %8.1f %7.1f %8s %8s %6.2f %8s %6" PRIu64 " %6" PRIu64
	       " %5" PRIu64 " %s\n",
	       sync_tool_names[t->id], secs, (double)s->work.mails / secs,
	       (double)s->total_bytes / secs / (1024.0 * 1024.0), vs_curl,
	       vs_fsctl, (double)r->cpu_usec / 1e6, rss, c->v[MC_PUT],
	       c->v[MC_REQUESTS] - c->v[MC_PUT], c->v[MC_CONNECTIONS],
	       t->failed ? "FAILED" : "yes");
}

/* The target of issue 6: fsctl faster than every peer tool. */
static void sync_verdict(const struct scn_sync *s)
{
	double fsctl = sync_secs(s, SYNC_FSCTL), best = 0;
	const char *best_name = NULL;
	unsigned int id;

	for (id = SYNC_AWS; id < SYNC_TOOL_COUNT; id++) {
		double secs = sync_secs(s, (enum sync_tool_id)id);

		if (secs > 0 && (best_name == NULL || secs < best)) {
			best = secs;
			best_name = sync_tool_names[id];
		}
	}
	if (fsctl <= 0 || best_name == NULL)
		return;
	printf("\nfsctl sync vs the fastest peer tool (%s): %.2fx %s\n",
	       best_name, fsctl < best ? best / fsctl : fsctl / best,
	       fsctl < best ? "faster" : "SLOWER");
}

static bool sync_report(const struct scn_sync *s, uint64_t wall_usec)
{
	const struct mail_options *opt = s->opt;
	const struct sync_tool *t;
	bool ok = true;
	unsigned int id;

	printf("fs-bench-mail sync: %u messages, %.1f MiB (the mail mix cut "
	       "at %zu KiB) from a directory to a fresh bucket per tool; "
	       "concurrency %u%s; %u round%s (median shown)\n",
	       s->work.mails, (double)s->total_bytes / (1024.0 * 1024.0),
	       s->work.max_size / 1024, opt->sync_jobs,
	       opt->tool_defaults ? " for fsctl and curl, the tools at "
				    "their defaults"
				  : "",
	       opt->common.rounds, opt->common.rounds == 1 ? "" : "s");
	printf("server: fs-mockserver process %s; time from spawn to exit, "
	       "CPU and peak RSS of the tool's process\n\n",
	       s->srv.endpoint);
	printf("%-7s %7s %8s %7s %8s %8s %6s %8s %6s %6s %5s %s\n", "tool",
	       "wall s", "files/s", "MiB/s", "vs curl", "vs fsctl", "CPU s",
	       "RSS MiB", "Put", "other", "conns", "verified");
	for (id = 0; id < SYNC_TOOL_COUNT; id++)
		sync_row(s, &s->tools[id]);
	printf("(curl: this program's raw libcurl uploader, %u PUTs in flight, "
	       "each file read in its event loop;\n Put: PutObject requests, "
	       "other: all others, e.g. HEADs and listings; conns: TCP "
	       "connections)\n",
	       opt->sync_jobs);
	sync_verdict(s);
	printf("\n");
	for (id = 0; id < SYNC_TOOL_COUNT; id++) {
		t = &s->tools[id];
		if (!t->wanted)
			continue;
		if (t->skipped) {
			printf("%s: skipped: %s\n", sync_tool_names[id],
			       t->note);
		} else if (t->failed) {
			ok = false;
			printf("%s: FAILED: %s\n", sync_tool_names[id],
			       t->note);
		}
	}
	printf("wall time %.1f s; %s\n", (double)wall_usec / 1e6,
	       ok ? "every tool's upload verified" : "SOME TOOLS FAILED");
	return ok;
}

/* ------------------------------------------------------------------------ */

static int sync_rm(const char *path, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static int sync_setup(struct scn_sync *s)
{
	const struct mail_options *opt = s->opt;
	char error[BENCH_ERROR_MAX] = "";
	unsigned int id;

	snprintf(s->dir, sizeof(s->dir), "%s/fs-bench-sync-XXXXXX",
		 opt->tmpdir);
	if (mkdtemp(s->dir) == NULL) {
		mail_format(error, sizeof(error), "mkdtemp %s: %s", s->dir,
			    strerror(errno));
		s->dir[0] = '\0';
		goto fail;
	}
	if (mail_mockproc_start(&s->mock, opt->mockserver, NULL, error,
				sizeof(error)) < 0 ||
	    bench_server_start(&s->srv, s->mock.url, &opt->common.target, error,
			       sizeof(error)) < 0)
		goto fail;
	if (sync_make_source(s) < 0 || sync_configs(s) < 0) {
		mail_format(error, sizeof(error), "writing under %s: %s",
			    s->dir, strerror(errno));
		goto fail;
	}
	for (id = 0; id < SYNC_TOOL_COUNT; id++) {
		struct sync_tool *t = &s->tools[id];

		t->id = (enum sync_tool_id)id;
		t->wanted = bench_list_has(opt->tools, sync_tool_names[id]);
		t->reps = calloc(opt->common.rounds, sizeof(*t->reps));
		if (t->reps == NULL)
			return -ENOMEM;
		if (t->wanted)
			sync_find_tool(s, t);
	}
	return 0;
fail:
	fprintf(stderr, "fs-bench-mail: sync: %s\n", error);
	return -EIO;
}

static void sync_cleanup(struct scn_sync *s)
{
	unsigned int id;

	fs_deinit(&s->fs);
	bench_server_stop(&s->srv);
	mail_mockproc_stop(&s->mock);
	if (s->dir[0] != '\0')
		nftw(s->dir, sync_rm, 16, FTW_DEPTH | FTW_PHYS);
	for (id = 0; id < SYNC_TOOL_COUNT; id++)
		free(s->tools[id].reps);
}

int mail_scn_sync(const struct mail_options *opt)
{
	struct scn_sync *s = calloc(1, sizeof(*s));
	uint64_t start = bench_now_usec();
	int status = 2;

	if (s == NULL)
		return 2;
	s->opt = opt;
	s->mock.proc.pid = -1;
	s->work.seed = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	s->work.size_seed = s->work.seed;
	s->work.mails = opt->sync_mails;
	s->work.boxes = opt->work.boxes;
	s->work.max_size = opt->sync_max_size;
	if (sync_setup(s) == 0) {
		sync_rounds(s);
		status = sync_report(s, bench_now_usec() - start) ? 0 : 1;
	}
	sync_cleanup(s);
	free(s);
	return status;
}
