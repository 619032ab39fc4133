#!/usr/bin/env bash
# One-time setup for the full test suite (scripts/test-all.sh), on Debian 12 / Ubuntu, as root.
# Idempotent: a second run only checks.
#   - ros2-test-interface-files: real ROS 2 interface definitions in an ament index (codec corpus)
#   - chromium: the browser tier runs the real Foxglove UI headless (Debian's build, never a download)
#   - the npm packages of tests/node (Foxglove's own client and CDR libraries as oracles;
#     Node.js >= 18 with npm must already be installed)
#   - a ROS 2 for the real-ROS tier: the machine's own /opt/ros/<distro> if it has one, else ROS 2
#     Jazzy built from ../shared/ros2 (install-jazzy.sh, ~6 min once), plus libclang-dev (r2r's
#     bindgen), valgrind (the rcl boundary under valgrind) and gcc (the benchmark's rcl publisher)
#   - colcon with colcon-cargo + colcon-ros-cargo (cargo ament-build) in a venv
#     (CARGO_AMENT_BUILD_VENV, default target/ament-venv) for the packaging check and the
#     real-ROS tier's `colcon build`
#   - PyPI mcap + mcap-ros2-support in target/test-venv: the independent MCAP reader/writer the
#     recording tests check our files against (tests/python/mcap_oracle.py)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

if command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ros2-test-interface-files chromium python3-venv libclang-dev gcc valgrind iproute2 util-linux >/dev/null
fi
(cd tests/node && npm ci --no-audit --no-fund)
(cd tests/browser && npm ci --no-audit --no-fund)

# --- ROS 2 -------------------------------------------------------------------------------------
shared_ros="$repo/../shared/ros2"
own_ros=""
for d in /opt/ros/*/; do
  d="${d%/}"
  [[ -f "$d/setup.bash" ]] || continue
  # /opt/ros/jazzy built by the shared installer (it keeps its tree in /opt/ros/jazzy-ws) is
  # only complete once stamped; anything else is the machine's own installation.
  if [[ $d == /opt/ros/jazzy && -d /opt/ros/jazzy-ws ]]; then continue; fi
  own_ros="$d"
done
if [[ -n $own_ros ]]; then
  echo "ROS 2: using this machine's $own_ros"
elif [[ -x "$shared_ros/install-jazzy.sh" ]]; then
  if [[ ! -f /opt/ros/jazzy/.installed-from ]] && pgrep -f 'install-jazzy\.sh' >/dev/null; then
    # Never two builds into the same prefix: wait for the one already running.
    echo "ROS 2: an install-jazzy.sh is already running; waiting for it (up to 30 min)"
    for _ in $(seq 360); do
      [[ -f /opt/ros/jazzy/.installed-from ]] && break
      pgrep -f 'install-jazzy\.sh' >/dev/null || break
      sleep 5
    done
  fi
  "$shared_ros/install-jazzy.sh"
else
  echo "no ROS 2 in /opt/ros and no $shared_ros/install-jazzy.sh: install ROS 2 (e.g. ros-jazzy-ros-base) first" >&2
  exit 2
fi

# --- colcon + Cargo plugins --------------------------------------------------------------------
# Pinned: the versions the tier was written against. /usr/bin/python3 (not a pyenv shim), so the
# workspace's generated setup scripts point at the system Python ROS uses.
venv="${CARGO_AMENT_BUILD_VENV:-$repo/target/ament-venv}"
if [[ ! -x "$venv/bin/colcon" || ! -x "$venv/bin/cargo-ament-build" ]]; then
  py=/usr/bin/python3
  [[ -x $py ]] || py=python3
  [[ -x "$venv/bin/python3" ]] || "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    'colcon-common-extensions==0.3.0' 'colcon-cargo==0.2.0' 'colcon-ros-cargo==0.2.0'
fi
test_venv="${MCAP_TEST_VENV:-$PWD/target/test-venv}"
if [[ ! -x "$test_venv/bin/python" ]] || ! "$test_venv/bin/python" -c 'import mcap, mcap_ros2' 2>/dev/null; then
  python3 -m venv "$test_venv"
  "$test_venv/bin/pip" install -q "mcap==1.6.0" "mcap-ros2-support==0.6.0"
fi
echo "test dependencies installed"
