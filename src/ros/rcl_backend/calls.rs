//! Service calls to the robot's services, and other nodes' parameters, through generic clients
//! on the gateway's own node.
//!
//! - One client per (service, type), created on first use and destroyed after
//!   [`CLIENT_IDLE`] without use, so services that come and go do not accumulate clients.
//! - A request waits until the client has discovered a server (DDS drops requests sent before
//!   that); foxglove_bridge waits the same way, but blocking. Nothing here blocks: discovery is
//!   re-checked on every pass of the ROS loop while something waits.
//! - Every request carries a deadline (`service_call_timeout_ms`) after which it is forgotten;
//!   the hub keeps its own deadline and tells the viewer. A late response is dropped.
//! - Parameters of other nodes use the standard `rcl_interfaces` services: "all" is
//!   `list_parameters` then `get_parameters`; sets are `set_parameters`. Requests and responses
//!   go through our schema-driven codec with the definitions from the ament index.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::debug;

use super::params::{from_json, to_json};
use crate::cdr::{cdr_to_json, json_to_cdr};
use crate::config::ParamValue;
use crate::ros::rcl::{self, ClientId, RclNode};
use crate::ros::{CallKey, ParamRequestKey, RosEvent};
use crate::schema::SchemaStore;

/// A client unused this long (and with nothing in flight) is destroyed.
const CLIENT_IDLE: Duration = Duration::from_secs(600);

/// What a request is for, i.e. what to do with its response.
#[derive(Debug, Clone)]
enum Purpose {
    /// A viewer's call: answer with `ServiceResponse` decoded as `response_type`.
    Call {
        call: CallKey,
        response_type: String,
    },
    /// `list_parameters` of `node` for a "get all".
    ParamList {
        request: ParamRequestKey,
        node: String,
    },
    /// `get_parameters` of `node`.
    ParamGet {
        request: ParamRequestKey,
        node: String,
        names: Vec<String>,
    },
    /// `set_parameters` of `node`.
    ParamSet {
        request: ParamRequestKey,
        node: String,
        names: Vec<String>,
    },
}

struct Request {
    client: ClientId,
    cdr: Vec<u8>,
    purpose: Purpose,
    deadline: Instant,
}

struct ClientEntry {
    id: ClientId,
    last_used: Instant,
}

/// Clients and requests waiting for discovery or in flight.
pub(super) struct Calls {
    timeout: Duration,
    schemas: Arc<SchemaStore>,
    clients: HashMap<(String, String), ClientEntry>,
    /// Waiting for a server to be discovered.
    waiting: Vec<Request>,
    /// Sent: (client, sequence number) → what it is for, and its deadline.
    in_flight: HashMap<(ClientId, i64), (Purpose, Instant)>,
    next_sweep: Instant,
}

impl Calls {
    pub(super) fn new(timeout: Duration, schemas: Arc<SchemaStore>) -> Self {
        Calls {
            timeout,
            schemas,
            clients: HashMap::new(),
            waiting: Vec::new(),
            in_flight: HashMap::new(),
            next_sweep: Instant::now() + CLIENT_IDLE,
        }
    }

    /// Whether anything waits for discovery (the loop then re-checks soon).
    pub(super) fn waiting_for_discovery(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The earliest deadline of anything pending.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.waiting
            .iter()
            .map(|r| r.deadline)
            .chain(self.in_flight.values().map(|(_, d)| *d))
            .min()
    }

    fn client(
        &mut self,
        node: &mut RclNode,
        service: &str,
        type_name: &str,
    ) -> Result<ClientId, String> {
        let key = (service.to_string(), type_name.to_string());
        if let Some(c) = self.clients.get_mut(&key) {
            c.last_used = Instant::now();
            return Ok(c.id);
        }
        let id = node
            .create_client(service, type_name, rcl::services_qos())
            .map_err(|e| e.to_string())?;
        self.clients.insert(
            key,
            ClientEntry {
                id,
                last_used: Instant::now(),
            },
        );
        Ok(id)
    }

    fn encode(&self, type_name: &str, value: &Value) -> Result<Vec<u8>, String> {
        let schema = self
            .schemas
            .message(type_name)
            .map_err(|e| format!("no definition for {type_name}: {e}"))?;
        json_to_cdr(&schema, value).map_err(|e| e.to_string())
    }

    fn decode(&self, type_name: &str, cdr: &[u8]) -> Result<Value, String> {
        let schema = self
            .schemas
            .message(type_name)
            .map_err(|e| format!("no definition for {type_name}: {e}"))?;
        cdr_to_json(&schema, cdr).map_err(|e| e.to_string())
    }

    /// Queue a request; it is sent once the server is discovered.
    fn request(
        &mut self,
        node: &mut RclNode,
        service: &str,
        type_name: &str,
        body: &Value,
        purpose: Purpose,
    ) -> Result<(), String> {
        let cdr = self.encode(&format!("{type_name}_Request"), body)?;
        let client = self.client(node, service, type_name)?;
        self.waiting.push(Request {
            client,
            cdr,
            purpose,
            deadline: Instant::now() + self.timeout,
        });
        Ok(())
    }

