/*
 * Authentication of S3 requests with the signer of drivers/s3/sigv4.h:
 * SigV4 in the Authorization header or a presigned URL, SigV2 the same two
 * ways. Anonymous requests are refused. Error replies follow S3's: the codes,
 * statuses and the extra elements (StringToSign, CanonicalRequest, Region)
 * clients and people use to find out what went wrong. Nothing a reply or log
 * says contains a secret.
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "s3-private.h"

static const char *s3_auth_secret(struct mock_request *req,
				  const char *access_key)
{
	unsigned int i;

	for (i = 0; i < req->mock->creds_count; i++) {
		if (strcmp(req->mock->creds[i].access_key, access_key) == 0)
			return req->mock->creds[i].secret_key;
	}
	return NULL;
}

static void s3_auth_unknown_key(struct mock_request *req,
				const char *access_key)
{
	struct mock_buf extra = {0};

	mock_buf_xml_elem(&extra, "AWSAccessKeyId", access_key);
	mock_request_fail(req, 403, "InvalidAccessKeyId", extra.data,
			  "The AWS Access Key Id you provided does not exist "
			  "in our records.");
	mock_buf_free(&extra);
}

static void s3_auth_mismatch(struct mock_request *req, const char *access_key,
			     const char *sts, const char *creq,
			     const char *provided)
{
	struct mock_buf extra = {0};

	mock_buf_xml_elem(&extra, "AWSAccessKeyId", access_key);
	if (sts != NULL)
		mock_buf_xml_elem(&extra, "StringToSign", sts);
	mock_buf_xml_elem(&extra, "SignatureProvided", provided);
	if (creq != NULL)
		mock_buf_xml_elem(&extra, "CanonicalRequest", creq);
	mock_request_fail(req, 403, "SignatureDoesNotMatch", extra.data,
			  "The request signature we calculated does not match "
			  "the signature you provided. Check your key and "
			  "signing method.");
	mock_buf_free(&extra);
}

static void s3_auth_verify_error(struct mock_request *req, int ret,
				 const char *code, const char *why)
{
	if (ret == -EINVAL)
		mock_request_fail(req, 400, code, NULL,
				  "The request cannot be authenticated: %s",
				  why != NULL ? why : "malformed");
	else
		mock_request_fail(req, 500, "InternalError", NULL,
				  "Signature check failed: %s",
				  fs_errno_name(ret));
}

/* Returns false after replying when the scope names another region or
   service. */
static bool s3_auth_scope(struct mock_request *req,
			  const struct fs_sigv4_auth *auth, const char *code,
			  const char *what)
{
	struct mock_buf extra = {0};

	if (strcmp(auth->service, "s3") != 0) {
		mock_request_fail(req, 400, code, NULL,
				  "%s; incorrect service '%s'. This endpoint "
				  "belongs to 's3'.",
				  what, auth->service);
		return false;
	}
	if (strcmp(auth->region, req->mock->region) == 0)
		return true;
	mock_buf_xml_elem(&extra, "Region", req->mock->region);
	mock_request_fail(req, 400, code, extra.data,
			  "%s; the region '%s' is wrong; expecting '%s'", what,
			  auth->region, req->mock->region);
	mock_buf_free(&extra);
	return false;
}

static bool s3_auth_fresh(struct mock_request *req, int64_t t,
			  const char *request_time)
{
	int64_t now = (int64_t)time(NULL), skew = req->mock->max_skew_secs;
	struct mock_buf extra = {0};
	char server[64];

	if (t >= now - skew && t <= now + skew)
		return true;
	mock_iso_date(now, server);
	mock_buf_xml_elem(&extra, "RequestTime", request_time);
	mock_buf_xml_elem(&extra, "ServerTime", server);
	mock_buf_printf(&extra,
			"<MaxAllowedSkewMilliseconds>%lld"
			"</MaxAllowedSkewMilliseconds>",
			(long long)skew * 1000);
	mock_request_fail(req, 403, "RequestTimeTooSkewed", extra.data,
			  "The difference between the request time and the "
			  "current time is too large.");
	mock_buf_free(&extra);
	return false;
}

static void s3_auth_no_date(struct mock_request *req)
{
	mock_request_fail(req, 403, "AccessDenied", NULL,
			  "AWS authentication requires a valid Date or "
			  "x-amz-date header");
}

