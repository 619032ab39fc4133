//! Service calls and other nodes' parameters for the r2r backend, all on the ROS thread.
//!
//! - Service calls go through `create_client_untyped` (r2r 0.9.7 has no raw client): the hub has
//!   already turned the viewer's request into complete JSON with our codec, and encodes the
//!   JSON answer back. One client per (service, type), cached: r2r never destroys clients.
//! - Parameters use the typed `rcl_interfaces` clients (always generated): `list_parameters`
//!   then `get_parameters` for "all", `set_parameters` for sets; one set of clients per node,
//!   cached. `/parameter_events` is subscribed typed while the hub asks for it.
//! - A client just created has not discovered its server yet, and DDS drops requests sent
//!   before it has: the first request on each client waits for `Node::is_available`
//!   (foxglove_bridge waits up to 1 s the same way, but blocking).
//! - Every request carries a deadline (`service_call_timeout_ms`) after which its future is
//!   dropped, so a node that never answers costs nothing but r2r's pending-reply slot. The hub
//!   keeps its own deadlines and tells the viewer; this one only bounds memory here.
//! - Futures are polled with `now_or_never` after each `spin_once`, which is where r2r completes
//!   them: nothing here waits.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt};
use r2r::rcl_interfaces::{msg as rmsg, srv};
use r2r::QosProfile;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::super::{CallKey, ParamRequestKey, ParamValue, RosEvent};

type Fut<T> = Pin<Box<dyn Future<Output = r2r::Result<T>>>>;
type EventStream = Box<dyn Stream<Item = rmsg::ParameterEvent> + Unpin + Send>;

struct ParamClients {
    list: r2r::Client<srv::ListParameters::Service>,
    get: r2r::Client<srv::GetParameters::Service>,
    set: r2r::Client<srv::SetParameters::Service>,
}

/// A parameter request waiting for its node's services to be discovered.
enum Pending {
    List,
    Get(Vec<String>),
    Set(Vec<String>, srv::SetParameters::Request),
}

enum Stage {
    Available(Fut<()>, Pending),
    Listing(Fut<srv::ListParameters::Response>),
    Getting(Vec<String>, Fut<srv::GetParameters::Response>),
    Setting(Vec<String>, Fut<srv::SetParameters::Response>),
}

struct ParamOp {
    request: ParamRequestKey,
    node: String,
    deadline: Instant,
    stage: Stage,
}

enum CallStage {
    /// Waiting for the server to be discovered; the request and the client key.
    Available(Fut<()>, serde_json::Value, (String, String)),
    Requested(Fut<r2r::Result<serde_json::Value>>),
}

struct Call {
    key: CallKey,
    deadline: Instant,
    stage: CallStage,
}

/// Service clients, parameter clients and requests in flight.
pub(super) struct Extras {
    timeout: Duration,
    service_clients: HashMap<(String, String), r2r::ClientUntyped>,
    /// Clients whose server has been seen at least once.
    available: HashSet<(String, String)>,
    calls: Vec<Call>,
    param_clients: HashMap<String, ParamClients>,
    /// Nodes whose parameter services have been seen at least once.
    param_available: HashSet<String>,
    ops: Vec<ParamOp>,
    param_events: Option<EventStream>,
}

impl Extras {
    pub(super) fn new(timeout: Duration) -> Self {
        Extras {
            timeout,
            service_clients: HashMap::new(),
            available: HashSet::new(),
            calls: Vec::new(),
            param_clients: HashMap::new(),
            param_available: HashSet::new(),
            ops: Vec::new(),
            param_events: None,
        }
    }

    /// Send a service request; a failure to send is answered at once.
    pub(super) fn call(
        &mut self,
        node: &mut r2r::Node,
        events: &mpsc::UnboundedSender<RosEvent>,
        call: CallKey,
        service: String,
        type_name: String,
        request: serde_json::Value,
    ) {
        let fail = |reason: String| {
            let _ = events.send(RosEvent::ServiceResponse {
                call,
                result: Err(reason),
            });
        };
        let key = (service.clone(), type_name.clone());
        if !self.service_clients.contains_key(&key) {
            match node.create_client_untyped(&service, &type_name, QosProfile::services_default()) {
                Ok(c) => {
                    self.service_clients.insert(key.clone(), c);
                }
                Err(r2r::Error::InvalidMessageType { .. }) => {
                    return fail(super::graph::missing_type_reason(
                        &format!("call {service}"),
                        &type_name,
                    ))
                }
                Err(e) => return fail(format!("cannot create a client for {service}: {e}")),
            }
        }
        let Some(client) = self.service_clients.get(&key) else {
            return;
        };
        let stage = if self.available.contains(&key) {
            client
                .request(request)
                .map(|f| CallStage::Requested(Box::pin(f)))
        } else {
            r2r::Node::is_available(client)
                .map(|f| CallStage::Available(Box::pin(f), request, key.clone()))
        };
        match stage {
            Ok(stage) => self.calls.push(Call {
                key: call,
                deadline: Instant::now() + self.timeout,
                stage,
            }),
            Err(e) => fail(format!("cannot send the request: {e}")),
        }
    }

