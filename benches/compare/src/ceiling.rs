//! The loopback ceiling: a bare tokio-tungstenite server that does the least a Foxglove server
//! must do.
//!
//! - Flat out ([`Ceiling::push_prebuilt`]): no source at all; every viewer's task pushes one
//!   pre-built frame over and over for the run's duration, so the number is what loopback TCP plus
//!   tungstenite can carry on this machine. Its frames carry the sequence number
//!   [`payload::UNSEQUENCED`]: there is no per-message send time to measure latency against.
//! - Paced ([`Ceiling::publish`]): one frame built per source message, shared by every viewer.
//!
//! It speaks just enough protocol for the common receiver: `serverInfo`, one `advertise`, and it
//! waits for the `subscribe`. Frames carry subscription id 1 (the receiver's), so it needs no
//! per-viewer encoding at all.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::payload::{self, now_ns, TOPIC, TYPE_NAME};

/// The subscription id the receiver uses.
pub const SUBSCRIPTION_ID: u32 = 1;

/// A running ceiling server.
#[derive(Clone)]
pub struct Ceiling {
    tx: broadcast::Sender<Bytes>,
    port: u16,
    subscribers: Arc<AtomicUsize>,
    /// Set to the pre-built frame and duration to push flat out.
    prebuilt: watch::Sender<Option<(Bytes, Duration)>>,
    /// Frames pushed flat out, per viewer (a viewer adds its count as it finishes).
    pushed: Arc<PushCounts>,
}

/// What the flat-out viewers pushed.
#[derive(Default)]
pub struct PushCounts {
    /// Sum over viewers.
    pub total: AtomicU64,
    /// Largest count of one viewer.
    pub max: AtomicU64,
    /// Viewers finished.
    pub done: AtomicUsize,
}

impl Ceiling {
    /// Listen on a free loopback port; `queue` is each viewer's queue length in messages.
    pub async fn bind(queue: usize) -> std::io::Result<Ceiling> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, _) = broadcast::channel(queue.max(1));
        let ceiling = Ceiling {
            tx,
            port,
            subscribers: Arc::new(AtomicUsize::new(0)),
            prebuilt: watch::channel(None).0,
            pushed: Arc::default(),
        };
        let c = ceiling.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(serve(c.clone(), tcp));
            }
        });
        Ok(ceiling)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Viewers that have subscribed.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// Every subscribed viewer pushes one pre-built frame of `size` bytes of payload for
    /// `duration`; returns (largest count of one viewer, total) once all have finished.
    pub async fn push_prebuilt(&self, size: usize, duration: Duration) -> (u64, u64) {
        let mut buf = payload::template(size);
        payload::stamp(&mut buf, payload::UNSEQUENCED, 0);
        let viewers = self.subscribers();
        let _ = self.prebuilt.send(Some((frame(&buf), duration)));
        while self.pushed.done.load(Ordering::Acquire) < viewers {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (
            self.pushed.max.load(Ordering::Acquire),
            self.pushed.total.load(Ordering::Acquire),
        )
    }

    /// Build the frame once and hand it to every viewer.
    pub fn publish(&self, payload: &[u8]) {
        let _ = self.tx.send(frame(payload));
    }
}

fn frame(payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(13 + payload.len());
    frame.put_u8(0x01);
    frame.put_u32_le(SUBSCRIPTION_ID);
    frame.put_u64_le(now_ns());
    frame.put_slice(payload);
    frame.freeze()
}

/// Push `frame` for `duration`, feeding 64 frames per flush; returns how many were written.
async fn push_flat_out<S>(sink: &mut S, frame: Bytes, duration: Duration) -> u64
where
    S: futures_util::Sink<Message> + Unpin,
{
    let end = std::time::Instant::now() + duration;
    let mut n = 0u64;
    while std::time::Instant::now() < end {
        for _ in 0..64 {
            if sink.feed(Message::Binary(frame.clone())).await.is_err() {
                return n;
            }
            n += 1;
        }
        if sink.flush().await.is_err() {
            return n;
        }
    }
    n
}

async fn serve(c: Ceiling, tcp: tokio::net::TcpStream) {
    #[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
    let echo = |req: &Request, mut resp: Response| {
        if req.headers().contains_key("sec-websocket-protocol") {
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("foxglove.sdk.v1"),
            );
        }
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, echo).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let info = serde_json::json!({"op": "serverInfo", "name": "ceiling", "capabilities": []});
    let advertise = serde_json::json!({"op": "advertise", "channels": [{
        "id": 1, "topic": TOPIC, "encoding": "cdr", "schemaName": TYPE_NAME,
        "schema": "", "schemaEncoding": "ros2msg"}]});
    for m in [info, advertise] {
        if sink.send(Message::text(m.to_string())).await.is_err() {
            return;
        }
    }
    // Wait for any subscribe; subscribe to the broadcast first so nothing after it is missed.
    let mut rx = c.tx.subscribe();
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"subscribe\"") => break,
            Some(Ok(_)) => continue,
            _ => return,
        }
    }
    let mut prebuilt = c.prebuilt.subscribe();
    c.subscribers.fetch_add(1, Ordering::Relaxed);
    // Drain the read side so pings/close are processed.
    tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    loop {
        tokio::select! {
            changed = prebuilt.changed() => {
                if changed.is_err() {
                    return;
                }
                let job = prebuilt.borrow_and_update().clone();
                if let Some((frame, duration)) = job {
                    let n = push_flat_out(&mut sink, frame, duration).await;
                    c.pushed.total.fetch_add(n, Ordering::AcqRel);
                    c.pushed.max.fetch_max(n, Ordering::AcqRel);
                    c.pushed.done.fetch_add(1, Ordering::AcqRel);
                    // Stay connected (idle) until the driver is done reading.
                    let _ = prebuilt.changed().await;
                    return;
                }
                continue;
            }
            r = rx.recv() => {
                if !forward(&mut sink, &mut rx, r).await {
                    return;
                }
            }
        }
    }
}

/// Feed everything queued, flush once: the same batching the gateway's writer does. False when
/// the connection is gone.
async fn forward<S>(
    sink: &mut S,
    rx: &mut broadcast::Receiver<Bytes>,
    first: Result<Bytes, broadcast::error::RecvError>,
) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    {
        let first = match first {
            Ok(f) => f,
            Err(broadcast::error::RecvError::Lagged(_)) => return true,
            Err(broadcast::error::RecvError::Closed) => return false,
        };
        if sink.feed(Message::Binary(first)).await.is_err() {
            return false;
        }
        loop {
            match rx.try_recv() {
                Ok(f) => {
                    if sink.feed(Message::Binary(f)).await.is_err() {
                        return false;
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        sink.flush().await.is_ok()
    }
}
