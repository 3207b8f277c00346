/*
 * The built-in drivers. Adding a driver is one folder and one line here.
 *
 * The optional drivers are compiled in when the build defines their
 * LIBFS_DRIVER_* macro (set by CMakeLists.txt next to the driver's sources).
 */
#include <string.h>

#include "fs-private.h"

#ifdef LIBFS_DRIVER_S3
extern const struct fs_driver fs_driver_s3;
#endif
#ifdef LIBFS_DRIVER_DAV
extern const struct fs_driver fs_driver_dav;
#endif
#ifdef LIBFS_DRIVER_MOGILEFS
extern const struct fs_driver fs_driver_mogilefs;
#endif
#ifdef LIBFS_DRIVER_CACHE
extern const struct fs_driver fs_driver_cache;
#endif
#ifdef LIBFS_DRIVER_FAULTS
extern const struct fs_driver fs_driver_faults;
#endif

static const struct fs_driver *const fs_drivers[] = {
	&fs_driver_posix,    &fs_driver_mem,
#ifdef LIBFS_DRIVER_S3
	&fs_driver_s3,
#endif
#ifdef LIBFS_DRIVER_DAV
	&fs_driver_dav,
#endif
#ifdef LIBFS_DRIVER_MOGILEFS
	&fs_driver_mogilefs,
#endif
#ifdef LIBFS_DRIVER_CACHE
	&fs_driver_cache,
#endif
#ifdef LIBFS_DRIVER_FAULTS
	&fs_driver_faults,
#endif
};

/* Schemes libfs knows; when their driver is not in the table above, fs_init()
   says "not built" (-ENOTSUP) instead of "unknown" (-EINVAL). */
static const char *const fs_known_schemes[] = {
	"s3", "dav+http", "dav+https", "mogilefs", "cache", "faults",
};

#ifdef LIBFS_UNIT_TESTING
const struct fs_driver *fs_driver_test_extra;
#endif

static bool driver_answers(const struct fs_driver *driver, const char *scheme)
{
	const char *const *alias;

	if (strcmp(driver->name, scheme) == 0)
		return true;
	for (alias = driver->aliases; alias != NULL && *alias != NULL;
	     alias++) {
		if (strcmp(*alias, scheme) == 0)
			return true;
	}
	return false;
}

const struct fs_driver *fs_driver_lookup(const char *scheme)
{
	size_t i;

	for (i = 0; i < sizeof(fs_drivers) / sizeof(fs_drivers[0]); i++) {
		if (driver_answers(fs_drivers[i], scheme))
			return fs_drivers[i];
	}
#ifdef LIBFS_UNIT_TESTING
	if (fs_driver_test_extra != NULL &&
	    driver_answers(fs_driver_test_extra, scheme))
		return fs_driver_test_extra;
#endif
	return NULL;
}

bool fs_driver_not_built(const char *scheme)
{
	size_t i;

	for (i = 0; i < sizeof(fs_known_schemes) / sizeof(fs_known_schemes[0]);
	     i++) {
		if (strcmp(fs_known_schemes[i], scheme) == 0)
			return fs_driver_lookup(scheme) == NULL;
	}
	return false;
}
