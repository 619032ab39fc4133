#!/usr/bin/env bash
# The throughput/latency benchmark: foxglove_gateway vs the Foxglove SDK server vs a bare
# WebSocket loopback ceiling, measured by one Rust receiver. See docs/BENCHMARK.md.
#
#   scripts/bench.sh                 # every workload, 3 rounds (~6 min on 2 cores)
#   scripts/bench.sh --rounds 1      # a quick look
#   scripts/bench.sh --sizes 100     # only the 100 B workloads
#
# Prints a Markdown report and writes it to benches/compare/results/<UTC time>.md (plus a .csv of
# every single run) and benches/compare/results/latest.md. Extra arguments go to `gateway-bench run`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
crate="$root/benches/compare"
results="$crate/results"
mkdir -p "$results"

# Its own workspace and target dir: the comparator never enters the gateway's normal build.
cargo build --release --manifest-path "$crate/Cargo.toml"

load="$(cut -d' ' -f1 /proc/loadavg)"
cores="$(nproc)"
if awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l > c) }'; then
    echo "warning: load average $load on $cores cores: other work will distort the numbers" >&2
fi

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$results/$stamp.md"
"$crate/target/release/gateway-bench" run --out "$out" "$@"
cp "$out" "$results/latest.md"
echo "report: $out" >&2
