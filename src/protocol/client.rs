//! Client → server messages.

use bytes::Bytes;
use serde::Deserialize;

use super::binary::{client_op, Reader};
use super::ParseError;

/// One entry of a v1 `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Client-chosen subscription id.
    pub id: u32,
    /// Server channel id.
    pub channel_id: u64,
}

/// One channel of a client `advertise`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientChannel {
    /// Client-chosen channel id.
    pub id: u32,
    /// Topic to publish on.
    pub topic: String,
    /// `cdr` or `json`.
    pub encoding: String,
    /// ROS type, `pkg/msg/Type`.
    pub schema_name: String,
    /// Optional schema text (`ros2msg`).
    #[serde(default)]
    pub schema: Option<String>,
    /// Encoding of `schema`.
    #[serde(default)]
    pub schema_encoding: Option<String>,
}

/// A parameter in `setParameters`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterIn {
    /// Parameter name.
    pub name: String,
    /// New value; absent means unset.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// Type hint: `byte_array`, `float64`, `float64_array`.
    #[serde(default, rename = "type")]
    pub type_hint: Option<String>,
}

/// A JSON message from a viewer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ClientMessage {
    /// Subscribe to channels (v1 shape).
    Subscribe {
        /// The subscriptions.
        subscriptions: Vec<Subscription>,
    },
    /// End subscriptions.
    Unsubscribe {
        /// Their ids.
        subscription_ids: Vec<u32>,
    },
    /// Announce client channels for publishing.
    Advertise {
        /// The channels.
        channels: Vec<ClientChannel>,
    },
    /// Withdraw client channels.
    Unadvertise {
        /// Their ids.
        channel_ids: Vec<u32>,
    },
    /// Get parameters (empty = all).
    GetParameters {
        /// Names.
        parameter_names: Vec<String>,
        /// Request id echoed in the reply.
        #[serde(default)]
        id: Option<String>,
    },
    /// Set parameters.
    SetParameters {
        /// Values.
        parameters: Vec<ParameterIn>,
        /// Request id echoed in the reply.
        #[serde(default)]
        id: Option<String>,
    },
    /// Subscribe to parameter updates.
    SubscribeParameterUpdates {
        /// Names (empty = all known).
        parameter_names: Vec<String>,
    },
    /// Unsubscribe from parameter updates.
    UnsubscribeParameterUpdates {
        /// Names (empty = all).
        parameter_names: Vec<String>,
    },
    /// Subscribe to connection graph updates.
    SubscribeConnectionGraph,
    /// Unsubscribe from connection graph updates.
    UnsubscribeConnectionGraph,
    /// Fetch an asset by URI.
    FetchAsset {
        /// `package://` or `file://` URI.
        uri: String,
        /// Echoed in the response.
        request_id: u32,
    },
}

const OPS: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "advertise",
    "unadvertise",
    "getParameters",
    "setParameters",
    "subscribeParameterUpdates",
    "unsubscribeParameterUpdates",
    "subscribeConnectionGraph",
    "unsubscribeConnectionGraph",
    "fetchAsset",
];

impl ClientMessage {
    /// Parse a text frame. Distinguishes invalid JSON, a missing `op`, an unknown `op` and a
    /// known `op` with wrong fields, so the viewer is told exactly which.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
        let op = match value.get("op") {
            Some(serde_json::Value::String(op)) => op.clone(),
            _ if !value.is_object() => {
                return Err(ParseError::InvalidJson("expected a JSON object".into()))
            }
            _ => return Err(ParseError::MissingOp),
        };
        if !OPS.contains(&op.as_str()) {
            return Err(ParseError::UnknownOp(op));
        }
        serde_json::from_value(value).map_err(|e| ParseError::InvalidMessage {
            op,
            reason: e.to_string(),
        })
    }
}

/// A binary message from a viewer. Payloads share the frame's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientBinary {
    /// A message on a client channel.
    MessageData {
        /// Client channel id.
        channel_id: u32,
        /// The message in the channel's encoding.
        payload: Bytes,
    },
    /// A service call.
    ServiceCallRequest {
        /// Service id.
        service_id: u32,
        /// Client-chosen call id.
        call_id: u32,
        /// Request encoding.
        encoding: String,
        /// The request.
        payload: Bytes,
    },
    /// A playback control request (SDK extension; served when playing a recording).
    PlaybackControl(PlaybackControlRequest),
}

/// Play or pause, in a [`PlaybackControlRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackCommand {
    /// 0.
    Play,
    /// 1.
    Pause,
}

