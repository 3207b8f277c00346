/*
 * Listings (ListBuckets, ListObjects V1 and V2) and DeleteObjects.
 *
 * A listing walks the backing store's keys under "b/BUCKET/PREFIX" in byte
 * order and groups them by the delimiter itself, so any delimiter works and
 * the store needs nothing beyond a flat prefix listing. Continuation tokens
 * are the base64 of the last key or common prefix returned.
 */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3-private.h"

#define S3_LIST_MAX 1000
#define S3_DELETE_MAX 1000

/* ------------------------------------------------------------------------ */
/* Walking the store                                                          */

int s3_walk_prefix(struct fs_mock *mock, const char *prefix,
		   int (*fn)(const char *key, void *context), void *context)
{
	struct fs_iter *iter = NULL;
	const char *key;
	char *copy;
	int ret, ret2;

	mock_fs_lock(mock);
	ret = fs_iter_init(mock->fs, prefix, 0, &iter);
	mock_fs_unlock(mock);
	while (ret == 0) {
		mock_fs_lock(mock);
		ret = fs_iter_next(iter, &key);
		copy = ret > 0 ? strdup(key) : NULL;
		mock_fs_unlock(mock);
		if (ret <= 0)
			break;
		ret = copy == NULL ? -ENOMEM : fn(copy, context);
		free(copy);
	}
	if (iter != NULL) {
		mock_fs_lock(mock);
		ret2 = fs_iter_deinit(&iter);
		mock_fs_unlock(mock);
		if (ret == 0)
			ret = ret2;
	}
	return ret < 0 ? ret : 0;
}

static int s3_prefix_used_fn(const char *key, void *context)
{
	*(bool *)context = true;
	return -ECANCELED;
}

int s3_prefix_used(struct fs_mock *mock, const char *prefix)
{
	bool used = false;
	int ret;

	ret = s3_walk_prefix(mock, prefix, s3_prefix_used_fn, &used);
	if (used)
		return 1;
	return ret < 0 ? ret : 0;
}

struct s3_keys {
	char **keys;
	size_t count, alloc;
};

