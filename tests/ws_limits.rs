//! The bounds of README "Limits", each hit on purpose: what the viewer over it is told, and that
//! everyone else carries on.

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

use foxglove_gateway::ros::sim_services::SimReply;
use foxglove_gateway::ros::Qos;

async fn raw(s: &TestServer) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(s.gateway.local_addr())
        .await
        .unwrap()
}

/// Everything the server sends until it closes (or `within` passes), as text.
async fn read_all(tcp: &mut tokio::net::TcpStream, within: Duration) -> String {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(within, tcp.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).to_string()
}

#[tokio::test]
async fn connections_over_max_connections_get_503_naming_the_limit() {
    let s = start(|c| c.max_connections = 3).await;
    let mut viewers = Vec::new();
    for _ in 0..3 {
        let mut v = s.client().await;
        v.expect_op("serverInfo").await;
        viewers.push(v);
    }
    let mut tcp = raw(&s).await;
    tcp.write_all(UPGRADE_REQUEST.as_bytes()).await.unwrap();
    let resp = read_all(&mut tcp, TIMEOUT).await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(
        resp.contains("max_connections") && resp.contains('3'),
        "{resp}"
    );
    // The viewers connected are not affected, and a place that frees is taken again.
    drop(viewers.pop());
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let mut tcp = raw(&s).await;
        tcp.write_all(UPGRADE_REQUEST.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut head))
            .await
            .unwrap()
            .unwrap_or(0);
        if head[..n].starts_with(b"HTTP/1.1 101") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    viewers[0].subscribe(1, 999).await;
    viewers[0].expect_status("Unknown channel").await;
}

