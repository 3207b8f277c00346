/*
 * Tests of the fsctl tool, run as users run it: the built binary (the
 * LIBFS_FSCTL path) is started with fork/exec, no shell, stdin fed and
 * stdout/stderr captured through pipes, and its exit status checked. Every
 * test works in its own mkdtemp directory; posix stores live there. "mem:"
 * lives only as long as one fsctl process, so it serves the one-shot checks.
 * Where a test needs to know what a storage can do (metadata), it asks libfs
 * for the capability bits, never for a driver name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "libfs/fs.h"

#ifndef LIBFS_FSCTL
#error "LIBFS_FSCTL must name the fsctl binary"
#endif

struct t_env {
	char dir[PATH_MAX];	   /* this test's directory, holding: */
	char store[PATH_MAX + 16]; /* a posix store */
	char files[PATH_MAX + 16]; /* local files fsctl reads and writes */
	char tmp[PATH_MAX + 16];   /* TMPDIR for fsctl demo */
	char empty[PATH_MAX + 16]; /* an empty file */
};

/* What one fsctl run did. */
struct t_run {
	int status; /* exit status, or -1 if it did not exit normally */
	char *out, *err;
	size_t out_len, err_len;
};

/* ------------------------------------------------------------------------ */
/* Running fsctl                                                              */

struct t_buf {
	char *data;
	size_t len, alloc;
};

static void t_buf_append(struct t_buf *buf, const char *data, size_t len)
{
	if (buf->len + len + 1 > buf->alloc) {
		buf->alloc = (buf->len + len + 1) * 2;
		buf->data = realloc(buf->data, buf->alloc);
		assert_non_null(buf->data);
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

static void t_child(int in[2], int out[2], int err[2], const char *tmpdir,
		    const char *const argv[])
{
	if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
	    dup2(err[1], STDERR_FILENO) < 0)
		_exit(126);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
	close(err[0]);
	close(err[1]);
	if (tmpdir != NULL && setenv("TMPDIR", tmpdir, 1) < 0)
		_exit(126);
	/* execv() does not change argv; its prototype predates const. */
	execv(LIBFS_FSCTL, (char *const *)argv);
	_exit(127);
}

/* Reads what is ready on fd into buf; returns false at end of file. */
static bool t_drain(int fd, struct t_buf *buf)
{
	char chunk[65536];
	ssize_t ret;

	ret = read(fd, chunk, sizeof(chunk));
	if (ret < 0 && errno == EINTR)
		return true;
	assert_true(ret >= 0);
	t_buf_append(buf, chunk, (size_t)ret);
	return ret > 0;
}

/* Feeds in to the child and collects its output until both pipes end. */
static void t_pump(int in_fd, int out_fd, int err_fd, const void *in,
		   size_t in_len, struct t_buf *out, struct t_buf *err)
{
	struct pollfd pfd[3] = {
		{.fd = out_fd, .events = POLLIN},
		{.fd = err_fd, .events = POLLIN},
		{.fd = in_fd, .events = POLLOUT},
	};
	size_t in_off = 0;
	ssize_t ret;

	if (in_len == 0) {
		close(in_fd);
		pfd[2].fd = -1;
	}
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		assert_true(poll(pfd, 3, 30000) > 0);
		if (pfd[0].revents != 0 && !t_drain(out_fd, out))
			pfd[0].fd = -1;
		if (pfd[1].revents != 0 && !t_drain(err_fd, err))
			pfd[1].fd = -1;
		if (pfd[2].fd < 0 || pfd[2].revents == 0)
			continue;
		ret = write(in_fd, (const char *)in + in_off, in_len - in_off);
		if (ret > 0)
			in_off += (size_t)ret;
		if (ret < 0 || in_off == in_len) {
			close(in_fd); /* EPIPE: the child stopped reading */
			pfd[2].fd = -1;
		}
	}
}

