/*
 * Helpers of the WebDAV driver tests on the in-process mock server
 * (test_mock_dav*.c): a mock in WebDAV mode over a posix store in a
 * temporary directory (so that what the driver left there can be seen),
 * stacks opened on it, raw requests with libcurl, and a look for
 * temporary objects in the store.
 */
#ifndef TEST_DAV_H
#define TEST_DAV_H

#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "libfs/fs.h"
#include "mockserver.h"

#define DT_USER "alice"
#define DT_PASSWORD "wonder land"

struct dt_server {
	struct fs_mock *mock;
	char dir[64];	/* the store's directory */
	char store[96]; /* "posix:DIR" */
};

static inline int dt_rm(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* Starts the mock with authentication auth ("any", "basic", "digest",
   "none") and faults (NULL-terminated, or NULL). */
static inline void dt_start(struct dt_server *srv, const char *auth,
			    const char *const *faults)
{
	static const struct fs_mock_credential cred = {DT_USER, DT_PASSWORD};
	struct fs_mock_settings set;
	char *error = NULL;

	memset(srv, 0, sizeof(*srv));
	strcpy(srv->dir, "/tmp/libfs-test-dav-XXXXXX");
	assert_non_null(mkdtemp(srv->dir));
	snprintf(srv->store, sizeof(srv->store), "posix:%s", srv->dir);
	fs_mock_settings_init(&set);
	set.backend = srv->store;
	set.dav = true;
	set.dav_auth = auth;
	set.credentials = &cred;
	set.credentials_count = 1;
	set.faults = faults;
	srv->mock = fs_mock_start(&set, &error);
	if (srv->mock == NULL)
		print_error("fs_mock_start: %s\n", error != NULL ? error : "?");
	free(error);
	assert_non_null(srv->mock);
}

static inline void dt_stop(struct dt_server *srv)
{
	fs_mock_stop(&srv->mock);
	nftw(srv->dir, dt_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* "dav+http://alice@127.0.0.1:PORT/" + options. */
static inline void dt_spec(struct dt_server *srv, char *buf, size_t size,
			   const char *options)
{
	snprintf(buf, size, "dav+http://" DT_USER "@127.0.0.1:%u/%s",
		 fs_mock_port(srv->mock), options != NULL ? options : "");
}

/* Opens the driver on the server with the password in the settings. */
static inline struct fs *dt_open(struct dt_server *srv, const char *options)
{
	struct fs_settings set;
	struct fs *fs = NULL;
	const char *error = NULL;
	char spec[256];
	int ret;

	dt_spec(srv, spec, sizeof(spec), options);
	fs_settings_init(&set);
	set.password = DT_PASSWORD;
	set.retry_base_ms = 1;
	set.retry_max_ms = 5;
	ret = fs_init(spec, &set, &fs, &error);
	if (ret < 0)
		print_error("fs_init(%s): %s\n", spec, error);
	assert_int_equal(ret, 0);
	return fs;
}

static inline int dt_put(struct fs *fs, const char *key, unsigned int mode,
			 const void *data, size_t size)
{
	struct fs_file *file = NULL;
	int ret = fs_file_init(fs, key, mode, &file);

	if (ret == 0)
		ret = fs_write_all(file, data, size);
	if (ret < 0 && ret != -EEXIST)
		print_message("put %s: %s\n", key, fs_file_last_error(file));
	fs_file_deinit(&file);
	return ret;
}

/* Reads key: returns fs_read_all()'s result, the data in *data_r. */
static inline int dt_get(struct fs *fs, const char *key, void **data_r,
			 size_t *size_r)
{
	struct fs_file *file = NULL;
	int ret = fs_file_init(fs, key, FS_OPEN_READ, &file);

	*data_r = NULL;
	*size_r = 0;
	if (ret == 0)
		ret = fs_read_all(file, data_r, size_r);
	fs_file_deinit(&file);
	return ret;
}

static inline void dt_expect(struct fs *fs, const char *key, const void *data,
			     size_t size)
{
	void *got;
	size_t got_size;

	assert_int_equal(dt_get(fs, key, &got, &got_size), 0);
	assert_int_equal(got_size, size);
	assert_memory_equal(got, data, size);
	free(got);
}

static inline void dt_expect_missing(struct fs *fs, const char *key)
{
	void *got;
	size_t got_size;

	assert_int_equal(dt_get(fs, key, &got, &got_size), -ENOENT);
	assert_null(got);
}

static unsigned int dt_leftover_count;

static inline int dt_leftover(const char *path, const struct stat *st, int type,
			      struct FTW *ftw)
{
	(void)st;
	if (strncmp(path + ftw->base, ".libfs", 6) == 0) {
		print_error("left in the store: %s\n", path);
		dt_leftover_count++;
	}
	(void)type;
	return 0;
}

/* The number of temporary objects (the driver's, the posix store's) in the
   store. */
static inline unsigned int dt_leftovers(struct dt_server *srv)
{
	dt_leftover_count = 0;
	nftw(srv->dir, dt_leftover, 16, FTW_PHYS);
	return dt_leftover_count;
}

/* Does the store hold path (relative to its directory)? */
static inline bool dt_store_has(struct dt_server *srv, const char *path)
{
	char full[512];
	struct stat st;

	snprintf(full, sizeof(full), "%s/%s", srv->dir, path);
	return stat(full, &st) == 0;
}

static inline size_t dt_discard(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * n;
}

/* Sends method to path with a header line (or NULL) as the test user.
   Returns the HTTP status, or -1. */
static inline long dt_http_hdr(struct dt_server *srv, const char *method,
			       const char *path, const char *header)
{
	struct curl_slist *hdrs = NULL;
	char url[512];
	long status = -1;
	CURL *curl = curl_easy_init();

	if (curl == NULL)
		return -1;
	snprintf(url, sizeof(url), "%s%s", fs_mock_url(srv->mock), path);
	if (header != NULL)
		hdrs = curl_slist_append(hdrs, header);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_USERPWD, DT_USER ":" DT_PASSWORD);
	curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_ANY);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dt_discard);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	return status;
}

/* dt_http_hdr() with a Depth header if depth is not NULL. */
static inline long dt_http(struct dt_server *srv, const char *method,
			   const char *path, const char *depth)
{
	char line[64];

	snprintf(line, sizeof(line), "Depth: %s", depth != NULL ? depth : "");
	return dt_http_hdr(srv, method, path, depth != NULL ? line : NULL);
}

/* Fills buf with size bytes of pattern seed. */
static inline void dt_fill(unsigned char *buf, size_t size, unsigned int seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t i;

	for (i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

#endif
