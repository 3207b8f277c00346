/*
 * fs-bench-mail: what a child process of the benchmark runs (--child KIND).
 *
 *   mail   one peer at one depth through the whole mail workload: warm-up,
 *          "ready", wait for "go", then PUT, GET, the index rounds, LIST
 *          and DELETE, each reported as a phase line
 *   sync   one peer uploading the messages of a directory (the raw
 *          libcurl reference of the sync scenario); no warm-up, no
 *          handshake: it is timed from spawn to exit like the tools
 *   big    mail-scn-big.c;  cache  mail-scn-cache.c
 *
 * The server's address, bucket and workload come as options, the
 * credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-mail.h"

int mail_child_big(const struct mail_options *opt, struct bench_server *srv);
int mail_child_cache(const struct mail_options *opt, struct bench_server *srv);

/* Appends phase ph (one index round) to acc, the index phase of all
   rounds: latencies concatenated, durations summed. */
static void child_merge(struct bench_phase *acc, const struct bench_phase *ph,
			unsigned int *filled)
{
	unsigned int i;

	for (i = 0; i < ph->count && *filled < acc->count; i++)
		acc->latency_usec[(*filled)++] = ph->latency_usec[i];
	acc->completed += ph->completed;
	acc->failed += ph->failed;
	acc->corrupt += ph->corrupt;
	acc->bytes += ph->bytes;
	acc->end_usec += ph->end_usec - ph->start_usec;
	if (acc->first_error[0] == '\0')
		snprintf(acc->first_error, sizeof(acc->first_error), "%s",
			 ph->first_error);
}

/* Totals over every phase of the workload. */
struct child_total {
	unsigned int count, ops, failed, corrupt;
	uint64_t bytes, usecs;
};

static void child_total_add(struct child_total *t, const struct bench_phase *ph)
{
	t->count += ph->count;
	t->ops += ph->completed;
	t->failed += ph->count - ph->completed;
	t->corrupt += ph->corrupt;
	t->bytes += ph->bytes;
	t->usecs += ph->end_usec - ph->start_usec;
}

static void child_say_total(const struct child_total *t)
{
	struct mail_result r = {
		.ran = true,
		.name = "ALL",
		.count = t->count,
		.ops = t->ops,
		.failed = t->failed,
		.corrupt = t->corrupt,
		.bytes = t->bytes,
		.usecs = t->usecs > 0 ? t->usecs : 1,
	};

	mail_say_result(&r);
}

/* Runs one phase and reports it; returns peer->run's result. */
static int child_phase(struct bench_client *client,
		       const struct mail_work *work, enum mail_op op,
		       struct child_total *total)
{
	struct mail_phase ph;
	int ret;

	ret = mail_phase_init(&ph, work, op, 0, client->depth);
	if (ret < 0)
		return ret;
	ret = bench_phase_run(client, &ph.base);
	mail_say_phase(mail_op_name(op), &ph.base);
	child_total_add(total, &ph.base);
	bench_phase_deinit(&ph.base);
	return ret;
}

static int child_index_round(struct bench_client *client,
			     const struct mail_work *work, unsigned int round,
			     struct bench_phase acc[2], unsigned int filled[2])
{
	struct mail_phase ph;
	unsigned int k;
	int ret = 0;

	for (k = 0; k < 2 && ret == 0; k++) {
		ret = mail_phase_init(&ph, work,
				      k == 0 ? MAIL_IDX_PUT : MAIL_IDX_GET,
				      round, client->depth);
		if (ret < 0)
			return ret;
		ret = bench_phase_run(client, &ph.base);
		child_merge(&acc[k], &ph.base, &filled[k]);
		bench_phase_deinit(&ph.base);
	}
	return ret;
}

/* Every index file rewritten then re-read, index_rounds times; reported
   as one IDXPUT and one IDXGET phase. */
static int child_index(struct bench_client *client,
		       const struct mail_work *work, struct child_total *total)
{
	static const enum mail_op ops[2] = {MAIL_IDX_PUT, MAIL_IDX_GET};
	struct bench_phase acc[2];
	unsigned int filled[2] = {0, 0}, round, k;
	int ret = 0;

	if (work->index_rounds == 0)
		return 0;
	for (k = 0; k < 2; k++) {
		memset(&acc[k], 0, sizeof(acc[k]));
		acc[k].count = work->boxes * work->index_rounds;
		acc[k].latency_usec = calloc(acc[k].count, sizeof(uint64_t));
		if (acc[k].latency_usec == NULL)
			ret = -ENOMEM;
	}
	for (round = 0; round < work->index_rounds && ret == 0; round++)
		ret = child_index_round(client, work, round, acc, filled);
	for (k = 0; k < 2; k++) {
		if (acc[k].latency_usec != NULL) {
			mail_say_phase(mail_op_name(ops[k]), &acc[k]);
			child_total_add(total, &acc[k]);
		}
		free(acc[k].latency_usec);
	}
	return ret;
}

