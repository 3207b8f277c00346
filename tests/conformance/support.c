/*
 * The conformance suite's fixtures and helpers: one fresh fs and one unique
 * key prefix per test, assertion helpers that print errno names and the
 * library's messages, deterministic data streams and whole-object helpers.
 */
#include "conformance.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static unsigned int conf_counter;

/* ------------------------------------------------------------------------ */
/* Failures                                                                  */

void conf_fail_at(const char *src, int line, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("%s\n", msg);
	_fail(src, line);
}

static const char *conf_ret_name(long long ret)
{
	return ret < 0 ? fs_errno_name((int)ret) : "";
}

void conf_check_ret(const char *src, int line, const char *expr, long long got,
		    long long expected, const char *key, const char *error)
{
	if (got == expected)
		return;
	print_error("%s\n  key:      %s\n  expected: %lld %s\n"
		    "  got:      %lld %s\n  error:    %s\n",
		    expr, key != NULL ? conf_escape(key) : "-", expected,
		    conf_ret_name(expected), got, conf_ret_name(got),
		    error != NULL ? error : "-");
	_fail(src, line);
}

void conf_require(struct conf *c, unsigned int caps, const char *what)
{
	if ((c->caps & caps) == caps)
		return;
	print_message("[  SKIP    ] the stack lacks %s (caps 0x%x)\n", what,
		      c->caps);
	skip();
}

