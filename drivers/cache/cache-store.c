/*
 * The cache's store: objects, the hash table, S3-FIFO eviction and the byte
 * accounting.
 *
 * Every byte the store keeps is charged: an entry costs its struct, its key,
 * its object (struct, data capacity, metadata array and strings), a ghost
 * its node, the hash table its bucket array, a listing its keys. The sum is
 * kept in the queues' byte counters and never exceeds max: room is made
 * before anything is added, and what cannot fit is not added.
 *
 * S3-FIFO (Yang et al., SOSP 2023): new keys enter the small queue; when
 * room is needed, the small queue's oldest entry moves to the main queue if
 * it was accessed CACHE_FREQ_PROMOTE times since it came in, else it is
 * evicted and its key hash goes to the ghost queue. A key found in the ghost
 * queue when it comes back enters the main queue directly. The main queue is
 * a CLOCK: its oldest entry is reinserted with freq - 1 while freq > 0. So a
 * scan of keys read once passes through the small queue and never displaces
 * what is read again and again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache-private.h"

#define TABLE_INITIAL_SIZE 64
#define GHOST_EXTRA 16

/* --- Objects --- */

struct cache_obj *cache_obj_new(size_t alloc)
{
	struct cache_obj *obj = malloc(sizeof(*obj) + (alloc > 0 ? alloc : 1));

	if (obj == NULL)
		return NULL;
	memset(obj, 0, sizeof(*obj));
	obj->refcount = 1;
	obj->alloc = alloc;
	return obj;
}

int cache_obj_reserve(struct cache_obj **_obj, size_t alloc)
{
	struct cache_obj *obj = *_obj;

	if (alloc <= obj->alloc)
		return 0;
	if (alloc > SIZE_MAX - sizeof(*obj))
		return -ENOMEM;
	obj = realloc(obj, sizeof(*obj) + alloc);
	if (obj == NULL)
		return -ENOMEM;
	obj->alloc = alloc;
	*_obj = obj;
	return 0;
}

void cache_obj_trim(struct cache_obj **_obj)
{
	struct cache_obj *obj = *_obj;

	if (obj->alloc == obj->size)
		return;
	obj = realloc(obj, sizeof(*obj) + (obj->size > 0 ? obj->size : 1));
	if (obj == NULL)
		return;
	obj->alloc = obj->size;
	*_obj = obj;
}

struct cache_obj *cache_obj_ref(struct cache_obj *obj)
{
	obj->refcount++;
	return obj;
}

void cache_obj_unref(struct cache_obj **_obj)
{
	struct cache_obj *obj = *_obj;

	if (obj == NULL)
		return;
	*_obj = NULL;
	if (--obj->refcount > 0)
		return;
	fs_metadata_list_clear(&obj->md);
	free(obj);
}

int cache_obj_set_metadata(struct cache_obj *obj, const struct fs_metadata *md,
			   size_t count)
{
	size_t i;

	fs_metadata_list_clear(&obj->md);
	for (i = 0; i < count; i++) {
		if (fs_metadata_list_set(&obj->md, md[i].name, md[i].value) <
		    0) {
			fs_metadata_list_clear(&obj->md);
			return -ENOMEM;
		}
	}
	fs_metadata_list_sort(&obj->md);
	return 0;
}

static uint64_t obj_charge(const struct cache_obj *obj)
{
	uint64_t charge;
	size_t i;

	if (obj == NULL)
		return 0;
	charge = sizeof(*obj) + obj->alloc +
		 obj->md.alloc * sizeof(*obj->md.items);
	for (i = 0; i < obj->md.count; i++)
		charge += strlen(obj->md.items[i].name) + 1 +
			  strlen(obj->md.items[i].value) + 1;
	return charge;
}

uint64_t cache_entry_charge(const char *key, const struct cache_obj *obj)
{
	return sizeof(struct cache_entry) + strlen(key) + 1 + obj_charge(obj);
}

/* --- Hash table and queues --- */

static uint64_t key_hash(const char *key)
{
	uint64_t hash = 0xcbf29ce484222325ull;

	for (; *key != '\0'; key++) {
		hash ^= (unsigned char)*key;
		hash *= 0x100000001b3ull;
	}
	/* the bucket takes the low bits: let every byte reach them */
	hash ^= hash >> 33;
	hash *= 0xff51afd7ed558ccdull;
	return hash ^ (hash >> 33);
}

