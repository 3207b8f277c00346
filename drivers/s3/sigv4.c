/*
 * AWS Signature Version 4 (and 2, for verification) for the S3 driver and the
 * mock S3 server.
 *
 * One canonicalisation serves both sides. The signer describes the request it
 * is about to send; the verifier describes the request it received, raw path
 * and raw query as they came over the wire, and signs exactly the headers the
 * client listed. Paths are kept byte for byte (S3 does not normalise them and
 * clients sign what they send). Query names and values are decoded and
 * re-encoded, so clients that escape differently ("%7e" vs "~") still
 * canonicalise the same way; '+' is a literal plus (RFC 3986), never a space.
 *
 * Secrets only ever go into HMAC keys: they are wiped from temporary buffers
 * and never copied into a message.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "libfs/driver.h"
#include "sigv4.h"

#define SIGV4_SCOPE_TERMINATOR "aws4_request"
/* Longest Authorization value or presigned query parsed. Real ones are a few
   hundred bytes; this bounds the work a hostile client can cause. */
#define SIGV4_AUTH_MAX 16384
#define SHA256_SIZE 32
#define SHA1_SIZE 20

/* Returns err, and sets *error_r to msg if err is an error. */
static int fail(const char **error_r, int err, const char *msg)
{
	if (err < 0 && error_r != NULL)
		*error_r = msg;
	return err;
}

/* ------------------------------------------------------------------------ */
/* A growable string; a failed allocation sticks until sbuf_finish().        */

struct sbuf {
	char *data;
	size_t len, alloc;
	bool failed;
};

static bool sbuf_grow(struct sbuf *sb, size_t add)
{
	size_t need, alloc;
	char *data;

	if (add > SIZE_MAX - sb->len - 1)
		return false;
	need = sb->len + add + 1;
	if (need <= sb->alloc)
		return true;
	alloc = sb->alloc < 128 ? 128 : sb->alloc;
	while (alloc < need) {
		if (alloc > SIZE_MAX / 2)
			return false;
		alloc *= 2;
	}
	data = realloc(sb->data, alloc);
	if (data == NULL)
		return false;
	sb->data = data;
	sb->alloc = alloc;
	return true;
}

