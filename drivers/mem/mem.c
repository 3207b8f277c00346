/*
 * mem: objects in this process's memory.
 *
 * A store is a sorted array of keys (binary search) pointing at immutable,
 * refcounted object versions. A write buffers its bytes and publishes a new
 * version at finish; a reader pins the version it found at its first read,
 * so a concurrent REPLACE never changes bytes under it. Named stores are
 * shared by all fs handles of the process and may be used from several
 * threads: the store's mutex guards its array and every refcount.
 *
 * With the "async" option every method's first call answers -EAGAIN and the
 * operation completes in wait_async, to exercise the core's engine.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libfs/driver.h"
#include "mem.h"
#include "sorted.h"

struct mem_object {
	unsigned int refcount;
	unsigned char *data;
	size_t size;
	int64_t mtime_ns;
	char etag[17];
	struct fs_metadata_list md; /* sorted by name */
};

struct mem_entry {
	char *key;
	struct mem_object *obj;
};

struct mem_store {
	struct mem_store *next; /* in mem_stores, if named */
	char *name;		/* NULL: private to one fs */
	unsigned int refcount;
	pthread_mutex_t lock;
	struct mem_entry *entries;
	size_t count, alloc;
	uint64_t version, bytes;
};

/* Named stores, shared process-wide. */
static pthread_mutex_t mem_stores_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_store *mem_stores;

/* What a file or iterator has queued with "async". */
enum mem_method {
	MEM_READ = 1,
	MEM_WRITE,
	MEM_FINISH,
	MEM_STAT,
	MEM_EXISTS,
	MEM_METADATA,
	MEM_DELETE,
	MEM_COPY,
	MEM_RENAME,
	MEM_ITER_NEXT,
};

enum mem_async_state { MEM_IDLE, MEM_QUEUED, MEM_READY };

struct mem_async {
	struct mem_async *prev, *next;
	struct fs_file *file; /* or: */
	struct fs_iter *iter;
	enum mem_async_state state;
	enum mem_method method;
	uint64_t round; /* wait_async round it was queued in */
};

struct mem_fs {
	struct fs fs;
	struct mem_store *store;
	bool async, no_range, no_metadata;
	struct fs_mem_counters counters;
	struct mem_async *queue_head, *queue_tail;
	uint64_t round;
};

struct mem_file {
	struct fs_file file;
	struct mem_async async;
	struct mem_object *pinned; /* the version being read */
	uint64_t pos, end;
	unsigned char *wbuf;
	size_t wsize, walloc;
};

struct mem_iter {
	struct fs_iter iter;
	struct mem_async async;
	char *resume; /* continue at the first key >= (or >) this */
	bool resume_inclusive;
	char *key; /* the key returned last */
};

#define MEM_FS(_fs) FS_CONTAINER_OF(_fs, struct mem_fs, fs)
#define MEM_FILE(_file) FS_CONTAINER_OF(_file, struct mem_file, file)
#define MEM_ITER(_iter) FS_CONTAINER_OF(_iter, struct mem_iter, iter)

/* --- Objects --- */