const char *conf_escape(const char *str)
{
	static char buf[FS_KEY_MAX * 4 + 16];
	size_t pos = 0;

	for (; *str != '\0' && pos < sizeof(buf) - 8; str++) {
		unsigned char ch = (unsigned char)*str;

		if (ch < 0x20 || ch >= 0x7f)
			pos += (size_t)sprintf(buf + pos, "\\x%02x", ch);
		else
			buf[pos++] = (char)ch;
	}
	buf[pos] = '\0';
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */

const struct fs_settings *conf_settings(void)
{
	static struct fs_settings set;
	const char *ca = getenv("LIBFS_CONF_CA_FILE");

	if (ca == NULL || ca[0] == '\0')
		return NULL;
	fs_settings_init(&set);
	set.ca_file = ca;
	return &set;
}

int conf_setup(void **state)
{
	struct conf *c = calloc(1, sizeof(*c));
	const char *error = NULL;
	int ret;

	if (c == NULL)
		return -1;
	c->wbuf = malloc(CONF_BUF_SIZE);
	c->rbuf = malloc(CONF_BUF_SIZE);
	ret = fs_init(conf_spec, conf_settings(), &c->fs, &error);
	if (ret < 0 || c->wbuf == NULL || c->rbuf == NULL) {
		print_error("fs_init(\"%s\") = %d %s: %s\n", conf_spec, ret,
			    fs_errno_name(ret), error != NULL ? error : "");
		free(c->wbuf);
		free(c->rbuf);
		free(c);
		return -1;
	}
	c->caps = fs_get_caps(c->fs);
	snprintf(c->prefix, sizeof(c->prefix), "conf-%ld-%u/", (long)getpid(),
		 ++conf_counter);
	*state = c;
	return 0;
}

static void conf_close_all(struct conf *c)
{
	size_t i;

	for (i = 0; i < CONF_MAX_OPEN; i++) {
		fs_file_deinit(&c->files[i]);
		(void)fs_iter_deinit(&c->iters[i]);
	}
}

/* Deletes keys without asserting; returns how many deletes failed. */
static unsigned int conf_delete_quietly(struct conf *c,
					const struct conf_strv *keys)
{
	struct fs_file *file;
	unsigned int failed = 0;
	size_t i;
	int ret;

	for (i = 0; i < keys->count; i++) {
		file = NULL;
		ret = fs_file_init(c->fs, keys->v[i], FS_OPEN_READ, &file);
		if (ret == 0)
			ret = fs_file_delete(file);
		if (ret < 0 && ret != -ENOENT) {
			print_error("cleanup: delete %s: %s: %s\n",
				    conf_escape(keys->v[i]), fs_errno_name(ret),
				    file != NULL ? fs_file_last_error(file)
						 : fs_last_error(c->fs));
			failed++;
		}
		fs_file_deinit(&file);
	}
	return failed;
}

static int conf_list_quietly(struct conf *c, const char *prefix,
			     unsigned int flags, struct conf_strv *out)
{
	struct fs_iter *iter = NULL;
	const char *key;
	int ret, ret2;

	ret = fs_iter_init(c->fs, prefix, flags, &iter);
	if (ret < 0)
		return ret;
	while ((ret = fs_iter_next(iter, &key)) > 0)
		conf_strv_add(out, key);
	if (ret < 0)
		print_error("listing %s: %s\n", prefix,
			    fs_iter_last_error(iter));
	ret2 = fs_iter_deinit(&iter);
	return ret < 0 ? ret : ret2;
}

/* Removes everything under the test's prefix and checks that nothing
   remains visible: flat and one-level listings must both be empty. */
static int conf_cleanup(struct conf *c)
{
	struct conf_strv found = {0};
	unsigned int failed;
	int ret = 0;

	if ((c->caps & FS_CAP_ITER) == 0)
		return conf_delete_quietly(c, &c->written) == 0 ? 0 : -1;
	if (conf_list_quietly(c, c->prefix, 0, &found) < 0)
		ret = -1;
	failed = conf_delete_quietly(c, &found);
	conf_strv_clear(&found);
	if (conf_list_quietly(c, c->prefix, 0, &found) < 0 ||
	    conf_list_quietly(c, c->prefix, FS_ITER_FLAG_ONE_LEVEL, &found) < 0)
		ret = -1;
	if (failed > 0 || found.count > 0) {
		print_error("cleanup: %u deletes failed, %zu entries still "
			    "listed under %s, first: %s\n",
			    failed, found.count, c->prefix,
			    found.count > 0 ? conf_escape(found.v[0]) : "-");
		ret = -1;
	}
	conf_strv_clear(&found);
	return ret;
}

int conf_teardown(void **state)
{
	struct conf *c = *state;
	size_t i;
	int ret;

	if (c == NULL)
		return 0;
	conf_close_all(c);
	ret = conf_cleanup(c);
	fs_deinit(&c->fs);
	conf_strv_clear(&c->written);
	for (i = 0; i < c->allocs_count; i++)
		free(c->allocs[i]);
	free(c->allocs);
	free(c->wbuf);
	free(c->rbuf);
	free(c);
	*state = NULL;
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Keys, memory and handles                                                  */

static bool conf_strv_contains(const struct conf_strv *sv, const char *str)
{
	size_t i;

	for (i = 0; i < sv->count; i++) {
		if (strcmp(sv->v[i], str) == 0)
			return true;
	}
	return false;
}

const char *conf_key(struct conf *c, const char *fmt, ...)
{
	char *buf = c->keys[c->next_key++ % CONF_KEY_BUFS];
	size_t len = strlen(c->prefix);
	va_list ap;

	memcpy(buf, c->prefix, len);
	va_start(ap, fmt);
	vsnprintf(buf + len, sizeof(c->keys[0]) - len, fmt, ap);
	va_end(ap);
	/* Without listing, teardown can only delete what it was told of. */
	if ((c->caps & FS_CAP_ITER) == 0 && fs_key_validate(buf, NULL) == 0 &&
	    !conf_strv_contains(&c->written, buf))
		conf_strv_add(&c->written, buf);
	return buf;
}

void *conf_alloc(struct conf *c, size_t size)
{
	void *mem;

	if (c->allocs_count == c->allocs_alloc) {
		c->allocs_alloc = c->allocs_alloc * 2 + 16;
		c->allocs = realloc(c->allocs,
				    c->allocs_alloc * sizeof(c->allocs[0]));
		assert_non_null(c->allocs);
	}
	mem = calloc(1, size);
	assert_non_null(mem);
	c->allocs[c->allocs_count++] = mem;
	return mem;
}

char *conf_strdup(struct conf *c, const char *str)
{
	size_t len = strlen(str);

	return memcpy(conf_alloc(c, len + 1), str, len);
}

int conf_try_open(struct conf *c, const char *key, unsigned int mode_flags,
		  struct fs_file **file_r)
{
	size_t i;
	int ret;

	*file_r = NULL;
	ret = fs_file_init(c->fs, key, mode_flags, file_r);
	if (ret < 0) {
		*file_r = NULL;
		return ret;
	}
	if (*file_r == NULL)
		CONF_FAIL("fs_file_init(%s) returned 0 without a file",
			  conf_escape(key));
	for (i = 0; i < CONF_MAX_OPEN; i++) {
		if (c->files[i] == NULL) {
			c->files[i] = *file_r;
			return 0;
		}
	}
	fs_file_deinit(file_r);
	CONF_FAIL("more than %d files open in one test", CONF_MAX_OPEN);
	return -1;
}

struct fs_file *conf_open(struct conf *c, const char *key,
			  unsigned int mode_flags)
{
	struct fs_file *file = NULL;

	CHECK_FS(conf_try_open(c, key, mode_flags, &file), 0, c, key);
	return file;
}

void conf_close(struct conf *c, struct fs_file **file)
{
	size_t i;

	if (*file == NULL)
		return;
	for (i = 0; i < CONF_MAX_OPEN; i++) {
		if (c->files[i] == *file)
			c->files[i] = NULL;
	}
	fs_file_deinit(file);
	assert_null(*file);
}

struct fs_iter *conf_iter_open(struct conf *c, const char *prefix,
			       unsigned int flags)
{
	struct fs_iter *iter = NULL;
	size_t i;

	CHECK_FS(fs_iter_init(c->fs, prefix, flags, &iter), 0, c, prefix);
	assert_non_null(iter);
	for (i = 0; i < CONF_MAX_OPEN; i++) {
		if (c->iters[i] == NULL) {
			c->iters[i] = iter;
			return iter;
		}
	}
	(void)fs_iter_deinit(&iter);
	CONF_FAIL("more than %d iterators open in one test", CONF_MAX_OPEN);
	return NULL;
}

int conf_iter_close(struct conf *c, struct fs_iter **iter)
{
	size_t i;
	int ret;

	for (i = 0; i < CONF_MAX_OPEN; i++) {
		if (c->iters[i] == *iter)
			c->iters[i] = NULL;
	}
	ret = fs_iter_deinit(iter);
	assert_null(*iter);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Deterministic data                                                        */

/* splitmix64's finaliser. */
static uint64_t conf_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void conf_gen(uint64_t seed, uint64_t offset, void *buf, size_t size)
{
	unsigned char *p = buf;
	uint64_t base = conf_mix(seed), word = 0, index = 0;
	bool have = false;
	size_t i;

	for (i = 0; i < size; i++) {
		uint64_t off = offset + i;

		if (!have || (off >> 3) != index) {
			index = off >> 3;
			word = conf_mix(base + index);
			have = true;
		}
		p[i] = (unsigned char)(word >> ((off & 7) * 8));
	}
}

long long conf_gen_mismatch(uint64_t seed, uint64_t offset, const void *buf,
			    size_t size)
{
	const unsigned char *p = buf;
	unsigned char expected[4096];
	size_t done = 0, n, i;

	while (done < size) {
		n = size - done < sizeof(expected) ? size - done
						   : sizeof(expected);
		conf_gen(seed, offset + done, expected, n);
		if (memcmp(expected, p + done, n) != 0) {
			for (i = 0; expected[i] == p[done + i]; i++)
				;
			return (long long)(done + i);
		}
		done += n;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

void conf_write_gen(struct conf *c, struct fs_file *file, uint64_t seed,
		    uint64_t size, const size_t *chunks, size_t nchunks)
{
	uint64_t pos = 0;
	size_t i = 0, n;
	ssize_t ret;

	while (pos < size) {
		n = chunks != NULL ? chunks[i++ % nchunks] : CONF_CHUNK;
		assert_true(n <= CONF_BUF_SIZE);
		if (n > size - pos)
			n = (size_t)(size - pos);
		conf_gen(seed, pos, c->wbuf, n);
		ret = fs_write(file, c->wbuf, n);
		CHECK_FILE(ret, n, file);
		pos += n;
	}
}

uint64_t conf_read_gen(struct conf *c, struct fs_file *file, uint64_t seed,
		       uint64_t offset, const size_t *sizes, size_t nsizes)
{
	uint64_t total = 0;
	long long bad;
	size_t i = 0, n;
	ssize_t ret;

	for (;;) {
		n = sizes != NULL ? sizes[i++ % nsizes] : CONF_CHUNK;
		assert_true(n > 0 && n <= CONF_BUF_SIZE);
		ret = fs_read(file, c->rbuf, n);
		if (ret == 0)
			break;
		if (ret < 0)
			CHECK_FILE(ret, 0, file);
		if ((size_t)ret > n)
			CONF_FAIL("fs_read(%zu) returned %zd", n, ret);
		bad = conf_gen_mismatch(seed, offset + total, c->rbuf,
					(size_t)ret);
		if (bad >= 0)
			CONF_FAIL("%s: byte %" PRIu64 " differs from what was "
				  "written",
				  conf_escape(fs_file_key(file)),
				  offset + total + (uint64_t)bad);
		total += (uint64_t)ret;
	}
	/* The end stays the end. */
	CHECK_FILE(fs_read(file, c->rbuf, 1), 0, file);
	return total;
}

/* ------------------------------------------------------------------------ */
/* Whole objects                                                             */

void conf_put(struct conf *c, const char *key, const void *data, size_t size)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_REPLACE);

	CHECK_FILE(fs_write_all(file, data, size), 0, file);
	conf_close(c, &file);
}

void conf_put_str(struct conf *c, const char *key, const char *str)
{
	conf_put(c, key, str, strlen(str));
}

void conf_put_gen(struct conf *c, const char *key, uint64_t seed, uint64_t size)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_REPLACE);

	conf_write_gen(c, file, seed, size, NULL, 0);
	CHECK_FILE(fs_write_finish(file), 0, file);
	conf_close(c, &file);
}

int conf_get(struct conf *c, const char *key, void **data_r, size_t *size_r)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	int ret;

	*data_r = NULL;
	*size_r = 0;
	ret = fs_read_all(file, data_r, size_r);
	if (ret < 0 && *data_r != NULL)
		CONF_FAIL("fs_read_all(%s) failed but returned data",
			  conf_escape(key));
	conf_close(c, &file);
	return ret;
}

