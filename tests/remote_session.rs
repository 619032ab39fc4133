//! Remote access over the in-process room: participants, advertise forms, v2 data on the
//! control stream and on data tracks, client publish, reset of a stalled viewer, version check,
//! shared ROS subscriptions with WebSocket viewers. Frames are built and parsed by hand here
//! (not with our protocol module), so a bug there cannot hide itself.

mod common;

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use common::{start, twist_cdr, TestServer, TIMEOUT};
use foxglove_gateway::config::Secret;
use foxglove_gateway::remote::local_room::{LocalRoom, LocalRoomServer, Viewer, ViewerStream};
use foxglove_gateway::remote::session::{self, SessionConfig, SessionEnd};
use foxglove_gateway::remote::RoomConnector;
use foxglove_gateway::ros::sim::SimPublisher;
use foxglove_gateway::ros::{Durability, Qos, Reliability};

const LATCHED: Qos = Qos {
    reliability: Reliability::Reliable,
    durability: Durability::TransientLocal,
    depth: 1,
};

struct Rig {
    s: TestServer,
    room: LocalRoom,
    session: tokio::task::JoinHandle<SessionEnd>,
    cancel: CancellationToken,
    _pubs: Vec<SimPublisher>,
}

fn config(max_track: usize) -> SessionConfig {
    SessionConfig {
        session_id: "ras_test".into(),
        name: "robot".into(),
        wait_for_viewer: Duration::from_secs(30),
        max_data_track_message_size: max_track,
        write_timeout: Duration::from_millis(300),
    }
}

/// A gateway on the simulated graph with /chatter (lossy) and /map_name (reliable + latched),
/// and a session in a local room.
async fn rig(stream_capacity: usize, cfg: SessionConfig) -> Rig {
    rig_with(stream_capacity, cfg, |_| {}).await
}

async fn rig_with(
    stream_capacity: usize,
    cfg: SessionConfig,
    configure: impl FnOnce(&mut foxglove_gateway::config::Config),
) -> Rig {
    let s = start(configure).await;
    let pubs = vec![
        s.sim
            .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default()),
        s.sim
            .add_publisher("/map_name", "std_msgs/msg/String", "/mapper", LATCHED),
    ];
    let hub = s.gateway.hub().clone();
    tokio::time::timeout(TIMEOUT, async {
        while hub.channels().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("channels advertised");
    let rooms = LocalRoomServer::new(stream_capacity);
    let (room, events) = rooms
        .connect("wss://livekit.test", &Secret::new("lk-token"))
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let session = tokio::spawn(session::run(hub, room, events, cfg, cancel.clone()));
    let room = rooms.room(0).await;
    Rig {
        s,
        room,
        session,
        cancel,
        _pubs: pubs,
    }
}

impl Rig {
    fn channel(&self, topic: &str) -> u64 {
        self.s
            .gateway
            .hub()
            .channels()
            .iter()
            .find(|c| &*c.topic == topic)
            .map(|c| c.id)
            .expect("channel")
    }
}

/// The test's side of a participant: the current control stream and what it received.
struct V {
    viewer: Viewer,
    stream: ViewerStream,
}

enum In {
    Json(Value),
    Binary(Vec<u8>),
}

/// Read one frame by hand: u8 op, u32 LE length, payload.
async fn raw_frame(stream: &mut ViewerStream) -> (u8, Vec<u8>) {
    use foxglove_gateway::protocol::v2::Frame;
    let f = tokio::time::timeout(TIMEOUT, stream.next_frame())
        .await
        .expect("a frame in time")
        .expect("stream open")
        .expect("valid framing");
    match f {
        Frame::Text(b) => (1, b.to_vec()),
        Frame::Binary(b) => (2, b.to_vec()),
    }
}

impl V {
    async fn join(room: &LocalRoom, identity: &str, version: Option<&str>) -> V {
        let mut viewer = room.join(identity, version);
        let stream = tokio::time::timeout(TIMEOUT, viewer.next_stream())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stream.topic, "control");
        V { viewer, stream }
    }

    async fn next(&mut self) -> In {
        match raw_frame(&mut self.stream).await {
            (1, b) => In::Json(serde_json::from_slice(&b).expect("JSON text frame")),
            (_, b) => In::Binary(b),
        }
    }

    async fn expect_op(&mut self, op: &str) -> Value {
        loop {
            if let In::Json(v) = self.next().await {
                if v["op"] == op {
                    return v;
                }
            }
        }
    }

    async fn expect_binary(&mut self) -> Vec<u8> {
        loop {
            if let In::Binary(b) = self.next().await {
                return b;
            }
        }
    }

    fn send_json(&mut self, v: Value) {
        let text = v.to_string();
        let mut f = vec![1u8];
        f.extend_from_slice(&(text.len() as u32).to_le_bytes());
        f.extend_from_slice(text.as_bytes());
        self.viewer.send_raw(Bytes::from(f));
    }

    fn send_binary(&mut self, msg: &[u8]) {
        let mut f = vec![2u8];
        f.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        f.extend_from_slice(msg);
        self.viewer.send_raw(Bytes::from(f));
    }

    fn subscribe(&mut self, channel: u64) {
        self.send_json(json!({"op": "subscribe", "channels": [{"id": channel}]}));
    }
}

