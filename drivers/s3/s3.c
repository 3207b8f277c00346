/*
 * s3: objects in an S3-compatible bucket, on the shared HTTP transport.
 *
 *   s3://BUCKET/PREFIX?endpoint=URL&region=R&style=path|virtual&list=v1|v2
 *      &create=if-none-match|head&copy_create=if-none-match|head
 *      &multipart_threshold=5M&part_size=5M
 *      &min_part_size=5M&parallel=2&max_keys=1000&anonymous=1&verify=1
 *      &checksum=crc32|none
 *      &key_max=1024&metadata_max=2048 (for stores that take less than S3)
 *
 * PREFIX (may be empty) is prepended to every key as "PREFIX/". Credentials
 * come from struct fs_settings, else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 * and AWS_SESSION_TOKEN; never from the spec. The region is the spec's, else
 * the settings', else AWS_REGION, else us-east-1. The endpoint defaults to
 * https://s3.REGION.amazonaws.com; path-style URLs are the default for IP
 * address and localhost endpoints (and buckets that are no DNS name),
 * virtual-hosted ones (BUCKET.host) otherwise. libcurl (7.78 and later)
 * resolves every *.localhost name to loopback by itself, so virtual-hosted
 * style works against a local server at http://localhost:PORT.
 *
 * Integrity: every upload carries Content-MD5 (which every S3 store checks)
 * and, unless checksum=none, x-amz-checksum-crc32; multipart uploads ask
 * for a FULL_OBJECT CRC-32 and give it to CompleteMultipartUpload. A
 * whole-object GET (unless verify=0) asks for the stored CRC-32
 * (x-amz-checksum-mode) and checks the body against it, else against the
 * ETag where that is the MD5 (objects written by other clients, stores
 * without flexible checksums): a damaged or cut body is -EIO, never data.
 * CRC-32 because it costs 1.3 us per 8 KiB here against 9.6 us for MD5,
 * which was a quarter of a small GET's time; checksum=none is for stores
 * that refuse the x-amz-checksum-* headers.
 *
 * Every request is signed with SigV4 in the transport's sign callback, so
 * that each retry carries a fresh X-Amz-Date. Memory bodies are signed with
 * their real SHA-256. Messages and debug traces never carry the secret key,
 * the session token or the Authorization header.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "crc32.h"
#include "s3-private.h"
#include "xml.h"

/* ------------------------------------------------------------------------ */
/* Spec and options                                                           */

struct s3_spec {
	char *endpoint, *region, *style;
};

static int s3_decode_value(struct s3_fs *fs, const char *name,
			   const char *value, char **out_r)
{
	if (fs_sigv4_uri_decode(value, strlen(value), out_r) < 0)
		return fs_set_error(&fs->fs, -EINVAL,
				    "option '%s': malformed %%-escape", name);
	return 0;
}

static int s3_size_option(struct s3_fs *fs, const struct fs_kv *kv,
			  uint64_t *size_r)
{
	if (fs_parse_size(kv->value, size_r) < 0 || *size_r == 0)
		return fs_set_error(&fs->fs, -EINVAL,
				    "option '%s': bad size '%s' (e.g. 8M)",
				    kv->name, kv->value);
	return 0;
}

static int s3_uint_option(struct s3_fs *fs, const struct fs_kv *kv,
			  unsigned int min, unsigned int max,
			  unsigned int *num_r)
{
	uint64_t num;

	if (fs_parse_uint(kv->value, &num) < 0 || num < min || num > max)
		return fs_set_error(&fs->fs, -EINVAL,
				    "option '%s': expected a number from %u to "
				    "%u, not '%s'",
				    kv->name, min, max, kv->value);
	*num_r = (unsigned int)num;
	return 0;
}

static int s3_enum_option(struct s3_fs *fs, const struct fs_kv *kv,
			  const char *a, const char *b, bool *is_b_r)
{
	if (strcmp(kv->value, a) != 0 && strcmp(kv->value, b) != 0)
		return fs_set_error(&fs->fs, -EINVAL,
				    "option '%s': expected %s or %s, not '%s'",
				    kv->name, a, b, kv->value);
	*is_b_r = strcmp(kv->value, b) == 0;
	return 0;
}

static int s3_string_option(struct s3_fs *fs, const struct fs_kv *kv,
			    char **dst)
{
	if (*dst != NULL)
		return fs_set_error(&fs->fs, -EINVAL, "option '%s' given twice",
				    kv->name);
	return s3_decode_value(fs, kv->name, kv->value, dst);
}

