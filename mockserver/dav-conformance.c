/*
 * conformance-dav MODE [TEST-GLOB]
 *
 * Runs the conformance suite over the WebDAV driver on the in-process mock
 * server in WebDAV mode: started on 127.0.0.1 with an ephemeral port (no
 * port races, no shell), objects kept on disk in a temporary directory
 * (the suite streams 100 MiB and watches the RSS of this one process). The
 * password goes through LIBFS_DAV_PASSWORD, as the suite opens its stacks
 * with default settings; never through the spec. MODE:
 *   dav          Digest and Basic offered (the driver picks Digest)
 *   dav-basic    Basic only, sent at once (auth=basic)
 *   dav-move     temporary names and MOVE for CREATE and REPLACE
 *   dav-small    a 4 KiB buffer: every object over it streams (chunked)
 *   dav-cache    the cache layer over the driver
 *   dav-faults   the faults layer injecting nothing over the driver
 * After a run that passed, the store must hold no temporary object.
 *
 * The rest (main(), temporary directory, running the suite, cleaning up) is
 * the conformance harness's (tests/conformance/harness.h).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mockserver.h"

#define CONF_USER "conf"
#define CONF_PASSWORD "conf-secret"

struct dav_mode {
	const char *name, *auth, *pre, *options;
};

static const struct dav_mode dav_modes[] = {
	{"dav", "any", "", ""},
	{"dav-basic", "basic", "", "?auth=basic"},
	{"dav-move", "digest", "", "?create=move&replace=move"},
	{"dav-small", "any", "", "?buffer=4k"},
	{"dav-cache", "any", "cache:max=8M::", ""},
	{"dav-faults", "any", "faults:seed=3,all=0%::", ""},
};

static unsigned int dav_leftovers;

static void *dav_start(const void *_mode, const char *store, char **spec_r)
{
	static const struct fs_mock_credential cred = {CONF_USER,
						       CONF_PASSWORD};
	const struct dav_mode *mode = _mode;
	struct fs_mock_settings set;
	struct fs_mock *mock;
	char *error = NULL;

	fs_mock_settings_init(&set);
	set.backend = store;
	set.dav = true;
	set.dav_auth = mode->auth;
	set.credentials = &cred;
	set.credentials_count = 1;
	mock = fs_mock_start(&set, &error);
	if (mock == NULL) {
		fprintf(stderr, "fs_mock_start: %s\n",
			error != NULL ? error : "?");
		free(error);
		return NULL;
	}
	setenv("LIBFS_DAV_PASSWORD", CONF_PASSWORD, 1);
	if (asprintf(spec_r, "%sdav+http://" CONF_USER "@127.0.0.1:%u/%s",
		     mode->pre, fs_mock_port(mock), mode->options) < 0) {
		*spec_r = NULL;
		fs_mock_stop(&mock);
		return NULL;
	}
	return mock;
}

static int dav_visit(const char *path, const struct stat *st, int type,
		     struct FTW *ftw)
{
	(void)st;
	if (type == FTW_F && strncmp(path + ftw->base, ".libfs", 6) == 0) {
		fprintf(stderr, "left behind: %s\n", path);
		dav_leftovers++;
	}
	return 0;
}

/* No temporary object may remain in the store. */
static int dav_check(void *server, const char *dir)
{
	(void)server;
	dav_leftovers = 0;
	if (nftw(dir, dav_visit, 16, FTW_PHYS) != 0) {
		perror(dir);
		return 1;
	}
	if (dav_leftovers > 0) {
		fprintf(stderr, "%u temporary objects left in the store\n",
			dav_leftovers);
		return 1;
	}
	return 0;
}

static void dav_stop(void *server)
{
	struct fs_mock *mock = server;

	fs_mock_stop(&mock);
}

const struct conf_harness conf_harness = {
	.name = "dav",
	CONF_HARNESS_MODES(dav_modes),
	.start = dav_start,
	.check = dav_check,
	.stop = dav_stop,
};
