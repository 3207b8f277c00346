/*
 * conformance-mock MODE [TEST-GLOB]
 *
 * Runs the conformance suite over the S3 driver on the in-process mock
 * server: starts it on 127.0.0.1 with an ephemeral port (no port races, no
 * shell), creates a bucket and builds the spec from the port. MODE:
 *   s3-path      path-style URLs, ListObjectsV2
 *   s3-virtual   virtual-hosted URLs (BUCKET.localhost:PORT)
 *   s3-v1        path style, ListObjects (v1) with small pages
 *   s3-head      create=head (HEAD-then-PUT, no CREATE_EXCL)
 * The mock does not honour If-None-Match on CopyObject (AWS does), so the
 * spec says copy_create=head: a HEAD of the destination guards a CREATE copy.
 * The credentials (test/test) go through the environment, as the suite opens
 * its stacks with default settings; never through the spec. The mock keeps
 * objects under "b/BUCKET/" in a libfs store whose keys end at FS_KEY_MAX,
 * so it takes keys a little shorter than S3's 1024 bytes: key_max=1000 says
 * so, and the suite writes keys of the length fs_get_limits() gives. It
 * keeps ETag and Content-Type beside user metadata in the same 2 KiB, so
 * metadata_max=1984 leaves them their 64 bytes. Parts are 5 MiB with 3 in
 * flight, so that the driver's (3 + 1) x 5 MiB of buffers fit the suite's 32
 * MiB streaming budget; the mock keeps its objects on disk (in a temporary
 * directory) for the same reason: it runs in this process.
 *
 * The suite's sources are built into this program with main renamed to
 * conformance_main.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit/test_s3.h"

int conformance_main(int argc, char **argv);

#define CONF_BUCKET "conformance"

static const struct {
	const char *mode, *host, *options;
} conf_modes[] = {
	{"s3-path", "127.0.0.1", "style=path"},
	{"s3-virtual", "localhost", "style=virtual"},
	{"s3-v1", "127.0.0.1", "style=path&list=v1&max_keys=100"},
	{"s3-head", "127.0.0.1", "create=head"},
};

static int conf_rm(const char *path, const struct stat *st, int type,
		   struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? 0 : 0;
}

int main(int argc, char **argv)
{
	char spec[512], *args[3], dir[] = "/tmp/libfs-conf-mock-XXXXXX";
	char backend[64];
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
	snprintf(backend, sizeof(backend), "posix:%s", dir);
	mock = s3t_mock_start(CONF_BUCKET, 0, backend);
	if (mock == NULL) {
		nftw(dir, conf_rm, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	setenv("AWS_ACCESS_KEY_ID", S3T_ACCESS_KEY, 1);
	setenv("AWS_SECRET_ACCESS_KEY", S3T_SECRET_KEY, 1);
	unsetenv("AWS_SESSION_TOKEN");
	snprintf(spec, sizeof(spec),
		 "s3://" CONF_BUCKET "/?endpoint=http://%s:%u&part_size=5M"
		 "&parallel=3&copy_create=head&key_max=1000&metadata_max=1984&%"
		 "s",
		 conf_modes[i].host, fs_mock_port(mock), conf_modes[i].options);
	args[0] = argv[0];
	args[1] = spec;
	args[2] = argc == 3 ? argv[2] : NULL;
	ret = conformance_main(argc, args);
	fs_mock_stop(&mock);
	nftw(dir, conf_rm, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
