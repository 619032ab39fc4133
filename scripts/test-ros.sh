#!/usr/bin/env bash
# The real-ROS tier (issue 9; issue 10 acceptance 1–2). Needs a ROS 2 installation and colcon with
# its Cargo plugins: run `sudo scripts/install-test-deps.sh` once. Fails (never skips) without them.
#
#   1. builds the gateway as a robot team does: a workspace with this repository as
#      src/foxglove_gateway, `colcon build --packages-select foxglove_gateway --cargo-args --release`
#      (workspace under target/ros-tier/gw_ws, kept so reruns are incremental);
#   2. builds tests/ros/rostier_msgs (one .msg, one .srv) in an overlay AFTER the gateway, without
#      touching the gateway: the robot's own interface package;
#   3. builds the ROS backend's own tests in a debug build (cargo feature ros2), in the usual
#      target dir so the dependencies test-all.sh already compiled are reused; the no-ROS
#      target/debug/foxglove_gateway the Node and browser tiers run is put back afterwards;
#   4. in one private network namespace (unshare -n, loopback only, Cyclone DDS on 127.0.0.1),
#      tests/ros/in-netns.sh: those tests against the real rcl, tests/rcl_live.rs once more under
#      valgrind, then rclpy peers, `ros2 launch foxglove_gateway foxglove_gateway_launch.xml`,
#      ros2 CLI and a Foxglove client (@foxglove/ws-protocol + Foxglove's CDR libraries) —
#      tests/ros/tier.mjs.
#
# Every check prints one `PASS <check>: …` or `FAIL <check>: …` line; the last line is
# `real-ROS tier: N passed, N failed` (scripts/test-all.sh adds it to its total). Logs of every
# process: target/ros-tier/last-run/.
#
# Knobs: ROS_DISTRO_DIR, CARGO_AMENT_BUILD_VENV, ROS_TIER_DIR (see scripts/ros-common.sh);
# ROS_TIER_TIMEOUT (s, default 900) bounds the namespace part.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/ros-common.sh
. "$repo/scripts/ros-common.sh"

die() {
  echo "$*" >&2
  echo "real-ROS tier: 0 passed, 1 failed"
  exit 1
}

ros_find || die "FAIL real-ROS tier: no ROS 2 (run sudo scripts/install-test-deps.sh)"
ros_clean_env
ros_colcon_on_path || die "FAIL real-ROS tier: colcon's Cargo plugins missing (run sudo scripts/install-test-deps.sh)"
ros_dds_xml
command -v unshare >/dev/null || die "FAIL real-ROS tier: unshare (util-linux) is missing"
ros_netns_cmd || die "FAIL real-ROS tier: no private network namespace"
[[ -d "$repo/tests/node/node_modules" ]] || (cd "$repo/tests/node" && npm ci --no-audit --no-fund >/dev/null)

t_all=$SECONDS
ros_build_gateway || die "FAIL colcon build: see above"
bin="$GATEWAY_INSTALL/foxglove_gateway/lib/foxglove_gateway/foxglove_gateway"
sha_before="$(sha256sum "$bin" | cut -d' ' -f1)"
overlay_ok=1
ros_build_overlay || overlay_ok=0
sha_after="$(sha256sum "$bin" | cut -d' ' -f1)"
overlay_mtime=0
if ((overlay_ok)); then
  # When the overlay's type support library was written (by the compiler, during its build).
  overlay_mtime="$(stat -c %.9Y "$OVERLAY_INSTALL/rostier_msgs/lib/librostier_msgs__rosidl_typesupport_c.so")"
else
  unset OVERLAY_INSTALL
fi

log_dir="$ROS_TIER_DIR/last-run"
rm -rf "$log_dir"
mkdir -p "$log_dir"

