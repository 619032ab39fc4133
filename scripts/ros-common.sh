# Shared by scripts/test-ros.sh and scripts/bench-ros.sh (sourced, not run): find the ROS 2
# installation, put colcon (with its Cargo plugins) on PATH, build the gateway the way a robot
# team does, build the test interface overlay, and enter one private network namespace.
#
# Knobs (environment):
#   ROS_DISTRO_DIR          the ROS 2 installation (default: the only /opt/ros/<distro> with a
#                           setup.bash; jazzy if there are several)
#   CARGO_AMENT_BUILD_VENV  venv with colcon + colcon-cargo + colcon-ros-cargo (target/ament-venv)
#   ROS_TIER_DIR            workspaces, build trees and logs of the tier (target/ros-tier)
#   CYCLONEDDS_XML          Cyclone config pinning DDS to loopback (../shared/ros2/cyclonedds-lo.xml,
#                           else one written into ROS_TIER_DIR)
# shellcheck shell=bash

ros_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROS_TIER_DIR="${ROS_TIER_DIR:-$ros_repo/target/ros-tier}"
CARGO_AMENT_BUILD_VENV="${CARGO_AMENT_BUILD_VENV:-$ros_repo/target/ament-venv}"

ros_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# The ROS 2 installation, or a loud failure naming the fix. Never a skip: a tier that silently
# does nothing is worse than no tier.
ros_find() {
  if [[ -n "${ROS_DISTRO_DIR:-}" ]]; then
    [[ -f "$ROS_DISTRO_DIR/setup.bash" ]] || {
      echo "ROS_DISTRO_DIR=$ROS_DISTRO_DIR has no setup.bash" >&2
      return 2
    }
    return 0
  fi
  local found=()
  local d
  for d in /opt/ros/*/; do
    [[ -f "$d/setup.bash" ]] && found+=("${d%/}")
  done
  if ((${#found[@]} == 0)); then
    cat >&2 <<EOF
FAIL: no ROS 2 installation (no /opt/ros/<distro>/setup.bash).
The real-ROS tier needs one. Install it with:
    sudo scripts/install-test-deps.sh
(on a machine without ROS 2 it builds ROS 2 Jazzy from ../shared/ros2, ~6 min once).
EOF
    return 2
  fi
  ROS_DISTRO_DIR="${found[0]}"
  for d in "${found[@]}"; do [[ $d == /opt/ros/jazzy ]] && ROS_DISTRO_DIR=$d; done
  # The shared Jazzy build marks completion; a half-finished install must not be used.
  if [[ $ROS_DISTRO_DIR == /opt/ros/jazzy && -d /opt/ros/jazzy-ws && ! -f /opt/ros/jazzy/.installed-from ]]; then
    echo "FAIL: /opt/ros/jazzy is incomplete (no .installed-from): an install is running or failed; rerun sudo scripts/install-test-deps.sh" >&2
    return 2
  fi
  export ROS_DISTRO_DIR
}

# A PATH without pyenv/venv pythons: ROS' console scripts and CMake must find /usr/bin/python3.
ros_clean_env() {
  local p out=()
  local IFS=:
  for p in $PATH; do
    case "$p" in
      *pyenv* | *virtualenv* | */.venv/* | "") ;;
      *) out+=("$p") ;;
    esac
  done
  PATH="${out[*]}"
  unset IFS
  case ":$PATH:" in *:/usr/bin:*) ;; *) PATH="$PATH:/usr/bin:/bin" ;; esac
  export PATH
  unset PYTHONPATH VIRTUAL_ENV PYTHONHOME PYENV_VERSION AMENT_PREFIX_PATH CMAKE_PREFIX_PATH \
    COLCON_PREFIX_PATH ROS_DISTRO ROS_VERSION ROS_PYTHON_VERSION LD_LIBRARY_PATH 2>/dev/null || true
}

# source a colcon/ament setup file (they read unset variables).
ros_source() {
  set +u
  # shellcheck disable=SC1090
  . "$1"
  set -u
}

# colcon with colcon-cargo + colcon-ros-cargo (and cargo ament-build) on PATH.
ros_colcon_on_path() {
  if [[ ! -x "$CARGO_AMENT_BUILD_VENV/bin/colcon" || ! -x "$CARGO_AMENT_BUILD_VENV/bin/cargo-ament-build" ]]; then
    echo "FAIL: $CARGO_AMENT_BUILD_VENV has no colcon/cargo-ament-build: run sudo scripts/install-test-deps.sh" >&2
    return 2
  fi
  export PATH="$CARGO_AMENT_BUILD_VENV/bin:$PATH"
}

# The Cyclone DDS configuration that keeps DDS on 127.0.0.1 (unicast discovery).
ros_dds_xml() {
  local shared="$ros_repo/../shared/ros2/cyclonedds-lo.xml"
  if [[ -n "${CYCLONEDDS_XML:-}" ]]; then
    :
  elif [[ -f "$shared" ]]; then
    CYCLONEDDS_XML="$(realpath "$shared")"
  else
    # A clone without ../shared: the same content, written here.
    mkdir -p "$ROS_TIER_DIR"
    CYCLONEDDS_XML="$ROS_TIER_DIR/cyclonedds-lo.xml"
    cat >"$CYCLONEDDS_XML" <<'EOF'
<?xml version="1.0" encoding="UTF-8" ?>
<CycloneDDS xmlns="https://cdds.io/config">
  <Domain Id="any">
    <General>
      <Interfaces><NetworkInterface address="127.0.0.1" /></Interfaces>
      <AllowMulticast>false</AllowMulticast>
    </General>
    <Discovery>
      <ParticipantIndex>auto</ParticipantIndex>
      <MaxAutoParticipantIndex>50</MaxAutoParticipantIndex>
      <Peers><Peer address="127.0.0.1" /></Peers>
    </Discovery>
  </Domain>
</CycloneDDS>
EOF
  fi
  export CYCLONEDDS_XML
}

# Build the gateway as a robot team does: a workspace with the repository as
# src/foxglove_gateway, `colcon build --packages-select foxglove_gateway --cargo-args --release`.
# The workspace lives in $ROS_TIER_DIR/gw_ws (under target/, ignored by git) so that cargo's
# target dir (build/foxglove_gateway) survives between runs: a rerun after a small change is an
# incremental build, not a ~6 min one. Sets GATEWAY_INSTALL (the install prefix) and
# GATEWAY_BUILD_SECONDS.
ros_build_gateway() {
  local ws="$ROS_TIER_DIR/gw_ws"
  mkdir -p "$ws/src"
  ln -sfn "$ros_repo" "$ws/src/foxglove_gateway"
  local t0=$SECONDS
  ros_log "colcon build --packages-select foxglove_gateway --cargo-args --release (in $ws)"
  (
    cd "$ws"
    ros_source "$ROS_DISTRO_DIR/setup.bash"
    colcon --log-base "$ws/log" build --packages-select foxglove_gateway \
      --event-handlers console_direct- console_cohesion+ summary+ desktop_notification- \
      --cargo-args --release
  ) >"$ROS_TIER_DIR/gateway-build.log" 2>&1 || {
    tail -n 60 "$ROS_TIER_DIR/gateway-build.log" >&2
    echo "FAIL: colcon build of foxglove_gateway failed (full log: $ROS_TIER_DIR/gateway-build.log)" >&2
    return 1
  }
  GATEWAY_BUILD_SECONDS=$((SECONDS - t0))
  GATEWAY_INSTALL="$ws/install"
  [[ -x "$GATEWAY_INSTALL/foxglove_gateway/lib/foxglove_gateway/foxglove_gateway" ]] || {
    echo "FAIL: colcon build left no $GATEWAY_INSTALL/foxglove_gateway/lib/foxglove_gateway/foxglove_gateway" >&2
    return 1
  }
  ros_log "gateway built in ${GATEWAY_BUILD_SECONDS} s"
  export GATEWAY_INSTALL GATEWAY_BUILD_SECONDS
}

# colcon for an ament_cmake package with rosidl: under /usr/bin/python3 so the generated Python
# bindings match the ROS Python. The shared Jazzy ships one (colcon-sys); elsewhere the system's
# colcon or our venv's, with Python3_EXECUTABLE pinned.
ros_colcon_cmake() {
  if [[ -x /opt/ros/colcon-venv/bin/colcon-sys ]]; then
    echo /opt/ros/colcon-venv/bin/colcon-sys
  elif [[ -x /usr/bin/colcon ]]; then
    echo /usr/bin/colcon
  else
    echo "$CARGO_AMENT_BUILD_VENV/bin/colcon"
  fi
}

# Build tests/ros/rostier_msgs (one message, one service) in an overlay workspace, AFTER and
# independently of the gateway: the robot's own interface package the gateway was never built
# against. A clean build every run (it takes ~1 min). Sets OVERLAY_INSTALL.
ros_build_overlay() {
  local ws="$ROS_TIER_DIR/overlay_ws"
  rm -rf "$ws"
  mkdir -p "$ws/src"
  cp -r "$ros_repo/tests/ros/rostier_msgs" "$ws/src/"
  local colcon_bin
  colcon_bin="$(ros_colcon_cmake)"
  local t0=$SECONDS
  ros_log "colcon build of the interface overlay rostier_msgs ($colcon_bin)"
  (
    cd "$ws"
    ros_source "$ROS_DISTRO_DIR/setup.bash"
    export MAKEFLAGS=-j2 CMAKE_BUILD_PARALLEL_LEVEL=2
    "$colcon_bin" --log-base "$ws/log" build \
      --event-handlers console_direct- console_cohesion+ summary+ desktop_notification- \
      --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE=/usr/bin/python3 --no-warn-unused-cli
  ) >"$ROS_TIER_DIR/overlay-build.log" 2>&1 || {
    tail -n 60 "$ROS_TIER_DIR/overlay-build.log" >&2
    echo "FAIL: colcon build of the rostier_msgs overlay failed (full log: $ROS_TIER_DIR/overlay-build.log)" >&2
    return 1
  }
  OVERLAY_INSTALL="$ws/install"
  ros_log "overlay built in $((SECONDS - t0)) s"
  export OVERLAY_INSTALL
}

# How to enter a private network namespace: as root `unshare -n`; otherwise in a user namespace
# too (`unshare -rn`, where the kernel allows unprivileged user namespaces). Sets ROS_UNSHARE.
ros_netns_cmd() {
  if ((EUID == 0)); then
    ROS_UNSHARE=(unshare -n)
  else
    ROS_UNSHARE=(unshare -r -n)
  fi
  "${ROS_UNSHARE[@]}" true 2>/dev/null || {
    echo "FAIL: cannot create a network namespace with '${ROS_UNSHARE[*]}' (run as root, or allow unprivileged user namespaces)" >&2
    return 2
  }
}