static void t_runv(struct t_run *run, const void *in, size_t in_len,
		   const char *tmpdir, const char *const argv[])
{
	struct t_buf out = {NULL, 0, 0}, err = {NULL, 0, 0};
	int in_pipe[2], out_pipe[2], err_pipe[2], status;
	pid_t pid;

	assert_int_equal(pipe(in_pipe), 0);
	assert_int_equal(pipe(out_pipe), 0);
	assert_int_equal(pipe(err_pipe), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		t_child(in_pipe, out_pipe, err_pipe, tmpdir, argv);
	close(in_pipe[0]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
	t_buf_append(&out, "", 0);
	t_buf_append(&err, "", 0);
	t_pump(in_pipe[1], out_pipe[0], err_pipe[0], in, in_len, &out, &err);
	close(out_pipe[0]);
	close(err_pipe[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	run->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	run->out = out.data;
	run->out_len = out.len;
	run->err = err.data;
	run->err_len = err.len;
}

static void t_run_free(struct t_run *run)
{
	free(run->out);
	free(run->err);
	memset(run, 0, sizeof(*run));
}

#define T_ARGV(...) ((const char *const[]){"fsctl", __VA_ARGS__, NULL})

/* Runs fsctl with the arguments, without stdin. */
#define T_FSCTL(run, ...) t_runv(run, NULL, 0, NULL, T_ARGV(__VA_ARGS__))

/* Runs fsctl and checks its exit status; frees the result. */
#define T_EXPECT(status_, ...)                                                 \
	do {                                                                   \
		struct t_run t_run_;                                           \
		T_FSCTL(&t_run_, __VA_ARGS__);                                 \
		t_expect_status(&t_run_, status_);                             \
		t_run_free(&t_run_);                                           \
	} while (0)

static void t_expect_status(const struct t_run *run, int status)
{
	if (run->status != status)
		print_error("fsctl exited %d, expected %d\nstdout: %s\n"
			    "stderr: %s\n",
			    run->status, status, run->out, run->err);
	assert_int_equal(run->status, status);
}

static void t_expect_err(const struct t_run *run, int status,
			 const char *needle)
{
	t_expect_status(run, status);
	if (strstr(run->err, needle) == NULL)
		print_error("stderr lacks \"%s\": %s\n", needle, run->err);
	assert_non_null(strstr(run->err, needle));
}

static void t_expect_out(const struct t_run *run, const char *expect)
{
	t_expect_status(run, 0);
	assert_string_equal(run->out, expect);
}

/* ------------------------------------------------------------------------ */
/* Files and stores                                                           */

static void t_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static void t_write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, size, f), size);
	assert_int_equal(fclose(f), 0);
}

static char *t_read_file(const char *path, size_t *size_r)
{
	struct t_buf buf = {NULL, 0, 0};
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	t_buf_append(&buf, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		t_buf_append(&buf, chunk, n);
	assert_int_equal(ferror(f), 0);
	fclose(f);
	*size_r = buf.len;
	return buf.data;
}

/* Binary test data with NUL bytes, different for each seed. */
static char *t_data(size_t size, unsigned int seed)
{
	char *data = malloc(size + 1);
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	assert_non_null(data);
	for (i = 0; i < size; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = i % 7 == 0 ? '\0' : (char)(x >> 16);
	}
	return data;
}

/* Counts the entries of a local directory (without . and ..). */
static unsigned int t_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned int count = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			count++;
	}
	closedir(d);
	return count;
}

/* Stores data under key of the env's store through fsctl put (stdin). */
static void t_put(const struct t_env *env, const char *key, const void *data,
		  size_t size)
{
	struct t_run run;

	t_runv(&run, data, size, NULL, T_ARGV("put", env->store, key));
	t_expect_status(&run, 0);
	t_run_free(&run);
}

static void t_put_str(const struct t_env *env, const char *key,
		      const char *data)
{
	t_put(env, key, data, strlen(data));
}

static unsigned int t_caps(const char *spec)
{
	struct fs *fs;
	unsigned int caps;

	assert_int_equal(fs_init(spec, NULL, &fs, NULL), 0);
	caps = fs_get_caps(fs);
	fs_deinit(&fs);
	return caps;
}

static int t_rm_entry(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	return remove(path);
}

static int t_setup(void **state)
{
	struct t_env *env = calloc(1, sizeof(*env));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(env);
	snprintf(env->dir, sizeof(env->dir), "%s/test_fsctl-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(env->dir));
	t_path(env->store, sizeof(env->store), env->dir, "store");
	t_path(env->files, sizeof(env->files), env->dir, "files");
	t_path(env->tmp, sizeof(env->tmp), env->dir, "tmp");
	t_path(env->empty, sizeof(env->empty), env->dir, "empty");
	assert_int_equal(mkdir(env->files, 0700), 0);
	assert_int_equal(mkdir(env->tmp, 0700), 0);
	t_write_file(env->empty, "", 0);
	*state = env;
	return 0;
}

static int t_teardown(void **state)
{
	struct t_env *env = *state;

	nftw(env->dir, t_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(env);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Help, usage and specs                                                      */

static void test_help(void **state)
{
	static const char *const cmds[] = {"put",   "get",  "stat",   "ls",
					   "rm",    "copy", "rename", "sync",
					   "bench", "demo"};
	struct t_run run;
	size_t i;

	T_FSCTL(&run, "--help");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "usage: fsctl COMMAND"));
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		assert_non_null(strstr(run.out, cmds[i]));
	t_run_free(&run);

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		T_FSCTL(&run, "help", cmds[i]);
		t_expect_status(&run, 0);
		assert_true(strncmp(run.out, "usage: fsctl ", 13) == 0);
		assert_true(strncmp(run.out + 13, cmds[i], strlen(cmds[i])) ==
			    0);
		t_run_free(&run);
	}
	T_FSCTL(&run, "sync", "--help");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "--verify"));
	t_run_free(&run);

	T_FSCTL(&run, "--version");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, LIBFS_VERSION_STRING));
	t_run_free(&run);
}

