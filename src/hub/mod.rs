//! The core every transport shares: channels, subscriptions, client publishing, per-viewer
//! outboxes.
//!
//! - Channels follow the ROS graph ([`Hub::apply_graph`]): one per allowed (topic, type) with a
//!   resolvable definition; ids stay the same while (topic, type, schema) does.
//! - Exactly one ROS subscription per channel exists while at least one viewer (of any
//!   transport) subscribes; it is released with the last.
//! - Viewers are registered with an [`Outbox`]; the hub pushes transport-neutral
//!   [`Control`] messages and data into it, and the transport's writer encodes them.
//! - Every public method that takes viewer input returns a [`ClientError`] the transport turns
//!   into a status for that viewer; nothing a viewer sends can affect another.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::protocol::server::{self, ServerInfo, StatusLevel};
use crate::protocol::ParseError;
use crate::ros::{self, BackendIo, PublisherKey, RosCommand, RosEvent, RosHandle};
use crate::schema::{ResolvedSchema, SchemaStore};

pub mod assets;
pub mod conngraph;
mod graph;
pub mod outbox;
pub mod params;
mod publish;
pub mod recording;
pub mod router;
pub mod services;
pub mod session;

pub use outbox::{CloseReason, Control, DataItem, Limits, Outbox, Outgoing};
pub use recording::{HubExtras, PlaybackHook};
use router::Router;
pub use services::{InternalHandler, Responder};

/// A viewer, as the hub knows it.
pub type ClientId = u64;

/// Capabilities this build implements; the offered set is this ∩ the `capabilities` parameter.
pub const IMPLEMENTED_CAPABILITIES: &[&str] = &[
    "clientPublish",
    "services",
    "parameters",
    "parametersSubscribe",
    "connectionGraph",
    "assets",
];

/// One channel: a (topic, type) of the graph with its schema.
#[derive(Debug)]
pub struct ChannelInfo {
    /// Channel id.
    pub id: u64,
    /// Topic.
    pub topic: Arc<str>,
    /// ROS type as the graph reports it.
    pub type_name: String,
    /// Parsed definition and schema text.
    pub schema: Arc<ResolvedSchema>,
    /// The inline advertisement, built once.
    pub advert: server::Channel,
    /// Every publisher was reliable and transient-local when the channel was advertised
    /// (remote access sends such channels on the reliable control stream).
    pub reliable_latched: bool,
}

