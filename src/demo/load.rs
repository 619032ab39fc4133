//! Load generation for benchmarks: topics of `std_msgs/msg/UInt8MultiArray` of a fixed total size,
//! at a fixed rate or as fast as possible, entering the gateway through the simulated graph
//! exactly as a ROS publisher's messages would.
//!
//! # Payload layout
//!
//! Every message is a complete little-endian CDR `std_msgs/msg/UInt8MultiArray` of exactly
//! `size` bytes (encapsulation header included), with an empty `layout` and `data` filling the
//! rest. Offsets are from the first byte of the serialized message:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 4 | encapsulation header `00 01 00 00` (CDR little-endian) |
//! | 4 | 4 | `layout.dim` length: 0 (u32 LE) |
//! | 8 | 4 | `layout.data_offset`: 0 (u32 LE) |
//! | 12 | 4 | `data` length: `size - 16` (u32 LE) |
//! | 16 | 8 | `data[0..8]`: sequence number, u64 LE, 0 for the first message of each topic |
//! | 24 | 8 | `data[8..16]`: send time, u64 LE nanoseconds since the Unix epoch (system clock) |
//! | 32 | `size - 32` | `data[16..]`: zeros |
//!
//! So a receiver holding the decoded message reads the sequence number and send time from the
//! first 16 bytes of `data`; one holding the raw CDR reads them at offsets 16 and 24. The
//! minimum size is therefore [`MIN_LOAD_SIZE`] (32) bytes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::json;

use super::DemoError;
use crate::cdr::json_to_cdr;
use crate::ros::sim::{SimGraph, SimPublisher};
use crate::ros::{now_ns, Qos};
use crate::schema::SchemaStore;

/// The load type: universally available, decodable by any viewer, a plain byte array.
pub const LOAD_TYPE: &str = "std_msgs/msg/UInt8MultiArray";
/// Bytes before `data[0]` in a load message with an empty layout (see the module docs).
pub const LOAD_DATA_OFFSET: usize = 16;
/// Bytes of `data` the generator writes: sequence number and send time.
pub const LOAD_STAMP_LEN: usize = 16;
/// The smallest `--load-size`: header, layout, length and the stamp.
pub const MIN_LOAD_SIZE: usize = LOAD_DATA_OFFSET + LOAD_STAMP_LEN;
/// The largest `--load-size` (64 MiB): a benchmark, not a memory test.
pub const MAX_LOAD_SIZE: usize = 64 << 20;
/// The most topics `--load-topics` may ask for.
pub const MAX_LOAD_TOPICS: usize = 1000;
/// The node the load publishers appear under.
pub const LOAD_NODE: &str = "/demo_load";
/// How often to look for the gateway's subscriptions while waiting for them.
const WAIT_POLL: Duration = Duration::from_millis(10);
/// The longest uninterrupted sleep, so a stop request is noticed promptly.
const MAX_SLEEP: Duration = Duration::from_millis(50);

/// What to generate; validated by [`LoadConfig::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// The topic, or the prefix of `{topic}_{i}` when `topics > 1`.
    pub topic: String,
    /// Total serialized size of each message in bytes, encapsulation header included.
    pub size: usize,
    /// Messages per second per topic; 0 publishes as fast as possible.
    pub rate: f64,
    /// Messages per topic; 0 publishes until stopped.
    pub count: u64,
    /// How many topics.
    pub topics: usize,
    /// Start at once instead of waiting for the gateway to subscribe to every load topic.
    pub immediately: bool,
}

