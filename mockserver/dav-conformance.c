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
 * At the end the store must hold no temporary object.
 *
 * The suite's sources are built into this program with main renamed to
 * conformance_main.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mockserver.h"

int conformance_main(int argc, char **argv);

#define CONF_USER "conf"
#define CONF_PASSWORD "conf-secret"

static const struct {
	const char *mode, *auth, *pre, *options;
} conf_modes[] = {
	{"dav", "any", "", ""},
	{"dav-basic", "basic", "", "?auth=basic"},
	{"dav-move", "digest", "", "?create=move&replace=move"},
	{"dav-small", "any", "", "?buffer=4k"},
	{"dav-cache", "any", "cache:max=8M::", ""},
};

static unsigned int conf_leftovers;

static int conf_visit(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	if (type == FTW_F && strncmp(path + ftw->base, ".libfs", 6) == 0) {
		fprintf(stderr, "left behind: %s\n", path);
		conf_leftovers++;
	}
	return 0;
}

static int conf_rm(const char *path, const struct stat *st, int type,
		   struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	(void)remove(path);
	return 0;
}

static struct fs_mock *conf_start(const char *dir, const char *auth)
{
	static const struct fs_mock_credential cred = {CONF_USER,
						       CONF_PASSWORD};
	struct fs_mock_settings set;
	struct fs_mock *mock;
	char backend[512], *error = NULL;

	snprintf(backend, sizeof(backend), "posix:%s", dir);
	fs_mock_settings_init(&set);
	set.backend = backend;
	set.dav = true;
	set.dav_auth = auth;
	set.credentials = &cred;
	set.credentials_count = 1;
	mock = fs_mock_start(&set, &error);
	if (mock == NULL) {
		fprintf(stderr, "fs_mock_start: %s\n",
			error != NULL ? error : "?");
		free(error);
	}
	return mock;
}

int main(int argc, char **argv)
{
	char spec[512], *args[3], dir[] = "/tmp/libfs-conf-dav-XXXXXX";
	struct fs_mock *mock;
	size_t i;
	int ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s MODE [TEST-GLOB]\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(conf_modes) / sizeof(conf_modes[0]); i++) {
		if (strcmp(conf_modes[i].mode, argv[1]) == 0)
			break;
	}
	if (i == sizeof(conf_modes) / sizeof(conf_modes[0])) {
		fprintf(stderr, "unknown mode '%s'\n", argv[1]);
		return 2;
	}
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return 1;
	}
	mock = conf_start(dir, conf_modes[i].auth);
	if (mock == NULL) {
		nftw(dir, conf_rm, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	setenv("LIBFS_DAV_PASSWORD", CONF_PASSWORD, 1);
	snprintf(spec, sizeof(spec),
		 "%sdav+http://" CONF_USER "@127.0.0.1:%u/%s",
		 conf_modes[i].pre, fs_mock_port(mock), conf_modes[i].options);
	args[0] = argv[0];
	args[1] = spec;
	args[2] = argc == 3 ? argv[2] : NULL;
	ret = conformance_main(argc, args);
	fs_mock_stop(&mock);
	nftw(dir, conf_visit, 16, FTW_PHYS);
	if (conf_leftovers > 0) {
		fprintf(stderr, "%u temporary objects left in the store\n",
			conf_leftovers);
		ret = 1;
	}
	nftw(dir, conf_rm, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
