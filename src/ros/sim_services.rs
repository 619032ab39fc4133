//! Simulated service servers, subscribers and parameter nodes for [`SimGraph`].
//!
//! They behave like their ROS counterparts where the core can tell: services and subscribers
//! appear in the graph with their nodes, a call is answered (or not) by the server's handler, a
//! parameter node answers get/set requests and publishes `/parameter_events` for every change,
//! and a node made unresponsive never answers at all (as an rclpy node without a spinning
//! executor does).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::sim::{send_event, SimGraph};
use super::{GraphSnapshot, ParamValue, RosCommand, RosEvent, ServiceInfo, TopicSubscribers};

/// Calls a simulated graph remembers for [`SimGraph::service_calls`]; older ones are forgotten.
pub const CALLS_KEPT: usize = 1024;

/// What a simulated service server does with one request.
#[derive(Debug, Clone)]
pub enum SimReply {
    /// Answer at once.
    Respond(Value),
    /// Answer after a delay.
    After(Duration, Value),
    /// Report a failure (as the live backend does when the call itself fails).
    Fail(String),
    /// Never answer.
    Never,
}

/// The handler of a simulated service: request JSON in, reply out.
pub type SimHandler = Arc<dyn Fn(&Value) -> SimReply + Send + Sync>;

struct SimServiceEntry {
    name: String,
    type_name: String,
    node: String,
    handler: SimHandler,
}

#[derive(Default)]
struct SimParamNode {
    values: BTreeMap<String, ParamValue>,
    responsive: bool,
    read_only: BTreeSet<String>,
    /// Get and set requests received (answered or not).
    requests: u64,
}

/// The simulated graph's services, subscribers and parameter nodes.
#[derive(Default)]
pub(super) struct Extra {
    services: BTreeMap<u64, SimServiceEntry>,
    subscribers: BTreeMap<u64, (String, String)>,
    param_nodes: BTreeMap<String, SimParamNode>,
    next_id: u64,
    watching_params: bool,
    /// The last [`CALLS_KEPT`] calls received, in order (service name, request), for tests.
    calls: std::collections::VecDeque<(String, Value)>,
    /// Services the gateway offers on its own node ([`RosCommand::ProvideService`]): name → type.
    provided: BTreeMap<String, String>,
    /// Peer requests to those services waiting for the gateway's answer.
    peer_requests: BTreeMap<u64, tokio::sync::oneshot::Sender<Result<Value, String>>>,
    next_request: u64,
}

impl Extra {
    /// Add services, subscriptions and nodes to a snapshot whose topics are filled in.
    pub(super) fn fill_snapshot(&self, snap: &mut GraphSnapshot) {
        let mut services: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for s in self.services.values() {
            services
                .entry((s.name.clone(), s.type_name.clone()))
                .or_default()
                .insert(s.node.clone());
        }
        for (name, type_name) in &self.provided {
            services
                .entry((name.clone(), type_name.clone()))
                .or_default()
                .insert(super::sim::GATEWAY_NODE.to_string());
        }
        snap.services = services
            .into_iter()
            .map(|((name, type_name), nodes)| ServiceInfo {
                name,
                type_name,
                providers: nodes.into_iter().collect(),
            })
            .collect();
        let mut subs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (topic, node) in self.subscribers.values() {
            subs.entry(topic.clone()).or_default().insert(node.clone());
        }
        snap.subscriptions = subs
            .into_iter()
            .map(|(topic, nodes)| TopicSubscribers {
                topic,
                nodes: nodes.into_iter().collect(),
            })
            .collect();
        let mut nodes: BTreeSet<String> = self.param_nodes.keys().cloned().collect();
        nodes.extend(self.services.values().map(|s| s.node.clone()));
        nodes.extend(self.subscribers.values().map(|(_, n)| n.clone()));
        for t in &snap.topics {
            nodes.extend(t.publishers.iter().map(|p| p.node.clone()));
        }
        snap.nodes = nodes.into_iter().collect();
    }
}

/// A simulated service server; leaves the graph when dropped (calls in flight then never get an
/// answer, as when a ROS node dies).
pub struct SimService {
    graph: SimGraph,
    id: u64,
}

/// A simulated (non-gateway) subscriber; leaves the graph when dropped.
pub struct SimSubscriber {
    graph: SimGraph,
    id: u64,
}

