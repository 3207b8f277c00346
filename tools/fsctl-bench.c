/*
 * fsctl: bench and demo, two faces of the workload in fsctl-work.c.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsctl.h"
#ifdef FSCTL_WITH_MOCK
#include "mockserver.h"
#endif

#define FSCTL_SEED 0x5eed2026ULL

/* Sizes of mail as a server sees them: mostly small text, some attachments. */
static const struct fsctl_size_class bench_mix[] = {
	{70, 2 * 1024, 16 * 1024},
	{25, 16 * 1024, 64 * 1024},
	{5, 64 * 1024, 2 * 1024 * 1024},
	{0, 0, 0},
};

static const struct fsctl_size_class demo_mix[] = {
	{70, 2 * 1024, 16 * 1024},
	{25, 16 * 1024, 64 * 1024},
	{5, 64 * 1024, 200 * 1024},
	{0, 0, 0},
};

/* Writes "SPEC (driver::driver)" with secrets hidden. */
static void fsctl_describe(struct fs *fs, const char *spec, char *buf,
			   size_t size)
{
	const char *name;
	unsigned int depth;
	size_t len;

	fsctl_spec_redact(spec, buf, size);
	len = strlen(buf);
	for (depth = 0; (name = fs_driver_name(fs, depth)) != NULL; depth++) {
		snprintf(buf + len, size - len, "%s%s",
			 depth == 0 ? " (" : "::", name);
		len += strlen(buf + len);
	}
	if (depth > 0)
		snprintf(buf + len, size - len, ")");
}

/* Prints the verdict line; returns the exit status. */
static int fsctl_verdict(const struct fsctl_work *work, int ret)
{
	if (ret == 0 && work->failures == 0 &&
	    work->verified == work->expected) {
		printf("all %llu messages verified\n",
		       (unsigned long long)work->verified);
		return FSCTL_OK;
	}
	printf("FAILED: %llu of %llu messages verified, %llu failures\n",
	       (unsigned long long)work->verified,
	       (unsigned long long)work->expected,
	       (unsigned long long)work->failures);
	return FSCTL_FAILED;
}

/* ------------------------------------------------------------------------ */
/* bench                                                                      */

enum { BENCH_JOBS = 1, BENCH_MESSAGES, BENCH_SECONDS };

struct bench_req {
	uint64_t jobs, messages, seconds;
	const char *spec;
	char prefix[64], msg_prefix[80], index_key[96];
};

static int bench_parse(struct fsctl_args *args, struct bench_req *req)
{
	static const struct fsctl_opt opts[] = {
		{"-j", true, BENCH_JOBS},
		{"-n", true, BENCH_MESSAGES},
		{"--seconds", true, BENCH_SECONDS},
		{NULL, false, 0},
	};
	const char *value;
	int id, ret = FSCTL_OK;

	while (ret == FSCTL_OK &&
	       (id = fsctl_opt_next(args, opts, &value)) > 0) {
		if (id == BENCH_JOBS)
			ret = fsctl_opt_uint(args, "-j", value, 1, 256,
					     &req->jobs);
		else if (id == BENCH_MESSAGES)
			ret = fsctl_opt_uint(args, "-n", value, 1, 1000000,
					     &req->messages);
		else
			ret = fsctl_opt_uint(args, "--seconds", value, 0, 86400,
					     &req->seconds);
	}
	if (ret != FSCTL_OK)
		return ret;
	if (id == FSCTL_OPT_HELP)
		return FSCTL_HELP;
	if (id == FSCTL_OPT_ERROR)
		return FSCTL_USAGE;
	return fsctl_operands(args, 1, 1);
}

static int bench_run(struct fsctl_args *args, struct bench_req *req,
		     struct fs *fs)
{
	struct fsctl_work work = {
		.cmd = args->cmd,
		.fs = fs,
		.msg_prefix = req->msg_prefix,
		.index_key = req->index_key,
		.list_prefix = req->prefix,
		.mix = bench_mix,
		.messages = (unsigned int)req->messages,
		.index_rounds = 100,
		.jobs = (unsigned int)req->jobs,
		.seed = FSCTL_SEED,
		.metadata = (fs_get_caps(fs) & FS_CAP_METADATA) != 0,
	};
	uint64_t start = fsctl_now_usec();
	unsigned int rounds = 0;
	char shown[512];
	int ret;

	do {
		ret = fsctl_work_run(&work);
		rounds++;
	} while (ret == 0 && fsctl_now_usec() - start < req->seconds * 1000000);
	fsctl_describe(fs, req->spec, shown, sizeof(shown));
	printf("bench: %s, %u messages, %u in flight, %u round%s, prefix "
	       "%s\n",
	       shown, work.messages, work.jobs, rounds, rounds == 1 ? "" : "s",
	       req->prefix);
	fsctl_work_print(&work, stdout, true);
	fsctl_layers_print(fs, stdout);
	return fsctl_verdict(&work, ret);
}