static int child_workload(struct bench_client *client,
			  const struct mail_work *work)
{
	struct child_total total = {0};
	int ret;

	ret = child_phase(client, work, MAIL_PUT, &total);
	if (ret == 0)
		ret = child_phase(client, work, MAIL_GET, &total);
	if (ret == 0)
		ret = child_index(client, work, &total);
	if (ret == 0 && work->lists > 0)
		ret = child_phase(client, work, MAIL_LIST, &total);
	if (ret == 0)
		ret = child_phase(client, work, MAIL_DELETE, &total);
	child_say_total(&total);
	return ret;
}

/* Small messages on other keys, stored, read and deleted, so that the
   client's connections are open before the clock starts. */
static void child_warmup(struct bench_client *client,
			 const struct mail_options *opt)
{
	static const enum mail_op ops[] = {MAIL_PUT, MAIL_GET, MAIL_DELETE};
	struct mail_work w = opt->work;
	struct mail_phase ph;
	size_t k;
	int ret = 0;

	if (opt->common.warmup == 0)
		return;
	snprintf(w.prefix, sizeof(w.prefix), "%.100s-warm", opt->work.prefix);
	w.mails = opt->common.warmup;
	w.boxes = 1;
	w.index_rounds = 0;
	w.lists = 0;
	w.max_size = 16 * 1024;
	for (k = 0; k < sizeof(ops) / sizeof(ops[0]) && ret == 0; k++) {
		ret = mail_phase_init(&ph, &w, ops[k], 0, client->depth);
		if (ret < 0)
			break;
		ret = bench_phase_run(client, &ph.base);
		if (ph.base.first_error[0] != '\0')
			mail_say_error("warmup", ph.base.first_error);
		bench_phase_deinit(&ph.base);
	}
}

static int child_client(const struct mail_options *opt,
			struct bench_server *srv,
			struct bench_client **client_r)
{
	const struct bench_peer *peer = bench_peer_find(opt->peer);
	char error[BENCH_ERROR_MAX] = "";
	int ret;

	if (peer == NULL) {
		mail_say_error("init", "unknown --peer");
		return -EINVAL;
	}
	srv->target.libfs_spec = opt->libfs_spec;
	ret = peer->init(&srv->target, opt->depth, client_r, error,
			 sizeof(error));
	if (ret == -ENOTSUP)
		mail_say_stat("skipped", 1);
	if (ret < 0)
		mail_say_error("init", error);
	return ret;
}

static int child_mail(const struct mail_options *opt, struct bench_server *srv)
{
	struct bench_client *client = NULL;
	int ret;

	ret = child_client(opt, srv, &client);
	if (ret < 0) {
		mail_say_done(ret == -ENOTSUP ? 0 : 2);
		return ret == -ENOTSUP ? 0 : 2;
	}
	child_warmup(client, opt);
	mail_say_ready();
	ret = mail_wait_go();
	if (ret == 0)
		ret = child_workload(client, &opt->work);
	client->peer->deinit(&client);
	mail_say_done(ret < 0 ? 1 : 0);
	return ret < 0 ? 1 : 0;
}

static int child_sync(const struct mail_options *opt, struct bench_server *srv)
{
	struct bench_client *client = NULL;
	struct child_total total = {0};
	int ret;

	ret = child_client(opt, srv, &client);
	if (ret < 0) {
		mail_say_done(2);
		return 2;
	}
	ret = child_phase(client, &opt->work, MAIL_PUT, &total);
	client->peer->deinit(&client);
	mail_say_done(ret < 0 ? 1 : 0);
	return ret < 0 ? 1 : 0;
}

/* The target: options, and the credentials from the environment. */
static int child_server(const struct mail_options *opt,
			struct bench_server *srv)
{
	struct bench_target t = opt->common.target;
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	char error[BENCH_ERROR_MAX] = "";

	if (ak != NULL && sk != NULL) {
		t.access_key = ak;
		t.secret_key = sk;
	}
	if (opt->common.endpoint == NULL ||
	    bench_server_start(srv, opt->common.endpoint, &t, error,
			       sizeof(error)) < 0) {
		mail_say_error("init",
			       error[0] != '\0' ? error : "no --endpoint");
		return -EINVAL;
	}
	return 0;
}

int mail_child_main(const struct mail_options *opt)
{
	struct bench_server srv;
	int status;

	memset(&srv, 0, sizeof(srv));
	if (child_server(opt, &srv) < 0) {
		bench_server_stop(&srv);
		mail_say_done(2);
		return 2;
	}
	if (strcmp(opt->child, "mail") == 0)
		status = child_mail(opt, &srv);
	else if (strcmp(opt->child, "sync") == 0)
		status = child_sync(opt, &srv);
	else if (strcmp(opt->child, "big") == 0)
		status = mail_child_big(opt, &srv);
	else if (strcmp(opt->child, "cache") == 0)
		status = mail_child_cache(opt, &srv);
	else {
		mail_say_error("init", "unknown --child");
		mail_say_done(2);
		status = 2;
	}
	bench_server_stop(&srv);
	return status;
}
