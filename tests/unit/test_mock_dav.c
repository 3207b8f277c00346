/*
 * The WebDAV driver against the mock server's WebDAV front end, in
 * process: credentials from the settings, LIBFS_DAV_PASSWORD and ~/.netrc
 * (each with a temporary HOME), Basic and Digest, wrong or missing
 * passwords (-EACCES, never the password in a message), the write paths
 * (If-None-Match, temporary names and MOVE, metadata by PROPPATCH, a
 * server that refuses PROPPATCH), parent collections made on demand and
 * removed when a delete empties them, collections that are no objects,
 * streamed writes, and fsctl sync from posix to WebDAV and back.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "unit/test_dav.h"

#ifndef LIBFS_FSCTL
#error "LIBFS_FSCTL must name the fsctl binary"
#endif

static const char small[] = "small object body";

static void roundtrip(struct fs *fs, const char *key)
{
	assert_int_equal(dt_put(fs, key, FS_OPEN_REPLACE, small, sizeof(small)),
			 0);
	dt_expect(fs, key, small, sizeof(small));
}

/* ------------------------------------------------------------------------ */
/* Specs and credentials                                                      */

static void test_spec_errors(void **state)
{
	static const char *const bad[] = {
		"dav+http:host/",
		"dav+http://",
		"dav+http://user:secret@127.0.0.1/",
		"dav+http://127.0.0.1/a b/",
		"dav+http://127.0.0.1/?nosuch=1",
		"dav+http://127.0.0.1/?auth=ntlm",
		"dav+http://127.0.0.1/?buffer=huge",
		"dav+http://127.0.0.1/bad%zzescape/",
	};
	const char *error = NULL;
	struct fs *fs = NULL;
	size_t i;

	(void)state;
	unsetenv("LIBFS_DAV_PASSWORD");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fs_init(bad[i], NULL, &fs, &error), -EINVAL);
		assert_null(fs);
		assert_non_null(error);
		/* the password of a spec is never repeated */
		assert_null(strstr(error, "secret"));
	}
	/* No I/O at init: a spec without a server opens. */
	assert_int_equal(fs_init("dav+https://u@dav.invalid/mail/?rmdir=0",
				 NULL, &fs, &error),
			 0);
	assert_string_equal(fs_driver_name(fs, 0), "dav");
	assert_true((fs_get_caps(fs) & FS_CAP_METADATA) != 0);
	fs_deinit(&fs);
	assert_int_equal(
		fs_init("dav+http://127.0.0.1/?metadata=0", NULL, &fs, &error),
		0);
	assert_true((fs_get_caps(fs) & FS_CAP_METADATA) == 0);
	fs_deinit(&fs);
}

/* Opens spec with settings (password may be NULL) and runs a round trip
   or expects -EACCES. */
static void try_spec(const char *spec, const char *password, int expected)
{
	struct fs_settings set;
	struct fs_file *file = NULL;
	const char *error = NULL;
	struct fs *fs = NULL;
	int ret;

	fs_settings_init(&set);
	set.password = password;
	set.max_retries = FS_SETTINGS_NO_RETRY;
	ret = fs_init(spec, &set, &fs, &error);
	if (ret < 0)
		print_error("fs_init(%s): %s\n", spec, error);
	assert_int_equal(ret, 0);
	/* CREATE first: the If-None-Match probe is the first request */
	assert_int_equal(fs_file_init(fs, "cred/new", FS_OPEN_CREATE, &file),
			 0);
	ret = fs_write_all(file, small, sizeof(small));
	assert_true(ret == expected || (expected == 0 && ret == -EEXIST));
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "cred/obj", FS_OPEN_REPLACE, &file),
			 0);
	ret = fs_write_all(file, small, sizeof(small));
	if (ret != expected)
		print_error("write: %s\n", fs_file_last_error(file));
	assert_int_equal(ret, expected);
	if (ret < 0) {
		assert_non_null(strstr(fs_file_last_error(file), "HTTP 401"));
		assert_null(strstr(fs_file_last_error(file), DT_PASSWORD));
		assert_null(strstr(fs_file_last_error(file), "wrong"));
	}
	fs_file_deinit(&file);
	if (ret == 0)
		dt_expect(fs, "cred/obj", small, sizeof(small));
	fs_deinit(&fs);
}

