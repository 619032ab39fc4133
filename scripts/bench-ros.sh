#!/usr/bin/env bash
# The real-ROS benchmark workload (issue 10; docs/BENCHMARK.md, "Real-ROS workload"):
#   a ROS 2 publisher → the gateway built by colcon and started with `ros2 launch` → the Rust
#   receiver of benches/compare, at 1, 5, 10, 20 kHz of 100 B and 30 Hz of 1 MiB, with the
#   gateway's CPU; and, as the reference, the same publisher → a plain rclpy subscriber with the
#   same QoS (which rates does a ROS 2 node keep up with here?).
#
#   scripts/bench-ros.sh                        # ≈ 2 min after the builds
#   scripts/bench-ros.sh --duration-ms 5000     # longer runs; any `gateway-bench ros` option
#   BENCH_PUBLISHER=rclpy scripts/bench-ros.sh  # publish from rclpy instead of C/rcl
#
# Needs what the real-ROS tier needs (sudo scripts/install-test-deps.sh) and gcc. Everything ROS
# runs inside one private network namespace (scripts/ros-netns.sh). Prints a Markdown table and
# writes it to benches/compare/results/ros-<UTC time>.md (launch output next to it).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/ros-common.sh
. "$repo/scripts/ros-common.sh"

ros_find
ros_clean_env
ros_colcon_on_path
ros_dds_xml
ros_netns_cmd
ros_build_gateway

# The receiver (its own Cargo workspace, built without ROS).
cargo build --release --manifest-path "$repo/benches/compare/Cargo.toml"
bench="$repo/benches/compare/target/release/gateway-bench"

# The rcl publisher: plain C against the installed rcl, compiled here.
pub_bin="$ROS_TIER_DIR/rcl_pub"
if [[ ! -x $pub_bin || $repo/benches/ros/rcl_pub.c -nt $pub_bin ]]; then
  # Only rcl's and the message's include dirs (all of them would put Cyclone's idl/string.h
  # in front of libc's <string.h>).
  incs=()
  for p in rcl rcutils rmw rcl_yaml_param_parser rcl_logging_interface rosidl_runtime_c \
    rosidl_typesupport_interface rosidl_dynamic_typesupport type_description_interfaces \
    service_msgs builtin_interfaces std_msgs sensor_msgs geometry_msgs; do
    [[ -d "$ROS_DISTRO_DIR/include/$p" ]] && incs+=("-I$ROS_DISTRO_DIR/include/$p")
  done
  gcc -O2 -Wall -Wextra -o "$pub_bin" "$repo/benches/ros/rcl_pub.c" "${incs[@]}" \
    -L"$ROS_DISTRO_DIR/lib" -Wl,-rpath,"$ROS_DISTRO_DIR/lib" \
    -lrcl -lrmw -lrcutils -lrosidl_runtime_c \
    -lsensor_msgs__rosidl_typesupport_c -lsensor_msgs__rosidl_generator_c
fi
case "${BENCH_PUBLISHER:-rcl}" in
  rcl) publisher="$pub_bin" ;;
  rclpy) publisher="/usr/bin/python3 $repo/benches/ros/rclpy_pub.py" ;;
  *) echo "BENCH_PUBLISHER must be rcl or rclpy" >&2; exit 2 ;;
esac

load="$(cut -d' ' -f1 /proc/loadavg)"
cores="$(nproc)"
if awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l > c) }'; then
  echo "warning: load average $load on $cores cores: other work will distort the numbers" >&2
fi

results="$repo/benches/compare/results"
mkdir -p "$results"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$results/ros-$stamp.md"
port=8765
timeout --foreground --signal=INT --kill-after=30 1800 \
  "${ROS_UNSHARE[@]}" "$repo/scripts/ros-netns.sh" "$bench" ros \
  --launch "ros2 launch foxglove_gateway foxglove_gateway_launch.xml port:=$port address:=127.0.0.1" \
  --port "$port" \
  --publisher "$publisher" \
  --reference "/usr/bin/python3 $repo/benches/ros/rclpy_sub.py" \
  --launch-log "$results/ros-$stamp.launch.log" \
  --out "$out" "$@"
{
  echo
  echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $cores × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at start $load; gateway $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet || echo '+changes'), ROS 2 from $ROS_DISTRO_DIR."
} | tee -a "$out"
echo "report: $out" >&2
