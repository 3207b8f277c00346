/*
 * Helpers of the S3 driver tests (test_s3*.c, tests/interop/
 * conformance-mock.c): the in-process mock server with a bucket.
 */
#ifndef TEST_S3_H
#define TEST_S3_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/s3/sigv4.h"
#include "mockserver.h"

#define S3T_ACCESS_KEY "test"
#define S3T_SECRET_KEY "test"

static inline size_t s3t_discard(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * n;
}

/* Sends a signed PUT /bucket (CreateBucket). Returns the HTTP status, or -1
   if the request could not be made. */
static inline long s3t_create_bucket(struct fs_mock *mock, const char *bucket)
{
	struct fs_sigv4_credentials cred = {
		.access_key = S3T_ACCESS_KEY,
		.secret_key = S3T_SECRET_KEY,
		.region = fs_mock_region(mock),
		.service = "s3",
	};
	char ts[FS_SIGV4_TIMESTAMP_SIZE], host[64], path[256], url[512];
	char line[1024], *authz = NULL;
	struct fs_sigv4_header hdrs[3];
	struct fs_sigv4_request sreq = {
		.method = "PUT",
		.path = path,
		.query = "",
		.headers = hdrs,
		.header_count = 3,
		.payload_hash = FS_SIGV4_EMPTY_SHA256,
	};
	struct curl_slist *slist = NULL;
	CURL *curl;
	long status = -1;

	snprintf(host, sizeof(host), "127.0.0.1:%u", fs_mock_port(mock));
	snprintf(path, sizeof(path), "/%s", bucket);
	snprintf(url, sizeof(url), "%s/%s", fs_mock_url(mock), bucket);
	if (fs_sigv4_timestamp(time(NULL), ts) < 0)
		return -1;
	hdrs[0] = (struct fs_sigv4_header){"Host", host};
	hdrs[1] = (struct fs_sigv4_header){"x-amz-date", ts};
	hdrs[2] = (struct fs_sigv4_header){"x-amz-content-sha256",
					   FS_SIGV4_EMPTY_SHA256};
	if (fs_sigv4_sign_request(&sreq, &cred, ts, NULL, NULL, &authz, NULL) <
	    0)
		return -1;
	curl = curl_easy_init();
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "%s: %s", hdrs[i].name,
			 hdrs[i].value);
		slist = curl_slist_append(slist, line);
	}
	snprintf(line, sizeof(line), "Authorization: %s", authz);
	slist = curl_slist_append(slist, line);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, slist);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s3t_discard);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(slist);
	curl_easy_cleanup(curl);
	free(authz);
	return status;
}

/* Starts the mock with set and creates bucket (signed as test/test, which
   set's credentials must accept). Returns the server or NULL (printing
   why). */
static inline struct fs_mock *
s3t_mock_start_set(const char *bucket, const struct fs_mock_settings *set)
{
	struct fs_mock *mock;
	char *error = NULL;
	long status;

	mock = fs_mock_start(set, &error);
	if (mock == NULL) {
		fprintf(stderr, "fs_mock_start: %s\n",
			error != NULL ? error : "?");
		free(error);
		return NULL;
	}
	status = s3t_create_bucket(mock, bucket);
	if (status != 200) {
		fprintf(stderr, "CreateBucket %s: HTTP %ld\n", bucket, status);
		fs_mock_stop(&mock);
	}
	return mock;
}

/* Starts the mock on backend (NULL: "mem:") with parts of min_part_size
   bytes at least (0: S3's 5 MiB) and creates bucket. */
static inline struct fs_mock *
s3t_mock_start(const char *bucket, uint64_t min_part_size, const char *backend)
{
	struct fs_mock_settings set;

	fs_mock_settings_init(&set);
	set.min_part_size = min_part_size;
	set.backend = backend;
	return s3t_mock_start_set(bucket, &set);
}

#endif
