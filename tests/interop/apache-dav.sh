#!/bin/bash
# Runs the conformance suite over the WebDAV driver against Apache httpd
# with mod_dav and mod_dav_fs (Debian's apache2), which this script
# configures and starts itself:
#
#   apache-dav.sh CONFORMANCE-BINARY [TEST-GLOB]
#
# The server gets its own configuration (no system configuration is read),
# a ServerRoot in a temporary directory, Listen 127.0.0.1 on a free port, a
# Digest realm (htdigest) at /digest/ and a Basic one (htpasswd) at
# /basic/, and runs in the foreground as an unprivileged process tree: as
# the calling user, or, when that is root, as nobody (through setpriv). It
# is stopped by the PID this script started, never by name. The suite runs
# in full over Digest, and its write and metadata tests over Basic; then
# no temporary object of libfs (or of mod_dav_fs) may be left in the
# served directory. Without apache2, its modules or htdigest, the test is
# skipped with a notice (exit 77).
set -u

conformance=${1:?usage: apache-dav.sh CONFORMANCE-BINARY [TEST-GLOB]}
glob=${2:-}
user=libfs
password='dav pass'
modules=/usr/lib/apache2/modules

skip() {
	echo "SKIP: $*"
	exit 77
}

httpd=$(command -v apache2 || command -v /usr/sbin/apache2 || true)
[ -n "$httpd" ] || skip "apache2 is not installed (Debian: apt-get install apache2)"
for m in dav dav_fs auth_digest auth_basic authn_file authn_core authz_core \
	authz_user mpm_event; do
	[ -f "$modules/mod_$m.so" ] || skip "no $modules/mod_$m.so"
done
for t in htpasswd htdigest; do
	command -v "$t" >/dev/null || skip "$t is not installed (apache2-utils)"
done

root=$(mktemp -d "${TMPDIR:-/tmp}/libfs-apache-XXXXXX") || exit 1
pid=

cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$root"
}
trap cleanup EXIT

mkdir -p "$root/data/digest" "$root/data/basic" "$root/logs" "$root/run"
htpasswd -bc "$root/htpasswd" "$user" "$password" >/dev/null 2>&1 ||
	exit 1
# htdigest only reads the password from the terminal: the same line
# (user:realm:MD5(user:realm:password)) written here.
printf '%s:libfs:%s\n' "$user" \
	"$(printf '%s' "$user:libfs:$password" | md5sum | cut -d' ' -f1)" \
	>"$root/htdigest"

run_as=()
if [ "$(id -u)" -eq 0 ]; then
	command -v setpriv >/dev/null ||
		skip "running as root without setpriv to drop privileges"
	chown -R nobody:nogroup "$root"
	run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi

write_config() {
	cat >"$root/httpd.conf" <<EOF
ServerRoot "$root"
ServerName 127.0.0.1
Listen 127.0.0.1:$1
PidFile "$root/run/httpd.pid"
ErrorLog "$root/logs/error.log"
LogLevel warn
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authn_core_module $modules/mod_authn_core.so
LoadModule authn_file_module $modules/mod_authn_file.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule authz_user_module $modules/mod_authz_user.so
LoadModule auth_basic_module $modules/mod_auth_basic.so
LoadModule auth_digest_module $modules/mod_auth_digest.so
LoadModule dav_module $modules/mod_dav.so
LoadModule dav_fs_module $modules/mod_dav_fs.so
ServerLimit 2
StartServers 1
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 32
Timeout 60
DAVLockDB "$root/run/davlock"
DocumentRoot "$root/data"
<Directory "$root/data">
  Require all denied
</Directory>
<Directory "$root/data/digest">
  Dav On
  AuthType Digest
  AuthName "libfs"
  AuthDigestProvider file
  AuthUserFile "$root/htdigest"
  Require valid-user
</Directory>
<Directory "$root/data/basic">
  Dav On
  AuthType Basic
  AuthName "libfs"
  AuthBasicProvider file
  AuthUserFile "$root/htpasswd"
  Require valid-user
</Directory>
EOF
	chmod 644 "$root/httpd.conf"
}

# A free port: the kernel's pick for a socket bound and released.
free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	else
		echo $((20000 + RANDOM % 40000))
	fi
}

start_httpd() {
	local port tries

	for tries in 1 2 3 4 5; do
		port=$(free_port)
		write_config "$port"
		"${run_as[@]}" "$httpd" -f "$root/httpd.conf" -DFOREGROUND \
			>"$root/logs/stdout" 2>&1 &
		pid=$!
		for _ in $(seq 1 50); do
			if ! kill -0 "$pid" 2>/dev/null; then
				wait "$pid" 2>/dev/null
				pid=
				break
			fi
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				base="127.0.0.1:$port"
				return 0
			fi
			sleep 0.1
		done
		[ -n "$pid" ] && break
	done
	cat "$root/logs/stdout" "$root/logs/error.log" 2>/dev/null
	echo "apache2 did not start"
	return 1
}

start_httpd || exit 1
echo "$("$httpd" -v | head -1) on $base (pid $pid, as $(id -un "$(stat -c %u "$root")"))"

export LIBFS_DAV_PASSWORD="$password"
status=0
"$conformance" "dav+http://$user@$base/digest/" ${glob:+"$glob"} || status=1
if [ -z "$glob" ]; then
	for t in test_roundtrip_sizes test_create_replace test_metadata \
		test_copy test_rename; do
		"$conformance" "dav+http://$user@$base/basic/?auth=basic" "$t" \
			>"$root/logs/basic.txt" 2>&1 ||
			{ cat "$root/logs/basic.txt"; status=1; }
	done
	echo "Basic: write, metadata, copy and rename tests run"
fi

left=$(find "$root/data" -name '.libfs-*' -o -name '.davfs.tmp*' | head)
if [ -n "$left" ]; then
	echo "temporary objects left behind:"
	echo "$left"
	status=1
fi
if grep -q -E '\[(core|mpm_event):(error|crit|alert|emerg)' \
	"$root/logs/error.log"; then
	grep -E '\[(core|mpm_event):(error|crit|alert|emerg)' \
		"$root/logs/error.log" | head
fi
exit $status
