#!/usr/bin/env bash
# Installs what the tests need from Debian's packages when it is missing (as root, with apt-get).
set -euo pipefail
declare -A provides=([nats-server]=nats-server [sipp]=sip-tester [tshark]=tshark [mosquitto]=mosquitto [unzip]=unzip [openssl]=openssl [gcc]=gcc [pkg-config]=pkg-config [promtool]=prometheus [chromium]=chromium)
missing=()
for cmd in "${!provides[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${provides[$cmd]}")
done
# test/interop/linphone.test.ts builds a C peer against liblinphone's C API (a library: no command to look for).
pkg-config --exists linphone 2>/dev/null || missing+=(liblinphone-dev)
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "sip-pubsub tests need these Debian packages: ${missing[*]} (install them with apt-get as root)" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
