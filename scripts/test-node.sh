#!/usr/bin/env bash
# Run the Node test tier (tests/node/*.test.mjs): Foxglove's own TypeScript libraries against the
# real gateway binary. Fails (never skips) when the binary is missing or the server misbehaves.
#
# Usage: scripts/test-node.sh [node --test args...]
#   GATEWAY_BIN  gateway binary (default: target/debug/foxglove_gateway; build with `cargo build --no-default-features`)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo/tests/node"

if [[ ! -d node_modules ]]; then
  npm ci --no-audit --no-fund
fi

bin="${GATEWAY_BIN:-$repo/target/debug/foxglove_gateway}"
if [[ ! -x "$bin" ]]; then
  # The tests would fail on this too; say it once, plainly, and fail.
  echo "test-node.sh: gateway binary $bin is missing or not executable (run \`cargo build --no-default-features\` or set GATEWAY_BIN)" >&2
  exit 1
fi

shopt -s nullglob
tests=(./*.test.mjs)
if (( ${#tests[@]} == 0 )); then
  echo "test-node.sh: no *.test.mjs files in tests/node" >&2
  exit 1
fi

# One file at a time: each starts its own gateway(s) and the machine is small.
exec node --test --test-concurrency=1 "$@" "${tests[@]}"
