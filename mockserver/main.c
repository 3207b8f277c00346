/*
 * fs-mockserver: the mock server as a program, for scripts and real clients.
 *
 *   fs-mockserver --listen 127.0.0.1:0 [--data DIR] [--fault RULE]...
 *   fs-mockserver --dav [--dav-auth any|basic|digest|none] ...
 *
 * Prints "listening on http://HOST:PORT" once it serves, then runs until
 * SIGTERM or SIGINT and stops cleanly (unfinished uploads leave nothing).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "libfs/driver.h"
#include "mockserver.h"

#define MOCK_MAX_FAULTS 64

static void usage(FILE *out)
{
	fputs("Usage: fs-mockserver [OPTION]...\n"
	      "Serve S3 (or WebDAV with --dav) over a libfs storage, with "
	      "fault injection.\n\n"
	      "  --listen ADDR         HOST:PORT, [IPV6]:PORT or PORT "
	      "(default 127.0.0.1:0,\n"
	      "                        port 0 picks a free one)\n"
	      "  --allow-remote        allow a listen address other than "
	      "loopback\n"
	      "  --data DIR            store in the posix directory DIR "
	      "(default: memory)\n"
	      "  --backend SPEC        store in any libfs spec instead\n"
	      "  --access-key KEY      accepted access key (default test)\n"
	      "  --secret-key SECRET   its secret (default test; or "
	      "FS_MOCK_SECRET_KEY)\n"
	      "  --region REGION       region to claim (default us-east-1)\n"
	      "  --domain DOMAIN       BUCKET.DOMAIN hosts address BUCKET "
	      "(default localhost)\n"
	      "  --min-part-size N     smallest non-last multipart part "
	      "(default 5 MiB)\n"
	      "  --bucket NAME         a bucket that exists from the start "
	      "(repeatable)\n"
	      "  --fault RULE          add a fault rule (repeatable), e.g.\n"
	      "                        op=GetObject,nth=3,status=503,"
	      "code=SlowDown\n"
	      "  --dav                 speak WebDAV (class 1, dead properties) "
	      "instead of S3;\n"
	      "                        the access key and secret are the user "
	      "name and password\n"
	      "  --dav-auth MODE       any (Digest and Basic, default), basic, "
	      "digest or none\n"
	      "  --verbose             log one line per request to stderr\n"
	      "  --help                show this and exit\n\n"
	      "Prints \"listening on http://HOST:PORT\" when ready; stops on "
	      "SIGTERM or SIGINT.\n"
	      "Admin endpoint (loopback only): GET|DELETE /_mock/stats, "
	      "GET|POST|DELETE /_mock/faults.\n",
	      out);
}

enum {
	OPT_LISTEN = 256,
	OPT_ALLOW_REMOTE,
	OPT_DATA,
	OPT_BACKEND,
	OPT_ACCESS_KEY,
	OPT_SECRET_KEY,
	OPT_REGION,
	OPT_DOMAIN,
	OPT_MIN_PART,
	OPT_FAULT,
	OPT_BUCKET,
	OPT_VERBOSE,
	OPT_DAV,
	OPT_DAV_AUTH,
	OPT_HELP,
};

static const struct option long_options[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE},
	{"data", required_argument, NULL, OPT_DATA},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"access-key", required_argument, NULL, OPT_ACCESS_KEY},
	{"secret-key", required_argument, NULL, OPT_SECRET_KEY},
	{"region", required_argument, NULL, OPT_REGION},
	{"domain", required_argument, NULL, OPT_DOMAIN},
	{"min-part-size", required_argument, NULL, OPT_MIN_PART},
	{"fault", required_argument, NULL, OPT_FAULT},
	{"bucket", required_argument, NULL, OPT_BUCKET},
	{"verbose", no_argument, NULL, OPT_VERBOSE},
	{"dav", no_argument, NULL, OPT_DAV},
	{"dav-auth", required_argument, NULL, OPT_DAV_AUTH},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

struct options {
	struct fs_mock_settings set;
	struct fs_mock_credential cred;
	const char *faults[MOCK_MAX_FAULTS + 1];
	unsigned int fault_count;
	const char *buckets[MOCK_MAX_FAULTS + 1];
	unsigned int bucket_count;
	const char *data;
	char *backend;
};

/* Returns 0 to run, 1 to exit with success, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN:
			o->set.listen = optarg;
			break;
		case OPT_ALLOW_REMOTE:
			o->set.allow_remote = true;
			break;
		case OPT_DATA:
			o->data = optarg;
			break;
		case OPT_BACKEND:
			o->set.backend = optarg;
			break;
		case OPT_ACCESS_KEY:
			o->cred.access_key = optarg;
			break;
		case OPT_SECRET_KEY:
			o->cred.secret_key = optarg;
			break;
		case OPT_REGION:
			o->set.region = optarg;
			break;
		case OPT_DOMAIN:
			o->set.domain = optarg;
			break;
		case OPT_MIN_PART:
			if (fs_parse_size(optarg, &o->set.min_part_size) < 0) {
				fprintf(stderr, "fs-mockserver: bad size %s\n",
					optarg);
				return -1;
			}
			break;
		case OPT_FAULT:
			if (o->fault_count == MOCK_MAX_FAULTS) {
				fprintf(stderr,
					"fs-mockserver: too many --fault\n");
				return -1;
			}
			o->faults[o->fault_count++] = optarg;
			break;
		case OPT_BUCKET:
			if (o->bucket_count == MOCK_MAX_FAULTS) {
				fprintf(stderr,
					"fs-mockserver: too many --bucket\n");
				return -1;
			}
			o->buckets[o->bucket_count++] = optarg;
			break;
		case OPT_DAV:
			o->set.dav = true;
			break;
		case OPT_DAV_AUTH:
			o->set.dav_auth = optarg;
			break;
		case OPT_VERBOSE:
			o->set.log_requests = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fs-mockserver: unexpected argument %s\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

/* Fills in credentials and the backend from the parsed options. */
static int finish_options(struct options *o)
{
	if (o->cred.secret_key == NULL)
		o->cred.secret_key = getenv("FS_MOCK_SECRET_KEY");
	if ((o->cred.access_key == NULL) != (o->cred.secret_key == NULL)) {
		fprintf(stderr, "fs-mockserver: --access-key and --secret-key "
				"go together\n");
		return -1;
	}
	if (o->cred.access_key != NULL) {
		o->set.credentials = &o->cred;
		o->set.credentials_count = 1;
	}
	if (o->data != NULL) {
		if (o->set.backend != NULL) {
			fprintf(stderr, "fs-mockserver: --data and --backend "
					"exclude each other\n");
			return -1;
		}
		if (mkdir(o->data, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "fs-mockserver: mkdir %s: %s\n",
				o->data, strerror(errno));
			return -1;
		}
		o->backend = malloc(strlen(o->data) + 7);
		if (o->backend == NULL)
			return -1;
		sprintf(o->backend, "posix:%s", o->data);
		o->set.backend = o->backend;
	}
	o->set.faults = o->fault_count > 0 ? o->faults : NULL;
	o->set.buckets = o->bucket_count > 0 ? o->buckets : NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct fs_mock *mock;
	struct options o;
	char *error = NULL;
	sigset_t sigs;
	int ret, sig = 0;

	memset(&o, 0, sizeof(o));
	fs_mock_settings_init(&o.set);
	ret = parse_args(argc, argv, &o);
	if (ret != 0)
		return ret > 0 ? 0 : 2;
	if (finish_options(&o) < 0) {
		free(o.backend);
		return 2;
	}
	/* Blocked before any thread starts, so only sigwait() sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	mock = fs_mock_start(&o.set, &error);
	if (mock == NULL) {
		fprintf(stderr, "fs-mockserver: %s\n",
			error != NULL ? error : "cannot start");
		free(error);
		free(o.backend);
		return 1;
	}
	printf("listening on %s\n", fs_mock_url(mock));
	fflush(stdout);
	while (sigwait(&sigs, &sig) != 0)
		;
	fs_mock_stop(&mock);
	free(o.backend);
	return 0;
}
