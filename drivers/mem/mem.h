/*
 * The in-memory driver ("mem:"), for tests, and its call counters.
 *
 * Spec: "mem:" with comma separated options:
 *   name=X       a store shared by every fs handle of the process using the
 *                same name (refcounted, freed with the last handle); without
 *                it each handle has a private store
 *   async        every operation's first call returns -EAGAIN and completes
 *                in wait_async (exercises the core's asynchronous engine)
 *   no-range     no FS_CAP_RANGE (the core emulates ranges)
 *   no-metadata  no FS_CAP_METADATA
 */
#ifndef LIBFS_DRIVERS_MEM_H
#define LIBFS_DRIVERS_MEM_H

#include <stdint.h>

struct fs;

/* Calls of each vtable method on one mem fs handle (with "async", a method
   answering -EAGAIN first counts twice), plus what its store holds now. */
struct fs_mem_counters {
	uint64_t file_init;
	uint64_t read;
	uint64_t write;
	uint64_t write_finish;
	uint64_t write_abort;
	uint64_t stat;
	uint64_t exists;
	uint64_t get_metadata;
	uint64_t delete_file;
	uint64_t copy;
	uint64_t rename;
	uint64_t iter_init;
	uint64_t iter_next;

	uint64_t objects; /* keys stored */
	uint64_t bytes;	  /* sum of their sizes */
};

/* Fills *c_r from the mem layer found anywhere in fs's stack. Returns 0, or
   -EINVAL if the stack has no mem layer. */
int fs_mem_get_counters(struct fs *fs, struct fs_mem_counters *c_r);

/* Zeroes the call counters of the mem layer in fs's stack (if any). */
void fs_mem_reset_counters(struct fs *fs);

#endif
