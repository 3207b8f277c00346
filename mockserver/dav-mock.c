/*
 * The WebDAV front end: set-up, routing, paths and keys, collections, the
 * If header, replies. The methods are in dav-methods.c and dav-props.c,
 * authentication in dav-auth.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dav.h"

#define DAV_RESERVED ".libfs"

/* ------------------------------------------------------------------------ */
/* Set-up                                                                     */

char *dav_mock_init(struct fs_mock *mock, const struct fs_mock_settings *set)
{
	struct mock_dav *dav = calloc(1, sizeof(*dav));
	const char *auth = set->dav_auth;
	char *error;

	if (dav == NULL)
		return strdup("out of memory");
	if (auth == NULL || strcmp(auth, "any") == 0)
		dav->auth = DAV_MOCK_AUTH_ANY;
	else if (strcmp(auth, "basic") == 0)
		dav->auth = DAV_MOCK_AUTH_BASIC;
	else if (strcmp(auth, "digest") == 0)
		dav->auth = DAV_MOCK_AUTH_DIGEST;
	else if (strcmp(auth, "none") == 0)
		dav->auth = DAV_MOCK_AUTH_NONE;
	else {
		free(dav);
		if (asprintf(&error,
			     "WebDAV authentication '%s': expected any, basic, "
			     "digest or none",
			     auth) < 0)
			return NULL;
		return error;
	}
	if (RAND_bytes(dav->secret, sizeof(dav->secret)) != 1) {
		free(dav);
		return strdup("no random bytes for Digest nonces");
	}
	dav->start_time = (int64_t)time(NULL);
	mock->dav = dav;
	return NULL;
}

void dav_mock_free(struct fs_mock *mock)
{
	struct mock_dav *dav = mock->dav;
	size_t i;

	if (dav == NULL)
		return;
	for (i = 0; i < dav->cols_count; i++) {
		free(dav->cols[i]->path);
		fs_metadata_list_clear(&dav->cols[i]->props);
		free(dav->cols[i]);
	}
	free(dav->cols);
	free(dav);
	mock->dav = NULL;
}

/* ------------------------------------------------------------------------ */
/* Paths and keys                                                             */

/* Length of ".libfs" + '~'* + '-' at the start of seg, or 0. */
static size_t dav_reserved_len(const char *seg, size_t len)
{
	size_t n = strlen(DAV_RESERVED);

	if (len <= n || strncmp(seg, DAV_RESERVED, n) != 0)
		return 0;
	while (n < len && seg[n] == '~')
		n++;
	return n < len && seg[n] == '-' ? n + 1 : 0;
}

/* Inserts (escape) or removes one '~' after ".libfs" in every reserved
   segment. */
static char *dav_map_segments(const char *in, bool escape)
{
	size_t len = strlen(in), n = 0, seg_len;
	const char *seg = in, *end;
	char *out = malloc(len * 2 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (;;) {
		end = strchr(seg, '/');
		seg_len = end != NULL ? (size_t)(end - seg) : strlen(seg);
		n = dav_reserved_len(seg, seg_len);
		if (n > 0 && (escape || n > strlen(DAV_RESERVED) + 1)) {
			memcpy(o, DAV_RESERVED, strlen(DAV_RESERVED));
			o += strlen(DAV_RESERVED);
			if (escape)
				*o++ = '~';
			else
				seg++;
			seg += strlen(DAV_RESERVED);
			seg_len -= strlen(DAV_RESERVED) + (escape ? 0 : 1);
		}
		memcpy(o, seg, seg_len);
		o += seg_len;
		if (end == NULL)
			break;
		*o++ = '/';
		seg = end + 1;
	}
	*o = '\0';
	return out;
}

char *dav_mock_key(const char *path)
{
	char *key = dav_map_segments(path, true);

	if (key != NULL && fs_key_validate(key, NULL) < 0) {
		free(key);
		return NULL;
	}
	return key;
}

char *dav_mock_unkey(const char *key)
{
	return dav_map_segments(key, false);
}

void dav_mock_href(struct mock_buf *buf, const char *path, bool collection)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	mock_buf_str(buf, "/");
	for (p = (const unsigned char *)path; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p) != NULL) {
			mock_buf_add(buf, p, 1);
		} else {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			mock_buf_add(buf, esc, 3);
		}
	}
	if (collection && path[0] != '\0')
		mock_buf_str(buf, "/");
}

