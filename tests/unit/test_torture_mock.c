/*
 * The torture test (torture.h) over the HTTP drivers, each on its
 * in-process mock started once per test, with a fresh store per run:
 *
 *   s3        a fresh key prefix "rN" in one bucket; parts of 64 KiB (the
 *             mock's min_part_size too), so the big object is a multipart
 *             upload of five parts
 *   dav       a fresh collection "/rN/" (made with MKCOL); a 64 KiB buffer,
 *             so the big object is a streamed (chunked) PUT
 *   mogilefs  the mock's one domain, emptied and checked empty after each
 *             run (the driver has no key prefix and the mock one domain)
 *
 * After each run's final check (torture.c) the store is emptied through the
 * driver and the mock's own view must be empty too: S3 no unfinished
 * multipart upload ("u/") and no object anywhere in the bucket that the
 * driver did not list; WebDAV no resource at all, hidden temporaries
 * (".libfs-tmp-*", stored as ".libfs~-tmp-*") included; MogileFS, once the
 * replicator and the delete worker are idle, no key, no open tempfile and
 * no stored file (a fid without a key).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_s3.h"
#include "torture.h"
#ifdef LIBFS_DRIVER_MOGILEFS
#include "mogilefs.h"
#endif

#define TT_BUCKET "torture"
#define TT_PART "64k"
#define TT_DAV_USER "torture"
#define TT_DAV_PASSWORD "torture-secret"

/* Lists the keys of store under prefix to stderr; returns their count. */
static unsigned int store_show(struct fs *store, const char *prefix)
{
	struct fs_iter *iter;
	const char *key;
	unsigned int count = 0;

	assert_int_equal(fs_iter_init(store, prefix, 0, &iter), 0);
	while (fs_iter_next(iter, &key) > 0) {
		fprintf(stderr, "left in the store: %s\n", key);
		count++;
	}
	assert_int_equal(fs_iter_deinit(&iter), 0);
	return count;
}

/* ------------------------------------------------------------------------ */
/* S3                                                                         */

struct s3_state {
	struct fs_mock *mock;
	struct fs *store; /* the mock's backing store, read directly */
	struct fs_settings set;
	unsigned int serial;
};

static char *s3_store_new(const struct torture_backend *be)
{
	struct s3_state *s3 = be->context;
	char *spec, prefix[64];

	s3->serial++;
	snprintf(prefix, sizeof(prefix), "b/" TT_BUCKET "/r%u/", s3->serial);
	assert_int_equal(fs_mock_backend_count(s3->mock, prefix), 0);
	if (asprintf(&spec,
		     "s3://" TT_BUCKET "/r%u?endpoint=%s&region=%s&"
		     "multipart_threshold=" TT_PART "&part_size=" TT_PART
		     "&min_part_size=" TT_PART,
		     s3->serial, fs_mock_url(s3->mock),
		     fs_mock_region(s3->mock)) < 0)
		return NULL;
	return spec;
}

/* An aborted upload is aborted at once, not when the handle goes. */
static void s3_write_failed(const struct torture_backend *be)
{
	struct s3_state *s3 = be->context;

	if (fs_mock_backend_count(s3->mock, "u/") != 0) {
		store_show(s3->store, "u/");
		fail_msg("s3 run r%u: a failed write left its multipart upload",
			 s3->serial);
	}
}

static void s3_store_done(const struct torture_backend *be, struct fs *child)
{
	struct s3_state *s3 = be->context;
	char prefix[64];
	int stored;

	if (fs_mock_backend_count(s3->mock, "u/") != 0) {
		store_show(s3->store, "u/");
		fail_msg("s3 run r%u: unfinished multipart uploads left",
			 s3->serial);
	}
	snprintf(prefix, sizeof(prefix), "b/" TT_BUCKET "/r%u/", s3->serial);
	stored = fs_mock_backend_count(s3->mock, prefix);
	/* what the driver lists is all there is under its prefix */
	assert_int_equal(torture_store_empty(child), stored);
	if (fs_mock_backend_count(s3->mock, "b/") != 0) {
		store_show(s3->store, "b/");
		fail_msg("s3 run r%u: stray objects left", s3->serial);
	}
}

