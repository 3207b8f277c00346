#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds an application
# against it through pkg-config, shared and static, then runs both.
# Usage: check.sh BUILD_DIR
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/libfs/fs.h include/libfs/driver.h bin/fsctl; do
	[ -e "$prefix/$f" ] || { echo "missing $f" >&2; exit 1; }
done
pcdir=$(dirname "$(find "$prefix" -name libfs.pc)")
libdir=$(dirname "$(find "$prefix" -name 'libfs.so' | head -1)")
[ -e "$libdir/libfs.a" ] || { echo "missing libfs.a" >&2; exit 1; }
cat >"$prefix/app.c" <<'C'
#include <libfs/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
	struct fs *fs;
	struct fs_file *file;
	const char *error;
	void *data;
	size_t size;

	if (argc < 2 || fs_init(argv[1], NULL, &fs, &error) < 0)
		return 2;
	if (fs_file_init(fs, "a/b", FS_OPEN_CREATE, &file) < 0 ||
	    fs_write_all(file, "hello", 5) < 0)
		return 1;
	fs_file_deinit(&file);
	if (fs_file_init(fs, "a/b", FS_OPEN_READ, &file) < 0 ||
	    fs_read_all(file, &data, &size) < 0 || size != 5 ||
	    memcmp(data, "hello", 5) != 0)
		return 1;
	printf("%s ok\n", fs_version());
	free(data);
	fs_file_deinit(&file);
	fs_deinit(&fs);
	return 0;
}
C
export PKG_CONFIG_PATH=$pcdir
# The .pc file names the configured prefix; point it at the temporary one.
pkgconf() { pkg-config --define-variable=prefix="$prefix" "$@"; }
cc -std=c11 -Wall -Werror ${APP_CFLAGS:-} -o "$prefix/app" "$prefix/app.c" \
	$(pkgconf --cflags --libs libfs)
LD_LIBRARY_PATH=$libdir "$prefix/app" "posix:$prefix/store"
cc -std=c11 -Wall -Werror ${APP_CFLAGS:-} -o "$prefix/app-static" "$prefix/app.c" \
	$(pkgconf --cflags libfs) "$libdir/libfs.a" \
	$(pkg-config --libs $(pkgconf --print-requires-private libfs)) -lpthread
"$prefix/app-static" "mem:"
"$prefix/bin/fsctl" --version >/dev/null
echo "install: headers, shared and static library, pkg-config, fsctl: ok"