/// Parse a v2 MessageData by hand: (channel, log time, payload).
fn parse_v2_data(b: &[u8]) -> (u64, u64, Vec<u8>) {
    assert!(b.len() >= 17, "short MessageData {b:?}");
    assert_eq!(b[0], 1);
    let ch = u64::from_le_bytes(b[1..9].try_into().unwrap());
    let t = u64::from_le_bytes(b[9..17].try_into().unwrap());
    (ch, t, b[17..].to_vec())
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    tokio::time::timeout(TIMEOUT, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition in time");
}

#[tokio::test]
async fn two_viewers_get_server_info_and_the_advertise_form_of_their_version() {
    let r = rig(64, config(102_400)).await;
    let map = r.channel("/map_name");
    let chatter = r.channel("/chatter");
    let mut old = V::join(&r.room, "viewer-old", Some("2.2.0")).await;
    let mut new = V::join(&r.room, "viewer-new", Some("2.3.0")).await;
    for v in [&mut old, &mut new] {
        let In::Json(info) = v.next().await else {
            panic!("serverInfo must be first")
        };
        assert_eq!(info["op"], "serverInfo");
        assert_eq!(info["sessionId"], "ras_test");
        assert_eq!(info["name"], "robot");
        assert_eq!(info["supportedEncodings"], json!(["cdr", "json"]));
    }
    // < 2.3.0: inline schemas.
    let adv = old.expect_op("advertise").await;
    assert!(adv.get("schemas").is_none());
    let chans = adv["channels"].as_array().unwrap();
    let m = chans.iter().find(|c| c["id"] == map).unwrap();
    assert_eq!(m["schemaName"], "std_msgs/msg/String");
    assert_eq!(m["schemaEncoding"], "ros2msg");
    assert!(m["schema"].as_str().unwrap().contains("string data"));
    assert_eq!(m["metadata"]["foxglove.reliable"], "true");
    let c = chans.iter().find(|c| c["id"] == chatter).unwrap();
    assert!(
        c.get("metadata").is_none(),
        "lossy channels carry no reliable flag"
    );

    // ≥ 2.3.0: a schema table, each schema once, channels by schemaId.
    let adv = new.expect_op("advertise").await;
    let schemas = adv["schemas"].as_array().unwrap();
    assert_eq!(
        schemas.len(),
        1,
        "both channels share std_msgs/msg/String: {adv}"
    );
    assert_eq!(schemas[0]["id"], 1);
    assert_eq!(schemas[0]["name"], "std_msgs/msg/String");
    assert_eq!(schemas[0]["encoding"], "ros2msg");
    for c in adv["channels"].as_array().unwrap() {
        assert_eq!(c["schemaId"], 1);
        assert!(c.get("schema").is_none() && c.get("schemaName").is_none());
    }
    let m = adv["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == map)
        .unwrap();
    assert_eq!(m["metadata"]["foxglove.reliable"], "true");
    r.cancel.cancel();
    assert_eq!(r.session.await.unwrap(), SessionEnd::Cancelled);
}

#[tokio::test]
async fn reliable_channel_data_is_byte_exact_v2_message_data_on_the_control_stream() {
    let r = rig(64, config(102_400)).await;
    let map = r.channel("/map_name");
    let mut v = V::join(&r.room, "viewer", Some("2.3.0")).await;
    v.expect_op("advertise").await;
    v.subscribe(map);
    wait_until(|| r.s.sim.gateway_subscriptions("/map_name") == 1).await;
    // The §12 payload; the router does not look inside messages.
    let payload = br#"{"key": "value"}"#;
    r._pubs[1].publish(Bytes::from_static(payload));
    let (op, msg) = raw_frame(&mut v.stream).await;
    assert_eq!(op, 2, "binary frame");
    let (ch, log_time, got) = parse_v2_data(&msg);
    let mut want = vec![0x01];
    want.extend_from_slice(&map.to_le_bytes());
    want.extend_from_slice(&log_time.to_le_bytes());
    want.extend_from_slice(payload);
    assert_eq!(msg, want);
    assert_eq!((ch, got.as_slice()), (map, &payload[..]));
    assert_eq!(msg.len(), 33, "the reference's 33-byte message");
    assert!(
        r.room.track_names().is_empty(),
        "reliable data uses no track"
    );
}

#[tokio::test]
async fn lossy_channel_goes_once_onto_a_shared_data_track() {
    let r = rig(64, config(102_400)).await;
    let chatter = r.channel("/chatter");
    let mut a = V::join(&r.room, "a", Some("2.2.0")).await;
    let mut b = V::join(&r.room, "b", None).await;
    a.subscribe(chatter);
    b.subscribe(chatter);
    // subscribing twice is ignored
    b.send_json(json!({"op": "subscribe", "channels": [{"id": chatter}]}));
    wait_until(|| r.s.sim.gateway_subscriptions("/chatter") == 1).await;
    // the track is published on the first subscribe, before any message
    let name = format!("data-ch-{chatter}");
    wait_until(|| r.room.track(&name).is_some()).await;
    let payload = r.s.cdr("std_msgs/msg/String", json!({"data": "hi"}));
    r._pubs[0].publish(payload.clone());
    let track = r.room.track(&name).unwrap();
    let (frame, ts) = tokio::time::timeout(TIMEOUT, track.next()).await.unwrap();
    // u16 flags 0 | u16 offset 8 | u32 sequence 0 | message
    assert_eq!(&frame[..8], &[0, 0, 8, 0, 0, 0, 0, 0]);
    assert_eq!(&frame[8..], payload.as_ref());
    assert!(ts > 0, "user timestamp is the log time");
    r._pubs[0].publish(payload.clone());
    let (frame, _) = tokio::time::timeout(TIMEOUT, track.next()).await.unwrap();
    assert_eq!(&frame[4..8], &[1, 0, 0, 0], "sequence increments");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        track.take().is_empty(),
        "one frame per message, not one per viewer"
    );

    // The ROS subscription stays while one viewer remains, and goes with the last.
    a.send_json(json!({"op": "unsubscribe", "channelIds": [chatter]}));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(r.s.sim.gateway_subscriptions("/chatter"), 1);
    b.viewer.leave();
    wait_until(|| r.s.sim.gateway_subscriptions("/chatter") == 0).await;
}

#[tokio::test]
async fn unknown_channel_and_video_requests_get_error_statuses() {
    let r = rig(64, config(102_400)).await;
    let chatter = r.channel("/chatter");
    let mut v = V::join(&r.room, "v", Some("2.3.0")).await;
    v.subscribe(999);
    let s = v.expect_op("status").await;
    assert_eq!(s["level"], 2);
    assert_eq!(s["message"], "Unknown channel ID: 999");
    v.send_json(
        json!({"op": "subscribe", "channels": [{"id": chatter, "requestVideoTrack": true}]}),
    );
    let s = v.expect_op("status").await;
    assert_eq!(
        s["message"],
        format!("Channel {chatter} does not support video transcoding")
    );
    // v1's subscribe shape is invalid in v2
    v.send_json(json!({"op": "subscribe", "subscriptions": [{"id": 0, "channelId": chatter}]}));
    let s = v.expect_op("status").await;
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid message"),
        "{s}"
    );
    // a stream on another topic is ignored, even if it carries a valid request
    let text = json!({"op": "subscribe", "channels": [{"id": chatter}]}).to_string();
    let mut f = vec![1u8];
    f.extend_from_slice(&(text.len() as u32).to_le_bytes());
    f.extend_from_slice(text.as_bytes());
    v.viewer.send_on_topic("not-control", Bytes::from(f));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(r.s.sim.gateway_subscriptions("/chatter"), 0);
    // Ping → Pong echoing the app timestamp
    v.send_binary(b"\x04ABCDEFGH");
    let pong = v.expect_binary().await;
    assert_eq!(pong.len(), 17);
    assert_eq!(&pong[..9], b"\x06ABCDEFGH");
}