static void object_unref(struct mem_object *obj)
{
	if (obj == NULL || --obj->refcount > 0)
		return;
	free(obj->data);
	fs_metadata_list_clear(&obj->md);
	free(obj);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t data_hash(const unsigned char *data, size_t size)
{
	uint64_t hash = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < size; i++) {
		hash ^= data[i];
		hash *= 0x100000001b3ull;
	}
	return hash;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Creates a version owning data; the store lock is held (for version). */
static struct mem_object *object_new(struct mem_store *store,
				     unsigned char *data, size_t size,
				     const struct fs_metadata_list *md)
{
	struct mem_object *obj = calloc(1, sizeof(*obj));
	size_t i;

	if (obj == NULL)
		return NULL;
	for (i = 0; i < md->count; i++) {
		if (fs_metadata_list_set(&obj->md, md->items[i].name,
					 md->items[i].value) < 0) {
			fs_metadata_list_clear(&obj->md);
			free(obj);
			return NULL;
		}
	}
	obj->refcount = 1;
	obj->data = data;
	obj->size = size;
	obj->mtime_ns = realtime_ns();
	snprintf(obj->etag, sizeof(obj->etag), "%016" PRIx64,
		 mix64(data_hash(data, size) ^
		       (++store->version * 0x9e3779b97f4a7c15ull)));
	return obj;
}

/* --- Stores --- */

/* Finds key; returns true and its index, or false and where it would go. */
static bool store_find(const struct mem_store *store, const char *key,
		       size_t *idx_r)
{
	return fs_sorted_find(store->entries, store->count,
			      sizeof(*store->entries),
			      offsetof(struct mem_entry, key), key, idx_r);
}

static struct mem_object *store_get(struct mem_store *store, const char *key)
{
	size_t idx;

	return store_find(store, key, &idx) ? store->entries[idx].obj : NULL;
}

/* Points key at obj (taking a reference). Returns 0 or -ENOMEM. */
static int store_set(struct mem_store *store, const char *key,
		     struct mem_object *obj)
{
	struct mem_entry *entry, *entries;
	size_t idx, alloc;

	if (store_find(store, key, &idx)) {
		entry = &store->entries[idx];
		store->bytes -= entry->obj->size;
		object_unref(entry->obj);
	} else {
		if (store->count == store->alloc) {
			alloc = store->alloc == 0 ? 64 : store->alloc * 2;
			entries = realloc(store->entries,
					  alloc * sizeof(*entries));
			if (entries == NULL)
				return -ENOMEM;
			store->entries = entries;
			store->alloc = alloc;
		}
		entry = &store->entries[idx];
		memmove(entry + 1, entry,
			(store->count - idx) * sizeof(*entry));
		entry->key = strdup(key);
		if (entry->key == NULL) {
			memmove(entry, entry + 1,
				(store->count - idx) * sizeof(*entry));
			return -ENOMEM;
		}
		store->count++;
	}
	obj->refcount++;
	entry->obj = obj;
	store->bytes += obj->size;
	return 0;
}

static int store_remove(struct mem_store *store, const char *key)
{
	struct mem_entry *entry;
	size_t idx;

	if (!store_find(store, key, &idx))
		return -ENOENT;
	entry = &store->entries[idx];
	store->bytes -= entry->obj->size;
	object_unref(entry->obj);
	free(entry->key);
	store->count--;
	memmove(entry, entry + 1, (store->count - idx) * sizeof(*entry));
	return 0;
}

static struct mem_store *store_new(const char *name)
{
	struct mem_store *store = calloc(1, sizeof(*store));

	if (store == NULL)
		return NULL;
	if (name != NULL && (store->name = strdup(name)) == NULL) {
		free(store);
		return NULL;
	}
	pthread_mutex_init(&store->lock, NULL);
	store->refcount = 1;
	return store;
}

static void store_free(struct mem_store *store)
{
	size_t i;

	for (i = 0; i < store->count; i++) {
		free(store->entries[i].key);
		object_unref(store->entries[i].obj);
	}
	free(store->entries);
	pthread_mutex_destroy(&store->lock);
	free(store->name);
	free(store);
}

static struct mem_store *store_get_named(const char *name)
{
	struct mem_store *store;

	pthread_mutex_lock(&mem_stores_lock);
	for (store = mem_stores; store != NULL; store = store->next) {
		if (strcmp(store->name, name) == 0) {
			store->refcount++;
			break;
		}
	}
	if (store == NULL) {
		store = store_new(name);
		if (store != NULL) {
			store->next = mem_stores;
			mem_stores = store;
		}
	}
	pthread_mutex_unlock(&mem_stores_lock);
	return store;
}

static void store_unref(struct mem_store *store)
{
	struct mem_store **p;

	if (store->name == NULL) {
		store_free(store);
		return;
	}
	pthread_mutex_lock(&mem_stores_lock);
	if (--store->refcount > 0) {
		pthread_mutex_unlock(&mem_stores_lock);
		return;
	}
	for (p = &mem_stores; *p != store; p = &(*p)->next)
		;
	*p = store->next;
	pthread_mutex_unlock(&mem_stores_lock);
	store_free(store);
}

/* --- The "async" option --- */

static void async_dequeue(struct mem_fs *fs, struct mem_async *a)
{
	if (a->state != MEM_QUEUED)
		return;
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		fs->queue_head = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	else
		fs->queue_tail = a->prev;
	a->prev = a->next = NULL;
	a->state = MEM_IDLE;
}

/* Returns 0 when the method is to run now, -EAGAIN when it was queued. */
static int async_gate(struct mem_fs *fs, struct mem_async *a,
		      enum mem_method method)
{
	if (!fs->async)
		return 0;
	if (a->state == MEM_READY && a->method == method) {
		a->state = MEM_IDLE;
		return 0;
	}
	if (a->state == MEM_QUEUED)
		return -EAGAIN;
	a->state = MEM_QUEUED;
	a->method = method;
	a->round = fs->round;
	a->next = NULL;
	a->prev = fs->queue_tail;
	if (fs->queue_tail != NULL)
		fs->queue_tail->next = a;
	else
		fs->queue_head = a;
	fs->queue_tail = a;
	return -EAGAIN;
}

/* Cancels what a has queued, if it is one of the two methods. */
static void async_cancel(struct mem_fs *fs, struct mem_async *a,
			 enum mem_method m1, enum mem_method m2)
{
	if (a->state != MEM_IDLE && (a->method == m1 || a->method == m2)) {
		async_dequeue(fs, a);
		a->state = MEM_IDLE;
	}
}

static int mem_wait_async(struct fs *_fs, int timeout_ms)
{
	struct mem_fs *fs = MEM_FS(_fs);
	struct mem_async *a;
	uint64_t round = ++fs->round;

	/* what callbacks queue now waits for the next round */
	while ((a = fs->queue_head) != NULL && a->round < round) {
		async_dequeue(fs, a);
		a->state = MEM_READY;
		if (a->file != NULL)
			fs_file_async_done(a->file);
		else
			fs_iter_async_done(a->iter);
	}
	return 0;
}

/* --- fs --- */

static int mem_parse_option(struct mem_fs *fs, const struct fs_kv *kv,
			    const char **name_r)
{
	if (strcmp(kv->name, "name") == 0 && kv->value[0] != '\0') {
		*name_r = kv->value;
	} else if (strcmp(kv->name, "async") == 0 && kv->value[0] == '\0') {
		fs->async = true;
	} else if (strcmp(kv->name, "no-range") == 0 && kv->value[0] == '\0') {
		fs->no_range = true;
	} else if (strcmp(kv->name, "no-metadata") == 0 &&
		   kv->value[0] == '\0') {
		fs->no_metadata = true;
	} else {
		return fs_set_error(&fs->fs, -EINVAL,
				    "unknown or malformed option '%s' "
				    "(known: name=X, async, no-range, "
				    "no-metadata)",
				    kv->name);
	}
	return 0;
}

static int mem_init(struct fs *_fs, const char *scheme, const char *args)
{
	struct mem_fs *fs = MEM_FS(_fs);
	const char *name = NULL;
	struct fs_kv *kv;
	int i, count, ret = 0;

	count = fs_kv_split(args, ',', &kv);
	if (count < 0)
		return fs_set_error(_fs, count, "malformed options '%s'", args);
	for (i = 0; i < count && ret == 0; i++)
		ret = mem_parse_option(fs, &kv[i], &name);
	if (ret == 0) {
		fs->store =
			name != NULL ? store_get_named(name) : store_new(NULL);
		if (fs->store == NULL)
			ret = fs_set_error(_fs, -ENOMEM, "out of memory");
	}
	fs_kv_free(kv, count);
	return ret;
}

static void mem_deinit(struct fs *_fs)
{
	struct mem_fs *fs = MEM_FS(_fs);

	/* files are freed before their fs: the queue is empty here */
	store_unref(fs->store);
}

static unsigned int mem_get_caps(struct fs *_fs)
{
	struct mem_fs *fs = MEM_FS(_fs);
	unsigned int caps = FS_CAP_RANGE | FS_CAP_METADATA |
			    FS_CAP_RENAME_ATOMIC | FS_CAP_COPY_SERVER |
			    FS_CAP_APPEND | FS_CAP_CREATE_EXCL | FS_CAP_ITER |
			    FS_CAP_STAT_MTIME | FS_CAP_STAT_ETAG |
			    FS_CAP_IN_MEMORY;

	if (fs->async)
		caps |= FS_CAP_ASYNC;
	if (fs->no_range)
		caps &= ~FS_CAP_RANGE;
	if (fs->no_metadata)
		caps &= ~FS_CAP_METADATA;
	return caps;
}

/* --- Files --- */

static struct mem_fs *file_fs(struct fs_file *file)
{
	return MEM_FS(file->fs);
}

static int mem_file_init(struct fs_file *_file)
{
	struct mem_file *file = MEM_FILE(_file);

	file_fs(_file)->counters.file_init++;
	file->async.file = _file;
	return 0;
}

static void mem_file_deinit(struct fs_file *_file)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);

	async_dequeue(fs, &file->async);
	free(file->wbuf);
	file->wbuf = NULL;
	if (file->pinned != NULL) {
		pthread_mutex_lock(&fs->store->lock);
		object_unref(file->pinned);
		pthread_mutex_unlock(&fs->store->lock);
		file->pinned = NULL;
	}
}

