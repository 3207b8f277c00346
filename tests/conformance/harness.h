/*
 * For programs that run the conformance suite over a server started in
 * their own process (conformance-mock, conformance-dav,
 * conformance-mogilefs), as "PROGRAM MODE [TEST-GLOB]". The harness has the
 * program's main(): it picks the mode, gives the server a temporary
 * directory to keep its objects in, runs the suite over the spec the
 * server's start gave, checks what the run left, stops the server and
 * removes the directory. The program defines only conf_harness: its modes,
 * and how to start, check and stop its server.
 *
 * Such a program links harness.c and the suite (conformance_objects).
 */
#ifndef CONF_HARNESS_H
#define CONF_HARNESS_H

#include <stddef.h>

struct conf_harness {
	/* Names the temporary directory: TMPDIR/libfs-conf-NAME-XXXXXX. */
	const char *name;
	/* The modes: mode_count entries of mode_size bytes, each a struct
	   whose first member is its name (a const char *); see
	   CONF_HARNESS_MODES(). */
	const void *modes;
	size_t mode_count, mode_size;

	/* Starts the server for mode (an entry of modes) with its objects in
	   store ("posix:DIR") and sets *spec_r to the suite's spec, which the
	   harness frees. Returns the server, or NULL after printing why. */
	void *(*start)(const void *mode, const char *store, char **spec_r);
	/* Optional: after a run in which every test passed, checks what the
	   server (still running) and its directory dir hold. Returns 0, or 1
	   after printing what is wrong. */
	int (*check)(void *server, const char *dir);
	/* Stops and frees the server. */
	void (*stop)(void *server);
};

/* Fills the modes members from an array of mode structs. */
#define CONF_HARNESS_MODES(array)                                              \
	.modes = (array), .mode_count = sizeof(array) / sizeof((array)[0]),    \
	.mode_size = sizeof((array)[0])

/* Defined by the program. */
extern const struct conf_harness conf_harness;

#endif