#[tokio::test]
async fn a_participant_publishes_a_twist_that_reaches_the_graph() {
    let r = rig(64, config(102_400)).await;
    let mut sub = r.s.sim.subscribe("/cmd_vel");
    let mut v = V::join(&r.room, "teleop", Some("2.3.0")).await;
    v.send_json(
        json!({"op": "advertise", "channels": [{"id": 1, "topic": "/cmd_vel",
        "encoding": "cdr", "schemaName": "geometry_msgs/msg/Twist"}]}),
    );
    let cdr = twist_cdr([0.5, 0.0, 0.0, 0.0, 0.0, 0.25]);
    let mut msg = vec![1u8, 1, 0, 0, 0];
    msg.extend_from_slice(&cdr);
    v.send_binary(&msg);
    let got = tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.type_name, "geometry_msgs/msg/Twist");
    assert_eq!(got.payload.to_vec(), cdr);
}

#[tokio::test]
async fn a_stalled_participant_is_reset_while_the_other_keeps_receiving() {
    // Streams hold 4 chunks: a viewer that stops reading stalls the device's writes quickly.
    let r = rig(4, config(102_400)).await;
    let map = r.channel("/map_name");
    let mut stalled = V::join(&r.room, "stalled", Some("2.3.0")).await;
    let mut healthy = V::join(&r.room, "healthy", Some("2.3.0")).await;
    stalled.subscribe(map);
    healthy.subscribe(map);
    wait_until(|| r.s.gateway.hub().subscriber_count(map) == 2).await;
    let mut received = 0;
    for i in 0..40u32 {
        r._pubs[1].publish(Bytes::from(i.to_le_bytes().to_vec()));
        // healthy keeps up; stalled never reads its first stream again
        loop {
            if let In::Binary(b) = healthy.next().await {
                let (ch, _, p) = parse_v2_data(&b);
                assert_eq!(ch, map);
                assert_eq!(p, i.to_le_bytes());
                received += 1;
                break;
            }
        }
    }
    assert_eq!(received, 40);
    // The stalled viewer gets a fresh stream: serverInfo and advertisements again.
    let mut fresh = tokio::time::timeout(TIMEOUT, stalled.viewer.next_stream())
        .await
        .expect("a new stream after the reset")
        .unwrap();
    let (op, first) = raw_frame(&mut fresh).await;
    assert_eq!(op, 1);
    let info: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(info["op"], "serverInfo");
    let (_, adv) = raw_frame(&mut fresh).await;
    let adv: Value = serde_json::from_slice(&adv).unwrap();
    assert_eq!(adv["op"], "advertise");
    assert_eq!(adv["schemas"][0]["id"], 1, "a fresh schema table");
    // healthy was not touched: still subscribed, still receiving
    r._pubs[1].publish(Bytes::from_static(b"after"));
    let b = healthy.expect_binary().await;
    assert_eq!(parse_v2_data(&b).2, b"after");
    assert_eq!(
        r.s.gateway.hub().subscriber_count(map),
        1,
        "the reset dropped only its subs"
    );
}