static void test_usage_errors(void **state)
{
	struct t_run run;

	T_FSCTL(&run, "nosuchcommand");
	t_expect_err(&run, 2, "unknown command");
	t_run_free(&run);
	T_FSCTL(&run, "put");
	t_expect_err(&run, 2, "usage: fsctl put");
	assert_string_equal(run.out, "");
	t_run_free(&run);
	T_FSCTL(&run, "get", "--bogus", "mem:", "k");
	t_expect_err(&run, 2, "unknown option '--bogus'");
	t_run_free(&run);
	T_FSCTL(&run, "get", "--range", "5-2", "mem:", "k");
	t_expect_err(&run, 2, "--range");
	t_run_free(&run);
	T_FSCTL(&run, "put", "--meta", "novalue", "mem:", "k");
	t_expect_err(&run, 2, "--meta");
	t_run_free(&run);
	T_FSCTL(&run, "sync", "-j", "0", "mem:", "mem:");
	t_expect_err(&run, 2, "-j");
	t_run_free(&run);
	T_FSCTL(&run, "ls", "mem:", "a", "b");
	t_expect_err(&run, 2, "too many arguments");
	t_run_free(&run);
	T_EXPECT(2, "help", "nosuchcommand");
	t_runv(&run, NULL, 0, NULL, (const char *const[]){"fsctl", NULL});
	t_expect_err(&run, 2, "usage: fsctl COMMAND");
	t_run_free(&run);
}

static void test_bad_spec(void **state)
{
	struct t_run run;

	T_FSCTL(&run, "ls", "nosuchdriver://x");
	t_expect_err(&run, 2, "EINVAL");
	t_run_free(&run);
	T_FSCTL(&run, "ls", "mem:nosuchoption");
	t_expect_err(&run, 2, "EINVAL");
	t_run_free(&run);
	/* An invalid key is a bad argument too. */
	T_FSCTL(&run, "get", "mem:", "../etc/passwd");
	t_expect_err(&run, 2, "EINVAL");
	t_run_free(&run);
}

static void test_secret_not_printed(void **state)
{
	struct t_run run;

	T_FSCTL(&run, "ls",
		"nosuchdriver://user:hunter2@host/?secret_key=s3cr3t");
	t_expect_status(&run, 2);
	assert_null(strstr(run.err, "hunter2"));
	assert_null(strstr(run.err, "s3cr3t"));
	t_run_free(&run);
}

static void test_mem(void **state)
{
	struct t_run run;

	T_FSCTL(&run, "ls", "mem:");
	t_expect_out(&run, "");
	t_run_free(&run);
	T_FSCTL(&run, "get", "mem:", "user/x");
	t_expect_err(&run, 1, "fsctl: get user/x: ENOENT: ");
	assert_string_equal(run.out, "");
	t_run_free(&run);
	t_runv(&run, "abc", 3, NULL, T_ARGV("put", "mem:", "k"));
	t_expect_status(&run, 0);
	t_run_free(&run);
}

/* ------------------------------------------------------------------------ */
/* put, get, stat                                                             */

static void test_put_get_file(void **state)
{
	struct t_env *env = *state;
	size_t size = 3 * 128 * 1024 + 17, got_size;
	char *data = t_data(size, 1), *got;
	char in[PATH_MAX + 16], out[PATH_MAX + 16];

	t_path(in, sizeof(in), env->files, "in.bin");
	t_path(out, sizeof(out), env->files, "out.bin");
	t_write_file(in, data, size);
	T_EXPECT(0, "put", env->store, "mail/1", in);
	T_EXPECT(0, "get", env->store, "mail/1", out);
	got = t_read_file(out, &got_size);
	assert_int_equal(got_size, size);
	assert_memory_equal(got, data, size);
	/* in.bin and out.bin: no temporary file left behind */
	assert_int_equal(t_dir_entries(env->files), 2);
	/* get replaces an existing file */
	T_EXPECT(0, "put", "--create", env->store, "empty", env->empty);
	T_EXPECT(0, "get", env->store, "empty", out);
	free(got);
	got = t_read_file(out, &got_size);
	assert_int_equal(got_size, 0);
	free(got);
	free(data);
}