    /// The hub gave up on a call.
    pub(super) fn cancel(&mut self, call: CallKey) {
        self.calls.retain(|c| c.key != call);
    }

    fn clients(&mut self, node: &mut r2r::Node, target: &str) -> Result<&ParamClients, String> {
        if !self.param_clients.contains_key(target) {
            let qos = QosProfile::services_default;
            let make = |node: &mut r2r::Node| -> r2r::Result<ParamClients> {
                Ok(ParamClients {
                    list: node.create_client(&format!("{target}/list_parameters"), qos())?,
                    get: node.create_client(&format!("{target}/get_parameters"), qos())?,
                    set: node.create_client(&format!("{target}/set_parameters"), qos())?,
                })
            };
            let clients =
                make(node).map_err(|e| format!("cannot create parameter clients: {e}"))?;
            self.param_clients.insert(target.to_string(), clients);
        }
        self.param_clients
            .get(target)
            .ok_or_else(|| "no parameter clients".to_string())
    }

    /// Read parameters of `target` (all when `names` is empty).
    pub(super) fn get_parameters(
        &mut self,
        node: &mut r2r::Node,
        events: &mpsc::UnboundedSender<RosEvent>,
        request: ParamRequestKey,
        target: String,
        names: Vec<String>,
    ) {
        let deadline = Instant::now() + self.timeout;
        let pending = if names.is_empty() {
            Pending::List
        } else {
            Pending::Get(names)
        };
        let stage = self.param_stage(node, &target, pending);
        match stage {
            Ok(stage) => self.ops.push(ParamOp {
                request,
                node: target,
                deadline,
                stage,
            }),
            Err(reason) => {
                let _ = events.send(RosEvent::Parameters {
                    request,
                    node: target,
                    result: Err(reason),
                });
            }
        }
    }

    /// Set (or unset, with `None`) parameters of `target`.
    pub(super) fn set_parameters(
        &mut self,
        node: &mut r2r::Node,
        events: &mpsc::UnboundedSender<RosEvent>,
        request: ParamRequestKey,
        target: String,
        parameters: Vec<(String, Option<ParamValue>)>,
    ) {
        let deadline = Instant::now() + self.timeout;
        let names: Vec<String> = parameters.iter().map(|(n, _)| n.clone()).collect();
        let req = srv::SetParameters::Request {
            parameters: parameters
                .into_iter()
                .map(|(name, value)| rmsg::Parameter {
                    name,
                    value: to_msg(value.as_ref()),
                })
                .collect(),
        };
        let sent = self.param_stage(node, &target, Pending::Set(names, req));
        match sent {
            Ok(stage) => self.ops.push(ParamOp {
                request,
                node: target,
                deadline,
                stage,
            }),
            Err(reason) => {
                let _ = events.send(RosEvent::ParametersSet {
                    request,
                    node: target,
                    result: Err(reason),
                });
            }
        }
    }

    /// The first stage of a parameter request: waiting for discovery the first time, else sent.
    fn param_stage(
        &mut self,
        node: &mut r2r::Node,
        target: &str,
        pending: Pending,
    ) -> Result<Stage, String> {
        let ready = self.param_available.contains(target);
        let c = self.clients(node, target)?;
        if ready {
            send_pending(c, pending)
        } else {
            r2r::Node::is_available(&c.get)
                .map(|f| Stage::Available(Box::pin(f), pending))
                .map_err(|e| e.to_string())
        }
    }

    /// Start or stop listening to `/parameter_events`.
    pub(super) fn watch(&mut self, node: &mut r2r::Node, enabled: bool) {
        if !enabled {
            // r2r tears the subscription down when its next message arrives.
            self.param_events = None;
            return;
        }
        if self.param_events.is_some() {
            return;
        }
        match node
            .subscribe::<rmsg::ParameterEvent>("/parameter_events", QosProfile::parameter_events())
        {
            Ok(s) => self.param_events = Some(Box::new(s)),
            Err(e) => warn!("cannot subscribe to /parameter_events: {e}"),
        }
    }

