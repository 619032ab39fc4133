//! The real server on port 0 over the simulated graph: handshake, advertise, subscribe, client
//! publish, the zero-Twist safety stop, and the client-topic allowlist.

mod common;

use std::time::Duration;

use common::*;
use foxglove_gateway::config::Patterns;
use foxglove_gateway::ros::{Durability, Qos, Reliability};
use serde_json::json;

#[tokio::test]
async fn handshake_echoes_either_subprotocol_and_sends_server_info_first() {
    let s = start(|_| {}).await;
    for proto in ["foxglove.sdk.v1", "foxglove.websocket.v1"] {
        let mut c = Client::connect(&s.url(), proto).await;
        assert_eq!(c.subprotocol.as_deref(), Some(proto));
        let info = c.expect_op("serverInfo").await;
        assert_eq!(info["supportedEncodings"], json!(["cdr", "json"]));
        assert!(info["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("clientPublish")));
        assert!(info["metadata"]["ROS_DISTRO"].is_string());
        assert!(info["metadata"]["fg-library"]
            .as_str()
            .unwrap()
            .starts_with("foxglove_gateway/"));
        assert!(info["sessionId"].is_string());
    }
    // Offered both: the newest wins.
    let c = Client::connect(&s.url(), "foxglove.websocket.v1, foxglove.sdk.v1").await;
    assert_eq!(c.subprotocol.as_deref(), Some("foxglove.sdk.v1"));
}

#[tokio::test]
async fn handshake_without_a_known_subprotocol_is_400_saying_which_are_supported() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start(|_| {}).await;
    let mut tcp = tokio::net::TcpStream::connect(s.gateway.local_addr())
        .await
        .unwrap();
    let req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
               Sec-WebSocket-Protocol: foxglove.sdk.v2\r\n\r\n";
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut resp)).await;
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(
        resp.contains("foxglove.sdk.v1") && resp.contains("foxglove.websocket.v1"),
        "{resp}"
    );
}

#[tokio::test]
async fn channels_follow_the_graph_with_stable_ids() {
    let s = start(|_| {}).await;
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    let p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let adv = c.expect_op("advertise").await;
    let ch = &adv["channels"][0];
    assert_eq!(ch["topic"], "/chatter");
    assert_eq!(ch["encoding"], "cdr");
    assert_eq!(ch["schemaName"], "std_msgs/msg/String");
    assert_eq!(ch["schemaEncoding"], "ros2msg");
    assert!(ch["schema"].as_str().unwrap().contains("string data"));
    let id = ch["id"].as_u64().unwrap();

    drop(p);
    let un = c.expect_op("unadvertise").await;
    assert_eq!(un["channelIds"], json!([id]));

    // Back with the same type and schema: same id.
    let _p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    assert_eq!(c.channel_id("/chatter").await, id);

    // A late viewer gets the current channels on connect.
    let mut late = s.client().await;
    late.expect_op("serverInfo").await;
    assert_eq!(late.channel_id("/chatter").await, id);
}

#[tokio::test]
async fn topic_whitelist_hides_topics_and_missing_definitions_are_reported() {
    let s =
        start(|c| c.topic_whitelist = Patterns::new("topic_whitelist", &["/ok.*"]).unwrap()).await;
    let mut c = s.client().await;
    let _a = s
        .sim
        .add_publisher("/hidden", "std_msgs/msg/String", "/n", Qos::default());
    let _b = s
        .sim
        .add_publisher("/ok/unknown", "nope_msgs/msg/Nope", "/n", Qos::default());
    let _d = s
        .sim
        .add_publisher("/ok/chatter", "std_msgs/msg/String", "/n", Qos::default());
    let status = c.expect_status("not shown").await;
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("nope_msgs/msg/Nope"));
    let adv = c.expect_op("advertise").await;
    assert_eq!(adv["channels"].as_array().unwrap().len(), 1);
    assert_eq!(adv["channels"][0]["topic"], "/ok/chatter");
}

