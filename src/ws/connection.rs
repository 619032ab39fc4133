//! One viewer connection: a reader task (viewer → hub) and a writer task (outbox → socket).
//!
//! The writer batches: it feeds everything the outbox has (control first, data round-robin) and
//! flushes only when the outbox is empty, so a busy connection writes large TCP segments. Every
//! socket write is bounded by the keepalive timeout, so a viewer that stops reading is dropped
//! instead of holding its task forever; its outbox bounds memory meanwhile.
//!
//! Refused requests go on the outbox's refusal lane: a viewer that floods bad requests gets
//! some answers and a summary, and is never disconnected for it. A viewer that breaks the
//! WebSocket rules is closed with the code that says what happened (1009 message too big, 1002
//! protocol error, 1007 invalid UTF-8, 1008 policy: the shared incoming budget, a control queue
//! it does not read), the same reason as text, and an INFO log line.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::hub::outbox::{drop_report_message, refusal_report_message};
use crate::hub::session;
use crate::hub::{CloseReason, Control, Hub, Limits, Outbox, Outgoing};
use crate::protocol::binary;
use crate::protocol::server::{ServerMessage, StatusLevel, ADVERTISE_BATCH};
use crate::ws::incoming::BudgetError;
use tokio_tungstenite::tungstenite::Error as WsError;

/// How often at most a viewer is told about dropped messages.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(2);
/// Status id of the drop report, so the app replaces the previous one instead of piling up.
const DROP_STATUS_ID: &str = "dropped-messages";
/// Status id of the summary of refusals not answered one by one.
const REFUSAL_STATUS_ID: &str = "refused-requests";
/// Asset responses go out in continuation frames of this size, so the writer's buffer never
/// grows to an asset's size.
const PART_CHUNK: usize = 256 * 1024;
/// Messages taken from the outbox per lock.
const BATCH_ITEMS: usize = 256;
/// Payloads from this size on are sent without being copied behind their header (see `encode`);
/// below it one small copy is cheaper than a second frame.
const FRAGMENT_FROM: usize = 16 * 1024;
/// Data bytes taken from the outbox per lock.
const BATCH_BYTES: usize = 4 << 20;
/// Bytes a writer sends before letting other tasks run.
const YIELD_BYTES: usize = 1 << 20;
/// Incoming messages from this size on are handled on the blocking pool: parsing 16 MiB of JSON
/// must not hold up an async worker (and everyone's data) for a tenth of a second.
const OFFLOAD_FROM: usize = 64 * 1024;

/// Serve one upgraded connection until it ends.
pub(super) async fn run<S>(
    hub: Arc<Hub>,
    mut socket: S,
    config: WebSocketConfig,
    peer: SocketAddr,
    token: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cfg = hub.config();
    let outbox = Arc::new(Outbox::new(Limits {
        control_messages: cfg.message_backlog_size,
        data_messages: cfg.message_backlog_size,
        data_bytes: cfg.send_buffer_limit,
    }));
    // serverInfo must be first: queue it before the hub can queue advertisements.
    let info = ServerMessage::ServerInfo(hub.server_info()).to_json();
    let _ = outbox.push_control(Control::Text(info));
    let client = hub.connect(outbox.clone());

    // The first burst (serverInfo, advertisements with their schemas, statuses: ~10 KiB for the
    // demo) is written before tungstenite takes the socket: its write buffer keeps the size of
    // the largest burst it ever held, and an idle viewer should not pay for this one for life.
    let mut first = Vec::new();
    let _ = outbox.pop_batch(&mut first, usize::MAX, usize::MAX);
    let mut bytes = Vec::new();
    for msg in first.into_iter().flat_map(encode) {
        raw_frame(msg, &mut bytes);
    }
    let write = async {
        socket.write_all(&bytes).await?;
        socket.flush().await
    };
    if let Err(e) = bounded(cfg.keepalive_timeout, write).await {
        tracing::info!(%peer, client, reason = %e, "connection closed");
        hub.disconnect(client);
        return;
    }
    drop(bytes);
    let ws = WebSocketStream::from_raw_socket(socket, Role::Server, Some(config)).await;

    let (sink, stream) = ws.split();
    let started = Instant::now();
    let last_seen = Arc::new(AtomicU64::new(0));
    let keepalive = (cfg.keepalive_interval, cfg.keepalive_timeout);

    let reader = {
        let hub = hub.clone();
        let outbox = outbox.clone();
        let last_seen = last_seen.clone();
        let token = token.clone();
        tokio::spawn(async move {
            read_loop(hub, client, outbox, stream, started, last_seen, token).await
        })
    };
    let why = write_loop(sink, &outbox, started, &last_seen, keepalive, &token).await;
    tracing::info!(%peer, client, reason = %why, dropped = outbox.dropped_total(), "connection closed");
    token.cancel();
    let _ = reader.await;
    hub.disconnect(client);
}