static void test_credentials_settings(void **state)
{
	struct dt_server srv;
	char spec[256];

	(void)state;
	unsetenv("LIBFS_DAV_PASSWORD");
	dt_start(&srv, "any", NULL);
	dt_spec(&srv, spec, sizeof(spec), NULL);
	try_spec(spec, DT_PASSWORD, 0);
	/* the probe found If-None-Match honoured, after learning Digest:
	   small writes without metadata need no temporary name */
	assert_int_equal(fs_mock_counter(srv.mock, "MOVE"), 0);
	assert_true(fs_mock_counter(srv.mock, "status_412") >= 1);
	try_spec(spec, "wrong password", -EACCES);
	try_spec(spec, NULL, -EACCES);
	dt_stop(&srv);
}

static void test_credentials_env(void **state)
{
	struct dt_server srv;
	char spec[256];

	(void)state;
	dt_start(&srv, "digest", NULL);
	dt_spec(&srv, spec, sizeof(spec), NULL);
	setenv("LIBFS_DAV_PASSWORD", DT_PASSWORD, 1);
	try_spec(spec, NULL, 0);
	/* the settings win over the environment */
	try_spec(spec, "wrong", -EACCES);
	setenv("LIBFS_DAV_PASSWORD", "wrong", 1);
	try_spec(spec, NULL, -EACCES);
	unsetenv("LIBFS_DAV_PASSWORD");
	dt_stop(&srv);
}

static void write_netrc(const char *home, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/.netrc", home);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

static void test_credentials_netrc(void **state)
{
	char home[] = "/tmp/libfs-test-home-XXXXXX", spec[256], text[512];
	const char *old_home = getenv("HOME");
	char *saved = old_home != NULL ? strdup(old_home) : NULL;
	struct dt_server srv;

	(void)state;
	unsetenv("LIBFS_DAV_PASSWORD");
	assert_non_null(mkdtemp(home));
	setenv("HOME", home, 1);
	dt_start(&srv, "basic", NULL);

	/* the host's entry, user from the spec */
	snprintf(text, sizeof(text),
		 "machine other.example login x password y\n"
		 "machine 127.0.0.1\n  login " DT_USER
		 "\n  password \"" DT_PASSWORD "\"\n");
	write_netrc(home, text);
	dt_spec(&srv, spec, sizeof(spec), NULL);
	try_spec(spec, NULL, 0);

	/* the user name from .netrc too */
	snprintf(spec, sizeof(spec), "dav+http://127.0.0.1:%u/",
		 fs_mock_port(srv.mock));
	try_spec(spec, NULL, 0);

	/* another user's entry does not count; "default" does */
	write_netrc(home,
		    "machine 127.0.0.1 login bob password nope\n"
		    "default login " DT_USER " password \"" DT_PASSWORD "\"\n");
	dt_spec(&srv, spec, sizeof(spec), NULL);
	try_spec(spec, NULL, 0);
	write_netrc(home,
		    "machine 127.0.0.1 login " DT_USER " password wrong\n");
	try_spec(spec, NULL, -EACCES);

	dt_stop(&srv);
	nftw(home, dt_rm, 16, FTW_DEPTH | FTW_PHYS);
	if (saved != NULL)
		setenv("HOME", saved, 1);
	free(saved);
}

static void test_auth_modes(void **state)
{
	static const char *const modes[] = {"basic", "digest", "any", "none"};
	static const char *const opts[] = {"", "?auth=basic", "?auth=digest"};
	struct dt_server srv;
	struct fs *fs;
	char key[64];
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		dt_start(&srv, modes[i], NULL);
		for (j = 0; j < sizeof(opts) / sizeof(opts[0]); j++) {
			bool ok = j == 0 || strcmp(modes[i], "none") == 0 ||
				  strcmp(modes[i], "any") == 0 ||
				  strcmp(modes[i], opts[j] + 6) == 0;
			int ret;

			fs = dt_open(&srv, opts[j]);
			snprintf(key, sizeof(key), "auth/%zu", j);
			ret = dt_put(fs, key, FS_OPEN_REPLACE, small,
				     sizeof(small));
			assert_int_equal(ret, ok ? 0 : -EACCES);
			if (ok)
				dt_expect(fs, key, small, sizeof(small));
			fs_deinit(&fs);
		}
		dt_stop(&srv);
	}
}

/* A streamed PUT cannot be sent twice: a first write that streams learns
   the scheme before it starts, even without retries. */
