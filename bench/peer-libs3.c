/*
 * Peer "libs3" of both benchmarks: Debian's libs3 (libs3-dev, version 2.0),
 * the C S3 library people used before libfs.
 *
 * Depth 1: S3_put_object(), S3_get_object(), S3_list_bucket() and
 * S3_delete_object() without a request context, each run to completion
 * (libs3 keeps its curl handles, and so their connections, on an internal
 * stack between requests). Depth N: N requests in flight in one
 * S3RequestContext driven with S3_runonce_request_context() and select()
 * on its descriptors. Uploads carry Content-MD5 like the other clients.
 * libs3 2.0 signs with AWS Signature Version 2 (the mock verifies V2 as
 * well as V4), lists with ListObjects (v1), lets curl send
 * "Expect: 100-continue" on uploads, and never retries by itself: a
 * failure counts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "bench.h"

#ifdef BENCH_WITH_LIBS3

/* libs3.h declares S3_deinitialize() without a prototype. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <libs3.h>
#pragma GCC diagnostic pop

#define LIBS3_SLACK (16 * 1024)

struct libs3_xfer {
	struct bench_phase *ph;
	unsigned int index, nkeys;
	uint64_t start_usec;
	bool active, done, truncated;
	S3Status status;
	char message[128];
	char key[BENCH_KEY_MAX];
	char md5[32];

	unsigned char *put_buf;
	size_t put_alloc, put_size, put_off;
	unsigned char *get_buf;
	size_t get_alloc, get_len;
};

struct libs3_client {
	struct bench_client client;
	S3BucketContext bucket;
	S3RequestContext *ctx; /* depth > 1 only */
	struct libs3_xfer *xfers;
	unsigned int xfer_count;
	char *host, *bucket_name, *access_key, *secret_key;
};

/* S3_initialize() is process-wide: one per client, counted. */
static unsigned int libs3_users;

static S3Status libs3_properties(const S3ResponseProperties *properties,
				 void *context)
{
	(void)properties;
	(void)context;
	return S3StatusOK;
}

static void libs3_complete(S3Status status, const S3ErrorDetails *details,
			   void *context)
{
	struct libs3_xfer *x = context;

	x->status = status;
	x->done = true;
	x->message[0] = '\0';
	if (details != NULL && details->message != NULL)
		snprintf(x->message, sizeof(x->message), ": %s",
			 details->message);
}

static int libs3_put_data(int size, char *buf, void *context)
{
	struct libs3_xfer *x = context;
	size_t len = x->put_size - x->put_off;

	if (size < 0)
		return -1;
	if (len > (size_t)size)
		len = (size_t)size;
	memcpy(buf, x->put_buf + x->put_off, len);
	x->put_off += len;
	return (int)len;
}

static S3Status libs3_get_data(int size, const char *buf, void *context)
{
	struct libs3_xfer *x = context;

	if (size < 0 || (size_t)size > x->get_alloc - x->get_len)
		return S3StatusAbortedByCallback;
	memcpy(x->get_buf + x->get_len, buf, (size_t)size);
	x->get_len += (size_t)size;
	return S3StatusOK;
}

static S3Status libs3_list_data(int truncated, const char *next_marker,
				int contents_count,
				const S3ListBucketContent *contents,
				int prefixes_count, const char **prefixes,
				void *context)
{
	struct libs3_xfer *x = context;

	(void)next_marker;
	(void)contents;
	(void)prefixes_count;
	(void)prefixes;
	x->nkeys += (unsigned int)contents_count;
	x->truncated = x->truncated || truncated != 0;
	return S3StatusOK;
}

static const S3ResponseHandler libs3_handler = {
	.propertiesCallback = libs3_properties,
	.completeCallback = libs3_complete,
};

static const S3PutObjectHandler libs3_put_handler = {
	.responseHandler = {.propertiesCallback = libs3_properties,
			    .completeCallback = libs3_complete},
	.putObjectDataCallback = libs3_put_data,
};

