/*
 * libxml2 helpers: see xml.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "xml.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_global_init(void)
{
	xmlInitParser();
}

/* The only way to declare entities is a DTD: refuse documents with one
   before libxml2 looks at it. */
static bool xml_has_doctype(const char *data, size_t size)
{
	return memmem(data, size, "<!DOCTYPE", 9) != NULL ||
	       memmem(data, size, "<!ENTITY", 8) != NULL;
}

int fs_xml_parse(const char *data, size_t size, xmlDocPtr *doc_r,
		 const char **error_r)
{
	/* No XML_PARSE_NOENT (entity substitution), XML_PARSE_DTDLOAD,
	   XML_PARSE_DTDATTR, XML_PARSE_XINCLUDE or XML_PARSE_HUGE: libxml2
	   2.9 has no XML_PARSE_NO_XXE, these defaults are what keeps external
	   entities out. */
	const int options = XML_PARSE_NONET | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
	const char *error = NULL;
	xmlDocPtr doc;

	*doc_r = NULL;
	if (size == 0)
		error = "empty XML document";
	else if (size > FS_XML_MAX_SIZE || size > INT32_MAX)
		error = "XML document too large";
	else if (xml_has_doctype(data, size))
		error = "XML document with a DTD refused";
	if (error != NULL) {
		if (error_r != NULL)
			*error_r = error;
		return -EINVAL;
	}
	(void)pthread_once(&xml_once, xml_global_init);
	doc = xmlReadMemory(data, (int)size, NULL, NULL, options);
	if (doc == NULL || doc->intSubset != NULL || doc->extSubset != NULL) {
		if (doc != NULL)
			xmlFreeDoc(doc);
		if (error_r != NULL)
			*error_r = "malformed XML document";
		return -EINVAL;
	}
	*doc_r = doc;
	return 0;
}

bool fs_xml_is(const xmlNode *node, const char *name)
{
	return node != NULL && node->type == XML_ELEMENT_NODE &&
	       (name == NULL || strcmp((const char *)node->name, name) == 0);
}

xmlNodePtr fs_xml_root(xmlDocPtr doc, const char *name)
{
	xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;

	return fs_xml_is(root, name) ? root : NULL;
}

static xmlNodePtr xml_find(xmlNodePtr node, const char *name)
{
	for (; node != NULL; node = node->next) {
		if (fs_xml_is(node, name))
			return node;
	}
	return NULL;
}

xmlNodePtr fs_xml_child(const xmlNode *parent, const char *name)
{
	return parent != NULL ? xml_find(parent->children, name) : NULL;
}

xmlNodePtr fs_xml_next(const xmlNode *node, const char *name)
{
	return node != NULL ? xml_find(node->next, name) : NULL;
}

char *fs_xml_text(const xmlNode *node)
{
	xmlChar *content = xmlNodeGetContent(node);
	char *text;

	text = strdup(content != NULL ? (const char *)content : "");
	xmlFree(content);
	return text;
}

char *fs_xml_child_text(const xmlNode *parent, const char *name)
{
	xmlNodePtr child = fs_xml_child(parent, name);

	return child != NULL ? fs_xml_text(child) : NULL;
}

static int xml_append_len(char **buf, size_t *len, const char *str, size_t n)
{
	char *p = realloc(*buf, *len + n + 1);

	if (p == NULL)
		return -ENOMEM;
	memcpy(p + *len, str, n);
	*len += n;
	p[*len] = '\0';
	*buf = p;
	return 0;
}

int fs_xml_append(char **buf, size_t *len, const char *str)
{
	return xml_append_len(buf, len, str, strlen(str));
}

static const char *xml_entity(unsigned char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&apos;";
	case '\r':
		return "&#13;"; /* a raw CR would be normalised away */
	default:
		return NULL;
	}
}

int fs_xml_append_escaped(char **buf, size_t *len, const char *str)
{
	const char *p, *run = str, *ent;
	int ret;

	for (p = str; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return -EINVAL;
		if ((ent = xml_entity(c)) == NULL)
			continue;
		ret = xml_append_len(buf, len, run, (size_t)(p - run));
		if (ret == 0)
			ret = fs_xml_append(buf, len, ent);
		if (ret < 0)
			return ret;
		run = p + 1;
	}
	return xml_append_len(buf, len, run, (size_t)(p - run));
}
