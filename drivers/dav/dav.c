/*
 * dav: objects on a WebDAV server (RFC 4918 class 1), on the shared HTTP
 * transport.
 *
 *   dav+http://[USER@]HOST[:PORT]/PATH/?OPTIONS   (dav+https:// for TLS)
 *
 * PATH (percent-encoded as in a URL) is the base collection; it must exist.
 * Options, '&'-separated:
 *   auth=any|basic|digest   any (default): send nothing until the server
 *                           asks, then what it asks for (Digest before
 *                           Basic); basic: send Basic at once
 *   create=auto|if-none-match|move   how FS_OPEN_CREATE stays exclusive:
 *                           PUT with If-None-Match: *, or a temporary name
 *                           MOVEd with Overwrite: F; auto (default) probes
 *                           once whether the server honours If-None-Match
 *   replace=put|move        REPLACE with a plain PUT (default: servers that
 *                           write PUT bodies to a temporary file and rename
 *                           it, as Apache mod_dav_fs and nginx do) or with a
 *                           temporary name MOVEd with Overwrite: T
 *   metadata=1|0            metadata as dead properties (default 1; servers
 *                           without PROPPATCH turn it off themselves)
 *   rmdir=1|0               remove the collections a delete leaves empty
 *                           (default 1)
 *   buffer=SIZE             bytes kept in memory before a PUT streams
 *                           (default 1M; smaller objects go with a length
 *                           and are retried)
 *
 * The user name comes from fs_settings.username, else the spec's USER@,
 * else ~/.netrc; the password from fs_settings.password, else
 * LIBFS_DAV_PASSWORD, else the ~/.netrc entry of the host (and user). No
 * message or trace ever shows the password or an Authorization header.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dav-private.h"

#define DAV_NETRC_MAX (64 * 1024)

/* ------------------------------------------------------------------------ */
/* URLs                                                                       */

static bool dav_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

