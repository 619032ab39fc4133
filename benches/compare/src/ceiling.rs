//! The loopback ceiling: a bare tokio-tungstenite server that does the least a Foxglove server
//! must do — one frame built per message (shared by every viewer), pushed to each socket.
//!
//! It speaks just enough protocol for the common receiver: `serverInfo`, one `advertise`, and it
//! waits for the `subscribe`. Frames carry subscription id 1 (the receiver's), so it needs no
//! per-viewer encoding at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::payload::{now_ns, TOPIC, TYPE_NAME};

/// The subscription id the receiver uses.
pub const SUBSCRIPTION_ID: u32 = 1;

/// A running ceiling server.
#[derive(Clone)]
pub struct Ceiling {
    tx: broadcast::Sender<Bytes>,
    port: u16,
    subscribers: Arc<AtomicUsize>,
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

    /// Build the frame once and hand it to every viewer.
    pub fn publish(&self, payload: &[u8]) {
        let mut frame = BytesMut::with_capacity(13 + payload.len());
        frame.put_u8(0x01);
        frame.put_u32_le(SUBSCRIPTION_ID);
        frame.put_u64_le(now_ns());
        frame.put_slice(payload);
        let _ = self.tx.send(frame.freeze());
    }
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
    c.subscribers.fetch_add(1, Ordering::Relaxed);
    // Drain the read side so pings/close are processed.
    tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    loop {
        // Feed everything queued, flush once: the same batching the gateway's writer does.
        let first = match rx.recv().await {
            Ok(f) => f,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if sink.feed(Message::Binary(first)).await.is_err() {
            return;
        }
        loop {
            match rx.try_recv() {
                Ok(f) => {
                    if sink.feed(Message::Binary(f)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
