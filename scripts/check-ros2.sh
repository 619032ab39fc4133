#!/usr/bin/env bash
# Type-check the r2r backend without ROS 2 installed.
#
# r2r's build scripts need a sourced ROS 2; its hidden `doc-only` feature swaps in pre-generated
# bindings so `cargo check`/`clippy` work anywhere. Linking does not (rcl symbols are missing), so
# only tests that never reach an rcl call are run, and `r2r/doc-only` is only ever passed here on the
# command line: it must never be unified into a real build through Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

features="ros2,r2r/doc-only"
cargo check --features "$features" --all-targets --target-dir target/ros2-check
cargo clippy --features "$features" --all-targets --target-dir target/ros2-check -- -D warnings
# The backend's pure conversions (QoS, parameter values) link without ROS because nothing they
# reach calls into rcl; keep it that way: only pure code under #[cfg(test)] in r2r_backend*.
cargo test --features "$features" --lib --target-dir target/ros2-check ros::r2r_backend