char *fs_dav_encode(const char *str)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char *out, *o;

	out = malloc(strlen(str) * 3 + 1);
	if (out == NULL)
		return NULL;
	for (o = out, p = (const unsigned char *)str; *p != '\0'; p++) {
		if (dav_unreserved(*p) || *p == '/') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

char *fs_dav_url(struct dav_fs *fs, const char *key, bool collection)
{
	char *enc = fs_dav_encode(key), *url;
	size_t len = strlen(key);
	int ret;

	if (enc == NULL)
		return NULL;
	ret = asprintf(&url, "%s%s%s%s", fs->origin, fs->base_path, enc,
		       collection && len > 0 && key[len - 1] != '/' ? "/" : "");
	free(enc);
	return ret < 0 ? NULL : url;
}

/* The path of an href: absolute URLs lose scheme and authority. */
static const char *dav_href_path(const char *href)
{
	const char *p = strstr(href, "://");

	if (p != NULL && p < href + strcspn(href, "/?#")) {
		p = strchr(p + 3, '/');
		return p != NULL ? p : "/";
	}
	return href;
}

/* A relative reference (RFC 3986 4.2) against collection dir ("" or
   "a/b/"): "x" is "a/b/x", "./x" too; nothing else is resolved. */
static int dav_href_relative(const char *href, const char *dir, char **key_r)
{
	char *decoded, *key;
	size_t len;

	if (strncmp(href, "./", 2) == 0)
		href += 2;
	if (href[0] == '\0' || strncmp(href, "../", 3) == 0 ||
	    fs_percent_decode(href, strcspn(href, "?#"), &decoded) < 0)
		return -EINVAL;
	len = strlen(decoded);
	while (len > 0 && decoded[len - 1] == '/')
		decoded[--len] = '\0';
	if (asprintf(&key, "%s%s", dir, decoded) < 0) {
		free(decoded);
		return -ENOMEM;
	}
	free(decoded);
	*key_r = key;
	return 1;
}

int fs_dav_href_key(struct dav_fs *fs, const char *href, const char *dir,
		    char **key_r)
{
	const char *path = dav_href_path(href);
	size_t blen = strlen(fs->base_decoded), len;
	char *decoded, *key;

	*key_r = NULL;
	if (path[0] != '/' && path == href && dir != NULL)
		return dav_href_relative(href, dir, key_r);
	if (path[0] != '/' ||
	    fs_percent_decode(path, strcspn(path, "?#"), &decoded) < 0)
		return -EINVAL;
	len = strlen(decoded);
	/* the base itself, with or without its '/' */
	if (strcmp(decoded, fs->base_decoded) == 0 ||
	    (len + 1 == blen && strncmp(decoded, fs->base_decoded, len) == 0)) {
		free(decoded);
		return 0;
	}
	if (len <= blen || strncmp(decoded, fs->base_decoded, blen) != 0) {
		free(decoded);
		return -EINVAL;
	}
	while (len > blen && decoded[len - 1] == '/')
		decoded[--len] = '\0';
	key = strdup(decoded + blen);
	free(decoded);
	if (key == NULL)
		return -ENOMEM;
	*key_r = key;
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Known collections                                                          */

static size_t dav_set_find(const struct dav_set *set, const char *str,
			   bool *found_r)
{
	size_t lo = 0, hi = set->count, mid;
	int cmp;

	*found_r = false;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		cmp = strcmp(set->items[mid], str);
		if (cmp == 0) {
			*found_r = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void fs_dav_set_clear(struct dav_set *set)
{
	size_t i;

	for (i = 0; i < set->count; i++)
		free(set->items[i]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

bool fs_dav_col_known(struct dav_fs *fs, const char *col)
{
	bool found;

	(void)dav_set_find(&fs->cols, col, &found);
	return found;
}

void fs_dav_set_add(struct dav_set *set, const char *str)
{
	bool found;
	size_t pos = dav_set_find(set, str, &found);
	char *copy, **items;

	if (found)
		return;
	if (set->count == set->alloc) {
		size_t alloc = set->alloc == 0 ? 64 : set->alloc * 2;

		items = realloc(set->items, alloc * sizeof(*items));
		if (items == NULL)
			return; /* only a cache */
		set->items = items;
		set->alloc = alloc;
	}
	copy = strdup(str);
	if (copy == NULL)
		return;
	memmove(set->items + pos + 1, set->items + pos,
		(set->count - pos) * sizeof(*set->items));
	set->items[pos] = copy;
	set->count++;
}

void fs_dav_col_add(struct dav_fs *fs, const char *col)
{
	if (fs->cols.count >= DAV_COLS_MAX)
		fs_dav_set_clear(&fs->cols);
	fs_dav_set_add(&fs->cols, col);
}

/* Forgets col and every collection below it. */
void fs_dav_col_forget(struct dav_fs *fs, const char *col)
{
	struct dav_set *set = &fs->cols;
	size_t len = strlen(col), i, j;

	for (i = j = 0; i < set->count; i++) {
		if (strncmp(set->items[i], col, len) == 0)
			free(set->items[i]);
		else
			set->items[j++] = set->items[i];
	}
	set->count = j;
}

/* ------------------------------------------------------------------------ */
/* Authentication                                                             */

static void dav_digest_clear(struct dav_digest *d)
{
	free(d->realm);
	free(d->nonce);
	free(d->opaque);
	memset(d, 0, sizeof(*d));
}

static bool dav_qop_has_auth(const char *qop)
{
	const char *p = qop;
	size_t len;

	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, " ,");
		if (len == 4 && strncasecmp(p, "auth", 4) == 0)
			return true;
		p += len;
	}
	return false;
}

/* Parses a Digest challenge into d. Returns false for algorithms this
   driver does not speak (MD5-sess, SHA-512-256...). */
static bool dav_digest_parse(const char *params, struct dav_digest *d,
			     bool *stale_r)
{
	char name[32], value[512];
	const char *p = params;

	memset(d, 0, sizeof(*d));
	*stale_r = false;
	while (fs_http_auth_param(&p, name, sizeof(name), value,
				  sizeof(value))) {
		if (strcasecmp(name, "realm") == 0)
			d->realm = strdup(value);
		else if (strcasecmp(name, "nonce") == 0)
			d->nonce = strdup(value);
		else if (strcasecmp(name, "opaque") == 0)
			d->opaque = strdup(value);
		else if (strcasecmp(name, "qop") == 0)
			d->qop_auth = dav_qop_has_auth(value);
		else if (strcasecmp(name, "stale") == 0)
			*stale_r = strcasecmp(value, "true") == 0;
		else if (strcasecmp(name, "algorithm") == 0 &&
			 strcasecmp(value, "MD5") != 0) {
			if (strcasecmp(value, "SHA-256") != 0) {
				dav_digest_clear(d);
				return false;
			}
			d->sha256 = true;
		}
	}
	if (d->realm == NULL || d->nonce == NULL) {
		dav_digest_clear(d);
		return false;
	}
	return true;
}

/* Looks at the WWW-Authenticate headers of a 401: Digest if offered, else
   Basic (as the configuration allows). */
static enum dav_auth dav_challenge(struct dav_fs *fs,
				   struct fs_http_request *req,
				   struct dav_digest *d, bool *stale_r)
{
	const char *name, *value;
	size_t idx = 0;
	bool basic = false;

	*stale_r = false;
	while (fs_http_request_response_header_next(req, &idx, &name, &value)) {
		if (strcasecmp(name, "WWW-Authenticate") != 0)
			continue;
		if (strncasecmp(value, "Digest ", 7) == 0 &&
		    fs->auth_mode != DAV_AUTH_BASIC && d->nonce == NULL &&
		    dav_digest_parse(value + 7, d, stale_r))
			continue;
		if (strncasecmp(value, "Basic", 5) == 0 &&
		    (value[5] == '\0' || value[5] == ' '))
			basic = true;
	}
	if (d->nonce != NULL)
		return DAV_AUTH_DIGEST;
	if (basic && fs->auth_mode != DAV_AUTH_DIGEST)
		return DAV_AUTH_BASIC;
	return DAV_AUTH_NONE;
}

/* Did the last attempt of req carry credentials? */
static bool dav_auth_sent(struct fs_http_request *req)
{
	const char *name, *value;
	size_t idx = 0;

	while (fs_http_request_header_next(req, &idx, &name, &value)) {
		if (strcasecmp(name, "Authorization") == 0)
			return true;
	}
	return false;
}

bool fs_dav_auth_learn(struct dav_fs *fs, struct fs_http_request *req)
{
	struct dav_digest d = {0};
	enum dav_auth scheme;
	bool stale, sent;

	if (fs_http_request_status(req) != 401 || fs->password == NULL ||
	    fs->user == NULL)
		return false;
	sent = dav_auth_sent(req);
	scheme = dav_challenge(fs, req, &d, &stale);
	if (scheme == DAV_AUTH_NONE)
		return false;
	if (scheme == DAV_AUTH_DIGEST) {
		/* A new nonce for a rejected password is no reason to try
		   again; one for a stale nonce, or a first one, is. */
		dav_digest_clear(&fs->digest);
		fs->digest = d;
		fs->auth = DAV_AUTH_DIGEST;
		return !sent || stale;
	}
	if (fs->auth != DAV_AUTH_DIGEST)
		fs->auth = DAV_AUTH_BASIC;
	return !sent;
}

bool fs_dav_auth_retry(struct dav_fs *fs, struct fs_http_request *req,
		       bool *retried)
{
	if (*retried || fs_http_request_status(req) != 401)
		return false;
	if (!fs_dav_auth_learn(fs, req))
		return false;
	*retried = true;
	return true;
}

static int dav_hash_hex(bool sha256, const char *data, char *hex_r)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (EVP_Digest(data, strlen(data), md, &len,
		       sha256 ? EVP_sha256() : EVP_md5(), NULL) != 1)
		return -EIO;
	for (i = 0; i < len; i++) {
		hex_r[i * 2] = hex[md[i] >> 4];
		hex_r[i * 2 + 1] = hex[md[i] & 15];
	}
	hex_r[len * 2] = '\0';
	return 0;
}

/* The request-target of url: its path and query. */
static const char *dav_url_target(const char *url)
{
	const char *p = strstr(url, "://");

	p = p != NULL ? strchr(p + 3, '/') : NULL;
	return p != NULL ? p : "/";
}

/* RFC 7616 with qop=auth (or RFC 2069 without qop). */
static int dav_digest_header(struct dav_fs *fs, struct fs_http_request *req,
			     char **value_r)
{
	struct dav_digest *d = &fs->digest;
	const char *uri = dav_url_target(fs_http_request_url(req));
	char ha1[65], ha2[65], resp[65], cnonce[17], nc[9], *tmp = NULL;
	int ret = -ENOMEM;

	fs_dav_random_hex(cnonce, sizeof(cnonce));
	snprintf(nc, sizeof(nc), "%08x", ++d->nc);
	if (asprintf(&tmp, "%s:%s:%s", fs->user, d->realm, fs->password) < 0)
		return -ENOMEM;
	ret = dav_hash_hex(d->sha256, tmp, ha1);
	OPENSSL_cleanse(tmp, strlen(tmp));
	free(tmp);
	if (ret == 0 &&
	    asprintf(&tmp, "%s:%s", fs_http_request_method(req), uri) >= 0) {
		ret = dav_hash_hex(d->sha256, tmp, ha2);
		free(tmp);
	}
	if (ret == 0 && (d->qop_auth ? asprintf(&tmp, "%s:%s:%s:%s:auth:%s",
						ha1, d->nonce, nc, cnonce, ha2)
				     : asprintf(&tmp, "%s:%s:%s", ha1, d->nonce,
						ha2)) >= 0) {
		ret = dav_hash_hex(d->sha256, tmp, resp);
		free(tmp);
	}
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (ret < 0)
		return ret;
	ret = asprintf(value_r,
		       "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", "
		       "uri=\"%s\", response=\"%s\", algorithm=%s%s%s%s",
		       fs->user, d->realm, d->nonce, uri, resp,
		       d->sha256 ? "SHA-256" : "MD5",
		       d->opaque != NULL ? ", opaque=\"" : "",
		       d->opaque != NULL ? d->opaque : "",
		       d->opaque != NULL ? "\"" : "");
	if (ret >= 0 && d->qop_auth) {
		tmp = *value_r;
		ret = asprintf(value_r, "%s, qop=auth, nc=%s, cnonce=\"%s\"",
			       tmp, nc, cnonce);
		free(tmp);
	}
	return ret < 0 ? -ENOMEM : 0;
}

static int dav_basic_header(struct dav_fs *fs, char **value_r)
{
	size_t len = strlen(fs->user) + strlen(fs->password) + 1;
	char *plain = malloc(len + 1), *out;

	if (plain == NULL)
		return -ENOMEM;
	snprintf(plain, len + 1, "%s:%s", fs->user, fs->password);
	out = malloc(6 + 4 * ((len + 2) / 3) + 1);
	if (out != NULL) {
		memcpy(out, "Basic ", 6);
		EVP_EncodeBlock((unsigned char *)out + 6,
				(const unsigned char *)plain, (int)len);
	}
	OPENSSL_cleanse(plain, len);
	free(plain);
	*value_r = out;
	return out != NULL ? 0 : -ENOMEM;
}

static int dav_sign(struct fs_http_request *req, void *context)
{
	struct dav_ctx *ctx = context;
	struct dav_fs *fs = ctx->fs;
	char *value = NULL;
	int ret;

	if (fs->password == NULL || fs->user == NULL)
		return 0;
	if (fs->auth == DAV_AUTH_DIGEST)
		ret = dav_digest_header(fs, req, &value);
	else if (fs->auth == DAV_AUTH_BASIC)
		ret = dav_basic_header(fs, &value);
	else
		return 0;
	if (ret == 0)
		ret = fs_http_request_set_attempt_header(req, "Authorization",
							 value);
	if (value != NULL) {
		OPENSSL_cleanse(value, strlen(value));
		free(value);
	}
	return ret;
}

/* 401 with a challenge we can now answer: worth another attempt, where
   the transport may retry at all. */
static bool dav_retryable(struct fs_http_request *req, void *context)
{
	struct dav_ctx *ctx = context;
	long st = fs_http_request_status(req);

	if (st == 401)
		return fs_dav_auth_learn(ctx->fs, req);
	return st >= 500 || st == 429 || st == 408;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                   */

static void dav_bg_free(struct dav_fs *fs, struct dav_bg *bg)
{
	size_t i;

	for (i = 0; i < fs->bg_count; i++) {
		if (fs->bg[i] == bg) {
			fs->bg[i] = fs->bg[--fs->bg_count];
			break;
		}
	}
	fs_http_request_deinit(&bg->req);
	free(bg);
}

static void dav_progress(struct fs_http_request *req, void *context)
{
	struct dav_ctx *ctx = context;

	if (ctx->background) {
		if (fs_http_request_is_done(req))
			dav_bg_free(ctx->fs,
				    FS_CONTAINER_OF(ctx, struct dav_bg, ctx));
	} else if (ctx->file != NULL) {
		fs_file_async_done(ctx->file);
	} else if (ctx->iter != NULL) {
		fs_iter_async_done(ctx->iter);
	}
}

static const struct fs_http_callbacks dav_callbacks = {
	.sign = dav_sign,
	.retryable = dav_retryable,
	.progress = dav_progress,
};

int fs_dav_request_new(struct dav_ctx *ctx, enum fs_op op, const char *method,
		       char *url, struct fs_http_request **req_r)
{
	int ret;

	*req_r = NULL;
	if (url == NULL)
		return -ENOMEM;
	ret = fs_http_request_init(ctx->fs->http, op, method, url, req_r);
	free(url);
	if (ret < 0)
		return ret;
	fs_http_request_set_callbacks(*req_r, &dav_callbacks, ctx);
	return 0;
}

int fs_dav_request_start(struct fs_http_request **req)
{
	int ret = fs_http_request_start(*req);

	if (ret < 0)
		fs_http_request_deinit(req);
	return ret;
}

int fs_dav_request_error(struct fs_http_request *req, const char *what,
			 const char *key, char *buf, size_t size)
{
	char detail[512];
	const char *p;
	int ret = fs_http_request_error(req, detail, sizeof(detail));
	long st = fs_http_request_status(req);

	if (ret == 0)
		ret = -EIO; /* a 2xx the caller found wrong */
	/* "METHOD URL: detail": the URL has no spaces; drop both. */
	p = strchr(detail, ' ');
	p = p != NULL ? strstr(p + 1, ": ") : NULL;
	if (st == 401 || st == 403)
		ret = -EACCES;
	snprintf(buf, size, "%s %s: %s%s (dav)", what, key,
		 p != NULL ? p + 2 : detail,
		 st == 401 ? ": authentication failed" : "");
	return ret;
}

int fs_dav_file_error(struct fs_file *file, struct fs_http_request *req,
		      const char *what)
{
	char msg[768];
	int ret = fs_dav_request_error(req, what, file->key, msg, sizeof(msg));

	return fs_file_set_error(file, ret, "%s", msg);
}

void fs_dav_bg_delete(struct dav_fs *fs, const char *key)
{
	struct dav_bg *bg = calloc(1, sizeof(*bg)), **list;
	char *url = fs_dav_url(fs, key, false);
	int ret;

	if (bg == NULL || url == NULL)
		goto fail;
	bg->ctx.fs = fs;
	bg->ctx.background = true;
	if (fs->bg_count == fs->bg_alloc) {
		size_t alloc = fs->bg_alloc == 0 ? 8 : fs->bg_alloc * 2;

		list = realloc(fs->bg, alloc * sizeof(*list));
		if (list == NULL)
			goto fail;
		fs->bg = list;
		fs->bg_alloc = alloc;
	}
	ret = fs_dav_request_new(&bg->ctx, FS_OP_WRITE, "DELETE", url,
				 &bg->req);
	url = NULL;
	if (ret < 0 || fs_dav_request_start(&bg->req) < 0)
		goto fail;
	fs->bg[fs->bg_count++] = bg;
	return;
fail:
	free(url);
	free(bg);
}

void fs_dav_random_hex(char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[32];
	size_t i, n = (size - 1) / 2 + 1;

	if (n > sizeof(rnd))
		n = sizeof(rnd);
	if (RAND_bytes(rnd, (int)n) != 1) {
		uint64_t x = fs_now_usec() ^ (uint64_t)getpid() << 32;

		for (i = 0; i < n; i++, x = x * 6364136223846793005ULL + 1)
			rnd[i] = (unsigned char)(x >> 33);
	}
	for (i = 0; i + 1 < size; i++)
		buf[i] = hex[(rnd[i / 2] >> ((i % 2) * 4)) & 15];
	buf[i] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Credentials                                                                */

/* Reads the next whitespace-separated token of a .netrc (quotes allowed). */
static bool dav_netrc_token(const char **pp, char *tok, size_t size)
{
	const char *p = *pp;
	size_t n = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '\0')
		return false;
	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (n + 1 < size)
				tok[n++] = *p;
		}
		if (*p == '"')
			p++;
	} else {
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' &&
		       *p != '\r') {
			if (n + 1 < size)
				tok[n++] = *p;
			p++;
		}
	}
	tok[n] = '\0';
	*pp = p;
	return true;
}

static char *dav_netrc_read(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	char path[4096], *data;
	struct stat st;
	ssize_t n;
	int fd;

	if (home == NULL || home[0] == '\0') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || snprintf(path, sizeof(path), "%s/.netrc", home) >=
				    (int)sizeof(path))
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size > DAV_NETRC_MAX ||
	    (data = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	n = read(fd, data, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		free(data);
		return NULL;
	}
	data[n] = '\0';
	return data;
}

/* Takes login and password of the first entry for host (and user, if
   known), or of "default". */
static void dav_netrc_lookup(const char *data, const char *host,
			     const char *user, char **login_r,
			     char **password_r)
{
	char tok[1024], login[1024] = "", pass[1024] = "";
	const char *p = data;
	bool in = false, have_pass = false, skip_macro = false;

	while (dav_netrc_token(&p, tok, sizeof(tok))) {
		if (skip_macro) {
			/* a macdef runs to the next empty line */
			const char *blank = strstr(p, "\n\n");

			p = blank != NULL ? blank : p + strlen(p);
			skip_macro = false;
			continue;
		}
		if (strcmp(tok, "machine") == 0 ||
		    strcmp(tok, "default") == 0) {
			if (in && have_pass &&
			    (user == NULL || strcmp(login, user) == 0))
				break;
			in = strcmp(tok, "default") == 0;
			if (!in && dav_netrc_token(&p, tok, sizeof(tok)))
				in = strcasecmp(tok, host) == 0;
			login[0] = pass[0] = '\0';
			have_pass = false;
		} else if (strcmp(tok, "login") == 0) {
			if (!dav_netrc_token(&p, login, sizeof(login)))
				break;
		} else if (strcmp(tok, "password") == 0) {
			if (!dav_netrc_token(&p, pass, sizeof(pass)))
				break;
			have_pass = true;
		} else if (strcmp(tok, "account") == 0) {
			(void)dav_netrc_token(&p, tok, sizeof(tok));
		} else if (strcmp(tok, "macdef") == 0) {
			(void)dav_netrc_token(&p, tok, sizeof(tok));
			skip_macro = true;
		}
	}
	if (in && have_pass && (user == NULL || strcmp(login, user) == 0)) {
		*login_r = login[0] != '\0' ? strdup(login) : NULL;
		*password_r = strdup(pass);
	}
	OPENSSL_cleanse(pass, sizeof(pass));
	OPENSSL_cleanse(tok, sizeof(tok));
}

static int dav_set_credentials(struct dav_fs *fs, const char *spec_user)
{
	const struct fs_settings *set = &fs->fs.set;
	const char *env = getenv("LIBFS_DAV_PASSWORD");
	char *login = NULL, *pass = NULL, *netrc;

	if (set->username != NULL && set->username[0] != '\0')
		fs->user = strdup(set->username);
	else if (spec_user != NULL)
		fs->user = strdup(spec_user);
	if (set->password != NULL)
		fs->password = strdup(set->password);
	else if (env != NULL && env[0] != '\0')
		fs->password = strdup(env);
	if (fs->password == NULL && (netrc = dav_netrc_read()) != NULL) {
		dav_netrc_lookup(netrc, fs->host, fs->user, &login, &pass);
		OPENSSL_cleanse(netrc, strlen(netrc));
		free(netrc);
		fs->password = pass;
		if (fs->user == NULL)
			fs->user = login;
		else
			free(login);
	}
	if (fs->password != NULL && fs->user == NULL)
		return fs_set_error(
			&fs->fs, -EINVAL,
			"a WebDAV password but no user name: give "
			"USER@ in the spec or fs_settings.username");
	if (fs->auth_mode != DAV_AUTH_ANY && fs->password == NULL)
		return fs_set_error(&fs->fs, -EACCES,
				    "auth=%s needs a password: fs_settings."
				    "password, LIBFS_DAV_PASSWORD or ~/.netrc",
				    fs->auth_mode == DAV_AUTH_BASIC ? "basic"
								    : "digest");
	if (fs->auth_mode == DAV_AUTH_BASIC)
		fs->auth = DAV_AUTH_BASIC;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Spec                                                                       */

static int dav_bool_option(struct dav_fs *fs, const struct fs_kv *kv,
			   bool *value_r)
{
	if (strcmp(kv->value, "1") != 0 && strcmp(kv->value, "0") != 0)
		return fs_set_error(&fs->fs, -EINVAL,
				    "option '%s': expected 1 or 0, not '%s'",
				    kv->name, kv->value);
	*value_r = strcmp(kv->value, "1") == 0;
	return 0;
}

static int dav_enum_option(struct dav_fs *fs, const struct fs_kv *kv,
			   const char *const *names, int *value_r)
{
	int i;

	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(kv->value, names[i]) == 0) {
			*value_r = i;
			return 0;
		}
	}
	return fs_set_error(&fs->fs, -EINVAL, "option '%s': bad value '%s'",
			    kv->name, kv->value);
}

