//! The viewer: a tokio-tungstenite client speaking `foxglove.sdk.v1` that subscribes to the one
//! benchmark channel and records what arrives.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::payload;

/// The subscription id this viewer uses.
pub const SUBSCRIPTION_ID: u32 = 1;
/// After the source is done, a viewer stops once nothing has arrived for this long.
pub const IDLE: Duration = Duration::from_millis(500);
/// Hard stop after the source is done, in case a server keeps trickling.
const DRAIN_CAP: Duration = Duration::from_secs(15);

/// Why a viewer failed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// WebSocket failure.
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server closed before advertising the benchmark topic.
    #[error("connection ended before {0} was advertised")]
    NoChannel(&'static str),
    /// The server sent JSON we cannot read.
    #[error("bad JSON from server: {0}")]
    Json(#[from] serde_json::Error),
}

/// What one viewer saw.
#[derive(Debug, Default, Clone)]
pub struct ViewerStats {
    /// Message Data frames for our subscription with a readable payload.
    pub messages: u64,
    /// Payload bytes of those.
    pub bytes: u64,
    /// Frames that were too short or for another subscription.
    pub malformed: u64,
    /// Frames whose sequence number was not larger than the previous one.
    pub out_of_order: u64,
    /// Sequence numbers skipped (a later message arrived before them).
    pub gaps: u64,
    /// Highest sequence number seen.
    pub max_seq: Option<u64>,
    /// Receipt time of the first and last message.
    pub first: Option<Instant>,
    /// See `first`.
    pub last: Option<Instant>,
    /// Receipt time − send time, ns, per message.
    pub latencies_ns: Vec<u64>,
    /// Status messages the server sent after the subscription (e.g. its drop reports), at most
    /// [`MAX_STATUSES`].
    pub statuses: Vec<String>,
}

/// How many status messages a viewer keeps.
pub const MAX_STATUSES: usize = 32;

/// Connect, subscribe, report `subscribed`, then record until `expected` (the number the source
/// sent) has arrived or the stream has been idle for [`IDLE`] after it is known.
pub async fn run(
    port: u16,
    subscribed: oneshot::Sender<()>,
    expected: watch::Receiver<Option<u64>>,
) -> Result<ViewerStats, ReceiverError> {
    run_lingering(port, subscribed, expected, Duration::ZERO).await
}

/// [`run`], then keep reading for `linger` more: a server reports drops periodically, and the
/// last report may come after the last message.
pub async fn run_lingering(
    port: u16,
    subscribed: oneshot::Sender<()>,
    mut expected: watch::Receiver<Option<u64>>,
    linger: Duration,
) -> Result<ViewerStats, ReceiverError> {
    let mut req = format!("ws://127.0.0.1:{port}/").into_client_request()?;
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("foxglove.sdk.v1"),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    if let Ok(tcp) = match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => Ok(s),
        _ => Err(()),
    } {
        let _ = tcp.set_nodelay(true);
    }
    let (mut sink, mut stream) = ws.split();

    // Wait for the advertisement of the benchmark topic.
    let channel_id = loop {
        let Some(msg) = stream.next().await else {
            return Err(ReceiverError::NoChannel(payload::TOPIC));
        };
        let Message::Text(text) = msg? else { continue };
        let v: serde_json::Value = serde_json::from_str(text.as_str())?;
        if v["op"] != "advertise" {
            continue;
        }
        let found = v["channels"].as_array().and_then(|chs| {
            chs.iter()
                .find(|c| c["topic"] == payload::TOPIC)
                .and_then(|c| c["id"].as_u64())
        });
        if let Some(id) = found {
            break id;
        }
    };
    let sub = serde_json::json!({"op": "subscribe",
        "subscriptions": [{"id": SUBSCRIPTION_ID, "channelId": channel_id}]});
    sink.send(Message::text(sub.to_string())).await?;
    let _ = subscribed.send(());

    let mut stats = ViewerStats::default();
    let mut last_seq: Option<u64> = None;
    let mut done_at: Option<Instant> = None;
    let mut stop_at: Option<Instant> = None;
    loop {
        // A tick (timer or `expected` arriving) re-checks the stop condition without a message.
        let msg = tokio::select! {
            m = stream.next() => Some(m),
            _ = tokio::time::sleep(Duration::from_millis(50)) => None,
            _ = expected.changed() => None,
        };
        let now = Instant::now();
        match msg {
            None => {}
            Some(None) | Some(Some(Ok(Message::Close(_)))) => break,
            Some(Some(Err(e))) => return Err(e.into()),
            Some(Some(Ok(Message::Binary(data)))) => record(&mut stats, &mut last_seq, &data, now),
            Some(Some(Ok(Message::Text(text)))) if stats.statuses.len() < MAX_STATUSES => {
                let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                if v["op"] == "status" {
                    let message = v["message"].as_str().unwrap_or("").to_string();
                    stats.statuses.push(message);
                }
            }
            Some(Some(Ok(_))) => {}
        }
        if let Some(stop) = stop_at {
            if now >= stop {
                break;
            }
        } else if let Some(sent) = *expected.borrow() {
            let since = *done_at.get_or_insert(now);
            let quiet = stats.last.map_or(since, |l| l.max(since));
            if stats.messages >= sent
                || now.duration_since(quiet) > IDLE
                || now.duration_since(since) > DRAIN_CAP
            {
                stop_at = Some(now + linger);
                if linger.is_zero() {
                    break;
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    Ok(stats)
}

fn record(stats: &mut ViewerStats, last_seq: &mut Option<u64>, data: &[u8], now: Instant) {
    // 0x01 | u32 subscription | u64 log time | payload
    let ok =
        data.first() == Some(&0x01) && data.get(1..5) == Some(&SUBSCRIPTION_ID.to_le_bytes()[..]);
    let parsed = data.get(13..).and_then(payload::read);
    let (true, Some((seq, sent_ns))) = (ok, parsed) else {
        stats.malformed += 1;
        return;
    };
    let recv_ns = payload::now_ns();
    stats.messages += 1;
    stats.bytes += (data.len() - 13) as u64;
    stats.first.get_or_insert(now);
    stats.last = Some(now);
    if seq == payload::UNSEQUENCED {
        return;
    }
    stats.latencies_ns.push(recv_ns.saturating_sub(sent_ns));
    match *last_seq {
        Some(l) if seq <= l => stats.out_of_order += 1,
        Some(l) => stats.gaps += seq - l - 1,
        None => stats.gaps += seq,
    }
    stats.max_seq = stats.max_seq.max(Some(seq));
    *last_seq = Some(seq);
}