    /// Complete what finished during the last spin; drop what is past its deadline.
    pub(super) fn poll(&mut self, events: &mpsc::UnboundedSender<RosEvent>) {
        let now = Instant::now();
        let calls = std::mem::take(&mut self.calls);
        for mut c in calls {
            let done: Option<Result<serde_json::Value, String>> = match &mut c.stage {
                CallStage::Available(fut, request, key) => match fut.now_or_never() {
                    None => None,
                    Some(Err(e)) => Some(Err(e.to_string())),
                    Some(Ok(())) => {
                        self.available.insert(key.clone());
                        let request = std::mem::take(request);
                        match self.service_clients.get(key).map(|cl| cl.request(request)) {
                            Some(Ok(f)) => {
                                c.stage = CallStage::Requested(Box::pin(f));
                                None
                            }
                            Some(Err(e)) => Some(Err(format!("cannot send the request: {e}"))),
                            None => Some(Err("no client".into())),
                        }
                    }
                },
                CallStage::Requested(fut) => fut.now_or_never().map(|r| match r {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(format!("the response could not be read: {e}")),
                    Err(e) => Err(e.to_string()),
                }),
            };
            match done {
                Some(result) => {
                    let _ = events.send(RosEvent::ServiceResponse {
                        call: c.key,
                        result,
                    });
                }
                None if c.deadline > now => self.calls.push(c),
                None => {}
            }
        }
        let ops = std::mem::take(&mut self.ops);
        for op in ops {
            if let Some(op) = self.advance(op, events, now) {
                self.ops.push(op);
            }
        }
        if let Some(stream) = &mut self.param_events {
            // Drained after every spin so r2r's small channel never overflows.
            while let Some(Some(ev)) = stream.next().now_or_never() {
                let mut changed: Vec<(String, Option<ParamValue>)> = Vec::new();
                for p in ev.new_parameters.into_iter().chain(ev.changed_parameters) {
                    changed.push((p.name, from_msg(&p.value)));
                }
                changed.extend(ev.deleted_parameters.into_iter().map(|p| (p.name, None)));
                let _ = events.send(RosEvent::ParameterEvent {
                    node: ev.node,
                    changed,
                });
            }
        }
    }

    /// Move one parameter request along; `Some` while it is still waiting.
    fn advance(
        &mut self,
        mut op: ParamOp,
        events: &mpsc::UnboundedSender<RosEvent>,
        now: Instant,
    ) -> Option<ParamOp> {
        let get_failed = |op: &ParamOp, reason: String| {
            let _ = events.send(RosEvent::Parameters {
                request: op.request,
                node: op.node.clone(),
                result: Err(reason),
            });
        };
        match &mut op.stage {
            Stage::Available(fut, pending) => match fut.now_or_never() {
                None => {}
                Some(Err(e)) => {
                    let reason = e.to_string();
                    match pending {
                        Pending::Set(..) => {
                            let _ = events.send(RosEvent::ParametersSet {
                                request: op.request,
                                node: op.node,
                                result: Err(reason),
                            });
                        }
                        _ => get_failed(&op, reason),
                    }
                    return None;
                }
                Some(Ok(())) => {
                    self.param_available.insert(op.node.clone());
                    let pending = std::mem::replace(pending, Pending::List);
                    let is_set = matches!(pending, Pending::Set(..));
                    let next = match self.param_clients.get(&op.node) {
                        Some(c) => send_pending(c, pending),
                        None => Err("no parameter clients".into()),
                    };
                    match next {
                        Ok(stage) => op.stage = stage,
                        Err(reason) if is_set => {
                            let _ = events.send(RosEvent::ParametersSet {
                                request: op.request,
                                node: op.node,
                                result: Err(reason),
                            });
                            return None;
                        }
                        Err(reason) => {
                            get_failed(&op, reason);
                            return None;
                        }
                    }
                }
            },
            Stage::Listing(fut) => match fut.now_or_never() {
                None => {}
                Some(Err(e)) => {
                    get_failed(&op, e.to_string());
                    return None;
                }
                Some(Ok(resp)) => {
                    let names = resp.result.names;
                    if names.is_empty() {
                        let _ = events.send(RosEvent::Parameters {
                            request: op.request,
                            node: op.node,
                            result: Ok(Vec::new()),
                        });
                        return None;
                    }
                    let next = match self.param_clients.get(&op.node) {
                        Some(c) => get_stage(c, names),
                        None => Err("no parameter clients".into()),
                    };
                    match next {
                        Ok(stage) => op.stage = stage,
                        Err(reason) => {
                            get_failed(&op, reason);
                            return None;
                        }
                    }
                }
            },
            Stage::Getting(names, fut) => match fut.now_or_never() {
                None => {}
                Some(result) => {
                    let result = result.map_err(|e| e.to_string()).map(|resp| {
                        names
                            .iter()
                            .zip(resp.values.iter())
                            .filter_map(|(n, v)| from_msg(v).map(|v| (n.clone(), v)))
                            .collect()
                    });
                    let _ = events.send(RosEvent::Parameters {
                        request: op.request,
                        node: op.node,
                        result,
                    });
                    return None;
                }
            },
            Stage::Setting(names, fut) => match fut.now_or_never() {
                None => {}
                Some(result) => {
                    let result = result.map_err(|e| e.to_string()).map(|resp| {
                        names
                            .iter()
                            .enumerate()
                            .map(|(i, n)| {
                                let refusal = match resp.results.get(i) {
                                    Some(r) if r.successful => None,
                                    Some(r) => Some(r.reason.clone()),
                                    None => Some("the node gave no result".into()),
                                };
                                (n.clone(), refusal)
                            })
                            .collect()
                    });
                    let _ = events.send(RosEvent::ParametersSet {
                        request: op.request,
                        node: op.node,
                        result,
                    });
                    return None;
                }
            },
        }
        if op.deadline <= now {
            debug!(node = %op.node, "parameter request abandoned: no answer");
            return None;
        }
        Some(op)
    }
}

