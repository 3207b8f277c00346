/*
 * The mock's trackers: a TCP listener each, one thread per connection, one
 * reply line per request line, in order (so pipelining works), on
 * connections that stay open until the client closes them.
 *
 * What the real tracker (MogileFS-Server 2.73, Worker/Query.pm) does and
 * this one does too: "OK " with its trailing space, reply arguments in a
 * random order, ERR texts URL-encoded with the code as default text, the
 * callid echo, empty values taken as "not given", ERR none_match for an
 * empty listing, prefixes matched case-insensitively against binary
 * "after" and order, the after_mismatch check as a regular expression
 * built from the unquoted prefix, create_close dropping the tempfile on any
 * error (a retry gets no_temp_file) and checking the size it finds on the
 * storage node, rename refusing to overwrite, create_close overwriting.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mogilefs-private.h"

#define MOG_LINE_MAX (16 * 1024 * 1024)

struct mog_kv {
	char *name, *value;
};

struct mog_args {
	struct mog_kv *items;
	size_t count, alloc;
};

/* One request being answered. */
struct mog_ctx {
	struct fs_mogmock *mock;
	struct mog_tracker *tracker;
	struct mog_args args;
	/* The reply: OK with out, or ERR code text. */
	bool failed;
	struct mog_args out;
	char *code, *text;
};

/* ------------------------------------------------------------------------ */
/* Encoding                                                                   */

static bool mog_url_safe(unsigned char c)
{
	return isalnum(c) || c == '_' || c == ',' || c == '-' || c == '.' ||
	       c == '/' || c == '\\' || c == ':';
}

/* eurl: every byte but [A-Za-z0-9_,-./\:] and space as %XX, then space as
   '+'. */
static void mog_encode(struct mock_buf *buf, const char *str)
{
	const unsigned char *p;

	for (p = (const unsigned char *)str; *p != '\0'; p++) {
		if (*p == ' ')
			mock_buf_add(buf, "+", 1);
		else if (mog_url_safe(*p))
			mock_buf_add(buf, p, 1);
		else
			mock_buf_printf(buf, "%%%02X", *p);
	}
}

/* '+' to space, then %XX to the byte. */
static char *mog_decode(const char *str, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (str[i] == '+') {
			*o++ = ' ';
		} else if (str[i] == '%' && i + 2 < len &&
			   fs_hex_value(str[i + 1]) >= 0 &&
			   fs_hex_value(str[i + 2]) >= 0) {
			*o++ = (char)(fs_hex_value(str[i + 1]) << 4 |
				      fs_hex_value(str[i + 2]));
			i += 2;
		} else {
			*o++ = str[i];
		}
	}
	*o = '\0';
	return out;
}

static int mog_args_add(struct mog_args *args, char *name, char *value)
{
	struct mog_kv *items;
	size_t alloc;

	if (name == NULL || value == NULL)
		goto fail;
	if (args->count == args->alloc) {
		alloc = args->alloc == 0 ? 16 : args->alloc * 2;
		items = realloc(args->items, alloc * sizeof(*items));
		if (items == NULL)
			goto fail;
		args->items = items;
		args->alloc = alloc;
	}
	args->items[args->count].name = name;
	args->items[args->count].value = value;
	args->count++;
	return 0;
fail:
	free(name);
	free(value);
	return -ENOMEM;
}

/* decode_url_args: '&'-separated, split at the first '='. */
static int mog_args_parse(struct mog_args *args, const char *str)
{
	const char *p = str, *end, *eq;

	while (*p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (end > p &&
		    mog_args_add(
			    args,
			    mog_decode(p,
				       (size_t)((eq != NULL ? eq : end) - p)),
			    eq != NULL
				    ? mog_decode(eq + 1, (size_t)(end - eq - 1))
				    : strdup("")) < 0)
			return -ENOMEM;
		p = *end == '\0' ? end : end + 1;
	}
	return 0;
}

static void mog_args_free(struct mog_args *args)
{
	size_t i;

	for (i = 0; i < args->count; i++) {
		free(args->items[i].name);
		free(args->items[i].value);
	}
	free(args->items);
	memset(args, 0, sizeof(*args));
}

/* The value of name; an empty value is "not given" (NULL). */
static const char *arg(struct mog_ctx *ctx, const char *name)
{
	size_t i;

	for (i = 0; i < ctx->args.count; i++) {
		if (strcmp(ctx->args.items[i].name, name) == 0)
			return ctx->args.items[i].value[0] != '\0'
				       ? ctx->args.items[i].value
				       : NULL;
	}
	return NULL;
}

/* Perl truth: given, and not "0". */
static bool arg_true(struct mog_ctx *ctx, const char *name)
{
	const char *value = arg(ctx, name);

	return value != NULL && strcmp(value, "0") != 0;
}

