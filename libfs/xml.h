/*
 * libfs private: small libxml2 helpers for the HTTP drivers (S3 replies,
 * WebDAV multistatus bodies).
 *
 * Replies come from the network and are untrusted: documents are parsed
 * without network access, without loading external DTDs or entities, without
 * substituting entities, within libxml2's default size limits, and any
 * document that declares a DTD is refused outright (neither S3 nor WebDAV
 * servers send one, and a DTD is the only way to declare entities).
 *
 * Element names are matched by local name, ignoring namespaces: S3 replies
 * come with and without the "http://s3.amazonaws.com/doc/2006-03-01/"
 * namespace, WebDAV ones with "DAV:" under any prefix.
 */
#ifndef LIBFS_XML_H
#define LIBFS_XML_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

/* Largest document fs_xml_parse() accepts. */
#define FS_XML_MAX_SIZE (16 * 1024 * 1024)

/* Parses size bytes at data. Returns 0 and sets *doc_r (free with
   xmlFreeDoc()), -EINVAL (not well-formed, has a DTD, empty or over
   FS_XML_MAX_SIZE; then, if error_r is not NULL, *error_r is a static
   message) or -ENOMEM. */
int fs_xml_parse(const char *data, size_t size, xmlDocPtr *doc_r,
		 const char **error_r);

/* Returns the root element of doc if its local name is name (NULL: any),
   else NULL. */
xmlNodePtr fs_xml_root(xmlDocPtr doc, const char *name);

/* Returns true if node is an element with local name name. */
bool fs_xml_is(const xmlNode *node, const char *name);

/* Returns the first child element of parent with local name name (NULL:
   any element), or NULL. */
xmlNodePtr fs_xml_child(const xmlNode *parent, const char *name);

/* Returns the next sibling element after node with local name name (NULL:
   any element), or NULL. */
xmlNodePtr fs_xml_next(const xmlNode *node, const char *name);

/* Returns the text content of node as a new string (free() it), or NULL if
   out of memory. */
char *fs_xml_text(const xmlNode *node);

/* Returns the text of parent's first child element name as a new string
   (free() it), or NULL if there is no such child or out of memory. */
char *fs_xml_child_text(const xmlNode *parent, const char *name);

/* Appends str to the buffer *buf (of *len bytes, NUL-terminated, growing with
   realloc) with &, <, >, " and ' escaped for element text and attribute
   values. Control bytes other than tab, CR and LF cannot appear in XML 1.0
   and give -EINVAL. Returns 0, -EINVAL or -ENOMEM. */
int fs_xml_append_escaped(char **buf, size_t *len, const char *str);

/* Appends the string str to *buf as fs_xml_append_escaped(), unescaped.
   Returns 0 or -ENOMEM. */
int fs_xml_append(char **buf, size_t *len, const char *str);

#endif
