//! Services: advertised from the graph, called through the backend.
//!
//! - Every service of the graph that passes `service_whitelist` is advertised with its request
//!   and response schemas (`pkg/srv/X_Request` / `_Response`, `ros2msg`); one whose definition
//!   is missing is still advertised (legacy empty schemas) and calls to it fail with the reason.
//!   Ids stay the same while (name, type) does.
//! - Calls are accepted in `cdr` and `json`; the request is checked against the definition and
//!   handed to the backend as complete JSON, and the answer goes back
//!   in the request's encoding.
//! - *Internal* services (the black box's save, [`Hub::register_internal_service`]) are
//!   answered inside the gateway: advertised like the graph's (never twice: the graph's entry of
//!   the same name, the gateway node's own server, is left out), and also reachable from ROS
//!   peers ([`crate::ros::RosEvent::ServiceRequest`]).
//! - Every call has a deadline (`service_call_timeout_ms`), at most [`MAX_CALLS_PER_VIEWER`] are
//!   in flight per viewer (answers the viewer has not read yet count too), and a call to a
//!   service that leaves the graph fails at once. Nothing here waits: calls never hold up topic
//!   data.
//! - A call refused at once (too many, unknown service, bad request) is answered on the
//!   outbox's refusal lane: a burst of thousands is answered in part and summarised, never by
//!   disconnecting the viewer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::outbox::ControlKind;
use super::{ClientError, ClientId, Control, Hub, Outbox};
use crate::cdr::{cdr_to_json, json_to_cdr};
use crate::protocol::binary;
use crate::protocol::server::{GraphMessage, Service, ServiceSchema};
use crate::ros::{CallKey, GraphSnapshot, RosCommand, RosEvent, ServiceInfo};
use crate::schema::ResolvedSchema;

/// Calls one viewer may have in flight; the SDK's limit.
pub const MAX_CALLS_PER_VIEWER: usize = 32;

type Schemas = (Arc<ResolvedSchema>, Arc<ResolvedSchema>);

/// Delivers the answer of an internal service: the response as JSON of the response type, or
/// why there is none. Called once, from any thread.
pub type Responder = Box<dyn FnOnce(Result<serde_json::Value, String>) + Send>;

/// An internal service: gets the complete request JSON and a [`Responder`]. Must not block
/// (hand long work to a blocking thread).
pub type InternalHandler = Arc<dyn Fn(serde_json::Value, Responder) + Send + Sync>;

struct Advertised {
    id: u32,
    type_name: String,
    schemas: Result<Schemas, String>,
}

struct SvcClient {
    outbox: Arc<Outbox>,
    in_flight: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Cdr,
    Json,
}

struct PendingCall {
    client: ClientId,
    service_id: u32,
    call_id: u32,
    service: String,
    encoding: Encoding,
    response: Arc<ResolvedSchema>,
    deadline: Instant,
}

/// Service state of the hub, behind its own lock (never taken while the core state is held).
#[derive(Default)]
pub(super) struct Services {
    advertised: BTreeMap<String, Advertised>,
    by_id: HashMap<u32, String>,
    known_ids: HashMap<(String, String), u32>,
    next_id: u32,
    clients: HashMap<ClientId, SvcClient>,
    calls: HashMap<CallKey, PendingCall>,
    next_call: CallKey,
    /// Services answered by the hub itself: name → handler.
    internal: BTreeMap<String, InternalHandler>,
}

impl Services {
    /// The id of service `name` with `type_name`: the one it had before, if it went away and
    /// came back, else a new one.
    fn id_for(&mut self, name: &str, type_name: &str) -> u32 {
        let key = (name.to_string(), type_name.to_string());
        if let Some(id) = self.known_ids.get(&key) {
            return *id;
        }
        self.next_id += 1;
        self.known_ids.insert(key, self.next_id);
        self.next_id
    }

    fn wire(&self) -> Vec<Service> {
        self.advertised
            .iter()
            .map(|(name, a)| wire_service(name, a))
            .collect()
    }