static void sbuf_add(struct sbuf *sb, const char *data, size_t len)
{
	if (sb->failed)
		return;
	if (!sbuf_grow(sb, len)) {
		sb->failed = true;
		return;
	}
	memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

static void sbuf_addstr(struct sbuf *sb, const char *str)
{
	sbuf_add(sb, str, strlen(str));
}

static void sbuf_addc(struct sbuf *sb, char c)
{
	sbuf_add(sb, &c, 1);
}

static void sbuf_free(struct sbuf *sb)
{
	free(sb->data);
	memset(sb, 0, sizeof(*sb));
}

/* Hands the string over to *str_r. Returns 0 or -ENOMEM. */
static int sbuf_finish(struct sbuf *sb, char **str_r)
{
	if (!sb->failed && sb->data == NULL)
		sbuf_add(sb, "", 0);
	if (sb->failed) {
		sbuf_free(sb);
		return -ENOMEM;
	}
	*str_r = sb->data;
	memset(sb, 0, sizeof(*sb));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Characters (ASCII only: no locale may change what gets signed)            */

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_unreserved(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 9110 token characters (header names, methods). */
static bool is_tchar(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_lower_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

static char to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static void hex_encode(const unsigned char *data, size_t size, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < size; i++) {
		hex[i * 2] = digits[data[i] >> 4];
		hex[i * 2 + 1] = digits[data[i] & 15];
	}
	hex[size * 2] = '\0';
}

/* True if str is exactly len characters, all for which ok() holds. */
static bool all_of(const char *str, size_t len, bool (*ok)(unsigned char))
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (str[i] == '\0' || !ok((unsigned char)str[i]))
			return false;
	}
	return str[len] == '\0';
}

/* ------------------------------------------------------------------------ */
/* URI encoding                                                               */

static void sbuf_add_encoded(struct sbuf *sb, const char *str, size_t len,
			     bool encode_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	char esc[3] = {'%', 0, 0};
	size_t i, start = 0;

	/* Copies runs of kept characters at once. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (is_unreserved(c) || (c == '/' && !encode_slash))
			continue;
		sbuf_add(sb, str + start, i - start);
		esc[1] = digits[c >> 4];
		esc[2] = digits[c & 15];
		sbuf_add(sb, esc, 3);
		start = i + 1;
	}
	sbuf_add(sb, str + start, len - start);
}

int fs_sigv4_uri_encode(const char *str, bool encode_slash, char **encoded_r)
{
	struct sbuf sb = {0};

	if (str == NULL)
		return -EINVAL;
	sbuf_add_encoded(&sb, str, strlen(str), encode_slash);
	return sbuf_finish(&sb, encoded_r);
}

/* Decodes len bytes at str into out (room for len + 1 bytes). */
static int uri_decode_to(const char *str, size_t len, char *out,
			 size_t *out_len_r)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (str[i] != '%') {
			out[n++] = str[i];
			continue;
		}
		if (len - i < 3)
			return -EINVAL;
		hi = fs_hex_value((unsigned char)str[i + 1]);
		lo = fs_hex_value((unsigned char)str[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		out[n++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[n] = '\0';
	*out_len_r = n;
	return 0;
}

int fs_sigv4_uri_decode(const char *str, size_t len, char **decoded_r)
{
	size_t out_len;
	char *out;
	int ret;

	if (str == NULL || len == SIZE_MAX)
		return -EINVAL;
	out = malloc(len + 1);
	if (out == NULL)
		return -ENOMEM;
	ret = uri_decode_to(str, len, out, &out_len);
	if (ret < 0) {
		free(out);
		return ret;
	}
	*decoded_r = out;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Hashes                                                                     */

static int sha256_raw(const void *data, size_t size,
		      unsigned char md[SHA256_SIZE])
{
	unsigned int md_len = 0;

	if (EVP_Digest(data, size, md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != SHA256_SIZE)
		return -EIO;
	return 0;
}

int fs_sigv4_sha256_hex(const void *data, size_t size,
			char hex_r[FS_SIGV4_HEX_SIZE])
{
	unsigned char md[SHA256_SIZE];
	int ret;

	ret = sha256_raw(data, size, md);
	if (ret == 0)
		hex_encode(md, sizeof(md), hex_r);
	return ret;
}

int fs_sigv4_sha256_init(struct fs_sigv4_sha256 *sha)
{
	EVP_MD_CTX *ctx;

	sha->ctx = NULL;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	sha->ctx = ctx;
	return 0;
}

int fs_sigv4_sha256_update(struct fs_sigv4_sha256 *sha, const void *data,
			   size_t size)
{
	if (sha->ctx == NULL)
		return -EINVAL;
	if (EVP_DigestUpdate(sha->ctx, data, size) != 1)
		return -EIO;
	return 0;
}

int fs_sigv4_sha256_final(struct fs_sigv4_sha256 *sha,
			  char hex_r[FS_SIGV4_HEX_SIZE])
{
	unsigned char md[SHA256_SIZE];
	unsigned int md_len = 0;
	int ret = 0;

	if (sha->ctx == NULL)
		return -EINVAL;
	if (EVP_DigestFinal_ex(sha->ctx, md, &md_len) != 1 ||
	    md_len != SHA256_SIZE)
		ret = -EIO;
	else
		hex_encode(md, sizeof(md), hex_r);
	fs_sigv4_sha256_deinit(sha);
	return ret;
}

void fs_sigv4_sha256_deinit(struct fs_sigv4_sha256 *sha)
{
	EVP_MD_CTX_free(sha->ctx);
	sha->ctx = NULL;
}

static int hmac_sha256(const void *key, size_t key_len, const char *data,
		       size_t data_len, unsigned char out[SHA256_SIZE])
{
	unsigned int out_len = 0;

	if (key_len > INT_MAX)
		return -EINVAL;
	if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data,
		 data_len, out, &out_len) == NULL ||
	    out_len != SHA256_SIZE)
		return -EIO;
	return 0;
}

bool fs_sigv4_signature_equal(const char *a, const char *b)
{
	size_t len;

	if (a == NULL || b == NULL)
		return false;
	len = strlen(a);
	if (len != strlen(b))
		return false;
	return CRYPTO_memcmp(a, b, len) == 0;
}

/* ------------------------------------------------------------------------ */
/* Timestamps                                                                 */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static int parse_digits(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Checks a "YYYYMMDD" date (exactly 8 characters at s, a real day). */
static bool date_valid(const char *s)
{
	int year, month, day;
	size_t i;

	for (i = 0; i < 8; i++) {
		if (!is_digit((unsigned char)s[i]))
			return false;
	}
	year = parse_digits(s, 4);
	month = parse_digits(s + 4, 2);
	day = parse_digits(s + 6, 2);
	return month >= 1 && month <= 12 && day >= 1 &&
	       day <= days_in_month(year, month);
}

int fs_sigv4_timestamp_parse(const char *ts, time_t *t_r)
{
	int64_t secs;
	int h, m, s, i;

	if (ts == NULL || strlen(ts) != 16 || !date_valid(ts) || ts[8] != 'T' ||
	    ts[15] != 'Z')
		return -EINVAL;
	for (i = 9; i < 15; i++) {
		if (!is_digit((unsigned char)ts[i]))
			return -EINVAL;
	}
	h = parse_digits(ts + 9, 2);
	m = parse_digits(ts + 11, 2);
	s = parse_digits(ts + 13, 2);
	if (h > 23 || m > 59 || s > 59)
		return -EINVAL;
	secs = days_from_civil(parse_digits(ts, 4), parse_digits(ts + 4, 2),
			       parse_digits(ts + 6, 2)) *
		       86400 +
	       h * 3600 + m * 60 + s;
	if ((int64_t)(time_t)secs != secs)
		return -EINVAL;
	*t_r = (time_t)secs;
	return 0;
}

/* Writes v as exactly n decimal digits. */
static void put_digits(char *out, int v, int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

int fs_sigv4_timestamp(time_t t, char ts_r[FS_SIGV4_TIMESTAMP_SIZE])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900)
		return -EINVAL;
	put_digits(ts_r, tm.tm_year + 1900, 4);
	put_digits(ts_r + 4, tm.tm_mon + 1, 2);
	put_digits(ts_r + 6, tm.tm_mday, 2);
	ts_r[8] = 'T';
	put_digits(ts_r + 9, tm.tm_hour, 2);
	put_digits(ts_r + 11, tm.tm_min, 2);
	put_digits(ts_r + 13, tm.tm_sec > 59 ? 59 : tm.tm_sec, 2);
	ts_r[15] = 'Z';
	ts_r[16] = '\0';
	return 0;
}

static bool timestamp_valid(const char *ts)
{
	time_t t;

	return fs_sigv4_timestamp_parse(ts, &t) == 0;
}

/* ------------------------------------------------------------------------ */
/* Validation of the pieces that end up in signed strings                     */

/* Access keys go into "Credential=AK/..." and "AK:sig": nothing that could
   split those. */
static bool access_key_valid(const char *ak)
{
	size_t i, len;

	if (ak == NULL)
		return false;
	len = strlen(ak);
	if (len == 0 || len > FS_SIGV4_ACCESS_KEY_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)ak[i];

		if (c <= ' ' || c >= 0x7f || c == '/' || c == ',' || c == ':' ||
		    c == '=')
			return false;
	}
	return true;
}

/* Region and service: printable, no '/' (scope separator) or ','. */
static bool scope_part_valid(const char *part)
{
	const unsigned char *p = (const unsigned char *)part;

	if (part == NULL || *p == '\0')
		return false;
	for (; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == ',')
			return false;
	}
	return true;
}

static int credentials_check(const struct fs_sigv4_credentials *cred,
			     const char **error_r)
{
	if (cred == NULL || !access_key_valid(cred->access_key))
		return fail(error_r, -EINVAL, "invalid access key");
	if (cred->secret_key == NULL || cred->secret_key[0] == '\0')
		return fail(error_r, -EINVAL, "no secret key");
	if (!scope_part_valid(cred->region))
		return fail(error_r, -EINVAL, "invalid region");
	if (!scope_part_valid(cred->service))
		return fail(error_r, -EINVAL, "invalid service");
	return 0;
}

static bool signature_valid(const char *sig)
{
	return sig != NULL && all_of(sig, 64, is_lower_hex);
}

static bool upper_token_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-';
}

/* A hex SHA-256 or a literal such as UNSIGNED-PAYLOAD. */
static bool payload_hash_valid(const char *hash)
{
	size_t len;

	if (hash == NULL)
		return false;
	if (all_of(hash, 64, is_lower_hex))
		return true;
	len = strlen(hash);
	return len > 0 && len <= 64 && all_of(hash, len, upper_token_char);
}

static bool tchar_ok(unsigned char c)
{
	return is_tchar(c);
}

/* Raw paths: visible ASCII only, so a path cannot break the lines of the
   canonical request. */
static bool path_char_ok(unsigned char c)
{
	return c > ' ' && c < 0x7f;
}

static int request_check(const char *method, const char *path,
			 const struct fs_sigv4_header *headers, size_t count,
			 const char **error_r)
{
	size_t i;

	if (method == NULL || method[0] == '\0' ||
	    !all_of(method, strlen(method), tchar_ok))
		return fail(error_r, -EINVAL, "invalid method");
	if (path == NULL ||
	    (path[0] != '\0' &&
	     (path[0] != '/' || !all_of(path, strlen(path), path_char_ok))))
		return fail(error_r, -EINVAL,
			    "path must start with '/' and be URI-encoded");
	if (count > 0 && headers == NULL)
		return fail(error_r, -EINVAL, "no header array");
	for (i = 0; i < count; i++) {
		if (headers[i].name == NULL || headers[i].value == NULL)
			return fail(error_r, -EINVAL, "header without name");
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Headers                                                                    */

/* Header name without surrounding blanks. */
static const char *header_name(const char *name, size_t *len_r)
{
	size_t len;

	while (*name == ' ' || *name == '\t')
		name++;
	len = strlen(name);
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	*len_r = len;
	return name;
}

/* Compares a header name in any case with a lowercase name. */
static bool header_is(const struct fs_sigv4_header *hdr, const char *lower,
		      size_t lower_len)
{
	size_t len, i;
	const char *name = header_name(hdr->name, &len);

	if (len != lower_len)
		return false;
	for (i = 0; i < len; i++) {
		if (to_lower(name[i]) != lower[i])
			return false;
	}
	return true;
}

const char *fs_sigv4_header_get(const struct fs_sigv4_request *req,
				const char *name)
{
	char lower[128];
	size_t i, len;

	if (req == NULL || name == NULL)
		return NULL;
	len = strlen(name);
	if (len >= sizeof(lower))
		return NULL;
	for (i = 0; i < len; i++)
		lower[i] = to_lower(name[i]);
	for (i = 0; i < req->header_count; i++) {
		if (header_is(&req->headers[i], lower, len))
			return req->headers[i].value;
	}
	return NULL;
}

/* Appends value trimmed, inner runs of whitespace (folded lines too) turned
   into one space: AWS's "Trimall". */
static void sbuf_add_trimall(struct sbuf *sb, const char *value)
{
	bool pending_space = false, started = false;
	const char *p;

	for (p = value; *p != '\0'; p++) {
		if (is_space((unsigned char)*p)) {
			pending_space = started;
			continue;
		}
		if (pending_space)
			sbuf_addc(sb, ' ');
		pending_space = false;
		started = true;
		sbuf_addc(sb, *p);
	}
}

/* Compares two names given with lengths, bytewise. */
static int name_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
	int r = memcmp(a, b, a_len < b_len ? a_len : b_len);

	if (r != 0)
		return r;
	return a_len < b_len ? -1 : a_len > b_len;
}

static bool lower_tchar(unsigned char c)
{
	return is_tchar(c) && !(c >= 'A' && c <= 'Z');
}

/* Checks a SignedHeaders list: lowercase token names joined with ';',
   strictly ascending (so unique), "host" among them. */
static int signed_headers_check(const char *list, const char **error_r)
{
	const char *p = list, *prev = NULL, *end;
	size_t len, prev_len = 0, i;
	bool host = false;

	if (list == NULL || list[0] == '\0')
		return fail(error_r, -EINVAL, "SignedHeaders is empty");
	for (;; p = end + 1) {
		end = strchr(p, ';');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			return fail(error_r, -EINVAL,
				    "SignedHeaders has an empty name");
		for (i = 0; i < len; i++) {
			if (!lower_tchar((unsigned char)p[i]))
				return fail(error_r, -EINVAL,
					    "SignedHeaders has a name that is "
					    "not a lowercase HTTP token");
		}
		if (prev != NULL && name_cmp(prev, prev_len, p, len) >= 0)
			return fail(error_r, -EINVAL,
				    "SignedHeaders is not sorted or has a "
				    "duplicate");
		host = host || (len == 4 && memcmp(p, "host", 4) == 0);
		prev = p;
		prev_len = len;
		if (end == NULL)
			break;
	}
	if (!host)
		return fail(error_r, -EINVAL, "SignedHeaders lacks host");
	return 0;
}

/* Appends "name:value1,value2\n" for one signed header name. */
static int add_canonical_header(struct sbuf *sb,
				const struct fs_sigv4_request *req,
				const char *name, size_t len)
{
	bool found = false;
	size_t i;

	sbuf_add(sb, name, len);
	sbuf_addc(sb, ':');
	for (i = 0; i < req->header_count; i++) {
		if (!header_is(&req->headers[i], name, len))
			continue;
		if (found)
			sbuf_addc(sb, ',');
		sbuf_add_trimall(sb, req->headers[i].value);
		found = true;
	}
	sbuf_addc(sb, '\n');
	return found ? 0 : -EINVAL;
}

static int add_canonical_headers(struct sbuf *sb,
				 const struct fs_sigv4_request *req,
				 const char *signed_headers,
				 const char **error_r)
{
	const char *p = signed_headers, *end;
	size_t len;

	for (;; p = end + 1) {
		end = strchr(p, ';');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (add_canonical_header(sb, req, p, len) < 0)
			return fail(error_r, -EINVAL,
				    "a header listed in SignedHeaders is "
				    "missing from the request");
		if (end == NULL)
			return 0;
	}
}

/* Headers a signer signs besides x-amz-*: those S3 acts on. */
static const char *const sigv4_s3_signed[] = {
	"cache-control",
	"content-disposition",
	"content-encoding",
	"content-language",
	"content-md5",
	"content-type",
	"date",
	"expires",
	"host",
	"if-match",
	"if-modified-since",
	"if-none-match",
	"if-unmodified-since",
	"range",
};

static bool s3_signs(const char *lower)
{
	size_t i;

	if (strncmp(lower, "x-amz-", 6) == 0)
		return true;
	for (i = 0; i < sizeof(sigv4_s3_signed) / sizeof(*sigv4_s3_signed);
	     i++) {
		if (strcmp(lower, sigv4_s3_signed[i]) == 0)
			return true;
	}
	return false;
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **strs, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(strs[i]);
	free(strs);
}

/* Returns the lowercased name of hdr, or NULL (*err_r set). */
static char *header_lower_name(const struct fs_sigv4_header *hdr, int *err_r)
{
	size_t len, i;
	const char *name = header_name(hdr->name, &len);
	char *lower;

	for (i = 0; i < len; i++) {
		if (!is_tchar((unsigned char)name[i]))
			break;
	}
	if (len == 0 || i < len) {
		*err_r = -EINVAL;
		return NULL;
	}
	lower = malloc(len + 1);
	if (lower == NULL) {
		*err_r = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < len; i++)
		lower[i] = to_lower(name[i]);
	lower[len] = '\0';
	return lower;
}

/* Joins sorted names with ';', dropping duplicates. */
static int join_names(char **names, size_t count, char **list_r)
{
	struct sbuf sb = {0};
	size_t i;

	qsort(names, count, sizeof(*names), str_ptr_cmp);
	for (i = 0; i < count; i++) {
		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		if (sb.len > 0)
			sbuf_addc(&sb, ';');
		sbuf_addstr(&sb, names[i]);
	}
	return sbuf_finish(&sb, list_r);
}

int fs_sigv4_signed_headers(const struct fs_sigv4_request *req,
			    unsigned int flags, char **list_r)
{
	char **names;
	size_t i, count = 0;
	int ret = 0;

	if (req == NULL || (req->header_count > 0 && req->headers == NULL) ||
	    fs_sigv4_header_get(req, "host") == NULL)
		return -EINVAL;
	names = calloc(req->header_count, sizeof(*names));
	if (names == NULL)
		return -ENOMEM;
	for (i = 0; i < req->header_count && ret == 0; i++) {
		char *lower = header_lower_name(&req->headers[i], &ret);

		if (lower == NULL)
			break;
		if ((flags & FS_SIGV4_SIGN_ALL) != 0 || s3_signs(lower))
			names[count++] = lower;
		else
			free(lower);
	}
	if (ret == 0)
		ret = join_names(names, count, list_r);
	free_strings(names, count);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Query strings                                                              */

struct qparam {
	char *name;  /* canonical (decoded and re-encoded) */
	char *value; /* canonical; "" for "name" without '=' */
};

struct qparams {
	struct qparam *items;
	size_t count, alloc;
};

static void qparams_free(struct qparams *qp)
{
	size_t i;

	for (i = 0; i < qp->count; i++) {
		free(qp->items[i].name);
		free(qp->items[i].value);
	}
	free(qp->items);
	memset(qp, 0, sizeof(*qp));
}

/* Decodes then re-encodes one query name or value. */
static int canonical_component(const char *raw, size_t len, char **out_r)
{
	struct sbuf sb = {0};
	char *decoded;
	int ret;

	ret = fs_sigv4_uri_decode(raw, len, &decoded);
	if (ret < 0)
		return ret;
	sbuf_add_encoded(&sb, decoded, strlen(decoded), true);
	free(decoded);
	return sbuf_finish(&sb, out_r);
}

static int qparams_push(struct qparams *qp, char *name, char *value)
{
	if (qp->count == qp->alloc) {
		size_t alloc = qp->alloc == 0 ? 8 : qp->alloc * 2;
		struct qparam *items;

		items = realloc(qp->items, alloc * sizeof(*items));
		if (items == NULL)
			return -ENOMEM;
		qp->items = items;
		qp->alloc = alloc;
	}
	qp->items[qp->count].name = name;
	qp->items[qp->count].value = value;
	qp->count++;
	return 0;
}

/* Adds the parameter in [seg, seg + len). */
static int qparams_add_raw(struct qparams *qp, const char *seg, size_t len)
{
	const char *eq = memchr(seg, '=', len);
	size_t name_len = eq != NULL ? (size_t)(eq - seg) : len;
	char *name = NULL, *value = NULL;
	int ret;

	ret = canonical_component(seg, name_len, &name);
	if (ret == 0 && eq != NULL)
		ret = canonical_component(eq + 1, len - name_len - 1, &value);
	else if (ret == 0 && (value = strdup("")) == NULL)
		ret = -ENOMEM;
	if (ret == 0)
		ret = qparams_push(qp, name, value);
	if (ret < 0) {
		free(name);
		free(value);
	}
	return ret;
}

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *pa = a, *pb = b;
	int r = strcmp(pa->name, pb->name);

	return r != 0 ? r : strcmp(pa->value, pb->value);
}

/* Parses a raw query into canonical parameters, sorted. Empty segments
   ("a=1&&b=2") are skipped. */
static int qparams_parse(struct qparams *qp, const char *query)
{
	const char *p = query, *end;
	int ret;

	memset(qp, 0, sizeof(*qp));
	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if (end > p) {
			ret = qparams_add_raw(qp, p, (size_t)(end - p));
			if (ret < 0) {
				qparams_free(qp);
				return ret;
			}
		}
		p = *end == '&' ? end + 1 : end;
	}
	if (qp->count > 1)
		qsort(qp->items, qp->count, sizeof(*qp->items), qparam_cmp);
	return 0;
}

static int add_canonical_query(struct sbuf *sb, const char *query,
			       bool skip_signature, const char **error_r)
{
	struct qparams qp;
	bool first = true;
	size_t i;
	int ret;

	ret = qparams_parse(&qp, query);
	if (ret == -EINVAL)
		return fail(error_r, ret, "malformed %-escape in the query");
	if (ret < 0)
		return fail(error_r, ret, "out of memory");
	for (i = 0; i < qp.count; i++) {
		if (skip_signature &&
		    strcmp(qp.items[i].name, "X-Amz-Signature") == 0)
			continue;
		if (!first)
			sbuf_addc(sb, '&');
		sbuf_addstr(sb, qp.items[i].name);
		sbuf_addc(sb, '=');
		sbuf_addstr(sb, qp.items[i].value);
		first = false;
	}
	qparams_free(&qp);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Canonical request, string to sign, signature                               */

int fs_sigv4_canonical_request(const struct fs_sigv4_request *req,
			       const char *signed_headers, char **creq_r,
			       const char **error_r)
{
	struct sbuf sb = {0};
	int ret;

	if (req == NULL)
		return fail(error_r, -EINVAL, "no request");
	ret = request_check(req->method, req->path, req->headers,
			    req->header_count, error_r);
	if (ret < 0)
		return ret;
	if (!payload_hash_valid(req->payload_hash))
		return fail(error_r, -EINVAL, "invalid payload hash");
	ret = signed_headers_check(signed_headers, error_r);
	if (ret < 0)
		return ret;

	sbuf_addstr(&sb, req->method);
	sbuf_addc(&sb, '\n');
	sbuf_addstr(&sb, req->path[0] != '\0' ? req->path : "/");
	sbuf_addc(&sb, '\n');
	ret = add_canonical_query(&sb, req->query, req->presigned, error_r);
	sbuf_addc(&sb, '\n');
	if (ret == 0)
		ret = add_canonical_headers(&sb, req, signed_headers, error_r);
	if (ret < 0) {
		sbuf_free(&sb);
		return ret;
	}
	sbuf_addc(&sb, '\n');
	sbuf_addstr(&sb, signed_headers);
	sbuf_addc(&sb, '\n');
	sbuf_addstr(&sb, req->payload_hash);
	return fail(error_r, sbuf_finish(&sb, creq_r), "out of memory");
}

static void sbuf_add_scope(struct sbuf *sb,
			   const struct fs_sigv4_credentials *cred,
			   const char *timestamp)
{
	sbuf_add(sb, timestamp, 8);
	sbuf_addc(sb, '/');
	sbuf_addstr(sb, cred->region);
	sbuf_addc(sb, '/');
	sbuf_addstr(sb, cred->service);
	sbuf_addstr(sb, "/" SIGV4_SCOPE_TERMINATOR);
}

static bool scope_args_valid(const struct fs_sigv4_credentials *cred,
			     const char *timestamp)
{
	return cred != NULL && scope_part_valid(cred->region) &&
	       scope_part_valid(cred->service) && timestamp_valid(timestamp);
}

int fs_sigv4_scope(const struct fs_sigv4_credentials *cred,
		   const char *timestamp, char **scope_r)
{
	struct sbuf sb = {0};

	if (!scope_args_valid(cred, timestamp))
		return -EINVAL;
	sbuf_add_scope(&sb, cred, timestamp);
	return sbuf_finish(&sb, scope_r);
}

int fs_sigv4_string_to_sign(const struct fs_sigv4_credentials *cred,
			    const char *timestamp,
			    const char *canonical_request, char **sts_r)
{
	struct sbuf sb = {0};
	char hash[FS_SIGV4_HEX_SIZE];
	int ret;

	if (!scope_args_valid(cred, timestamp) || canonical_request == NULL)
		return -EINVAL;
	ret = fs_sigv4_sha256_hex(canonical_request, strlen(canonical_request),
				  hash);
	if (ret < 0)
		return ret;
	sbuf_addstr(&sb, FS_SIGV4_ALGORITHM "\n");
	sbuf_addstr(&sb, timestamp);
	sbuf_addc(&sb, '\n');
	sbuf_add_scope(&sb, cred, timestamp);
	sbuf_addc(&sb, '\n');
	sbuf_addstr(&sb, hash);
	return sbuf_finish(&sb, sts_r);
}

int fs_sigv4_signature(const unsigned char key[FS_SIGV4_KEY_SIZE],
		       const char *sts, char sig_r[FS_SIGV4_HEX_SIZE])
{
	unsigned char mac[SHA256_SIZE];
	int ret;

	if (key == NULL || sts == NULL)
		return -EINVAL;
	ret = hmac_sha256(key, FS_SIGV4_KEY_SIZE, sts, strlen(sts), mac);
	if (ret == 0)
		hex_encode(mac, sizeof(mac), sig_r);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Signing key                                                                */

/* The HMAC chain after the first step, into key_r. */
static int signing_key_chain(const unsigned char k_date[SHA256_SIZE],
			     const char *region, const char *service,
			     unsigned char key_r[FS_SIGV4_KEY_SIZE])
{
	unsigned char k_region[SHA256_SIZE], k_service[SHA256_SIZE];
	int ret;

	ret = hmac_sha256(k_date, SHA256_SIZE, region, strlen(region),
			  k_region);
	if (ret == 0)
		ret = hmac_sha256(k_region, SHA256_SIZE, service,
				  strlen(service), k_service);
	if (ret == 0)
		ret = hmac_sha256(k_service, SHA256_SIZE,
				  SIGV4_SCOPE_TERMINATOR,
				  strlen(SIGV4_SCOPE_TERMINATOR), key_r);
	OPENSSL_cleanse(k_region, sizeof(k_region));
	OPENSSL_cleanse(k_service, sizeof(k_service));
	return ret;
}

int fs_sigv4_signing_key(const char *secret_key, const char *date,
			 const char *region, const char *service,
			 unsigned char key_r[FS_SIGV4_KEY_SIZE])
{
	unsigned char k_date[SHA256_SIZE];
	size_t secret_len;
	char *k_secret;
	int ret;

	if (secret_key == NULL || secret_key[0] == '\0' || date == NULL ||
	    strlen(date) != 8 || !date_valid(date) ||
	    !scope_part_valid(region) || !scope_part_valid(service))
		return -EINVAL;
	secret_len = strlen(secret_key);
	if (secret_len > SIZE_MAX - 4)
		return -EINVAL;
	k_secret = malloc(secret_len + 4);
	if (k_secret == NULL)
		return -ENOMEM;
	memcpy(k_secret, "AWS4", 4);
	memcpy(k_secret + 4, secret_key, secret_len);
	ret = hmac_sha256(k_secret, secret_len + 4, date, 8, k_date);
	OPENSSL_cleanse(k_secret, secret_len + 4);
	free(k_secret);
	if (ret == 0)
		ret = signing_key_chain(k_date, region, service, key_r);
	OPENSSL_cleanse(k_date, sizeof(k_date));
	return ret;
}

static bool key_cache_hit(const struct fs_sigv4_key_cache *cache,
			  const struct fs_sigv4_credentials *cred,
			  const char *day, const unsigned char *secret_hash)
{
	return cache->valid && strcmp(cache->date, day) == 0 &&
	       strcmp(cache->region, cred->region) == 0 &&
	       strcmp(cache->service, cred->service) == 0 &&
	       CRYPTO_memcmp(cache->secret_hash, secret_hash,
			     sizeof(cache->secret_hash)) == 0;
}

int fs_sigv4_key_cache_get(struct fs_sigv4_key_cache *cache,
			   const struct fs_sigv4_credentials *cred,
			   const char *date, const unsigned char **key_r)
{
	unsigned char secret_hash[SHA256_SIZE];
	char day[FS_SIGV4_DATE_SIZE];
	int ret;

	if (cache == NULL || cred == NULL || cred->secret_key == NULL ||
	    date == NULL || (strlen(date) != 8 && !timestamp_valid(date)))
		return -EINVAL;
	memcpy(day, date, 8);
	day[8] = '\0';
	ret = sha256_raw(cred->secret_key, strlen(cred->secret_key),
			 secret_hash);
	if (ret < 0)
		return ret;
	if (key_cache_hit(cache, cred, day, secret_hash)) {
		*key_r = cache->key;
		return 0;
	}
	fs_sigv4_key_cache_clear(cache);
	ret = fs_sigv4_signing_key(cred->secret_key, day, cred->region,
				   cred->service, cache->key);
	if (ret < 0)
		return ret;
	/* Names too long to store are not cached, only returned. */
	if (strlen(cred->region) < sizeof(cache->region) &&
	    strlen(cred->service) < sizeof(cache->service)) {
		memcpy(cache->date, day, sizeof(day));
		strcpy(cache->region, cred->region);
		strcpy(cache->service, cred->service);
		memcpy(cache->secret_hash, secret_hash, sizeof(secret_hash));
		cache->valid = true;
	}
	*key_r = cache->key;
	return 0;
}

void fs_sigv4_key_cache_clear(struct fs_sigv4_key_cache *cache)
{
	if (cache != NULL)
		OPENSSL_cleanse(cache, sizeof(*cache));
}

/* ------------------------------------------------------------------------ */
/* Signing                                                                    */

void fs_sigv4_signing_clear(struct fs_sigv4_signing *signing)
{
	if (signing == NULL)
		return;
	free(signing->canonical_request);
	free(signing->string_to_sign);
	memset(signing, 0, sizeof(*signing));
}

/* Signs sts with key, or with a key derived from cred when key is NULL. */
static int sign_sts(const struct fs_sigv4_credentials *cred,
		    const char *timestamp, const unsigned char *key,
		    const char *sts, char sig_r[FS_SIGV4_HEX_SIZE])
{
	unsigned char derived[FS_SIGV4_KEY_SIZE];
	char day[FS_SIGV4_DATE_SIZE];
	int ret;

	if (key != NULL)
		return fs_sigv4_signature(key, sts, sig_r);
	memcpy(day, timestamp, 8);
	day[8] = '\0';
	ret = fs_sigv4_signing_key(cred->secret_key, day, cred->region,
				   cred->service, derived);
	if (ret == 0)
		ret = fs_sigv4_signature(derived, sts, sig_r);
	OPENSSL_cleanse(derived, sizeof(derived));
	return ret;
}

int fs_sigv4_sign(const struct fs_sigv4_request *req,
		  const char *signed_headers,
		  const struct fs_sigv4_credentials *cred,
		  const char *timestamp, const unsigned char *key,
		  struct fs_sigv4_signing *signing_r, const char **error_r)
{
	int ret;

	memset(signing_r, 0, sizeof(*signing_r));
	ret = credentials_check(cred, error_r);
	if (ret == 0 && !timestamp_valid(timestamp))
		ret = fail(error_r, -EINVAL, "invalid timestamp");
	if (ret == 0)
		ret = fs_sigv4_canonical_request(req, signed_headers,
						 &signing_r->canonical_request,
						 error_r);
	if (ret == 0)
		ret = fail(error_r,
			   fs_sigv4_string_to_sign(cred, timestamp,
						   signing_r->canonical_request,
						   &signing_r->string_to_sign),
			   "cannot build the string to sign");
	if (ret == 0)
		ret = fail(error_r,
			   sign_sts(cred, timestamp, key,
				    signing_r->string_to_sign,
				    signing_r->signature),
			   "cannot compute the signature");
	if (ret < 0)
		fs_sigv4_signing_clear(signing_r);
	return ret;
}

int fs_sigv4_format_authorization(const struct fs_sigv4_credentials *cred,
				  const char *timestamp,
				  const char *signed_headers,
				  const char *signature, char **value_r)
{
	struct sbuf sb = {0};

	if (cred == NULL || !access_key_valid(cred->access_key) ||
	    !scope_args_valid(cred, timestamp) ||
	    signed_headers_check(signed_headers, NULL) < 0 ||
	    !signature_valid(signature))
		return -EINVAL;
	sbuf_addstr(&sb, FS_SIGV4_ALGORITHM " Credential=");
	sbuf_addstr(&sb, cred->access_key);
	sbuf_addc(&sb, '/');
	sbuf_add_scope(&sb, cred, timestamp);
	sbuf_addstr(&sb, ", SignedHeaders=");
	sbuf_addstr(&sb, signed_headers);
	sbuf_addstr(&sb, ", Signature=");
	sbuf_addstr(&sb, signature);
	return sbuf_finish(&sb, value_r);
}

/* Compares a header value, trimmed, with str. */
static bool trimmed_equal(const char *value, const char *str)
{
	size_t len;

	while (is_space((unsigned char)*value))
		value++;
	len = strlen(value);
	while (len > 0 && is_space((unsigned char)value[len - 1]))
		len--;
	return len == strlen(str) && memcmp(value, str, len) == 0;
}

/* The signer's consistency checks on the headers it is told to send. */
static int sign_request_check(const struct fs_sigv4_request *req,
			      const struct fs_sigv4_credentials *cred,
			      const char *timestamp, const char **error_r)
{
	const char *amz_date;

	if (req == NULL || cred == NULL || timestamp == NULL)
		return fail(error_r, -EINVAL, "missing argument");
	amz_date = fs_sigv4_header_get(req, "x-amz-date");
	if (amz_date != NULL && !trimmed_equal(amz_date, timestamp))
		return fail(error_r, -EINVAL,
			    "X-Amz-Date differs from the signing time");
	if (cred->session_token != NULL &&
	    fs_sigv4_header_get(req, "x-amz-security-token") == NULL)
		return fail(error_r, -EINVAL,
			    "a session token needs an X-Amz-Security-Token "
			    "header");
	return 0;
}

int fs_sigv4_sign_request(const struct fs_sigv4_request *req,
			  const struct fs_sigv4_credentials *cred,
			  const char *timestamp, const char *signed_headers,
			  const unsigned char *key, char **authorization_r,
			  const char **error_r)
{
	struct fs_sigv4_signing signing;
	char *list = NULL;
	int ret;

	ret = sign_request_check(req, cred, timestamp, error_r);
	if (ret < 0)
		return ret;
	if (signed_headers == NULL) {
		ret = fs_sigv4_signed_headers(req, 0, &list);
		if (ret < 0)
			return fail(error_r, ret,
				    ret == -ENOMEM ? "out of memory"
						   : "invalid header name or "
						     "no Host header");
		signed_headers = list;
	}
	ret = fs_sigv4_sign(req, signed_headers, cred, timestamp, key, &signing,
			    error_r);
	if (ret == 0)
		ret = fail(error_r,
			   fs_sigv4_format_authorization(
				   cred, timestamp, signed_headers,
				   signing.signature, authorization_r),
			   "cannot format the Authorization header");
	fs_sigv4_signing_clear(&signing);
	free(list);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Presigned URLs                                                             */

/* Authentication parameters of presigned URLs, by their canonical names. */
static const char *const sigv4_presign_params[] = {
	"X-Amz-Algorithm", "X-Amz-Credential",	   "X-Amz-Date",
	"X-Amz-Expires",   "X-Amz-Security-Token", "X-Amz-SignedHeaders",
	"X-Amz-Signature",
};
#define SIGV4_PRESIGN_PARAM_COUNT                                              \
	(sizeof(sigv4_presign_params) / sizeof(*sigv4_presign_params))

static int presign_param_index(const char *name)
{
	size_t i;

	for (i = 0; i < SIGV4_PRESIGN_PARAM_COUNT; i++) {
		if (strcmp(name, sigv4_presign_params[i]) == 0)
			return (int)i;
	}
	return -1;
}

/* Fails if the raw query already has presigned-URL parameters. */
static int presign_query_check(const char *query, const char **error_r)
{
	struct qparams qp;
	size_t i;
	int ret;

	ret = qparams_parse(&qp, query);
	if (ret < 0)
		return fail(error_r, ret,
			    ret == -ENOMEM ? "out of memory"
					   : "malformed %-escape in the query");
	for (i = 0; i < qp.count && ret == 0; i++) {
		if (presign_param_index(qp.items[i].name) >= 0)
			ret = fail(error_r, -EINVAL,
				   "the query already has X-Amz-* "
				   "authentication parameters");
	}
	qparams_free(&qp);
	return ret;
}

static void sbuf_add_param(struct sbuf *sb, const char *name, const char *value)
{
	if (sb->len > 0)
		sbuf_addc(sb, '&');
	sbuf_addstr(sb, name);
	sbuf_addc(sb, '=');
	sbuf_add_encoded(sb, value, strlen(value), true);
}

/* The query to sign: the caller's parameters and the X-Amz-* ones. */
static int presign_build_query(const struct fs_sigv4_request *req,
			       const struct fs_sigv4_credentials *cred,
			       const char *timestamp, unsigned int expires,
			       const char *signed_headers, char **query_r)
{
	struct sbuf sb = {0}, credential = {0};
	char num[16];
	int ret;

	if (req->query != NULL)
		sbuf_addstr(&sb, req->query);
	sbuf_add_param(&sb, "X-Amz-Algorithm", FS_SIGV4_ALGORITHM);
	sbuf_addstr(&credential, cred->access_key);
	sbuf_addc(&credential, '/');
	sbuf_add_scope(&credential, cred, timestamp);
	if (credential.failed) {
		sbuf_free(&sb);
		sbuf_free(&credential);
		return -ENOMEM;
	}
	sbuf_add_param(&sb, "X-Amz-Credential", credential.data);
	sbuf_free(&credential);
	sbuf_add_param(&sb, "X-Amz-Date", timestamp);
	snprintf(num, sizeof(num), "%u", expires);
	sbuf_add_param(&sb, "X-Amz-Expires", num);
	if (cred->session_token != NULL)
		sbuf_add_param(&sb, "X-Amz-Security-Token",
			       cred->session_token);
	sbuf_add_param(&sb, "X-Amz-SignedHeaders", signed_headers);
	ret = sbuf_finish(&sb, query_r);
	return ret;
}

/* The canonical query of the signed request plus the signature. */
static int presign_final_query(const char *query, const char *signature,
			       char **query_r, const char **error_r)
{
	struct sbuf sb = {0};
	int ret;

	ret = add_canonical_query(&sb, query, false, error_r);
	if (ret < 0) {
		sbuf_free(&sb);
		return ret;
	}
	sbuf_addstr(&sb, "&X-Amz-Signature=");
	sbuf_addstr(&sb, signature);
	return fail(error_r, sbuf_finish(&sb, query_r), "out of memory");
}

int fs_sigv4_presign_query(const struct fs_sigv4_request *req,
			   const struct fs_sigv4_credentials *cred,
			   const char *timestamp, unsigned int expires,
			   const char *signed_headers, const unsigned char *key,
			   char **query_r, const char **error_r)
{
	struct fs_sigv4_request signed_req;
	struct fs_sigv4_signing signing;
	char *query = NULL;
	int ret;

	if (req == NULL || expires == 0 ||
	    expires > FS_SIGV4_PRESIGN_EXPIRES_MAX)
		return fail(error_r, -EINVAL, "invalid expiry");
	if (signed_headers == NULL)
		signed_headers = "host";
	ret = credentials_check(cred, error_r);
	if (ret == 0 && !timestamp_valid(timestamp))
		ret = fail(error_r, -EINVAL, "invalid timestamp");
	if (ret == 0)
		ret = presign_query_check(req->query, error_r);
	if (ret == 0 && signed_headers_check(signed_headers, error_r) < 0)
		ret = -EINVAL;
	if (ret == 0)
		ret = fail(error_r,
			   presign_build_query(req, cred, timestamp, expires,
					       signed_headers, &query),
			   "out of memory");
	if (ret < 0)
		return ret;
	signed_req = *req;
	signed_req.query = query;
	signed_req.presigned = true;
	ret = fs_sigv4_sign(&signed_req, signed_headers, cred, timestamp, key,
			    &signing, error_r);
	if (ret == 0)
		ret = presign_final_query(query, signing.signature, query_r,
					  error_r);
	fs_sigv4_signing_clear(&signing);
	free(query);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Parsing what clients send                                                  */

void fs_sigv4_auth_clear(struct fs_sigv4_auth *auth)
{
	if (auth == NULL)
		return;
	free(auth->buf);
	memset(auth, 0, sizeof(*auth));
}

/* Splits "AK/YYYYMMDD/region/service/aws4_request" in place. */
static int credential_parse(char *cred, struct fs_sigv4_auth *auth,
			    const char **error_r)
{
	char *parts[5];
	size_t i;

	for (i = 0; i < 5; i++) {
		parts[i] = cred;
		cred = strchr(cred, '/');
		if ((cred == NULL) != (i == 4))
			return fail(error_r, -EINVAL,
				    "Credential must be "
				    "AK/date/region/service/aws4_request");
		if (cred != NULL)
			*cred++ = '\0';
	}
	if (!access_key_valid(parts[0]))
		return fail(error_r, -EINVAL, "invalid access key");
	if (strlen(parts[1]) != 8 || !date_valid(parts[1]))
		return fail(error_r, -EINVAL, "invalid credential date");
	if (!scope_part_valid(parts[2]) || !scope_part_valid(parts[3]))
		return fail(error_r, -EINVAL,
			    "invalid credential region or service");
	if (strcmp(parts[4], SIGV4_SCOPE_TERMINATOR) != 0)
		return fail(error_r, -EINVAL,
			    "credential scope must end in aws4_request");
	auth->access_key = parts[0];
	auth->date = parts[1];
	auth->region = parts[2];
	auth->service = parts[3];
	return 0;
}

static int auth_finish(struct fs_sigv4_auth *auth, char *credential,
		       const char **error_r)
{
	int ret;

	ret = credential_parse(credential, auth, error_r);
	if (ret == 0)
		ret = signed_headers_check(auth->signed_headers, error_r);
	if (ret == 0 && !signature_valid(auth->signature))
		ret = fail(error_r, -EINVAL,
			   "Signature must be 64 lowercase hex digits");
	return ret;
}

/* Stores value under key in *slots (Credential, SignedHeaders, Signature). */
static int authz_component(char *comp, char **slots, const char **error_r)
{
	static const char *const names[] = {"Credential", "SignedHeaders",
					    "Signature"};
	char *eq = strchr(comp, '=');
	size_t i;

	if (eq == NULL || eq[1] == '\0')
		return fail(error_r, -EINVAL,
			    "Authorization component without a value");
	*eq = '\0';
	for (i = 0; i < 3; i++) {
		if (strcmp(comp, names[i]) != 0)
			continue;
		if (slots[i] != NULL)
			return fail(error_r, -EINVAL,
				    "duplicate Authorization component");
		slots[i] = eq + 1;
		return 0;
	}
	return fail(error_r, -EINVAL, "unknown Authorization component");
}

/* Splits the components after the algorithm at ',' (blanks around allowed). */
static int authz_components(char *p, char **slots, const char **error_r)
{
	char *end, *last;
	int ret;

	for (;;) {
		while (*p == ' ')
			p++;
		end = strchr(p, ',');
		if (end != NULL)
			*end = '\0';
		last = p + strlen(p);
		while (last > p && last[-1] == ' ')
			*--last = '\0';
		if (*p == '\0')
			return fail(error_r, -EINVAL,
				    "empty Authorization component");
		ret = authz_component(p, slots, error_r);
		if (ret < 0 || end == NULL)
			return ret;
		p = end + 1;
	}
}

int fs_sigv4_parse_authorization(const char *value,
				 struct fs_sigv4_auth *auth_r,
				 const char **error_r)
{
	const size_t alg_len = strlen(FS_SIGV4_ALGORITHM);
	char *slots[3] = {NULL, NULL, NULL};
	int ret;

	memset(auth_r, 0, sizeof(*auth_r));
	if (value == NULL || strlen(value) > SIGV4_AUTH_MAX)
		return fail(error_r, -EINVAL,
			    "missing or oversized Authorization");
	if (strncmp(value, FS_SIGV4_ALGORITHM, alg_len) != 0 ||
	    value[alg_len] != ' ')
		return fail(error_r, -EINVAL,
			    "Authorization is not AWS4-HMAC-SHA256");
	auth_r->buf = strdup(value + alg_len);
	if (auth_r->buf == NULL)
		return fail(error_r, -ENOMEM, "out of memory");
	ret = authz_components(auth_r->buf, slots, error_r);
	if (ret == 0 &&
	    (slots[0] == NULL || slots[1] == NULL || slots[2] == NULL))
		ret = fail(error_r, -EINVAL,
			   "Authorization needs Credential, SignedHeaders "
			   "and Signature");
	if (ret == 0) {
		auth_r->signed_headers = slots[1];
		auth_r->signature = slots[2];
		ret = auth_finish(auth_r, slots[0], error_r);
	}
	if (ret < 0)
		fs_sigv4_auth_clear(auth_r);
	return ret;
}

/* Parses a strict decimal number of seconds, 1..max. */
static int parse_expires(const char *str, unsigned int max,
			 unsigned int *secs_r)
{
	unsigned long v = 0;
	size_t i, len = strlen(str);

	if (len == 0 || len > 10 || !all_of(str, len, is_digit))
		return -EINVAL;
	for (i = 0; i < len; i++)
		v = v * 10 + (unsigned long)(str[i] - '0');
	if (v == 0 || v > max)
		return -EINVAL;
	*secs_r = (unsigned int)v;
	return 0;
}

/* Decodes the presigned parameters of query into buf (strlen(query) + 1
   bytes: a decoded value is never longer than its raw form). */
static int presigned_collect(const char *query, char *buf, char **values,
			     const char **error_r)
{
	const char *p = query, *end, *eq;
	size_t used = 0, len;
	char name[64];
	int idx;

	for (; *p != '\0'; p = *end == '&' ? end + 1 : end) {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL || (size_t)(eq - p) >= sizeof(name))
			continue;
		if (uri_decode_to(p, (size_t)(eq - p), name, &len) < 0)
			return fail(error_r, -EINVAL,
				    "malformed %-escape in the query");
		idx = presign_param_index(name);
		if (idx < 0)
			continue;
		if (values[idx] != NULL)
			return fail(error_r, -EINVAL,
				    "duplicate X-Amz-* parameter");
		if (uri_decode_to(eq + 1, (size_t)(end - eq - 1), buf + used,
				  &len) < 0)
			return fail(error_r, -EINVAL,
				    "malformed %-escape in the query");
		values[idx] = buf + used;
		used += len + 1;
	}
	return 0;
}

static int presigned_fill(struct fs_sigv4_auth *auth, char **values,
			  const char **error_r)
{
	/* Index order of sigv4_presign_params. */
	enum { ALG, CRED, DATE, EXPIRES, TOKEN, SIGNED, SIG };

	if (values[ALG] == NULL || values[CRED] == NULL ||
	    values[DATE] == NULL || values[EXPIRES] == NULL ||
	    values[SIGNED] == NULL || values[SIG] == NULL)
		return fail(error_r, -EINVAL,
			    "presigned URL lacks an X-Amz-* parameter");
	if (strcmp(values[ALG], FS_SIGV4_ALGORITHM) != 0)
		return fail(error_r, -EINVAL,
			    "X-Amz-Algorithm is not AWS4-HMAC-SHA256");
	if (!timestamp_valid(values[DATE]))
		return fail(error_r, -EINVAL, "invalid X-Amz-Date");
	if (parse_expires(values[EXPIRES], FS_SIGV4_PRESIGN_EXPIRES_MAX,
			  &auth->expires) < 0)
		return fail(error_r, -EINVAL, "invalid X-Amz-Expires");
	auth->timestamp = values[DATE];
	auth->security_token = values[TOKEN];
	auth->signed_headers = values[SIGNED];
	auth->signature = values[SIG];
	return auth_finish(auth, values[CRED], error_r);
}

int fs_sigv4_parse_presigned(const char *query, struct fs_sigv4_auth *auth_r,
			     const char **error_r)
{
	char *values[SIGV4_PRESIGN_PARAM_COUNT] = {NULL};
	int ret;

	memset(auth_r, 0, sizeof(*auth_r));
	if (query == NULL || strlen(query) > SIGV4_AUTH_MAX)
		return fail(error_r, -EINVAL, "missing or oversized query");
	auth_r->buf = malloc(strlen(query) + 1);
	if (auth_r->buf == NULL)
		return fail(error_r, -ENOMEM, "out of memory");
	ret = presigned_collect(query, auth_r->buf, values, error_r);
	if (ret == 0)
		ret = presigned_fill(auth_r, values, error_r);
	if (ret < 0)
		fs_sigv4_auth_clear(auth_r);
	return ret;
}

int fs_sigv4_verify(const struct fs_sigv4_request *req,
		    const struct fs_sigv4_auth *auth, const char *secret_key,
		    const char *timestamp, struct fs_sigv4_signing *signing_r,
		    const char **error_r)
{
	struct fs_sigv4_credentials cred = {0};
	struct fs_sigv4_signing signing;
	struct fs_sigv4_request signed_req;
	bool match;
	int ret;

	if (req == NULL || auth == NULL || auth->buf == NULL)
		return fail(error_r, -EINVAL, "missing argument");
	if (signing_r != NULL)
		memset(signing_r, 0, sizeof(*signing_r));
	if (auth->timestamp != NULL)
		timestamp = auth->timestamp;
	if (!timestamp_valid(timestamp))
		return fail(error_r, -EINVAL, "invalid or missing X-Amz-Date");
	if (strncmp(timestamp, auth->date, 8) != 0)
		return fail(error_r, -EINVAL,
			    "credential date is not the day of X-Amz-Date");
	cred.access_key = auth->access_key;
	cred.secret_key = secret_key;
	cred.region = auth->region;
	cred.service = auth->service;
	signed_req = *req;
	signed_req.presigned = auth->timestamp != NULL;
	ret = fs_sigv4_sign(&signed_req, auth->signed_headers, &cred, timestamp,
			    NULL, &signing, error_r);
	if (ret < 0)
		return ret;
	match = fs_sigv4_signature_equal(signing.signature, auth->signature);
	if (signing_r != NULL)
		*signing_r = signing;
	else
		fs_sigv4_signing_clear(&signing);
	return match ? 0 : fail(error_r, -EACCES, "signature does not match");
}

/* ------------------------------------------------------------------------ */
/* Signature Version 2                                                        */

/* Query parameters that are part of the SigV2 resource, sorted. */
static const char *const sigv2_subresources[] = {
	"accelerate",
	"acl",
	"analytics",
	"cors",
	"delete",
	"encryption",
	"intelligent-tiering",
	"inventory",
	"legal-hold",
	"lifecycle",
	"location",
	"logging",
	"metrics",
	"notification",
	"object-lock",
	"ownershipControls",
	"partNumber",
	"policy",
	"policyStatus",
	"publicAccessBlock",
	"replication",
	"requestPayment",
	"response-cache-control",
	"response-content-disposition",
	"response-content-encoding",
	"response-content-language",
	"response-content-type",
	"response-expires",
	"restore",
	"retention",
	"select",
	"select-type",
	"tagging",
	"torrent",
	"uploadId",
	"uploads",
	"versionId",
	"versioning",
	"versions",
	"website",
};

static bool sigv2_is_subresource(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(sigv2_subresources) / sizeof(char *); i++) {
		if (strlen(sigv2_subresources[i]) == len &&
		    memcmp(sigv2_subresources[i], name, len) == 0)
			return true;
	}
	return false;
}

/* One subresource: the raw name and the decoded value (NULL without '='). */
struct sigv2_sub {
	char *name;
	char *value;
	size_t pos;
};

static int sigv2_sub_cmp(const void *a, const void *b)
{
	const struct sigv2_sub *sa = a, *sb = b;
	int r = strcmp(sa->name, sb->name);

	if (r != 0)
		return r;
	return sa->pos < sb->pos ? -1 : sa->pos > sb->pos;
}

static void sigv2_subs_free(struct sigv2_sub *subs, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free(subs[i].name);
		free(subs[i].value);
	}
	free(subs);
}

static int sigv2_sub_add(struct sigv2_sub *sub, const char *seg, size_t len,
			 size_t pos)
{
	const char *eq = memchr(seg, '=', len);
	size_t name_len = eq != NULL ? (size_t)(eq - seg) : len;
	int ret;

	sub->pos = pos;
	sub->value = NULL;
	sub->name = strndup(seg, name_len);
	if (sub->name == NULL)
		return -ENOMEM;
	if (eq == NULL)
		return 0;
	ret = fs_sigv4_uri_decode(eq + 1, len - name_len - 1, &sub->value);
	if (ret < 0) {
		free(sub->name);
		sub->name = NULL;
	}
	return ret;
}

/* Collects the subresources of a raw query, sorted by name. */
static int sigv2_subs_parse(const char *query, struct sigv2_sub **subs_r,
			    size_t *count_r)
{
	const char *p = query, *end, *eq;
	struct sigv2_sub *subs = NULL;
	size_t count = 0, n = 0;
	int ret = 0;

	for (p = query; p != NULL && *p != '\0'; p++)
		n += *p == '&';
	subs = calloc(n + 1, sizeof(*subs));
	if (subs == NULL)
		return -ENOMEM;
	for (p = query; p != NULL && *p != '\0' && ret == 0;
	     p = *end == '&' ? end + 1 : end) {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (!sigv2_is_subresource(p, (size_t)((eq ? eq : end) - p)))
			continue;
		ret = sigv2_sub_add(&subs[count], p, (size_t)(end - p), count);
		if (ret == 0)
			count++;
	}
	if (ret < 0) {
		sigv2_subs_free(subs, count);
		return ret;
	}
	qsort(subs, count, sizeof(*subs), sigv2_sub_cmp);
	*subs_r = subs;
	*count_r = count;
	return 0;
}

static int sigv2_add_resource(struct sbuf *sb,
			      const struct fs_sigv2_request *req)
{
	struct sigv2_sub *subs;
	size_t i, count;
	int ret;

	if (req->bucket != NULL && req->bucket[0] != '\0') {
		sbuf_addc(sb, '/');
		sbuf_addstr(sb, req->bucket);
	}
	sbuf_addstr(sb, req->path[0] != '\0' ? req->path : "/");
	ret = sigv2_subs_parse(req->query, &subs, &count);
	if (ret < 0)
		return ret;
	for (i = 0; i < count; i++) {
		sbuf_addc(sb, i == 0 ? '?' : '&');
		sbuf_addstr(sb, subs[i].name);
		if (subs[i].value != NULL) {
			sbuf_addc(sb, '=');
			sbuf_addstr(sb, subs[i].value);
		}
	}
	sigv2_subs_free(subs, count);
	return 0;
}

/* Appends a header value trimmed, folded lines unfolded to one space. */
static void sbuf_add_unfolded(struct sbuf *sb, const char *value)
{
	size_t len;

	while (is_space((unsigned char)*value))
		value++;
	len = strlen(value);
	while (len > 0 && is_space((unsigned char)value[len - 1]))
		len--;
	while (len > 0) {
		size_t run = 0;

		if (*value != '\r' && *value != '\n') {
			sbuf_addc(sb, *value++);
			len--;
			continue;
		}
		while (run < len && is_space((unsigned char)value[run]))
			run++;
		sbuf_addc(sb, ' ');
		value += run;
		len -= run;
	}
}

struct sigv2_amz {
	char *name; /* lowercased */
	const char *value;
	size_t pos;
};

static int sigv2_amz_cmp(const void *a, const void *b)
{
	const struct sigv2_amz *aa = a, *ab = b;
	int r = strcmp(aa->name, ab->name);

	if (r != 0)
		return r;
	return aa->pos < ab->pos ? -1 : aa->pos > ab->pos;
}

static void sigv2_amz_free(struct sigv2_amz *amz, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(amz[i].name);
	free(amz);
}

/* Collects the x-amz-* headers, sorted by name, stable for duplicates. */
static int sigv2_amz_collect(const struct fs_sigv2_request *req,
			     struct sigv2_amz **amz_r, size_t *count_r)
{
	struct sigv2_amz *amz;
	size_t i, count = 0;
	int ret = 0;

	amz = calloc(req->header_count + 1, sizeof(*amz));
	if (amz == NULL)
		return -ENOMEM;
	for (i = 0; i < req->header_count; i++) {
		char *lower = header_lower_name(&req->headers[i], &ret);

		if (lower == NULL)
			break;
		if (strncmp(lower, "x-amz-", 6) != 0) {
			free(lower);
			continue;
		}
		amz[count].name = lower;
		amz[count].value = req->headers[i].value;
		amz[count].pos = i;
		count++;
	}
	if (ret < 0) {
		sigv2_amz_free(amz, count);
		return ret;
	}
	qsort(amz, count, sizeof(*amz), sigv2_amz_cmp);
	*amz_r = amz;
	*count_r = count;
	return 0;
}

static int sigv2_add_amz_headers(struct sbuf *sb,
				 const struct fs_sigv2_request *req)
{
	struct sigv2_amz *amz;
	size_t i, count;
	int ret;

	ret = sigv2_amz_collect(req, &amz, &count);
	if (ret < 0)
		return ret;
	for (i = 0; i < count; i++) {
		bool same = i > 0 && strcmp(amz[i].name, amz[i - 1].name) == 0;

		if (same) {
			sbuf_addc(sb, ',');
		} else {
			if (i > 0)
				sbuf_addc(sb, '\n');
			sbuf_addstr(sb, amz[i].name);
			sbuf_addc(sb, ':');
		}
		sbuf_add_unfolded(sb, amz[i].value);
	}
	if (count > 0)
		sbuf_addc(sb, '\n');
	sigv2_amz_free(amz, count);
	return 0;
}

/* Appends the value of a positional header (first occurrence) and '\n'. */
static void sigv2_add_positional(struct sbuf *sb,
				 const struct fs_sigv4_request *hreq,
				 const char *name)
{
	const char *value = fs_sigv4_header_get(hreq, name);

	if (value != NULL)
		sbuf_add_unfolded(sb, value);
	sbuf_addc(sb, '\n');
}

int fs_sigv2_string_to_sign(const struct fs_sigv2_request *req,
			    const char *expires, char **sts_r,
			    const char **error_r)
{
	struct fs_sigv4_request hreq = {0};
	struct sbuf sb = {0};
	int ret;

	if (req == NULL)
		return fail(error_r, -EINVAL, "no request");
	ret = request_check(req->method, req->path, req->headers,
			    req->header_count, error_r);
	if (ret < 0)
		return ret;
	if (req->bucket != NULL &&
	    (strchr(req->bucket, '/') != NULL ||
	     !all_of(req->bucket, strlen(req->bucket), path_char_ok)))
		return fail(error_r, -EINVAL, "invalid bucket");
	if (expires != NULL &&
	    (expires[0] == '\0' || !all_of(expires, strlen(expires), is_digit)))
		return fail(error_r, -EINVAL, "invalid Expires");
	hreq.headers = req->headers;
	hreq.header_count = req->header_count;
	sbuf_addstr(&sb, req->method);
	sbuf_addc(&sb, '\n');
	sigv2_add_positional(&sb, &hreq, "content-md5");
	sigv2_add_positional(&sb, &hreq, "content-type");
	if (expires != NULL) {
		sbuf_addstr(&sb, expires);
		sbuf_addc(&sb, '\n');
	} else if (fs_sigv4_header_get(&hreq, "x-amz-date") != NULL) {
		/* x-amz-date is signed among the x-amz-* headers instead. */
		sbuf_addc(&sb, '\n');
	} else {
		sigv2_add_positional(&sb, &hreq, "date");
	}
	ret = sigv2_add_amz_headers(&sb, req);
	if (ret == 0)
		ret = sigv2_add_resource(&sb, req);
	if (ret < 0) {
		sbuf_free(&sb);
		return fail(error_r, ret,
			    ret == -ENOMEM ? "out of memory"
					   : "malformed header name or query");
	}
	return fail(error_r, sbuf_finish(&sb, sts_r), "out of memory");
}

int fs_sigv2_signature(const char *secret_key, const char *sts,
		       char sig_r[FS_SIGV2_SIGNATURE_SIZE])
{
	unsigned char mac[SHA1_SIZE];
	unsigned int mac_len = 0;
	size_t key_len;

	if (secret_key == NULL || secret_key[0] == '\0' || sts == NULL)
		return -EINVAL;
	key_len = strlen(secret_key);
	if (key_len > INT_MAX)
		return -EINVAL;
	if (HMAC(EVP_sha1(), secret_key, (int)key_len,
		 (const unsigned char *)sts, strlen(sts), mac,
		 &mac_len) == NULL ||
	    mac_len != SHA1_SIZE)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)sig_r, mac, SHA1_SIZE);
	return 0;
}