static void range_apply(struct mem_file *file, uint64_t size)
{
	struct fs_file *_file = &file->file;
	uint64_t offset = _file->range_offset, length = _file->range_length;

	if (file_fs(_file)->no_range) {
		/* the core emulates; it left the range wide open */
		offset = 0;
		length = UINT64_MAX;
	}
	file->pos = offset < size ? offset : size;
	file->end = length >= size - file->pos ? size : file->pos + length;
}

static int read_open(struct mem_file *file)
{
	struct mem_fs *fs = file_fs(&file->file);
	struct mem_object *obj;

	pthread_mutex_lock(&fs->store->lock);
	obj = store_get(fs->store, file->file.key);
	if (obj != NULL)
		obj->refcount++;
	pthread_mutex_unlock(&fs->store->lock);
	if (obj == NULL)
		return fs_file_set_error(&file->file, -ENOENT,
					 "read %s: no such object (mem)",
					 file->file.key);
	file->pinned = obj;
	range_apply(file, obj->size);
	return 0;
}

static ssize_t mem_read(struct fs_file *_file, void *buf, size_t size)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);
	uint64_t left;
	int ret;

	fs->counters.read++;
	ret = async_gate(fs, &file->async, MEM_READ);
	if (ret < 0)
		return ret;
	if (file->pinned == NULL) {
		ret = read_open(file);
		if (ret < 0)
			return ret;
	}
	left = file->end - file->pos;
	if (size > left)
		size = (size_t)left;
	memcpy(buf, file->pinned->data + file->pos, size);
	file->pos += size;
	return (ssize_t)size;
}

