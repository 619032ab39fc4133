//! Parameters: get, set, unset and subscribe, over a cache the whole hub shares.
//!
//! Parameter names on the wire are `/node.param`. The cache holds every node's values once
//! fetched; `/parameter_events` keeps it current while a viewer is connected, so a `getParameters`
//! (the Foxglove app sends one for everything every 15 s per viewer) asks a node again only when
//! its values are older than [`REFRESH`], and never more than once at a time. That is the
//! gentleness foxglove_bridge lacked (ros2/rclpy#1640: its polling drove rclpy nodes out of
//! memory).
//!
//! - Per node one request at a time, at most [`MAX_NODE_REQUESTS`] nodes asked at once, each
//!   with the `service_call_timeout_ms` deadline.
//! - A node that does not answer is retried with exponential backoff; until then (with
//!   `ignore_unresponsive_param_nodes`) requests are answered from the cache without waiting.
//! - Nothing here blocks: topic data never waits on a parameter request.
//! - `param_whitelist` applies to the full `/node.param` name, in and out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::outbox::ControlKind;
use super::{status, ClientError, ClientId, Control, Hub, Outbox};
use crate::protocol::client::ParameterIn;
use crate::protocol::server::{GraphMessage, ParameterOut, StatusLevel};
use crate::ros::{GraphSnapshot, ParamRequestKey, ParamValue, RosCommand};

mod value;

pub use value::{from_wire, to_wire, ValueError};

/// How old a node's cached values may be before a get asks the node again.
pub const REFRESH: Duration = Duration::from_secs(120);
/// Nodes asked at once (gets; sets are sent at once, they are a viewer's explicit action).
pub const MAX_NODE_REQUESTS: usize = 4;
/// Parameter requests one viewer may have waiting, counting answers it has not read yet.
pub const MAX_REQUESTS_PER_VIEWER: usize = 32;
/// Longest parameter name accepted in a subscription or request (`/node.param`); real ones are
/// far shorter.
pub const MAX_NAME_BYTES: usize = 512;
/// First retry delay for a node that did not answer; doubles per failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Default)]
struct NodeState {
    values: BTreeMap<String, ParamValue>,
    fetched: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    /// Queued or in flight.
    fetching: bool,
}

enum Kind {
    Get,
    Set {
        client: ClientId,
        values: Vec<(String, Option<ParamValue>)>,
    },
}

struct InFlight {
    node: String,
    deadline: Instant,
    kind: Kind,
}

struct ViewerRequest {
    client: ClientId,
    id: Option<String>,
    /// Full names asked for; `None` = all.
    names: Option<BTreeSet<String>>,
    /// Nodes still being fetched (gets).
    nodes: BTreeSet<String>,
    /// Set requests still unanswered.
    keys: BTreeSet<ParamRequestKey>,
}

struct ParamClient {
    outbox: Arc<Outbox>,
    subscribed: BTreeSet<String>,
}

/// Parameter state of the hub, behind its own lock (never taken while the core state is held).
#[derive(Default)]
pub(super) struct Params {
    nodes: BTreeMap<String, NodeState>,
    queue: VecDeque<String>,
    in_flight: HashMap<ParamRequestKey, InFlight>,
    requests: Vec<ViewerRequest>,
    clients: HashMap<ClientId, ParamClient>,
    next_key: ParamRequestKey,
}

/// Split `/node.param` at the first dot (node names cannot contain one).
pub fn split_name(full: &str) -> Option<(&str, &str)> {
    let (node, param) = full.split_once('.')?;
    (node.starts_with('/') && node.len() > 1 && !param.is_empty()).then_some((node, param))
}

fn values_message(parameters: Vec<ParameterOut>, id: Option<String>) -> Control {
    Control::Text(GraphMessage::ParameterValues { parameters, id }.to_json())
}

impl Params {
    /// An answer to a viewer's request (counted while queued, see [`Params::busy`]).
    fn send(&self, client: ClientId, msg: Control) {
        if let Some(c) = self.clients.get(&client) {
            let _ = c.outbox.push_reply(msg, ControlKind::ParameterReply);
        }
    }

