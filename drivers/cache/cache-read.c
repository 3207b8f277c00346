/*
 * cache: reading. A file open for reading looks its key up once, at its
 * first operation, and then serves everything (read, stat, exists,
 * metadata) from what it found:
 *
 *  - a hit pins the cached copy: with validate=never it costs no child call
 *    at all; with validate=etag one fs_file_revalidate() on the child first
 *    (unchanged: serve from memory; changed: the child's handle reads the
 *    new object, which replaces the copy; gone: -ENOENT);
 *  - a remembered -ENOENT (negative_ttl) answers at once;
 *  - a miss asks the child. A read takes the child's stat first (so the
 *    etag kept is never newer than the bytes), then its metadata, then
 *    streams the whole object, keeping a copy while it fits object_max, and
 *    inserts the copy once the child's stream ended. Where the child has
 *    FS_CAP_READ_STAT (S3: stat and metadata from the GET's headers), the
 *    read starts first and the stat and metadata of the very bytes read
 *    are taken with its first bytes: a miss is then one request. An
 *    abandoned or failed read inserts nothing, and neither does one whose
 *    key was changed meanwhile (the file was marked stale).
 */
#include <errno.h>
#include <string.h>

#include "cache-private.h"

#define CAPTURE_FIRST_ALLOC (64 * 1024)

#define MIN(a, b) ((a) < (b) ? (a) : (b))

static struct cache_fs *file_fs(struct cache_file *file)
{
	return CACHE_FS(file->file.fs);
}

/* Copies the child's error up, unless it is -EAGAIN. */
static int child_result(struct cache_file *file, int ret)
{
	if (ret < 0 && ret != -EAGAIN)
		fs_file_copy_error(&file->file, file->file.parent, ret);
	return ret;
}

int cache_parent_open(struct cache_file *file)
{
	struct fs_file *_file = &file->file;
	int ret;

	if (_file->parent != NULL)
		return 0;
	ret = fs_passthrough_file_init(_file);
	if (ret < 0)
		return fs_file_set_error(_file, ret, "%s",
					 fs_last_error(_file->fs));
	return 0;
}

void cache_read_deinit(struct cache_file *file)
{
	cache_obj_unref(&file->pin);
	cache_obj_unref(&file->capture);
}

/* Remembers that the key does not exist, if negative_ttl asks for it and
   nothing changed the key since this file started looking. */
static void negative_insert(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);

	if (fs->negative_ttl_usec > 0 && file->fill_registered &&
	    !file->fill_stale)
		(void)cache_store_insert(fs, file->file.key, NULL);
	cache_fill_unregister(fs, file);
}

/* --- Lookup --- */

static int lookup_start(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);
	struct cache_entry *entry;
	int ret;

	if (file->file.mode != FS_OPEN_READ) {
		/* stat of a file open for writing: the child answers (a
		   revalidation needs a file open for reading) */
		file->rstate = CACHE_R_CHILD;
		return 0;
	}
	entry = cache_store_find(fs, file->file.key);
	if (entry != NULL && (entry->obj == NULL || !fs->validate_etag)) {
		cache_store_touch(entry);
		fs->fs.stats.cache_hits++;
		file->rstate =
			entry->obj != NULL ? CACHE_R_HIT : CACHE_R_NEGATIVE;
		if (entry->obj != NULL)
			file->pin = cache_obj_ref(entry->obj);
		return 0;
	}
	/* from here on an insert by this file needs the key unchanged */
	cache_fill_register(fs, file);
	if (entry == NULL) {
		fs->fs.stats.cache_misses++;
		file->rstate = CACHE_R_CHILD;
		return 0;
	}
	ret = cache_parent_open(file);
	if (ret < 0) {
		cache_fill_unregister(fs, file);
		return ret;
	}
	cache_store_touch(entry);
	file->pin = cache_obj_ref(entry->obj);
	file->rstate = CACHE_R_REVALIDATE;
	return 0;
}