    /// A viewer's service call (request as complete JSON, see `RosCommand::CallService`).
    pub(super) fn call(
        &mut self,
        node: &mut RclNode,
        events: &mpsc::UnboundedSender<RosEvent>,
        call: CallKey,
        service: &str,
        type_name: &str,
        request: &Value,
    ) {
        let purpose = Purpose::Call {
            call,
            response_type: format!("{type_name}_Response"),
        };
        if let Err(reason) = self.request(node, service, type_name, request, purpose) {
            let _ = events.send(RosEvent::ServiceResponse {
                call,
                result: Err(reason),
            });
        }
    }

    /// The hub gave up on a call.
    pub(super) fn cancel(&mut self, call: CallKey) {
        let is_it = |p: &Purpose| matches!(p, Purpose::Call { call: c, .. } if *c == call);
        self.waiting.retain(|r| !is_it(&r.purpose));
        self.in_flight.retain(|_, (p, _)| !is_it(p));
    }

    /// Read parameters of `target` (all when `names` is empty).
    pub(super) fn get_parameters(
        &mut self,
        node: &mut RclNode,
        events: &mpsc::UnboundedSender<RosEvent>,
        request: ParamRequestKey,
        target: String,
        names: Vec<String>,
    ) {
        let sent = if names.is_empty() {
            self.request(
                node,
                &format!("{target}/list_parameters"),
                "rcl_interfaces/srv/ListParameters",
                // DEPTH_RECURSIVE: every name.
                &json!({ "prefixes": [], "depth": 0 }),
                Purpose::ParamList {
                    request,
                    node: target.clone(),
                },
            )
        } else {
            self.get_names(node, request, target.clone(), names)
        };
        if let Err(reason) = sent {
            let _ = events.send(RosEvent::Parameters {
                request,
                node: target,
                result: Err(reason),
            });
        }
    }

    fn get_names(
        &mut self,
        node: &mut RclNode,
        request: ParamRequestKey,
        target: String,
        names: Vec<String>,
    ) -> Result<(), String> {
        self.request(
            node,
            &format!("{target}/get_parameters"),
            "rcl_interfaces/srv/GetParameters",
            &json!({ "names": names }),
            Purpose::ParamGet {
                request,
                node: target,
                names,
            },
        )
    }

    /// Set (or unset, with `None`) parameters of `target`.
    pub(super) fn set_parameters(
        &mut self,
        node: &mut RclNode,
        events: &mpsc::UnboundedSender<RosEvent>,
        request: ParamRequestKey,
        target: String,
        parameters: Vec<(String, Option<ParamValue>)>,
    ) {
        let names: Vec<String> = parameters.iter().map(|(n, _)| n.clone()).collect();
        let body = json!({
            "parameters": parameters
                .iter()
                .map(|(name, value)| json!({ "name": name, "value": to_json(value.as_ref()) }))
                .collect::<Vec<_>>()
        });
        let sent = self.request(
            node,
            &format!("{target}/set_parameters"),
            "rcl_interfaces/srv/SetParameters",
            &body,
            Purpose::ParamSet {
                request,
                node: target.clone(),
                names,
            },
        );
        if let Err(reason) = sent {
            let _ = events.send(RosEvent::ParametersSet {
                request,
                node: target,
                result: Err(reason),
            });
        }
    }

    /// Send what waits for a discovered server; forget what is past its deadline; destroy
    /// clients idle for long.
    pub(super) fn poll(&mut self, node: &mut RclNode, now: Instant) {
        let waiting = std::mem::take(&mut self.waiting);
        for r in waiting {
            if r.deadline <= now {
                debug!(purpose = ?r.purpose, "request abandoned: no server discovered in time");
                continue;
            }
            if !node.server_available(r.client) {
                self.waiting.push(r);
                continue;
            }
            match node.send_request(r.client, &r.cdr) {
                Ok(seq) => {
                    self.in_flight
                        .insert((r.client, seq), (r.purpose, r.deadline));
                }
                // The hub answers the viewer at its own deadline; say why in the log.
                Err(e) => debug!(purpose = ?r.purpose, "cannot send a request: {e}"),
            }
        }
        self.in_flight.retain(|_, (_, deadline)| *deadline > now);
        if now >= self.next_sweep {
            self.next_sweep = now + CLIENT_IDLE / 4;
            let busy: Vec<ClientId> = self
                .waiting
                .iter()
                .map(|r| r.client)
                .chain(self.in_flight.keys().map(|(c, _)| *c))
                .collect();
            self.clients.retain(|_, c| {
                let keep = busy.contains(&c.id) || now.duration_since(c.last_used) < CLIENT_IDLE;
                if !keep {
                    node.destroy_client(c.id);
                }
                keep
            });
        }
    }

