//! Protocol v2: the Foxglove remote-access dialect carried over LiveKit, sans I/O.
//!
//! - The `control` byte stream carries frames: `u8 op | u32 LE length | payload`, op 1 = UTF-8
//!   JSON text, op 2 = a complete binary message (with its own opcode byte). Frames do not line up
//!   with stream chunks, so [`FrameDecoder`] buffers; declared lengths over [`MAX_FRAME_LEN`] stop
//!   the stream before anything is allocated.
//! - JSON messages are v1's, except `subscribe`/`unsubscribe`, which name channels (no
//!   subscription ids): [`ClientMessageV2`].
//! - Server MessageData carries a u64 channel id; Ping (0x04) / PingAck (0x05) / Pong (0x06) are
//!   new: [`ClientBinaryV2`], [`message_data`], [`pong`].
//! - `advertise` is inline for viewers below 2.3.0 and uses a per-connection schema table from
//!   2.3.0 on: [`SchemaTable`].
//! - Lossy channels go on LiveKit data tracks with an 8-byte header: [`data_track_frame`].

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::binary::Reader;
use super::client::{ClientBinary, ClientMessage};
use super::server::Channel;
use super::ParseError;

/// Frame op: the payload is a UTF-8 JSON message.
pub const FRAME_TEXT: u8 = 1;
/// Frame op: the payload is a binary message including its opcode byte.
pub const FRAME_BINARY: u8 = 2;
/// Bytes in front of every frame's payload.
pub const FRAME_HEADER_LEN: usize = 5;
/// Largest frame accepted from a viewer (the SDK's limit).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Server binary opcode: MessageData (u64 channel id in v2).
pub const OP_MESSAGE_DATA: u8 = 0x01;
/// Server binary opcode: Pong.
pub const OP_PONG: u8 = 0x06;
/// Client binary opcode: Ping.
pub const OP_PING: u8 = 0x04;
/// Client binary opcode: PingAck.
pub const OP_PING_ACK: u8 = 0x05;

/// Header of a v2 MessageData: opcode, u64 channel id, u64 log time.
pub const MESSAGE_DATA_HEADER_LEN: usize = 1 + 8 + 8;
/// Header of a data-track frame: u16 flags, u16 data offset, u32 sequence.
pub const DATA_TRACK_HEADER_LEN: usize = 8;

/// Metadata key marking a channel whose data comes on the control stream.
pub const META_RELIABLE: &str = "foxglove.reliable";

/// One frame of the control stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A JSON message (not yet checked for UTF-8: a bad one is reported and skipped).
    Text(Bytes),
    /// A binary message, opcode included.
    Binary(Bytes),
}

/// Why a control stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A declared length over the cap.
    #[error("control frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge {
        /// Declared length.
        len: usize,
    },
    /// A frame op that is neither text nor binary.
    #[error("unknown control frame op {0} (the viewer likely needs a newer gateway)")]
    UnknownOp(u8),
}

/// Frame a JSON message for the control stream.
pub fn text_frame(json: &str) -> Bytes {
    frame(FRAME_TEXT, json.as_bytes())
}

/// Frame a binary message (opcode included) for the control stream.
pub fn binary_frame(message: &[u8]) -> Bytes {
    frame(FRAME_BINARY, message)
}

