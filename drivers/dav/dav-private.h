/*
 * The WebDAV driver's private declarations, shared by its files:
 *   dav.c        spec, credentials, authentication, requests, vtable
 *   propfind.c   the multistatus parser and the XML request bodies
 *   dav-ops.c    GET, PROPFIND Depth 0 (stat, exists, metadata), DELETE,
 *                COPY and MOVE, the MKCOL chain and empty collections
 *   dav-write.c  PUT (buffered or streamed), temporary names, MOVE
 *   dav-list.c   listings by PROPFIND Depth 1, and delete_prefix
 *
 * Keys map to URLs below the spec's base collection one to one: "a/b/c" is
 * BASE/a/b/c, with every byte but the unreserved ones and '/' percent-
 * encoded; "a/" and "a/b/" are collections the driver creates on demand.
 */
#ifndef LIBFS_DAV_PRIVATE_H
#define LIBFS_DAV_PRIVATE_H

#include "http.h"
#include "libfs/driver.h"

#define DAV_NS "DAV:"
/* The namespace of the dead properties that hold libfs metadata: metadata
   name=value is <name xmlns="urn:libfs:metadata">value</name>. */
#define DAV_MD_NS "urn:libfs:metadata"
/* Names of the driver's own temporary objects (reserved: no key can use
   them, listings skip them). */
#define DAV_TMP_PREFIX FS_RESERVED_PREFIX "tmp-"
#define DAV_PROBE_PREFIX FS_RESERVED_PREFIX "probe-"
/* Random hex digits of a temporary name, and the longest its last segment
   gets: keys are kept this much shorter than FS_KEY_MAX (plus one byte for
   servers that escape reserved names, as fs-mockserver does), so that a
   temporary name next to any key fits where keys of FS_KEY_MAX bytes do. */
#define DAV_TMP_RANDOM 12
#define DAV_TMP_ROOM (sizeof(DAV_TMP_PREFIX) - 1 + DAV_TMP_RANDOM)

/* Bytes of an object kept in memory before the PUT starts streaming. */
#define DAV_DEFAULT_BUFFER (1024 * 1024)
/* Collections remembered as existing (forgotten all at once when full). */
#define DAV_COLS_MAX 4096
/* Longest text of one element of a multistatus body we keep. */
#define DAV_TEXT_MAX (64 * 1024)

enum dav_auth {
	DAV_AUTH_NONE = 0, /* nothing sent (no password, or not asked yet) */
	DAV_AUTH_BASIC,
	DAV_AUTH_DIGEST,
	DAV_AUTH_ANY, /* configuration only: what the server asks for */
};

enum dav_tri {
	DAV_UNKNOWN = 0,
	DAV_YES,
	DAV_NO,
};

struct dav_digest {
	char *realm, *nonce, *opaque;
	bool sha256; /* algorithm SHA-256, else MD5 */
	bool qop_auth;
	unsigned int nc;
};

/* A set of strings (collection paths known to exist). */
struct dav_set {
	char **items;
	size_t count, alloc;
};

struct dav_fs {
	struct fs fs;
	struct fs_http *http;

	char *origin;	    /* "http://host:port", no '/' at the end */
	char *base_path;    /* encoded "/path/" of the base collection */
	char *base_decoded; /* the same, decoded, to compare hrefs with */
	char *host;	    /* for ~/.netrc */
	char *user, *password;

	enum dav_auth auth_mode; /* configured */
	enum dav_auth auth;	 /* what is sent now */
	struct dav_digest digest;

	/* create=: If-None-Match: * honoured on PUT (UNKNOWN: probe once);
	   replace=move: REPLACE through a temporary name too. */
	enum dav_tri inm;
	bool replace_move;
	/* Off with metadata=0, or once the server refused PROPPATCH. */
	bool metadata;
	bool rmdir;
	size_t buffer_max;

	struct dav_set cols;
	/* Background DELETEs of temporary objects left by aborted writes. */
	struct dav_bg **bg;
	size_t bg_count, bg_alloc;
	/* fs_delete_prefix() runs: deletes leave empty collections to the
	   sweep at its end. */
	bool in_delete_prefix;
};

/* Who a request reports its progress to. */
struct dav_ctx {
	struct dav_fs *fs;
	struct fs_file *file;
	struct fs_iter *iter;
	/* Set for background requests: freed when they complete. */
	bool background;
};

/* A request nobody waits for (the DELETE of a temporary object). */
struct dav_bg {
	struct dav_ctx ctx;
	struct fs_http_request *req;
};

