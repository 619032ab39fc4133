//! Client publishing: viewer channels → ROS publishers, JSON → CDR, and the teleop safety stop.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{status, ClientError, ClientId, Control, Hub, State};
use crate::cdr;
use crate::protocol::client::ClientChannel;
use crate::protocol::server::StatusLevel;
use crate::ros::{PublisherKey, RosCommand};
use crate::schema::{self, ResolvedSchema};

/// How a client channel's payloads arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// Passed through byte-identical.
    Cdr,
    /// Converted with our schema-driven codec.
    Json,
}

/// Refused client channel ids remembered per viewer (so their unadvertise is accepted quietly);
/// beyond this a refused channel's unadvertise gets an "unknown channel" status instead.
const REFUSED_REMEMBERED: usize = 1024;
/// How often at most a viewer is told about publications ROS did not take in time.
const PUBLISH_DROP_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// Status id of that report, so the app replaces the previous one.
const PUBLISH_DROP_STATUS_ID: &str = "dropped-publications";

/// Types that get a zero message when their viewer goes away (robots keep the last velocity).
const TWIST: &str = "geometry_msgs/msg/Twist";
const TWIST_STAMPED: &str = "geometry_msgs/msg/TwistStamped";

pub(super) struct Publisher {
    client: ClientId,
    topic: String,
    type_name: String,
    encoding: Encoding,
    schema: Arc<ResolvedSchema>,
    /// The last CDR published, kept only for velocity types (to stop the robot on release).
    last_velocity: Option<Bytes>,
}

impl Hub {
    /// A viewer advertises a channel it will publish on.
    pub fn client_advertise(&self, client: ClientId, ch: ClientChannel) -> Result<(), ClientError> {
        let id = ch.id;
        let result = self.try_client_advertise(client, ch);
        if let Err(e) = &result {
            if !matches!(e, ClientError::ClientChannelInUse(_)) {
                if let Some(c) = self.state.lock().clients.get_mut(&client) {
                    if c.refused.len() < REFUSED_REMEMBERED {
                        c.refused.insert(id);
                    }
                }
            }
        }
        result
    }

    fn try_client_advertise(&self, client: ClientId, ch: ClientChannel) -> Result<(), ClientError> {
        if !self.offers("clientPublish") {
            return Err(ClientError::Unsupported("clientPublish"));
        }
        let encoding = match ch.encoding.as_str() {
            "cdr" => Encoding::Cdr,
            "json" => Encoding::Json,
            _ => {
                return Err(ClientError::UnsupportedEncoding {
                    topic: ch.topic,
                    encoding: ch.encoding,
                })
            }
        };
        if !self.config.client_topic_whitelist.matches(&ch.topic) {
            tracing::warn!(client, topic = %ch.topic, "client publish refused by client_topic_whitelist");
            return Err(ClientError::TopicNotAllowed(ch.topic));
        }
        {
            let state = self.state.lock();
            let limit = self.config.max_client_channels;
            match state.clients.get(&client) {
                Some(c) if c.pubs.contains_key(&ch.id) => {
                    return Err(ClientError::ClientChannelInUse(ch.id))
                }
                Some(c) if c.pubs.len() >= limit => {
                    return Err(ClientError::TooManyClientChannels {
                        id: ch.id,
                        topic: ch.topic,
                        limit,
                    })
                }
                Some(_) => {}
                None => return Ok(()),
            }
        }
        let schema = self.resolve_client_schema(&ch)?;
        let type_name = schema.name.clone();
        let mut state = self.state.lock();
        let key = state.next_publisher_key;
        state.next_publisher_key += 1;
        let Some(c) = state.clients.get_mut(&client) else {
            return Ok(());
        };
        // Checked again: the lock was released while the schema was resolved.
        if c.pubs.contains_key(&ch.id) {
            return Err(ClientError::ClientChannelInUse(ch.id));
        }
        if c.pubs.len() >= self.config.max_client_channels {
            return Err(ClientError::TooManyClientChannels {
                id: ch.id,
                topic: ch.topic,
                limit: self.config.max_client_channels,
            });
        }
        c.pubs.insert(ch.id, key);
        c.refused.remove(&ch.id);
        tracing::info!(client, topic = %ch.topic, %type_name, encoding = %ch.encoding, "client advertised");
        self.ros.send(RosCommand::Advertise {
            key,
            topic: ch.topic.clone(),
            type_name: type_name.clone(),
        });
        state.publishers.insert(
            key,
            Publisher {
                client,
                topic: ch.topic,
                type_name,
                encoding,
                schema,
                last_velocity: None,
            },
        );
        Ok(())
    }

