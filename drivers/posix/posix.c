/*
 * posix: keys as files beneath one root directory.
 *
 * Confinement: the root is opened once (it may itself be a symlink) and every
 * later path is resolved beneath that descriptor, with openat2(RESOLVE_BENEATH
 * | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) where the kernel has it, else
 * by walking one segment at a time with O_NOFOLLOW. No symlink is ever
 * followed, inside or outside the root: a key whose path meets one fails with
 * -EACCES.
 *
 * Writes go to a temporary file ".libfs-tmp.<random>" in the key's directory
 * and are published at finish: CREATE with linkat() (atomic, -EEXIST if the
 * key exists), REPLACE with renameat() (readers see the old or the new file;
 * an open reader keeps the old inode). Metadata lives in "user.libfs.<name>"
 * extended attributes set on the temporary file, so it is published together
 * with the data.
 *
 * APPEND is NOT atomic against crashes: the data is staged in a temporary file
 * and then appended to the object (under flock(), so libfs appenders do not
 * interleave); if that fails the object is truncated back to its old size,
 * but a crash in the middle can leave a partial tail. Appending to a missing
 * key publishes the staged file with linkat(), which is atomic.
 *
 * Etags are the unquoted hex of "inode-size-mtime_ns".
 *
 * Asynchronous use: files opened with FS_OPEN_FLAG_ASYNC and ASYNC iterators
 * hand their syscalls to a small pool of worker threads per fs, started with
 * the first such request: POSIX_THREADS_DEFAULT (4) threads, or the number
 * in the environment variable LIBFS_POSIX_THREADS (0 to 64; 0 runs every
 * operation at once on the caller's thread and turns FS_CAP_ASYNC off).
 * Blocking handles keep the direct path. Each handle has one request; a
 * worker runs it on the driver's own state of that handle (struct
 * posix_obj, the iterator's walk) and never on the core's structures: its
 * error is a message kept in the request, set on the handle by the method
 * the core calls again on the caller's thread. Finished requests go on a
 * completion list signalled through an eventfd, which wait_async polls with
 * the timeout before it reports them with fs_file_async_done() or
 * fs_iter_async_done(), on the caller's thread. Rather than sleep without
 * a time limit while requests wait in the queue for a worker, wait_async
 * runs one itself (a wait with a timeout only sleeps, so it keeps it). Freeing
 * a handle takes its request back: unqueued if no worker took it yet, else
 * waited for (a local syscall); no completion is reported after. A finish that
 * a worker already ran has published the object, as a PUT that reached the
 * server has. fs_deinit() joins the threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "posix-private.h"

#define POSIX_CAPS                                                             \
	(FS_CAP_RANGE | FS_CAP_RENAME_ATOMIC | FS_CAP_COPY_SERVER |            \
	 FS_CAP_APPEND | FS_CAP_CREATE_EXCL | FS_CAP_ITER |                    \
	 FS_CAP_STAT_MTIME | FS_CAP_STAT_ETAG | FS_CAP_FSYNC)

/* ------------------------------------------------------------------------ */
/* Worker threads                                                             */

/* Where a started job is (under the pool's lock). */
enum posix_job_state {
	POSIX_JOB_IDLE,
	POSIX_JOB_QUEUED,  /* in the todo list */
	POSIX_JOB_RUNNING, /* a worker runs it */
	POSIX_JOB_DONE,	   /* in the done list */
	POSIX_JOB_TAKEN,   /* reported by wait_async, result not collected */
};

static void posix_list_append(struct posix_job_list *list,
			      struct posix_job *job)
{
	job->next = NULL;
	job->prev = list->tail;
	if (list->tail != NULL)
		list->tail->next = job;
	else
		list->head = job;
	list->tail = job;
	list->count++;
}

static void posix_list_remove(struct posix_job_list *list,
			      struct posix_job *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		list->head = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	else
		list->tail = job->prev;
	job->prev = job->next = NULL;
	list->count--;
}