/* What a file's one-shot request is doing. */
enum dav_step {
	DAV_STEP_NONE = 0,
	DAV_STEP_PROPFIND, /* stat, exists, metadata, checks */
	DAV_STEP_DELETE,
	DAV_STEP_DELETE_CHECK, /* DELETE refused: is it a collection? */
	DAV_STEP_RMDIR_LIST,
	DAV_STEP_RMDIR,
	DAV_STEP_MKCOL,
	DAV_STEP_PRIME,	     /* OPTIONS: learn the auth scheme */
	DAV_STEP_PRECHECK,   /* PROPFIND propname: stale metadata? */
	DAV_STEP_PROBE_PUT1, /* If-None-Match probe */
	DAV_STEP_PROBE_PUT2,
	DAV_STEP_PROBE_DELETE,
	DAV_STEP_PUT,	     /* memory body */
	DAV_STEP_PUT_STREAM, /* streamed body: file->put_req */
	DAV_STEP_VERIFY,     /* GET after a retried If-None-Match PUT */
	DAV_STEP_PROPPATCH,
	DAV_STEP_MOVE,	      /* temporary object into place */
	DAV_STEP_MOVE_CHECK,  /* MOVE without a reply: did it happen? */
	DAV_STEP_TMP_DELETE,  /* failed write: remove the temporary */
	DAV_STEP_COPY_CHECK,  /* PROPFIND of the copy source */
	DAV_STEP_COPY,	      /* COPY source to a temporary */
	DAV_STEP_RENAME,      /* MOVE source to destination */
	DAV_STEP_RENAME_CHECK /* MOVE refused: is the source a collection? */
};

/* A parsed <response> of a multistatus. */
struct dav_entry {
	char *href;	/* as sent */
	int status;	/* the response's own <status>, 0 if none */
	int prop_error; /* first propstat status >= 300 but 404, or 0 */
	bool collection;
	bool has_size, has_mtime, has_etag;
	uint64_t size;
	int64_t mtime_ns;
	char etag[FS_ETAG_MAX];	    /* without a weak marker */
	char etag_raw[FS_ETAG_MAX]; /* as sent, for If headers */
	/* Properties in DAV_MD_NS with a 2xx status: their values (when the
	   parser was asked for them), and whether any were listed. */
	struct fs_metadata_list md;
	bool has_md;
	/* Other dead properties of DAV_MD_NS that are no valid metadata. */
	unsigned int md_invalid;
};

struct dav_file {
	struct fs_file file;
	struct dav_ctx ctx;

	/* The one-shot request of the current step, and its body. */
	struct fs_http_request *req;
	char *body;
	enum dav_step step;
	bool auth_retried;
	long saved_status; /* of a failure a check step looks into */

	/* Reading. */
	struct fs_http_request *read_req;
	bool read_done, read_auth_retried, read_checked;
	/* A server may ignore Range and send the whole object (200): the
	   range is then cut here. */
	uint64_t read_skip, read_left;

	/* The MKCOL chain before a write, copy or rename: collections still
	   to create, from the top; the step to go back to; whether one was
	   created. */
	char **mkcol;
	size_t mkcol_count, mkcol_pos;
	enum dav_step mkcol_then;
	enum fs_op mkcol_op;
	bool mkcol_created, mkcol_checking, parents_done, parents_retried;

	/* Writing: bytes kept until the PUT, or the streamed PUT. */
	unsigned char *buf;
	size_t len, alloc, buf_sent;
	struct fs_http_request *put_req;
	bool decided, use_tmp, streaming, stream_ended;
	bool precheck_done, stale_md, primed;
	char *tmp;	 /* key of the temporary object, if any */
	bool tmp_exists; /* it may exist on the server */
	int fail_err;	 /* kept while the temporary is removed */
	char *fail_msg;
	char probe_key[64];

	/* Empty collections to remove after a delete or rename. */
	char *rmdir_key;
	char rmdir_etag[FS_ETAG_MAX];

	/* The last PROPFIND's entry (stat, metadata, checks). */
	struct dav_entry entry;
	bool entry_found;
};

struct dav_level;

struct dav_iter {
	struct fs_iter iter;
	struct dav_ctx ctx;
	struct fs_http_request *req; /* the PROPFIND in flight */
	char *req_body;
	bool auth_retried;
	/* Depth-first walk: one level per collection being listed. */
	struct dav_level **levels;
	size_t depth, alloc;
	/* ONE_LEVEL: the collection whose emptiness is being checked. */
	size_t probe_depth; /* 0: none */
	char *key;	    /* the key returned last */
	char *start_dir;    /* the collection the prefix lies in */
	bool started;
};

