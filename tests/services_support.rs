//! Helpers for the services, parameters and connection-graph tests: a viewer that can wait for
//! JSON ops and binary opcodes alike, written against the wire format. Also compiled as its own
//! (empty) test crate.
#![allow(dead_code)]

#[path = "common/mod.rs"]
mod common;

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub use common::{start, TestServer, TIMEOUT};

pub struct Viewer {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pending: VecDeque<Message>,
}

/// A Service Call Response (0x03), parsed by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub service_id: u32,
    pub call_id: u32,
    pub encoding: String,
    pub payload: Vec<u8>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

impl Viewer {
    pub async fn connect(server: &TestServer) -> Viewer {
        let c = common::Client::connect(&server.url(), "foxglove.websocket.v1").await;
        Viewer {
            ws: c.ws,
            pending: VecDeque::new(),
        }
    }

    async fn recv(&mut self) -> Message {
        loop {
            let m = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("message in time")
                .expect("connection open")
                .expect("no read error");
            match m {
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(f) => panic!("connection closed: {f:?}"),
                m => return m,
            }
        }
    }

    /// The next message matching `pred` (others are set aside, in order).
    pub async fn expect(&mut self, pred: impl Fn(&Message) -> bool) -> Message {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let m = self.recv().await;
            if pred(&m) {
                return m;
            }
            self.pending.push_back(m);
        }
    }

    /// The next JSON message with this op.
    pub async fn expect_op(&mut self, op: &str) -> Value {
        let m = self
            .expect(|m| json(m).is_some_and(|v| v["op"] == op))
            .await;
        json(&m).unwrap()
    }

    /// The next status whose message contains `needle`.
    pub async fn expect_status(&mut self, needle: &str) -> Value {
        let m = self
            .expect(|m| {
                json(m).is_some_and(|v| {
                    v["op"] == "status" && v["message"].as_str().unwrap_or("").contains(needle)
                })
            })
            .await;
        json(&m).unwrap()
    }

    /// The next reply to a call: `Ok(response)` or `Err(serviceCallFailure)`.
    pub async fn expect_reply(&mut self, call_id: u32) -> Result<Response, Value> {
        let m = self
            .expect(|m| match m {
                Message::Binary(b) => b.len() >= 13 && b[0] == 3 && u32_at(b, 5) == call_id,
                m => json(m)
                    .is_some_and(|v| v["op"] == "serviceCallFailure" && v["callId"] == call_id),
            })
            .await;
        match m {
            Message::Binary(b) => {
                let n = u32_at(&b, 9) as usize;
                Ok(Response {
                    service_id: u32_at(&b, 1),
                    call_id: u32_at(&b, 5),
                    encoding: String::from_utf8(b[13..13 + n].to_vec()).unwrap(),
                    payload: b[13 + n..].to_vec(),
                })
            }
            m => Err(json(&m).unwrap()),
        }
    }

    /// The next MessageData; returns its payload.
    pub async fn expect_data(&mut self) -> Vec<u8> {
        let m = self
            .expect(|m| matches!(m, Message::Binary(b) if b.first() == Some(&1)))
            .await;
        match m {
            Message::Binary(b) => b[13..].to_vec(),
            _ => unreachable!(),
        }
    }

    /// Count MessageData frames (pending ones included) until `done` matches a JSON message,
    /// which is returned.
    pub async fn count_data_until(&mut self, done: impl Fn(&Value) -> bool) -> (usize, Value) {
        let mut n = 0;
        let mut keep = VecDeque::new();
        while let Some(m) = self.pending.pop_front() {
            match &m {
                Message::Binary(b) if b.first() == Some(&1) => n += 1,
                m2 if json(m2).is_some_and(|v| done(&v)) => {
                    self.pending.extend(keep);
                    return (n, json(&m).unwrap());
                }
                _ => keep.push_back(m),
            }
        }
        self.pending = keep;
        loop {
            let m = self.recv().await;
            match &m {
                Message::Binary(b) if b.first() == Some(&1) => n += 1,
                m2 if json(m2).is_some_and(|v| done(&v)) => return (n, json(&m).unwrap()),
                _ => self.pending.push_back(m),
            }
        }
    }

    /// Drop everything received so far.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// No JSON message with this op arrives for `d`.
    pub async fn expect_no_op(&mut self, op: &str, d: std::time::Duration) {
        assert!(
            !self
                .pending
                .iter()
                .any(|m| json(m).is_some_and(|v| v["op"] == op)),
            "unexpected {op} already received"
        );
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(m))) => {
                    if let Some(v) = json(&m) {
                        assert_ne!(v["op"], op, "unexpected {v}");
                    }
                    self.pending.push_back(m);
                }
                Ok(other) => panic!("connection ended: {other:?}"),
            }
        }
    }

    pub async fn send_json(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn subscribe(&mut self, sub: u32, channel: u64) {
        self.send_json(
            serde_json::json!({"op":"subscribe","subscriptions":[{"id":sub,"channelId":channel}]}),
        )
        .await;
    }

    /// Send a Service Call Request (0x02), laid out by hand.
    pub async fn call(&mut self, service_id: u32, call_id: u32, encoding: &str, payload: &[u8]) {
        let mut f = vec![2u8];
        f.extend_from_slice(&service_id.to_le_bytes());
        f.extend_from_slice(&call_id.to_le_bytes());
        f.extend_from_slice(&(encoding.len() as u32).to_le_bytes());
        f.extend_from_slice(encoding.as_bytes());
        f.extend_from_slice(payload);
        self.ws.send(Message::Binary(f.into())).await.unwrap();
    }
}

pub fn json(m: &Message) -> Option<Value> {
    match m {
        Message::Text(t) => serde_json::from_str(t.as_str()).ok(),
        _ => None,
    }
}

/// The id of the advertised service `name`, waiting for its advertisement.
pub async fn service_id(v: &mut Viewer, name: &str) -> (u32, Value) {
    loop {
        let adv = v.expect_op("advertiseServices").await;
        for s in adv["services"].as_array().unwrap() {
            if s["name"] == name {
                return (s["id"].as_u64().unwrap() as u32, s.clone());
            }
        }
    }
}

/// The id of the advertised channel on `topic`.
pub async fn channel_id(v: &mut Viewer, topic: &str) -> u64 {
    loop {
        let adv = v.expect_op("advertise").await;
        for c in adv["channels"].as_array().unwrap() {
            if c["topic"] == topic {
                return c["id"].as_u64().unwrap();
            }
        }
    }
}