/* Perl's int(): the leading digits, 0 without. */
static uint64_t arg_uint(struct mog_ctx *ctx, const char *name)
{
	const char *value = arg(ctx, name);

	return value != NULL ? strtoull(value, NULL, 10) : 0;
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                    */

static void reply(struct mog_ctx *ctx, const char *name, const char *fmt, ...)
	MOCK_PRINTF(3, 4);
static void reply(struct mog_ctx *ctx, const char *name, const char *fmt, ...)
{
	va_list args;
	char *value;

	va_start(args, fmt);
	if (vasprintf(&value, fmt, args) < 0)
		value = NULL;
	va_end(args);
	(void)mog_args_add(&ctx->out, strdup(name), value);
}

static void reply_err(struct mog_ctx *ctx, const char *code, const char *fmt,
		      ...) MOCK_PRINTF(3, 4);
static void reply_err(struct mog_ctx *ctx, const char *code, const char *fmt,
		      ...)
{
	va_list args;

	ctx->failed = true;
	free(ctx->code);
	free(ctx->text);
	ctx->code = strdup(code);
	ctx->text = NULL;
	if (fmt != NULL) {
		va_start(args, fmt);
		if (vasprintf(&ctx->text, fmt, args) < 0)
			ctx->text = NULL;
		va_end(args);
	}
}

/* "OK k=v&..." in a random order, or "ERR code text [callid]". */
static char *reply_line(struct mog_ctx *ctx, size_t *len_r)
{
	const char *callid = arg(ctx, "callid");
	struct mock_buf buf = {0};
	struct mog_kv tmp;
	size_t i, j;

	if (ctx->failed) {
		mock_buf_printf(&buf, "ERR %s ", ctx->code);
		mog_encode(&buf, ctx->text != NULL ? ctx->text : ctx->code);
		if (callid != NULL) {
			mock_buf_add(&buf, " ", 1);
			mog_encode(&buf, callid);
		}
		mock_buf_str(&buf, "\r\n");
		return mock_buf_steal(&buf, len_r);
	}
	if (callid != NULL)
		reply(ctx, "callid", "%s", callid);
	for (i = ctx->out.count; i > 1; i--) {
		j = (size_t)(mog_rand(ctx->mock) % i);
		tmp = ctx->out.items[i - 1];
		ctx->out.items[i - 1] = ctx->out.items[j];
		ctx->out.items[j] = tmp;
	}
	mock_buf_str(&buf, "OK ");
	for (i = 0; i < ctx->out.count; i++) {
		if (i > 0)
			mock_buf_add(&buf, "&", 1);
		mog_encode(&buf, ctx->out.items[i].name);
		mock_buf_add(&buf, "=", 1);
		mog_encode(&buf, ctx->out.items[i].value);
	}
	mock_buf_str(&buf, "\r\n");
	return mock_buf_steal(&buf, len_r);
}

/* ------------------------------------------------------------------------ */
/* Commands (db_lock held)                                                    */

static struct mog_domain *check_domain(struct mog_ctx *ctx)
{
	const char *name = arg(ctx, "domain");
	struct mog_domain *dom;

	if (name == NULL) {
		reply_err(ctx, "no_domain", NULL);
		return NULL;
	}
	dom = mog_domain_find(ctx->mock, name);
	if (dom == NULL)
		reply_err(ctx, "unreg_domain", NULL);
	return dom;
}

static int class_find(struct mog_domain *dom, const char *name)
{
	unsigned int i;

	for (i = 0; i < dom->class_count; i++) {
		if (strcmp(dom->classes[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

static void dev_shuffle(struct mog_ctx *ctx, unsigned int *devs, unsigned int n)
{
	unsigned int i, j, tmp;

	if (ctx->mock->ordered)
		return;
	for (i = n; i > 1; i--) {
		j = (unsigned int)(mog_rand(ctx->mock) % i);
		tmp = devs[i - 1];
		devs[i - 1] = devs[j];
		devs[j] = tmp;
	}
}

static int temp_add(struct fs_mogmock *mock, const struct mog_temp *temp)
{
	struct mog_temp *temps;
	size_t alloc;

	if (mock->temp_count == mock->temp_alloc) {
		alloc = mock->temp_alloc == 0 ? 16 : mock->temp_alloc * 2;
		temps = realloc(mock->temps, alloc * sizeof(*temps));
		if (temps == NULL)
			return -ENOMEM;
		mock->temps = temps;
		mock->temp_alloc = alloc;
	}
	mock->temps[mock->temp_count++] = *temp;
	return 0;
}

/* Takes the tempfile row of fid out. Returns false if there is none. */
static bool temp_take(struct fs_mogmock *mock, uint64_t fid,
		      struct mog_temp *temp_r)
{
	size_t i;

	for (i = 0; i < mock->temp_count; i++) {
		if (mock->temps[i].fid == fid) {
			*temp_r = mock->temps[i];
			mock->temps[i] = mock->temps[--mock->temp_count];
			return true;
		}
	}
	return false;
}

static void reply_dests(struct mog_ctx *ctx, uint64_t fid, unsigned int *devs,
			unsigned int n, bool multi)
{
	char url[128], name[32];
	unsigned int i;

	reply(ctx, "fid", "%" PRIu64, fid);
	if (!multi) {
		mog_file_url(ctx->mock, fid, devs[0], url, sizeof(url));
		reply(ctx, "devid", "%u", devs[0]);
		reply(ctx, "path", "%s", url);
		return;
	}
	for (i = 0; i < n; i++) {
		mog_file_url(ctx->mock, fid, devs[i], url, sizeof(url));
		snprintf(name, sizeof(name), "devid_%u", i + 1);
		reply(ctx, name, "%u", devs[i]);
		snprintf(name, sizeof(name), "path_%u", i + 1);
		reply(ctx, name, "%s", url);
	}
	reply(ctx, "dev_count", "%u", n);
}

static void cmd_create_open(struct mog_ctx *ctx)
{
	struct fs_mogmock *mock = ctx->mock;
	struct mog_domain *dom = check_domain(ctx);
	const char *class_name = arg(ctx, "class");
	unsigned int devs[MOG_MAX_DEVS], n = 0, i;
	bool multi = arg_true(ctx, "multi_dest");
	struct mog_temp temp = {0};
	uint64_t now = fs_now_usec();
	int classid = 0;

	if (dom == NULL)
		return;
	if (class_name != NULL && (classid = class_find(dom, class_name)) < 0) {
		reply_err(ctx, "unreg_class", NULL);
		return;
	}
	temp.fid = arg_uint(ctx, "fid");
	if (temp.fid != 0 && mog_fid_used(mock, temp.fid)) {
		reply_err(ctx, "fid_in_use", NULL);
		return;
	}
	for (i = 0; i < mock->node_count; i++) {
		if (mog_node_seen_alive(mock, &mock->nodes[i], now))
			devs[n++] = mock->nodes[i].devid;
	}
	dev_shuffle(ctx, devs, n);
	if (n > (multi ? MOG_MAX_DESTS : 1))
		n = multi ? MOG_MAX_DESTS : 1;
	if (n == 0) {
		reply_err(ctx, "no_devices", NULL);
		return;
	}
	while (temp.fid == 0 || mog_fid_used(mock, temp.fid))
		temp.fid = mock->next_fid++;
	temp.dmid = (unsigned int)(dom - mock->domains);
	temp.classid = (unsigned int)classid;
	temp.created_usec = now;
	for (i = 0; i < n; i++)
		temp.devmask |= 1u << devs[i];
	if (temp_add(mock, &temp) < 0) {
		reply_err(ctx, "db", "out of memory");
		return;
	}
	reply_dests(ctx, temp.fid, devs, n, multi);
}

/* MogileFS::Checksum->from_string: "MD5:<32 hex>" or "SHA-1:<40 hex>". */
static bool checksum_valid(const char *str)
{
	const char *hex;
	size_t want, i;

	if (strncmp(str, "MD5:", 4) == 0) {
		hex = str + 4;
		want = 32;
	} else if (strncmp(str, "SHA-1:", 6) == 0) {
		hex = str + 6;
		want = 40;
	} else {
		return false;
	}
	for (i = 0; hex[i] != '\0'; i++) {
		if (!isxdigit((unsigned char)hex[i]))
			return false;
	}
	return i == want;
}

/* The checks create_close makes of the stored file; true if they pass.
   Any failure makes the fid final ($failed in Query.pm). */
static bool close_verify(struct mog_ctx *ctx, uint64_t fid, unsigned int devid,
			 const char *path, int64_t *size_r)
{
	struct mog_node *node = mog_node_of_dev(ctx->mock, devid);
	const char *checksum = arg(ctx, "checksum");
	int64_t want = (int64_t)arg_uint(ctx, "size");
	char key[64], hex[33] = "";

	mog_file_key(fid, devid, key, sizeof(key));
	*size_r = node != NULL && node->alive ? mog_store_size(ctx->mock, key)
					      : -EHOSTDOWN;
	if (want == 0)
		want = -1;
	if (*size_r < 0) {
		reply_err(ctx, "size_verify_error",
			  "Expected: %" PRId64 "; actual: 0 (%s); path: %s; "
			  "error: %s",
			  want, *size_r == -ENOENT ? "missing" : "cantreach",
			  path, fs_errno_name((int)*size_r));
		return false;
	}
	if (want > -1 && want != *size_r) {
		reply_err(ctx, "size_mismatch",
			  "Expected: %" PRId64 "; actual: %" PRId64
			  "; path: %s",
			  want, *size_r, path);
		return false;
	}
	if (checksum != NULL && arg_true(ctx, "checksumverify") &&
	    strncmp(checksum, "MD5:", 4) == 0 &&
	    (mog_store_md5(ctx->mock, key, hex) < 0 ||
	     strcasecmp(hex, checksum + 4) != 0)) {
		reply_err(ctx, "checksum_mismatch",
			  "Expected: %s; actual: MD5:%s; path: %s", checksum,
			  hex, path);
		return false;
	}
	return true;
}

/* Publishes fid under key, overwriting an older file of the key. */
static void close_publish(struct mog_ctx *ctx, struct mog_domain *dom,
			  const struct mog_temp *temp, unsigned int devid,
			  uint64_t size)
{
	struct fs_mogmock *mock = ctx->mock;
	const struct mog_class *cls = &dom->classes[temp->classid];
	const char *checksum = arg(ctx, "checksum");
	struct mog_file file = {0}, *old;

	old = mog_file_find(dom, arg(ctx, "key"));
	if (old != NULL && old->fid == temp->fid) {
		reply_err(ctx, "fid_exists", NULL);
		return;
	}
	if (old != NULL) {
		mog_file_queue_delete(mock, old);
		mog_file_remove(dom, old);
	}
	file.key = (char *)arg(ctx, "key");
	file.fid = temp->fid;
	file.length = size;
	file.classid = temp->classid;
	file.devmask = 1u << devid;
	file.checksum = cls->md5 && checksum != NULL ? (char *)checksum : NULL;
	if (mog_file_insert(dom, &file) == NULL) {
		reply_err(ctx, "db", "out of memory");
		return;
	}
	if (cls->mindevcount > 1)
		mog_queue_job(mock, MOG_JOB_REPLICATE, temp->fid, 0,
			      mock->replicate_delay_ms);
}

static void cmd_create_close(struct mog_ctx *ctx)
{
	struct fs_mogmock *mock = ctx->mock;
	struct mog_domain *dom = check_domain(ctx);
	uint64_t fid = arg_uint(ctx, "fid");
	unsigned int devid = (unsigned int)arg_uint(ctx, "devid");
	const char *path = arg(ctx, "path"), *checksum = arg(ctx, "checksum");
	struct mog_temp temp;
	char url[128], devs[64] = "";
	int64_t size;
	unsigned int d;

	if (dom == NULL)
		return;
	if (fid == 0 || devid == 0 || path == NULL) {
		reply_err(ctx,
			  fid == 0     ? "no_fid"
			  : devid == 0 ? "no_devid"
				       : "no_path",
			  NULL);
		return;
	}
	if (checksum != NULL && !checksum_valid(checksum)) {
		reply_err(ctx, "invalid_checksum_format", NULL);
		return;
	}
	mog_file_url(mock, fid, devid, url, sizeof(url));
	if (mog_node_of_dev(mock, devid) == NULL || strcmp(url, path) != 0) {
		reply_err(ctx, "bogus_args", NULL);
		return;
	}
	if (!temp_take(mock, fid, &temp)) {
		reply_err(ctx, "no_temp_file", NULL);
		return;
	}
	if ((temp.devmask & (1u << devid)) == 0) {
		for (d = 1; d <= mock->node_count; d++) {
			if ((temp.devmask & (1u << d)) != 0)
				snprintf(devs + strlen(devs),
					 sizeof(devs) - strlen(devs), "%s%u",
					 devs[0] != '\0' ? "," : "", d);
		}
		mog_queue_job(mock, MOG_JOB_DELETE, fid, devid, 0);
		reply_err(ctx, "invalid_destdev",
			  "File uploaded to invalid dest %u. Valid devices "
			  "were: %s",
			  devid, devs);
		return;
	}
	/* no key: the upload is discarded */
	if (arg(ctx, "key") == NULL ||
	    !close_verify(ctx, fid, devid, path, &size)) {
		mog_queue_job(mock, MOG_JOB_DELETE, fid, devid,
			      mock->delete_delay_ms);
		return;
	}
	close_publish(ctx, dom, &temp, devid, (uint64_t)size);
}

static void reply_path(struct mog_ctx *ctx, unsigned int n, uint64_t fid,
		       unsigned int devid)
{
	char url[128], name[32];

	mog_file_url(ctx->mock, fid, devid, url, sizeof(url));
	snprintf(name, sizeof(name), "path%u", n);
	reply(ctx, name, "%s", url);
}

/* A copy the tracker would HEAD: on a node that answers, whole. */
static bool path_verified(struct mog_ctx *ctx, const struct mog_file *file,
			  unsigned int devid)
{
	struct mog_node *node = mog_node_of_dev(ctx->mock, devid);
	char key[64];

	mog_file_key(file->fid, devid, key, sizeof(key));
	return node != NULL && node->alive &&
	       mog_store_size(ctx->mock, key) == (int64_t)file->length;
}

/* All copies are on dead nodes: paths=0 at first, then a dead path alone
   as the fallback. */
static void reply_dead_paths(struct mog_ctx *ctx, const struct mog_file *file,
			     uint64_t now)
{
	struct fs_mogmock *mock = ctx->mock;
	unsigned int devid;
	uint64_t seen;

	for (devid = 1; devid <= mock->node_count; devid++) {
		if ((file->devmask & (1u << devid)) == 0)
			continue;
		seen = mock->nodes[devid - 1].down_usec +
		       (uint64_t)mock->monitor_delay_ms * 1000;
		if (now - seen >= (uint64_t)mock->dead_paths0_ms * 1000) {
			reply(ctx, "paths", "1");
			reply_path(ctx, 1, file->fid, devid);
			return;
		}
	}
	reply(ctx, "paths", "0");
}

static void cmd_get_paths(struct mog_ctx *ctx)
{
	struct fs_mogmock *mock = ctx->mock;
	struct mog_domain *dom = check_domain(ctx);
	unsigned int devs[MOG_MAX_DEVS], n = 0, i, first = 0, devid;
	uint64_t pathcount = arg_uint(ctx, "pathcount"), now = fs_now_usec();
	struct mog_file *file;

	if (dom == NULL)
		return;
	if (arg(ctx, "key") == NULL) {
		reply_err(ctx, "no_key", NULL);
		return;
	}
	file = mog_file_find(dom, arg(ctx, "key"));
	if (file == NULL) {
		reply_err(ctx, "unknown_key", NULL);
		return;
	}
	for (devid = 1; devid <= mock->node_count; devid++) {
		if ((file->devmask & (1u << devid)) != 0 &&
		    mog_node_seen_alive(mock, &mock->nodes[devid - 1], now))
			devs[n++] = devid;
	}
	dev_shuffle(ctx, devs, n);
	/* without noverify the first candidate is checked with a HEAD */
	while (!arg_true(ctx, "noverify") && first < n &&
	       !path_verified(ctx, file, devs[first]))
		first++;
	if (first == n) {
		reply_dead_paths(ctx, file, now);
		return;
	}
	if (pathcount < 2)
		pathcount = 2;
	for (i = first; i < n && i - first < pathcount; i++)
		reply_path(ctx, i - first + 1, file->fid, devs[i]);
	reply(ctx, "paths", "%u", i - first);
}

static void cmd_delete(struct mog_ctx *ctx)
{
	struct mog_domain *dom = check_domain(ctx);
	struct mog_file *file;

	if (dom == NULL)
		return;
	if (arg(ctx, "key") == NULL) {
		reply_err(ctx, "no_key", NULL);
		return;
	}
	file = mog_file_find(dom, arg(ctx, "key"));
	if (file == NULL) {
		reply_err(ctx, "unknown_key", NULL);
		return;
	}
	mog_file_queue_delete(ctx->mock, file);
	mog_file_remove(dom, file);
}

static void cmd_rename(struct mog_ctx *ctx)
{
	struct mog_domain *dom = check_domain(ctx);
	const char *from = arg(ctx, "from_key"), *to = arg(ctx, "to_key");
	struct mog_file *file, copy;

	if (dom == NULL)
		return;
	if (from == NULL || to == NULL) {
		reply_err(ctx, "no_key", NULL);
		return;
	}
	file = mog_file_find(dom, from);
	if (file == NULL) {
		reply_err(ctx, "unknown_key", NULL);
		return;
	}
	if (mog_file_find(dom, to) != NULL) {
		/* the real server's second "OK" after this is dropped */
		reply_err(ctx, "key_exists", NULL);
		return;
	}
	copy = *file;
	copy.key = (char *)to;
	if (mog_file_insert(dom, &copy) == NULL) {
		reply_err(ctx, "db", "out of memory");
		return;
	}
	mog_file_remove(dom, mog_file_find(dom, from));
}

/* `$after !~ /^$prefix/` with the prefix unquoted. Returns 1 on match, 0
   on mismatch, -1 when the prefix is no valid expression (the Perl regex
   dies: ERR failure). */
static int after_matches(const char *prefix, const char *after)
{
	regex_t re;
	char *pattern;
	int ret;

	if (asprintf(&pattern, "^%s", prefix) < 0)
		return -1;
	ret = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
	free(pattern);
	if (ret != 0)
		return -1;
	ret = regexec(&re, after, 0, NULL, 0) == 0 ? 1 : 0;
	regfree(&re);
	return ret;
}

static bool prefix_matches(struct mog_ctx *ctx, const char *key,
			   const char *prefix, size_t plen)
{
	/* LIKE 'prefix%': case-insensitive unless configured otherwise */
	return ctx->mock->case_sensitive ? strncmp(key, prefix, plen) == 0
					 : strncasecmp(key, prefix, plen) == 0;
}

static void list_reply(struct mog_ctx *ctx, struct mog_domain *dom,
		       const char *prefix, const char *after, uint64_t limit)
{
	size_t plen = strlen(prefix), i;
	const char *last = "";
	uint64_t n = 0;
	char name[32];

	for (i = 0; i < dom->file_count && n < limit; i++) {
		const char *key = dom->files[i].key;

		if (strcmp(key, after) <= 0 ||
		    !prefix_matches(ctx, key, prefix, plen))
			continue;
		n++;
		snprintf(name, sizeof(name), "key_%" PRIu64, n);
		reply(ctx, name, "%s", key);
		if (strcmp(key, last) > 0)
			last = key;
	}
	if (n == 0) {
		reply_err(ctx, "none_match",
			  "No keys match that pattern and after-value (if "
			  "any).");
		return;
	}
	reply(ctx, "key_count", "%" PRIu64, n);
	reply(ctx, "next_after", "%s", last);
}

static void cmd_list_keys(struct mog_ctx *ctx)
{
	struct mog_domain *dom = check_domain(ctx);
	const char *prefix = arg(ctx, "prefix"), *after = arg(ctx, "after");
	uint64_t limit = arg_uint(ctx, "limit");
	int match;

	if (dom == NULL)
		return;
	if (prefix != NULL && after != NULL && strcmp(after, "0") != 0) {
		match = after_matches(prefix, after);
		if (match < 0) {
			reply_err(ctx, "failure", "bad regex /^%s/", prefix);
			return;
		}
		if (match == 0) {
			reply_err(ctx, "after_mismatch", NULL);
			return;
		}
	}
	if (limit == 0 || limit > MOG_LIST_LIMIT)
		limit = MOG_LIST_LIMIT;
	list_reply(ctx, dom, prefix != NULL ? prefix : "",
		   after != NULL ? after : "", limit);
}

static struct mog_file *key_file(struct mog_ctx *ctx, struct mog_domain **dom_r)
{
	struct mog_file *file;

	*dom_r = check_domain(ctx);
	if (*dom_r == NULL)
		return NULL;
	if (arg(ctx, "key") == NULL) {
		reply_err(ctx, "no_key", NULL);
		return NULL;
	}
	file = mog_file_find(*dom_r, arg(ctx, "key"));
	if (file == NULL)
		reply_err(ctx, "unknown_key", NULL);
	return file;
}

static void reply_devids(struct mog_ctx *ctx, const char *name,
			 uint32_t devmask)
{
	char devs[64] = "";
	unsigned int d;

	for (d = 1; d <= ctx->mock->node_count; d++) {
		if ((devmask & (1u << d)) != 0)
			snprintf(devs + strlen(devs),
				 sizeof(devs) - strlen(devs), "%s%u",
				 devs[0] != '\0' ? "," : "", d);
	}
	reply(ctx, name, "%s", devs);
}

static unsigned int devcount(uint32_t devmask)
{
	return (unsigned int)__builtin_popcount(devmask);
}

static void cmd_file_info(struct mog_ctx *ctx)
{
	struct mog_domain *dom;
	struct mog_file *file = key_file(ctx, &dom);
	const struct mog_class *cls;

	if (file == NULL)
		return;
	cls = &dom->classes[file->classid];
	reply(ctx, "fid", "%" PRIu64, file->fid);
	reply(ctx, "domain", "%s", dom->name);
	reply(ctx, "class", "%s", cls->name);
	reply(ctx, "key", "%s", file->key);
	reply(ctx, "length", "%" PRIu64, file->length);
	reply(ctx, "devcount", "%u", devcount(file->devmask));
	if (cls->md5)
		reply(ctx, "checksum", "%s",
		      file->checksum != NULL ? file->checksum : "MISSING");
	if (arg_true(ctx, "devices"))
		reply_devids(ctx, "devids", file->devmask);
}

static void cmd_file_debug(struct mog_ctx *ctx)
{
	struct mog_domain *dom;
	struct mog_file *file;

	if (arg(ctx, "fid") != NULL) {
		/* an unknown fid still answers */
		reply(ctx, "checksum", "NONE");
		return;
	}
	file = key_file(ctx, &dom);
	if (file == NULL)
		return;
	reply(ctx, "fid_fid", "%" PRIu64, file->fid);
	reply(ctx, "fid_dkey", "%s", file->key);
	reply(ctx, "fid_length", "%" PRIu64, file->length);
	reply(ctx, "fid_class", "%s", dom->classes[file->classid].name);
	reply(ctx, "fid_domain", "%s", dom->name);
	reply(ctx, "fid_classid", "%u", file->classid);
	reply(ctx, "fid_devcount", "%u", devcount(file->devmask));
	reply_devids(ctx, "devids", file->devmask);
	reply(ctx, "checksum", "%s",
	      file->checksum != NULL ? file->checksum : "NONE");
}

static void cmd_updateclass(struct mog_ctx *ctx)
{
	struct mog_domain *dom = check_domain(ctx);
	const char *class_name = arg(ctx, "class");
	struct mog_file *file;
	int classid;

	if (dom == NULL)
		return;
	if (arg(ctx, "key") == NULL || class_name == NULL) {
		reply_err(ctx, arg(ctx, "key") == NULL ? "no_key" : "no_class",
			  NULL);
		return;
	}
	classid = class_find(dom, class_name);
	if (classid < 0) {
		reply_err(ctx, "class_not_found", NULL);
		return;
	}
	file = mog_file_find(dom, arg(ctx, "key"));
	if (file == NULL) {
		reply_err(ctx, "invalid_key", NULL);
		return;
	}
	if (file->classid != (unsigned int)classid) {
		file->classid = (unsigned int)classid;
		mog_queue_job(ctx->mock, MOG_JOB_REPLICATE, file->fid, 0, 0);
	}
}

static void cmd_noop(struct mog_ctx *ctx)
{
}

static void cmd_sleep(struct mog_ctx *ctx)
{
	uint64_t secs = arg_uint(ctx, "duration");

	/* outside db_lock: the others go on meanwhile */
	pthread_mutex_unlock(&ctx->mock->db_lock);
	mog_sleep_ms(ctx->mock, (unsigned int)(secs != 0 ? secs : 10) * 1000);
	pthread_mutex_lock(&ctx->mock->db_lock);
}

static void cmd_get_domains(struct mog_ctx *ctx)
{
	struct fs_mogmock *mock = ctx->mock;
	unsigned int d, c;
	char name[64];

	reply(ctx, "domains", "%u", mock->domain_count);
	for (d = 0; d < mock->domain_count; d++) {
		struct mog_domain *dom = &mock->domains[d];

		snprintf(name, sizeof(name), "domain%u", d + 1);
		reply(ctx, name, "%s", dom->name);
		snprintf(name, sizeof(name), "domain%uclasses", d + 1);
		reply(ctx, name, "%u", dom->class_count);
		for (c = 0; c < dom->class_count; c++) {
			snprintf(name, sizeof(name), "domain%uclass%uname",
				 d + 1, c + 1);
			reply(ctx, name, "%s", dom->classes[c].name);
			snprintf(name, sizeof(name),
				 "domain%uclass%umindevcount", d + 1, c + 1);
			reply(ctx, name, "%u", dom->classes[c].mindevcount);
		}
	}
}

static const struct {
	const char *name;
	void (*fn)(struct mog_ctx *ctx);
} mog_commands[] = {
	{"create_open", cmd_create_open},
	{"create_close", cmd_create_close},
	{"get_paths", cmd_get_paths},
	{"delete", cmd_delete},
	{"rename", cmd_rename},
	{"list_keys", cmd_list_keys},
	{"file_info", cmd_file_info},
	{"file_debug", cmd_file_debug},
	{"updateclass", cmd_updateclass},
	{"noop", cmd_noop},
	{"sleep", cmd_sleep},
	{"get_domains", cmd_get_domains},
};

static void mog_run_command(struct mog_ctx *ctx, const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(mog_commands) / sizeof(mog_commands[0]); i++) {
		if (strcmp(mog_commands[i].name, cmd) == 0) {
			pthread_mutex_lock(&ctx->mock->db_lock);
			mog_commands[i].fn(ctx);
			pthread_mutex_unlock(&ctx->mock->db_lock);
			return;
		}
	}
	reply_err(ctx, "unknown_command", "Unknown server command");
}

/* ------------------------------------------------------------------------ */
/* Connections                                                                */

static bool mog_send(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* "!stats" and friends: lines ending with ".". */
static bool mog_operator(struct mog_tconn *conn, const char *line)
{
	struct mock_buf buf = {0};
	char *text;
	size_t len;
	bool ok;

	if (strcmp(line, "!stats") == 0) {
		mock_buf_printf(&buf, "uptime 1\r\n");
		mock_buf_printf(&buf, "pending_queries 0\r\n");
	} else {
		mock_buf_printf(&buf, "Unknown command\r\n");
	}
	mock_buf_str(&buf, ".\r\n");
	text = mock_buf_steal(&buf, &len);
	ok = text != NULL && mog_send(conn->fd, text, len);
	free(text);
	return ok;
}

/* The key a fault rule's key= is matched against. */
static const char *fault_key(struct mog_ctx *ctx)
{
	const char *key = arg(ctx, "key");

	if (key == NULL)
		key = arg(ctx, "from_key");
	if (key == NULL)
		key = arg(ctx, "prefix");
	return key;
}

static void mog_count_request(struct mog_ctx *ctx, const char *cmd)
{
	struct fs_mogmock *mock = ctx->mock;

	mog_count(mock, "tracker_requests", 1);
	mog_countf(mock, "tracker%u_requests", ctx->tracker->idx);
	mog_count(mock, cmd, 1);
}

/* Runs the command under the request's fault. Returns false to close the
   connection without (the whole) answer. */
static bool mog_faulted(struct mog_tconn *conn, struct mog_ctx *ctx,
			const char *cmd)
{
	struct mog_tracker *tr = conn->tracker;
	char server[32], *line;
	struct mock_fault f;
	bool kill = false;
	size_t len;

	snprintf(server, sizeof(server), "tracker%u", tr->idx);
	if (!mog_fault_match(ctx->mock, "TRACKER", cmd, server, fault_key(ctx),
			     &f, &kill))
		f.action = MOCK_FAULT_NONE;
	if (f.delay_ms != 0)
		mog_sleep_ms(ctx->mock, f.delay_ms);
	if (f.action == MOCK_FAULT_ERROR) {
		reply_err(ctx, f.code, "%s",
			  f.message[0] != '\0' ? f.message : f.code);
	} else if (f.action == MOCK_FAULT_RESET && f.after == 0) {
		/* cut before the command runs */
		if (kill)
			mog_kill(ctx->mock, server, true);
		return false;
	} else {
		mog_run_command(ctx, cmd);
	}
	line = reply_line(ctx, &len);
	if (line == NULL)
		return false;
	if (ctx->failed)
		mog_countf(ctx->mock, "err_%s", ctx->code);
	if (f.action == MOCK_FAULT_TRUNCATE)
		(void)mog_send(conn->fd, line, f.after < len ? f.after : len);
	if (kill)
		mog_kill(ctx->mock, server, true);
	if (f.action == MOCK_FAULT_RESET || f.action == MOCK_FAULT_TRUNCATE) {
		free(line);
		return false;
	}
	mog_log(ctx->mock, "tracker%u < %.*s", tr->idx, (int)len - 2, line);
	len = mog_send(conn->fd, line, len);
	free(line);
	return len != 0;
}

/* Handles one request line. Returns false to close the connection. */
static bool mog_line(struct mog_tconn *conn, char *line)
{
	struct mog_ctx ctx = {.mock = conn->tracker->mock,
			      .tracker = conn->tracker};
	char *p = line;
	const char *cmd, *args;
	bool ok;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return true;
	mog_log(ctx.mock, "tracker%u > %s", conn->tracker->idx, p);
	if (*p == '!')
		return mog_operator(conn, p);
	cmd = p;
	while (isalnum((unsigned char)*p) || *p == '_') {
		*p = (char)tolower((unsigned char)*p);
		p++;
	}
	args = p;
	if (p == cmd || (*p != '\0' && *p != ' ' && *p != '\t')) {
		cmd = "";
		args = "";
	} else if (*p != '\0') {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		args = p;
	}
	if (mog_args_parse(&ctx.args, args) < 0) {
		mog_args_free(&ctx.args);
		return false;
	}
	mog_count_request(&ctx, cmd[0] != '\0' ? cmd : "unknown");
	ok = mog_faulted(conn, &ctx, cmd);
	mog_args_free(&ctx.args);
	mog_args_free(&ctx.out);
	free(ctx.code);
	free(ctx.text);
	return ok;
}

/* Hands out the complete lines of buf; returns false to close. */
static bool mog_lines(struct mog_tconn *conn, struct mock_buf *buf)
{
	char *start = buf->data, *nl;
	size_t used;

	while ((nl = memchr(start, '\n', buf->len - (start - buf->data))) !=
	       NULL) {
		*nl = '\0';
		if (nl > start && nl[-1] == '\r')
			nl[-1] = '\0';
		if (!mog_line(conn, start))
			return false;
		start = nl + 1;
	}
	used = (size_t)(start - buf->data);
	memmove(buf->data, start, buf->len - used);
	buf->len -= used;
	return true;
}

static void mog_tconn_exit(struct mog_tconn *conn)
{
	struct mog_tracker *tr = conn->tracker;
	struct fs_mogmock *mock = tr->mock;
	struct mog_tconn **p;

	pthread_mutex_lock(&tr->lock);
	for (p = &tr->conns; *p != NULL; p = &(*p)->next) {
		if (*p == conn) {
			*p = conn->next;
			break;
		}
	}
	pthread_mutex_unlock(&tr->lock);
	close(conn->fd);
	free(conn);
	pthread_mutex_lock(&mock->db_lock);
	mock->tconn_threads--;
	pthread_cond_broadcast(&mock->db_cond);
	pthread_mutex_unlock(&mock->db_lock);
}

static void *mog_tconn_thread(void *context)
{
	struct mog_tconn *conn = context;
	struct mock_buf buf = {0};
	char chunk[16384];
	ssize_t n;

	for (;;) {
		n = recv(conn->fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		/* EOF: the tracker closes (the client must not half-close) */
		if (n <= 0 || buf.len + (size_t)n > MOG_LINE_MAX)
			break;
		mock_buf_add(&buf, chunk, (size_t)n);
		if (buf.failed || !mog_lines(conn, &buf))
			break;
	}
	mock_buf_free(&buf);
	mog_tconn_exit(conn);
	return NULL;
}

static void mog_accept_one(struct mog_tracker *tr, int fd)
{
	struct fs_mogmock *mock = tr->mock;
	struct mog_tconn *conn = calloc(1, sizeof(*conn));
	pthread_attr_t attr;
	pthread_t thread;
	int one = 1;

	if (conn == NULL) {
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn->fd = fd;
	conn->tracker = tr;
	pthread_mutex_lock(&tr->lock);
	conn->next = tr->conns;
	tr->conns = conn;
	pthread_mutex_unlock(&tr->lock);
	pthread_mutex_lock(&mock->db_lock);
	mock->tconn_threads++;
	pthread_mutex_unlock(&mock->db_lock);
	mog_count(mock, "tracker_connections", 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, mog_tconn_thread, conn) != 0)
		mog_tconn_exit(conn);
	pthread_attr_destroy(&attr);
}

static void *mog_accept_thread(void *context)
{
	struct mog_tracker *tr = context;
	struct pollfd pfd;
	bool alive;
	int fd;

	for (;;) {
		pthread_mutex_lock(&tr->lock);
		alive = tr->alive;
		pfd.fd = tr->listen_fd;
		pthread_mutex_unlock(&tr->lock);
		if (!alive || pfd.fd < 0)
			break;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) <= 0 || (pfd.revents & POLLIN) == 0)
			continue;
		fd = accept4(pfd.fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&tr->lock);
		alive = tr->alive;
		pthread_mutex_unlock(&tr->lock);
		if (!alive) {
			close(fd);
			break;
		}
		mog_accept_one(tr, fd);
	}
	return NULL;
}

static int mog_listen(struct mog_tracker *tr, char **error_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)tr->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		goto fail;
	tr->port = ntohs(sin.sin_port);
	tr->listen_fd = fd;
	return 0;
fail:
	if (error_r != NULL &&
	    asprintf(error_r, "tracker%u: cannot listen on 127.0.0.1:%u: %s",
		     tr->idx, tr->port, strerror(errno)) < 0)
		*error_r = NULL;
	if (fd >= 0)
		close(fd);
	return -EIO;
}

int mog_tracker_start(struct mog_tracker *tr, char **error_r)
{
	int ret;

	pthread_mutex_lock(&tr->lock);
	if (tr->alive) {
		pthread_mutex_unlock(&tr->lock);
		return 0;
	}
	ret = mog_listen(tr, error_r);
	if (ret == 0) {
		tr->alive = true;
		if (pthread_create(&tr->accept_thread, NULL, mog_accept_thread,
				   tr) != 0) {
			close(tr->listen_fd);
			tr->listen_fd = -1;
			tr->alive = false;
			ret = -EAGAIN;
		} else {
			tr->thread_running = true;
		}
	}
	pthread_mutex_unlock(&tr->lock);
	return ret;
}

void mog_tracker_stop(struct mog_tracker *tr)
{
	struct mog_tconn *conn;
	bool running;
	int fd;

	pthread_mutex_lock(&tr->lock);
	tr->alive = false;
	fd = tr->listen_fd;
	tr->listen_fd = -1;
	running = tr->thread_running;
	tr->thread_running = false;
	for (conn = tr->conns; conn != NULL; conn = conn->next)
		shutdown(conn->fd, SHUT_RDWR);
	pthread_mutex_unlock(&tr->lock);
	/* connections are refused from now on (Linux ends the listen) */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	if (running)
		pthread_join(tr->accept_thread, NULL);
	if (fd >= 0)
		close(fd);
}