# The backend's tests (lib unit tests with feature ros2, tests/rcl_live.rs) in a debug build: the
# executables are built here (cargo needs the network, the namespace has none) and run inside.
ros_log "cargo test --features ros2 --lib --test rcl_live --no-run (debug build)"
t_debug=$SECONDS
debug_tests=""
debug_error=""
# Building the integration test also builds the binary with feature ros2 into target/debug:
# note whether a no-ROS one is there, to put it back (cargo keeps both; that is a copy, not a
# rebuild) or remove the ROS-linked one, so the Node tier never runs a binary that needs ROS.
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
had_bin=0
[[ -x "$target_dir/debug/foxglove_gateway" ]] && had_bin=1
if (
  cd "$repo"
  ros_source "$ROS_DISTRO_DIR/setup.bash"
  cargo test --features ros2 --lib --test rcl_live --no-run
) >"$log_dir/debug-build.log" 2>&1; then
  # "  Executable unittests src/lib.rs (target/…/deps/foxglove_gateway-…)"
  debug_tests="$(sed -nE 's#^ *Executable (unittests src/lib\.rs|tests/rcl_live\.rs) \((.*)\)$#\1 \2#p' "$log_dir/debug-build.log" |
    sed -E 's#^unittests src/lib\.rs#lib#; s#^tests/rcl_live\.rs#rcl_live#' |
    while read -r name path; do
      [[ $path == /* ]] || path="$repo/$path"
      echo "$name $path"
    done)"
  [[ -n $debug_tests ]] || debug_error="cargo printed no test executables (log: $log_dir/debug-build.log)"
else
  debug_error="cargo test --no-run failed: $(grep -m1 -E '^error' "$log_dir/debug-build.log") (log: $log_dir/debug-build.log)"
fi
if ((had_bin)); then
  (cd "$repo" && cargo build --no-default-features) >>"$log_dir/debug-build.log" 2>&1 ||
    echo "warning: could not rebuild the no-ROS $target_dir/debug/foxglove_gateway (see $log_dir/debug-build.log)" >&2
else
  rm -f "$target_dir/debug/foxglove_gateway"
fi
ros_log "debug build of the backend's tests: $((SECONDS - t_debug)) s"
export ROS_TIER_LOG_DIR="$log_dir" ROS_TIER_GATEWAY_BIN="$bin" \
  ROS_TIER_GATEWAY_MTIME="$(stat -c %.9Y "$bin")" ROS_TIER_OVERLAY_MTIME="$overlay_mtime" \
  ROS_TIER_OVERLAY_OK="$overlay_ok" ROS_TIER_GATEWAY_SHA_BEFORE="$sha_before" \
  ROS_TIER_GATEWAY_SHA_AFTER="$sha_after" ROS_TIER_DEBUG_TESTS="$debug_tests" \
  ROS_TIER_DEBUG_BUILD_ERROR="$debug_error"
ros_log "checks (private network namespace; logs in $log_dir)"
t_checks=$SECONDS
status=0
# --foreground: Ctrl-C reaches the namespace script (its cleanup stops everything in there);
# on expiry timeout signals that script, whose cleanup does the same.
timeout --foreground --signal=INT --kill-after=30 "${ROS_TIER_TIMEOUT:-900}" \
  "${ROS_UNSHARE[@]}" "$repo/scripts/ros-netns.sh" "$repo/tests/ros/in-netns.sh" 2>&1 | tee "$log_dir/tier.out" ||
  status=$?
ros_log "real-ROS tier: gateway colcon build ${GATEWAY_BUILD_SECONDS} s, debug test build $((t_checks - t_debug)) s, namespace part $((SECONDS - t_checks)) s, total $((SECONDS - t_all)) s"
if ! grep -qE '^real-ROS tier: [0-9]+ passed, [0-9]+ failed$' "$log_dir/tier.out"; then
  # Killed by the timeout or crashed before its summary: still one countable failure.
  die "FAIL real-ROS tier: the checks ended (status $status) without their summary line"
fi
exit "$status"
