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
 *   s3-cache     the cache layer (validate=etag) over path style
 *   s3-faults    the faults layer injecting nothing over path style
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
 * The rest (main(), temporary directory, running the suite, cleaning up) is
 * the conformance harness's (tests/conformance/harness.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "unit/test_s3.h"

#define CONF_BUCKET "conformance"

struct s3_mode {
	const char *name, *host, *options;
	const char *layers; /* "LAYER::" in front of the driver, or "" */
};

static const struct s3_mode s3_modes[] = {
	{"s3-path", "127.0.0.1", "style=path", ""},
	{"s3-virtual", "localhost", "style=virtual", ""},
	{"s3-v1", "127.0.0.1", "style=path&list=v1&max_keys=100", ""},
	{"s3-head", "127.0.0.1", "create=head", ""},
	{"s3-cache", "127.0.0.1", "style=path", "cache:max=8M,validate=etag::"},
	{"s3-faults", "127.0.0.1", "style=path", "faults:seed=3,all=0%::"},
};

static void *s3_start(const void *_mode, const char *store, char **spec_r)
{
	const struct s3_mode *mode = _mode;
	struct fs_mock *mock;

	mock = s3t_mock_start(CONF_BUCKET, 0, store);
	if (mock == NULL)
		return NULL;
	setenv("AWS_ACCESS_KEY_ID", S3T_ACCESS_KEY, 1);
	setenv("AWS_SECRET_ACCESS_KEY", S3T_SECRET_KEY, 1);
	unsetenv("AWS_SESSION_TOKEN");
	if (asprintf(spec_r,
		     "%ss3://" CONF_BUCKET
		     "/?endpoint=http://%s:%u&part_size=5M"
		     "&parallel=3&copy_create=head&key_max=1000"
		     "&metadata_max=1984&%s",
		     mode->layers, mode->host, fs_mock_port(mock),
		     mode->options) < 0) {
		*spec_r = NULL;
		fs_mock_stop(&mock);
		return NULL;
	}
	return mock;
}

static void s3_stop(void *server)
{
	struct fs_mock *mock = server;

	fs_mock_stop(&mock);
}

const struct conf_harness conf_harness = {
	.name = "mock",
	CONF_HARNESS_MODES(s3_modes),
	.start = s3_start,
	.stop = s3_stop,
};
