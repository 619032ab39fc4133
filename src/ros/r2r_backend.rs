//! The r2r backend: one `std::thread` owns the ROS `Context` and `Node` and talks to the async
//! core only through the channels of [`BackendIo`].
//!
//! ```text
//! start(name) ─► thread: Context + Node, read parameters → Config ─► (Config, warnings, backend)
//! backend.run(io, shutdown) ─► thread loop, until shutdown or the core goes away:
//!     apply commands → spin_once(10 ms) → poll parameter services → drain /clock
//!     → drain every raw subscription (stamp receive time) → every 500 ms: graph snapshot, sent if changed
//! ```
//!
//! The r2r 0.9.7 pitfalls (`../shared/reference/ros2-r2r.md` §2–§5) and where each is handled:
//! - `Node` is `Send` but not `Sync`: it never leaves this thread.
//! - Each raw stream buffers ~11 messages and drops the rest silently; one spin adds at most one
//!   message per subscription, so draining all of them after every spin never overflows.
//! - Raw messages carry no metadata: the receive time is stamped here (sim time when enabled).
//! - Types are fixed at r2r build time: `InvalidMessageType` becomes a `SubscribeFailed` /
//!   `PublisherFailed` naming the type and the fix.
//! - `get_publishers_info_by_topic` can panic on odd RMW durations (and the graph calls assert on
//!   their C strings): both run under `catch_unwind` with a fallback.
//! - `Context::create` panics on bad `--ros-args`: caught and returned as [`RosError::Init`].
//! - Dropping a `PublisherUntyped` does not destroy it: `destroy_publisher_untyped` on release.
//! - Dropping a raw stream only tears the rcl subscription down when its next message arrives;
//!   a re-subscribe creates a fresh one, so the stale one costs a reader, never wrong data.
//! - r2r installs no signal handler: `main` owns SIGINT/SIGTERM and cancels `shutdown`; the loop
//!   notices within one spin (≤ 10 ms plus the current step) and drops the `Node` so peers see it
//!   leave.
//! - QoS enums gain variants on newer distros (`BestAvailable`): wildcard arms everywhere.
//! - No `TimeSource` under `doc-only`/older distros: `/clock` is read raw and decoded here.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use r2r::qos::{DurabilityPolicy, ReliabilityPolicy};
use r2r::QosProfile;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::graph::{self, Endpoint, SnapshotTracker};
use super::qos::{publisher_qos, subscription_qos};
use super::{
    BackendIo, Durability, MessageSink, PublisherInfo, PublisherKey, Qos, Reliability, RosCommand,
    RosEvent, SubscriptionKey,
};
use crate::config::{Config, ConfigError, ParamValue};

mod params;
mod rosout;
mod services;

pub use params::ParamsHandle;
pub use rosout::RosoutLayer;

/// How long one `spin_once` may wait for work; bounds command latency and shutdown time.
const SPIN: Duration = Duration::from_millis(10);
/// How often the graph is polled (r2r has no graph-change events).
const GRAPH_PERIOD: Duration = Duration::from_millis(500);
const CLOCK_TOPIC: &str = "/clock";
const CLOCK_TYPE: &str = "rosgraph_msgs/msg/Clock";

/// Why the ROS side could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RosError {
    /// rcl could not be initialised (not sourced, bad `--ros-args`, ...).
    #[error("cannot initialise ROS 2: {0}")]
    Init(String),
    /// The node could not be created.
    #[error("cannot create ROS node {name}: {reason}")]
    Node {
        /// The node name asked for.
        name: String,
        /// rcl's reason.
        reason: String,
    },
    /// A parameter was invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The OS refused to start the thread.
    #[error("cannot start the ROS thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// The ROS thread ended without saying why (it panicked).
    #[error("the ROS thread stopped unexpectedly")]
    ThreadGone,
}

/// What `start` returns on success.
type Setup = (Config, Vec<String>, ParamsHandle);

/// Handed to the thread by [`R2rBackend::run`].
struct RunMsg {
    io: BackendIo,
    shutdown: CancellationToken,
    done: oneshot::Sender<()>,
}

