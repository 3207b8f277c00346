/*
 * cache: an in-memory cache layer ("cache:max=64M::CHILD"). Private to
 * drivers/cache/.
 *
 * The store (cache-store.c) keeps whole objects with their stat and metadata
 * in a hash table and two FIFO queues, evicted with S3-FIFO (a small queue
 * taking 10% of the bytes, a main queue, and a ghost queue of key hashes
 * recently evicted from the small one), within a strict byte bound that
 * counts every per-entry overhead. Reads (cache-read.c) serve hits from a
 * pinned, immutable copy and fill the cache while streaming misses; writes,
 * deletes, copies and renames (cache-write.c) go to the child first and then
 * invalidate or insert exactly what they changed. Listings (cache-iter.c)
 * pass through, optionally cached for list_ttl.
 */
#ifndef LIBFS_DRIVERS_CACHE_PRIVATE_H
#define LIBFS_DRIVERS_CACHE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "libfs/driver.h"

/* Largest value of the queue's freq counter (S3-FIFO uses 2 bits). */
#define CACHE_FREQ_MAX 3
/* A small-queue object accessed at least this often moves to main. */
#define CACHE_FREQ_PROMOTE 2
/* The small queue's share of max, in percent. */
#define CACHE_SMALL_PERCENT 10
/* Listings may hold at most max / this many bytes. */
#define CACHE_LIST_SHARE 16

/* One cached version of an object. Immutable once inserted; the store holds
   one reference and every reader serving from it another, so a replacement
   never changes bytes under a reader. */
struct cache_obj {
	unsigned int refcount;
	struct fs_stat st;
	struct fs_metadata_list md; /* sorted by name */
	size_t size, alloc;	    /* bytes in data, and its capacity */
	unsigned char data[];
};

enum cache_queue_id {
	CACHE_Q_NONE = 0,
	CACHE_Q_SMALL,
	CACHE_Q_MAIN,
	CACHE_Q_GHOST,
};

/* What is in the hash table and in one queue: an entry, or a ghost (a key
   hash only). */
struct cache_node {
	struct cache_node *hnext;
	struct cache_node *prev, *next; /* prev: newer, next: older */
	uint64_t hash;
	uint8_t queue; /* enum cache_queue_id */
	uint8_t freq;
};

struct cache_entry {
	struct cache_node node;
	struct cache_obj *obj; /* NULL: a remembered -ENOENT */
	uint64_t expires_usec; /* negative entries */
	uint64_t charge;       /* bytes accounted for this entry */
	char key[];
};

/* A FIFO: new nodes at head, eviction at tail. */
struct cache_queue {
	struct cache_node *head, *tail;
	uint64_t count, bytes;
};

/* A cached listing: the keys one-by-one NUL-terminated in keys. */
struct cache_listing {
	struct cache_listing *next;
	unsigned int refcount;
	unsigned int flags; /* FS_ITER_FLAG_ONE_LEVEL */
	uint64_t expires_usec, charge;
	char *prefix;
	char *keys;
	size_t keys_len;
};

struct cache_file;

struct cache_fs {
	struct fs fs;

	/* options */
	uint64_t max, object_max;
	bool validate_etag;
	uint64_t negative_ttl_usec, list_ttl_usec;

	/* the store; total = queues + table + listings, always <= max */
	struct cache_node **table;
	size_t table_size; /* buckets, a power of two */
	struct cache_queue small, main, ghost;
	uint64_t table_bytes, list_bytes, total;

	/* reads and writes that may insert: an invalidation of their key
	   marks them stale so they never insert an outdated copy */
	struct cache_file *fills;

	/* cached listings, newest first */
	struct cache_listing *listings;
	uint64_t list_seq; /* bumped by every change under the layer */
};

/* What a read-mode file serves from. */
enum cache_read_state {
	CACHE_R_INIT = 0,   /* nothing looked up yet */
	CACHE_R_REVALIDATE, /* our copy is being revalidated on the child */
	CACHE_R_HIT,	    /* serving the pinned copy */
	CACHE_R_NEGATIVE,   /* a remembered -ENOENT */
	CACHE_R_CHILD,	    /* the child serves (a miss, or changed) */
};

/* How a CACHE_R_CHILD file reads. */
enum cache_read_mode {
	CACHE_RM_UNDECIDED = 0,
	CACHE_RM_PASS,	 /* passthrough, uncached */
	CACHE_RM_DIRECT, /* whole object from the child, captured to fill */
};

enum cache_write_phase {
	CACHE_W_DATA = 0,
	CACHE_W_STAT, /* the child published; stat for the cached copy */
};

struct cache_file {
	struct fs_file file;

	/* in cache_fs.fills */
	struct cache_file *fill_prev, *fill_next;
	bool fill_registered, fill_stale;

	/* reading; what a lookup found lasts for the operation (across
	   -EAGAIN) and, once reading started, for the rest of the stream */
	bool op_active;
	enum cache_read_state rstate;
	enum cache_read_mode rmode;
	struct cache_obj *pin; /* HIT or REVALIDATE: the copy */
	uint64_t pos;	       /* next byte of the object for the caller */
	bool pos_set;
	struct fs_stat st; /* CHILD: the child's stat, when have_st */
	bool have_st;
	/* DIRECT reads: the child's position, and the capture of the whole
	   object (capture->size bytes from offset 0) while it may fill */
	uint64_t child_pos;
	bool child_eof, capturing;
	/* capturing before the child's stat and metadata were taken: with
	   FS_CAP_READ_STAT they come with the first bytes, not before */
	bool capture_undecided;
	struct cache_obj *capture;