void conf_expect_data(struct conf *c, const char *key, const void *data,
		      size_t size)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	void *got = NULL;
	size_t got_size = 0;
	bool same;

	CHECK_FILE(fs_read_all(file, &got, &got_size), 0, file);
	conf_close(c, &file);
	assert_non_null(got);
	same = got_size == size && memcmp(got, data, size) == 0 &&
	       ((char *)got)[size] == '\0';
	free(got);
	if (!same)
		CONF_FAIL("%s: read back %zu bytes, expected %zu bytes%s",
			  conf_escape(key), got_size, size,
			  got_size == size ? " (content or NUL differs)" : "");
}

void conf_expect_str(struct conf *c, const char *key, const char *str)
{
	conf_expect_data(c, key, str, strlen(str));
}

void conf_expect_gen(struct conf *c, const char *key, uint64_t seed,
		     uint64_t size)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	uint64_t got = conf_read_gen(c, file, seed, 0, NULL, 0);

	conf_close(c, &file);
	if (got != size)
		CONF_FAIL("%s: read %" PRIu64 " bytes, expected %" PRIu64,
			  conf_escape(key), got, size);
}

void conf_expect_size(struct conf *c, const char *key, uint64_t size)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	struct fs_stat st;

	memset(&st, 0xa5, sizeof(st));
	CHECK_FILE(fs_file_stat(file, &st), 0, file);
	conf_close(c, &file);
	if ((st.valid & FS_STAT_SIZE) == 0)
		CONF_FAIL("%s: stat did not set FS_STAT_SIZE (valid 0x%x)",
			  conf_escape(key), st.valid);
	if (st.size != size)
		CONF_FAIL("%s: stat size %" PRIu64 ", expected %" PRIu64,
			  conf_escape(key), st.size, size);
}