    /// The answer to an accepted call (counted while queued: see `service_call`).
    fn send(&self, client: ClientId, msg: Control) {
        if let Some(c) = self.clients.get(&client) {
            let _ = c.outbox.push_reply(msg, ControlKind::ServiceReply);
        }
    }

    /// The answer to a call refused at once.
    fn refuse(&self, client: ClientId, service_id: u32, call_id: u32, message: String) {
        if let Some(c) = self.clients.get(&client) {
            let reason = format!("service call {call_id}: {message}");
            c.outbox
                .push_refusal(failure(service_id, call_id, message), &reason);
        }
    }

    fn broadcast(&self, text: String) {
        for c in self.clients.values() {
            let _ = c.outbox.push_control(Control::Text(text.clone()));
        }
    }

    /// Drop a pending call and free its viewer's slot.
    fn finish(&mut self, call: CallKey) -> Option<PendingCall> {
        let p = self.calls.remove(&call)?;
        if let Some(c) = self.clients.get_mut(&p.client) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
        Some(p)
    }
}

fn failure(service_id: u32, call_id: u32, message: String) -> Control {
    Control::Text(
        GraphMessage::ServiceCallFailure {
            service_id,
            call_id,
            message,
        }
        .to_json(),
    )
}

fn side(schema: &ResolvedSchema) -> ServiceSchema {
    ServiceSchema {
        encoding: "cdr".into(),
        schema_name: schema.name.clone(),
        schema_encoding: schema.encoding.as_str().into(),
        schema: schema.text.clone(),
    }
}

fn wire_service(name: &str, a: &Advertised) -> Service {
    let (request, response, legacy) = match &a.schemas {
        Ok((req, resp)) => (Some(side(req)), Some(side(resp)), None),
        Err(_) => (None, None, Some(String::new())),
    };
    Service {
        id: a.id,
        name: name.to_string(),
        type_name: a.type_name.clone(),
        request,
        response,
        request_schema: legacy.clone(),
        response_schema: legacy,
    }
}

impl Hub {
    /// Register a viewer for services and send it the current advertisement.
    pub(super) fn services_connect(&self, client: ClientId, outbox: &Arc<Outbox>) {
        if !self.offers("services") {
            return;
        }
        let mut s = self.services.lock();
        let services = s.wire();
        if !services.is_empty() {
            let _ = outbox.push_control(Control::Text(
                GraphMessage::AdvertiseServices { services }.to_json(),
            ));
        }
        s.clients.insert(
            client,
            SvcClient {
                outbox: outbox.clone(),
                in_flight: 0,
            },
        );
    }

    /// Forget a viewer; its calls in flight are abandoned.
    pub(super) fn services_disconnect(&self, client: ClientId) {
        let mut s = self.services.lock();
        s.clients.remove(&client);
        super::shrink_table(&mut s.clients);
        let mine: Vec<CallKey> = s
            .calls
            .iter()
            .filter(|(_, p)| p.client == client)
            .map(|(k, _)| *k)
            .collect();
        for call in mine {
            s.calls.remove(&call);
            self.ros.send(RosCommand::CancelCall { call });
        }
    }