static ssize_t mem_write(struct fs_file *_file, const void *data, size_t size)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);
	unsigned char *wbuf;
	size_t alloc;
	int ret;

	fs->counters.write++;
	ret = async_gate(fs, &file->async, MEM_WRITE);
	if (ret < 0)
		return ret;
	if (size > SIZE_MAX - file->wsize)
		return fs_file_set_error(_file, -EFBIG, "write %s: too large",
					 _file->key);
	if (file->wsize + size > file->walloc) {
		alloc = file->walloc == 0 ? 4096 : file->walloc;
		while (alloc < file->wsize + size)
			alloc = alloc > SIZE_MAX / 2 ? SIZE_MAX : alloc * 2;
		wbuf = realloc(file->wbuf, alloc);
		if (wbuf == NULL)
			return fs_file_set_error(_file, -ENOMEM,
						 "write %s: out of memory "
						 "(%zu bytes)",
						 _file->key, alloc);
		file->wbuf = wbuf;
		file->walloc = alloc;
	}
	memcpy(file->wbuf + file->wsize, data, size);
	file->wsize += size;
	return (ssize_t)size;
}

/* Gives back the slack of the doubling buffer before it becomes an object
   (outside the store lock: realloc may copy). */
static void mem_wbuf_trim(struct mem_file *file)
{
	unsigned char *wbuf;

	if (file->wbuf == NULL || file->walloc - file->wsize < 4096)
		return;
	wbuf = realloc(file->wbuf, file->wsize > 0 ? file->wsize : 1);
	if (wbuf != NULL) {
		file->wbuf = wbuf;
		file->walloc = file->wsize > 0 ? file->wsize : 1;
	}
}

