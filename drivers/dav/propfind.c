/*
 * WebDAV multistatus bodies (RFC 4918 section 13), parsed as they stream
 * in with libxml2's SAX2 push parser, and the XML bodies of PROPFIND and
 * PROPPATCH requests.
 *
 * Replies are untrusted: no network access, no DTD (a document declaring
 * one is refused, and with it every entity but the predefined ones), text
 * kept only where it is needed and at most DAV_TEXT_MAX bytes of it per
 * element. Names are matched by namespace and local name, whatever prefix
 * the server chose ("D:", "lp1:", a default namespace...). Memory does not
 * grow with the document: one <response> is held at a time and handed to
 * the caller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "dav-private.h"
#include "xml.h"

/* Where the parser is in the document. */
enum ms_state {
	MS_TOP,
	MS_MULTISTATUS,
	MS_RESPONSE,
	MS_HREF,
	MS_RSTATUS, /* <status> of the response itself */
	MS_PROPSTAT,
	MS_PROP,
	MS_PSTATUS, /* <status> of a propstat */
	MS_PROPERTY,
	MS_SKIP, /* inside an element nobody asked about */
};

enum ms_prop {
	MS_P_OTHER,
	MS_P_RESOURCETYPE,
	MS_P_LENGTH,
	MS_P_MTIME,
	MS_P_ETAG,
	MS_P_MD,
};

struct dav_ms_parser {
	xmlParserCtxtPtr ctxt;
	dav_entry_fn *fn;
	void *context;
	bool want_md;

	enum ms_state state;
	enum ms_state skip_return; /* the state MS_SKIP goes back to */
	unsigned int skip_depth;   /* elements open below MS_SKIP */
	unsigned int prop_depth;   /* elements open below a property */
	enum ms_prop prop;
	char *prop_name; /* the DAV_MD_NS property's local name */
	bool prop_has_child;

	/* The text being collected. */
	char *text;
	size_t text_len, text_alloc;
	bool collecting;

	/* The response being read, and the properties of its current propstat
	   until its status says whether they count. */
	struct dav_entry entry;
	struct dav_entry ps;
	int ps_status;

	int error;
	const char *error_msg;
};

/* ------------------------------------------------------------------------ */
/* Entries                                                                    */

void fs_dav_entry_clear(struct dav_entry *entry)
{
	free(entry->href);
	fs_metadata_list_clear(&entry->md);
	memset(entry, 0, sizeof(*entry));
}

static void ms_fail(struct dav_ms_parser *p, int err, const char *msg)
{
	if (p->error == 0) {
		p->error = err;
		p->error_msg = msg;
	}
	xmlStopParser(p->ctxt);
}

static bool ms_is(const xmlChar *uri, const xmlChar *name, const char *want_ns,
		  const char *want)
{
	return uri != NULL && strcmp((const char *)uri, want_ns) == 0 &&
	       strcmp((const char *)name, want) == 0;
}

static bool ms_dav(const xmlChar *uri, const xmlChar *name, const char *want)
{
	return ms_is(uri, name, DAV_NS, want);
}

static void ms_text_start(struct dav_ms_parser *p)
{
	p->text_len = 0;
	if (p->text != NULL)
		p->text[0] = '\0';
	p->collecting = true;
}

/* Ends the text being collected: returns it (owned by the parser). */
static const char *ms_text_end(struct dav_ms_parser *p)
{
	p->collecting = false;
	return p->text != NULL ? p->text : "";
}

