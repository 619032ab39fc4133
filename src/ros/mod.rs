//! The ROS boundary: what the core asks of a ROS graph ([`RosCommand`]) and what it hears back
//! ([`RosEvent`], [`MessageSink`]).
//!
//! Two implementations stand behind it: the in-process simulated graph ([`sim`]), used by tests
//! and the demo, and the live ROS 2 backend (`rcl_backend`, feature `ros2`), whose foreign calls
//! all live in `rcl`. The core never knows which one it has.
//!
//! Messages take a separate, direct path ([`MessageSink::message`]) instead of the event channel:
//! the backend's thread hands each payload to the hub, which only pushes it onto bounded per-viewer
//! queues and returns. That keeps the ROS thread from ever waiting on a viewer while avoiding an
//! extra hop per message.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::mpsc;

pub mod graph;
mod publish_queue;
pub mod qos;
#[cfg(feature = "ros2")]
#[allow(unsafe_code)]
pub mod rcl;
#[cfg(feature = "ros2")]
pub mod rcl_backend;
pub mod scenario;
pub mod sim;
pub mod sim_services;

pub use crate::config::ParamValue;
pub use publish_queue::PublishLimits;

/// Identifies one ROS subscription: the hub uses its channel id.
pub type SubscriptionKey = u64;
/// Identifies one viewer-driven ROS publisher, allocated by the hub.
pub type PublisherKey = u64;

/// Reliability of a QoS profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// Reliable delivery.
    Reliable,
    /// Best effort.
    BestEffort,
    /// Anything the middleware reports that we do not model (system default, unknown).
    Unknown,
}

/// Durability of a QoS profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Late joiners get the last messages.
    TransientLocal,
    /// No history for late joiners.
    Volatile,
    /// Anything else (system default, unknown).
    Unknown,
}

/// The QoS of a publisher or subscription, as far as a bridge cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Qos {
    /// Reliability.
    pub reliability: Reliability,
    /// Durability.
    pub durability: Durability,
    /// History depth (keep last N); 0 when the middleware does not report it.
    pub depth: u32,
}

impl Default for Qos {
    /// The ROS 2 default for publishers and subscriptions: reliable, volatile, keep last 10.
    fn default() -> Self {
        Qos {
            reliability: Reliability::Reliable,
            durability: Durability::Volatile,
            depth: 10,
        }
    }
}

/// One publisher on a topic, from the graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublisherInfo {
    /// Fully qualified node name (`/ns/node`).
    pub node: String,
    /// Its QoS.
    pub qos: Qos,
}

/// One (topic, type) pair in the graph. A topic with two types appears twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicInfo {
    /// Topic name, e.g. `/cmd_vel`.
    pub name: String,
    /// Type name as the graph reports it, e.g. `geometry_msgs/msg/Twist`.
    pub type_name: String,
    /// Current publishers (may be empty: a topic with only subscribers).
    pub publishers: Vec<PublisherInfo>,
}

/// A snapshot of the graph, sorted by (name, type_name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphSnapshot {
    /// Every topic the backend sees (hidden ones filtered per `include_hidden` already).
    pub topics: Vec<TopicInfo>,
    /// Every service the backend sees, sorted by name (hidden ones filtered already). Empty when
    /// the backend cannot list services.
    pub services: Vec<ServiceInfo>,
    /// Subscribers per topic, sorted by topic; only topics with subscribers. Empty when the
    /// backend cannot tell.
    pub subscriptions: Vec<TopicSubscribers>,
    /// Fully qualified names of the nodes in the graph, sorted (the nodes whose parameters are
    /// listed). Empty when the backend cannot list nodes.
    pub nodes: Vec<String>,
}

/// One service in the graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceInfo {
    /// Service name, e.g. `/set_mode`.
    pub name: String,
    /// Type `pkg/srv/Type`.
    pub type_name: String,
    /// Nodes providing it (fully qualified), sorted.
    pub providers: Vec<String>,
}