static const S3GetObjectHandler libs3_get_handler = {
	.responseHandler = {.propertiesCallback = libs3_properties,
			    .completeCallback = libs3_complete},
	.getObjectDataCallback = libs3_get_data,
};

static const S3ListBucketHandler libs3_list_handler = {
	.responseHandler = {.propertiesCallback = libs3_properties,
			    .completeCallback = libs3_complete},
	.listBucketCallback = libs3_list_data,
};

static int libs3_grow(unsigned char **buf, size_t *alloc, size_t size)
{
	unsigned char *p;

	if (size <= *alloc && *buf != NULL)
		return 0;
	p = realloc(*buf, size > 0 ? size : 1);
	if (p == NULL)
		return -ENOMEM;
	*buf = p;
	*alloc = size > 0 ? size : 1;
	return 0;
}

static void libs3_trim(unsigned char **buf, size_t *alloc, size_t max)
{
	if (*alloc <= max)
		return;
	free(*buf);
	*buf = NULL;
	*alloc = 0;
}

/* Makes the buffers fit operation i; fills a payload. */
static int libs3_buffers(struct libs3_xfer *x, struct bench_phase *ph,
			 unsigned int i)
{
	size_t size = ph->v->size(ph, i);

	if (ph->verb == BENCH_VERB_GET)
		return libs3_grow(&x->get_buf, &x->get_alloc,
				  size + LIBS3_SLACK);
	if (ph->verb != BENCH_VERB_PUT)
		return 0;
	if (libs3_grow(&x->put_buf, &x->put_alloc, size) < 0)
		return -ENOMEM;
	x->put_size = size;
	return ph->v->fill(ph, i, x->put_buf);
}

static void libs3_start_put(struct libs3_client *c, struct libs3_xfer *x)
{
	S3PutProperties props;

	memset(&props, 0, sizeof(props));
	props.expires = -1;
	if (bench_md5_base64(x->put_buf, x->put_size, x->md5) == 0)
		props.md5 = x->md5;
	S3_put_object(&c->bucket, x->key, x->put_size, &props, c->ctx,
		      &libs3_put_handler, x);
}

static void libs3_start_op(struct libs3_client *c, struct libs3_xfer *x)
{
	switch (x->ph->verb) {
	case BENCH_VERB_PUT:
		libs3_start_put(c, x);
		break;
	case BENCH_VERB_GET:
		S3_get_object(&c->bucket, x->key, NULL, 0, 0, c->ctx,
			      &libs3_get_handler, x);
		break;
	case BENCH_VERB_LIST:
		S3_list_bucket(&c->bucket, x->key, NULL, NULL, 0, c->ctx,
			       &libs3_list_handler, x);
		break;
	default:
		S3_delete_object(&c->bucket, x->key, c->ctx, &libs3_handler, x);
		break;
	}
}

/* Starts operation i of ph on x (and, without a context, runs it). */
static void libs3_xfer_start(struct libs3_client *c, struct libs3_xfer *x,
			     struct bench_phase *ph, unsigned int i)
{
	int ret;

	x->ph = ph;
	x->index = i;
	x->put_off = 0;
	x->get_len = 0;
	x->nkeys = 0;
	x->truncated = false;
	x->done = false;
	x->active = true;
	x->status = S3StatusInternalError;
	snprintf(x->message, sizeof(x->message), ": not started");
	ret = libs3_buffers(x, ph, i);
	if (ret < 0) {
		/* Completes at once, failed. */
		snprintf(x->message, sizeof(x->message), ": %s",
			 fs_errno_name(ret));
		x->done = true;
		return;
	}
	x->start_usec = bench_now_usec();
	ph->v->key(ph, i, x->key);
	libs3_start_op(c, x);
}

