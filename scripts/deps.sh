#!/bin/sh
# Installs the Debian packages patron needs to build, test and benchmark, but only those missing.
# Runs apt-get when root; otherwise prints the apt-get line to run and fails.
set -eu
PKGS="build-essential pkg-config libsqlite3-dev libpq-dev libmicrohttpd-dev libjansson-dev
 libsodium-dev libcurl4-openssl-dev libcmocka-dev libcsv-dev libnlopt-dev tzdata sqlite3"
case "${1:-build}" in
build) ;;
test) PKGS="$PKGS postgresql python3-pytest python3-requests python3-yaml python3-aiosmtpd" ;;
bench) PKGS="$PKGS wrk postgresql python3-aiosmtpd" ;;
fuzz) PKGS="$PKGS clang" ;;
*) echo "usage: deps.sh [build|test|bench|fuzz]" >&2; exit 2 ;;
esac
# The web pages are bundled with npm's esbuild: Debian's nodejs and npm, unless
# a Node.js with npm is already installed.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
test_web=""
[ "${1:-build}" = test ] && test_web="chromium"
PKGS="$PKGS $test_web"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "patron needs:$missing" >&2
    echo "run: sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || apt-get update
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
