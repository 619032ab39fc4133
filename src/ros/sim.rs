//! The in-process simulated ROS graph.
//!
//! Stands in for a robot wherever there is no ROS 2: in tests, in `--demo`, and for load
//! generation in benchmarks. It implements the same boundary as the live ROS backend (commands in;
//! graph events and messages out) and behaves like DDS where the core can tell: publishers appear
//! in the graph with their QoS, a subscription receives every publisher's messages on its topic
//! (the gateway's own publishers included), and publications from viewers reach the simulated
//! subscribers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::{
    now_ns, BackendIo, GraphSnapshot, MessageSink, PublisherInfo, PublisherKey, Qos, RosCommand,
    RosEvent, SubscriptionKey, TopicInfo,
};

/// The node name the gateway's own publishers appear under.
pub const GATEWAY_NODE: &str = "/foxglove_gateway";

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
    observers: Vec<(String, mpsc::UnboundedSender<SimMessage>)>,
    unsupported_types: BTreeSet<String>,
    last_snapshot: Option<GraphSnapshot>,
    pub(super) events: Option<mpsc::UnboundedSender<RosEvent>>,
    messages: Option<Arc<dyn MessageSink>>,
    /// Every command seen, for tests that assert on the boundary.
    log: Vec<RosCommand>,
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
        }
        self.graph_changed();
        let graph = self.clone();
        tokio::spawn(async move {
            while let Some(cmd) = commands.recv().await {
                graph.apply(cmd);
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

    /// Observe every message published on `topic` (by simulated nodes and by viewers).
    pub fn subscribe(&self, topic: &str) -> mpsc::UnboundedReceiver<SimMessage> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.state.lock().observers.push((topic.to_string(), tx));
        rx
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

    /// Every command the core has sent so far.
    pub fn command_log(&self) -> Vec<RosCommand> {
        self.state.lock().log.clone()
    }

    fn apply(&self, cmd: RosCommand) {
        let mut s = self.state.lock();
        s.log.push(cmd.clone());
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
                self.graph_changed();
            }
            RosCommand::Unadvertise { key } => {
                if let Some(id) = s.gateway_pubs.remove(&key) {
                    s.publishers.remove(&id);
                    drop(s);
                    self.graph_changed();
                }
            }
            RosCommand::Publish { key, payload } => {
                let Some(id) = s.gateway_pubs.get(&key).copied() else {
                    return;
                };
                drop(s);
                self.deliver(id, payload);
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
                let _ = tx.send(SimMessage {
                    topic: topic.clone(),
                    type_name: type_name.clone(),
                    payload: payload.clone(),
                });
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

    /// Send the graph to the core if it changed, as the live ROS backend's poll does.
    pub(super) fn graph_changed(&self) {
        let mut s = self.state.lock();
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