impl SimGraph {
    /// Add a service server on `node`.
    pub fn add_service(
        &self,
        name: &str,
        type_name: &str,
        node: &str,
        handler: impl Fn(&Value) -> SimReply + Send + Sync + 'static,
    ) -> SimService {
        let id = {
            let mut s = self.state.lock();
            s.extra.next_id += 1;
            let id = s.extra.next_id;
            s.extra.services.insert(
                id,
                SimServiceEntry {
                    name: name.to_string(),
                    type_name: type_name.to_string(),
                    node: node.to_string(),
                    handler: Arc::new(handler),
                },
            );
            id
        };
        self.graph_changed();
        SimService {
            graph: self.clone(),
            id,
        }
    }

    /// Add a subscriber on `topic` (it shows in the connection graph).
    pub fn add_subscriber(&self, topic: &str, node: &str) -> SimSubscriber {
        let id = {
            let mut s = self.state.lock();
            s.extra.next_id += 1;
            let id = s.extra.next_id;
            s.extra
                .subscribers
                .insert(id, (topic.to_string(), node.to_string()));
            id
        };
        self.graph_changed();
        SimSubscriber {
            graph: self.clone(),
            id,
        }
    }

    /// Add (or replace) a node with parameters. An unresponsive node is in the graph but never
    /// answers parameter requests.
    pub fn add_param_node(&self, node: &str, params: &[(&str, ParamValue)], responsive: bool) {
        {
            let mut s = self.state.lock();
            s.extra.param_nodes.insert(
                node.to_string(),
                SimParamNode {
                    values: params
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.clone()))
                        .collect(),
                    responsive,
                    ..SimParamNode::default()
                },
            );
        }
        self.graph_changed();
    }

    /// Make a parameter refuse to be set (as a read-only parameter does).
    pub fn set_param_read_only(&self, node: &str, name: &str) {
        if let Some(n) = self.state.lock().extra.param_nodes.get_mut(node) {
            n.read_only.insert(name.to_string());
        }
    }

    /// Remove a parameter node from the graph.
    pub fn remove_param_node(&self, node: &str) {
        self.state.lock().extra.param_nodes.remove(node);
        self.graph_changed();
    }

    /// Change a parameter from the ROS side (as `ros2 param set` would): the node publishes a
    /// parameter event if the gateway listens.
    pub fn set_param(&self, node: &str, name: &str, value: Option<ParamValue>) {
        let s = &mut *self.state.lock();
        let Some(n) = s.extra.param_nodes.get_mut(node) else {
            return;
        };
        match &value {
            Some(v) => n.values.insert(name.to_string(), v.clone()),
            None => n.values.remove(name),
        };
        if s.extra.watching_params {
            send_event(
                s,
                RosEvent::ParameterEvent {
                    node: node.to_string(),
                    changed: vec![(name.to_string(), value)],
                },
            );
        }
    }

    /// A parameter's current value on a simulated node.
    pub fn param(&self, node: &str, name: &str) -> Option<ParamValue> {
        self.state
            .lock()
            .extra
            .param_nodes
            .get(node)?
            .values
            .get(name)
            .cloned()
    }

    /// Parameter requests `node` has received so far (answered or not).
    pub fn param_requests(&self, node: &str) -> u64 {
        self.state
            .lock()
            .extra
            .param_nodes
            .get(node)
            .map_or(0, |n| n.requests)
    }

    /// Whether the gateway listens to `/parameter_events`.
    pub fn watching_param_events(&self) -> bool {
        self.state.lock().extra.watching_params
    }

    /// The last [`CALLS_KEPT`] service requests received: (service, request JSON).
    pub fn service_calls(&self) -> Vec<(String, Value)> {
        self.state.lock().extra.calls.iter().cloned().collect()
    }

    /// Call a service the gateway offers on its own node, as a ROS peer would (`ros2 service
    /// call`). The receiver gets the gateway's answer; `Err` at once if the gateway does not
    /// offer `service`.
    pub fn call_gateway_service(
        &self,
        service: &str,
        body: Value,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Value, String>>, String> {
        let s = &mut *self.state.lock();
        if !s.extra.provided.contains_key(service) {
            return Err(format!("service {service} is not available"));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        s.extra.next_request += 1;
        let request = s.extra.next_request;
        s.extra.peer_requests.insert(request, tx);
        send_event(
            s,
            RosEvent::ServiceRequest {
                request,
                service: service.to_string(),
                body,
            },
        );
        Ok(rx)
    }

    /// Services the gateway offers on its own node: (name, type).
    pub fn gateway_services(&self) -> Vec<(String, String)> {
        let s = self.state.lock();
        s.extra
            .provided
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect()
    }

    pub(super) fn apply_extra(&self, cmd: RosCommand) {
        match cmd {
            RosCommand::ProvideService { service, type_name } => {
                self.state.lock().extra.provided.insert(service, type_name);
                self.graph_changed();
            }
            RosCommand::AnswerService { request, response } => {
                let tx = self.state.lock().extra.peer_requests.remove(&request);
                if let Some(tx) = tx {
                    let _ = tx.send(response);
                }
            }
            RosCommand::CallService {
                call,
                service,
                type_name,
                request,
            } => self.call(call, &service, &type_name, request),
            RosCommand::CancelCall { .. } => {}
            RosCommand::GetParameters {
                request,
                node,
                names,
            } => {
                let s = &mut *self.state.lock();
                let Some(n) = s.extra.param_nodes.get_mut(&node) else {
                    let reason = format!("node {node} has no parameter services");
                    send_event(
                        s,
                        RosEvent::Parameters {
                            request,
                            node,
                            result: Err(reason),
                        },
                    );
                    return;
                };
                n.requests += 1;
                if !n.responsive {
                    return;
                }
                let values = n
                    .values
                    .iter()
                    .filter(|(k, _)| names.is_empty() || names.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                send_event(
                    s,
                    RosEvent::Parameters {
                        request,
                        node,
                        result: Ok(values),
                    },
                );
            }
            RosCommand::SetParameters {
                request,
                node,
                parameters,
            } => self.set_parameters(request, node, parameters),
            RosCommand::WatchParameterEvents { enabled } => {
                self.state.lock().extra.watching_params = enabled;
            }
            _ => {}
        }
    }

    fn call(&self, call: u64, service: &str, type_name: &str, request: Value) {
        let (handler, events) = {
            let mut s = self.state.lock();
            if s.extra.calls.len() >= CALLS_KEPT {
                s.extra.calls.pop_front();
            }
            s.extra
                .calls
                .push_back((service.to_string(), request.clone()));
            let handler = s
                .extra
                .services
                .values()
                .find(|e| e.name == service && e.type_name == type_name)
                .map(|e| e.handler.clone());
            (handler, s.events.clone())
        };
        let Some(events) = events else { return };
        let Some(handler) = handler else {
            let _ = events.send(RosEvent::ServiceResponse {
                call,
                result: Err(format!("service {service} is not available")),
            });
            return;
        };
        // The handler runs outside the graph lock so it may itself use the graph.
        match handler(&request) {
            SimReply::Respond(v) => {
                let _ = events.send(RosEvent::ServiceResponse {
                    call,
                    result: Ok(v),
                });
            }
            SimReply::Fail(reason) => {
                let _ = events.send(RosEvent::ServiceResponse {
                    call,
                    result: Err(reason),
                });
            }
            SimReply::After(delay, v) => {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = events.send(RosEvent::ServiceResponse {
                        call,
                        result: Ok(v),
                    });
                });
            }
            SimReply::Never => {}
        }
    }

    fn set_parameters(
        &self,
        request: u64,
        node: String,
        parameters: Vec<(String, Option<ParamValue>)>,
    ) {
        let s = &mut *self.state.lock();
        let watching = s.extra.watching_params;
        let Some(n) = s.extra.param_nodes.get_mut(&node) else {
            let reason = format!("node {node} has no parameter services");
            send_event(
                s,
                RosEvent::ParametersSet {
                    request,
                    node,
                    result: Err(reason),
                },
            );
            return;
        };
        n.requests += 1;
        if !n.responsive {
            return;
        }
        let mut results = Vec::new();
        let mut changed = Vec::new();
        for (name, value) in parameters {
            if n.read_only.contains(&name) {
                results.push((name.clone(), Some(format!("parameter {name} is read-only"))));
                continue;
            }
            match &value {
                Some(v) => {
                    n.values.insert(name.clone(), v.clone());
                }
                None => {
                    n.values.remove(&name);
                }
            }
            results.push((name.clone(), None));
            changed.push((name, value));
        }
        send_event(
            s,
            RosEvent::ParametersSet {
                request,
                node: node.clone(),
                result: Ok(results),
            },
        );
        if watching && !changed.is_empty() {
            send_event(s, RosEvent::ParameterEvent { node, changed });
        }
    }
}

impl Drop for SimService {
    fn drop(&mut self) {
        self.graph.state.lock().extra.services.remove(&self.id);
        self.graph.graph_changed();
    }
}

impl Drop for SimSubscriber {
    fn drop(&mut self) {
        self.graph.state.lock().extra.subscribers.remove(&self.id);
        self.graph.graph_changed();
    }
}
