/*
 * The mock server's WebDAV front end (RFC 4918 class 1, dead properties),
 * over the same request handling, fault rules and counters as the S3 one.
 *
 * Paths map to keys of the backing store one to one ("/a/b/c" is the key
 * "a/b/c"), so the store stays readable by any libfs client. Segments libfs
 * reserves (".libfs-..." and ".libfs~...-...") are stored with one more
 * '~' after ".libfs". Collections are the key prefixes that have objects
 * below them, plus the ones made by MKCOL or left empty by a DELETE or MOVE,
 * which the server keeps in memory (with their dead properties).
 *
 * Dead properties of objects are libfs metadata of the stored object:
 *   NAME        a property <NAME> in the libfs namespace (urn:libfs:metadata,
 *               the driver's metadata) whose value is text a metadata value
 *               can hold; element names starting with '_' lose it ("_1x" is
 *               metadata "1x": XML names cannot start with a digit or '-')
 *   -p          every other dead property, serialized (see dav-props.c)
 *   -ct         the Content-Type of the PUT
 * A PROPPATCH rewrites the object with its new metadata (libfs has no
 * other way to change it), atomically. A PUT replaces an object with its
 * properties: the old ones go (Apache mod_dav_fs keeps them; RFC 4918
 * leaves it to the server). COPY and MOVE take them along.
 *
 * Authentication: Basic and/or Digest (RFC 7616, MD5 or SHA-256, qop=auth,
 * stateless keyed nonces valid for 5 minutes) against the server's
 * credentials (access key = user name, secret = password).
 *
 * Fault rules and counters see the WebDAV operations as op=Options, Get,
 * Head, Put, Delete, Mkcol, Copy, Move, Propfind or Proppatch, and key= as
 * the decoded path without its leading '/' ("a/b"); bucket= never matches.
 * No locks (class 1): LOCK and UNLOCK get 405. PROPFIND with Depth
 * infinity gets 403 (propfind-finite-depth), as Apache's default.
 */
#ifndef LIBFS_MOCK_DAV_H
#define LIBFS_MOCK_DAV_H

#include <libxml/tree.h>

#include "mock-private.h"

#define DAV_MOCK_NS "DAV:"
#define DAV_MOCK_MD_NS "urn:libfs:metadata"
#define DAV_MOCK_MD_PROPS "-p"
#define DAV_MOCK_MD_CTYPE "-ct"
/* A quoted ETag. */
#define DAV_MOCK_ETAG_MAX (FS_ETAG_MAX + 2)
/* XML request bodies (PROPFIND, PROPPATCH) kept in memory at most. */
#define DAV_MOCK_XML_MAX (1024 * 1024)

enum dav_mock_auth {
	DAV_MOCK_AUTH_ANY = 0, /* both offered */
	DAV_MOCK_AUTH_BASIC,
	DAV_MOCK_AUTH_DIGEST,
	DAV_MOCK_AUTH_NONE,
};

/* A collection the server remembers (made by MKCOL, or left empty). */
struct dav_mock_col {
	char *path; /* "a/b", no trailing '/' */
	struct fs_metadata_list props;
};

struct mock_dav {
	enum dav_mock_auth auth;
	unsigned char secret[32]; /* signs Digest nonces */
	int64_t start_time;
	/* Sorted by path; guarded by the fs lock. */
	struct dav_mock_col **cols;
	size_t cols_count, cols_alloc;
};

/* What a request is to the WebDAV front end (req->ctx). */
struct dav_mock_req {
	char *path; /* decoded, no leading or trailing '/'; "" is the root */
	bool trailing_slash;
	/* PUT: the object being written. */
	struct fs_file *wfile;
	bool created, write_failed;
	/* XML bodies. */
	struct mock_buf body;
	bool body_too_big;
	void (*run)(struct mock_request *req);
};

enum dav_res {
	DAV_RES_NONE,
	DAV_RES_OBJECT,
	DAV_RES_COLLECTION,
};

static inline struct dav_mock_req *dav_req(struct mock_request *req)
{
	return req->ctx;
}

