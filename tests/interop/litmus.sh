#!/bin/bash
# Holds the mock server's WebDAV front end to Debian's litmus (the WebDAV
# compliance suite built on neon): the basic, copymove and props suites,
# with Basic, with Digest and with both offered. Every test litmus runs
# must pass.
#
#   litmus.sh FS-MOCKSERVER
#
# The server runs on 127.0.0.1 with an ephemeral port over a posix store in
# a temporary directory, and is stopped by the PID this script started.
# Where litmus is not installed the test is skipped with a notice (exit 77).
set -u

mockserver=${1:?usage: litmus.sh FS-MOCKSERVER}
user=litmus
password='lit mus'

if ! command -v litmus >/dev/null; then
	echo "SKIP: litmus is not installed (Debian: apt-get install litmus)"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/libfs-litmus-XXXXXX") || exit 1
pid=

stop_server() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=
	fi
}

cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT

# Starts the server with authentication $1; sets url.
start_server() {
	rm -rf "$work/data" "$work/out"
	"$mockserver" --dav --dav-auth "$1" --data "$work/data" \
		--access-key "$user" --secret-key "$password" \
		>"$work/out" 2>"$work/err" &
	pid=$!
	url=
	for _ in $(seq 1 100); do
		url=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$work/out")
		[ -n "$url" ] && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$work/err"
			echo "fs-mockserver exited before listening"
			pid=
			return 1
		fi
		sleep 0.1
	done
	echo "fs-mockserver did not say where it listens"
	return 1
}

status=0
for auth in basic digest any; do
	start_server "$auth" || exit 1
	# litmus writes debug.log into its working directory
	log="$work/litmus-$auth.txt"
	(cd "$work" && TESTS="basic copymove props" timeout 300 \
		litmus "$url/" "$user" "$password") >"$log" 2>&1
	ret=$?
	stop_server
	# litmus redraws each test's line after a carriage return
	tr '\r' '\n' <"$log" | grep -E '^<- summary|FAIL' | sed "s/^/$auth: /"
	summaries=$(grep -c '^<- summary for' "$log")
	if [ "$ret" -ne 0 ] || [ "$summaries" -ne 3 ] ||
		tr '\r' '\n' <"$log" | grep -q -E 'FAIL|SKIPPED' ||
		grep '^<- summary for' "$log" | grep -v -q ' 0 failed'; then
		echo "litmus with $auth authentication: not every test passed"
		tr '\r' '\n' <"$log" | grep -v -E '\.\.\.\.+ *$' | tail -40
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "litmus: basic, copymove and props pass" \
	"with Basic, Digest and both"
exit $status
