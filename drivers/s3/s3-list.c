/*
 * S3 listings: ListObjectsV2 (or ListObjects with list=v1) with prefix,
 * delimiter '/' for one-level listings, pagination by continuation token (or
 * marker), and encoding-type=url so that any key survives the XML. Pages are
 * fetched asynchronously, one ahead of the application. Keys come without
 * the spec's prefix, in S3's ascending byte order.
 *
 * A key that libfs considers invalid (e.g. "a//b" or "x/../y", written by
 * another client) cannot be opened through libfs: such keys are skipped, with
 * a line on stderr under LIBFS_DEBUG=http. fs_delete_prefix() deletes them
 * all the same: they are under the prefix.
 *
 * fs_delete_prefix() lists 1000 keys at a time and deletes each page with one
 * DeleteObjects request (Quiet mode: only failures are reported, and the
 * first one is the error).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3-private.h"
#include "xml.h"

struct s3_page {
	char **keys;
	size_t count, alloc;
	char *next; /* token or marker of the next page */
	char *last; /* the greatest key or prefix seen (v1 marker) */
	bool truncated;
};

static void s3_page_clear(struct s3_page *page)
{
	size_t i;

	for (i = 0; i < page->count; i++)
		free(page->keys[i]);
	free(page->keys);
	free(page->next);
	free(page->last);
	memset(page, 0, sizeof(*page));
}

