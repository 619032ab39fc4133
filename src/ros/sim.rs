//! The in-process simulated ROS graph.
//!
//! Stands in for a robot wherever there is no ROS 2: in tests, in `--demo`, and for load
//! generation in benchmarks. It implements the same boundary as the live ROS backend (commands in;
//! graph events and messages out) and behaves like DDS where the core can tell: publishers appear
//! in the graph with their QoS, a subscription receives every publisher's messages on its topic
//! (the gateway's own publishers included), and publications from viewers reach the simulated
//! subscribers.
//!
//! Its state is bounded whatever viewers do: publications from viewers are copied and handed on
//! (nothing is logged), a simulated subscriber keeps at most [`SUBSCRIBER_DEPTH`] unread
//! messages (newer ones are dropped and counted, like a full keep-last history), and graph
//! changes viewers cause (their client channels) are coalesced: one snapshot at most every
//! [`GRAPH_COALESCE`], as the r2r backend's polling does, so a viewer advertising thousands of
//! channels costs one snapshot per period, not one per channel. Changes made by simulated nodes
//! (tests, the demo) are sent at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use super::{
    now_ns, BackendIo, GraphSnapshot, MessageSink, PublisherInfo, PublisherKey, Qos, RosCommand,
    RosEvent, SubscriptionKey, TopicInfo,
};

/// The node name the gateway's own publishers appear under.
pub const GATEWAY_NODE: &str = "/foxglove_gateway";
/// Unread messages a simulated subscriber keeps; newer ones are dropped (and counted).
pub const SUBSCRIBER_DEPTH: usize = 10_000;
/// Graph changes within this period are sent as one snapshot.
pub const GRAPH_COALESCE: Duration = Duration::from_millis(50);

/// A message seen by a simulated subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// Topic it was published on.
    pub topic: String,
    /// Type of the publisher.
    pub type_name: String,
    /// The CDR payload.
    pub payload: Bytes,
}

struct SimPub {
    topic: String,
    type_name: String,
    info: PublisherInfo,
    /// Transient-local publishers keep their last `depth` messages for late subscriptions, as
    /// DDS does.
    history: std::collections::VecDeque<Bytes>,
}

#[derive(Default)]
pub(super) struct State {
    publishers: BTreeMap<u64, SimPub>,
    next_pub: u64,
    /// Gateway subscriptions by topic: (key, type).
    gateway_subs: HashMap<String, Vec<(SubscriptionKey, String)>>,
    gateway_sub_topics: HashMap<SubscriptionKey, String>,
    /// Gateway publishers: key → sim publisher id.
    gateway_pubs: HashMap<PublisherKey, u64>,
    observers: Vec<(String, mpsc::Sender<SimMessage>)>,
    unsupported_types: BTreeSet<String>,
    last_snapshot: Option<GraphSnapshot>,
    pub(super) events: Option<mpsc::UnboundedSender<RosEvent>>,
    messages: Option<Arc<dyn MessageSink>>,
    /// The graph changed since the last snapshot was sent.
    graph_dirty: bool,
    /// `use_sim_time`: follow `/clock` as the live ROS backend does.
    use_sim_time: bool,
    /// The last `/clock` value, with `use_sim_time`.
    sim_time: Option<u64>,
    /// Simulated services, subscribers and parameter nodes (`sim_services`).
    pub(super) extra: super::sim_services::Extra,
}

/// The topic and type that drive sim time (rclcpp's TimeSource).
const CLOCK_TOPIC: &str = "/clock";
const CLOCK_TYPE: &str = "rosgraph_msgs/msg/Clock";

/// A handle on the simulated graph. Clones share the graph.
#[derive(Clone, Default)]
pub struct SimGraph {
    pub(super) state: Arc<Mutex<State>>,
    /// Wakes the backend task to send a snapshot (after [`GRAPH_COALESCE`]).
    changed: Arc<Notify>,
    /// Messages simulated subscribers did not take (their queue was full).
    subscriber_drops: Arc<AtomicU64>,
}

/// A simulated publisher; leaves the graph when dropped.
pub struct SimPublisher {
    graph: SimGraph,
    id: u64,
    topic: String,
}

