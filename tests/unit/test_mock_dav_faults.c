/*
 * The WebDAV driver under the mock server's fault rules: every write is
 * either acknowledged, and then reads back byte-identical, or fails, and
 * then leaves nothing (no new object, the old one intact, no temporary
 * object in the store). Transient failures of idempotent requests are
 * retried; the others fail cleanly with a message.
 */
#include "unit/test_dav.h"

#define BIG (200 * 1024)

/* What one write does: its key, mode, size, metadata, and what the key
   held before (0: nothing). */
struct fw_case {
	const char *key;
	unsigned int mode;
	size_t size;
	bool metadata;
	size_t old_size;
};

static const struct fw_case fw_cases[] = {
	{"new/small", FS_OPEN_CREATE, 1000, false, 0},
	{"new/big", FS_OPEN_CREATE, BIG, false, 0},
	{"new/md", FS_OPEN_CREATE, 500, true, 0},
	{"old/small", FS_OPEN_REPLACE, 800, false, 300},
	{"old/big", FS_OPEN_REPLACE, BIG, false, 3000},
	{"old/md", FS_OPEN_REPLACE, 700, true, 200},
	{"deep/a/b/c/new", FS_OPEN_REPLACE, 100, false, 0},
};

#define FW_CASES (sizeof(fw_cases) / sizeof(fw_cases[0]))

static unsigned char fw_buf[BIG];

static int fw_write(struct fs *fs, const char *key, unsigned int mode,
		    size_t size, unsigned int seed, bool metadata)
{
	struct fs_file *file = NULL;
	size_t off, n;
	ssize_t w;
	int ret;

	dt_fill(fw_buf, size, seed);
	ret = fs_file_init(fs, key, mode, &file);
	if (ret == 0 && metadata)
		ret = fs_file_set_metadata(file, "seed", "s");
	for (off = 0; ret == 0 && off < size; off += n) {
		n = size - off < 7000 ? size - off : 7000;
		w = fs_write(file, fw_buf + off, n);
		if (w < 0)
			ret = (int)w;
	}
	if (ret == 0)
		ret = fs_write_finish(file);
	if (ret < 0 && fs_file_last_error(file)[0] == '\0')
		fail_msg("write %s failed without a message", key);
	fs_file_deinit(&file);
	return ret;
}

static void fw_expect(struct fs *fs, const char *key, size_t size,
		      unsigned int seed, bool metadata)
{
	struct fs_file *file = NULL;
	const char *value;

	if (size == 0) {
		dt_expect_missing(fs, key);
		return;
	}
	dt_fill(fw_buf, size, seed);
	dt_expect(fs, key, fw_buf, size);
	assert_int_equal(fs_file_init(fs, key, FS_OPEN_READ, &file), 0);
	assert_int_equal(fs_file_get_metadata(file, "seed", &value),
			 metadata ? 1 : 0);
	fs_file_deinit(&file);
}

/* Writes every case with rule active; returns how many were
   acknowledged, checks the outcome of each. */
static unsigned int fw_run(const char *rule, const char *options)
{
	struct dt_server srv;
	struct fs *fs;
	int results[FW_CASES];
	unsigned int ok = 0;
	size_t i;

	dt_start(&srv, "any", NULL);
	fs = dt_open(&srv, options);
	for (i = 0; i < FW_CASES; i++) {
		if (fw_cases[i].old_size > 0)
			assert_int_equal(
				fw_write(fs, fw_cases[i].key, FS_OPEN_REPLACE,
					 fw_cases[i].old_size, 100, false),
				0);
	}
	assert_true(fs_mock_fault_add(srv.mock, rule, NULL) > 0);
	for (i = 0; i < FW_CASES; i++)
		results[i] = fw_write(fs, fw_cases[i].key, fw_cases[i].mode,
				      fw_cases[i].size, (unsigned int)i,
				      fw_cases[i].metadata);
	/* temporaries of aborted writes are deleted before deinit ends */
	fs_deinit(&fs);
	fs_mock_faults_clear(srv.mock);
	fs = dt_open(&srv, NULL);
	for (i = 0; i < FW_CASES; i++) {
		const struct fw_case *c = &fw_cases[i];

		if (results[i] == 0) {
			ok++;
			fw_expect(fs, c->key, c->size, (unsigned int)i,
				  c->metadata);
		} else {
			fw_expect(fs, c->key, c->old_size, 100, false);
		}
	}
	fs_deinit(&fs);
	assert_int_equal(dt_leftovers(&srv), 0);
	dt_stop(&srv);
	print_message("%-45s %-22s %u of %zu acknowledged\n", rule,
		      options != NULL ? options : "", ok, FW_CASES);
	return ok;
}