/* Puts a finished job on the done list; the eventfd says the list is no
   longer empty. Under the lock. */
static void posix_job_done_locked(struct posix_pool *pool,
				  struct posix_job *job)
{
	uint64_t one = 1;

	job->state = POSIX_JOB_DONE;
	if (pool->done_list.count == 0 &&
	    write(pool->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow from this: nothing to do */
	}
	posix_list_append(&pool->done_list, job);
	if (pool->cancel_waiters > 0)
		pthread_cond_broadcast(&pool->done);
}

static void *posix_worker(void *arg)
{
	struct posix_pool *pool = arg;
	struct posix_job *job;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->todo.head == NULL && !pool->stop) {
			pool->idle++;
			pthread_cond_wait(&pool->work, &pool->lock);
			pool->idle--;
		}
		if (pool->stop)
			break;
		job = pool->todo.head;
		posix_list_remove(&pool->todo, job);
		job->state = POSIX_JOB_RUNNING;
		pthread_mutex_unlock(&pool->lock);
		job->fn(job);
		pthread_mutex_lock(&pool->lock);
		posix_job_done_locked(pool, job);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static struct posix_pool *posix_pool_get(struct posix_fs *pfs)
{
	struct posix_pool *pool = pfs->pool;

	if (pool != NULL)
		return pool;
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return NULL;
	pool->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pool->efd < 0) {
		free(pool);
		return NULL;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->done, NULL);
	pfs->pool = pool;
	return pool;
}

/* Unit tests set this to see operations run on the caller's thread when
   no worker thread can be started. */
FS_STATIC bool posix_spawn_fails;

/* One more worker, with every signal blocked: signals stay with the
   application's threads. Under the lock. */
static void posix_pool_spawn(struct posix_pool *pool)
{
	sigset_t all, old;

	if (posix_spawn_fails)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&pool->threads[pool->nthreads], NULL, posix_worker,
			   pool) == 0)
		pool->nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void posix_pool_free(struct posix_fs *pfs)
{
	struct posix_pool *pool = pfs->pool;
	unsigned int i;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	close(pool->efd);
	pthread_cond_destroy(&pool->done);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	pfs->pool = NULL;
}

int posix_job_start(struct posix_fs *pfs, struct posix_job *job,
		    enum posix_job_kind kind, posix_job_fn *fn)
{
	struct posix_pool *pool = NULL;

	job->kind = kind;
	job->fn = fn;
	job->ret = 0;
	if (pfs->max_threads > 0)
		pool = posix_pool_get(pfs);
	if (pool != NULL) {
		pthread_mutex_lock(&pool->lock);
		/* a thread per queued job, up to the limit */
		if (pool->todo.count >= pool->idle &&
		    pool->nthreads < pfs->max_threads)
			posix_pool_spawn(pool);
		if (pool->nthreads > 0) {
			job->state = POSIX_JOB_QUEUED;
			posix_list_append(&pool->todo, job);
			pthread_cond_signal(&pool->work);
			pthread_mutex_unlock(&pool->lock);
			job->busy = true;
			pfs->jobs_pending++;
			return -EAGAIN;
		}
		pthread_mutex_unlock(&pool->lock);
	}
	/* no thread at all: the operation runs now, still correct */
	fn(job);
	return 0;
}

bool posix_job_claim(struct posix_fs *pfs, struct posix_job *job)
{
	struct posix_pool *pool = pfs->pool;
	int state;

	pthread_mutex_lock(&pool->lock);
	state = job->state;
	if (state == POSIX_JOB_DONE)
		posix_list_remove(&pool->done_list, job);
	if (state == POSIX_JOB_DONE || state == POSIX_JOB_TAKEN)
		job->state = POSIX_JOB_IDLE;
	pthread_mutex_unlock(&pool->lock);
	if (state == POSIX_JOB_QUEUED || state == POSIX_JOB_RUNNING)
		return false;
	if (state == POSIX_JOB_DONE)
		pfs->jobs_pending--;
	job->busy = false;
	return true;
}