static void ms_characters(void *ctx, const xmlChar *ch, int len)
{
	struct dav_ms_parser *p = ctx;
	size_t alloc;
	char *text;

	if (!p->collecting || len <= 0)
		return;
	if (p->text_len + (size_t)len > DAV_TEXT_MAX) {
		ms_fail(p, -EINVAL, "element text too long in the multistatus");
		return;
	}
	if (p->text_len + (size_t)len + 1 > p->text_alloc) {
		alloc = p->text_alloc == 0 ? 256 : p->text_alloc;
		while (alloc < p->text_len + (size_t)len + 1)
			alloc *= 2;
		text = realloc(p->text, alloc);
		if (text == NULL) {
			ms_fail(p, -ENOMEM, "out of memory");
			return;
		}
		p->text = text;
		p->text_alloc = alloc;
	}
	memcpy(p->text + p->text_len, ch, (size_t)len);
	p->text_len += (size_t)len;
	p->text[p->text_len] = '\0';
}

/* "HTTP/1.1 200 OK" -> 200, or 0. */
static int ms_status_code(const char *line)
{
	const char *p = line;
	int code = 0, i;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (strncmp(p, "HTTP/", 5) != 0)
		return 0;
	p = strchr(p, ' ');
	if (p == NULL)
		return 0;
	for (i = 1; i <= 3; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		code = code * 10 + (p[i] - '0');
	}
	return code;
}

/* ------------------------------------------------------------------------ */
/* Properties                                                                 */

static enum ms_prop ms_prop_kind(struct dav_ms_parser *p, const xmlChar *uri,
				 const xmlChar *name)
{
	if (ms_dav(uri, name, "resourcetype"))
		return MS_P_RESOURCETYPE;
	if (ms_dav(uri, name, "getcontentlength"))
		return MS_P_LENGTH;
	if (ms_dav(uri, name, "getlastmodified"))
		return MS_P_MTIME;
	if (ms_dav(uri, name, "getetag"))
		return MS_P_ETAG;
	if (uri != NULL && strcmp((const char *)uri, DAV_MD_NS) == 0)
		return MS_P_MD;
	return MS_P_OTHER;
}

static void ms_property_start(struct dav_ms_parser *p, const xmlChar *uri,
			      const xmlChar *name)
{
	p->state = MS_PROPERTY;
	p->prop_depth = 0;
	p->prop_has_child = false;
	p->prop = ms_prop_kind(p, uri, name);
	free(p->prop_name);
	p->prop_name = NULL;
	if (p->prop == MS_P_MD) {
		p->prop_name = strdup((const char *)name);
		if (p->prop_name == NULL)
			ms_fail(p, -ENOMEM, "out of memory");
	}
	if (p->prop != MS_P_OTHER && p->prop != MS_P_RESOURCETYPE)
		ms_text_start(p);
}

static void ms_size(struct dav_entry *ps, const char *text)
{
	char *end;
	unsigned long long size;

	while (*text == ' ' || *text == '\t' || *text == '\n')
		text++;
	if (*text < '0' || *text > '9')
		return;
	size = strtoull(text, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	if (*end != '\0')
		return;
	ps->size = size;
	ps->has_size = true;
}

/* Keeps an ETag without its weak marker: Apache calls an ETag weak while
   its file is younger than a second, and strong afterwards, for the same
   bytes. */
static void ms_etag(struct dav_entry *ps, const char *text)
{
	size_t len, weak;

	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	len = strlen(text);
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\n' ||
			   text[len - 1] == '\r' || text[len - 1] == '\t'))
		len--;
	weak = strncmp(text, "W/", 2) == 0 ? 2 : 0;
	if (len <= weak || len >= sizeof(ps->etag_raw))
		return;
	memcpy(ps->etag_raw, text, len);
	ps->etag_raw[len] = '\0';
	memcpy(ps->etag, text + weak, len - weak);
	ps->etag[len - weak] = '\0';
	ps->has_etag = true;
}

static void ms_md(struct dav_ms_parser *p, const char *text)
{
	const char *name = fs_dav_md_from_xml(p->prop_name);

	p->ps.has_md = true;
	if (!p->want_md)
		return;
	if (p->prop_has_child || fs_metadata_validate(name, text) < 0) {
		p->ps.md_invalid++;
		return;
	}
	if (fs_metadata_list_set(&p->ps.md, name, text) < 0)
		ms_fail(p, -ENOMEM, "out of memory");
}