    /// Bring the advertised services in line with the graph; calls to services that left fail.
    pub(super) fn apply_services(&self, snapshot: &GraphSnapshot) {
        if !self.offers("services") {
            return;
        }
        let internal: Vec<String> = self.services.lock().internal.keys().cloned().collect();
        let wanted: BTreeMap<&str, &ServiceInfo> = snapshot
            .services
            .iter()
            .filter(|s| self.config.service_whitelist.matches(&s.name))
            .filter(|s| !internal.contains(&s.name))
            .map(|s| (s.name.as_str(), s))
            .collect();
        // Resolve definitions of new services without holding the lock (file I/O).
        let fresh: Vec<&ServiceInfo> = {
            let s = self.services.lock();
            wanted
                .values()
                .filter(|w| {
                    s.advertised
                        .get(&w.name)
                        .is_none_or(|a| a.type_name != w.type_name)
                })
                .copied()
                .collect()
        };
        let new: Vec<(&ServiceInfo, Result<Schemas, String>)> = fresh
            .into_iter()
            .map(|w| {
                let r = self
                    .schemas
                    .service(&w.type_name)
                    .map_err(|e| e.to_string());
                (w, r)
            })
            .collect();

        let mut s = self.services.lock();
        let gone: Vec<String> = s
            .advertised
            .iter()
            .filter(|(name, a)| {
                !internal.contains(name)
                    && wanted
                        .get(name.as_str())
                        .is_none_or(|w| w.type_name != a.type_name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        let mut removed = Vec::new();
        for name in gone {
            if let Some(a) = s.advertised.remove(&name) {
                s.by_id.remove(&a.id);
                removed.push(a.id);
                let calls: Vec<CallKey> = s
                    .calls
                    .iter()
                    .filter(|(_, p)| p.service_id == a.id)
                    .map(|(k, _)| *k)
                    .collect();
                for call in calls {
                    if let Some(p) = s.finish(call) {
                        self.ros.send(RosCommand::CancelCall { call });
                        s.send(
                            p.client,
                            failure(
                                p.service_id,
                                p.call_id,
                                format!(
                                    "Service {name} went away before answering (no node \
                                     provides it any more)"
                                ),
                            ),
                        );
                    }
                }
            }
        }
        let mut added = Vec::new();
        for (w, schemas) in new {
            if let Err(reason) = &schemas {
                tracing::warn!(service = %w.name, type_name = %w.type_name, %reason,
                    "service advertised without schema: no definition");
            }
            let id = s.id_for(&w.name, &w.type_name);
            let a = Advertised {
                id,
                type_name: w.type_name.clone(),
                schemas,
            };
            added.push(wire_service(&w.name, &a));
            s.by_id.insert(id, w.name.clone());
            s.advertised.insert(w.name.clone(), a);
        }
        if !removed.is_empty() {
            tracing::info!(services = ?removed, "unadvertised services");
            s.broadcast(
                GraphMessage::UnadvertiseServices {
                    service_ids: removed,
                }
                .to_json(),
            );
        }
        if !added.is_empty() {
            tracing::info!(count = added.len(), "advertised services");
            s.broadcast(GraphMessage::AdvertiseServices { services: added }.to_json());
        }
    }

    /// A viewer's service call. Failures are answered with `serviceCallFailure`; only a call
    /// without the capability is a [`ClientError`].
    pub fn service_call(
        &self,
        client: ClientId,
        service_id: u32,
        call_id: u32,
        encoding: &str,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        if !self.offers("services") {
            return Err(ClientError::Unsupported("services"));
        }
        let mut s = self.services.lock();
        let fail = |s: &Services, message: String| {
            s.refuse(client, service_id, call_id, message);
            Ok(())
        };
        let Some(c) = s.clients.get(&client) else {
            return Ok(());
        };
        if c.in_flight + c.outbox.queued_control(ControlKind::ServiceReply) >= MAX_CALLS_PER_VIEWER
        {
            return fail(
                &s,
                format!(
                    "Too many requests: at most {MAX_CALLS_PER_VIEWER} service calls per viewer \
                     in flight (answers not yet read count too)"
                ),
            );
        }
        let Some(name) = s.by_id.get(&service_id).cloned() else {
            return fail(
                &s,
                format!("Unknown service ID {service_id} (the service may have gone away)"),
            );
        };
        let Some(a) = s.advertised.get(&name) else {
            return fail(&s, format!("Unknown service ID {service_id}"));
        };
        let type_name = a.type_name.clone();
        let (req_schema, resp_schema) = match &a.schemas {
            Ok(v) => v.clone(),
            Err(reason) => {
                let m = format!("Cannot call {name}: no definition for {type_name}: {reason}");
                return fail(&s, m);
            }
        };
        let enc = match encoding {
            "cdr" => Encoding::Cdr,
            "json" => Encoding::Json,
            other => {
                return fail(
                    &s,
                    format!("Unsupported encoding {other:?} for {name}: use \"cdr\" or \"json\""),
                )
            }
        };
        let request = match decode_request(enc, &req_schema, &payload) {
            Ok(v) => v,
            Err(reason) => {
                return fail(
                    &s,
                    format!(
                        "Request for {name} does not fit {}: {reason}",
                        req_schema.name
                    ),
                )
            }
        };
        s.next_call += 1;
        let call = s.next_call;
        if let Some(c) = s.clients.get_mut(&client) {
            c.in_flight += 1;
        }
        let internal = s.internal.get(&name).cloned();
        s.calls.insert(
            call,
            PendingCall {
                client,
                service_id,
                call_id,
                service: name.clone(),
                encoding: enc,
                response: resp_schema,
                deadline: Instant::now() + self.config.service_call_timeout,
            },
        );
        drop(s);
        if let Some(handler) = internal {
            let events = self.self_events.clone();
            handler(
                request,
                Box::new(move |result| {
                    let _ = events.send(RosEvent::ServiceResponse { call, result });
                }),
            );
            return Ok(());
        }
        self.ros.send(RosCommand::CallService {
            call,
            service: name,
            type_name,
            request,
        });
        Ok(())
    }

    /// Offer a service answered by the hub itself (see the module docs). Advertised to viewers
    /// (if `services` is offered) and callable by ROS peers once the backend provides it.
    pub fn register_internal_service(&self, name: &str, type_name: &str, handler: InternalHandler) {
        let schemas = self.schemas.service(type_name).map_err(|e| e.to_string());
        if let Err(reason) = &schemas {
            tracing::warn!(service = name, %reason, "internal service without schema");
        }
        let mut s = self.services.lock();
        s.internal.insert(name.to_string(), handler);
        if !self.offers("services") {
            return;
        }
        let id = s.id_for(name, type_name);
        let a = Advertised {
            id,
            type_name: type_name.to_string(),
            schemas,
        };
        let wire = wire_service(name, &a);
        s.by_id.insert(id, name.to_string());
        s.advertised.insert(name.to_string(), a);
        s.broadcast(
            GraphMessage::AdvertiseServices {
                services: vec![wire],
            }
            .to_json(),
        );
    }

    /// A ROS peer called a service the hub provides.
    pub(super) fn peer_service_request(
        &self,
        request: u64,
        service: &str,
        body: serde_json::Value,
    ) {
        let handler = self.services.lock().internal.get(service).cloned();
        let ros = self.ros.clone();
        let Some(handler) = handler else {
            ros.send(RosCommand::AnswerService {
                request,
                response: Err(format!("{service} is not a service of this gateway")),
            });
            return;
        };
        handler(
            body,
            Box::new(move |response| {
                ros.send(RosCommand::AnswerService { request, response });
            }),
        );
    }

    /// The backend answered a call (late answers to abandoned calls are dropped).
    pub(super) fn service_response(
        &self,
        call: CallKey,
        result: Result<serde_json::Value, String>,
    ) {
        let mut s = self.services.lock();
        let Some(p) = s.finish(call) else {
            tracing::debug!(call, "service answer for an abandoned call");
            return;
        };
        let reply = match result {
            Err(reason) => failure(
                p.service_id,
                p.call_id,
                format!("Service {} failed: {reason}", p.service),
            ),
            Ok(value) => match encode_response(p.encoding, &p.response, &value) {
                Ok((enc, bytes)) => Control::Binary(binary::service_call_response(
                    p.service_id,
                    p.call_id,
                    enc,
                    &bytes,
                )),
                Err(reason) => failure(
                    p.service_id,
                    p.call_id,
                    format!(
                        "Response from {} does not fit {}: {reason}",
                        p.service, p.response.name
                    ),
                ),
            },
        };
        s.send(p.client, reply);
    }

    /// Fail calls past their deadline.
    pub(super) fn expire_calls(&self, now: Instant) {
        let mut s = self.services.lock();
        if s.calls.is_empty() {
            return;
        }
        let expired: Vec<CallKey> = s
            .calls
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        let ms = self.config.service_call_timeout.as_millis();
        for call in expired {
            if let Some(p) = s.finish(call) {
                self.ros.send(RosCommand::CancelCall { call });
                let m = format!(
                    "Service {} did not answer within {ms} ms (service_call_timeout_ms)",
                    p.service
                );
                s.send(p.client, failure(p.service_id, p.call_id, m));
            }
        }
    }

    /// Calls in flight (all viewers), for tests and metrics.
    pub fn service_calls_in_flight(&self) -> usize {
        self.services.lock().calls.len()
    }
}

/// The viewer's request as complete JSON (every field present, defaults filled in).
fn decode_request(
    enc: Encoding,
    schema: &ResolvedSchema,
    payload: &[u8],
) -> Result<serde_json::Value, String> {
    match enc {
        Encoding::Cdr => cdr_to_json(schema, payload).map_err(|e| e.to_string()),
        Encoding::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(payload).map_err(|e| format!("invalid JSON: {e}"))?;
            // Encoding checks every field against the definition; decoding the result gives
            // the complete request the backend needs.
            let cdr = json_to_cdr(schema, &value).map_err(|e| e.to_string())?;
            cdr_to_json(schema, &cdr).map_err(|e| e.to_string())
        }
    }
}

fn encode_response(
    enc: Encoding,
    schema: &ResolvedSchema,
    value: &serde_json::Value,
) -> Result<(&'static str, Vec<u8>), String> {
    // Both paths go through the codec so a response that does not fit its type is caught here
    // rather than in the viewer.
    let cdr = json_to_cdr(schema, value).map_err(|e| e.to_string())?;
    match enc {
        Encoding::Cdr => Ok(("cdr", cdr)),
        Encoding::Json => {
            let full = cdr_to_json(schema, &cdr).map_err(|e| e.to_string())?;
            Ok(("json", full.to_string().into_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(defs: &[(&str, &str)]) -> ResolvedSchema {
        crate::schema::parse_ros2msg(defs[0].0, defs[0].1).unwrap()
    }

    #[test]
    fn json_request_is_completed_and_checked() {
        let s = schema(&[("t/srv/X_Request", "bool data\nint32 n 7")]);
        let v = decode_request(Encoding::Json, &s, br#"{"data":true}"#).unwrap();
        assert_eq!(v, serde_json::json!({"data": true, "n": 7}));
        let e = decode_request(Encoding::Json, &s, br#"{"data":"yes"}"#).unwrap_err();
        assert!(e.contains("data"), "{e}");
        let e = decode_request(Encoding::Json, &s, b"{").unwrap_err();
        assert!(e.starts_with("invalid JSON"), "{e}");
        let e = decode_request(Encoding::Cdr, &s, &[0, 1, 0]).unwrap_err();
        assert!(!e.is_empty());
    }

    #[test]
    fn response_goes_back_in_the_request_encoding() {
        let s = schema(&[("t/srv/X_Response", "bool success\nstring message")]);
        let v = serde_json::json!({"success": true, "message": "ok"});
        let (enc, bytes) = encode_response(Encoding::Cdr, &s, &v).unwrap();
        assert_eq!(enc, "cdr");
        assert_eq!(cdr_to_json(&s, &bytes).unwrap(), v);
        let (enc, bytes) = encode_response(Encoding::Json, &s, &v).unwrap();
        assert_eq!(enc, "json");
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, v);
        assert!(encode_response(Encoding::Cdr, &s, &serde_json::json!({"success": 3})).is_err());
    }
}