static int s3_parse_option(struct s3_fs *fs, const struct fs_kv *kv,
			   struct s3_spec *spec)
{
	const char *n = kv->name;
	bool flag;
	int ret;

	if (strcmp(n, "endpoint") == 0)
		return s3_string_option(fs, kv, &spec->endpoint);
	if (strcmp(n, "region") == 0)
		return s3_string_option(fs, kv, &spec->region);
	if (strcmp(n, "style") == 0) {
		if (strcmp(kv->value, "path") != 0 &&
		    strcmp(kv->value, "virtual") != 0)
			return s3_enum_option(fs, kv, "path", "virtual", &flag);
		return s3_string_option(fs, kv, &spec->style);
	}
	if (strcmp(n, "list") == 0)
		return s3_enum_option(fs, kv, "v2", "v1", &fs->list_v1);
	if (strcmp(n, "create") == 0) {
		/* a store ignoring If-None-Match on PUT ignores it on copies */
		ret = s3_enum_option(fs, kv, "if-none-match", "head", &flag);
		fs->create = flag ? S3_CREATE_HEAD : S3_CREATE_IF_NONE_MATCH;
		if (flag)
			fs->copy_create = S3_CREATE_HEAD;
		return ret;
	}
	if (strcmp(n, "copy_create") == 0) {
		ret = s3_enum_option(fs, kv, "if-none-match", "head", &flag);
		fs->copy_create =
			flag ? S3_CREATE_HEAD : S3_CREATE_IF_NONE_MATCH;
		return ret;
	}
	if (strcmp(n, "anonymous") == 0)
		return s3_enum_option(fs, kv, "0", "1", &fs->anonymous);
	if (strcmp(n, "verify") == 0)
		return s3_enum_option(fs, kv, "1", "0", &fs->no_verify);
	if (strcmp(n, "checksum") == 0)
		return s3_enum_option(fs, kv, "crc32", "none",
				      &fs->no_checksum);
	if (strcmp(n, "multipart_threshold") == 0)
		return s3_size_option(fs, kv, &fs->threshold);
	if (strcmp(n, "part_size") == 0)
		return s3_size_option(fs, kv, &fs->part_size);
	if (strcmp(n, "min_part_size") == 0)
		return s3_size_option(fs, kv, &fs->min_part_size);
	if (strcmp(n, "parallel") == 0)
		return s3_uint_option(fs, kv, 1, S3_MAX_PARALLEL,
				      &fs->parallel);
	if (strcmp(n, "max_keys") == 0)
		return s3_uint_option(fs, kv, 1, S3_MAX_KEYS, &fs->max_keys);
	if (strcmp(n, "key_max") == 0)
		return s3_uint_option(fs, kv, 1, FS_KEY_MAX, &fs->key_max);
	if (strcmp(n, "metadata_max") == 0)
		return s3_uint_option(fs, kv, 0, FS_METADATA_TOTAL_MAX,
				      &fs->metadata_max);
	return fs_set_error(&fs->fs, -EINVAL,
			    "unknown option '%s' (known: endpoint, region, "
			    "style, list, create, copy_create, anonymous, "
			    "verify, checksum, "
			    "multipart_threshold, part_size, min_part_size, "
			    "parallel, max_keys, key_max, metadata_max)",
			    n);
}

static int s3_parse_query(struct s3_fs *fs, const char *query,
			  struct s3_spec *spec)
{
	struct fs_kv *kv;
	int i, count, ret = 0;

	count = fs_kv_split(query, '&', &kv);
	if (count < 0)
		return fs_set_error(&fs->fs, -EINVAL, "malformed options");
	for (i = 0; i < count && ret == 0; i++)
		ret = s3_parse_option(fs, &kv[i], spec);
	fs_kv_free(kv, count);
	return ret;
}

static bool s3_bucket_valid(const char *bucket)
{
	size_t len = strlen(bucket);
	const char *p;

	if (len < 3 || len > 255)
		return false;
	for (p = bucket; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-", *p) != NULL))
			return false;
	}
	return true;
}

/* A bucket usable as a host name label set (virtual-hosted style). */
static bool s3_bucket_dns(const char *bucket)
{
	size_t len = strlen(bucket);
	const char *p;

	if (len > 63 || bucket[0] == '-' || bucket[len - 1] == '-')
		return false;
	for (p = bucket; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.'))
			return false;
	}
	return true;
}