static bool base64_char(unsigned char c)
{
	return is_alnum(c) || c == '+' || c == '/';
}

/* Base64 of 20 bytes: 27 characters and one '='. */
static bool sigv2_signature_valid(const char *sig)
{
	size_t i;

	if (strlen(sig) != FS_SIGV2_SIGNATURE_SIZE - 1 || sig[27] != '=')
		return false;
	for (i = 0; i < 27; i++) {
		if (!base64_char((unsigned char)sig[i]))
			return false;
	}
	return true;
}

static int sigv2_auth_set(struct fs_sigv2_auth *auth, const char *key,
			  size_t key_len, const char *sig, const char **error_r)
{
	if (key_len == 0 || key_len > FS_SIGV4_ACCESS_KEY_MAX)
		return fail(error_r, -EINVAL, "invalid access key");
	memcpy(auth->access_key, key, key_len);
	auth->access_key[key_len] = '\0';
	if (!access_key_valid(auth->access_key))
		return fail(error_r, -EINVAL, "invalid access key");
	if (!sigv2_signature_valid(sig))
		return fail(error_r, -EINVAL,
			    "signature is not 28 base64 characters");
	strcpy(auth->signature, sig);
	return 0;
}

int fs_sigv2_parse_authorization(const char *value,
				 struct fs_sigv2_auth *auth_r,
				 const char **error_r)
{
	const char *colon;
	int ret;

	memset(auth_r, 0, sizeof(*auth_r));
	if (value == NULL || strncmp(value, "AWS ", 4) != 0)
		return fail(error_r, -EINVAL, "Authorization is not AWS");
	colon = strchr(value + 4, ':');
	if (colon == NULL)
		return fail(error_r, -EINVAL,
			    "Authorization must be AWS AK:signature");
	ret = sigv2_auth_set(auth_r, value + 4, (size_t)(colon - value - 4),
			     colon + 1, error_r);
	if (ret < 0)
		memset(auth_r, 0, sizeof(*auth_r));
	return ret;
}