static void test_put_get_stdio(void **state)
{
	struct t_env *env = *state;
	size_t size = 200 * 1024 + 3;
	char *data = t_data(size, 2);
	struct t_run run;

	t_runv(&run, data, size, NULL, T_ARGV("put", env->store, "a"));
	t_expect_status(&run, 0);
	t_run_free(&run);
	t_runv(&run, data, 1000, NULL, T_ARGV("put", env->store, "b", "-"));
	t_expect_status(&run, 0);
	t_run_free(&run);

	T_FSCTL(&run, "get", env->store, "a");
	t_expect_status(&run, 0);
	assert_int_equal(run.out_len, size);
	assert_memory_equal(run.out, data, size);
	t_run_free(&run);
	T_FSCTL(&run, "get", env->store, "b", "-");
	t_expect_status(&run, 0);
	assert_int_equal(run.out_len, 1000);
	assert_memory_equal(run.out, data, 1000);
	t_run_free(&run);
	free(data);
}

static void test_put_create_exists(void **state)
{
	struct t_env *env = *state;
	struct t_run run;

	t_put_str(env, "k", "first");
	t_runv(&run, "second", 6, NULL,
	       T_ARGV("put", "--create", env->store, "k"));
	t_expect_err(&run, 1, "fsctl: put k: EEXIST: ");
	t_run_free(&run);
	T_FSCTL(&run, "get", env->store, "k");
	t_expect_out(&run, "first");
	t_run_free(&run);
	/* without --create, put replaces */
	t_put_str(env, "k", "third");
	T_FSCTL(&run, "get", env->store, "k");
	t_expect_out(&run, "third");
	t_run_free(&run);
}

static void test_get_missing(void **state)
{
	struct t_env *env = *state;
	char out[PATH_MAX + 16];
	struct t_run run;

	t_put_str(env, "user/y", "y");
	t_path(out, sizeof(out), env->files, "out");
	T_FSCTL(&run, "get", env->store, "user/x", out);
	t_expect_err(&run, 1, "fsctl: get user/x: ENOENT: ");
	t_run_free(&run);
	/* neither the file nor a temporary file was left */
	assert_int_equal(access(out, F_OK), -1);
	assert_int_equal(t_dir_entries(env->files), 0);
	T_FSCTL(&run, "get", env->store, "user/x");
	t_expect_err(&run, 1, "ENOENT");
	assert_int_equal(run.out_len, 0);
	t_run_free(&run);
}

/* FILE is replaced atomically only when it is a regular file: a FIFO or a
   device is written as it is, and a symlink keeps pointing at its file,
   which keeps its permissions. */