/* --- Hooks for mock.c --- */

/* Sets up the WebDAV front end for set->dav. Returns NULL, or a message the
   caller frees. */
char *dav_mock_init(struct fs_mock *mock, const struct fs_mock_settings *set);
void dav_mock_free(struct fs_mock *mock);
/* Fills req->op and req->key. Returns 0, or -1 after replying. */
int dav_request_route(struct mock_request *req);
/* Authenticates and handles the request (or sets up its body). */
void dav_request_begin(struct mock_request *req);

/* --- dav-mock.c: paths, the store, collections, replies --- */

/* The store key of a path (reserved segments escaped); NULL if it cannot
   be one (or out of memory). */
char *dav_mock_key(const char *path);
/* The path of a store key, for hrefs. */
char *dav_mock_unkey(const char *key);
/* "/a%20b/c" (plus '/' for collections) for hrefs. */
void dav_mock_href(struct mock_buf *buf, const char *path, bool collection);
/* "/a/b/" -> "a/b" (trailing_r: it had a '/'), decoded; NULL if malformed
   (a bad escape, %00, an empty, "." or ".." segment). */
char *dav_mock_request_path(const char *raw, bool *trailing_r);
/* The parent of path ("a" of "a/b", "" at the top), or NULL. */
char *dav_mock_parent(const char *path);

/* With the fs lock held: what path is. st_r (may be NULL) gets an object's
   stat. */
enum dav_res dav_mock_lookup(struct fs_mock *mock, const char *path,
			     struct fs_stat *st_r);
/* Remembered collections (fs lock held). */
struct dav_mock_col *dav_mock_col_find(struct fs_mock *mock, const char *path);
struct dav_mock_col *dav_mock_col_add(struct fs_mock *mock, const char *path);
/* Forgets path and everything below it. */
void dav_mock_col_remove_tree(struct fs_mock *mock, const char *path);
/* The ETag of a collection: changes when its members do. */
void dav_mock_col_etag(struct fs_mock *mock, const char *path,
		       char etag_r[DAV_MOCK_ETAG_MAX]);
/* Calls fn for each direct member of collection path: name (a path
   relative to nothing: the member's full path) and whether it is a
   collection. Returns 0 or -errno. */
typedef int dav_mock_member_fn(struct fs_mock *mock, const char *path,
			       bool collection, void *context);
int dav_mock_members(struct fs_mock *mock, const char *path,
		     dav_mock_member_fn *fn, void *context);
/* Deletes path and everything below (fs lock held). Returns 0 or -errno. */
int dav_mock_delete_tree(struct fs_mock *mock, const char *path);

/* Replies with status and a short text body. */
void dav_mock_reply(struct mock_request *req, unsigned int status,
		    const char *text);
/* Replies 500/507/404... for a libfs error of what. */
void dav_mock_fail_fs(struct mock_request *req, int err, const char *what);
/* Parses an XML request body: NULL after replying 400. */
xmlDocPtr dav_mock_parse_xml(struct mock_request *req);
/* Checks the If header against path (an ETag condition; a lock token never
   matches, there are no locks). Returns true if the request may go on. */
bool dav_mock_if_ok(struct mock_request *req, const char *path);

/* --- dav-methods.c --- */

void dav_mock_options(struct mock_request *req);
void dav_mock_get(struct mock_request *req);
void dav_mock_put_begin(struct mock_request *req);
void dav_mock_delete(struct mock_request *req);
void dav_mock_mkcol(struct mock_request *req);
void dav_mock_copymove(struct mock_request *req);

/* --- dav-props.c --- */

void dav_mock_propfind(struct mock_request *req);
void dav_mock_proppatch(struct mock_request *req);
/* Copies the dead properties (and everything else) of a collection. */
int dav_mock_props_copy(struct fs_metadata_list *dst,
			const struct fs_metadata_list *src);

/* --- dav-auth.c --- */

/* Returns true if the request carries valid credentials (or none are
   needed); else replies 401 with the challenges and returns false. */
bool dav_mock_authenticate(struct mock_request *req);

#endif