static void ms_property_end(struct dav_ms_parser *p)
{
	const char *text;

	p->state = MS_PROP;
	if (p->prop == MS_P_OTHER || p->prop == MS_P_RESOURCETYPE)
		return;
	text = ms_text_end(p);
	switch (p->prop) {
	case MS_P_LENGTH:
		ms_size(&p->ps, text);
		break;
	case MS_P_MTIME:
		if (fs_dav_parse_http_date(text, &p->ps.mtime_ns))
			p->ps.has_mtime = true;
		break;
	case MS_P_ETAG:
		ms_etag(&p->ps, text);
		break;
	case MS_P_MD:
		ms_md(p, text);
		break;
	default:
		break;
	}
}

/* A propstat ended: its properties count if its status is 2xx. */
static void ms_propstat_end(struct dav_ms_parser *p)
{
	struct dav_entry *e = &p->entry, *ps = &p->ps;
	size_t i;

	p->state = MS_RESPONSE;
	if (p->ps_status >= 200 && p->ps_status < 300) {
		e->collection |= ps->collection;
		if (ps->has_size) {
			e->has_size = true;
			e->size = ps->size;
		}
		if (ps->has_mtime) {
			e->has_mtime = true;
			e->mtime_ns = ps->mtime_ns;
		}
		if (ps->has_etag) {
			e->has_etag = true;
			memcpy(e->etag, ps->etag, sizeof(e->etag));
			memcpy(e->etag_raw, ps->etag_raw, sizeof(e->etag_raw));
		}
		e->has_md |= ps->has_md;
		e->md_invalid += ps->md_invalid;
		for (i = 0; i < ps->md.count; i++) {
			if (fs_metadata_list_set(&e->md, ps->md.items[i].name,
						 ps->md.items[i].value) < 0)
				ms_fail(p, -ENOMEM, "out of memory");
		}
	} else if (p->ps_status != 404 && e->prop_error == 0) {
		e->prop_error = p->ps_status != 0 ? p->ps_status : 500;
	}
	fs_dav_entry_clear(ps);
}

/* ------------------------------------------------------------------------ */
/* SAX callbacks                                                              */

/* Skips the element just opened and everything in it. */
static void ms_skip(struct dav_ms_parser *p)
{
	p->skip_return = p->state;
	p->state = MS_SKIP;
	p->skip_depth = 1;
}

static void ms_start_response(struct dav_ms_parser *p, const xmlChar *uri,
			      const xmlChar *name)
{
	if (ms_dav(uri, name, "href")) {
		p->state = MS_HREF;
		ms_text_start(p);
	} else if (ms_dav(uri, name, "status")) {
		p->state = MS_RSTATUS;
		ms_text_start(p);
	} else if (ms_dav(uri, name, "propstat")) {
		p->state = MS_PROPSTAT;
		p->ps_status = 0;
		fs_dav_entry_clear(&p->ps);
	} else {
		ms_skip(p);
	}
}

static void ms_start_element(void *ctx, const xmlChar *name,
			     const xmlChar *prefix, const xmlChar *uri,
			     int nb_namespaces, const xmlChar **namespaces,
			     int nb_attributes, int nb_defaulted,
			     const xmlChar **attributes)
{
	struct dav_ms_parser *p = ctx;

	switch (p->state) {
	case MS_TOP:
		if (!ms_dav(uri, name, "multistatus"))
			ms_fail(p, -EINVAL, "the body is no DAV:multistatus");
		p->state = MS_MULTISTATUS;
		break;
	case MS_MULTISTATUS:
		if (ms_dav(uri, name, "response")) {
			p->state = MS_RESPONSE;
			fs_dav_entry_clear(&p->entry);
		} else {
			ms_skip(p);
		}
		break;
	case MS_RESPONSE:
		ms_start_response(p, uri, name);
		break;
	case MS_PROPSTAT:
		if (ms_dav(uri, name, "prop")) {
			p->state = MS_PROP;
		} else if (ms_dav(uri, name, "status")) {
			p->state = MS_PSTATUS;
			ms_text_start(p);
		} else {
			ms_skip(p);
		}
		break;
	case MS_PROP:
		ms_property_start(p, uri, name);
		break;
	case MS_PROPERTY:
		p->prop_depth++;
		p->prop_has_child = true;
		if (p->prop == MS_P_RESOURCETYPE && p->prop_depth == 1 &&
		    ms_dav(uri, name, "collection"))
			p->ps.collection = true;
		break;
	case MS_HREF:
	case MS_RSTATUS:
	case MS_PSTATUS:
		ms_fail(p, -EINVAL, "unexpected element in the multistatus");
		break;
	case MS_SKIP:
		p->skip_depth++;
		break;
	}
}