impl LoadConfig {
    /// Check the numbers before anything starts.
    pub fn validate(&self) -> Result<(), DemoError> {
        let bad = |reason: String| Err(DemoError::InvalidLoad(reason));
        if !self.topic.starts_with('/') || self.topic.len() < 2 {
            return bad(format!(
                "--load-topic {:?}: expected an absolute topic name such as /load",
                self.topic
            ));
        }
        if !(MIN_LOAD_SIZE..=MAX_LOAD_SIZE).contains(&self.size) {
            return bad(format!(
                "--load-size {}: must be between {MIN_LOAD_SIZE} and {MAX_LOAD_SIZE} bytes",
                self.size
            ));
        }
        if !self.rate.is_finite() || self.rate < 0.0 {
            return bad(format!(
                "--load-rate {}: expected a rate in Hz, or 0 for as fast as possible",
                self.rate
            ));
        }
        if !(1..=MAX_LOAD_TOPICS).contains(&self.topics) {
            return bad(format!(
                "--load-topics {}: must be between 1 and {MAX_LOAD_TOPICS}",
                self.topics
            ));
        }
        Ok(())
    }

    /// The topics published: `topic` alone, or `topic_0` … `topic_{K-1}`.
    pub fn topic_names(&self) -> Vec<String> {
        if self.topics == 1 {
            vec![self.topic.clone()]
        } else {
            (0..self.topics)
                .map(|i| format!("{}_{i}", self.topic))
                .collect()
        }
    }
}

/// Write the sequence number and send time into a load message (see the module docs).
/// Returns `None` if `template` is too short to be a load message.
pub fn stamp_payload(template: &[u8], seq: u64, send_ns: u64) -> Option<Bytes> {
    let rest = template.get(MIN_LOAD_SIZE..)?;
    let mut buf = BytesMut::with_capacity(template.len());
    buf.put_slice(template.get(..LOAD_DATA_OFFSET)?);
    buf.put_u64_le(seq);
    buf.put_u64_le(send_ns);
    buf.put_slice(rest);
    Some(buf.freeze())
}

/// Read (sequence number, send time in ns) from a serialized load message.
pub fn parse_stamp(payload: &[u8]) -> Option<(u64, u64)> {
    let seq = payload.get(LOAD_DATA_OFFSET..LOAD_DATA_OFFSET + 8)?;
    let sent = payload.get(LOAD_DATA_OFFSET + 8..MIN_LOAD_SIZE)?;
    Some((
        u64::from_le_bytes(seq.try_into().ok()?),
        u64::from_le_bytes(sent.try_into().ok()?),
    ))
}

/// A running load generator. Dropping it stops the thread (without waiting for it).
pub struct LoadGenerator {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    finished: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoadGenerator {
    /// Encode the template (through the codec and the resolved schema, so the layout above is
    /// checked, not assumed), add the publishers to the graph and start the thread.
    pub fn start(
        config: &LoadConfig,
        sim: &SimGraph,
        schemas: &SchemaStore,
    ) -> Result<Self, DemoError> {
        config.validate()?;
        let schema = super::node::resolve(schemas, LOAD_TYPE)?;
        let data_len = config.size - LOAD_DATA_OFFSET;
        // Base64 rather than a JSON array: a 64 MiB array of JSON numbers would take gigabytes.
        let zeros = base64::engine::general_purpose::STANDARD.encode(vec![0u8; data_len]);
        let value = json!({ "data": zeros });
        let template = json_to_cdr(&schema, &value).map_err(|source| DemoError::Encode {
            type_name: LOAD_TYPE.to_string(),
            source,
        })?;
        if template.len() != config.size {
            return Err(DemoError::InvalidLoad(format!(
                "{LOAD_TYPE} encodes to {} bytes, not {}: its definition differs from the one the \
                 load layout assumes",
                template.len(),
                config.size
            )));
        }
        let publishers: Vec<SimPublisher> = config
            .topic_names()
            .iter()
            .map(|t| sim.add_publisher(t, LOAD_TYPE, LOAD_NODE, Qos::default()))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            sim: sim.clone(),
            publishers,
            template,
            period: (config.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / config.rate)),
            count: config.count,
            wait: !config.immediately,
            stop: stop.clone(),
            sent: sent.clone(),
            finished: finished.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("demo-load".to_string())
            .spawn(move || worker.run())
            .map_err(DemoError::Thread)?;
        tracing::info!(
            topics = config.topics,
            size = config.size,
            rate = config.rate,
            count = config.count,
            "load generator on {}",
            config.topic
        );
        Ok(LoadGenerator {
            stop,
            sent,
            finished,
            thread: Some(thread),
        })
    }

