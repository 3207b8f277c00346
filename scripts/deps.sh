



set -euo pipefail

packages=(
	build-essential
	cmake
	pkg-config
	valgrind
	libcmocka-dev
	libssl-dev
	libcurl4-openssl-dev
	libmicrohttpd-dev
	libxml2-dev
	zlib1g-dev
	awscli
	s3cmd
	libs3-dev
	apache2
	apache2-utils
	openssl
	litmus
	rclone
)

missing=()
for p in "${packages[@]}"; do
	[[ $p == \#* ]] && continue
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "libfs: missing Debian packages; run as root:" >&2
	echo "  apt-get update && $cmd" >&2
	exit 1
fi
echo "libfs: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
	apt-get update -qq
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