/* Waits, under the lock, until no worker runs job. */
static void posix_job_wait_locked(struct posix_pool *pool,
				  struct posix_job *job)
{
	pool->cancel_waiters++;
	while (job->state == POSIX_JOB_RUNNING)
		pthread_cond_wait(&pool->done, &pool->lock);
	pool->cancel_waiters--;
}

void posix_job_cancel(struct posix_fs *pfs, struct posix_job *job)
{
	struct posix_pool *pool = pfs->pool;
	int state;

	if (!job->busy)
		return;
	pthread_mutex_lock(&pool->lock);
	posix_job_wait_locked(pool, job);
	state = job->state;
	if (state == POSIX_JOB_QUEUED)
		posix_list_remove(&pool->todo, job);
	else if (state == POSIX_JOB_DONE)
		posix_list_remove(&pool->done_list, job);
	job->state = POSIX_JOB_IDLE;
	pthread_mutex_unlock(&pool->lock);
	if (state == POSIX_JOB_QUEUED || state == POSIX_JOB_DONE)
		pfs->jobs_pending--;
	job->busy = false;
}

void posix_job_settle(struct posix_fs *pfs, struct posix_job *job)
{
	struct posix_pool *pool = pfs->pool;

	if (!job->busy)
		return;
	pthread_mutex_lock(&pool->lock);
	if (job->state == POSIX_JOB_QUEUED) {
		posix_list_remove(&pool->todo, job);
		job->state = POSIX_JOB_RUNNING;
		pthread_mutex_unlock(&pool->lock);
		job->fn(job);
		pthread_mutex_lock(&pool->lock);
		posix_job_done_locked(pool, job);
	}
	posix_job_wait_locked(pool, job);
	pthread_mutex_unlock(&pool->lock);
}

void posix_job_kick(struct posix_fs *pfs, struct posix_job *job)
{
	struct posix_pool *pool = pfs->pool;

	job->kind = POSIX_JOB_NONE;
	job->fn = NULL;
	job->ret = 0;
	pthread_mutex_lock(&pool->lock);
	posix_job_done_locked(pool, job);
	pthread_mutex_unlock(&pool->lock);
	job->busy = true;
	pfs->jobs_pending++;
}

/* Reports the jobs done so far, one at a time: a callback may free another
   handle, whose job then leaves the list. Returns how many. */