/* Sets fs->prefix from the spec's decoded PREFIX: "" or "PREFIX/". */
static int s3_set_prefix(struct s3_fs *fs, const char *raw, size_t len)
{
	char *decoded, *p;
	const char *reason;
	size_t dlen;

	if (fs_sigv4_uri_decode(raw, len, &decoded) < 0)
		return fs_set_error(&fs->fs, -EINVAL,
				    "malformed %%-escape in the prefix");
	dlen = strlen(decoded);
	while (dlen > 0 && decoded[dlen - 1] == '/')
		decoded[--dlen] = '\0';
	if (dlen > 0 && fs_key_validate(decoded, &reason) < 0) {
		free(decoded);
		return fs_set_error(&fs->fs, -EINVAL, "invalid prefix: %s",
				    reason);
	}
	p = realloc(decoded, dlen + 2);
	if (p == NULL) {
		free(decoded);
		return fs_set_error(&fs->fs, -ENOMEM, "out of memory");
	}
	if (dlen > 0)
		strcpy(p + dlen, "/");
	fs->prefix = p;
	return 0;
}

/* Parses "//BUCKET[/PREFIX][?OPTIONS]". */
static int s3_parse_location(struct s3_fs *fs, const char *args,
			     struct s3_spec *spec)
{
	const char *p, *q, *slash, *end;

	if (strncmp(args, "//", 2) != 0)
		return fs_set_error(&fs->fs, -EINVAL,
				    "expected s3://BUCKET/PREFIX?OPTIONS");
	p = args + 2;
	q = strchr(p, '?');
	end = q != NULL ? q : p + strlen(p);
	slash = memchr(p, '/', (size_t)(end - p));
	fs->bucket = strndup(p, (size_t)((slash != NULL ? slash : end) - p));
	if (fs->bucket == NULL)
		return fs_set_error(&fs->fs, -ENOMEM, "out of memory");
	if (!s3_bucket_valid(fs->bucket))
		return fs_set_error(&fs->fs, -EINVAL,
				    "invalid bucket name '%s'", fs->bucket);
	if (slash == NULL)
		slash = end;
	else
		slash++;
	if (s3_set_prefix(fs, slash, (size_t)(end - slash)) < 0)
		return -EINVAL;
	return q != NULL ? s3_parse_query(fs, q + 1, spec) : 0;
}

/* ------------------------------------------------------------------------ */
/* Endpoint, credentials                                                      */

static bool s3_host_is_local(const char *host, size_t len)
{
	size_t i;
	bool ip = len > 0;

	if (len > 0 && host[0] == '[')
		return true; /* IPv6 literal */
	if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	    (len > 10 && strncasecmp(host + len - 10, ".localhost", 10) == 0))
		return true;
	for (i = 0; i < len; i++) {
		if (!(host[i] == '.' || (host[i] >= '0' && host[i] <= '9')))
			ip = false;
	}
	return ip;
}

/* Builds base_url and host from the endpoint
   "scheme://host[:port][/path]". */
static int s3_set_urls(struct s3_fs *fs, const char *endpoint,
		       const char *style)
{
	const char *sep = strstr(endpoint, "://"), *auth, *path, *colon;
	size_t scheme_len, auth_len, path_len, host_len;
	int ret;

	if (sep == NULL || (strncasecmp(endpoint, "http://", 7) != 0 &&
			    strncasecmp(endpoint, "https://", 8) != 0))
		return fs_set_error(&fs->fs, -EINVAL,
				    "endpoint '%s': expected http:// or "
				    "https://HOST[:PORT]",
				    endpoint);
	scheme_len = (size_t)(sep - endpoint);
	auth = sep + 3;
	path = auth + strcspn(auth, "/?#");
	auth_len = (size_t)(path - auth);
	if (auth_len == 0 || memchr(auth, '@', auth_len) != NULL ||
	    *path == '?' || *path == '#')
		return fs_set_error(&fs->fs, -EINVAL,
				    "endpoint '%s': expected "
				    "http[s]://HOST[:PORT][/PATH]",
				    endpoint);
	path_len = strlen(path);
	while (path_len > 0 && path[path_len - 1] == '/')
		path_len--;
	colon = auth[0] == '[' ? memchr(auth, ']', auth_len) : auth;
	colon = colon != NULL
			? memchr(colon, ':', auth_len - (size_t)(colon - auth))
			: NULL;
	host_len = colon != NULL ? (size_t)(colon - auth) : auth_len;
	if (style != NULL)
		fs->virtual_style = strcmp(style, "virtual") == 0;
	else
		fs->virtual_style = !s3_host_is_local(auth, host_len) &&
				    s3_bucket_dns(fs->bucket);
	if (fs->virtual_style && !s3_bucket_dns(fs->bucket))
		return fs_set_error(&fs->fs, -EINVAL,
				    "bucket '%s' cannot be a host name: use "
				    "style=path",
				    fs->bucket);
	if (fs->virtual_style) {
		ret = asprintf(&fs->host, "%s.%.*s", fs->bucket, (int)auth_len,
			       auth);
		if (ret >= 0)
			ret = asprintf(&fs->base_url, "%.*s://%s%.*s",
				       (int)scheme_len, endpoint, fs->host,
				       (int)path_len, path);
	} else {
		ret = asprintf(&fs->host, "%.*s", (int)auth_len, auth);
		if (ret >= 0)
			ret = asprintf(&fs->base_url, "%.*s://%s%.*s/%s",
				       (int)scheme_len, endpoint, fs->host,
				       (int)path_len, path, fs->bucket);
	}
	return ret < 0 ? fs_set_error(&fs->fs, -ENOMEM, "out of memory") : 0;
}

