#!/bin/bash
# Runs every scenario of fs-bench-mail the way the figures on issue 6 are
# taken, one program run per scenario (peers measured in the same run):
#
#   run-mail-bench.sh BUILD-DIR [--quick] [--install-s3rver] [-- OPTION...]
#
#   1. mail, in-process mock, 0 ms           (1000 messages, 3 rounds)
#   2. mail, in-process mock, 20 ms latency  (200 messages, 1 round)
#   3. mail, against s3rver                  (300 messages, 1 round), when
#      s3rver is installed in BUILD-DIR/s3rver (tests/interop/s3rver.sh
#      puts it there; --install-s3rver does the same npm install here);
#      skipped with a notice otherwise
#   4. sync of 5,000 mails: fsctl sync -j 32 against aws s3 cp, s3cmd sync,
#      rclone copy and raw libcurl (the tools that are not installed are
#      skipped with a notice: apt-get install -y rclone)
#   5. big: 1 GiB streamed up and down, peak RSS per client
#   6. cache: hits against misses at 1 ms latency
#
# --quick runs the smallest version of each (what ctest's bench/mail-smoke
# runs). Options after "--" go to every run. The exit status is the worst
# of the runs: 0 all verified, 1 a client failed, 2 a run could not start.
set -u

usage="usage: run-mail-bench.sh BUILD-DIR [--quick] [--install-s3rver] [-- OPTION...]"
build=${1:?$usage}
shift
quick=
install=
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=--smoke ;;
	--install-s3rver) install=1 ;;
	--) shift; break ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
	shift
done
extra=("$@")

bench="$build/bench/fs-bench-mail"
[ -x "$bench" ] || { echo "no $bench: build the project first" >&2; exit 2; }

status=0
run() {
	local ret
	echo
	echo "### fs-bench-mail $*"
	"$bench" "$@" ${quick:+"$quick"} "${extra[@]}"
	ret=$?
	[ $ret -gt $status ] && status=$ret
	return 0
}

# --- s3rver, an independent S3 implementation (Node.js) ---

s3rver_dir="$build/s3rver"
s3rver_bin="$s3rver_dir/node_modules/s3rver/bin/s3rver.js"
s3rver_pid=
s3rver_data=

s3rver_stop() {
	if [ -n "$s3rver_pid" ]; then
		kill "$s3rver_pid" 2>/dev/null
		wait "$s3rver_pid" 2>/dev/null
	fi
	s3rver_pid=
	[ -n "$s3rver_data" ] && rm -rf "$s3rver_data" "$s3rver_data.log"
	s3rver_data=
}
trap s3rver_stop EXIT

s3rver_install() {
	command -v npm >/dev/null || { echo "npm is not installed"; return 1; }
	mkdir -p "$s3rver_dir" || return 1
	npm install --no-save --no-package-lock --prefix "$s3rver_dir" \
		s3rver@3.7.1 >"$s3rver_dir/npm.log" 2>&1 ||
		{ tail -5 "$s3rver_dir/npm.log"; return 1; }
}

# Starts s3rver on a free port, in this shell (not a command substitution,
# so that s3rver_stop knows its pid); sets s3rver_port.
s3rver_port=
s3rver_start() {
	local i
	s3rver_port=
	s3rver_data=$(mktemp -d "${TMPDIR:-/tmp}/fs-bench-s3rver-XXXXXX") ||
		return 1
	# Node 20 needs the legacy provider for s3rver's DES tokens.
	node --openssl-legacy-provider "$s3rver_bin" -d "$s3rver_data" \
		-a 127.0.0.1 -p 0 >"$s3rver_data.log" 2>&1 &
	s3rver_pid=$!
	for i in $(seq 1 100); do
		s3rver_port=$(sed -n \
			's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
			"$s3rver_data.log" | head -1)
		[ -n "$s3rver_port" ] && return 0
		kill -0 "$s3rver_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$s3rver_data.log"
	return 1
}

run_s3rver() {
	local port
	if [ ! -f "$s3rver_bin" ] && [ -n "$install" ]; then
		s3rver_install || echo "NOTICE: installing s3rver failed"
	fi
	if [ ! -f "$s3rver_bin" ] || ! command -v node >/dev/null; then
		echo
		echo "### NOTICE: mail against s3rver skipped: no $s3rver_bin" \
			"(tests/interop/s3rver.sh or --install-s3rver installs it)"
		return 0
	fi
	if ! s3rver_start; then
		echo "### NOTICE: mail against s3rver skipped: it did not start"
		s3rver_stop
		return 0
	fi
	port=$s3rver_port
	# s3rver's fixed credentials; it has no request counters and no
	# fault rules (no latency). Flat keys: s3rver 3.7.1 fails parallel
	# deletes in one directory (it removes emptied ones without a lock).
	# No libs3: s3rver checks Signature Version 2 of a bucket request
	# (the listing) against "/bucket" where libs3 2.0 and S3 sign
	# "/bucket/", so every libs3 LIST fails with SignatureDoesNotMatch.
	echo
	echo "### NOTICE: against s3rver without libs3: s3rver 3.7.1 refuses" \
		"libs3's V2-signed listings (SignatureDoesNotMatch)"
	run --scenario mail --endpoint "http://127.0.0.1:$port" \
		--access-key S3RVER --secret-key S3RVER --flat-keys \
		--clients curl,libfs "${s3rver_sizes[@]}"
	s3rver_stop
}

# Smaller workloads where every request waits, or the server is slow; the
# smoke sizes of --quick are smaller still.
latency_sizes=(--mails 200 --index-rounds 2 --lists 32 --rounds 1 --warmup 32)
s3rver_sizes=(--mails 300 --rounds 1 --warmup 32)
if [ -n "$quick" ]; then
	latency_sizes=()
	s3rver_sizes=()
fi

echo "fs-bench-mail on $(uname -n), $(nproc) CPUs, $(date -u +%FT%TZ)"
run --scenario mail
run --scenario mail --latency 20 "${latency_sizes[@]}"
run_s3rver
run --scenario sync
run --scenario big
run --scenario cache
echo
echo "### all runs done, exit status $status"
exit $status