/// Something a viewer asked for that cannot be done. The text is what the viewer sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The message could not be parsed.
    #[error("Invalid message: {0}")]
    Parse(#[from] ParseError),
    /// Subscribe to a channel that does not exist.
    #[error("Unknown channel ID: {0}")]
    UnknownChannel(u64),
    /// A subscription id already in use by this viewer.
    #[error("Subscription ID {0} is already in use")]
    SubscriptionIdInUse(u64),
    /// A second subscription to the same channel.
    #[error("Already subscribed to channel {channel} ({topic}); request ignored")]
    AlreadySubscribed {
        /// Channel id.
        channel: u64,
        /// Its topic.
        topic: String,
    },
    /// Unsubscribe with an id that is not subscribed.
    #[error("Unknown subscription ID: {0}")]
    UnknownSubscription(u64),
    /// A capability this server does not offer.
    #[error("Server does not support the {0} capability")]
    Unsupported(&'static str),
    /// A client channel id already advertised by this viewer.
    #[error("Client channel {0} is already advertised; request ignored")]
    ClientChannelInUse(u32),
    /// Data or unadvertise for a client channel that was not advertised.
    #[error("Client has not advertised channel {0}")]
    UnknownClientChannel(u32),
    /// The topic is not allowed by `client_topic_whitelist`.
    #[error("Publishing to {0} is not allowed (client_topic_whitelist)")]
    TopicNotAllowed(String),
    /// An encoding other than cdr or json.
    #[error("Unsupported encoding {encoding:?} for {topic}: use \"cdr\" or \"json\"")]
    UnsupportedEncoding {
        /// Topic.
        topic: String,
        /// Encoding asked for.
        encoding: String,
    },
    /// The type of a client channel cannot be resolved.
    #[error("Cannot publish {topic}: no definition for {schema_name}: {reason}")]
    UnresolvedSchema {
        /// Topic.
        topic: String,
        /// Type asked for.
        schema_name: String,
        /// Why.
        reason: String,
    },
    /// A client message that does not fit its type.
    #[error("Message on {topic} ({type_name}) rejected: {reason}")]
    BadMessage {
        /// Topic.
        topic: String,
        /// Type.
        type_name: String,
        /// What did not fit.
        reason: String,
    },
    /// A message larger than `max_incoming_message_size`.
    #[error(
        "Message of {size} bytes exceeds the limit of {limit} bytes (max_incoming_message_size)"
    )]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Playback control on a live robot.
    #[error("Playback control is not supported: this is a live robot")]
    PlaybackUnsupported,
    /// More playback requests waiting than the player takes.
    #[error("Too many playback requests; wait for the Playback State replies")]
    PlaybackBusy,
    /// More parameter requests waiting (or answered and not yet read) than a viewer may have.
    #[error(
        "Too many concurrent parameter requests (at most {} per viewer, counting answers not \
         yet read)",
        params::MAX_REQUESTS_PER_VIEWER
    )]
    TooManyParameterRequests,
    /// More client channels than `max_client_channels`.
    #[error(
        "Cannot advertise client channel {id} on {topic}: this viewer already has {limit} \
         (max_client_channels)"
    )]
    TooManyClientChannels {
        /// The channel refused.
        id: u32,
        /// Its topic.
        topic: String,
        /// The limit.
        limit: usize,
    },
    /// Parameter names over `max_parameter_subscriptions`.
    #[error(
        "{refused} parameter name(s) refused: a viewer may subscribe to (or ask for) at most \
         {limit} (max_parameter_subscriptions)"
    )]
    TooManyParameterSubscriptions {
        /// Names refused in this request.
        refused: usize,
        /// The limit.
        limit: usize,
    },
    /// A parameter name too long to be real.
    #[error("{count} parameter name(s) longer than {limit} bytes refused")]
    ParameterNameTooLong {
        /// Names refused in this request.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// More refusals for one message than are worth a status each.
    #[error("{0} more part(s) of this request refused (not listed one by one)")]
    MoreRefused(usize),
    /// A parameter in `setParameters` that cannot be set.
    #[error("Cannot set parameter {name}: {reason}")]
    BadParameter {
        /// Full name `/node.param`.
        name: String,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// How severe, for the status sent back.
    pub fn level(&self) -> StatusLevel {
        match self {
            ClientError::AlreadySubscribed { .. }
            | ClientError::ClientChannelInUse(_)
            | ClientError::UnknownSubscription(_) => StatusLevel::Warning,
            _ => StatusLevel::Error,
        }
    }
}

struct ClientState {
    outbox: Arc<Outbox>,
    /// wire id → channel.
    subs: HashMap<u64, u64>,
    /// channel → wire id.
    sub_by_channel: HashMap<u64, u64>,
    /// client channel id → publisher.
    pubs: HashMap<u32, PublisherKey>,
    /// Client channels whose advertise was refused (the viewer was told then); their
    /// unadvertise is accepted quietly, as apps unadvertise everything they advertised.
    refused: std::collections::HashSet<u32>,
}

#[derive(Default)]
struct ChannelSubs {
    /// (client, wire id) of every subscriber.
    subscribers: BTreeMap<ClientId, u64>,
    /// The recorder holds this channel too (it counts as one more subscriber).
    recorded: bool,
}

impl ChannelSubs {
    /// True while anyone (viewer or recorder) needs the ROS subscription.
    fn in_use(&self) -> bool {
        !self.subscribers.is_empty() || self.recorded
    }
}

#[derive(Default)]
struct State {
    channels: BTreeMap<u64, Arc<ChannelInfo>>,
    by_key: HashMap<(String, String), u64>,
    /// Ids once given, kept so a topic that comes back with the same schema gets its old id.
    /// Those of channels that went away are forgotten oldest first beyond
    /// [`graph::RETIRED_IDS_KEPT`] (viewers can create topics: the table must not grow).
    known_ids: HashMap<(String, String), (u64, String)>,
    /// Channels removed, oldest first, for forgetting their ids.
    retired: std::collections::VecDeque<(String, String)>,
    next_channel_id: u64,
    /// Transient-local replay depth per channel (0 = not latched), from the graph.
    latch_depth: HashMap<u64, usize>,
    /// (topic, type) not advertised for lack of a definition → why.
    missing: BTreeMap<(String, String), String>,
    clients: HashMap<ClientId, ClientState>,
    next_client_id: ClientId,
    subs: HashMap<u64, ChannelSubs>,
    publishers: HashMap<PublisherKey, publish::Publisher>,
    next_publisher_key: PublisherKey,
    /// The last sim time (`use_sim_time`), given to viewers as they connect: a paused
    /// simulation sends no new /clock, and the app needs a time to show anything.
    sim_time: Option<u64>,
}

/// The shared core. Cheap to share behind `Arc`; every method takes `&self`.
pub struct Hub {
    config: Arc<Config>,
    schemas: Arc<SchemaStore>,
    ros: RosHandle,
    router: Arc<Router>,
    state: Mutex<State>,
    server_info: ServerInfo,
    assets: assets::Assets,
    // Feature state behind their own locks. Lock order: a feature lock may be held while the
    // core `state` lock is taken, never the reverse.
    services: Mutex<services::Services>,
    params: Mutex<params::Params>,
    conngraph: Mutex<conngraph::ConnGraphState>,
    /// Recording and playback (None/empty when off).
    extras: HubExtras,
    /// The event channel into [`Hub::run_events`], for answers produced inside the hub
    /// (internal services).
    self_events: mpsc::UnboundedSender<RosEvent>,
    /// When viewers were last told about dropped publications.
    publish_report: Mutex<Option<std::time::Instant>>,
}

impl Hub {
    /// Build the hub and the backend side of the ROS boundary. Start the backend with the
    /// returned [`BackendIo`] and run [`Hub::run_events`] with the receiver.
    pub fn new(
        config: Arc<Config>,
        schemas: Arc<SchemaStore>,
    ) -> (Arc<Hub>, BackendIo, mpsc::UnboundedReceiver<RosEvent>) {
        Self::with_extras(config, schemas, HubExtras::default())
    }

    /// [`Hub::new`] with recording and/or playback.
    pub fn with_extras(
        config: Arc<Config>,
        schemas: Arc<SchemaStore>,
        extras: HubExtras,
    ) -> (Arc<Hub>, BackendIo, mpsc::UnboundedReceiver<RosEvent>) {
        let router = Arc::new(Router::default());
        let (ros, io, events) = ros::channel(
            router.clone(),
            ros::PublishLimits {
                depth: config.client_publish_queue_size,
                bytes: config.send_buffer_limit,
            },
        );
        let mut server_info = build_server_info(&config);
        extras.amend_server_info(&mut server_info);
        let self_events = io.events.clone();
        let assets = assets::Assets::new(config.asset_buffer_limit);
        let hub = Arc::new(Hub {
            config,
            schemas,
            ros,
            router,
            state: Mutex::new(State {
                next_channel_id: 1,
                next_client_id: 1,
                next_publisher_key: 1,
                ..State::default()
            }),
            server_info,
            assets,
            services: Mutex::default(),
            params: Mutex::default(),
            conngraph: Mutex::default(),
            extras,
            self_events,
            publish_report: Mutex::new(None),
        });
        hub.start_recording();
        (hub, io, events)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The `serverInfo` every WebSocket viewer gets first.
    pub fn server_info(&self) -> &ServerInfo {
        &self.server_info
    }

    /// True if the capability is offered to viewers.
    pub fn offers(&self, capability: &str) -> bool {
        self.server_info
            .capabilities
            .iter()
            .any(|c| c == capability)
    }

    /// Process backend events until the backend goes away; also expires service calls and
    /// parameter requests past their deadline.
    pub async fn run_events(self: Arc<Self>, mut events: mpsc::UnboundedReceiver<RosEvent>) {
        let mut tick = tokio::time::interval(DEADLINE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.handle_event(event),
                    None => break,
                },
                _ = tick.tick() => self.expire(std::time::Instant::now()),
            }
        }
    }

    /// Fail service calls and parameter requests whose deadline has passed, and tell viewers
    /// about publications ROS did not take in time.
    pub fn expire(&self, now: std::time::Instant) {
        self.expire_calls(now);
        self.expire_parameter_requests(now);
        self.report_publish_drops(now);
    }

    /// A viewer's outbox.
    fn outbox(&self, client: ClientId) -> Option<Arc<Outbox>> {
        self.state
            .lock()
            .clients
            .get(&client)
            .map(|c| c.outbox.clone())
    }

    /// Apply one backend event.
    pub fn handle_event(&self, event: RosEvent) {
        match event {
            RosEvent::Graph(snapshot) => {
                self.apply_graph(&snapshot);
                self.apply_services(&snapshot);
                self.apply_params_graph(&snapshot);
                self.apply_connection_graph(&snapshot);
            }
            RosEvent::ServiceResponse { call, result } => self.service_response(call, result),
            RosEvent::Parameters {
                request,
                node,
                result,
            } => self.parameters_fetched(request, &node, result),
            RosEvent::ParametersSet {
                request,
                node,
                result,
            } => self.parameters_set(request, &node, result),
            RosEvent::ParameterEvent { node, changed } => self.parameter_event(&node, changed),
            RosEvent::SubscribeFailed { key, reason } => {
                let topic = self.channel_topic(key);
                tracing::warn!(channel = key, %topic, %reason, "ROS subscription failed");
                let message = format!("Cannot subscribe to {topic}: {reason}");
                self.tell_subscribers(key, status(StatusLevel::Error, &message));
            }
            RosEvent::MessagesLost { key, count, reason } => {
                let topic = self.channel_topic(key);
                tracing::warn!(channel = key, %topic, count, %reason, "ROS messages lost");
                let message = format!(
                    "{count} message(s) on {topic} were lost on the ROS side, before the \
                     gateway: {reason}"
                );
                self.tell_ros_loss(key, message);
            }
            RosEvent::ReaderFull { key, times, depth } => {
                let topic = self.channel_topic(key);
                tracing::warn!(channel = key, %topic, times, depth, "ROS reader found full");
                let message = format!(
                    "The gateway's ROS reader of {topic} (history depth {depth}) was found full \
                     {times} time(s): the middleware may have overwritten messages before \
                     the gateway took them, and it does not say how many. The gateway was \
                     short of CPU; a larger min_qos_depth (with max_qos_depth) gives it more \
                     slack"
                );
                self.tell_ros_loss(key, message);
            }
            RosEvent::PublisherFailed { key, reason } => self.publisher_failed(key, &reason),
            RosEvent::ServiceRequest {
                request,
                service,
                body,
            } => self.peer_service_request(request, &service, body),
            RosEvent::Time(ns) => {
                let frame = crate::protocol::binary::time(ns);
                let mut state = self.state.lock();
                state.sim_time = Some(ns);
                for c in state.clients.values() {
                    let _ = c.outbox.push_control(Control::Binary(frame.clone()));
                }
            }
        }
    }

    fn channel_topic(&self, channel: u64) -> String {
        self.state
            .lock()
            .channels
            .get(&channel)
            .map(|c| c.topic.to_string())
            .unwrap_or_default()
    }

    /// Queue a control message for every viewer subscribed to `channel`.
    /// A warning to the viewers of `channel` about messages the ROS side lost, under the status
    /// id [`ROS_DROPS_STATUS_ID`].
    fn tell_ros_loss(&self, channel: u64, message: String) {
        self.tell_subscribers(
            channel,
            Control::Status {
                level: StatusLevel::Warning,
                message,
                id: Some(ROS_DROPS_STATUS_ID.to_string()),
            },
        );
    }

    fn tell_subscribers(&self, channel: u64, msg: Control) {
        let state = self.state.lock();
        if let Some(subs) = state.subs.get(&channel) {
            for client in subs.subscribers.keys() {
                if let Some(c) = state.clients.get(client) {
                    let _ = c.outbox.push_control(msg.clone());
                }
            }
        }
    }

    /// Register a viewer whose transport already queued its `serverInfo`. Queues the current
    /// advertisements.
    pub fn connect(&self, outbox: Arc<Outbox>) -> ClientId {
        let mut state = self.state.lock();
        let id = state.next_client_id;
        state.next_client_id += 1;
        let channels: Vec<Arc<ChannelInfo>> = state.channels.values().cloned().collect();
        if !channels.is_empty() {
            let _ = outbox.push_control(Control::Advertise(channels));
        }
        if let Some(msg) = missing_status(&state.missing) {
            let _ = outbox.push_control(msg);
        }
        if let Some(ns) = state.sim_time {
            let _ = outbox.push_control(Control::Binary(crate::protocol::binary::time(ns)));
        }
        state.clients.insert(
            id,
            ClientState {
                outbox,
                subs: HashMap::new(),
                sub_by_channel: HashMap::new(),
                pubs: HashMap::new(),
                refused: Default::default(),
            },
        );
        tracing::info!(
            client = id,
            viewers = state.clients.len(),
            "viewer connected"
        );
        let outbox = state.clients.get(&id).map(|c| c.outbox.clone());
        drop(state);
        if let Some(outbox) = outbox {
            self.services_connect(id, &outbox);
            self.params_connect(id, &outbox);
        }
        id
    }

    /// Forget a viewer: release its subscriptions and publishers (with the zero-Twist safety).
    pub fn disconnect(&self, client: ClientId) {
        let mut state = self.state.lock();
        let Some(c) = state.clients.remove(&client) else {
            return;
        };
        shrink_table(&mut state.clients);
        c.outbox
            .close(CloseReason::Requested("disconnected".into()));
        for (&channel, _) in c.sub_by_channel.iter() {
            self.remove_subscriber(&mut state, channel, client);
        }
        for (_, key) in c.pubs {
            self.release_publisher(&mut state, key);
        }
        tracing::info!(client, viewers = state.clients.len(), "viewer disconnected");
        drop(state);
        self.services_disconnect(client);
        self.params_disconnect(client);
        self.conngraph_disconnect(client);
        self.assets_disconnect(client);
    }

    /// Subscribe `client` to `channel`, calling the subscription `wire_id`.
    pub fn subscribe(
        &self,
        client: ClientId,
        wire_id: u64,
        channel: u64,
    ) -> Result<(), ClientError> {
        let mut state = self.state.lock();
        let Some(info) = state.channels.get(&channel).cloned() else {
            return Err(ClientError::UnknownChannel(channel));
        };
        let Some(c) = state.clients.get_mut(&client) else {
            return Ok(());
        };
        if c.subs.contains_key(&wire_id) {
            return Err(ClientError::SubscriptionIdInUse(wire_id));
        }
        if c.sub_by_channel.contains_key(&channel) {
            return Err(ClientError::AlreadySubscribed {
                channel,
                topic: info.topic.to_string(),
            });
        }
        c.subs.insert(wire_id, channel);
        c.sub_by_channel.insert(channel, wire_id);
        let outbox = c.outbox.clone();
        let subs = state.subs.entry(channel).or_default();
        let first = !subs.in_use();
        subs.subscribers.insert(client, wire_id);
        // Route first: the backend may deliver (e.g. transient-local history) as soon as it has
        // the command.
        self.update_route(&state, channel, Some((&outbox, wire_id)));
        if first {
            self.ros.send(RosCommand::Subscribe {
                key: channel,
                topic: info.topic.to_string(),
                type_name: info.type_name.clone(),
            });
        }
        Ok(())
    }

    /// End the subscription `wire_id` of `client`.
    pub fn unsubscribe(&self, client: ClientId, wire_id: u64) -> Result<(), ClientError> {
        let mut state = self.state.lock();
        let Some(c) = state.clients.get_mut(&client) else {
            return Ok(());
        };
        let Some(channel) = c.subs.remove(&wire_id) else {
            return Err(ClientError::UnknownSubscription(wire_id));
        };
        c.sub_by_channel.remove(&channel);
        c.outbox.purge_channel(channel);
        self.remove_subscriber(&mut state, channel, client);
        Ok(())
    }

    /// The channel a subscription of `client` refers to.
    pub fn channel_of_subscription(&self, client: ClientId, wire_id: u64) -> Option<u64> {
        self.state
            .lock()
            .clients
            .get(&client)?
            .subs
            .get(&wire_id)
            .copied()
    }

    /// Channels currently advertised.
    pub fn channels(&self) -> Vec<Arc<ChannelInfo>> {
        self.state.lock().channels.values().cloned().collect()
    }

    /// Number of viewers on this channel (all transports), for tests and metrics.
    pub fn subscriber_count(&self, channel: u64) -> usize {
        self.state
            .lock()
            .subs
            .get(&channel)
            .map_or(0, |s| s.subscribers.len())
    }

    /// Messages received from the backend, and those that arrived for no route.
    pub fn router_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.router.stats.received.load(Relaxed),
            self.router.stats.unrouted.load(Relaxed),
        )
    }

    /// Per viewer: (id, queued data messages, queued data bytes, data messages dropped so far).
    pub fn client_stats(&self) -> Vec<(ClientId, usize, usize, u64)> {
        let state = self.state.lock();
        let mut v: Vec<_> = state
            .clients
            .iter()
            .map(|(id, c)| {
                let (n, b) = c.outbox.queued();
                (*id, n, b, c.outbox.dropped_total())
            })
            .collect();
        v.sort();
        v
    }

    /// Close every viewer's outbox (shutdown).
    pub fn close_all(&self, why: &str) {
        let state = self.state.lock();
        for c in state.clients.values() {
            c.outbox.close(CloseReason::Requested(why.to_string()));
        }
        drop(state);
        self.router.clear();
    }

    fn remove_subscriber(&self, state: &mut State, channel: u64, client: ClientId) {
        let Some(subs) = state.subs.get_mut(&channel) else {
            return;
        };
        subs.subscribers.remove(&client);
        if !subs.in_use() {
            state.subs.remove(&channel);
            self.ros.send(RosCommand::Unsubscribe { key: channel });
        }
        self.update_route(state, channel, None);
    }

    /// Rebuild the fast-path route of a channel from the subscription state.
    fn update_route(&self, state: &State, channel: u64, replay_to: Option<(&Arc<Outbox>, u64)>) {
        let Some(info) = state.channels.get(&channel) else {
            self.router
                .set_route(channel, "".into(), Vec::new(), 0, None, None);
            return;
        };
        let subscribers: Vec<(Arc<Outbox>, u64)> = state
            .subs
            .get(&channel)
            .map(|s| {
                s.subscribers
                    .iter()
                    .filter_map(|(client, wire)| {
                        state.clients.get(client).map(|c| (c.outbox.clone(), *wire))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let depth = state.latch_depth.get(&channel).copied().unwrap_or(0);
        let tap = self.tap_for(state, info);
        self.router.set_route(
            channel,
            info.topic.clone(),
            subscribers,
            depth,
            replay_to,
            tap,
        );
    }

    fn broadcast(&self, state: &State, msg: Control) {
        for (id, c) in state.clients.iter() {
            if let Err(e) = c.outbox.push_control(msg.clone()) {
                tracing::warn!(client = id, reason = %e, "viewer control queue overflow");
            }
        }
    }
}

/// Give back a table's room once most of it is unused: tables sized for a crowd of viewers
/// (or an attack) shrink after they leave. Rehashing is amortised over the removals.
pub(crate) fn shrink_table<K, V>(map: &mut HashMap<K, V>)
where
    K: std::hash::Hash + Eq,
{
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}

/// A status control message.
pub fn status(level: StatusLevel, message: &str) -> Control {
    Control::Status {
        level,
        message: message.to_string(),
        id: None,
    }
}

const MISSING_STATUS_ID: &str = "missing-definitions";
/// Status id of the warnings about messages the ROS side lost before the gateway took them.
const ROS_DROPS_STATUS_ID: &str = "ros-dropped-messages";

/// How often deadlines of service calls and parameter requests are checked.
const DEADLINE_TICK: std::time::Duration = std::time::Duration::from_millis(50);

fn missing_status(missing: &BTreeMap<(String, String), String>) -> Option<Control> {
    if missing.is_empty() {
        return None;
    }
    let mut types: Vec<&str> = missing.keys().map(|(_, t)| t.as_str()).collect();
    types.dedup();
    let topics: Vec<&str> = missing.keys().map(|(t, _)| t.as_str()).collect();
    Some(Control::Status {
        level: StatusLevel::Warning,
        message: format!(
            "{} topic(s) not shown because their message definitions are not on \
             AMENT_PREFIX_PATH ({}): {}",
            topics.len(),
            types.join(", "),
            topics.join(", ")
        ),
        id: Some(MISSING_STATUS_ID.to_string()),
    })
}

fn build_server_info(config: &Config) -> ServerInfo {
    let mut capabilities: Vec<String> = config
        .capabilities
        .iter()
        .filter(|c| IMPLEMENTED_CAPABILITIES.contains(&c.as_str()))
        .cloned()
        .collect();
    if config.use_sim_time {
        capabilities.push("time".into());
    }
    let distro = std::env::var("ROS_DISTRO").unwrap_or_else(|_| "jazzy".into());
    let session_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        .to_string();
    ServerInfo {
        name: "foxglove_gateway".into(),
        capabilities,
        supported_encodings: vec!["cdr".into(), "json".into()],
        data_start_time: None,
        data_end_time: None,
        metadata: [
            ("ROS_DISTRO".to_string(), distro),
            (
                "fg-library".to_string(),
                format!("foxglove_gateway/{}", env!("CARGO_PKG_VERSION")),
            ),
        ]
        .into(),
        session_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::{GraphSnapshot, PublisherInfo, Qos, TopicInfo};

    /// A hub with one advertised channel, `/chatter`, and two viewers; the first subscribed.
    fn hub_with_a_subscriber() -> (Arc<Hub>, u64, Arc<Outbox>, Arc<Outbox>) {
        let schemas = Arc::new(SchemaStore::new(Vec::new()));
        schemas.insert_resolved(Arc::new(
            crate::schema::parse_ros2msg("std_msgs/msg/String", "string data\n").unwrap(),
        ));
        let (hub, _io, _events) = Hub::new(Arc::new(Config::default()), schemas);
        hub.handle_event(RosEvent::Graph(GraphSnapshot {
            topics: vec![TopicInfo {
                name: "/chatter".into(),
                type_name: "std_msgs/msg/String".into(),
                publishers: vec![PublisherInfo {
                    node: "/talker".into(),
                    qos: Qos::default(),
                }],
            }],
            ..GraphSnapshot::default()
        }));
        let channel = *hub.state.lock().channels.keys().next().expect("advertised");
        let outbox = || {
            Arc::new(Outbox::new(Limits {
                control_messages: 100,
                data_messages: 10,
                data_bytes: 1 << 20,
            }))
        };
        let (sub, other) = (outbox(), outbox());
        let client = hub.connect(sub.clone());
        hub.connect(other.clone());
        hub.subscribe(client, 7, channel).unwrap();
        (hub, channel, sub, other)
    }

    fn statuses(outbox: &Outbox) -> Vec<(StatusLevel, String, Option<String>)> {
        let mut out = Vec::new();
        let _ = outbox.pop_batch(&mut out, 1000, usize::MAX);
        out.into_iter()
            .filter_map(|o| match o {
                Outgoing::Control(Control::Status { level, message, id }) => {
                    Some((level, message, id))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ros_side_losses_reach_the_topics_viewers() {
        let (hub, channel, sub, other) = hub_with_a_subscriber();
        statuses(&sub);
        statuses(&other);
        hub.handle_event(RosEvent::MessagesLost {
            key: channel,
            count: 12,
            reason: "gaps".into(),
        });
        hub.handle_event(RosEvent::ReaderFull {
            key: channel,
            times: 3,
            depth: 10,
        });
        let got = statuses(&sub);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got
            .iter()
            .all(|(l, _, id)| *l == StatusLevel::Warning
                && id.as_deref() == Some(ROS_DROPS_STATUS_ID)));
        assert_eq!(
            got[0].1,
            "12 message(s) on /chatter were lost on the ROS side, before the gateway: gaps"
        );
        assert_eq!(
            got[1].1,
            "The gateway's ROS reader of /chatter (history depth 10) was found full 3 time(s): \
             the middleware may have overwritten messages before the gateway took them, and it \
             does not say how many. The gateway was short of CPU; a larger min_qos_depth (with \
             max_qos_depth) gives it more slack"
        );
        assert!(statuses(&other).is_empty(), "only the topic's viewers");
    }
}