#[tokio::test]
async fn an_incompatible_viewer_gets_the_error_status_and_is_ignored() {
    let r = rig(64, config(102_400)).await;
    let mut viewer = r.room.join("future", Some("3.0.0"));
    let mut stream = tokio::time::timeout(TIMEOUT, viewer.next_stream())
        .await
        .unwrap()
        .unwrap();
    let (op, body) = raw_frame(&mut stream).await;
    assert_eq!(op, 1);
    let s: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(s["op"], "status");
    assert_eq!(s["level"], 2);
    assert_eq!(
        s["message"],
        "Remote access protocol version 3.0.0 is not compatible with this device (supported: 2.3.0)"
    );
    // not registered: its subscribe does nothing
    let chatter = r.channel("/chatter");
    let mut f = vec![1u8];
    let text = json!({"op": "subscribe", "channels": [{"id": chatter}]}).to_string();
    f.extend_from_slice(&(text.len() as u32).to_le_bytes());
    f.extend_from_slice(text.as_bytes());
    viewer.send_raw(Bytes::from(f));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.s.sim.gateway_subscriptions("/chatter"), 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), stream.next_frame())
            .await
            .map_or(true, |f| f.is_none())
    );
}

#[tokio::test]
async fn a_reconnecting_identity_replaces_the_old_instance() {
    let r = rig(64, config(102_400)).await;
    let chatter = r.channel("/chatter");
    let old = V::join(&r.room, "same", Some("2.3.0")).await;
    let mut new = V::join(&r.room, "same", Some("2.3.0")).await;
    assert_ne!(old.viewer.info.sid, new.viewer.info.sid);
    new.expect_op("serverInfo").await;
    // the old instance's late leave must not remove the new one
    old.viewer.leave();
    tokio::time::sleep(Duration::from_millis(50)).await;
    new.subscribe(chatter);
    wait_until(|| r.s.sim.gateway_subscriptions("/chatter") == 1).await;
}

