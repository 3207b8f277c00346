/*
 * WebDAV authentication: Basic (RFC 7617) and Digest (RFC 7616 with
 * qop=auth, MD5 or SHA-256; RFC 2069 answers without qop are taken too)
 * against the server's credentials. Nonces carry their creation time and a
 * keyed hash of it, so the server keeps no state; one older than 5 minutes
 * gets a new challenge with stale=true.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dav.h"
#include "libfs/http.h"

#define DAV_REALM "fs-mockserver"
#define DAV_NONCE_SECS 300

static void dav_hex(const unsigned char *md, unsigned int len, char *hex_r)
{
	static const char hex[] = "0123456789abcdef";
	unsigned int i;

	for (i = 0; i < len; i++) {
		hex_r[i * 2] = hex[md[i] >> 4];
		hex_r[i * 2 + 1] = hex[md[i] & 15];
	}
	hex_r[len * 2] = '\0';
}

static int dav_hash(bool sha256, const char *data, char hex_r[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(data, strlen(data), md, &len,
		       sha256 ? EVP_sha256() : EVP_md5(), NULL) != 1)
		return -EIO;
	dav_hex(md, len, hex_r);
	return 0;
}

/* "TIME-MAC": TIME in hex, MAC = SHA-256(secret TIME) in hex (32). */
static void dav_nonce(struct fs_mock *mock, uint64_t t, char nonce_r[64])
{
	unsigned char md[EVP_MAX_MD_SIZE], data[48];
	unsigned int len = 0;
	char time_hex[17], mac[33];
	size_t n;

	snprintf(time_hex, sizeof(time_hex), "%llx", (unsigned long long)t);
	n = strlen(time_hex);
	memcpy(data, mock->dav->secret, 32);
	memcpy(data + 32, time_hex, n);
	if (EVP_Digest(data, 32 + n, md, &len, EVP_sha256(), NULL) != 1 ||
	    len < 16)
		memset(md, 0, 16);
	dav_hex(md, 16, mac);
	snprintf(nonce_r, 64, "%s-%s", time_hex, mac);
}

/* 1 valid, 0 stale, -1 forged. */
static int dav_nonce_check(struct fs_mock *mock, const char *nonce)
{
	unsigned long long t;
	char want[64];
	char *end;

	t = strtoull(nonce, &end, 16);
	if (end == nonce || *end != '-')
		return -1;
	dav_nonce(mock, t, want);
	if (strlen(want) != strlen(nonce) ||
	    CRYPTO_memcmp(want, nonce, strlen(want)) != 0)
		return -1;
	return (uint64_t)time(NULL) - t <= DAV_NONCE_SECS ? 1 : 0;
}

static const struct mock_credential *dav_user(struct fs_mock *mock,
					      const char *user)
{
	unsigned int i;

	for (i = 0; i < mock->creds_count; i++) {
		if (strcmp(mock->creds[i].access_key, user) == 0)
			return &mock->creds[i];
	}
	return NULL;
}

static bool dav_same(const char *a, const char *b)
{
	size_t len = strlen(a);

	return len == strlen(b) && CRYPTO_memcmp(a, b, len) == 0;
}

/* ------------------------------------------------------------------------ */
/* Basic                                                                      */

static bool dav_basic_ok(struct fs_mock *mock, const char *b64)
{
	const struct mock_credential *cred;
	size_t len = strlen(b64);
	unsigned char *plain;
	char *colon;
	int n;
	bool ok = false;

	if (len == 0 || len % 4 != 0 || len > 4096)
		return false;
	plain = malloc(len / 4 * 3 + 1);
	if (plain == NULL)
		return false;
	n = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)len);
	if (n >= 0) {
		if (len >= 1 && b64[len - 1] == '=')
			n--;
		if (len >= 2 && b64[len - 2] == '=')
			n--;
		plain[n] = '\0';
		colon = strchr((char *)plain, ':');
		if (colon != NULL) {
			*colon = '\0';
			cred = dav_user(mock, (char *)plain);
			ok = cred != NULL &&
			     dav_same(colon + 1, cred->secret_key);
		}
		OPENSSL_cleanse(plain, (size_t)n);
	}
	free(plain);
	return ok;
}

/* ------------------------------------------------------------------------ */
/* Digest                                                                     */

struct dav_digest_params {
	char username[256], realm[128], nonce[128], uri[4096], response[129];
	char algorithm[32], qop[16], nc[16], cnonce[128];
};

