//! The bounded path of viewer publications toward ROS, the same for every backend.
//!
//! A backend takes [`RosCommand`]s from one unbounded channel, which it drains without blocking;
//! what viewers publish must not be able to fill it. So at most one
//! [`RosCommand::Publish`] per publisher is in that channel at a time; later ones wait here, at
//! most `depth` per publisher and `bytes` over all publishers, and over either bound the oldest
//! waiting message (of the publisher holding the most bytes, for the byte bound) is dropped and
//! counted: a Teleop panel needs the newest command, not a backlog. Every publisher's newest
//! message is always kept.
//!
//! A publication counts as "in the channel" until the backend drops its payload (it published
//! it, or failed to); dropping the payload forwards the next waiting one. That is the whole
//! contract for a backend: drop each `Publish` payload when done with it and do not keep clones
//! of it (copy the bytes if they must outlive the command, as DDS does on write).
//!
//! Order per publisher is kept: an `Unadvertise` waits for the publications queued before it,
//! so the zero-velocity message sent when a teleop viewer leaves is published before its
//! publisher is destroyed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::{PublisherKey, RosCommand};

/// The bounds of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishLimits {
    /// Messages of one publisher waiting behind the one in the channel.
    pub depth: usize,
    /// Bytes waiting, all publishers together (each publisher's newest message is kept even
    /// over this).
    pub bytes: usize,
}

impl Default for PublishLimits {
    fn default() -> Self {
        PublishLimits {
            depth: 10,
            bytes: 10_000_000,
        }
    }
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Bytes>,
    bytes: usize,
    /// A `Publish` of this publisher is in the channel (its payload not yet dropped).
    in_channel: bool,
    /// An `Unadvertise` arrived while publications were pending: send it after them.
    unadvertise: bool,
}

struct State {
    queues: HashMap<PublisherKey, Queue>,
    bytes: usize,
    /// Drops since the last [`PublishQueue::take_drops`], by publisher.
    drops: BTreeMap<PublisherKey, u64>,
}

/// The per-publisher queues in front of the command channel.
pub(super) struct PublishQueue {
    commands: mpsc::UnboundedSender<RosCommand>,
    /// Rung after every command that enters the channel.
    bell: Arc<super::CommandBell>,
    limits: PublishLimits,
    state: Mutex<State>,
    dropped_total: AtomicU64,
}

/// Owner of a payload in the channel: forwards the publisher's next message when the backend
/// drops it.
struct InChannel {
    payload: Bytes,
    key: PublisherKey,
    queue: Weak<PublishQueue>,
}

impl AsRef<[u8]> for InChannel {
    fn as_ref(&self) -> &[u8] {
        &self.payload
    }
}

impl Drop for InChannel {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.upgrade() {
            queue.done(self.key);
        }
    }
}

impl PublishQueue {
    pub(super) fn new(
        commands: mpsc::UnboundedSender<RosCommand>,
        limits: PublishLimits,
        bell: Arc<super::CommandBell>,
    ) -> Self {
        PublishQueue {
            commands,
            bell,
            limits: PublishLimits {
                depth: limits.depth.max(1),
                bytes: limits.bytes.max(1),
            },
            state: Mutex::new(State {
                queues: HashMap::new(),
                bytes: 0,
                drops: BTreeMap::new(),
            }),
            dropped_total: AtomicU64::new(0),
        }
    }

    /// Send a command straight into the channel. The only place commands enter it.
    pub(super) fn send_now(&self, command: RosCommand) -> bool {
        // A failed send hands the command back; it is dropped here, outside any lock, so a
        // payload owner dropping with it can take the lock again.
        let sent = self.commands.send(command).is_ok();
        self.bell.ring();
        sent
    }

    fn wrap(self: &Arc<Self>, key: PublisherKey, payload: Bytes) -> RosCommand {
        RosCommand::Publish {
            key,
            payload: Bytes::from_owner(InChannel {
                payload,
                key,
                queue: Arc::downgrade(self),
            }),
        }
    }

