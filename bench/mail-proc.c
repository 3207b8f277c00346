/*
 * fs-bench-mail: child processes. Every client runs in one, so that its
 * peak RSS (wait4()'s ru_maxrss, the kernel's own figure) is its own and
 * not the server's or another client's.
 *
 * The protocol with a child of this program is text lines. The child writes
 * on its stdout:
 *
 *	ready                          warmed up, waiting for "go"
 *	phase NAME COUNT OPS FAILED CORRUPT BYTES USECS P50 P99 MEAN
 *	stat NAME VALUE
 *	error NAME MESSAGE
 *	done STATUS
 *
 * and reads "go" on its stdin. Its stderr is the parent's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-mail.h"

extern char **environ;

static const char *proc_helper;
static const char *proc_tmpdir;
static unsigned int proc_seq;

void mail_proc_setup(const char *rusage_helper, const char *tmpdir)
{
	proc_helper = rusage_helper;
	proc_tmpdir = tmpdir;
}

/* argv behind "fs-bench-rusage RESULT-FILE"; free() the array only. */
static char **proc_wrap(struct mail_proc *p, char *const argv[])
{
	size_t n = 0;
	char **v;

	while (argv[n] != NULL)
		n++;
	v = calloc(n + 3, sizeof(*v));
	if (v == NULL)
		return NULL;
	snprintf(p->result, sizeof(p->result), "%s/fs-bench-rusage-%d-%u",
		 proc_tmpdir, (int)getpid(), proc_seq++);
	unlink(p->result);
	v[0] = (char *)proc_helper;
	v[1] = p->result;
	memcpy(&v[2], argv, (n + 1) * sizeof(*v));
	return v;
}

static int proc_actions_talk(posix_spawn_file_actions_t *fa, int cmd[2],
			     int out[2])
{
	if (pipe2(cmd, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		int err = -errno;

		close(cmd[0]);
		close(cmd[1]);
		return err;
	}
	/* dup2() clears close-on-exec on the child's 0 and 1 only. */
	if (posix_spawn_file_actions_adddup2(fa, cmd[0], 0) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, out[1], 1) != 0)
		return -ENOMEM;
	return 0;
}

static int proc_actions_quiet(posix_spawn_file_actions_t *fa, const char *log)
{
	const char *out = log != NULL ? log : "/dev/null";

	if (posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0) !=
		    0 ||
	    posix_spawn_file_actions_addopen(
		    fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, 1, 2) != 0)
		return -ENOMEM;
	return 0;
}

static void proc_close_pair(int fds[2])
{
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	fds[0] = fds[1] = -1;
}