#[tokio::test]
async fn a_slow_or_silent_handshake_is_cut_at_handshake_timeout_ms() {
    let s = start(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    // Silent.
    let mut silent = raw(&s).await;
    // Half a request, then nothing (slowloris).
    let mut slow = raw(&s).await;
    slow.write_all(&UPGRADE_REQUEST.as_bytes()[..40])
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    for tcp in [&mut silent, &mut slow] {
        let resp = read_all(tcp, Duration::from_secs(3)).await;
        assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
        assert!(resp.contains("handshake_timeout_ms"), "{resp}");
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // A normal viewer still gets in.
    s.client().await.expect_op("serverInfo").await;
}

#[tokio::test]
async fn oversize_request_headers_get_431() {
    let s = start(|_| {}).await;
    let mut tcp = raw(&s).await;
    let huge = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n", "a".repeat(20_000));
    let _ = tcp.write_all(huge.as_bytes()).await;
    let resp = read_all(&mut tcp, TIMEOUT).await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
}

/// A flood of refused requests: answered in part and summarised; the viewer is not dropped and
/// keeps receiving data.
#[tokio::test]
async fn refusal_floods_never_disconnect_a_reading_viewer() {
    let s = start(|c| c.service_call_timeout = Duration::from_secs(30)).await;
    let p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let _svc = s
        .sim
        .add_service("/hang", "std_srvs/srv/SetBool", "/robot", |_| {
            SimReply::Never
        });
    let payload = s.cdr("std_msgs/msg/String", json!({"data": "tick"}));
    let mut c = s.client().await;
    let chan = c.channel_id("/chatter").await;
    let svc = loop {
        let adv = c.expect_op("advertiseServices").await;
        if let Some(id) = adv["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "/hang")
        {
            break id["id"].as_u64().unwrap() as u32;
        }
    };
    c.subscribe(1, chan).await;
    // One subscribe with 50,000 unknown channels.
    let subs: Vec<_> = (0..50_000u32)
        .map(|i| json!({"id": 10 + i, "channelId": 1_000_000 + i}))
        .collect();
    c.send_json(json!({"op": "subscribe", "subscriptions": subs}))
        .await;
    // 3,000 service calls in a burst (32 may be in flight).
    for call in 0..3000u32 {
        let mut f = vec![0x02];
        f.extend_from_slice(&svc.to_le_bytes());
        f.extend_from_slice(&call.to_le_bytes());
        f.extend_from_slice(&3u32.to_le_bytes());
        f.extend_from_slice(b"cdr");
        f.extend_from_slice(&[0, 1, 0, 0, 0]);
        c.send_binary(f).await;
    }
    p.publish(payload.clone());
    // One message: 16 refusals listed, the rest counted; and a summary of those not sent.
    let (mut counted, mut summary) = (false, None);
    while !counted || summary.is_none() {
        let st = c.expect_op("status").await;
        let m = st["message"].as_str().unwrap_or("");
        counted |= m.starts_with("49984 more part(s) of this request refused");
        if m.contains("more refused request(s)") {
            summary = Some(st.clone());
        }
    }
    assert_eq!(summary.unwrap()["id"], "refused-requests");
    // Still connected and served.
    let d = loop {
        p.publish(payload.clone());
        let d = c.expect_data().await;
        if d.subscription == 1 {
            break d;
        }
    };
    assert_eq!(d.payload, payload.to_vec());
    assert!(s.gateway.hub().client_stats().len() == 1);
}

#[tokio::test]
async fn one_subscription_per_channel_per_viewer() {
    let s = start(|_| {}).await;
    let _p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let mut c = s.client().await;
    let chan = c.channel_id("/chatter").await;
    c.subscribe(1, chan).await;
    c.subscribe(2, chan).await;
    let st = c.expect_status("Already subscribed").await;
    assert_eq!(st["level"], 1);
    assert_eq!(s.gateway.hub().subscriber_count(chan), 1);
}

#[tokio::test]
async fn client_channels_are_limited_per_viewer() {
    let s = start(|c| c.max_client_channels = 8).await;
    let mut c = s.client().await;
    let channels: Vec<_> = (0..100u32)
        .map(|i| {
            json!({"id": i, "topic": format!("/cmd_{i}"), "encoding": "cdr",
                   "schemaName": "geometry_msgs/msg/Twist"})
        })
        .collect();
    c.send_json(json!({"op": "advertise", "channels": channels}))
        .await;
    let st = c.expect_status("max_client_channels").await;
    assert!(
        st["message"].as_str().unwrap().contains("already has 8"),
        "{st}"
    );
    // 8 accepted: the ninth's topic never becomes a channel; the eighth's does.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let hub = s.gateway.hub().clone();
    let has = |t: &str| hub.channels().iter().any(|c| &*c.topic == t);
    while !has("/cmd_7") {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!has("/cmd_8"));
    // Releasing one makes room.
    c.send_json(json!({"op": "unadvertise", "channelIds": [0]}))
        .await;
    c.advertise(200, "/cmd_200", "cdr", "geometry_msgs/msg/Twist")
        .await;
    while !has("/cmd_200") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "room after unadvertise"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn parameter_subscriptions_are_limited_per_viewer() {
    let s = start(|c| c.max_parameter_subscriptions = 100).await;
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    let names: Vec<String> = (0..1000).map(|i| format!("/made_up.p{i}")).collect();
    c.send_json(json!({"op": "subscribeParameterUpdates", "parameterNames": names}))
        .await;
    let st = c.expect_status("max_parameter_subscriptions").await;
    assert!(st["message"].as_str().unwrap().starts_with("900 "), "{st}");
    let long = "x".repeat(600);
    c.send_json(json!({"op": "subscribeParameterUpdates", "parameterNames": [long]}))
        .await;
    c.expect_status("longer than 512 bytes").await;
    let hub = s.gateway.hub();
    let id = hub.client_stats()[0].0;
    assert_eq!(hub.parameter_subscriptions(id), 100);
}

/// Unfinished large messages share one budget (4 × max_incoming_message_size): when it is full,
/// the connection holding the largest, oldest one is closed with 1008, and a viewer's message
/// gets through.
#[tokio::test]
async fn unfinished_messages_share_a_budget_and_the_hog_goes() {
    const LIMIT: usize = 256 * 1024;
    let s = start(|c| c.max_incoming_message_size = LIMIT).await;
    // Five connections each start a 240 KiB message and stop (176 KiB each over the free
    // 64 KiB: 880 KiB of the 1 MiB budget).
    let mut hogs = Vec::new();
    for _ in 0..5 {
        let mut h = s.client().await;
        h.expect_op("serverInfo").await;
        h.ws.send(Message::Frame(Frame::message(
            vec![1u8; 240 * 1024],
            OpCode::Data(Data::Binary),
            false,
        )))
        .await
        .unwrap();
        hogs.push(h);
    }
    // Wait until the server has read them all.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A viewer sends a 240 KiB message: there is room only if the oldest hog goes.
    let mut v = s.client().await;
    v.expect_op("serverInfo").await;
    v.send_binary(vec![0x7f; 240 * 1024]).await;
    v.expect_status("unknown binary opcode").await;
    let (code, reason) = hogs[0].expect_close().await.expect("a Close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("max_incoming_message_size"), "{reason}");
    assert!(tokio::time::Instant::now() < deadline);
    // The other hogs are still connected (with the viewer, they fit in the budget).
    let hub = s.gateway.hub().clone();
    while hub.client_stats().len() != 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            hub.client_stats().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