static int s3_page_add(struct s3_page *page, const char *key)
{
	char **p;

	if (page->count == page->alloc) {
		size_t alloc = page->alloc == 0 ? 64 : page->alloc * 2;

		p = realloc(page->keys, alloc * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		page->keys = p;
		page->alloc = alloc;
	}
	page->keys[page->count] = strdup(key);
	if (page->keys[page->count] == NULL)
		return -ENOMEM;
	page->count++;
	return 0;
}

/* --- Requests --- */

static int s3_query_add(char **query, const char *name, const char *value)
{
	char *enc = NULL, *q;
	int ret;

	if (fs_sigv4_uri_encode(value, true, &enc) < 0)
		return -ENOMEM;
	ret = asprintf(&q, "%s%s%s=%s", *query != NULL ? *query : "",
		       *query != NULL ? "&" : "", name, enc);
	free(enc);
	if (ret < 0)
		return -ENOMEM;
	free(*query);
	*query = q;
	return 0;
}

/* Builds the request of one page of full_prefix. */
static int s3_list_request(struct s3_ctx *ctx, const char *full_prefix,
			   bool one_level, unsigned int max_keys,
			   const char *token, struct fs_http_request **req_r)
{
	struct s3_fs *fs = ctx->fs;
	char *query = NULL, num[16];
	int ret;

	snprintf(num, sizeof(num), "%u", max_keys);
	ret = fs->list_v1 ? 0 : s3_query_add(&query, "list-type", "2");
	if (ret == 0)
		ret = s3_query_add(&query, "encoding-type", "url");
	if (ret == 0)
		ret = s3_query_add(&query, "max-keys", num);
	if (ret == 0)
		ret = s3_query_add(&query, "prefix", full_prefix);
	if (ret == 0 && one_level)
		ret = s3_query_add(&query, "delimiter", "/");
	if (ret == 0 && token != NULL)
		ret = s3_query_add(
			&query, fs->list_v1 ? "marker" : "continuation-token",
			token);
	if (ret == 0)
		ret = fs_s3_request_new(ctx, FS_OP_ITER, "GET", NULL, query,
					req_r);
	free(query);
	return ret;
}

/* --- Parsing --- */

/* The text of node, %-decoded (S3's encoding-type=url writes a space as
   '+' and a '+' as %2B) if encoded. */
static char *s3_list_text(const xmlNode *node, bool encoded)
{
	char *text = fs_xml_text(node), *p, *decoded = NULL;

	if (text == NULL || !encoded)
		return text;
	for (p = text; *p != '\0'; p++) {
		if (*p == '+')
			*p = ' ';
	}
	if (fs_sigv4_uri_decode(text, strlen(text), &decoded) < 0)
		decoded = NULL;
	free(text);
	return decoded;
}

static void s3_list_skip(struct s3_fs *fs, const char *key, const char *reason)
{
	char shown[256];
	size_t i;

	if ((fs->fs.set.debug & FS_DEBUG_HTTP) == 0)
		return;
	for (i = 0; key[i] != '\0' && i < sizeof(shown) - 1; i++)
		shown[i] = (unsigned char)key[i] < 0x20 ? '?' : key[i];
	shown[i] = '\0';
	fprintf(stderr, "libfs s3: list: skipping key '%s': %s\n", shown,
		reason);
}

/* Adds key (a full key, or a common prefix ending in '/') to page: as is
   when strip is NULL, else without the spec's prefix strip, and only if it
   is a valid libfs key. */
static int s3_list_take(struct s3_fs *fs, struct s3_page *page, char *key,
			const char *strip)
{
	const char *reason = "empty key";
	size_t slen, len;
	bool common;
	char *rel;

	if (page->last == NULL || strcmp(key, page->last) > 0) {
		free(page->last);
		if ((page->last = strdup(key)) == NULL)
			return -ENOMEM;
	}
	if (strip == NULL)
		return s3_page_add(page, key);
	slen = strlen(strip);
	if (strncmp(key, strip, slen) != 0)
		return 0;
	rel = key + slen;
	len = strlen(rel);
	common = len > 0 && rel[len - 1] == '/';
	if (common)
		rel[len - 1] = '\0'; /* validated without its '/' */
	if (rel[0] == '\0' || fs_key_validate(rel, &reason) < 0) {
		s3_list_skip(fs, key, reason);
		return 0;
	}
	if (common)
		rel[len - 1] = '/';
	return s3_page_add(page, rel);
}

static int s3_list_entries(struct s3_fs *fs, xmlNodePtr root, bool encoded,
			   const char *strip, struct s3_page *page)
{
	xmlNodePtr node, child;
	char *key;
	bool prefix;
	int ret = 0;

	for (node = fs_xml_child(root, NULL); node != NULL && ret == 0;
	     node = fs_xml_next(node, NULL)) {
		prefix = fs_xml_is(node, "CommonPrefixes");
		if (!prefix && !fs_xml_is(node, "Contents"))
			continue;
		child = fs_xml_child(node, prefix ? "Prefix" : "Key");
		if (child == NULL)
			continue;
		key = s3_list_text(child, encoded);
		if (key == NULL)
			return -EINVAL;
		ret = s3_list_take(fs, page, key, strip);
		free(key);
	}
	return ret;
}

static int s3_key_cmp(const void *p1, const void *p2)
{
	return strcmp(*(char *const *)p1, *(char *const *)p2);
}

static int s3_list_next_token(struct s3_fs *fs, xmlNodePtr root, bool encoded,
			      struct s3_page *page)
{
	xmlNodePtr node;

	if (!page->truncated)
		return 0;
	node = fs_xml_child(root, fs->list_v1 ? "NextMarker"
					      : "NextContinuationToken");
	if (node != NULL)
		page->next = fs->list_v1 ? s3_list_text(node, encoded)
					 : fs_xml_text(node);
	else if (fs->list_v1 && page->last != NULL)
		page->next = strdup(page->last);
	return page->next != NULL && page->next[0] != '\0' ? 0 : -EINVAL;
}

/* Parses a ListBucketResult into page (keys sorted). Returns 0, -EINVAL
   (malformed) or -ENOMEM. */
static int s3_list_parse(struct s3_fs *fs, struct fs_http_request *req,
			 const char *strip, struct s3_page *page)
{
	size_t size;
	const char *body = fs_http_request_body(req, &size);
	char *enc, *trunc;
	xmlDocPtr doc;
	xmlNodePtr root;
	bool encoded;
	int ret;

	if (fs_xml_parse(body, size, &doc, NULL) < 0)
		return -EINVAL;
	root = fs_xml_root(doc, "ListBucketResult");
	if (root == NULL) {
		xmlFreeDoc(doc);
		return -EINVAL;
	}
	enc = fs_xml_child_text(root, "EncodingType");
	trunc = fs_xml_child_text(root, "IsTruncated");
	encoded = enc != NULL && strcmp(enc, "url") == 0;
	page->truncated = trunc != NULL && strcmp(trunc, "true") == 0;
	free(enc);
	free(trunc);
	ret = s3_list_entries(fs, root, encoded, strip, page);
	if (ret == 0)
		ret = s3_list_next_token(fs, root, encoded, page);
	xmlFreeDoc(doc);
	if (ret == 0 && page->count > 1)
		qsort(page->keys, page->count, sizeof(*page->keys), s3_key_cmp);
	return ret;
}

/* --- Iterators --- */

static int s3_iter_fail(struct s3_iter *iter, int ret, const char *detail)
{
	return fs_iter_set_error(&iter->iter, ret, "list %s: %s (s3)",
				 iter->iter.prefix, detail);
}

static int s3_iter_start(struct s3_iter *iter)
{
	struct s3_fs *fs = iter->ctx.fs;
	char *full = fs_s3_full_key(fs, iter->iter.prefix);
	int ret;

	ret = full == NULL ? -ENOMEM
			   : s3_list_request(&iter->ctx, full,
					     (iter->iter.flags &
					      FS_ITER_FLAG_ONE_LEVEL) != 0,
					     fs->max_keys, iter->next_token,
					     &iter->req);
	free(full);
	if (ret == 0)
		ret = fs_s3_request_start(&iter->req);
	if (ret < 0)
		return s3_iter_fail(iter, ret, "cannot start the request");
	return 0;
}

int fs_s3_iter_init(struct fs_iter *_iter)
{
	struct s3_iter *iter = S3_ITER(_iter);

	iter->ctx.fs = S3_FS(_iter->fs);
	iter->ctx.iter = _iter;
	return s3_iter_start(iter);
}

static void s3_iter_free_page(struct s3_iter *iter)
{
	size_t i;

	for (i = 0; i < iter->count; i++)
		free(iter->keys[i]);
	free(iter->keys);
	iter->keys = NULL;
	iter->count = iter->pos = 0;
}

/* Takes the finished page request's keys, and asks for the next page at
   once if there is one. */
static int s3_iter_page(struct s3_iter *iter)
{
	struct s3_fs *fs = iter->ctx.fs;
	struct s3_page page = {0};
	char msg[768];
	int ret = fs_http_request_result(iter->req);

	if (ret < 0) {
		ret = fs_s3_request_error(iter->req, "list", iter->iter.prefix,
					  msg, sizeof(msg));
		fs_http_request_deinit(&iter->req);
		return fs_iter_set_error(&iter->iter, ret, "%s", msg);
	}
	ret = s3_list_parse(fs, iter->req, fs->prefix, &page);
	fs_http_request_deinit(&iter->req);
	if (ret < 0) {
		s3_page_clear(&page);
		return s3_iter_fail(iter, ret == -ENOMEM ? ret : -EIO,
				    ret == -ENOMEM ? "out of memory"
						   : "malformed listing");
	}
	s3_iter_free_page(iter);
	iter->keys = page.keys;
	iter->count = page.count;
	iter->truncated = page.truncated;
	free(iter->next_token);
	iter->next_token = page.next;
	page.keys = NULL;
	page.count = 0;
	page.next = NULL;
	s3_page_clear(&page);
	iter->started = true;
	return iter->truncated ? s3_iter_start(iter) : 0;
}

int fs_s3_iter_next(struct fs_iter *_iter, const char **key_r)
{
	struct s3_iter *iter = S3_ITER(_iter);
	int ret;

	for (;;) {
		if (iter->pos < iter->count) {
			*key_r = iter->keys[iter->pos++];
			return 1;
		}
		if (iter->req == NULL)
			return 0;
		if (!fs_http_request_is_done(iter->req))
			return -EAGAIN;
		ret = s3_iter_page(iter);
		if (ret < 0)
			return ret;
	}
}

void fs_s3_iter_deinit(struct fs_iter *_iter)
{
	struct s3_iter *iter = S3_ITER(_iter);

	fs_http_request_deinit(&iter->req);
	s3_iter_free_page(iter);
	free(iter->next_token);
	iter->next_token = NULL;
}

/* --- DeleteObjects --- */

static int s3_delete_body(const struct s3_page *page, char **body_r,
			  size_t *len_r)
{
	size_t i;
	int ret;

	*body_r = NULL;
	*len_r = 0;
	ret = fs_xml_append(body_r, len_r, "<Delete><Quiet>true</Quiet>");
	for (i = 0; i < page->count && ret == 0; i++) {
		ret = fs_xml_append(body_r, len_r, "<Object><Key>");
		if (ret == 0)
			ret = fs_xml_append_escaped(body_r, len_r,
						    page->keys[i]);
		if (ret == 0)
			ret = fs_xml_append(body_r, len_r, "</Key></Object>");
	}
	if (ret == 0)
		ret = fs_xml_append(body_r, len_r, "</Delete>");
	return ret;
}

static int s3_delete_errno(const char *code)
{
	if (code == NULL)
		return -EIO;
	if (strcmp(code, "AccessDenied") == 0)
		return -EACCES;
	if (strcmp(code, "NoSuchKey") == 0)
		return -ENOENT;
	return -EIO;
}

/* Reads the failures of a DeleteObjects reply: the first becomes the fs
   error. Returns 0 if there are none, else its -errno. */
static int s3_delete_reply(struct s3_fs *fs, struct fs_http_request *req,
			   const char *prefix)
{
	size_t size;
	const char *body = fs_http_request_body(req, &size);
	xmlDocPtr doc = NULL;
	xmlNodePtr root, node;
	char *key, *code, *message;
	int first = 0;

	if (fs_xml_parse(body, size, &doc, NULL) < 0 ||
	    (root = fs_xml_root(doc, "DeleteResult")) == NULL) {
		if (doc != NULL)
			xmlFreeDoc(doc);
		return fs_set_error(&fs->fs, -EIO,
				    "delete prefix %s: malformed "
				    "DeleteObjects reply (s3)",
				    prefix);
	}
	for (node = fs_xml_child(root, "Error"); node != NULL;
	     node = fs_xml_next(node, "Error")) {
		if (first < 0)
			break;
		key = fs_xml_child_text(node, "Key");
		code = fs_xml_child_text(node, "Code");
		message = fs_xml_child_text(node, "Message");
		first = fs_set_error(
			&fs->fs, s3_delete_errno(code),
			"delete prefix %s: DeleteObjects failed for key "
			"%s: %s %s (s3)",
			prefix, key != NULL ? key : "?",
			code != NULL ? code : "?",
			message != NULL ? message : "");
		free(key);
		free(code);
		free(message);
	}
	xmlFreeDoc(doc);
	return first;
}

static int s3_delete_batch(struct s3_fs *fs, const struct s3_page *page,
			   const char *prefix)
{
	struct s3_ctx ctx = {.fs = fs};
	struct fs_http_request *req = NULL;
	char *body = NULL, b64[32], msg[768];
	unsigned char md5[16];
	size_t len;
	int ret;

	ret = s3_delete_body(page, &body, &len);
	if (ret == 0)
		ret = fs_s3_request_new(&ctx, FS_OP_DELETE, "POST", NULL,
					"delete", &req);
	if (ret == 0)
		ret = fs_s3_request_set_body(&ctx, req, body, len);
	if (ret == 0)
		ret = fs_s3_request_set_md5(req, body, len, b64, md5);
	if (ret < 0) {
		fs_http_request_deinit(&req);
		free(body);
		return fs_set_error(&fs->fs, ret,
				    "delete prefix %s: cannot build the "
				    "DeleteObjects request: %s",
				    prefix, fs_errno_name(ret));
	}
	/* Deleting twice is harmless. */
	fs_http_request_set_idempotent(req, true);
	ret = fs_s3_request_run(fs, req);
	if (ret < 0) {
		ret = fs_s3_request_error(req, "DeleteObjects", prefix, msg,
					  sizeof(msg));
		ret = fs_set_error(&fs->fs, ret, "delete prefix %s: %s", prefix,
				   msg);
	} else {
		ret = s3_delete_reply(fs, req, prefix);
	}
	fs_http_request_deinit(&req);
	free(body);
	return ret;
}

static int s3_delete_list(struct s3_fs *fs, const char *full, const char *token,
			  struct s3_page *page, const char *prefix)
{
	struct s3_ctx ctx = {.fs = fs};
	struct fs_http_request *req = NULL;
	char msg[768];
	int ret;

	ret = s3_list_request(&ctx, full, false, S3_MAX_KEYS, token, &req);
	if (ret == 0 && (ret = fs_s3_request_run(fs, req)) < 0) {
		ret = fs_s3_request_error(req, "list", prefix, msg,
					  sizeof(msg));
		fs_set_error(&fs->fs, ret, "delete prefix %s: %s", prefix, msg);
	} else if (ret == 0 && (ret = s3_list_parse(fs, req, NULL, page)) < 0) {
		fs_set_error(&fs->fs, ret == -ENOMEM ? ret : -EIO,
			     "delete prefix %s: malformed listing (s3)",
			     prefix);
		ret = ret == -ENOMEM ? ret : -EIO;
	} else if (ret < 0) {
		fs_set_error(&fs->fs, ret, "delete prefix %s: %s", prefix,
			     fs_errno_name(ret));
	}
	fs_http_request_deinit(&req);
	return ret;
}

int fs_s3_delete_prefix(struct fs *_fs, const char *prefix)
{
	struct s3_fs *fs = S3_FS(_fs);
	struct s3_page page = {0};
	char *full = fs_s3_full_key(fs, prefix), *token = NULL;
	int ret = 0, count = 0;

	if (full == NULL)
		return fs_set_error(_fs, -ENOMEM, "out of memory");
	do {
		s3_page_clear(&page);
		ret = s3_delete_list(fs, full, token, &page, prefix);
		if (ret == 0 && page.count > 0)
			ret = s3_delete_batch(fs, &page, prefix);
		if (ret < 0)
			break;
		count += (int)page.count;
		free(token);
		token = page.next;
		page.next = NULL;
	} while (page.truncated);
	s3_page_clear(&page);
	free(token);
	free(full);
	return ret < 0 ? ret : count;
}