/// A started ROS node waiting for [`R2rBackend::run`]. Dropping it stops the thread and the node.
pub struct R2rBackend {
    run_tx: std::sync::mpsc::Sender<RunMsg>,
    params: ParamsHandle,
}

/// Start the ROS thread: create the context and node `node_name` (remapped by `--ros-args` as
/// usual), read every parameter into a validated [`Config`], and serve the parameters back
/// (`ros2 param get /foxglove_gateway port`; they are read-only). Returns the config, warnings
/// for the log, and the backend to [`R2rBackend::run`].
///
/// Blocks until the node is up (milliseconds): call it before entering the tokio runtime or from
/// `spawn_blocking`. On failure, log events buffered by [`RosoutLayer`] are printed to stderr.
pub fn start(node_name: &str) -> Result<(Config, Vec<String>, R2rBackend), RosError> {
    let (setup_tx, setup_rx) = std::sync::mpsc::sync_channel::<Result<Setup, RosError>>(1);
    let (run_tx, run_rx) = std::sync::mpsc::channel::<RunMsg>();
    let name = node_name.to_string();
    std::thread::Builder::new()
        .name("ros".into())
        .spawn(move || ros_thread(&name, setup_tx, run_rx))?;
    match setup_rx.recv() {
        Ok(Ok((config, warnings, params))) => {
            if cfg!(debug_assertions) {
                warn!(
                    "this is a debug build of foxglove_gateway: it is several times slower. Build \
                     it with `colcon build --packages-select foxglove_gateway --cargo-args \
                     --release`"
                );
            }
            Ok((config, warnings, R2rBackend { run_tx, params }))
        }
        Ok(Err(e)) => {
            rosout::flush_to_stderr();
            Err(e)
        }
        Err(_) => {
            rosout::flush_to_stderr();
            Err(RosError::ThreadGone)
        }
    }
}

impl R2rBackend {
    /// The parameters the node serves; `main` updates `port` after binding port 0, as
    /// foxglove_bridge does.
    pub fn params(&self) -> ParamsHandle {
        self.params.clone()
    }

    /// Hand the thread its channels and run until `shutdown` is cancelled or the core drops its
    /// command sender. Resolves once the node has been dropped (well within 2 s of `shutdown`).
    pub async fn run(self, io: BackendIo, shutdown: CancellationToken) -> Result<(), RosError> {
        let (done, done_rx) = oneshot::channel();
        self.run_tx
            .send(RunMsg { io, shutdown, done })
            .map_err(|_| RosError::ThreadGone)?;
        done_rx.await.map_err(|_| RosError::ThreadGone)
    }
}

/// The thread body: setup, wait for `run`, loop, drop the node, signal.
fn ros_thread(
    node_name: &str,
    setup_tx: std::sync::mpsc::SyncSender<Result<Setup, RosError>>,
    run_rx: std::sync::mpsc::Receiver<RunMsg>,
) {
    let Started {
        node,
        config,
        warnings,
        handler,
        params,
    } = match setup(node_name) {
        Ok(started) => started,
        Err(e) => {
            let _ = setup_tx.send(Err(e));
            return;
        }
    };
    if setup_tx
        .send(Ok((config.clone(), warnings, params)))
        .is_err()
    {
        rosout::exclusive(|| drop(node));
        return;
    }
    // `start`'s caller dropped the backend without running it: drop the node and leave.
    let Ok(RunMsg { io, shutdown, done }) = run_rx.recv() else {
        rosout::exclusive(|| drop(node));
        return;
    };
    let mut ros = RosThread::new(node, config, io, handler);
    ros.run(&shutdown);
    let RosThread { node, .. } = ros;
    // Destroys every subscription and publisher; peers see the node leave. Serialised with
    // logging: rcl_node_fini removes the node's /rosout publisher.
    rosout::exclusive(|| drop(node));
    info!("ROS node stopped");
    let _ = done.send(());
}

type ParamHandler = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What the thread has once the node is up.
struct Started {
    node: r2r::Node,
    config: Config,
    warnings: Vec<String>,
    handler: Option<ParamHandler>,
    params: ParamsHandle,
}