static int lookup_revalidate(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);
	int ret;

	ret = fs_file_revalidate(file->file.parent, file->pin->st.etag);
	if (ret == -EAGAIN)
		return ret;
	fs->fs.stats.cache_revalidations++;
	if (ret == 1) {
		fs->fs.stats.cache_hits++;
		file->rstate = CACHE_R_HIT;
		cache_fill_unregister(fs, file);
		return 0;
	}
	fs->fs.stats.cache_misses++;
	if (ret == 0 || ret == -ENOENT)
		cache_store_invalidate_obj(fs, file->file.key, file->pin);
	cache_obj_unref(&file->pin);
	file->rstate = CACHE_R_CHILD;
	if (ret == -ENOENT) {
		negative_insert(file);
		file->rstate = CACHE_R_NEGATIVE;
		return 0;
	}
	return child_result(file, ret);
}

/* Forgets what an earlier operation looked up, so that stat, exists and
   metadata are never older than the call (reads keep theirs: a stream
   reads one version). */
static void lookup_reset(struct cache_file *file)
{
	cache_obj_unref(&file->pin);
	cache_obj_unref(&file->capture);
	cache_fill_unregister(file_fs(file), file);
	file->rstate = CACHE_R_INIT;
	file->rmode = CACHE_RM_UNDECIDED;
	file->have_st = false;
	file->capturing = false;
	file->child_eof = false;
	file->child_pos = 0;
}

static void op_begin(struct cache_file *file)
{
	if (file->op_active)
		return; /* called again after -EAGAIN */
	file->op_active = true;
	if (!file->file.read_started && file->rstate != CACHE_R_INIT)
		lookup_reset(file);
}

static int op_end(struct cache_file *file, int ret)
{
	if (ret != -EAGAIN)
		file->op_active = false;
	return ret;
}

/* Decides what the file serves from. Returns 0, -EAGAIN or -errno. */
static int cache_lookup(struct cache_file *file)
{
	int ret = 0;

	if (file->rstate == CACHE_R_INIT)
		ret = lookup_start(file);
	if (ret == 0 && file->rstate == CACHE_R_REVALIDATE)
		ret = lookup_revalidate(file);
	cache_store_update_stats(file_fs(file));
	return ret;
}

static int negative_error(struct cache_file *file, const char *what)
{
	return fs_file_set_error(&file->file, -ENOENT,
				 "%s %s: no such object (cache)", what,
				 file->file.key);
}

/* Takes the child's stat once. Returns 0, -EAGAIN or -errno. */
static int child_stat(struct cache_file *file)
{
	int ret;

	if (file->have_st)
		return 0;
	ret = cache_parent_open(file);
	if (ret < 0)
		return ret;
	ret = fs_file_stat(file->file.parent, &file->st);
	if (ret == -ENOENT)
		negative_insert(file);
	if (ret < 0)
		return child_result(file, ret);
	file->have_st = true;
	return 0;
}

/* --- Reading --- */

static uint64_t range_end(const struct fs_file *file)
{
	if (file->range_length > UINT64_MAX - file->range_offset)
		return UINT64_MAX;
	return file->range_offset + file->range_length;
}

static ssize_t read_hit(struct cache_file *file, void *buf, size_t size)
{
	const struct cache_obj *obj = file->pin;
	uint64_t end = MIN(range_end(&file->file), (uint64_t)obj->size);
	size_t n;

	if (file->pos >= end)
		return 0;
	n = (size_t)MIN((uint64_t)size, end - file->pos);
	memcpy(buf, obj->data + file->pos, n);
	file->pos += n;
	return (ssize_t)n;
}

static bool fill_possible(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);
	const struct fs_stat *st = &file->st;

	if (!file->fill_registered || file->fill_stale)
		return false;
	if ((st->valid & FS_STAT_SIZE) != 0 && st->size > fs->object_max)
		return false;
	/* without an etag a copy could never be revalidated */
	return !fs->validate_etag ||
	       ((st->valid & FS_STAT_ETAG) != 0 && st->etag[0] != '\0');
}

