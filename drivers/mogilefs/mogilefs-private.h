/*
 * The MogileFS driver's private declarations, shared by its files:
 *   tracker.c          the tracker client: line protocol, URL encoding,
 *                      persistent non-blocking connections, fail-over
 *   mogilefs.c         spec, event loop, stat, delete, rename, vtable
 *   mogilefs-read.c    get_paths, then GET on each path in turn
 *   mogilefs-write.c   spool, create_open, PUT, create_close
 *   mogilefs-list.c    list_keys paging, one-level grouping, delete_prefix
 *
 * The protocol and the real server's quirks are described in
 * MOGILEFS.md (shared protocol notes); the comments here say what the
 * driver does about them.
 */
#ifndef LIBFS_MOGILEFS_PRIVATE_H
#define LIBFS_MOGILEFS_PRIVATE_H

#include <openssl/evp.h>
#include <poll.h>

#include "http.h"
#include "libfs/driver.h"

/* Cross-file helpers stay inside the library. */
#if defined(__GNUC__) || defined(__clang__)
#define MFS_HIDDEN __attribute__((visibility("hidden")))
#else
#define MFS_HIDDEN
#endif

/* The tracker's dkey column is VARCHAR(255): longer keys cannot exist. */
#define MFS_KEY_MAX 255
/* Keys per list_keys page: the tracker's maximum. */
#define MFS_LIST_LIMIT 1000
/* A tracker that refused a connection is skipped this long (as the Perl
   client does). */
#define MFS_DEAD_USECS (5 * 1000000ULL)
/* Tracker connections per fs; more requests are pipelined on them. */
#define MFS_MAX_CONNS 4
/* A write is spooled in memory up to this size, then in a temporary file. */
#define MFS_SPOOL_MEMORY (1024 * 1024)
/* Paths asked for in get_paths. */
#define MFS_PATHCOUNT 3
/* create_open + PUT + create_close attempts of one write. */
#define MFS_WRITE_ATTEMPTS 3
/* Most destinations create_open gives with multi_dest=1. */
#define MFS_MAX_DESTS 3
/* Default timeouts (fs.h): connect and stall (no reply byte for so long). */
#define MFS_DEFAULT_CONNECT_MS 10000
#define MFS_DEFAULT_STALL_MS 30000
#define MFS_DEFAULT_TOTAL_MS 300000

/* ------------------------------------------------------------------------ */
/* tracker.c                                                                 */

struct mfs_tracker;
struct mfs_treq;

/* Decoded "name=value&..." arguments of a reply. */
struct mfs_args {
	char **names, **values;
	size_t count, alloc;
};

typedef void mfs_treq_callback_t(struct mfs_treq *req, void *context);

/* Appends str URL-encoded as the tracker and the Perl client do: every byte
   but [A-Za-z0-9_,-./\:] and space as %XX (upper case), then space as '+'.
   Returns 0 or -ENOMEM. */
MFS_HIDDEN int mfs_url_encode(const char *str, char **out, size_t *len,
			      size_t *alloc);
/* Decodes [str, str + len): '+' to space, then %XX to the byte. A '%' not
   followed by two hex digits stays as it is. Returns a new string or NULL
   (out of memory). */
MFS_HIDDEN char *mfs_url_decode(const char *str, size_t len);
/* Splits "a=1&b=2" at '&' and the first '=' and decodes both sides.
   Returns 0, -EINVAL (an empty name) or -ENOMEM. */
MFS_HIDDEN int mfs_args_parse(struct mfs_args *args, const char *str);
/* Returns the value of name, or NULL. */
MFS_HIDDEN const char *mfs_args_get(const struct mfs_args *args,
				    const char *name);
MFS_HIDDEN void mfs_args_free(struct mfs_args *args);

/* A parsed reply line: "OK args" (with or without the space) or
   "ERR code text [callid]". */
struct mfs_reply {
	bool ok;
	struct mfs_args args;
	char *code, *text; /* ERR: decoded; text defaults to code */
};

/* Parses one reply line without its line end. Returns 0, -EPROTO (neither
   OK nor ERR) or -ENOMEM. */
MFS_HIDDEN int mfs_reply_parse(struct mfs_reply *reply, const char *line);
MFS_HIDDEN void mfs_reply_free(struct mfs_reply *reply);
/* Maps a tracker error code to -errno (unknown_key -ENOENT, key_exists
   -EEXIST, none_match -ENOENT, bad arguments -EINVAL, the rest -EIO). */
MFS_HIDDEN int mfs_err_errno(const char *code);

/* Creates the client of hosts "HOST:PORT[,HOST:PORT...]" ("[V6]:PORT"
   too), shuffled. Returns 0, or -EINVAL with the reason in fs's error. */
MFS_HIDDEN int mfs_tracker_init(struct fs *fs, const char *hosts,
				struct mfs_tracker **tr_r);