static void ms_end_response(struct dav_ms_parser *p)
{
	int ret;

	p->state = MS_MULTISTATUS;
	if (p->entry.href == NULL) {
		ms_fail(p, -EINVAL, "a <response> without <href>");
		return;
	}
	ret = p->fn(&p->entry, p->context);
	fs_dav_entry_clear(&p->entry);
	if (ret < 0)
		ms_fail(p, ret, NULL);
}

static void ms_end_element(void *ctx, const xmlChar *name,
			   const xmlChar *prefix, const xmlChar *uri)
{
	struct dav_ms_parser *p = ctx;

	switch (p->state) {
	case MS_SKIP:
		if (--p->skip_depth == 0)
			p->state = p->skip_return;
		break;
	case MS_HREF:
		free(p->entry.href);
		p->entry.href = strdup(ms_text_end(p));
		if (p->entry.href == NULL)
			ms_fail(p, -ENOMEM, "out of memory");
		p->state = MS_RESPONSE;
		break;
	case MS_RSTATUS:
		p->entry.status = ms_status_code(ms_text_end(p));
		p->state = MS_RESPONSE;
		break;
	case MS_PSTATUS:
		p->ps_status = ms_status_code(ms_text_end(p));
		p->state = MS_PROPSTAT;
		break;
	case MS_PROPERTY:
		if (p->prop_depth > 0)
			p->prop_depth--;
		else
			ms_property_end(p);
		break;
	case MS_PROP:
		p->state = MS_PROPSTAT;
		break;
	case MS_PROPSTAT:
		ms_propstat_end(p);
		break;
	case MS_RESPONSE:
		ms_end_response(p);
		break;
	case MS_MULTISTATUS:
		p->state = MS_TOP;
		break;
	case MS_TOP:
		break;
	}
}

/* A document type declaration is the only way to declare entities: none
   is accepted. */
static void ms_internal_subset(void *ctx, const xmlChar *name,
			       const xmlChar *external_id,
			       const xmlChar *system_id)
{
	ms_fail(ctx, -EINVAL, "a multistatus with a DTD was refused");
}

static xmlEntityPtr ms_get_entity(void *ctx, const xmlChar *name)
{
	return xmlGetPredefinedEntity(name);
}

static void ms_structured_error(void *ctx, xmlErrorPtr error)
{
	/* Errors show through ctxt->wellFormed; nothing goes to stderr. */
}

int fs_dav_ms_init(bool want_md, dav_entry_fn *fn, void *context,
		   struct dav_ms_parser **parser_r)
{
	xmlSAXHandler sax;
	struct dav_ms_parser *p;

	*parser_r = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = ms_start_element;
	sax.endElementNs = ms_end_element;
	sax.characters = ms_characters;
	sax.cdataBlock = ms_characters;
	sax.internalSubset = ms_internal_subset;
	sax.getEntity = ms_get_entity;
	sax.serror = ms_structured_error;
	xmlInitParser();
	p->ctxt = xmlCreatePushParserCtxt(&sax, p, NULL, 0, NULL);
	if (p->ctxt == NULL) {
		free(p);
		return -ENOMEM;
	}
	xmlCtxtUseOptions(p->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR |
					   XML_PARSE_NOWARNING |
					   XML_PARSE_NOCDATA);
	p->fn = fn;
	p->context = context;
	p->want_md = want_md;
	*parser_r = p;
	return 0;
}