static int dav_parse_option(struct dav_fs *fs, const struct fs_kv *kv)
{
	static const char *const auths[] = {"any", "basic", "digest", NULL};
	static const char *const creates[] = {"auto", "if-none-match", "move",
					      NULL};
	static const char *const replaces[] = {"put", "move", NULL};
	uint64_t size;
	int v, ret;

	if (strcmp(kv->name, "auth") == 0) {
		ret = dav_enum_option(fs, kv, auths, &v);
		fs->auth_mode = v == 0	 ? DAV_AUTH_ANY
				: v == 1 ? DAV_AUTH_BASIC
					 : DAV_AUTH_DIGEST;
		return ret;
	}
	if (strcmp(kv->name, "create") == 0) {
		ret = dav_enum_option(fs, kv, creates, &v);
		fs->inm = (enum dav_tri)v;
		return ret;
	}
	if (strcmp(kv->name, "replace") == 0) {
		ret = dav_enum_option(fs, kv, replaces, &v);
		fs->replace_move = v == 1;
		return ret;
	}
	if (strcmp(kv->name, "metadata") == 0)
		return dav_bool_option(fs, kv, &fs->metadata);
	if (strcmp(kv->name, "rmdir") == 0)
		return dav_bool_option(fs, kv, &fs->rmdir);
	if (strcmp(kv->name, "buffer") == 0) {
		if (fs_parse_size(kv->value, &size) < 0 || size > (1u << 30))
			return fs_set_error(&fs->fs, -EINVAL,
					    "option 'buffer': bad size '%s' "
					    "(e.g. 1M, at most 1G)",
					    kv->value);
		fs->buffer_max = (size_t)size;
		return 0;
	}
	return fs_set_error(&fs->fs, -EINVAL,
			    "unknown option '%s' (known: auth, create, "
			    "replace, metadata, rmdir, buffer)",
			    kv->name);
}

