//! The per-viewer outbox: two bounded queues and the overload policy.
//!
//! - **Control** (advertise, statuses, replies): bounded by `message_backlog_size`, never dropped.
//!   If it overflows the viewer cannot keep up with even the low-rate traffic, so the outbox
//!   closes with [`CloseReason::ControlOverflow`] and the transport disconnects it after trying to
//!   say why.
//! - **Refusals** (statuses and failure answers to requests that were refused) share the control
//!   queue but never overflow it: at most [`REFUSALS_QUEUED`] wait at once, and the rest are
//!   counted and summarised ([`Outbox::take_refusal_report`]). A viewer that floods requests and
//!   reads slowly is told how many were refused; it is never disconnected for being refused.
//! - **Replies** to parameter requests and service calls are counted by kind while queued
//!   ([`Outbox::queued_control`]), so the per-viewer request limits count answers the viewer has
//!   not read yet: asking without reading cannot pile up answers.
//! - **Data** (message payloads): one FIFO per channel, served round-robin so a 1 MB point cloud
//!   cannot starve a 100-byte state topic. Bounded by count (`message_backlog_size`) and by bytes
//!   (`send_buffer_limit`). Over either bound the oldest message of the channel holding the most
//!   (bytes or messages) is dropped, but each channel always keeps its newest message: under
//!   pressure a viewer still sees the latest value of every topic. Memory is therefore bounded by
//!   the limits plus one message per subscribed channel.
//! - Every drop is counted per channel; [`Outbox::take_drop_report`] hands the counts to the
//!   writer, which turns them into a throttled warning status naming the topics.
//!
//! The outbox knows nothing of the wire format; each transport's writer encodes what it pops.
//! Pushing never blocks and never waits on the viewer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::ChannelInfo;
use crate::protocol::server::StatusLevel;

/// A control message, transport-neutral: the writer encodes it for its dialect.
#[derive(Debug, Clone)]
pub enum Control {
    /// Advertise these channels.
    Advertise(Vec<Arc<ChannelInfo>>),
    /// These channels are gone.
    Unadvertise(Vec<u64>),
    /// A status.
    Status {
        /// Severity.
        level: StatusLevel,
        /// Text.
        message: String,
        /// Optional id (a later status with the same id replaces it).
        id: Option<String>,
    },
    /// Withdraw statuses.
    RemoveStatus(Vec<String>),
    /// A JSON message that is the same in every dialect.
    Text(String),
    /// A binary message that is the same in every dialect.
    Binary(Bytes),
    /// A binary message in two parts, sent without joining them: `head` then `body` (an asset
    /// response: its header, then the file as read). The WebSocket writer sends it as
    /// fragments, so the body is never copied into one more buffer of its size.
    Parts {
        /// The first bytes.
        head: Bytes,
        /// The rest.
        body: Bytes,
    },
}

/// One message for a viewer.
#[derive(Debug, Clone)]
pub struct DataItem {
    /// The channel it belongs to.
    pub channel: u64,
    /// What the wire calls the subscription (v1: the subscription id; v2: the channel id).
    pub wire_id: u64,
    /// Log time, ns.
    pub log_time: u64,
    /// The message, shared with every other viewer.
    pub payload: Bytes,
}

/// What the writer pops.
#[derive(Debug)]
pub enum Outgoing {
    /// A control message.
    Control(Control),
    /// A data message.
    Data(DataItem),
}

/// What a control message is, for the bounds that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    /// Advertisements, graph updates, the server's own statuses: an overflow disconnects.
    Ordinary,
    /// The answer to a refused request: never overflows, summarised when too many wait.
    Refusal,
    /// A reply to a parameter request.
    ParameterReply,
    /// A reply to a service call.
    ServiceReply,
}

impl ControlKind {
    const COUNT: usize = 4;

    fn index(self) -> usize {
        self as usize
    }
}

/// Refusals waiting in one outbox at most; the rest are counted and summarised.
pub const REFUSALS_QUEUED: usize = 32;

