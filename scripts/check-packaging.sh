#!/usr/bin/env bash
# Build and install the package the way colcon's ament_cargo build does, then check the installed
# layout that `ros2 run` / `ros2 launch` rely on. Works without ROS 2 (the ros2 feature is off).
#
# Needs `cargo ament-build` on PATH: pip install colcon-cargo colcon-ros-cargo (which pulls the
# cargo-ament-build wheel). Set CARGO_AMENT_BUILD_VENV to a venv to create/use one.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${CARGO_AMENT_BUILD_VENV:-}" ]]; then
  if [[ ! -x "$CARGO_AMENT_BUILD_VENV/bin/cargo-ament-build" ]]; then
    python3 -m venv "$CARGO_AMENT_BUILD_VENV"
    "$CARGO_AMENT_BUILD_VENV/bin/pip" install -q colcon-cargo colcon-ros-cargo
  fi
  export PATH="$CARGO_AMENT_BUILD_VENV/bin:$PATH"
fi
command -v cargo-ament-build >/dev/null || {
  echo "cargo-ament-build not found: pip install colcon-cargo colcon-ros-cargo" >&2
  exit 2
}

install_base="$(mktemp -d)"
trap 'rm -rf "$install_base"' EXIT
cargo ament-build --install-base "$install_base" -- --no-default-features

pkg=foxglove_gateway
fail=0
for f in \
  "lib/$pkg/$pkg" \
  "share/ament_index/resource_index/packages/$pkg" \
  "share/$pkg/package.xml" \
  "share/$pkg/launch/${pkg}_launch.xml" \
  "share/$pkg/config/$pkg.yaml"; do
  if [[ -e "$install_base/$f" ]]; then
    echo "ok   $f"
  else
    echo "MISSING $f" >&2
    fail=1
  fi
done
[[ -x "$install_base/lib/$pkg/$pkg" ]] || { echo "lib/$pkg/$pkg is not executable" >&2; fail=1; }

# The launch file must be XML that a standard parser accepts, with one <arg> per <param>.
python3 - "$install_base/share/$pkg/launch/${pkg}_launch.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "launch", root.tag
args = [a.get("name") for a in root.findall("arg")]
node = root.find("node")
params = [p.get("name") for p in node.findall("param")]
assert node.get("pkg") == "foxglove_gateway" and node.get("exec") == "foxglove_gateway"
assert sorted(args) == sorted(params), set(args) ^ set(params)
print(f"ok   launch XML: {len(args)} arguments")
PY

exit $fail