static const char *s3_setting(const char *set, const char *env)
{
	const char *value = set != NULL ? set : getenv(env);

	return value != NULL && value[0] != '\0' ? value : NULL;
}

static int s3_dup(struct s3_fs *fs, char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst != NULL ? 0
			    : fs_set_error(&fs->fs, -ENOMEM, "out of memory");
}

static int s3_set_credentials(struct s3_fs *fs)
{
	const struct fs_settings *set = &fs->fs.set;
	const char *ak, *sk;

	if (fs->anonymous)
		return 0;
	ak = s3_setting(set->access_key, "AWS_ACCESS_KEY_ID");
	sk = s3_setting(set->secret_key, "AWS_SECRET_ACCESS_KEY");
	if (ak == NULL || sk == NULL)
		return fs_set_error(&fs->fs, -EACCES,
				    "no S3 credentials: set access_key and "
				    "secret_key in fs_settings, or "
				    "AWS_ACCESS_KEY_ID and "
				    "AWS_SECRET_ACCESS_KEY (or anonymous=1 "
				    "for a public bucket)");
	if (strlen(ak) > FS_SIGV4_ACCESS_KEY_MAX)
		return fs_set_error(&fs->fs, -EINVAL,
				    "S3 access key longer than %d bytes",
				    FS_SIGV4_ACCESS_KEY_MAX);
	if (s3_dup(fs, &fs->access_key, ak) < 0 ||
	    s3_dup(fs, &fs->secret_key, sk) < 0 ||
	    s3_dup(fs, &fs->session_token,
		   s3_setting(set->session_token, "AWS_SESSION_TOKEN")) < 0)
		return -ENOMEM;
	return 0;
}

static int s3_set_region(struct s3_fs *fs, const char *spec_region)
{
	const char *region = spec_region;
	const char *p;

	if (region == NULL)
		region = s3_setting(fs->fs.set.region, "AWS_REGION");
	if (region == NULL)
		region = "us-east-1";
	for (p = region; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-'))
			break;
	}
	if (*p != '\0' || p == region || p - region > 32)
		return fs_set_error(&fs->fs, -EINVAL, "invalid region '%s'",
				    region);
	return s3_dup(fs, &fs->region, region);
}

static int s3_check_sizes(struct s3_fs *fs)
{
	/* one part's worth goes in a single PUT, so a write never buffers
	   more than a part before its upload starts */
	if (fs->threshold == 0)
		fs->threshold = fs->part_size;
	if (fs->part_size < fs->min_part_size)
		return fs_set_error(&fs->fs, -EINVAL,
				    "part_size %llu is below min_part_size "
				    "%llu (S3 needs at least 5 MiB)",
				    (unsigned long long)fs->part_size,
				    (unsigned long long)fs->min_part_size);
	if (fs->part_size > S3_MAX_PART_SIZE)
		return fs_set_error(&fs->fs, -EINVAL,
				    "part_size over S3's 5 GiB");
	if (fs->threshold > S3_MAX_PART_SIZE)
		return fs_set_error(&fs->fs, -EINVAL,
				    "multipart_threshold over S3's 5 GiB "
				    "single PUT limit");
	return 0;
}

static void s3_free(struct s3_fs *fs)
{
	fs_http_deinit(&fs->http);
	free(fs->bucket);
	free(fs->prefix);
	free(fs->base_url);
	free(fs->host);
	free(fs->region);
	free(fs->access_key);
	if (fs->secret_key != NULL) {
		OPENSSL_cleanse(fs->secret_key, strlen(fs->secret_key));
		free(fs->secret_key);
	}
	if (fs->session_token != NULL) {
		OPENSSL_cleanse(fs->session_token, strlen(fs->session_token));
		free(fs->session_token);
	}
	fs_sigv4_key_cache_clear(&fs->key_cache);
}

