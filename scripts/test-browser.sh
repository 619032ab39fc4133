#!/usr/bin/env bash
# Run the browser tier (tests/browser/*.test.mjs): the real Foxglove Studio web app
# (@foxglove/studio-base 1.48) in Debian's headless chromium against `foxglove_gateway --demo`.
# Fails (never skips) when the binary, chromium or the npm packages are missing.
# Screenshots and console logs land in test-output/browser/ (cleared first; keep it as a CI
# artifact); a failed step leaves FAILED-<step>.png there.
#
# Usage: scripts/test-browser.sh [node --test args...]
#   GATEWAY_BIN          gateway binary (default: target/debug/foxglove_gateway; `cargo build --no-default-features`)
#   CHROMIUM_BIN         browser (default: /usr/bin/chromium; `apt-get install chromium`)
#   BROWSER_TEST_OUTPUT  where screenshots go (default: test-output/browser)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo/tests/browser"

if [[ ! -d node_modules ]]; then
  npm ci --no-audit --no-fund
fi

bin="${GATEWAY_BIN:-$repo/target/debug/foxglove_gateway}"
if [[ ! -x "$bin" ]]; then
  echo "test-browser.sh: gateway binary $bin is missing or not executable (run \`cargo build --no-default-features\` or set GATEWAY_BIN)" >&2
  exit 1
fi
chromium="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "test-browser.sh: $chromium is missing (apt-get install chromium, or set CHROMIUM_BIN)" >&2
  exit 1
fi

out="${BROWSER_TEST_OUTPUT:-$repo/test-output/browser}"
mkdir -p "$out"
# Only what this tier writes: a stale FAILED-*.png from an earlier run must not mislead.
rm -f "$out"/*.png "$out"/*.console.txt
export BROWSER_TEST_OUTPUT="$out"

shopt -s nullglob
tests=(./*.test.mjs)
if (( ${#tests[@]} == 0 )); then
  echo "test-browser.sh: no *.test.mjs files in tests/browser" >&2
  exit 1
fi

# One file at a time: each starts its own gateway and browser, and the machine is small.
exec node --test --test-concurrency=1 "$@" "${tests[@]}"