async fn read_loop<S>(
    hub: Arc<Hub>,
    client: u64,
    outbox: Arc<Outbox>,
    mut stream: futures_util::stream::SplitStream<WebSocketStream<S>>,
    started: Instant,
    last_seen: Arc<AtomicU64>,
    token: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let why = loop {
        let msg = tokio::select! {
            _ = token.cancelled() => return,
            msg = stream.next() => msg,
        };
        let msg = match msg {
            None => break CloseReason::Requested("the connection ended".into()),
            Some(Err(e)) => break read_error(client, &e),
            Some(Ok(m)) => m,
        };
        last_seen.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        let errors = match msg {
            Message::Text(text) if text.len() >= OFFLOAD_FROM => {
                let hub = hub.clone();
                offload(move || session::handle_text(&hub, client, text.as_str())).await
            }
            Message::Binary(data) if data.len() >= OFFLOAD_FROM => {
                let hub = hub.clone();
                offload(move || session::handle_binary(&hub, client, data)).await
            }
            Message::Text(text) => session::handle_text(&hub, client, text.as_str()),
            Message::Binary(data) => session::handle_binary(&hub, client, data),
            Message::Close(frame) => {
                let why = match frame {
                    Some(f) if !f.reason.is_empty() => {
                        format!("viewer closed the connection ({}: {})", f.code, f.reason)
                    }
                    Some(f) => format!("viewer closed the connection ({})", f.code),
                    None => "viewer closed the connection".into(),
                };
                break CloseReason::Requested(why);
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        for e in errors {
            tracing::debug!(client, error = %e, "viewer request refused");
            outbox.push_refusal_status(e.level(), e.to_string());
        }
    };
    outbox.close(why);
}

/// Run a large request's handling on the blocking pool (the reader waits: order is kept).
async fn offload<F>(handle: F) -> Vec<crate::hub::ClientError>
where
    F: FnOnce() -> Vec<crate::hub::ClientError> + Send + 'static,
{
    match tokio::task::spawn_blocking(handle).await {
        Ok(errors) => errors,
        Err(e) => {
            tracing::error!(error = %e, "handling a viewer request failed");
            Vec::new()
        }
    }
}

/// What a read error means for the viewer: the close code and reason it gets (logged at INFO),
/// or just the end of a connection that is gone.
fn read_error(client: u64, e: &WsError) -> CloseReason {
    let refused = |code: CloseCode, reason: String| {
        tracing::info!(
            client,
            code = u16::from(code),
            "closing the connection: {reason}"
        );
        CloseReason::Refused {
            code: code.into(),
            reason,
        }
    };
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => refused(
            CloseCode::Size,
            format!(
                "message of {size} bytes over the limit of {max_size} (max_incoming_message_size)"
            ),
        ),
        WsError::Capacity(c) => refused(CloseCode::Size, c.to_string()),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            CloseReason::Requested("the viewer went away without closing".into())
        }
        WsError::Protocol(p) => refused(CloseCode::Protocol, format!("protocol error: {p}")),
        WsError::Utf8(_) => refused(
            CloseCode::Invalid,
            "a text message is not valid UTF-8".into(),
        ),
        WsError::Io(io) => match io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<BudgetError>())
        {
            Some(b @ BudgetError::TooLarge { .. }) => refused(CloseCode::Size, b.to_string()),
            Some(b) => refused(CloseCode::Policy, b.to_string()),
            None => CloseReason::Requested(format!("read failed: {io}")),
        },
        other => CloseReason::Requested(format!("read failed: {other}")),
    }
}

