/*
 * Storage stacks: spec parsing, settings, set-up and tear-down, capabilities
 * and the asynchronous loop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs-private.h"

/* fs_init() errors: valid until the next fs_init() in the same thread. */
static _Thread_local char fs_init_error[512];

/* Longest spec part quoted in an error message. */
#define SPEC_QUOTE_MAX 200

const char *fs_version(void)
{
	return LIBFS_VERSION_STRING;
}

const char *fs_init_last_error(void)
{
	return fs_init_error;
}

static int init_error(int err, const char *fmt, ...) FS_PRINTF(2, 3);
static int init_error(int err, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(fs_init_error, sizeof(fs_init_error), fmt, args);
	va_end(args);
	return err;
}

void fs_settings_init(struct fs_settings *set)
{
	memset(set, 0, sizeof(*set));
	set->version = FS_SETTINGS_VERSION;
}

/* --- Settings --- */

static void settings_free(struct fs_settings *set)
{
	free((char *)set->access_key);
	free((char *)set->secret_key);
	free((char *)set->session_token);
	free((char *)set->region);
	free((char *)set->username);
	free((char *)set->password);
	free((char *)set->ca_file);
	free((char *)set->ca_path);
	free((char *)set->proxy);
	free((char *)set->temp_dir);
	memset(set, 0, sizeof(*set));
}

static int str_copy(const char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst != NULL ? 0 : -ENOMEM;
}

static int settings_copy_strings(struct fs_settings *dst,
				 const struct fs_settings *src)
{
	int ret = 0;

	ret |= str_copy(&dst->access_key, src->access_key);
	ret |= str_copy(&dst->secret_key, src->secret_key);
	ret |= str_copy(&dst->session_token, src->session_token);
	ret |= str_copy(&dst->region, src->region);
	ret |= str_copy(&dst->username, src->username);
	ret |= str_copy(&dst->password, src->password);
	ret |= str_copy(&dst->ca_file, src->ca_file);
	ret |= str_copy(&dst->ca_path, src->ca_path);
	ret |= str_copy(&dst->proxy, src->proxy);
	ret |= str_copy(&dst->temp_dir, src->temp_dir);
	return ret != 0 ? -ENOMEM : 0;
}

/* Copies src into dst, reading only the members src->version knows (version
   1: all of today's). dst must be zeroed. */
static int settings_copy(struct fs_settings *dst, const struct fs_settings *src)
{
	int ret;

	/* every member of today's struct exists since version 1 */
	*dst = *src;
	dst->version = FS_SETTINGS_VERSION;
	ret = settings_copy_strings(dst, src);
	if (ret < 0)
		settings_free(dst);
	return ret;
}

static unsigned int debug_from_env(void)
{
	const char *env = getenv("LIBFS_DEBUG"), *p, *end;
	unsigned int debug = 0;
	size_t len;

	if (env == NULL)
		return 0;
	for (p = env; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len == 4 && strncmp(p, "http", 4) == 0)
			debug |= FS_DEBUG_HTTP;
		else if (len == 7 && strncmp(p, "tracker", 7) == 0)
			debug |= FS_DEBUG_TRACKER;
		else if (len == 3 && strncmp(p, "all", 3) == 0)
			debug |= ~0u;
	}
	return debug;
}

/* --- Stacks --- */

static void fs_free_one(struct fs *fs)
{
	if (fs->files_open > 0 || fs->iters_open > 0) {
		/* the handles would point at freed memory: say so loudly */
		fprintf(stderr,
			"libfs: fs_deinit(%s) with %u files and %u iterators "
			"still open\n",
			fs->driver->name, fs->files_open, fs->iters_open);
	}
	settings_free(&fs->set);
	fs_error_free(&fs->last_error);
	free(fs);
}

void fs_deinit(struct fs **_fs)
{
	struct fs *fs = *_fs, *parent;

	if (fs == NULL)
		return;
	*_fs = NULL;
	/* top-down: a layer's deinit may still use its parent */
	for (; fs != NULL; fs = parent) {
		parent = fs->parent;
		if (fs->driver->v.deinit != NULL)
			fs->driver->v.deinit(fs);
		fs_free_one(fs);
	}
}