#[tokio::test]
async fn subscribe_gets_byte_exact_payloads_and_unsubscribe_stops_them() {
    let s = start(|_| {}).await;
    let mut c = s.client().await;
    let p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let id = c.channel_id("/chatter").await;
    c.subscribe(7, id).await;
    // The subscription reaches the graph asynchronously; publish until it arrives.
    let payload = s.cdr("std_msgs/msg/String", json!({"data": "hello"}));
    assert_eq!(&payload[..], b"\x00\x01\x00\x00\x06\x00\x00\x00hello\x00");
    let before = foxglove_gateway::ros::now_ns();
    let data = loop {
        p.publish(payload.clone());
        if let Ok(d) = tokio::time::timeout(Duration::from_millis(50), c.expect_data()).await {
            break d;
        }
    };
    assert_eq!(data.subscription, 7);
    assert_eq!(data.payload, payload.to_vec());
    assert!(data.log_time >= before && data.log_time <= foxglove_gateway::ros::now_ns());
    assert_eq!(s.sim.gateway_subscriptions("/chatter"), 1);

    c.send_json(json!({"op":"unsubscribe","subscriptionIds":[7]}))
        .await;
    // Wait until the ROS subscription is gone, then nothing more may arrive.
    tokio::time::timeout(TIMEOUT, async {
        while s.sim.gateway_subscriptions("/chatter") != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    // Drain what was in flight before the unsubscribe was processed.
    while tokio::time::timeout(Duration::from_millis(100), c.expect_data())
        .await
        .is_ok()
    {}
    p.publish(payload.clone());
    c.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn one_ros_subscription_shared_by_viewers_released_with_the_last() {
    let s = start(|_| {}).await;
    let _p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let mut a = s.client().await;
    let mut b = s.client().await;
    let id = a.channel_id("/chatter").await;
    b.channel_id("/chatter").await;
    a.subscribe(1, id).await;
    b.subscribe(1, id).await;
    wait_for(|| s.gateway.hub().subscriber_count(id) == 2).await;
    assert_eq!(s.sim.gateway_subscriptions("/chatter"), 1);
    drop(a);
    wait_for(|| s.gateway.hub().subscriber_count(id) == 1).await;
    assert_eq!(s.sim.gateway_subscriptions("/chatter"), 1);
    b.send_json(json!({"op":"unsubscribe","subscriptionIds":[1]}))
        .await;
    wait_for(|| s.sim.gateway_subscriptions("/chatter") == 0).await;
}

#[tokio::test]
async fn transient_local_messages_reach_late_viewers() {
    let s = start(|_| {}).await;
    let qos = Qos {
        reliability: Reliability::Reliable,
        durability: Durability::TransientLocal,
        depth: 1,
    };
    let p = s
        .sim
        .add_publisher("/robot_description", "std_msgs/msg/String", "/rsp", qos);
    let payload = s.cdr("std_msgs/msg/String", json!({"data": "<robot/>"}));
    // Published once, before anyone listens (as robot_state_publisher does at startup).
    p.publish(payload.clone());
    let mut a = s.client().await;
    let id = a.channel_id("/robot_description").await;
    a.subscribe(1, id).await;
    // The new ROS subscription gets the publisher's history from the middleware.
    assert_eq!(a.expect_data().await.payload, payload.to_vec());
    // The ROS subscription is shared, so DDS will not replay to b: the gateway must.
    let mut b = s.client().await;
    b.channel_id("/robot_description").await;
    b.subscribe(5, id).await;
    let d = b.expect_data().await;
    assert_eq!((d.subscription, d.payload), (5, payload.to_vec()));
}

#[tokio::test]
async fn client_publish_cdr_passes_through_and_json_is_converted() {
    let s = start(|_| {}).await;
    let mut sub = s.sim.subscribe("/cmd_vel");
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    c.advertise(1, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;
    c.advertise(2, "/cmd_vel", "json", "geometry_msgs/msg/Twist")
        .await;
    let cdr = twist_cdr([1.0, 0.0, 0.0, 0.0, 0.0, -0.5]);
    c.publish(1, &cdr).await;
    let got = tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.type_name, "geometry_msgs/msg/Twist");
    assert_eq!(got.payload.to_vec(), cdr);

    // JSON, with fields left out: they take the definition's defaults (zero).
    c.publish(2, br#"{"linear":{"x":0.25,"y":-1},"angular":{"z":2}}"#)
        .await;
    let got = tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.payload.to_vec(),
        twist_cdr([0.25, -1.0, 0.0, 0.0, 0.0, 2.0])
    );
}

#[tokio::test]
async fn zero_twist_when_a_teleop_viewer_disconnects_or_unadvertises() {
    let s = start(|_| {}).await;
    let mut sub = s.sim.subscribe("/cmd_vel");
    // Disconnect.
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    c.advertise(1, "/cmd_vel", "json", "geometry_msgs/msg/Twist")
        .await;
    c.publish(1, br#"{"linear":{"x":0.5}}"#).await;
    assert_eq!(
        recv(&mut sub).await,
        twist_cdr([0.5, 0.0, 0.0, 0.0, 0.0, 0.0])
    );
    drop(c);
    assert_eq!(recv(&mut sub).await, twist_cdr([0.0; 6]));

    // Unadvertise.
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    c.advertise(3, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;
    c.publish(3, &twist_cdr([0.0, 0.0, 0.0, 0.0, 0.0, 1.0]))
        .await;
    recv(&mut sub).await;
    c.send_json(json!({"op":"unadvertise","channelIds":[3]}))
        .await;
    assert_eq!(recv(&mut sub).await, twist_cdr([0.0; 6]));

    // A viewer that advertised but never published does not move (or stop) anything.
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    c.advertise(1, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sub.try_recv().is_err());
}

#[tokio::test]
async fn zero_twist_can_be_turned_off() {
    let s = start(|c| c.zero_twist_on_disconnect = false).await;
    let mut sub = s.sim.subscribe("/cmd_vel");
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    c.advertise(1, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;
    c.publish(1, &twist_cdr([0.5, 0.0, 0.0, 0.0, 0.0, 0.0]))
        .await;
    tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sub.try_recv().is_err(), "no zero Twist when disabled");
}

#[tokio::test]
async fn zero_twist_stamped_keeps_the_frame() {
    let s = start(|_| {}).await;
    let mut sub = s.sim.subscribe("/cmd_vel_stamped");
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    c.advertise(
        1,
        "/cmd_vel_stamped",
        "json",
        "geometry_msgs/msg/TwistStamped",
    )
    .await;
    c.publish(
        1,
        br#"{"header":{"frame_id":"base_link"},"twist":{"linear":{"x":1}}}"#,
    )
    .await;
    tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    drop(c);
    let zero = tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    let schema = s.schemas.message("geometry_msgs/msg/TwistStamped").unwrap();
    let v = foxglove_gateway::cdr::cdr_to_json(&schema, &zero.payload).unwrap();
    assert_eq!(v["header"]["frame_id"], "base_link");
    assert_eq!(v["twist"]["linear"]["x"], 0.0);
    assert!(v["header"]["stamp"]["sec"].as_u64().unwrap() > 1_700_000_000);
}

#[tokio::test]
async fn client_topic_whitelist_is_enforced() {
    let s = start(|c| {
        c.client_topic_whitelist = Patterns::new("client_topic_whitelist", &["/cmd_vel"]).unwrap()
    })
    .await;
    let mut sub = s.sim.subscribe("/arm/joint_cmd");
    let mut c = s.client().await;
    c.expect_op("serverInfo").await;
    c.advertise(1, "/arm/joint_cmd", "cdr", "geometry_msgs/msg/Twist")
        .await;
    let st = c.expect_status("not allowed").await;
    assert_eq!(st["level"], 2);
    assert!(st["message"].as_str().unwrap().contains("/arm/joint_cmd"));
    c.publish(1, &twist_cdr([1.0; 6])).await;
    c.expect_status("Client has not advertised channel 1").await;
    assert!(sub.try_recv().is_err());
    // Apps unadvertise what they advertised, refused or not: that is accepted quietly.
    c.send_json(json!({"op":"unadvertise","channelIds":[1]}))
        .await;
    c.send_text("{oops").await;
    let next = c.expect_op("status").await;
    assert!(
        next["message"].as_str().unwrap().contains("invalid JSON"),
        "{next}"
    );
    // The allowed topic still works on the same connection.
    let mut ok = s.sim.subscribe("/cmd_vel");
    c.advertise(2, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;
    c.publish(2, &twist_cdr([1.0; 6])).await;
    tokio::time::timeout(TIMEOUT, ok.recv())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn type_unsupported_by_the_backend_is_reported_to_the_viewer() {
    let s = start(|_| {}).await;
    s.sim.set_unsupported_type("std_msgs/msg/String");
    let _p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let mut c = s.client().await;
    let id = c.channel_id("/chatter").await;
    c.subscribe(1, id).await;
    let st = c.expect_status("Cannot subscribe to /chatter").await;
    assert!(st["message"].as_str().unwrap().contains("rebuild"), "{st}");
    c.advertise(1, "/chatter", "cdr", "std_msgs/msg/String")
        .await;
    c.expect_status("Cannot publish on /chatter").await;
}

async fn recv(
    sub: &mut tokio::sync::mpsc::Receiver<foxglove_gateway::ros::sim::SimMessage>,
) -> Vec<u8> {
    let m = tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    m.payload.to_vec()
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(TIMEOUT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition in time");
}

#[tokio::test]
async fn large_payloads_arrive_byte_exact() {
    // Large messages are sent as header + payload fragments; the viewer sees one message.
    let s = start(|_| {}).await;
    let p = s
        .sim
        .add_publisher("/image", "std_msgs/msg/String", "/cam", Qos::default());
    let mut c = s.client().await;
    let id = c.channel_id("/image").await;
    c.subscribe(3, id).await;
    wait_for(|| s.sim.gateway_subscriptions("/image") == 1).await;
    for size in [16 * 1024 - 20, 16 * 1024, 300 * 1024] {
        let text: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let payload = s.cdr("std_msgs/msg/String", json!({ "data": text }));
        p.publish(payload.clone());
        let d = c.expect_data().await;
        assert_eq!(d.subscription, 3);
        assert_eq!(d.payload.len(), payload.len());
        assert!(
            d.payload == payload.to_vec(),
            "payload of {size} bytes differs"
        );
    }
}