async fn write_loop<S>(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    outbox: &Outbox,
    started: Instant,
    last_seen: &AtomicU64,
    (ping_every, timeout): (Duration, Duration),
    token: &CancellationToken,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Grows to what the batches need: an idle viewer must not pay for a full batch up front.
    let mut batch = Vec::new();
    let mut since_yield = 0usize;
    let mut next_ping = Instant::now() + ping_every;
    let mut last_report = Instant::now() - DROP_REPORT_INTERVAL;
    let mut dropped_reported = 0u64;
    let keepalive = !ping_every.is_zero();
    loop {
        batch.clear();
        if let Err(reason) = outbox.pop_batch(&mut batch, BATCH_ITEMS, BATCH_BYTES) {
            let (code, text) = match &reason {
                CloseReason::ControlOverflow { .. } => (CloseCode::Policy, reason.to_string()),
                CloseReason::Requested(r) => (CloseCode::Normal, r.clone()),
                CloseReason::Refused { code, reason } => (CloseCode::from(*code), reason.clone()),
            };
            if !matches!(reason, CloseReason::Requested(_)) {
                // The close reason is cut at 123 bytes; the status carries all of it.
                let status = status_json(StatusLevel::Error, &text, None);
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(status)).await;
            }
            let _ =
                tokio::time::timeout(Duration::from_secs(1), sink.send(close(code, &text))).await;
            return text;
        }
        let now = Instant::now();
        if keepalive {
            let seen = started + Duration::from_millis(last_seen.load(Ordering::Relaxed));
            if now.saturating_duration_since(seen) > timeout {
                let text = format!(
                    "no answer for {} ms (keepalive_timeout_ms)",
                    timeout.as_millis()
                );
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    sink.send(close(CloseCode::Away, &text)),
                )
                .await;
                return text;
            }
            if now >= next_ping {
                next_ping = now + ping_every;
                if let Err(e) = write(&mut sink, Message::Ping(bytes::Bytes::new()), timeout).await
                {
                    return e;
                }
            }
        }
        if now.duration_since(last_report) >= DROP_REPORT_INTERVAL {
            if let Some((count, last)) = outbox.take_refusal_report() {
                last_report = now;
                let text = refusal_report_message(count, &last);
                tracing::info!(refused = count, "{text}");
                let msg = status_json(StatusLevel::Error, &text, Some(REFUSAL_STATUS_ID));
                if let Err(e) = write(&mut sink, msg, timeout).await {
                    return e;
                }
            }
            let drops = outbox.take_drop_report();
            if !drops.is_empty() {
                last_report = now;
                dropped_reported += drops.iter().map(|d| d.count).sum::<u64>();
                let text = format!(
                    "{} ({dropped_reported} in total since connecting)",
                    drop_report_message(&drops, outbox.limits())
                );
                tracing::warn!(dropped = dropped_reported, "{text}");
                let msg = status_json(StatusLevel::Warning, &text, Some(DROP_STATUS_ID));
                if let Err(e) = write(&mut sink, msg, timeout).await {
                    return e;
                }
            }
        }
        if batch.is_empty() {
            if let Err(e) = bounded(timeout, sink.flush()).await {
                return e;
            }
            let wait = if keepalive {
                next_ping.saturating_duration_since(Instant::now())
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                _ = outbox.wait() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = token.cancelled() => outbox.close(CloseReason::Requested("server shutting down".into())),
            }
            continue;
        }
        for item in batch.drain(..) {
            let size = match &item {
                Outgoing::Data(d) => d.payload.len(),
                Outgoing::Control(Control::Parts { body, .. }) => body.len(),
                Outgoing::Control(_) => 0,
            };
            for msg in encode(item) {
                if let Err(e) = write(&mut sink, msg, timeout).await {
                    return e;
                }
            }
            // A socket that always takes more would let this task copy megabytes without
            // yielding; other viewers' writers and the robot's own tasks come first after each
            // YIELD_BYTES.
            since_yield += size;
            if since_yield >= YIELD_BYTES {
                since_yield = 0;
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Feed one message, bounded in time: a viewer that stops reading cannot hold the task.
async fn write<S>(
    sink: &mut futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    msg: Message,
    timeout: Duration,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    bounded(timeout, sink.feed(msg)).await
}

async fn bounded<F, E>(timeout: Duration, f: F) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let limit = if timeout.is_zero() {
        Duration::from_secs(3600)
    } else {
        timeout
    };
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err(format!(
            "viewer stopped reading: a write did not complete in {} ms",
            limit.as_millis()
        )),
    }
}