	/* writing: a copy of the bytes while they fit object_max */
	enum cache_write_phase wphase;
	struct cache_obj *wcopy;
	bool wcopy_ok;
};

#define CACHE_FS(_fs) FS_CONTAINER_OF(_fs, struct cache_fs, fs)
#define CACHE_FILE(_file) FS_CONTAINER_OF(_file, struct cache_file, file)

extern const struct fs_driver fs_driver_cache;

/* --- cache-store.c --- */

/* Sets up an empty store (the table is accounted). Returns 0 or -ENOMEM. */
int cache_store_init(struct cache_fs *fs);
void cache_store_deinit(struct cache_fs *fs);

/* A new object with room for alloc bytes, refcount 1, or NULL. */
struct cache_obj *cache_obj_new(size_t alloc);
/* Grows obj's capacity to at least alloc (obj must be unshared). Returns 0
   or -ENOMEM (obj unchanged). */
int cache_obj_reserve(struct cache_obj **obj, size_t alloc);
struct cache_obj *cache_obj_ref(struct cache_obj *obj);
void cache_obj_unref(struct cache_obj **obj);
/* Gives back unused capacity (obj must be unshared). */
void cache_obj_trim(struct cache_obj **obj);
/* Sets obj's metadata to a sorted copy of the array. Returns 0 or -ENOMEM. */
int cache_obj_set_metadata(struct cache_obj *obj, const struct fs_metadata *md,
			   size_t count);

/* Returns the live entry of key (dropping an expired negative one), or
   NULL. Counts no access. */
struct cache_entry *cache_store_find(struct cache_fs *fs, const char *key);
/* Counts an access of the entry for the eviction policy. */
void cache_store_touch(struct cache_entry *entry);
/* Inserts obj (taking a new reference) as key's entry, or a negative entry
   when obj is NULL, replacing what key had. Returns true if it was
   inserted; false if it cannot fit (nothing changes then, except that the
   old entry of key is gone). */
bool cache_store_insert(struct cache_fs *fs, const char *key,
			struct cache_obj *obj);
/* Drops key's entry and marks fills of key stale; all cached listings are
   dropped too (key changed). */
void cache_store_invalidate(struct cache_fs *fs, const char *key);
/* Drops key's entry only if it still holds obj (a revalidation found it
   outdated). */
void cache_store_invalidate_obj(struct cache_fs *fs, const char *key,
				const struct cache_obj *obj);
/* As cache_store_invalidate() for every key beginning with prefix. */
void cache_store_invalidate_prefix(struct cache_fs *fs, const char *prefix);
/* Bytes an entry for key holding obj would be charged. */
uint64_t cache_entry_charge(const char *key, const struct cache_obj *obj);
/* Frees room for need more bytes by evicting (listings only when no object
   is left). Returns true if total + need <= max now. */
bool cache_store_make_room(struct cache_fs *fs, uint64_t need);
/* Drops the oldest cached listing (there must be one). */
void cache_listing_drop_oldest(struct cache_fs *fs);
/* Copies the store's byte count into the layer's statistics. */
void cache_store_update_stats(struct cache_fs *fs);

void cache_fill_register(struct cache_fs *fs, struct cache_file *file);
void cache_fill_unregister(struct cache_fs *fs, struct cache_file *file);

#ifdef LIBFS_UNIT_TESTING
/* Recounts every charge of the store from scratch. Returns 0 and sets
   *total_r if the result equals the running total and total <= max, else
   -EIO. fs is the cache layer. */
int cache_store_check(struct fs *fs, uint64_t *total_r);
/* Returns 1 if key has a positive entry, 2 a negative one, 0 none. */
int cache_store_has(struct fs *fs, const char *key);
#endif

/* --- cache-read.c --- */

int cache_parent_open(struct cache_file *file);
void cache_read_deinit(struct cache_file *file);
ssize_t cache_read(struct fs_file *_file, void *buf, size_t size);
int cache_stat(struct fs_file *_file, struct fs_stat *st_r);
int cache_exists(struct fs_file *_file);
int cache_get_metadata(struct fs_file *_file);
int cache_revalidate(struct fs_file *_file, const char *etag);

/* --- cache-write.c --- */

void cache_write_deinit(struct cache_file *file);
ssize_t cache_write(struct fs_file *_file, const void *data, size_t size);
int cache_write_finish(struct fs_file *_file);
void cache_write_abort(struct fs_file *_file);
int cache_delete(struct fs_file *_file);
int cache_copy(struct fs_file *src, struct fs_file *dst);
int cache_rename(struct fs_file *src, struct fs_file *dst);
int cache_delete_prefix(struct fs *_fs, const char *prefix);

/* --- cache-iter.c --- */

struct cache_iter {
	struct fs_iter iter;
	/* serving a cached listing: the next key at keys + offset */
	struct cache_listing *listing;
	size_t offset;
	/* passing through, collecting the keys while they fit */
	bool collecting;
	uint64_t seq; /* list_seq at the start */
	char *keys;
	size_t keys_len, keys_alloc;
};

int cache_iter_init(struct fs_iter *_iter);
int cache_iter_next(struct fs_iter *_iter, const char **key_r);
void cache_iter_deinit(struct fs_iter *_iter);
void cache_listing_unref(struct cache_listing **listing);
/* Drops every cached listing and bumps list_seq. */
void cache_listings_clear(struct cache_fs *fs);

#endif