static void test_get_special(void **state)
{
	struct t_env *env = *state;
	char fifo[PATH_MAX + 16], link[PATH_MAX + 16], real[PATH_MAX + 16];
	char buf[16], *got;
	struct stat st;
	size_t size;
	int fd;

	t_put_str(env, "k", "hello");
	t_path(fifo, sizeof(fifo), env->files, "fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(fd >= 0);
	T_EXPECT(0, "get", env->store, "k", fifo);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	close(fd);
	assert_int_equal(lstat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(t_dir_entries(env->files), 1);

	t_path(real, sizeof(real), env->files, "real");
	t_path(link, sizeof(link), env->files, "link");
	t_write_file(real, "old", 3);
	assert_int_equal(chmod(real, 0640), 0);
	assert_int_equal(symlink("real", link), 0);
	T_EXPECT(0, "get", env->store, "k", link);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(real, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	got = t_read_file(real, &size);
	assert_int_equal(size, 5);
	assert_memory_equal(got, "hello", 5);
	free(got);
	assert_int_equal(t_dir_entries(env->files), 3);
}

static void test_get_range(void **state)
{
	struct t_env *env = *state;
	struct t_run run;

	t_put_str(env, "r", "0123456789");
	T_FSCTL(&run, "get", "--range", "2-5", env->store, "r");
	t_expect_out(&run, "2345");
	t_run_free(&run);
	T_FSCTL(&run, "get", "--range=7-", env->store, "r");
	t_expect_out(&run, "789");
	t_run_free(&run);
	T_FSCTL(&run, "get", "--range", "3-3", env->store, "r");
	t_expect_out(&run, "3");
	t_run_free(&run);
	T_FSCTL(&run, "get", "--range", "8-100", env->store, "r");
	t_expect_out(&run, "89");
	t_run_free(&run);
	T_FSCTL(&run, "get", "--range", "20-", env->store, "r");
	t_expect_out(&run, "");
	t_run_free(&run);
}

/* Checks "mtime 2026-11-28T18:00:00.123456789Z\n" at line. */
static void t_check_mtime_line(const char *line)
{
	static const char pattern[] = "mtime dddd-dd-ddTdd:dd:dd.dddddddddZ\n";
	size_t i;

	for (i = 0; i < sizeof(pattern) - 1; i++) {
		if (pattern[i] == 'd')
			assert_true(line[i] >= '0' && line[i] <= '9');
		else
			assert_int_equal(line[i], pattern[i]);
	}
	assert_true(strncmp(line + 6, "2020", 4) >= 0);
}

static void test_stat(void **state)
{
	struct t_env *env = *state;
	char *data = t_data(1234, 3);
	unsigned int caps;
	const char *line;
	struct t_run run;

	t_put(env, "s", data, 1234);
	caps = t_caps(env->store);
	T_FSCTL(&run, "stat", env->store, "s");
	t_expect_status(&run, 0);
	assert_true(strncmp(run.out, "size 1234\n", 10) == 0);
	line = strstr(run.out, "mtime ");
	if ((caps & FS_CAP_STAT_MTIME) != 0) {
		assert_non_null(line);
		t_check_mtime_line(line);
	}
	if ((caps & FS_CAP_STAT_ETAG) != 0)
		assert_non_null(strstr(run.out, "\netag "));
	assert_null(strstr(run.out, "meta."));
	t_run_free(&run);
	T_FSCTL(&run, "stat", env->store, "nope");
	t_expect_err(&run, 1, "fsctl: stat nope: ENOENT: ");
	t_run_free(&run);
	free(data);
}

static void test_meta(void **state)
{
	struct t_env *env = *state;
	struct t_run run;

	/* make the store exist before asking for its capabilities */
	t_put_str(env, "other", "x");
	t_runv(&run, "body", 4, NULL,
	       T_ARGV("put", "--meta", "flags=\\Seen $Label1", "--meta",
		      "guid=abc-123", env->store, "m"));
	if ((t_caps(env->store) & FS_CAP_METADATA) == 0) {
		t_expect_err(&run, 1, "ENOTSUP");
		t_run_free(&run);
		return;
	}
	t_expect_status(&run, 0);
	t_run_free(&run);
	T_FSCTL(&run, "stat", env->store, "m");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "size 4\n"));
	assert_non_null(strstr(run.out, "\nmeta.flags \\Seen $Label1\n"));
	assert_non_null(strstr(run.out, "\nmeta.guid abc-123\n"));
	t_run_free(&run);
	/* a name the library rejects is a usage error; nothing is stored */
	t_runv(&run, "x", 1, NULL,
	       T_ARGV("put", "--meta", "Bad Name=1", env->store, "bad"));
	t_expect_err(&run, 2, "EINVAL");
	t_run_free(&run);
	T_EXPECT(1, "get", env->store, "bad");
}

/* ------------------------------------------------------------------------ */
/* ls, rm, copy, rename                                                       */

static void test_ls(void **state)
{
	struct t_env *env = *state;
	struct t_run run;

	t_put_str(env, "f", "1");
	t_put_str(env, "b/d/e", "2");
	t_put_str(env, "a", "3");
	t_put_str(env, "b0", "4");
	t_put_str(env, "b/c", "5");
	T_FSCTL(&run, "ls", env->store);
	t_expect_out(&run, "a\nb/c\nb/d/e\nb0\nf\n");
	t_run_free(&run);
	T_FSCTL(&run, "ls", env->store, "b");
	t_expect_out(&run, "b/c\nb/d/e\nb0\n");
	t_run_free(&run);
	T_FSCTL(&run, "ls", env->store, "b/");
	t_expect_out(&run, "b/c\nb/d/e\n");
	t_run_free(&run);
	T_FSCTL(&run, "ls", "-1", env->store);
	t_expect_out(&run, "a\nb/\nb0\nf\n");
	t_run_free(&run);
	T_FSCTL(&run, "ls", "-1", env->store, "b/");
	t_expect_out(&run, "b/c\nb/d/\n");
	t_run_free(&run);
	T_FSCTL(&run, "ls", env->store, "zzz");
	t_expect_out(&run, "");
	t_run_free(&run);
}

static void test_rm(void **state)
{
	struct t_env *env = *state;
	struct t_run run;

	t_put_str(env, "a", "1");
	t_put_str(env, "b", "2");
	t_put_str(env, "c/d", "3");
	t_put_str(env, "e", "4");
	T_EXPECT(0, "rm", env->store, "a", "c/d");
	T_FSCTL(&run, "ls", env->store);
	t_expect_out(&run, "b\ne\n");
	t_run_free(&run);
	/* every key is attempted; one missing makes the exit status 1 */
	T_FSCTL(&run, "rm", env->store, "b", "missing", "e");
	t_expect_err(&run, 1, "fsctl: rm missing: ENOENT: ");
	t_run_free(&run);
	T_FSCTL(&run, "ls", env->store);
	t_expect_out(&run, "");
	t_run_free(&run);
}

static void test_copy_rename(void **state)
{
	struct t_env *env = *state;
	struct t_run run;

	t_put_str(env, "x", "payload");
	t_put_str(env, "other", "other");
	T_EXPECT(0, "copy", env->store, "x", "y");
	T_FSCTL(&run, "get", env->store, "y");
	t_expect_out(&run, "payload");
	t_run_free(&run);
	T_FSCTL(&run, "copy", "--create", env->store, "x", "other");
	t_expect_err(&run, 1, "EEXIST");
	t_run_free(&run);
	T_EXPECT(0, "copy", env->store, "other", "y"); /* replaces */

	T_EXPECT(0, "rename", env->store, "y", "z/w");
	T_FSCTL(&run, "ls", env->store);
	t_expect_out(&run, "other\nx\nz/w\n");
	t_run_free(&run);
	T_FSCTL(&run, "get", env->store, "z/w");
	t_expect_out(&run, "other");
	t_run_free(&run);
	T_FSCTL(&run, "rename", "--create", env->store, "x", "other");
	t_expect_err(&run, 1, "EEXIST");
	t_run_free(&run);
	T_FSCTL(&run, "get", env->store, "x");
	t_expect_out(&run, "payload");
	t_run_free(&run);
	T_FSCTL(&run, "copy", env->store, "nope", "q");
	t_expect_err(&run, 1, "ENOENT");
	t_run_free(&run);
}

/* ------------------------------------------------------------------------ */
/* sync                                                                       */

#define T_SYNC_KEYS 40

static void t_sync_key(char *key, size_t size, unsigned int i)
{
	snprintf(key, size, "%s/%u", i % 3 == 0 ? "k" : "user/INBOX", i);
}

/* Fills src with T_SYNC_KEYS keys of 0 bytes to ~380 KiB, with metadata
   where the store keeps it. */
static void t_sync_fill(const char *spec, bool metadata)
{
	struct fs_file *file;
	char key[64], value[32];
	struct fs *fs;
	unsigned int i;
	size_t size;
	char *data;

	assert_int_equal(fs_init(spec, NULL, &fs, NULL), 0);
	for (i = 0; i < T_SYNC_KEYS; i++) {
		t_sync_key(key, sizeof(key), i);
		size = (size_t)i * i * 241;
		data = t_data(size, i);
		assert_int_equal(fs_file_init(fs, key, FS_OPEN_CREATE, &file),
				 0);
		snprintf(value, sizeof(value), "v%u", i);
		if (metadata)
			assert_int_equal(fs_file_set_metadata(file, "n", value),
					 0);
		assert_int_equal(fs_write_all(file, data, size), 0);
		fs_file_deinit(&file);
		free(data);
	}
	fs_deinit(&fs);
}

/* Reads key on fs; returns its bytes (and metadata "n" in md_r). */
static char *t_fs_get(struct fs *fs, const char *key, size_t *size_r,
		      bool metadata, char *md, size_t md_size)
{
	struct fs_file *file;
	const char *value;
	void *data;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read_all(file, &data, size_r), 0);
	if (metadata) {
		assert_int_equal(fs_file_get_metadata(file, "n", &value), 1);
		snprintf(md, md_size, "%s", value);
	}
	fs_file_deinit(&file);
	return data;
}

