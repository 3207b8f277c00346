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
# served directory. The same server also listens with TLS (mod_ssl) on a
# second port, with a certificate for 127.0.0.1 made here by openssl: the
# write, metadata, copy and rename tests run over dav+https:// with that
# certificate as the CA (LIBFS_CONF_CA_FILE), and without it a request must
# fail certificate verification. Without apache2, its modules, htdigest or
# openssl, the test is skipped with a notice (exit 77).
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
	authz_user mpm_event ssl socache_shmcb; do
	[ -f "$modules/mod_$m.so" ] || skip "no $modules/mod_$m.so"
done
for t in htpasswd htdigest; do
	command -v "$t" >/dev/null || skip "$t is not installed (apache2-utils)"
done
command -v openssl >/dev/null || skip "openssl is not installed"


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

mkdir -p "$root/data/digest" "$root/data/basic" "$root/logs" "$root/run" \
	"$root/tls"
# A self-signed certificate for 127.0.0.1, valid for two days.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$root/tls/key.pem" \
	-out "$root/tls/cert.pem" >"$root/logs/openssl.txt" 2>&1 || {
	cat "$root/logs/openssl.txt"
	exit 1
}
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
Listen 127.0.0.1:$2 https
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
LoadModule socache_shmcb_module $modules/mod_socache_shmcb.so
LoadModule ssl_module $modules/mod_ssl.so
SSLSessionCache "shmcb:$root/run/ssl_scache(512000)"
<VirtualHost 127.0.0.1:$2>
  SSLEngine on
  SSLCertificateFile "$root/tls/cert.pem"
  SSLCertificateKeyFile "$root/tls/key.pem"
</VirtualHost>
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
	local port tls_port tries

	for tries in 1 2 3 4 5; do
		port=$(free_port)
		tls_port=$(free_port)
		[ "$tls_port" = "$port" ] && continue
		write_config "$port" "$tls_port"
		"${run_as[@]}" "$httpd" -f "$root/httpd.conf" -DFOREGROUND \
			>"$root/logs/stdout" 2>&1 &
		pid=$!
		for _ in $(seq 1 50); do
			if ! kill -0 "$pid" 2>/dev/null; then
				wait "$pid" 2>/dev/null
				pid=
				break
			fi
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
				(exec 3<>"/dev/tcp/127.0.0.1/$tls_port") \
					2>/dev/null; then
				base="127.0.0.1:$port"
				tls_base="127.0.0.1:$tls_port"
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
echo "$("$httpd" -v | head -1) on $base and https://$tls_base (pid $pid, as $(id -un "$(stat -c %u "$root")"))"

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

	# TLS: the same tests over https, trusting the server's certificate
	for t in test_roundtrip_sizes test_create_replace test_metadata \
		test_copy test_rename; do
		LIBFS_CONF_CA_FILE="$root/tls/cert.pem" "$conformance" \
			"dav+https://$user@$tls_base/digest/" "$t" \
			>"$root/logs/tls.txt" 2>&1 ||
			{ cat "$root/logs/tls.txt"; status=1; }
	done
	echo "TLS: write, metadata, copy and rename tests run over https"
	# ... and without trusting it, nothing may get through
	if "$conformance" "dav+https://$user@$tls_base/digest/" \
		test_roundtrip_sizes >"$root/logs/untrusted.txt" 2>&1; then
		echo "TLS: a server with an untrusted certificate was accepted"
		status=1
	elif ! grep -q -i 'certificate' "$root/logs/untrusted.txt"; then
		cat "$root/logs/untrusted.txt"
		echo "TLS: the failure does not name the certificate"
		status=1
	else
		echo "TLS: an untrusted certificate is refused"
	fi
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