static int dav_parse_options(struct dav_fs *fs, const char *query)
{
	struct fs_kv *kv;
	int i, count, ret = 0;

	count = fs_kv_split(query, '&', &kv);
	if (count < 0)
		return fs_set_error(&fs->fs, -EINVAL, "malformed options");
	for (i = 0; i < count && ret == 0; i++)
		ret = dav_parse_option(fs, &kv[i]);
	fs_kv_free(kv, count);
	return ret;
}

static bool dav_path_valid(const char *path, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c <= ' ' || c >= 0x7f || c == '#' || c == '"' || c == '<' ||
		    c == '>' || c == '\\')
			return false;
	}
	return true;
}

/* Sets base_path (encoded, ending in '/') and base_decoded. */
static int dav_set_base(struct dav_fs *fs, const char *path, size_t len)
{
	char *decoded;

	if (!dav_path_valid(path, len))
		return fs_set_error(&fs->fs, -EINVAL,
				    "the path must be URL-encoded (no spaces, "
				    "quotes or control bytes)");
	if (asprintf(&fs->base_path, "/%.*s%s", (int)len, path,
		     len > 0 && path[len - 1] != '/' ? "/" : "") < 0)
		return fs_set_error(&fs->fs, -ENOMEM, "out of memory");
	if (fs_percent_decode(fs->base_path, strlen(fs->base_path), &decoded) <
	    0)
		return fs_set_error(&fs->fs, -EINVAL,
				    "malformed %%-escape in the path");
	fs->base_decoded = decoded;
	return 0;
}