/* Checks that dst holds exactly the keys of src under prefix, equal. */
static void t_sync_compare(const char *src_spec, const char *dst_spec,
			   const char *prefix, bool metadata)
{
	struct fs *src, *dst;
	char key[64], md_src[32] = "", md_dst[32] = "";
	char *a, *b;
	size_t a_size, b_size;
	unsigned int i, count = 0;
	struct fs_iter *iter;
	const char *listed;

	assert_int_equal(fs_init(src_spec, NULL, &src, NULL), 0);
	assert_int_equal(fs_init(dst_spec, NULL, &dst, NULL), 0);
	for (i = 0; i < T_SYNC_KEYS; i++) {
		t_sync_key(key, sizeof(key), i);
		if (strncmp(key, prefix, strlen(prefix)) != 0)
			continue;
		count++;
		a = t_fs_get(src, key, &a_size, metadata, md_src,
			     sizeof(md_src));
		b = t_fs_get(dst, key, &b_size, metadata, md_dst,
			     sizeof(md_dst));
		assert_int_equal(a_size, b_size);
		assert_memory_equal(a, b, a_size);
		assert_string_equal(md_src, md_dst);
		free(a);
		free(b);
	}
	assert_int_equal(fs_iter_init(dst, "", 0, &iter), 0);
	while (fs_iter_next(iter, &listed) > 0) {
		assert_true(strncmp(listed, prefix, strlen(prefix)) == 0);
		count--;
	}
	assert_int_equal(fs_iter_deinit(&iter), 0);
	assert_int_equal(count, 0);
	fs_deinit(&dst);
	fs_deinit(&src);
}

