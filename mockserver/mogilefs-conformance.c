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
 *   cache       the cache layer (validate=etag) over one tracker
 *   faults      the faults layer injecting nothing over one tracker
 *
 * Keys are at most 255 bytes (fs_get_limits()), which the suite's key
 * limit test takes into account. After a run that passed, once the mock's
 * replicator and delete worker are idle, the domain must hold no key, no
 * open tempfile and no stored file: every test cleaned up, and no write left
 * a fid behind.
 *
 * The rest (main(), temporary directory, running the suite, cleaning up) is
 * the conformance harness's (tests/conformance/harness.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "mogilefs.h"

struct mog_mode {
	const char *name;
	unsigned int trackers;
	bool dead_first;
	const char *layers; /* "LAYER::" in front of the driver, or "" */
};

static const struct mog_mode mog_modes[] = {
	{"one", 1, false, ""},
	{"dead-first", 2, true, ""},
	{"two", 2, false, ""},
	{"cache", 1, false, "cache:max=8M,validate=etag::"},
	{"faults", 1, false, "faults:seed=3,all=0%::"},
};

static void *mog_start(const void *_mode, const char *store, char **spec_r)
{
	const struct mog_mode *mode = _mode;
	struct fs_mogmock_settings set;
	struct fs_mogmock *mock;
	char *error = NULL, *spec;

	fs_mogmock_settings_init(&set);
	set.trackers = mode->trackers;
	set.backend = store;
	mock = fs_mogmock_start(&set, &error);
	if (mock == NULL) {
		fprintf(stderr, "mogmock: %s\n", error != NULL ? error : "?");
		free(error);
		return NULL;
	}
	if (mode->dead_first)
		(void)fs_mogmock_kill(mock, "tracker0");
	spec = fs_mogmock_spec(mock, NULL);
	if (spec == NULL || asprintf(spec_r, "%s%s", mode->layers, spec) < 0)
		*spec_r = NULL;
	free(spec);
	if (*spec_r == NULL) {
		fprintf(stderr, "mogmock: no spec: out of memory\n");
		fs_mogmock_stop(&mock);
		return NULL;
	}
	return mock;
}

/* Nothing may remain once every test cleaned up. Returns 0 or 1. */
static int mog_check(void *server, const char *dir)
{
	struct fs_mogmock *mock = server;
	struct fs_mogmock_state st;

	(void)dir;
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

static void mog_stop(void *server)
{
	struct fs_mogmock *mock = server;

	fs_mogmock_stop(&mock);
}

const struct conf_harness conf_harness = {
	.name = "mogilefs",
	CONF_HARNESS_MODES(mog_modes),
	.start = mog_start,
	.check = mog_check,
	.stop = mog_stop,
};