#define DAV_FS(_fs) FS_CONTAINER_OF(_fs, struct dav_fs, fs)
#define DAV_FILE(_file) FS_CONTAINER_OF(_file, struct dav_file, file)
#define DAV_ITER(_iter) FS_CONTAINER_OF(_iter, struct dav_iter, iter)

/* --- dav.c: URLs, requests, errors --- */

/* Percent-encodes str for a URL path ('/' kept). Returns a new string or
   NULL. */
char *fs_dav_encode(const char *str);
/* The URL of key ("" is the base collection); collections get a '/'.
   Returns a new string or NULL. */
char *fs_dav_url(struct dav_fs *fs, const char *key, bool collection);
/* Maps a multistatus href (an absolute URL, an absolute path, or a path
   relative to the collection dir, "" or "a/b/", if dir is not NULL) to a
   key relative to the base collection (without a trailing '/'): 1 and
   *key_r (free() it), 0 if it is the base itself, or -EINVAL if it is
   outside the base or malformed. */
int fs_dav_href_key(struct dav_fs *fs, const char *href, const char *dir,
		    char **key_r);

/* Creates a request for method on url (taken; NULL: out of memory) with
   the driver's callbacks and ctx as context. Returns 0 or -errno. */
int fs_dav_request_new(struct dav_ctx *ctx, enum fs_op op, const char *method,
		       char *url, struct fs_http_request **req_r);
/* Starts req, or frees it and returns the -errno it could not start with. */
int fs_dav_request_start(struct fs_http_request **req);
/* Looks at a finished request that failed with 401: learns the server's
   challenge. Returns true if a new attempt may now succeed. */
bool fs_dav_auth_learn(struct dav_fs *fs, struct fs_http_request *req);
/* True if req (done) failed with 401 and may be started again with new
   credentials; sets *retried. */
bool fs_dav_auth_retry(struct dav_fs *fs, struct fs_http_request *req,
		       bool *retried);
/* Formats the failure of a finished request: "WHAT KEY: HTTP 409 ...
   (dav)". Returns its -errno. */
int fs_dav_request_error(struct fs_http_request *req, const char *what,
			 const char *key, char *buf, size_t size);
int fs_dav_file_error(struct fs_file *file, struct fs_http_request *req,
		      const char *what);
/* Starts a DELETE of key that nobody waits for (a temporary object). */
void fs_dav_bg_delete(struct dav_fs *fs, const char *key);
/* Random hex for temporary names: size - 1 characters. */
void fs_dav_random_hex(char *buf, size_t size);

/* Sorted string sets. */
void fs_dav_set_add(struct dav_set *set, const char *str);
void fs_dav_set_clear(struct dav_set *set);
/* Collections known to exist ("a/", "a/b/"). */
bool fs_dav_col_known(struct dav_fs *fs, const char *col);
void fs_dav_col_add(struct dav_fs *fs, const char *col);
void fs_dav_col_forget(struct dav_fs *fs, const char *col);

/* --- propfind.c --- */

struct dav_ms_parser;
/* Called for each <response>; returns 0, or -errno to stop parsing. */
typedef int dav_entry_fn(struct dav_entry *entry, void *context);

/* A streaming multistatus parser. want_md: keep the values of DAV_MD_NS
   properties. Returns 0 or -ENOMEM. */
int fs_dav_ms_init(bool want_md, dav_entry_fn *fn, void *context,
		   struct dav_ms_parser **parser_r);
/* Feeds size bytes. Returns 0, -EINVAL (malformed, with *error_r) or the
   callback's -errno. */
int fs_dav_ms_feed(struct dav_ms_parser *parser, const char *data, size_t size,
		   const char **error_r);
/* Ends the document. Returns as fs_dav_ms_feed(). */
int fs_dav_ms_finish(struct dav_ms_parser *parser, const char **error_r);
void fs_dav_ms_deinit(struct dav_ms_parser **parser);
/* Parses a whole body. */
int fs_dav_ms_parse(const char *data, size_t size, bool want_md,
		    dav_entry_fn *fn, void *context, const char **error_r);
void fs_dav_entry_clear(struct dav_entry *entry);

/* Request bodies (NUL-terminated, free() them). */
enum dav_propfind {
	DAV_PROPFIND_STAT,    /* resourcetype, size, mtime, etag */
	DAV_PROPFIND_LIST,    /* resourcetype, etag */
	DAV_PROPFIND_ALLPROP, /* everything, dead properties included */
	DAV_PROPFIND_PROPNAME,
};
char *fs_dav_propfind_body(enum dav_propfind what);
/* Metadata names as element names in DAV_MD_NS: XML names cannot start with
   a digit or '-', so those, and names starting with '_', get a '_' in
   front. */