/* Classifies x-amz-content-sha256: sets the body check for a hash. Returns
   false after replying. */
static bool s3_auth_payload(struct mock_request *req, const char *value)
{
	struct s3_request *sreq = s3_req(req);
	size_t i, len = strlen(value);

	if (strcmp(value, FS_SIGV4_UNSIGNED_PAYLOAD) == 0)
		return true;
	if (strncmp(value, "STREAMING-", 10) == 0) {
		mock_request_fail(req, 501, "NotImplemented",
				  "<Header>x-amz-content-sha256</Header>",
				  "Streaming uploads (aws-chunked, %s) are "
				  "not implemented by this server: sign the "
				  "payload or send UNSIGNED-PAYLOAD",
				  value);
		return false;
	}
	for (i = 0; i < len && isxdigit((unsigned char)value[i]); i++)
		;
	if (len != FS_SIGV4_HEX_SIZE - 1 || i != len) {
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "x-amz-content-sha256 must be "
				  "UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-"
				  "SHA256-PAYLOAD, or a valid sha256 value.");
		return false;
	}
	for (i = 0; i < len; i++)
		sreq->want_sha256[i] = (char)tolower((unsigned char)value[i]);
	sreq->want_sha256[len] = '\0';
	if (fs_sigv4_sha256_init(&sreq->sha256) < 0) {
		mock_request_reply(req, NULL);
		return false;
	}
	sreq->check_sha256 = true;
	return true;
}

/* Fills the wire description of the request for the signer. */
static struct fs_sigv4_header *s3_auth_headers(struct mock_request *req)
{
	struct fs_sigv4_header *h;
	size_t i;

	h = calloc(req->header_count + 1, sizeof(*h));
	if (h == NULL)
		return NULL;
	for (i = 0; i < req->header_count; i++) {
		h[i].name = req->headers[i].name;
		h[i].value = req->headers[i].value;
	}
	return h;
}

static int s3_auth_v4_check(struct mock_request *req,
			    struct fs_sigv4_request *wire,
			    const struct fs_sigv4_auth *auth,
			    const char *secret, const char *timestamp)
{
	struct fs_sigv4_signing signing;
	const char *why = NULL;
	int ret;

	memset(&signing, 0, sizeof(signing));
	wire->headers = s3_auth_headers(req);
	if (wire->headers == NULL) {
		mock_request_reply(req, NULL);
		return -1;
	}
	wire->header_count = req->header_count;
	ret = fs_sigv4_verify(wire, auth, secret, timestamp, &signing, &why);
	free((void *)wire->headers);
	if (ret == -EACCES)
		s3_auth_mismatch(req, auth->access_key, signing.string_to_sign,
				 signing.canonical_request, auth->signature);
	else if (ret < 0)
		s3_auth_verify_error(
			req, ret,
			timestamp != NULL ? "AuthorizationHeaderMalformed"
					  : "AuthorizationQueryParametersError",
			why);
	fs_sigv4_signing_clear(&signing);
	return ret < 0 ? -1 : 0;
}

static int s3_auth_v4_header(struct mock_request *req, const char *value)
{
	struct fs_sigv4_request wire;
	struct fs_sigv4_auth auth;
	const char *why = NULL, *secret, *ts, *payload;
	time_t t;
	int ret = -1;

	memset(&auth, 0, sizeof(auth));
	memset(&wire, 0, sizeof(wire));
	if (fs_sigv4_parse_authorization(value, &auth, &why) < 0) {
		mock_request_fail(req, 400, "AuthorizationHeaderMalformed",
				  NULL,
				  "The authorization header is malformed; %s",
				  why != NULL ? why : "cannot parse it");
		return -1;
	}
	ts = mock_header(req, "x-amz-date");
	payload = mock_header(req, "x-amz-content-sha256");
	if ((secret = s3_auth_secret(req, auth.access_key)) == NULL)
		s3_auth_unknown_key(req, auth.access_key);
	else if (!s3_auth_scope(req, &auth, "AuthorizationHeaderMalformed",
				"The authorization header is malformed"))
		;
	else if (ts == NULL || fs_sigv4_timestamp_parse(ts, &t) < 0)
		s3_auth_no_date(req);
	else if (!s3_auth_fresh(req, (int64_t)t, ts))
		;
	else if (payload == NULL)
		mock_request_fail(req, 400, "InvalidRequest", NULL,
				  "Missing required header for this request: "
				  "x-amz-content-sha256");
	else if (s3_auth_payload(req, payload)) {
		wire.method = req->method;
		wire.path = req->raw_path;
		wire.query = req->raw_query;
		wire.payload_hash = payload;
		ret = s3_auth_v4_check(req, &wire, &auth, secret, ts);
	}
	fs_sigv4_auth_clear(&auth);
	return ret;
}

