#!/usr/bin/env bash
# The namespace part of the real-ROS tier (run by scripts/test-ros.sh through
# scripts/ros-netns.sh; never on the machine's real network):
#   1. the ROS backend's own tests in a debug build with a real rcl (unit tests of the lib with
#      feature ros2, and tests/rcl_live.rs, the foreign boundary);
#   2. tests/rcl_live.rs once more under valgrind (memory errors, definite leaks);
#   3. tests/ros/tier.mjs: the launched gateway against rclpy peers and a Foxglove client.
# One PASS/FAIL line per check; the last line is `real-ROS tier: N passed, N failed`.
#
# Environment: ROS_TIER_LOG_DIR, ROS_TIER_DEBUG_TESTS (the debug test executables, one per line:
# "<name> <path>"; empty when they failed to build), ROS_TIER_DEBUG_BUILD_ERROR.
set -uo pipefail
# Interrupted (Ctrl-C, the tier's timeout): stop after the current step, not run the next one.
trap 'exit 130' INT
trap 'exit 143' TERM
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log_dir="${ROS_TIER_LOG_DIR:?}"
passed=0
failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

# `test result: ok. 23 passed; 0 failed; …` → "23 passed, 0 failed"; the failed tests by name.
cargo_summary() {
  grep -E '^test result:' "$1" | tail -1 | sed -E 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 passed, \2 failed/'
}
cargo_failures() {
  grep -E '^test .* \.\.\. FAILED$' "$1" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | head -8 | paste -sd, -
}

run_tests() { # name, executable, log, [wrapper...]
  local name=$1 exe=$2 log=$3
  shift 3
  local t0=$SECONDS status=0
  # --foreground: the tests stay in our process group, so Ctrl-C reaches them.
  timeout --foreground --signal=INT --kill-after=10 600 "$@" "$exe" >"$log" 2>&1 || status=$?
  local summary
  summary="$(cargo_summary "$log")"
  if ((status == 0)) && [[ -n $summary ]]; then
    pass "$name: $summary in $((SECONDS - t0)) s"
  else
    local extra=""
    [[ $status == 124 ]] && extra=" (timed out after 600 s)"
    fail "$name: exit status $status$extra; ${summary:-no test summary}; failed: $(cargo_failures "$log")$(grep -m3 -E '^==[0-9]+== .*(Invalid|uninitialised|definitely lost: [1-9])' "$log" | tr '\n' ' ') (log: $log)"
  fi
}

if [[ -n "${ROS_TIER_DEBUG_TESTS:-}" ]]; then
  while read -r name exe; do
    [[ -n $name ]] || continue
    run_tests "ros backend tests, debug build ($name)" "$exe" "$log_dir/debug-$name.log"
  done <<<"$ROS_TIER_DEBUG_TESTS"
  live="$(awk '$1 == "rcl_live" {print $2}' <<<"$ROS_TIER_DEBUG_TESTS")"
  if [[ -z $live ]]; then
    fail "rcl boundary under valgrind: no tests/rcl_live.rs executable was built"
  elif ! command -v valgrind >/dev/null; then
    fail "rcl boundary under valgrind: valgrind is not installed (run sudo scripts/install-test-deps.sh)"
  else
    # Memory errors anywhere, and memory definitely lost, fail the run (exit 99). Still-reachable
    # blocks are rcl's and DDS's process-lifetime singletons, not leaks.
    run_tests "rcl boundary under valgrind (tests/rcl_live.rs)" "$live" "$log_dir/valgrind-rcl_live.log" \
      valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
      --errors-for-leak-kinds=definite --num-callers=30
  fi
else
  fail "ros backend tests, debug build: not built: ${ROS_TIER_DEBUG_BUILD_ERROR:-unknown error}"
  fail "rcl boundary under valgrind: not built"
fi

node "$here/tier.mjs" | tee "$log_dir/checks.out"
sum="$(grep -E '^real-ROS checks: [0-9]+ passed, [0-9]+ failed$' "$log_dir/checks.out" | tail -1)"
if [[ -z $sum ]]; then
  fail "real-ROS checks: tests/ros/tier.mjs ended without its summary line"
else
  passed=$((passed + $(awk '{print $3}' <<<"$sum")))
  failed=$((failed + $(awk '{print $5}' <<<"$sum")))
fi
echo "real-ROS tier: $passed passed, $failed failed"
((failed == 0))
