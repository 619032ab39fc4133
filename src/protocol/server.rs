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
        };
        assert_eq!(
            ServerMessage::ServerInfo(&info).to_json(),
            r#"{"op":"serverInfo","name":"robot","capabilities":["clientPublish"],"supportedEncodings":["cdr","json"],"metadata":{"ROS_DISTRO":"jazzy"},"sessionId":"1767225600000"}"#
        );
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
}
