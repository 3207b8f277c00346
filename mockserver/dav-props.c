/*
 * PROPFIND (Depth 0 and 1; allprop, propname, prop) and PROPPATCH (set and
 * remove in document order, all or nothing) over the store.
 *
 * Dead properties other than the libfs metadata are kept in the metadata
 * entry "-p" as records "LEN:NAMESPACE" "LEN:NAME" "LEN:VALUE" one after
 * the other, where VALUE is the property's content as XML (text escaped,
 * child elements with the namespaces they use declared on them), and the
 * three strings have '%', control bytes and DEL as %XX (a metadata value
 * holds printable UTF-8 only); LEN is the decimal length of the escaped
 * string.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include "dav.h"

#define DAV_XML_HEAD "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"

/* A dead property. */
struct dav_prop {
	char *ns, *name, *value; /* value: XML content */
};

struct dav_props {
	struct dav_prop *v;
	size_t count, alloc;
};

static const char *const dav_live[] = {
	"creationdate", "getcontentlength", "getcontenttype",
	"getetag",	"getlastmodified",  "lockdiscovery",
	"resourcetype", "supportedlock",
};

static bool dav_is_live(const char *ns, const char *name)
{
	size_t i;

	if (strcmp(ns, DAV_MOCK_NS) != 0)
		return false;
	for (i = 0; i < sizeof(dav_live) / sizeof(dav_live[0]); i++) {
		if (strcmp(dav_live[i], name) == 0)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* Dead properties <-> metadata                                               */

static void dav_props_clear(struct dav_props *p)
{
	size_t i;

	for (i = 0; i < p->count; i++) {
		free(p->v[i].ns);
		free(p->v[i].name);
		free(p->v[i].value);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static struct dav_prop *dav_props_find(struct dav_props *p, const char *ns,
				       const char *name)
{
	size_t i;

	for (i = 0; i < p->count; i++) {
		if (strcmp(p->v[i].ns, ns) == 0 &&
		    strcmp(p->v[i].name, name) == 0)
			return &p->v[i];
	}
	return NULL;
}

static void dav_props_remove(struct dav_props *p, const char *ns,
			     const char *name)
{
	struct dav_prop *prop = dav_props_find(p, ns, name);

	if (prop == NULL)
		return;
	free(prop->ns);
	free(prop->name);
	free(prop->value);
	*prop = p->v[--p->count];
}

static int dav_props_set(struct dav_props *p, const char *ns, const char *name,
			 const char *value)
{
	struct dav_prop *prop = dav_props_find(p, ns, name);
	char *copy = strdup(value);

	if (copy == NULL)
		return -ENOMEM;
	if (prop != NULL) {
		free(prop->value);
		prop->value = copy;
		return 0;
	}
	if (p->count == p->alloc) {
		size_t alloc = p->alloc == 0 ? 8 : p->alloc * 2;
		struct dav_prop *v = realloc(p->v, alloc * sizeof(*v));

		if (v == NULL) {
			free(copy);
			return -ENOMEM;
		}
		p->v = v;
		p->alloc = alloc;
	}
	prop = &p->v[p->count];
	prop->ns = strdup(ns);
	prop->name = strdup(name);
	prop->value = copy;
	if (prop->ns == NULL || prop->name == NULL) {
		free(prop->ns);
		free(prop->name);
		free(copy);
		return -ENOMEM;
	}
	p->count++;
	return 0;
}

/* Metadata name <-> element name in the libfs namespace. */
static void dav_md_to_xml(const char *name, char *buf, size_t size)
{
	bool esc = name[0] == '_' || name[0] == '-' ||
		   (name[0] >= '0' && name[0] <= '9');

	snprintf(buf, size, "%s%s", esc ? "_" : "", name);
}

static const char *dav_md_from_xml(const char *elem)
{
	return elem[0] == '_' ? elem + 1 : elem;
}

static void dav_esc(struct mock_buf *b, const char *str)
{
	const unsigned char *p;

	for (p = (const unsigned char *)str; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '%')
			mock_buf_printf(b, "%%%02X", *p);
		else
			mock_buf_add(b, p, 1);
	}
}

static void dav_record(struct mock_buf *b, const char *str)
{
	struct mock_buf tmp = {0};

	dav_esc(&tmp, str);
	mock_buf_printf(b, "%zu:", tmp.len);
	if (tmp.len > 0)
		mock_buf_add(b, tmp.data, tmp.len);
	mock_buf_free(&tmp);
}

/* Reads one "LEN:ESCAPED" record at *pp into a new unescaped string. */
static char *dav_unrecord(const char **pp)
{
	const char *p = *pp;
	char *end, *out, *o;
	unsigned long len = strtoul(p, &end, 10);
	size_t i;
	unsigned int c;

	if (end == p || *end != ':' || strlen(end + 1) < len)
		return NULL;
	p = end + 1;
	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (o = out, i = 0; i < len; i++) {
		if (p[i] == '%' && i + 2 < len + 1 &&
		    sscanf(p + i + 1, "%2X", &c) == 1) {
			*o++ = (char)c;
			i += 2;
		} else {
			*o++ = p[i];
		}
	}
	*o = '\0';
	*pp = p + len;
	return out;
}

static int dav_props_parse_blob(struct dav_props *props, const char *blob)
{
	const char *p = blob;
	char *ns, *name, *value;
	int ret = 0;

	while (*p != '\0' && ret == 0) {
		ns = dav_unrecord(&p);
		name = ns != NULL ? dav_unrecord(&p) : NULL;
		value = name != NULL ? dav_unrecord(&p) : NULL;
		ret = value != NULL ? dav_props_set(props, ns, name, value)
				    : -EINVAL;
		free(ns);
		free(name);
		free(value);
	}
	return ret;
}

/* The dead properties of stored metadata (others stay out). */
static int dav_props_from_md(struct dav_props *props,
			     const struct fs_metadata *md, size_t count)
{
	struct mock_buf val = {0};
	char elem[FS_METADATA_NAME_MAX + 2];
	size_t i;
	int ret = 0;

	for (i = 0; i < count && ret == 0; i++) {
		if (strcmp(md[i].name, DAV_MOCK_MD_PROPS) == 0) {
			ret = dav_props_parse_blob(props, md[i].value);
			continue;
		}
		if (md[i].name[0] == '-')
			continue;
		dav_md_to_xml(md[i].name, elem, sizeof(elem));
		mock_buf_free(&val);
		mock_buf_xml(&val, md[i].value);
		ret = dav_props_set(props, DAV_MOCK_MD_NS, elem,
				    val.data != NULL ? val.data : "");
	}
	mock_buf_free(&val);
	return ret;
}

/* Undoes mock_buf_xml(): a new string, or NULL if value holds markup or
   another reference. */
static char *dav_xml_text(const char *value)
{
	static const struct {
		const char *ref;
		char c;
	} refs[] = {{"&lt;", '<'},   {"&gt;", '>'},    {"&amp;", '&'},
		    {"&quot;", '"'}, {"&apos;", '\''}, {"&#13;", '\r'}};
	char *out = malloc(strlen(value) + 1), *o = out;
	const char *p;
	size_t i;

	if (out == NULL || strchr(value, '<') != NULL) {
		free(out);
		return NULL;
	}
	for (p = value; *p != '\0';) {
		if (*p != '&') {
			*o++ = *p++;
			continue;
		}
		for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
			if (strncmp(p, refs[i].ref, strlen(refs[i].ref)) == 0)
				break;
		}
		if (i == sizeof(refs) / sizeof(refs[0])) {
			free(out);
			return NULL;
		}
		*o++ = refs[i].c;
		p += strlen(refs[i].ref);
	}
	*o = '\0';
	return out;
}

/* The metadata for props: libfs ones as themselves, the rest in "-p";
   other '-' entries of old (the Content-Type) are kept. */
static int dav_props_to_md(const struct dav_props *props,
			   const struct fs_metadata *old, size_t old_count,
			   struct fs_metadata_list *md)
{
	struct mock_buf blob = {0};
	size_t i;
	int ret = 0;

	for (i = 0; i < old_count && ret == 0; i++) {
		if (old[i].name[0] == '-' &&
		    strcmp(old[i].name, DAV_MOCK_MD_PROPS) != 0)
			ret = fs_metadata_list_set(md, old[i].name,
						   old[i].value);
	}
	for (i = 0; i < props->count && ret == 0; i++) {
		const struct dav_prop *p = &props->v[i];
		const char *name = dav_md_from_xml(p->name);
		char *text = NULL;

		if (strcmp(p->ns, DAV_MOCK_MD_NS) == 0 && name[0] != '-' &&
		    (text = dav_xml_text(p->value)) != NULL &&
		    fs_metadata_validate(name, text) == 0) {
			ret = fs_metadata_list_set(md, name, text);
			free(text);
			continue;
		}
		free(text);
		dav_record(&blob, p->ns);
		dav_record(&blob, p->name);
		dav_record(&blob, p->value);
	}
	if (ret == 0 && blob.failed)
		ret = -ENOMEM;
	if (ret == 0 && blob.len > 0)
		ret = fs_metadata_list_set(md, DAV_MOCK_MD_PROPS, blob.data);
	mock_buf_free(&blob);
	return ret;
}

int dav_mock_props_copy(struct fs_metadata_list *dst,
			const struct fs_metadata_list *src)
{
	fs_metadata_list_clear(dst);
	return fs_metadata_list_copy(dst, src);
}

/* ------------------------------------------------------------------------ */
/* Property values from request bodies                                        */

static const char *dav_node_ns(const xmlNode *node)
{
	return node->ns != NULL && node->ns->href != NULL
		       ? (const char *)node->ns->href
		       : "";
}

/* The content of a property element as XML. */
static int dav_node_value(xmlNodePtr node, struct mock_buf *out)
{
	xmlNodePtr child;
	xmlDocPtr tmp;
	xmlBufferPtr buf;

	for (child = node->children; child != NULL; child = child->next) {
		if (child->type == XML_TEXT_NODE ||
		    child->type == XML_CDATA_SECTION_NODE) {
			mock_buf_xml(out, (const char *)child->content);
			continue;
		}
		if (child->type != XML_ELEMENT_NODE)
			continue;
		/* alone in a document of its own, every namespace it uses
		   is declared on it */
		tmp = xmlNewDoc(BAD_CAST "1.0");
		buf = xmlBufferCreate();
		if (tmp == NULL || buf == NULL) {
			xmlFreeDoc(tmp);
			xmlBufferFree(buf);
			return -ENOMEM;
		}
		xmlDocSetRootElement(tmp, xmlDocCopyNode(child, tmp, 1));
		xmlReconciliateNs(tmp, xmlDocGetRootElement(tmp));
		xmlNodeDump(buf, tmp, xmlDocGetRootElement(tmp), 0, 0);
		mock_buf_add(out, xmlBufferContent(buf),
			     (size_t)xmlBufferLength(buf));
		xmlBufferFree(buf);
		xmlFreeDoc(tmp);
	}
	return out->failed ? -ENOMEM : 0;
}

/* ------------------------------------------------------------------------ */
/* Resources                                                                  */

struct dav_resource {
	const char *path;
	bool collection;
	struct fs_stat st;
	char etag[DAV_MOCK_ETAG_MAX]; /* quoted; "" if none */
	const char *ctype;
	struct dav_props props;
	struct fs_metadata_list md; /* an object's, as stored */
};

static void dav_resource_clear(struct dav_resource *r)
{
	dav_props_clear(&r->props);
	fs_metadata_list_clear(&r->md);
}

/* Loads what a PROPFIND shows of path (fs lock held). with_etag: compute a
   collection's ETag (the request's own resource only: it lists it). */
static int dav_resource_load(struct fs_mock *mock, const char *path,
			     bool collection, bool with_etag,
			     struct dav_resource *r)
{
	const struct fs_metadata *md = NULL;
	struct fs_file *file = NULL;
	struct dav_mock_col *col;
	char *key;
	int ret = 0, count;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->collection = collection;
	if (collection) {
		if (with_etag)
			dav_mock_col_etag(mock, path, r->etag);
		col = dav_mock_col_find(mock, path);
		if (col != NULL)
			ret = dav_props_from_md(&r->props, col->props.items,
						col->props.count);
		return ret;
	}
	key = dav_mock_key(path);
	ret = key == NULL ? -ENOENT
			  : fs_file_init(mock->fs, key, FS_OPEN_READ, &file);
	free(key);
	if (ret == 0)
		ret = fs_file_stat(file, &r->st);
	if (ret == 0) {
		count = fs_file_get_metadata_all(file, &md);
		ret = count < 0 ? count : 0;
		for (i = 0; ret == 0 && i < (size_t)count; i++)
			ret = fs_metadata_list_set(&r->md, md[i].name,
						   md[i].value);
	}
	fs_file_deinit(&file);
	if (ret < 0)
		return ret;
	snprintf(r->etag, sizeof(r->etag), "\"%s\"", r->st.etag);
	r->ctype = "application/octet-stream";
	for (i = 0; i < r->md.count; i++) {
		if (strcmp(r->md.items[i].name, DAV_MOCK_MD_CTYPE) == 0)
			r->ctype = r->md.items[i].value;
	}
	return dav_props_from_md(&r->props, r->md.items, r->md.count);
}

/* ------------------------------------------------------------------------ */
/* PROPFIND                                                                   */

enum dav_pf_mode {
	DAV_PF_ALLPROP,
	DAV_PF_PROPNAME,
	DAV_PF_PROP,
};

struct dav_pf {
	struct fs_mock *mock;
	enum dav_pf_mode mode;
	xmlNodePtr prop; /* <prop> of a DAV_PF_PROP request */
	const char *self;
	int64_t start_time;
	struct mock_buf *out;
};

static void dav_elem_open(struct mock_buf *b, const char *ns, const char *name,
			  bool empty)
{
	if (strcmp(ns, DAV_MOCK_NS) == 0)
		mock_buf_printf(b, "<D:%s%s>", name, empty ? "/" : "");
	else if (ns[0] == '\0')
		mock_buf_printf(b, "<%s xmlns=\"\"%s>", name, empty ? "/" : "");
	else {
		mock_buf_printf(b, "<x:%s xmlns:x=\"", name);
		mock_buf_xml(b, ns);
		mock_buf_printf(b, "\"%s>", empty ? "/" : "");
	}
}

static void dav_elem_close(struct mock_buf *b, const char *ns, const char *name)
{
	if (strcmp(ns, DAV_MOCK_NS) == 0)
		mock_buf_printf(b, "</D:%s>", name);
	else if (ns[0] == '\0')
		mock_buf_printf(b, "</%s>", name);
	else
		mock_buf_printf(b, "</x:%s>", name);
}

/* Writes live property name of r with its value (or just its name).
   Returns false if r has no such property. */
static bool dav_live_prop(struct dav_pf *pf, const struct dav_resource *r,
			  const char *name, bool value)
{
	struct mock_buf *b = pf->out;
	char date[64];
	int64_t t =
		r->collection ? pf->start_time : r->st.mtime_ns / 1000000000;

	if ((strcmp(name, "getcontentlength") == 0 ||
	     strcmp(name, "getcontenttype") == 0) &&
	    r->collection)
		return false;
	if (strcmp(name, "getetag") == 0 && r->etag[0] == '\0')
		return false;
	if (strcmp(name, "lockdiscovery") == 0 ||
	    strcmp(name, "supportedlock") == 0)
		return false; /* class 1: no locks */
	if (!value || (strcmp(name, "resourcetype") == 0 && !r->collection)) {
		dav_elem_open(b, DAV_MOCK_NS, name, true);
		return true;
	}
	dav_elem_open(b, DAV_MOCK_NS, name, false);
	if (strcmp(name, "resourcetype") == 0) {
		mock_buf_str(b, "<D:collection/>");
	} else if (strcmp(name, "getcontentlength") == 0) {
		mock_buf_printf(b, "%llu", (unsigned long long)r->st.size);
	} else if (strcmp(name, "getcontenttype") == 0) {
		mock_buf_xml(b, r->ctype);
	} else if (strcmp(name, "getetag") == 0) {
		mock_buf_xml(b, r->etag);
	} else if (strcmp(name, "getlastmodified") == 0) {
		mock_http_date(t, date);
		mock_buf_str(b, date);
	} else if (strcmp(name, "creationdate") == 0) {
		struct tm tm;
		time_t tt = (time_t)t;

		gmtime_r(&tt, &tm);
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
		mock_buf_str(b, date);
	}
	dav_elem_close(b, DAV_MOCK_NS, name);
	return true;
}

static void dav_dead_prop(struct mock_buf *b, const struct dav_prop *p,
			  bool value)
{
	if (!value || p->value[0] == '\0') {
		dav_elem_open(b, p->ns, p->name, true);
		return;
	}
	dav_elem_open(b, p->ns, p->name, false);
	mock_buf_str(b, p->value);
	dav_elem_close(b, p->ns, p->name);
}

static void dav_pf_all(struct dav_pf *pf, const struct dav_resource *r)
{
	bool value = pf->mode == DAV_PF_ALLPROP;
	size_t i;

	for (i = 0; i < sizeof(dav_live) / sizeof(dav_live[0]); i++)
		(void)dav_live_prop(pf, r, dav_live[i], value);
	for (i = 0; i < r->props.count; i++)
		dav_dead_prop(pf->out, &r->props.v[i], value);
}

/* The properties asked for: found ones into the 200 propstat, the others
   (names) into missing. */
static void dav_pf_named(struct dav_pf *pf, struct dav_resource *r,
			 struct mock_buf *missing)
{
	const char *ns, *name;
	struct dav_prop *p;
	xmlNodePtr n;

	for (n = pf->prop->children; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		ns = dav_node_ns(n);
		name = (const char *)n->name;
		if (dav_is_live(ns, name) && dav_live_prop(pf, r, name, true))
			continue;
		p = dav_props_find(&r->props, ns, name);
		if (p != NULL && !dav_is_live(ns, name)) {
			dav_dead_prop(pf->out, p, true);
			continue;
		}
		dav_elem_open(missing, ns, name, true);
	}
}

static int dav_pf_resource(struct fs_mock *mock, const char *path,
			   bool collection, void *context)
{
	struct dav_pf *pf = context;
	struct mock_buf *b = pf->out, missing = {0};
	struct dav_resource r;
	int ret;

	ret = dav_resource_load(mock, path, collection,
				strcmp(path, pf->self) == 0, &r);
	if (ret == -ENOENT) {
		dav_resource_clear(&r);
		return 0; /* gone meanwhile */
	}
	if (ret < 0) {
		dav_resource_clear(&r);
		return ret;
	}
	mock_buf_str(b, "<D:response><D:href>");
	dav_mock_href(b, path, collection);
	mock_buf_str(b, "</D:href><D:propstat><D:prop>");
	if (pf->mode == DAV_PF_PROP)
		dav_pf_named(pf, &r, &missing);
	else
		dav_pf_all(pf, &r);
	mock_buf_str(b, "</D:prop><D:status>HTTP/1.1 200 OK</D:status>"
			"</D:propstat>");
	if (missing.len > 0) {
		mock_buf_str(b, "<D:propstat><D:prop>");
		mock_buf_add(b, missing.data, missing.len);
		mock_buf_str(b, "</D:prop><D:status>HTTP/1.1 404 Not Found"
				"</D:status></D:propstat>");
	}
	mock_buf_str(b, "</D:response>\n");
	mock_buf_free(&missing);
	dav_resource_clear(&r);
	return 0;
}

static bool dav_is(const xmlNode *node, const char *name)
{
	return node != NULL && node->type == XML_ELEMENT_NODE &&
	       strcmp(dav_node_ns(node), DAV_MOCK_NS) == 0 &&
	       strcmp((const char *)node->name, name) == 0;
}

/* Reads the <propfind> body (none: allprop). Returns false after
   replying. */
static bool dav_pf_parse(struct mock_request *req, struct dav_pf *pf,
			 xmlDocPtr *doc_r)
{
	xmlNodePtr root, n;

	pf->mode = DAV_PF_ALLPROP;
	*doc_r = NULL;
	if (dav_req(req)->body.len == 0 && !dav_req(req)->body_too_big)
		return true;
	*doc_r = dav_mock_parse_xml(req);
	if (*doc_r == NULL)
		return false;
	root = xmlDocGetRootElement(*doc_r);
	if (!dav_is(root, "propfind")) {
		dav_mock_reply(req, 400, "the body is no DAV:propfind");
		return false;
	}
	for (n = root->children; n != NULL; n = n->next) {
		if (dav_is(n, "propname")) {
			pf->mode = DAV_PF_PROPNAME;
			break;
		}
		if (dav_is(n, "prop")) {
			pf->mode = DAV_PF_PROP;
			pf->prop = n;
			break;
		}
		if (dav_is(n, "allprop"))
			break;
	}
	return true;
}

static void dav_pf_reply(struct mock_request *req, struct mock_buf *out)
{
	struct mock_reply *reply = mock_reply_new(207);

	if (reply != NULL) {
		mock_reply_header(reply, "Content-Type",
				  "application/xml; charset=\"utf-8\"");
		reply->body = *out;
		memset(out, 0, sizeof(*out));
	}
	mock_buf_free(out);
	mock_request_reply(req, reply);
}

void dav_mock_propfind(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	const char *depth = mock_header(req, "Depth");
	struct mock_buf out = {0};
	struct dav_pf pf = {.mock = req->mock, .out = &out};
	enum dav_res res;
	xmlDocPtr doc;
	int ret;

	if (depth == NULL || strcasecmp(depth, "infinity") == 0) {
		struct mock_reply *reply = mock_reply_new(403);

		if (reply != NULL) {
			mock_reply_header(reply, "Content-Type",
					  "application/xml; charset=\"utf-8\"");
			mock_buf_str(&reply->body, DAV_XML_HEAD
				     "<D:error xmlns:D=\"DAV:\">"
				     "<D:propfind-finite-depth/></D:error>\n");
		}
		mock_request_reply(req, reply);
		return;
	}
	if (strcmp(depth, "0") != 0 && strcmp(depth, "1") != 0) {
		dav_mock_reply(req, 400, "Depth must be 0, 1 or infinity");
		return;
	}
	if (!dav_pf_parse(req, &pf, &doc))
		return;
	pf.self = dreq->path;
	pf.start_time = req->mock->dav->start_time;
	mock_buf_str(&out, DAV_XML_HEAD "<D:multistatus xmlns:D=\"DAV:\">\n");
	mock_fs_lock(req->mock);
	res = dav_mock_lookup(req->mock, dreq->path, NULL);
	ret = res == DAV_RES_NONE
		      ? -ENOENT
		      : dav_pf_resource(req->mock, dreq->path,
					res == DAV_RES_COLLECTION, &pf);
	if (ret == 0 && res == DAV_RES_COLLECTION && strcmp(depth, "1") == 0)
		ret = dav_mock_members(req->mock, dreq->path, dav_pf_resource,
				       &pf);
	mock_fs_unlock(req->mock);
	xmlFreeDoc(doc);
	mock_buf_str(&out, "</D:multistatus>\n");
	if (ret < 0) {
		mock_buf_free(&out);
		dav_mock_fail_fs(req, ret, "PROPFIND");
		return;
	}
	dav_pf_reply(req, &out);
}

/* ------------------------------------------------------------------------ */
/* PROPPATCH                                                                  */

/* One property of the request, and its fate. */
struct dav_pp_item {
	xmlNodePtr node;
	unsigned int status;
};

struct dav_pp {
	struct dav_pp_item *items;
	size_t count;
	unsigned int failed; /* the first failure's status, 0 if none */
};

/* Applies one set or remove to props. Returns the property's status. */
static unsigned int dav_pp_apply(struct dav_props *props, xmlNodePtr node,
				 bool set)
{
	const char *ns = dav_node_ns(node), *name = (const char *)node->name;
	struct mock_buf value = {0};
	unsigned int status = 200;

	if (dav_is_live(ns, name))
		return 403; /* cannot-modify-protected-property */
	if (!set) {
		dav_props_remove(props, ns, name);
		return 200;
	}
	if (dav_node_value(node, &value) < 0 ||
	    dav_props_set(props, ns, name,
			  value.data != NULL ? value.data : "") < 0)
		status = 500;
	mock_buf_free(&value);
	return status;
}

/* Collects and applies the operations of <propertyupdate> in order.
   Returns false (after replying) if the body is malformed. */
static bool dav_pp_run(struct mock_request *req, xmlNodePtr root,
		       struct dav_props *props, struct dav_pp *pp)
{
	xmlNodePtr op, prop, n;
	struct dav_pp_item *items;
	bool set;

	for (op = root->children; op != NULL; op = op->next) {
		if (op->type != XML_ELEMENT_NODE)
			continue;
		set = dav_is(op, "set");
		if (!set && !dav_is(op, "remove"))
			continue;
		prop = op->children;
		while (prop != NULL && !dav_is(prop, "prop"))
			prop = prop->next;
		if (prop == NULL) {
			dav_mock_reply(req, 400,
				       "a set or remove without prop");
			return false;
		}
		for (n = prop->children; n != NULL; n = n->next) {
			if (n->type != XML_ELEMENT_NODE)
				continue;
			items = realloc(pp->items,
					(pp->count + 1) * sizeof(*items));
			if (items == NULL) {
				mock_request_reply(req, NULL);
				return false;
			}
			pp->items = items;
			items[pp->count].node = n;
			items[pp->count].status = dav_pp_apply(props, n, set);
			if (items[pp->count].status != 200 && pp->failed == 0)
				pp->failed = items[pp->count].status;
			pp->count++;
		}
	}
	return true;
}

/* Writes the object again with metadata md (fs lock held). */
static int dav_rewrite(struct fs_mock *mock, const char *path,
		       const struct fs_metadata_list *md)
{
	struct fs_file *in = NULL, *out = NULL;
	char *key = dav_mock_key(path), buf[65536];
	ssize_t n = 0;
	size_t i;
	int ret;

	ret = key == NULL ? -ENOENT
			  : fs_file_init(mock->fs, key, FS_OPEN_READ, &in);
	if (ret == 0)
		ret = fs_file_init(mock->fs, key, FS_OPEN_REPLACE, &out);
	for (i = 0; ret == 0 && i < md->count; i++)
		ret = fs_file_set_metadata(out, md->items[i].name,
					   md->items[i].value);
	while (ret == 0 && (n = fs_read(in, buf, sizeof(buf))) > 0) {
		ssize_t w = fs_write(out, buf, (size_t)n);

		if (w < 0)
			ret = (int)w;
	}
	if (ret == 0 && n < 0)
		ret = (int)n;
	if (ret == 0)
		ret = fs_write_finish(out);
	fs_file_deinit(&out);
	fs_file_deinit(&in);
	free(key);
	return ret;
}

/* Stores props on path. Returns 0, -ENOSPC (over the metadata limit) or
   -errno. */
static int dav_pp_commit(struct fs_mock *mock, const char *path,
			 bool collection, struct dav_resource *r)
{
	struct fs_metadata_list md = {0};
	struct dav_mock_col *col;
	int ret;

	ret = dav_props_to_md(&r->props, r->md.items, r->md.count, &md);
	if (ret == 0 && collection) {
		col = dav_mock_col_add(mock, path);
		ret = col == NULL ? -ENOMEM
				  : dav_mock_props_copy(&col->props, &md);
	} else if (ret == 0) {
		ret = dav_rewrite(mock, path, &md);
		if (ret == -EINVAL)
			ret = -ENOSPC; /* a name or value it cannot hold */
	}
	fs_metadata_list_clear(&md);
	return ret;
}

static void dav_pp_reply(struct mock_request *req, const struct dav_pp *pp,
			 const char *path, bool collection)
{
	struct mock_buf out = {0};
	unsigned int status;
	size_t i;

	mock_buf_str(&out, DAV_XML_HEAD "<D:multistatus xmlns:D=\"DAV:\">\n"
					"<D:response><D:href>");
	dav_mock_href(&out, path, collection);
	mock_buf_str(&out, "</D:href>");
	for (i = 0; i < pp->count; i++) {
		status = pp->items[i].status;
		if (pp->failed != 0 && status == 200)
			status = 424; /* failed dependency */
		mock_buf_str(&out, "<D:propstat><D:prop>");
		dav_elem_open(&out, dav_node_ns(pp->items[i].node),
			      (const char *)pp->items[i].node->name, true);
		mock_buf_printf(&out,
				"</D:prop><D:status>HTTP/1.1 %u %s</D:status>"
				"</D:propstat>",
				status,
				status == 200	? "OK"
				: status == 403 ? "Forbidden"
				: status == 424 ? "Failed Dependency"
				: status == 507 ? "Insufficient Storage"
						: "Error");
	}
	mock_buf_str(&out, "</D:response></D:multistatus>\n");
	dav_pf_reply(req, &out);
}

/* Loads, patches and stores (fs lock held). Returns 0 (reply with pp), 1
   (replied) or -errno. */
static int dav_pp_locked(struct mock_request *req, xmlNodePtr root,
			 enum dav_res res, struct dav_pp *pp)
{
	struct dav_mock_req *dreq = dav_req(req);
	struct dav_resource r;
	size_t i;
	int ret;

	if (!dav_mock_if_ok(req, dreq->path))
		return 1;
	ret = dav_resource_load(req->mock, dreq->path,
				res == DAV_RES_COLLECTION, false, &r);
	if (ret == 0 && !dav_pp_run(req, root, &r.props, pp))
		ret = 1;
	if (ret == 0 && pp->failed == 0) {
		ret = dav_pp_commit(req->mock, dreq->path,
				    res == DAV_RES_COLLECTION, &r);
		if (ret == -ENOSPC) {
			/* over what metadata can hold */
			pp->failed = 507;
			for (i = 0; i < pp->count; i++)
				pp->items[i].status = 507;
			ret = 0;
		}
	}
	dav_resource_clear(&r);
	return ret;
}

void dav_mock_proppatch(struct mock_request *req)
{
	struct dav_mock_req *dreq = dav_req(req);
	struct dav_pp pp = {0};
	enum dav_res res;
	xmlDocPtr doc;
	xmlNodePtr root;
	int ret;

	doc = dav_mock_parse_xml(req);
	if (doc == NULL) {
		if (dreq->body.len == 0 && !dreq->body_too_big)
			dav_mock_reply(req, 400, "PROPPATCH needs a body");
		return;
	}
	root = xmlDocGetRootElement(doc);
	if (!dav_is(root, "propertyupdate")) {
		xmlFreeDoc(doc);
		dav_mock_reply(req, 400, "the body is no DAV:propertyupdate");
		return;
	}
	mock_fs_lock(req->mock);
	res = dav_mock_lookup(req->mock, dreq->path, NULL);
	ret = res == DAV_RES_NONE ? -ENOENT
				  : dav_pp_locked(req, root, res, &pp);
	mock_fs_unlock(req->mock);
	if (ret < 0)
		dav_mock_fail_fs(req, ret, "PROPPATCH");
	else if (ret == 0)
		dav_pp_reply(req, &pp, dreq->path, res == DAV_RES_COLLECTION);
	free(pp.items);
	xmlFreeDoc(doc);
}