impl SimGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connect the graph to the core and process its commands on the current tokio runtime.
    pub fn start(&self, io: BackendIo) -> tokio::task::JoinHandle<()> {
        // The graph waits on the command channel itself: no bell needed.
        let BackendIo {
            mut commands,
            events,
            messages,
            bell: _,
        } = io;
        {
            let mut s = self.state.lock();
            s.events = Some(events);
            s.messages = Some(messages);
            s.graph_dirty = true;
        }
        self.flush_graph();
        let graph = self.clone();
        tokio::spawn(async move {
            let mut flush_at: Option<tokio::time::Instant> = None;
            loop {
                let due = async {
                    match flush_at {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    cmd = commands.recv() => match cmd {
                        Some(cmd) => graph.apply(cmd),
                        None => break,
                    },
                    _ = graph.changed.notified(), if flush_at.is_none() => {
                        flush_at = Some(tokio::time::Instant::now() + GRAPH_COALESCE);
                    }
                    _ = due => {
                        flush_at = None;
                        graph.flush_graph();
                    }
                }
            }
        })
    }

    /// Add a publisher (a simulated node's) to the graph.
    pub fn add_publisher(
        &self,
        topic: &str,
        type_name: &str,
        node: &str,
        qos: Qos,
    ) -> SimPublisher {
        let id = {
            let mut s = self.state.lock();
            s.next_pub += 1;
            let id = s.next_pub;
            s.publishers.insert(
                id,
                SimPub {
                    topic: topic.to_string(),
                    type_name: type_name.to_string(),
                    info: PublisherInfo {
                        node: node.to_string(),
                        qos,
                    },
                    history: Default::default(),
                },
            );
            id
        };
        self.graph_changed();
        SimPublisher {
            graph: self.clone(),
            id,
            topic: topic.to_string(),
        }
    }

    /// Observe every message published on `topic` (by simulated nodes and by viewers). At most
    /// [`SUBSCRIBER_DEPTH`] unread messages wait; newer ones are dropped and counted
    /// ([`SimGraph::subscriber_drops`]).
    pub fn subscribe(&self, topic: &str) -> mpsc::Receiver<SimMessage> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_DEPTH);
        self.state.lock().observers.push((topic.to_string(), tx));
        rx
    }

    /// Messages simulated subscribers did not take because their queue was full.
    pub fn subscriber_drops(&self) -> u64 {
        self.subscriber_drops.load(Ordering::Relaxed)
    }

    /// Make subscriptions and publishers of `type_name` fail, as the live ROS backend does for a type
    /// it was not built with.
    pub fn set_unsupported_type(&self, type_name: &str) {
        self.state
            .lock()
            .unsupported_types
            .insert(type_name.to_string());
    }

    /// How many gateway subscriptions exist on `topic` (the "one ROS subscription" assertion).
    pub fn gateway_subscriptions(&self, topic: &str) -> usize {
        self.state
            .lock()
            .gateway_subs
            .get(topic)
            .map_or(0, |v| v.len())
    }

    /// Behave like the live ROS backend under `use_sim_time`: every `rosgraph_msgs/msg/Clock`
    /// published on `/clock` moves the time (a [`RosEvent::Time`] when it changes), and message
    /// log times are the last `/clock` value (0 before the first) instead of wall-clock time.
    pub fn set_use_sim_time(&self, on: bool) {
        self.state.lock().use_sim_time = on;
    }

    fn apply(&self, cmd: RosCommand) {
        let mut s = self.state.lock();
        match cmd {
            RosCommand::Subscribe {
                key,
                topic,
                type_name,
            } => {
                if s.unsupported_types.contains(&type_name) {
                    send_event(&s, unsupported(key, &type_name, true));
                    return;
                }
                s.gateway_sub_topics.insert(key, topic.clone());
                // DDS replays transient-local history to a new subscription.
                let replay: Vec<Bytes> = s
                    .publishers
                    .values()
                    .filter(|p| p.topic == topic && p.type_name == type_name)
                    .flat_map(|p| p.history.iter().cloned())
                    .collect();
                s.gateway_subs
                    .entry(topic)
                    .or_default()
                    .push((key, type_name));
                let sink = s.messages.clone();
                drop(s);
                if let Some(sink) = sink {
                    for payload in replay {
                        let now = now_ns();
                        sink.message(key, now, now, payload);
                    }
                }
            }
            RosCommand::Unsubscribe { key } => {
                if let Some(topic) = s.gateway_sub_topics.remove(&key) {
                    if let Some(v) = s.gateway_subs.get_mut(&topic) {
                        v.retain(|(k, _)| *k != key);
                        if v.is_empty() {
                            s.gateway_subs.remove(&topic);
                        }
                    }
                }
            }
            RosCommand::Advertise {
                key,
                topic,
                type_name,
            } => {
                if s.unsupported_types.contains(&type_name) {
                    send_event(&s, unsupported(key, &type_name, false));
                    return;
                }
                s.next_pub += 1;
                let id = s.next_pub;
                s.publishers.insert(
                    id,
                    SimPub {
                        topic,
                        type_name,
                        info: PublisherInfo {
                            node: GATEWAY_NODE.to_string(),
                            qos: Qos::default(),
                        },
                        history: Default::default(),
                    },
                );
                s.gateway_pubs.insert(key, id);
                drop(s);
                self.graph_changed_later();
            }
            RosCommand::Unadvertise { key } => {
                if let Some(id) = s.gateway_pubs.remove(&key) {
                    s.publishers.remove(&id);
                    drop(s);
                    self.graph_changed_later();
                }
            }
            RosCommand::Publish { key, payload } => {
                let id = s.gateway_pubs.get(&key).copied();
                drop(s);
                // Like DDS on write: the middleware keeps its own copy, and the command's
                // payload is dropped at once, which lets the publisher's next message in.
                let copy = Bytes::copy_from_slice(&payload);
                drop(payload);
                if let Some(id) = id {
                    self.deliver(id, copy);
                }
            }
            cmd @ (RosCommand::CallService { .. }
            | RosCommand::CancelCall { .. }
            | RosCommand::ProvideService { .. }
            | RosCommand::AnswerService { .. }
            | RosCommand::GetParameters { .. }
            | RosCommand::SetParameters { .. }
            | RosCommand::WatchParameterEvents { .. }) => {
                drop(s);
                self.apply_extra(cmd);
            }
        }
    }

    /// Hand a publication to every subscription on its topic.
    fn deliver(&self, publisher: u64, payload: Bytes) {
        // The source timestamp DDS would carry: wall-clock time at publication.
        let published = now_ns();
        let mut s = self.state.lock();
        let Some(p) = s.publishers.get_mut(&publisher) else {
            return;
        };
        if p.info.qos.durability == super::Durability::TransientLocal {
            p.history.push_back(payload.clone());
            while p.history.len() > (p.info.qos.depth as usize).max(1) {
                p.history.pop_front();
            }
        }
        let topic = p.topic.clone();
        let type_name = p.type_name.clone();
        let keys: Vec<SubscriptionKey> = s
            .gateway_subs
            .get(&topic)
            .map(|v| {
                v.iter()
                    .filter(|(_, t)| *t == type_name)
                    .map(|(k, _)| *k)
                    .collect()
            })
            .unwrap_or_default();
        s.observers.retain(|(_, tx)| !tx.is_closed());
        for (t, tx) in &s.observers {
            if *t == topic {
                let msg = SimMessage {
                    topic: topic.clone(),
                    type_name: type_name.clone(),
                    payload: payload.clone(),
                };
                if tx.try_send(msg).is_err() {
                    self.subscriber_drops.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if s.use_sim_time && topic == CLOCK_TOPIC && type_name == CLOCK_TYPE {
            match super::graph::clock_from_cdr(&payload) {
                Some(t) if s.sim_time != Some(t) => {
                    s.sim_time = Some(t);
                    send_event(&s, RosEvent::Time(t));
                }
                Some(_) => {}
                None => tracing::debug!("sim: ignoring a malformed /clock message"),
            }
        }
        let now = if s.use_sim_time {
            s.sim_time.unwrap_or(0)
        } else {
            published
        };
        let sink = s.messages.clone();
        drop(s);
        if let Some(sink) = sink {
            for key in keys {
                sink.message(key, now, published, payload.clone());
            }
        }
    }

    fn snapshot(s: &State) -> GraphSnapshot {
        let mut topics: BTreeMap<(String, String), Vec<PublisherInfo>> = BTreeMap::new();
        for p in s.publishers.values() {
            topics
                .entry((p.topic.clone(), p.type_name.clone()))
                .or_default()
                .push(p.info.clone());
        }
        let mut snapshot = GraphSnapshot {
            topics: topics
                .into_iter()
                .map(|((name, type_name), publishers)| TopicInfo {
                    name,
                    type_name,
                    publishers,
                })
                .collect(),
            ..GraphSnapshot::default()
        };
        s.extra.fill_snapshot(&mut snapshot);
        snapshot
    }

    /// A change made by a simulated node (a test or the demo): sent at once.
    pub(super) fn graph_changed(&self) {
        self.state.lock().graph_dirty = true;
        self.flush_graph();
    }

    /// A change made by a viewer (its client channels): the backend task sends a snapshot
    /// within [`GRAPH_COALESCE`], one for all changes meanwhile.
    fn graph_changed_later(&self) {
        self.state.lock().graph_dirty = true;
        self.changed.notify_one();
    }

    /// Send the graph to the core if it changed, as the r2r backend's poll does.
    fn flush_graph(&self) {
        let mut s = self.state.lock();
        if !std::mem::take(&mut s.graph_dirty) {
            return;
        }
        let snap = Self::snapshot(&s);
        if s.last_snapshot.as_ref() == Some(&snap) {
            return;
        }
        s.last_snapshot = Some(snap.clone());
        send_event(&s, RosEvent::Graph(snap));
    }
}

pub(super) fn send_event(s: &State, event: RosEvent) {
    if let Some(tx) = &s.events {
        let _ = tx.send(event);
    }
}

fn unsupported(key: u64, type_name: &str, subscribe: bool) -> RosEvent {
    let reason = format!(
        "type {type_name} is not supported by this gateway build: rebuild foxglove_gateway with \
         its package on AMENT_PREFIX_PATH (or add it to IDL_PACKAGE_FILTER)"
    );
    if subscribe {
        RosEvent::SubscribeFailed { key, reason }
    } else {
        RosEvent::PublisherFailed { key, reason }
    }
}

impl SimPublisher {
    /// Publish one CDR message.
    pub fn publish(&self, payload: Bytes) {
        self.graph.deliver(self.id, payload);
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl Drop for SimPublisher {
    fn drop(&mut self) {
        self.graph.state.lock().publishers.remove(&self.id);
        self.graph.graph_changed();
    }
}