fn send_pending(c: &ParamClients, pending: Pending) -> Result<Stage, String> {
    match pending {
        Pending::List => {
            let req = srv::ListParameters::Request {
                prefixes: Vec::new(),
                depth: 0, // DEPTH_RECURSIVE
            };
            c.list
                .request(&req)
                .map(|f| Stage::Listing(Box::pin(f)))
                .map_err(|e| e.to_string())
        }
        Pending::Get(names) => get_stage(c, names),
        Pending::Set(names, req) => c
            .set
            .request(&req)
            .map(|f| Stage::Setting(names, Box::pin(f)))
            .map_err(|e| e.to_string()),
    }
}

fn get_stage(c: &ParamClients, names: Vec<String>) -> Result<Stage, String> {
    let req = srv::GetParameters::Request {
        names: names.clone(),
    };
    c.get
        .request(&req)
        .map(|f| Stage::Getting(names, Box::pin(f)))
        .map_err(|e| e.to_string())
}

// rcl_interfaces/msg/ParameterType.
const NOT_SET: u8 = 0;
const BOOL: u8 = 1;
const INTEGER: u8 = 2;
const DOUBLE: u8 = 3;
const STRING: u8 = 4;
const BYTE_ARRAY: u8 = 5;
const BOOL_ARRAY: u8 = 6;
const INTEGER_ARRAY: u8 = 7;
const DOUBLE_ARRAY: u8 = 8;
const STRING_ARRAY: u8 = 9;

fn from_msg(v: &rmsg::ParameterValue) -> Option<ParamValue> {
    Some(match v.type_ {
        BOOL => ParamValue::Bool(v.bool_value),
        INTEGER => ParamValue::Integer(v.integer_value),
        DOUBLE => ParamValue::Double(v.double_value),
        STRING => ParamValue::String(v.string_value.clone()),
        BYTE_ARRAY => ParamValue::ByteArray(v.byte_array_value.clone()),
        BOOL_ARRAY => ParamValue::BoolArray(v.bool_array_value.clone()),
        INTEGER_ARRAY => ParamValue::IntegerArray(v.integer_array_value.clone()),
        DOUBLE_ARRAY => ParamValue::DoubleArray(v.double_array_value.clone()),
        STRING_ARRAY => ParamValue::StringArray(v.string_array_value.clone()),
        _ => return None,
    })
}

fn to_msg(v: Option<&ParamValue>) -> rmsg::ParameterValue {
    let mut m = rmsg::ParameterValue::default();
    m.type_ = match v {
        None => NOT_SET,
        Some(ParamValue::Bool(b)) => {
            m.bool_value = *b;
            BOOL
        }
        Some(ParamValue::Integer(i)) => {
            m.integer_value = *i;
            INTEGER
        }
        Some(ParamValue::Double(d)) => {
            m.double_value = *d;
            DOUBLE
        }
        Some(ParamValue::String(s)) => {
            m.string_value = s.clone();
            STRING
        }
        Some(ParamValue::ByteArray(b)) => {
            m.byte_array_value = b.clone();
            BYTE_ARRAY
        }
        Some(ParamValue::BoolArray(b)) => {
            m.bool_array_value = b.clone();
            BOOL_ARRAY
        }
        Some(ParamValue::IntegerArray(i)) => {
            m.integer_array_value = i.clone();
            INTEGER_ARRAY
        }
        Some(ParamValue::DoubleArray(d)) => {
            m.double_array_value = d.clone();
            DOUBLE_ARRAY
        }
        Some(ParamValue::StringArray(s)) => {
            m.string_array_value = s.clone();
            STRING_ARRAY
        }
    };
    m
}
