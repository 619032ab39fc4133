//! Writing MCAP in the ROS 2 profile, the way `rosbag2_storage_mcap` does, so `ros2 bag`, the
//! `mcap` CLI, Foxglove and the MCAP libraries read what the gateway writes.
//!
//! - header profile `ros2`; one schema per type (`ros2msg`, or `ros2idl`, the self-contained
//!   definition text), one channel per topic and type with message encoding `cdr` and channel
//!   metadata `offered_qos_profiles` (rosbag2's YAML, Jazzy spelling);
//! - messages carry log time = receive time and publish time = the publisher's time when known;
//! - zstd-compressed chunks of [`CHUNK_SIZE`] bytes with message indexes, and a summary section
//!   with statistics, chunk indexes and summary offsets.
//!
//! One writer serves the black box, continuous recording and the data backend (which re-writes
//! a time range of a recording), so all three produce the same shape.

use std::collections::{BTreeMap, HashMap};
use std::io::{Seek, Write};

use mcap::records::MessageHeader;

use super::RecordError;
use crate::hub::ChannelInfo;
use crate::ros::{Durability, Reliability};

/// Uncompressed bytes per chunk (rosbag2_storage_mcap uses 768 KiB; the `mcap` crate 1 MiB).
pub const CHUNK_SIZE: u64 = 1024 * 1024;

/// The channel identity a writer keys on: (topic, type).
type Key = (String, String);

/// What the writer needs to know of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Topic.
    pub topic: String,
    /// ROS type `pkg/msg/Type` (the schema name).
    pub type_name: String,
    /// `ros2msg` or `ros2idl`.
    pub schema_encoding: String,
    /// The schema bytes (definition text).
    pub schema: Vec<u8>,
    /// Message encoding (`cdr`).
    pub message_encoding: String,
    /// Channel metadata (`offered_qos_profiles`, ...).
    pub metadata: BTreeMap<String, String>,
}

impl ChannelSpec {
    /// The spec of a live channel of the hub.
    pub fn from_channel(c: &ChannelInfo) -> Self {
        let qos = if c.reliable_latched {
            (Reliability::Reliable, Durability::TransientLocal)
        } else {
            (Reliability::Reliable, Durability::Volatile)
        };
        ChannelSpec {
            topic: c.topic.to_string(),
            type_name: c.type_name.clone(),
            schema_encoding: c.schema.encoding.as_str().to_string(),
            schema: c.schema.text.as_bytes().to_vec(),
            message_encoding: "cdr".into(),
            metadata: [(
                "offered_qos_profiles".to_string(),
                offered_qos_yaml(qos.0, qos.1),
            )]
            .into(),
        }
    }
}

/// rosbag2's `offered_qos_profiles` for one publisher, in the string spelling of Jazzy's bag
/// format (version 9); durations are "infinite" as rmw reports them.
pub fn offered_qos_yaml(reliability: Reliability, durability: Durability) -> String {
    let reliability = match reliability {
        Reliability::Reliable => "reliable",
        Reliability::BestEffort => "best_effort",
        Reliability::Unknown => "system_default",
    };
    let durability = match durability {
        Durability::TransientLocal => "transient_local",
        Durability::Volatile => "volatile",
        Durability::Unknown => "system_default",
    };
    let infinite = "\n    sec: 9223372036\n    nsec: 854775807";
    format!(
        "- history: unknown\n  depth: 0\n  reliability: {reliability}\n  durability: \
         {durability}\n  deadline:{infinite}\n  lifespan:{infinite}\n  liveliness: automatic\n  \
         liveliness_lease_duration:{infinite}\n  avoid_ros_namespace_conventions: false"
    )
}

/// A ROS 2 MCAP writer over any seekable output.
pub struct Ros2Writer<W: Write + Seek> {
    inner: mcap::Writer<W>,
    schemas: HashMap<String, u16>,
    channels: HashMap<Key, u16>,
    sequence: HashMap<u16, u32>,
    messages: u64,
    bytes: u64,
    first: Option<u64>,
    last: Option<u64>,
}

/// The write options of every file the gateway writes.
pub fn write_options() -> mcap::WriteOptions {
    mcap::WriteOptions::new()
        .profile("ros2")
        .library(format!("foxglove_gateway/{}", env!("CARGO_PKG_VERSION")))
        .compression(Some(mcap::Compression::Zstd))
        .chunk_size(Some(CHUNK_SIZE))
        // On a robot the recorder must not take a core per chunk: one thread compresses.
        .compression_threads(0)
}

