/*
 * fs-bench-rusage: runs a program and writes what wait4() says of it.
 *
 *	fs-bench-rusage RESULT-FILE PROGRAM [ARG]...
 *
 * Why a separate program: at execve() the kernel folds the high-water RSS
 * of the memory the process had before into its ru_maxrss, and a child
 * forked (or vforked by posix_spawn()) from a benchmark holding a server's
 * objects starts with that memory. Started from this small program, which
 * links nothing but libc, the floor is this program's own RSS (about 1
 * MiB), and ru_maxrss is the client's.
 *
 * RESULT-FILE gets "maxrss_kib N", "utime_usec N", "stime_usec N" and
 * "status N" lines once PROGRAM ended; stdin, stdout and stderr are passed
 * through; SIGTERM, SIGINT and SIGHUP are forwarded to PROGRAM. The exit
 * status is PROGRAM's (128 + signal if it was killed, 127 if it could not
 * be started).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t rusage_child = -1;

static void rusage_forward(int sig)
{
	if (rusage_child > 0)
		kill((pid_t)rusage_child, sig);
}

static void rusage_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rusage_forward;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static long long rusage_usec(const struct timeval *tv)
{
	return (long long)tv->tv_sec * 1000000 + tv->tv_usec;
}

static int rusage_write(const char *path, const struct rusage *ru, int status)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f,
		"maxrss_kib %ld\nutime_usec %lld\nstime_usec %lld\n"
		"status %d\n",
		ru->ru_maxrss, rusage_usec(&ru->ru_utime),
		rusage_usec(&ru->ru_stime), status);
	return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	int status = 0, code;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: fs-bench-rusage RESULT-FILE PROGRAM "
				"[ARG]...\n");
		return 127;
	}
	rusage_signals();
	pid = fork();
	if (pid < 0) {
		perror("fs-bench-rusage: fork");
		return 127;
	}
	if (pid == 0) {
		execv(argv[2], &argv[2]);
		fprintf(stderr, "fs-bench-rusage: %s: %s\n", argv[2],
			strerror(errno));
		_exit(127);
	}
	rusage_child = pid;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("fs-bench-rusage: wait4");
			return 127;
		}
	}
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else
		code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	if (rusage_write(argv[1], &ru, code) < 0) {
		perror("fs-bench-rusage: writing the result");
		return 127;
	}
	return code;
}