/* Drives requests without owner (aborting closes) for a bounded time, then
   closes every connection and frees everything. */
MFS_HIDDEN void mfs_tracker_deinit(struct mfs_tracker **tr);

/* Creates a request "cmd" with no argument yet. idempotent requests may be
   sent again when a connection dies after sending them; the others fail
   with uncertain set (mfs_treq_uncertain()). */
MFS_HIDDEN struct mfs_treq *mfs_treq_new(struct mfs_tracker *tr,
					 const char *cmd, bool idempotent);
/* Appends &name=value, value URL-encoded. Returns 0 or -ENOMEM (the request
   then fails at start). */
MFS_HIDDEN int mfs_treq_arg(struct mfs_treq *req, const char *name,
			    const char *value);
MFS_HIDDEN int mfs_treq_arg_u64(struct mfs_treq *req, const char *name,
				uint64_t value);
/* The callback runs from mfs_tracker_run() once the request completed. */
MFS_HIDDEN void mfs_treq_set_callback(struct mfs_treq *req,
				      mfs_treq_callback_t *cb, void *context);
/* Queues the request (connecting or writing at once where the socket
   allows). Never calls the callback. Returns 0 or -ENOMEM. */
MFS_HIDDEN int mfs_treq_start(struct mfs_treq *req);
/* Gives the request to the tracker client: it is freed once answered (or
   failed); no callback. For aborting closes. */
MFS_HIDDEN void mfs_treq_start_orphan(struct mfs_treq *req);
/* Frees the request; one still on a connection becomes an orphan whose
   reply is dropped. Accepts NULL and sets *req to NULL. */
MFS_HIDDEN void mfs_treq_free(struct mfs_treq **req);

MFS_HIDDEN bool mfs_treq_done(const struct mfs_treq *req);
/* Returns -EAGAIN while running, 0 for OK, the mapped -errno of an ERR, or
   the transport error (-EIO, -ETIMEDOUT, -ENOMEM). */
MFS_HIDDEN int mfs_treq_result(const struct mfs_treq *req);
/* The ERR code (NULL for OK or a transport failure). */
MFS_HIDDEN const char *mfs_treq_errcode(const struct mfs_treq *req);
/* A reply argument, or NULL. */
MFS_HIDDEN const char *mfs_treq_get(const struct mfs_treq *req,
				    const char *name);
/* True when the request failed after (part of) it was sent and without an
   answer: the command may or may not have run on the tracker. */
MFS_HIDDEN bool mfs_treq_uncertain(const struct mfs_treq *req);
/* "create_close on tracker HOST:PORT: ERR size_mismatch Expected: ..." or
   the transport failure. */
MFS_HIDDEN const char *mfs_treq_error(const struct mfs_treq *req);
MFS_HIDDEN const char *mfs_treq_cmd(const struct mfs_treq *req);

/* Requests started and not yet completed (orphans included). */
MFS_HIDDEN unsigned int mfs_tracker_pending(const struct mfs_tracker *tr);
/* Connection attempts so far (for tests and debugging). */
MFS_HIDDEN unsigned int mfs_tracker_connects(const struct mfs_tracker *tr);
/* Fills up to max poll descriptors (POLLIN/POLLOUT as each connection
   needs) and returns their count; *next_usec gets the next timer (connect
   or reply deadline, or UINT64_MAX). */
MFS_HIDDEN unsigned int mfs_tracker_pollfds(struct mfs_tracker *tr,
					    struct pollfd *fds,
					    unsigned int max,
					    uint64_t *next_usec);
/* Does the socket I/O that is possible now, checks the timers and calls the
   callbacks of the requests that completed. Returns the number of
   callbacks called. */
MFS_HIDDEN unsigned int mfs_tracker_run(struct mfs_tracker *tr);

/* ------------------------------------------------------------------------ */
/* The driver                                                                */

/* A write in progress: the bytes are spooled here until finish. */
struct mfs_spool {
	unsigned char *mem;
	size_t mem_size, mem_alloc;
	int fd; /* -1: in memory */
	uint64_t size;
	EVP_MD_CTX *md5;
	char md5_hex[33];
};

/* One destination of create_open. */
struct mfs_dest {
	uint64_t devid;
	char *path;
};

enum mfs_step {
	MFS_STEP_NONE,
	MFS_STEP_INFO,		/* file_info (stat, exists) */
	MFS_STEP_DELETE,	/* delete */
	MFS_STEP_DELETE_VERIFY, /* file_info after a delete without answer */
	MFS_STEP_RENAME,	/* rename */
	MFS_STEP_RENAME_DELETE, /* REPLACE: delete the old destination */
	MFS_STEP_PATHS,		/* get_paths */
	MFS_STEP_GET,		/* GET on a path */
	MFS_STEP_EXISTS,	/* CREATE: file_info before create_open */
	MFS_STEP_OPEN,		/* create_open */
	MFS_STEP_PUT,		/* PUT to a destination */
	MFS_STEP_CLOSE,		/* create_close */
	MFS_STEP_CLOSE_VERIFY,	/* file_info after a close without answer */
	MFS_STEP_DONE,
};