impl<W: Write + Seek> Ros2Writer<W> {
    /// Start a file on `out` (writes the header).
    pub fn new(out: W) -> Result<Self, RecordError> {
        Self::with_options(out, write_options())
    }

    /// Start a file with explicit options (the data backend streams without seeking).
    pub fn with_options(out: W, options: mcap::WriteOptions) -> Result<Self, RecordError> {
        Ok(Ros2Writer {
            inner: options.create(out)?,
            schemas: HashMap::new(),
            channels: HashMap::new(),
            sequence: HashMap::new(),
            messages: 0,
            bytes: 0,
            first: None,
            last: None,
        })
    }

    /// The MCAP channel id of a channel, registering its schema and channel records the first
    /// time.
    pub fn channel(&mut self, spec: &ChannelSpec) -> Result<u16, RecordError> {
        let key = (spec.topic.clone(), spec.type_name.clone());
        if let Some(&id) = self.channels.get(&key) {
            return Ok(id);
        }
        let schema_id = match self.schemas.get(&spec.type_name) {
            Some(&id) => id,
            None => {
                let id =
                    self.inner
                        .add_schema(&spec.type_name, &spec.schema_encoding, &spec.schema)?;
                self.schemas.insert(spec.type_name.clone(), id);
                id
            }
        };
        let id = self.inner.add_channel(
            schema_id,
            &spec.topic,
            &spec.message_encoding,
            &spec.metadata,
        )?;
        self.channels.insert(key, id);
        Ok(id)
    }

    /// Write one message on a channel obtained from [`Self::channel`].
    pub fn write(
        &mut self,
        channel_id: u16,
        log_time: u64,
        publish_time: u64,
        data: &[u8],
    ) -> Result<(), RecordError> {
        let seq = self.sequence.entry(channel_id).or_insert(0);
        *seq = seq.wrapping_add(1);
        let header = MessageHeader {
            channel_id,
            sequence: *seq,
            log_time,
            publish_time,
        };
        self.inner.write_to_known_channel(&header, data)?;
        self.messages += 1;
        self.bytes += data.len() as u64;
        self.first = Some(self.first.map_or(log_time, |f| f.min(log_time)));
        self.last = Some(self.last.map_or(log_time, |l| l.max(log_time)));
        Ok(())
    }

    /// Messages and payload bytes written so far.
    pub fn written(&self) -> (u64, u64) {
        (self.messages, self.bytes)
    }

    /// Log times of the first and last message written, if any.
    pub fn time_range(&self) -> Option<(u64, u64)> {
        Some((self.first?, self.last?))
    }

    /// Write the summary and return the output.
    pub fn finish(mut self) -> Result<W, RecordError> {
        self.inner.finish()?;
        Ok(self.inner.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn writes_a_ros2_file_that_reads_back() {
        let c = crate::record::ring::tests::channel(3, "/chatter", false);
        let spec = ChannelSpec::from_channel(&c);
        let mut w = Ros2Writer::new(Cursor::new(Vec::new())).unwrap();
        let id = w.channel(&spec).unwrap();
        assert_eq!(w.channel(&spec).unwrap(), id);
        for i in 0..100u64 {
            w.write(id, 1000 + i, 900 + i, &[0, 1, 0, 0, 1, 0, 0, 0, b'x', 0])
                .unwrap();
        }
        assert_eq!(w.time_range(), Some((1000, 1099)));
        let bytes = w.finish().unwrap().into_inner();
        let summary = mcap::Summary::read(&bytes).unwrap().unwrap();
        assert_eq!(summary.stats.as_ref().unwrap().message_count, 100);
        assert!(!summary.chunk_indexes.is_empty());
        assert_eq!(summary.chunk_indexes[0].compression, "zstd");
        let ch = summary.channels.values().next().unwrap();
        assert_eq!(ch.topic, "/chatter");
        assert_eq!(ch.message_encoding, "cdr");
        assert!(ch.metadata["offered_qos_profiles"].contains("reliability: reliable"));
        let schema = ch.schema.as_ref().unwrap();
        assert_eq!(schema.name, "std_msgs/msg/String");
        assert_eq!(schema.encoding, "ros2msg");
        let msgs: Vec<_> = mcap::MessageStream::new(&bytes)
            .unwrap()
            .map(|m| m.unwrap())
            .collect();
        assert_eq!(msgs.len(), 100);
        assert_eq!(msgs[5].log_time, 1005);
        assert_eq!(msgs[5].publish_time, 905);
        assert_eq!(msgs[5].sequence, 6);
    }
}