int conf_exists(struct conf *c, const char *key)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);
	int ret = fs_file_exists(file);

	if (ret != 0 && ret != 1)
		CHECK_FILE(ret, 1, file);
	conf_close(c, &file);
	return ret;
}

void conf_expect_missing(struct conf *c, const char *key)
{
	if (conf_exists(c, key) != 0)
		CONF_FAIL("%s exists, expected it absent", conf_escape(key));
}

void conf_delete(struct conf *c, const char *key)
{
	struct fs_file *file = conf_open(c, key, FS_OPEN_READ);

	CHECK_FILE(fs_file_delete(file), 0, file);
	conf_close(c, &file);
}

/* ------------------------------------------------------------------------ */
/* String arrays and listings                                                */

void conf_strv_addn(struct conf_strv *sv, const char *str, size_t len)
{
	char *copy;

	if (sv->count == sv->alloc) {
		sv->alloc = sv->alloc * 2 + 16;
		sv->v = realloc(sv->v, sv->alloc * sizeof(sv->v[0]));
		assert_non_null(sv->v);
	}
	copy = malloc(len + 1);
	assert_non_null(copy);
	memcpy(copy, str, len);
	copy[len] = '\0';
	sv->v[sv->count++] = copy;
}

void conf_strv_add(struct conf_strv *sv, const char *str)
{
	conf_strv_addn(sv, str, strlen(str));
}