static int s3_keys_add(const char *key, void *context)
{
	struct s3_keys *keys = context;
	char **p;

	if (keys->count == keys->alloc) {
		keys->alloc = keys->alloc == 0 ? 64 : keys->alloc * 2;
		p = realloc(keys->keys, keys->alloc * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		keys->keys = p;
	}
	keys->keys[keys->count] = strdup(key);
	if (keys->keys[keys->count] == NULL)
		return -ENOMEM;
	keys->count++;
	return 0;
}

static void s3_keys_free(struct s3_keys *keys)
{
	size_t i;

	for (i = 0; i < keys->count; i++)
		free(keys->keys[i]);
	free(keys->keys);
	memset(keys, 0, sizeof(*keys));
}

int s3_delete_path(struct fs_mock *mock, const char *path)
{
	struct fs_file *file = NULL;
	int ret;

	mock_fs_lock(mock);
	ret = fs_file_init(mock->fs, path, FS_OPEN_READ, &file);
	if (ret == 0)
		ret = fs_file_delete(file);
	fs_file_deinit(&file);
	mock_fs_unlock(mock);
	return ret == -ENOENT ? 0 : ret;
}

int s3_delete_prefix(struct fs_mock *mock, const char *prefix)
{
	int ret;

	mock_fs_lock(mock);
	ret = fs_delete_prefix(mock->fs, prefix);
	mock_fs_unlock(mock);
	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------------------------ */
/* ListBuckets                                                                */

struct s3_bucket_list {
	struct fs_mock *mock;
	struct mock_buf *out;
};

static int s3_list_bucket_fn(const char *key, void *context)
{
	struct s3_bucket_list *bl = context;
	struct s3_object obj;
	char date[64], msg[256];

	if (s3_object_load(bl->mock, key, NULL, &obj, msg, sizeof(msg)) < 0)
		return 0;
	mock_iso_date(obj.mtime, date);
	s3_object_clear(&obj);
	mock_buf_str(bl->out, "<Bucket>");
	mock_buf_xml_elem(bl->out, "Name", key + strlen(S3_BUCKETS_PREFIX));
	mock_buf_xml_elem(bl->out, "CreationDate", date);
	mock_buf_str(bl->out, "</Bucket>");
	return 0;
}

void s3_list_buckets(struct mock_request *req)
{
	struct mock_reply *reply = s3_xml_reply("ListAllMyBucketsResult");
	struct s3_bucket_list bl;
	int ret;

	if (reply == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	s3_xml_owner(&reply->body);
	mock_buf_str(&reply->body, "<Buckets>");
	bl.mock = req->mock;
	bl.out = &reply->body;
	ret = s3_walk_prefix(req->mock, S3_BUCKETS_PREFIX, s3_list_bucket_fn,
			     &bl);
	if (ret < 0) {
		mock_reply_free(&reply);
		s3_fail_fs(req, ret, "listing buckets", NULL, NULL);
		return;
	}
	mock_buf_str(&reply->body, "</Buckets>");
	s3_xml_reply_end(reply, "ListAllMyBucketsResult");
	mock_request_reply(req, reply);
}

/* ------------------------------------------------------------------------ */
/* ListObjects and ListObjectsV2                                              */

struct s3_list {
	struct fs_mock *mock;
	const char *bucket, *prefix, *delimiter;
	char *base;  /* "b/BUCKET/" */
	char *start; /* exclusive: a key or a common prefix */
	unsigned int max, count;
	bool url, v1, truncated;
	char *last, *last_prefix;
	struct mock_buf contents, prefixes;
};

static void s3_list_contents(struct s3_list *l, const char *key,
			     const struct s3_object *obj)
{
	struct mock_buf *b = &l->contents;
	char date[64];

	mock_iso_date(obj->mtime, date);
	mock_buf_str(b, "<Contents>");
	s3_xml_key(b, "Key", key, l->url);
	mock_buf_xml_elem(b, "LastModified", date);
	mock_buf_str(b, "<ETag>&quot;");
	mock_buf_xml(b, obj->etag);
	mock_buf_printf(b, "&quot;</ETag><Size>%llu</Size>",
			(unsigned long long)obj->size);
	if (l->v1)
		s3_xml_owner(b);
	mock_buf_str(b, "<StorageClass>STANDARD</StorageClass></Contents>");
}

/* The common prefix key rolls up into, or NULL. */
static char *s3_list_rollup(struct s3_list *l, const char *key)
{
	const char *d;

	if (l->delimiter == NULL || l->delimiter[0] == '\0')
		return NULL;
	d = strstr(key + strlen(l->prefix), l->delimiter);
	if (d == NULL)
		return NULL;
	return strndup(key, (size_t)(d - key) + strlen(l->delimiter));
}

static int s3_list_emit(struct s3_list *l, const char *key, char *cp)
{
	struct s3_object obj;
	char msg[256];

	if (cp != NULL) {
		mock_buf_str(&l->prefixes, "<CommonPrefixes>");
		s3_xml_key(&l->prefixes, "Prefix", cp, l->url);
		mock_buf_str(&l->prefixes, "</CommonPrefixes>");
		free(l->last_prefix);
		l->last_prefix = cp;
		key = cp;
	} else {
		char *path = s3_object_path(l->bucket, key);
		int ret = path == NULL ? -ENOMEM
				       : s3_object_load(l->mock, path, NULL,
							&obj, msg, sizeof(msg));

		free(path);
		if (ret == -ENOENT)
			return 0; /* deleted meanwhile */
		if (ret < 0)
			return ret;
		s3_list_contents(l, key, &obj);
		s3_object_clear(&obj);
	}
	free(l->last);
	l->last = strdup(key);
	l->count++;
	return l->last == NULL ? -ENOMEM : 0;
}

static int s3_list_fn(const char *path, void *context)
{
	struct s3_list *l = context;
	const char *key = path + strlen(l->base);
	char *cp;

	if (l->start != NULL && strcmp(key, l->start) <= 0)
		return 0;
	cp = s3_list_rollup(l, key);
	if (cp != NULL &&
	    ((l->last_prefix != NULL && strcmp(cp, l->last_prefix) == 0) ||
	     (l->start != NULL && strcmp(cp, l->start) == 0))) {
		free(cp);
		return 0;
	}
	if (l->count >= l->max) {
		free(cp);
		l->truncated = true;
		return -ECANCELED;
	}
	return s3_list_emit(l, key, cp);
}

static char *s3_token_encode(const char *str)
{
	size_t len = strlen(str);
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out,
				(const unsigned char *)str, (int)len);
	return out;
}

static char *s3_token_decode(const char *token)
{
	size_t len = strlen(token), pad = 0;
	unsigned char *out;
	int n;

	if (len == 0 || len % 4 != 0 || len > 4 * FS_KEY_MAX)
		return NULL;
	out = malloc(len / 4 * 3 + 1);
	if (out == NULL)
		return NULL;
	n = EVP_DecodeBlock(out, (const unsigned char *)token, (int)len);
	if (token[len - 1] == '=')
		pad++;
	if (token[len - 2] == '=')
		pad++;
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return NULL;
	}
	out[n - pad] = '\0';
	if (strlen((char *)out) != (size_t)n - pad) {
		free(out);
		return NULL;
	}
	return (char *)out;
}

static void s3_list_head(struct s3_list *l, struct mock_request *req,
			 struct mock_buf *b)
{
	const char *token = mock_param(req, "continuation-token");
	const char *after = mock_param(req, "start-after");
	const char *marker = mock_param(req, "marker");
	char *next;

	mock_buf_xml_elem(b, "Name", l->bucket);
	s3_xml_key(b, "Prefix", l->prefix, l->url);
	if (l->delimiter != NULL)
		s3_xml_key(b, "Delimiter", l->delimiter, l->url);
	if (l->v1) {
		s3_xml_key(b, "Marker", marker != NULL ? marker : "", l->url);
		if (l->truncated && l->last != NULL)
			s3_xml_key(b, "NextMarker", l->last, l->url);
	} else {
		if (after != NULL)
			s3_xml_key(b, "StartAfter", after, l->url);
		if (token != NULL)
			mock_buf_xml_elem(b, "ContinuationToken", token);
		mock_buf_printf(b, "<KeyCount>%u</KeyCount>", l->count);
		if (l->truncated && l->last != NULL &&
		    (next = s3_token_encode(l->last)) != NULL) {
			mock_buf_xml_elem(b, "NextContinuationToken", next);
			free(next);
		}
	}
	mock_buf_printf(b, "<MaxKeys>%u</MaxKeys>", l->max);
	if (l->url)
		mock_buf_str(b, "<EncodingType>url</EncodingType>");
	mock_buf_printf(b, "<IsTruncated>%s</IsTruncated>",
			l->truncated ? "true" : "false");
}

/* Reads the parameters. Returns false after replying. */
static bool s3_list_params(struct mock_request *req, struct s3_list *l)
{
	const char *max = mock_param(req, "max-keys");
	const char *enc = mock_param(req, "encoding-type");
	const char *token = mock_param(req, "continuation-token");
	const char *start;
	uint64_t num = S3_LIST_MAX;

	l->v1 = strcmp(req->op, "ListObjects") == 0;
	l->prefix = mock_param(req, "prefix");
	if (l->prefix == NULL)
		l->prefix = "";
	l->delimiter = mock_param(req, "delimiter");
	if (max != NULL && fs_parse_uint(max, &num) < 0) {
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "Provided max-keys not an integer or within "
				  "integer range");
		return false;
	}
	l->max = num > S3_LIST_MAX ? S3_LIST_MAX : (unsigned int)num;
	if (enc != NULL && strcmp(enc, "url") != 0) {
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "Invalid Encoding Method specified in "
				  "Request");
		return false;
	}
	l->url = enc != NULL;
	if (!l->v1 && token != NULL) {
		l->start = s3_token_decode(token);
		if (l->start == NULL) {
			mock_request_fail(req, 400, "InvalidArgument", NULL,
					  "The continuation token provided is "
					  "incorrect");
			return false;
		}
		return true;
	}
	start = mock_param(req, l->v1 ? "marker" : "start-after");
	if (start != NULL && start[0] != '\0' &&
	    (l->start = strdup(start)) == NULL) {
		mock_request_reply(req, NULL);
		return false;
	}
	return true;
}

