/*
 * fs-bench-s3 and fs-bench-mail: the server under the benchmark.
 *
 * Either the project's mock started in this process (mockserver.h), or an
 * external endpoint (--endpoint, e.g. s3rver or fs-mockserver). Request
 * counters and injected latency come from the mock's API in process, and
 * from its admin endpoint (/_mock/...) when the external server is an
 * fs-mockserver; other servers have neither, which the report says.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-server.h"
#include "drivers/s3/sigv4.h"
#include "mockserver.h"

#define SERVER_REPLY_MAX (256 * 1024)

struct server_reply {
	char *buf;
	size_t len;
	long status;
};

static size_t server_write(char *data, size_t size, size_t n, void *context)
{
	struct server_reply *r = context;
	size_t len = size * n;
	char *buf;

	if (r->len + len > SERVER_REPLY_MAX)
		return 0;
	buf = realloc(r->buf, r->len + len + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf + r->len, data, len);
	r->buf = buf;
	r->len += len;
	r->buf[r->len] = '\0';
	return len;
}

static size_t server_read(char *buf, size_t size, size_t n, void *context)
{
	const char **body = context;
	size_t len = strlen(*body);

	if (len > size * n)
		len = size * n;
	memcpy(buf, *body, len);
	*body += len;
	return len;
}

/* One request to the server, signed unless it is an admin request. body is
   a string (or NULL). Returns 0 with r->status set, or -EIO with a message
   in error. */