static int fs_alloc(const struct fs_driver *driver,
		    const struct fs_settings *set, struct fs *parent,
		    struct fs **fs_r)
{
	size_t size = driver->fs_size;
	struct fs *fs;

	if (driver->version != FS_DRIVER_VERSION)
		return init_error(-ENOTSUP,
				  "driver '%s' has interface version %u, "
				  "this libfs needs %u",
				  driver->name, driver->version,
				  FS_DRIVER_VERSION);
	if (driver->layer != (parent != NULL))
		return init_error(-EINVAL, "driver '%s' %s a storage below it",
				  driver->name,
				  driver->layer ? "needs" : "cannot have");
	fs = calloc(1, size > sizeof(*fs) ? size : sizeof(*fs));
	if (fs == NULL || settings_copy(&fs->set, set) < 0) {
		free(fs);
		return init_error(-ENOMEM, "out of memory");
	}
	fs->driver = driver;
	fs->parent = parent;
	*fs_r = fs;
	return 0;
}

/* Creates one layer. On failure the message is in fs_init_error, without the
   spec prefix, and parent is still the caller's. */
static int fs_init_driver(const struct fs_driver *driver, const char *scheme,
			  const char *args, const struct fs_settings *set,
			  struct fs *parent, struct fs **fs_r)
{
	struct fs *fs = NULL;
	char errbuf[128];
	int ret;

	*fs_r = NULL;
	ret = fs_alloc(driver, set, parent, &fs);
	if (ret < 0)
		return ret;
	ret = driver->v.init != NULL ? driver->v.init(fs, scheme, args) : 0;
	if (ret < 0) {
		if (fs->last_error != NULL)
			init_error(ret, "%s", fs->last_error);
		else
			init_error(ret, "%s",
				   fs_strerror(ret, errbuf, sizeof(errbuf)));
		/* deinit is not called after a failed init: the driver cleans
		   up after itself */
		fs_free_one(fs);
		return ret;
	}
	*fs_r = fs;
	return 0;
}

int fs_init_layer(const struct fs_driver *driver, const char *args,
		  struct fs *parent, struct fs **fs_r)
{
	struct fs_settings defaults;

	fs_settings_init(&defaults);
	return fs_init_driver(driver, driver->name, args != NULL ? args : "",
			      parent != NULL ? &parent->set : &defaults, parent,
			      fs_r);
}

/* Copies spec part [spec, spec+len) into buf for a message: cut, and with any
   password ("//USER:PASS@") replaced by "***". */
static void spec_redact(const char *spec, size_t len, char *buf, size_t size)
{
	char part[SPEC_QUOTE_MAX + 1], redacted[SPEC_QUOTE_MAX + 8];
	const char *auth, *at, *colon = NULL;

	if (len > SPEC_QUOTE_MAX)
		len = SPEC_QUOTE_MAX;
	memcpy(part, spec, len);
	part[len] = '\0';
	auth = strstr(part, "//");
	at = auth != NULL ? strrchr(auth, '@') : NULL;
	if (at != NULL)
		colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon != NULL) {
		snprintf(redacted, sizeof(redacted), "%.*s***%s",
			 (int)(colon + 1 - part), part, at);
	} else if (auth != NULL && at == NULL && len == SPEC_QUOTE_MAX &&
		   strchr(auth, ':') != NULL) {
		/* the cut may have dropped the '@': print no credentials */
		snprintf(redacted, sizeof(redacted), "%.*s***",
			 (int)(auth + 2 - part), part);
	} else {
		memcpy(redacted, part, len + 1);
	}
	fs_printable(redacted, buf, size);
}

/* Prefixes the message in fs_init_error with the redacted spec part. */
static int init_error_prefix(int err, const char *spec, size_t len)
{
	char quoted[SPEC_QUOTE_MAX + 8], msg[sizeof(fs_init_error)];

	spec_redact(spec, len, quoted, sizeof(quoted));
	memcpy(msg, fs_init_error, sizeof(msg));
	return init_error(err, "%s: %s", quoted, msg);
}

static bool scheme_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '.' || c == '-';
}

static int fs_init_spec(const char *spec, const struct fs_settings *set,
			struct fs **fs_r);

