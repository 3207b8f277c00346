/*
 * The torture test's shared part (torture.c): one fixed scenario run
 * through "faults:nth=K,...::CHILD" for K = 1, 2, ... until no call is left
 * to fail, each run on a fresh store, with a model of what every key may
 * hold and a final check of the store read without the layer. The programs
 * (test_torture.c over mem and posix, test_torture_mock.c over S3, WebDAV
 * and MogileFS on their in-process mocks) only say how a backend makes a
 * fresh store and how it checks what a run left behind.
 */
#ifndef TORTURE_H
#define TORTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "libfs/fs.h"

struct torture_backend {
	const char *name;
	/* Settings both stacks of a run are opened with (NULL: defaults). */
	const struct fs_settings *settings;
	/* Makes a fresh, empty store and returns its spec in a string the
	   caller frees. Asserts on failure. */
	char *(*store_new)(const struct torture_backend *be);
	/* A write failed: called before its handle is freed, to assert that
	   nothing of it is left already. NULL: no such check. */
	void (*write_failed)(const struct torture_backend *be);
	/* After the final check, with the faults stack freed and child (the
	   store opened without the layer) still open: asserts that nothing
	   else was left behind (temporary files, unfinished uploads, stray
	   keys or fids) and releases the store. */
	void (*store_done)(const struct torture_backend *be, struct fs *child);
	void *context;
};

/* cmocka group setup and teardown: the scenario's object versions. */
int torture_setup(void **state);
int torture_teardown(void **state);

/* Runs the scenario without faults (the model must come out exact), then
   fails the 1st, 2nd, ... eligible call in turn: transient, persistent, and
   transient after the operation below completed. */
void torture(const struct torture_backend *be);

/* Deletes every key of fs through fs itself. Returns the count deleted. */
unsigned int torture_store_empty(struct fs *fs);

#endif