static int conf_strcmp(const void *a, const void *b)
{
	/* strcmp() compares as unsigned char: S3's byte order. */
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void conf_strv_sort_unique(struct conf_strv *sv)
{
	size_t i, out = 0;

	if (sv->count == 0)
		return;
	qsort(sv->v, sv->count, sizeof(sv->v[0]), conf_strcmp);
	for (i = 1; i < sv->count; i++) {
		if (strcmp(sv->v[out], sv->v[i]) == 0)
			free(sv->v[i]);
		else
			sv->v[++out] = sv->v[i];
	}
	sv->count = out + 1;
}

void conf_strv_clear(struct conf_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->count; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

void conf_strv_expect(const struct conf_strv *got,
		      const struct conf_strv *expected, const char *what)
{
	size_t i;

	for (i = 0; i < got->count && i < expected->count; i++) {
		if (strcmp(got->v[i], expected->v[i]) != 0)
			break;
	}
	if (i == got->count && i == expected->count)
		return;
	print_error("%s: %zu entries, expected %zu; first difference at "
		    "index %zu:\n",
		    what, got->count, expected->count, i);
	print_error("  expected: %s\n", i < expected->count
						? conf_escape(expected->v[i])
						: "(end)");
	print_error("  got:      %s\n",
		    i < got->count ? conf_escape(got->v[i]) : "(end)");
	fail();
}

void conf_list(struct conf *c, const char *prefix, unsigned int flags,
	       struct conf_strv *out)
{
	struct fs_iter *iter = conf_iter_open(c, prefix, flags);
	const char *key = NULL;
	int ret;

	while ((ret = fs_iter_next(iter, &key)) == 1) {
		assert_non_null(key);
		conf_strv_add(out, key);
	}
	CHECK_ITER(ret, 0, iter);
	/* The end stays the end. */
	CHECK_ITER(fs_iter_next(iter, &key), 0, iter);
	CHECK_ITER(conf_iter_close(c, &iter), 0, NULL);
}

void conf_expected_listing(const struct conf_strv *keys, const char *prefix,
			   unsigned int flags, struct conf_strv *out)
{
	size_t plen = strlen(prefix), i;
	const char *slash;

	for (i = 0; i < keys->count; i++) {
		if (strncmp(keys->v[i], prefix, plen) != 0)
			continue;
		slash = strchr(keys->v[i] + plen, '/');
		if ((flags & FS_ITER_FLAG_ONE_LEVEL) != 0 && slash != NULL)
			conf_strv_addn(out, keys->v[i],
				       (size_t)(slash - keys->v[i]) + 1);
		else
			conf_strv_add(out, keys->v[i]);
	}
	conf_strv_sort_unique(out);
}

static void conf_expect_listing_flags(struct conf *c, const char *prefix,
				      const struct conf_strv *keys,
				      unsigned int flags)
{
	struct conf_strv got = {0}, expected = {0};
	char what[FS_KEY_MAX * 4 + 64];

	conf_list(c, prefix, flags, &got);
	conf_expected_listing(keys, prefix, flags, &expected);
	snprintf(what, sizeof(what), "%s listing of \"%s\"",
		 flags & FS_ITER_FLAG_ONE_LEVEL ? "one-level" : "flat",
		 conf_escape(prefix));
	conf_strv_expect(&got, &expected, what);
	conf_strv_clear(&got);
	conf_strv_clear(&expected);
}

void conf_expect_listing(struct conf *c, const char *prefix,
			 const struct conf_strv *keys)
{
	conf_expect_listing_flags(c, prefix, keys, 0);
	conf_expect_listing_flags(c, prefix, keys, FS_ITER_FLAG_ONE_LEVEL);
}

/* ------------------------------------------------------------------------ */
/* Memory and clocks                                                         */

static long long conf_status_kib(const char *field)
{
	size_t len = strlen(field);
	long long value = -1;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			value = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return value;
}

static long long conf_maxrss(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return (long long)ru.ru_maxrss * 1024;
}

long long conf_rss_mark(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	long long rss;

	/* "5" resets the peak RSS (VmHWM) to the current RSS. */
	if (f != NULL) {
		fputs("5", f);
		if (fclose(f) == 0) {
			rss = conf_status_kib("VmRSS");
			if (rss >= 0)
				return rss * 1024;
		}
	}
	return conf_maxrss();
}

long long conf_rss_peak(void)
{
	long long hwm = conf_status_kib("VmHWM");

	return hwm >= 0 ? hwm * 1024 : conf_maxrss();
}

int64_t conf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t conf_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Temporary directories                                                     */

char *conf_tmpdir_create(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if (asprintf(&dir, "%s/libfs-conf-%s%sXXXXXX", base,
		     tag != NULL ? tag : "", tag != NULL ? "-" : "") < 0)
		return NULL;
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		free(dir);
		return NULL;
	}
	return dir;
}

static int conf_remove_entry(const char *path, const struct stat *st, int type,
			     struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) < 0)
		perror(path);
	return 0;
}

void conf_tmpdir_remove(char **dir)
{
	if (*dir == NULL)
		return;
	(void)nftw(*dir, conf_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(*dir);
	*dir = NULL;
}