static int ms_result(struct dav_ms_parser *p, int ret, const char **error_r)
{
	if (p->error == 0 && (ret != 0 || !p->ctxt->wellFormed))
		p->error = -EINVAL;
	if (p->error != 0 && error_r != NULL)
		*error_r = p->error_msg != NULL ? p->error_msg
						: "malformed multistatus body";
	return p->error;
}

int fs_dav_ms_feed(struct dav_ms_parser *p, const char *data, size_t size,
		   const char **error_r)
{
	int ret = 0;

	while (p->error == 0 && size > 0) {
		int n = size > 65536 ? 65536 : (int)size;

		ret = xmlParseChunk(p->ctxt, data, n, 0);
		if (ret != 0)
			break;
		data += n;
		size -= (size_t)n;
	}
	return ms_result(p, ret, error_r);
}

int fs_dav_ms_finish(struct dav_ms_parser *p, const char **error_r)
{
	int ret = 0;

	if (p->error == 0)
		ret = xmlParseChunk(p->ctxt, NULL, 0, 1);
	if (p->error == 0 && ret == 0 && p->state != MS_TOP)
		ms_fail(p, -EINVAL, "truncated multistatus body");
	return ms_result(p, ret, error_r);
}

void fs_dav_ms_deinit(struct dav_ms_parser **_p)
{
	struct dav_ms_parser *p = *_p;

	if (p == NULL)
		return;
	*_p = NULL;
	if (p->ctxt != NULL) {
		if (p->ctxt->myDoc != NULL)
			xmlFreeDoc(p->ctxt->myDoc);
		xmlFreeParserCtxt(p->ctxt);
	}
	fs_dav_entry_clear(&p->entry);
	fs_dav_entry_clear(&p->ps);
	free(p->prop_name);
	free(p->text);
	free(p);
}

