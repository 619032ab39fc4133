#!/usr/bin/env bash
# Type-check the ROS 2 backend without ROS 2 installed, as it compiles for Humble.
#
# r2r_rcl's build script needs a sourced ROS 2; its `doc-only` feature swaps in pre-generated,
# Humble-era bindings so `cargo check`/`clippy` work anywhere. ROS_DISTRO=humble makes our build
# script pick the Humble code paths too (rcl_node_init creates /rosout there), so this is also
# the "still compiles for Humble" check. Linking does not work (rcl symbols are missing), so only
# tests that never reach an rcl call are run, and `r2r_rcl/doc-only` is only ever passed here on
# the command line: it must never be unified into a real build through Cargo.toml.
#
# The real thing (Jazzy) is built, unit-tested and run by scripts/test-ros.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

features="ros2,r2r_rcl/doc-only"
export ROS_DISTRO=humble
unset AMENT_PREFIX_PATH CMAKE_PREFIX_PATH
cargo check --features "$features" --all-targets --target-dir target/ros2-check
cargo clippy --features "$features" --all-targets --target-dir target/ros2-check -- -D warnings
# The pure parts of the backend (QoS, names, parameter values, type names) link without ROS
# because nothing they reach calls into rcl; keep it that way.
cargo test --features "$features" --lib --target-dir target/ros2-check ros::
