/*
 * The MogileFS mock: trackers speaking the line protocol over TCP and
 * storage nodes speaking HTTP (libmicrohttpd), sharing one "database", as
 * MOGILEFS.md describes them, quirks included: replies with their arguments
 * in random order and "OK " with its trailing space, ERR none_match for an
 * empty listing, prefixes matched without regard to case, the after check
 * built as a regular expression, no_temp_file after a failed create_close,
 * the size check of create_close, paths=0 while the copies' node is down, an
 * empty file stored by a PUT without length, asynchronous replication to a
 * second device and deletion by a background worker.
 *
 * Tests start it in-process on 127.0.0.1 with ephemeral ports (two trackers
 * and two storage nodes by default) and point the driver at
 * fs_mogmock_spec(). The files of the storage nodes live in a libfs stack
 * ("mem:" unless told otherwise) under keys "dev<N>/<b>/<mmm>/<ttt>/<fid>.fid",
 * the URL path of the file without its leading '/'.
 *
 * Conventions are libfs's: negative errno returns, destructors take a
 * pointer to the handle and clear it. Every function may be called from any
 * thread while the mock runs.
 */
#ifndef LIBFS_MOCKSERVER_MOGILEFS_H
#define LIBFS_MOCKSERVER_MOGILEFS_H

#include <stdbool.h>
#include <stdint.h>

#include "libfs/fs.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fs_mogmock;

#define FS_MOGMOCK_SETTINGS_VERSION 1
#define FS_MOGMOCK_MAX_SERVERS 8

/* Settings for fs_mogmock_start(). Fill with fs_mogmock_settings_init()
   first; members are only ever appended. Strings are copied. */
struct fs_mogmock_settings {
	unsigned int version;

	/* Trackers and storage nodes, 1..FS_MOGMOCK_MAX_SERVERS each
	   (default 2 and 2). Node i has one device, devid i + 1. */
	unsigned int trackers, nodes;

	/* The domain (default "testdom"). Its classes: "default" with
	   mindevcount (default 2), "single" with 1 and "hashed" with 2 and
	   hashtype MD5. */
	const char *domain;
	unsigned int mindevcount;

	/* libfs spec of the storage nodes' files (default "mem:"). */
	const char *backend;

	/* Seed of the random choices (argument order, device order); 0 picks
	   one from the clock. */
	uint64_t seed;
	/* Devices in devid order in create_open and get_paths instead of a
	   random order (the reply arguments stay shuffled). */
	bool ordered_devices;
	/* list_keys prefixes match case-sensitively (the server setting
	   case_sensitive_list_keys=1; the real default is off). */
	bool case_sensitive_list_keys;

	/* The replicator copies a closed file to its other devices after
	   this delay; the delete worker removes deleted files after it. */
	unsigned int replicate_delay_ms, delete_delay_ms;
	/* How long a killed node still looks alive to the trackers (its
	   devices are offered and its paths returned), and how long after
	   that a file whose copies are all on dead nodes gets paths=0 before
	   the tracker returns a dead path as a lone fallback. */
	unsigned int monitor_delay_ms, dead_paths0_ms;

	/* Fault rules (see fs_mogmock_fault_add()), NULL-terminated. */
	const char *const *faults;
	/* Logs every tracker line and HTTP request to stderr. */
	bool log;
};

void fs_mogmock_settings_init(struct fs_mogmock_settings *set);

/* Starts the trackers and nodes. Returns the mock, or NULL and, if error_r
   is not NULL, a message the caller frees. */
struct fs_mogmock *fs_mogmock_start(const struct fs_mogmock_settings *set,
				    char **error_r);
/* Stops everything (open connections are cut), frees it and sets *mock to
   NULL. Accepts NULL. */
void fs_mogmock_stop(struct fs_mogmock **mock);

unsigned int fs_mogmock_tracker_port(struct fs_mogmock *mock, unsigned int i);
unsigned int fs_mogmock_node_port(struct fs_mogmock *mock, unsigned int i);

