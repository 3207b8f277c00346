/*
 * Tests of the posix driver's own promises: confinement beneath the root (no
 * symlink followed), atomic writes through temporary files that never show,
 * directories made and removed on demand, copy/rename, xattr metadata, full
 * disks, concurrent writers. Every test works in its own mkdtemp directory:
 * DIR/root is the storage root, DIR/outside a directory that must stay
 * untouched. The whole suite runs twice: with openat2() and with the openat()
 * walk that kernels without openat2() use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "libfs/fs.h"

/* The driver's switch to the openat() walk (FS_STATIC in posix.c). */
extern bool posix_disable_openat2;

struct t_env {
	char dir[64];
	char root[128];
	char outside[128];
	char spec[160];
	struct fs *fs;
};

/* Exit codes of forked children. */
#define T_CHILD_OK 0
#define T_CHILD_NO_MOUNT 77

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static void t_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static int t_rm_one(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void t_rm_rf(const char *path)
{
	(void)nftw(path, t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void t_put(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

/* Reads a file outside libfs; returns a malloc'ed string or NULL. */
static char *t_get(const char *path)
{
	char *buf = calloc(1, 65536);
	ssize_t len;
	int fd = open(path, O_RDONLY);

	assert_non_null(buf);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	len = read(fd, buf, 65535);
	close(fd);
	assert_true(len >= 0);
	return buf;
}

static bool t_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Counts entries of a directory tree (readdir, no libfs), and how many of
   them are libfs temporary files. */
static void t_scan(const char *path, unsigned int *entries_r,
		   unsigned int *temps_r)
{
	char sub[512];
	struct dirent *de;
	DIR *dir = opendir(path);

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		(*entries_r)++;
		if (strncmp(de->d_name, ".libfs-", 7) == 0)
			(*temps_r)++;
		if (de->d_type == DT_DIR) {
			t_path(sub, sizeof(sub), path, de->d_name);
			t_scan(sub, entries_r, temps_r);
		}
	}
	closedir(dir);
}

static unsigned int t_temps(const char *path)
{
	unsigned int entries = 0, temps = 0;

	t_scan(path, &entries, &temps);
	return temps;
}

static unsigned int t_entries(const char *path)
{
	unsigned int entries = 0, temps = 0;

	t_scan(path, &entries, &temps);
	return entries;
}

static int t_write_mode(struct fs *fs, const char *key, unsigned int mode,
			const char *data, char *err, size_t err_size)
{
	struct fs_file *file = NULL;
	int ret;

	ret = fs_file_init(fs, key, mode, &file);
	if (ret < 0) {
		snprintf(err, err_size, "%s", fs_last_error(fs));
		return ret;
	}
	ret = fs_write_all(file, data, strlen(data));
	snprintf(err, err_size, "%s", fs_file_last_error(file));
	fs_file_deinit(&file);
	return ret;
}

static int t_write(struct fs *fs, const char *key, const char *data)
{
	char err[512];

	return t_write_mode(fs, key, FS_OPEN_REPLACE, data, err, sizeof(err));
}

/* Reads key into a malloc'ed string (*data_r), returning 0 or -errno. */
static int t_read(struct fs *fs, const char *key, char **data_r, char *err,
		  size_t err_size)
{
	struct fs_file *file = NULL;
	size_t size;
	void *data = NULL;
	int ret;

	*data_r = NULL;
	ret = fs_file_init(fs, key, FS_OPEN_READ, &file);
	if (ret < 0) {
		snprintf(err, err_size, "%s", fs_last_error(fs));
		return ret;
	}
	ret = fs_read_all(file, &data, &size);
	snprintf(err, err_size, "%s", fs_file_last_error(file));
	fs_file_deinit(&file);
	*data_r = data;
	return ret;
}

static void t_assert_content(struct fs *fs, const char *key,
			     const char *expected)
{
	char err[512], *data;

	assert_int_equal(t_read(fs, key, &data, err, sizeof(err)), 0);
	assert_string_equal(data, expected);
	free(data);
}

/* Runs op on a READ file of key; returns the result and the message. */
enum t_op { T_STAT, T_EXISTS, T_DELETE };

static int t_key_op(struct fs *fs, const char *key, enum t_op op, char *err,
		    size_t err_size)
{
	struct fs_file *file = NULL;
	struct fs_stat st;
	int ret;

	ret = fs_file_init(fs, key, FS_OPEN_READ, &file);
	if (ret < 0)
		return ret;
	if (op == T_STAT)
		ret = fs_file_stat(file, &st);
	else if (op == T_EXISTS)
		ret = fs_file_exists(file);
	else
		ret = fs_file_delete(file);
	snprintf(err, err_size, "%s", fs_file_last_error(file));
	fs_file_deinit(&file);
	return ret;
}

/* Lists prefix into one '|'-joined string; returns 0 or the error. */
static int t_list(struct fs *fs, const char *prefix, unsigned int flags,
		  char *out, size_t size, char *err, size_t err_size)
{
	struct fs_iter *iter = NULL;
	const char *key;
	int ret;

	out[0] = '\0';
	ret = fs_iter_init(fs, prefix, flags, &iter);
	if (ret < 0)
		return ret;
	while ((ret = fs_iter_next(iter, &key)) > 0) {
		if (out[0] != '\0')
			strncat(out, "|", size - strlen(out) - 1);
		strncat(out, key, size - strlen(out) - 1);
	}
	snprintf(err, err_size, "%s", fs_iter_last_error(iter));
	assert_int_equal(fs_iter_deinit(&iter), ret);
	assert_null(iter);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                      */

static int t_setup(void **state)
{
	struct t_env *env = calloc(1, sizeof(*env));
	const char *error = NULL;

	if (env == NULL)
		return -1;
	strcpy(env->dir, "/tmp/libfs-posix-XXXXXX");
	if (mkdtemp(env->dir) == NULL)
		return -1;
	snprintf(env->root, sizeof(env->root), "%s/root", env->dir);
	snprintf(env->outside, sizeof(env->outside), "%s/outside", env->dir);
	snprintf(env->spec, sizeof(env->spec), "posix:%s", env->root);
	if (mkdir(env->outside, 0755) < 0)
		return -1;
	if (fs_init(env->spec, NULL, &env->fs, &error) < 0) {
		fprintf(stderr, "fs_init(%s): %s\n", env->spec, error);
		return -1;
	}
	*state = env;
	return 0;
}

static int t_teardown(void **state)
{
	struct t_env *env = *state;

	fs_deinit(&env->fs);
	t_rm_rf(env->dir);
	free(env);
	return 0;
}

static int t_group_openat2(void **state)
{
	(void)state;
	posix_disable_openat2 = false;
	return 0;
}

static int t_group_walk(void **state)
{
	(void)state;
	posix_disable_openat2 = true;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Basics                                                                     */

static void test_root_created(void **state)
{
	struct t_env *env = *state;
	char path[256], spec[300];
	struct fs *fs = NULL;
	const char *error;
	struct stat st;

	/* The setup made DIR/root; a nested one is made with its parents. */
	assert_int_equal(stat(env->root, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(path, sizeof(path), "%s/x/y/z", env->dir);
	snprintf(spec, sizeof(spec), "posix:%s", path);
	assert_int_equal(fs_init(spec, NULL, &fs, &error), 0);
	assert_string_equal(fs_driver_name(fs, 0), "posix");
	assert_int_equal(t_write(fs, "k", "v"), 0);
	fs_deinit(&fs);
	snprintf(path, sizeof(path), "%s/x/y/z/k", env->dir);
	assert_true(t_exists(path));

	/* The root itself may be a symlink. */
	snprintf(path, sizeof(path), "%s/rootlink", env->dir);
	assert_int_equal(symlink(env->root, path), 0);
	snprintf(spec, sizeof(spec), "%s", path);
	assert_int_equal(fs_init(spec, NULL, &fs, &error), 0);
	assert_int_equal(t_write(fs, "via-link", "x"), 0);
	fs_deinit(&fs);
	t_path(path, sizeof(path), env->root, "via-link");
	assert_true(t_exists(path));

	/* A root that is a file is refused. */
	snprintf(path, sizeof(path), "%s/afile", env->dir);
	t_put(path, "x");
	snprintf(spec, sizeof(spec), "file://%s", path);
	assert_true(fs_init(spec, NULL, &fs, &error) < 0);
	assert_null(fs);
}

static void test_caps(void **state)
{
	struct t_env *env = *state;
	unsigned int caps = fs_get_caps(env->fs);
	unsigned int want = FS_CAP_RANGE | FS_CAP_RENAME_ATOMIC |
			    FS_CAP_COPY_SERVER | FS_CAP_APPEND |
			    FS_CAP_CREATE_EXCL | FS_CAP_ITER |
			    FS_CAP_STAT_MTIME | FS_CAP_STAT_ETAG |
			    FS_CAP_FSYNC | FS_CAP_ASYNC;

	assert_int_equal(caps & want, want);
	assert_int_equal(caps & FS_CAP_IN_MEMORY, 0);
}

static void test_write_read_stat(void **state)
{
	struct t_env *env = *state;
	struct fs_file *file = NULL;
	struct fs_stat st, st2;
	char buf[64], err[512], etag[FS_ETAG_MAX];
	ssize_t len;

	assert_int_equal(t_write(env->fs, "dir/obj", "hello world"), 0);
	t_assert_content(env->fs, "dir/obj", "hello world");

	assert_int_equal(fs_file_init(env->fs, "dir/obj", FS_OPEN_READ, &file),
			 0);
	assert_int_equal(fs_file_stat(file, &st), 0);
	assert_int_equal(st.valid, FS_STAT_SIZE | FS_STAT_MTIME | FS_STAT_ETAG);
	assert_int_equal(st.size, 11);
	assert_true(st.mtime_ns > 1600000000ll * 1000000000ll);
	assert_true(strlen(st.etag) > 4);
	assert_non_null(strchr(st.etag, '-'));
	snprintf(etag, sizeof(etag), "%s", st.etag);
	assert_int_equal(fs_file_exists(file), 1);
	/* A range in the middle. */
	assert_int_equal(fs_file_set_range(file, 6, 3), 0);
	len = fs_read(file, buf, sizeof(buf));
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "wor", 3);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	fs_file_deinit(&file);

	/* A range past the end reads empty. */
	assert_int_equal(fs_file_init(env->fs, "dir/obj", FS_OPEN_READ, &file),
			 0);
	assert_int_equal(fs_file_set_range(file, 100, UINT64_MAX), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	fs_file_deinit(&file);

	/* Replacing changes the etag. */
	assert_int_equal(t_write(env->fs, "dir/obj", "other"), 0);
	assert_int_equal(fs_file_init(env->fs, "dir/obj", FS_OPEN_READ, &file),
			 0);
	assert_int_equal(fs_file_stat(file, &st2), 0);
	assert_int_equal(st2.size, 5);
	assert_string_not_equal(st2.etag, etag);
	fs_file_deinit(&file);

	/* Missing keys. */
	assert_int_equal(t_key_op(env->fs, "nope", T_EXISTS, err, sizeof(err)),
			 0);
	assert_int_equal(t_key_op(env->fs, "nope", T_STAT, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(t_key_op(env->fs, "nope", T_DELETE, err, sizeof(err)),
			 -ENOENT);
}

static void test_read_errors(void **state)
{
	struct t_env *env = *state;
	char err[512], *data;

	assert_int_equal(t_read(env->fs, "missing", &data, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "missing"));
	assert_int_equal(t_write(env->fs, "d/x", "1"), 0);
	/* A directory where the key is. */
	assert_int_equal(t_read(env->fs, "d", &data, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(t_key_op(env->fs, "d", T_STAT, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(t_key_op(env->fs, "d", T_EXISTS, err, sizeof(err)), 0);
	assert_int_equal(t_key_op(env->fs, "d", T_DELETE, err, sizeof(err)),
			 -ENOENT);
	/* A regular file as a path component. */
	assert_int_equal(t_read(env->fs, "d/x/y", &data, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(t_key_op(env->fs, "d/x/y", T_STAT, err, sizeof(err)),
			 -ENOENT);
}

static void test_create_excl(void **state)
{
	struct t_env *env = *state;
	char err[512];

	assert_int_equal(t_write_mode(env->fs, "c/k", FS_OPEN_CREATE, "first",
				      err, sizeof(err)),
			 0);
	assert_int_equal(t_write_mode(env->fs, "c/k", FS_OPEN_CREATE, "second",
				      err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "c/k"));
	t_assert_content(env->fs, "c/k", "first");
	assert_int_equal(t_temps(env->root), 0);
}

static void test_append(void **state)
{
	struct t_env *env = *state;
	char err[512];
	unsigned int flags[2] = {0, FS_OPEN_FLAG_FSYNC};
	unsigned int i;

	for (i = 0; i < 2; i++) {
		const char *key = i == 0 ? "log/a" : "log/b";

		assert_int_equal(t_write_mode(env->fs, key,
					      FS_OPEN_APPEND | flags[i], "one,",
					      err, sizeof(err)),
				 0);
		assert_int_equal(t_write_mode(env->fs, key,
					      FS_OPEN_APPEND | flags[i], "two,",
					      err, sizeof(err)),
				 0);
		assert_int_equal(t_write_mode(env->fs, key,
					      FS_OPEN_APPEND | flags[i], "",
					      err, sizeof(err)),
				 0);
		t_assert_content(env->fs, key, "one,two,");
	}
	assert_int_equal(t_temps(env->root), 0);
}

static void test_fsync(void **state)
{
	struct t_env *env = *state;
	char err[512];

	assert_int_equal(t_write_mode(env->fs, "s/y/n/c",
				      FS_OPEN_CREATE | FS_OPEN_FLAG_FSYNC,
				      "durable", err, sizeof(err)),
			 0);
	t_assert_content(env->fs, "s/y/n/c", "durable");
	assert_int_equal(t_write_mode(env->fs, "s/y/n/c",
				      FS_OPEN_REPLACE | FS_OPEN_FLAG_FSYNC,
				      "again", err, sizeof(err)),
			 0);
	t_assert_content(env->fs, "s/y/n/c", "again");
	assert_int_equal(t_write_mode(env->fs, "s/y/n/c",
				      FS_OPEN_CREATE | FS_OPEN_FLAG_FSYNC, "no",
				      err, sizeof(err)),
			 -EEXIST);
	assert_int_equal(t_temps(env->root), 0);
}

/* ------------------------------------------------------------------------ */
/* Confinement                                                                */

/* DIR/root/evil -> DIR/outside, which holds "secret". */
static void test_symlink_dir_escape(void **state)
{
	struct t_env *env = *state;
	char path[256], err[512], list[1024], *data;

	t_path(path, sizeof(path), env->outside, "secret");
	t_put(path, "outside data");
	t_path(path, sizeof(path), env->root, "evil");
	assert_int_equal(symlink(env->outside, path), 0);
	assert_int_equal(t_write(env->fs, "good", "g"), 0);

	assert_int_equal(
		t_read(env->fs, "evil/secret", &data, err, sizeof(err)),
		-EACCES);
	assert_null(data);
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(
		t_key_op(env->fs, "evil/secret", T_STAT, err, sizeof(err)),
		-EACCES);
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(
		t_key_op(env->fs, "evil/secret", T_EXISTS, err, sizeof(err)),
		-EACCES);
	assert_int_equal(
		t_key_op(env->fs, "evil/secret", T_DELETE, err, sizeof(err)),
		-EACCES);
	assert_int_equal(t_write_mode(env->fs, "evil/new", FS_OPEN_REPLACE, "x",
				      err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(t_write_mode(env->fs, "evil/secret", FS_OPEN_APPEND,
				      "x", err, sizeof(err)),
			 -EACCES);
	assert_int_equal(t_write_mode(env->fs, "evil/deeper/new",
				      FS_OPEN_CREATE, "x", err, sizeof(err)),
			 -EACCES);

	/* Listing through it is refused; listing around it skips it. */
	assert_int_equal(t_list(env->fs, "evil/", 0, list, sizeof(list), err,
				sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(
		t_list(env->fs, "", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "good");
	assert_int_equal(t_list(env->fs, "evil", FS_ITER_FLAG_ONE_LEVEL, list,
				sizeof(list), err, sizeof(err)),
			 0);
	assert_string_equal(list, "");

	/* Outside is exactly as it was. */
	assert_int_equal(t_entries(env->outside), 1);
	t_path(path, sizeof(path), env->outside, "secret");
	data = t_get(path);
	assert_string_equal(data, "outside data");
	free(data);
	assert_int_equal(t_temps(env->root), 0);
}

/* DIR/root/link -> DIR/outside/file. */
static void test_symlink_file(void **state)
{
	struct t_env *env = *state;
	char path[256], target[256], err[512], list[256], *data;
	struct fs_file *src = NULL, *dst = NULL;
	struct stat st;

	t_path(target, sizeof(target), env->outside, "file");
	t_put(target, "precious");
	t_path(path, sizeof(path), env->root, "link");
	assert_int_equal(symlink(target, path), 0);

	assert_int_equal(t_read(env->fs, "link", &data, err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(t_key_op(env->fs, "link", T_STAT, err, sizeof(err)),
			 -EACCES);
	assert_int_equal(t_key_op(env->fs, "link", T_DELETE, err, sizeof(err)),
			 -EACCES);
	assert_int_equal(t_write_mode(env->fs, "link", FS_OPEN_REPLACE, "bad",
				      err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(t_write_mode(env->fs, "link", FS_OPEN_APPEND, "bad",
				      err, sizeof(err)),
			 -EACCES);
	assert_int_equal(t_write_mode(env->fs, "link", FS_OPEN_CREATE, "bad",
				      err, sizeof(err)),
			 -EACCES);

	/* Neither a copy nor a rename reads or moves it. */
	assert_int_equal(fs_file_init(env->fs, "link", FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(env->fs, "stolen", FS_OPEN_REPLACE, &dst),
			 0);
	assert_int_equal(fs_copy(src, dst), -EACCES);
	assert_int_equal(fs_rename(src, dst), -EACCES);
	fs_file_deinit(&src);
	fs_file_deinit(&dst);
	assert_int_equal(
		t_list(env->fs, "", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "");

	/* The link and its target are untouched. */
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	data = t_get(target);
	assert_string_equal(data, "precious");
	free(data);
	assert_int_equal(t_entries(env->outside), 1);
	assert_int_equal(t_temps(env->root), 0);
}

/* DIR/root/a/b -> DIR/root/c: even a symlink that stays inside the root is
   not followed. */
static void test_symlink_intermediate(void **state)
{
	struct t_env *env = *state;
	char path[256], err[512], *data;

	assert_int_equal(t_write(env->fs, "c/x", "inner"), 0);
	assert_int_equal(t_write(env->fs, "a/keep", "k"), 0);
	t_path(path, sizeof(path), env->root, "a/b");
	assert_int_equal(symlink("../c", path), 0);

	assert_int_equal(t_read(env->fs, "a/b/x", &data, err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "a/b"));
	assert_int_equal(t_write_mode(env->fs, "a/b/y", FS_OPEN_REPLACE, "n",
				      err, sizeof(err)),
			 -EACCES);
	assert_int_equal(t_write_mode(env->fs, "a/b/z/w", FS_OPEN_REPLACE, "n",
				      err, sizeof(err)),
			 -EACCES);
	assert_int_equal(t_key_op(env->fs, "a/b/x", T_DELETE, err, sizeof(err)),
			 -EACCES);
	t_path(path, sizeof(path), env->root, "c/y");
	assert_false(t_exists(path));
	t_path(path, sizeof(path), env->root, "c/z");
	assert_false(t_exists(path));
	t_assert_content(env->fs, "c/x", "inner");
}

static void test_bad_keys(void **state)
{
	struct t_env *env = *state;
	static const char *const keys[] = {
		"../x", "a/../../x",	   "..",	 "/etc/passwd", "a//b",
		"./a",	".libfs-tmp.1234", "a/.libfs-x", "a/",		"",
	};
	char path[256], list[256], err[512];
	struct fs_file *file = NULL;
	size_t i;

	t_path(path, sizeof(path), env->dir, "x");
	t_put(path, "beside the root");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(
			fs_file_init(env->fs, keys[i], FS_OPEN_REPLACE, &file),
			-EINVAL);
		assert_null(file);
	}
	/* Prefixes that no key can have list nothing, never outside. */
	assert_int_equal(
		t_list(env->fs, "../", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "");
	assert_int_equal(
		t_list(env->fs, "/", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "");
	assert_int_equal(t_entries(env->root), 0);
}

/* ------------------------------------------------------------------------ */
/* Temporary files and directories                                            */

static void test_temp_invisible(void **state)
{
	struct t_env *env = *state;
	struct fs_file *file = NULL;
	char path[256], list[256], err[512];

	/* A write in progress has a temp file that is not listed. */
	assert_int_equal(t_write(env->fs, "t/done", "d"), 0);
	assert_int_equal(
		fs_file_init(env->fs, "t/open", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_write(file, "partial", 7), 7);
	assert_int_equal(t_temps(env->root), 1);
	/* So is a stale one left by a crash. */
	t_path(path, sizeof(path), env->root, ".libfs-tmp.deadbeef");
	t_put(path, "stale");
	assert_int_equal(
		t_list(env->fs, "", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "t/done");
	assert_int_equal(t_list(env->fs, "t/", FS_ITER_FLAG_ONE_LEVEL, list,
				sizeof(list), err, sizeof(err)),
			 0);
	assert_string_equal(list, "t/done");
	/* Nothing is readable under the key before the finish. */
	assert_int_equal(
		t_key_op(env->fs, "t/open", T_EXISTS, err, sizeof(err)), 0);
	assert_int_equal(fs_write_finish(file), 0);
	fs_file_deinit(&file);
	assert_int_equal(t_temps(env->root), 1);
	t_assert_content(env->fs, "t/open", "partial");
}

static void test_abort_leaves_nothing(void **state)
{
	struct t_env *env = *state;
	struct fs_file *file = NULL;
	char buf[4096];

	memset(buf, 'z', sizeof(buf));
	/* An explicit abort. */
	assert_int_equal(fs_file_init(env->fs, "a/b/k", FS_OPEN_REPLACE, &file),
			 0);
	assert_int_equal(fs_write(file, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(t_temps(env->root), 1);
	fs_write_abort(file);
	fs_write_abort(file);
	fs_file_deinit(&file);
	assert_int_equal(t_entries(env->root), 0);

	/* A file freed in the middle of its write. */
	assert_int_equal(fs_file_init(env->fs, "k", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write(file, buf, sizeof(buf)), sizeof(buf));
	fs_file_deinit(&file);
	assert_int_equal(t_entries(env->root), 0);

	/* An aborted write into an existing directory keeps that directory,
	   and the old object. */
	assert_int_equal(t_write(env->fs, "a/old", "old"), 0);
	assert_int_equal(fs_file_init(env->fs, "a/old", FS_OPEN_REPLACE, &file),
			 0);
	assert_int_equal(fs_write(file, buf, sizeof(buf)), sizeof(buf));
	fs_file_deinit(&file);
	assert_int_equal(t_entries(env->root), 2);
	t_assert_content(env->fs, "a/old", "old");
}

static void test_parents_removed(void **state)
{
	struct t_env *env = *state;
	char path[256], err[512];

	assert_int_equal(t_write(env->fs, "a/b/c/k", "1"), 0);
	assert_int_equal(t_write(env->fs, "x/y", "2"), 0);
	assert_int_equal(t_write(env->fs, "x/z/w", "3"), 0);

	assert_int_equal(
		t_key_op(env->fs, "a/b/c/k", T_DELETE, err, sizeof(err)), 0);
	t_path(path, sizeof(path), env->root, "a");
	assert_false(t_exists(path));
	assert_true(t_exists(env->root));

	/* Only empty ones go. */
	assert_int_equal(t_key_op(env->fs, "x/z/w", T_DELETE, err, sizeof(err)),
			 0);
	t_path(path, sizeof(path), env->root, "x/z");
	assert_false(t_exists(path));
	t_path(path, sizeof(path), env->root, "x/y");
	assert_true(t_exists(path));
	assert_int_equal(t_key_op(env->fs, "x/y", T_DELETE, err, sizeof(err)),
			 0);
	assert_int_equal(t_entries(env->root), 0);
	assert_true(t_exists(env->root));
}

static void test_key_dir_conflicts(void **state)
{
	struct t_env *env = *state;
	char err[512];

	assert_int_equal(t_write(env->fs, "a", "object"), 0);
	assert_int_equal(t_write_mode(env->fs, "a/b", FS_OPEN_REPLACE, "x", err,
				      sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "'a' is an object, cannot hold 'a/b'"));
	assert_int_equal(t_write_mode(env->fs, "a/b/c", FS_OPEN_CREATE, "x",
				      err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "'a' is an object"));

	assert_int_equal(t_write(env->fs, "d/e", "x"), 0);
	assert_int_equal(t_write_mode(env->fs, "d", FS_OPEN_REPLACE, "x", err,
				      sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "directory"));
	assert_int_equal(t_write_mode(env->fs, "d", FS_OPEN_CREATE, "x", err,
				      sizeof(err)),
			 -EEXIST);
	assert_int_equal(t_write_mode(env->fs, "d", FS_OPEN_APPEND, "x", err,
				      sizeof(err)),
			 -EEXIST);
	t_assert_content(env->fs, "a", "object");
	t_assert_content(env->fs, "d/e", "x");
	assert_int_equal(t_temps(env->root), 0);
}

/* ------------------------------------------------------------------------ */
/* Copy, rename, metadata                                                     */

static int t_move(struct fs *fs, const char *from, const char *to,
		  unsigned int mode, bool rename, char *err, size_t err_size)
{
	struct fs_file *src = NULL, *dst = NULL;
	int ret;

	assert_int_equal(fs_file_init(fs, from, FS_OPEN_READ, &src), 0);
	assert_int_equal(fs_file_init(fs, to, mode, &dst), 0);
	ret = rename ? fs_rename(src, dst) : fs_copy(src, dst);
	snprintf(err, err_size, "%s", fs_file_last_error(dst));
	fs_file_deinit(&src);
	fs_file_deinit(&dst);
	return ret;
}

static void t_set_md_write(struct fs *fs, const char *key, const char *data)
{
	struct fs_file *file = NULL;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "flags", "seen"), 0);
	assert_int_equal(fs_file_set_metadata(file, "a-b_c", "1 2 3"), 0);
	assert_int_equal(fs_write_all(file, data, strlen(data)), 0);
	fs_file_deinit(&file);
}

static void t_check_md(struct fs *fs, const char *key)
{
	struct fs_file *file = NULL;
	const struct fs_metadata *md;
	const char *value;

	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata(file, "flags", &value), 1);
	assert_string_equal(value, "seen");
	assert_int_equal(fs_file_get_metadata(file, "nope", &value), 0);
	assert_int_equal(fs_file_get_metadata_all(file, &md), 2);
	assert_string_equal(md[0].name, "a-b_c");
	assert_string_equal(md[0].value, "1 2 3");
	assert_string_equal(md[1].name, "flags");
	fs_file_deinit(&file);
}

static void test_copy(void **state)
{
	struct t_env *env = *state;
	char err[512];
	bool md = (fs_get_caps(env->fs) & FS_CAP_METADATA) != 0;

	if (md)
		t_set_md_write(env->fs, "src/k", "payload");
	else
		assert_int_equal(t_write(env->fs, "src/k", "payload"), 0);
	assert_int_equal(t_move(env->fs, "src/k", "dst/deep/k", FS_OPEN_CREATE,
				false, err, sizeof(err)),
			 0);
	t_assert_content(env->fs, "dst/deep/k", "payload");
	t_assert_content(env->fs, "src/k", "payload");
	if (md)
		t_check_md(env->fs, "dst/deep/k");

	assert_int_equal(t_write(env->fs, "other", "other"), 0);
	assert_int_equal(t_move(env->fs, "other", "dst/deep/k", FS_OPEN_CREATE,
				false, err, sizeof(err)),
			 -EEXIST);
	t_assert_content(env->fs, "dst/deep/k", "payload");
	assert_int_equal(t_move(env->fs, "other", "dst/deep/k", FS_OPEN_REPLACE,
				false, err, sizeof(err)),
			 0);
	t_assert_content(env->fs, "dst/deep/k", "other");
	assert_int_equal(t_move(env->fs, "missing", "dst/m", FS_OPEN_REPLACE,
				false, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "missing"));
	assert_int_equal(t_key_op(env->fs, "dst/m", T_EXISTS, err, sizeof(err)),
			 0);
	assert_int_equal(t_temps(env->root), 0);
}

static void test_rename(void **state)
{
	struct t_env *env = *state;
	char path[256], err[512];
	bool md = (fs_get_caps(env->fs) & FS_CAP_METADATA) != 0;

	if (md)
		t_set_md_write(env->fs, "from/a/k", "moving");
	else
		assert_int_equal(t_write(env->fs, "from/a/k", "moving"), 0);
	assert_int_equal(t_move(env->fs, "from/a/k", "to/b/k", FS_OPEN_REPLACE,
				true, err, sizeof(err)),
			 0);
	t_assert_content(env->fs, "to/b/k", "moving");
	if (md)
		t_check_md(env->fs, "to/b/k");
	/* The source's emptied directories are gone. */
	t_path(path, sizeof(path), env->root, "from");
	assert_false(t_exists(path));

	/* CREATE refuses an existing destination and keeps the source. */
	assert_int_equal(t_write(env->fs, "s", "src"), 0);
	assert_int_equal(t_move(env->fs, "s", "to/b/k", FS_OPEN_CREATE, true,
				err, sizeof(err)),
			 -EEXIST);
	t_assert_content(env->fs, "s", "src");
	t_assert_content(env->fs, "to/b/k", "moving");
	assert_int_equal(t_move(env->fs, "s", "to/b/new", FS_OPEN_CREATE, true,
				err, sizeof(err)),
			 0);
	t_assert_content(env->fs, "to/b/new", "src");
	assert_int_equal(t_key_op(env->fs, "s", T_EXISTS, err, sizeof(err)), 0);
	assert_int_equal(t_move(env->fs, "s", "x", FS_OPEN_REPLACE, true, err,
				sizeof(err)),
			 -ENOENT);
	/* Over a directory of other keys. */
	assert_int_equal(t_move(env->fs, "to/b/new", "to", FS_OPEN_REPLACE,
				true, err, sizeof(err)),
			 -EEXIST);
	t_assert_content(env->fs, "to/b/new", "src");
}

static void test_metadata(void **state)
{
	struct t_env *env = *state;
	char path[256], value[64];
	struct fs_file *file = NULL;
	const struct fs_metadata *md;
	ssize_t len;

	if ((fs_get_caps(env->fs) & FS_CAP_METADATA) == 0) {
		printf("NOTICE: %s has no user xattrs, metadata round trip "
		       "not tested\n",
		       env->root);
		return;
	}
	t_set_md_write(env->fs, "m/k", "body");
	t_check_md(env->fs, "m/k");
	/* Stored as user.libfs.<name>. */
	t_path(path, sizeof(path), env->root, "m/k");
	len = getxattr(path, "user.libfs.flags", value, sizeof(value));
	assert_int_equal(len, 4);
	assert_memory_equal(value, "seen", 4);
	/* Replacing replaces the metadata with the object. */
	assert_int_equal(t_write(env->fs, "m/k", "new"), 0);
	assert_int_equal(fs_file_init(env->fs, "m/k", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata_all(file, &md), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(env->fs, "m/none", FS_OPEN_READ, &file),
			 0);
	assert_int_equal(fs_file_get_metadata_all(file, &md), -ENOENT);
	fs_file_deinit(&file);
}

/* An open reader keeps reading the object it started on. */
static void test_read_pinned(void **state)
{
	struct t_env *env = *state;
	struct fs_file *file = NULL;
	char buf[8];

	assert_int_equal(t_write(env->fs, "pin", "old-object"), 0);
	assert_int_equal(fs_file_init(env->fs, "pin", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_read(file, buf, 4), 4);
	assert_memory_equal(buf, "old-", 4);
	assert_int_equal(t_write(env->fs, "pin", "NEW-OBJECT-LONGER"), 0);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "object", 6);
	assert_int_equal(fs_read(file, buf, sizeof(buf)), 0);
	fs_file_deinit(&file);
	t_assert_content(env->fs, "pin", "NEW-OBJECT-LONGER");
}

/* A copy bigger than any buffer, byte for byte. */
static void test_copy_large(void **state)
{
	struct t_env *env = *state;
	size_t size = 3 * 1024 * 1024 + 17, i, got;
	struct fs_file *file = NULL;
	unsigned char *data = malloc(size);
	void *back = NULL;
	char err[512];

	assert_non_null(data);
	for (i = 0; i < size; i++)
		data[i] = (unsigned char)(i * 7 + i / 4096);
	assert_int_equal(
		fs_file_init(env->fs, "big/src", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_write_all(file, data, size), 0);
	fs_file_deinit(&file);
	assert_int_equal(t_move(env->fs, "big/src", "big/dst", FS_OPEN_CREATE,
				false, err, sizeof(err)),
			 0);
	assert_int_equal(fs_file_init(env->fs, "big/dst", FS_OPEN_READ, &file),
			 0);
	assert_int_equal(fs_read_all(file, &back, &got), 0);
	assert_int_equal(got, size);
	assert_memory_equal(back, data, size);
	fs_file_deinit(&file);
	free(back);
	free(data);
	assert_int_equal(t_temps(env->root), 0);
}

/* ------------------------------------------------------------------------ */
/* Listing                                                                    */

static void test_list_order(void **state)
{
	struct t_env *env = *state;
	static const char *const keys[] = {
		"b",	 "a.b", "a/c/d",   "ab",   "a/b.c", "a/bc/x",
		"a/b/x", "a-",	"z/z/z/z", "a/bd", "a0",
	};
	char path[256], list[1024], err[512];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(t_write(env->fs, keys[i], keys[i]), 0);
	t_path(path, sizeof(path), env->root, "a/empty");
	assert_int_equal(mkdir(path, 0755), 0);
	t_path(path, sizeof(path), env->root, "a/empty/deeper");
	assert_int_equal(mkdir(path, 0755), 0);
	t_path(path, sizeof(path), env->root, "a/fifo");
	assert_int_equal(mkfifo(path, 0644), 0);

	assert_int_equal(
		t_list(env->fs, "", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "a-|a.b|a/b.c|a/b/x|a/bc/x|a/bd|a/c/d|a0|"
				  "ab|b|z/z/z/z");
	/* A plain string prefix. */
	assert_int_equal(
		t_list(env->fs, "a/b", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "a/b.c|a/b/x|a/bc/x|a/bd");
	assert_int_equal(t_list(env->fs, "a/b/", 0, list, sizeof(list), err,
				sizeof(err)),
			 0);
	assert_string_equal(list, "a/b/x");
	assert_int_equal(
		t_list(env->fs, "a", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "a-|a.b|a/b.c|a/b/x|a/bc/x|a/bd|a/c/d|a0|"
				  "ab");
	/* One level: common prefixes once, only where a key is below. */
	assert_int_equal(t_list(env->fs, "", FS_ITER_FLAG_ONE_LEVEL, list,
				sizeof(list), err, sizeof(err)),
			 0);
	assert_string_equal(list, "a-|a.b|a/|a0|ab|b|z/");
	assert_int_equal(t_list(env->fs, "a/", FS_ITER_FLAG_ONE_LEVEL, list,
				sizeof(list), err, sizeof(err)),
			 0);
	assert_string_equal(list, "a/b.c|a/b/|a/bc/|a/bd|a/c/");
	assert_int_equal(t_list(env->fs, "a/b", FS_ITER_FLAG_ONE_LEVEL, list,
				sizeof(list), err, sizeof(err)),
			 0);
	assert_string_equal(list, "a/b.c|a/b/|a/bc/|a/bd");
	/* Missing directories list nothing, without error. */
	assert_int_equal(t_list(env->fs, "nope/", 0, list, sizeof(list), err,
				sizeof(err)),
			 0);
	assert_string_equal(list, "");
	assert_int_equal(
		t_list(env->fs, "b/", 0, list, sizeof(list), err, sizeof(err)),
		0);
	assert_string_equal(list, "");
	assert_int_equal(t_list(env->fs, "a/empty/", FS_ITER_FLAG_ONE_LEVEL,
				list, sizeof(list), err, sizeof(err)),
			 0);
	assert_string_equal(list, "");
}

/* ------------------------------------------------------------------------ */
/* Filesystems that refuse: xattrs, space                                     */

/* A private mount namespace where this process may mount. */
static bool t_private_mounts(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char buf[64];
	int fd;

	if (uid != 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return false;
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			(void)!write(fd, "deny", 4);
			close(fd);
		}
		snprintf(buf, sizeof(buf), "0 %u 1", (unsigned int)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			return false;
		close(fd);
		snprintf(buf, sizeof(buf), "0 %u 1", (unsigned int)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			return false;
		close(fd);
	} else if (unshare(CLONE_NEWNS) < 0) {
		return false;
	}
	/* The type is ignored here; named for valgrind, which checks it. */
	return mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0;
}

static int t_child_fail(const char *what, const char *error)
{
	fprintf(stderr, "child: %s failed: %s\n", what, error);
	return 1;
}

/* Child: on a ramfs (no xattrs) metadata is -ENOTSUP, data still works. */
static int t_child_no_xattr(const char *mnt)
{
	struct fs *fs = NULL;
	struct fs_file *file = NULL;
	const char *error = "", *value;
	char spec[256];
	int ret = 0;

	if (!t_private_mounts() || mount("none", mnt, "ramfs", 0, "") < 0)
		return T_CHILD_NO_MOUNT;
	snprintf(spec, sizeof(spec), "posix:%s/root", mnt);
	if (fs_init(spec, NULL, &fs, &error) < 0)
		return t_child_fail("fs_init", error);
	if (fs_get_caps(fs) & FS_CAP_METADATA)
		ret = t_child_fail("caps", "METADATA set on ramfs");
	if (ret == 0 && fs_file_init(fs, "k", FS_OPEN_REPLACE, &file) < 0)
		ret = t_child_fail("file_init", fs_last_error(fs));
	if (ret == 0 && fs_file_set_metadata(file, "a", "b") != -ENOTSUP)
		ret = t_child_fail("set_metadata", "not -ENOTSUP");
	if (ret == 0 && fs_write_all(file, "data", 4) < 0)
		ret = t_child_fail("write", fs_file_last_error(file));
	fs_file_deinit(&file);
	if (ret == 0 && fs_file_init(fs, "k", FS_OPEN_READ, &file) < 0)
		ret = t_child_fail("file_init", fs_last_error(fs));
	if (ret == 0 && fs_file_get_metadata(file, "a", &value) != -ENOTSUP)
		ret = t_child_fail("get_metadata", "not -ENOTSUP");
	if (ret == 0 && fs_file_exists(file) != 1)
		ret = t_child_fail("exists", fs_file_last_error(file));
	fs_file_deinit(&file);
	fs_deinit(&fs);
	return ret;
}

/* Child: writes 4 MiB into a filesystem that takes less; expects err. */
static int t_child_fill(const char *root, int err)
{
	struct fs *fs = NULL;
	struct fs_file *file = NULL;
	const char *error = "";
	char spec[256], *buf;
	ssize_t wret = 0;
	int ret = 0, i;

	snprintf(spec, sizeof(spec), "posix:%s", root);
	if (fs_init(spec, NULL, &fs, &error) < 0)
		return t_child_fail("fs_init", error);
	buf = malloc(64 * 1024);
	if (buf == NULL ||
	    fs_file_init(fs, "big/key", FS_OPEN_REPLACE, &file) < 0)
		return t_child_fail("file_init", fs_last_error(fs));
	memset(buf, 'x', 64 * 1024);
	for (i = 0; i < 64 && wret >= 0; i++)
		wret = fs_write(file, buf, 64 * 1024);
	if (wret >= 0)
		wret = fs_write_finish(file);
	if (wret != err)
		ret = t_child_fail("write", fs_file_last_error(file));
	else if (strstr(fs_file_last_error(file), "big/key") == NULL ||
		 strstr(fs_file_last_error(file), strerror(-err)) == NULL)
		ret = t_child_fail("message", fs_file_last_error(file));
	else
		printf("full disk message: %s\n", fs_file_last_error(file));
	fs_file_deinit(&file);
	if (ret == 0 && fs_file_init(fs, "big/key", FS_OPEN_READ, &file) == 0 &&
	    fs_file_exists(file) != 0)
		ret = t_child_fail("exists", "the key is there");
	fs_file_deinit(&file);
	if (ret == 0 && t_entries(root) != 0)
		ret = t_child_fail("scan", "something was left in the root");
	fs_deinit(&fs);
	free(buf);
	return ret;
}

static int t_child_enospc(const char *mnt)
{
	char root[256];

	if (!t_private_mounts() ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0755") < 0)
		return T_CHILD_NO_MOUNT;
	snprintf(root, sizeof(root), "%s/root", mnt);
	return t_child_fill(root, -ENOSPC);
}

static int t_child_efbig(const char *root)
{
	struct rlimit rl = {.rlim_cur = 1024 * 1024, .rlim_max = 1024 * 1024};

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return t_child_fail("setrlimit", strerror(errno));
	return t_child_fill(root, -EFBIG);
}

enum t_child { T_NO_XATTR, T_ENOSPC, T_EFBIG };

static int t_run_child(enum t_child which, const char *path)
{
	pid_t pid;
	int status, ret;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ret = which == T_NO_XATTR ? t_child_no_xattr(path)
		      : which == T_ENOSPC ? t_child_enospc(path)
					  : t_child_efbig(path);
		fflush(stdout);
		_exit(ret);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_metadata_enotsup(void **state)
{
	struct t_env *env = *state;
	char mnt[256];
	int ret;

	t_path(mnt, sizeof(mnt), env->dir, "ramfs");
	assert_int_equal(mkdir(mnt, 0755), 0);
	ret = t_run_child(T_NO_XATTR, mnt);
	if (ret == T_CHILD_NO_MOUNT) {
		printf("NOTICE: cannot mount a ramfs here; -ENOTSUP for "
		       "metadata not tested\n");
		return;
	}
	assert_int_equal(ret, T_CHILD_OK);
}

/* A 1 MiB tmpfs in a private mount namespace (-ENOSPC) where this process
   may mount; the file size limit (-EFBIG, SIGXFSZ ignored) always, as it
   needs no privilege. */
static void test_full_disk(void **state)
{
	struct t_env *env = *state;
	char mnt[256];
	int ret;

	t_path(mnt, sizeof(mnt), env->dir, "small");
	assert_int_equal(mkdir(mnt, 0755), 0);
	ret = t_run_child(T_ENOSPC, mnt);
	if (ret == T_CHILD_NO_MOUNT) {
		printf("full disk: cannot mount a tmpfs here, -ENOSPC not "
		       "tested\n");
	} else {
		printf("full disk: ran on a 1 MiB tmpfs (-ENOSPC)\n");
		assert_int_equal(ret, T_CHILD_OK);
	}
	assert_int_equal(t_run_child(T_EFBIG, env->root), T_CHILD_OK);
	printf("file size limit: ran with RLIMIT_FSIZE (-EFBIG)\n");
}

/* ------------------------------------------------------------------------ */
/* Concurrency                                                                */

#define T_ROUNDS 150

struct t_writer {
	const char *spec;
	char fill;
	size_t size;
	int failures;
	volatile int done;
};

static void *t_writer_run(void *arg)
{
	struct t_writer *w = arg;
	struct fs *fs = NULL;
	struct fs_file *file = NULL;
	const char *error;
	char *buf = malloc(w->size);
	int i;

	if (buf == NULL || fs_init(w->spec, NULL, &fs, &error) < 0) {
		w->failures++;
		free(buf);
		return NULL;
	}
	memset(buf, w->fill, w->size);
	for (i = 0; i < T_ROUNDS; i++) {
		if (fs_file_init(fs, "shared/obj", FS_OPEN_REPLACE, &file) <
			    0 ||
		    fs_write(file, buf, w->size / 2) < 0 ||
		    fs_write(file, buf, w->size - w->size / 2) < 0 ||
		    fs_write_finish(file) < 0)
			w->failures++;
		fs_file_deinit(&file);
	}
	fs_deinit(&fs);
	free(buf);
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static bool t_writers_done(struct t_writer *writers)
{
	return __atomic_load_n(&writers[0].done, __ATOMIC_SEQ_CST) &&
	       __atomic_load_n(&writers[1].done, __ATOMIC_SEQ_CST);
}

/* True if data is one whole object of one writer. */
static bool t_whole(const char *data, size_t len,
		    const struct t_writer *writers)
{
	size_t i, w;

	for (w = 0; w < 2; w++) {
		if (len != writers[w].size || data[0] != writers[w].fill)
			continue;
		for (i = 0; i < len && data[i] == writers[w].fill; i++)
			;
		return i == len;
	}
	return false;
}

static void test_concurrent_replace(void **state)
{
	struct t_env *env = *state;
	struct t_writer writers[2] = {
		{.spec = env->spec, .fill = 'A', .size = 96 * 1024},
		{.spec = env->spec, .fill = 'B', .size = 40 * 1024 + 7},
	};
	pthread_t threads[2];
	char path[256], err[512], *data, *buf = malloc(256 * 1024);
	unsigned int reads = 0, i;
	ssize_t len;
	int fd;

	assert_non_null(buf);
	t_path(path, sizeof(path), env->root, "shared/obj");
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, t_writer_run,
						&writers[i]),
				 0);
	/* An outside reader (plain open + read) and a libfs reader. */
	while (!t_writers_done(writers)) {
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			len = read(fd, buf, 256 * 1024);
			close(fd);
			assert_true(t_whole(buf, (size_t)len, writers));
			reads++;
		}
		if (t_read(env->fs, "shared/obj", &data, err, sizeof(err)) ==
		    0) {
			assert_true(t_whole(data, strlen(data), writers));
			reads++;
		}
		free(data);
	}
	pthread_join(threads[0], NULL);
	pthread_join(threads[1], NULL);
	assert_int_equal(writers[0].failures + writers[1].failures, 0);
	assert_true(reads > 0);
	assert_int_equal(t_read(env->fs, "shared/obj", &data, err, sizeof(err)),
			 0);
	assert_true(t_whole(data, strlen(data), writers));
	free(data);
	free(buf);
	assert_int_equal(t_temps(env->root), 0);
}

/* Appenders with their own fs each: every record lands whole. */
#define T_APPENDS 100

static void *t_appender_run(void *arg)
{
	struct t_writer *w = arg;
	struct fs *fs = NULL;
	const char *error;
	char rec[64], err[512];
	int i;

	if (fs_init(w->spec, NULL, &fs, &error) < 0) {
		w->failures++;
		return NULL;
	}
	memset(rec, w->fill, sizeof(rec) - 2);
	rec[sizeof(rec) - 2] = '\n';
	rec[sizeof(rec) - 1] = '\0';
	for (i = 0; i < T_APPENDS; i++) {
		if (t_write_mode(fs, "log/shared", FS_OPEN_APPEND, rec, err,
				 sizeof(err)) < 0)
			w->failures++;
	}
	fs_deinit(&fs);
	return NULL;
}

static void test_concurrent_append(void **state)
{
	struct t_env *env = *state;
	struct t_writer writers[2] = {
		{.spec = env->spec, .fill = 'A'},
		{.spec = env->spec, .fill = 'B'},
	};
	pthread_t threads[2];
	char err[512], *data, *line;
	unsigned int count[2] = {0, 0}, i;

	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&threads[i], NULL,
						t_appender_run, &writers[i]),
				 0);
	for (i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	assert_int_equal(writers[0].failures + writers[1].failures, 0);
	assert_int_equal(t_read(env->fs, "log/shared", &data, err, sizeof(err)),
			 0);
	assert_int_equal(strlen(data), 2 * T_APPENDS * 63);
	for (line = data; *line != '\0'; line += 63) {
		assert_true(line[0] == 'A' || line[0] == 'B');
		assert_int_equal(strspn(line, line[0] == 'A' ? "A" : "B"), 62);
		assert_int_equal(line[62], '\n');
		count[line[0] - 'A']++;
	}
	assert_int_equal(count[0], T_APPENDS);
	assert_int_equal(count[1], T_APPENDS);
	free(data);
	assert_int_equal(t_temps(env->root), 0);
}

/* A writer whose directories a deleter keeps removing still succeeds. */
static void *t_deleter_run(void *arg)
{
	struct t_writer *w = arg;
	struct fs *fs = NULL;
	const char *error;
	char err[512];
	int ret;

	if (fs_init(w->spec, NULL, &fs, &error) < 0) {
		w->failures++;
		return NULL;
	}
	while (!__atomic_load_n(&w->done, __ATOMIC_SEQ_CST)) {
		ret = t_key_op(fs, "x/y/z/k", T_DELETE, err, sizeof(err));
		if (ret != 0 && ret != -ENOENT)
			w->failures++;
	}
	fs_deinit(&fs);
	return NULL;
}

static void test_write_vs_delete(void **state)
{
	struct t_env *env = *state;
	struct t_writer deleter = {.spec = env->spec};
	pthread_t thread;
	char err[512];
	int i, failures = 0;

	assert_int_equal(pthread_create(&thread, NULL, t_deleter_run, &deleter),
			 0);
	for (i = 0; i < 300; i++) {
		if (t_write_mode(env->fs, "x/y/z/k",
				 i % 2 ? FS_OPEN_REPLACE : FS_OPEN_CREATE,
				 "data", err, sizeof(err)) < 0 &&
		    strstr(err, "exists") == NULL) {
			fprintf(stderr, "write failed: %s\n", err);
			failures++;
		}
	}
	__atomic_store_n(&deleter.done, 1, __ATOMIC_SEQ_CST);
	pthread_join(thread, NULL);
	assert_int_equal(failures, 0);
	assert_int_equal(deleter.failures, 0);
	assert_int_equal(t_temps(env->root), 0);
}

/* ------------------------------------------------------------------------ */

#define T(name) cmocka_unit_test_setup_teardown(name, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_root_created),
		T(test_caps),
		T(test_write_read_stat),
		T(test_read_errors),
		T(test_create_excl),
		T(test_append),
		T(test_fsync),
		T(test_symlink_dir_escape),
		T(test_symlink_file),
		T(test_symlink_intermediate),
		T(test_bad_keys),
		T(test_temp_invisible),
		T(test_abort_leaves_nothing),
		T(test_parents_removed),
		T(test_key_dir_conflicts),
		T(test_copy),
		T(test_rename),
		T(test_metadata),
		T(test_read_pinned),
		T(test_copy_large),
		T(test_list_order),
		T(test_metadata_enotsup),
		T(test_full_disk),
		T(test_concurrent_replace),
		T(test_concurrent_append),
		T(test_write_vs_delete),
	};
	int failed;

	failed = cmocka_run_group_tests_name("posix-openat2", tests,
					     t_group_openat2, NULL);
	failed += cmocka_run_group_tests_name("posix-walk", tests, t_group_walk,
					      NULL);
	return failed != 0;
}