    /// True if `client` has [`MAX_REQUESTS_PER_VIEWER`] requests waiting or answered unread.
    fn busy(&self, client: ClientId) -> bool {
        let unread = self
            .clients
            .get(&client)
            .map_or(0, |c| c.outbox.queued_control(ControlKind::ParameterReply));
        let waiting = self.requests.iter().filter(|r| r.client == client).count();
        waiting + unread >= MAX_REQUESTS_PER_VIEWER
    }

    fn lookup(&self, full: &str) -> Option<&ParamValue> {
        let (node, param) = split_name(full)?;
        self.nodes.get(node)?.values.get(param)
    }

    /// Every cached parameter as `(full name, value)`.
    fn all(&self) -> impl Iterator<Item = (String, &ParamValue)> {
        self.nodes
            .iter()
            .flat_map(|(n, s)| s.values.iter().map(move |(p, v)| (format!("{n}.{p}"), v)))
    }

    /// Tell subscribed viewers about changed parameters.
    fn notify(&self, changes: &[(String, Option<ParamValue>)]) {
        for c in self.clients.values() {
            let out: Vec<ParameterOut> = changes
                .iter()
                .filter(|(n, _)| c.subscribed.contains(n))
                .map(|(n, v)| to_wire(n.clone(), v.as_ref()))
                .collect();
            if !out.is_empty() {
                let _ = c.outbox.push_control(values_message(out, None));
            }
        }
    }

    /// Apply values of `node` to the cache; returns what changed (full names).
    fn apply(
        &mut self,
        node: &str,
        changes: impl IntoIterator<Item = (String, Option<ParamValue>)>,
    ) -> Vec<(String, Option<ParamValue>)> {
        let Some(ns) = self.nodes.get_mut(node) else {
            return Vec::new();
        };
        let mut changed = Vec::new();
        for (param, v) in changes {
            let old = match &v {
                Some(v) => ns.values.insert(param.clone(), v.clone()),
                None => ns.values.remove(&param),
            };
            if old != v {
                changed.push((format!("{node}.{param}"), v));
            }
        }
        changed
    }
}

impl Hub {
    /// Register a viewer for parameters; the first one turns on `/parameter_events`.
    pub(super) fn params_connect(&self, client: ClientId, outbox: &Arc<Outbox>) {
        if !self.offers("parameters") {
            return;
        }
        let mut p = self.params.lock();
        if p.clients.is_empty() {
            self.ros
                .send(RosCommand::WatchParameterEvents { enabled: true });
        }
        p.clients.insert(
            client,
            ParamClient {
                outbox: outbox.clone(),
                subscribed: BTreeSet::new(),
            },
        );
    }

    /// Forget a viewer; the last one turns off `/parameter_events`.
    pub(super) fn params_disconnect(&self, client: ClientId) {
        let mut p = self.params.lock();
        let removed = p.clients.remove(&client).is_some();
        super::shrink_table(&mut p.clients);
        if removed && p.clients.is_empty() {
            self.ros
                .send(RosCommand::WatchParameterEvents { enabled: false });
            // Without events the cache can go stale: the next viewer's get asks again.
            for ns in p.nodes.values_mut() {
                ns.fetched = None;
            }
        }
        p.requests.retain(|r| r.client != client);
    }

    /// Follow the graph's node list: nodes that left are forgotten.
    pub(super) fn apply_params_graph(&self, snapshot: &GraphSnapshot) {
        if !self.offers("parameters") {
            return;
        }
        let mut p = self.params.lock();
        let wanted: BTreeSet<&str> = snapshot.nodes.iter().map(String::as_str).collect();
        p.nodes.retain(|n, _| wanted.contains(n.as_str()));
        p.queue.retain(|n| wanted.contains(n.as_str()));
        for n in wanted {
            p.nodes.entry(n.to_string()).or_default();
        }
        let gone: Vec<String> = p
            .requests
            .iter()
            .flat_map(|r| r.nodes.iter())
            .filter(|n| !p.nodes.contains_key(*n))
            .cloned()
            .collect();
        for n in gone {
            self.node_done(&mut p, &n);
        }
    }

