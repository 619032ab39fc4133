//! The black box's memory: the last `blackbox_seconds` of recorded messages, bounded by bytes.
//!
//! Pure policy, no I/O and no clock of its own: every push carries its log time, and eviction
//! is decided from the newest log time seen. Entries hold the payload [`Bytes`] the viewers got
//! (a reference count, not a copy).
//!
//! Bounds:
//! - the window: an entry leaves once it is older than the newest entry by more than the window;
//! - `max_bytes` of memory: payload plus [`ENTRY_OVERHEAD`] per message; over it the oldest
//!   entries leave, whatever their age;
//! - transient-local channels (`/tf_static`, `/robot_description`: published once, long ago)
//!   keep their last [`LATCHED_KEEP`] messages after they leave the window, so a save still has
//!   them; they are written at the start of the saved window (see [`Snapshot`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use crate::hub::ChannelInfo;

/// Messages kept per transient-local channel once they left the window.
pub const LATCHED_KEEP: usize = 4;

/// Memory of one entry besides its payload (the entry itself in the ring), counted against
/// `max_bytes` so that many small messages cannot exceed the bound.
pub const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry>();

fn cost(e: &Entry) -> usize {
    e.payload.len() + ENTRY_OVERHEAD
}

/// One recorded message.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its channel (topic, type, schema).
    pub channel: Arc<ChannelInfo>,
    /// Receive time, ns.
    pub log_time: u64,
    /// The publisher's source time, ns (the log time when unknown).
    pub publish_time: u64,
    /// The CDR payload, shared with the viewers.
    pub payload: Bytes,
}

/// What a save writes: the latched messages that left the window, then the window.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Messages of transient-local channels older than the window (oldest first).
    pub latched: Vec<Entry>,
    /// The window, in arrival order.
    pub window: Vec<Entry>,
}

impl Snapshot {
    /// Log time of the first message of the window, if any.
    pub fn window_start(&self) -> Option<u64> {
        self.window.iter().map(|e| e.log_time).min()
    }
}

/// The ring buffer of the black box.
#[derive(Debug)]
pub struct Ring {
    window_ns: u64,
    max_bytes: usize,
    items: VecDeque<Entry>,
    bytes: usize,
    newest: u64,
    latched: BTreeMap<u64, VecDeque<Entry>>,
    /// Messages that left because of `max_bytes` before the window was over (not silent: the
    /// save reports it).
    evicted_for_bytes: u64,
}

impl Ring {
    /// A ring keeping `window_ns` of messages and at most `max_bytes` of payload.
    pub fn new(window_ns: u64, max_bytes: usize) -> Self {
        Ring {
            window_ns,
            max_bytes,
            items: VecDeque::new(),
            bytes: 0,
            newest: 0,
            latched: BTreeMap::new(),
            evicted_for_bytes: 0,
        }
    }

    /// Add a message and evict what falls out of the window or over the byte bound.
    pub fn push(&mut self, entry: Entry) {
        self.newest = self.newest.max(entry.log_time);
        self.bytes += cost(&entry);
        self.items.push_back(entry);
        let horizon = self.newest.saturating_sub(self.window_ns);
        while let Some(front) = self.items.front() {
            let too_old = front.log_time < horizon;
            let too_big = self.bytes > self.max_bytes;
            if !too_old && !too_big {
                break;
            }
            if !too_old {
                self.evicted_for_bytes += 1;
            }
            let Some(old) = self.items.pop_front() else {
                break;
            };
            self.bytes -= cost(&old);
            if old.channel.reliable_latched {
                let kept = self.latched.entry(old.channel.id).or_default();
                kept.push_back(old);
                while kept.len() > LATCHED_KEEP {
                    kept.pop_front();
                }
            }
        }
    }

    /// A copy of the contents (payloads shared, not copied), for a save.
    pub fn snapshot(&self) -> Snapshot {
        let mut latched: Vec<Entry> = self.latched.values().flatten().cloned().collect();
        latched.sort_by_key(|e| e.log_time);
        Snapshot {
            latched,
            window: self.items.iter().cloned().collect(),
        }
    }

    /// (messages, bytes counted against the bound) in the window.
    pub fn len(&self) -> (usize, usize) {
        (self.items.len(), self.bytes)
    }

    /// True if nothing is in the window.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Messages evicted by the byte bound before their time was up, since the start.
    pub fn evicted_for_bytes(&self) -> u64 {
        self.evicted_for_bytes
    }

    /// Forget the messages of a channel that left the graph from the latched store (the window
    /// keeps them until they age out: they were received).
    pub fn forget_latched(&mut self, channel: u64) {
        self.latched.remove(&channel);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::server;

    pub(crate) fn channel(id: u64, topic: &str, latched: bool) -> Arc<ChannelInfo> {
        let schema = crate::schema::parse_ros2msg("std_msgs/msg/String", "string data").unwrap();
        Arc::new(ChannelInfo {
            id,
            topic: topic.into(),
            type_name: "std_msgs/msg/String".into(),
            schema: Arc::new(schema),
            advert: server::Channel {
                id,
                topic: topic.into(),
                encoding: "cdr".into(),
                schema_name: "std_msgs/msg/String".into(),
                schema_encoding: Some("ros2msg".into()),
                schema: "string data".into(),
                metadata: Default::default(),
            },
            reliable_latched: latched,
        })
    }

    fn entry(c: &Arc<ChannelInfo>, t: u64, len: usize) -> Entry {
        Entry {
            channel: c.clone(),
            log_time: t,
            publish_time: t,
            payload: Bytes::from(vec![0u8; len]),
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn keeps_exactly_the_window() {
        let c = channel(1, "/a", false);
        let mut r = Ring::new(10 * S, usize::MAX);
        for t in 0..=30 {
            r.push(entry(&c, t * S, 1));
        }
        let snap = r.snapshot();
        let times: Vec<u64> = snap.window.iter().map(|e| e.log_time / S).collect();
        assert_eq!(times, (20..=30).collect::<Vec<_>>());
        assert!(snap.latched.is_empty());
        assert_eq!(r.len(), (11, 11 * (1 + ENTRY_OVERHEAD)));
        assert_eq!(r.evicted_for_bytes(), 0);
    }

    #[test]
    fn byte_bound_evicts_oldest_and_counts() {
        let c = channel(1, "/a", false);
        let mut r = Ring::new(100 * S, 3 * (300 + ENTRY_OVERHEAD));
        for t in 0..10 {
            r.push(entry(&c, t * S, 300));
        }
        assert_eq!(r.len(), (3, 3 * (300 + ENTRY_OVERHEAD)));
        assert_eq!(r.evicted_for_bytes(), 7);
        assert_eq!(r.snapshot().window[0].log_time, 7 * S);
    }

    #[test]
    fn latched_channels_outlive_the_window() {
        let stat = channel(1, "/tf_static", true);
        let live = channel(2, "/odom", false);
        let mut r = Ring::new(5 * S, usize::MAX);
        r.push(entry(&stat, 0, 10));
        for t in 1..=20 {
            r.push(entry(&live, t * S, 1));
        }
        let snap = r.snapshot();
        assert_eq!(snap.latched.len(), 1);
        assert_eq!(snap.latched[0].channel.id, 1);
        assert_eq!(snap.window_start(), Some(15 * S));
        for t in 0..10 {
            r.push(entry(&stat, (21 + t) * S, 10));
        }
        for t in 40..50 {
            r.push(entry(&live, t * S, 1));
        }
        assert_eq!(r.snapshot().latched.len(), LATCHED_KEEP);
        r.forget_latched(1);
        assert!(r.snapshot().latched.is_empty());
    }
}