static int s3_setup(struct s3_fs *fs, const char *args, struct s3_spec *spec)
{
	char *endpoint = NULL;
	int ret;

	fs->threshold = 0; /* = part_size unless set */
	fs->part_size = S3_DEFAULT_PART_SIZE;
	fs->min_part_size = S3_MIN_PART_SIZE;
	fs->parallel = S3_DEFAULT_PARALLEL;
	fs->max_keys = S3_MAX_KEYS;
	fs->key_max = FS_KEY_MAX;
	fs->metadata_max = FS_METADATA_TOTAL_MAX;
	ret = s3_parse_location(fs, args, spec);
	if (ret == 0)
		ret = s3_check_sizes(fs);
	if (ret == 0)
		ret = s3_set_region(fs, spec->region);
	if (ret == 0 && spec->endpoint == NULL &&
	    asprintf(&endpoint, "https://s3.%s.amazonaws.com", fs->region) < 0)
		ret = fs_set_error(&fs->fs, -ENOMEM, "out of memory");
	if (ret == 0)
		ret = s3_set_urls(
			fs, spec->endpoint != NULL ? spec->endpoint : endpoint,
			spec->style);
	free(endpoint);
	if (ret == 0)
		ret = s3_set_credentials(fs);
	if (ret == 0 && (ret = fs_http_init(&fs->fs, &fs->http)) < 0)
		ret = fs_set_error(&fs->fs, ret,
				   "cannot set up the HTTP transport");
	return ret;
}

static int s3_init(struct fs *_fs, const char *scheme, const char *args)
{
	struct s3_fs *fs = S3_FS(_fs);
	struct s3_spec spec = {0};
	int ret;

	ret = s3_setup(fs, args, &spec);
	free(spec.endpoint);
	free(spec.region);
	free(spec.style);
	if (ret < 0)
		s3_free(fs);
	return ret;
}

static void s3_deinit(struct fs *_fs)
{
	s3_free(S3_FS(_fs));
}

static unsigned int s3_get_caps(struct fs *_fs)
{
	struct s3_fs *fs = S3_FS(_fs);
	unsigned int caps = FS_CAP_RANGE | FS_CAP_METADATA |
			    FS_CAP_COPY_SERVER | FS_CAP_CREATE_EXCL |
			    FS_CAP_ITER | FS_CAP_ASYNC | FS_CAP_STAT_MTIME |
			    FS_CAP_STAT_ETAG | FS_CAP_FSYNC |
			    FS_CAP_CONDITIONAL | FS_CAP_READ_STAT;

	if (fs->create == S3_CREATE_HEAD)
		caps &= ~FS_CAP_CREATE_EXCL;
	return caps;
}