static void s3_list_free(struct s3_list *l)
{
	free(l->base);
	free(l->start);
	free(l->last);
	free(l->last_prefix);
	mock_buf_free(&l->contents);
	mock_buf_free(&l->prefixes);
}

static void s3_list_reply(struct mock_request *req, struct s3_list *l)
{
	struct mock_reply *reply = s3_xml_reply("ListBucketResult");

	if (reply == NULL) {
		mock_request_reply(req, NULL);
		return;
	}
	s3_list_head(l, req, &reply->body);
	if (l->contents.data != NULL)
		mock_buf_add(&reply->body, l->contents.data, l->contents.len);
	if (l->prefixes.data != NULL)
		mock_buf_add(&reply->body, l->prefixes.data, l->prefixes.len);
	if (l->contents.failed || l->prefixes.failed)
		reply->failed = true;
	s3_xml_reply_end(reply, "ListBucketResult");
	mock_request_reply(req, reply);
}

void s3_list_objects(struct mock_request *req)
{
	struct s3_list l;
	char *path;
	int ret = 0;

	memset(&l, 0, sizeof(l));
	l.mock = req->mock;
	l.bucket = req->bucket;
	if (!s3_bucket_check(req, req->bucket) || !s3_list_params(req, &l)) {
		s3_list_free(&l);
		return;
	}
	l.base = s3_object_path(req->bucket, "");
	path = l.base == NULL ? NULL : s3_object_path(req->bucket, l.prefix);
	if (path == NULL)
		ret = -ENOMEM;
	else if (l.max > 0)
		ret = s3_walk_prefix(req->mock, path, s3_list_fn, &l);
	free(path);
	if (ret == -ECANCELED)
		ret = 0;
	if (ret == -EINVAL)
		mock_request_fail(req, 400, "InvalidArgument", NULL,
				  "This server's storage (libfs) cannot list "
				  "this prefix");
	else if (ret < 0)
		s3_fail_fs(req, ret, "listing", NULL, NULL);
	else
		s3_list_reply(req, &l);
	s3_list_free(&l);
}

