#!/usr/bin/env bash
# Memory of the data backend while it serves a large recording (issue 12: "a 1 GB recording is
# served with bounded memory"). Not in scripts/test-all.sh: it writes ~2 GB to disk and takes a
# few minutes. Anyone can rerun it:
#
#   scripts/data-backend-rss.sh [BYTES]            # default 1073741824 (1 GiB)
#
# It writes a recording of BYTES of incompressible 64 KiB messages with the independent PyPI
# `mcap` writer, starts the gateway with the data backend on loopback, downloads the whole
# recording through /v1/data twice (as fast as curl reads, then a slow client at 32 MB/s), checks
# the download with the independent reader (every message, CRCs), and prints the gateway's
# resident memory: before, the peak sampled every 100 ms during each download, and the
# kernel's high-water mark (VmHWM) at the end.
#
# Env: GATEWAY_BIN (default target/release/foxglove_gateway, built if missing),
#      MCAP_PYTHON (default target/test-venv/bin/python), WORK (default: a temp dir, removed).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bytes="${1:-1073741824}"
bin="${GATEWAY_BIN:-$repo/target/release/foxglove_gateway}"
py="${MCAP_PYTHON:-$repo/target/test-venv/bin/python}"
oracle="$repo/tests/python/mcap_oracle.py"
if [[ ! -x "$bin" ]]; then
  (cd "$repo" && cargo build --release --no-default-features)
fi
[[ -x "$py" ]] || { echo "missing $py: run scripts/install-test-deps.sh" >&2; exit 2; }
work="${WORK:-$(mktemp -d)}"
mkdir -p "$work/recordings"
gw_pid=""
cleanup() {
  [[ -n "$gw_pid" ]] && kill "$gw_pid" 2>/dev/null || true
  [[ -z "${WORK:-}" ]] && rm -rf "$work"
}
trap cleanup EXIT

echo "writing a recording of $bytes bytes..."
written="$("$py" "$oracle" write-big "$work/recordings/big.mcap" "$bytes")"
size=$(stat -c %s "$work/recordings/big.mcap")
echo "  $size bytes on disk, $written"

"$bin" --demo --port 0 --address 127.0.0.1 --data-backend --data-backend-port 0 \
  --recordings-dir "$work/recordings" >"$work/gw.out" 2>"$work/gw.err" &
gw_pid=$!
for _ in $(seq 100); do
  grep -q "data backend on" "$work/gw.out" 2>/dev/null && break
  sleep 0.1
done
url="$(sed -n 's/^foxglove_gateway data backend on //p' "$work/gw.out")"
[[ -n "$url" ]] || { cat "$work/gw.err" >&2; echo "gateway did not start" >&2; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$gw_pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$gw_pid/status"; }
sleep 1
before=$(rss)

# One download with RSS sampled every 100 ms; prints "peak_kib seconds".
download() {
  local out="$1"; shift
  local peak=0 start end
  start=$(date +%s.%N)
  curl -sS --fail "$@" -o "$out" "$url/v1/data?recording=big" &
  local curl_pid=$!
  while kill -0 "$curl_pid" 2>/dev/null; do
    local r; r=$(rss); (( r > peak )) && peak=$r
    sleep 0.1
  done
  wait "$curl_pid"
  end=$(date +%s.%N)
  echo "$peak $(echo "$end - $start" | bc)"
}

echo "downloading as fast as the client reads..."
read -r peak_fast secs_fast < <(download "$work/out.mcap")
check="$("$py" "$oracle" count "$work/out.mcap")"
echo "  downloaded $(stat -c %s "$work/out.mcap") bytes in ${secs_fast}s; independent reader: $check"
want=$(echo "$written" | sed 's/.*"messages": \([0-9]*\).*/\1/')
got=$(echo "$check" | sed 's/.*"messages": \([0-9]*\).*/\1/')
[[ "$want" == "$got" ]] || { echo "FAILED: $got messages served, $want written" >&2; exit 1; }
rm -f "$work/out.mcap"

echo "downloading with a slow client (32 MB/s)..."
read -r peak_slow secs_slow < <(download /dev/null --limit-rate 32M)
echo "  done in ${secs_slow}s"
after=$(rss)
high=$(hwm)

cat <<EOF

data backend memory serving a $size-byte recording ($want messages of 64 KiB)
  gateway RSS before                       $before KiB
  peak RSS, fast client (${secs_fast} s)   $peak_fast KiB
  peak RSS, 32 MB/s client (${secs_slow} s) $peak_slow KiB
  RSS after                                $after KiB
  VmHWM (kernel high-water mark)           $high KiB
EOF