static int s3_wait_async(struct fs *_fs, int timeout_ms)
{
	struct s3_fs *fs = S3_FS(_fs);

	return fs_http_wait(fs->http, timeout_ms);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                   */

char *fs_s3_full_key(struct s3_fs *fs, const char *key)
{
	char *full;

	if (asprintf(&full, "%s%s", fs->prefix, key) < 0)
		return NULL;
	return full;
}

/* Splits url into its raw path and query for the signature. */
static int s3_url_parts(const char *url, char **path_r, const char **query_r)
{
	const char *p = strstr(url, "://"), *q;

	p = p != NULL ? p + 3 : url;
	p += strcspn(p, "/?");
	q = strchr(p, '?');
	*query_r = q != NULL ? q + 1 : "";
	*path_r = strndup(p, q != NULL ? (size_t)(q - p) : strlen(p));
	return *path_r != NULL ? 0 : -ENOMEM;
}

static int s3_collect_headers(struct fs_http_request *req,
			      struct fs_sigv4_header **hdrs_r, size_t *count_r)
{
	struct fs_sigv4_header *hdrs = NULL, *p;
	size_t idx = 0, count = 0;
	const char *name, *value;

	while (fs_http_request_header_next(req, &idx, &name, &value)) {
		p = realloc(hdrs, (count + 1) * sizeof(*hdrs));
		if (p == NULL) {
			free(hdrs);
			return -ENOMEM;
		}
		hdrs = p;
		hdrs[count].name = name;
		hdrs[count].value = value;
		count++;
	}
	*hdrs_r = hdrs;
	*count_r = count;
	return 0;
}

static int s3_sign_headers(struct s3_ctx *ctx, struct fs_http_request *req,
			   const char *ts)
{
	struct s3_fs *fs = ctx->fs;
	int ret;

	ret = fs_http_request_set_attempt_header(req, "x-amz-date", ts);
	if (ret == 0)
		ret = fs_http_request_set_attempt_header(
			req, "x-amz-content-sha256", ctx->payload_hash);
	if (ret == 0 && fs->session_token != NULL)
		ret = fs_http_request_set_attempt_header(
			req, "x-amz-security-token", fs->session_token);
	return ret;
}

static int s3_sign(struct fs_http_request *req, void *context)
{
	struct s3_ctx *ctx = context;
	struct s3_fs *fs = ctx->fs;
	struct fs_sigv4_credentials cred = {
		.access_key = fs->access_key,
		.secret_key = fs->secret_key,
		.session_token = fs->session_token,
		.region = fs->region,
		.service = "s3",
	};
	struct fs_sigv4_request sreq = {
		.method = fs_http_request_method(req),
		.payload_hash = ctx->payload_hash,
	};
	char ts[FS_SIGV4_TIMESTAMP_SIZE], *path = NULL, *authz = NULL;
	const unsigned char *key;
	struct fs_sigv4_header *hdrs = NULL;
	int ret;

	if (fs->anonymous)
		return 0;
	if ((ret = fs_sigv4_timestamp(time(NULL), ts)) < 0 ||
	    (ret = s3_sign_headers(ctx, req, ts)) < 0 ||
	    (ret = s3_url_parts(fs_http_request_url(req), &path, &sreq.query)) <
		    0 ||
	    (ret = s3_collect_headers(req, &hdrs, &sreq.header_count)) < 0)
		goto out;
	sreq.path = path;
	sreq.headers = hdrs;
	ret = fs_sigv4_key_cache_get(&fs->key_cache, &cred, ts, &key);
	if (ret == 0)
		ret = fs_sigv4_sign_request(&sreq, &cred, ts, NULL, key, &authz,
					    NULL);
	if (ret == 0)
		ret = fs_http_request_set_attempt_header(req, "Authorization",
							 authz);
out:
	free(path);
	free(hdrs);
	free(authz);
	return ret;
}

int fs_s3_parse_error(const char *body, size_t size, char **code_r,
		      char **message_r, char **request_id_r)
{
	xmlDocPtr doc;
	xmlNodePtr root;

	*code_r = *message_r = *request_id_r = NULL;
	if (size == 0 || fs_xml_parse(body, size, &doc, NULL) < 0)
		return -EINVAL;
	root = fs_xml_root(doc, "Error");
	if (root != NULL) {
		*code_r = fs_xml_child_text(root, "Code");
		*message_r = fs_xml_child_text(root, "Message");
		*request_id_r = fs_xml_child_text(root, "RequestId");
	}
	xmlFreeDoc(doc);
	return root != NULL ? 0 : -EINVAL;
}

/* The S3 error code of a failed attempt's body, or NULL (free() it). */
static char *s3_error_code(struct fs_http_request *req)
{
	char *code, *message, *request_id;
	size_t size;
	const char *body = fs_http_request_body(req, &size);

	if (fs_s3_parse_error(body, size, &code, &message, &request_id) < 0)
		return NULL;
	free(message);
	free(request_id);
	return code;
}

static bool s3_retryable(struct fs_http_request *req, void *context)
{
	long st = fs_http_request_status(req);
	char *code;
	bool retry;

	if (st >= 500 || st == 429 || st == 408)
		return true;
	if (st != 400 && st != 409)
		return false;
	code = s3_error_code(req);
	/* RequestTimeout: the server gave up waiting for our body.
	   ConditionalRequestConflict: a concurrent conditional write; S3 says
	   to retry. */
	retry = code != NULL &&
		(strcmp(code, "RequestTimeout") == 0 ||
		 strcmp(code, "ConditionalRequestConflict") == 0 ||
		 strcmp(code, "SlowDown") == 0);
	free(code);
	return retry;
}

static void s3_done(struct fs_http_request *req, void *context)
{
	char *code, *message, *request_id;
	size_t size;
	const char *body;

	if (fs_http_request_result(req) == 0 ||
	    fs_http_request_status(req) < 300)
		return;
	body = fs_http_request_body(req, &size);
	if (fs_s3_parse_error(body, size, &code, &message, &request_id) == 0)
		(void)fs_http_request_set_server_error(req, code, request_id);
	free(code);
	free(message);
	free(request_id);
}

static void s3_progress(struct fs_http_request *req, void *context)
{
	struct s3_ctx *ctx = context;

	if (ctx->progress != NULL)
		ctx->progress(ctx, req);
	else if (ctx->file != NULL)
		fs_file_async_done(ctx->file);
	else if (ctx->iter != NULL)
		fs_iter_async_done(ctx->iter);
}

static const struct fs_http_callbacks s3_callbacks = {
	.sign = s3_sign,
	.retryable = s3_retryable,
	.done = s3_done,
	.progress = s3_progress,
};

static char *s3_build_url(struct s3_fs *fs, const char *key, const char *query)
{
	char *enc = NULL, *url;
	int ret;

	if (key != NULL && fs_sigv4_uri_encode(key, false, &enc) < 0)
		return NULL;
	ret = asprintf(&url, "%s/%s%s%s", fs->base_url, enc != NULL ? enc : "",
		       query != NULL ? "?" : "", query != NULL ? query : "");
	free(enc);
	return ret < 0 ? NULL : url;
}

int fs_s3_request_new(struct s3_ctx *ctx, enum fs_op op, const char *method,
		      const char *key, const char *query,
		      struct fs_http_request **req_r)
{
	struct s3_fs *fs = ctx->fs;
	char *url = s3_build_url(fs, key, query);
	int ret;

	*req_r = NULL;
	if (url == NULL)
		return -ENOMEM;
	ret = fs_http_request_init(fs->http, op, method, url, req_r);
	free(url);
	if (ret < 0)
		return ret;
	fs_http_request_set_callbacks(*req_r, &s3_callbacks, ctx);
	strcpy(ctx->payload_hash, FS_SIGV4_EMPTY_SHA256);
	ret = fs_http_request_add_header(*req_r, "Host", fs->host);
	if (ret < 0)
		fs_http_request_deinit(req_r);
	return ret;
}

int fs_s3_request_set_body(struct s3_ctx *ctx, struct fs_http_request *req,
			   const void *data, size_t size)
{
	int ret = fs_sigv4_sha256_hex(data, size, ctx->payload_hash);

	if (ret == 0)
		fs_http_request_set_body(req, data, size);
	return ret;
}

int fs_s3_request_set_crc32(struct s3_ctx *ctx, struct fs_http_request *req,
			    const void *data, size_t size, uint32_t *crc_r)
{
	uint32_t crc;
	char b64[16];

	if (ctx->fs->no_checksum) {
		if (crc_r != NULL)
			*crc_r = 0;
		return 0;
	}
	crc = fs_crc32(0, data, size);
	if (crc_r != NULL)
		*crc_r = crc;
	fs_s3_crc32_format(crc, b64);
	return fs_http_request_add_header(req, "x-amz-checksum-crc32", b64);
}

void fs_s3_crc32_format(uint32_t crc, char b64_r[16])
{
	unsigned char be[4] = {crc >> 24, (crc >> 16) & 0xff, (crc >> 8) & 0xff,
			       crc & 0xff};

	EVP_EncodeBlock((unsigned char *)b64_r, be, sizeof(be));
}

bool fs_s3_crc32_parse(const char *value, uint32_t *crc_r)
{
	unsigned char be[8];

	/* 4 bytes are 6 base64 characters and "==". */
	if (value == NULL || strlen(value) != 8 ||
	    strcmp(value + 6, "==") != 0 ||
	    EVP_DecodeBlock(be, (const unsigned char *)value, 8) != 6)
		return false;
	*crc_r = (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 |
		 (uint32_t)be[2] << 8 | be[3];
	return true;
}

int fs_s3_request_set_md5(struct fs_http_request *req, const void *data,
			  size_t size, char *b64_r, unsigned char md5_r[16])
{
	unsigned int len = 0;

	if (EVP_Digest(data, size, md5_r, &len, EVP_md5(), NULL) != 1 ||
	    len != 16)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)b64_r, md5_r, 16);
	return fs_http_request_add_header(req, "Content-MD5", b64_r);
}