/// The nodes subscribed to one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicSubscribers {
    /// Topic name.
    pub topic: String,
    /// Subscribing nodes (fully qualified), sorted.
    pub nodes: Vec<String>,
}

/// Identifies one service call in flight, allocated by the hub.
pub type CallKey = u64;
/// Identifies one parameter request to one node, allocated by the hub.
pub type ParamRequestKey = u64;

/// What the core asks the ROS side to do. Applied in order.
#[derive(Debug, Clone)]
pub enum RosCommand {
    /// Start one ROS subscription; deliver its messages to [`MessageSink::message`] with `key`.
    Subscribe {
        /// Identifies the subscription in later messages and commands.
        key: SubscriptionKey,
        /// Topic name.
        topic: String,
        /// Type name `pkg/msg/Type`.
        type_name: String,
    },
    /// Stop the subscription started with `key`.
    Unsubscribe {
        /// As given to `Subscribe`.
        key: SubscriptionKey,
    },
    /// Create a publisher on behalf of a viewer.
    Advertise {
        /// Identifies the publisher in later commands.
        key: PublisherKey,
        /// Topic name.
        topic: String,
        /// Type name `pkg/msg/Type`.
        type_name: String,
    },
    /// Destroy the publisher created with `key`.
    Unadvertise {
        /// As given to `Advertise`.
        key: PublisherKey,
    },
    /// Publish one CDR message (with its 4-byte encapsulation header) on a publisher.
    ///
    /// At most one `Publish` per publisher is in the channel at a time: dropping `payload`
    /// (once published, or failed) lets the next one in, so a backend must drop it when done
    /// and keep no clone of it (see `publish_queue`).
    Publish {
        /// As given to `Advertise`.
        key: PublisherKey,
        /// The serialized message.
        payload: Bytes,
    },
    /// Call a service; answer with [`RosEvent::ServiceResponse`] carrying `call`. The request is
    /// JSON in the shape of [`crate::cdr::cdr_to_json`] (every field present); the live backend
    /// encodes it with the service's definition.
    CallService {
        /// Identifies the call in the answer.
        call: CallKey,
        /// Service name.
        service: String,
        /// Type `pkg/srv/Type`.
        type_name: String,
        /// The request.
        request: serde_json::Value,
    },
    /// The hub gave up on a call (timeout, viewer gone): a late answer may be dropped.
    CancelCall {
        /// As given to `CallService`.
        call: CallKey,
    },
    /// Read parameters of one node; answer with [`RosEvent::Parameters`].
    GetParameters {
        /// Identifies the request in the answer.
        request: ParamRequestKey,
        /// Fully qualified node name.
        node: String,
        /// Parameter names within the node; empty means all (list, then get).
        names: Vec<String>,
    },
    /// Set (or, with `None`, unset) parameters of one node; answer with
    /// [`RosEvent::ParametersSet`].
    SetParameters {
        /// Identifies the request in the answer.
        request: ParamRequestKey,
        /// Fully qualified node name.
        node: String,
        /// Parameter name within the node, and its new value (`None`: unset).
        parameters: Vec<(String, Option<ParamValue>)>,
    },
    /// Start or stop listening to `/parameter_events` ([`RosEvent::ParameterEvent`]).
    WatchParameterEvents {
        /// True to listen.
        enabled: bool,
    },
    /// Offer a service on the gateway's own node (e.g. `/foxglove_gateway/save_blackbox`,
    /// `std_srvs/srv/Trigger`): create a service server with exactly this absolute name. Each
    /// request a peer makes is reported as [`RosEvent::ServiceRequest`] and answered by the core
    /// with [`RosCommand::AnswerService`]. Sent once per service, at startup.
    ProvideService {
        /// Absolute service name.
        service: String,
        /// Type `pkg/srv/Type`.
        type_name: String,
    },
    /// The core's answer to a [`RosEvent::ServiceRequest`].
    AnswerService {
        /// As given in the `ServiceRequest`.
        request: u64,
        /// The response as JSON of the service's response type (the shape of
        /// [`crate::cdr::cdr_to_json`]), or `Err` when no answer can be given (the backend then
        /// answers as its middleware allows, e.g. a default response, and logs the reason).
        response: Result<serde_json::Value, String>,
    },
}

