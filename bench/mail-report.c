/*
 * fs-bench-mail: the pieces of the tables every scenario prints.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench-mail.h"

double mail_result_ops(const struct mail_result *r)
{
	return r != NULL && r->usecs > 0
		       ? (double)r->ops * 1e6 / (double)r->usecs
		       : 0;
}

double mail_result_mib(const struct mail_result *r)
{
	return r != NULL && r->usecs > 0
		       ? (double)r->bytes * 1e6 / (double)r->usecs /
				 (1024.0 * 1024.0)
		       : 0;
}

/* Reads the first line of path into buf (without the newline). */
static bool report_first_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (f == NULL)
		return false;
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

void mail_print_machine(const char *when)
{
	char load[128] = "?", psi[128] = "", *avg;

	report_first_line("/proc/loadavg", load, sizeof(load));
	/* "some avg10=83.03 avg60=63.78 ...": tasks waiting for a CPU. */
	if (report_first_line("/proc/pressure/cpu", psi, sizeof(psi)) &&
	    (avg = strstr(psi, "avg10=")) != NULL)
		avg[strcspn(avg, " ")] = '\0';
	else
		avg = NULL;
	printf("machine %s: %ld CPUs, load average %.14s%s%s%s\n", when,
	       sysconf(_SC_NPROCESSORS_ONLN), load,
	       avg != NULL ? ", CPU pressure " : "", avg != NULL ? avg : "",
	       avg != NULL ? "%" : "");
	fflush(stdout);
}

void mail_format_rss(long kib, char *buf, size_t size)
{
	if (kib <= 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.1f", (double)kib / 1024.0);
}

void mail_format_ratio(double a, double b, char *buf, size_t size)
{
	if (a <= 0 || b <= 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.2fx", a / b);
}

void mail_print_phase_header(void)
{
	printf("%-7s %-9s %-6s %9s %8s %8s %8s %8s %7s %6s\n", "client", "mode",
	       "op", "ops/s", "MiB/s", "p50 ms", "p99 ms", "vs curl", "vs seq",
	       "errors");
}

void mail_print_phase_row(const char *who, const char *mode,
			  const struct mail_result *r, double ref_ops,
			  double seq_ops)
{
	char vs_curl[16], vs_seq[16], p50[16], p99[16];
	double ops = mail_result_ops(r);

	mail_format_ratio(ops, ref_ops, vs_curl, sizeof(vs_curl));
	mail_format_ratio(ops, seq_ops, vs_seq, sizeof(vs_seq));
	if (r->p50_usec > 0 || r->p99_usec > 0) {
		snprintf(p50, sizeof(p50), "%.3f", (double)r->p50_usec / 1e3);
		snprintf(p99, sizeof(p99), "%.3f", (double)r->p99_usec / 1e3);
	} else {
		snprintf(p50, sizeof(p50), "-");
		snprintf(p99, sizeof(p99), "-");
	}
	printf("%-7s %-9s %-6s %9.1f %8.2f %8s %8s %8s %7s %6u\n", who, mode,
	       r->name, ops, mail_result_mib(r), p50, p99, vs_curl, vs_seq,
	       r->failed + r->corrupt);
}