void fs_s3_etag_from_md5(const unsigned char md5[16], char etag_r[35])
{
	static const char hex[] = "0123456789abcdef";
	unsigned int i;

	etag_r[0] = '"';
	for (i = 0; i < 16; i++) {
		etag_r[1 + i * 2] = hex[md5[i] >> 4];
		etag_r[2 + i * 2] = hex[md5[i] & 15];
	}
	etag_r[33] = '"';
	etag_r[34] = '\0';
}

int fs_s3_request_start(struct fs_http_request **req)
{
	int ret = fs_http_request_start(*req);

	if (ret < 0)
		fs_http_request_deinit(req);
	return ret;
}

int fs_s3_request_run(struct s3_fs *fs, struct fs_http_request *req)
{
	int ret = fs_http_request_start(req);

	while (ret == 0 && !fs_http_request_is_done(req))
		ret = fs_http_wait(fs->http, -1);
	return ret < 0 ? ret : fs_http_request_result(req);
}

/* Maps a failed request to -errno: the shared status table, refined by the
   S3 error code where S3 reuses a status. */
static int s3_request_errno(struct fs_http_request *req, const char *code)
{
	int ret = fs_http_request_result(req);

	if (ret != -EIO || code == NULL)
		return ret;
	if (strcmp(code, "EntityTooLarge") == 0)
		return -EFBIG;
	if (strcmp(code, "KeyTooLongError") == 0)
		return -EINVAL;
	return ret;
}