static int fs_init_posix(const char *spec, const char *scheme, const char *path,
			 const struct fs_settings *set, struct fs **fs_r)
{
	const struct fs_driver *driver = fs_driver_lookup("posix");
	int ret;

	if (driver == NULL)
		return init_error(-ENOTSUP,
				  "'posix' support is not built into this "
				  "libfs");
	ret = fs_init_driver(driver, scheme, path, set, NULL, fs_r);
	if (ret < 0)
		return init_error_prefix(ret, spec, strlen(spec));
	return 0;
}

static int fs_init_stacked(const struct fs_driver *driver, const char *spec,
			   size_t scheme_len, const struct fs_settings *set,
			   struct fs **fs_r)
{
	const char *args = spec + scheme_len + 1;
	const char *sep = strstr(args, "::");
	char scheme[64], *layer_args;
	struct fs *parent;
	int ret;

	memcpy(scheme, spec, scheme_len);
	scheme[scheme_len] = '\0';
	if (sep == NULL || sep[2] == '\0')
		return init_error(-EINVAL,
				  "layer '%s' needs a storage below it: "
				  "%s:OPTIONS::SPEC",
				  scheme, scheme);
	ret = fs_init_spec(sep + 2, set, &parent);
	if (ret < 0)
		return ret;
	layer_args = strndup(args, (size_t)(sep - args));
	if (layer_args == NULL) {
		fs_deinit(&parent);
		return init_error(-ENOMEM, "out of memory");
	}
	ret = fs_init_driver(driver, scheme, layer_args, set, parent, fs_r);
	free(layer_args);
	if (ret < 0) {
		fs_deinit(&parent);
		return init_error_prefix(ret, spec, (size_t)(sep - spec));
	}
	return 0;
}

static int fs_init_scheme(const char *spec, size_t scheme_len,
			  const struct fs_settings *set, struct fs **fs_r)
{
	const struct fs_driver *driver;
	char scheme[64];
	int ret;

	if (scheme_len >= sizeof(scheme))
		return init_error(-EINVAL, "unknown storage driver '%.*s'",
				  (int)scheme_len, spec);
	memcpy(scheme, spec, scheme_len);
	scheme[scheme_len] = '\0';
	driver = fs_driver_lookup(scheme);
	if (driver == NULL && fs_driver_not_built(scheme))
		return init_error(-ENOTSUP,
				  "'%s' support is not built into this libfs",
				  scheme);
	if (driver == NULL)
		return init_error(-EINVAL, "unknown storage driver '%s'",
				  scheme);
	if (driver->layer)
		return fs_init_stacked(driver, spec, scheme_len, set, fs_r);
	ret = fs_init_driver(driver, scheme, spec + scheme_len + 1, set, NULL,
			     fs_r);
	if (ret < 0)
		return init_error_prefix(ret, spec, strlen(spec));
	return 0;
}

static int fs_init_spec(const char *spec, const struct fs_settings *set,
			struct fs **fs_r)
{
	size_t len;

	*fs_r = NULL;
	if (spec[0] == '\0')
		return init_error(-EINVAL, "empty storage spec");
	if (spec[0] == '/' || spec[0] == '.')
		return fs_init_posix(spec, "posix", spec, set, fs_r);
	if (strncmp(spec, "file://", 7) == 0) {
		if (spec[7] != '/')
			return init_error(-EINVAL,
					  "'%.*s': file:// needs an absolute "
					  "path: file:///PATH",
					  SPEC_QUOTE_MAX, spec);
		return fs_init_posix(spec, "file", spec + 7, set, fs_r);
	}
	for (len = 0; scheme_char(spec[len]); len++)
		;
	if (len == 0 || spec[len] != ':') {
		char quoted[SPEC_QUOTE_MAX + 8];

		spec_redact(spec, strlen(spec), quoted, sizeof(quoted));
		return init_error(-EINVAL,
				  "malformed spec '%s': expected a path or "
				  "SCHEME:ARGS",
				  quoted);
	}
	return fs_init_scheme(spec, len, set, fs_r);
}

