/*
 * cache: listings. They pass through; with list_ttl, a listing that ran to
 * its end is kept for list_ttl and the same prefix and flags are served from
 * it meanwhile. Any change under the layer (write, delete, copy, rename)
 * drops every kept listing, and a listing during which something changed is
 * not kept. Listings may take at most max / CACHE_LIST_SHARE bytes, so that
 * one huge listing never displaces the objects.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache-private.h"

#define CACHE_ITER(_iter) FS_CONTAINER_OF(_iter, struct cache_iter, iter)
#define KEYS_FIRST_ALLOC 4096

void cache_listing_unref(struct cache_listing **_listing)
{
	struct cache_listing *listing = *_listing;

	if (listing == NULL)
		return;
	*_listing = NULL;
	if (--listing->refcount > 0)
		return;
	free(listing->prefix);
	free(listing->keys);
	free(listing);
}

void cache_listings_clear(struct cache_fs *fs)
{
	struct cache_listing *listing, *next;

	fs->list_seq++;
	for (listing = fs->listings; listing != NULL; listing = next) {
		next = listing->next;
		fs->list_bytes -= listing->charge;
		cache_listing_unref(&listing);
	}
	fs->listings = NULL;
}

static unsigned int list_flags(const struct fs_iter *iter)
{
	return iter->flags & FS_ITER_FLAG_ONE_LEVEL;
}

/* Returns the live listing of the iterator's prefix and flags, dropping
   expired ones on the way. */
static struct cache_listing *listing_find(struct cache_fs *fs,
					  const struct fs_iter *iter)
{
	struct cache_listing **p = &fs->listings, *listing;
	uint64_t now = fs_now_usec();

	while ((listing = *p) != NULL) {
		if (now >= listing->expires_usec) {
			*p = listing->next;
			fs->list_bytes -= listing->charge;
			cache_listing_unref(&listing);
			continue;
		}
		if (listing->flags == list_flags(iter) &&
		    strcmp(listing->prefix, iter->prefix) == 0)
			return listing;
		p = &listing->next;
	}
	return NULL;
}

int cache_iter_init(struct fs_iter *_iter)
{
	struct cache_iter *iter = CACHE_ITER(_iter);
	struct cache_fs *fs = CACHE_FS(_iter->fs);
	struct cache_listing *listing;
	int ret;

	if (fs->list_ttl_usec > 0) {
		listing = listing_find(fs, _iter);
		cache_store_update_stats(fs);
		if (listing != NULL) {
			listing->refcount++;
			iter->listing = listing;
			return 0;
		}
	}
	ret = fs_passthrough_iter_init(_iter);
	if (ret < 0)
		return ret;
	iter->collecting = fs->list_ttl_usec > 0;
	iter->seq = fs->list_seq;
	return 0;
}

static void collect_stop(struct cache_iter *iter)
{
	iter->collecting = false;
	free(iter->keys);
	iter->keys = NULL;
	iter->keys_len = iter->keys_alloc = 0;
}

static void collect_key(struct cache_iter *iter, const char *key)
{
	struct cache_fs *fs = CACHE_FS(iter->iter.fs);
	size_t len = strlen(key) + 1, alloc = iter->keys_alloc;
	char *keys;

	if (iter->keys_len + len > fs->max / CACHE_LIST_SHARE) {
		collect_stop(iter);
		return;
	}
	if (iter->keys_len + len > alloc) {
		alloc = alloc == 0 ? KEYS_FIRST_ALLOC : alloc * 2;
		while (alloc < iter->keys_len + len)
			alloc *= 2;
		keys = realloc(iter->keys, alloc);
		if (keys == NULL) {
			collect_stop(iter);
			return;
		}
		iter->keys = keys;
		iter->keys_alloc = alloc;
	}
	memcpy(iter->keys + iter->keys_len, key, len);
	iter->keys_len += len;
}

/* The listing ran to its end: keep it, unless something changed meanwhile
   or it cannot fit its share. */
static void collect_done(struct cache_iter *iter)
{
	struct cache_fs *fs = CACHE_FS(iter->iter.fs);
	struct cache_listing *listing;
	uint64_t charge, share = fs->max / CACHE_LIST_SHARE;

	if (iter->keys_len > 0 && iter->keys_len < iter->keys_alloc) {
		/* give back the slack of the doubling buffer */
		char *keys = realloc(iter->keys, iter->keys_len);

		if (keys != NULL) {
			iter->keys = keys;
			iter->keys_alloc = iter->keys_len;
		}
	}
	charge = sizeof(*listing) + strlen(iter->iter.prefix) + 1 +
		 iter->keys_alloc;
	if (fs->list_seq != iter->seq || charge > share) {
		collect_stop(iter);
		return;
	}
	while (fs->listings != NULL && fs->list_bytes + charge > share)
		cache_listing_drop_oldest(fs);
	listing = calloc(1, sizeof(*listing));
	if (listing == NULL || !cache_store_make_room(fs, charge) ||
	    (listing->prefix = strdup(iter->iter.prefix)) == NULL) {
		free(listing);
		collect_stop(iter);
		cache_store_update_stats(fs);
		return;
	}
	listing->refcount = 1;
	listing->flags = list_flags(&iter->iter);
	listing->expires_usec = fs_now_usec() + fs->list_ttl_usec;
	listing->keys = iter->keys;
	listing->keys_len = iter->keys_len;
	listing->charge = charge;
	listing->next = fs->listings;
	fs->listings = listing;
	fs->list_bytes += charge;
	iter->keys = NULL;
	collect_stop(iter);
	cache_store_update_stats(fs);
}

static int listing_next(struct cache_iter *iter, const char **key_r)
{
	const struct cache_listing *listing = iter->listing;

	if (iter->offset >= listing->keys_len)
		return 0;
	*key_r = listing->keys + iter->offset;
	iter->offset += strlen(*key_r) + 1;
	return 1;
}

int cache_iter_next(struct fs_iter *_iter, const char **key_r)
{
	struct cache_iter *iter = CACHE_ITER(_iter);
	int ret;

	if (iter->listing != NULL)
		return listing_next(iter, key_r);
	ret = fs_passthrough_iter_next(_iter, key_r);
	if (!iter->collecting)
		return ret;
	if (ret > 0)
		collect_key(iter, *key_r);
	else if (ret == 0)
		collect_done(iter);
	else if (ret != -EAGAIN)
		collect_stop(iter);
	return ret;
}

void cache_iter_deinit(struct fs_iter *_iter)
{
	struct cache_iter *iter = CACHE_ITER(_iter);

	cache_listing_unref(&iter->listing);
	collect_stop(iter);
	if (_iter->parent != NULL)
		fs_passthrough_iter_deinit(_iter);
}