int fsctl_cmd_bench(struct fsctl_args *args)
{
	struct bench_req req = {.jobs = 1, .messages = 500};
	struct fs *fs;
	int ret;

	ret = bench_parse(args, &req);
	if (ret != FSCTL_OK)
		return ret;
	req.spec = fsctl_operand(args);
	snprintf(req.prefix, sizeof(req.prefix), "bench-%ld-%lld/",
		 (long)getpid(), (long long)time(NULL));
	snprintf(req.msg_prefix, sizeof(req.msg_prefix), "%smail/", req.prefix);
	snprintf(req.index_key, sizeof(req.index_key), "%sindex/dovecot.index",
		 req.prefix);
	ret = fsctl_fs_open(args, req.spec, &fs);
	if (ret != FSCTL_OK)
		return ret;
	ret = bench_run(args, &req, fs);
	fs_deinit(&fs);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* demo                                                                       */

#define DEMO_MESSAGES 300
#define DEMO_PREFIX "user/INBOX/"
#define DEMO_INDEX DEMO_PREFIX "dovecot.index"

enum { DEMO_KEEP = 1 };

struct demo_req {
	bool keep;
	const char *spec;
	char tmp_dir[4096]; /* the store made for the demo, or "" */
#ifdef FSCTL_WITH_MOCK
	/* Without a SPEC: an S3 server in this process, keeping its objects
	   in tmp_dir, with the cache layer in front of the S3 driver. */
	struct fs_mock *mock;
	struct fs_settings set;
	char mock_spec[4200], spec_buf[512];
#endif
};

static int demo_parse(struct fsctl_args *args, struct demo_req *req)
{
	static const struct fsctl_opt opts[] = {
		{"--keep", false, DEMO_KEEP},
		{NULL, false, 0},
	};
	const char *value;
	int id;

	while ((id = fsctl_opt_next(args, opts, &value)) > 0)
		req->keep = true;
	if (id == FSCTL_OPT_HELP)
		return FSCTL_HELP;
	if (id == FSCTL_OPT_ERROR)
		return FSCTL_USAGE;
	return fsctl_operands(args, 0, 1);
}

static int demo_make_store(struct fsctl_args *args, struct demo_req *req)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(req->tmp_dir, sizeof(req->tmp_dir),
			     "%s/fsctl-demo-XXXXXX",
			     tmp) >= sizeof(req->tmp_dir)) {
		req->tmp_dir[0] = '\0';
		return fsctl_fail(args->cmd, tmp, -ENAMETOOLONG, NULL);
	}
	if (mkdtemp(req->tmp_dir) == NULL) {
		fsctl_fail(args->cmd, req->tmp_dir, -errno, NULL);
		req->tmp_dir[0] = '\0';
		return FSCTL_FAILED;
	}
	req->spec = req->tmp_dir;
	return FSCTL_OK;
}

#ifdef FSCTL_WITH_MOCK
#define DEMO_BUCKET "demo"
#define DEMO_KEY "test"

/* Starts the embedded S3 server over a posix store in req->tmp_dir and
   points req->spec at it through the cache layer. */
static int demo_start_mock(struct fsctl_args *args, struct demo_req *req)
{
	static const char *const buckets[] = {DEMO_BUCKET, NULL};
	struct fs_mock_credential cred = {DEMO_KEY, DEMO_KEY};
	struct fs_mock_settings mset;
	char *error = NULL;

	snprintf(req->mock_spec, sizeof(req->mock_spec), "posix:%s",
		 req->tmp_dir);
	fs_mock_settings_init(&mset);
	mset.backend = req->mock_spec;
	mset.credentials = &cred;
	mset.credentials_count = 1;
	mset.buckets = buckets;
	req->mock = fs_mock_start(&mset, &error);
	if (req->mock == NULL) {
		fsctl_fail(args->cmd, "embedded S3 server", -EIO, error);
		free(error);
		return FSCTL_FAILED;
	}
	snprintf(req->spec_buf, sizeof(req->spec_buf),
		 "cache:max=64M::s3://" DEMO_BUCKET "/?endpoint=%s&region=%s",
		 fs_mock_url(req->mock), fs_mock_region(req->mock));
	req->spec = req->spec_buf;
	fs_settings_init(&req->set);
	req->set.access_key = DEMO_KEY;
	req->set.secret_key = DEMO_KEY;
	printf("embedded S3 server (fs-mockserver) at %s, objects in %s\n",
	       fs_mock_url(req->mock), req->tmp_dir);
	return FSCTL_OK;
}

static void demo_stop_mock(struct demo_req *req)
{
	if (req->mock == NULL)
		return;
	printf("S3 requests served: %llu\n",
	       (unsigned long long)fs_mock_counter(req->mock, "requests"));
	fs_mock_stop(&req->mock);
}
#endif