/* Starts the copy of a miss: the metadata first, then an empty buffer. */
static int capture_start(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);
	const struct fs_metadata *md = NULL;
	size_t alloc = MIN(CAPTURE_FIRST_ALLOC, fs->object_max + 1);
	int count = 0;

	if ((fs_get_caps(&fs->fs) & FS_CAP_METADATA) != 0) {
		count = fs_file_get_metadata_all(file->file.parent, &md);
		if (count == -EAGAIN)
			return count;
		if (count < 0) {
			/* the data can still be read: just not cached */
			file->rmode = CACHE_RM_PASS;
			return 0;
		}
	}
	/* one byte more than the stat says shows that it grew */
	if ((file->st.valid & FS_STAT_SIZE) != 0)
		alloc = (size_t)file->st.size + 1;
	file->capture = cache_obj_new(alloc);
	if (file->capture == NULL ||
	    cache_obj_set_metadata(file->capture, md, (size_t)count) < 0) {
		cache_obj_unref(&file->capture);
		file->rmode = CACHE_RM_PASS;
		return 0;
	}
	file->capturing = true;
	file->rmode = CACHE_RM_DIRECT;
	return 0;
}

/* FS_CAP_READ_STAT: the copy starts before anything is known of the
   object; capture_decide() looks at the stat once the first bytes came. */
static int capture_start_blind(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);

	file->capture =
		cache_obj_new(MIN(CAPTURE_FIRST_ALLOC, fs->object_max + 1));
	if (file->capture == NULL) {
		file->rmode = CACHE_RM_PASS;
		return 0;
	}
	file->capturing = true;
	file->capture_undecided = true;
	file->rmode = CACHE_RM_DIRECT;
	return 0;
}

/* The child's read has started: its stat and metadata (no request with
   FS_CAP_READ_STAT) decide whether the copy goes on. Bytes already read
   are served from the copy either way. Returns 0 or -EAGAIN. */
static int capture_decide(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);
	const struct fs_metadata *md = NULL;
	int ret, count = 0;

	ret = child_stat(file);
	if (ret == -EAGAIN)
		return ret;
	if (ret == 0 && fill_possible(file) &&
	    (fs_get_caps(&fs->fs) & FS_CAP_METADATA) != 0) {
		count = fs_file_get_metadata_all(file->file.parent, &md);
		if (count == -EAGAIN)
			return count;
	}
	file->capture_undecided = false;
	if (ret < 0 || count < 0 || !fill_possible(file) ||
	    cache_obj_set_metadata(file->capture, md, (size_t)count) < 0) {
		/* the data can still be read: just not cached */
		file->capturing = false;
		return 0;
	}
	/* the whole object in one buffer, one byte more shows it grew */
	if ((file->st.valid & FS_STAT_SIZE) != 0 &&
	    file->st.size < fs->object_max &&
	    file->st.size + 1 > file->capture->alloc)
		(void)cache_obj_reserve(&file->capture,
					(size_t)file->st.size + 1);
	return 0;
}

static int read_decide(struct cache_file *file)
{
	int ret;

	if (!file->have_st && file->fill_registered && !file->fill_stale &&
	    (fs_get_caps(&file_fs(file)->fs) & FS_CAP_READ_STAT) != 0) {
		ret = cache_parent_open(file);
		return ret < 0 ? ret : capture_start_blind(file);
	}
	ret = child_stat(file);
	if (ret < 0)
		return ret;
	if (!fill_possible(file)) {
		file->rmode = CACHE_RM_PASS;
		return 0;
	}
	return capture_start(file);
}

/* Reads more of the child into the capture. Returns 0 (progress, or the
   end: child_eof), -EAGAIN or -errno. */
static int capture_more(struct cache_file *file)
{
	uint64_t limit = file_fs(file)->object_max + 1;
	struct cache_obj *obj = file->capture;
	size_t alloc;
	ssize_t ret;

	if (file->capture_undecided && (file->child_pos > 0 || file->child_eof))
		return capture_decide(file);
	if (obj->size == obj->alloc) {
		alloc = obj->alloc < CAPTURE_FIRST_ALLOC / 2
				? CAPTURE_FIRST_ALLOC
				: obj->alloc * 2;
		if (alloc > limit)
			alloc = (size_t)limit;
		if (obj->alloc >= limit ||
		    cache_obj_reserve(&file->capture, alloc) < 0) {
			/* too large to cache: stream on without a copy */
			file->capturing = false;
			return 0;
		}
		obj = file->capture;
	}
	ret = fs_read(file->file.parent, obj->data + obj->size,
		      obj->alloc - obj->size);
	if (ret == -ENOENT && file->capture_undecided)
		negative_insert(file);
	if (ret < 0)
		return child_result(file, (int)ret);
	if (ret == 0)
		file->child_eof = true;
	obj->size += (size_t)ret;
	file->child_pos += (uint64_t)ret;
	return file->capture_undecided ? capture_decide(file) : 0;
}