char *dav_mock_parent(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash == NULL ? strdup("")
			     : strndup(path, (size_t)(slash - path));
}

char *dav_mock_request_path(const char *raw, bool *trailing_r)
{
	char *path, *p;
	size_t len;

	if (raw[0] != '/')
		return NULL;
	if (fs_percent_decode(raw + 1, strlen(raw + 1), &path) < 0)
		return NULL;
	len = strlen(path);
	*trailing_r = len > 0 && path[len - 1] == '/';
	while (len > 0 && path[len - 1] == '/')
		path[--len] = '\0';
	/* no empty, "." or ".." segments */
	for (p = path; len > 0; p++) {
		size_t seg = strcspn(p, "/");

		if (seg == 0 || (seg == 1 && p[0] == '.') ||
		    (seg == 2 && p[0] == '.' && p[1] == '.')) {
			free(path);
			return NULL;
		}
		p += seg;
		if (*p == '\0')
			break;
	}
	return path;
}

/* ------------------------------------------------------------------------ */
/* Collections                                                                */

static size_t dav_col_pos(struct mock_dav *dav, const char *path, bool *found)
{
	size_t lo = 0, hi = dav->cols_count, mid;
	int cmp;

	*found = false;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		cmp = strcmp(dav->cols[mid]->path, path);
		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct dav_mock_col *dav_mock_col_find(struct fs_mock *mock, const char *path)
{
	bool found;
	size_t pos = dav_col_pos(mock->dav, path, &found);

	return found ? mock->dav->cols[pos] : NULL;
}

struct dav_mock_col *dav_mock_col_add(struct fs_mock *mock, const char *path)
{
	struct mock_dav *dav = mock->dav;
	struct dav_mock_col *col, **cols;
	bool found;
	size_t pos = dav_col_pos(dav, path, &found);

	if (found || path[0] == '\0')
		return found ? dav->cols[pos] : NULL;
	if (dav->cols_count == dav->cols_alloc) {
		size_t alloc = dav->cols_alloc == 0 ? 64 : dav->cols_alloc * 2;

		cols = realloc(dav->cols, alloc * sizeof(*cols));
		if (cols == NULL)
			return NULL;
		dav->cols = cols;
		dav->cols_alloc = alloc;
	}
	col = calloc(1, sizeof(*col));
	if (col == NULL || (col->path = strdup(path)) == NULL) {
		free(col);
		return NULL;
	}
	memmove(dav->cols + pos + 1, dav->cols + pos,
		(dav->cols_count - pos) * sizeof(*dav->cols));
	dav->cols[pos] = col;
	dav->cols_count++;
	return col;
}

static bool dav_under(const char *path, const char *top)
{
	size_t len = strlen(top);

	if (len == 0)
		return true;
	return strncmp(path, top, len) == 0 &&
	       (path[len] == '\0' || path[len] == '/');
}

void dav_mock_col_remove_tree(struct fs_mock *mock, const char *path)
{
	struct mock_dav *dav = mock->dav;
	size_t i, j;

	for (i = j = 0; i < dav->cols_count; i++) {
		if (dav_under(dav->cols[i]->path, path)) {
			free(dav->cols[i]->path);
			fs_metadata_list_clear(&dav->cols[i]->props);
			free(dav->cols[i]);
		} else {
			dav->cols[j++] = dav->cols[i];
		}
	}
	dav->cols_count = j;
}

/* Is there any key below key_prefix ("a/b/")? */
static bool dav_store_has_prefix(struct fs_mock *mock, const char *key_prefix)
{
	struct fs_iter *iter = NULL;
	const char *key;
	bool found = false;

	if (fs_iter_init(mock->fs, key_prefix, 0, &iter) == 0)
		found = fs_iter_next(iter, &key) > 0;
	fs_iter_deinit(&iter);
	return found;
}

enum dav_res dav_mock_lookup(struct fs_mock *mock, const char *path,
			     struct fs_stat *st_r)
{
	struct fs_file *file = NULL;
	struct fs_stat st;
	char *key, *prefix;
	bool col;
	int ret;

	if (path[0] == '\0')
		return DAV_RES_COLLECTION;
	key = dav_mock_key(path);
	if (key == NULL)
		return DAV_RES_NONE;
	ret = fs_file_init(mock->fs, key, FS_OPEN_READ, &file);
	if (ret == 0)
		ret = fs_file_stat(file, st_r != NULL ? st_r : &st);
	fs_file_deinit(&file);
	if (ret == 0) {
		free(key);
		return DAV_RES_OBJECT;
	}
	col = dav_mock_col_find(mock, path) != NULL;
	if (!col && asprintf(&prefix, "%s/", key) >= 0) {
		col = dav_store_has_prefix(mock, prefix);
		free(prefix);
	}
	free(key);
	return col ? DAV_RES_COLLECTION : DAV_RES_NONE;
}

struct dav_names {
	char **v;
	bool *col;
	size_t count, alloc;
};

static int dav_names_add(struct dav_names *n, const char *path, bool col)
{
	if (n->count == n->alloc) {
		size_t alloc = n->alloc == 0 ? 64 : n->alloc * 2;
		char **v = realloc(n->v, alloc * sizeof(*v));
		bool *c;

		if (v == NULL)
			return -ENOMEM;
		n->v = v;
		c = realloc(n->col, alloc * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		n->col = c;
		n->alloc = alloc;
	}
	n->v[n->count] = strdup(path);
	if (n->v[n->count] == NULL)
		return -ENOMEM;
	n->col[n->count++] = col;
	return 0;
}

static void dav_names_free(struct dav_names *n)
{
	size_t i;

	for (i = 0; i < n->count; i++)
		free(n->v[i]);
	free(n->v);
	free(n->col);
}

/* The store's members of collection path: objects and common prefixes. */
static int dav_store_members(struct fs_mock *mock, const char *path,
			     struct dav_names *names)
{
	struct fs_iter *iter = NULL;
	char *key = dav_mock_key(path), *prefix = NULL, *member;
	const char *k;
	size_t len;
	int ret;

	if (path[0] != '\0' && key == NULL)
		return 0;
	ret = asprintf(&prefix, "%s%s", path[0] != '\0' ? key : "",
		       path[0] != '\0' ? "/" : "") < 0
		      ? -ENOMEM
		      : fs_iter_init(mock->fs, prefix, FS_ITER_FLAG_ONE_LEVEL,
				     &iter);
	while (ret == 0 && (ret = fs_iter_next(iter, &k)) > 0) {
		len = strlen(k);
		member = strndup(k, k[len - 1] == '/' ? len - 1 : len);
		char *p = member != NULL ? dav_mock_unkey(member) : NULL;

		ret = p == NULL ? -ENOMEM
				: dav_names_add(names, p, k[len - 1] == '/');
		free(member);
		free(p);
	}
	if (iter != NULL) {
		int ret2 = fs_iter_deinit(&iter);

		if (ret == 0)
			ret = ret2;
	}
	free(prefix);
	free(key);
	return ret;
}

static int dav_names_cmp_idx(const void *a, const void *b, void *ctx)
{
	struct dav_names *n = ctx;

	return strcmp(n->v[*(const size_t *)a], n->v[*(const size_t *)b]);
}

int dav_mock_members(struct fs_mock *mock, const char *path,
		     dav_mock_member_fn *fn, void *context)
{
	struct mock_dav *dav = mock->dav;
	struct dav_names names = {0};
	size_t i, *order = NULL, plen = strlen(path);
	const char *prev = NULL;
	int ret = dav_store_members(mock, path, &names);

	/* the remembered collections directly below */
	for (i = 0; ret == 0 && i < dav->cols_count; i++) {
		const char *c = dav->cols[i]->path;

		if (plen > 0 && (strncmp(c, path, plen) != 0 || c[plen] != '/'))
			continue;
		if (strchr(c + (plen > 0 ? plen + 1 : 0), '/') == NULL)
			ret = dav_names_add(&names, c, true);
	}
	if (ret == 0 && names.count > 0 &&
	    (order = malloc(names.count * sizeof(*order))) == NULL)
		ret = -ENOMEM;
	for (i = 0; ret == 0 && i < names.count; i++)
		order[i] = i;
	if (ret == 0 && names.count > 0)
		qsort_r(order, names.count, sizeof(*order), dav_names_cmp_idx,
			&names);
	for (i = 0; ret == 0 && i < names.count; i++) {
		const char *name = names.v[order[i]];

		if (prev != NULL && strcmp(prev, name) == 0)
			continue;
		prev = name;
		ret = fn(mock, name, names.col[order[i]], context);
	}
	free(order);
	dav_names_free(&names);
	return ret;
}

struct dav_etag_ctx {
	EVP_MD_CTX *md;
};

static int dav_etag_member(struct fs_mock *mock, const char *path,
			   bool collection, void *context)
{
	struct dav_etag_ctx *ctx = context;
	struct fs_stat st;

	EVP_DigestUpdate(ctx->md, path, strlen(path) + 1);
	if (!collection && dav_mock_lookup(mock, path, &st) == DAV_RES_OBJECT)
		EVP_DigestUpdate(ctx->md, st.etag, strlen(st.etag) + 1);
	else
		EVP_DigestUpdate(ctx->md, "/", 2);
	return 0;
}

void dav_mock_col_etag(struct fs_mock *mock, const char *path,
		       char etag_r[DAV_MOCK_ETAG_MAX])
{
	static const char hex[] = "0123456789abcdef";
	struct dav_etag_ctx ctx;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	snprintf(etag_r, DAV_MOCK_ETAG_MAX, "\"c-\"");
	ctx.md = EVP_MD_CTX_new();
	if (ctx.md == NULL ||
	    EVP_DigestInit_ex(ctx.md, EVP_sha256(), NULL) != 1 ||
	    dav_mock_members(mock, path, dav_etag_member, &ctx) < 0 ||
	    EVP_DigestFinal_ex(ctx.md, md, &len) != 1) {
		EVP_MD_CTX_free(ctx.md);
		return;
	}
	EVP_MD_CTX_free(ctx.md);
	etag_r[0] = '"';
	etag_r[1] = 'c';
	etag_r[2] = '-';
	for (i = 0; i < 12; i++) {
		etag_r[3 + i * 2] = hex[md[i] >> 4];
		etag_r[4 + i * 2] = hex[md[i] & 15];
	}
	etag_r[27] = '"';
	etag_r[28] = '\0';
}

int dav_mock_delete_tree(struct fs_mock *mock, const char *path)
{
	struct fs_iter *iter = NULL;
	struct fs_file *file = NULL;
	char *key = dav_mock_key(path), *prefix = NULL;
	const char *k;
	int ret;

	if (key == NULL || asprintf(&prefix, "%s/", key) < 0) {
		free(key);
		return -ENOMEM;
	}
	/* Each deletion is seen by a listing from the start again. */
	do {
		ret = fs_iter_init(mock->fs, prefix, 0, &iter);
		if (ret == 0 && (ret = fs_iter_next(iter, &k)) > 0) {
			char *victim = strdup(k);

			fs_iter_deinit(&iter);
			ret = victim == NULL
				      ? -ENOMEM
				      : fs_file_init(mock->fs, victim,
						     FS_OPEN_READ, &file);
			if (ret == 0)
				ret = fs_file_delete(file);
			fs_file_deinit(&file);
			free(victim);
			if (ret == -ENOENT)
				ret = 0;
			if (ret == 0)
				ret = 1;
		}
		fs_iter_deinit(&iter);
	} while (ret > 0);
	dav_mock_col_remove_tree(mock, path);
	free(prefix);
	free(key);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                    */

void dav_mock_reply(struct mock_request *req, unsigned int status,
		    const char *text)
{
	struct mock_reply *reply = mock_reply_new(status);

	if (reply != NULL && text != NULL) {
		mock_reply_header(reply, "Content-Type",
				  "text/plain; charset=utf-8");
		mock_buf_printf(&reply->body, "%s\n", text);
	}
	mock_request_reply(req, reply);
}

void dav_mock_fail_fs(struct mock_request *req, int err, const char *what)
{
	char msg[512];
	unsigned int status;

	switch (err) {
	case -ENOENT:
		status = 404;
		break;
	case -EEXIST:
		status = 412;
		break;
	case -EINVAL:
		status = 400;
		break;
	case -ENOSPC:
	case -EFBIG:
		status = 507;
		break;
	case -EACCES:
		status = 403;
		break;
	default:
		status = 500;
		break;
	}
	snprintf(msg, sizeof(msg), "%s %s: %s", what, req->raw_path,
		 fs_errno_name(err));
	dav_mock_reply(req, status, msg);
}

xmlDocPtr dav_mock_parse_xml(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc = NULL;
	bool ok;

	if (dreq->body_too_big) {
		dav_mock_reply(req, 413, "request body too large");
		return NULL;
	}
	if (dreq->body.failed) {
		mock_request_reply(req, NULL);
		return NULL;
	}
	if (dreq->body.len == 0)
		return NULL;
	ctxt = xmlNewParserCtxt();
	if (ctxt != NULL)
		doc = xmlCtxtReadMemory(ctxt, dreq->body.data,
					(int)dreq->body.len, NULL, NULL,
					XML_PARSE_NONET | XML_PARSE_NOERROR |
						XML_PARSE_NOWARNING);
	/* untrusted: no DTD; namespace errors (xmlns:p="") are errors */
	ok = doc != NULL && ctxt->wellFormed && ctxt->nsWellFormed &&
	     doc->intSubset == NULL && xmlDocGetRootElement(doc) != NULL;
	xmlFreeParserCtxt(ctxt);
	if (!ok) {
		xmlFreeDoc(doc);
		dav_mock_reply(req, 400, "malformed XML request body");
		return NULL;
	}
	return doc;
}

/* ------------------------------------------------------------------------ */
/* The If header (RFC 4918 10.4)                                              */

/* The ETag of the resource a tagged list names (or of path). */
static bool dav_if_etag(struct fs_mock *mock, const char *path,
			char etag[DAV_MOCK_ETAG_MAX])
{
	struct fs_stat st;

	switch (dav_mock_lookup(mock, path, &st)) {
	case DAV_RES_OBJECT:
		snprintf(etag, DAV_MOCK_ETAG_MAX, "\"%s\"", st.etag);
		return true;
	case DAV_RES_COLLECTION:
		dav_mock_col_etag(mock, path, etag);
		return true;
	default:
		return false;
	}
}

/* Evaluates one list "( [Not] cond ... )" at *pp. */
static bool dav_if_list(struct fs_mock *mock, const char **pp, const char *path,
			bool *ok_r)
{
	const char *p = *pp + 1, *end;
	char etag[DAV_MOCK_ETAG_MAX];
	bool all = true, not, has = dav_if_etag(mock, path, etag);

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == ')')
			break;
		not = strncasecmp(p, "Not", 3) == 0;
		if (not ) {
			p += 3;
			while (*p == ' ')
				p++;
		}
		if (*p == '<') {
			/* a state token: no locks here, it never matches */
			end = strchr(p, '>');
			if (end == NULL)
				return false;
			all &= not ;
			p = end + 1;
		} else if (*p == '[') {
			end = strchr(p, ']');
			if (end == NULL)
				return false;
			bool match = has &&
				     (size_t)(end - p - 1) == strlen(etag) &&
				     strncmp(p + 1, etag, strlen(etag)) == 0;

			all &= match != not ;
			p = end + 1;
		} else {
			return false;
		}
	}
	*pp = p + 1;
	*ok_r = all;
	return true;
}

/* Reads the "<URL>" of a tagged list at *pp into *path_r (a path). Returns
   false if malformed. */
static bool dav_if_tag(const char **pp, char **path_r)
{
	const char *p = *pp, *u = p + 1, *end = strchr(p, '>'), *s;
	char *raw;
	bool trailing;

	free(*path_r);
	*path_r = NULL;
	if (end == NULL)
		return false;
	s = strstr(u, "://");
	if (s != NULL && s < end)
		u = memchr(s + 3, '/', (size_t)(end - s - 3));
	if (u == NULL || u >= end)
		return false;
	raw = strndup(u, (size_t)(end - u));
	if (raw != NULL)
		*path_r = dav_mock_request_path(raw, &trailing);
	free(raw);
	*pp = end + 1;
	return *path_r != NULL;
}

bool dav_mock_if_ok(struct mock_request *req, const char *path)
{
	const char *h = mock_header(req, "If"), *p;
	char *tag_path = NULL;
	bool any = false, ok, lists = false, good = true;

	if (h == NULL)
		return true;
	for (p = h; good;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (*p == '<')
			good = dav_if_tag(&p, &tag_path);
		else if (*p != '(')
			good = false;
		else if ((good = dav_if_list(req->mock, &p,
					     tag_path != NULL ? tag_path : path,
					     &ok))) {
			lists = true;
			any |= ok;
		}
	}
	free(tag_path);
	if (!good || !lists) {
		dav_mock_reply(req, 400, "malformed If header");
		return false;
	}
	if (!any)
		dav_mock_reply(req, 412, "the If header's conditions failed");
	return any;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                   */

static void dav_cleanup(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);

	if (dreq == NULL)
		return;
	if (dreq->wfile != NULL) {
		/* Unfinished: the client went away. Nothing stays. */
		mock_fs_lock(req->mock);
		fs_file_deinit(&dreq->wfile);
		mock_fs_unlock(req->mock);
	}
	mock_buf_free(&dreq->body);
	free(dreq->path);
	free(dreq);
	req->ctx = NULL;
}

static const struct {
	const char *method, *op;
	void (*run)(struct mock_request *req);
	bool xml_body;
} dav_methods[] = {
	{"OPTIONS", "Options", dav_mock_options, false},
	{"GET", "Get", dav_mock_get, false},
	{"HEAD", "Head", dav_mock_get, false},
	{"PUT", "Put", NULL, false},
	{"DELETE", "Delete", dav_mock_delete, false},
	{"MKCOL", "Mkcol", dav_mock_mkcol, false},
	{"COPY", "Copy", dav_mock_copymove, false},
	{"MOVE", "Move", dav_mock_copymove, false},
	{"PROPFIND", "Propfind", dav_mock_propfind, true},
	{"PROPPATCH", "Proppatch", dav_mock_proppatch, true},
};

int dav_request_route(struct mock_request *req)
{
	struct dav_mock_req *dreq = calloc(1, sizeof(*dreq));
	size_t i;

	if (dreq == NULL) {
		mock_request_reply(req, NULL);
		return -1;
	}
	req->ctx = dreq;
	req->cleanup_fn = dav_cleanup;
	req->op = "Unknown";
	for (i = 0; i < sizeof(dav_methods) / sizeof(dav_methods[0]); i++) {
		if (strcmp(req->method, dav_methods[i].method) == 0) {
			req->op = dav_methods[i].op;
			dreq->run = dav_methods[i].run;
		}
	}
	dreq->path =
		dav_mock_request_path(req->raw_path, &dreq->trailing_slash);
	if (dreq->path == NULL) {
		dav_mock_reply(req, 400, "malformed request path");
		return -1;
	}
	req->key = strdup(dreq->path);
	return 0;
}

static int dav_body(struct mock_request *req, const char *data, size_t size)
{
	struct dav_mock_req *dreq = dav_req(req);

	if (dreq->body.len + size > DAV_MOCK_XML_MAX) {
		dreq->body_too_big = true;
		return 0;
	}
	mock_buf_add(&dreq->body, data, size);
	return 0;
}

static void dav_finish(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);

	dreq->run(req);
}

void dav_request_begin(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);

	if (!dav_mock_authenticate(req))
		return;
	if (strcmp(req->method, "PUT") == 0) {
		dav_mock_put_begin(req);
		return;
	}
	if (dreq->run == NULL) {
		struct mock_reply *reply = mock_reply_new(405);

		if (reply != NULL)
			mock_reply_header(reply, "Allow",
					  "OPTIONS, GET, HEAD, PUT, DELETE, "
					  "MKCOL, COPY, MOVE, PROPFIND, "
					  "PROPPATCH");
		mock_request_reply(req, reply);
		return;
	}
	/* Bodies are read before anything is done (MKCOL refuses one). */
	req->body_fn = dav_body;
	req->finish_fn = dav_finish;
}
