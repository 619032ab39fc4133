//! One participant's tasks: the writer (outbox → its `control` stream, v2 framing) and a reader
//! per `control` stream it opened to us.
//!
//! The writer never blocks the hub: it pops from the participant's bounded [`Outbox`]. A write
//! that fails or does not complete within `write_timeout`, or a control queue that overflows,
//! asks the session to reset this participant (fresh stream, serverInfo and advertisements);
//! other participants are not touched.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::room::{ByteStreamReader, ByteStreamWriter};
use super::session::{self, Shared};
use super::version::ViewerVersion;
use crate::hub::outbox::{drop_report_message, refusal_report_message};
use crate::hub::{session as hub_session, CloseReason, Control, Outbox, Outgoing};
use crate::protocol::binary::server_op;
use crate::protocol::server::{Channel, ServerMessage, StatusLevel};
use crate::protocol::v2::{
    self, ClientBinaryV2, ClientMessageV2, Frame, FrameDecoder, SchemaTable, META_RELIABLE,
};

const BATCH_ITEMS: usize = 256;
const BATCH_BYTES: usize = 4 << 20;
/// How often at most a participant is told about dropped messages.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(2);
const DROP_STATUS_ID: &str = "dropped-messages";
const REFUSAL_STATUS_ID: &str = "refused-requests";

/// Encodes outbox items for one participant instance: v2 framing, and the advertise form its
/// protocol version wants (with its own schema table).
pub struct Encoder {
    table: Option<SchemaTable>,
}

impl Encoder {
    /// An encoder for a participant with this version; a fresh schema table if it uses one.
    pub fn new(version: &ViewerVersion) -> Self {
        Encoder {
            table: version.schema_table().then(SchemaTable::new),
        }
    }

    /// The control-stream bytes for one outbox item; `None` for what v2 viewers do not get.
    pub fn encode(&mut self, item: Outgoing) -> Option<Bytes> {
        let json = match item {
            Outgoing::Data(d) => {
                return Some(v2::message_data_frame(d.channel, d.log_time, &d.payload))
            }
            Outgoing::Control(c) => match c {
                Control::Advertise(channels) => {
                    let adverts: Vec<Channel> = channels.iter().map(|c| advert(c)).collect();
                    match &mut self.table {
                        Some(table) => table.advertise(&adverts),
                        None => {
                            let refs: Vec<&Channel> = adverts.iter().collect();
                            ServerMessage::Advertise { channels: &refs }.to_json()
                        }
                    }
                }
                Control::Unadvertise(ids) => {
                    ServerMessage::Unadvertise { channel_ids: &ids }.to_json()
                }
                Control::Status { level, message, id } => ServerMessage::Status {
                    level,
                    message: &message,
                    id: id.as_deref(),
                }
                .to_json(),
                Control::RemoveStatus(ids) => {
                    ServerMessage::RemoveStatus { status_ids: &ids }.to_json()
                }
                Control::Text(t) => t,
                // The gateway does not offer `time` to remote viewers (v2 has no such
                // capability in the gateway), so Time frames are not theirs.
                Control::Binary(b) if b.first() == Some(&server_op::TIME) => return None,
                Control::Binary(b) => return Some(v2::binary_frame(&b)),
                Control::Parts { head, body } => {
                    let mut joined = Vec::with_capacity(head.len() + body.len());
                    joined.extend_from_slice(&head);
                    joined.extend_from_slice(&body);
                    return Some(v2::binary_frame(&joined));
                }
            },
        };
        Some(v2::text_frame(&json))
    }
}

/// The v2 advertisement of a channel: the inline advert plus `foxglove.reliable` when its data
/// comes on the control stream.
pub fn advert(c: &crate::hub::ChannelInfo) -> Channel {
    let mut a = c.advert.clone();
    if c.reliable_latched {
        a.metadata
            .insert(META_RELIABLE.to_string(), "true".to_string());
    }
    a
}