/* The child's stream ended with a complete copy: insert it. */
static void capture_insert(struct cache_file *file)
{
	struct cache_fs *fs = file_fs(file);
	struct fs_stat *st = &file->st;

	file->capturing = false;
	if (file->fill_registered && !file->fill_stale &&
	    ((st->valid & FS_STAT_SIZE) == 0 ||
	     st->size == file->capture->size)) {
		st->valid |= FS_STAT_SIZE;
		st->size = file->capture->size;
		cache_obj_trim(&file->capture);
		file->capture->st = *st;
		(void)cache_store_insert(fs, file->file.key, file->capture);
	}
	cache_fill_unregister(fs, file);
	cache_obj_unref(&file->capture);
}

/* The caller's range is done: complete the copy (a partial one is never
   inserted), then report the end. */
static ssize_t direct_end(struct cache_file *file)
{
	int ret;

	while (file->capturing &&
	       (!file->child_eof || file->capture_undecided)) {
		ret = capture_more(file);
		if (ret == -EAGAIN)
			return ret;
		if (ret < 0)
			file->capturing = false;
	}
	if (file->capturing)
		capture_insert(file);
	return 0;
}

/* Reads from the child straight into the caller's buffer (after a copy was
   given up). Returns bytes for the caller, 0 for progress, or -errno. */
static ssize_t direct_uncaptured(struct cache_file *file, void *buf,
				 size_t size, uint64_t end)
{
	uint64_t want;
	ssize_t ret;

	if (file->capture != NULL && file->pos >= file->capture->size)
		cache_obj_unref(&file->capture);
	/* bytes before the caller's position are skipped */
	want = file->pos > file->child_pos ? file->pos - file->child_pos
					   : end - file->pos;
	ret = fs_read(file->file.parent, buf,
		      (size_t)MIN((uint64_t)size, want));
	if (ret < 0)
		return child_result(file, (int)ret);
	if (ret == 0)
		file->child_eof = true;
	if (file->pos > file->child_pos) {
		file->child_pos += (uint64_t)ret;
		return 0;
	}
	file->child_pos += (uint64_t)ret;
	file->pos += (uint64_t)ret;
	return ret;
}

/* Reads the whole object from the child (capturing it while it may be
   cached) and gives the caller its range of it. */
static ssize_t read_direct(struct cache_file *file, void *buf, size_t size)
{
	uint64_t end = range_end(&file->file);
	const struct cache_obj *obj;
	ssize_t ret;
	size_t n;

	for (;;) {
		obj = file->capture;
		if (file->pos >= end || file->child_eof)
			return direct_end(file);
		if (obj != NULL && file->pos < obj->size) {
			n = (size_t)MIN((uint64_t)size,
					MIN(end, (uint64_t)obj->size) -
						file->pos);
			memcpy(buf, obj->data + file->pos, n);
			file->pos += n;
			return (ssize_t)n;
		}
		if (file->capturing)
			ret = capture_more(file);
		else
			ret = direct_uncaptured(file, buf, size, end);
		if (ret != 0)
			return ret;
	}
}

ssize_t cache_read(struct fs_file *_file, void *buf, size_t size)
{
	struct cache_file *file = CACHE_FILE(_file);
	int ret = cache_lookup(file);

	if (ret < 0)
		return ret;
	if (!file->pos_set) {
		file->pos = _file->range_offset;
		file->pos_set = true;
	}
	if (file->rstate == CACHE_R_HIT)
		return read_hit(file, buf, size);
	if (file->rstate == CACHE_R_NEGATIVE)
		return negative_error(file, "read");
	if (file->rmode == CACHE_RM_UNDECIDED) {
		ret = read_decide(file);
		if (ret < 0)
			return ret;
	}
	if (file->rmode == CACHE_RM_PASS)
		return fs_passthrough_read(_file, buf, size);
	return read_direct(file, buf, size);
}