/* Stores a decoded value of a presigned parameter. */
static int sigv2_presigned_param(const char *raw, size_t len, char **slot,
				 const char **error_r)
{
	if (*slot != NULL)
		return fail(error_r, -EINVAL, "duplicate parameter");
	if (fs_sigv4_uri_decode(raw, len, slot) < 0)
		return fail(error_r, -EINVAL,
			    "malformed %-escape in the query");
	return 0;
}

static int sigv2_presigned_collect(const char *query, char **values,
				   const char **error_r)
{
	static const char *const names[] = {"AWSAccessKeyId", "Expires",
					    "Signature"};
	const char *p, *end, *eq;
	size_t i;
	int ret;

	for (p = query; *p != '\0'; p = *end == '&' ? end + 1 : end) {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		for (i = 0; eq != NULL && i < 3; i++) {
			if (strlen(names[i]) != (size_t)(eq - p) ||
			    memcmp(names[i], p, (size_t)(eq - p)) != 0)
				continue;
			ret = sigv2_presigned_param(eq + 1,
						    (size_t)(end - eq - 1),
						    &values[i], error_r);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

int fs_sigv2_parse_presigned(const char *query, struct fs_sigv2_auth *auth_r,
			     const char **error_r)
{
	char *values[3] = {NULL, NULL, NULL};
	int ret;

	memset(auth_r, 0, sizeof(*auth_r));
	if (query == NULL || strlen(query) > SIGV4_AUTH_MAX)
		return fail(error_r, -EINVAL, "missing or oversized query");
	ret = sigv2_presigned_collect(query, values, error_r);
	if (ret == 0 &&
	    (values[0] == NULL || values[1] == NULL || values[2] == NULL))
		ret = fail(error_r, -EINVAL,
			   "presigned URL needs AWSAccessKeyId, Expires and "
			   "Signature");
	if (ret == 0 && (strlen(values[1]) == 0 ||
			 strlen(values[1]) >= sizeof(auth_r->expires) ||
			 !all_of(values[1], strlen(values[1]), is_digit)))
		ret = fail(error_r, -EINVAL, "invalid Expires");
	if (ret == 0)
		ret = sigv2_auth_set(auth_r, values[0], strlen(values[0]),
				     values[2], error_r);
	if (ret == 0) {
		strcpy(auth_r->expires, values[1]);
		auth_r->presigned = true;
	} else {
		memset(auth_r, 0, sizeof(*auth_r));
	}
	free(values[0]);
	free(values[1]);
	free(values[2]);
	return ret;
}

int fs_sigv2_verify(const struct fs_sigv2_request *req,
		    const struct fs_sigv2_auth *auth, const char *secret_key,
		    char **sts_r, const char **error_r)
{
	char sig[FS_SIGV2_SIGNATURE_SIZE];
	char *sts;
	bool match;
	int ret;

	if (sts_r != NULL)
		*sts_r = NULL;
	if (auth == NULL || auth->signature[0] == '\0')
		return fail(error_r, -EINVAL, "no parsed authentication");
	ret = fs_sigv2_string_to_sign(
		req, auth->presigned ? auth->expires : NULL, &sts, error_r);
	if (ret < 0)
		return ret;
	ret = fs_sigv2_signature(secret_key, sts, sig);
	if (ret < 0) {
		free(sts);
		return fail(error_r, ret, "cannot compute the signature");
	}
	match = fs_sigv4_signature_equal(sig, auth->signature);
	if (sts_r != NULL)
		*sts_r = sts;
	else
		free(sts);
	return match ? 0 : fail(error_r, -EACCES, "signature does not match");
}
