/*
 * fs-bench-s3 and fs-bench-mail: the options both take (the server and its
 * credentials, latency, rounds, warm-up, depths, clients), the number
 * parser behind every option of both, and the start of the process. Each
 * program keeps the limits it has always had (struct bench_option_rules).
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_process_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "%s: curl_global_init failed\n", bench_program);
		return -EIO;
	}
	return 0;
}

void bench_common_init(struct bench_common_options *c)
{
	memset(c, 0, sizeof(*c));
	c->target.bucket = "bench";
	c->target.region = "us-east-1";
	c->target.access_key = "test";
	c->target.secret_key = "test";
	c->rounds = 3;
}

int bench_parse_u64(const char *str, uint64_t min, uint64_t max, bool units,
		    uint64_t *num_r)
{
	char *end;
	unsigned long long n;
	unsigned int shift = 0;

	errno = 0;
	n = strtoull(str, &end, 10);
	if (errno != 0 || end == str || str[0] == '-')
		return -EINVAL;
	if (units && (*end == 'k' || *end == 'K'))
		shift = 10;
	else if (units && (*end == 'm' || *end == 'M'))
		shift = 20;
	else if (units && (*end == 'g' || *end == 'G'))
		shift = 30;
	if (shift > 0)
		end++;
	if (*end != '\0' || n > (max >> shift))
		return -EINVAL;
	n <<= shift;
	if (n < min)
		return -EINVAL;
	*num_r = n;
	return 0;
}

int bench_parse_uint(const char *str, unsigned int min, unsigned int max,
		     bool units, unsigned int *num_r)
{
	uint64_t n;

	if (bench_parse_u64(str, min, max, units, &n) < 0)
		return -EINVAL;
	*num_r = (unsigned int)n;
	return 0;
}

bool bench_list_has(const char *list, const char *name)
{
	const char *p = list;
	size_t len = strlen(name);

	if (p == NULL)
		return true;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ',') &&
		    (p[len] == '\0' || p[len] == ','))
			return true;
		p += len;
	}
	return false;
}

static int options_depths(struct bench_common_options *c,
			  const struct bench_option_rules *rules,
			  const char *list)
{
	char buf[128], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	c->depth_count = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (c->depth_count == rules->depths_max ||
		    c->depth_count == BENCH_DEPTHS_MAX ||
		    bench_parse_uint(tok, 1, 256, rules->units,
				     &c->depths[c->depth_count]) < 0)
			return -EINVAL;
		c->depth_count++;
	}
	return c->depth_count > 0 ? 0 : -EINVAL;
}

static int options_check_clients(const char *list)
{
	char buf[128], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (bench_peer_find(tok) == NULL)
			return -EINVAL;
	}
	return 0;
}

/* The options that set a string; returns 1 if opt is not one of them. */
static int options_string(struct bench_common_options *c, int opt,
			  const char *arg)
{
	switch (opt) {
	case BENCH_OPT_ENDPOINT:
		c->endpoint = arg;
		return 0;
	case BENCH_OPT_BUCKET:
		c->target.bucket = arg;
		return 0;
	case BENCH_OPT_REGION:
		c->target.region = arg;
		return 0;
	case BENCH_OPT_ACCESS_KEY:
		c->target.access_key = arg;
		return 0;
	case BENCH_OPT_SECRET_KEY:
		c->target.secret_key = arg;
		return 0;
	default:
		return 1;
	}
}

int bench_common_option(struct bench_common_options *c,
			const struct bench_option_rules *rules, int opt,
			const char *arg)
{
	switch (opt) {
	case BENCH_OPT_LATENCY:
		return bench_parse_uint(arg, 0, 60000, rules->units,
					&c->latency_ms);
	case BENCH_OPT_ROUNDS:
		return bench_parse_uint(arg, 1, 64, rules->units, &c->rounds);
	case BENCH_OPT_WARMUP:
		return bench_parse_uint(arg, 0, rules->warmup_max, rules->units,
					&c->warmup);
	case BENCH_OPT_PARALLEL:
		return options_depths(c, rules, arg);
	case BENCH_OPT_CLIENTS:
		c->clients = arg;
		return rules->check_clients ? options_check_clients(arg) : 0;
	default:
		return options_string(c, opt, arg);
	}
}