/* ------------------------------------------------------------------------ */
/* DeleteObjects                                                              */

static bool s3_has_checksum_header(struct mock_request *req)
{
	size_t i;

	for (i = 0; i < req->header_count; i++) {
		if (strncasecmp(req->headers[i].name, "x-amz-checksum-", 15) ==
		    0)
			return true;
	}
	return false;
}

static void s3_delete_one(struct mock_request *req, const char *key, bool quiet,
			  struct mock_buf *out)
{
	const char *reason = NULL, *code = NULL;
	char *path = s3_object_path(req->bucket, key);
	int ret = 0;

	if (path == NULL)
		ret = -ENOMEM;
	else if (fs_key_validate(path, &reason) < 0)
		code = "InvalidArgument";
	else
		ret = s3_delete_path(req->mock, path);
	free(path);
	if (code == NULL && ret < 0) {
		code = "InternalError";
		reason = fs_errno_name(ret);
	}
	if (code == NULL) {
		if (!quiet) {
			mock_buf_str(out, "<Deleted>");
			mock_buf_xml_elem(out, "Key", key);
			mock_buf_str(out, "</Deleted>");
		}
		return;
	}
	mock_buf_str(out, "<Error>");
	mock_buf_xml_elem(out, "Key", key);
	mock_buf_xml_elem(out, "Code", code);
	mock_buf_xml_elem(out, "Message", reason);
	mock_buf_str(out, "</Error>");
}

/* Collects the keys of <Delete>. Returns the count, or -1 when malformed. */
static int s3_delete_keys(xmlNodePtr root, bool *quiet_r, struct s3_keys *keys)
{
	xmlNodePtr node, child;
	xmlChar *text;

	*quiet_r = false;
	for (node = root->children; node != NULL; node = node->next) {
		if (node->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(node->name, BAD_CAST "Quiet") == 0) {
			text = xmlNodeGetContent(node);
			*quiet_r = text != NULL &&
				   xmlStrcmp(text, BAD_CAST "true") == 0;
			xmlFree(text);
			continue;
		}
		if (xmlStrcmp(node->name, BAD_CAST "Object") != 0)
			return -1;
		for (child = node->children; child != NULL;
		     child = child->next) {
			if (child->type != XML_ELEMENT_NODE ||
			    xmlStrcmp(child->name, BAD_CAST "Key") != 0)
				continue;
			text = xmlNodeGetContent(child);
			if (text == NULL || text[0] == '\0' ||
			    s3_keys_add((const char *)text, keys) < 0) {
				xmlFree(text);
				return -1;
			}
			xmlFree(text);
			break;
		}
		if (child == NULL || keys->count > S3_DELETE_MAX)
			return -1;
	}
	return (int)keys->count;
}

void s3_delete_objects(struct mock_request *req)
{
	struct s3_keys keys = {0};
	struct mock_reply *reply;
	xmlDocPtr doc;
	bool quiet;
	size_t i;

	if (!s3_bucket_check(req, req->bucket))
		return;
	if (!s3_req(req)->check_md5 && !s3_has_checksum_header(req)) {
		mock_request_fail(req, 400, "InvalidRequest", NULL,
				  "Missing required header for this request: "
				  "Content-MD5");
		return;
	}
	doc = s3_xml_body(req, "Delete");
	if (doc == NULL)
		return;
	if (s3_delete_keys(xmlDocGetRootElement(doc), &quiet, &keys) <= 0) {
		xmlFreeDoc(doc);
		s3_keys_free(&keys);
		s3_malformed_xml(req);
		return;
	}
	xmlFreeDoc(doc);
	reply = s3_xml_reply("DeleteResult");
	for (i = 0; reply != NULL && i < keys.count; i++)
		s3_delete_one(req, keys.keys[i], quiet, &reply->body);
	if (reply != NULL)
		s3_xml_reply_end(reply, "DeleteResult");
	s3_keys_free(&keys);
	mock_request_reply(req, reply);
}
