/*
 * The MogileFS mock: start and stop, the "database" the trackers share,
 * the background worker (the replicator and the delete worker of the real
 * server, and node stops), fault rules and counters.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "libfs/sorted.h"
#include "mogilefs-private.h"

/* A replication that cannot be done now is tried again this often. */
#define MOG_RETRY_MS 200
#define MOG_MAX_TRIES 100

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

void mog_log(struct fs_mogmock *mock, const char *fmt, ...)
{
	char line[1024];
	va_list args;

	if (!mock->log)
		return;
	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	fprintf(stderr, "mogmock: %s\n", line);
}

void mog_count(struct fs_mogmock *mock, const char *name, uint64_t n)
{
	pthread_mutex_lock(&mock->lock);
	mock_counters_add(&mock->counters, name, n);
	pthread_mutex_unlock(&mock->lock);
}

void mog_countf(struct fs_mogmock *mock, const char *fmt, ...)
{
	char name[128];
	va_list args;

	va_start(args, fmt);
	vsnprintf(name, sizeof(name), fmt, args);
	va_end(args);
	mog_count(mock, name, 1);
}

uint64_t mog_rand(struct fs_mogmock *mock)
{
	uint64_t z;

	pthread_mutex_lock(&mock->lock);
	z = (mock->rng += 0x9e3779b97f4a7c15ULL);
	pthread_mutex_unlock(&mock->lock);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void mog_sleep_ms(struct fs_mogmock *mock, unsigned int ms)
{
	struct timespec ts;
	unsigned int step;

	while (ms > 0 && !mock->stopping) {
		step = ms > 20 ? 20 : ms;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step * 1000000;
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static bool mog_rule_kills(struct fs_mogmock *mock, int id)
{
	unsigned int i;

	for (i = 0; i < mock->kill_rule_count; i++) {
		if (mock->kill_rules[i] == id)
			return true;
	}
	return false;
}

bool mog_fault_match(struct fs_mogmock *mock, const char *method,
		     const char *op, const char *server, const char *key,
		     struct mock_fault *fault_r, bool *kill_r)
{
	bool fired;

	memset(fault_r, 0, sizeof(*fault_r));
	pthread_mutex_lock(&mock->lock);
	fired = mock_faults_match(&mock->faults, method, op, server, key,
				  fault_r);
	*kill_r = fired && mog_rule_kills(mock, fault_r->rule_id);
	if (fired)
		mock_counters_add(&mock->counters, "faults", 1);
	pthread_mutex_unlock(&mock->lock);
	if (fired)
		mog_log(mock, "fault rule %d on %s %s %s", fault_r->rule_id,
			server, op != NULL ? op : method,
			key != NULL ? key : "");
	return fired;
}

/* ------------------------------------------------------------------------ */
/* Paths                                                                      */

void mog_file_key(uint64_t fid, unsigned int devid, char *buf, size_t size)
{
	char num[16];

	snprintf(num, sizeof(num), "%010" PRIu64, fid);
	snprintf(buf, size, "dev%u/%c/%.3s/%.3s/%s.fid", devid, num[0], num + 1,
		 num + 4, num);
}

struct mog_node *mog_node_of_dev(struct fs_mogmock *mock, unsigned int devid)
{
	if (devid == 0 || devid > mock->node_count)
		return NULL;
	return &mock->nodes[devid - 1];
}

void mog_file_url(struct fs_mogmock *mock, uint64_t fid, unsigned int devid,
		  char *buf, size_t size)
{
	struct mog_node *node = mog_node_of_dev(mock, devid);
	char key[64];

	mog_file_key(fid, devid, key, sizeof(key));
	snprintf(buf, size, "http://127.0.0.1:%u/%s",
		 node != NULL ? node->port : 0, key);
}

bool mog_node_seen_alive(struct fs_mogmock *mock, const struct mog_node *node,
			 uint64_t now)
{
	return node->alive ||
	       now - node->down_usec < (uint64_t)mock->monitor_delay_ms * 1000;
}

/* ------------------------------------------------------------------------ */
/* The database (db_lock held)                                                */

struct mog_domain *mog_domain_find(struct fs_mogmock *mock, const char *name)
{
	unsigned int i;

	for (i = 0; i < mock->domain_count; i++) {
		if (strcmp(mock->domains[i].name, name) == 0)
			return &mock->domains[i];
	}
	return NULL;
}

static bool mog_file_search(struct mog_domain *dom, const char *key,
			    size_t *idx_r)
{
	return fs_sorted_find(dom->files, dom->file_count, sizeof(*dom->files),
			      offsetof(struct mog_file, key), key, idx_r);
}

struct mog_file *mog_file_find(struct mog_domain *dom, const char *key)
{
	size_t idx;

	return mog_file_search(dom, key, &idx) ? &dom->files[idx] : NULL;
}

struct mog_file *mog_file_insert(struct mog_domain *dom,
				 const struct mog_file *file)
{
	struct mog_file *files, *f;
	size_t idx, alloc;

	if (mog_file_search(dom, file->key, &idx))
		return NULL;
	if (dom->file_count == dom->file_alloc) {
		alloc = dom->file_alloc == 0 ? 64 : dom->file_alloc * 2;
		files = realloc(dom->files, alloc * sizeof(*files));
		if (files == NULL)
			return NULL;
		dom->files = files;
		dom->file_alloc = alloc;
	}
	f = &dom->files[idx];
	memmove(f + 1, f, (dom->file_count - idx) * sizeof(*f));
	*f = *file;
	f->key = strdup(file->key);
	f->checksum = file->checksum != NULL ? strdup(file->checksum) : NULL;
	if (f->key == NULL || (file->checksum != NULL && f->checksum == NULL)) {
		free(f->key);
		free(f->checksum);
		memmove(f, f + 1, (dom->file_count - idx) * sizeof(*f));
		return NULL;
	}
	dom->file_count++;
	return f;
}

void mog_file_remove(struct mog_domain *dom, struct mog_file *file)
{
	size_t idx = (size_t)(file - dom->files);

	free(file->key);
	free(file->checksum);
	dom->file_count--;
	memmove(file, file + 1, (dom->file_count - idx) * sizeof(*file));
}

void mog_queue_job(struct fs_mogmock *mock, enum mog_job_type type,
		   uint64_t fid, unsigned int devid, unsigned int delay_ms)
{
	struct mog_job *job = calloc(1, sizeof(*job)), **p;

	if (job == NULL)
		return;
	job->type = type;
	job->fid = fid;
	job->devid = devid;
	job->due_usec = fs_now_usec() + (uint64_t)delay_ms * 1000;
	for (p = &mock->jobs; *p != NULL; p = &(*p)->next)
		;
	*p = job;
	pthread_cond_broadcast(&mock->db_cond);
}

void mog_file_queue_delete(struct fs_mogmock *mock, const struct mog_file *file)
{
	unsigned int devid;

	for (devid = 1; devid <= mock->node_count; devid++) {
		if ((file->devmask & (1u << devid)) != 0)
			mog_queue_job(mock, MOG_JOB_DELETE, file->fid, devid,
				      mock->delete_delay_ms);
	}
}

bool mog_fid_used(struct fs_mogmock *mock, uint64_t fid)
{
	unsigned int d;
	size_t i;

	for (i = 0; i < mock->temp_count; i++) {
		if (mock->temps[i].fid == fid)
			return true;
	}
	for (d = 0; d < mock->domain_count; d++) {
		for (i = 0; i < mock->domains[d].file_count; i++) {
			if (mock->domains[d].files[i].fid == fid)
				return true;
		}
	}
	return false;
}

/* Finds the file with fid in any domain. */
static struct mog_file *mog_file_by_fid(struct fs_mogmock *mock, uint64_t fid,
					struct mog_domain **dom_r)
{
	unsigned int d;
	size_t i;

	for (d = 0; d < mock->domain_count; d++) {
		for (i = 0; i < mock->domains[d].file_count; i++) {
			if (mock->domains[d].files[i].fid == fid) {
				*dom_r = &mock->domains[d];
				return &mock->domains[d].files[i];
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The backing store                                                          */

int64_t mog_store_size(struct fs_mogmock *mock, const char *key)
{
	struct fs_file *file;
	struct fs_stat st;
	int ret;

	pthread_mutex_lock(&mock->fs_lock);
	ret = fs_file_init(mock->fs, key, FS_OPEN_READ, &file);
	if (ret == 0) {
		ret = fs_file_stat(file, &st);
		fs_file_deinit(&file);
	}
	pthread_mutex_unlock(&mock->fs_lock);
	return ret < 0 ? ret : (int64_t)st.size;
}

int mog_store_md5(struct fs_mogmock *mock, const char *key, char hex[33])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	struct fs_file *file = NULL;
	unsigned int len = 0, i;
	ssize_t n = -ENOMEM;

	pthread_mutex_lock(&mock->fs_lock);
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    (n = fs_file_init(mock->fs, key, FS_OPEN_READ, &file)) == 0) {
		while ((n = fs_read(file, buf, sizeof(buf))) > 0)
			EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	fs_file_deinit(&file);
	pthread_mutex_unlock(&mock->fs_lock);
	if (n == 0 && EVP_DigestFinal_ex(ctx, md, &len) == 1) {
		for (i = 0; i < len && i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	EVP_MD_CTX_free(ctx);
	return (int)n;
}

int mog_store_delete(struct fs_mogmock *mock, const char *key)
{
	struct fs_file *file;
	int ret;

	pthread_mutex_lock(&mock->fs_lock);
	ret = fs_file_init(mock->fs, key, FS_OPEN_READ, &file);
	if (ret == 0) {
		ret = fs_file_delete(file);
		fs_file_deinit(&file);
	}
	pthread_mutex_unlock(&mock->fs_lock);
	return ret;
}

static int mog_store_copy(struct fs_mogmock *mock, const char *from,
			  const char *to)
{
	struct fs_file *src = NULL, *dst = NULL;
	int ret;

	pthread_mutex_lock(&mock->fs_lock);
	ret = fs_file_init(mock->fs, from, FS_OPEN_READ, &src);
	if (ret == 0)
		ret = fs_file_init(mock->fs, to, FS_OPEN_REPLACE, &dst);
	if (ret == 0)
		ret = fs_copy(src, dst);
	fs_file_deinit(&src);
	fs_file_deinit(&dst);
	pthread_mutex_unlock(&mock->fs_lock);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* The worker                                                                 */

/* Picks a source copy and a device that lacks one. Returns false when the
   file has enough copies (or is gone). */
static bool mog_replica_plan(struct fs_mogmock *mock, struct mog_job *job,
			     unsigned int *src_r, unsigned int *dst_r)
{
	struct mog_domain *dom;
	struct mog_file *file = mog_file_by_fid(mock, job->fid, &dom);
	unsigned int devid, have = 0;

	*src_r = *dst_r = 0;
	if (file == NULL)
		return false;
	for (devid = 1; devid <= mock->node_count; devid++) {
		if ((file->devmask & (1u << devid)) == 0) {
			if (*dst_r == 0 && mock->nodes[devid - 1].alive)
				*dst_r = devid;
			continue;
		}
		have++;
		if (*src_r == 0 && mock->nodes[devid - 1].alive)
			*src_r = devid;
	}
	return have < dom->classes[file->classid].mindevcount &&
	       have < mock->node_count;
}

/* Copies one more replica (db_lock held on entry and exit). Returns true
   when the job is done, false to try again later. */
static bool mog_job_replicate(struct fs_mogmock *mock, struct mog_job *job)
{
	char from[64], to[64];
	struct mog_domain *dom;
	struct mog_file *file;
	unsigned int src, dst;
	int ret;

	if (!mog_replica_plan(mock, job, &src, &dst))
		return true;
	if (src == 0 || dst == 0)
		return false;
	mog_file_key(job->fid, src, from, sizeof(from));
	mog_file_key(job->fid, dst, to, sizeof(to));
	pthread_mutex_unlock(&mock->db_lock);
	ret = mog_store_copy(mock, from, to);
	pthread_mutex_lock(&mock->db_lock);
	file = mog_file_by_fid(mock, job->fid, &dom);
	if (ret < 0 || file == NULL) {
		/* deleted meanwhile: remove the copy again */
		if (ret == 0)
			mog_queue_job(mock, MOG_JOB_DELETE, job->fid, dst, 0);
		return ret < 0 ? false : true;
	}
	file->devmask |= 1u << dst;
	mog_count(mock, "replicated", 1);
	/* more copies wanted? */
	return !mog_replica_plan(mock, job, &src, &dst);
}

static bool mog_job_delete(struct fs_mogmock *mock, struct mog_job *job)
{
	struct mog_node *node = mog_node_of_dev(mock, job->devid);
	char key[64];
	int ret;

	if (node == NULL)
		return true;
	if (!node->alive)
		return false;
	mog_file_key(job->fid, job->devid, key, sizeof(key));
	pthread_mutex_unlock(&mock->db_lock);
	ret = mog_store_delete(mock, key);
	pthread_mutex_lock(&mock->db_lock);
	if (ret == 0)
		mog_count(mock, "purged", 1);
	return ret == 0 || ret == -ENOENT;
}

static bool mog_job_run(struct fs_mogmock *mock, struct mog_job *job)
{
	struct mog_node *node;

	switch (job->type) {
	case MOG_JOB_REPLICATE:
		return mog_job_replicate(mock, job);
	case MOG_JOB_DELETE:
		return mog_job_delete(mock, job);
	case MOG_JOB_NODE_STOP:
		node = mog_node_of_dev(mock, job->devid);
		pthread_mutex_unlock(&mock->db_lock);
		if (node != NULL)
			mog_node_stop(node);
		pthread_mutex_lock(&mock->db_lock);
		return true;
	}
	return true;
}

/* The first job due now, unlinked; or NULL and *next_r the next due. */
static struct mog_job *mog_job_take(struct fs_mogmock *mock, uint64_t now,
				    uint64_t *next_r)
{
	struct mog_job **p, *job;

	*next_r = UINT64_MAX;
	for (p = &mock->jobs; (job = *p) != NULL; p = &job->next) {
		if (job->due_usec <= now || mock->hurry ||
		    job->type == MOG_JOB_NODE_STOP) {
			*p = job->next;
			job->next = NULL;
			return job;
		}
		if (job->due_usec < *next_r)
			*next_r = job->due_usec;
	}
	return NULL;
}

static void mog_cond_wait_until(struct fs_mogmock *mock, uint64_t due_usec)
{
	uint64_t now = fs_now_usec(), wait;
	struct timespec ts;

	wait = due_usec == UINT64_MAX ? 1000000
	       : due_usec > now	      ? due_usec - now
				      : 0;
	if (wait > 1000000)
		wait = 1000000;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(wait / 1000000);
	ts.tv_nsec += (long)(wait % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&mock->db_cond, &mock->db_lock, &ts);
}

static void mog_job_requeue(struct fs_mogmock *mock, struct mog_job *job)
{
	struct mog_job **p;

	if (++job->tries > MOG_MAX_TRIES) {
		mog_log(mock, "giving up job %d for fid %" PRIu64,
			(int)job->type, job->fid);
		free(job);
		return;
	}
	job->due_usec = fs_now_usec() + MOG_RETRY_MS * 1000;
	for (p = &mock->jobs; *p != NULL; p = &(*p)->next)
		;
	*p = job;
}

static void *mog_worker(void *context)
{
	struct fs_mogmock *mock = context;
	struct mog_job *job;
	uint64_t next;

	pthread_mutex_lock(&mock->db_lock);
	while (!mock->stopping) {
		job = mog_job_take(mock, fs_now_usec(), &next);
		if (job == NULL) {
			pthread_cond_broadcast(&mock->db_cond);
			mog_cond_wait_until(mock, next);
			continue;
		}
		mock->jobs_running++;
		if (mog_job_run(mock, job))
			free(job);
		else if (mock->hurry && job->type == MOG_JOB_REPLICATE &&
			 job->tries >= 10)
			free(job); /* settling: a node is down for good */
		else
			mog_job_requeue(mock, job);
		mock->jobs_running--;
		pthread_cond_broadcast(&mock->db_cond);
	}
	pthread_mutex_unlock(&mock->db_lock);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Killing and reviving                                                       */

/* Parses "trackerN" or "nodeN". */
static int mog_server_parse(struct fs_mogmock *mock, const char *server,
			    bool *tracker_r, unsigned int *idx_r)
{
	uint64_t idx;
	const char *num;

	if (strncmp(server, "tracker", 7) == 0) {
		*tracker_r = true;
		num = server + 7;
	} else if (strncmp(server, "node", 4) == 0) {
		*tracker_r = false;
		num = server + 4;
	} else {
		return -EINVAL;
	}
	if (fs_parse_uint(num, &idx) < 0 ||
	    idx >= (*tracker_r ? mock->tracker_count : mock->node_count))
		return -EINVAL;
	*idx_r = (unsigned int)idx;
	return 0;
}

int mog_kill(struct fs_mogmock *mock, const char *server, bool from_inside)
{
	struct mog_node *node;
	unsigned int idx;
	bool tracker;

	if (mog_server_parse(mock, server, &tracker, &idx) < 0)
		return -EINVAL;
	mog_log(mock, "killing %s", server);
	if (tracker) {
		mog_tracker_stop(&mock->trackers[idx]);
		return 0;
	}
	node = &mock->nodes[idx];
	pthread_mutex_lock(&mock->db_lock);
	if (node->alive) {
		node->alive = false;
		node->down_usec = fs_now_usec();
	}
	pthread_mutex_unlock(&mock->db_lock);
	mog_node_quiesce(node);
	if (!from_inside) {
		mog_node_stop(node);
		return 0;
	}
	/* a connection thread cannot stop its own daemon: the worker does */
	pthread_mutex_lock(&mock->db_lock);
	mog_queue_job(mock, MOG_JOB_NODE_STOP, 0, node->devid, 0);
	pthread_mutex_unlock(&mock->db_lock);
	return 0;
}

int fs_mogmock_kill(struct fs_mogmock *mock, const char *server)
{
	return mog_kill(mock, server, false);
}

/* Queues a replication for every file with fewer copies than its class
   wants (a node came back). */
static void mog_queue_underreplicated(struct fs_mogmock *mock)
{
	struct mog_domain *dom;
	unsigned int d, devid, have;
	size_t i;

	for (d = 0; d < mock->domain_count; d++) {
		dom = &mock->domains[d];
		for (i = 0; i < dom->file_count; i++) {
			have = 0;
			for (devid = 1; devid <= mock->node_count; devid++)
				have += (dom->files[i].devmask >> devid) & 1;
			if (have <
			    dom->classes[dom->files[i].classid].mindevcount)
				mog_queue_job(mock, MOG_JOB_REPLICATE,
					      dom->files[i].fid, 0, 0);
		}
	}
}

/* Waits until no node stop is queued (a kill from inside a request). */
static void mog_wait_node_stops(struct fs_mogmock *mock)
{
	struct mog_job *job;
	bool pending;

	pthread_mutex_lock(&mock->db_lock);
	do {
		pending = false;
		for (job = mock->jobs; job != NULL; job = job->next)
			pending |= job->type == MOG_JOB_NODE_STOP;
		if (pending || mock->jobs_running > 0)
			mog_cond_wait_until(mock, fs_now_usec() + 10000);
	} while ((pending || mock->jobs_running > 0) && !mock->stopping);
	pthread_mutex_unlock(&mock->db_lock);
}

int fs_mogmock_revive(struct fs_mogmock *mock, const char *server)
{
	struct mog_node *node;
	char *error = NULL;
	unsigned int idx;
	bool tracker;
	int ret;

	if (mog_server_parse(mock, server, &tracker, &idx) < 0)
		return -EINVAL;
	mog_log(mock, "reviving %s", server);
	if (tracker)
		return mog_tracker_start(&mock->trackers[idx], NULL);
	node = &mock->nodes[idx];
	mog_wait_node_stops(mock);
	mog_node_stop(node);
	ret = mog_node_start(node, &error);
	free(error);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&mock->db_lock);
	node->alive = true;
	mog_queue_underreplicated(mock);
	pthread_mutex_unlock(&mock->db_lock);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                     */

void fs_mogmock_settings_init(struct fs_mogmock_settings *set)
{
	memset(set, 0, sizeof(*set));
	set->version = FS_MOGMOCK_SETTINGS_VERSION;
}

static char *mog_error(const char *fmt, ...) MOCK_PRINTF(1, 2);
static char *mog_error(const char *fmt, ...)
{
	va_list args;
	char *msg;

	va_start(args, fmt);
	if (vasprintf(&msg, fmt, args) < 0)
		msg = NULL;
	va_end(args);
	return msg;
}

static int mog_class_set(struct mog_class *cls, const char *name,
			 unsigned int mindevcount, bool md5)
{
	cls->name = strdup(name);
	cls->mindevcount = mindevcount;
	cls->md5 = md5;
	return cls->name == NULL ? -ENOMEM : 0;
}

static int mog_domain_add(struct fs_mogmock *mock, const char *name,
			  unsigned int mindevcount)
{
	struct mog_domain *dom;

	mock->domains = calloc(1, sizeof(*mock->domains));
	if (mock->domains == NULL)
		return -ENOMEM;
	dom = &mock->domains[0];
	mock->domain_count = 1;
	dom->name = strdup(name);
	dom->classes = calloc(3, sizeof(*dom->classes));
	if (dom->name == NULL || dom->classes == NULL)
		return -ENOMEM;
	dom->class_count = 3;
	if (mog_class_set(&dom->classes[0], "default", mindevcount, false) <
		    0 ||
	    mog_class_set(&dom->classes[1], "single", 1, false) < 0 ||
	    mog_class_set(&dom->classes[2], "hashed", 2, true) < 0)
		return -ENOMEM;
	return 0;
}

static void mog_free(struct fs_mogmock *mock)
{
	struct mog_job *job;
	unsigned int d, c;
	size_t i;

	for (d = 0; d < mock->domain_count; d++) {
		struct mog_domain *dom = &mock->domains[d];

		for (i = 0; i < dom->file_count; i++) {
			free(dom->files[i].key);
			free(dom->files[i].checksum);
		}
		free(dom->files);
		for (c = 0; c < dom->class_count; c++)
			free(dom->classes[c].name);
		free(dom->classes);
		free(dom->name);
	}
	free(mock->domains);
	free(mock->temps);
	while ((job = mock->jobs) != NULL) {
		mock->jobs = job->next;
		free(job);
	}
	for (d = 0; d < mock->tracker_count; d++)
		pthread_mutex_destroy(&mock->trackers[d].lock);
	if (mock->fs != NULL)
		fs_deinit(&mock->fs);
	mock_faults_clear(&mock->faults);
	mock_counters_free(&mock->counters);
	pthread_mutex_destroy(&mock->db_lock);
	pthread_cond_destroy(&mock->db_cond);
	pthread_mutex_destroy(&mock->lock);
	pthread_mutex_destroy(&mock->fs_lock);
	free(mock);
}

static char *mog_copy_settings(struct fs_mogmock *mock,
			       const struct fs_mogmock_settings *set)
{
	const char *backend = set->backend != NULL ? set->backend : "mem:";
	const char *error = NULL;
	unsigned int i;

	mock->tracker_count = set->trackers != 0 ? set->trackers : 2;
	mock->node_count = set->nodes != 0 ? set->nodes : 2;
	if (mock->tracker_count > FS_MOGMOCK_MAX_SERVERS ||
	    mock->node_count > FS_MOGMOCK_MAX_SERVERS)
		return mog_error("at most %d trackers and nodes",
				 FS_MOGMOCK_MAX_SERVERS);
	mock->ordered = set->ordered_devices;
	mock->case_sensitive = set->case_sensitive_list_keys;
	mock->log = set->log;
	mock->replicate_delay_ms = set->replicate_delay_ms;
	mock->delete_delay_ms = set->delete_delay_ms;
	mock->monitor_delay_ms = set->monitor_delay_ms;
	mock->dead_paths0_ms = set->dead_paths0_ms;
	mock->rng = set->seed != 0 ? set->seed : fs_now_usec() ^ getpid();
	mock->next_fid = 1;
	if (mog_domain_add(mock, set->domain != NULL ? set->domain : "testdom",
			   set->mindevcount != 0 ? set->mindevcount : 2) < 0)
		return mog_error("out of memory");
	for (i = 0; set->faults != NULL && set->faults[i] != NULL; i++) {
		char *err = NULL;

		if (fs_mogmock_fault_add(mock, set->faults[i], &err) < 0)
			return err != NULL ? err : mog_error("bad fault rule");
	}
	if (fs_init(backend, NULL, &mock->fs, &error) < 0)
		return mog_error("backend %s: %s", backend,
				 error != NULL ? error : "cannot open");
	return NULL;
}

static char *mog_start_servers(struct fs_mogmock *mock)
{
	char *error = NULL;
	unsigned int i;

	for (i = 0; i < mock->node_count; i++) {
		mock->nodes[i].mock = mock;
		mock->nodes[i].idx = i;
		mock->nodes[i].devid = i + 1;
		mock->nodes[i].alive = true;
		if (mog_node_start(&mock->nodes[i], &error) < 0)
			return error;
	}
	for (i = 0; i < mock->tracker_count; i++) {
		mock->trackers[i].mock = mock;
		mock->trackers[i].idx = i;
		mock->trackers[i].listen_fd = -1;
		pthread_mutex_init(&mock->trackers[i].lock, NULL);
		if (mog_tracker_start(&mock->trackers[i], &error) < 0)
			return error;
	}
	if (pthread_create(&mock->worker, NULL, mog_worker, mock) != 0)
		return mog_error("cannot start the worker thread");
	mock->worker_running = true;
	return NULL;
}

struct fs_mogmock *fs_mogmock_start(const struct fs_mogmock_settings *set,
				    char **error_r)
{
	struct fs_mogmock_settings defaults;
	struct fs_mogmock *mock;
	char *error;

	if (error_r != NULL)
		*error_r = NULL;
	if (set == NULL) {
		fs_mogmock_settings_init(&defaults);
		set = &defaults;
	}
	mock = calloc(1, sizeof(*mock));
	if (mock == NULL)
		return NULL;
	pthread_mutex_init(&mock->db_lock, NULL);
	pthread_cond_init(&mock->db_cond, NULL);
	pthread_mutex_init(&mock->lock, NULL);
	pthread_mutex_init(&mock->fs_lock, NULL);
	error = mog_copy_settings(mock, set);
	if (error == NULL)
		error = mog_start_servers(mock);
	if (error != NULL) {
		if (error_r != NULL)
			*error_r = error;
		else
			free(error);
		fs_mogmock_stop(&mock);
		return NULL;
	}
	return mock;
}

void fs_mogmock_stop(struct fs_mogmock **_mock)
{
	struct fs_mogmock *mock = *_mock;
	unsigned int i;

	if (mock == NULL)
		return;
	*_mock = NULL;
	/* sleeps (commands, injected delays) end now */
	mock->stopping = true;
	for (i = 0; i < mock->tracker_count; i++) {
		if (mock->trackers[i].mock != NULL)
			mog_tracker_stop(&mock->trackers[i]);
	}
	/* the tracker connection threads are gone before the worker */
	pthread_mutex_lock(&mock->db_lock);
	while (mock->tconn_threads > 0)
		mog_cond_wait_until(mock, fs_now_usec() + 10000);
	pthread_cond_broadcast(&mock->db_cond);
	pthread_mutex_unlock(&mock->db_lock);
	if (mock->worker_running)
		pthread_join(mock->worker, NULL);
	for (i = 0; i < mock->node_count; i++)
		mog_node_stop(&mock->nodes[i]);
	mog_free(mock);
}

unsigned int fs_mogmock_tracker_port(struct fs_mogmock *mock, unsigned int i)
{
	return i < mock->tracker_count ? mock->trackers[i].port : 0;
}

unsigned int fs_mogmock_node_port(struct fs_mogmock *mock, unsigned int i)
{
	return i < mock->node_count ? mock->nodes[i].port : 0;
}

char *fs_mogmock_spec(struct fs_mogmock *mock, const char *query)
{
	struct mock_buf buf = {0};
	unsigned int i;

	mock_buf_str(&buf, "mogilefs://");
	for (i = 0; i < mock->tracker_count; i++)
		mock_buf_printf(&buf, "%s127.0.0.1:%u", i > 0 ? "," : "",
				mock->trackers[i].port);
	mock_buf_printf(&buf, "/%s", mock->domains[0].name);
	if (query != NULL)
		mock_buf_printf(&buf, "?%s", query);
	return mock_buf_steal(&buf, NULL);
}

/* ------------------------------------------------------------------------ */
/* Faults and counters                                                        */

int fs_mogmock_fault_add(struct fs_mogmock *mock, const char *rule,
			 char **error_r)
{
	const char *kill = strstr(rule, "action=kill");
	char *text;
	int id;

	if (kill != NULL && kill[11] != '\0' && kill[11] != ',')
		kill = NULL;
	/* a kill is a reset that also stops the server */
	if (kill != NULL ? asprintf(&text, "%.*saction=reset%s",
				    (int)(kill - rule), rule, kill + 11) < 0
			 : (text = strdup(rule)) == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&mock->lock);
	id = mock_faults_add(&mock->faults, text, error_r);
	if (id > 0 && kill != NULL &&
	    mock->kill_rule_count <
		    sizeof(mock->kill_rules) / sizeof(mock->kill_rules[0]))
		mock->kill_rules[mock->kill_rule_count++] = id;
	pthread_mutex_unlock(&mock->lock);
	free(text);
	return id;
}

int fs_mogmock_fault_remove(struct fs_mogmock *mock, int id)
{
	int ret;

	pthread_mutex_lock(&mock->lock);
	ret = mock_faults_remove(&mock->faults, id);
	pthread_mutex_unlock(&mock->lock);
	return ret;
}

void fs_mogmock_faults_clear(struct fs_mogmock *mock)
{
	pthread_mutex_lock(&mock->lock);
	mock_faults_clear(&mock->faults);
	mock->kill_rule_count = 0;
	pthread_mutex_unlock(&mock->lock);
}

uint64_t fs_mogmock_counter(struct fs_mogmock *mock, const char *name)
{
	uint64_t value;

	pthread_mutex_lock(&mock->lock);
	value = mock_counters_get(&mock->counters, name);
	pthread_mutex_unlock(&mock->lock);
	return value;
}

void fs_mogmock_counters_reset(struct fs_mogmock *mock)
{
	pthread_mutex_lock(&mock->lock);
	mock_counters_reset(&mock->counters);
	pthread_mutex_unlock(&mock->lock);
}

char *fs_mogmock_counters_json(struct fs_mogmock *mock)
{
	struct mock_buf buf = {0};

	pthread_mutex_lock(&mock->lock);
	mock_counters_json(&mock->counters, &buf);
	pthread_mutex_unlock(&mock->lock);
	return mock_buf_steal(&buf, NULL);
}

/* ------------------------------------------------------------------------ */
/* State                                                                      */

int fs_mogmock_settle(struct fs_mogmock *mock, unsigned int timeout_ms)
{
	uint64_t end = fs_now_usec() + (uint64_t)timeout_ms * 1000;
	int ret = 0;

	pthread_mutex_lock(&mock->db_lock);
	mock->hurry = true;
	pthread_cond_broadcast(&mock->db_cond);
	while (mock->jobs != NULL || mock->jobs_running > 0) {
		if (fs_now_usec() >= end) {
			ret = -ETIMEDOUT;
			break;
		}
		mog_cond_wait_until(mock, fs_now_usec() + 10000);
	}
	mock->hurry = false;
	pthread_mutex_unlock(&mock->db_lock);
	return ret;
}

static int mog_store_count(struct fs_mogmock *mock, unsigned int *count_r,
			   uint64_t *bytes_r)
{
	struct fs_iter *iter;
	const char *key;
	int64_t size;
	int ret;

	*count_r = 0;
	*bytes_r = 0;
	pthread_mutex_lock(&mock->fs_lock);
	ret = fs_iter_init(mock->fs, "", 0, &iter);
	pthread_mutex_unlock(&mock->fs_lock);
	if (ret < 0)
		return ret;
	for (;;) {
		pthread_mutex_lock(&mock->fs_lock);
		ret = fs_iter_next(iter, &key);
		key = ret > 0 ? strdup(key) : NULL;
		pthread_mutex_unlock(&mock->fs_lock);
		if (ret <= 0)
			break;
		if (key == NULL)
			continue;
		size = mog_store_size(mock, key);
		free((char *)key);
		(*count_r)++;
		*bytes_r += size > 0 ? (uint64_t)size : 0;
	}
	pthread_mutex_lock(&mock->fs_lock);
	fs_iter_deinit(&iter);
	pthread_mutex_unlock(&mock->fs_lock);
	return ret;
}

int fs_mogmock_state(struct fs_mogmock *mock, struct fs_mogmock_state *st_r)
{
	struct mog_job *job;
	unsigned int d;

	memset(st_r, 0, sizeof(*st_r));
	pthread_mutex_lock(&mock->db_lock);
	for (d = 0; d < mock->domain_count; d++)
		st_r->keys += (unsigned int)mock->domains[d].file_count;
	st_r->tempfiles = (unsigned int)mock->temp_count;
	for (job = mock->jobs; job != NULL; job = job->next)
		st_r->queued++;
	st_r->next_fid = mock->next_fid;
	pthread_mutex_unlock(&mock->db_lock);
	return mog_store_count(mock, &st_r->stored, &st_r->stored_bytes);
}

int fs_mogmock_devcount(struct fs_mogmock *mock, const char *key)
{
	struct mog_file *file;
	int count = -ENOENT;
	unsigned int devid;

	pthread_mutex_lock(&mock->db_lock);
	file = mog_file_find(&mock->domains[0], key);
	if (file != NULL) {
		count = 0;
		for (devid = 1; devid <= mock->node_count; devid++)
			count += (file->devmask & (1u << devid)) != 0;
	}
	pthread_mutex_unlock(&mock->db_lock);
	return count;
}
