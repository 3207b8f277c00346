/*
 * Private declarations of the MogileFS mock, shared by its files:
 *   mogilefs-mock.c     start and stop, the "database", the background
 *                       worker (replication, deletion), faults, counters
 *   mogilefs-tracker.c  the trackers: TCP, one thread per connection, the
 *                       line protocol and the commands
 *   mogilefs-node.c     the storage nodes on libmicrohttpd
 *
 * Locks, always taken in this order: db_lock (domains, files, tempfiles,
 * jobs, node liveness), then lock (counters, fault rules, random numbers),
 * then fs_lock (the backing libfs stack). A server's own list lock is
 * never held while taking another.
 */
#ifndef LIBFS_MOCKSERVER_MOGILEFS_PRIVATE_H
#define LIBFS_MOCKSERVER_MOGILEFS_PRIVATE_H

#include <pthread.h>

#include "mock-private.h"
#include "mogilefs.h"

#define MOG_MAX_DEVS FS_MOGMOCK_MAX_SERVERS
/* create_open gives at most this many destinations (the real limit). */
#define MOG_MAX_DESTS 3
#define MOG_LIST_LIMIT 1000

struct mog_class {
	char *name;
	unsigned int mindevcount;
	bool md5; /* hashtype MD5: checksums are stored */
};

struct mog_file {
	char *key;
	uint64_t fid, length;
	unsigned int classid;
	uint32_t devmask; /* bit devid: the devices with a copy */
	char *checksum;	  /* "MD5:hex" or NULL */
};

struct mog_domain {
	char *name;
	struct mog_class *classes; /* classid = index; 0 is "default" */
	unsigned int class_count;
	struct mog_file *files; /* sorted by key, binary */
	size_t file_count, file_alloc;
};

struct mog_temp {
	uint64_t fid;
	unsigned int dmid, classid;
	uint32_t devmask; /* the reserved devices */
	uint64_t created_usec;
};

enum mog_job_type { MOG_JOB_REPLICATE, MOG_JOB_DELETE, MOG_JOB_NODE_STOP };

struct mog_job {
	struct mog_job *next;
	enum mog_job_type type;
	uint64_t fid;
	unsigned int devid; /* DELETE: the copy; NODE_STOP: the node's */
	uint64_t due_usec;
	unsigned int tries;
};

struct mog_tconn {
	struct mog_tconn *next;
	struct mog_tracker *tracker;
	int fd;
};

struct mog_tracker {
	struct fs_mogmock *mock;
	unsigned int idx, port;
	int listen_fd;
	bool alive, thread_running;
	pthread_t accept_thread;
	/* Guards conns. */
	pthread_mutex_t lock;
	struct mog_tconn *conns;
};

struct mog_node {
	struct fs_mogmock *mock;
	unsigned int idx, devid, port;
	struct MHD_Daemon *daemon;
	bool quiesced; /* listening stopped, daemon still to stop */
	/* Under db_lock: really alive, and since when it is down. */
	bool alive;
	uint64_t down_usec;
};

struct fs_mogmock {
	pthread_mutex_t db_lock;
	pthread_cond_t db_cond; /* jobs, node stops, settling */
	struct mog_domain *domains;
	unsigned int domain_count;
	struct mog_temp *temps;
	size_t temp_count, temp_alloc;
	uint64_t next_fid;
	struct mog_job *jobs;
	bool hurry; /* settle: every job is due now */
	unsigned int jobs_running;

	pthread_mutex_t lock;
	struct mock_faults faults;
	struct mock_counters counters;
	int kill_rules[64];
	unsigned int kill_rule_count;
	uint64_t rng;

	pthread_mutex_t fs_lock;
	struct fs *fs;

	struct mog_tracker trackers[FS_MOGMOCK_MAX_SERVERS];
	struct mog_node nodes[FS_MOGMOCK_MAX_SERVERS];
	unsigned int tracker_count, node_count;

	/* Live tracker connection threads (detached), under db_lock. */
	unsigned int tconn_threads;
	pthread_t worker;
	bool worker_running;
	volatile bool stopping;

	bool ordered, case_sensitive, log;
	unsigned int replicate_delay_ms, delete_delay_ms;
	unsigned int monitor_delay_ms, dead_paths0_ms;
};

/* --- mogilefs-mock.c --- */

void mog_log(struct fs_mogmock *mock, const char *fmt, ...) MOCK_PRINTF(2, 3);
void mog_count(struct fs_mogmock *mock, const char *name, uint64_t n);
void mog_countf(struct fs_mogmock *mock, const char *fmt, ...)
	MOCK_PRINTF(2, 3);
/* A random number (under mock->lock). */
uint64_t mog_rand(struct fs_mogmock *mock);
/* Sleeps ms, ending early when the mock stops. */
void mog_sleep_ms(struct fs_mogmock *mock, unsigned int ms);
/* Finds the fault for a request; true if one fired (*kill_r: the rule
   kills the server). */
bool mog_fault_match(struct fs_mogmock *mock, const char *method,
		     const char *op, const char *server, const char *key,
		     struct mock_fault *fault_r, bool *kill_r);

/* The storage key and URL of fid on devid. */
void mog_file_key(uint64_t fid, unsigned int devid, char *buf, size_t size);
void mog_file_url(struct fs_mogmock *mock, uint64_t fid, unsigned int devid,
		  char *buf, size_t size);
struct mog_node *mog_node_of_dev(struct fs_mogmock *mock, unsigned int devid);
/* Under db_lock: does the tracker think the node is up? */
bool mog_node_seen_alive(struct fs_mogmock *mock, const struct mog_node *node,
			 uint64_t now);

/* Under db_lock. */
struct mog_domain *mog_domain_find(struct fs_mogmock *mock, const char *name);
struct mog_file *mog_file_find(struct mog_domain *dom, const char *key);
/* Inserts a copy of file (key and checksum copied). Returns it or NULL. */
struct mog_file *mog_file_insert(struct mog_domain *dom,
				 const struct mog_file *file);
void mog_file_remove(struct mog_domain *dom, struct mog_file *file);
/* Queues the deletion of every copy of file (file is not freed). */
void mog_file_queue_delete(struct fs_mogmock *mock,
			   const struct mog_file *file);
void mog_queue_job(struct fs_mogmock *mock, enum mog_job_type type,
		   uint64_t fid, unsigned int devid, unsigned int delay_ms);
/* fid is used by a file or a tempfile. */
bool mog_fid_used(struct fs_mogmock *mock, uint64_t fid);

/* Backing store (takes fs_lock). Returns the size of the stored file,
   -ENOENT or -errno. */
int64_t mog_store_size(struct fs_mogmock *mock, const char *key);
/* MD5 of a stored file, as 32 hex digits. Returns 0 or -errno. */
int mog_store_md5(struct fs_mogmock *mock, const char *key, char hex[33]);
int mog_store_delete(struct fs_mogmock *mock, const char *key);

/* Kills or revives a server (the name is "trackerN" or "nodeN"); from a
   connection of that server itself the node stop is left to the worker. */
int mog_kill(struct fs_mogmock *mock, const char *server, bool from_inside);

/* --- mogilefs-tracker.c --- */

int mog_tracker_start(struct mog_tracker *tr, char **error_r);
void mog_tracker_stop(struct mog_tracker *tr);

/* --- mogilefs-node.c --- */

int mog_node_start(struct mog_node *node, char **error_r);
/* Stops listening at once (any thread); mog_node_stop() ends the rest. */
void mog_node_quiesce(struct mog_node *node);
void mog_node_stop(struct mog_node *node);

#endif
