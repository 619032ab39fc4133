#!/usr/bin/env bash
# One-time setup for the full test suite (scripts/test-all.sh), on Debian 12 / Ubuntu, as root.
#   - ros2-test-interface-files: real ROS 2 interface definitions in an ament index (codec corpus)
#   - chromium: the browser tier runs the real Foxglove UI headless (Debian's build, never a download)
#   - the npm packages of tests/node (Foxglove's own client and CDR libraries as oracles;
#     Node.js >= 18 with npm must already be installed)
#   - colcon-cargo + colcon-ros-cargo (cargo ament-build) for the packaging check
#   - PyPI mcap + mcap-ros2-support in target/test-venv: the independent MCAP reader/writer the
#     recording tests check our files against (tests/python/mcap_oracle.py)
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ros2-test-interface-files chromium python3-venv >/dev/null
fi
(cd tests/node && npm ci --no-audit --no-fund)
(cd tests/browser && npm ci --no-audit --no-fund)
venv="${CARGO_AMENT_BUILD_VENV:-$PWD/target/ament-venv}"
if [[ ! -x "$venv/bin/cargo-ament-build" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q colcon-cargo colcon-ros-cargo
fi
test_venv="${MCAP_TEST_VENV:-$PWD/target/test-venv}"
if [[ ! -x "$test_venv/bin/python" ]] || ! "$test_venv/bin/python" -c 'import mcap, mcap_ros2' 2>/dev/null; then
  python3 -m venv "$test_venv"
  "$test_venv/bin/pip" install -q "mcap==1.6.0" "mcap-ros2-support==0.6.0"
fi
echo "test dependencies installed"