/* Parses "//[USER@]HOST[:PORT][/PATH][?OPTIONS]". */
static int dav_parse_location(struct dav_fs *fs, const char *scheme,
			      const char *args, char **user_r)
{
	const char *auth, *at, *path, *query, *hostp;
	size_t auth_len, host_len;
	bool tls = strcmp(scheme, "dav+https") == 0;

	if (strncmp(args, "//", 2) != 0)
		return fs_set_error(&fs->fs, -EINVAL,
				    "expected %s://[USER@]HOST[:PORT]/PATH/",
				    scheme);
	auth = args + 2;
	auth_len = strcspn(auth, "/?#");
	path = auth + auth_len;
	query = strchr(path, '?');
	at = memchr(auth, '@', auth_len);
	hostp = at != NULL ? at + 1 : auth;
	host_len = auth_len - (size_t)(hostp - auth);
	if (host_len == 0 || *path == '#' ||
	    (query == NULL && strchr(path, '#') != NULL))
		return fs_set_error(&fs->fs, -EINVAL,
				    "expected %s://[USER@]HOST[:PORT]/PATH/",
				    scheme);
	if (at != NULL &&
	    (memchr(auth, ':', (size_t)(at - auth)) != NULL ||
	     fs_percent_decode(auth, (size_t)(at - auth), user_r) < 0))
		return fs_set_error(&fs->fs, -EINVAL,
				    "only USER@ may come before the host: "
				    "passwords never go into a spec");
	if (asprintf(&fs->origin, "%s://%.*s", tls ? "https" : "http",
		     (int)host_len, hostp) < 0 ||
	    (fs->host = strndup(hostp, host_len)) == NULL)
		return fs_set_error(&fs->fs, -ENOMEM, "out of memory");
	/* ~/.netrc names the host without a port */
	if (fs->host[0] != '[' && strchr(fs->host, ':') != NULL)
		*strchr(fs->host, ':') = '\0';
	if (*path == '/')
		path++;
	if (dav_set_base(fs, path,
			 query != NULL ? (size_t)(query - path)
				       : strlen(path)) < 0)
		return -EINVAL;
	return query != NULL ? dav_parse_options(fs, query + 1) : 0;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                                 */

static void dav_free(struct dav_fs *fs)
{
	/* Let the deletes of temporaries finish (bounded by the timeouts):
	   they are what keeps aborted writes from leaving anything. */
	while (fs->http != NULL && fs->bg_count > 0 &&
	       fs_http_wait(fs->http, -1) == 0)
		;
	while (fs->bg_count > 0)
		dav_bg_free(fs, fs->bg[fs->bg_count - 1]);
	free(fs->bg);
	fs_http_deinit(&fs->http);
	free(fs->origin);
	free(fs->base_path);
	free(fs->base_decoded);
	free(fs->host);
	free(fs->user);
	if (fs->password != NULL) {
		OPENSSL_cleanse(fs->password, strlen(fs->password));
		free(fs->password);
	}
	dav_digest_clear(&fs->digest);
	fs_dav_set_clear(&fs->cols);
}

static int dav_init(struct fs *_fs, const char *scheme, const char *args)
{
	struct dav_fs *fs = DAV_FS(_fs);
	char *user = NULL;
	int ret;

	fs->metadata = true;
	fs->rmdir = true;
	fs->buffer_max = DAV_DEFAULT_BUFFER;
	fs->auth_mode = DAV_AUTH_ANY;
	ret = dav_parse_location(fs, scheme, args, &user);
	if (ret == 0)
		ret = dav_set_credentials(fs, user);
	free(user);
	if (ret == 0 && (ret = fs_http_init(&fs->fs, &fs->http)) < 0)
		ret = fs_set_error(&fs->fs, ret,
				   "cannot set up the HTTP transport");
	if (ret < 0)
		dav_free(fs);
	return ret;
}

static void dav_deinit(struct fs *_fs)
{
	dav_free(DAV_FS(_fs));
}

static unsigned int dav_get_caps(struct fs *_fs)
{
	struct dav_fs *fs = DAV_FS(_fs);
	unsigned int caps = FS_CAP_RANGE | FS_CAP_RENAME_ATOMIC |
			    FS_CAP_COPY_SERVER | FS_CAP_CREATE_EXCL |
			    FS_CAP_ITER | FS_CAP_ASYNC | FS_CAP_STAT_MTIME |
			    FS_CAP_STAT_ETAG;

	if (fs->metadata)
		caps |= FS_CAP_METADATA;
	return caps;
}

static void dav_get_limits(struct fs *_fs, struct fs_limits *limits)
{
	if (limits->key_max > FS_KEY_MAX - DAV_TMP_ROOM)
		limits->key_max = FS_KEY_MAX - DAV_TMP_ROOM;
}

static int dav_wait_async(struct fs *_fs, int timeout_ms)
{
	return fs_http_wait(DAV_FS(_fs)->http, timeout_ms);
}

static int dav_file_init(struct fs_file *_file)
{
	struct dav_file *file = DAV_FILE(_file);

	file->ctx.fs = DAV_FS(_file->fs);
	file->ctx.file = _file;
	return 0;
}

static void dav_file_deinit(struct fs_file *_file)
{
	struct dav_file *file = DAV_FILE(_file);

	fs_dav_write_abort(_file);
	fs_dav_req_done(file, 0);
	fs_http_request_deinit(&file->read_req);
	fs_dav_mkcol_clear(file);
	fs_dav_entry_clear(&file->entry);
	free(file->rmdir_key);
	free(file->fail_msg);
	file->rmdir_key = file->fail_msg = NULL;
}

static const char *const dav_aliases[] = {"dav+http", "dav+https", NULL};

const struct fs_driver fs_driver_dav = {
	.version = FS_DRIVER_VERSION,
	.name = "dav",
	.aliases = dav_aliases,
	.fs_size = sizeof(struct dav_fs),
	.file_size = sizeof(struct dav_file),
	.iter_size = sizeof(struct dav_iter),
	.v =
		{
			.init = dav_init,
			.deinit = dav_deinit,
			.get_caps = dav_get_caps,
			.file_init = dav_file_init,
			.file_deinit = dav_file_deinit,
			.read = fs_dav_read,
			.write = fs_dav_write,
			.write_finish = fs_dav_write_finish,
			.write_abort = fs_dav_write_abort,
			.stat = fs_dav_stat,
			.exists = fs_dav_exists,
			.get_metadata = fs_dav_get_metadata,
			.delete_file = fs_dav_delete,
			.copy = fs_dav_copy,
			.rename = fs_dav_rename,
			.iter_init = fs_dav_iter_init,
			.iter_next = fs_dav_iter_next,
			.iter_deinit = fs_dav_iter_deinit,
			.wait_async = dav_wait_async,
			.delete_prefix = fs_dav_delete_prefix,
			.get_limits = dav_get_limits,
		},
};