#[tokio::test]
async fn oversized_lossy_messages_are_dropped_with_a_throttled_warning_naming_the_channel() {
    let r = rig(64, config(1200)).await;
    let chatter = r.channel("/chatter");
    let mut v = V::join(&r.room, "v", Some("2.3.0")).await;
    v.subscribe(chatter);
    wait_until(|| r.s.sim.gateway_subscriptions("/chatter") == 1).await;
    r._pubs[0].publish(Bytes::from(vec![0u8; 2000]));
    r._pubs[0].publish(Bytes::from(vec![0u8; 2000]));
    let s = v.expect_op("status").await;
    assert_eq!(s["level"], 1);
    assert_eq!(s["id"], format!("channel-drops-{chatter}"));
    let text = s["message"].as_str().unwrap();
    assert!(
        text.contains("/chatter") && text.contains("max_data_track_message_size"),
        "{text}"
    );
    // small messages still flow; no second warning within 30 s
    r._pubs[0].publish(Bytes::from_static(b"small"));
    let name = format!("data-ch-{chatter}");
    wait_until(|| r.room.track(&name).is_some()).await;
    let (frame, _) = tokio::time::timeout(TIMEOUT, r.room.track(&name).unwrap().next())
        .await
        .unwrap();
    assert_eq!(&frame[8..], b"small");
    r._pubs[0].publish(Bytes::from(vec![0u8; 2000]));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), v.expect_op("status"))
            .await
            .is_err(),
        "throttled"
    );
}

#[tokio::test]
async fn one_ros_subscription_for_a_topic_watched_over_websocket_and_remote_access() {
    let r = rig(64, config(102_400)).await;
    for topic in ["/chatter", "/map_name"] {
        let id = r.channel(topic);
        let mut ws = r.s.client().await;
        ws.expect_op("serverInfo").await;
        ws.subscribe(7, id).await;
        let mut v = V::join(&r.room, &format!("viewer{topic}"), Some("2.3.0")).await;
        v.subscribe(id);
        wait_until(|| r.s.gateway.hub().subscriber_count(id) == 2).await;
        assert_eq!(r.s.sim.gateway_subscriptions(topic), 1, "{topic}");
        ws.send_json(json!({"op": "unsubscribe", "subscriptionIds": [7]}))
            .await;
        wait_until(|| r.s.gateway.hub().subscriber_count(id) == 1).await;
        assert_eq!(r.s.sim.gateway_subscriptions(topic), 1, "{topic}");
        v.send_json(json!({"op": "unsubscribe", "channelIds": [id]}));
        wait_until(|| r.s.sim.gateway_subscriptions(topic) == 0).await;
    }
}

