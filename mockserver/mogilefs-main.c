/*
 * fs-mogmock: the MogileFS mock as a program, for scripts and real clients
 * (mogtool, the Perl client, nc).
 *
 *   fs-mogmock [--trackers N] [--nodes N] [--domain D] [--data DIR]
 *              [--mindevcount N] [--fault RULE]... [--verbose]
 *
 * Prints "spec mogilefs://127.0.0.1:P1,.../DOMAIN" once it serves (and one
 * "tracker"/"node" line per server), then runs until SIGTERM or SIGINT.
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
#include "mogilefs.h"

#define MOG_MAX_FAULTS 64

static void usage(FILE *out)
{
	fputs("Usage: fs-mogmock [OPTION]...\n"
	      "Serve MogileFS trackers and storage nodes on 127.0.0.1, with "
	      "fault injection.\n\n"
	      "  --trackers N       trackers (default 2)\n"
	      "  --nodes N          storage nodes, one device each (default "
	      "2)\n"
	      "  --domain D         the domain (default testdom)\n"
	      "  --mindevcount N    copies of class \"default\" (default 2)\n"
	      "  --data DIR         keep the nodes' files in the posix "
	      "directory DIR\n"
	      "  --fault RULE       add a fault rule (repeatable), e.g.\n"
	      "                     op=create_close,code=db or "
	      "bucket=node0,action=kill\n"
	      "  --verbose          log every tracker line and HTTP request\n"
	      "  --help             show this and exit\n",
	      out);
}

struct options {
	struct fs_mogmock_settings set;
	const char *faults[MOG_MAX_FAULTS + 1];
	unsigned int fault_count;
	char *backend;
};

static int parse_count(const char *arg, unsigned int *count_r)
{
	uint64_t num;

	if (fs_parse_uint(arg, &num) < 0 || num == 0 ||
	    num > FS_MOGMOCK_MAX_SERVERS) {
		fprintf(stderr, "fs-mogmock: bad count %s (1..%d)\n", arg,
			FS_MOGMOCK_MAX_SERVERS);
		return -1;
	}
	*count_r = (unsigned int)num;
	return 0;
}

static int set_data(struct options *o, const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "fs-mogmock: mkdir %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	free(o->backend);
	if (asprintf(&o->backend, "posix:%s", dir) < 0)
		return -1;
	o->set.backend = o->backend;
	return 0;
}

/* Returns 0 to run, 1 to exit with success, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"trackers", required_argument, NULL, 't'},
		{"nodes", required_argument, NULL, 'n'},
		{"domain", required_argument, NULL, 'd'},
		{"mindevcount", required_argument, NULL, 'm'},
		{"data", required_argument, NULL, 'D'},
		{"fault", required_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt, ret = 0;

	while (ret == 0 &&
	       (opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 't')
			ret = parse_count(optarg, &o->set.trackers);
		else if (opt == 'n')
			ret = parse_count(optarg, &o->set.nodes);
		else if (opt == 'm')
			ret = parse_count(optarg, &o->set.mindevcount);
		else if (opt == 'd')
			o->set.domain = optarg;
		else if (opt == 'D')
			ret = set_data(o, optarg);
		else if (opt == 'f' && o->fault_count < MOG_MAX_FAULTS)
			o->faults[o->fault_count++] = optarg;
		else if (opt == 'v')
			o->set.log = true;
		else if (opt == 'h')
			ret = 1;
		else
			ret = -1;
	}
	if (ret == 1)
		usage(stdout);
	else if (ret < 0 || optind != argc)
		usage(stderr);
	o->set.faults = o->fault_count > 0 ? o->faults : NULL;
	return ret == 0 && optind != argc ? -1 : ret;
}

int main(int argc, char **argv)
{
	struct fs_mogmock *mock;
	struct options o;
	char *error = NULL, *spec;
	sigset_t sigs;
	unsigned int i;
	int ret, sig = 0;

	memset(&o, 0, sizeof(o));
	fs_mogmock_settings_init(&o.set);
	ret = parse_args(argc, argv, &o);
	if (ret != 0) {
		free(o.backend);
		return ret > 0 ? 0 : 2;
	}
	/* blocked before any thread starts, so only sigwait() sees them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	mock = fs_mogmock_start(&o.set, &error);
	if (mock == NULL) {
		fprintf(stderr, "fs-mogmock: %s\n",
			error != NULL ? error : "cannot start");
		free(error);
		free(o.backend);
		return 1;
	}
	for (i = 0; fs_mogmock_tracker_port(mock, i) != 0; i++)
		printf("tracker%u 127.0.0.1:%u\n", i,
		       fs_mogmock_tracker_port(mock, i));
	for (i = 0; fs_mogmock_node_port(mock, i) != 0; i++)
		printf("node%u http://127.0.0.1:%u/dev%u\n", i,
		       fs_mogmock_node_port(mock, i), i + 1);
	spec = fs_mogmock_spec(mock, NULL);
	printf("spec %s\n", spec != NULL ? spec : "?");
	fflush(stdout);
	free(spec);
	while (sigwait(&sigs, &sig) != 0)
		;
	fs_mogmock_stop(&mock);
	free(o.backend);
	return 0;
}