    /// Queue one publication; returns false if the backend has stopped.
    pub(super) fn publish(self: &Arc<Self>, key: PublisherKey, payload: Bytes) -> bool {
        let mut state = self.state.lock();
        let q = state.queues.entry(key).or_default();
        if !q.in_channel {
            q.in_channel = true;
            drop(state);
            return self.send_now(self.wrap(key, payload));
        }
        let len = payload.len();
        q.bytes += len;
        q.waiting.push_back(payload);
        let over_depth = q.waiting.len() > self.limits.depth;
        state.bytes += len;
        let mut dropped = 0;
        if over_depth {
            dropped += drop_oldest(&mut state, key);
        }
        while state.bytes > self.limits.bytes {
            // The publisher holding the most bytes loses its oldest; newest messages stay.
            let victim = state
                .queues
                .iter()
                .filter(|(_, q)| q.waiting.len() > 1)
                .max_by_key(|(_, q)| q.bytes)
                .map(|(k, _)| *k);
            let Some(victim) = victim else { break };
            dropped += drop_oldest(&mut state, victim);
        }
        drop(state);
        if dropped > 0 {
            self.dropped_total.fetch_add(dropped, Ordering::Relaxed);
        }
        true
    }

    /// Destroy a publisher after the publications queued before.
    pub(super) fn unadvertise(&self, key: PublisherKey) -> bool {
        let mut state = self.state.lock();
        if let Some(q) = state.queues.get_mut(&key) {
            if q.in_channel {
                q.unadvertise = true;
                return true;
            }
            let bytes = q.bytes;
            state.queues.remove(&key);
            state.bytes -= bytes;
        }
        drop(state);
        self.send_now(RosCommand::Unadvertise { key })
    }

    /// The backend is done with the publication of `key` in the channel: forward the next.
    fn done(self: Arc<Self>, key: PublisherKey) {
        let mut state = self.state.lock();
        let Some(q) = state.queues.get_mut(&key) else {
            return;
        };
        let next = q.waiting.pop_front();
        let command = match next {
            Some(payload) => {
                q.bytes -= payload.len();
                state.bytes -= payload.len();
                Some(payload)
            }
            None if q.unadvertise => {
                state.queues.remove(&key);
                None
            }
            None => {
                q.in_channel = false;
                return;
            }
        };
        drop(state);
        let command = match command {
            Some(payload) => self.wrap(key, payload),
            None => RosCommand::Unadvertise { key },
        };
        self.send_now(command);
    }

    /// Drops since the last call, by publisher.
    pub(super) fn take_drops(&self) -> Vec<(PublisherKey, u64)> {
        std::mem::take(&mut self.state.lock().drops)
            .into_iter()
            .collect()
    }

    /// Messages dropped since the start.
    pub(super) fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Messages and bytes waiting (not yet in the channel).
    pub(super) fn waiting(&self) -> (usize, usize) {
        let state = self.state.lock();
        let n = state.queues.values().map(|q| q.waiting.len()).sum();
        (n, state.bytes)
    }
}

