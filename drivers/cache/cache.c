/*
 * cache: the layer's set-up, options and vtable.
 *
 * Spec: "cache:max=SIZE[,object_max=SIZE][,validate=never|etag]
 *        [,negative_ttl=DURATION][,list_ttl=DURATION]::CHILD"
 *
 *   max           bytes the cache may hold, overhead included (required)
 *   object_max    larger objects pass through uncached (default max/8)
 *   validate      etag (default): every hit is revalidated on the child with
 *                 fs_file_revalidate(), one conditional request, so another
 *                 host's change is never hidden; never: hits cost no child
 *                 call, for storage this process owns alone
 *   negative_ttl  remember "no such key" this long (default 0: off)
 *   list_ttl      keep listings this long (default 0: off)
 *
 * Durations are a number with an optional unit: ms, s (default), m or h.
 */
#include <errno.h>
#include <string.h>

#include "cache-private.h"

#define CACHE_MAX_MIN 4096

/* "250ms", "30s", "30", "5m", "1h" -> microseconds. Returns 0 or -EINVAL. */
static int parse_duration(const char *str, uint64_t *usec_r)
{
	static const struct {
		const char *suffix;
		uint64_t usec;
	} units[] = {
		{"ms", 1000},	     {"s", 1000000},	   {"", 1000000},
		{"m", 60 * 1000000}, {"h", 3600000000ull},
	};
	char digits[32];
	size_t len = strspn(str, "0123456789"), i;
	uint64_t num;

	if (len == 0 || len >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, str, len);
	digits[len] = '\0';
	if (fs_parse_uint(digits, &num) < 0)
		return -EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(str + len, units[i].suffix) != 0)
			continue;
		if (num > UINT64_MAX / units[i].usec)
			return -EINVAL;
		*usec_r = num * units[i].usec;
		return 0;
	}
	return -EINVAL;
}

static int option_error(struct cache_fs *fs, const struct fs_kv *kv)
{
	return fs_set_error(&fs->fs, -EINVAL,
			    "invalid option '%s%s%s' (known: max=SIZE, "
			    "object_max=SIZE, validate=never|etag, "
			    "negative_ttl=DURATION, list_ttl=DURATION)",
			    kv->name, kv->value[0] != '\0' ? "=" : "",
			    kv->value);
}

static int parse_option(struct cache_fs *fs, const struct fs_kv *kv,
			bool *object_max_set)
{
	int ret = -EINVAL;

	if (strcmp(kv->name, "max") == 0) {
		ret = fs_parse_size(kv->value, &fs->max);
	} else if (strcmp(kv->name, "object_max") == 0) {
		ret = fs_parse_size(kv->value, &fs->object_max);
		*object_max_set = true;
	} else if (strcmp(kv->name, "validate") == 0) {
		ret = 0;
		if (strcmp(kv->value, "etag") == 0)
			fs->validate_etag = true;
		else if (strcmp(kv->value, "never") == 0)
			fs->validate_etag = false;
		else
			ret = -EINVAL;
	} else if (strcmp(kv->name, "negative_ttl") == 0) {
		ret = parse_duration(kv->value, &fs->negative_ttl_usec);
	} else if (strcmp(kv->name, "list_ttl") == 0) {
		ret = parse_duration(kv->value, &fs->list_ttl_usec);
	}
	return ret < 0 ? option_error(fs, kv) : 0;
}

static int parse_options(struct cache_fs *fs, const char *args)
{
	bool object_max_set = false;
	struct fs_kv *kv;
	int i, count, ret = 0;

	fs->validate_etag = true;
	count = fs_kv_split(args, ',', &kv);
	if (count < 0)
		return fs_set_error(&fs->fs, count, "malformed options '%s'",
				    args);
	for (i = 0; i < count && ret == 0; i++)
		ret = parse_option(fs, &kv[i], &object_max_set);
	fs_kv_free(kv, count);
	if (ret < 0)
		return ret;
	if (fs->max < CACHE_MAX_MIN)
		return fs_set_error(&fs->fs, -EINVAL,
				    "max=SIZE is required and at least %d "
				    "bytes",
				    CACHE_MAX_MIN);
	if (!object_max_set)
		fs->object_max = fs->max / 8;
	if (fs->object_max > fs->max)
		return fs_set_error(&fs->fs, -EINVAL,
				    "object_max is larger than max");
	return 0;
}

static int cache_init(struct fs *_fs, const char *scheme, const char *args)
{
	struct cache_fs *fs = CACHE_FS(_fs);
	int ret;

	ret = parse_options(fs, args);
	if (ret < 0)
		return ret;
	if (cache_store_init(fs) < 0)
		return fs_set_error(_fs, -ENOMEM, "out of memory");
	return 0;
}

static void cache_deinit(struct fs *_fs)
{
	cache_store_deinit(CACHE_FS(_fs));
}

static int cache_file_init(struct fs_file *_file)
{
	/* the child's file is opened when first needed: a hit never asks the
	   child anything, not even to open a handle. Appends are not copied:
	   the cache does not know what they append to. */
	CACHE_FILE(_file)->wcopy_ok =
		_file->mode == FS_OPEN_CREATE || _file->mode == FS_OPEN_REPLACE;
	return 0;
}

static void cache_file_deinit(struct fs_file *_file)
{
	struct cache_file *file = CACHE_FILE(_file);

	cache_write_deinit(file);
	cache_read_deinit(file);
	cache_fill_unregister(CACHE_FS(_file->fs), file);
	if (_file->parent != NULL)
		fs_passthrough_file_deinit(_file);
}

const struct fs_driver fs_driver_cache = {
	.version = FS_DRIVER_VERSION,
	.name = "cache",
	.layer = true,
	.fs_size = sizeof(struct cache_fs),
	.file_size = sizeof(struct cache_file),
	.iter_size = sizeof(struct cache_iter),
	.v =
		{
			.init = cache_init,
			.deinit = cache_deinit,
			.get_caps = fs_passthrough_get_caps,
			.file_init = cache_file_init,
			.file_deinit = cache_file_deinit,
			.read = cache_read,
			.write = cache_write,
			.write_finish = cache_write_finish,
			.write_abort = cache_write_abort,
			.stat = cache_stat,
			.exists = cache_exists,
			.get_metadata = cache_get_metadata,
			.delete_file = cache_delete,
			.copy = cache_copy,
			.rename = cache_rename,
			.iter_init = cache_iter_init,
			.iter_next = cache_iter_next,
			.iter_deinit = cache_iter_deinit,
			.delete_prefix = cache_delete_prefix,
			.revalidate = cache_revalidate,
		},
};
