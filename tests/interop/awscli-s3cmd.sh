#!/bin/bash
# Holds the mock server to real S3 clients: Debian's awscli (/usr/bin/aws,
# never another "aws" on PATH) and s3cmd (SigV4, then SigV2) put, get, list,
# upload a 20 MiB file in 5 MiB parts, copy and delete, and the bytes must
# come back identical.
#
#   tests/interop/awscli-s3cmd.sh BUILD/mockserver/fs-mockserver
#
# Exits 77 (ctest: skipped) with a visible notice where the clients are
# missing; CI installs them (Debian packages awscli s3cmd). Talks to the
# mock on 127.0.0.1 only: a temporary HOME holds fake credentials and
# config, and the instance metadata service is disabled.
set -euo pipefail

MOCK=${1:?usage: $0 PATH/TO/fs-mockserver}
AWS=/usr/bin/aws
S3CMD=/usr/bin/s3cmd

if [ ! -x "$AWS" ] || [ ! -x "$S3CMD" ]; then
	echo "SKIP: $AWS or $S3CMD not installed (apt-get install awscli s3cmd)"
	exit 77
fi

WORK=$(mktemp -d /tmp/mock-interop.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

step() {
	echo "== $*"
}

fail() {
	echo "FAIL: $*" >&2
	if [ -s "$WORK/server.err" ]; then
		echo "--- server log (last lines):" >&2
		tail -n 20 "$WORK/server.err" >&2
	fi
	exit 1
}

# --- The server --------------------------------------------------------------

: >"$WORK/server.out"
"$MOCK" --listen 127.0.0.1:0 --data "$WORK/data" --verbose \
	>"$WORK/server.out" 2>"$WORK/server.err" &
PID=$!
URL=
for _ in $(seq 1 100); do
	URL=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' \
		"$WORK/server.out")
	[ -n "$URL" ] && break
	kill -0 "$PID" 2>/dev/null || fail "fs-mockserver exited early"
	sleep 0.1
done
[ -n "$URL" ] || fail "fs-mockserver did not say where it listens"
HOSTPORT=${URL#http://}
echo "mock server at $URL (pid $PID)"

# --- A private environment: fake credentials, no AWS endpoint ---------------

export HOME="$WORK/home"
mkdir -p "$HOME/.aws"
for v in $(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p'); do
	unset "$v"
done
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$HOME/.aws/config"
export AWS_SHARED_CREDENTIALS_FILE="$HOME/.aws/credentials"
export AWS_PAGER=
cat >"$AWS_CONFIG_FILE" <<EOF
[default]
region = us-east-1
output = json
s3 =
  multipart_threshold = 5MB
  multipart_chunksize = 5MB
EOF
cat >"$AWS_SHARED_CREDENTIALS_FILE" <<EOF
[default]
aws_access_key_id = test
aws_secret_access_key = test
EOF

aws() {
	"$AWS" --endpoint-url "$URL" "$@"
}

s3cmd_config() {
	cat >"$WORK/s3cmd-$1.cfg" <<EOF
[default]
access_key = test
secret_key = test
host_base = $HOSTPORT
host_bucket = $HOSTPORT
use_https = False
check_ssl_certificate = False
signature_v2 = $2
bucket_location = us-east-1
multipart_chunk_size_mb = 5
progress_meter = False
EOF
}

s3c() {
	local cfg=$1
	shift
	"$S3CMD" -c "$WORK/s3cmd-$cfg.cfg" "$@"
}

# --- Test data ---------------------------------------------------------------

head -c 1500 /dev/urandom >"$WORK/small.bin"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$WORK/big.bin"

same() {
	cmp -s "$1" "$2" || fail "$3: bytes differ"
}

# --- awscli ------------------------------------------------------------------

step "awscli: make bucket, put small and 20 MiB (multipart) objects"
aws s3 mb s3://awscli >/dev/null
aws s3 cp "$WORK/small.bin" s3://awscli/dir/small.bin >/dev/null
aws s3 cp "$WORK/big.bin" s3://awscli/dir/big.bin >/dev/null
etag=$(aws s3api head-object --bucket awscli --key dir/big.bin \
	--query ETag --output text)
case "$etag" in
*-4\") ;;
*) fail "awscli: big.bin should be a 4-part upload, ETag $etag" ;;
esac

step "awscli: list"
aws s3 ls s3://awscli/dir/ >"$WORK/ls.txt"
grep -q ' small.bin$' "$WORK/ls.txt" || fail "awscli ls: no small.bin"
grep -q ' big.bin$' "$WORK/ls.txt" || fail "awscli ls: no big.bin"
for i in $(seq 1 12); do
	aws s3api put-object --bucket awscli --key "many/key $i" \
		--body "$WORK/small.bin" >/dev/null
done
# Pages of 5: the keys come in 3 requests, one per line here.
for api in list-objects-v2 list-objects; do
	aws s3api $api --bucket awscli --prefix many/ --page-size 5 \
		--query 'Contents[].[Key]' --output text >"$WORK/keys.txt"
	n=$(grep -c '^many/key [0-9]*$' "$WORK/keys.txt")
	[ "$n" = 12 ] || fail "awscli $api paged: $n keys, not 12"
done
aws s3 ls s3://awscli/ >"$WORK/ls.txt"
grep -q 'PRE dir/' "$WORK/ls.txt" || fail "awscli ls: no dir/ prefix"

step "awscli: get, compare bytes"
aws s3 cp s3://awscli/dir/small.bin "$WORK/small.out" >/dev/null
same "$WORK/small.bin" "$WORK/small.out" "awscli small get"
aws s3 cp s3://awscli/dir/big.bin "$WORK/big.out" >/dev/null
same "$WORK/big.bin" "$WORK/big.out" "awscli big get"

step "awscli: server-side copies (CopyObject and UploadPartCopy)"
aws s3 cp s3://awscli/dir/small.bin s3://awscli/copy/small.bin >/dev/null
aws s3 cp s3://awscli/dir/big.bin s3://awscli/copy/big.bin >/dev/null
aws s3 cp s3://awscli/copy/big.bin "$WORK/big.copy" >/dev/null
same "$WORK/big.bin" "$WORK/big.copy" "awscli big copy"
aws s3 cp s3://awscli/copy/small.bin "$WORK/small.copy" >/dev/null
same "$WORK/small.bin" "$WORK/small.copy" "awscli small copy"

step "awscli: metadata round trip"
aws s3api put-object --bucket awscli --key meta.txt --body "$WORK/small.bin" \
	--content-type text/x-test --metadata color=blue >/dev/null
out=$(aws s3api head-object --bucket awscli --key meta.txt \
	--query '[ContentType, Metadata.color]' --output text)
[ "$out" = "text/x-test	blue" ] || fail "awscli head-object: $out"

step "awscli: delete, recursive delete (DeleteObjects), remove bucket"
aws s3 rm s3://awscli/dir/small.bin >/dev/null
if aws s3api head-object --bucket awscli --key dir/small.bin \
	>/dev/null 2>&1; then
	fail "awscli: small.bin still there after rm"
fi
aws s3api delete-objects --bucket awscli --delete \
	'Objects=[{Key=many/key 1},{Key=many/key 2},{Key=nothing}]' \
	--query 'length(Deleted)' --output text >"$WORK/n.txt"
[ "$(cat "$WORK/n.txt")" = 3 ] || fail "awscli delete-objects: $(cat "$WORK/n.txt")"
if aws s3api head-object --bucket awscli --key "many/key 1" \
	>/dev/null 2>&1; then
	fail "awscli: many/key 1 still there after delete-objects"
fi
aws s3 rm --recursive s3://awscli/ >/dev/null
n=$(aws s3api list-objects-v2 --bucket awscli \
	--query 'length(Contents || `[]`)' --output text)
[ "$n" = 0 ] || fail "awscli: $n keys left after rm --recursive"
aws s3 rb s3://awscli >/dev/null

# --- s3cmd, SigV4 then SigV2 --------------------------------------------------

s3cmd_config v4 False
s3cmd_config v2 True
for sig in v4 v2; do
	b=s3cmd-$sig
	step "s3cmd ($sig): make bucket, put small and 20 MiB (multipart)"
	s3c $sig mb "s3://$b" >/dev/null
	s3c $sig put "$WORK/small.bin" "s3://$b/dir/small.bin" >/dev/null
	s3c $sig put "$WORK/big.bin" "s3://$b/dir/big.bin" >/dev/null

	step "s3cmd ($sig): list"
	s3c $sig ls "s3://$b/dir/" >"$WORK/ls.txt"
	grep -q "s3://$b/dir/small.bin" "$WORK/ls.txt" ||
		fail "s3cmd $sig ls: no small.bin"
	grep -q "s3://$b/dir/big.bin" "$WORK/ls.txt" ||
		fail "s3cmd $sig ls: no big.bin"
	s3c $sig ls "s3://$b/" | grep -q "DIR.*s3://$b/dir/" ||
		fail "s3cmd $sig ls: no dir/ prefix"

	step "s3cmd ($sig): get, compare bytes"
	s3c $sig get --force "s3://$b/dir/small.bin" "$WORK/small.out" \
		>/dev/null
	same "$WORK/small.bin" "$WORK/small.out" "s3cmd $sig small get"
	s3c $sig get --force "s3://$b/dir/big.bin" "$WORK/big.out" >/dev/null
	same "$WORK/big.bin" "$WORK/big.out" "s3cmd $sig big get"

	step "s3cmd ($sig): copy"
	s3c $sig cp "s3://$b/dir/small.bin" "s3://$b/copy/small.bin" \
		>/dev/null
	s3c $sig get --force "s3://$b/copy/small.bin" "$WORK/small.copy" \
		>/dev/null
	same "$WORK/small.bin" "$WORK/small.copy" "s3cmd $sig copy"

	step "s3cmd ($sig): delete, remove bucket"
	s3c $sig del "s3://$b/dir/small.bin" >/dev/null
	s3c $sig ls "s3://$b/dir/" >"$WORK/ls.txt"
	if grep -q small.bin "$WORK/ls.txt"; then
		fail "s3cmd $sig: small.bin still listed after del"
	fi
	s3c $sig del --recursive --force "s3://$b/" >/dev/null
	s3c $sig rb "s3://$b" >/dev/null
done

# --- Stop by the PID we started, check nothing is left -----------------------

step "stop the server"
kill -TERM "$PID"
status=0
wait "$PID" || status=$?
PID=
[ "$status" = 0 ] || fail "fs-mockserver exited with $status on SIGTERM"
left=$(find "$WORK/data" -type f | wc -l)
[ "$left" = 0 ] || fail "$left files left in the store: $(find "$WORK/data" -type f | head -5)"
echo "PASS: awscli and s3cmd (SigV4 and SigV2) against fs-mockserver"