/// Drop the oldest waiting message of `key`, counting it; returns how many were dropped (0 or 1).
fn drop_oldest(state: &mut State, key: PublisherKey) -> u64 {
    let Some(q) = state.queues.get_mut(&key) else {
        return 0;
    };
    let Some(old) = q.waiting.pop_front() else {
        return 0;
    };
    q.bytes -= old.len();
    state.bytes -= old.len();
    *state.drops.entry(key).or_insert(0) += 1;
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(cmd: &RosCommand) -> String {
        match cmd {
            RosCommand::Publish { key, payload } => format!("pub {key} {}", payload[0]),
            RosCommand::Unadvertise { key } => format!("unadvertise {key}"),
            other => format!("{other:?}"),
        }
    }

    fn queue(
        depth: usize,
        bytes: usize,
    ) -> (Arc<PublishQueue>, mpsc::UnboundedReceiver<RosCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(PublishQueue::new(
                tx,
                PublishLimits { depth, bytes },
                Arc::default(),
            )),
            rx,
        )
    }

    #[test]
    fn one_in_the_channel_per_publisher_the_rest_wait_and_the_oldest_go() {
        let (q, mut rx) = queue(3, 1 << 20);
        for i in 0..10u8 {
            q.publish(1, Bytes::from(vec![i]));
        }
        q.publish(2, Bytes::from(vec![100]));
        // The channel holds the first of each publisher only.
        let first = rx.try_recv().unwrap();
        let other = rx.try_recv().unwrap();
        assert!(rx.try_recv().is_err());
        assert_eq!(key_of(&first), "pub 1 0");
        assert_eq!(key_of(&other), "pub 2 100");
        // 10 published, 1 in the channel, 3 waiting: 6 dropped, the newest kept.
        assert_eq!(q.waiting(), (3, 3));
        assert_eq!(q.dropped_total(), 6);
        assert_eq!(q.take_drops(), vec![(1, 6)]);
        assert!(q.take_drops().is_empty());
        // Each payload dropped by the backend lets the next one in, in order.
        let mut seen = vec![key_of(&first)];
        drop(first);
        while let Ok(cmd) = rx.try_recv() {
            seen.push(key_of(&cmd));
            drop(cmd);
        }
        assert_eq!(seen, ["pub 1 0", "pub 1 7", "pub 1 8", "pub 1 9"]);
        assert_eq!(q.waiting(), (0, 0));
        drop(other);
        // Nothing in the channel now: the next goes straight in.
        q.publish(1, Bytes::from(vec![42]));
        assert_eq!(key_of(&rx.try_recv().unwrap()), "pub 1 42");
    }

    #[test]
    fn unadvertise_waits_for_the_publications_before_it() {
        let (q, mut rx) = queue(10, 1 << 20);
        q.publish(1, Bytes::from(vec![1]));
        q.publish(1, Bytes::from(vec![0])); // the zero velocity
        q.unadvertise(1);
        let mut seen = Vec::new();
        while let Ok(cmd) = rx.try_recv() {
            seen.push(key_of(&cmd));
        }
        assert_eq!(seen, ["pub 1 1", "pub 1 0", "unadvertise 1"]);
        // Without pending publications it goes at once.
        q.unadvertise(7);
        assert_eq!(key_of(&rx.try_recv().unwrap()), "unadvertise 7");
    }

    #[test]
    fn the_byte_bound_takes_from_the_publisher_holding_most() {
        let (q, mut rx) = queue(100, 1000);
        let big = |tag: u8| Bytes::from(vec![tag; 300]);
        q.publish(1, big(0)); // in the channel
        q.publish(2, Bytes::from(vec![50; 10])); // in the channel
        q.publish(2, Bytes::from(vec![51; 10])); // waits
        for i in 1..=4 {
            q.publish(1, big(i)); // 1200 bytes waiting: the oldest of publisher 1 goes
        }
        assert_eq!(q.waiting(), (4, 910));
        assert_eq!(q.take_drops(), vec![(1, 1)]);
        drop(rx.try_recv());
        drop(rx.try_recv());
        let rest: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|c| key_of(&c))
            .collect();
        // In order per publisher (publishers interleave).
        let of = |p: &str| -> Vec<&String> { rest.iter().filter(|c| c.starts_with(p)).collect() };
        assert_eq!(of("pub 1 "), ["pub 1 2", "pub 1 3", "pub 1 4"]);
        assert_eq!(of("pub 2 "), ["pub 2 51"]);
    }

    #[test]
    fn a_stopped_backend_drops_everything_without_deadlock() {
        let (q, rx) = queue(3, 1 << 20);
        q.publish(1, Bytes::from(vec![1]));
        q.publish(1, Bytes::from(vec![2]));
        q.unadvertise(1);
        drop(rx); // drops the payload in the channel: forwards into a closed channel
        assert!(!q.publish(3, Bytes::from(vec![3])));
        assert_eq!(q.waiting(), (0, 0));
    }
}