static int s3_setup(void **state)
{
	static const char *const buckets[] = {TT_BUCKET, NULL};
	struct fs_mock_settings set;
	struct s3_state *s3;

	s3 = calloc(1, sizeof(*s3));
	if (s3 == NULL)
		return -1;
	*state = s3;
	if (fs_init("mem:name=torture-s3", NULL, &s3->store, NULL) < 0)
		return -1;
	fs_mock_settings_init(&set);
	set.backend = "mem:name=torture-s3";
	set.min_part_size = 64 * 1024;
	set.buckets = buckets;
	s3->mock = fs_mock_start(&set, NULL);
	fs_settings_init(&s3->set);
	s3->set.access_key = S3T_ACCESS_KEY;
	s3->set.secret_key = S3T_SECRET_KEY;
	return s3->mock != NULL ? 0 : -1;
}

static int s3_teardown(void **state)
{
	struct s3_state *s3 = *state;

	fs_mock_stop(&s3->mock);
	fs_deinit(&s3->store);
	free(s3);
	return 0;
}

static void test_torture_s3(void **state)
{
	struct s3_state *s3 = *state;
	const struct torture_backend be = {
		.name = "s3",
		.settings = &s3->set,
		.store_new = s3_store_new,
		.write_failed = s3_write_failed,
		.store_done = s3_store_done,
		.context = s3,
	};
	uint64_t parts, uploads;

	torture(&be);
	/* the big object went up in parts, at least three per upload */
	uploads = fs_mock_counter(s3->mock, "CompleteMultipartUpload");
	parts = fs_mock_counter(s3->mock, "UploadPart");
	assert_true(uploads > 0);
	assert_true(parts >= 3 * uploads);
	/* and failed writes aborted theirs */
	assert_true(fs_mock_counter(s3->mock, "AbortMultipartUpload") > 0);
}

/* ------------------------------------------------------------------------ */
/* WebDAV                                                                     */

#ifdef LIBFS_DRIVER_DAV
struct dav_state {
	struct fs_mock *mock;
	struct fs *store; /* the mock's backing store, read directly */
	struct fs_settings set;
	unsigned int serial;
};

/* Sends METHOD /rN/ with the test's credentials; returns the status. */
static long dav_request(struct dav_state *dav, const char *method)
{
	char url[256];
	long status = -1;
	CURL *curl;

	snprintf(url, sizeof(url), "%s/r%u/", fs_mock_url(dav->mock),
		 dav->serial);
	curl = curl_easy_init();
	assert_non_null(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_USERNAME, TT_DAV_USER);
	curl_easy_setopt(curl, CURLOPT_PASSWORD, TT_DAV_PASSWORD);
	curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_ANY);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s3t_discard);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	return status;
}

static char *dav_store_new(const struct torture_backend *be)
{
	struct dav_state *dav = be->context;
	char *spec;

	dav->serial++;
	assert_int_equal(dav_request(dav, "MKCOL"), 201);
	if (asprintf(&spec,
		     "dav+http://" TT_DAV_USER "@127.0.0.1:%u/r%u/?buffer=64k",
		     fs_mock_port(dav->mock), dav->serial) < 0)
		return NULL;
	return spec;
}

/* The temporaries of the mock's store (".libfs~-tmp-*" for the driver's
   ".libfs-tmp-*"); returns their count. */
static unsigned int dav_tmp_count(struct dav_state *dav)
{
	struct fs_iter *iter;
	const char *key, *seg;
	unsigned int count = 0;

	assert_int_equal(fs_iter_init(dav->store, "", 0, &iter), 0);
	while (fs_iter_next(iter, &key) > 0) {
		seg = strrchr(key, '/');
		seg = seg != NULL ? seg + 1 : key;
		if (strncmp(seg, ".libfs", 6) == 0) {
			fprintf(stderr, "temporary in the store: %s\n", key);
			count++;
		}
	}
	assert_int_equal(fs_iter_deinit(&iter), 0);
	return count;
}

static void dav_write_failed(const struct torture_backend *be)
{
	struct dav_state *dav = be->context;

	if (dav_tmp_count(dav) != 0)
		fail_msg("dav run r%u: a failed write left its temporary",
			 dav->serial);
}

static void dav_store_done(const struct torture_backend *be, struct fs *child)
{
	struct dav_state *dav = be->context;

	/* hidden temporaries are not listed: they show in the store */
	torture_store_empty(child);
	if (store_show(dav->store, "") != 0)
		fail_msg("dav run r%u: resources left behind", dav->serial);
	assert_int_equal(dav_request(dav, "DELETE"), 204);
}

