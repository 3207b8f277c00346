/*
 * Binary search in an array kept sorted by a string member, for the tables
 * of the tree that keep their entries in strcmp() order and insert in place
 * (the mem driver's store, the MogileFS mock's files). Header-only and not
 * installed: libfs/ and the drivers include "sorted.h", the mock server
 * "libfs/sorted.h".
 */
#ifndef LIBFS_SORTED_H
#define LIBFS_SORTED_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Looks key up in base[0..count), elements of size bytes in strcmp() order
   of the char * member at key_offset (offsetof() of it; 0 for an array of
   strings). Returns true and sets *idx_r to its index, or false and sets
   *idx_r to where key would be inserted to keep the order. */
static inline bool fs_sorted_find(const void *base, size_t count, size_t size,
				  size_t key_offset, const char *key,
				  size_t *idx_r)
{
	size_t lo = 0, hi = count, mid;
	const char *mid_key;
	int cmp;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		memcpy(&mid_key, (const char *)base + mid * size + key_offset,
		       sizeof(mid_key));
		cmp = strcmp(mid_key, key);
		if (cmp == 0) {
			*idx_r = mid;
			return true;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*idx_r = lo;
	return false;
}

#endif