    /// The definition to publish with: ours from the ament index (what the robot's nodes use),
    /// else the viewer's own `ros2msg` text if it sent one that parses and is of sane size.
    fn resolve_client_schema(
        &self,
        ch: &ClientChannel,
    ) -> Result<Arc<ResolvedSchema>, ClientError> {
        let unresolved = |reason: String| ClientError::UnresolvedSchema {
            topic: ch.topic.clone(),
            schema_name: ch.schema_name.clone(),
            reason,
        };
        let local_err = match self.schemas.message(&ch.schema_name) {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        let provided = ch
            .schema
            .as_deref()
            .filter(|s| !s.is_empty())
            .filter(|_| matches!(ch.schema_encoding.as_deref(), None | Some("ros2msg")));
        let Some(text) = provided else {
            return Err(unresolved(local_err.to_string()));
        };
        let schema = schema::parse_ros2msg(&ch.schema_name, text)
            .map_err(|e| unresolved(format!("{local_err}; the schema sent does not parse: {e}")))?;
        // A schema from a viewer could declare `uint8[4000000000] x`: even `{}` would then
        // encode to gigabytes. Refuse types whose smallest message exceeds what a viewer may send.
        let limit = self.config.max_incoming_message_size as u64;
        let min = min_encoded_size(&schema, &schema.name, 0);
        if min > limit {
            return Err(unresolved(format!(
                "the schema sent describes messages of at least {min} bytes, over the \
                 {limit}-byte limit (max_incoming_message_size)"
            )));
        }
        Ok(Arc::new(schema))
    }

    /// A viewer withdraws a client channel.
    pub fn client_unadvertise(&self, client: ClientId, channel_id: u32) -> Result<(), ClientError> {
        let mut state = self.state.lock();
        let Some(c) = state.clients.get_mut(&client) else {
            return Ok(());
        };
        let Some(key) = c.pubs.remove(&channel_id) else {
            if c.refused.remove(&channel_id) {
                return Ok(());
            }
            return Err(ClientError::UnknownClientChannel(channel_id));
        };
        self.release_publisher(&mut state, key);
        Ok(())
    }

    /// A message on a client channel.
    pub fn client_message(
        &self,
        client: ClientId,
        channel_id: u32,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        let mut state = self.state.lock();
        let key = state
            .clients
            .get(&client)
            .and_then(|c| c.pubs.get(&channel_id).copied())
            .ok_or(ClientError::UnknownClientChannel(channel_id))?;
        let Some(p) = state.publishers.get_mut(&key) else {
            return Err(ClientError::UnknownClientChannel(channel_id));
        };
        let bad = |reason: String| ClientError::BadMessage {
            topic: p.topic.clone(),
            type_name: p.type_name.clone(),
            reason,
        };
        let cdr = match p.encoding {
            Encoding::Cdr => {
                check_encapsulation(&payload).map_err(|r| bad(r.to_string()))?;
                payload
            }
            Encoding::Json => {
                let value: serde_json::Value = serde_json::from_slice(&payload)
                    .map_err(|e| bad(format!("invalid JSON: {e}")))?;
                Bytes::from(cdr::json_to_cdr(&p.schema, &value).map_err(|e| bad(e.to_string()))?)
            }
        };
        if p.type_name == TWIST || p.type_name == TWIST_STAMPED {
            p.last_velocity = Some(cdr.clone());
        }
        self.ros.send(RosCommand::Publish { key, payload: cdr });
        Ok(())
    }

    /// Release a publisher: the safety stop for velocity topics first, then the ROS publisher.
    pub(super) fn release_publisher(&self, state: &mut State, key: PublisherKey) {
        let Some(p) = state.publishers.remove(&key) else {
            return;
        };
        if self.config.zero_twist_on_disconnect {
            if let Some(last) = &p.last_velocity {
                match zero_velocity(&p.schema, last) {
                    Ok(zero) => {
                        tracing::info!(topic = %p.topic, "viewer left: publishing zero velocity");
                        self.ros.send(RosCommand::Publish {
                            key,
                            payload: Bytes::from(zero),
                        });
                    }
                    Err(e) => {
                        tracing::error!(topic = %p.topic, error = %e, "cannot build zero velocity")
                    }
                }
            }
        }
        tracing::info!(client = p.client, topic = %p.topic, "client publisher released");
        self.ros.send(RosCommand::Unadvertise { key });
    }

    /// Tell viewers (at most every 2 s) which of their publications were dropped because ROS
    /// did not take them as fast as they came (`client_publish_queue_size`).
    pub(super) fn report_publish_drops(&self, now: std::time::Instant) {
        let drops = {
            let mut last = self.publish_report.lock();
            if last.is_some_and(|t| now.duration_since(t) < PUBLISH_DROP_REPORT_INTERVAL) {
                return;
            }
            let drops = self.ros.take_publish_drops();
            if drops.is_empty() {
                return;
            }
            *last = Some(now);
            drops
        };
        let state = self.state.lock();
        let mut by_client: BTreeMap<ClientId, Vec<(&str, u64)>> = BTreeMap::new();
        for (key, n) in drops {
            match state.publishers.get(&key) {
                Some(p) => by_client
                    .entry(p.client)
                    .or_default()
                    .push((p.topic.as_str(), n)),
                None => tracing::warn!(
                    publisher = key,
                    dropped = n,
                    "dropped publications of a publisher already released"
                ),
            }
        }
        let depth = self.config.client_publish_queue_size;
        for (client, topics) in by_client {
            let total: u64 = topics.iter().map(|(_, n)| n).sum();
            let list: Vec<String> = topics.iter().map(|(t, n)| format!("{t} ({n})")).collect();
            let message = format!(
                "Dropped {total} of your publication(s) because ROS did not take them as fast as \
                 they came (at most {depth} wait per topic, client_publish_queue_size; the \
                 newest are kept): {}",
                list.join(", ")
            );
            tracing::warn!(client, dropped = total, "{message}");
            if let Some(c) = state.clients.get(&client) {
                let _ = c.outbox.push_control(Control::Status {
                    level: StatusLevel::Warning,
                    message,
                    id: Some(PUBLISH_DROP_STATUS_ID.into()),
                });
            }
        }
    }

    pub(super) fn publisher_failed(&self, key: PublisherKey, reason: &str) {
        let mut state = self.state.lock();
        let Some(p) = state.publishers.get(&key) else {
            return;
        };
        let message = format!("Cannot publish on {} ({}): {reason}", p.topic, p.type_name);
        tracing::warn!(topic = %p.topic, %reason, "ROS publisher failed");
        let client = p.client;
        if let Some(c) = state.clients.get_mut(&client) {
            let _ = c.outbox.push_control(status(StatusLevel::Error, &message));
        }
    }
}

/// A lower bound on the CDR size of a message of type `name` (alignment ignored), saturating.
fn min_encoded_size(schema: &ResolvedSchema, name: &str, depth: usize) -> u64 {
    use crate::schema::{ArrayKind, BaseType};
    let Some(def) = schema.get(name) else {
        return 0;
    };
    if depth > 64 {
        return u64::MAX;
    }
    let mut total: u64 = 0;
    for f in &def.fields {
        let element = match &f.base {
            BaseType::Primitive(p) => p.min_wire_size() as u64,
            BaseType::Message(m) => min_encoded_size(schema, m, depth + 1),
        };
        let size = match f.array {
            ArrayKind::Scalar => element,
            ArrayKind::Fixed(n) => element.saturating_mul(u64::from(n)),
            ArrayKind::Bounded(_) | ArrayKind::Unbounded => 4,
        };
        total = total.saturating_add(size);
    }
    total
}

/// The CDR encapsulation header: 2 bytes of representation id (CDR/PL_CDR/XCDR2, BE or LE)
/// and 2 bytes of options. Anything else would be handed to the middleware as garbage.
fn check_encapsulation(payload: &[u8]) -> Result<(), &'static str> {
    match payload {
        [0x00, 0x00..=0x0b, _, _, ..] => Ok(()),
        [_, _, _, _, ..] => {
            Err("not CDR: the 4-byte encapsulation header is not a known representation")
        }
        _ => Err("not CDR: shorter than the 4-byte encapsulation header"),
    }
}