    /// `getParameters`: answered from the cache once the nodes that need asking have answered
    /// (or timed out, or are being skipped).
    pub fn get_parameters(
        &self,
        client: ClientId,
        names: Vec<String>,
        id: Option<String>,
    ) -> Result<(), ClientError> {
        if !self.offers("parameters") {
            return Err(ClientError::Unsupported("parameters"));
        }
        let mut p = self.params.lock();
        if p.busy(client) {
            return Err(ClientError::TooManyParameterRequests);
        }
        check_names(&names, self.config.max_parameter_subscriptions)?;
        let now = Instant::now();
        let names: Option<BTreeSet<String>> = (!names.is_empty()).then(|| {
            names
                .into_iter()
                .filter(|n| self.config.param_whitelist.matches(n))
                .collect()
        });
        let targets: Vec<String> = match &names {
            None => p.nodes.keys().cloned().collect(),
            Some(n) => n
                .iter()
                .filter_map(|n| split_name(n).map(|(node, _)| node.to_string()))
                .filter(|n| p.nodes.contains_key(n))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let skip_unresponsive = self.config.ignore_unresponsive_param_nodes;
        let mut waiting = BTreeSet::new();
        for node in targets {
            let Some(ns) = p.nodes.get_mut(&node) else {
                continue;
            };
            let fresh = ns.fetched.is_some_and(|t| now.duration_since(t) < REFRESH);
            let skipped = skip_unresponsive && ns.retry_at.is_some_and(|t| t > now);
            if fresh || skipped {
                continue;
            }
            if !ns.fetching {
                ns.fetching = true;
                p.queue.push_back(node.clone());
            }
            waiting.insert(node);
        }
        let request = ViewerRequest {
            client,
            id,
            names,
            nodes: waiting,
            keys: BTreeSet::new(),
        };
        if request.nodes.is_empty() {
            self.answer(&p, request);
        } else {
            p.requests.push(request);
            self.pump(&mut p, now);
        }
        Ok(())
    }

    /// `setParameters`: sent to each node at once; applied values update the cache and the
    /// subscribers, refusals come back as statuses, and a request with an `id` is answered with
    /// the resulting values.
    pub fn set_parameters(
        &self,
        client: ClientId,
        params: Vec<ParameterIn>,
        id: Option<String>,
    ) -> Vec<ClientError> {
        if !self.offers("parameters") {
            return vec![ClientError::Unsupported("parameters")];
        }
        let mut p = self.params.lock();
        if p.busy(client) {
            return vec![ClientError::TooManyParameterRequests];
        }
        let mut errors = Vec::new();
        let mut by_node: BTreeMap<String, Vec<(String, Option<ParamValue>)>> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for param in params {
            let bad = |reason: String| ClientError::BadParameter {
                name: param.name.clone(),
                reason,
            };
            let Some((node, short)) = split_name(&param.name) else {
                errors.push(bad("expected a name of the form /node.parameter".into()));
                continue;
            };
            if !self.config.param_whitelist.matches(&param.name) {
                errors.push(bad("not allowed by param_whitelist".into()));
                continue;
            }
            if !p.nodes.contains_key(node) {
                errors.push(bad(format!("node {node} is not in the ROS graph")));
                continue;
            }
            let value = match &param.value {
                None => None,
                Some(v) => {
                    let current = p.lookup(&param.name);
                    match from_wire(v, param.type_hint.as_deref(), current) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            errors.push(bad(e.to_string()));
                            continue;
                        }
                    }
                }
            };
            names.insert(param.name.clone());
            by_node
                .entry(node.to_string())
                .or_default()
                .push((short.to_string(), value));
        }
        let deadline = Instant::now() + self.config.service_call_timeout;
        let mut keys = BTreeSet::new();
        for (node, values) in by_node {
            p.next_key += 1;
            let key = p.next_key;
            keys.insert(key);
            p.in_flight.insert(
                key,
                InFlight {
                    node: node.clone(),
                    deadline,
                    kind: Kind::Set {
                        client,
                        values: values.clone(),
                    },
                },
            );
            self.ros.send(RosCommand::SetParameters {
                request: key,
                node,
                parameters: values,
            });
        }
        let request = ViewerRequest {
            client,
            id,
            names: Some(names),
            nodes: BTreeSet::new(),
            keys,
        };
        if request.keys.is_empty() {
            if request.id.is_some() {
                self.answer(&p, request);
            }
        } else {
            p.requests.push(request);
        }
        errors
    }

    /// `subscribeParameterUpdates`; an empty list means every parameter known now. A viewer
    /// holds at most `max_parameter_subscriptions` names, each at most [`MAX_NAME_BYTES`]; the
    /// rest are refused (and the viewer told how many).
    pub fn subscribe_parameters(
        &self,
        client: ClientId,
        names: Vec<String>,
    ) -> Result<(), ClientError> {
        if !self.offers("parametersSubscribe") {
            return Err(ClientError::Unsupported("parametersSubscribe"));
        }
        let mut p = self.params.lock();
        let names: Vec<String> = if names.is_empty() {
            p.all().map(|(n, _)| n).collect()
        } else {
            names
        };
        let limit = self.config.max_parameter_subscriptions;
        let (mut too_long, mut refused) = (0, 0);
        let whitelist = &self.config.param_whitelist;
        if let Some(c) = p.clients.get_mut(&client) {
            for name in names {
                if name.len() > MAX_NAME_BYTES {
                    too_long += 1;
                    continue;
                }
                if c.subscribed.contains(&name) {
                    continue;
                }
                // Counted before the (costlier) whitelist: a flood of names stops here.
                if c.subscribed.len() >= limit {
                    refused += 1;
                    continue;
                }
                if whitelist.matches(&name) {
                    c.subscribed.insert(name);
                }
            }
        }
        if refused > 0 {
            tracing::info!(
                client,
                refused,
                limit,
                "parameter subscriptions refused (max_parameter_subscriptions)"
            );
            return Err(ClientError::TooManyParameterSubscriptions {
                refused: refused + too_long,
                limit,
            });
        }
        if too_long > 0 {
            return Err(ClientError::ParameterNameTooLong {
                count: too_long,
                limit: MAX_NAME_BYTES,
            });
        }
        Ok(())
    }

    /// Parameter names `client` is subscribed to (for tests and metrics).
    pub fn parameter_subscriptions(&self, client: ClientId) -> usize {
        self.params
            .lock()
            .clients
            .get(&client)
            .map_or(0, |c| c.subscribed.len())
    }

    /// `unsubscribeParameterUpdates`; an empty list means all.
    pub fn unsubscribe_parameters(
        &self,
        client: ClientId,
        names: Vec<String>,
    ) -> Result<(), ClientError> {
        if !self.offers("parametersSubscribe") {
            return Err(ClientError::Unsupported("parametersSubscribe"));
        }
        let mut p = self.params.lock();
        if let Some(c) = p.clients.get_mut(&client) {
            if names.is_empty() {
                c.subscribed.clear();
            } else {
                for n in &names {
                    c.subscribed.remove(n);
                }
            }
        }
        Ok(())
    }

    /// The backend's answer to a get.
    pub(super) fn parameters_fetched(
        &self,
        key: ParamRequestKey,
        node: &str,
        result: Result<Vec<(String, ParamValue)>, String>,
    ) {
        let mut p = self.params.lock();
        if p.in_flight.remove(&key).is_none() {
            return; // Timed out already.
        }
        let now = Instant::now();
        match result {
            Ok(values) => {
                let fresh: BTreeMap<String, ParamValue> = values.into_iter().collect();
                let mut changes: Vec<(String, Option<ParamValue>)> = Vec::new();
                if let Some(ns) = p.nodes.get(node) {
                    changes.extend(
                        ns.values
                            .keys()
                            .filter(|k| !fresh.contains_key(*k))
                            .map(|k| (k.clone(), None)),
                    );
                }
                changes.extend(fresh.into_iter().map(|(k, v)| (k, Some(v))));
                let changed = p.apply(node, changes);
                if let Some(ns) = p.nodes.get_mut(node) {
                    ns.fetched = Some(now);
                    ns.failures = 0;
                    ns.retry_at = None;
                    ns.fetching = false;
                }
                p.notify(&changed);
            }
            Err(reason) => self.node_failed(&mut p, node, &reason, now),
        }
        self.node_done(&mut p, node);
        self.pump(&mut p, now);
    }

    /// The backend's answer to a set.
    pub(super) fn parameters_set(
        &self,
        key: ParamRequestKey,
        node: &str,
        result: Result<Vec<(String, Option<String>)>, String>,
    ) {
        let mut p = self.params.lock();
        let Some(InFlight {
            kind: Kind::Set { client, values },
            ..
        }) = p.in_flight.remove(&key)
        else {
            return;
        };
        match result {
            Ok(results) => {
                let sent: HashMap<String, Option<ParamValue>> = values.into_iter().collect();
                let mut applied = Vec::new();
                for (name, refusal) in results {
                    match refusal {
                        None => {
                            if let Some(v) = sent.get(&name) {
                                applied.push((name, v.clone()));
                            }
                        }
                        Some(reason) => p.send(
                            client,
                            status(
                                StatusLevel::Warning,
                                &format!("Could not set {node}.{name}: {reason}"),
                            ),
                        ),
                    }
                }
                let changed = p.apply(node, applied);
                p.notify(&changed);
            }
            Err(reason) => p.send(
                client,
                status(
                    StatusLevel::Error,
                    &format!("Could not set parameters of {node}: {reason}"),
                ),
            ),
        }
        self.key_done(&mut p, key);
    }

    /// A `/parameter_events` message.
    pub(super) fn parameter_event(&self, node: &str, changed: Vec<(String, Option<ParamValue>)>) {
        let mut p = self.params.lock();
        let changed = p.apply(node, changed);
        p.notify(&changed);
    }

    /// Give up on parameter requests past their deadline.
    pub(super) fn expire_parameter_requests(&self, now: Instant) {
        let mut p = self.params.lock();
        if p.in_flight.is_empty() {
            return;
        }
        let expired: Vec<ParamRequestKey> = p
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        let ms = self.config.service_call_timeout.as_millis();
        for key in expired {
            let Some(f) = p.in_flight.remove(&key) else {
                continue;
            };
            let why = format!("no answer within {ms} ms");
            self.node_failed(&mut p, &f.node, &why, now);
            match f.kind {
                Kind::Get => self.node_done(&mut p, &f.node),
                Kind::Set { client, .. } => {
                    p.send(
                        client,
                        status(
                            StatusLevel::Error,
                            &format!(
                                "Could not set parameters of {}: the node did not answer \
                                 within {ms} ms",
                                f.node
                            ),
                        ),
                    );
                    self.key_done(&mut p, key);
                }
            }
        }
        self.pump(&mut p, now);
    }

    /// Parameter requests to nodes in flight, for tests and metrics.
    pub fn parameter_requests_in_flight(&self) -> usize {
        self.params.lock().in_flight.len()
    }

    fn node_failed(&self, p: &mut Params, node: &str, reason: &str, now: Instant) {
        let Some(ns) = p.nodes.get_mut(node) else {
            return;
        };
        ns.fetching = false;
        ns.failures = ns.failures.saturating_add(1);
        let delay = backoff(ns.failures);
        ns.retry_at = Some(now + delay);
        if ns.failures == 1 {
            tracing::warn!(%node, %reason, retry_in = ?delay,
                "parameter node did not answer; skipping it for a while");
        } else {
            tracing::debug!(%node, %reason, failures = ns.failures, "parameter node still silent");
        }
    }

    /// Send queued node fetches while there is room.
    fn pump(&self, p: &mut Params, now: Instant) {
        let mut gets = p
            .in_flight
            .values()
            .filter(|f| matches!(f.kind, Kind::Get))
            .count();
        while gets < MAX_NODE_REQUESTS {
            let Some(node) = p.queue.pop_front() else {
                break;
            };
            if !p.nodes.contains_key(&node) {
                continue;
            }
            p.next_key += 1;
            let key = p.next_key;
            p.in_flight.insert(
                key,
                InFlight {
                    node: node.clone(),
                    deadline: now + self.config.service_call_timeout,
                    kind: Kind::Get,
                },
            );
            self.ros.send(RosCommand::GetParameters {
                request: key,
                node,
                names: Vec::new(),
            });
            gets += 1;
        }
    }

    fn node_done(&self, p: &mut Params, node: &str) {
        let mut done = Vec::new();
        p.requests.retain_mut(|r| {
            r.nodes.remove(node);
            let finished = r.nodes.is_empty() && r.keys.is_empty();
            if finished {
                done.push(std::mem::replace(r, placeholder()));
            }
            !finished
        });
        for r in done {
            self.answer(p, r);
        }
    }

    fn key_done(&self, p: &mut Params, key: ParamRequestKey) {
        let mut done = Vec::new();
        p.requests.retain_mut(|r| {
            if !r.keys.remove(&key) {
                return true;
            }
            let finished = r.nodes.is_empty() && r.keys.is_empty();
            if finished {
                done.push(std::mem::replace(r, placeholder()));
            }
            !finished
        });
        for r in done {
            if r.id.is_some() {
                self.answer(p, r);
            }
        }
    }

    fn answer(&self, p: &Params, r: ViewerRequest) {
        let whitelist = &self.config.param_whitelist;
        let out: Vec<ParameterOut> = match &r.names {
            None => p
                .all()
                .filter(|(n, _)| whitelist.matches(n))
                .map(|(n, v)| to_wire(n, Some(v)))
                .collect(),
            Some(names) => names
                .iter()
                .filter_map(|n| p.lookup(n).map(|v| to_wire(n.clone(), Some(v))))
                .collect(),
        };
        p.send(r.client, values_message(out, r.id));
    }
}