/// Write one participant's outbox to its control stream until the outbox closes or a write
/// fails; then close the stream and, on failure, ask for a reset.
pub(super) async fn write_loop(
    shared: Arc<Shared>,
    identity: String,
    generation: u64,
    outbox: Arc<Outbox>,
    mut stream: Box<dyn ByteStreamWriter>,
    version: ViewerVersion,
) {
    let timeout = shared.cfg.write_timeout;
    let mut encoder = Encoder::new(&version);
    let mut batch = Vec::with_capacity(BATCH_ITEMS);
    let mut last_report: Option<Instant> = None;
    let failure: Option<String> = 'outer: loop {
        batch.clear();
        match outbox.pop_batch(&mut batch, BATCH_ITEMS, BATCH_BYTES) {
            Err(CloseReason::Requested(_)) => break None,
            Err(reason) => break Some(reason.to_string()),
            Ok(()) => {}
        }
        let now = Instant::now();
        if last_report.is_none_or(|t| now.duration_since(t) >= DROP_REPORT_INTERVAL) {
            if let Some((count, last)) = outbox.take_refusal_report() {
                last_report = Some(now);
                batch.insert(
                    0,
                    Outgoing::Control(Control::Status {
                        level: StatusLevel::Error,
                        message: refusal_report_message(count, &last),
                        id: Some(REFUSAL_STATUS_ID.into()),
                    }),
                );
            }
            let drops = outbox.take_drop_report();
            if !drops.is_empty() {
                last_report = Some(now);
                let text = drop_report_message(&drops, outbox.limits());
                batch.insert(
                    0,
                    Outgoing::Control(Control::Status {
                        level: StatusLevel::Warning,
                        message: text,
                        id: Some(DROP_STATUS_ID.into()),
                    }),
                );
            }
        }
        if batch.is_empty() {
            outbox.wait().await;
            continue;
        }
        for item in batch.drain(..) {
            let Some(bytes) = encoder.encode(item) else {
                continue;
            };
            // A write that is stuck must not delay the reaction to the outbox closing: a
            // control-queue overflow resets the participant at once, a disconnect ends it.
            let write = tokio::time::timeout(timeout, stream.write(&bytes));
            let result = tokio::select! {
                r = write => r,
                reason = closed(&outbox) => match reason {
                    CloseReason::Requested(_) => break 'outer None,
                    other => break 'outer Some(other.to_string()),
                },
            };
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break 'outer Some(format!("control stream write failed: {e}")),
                Err(_) => {
                    break 'outer Some(format!(
                        "viewer stopped reading: a control stream write did not complete in {} ms",
                        timeout.as_millis()
                    ))
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.close()).await;
    if let Some(why) = failure {
        let _ = shared.resets.send((identity, generation, why));
    }
}

/// Resolves when the outbox closes.
async fn closed(outbox: &Outbox) -> CloseReason {
    loop {
        if let Some(reason) = outbox.closed() {
            return reason;
        }
        outbox.wait().await;
    }
}

/// Read one `control` stream a participant opened to us.
pub(super) async fn read_loop(
    shared: Arc<Shared>,
    identity: String,
    mut reader: Box<dyn ByteStreamReader>,
) {
    let mut decoder = FrameDecoder::new();
    while let Some(chunk) = reader.next_chunk().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(%identity, error = %e, "control stream read failed");
                return;
            }
        };
        decoder.push(&chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => handle_frame(&shared, &identity, frame),
                Ok(None) => break,
                Err(e) => {
                    // The framing is lost; nothing after this can be trusted.
                    tracing::warn!(%identity, error = %e, "stopped reading a control stream");
                    return;
                }
            }
        }
    }
}

/// Handle one frame from a participant; refusals go back to it as statuses.
pub(super) fn handle_frame(shared: &Shared, identity: &str, frame: Frame) {
    let Some((client, outbox)) = session::current(shared, identity) else {
        return;
    };
    let hub = &shared.hub;
    let limit = hub.config().max_incoming_message_size;
    let mut refusals: Vec<(StatusLevel, String)> = Vec::new();
    let mut push_errors = |errors: Vec<crate::hub::ClientError>| {
        refusals.extend(errors.into_iter().map(|e| (e.level(), e.to_string())));
    };
    match frame {
        Frame::Text(bytes) | Frame::Binary(bytes) if bytes.len() > limit => {
            push_errors(vec![crate::hub::ClientError::TooLarge {
                size: bytes.len(),
                limit,
            }]);
        }
        Frame::Text(bytes) => match std::str::from_utf8(&bytes) {
            Err(_) => push_errors(vec![crate::protocol::ParseError::InvalidUtf8(
                "control text frame",
            )
            .into()]),
            Ok(text) => match ClientMessageV2::parse(text) {
                Err(e) => push_errors(vec![e.into()]),
                Ok(ClientMessageV2::Subscribe(channels)) => {
                    for c in &channels {
                        refusals.extend(session::subscribe(shared, identity, c));
                    }
                }
                Ok(ClientMessageV2::Unsubscribe(ids)) => {
                    for id in ids {
                        refusals.extend(session::unsubscribe(shared, identity, id));
                    }
                }
                Ok(ClientMessageV2::Other(msg)) => {
                    push_errors(hub_session::handle_request(hub, client, msg))
                }
            },
        },
        Frame::Binary(bytes) => match ClientBinaryV2::parse(&bytes) {
            Err(e) => push_errors(vec![e.into()]),
            Ok(ClientBinaryV2::Ping { app_timestamp }) => {
                let pong = v2::pong(app_timestamp, wall_clock_ms());
                let _ = outbox.push_control(Control::Binary(pong));
            }
            Ok(ClientBinaryV2::PingAck {
                device_timestamp_ms,
            }) => {
                let rtt = wall_clock_ms().saturating_sub(device_timestamp_ms);
                tracing::debug!(%identity, rtt_ms = rtt, "viewer round trip");
            }
            Ok(ClientBinaryV2::Other(msg)) => {
                push_errors(hub_session::handle_binary_request(hub, client, msg))
            }
        },
    }
    for (level, message) in refusals {
        tracing::debug!(%identity, %message, "viewer request refused");
        outbox.push_refusal_status(level, message);
    }
}

fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