/// Why an outbox closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The control queue overflowed.
    ControlOverflow {
        /// Its bound.
        limit: usize,
    },
    /// The transport or hub asked for it (shutdown, disconnect).
    Requested(String),
    /// The viewer broke a rule of the transport; it is closed with this WebSocket close code
    /// (1002 protocol error, 1007 invalid data, 1008 policy, 1009 too big) and reason.
    Refused {
        /// The close code.
        code: u16,
        /// What the viewer did, naming the limit or rule.
        reason: String,
    },
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::ControlOverflow { limit } => write!(
                f,
                "control queue full ({limit} messages): the viewer is not reading; \
                 disconnecting (raise message_backlog_size if this viewer is just slow)"
            ),
            CloseReason::Requested(why) => f.write_str(why),
            CloseReason::Refused { reason, .. } => f.write_str(reason),
        }
    }
}

/// The bounds of an outbox.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Control messages queued before the viewer is disconnected.
    pub control_messages: usize,
    /// Data messages queued before the oldest are dropped.
    pub data_messages: usize,
    /// Data bytes queued before the oldest are dropped.
    pub data_bytes: usize,
}

/// Per-channel drop count since the last report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Topic of the channel.
    pub topic: Arc<str>,
    /// Messages dropped.
    pub count: u64,
}

struct ChanQueue {
    items: VecDeque<DataItem>,
    bytes: usize,
    topic: Arc<str>,
}

#[derive(Default)]
struct Inner {
    control: VecDeque<(Control, ControlKind)>,
    /// Control messages queued, by kind.
    kinds: [usize; ControlKind::COUNT],
    /// Refusals not queued since the last report, and the last one's text.
    refusals_suppressed: u64,
    last_suppressed: String,
    channels: HashMap<u64, ChanQueue>,
    /// Channels with queued data, in service order.
    ready: VecDeque<u64>,
    count: usize,
    bytes: usize,
    closed: Option<CloseReason>,
    drops: BTreeMap<u64, Dropped>,
}

/// The outbox of one viewer. Shared between the hub (pushes) and the transport's writer (pops).
pub struct Outbox {
    inner: Mutex<Inner>,
    notify: Notify,
    limits: Limits,
    dropped_total: AtomicU64,
    sent_total: AtomicU64,
}

impl Outbox {
    /// An empty outbox with these bounds.
    pub fn new(limits: Limits) -> Self {
        Outbox {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            limits: Limits {
                control_messages: limits.control_messages.max(1),
                data_messages: limits.data_messages.max(1),
                data_bytes: limits.data_bytes.max(1),
            },
            dropped_total: AtomicU64::new(0),
            sent_total: AtomicU64::new(0),
        }
    }

    /// Queue a control message. Fails (and closes the outbox) if the control queue is full.
    pub fn push_control(&self, msg: Control) -> Result<(), CloseReason> {
        self.push_kind(msg, ControlKind::Ordinary)
    }

    /// Queue a reply of `kind` (counted while queued, see [`Outbox::queued_control`]). Fails
    /// (and closes the outbox) if the control queue is full.
    pub fn push_reply(&self, msg: Control, kind: ControlKind) -> Result<(), CloseReason> {
        self.push_kind(msg, kind)
    }

    /// Queue the answer to a refused request. Never fails and never closes the outbox: when
    /// [`REFUSALS_QUEUED`] already wait (or the control queue is full) it is only counted, with
    /// `reason` kept for the summary ([`Outbox::take_refusal_report`]).
    pub fn push_refusal(&self, msg: Control, reason: &str) {
        let mut inner = self.inner.lock();
        if !self.refusal_room(&mut inner, reason) {
            return;
        }
        inner.kinds[ControlKind::Refusal.index()] += 1;
        inner.control.push_back((msg, ControlKind::Refusal));
        drop(inner);
        self.notify.notify_one();
    }

