/*
 * conformance-mogilefs MODE [TEST-GLOB]
 *
 * Runs the conformance suite over the MogileFS driver on the in-process
 * mock: trackers and storage nodes on 127.0.0.1 with ephemeral ports, the
 * nodes' files in a temporary directory (the suite streams a large object).
 * MODE:
 *   one         one tracker, two storage nodes
 *   dead-first  two trackers, the first of the spec dead (the driver
 *               shuffles them: it must skip the dead one either way)
 *   two         two trackers, two storage nodes
 *
 * Keys are at most 255 bytes (fs_get_limits()), which the suite's key
 * limit test takes into account. Afterwards, once the mock's replicator and
 * delete worker are idle, the domain must hold no key, no open tempfile and no
 * stored file: every test cleaned up, and no write left a fid behind.
 *
 * The suite's sources are built into this program with main renamed to
 * conformance_main.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mogilefs.h"

int conformance_main(int argc, char **argv);

static int conf_rm(const char *path, const struct stat *st, int type,
		   struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* Nothing may remain once every test cleaned up. Returns 0 or 1. */
static int check_leftovers(struct fs_mogmock *mock)
{
	struct fs_mogmock_state st;

	if (fs_mogmock_settle(mock, 30000) < 0) {
		fprintf(stderr, "mogmock: the workers did not settle\n");
		return 1;
	}
	if (fs_mogmock_state(mock, &st) < 0) {
		fprintf(stderr, "mogmock: cannot read the state\n");
		return 1;
	}
	printf("mogmock: %u keys, %u tempfiles, %u stored files left; "
	       "%llu files replicated, %llu purged\n",
	       st.keys, st.tempfiles, st.stored,
	       (unsigned long long)fs_mogmock_counter(mock, "replicated"),
	       (unsigned long long)fs_mogmock_counter(mock, "purged"));
	if (st.keys != 0 || st.tempfiles != 0 || st.stored != 0) {
		fprintf(stderr,
			"mogmock: left behind: %u keys, %u tempfiles, "
			"%u stored files\n",
			st.keys, st.tempfiles, st.stored);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/libfs-conf-mogilefs-XXXXXX", backend[64];
	struct fs_mogmock_settings set;
	struct fs_mogmock *mock;
	char *spec, *error = NULL, *args[3];
	int ret;

	if (argc < 2 || argc > 3 ||
	    (strcmp(argv[1], "one") != 0 && strcmp(argv[1], "two") != 0 &&
	     strcmp(argv[1], "dead-first") != 0)) {
		fprintf(stderr, "usage: %s one|two|dead-first [TEST-GLOB]\n",
			argv[0]);
		return 2;
	}
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return 1;
	}
	snprintf(backend, sizeof(backend), "posix:%s", dir);
	fs_mogmock_settings_init(&set);
	set.trackers = strcmp(argv[1], "one") == 0 ? 1 : 2;
	set.backend = backend;
	mock = fs_mogmock_start(&set, &error);
	if (mock == NULL) {
		fprintf(stderr, "mogmock: %s\n", error != NULL ? error : "?");
		free(error);
		nftw(dir, conf_rm, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	if (strcmp(argv[1], "dead-first") == 0)
		(void)fs_mogmock_kill(mock, "tracker0");
	spec = fs_mogmock_spec(mock, NULL);
	args[0] = argv[0];
	args[1] = spec;
	args[2] = argc == 3 ? argv[2] : NULL;
	ret = spec != NULL ? conformance_main(argc, args) : 1;
	if (ret == 0 && argc == 2)
		ret = check_leftovers(mock);
	free(spec);
	fs_mogmock_stop(&mock);
	nftw(dir, conf_rm, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
