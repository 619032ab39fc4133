//! Peer input that is wrong in every way we can think of: each gets a clear status naming what was
//! wrong, the connection stays usable, and another viewer keeps receiving data throughout.

mod common;

use std::time::Duration;

use common::*;
use foxglove_gateway::ros::Qos;
use serde_json::json;

/// Send `frame`, expect a status containing `needle` at `level`.
async fn refused(c: &mut Client, frame: Frame<'_>, needle: &str, level: u64) {
    match frame {
        Frame::Text(t) => c.send_text(t).await,
        Frame::Binary(b) => c.send_binary(b).await,
    }
    let st = c.expect_status(needle).await;
    assert_eq!(st["level"], level, "{st}");
}

enum Frame<'a> {
    Text(&'a str),
    Binary(Vec<u8>),
}
use Frame::{Binary, Text};

#[tokio::test]
async fn every_kind_of_bad_input_gets_a_status_and_nothing_breaks() {
    let s = start(|c| {
        c.max_incoming_message_size = 4096;
        // Parameters are implemented now; leave them off to test a capability not offered.
        c.capabilities.retain(|cap| cap != "parameters");
    })
    .await;
    let p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let payload = s.cdr("std_msgs/msg/String", json!({"data": "tick"}));

    // A bystander, subscribed, must keep receiving through all of this.
    let mut other = s.client().await;
    let id = other.channel_id("/chatter").await;
    other.subscribe(1, id).await;
    let ticker = {
        let payload = payload.clone();
        tokio::spawn(async move {
            loop {
                p.publish(payload.clone());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let mut c = s.client().await;
    let chan = c.channel_id("/chatter").await;

    refused(&mut c, Text("{not json"), "invalid JSON", 2).await;
    refused(&mut c, Text("[1,2]"), "expected a JSON object", 2).await;
    refused(&mut c, Text(r#"{"subscriptions":[]}"#), "no \"op\"", 2).await;
    refused(
        &mut c,
        Text(r#"{"op":"teleport"}"#),
        "unknown op \"teleport\"",
        2,
    )
    .await;
    refused(
        &mut c,
        Text(r#"{"op":"subscribe"}"#),
        "missing field `subscriptions`",
        2,
    )
    .await;
    refused(
        &mut c,
        Text(r#"{"op":"subscribe","subscriptions":[{"id":"x","channelId":1}]}"#),
        "invalid subscribe message",
        2,
    )
    .await;
    refused(
        &mut c,
        Text(r#"{"op":"advertise","channels":[{"id":1}]}"#),
        "missing field",
        2,
    )
    .await;
    refused(&mut c, Binary(vec![]), "empty binary message", 2).await;
    refused(
        &mut c,
        Binary(vec![0x01, 0x01]),
        "truncated client message data",
        2,
    )
    .await;
    refused(
        &mut c,
        Binary(vec![0x02, 1, 0, 0, 0, 2]),
        "truncated service call request",
        2,
    )
    .await;
    refused(
        &mut c,
        Binary(vec![0x7f, 1, 2, 3]),
        "unknown binary opcode 0x7f",
        2,
    )
    .await;
    let sub = |sid: u32, ch: u64| {
        json!({"op":"subscribe","subscriptions":[{"id":sid,"channelId":ch}]}).to_string()
    };
    refused(
        &mut c,
        Text(&sub(1, 999_999)),
        "Unknown channel ID: 999999",
        2,
    )
    .await;
    refused(
        &mut c,
        Text(r#"{"op":"unsubscribe","subscriptionIds":[42]}"#),
        "Unknown subscription ID: 42",
        1,
    )
    .await;
    // A subscription id reused while active.
    c.send_text(&sub(3, chan)).await;
    refused(
        &mut c,
        Text(&sub(3, chan)),
        "Subscription ID 3 is already in use",
        2,
    )
    .await;
    c.send_json(json!({"op":"unsubscribe","subscriptionIds":[3]}))
        .await;
    // Client data on a channel never advertised.
    refused(
        &mut c,
        Binary(vec![0x01, 9, 0, 0, 0, 0, 1, 0, 0]),
        "Client has not advertised channel 9",
        2,
    )
    .await;
    refused(
        &mut c,
        Text(r#"{"op":"unadvertise","channelIds":[9]}"#),
        "Client has not advertised channel 9",
        2,
    )
    .await;
    // A schema we cannot resolve, and an encoding we do not speak.
    c.advertise(5, "/x", "cdr", "no_such_msgs/msg/Thing").await;
    let st = c
        .expect_status("no definition for no_such_msgs/msg/Thing")
        .await;
    assert_eq!(st["level"], 2);
    c.advertise(6, "/x", "protobuf", "geometry_msgs/msg/Twist")
        .await;
    c.expect_status("Unsupported encoding \"protobuf\"").await;
    // JSON that does not fit the type: the field path and what was expected.
    c.advertise(7, "/cmd_vel", "json", "geometry_msgs/msg/Twist")
        .await;
    c.publish(7, br#"{"linear":{"x":"fast"}}"#).await;
    let st = c.expect_status("rejected").await;
    let msg = st["message"].as_str().unwrap();
    assert!(msg.contains("linear.x") && msg.contains("float64"), "{msg}");
    c.publish(7, b"{not json").await;
    c.expect_status("invalid JSON").await;
    // CDR without an encapsulation header.
    c.advertise(8, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;
    c.publish(8, b"\x01").await;
    c.expect_status("not CDR").await;
    // A client channel id advertised twice.
    c.advertise(8, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;
    let st = c.expect_status("already advertised").await;
    assert_eq!(st["level"], 1);
    // A capability not offered.
    refused(
        &mut c,
        Text(r#"{"op":"getParameters","parameterNames":[]}"#),
        "parameters capability",
        2,
    )
    .await;
    refused(
        &mut c,
        Binary(vec![0x03, 0, 0, 0, 0x80, 0x3f]),
        "Playback control is not supported",
        2,
    )
    .await;

    // After all that, the same connection still works.
    c.send_text(&sub(11, chan)).await;
    // (Data of subscription 3 may still be set aside from before its unsubscribe.)
    let d = loop {
        let d = c.expect_data().await;
        if d.subscription != 3 {
            break d;
        }
    };
    assert_eq!(d.subscription, 11);
    assert_eq!(d.payload, payload.to_vec());

    // And the bystander received throughout (about 10 ms apart; allow generous scheduling slack).
    let mut n = 0;
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(300) {
        let d = other.expect_data().await;
        assert_eq!(d.payload, payload.to_vec());
        n += 1;
    }
    assert!(n >= 10, "bystander got only {n} messages in 300 ms");
    ticker.abort();
}

/// Over `max_incoming_message_size` (4096 here), whole or fragmented, text or binary: closed
/// with 1009 and a reason naming the limit, while reading (the rest is never buffered).
#[tokio::test]
async fn an_oversize_message_closes_with_1009_naming_the_limit() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
    use tokio_tungstenite::tungstenite::Message;

    let s = start(|c| c.max_incoming_message_size = 4096).await;
    // Exactly the limit is fine.
    let mut ok = s.client().await;
    ok.send_binary(vec![0x7f; 4096]).await;
    ok.expect_status("unknown binary opcode").await;

    let big_text = format!(
        r#"{{"op":"subscribe","subscriptions":[],"pad":"{}"}}"#,
        "x".repeat(5000)
    );
    let fragmented = vec![
        Message::Frame(WsFrame::message(
            vec![1u8; 3000],
            OpCode::Data(Data::Binary),
            false,
        )),
        Message::Frame(WsFrame::message(
            vec![1u8; 3000],
            OpCode::Data(Data::Continue),
            true,
        )),
    ];
    let cases: Vec<(&str, Vec<Message>)> = vec![
        ("binary", vec![Message::Binary(vec![1u8; 5000].into())]),
        ("text", vec![Message::text(big_text)]),
        ("fragmented", fragmented),
    ];
    for (what, frames) in cases {
        let mut c = s.client().await;
        for f in frames {
            // The server may close before the last fragment is written.
            let _ = c.ws.send(f).await;
        }
        let (code, reason) = c.expect_close().await.expect("a Close frame");
        assert_eq!(code, 1009, "{what}: {reason}");
        assert!(
            reason.contains("max_incoming_message_size"),
            "{what}: {reason}"
        );
        assert!(reason.contains("4096"), "{what}: {reason}");
        let statuses = c.pending_statuses();
        assert!(
            statuses
                .iter()
                .any(|st| st["message"].as_str().unwrap().contains("over the limit")),
            "{what}: {statuses:?}"
        );
    }
    // The others are unaffected.
    ok.send_binary(vec![0x7f; 10]).await;
    ok.expect_status("unknown binary opcode").await;
}

/// Protocol violations close with 1002 and say which rule was broken.
#[tokio::test]
async fn a_protocol_violation_closes_with_1002_saying_why() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start(|_| {}).await;
    let mut tcp = tokio::net::TcpStream::connect(s.gateway.local_addr())
        .await
        .unwrap();
    tcp.write_all(UPGRADE_REQUEST.as_bytes()).await.unwrap();
    // An unmasked text frame: clients must mask (RFC 6455 §5.1).
    tcp.write_all(&[0x81, 0x02, b'{', b'}']).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut got)).await;
    // Find the Close frame the server sent: opcode 0x88, then length, then the code.
    let at = got
        .windows(2)
        .rposition(|w| w[0] == 0x88 && (w[1] as usize) >= 2)
        .expect("a Close frame");
    let len = got[at + 1] as usize;
    let code = u16::from_be_bytes([got[at + 2], got[at + 3]]);
    let reason = String::from_utf8_lossy(&got[at + 4..at + 2 + len]).to_string();
    assert_eq!(code, 1002, "{reason}");
    assert!(
        reason.contains("protocol error") && reason.contains("mask"),
        "{reason}"
    );
}

#[tokio::test]
async fn random_garbage_never_kills_the_server() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let s = start(|_| {}).await;
    let _p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let mut c = s.client().await;
    let chan = c.channel_id("/chatter").await;
    c.advertise(1, "/cmd_vel", "json", "geometry_msgs/msg/Twist")
        .await;
    c.advertise(2, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;

    let mut runner = TestRunner::deterministic();
    let bytes = proptest::collection::vec(any::<u8>(), 0..64);
    for i in 0..300u32 {
        let mut frame = bytes.new_tree(&mut runner).unwrap().current();
        // Steer a share of the frames at the interesting opcodes and channels.
        match i % 4 {
            0 if !frame.is_empty() => frame[0] = 1,
            1 if frame.len() >= 5 => frame[..5].copy_from_slice(&[1, 1 + (i % 2) as u8, 0, 0, 0]),
            2 if !frame.is_empty() => frame[0] = 2,
            _ => {}
        }
        c.send_binary(frame).await;
        let text: String = "[a-z{}\\[\\]\":,0-9 ]{0,40}"
            .new_tree(&mut runner)
            .unwrap()
            .current();
        c.send_text(&format!(r#"{{"op":"subscribe",{text}"#)).await;
    }
    // Still alive and serving.
    c.subscribe(77, chan).await;
    let mut fresh = s.client().await;
    assert_eq!(fresh.channel_id("/chatter").await, chan);
}
