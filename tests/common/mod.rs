//! Shared test harness: a real gateway on port 0 over the simulated graph, and a small
//! protocol client written against the wire format (not against our own protocol module, so a
//! bug there cannot hide itself).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use foxglove_gateway::config::Config;
use foxglove_gateway::gateway::Gateway;
use foxglove_gateway::ros::sim::SimGraph;
use foxglove_gateway::schema::SchemaStore;

pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A complete upgrade request offering `foxglove.sdk.v1`, for raw-socket tests.
pub const UPGRADE_REQUEST: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: foxglove.sdk.v1\r\n\r\n";

pub struct TestServer {
    pub gateway: Gateway,
    pub sim: SimGraph,
    pub schemas: Arc<SchemaStore>,
}

pub fn interfaces() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/interfaces"))
}

pub async fn start(configure: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config {
        port: 0,
        address: "127.0.0.1".into(),
        ..Config::default()
    };
    configure(&mut config);
    let schemas = Arc::new(SchemaStore::new(vec![interfaces()]));
    let sim = SimGraph::new();
    let gateway = Gateway::start(config, schemas.clone(), |io| {
        sim.start(io);
    })
    .await
    .expect("gateway starts");
    TestServer {
        gateway,
        sim,
        schemas,
    }
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("ws://{}", self.gateway.local_addr())
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url(), "foxglove.sdk.v1").await
    }

    /// CDR of `value` for `type_name`, by our codec (for feeding the simulated graph).
    pub fn cdr(&self, type_name: &str, value: Value) -> Bytes {
        let schema = self.schemas.message(type_name).expect("type known");
        Bytes::from(foxglove_gateway::cdr::json_to_cdr(&schema, &value).expect("value fits"))
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub subprotocol: Option<String>,
    /// Data frames seen while waiting for JSON (and vice versa) are kept here.
    pending: std::collections::VecDeque<Message>,
}

/// A MessageData frame, parsed by hand from the wire layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub subscription: u32,
    pub log_time: u64,
    pub payload: Vec<u8>,
}

pub fn parse_data(b: &[u8]) -> Option<Data> {
    if b.len() < 13 || b[0] != 1 {
        return None;
    }
    Some(Data {
        subscription: u32::from_le_bytes(b[1..5].try_into().ok()?),
        log_time: u64::from_le_bytes(b[5..13].try_into().ok()?),
        payload: b[13..].to_vec(),
    })
}

impl Client {
    pub async fn connect(url: &str, subprotocol: &str) -> Client {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(subprotocol).unwrap(),
        );
        let (ws, resp) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect in time")
            .expect("handshake succeeds");
        let subprotocol = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Client {
            ws,
            subprotocol,
            pending: Default::default(),
        }
    }

    async fn recv_raw(&mut self) -> Message {
        loop {
            let m = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("message in time")
                .expect("connection open")
                .expect("no read error");
            match m {
                Message::Ping(_) | Message::Pong(_) => continue,
                m => return m,
            }
        }
    }

    /// The next JSON message with this op (others, and data, are set aside).
    pub async fn expect_op(&mut self, op: &str) -> Value {
        if let Some(i) = self.pending.iter().position(|m| is_op(m, op)) {
            return to_json(&self.pending.remove(i).unwrap());
        }
        loop {
            let m = self.recv_raw().await;
            if is_op(&m, op) {
                return to_json(&m);
            }
            if let Message::Close(f) = &m {
                panic!("connection closed while waiting for {op}: {f:?}");
            }
            self.pending.push_back(m);
        }
    }

    /// The next status whose message contains `needle`.
    pub async fn expect_status(&mut self, needle: &str) -> Value {
        loop {
            let s = self.expect_op("status").await;
            if s["message"].as_str().unwrap_or("").contains(needle) {
                return s;
            }
        }
    }

    /// The next MessageData.
    pub async fn expect_data(&mut self) -> Data {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| matches!(m, Message::Binary(b) if b.first() == Some(&1)))
        {
            if let Some(Message::Binary(b)) = self.pending.remove(i) {
                return parse_data(&b).expect("valid MessageData");
            }
        }
        loop {
            match self.recv_raw().await {
                Message::Binary(b) if b.first() == Some(&1) => {
                    return parse_data(&b).expect("valid MessageData")
                }
                Message::Close(f) => panic!("connection closed while waiting for data: {f:?}"),
                m => self.pending.push_back(m),
            }
        }
    }

    /// Advertised channels, waiting until `topic` is among them; returns its id.
    pub async fn channel_id(&mut self, topic: &str) -> u64 {
        loop {
            let adv = self.expect_op("advertise").await;
            for c in adv["channels"].as_array().unwrap() {
                if c["topic"] == topic {
                    return c["id"].as_u64().unwrap();
                }
            }
        }
    }

    pub async fn send_json(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_text(&mut self, t: &str) {
        self.ws.send(Message::text(t.to_string())).await.unwrap();
    }

    pub async fn send_binary(&mut self, b: Vec<u8>) {
        self.ws.send(Message::Binary(b.into())).await.unwrap();
    }

    pub async fn subscribe(&mut self, sub: u32, channel: u64) {
        self.send_json(json!({"op":"subscribe","subscriptions":[{"id":sub,"channelId":channel}]}))
            .await;
    }

    pub async fn advertise(&mut self, id: u32, topic: &str, encoding: &str, schema_name: &str) {
        self.send_json(json!({"op":"advertise","channels":[
            {"id":id,"topic":topic,"encoding":encoding,"schemaName":schema_name}]}))
            .await;
    }

    pub async fn publish(&mut self, channel: u32, payload: &[u8]) {
        let mut f = vec![1u8];
        f.extend_from_slice(&channel.to_le_bytes());
        f.extend_from_slice(payload);
        self.send_binary(f).await;
    }

    /// Read until the server closes: the close code and reason (None if the connection ended
    /// without a Close frame). Statuses seen on the way are kept in `pending`.
    pub async fn expect_close(&mut self) -> Option<(u16, String)> {
        loop {
            let m = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("closed in time");
            match m {
                Some(Ok(Message::Close(f))) => {
                    return f.map(|f| (u16::from(f.code), f.reason.to_string()))
                }
                Some(Ok(m)) => self.pending.push_back(m),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Statuses received so far and set aside (by `expect_close` and others).
    pub fn pending_statuses(&self) -> Vec<Value> {
        self.pending
            .iter()
            .filter(|m| is_op(m, "status"))
            .map(to_json)
            .collect()
    }

    /// No data arrives for `d` (data set aside earlier counts too).
    pub async fn expect_silence(&mut self, d: Duration) {
        let data: Vec<_> = self.pending.iter().filter(|m| m.is_binary()).collect();
        assert!(data.is_empty(), "unexpected: {data:?}");
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_)))) => continue,
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }
}

fn is_op(m: &Message, op: &str) -> bool {
    matches!(m, Message::Text(t) if serde_json::from_str::<Value>(t.as_str()).map(|v| v["op"] == op).unwrap_or(false))
}

fn to_json(m: &Message) -> Value {
    match m {
        Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
        _ => unreachable!(),
    }
}

/// A Twist in CDR, written by hand: encapsulation header, then six float64 (already 8-aligned).
pub fn twist_cdr(v: [f64; 6]) -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0];
    for x in v {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b
}