static void libs3_xfer_record(struct libs3_xfer *x)
{
	struct bench_phase *ph = x->ph;

	x->active = false;
	if (x->status != S3StatusOK)
		bench_phase_fail(ph, x->index, "%s %s: %s%s", ph->name, x->key,
				 S3_get_status_name(x->status), x->message);
	else if (ph->verb == BENCH_VERB_LIST && x->truncated)
		bench_phase_fail(ph, x->index, "LIST %s: more than one page",
				 x->key);
	else if (ph->verb == BENCH_VERB_LIST)
		bench_phase_listed(ph, x->index, x->start_usec, x->nkeys);
	else
		bench_phase_ok(ph, x->index, x->start_usec, x->get_buf,
			       x->get_len);
	libs3_trim(&x->put_buf, &x->put_alloc, ph->v->keep_buffer_max);
	libs3_trim(&x->get_buf, &x->get_alloc, ph->v->keep_buffer_max);
}

static int libs3_run_sequential(struct libs3_client *c, struct bench_phase *ph)
{
	struct libs3_xfer *x = &c->xfers[0];
	unsigned int i;

	for (i = 0; i < ph->count; i++) {
		libs3_xfer_start(c, x, ph, i);
		if (!x->done)
			x->status = S3StatusInternalError;
		libs3_xfer_record(x);
	}
	return 0;
}

