//! Helpers for the recording tests: the independent MCAP oracle (PyPI `mcap` +
//! `mcap-ros2-support`, tests/python/mcap_oracle.py) and recordings made for tests. Also compiled
//! as its own (empty) test crate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use foxglove_gateway::record::mcap_out::{offered_qos_yaml, ChannelSpec, Ros2Writer};
use foxglove_gateway::ros::{Durability, Reliability};

/// The venv python with the oracle's packages (scripts/install-test-deps.sh); `MCAP_PYTHON`
/// overrides. A missing oracle fails the test: it never skips.
pub fn oracle_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MCAP_PYTHON") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/test-venv/bin/python"
    ));
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-test-deps.sh (or set MCAP_PYTHON)",
        p.display()
    );
    p
}

fn oracle(args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcap_oracle.py");
    let out = Command::new(oracle_python())
        .arg(script)
        .args(args)
        .output()
        .expect("the oracle runs");
    assert!(
        out.status.success(),
        "oracle {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the oracle prints JSON")
}

/// Read and validate a recording with the independent reader.
pub fn oracle_read(path: &Path) -> Value {
    oracle(&["read", path.to_str().unwrap()])
}

/// Like [`oracle_read`], listing at most `n` messages.
pub fn oracle_read_first(path: &Path, n: usize) -> Value {
    oracle(&[
        "read",
        path.to_str().unwrap(),
        "--max-messages",
        &n.to_string(),
    ])
}

/// Write a rosbag2-shaped recording with the independent writer; returns what it wrote.
pub fn oracle_write_rosbag2(path: &Path) -> Value {
    oracle(&["write-rosbag2", path.to_str().unwrap()])
}

/// `std_msgs/msg/String` CDR.
pub fn string_cdr(s: &str) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0];
    v.extend_from_slice(&((s.len() + 1) as u32).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// `std_msgs/msg/UInt32` CDR.
pub fn u32_cdr(n: u32) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0];
    v.extend_from_slice(&n.to_le_bytes());
    v
}

/// Start of the test recording's log times.
pub const T0: u64 = 1_700_000_000_000_000_000;
/// Spacing of its `/count` messages.
pub const STEP: u64 = 10_000_000;

/// A recording written by the gateway's writer: `/count` (std_msgs/msg/UInt32) every
/// [`STEP`] from [`T0`], `n` messages carrying 0..n, and `/chatter` (std_msgs/msg/String) every
/// tenth step saying "message N"; `/static` (transient-local) once at T0.
pub fn write_test_recording(path: &Path, n: u32) {
    write_test_recording_at(path, n, T0)
}

/// [`write_test_recording`] starting at `t0` instead of [`T0`].
pub fn write_test_recording_at(path: &Path, n: u32, t0: u64) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = Ros2Writer::new(std::io::BufWriter::new(f)).unwrap();
    let spec = |topic: &str, ty: &str, text: &str, durability| ChannelSpec {
        topic: topic.into(),
        type_name: ty.into(),
        schema_encoding: "ros2msg".into(),
        schema: text.as_bytes().to_vec(),
        message_encoding: "cdr".into(),
        metadata: [(
            "offered_qos_profiles".to_string(),
            offered_qos_yaml(Reliability::Reliable, durability),
        )]
        .into(),
    };
    let count = w
        .channel(&spec(
            "/count",
            "std_msgs/msg/UInt32",
            "uint32 data",
            Durability::Volatile,
        ))
        .unwrap();
    let chatter = w
        .channel(&spec(
            "/chatter",
            "std_msgs/msg/String",
            "string data",
            Durability::Volatile,
        ))
        .unwrap();
    let stat = w
        .channel(&spec(
            "/static",
            "std_msgs/msg/String",
            "string data",
            Durability::TransientLocal,
        ))
        .unwrap();
    w.write(stat, t0, t0, &string_cdr("static")).unwrap();
    for i in 0..n {
        let t = t0 + u64::from(i) * STEP;
        w.write(count, t, t - 1, &u32_cdr(i)).unwrap();
        if i % 10 == 0 {
            w.write(chatter, t, t - 1, &string_cdr(&format!("message {i}")))
                .unwrap();
        }
    }
    w.finish().unwrap();
}
