#!/usr/bin/env bash
# Installs the Debian packages the project builds and tests with, and nothing when all are present.
# Called by `make` and `make test`, so a fresh Debian 12 machine needs no other step.
set -euo pipefail

packages=(
  build-essential pkg-config clang
  libsodium-dev libnng-dev libmsgpack-dev libcmocka-dev libinih-dev libisal-dev
  iproute2 iptables procps curl python3
)

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for a package that is fully installed.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "deps.sh: missing packages (${missing[*]}) and not root and no sudo: install them by hand" >&2
  exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update first, then install, and update again
# only if the first attempt fails (stale lists naming a version no longer served).
if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