fn frame(op: u8, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(FRAME_HEADER_LEN + payload.len());
    buf.put_u8(op);
    // Our own messages are far below 4 GiB; a larger one would be a bug upstream.
    buf.put_u32_le(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    buf.put_slice(payload);
    buf.freeze()
}

/// Splits a byte stream into frames, whatever the chunking.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a chunk as it arrived.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, `None` if more bytes are needed. After an error the stream must
    /// not be read further (its framing is lost).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let op = self.buf[0];
        let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if op != FRAME_TEXT && op != FRAME_BINARY {
            return Err(FrameError::UnknownOp(op));
        }
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge { len });
        }
        if self.buf.len() < FRAME_HEADER_LEN + len {
            // Reserve only what the (capped) declared length needs.
            self.buf.reserve(FRAME_HEADER_LEN + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(FRAME_HEADER_LEN);
        let payload = self.buf.split_to(len).freeze();
        Ok(Some(if op == FRAME_TEXT {
            Frame::Text(payload)
        } else {
            Frame::Binary(payload)
        }))
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// A v2 server MessageData: `0x01 | u64 channel | u64 log time | payload`.
pub fn message_data(channel_id: u64, log_time: u64, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(MESSAGE_DATA_HEADER_LEN + payload.len());
    buf.put_u8(OP_MESSAGE_DATA);
    buf.put_u64_le(channel_id);
    buf.put_u64_le(log_time);
    buf.put_slice(payload);
    buf.freeze()
}

/// The same message already framed for the control stream (one copy of the payload).
pub fn message_data_frame(channel_id: u64, log_time: u64, payload: &[u8]) -> Bytes {
    let len = MESSAGE_DATA_HEADER_LEN + payload.len();
    let mut buf = BytesMut::with_capacity(FRAME_HEADER_LEN + len);
    buf.put_u8(FRAME_BINARY);
    buf.put_u32_le(u32::try_from(len).unwrap_or(u32::MAX));
    buf.put_u8(OP_MESSAGE_DATA);
    buf.put_u64_le(channel_id);
    buf.put_u64_le(log_time);
    buf.put_slice(payload);
    buf.freeze()
}

/// Pong: `0x06 | u64 app timestamp (echoed) | u64 device wall clock, ms`.
pub fn pong(app_timestamp: u64, device_timestamp_ms: u64) -> Bytes {
    let mut buf = BytesMut::with_capacity(17);
    buf.put_u8(OP_PONG);
    buf.put_u64_le(app_timestamp);
    buf.put_u64_le(device_timestamp_ms);
    buf.freeze()
}

/// A data-track frame: `u16 flags (0) | u16 data offset (8) | u32 sequence | message`.
pub fn data_track_frame(sequence: u32, message: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(DATA_TRACK_HEADER_LEN + message.len());
    buf.put_u16_le(0);
    buf.put_u16_le(DATA_TRACK_HEADER_LEN as u16);
    buf.put_u32_le(sequence);
    buf.put_slice(message);
    buf.freeze()
}

/// Read a data-track frame: (sequence, message). Skips to the declared offset, as readers must.
pub fn parse_data_track_frame(frame: &[u8]) -> Result<(u32, &[u8]), ParseError> {
    let mut r = Reader::new("data track frame", frame);
    // u16 flags (reserved) and u16 data offset.
    let head = r.u32()?;
    let offset = (head >> 16) as usize;
    let seq = r.u32()?;
    if offset < DATA_TRACK_HEADER_LEN || offset > frame.len() {
        return Err(ParseError::Truncated {
            what: "data track frame",
            need: offset.max(DATA_TRACK_HEADER_LEN),
            got: frame.len(),
        });
    }
    Ok((seq, &frame[offset..]))
}

/// One channel of a v2 `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeChannel {
    /// Channel id.
    pub id: u64,
    /// Ask for a video track instead of data (not supported by this gateway).
    #[serde(default)]
    pub request_video_track: bool,
}

/// A JSON message from a remote viewer.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessageV2 {
    /// Subscribe to channels.
    Subscribe(Vec<SubscribeChannel>),
    /// Unsubscribe from channels.
    Unsubscribe(Vec<u64>),
    /// Anything else: the same as v1.
    Other(ClientMessage),
}