static bool s3_auth_not_expired(struct mock_request *req, int64_t start,
				int64_t expires, const char *expires_str)
{
	int64_t now = (int64_t)time(NULL);
	struct mock_buf extra = {0};
	char date[64];

	if (now < start - (int64_t)req->mock->max_skew_secs) {
		mock_request_fail(req, 403, "AccessDenied", NULL,
				  "Request is not valid yet");
		return false;
	}
	if (now <= expires)
		return true;
	if (expires_str != NULL)
		mock_buf_xml_elem(&extra, "X-Amz-Expires", expires_str);
	mock_iso_date(expires, date);
	mock_buf_xml_elem(&extra, "Expires", date);
	mock_iso_date(now, date);
	mock_buf_xml_elem(&extra, "ServerTime", date);
	mock_request_fail(req, 403, "AccessDenied", extra.data,
			  "Request has expired");
	mock_buf_free(&extra);
	return false;
}

static int s3_auth_v4_presigned(struct mock_request *req)
{
	struct fs_sigv4_request wire;
	struct fs_sigv4_auth auth;
	const char *why = NULL, *secret, *payload;
	char expires[16];
	time_t t = 0;
	int ret = -1;

	memset(&auth, 0, sizeof(auth));
	memset(&wire, 0, sizeof(wire));
	if (fs_sigv4_parse_presigned(req->raw_query, &auth, &why) < 0) {
		mock_request_fail(req, 400, "AuthorizationQueryParametersError",
				  NULL,
				  "Query-string authentication version 4 "
				  "requires the X-Amz-Algorithm, "
				  "X-Amz-Credential, X-Amz-Signature, "
				  "X-Amz-Date, X-Amz-SignedHeaders, and "
				  "X-Amz-Expires parameters: %s",
				  why != NULL ? why : "malformed");
		return -1;
	}
	snprintf(expires, sizeof(expires), "%u", auth.expires);
	payload = mock_header(req, "x-amz-content-sha256");
	if ((secret = s3_auth_secret(req, auth.access_key)) == NULL)
		s3_auth_unknown_key(req, auth.access_key);
	else if (!s3_auth_scope(req, &auth, "AuthorizationQueryParametersError",
				"Error parsing the X-Amz-Credential parameter"))
		;
	else if (auth.expires > FS_SIGV4_PRESIGN_EXPIRES_MAX)
		mock_request_fail(req, 400, "AuthorizationQueryParametersError",
				  NULL,
				  "X-Amz-Expires must be less than a week (in "
				  "seconds) that is 604800");
	else if (fs_sigv4_timestamp_parse(auth.timestamp, &t) < 0)
		mock_request_fail(req, 400, "AuthorizationQueryParametersError",
				  NULL,
				  "X-Amz-Date must be in the ISO8601 Long "
				  "Format \"yyyyMMdd'T'HHmmss'Z'\"");
	else if (!s3_auth_not_expired(req, (int64_t)t,
				      (int64_t)t + auth.expires, expires))
		;
	else if (s3_auth_payload(req, payload != NULL
					      ? payload
					      : FS_SIGV4_UNSIGNED_PAYLOAD)) {
		wire.method = req->method;
		wire.path = req->raw_path;
		wire.query = req->raw_query;
		wire.payload_hash =
			payload != NULL ? payload : FS_SIGV4_UNSIGNED_PAYLOAD;
		wire.presigned = true;
		ret = s3_auth_v4_check(req, &wire, &auth, secret, NULL);
	}
	fs_sigv4_auth_clear(&auth);
	return ret;
}