static void test_sync(void **state)
{
	struct t_env *env = *state;
	char dst[PATH_MAX + 16];
	bool metadata;
	struct t_run run;

	t_path(dst, sizeof(dst), env->dir, "dst");
	t_put_str(env, "seed", "x"); /* the store directory exists now */
	T_EXPECT(0, "rm", env->store, "seed");
	metadata = (t_caps(env->store) & FS_CAP_METADATA) != 0;
	t_sync_fill(env->store, metadata);
	T_FSCTL(&run, "sync", "-j", "4", "--verify", env->store, dst);
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "sync: 40 keys, "));
	assert_non_null(strstr(run.out, ", 0 failures, 40 verified"));
	t_run_free(&run);
	t_sync_compare(env->store, dst, "", metadata);
	/* a second run replaces everything with the same */
	T_EXPECT(0, "sync", "--verify", env->store, dst);
	t_sync_compare(env->store, dst, "", metadata);
}

static void test_sync_prefix(void **state)
{
	struct t_env *env = *state;
	char dst[PATH_MAX + 16], dst_spec[PATH_MAX + 32];
	struct t_run run;

	t_path(dst, sizeof(dst), env->dir, "dst");
	snprintf(dst_spec, sizeof(dst_spec), "posix:%s", dst);
	t_put_str(env, "seed", "x");
	T_EXPECT(0, "rm", env->store, "seed");
	t_sync_fill(env->store, false);
	T_FSCTL(&run, "sync", "--prefix", "k/", "-j2", env->store, dst_spec);
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "sync: 14 keys, "));
	t_run_free(&run);
	t_sync_compare(env->store, dst_spec, "k/", false);

	/* --delete removes what the source lacks, under the prefix only */
	T_EXPECT(0, "put", dst_spec, "k/extra", env->empty);
	T_EXPECT(0, "put", dst_spec, "outside", env->empty);
	T_FSCTL(&run, "sync", "--prefix", "k/", "--delete", "--verify",
		env->store, dst_spec);
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "14 verified, 1 deleted"));
	t_run_free(&run);
	T_EXPECT(1, "get", dst_spec, "k/extra");
	T_EXPECT(0, "get", dst_spec, "outside");
}

static void test_sync_async(void **state)
{
	struct t_env *env = *state;
	bool metadata;
	struct t_run run;

	t_put_str(env, "seed", "x");
	T_EXPECT(0, "rm", env->store, "seed");
	metadata = (t_caps(env->store) & FS_CAP_METADATA) != 0;
	t_sync_fill(env->store, metadata);
	/* The asynchronous mem store answers -EAGAIN and completes in
	   fs_wait_async(); --verify reads it back within the same process. */
	T_FSCTL(&run, "sync", "-j", "4", "--verify", env->store, "mem:async");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, ", 0 failures, 40 verified"));
	t_run_free(&run);
	T_FSCTL(&run, "sync", "-j", "3", "--verify", env->store,
		"mem:async,no-metadata");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, ", 0 failures, 40 verified"));
	if (metadata)
		assert_non_null(strstr(run.err, "metadata is not copied"));
	t_run_free(&run);
}

static size_t t_count_lines(const char *str)
{
	size_t count = 0;

	for (; *str != '\0'; str++)
		count += *str == '\n';
	return count;
}

