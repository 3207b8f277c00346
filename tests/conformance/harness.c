/*
 * The main() of the programs that run the conformance suite over a server
 * in their own process: see harness.h.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

static const char *harness_mode_name(const struct conf_harness *h, size_t i)
{
	const char *entry = (const char *)h->modes + i * h->mode_size;

	/* A struct's address is that of its first member, the name. */
	return *(const char *const *)(const void *)entry;
}

/* Returns the mode entry named name, or NULL. */
static const void *harness_mode(const struct conf_harness *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->mode_count; i++) {
		if (strcmp(harness_mode_name(h, i), name) == 0)
			return (const char *)h->modes + i * h->mode_size;
	}
	return NULL;
}

static int harness_usage(const struct conf_harness *h, const char *program)
{
	size_t i;

	fprintf(stderr, "usage: %s MODE [TEST-GLOB]\nMODE:", program);
	for (i = 0; i < h->mode_count; i++)
		fprintf(stderr, " %s", harness_mode_name(h, i));
	fputc('\n', stderr);
	return 2;
}

/* Runs the suite (argv[2], if any, is the test glob) over the server of
   mode, started on dir. Returns 0 or 1. */
static int harness_run(const struct conf_harness *h, const void *mode,
		       const char *dir, int argc, char **argv)
{
	char *store, *spec = NULL, *args[3];
	void *server;
	int ret;

	if (asprintf(&store, "posix:%s", dir) < 0)
		return 1;
	/* store stays valid while the server runs. */
	server = h->start(mode, store, &spec);
	if (server == NULL) {
		free(store);
		return 1;
	}
	args[0] = argv[0];
	args[1] = spec;
	args[2] = argc == 3 ? argv[2] : NULL;
	ret = conformance_main(argc, args) == 0 ? 0 : 1;
	if (ret == 0 && h->check != NULL)
		ret = h->check(server, dir);
	h->stop(server);
	free(spec);
	free(store);
	return ret;
}

/* PROGRAM MODE [TEST-GLOB]: exits with 0 when every test (and the check)
   passed, 1 if not, 2 for a usage error. */
int main(int argc, char **argv)
{
	const struct conf_harness *h = &conf_harness;
	const void *mode = NULL;
	char *dir;
	int ret;

	if (argc == 2 || argc == 3)
		mode = harness_mode(h, argv[1]);
	if (mode == NULL)
		return harness_usage(h, argv[0]);
	dir = conf_tmpdir_create(h->name);
	if (dir == NULL)
		return 1;
	ret = harness_run(h, mode, dir, argc, argv);
	conf_tmpdir_remove(&dir);
	return ret;
}