static void test_auth_streamed_first(void **state)
{
	static const char *const modes[] = {"digest", "basic"};
	unsigned char *big = malloc(2 << 20);
	struct fs_settings set;
	struct dt_server srv;
	const char *error;
	struct fs *fs;
	char spec[256];
	size_t i;

	(void)state;
	assert_non_null(big);
	dt_fill(big, 2 << 20, 3);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		dt_start(&srv, modes[i], NULL);
		dt_spec(&srv, spec, sizeof(spec), "?buffer=64k");
		fs_settings_init(&set);
		set.password = DT_PASSWORD;
		set.max_retries = FS_SETTINGS_NO_RETRY;
		assert_int_equal(fs_init(spec, &set, &fs, &error), 0);
		assert_int_equal(
			dt_put(fs, "s/big", FS_OPEN_CREATE, big, 2 << 20), 0);
		dt_expect(fs, "s/big", big, 2 << 20);
		fs_deinit(&fs);
		assert_int_equal(dt_leftovers(&srv), 0);
		dt_stop(&srv);
	}
	free(big);
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                     */

static void test_write_paths(void **state)
{
	static const char *const opts[] = {
		"", "?create=if-none-match", "?create=move&replace=move",
		"?buffer=0", "?buffer=1k&create=move"};
	unsigned char *big = malloc(300 * 1024);
	struct dt_server srv;
	struct fs *fs;
	char key[64];
	size_t i;

	(void)state;
	assert_non_null(big);
	dt_fill(big, 300 * 1024, 5);
	dt_start(&srv, "any", NULL);
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		fs = dt_open(&srv, opts[i]);
		snprintf(key, sizeof(key), "w%zu/deep/er/obj", i);
		assert_int_equal(
			dt_put(fs, key, FS_OPEN_CREATE, small, sizeof(small)),
			0);
		assert_int_equal(dt_put(fs, key, FS_OPEN_CREATE, "x", 1),
				 -EEXIST);
		dt_expect(fs, key, small, sizeof(small));
		assert_int_equal(
			dt_put(fs, key, FS_OPEN_REPLACE, big, 300 * 1024), 0);
		dt_expect(fs, key, big, 300 * 1024);
		snprintf(key, sizeof(key), "w%zu/big-new", i);
		assert_int_equal(
			dt_put(fs, key, FS_OPEN_CREATE, big, 300 * 1024), 0);
		assert_int_equal(
			dt_put(fs, key, FS_OPEN_CREATE, big, 300 * 1024),
			-EEXIST);
		dt_expect(fs, key, big, 300 * 1024);
		fs_deinit(&fs);
	}
	assert_int_equal(dt_leftovers(&srv), 0);
	dt_stop(&srv);
	free(big);
}