fn close(code: CloseCode, reason: &str) -> Message {
    // A close reason must fit in a control frame (125 bytes incl. the code).
    let mut reason = reason.to_string();
    while reason.len() > 120 {
        reason.pop();
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

fn status_json(level: StatusLevel, message: &str, id: Option<&str>) -> Message {
    Message::text(ServerMessage::Status { level, message, id }.to_json())
}

/// Encode what the outbox holds for the v1 dialect.
fn encode(item: Outgoing) -> Vec<Message> {
    match item {
        Outgoing::Data(d) if d.payload.len() >= FRAGMENT_FROM => {
            // Large payloads go as a two-fragment WebSocket message: our 13-byte header, then
            // the shared payload as the continuation. Viewers reassemble it (RFC 6455), and the
            // payload is not copied into a fresh buffer per viewer first.
            let header = binary::message_data(d.wire_id as u32, d.log_time, &[]);
            vec![
                Message::Frame(Frame::message(header, OpCode::Data(OpData::Binary), false)),
                Message::Frame(Frame::message(
                    d.payload,
                    OpCode::Data(OpData::Continue),
                    true,
                )),
            ]
        }
        Outgoing::Data(d) => vec![Message::Binary(binary::message_data(
            d.wire_id as u32,
            d.log_time,
            &d.payload,
        ))],
        Outgoing::Control(c) => match c {
            Control::Advertise(channels) => channels
                .chunks(ADVERTISE_BATCH)
                .map(|chunk| {
                    let adverts: Vec<&crate::protocol::server::Channel> =
                        chunk.iter().map(|c| &c.advert).collect();
                    Message::text(ServerMessage::Advertise { channels: &adverts }.to_json())
                })
                .collect(),
            Control::Unadvertise(ids) => {
                vec![Message::text(
                    ServerMessage::Unadvertise { channel_ids: &ids }.to_json(),
                )]
            }
            Control::Status { level, message, id } => {
                vec![status_json(level, &message, id.as_deref())]
            }
            Control::RemoveStatus(ids) => {
                vec![Message::text(
                    ServerMessage::RemoveStatus { status_ids: &ids }.to_json(),
                )]
            }
            Control::Text(t) => vec![Message::text(t)],
            Control::Binary(b) => vec![Message::Binary(b)],
            Control::Parts { head, body } => parts(head, body),
        },
    }
}

/// A message as the server frames it (unmasked), appended to `out`.
fn raw_frame(msg: Message, out: &mut Vec<u8>) {
    let frame = match msg {
        Message::Text(t) => Frame::message(t, OpCode::Data(OpData::Text), true),
        Message::Binary(b) => Frame::message(b, OpCode::Data(OpData::Binary), true),
        Message::Frame(f) => f,
        // The first burst has no control frames of the WebSocket layer.
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return,
    };
    // Writing into a Vec cannot fail.
    let _ = frame.format(out);
}

/// A two-part binary message as fragments: the head, then the body in [`PART_CHUNK`] slices
/// (shared, not copied). Small ones are joined.
fn parts(head: bytes::Bytes, body: bytes::Bytes) -> Vec<Message> {
    if body.len() < FRAGMENT_FROM {
        let mut joined = Vec::with_capacity(head.len() + body.len());
        joined.extend_from_slice(&head);
        joined.extend_from_slice(&body);
        return vec![Message::Binary(joined.into())];
    }
    let mut out = vec![Message::Frame(Frame::message(
        head,
        OpCode::Data(OpData::Binary),
        false,
    ))];
    let mut at = 0;
    while at < body.len() {
        let end = (at + PART_CHUNK).min(body.len());
        out.push(Message::Frame(Frame::message(
            body.slice(at..end),
            OpCode::Data(OpData::Continue),
            end == body.len(),
        )));
        at = end;
    }
    out
}
