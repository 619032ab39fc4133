//! The live ROS 2 backend: one `std::thread` owns the gateway's rcl node
//! ([`crate::ros::rcl::RclNode`]) and talks to the async core only through the channels of
//! [`BackendIo`].
//!
//! ```text
//! start(name, prefixes) ─► thread: rcl init + node (argv's --ros-args apply), parameter
//!                          overrides → Config, parameter services ─► (Config, warnings, backend)
//! backend.run(io, shutdown) ─► loop until shutdown or the core goes away:
//!     apply commands → wait (messages, responses, requests, the command bell, graph changes)
//!     → take every ready message until its reader is empty → hand it to the hub
//!     → responses, requests → graph snapshot if the graph changed (coalesced) → deadlines
//! drop: every entity, the node, the context — before `run` resolves, so `main` exits only once
//!       the node has left the graph.
//! ```
//!
//! Why the loop waits in `rcl_wait` instead of polling: a message wakes it at once, so the reader
//! (whose depth follows the QoS rule, `min_qos_depth..=max_qos_depth`) is emptied long before it
//! can overflow, and an idle gateway costs no CPU. Losses the middleware does report (a
//! best-effort reader's gaps, rejected samples) and gaps in the publishers' sequence numbers
//! (where the rmw gives them) are counted and reported to the hub ([`RosEvent::MessagesLost`]),
//! which tells the viewers of that topic. Cyclone DDS gives no sequence numbers and does not count
//! a KEEP_LAST history overwriting its oldest message, so a gateway starved of CPU could lose
//! messages there unseen; a pass that finds the history full is reported instead
//! ([`RosEvent::ReaderFull`], see `OverflowWatch`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::graph::{self, SnapshotTracker};
use super::qos::{publisher_qos, subscription_qos};
use super::rcl::{self, ClientId, EntityError, RclNode, ServiceId, SubscriptionId, Waker};
use super::{
    BackendIo, GraphSnapshot, MessageSink, PublisherInfo, PublisherKey, Qos, RosCommand, RosEvent,
    ServiceInfo, SubscriptionKey, TopicSubscribers,
};
use crate::cdr::{cdr_to_json, json_to_cdr};
use crate::config::{Config, ConfigError};
use crate::schema::SchemaStore;

mod calls;
mod params;
mod rosout;

pub use params::ParamsHandle;
pub use rosout::RosoutLayer;

use params::ParamService;

/// The longest the loop sleeps with nothing to do (a safety net; every event wakes it).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// While a request waits for its server to be discovered, how often discovery is re-checked.
const DISCOVERY_POLL: Duration = Duration::from_millis(20);
/// Graph changes come in bursts (a node starting creates a dozen endpoints): one snapshot per
/// this interval at most.
const GRAPH_DEBOUNCE: Duration = Duration::from_millis(100);
/// A snapshot is taken this often even without a graph event (QoS of a late-discovered endpoint).
const GRAPH_REFRESH: Duration = Duration::from_secs(5);
/// A loop pass (everything but the wait) longer than this is logged at debug level.
const SLOW_PASS: Duration = Duration::from_millis(2);
/// How often message-loss counts are collected and reported.
const LOSS_REPORT: Duration = Duration::from_secs(2);
/// At most this many messages are taken from one reader per pass, so one firehose topic cannot
/// starve the others; the next wait returns at once while any reader still has data.
const MAX_TAKE_PER_PASS: usize = 256;
/// Requests to services the core offers that may wait for its answer at once.
const MAX_SERVED: usize = 64;
/// How long such a request may wait before it gets the default response.
const SERVED_TIMEOUT: Duration = Duration::from_secs(30);
const CLOCK_TOPIC: &str = "/clock";
const CLOCK_TYPE: &str = "rosgraph_msgs/msg/Clock";
const PARAM_EVENTS_TOPIC: &str = "/parameter_events";
const PARAM_EVENT_TYPE: &str = "rcl_interfaces/msg/ParameterEvent";

