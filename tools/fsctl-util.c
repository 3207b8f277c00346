/*
 * fsctl: helpers the commands share: opening a storage, error lines,
 * formatting, file descriptor I/O and the loop driving asynchronous slots.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fsctl.h"

/* With work pending on both storages, each gets the event loop for this long
   in turn, so neither starves. With work on one only, the loop blocks on it
   until one of its operations progressed (fs_wait_async_any()). */
#define FSCTL_WAIT_SHARE_MS 5

/* ------------------------------------------------------------------------ */
/* Storages and errors                                                        */

int fsctl_fs_open(const struct fsctl_args *args, const char *spec,
		  struct fs **fs_r)
{
	return fsctl_fs_open_set(args, spec, NULL, fs_r);
}

int fsctl_fs_open_set(const struct fsctl_args *args, const char *spec,
		      const struct fs_settings *set, struct fs **fs_r)
{
	const char *error = NULL;
	char shown[512];
	int ret;

	ret = fs_init(spec, set, fs_r, &error);
	if (ret == 0)
		return FSCTL_OK;
	fsctl_spec_redact(spec, shown, sizeof(shown));
	fsctl_fail(args->cmd, shown, ret, error);
	return ret == -EINVAL || ret == -ENOTSUP ? FSCTL_BAD_SPEC
						 : FSCTL_FAILED;
}

int fsctl_file_open(const struct fsctl_args *args, struct fs *fs,
		    const char *key, unsigned int mode_flags,
		    struct fs_file **file_r)
{
	int ret;

	ret = fs_file_init(fs, key, mode_flags, file_r);
	if (ret == 0)
		return FSCTL_OK;
	fsctl_fail(args->cmd, key, ret, fs_last_error(fs));
	return ret == -EINVAL ? FSCTL_BAD_SPEC : FSCTL_FAILED;
}

/* Writes str with control bytes escaped: keys the library rejected may hold
   anything. */
static void fsctl_put_escaped(FILE *out, const char *str)
{
	const unsigned char *p;

	for (p = (const unsigned char *)str; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

int fsctl_fail(const char *cmd, const char *what, int err, const char *msg)
{
	if (msg == NULL || msg[0] == '\0')
		msg = strerror(err < 0 ? -err : err);
	fprintf(stderr, "fsctl: %s ", cmd);
	fsctl_put_escaped(stderr, what);
	fprintf(stderr, ": %s: %s\n", fs_errno_name(err), msg);
	return FSCTL_FAILED;
}

int fsctl_file_fail(const char *cmd, struct fs_file *file, int err)
{
	return fsctl_fail(cmd, fs_file_key(file), err,
			  fs_file_last_error(file));
}

/* ------------------------------------------------------------------------ */
/* Keeping secrets out of what is printed                                     */

struct fsctl_strbuf {
	char *buf;
	size_t size, len;
};

static void fsctl_strbuf_put(struct fsctl_strbuf *out, const char *str,
			     size_t len)
{
	size_t room = out->size - 1 - out->len;

	if (len > room)
		len = room;
	memcpy(out->buf + out->len, str, len);
	out->len += len;
	out->buf[out->len] = '\0';
}

static bool fsctl_secret_name(const char *name, size_t len)
{
	static const char *const words[] = {"secret", "pass", "token", "key",
					    "auth",   "sig",  "cred"};
	char copy[64];
	size_t i;

	if (len >= sizeof(copy))
		return true;
	memcpy(copy, name, len);
	copy[len] = '\0';
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasestr(copy, words[i]) != NULL)
			return true;
	}
	return false;
}

/* Handles "USER:PASSWORD@" after "://"; returns the bytes consumed. */
static size_t fsctl_redact_userinfo(struct fsctl_strbuf *out, const char *p)
{
	size_t auth_len = strcspn(p, "/?#");
	const char *at = NULL, *colon, *q;

	for (q = p; q < p + auth_len; q++) {
		if (*q == '@')
			at = q;
	}
	if (at == NULL)
		return 0;
	colon = memchr(p, ':', (size_t)(at - p));
	if (colon == NULL)
		return 0;
	fsctl_strbuf_put(out, p, (size_t)(colon + 1 - p));
	fsctl_strbuf_put(out, "***", 3);
	return (size_t)(at - p);
}

/* Handles "name=value" after '?', '&' or ','; returns the bytes consumed. */
static size_t fsctl_redact_param(struct fsctl_strbuf *out, const char *p)
{
	size_t name_len = strcspn(p, "=&,:"), value_len;
	const char *layer;

	if (p[name_len] != '=' || !fsctl_secret_name(p, name_len))
		return 0;
	value_len = strcspn(p + name_len + 1, "&,");
	layer = strstr(p + name_len + 1, "::");
	if (layer != NULL && (size_t)(layer - (p + name_len + 1)) < value_len)
		value_len = (size_t)(layer - (p + name_len + 1));
	fsctl_strbuf_put(out, p, name_len + 1);
	fsctl_strbuf_put(out, "***", 3);
	return name_len + 1 + value_len;
}