#define DAV_MD_ELEM_MAX (FS_METADATA_NAME_MAX + 2)
void fs_dav_md_to_xml(const char *name, char buf[DAV_MD_ELEM_MAX]);
/* The metadata name of an element name (a pointer into elem). */
const char *fs_dav_md_from_xml(const char *elem);
/* Sets the metadata of set, removes the names of remove. Returns 0 and the
   body, -EINVAL (a value XML cannot carry) or -ENOMEM. */
int fs_dav_proppatch_body(const struct fs_metadata_list *set,
			  const struct fs_metadata_list *remove, char **body_r,
			  size_t *size_r);
/* Parses an HTTP date (IMF-fixdate, RFC 850 or asctime). */
bool fs_dav_parse_http_date(const char *value, int64_t *ns_r);

/* --- dav-ops.c --- */

ssize_t fs_dav_read(struct fs_file *file, void *buf, size_t size);
int fs_dav_stat(struct fs_file *file, struct fs_stat *st_r);
int fs_dav_exists(struct fs_file *file);
int fs_dav_get_metadata(struct fs_file *file);
int fs_dav_delete(struct fs_file *file);
int fs_dav_copy(struct fs_file *src, struct fs_file *dst);
int fs_dav_rename(struct fs_file *src, struct fs_file *dst);

/* Ends the file's one-shot request: frees it (and its body), clears the
   step, returns ret. */
int fs_dav_req_done(struct dav_file *file, int ret);
/* Creates file->req for method on url (taken; NULL: out of memory).
   Returns 0 or -errno. */
int fs_dav_file_new(struct dav_file *file, enum fs_op op, const char *method,
		    char *url);
/* Gives file->req an XML body (taken). Returns 0 or -errno. */
int fs_dav_file_body(struct dav_file *file, char *body);
/* Starts file->req as step if ret is 0: returns -EAGAIN; else frees it and
   returns ret with the message "WHAT KEY: cannot start". */
int fs_dav_file_go(struct dav_file *file, enum dav_step step, int ret,
		   const char *what);
/* Starts a PROPFIND Depth 0 of key as step. */
int fs_dav_propfind_start(struct dav_file *file, enum dav_step step,
			  enum fs_op op, const char *key,
			  enum dav_propfind what);
/* Parses the finished PROPFIND into file->entry. Returns 0 (found, an
   object or a collection), -ENOENT or -errno with the message set. */
int fs_dav_propfind_result(struct dav_file *file, const char *what,
			   bool want_md);
/* The MKCOL chain for the parents of key: returns 0 when they are all
   known to exist, -EAGAIN while a MKCOL runs (then comes back through
   fs_dav_mkcol_next() with the step `then`), or -errno. */
int fs_dav_parents_start(struct dav_file *file, const char *key,
			 enum dav_step then, enum fs_op op, bool force);
/* Called when the MKCOL step's request is done: 0 once the chain is done
   (file->step is then the `then` step, without request), -EAGAIN, or
   -errno. */
int fs_dav_mkcol_next(struct dav_file *file);
void fs_dav_mkcol_clear(struct dav_file *file);
/* Removes the collections left empty above key (when rmdir is on): -EAGAIN
   while it runs (then fs_dav_rmdir_next() when the request is done), 0
   when done (failures are ignored: they leave an empty collection). */
int fs_dav_rmdir_start(struct dav_file *file, const char *key, enum fs_op op);
int fs_dav_rmdir_next(struct dav_file *file, enum fs_op op);
/* "a/b/" of "a/b/c", or NULL (top level or out of memory). */
char *fs_dav_parent(const char *key);

/* --- dav-write.c --- */

ssize_t fs_dav_write(struct fs_file *file, const void *data, size_t size);
int fs_dav_write_finish(struct fs_file *file);
void fs_dav_write_abort(struct fs_file *file);
/* A new temporary key next to key. Returns a new string or NULL. */
char *fs_dav_tmp_key(const char *key);

/* --- dav-list.c --- */

int fs_dav_iter_init(struct fs_iter *iter);
int fs_dav_iter_next(struct fs_iter *iter, const char **key_r);
void fs_dav_iter_deinit(struct fs_iter *iter);
int fs_dav_delete_prefix(struct fs *fs, const char *prefix);

#endif