static unsigned int posix_reap(struct posix_fs *pfs)
{
	struct posix_pool *pool = pfs->pool;
	struct posix_job *job;
	unsigned int n, limit;
	uint64_t count;

	/* first the eventfd, then the list: nothing done after is missed */
	if (read(pool->efd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing signalled since the last read */
	}
	pthread_mutex_lock(&pool->lock);
	limit = pool->done_list.count;
	pthread_mutex_unlock(&pool->lock);
	for (n = 0; n < limit; n++) {
		pthread_mutex_lock(&pool->lock);
		job = pool->done_list.head;
		if (job != NULL) {
			posix_list_remove(&pool->done_list, job);
			job->state = POSIX_JOB_TAKEN;
		}
		pthread_mutex_unlock(&pool->lock);
		if (job == NULL)
			break;
		pfs->jobs_pending--;
		if (job->file != NULL)
			fs_file_async_done(job->file);
		else
			fs_iter_async_done(job->iter);
	}
	return n;
}

/* Runs a job no worker has taken yet on this thread, instead of sleeping
   while it waits in the queue. Returns true if there was one. */
static bool posix_help(struct posix_pool *pool)
{
	struct posix_job *job;

	pthread_mutex_lock(&pool->lock);
	job = pool->todo.head;
	if (job != NULL) {
		posix_list_remove(&pool->todo, job);
		job->state = POSIX_JOB_RUNNING;
		pthread_mutex_unlock(&pool->lock);
		job->fn(job);
		pthread_mutex_lock(&pool->lock);
		posix_job_done_locked(pool, job);
	}
	pthread_mutex_unlock(&pool->lock);
	return job != NULL;
}

static int posix_ms_left(uint64_t deadline)
{
	uint64_t now = fs_now_usec();

	return now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
}

static int posix_wait_async(struct fs *_fs, int timeout_ms)
{
	struct posix_fs *pfs = posix_fs_of(_fs);
	uint64_t deadline = 0;
	struct pollfd pfd;
	int left = timeout_ms;

	if (timeout_ms > 0)
		deadline = fs_now_usec() + (uint64_t)timeout_ms * 1000;
	while (pfs->jobs_pending > 0) {
		if (posix_reap(pfs) > 0 || timeout_ms == 0)
			break;
		if (timeout_ms > 0 && (left = posix_ms_left(deadline)) == 0)
			break;
		/* without a time limit, work instead of sleeping */
		if (timeout_ms < 0 && posix_help(pfs->pool))
			continue;
		pfd.fd = pfs->pool->efd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return fs_set_error(_fs, -EIO,
					    "posix: waiting for the worker "
					    "threads: %s",
					    posix_strerror(errno));
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                      */

static int posix_file_init(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);
	struct posix_obj *o = &file->o;

	o->key = strdup(_file->key);
	if (o->key == NULL)
		return fs_file_set_error(_file, -ENOMEM,
					 "posix: open '%s': out of memory",
					 _file->key);
	o->pfs = posix_fs_of(_file->fs);
	posix_key_split(o->key, &o->base, &o->dir_len);
	o->mode = _file->mode;
	o->flags = _file->flags;
	o->fd = o->dir_fd = o->tmp_fd = -1;
	o->range_length = UINT64_MAX;
	file->async = (_file->flags & FS_OPEN_FLAG_ASYNC) != 0 &&
		      o->pfs->max_threads > 0;
	file->job.file = _file;
	return 0;
}

static void posix_file_deinit(struct fs_file *_file)
{
	struct posix_file *file = posix_file_of(_file);

	posix_job_cancel(file->o.pfs, &file->job);
	posix_write_abort(_file);
	posix_read_free(file);
	fs_metadata_list_clear(&file->o.md_in);
	free(file->o.key);
	file->o.key = NULL;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                      */

/* mkdir -p path, mode 0777 & umask. */
static int posix_mkdir_p(const char *path)
{
	char *copy = strdup(path), *p;
	int ret = 0;

	if (copy == NULL)
		return -ENOMEM;
	for (p = copy + 1; *p != '\0' && ret == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0777) < 0 && errno != EEXIST)
			ret = -errno;
		*p = '/';
	}
	if (ret == 0 && mkdir(copy, 0777) < 0 && errno != EEXIST)
		ret = -errno;
	free(copy);
	return ret;
}

/* User xattrs work if a file in the root takes one. A read-only root
   answers through a get on the root itself. */
static void posix_probe_xattr(struct posix_fs *pfs)
{
	char name[POSIX_TEMP_NAME_MAX], value;
	int fd, ret;

	posix_temp_name(name);
	fd = openat(pfs->root_fd, name,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fd = openat(pfs->root_fd, ".",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = fd < 0 ? -1
			     : (int)fgetxattr(fd, POSIX_XATTR_PREFIX "probe",
					      &value, 1);
		pfs->xattr = fd >= 0 && (ret >= 0 || errno == ENODATA);
	} else {
		ret = fsetxattr(fd, POSIX_XATTR_PREFIX "probe", "1", 1, 0);
		pfs->xattr = ret == 0;
		(void)unlinkat(pfs->root_fd, name, 0);
	}
	if (fd >= 0)
		close(fd);
}

static void posix_deinit(struct fs *_fs)
{
	struct posix_fs *pfs = posix_fs_of(_fs);

	posix_pool_free(pfs);
	if (pfs->root_fd >= 0)
		close(pfs->root_fd);
	pfs->root_fd = -1;
	free(pfs->root);
	pfs->root = NULL;
}

static int posix_root_errno(int err)
{
	switch (err) {
	case -EACCES:
	case -EPERM:
	case -EROFS:
		return -EACCES;
	case -ENOTDIR:
	case -EEXIST:
		return -EINVAL; /* the spec names something else */
	case -ENOSPC:
	case -EDQUOT:
		return -ENOSPC;
	case -ENOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* The worker threads for ASYNC handles: LIBFS_POSIX_THREADS or the
   default. */
static int posix_threads_setting(struct posix_fs *pfs)
{
	const char *env = getenv("LIBFS_POSIX_THREADS");
	uint64_t n;

	pfs->max_threads = POSIX_THREADS_DEFAULT;
	if (env == NULL || *env == '\0')
		return 0;
	if (fs_parse_uint(env, &n) < 0 || n > POSIX_THREADS_MAX)
		return fs_set_error(&pfs->fs, -EINVAL,
				    "posix: LIBFS_POSIX_THREADS='%.32s': "
				    "expected 0 to %d worker threads",
				    env, POSIX_THREADS_MAX);
	pfs->max_threads = (unsigned int)n;
	return 0;
}

/* Makes and opens the root. A failed init cleans up after itself (the core
   does not call deinit then). */
static int posix_init(struct fs *_fs, const char *scheme, const char *args)
{
	struct posix_fs *pfs = posix_fs_of(_fs);
	int ret;

	pfs->root_fd = -1;
	if (args == NULL || *args == '\0')
		return fs_set_error(_fs, -EINVAL,
				    "posix: no root directory given");
	ret = posix_threads_setting(pfs);
	if (ret < 0)
		return ret;
	ret = posix_mkdir_p(args);
	if (ret == 0) {
		pfs->root_fd = open(args, O_PATH | O_DIRECTORY | O_CLOEXEC);
		ret = pfs->root_fd < 0 ? -errno : 0;
	}
	if (ret == 0) {
		pfs->root = strdup(args);
		ret = pfs->root == NULL ? -ENOMEM : 0;
	}
	if (ret < 0) {
		posix_deinit(_fs);
		return fs_set_error(_fs, posix_root_errno(ret),
				    "posix: root '%s': %s", args,
				    posix_strerror(ret));
	}
	posix_probe_openat2(pfs);
	posix_probe_xattr(pfs);
	return 0;
}

static unsigned int posix_get_caps(struct fs *_fs)
{
	struct posix_fs *pfs = posix_fs_of(_fs);

	return POSIX_CAPS | (pfs->xattr ? FS_CAP_METADATA : 0) |
	       (pfs->max_threads > 0 ? FS_CAP_ASYNC : 0);
}

static const char *const posix_aliases[] = {"file", NULL};

const struct fs_driver fs_driver_posix = {
	.version = FS_DRIVER_VERSION,
	.name = "posix",
	.aliases = posix_aliases,
	.fs_size = sizeof(struct posix_fs),
	.file_size = sizeof(struct posix_file),
	.iter_size = sizeof(struct posix_iter),
	.v =
		{
			.init = posix_init,
			.deinit = posix_deinit,
			.get_caps = posix_get_caps,
			.file_init = posix_file_init,
			.file_deinit = posix_file_deinit,
			.read = posix_read,
			.write = posix_write,
			.write_finish = posix_write_finish,
			.write_abort = posix_write_abort,
			.stat = posix_stat,
			.exists = posix_exists,
			.get_metadata = posix_get_metadata,
			.delete_file = posix_delete,
			.copy = posix_copy,
			.rename = posix_rename,
			.iter_init = posix_iter_init,
			.iter_next = posix_iter_next,
			.iter_deinit = posix_iter_deinit,
			.wait_async = posix_wait_async,
		},
};