/// A Playback Control Request (binary 0x03): the whole desired state, not a delta.
#[derive(Debug, Clone)]
pub struct PlaybackControlRequest {
    /// Play or pause.
    pub command: PlaybackCommand,
    /// Desired speed (1.0 = real time); not validated here.
    pub speed: f32,
    /// Seek to this log time (ns) first, if set.
    pub seek_time: Option<u64>,
    /// Echoed in the Playback State reply.
    pub request_id: String,
}

impl PartialEq for PlaybackControlRequest {
    fn eq(&self, o: &Self) -> bool {
        self.command == o.command
            && self.speed.to_bits() == o.speed.to_bits()
            && self.seek_time == o.seek_time
            && self.request_id == o.request_id
    }
}
impl Eq for PlaybackControlRequest {}

/// Longest request id accepted in a Playback Control Request.
pub const MAX_PLAYBACK_REQUEST_ID: usize = 1024;

impl ClientBinary {
    /// Parse a binary frame.
    pub fn parse(frame: &Bytes) -> Result<Self, ParseError> {
        let Some(&op) = frame.first() else {
            return Err(ParseError::Empty);
        };
        match op {
            client_op::MESSAGE_DATA => {
                let mut r = Reader::new("client message data", &frame[1..]);
                let channel_id = r.u32()?;
                let start = 1 + r.position();
                Ok(ClientBinary::MessageData {
                    channel_id,
                    payload: frame.slice(start..),
                })
            }
            client_op::SERVICE_CALL_REQUEST => {
                let mut r = Reader::new("service call request", &frame[1..]);
                let service_id = r.u32()?;
                let call_id = r.u32()?;
                let encoding = r.string()?.to_string();
                let start = 1 + r.position();
                Ok(ClientBinary::ServiceCallRequest {
                    service_id,
                    call_id,
                    encoding,
                    payload: frame.slice(start..),
                })
            }
            client_op::PLAYBACK_CONTROL => {
                let mut r = Reader::new("playback control request", &frame[1..]);
                let command = match r.u8()? {
                    0 => PlaybackCommand::Play,
                    1 => PlaybackCommand::Pause,
                    other => {
                        return Err(ParseError::InvalidValue {
                            what: "playback command",
                            value: u64::from(other),
                        })
                    }
                };
                let speed = f32::from_bits(r.u32()?);
                let had_seek = r.u8()?;
                let seek = r.u64()?;
                let request_id = r.string()?;
                if request_id.len() > MAX_PLAYBACK_REQUEST_ID {
                    return Err(ParseError::InvalidValue {
                        what: "playback request id length",
                        value: request_id.len() as u64,
                    });
                }
                Ok(ClientBinary::PlaybackControl(PlaybackControlRequest {
                    command,
                    speed,
                    seek_time: match had_seek {
                        0 => None,
                        1 => Some(seek),
                        other => {
                            return Err(ParseError::InvalidValue {
                                what: "playback had_seek flag",
                                value: u64::from(other),
                            })
                        }
                    },
                    request_id: request_id.to_string(),
                }))
            }
            other => Err(ParseError::UnknownOpcode(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_subscribe_and_advertise() {
        let m = ClientMessage::parse(
            r#"{"op":"subscribe","subscriptions":[{"id":0,"channelId":3},{"id":1,"channelId":5}]}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ClientMessage::Subscribe {
                subscriptions: vec![
                    Subscription {
                        id: 0,
                        channel_id: 3
                    },
                    Subscription {
                        id: 1,
                        channel_id: 5
                    }
                ]
            }
        );
        let m = ClientMessage::parse(
            r#"{"op":"advertise","channels":[{"id":1,"topic":"/cmd_vel","encoding":"cdr","schemaName":"geometry_msgs/msg/Twist"}]}"#,
        )
        .unwrap();
        let ClientMessage::Advertise { channels } = m else {
            panic!()
        };
        assert_eq!(channels[0].schema_name, "geometry_msgs/msg/Twist");
        assert_eq!(channels[0].schema, None);
        assert_eq!(
            ClientMessage::parse(r#"{"op":"subscribeConnectionGraph"}"#).unwrap(),
            ClientMessage::SubscribeConnectionGraph
        );
    }

    #[test]
    fn errors_say_what_was_wrong() {
        assert!(matches!(
            ClientMessage::parse("{nope"),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(
            ClientMessage::parse("[1]"),
            Err(ParseError::InvalidJson(_))
        ));
        assert_eq!(
            ClientMessage::parse(r#"{"x":1}"#),
            Err(ParseError::MissingOp)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"op":"frobnicate"}"#),
            Err(ParseError::UnknownOp("frobnicate".into()))
        );
        let e = ClientMessage::parse(r#"{"op":"subscribe"}"#).unwrap_err();
        assert!(e.to_string().contains("subscriptions"), "{e}");
        let e =
            ClientMessage::parse(r#"{"op":"subscribe","subscriptions":[{"id":-1,"channelId":1}]}"#)
                .unwrap_err();
        assert!(matches!(e, ParseError::InvalidMessage { .. }), "{e}");
    }

    #[test]
    fn binary_vectors() {
        // reference §12: client MessageData (channel 30)
        let mut f = vec![0x01, 0x1e, 0, 0, 0];
        f.extend_from_slice(b"{\"key\": \"value\"}");
        assert_eq!(
            ClientBinary::parse(&Bytes::from(f)).unwrap(),
            ClientBinary::MessageData {
                channel_id: 30,
                payload: Bytes::from_static(b"{\"key\": \"value\"}")
            }
        );
        // ServiceCallRequest (svc 10, call 12, "json")
        let mut f = vec![0x02, 0x0a, 0, 0, 0, 0x0c, 0, 0, 0, 4, 0, 0, 0];
        f.extend_from_slice(b"json{}");
        assert_eq!(
            ClientBinary::parse(&Bytes::from(f)).unwrap(),
            ClientBinary::ServiceCallRequest {
                service_id: 10,
                call_id: 12,
                encoding: "json".into(),
                payload: Bytes::from_static(b"{}")
            }
        );
    }

    #[test]
    fn playback_control_vector() {
        // reference §12: PlaybackControlRequest (Play, 1.0, seek 123456789, "some-id")
        let f = [
            0x03, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x01, 0x15, 0xcd, 0x5b, 0x07, 0, 0, 0, 0, 0x07, 0,
            0, 0, b's', b'o', b'm', b'e', b'-', b'i', b'd',
        ];
        assert_eq!(
            ClientBinary::parse(&Bytes::copy_from_slice(&f)).unwrap(),
            ClientBinary::PlaybackControl(PlaybackControlRequest {
                command: PlaybackCommand::Play,
                speed: 1.0,
                seek_time: Some(123_456_789),
                request_id: "some-id".into(),
            })
        );
        // Pause, no seek (the seek time is present but ignored).
        let mut g = f;
        g[1] = 1;
        g[6] = 0;
        let ClientBinary::PlaybackControl(p) =
            ClientBinary::parse(&Bytes::copy_from_slice(&g)).unwrap()
        else {
            panic!()
        };
        assert_eq!((p.command, p.seek_time), (PlaybackCommand::Pause, None));
        // Bad command, bad flag, short frame.
        let mut h = f;
        h[1] = 2;
        assert!(ClientBinary::parse(&Bytes::copy_from_slice(&h)).is_err());
        let mut h = f;
        h[6] = 7;
        assert!(ClientBinary::parse(&Bytes::copy_from_slice(&h)).is_err());
        assert!(matches!(
            ClientBinary::parse(&Bytes::copy_from_slice(&f[..18])),
            Err(ParseError::Truncated { .. })
        ));
    }

    #[test]
    fn binary_errors() {
        assert_eq!(ClientBinary::parse(&Bytes::new()), Err(ParseError::Empty));
        assert_eq!(
            ClientBinary::parse(&Bytes::from_static(&[0x09])),
            Err(ParseError::UnknownOpcode(9))
        );
        assert!(matches!(
            ClientBinary::parse(&Bytes::from_static(&[0x01, 1, 2])),
            Err(ParseError::Truncated { .. })
        ));
        assert!(matches!(
            ClientBinary::parse(&Bytes::from_static(&[
                0x02, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, b'j'
            ])),
            Err(ParseError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn binary_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ClientBinary::parse(&Bytes::from(data));
        }

        #[test]
        fn json_parser_never_panics(text in ".{0,200}") {
            let _ = ClientMessage::parse(&text);
        }

        #[test]
        fn json_parser_never_panics_on_near_misses(
            op in prop::sample::select(OPS.to_vec()),
            body in "[a-zA-Z0-9:,\\[\\]{}\" -]{0,80}",
        ) {
            let _ = ClientMessage::parse(&format!("{{\"op\":\"{op}\",{body}"));
            let _ = ClientMessage::parse(&format!("{{\"op\":\"{op}\",{body}}}"));
        }
    }
}