/// What the ROS side reports that is not message data.
#[derive(Debug, Clone)]
pub enum RosEvent {
    /// The graph changed (sent only on change, and once at start).
    Graph(GraphSnapshot),
    /// A `Subscribe` could not be carried out (e.g. the type is unknown to this build).
    SubscribeFailed {
        /// The subscription.
        key: SubscriptionKey,
        /// A message for the viewer: what failed and how to fix it.
        reason: String,
    },
    /// An `Advertise` or `Publish` could not be carried out.
    PublisherFailed {
        /// The publisher.
        key: PublisherKey,
        /// A message for the viewer: what failed and how to fix it.
        reason: String,
    },
    /// Simulated or ROS time moved (only with `use_sim_time`), in nanoseconds.
    Time(u64),
    /// Messages of a subscription were lost before the gateway could take them (the middleware
    /// reported them lost, or the reader's history overflowed). Sent at most every few seconds
    /// per subscription, with the count since the last report.
    MessagesLost {
        /// The subscription.
        key: SubscriptionKey,
        /// How many were lost (a lower bound when `reason` says so).
        count: u64,
        /// What the backend knows about why, for the viewer and the log.
        reason: String,
    },
    /// The reader of a subscription was found full: its middleware may have overwritten
    /// messages before the gateway took them, without saying how many (Cyclone DDS). Sent at
    /// most every few seconds per subscription.
    ReaderFull {
        /// The subscription.
        key: SubscriptionKey,
        /// How many times the reader was found full since the last report.
        times: u64,
        /// The reader's history depth.
        depth: u32,
    },
    /// The answer to [`RosCommand::CallService`]: the response as JSON, or why the call failed.
    ServiceResponse {
        /// As given to `CallService`.
        call: CallKey,
        /// The response, or a message for the viewer.
        result: Result<serde_json::Value, String>,
    },
    /// The answer to [`RosCommand::GetParameters`].
    Parameters {
        /// As given to `GetParameters`.
        request: ParamRequestKey,
        /// The node.
        node: String,
        /// (name within the node, value) of every parameter that is set, or why the node could
        /// not be asked.
        result: Result<Vec<(String, ParamValue)>, String>,
    },
    /// The answer to [`RosCommand::SetParameters`].
    ParametersSet {
        /// As given to `SetParameters`.
        request: ParamRequestKey,
        /// The node.
        node: String,
        /// Per parameter (in request order): `None` if applied, else the node's reason; or why
        /// the node could not be asked.
        result: Result<Vec<(String, Option<String>)>, String>,
    },
    /// A `/parameter_events` message: parameters of `node` that were added, changed (`Some`) or
    /// deleted (`None`).
    ParameterEvent {
        /// Fully qualified node name.
        node: String,
        /// (name within the node, new value).
        changed: Vec<(String, Option<ParamValue>)>,
    },
    /// A peer called a service the core offers ([`RosCommand::ProvideService`]); answer it with
    /// [`RosCommand::AnswerService`] carrying `request`.
    ServiceRequest {
        /// Identifies this request in the answer; allocated by the backend.
        request: u64,
        /// The service called (as given to `ProvideService`).
        service: String,
        /// The request as JSON, in the shape of [`crate::cdr::cdr_to_json`].
        body: serde_json::Value,
    },
}

/// Where a backend delivers message payloads. Implemented by the hub; must never block.
pub trait MessageSink: Send + Sync + 'static {
    /// One message arrived on subscription `key`; `log_time` is the receive time in ns and
    /// `publish_time` the publisher's source timestamp in ns (backends that do not know it pass
    /// `log_time`).
    fn message(&self, key: SubscriptionKey, log_time: u64, publish_time: u64, payload: Bytes);
}

