//! The black box during `--demo` traffic, checked with an independent MCAP reader (PyPI `mcap` +
//! `mcap-ros2-support`): saved through a Foxglove service call and through the ROS service (as a
//! ROS peer calls it on the simulated graph); the file's messages are exactly bytes that were
//! published, decode to the published values, cover the last `blackbox_seconds`, and its summary
//! and index are valid. Also: the box holds the shared ROS subscriptions with no viewer, the save
//! service is listed once, viewers never see a path, and continuous recording rotates.

#[path = "recording_support.rs"]
mod rec;
#[path = "services_support.rs"]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};

use foxglove_gateway::demo::{self, DemoOptions};
use foxglove_gateway::record::{SAVE_SERVICE, SAVE_SERVICE_TYPE};
use foxglove_gateway::ros::now_ns;
use support::{service_id, Viewer};

const WINDOW_S: u64 = 2;
const S: u64 = 1_000_000_000;

/// Every payload published on the demo topics, by topic (hex), as the simulated graph saw them.
fn observe(
    server: &support::TestServer,
    topics: &[&str],
) -> Arc<Mutex<BTreeMap<String, HashSet<String>>>> {
    let seen = Arc::new(Mutex::new(BTreeMap::<String, HashSet<String>>::new()));
    for t in topics {
        let mut rx = server.sim.subscribe(t);
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let hex: String = m.payload.iter().map(|b| format!("{b:02x}")).collect();
                seen.lock().entry(m.topic).or_default().insert(hex);
            }
        });
    }
    seen
}

fn demo_opts() -> DemoOptions {
    DemoOptions {
        demo: true,
        ..DemoOptions::default()
    }
}