    /// Whether `id` is one of ours (the loop routes ready clients here).
    pub(super) fn owns(&self, id: ClientId) -> bool {
        self.clients.values().any(|c| c.id == id)
    }

    /// Take every response of a ready client and act on it.
    pub(super) fn take_responses(
        &mut self,
        node: &mut RclNode,
        events: &mpsc::UnboundedSender<RosEvent>,
        client: ClientId,
    ) {
        loop {
            let (seq, cdr) = match node.take_response(client) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    debug!("cannot take a service response: {e}");
                    return;
                }
            };
            let Some((purpose, _)) = self.in_flight.remove(&(client, seq)) else {
                debug!(seq, "response to a request no longer waited for");
                continue;
            };
            self.respond(node, events, purpose, &cdr);
        }
    }

    fn respond(
        &mut self,
        node: &mut RclNode,
        events: &mpsc::UnboundedSender<RosEvent>,
        purpose: Purpose,
        cdr: &Bytes,
    ) {
        match purpose {
            Purpose::Call {
                call,
                response_type,
            } => {
                let result = self
                    .decode(&response_type, cdr)
                    .map_err(|e| format!("the response could not be read: {e}"));
                let _ = events.send(RosEvent::ServiceResponse { call, result });
            }
            Purpose::ParamList {
                request,
                node: target,
            } => {
                let names: Result<Vec<String>, String> = self
                    .decode("rcl_interfaces/srv/ListParameters_Response", cdr)
                    .map(|v| string_list(&v["result"]["names"]));
                let next = match names {
                    Ok(names) if names.is_empty() => {
                        let _ = events.send(RosEvent::Parameters {
                            request,
                            node: target,
                            result: Ok(Vec::new()),
                        });
                        return;
                    }
                    Ok(names) => self.get_names(node, request, target.clone(), names),
                    Err(e) => Err(e),
                };
                if let Err(reason) = next {
                    let _ = events.send(RosEvent::Parameters {
                        request,
                        node: target,
                        result: Err(reason),
                    });
                }
            }
            Purpose::ParamGet {
                request,
                node: target,
                names,
            } => {
                let result = self
                    .decode("rcl_interfaces/srv/GetParameters_Response", cdr)
                    .map(|v| {
                        let values = v["values"].as_array().cloned().unwrap_or_default();
                        names
                            .iter()
                            .zip(values.iter())
                            .filter_map(|(n, v)| from_json(v).map(|v| (n.clone(), v)))
                            .collect()
                    });
                let _ = events.send(RosEvent::Parameters {
                    request,
                    node: target,
                    result,
                });
            }
            Purpose::ParamSet {
                request,
                node: target,
                names,
            } => {
                let result = self
                    .decode("rcl_interfaces/srv/SetParameters_Response", cdr)
                    .map(|v| {
                        let results = v["results"].as_array().cloned().unwrap_or_default();
                        names
                            .iter()
                            .enumerate()
                            .map(|(i, n)| {
                                let refusal = match results.get(i) {
                                    Some(r) if r["successful"] == json!(true) => None,
                                    Some(r) => {
                                        Some(r["reason"].as_str().unwrap_or("refused").to_string())
                                    }
                                    None => Some("the node gave no result".into()),
                                };
                                (n.clone(), refusal)
                            })
                            .collect()
                    });
                let _ = events.send(RosEvent::ParametersSet {
                    request,
                    node: target,
                    result,
                });
            }
        }
    }
}

/// A parameter that was set (`Some`) or deleted (`None`).
pub(super) type ParamChange = (String, Option<ParamValue>);

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A `/parameter_events` message (JSON of `rcl_interfaces/msg/ParameterEvent`) as the node and
/// what changed (`None`: deleted).
pub(super) fn parameter_event(v: &Value) -> Option<(String, Vec<ParamChange>)> {
    let node = v["node"].as_str()?.to_string();
    let mut changed = Vec::new();
    for list in ["new_parameters", "changed_parameters"] {
        for p in v[list].as_array().into_iter().flatten() {
            if let Some(name) = p["name"].as_str() {
                changed.push((name.to_string(), from_json(&p["value"])));
            }
        }
    }
    for p in v["deleted_parameters"].as_array().into_iter().flatten() {
        if let Some(name) = p["name"].as_str() {
            changed.push((name.to_string(), None));
        }
    }
    Some((node, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_events_are_read() {
        let ev = json!({
            "node": "/talker",
            "new_parameters": [{"name": "a", "value": {"type": 2, "integer_value": 3}}],
            "changed_parameters": [{"name": "b", "value": {"type": 1, "bool_value": true}}],
            "deleted_parameters": [{"name": "c", "value": {"type": 0}}],
        });
        let (node, changed) = parameter_event(&ev).unwrap();
        assert_eq!(node, "/talker");
        assert_eq!(
            changed,
            vec![
                ("a".into(), Some(ParamValue::Integer(3))),
                ("b".into(), Some(ParamValue::Bool(true))),
                ("c".into(), None),
            ]
        );
        assert!(parameter_event(&json!({})).is_none());
    }
}
