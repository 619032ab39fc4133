#!/usr/bin/env bash
# Run a command inside a private network namespace with a ROS 2 environment: the one rule of
# ../shared/ros2/README.md (every ROS process of a test — gateway, rclpy peers, ros2 CLI, the
# WebSocket client — in ONE namespace, loopback only, Cyclone DDS pinned to 127.0.0.1).
#
#   unshare -n scripts/ros-netns.sh CMD [ARGS...]
#
# Sources $ROS_DISTRO_DIR/setup.bash, then $GATEWAY_INSTALL/local_setup.bash and
# $OVERLAY_INSTALL/local_setup.bash when set. When CMD exits (or this script is interrupted),
# every process still running in this namespace — launched nodes, the ros2 daemon, peers — is
# stopped by PID (SIGINT, then SIGKILL after 3 s). The namespace holds only what we started, so
# this never touches anything else on the machine.
set -uo pipefail

if ip -o link show | awk -F': ' '{print $2}' | grep -v -x lo | grep -q .; then
  echo "refusing: this network namespace has interfaces besides lo; run under 'unshare -n'" >&2
  exit 2
fi
ip link set lo up

: "${ROS_DISTRO_DIR:?ROS_DISTRO_DIR must be set (see scripts/ros-common.sh)}"
: "${CYCLONEDDS_XML:?CYCLONEDDS_XML must be set (see scripts/ros-common.sh)}"
set +u
# shellcheck disable=SC1091
. "$ROS_DISTRO_DIR/setup.bash"
[[ -n "${GATEWAY_INSTALL:-}" ]] && . "$GATEWAY_INSTALL/local_setup.bash"
[[ -n "${OVERLAY_INSTALL:-}" ]] && . "$OVERLAY_INSTALL/local_setup.bash"
set -u
export RMW_IMPLEMENTATION=rmw_cyclonedds_cpp ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export CYCLONEDDS_URI="file://$CYCLONEDDS_XML"
# Node logs reach pipes and files at once, not when a buffer fills.
export RCUTILS_LOGGING_BUFFERED_STREAM=0 PYTHONUNBUFFERED=1
run_home="$(mktemp -d)"
export ROS_HOME="$run_home/home" ROS_LOG_DIR="$run_home/log"
mkdir -p "$ROS_HOME" "$ROS_LOG_DIR"

netns_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    [[ /proc/$p/ns/net -ef /proc/$$/ns/net ]] && echo "$p"
  done
}
cleanup() {
  local pids p
  pids=$(netns_pids)
  if [[ -n $pids ]]; then
    for p in $pids; do kill -INT "$p" 2>/dev/null; done
    for _ in $(seq 30); do
      pids=$(netns_pids)
      [[ -z $pids ]] && break
      sleep 0.1
    done
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
  fi
  rm -rf "$run_home"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$@"