    /// Messages published so far, over all topics.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// True once every topic has had its `count` messages (never with count 0).
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Stop and wait for the thread (it notices within 50 ms). The publishers leave the
    /// graph.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LoadGenerator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Worker {
    sim: SimGraph,
    publishers: Vec<SimPublisher>,
    template: Vec<u8>,
    period: Option<Duration>,
    count: u64,
    wait: bool,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    finished: Arc<AtomicBool>,
}

impl Worker {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleep until `deadline` in short slices; false if stopped meanwhile.
    fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(MAX_SLEEP));
        }
    }

    fn run(self) {
        // A counted run is only useful if every message reaches a viewer, so by default wait
        // until the gateway has subscribed to every load topic (a viewer subscribed).
        while self.wait
            && !self
                .publishers
                .iter()
                .all(|p| self.sim.gateway_subscriptions(p.topic()) > 0)
        {
            if self.stopped() {
                return;
            }
            std::thread::sleep(WAIT_POLL);
        }
        let mut next = Instant::now();
        let mut seq: u64 = 0;
        while self.count == 0 || seq < self.count {
            if self.stopped() {
                return;
            }
            if let Some(period) = self.period {
                if !self.sleep_until(next) {
                    return;
                }
                // Absolute schedule, so the rate does not drift with publish cost; if we fall
                // behind we resume from now rather than bursting to catch up.
                next = (next + period).max(Instant::now());
            }
            for p in &self.publishers {
                if let Some(payload) = stamp_payload(&self.template, seq, now_ns()) {
                    p.publish(payload);
                    self.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            seq += 1;
        }
        self.finished.store(true, Ordering::Release);
        tracing::info!(
            sent = self.sent.load(Ordering::Relaxed),
            "load generator done"
        );
        // Keep the publishers in the graph until stopped: their channels vanishing at once
        // would cut off the messages still queued for viewers.
        while self.sleep_until(Instant::now() + MAX_SLEEP) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoadConfig {
        LoadConfig {
            topic: "/load".to_string(),
            size: 100,
            rate: 0.0,
            count: 0,
            topics: 1,
            immediately: true,
        }
    }

    #[test]
    fn validation() {
        assert!(config().validate().is_ok());
        for bad in [
            LoadConfig {
                size: MIN_LOAD_SIZE - 1,
                ..config()
            },
            LoadConfig {
                size: MAX_LOAD_SIZE + 1,
                ..config()
            },
            LoadConfig {
                rate: -1.0,
                ..config()
            },
            LoadConfig {
                rate: f64::NAN,
                ..config()
            },
            LoadConfig {
                topics: 0,
                ..config()
            },
            LoadConfig {
                topic: "load".to_string(),
                ..config()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(DemoError::InvalidLoad(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn topic_names() {
        assert_eq!(config().topic_names(), ["/load"]);
        let c = LoadConfig {
            topics: 3,
            ..config()
        };
        assert_eq!(c.topic_names(), ["/load_0", "/load_1", "/load_2"]);
    }

    #[test]
    fn stamp_round_trip_and_short_input() {
        let template = vec![7u8; 40];
        let p = stamp_payload(&template, 0x0102_0304_0506_0708, 42).unwrap();
        assert_eq!(p.len(), 40);
        assert_eq!(&p[..16], &template[..16]);
        assert_eq!(&p[16..24], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&p[32..], &template[32..]);
        assert_eq!(parse_stamp(&p), Some((0x0102_0304_0506_0708, 42)));
        assert_eq!(stamp_payload(&template[..31], 1, 1), None);
        assert_eq!(parse_stamp(&p[..31]), None);
    }
}