static struct cache_entry *node_entry(struct cache_node *node)
{
	return FS_CONTAINER_OF(node, struct cache_entry, node);
}

static uint64_t node_charge(struct cache_node *node)
{
	if (node->queue == CACHE_Q_GHOST)
		return sizeof(*node);
	return node_entry(node)->charge;
}

static struct cache_queue *queue_of(struct cache_fs *fs, unsigned int id)
{
	switch (id) {
	case CACHE_Q_SMALL:
		return &fs->small;
	case CACHE_Q_MAIN:
		return &fs->main;
	default:
		return &fs->ghost;
	}
}

static uint64_t store_total(const struct cache_fs *fs)
{
	return fs->small.bytes + fs->main.bytes + fs->ghost.bytes +
	       fs->table_bytes + fs->list_bytes;
}

void cache_store_update_stats(struct cache_fs *fs)
{
	fs->total = store_total(fs);
	fs->fs.stats.cache_bytes = fs->total;
}

static void queue_push(struct cache_fs *fs, struct cache_node *node,
		       unsigned int id)
{
	struct cache_queue *q = queue_of(fs, id);

	node->queue = (uint8_t)id;
	node->prev = NULL;
	node->next = q->head;
	if (q->head != NULL)
		q->head->prev = node;
	else
		q->tail = node;
	q->head = node;
	q->count++;
	q->bytes += node_charge(node);
}

static void queue_unlink(struct cache_fs *fs, struct cache_node *node)
{
	struct cache_queue *q = queue_of(fs, node->queue);

	if (node->prev != NULL)
		node->prev->next = node->next;
	else
		q->head = node->next;
	if (node->next != NULL)
		node->next->prev = node->prev;
	else
		q->tail = node->prev;
	node->prev = node->next = NULL;
	q->count--;
	q->bytes -= node_charge(node);
	node->queue = CACHE_Q_NONE;
}

static struct cache_node **bucket_of(struct cache_fs *fs, uint64_t hash)
{
	return &fs->table[hash & (fs->table_size - 1)];
}

static void table_add(struct cache_fs *fs, struct cache_node *node)
{
	struct cache_node **bucket = bucket_of(fs, node->hash);

	node->hnext = *bucket;
	*bucket = node;
}

static void table_unlink(struct cache_fs *fs, struct cache_node *node)
{
	struct cache_node **p = bucket_of(fs, node->hash);

	while (*p != node)
		p = &(*p)->hnext;
	*p = node->hnext;
	node->hnext = NULL;
}

/* Doubles the table when it holds more nodes than buckets, if the bigger
   array fits the bound (else the chains just grow longer). */
static void table_maybe_grow(struct cache_fs *fs)
{
	uint64_t nodes = fs->small.count + fs->main.count + fs->ghost.count;
	size_t i, size = fs->table_size * 2;
	uint64_t bytes = (uint64_t)size * sizeof(*fs->table);
	struct cache_node **old = fs->table, *node, *next;
	size_t old_size = fs->table_size;

	if (nodes <= fs->table_size ||
	    store_total(fs) - fs->table_bytes + bytes > fs->max)
		return;
	fs->table = calloc(size, sizeof(*fs->table));
	if (fs->table == NULL) {
		fs->table = old;
		return;
	}
	fs->table_size = size;
	fs->table_bytes = bytes;
	for (i = 0; i < old_size; i++) {
		for (node = old[i]; node != NULL; node = next) {
			next = node->hnext;
			table_add(fs, node);
		}
	}
	free(old);
}

static struct cache_entry *entry_lookup(struct cache_fs *fs, const char *key,
					uint64_t hash)
{
	struct cache_node *node;

	for (node = *bucket_of(fs, hash); node != NULL; node = node->hnext) {
		if (node->hash == hash && node->queue != CACHE_Q_GHOST &&
		    strcmp(node_entry(node)->key, key) == 0)
			return node_entry(node);
	}
	return NULL;
}

