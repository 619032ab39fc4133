#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it. Prerequisites: scripts/install-test-deps.sh.
#
#   format and lints → Rust unit + integration tests → Node tier (Foxglove's own libraries
#   against the real binary) → browser tier (Foxglove Studio in headless chromium against
#   --demo; screenshots in test-output/browser/) → abuse tier (issue 11's attacks against the
#   release binary, scripts/test-abuse.sh) → type-check of the ROS backend (r2r_rcl/doc-only;
#   no ROS needed) and of the LiveKit adapter (DOCS_RS=1; no WebRTC build) → ROS packaging
#   (cargo ament-build into a temp prefix) → real-ROS tier (scripts/test-ros.sh: colcon build,
#   the backend's tests against the real rcl in a debug build and under valgrind, ros2 launch,
#   rclpy peers and a Foxglove client in a private network namespace; needs the ROS 2 that
#   install-test-deps.sh installs, and fails without it)
#
# Ends with one line "N passed, N failed" counting every Rust and Node test, abuse check and
# real-ROS check.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_AMENT_BUILD_VENV="${CARGO_AMENT_BUILD_VENV:-$PWD/target/ament-venv}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

step() { printf '\n=== %s\n' "$*"; }

[[ -d /usr/share/test_interface_files ]] || {
  echo "missing Debian's ros2-test-interface-files: run scripts/install-test-deps.sh" >&2
  exit 2
}

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --no-default-features --all-targets -- -D warnings
step "Rust tests"
cargo test --no-default-features 2>&1 | tee -a "$log"
step "gateway binary for the Node tier"
cargo build --no-default-features
step "Node tier"
scripts/test-node.sh 2>&1 | tee -a "$log"
step "Browser tier (Foxglove Studio in headless chromium)"
scripts/test-browser.sh 2>&1 | tee -a "$log"
step "Abuse tier (attacks against the release binary, loopback)"
scripts/test-abuse.sh 2>&1 | tee -a "$log"
step "ROS backend type-check (feature ros2 with r2r_rcl/doc-only, as for Humble)"
scripts/check-ros2.sh
step "LiveKit adapter type-check (feature remote-access with DOCS_RS=1)"
scripts/check-remote.sh
step "ROS packaging (cargo ament-build)"
scripts/check-packaging.sh
step "Real-ROS tier (colcon build, ros2 launch, rclpy peers, Foxglove client)"
# Counted even when it fails, so the summary line below says how many real-ROS checks failed.
ros_status=0
scripts/test-ros.sh 2>&1 | tee -a "$log" || ros_status=$?

passed=$(( $(grep -oE '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}') \
         + $(grep -E '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}') \
         + $(grep -E '^real-ROS tier: [0-9]+ passed, [0-9]+ failed$' "$log" | awk '{s+=$3} END {print s+0}') ))
# node:test reports tests under a failed hook as "cancelled": those count as failed too.
failed=$(( $(grep -oE '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}') \
         + $(grep -E '^# (fail|cancelled) [0-9]+' "$log" | awk '{s+=$3} END {print s+0}') \
         + $(grep -E '^real-ROS tier: [0-9]+ passed, [0-9]+ failed$' "$log" | awk '{s+=$5} END {print s+0}') ))
echo
echo "${passed} passed, ${failed} failed"
[[ "$failed" -eq 0 && "$ros_status" -eq 0 ]]