/// How a backend that sleeps in its own wait (the live backend waits in `rcl_wait`, not on the
/// command channel) learns that commands are queued: it installs a bell, and every command that
/// enters the channel rings it (including a publication forwarded when the backend drops the
/// previous one, see [`RosCommand::Publish`]).
#[derive(Default)]
pub struct CommandBell(OnceLock<Box<dyn Fn() + Send + Sync>>);

impl CommandBell {
    /// Install the bell (once; later calls are ignored).
    pub fn install(&self, ring: impl Fn() + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(ring));
    }

    fn ring(&self) {
        if let Some(ring) = self.0.get() {
            ring();
        }
    }
}

/// The handle the core keeps to talk to a running backend: the one place commands are sent.
///
/// Publications go through a bounded per-publisher queue (`publish_queue`) in front of the
/// channel, so a viewer flooding a topic cannot make the channel grow; everything else goes
/// straight in (those commands are bounded by the limits of the requests that cause them).
#[derive(Clone)]
pub struct RosHandle {
    queue: Arc<publish_queue::PublishQueue>,
}

impl RosHandle {
    /// Wrap the command channel of a backend, with the default publication bounds.
    pub fn new(commands: mpsc::UnboundedSender<RosCommand>) -> Self {
        Self::with_limits(commands, PublishLimits::default(), Arc::default())
    }

    /// Wrap the command channel of a backend, bounding queued publications by `limits`; `bell`
    /// is rung whenever a command enters the channel.
    pub fn with_limits(
        commands: mpsc::UnboundedSender<RosCommand>,
        limits: PublishLimits,
        bell: Arc<CommandBell>,
    ) -> Self {
        RosHandle {
            queue: Arc::new(publish_queue::PublishQueue::new(commands, limits, bell)),
        }
    }

    /// Queue a command and ring the backend's bell. Returns false if the backend has stopped.
    pub fn send(&self, command: RosCommand) -> bool {
        match command {
            RosCommand::Publish { key, payload } => self.queue.publish(key, payload),
            RosCommand::Unadvertise { key } => self.queue.unadvertise(key),
            other => self.queue.send_now(other),
        }
    }

    /// Publications dropped since the last call because ROS did not take them fast enough,
    /// by publisher.
    pub fn take_publish_drops(&self) -> Vec<(PublisherKey, u64)> {
        self.queue.take_drops()
    }

    /// Publications dropped since the start.
    pub fn publish_dropped_total(&self) -> u64 {
        self.queue.dropped_total()
    }

    /// Publications waiting for the backend (not yet in the channel): messages and bytes.
    pub fn publish_waiting(&self) -> (usize, usize) {
        self.queue.waiting()
    }
}

/// What a backend is given when it starts.
pub struct BackendIo {
    /// Commands from the core, in order (publications bounded, see [`RosCommand::Publish`]).
    pub commands: mpsc::UnboundedReceiver<RosCommand>,
    /// Non-message events to the core. Rare (graph changes, failures), so unbounded is safe.
    pub events: mpsc::UnboundedSender<RosEvent>,
    /// Where message payloads go.
    pub messages: Arc<dyn MessageSink>,
    /// Rung after every command is queued; a backend that waits elsewhere installs it.
    pub bell: Arc<CommandBell>,
}

/// Wire a backend to the core: returns the core's handle, the backend's side, and the event
/// receiver for the core. `publish` bounds the publications waiting for the backend.
pub fn channel(
    messages: Arc<dyn MessageSink>,
    publish: PublishLimits,
) -> (RosHandle, BackendIo, mpsc::UnboundedReceiver<RosEvent>) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let bell = Arc::new(CommandBell::default());
    (
        RosHandle::with_limits(cmd_tx, publish, bell.clone()),
        BackendIo {
            commands: cmd_rx,
            events: ev_tx,
            messages,
            bell,
        },
        ev_rx,
    )
}

/// Nanoseconds since the Unix epoch, the log time of received messages.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