fn setup(node_name: &str) -> Result<Started, RosError> {
    let ctx = catch_unwind(r2r::Context::create)
        .map_err(|p| RosError::Init(panic_text(&p)))?
        .map_err(|e| RosError::Init(e.to_string()))?;
    let mut node = r2r::Node::create(ctx, node_name, "").map_err(|e| RosError::Node {
        name: node_name.to_string(),
        reason: e.to_string(),
    })?;
    rosout::mark_ready(node.logger());

    let overrides = params::overrides(&node);
    let (config, warnings) = match Config::from_params(&overrides) {
        Ok(loaded) => loaded,
        Err(e) => {
            rosout::exclusive(|| drop(node)); // see `ros_thread` on why under the log lock
            return Err(e.into());
        }
    };
    rosout::set_debug(config.debug);
    let handle = ParamsHandle::new(config.to_params());
    let handler = match node.make_derived_parameter_handler(handle.ros_params()) {
        Ok((future, _changes)) => Some(Box::pin(future) as ParamHandler),
        Err(e) => {
            warn!("cannot serve parameters (ros2 param will not see them): {e}");
            None
        }
    };
    Ok(Started {
        node,
        config,
        warnings,
        handler,
        params: handle,
    })
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

type RawStream = Box<dyn Stream<Item = Vec<u8>> + Unpin + Send>;

struct Subscription {
    topic: String,
    stream: RawStream,
}

struct ClientPublisher {
    topic: String,
    type_name: String,
    /// `None` when creating it failed (already reported to the viewer).
    publisher: Option<r2r::PublisherUntyped>,
    /// Whether a publish error was already reported; one status per publisher, not per message.
    error_reported: bool,
}

struct RosThread {
    node: r2r::Node,
    fqn: String,
    cfg: Config,
    commands: mpsc::UnboundedReceiver<RosCommand>,
    events: mpsc::UnboundedSender<RosEvent>,
    sink: Arc<dyn MessageSink>,
    param_handler: Option<ParamHandler>,
    subs: BTreeMap<SubscriptionKey, Subscription>,
    pubs: BTreeMap<PublisherKey, ClientPublisher>,
    clock: Option<RawStream>,
    sim_time: Option<u64>,
    graph: SnapshotTracker,
    next_graph: Instant,
    /// Service calls, other nodes' parameters, `/parameter_events` (`services.rs`).
    extras: services::Extras,
    /// Node list, services and subscribers (r2r has no API for them); `None` if its rcl node
    /// could not be created, and then the graph has only topics and the `/rosout` node list.
    graph_node: Option<super::r2r_graph::GraphNode>,
}

impl RosThread {
    fn new(
        node: r2r::Node,
        cfg: Config,
        io: BackendIo,
        param_handler: Option<ParamHandler>,
    ) -> Self {
        let fqn = node.fully_qualified_name().unwrap_or_default();
        let cfg_timeout = cfg.service_call_timeout;
        let mut t = RosThread {
            node,
            fqn,
            cfg,
            commands: io.commands,
            events: io.events,
            sink: io.messages,
            param_handler,
            subs: BTreeMap::new(),
            pubs: BTreeMap::new(),
            clock: None,
            sim_time: None,
            graph: SnapshotTracker::new(),
            next_graph: Instant::now(),
            extras: services::Extras::new(cfg_timeout),
            graph_node: match super::r2r_graph::GraphNode::new() {
                Ok(g) => Some(g),
                Err(e) => {
                    warn!("cannot query services and subscribers (no service calls): {e}");
                    None
                }
            },
        };
        if t.cfg.use_sim_time {
            t.subscribe_clock();
        }
        t
    }

    fn run(&mut self, shutdown: &CancellationToken) {
        while !shutdown.is_cancelled() {
            if !self.apply_commands() {
                debug!("the core dropped its command channel; stopping the ROS thread");
                break;
            }
            self.node.spin_once(SPIN);
            self.poll_param_handler();
            self.drain_clock();
            self.drain_subscriptions();
            self.extras.poll(&self.events);
            if Instant::now() >= self.next_graph {
                self.poll_graph();
                self.next_graph = Instant::now() + GRAPH_PERIOD;
            }
        }
    }

    /// Apply every queued command. False when the core is gone.
    fn apply_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(cmd) => self.apply(cmd),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn apply(&mut self, cmd: RosCommand) {
        match cmd {
            RosCommand::Subscribe {
                key,
                topic,
                type_name,
            } => self.subscribe(key, topic, type_name),
            RosCommand::Unsubscribe { key } => {
                if let Some(s) = self.subs.remove(&key) {
                    debug!(topic = %s.topic, "unsubscribed");
                }
            }
            RosCommand::Advertise {
                key,
                topic,
                type_name,
            } => self.advertise(key, topic, type_name),
            RosCommand::Unadvertise { key } => {
                if let Some(p) = self.pubs.remove(&key) {
                    if let Some(publisher) = p.publisher {
                        // Dropping the handle would leave the rcl publisher alive.
                        self.node.destroy_publisher_untyped(publisher);
                    }
                    debug!(topic = %p.topic, "client publisher released");
                }
            }
            RosCommand::Publish { key, payload } => self.publish(key, &payload),
            RosCommand::CallService {
                call,
                service,
                type_name,
                request,
            } => self.extras.call(
                &mut self.node,
                &self.events,
                call,
                service,
                type_name,
                request,
            ),
            RosCommand::CancelCall { call } => self.extras.cancel(call),
            RosCommand::GetParameters {
                request,
                node,
                names,
            } => self
                .extras
                .get_parameters(&mut self.node, &self.events, request, node, names),
            RosCommand::SetParameters {
                request,
                node,
                parameters,
            } => {
                self.extras
                    .set_parameters(&mut self.node, &self.events, request, node, parameters)
            }
            RosCommand::WatchParameterEvents { enabled } => {
                self.extras.watch(&mut self.node, enabled)
            }
        }
    }

    fn subscribe(&mut self, key: SubscriptionKey, topic: String, type_name: String) {
        let publishers = self.publisher_qos(&topic, &type_name, false);
        let choice = subscription_qos(&topic, &publishers, &self.cfg);
        for w in &choice.warnings {
            warn!("{w}");
        }
        match self
            .node
            .subscribe_raw(&topic, &type_name, to_r2r_qos(choice.qos))
        {
            Ok(stream) => {
                debug!(%topic, %type_name, qos = ?choice.qos, "subscribed");
                // A repeated key replaces the old stream, which r2r then tears down.
                self.subs.insert(
                    key,
                    Subscription {
                        topic,
                        stream: Box::new(stream),
                    },
                );
            }
            Err(e) => {
                let reason = match e {
                    r2r::Error::InvalidMessageType { .. } => {
                        graph::missing_type_reason(&format!("subscribe to {topic}"), &type_name)
                    }
                    other => format!("cannot subscribe to {topic} ({type_name}): {other}"),
                };
                warn!("{reason}");
                let _ = self.events.send(RosEvent::SubscribeFailed { key, reason });
            }
        }
    }

    fn advertise(&mut self, key: PublisherKey, topic: String, type_name: String) {
        // Copy the QoS of another node's publisher so its subscribers (latched ones included)
        // match us as they match it.
        let existing = self.publisher_qos(&topic, &type_name, true);
        let qos = publisher_qos(&existing);
        let publisher =
            match self
                .node
                .create_publisher_untyped(&topic, &type_name, to_r2r_qos(qos))
            {
                Ok(p) => {
                    debug!(%topic, %type_name, ?qos, "client publisher created");
                    Some(p)
                }
                Err(e) => {
                    let reason = match e {
                        r2r::Error::InvalidMessageType { .. } => {
                            graph::missing_type_reason(&format!("publish to {topic}"), &type_name)
                        }
                        other => format!("cannot publish to {topic} ({type_name}): {other}"),
                    };
                    warn!("{reason}");
                    let _ = self.events.send(RosEvent::PublisherFailed { key, reason });
                    None
                }
            };
        if let Some(old) = self.pubs.insert(
            key,
            ClientPublisher {
                topic,
                type_name,
                publisher,
                error_reported: false,
            },
        ) {
            if let Some(p) = old.publisher {
                self.node.destroy_publisher_untyped(p);
            }
        }
    }

    fn publish(&mut self, key: PublisherKey, payload: &[u8]) {
        let Some(p) = self.pubs.get_mut(&key) else {
            let _ = self.events.send(RosEvent::PublisherFailed {
                key,
                reason: "publish on a channel that was not advertised".into(),
            });
            return;
        };
        // Creation failed and was reported already: one status, not one per message.
        let Some(publisher) = &p.publisher else {
            return;
        };
        let problem = match graph::cdr_payload_problem(payload) {
            Some(problem) => Some(problem),
            None => publisher.publish_raw(payload).err().map(|e| e.to_string()),
        };
        if let Some(problem) = problem {
            if !p.error_reported {
                p.error_reported = true;
                let reason = format!("cannot publish to {} ({}): {problem}", p.topic, p.type_name);
                warn!("{reason}");
                let _ = self.events.send(RosEvent::PublisherFailed { key, reason });
            }
        }
    }

    /// QoS of the publishers of `topic` with `type_name`, optionally leaving out our own (a
    /// viewer's publisher must not copy another viewer's). Falls back to the last graph snapshot
    /// if the middleware call fails or panics.
    fn publisher_qos(&self, topic: &str, type_name: &str, exclude_self: bool) -> Vec<Qos> {
        match self.endpoints(topic) {
            Some(eps) => eps
                .into_iter()
                .filter(|e| e.type_name == type_name)
                .filter(|e| !(exclude_self && e.info.node == self.fqn))
                .map(|e| e.info.qos)
                .collect(),
            None => self.graph.publisher_qos(topic, type_name),
        }
    }

    /// The publishers of `topic`, or `None` if rmw failed. r2r's QoS conversion asserts on the
    /// durations the middleware reports, so an odd RMW panics here: caught, logged, `None`.
    fn endpoints(&self, topic: &str) -> Option<Vec<Endpoint>> {
        let node = &self.node;
        match catch_unwind(AssertUnwindSafe(|| {
            node.get_publishers_info_by_topic(topic, false)
        })) {
            Ok(Ok(infos)) => Some(
                infos
                    .into_iter()
                    .map(|i| Endpoint {
                        type_name: i.topic_type,
                        info: PublisherInfo {
                            node: join_node_name(&i.node_namespace, &i.node_name),
                            qos: from_r2r_qos(&i.qos_profile),
                        },
                    })
                    .collect(),
            ),
            Ok(Err(e)) => {
                debug!(%topic, "get_publishers_info_by_topic failed: {e}");
                None
            }
            Err(p) => {
                warn!(%topic, "get_publishers_info_by_topic panicked: {}", panic_text(&p));
                None
            }
        }
    }

    fn poll_graph(&mut self) {
        let node = &self.node;
        let names = match catch_unwind(AssertUnwindSafe(|| node.get_topic_names_and_types())) {
            Ok(Ok(names)) => names,
            Ok(Err(e)) => {
                warn!("cannot list topics: {e}");
                return;
            }
            Err(p) => {
                warn!("listing topics panicked: {}", panic_text(&p));
                return;
            }
        };
        let mut snapshot = graph::build_snapshot(&names, self.cfg.include_hidden, |topic| {
            self.endpoints(topic).unwrap_or_default()
        });
        match &self.graph_node {
            Some(g) => g.fill_snapshot(&mut snapshot, self.cfg.include_hidden),
            // Every rcl node publishes /rosout, so its publishers stand in for the node list
            // (nodes started with rosout disabled are missed).
            None => {
                snapshot.nodes = graph::node_names(&self.endpoints("/rosout").unwrap_or_default())
            }
        }
        if let Some(changed) = self.graph.update(snapshot) {
            let _ = self.events.send(RosEvent::Graph(changed));
        }
    }

    /// Every message waiting in every stream, handed to the hub with its receive time.
    fn drain_subscriptions(&mut self) {
        let log_time = self.log_time();
        for (key, sub) in &mut self.subs {
            while let Some(Some(msg)) = sub.stream.next().now_or_never() {
                self.sink.message(*key, log_time, Bytes::from(msg));
            }
        }
    }

    /// With `use_sim_time`, message log times follow `/clock` (as rclcpp's `now()` does): the
    /// last `/clock` value received, 0 before the first one. Otherwise wall-clock receive time.
    fn log_time(&self) -> u64 {
        if self.cfg.use_sim_time {
            self.sim_time.unwrap_or(0)
        } else {
            super::now_ns()
        }
    }

    fn subscribe_clock(&mut self) {
        // rosgraph_msgs/Clock, keep last 1, best effort: what rclcpp's TimeSource uses. Read raw
        // and decoded by hand, so the build needs no typed rosgraph_msgs binding.
        let qos = QosProfile::default().keep_last(1).best_effort();
        match self.node.subscribe_raw(CLOCK_TOPIC, CLOCK_TYPE, qos) {
            Ok(stream) => self.clock = Some(Box::new(stream)),
            Err(e) => error!(
                "use_sim_time is true but /clock cannot be read: {}",
                match e {
                    r2r::Error::InvalidMessageType { .. } =>
                        graph::missing_type_reason("subscribe to /clock", CLOCK_TYPE),
                    other => other.to_string(),
                }
            ),
        }
    }

    fn drain_clock(&mut self) {
        let Some(clock) = &mut self.clock else {
            return;
        };
        let mut latest = None;
        while let Some(Some(msg)) = clock.next().now_or_never() {
            match graph::clock_from_cdr(&msg) {
                Some(t) => latest = Some(t),
                None => debug!("ignoring a malformed /clock message"),
            }
        }
        if let Some(t) = latest {
            if self.sim_time != Some(t) {
                self.sim_time = Some(t);
                let _ = self.events.send(RosEvent::Time(t));
            }
        }
    }

    /// The parameter services are futures woken inside `spin_once`; poll them here. r2r's
    /// handlers `expect` on sending replies, so a failure panics: caught, and parameters stop
    /// being served rather than the whole node.
    fn poll_param_handler(&mut self) {
        let Some(handler) = &mut self.param_handler else {
            return;
        };
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        match catch_unwind(AssertUnwindSafe(|| handler.as_mut().poll(&mut cx))) {
            Ok(std::task::Poll::Pending) => {}
            Ok(std::task::Poll::Ready(())) => self.param_handler = None,
            Err(p) => {
                error!(
                    "parameter services failed and are stopped: {}",
                    panic_text(&p)
                );
                self.param_handler = None;
            }
        }
    }
}

fn join_node_name(namespace: &str, name: &str) -> String {
    if namespace.ends_with('/') {
        format!("{namespace}{name}")
    } else {
        format!("{namespace}/{name}")
    }
}

fn to_r2r_qos(q: Qos) -> QosProfile {
    let depth = usize::try_from(q.depth.max(1)).unwrap_or(usize::MAX);
    let p = QosProfile::default().keep_last(depth);
    let p = match q.reliability {
        Reliability::Reliable => p.reliable(),
        Reliability::BestEffort => p.best_effort(),
        Reliability::Unknown => p.reliability(ReliabilityPolicy::SystemDefault),
    };
    match q.durability {
        Durability::TransientLocal => p.transient_local(),
        Durability::Volatile => p.volatile(),
        Durability::Unknown => p.durability(DurabilityPolicy::SystemDefault),
    }
}

fn from_r2r_qos(p: &QosProfile) -> Qos {
    Qos {
        // Wildcards: Jazzy adds BestAvailable, which the doc-only bindings do not have.
        reliability: match p.reliability {
            ReliabilityPolicy::Reliable => Reliability::Reliable,
            ReliabilityPolicy::BestEffort => Reliability::BestEffort,
            _ => Reliability::Unknown,
        },
        durability: match p.durability {
            DurabilityPolicy::TransientLocal => Durability::TransientLocal,
            DurabilityPolicy::Volatile => Durability::Volatile,
            _ => Durability::Unknown,
        },
        depth: u32::try_from(p.depth).unwrap_or(u32::MAX),
    }
}

/// r2r parameter values → ours (`NotSet` has no counterpart and is skipped by the caller).
fn from_r2r_value(v: &r2r::ParameterValue) -> Option<ParamValue> {
    use r2r::ParameterValue as R;
    Some(match v {
        R::NotSet => return None,
        R::Bool(b) => ParamValue::Bool(*b),
        R::Integer(i) => ParamValue::Integer(*i),
        R::Double(d) => ParamValue::Double(*d),
        R::String(s) => ParamValue::String(s.clone()),
        R::BoolArray(v) => ParamValue::BoolArray(v.clone()),
        R::ByteArray(v) => ParamValue::ByteArray(v.clone()),
        R::IntegerArray(v) => ParamValue::IntegerArray(v.clone()),
        R::DoubleArray(v) => ParamValue::DoubleArray(v.clone()),
        R::StringArray(v) => ParamValue::StringArray(v.clone()),
    })
}

fn to_r2r_value(v: &ParamValue) -> r2r::ParameterValue {
    use r2r::ParameterValue as R;
    match v {
        ParamValue::Bool(b) => R::Bool(*b),
        ParamValue::Integer(i) => R::Integer(*i),
        ParamValue::Double(d) => R::Double(*d),
        ParamValue::String(s) => R::String(s.clone()),
        ParamValue::ByteArray(v) => R::ByteArray(v.clone()),
        ParamValue::BoolArray(v) => R::BoolArray(v.clone()),
        ParamValue::IntegerArray(v) => R::IntegerArray(v.clone()),
        ParamValue::DoubleArray(v) => R::DoubleArray(v.clone()),
        ParamValue::StringArray(v) => R::StringArray(v.clone()),
    }
}

/// Only the pure conversions: these tests link without ROS (`scripts/check-ros2.sh` runs them
/// with `r2r/doc-only`) as long as nothing here reaches an rcl call.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_round_trips_through_r2r() {
        for reliability in [Reliability::Reliable, Reliability::BestEffort] {
            for durability in [Durability::TransientLocal, Durability::Volatile] {
                let q = Qos {
                    reliability,
                    durability,
                    depth: 7,
                };
                assert_eq!(from_r2r_qos(&to_r2r_qos(q)), q);
            }
        }
    }

    #[test]
    fn r2r_qos_details() {
        let p = to_r2r_qos(Qos {
            reliability: Reliability::Unknown,
            durability: Durability::Unknown,
            depth: 0,
        });
        assert_eq!(p.depth, 1, "keep_last(0) is never asked for");
        assert_eq!(p.reliability, ReliabilityPolicy::SystemDefault);
        assert_eq!(p.durability, DurabilityPolicy::SystemDefault);
        assert_eq!(p.history, r2r::qos::HistoryPolicy::KeepLast);
        let q = from_r2r_qos(&QosProfile::system_default());
        assert_eq!(q.reliability, Reliability::Unknown);
        assert_eq!(q.durability, Durability::Unknown);
    }

    #[test]
    fn parameter_values_round_trip() {
        for v in [
            ParamValue::Bool(true),
            ParamValue::Integer(-3),
            ParamValue::Double(0.5),
            ParamValue::String("s".into()),
            ParamValue::ByteArray(vec![1, 2]),
            ParamValue::BoolArray(vec![false]),
            ParamValue::IntegerArray(vec![1, 2]),
            ParamValue::DoubleArray(vec![1.5]),
            ParamValue::StringArray(vec!["(?!)".into()]),
        ] {
            assert_eq!(from_r2r_value(&to_r2r_value(&v)), Some(v));
        }
        assert_eq!(from_r2r_value(&r2r::ParameterValue::NotSet), None);
    }

    #[test]
    fn node_names() {
        assert_eq!(join_node_name("/", "talker"), "/talker");
        assert_eq!(join_node_name("/robot1", "talker"), "/robot1/talker");
    }
}