/* The bytes of the new version: for APPEND the old ones, then the new. */
static unsigned char *publish_data(struct mem_file *file,
				   const struct mem_object *old, size_t *size_r)
{
	unsigned char *data;
	size_t old_size = old != NULL ? old->size : 0;

	if (file->file.mode != FS_OPEN_APPEND || old_size == 0) {
		data = file->wbuf != NULL ? file->wbuf : malloc(1);
		file->wbuf = NULL;
		*size_r = file->wsize;
		return data;
	}
	if (file->wsize > SIZE_MAX - old_size)
		return NULL;
	data = malloc(old_size + file->wsize + 1);
	if (data == NULL)
		return NULL;
	memcpy(data, old->data, old_size);
	if (file->wsize > 0)
		memcpy(data + old_size, file->wbuf, file->wsize);
	*size_r = old_size + file->wsize;
	return data;
}

/* Metadata of the new version: APPEND keeps the old, updated by the new. */
static int publish_md(struct mem_file *file, const struct mem_object *old,
		      struct fs_metadata_list *md)
{
	if (file->file.mode == FS_OPEN_APPEND && old != NULL &&
	    fs_metadata_list_copy(md, &old->md) < 0)
		return -ENOMEM;
	if (fs_metadata_list_copy(md, &file->file.write_md) < 0)
		return -ENOMEM;
	fs_metadata_list_sort(md);
	return 0;
}

/* Publishes with the store locked. Returns 0 or -errno. */
static int publish_locked(struct mem_file *file, struct mem_store *store)
{
	struct fs_metadata_list md = {0};
	struct mem_object *old, *obj = NULL;
	unsigned char *data;
	size_t size;
	int ret;

	old = store_get(store, file->file.key);
	if (old != NULL && file->file.mode == FS_OPEN_CREATE)
		return -EEXIST;
	ret = publish_md(file, old, &md);
	data = ret == 0 ? publish_data(file, old, &size) : NULL;
	if (data != NULL) {
		obj = object_new(store, data, size, &md);
		if (obj == NULL)
			free(data);
	}
	fs_metadata_list_clear(&md);
	if (obj == NULL)
		return -ENOMEM;
	ret = store_set(store, file->file.key, obj);
	object_unref(obj);
	return ret;
}

static int mem_write_finish(struct fs_file *_file)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);
	int ret;

	fs->counters.write_finish++;
	ret = async_gate(fs, &file->async, MEM_FINISH);
	if (ret < 0)
		return ret;
	mem_wbuf_trim(file);
	pthread_mutex_lock(&fs->store->lock);
	ret = publish_locked(file, fs->store);
	pthread_mutex_unlock(&fs->store->lock);
	free(file->wbuf);
	file->wbuf = NULL;
	file->wsize = file->walloc = 0;
	if (ret == -EEXIST)
		return fs_file_set_error(_file, ret,
					 "create %s: object exists (mem)",
					 _file->key);
	if (ret < 0)
		return fs_file_set_error(_file, ret,
					 "write finish %s: out of memory (mem)",
					 _file->key);
	return 0;
}

static void mem_write_abort(struct fs_file *_file)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);

	fs->counters.write_abort++;
	async_cancel(fs, &file->async, MEM_WRITE, MEM_FINISH);
	free(file->wbuf);
	file->wbuf = NULL;
	file->wsize = file->walloc = 0;
}

static int mem_stat(struct fs_file *_file, struct fs_stat *st_r)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);
	struct mem_object *obj;
	int ret;

	fs->counters.stat++;
	ret = async_gate(fs, &file->async, MEM_STAT);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&fs->store->lock);
	obj = store_get(fs->store, _file->key);
	if (obj != NULL) {
		st_r->valid = FS_STAT_SIZE | FS_STAT_MTIME | FS_STAT_ETAG;
		st_r->size = obj->size;
		st_r->mtime_ns = obj->mtime_ns;
		memcpy(st_r->etag, obj->etag, sizeof(obj->etag));
	}
	pthread_mutex_unlock(&fs->store->lock);
	return obj != NULL ? 0 : -ENOENT;
}