    /// [`Outbox::push_refusal`] of a status whose text is also the summary's example.
    pub fn push_refusal_status(&self, level: StatusLevel, message: String) {
        let mut inner = self.inner.lock();
        if !self.refusal_room(&mut inner, &message) {
            return;
        }
        inner.kinds[ControlKind::Refusal.index()] += 1;
        let status = Control::Status {
            level,
            message,
            id: None,
        };
        inner.control.push_back((status, ControlKind::Refusal));
        drop(inner);
        self.notify.notify_one();
    }

    /// True if a refusal may be queued; else it is counted (with `reason`) and false returned.
    fn refusal_room(&self, inner: &mut Inner, reason: &str) -> bool {
        if inner.closed.is_some() {
            return false;
        }
        if inner.kinds[ControlKind::Refusal.index()] < REFUSALS_QUEUED
            && inner.control.len() < self.limits.control_messages
        {
            return true;
        }
        inner.refusals_suppressed += 1;
        if inner.last_suppressed != reason {
            inner.last_suppressed.clear();
            inner.last_suppressed.push_str(reason);
        }
        false
    }

    /// Control messages of `kind` queued now.
    pub fn queued_control(&self, kind: ControlKind) -> usize {
        self.inner.lock().kinds[kind.index()]
    }

    /// Refusals counted but not queued since the last call, and the last one's text.
    pub fn take_refusal_report(&self) -> Option<(u64, String)> {
        let mut inner = self.inner.lock();
        if inner.refusals_suppressed == 0 {
            return None;
        }
        let n = std::mem::take(&mut inner.refusals_suppressed);
        Some((n, std::mem::take(&mut inner.last_suppressed)))
    }

    fn push_kind(&self, msg: Control, kind: ControlKind) -> Result<(), CloseReason> {
        let mut inner = self.inner.lock();
        if let Some(reason) = &inner.closed {
            return Err(reason.clone());
        }
        if inner.control.len() >= self.limits.control_messages {
            let reason = CloseReason::ControlOverflow {
                limit: self.limits.control_messages,
            };
            inner.closed = Some(reason.clone());
            drop(inner);
            self.notify.notify_one();
            return Err(reason);
        }
        inner.kinds[kind.index()] += 1;
        inner.control.push_back((msg, kind));
        drop(inner);
        self.notify.notify_one();
        Ok(())
    }

    /// Queue a data message, dropping older ones if over the bounds. Never blocks.
    pub fn push_data(&self, item: DataItem, topic: &Arc<str>) {
        let mut inner = self.inner.lock();
        if inner.closed.is_some() {
            return;
        }
        let len = item.payload.len();
        let channel = item.channel;
        let q = inner.channels.entry(channel).or_insert_with(|| ChanQueue {
            items: VecDeque::new(),
            bytes: 0,
            topic: topic.clone(),
        });
        let was_empty = q.items.is_empty();
        q.items.push_back(item);
        q.bytes += len;
        inner.count += 1;
        inner.bytes += len;
        if was_empty {
            inner.ready.push_back(channel);
        }
        let dropped = self.enforce_limits(&mut inner);
        drop(inner);
        if dropped > 0 {
            self.dropped_total.fetch_add(dropped, Ordering::Relaxed);
        }
        self.notify.notify_one();
    }

    /// Drop oldest messages until within bounds, keeping each channel's newest message.
    fn enforce_limits(&self, inner: &mut Inner) -> u64 {
        let mut dropped = 0;
        loop {
            let over_bytes = inner.bytes > self.limits.data_bytes;
            let over_count = inner.count > self.limits.data_messages;
            if !over_bytes && !over_count {
                break;
            }
            // The hog: most bytes when over the byte bound, else most messages.
            let victim = inner
                .channels
                .iter()
                .filter(|(_, q)| q.items.len() > 1)
                .max_by_key(|(_, q)| if over_bytes { q.bytes } else { q.items.len() })
                .map(|(id, _)| *id);
            let Some(victim) = victim else { break };
            let Some(q) = inner.channels.get_mut(&victim) else {
                break;
            };
            let Some(old) = q.items.pop_front() else {
                break;
            };
            q.bytes -= old.payload.len();
            let topic = q.topic.clone();
            inner.count -= 1;
            inner.bytes -= old.payload.len();
            inner
                .drops
                .entry(victim)
                .or_insert(Dropped { topic, count: 0 })
                .count += 1;
            dropped += 1;
        }
        dropped
    }