static void test_metadata(void **state)
{
	struct dt_server srv;
	struct fs_file *file = NULL;
	const struct fs_metadata *md;
	struct fs *fs;

	(void)state;
	dt_start(&srv, "any", NULL);
	fs = dt_open(&srv, NULL);
	assert_int_equal(fs_file_init(fs, "md/obj", FS_OPEN_CREATE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "1st", "a<b>&\"c'"), 0);
	assert_int_equal(fs_file_set_metadata(file, "_x", "under"), 0);
	assert_int_equal(fs_file_set_metadata(file, "-dash", " lead "), 0);
	assert_int_equal(fs_write_all(file, small, sizeof(small)), 0);
	fs_file_deinit(&file);
	assert_int_equal(fs_file_init(fs, "md/obj", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata_all(file, &md), 3);
	assert_string_equal(md[0].name, "-dash");
	assert_string_equal(md[0].value, " lead ");
	assert_string_equal(md[1].name, "1st");
	assert_string_equal(md[1].value, "a<b>&\"c'");
	assert_string_equal(md[2].name, "_x");
	fs_file_deinit(&file);
	/* a replacement without metadata has none */
	roundtrip(fs, "md/obj");
	assert_int_equal(fs_file_init(fs, "md/obj", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata_all(file, &md), 0);
	fs_file_deinit(&file);
	fs_deinit(&fs);
	assert_int_equal(dt_leftovers(&srv), 0);
	dt_stop(&srv);
}

/* A server without PROPPATCH: the write fails with -ENOTSUP (never a
   silent loss), leaves nothing, and the capability goes. */
static void test_no_proppatch(void **state)
{
	static const char *const faults[] = {"method=PROPPATCH,status=501",
					     NULL};
	struct dt_server srv;
	struct fs_file *file = NULL;
	struct fs *fs;

	(void)state;
	dt_start(&srv, "any", faults);
	fs = dt_open(&srv, NULL);
	assert_true((fs_get_caps(fs) & FS_CAP_METADATA) != 0);
	assert_int_equal(fs_file_init(fs, "np/obj", FS_OPEN_REPLACE, &file), 0);
	assert_int_equal(fs_file_set_metadata(file, "k", "v"), 0);
	assert_int_equal(fs_write_all(file, small, sizeof(small)), -ENOTSUP);
	assert_non_null(strstr(fs_file_last_error(file), "PROPPATCH"));
	fs_file_deinit(&file);
	assert_true((fs_get_caps(fs) & FS_CAP_METADATA) == 0);
	dt_expect_missing(fs, "np/obj");
	/* writes without metadata go on */
	roundtrip(fs, "np/plain");
	fs_deinit(&fs);
	assert_int_equal(dt_leftovers(&srv), 0);
	dt_stop(&srv);
}

/* ------------------------------------------------------------------------ */
/* Collections                                                                */

static void test_collections(void **state)
{
	struct dt_server srv;
	struct fs_file *file = NULL;
	struct fs_stat st;
	struct fs *fs;

	(void)state;
	dt_start(&srv, "any", NULL);
	fs = dt_open(&srv, NULL);
	roundtrip(fs, "c/d/e/leaf");
	roundtrip(fs, "c/other");
	assert_int_equal(dt_http(&srv, "PROPFIND", "/c/d/e/", "0"), 207);
	/* a collection is no object: stat, read and delete say so */
	assert_int_equal(fs_file_init(fs, "c/d", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_stat(file, &st), -ENOENT);
	assert_int_equal(fs_file_delete(file), -ENOENT);
	fs_file_deinit(&file);
	dt_expect(fs, "c/d/e/leaf", small, sizeof(small));
	/* deleting the only object removes the collections it leaves
	   empty, up to the first one that is not */
	assert_int_equal(fs_file_init(fs, "c/d/e/leaf", FS_OPEN_READ, &file),
			 0);
	assert_int_equal(fs_file_delete(file), 0);
	fs_file_deinit(&file);
	assert_int_equal(dt_http(&srv, "PROPFIND", "/c/d/e/", "0"), 404);
	assert_int_equal(dt_http(&srv, "PROPFIND", "/c/d/", "0"), 404);
	assert_int_equal(dt_http(&srv, "PROPFIND", "/c/", "0"), 207);
	fs_deinit(&fs);

	/* with rmdir=0 they stay, and a listing does not show them */
	fs = dt_open(&srv, "?rmdir=0");
	roundtrip(fs, "k/l/leaf");
	assert_int_equal(fs_file_init(fs, "k/l/leaf", FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_delete(file), 0);
	fs_file_deinit(&file);
	assert_int_equal(dt_http(&srv, "PROPFIND", "/k/l/", "0"), 207);
	{
		struct fs_iter *iter = NULL;
		const char *key;

		assert_int_equal(
			fs_iter_init(fs, "k/", FS_ITER_FLAG_ONE_LEVEL, &iter),
			0);
		assert_int_equal(fs_iter_next(iter, &key), 0);
		assert_int_equal(fs_iter_deinit(&iter), 0);
	}
	fs_deinit(&fs);
	dt_stop(&srv);
}

/* The mock's If header: a collection whose ETag changed is not deleted
   (what keeps the driver's removal of empty collections safe). */
static void test_if_header(void **state)
{
	struct dt_server srv;
	char line[256];

	(void)state;
	dt_start(&srv, "any", NULL);
	assert_int_equal(dt_http(&srv, "MKCOL", "/r/", NULL), 201);
	assert_int_equal(dt_http_hdr(&srv, "DELETE", "/r/", "If: ([\"nope\"])"),
			 412);
	snprintf(line, sizeof(line), "If: <%s/r/> ([\"nope\"])",
		 fs_mock_url(srv.mock));
	assert_int_equal(dt_http_hdr(&srv, "DELETE", "/r/", line), 412);
	assert_int_equal(
		dt_http_hdr(&srv, "DELETE", "/r/", "If: (Not [\"nope\"])"),
		204);
	assert_int_equal(dt_http(&srv, "PROPFIND", "/r/", "0"), 404);
	assert_int_equal(dt_http(&srv, "MKCOL", "/s/", NULL), 201);
	assert_int_equal(dt_http_hdr(&srv, "DELETE", "/s/", "If: garbage"),
			 400);
	dt_stop(&srv);
}

/* Collections made by someone else meanwhile, or removed: the MKCOL chain
   takes what exists and makes what is missing. */
static void test_parents_changed(void **state)
{
	struct dt_server srv;
	struct fs *fs;

	(void)state;
	dt_start(&srv, "any", NULL);
	fs = dt_open(&srv, "?rmdir=0");
	roundtrip(fs, "p/q/r");
	/* another client removes the tree: the cached collections are
	   stale, the 409 sends the driver back to MKCOL */
	assert_int_equal(dt_http(&srv, "DELETE", "/p/", NULL), 204);
	roundtrip(fs, "p/q/r");
	assert_int_equal(dt_http(&srv, "DELETE", "/p/", NULL), 204);
	assert_int_equal(dt_http(&srv, "MKCOL", "/p/", NULL), 201);
	roundtrip(fs, "p/q/s");
	fs_deinit(&fs);
	dt_stop(&srv);
}

/* ------------------------------------------------------------------------ */
/* fsctl sync                                                                 */

/* Runs fsctl with argv (NULL-terminated); returns its exit status. */
static int run_fsctl(const char *const *argv)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, STDOUT_FILENO);
		execv(LIBFS_FSCTL, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *dir, const char *rel, const void *data,
		       size_t size)
{
	char path[512], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (slash = strchr(path + strlen(dir) + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, size, f), size);
	fclose(f);
}

static void expect_file(const char *dir, const char *rel, const void *data,
			size_t size)
{
	char path[512], *got = malloc(size + 1);
	FILE *f;

	assert_non_null(got);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "r");
	if (f == NULL)
		print_error("%s is missing\n", path);
	assert_non_null(f);
	assert_int_equal(fread(got, 1, size + 1, f), size);
	fclose(f);
	assert_memory_equal(got, data, size);
	free(got);
}

static void test_fsctl_sync(void **state)
{
	static const char *const names[] = {
		"a",
		"dir/b",
		"dir/sub/c",
		"with space/and%percent",
		"\xc3\xa4/\xf0\x9f\x99\x82",
		"big",
	};
	char src[] = "/tmp/libfs-test-sync-src-XXXXXX";
	char dst[] = "/tmp/libfs-test-sync-dst-XXXXXX";
	char src_spec[64], dst_spec[64], dav[256];
	unsigned char *data = malloc(3 << 20);
	struct dt_server srv;
	size_t i, size;

	(void)state;
	assert_non_null(data);
	assert_non_null(mkdtemp(src));
	assert_non_null(mkdtemp(dst));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size = strcmp(names[i], "big") == 0 ? 3 << 20 : 1000 + i;
		dt_fill(data, size, (unsigned int)i);
		write_file(src, names[i], data, size);
	}
	snprintf(src_spec, sizeof(src_spec), "posix:%s", src);
	snprintf(dst_spec, sizeof(dst_spec), "posix:%s", dst);
	dt_start(&srv, "digest", NULL);
	dt_spec(&srv, dav, sizeof(dav), "?buffer=256k");
	setenv("LIBFS_DAV_PASSWORD", DT_PASSWORD, 1);
	assert_int_equal(run_fsctl((const char *const[]){"fsctl", "sync", "-j",
							 "4", "--verify",
							 src_spec, dav, NULL}),
			 0);
	assert_int_equal(
		run_fsctl((const char *const[]){"fsctl", "sync", "--verify",
						dav, dst_spec, NULL}),
		0);
	unsetenv("LIBFS_DAV_PASSWORD");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size = strcmp(names[i], "big") == 0 ? 3 << 20 : 1000 + i;
		dt_fill(data, size, (unsigned int)i);
		expect_file(dst, names[i], data, size);
	}
	assert_int_equal(dt_leftovers(&srv), 0);
	dt_stop(&srv);
	nftw(src, dt_rm, 16, FTW_DEPTH | FTW_PHYS);
	nftw(dst, dt_rm, 16, FTW_DEPTH | FTW_PHYS);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_credentials_settings),
		cmocka_unit_test(test_credentials_env),
		cmocka_unit_test(test_credentials_netrc),
		cmocka_unit_test(test_auth_modes),
		cmocka_unit_test(test_auth_streamed_first),
		cmocka_unit_test(test_write_paths),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_no_proppatch),
		cmocka_unit_test(test_collections),
		cmocka_unit_test(test_if_header),
		cmocka_unit_test(test_parents_changed),
		cmocka_unit_test(test_fsctl_sync),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