/// A zero velocity of the same type; for TwistStamped the last frame_id with a fresh stamp.
fn zero_velocity(schema: &ResolvedSchema, last: &[u8]) -> Result<Vec<u8>, cdr::CdrError> {
    let mut value = serde_json::json!({});
    if schema.name == TWIST_STAMPED {
        let frame_id = cdr::cdr_to_json(schema, last)
            .ok()
            .and_then(|v| v.pointer("/header/frame_id").cloned())
            .unwrap_or_else(|| serde_json::json!(""));
        let now = crate::ros::now_ns();
        value = serde_json::json!({
            "header": {
                "stamp": {"sec": now / 1_000_000_000, "nanosec": now % 1_000_000_000},
                "frame_id": frame_id,
            }
        });
    }
    cdr::json_to_cdr(schema, &value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_fixed_arrays_are_measured() {
        let s = schema::parse_ros2msg(
            "a/msg/A",
            "uint8[4000000000] x\nB[1000] b\n===\nMSG: a/B\nfloat64[1000000] y\n",
        )
        .unwrap();
        assert!(min_encoded_size(&s, "a/msg/A", 0) >= 4_000_000_000 + 8_000_000_000);
        let s = schema::parse_ros2msg("a/msg/T", "float64 x\nstring s\nint32[] v\n").unwrap();
        assert_eq!(min_encoded_size(&s, "a/msg/T", 0), 8 + 4 + 4);
    }

    #[test]
    fn publications_ros_does_not_take_are_dropped_oldest_first_and_reported() {
        let config = crate::config::Config {
            client_publish_queue_size: 4,
            ..crate::config::Config::default()
        };
        let schemas = Arc::new(crate::schema::SchemaStore::new(vec![
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/interfaces")),
        ]));
        // No backend drains the commands: ROS is stuck.
        let (hub, mut io, _events) = Hub::new(Arc::new(config), schemas);
        let outbox = Arc::new(crate::hub::Outbox::new(crate::hub::Limits {
            control_messages: 100,
            data_messages: 10,
            data_bytes: 1 << 20,
        }));
        let client = hub.connect(outbox.clone());
        let ch = |id: u32| ClientChannel {
            id,
            topic: "/cmd_vel".into(),
            encoding: "cdr".into(),
            schema_name: TWIST.into(),
            schema_encoding: None,
            schema: None,
        };
        hub.client_advertise(client, ch(1)).unwrap();
        let twist = |x: u8| Bytes::from([&[0u8, 1, 0, 0][..], &[x; 48][..]].concat());
        for i in 0..20 {
            hub.client_message(client, 1, twist(i)).unwrap();
        }
        // In the channel: the advertisement and the first publication; 4 wait; 15 dropped.
        assert_eq!(hub.ros.publish_waiting(), (4, 4 * 52));
        assert_eq!(hub.ros.publish_dropped_total(), 15);
        let now = std::time::Instant::now();
        hub.report_publish_drops(now);
        let mut out = Vec::new();
        outbox.pop_batch(&mut out, 100, 1 << 20).unwrap();
        let report = out
            .iter()
            .find_map(|o| match o {
                crate::hub::Outgoing::Control(Control::Status { message, id, .. })
                    if id.as_deref() == Some(PUBLISH_DROP_STATUS_ID) =>
                {
                    Some(message.clone())
                }
                _ => None,
            })
            .expect("a drop report");
        assert!(report.contains("/cmd_vel (15)"), "{report}");
        assert!(report.contains("client_publish_queue_size"), "{report}");
        // ROS catches up: the newest four, in order.
        let mut published = Vec::new();
        while let Ok(cmd) = io.commands.try_recv() {
            if let RosCommand::Publish { payload, .. } = &cmd {
                published.push(payload[4]);
            }
        }
        assert_eq!(published, vec![0, 16, 17, 18, 19]);
    }

    #[test]
    fn encapsulation_header() {
        assert!(check_encapsulation(&[0, 1, 0, 0]).is_ok());
        assert!(check_encapsulation(&[0, 1, 0, 0, 5, 6]).is_ok());
        assert!(check_encapsulation(&[0, 1, 0]).is_err());
        assert!(check_encapsulation(&[7, 1, 0, 0]).is_err());
        assert!(check_encapsulation(b"{\"linear\":1}").is_err());
    }
}
