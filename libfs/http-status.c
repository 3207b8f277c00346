/*
 * The one table from HTTP status and libcurl results to errno, shared by
 * every HTTP driver, and the redaction of secrets in URLs and headers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"

struct http_status_map {
	long status;
	int err;
};

/* Statuses with a meaning of their own; the rest go by class. */
static const struct http_status_map http_status_table[] = {
	{304, 0}, /* conditional GET: still valid */
	{401, -EACCES}, {403, -EACCES},	   {404, -ENOENT}, {408, -ETIMEDOUT},
	{409, -EEXIST}, {410, -ENOENT},	   {412, -EEXIST}, {413, -EFBIG},
	{416, -EIO},	{504, -ETIMEDOUT}, {507, -ENOSPC},
};

int fs_http_status_errno(long status, const char *method)
{
	size_t i;

	if (status >= 100 && status < 300)
		return 0;
	/* RFC 4918 9.3.1: MKCOL on an existing resource gets 405. */
	if (status == 405 && method != NULL && strcmp(method, "MKCOL") == 0)
		return -EEXIST;
	for (i = 0;
	     i < sizeof(http_status_table) / sizeof(http_status_table[0]);
	     i++) {
		if (http_status_table[i].status == status)
			return http_status_table[i].err;
	}
	return -EIO;
}

int fs_http_curl_errno(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_LOGIN_DENIED:
	case CURLE_REMOTE_ACCESS_DENIED:
		return -EACCES;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

bool fs_http_curl_transient(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
	case CURLE_PROXY:
		return true;
	default:
		return false;
	}
}

/* Query parameters whose value is a secret or a piece of a credential. */
static const char *const http_secret_params[] = {
	"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
	"Signature",	   "AWSAccessKeyId",   NULL,
};

static const char *const http_secret_headers[] = {
	"Authorization",
	"Proxy-Authorization",
	"Cookie",
	"Set-Cookie",
	"X-Amz-Security-Token",
	"X-Amz-Server-Side-Encryption-Customer-Key",
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key",
	NULL,
};

bool fs_http_header_is_secret(const char *name)
{
	unsigned int i;

	for (i = 0; http_secret_headers[i] != NULL; i++) {
		if (strcasecmp(name, http_secret_headers[i]) == 0)
			return true;
	}
	return false;
}

static bool http_param_is_secret(const char *name, size_t len)
{
	unsigned int i;

	for (i = 0; http_secret_params[i] != NULL; i++) {
		if (strlen(http_secret_params[i]) == len &&
		    strncasecmp(name, http_secret_params[i], len) == 0)
			return true;
	}
	return false;
}

/* A bounded output cursor: appends while there is room, always keeps the
   buffer NUL-terminated. */
struct http_out {
	char *buf;
	size_t size, len;
};

static void http_out_put(struct http_out *out, const char *str, size_t len)
{
	size_t room;

	if (out->size == 0)
		return;
	room = out->size - 1 - out->len;
	if (len > room)
		len = room;
	memcpy(out->buf + out->len, str, len);
	out->len += len;
	out->buf[out->len] = '\0';
}

/* Writes "scheme://" and the authority with any password hidden; returns
   the rest of the URL (path and query). */
static const char *http_redact_authority(const char *url, struct http_out *out)
{
	const char *p = strstr(url, "://"), *end, *at, *colon;

	if (p == NULL)
		return url;
	p += 3;
	http_out_put(out, url, (size_t)(p - url));
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at == NULL)
		return p;
	colon = memchr(p, ':', (size_t)(at - p));
	if (colon != NULL) {
		http_out_put(out, p, (size_t)(colon + 1 - p));
		http_out_put(out, "***", 3);
	} else {
		http_out_put(out, p, (size_t)(at - p));
	}
	return at;
}

void fs_http_redact_url(const char *url, char *buf, size_t size)
{
	struct http_out out = {.buf = buf, .size = size, .len = 0};
	const char *p, *q;

	if (size > 0)
		buf[0] = '\0';
	p = http_redact_authority(url, &out);
	q = strchr(p, '?');
	if (q == NULL) {
		http_out_put(&out, p, strlen(p));
		return;
	}
	http_out_put(&out, p, (size_t)(q - p + 1));
	p = q + 1;
	while (*p != '\0') {
		size_t len = strcspn(p, "&#"), name_len = strcspn(p, "=&#");

		if (name_len < len && http_param_is_secret(p, name_len)) {
			http_out_put(&out, p, name_len + 1);
			http_out_put(&out, "***", 3);
		} else {
			http_out_put(&out, p, len);
		}
		p += len;
		if (*p == '#') {
			http_out_put(&out, p, strlen(p));
			break;
		}
		if (*p == '&')
			http_out_put(&out, p++, 1);
	}
}