/* --- Stat, exists, metadata, revalidate --- */

static int stat_op(struct fs_file *_file, struct fs_stat *st_r)
{
	struct cache_file *file = CACHE_FILE(_file);
	int ret = cache_lookup(file);

	if (ret < 0)
		return ret;
	if (file->rstate == CACHE_R_HIT) {
		*st_r = file->pin->st;
		return 0;
	}
	if (file->rstate == CACHE_R_NEGATIVE)
		return negative_error(file, "stat");
	ret = child_stat(file);
	if (ret == 0)
		*st_r = file->st;
	return ret;
}

static int exists_op(struct fs_file *_file)
{
	struct cache_file *file = CACHE_FILE(_file);
	int ret = cache_lookup(file);

	if (ret < 0)
		return ret;
	if (file->rstate == CACHE_R_HIT)
		return 1;
	if (file->rstate == CACHE_R_NEGATIVE)
		return 0;
	ret = child_stat(file);
	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}

static int metadata_add(struct cache_file *file, const struct fs_metadata *md,
			size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		if (fs_file_metadata_add(&file->file, md[i].name, md[i].value) <
		    0)
			return fs_file_set_error(&file->file, -ENOMEM,
						 "get metadata %s: out of "
						 "memory",
						 file->file.key);
	}
	return 0;
}

static int get_metadata_op(struct fs_file *_file)
{
	struct cache_file *file = CACHE_FILE(_file);
	const struct fs_metadata *md;
	int ret = cache_lookup(file);

	if (ret < 0)
		return ret;
	if (file->rstate == CACHE_R_HIT)
		return metadata_add(file, file->pin->md.items,
				    file->pin->md.count);
	if (file->rstate == CACHE_R_NEGATIVE)
		return negative_error(file, "get metadata");
	ret = cache_parent_open(file);
	if (ret < 0)
		return ret;
	ret = fs_file_get_metadata_all(_file->parent, &md);
	if (ret == -ENOENT)
		negative_insert(file);
	if (ret < 0)
		return child_result(file, ret);
	return metadata_add(file, md, (size_t)ret);
}

static int revalidate_op(struct fs_file *_file, const char *etag)
{
	struct cache_file *file = CACHE_FILE(_file);
	int ret = cache_lookup(file);

	if (ret < 0)
		return ret;
	if (file->rstate == CACHE_R_HIT)
		return (file->pin->st.valid & FS_STAT_ETAG) != 0 &&
		       strcmp(file->pin->st.etag, etag) == 0;
	if (file->rstate == CACHE_R_NEGATIVE)
		return negative_error(file, "revalidate");
	ret = cache_parent_open(file);
	if (ret < 0)
		return ret;
	ret = fs_passthrough_revalidate(_file, etag);
	if (ret == -ENOENT)
		negative_insert(file);
	/* a stat taken before may describe another version than the one
	   the child's handle reads now */
	if (ret == 0 ||
	    (ret == 1 && file->have_st && strcmp(file->st.etag, etag) != 0))
		file->have_st = false;
	return ret;
}

int cache_stat(struct fs_file *_file, struct fs_stat *st_r)
{
	struct cache_file *file = CACHE_FILE(_file);

	op_begin(file);
	return op_end(file, stat_op(_file, st_r));
}

int cache_exists(struct fs_file *_file)
{
	struct cache_file *file = CACHE_FILE(_file);

	op_begin(file);
	return op_end(file, exists_op(_file));
}

int cache_get_metadata(struct fs_file *_file)
{
	struct cache_file *file = CACHE_FILE(_file);

	op_begin(file);
	return op_end(file, get_metadata_op(_file));
}

int cache_revalidate(struct fs_file *_file, const char *etag)
{
	struct cache_file *file = CACHE_FILE(_file);

	op_begin(file);
	return op_end(file, revalidate_op(_file, etag));
}