/* Waits until the context's descriptors have something to do. */
static int libs3_select(struct libs3_client *c)
{
	fd_set rd, wr, ex;
	struct timeval tv;
	int64_t ms;
	int maxfd = -1;

	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_ZERO(&ex);
	if (S3_get_request_context_fdsets(c->ctx, &rd, &wr, &ex, &maxfd) !=
	    S3StatusOK)
		return -EIO;
	ms = S3_get_request_context_timeout(c->ctx);
	if (ms < 0 || ms > 1000)
		ms = 1000;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (maxfd < 0)
		return 0;
	if (select(maxfd + 1, &rd, &wr, &ex, &tv) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

/* Records the finished transfers; returns how many. */
static unsigned int libs3_collect(struct libs3_client *c)
{
	unsigned int k, done = 0;

	for (k = 0; k < c->xfer_count; k++) {
		if (c->xfers[k].active && c->xfers[k].done) {
			libs3_xfer_record(&c->xfers[k]);
			done++;
		}
	}
	return done;
}

static int libs3_run_context(struct libs3_client *c, struct bench_phase *ph)
{
	unsigned int next = 0, active = 0, k;
	int remaining, ret;

	for (;;) {
		for (k = 0; k < c->xfer_count && next < ph->count; k++) {
			if (c->xfers[k].active)
				continue;
			libs3_xfer_start(c, &c->xfers[k], ph, next++);
			active++;
		}
		/* A request that failed to start completed at once. */
		active -= libs3_collect(c);
		if (active == 0 && next == ph->count)
			return 0;
		if (active == 0)
			continue;
		if (S3_runonce_request_context(c->ctx, &remaining) !=
		    S3StatusOK)
			return -EIO;
		ret = (int)libs3_collect(c);
		active -= (unsigned int)ret;
		if (ret == 0 && remaining > 0 && libs3_select(c) < 0)
			return -EIO;
	}
}

static int libs3_peer_run(struct bench_client *client, struct bench_phase *ph)
{
	struct libs3_client *c =
		BENCH_CONTAINER_OF(client, struct libs3_client, client);
	unsigned int k;
	int ret;

	if (c->ctx == NULL)
		return libs3_run_sequential(c, ph);
	ret = libs3_run_context(c, ph);
	if (ret < 0) {
		if (ph->first_error[0] == '\0')
			snprintf(ph->first_error, sizeof(ph->first_error),
				 "libs3: request context failed");
		/* Destroying the context aborts what is still running. */
		S3_destroy_request_context(c->ctx);
		c->ctx = NULL;
		if (S3_create_request_context(&c->ctx) != S3StatusOK)
			c->ctx = NULL;
		for (k = 0; k < c->xfer_count; k++)
			c->xfers[k].active = false;
	}
	return ret;
}

static void libs3_peer_deinit(struct bench_client **client)
{
	struct libs3_client *c;
	unsigned int k;

	if (*client == NULL)
		return;
	c = BENCH_CONTAINER_OF(*client, struct libs3_client, client);
	if (c->ctx != NULL)
		S3_destroy_request_context(c->ctx);
	for (k = 0; k < c->xfer_count; k++) {
		free(c->xfers[k].put_buf);
		free(c->xfers[k].get_buf);
	}
	free(c->xfers);
	free(c->host);
	free(c->bucket_name);
	free(c->access_key);
	free(c->secret_key);
	free(c);
	if (--libs3_users == 0)
		S3_deinitialize();
	*client = NULL;
}

/* Counts a user of libs3's process-wide state, initialising it first. */
static int libs3_use(const struct bench_target *target, char *error,
		     size_t error_size)
{
	S3Status status;

	if (strncmp(target->endpoint, "http://", 7) != 0) {
		snprintf(error, error_size,
			 "libs3: only plain http:// endpoints are benchmarked");
		return -ENOTSUP;
	}
	if (libs3_users == 0) {
		status =
			S3_initialize(bench_program, S3_INIT_ALL, target->host);
		if (status != S3StatusOK) {
			snprintf(error, error_size, "libs3: S3_initialize: %s",
				 S3_get_status_name(status));
			return -EIO;
		}
	}
	libs3_users++;
	return 0;
}

static int libs3_peer_init(const struct bench_target *target,
			   unsigned int depth, struct bench_client **client_r,
			   char *error, size_t error_size)
{
	struct libs3_client *c;
	struct bench_client *client;
	int ret;

	ret = libs3_use(target, error, error_size);
	if (ret < 0)
		return ret;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		if (--libs3_users == 0)
			S3_deinitialize();
		return -ENOMEM;
	}
	c->client.peer = &bench_peer_libs3;
	c->client.depth = depth;
	client = &c->client;
	c->host = strdup(target->host);
	c->bucket_name = strdup(target->bucket);
	c->access_key = strdup(target->access_key);
	c->secret_key = strdup(target->secret_key);
	c->xfers = calloc(depth, sizeof(*c->xfers));
	if (c->host == NULL || c->bucket_name == NULL ||
	    c->access_key == NULL || c->secret_key == NULL || c->xfers == NULL)
		goto fail;
	c->xfer_count = depth;
	c->bucket.hostName = c->host;
	c->bucket.bucketName = c->bucket_name;
	c->bucket.protocol = S3ProtocolHTTP;
	c->bucket.uriStyle = S3UriStylePath;
	c->bucket.accessKeyId = c->access_key;
	c->bucket.secretAccessKey = c->secret_key;
	if (depth > 1 && S3_create_request_context(&c->ctx) != S3StatusOK)
		goto fail;
	*client_r = client;
	return 0;
fail:
	snprintf(error, error_size, "libs3: out of memory");
	libs3_peer_deinit(&client);
	return -ENOMEM;
}

const struct bench_peer bench_peer_libs3 = {
	.name = "libs3",
	.init = libs3_peer_init,
	.run = libs3_peer_run,
	.deinit = libs3_peer_deinit,
};

#else /* BENCH_WITH_LIBS3 */

static int libs3_peer_init(const struct bench_target *target,
			   unsigned int depth, struct bench_client **client_r,
			   char *error, size_t error_size)
{
	(void)target;
	(void)depth;
	(void)client_r;
	snprintf(error, error_size,
		 "libs3: not built (install libs3-dev and reconfigure)");
	return -ENOTSUP;
}

const struct bench_peer bench_peer_libs3 = {
	.name = "libs3",
	.init = libs3_peer_init,
};

#endif /* BENCH_WITH_LIBS3 */