int mail_proc_spawn(struct mail_proc *p, char *const argv[], char *const envp[],
		    bool talk, const char *log)
{
	posix_spawn_file_actions_t fa;
	int cmd[2] = {-1, -1}, out[2] = {-1, -1}, ret;
	char **wrapped;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->cmd_fd = -1;
	p->rep.exit_status = -1;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	ret = talk ? proc_actions_talk(&fa, cmd, out)
		   : proc_actions_quiet(&fa, log);
	wrapped = proc_helper != NULL ? proc_wrap(p, argv) : NULL;
	if (ret == 0 && proc_helper != NULL && wrapped == NULL)
		ret = -ENOMEM;
	if (wrapped != NULL)
		argv = wrapped;
	p->start_usec = bench_now_usec();
	if (ret == 0)
		ret = -posix_spawn(&p->pid, argv[0], &fa, NULL, argv,
				   envp != NULL ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	free(wrapped);
	if (ret == 0 && talk) {
		close(cmd[0]);
		close(out[1]);
		p->cmd_fd = cmd[1];
		p->out = fdopen(out[0], "r");
		if (p->out == NULL) {
			close(out[0]);
			ret = -ENOMEM;
		}
		return ret;
	}
	proc_close_pair(cmd);
	proc_close_pair(out);
	if (ret < 0)
		p->pid = -1;
	return ret;
}

static void proc_parse_phase(struct mail_report *rep, const char *args)
{
	struct mail_result *r;

	if (rep->phase_count == MAIL_PHASES_MAX)
		return;
	r = &rep->phases[rep->phase_count];
	memset(r, 0, sizeof(*r));
	if (sscanf(args,
		   "%31s %u %u %u %u %" SCNu64 " %" SCNu64 " %" SCNu64
		   " %" SCNu64 " %" SCNu64,
		   r->name, &r->count, &r->ops, &r->failed, &r->corrupt,
		   &r->bytes, &r->usecs, &r->p50_usec, &r->p99_usec,
		   &r->mean_usec) != 10)
		return;
	r->ran = true;
	rep->phase_count++;
}

static void proc_parse_stat(struct mail_report *rep, const char *args)
{
	struct mail_stat *st;

	if (rep->stat_count == MAIL_STATS_MAX)
		return;
	st = &rep->stats[rep->stat_count];
	if (sscanf(args, "%31s %" SCNu64, st->name, &st->value) == 2)
		rep->stat_count++;
}

static void proc_parse_line(struct mail_report *rep, char *line)
{
	size_t len = strlen(line);

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (strncmp(line, "phase ", 6) == 0)
		proc_parse_phase(rep, line + 6);
	else if (strncmp(line, "stat ", 5) == 0)
		proc_parse_stat(rep, line + 5);
	else if (strncmp(line, "error ", 6) == 0 && rep->error[0] == '\0')
		snprintf(rep->error, sizeof(rep->error), "%s", line + 6);
	else if (strcmp(line, "done 0") == 0)
		rep->done = true;
}

int mail_proc_wait_ready(struct mail_proc *p)
{
	char *line = NULL;
	size_t alloc = 0;
	int ret = -EIO;

	while (p->out != NULL && getline(&line, &alloc, p->out) > 0) {
		if (strcmp(line, "ready\n") == 0) {
			ret = 0;
			break;
		}
		proc_parse_line(&p->rep, line);
	}
	free(line);
	return ret;
}

int mail_proc_go(struct mail_proc *p)
{
	static const char go[] = "go\n";

	if (write(p->cmd_fd, go, sizeof(go) - 1) != (ssize_t)sizeof(go) - 1)
		return -EIO;
	return 0;
}

/* What fs-bench-rusage wrote of the program it ran. */
static void proc_read_result(struct mail_proc *p)
{
	unsigned long long utime = 0, stime = 0;
	char name[32];
	long long value;
	FILE *f = fopen(p->result, "r");

	p->rep.maxrss_kib = 0;
	p->rep.cpu_usec = 0;
	if (f == NULL)
		return;
	while (fscanf(f, "%31s %lld", name, &value) == 2) {
		if (strcmp(name, "maxrss_kib") == 0)
			p->rep.maxrss_kib = (long)value;
		else if (strcmp(name, "utime_usec") == 0)
			utime = (unsigned long long)value;
		else if (strcmp(name, "stime_usec") == 0)
			stime = (unsigned long long)value;
	}
	fclose(f);
	unlink(p->result);
	p->result[0] = '\0';
	p->rep.cpu_usec = utime + stime;
}

static void proc_reap(struct mail_proc *p)
{
	struct rusage ru;
	int status = 0;
	pid_t pid;

	if (p->cmd_fd >= 0)
		close(p->cmd_fd);
	p->cmd_fd = -1;
	do {
		pid = wait4(p->pid, &status, 0, &ru);
	} while (pid < 0 && errno == EINTR);
	p->rep.wall_usec = bench_now_usec() - p->start_usec;
	if (p->out != NULL)
		fclose(p->out);
	p->out = NULL;
	p->pid = -1;
	if (pid < 0)
		return;
	p->rep.maxrss_kib = ru.ru_maxrss;
	p->rep.cpu_usec = (uint64_t)ru.ru_utime.tv_sec * 1000000 +
			  (uint64_t)ru.ru_utime.tv_usec +
			  (uint64_t)ru.ru_stime.tv_sec * 1000000 +
			  (uint64_t)ru.ru_stime.tv_usec;
	p->rep.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (p->result[0] != '\0')
		proc_read_result(p);
}

int mail_proc_finish(struct mail_proc *p)
{
	char *line = NULL;
	size_t alloc = 0;

	if (p->pid <= 0)
		return -EIO;
	while (p->out != NULL && getline(&line, &alloc, p->out) > 0)
		proc_parse_line(&p->rep, line);
	free(line);
	proc_reap(p);
	if (p->rep.exit_status != 0)
		return -EIO;
	return 0;
}

void mail_proc_kill(struct mail_proc *p)
{
	/* Never 0: kill(0, ...) would hit our whole process group. */
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	proc_reap(p);
}

uint64_t mail_report_stat(const struct mail_report *rep, const char *name,
			  uint64_t def)
{
	unsigned int i;

	for (i = 0; i < rep->stat_count; i++) {
		if (strcmp(rep->stats[i].name, name) == 0)
			return rep->stats[i].value;
	}
	return def;
}

const struct mail_result *mail_report_phase(const struct mail_report *rep,
					    const char *name)
{
	unsigned int i;

	for (i = 0; i < rep->phase_count; i++) {
		if (strcmp(rep->phases[i].name, name) == 0)
			return &rep->phases[i];
	}
	return NULL;
}

/* --- The child's side --- */

void mail_say_ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

int mail_wait_go(void)
{
	char line[16];

	if (fgets(line, sizeof(line), stdin) == NULL ||
	    strcmp(line, "go\n") != 0)
		return -EIO;
	return 0;
}

void mail_result_from_phase(struct mail_result *r, const char *name,
			    const struct bench_phase *ph)
{
	struct bench_latency lat;

	memset(r, 0, sizeof(*r));
	r->ran = true;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->count = ph->count;
	r->ops = ph->completed;
	r->failed = ph->count - ph->completed;
	r->corrupt = ph->corrupt;
	r->bytes = ph->bytes;
	r->usecs = ph->end_usec > ph->start_usec ? ph->end_usec - ph->start_usec
						 : 1;
	bench_phase_latency(ph, &lat);
	r->mean_usec = lat.mean_usec;
	r->p50_usec = lat.p50_usec;
	r->p99_usec = lat.p99_usec;
}

void mail_say_result(const struct mail_result *r)
{
	printf("phase %s %u %u %u %u %" PRIu64 " %" PRIu64 " %" PRIu64
	       " %" PRIu64 " %" PRIu64 "\n",
	       r->name, r->count, r->ops, r->failed, r->corrupt, r->bytes,
	       r->usecs, r->p50_usec, r->p99_usec, r->mean_usec);
	fflush(stdout);
}

void mail_say_phase(const char *name, const struct bench_phase *ph)
{
	struct mail_result r;

	mail_result_from_phase(&r, name, ph);
	mail_say_result(&r);
	if (ph->first_error[0] != '\0')
		mail_say_error(name, ph->first_error);
}

void mail_say_stat(const char *name, uint64_t value)
{
	printf("stat %s %" PRIu64 "\n", name, value);
	fflush(stdout);
}

void mail_say_error(const char *name, const char *msg)
{
	char line[BENCH_ERROR_MAX];
	char *p;

	/* One line, whatever the message holds. */
	snprintf(line, sizeof(line), "%s", msg);
	for (p = line; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	printf("error %s: %s\n", name, line);
	fflush(stdout);
}

void mail_say_done(int status)
{
	printf("done %d\n", status);
	fflush(stdout);
}

long mail_self_hwm_kib(void)
{
	char line[256];
	long kib = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

/* --- fs-mockserver as a separate process --- */

int mail_mockproc_start(struct mail_mockproc *m, const char *path,
			const char *const *extra, char *error, size_t size)
{
	const char *argv[32];
	char *line = NULL;
	size_t alloc = 0, n = 0;
	int ret;

	memset(m, 0, sizeof(*m));
	argv[n++] = path;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	while (extra != NULL && *extra != NULL && n < 31)
		argv[n++] = *extra++;
	argv[n] = NULL;
	ret = mail_proc_spawn(&m->proc, (char *const *)argv, NULL, true, NULL);
	if (ret < 0) {
		snprintf(error, size, "starting %s: %s", path, strerror(-ret));
		return ret;
	}
	if (getline(&line, &alloc, m->proc.out) > 0 &&
	    sscanf(line, "listening on %1000s", m->url) == 1) {
		free(line);
		return 0;
	}
	free(line);
	mail_proc_kill(&m->proc);
	snprintf(error, size, "%s did not say \"listening on URL\"", path);
	return -EIO;
}

void mail_mockproc_stop(struct mail_mockproc *m)
{
	mail_proc_kill(&m->proc);
}