/// The names of a `getParameters`: at most `limit` (the subscription limit: a request cannot
/// hold more names than a subscription), each at most [`MAX_NAME_BYTES`]. They are held while
/// the request waits for nodes.
fn check_names(names: &[String], limit: usize) -> Result<(), ClientError> {
    if names.len() > limit {
        return Err(ClientError::TooManyParameterSubscriptions {
            refused: names.len(),
            limit,
        });
    }
    let too_long = names.iter().filter(|n| n.len() > MAX_NAME_BYTES).count();
    if too_long > 0 {
        return Err(ClientError::ParameterNameTooLong {
            count: too_long,
            limit: MAX_NAME_BYTES,
        });
    }
    Ok(())
}

/// How long to skip a node after its `failures`-th failure in a row (≥ 1).
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_MAX)
}

fn placeholder() -> ViewerRequest {
    ViewerRequest {
        client: 0,
        id: None,
        names: None,
        nodes: BTreeSet::new(),
        keys: BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), BACKOFF_BASE);
        assert_eq!(backoff(2), BACKOFF_BASE * 2);
        assert_eq!(backoff(3), BACKOFF_BASE * 4);
        assert_eq!(backoff(7), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn answers_not_yet_read_count_against_the_request_limit() {
        let schemas = Arc::new(crate::schema::SchemaStore::new(vec![]));
        let (hub, _io, _events) = Hub::new(Arc::new(crate::config::Config::default()), schemas);
        let outbox = Arc::new(Outbox::new(crate::hub::Limits {
            control_messages: 1000,
            data_messages: 10,
            data_bytes: 1000,
        }));
        let client = hub.connect(outbox.clone());
        // Answered at once from the (empty) cache, and never read.
        for i in 0..MAX_REQUESTS_PER_VIEWER {
            hub.get_parameters(client, Vec::new(), Some(i.to_string()))
                .unwrap();
        }
        assert_eq!(
            hub.get_parameters(client, Vec::new(), None),
            Err(ClientError::TooManyParameterRequests)
        );
        assert!(hub
            .set_parameters(client, Vec::new(), None)
            .contains(&ClientError::TooManyParameterRequests));
        // Read: room again.
        let mut out = Vec::new();
        outbox.pop_batch(&mut out, 1000, 1000).unwrap();
        hub.get_parameters(client, Vec::new(), None).unwrap();
        // Too many names in one request.
        let names: Vec<String> = (0..10_001).map(|i| format!("/n.p{i}")).collect();
        assert!(matches!(
            hub.get_parameters(client, names, None),
            Err(ClientError::TooManyParameterSubscriptions { .. })
        ));
    }

    #[test]
    fn names_split_at_the_first_dot() {
        assert_eq!(
            split_name("/robot.max_speed"),
            Some(("/robot", "max_speed"))
        );
        assert_eq!(split_name("/ns/robot.a.b"), Some(("/ns/robot", "a.b")));
        assert_eq!(split_name("robot.a"), None);
        assert_eq!(split_name("/robot"), None);
        assert_eq!(split_name("/robot."), None);
        assert_eq!(split_name("/.a"), None);
    }
}