static int demo_remove_entry(const char *path, const struct stat *st, int type,
			     struct FTW *ftw)
{
	if (remove(path) < 0) {
		fsctl_fail("demo", path, -errno, "removing the demo store");
		return 1;
	}
	return 0;
}

/* Removes the directory made for the demo, with whatever the driver left
   in it (empty directories, on posix). */
static int demo_remove_store(struct demo_req *req)
{
	if (req->tmp_dir[0] == '\0' || req->keep)
		return FSCTL_OK;
	if (nftw(req->tmp_dir, demo_remove_entry, 16, FTW_DEPTH | FTW_PHYS) !=
	    0)
		return FSCTL_FAILED;
	return FSCTL_OK;
}

/* A user's store must not hold anything the demo would touch. */
static int demo_check_empty(struct fsctl_args *args, struct fs *fs)
{
	struct fs_iter *iter;
	const char *key;
	int ret;

	ret = fs_iter_init(fs, DEMO_PREFIX, 0, &iter);
	if (ret == -ENOTSUP)
		return FSCTL_OK; /* puts use FS_OPEN_CREATE: nothing is lost */
	if (ret < 0)
		return fsctl_fail(args->cmd, DEMO_PREFIX, ret,
				  fs_last_error(fs));
	ret = fs_iter_next(iter, &key);
	if (ret < 0)
		fsctl_fail(args->cmd, DEMO_PREFIX, ret,
			   fs_iter_last_error(iter));
	else if (ret > 0)
		fsctl_fail(args->cmd, DEMO_PREFIX, -EEXIST,
			   "the store already has keys under " DEMO_PREFIX
			   "; the demo leaves them alone");
	fs_iter_deinit(&iter);
	return ret == 0 ? FSCTL_OK : FSCTL_FAILED;
}

static int demo_run(struct fsctl_args *args, struct demo_req *req,
		    struct fs *fs)
{
	struct fsctl_work work = {
		.cmd = args->cmd,
		.fs = fs,
		.msg_prefix = DEMO_PREFIX,
		.index_key = DEMO_INDEX,
		.list_prefix = DEMO_PREFIX,
		.mix = demo_mix,
		.messages = DEMO_MESSAGES,
		.index_rounds = 50,
		.jobs = 4,
		.seed = FSCTL_SEED,
		.metadata = (fs_get_caps(fs) & FS_CAP_METADATA) != 0,
		.keep = req->keep,
	};
	char shown[512];
	int ret;

	fsctl_describe(fs, req->spec, shown, sizeof(shown));
	printf("fsctl demo: %u mail messages on %s%s\n\n", work.messages, shown,
	       work.metadata ? ", with flags metadata" : "");
	ret = fsctl_work_run(&work);
	fsctl_work_print(&work, stdout, false);
	fsctl_layers_print(fs, stdout);
	putchar('\n');
	return fsctl_verdict(&work, ret);
}

static int demo_open(struct fsctl_args *args, struct demo_req *req,
		     struct fs **fs_r)
{
	int ret;

#ifdef FSCTL_WITH_MOCK
	ret = fsctl_fs_open_set(args, req->spec,
				req->mock != NULL ? &req->set : NULL, fs_r);
#else
	ret = fsctl_fs_open(args, req->spec, fs_r);
#endif
	if (ret == FSCTL_OK && req->tmp_dir[0] == '\0') {
		ret = demo_check_empty(args, *fs_r);
		if (ret != FSCTL_OK)
			fs_deinit(fs_r);
	}
	return ret;
}

int fsctl_cmd_demo(struct fsctl_args *args)
{
	struct demo_req req = {.keep = false};
	char shown[512];
	struct fs *fs;
	int ret, ret2;

	ret = demo_parse(args, &req);
	if (ret != FSCTL_OK)
		return ret;
	req.spec = fsctl_operand(args);
	if (req.spec == NULL && (ret = demo_make_store(args, &req)) != 0)
		return ret;
#ifdef FSCTL_WITH_MOCK
	if (req.tmp_dir[0] != '\0')
		ret = demo_start_mock(args, &req);
#endif
	if (ret == FSCTL_OK)
		ret = demo_open(args, &req, &fs);
	if (ret == FSCTL_OK) {
		ret = demo_run(args, &req, fs);
		fs_deinit(&fs);
	}
#ifdef FSCTL_WITH_MOCK
	demo_stop_mock(&req);
#endif
	ret2 = demo_remove_store(&req);
	if (req.keep) {
		fsctl_spec_redact(req.spec, shown, sizeof(shown));
		printf("store kept: %s\n", shown);
	} else if (req.tmp_dir[0] != '\0' && ret2 == FSCTL_OK)
		printf("store removed: %s\n", req.tmp_dir);
	if (fflush(stdout) != 0)
		ret2 = FSCTL_FAILED;
	return ret != FSCTL_OK ? ret : ret2;
}