struct mfs_fs {
	struct fs fs;
	struct mfs_tracker *tracker;
	struct fs_http *http;
	char *domain;
	char *class_name; /* NULL: the domain's default class */
	bool checksum_verify;
	/* Bumped whenever a file or iterator was told it progressed. */
	uint64_t progress_seq;
};

struct mfs_file {
	struct fs_file file;

	/* One-shot operations: stat, exists, delete, rename. */
	enum mfs_step op_step;
	struct mfs_treq *op_treq;
	unsigned int op_tries;

	/* Reading: the paths of get_paths, the one being read, the bytes of
	   the range delivered so far and the GET attempts left. */
	enum mfs_step rd_step;
	struct mfs_treq *rd_treq;
	struct fs_http_request *rd_req;
	char **paths;
	unsigned int path_count, path_idx, tries_left;
	uint64_t delivered;
	bool paths_requeried, rd_all_missing;
	char *rd_error_msg;

	/* Writing. */
	enum mfs_step wr_step;
	struct mfs_treq *wr_treq;
	struct fs_http_request *wr_req;
	struct mfs_spool spool;
	uint64_t fid;
	struct mfs_dest dests[MFS_MAX_DESTS];
	unsigned int dest_count, dest_idx, attempts;
	uint64_t put_pos; /* spool bytes handed to the PUT */
	unsigned char *put_buf;
};

struct mfs_iter {
	struct fs_iter iter;
	struct mfs_treq *treq;
	/* The longest head of the prefix without regular expression
	   metacharacters: what the tracker is asked for (see list.c). */
	char *server_prefix;
	char *after; /* NULL: from the start */
	char **keys; /* the current page, filtered */
	size_t count, pos;
	char *group; /* ONE_LEVEL: the last common prefix returned */
	char *key;   /* the key returned last */
	bool server_done;
	/* The key equal to the prefix is to be asked for with file_info
	   (see mfs_page_next()), and was. */
	bool exact_pending, exact_checked;
};

#define MFS_FS(_fs) FS_CONTAINER_OF(_fs, struct mfs_fs, fs)
#define MFS_FILE(_file) FS_CONTAINER_OF(_file, struct mfs_file, file)
#define MFS_ITER(_iter) FS_CONTAINER_OF(_iter, struct mfs_iter, iter)

static inline struct mfs_fs *mfs_file_fs(struct fs_file *file)
{
	return MFS_FS(file->fs);
}

/* mogilefs.c */

/* A tracker request for file with the domain argument set, whose
   completion tells the file. NULL when out of memory. */
MFS_HIDDEN struct mfs_treq *mfs_file_treq(struct mfs_file *file,
					  const char *cmd, bool idempotent);
/* Starts *req (made by mfs_file_treq()). Returns -EAGAIN, or -ENOMEM with
   the file's error set and *req freed. */
MFS_HIDDEN int mfs_file_treq_start(struct mfs_file *file,
				   struct mfs_treq **req);
/* Sets the file's error from its failed tracker request ("what KEY: ...")
   and returns the request's result. */
MFS_HIDDEN int mfs_file_treq_error(struct mfs_file *file,
				   const struct mfs_treq *req,
				   const char *what);
/* Tells the file that its operation progressed. */
MFS_HIDDEN void mfs_file_notify(struct mfs_file *file);
/* The fs's http callbacks: progress tells the file in the context. */
MFS_HIDDEN extern const struct fs_http_callbacks mfs_http_callbacks;

/* mogilefs-read.c */
MFS_HIDDEN ssize_t mfs_read(struct fs_file *file, void *buf, size_t size);
MFS_HIDDEN void mfs_read_free(struct mfs_file *file);

/* mogilefs-write.c */
MFS_HIDDEN ssize_t mfs_write(struct fs_file *file, const void *data,
			     size_t size);
MFS_HIDDEN int mfs_write_finish(struct fs_file *file);
MFS_HIDDEN void mfs_write_abort(struct fs_file *file);
/* Called from the PUT's progress callback: feeds the streamed body. */
MFS_HIDDEN void mfs_write_pump(struct mfs_file *file);

/* mogilefs-list.c */
MFS_HIDDEN int mfs_iter_init(struct fs_iter *iter);
MFS_HIDDEN int mfs_iter_next(struct fs_iter *iter, const char **key_r);
MFS_HIDDEN void mfs_iter_deinit(struct fs_iter *iter);
MFS_HIDDEN int mfs_delete_prefix(struct fs *fs, const char *prefix);
/* The longest head of prefix that the tracker's after check (a Perl regex
   built from the prefix) takes literally. */
MFS_HIDDEN size_t mfs_regex_safe_len(const char *prefix);

#endif
