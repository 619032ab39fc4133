#!/usr/bin/env bash
# The abuse tier (issue 11): attacks 1-7 replayed against the release gateway running --demo on
# loopback, by examples/abuse. For each attack it checks the bound, what the attacker is told
# (status, HTTP status or close code naming the limit), that a bystander viewer keeps >= 90 % of
# its /odom rate, that RSS stays under the attack's stated ceiling and returns near the
# pre-attack value within 10 s; then the idle cost of 10,000 viewers. One PASS/FAIL line per
# check, then "# pass N" / "# fail N" (counted by scripts/test-all.sh). About 2 minutes.
#
# Usage: scripts/test-abuse.sh [--only 1..7|idle]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --no-default-features --bin foxglove_gateway --example abuse

# 10,000 sockets in the attacker and as many in the second gateway (one process each).
need=11000
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt "$need" ]]; then
  echo "test-abuse.sh: needs $need open files per process; the hard limit is $(ulimit -Hn)" >&2
  exit 1
fi

exec timeout 600 target/release/examples/abuse --gateway target/release/foxglove_gateway "$@"
