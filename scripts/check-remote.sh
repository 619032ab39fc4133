#!/usr/bin/env bash
# Type-check and lint the LiveKit adapter (feature `remote-access`) without building WebRTC.
#
# livekit's `webrtc-sys` build script downloads a prebuilt libwebrtc, which cannot happen in CI
# or offline; with DOCS_RS=1 the script is skipped, so `check`/`clippy` work (nothing links).
# A separate target dir keeps these artifacts from invalidating the normal build's.
set -euo pipefail
cd "$(dirname "$0")/.."

export DOCS_RS=1
target=target/remote-check
cargo check --target-dir "$target" --no-default-features --features remote-access --all-targets
cargo clippy --target-dir "$target" --no-default-features --features remote-access --all-targets -- -D warnings