static struct cache_node *ghost_lookup(struct cache_fs *fs, uint64_t hash)
{
	struct cache_node *node;

	for (node = *bucket_of(fs, hash); node != NULL; node = node->hnext) {
		if (node->hash == hash && node->queue == CACHE_Q_GHOST)
			return node;
	}
	return NULL;
}

static void ghost_free(struct cache_fs *fs, struct cache_node *node)
{
	table_unlink(fs, node);
	queue_unlink(fs, node);
	free(node);
}

/* Keeps the ghost queue no longer than the resident queues (plus a few). */
static void ghost_trim(struct cache_fs *fs)
{
	while (fs->ghost.count > 0 &&
	       fs->ghost.count > fs->small.count + fs->main.count + GHOST_EXTRA)
		ghost_free(fs, fs->ghost.tail);
}

/* Remembers hash in the ghost queue (best effort). */
static void ghost_add(struct cache_fs *fs, uint64_t hash)
{
	struct cache_node *node;

	if (ghost_lookup(fs, hash) != NULL)
		return;
	node = calloc(1, sizeof(*node));
	if (node == NULL)
		return;
	node->hash = hash;
	table_add(fs, node);
	queue_push(fs, node, CACHE_Q_GHOST);
	ghost_trim(fs);
}

/* Removes and frees an entry; a main-queue entry leaves a ghost, so that
   the key, if it comes back, goes straight to the main queue again. */
static void entry_remove(struct cache_fs *fs, struct cache_entry *entry,
			 bool leave_ghost)
{
	bool was_main = entry->node.queue == CACHE_Q_MAIN;
	uint64_t hash = entry->node.hash;

	table_unlink(fs, &entry->node);
	queue_unlink(fs, &entry->node);
	cache_obj_unref(&entry->obj);
	free(entry);
	if (leave_ghost && was_main)
		ghost_add(fs, hash);
}

/* --- Eviction --- */

static void evict_small(struct cache_fs *fs)
{
	struct cache_node *node = fs->small.tail;
	uint64_t hash = node->hash;

	if (node->freq >= CACHE_FREQ_PROMOTE) {
		queue_unlink(fs, node);
		node->freq = 0;
		queue_push(fs, node, CACHE_Q_MAIN);
		return;
	}
	entry_remove(fs, node_entry(node), false);
	fs->fs.stats.cache_evictions++;
	ghost_add(fs, hash);
}

static void evict_main(struct cache_fs *fs)
{
	struct cache_node *node = fs->main.tail;

	if (node->freq > 0) {
		queue_unlink(fs, node);
		node->freq--;
		queue_push(fs, node, CACHE_Q_MAIN);
		return;
	}
	entry_remove(fs, node_entry(node), false);
	fs->fs.stats.cache_evictions++;
}

/* One step of eviction: moves or evicts one node. Returns false when there
   is nothing left to evict. */
static bool evict_one(struct cache_fs *fs)
{
	uint64_t small_target = fs->max / 100 * CACHE_SMALL_PERCENT;

	if (fs->small.count > 0 &&
	    (fs->small.bytes >= small_target || fs->main.count == 0)) {
		evict_small(fs);
		return true;
	}
	if (fs->main.count > 0) {
		evict_main(fs);
		return true;
	}
	if (fs->ghost.count > 0) {
		ghost_free(fs, fs->ghost.tail);
		return true;
	}
	return false;
}

void cache_listing_drop_oldest(struct cache_fs *fs)
{
	struct cache_listing **p = &fs->listings, *listing;

	while ((*p)->next != NULL)
		p = &(*p)->next;
	listing = *p;
	*p = NULL;
	fs->list_bytes -= listing->charge;
	cache_listing_unref(&listing);
}

bool cache_store_make_room(struct cache_fs *fs, uint64_t need)
{
	if (need > fs->max)
		return false;
	while (store_total(fs) + need > fs->max) {
		if (fs->listings != NULL &&
		    fs->small.count + fs->main.count == 0) {
			cache_listing_drop_oldest(fs);
			continue;
		}
		if (!evict_one(fs))
			return false;
	}
	return true;
}

/* --- Entries --- */

