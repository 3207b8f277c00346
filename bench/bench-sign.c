/*
 * fs-bench-s3 and fs-bench-mail: SigV4 signing for the raw libcurl peer,
 * the streaming client of the big scenario and the set-up requests, with
 * libfs's own signer (drivers/s3/sigv4.h), exactly as a real client signs:
 * a fresh timestamp per request, the body's SHA-256 in X-Amz-Content-Sha256
 * (UNSIGNED-PAYLOAD for a stream), Content-MD5 on uploads, and a cached
 * signing key.
 */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "drivers/s3/sigv4.h"

#define SIGN_HEADERS_MAX 8
#define SIGN_LINE_MAX 512

int bench_signer_init(struct bench_signer *signer,
		      const struct bench_target *target)
{
	signer->target = target;
	signer->key_cache = calloc(1, sizeof(struct fs_sigv4_key_cache));
	return signer->key_cache == NULL ? -ENOMEM : 0;
}

void bench_signer_deinit(struct bench_signer *signer)
{
	if (signer->key_cache != NULL)
		fs_sigv4_key_cache_clear(signer->key_cache);
	free(signer->key_cache);
	signer->key_cache = NULL;
}

int bench_md5_base64(const void *data, size_t size, char b64_r[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(data, size, md, &len, EVP_md5(), NULL) != 1 || len != 16)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)b64_r, md, (int)len);
	return 0;
}

void bench_s3_error_code(const void *body, size_t len, char *code_r,
			 size_t size)
{
	const char *start, *end;
	size_t n;

	code_r[0] = '\0';
	start = body != NULL ? memmem(body, len, "<Code>", 6) : NULL;
	if (start == NULL)
		return;
	start += 6;
	end = memchr(start, '<', len - (size_t)(start - (const char *)body));
	if (end == NULL)
		return;
	n = (size_t)(end - start);
	if (n >= size)
		n = size - 1;
	memcpy(code_r, start, n);
	code_r[n] = '\0';
}

/* The headers that are signed, as name/value pairs and as "Name: value"
   lines for curl. */
struct sign_headers {
	struct fs_sigv4_header h[SIGN_HEADERS_MAX];
	char lines[SIGN_HEADERS_MAX][SIGN_LINE_MAX];
	size_t count;
};

static void sign_headers_add(struct sign_headers *sh, const char *name,
			     const char *value)
{
	size_t n = strlen(name);

	snprintf(sh->lines[sh->count], SIGN_LINE_MAX, "%s: %s", name, value);
	sh->h[sh->count].name = name;
	sh->h[sh->count].value = sh->lines[sh->count] + n + 2;
	sh->count++;
}

static int slist_add(struct curl_slist **list, const char *line)
{
	struct curl_slist *next = curl_slist_append(*list, line);

	if (next == NULL)
		return -ENOMEM;
	*list = next;
	return 0;
}

static int sign_headers_to_list(const struct sign_headers *sh,
				const char *authorization,
				struct curl_slist **list_r)
{
	struct curl_slist *list = NULL;
	char line[SIGN_LINE_MAX * 2];
	size_t i;
	int ret = 0;

	for (i = 0; i < sh->count && ret == 0; i++)
		ret = slist_add(&list, sh->lines[i]);
	snprintf(line, sizeof(line), "Authorization: %s", authorization);
	if (ret == 0)
		ret = slist_add(&list, line);
	/* No 100-continue round trip for small bodies, and no Content-Type
	   that curl might invent. */
	if (ret == 0)
		ret = slist_add(&list, "Expect:");
	if (ret == 0)
		ret = slist_add(&list, "Content-Type:");
	if (ret < 0) {
		curl_slist_free_all(list);
		return ret;
	}
	*list_r = list;
	return 0;
}

/* Signs the request with the headers so far in sh and payload hash sha,
   and makes them curl's list. */
static int sign_headers(struct bench_signer *signer, const char *method,
			const char *path, const char *query, const char *ts,
			const char *sha, struct sign_headers *sh,
			struct curl_slist **list_r)
{
	const struct bench_target *t = signer->target;
	struct fs_sigv4_credentials cred = {
		.access_key = t->access_key,
		.secret_key = t->secret_key,
		.region = t->region,
		.service = "s3",
	};
	struct fs_sigv4_request req = {.method = method,
				       .path = path,
				       .query = query,
				       .headers = sh->h,
				       .header_count = sh->count,
				       .payload_hash = sha};
	const unsigned char *key;
	const char *why = NULL;
	char *authz = NULL;
	int ret;

	ret = fs_sigv4_key_cache_get(signer->key_cache, &cred, ts, &key);
	if (ret == 0)
		ret = fs_sigv4_sign_request(&req, &cred, ts, NULL, key, &authz,
					    &why);
	if (ret == 0)
		ret = sign_headers_to_list(sh, authz, list_r);
	free(authz);
	return ret;
}

int bench_sign_request(struct bench_signer *signer, const char *method,
		       const char *path, const char *query, const void *body,
		       size_t size, struct curl_slist **list_r)
{
	struct sign_headers sh = {.count = 0};
	char ts[FS_SIGV4_TIMESTAMP_SIZE], sha[FS_SIGV4_HEX_SIZE], md5[32];

	if (fs_sigv4_timestamp(time(NULL), ts) < 0 ||
	    fs_sigv4_sha256_hex(body != NULL ? body : "", size, sha) < 0)
		return -EIO;
	sign_headers_add(&sh, "Host", signer->target->host);
	sign_headers_add(&sh, "X-Amz-Date", ts);
	sign_headers_add(&sh, "X-Amz-Content-Sha256", sha);
	if (body != NULL) {
		if (bench_md5_base64(body, size, md5) < 0)
			return -EIO;
		sign_headers_add(&sh, "Content-MD5", md5);
	}
	return sign_headers(signer, method, path, query, ts, sha, &sh, list_r);
}

int bench_sign_streaming(struct bench_signer *signer, const char *method,
			 const char *path, struct curl_slist **list_r)
{
	struct sign_headers sh = {.count = 0};
	char ts[FS_SIGV4_TIMESTAMP_SIZE];

	if (fs_sigv4_timestamp(time(NULL), ts) < 0)
		return -EIO;
	sign_headers_add(&sh, "Host", signer->target->host);
	sign_headers_add(&sh, "X-Amz-Date", ts);
	sign_headers_add(&sh, "X-Amz-Content-Sha256",
			 FS_SIGV4_UNSIGNED_PAYLOAD);
	return sign_headers(signer, method, path, NULL, ts,
			    FS_SIGV4_UNSIGNED_PAYLOAD, &sh, list_r);
}