static int s3_auth_v2_check(struct mock_request *req,
			    const struct fs_sigv2_auth *auth)
{
	struct fs_sigv2_request wire;
	const char *secret, *why = NULL;
	char *sts = NULL;
	int ret;

	secret = s3_auth_secret(req, auth->access_key);
	if (secret == NULL) {
		s3_auth_unknown_key(req, auth->access_key);
		return -1;
	}
	memset(&wire, 0, sizeof(wire));
	wire.method = req->method;
	wire.bucket = s3_req(req)->virtual_host ? req->bucket : NULL;
	wire.path = req->raw_path;
	wire.query = req->raw_query;
	wire.headers = s3_auth_headers(req);
	wire.header_count = req->header_count;
	if (wire.headers == NULL) {
		mock_request_reply(req, NULL);
		return -1;
	}
	ret = fs_sigv2_verify(&wire, auth, secret, &sts, &why);
	free((void *)wire.headers);
	if (ret == -EACCES)
		s3_auth_mismatch(req, auth->access_key, sts, NULL,
				 auth->signature);
	else if (ret < 0)
		s3_auth_verify_error(req, ret, "InvalidRequest", why);
	free(sts);
	return ret < 0 ? -1 : 0;
}

static int s3_auth_v2_header(struct mock_request *req, const char *value)
{
	struct fs_sigv2_auth auth;
	const char *why = NULL, *date;
	int64_t t;

	if (fs_sigv2_parse_authorization(value, &auth, &why) < 0) {
		mock_request_fail(req, 400, "InvalidArgument",
				  "<ArgumentName>Authorization</ArgumentName>",
				  "AWS authorization header is invalid.  "
				  "Expected AwsAccessKeyId:signature");
		return -1;
	}
	date = mock_header(req, "x-amz-date");
	if (date == NULL)
		date = mock_header(req, "Date");
	if (date == NULL || mock_http_date_parse(date, &t) < 0) {
		s3_auth_no_date(req);
		return -1;
	}
	if (!s3_auth_fresh(req, t, date))
		return -1;
	return s3_auth_v2_check(req, &auth);
}

static int s3_auth_v2_presigned(struct mock_request *req)
{
	struct fs_sigv2_auth auth;
	const char *why = NULL;
	uint64_t expires;

	if (fs_sigv2_parse_presigned(req->raw_query, &auth, &why) < 0 ||
	    fs_parse_uint(auth.expires, &expires) < 0 || expires > INT64_MAX) {
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "Query-string authentication requires the "
				  "Signature, Expires and AWSAccessKeyId "
				  "parameters");
		return -1;
	}
	if (!s3_auth_not_expired(req, 0, (int64_t)expires, NULL))
		return -1;
	return s3_auth_v2_check(req, &auth);
}

/* Content-MD5: base64 of the 16 bytes. */
static int s3_auth_content_md5(struct mock_request *req)
{
	struct s3_request *sreq = s3_req(req);
	const char *b64 = mock_header(req, "Content-MD5");
	unsigned char raw[24];

	if (b64 == NULL)
		return 0;
	if (strlen(b64) != 24 || strcmp(b64 + 22, "==") != 0 ||
	    EVP_DecodeBlock(raw, (const unsigned char *)b64, 24) != 18) {
		mock_request_fail(req, 400, "InvalidDigest", NULL,
				  "The Content-MD5 you specified was invalid.");
		return -1;
	}
	memcpy(sreq->want_md5, raw, 16);
	sreq->check_md5 = true;
	return 0;
}

int s3_authenticate(struct mock_request *req)
{
	const char *value = mock_header(req, "Authorization");
	int ret;

	if (value != NULL && strncmp(value, "AWS4-HMAC-SHA256 ", 17) == 0) {
		ret = s3_auth_v4_header(req, value);
	} else if (value != NULL && strncmp(value, "AWS ", 4) == 0) {
		ret = s3_auth_v2_header(req, value);
	} else if (value != NULL) {
		mock_request_fail(req, 400, "InvalidArgument",
				  "<ArgumentName>Authorization</ArgumentName>",
				  "Unsupported Authorization Type");
		ret = -1;
	} else if (mock_has_param(req, "X-Amz-Algorithm")) {
		ret = s3_auth_v4_presigned(req);
	} else if (mock_has_param(req, "AWSAccessKeyId")) {
		ret = s3_auth_v2_presigned(req);
	} else {
		mock_request_fail(req, 403, "AccessDenied", NULL,
				  "Access Denied");
		ret = -1;
	}
	if (ret < 0)
		return -1;
	return s3_auth_content_md5(req);
}