struct cache_entry *cache_store_find(struct cache_fs *fs, const char *key)
{
	struct cache_entry *entry = entry_lookup(fs, key, key_hash(key));

	if (entry != NULL && entry->obj == NULL &&
	    fs_now_usec() >= entry->expires_usec) {
		entry_remove(fs, entry, false);
		cache_store_update_stats(fs);
		return NULL;
	}
	return entry;
}

void cache_store_touch(struct cache_entry *entry)
{
	if (entry->node.freq < CACHE_FREQ_MAX)
		entry->node.freq++;
}

bool cache_store_insert(struct cache_fs *fs, const char *key,
			struct cache_obj *obj)
{
	uint64_t hash = key_hash(key), charge = cache_entry_charge(key, obj);
	struct cache_entry *entry = entry_lookup(fs, key, hash);
	struct cache_node *ghost;
	unsigned int queue = CACHE_Q_SMALL;
	uint8_t freq = 0;
	size_t keylen = strlen(key);

	if (entry != NULL) {
		/* a new version of a known key keeps its standing */
		queue = entry->node.queue;
		freq = entry->node.freq;
		entry_remove(fs, entry, false);
	}
	ghost = ghost_lookup(fs, hash);
	if (ghost != NULL) {
		ghost_free(fs, ghost);
		queue = CACHE_Q_MAIN;
	}
	if ((obj != NULL && obj->size > fs->object_max) ||
	    !cache_store_make_room(fs, charge) ||
	    (entry = malloc(sizeof(*entry) + keylen + 1)) == NULL) {
		cache_store_update_stats(fs);
		return false;
	}
	memset(entry, 0, sizeof(*entry));
	memcpy(entry->key, key, keylen + 1);
	entry->node.hash = hash;
	entry->node.freq = freq;
	entry->obj = obj != NULL ? cache_obj_ref(obj) : NULL;
	entry->expires_usec =
		obj == NULL ? fs_now_usec() + fs->negative_ttl_usec : 0;
	entry->charge = charge;
	table_add(fs, &entry->node);
	queue_push(fs, &entry->node, queue);
	table_maybe_grow(fs);
	cache_store_update_stats(fs);
	return true;
}

/* Marks the fills of keys matching (key, or everything under prefix)
   stale. */
static void fills_mark(struct cache_fs *fs, const char *key, bool prefix)
{
	struct cache_file *file;
	size_t len = strlen(key);

	for (file = fs->fills; file != NULL; file = file->fill_next) {
		if (prefix ? strncmp(file->file.key, key, len) == 0
			   : strcmp(file->file.key, key) == 0)
			file->fill_stale = true;
	}
}

void cache_store_invalidate(struct cache_fs *fs, const char *key)
{
	struct cache_entry *entry = entry_lookup(fs, key, key_hash(key));

	if (entry != NULL)
		entry_remove(fs, entry, true);
	fills_mark(fs, key, false);
	cache_listings_clear(fs);
	cache_store_update_stats(fs);
}

void cache_store_invalidate_obj(struct cache_fs *fs, const char *key,
				const struct cache_obj *obj)
{
	struct cache_entry *entry = entry_lookup(fs, key, key_hash(key));

	if (entry != NULL && entry->obj == obj)
		entry_remove(fs, entry, true);
	cache_store_update_stats(fs);
}

static void queue_invalidate_prefix(struct cache_fs *fs, struct cache_queue *q,
				    const char *prefix)
{
	struct cache_node *node, *next;
	size_t len = strlen(prefix);

	for (node = q->head; node != NULL; node = next) {
		next = node->next;
		if (strncmp(node_entry(node)->key, prefix, len) == 0)
			entry_remove(fs, node_entry(node), true);
	}
}

void cache_store_invalidate_prefix(struct cache_fs *fs, const char *prefix)
{
	queue_invalidate_prefix(fs, &fs->small, prefix);
	queue_invalidate_prefix(fs, &fs->main, prefix);
	fills_mark(fs, prefix, true);
	cache_listings_clear(fs);
	cache_store_update_stats(fs);
}

/* --- Fills --- */