/* Transient failures of retried requests: every write goes through. */
static void test_transient(void **state)
{
	(void)state;
	assert_int_equal(fw_run("method=PUT,nth=2,status=503", NULL), FW_CASES);
	assert_int_equal(fw_run("method=PROPFIND,nth=2,status=500", NULL),
			 FW_CASES);
	assert_int_equal(fw_run("method=GET,status=503,times=3", NULL),
			 FW_CASES);
	assert_int_equal(fw_run("method=PUT,delay=50", NULL), FW_CASES);
}

/* Persistent failures: nothing is acknowledged, nothing stays. */
static void test_persistent(void **state)
{
	(void)state;
	assert_int_equal(fw_run("method=PUT,status=500", NULL), 0);
	assert_int_equal(fw_run("method=PUT,status=507", NULL), 0);
	assert_int_equal(fw_run("method=PUT,status=403", NULL), 0);
	assert_int_equal(fw_run("method=PUT,action=reset,after=10", NULL), 0);
	/* only the writes that go through temporary names fail */
	assert_true(fw_run("method=MOVE,status=500", NULL) < FW_CASES);
	assert_true(fw_run("method=MOVE,status=412", NULL) < FW_CASES);
	assert_true(fw_run("method=PROPPATCH,status=500", NULL) < FW_CASES);
	assert_true(fw_run("method=PROPPATCH,status=507", NULL) < FW_CASES);
	assert_true(fw_run("method=MKCOL,status=500", NULL) < FW_CASES);
}

/* Connections cut at any point of the upload, failed MOVEs without a
   reply, and the same with every write through a temporary name. */
static void test_resets(void **state)
{
	static const char *const opts[] = {NULL, "?create=move&replace=move",
					   "?buffer=0"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		fw_run("method=PUT,action=reset,after=5000,nth=2", opts[i]);
		fw_run("method=MOVE,action=reset,times=2", opts[i]);
		fw_run("method=PUT,action=reset,after=0,times=3", opts[i]);
	}
}

/* Seeded random failures of every kind. Persistent errors spare DELETE:
   a server that cannot delete keeps what a failed write stored. */
static void test_random(void **state)
{
	static const char *const rules[] = {
		"p=30%,seed=1,status=503",
		"p=20%,seed=2,method=PUT,status=500",
		"p=30%,seed=6,method=MOVE,status=500",
		"p=30%,seed=7,method=PROPPATCH,status=500",
		"p=30%,seed=8,method=MKCOL,status=503",
		"p=15%,seed=3,action=reset,after=300",
		"p=25%,seed=4,delay=20",
		"p=30%,seed=5,method=PUT,status=409",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		fw_run(rules[i], NULL);
		fw_run(rules[i], "?create=move&replace=move&buffer=16k");
	}
}

/* A read cut short is an error, never a short object. */
static void test_read_faults(void **state)
{
	struct dt_server srv;
	struct fs *fs;
	void *data;
	size_t size;

	(void)state;
	dt_start(&srv, "any", NULL);
	fs = dt_open(&srv, NULL);
	dt_fill(fw_buf, BIG, 9);
	assert_int_equal(dt_put(fs, "r/obj", FS_OPEN_REPLACE, fw_buf, BIG), 0);
	assert_true(fs_mock_fault_add(srv.mock,
				      "method=GET,action=truncate,after=1000",
				      NULL) > 0);
	assert_true(dt_get(fs, "r/obj", &data, &size) < 0);
	assert_null(data);
	fs_mock_faults_clear(srv.mock);
	/* a cut GET is resumed with Range and If-Match where it can */
	assert_true(fs_mock_fault_add(srv.mock,
				      "method=GET,action=reset,after=5000,"
				      "times=1",
				      NULL) > 0);
	dt_expect(fs, "r/obj", fw_buf, BIG);
	fs_mock_faults_clear(srv.mock);
	dt_expect(fs, "r/obj", fw_buf, BIG);
	fs_deinit(&fs);
	dt_stop(&srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transient),
		cmocka_unit_test(test_persistent),
		cmocka_unit_test(test_resets),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_read_faults),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