int fs_init(const char *spec, const struct fs_settings *set, struct fs **fs_r,
	    const char **error_r)
{
	struct fs_settings settings;
	int ret;

	*fs_r = NULL;
	fs_init_error[0] = '\0';
	if (error_r != NULL)
		*error_r = fs_init_error;
	if (set != NULL && set->version == 0)
		return init_error(-EINVAL, "settings not initialised with "
					   "fs_settings_init()");
	if (spec == NULL)
		return init_error(-EINVAL, "empty storage spec");
	if (set != NULL)
		settings = *set;
	else
		fs_settings_init(&settings);
	settings.debug |= debug_from_env();
	ret = fs_init_spec(spec, &settings, fs_r);
	if (ret < 0)
		*fs_r = NULL;
	return ret;
}

const char *fs_driver_name(struct fs *fs, unsigned int depth)
{
	for (; fs != NULL && depth > 0; depth--)
		fs = fs->parent;
	return fs != NULL ? fs->driver->name : NULL;
}

unsigned int fs_get_caps(struct fs *fs)
{
	return fs->driver->v.get_caps != NULL ? fs->driver->v.get_caps(fs) : 0;
}

void fs_get_limits(struct fs *fs, struct fs_limits *limits_r)
{
	limits_r->key_max = FS_KEY_MAX;
	limits_r->metadata_max = FS_METADATA_TOTAL_MAX;
	for (; fs != NULL; fs = fs->parent) {
		if (fs->driver->v.get_limits != NULL) {
			fs->driver->v.get_limits(fs, limits_r);
			break;
		}
	}
	if (limits_r->key_max > FS_KEY_MAX)
		limits_r->key_max = FS_KEY_MAX;
	if (limits_r->metadata_max > FS_METADATA_TOTAL_MAX)
		limits_r->metadata_max = FS_METADATA_TOTAL_MAX;
}

/* --- The asynchronous loop --- */

unsigned int fs_async_pending(struct fs *fs)
{
	unsigned int pending = 0;

	for (; fs != NULL; fs = fs->parent)
		pending += fs->async_pending;
	return pending;
}

/* Runs wait_async with timeout 0 on the layers above bottom, bottom-up, so
   that completions travel towards the application in one round. */
static int async_round_above(struct fs *fs, struct fs *bottom)
{
	int ret;

	if (fs == NULL || fs == bottom)
		return 0;
	ret = async_round_above(fs->parent, bottom);
	if (ret < 0 || fs->driver->v.wait_async == NULL)
		return ret;
	return fs->driver->v.wait_async(fs, 0);
}

int fs_async_round(struct fs *fs, int timeout_ms)
{
	struct fs *layer, *bottom = NULL;
	int ret;

	for (layer = fs; layer != NULL; layer = layer->parent) {
		if (layer->driver->v.wait_async != NULL)
			bottom = layer;
	}
	if (bottom == NULL)
		return fs_set_error(fs, -EIO,
				    "%u asynchronous operations pending but no "
				    "layer of the stack can run them",
				    fs_async_pending(fs));
	ret = bottom->driver->v.wait_async(bottom, timeout_ms);
	if (ret < 0)
		return ret;
	return async_round_above(fs, bottom);
}

/* Milliseconds left until deadline (rounded up), or 0. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = fs_now_usec();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999) / 1000);
}

/* Drives the stack; stops when nothing is pending, when timeout_ms passed,
   or, with any_progress, as soon as an operation of the top layer (the
   application's) progressed. */
static int wait_async(struct fs *fs, int timeout_ms, bool any_progress)
{
	unsigned int done_seq = fs->async_done_seq;
	uint64_t deadline = 0;
	int ret, left = timeout_ms;

	if (timeout_ms > 0)
		deadline = fs_now_usec() + (uint64_t)timeout_ms * 1000;
	while (fs_async_pending(fs) > 0) {
		ret = fs_async_round(fs, left);
		if (ret < 0)
			return ret;
		if (timeout_ms == 0)
			break;
		if (any_progress && fs->async_done_seq != done_seq)
			break;
		if (timeout_ms > 0) {
			left = ms_left(deadline);
			if (left == 0)
				break;
		}
	}
	return (int)fs_async_pending(fs);
}

int fs_wait_async(struct fs *fs, int timeout_ms)
{
	return wait_async(fs, timeout_ms, false);
}

int fs_wait_async_any(struct fs *fs, int timeout_ms)
{
	return wait_async(fs, timeout_ms, true);
}