int fs_dav_ms_parse(const char *data, size_t size, bool want_md,
		    dav_entry_fn *fn, void *context, const char **error_r)
{
	struct dav_ms_parser *p;
	int ret;

	if (size == 0) {
		if (error_r != NULL)
			*error_r = "empty multistatus body";
		return -EINVAL;
	}
	ret = fs_dav_ms_init(want_md, fn, context, &p);
	if (ret < 0) {
		if (error_r != NULL)
			*error_r = "out of memory";
		return ret;
	}
	ret = fs_dav_ms_feed(p, data, size, error_r);
	if (ret == 0)
		ret = fs_dav_ms_finish(p, error_r);
	fs_dav_ms_deinit(&p);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Request bodies                                                             */

#define XML_DECL "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"

char *fs_dav_propfind_body(enum dav_propfind what)
{
	const char *inner;
	char *body;

	switch (what) {
	case DAV_PROPFIND_STAT:
		inner = "<D:prop><D:resourcetype/><D:getcontentlength/>"
			"<D:getlastmodified/><D:getetag/></D:prop>";
		break;
	case DAV_PROPFIND_LIST:
		inner = "<D:prop><D:resourcetype/><D:getetag/></D:prop>";
		break;
	case DAV_PROPFIND_ALLPROP:
		inner = "<D:allprop/>";
		break;
	default:
		inner = "<D:propname/>";
		break;
	}
	if (asprintf(&body,
		     XML_DECL "<D:propfind xmlns:D=\"DAV:\">%s</D:propfind>\n",
		     inner) < 0)
		return NULL;
	return body;
}

void fs_dav_md_to_xml(const char *name, char buf[DAV_MD_ELEM_MAX])
{
	bool escape = name[0] == '_' || name[0] == '-' ||
		      (name[0] >= '0' && name[0] <= '9');

	snprintf(buf, DAV_MD_ELEM_MAX, "%s%s", escape ? "_" : "", name);
}

const char *fs_dav_md_from_xml(const char *elem)
{
	return elem[0] == '_' ? elem + 1 : elem;
}

static int pp_prop(char **buf, size_t *len, const struct fs_metadata *md,
		   bool value)
{
	char elem[DAV_MD_ELEM_MAX];
	int ret;

	fs_dav_md_to_xml(md->name, elem);
	ret = fs_xml_append(buf, len, "<L:");
	if (ret == 0)
		ret = fs_xml_append(buf, len, elem);
	if (!value)
		return ret == 0 ? fs_xml_append(buf, len, "/>") : ret;
	if (ret == 0)
		ret = fs_xml_append(buf, len, ">");
	if (ret == 0)
		ret = fs_xml_append_escaped(buf, len, md->value);
	if (ret == 0)
		ret = fs_xml_append(buf, len, "</L:");
	if (ret == 0)
		ret = fs_xml_append(buf, len, elem);
	if (ret == 0)
		ret = fs_xml_append(buf, len, ">");
	return ret;
}

/* Appends <D:set> (values) or <D:remove> of the list, if not empty. */
static int pp_list(char **buf, size_t *len, const struct fs_metadata_list *list,
		   bool set)
{
	size_t i;
	int ret;

	if (list == NULL || list->count == 0)
		return 0;
	ret = fs_xml_append(buf, len,
			    set ? "<D:set><D:prop>" : "<D:remove><D:prop>");
	for (i = 0; i < list->count && ret == 0; i++)
		ret = pp_prop(buf, len, &list->items[i], set);
	if (ret == 0)
		ret = fs_xml_append(buf, len,
				    set ? "</D:prop></D:set>"
					: "</D:prop></D:remove>");
	return ret;
}

int fs_dav_proppatch_body(const struct fs_metadata_list *set,
			  const struct fs_metadata_list *remove, char **body_r,
			  size_t *size_r)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = fs_xml_append(&buf, &len,
			    XML_DECL "<D:propertyupdate xmlns:D=\"DAV:\" "
				     "xmlns:L=\"" DAV_MD_NS "\">");
	if (ret == 0)
		ret = pp_list(&buf, &len, remove, false);
	if (ret == 0)
		ret = pp_list(&buf, &len, set, true);
	if (ret == 0)
		ret = fs_xml_append(&buf, &len, "</D:propertyupdate>\n");
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*body_r = buf;
	*size_r = len;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Dates                                                                      */

static const char *const ms_months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static int ms_month(const char *mon)
{
	int i;

	for (i = 0; i < 12; i++) {
		if (strcmp(ms_months[i], mon) == 0)
			return i;
	}
	return -1;
}

bool fs_dav_parse_http_date(const char *value, int64_t *ns_r)
{
	struct tm tm = {0};
	char mon[8], wday[16];
	int day, year, h, m, s, month;
	const char *comma = strchr(value, ',');
	time_t t;

	while (*value == ' ' || *value == '\n' || *value == '\t')
		value++;
	if (comma != NULL && sscanf(comma + 1, " %d %3s %d %d:%d:%d", &day, mon,
				    &year, &h, &m, &s) == 6) {
		/* IMF-fixdate */
	} else if (comma != NULL && sscanf(comma + 1, " %d-%3s-%d %d:%d:%d",
					   &day, mon, &year, &h, &m, &s) == 6) {
		year += year < 70 ? 2000 : 1900; /* RFC 850 */
	} else if (sscanf(value, "%15s %3s %d %d:%d:%d %d", wday, mon, &day, &h,
			  &m, &s, &year) != 7) {
		return false; /* not asctime either */
	}
	month = ms_month(mon);
	if (month < 0 || day < 1 || day > 31 || year < 1970 || h > 23 ||
	    m > 59 || s > 60)
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = month;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = s;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*ns_r = (int64_t)t * 1000000000;
	return true;
}
