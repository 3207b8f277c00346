#!/usr/bin/env bash
# Runs every unit test program and the conformance suite over each ctest
# spec under valgrind memcheck; fails on any error or leak.
# Usage: scripts/valgrind.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect,possible --track-fds=no)
failed=0
run() {
	local name=$1
	shift
	if "${vg[@]}" "$@" >"$build/valgrind-$name.log" 2>&1; then
		echo "valgrind: $name: clean"
	else
		echo "valgrind: $name: FAILED (log: $build/valgrind-$name.log)"
		tail -30 "$build/valgrind-$name.log"
		failed=1
	fi
}
# test_fsctl runs fsctl as child processes; its own fork/exec is covered by
# the ASan pass.
for t in "$build"/tests/test_*; do
	name=$(basename "$t")
	[ "$name" = test_fsctl ] && continue
	run "$name" "$t"
done
# The conformance specs ctest knows, with a small big-object size.
export LIBFS_CONF_BIG_MIB=4
while read -r name spec; do
	run "conformance-$name" "$build/tests/conformance/conformance" "$spec"
done < <(sed -n 's/^libfs_conformance(\([a-z0-9-]*\) "\([^"]*\)".*/\1 \2/p' \
	tests/conformance/CMakeLists.txt)
# The suite over drivers whose server runs in the same process.
for w in "conformance/conformance-mock s3-path" \
	"conformance/conformance-mock s3-cache" "conformance-mogilefs one" \
	"conformance-mogilefs faults" "conformance-dav dav"; do
	set -- $w
	[ -x "$build/tests/$1" ] || continue
	run "$(basename "$1")-$2" "$build/tests/$1" "$2"
done
exit $failed