#[tokio::test]
async fn the_session_ends_when_idle_and_when_the_room_drops_us() {
    let mut cfg = config(102_400);
    cfg.wait_for_viewer = Duration::from_millis(200);
    let r = rig(64, cfg.clone()).await;
    let v = V::join(&r.room, "v", Some("2.3.0")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!r.session.is_finished(), "a viewer is there");
    v.viewer.leave();
    let end = tokio::time::timeout(TIMEOUT, r.session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(end, SessionEnd::Idle);
    assert!(r.room.is_closed());

    let r = rig(64, config(102_400)).await;
    let _v = V::join(&r.room, "v", Some("2.3.0")).await;
    r.room.disconnect_device("server shutting down");
    let end = tokio::time::timeout(TIMEOUT, r.session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(end, SessionEnd::Disconnected("server shutting down".into()));
    // the viewer's subscriptions and client channels are gone with the session
    assert_eq!(r.s.gateway.hub().client_stats().len(), 0);
}

#[tokio::test]
async fn a_control_queue_overflow_resets_at_once_even_while_a_write_is_stuck() {
    // One-chunk streams and a long write timeout: only the overflow can trigger the reset.
    let mut cfg = config(102_400);
    cfg.write_timeout = Duration::from_secs(3600);
    let r = rig_with(1, cfg, |c| c.message_backlog_size = 8).await;
    let mut stalled = V::join(&r.room, "stalled", Some("2.3.0")).await;
    let mut other = V::join(&r.room, "other", Some("2.3.0")).await;
    other.expect_op("advertise").await;
    // each request queues an answer the stalled viewer never reads (refusals would not do:
    // they are summarised rather than allowed to overflow the queue)
    for i in 0..20 {
        stalled
            .send_json(json!({"op": "getParameters", "parameterNames": [], "id": i.to_string()}));
    }
    let mut fresh = tokio::time::timeout(TIMEOUT, stalled.viewer.next_stream())
        .await
        .expect("reset long before the write timeout")
        .unwrap();
    let (_, first) = raw_frame(&mut fresh).await;
    let info: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(info["op"], "serverInfo");
    // the other viewer is untouched
    other.send_json(json!({"op": "frobnicate"}));
    let s = other.expect_op("status").await;
    assert!(s["message"].as_str().unwrap().contains("frobnicate"), "{s}");
}

#[tokio::test]
async fn services_parameters_and_the_graph_work_over_remote_access_too() {
    use foxglove_gateway::config::ParamValue;
    use foxglove_gateway::ros::sim_services::SimReply;
    let r = rig(64, config(102_400)).await;
    let _svc =
        r.s.sim
            .add_service("/enable", "std_srvs/srv/SetBool", "/robot", |req| {
                let on = req["data"].as_bool().unwrap_or(false);
                SimReply::Respond(json!({"success": on, "message": format!("was {on}")}))
            });
    r.s.sim
        .add_param_node("/robot", &[("max_speed", ParamValue::Double(1.5))], true);
    let mut v = V::join(&r.room, "viewer", Some("2.3.0")).await;
    let info = v.expect_op("serverInfo").await;
    let caps = info["capabilities"].to_string();
    for cap in ["services", "parameters", "connectionGraph"] {
        assert!(caps.contains(cap), "{cap} not offered remotely: {caps}");
    }
    assert!(!caps.contains("\"time\""));

    // Service call, JSON, through the same handler as WebSocket viewers.
    let svc = loop {
        let adv = v.expect_op("advertiseServices").await;
        if let Some(s) = adv["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "/enable")
        {
            break s["id"].as_u64().unwrap() as u32;
        }
    };
    let mut call = vec![2u8];
    call.extend_from_slice(&svc.to_le_bytes());
    call.extend_from_slice(&9u32.to_le_bytes());
    call.extend_from_slice(&4u32.to_le_bytes());
    call.extend_from_slice(b"json");
    call.extend_from_slice(br#"{"data": true}"#);
    v.send_binary(&call);
    let reply = loop {
        let b = v.expect_binary().await;
        if b.first() == Some(&3) {
            break b;
        }
    };
    assert_eq!(u32::from_le_bytes(reply[1..5].try_into().unwrap()), svc);
    assert_eq!(u32::from_le_bytes(reply[5..9].try_into().unwrap()), 9);
    assert_eq!(&reply[13..17], b"json");
    let body: Value = serde_json::from_slice(&reply[17..]).unwrap();
    assert_eq!(body, json!({"success": true, "message": "was true"}));

    // Parameters.
    v.send_json(json!({"op": "getParameters", "parameterNames": ["/robot.max_speed"], "id": "p1"}));
    let values = v.expect_op("parameterValues").await;
    assert_eq!(values["id"], "p1");
    assert_eq!(values["parameters"][0]["name"], "/robot.max_speed");
    assert_eq!(values["parameters"][0]["value"], 1.5);

    // Connection graph: the full graph on subscribe.
    v.send_json(json!({"op": "subscribeConnectionGraph"}));
    let graph = v.expect_op("connectionGraphUpdate").await;
    assert!(
        graph["publishedTopics"].to_string().contains("/chatter"),
        "{graph}"
    );
    assert!(
        graph["advertisedServices"].to_string().contains("/enable"),
        "{graph}"
    );
    r.cancel.cancel();
}