#[derive(Deserialize)]
struct SubscribeV2 {
    channels: Vec<SubscribeChannel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnsubscribeV2 {
    channel_ids: Vec<u64>,
}

impl ClientMessageV2 {
    /// Parse a JSON text message.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
        let op = value.get("op").and_then(|v| v.as_str()).map(str::to_owned);
        let invalid = |op: &str, e: serde_json::Error| ParseError::InvalidMessage {
            op: op.to_string(),
            reason: e.to_string(),
        };
        match op.as_deref() {
            Some("subscribe") => serde_json::from_value::<SubscribeV2>(value)
                .map(|s| ClientMessageV2::Subscribe(s.channels))
                .map_err(|e| invalid("subscribe", e)),
            Some("unsubscribe") => serde_json::from_value::<UnsubscribeV2>(value)
                .map(|s| ClientMessageV2::Unsubscribe(s.channel_ids))
                .map_err(|e| invalid("unsubscribe", e)),
            _ => ClientMessage::parse(text).map(ClientMessageV2::Other),
        }
    }
}

/// A binary message from a remote viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientBinaryV2 {
    /// Ping: answer with a Pong echoing `app_timestamp`.
    Ping {
        /// The viewer's timestamp (first 8 bytes).
        app_timestamp: u64,
    },
    /// PingAck: the viewer echoes our Pong's device timestamp (for RTT).
    PingAck {
        /// Our timestamp, ms.
        device_timestamp_ms: u64,
    },
    /// Anything else: the same as v1.
    Other(ClientBinary),
}

impl ClientBinaryV2 {
    /// Parse a binary message (opcode included).
    pub fn parse(message: &Bytes) -> Result<Self, ParseError> {
        match message.first() {
            Some(&OP_PING) => {
                let mut r = Reader::new("ping", &message[1..]);
                Ok(ClientBinaryV2::Ping {
                    app_timestamp: r.u64()?,
                })
            }
            Some(&OP_PING_ACK) => {
                let mut r = Reader::new("ping ack", &message[1..]);
                Ok(ClientBinaryV2::PingAck {
                    device_timestamp_ms: r.u64()?,
                })
            }
            _ => ClientBinary::parse(message).map(ClientBinaryV2::Other),
        }
    }
}

/// A schema of the table form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableSchema {
    /// Id, from 1, never reused on a connection.
    pub id: u64,
    /// Schema name (the ROS type).
    pub name: String,
    /// `ros2msg` or `ros2idl`.
    pub encoding: String,
    /// Schema text.
    pub data: String,
}

/// A channel of the table form: no inline schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableChannel {
    /// Channel id.
    pub id: u64,
    /// Topic.
    pub topic: String,
    /// Message encoding.
    pub encoding: String,
    /// Schema id (absent for schemaless channels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<u64>,
    /// Metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(tag = "op", rename = "advertise")]
struct TableAdvertise<'a> {
    #[serde(skip_serializing_if = "<[TableSchema]>::is_empty")]
    schemas: &'a [TableSchema],
    channels: &'a [TableChannel],
}

/// The schema table of one viewer connection (protocol ≥ 2.3.0). Starts empty; a reset
/// (fresh `serverInfo`) means a new table.
#[derive(Debug, Default)]
pub struct SchemaTable {
    ids: HashMap<[u8; 32], u64>,
    next_id: u64,
}

impl SchemaTable {
    /// An empty table.
    pub fn new() -> Self {
        SchemaTable {
            ids: HashMap::new(),
            next_id: 1,
        }
    }

    /// The `advertise` message for these channels: schemas not yet sent, then the channels.
    pub fn advertise(&mut self, channels: &[Channel]) -> String {
        let mut schemas = Vec::new();
        let mut out = Vec::with_capacity(channels.len());
        for c in channels {
            let schema_id = match &c.schema_encoding {
                Some(enc) if !c.schema_name.is_empty() => {
                    let key = schema_hash(&c.schema_name, enc, &c.schema);
                    Some(match self.ids.get(&key) {
                        Some(id) => *id,
                        None => {
                            let id = self.next_id;
                            self.next_id += 1;
                            self.ids.insert(key, id);
                            schemas.push(TableSchema {
                                id,
                                name: c.schema_name.clone(),
                                encoding: enc.clone(),
                                data: c.schema.clone(),
                            });
                            id
                        }
                    })
                }
                _ => None,
            };
            out.push(TableChannel {
                id: c.id,
                topic: c.topic.clone(),
                encoding: c.encoding.clone(),
                schema_id,
                metadata: c.metadata.clone(),
            });
        }
        serde_json::to_string(&TableAdvertise {
            schemas: &schemas,
            channels: &out,
        })
        .expect("advertise always serializes")
    }
}