/// Check a saved black box against what was published and the moment of the save.
fn check_saved(
    file: &Path,
    saved_at: u64,
    published: &BTreeMap<String, HashSet<String>>,
    server: &support::TestServer,
) -> Value {
    let o = rec::oracle_read(file);
    assert_eq!(o["profile"], "ros2");
    let stats = &o["statistics"];
    let count = stats["message_count"].as_u64().unwrap();
    assert!(count > 0);
    assert_eq!(
        o["indexed_count"].as_u64().unwrap(),
        count,
        "index vs statistics"
    );
    assert_eq!(
        o["linear_count"].as_u64().unwrap(),
        count,
        "data section vs statistics"
    );
    let chunks = o["chunk_indexes"].as_array().unwrap();
    assert!(!chunks.is_empty());
    for c in chunks {
        assert_eq!(c["compression"], "zstd");
        assert!(!c["message_index_channels"].as_array().unwrap().is_empty());
    }
    let channels = o["channels"].as_array().unwrap();
    let topics: HashSet<&str> = channels
        .iter()
        .map(|c| c["topic"].as_str().unwrap())
        .collect();
    for t in [
        "/odom",
        "/tf",
        "/scan",
        "/chatter",
        "/tf_static",
        "/robot_description",
    ] {
        assert!(topics.contains(t), "{t} missing from {topics:?}");
    }
    for c in channels {
        assert_eq!(c["message_encoding"], "cdr");
        assert_eq!(c["schema_encoding"], "ros2msg");
        assert!(c["metadata"]["offered_qos_profiles"]
            .as_str()
            .unwrap()
            .contains("reliability:"));
    }
    let msgs = o["messages"].as_array().unwrap();
    // Every message is a payload that was published on its topic, byte for byte.
    for m in msgs {
        let topic = m["topic"].as_str().unwrap();
        let hex = m["data_hex"].as_str().unwrap();
        assert!(
            published.get(topic).is_some_and(|s| s.contains(hex)),
            "{topic}: a message that was never published"
        );
        assert!(m["publish_time"].as_u64().unwrap() > 0);
    }
    // The window: live topics cover the last WINDOW_S seconds before the save (odom is at 50 Hz,
    // so its first and last messages are within a few periods of the edges).
    let odom: Vec<&Value> = msgs.iter().filter(|m| m["topic"] == "/odom").collect();
    let first = odom.first().unwrap()["log_time"].as_u64().unwrap();
    let last = odom.last().unwrap()["log_time"].as_u64().unwrap();
    assert!(last <= saved_at, "a message from after the save");
    assert!(
        saved_at - last < S / 2,
        "the last {} ms are missing",
        (saved_at - last) / 1_000_000
    );
    let span = last - first;
    assert!(
        (WINDOW_S * S - S / 5..=WINDOW_S * S).contains(&span),
        "window spans {span} ns, want ~{WINDOW_S} s"
    );
    let n = odom.len() as u64;
    assert!(
        (90..=102).contains(&n),
        "{n} /odom messages in {WINDOW_S} s at 50 Hz"
    );
    // Transient-local topics published at start (outside the window) are still in, at its start.
    let stat: Vec<&Value> = msgs.iter().filter(|m| m["topic"] == "/tf_static").collect();
    assert_eq!(stat.len(), 1);
    let window_start = msgs
        .iter()
        .map(|m| m["log_time"].as_u64().unwrap())
        .min()
        .unwrap();
    assert_eq!(stat[0]["log_time"].as_u64().unwrap(), window_start);
    assert_eq!(
        stat[0]["msg"]["transforms"][0]["child_frame_id"], "laser",
        "decoded /tf_static: {}",
        stat[0]["msg"]
    );
    // Decoded values match what the gateway's own codec reads from the published bytes.
    let chatter: Vec<&Value> = msgs.iter().filter(|m| m["topic"] == "/chatter").collect();
    assert!(!chatter.is_empty(), "/chatter (1 Hz) missing");
    for m in chatter {
        let text = m["msg"]["data"].as_str().unwrap();
        assert!(text.starts_with("hello from the demo robot "), "{text}");
    }
    let schema = server.schemas.message("nav_msgs/msg/Odometry").unwrap();
    for m in odom.iter().take(5) {
        let hex = m["data_hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let ours = foxglove_gateway::cdr::cdr_to_json(&schema, &bytes).unwrap();
        let theirs = &m["msg"];
        assert_eq!(theirs["header"]["frame_id"], ours["header"]["frame_id"]);
        assert_eq!(theirs["child_frame_id"], ours["child_frame_id"]);
        assert_eq!(
            theirs["pose"]["pose"]["position"]["x"].as_f64(),
            ours["pose"]["pose"]["position"]["x"].as_f64()
        );
        assert_eq!(
            theirs["header"]["stamp"]["sec"].as_u64(),
            ours["header"]["stamp"]["sec"].as_u64()
        );
    }
    o
}

/// A gateway with the black box on (`WINDOW_S`, recordings in a temp dir), the demo robot
/// publishing, and an observer of what it publishes.
async fn demo_with_box() -> (
    tempfile::TempDir,
    support::TestServer,
    Arc<Mutex<BTreeMap<String, HashSet<String>>>>,
    demo::Demo,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let server = support::start(move |c| {
        c.blackbox_seconds = WINDOW_S;
        c.recordings_dir = path.display().to_string();
    })
    .await;
    let published = observe(
        &server,
        &[
            "/odom",
            "/tf",
            "/scan",
            "/chatter",
            "/tf_static",
            "/robot_description",
        ],
    );
    let demo = demo::start(&demo_opts(), &server.sim, &server.schemas).unwrap();
    (dir, server, published, demo)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackbox_saved_through_a_foxglove_service_call_during_demo_traffic() {
    let (dir, server, published, _demo) = demo_with_box().await;
    let mut v = Viewer::connect(&server).await;
    let (id, svc) = service_id(&mut v, SAVE_SERVICE).await;
    assert_eq!(svc["type"], SAVE_SERVICE_TYPE);
    assert_eq!(
        svc["response"]["schemaName"],
        "std_srvs/srv/Trigger_Response"
    );
    // The backend provides it on the gateway's node, and the graph shows that server: it must
    // still be listed once only.
    assert!(server
        .sim
        .gateway_services()
        .contains(&(SAVE_SERVICE.to_string(), SAVE_SERVICE_TYPE.to_string())));
    v.expect_no_op("advertiseServices", Duration::from_millis(500))
        .await;
    tokio::time::sleep(Duration::from_millis(WINDOW_S * 1000 + 1500)).await;
    let saved_at = now_ns();
    // The Service Call panel sends the first supported encoding; json works too.
    v.call(id, 1, "json", b"{}").await;
    let r = v.expect_reply(1).await.expect("the save answers");
    let answer: Value = serde_json::from_slice(&r.payload).unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    let name = answer["message"].as_str().unwrap();
    assert!(
        name.starts_with("blackbox_") && !name.contains('/'),
        "{name}: a path?"
    );
    assert!(!name.contains(&dir.path().display().to_string()));
    let published = published.lock().clone();
    check_saved(
        &dir.path().join(format!("{name}.mcap")),
        saved_at,
        &published,
        &server,
    );
    // In CDR too (what the Service Call panel sends): an empty Trigger request.
    v.call(id, 2, "cdr", &[0, 1, 0, 0, 0]).await;
    let r = v.expect_reply(2).await.expect("the second save answers");
    assert_eq!(r.encoding, "cdr");
    let schema = server
        .schemas
        .message("std_srvs/srv/Trigger_Response")
        .unwrap();
    let answer = foxglove_gateway::cdr::cdr_to_json(&schema, &r.payload).unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    assert_ne!(answer["message"].as_str().unwrap(), name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackbox_saved_through_the_ros_service() {
    let (dir, server, published, _demo) = demo_with_box().await;
    tokio::time::sleep(Duration::from_millis(WINDOW_S * 1000 + 1500)).await;
    let saved_at = now_ns();
    // As `ros2 service call /foxglove_gateway/save_blackbox std_srvs/srv/Trigger` would.
    let rx = server
        .sim
        .call_gateway_service(
            SAVE_SERVICE,
            json!({"structure_needs_at_least_one_member": 0}),
        )
        .expect("the gateway provides the service on its node");
    let answer = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("answered in time")
        .expect("answered")
        .expect("a response");
    assert_eq!(answer["success"], true, "{answer}");
    let name = answer["message"].as_str().unwrap();
    let published = published.lock().clone();
    check_saved(
        &dir.path().join(format!("{name}.mcap")),
        saved_at,
        &published,
        &server,
    );
    // An unknown service of ours is answered with an error, not left hanging.
    assert!(server
        .sim
        .call_gateway_service("/foxglove_gateway/nope", json!({}))
        .is_err());
}

#[tokio::test]
async fn the_box_holds_its_topics_subscribed_without_viewers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let server = support::start(move |c| {
        c.blackbox_seconds = 5;
        c.recordings_dir = path.display().to_string();
        c.blackbox_topic_whitelist =
            foxglove_gateway::config::Patterns::new("blackbox_topic_whitelist", &["/odom"])
                .unwrap();
    })
    .await;
    let _demo = demo::start(&demo_opts(), &server.sim, &server.schemas).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.sim.gateway_subscriptions("/odom") == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.sim.gateway_subscriptions("/odom"), 1);
    assert_eq!(
        server.sim.gateway_subscriptions("/scan"),
        0,
        "not in the whitelist"
    );
    // A viewer shares the one subscription, and leaving does not release the box's.
    let mut v = Viewer::connect(&server).await;
    let odom = support::channel_id(&mut v, "/odom").await;
    v.subscribe(1, odom).await;
    let _ = v.expect_data().await;
    assert_eq!(server.sim.gateway_subscriptions("/odom"), 1);
    v.send_json(json!({"op": "unsubscribe", "subscriptionIds": [1]}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.sim.gateway_subscriptions("/odom"), 1);
    assert!(server.gateway.hub().recorder().unwrap().recorded() > 0);
}

#[tokio::test]
async fn without_the_box_nothing_is_subscribed_or_offered() {
    let server = support::start(|_| {}).await;
    let _demo = demo::start(&demo_opts(), &server.sim, &server.schemas).unwrap();
    let mut v = Viewer::connect(&server).await;
    let _ = support::channel_id(&mut v, "/odom").await;
    assert_eq!(server.sim.gateway_subscriptions("/odom"), 0);
    assert!(server.gateway.hub().recorder().is_none());
    assert!(server.sim.gateway_services().is_empty());
    assert!(server
        .sim
        .call_gateway_service(SAVE_SERVICE, json!({}))
        .is_err());
}

#[tokio::test]
async fn an_empty_box_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let server = support::start(move |c| {
        c.blackbox_seconds = 5;
        c.recordings_dir = path.display().to_string();
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rx = server
        .sim
        .call_gateway_service(SAVE_SERVICE, json!({}))
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(answer["success"], false);
    assert!(
        answer["message"].as_str().unwrap().contains("empty"),
        "{answer}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no file written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_recording_rotates_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let server = support::start(move |c| {
        c.record = true;
        c.record_max_file_seconds = 1;
        c.recordings_dir = path.display().to_string();
    })
    .await;
    let demo = demo::start(&demo_opts(), &server.sim, &server.schemas).unwrap();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    demo.stop();
    server.gateway.shutdown(Duration::from_secs(2)).await;
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("recording_") && n.ends_with(".mcap")),
        "{names:?}"
    );
    let mut odom = 0;
    for n in &names {
        let o = rec::oracle_read_first(&dir.path().join(n), 0);
        assert_eq!(o["indexed_count"], o["statistics"]["message_count"]);
        let span = o["statistics"]["message_end_time"].as_u64().unwrap()
            - o["statistics"]["message_start_time"].as_u64().unwrap();
        assert!(span < S + S / 10, "{n} spans {span} ns (> 1 s)");
        odom += o["statistics"]["message_count"].as_u64().unwrap();
    }
    assert!(odom > 200, "{odom} messages in ~2.6 s of demo traffic");
}