static int server_request(struct bench_server *srv, const char *method,
			  const char *path, const char *body, bool sign,
			  struct server_reply *r, char *error, size_t size)
{
	struct curl_slist *headers = NULL;
	char url[BENCH_URL_MAX];
	const char *cursor = body;
	CURLcode code;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (sign)
		ret = bench_sign_request(&srv->signer, method, path, NULL,
					 body != NULL ? body : NULL,
					 body != NULL ? strlen(body) : 0,
					 &headers);
	if (ret < 0) {
		snprintf(error, size, "%s %s: signing: %s", method, path,
			 fs_errno_name(ret));
		return ret;
	}
	snprintf(url, sizeof(url), "%s%s", srv->endpoint, path);
	curl_easy_reset(srv->easy);
	curl_easy_setopt(srv->easy, CURLOPT_URL, url);
	curl_easy_setopt(srv->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(srv->easy, CURLOPT_TIMEOUT,
			 (long)BENCH_REQUEST_TIMEOUT_SECS);
	curl_easy_setopt(srv->easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(srv->easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(srv->easy, CURLOPT_WRITEFUNCTION, server_write);
	curl_easy_setopt(srv->easy, CURLOPT_WRITEDATA, r);
	if (body != NULL || strcmp(method, "PUT") == 0) {
		cursor = body != NULL ? body : "";
		curl_easy_setopt(srv->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(srv->easy, CURLOPT_READFUNCTION, server_read);
		curl_easy_setopt(srv->easy, CURLOPT_READDATA, &cursor);
		curl_easy_setopt(srv->easy, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)strlen(cursor));
	}
	code = curl_easy_perform(srv->easy);
	curl_easy_getinfo(srv->easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(headers);
	if (code != CURLE_OK) {
		snprintf(error, size, "%s %s%s: %s", method, srv->endpoint,
			 path, curl_easy_strerror(code));
		free(r->buf);
		r->buf = NULL;
		return -EIO;
	}
	return 0;
}

static void server_reply_free(struct server_reply *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Splits "http://HOST:PORT[/]" into the endpoint without '/' and host. */
static int server_parse_endpoint(struct bench_server *srv, const char *url,
				 char *error, size_t size)
{
	char *ep = srv->endpoint, *host;
	size_t len;

	snprintf(ep, sizeof(srv->endpoint), "%s", url);
	len = strlen(ep);
	while (len > 0 && ep[len - 1] == '/')
		ep[--len] = '\0';
	host = strstr(ep, "://");
	if (host == NULL || host[3] == '\0' || strchr(host + 3, '/') != NULL ||
	    (strncmp(ep, "http://", 7) != 0 &&
	     strncmp(ep, "https://", 8) != 0)) {
		snprintf(error, size,
			 "--endpoint %s: expected http://HOST:PORT (no path)",
			 url);
		return -EINVAL;
	}
	snprintf(srv->host, sizeof(srv->host), "%s", host + 3);
	return 0;
}

static int server_start_mock(struct bench_server *srv, char *error, size_t size)
{
	struct fs_mock_settings set;
	struct fs_mock_credential cred = {
		.access_key = srv->target.access_key,
		.secret_key = srv->target.secret_key,
	};
	char *why = NULL;

	fs_mock_settings_init(&set);
	set.credentials = &cred;
	set.credentials_count = 1;
	set.region = srv->target.region;
	srv->mock = fs_mock_start(&set, &why);
	if (srv->mock == NULL) {
		snprintf(error, size, "starting the mock server: %s",
			 why != NULL ? why : "failed");
		free(why);
		return -EIO;
	}
	srv->counters = true;
	return server_parse_endpoint(srv, fs_mock_url(srv->mock), error, size);
}

int bench_server_start(struct bench_server *srv, const char *endpoint,
		       const struct bench_target *target, char *error,
		       size_t size)
{
	struct server_reply r;
	int ret;

	memset(srv, 0, sizeof(*srv));
	srv->target = *target;
	srv->easy = curl_easy_init();
	if (srv->easy == NULL ||
	    bench_signer_init(&srv->signer, &srv->target) < 0) {
		snprintf(error, size, "out of memory");
		return -ENOMEM;
	}
	if (endpoint == NULL)
		ret = server_start_mock(srv, error, size);
	else
		ret = server_parse_endpoint(srv, endpoint, error, size);
	if (ret < 0)
		return ret;
	srv->target.endpoint = srv->endpoint;
	srv->target.host = srv->host;
	if (srv->mock != NULL)
		return 0;
	/* An fs-mockserver answers its admin endpoint; others do not. */
	if (server_request(srv, "GET", "/_mock/stats", NULL, false, &r, error,
			   size) == 0 &&
	    r.status == 200 && r.buf != NULL && r.buf[0] == '{')
		srv->counters = true;
	server_reply_free(&r);
	error[0] = '\0';
	return 0;
}

void bench_server_stop(struct bench_server *srv)
{
	if (srv->easy != NULL)
		bench_server_clear_faults(srv);
	fs_mock_stop(&srv->mock);
	bench_signer_deinit(&srv->signer);
	if (srv->easy != NULL)
		curl_easy_cleanup(srv->easy);
	srv->easy = NULL;
}

int bench_server_create_bucket(struct bench_server *srv, char *error,
			       size_t size)
{
	struct server_reply r;
	char path[BENCH_URL_MAX], code[64];
	int ret;

	snprintf(path, sizeof(path), "/%s", srv->target.bucket);
	ret = server_request(srv, "PUT", path, NULL, true, &r, error, size);
	if (ret < 0)
		return ret;
	bench_s3_error_code(r.buf, r.len, code, sizeof(code));
	server_reply_free(&r);
	if (r.status == 200 || strcmp(code, "BucketAlreadyOwnedByYou") == 0 ||
	    strcmp(code, "BucketAlreadyExists") == 0)
		return 0;
	snprintf(error, size, "creating bucket %s: HTTP %ld %s",
		 srv->target.bucket, r.status, code);
	return -EIO;
}

static int server_add_fault_external(struct bench_server *srv, const char *rule,
				     char *error, size_t size)
{
	struct server_reply r;
	char body[BENCH_URL_MAX];
	int ret, id = -1;

	snprintf(body, sizeof(body), "%s\n", rule);
	ret = server_request(srv, "POST", "/_mock/faults", body, false, &r,
			     error, size);
	if (ret == 0 && r.status == 200 && r.buf != NULL)
		id = atoi(r.buf);
	server_reply_free(&r);
	if (ret == 0 && id <= 0) {
		snprintf(error, size, "POST /_mock/faults \"%s\": HTTP %ld",
			 rule, r.status);
		ret = -EIO;
	}
	return ret < 0 ? ret : id;
}

int bench_server_add_fault(struct bench_server *srv, const char *rule,
			   char *error, size_t size)
{
	char *why = NULL;
	int id;

	if (srv->fault_count == BENCH_SERVER_FAULTS_MAX) {
		snprintf(error, size, "too many fault rules");
		return -E2BIG;
	}
	if (srv->mock != NULL) {
		id = fs_mock_fault_add(srv->mock, rule, &why);
		if (id < 0)
			snprintf(error, size, "fault rule \"%s\": %s", rule,
				 why != NULL ? why : fs_errno_name(id));
		free(why);
	} else if (srv->counters) {
		id = server_add_fault_external(srv, rule, error, size);
	} else {
		snprintf(error, size,
			 "--latency and --fault need the in-process mock or "
			 "an fs-mockserver endpoint");
		id = -ENOTSUP;
	}
	if (id < 0)
		return id;
	srv->fault_ids[srv->fault_count++] = id;
	return 0;
}

void bench_server_clear_faults(struct bench_server *srv)
{
	struct server_reply r;
	char path[64], error[BENCH_ERROR_MAX];
	unsigned int i;

	for (i = 0; i < srv->fault_count; i++) {
		if (srv->mock != NULL) {
			fs_mock_fault_remove(srv->mock, srv->fault_ids[i]);
			continue;
		}
		snprintf(path, sizeof(path), "/_mock/faults/%d",
			 srv->fault_ids[i]);
		if (server_request(srv, "DELETE", path, NULL, false, &r, error,
				   sizeof(error)) < 0)
			fprintf(stderr, "%s: %s\n", bench_program, error);
		server_reply_free(&r);
	}
	srv->fault_count = 0;
}

void bench_server_counters_reset(struct bench_server *srv)
{
	struct server_reply r;
	char error[BENCH_ERROR_MAX];

	if (srv->mock != NULL) {
		fs_mock_counters_reset(srv->mock);
	} else if (srv->counters) {
		if (server_request(srv, "DELETE", "/_mock/stats", NULL, false,
				   &r, error, sizeof(error)) < 0 ||
		    r.status >= 300)
			srv->counters = false;
		server_reply_free(&r);
	}
}

uint64_t bench_server_json_counter(const char *json, const char *name)
{
	char needle[80];
	const char *p;

	snprintf(needle, sizeof(needle), "\"%s\"", name);
	p = strstr(json, needle);
	if (p == NULL)
		return 0;
	p += strlen(needle);
	while (*p == ' ' || *p == ':')
		p++;
	return strtoull(p, NULL, 10);
}

static void server_counts_from(struct bench_counts *c, void *context,
			       uint64_t (*get)(void *, const char *))
{
	c->put = get(context, "PutObject");
	c->get = get(context, "GetObject");
	c->requests = get(context, "requests");
	c->connections = get(context, "connections");
	c->errors = get(context, "errors");
	c->valid = true;
}

static uint64_t server_mock_get(void *context, const char *name)
{
	return fs_mock_counter(context, name);
}

static uint64_t server_json_get(void *context, const char *name)
{
	return bench_server_json_counter(context, name);
}

void bench_server_counters(struct bench_server *srv, struct bench_counts *c)
{
	struct server_reply r;
	char error[BENCH_ERROR_MAX];

	memset(c, 0, sizeof(*c));
	if (srv->mock != NULL) {
		server_counts_from(c, srv->mock, server_mock_get);
		return;
	}
	if (!srv->counters)
		return;
	if (server_request(srv, "GET", "/_mock/stats", NULL, false, &r, error,
			   sizeof(error)) == 0 &&
	    r.status == 200 && r.buf != NULL)
		server_counts_from(c, r.buf, server_json_get);
	server_reply_free(&r);
}

int bench_server_delete(struct bench_server *srv, const char *key, char *error,
			size_t size)
{
	struct server_reply r;
	char path[BENCH_URL_MAX], *enc;
	int ret;

	if (fs_sigv4_uri_encode(key, false, &enc) < 0)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/%s/%s", srv->target.bucket, enc);
	free(enc);
	ret = server_request(srv, "DELETE", path, NULL, true, &r, error, size);
	server_reply_free(&r);
	if (ret < 0)
		return ret;
	if (r.status >= 300 && r.status != 404) {
		snprintf(error, size, "DELETE %s: HTTP %ld", path, r.status);
		return -EIO;
	}
	return 0;
}