void fsctl_spec_redact(const char *spec, char *buf, size_t size)
{
	struct fsctl_strbuf out = {.buf = buf, .size = size, .len = 0};
	const char *p = spec;

	buf[0] = '\0';
	while (*p != '\0') {
		if (strncmp(p, "://", 3) == 0) {
			fsctl_strbuf_put(&out, p, 3);
			p += 3;
			p += fsctl_redact_userinfo(&out, p);
		} else if (*p == '?' || *p == '&' || *p == ',' || *p == ':') {
			fsctl_strbuf_put(&out, p, 1);
			p++;
			p += fsctl_redact_param(&out, p);
		} else {
			fsctl_strbuf_put(&out, p, 1);
			p++;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Time, statistics and formatting                                            */

uint64_t fsctl_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void fsctl_stats_add(struct fs_op_stats *st, uint64_t usec, uint64_t bytes,
		     bool failed)
{
	unsigned int i = 0;

	/* Bucket i holds [2^(i-1), 2^i) microseconds, as in the library. */
	while (i < FS_LATENCY_BUCKETS - 1 && (usec >> i) != 0)
		i++;
	st->latency[i]++;
	st->count++;
	st->usecs += usec;
	st->bytes += bytes;
	if (failed)
		st->errors++;
}

const char *fsctl_fmt_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double value = (double)bytes;
	unsigned int i = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	value /= 1024;
	while (value >= 1024 && i < 3) {
		value /= 1024;
		i++;
	}
	snprintf(buf, size, "%.1f %s", value, units[i]);
	return buf;
}

const char *fsctl_fmt_usec(uint64_t usec, char *buf, size_t size)
{
	if (usec < 1000)
		snprintf(buf, size, "%llu µs", (unsigned long long)usec);
	else if (usec < 1000000)
		snprintf(buf, size, "%.1f ms", (double)usec / 1e3);
	else
		snprintf(buf, size, "%.2f s", (double)usec / 1e6);
	return buf;
}

void fsctl_put_padded(FILE *out, const char *str, int width, bool left)
{
	int columns = 0;
	const char *p;

	/* UTF-8 continuation bytes take no column of their own. */
	for (p = str; *p != '\0'; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80)
			columns++;
	}
	if (left)
		fputs(str, out);
	for (; columns < width; columns++)
		fputc(' ', out);
	if (!left)
		fputs(str, out);
}

/* ------------------------------------------------------------------------ */
/* File descriptors                                                           */

int fsctl_write_fd(int fd, const void *data, size_t size)
{
	const char *p = data;
	ssize_t ret;

	while (size > 0) {
		ret = write(fd, p, size);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += ret;
		size -= (size_t)ret;
	}
	return 0;
}

ssize_t fsctl_read_fd(int fd, void *buf, size_t size)
{
	ssize_t ret;

	do {
		ret = read(fd, buf, size);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

/* ------------------------------------------------------------------------ */
/* Asynchronous slots                                                         */

void fsctl_slot_callback(void *context)
{
	struct fsctl_slot *slot = context;

	slot->ready = true;
}

/* Gives the event loop to the storage that has work. Returns 0, 1 if neither
   has pending work, or -errno (and the failing fs in *fs_r). */
static int fsctl_pool_wait(const struct fsctl_pool *pool, unsigned int *turn,
			   struct fs **fs_r)
{
	struct fs *a = pool->fs_a;
	struct fs *b = pool->fs_b == pool->fs_a ? NULL : pool->fs_b;
	unsigned int pa = fs_async_pending(a);
	unsigned int pb = b == NULL ? 0 : fs_async_pending(b);
	int timeout = -1;
	int ret;

	if (pa > 0 && pb > 0) {
		*fs_r = (*turn)++ % 2 == 0 ? a : b;
		timeout = FSCTL_WAIT_SHARE_MS;
	} else if (pa > 0) {
		*fs_r = a;
	} else if (pb > 0) {
		*fs_r = b;
	} else {
		return 1;
	}
	ret = fs_wait_async_any(*fs_r, timeout);
	return ret < 0 ? ret : 0;
}

/* Runs every slot that can make progress. Returns true if any still works. */
static bool fsctl_pool_round(const struct fsctl_pool *pool)
{
	struct fsctl_slot *slot;
	bool busy = false;
	unsigned int i;

	for (i = 0; i < pool->count; i++) {
		slot = pool->slots[i];
		if (!slot->waiting || slot->ready) {
			slot->ready = false;
			slot->waiting = pool->run(slot, pool->context);
		}
		busy = busy || slot->waiting;
	}
	return busy;
}

int fsctl_pool_run(const struct fsctl_pool *pool, const char *cmd)
{
	unsigned int turn = 0, i;
	struct fs *fs = NULL;
	int ret;

	while (fsctl_pool_round(pool)) {
		if (pool->tick != NULL)
			pool->tick(pool->context);
		ret = fsctl_pool_wait(pool, &turn, &fs);
		if (ret < 0) {
			fsctl_fail(cmd, "event loop", ret, fs_last_error(fs));
			return ret;
		}
		if (ret == 0)
			continue;
		/* A slot waits but no storage has anything pending: call its
		   operation again rather than wait forever. */
		for (i = 0; i < pool->count; i++)
			pool->slots[i]->ready = pool->slots[i]->waiting;
	}
	return 0;
}

void fsctl_layers_print(struct fs *fs, FILE *out)
{
	struct fs_stats st;
	const char *name;
	unsigned int depth;
	char held[32];

	for (depth = 0; (name = fs_driver_name(fs, depth)) != NULL; depth++) {
		if (fs_stats_get(fs, depth, &st) < 0)
			break;
		if (st.cache_hits + st.cache_misses + st.cache_bytes > 0)
			fprintf(out,
				"%s: %llu hits, %llu misses, %llu "
				"revalidations, %llu evictions, %s held\n",
				name, (unsigned long long)st.cache_hits,
				(unsigned long long)st.cache_misses,
				(unsigned long long)st.cache_revalidations,
				(unsigned long long)st.cache_evictions,
				fsctl_fmt_bytes(st.cache_bytes, held,
						sizeof(held)));
		if (st.faults_injected > 0)
			fprintf(out, "%s: %llu failures injected\n", name,
				(unsigned long long)st.faults_injected);
	}
}