void cache_fill_register(struct cache_fs *fs, struct cache_file *file)
{
	if (file->fill_registered)
		return;
	file->fill_registered = true;
	file->fill_stale = false;
	file->fill_prev = NULL;
	file->fill_next = fs->fills;
	if (fs->fills != NULL)
		fs->fills->fill_prev = file;
	fs->fills = file;
}

void cache_fill_unregister(struct cache_fs *fs, struct cache_file *file)
{
	if (!file->fill_registered)
		return;
	if (file->fill_prev != NULL)
		file->fill_prev->fill_next = file->fill_next;
	else
		fs->fills = file->fill_next;
	if (file->fill_next != NULL)
		file->fill_next->fill_prev = file->fill_prev;
	file->fill_prev = file->fill_next = NULL;
	file->fill_registered = false;
}

/* --- Set-up --- */

int cache_store_init(struct cache_fs *fs)
{
	fs->table = calloc(TABLE_INITIAL_SIZE, sizeof(*fs->table));
	if (fs->table == NULL)
		return -ENOMEM;
	fs->table_size = TABLE_INITIAL_SIZE;
	fs->table_bytes = TABLE_INITIAL_SIZE * sizeof(*fs->table);
	cache_store_update_stats(fs);
	return 0;
}

static void queue_free(struct cache_fs *fs, struct cache_queue *q)
{
	while (q->tail != NULL) {
		if (q->tail->queue == CACHE_Q_GHOST)
			ghost_free(fs, q->tail);
		else
			entry_remove(fs, node_entry(q->tail), false);
	}
}

void cache_store_deinit(struct cache_fs *fs)
{
	cache_listings_clear(fs);
	queue_free(fs, &fs->small);
	queue_free(fs, &fs->main);
	queue_free(fs, &fs->ghost);
	free(fs->table);
	fs->table = NULL;
}

#ifdef LIBFS_UNIT_TESTING
static int queue_check(struct cache_fs *fs, struct cache_queue *q,
		       unsigned int id, uint64_t *nodes)
{
	uint64_t count = 0, bytes = 0, charge;
	struct cache_node *node;

	for (node = q->head; node != NULL; node = node->next) {
		if (node->queue != id)
			return -EIO;
		if (id == CACHE_Q_GHOST) {
			charge = sizeof(*node);
			if (ghost_lookup(fs, node->hash) != node)
				return -EIO;
		} else {
			charge = cache_entry_charge(node_entry(node)->key,
						    node_entry(node)->obj);
			if (charge != node_entry(node)->charge ||
			    entry_lookup(fs, node_entry(node)->key,
					 node->hash) != node_entry(node))
				return -EIO;
		}
		count++;
		bytes += charge;
	}
	*nodes += count;
	return count == q->count && bytes == q->bytes ? 0 : -EIO;
}

int cache_store_check(struct fs *_fs, uint64_t *total_r)
{
	struct cache_fs *fs = CACHE_FS(_fs);
	struct cache_listing *listing;
	uint64_t nodes = 0, table_nodes = 0, lists = 0, total;
	struct cache_node *node;
	size_t i;

	if (queue_check(fs, &fs->small, CACHE_Q_SMALL, &nodes) < 0 ||
	    queue_check(fs, &fs->main, CACHE_Q_MAIN, &nodes) < 0 ||
	    queue_check(fs, &fs->ghost, CACHE_Q_GHOST, &nodes) < 0)
		return -EIO;
	for (i = 0; i < fs->table_size; i++) {
		for (node = fs->table[i]; node != NULL; node = node->hnext)
			table_nodes++;
	}
	for (listing = fs->listings; listing != NULL; listing = listing->next)
		lists += listing->charge;
	total = fs->small.bytes + fs->main.bytes + fs->ghost.bytes +
		(uint64_t)fs->table_size * sizeof(*fs->table) + lists;
	*total_r = total;
	if (table_nodes != nodes || lists != fs->list_bytes ||
	    total != fs->total || total > fs->max)
		return -EIO;
	return 0;
}

int cache_store_has(struct fs *_fs, const char *key)
{
	struct cache_fs *fs = CACHE_FS(_fs);
	struct cache_entry *entry = entry_lookup(fs, key, key_hash(key));

	if (entry == NULL)
		return 0;
	return entry->obj != NULL ? 1 : 2;
}
#endif