static void test_sync_failure(void **state)
{
	struct t_env *env = *state;
	char dst[PATH_MAX + 16];
	struct t_run run;

	/* an empty source is nothing to do, and no error */
	T_FSCTL(&run, "sync", "mem:", "mem:name=other");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "sync: 0 keys"));
	t_run_free(&run);
	T_FSCTL(&run, "sync", "nosuchdriver://x", env->store);
	t_expect_err(&run, 2, "EINVAL");
	t_run_free(&run);

	/* "k" is an object in the destination: k/1 and k/2 cannot be
	   written there. Each failure is one line, the rest is copied, and
	   nothing is deleted after a failure. */
	t_path(dst, sizeof(dst), env->dir, "dst");
	t_put_str(env, "k/1", "1");
	t_put_str(env, "k/2", "2");
	t_put_str(env, "z", "z");
	T_EXPECT(0, "put", dst, "k", env->empty);
	T_EXPECT(0, "put", dst, "extra", env->empty);
	T_FSCTL(&run, "sync", "--delete", env->store, dst);
	t_expect_err(&run, 1, "fsctl: sync k/1: ");
	assert_non_null(strstr(run.err, "fsctl: sync k/2: "));
	assert_non_null(strstr(run.err, "--delete skipped"));
	assert_int_equal(t_count_lines(run.err), 3);
	assert_non_null(strstr(run.out, "sync: 3 keys, "));
	assert_non_null(strstr(run.out, ", 2 failures"));
	t_run_free(&run);
	T_FSCTL(&run, "get", dst, "z");
	t_expect_out(&run, "z");
	t_run_free(&run);
	T_EXPECT(0, "get", dst, "extra");
}

/* ------------------------------------------------------------------------ */
/* bench and demo                                                             */

static void test_demo(void **state)
{
	struct t_env *env = *state;
	struct t_run run;

	/* the default store goes under TMPDIR and is removed afterwards */
	t_runv(&run, NULL, 0, env->tmp, T_ARGV("demo"));
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "all 300 messages verified"));
	assert_non_null(strstr(run.out, "p99"));
	assert_non_null(strstr(run.out, env->tmp));
	assert_int_equal(t_dir_entries(env->tmp), 0);
	t_run_free(&run);

	/* on a given store with --keep, what it wrote stays */
	T_EXPECT(0, "demo", "--keep", env->store);
	T_FSCTL(&run, "ls", "-1", env->store, "user/INBOX/");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "user/INBOX/dovecot.index\n"));
	assert_non_null(strstr(run.out, "user/INBOX/300\n"));
	t_run_free(&run);
	/* and a store that has mail already is left alone */
	T_FSCTL(&run, "demo", env->store);
	t_expect_err(&run, 1, "EEXIST");
	t_run_free(&run);
	T_FSCTL(&run, "stat", env->store, "user/INBOX/1");
	t_expect_status(&run, 0);
	assert_true(strncmp(run.out, "size ", 5) == 0);
	t_run_free(&run);
}

static void test_bench(void **state)
{
	struct t_env *env = *state;
	unsigned long long hits, misses, revalidations, evictions;
	char held[32];
	const char *stats;
	struct t_run run;

	T_FSCTL(&run, "bench", "-n", "50", env->store);
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "all 50 messages verified"));
	assert_non_null(strstr(run.out, "peak RSS"));
	t_run_free(&run);
	/* it removed all it wrote */
	T_FSCTL(&run, "ls", env->store);
	t_expect_out(&run, "");
	t_run_free(&run);

	T_FSCTL(&run, "bench", "-n", "50", "-j", "4", "mem:async");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "all 50 messages verified"));
	t_run_free(&run);

	/* a cache layer's statistics are in the output */
	T_FSCTL(&run, "bench", "-n", "50", "cache:max=1M::mem:");
	t_expect_status(&run, 0);
	assert_non_null(strstr(run.out, "all 50 messages verified"));
	stats = strstr(run.out, "\ncache: ");
	assert_non_null(stats);
	assert_int_equal(sscanf(stats,
				"\ncache: %llu hits, %llu misses, "
				"%llu revalidations, %llu evictions, "
				"%31s",
				&hits, &misses, &revalidations, &evictions,
				held),
			 5);
	/* the bench reads what it wrote: hits and misses are counted, every
	   hit is revalidated (validate=etag, the default), and nothing is
	   evicted from 1 MiB */
	assert_true(hits > 0);
	assert_true(misses > 0);
	assert_int_equal(revalidations, hits);
	assert_int_equal(evictions, 0);
	t_run_free(&run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_bad_spec),
		cmocka_unit_test(test_secret_not_printed),
		cmocka_unit_test(test_mem),
		cmocka_unit_test_setup_teardown(test_put_get_file, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_put_get_stdio, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_put_create_exists, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_get_missing, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_get_special, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_get_range, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_stat, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_meta, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_ls, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rm, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_rename, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_sync, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_sync_prefix, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_sync_async, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_sync_failure, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_demo, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_bench, t_setup,
						t_teardown),
	};

	/* A child that stops reading its stdin must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