int fs_s3_request_error(struct fs_http_request *req, const char *what,
			const char *key, char *buf, size_t size)
{
	char detail[512], *code = NULL, *message = NULL, *request_id = NULL;
	const char *p, *body;
	size_t len;
	int ret;

	(void)fs_http_request_error(req, detail, sizeof(detail));
	body = fs_http_request_body(req, &len);
	if (fs_http_request_status(req) >= 300)
		(void)fs_s3_parse_error(body, len, &code, &message,
					&request_id);
	ret = s3_request_errno(req, code);
	/* "METHOD URL: detail": the URL has no spaces; drop both. */
	p = strchr(detail, ' ');
	p = p != NULL ? strstr(p + 1, ": ") : NULL;
	snprintf(buf, size, "%s %s: %s (s3%s%.200s)", what, key,
		 p != NULL ? p + 2 : detail, message != NULL ? ": " : "",
		 message != NULL ? message : "");
	free(code);
	free(message);
	free(request_id);
	return ret;
}

int fs_s3_file_error(struct fs_file *file, struct fs_http_request *req,
		     const char *what)
{
	char msg[768];
	int ret = fs_s3_request_error(req, what, file->key, msg, sizeof(msg));

	return fs_file_set_error(file, ret, "%s", msg);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                      */

/* S3's key limit (or the store's, key_max=) counts the spec's prefix too;
   some stores take less metadata than S3's 2 KiB (metadata_max=). */
static void s3_get_limits(struct fs *_fs, struct fs_limits *limits)
{
	struct s3_fs *fs = S3_FS(_fs);
	size_t prefix = strlen(fs->prefix);

	limits->key_max = prefix >= fs->key_max ? 0 : fs->key_max - prefix;
	limits->metadata_max = fs->metadata_max;
}

static int s3_file_init(struct fs_file *_file)
{
	struct s3_file *file = S3_FILE(_file);
	struct s3_fs *fs = S3_FS(_file->fs);

	file->ctx.fs = fs;
	file->ctx.file = _file;
	return 0;
}

static void s3_file_deinit(struct fs_file *_file)
{
	struct s3_file *file = S3_FILE(_file);

	/* An unfinished write was aborted by the core already; this is for
	   a pending finish the core did not see through. */
	fs_s3_write_abort(_file);
	fs_http_request_deinit(&file->req);
	fs_http_request_deinit(&file->read_req);
	EVP_MD_CTX_free(file->md5_ctx);
	file->md5_ctx = NULL;
	free(file->expect_etag);
	free(file->verify_msg);
	file->expect_etag = file->verify_msg = NULL;
	fs_metadata_list_clear(&file->mp_md);
}

const struct fs_driver fs_driver_s3 = {
	.version = FS_DRIVER_VERSION,
	.name = "s3",
	.fs_size = sizeof(struct s3_fs),
	.file_size = sizeof(struct s3_file),
	.iter_size = sizeof(struct s3_iter),
	.v =
		{
			.init = s3_init,
			.deinit = s3_deinit,
			.get_caps = s3_get_caps,
			.get_limits = s3_get_limits,
			.file_init = s3_file_init,
			.file_deinit = s3_file_deinit,
			.read = fs_s3_read,
			.write = fs_s3_write,
			.write_finish = fs_s3_write_finish,
			.write_abort = fs_s3_write_abort,
			.stat = fs_s3_stat,
			.exists = fs_s3_exists,
			.get_metadata = fs_s3_get_metadata,
			.delete_file = fs_s3_delete,
			.copy = fs_s3_copy,
			.iter_init = fs_s3_iter_init,
			.iter_next = fs_s3_iter_next,
			.iter_deinit = fs_s3_iter_deinit,
			.wait_async = s3_wait_async,
			.delete_prefix = fs_s3_delete_prefix,
			.revalidate = fs_s3_revalidate,
		},
};