/// SHA-256 over (name, encoding, data), each prefixed by its length as u64 LE (the SDK's key).
fn schema_hash(name: &str, encoding: &str, data: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [name, encoding, data] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &[u8] = br#"{"key": "value"}"#;

    fn v2_vector() -> Vec<u8> {
        let mut v = vec![
            0x01, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0xd2, 0x04, 0, 0, 0, 0, 0, 0,
        ];
        v.extend_from_slice(PAYLOAD);
        v
    }

    #[test]
    fn message_data_vectors() {
        // reference §12: v2 MessageData (channel 30, logTime 1234), and its control framing
        assert_eq!(
            message_data(30, 1234, PAYLOAD).as_ref(),
            v2_vector().as_slice()
        );
        let mut framed = vec![0x02, 0x21, 0, 0, 0];
        framed.extend(v2_vector());
        assert_eq!(
            binary_frame(&message_data(30, 1234, PAYLOAD)).as_ref(),
            framed.as_slice()
        );
        assert_eq!(
            message_data_frame(30, 1234, PAYLOAD).as_ref(),
            framed.as_slice()
        );
    }

    #[test]
    fn pong_and_text_frame_vectors() {
        let p = pong(
            u64::from_le_bytes(*b"12345678"),
            u64::from_le_bytes(*b"90123456"),
        );
        assert_eq!(p.as_ref(), b"\x061234567890123456");
        assert_eq!(text_frame("{}").as_ref(), &[1, 2, 0, 0, 0, b'{', b'}']);
    }

    #[test]
    fn decoder_handles_any_chunking() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&text_frame(r#"{"op":"x"}"#));
        stream.extend_from_slice(&binary_frame(&[4, 1, 2, 3, 4, 5, 6, 7, 8]));
        for chunk in [1, 2, 3, 7, 100] {
            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                d.push(c);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(
                got,
                vec![
                    Frame::Text(Bytes::from_static(br#"{"op":"x"}"#)),
                    Frame::Binary(Bytes::from_static(&[4, 1, 2, 3, 4, 5, 6, 7, 8])),
                ],
                "chunk size {chunk}"
            );
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn decoder_rejects_oversized_and_unknown_before_allocating() {
        let mut d = FrameDecoder::new();
        d.push(&[2, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { len: 0xffff_ffff })
        );
        assert!(d.buf.capacity() < 1024);
        let mut d = FrameDecoder::new();
        d.push(&[1, 1, 0, 0, 0]);
        assert_eq!(d.next_frame(), Ok(None));
        let mut d = FrameDecoder::new();
        d.push(&[3, 0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownOp(3)));
        // exactly at the cap is fine (just incomplete)
        let mut d = FrameDecoder::new();
        d.push(&[2]);
        d.push(&(MAX_FRAME_LEN as u32).to_le_bytes());
        assert_eq!(d.next_frame(), Ok(None));
    }

    #[test]
    fn v2_client_messages() {
        assert_eq!(
            ClientMessageV2::parse(
                r#"{"op":"subscribe","channels":[{"id":3},{"id":5,"requestVideoTrack":true}]}"#
            )
            .unwrap(),
            ClientMessageV2::Subscribe(vec![
                SubscribeChannel {
                    id: 3,
                    request_video_track: false
                },
                SubscribeChannel {
                    id: 5,
                    request_video_track: true
                }
            ])
        );
        assert_eq!(
            ClientMessageV2::parse(r#"{"op":"unsubscribe","channelIds":[3]}"#).unwrap(),
            ClientMessageV2::Unsubscribe(vec![3])
        );
        // the v1 shape is an error in v2
        assert!(matches!(
            ClientMessageV2::parse(
                r#"{"op":"subscribe","subscriptions":[{"id":0,"channelId":1}]}"#
            ),
            Err(ParseError::InvalidMessage { .. })
        ));
        assert!(matches!(
            ClientMessageV2::parse(r#"{"op":"unadvertise","channelIds":[1]}"#).unwrap(),
            ClientMessageV2::Other(ClientMessage::Unadvertise { .. })
        ));
        assert!(ClientMessageV2::parse("nope").is_err());
    }

    #[test]
    fn v2_client_binary() {
        let ping = Bytes::from_static(b"\x0412345678extra");
        assert_eq!(
            ClientBinaryV2::parse(&ping).unwrap(),
            ClientBinaryV2::Ping {
                app_timestamp: u64::from_le_bytes(*b"12345678")
            }
        );
        assert!(ClientBinaryV2::parse(&Bytes::from_static(b"\x04123")).is_err());
        assert_eq!(
            ClientBinaryV2::parse(&Bytes::from_static(&[5, 1, 0, 0, 0, 0, 0, 0, 0])).unwrap(),
            ClientBinaryV2::PingAck {
                device_timestamp_ms: 1
            }
        );
        let mut md = vec![1, 0x1e, 0, 0, 0];
        md.extend_from_slice(PAYLOAD);
        assert!(matches!(
            ClientBinaryV2::parse(&Bytes::from(md)).unwrap(),
            ClientBinaryV2::Other(ClientBinary::MessageData { channel_id: 30, .. })
        ));
        assert!(ClientBinaryV2::parse(&Bytes::new()).is_err());
    }

    #[test]
    fn data_track_frames() {
        let f = data_track_frame(7, b"abc");
        assert_eq!(f.as_ref(), &[0, 0, 8, 0, 7, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(parse_data_track_frame(&f).unwrap(), (7, &b"abc"[..]));
        // a reader honours a larger offset
        let f = [0, 0, 10, 0, 1, 0, 0, 0, 0xee, 0xee, b'x'];
        assert_eq!(parse_data_track_frame(&f).unwrap(), (1, &b"x"[..]));
        assert!(parse_data_track_frame(&[0, 0, 8]).is_err());
        assert!(parse_data_track_frame(&[0, 0, 99, 0, 1, 0, 0, 0]).is_err());
    }

    fn channel(id: u64, name: &str, text: &str) -> Channel {
        Channel {
            id,
            topic: format!("/t{id}"),
            encoding: "cdr".into(),
            schema_name: name.into(),
            schema_encoding: Some("ros2msg".into()),
            schema: text.into(),
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn schema_table_dedups_and_sends_each_schema_once() {
        let mut t = SchemaTable::new();
        let mut a = channel(1, "std_msgs/msg/String", "string data");
        a.metadata.insert(META_RELIABLE.into(), "true".into());
        let b = channel(2, "std_msgs/msg/String", "string data");
        let first = t.advertise(&[a, b]);
        assert_eq!(
            first,
            r#"{"op":"advertise","schemas":[{"id":1,"name":"std_msgs/msg/String","encoding":"ros2msg","data":"string data"}],"channels":[{"id":1,"topic":"/t1","encoding":"cdr","schemaId":1,"metadata":{"foxglove.reliable":"true"}},{"id":2,"topic":"/t2","encoding":"cdr","schemaId":1}]}"#
        );
        let again = t.advertise(&[channel(3, "std_msgs/msg/String", "string data")]);
        assert_eq!(
            again,
            r#"{"op":"advertise","channels":[{"id":3,"topic":"/t3","encoding":"cdr","schemaId":1}]}"#
        );
        let other = t.advertise(&[channel(4, "x/msg/Y", "int8 a")]);
        assert!(other.contains(r#""schemas":[{"id":2,"#), "{other}");
    }
}
