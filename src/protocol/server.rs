//! Server → client JSON messages.

use std::collections::BTreeMap;

use serde::Serialize;

/// `serverInfo`: the first message on every connection.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Capabilities offered.
    pub capabilities: Vec<String>,
    /// Encodings accepted for client publishing and service calls; `cdr` first, because the
    /// Foxglove app publishes with the first one it supports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supported_encodings: Vec<String>,
    /// `ROS_DISTRO`, `fg-library`, ...
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Changes when the server restarts, so viewers reset their state.
    pub session_id: String,
    /// First log time of the data (with `playbackControl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_start_time: Option<Timestamp>,
    /// Last log time of the data (with `playbackControl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_end_time: Option<Timestamp>,
}

/// A time as `{"sec": u32, "nsec": u32}` (JSON numbers stay exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timestamp {
    /// Seconds since the epoch.
    pub sec: u32,
    /// Nanoseconds within the second.
    pub nsec: u32,
}

impl Timestamp {
    /// Split nanoseconds since the epoch (saturating at u32 seconds).
    pub fn from_ns(ns: u64) -> Self {
        Timestamp {
            sec: u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX),
            nsec: (ns % 1_000_000_000) as u32,
        }
    }
}

/// Severity of a `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "u8")]
pub enum StatusLevel {
    /// 0.
    Info,
    /// 1.
    Warning,
    /// 2.
    Error,
}

impl From<StatusLevel> for u8 {
    fn from(l: StatusLevel) -> u8 {
        match l {
            StatusLevel::Info => 0,
            StatusLevel::Warning => 1,
            StatusLevel::Error => 2,
        }
    }
}

/// A channel as advertised (inline-schema form).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// Channel id.
    pub id: u64,
    /// Topic.
    pub topic: String,
    /// Message encoding (`cdr`).
    pub encoding: String,
    /// ROS type.
    pub schema_name: String,
    /// `ros2msg` or `ros2idl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_encoding: Option<String>,
    /// Schema text.
    pub schema: String,
    /// Extra metadata (e.g. `foxglove.reliable` for remote access).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A JSON message from the server.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ServerMessage<'a> {
    /// See [`ServerInfo`].
    ServerInfo(&'a ServerInfo),
    /// A status for the viewer to show.
    Status {
        /// Severity.
        level: StatusLevel,
        /// Text.
        message: &'a str,
        /// Id; a later status with the same id replaces it.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
    },
    /// Withdraw statuses.
    RemoveStatus {
        /// Their ids.
        status_ids: &'a [String],
    },
    /// New channels.
    Advertise {
        /// The channels.
        channels: &'a [&'a Channel],
    },
    /// Channels gone.
    Unadvertise {
        /// Their ids.
        channel_ids: &'a [u64],
    },
}

impl ServerMessage<'_> {
    /// Encode as a JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// Schema of one side (request or response) of an advertised service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSchema {
    /// Message encoding the server uses for this side (`cdr`).
    pub encoding: String,
    /// `pkg/srv/Type_Request` or `_Response`.
    pub schema_name: String,
    /// `ros2msg` or `ros2idl`.
    pub schema_encoding: String,
    /// Schema text.
    pub schema: String,
}

/// A service as advertised. Without a definition, the legacy empty `requestSchema` /
/// `responseSchema` strings are sent instead of `request` / `response`, as the SDK does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Service id.
    pub id: u32,
    /// Service name.
    pub name: String,
    /// Type `pkg/srv/Type`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Request schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<ServiceSchema>,
    /// Response schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ServiceSchema>,
    /// Legacy request schema text (only when `request` is absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_schema: Option<String>,
    /// Legacy response schema text (only when `response` is absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<String>,
}

/// One parameter in `parameterValues`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterOut {
    /// `/node.param`.
    pub name: String,
    /// The value; absent when the parameter was unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// `byte_array`, `float64` or `float64_array`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_hint: Option<&'static str>,
}

/// Server messages for services, parameters and the connection graph, owned so they can be
/// built by the hub and queued as text.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum GraphMessage {
    /// New services.
    AdvertiseServices {
        /// The services.
        services: Vec<Service>,
    },
    /// Services gone.
    UnadvertiseServices {
        /// Their ids.
        service_ids: Vec<u32>,
    },
    /// A service call that failed.
    ServiceCallFailure {
        /// Service id.
        service_id: u32,
        /// Call id.
        call_id: u32,
        /// Why.
        message: String,
    },
    /// Parameter values (a reply when `id` is set, else an update).
    ParameterValues {
        /// The parameters.
        parameters: Vec<ParameterOut>,
        /// The request id answered.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// A connection graph diff.
    ConnectionGraphUpdate {
        /// Topics with their publishers (each replaces the previous set).
        published_topics: Vec<PublishedTopic>,
        /// Topics with their subscribers.
        subscribed_topics: Vec<SubscribedTopic>,
        /// Services with their providers.
        advertised_services: Vec<AdvertisedService>,
        /// Topics gone from both maps.
        removed_topics: Vec<String>,
        /// Services gone.
        removed_services: Vec<String>,
    },
}

/// A topic and its publishers in `connectionGraphUpdate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedTopic {
    /// Topic.
    pub name: String,
    /// Publishing nodes.
    pub publisher_ids: Vec<String>,
}

/// A topic and its subscribers in `connectionGraphUpdate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedTopic {
    /// Topic.
    pub name: String,
    /// Subscribing nodes.
    pub subscriber_ids: Vec<String>,
}

/// A service and its providers in `connectionGraphUpdate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvertisedService {
    /// Service.
    pub name: String,
    /// Providing nodes.
    pub provider_ids: Vec<String>,
}