static void dav_digest_parse(const char *h, struct dav_digest_params *d)
{
	char name[32], value[4096];
	const char *p = h;

	memset(d, 0, sizeof(*d));
	while (fs_http_auth_param(&p, name, sizeof(name), value,
				  sizeof(value))) {
		char *dst = NULL;
		size_t size = 0;

#define DAV_FIELD(f)                                                           \
	if (strcasecmp(name, #f) == 0) {                                       \
		dst = d->f;                                                    \
		size = sizeof(d->f);                                           \
	}
		DAV_FIELD(username)
		DAV_FIELD(realm)
		DAV_FIELD(nonce)
		DAV_FIELD(uri)
		DAV_FIELD(response)
		DAV_FIELD(algorithm)
		DAV_FIELD(qop)
		DAV_FIELD(nc)
		DAV_FIELD(cnonce)
#undef DAV_FIELD
		if (dst != NULL)
			snprintf(dst, size, "%s", value);
	}
}

/* 1 valid, 0 stale nonce, -1 wrong. */
static int dav_digest_ok(struct mock_request *req, const char *h)
{
	struct dav_digest_params d;
	const struct mock_credential *cred;
	char ha1[65], ha2[65], want[65], *tmp = NULL;
	bool sha256;
	int nonce, ret;

	dav_digest_parse(h, &d);
	sha256 = strcasecmp(d.algorithm, "SHA-256") == 0;
	if ((d.algorithm[0] != '\0' && !sha256 &&
	     strcasecmp(d.algorithm, "MD5") != 0) ||
	    strcmp(d.realm, DAV_REALM) != 0 ||
	    strcmp(d.uri, req->raw_uri) != 0 ||
	    (d.qop[0] != '\0' && strcmp(d.qop, "auth") != 0))
		return -1;
	cred = dav_user(req->mock, d.username);
	nonce = dav_nonce_check(req->mock, d.nonce);
	if (cred == NULL || nonce < 0)
		return -1;
	if (asprintf(&tmp, "%s:%s:%s", d.username, DAV_REALM,
		     cred->secret_key) < 0)
		return -1;
	ret = dav_hash(sha256, tmp, ha1);
	OPENSSL_cleanse(tmp, strlen(tmp));
	free(tmp);
	if (ret == 0 && asprintf(&tmp, "%s:%s", req->method, d.uri) >= 0) {
		ret = dav_hash(sha256, tmp, ha2);
		free(tmp);
	}
	if (ret == 0 &&
	    (d.qop[0] != '\0'
		     ? asprintf(&tmp, "%s:%s:%s:%s:%s:%s", ha1, d.nonce, d.nc,
				d.cnonce, d.qop, ha2)
		     : asprintf(&tmp, "%s:%s:%s", ha1, d.nonce, ha2)) >= 0) {
		ret = dav_hash(sha256, tmp, want);
		free(tmp);
	}
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (ret < 0 || !dav_same(want, d.response))
		return -1;
	return nonce;
}

/* ------------------------------------------------------------------------ */
/* Challenges                                                                 */

static void dav_challenge(struct mock_request *req, bool stale)
{
	enum dav_mock_auth mode = req->mock->dav->auth;
	struct mock_reply *reply = mock_reply_new(401);
	char nonce[64];

	if (reply == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	if (mode != DAV_MOCK_AUTH_BASIC) {
		dav_nonce(req->mock, (uint64_t)time(NULL), nonce);
		mock_reply_headerf(reply, "WWW-Authenticate",
				   "Digest realm=\"" DAV_REALM "\", "
				   "qop=\"auth\", algorithm=MD5, "
				   "nonce=\"%s\", opaque=\"fs-mock\"%s",
				   nonce, stale ? ", stale=true" : "");
	}
	if (mode != DAV_MOCK_AUTH_DIGEST)
		mock_reply_header(reply, "WWW-Authenticate",
				  "Basic realm=\"" DAV_REALM "\"");
	mock_reply_header(reply, "Content-Type", "text/plain");
	mock_buf_str(&reply->body, "authentication required\n");
	mock_request_reply(req, reply);
}

bool dav_mock_authenticate(struct mock_request *req)
{
	enum dav_mock_auth mode = req->mock->dav->auth;
	const char *h = mock_header(req, "Authorization");
	int digest;

	if (mode == DAV_MOCK_AUTH_NONE)
		return true;
	if (h != NULL && strncasecmp(h, "Basic ", 6) == 0 &&
	    mode != DAV_MOCK_AUTH_DIGEST && dav_basic_ok(req->mock, h + 6))
		return true;
	if (h != NULL && strncasecmp(h, "Digest ", 7) == 0 &&
	    mode != DAV_MOCK_AUTH_BASIC) {
		digest = dav_digest_ok(req, h + 7);
		if (digest > 0)
			return true;
		dav_challenge(req, digest == 0);
		return false;
	}
	dav_challenge(req, false);
	return false;
}