static int mem_exists(struct fs_file *_file)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);
	bool found;
	int ret;

	fs->counters.exists++;
	ret = async_gate(fs, &file->async, MEM_EXISTS);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&fs->store->lock);
	found = store_get(fs->store, _file->key) != NULL;
	pthread_mutex_unlock(&fs->store->lock);
	return found ? 1 : 0;
}

static int mem_get_metadata(struct fs_file *_file)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);
	struct mem_object *obj;
	size_t i;
	int ret;

	fs->counters.get_metadata++;
	if (fs->no_metadata)
		return -ENOTSUP;
	ret = async_gate(fs, &file->async, MEM_METADATA);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&fs->store->lock);
	obj = store_get(fs->store, _file->key);
	ret = obj != NULL ? 0 : -ENOENT;
	for (i = 0; obj != NULL && i < obj->md.count && ret == 0; i++)
		ret = fs_file_metadata_add(_file, obj->md.items[i].name,
					   obj->md.items[i].value);
	pthread_mutex_unlock(&fs->store->lock);
	return ret;
}

static int mem_delete(struct fs_file *_file)
{
	struct mem_file *file = MEM_FILE(_file);
	struct mem_fs *fs = file_fs(_file);
	int ret;

	fs->counters.delete_file++;
	ret = async_gate(fs, &file->async, MEM_DELETE);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&fs->store->lock);
	ret = store_remove(fs->store, _file->key);
	pthread_mutex_unlock(&fs->store->lock);
	return ret;
}

/* Points dst's key at src's version; with remove, drops src's key. */
static int copy_locked(struct mem_store *store, struct fs_file *src,
		       struct fs_file *dst, bool remove)
{
	struct mem_object *obj = store_get(store, src->key);
	int ret;

	if (obj == NULL)
		return -ENOENT;
	if (dst->mode == FS_OPEN_CREATE && store_get(store, dst->key) != NULL)
		return -EEXIST;
	ret = store_set(store, dst->key, obj);
	if (ret == 0 && remove)
		ret = store_remove(store, src->key);
	return ret;
}

static int mem_copy_or_rename(struct fs_file *src, struct fs_file *dst,
			      enum mem_method method)
{
	struct mem_file *file = MEM_FILE(dst);
	struct mem_fs *fs = file_fs(dst);
	int ret;

	ret = async_gate(fs, &file->async, method);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&fs->store->lock);
	ret = copy_locked(fs->store, src, dst, method == MEM_RENAME);
	pthread_mutex_unlock(&fs->store->lock);
	if (ret == -ENOENT)
		return fs_file_set_error(
			dst, ret, "%s %s: no such object (mem)",
			method == MEM_RENAME ? "rename" : "copy", src->key);
	if (ret == -EEXIST)
		return fs_file_set_error(
			dst, ret,
			"%s to %s: object exists "
			"(mem)",
			method == MEM_RENAME ? "rename" : "copy", dst->key);
	return ret;
}

static int mem_copy(struct fs_file *src, struct fs_file *dst)
{
	file_fs(dst)->counters.copy++;
	return mem_copy_or_rename(src, dst, MEM_COPY);
}

static int mem_rename(struct fs_file *src, struct fs_file *dst)
{
	file_fs(dst)->counters.rename++;
	return mem_copy_or_rename(src, dst, MEM_RENAME);
}

/* --- Iterators --- */

static int mem_iter_init(struct fs_iter *_iter)
{
	struct mem_iter *iter = MEM_ITER(_iter);

	MEM_FS(_iter->fs)->counters.iter_init++;
	iter->async.iter = _iter;
	iter->resume = strdup(_iter->prefix);
	iter->resume_inclusive = true;
	if (iter->resume == NULL)
		return fs_iter_set_error(_iter, -ENOMEM, "list: out of memory");
	return 0;
}

/* Index of the first key >= (inclusive) or > key. */
static size_t store_seek(const struct mem_store *store, const char *key,
			 bool inclusive)
{
	size_t idx;

	if (store_find(store, key, &idx) && !inclusive)
		idx++;
	return idx;
}