impl GraphMessage {
    /// Encode as a JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// How many channels go in one `advertise`, as the SDK does, so one message stays small.
pub const ADVERTISE_BATCH: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_info_json() {
        let info = ServerInfo {
            name: "robot".into(),
            capabilities: vec!["clientPublish".into()],
            supported_encodings: vec!["cdr".into(), "json".into()],
            metadata: [("ROS_DISTRO".to_string(), "jazzy".to_string())].into(),
            session_id: "1767225600000".into(),
            data_start_time: None,
            data_end_time: None,
        };
        assert_eq!(
            ServerMessage::ServerInfo(&info).to_json(),
            r#"{"op":"serverInfo","name":"robot","capabilities":["clientPublish"],"supportedEncodings":["cdr","json"],"metadata":{"ROS_DISTRO":"jazzy"},"sessionId":"1767225600000"}"#
        );
        let info = ServerInfo {
            capabilities: vec!["playbackControl".into(), "time".into()],
            data_start_time: Some(Timestamp::from_ns(1_700_000_000_123_456_789)),
            data_end_time: Some(Timestamp::from_ns(1_700_000_010_000_000_001)),
            ..info
        };
        assert!(ServerMessage::ServerInfo(&info).to_json().ends_with(
            r#""sessionId":"1767225600000","dataStartTime":{"sec":1700000000,"nsec":123456789},"dataEndTime":{"sec":1700000010,"nsec":1}}"#
        ));
    }

    #[test]
    fn status_and_advertise_json() {
        let s = ServerMessage::Status {
            level: StatusLevel::Error,
            message: "bad",
            id: None,
        };
        assert_eq!(s.to_json(), r#"{"op":"status","level":2,"message":"bad"}"#);
        let s = ServerMessage::Status {
            level: StatusLevel::Warning,
            message: "w",
            id: Some("x"),
        };
        assert_eq!(
            s.to_json(),
            r#"{"op":"status","level":1,"message":"w","id":"x"}"#
        );
        let c = Channel {
            id: 1,
            topic: "/a".into(),
            encoding: "cdr".into(),
            schema_name: "std_msgs/msg/String".into(),
            schema_encoding: Some("ros2msg".into()),
            schema: "string data".into(),
            metadata: BTreeMap::new(),
        };
        assert_eq!(
            ServerMessage::Advertise { channels: &[&c] }.to_json(),
            r#"{"op":"advertise","channels":[{"id":1,"topic":"/a","encoding":"cdr","schemaName":"std_msgs/msg/String","schemaEncoding":"ros2msg","schema":"string data"}]}"#
        );
        assert_eq!(
            ServerMessage::Unadvertise {
                channel_ids: &[1, 2]
            }
            .to_json(),
            r#"{"op":"unadvertise","channelIds":[1,2]}"#
        );
        assert_eq!(
            ServerMessage::RemoveStatus {
                status_ids: &["a".into()]
            }
            .to_json(),
            r#"{"op":"removeStatus","statusIds":["a"]}"#
        );
    }
    #[test]
    fn service_and_parameter_messages_json() {
        let svc = Service {
            id: 3,
            name: "/set".into(),
            type_name: "std_srvs/srv/SetBool".into(),
            request: Some(ServiceSchema {
                encoding: "cdr".into(),
                schema_name: "std_srvs/srv/SetBool_Request".into(),
                schema_encoding: "ros2msg".into(),
                schema: "bool data".into(),
            }),
            response: None,
            request_schema: None,
            response_schema: Some(String::new()),
        };
        assert_eq!(
            GraphMessage::AdvertiseServices {
                services: vec![svc]
            }
            .to_json(),
            r#"{"op":"advertiseServices","services":[{"id":3,"name":"/set","type":"std_srvs/srv/SetBool","request":{"encoding":"cdr","schemaName":"std_srvs/srv/SetBool_Request","schemaEncoding":"ros2msg","schema":"bool data"},"responseSchema":""}]}"#
        );
        assert_eq!(
            GraphMessage::UnadvertiseServices {
                service_ids: vec![1, 2]
            }
            .to_json(),
            r#"{"op":"unadvertiseServices","serviceIds":[1,2]}"#
        );
        assert_eq!(
            GraphMessage::ServiceCallFailure {
                service_id: 1,
                call_id: 9,
                message: "m".into()
            }
            .to_json(),
            r#"{"op":"serviceCallFailure","serviceId":1,"callId":9,"message":"m"}"#
        );
        let p = GraphMessage::ParameterValues {
            parameters: vec![
                ParameterOut {
                    name: "/n.f".into(),
                    value: Some(serde_json::json!(1.0)),
                    type_hint: Some("float64"),
                },
                ParameterOut {
                    name: "/n.gone".into(),
                    value: None,
                    type_hint: None,
                },
            ],
            id: Some("r".into()),
        };
        assert_eq!(
            p.to_json(),
            r#"{"op":"parameterValues","parameters":[{"name":"/n.f","value":1.0,"type":"float64"},{"name":"/n.gone"}],"id":"r"}"#
        );
        let g = GraphMessage::ConnectionGraphUpdate {
            published_topics: vec![PublishedTopic {
                name: "/a".into(),
                publisher_ids: vec!["/n".into()],
            }],
            subscribed_topics: vec![],
            advertised_services: vec![AdvertisedService {
                name: "/s".into(),
                provider_ids: vec!["/m".into()],
            }],
            removed_topics: vec!["/b".into()],
            removed_services: vec![],
        };
        assert_eq!(
            g.to_json(),
            r#"{"op":"connectionGraphUpdate","publishedTopics":[{"name":"/a","publisherIds":["/n"]}],"subscribedTopics":[],"advertisedServices":[{"name":"/s","providerIds":["/m"]}],"removedTopics":["/b"],"removedServices":[]}"#
        );
    }
}