/// Why the ROS side could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RosError {
    /// rcl or the node could not be initialised (not sourced, bad `--ros-args`, ...).
    #[error("cannot start the ROS 2 node: {0}")]
    Init(#[from] rcl::RclError),
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

/// What `start` hands back from the thread.
struct Setup {
    config: Config,
    warnings: Vec<String>,
    params: ParamsHandle,
    waker: Waker,
}

/// Handed to the thread by [`RclBackend::run`].
struct RunMsg {
    io: BackendIo,
    shutdown: CancellationToken,
    done: oneshot::Sender<()>,
}

/// A started ROS node waiting for [`RclBackend::run`]. Dropping it stops the thread and the node.
pub struct RclBackend {
    run_tx: std::sync::mpsc::Sender<RunMsg>,
    params: ParamsHandle,
    waker: Waker,
}

/// Start the ROS thread: initialise rcl with this process's arguments, create the node
/// `node_name` (remapped by `--ros-args` as usual), read its parameter overrides into a
/// validated [`Config`], and serve the parameters back (`ros2 param get /foxglove_gateway
/// port`; they are read-only). `schemas` reads interface definitions (the parameter services'
/// own types among them). Returns the config, warnings for the log, and the backend to
/// [`RclBackend::run`].
///
/// Blocks until the node is up (milliseconds): call it from `block_in_place` or before the
/// runtime. On failure, log events buffered by [`RosoutLayer`] are printed to stderr.
pub fn start(
    node_name: &str,
    schemas: Arc<SchemaStore>,
) -> Result<(Config, Vec<String>, RclBackend), RosError> {
    let (setup_tx, setup_rx) = std::sync::mpsc::sync_channel::<Result<Setup, RosError>>(1);
    let (run_tx, run_rx) = std::sync::mpsc::channel::<RunMsg>();
    let name = node_name.to_string();
    std::thread::Builder::new()
        .name("ros".into())
        .spawn(move || ros_thread(&name, schemas, setup_tx, run_rx))?;
    match setup_rx.recv() {
        Ok(Ok(setup)) => {
            if cfg!(debug_assertions) {
                warn!(
                    "this is a debug build of foxglove_gateway: it is several times slower. Build \
                     it with `colcon build --packages-select foxglove_gateway --cargo-args \
                     --release`"
                );
            }
            Ok((
                setup.config,
                setup.warnings,
                RclBackend {
                    run_tx,
                    params: setup.params,
                    waker: setup.waker,
                },
            ))
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

impl RclBackend {
    /// The parameters the node serves; `main` updates `port` after binding port 0, as
    /// foxglove_bridge does.
    pub fn params(&self) -> ParamsHandle {
        self.params.clone()
    }

    /// Hand the thread its channels and run until `shutdown` is cancelled or the core drops its
    /// command sender. Resolves once the node has been destroyed (it has left the graph).
    pub async fn run(self, io: BackendIo, shutdown: CancellationToken) -> Result<(), RosError> {
        let waker = self.waker.clone();
        io.bell.install(move || waker.wake());
        let (done, done_rx) = oneshot::channel();
        self.run_tx
            .send(RunMsg {
                io,
                shutdown: shutdown.clone(),
                done,
            })
            .map_err(|_| RosError::ThreadGone)?;
        // Cancellation must wake the thread out of its wait.
        let waker = self.waker.clone();
        let wake_on_stop = tokio::spawn(async move {
            shutdown.cancelled().await;
            waker.wake();
        });
        let result = done_rx.await.map_err(|_| RosError::ThreadGone);
        wake_on_stop.abort();
        result
    }
}

/// The thread body: setup, wait for `run`, loop, destroy the node, signal.
fn ros_thread(
    node_name: &str,
    schemas: Arc<SchemaStore>,
    setup_tx: std::sync::mpsc::SyncSender<Result<Setup, RosError>>,
    run_rx: std::sync::mpsc::Receiver<RunMsg>,
) {
    let (mut node, config, warnings) = match setup(node_name, &schemas) {
        Ok(started) => started,
        Err(e) => {
            let _ = setup_tx.send(Err(e));
            return;
        }
    };
    let params = ParamsHandle::new(config.to_params());
    let own_params = serve_parameters(&mut node);
    let waker = node.waker();
    let sent = setup_tx.send(Ok(Setup {
        config: config.clone(),
        warnings,
        params: params.clone(),
        waker,
    }));
    // `start`'s caller gave up, or dropped the backend without running it.
    let run = match (sent, run_rx.recv()) {
        (Ok(()), Ok(run)) => run,
        _ => return,
    };
    let RunMsg { io, shutdown, done } = run;
    let mut ros = RosThread::new(node, config, io, schemas, params, own_params);
    ros.run(&shutdown);
    let RosThread { node, .. } = ros;
    // Destroys every entity and the node: peers see it leave now, not when a lease expires.
    drop(node);
    info!("ROS node stopped");
    let _ = done.send(());
}

fn setup(
    node_name: &str,
    schemas: &SchemaStore,
) -> Result<(RclNode, Config, Vec<String>), RosError> {
    let args: Vec<String> = std::env::args().collect();
    let node = RclNode::new(&args, node_name, "", schemas.prefixes())?;
    rosout::mark_ready(node.logger_name());
    let overrides = match node.parameter_overrides() {
        Ok(o) => o,
        Err(e) => {
            warn!("cannot read the node's parameters ({e}); using the defaults");
            Default::default()
        }
    };
    match Config::from_params(&overrides) {
        Ok((config, warnings)) => {
            if config.debug {
                rosout::set_debug(node.logger_name());
            }
            Ok((node, config, warnings))
        }
        Err(e) => Err(e.into()),
    }
}

/// Create the six parameter services on the node; a failure is logged and costs only
/// `ros2 param` access to our parameters.
fn serve_parameters(node: &mut RclNode) -> HashMap<ServiceId, ParamService> {
    let fqn = node.fully_qualified_name().to_string();
    let mut out = HashMap::new();
    for s in ParamService::ALL {
        let (suffix, type_name) = s.name_and_type();
        match node.create_service(&format!("{fqn}/{suffix}"), type_name, rcl::services_qos()) {
            Ok(id) => {
                out.insert(id, s);
            }
            Err(e) => warn!("cannot serve {suffix} (ros2 param will not see our parameters): {e}"),
        }
    }
    out
}

/// One subscription of the hub.
struct Subscription {
    id: SubscriptionId,
    topic: String,
    /// Sequence number of the last message per publisher, where the rmw reports them.
    last_seq: HashMap<u64, u64>,
    /// Lost since the last report: by sequence gaps, and as the middleware reported.
    gaps: u64,
    reported_lost: u64,
    /// Losses the middleware may have hidden (a full reader history).
    overflow: OverflowWatch,
}

/// A request to a service the core offers, waiting for the core's answer.
struct Served {
    service: ServiceId,
    header: rcl::RequestHeader,
    type_name: String,
    deadline: Instant,
}

struct ClientPublisher {
    topic: String,
    type_name: String,
    /// `None` when creating it failed (already reported to the viewer).
    id: Option<rcl::PublisherId>,
    /// Whether a publish error was already reported; one status per publisher, not per message.
    error_reported: bool,
}

struct RosThread {
    node: RclNode,
    fqn: String,
    cfg: Config,
    schemas: Arc<SchemaStore>,
    commands: mpsc::UnboundedReceiver<RosCommand>,
    events: mpsc::UnboundedSender<RosEvent>,
    sink: Arc<dyn MessageSink>,
    params: ParamsHandle,
    own_params: HashMap<ServiceId, ParamService>,
    /// Services the core offers on this node (`ProvideService`): name and type.
    provided: HashMap<ServiceId, (String, String)>,
    /// Requests to them waiting for the core's answer.
    served: HashMap<u64, Served>,
    next_served: u64,
    subs: BTreeMap<SubscriptionKey, Subscription>,
    by_id: HashMap<SubscriptionId, SubscriptionKey>,
    pubs: BTreeMap<PublisherKey, ClientPublisher>,
    clock: Option<SubscriptionId>,
    sim_time: Option<u64>,
    param_events: Option<SubscriptionId>,
    calls: calls::Calls,
    graph: SnapshotTracker,
    graph_dirty: bool,
    next_graph: Instant,
    next_loss_report: Instant,
}

impl RosThread {
    fn new(
        node: RclNode,
        cfg: Config,
        io: BackendIo,
        schemas: Arc<SchemaStore>,
        params: ParamsHandle,
        own_params: HashMap<ServiceId, ParamService>,
    ) -> Self {
        let fqn = node.fully_qualified_name().to_string();
        let timeout = cfg.service_call_timeout;
        let mut t = RosThread {
            node,
            fqn,
            cfg,
            schemas: schemas.clone(),
            commands: io.commands,
            events: io.events,
            sink: io.messages,
            params,
            own_params,
            provided: HashMap::new(),
            served: HashMap::new(),
            next_served: 0,
            subs: BTreeMap::new(),
            by_id: HashMap::new(),
            pubs: BTreeMap::new(),
            clock: None,
            sim_time: None,
            param_events: None,
            calls: calls::Calls::new(timeout, schemas),
            graph: SnapshotTracker::new(),
            graph_dirty: true,
            next_graph: Instant::now(),
            next_loss_report: Instant::now() + LOSS_REPORT,
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
            let now = Instant::now();
            let ready = match self.node.wait(Some(self.wait_time(now))) {
                Ok(r) => r,
                Err(e) => {
                    warn!("waiting for ROS events failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let pass = Instant::now();
            for id in &ready.subscriptions {
                self.take_messages(*id);
            }
            for id in &ready.clients {
                self.take_responses(*id);
            }
            for id in &ready.services {
                self.take_requests(*id);
            }
            let now = Instant::now();
            self.calls.poll(&mut self.node, now);
            if !self.served.is_empty() {
                self.expire_served(now);
            }
            self.graph_dirty |= ready.graph_changed;
            let mut graph_time = None;
            if (self.graph_dirty && now >= self.next_graph)
                || now >= self.next_graph + GRAPH_REFRESH
            {
                let t = Instant::now();
                self.poll_graph();
                self.graph_dirty = false;
                self.next_graph = Instant::now() + GRAPH_DEBOUNCE;
                graph_time = Some(t.elapsed());
            }
            if now >= self.next_loss_report {
                self.report_losses();
                self.next_loss_report = now + LOSS_REPORT;
            }
            // Readers wait while a pass runs: a long one is where a full reader comes from.
            let took = pass.elapsed();
            if took >= SLOW_PASS {
                debug!(
                    ms = took.as_secs_f64() * 1e3,
                    graph_ms = graph_time.map(|g| g.as_secs_f64() * 1e3),
                    "slow ROS loop pass"
                );
            }
        }
    }

    /// How long the next wait may sleep.
    fn wait_time(&self, now: Instant) -> Duration {
        let mut until = now + IDLE_WAIT;
        if self.graph_dirty {
            until = until.min(self.next_graph);
        }
        if self.calls.waiting_for_discovery() {
            until = until.min(now + DISCOVERY_POLL);
        }
        if let Some(d) = self.calls.next_deadline() {
            until = until.min(d);
        }
        if let Some(d) = self.served.values().map(|s| s.deadline).min() {
            until = until.min(d);
        }
        until = until.min(self.next_loss_report);
        until.saturating_duration_since(now)
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
                    // Destroyed now: the reader leaves the graph at once.
                    self.node.unsubscribe(s.id);
                    self.by_id.remove(&s.id);
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
                    if let Some(id) = p.id {
                        self.node.unadvertise(id);
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
            } => self.calls.call(
                &mut self.node,
                &self.events,
                call,
                &service,
                &type_name,
                &request,
            ),
            RosCommand::CancelCall { call } => self.calls.cancel(call),
            RosCommand::GetParameters {
                request,
                node,
                names,
            } => self
                .calls
                .get_parameters(&mut self.node, &self.events, request, node, names),
            RosCommand::SetParameters {
                request,
                node,
                parameters,
            } => self
                .calls
                .set_parameters(&mut self.node, &self.events, request, node, parameters),
            RosCommand::WatchParameterEvents { enabled } => self.watch_parameter_events(enabled),
            RosCommand::ProvideService { service, type_name } => {
                match self
                    .node
                    .create_service(&service, &type_name, rcl::services_qos())
                {
                    Ok(id) => {
                        debug!(%service, %type_name, "offering a service");
                        self.provided.insert(id, (service, type_name));
                    }
                    Err(e) => warn!(%service, "cannot offer the service: {e}"),
                }
            }
            RosCommand::AnswerService { request, response } => {
                if let Some(served) = self.served.remove(&request) {
                    self.answer_served(served, response);
                }
            }
        }
    }

    fn subscribe(&mut self, key: SubscriptionKey, topic: String, type_name: String) {
        let publishers = self.publisher_qos(&topic, &type_name);
        let choice = subscription_qos(&topic, &publishers, &self.cfg);
        for w in &choice.warnings {
            warn!("{w}");
        }
        // A repeated key replaces the old subscription.
        if let Some(old) = self.subs.remove(&key) {
            self.node.unsubscribe(old.id);
            self.by_id.remove(&old.id);
        }
        match self.node.subscribe(&topic, &type_name, choice.qos) {
            Ok(id) => {
                debug!(%topic, %type_name, qos = ?choice.qos, "subscribed");
                self.by_id.insert(id, key);
                self.subs.insert(
                    key,
                    Subscription {
                        id,
                        topic,
                        last_seq: HashMap::new(),
                        gaps: 0,
                        reported_lost: 0,
                        overflow: OverflowWatch::new(choice.qos.depth),
                    },
                );
            }
            Err(e) => {
                let reason = entity_reason(&e);
                warn!(%topic, "cannot subscribe: {reason}");
                let _ = self.events.send(RosEvent::SubscribeFailed { key, reason });
            }
        }
    }

    fn advertise(&mut self, key: PublisherKey, topic: String, type_name: String) {
        // Copy the QoS of another node's publisher so its subscribers (latched ones included)
        // match us as they match it.
        let existing = self.publisher_qos(&topic, &type_name);
        let qos = publisher_qos(&existing);
        let id = match self.node.advertise(&topic, &type_name, qos) {
            Ok(id) => {
                debug!(%topic, %type_name, ?qos, "client publisher created");
                Some(id)
            }
            Err(e) => {
                let reason = entity_reason(&e);
                warn!(%topic, "cannot publish: {reason}");
                let _ = self.events.send(RosEvent::PublisherFailed { key, reason });
                None
            }
        };
        if let Some(old) = self.pubs.insert(
            key,
            ClientPublisher {
                topic,
                type_name,
                id,
                error_reported: false,
            },
        ) {
            if let Some(id) = old.id {
                self.node.unadvertise(id);
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
        let Some(id) = p.id else {
            return;
        };
        let problem = match graph::cdr_payload_problem(payload) {
            Some(problem) => Some(problem),
            None => self.node.publish(id, payload).err().map(|e| e.to_string()),
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

    /// QoS of the other nodes' publishers of `topic` with `type_name` (ours are viewers'
    /// publishers, whose QoS a subscription or another viewer's publisher must not copy). Falls
    /// back to the last graph snapshot if the middleware call fails.
    fn publisher_qos(&self, topic: &str, type_name: &str) -> Vec<Qos> {
        match self.node.publishers_of(topic) {
            Ok(eps) => eps
                .into_iter()
                .filter(|e| e.type_name == type_name && e.node != self.fqn)
                .map(|e| e.qos)
                .collect(),
            Err(e) => {
                debug!(%topic, "cannot list publishers: {e}");
                self.graph.publisher_qos(topic, type_name)
            }
        }
    }

    /// Take everything a ready reader holds (up to a per-pass cap) and hand it to the hub.
    fn take_messages(&mut self, id: SubscriptionId) {
        if Some(id) == self.clock {
            return self.take_clock(id);
        }
        if Some(id) == self.param_events {
            return self.take_parameter_events(id);
        }
        let Some(&key) = self.by_id.get(&id) else {
            return;
        };
        let log_time = self.log_time();
        let mut taken = 0;
        for _ in 0..MAX_TAKE_PER_PASS {
            match self.node.take(id) {
                Ok(Some(m)) => {
                    taken += 1;
                    if let Some(s) = self.subs.get_mut(&key) {
                        count_gap(&mut s.last_seq, &mut s.gaps, m.publisher, m.sequence);
                        s.overflow.sequence(m.sequence);
                    }
                    // The publisher's source timestamp, where the middleware gives one.
                    let publish_time = u64::try_from(m.source_timestamp)
                        .ok()
                        .filter(|&t| t > 0)
                        .unwrap_or(log_time);
                    self.sink.message(key, log_time, publish_time, m.payload);
                }
                Ok(None) => break,
                Err(e) => {
                    debug!("cannot take a message: {e}");
                    break;
                }
            }
        }
        if let Some(s) = self.subs.get_mut(&key) {
            s.overflow.pass(taken);
        }
    }

    /// Send `MessagesLost` for every subscription that lost messages since the last report.
    fn report_losses(&mut self) {
        for (key, s) in &mut self.subs {
            let reported = self.node.take_lost(s.id).unwrap_or(0);
            s.reported_lost += reported;
            let full = s.overflow.take_full();
            if s.gaps == 0 && s.reported_lost == 0 {
                if full > 0 {
                    let _ = self.events.send(RosEvent::ReaderFull {
                        key: *key,
                        times: full,
                        depth: s.overflow.depth,
                    });
                }
                continue;
            }
            let (count, reason) = if s.gaps >= s.reported_lost {
                (
                    s.gaps,
                    "gaps in the publishers' sequence numbers (the network or the reader's \
                     history lost them; a larger min_qos_depth may help)"
                        .to_string(),
                )
            } else {
                (
                    s.reported_lost,
                    "the middleware reported them lost (best-effort delivery or rejected samples)"
                        .to_string(),
                )
            };
            s.gaps = 0;
            s.reported_lost = 0;
            let _ = self.events.send(RosEvent::MessagesLost {
                key: *key,
                count,
                reason,
            });
        }
    }

    fn take_responses(&mut self, id: ClientId) {
        if self.calls.owns(id) {
            self.calls.take_responses(&mut self.node, &self.events, id);
        }
    }

    /// Hand requests to a service the core offers over to the core (it answers with
    /// `AnswerService`). At most [`MAX_SERVED`] wait at a time; beyond that, and past
    /// [`SERVED_TIMEOUT`], a request gets the default response at once (logged).
    fn take_provided_requests(&mut self, id: ServiceId) {
        let Some((service, type_name)) = self.provided.get(&id).cloned() else {
            return;
        };
        for _ in 0..MAX_TAKE_PER_PASS {
            let (header, cdr) = match self.node.take_request(id) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    debug!("cannot take a request: {e}");
                    return;
                }
            };
            let served = Served {
                service: id,
                header,
                type_name: type_name.clone(),
                deadline: Instant::now() + SERVED_TIMEOUT,
            };
            let body = self
                .schemas
                .message(&format!("{type_name}_Request"))
                .map_err(|e| e.to_string())
                .and_then(|s| cdr_to_json(&s, &cdr).map_err(|e| e.to_string()));
            match body {
                Ok(body) if self.served.len() < MAX_SERVED => {
                    self.next_served += 1;
                    let request = self.next_served;
                    self.served.insert(request, served);
                    let _ = self.events.send(RosEvent::ServiceRequest {
                        request,
                        service: service.clone(),
                        body,
                    });
                }
                Ok(_) => self.answer_served(
                    served,
                    Err(format!("{MAX_SERVED} requests are already waiting")),
                ),
                Err(e) => self.answer_served(served, Err(format!("unreadable request: {e}"))),
            }
        }
    }

    /// Send the core's answer; without one, the response type's defaults (rcl has no way to
    /// refuse a request), and the reason goes to the log.
    fn answer_served(&mut self, served: Served, response: Result<serde_json::Value, String>) {
        let response = response.unwrap_or_else(|reason| {
            warn!(type_name = %served.type_name, "answering a request with defaults: {reason}");
            serde_json::json!({})
        });
        let cdr = self
            .schemas
            .message(&format!("{}_Response", served.type_name))
            .map_err(|e| e.to_string())
            .and_then(|s| json_to_cdr(&s, &response).map_err(|e| e.to_string()));
        match cdr {
            Ok(cdr) => {
                if let Err(e) = self
                    .node
                    .send_response(served.service, &served.header, &cdr)
                {
                    debug!("cannot send a response: {e}");
                }
            }
            Err(e) => warn!(type_name = %served.type_name, "cannot encode a response: {e}"),
        }
    }

    /// Answer, with defaults, requests the core left waiting too long.
    fn expire_served(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .served
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            if let Some(s) = self.served.remove(&k) {
                self.answer_served(s, Err("the gateway did not answer in time".into()));
            }
        }
    }

    /// Answer requests to the node's own services (its parameters, and what the core offers).
    fn take_requests(&mut self, id: ServiceId) {
        if self.provided.contains_key(&id) {
            return self.take_provided_requests(id);
        }
        let Some(&service) = self.own_params.get(&id) else {
            return;
        };
        let (_, type_name) = service.name_and_type();
        for _ in 0..MAX_TAKE_PER_PASS {
            let (header, cdr) = match self.node.take_request(id) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    debug!("cannot take a request: {e}");
                    return;
                }
            };
            let response = self
                .schemas
                .message(&format!("{type_name}_Request"))
                .map_err(|e| e.to_string())
                .and_then(|s| cdr_to_json(&s, &cdr).map_err(|e| e.to_string()))
                .map(|request| params::answer(&self.params, service, &request))
                .and_then(|answer| {
                    let s = self
                        .schemas
                        .message(&format!("{type_name}_Response"))
                        .map_err(|e| e.to_string())?;
                    json_to_cdr(&s, &answer).map_err(|e| e.to_string())
                });
            match response {
                Ok(cdr) => {
                    if let Err(e) = self.node.send_response(id, &header, &cdr) {
                        debug!("cannot answer a parameter request: {e}");
                    }
                }
                // No response is better than a wrong one: the caller times out.
                Err(e) => warn!("cannot answer a {type_name} request: {e}"),
            }
        }
    }

    fn poll_graph(&mut self) {
        let names = match self.node.topic_names_and_types() {
            Ok(n) => n,
            Err(e) => {
                warn!("cannot list topics: {e}");
                return;
            }
        };
        let names: HashMap<String, Vec<String>> = names
            .into_iter()
            .filter(|(t, _)| self.cfg.include_hidden || !graph::is_hidden(t))
            .collect();
        // Every endpoint of every topic, once per poll.
        let mut endpoints: HashMap<String, (Vec<rcl::EndpointInfo>, Vec<rcl::EndpointInfo>)> =
            HashMap::new();
        for topic in names.keys() {
            let pubs = self.node.publishers_of(topic).unwrap_or_default();
            let subs = self.node.subscriptions_of(topic).unwrap_or_default();
            endpoints.insert(topic.clone(), (pubs, subs));
        }
        let foreign = graph::foreign_topics(&names, &self.fqn, |t| {
            endpoints
                .get(t)
                .map(|(p, s)| {
                    p.iter()
                        .chain(s.iter())
                        .map(|e| (e.node.clone(), e.type_name.clone()))
                        .collect()
                })
                .unwrap_or_default()
        });
        let fqn = self.fqn.clone();
        let mut snapshot = graph::build_snapshot(&foreign, true, |t| {
            endpoints
                .get(t)
                .map(|(p, _)| {
                    p.iter()
                        .filter(|e| e.node != fqn)
                        .map(|e| graph::Endpoint {
                            type_name: e.type_name.clone(),
                            info: PublisherInfo {
                                node: e.node.clone(),
                                qos: e.qos,
                            },
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        self.fill_snapshot(&mut snapshot, &endpoints);
        if let Some(changed) = self.graph.update(snapshot) {
            let _ = self.events.send(RosEvent::Graph(changed));
        }
    }

    /// Nodes, services with their providers, and subscribers, leaving the gateway's own
    /// endpoints and services out (they are not the robot's). The gateway's node stays in the
    /// node list, so its own parameters can be read like any node's.
    fn fill_snapshot(
        &self,
        snapshot: &mut GraphSnapshot,
        endpoints: &HashMap<String, (Vec<rcl::EndpointInfo>, Vec<rcl::EndpointInfo>)>,
    ) {
        match self.node.node_names() {
            Ok(nodes) => {
                snapshot.nodes = nodes
                    .into_iter()
                    .filter(|n| !n.rsplit('/').next().unwrap_or("").starts_with('_'))
                    .collect()
            }
            Err(e) => debug!("cannot list nodes: {e}"),
        }
        let mut services: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for node in snapshot.nodes.iter().filter(|n| **n != self.fqn) {
            let Ok(list) = self.node.services_of_node(node) else {
                continue;
            };
            for (name, types) in list {
                if !self.cfg.include_hidden && graph::is_hidden(&name) {
                    continue;
                }
                let Some(type_name) = types.into_iter().next() else {
                    continue;
                };
                services
                    .entry(name)
                    .or_insert_with(|| (type_name, Vec::new()))
                    .1
                    .push(node.clone());
            }
        }
        snapshot.services = services
            .into_iter()
            .map(|(name, (type_name, mut providers))| {
                providers.sort();
                providers.dedup();
                ServiceInfo {
                    name,
                    type_name,
                    providers,
                }
            })
            .collect();
        let mut topics: Vec<&str> = snapshot.topics.iter().map(|t| t.name.as_str()).collect();
        topics.dedup();
        snapshot.subscriptions = topics
            .into_iter()
            .filter_map(|t| {
                let (_, subs) = endpoints.get(t)?;
                let mut nodes: Vec<String> = subs
                    .iter()
                    .filter(|e| e.node != self.fqn)
                    .map(|e| e.node.clone())
                    .collect();
                nodes.sort();
                nodes.dedup();
                (!nodes.is_empty()).then(|| TopicSubscribers {
                    topic: t.to_string(),
                    nodes,
                })
            })
            .collect();
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
        // rosgraph_msgs/Clock, keep last 1, best effort: what rclcpp's TimeSource uses.
        let qos = Qos {
            reliability: super::Reliability::BestEffort,
            durability: super::Durability::Volatile,
            depth: 1,
        };
        match self.node.subscribe(CLOCK_TOPIC, CLOCK_TYPE, qos) {
            Ok(id) => self.clock = Some(id),
            Err(e) => warn!(
                "use_sim_time is true but /clock cannot be read: {}",
                entity_reason(&e)
            ),
        }
    }

    fn take_clock(&mut self, id: SubscriptionId) {
        let mut latest = None;
        while let Ok(Some(m)) = self.node.take(id) {
            match graph::clock_from_cdr(&m.payload) {
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

    fn watch_parameter_events(&mut self, enabled: bool) {
        match (enabled, self.param_events) {
            (false, Some(id)) => {
                self.node.unsubscribe(id);
                self.param_events = None;
            }
            (true, None) => {
                // rclcpp's parameter events QoS: reliable, volatile, keep last 1000.
                let qos = Qos {
                    reliability: super::Reliability::Reliable,
                    durability: super::Durability::Volatile,
                    depth: 1000,
                };
                match self
                    .node
                    .subscribe(PARAM_EVENTS_TOPIC, PARAM_EVENT_TYPE, qos)
                {
                    Ok(id) => self.param_events = Some(id),
                    Err(e) => warn!(
                        "cannot subscribe to /parameter_events: {}",
                        entity_reason(&e)
                    ),
                }
            }
            _ => {}
        }
    }

    fn take_parameter_events(&mut self, id: SubscriptionId) {
        let schema = match self.schemas.message(PARAM_EVENT_TYPE) {
            Ok(s) => s,
            Err(e) => {
                debug!("no definition for {PARAM_EVENT_TYPE}: {e}");
                while let Ok(Some(_)) = self.node.take(id) {}
                return;
            }
        };
        for _ in 0..MAX_TAKE_PER_PASS {
            let Ok(Some(m)) = self.node.take(id) else {
                return;
            };
            let event = cdr_to_json(&schema, &m.payload)
                .ok()
                .and_then(|v| calls::parameter_event(&v));
            match event {
                // Our own parameters never change; the rest go to the hub.
                Some((node, changed)) if node != self.fqn => {
                    let _ = self.events.send(RosEvent::ParameterEvent { node, changed });
                }
                Some(_) => {}
                None => debug!("ignoring a malformed /parameter_events message"),
            }
        }
    }
}

/// Count messages a publisher's sequence numbers say we never saw. `u64::MAX`
/// (`RMW_MESSAGE_INFO_SEQUENCE_NUMBER_UNSUPPORTED`, Cyclone DDS) and 0 mean the rmw does not
/// report them; a number that goes backwards means the publisher restarted. The numbers come
/// from the network: no arithmetic here can overflow.
fn count_gap(last: &mut HashMap<u64, u64>, gaps: &mut u64, publisher: u64, seq: u64) {
    if seq == 0 || seq == u64::MAX {
        return;
    }
    if let Some(prev) = last.insert(publisher, seq) {
        let missed = seq.saturating_sub(prev).saturating_sub(1);
        *gaps = gaps.saturating_add(missed);
    }
}

/// Watches for the loss the middleware may not report: a reader whose history (KEEP_LAST, depth
/// `depth`) fills up before the loop takes from it overwrites its oldest message, and Cyclone DDS
/// neither counts that (the DDS sample-lost status is about the network) nor gives sequence
/// numbers to find the gap. Finding the history full is the only sign left: a pass that takes
/// `depth` messages or more (arrivals during the pass aside) found it full, so something may have
/// been overwritten. Not counted: the first pass (a transient-local publisher's history arrives
/// at once), depth 1 (every message fills it), and subscriptions whose rmw gives sequence numbers
/// (their gaps are counted exactly instead).
#[derive(Debug)]
struct OverflowWatch {
    depth: u32,
    first_pass: bool,
    sequenced: bool,
    /// Passes that found the history full since the last report.
    full: u64,
}

impl OverflowWatch {
    fn new(depth: u32) -> Self {
        Self {
            depth,
            first_pass: true,
            sequenced: false,
            full: 0,
        }
    }

    /// A message's sequence number as the rmw gave it.
    fn sequence(&mut self, seq: u64) {
        if seq != 0 && seq != u64::MAX {
            self.sequenced = true;
        }
    }

    /// One pass of the loop took `taken` messages.
    fn pass(&mut self, taken: usize) {
        if taken == 0 {
            return;
        }
        let first = std::mem::replace(&mut self.first_pass, false);
        let watched = !first && !self.sequenced && self.depth >= 2;
        if watched && u64::try_from(taken).unwrap_or(u64::MAX) >= u64::from(self.depth) {
            self.full = self.full.saturating_add(1);
        }
    }

    /// Passes that found the history full since the last call.
    fn take_full(&mut self) -> u64 {
        std::mem::take(&mut self.full)
    }
}

/// What a viewer is told when an entity cannot be created. The hub adds "Cannot subscribe to
/// /x: " in front, so this says only why.
fn entity_reason(e: &EntityError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_reader_history_is_noticed() {
        let mut w = OverflowWatch::new(10);
        w.pass(10); // the first pass: a transient-local history, not an overflow
        w.pass(0);
        w.pass(1);
        w.pass(9);
        assert_eq!(w.take_full(), 0);
        w.pass(10);
        w.pass(12); // arrivals while taking
        w.pass(3);
        assert_eq!(w.take_full(), 2);
        assert_eq!(w.take_full(), 0, "counted since the last report");

        // Depth 1: every message fills the history; nothing to conclude.
        let mut one = OverflowWatch::new(1);
        for _ in 0..5 {
            one.pass(1);
        }
        assert_eq!(one.take_full(), 0);

        // Sequence numbers count the gaps exactly; the guess is not needed.
        let mut seq = OverflowWatch::new(10);
        seq.pass(1);
        seq.sequence(7);
        seq.pass(10);
        assert_eq!(seq.take_full(), 0);
        let mut unsupported = OverflowWatch::new(10);
        unsupported.pass(1);
        unsupported.sequence(u64::MAX);
        unsupported.pass(10);
        assert_eq!(unsupported.take_full(), 1);
    }

    #[test]
    fn sequence_gaps_are_counted_per_publisher() {
        let mut last = HashMap::new();
        let mut gaps = 0;
        for (p, s) in [(1, 5), (1, 6), (2, 100), (1, 9), (2, 101), (2, 103)] {
            count_gap(&mut last, &mut gaps, p, s);
        }
        assert_eq!(gaps, 2 + 1);
        count_gap(&mut last, &mut gaps, 1, 1); // restarted publisher: no gap
        count_gap(&mut last, &mut gaps, 1, 0); // unsupported: ignored
        count_gap(&mut last, &mut gaps, 1, u64::MAX); // unsupported (Cyclone): ignored
        count_gap(&mut last, &mut gaps, 3, u64::MAX - 1);
        count_gap(&mut last, &mut gaps, 3, 1);
        assert_eq!(gaps, 3);
    }
}