/* Returns "mogilefs://127.0.0.1:P0,127.0.0.1:P1/DOMAIN" (every tracker in
   index order) followed by "?" query when query is not NULL, in a string
   the caller frees; NULL if out of memory. */
char *fs_mogmock_spec(struct fs_mogmock *mock, const char *query);

/* Kills a server: "tracker0", "node1", ...: its port refuses connections
   and its open connections are cut. Revive listens on the same port again.
   Returns 0 or -EINVAL (no such server). */
int fs_mogmock_kill(struct fs_mogmock *mock, const char *server);
int fs_mogmock_revive(struct fs_mogmock *mock, const char *server);

/* ------------------------------------------------------------------------ */
/* Fault rules                                                               */

/*
 * The rule syntax of the S3 mock (mockserver.h), matched as follows:
 *   tracker requests: method=TRACKER, op=COMMAND (create_open, ...),
 *                     bucket=trackerN, key=the key argument (from_key for
 *                     rename, prefix for list_keys)
 *   node requests:    method=GET|PUT|HEAD|DELETE, op=node, bucket=nodeN,
 *                     key=the URL path
 * Actions:
 *   code=CODE [message=TEXT]  a tracker answers "ERR CODE TEXT"; a node
 *                     answers status= (default 503)
 *   delay=MS          before handling (with any action)
 *   action=reset      cut the connection: a tracker without answering
 *                     (after=0, the default: before running the command;
 *                     after=1: after running it, so the answer is lost); a
 *                     node after=BYTES of the body (request body for PUT)
 *   action=truncate   a tracker sends after=N bytes of its answer line and
 *                     closes; a node cuts the response body after=BYTES
 *   action=kill       as reset, and the server then stays dead until
 *                     fs_mogmock_revive()
 * e.g. "op=create_close,after=1,action=reset" or
 *      "method=GET,bucket=node0,status=500" or "bucket=node1,action=kill".
 */
int fs_mogmock_fault_add(struct fs_mogmock *mock, const char *rule,
			 char **error_r);
int fs_mogmock_fault_remove(struct fs_mogmock *mock, int id);
void fs_mogmock_faults_clear(struct fs_mogmock *mock);

/* ------------------------------------------------------------------------ */
/* Counters and state                                                         */

/* Counters: "tracker_requests", "trackerN_requests", one per command
   ("create_open", ...), "err_CODE" per error answered, "node_requests",
   "nodeN_requests", "node_GET", "node_PUT", ..., "node_status_NNN",
   "faults", "tracker_connections", "node_connections", "replicated",
   "purged" (storage files the delete worker removed). */
uint64_t fs_mogmock_counter(struct fs_mogmock *mock, const char *name);
void fs_mogmock_counters_reset(struct fs_mogmock *mock);
/* All counters as a JSON object in a string the caller frees. */
char *fs_mogmock_counters_json(struct fs_mogmock *mock);

/* Waits until the replicator and the delete worker have nothing queued
   (whatever their delays), at most timeout_ms. Returns 0 or -ETIMEDOUT. */
int fs_mogmock_settle(struct fs_mogmock *mock, unsigned int timeout_ms);

struct fs_mogmock_state {
	unsigned int keys;	/* files with a key */
	unsigned int tempfiles; /* open create_opens */
	unsigned int stored;	/* files on the storage nodes */
	unsigned int queued;	/* replications and deletions to do */
	uint64_t stored_bytes;	/* their bytes */
	uint64_t next_fid;	/* the fid create_open gives next */
};

/* Fills *st_r. Returns 0 or -errno (the backing store failed). */
int fs_mogmock_state(struct fs_mogmock *mock, struct fs_mogmock_state *st_r);

/* Returns the devcount of key (copies the tracker knows of), or -ENOENT. */
int fs_mogmock_devcount(struct fs_mogmock *mock, const char *key);

#ifdef __cplusplus
}
#endif

#endif
