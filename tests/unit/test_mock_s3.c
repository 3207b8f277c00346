/*
 * The mock server's S3 front end, driven with raw libcurl requests signed
 * with drivers/s3/sigv4.h: objects, authentication, presigned URLs, ranges,
 * conditions, multipart uploads, listings, copies, batch deletes, CRC-32
 * flexible checksums, every fault action, the admin endpoint and the
 * counters.
 */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "drivers/s3/sigv4.h"
#include "mockserver.h"

#define BUCKET "bkt"

static struct fs_mock *mock;
static CURL *curl;

/* ------------------------------------------------------------------------ */
/* HTTP helpers                                                               */

struct resp {
	long status;
	CURLcode code;
	char *body;
	size_t len, alloc;
	char headers[8192];
	size_t hlen;
	double seconds;
};

enum sign {
	SIGN_V4 = 0,
	SIGN_V4_UNSIGNED,
	SIGN_V4_BAD_SECRET,
	SIGN_V4_UNKNOWN_KEY,
	SIGN_V2,
	SIGN_NONE,
};

struct req {
	const char *method;
	const char *path;	    /* raw, encoded */
	const char *query;	    /* raw, without '?' */
	const char *const *headers; /* "Name: value", NULL-terminated */
	const void *body;
	size_t body_len;
	enum sign sign;
	const char *host;	  /* Host header, default 127.0.0.1:PORT */
	const char *payload_hash; /* x-amz-content-sha256 override */
};