/* Sets what comes next: after key, or (one level) after a whole group. */
static int iter_advance(struct mem_iter *iter, const char *key, size_t len,
			bool group)
{
	char *next = strndup(key, len), *resume = strndup(key, len);

	if (next == NULL || resume == NULL) {
		free(next);
		free(resume);
		return -ENOMEM;
	}
	/* "a/b/" -> "a/b0": the first key sorting after every "a/b/..." */
	if (group)
		resume[len - 1] = '/' + 1;
	free(iter->key);
	free(iter->resume);
	iter->key = next;
	iter->resume = resume;
	iter->resume_inclusive = group;
	return 0;
}

static int iter_next_locked(struct mem_iter *iter, struct mem_store *store)
{
	const char *prefix = iter->iter.prefix, *key, *slash = NULL;
	size_t idx, plen = strlen(prefix), len;

	idx = store_seek(store, iter->resume, iter->resume_inclusive);
	if (idx >= store->count)
		return 0;
	key = store->entries[idx].key;
	if (strncmp(key, prefix, plen) != 0)
		return 0;
	len = strlen(key);
	if ((iter->iter.flags & FS_ITER_FLAG_ONE_LEVEL) != 0)
		slash = strchr(key + plen, '/');
	if (slash != NULL)
		len = (size_t)(slash - key) + 1;
	if (iter_advance(iter, key, len, slash != NULL) < 0)
		return -ENOMEM;
	return 1;
}

static int mem_iter_next(struct fs_iter *_iter, const char **key_r)
{
	struct mem_iter *iter = MEM_ITER(_iter);
	struct mem_fs *fs = MEM_FS(_iter->fs);
	int ret;

	fs->counters.iter_next++;
	ret = async_gate(fs, &iter->async, MEM_ITER_NEXT);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&fs->store->lock);
	ret = iter_next_locked(iter, fs->store);
	pthread_mutex_unlock(&fs->store->lock);
	if (ret < 0)
		return fs_iter_set_error(_iter, ret, "list %s: out of memory",
					 _iter->prefix);
	*key_r = ret > 0 ? iter->key : NULL;
	return ret;
}

static void mem_iter_deinit(struct fs_iter *_iter)
{
	struct mem_iter *iter = MEM_ITER(_iter);

	async_dequeue(MEM_FS(_iter->fs), &iter->async);
	free(iter->resume);
	free(iter->key);
}

const struct fs_driver fs_driver_mem = {
	.version = FS_DRIVER_VERSION,
	.name = "mem",
	.fs_size = sizeof(struct mem_fs),
	.file_size = sizeof(struct mem_file),
	.iter_size = sizeof(struct mem_iter),
	.v =
		{
			.init = mem_init,
			.deinit = mem_deinit,
			.get_caps = mem_get_caps,
			.file_init = mem_file_init,
			.file_deinit = mem_file_deinit,
			.read = mem_read,
			.write = mem_write,
			.write_finish = mem_write_finish,
			.write_abort = mem_write_abort,
			.stat = mem_stat,
			.exists = mem_exists,
			.get_metadata = mem_get_metadata,
			.delete_file = mem_delete,
			.copy = mem_copy,
			.rename = mem_rename,
			.iter_init = mem_iter_init,
			.iter_next = mem_iter_next,
			.iter_deinit = mem_iter_deinit,
			.wait_async = mem_wait_async,
		},
};

/* --- Counters --- */

static struct mem_fs *mem_find(struct fs *fs)
{
	for (; fs != NULL; fs = fs->parent) {
		if (fs->driver == &fs_driver_mem)
			return MEM_FS(fs);
	}
	return NULL;
}

int fs_mem_get_counters(struct fs *fs, struct fs_mem_counters *c_r)
{
	struct mem_fs *mfs = mem_find(fs);

	if (mfs == NULL)
		return -EINVAL;
	*c_r = mfs->counters;
	pthread_mutex_lock(&mfs->store->lock);
	c_r->objects = mfs->store->count;
	c_r->bytes = mfs->store->bytes;
	pthread_mutex_unlock(&mfs->store->lock);
	return 0;
}

void fs_mem_reset_counters(struct fs *fs)
{
	struct mem_fs *mfs = mem_find(fs);

	if (mfs != NULL)
		memset(&mfs->counters, 0, sizeof(mfs->counters));
}