static int dav_setup(void **state)
{
	static const struct fs_mock_credential cred = {TT_DAV_USER,
						       TT_DAV_PASSWORD};
	struct fs_mock_settings set;
	struct dav_state *dav;

	dav = calloc(1, sizeof(*dav));
	if (dav == NULL)
		return -1;
	*state = dav;
	if (fs_init("mem:name=torture-dav", NULL, &dav->store, NULL) < 0)
		return -1;
	fs_mock_settings_init(&set);
	set.backend = "mem:name=torture-dav";
	set.dav = true;
	set.credentials = &cred;
	set.credentials_count = 1;
	dav->mock = fs_mock_start(&set, NULL);
	fs_settings_init(&dav->set);
	dav->set.password = TT_DAV_PASSWORD;
	return dav->mock != NULL ? 0 : -1;
}

static int dav_teardown(void **state)
{
	struct dav_state *dav = *state;

	fs_mock_stop(&dav->mock);
	fs_deinit(&dav->store);
	free(dav);
	return 0;
}

static void test_torture_dav(void **state)
{
	struct dav_state *dav = *state;
	const struct torture_backend be = {
		.name = "dav",
		.settings = &dav->set,
		.store_new = dav_store_new,
		.write_failed = dav_write_failed,
		.store_done = dav_store_done,
		.context = dav,
	};

	torture(&be);
	/* writes with metadata went through temporaries and MOVE */
	assert_true(fs_mock_counter(dav->mock, "Move") > 0);
}
#endif

/* ------------------------------------------------------------------------ */
/* MogileFS                                                                   */

#ifdef LIBFS_DRIVER_MOGILEFS
struct mog_state {
	struct fs_mogmock *mock;
	char *spec;
	unsigned int runs;
};

/* Asserts that the domain and the storage nodes are empty. */
static void mog_assert_empty(struct mog_state *mog)
{
	struct fs_mogmock_state st;

	assert_int_equal(fs_mogmock_settle(mog->mock, 30000), 0);
	assert_int_equal(fs_mogmock_state(mog->mock, &st), 0);
	if (st.keys != 0 || st.tempfiles != 0 || st.stored != 0)
		fail_msg("mogilefs run %u: left behind: %u keys, %u "
			 "tempfiles, %u stored files",
			 mog->runs, st.keys, st.tempfiles, st.stored);
}

/* A failed write holds no create_open. */
static void mog_write_failed(const struct torture_backend *be)
{
	struct mog_state *mog = be->context;
	struct fs_mogmock_state st;

	assert_int_equal(fs_mogmock_state(mog->mock, &st), 0);
	if (st.tempfiles != 0)
		fail_msg("mogilefs run %u: a failed write left %u tempfiles",
			 mog->runs, st.tempfiles);
}

static char *mog_store_new(const struct torture_backend *be)
{
	struct mog_state *mog = be->context;

	mog->runs++;
	mog_assert_empty(mog);
	return strdup(mog->spec);
}

static void mog_store_done(const struct torture_backend *be, struct fs *child)
{
	struct mog_state *mog = be->context;
	struct fs_mogmock_state st;

	/* no create_open is left open, before and after the workers ran */
	assert_int_equal(fs_mogmock_state(mog->mock, &st), 0);
	assert_int_equal(st.tempfiles, 0);
	assert_int_equal(torture_store_empty(child), st.keys);
	mog_assert_empty(mog);
}

static int mog_setup(void **state)
{
	struct fs_mogmock_settings set;
	struct mog_state *mog;

	mog = calloc(1, sizeof(*mog));
	if (mog == NULL)
		return -1;
	*state = mog;
	fs_mogmock_settings_init(&set);
	set.seed = 1;
	mog->mock = fs_mogmock_start(&set, NULL);
	if (mog->mock != NULL)
		mog->spec = fs_mogmock_spec(mog->mock, NULL);
	return mog->spec != NULL ? 0 : -1;
}

static int mog_teardown(void **state)
{
	struct mog_state *mog = *state;

	free(mog->spec);
	fs_mogmock_stop(&mog->mock);
	free(mog);
	return 0;
}

static void test_torture_mogilefs(void **state)
{
	struct mog_state *mog = *state;
	const struct torture_backend be = {
		.name = "mogilefs",
		.store_new = mog_store_new,
		.write_failed = mog_write_failed,
		.store_done = mog_store_done,
		.context = mog,
	};

	torture(&be);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_torture_s3, s3_setup,
						s3_teardown),
#ifdef LIBFS_DRIVER_DAV
		cmocka_unit_test_setup_teardown(test_torture_dav, dav_setup,
						dav_teardown),
#endif
#ifdef LIBFS_DRIVER_MOGILEFS
		cmocka_unit_test_setup_teardown(test_torture_mogilefs,
						mog_setup, mog_teardown),
#endif
	};

	return cmocka_run_group_tests(tests, torture_setup, torture_teardown);
}