static size_t resp_body_cb(char *data, size_t size, size_t n, void *ctx)
{
	struct resp *r = ctx;
	size_t len = size * n;

	if (r->len + len + 1 > r->alloc) {
		r->alloc = (r->len + len + 1) * 2;
		r->body = realloc(r->body, r->alloc);
		assert_non_null(r->body);
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static size_t resp_header_cb(char *data, size_t size, size_t n, void *ctx)
{
	struct resp *r = ctx;
	size_t len = size * n;

	/* A new status line (after 100 Continue) starts over. */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		r->hlen = 0;
	if (r->hlen + len < sizeof(r->headers)) {
		memcpy(r->headers + r->hlen, data, len);
		r->hlen += len;
		r->headers[r->hlen] = '\0';
	}
	return len;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* Copies the value of header name into buf; returns buf or NULL. */
static const char *resp_header(const struct resp *r, const char *name,
			       char *buf, size_t size)
{
	const char *p = r->headers, *end;
	size_t nlen = strlen(name), vlen;

	while ((end = strstr(p, "\r\n")) != NULL) {
		if ((size_t)(end - p) > nlen &&
		    strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			p += nlen + 1;
			while (*p == ' ')
				p++;
			vlen = (size_t)(end - p);
			if (vlen >= size)
				vlen = size - 1;
			memcpy(buf, p, vlen);
			buf[vlen] = '\0';
			return buf;
		}
		p = end + 2;
	}
	return NULL;
}

/* Copies the text of the first <elem> of the body into buf. */
static const char *xml_get(const struct resp *r, const char *elem, char *buf,
			   size_t size)
{
	char open[64], close[64];
	const char *p, *end;
	size_t len;

	snprintf(open, sizeof(open), "<%s>", elem);
	snprintf(close, sizeof(close), "</%s>", elem);
	if (r->body == NULL || (p = strstr(r->body, open)) == NULL)
		return NULL;
	p += strlen(open);
	end = strstr(p, close);
	if (end == NULL)
		return NULL;
	len = (size_t)(end - p);
	if (len >= size)
		len = size - 1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

static unsigned int xml_count(const struct resp *r, const char *needle)
{
	const char *p = r->body;
	unsigned int n = 0;

	while (p != NULL && (p = strstr(p, needle)) != NULL) {
		n++;
		p++;
	}
	return n;
}

static void assert_s3_error(const struct resp *r, long status, const char *code)
{
	char buf[128];

	assert_int_equal(r->status, status);
	assert_non_null(xml_get(r, "Code", buf, sizeof(buf)));
	assert_string_equal(buf, code);
	assert_non_null(resp_header(r, "x-amz-request-id", buf, sizeof(buf)));
}

static const char *header_value(const char *line, char *name, size_t size)
{
	const char *colon = strchr(line, ':');
	size_t len = (size_t)(colon - line);

	assert_non_null(colon);
	assert_true(len < size);
	memcpy(name, line, len);
	name[len] = '\0';
	colon++;
	while (*colon == ' ')
		colon++;
	return colon;
}

/* Adds the SigV2 Authorization header to list. */
static struct curl_slist *sign_v2(const struct req *rq,
				  struct fs_sigv4_header *h, size_t count,
				  struct curl_slist *list)
{
	struct fs_sigv2_request r2;
	const char *why = NULL;
	char *sts = NULL, sig[FS_SIGV2_SIGNATURE_SIZE], line[256];

	memset(&r2, 0, sizeof(r2));
	/* Virtual-hosted: the bucket is in the Host, and in what is signed. */
	r2.bucket = rq->host != NULL ? BUCKET : NULL;
	r2.method = rq->method;
	r2.path = rq->path;
	r2.query = rq->query;
	r2.headers = h;
	r2.header_count = count;
	assert_int_equal(fs_sigv2_string_to_sign(&r2, NULL, &sts, &why), 0);
	assert_int_equal(fs_sigv2_signature("test", sts, sig), 0);
	free(sts);
	snprintf(line, sizeof(line), "Authorization: AWS test:%s", sig);
	return curl_slist_append(list, line);
}

static struct curl_slist *sign_v4(const struct req *rq, const char *ts,
				  const char *payload,
				  struct fs_sigv4_header *h, size_t count,
				  struct curl_slist *list)
{
	struct fs_sigv4_credentials cred = {
		.access_key =
			rq->sign == SIGN_V4_UNKNOWN_KEY ? "nobody" : "test",
		.secret_key = rq->sign == SIGN_V4_BAD_SECRET ? "wrong" : "test",
		.region = "us-east-1",
		.service = "s3",
	};
	struct fs_sigv4_request r4;
	const char *why = NULL;
	char *authz = NULL, line[1024];

	memset(&r4, 0, sizeof(r4));
	r4.method = rq->method;
	r4.path = rq->path;
	r4.query = rq->query;
	r4.headers = h;
	r4.header_count = count;
	r4.payload_hash = payload;
	assert_int_equal(
		fs_sigv4_sign_request(&r4, &cred, ts, NULL, NULL, &authz, &why),
		0);
	snprintf(line, sizeof(line), "Authorization: %s", authz);
	free(authz);
	return curl_slist_append(list, line);
}

static void setup_curl_body(CURL *h, const struct req *rq)
{
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (rq->body != NULL || strcmp(rq->method, "PUT") == 0 ||
		   strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
				 rq->body != NULL ? rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)rq->body_len);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
}

/* Sets h up for the signed request rq; the caller frees *list_r after
   the transfer. */
static void prepare(CURL *h, const struct req *rq, struct resp *r,
		    struct curl_slist **list_r)
{
	struct fs_sigv4_header hd[32];
	struct curl_slist *list = NULL;
	char host[128], ts[FS_SIGV4_TIMESTAMP_SIZE], date[64], payload[80];
	char url[4096], lines[32][512], name[64];
	size_t count = 0, i;
	time_t now = time(NULL);
	struct tm tm;

	memset(r, 0, sizeof(*r));
	snprintf(host, sizeof(host), "127.0.0.1:%u", fs_mock_port(mock));
	assert_int_equal(fs_sigv4_timestamp(now, ts), 0);
	if (rq->payload_hash != NULL)
		snprintf(payload, sizeof(payload), "%s", rq->payload_hash);
	else if (rq->sign == SIGN_V4_UNSIGNED)
		snprintf(payload, sizeof(payload), "UNSIGNED-PAYLOAD");
	else
		fs_sigv4_sha256_hex(rq->body != NULL ? rq->body : "",
				    rq->body_len, payload);
	snprintf(lines[count], sizeof(lines[0]), "Host: %s",
		 rq->host != NULL ? rq->host : host);
	count++;
	if (rq->sign == SIGN_V2) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		snprintf(lines[count++], sizeof(lines[0]), "Date: %s", date);
	} else {
		snprintf(lines[count++], sizeof(lines[0]), "X-Amz-Date: %s",
			 ts);
		snprintf(lines[count++], sizeof(lines[0]),
			 "X-Amz-Content-Sha256: %s", payload);
	}
	for (i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
		snprintf(lines[count++], sizeof(lines[0]), "%s",
			 rq->headers[i]);
	for (i = 0; i < count; i++) {
		hd[i].value = header_value(lines[i], name, sizeof(name));
		hd[i].name = strndup(lines[i], strlen(name));
		list = curl_slist_append(list, lines[i]);
	}
	if (rq->sign == SIGN_V2)
		list = sign_v2(rq, hd, count, list);
	else if (rq->sign != SIGN_NONE)
		list = sign_v4(rq, ts, payload, hd, count, list);
	for (i = 0; i < count; i++)
		free((char *)hd[i].name);
	/* No Content-Type unless the test sets one. */
	list = curl_slist_append(list, "Content-Type:");

	snprintf(url, sizeof(url), "%s%s%s%s", fs_mock_url(mock), rq->path,
		 rq->query != NULL ? "?" : "",
		 rq->query != NULL ? rq->query : "");
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, resp_body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, resp_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	setup_curl_body(h, rq);
	*list_r = list;
}

static void do_request(const struct req *rq, struct resp *r)
{
	struct curl_slist *list;

	prepare(curl, rq, r, &list);
	r->code = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &r->seconds);
	curl_slist_free_all(list);
}

/* Shorthands. */
static void s3(const char *method, const char *path, const char *query,
	       const void *body, size_t len, struct resp *r)
{
	struct req rq = {.method = method,
			 .path = path,
			 .query = query,
			 .body = body,
			 .body_len = len};

	do_request(&rq, r);
}

static void put_object(const char *path, const void *data, size_t len)
{
	struct resp r;

	s3("PUT", path, NULL, data, len, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static char *pattern(size_t len, unsigned int seed)
{
	char *data = malloc(len + 1);
	size_t i;

	assert_non_null(data);
	for (i = 0; i < len; i++)
		data[i] = (char)('a' + (i * 7 + seed + i / 251) % 26);
	data[len] = '\0';
	return data;
}

static void md5_hex(const void *data, size_t len, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0, i;

	EVP_Digest(data, len, md, &mlen, EVP_md5(), NULL);
	for (i = 0; i < 16; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
}

static void md5_b64(const void *data, size_t len, char b64[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;

	EVP_Digest(data, len, md, &mlen, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)b64, md, 16);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                     */

static int group_setup(void **state)
{
	struct fs_mock_settings set;
	char *error = NULL;
	struct resp r;
	long status;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	fs_mock_settings_init(&set);
	mock = fs_mock_start(&set, &error);
	if (mock == NULL) {
		fprintf(stderr, "fs_mock_start: %s\n", error);
		free(error);
		return -1;
	}
	curl = curl_easy_init();
	s3("PUT", "/" BUCKET, NULL, NULL, 0, &r);
	status = r.status;
	if (status != 200)
		fprintf(stderr, "creating the bucket: curl %d, HTTP %ld: %s\n",
			r.code, r.status, r.body != NULL ? r.body : "");
	resp_free(&r);
	return status == 200 ? 0 : -1;
}

static int group_teardown(void **state)
{
	curl_easy_cleanup(curl);
	fs_mock_stop(&mock);
	assert_null(mock);
	curl_global_cleanup();
	return 0;
}

static int test_setup(void **state)
{
	fs_mock_faults_clear(mock);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                      */

static void test_start_errors(void **state)
{
	struct fs_mock_settings set;
	char *error = NULL;

	fs_mock_settings_init(&set);
	set.listen = "10.1.2.3:0";
	assert_null(fs_mock_start(&set, &error));
	assert_non_null(strstr(error, "not loopback"));
	free(error);

	fs_mock_settings_init(&set);
	set.backend = "nosuchdriver:";
	assert_null(fs_mock_start(&set, &error));
	assert_non_null(strstr(error, "nosuchdriver"));
	free(error);

	fs_mock_settings_init(&set);
	{
		const char *faults[] = {"op=GetObject,bogus=1", NULL};

		set.faults = faults;
		assert_null(fs_mock_start(&set, &error));
		assert_non_null(strstr(error, "bogus"));
		free(error);
	}
	assert_int_equal(fs_mock_fault_add(mock, "nth=0,status=503", &error),
			 -EINVAL);
	free(error);
	assert_int_equal(fs_mock_fault_add(mock, "op=GetObject", &error),
			 -EINVAL);
	assert_non_null(strstr(error, "no action"));
	free(error);
}

static void test_object_round_trip(void **state)
{
	static const char *const hdrs[] = {
		"Content-Type: text/plain",
		"x-amz-meta-color: blue",
		"X-Amz-Meta-Shape: round",
		NULL,
	};
	struct req rq = {.method = "PUT",
			 .path = "/" BUCKET "/dir/hello.txt",
			 .headers = hdrs,
			 .body = "hello world",
			 .body_len = 11};
	char buf[256], md5[33];
	struct resp r;

	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	md5_hex("hello world", 11, md5);
	snprintf(buf, sizeof(buf), "\"%s\"", md5);
	{
		char etag[64];

		assert_non_null(resp_header(&r, "ETag", etag, sizeof(etag)));
		assert_string_equal(etag, buf);
	}
	resp_free(&r);

	s3("GET", "/" BUCKET "/dir/hello.txt", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 11);
	assert_memory_equal(r.body, "hello world", 11);
	assert_string_equal(resp_header(&r, "Content-Type", buf, sizeof(buf)),
			    "text/plain");
	assert_string_equal(
		resp_header(&r, "x-amz-meta-color", buf, sizeof(buf)), "blue");
	assert_string_equal(
		resp_header(&r, "x-amz-meta-shape", buf, sizeof(buf)), "round");
	assert_non_null(resp_header(&r, "Last-Modified", buf, sizeof(buf)));
	resp_free(&r);

	s3("HEAD", "/" BUCKET "/dir/hello.txt", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	assert_string_equal(resp_header(&r, "Content-Length", buf, sizeof(buf)),
			    "11");
	resp_free(&r);

	/* Default content type, empty object. */
	put_object("/" BUCKET "/empty", "", 0);
	s3("GET", "/" BUCKET "/empty", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	assert_string_equal(resp_header(&r, "Content-Type", buf, sizeof(buf)),
			    "binary/octet-stream");
	resp_free(&r);

	s3("DELETE", "/" BUCKET "/dir/hello.txt", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	s3("GET", "/" BUCKET "/dir/hello.txt", NULL, NULL, 0, &r);
	assert_s3_error(&r, 404, "NoSuchKey");
	resp_free(&r);
	s3("HEAD", "/" BUCKET "/dir/hello.txt", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	/* Deleting what is not there is a success, as on S3. */
	s3("DELETE", "/" BUCKET "/dir/hello.txt", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	s3("DELETE", "/" BUCKET "/empty", NULL, NULL, 0, &r);
	resp_free(&r);
}

static void test_buckets(void **state)
{
	char buf[64];
	struct resp r;

	s3("PUT", "/" BUCKET, NULL, NULL, 0, &r);
	assert_s3_error(&r, 409, "BucketAlreadyOwnedByYou");
	resp_free(&r);
	s3("PUT", "/Bad_Name", NULL, NULL, 0, &r);
	assert_s3_error(&r, 400, "InvalidBucketName");
	resp_free(&r);
	s3("GET", "/nosuchbucket/x", NULL, NULL, 0, &r);
	assert_s3_error(&r, 404, "NoSuchBucket");
	resp_free(&r);
	s3("HEAD", "/nosuchbucket", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);

	s3("PUT", "/second", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	s3("GET", "/", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<Name>" BUCKET "</Name>"));
	assert_non_null(strstr(r.body, "<Name>second</Name>"));
	resp_free(&r);
	s3("GET", "/second", "location", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<LocationConstraint"));
	resp_free(&r);
	s3("HEAD", "/second", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(
		resp_header(&r, "x-amz-bucket-region", buf, sizeof(buf)),
		"us-east-1");
	resp_free(&r);

	put_object("/second/k", "x", 1);
	s3("DELETE", "/second", NULL, NULL, 0, &r);
	assert_s3_error(&r, 409, "BucketNotEmpty");
	resp_free(&r);
	s3("DELETE", "/second/k", NULL, NULL, 0, &r);
	resp_free(&r);
	s3("DELETE", "/second", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	s3("HEAD", "/second", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "b/second/"), 0);
}

static void test_auth(void **state)
{
	struct req rq = {.method = "GET", .path = "/" BUCKET "/auth"};
	char buf[256];
	struct resp r;

	put_object("/" BUCKET "/auth", "secret data", 11);

	rq.sign = SIGN_V4_BAD_SECRET;
	do_request(&rq, &r);
	assert_s3_error(&r, 403, "SignatureDoesNotMatch");
	assert_non_null(xml_get(&r, "CanonicalRequest", buf, sizeof(buf)));
	assert_null(strstr(r.body, "secret data"));
	resp_free(&r);

	rq.sign = SIGN_V4_UNKNOWN_KEY;
	do_request(&rq, &r);
	assert_s3_error(&r, 403, "InvalidAccessKeyId");
	resp_free(&r);

	rq.sign = SIGN_NONE;
	do_request(&rq, &r);
	assert_s3_error(&r, 403, "AccessDenied");
	resp_free(&r);

	/* SigV2, as s3cmd can send it. */
	rq.sign = SIGN_V2;
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 11);
	resp_free(&r);

	/* UNSIGNED-PAYLOAD upload. */
	rq.method = "PUT";
	rq.sign = SIGN_V4_UNSIGNED;
	rq.body = "abc";
	rq.body_len = 3;
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);

	/* aws-chunked is refused clearly. */
	rq.sign = SIGN_V4;
	rq.payload_hash = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
	do_request(&rq, &r);
	assert_s3_error(&r, 501, "NotImplemented");
	resp_free(&r);

	/* A body that is not what was signed is not stored. */
	rq.payload_hash = FS_SIGV4_EMPTY_SHA256;
	rq.body = "tampered";
	rq.body_len = 8;
	do_request(&rq, &r);
	assert_s3_error(&r, 400, "XAmzContentSHA256Mismatch");
	resp_free(&r);
	s3("GET", "/" BUCKET "/auth", NULL, NULL, 0, &r);
	assert_int_equal(r.len, 3);
	assert_memory_equal(r.body, "abc", 3);
	resp_free(&r);
}

static void test_content_md5(void **state)
{
	char good[64], bad[64], b64[32];
	const char *hdrs[] = {good, NULL};
	struct req rq = {.method = "PUT",
			 .path = "/" BUCKET "/md5",
			 .headers = hdrs,
			 .body = "payload",
			 .body_len = 7};
	struct resp r;

	md5_b64("payload", 7, b64);
	snprintf(good, sizeof(good), "Content-MD5: %s", b64);
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);

	md5_b64("other", 5, b64);
	snprintf(good, sizeof(good), "Content-MD5: %s", b64);
	rq.body = "changed";
	do_request(&rq, &r);
	assert_s3_error(&r, 400, "BadDigest");
	resp_free(&r);

	snprintf(bad, sizeof(bad), "Content-MD5: notbase64");
	hdrs[0] = bad;
	do_request(&rq, &r);
	assert_s3_error(&r, 400, "InvalidDigest");
	resp_free(&r);

	s3("GET", "/" BUCKET "/md5", NULL, NULL, 0, &r);
	assert_memory_equal(r.body, "payload", 7);
	resp_free(&r);
}

static void test_presigned(void **state)
{
	struct fs_sigv4_credentials cred = {.access_key = "test",
					    .secret_key = "test",
					    .region = "us-east-1",
					    .service = "s3"};
	struct fs_sigv4_header h[1];
	struct fs_sigv4_request r4;
	char host[64], ts[FS_SIGV4_TIMESTAMP_SIZE], url[2048];
	const char *why = NULL;
	char *query = NULL;
	struct resp r;
	int i;

	put_object("/" BUCKET "/shared", "presigned!", 10);
	snprintf(host, sizeof(host), "127.0.0.1:%u", fs_mock_port(mock));
	h[0].name = "Host";
	h[0].value = host;
	memset(&r4, 0, sizeof(r4));
	r4.method = "GET";
	r4.path = "/" BUCKET "/shared";
	r4.headers = h;
	r4.header_count = 1;
	r4.payload_hash = FS_SIGV4_UNSIGNED_PAYLOAD;
	for (i = 0; i < 2; i++) {
		/* Fresh, then an hour old with 60 s of validity. */
		assert_int_equal(fs_sigv4_timestamp(time(NULL) - i * 3600, ts),
				 0);
		assert_int_equal(fs_sigv4_presign_query(&r4, &cred, ts, 60,
							NULL, NULL, &query,
							&why),
				 0);
		snprintf(url, sizeof(url), "%s/" BUCKET "/shared?%s",
			 fs_mock_url(mock), query);
		free(query);
		memset(&r, 0, sizeof(r));
		curl_easy_reset(curl);
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, resp_body_cb);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, resp_header_cb);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
		assert_int_equal(curl_easy_perform(curl), CURLE_OK);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
		if (i == 0) {
			assert_int_equal(r.status, 200);
			assert_memory_equal(r.body, "presigned!", 10);
		} else {
			assert_s3_error(&r, 403, "AccessDenied");
			assert_non_null(strstr(r.body, "expired"));
		}
		resp_free(&r);
	}
}

static void test_range(void **state)
{
	static const char *const h1[] = {"Range: bytes=2-5", NULL};
	static const char *const h2[] = {"Range: bytes=-3", NULL};
	static const char *const h3[] = {"Range: bytes=8-", NULL};
	static const char *const h4[] = {"Range: bytes=20-30", NULL};
	struct req rq = {.method = "GET", .path = "/" BUCKET "/range"};
	char buf[64];
	struct resp r;

	put_object("/" BUCKET "/range", "0123456789", 10);
	rq.headers = h1;
	do_request(&rq, &r);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.body, "2345", 4);
	assert_string_equal(resp_header(&r, "Content-Range", buf, sizeof(buf)),
			    "bytes 2-5/10");
	resp_free(&r);

	rq.headers = h2;
	do_request(&rq, &r);
	assert_int_equal(r.status, 206);
	assert_memory_equal(r.body, "789", 3);
	resp_free(&r);

	rq.headers = h3;
	do_request(&rq, &r);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, 2);
	assert_memory_equal(r.body, "89", 2);
	resp_free(&r);

	rq.headers = h4;
	do_request(&rq, &r);
	assert_s3_error(&r, 416, "InvalidRange");
	assert_string_equal(resp_header(&r, "Content-Range", buf, sizeof(buf)),
			    "bytes */10");
	resp_free(&r);
}

static void test_conditions(void **state)
{
	static const char *const inm[] = {"If-None-Match: *", NULL};
	char etag[64], line[128];
	const char *cond[] = {line, NULL};
	struct req rq = {.method = "PUT",
			 .path = "/" BUCKET "/cond",
			 .headers = inm,
			 .body = "v1",
			 .body_len = 2};
	struct resp r;

	s3("DELETE", "/" BUCKET "/cond", NULL, NULL, 0, &r);
	resp_free(&r);
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	resp_header(&r, "ETag", etag, sizeof(etag));
	resp_free(&r);
	rq.body = "v2";
	do_request(&rq, &r);
	assert_s3_error(&r, 412, "PreconditionFailed");
	resp_free(&r);

	rq.method = "GET";
	rq.body = NULL;
	rq.body_len = 0;
	rq.headers = cond;
	snprintf(line, sizeof(line), "If-None-Match: %s", etag);
	do_request(&rq, &r);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.len, 0);
	resp_free(&r);
	snprintf(line, sizeof(line), "If-Match: \"0123\"");
	do_request(&rq, &r);
	assert_s3_error(&r, 412, "PreconditionFailed");
	resp_free(&r);
	snprintf(line, sizeof(line), "If-Match: %s", etag);
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "v1", 2);
	resp_free(&r);
	snprintf(line, sizeof(line),
		 "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT");
	do_request(&rq, &r);
	assert_int_equal(r.status, 304);
	resp_free(&r);
}

static void test_bad_keys(void **state)
{
	struct resp r;

	s3("PUT", "/" BUCKET "/a//b", NULL, "x", 1, &r);
	assert_s3_error(&r, 400, "InvalidArgument");
	assert_non_null(strstr(r.body, "libfs"));
	resp_free(&r);
	s3("PUT", "/" BUCKET "/dir/", NULL, "x", 1, &r);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	s3("GET", "/" BUCKET "/a/%2E%2E/b", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	s3("GET", "/" BUCKET "/x", "versioning", NULL, 0, &r);
	assert_s3_error(&r, 501, "NotImplemented");
	resp_free(&r);
	{
		static const char *const pub[] = {"x-amz-acl: public-read",
						  NULL};
		struct req rq = {.method = "PUT",
				 .path = "/" BUCKET,
				 .query = "acl",
				 .headers = pub};

		do_request(&rq, &r);
		assert_s3_error(&r, 501, "NotImplemented");
		resp_free(&r);
	}
	s3("GET", "/" BUCKET, "acl", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "FULL_CONTROL"));
	resp_free(&r);
}

static void test_virtual_host(void **state)
{
	char host[64];
	struct req rq = {.method = "PUT",
			 .path = "/vhost/key",
			 .host = host,
			 .body = "virtual",
			 .body_len = 7};
	struct resp r;

	snprintf(host, sizeof(host), BUCKET ".localhost:%u",
		 fs_mock_port(mock));
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	s3("GET", "/" BUCKET "/vhost/key", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "virtual", 7);
	resp_free(&r);
	rq.sign = SIGN_V2;
	rq.method = "GET";
	rq.body = NULL;
	rq.body_len = 0;
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "virtual", 7);
	resp_free(&r);
}

/* Uploads a part; returns its quoted ETag in etag. */
static void upload_part(const char *path, const char *id, int num,
			const char *data, size_t len, char etag[64])
{
	char query[128];
	struct resp r;

	snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", num, id);
	s3("PUT", path, query, data, len, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(resp_header(&r, "ETag", etag, 64));
	resp_free(&r);
}

static void create_upload(const char *path, char id[64])
{
	struct resp r;

	s3("POST", path, "uploads", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(xml_get(&r, "UploadId", id, 64));
	resp_free(&r);
}

static void complete_xml(char *xml, size_t size, const int *nums,
			 char (*etags)[64], int count)
{
	size_t len;
	int i;

	len = (size_t)snprintf(xml, size, "<CompleteMultipartUpload>");
	for (i = 0; i < count; i++)
		len += (size_t)snprintf(xml + len, size - len,
					"<Part><PartNumber>%d</PartNumber>"
					"<ETag>%s</ETag></Part>",
					nums[i], etags[i]);
	snprintf(xml + len, size - len, "</CompleteMultipartUpload>");
}

static void test_multipart(void **state)
{
	const char *path = "/" BUCKET "/big/object";
	size_t sizes[3] = {5u << 20, 5u << 20, 1000}, total = 0, i;
	char *parts[3], etags[3][64], id[64], query[128], xml[1024];
	char md5s[16 * 3], expect[64], hex[33];
	int nums[3] = {1, 2, 3}, bad[2] = {2, 1};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mlen;
	struct resp r;

	create_upload(path, id);
	for (i = 0; i < 3; i++) {
		parts[i] = pattern(sizes[i], (unsigned int)i);
		upload_part(path, id, (int)i + 1, parts[i], sizes[i], etags[i]);
		EVP_Digest(parts[i], sizes[i], md, &mlen, EVP_md5(), NULL);
		memcpy(md5s + 16 * i, md, 16);
		total += sizes[i];
	}
	/* Unfinished uploads stay out of listings but show in their own. */
	s3("GET", "/" BUCKET, "list-type=2&prefix=big", NULL, 0, &r);
	assert_int_equal(xml_count(&r, "<Key>"), 0);
	resp_free(&r);
	s3("GET", "/" BUCKET, "uploads", NULL, 0, &r);
	assert_non_null(strstr(r.body, id));
	resp_free(&r);
	snprintf(query, sizeof(query), "uploadId=%s", id);
	s3("GET", path, query, NULL, 0, &r);
	assert_int_equal(xml_count(&r, "<Part>"), 3);
	resp_free(&r);

	complete_xml(xml, sizeof(xml), bad, etags, 2);
	s3("POST", path, query, xml, strlen(xml), &r);
	assert_s3_error(&r, 400, "InvalidPartOrder");
	resp_free(&r);
	/* Part 3 (1000 bytes) cannot be in the middle. */
	{
		int n[2] = {3, 2};
		char e[2][64];

		memcpy(e[0], etags[2], 64);
		memcpy(e[1], etags[1], 64);
		n[0] = 1;
		memcpy(e[0], etags[0], 64);
		complete_xml(xml, sizeof(xml), n, e, 2);
		/* Valid so far; now a wrong ETag. */
		strcpy(e[1], "\"00000000000000000000000000000000\"");
		complete_xml(xml, sizeof(xml), n, e, 2);
		s3("POST", path, query, xml, strlen(xml), &r);
		assert_s3_error(&r, 400, "InvalidPart");
		resp_free(&r);
	}
	complete_xml(xml, sizeof(xml), nums, etags, 3);
	s3("POST", path, query, xml, strlen(xml), &r);
	assert_int_equal(r.status, 200);
	EVP_Digest(md5s, sizeof(md5s), md, &mlen, EVP_md5(), NULL);
	for (i = 0; i < 16; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
	snprintf(expect, sizeof(expect), "&quot;%s-3&quot;", hex);
	if (strstr(r.body, expect) == NULL)
		fprintf(stderr, "expected %s in %s\n", expect, r.body);
	assert_non_null(strstr(r.body, expect));
	resp_free(&r);

	s3("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, total);
	for (i = 0, total = 0; i < 3; total += sizes[i], i++) {
		assert_memory_equal(r.body + total, parts[i], sizes[i]);
		free(parts[i]);
	}
	resp_free(&r);
	/* Nothing of the upload is left. */
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	s3("POST", path, query, xml, strlen(xml), &r);
	assert_s3_error(&r, 404, "NoSuchUpload");
	resp_free(&r);
	s3("DELETE", path, NULL, NULL, 0, &r);
	resp_free(&r);
}

static void test_multipart_small_and_abort(void **state)
{
	const char *path = "/" BUCKET "/small/object";
	char etags[2][64], id[64], query[128], xml[1024];
	int nums[2] = {1, 2};
	struct resp r;

	create_upload(path, id);
	upload_part(path, id, 1, "first", 5, etags[0]);
	upload_part(path, id, 2, "second", 6, etags[1]);
	snprintf(query, sizeof(query), "uploadId=%s", id);
	complete_xml(xml, sizeof(xml), nums, etags, 2);
	s3("POST", path, query, xml, strlen(xml), &r);
	assert_s3_error(&r, 400, "EntityTooSmall");
	resp_free(&r);
	s3("POST", path, query, "<Complete", 9, &r);
	assert_s3_error(&r, 400, "MalformedXML");
	resp_free(&r);

	/* A single part may be small. */
	complete_xml(xml, sizeof(xml), nums, etags, 1);
	{
		char id2[64], e[1][64];

		create_upload(path, id2);
		upload_part(path, id2, 1, "only", 4, e[0]);
		complete_xml(xml, sizeof(xml), nums, e, 1);
		snprintf(query, sizeof(query), "uploadId=%s", id2);
		s3("POST", path, query, xml, strlen(xml), &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
	}
	s3("GET", path, NULL, NULL, 0, &r);
	assert_memory_equal(r.body, "only", 4);
	resp_free(&r);

	/* Exclusive completion over an existing key: 412, upload kept. */
	{
		static const char *const inm[] = {"If-None-Match: *", NULL};
		static const char *const im[] = {"If-Match: \"x\"", NULL};
		char e[1][64];
		struct req rq = {.method = "POST",
				 .path = path,
				 .query = query,
				 .headers = inm};

		snprintf(query, sizeof(query), "uploadId=%s", id);
		memcpy(e[0], etags[0], 64);
		complete_xml(xml, sizeof(xml), nums, e, 1);
		rq.body = xml;
		rq.body_len = strlen(xml);
		do_request(&rq, &r);
		assert_s3_error(&r, 412, "PreconditionFailed");
		resp_free(&r);
		rq.headers = im;
		do_request(&rq, &r);
		assert_s3_error(&r, 501, "NotImplemented");
		resp_free(&r);
		s3("GET", path, query, NULL, 0, &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(xml_count(&r, "<Part>"), 2);
		resp_free(&r);
	}
	snprintf(query, sizeof(query), "uploadId=%s", id);
	s3("DELETE", path, query, NULL, 0, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	s3("DELETE", path, query, NULL, 0, &r);
	assert_s3_error(&r, 404, "NoSuchUpload");
	resp_free(&r);
	snprintf(query, sizeof(query), "partNumber=1&uploadId=%s", id);
	s3("PUT", path, query, "late", 4, &r);
	assert_s3_error(&r, 404, "NoSuchUpload");
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
}

static const char *const list_keys[] = {
	"list/a/1", "list/a/2", "list/a/3", "list/b/1",
	"list/c",   "list/d e", "list/e+f",
};
#define LIST_KEYS (sizeof(list_keys) / sizeof(*list_keys))

static void put_list_keys(void)
{
	char path[128], *enc;
	size_t i;

	for (i = 0; i < LIST_KEYS; i++) {
		assert_int_equal(fs_sigv4_uri_encode(list_keys[i], false, &enc),
				 0);
		snprintf(path, sizeof(path), "/" BUCKET "/%s", enc);
		free(enc);
		put_object(path, "x", 1);
	}
}

static void test_list_v2_pages(void **state)
{
	char query[512], token[256], key[128], *enc, *p;
	unsigned int seen = 0;
	struct resp r;

	put_list_keys();
	token[0] = '\0';
	do {
		if (token[0] == '\0') {
			snprintf(query, sizeof(query),
				 "list-type=2&max-keys=3&prefix=list%%2F");
		} else {
			fs_sigv4_uri_encode(token, true, &enc);
			snprintf(query, sizeof(query),
				 "continuation-token=%s&list-type=2&max-keys=3"
				 "&prefix=list%%2F",
				 enc);
			free(enc);
		}
		s3("GET", "/" BUCKET, query, NULL, 0, &r);
		assert_int_equal(r.status, 200);
		for (p = r.body; (p = strstr(p, "<Key>")) != NULL; p++) {
			xml_get(&(struct resp){.body = p}, "Key", key,
				sizeof(key));
			assert_true(seen < LIST_KEYS);
			assert_string_equal(key, list_keys[seen]);
			seen++;
		}
		if (strstr(r.body, "<IsTruncated>true") != NULL)
			assert_non_null(xml_get(&r, "NextContinuationToken",
						token, sizeof(token)));
		else
			token[0] = '\0';
		resp_free(&r);
	} while (token[0] != '\0');
	assert_int_equal(seen, LIST_KEYS);
}

static void test_list_delimiter(void **state)
{
	char query[256], marker[128];
	struct resp r;
	unsigned int pages = 0;

	put_list_keys();
	s3("GET", "/" BUCKET, "delimiter=%2F&list-type=2&prefix=list%2F", NULL,
	   0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<Prefix>list/a/</Prefix>"));
	assert_non_null(strstr(r.body, "<Prefix>list/b/</Prefix>"));
	assert_non_null(strstr(r.body, "<Key>list/c</Key>"));
	assert_non_null(strstr(r.body, "<KeyCount>5</KeyCount>"));
	assert_int_equal(xml_count(&r, "<CommonPrefixes>"), 2);
	resp_free(&r);

	/* One entry per page with V1 markers: prefixes come once. */
	marker[0] = '\0';
	for (;;) {
		char *enc = NULL;

		fs_sigv4_uri_encode(marker, true, &enc);
		snprintf(query, sizeof(query),
			 "delimiter=%%2F&marker=%s&max-keys=1&prefix=list%%2F",
			 enc);
		free(enc);
		s3("GET", "/" BUCKET, query, NULL, 0, &r);
		assert_int_equal(r.status, 200);
		pages++;
		if (strstr(r.body, "<IsTruncated>false") != NULL) {
			resp_free(&r);
			break;
		}
		assert_non_null(
			xml_get(&r, "NextMarker", marker, sizeof(marker)));
		resp_free(&r);
		assert_true(pages < 10);
	}
	/* a/, b/, c, "d e", "e+f" */
	assert_int_equal(pages, 5);

	s3("GET", "/" BUCKET,
	   "encoding-type=url&list-type=2&prefix=list%2Fd&start-after=list%2Fc",
	   NULL, 0, &r);
	assert_non_null(strstr(r.body, "<Key>list/d%20e</Key>"));
	resp_free(&r);
	s3("GET", "/" BUCKET, "list-type=2&prefix=list%2Fe%2B", NULL, 0, &r);
	assert_non_null(strstr(r.body, "<Key>list/e+f</Key>"));
	resp_free(&r);
	s3("GET", "/" BUCKET, "list-type=2&continuation-token=%21%21", NULL, 0,
	   &r);
	assert_s3_error(&r, 400, "InvalidArgument");
	resp_free(&r);
}

static void test_copy(void **state)
{
	static const char *const put_h[] = {"x-amz-meta-origin: source",
					    "Content-Type: text/x-src", NULL};
	static const char *const copy_h[] = {
		"x-amz-copy-source: /" BUCKET "/copy/src", NULL};
	static const char *const repl_h[] = {
		"x-amz-copy-source: " BUCKET "/copy/src",
		"x-amz-metadata-directive: REPLACE",
		"x-amz-meta-origin: replaced", NULL};
	static const char *const self_h[] = {
		"x-amz-copy-source: " BUCKET "/copy/src", NULL};
	struct req rq = {.method = "PUT",
			 .path = "/" BUCKET "/copy/src",
			 .headers = put_h,
			 .body = "copy me",
			 .body_len = 7};
	char buf[128];
	struct resp r;

	do_request(&rq, &r);
	resp_free(&r);
	rq.path = "/" BUCKET "/copy/dst";
	rq.headers = copy_h;
	rq.body = NULL;
	rq.body_len = 0;
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<CopyObjectResult"));
	assert_non_null(xml_get(&r, "ETag", buf, sizeof(buf)));
	resp_free(&r);
	s3("GET", "/" BUCKET "/copy/dst", NULL, NULL, 0, &r);
	assert_memory_equal(r.body, "copy me", 7);
	assert_string_equal(
		resp_header(&r, "x-amz-meta-origin", buf, sizeof(buf)),
		"source");
	assert_string_equal(resp_header(&r, "Content-Type", buf, sizeof(buf)),
			    "text/x-src");
	resp_free(&r);

	rq.headers = repl_h;
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	s3("HEAD", "/" BUCKET "/copy/dst", NULL, NULL, 0, &r);
	assert_string_equal(
		resp_header(&r, "x-amz-meta-origin", buf, sizeof(buf)),
		"replaced");
	assert_string_equal(resp_header(&r, "Content-Type", buf, sizeof(buf)),
			    "binary/octet-stream");
	resp_free(&r);

	rq.path = "/" BUCKET "/copy/src";
	rq.headers = self_h;
	do_request(&rq, &r);
	assert_s3_error(&r, 400, "InvalidRequest");
	resp_free(&r);

	rq.path = "/" BUCKET "/copy/dst2";
	{
		static const char *const missing[] = {
			"x-amz-copy-source: " BUCKET "/copy/none", NULL};

		rq.headers = missing;
		do_request(&rq, &r);
		assert_s3_error(&r, 404, "NoSuchKey");
		resp_free(&r);
	}
}

static void test_delete_objects(void **state)
{
	const char *xml = "<Delete><Object><Key>del/1</Key></Object>"
			  "<Object><Key>del/2</Key></Object>"
			  "<Object><Key>del/missing</Key></Object></Delete>";
	const char *quiet = "<Delete><Quiet>true</Quiet>"
			    "<Object><Key>del/3</Key></Object></Delete>";
	char b64[32], line[64];
	const char *hdrs[] = {line, NULL};
	struct req rq = {.method = "POST",
			 .path = "/" BUCKET,
			 .query = "delete",
			 .headers = hdrs};
	struct resp r;

	put_object("/" BUCKET "/del/1", "1", 1);
	put_object("/" BUCKET "/del/2", "2", 1);
	put_object("/" BUCKET "/del/3", "3", 1);

	/* Content-MD5 is required, as on S3. */
	s3("POST", "/" BUCKET, "delete", xml, strlen(xml), &r);
	assert_s3_error(&r, 400, "InvalidRequest");
	resp_free(&r);

	md5_b64(xml, strlen(xml), b64);
	snprintf(line, sizeof(line), "Content-MD5: %s", b64);
	rq.body = xml;
	rq.body_len = strlen(xml);
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(xml_count(&r, "<Deleted>"), 3);
	assert_non_null(strstr(r.body, "<Key>del/missing</Key>"));
	resp_free(&r);

	md5_b64(quiet, strlen(quiet), b64);
	snprintf(line, sizeof(line), "Content-MD5: %s", b64);
	rq.body = quiet;
	rq.body_len = strlen(quiet);
	do_request(&rq, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(xml_count(&r, "<Deleted>"), 0);
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "b/" BUCKET "/del/"), 0);
}

static void test_fault_error(void **state)
{
	char buf[64];
	struct resp r;
	int i;

	put_object("/" BUCKET "/fault/e", "data", 4);
	fs_mock_counters_reset(mock);
	assert_true(fs_mock_fault_add(mock,
				      "op=GetObject,key=fault/*,nth=2,"
				      "status=503,code=SlowDown,retry-after=3",
				      NULL) > 0);
	for (i = 1; i <= 4; i++) {
		s3("GET", "/" BUCKET "/fault/e", NULL, NULL, 0, &r);
		if (i % 2 == 1) {
			assert_int_equal(r.status, 200);
		} else {
			assert_s3_error(&r, 503, "SlowDown");
			assert_string_equal(resp_header(&r, "Retry-After", buf,
							sizeof(buf)),
					    "3");
		}
		resp_free(&r);
	}
	/* Other operations and keys are untouched. */
	s3("HEAD", "/" BUCKET "/fault/e", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(fs_mock_counter(mock, "faults"), 2);
	assert_int_equal(fs_mock_counter(mock, "status_503"), 2);

	/* PUT refused by a fault: nothing is stored. */
	fs_mock_faults_clear(mock);
	fs_mock_fault_add(mock, "op=PutObject,status=500", NULL);
	s3("PUT", "/" BUCKET "/fault/never", NULL, "x", 1, &r);
	assert_s3_error(&r, 500, "InternalError");
	resp_free(&r);
	fs_mock_faults_clear(mock);
	s3("HEAD", "/" BUCKET "/fault/never", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
}

static void test_fault_probability(void **state)
{
	char first[32], second[32];
	struct resp r;
	int round, i, fired = 0;

	put_object("/" BUCKET "/fault/p", "p", 1);
	for (round = 0; round < 2; round++) {
		char *out = round == 0 ? first : second;

		fs_mock_faults_clear(mock);
		fs_mock_fault_add(mock, "key=fault/p,p=0.5,seed=7,status=500",
				  NULL);
		for (i = 0; i < 24; i++) {
			s3("GET", "/" BUCKET "/fault/p", NULL, NULL, 0, &r);
			out[i] = r.status == 500 ? 'x' : '.';
			fired += r.status == 500;
			resp_free(&r);
		}
		out[24] = '\0';
	}
	/* Same seed, same sequence; and p=0.5 fires sometimes. */
	assert_string_equal(first, second);
	assert_true(fired > 0 && fired < 48);

	fs_mock_faults_clear(mock);
	fs_mock_fault_add(mock, "key=fault/p,times=1,status=500", NULL);
	s3("GET", "/" BUCKET "/fault/p", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 500);
	resp_free(&r);
	s3("GET", "/" BUCKET "/fault/p", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void test_fault_delay_and_drip(void **state)
{
	char *data = pattern(8000, 3);
	struct resp r;

	put_object("/" BUCKET "/fault/slow", data, 8000);
	fs_mock_fault_add(mock, "key=fault/slow,method=HEAD,delay=300", NULL);
	fs_mock_fault_add(mock,
			  "key=fault/slow,op=GetObject,action=drip,"
			  "rate=16000",
			  NULL);
	s3("HEAD", "/" BUCKET "/fault/slow", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(r.seconds >= 0.28);
	resp_free(&r);
	s3("GET", "/" BUCKET "/fault/slow", NULL, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.len, 8000);
	assert_memory_equal(r.body, data, 8000);
	/* 8000 bytes at 16000 B/s. */
	assert_true(r.seconds >= 0.4);
	resp_free(&r);
	free(data);
}

static void test_fault_cut_bodies(void **state)
{
	char *data = pattern(100000, 5), buf[32];
	struct resp r;

	put_object("/" BUCKET "/fault/cut", data, 100000);
	fs_mock_fault_add(mock,
			  "key=fault/cut,op=GetObject,nth=1,times=1,"
			  "action=truncate,after=1000",
			  NULL);
	s3("GET", "/" BUCKET "/fault/cut", NULL, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_PARTIAL_FILE);
	assert_int_equal(r.len, 1000);
	assert_memory_equal(r.body, data, 1000);
	resp_free(&r);

	fs_mock_fault_add(mock,
			  "key=fault/cut,op=GetObject,times=1,"
			  "action=reset,after=2000",
			  NULL);
	s3("GET", "/" BUCKET "/fault/cut", NULL, NULL, 0, &r);
	assert_int_not_equal(r.code, CURLE_OK);
	assert_true(r.len <= 2000);
	resp_free(&r);

	fs_mock_fault_add(mock,
			  "key=fault/cut,op=GetObject,times=1,"
			  "action=badlength,delta=-10",
			  NULL);
	s3("GET", "/" BUCKET "/fault/cut", NULL, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.len, 100000 - 10);
	assert_string_equal(resp_header(&r, "Content-Length", buf, sizeof(buf)),
			    "99990");
	resp_free(&r);

	/* A larger claim ends in a close. */
	fs_mock_fault_add(mock,
			  "key=fault/cut,op=GetObject,times=1,"
			  "action=badlength,delta=5",
			  NULL);
	s3("GET", "/" BUCKET "/fault/cut", NULL, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_PARTIAL_FILE);
	assert_int_equal(r.len, 100000);
	resp_free(&r);

	/* Back to normal. */
	s3("GET", "/" BUCKET "/fault/cut", NULL, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.len, 100000);
	resp_free(&r);

	/* A listing can be cut too. */
	fs_mock_fault_add(mock,
			  "op=ListObjectsV2,times=1,action=truncate,"
			  "after=50",
			  NULL);
	s3("GET", "/" BUCKET, "list-type=2", NULL, 0, &r);
	assert_int_equal(r.code, CURLE_PARTIAL_FILE);
	assert_int_equal(r.len, 50);
	resp_free(&r);
	free(data);
}

static void test_fault_upload_reset(void **state)
{
	char *data = pattern(200000, 9);
	struct resp r;

	fs_mock_fault_add(mock,
			  "method=PUT,key=fault/up,action=reset,"
			  "after=1000",
			  NULL);
	s3("PUT", "/" BUCKET "/fault/up", NULL, data, 200000, &r);
	assert_int_not_equal(r.code, CURLE_OK);
	resp_free(&r);
	fs_mock_faults_clear(mock);
	/* The cut upload left nothing behind. */
	s3("HEAD", "/" BUCKET "/fault/up", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "b/" BUCKET "/fault/up"),
			 0);
	put_object("/" BUCKET "/fault/up", data, 200000);
	s3("GET", "/" BUCKET "/fault/up", NULL, NULL, 0, &r);
	assert_int_equal(r.len, 200000);
	assert_memory_equal(r.body, data, 200000);
	resp_free(&r);
	free(data);
}

/* ------------------------------------------------------------------------ */
/* Flexible checksums: CRC-32                                                 */

/* CRC-32 of "123456789" (the check value of the algorithm), 0xCBF43926. */
#define NINE_CRC "y/Q5Jg=="

static void crc_b64(const void *data, size_t len, char b64[16])
{
	uint32_t crc = (uint32_t)crc32_z(0, data, len);
	unsigned char raw[4] = {(unsigned char)(crc >> 24),
				(unsigned char)(crc >> 16),
				(unsigned char)(crc >> 8), (unsigned char)crc};

	EVP_EncodeBlock((unsigned char *)b64, raw, 4);
}

static void s3h(const char *method, const char *path, const char *query,
		const char *const *headers, const void *body, size_t len,
		struct resp *r)
{
	struct req rq = {.method = method,
			 .path = path,
			 .query = query,
			 .headers = headers,
			 .body = body,
			 .body_len = len};

	do_request(&rq, r);
}

/* Asserts that header name is value, or absent when value is NULL. */
static void assert_header(const struct resp *r, const char *name,
			  const char *value)
{
	char buf[256];
	const char *got = resp_header(r, name, buf, sizeof(buf));

	if (value == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, value);
}

/* The checksum headers of a reply: the CRC-32 (with FULL_OBJECT), or
   neither when crc is NULL. */
static void assert_crc(const struct resp *r, const char *crc)
{
	assert_header(r, "x-amz-checksum-crc32", crc);
	assert_header(r, "x-amz-checksum-type",
		      crc != NULL ? "FULL_OBJECT" : NULL);
}

/* Sends method to path with headers (NULL: signed as s3() does), checks
   the status, the body where body != NULL (len bytes), and the checksum
   headers (crc NULL: none). */
static void crc_expect(const char *method, const char *path, const char *query,
		       const char *const *headers, long status,
		       const char *body, size_t len, const char *crc)
{
	struct resp r;

	if (headers != NULL)
		s3h(method, path, query, headers, NULL, 0, &r);
	else
		s3(method, path, query, NULL, 0, &r);
	assert_int_equal(r.status, status);
	if (body != NULL) {
		assert_int_equal(r.len, len);
		assert_memory_equal(r.body, body, len);
	}
	assert_crc(&r, crc);
	resp_free(&r);
}

static void test_crc32_put_get(void **state)
{
	static const char *const put_h[] = {"x-amz-checksum-crc32: " NINE_CRC,
					    NULL};
	static const char *const mode_h[] = {"x-amz-checksum-mode: ENABLED",
					     NULL};
	static const char *const lower_h[] = {"x-amz-checksum-mode: enabled",
					      NULL};
	static const char *const range_h[] = {"x-amz-checksum-mode: ENABLED",
					      "Range: bytes=0-3", NULL};
	static const char *const whole_h[] = {"x-amz-checksum-mode: ENABLED",
					      "Range: bytes=0-8", NULL};
	const char *path = "/" BUCKET "/crc/nine";
	struct resp r;

	s3h("PUT", path, NULL, put_h, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	assert_crc(&r, NINE_CRC);
	resp_free(&r);

	crc_expect("GET", path, NULL, mode_h, 200, "123456789", 9, NINE_CRC);
	crc_expect("GET", path, NULL, lower_h, 200, NULL, 0, NINE_CRC);
	/* Not asked for: not sent (S3's behaviour). */
	crc_expect("GET", path, NULL, NULL, 200, "123456789", 9, NULL);
	/* A range has no checksum, even one covering the whole object. */
	crc_expect("GET", path, NULL, range_h, 206, "1234", 4, NULL);
	crc_expect("GET", path, NULL, whole_h, 206, "123456789", 9, NULL);
	s3h("GET", path, "partNumber=1", mode_h, NULL, 0, &r);
	assert_crc(&r, NULL);
	resp_free(&r);

	s3h("HEAD", path, NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Length", "9");
	assert_crc(&r, NINE_CRC);
	resp_free(&r);
	crc_expect("HEAD", path, NULL, NULL, 200, NULL, 0, NULL);
}

static void test_crc32_conditions(void **state)
{
	static const char *const put_h[] = {"x-amz-checksum-crc32: " NINE_CRC,
					    NULL};
	const char *path = "/" BUCKET "/crc/cond";
	char etag[64], inm[128];
	const char *hdrs[] = {"x-amz-checksum-mode: ENABLED", inm, NULL};
	struct resp r;

	s3h("PUT", path, NULL, put_h, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(resp_header(&r, "ETag", etag, sizeof(etag)));
	resp_free(&r);

	snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
	s3h("GET", path, NULL, hdrs, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.len, 0);
	assert_header(&r, "ETag", etag);
	resp_free(&r);
	s3h("HEAD", path, NULL, hdrs, NULL, 0, &r);
	assert_int_equal(r.status, 304);
	resp_free(&r);
	snprintf(inm, sizeof(inm), "If-Match: \"0123\"");
	s3h("GET", path, NULL, hdrs, NULL, 0, &r);
	assert_s3_error(&r, 412, "PreconditionFailed");
	assert_crc(&r, NULL);
	resp_free(&r);
	/* A condition that holds: the object and its checksum. */
	snprintf(inm, sizeof(inm), "If-Match: %s", etag);
	s3h("GET", path, NULL, hdrs, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "123456789", 9);
	assert_crc(&r, NINE_CRC);
	resp_free(&r);
}

static void test_crc32_sizes_and_replace(void **state)
{
	static const char *const mode_h[] = {"x-amz-checksum-mode: ENABLED",
					     NULL};
	static const char *const empty_h[] = {"x-amz-checksum-crc32: AAAAAA==",
					      NULL};
	char line[64], b64[16], *data = pattern(300000, 21);
	const char *hdrs[] = {line, NULL};
	struct resp r;

	/* The empty body's CRC-32 is 0. */
	s3h("PUT", "/" BUCKET "/crc/empty", NULL, empty_h, "", 0, &r);
	assert_int_equal(r.status, 200);
	assert_crc(&r, "AAAAAA==");
	resp_free(&r);
	s3h("GET", "/" BUCKET "/crc/empty", NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.len, 0);
	assert_crc(&r, "AAAAAA==");
	resp_free(&r);

	/* A body that arrives in many pieces. */
	crc_b64(data, 300000, b64);
	snprintf(line, sizeof(line), "x-amz-checksum-crc32: %s", b64);
	s3h("PUT", "/" BUCKET "/crc/big", NULL, hdrs, data, 300000, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	s3h("GET", "/" BUCKET "/crc/big", NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.len, 300000);
	assert_memory_equal(r.body, data, 300000);
	assert_crc(&r, b64);
	resp_free(&r);

	/* Replaced without a checksum: the new object has none. */
	s3("PUT", "/" BUCKET "/crc/big", NULL, "plain", 5, &r);
	assert_int_equal(r.status, 200);
	assert_crc(&r, NULL);
	resp_free(&r);
	s3h("GET", "/" BUCKET "/crc/big", NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "plain", 5);
	assert_crc(&r, NULL);
	resp_free(&r);
	free(data);
}

static void test_crc32_bad_put(void **state)
{
	static const char *const wrong_h[] = {"x-amz-checksum-crc32: AAAAAA==",
					      NULL};
	static const char *const old_h[] = {"x-amz-checksum-crc32: " NINE_CRC,
					    NULL};
	static const char *const mode_h[] = {"x-amz-checksum-mode: ENABLED",
					     NULL};
	static const char *const malformed[] = {
		"notbase64", "y/Q5Jg",	 "y/Q5Jg=",	 "y/Q5Jh==",
		"AAAAAAAA",  "AAAAAAA=", "y/Q5Jg==AAAA", "y/Q5*g==",
	};
	char line[64], b64[16], *data = pattern(300000, 22);
	const char *hdrs[] = {line, NULL};
	struct resp r;
	size_t i;

	/* A new key: refused, nothing stored. */
	s3h("PUT", "/" BUCKET "/crc/bad", NULL, wrong_h, "123456789", 9, &r);
	assert_s3_error(&r, 400, "BadDigest");
	assert_non_null(strstr(r.body, "The CRC32 you specified did not "
				       "match the calculated checksum."));
	resp_free(&r);
	s3("HEAD", "/" BUCKET "/crc/bad", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "b/" BUCKET "/crc/bad"),
			 0);

	/* A large body off by its last byte. */
	crc_b64(data, 300000, b64);
	snprintf(line, sizeof(line), "x-amz-checksum-crc32: %s", b64);
	data[299999] ^= 0x01;
	s3h("PUT", "/" BUCKET "/crc/bad", NULL, hdrs, data, 300000, &r);
	assert_s3_error(&r, 400, "BadDigest");
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "b/" BUCKET "/crc/bad"),
			 0);

	/* An existing key keeps its old version and checksum. */
	s3h("PUT", "/" BUCKET "/crc/old", NULL, old_h, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	s3h("PUT", "/" BUCKET "/crc/old", NULL, old_h, "987654321", 9, &r);
	assert_s3_error(&r, 400, "BadDigest");
	resp_free(&r);
	s3h("GET", "/" BUCKET "/crc/old", NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "123456789", 9);
	assert_crc(&r, NINE_CRC);
	resp_free(&r);

	for (i = 0; i < sizeof(malformed) / sizeof(*malformed); i++) {
		snprintf(line, sizeof(line), "x-amz-checksum-crc32: %s",
			 malformed[i]);
		s3h("PUT", "/" BUCKET "/crc/bad", NULL, hdrs, "123456789", 9,
		    &r);
		assert_s3_error(&r, 400, "InvalidRequest");
		assert_non_null(strstr(r.body, "Value for x-amz-checksum-crc32 "
					       "header is invalid."));
		resp_free(&r);
	}
	s3("HEAD", "/" BUCKET "/crc/bad", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	free(data);
}

static void test_crc32_unsupported(void **state)
{
	static const char *const names[] = {
		"x-amz-checksum-crc32c: 4waSgw==",
		"x-amz-checksum-crc64nvme: rosUhgp5mIg=",
		"x-amz-checksum-sha1: 98O8HYCOBHMq32eZZczDTKeuNEE=",
		"x-amz-checksum-sha256: "
		"FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=",
		"X-Amz-Checksum-Sha256: "
		"FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=",
		"x-amz-sdk-checksum-algorithm: SHA256",
	};
	static const char *const sdk_h[] = {
		"x-amz-sdk-checksum-algorithm: CRC32", NULL};
	static const char *const sdk_ok_h[] = {
		"x-amz-sdk-checksum-algorithm: CRC32",
		"x-amz-checksum-crc32: " NINE_CRC, NULL};
	const char *hdrs[] = {NULL, NULL};
	char name[64];
	struct resp r;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		hdrs[0] = names[i];
		s3h("PUT", "/" BUCKET "/crc/other", NULL, hdrs, "123456789", 9,
		    &r);
		assert_s3_error(&r, 501, "NotImplemented");
		/* The message names the header. */
		snprintf(name, sizeof(name), "%.*s",
			 (int)(strchr(names[i], ':') - names[i]), names[i]);
		assert_non_null(strstr(r.body, name));
		assert_non_null(strstr(r.body, "CRC32"));
		resp_free(&r);
	}
	s3h("PUT", "/" BUCKET "/crc/other", NULL, sdk_h, "123456789", 9, &r);
	assert_s3_error(&r, 400, "InvalidRequest");
	resp_free(&r);
	s3("HEAD", "/" BUCKET "/crc/other", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	s3h("PUT", "/" BUCKET "/crc/other", NULL, sdk_ok_h, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	assert_crc(&r, NINE_CRC);
	resp_free(&r);
}

/* CopyObject to crc/dst with headers: 200, and <ChecksumCRC32> in the
   result is crc (NULL: none). */
static void copy_expect(const char *const *headers, const char *crc)
{
	char buf[64];
	struct resp r;

	s3h("PUT", "/" BUCKET "/crc/dst", NULL, headers, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	if (crc == NULL) {
		assert_null(xml_get(&r, "ChecksumCRC32", buf, sizeof(buf)));
	} else {
		assert_non_null(xml_get(&r, "ChecksumCRC32", buf, sizeof(buf)));
		assert_string_equal(buf, crc);
	}
	resp_free(&r);
}

static void test_crc32_copy(void **state)
{
	static const char *const put_h[] = {"x-amz-checksum-crc32: " NINE_CRC,
					    "x-amz-meta-kind: nine", NULL};
	static const char *const mode_h[] = {"x-amz-checksum-mode: ENABLED",
					     NULL};
	static const char *const copy_h[] = {
		"x-amz-copy-source: /" BUCKET "/crc/src", NULL};
	static const char *const repl_h[] = {
		"x-amz-copy-source: /" BUCKET "/crc/src",
		"x-amz-metadata-directive: REPLACE", "x-amz-meta-kind: other",
		NULL};
	static const char *const plain_h[] = {
		"x-amz-copy-source: /" BUCKET "/crc/plain", NULL};
	static const char *const algo_h[] = {
		"x-amz-copy-source: /" BUCKET "/crc/plain",
		"x-amz-checksum-algorithm: CRC32", NULL};
	static const char *const sha_h[] = {
		"x-amz-copy-source: /" BUCKET "/crc/plain",
		"x-amz-checksum-algorithm: SHA256", NULL};
	char buf[64];
	struct resp r;

	s3h("PUT", "/" BUCKET "/crc/src", NULL, put_h, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	put_object("/" BUCKET "/crc/plain", "123456789", 9);

	s3h("PUT", "/" BUCKET "/crc/dst", NULL, copy_h, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(xml_get(&r, "ChecksumCRC32", buf, sizeof(buf)));
	assert_string_equal(buf, NINE_CRC);
	assert_non_null(xml_get(&r, "ChecksumType", buf, sizeof(buf)));
	assert_string_equal(buf, "FULL_OBJECT");
	resp_free(&r);
	s3h("GET", "/" BUCKET "/crc/dst", NULL, mode_h, NULL, 0, &r);
	assert_memory_equal(r.body, "123456789", 9);
	assert_crc(&r, NINE_CRC);
	assert_header(&r, "x-amz-meta-kind", "nine");
	resp_free(&r);

	/* New metadata, same bytes: same checksum. */
	copy_expect(repl_h, NINE_CRC);
	s3h("HEAD", "/" BUCKET "/crc/dst", NULL, mode_h, NULL, 0, &r);
	assert_crc(&r, NINE_CRC);
	assert_header(&r, "x-amz-meta-kind", "other");
	resp_free(&r);

	/* No checksum to keep: none, unless asked for. */
	copy_expect(plain_h, NULL);
	crc_expect("HEAD", "/" BUCKET "/crc/dst", NULL, mode_h, 200, NULL, 0,
		   NULL);
	copy_expect(algo_h, NINE_CRC);
	crc_expect("HEAD", "/" BUCKET "/crc/dst", NULL, mode_h, 200, NULL, 0,
		   NINE_CRC);
	s3h("PUT", "/" BUCKET "/crc/dst", NULL, sha_h, NULL, 0, &r);
	assert_s3_error(&r, 501, "NotImplemented");
	resp_free(&r);
}

/* Starts an upload with the given extra headers; returns the status. */
static long create_upload_h(const char *path, const char *const *headers,
			    char id[64], struct resp *r)
{
	s3h("POST", path, "uploads", headers, NULL, 0, r);
	if (r->status == 200)
		assert_non_null(xml_get(r, "UploadId", id, 64));
	return r->status;
}

/* Appends <Part> with an optional <ChecksumCRC32>. */
static size_t complete_part_xml(char *xml, size_t size, size_t len, int num,
				const char *etag, const char *crc)
{
	len += (size_t)snprintf(xml + len, size - len,
				"<Part><PartNumber>%d</PartNumber>"
				"<ETag>%s</ETag>",
				num, etag);
	if (crc != NULL)
		len += (size_t)snprintf(xml + len, size - len,
					"<ChecksumCRC32>%s</ChecksumCRC32>",
					crc);
	len += (size_t)snprintf(xml + len, size - len, "</Part>");
	return len;
}

/* A CompleteMultipartUpload body listing parts 1 and 2 (crc NULL: no
   <ChecksumCRC32>). */
static void complete_two_xml(char *xml, size_t size, const char *etag1,
			     const char *crc1, const char *etag2,
			     const char *crc2)
{
	size_t len = (size_t)snprintf(xml, size, "<CompleteMultipartUpload>");

	len = complete_part_xml(xml, size, len, 1, etag1, crc1);
	len = complete_part_xml(xml, size, len, 2, etag2, crc2);
	snprintf(xml + len, size - len, "</CompleteMultipartUpload>");
}

static void test_crc32_multipart(void **state)
{
	static const char *const crc_h[] = {"x-amz-checksum-algorithm: CRC32",
					    "x-amz-checksum-type: FULL_OBJECT",
					    NULL};
	static const char *const nine_h[] = {"x-amz-checksum-crc32: " NINE_CRC,
					     NULL};
	static const char *const bad_h[] = {"x-amz-checksum-crc32: AAAAAA==",
					    NULL};
	static const char *const copy_h[] = {
		"x-amz-copy-source: /" BUCKET "/crc/mp-src", NULL};
	static const char *const mode_h[] = {"x-amz-checksum-mode: ENABLED",
					     NULL};
	const char *path = "/" BUCKET "/crc/mp";
	size_t size1 = 5u << 20, len;
	char *whole = malloc(size1 + 9), id[64], query[128], line[64];
	char crc1[16], crcw[16], etag1[64], etag2[64], buf[64], xml[1024];
	const char *hdrs[] = {line, NULL}, *done_h[] = {line, NULL};
	struct resp r;

	assert_non_null(whole);
	{
		char *p1 = pattern(size1, 31);

		memcpy(whole, p1, size1);
		free(p1);
	}
	memcpy(whole + size1, "123456789", 9);
	crc_b64(whole, size1, crc1);
	crc_b64(whole, size1 + 9, crcw);
	put_object("/" BUCKET "/crc/mp-src", "123456789", 9);

	assert_int_equal(create_upload_h(path, crc_h, id, &r), 200);
	assert_header(&r, "x-amz-checksum-algorithm", "CRC32");
	assert_header(&r, "x-amz-checksum-type", "FULL_OBJECT");
	resp_free(&r);
	snprintf(query, sizeof(query), "partNumber=1&uploadId=%s", id);

	/* Every part carries its CRC-32, and it is checked. */
	s3("PUT", path, query, whole, size1, &r);
	assert_s3_error(&r, 400, "InvalidRequest");
	resp_free(&r);
	s3h("PUT", path, query, bad_h, whole, size1, &r);
	assert_s3_error(&r, 400, "BadDigest");
	resp_free(&r);
	snprintf(line, sizeof(line), "x-amz-checksum-crc32: %s", crc1);
	s3h("PUT", path, query, hdrs, whole, size1, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "x-amz-checksum-crc32", crc1);
	assert_non_null(resp_header(&r, "ETag", etag1, sizeof(etag1)));
	resp_free(&r);
	/* A copied part gets its CRC-32 computed. */
	snprintf(query, sizeof(query), "partNumber=2&uploadId=%s", id);
	s3h("PUT", path, query, copy_h, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(xml_get(&r, "ChecksumCRC32", buf, sizeof(buf)));
	assert_string_equal(buf, NINE_CRC);
	assert_non_null(xml_get(&r, "ETag", etag2, sizeof(etag2)));
	resp_free(&r);

	snprintf(query, sizeof(query), "uploadId=%s", id);
	s3("GET", path, query, NULL, 0, &r);
	assert_int_equal(xml_count(&r, "<Part>"), 2);
	assert_int_equal(xml_count(&r, "<ChecksumCRC32>"), 2);
	assert_non_null(strstr(r.body, "<ChecksumCRC32>" NINE_CRC));
	resp_free(&r);

	/* The wrong object checksum: 400, the upload stays. */
	complete_two_xml(xml, sizeof(xml), etag1, NULL, etag2, NULL);
	snprintf(line, sizeof(line), "x-amz-checksum-crc32: %s", crc1);
	s3h("POST", path, query, done_h, xml, strlen(xml), &r);
	assert_s3_error(&r, 400, "BadDigest");
	resp_free(&r);
	s3("GET", path, query, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(xml_count(&r, "<Part>"), 2);
	resp_free(&r);
	s3("HEAD", path, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);

	/* A listed part checksum that is not the part's: InvalidPart. */
	complete_two_xml(xml, sizeof(xml), etag1, NINE_CRC, etag2, NINE_CRC);
	snprintf(line, sizeof(line), "x-amz-checksum-crc32: %s", crcw);
	s3h("POST", path, query, done_h, xml, strlen(xml), &r);
	assert_s3_error(&r, 400, "InvalidPart");
	resp_free(&r);

	/* Right: the object has the combined CRC-32. */
	complete_two_xml(xml, sizeof(xml), etag1, crc1, etag2, NINE_CRC);
	s3h("POST", path, query, done_h, xml, strlen(xml), &r);
	assert_int_equal(r.status, 200);
	assert_non_null(xml_get(&r, "ChecksumCRC32", buf, sizeof(buf)));
	assert_string_equal(buf, crcw);
	assert_non_null(xml_get(&r, "ChecksumType", buf, sizeof(buf)));
	assert_string_equal(buf, "FULL_OBJECT");
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	s3h("GET", path, NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, size1 + 9);
	assert_memory_equal(r.body, whole, size1 + 9);
	assert_crc(&r, crcw);
	resp_free(&r);

	/* Completed without a checksum header: computed all the same. */
	assert_int_equal(create_upload_h(path, crc_h, id, &r), 200);
	resp_free(&r);
	snprintf(query, sizeof(query), "partNumber=1&uploadId=%s", id);
	s3h("PUT", path, query, nine_h, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(resp_header(&r, "ETag", etag1, sizeof(etag1)));
	resp_free(&r);
	snprintf(query, sizeof(query), "uploadId=%s", id);
	len = (size_t)snprintf(xml, sizeof(xml), "<CompleteMultipartUpload>");
	len = complete_part_xml(xml, sizeof(xml), len, 1, etag1, NULL);
	snprintf(xml + len, sizeof(xml) - len, "</CompleteMultipartUpload>");
	s3("POST", path, query, xml, strlen(xml), &r);
	assert_int_equal(r.status, 200);
	assert_non_null(xml_get(&r, "ChecksumCRC32", buf, sizeof(buf)));
	assert_string_equal(buf, NINE_CRC);
	resp_free(&r);
	s3h("HEAD", path, NULL, mode_h, NULL, 0, &r);
	assert_header(&r, "Content-Length", "9");
	assert_crc(&r, NINE_CRC);
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
	free(whole);
}

static void test_crc32_multipart_refused(void **state)
{
	static const char *const bad_combos[][3] = {
		{"x-amz-checksum-algorithm: SHA256",
		 "x-amz-checksum-type: FULL_OBJECT", NULL},
		{"x-amz-checksum-algorithm: CRC32",
		 "x-amz-checksum-type: COMPOSITE", NULL},
		{"x-amz-checksum-algorithm: CRC32", NULL, NULL},
		{"x-amz-checksum-type: FULL_OBJECT", NULL, NULL},
	};
	static const char *const nine_h[] = {"x-amz-checksum-crc32: " NINE_CRC,
					     NULL};
	static const char *const sha_h[] = {
		"x-amz-checksum-sha256: "
		"FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=",
		NULL};
	static const char *const type_h[] = {"x-amz-checksum-type: FULL_OBJECT",
					     NULL};
	const char *path = "/" BUCKET "/crc/mp-plain";
	char id[64], query[128], etag[64], xml[512], buf[64];
	struct resp r;
	size_t i, len;

	for (i = 0; i < sizeof(bad_combos) / sizeof(*bad_combos); i++) {
		assert_int_equal(create_upload_h(path, bad_combos[i], id, &r),
				 501);
		assert_s3_error(&r, 501, "NotImplemented");
		assert_non_null(strstr(r.body, "FULL_OBJECT"));
		resp_free(&r);
	}
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);

	/* An upload without checksum takes parts without one. */
	assert_int_equal(create_upload_h(path, NULL, id, &r), 200);
	assert_header(&r, "x-amz-checksum-algorithm", NULL);
	resp_free(&r);
	snprintf(query, sizeof(query), "partNumber=1&uploadId=%s", id);
	s3h("PUT", path, query, nine_h, "123456789", 9, &r);
	assert_s3_error(&r, 400, "InvalidRequest");
	resp_free(&r);
	s3h("PUT", path, query, sha_h, "123456789", 9, &r);
	assert_s3_error(&r, 501, "NotImplemented");
	resp_free(&r);
	s3("PUT", path, query, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "x-amz-checksum-crc32", NULL);
	assert_non_null(resp_header(&r, "ETag", etag, sizeof(etag)));
	resp_free(&r);

	snprintf(query, sizeof(query), "uploadId=%s", id);
	len = (size_t)snprintf(xml, sizeof(xml), "<CompleteMultipartUpload>");
	len = complete_part_xml(xml, sizeof(xml), len, 1, etag, NULL);
	snprintf(xml + len, sizeof(xml) - len, "</CompleteMultipartUpload>");
	s3h("POST", path, query, nine_h, xml, strlen(xml), &r);
	assert_s3_error(&r, 400, "InvalidRequest");
	resp_free(&r);
	s3h("POST", path, query, type_h, xml, strlen(xml), &r);
	assert_s3_error(&r, 400, "InvalidRequest");
	resp_free(&r);
	s3h("POST", path, query, sha_h, xml, strlen(xml), &r);
	assert_s3_error(&r, 501, "NotImplemented");
	resp_free(&r);
	len = (size_t)snprintf(xml, sizeof(xml), "<CompleteMultipartUpload>");
	len = complete_part_xml(xml, sizeof(xml), len, 1, etag, NINE_CRC);
	snprintf(xml + len, sizeof(xml) - len, "</CompleteMultipartUpload>");
	s3("POST", path, query, xml, strlen(xml), &r);
	assert_s3_error(&r, 400, "InvalidPart");
	resp_free(&r);
	/* All refused: the upload is whole, and completes as before. */
	len = (size_t)snprintf(xml, sizeof(xml), "<CompleteMultipartUpload>");
	len = complete_part_xml(xml, sizeof(xml), len, 1, etag, NULL);
	snprintf(xml + len, sizeof(xml) - len, "</CompleteMultipartUpload>");
	s3("POST", path, query, xml, strlen(xml), &r);
	assert_int_equal(r.status, 200);
	assert_null(xml_get(&r, "ChecksumCRC32", buf, sizeof(buf)));
	resp_free(&r);
	assert_int_equal(fs_mock_backend_count(mock, "u/"), 0);
}

/* Flips bit 0 of the byte at off of a file, in place (its metadata stays). */
static void flip_on_disk(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	c = fgetc(f);
	assert_int_not_equal(c, EOF);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	assert_int_equal(fputc(c ^ 0x01, f), c ^ 0x01);
	assert_int_equal(fclose(f), 0);
}

/* A store that damaged what it holds: the checksum still tells, and
   copies and completions refuse to spread the damage. */
/* Starts a second mock storing in a fresh directory dir (a mkdtemp()
   template) with the bucket "disk", makes it the tests' mock, and returns
   the one it replaces, for disk_mock_end(). */
static struct fs_mock *disk_mock_begin(char *dir)
{
	struct fs_mock_settings set;
	struct fs_mock *saved = mock;
	char spec[PATH_MAX + 8], *error = NULL;
	struct resp r;

	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "posix:%s", dir);
	fs_mock_settings_init(&set);
	set.backend = spec;
	mock = fs_mock_start(&set, &error);
	if (mock == NULL)
		fail_msg("mock on %s: %s", spec, error);
	s3("PUT", "/disk", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	return saved;
}

/* Stops the mock of disk_mock_begin(), removes its directory and puts the
   tests' mock back. */
static void disk_mock_end(struct fs_mock *saved, const char *dir)
{
	char cmd[PATH_MAX + 16];

	fs_mock_stop(&mock);
	mock = saved;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_crc32_damaged_store(void **state)
{
	static const char *const nine_h[] = {"x-amz-checksum-crc32: " NINE_CRC,
					     NULL};
	static const char *const mode_h[] = {"x-amz-checksum-mode: ENABLED",
					     NULL};
	static const char *const copy_h[] = {"x-amz-copy-source: /disk/crc/src",
					     NULL};
	static const char *const crc_h[] = {"x-amz-checksum-algorithm: CRC32",
					    "x-amz-checksum-type: FULL_OBJECT",
					    NULL};
	char dir[] = "/tmp/test_mock_s3.XXXXXX", file[256];
	char id[64], query[128], etag[64], xml[512];
	struct fs_mock *saved;
	struct resp r;
	size_t len;

	saved = disk_mock_begin(dir);

	s3h("PUT", "/disk/crc/src", NULL, nine_h, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	snprintf(file, sizeof(file), "%s/b/disk/crc/src", dir);
	flip_on_disk(file, 4);
	s3h("GET", "/disk/crc/src", NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body,
			    "1234"
			    "4"
			    "6789",
			    9);
	assert_crc(&r, NINE_CRC);
	resp_free(&r);
	s3h("PUT", "/disk/crc/dst", NULL, copy_h, NULL, 0, &r);
	assert_s3_error(&r, 500, "InternalError");
	assert_non_null(strstr(r.body, "CRC32"));
	resp_free(&r);
	s3("HEAD", "/disk/crc/dst", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);

	assert_int_equal(create_upload_h("/disk/crc/mp", crc_h, id, &r), 200);
	resp_free(&r);
	snprintf(query, sizeof(query), "partNumber=1&uploadId=%s", id);
	s3h("PUT", "/disk/crc/mp", query, nine_h, "123456789", 9, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(resp_header(&r, "ETag", etag, sizeof(etag)));
	resp_free(&r);
	snprintf(file, sizeof(file), "%s/u/disk/%s/part-00001", dir, id);
	flip_on_disk(file, 0);
	snprintf(query, sizeof(query), "uploadId=%s", id);
	len = (size_t)snprintf(xml, sizeof(xml), "<CompleteMultipartUpload>");
	len = complete_part_xml(xml, sizeof(xml), len, 1, etag, NULL);
	snprintf(xml + len, sizeof(xml) - len, "</CompleteMultipartUpload>");
	s3h("POST", "/disk/crc/mp", query, nine_h, xml, strlen(xml), &r);
	assert_s3_error(&r, 500, "InternalError");
	resp_free(&r);
	s3("HEAD", "/disk/crc/mp", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	/* The upload stays, for an abort. */
	s3("DELETE", "/disk/crc/mp", query, NULL, 0, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);

	disk_mock_end(saved, dir);
}

/* Asserts that got differs from want in exactly the byte at off, flipped
   by XOR 0x01 (off >= len: no difference at all). */
static void assert_one_flip(const char *got, const char *want, size_t len,
			    size_t off)
{
	size_t i, diffs = 0;

	for (i = 0; i < len; i++) {
		if (got[i] == want[i])
			continue;
		diffs++;
		assert_int_equal(i, off);
		assert_int_equal((unsigned char)got[i],
				 (unsigned char)want[i] ^ 0x01);
	}
	assert_int_equal(diffs, off < len ? 1 : 0);
}

static void test_fault_corrupt(void **state)
{
	static const char *const mode_h[] = {"x-amz-checksum-mode: ENABLED",
					     NULL};
	static const char *const range_h[] = {"Range: bytes=100-199", NULL};
	static const char *const early_h[] = {"Range: bytes=0-99", NULL};
	const char *path = "/" BUCKET "/fault/corrupt";
	char *data = pattern(100000, 41), line[64], b64[16], got[16];
	const char *hdrs[] = {line, NULL};
	char *error = NULL;
	struct resp r;

	crc_b64(data, 100000, b64);
	snprintf(line, sizeof(line), "x-amz-checksum-crc32: %s", b64);
	s3h("PUT", path, NULL, hdrs, data, 100000, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	fs_mock_counters_reset(mock);

	/* Whole length, one byte flipped; the checksum sent is the stored
	   one, so the client can tell. */
	assert_true(fs_mock_fault_add(mock,
				      "key=fault/corrupt,op=GetObject,times=1,"
				      "action=corrupt,after=5000",
				      NULL) > 0);
	s3h("GET", path, NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Length", "100000");
	assert_int_equal(r.len, 100000);
	assert_one_flip(r.body, data, 100000, 5000);
	assert_crc(&r, b64);
	crc_b64(r.body, r.len, got);
	assert_string_not_equal(got, b64);
	resp_free(&r);
	/* times=1: the next read is intact. */
	s3h("GET", path, NULL, mode_h, NULL, 0, &r);
	assert_int_equal(r.len, 100000);
	assert_one_flip(r.body, data, 100000, 100000);
	resp_free(&r);

	/* Default offset 0; beyond the body nothing changes. */
	fs_mock_fault_add(mock, "key=fault/corrupt,times=1,action=corrupt",
			  NULL);
	s3("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.len, 100000);
	assert_one_flip(r.body, data, 100000, 0);
	resp_free(&r);
	fs_mock_fault_add(mock,
			  "key=fault/corrupt,times=1,action=corrupt,"
			  "after=100000",
			  NULL);
	s3("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.len, 100000);
	assert_one_flip(r.body, data, 100000, 100000);
	resp_free(&r);
	/* Spent rules stay out of the way: three reads were damaged. */
	assert_int_equal(fs_mock_counter(mock, "faults"), 3);

	/* The offset is in the object: a range shows the damage where it
	   covers that byte, and none elsewhere. */
	fs_mock_fault_add(mock,
			  "key=fault/corrupt,times=2,action=corrupt,after=150",
			  NULL);
	{
		struct req rq = {
			.method = "GET", .path = path, .headers = range_h};

		do_request(&rq, &r);
		assert_int_equal(r.status, 206);
		assert_int_equal(r.len, 100);
		assert_one_flip(r.body, data + 100, 100, 50);
		resp_free(&r);
		rq.headers = early_h;
		do_request(&rq, &r);
		assert_int_equal(r.status, 206);
		assert_int_equal(r.len, 100);
		assert_one_flip(r.body, data, 100, 100);
		resp_free(&r);
	}

	/* Replies built in memory (a listing) can be damaged too. */
	fs_mock_fault_add(
		mock, "op=ListObjectsV2,times=1,action=corrupt,after=0", NULL);
	s3("GET", "/" BUCKET, "list-type=2&prefix=fault/corrupt", NULL, 0, &r);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_true(r.len > 0);
	assert_int_equal(r.body[0], '<' ^ 0x01);
	resp_free(&r);

	assert_int_equal(
		fs_mock_fault_add(mock, "action=corrupt,after=x", &error),
		-EINVAL);
	assert_non_null(strstr(error, "after"));
	free(error);
	free(data);
}

/* A raw request to the admin endpoint. */
static void admin(const char *method, const char *what, const char *body,
		  struct resp *r)
{
	char url[256];

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s/_mock/%s", fs_mock_url(mock), what);
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(body));
	}
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, resp_body_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	r->code = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
}

static void test_admin(void **state)
{
	struct resp r;

	put_object("/" BUCKET "/admin", "a", 1);
	admin("POST", "faults", "op=HeadObject,key=admin,status=500\n", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	admin("GET", "faults", NULL, &r);
	assert_non_null(strstr(r.body, "op=HeadObject"));
	resp_free(&r);
	s3("HEAD", "/" BUCKET "/admin", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 500);
	resp_free(&r);
	admin("POST", "faults", "op=HeadObject,bogus", &r);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	admin("DELETE", "faults", NULL, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	s3("HEAD", "/" BUCKET "/admin", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);

	admin("GET", "stats", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"HeadObject\": "));
	assert_non_null(strstr(r.body, "\"requests\": "));
	resp_free(&r);
	admin("DELETE", "stats", NULL, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(fs_mock_counter(mock, "requests"), 0);
}

static void test_counters(void **state)
{
	struct resp r;
	char *json;

	put_object("/" BUCKET "/count", "c", 1);
	/* A new handle: a new connection, kept alive after. */
	curl_easy_cleanup(curl);
	curl = curl_easy_init();
	fs_mock_counters_reset(mock);
	s3("GET", "/" BUCKET "/count", NULL, NULL, 0, &r);
	resp_free(&r);
	s3("GET", "/" BUCKET "/count", NULL, NULL, 0, &r);
	resp_free(&r);
	s3("HEAD", "/" BUCKET "/count", NULL, NULL, 0, &r);
	resp_free(&r);
	s3("PUT", "/" BUCKET "/count", NULL, "cc", 2, &r);
	resp_free(&r);
	assert_int_equal(fs_mock_counter(mock, "requests"), 4);
	assert_int_equal(fs_mock_counter(mock, "GetObject"), 2);
	assert_int_equal(fs_mock_counter(mock, "HeadObject"), 1);
	assert_int_equal(fs_mock_counter(mock, "PutObject"), 1);
	assert_int_equal(fs_mock_counter(mock, "GET"), 2);
	assert_int_equal(fs_mock_counter(mock, "PUT"), 1);
	assert_int_equal(fs_mock_counter(mock, "connections"), 1);
	assert_int_equal(fs_mock_counter(mock, "bytes_in"), 2);
	assert_int_equal(fs_mock_counter(mock, "bytes_out"), 2);
	assert_int_equal(fs_mock_counter(mock, "nosuchcounter"), 0);
	json = fs_mock_counters_json(mock);
	assert_non_null(strstr(json, "\"GetObject\": 2"));
	free(json);
	fs_mock_counters_reset(mock);
	assert_int_equal(fs_mock_counter(mock, "GetObject"), 0);
}

#define PARALLEL 16
#define PARALLEL_SIZE (256 * 1024)

/* Runs the requests at once on a multi handle; fills the responses. */
static void run_parallel(struct req *rqs, struct resp *rs, unsigned int n)
{
	struct curl_slist *lists[PARALLEL];
	CURL *easy[PARALLEL];
	CURLM *multi = curl_multi_init();
	int running = 1;
	unsigned int i;

	for (i = 0; i < n; i++) {
		easy[i] = curl_easy_init();
		prepare(easy[i], &rqs[i], &rs[i], &lists[i]);
		curl_multi_add_handle(multi, easy[i]);
	}
	while (running > 0) {
		assert_int_equal(curl_multi_perform(multi, &running), CURLM_OK);
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	}
	for (i = 0; i < n; i++) {
		curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE,
				  &rs[i].status);
		curl_multi_remove_handle(multi, easy[i]);
		curl_easy_cleanup(easy[i]);
		curl_slist_free_all(lists[i]);
	}
	curl_multi_cleanup(multi);
}

static void test_parallel(void **state)
{
	struct req rqs[PARALLEL];
	struct resp rs[PARALLEL];
	char paths[PARALLEL][64], *data[PARALLEL];
	unsigned int i;

	fs_mock_counters_reset(mock);
	memset(rqs, 0, sizeof(rqs));
	for (i = 0; i < PARALLEL; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/" BUCKET "/par/%u", i);
		data[i] = pattern(PARALLEL_SIZE, i);
		rqs[i].method = "PUT";
		rqs[i].path = paths[i];
		rqs[i].body = data[i];
		rqs[i].body_len = PARALLEL_SIZE;
	}
	run_parallel(rqs, rs, PARALLEL);
	for (i = 0; i < PARALLEL; i++) {
		assert_int_equal(rs[i].status, 200);
		resp_free(&rs[i]);
		rqs[i].method = "GET";
		rqs[i].body = NULL;
		rqs[i].body_len = 0;
	}
	run_parallel(rqs, rs, PARALLEL);
	for (i = 0; i < PARALLEL; i++) {
		assert_int_equal(rs[i].status, 200);
		assert_int_equal(rs[i].len, PARALLEL_SIZE);
		assert_memory_equal(rs[i].body, data[i], PARALLEL_SIZE);
		resp_free(&rs[i]);
		free(data[i]);
	}
	assert_int_equal(fs_mock_counter(mock, "requests"), 2 * PARALLEL);
	assert_true(fs_mock_counter(mock, "connections") >= 2);
}

static void test_posix_backend(void **state)
{
	char dir[] = "/tmp/test_mock_s3.XXXXXX";
	struct fs_mock *saved;
	struct resp r;

	saved = disk_mock_begin(dir);
	put_object("/disk/some/key", "on disk", 7);
	s3("GET", "/disk/some/key", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "on disk", 7);
	resp_free(&r);
	disk_mock_end(saved, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_start_errors, test_setup),
		cmocka_unit_test_setup(test_object_round_trip, test_setup),
		cmocka_unit_test_setup(test_buckets, test_setup),
		cmocka_unit_test_setup(test_auth, test_setup),
		cmocka_unit_test_setup(test_content_md5, test_setup),
		cmocka_unit_test_setup(test_presigned, test_setup),
		cmocka_unit_test_setup(test_range, test_setup),
		cmocka_unit_test_setup(test_conditions, test_setup),
		cmocka_unit_test_setup(test_bad_keys, test_setup),
		cmocka_unit_test_setup(test_virtual_host, test_setup),
		cmocka_unit_test_setup(test_multipart, test_setup),
		cmocka_unit_test_setup(test_multipart_small_and_abort,
				       test_setup),
		cmocka_unit_test_setup(test_list_v2_pages, test_setup),
		cmocka_unit_test_setup(test_list_delimiter, test_setup),
		cmocka_unit_test_setup(test_copy, test_setup),
		cmocka_unit_test_setup(test_delete_objects, test_setup),
		cmocka_unit_test_setup(test_crc32_put_get, test_setup),
		cmocka_unit_test_setup(test_crc32_conditions, test_setup),
		cmocka_unit_test_setup(test_crc32_sizes_and_replace,
				       test_setup),
		cmocka_unit_test_setup(test_crc32_bad_put, test_setup),
		cmocka_unit_test_setup(test_crc32_unsupported, test_setup),
		cmocka_unit_test_setup(test_crc32_copy, test_setup),
		cmocka_unit_test_setup(test_crc32_multipart, test_setup),
		cmocka_unit_test_setup(test_crc32_multipart_refused,
				       test_setup),
		cmocka_unit_test_setup(test_crc32_damaged_store, test_setup),
		cmocka_unit_test_setup(test_fault_error, test_setup),
		cmocka_unit_test_setup(test_fault_probability, test_setup),
		cmocka_unit_test_setup(test_fault_delay_and_drip, test_setup),
		cmocka_unit_test_setup(test_fault_cut_bodies, test_setup),
		cmocka_unit_test_setup(test_fault_upload_reset, test_setup),
		cmocka_unit_test_setup(test_fault_corrupt, test_setup),
		cmocka_unit_test_setup(test_admin, test_setup),
		cmocka_unit_test_setup(test_counters, test_setup),
		cmocka_unit_test_setup(test_parallel, test_setup),
		cmocka_unit_test_setup(test_posix_backend, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