    /// Move up to `max_items` messages (control first, then data round-robin by channel) into
    /// `out`, stopping early once `max_bytes` of data are taken. Returns the close reason once
    /// the outbox is closed.
    pub fn pop_batch(
        &self,
        out: &mut Vec<Outgoing>,
        max_items: usize,
        max_bytes: usize,
    ) -> Result<(), CloseReason> {
        let mut inner = self.inner.lock();
        if let Some(reason) = &inner.closed {
            return Err(reason.clone());
        }
        let mut bytes = 0;
        let mut taken = 0;
        while taken < max_items {
            if let Some((c, kind)) = inner.control.pop_front() {
                inner.kinds[kind.index()] -= 1;
                out.push(Outgoing::Control(c));
                taken += 1;
                continue;
            }
            if bytes >= max_bytes {
                break;
            }
            let Some(channel) = inner.ready.pop_front() else {
                break;
            };
            let Some(q) = inner.channels.get_mut(&channel) else {
                continue;
            };
            let Some(item) = q.items.pop_front() else {
                continue;
            };
            q.bytes -= item.payload.len();
            let more = !q.items.is_empty();
            inner.count -= 1;
            inner.bytes -= item.payload.len();
            bytes += item.payload.len();
            if more {
                inner.ready.push_back(channel);
            }
            out.push(Outgoing::Data(item));
            taken += 1;
        }
        self.sent_total.fetch_add(taken as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Wait until something is pushed or the outbox closes. A push that happened since the last
    /// wait is not lost (the notification is stored).
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Forget queued data of a channel (the viewer unsubscribed: nothing more may arrive for it).
    pub fn purge_channel(&self, channel: u64) {
        let mut inner = self.inner.lock();
        if let Some(q) = inner.channels.remove(&channel) {
            inner.count -= q.items.len();
            inner.bytes -= q.bytes;
            inner.ready.retain(|c| *c != channel);
        }
    }

    /// The drops since the last call, by channel; empty if none.
    pub fn take_drop_report(&self) -> Vec<Dropped> {
        std::mem::take(&mut self.inner.lock().drops)
            .into_values()
            .collect()
    }

    /// Close the outbox: pushes are ignored from now on, and the writer sees the reason.
    pub fn close(&self, reason: CloseReason) {
        let mut inner = self.inner.lock();
        if inner.closed.is_none() {
            inner.closed = Some(reason);
        }
        drop(inner);
        self.notify.notify_one();
    }

    /// Why the outbox closed, if it did.
    pub fn closed(&self) -> Option<CloseReason> {
        self.inner.lock().closed.clone()
    }

    /// Messages and bytes of data queued now.
    pub fn queued(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        (inner.count, inner.bytes)
    }

    /// Data messages dropped since the outbox was made.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Messages handed to the writer since the outbox was made.
    pub fn sent_total(&self) -> u64 {
        self.sent_total.load(Ordering::Relaxed)
    }

    /// The bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

/// Turn a refusal report into the status text a viewer sees.
pub fn refusal_report_message(count: u64, last: &str) -> String {
    format!(
        "{count} more refused request(s) not answered one by one: this viewer sends requests \
         faster than it reads the answers (at most {REFUSALS_QUEUED} refusals wait at once). \
         The last: {last}"
    )
}

/// Turn a drop report into the status text a viewer sees.
pub fn drop_report_message(drops: &[Dropped], limits: Limits) -> String {
    let total: u64 = drops.iter().map(|d| d.count).sum();
    let topics: Vec<String> = drops
        .iter()
        .map(|d| format!("{} ({})", d.topic, d.count))
        .collect();
    format!(
        "Dropped {total} message(s) because this viewer is not keeping up \
         (queue limits: {} messages, {} bytes): {}",
        limits.data_messages,
        limits.data_bytes,
        topics.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(count: usize, bytes: usize) -> Limits {
        Limits {
            control_messages: 4,
            data_messages: count,
            data_bytes: bytes,
        }
    }

    fn item(channel: u64, n: usize, tag: u64) -> DataItem {
        DataItem {
            channel,
            wire_id: channel,
            log_time: tag,
            payload: Bytes::from(vec![0u8; n]),
        }
    }

    fn drain(o: &Outbox) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        o.pop_batch(&mut out, usize::MAX, usize::MAX).unwrap();
        out.into_iter()
            .filter_map(|m| match m {
                Outgoing::Data(d) => Some((d.channel, d.log_time)),
                Outgoing::Control(_) => None,
            })
            .collect()
    }

    #[test]
    fn round_robin_between_channels() {
        let o = Outbox::new(limits(100, 1 << 20));
        let t: Arc<str> = "/t".into();
        for i in 0..3 {
            o.push_data(item(1, 10, i), &t);
        }
        o.push_data(item(2, 10, 9), &t);
        assert_eq!(drain(&o), vec![(1, 0), (2, 9), (1, 1), (1, 2)]);
    }

    #[test]
    fn control_comes_first_and_overflow_closes() {
        let o = Outbox::new(limits(100, 1 << 20));
        let t: Arc<str> = "/t".into();
        o.push_data(item(1, 10, 0), &t);
        o.push_control(Control::Text("a".into())).unwrap();
        let mut out = Vec::new();
        o.pop_batch(&mut out, 10, 1 << 20).unwrap();
        assert!(matches!(out[0], Outgoing::Control(_)));
        for _ in 0..4 {
            o.push_control(Control::Text("x".into())).unwrap();
        }
        let err = o.push_control(Control::Text("x".into())).unwrap_err();
        assert_eq!(err, CloseReason::ControlOverflow { limit: 4 });
        assert!(o.closed().is_some());
        assert!(o.pop_batch(&mut out, 10, 10).is_err());
    }

    #[test]
    fn big_topic_cannot_starve_small_one() {
        // 3 MB budget; a 1 MB cloud floods, a 100-byte state topic trickles.
        let o = Outbox::new(limits(1000, 3_000_000));
        let cloud: Arc<str> = "/points".into();
        let state: Arc<str> = "/state".into();
        for i in 0..50 {
            o.push_data(item(1, 1_000_000, i), &cloud);
            if i % 10 == 0 {
                o.push_data(item(2, 100, i), &state);
            }
        }
        let (count, bytes) = o.queued();
        assert!(bytes <= 3_000_000 + 1_000_000, "bytes {bytes}");
        // every state message survived; only cloud messages were dropped
        let got = drain(&o);
        let states: Vec<u64> = got
            .iter()
            .filter(|(c, _)| *c == 2)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(states, vec![0, 10, 20, 30, 40]);
        assert_eq!(count, got.len());
        // the newest cloud is still there
        assert!(got.contains(&(1, 49)));
        let report = o.take_drop_report();
        assert_eq!(report.len(), 1);
        assert_eq!(&*report[0].topic, "/points");
        assert_eq!(
            report[0].count,
            50 - got.iter().filter(|(c, _)| *c == 1).count() as u64
        );
        assert_eq!(o.dropped_total(), report[0].count);
        assert!(o.take_drop_report().is_empty());
    }

    #[test]
    fn count_bound_drops_oldest_of_busiest_channel() {
        let o = Outbox::new(limits(4, 1 << 20));
        let t: Arc<str> = "/t".into();
        for i in 0..10 {
            o.push_data(item(1, 1, i), &t);
        }
        o.push_data(item(2, 1, 100), &t);
        assert_eq!(o.queued().0, 4);
        assert_eq!(drain(&o), vec![(1, 7), (2, 100), (1, 8), (1, 9)]);
        assert_eq!(o.dropped_total(), 7);
    }

    #[test]
    fn oversized_single_message_is_kept_as_latest() {
        let o = Outbox::new(limits(10, 100));
        let t: Arc<str> = "/big".into();
        o.push_data(item(1, 1000, 0), &t);
        o.push_data(item(1, 1000, 1), &t);
        assert_eq!(drain(&o), vec![(1, 1)]);
    }

    #[test]
    fn purge_forgets_a_channel() {
        let o = Outbox::new(limits(10, 1000));
        let t: Arc<str> = "/t".into();
        o.push_data(item(1, 1, 0), &t);
        o.push_data(item(2, 1, 0), &t);
        o.purge_channel(1);
        assert_eq!(o.queued(), (1, 1));
        assert_eq!(drain(&o), vec![(2, 0)]);
    }

    #[test]
    fn batch_respects_byte_budget() {
        let o = Outbox::new(limits(100, 1 << 20));
        let t: Arc<str> = "/t".into();
        for i in 0..10 {
            o.push_data(item(1, 100, i), &t);
        }
        let mut out = Vec::new();
        o.pop_batch(&mut out, 100, 250).unwrap();
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn refusals_never_overflow_and_are_summarised() {
        let o = Outbox::new(Limits {
            control_messages: 100,
            data_messages: 10,
            data_bytes: 1000,
        });
        for i in 0..5000 {
            o.push_refusal_status(StatusLevel::Error, format!("refused {i}"));
        }
        assert!(o.closed().is_none(), "never disconnected for being refused");
        assert_eq!(o.queued_control(ControlKind::Refusal), REFUSALS_QUEUED);
        let (n, last) = o.take_refusal_report().unwrap();
        assert_eq!(n, 5000 - REFUSALS_QUEUED as u64);
        assert_eq!(last, "refused 4999");
        assert!(o.take_refusal_report().is_none());
        let msg = refusal_report_message(n, &last);
        assert!(msg.starts_with(&format!("{n} more refused")), "{msg}");
        // Read: room again.
        let mut out = Vec::new();
        o.pop_batch(&mut out, 1000, 1000).unwrap();
        assert_eq!(out.len(), REFUSALS_QUEUED);
        assert_eq!(o.queued_control(ControlKind::Refusal), 0);
        o.push_refusal(Control::Text("x".into()), "x");
        assert_eq!(o.queued_control(ControlKind::Refusal), 1);
        // Ordinary control messages fill the rest and still overflow as before.
        for _ in 0..99 {
            o.push_control(Control::Text("a".into())).unwrap();
        }
        o.push_refusal(Control::Text("y".into()), "y");
        assert_eq!(o.take_refusal_report(), Some((1, "y".into())));
        assert!(o.push_control(Control::Text("b".into())).is_err());
    }

    #[test]
    fn replies_are_counted_by_kind_while_queued() {
        let o = Outbox::new(limits(10, 100));
        o.push_reply(Control::Text("p".into()), ControlKind::ParameterReply)
            .unwrap();
        o.push_reply(Control::Text("s".into()), ControlKind::ServiceReply)
            .unwrap();
        o.push_reply(Control::Text("s".into()), ControlKind::ServiceReply)
            .unwrap();
        assert_eq!(o.queued_control(ControlKind::ParameterReply), 1);
        assert_eq!(o.queued_control(ControlKind::ServiceReply), 2);
        let mut out = Vec::new();
        o.pop_batch(&mut out, 2, 100).unwrap();
        assert_eq!(o.queued_control(ControlKind::ParameterReply), 0);
        assert_eq!(o.queued_control(ControlKind::ServiceReply), 1);
    }
}
