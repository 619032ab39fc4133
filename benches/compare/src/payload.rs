//! The benchmark message: a `sensor_msgs/msg/CompressedImage` in XCDR1 whose first 16 data bytes
//! carry a sequence number and the send time, so the receiver can measure loss and latency.
//!
//! `CompressedImage` rather than `UInt8MultiArray` because the repo's `interfaces/` prefix ships
//! it; it is a header plus a byte array, so any total size ≥ [`MIN_SIZE`] is exact.

use std::time::{SystemTime, UNIX_EPOCH};

/// The ROS type every server advertises.
pub const TYPE_NAME: &str = "sensor_msgs/msg/CompressedImage";
/// The topic every server advertises.
pub const TOPIC: &str = "/bench";

/// Offset of the `data` bytes in the CDR buffer: encapsulation (4), stamp (8), empty `frame_id`
/// (4 + 1, padded to 8), empty `format` (4 + 1, padded to 8), `data` length (4).
pub const DATA_OFFSET: usize = 4 + 8 + 8 + 8 + 4;
/// Where the sequence number (u64 LE) sits; the send time (u64 LE, ns) follows it.
pub const SEQ_OFFSET: usize = DATA_OFFSET;
/// Sequence number of a message that has none (the ceiling's pre-built frames): counted, but
/// neither ordered nor timed.
pub const UNSEQUENCED: u64 = u64::MAX;
/// Smallest payload that still holds the sequence number and the timestamp.
pub const MIN_SIZE: usize = DATA_OFFSET + 16;

/// Nanoseconds since the Unix epoch: the one clock both processes share.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A CDR template of exactly `size` bytes (`size` is raised to [`MIN_SIZE`]).
pub fn template(size: usize) -> Vec<u8> {
    let size = size.max(MIN_SIZE);
    let mut buf = Vec::with_capacity(size);
    buf.extend_from_slice(&[0x00, 0x01, 0x00, 0x00]); // CDR_LE, no options
    buf.extend_from_slice(&0i32.to_le_bytes()); // header.stamp.sec
    buf.extend_from_slice(&0u32.to_le_bytes()); // header.stamp.nanosec
    buf.extend_from_slice(&1u32.to_le_bytes()); // header.frame_id: "" + NUL
    buf.extend_from_slice(&[0, 0, 0, 0]); // NUL + padding to 4
    buf.extend_from_slice(&1u32.to_le_bytes()); // format: "" + NUL
    buf.extend_from_slice(&[0, 0, 0, 0]); // NUL + padding to 4
    let data_len = (size - DATA_OFFSET) as u32;
    buf.extend_from_slice(&data_len.to_le_bytes());
    // A non-zero fill so nothing downstream can take a shortcut on zero pages.
    buf.extend((0..size - DATA_OFFSET).map(|i| (i % 251) as u8));
    buf
}

/// Stamp `seq` and the send time `ts` into a buffer made by [`template`] (also the header stamp).
pub fn stamp(buf: &mut [u8], seq: u64, ts: u64) {
    if buf.len() < MIN_SIZE {
        return;
    }
    buf[4..8].copy_from_slice(&((ts / 1_000_000_000) as i32).to_le_bytes());
    buf[8..12].copy_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
    buf[SEQ_OFFSET..SEQ_OFFSET + 8].copy_from_slice(&seq.to_le_bytes());
    buf[SEQ_OFFSET + 8..SEQ_OFFSET + 16].copy_from_slice(&ts.to_le_bytes());
}

/// Read `(seq, send time)` back from a received payload; `None` if it is too short.
pub fn read(payload: &[u8]) -> Option<(u64, u64)> {
    let seq = payload.get(SEQ_OFFSET..SEQ_OFFSET + 8)?;
    let ts = payload.get(SEQ_OFFSET + 8..SEQ_OFFSET + 16)?;
    Some((
        u64::from_le_bytes(seq.try_into().ok()?),
        u64::from_le_bytes(ts.try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use foxglove_gateway::schema::SchemaStore;
    use std::path::PathBuf;

    fn schema() -> std::sync::Arc<foxglove_gateway::schema::ResolvedSchema> {
        let prefix = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interfaces");
        SchemaStore::new(vec![prefix]).message(TYPE_NAME).unwrap()
    }

    #[test]
    fn template_is_valid_cdr_of_exact_size() {
        let schema = schema();
        for size in [MIN_SIZE, 100, 65536, 1 << 20] {
            let mut buf = template(size);
            assert_eq!(buf.len(), size);
            stamp(&mut buf, 7, 1_700_000_000_123_456_789);
            let json = foxglove_gateway::cdr::cdr_to_json(&schema, &buf).unwrap();
            assert_eq!(json["header"]["stamp"]["sec"], 1_700_000_000);
            assert_eq!(json["header"]["stamp"]["nanosec"], 123_456_789);
            assert_eq!(json["format"], "");
            assert_eq!(json["data"].as_array().unwrap().len(), size - DATA_OFFSET);
            assert_eq!(read(&buf), Some((7, 1_700_000_000_123_456_789)));
        }
    }

    #[test]
    fn short_payloads_are_rejected_not_panicked_on() {
        assert_eq!(read(&[0u8; MIN_SIZE - 1]), None);
        let mut short = vec![0u8; 10];
        stamp(&mut short, 1, 2);
        assert_eq!(short, vec![0u8; 10]);
    }
}
