//! The demo robot, observed on the simulated graph: drive it over /cmd_vel and watch /odom, /tf,
//! /scan, /chatter and the latched topics. Time is paused, so the runs are deterministic.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use foxglove_gateway::cdr::{cdr_to_json, json_to_cdr};
use foxglove_gateway::demo::{self, DemoOptions};
use foxglove_gateway::ros::sim::{SimGraph, SimMessage};
use foxglove_gateway::ros::Qos;
use foxglove_gateway::schema::SchemaStore;
use serde_json::{json, Value};
use tokio::sync::mpsc::Receiver;

fn schemas() -> Arc<SchemaStore> {
    Arc::new(SchemaStore::new(vec![PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/interfaces"
    ))]))
}

fn decode(schemas: &SchemaStore, m: &SimMessage) -> Value {
    let schema = schemas.message(&m.type_name).unwrap();
    cdr_to_json(&schema, &m.payload).unwrap()
}

/// Everything received so far, decoded.
fn drain(schemas: &SchemaStore, rx: &mut Receiver<SimMessage>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        out.push(decode(schemas, &m));
    }
    out
}

fn last_odom(schemas: &SchemaStore, rx: &mut Receiver<SimMessage>) -> Value {
    drain(schemas, rx).pop().expect("an /odom message")
}

fn f(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} in {v}"))
}

fn yaw(odom: &Value) -> f64 {
    let z = f(odom, "/pose/pose/orientation/z");
    let w = f(odom, "/pose/pose/orientation/w");
    2.0 * z.atan2(w)
}

fn twist(schemas: &SchemaStore, v: f64, w: f64) -> Bytes {
    let schema = schemas.message("geometry_msgs/msg/Twist").unwrap();
    Bytes::from(json_to_cdr(&schema, &json!({"linear": {"x": v}, "angular": {"z": w}})).unwrap())
}

fn demo_on() -> DemoOptions {
    DemoOptions {
        demo: true,
        ..DemoOptions::default()
    }
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(start_paused = true)]
async fn drives_forward_then_stops_when_commands_stop() {
    let (sim, schemas) = (SimGraph::new(), schemas());
    let mut odom = sim.subscribe("/odom");
    let _demo = demo::start(&demo_on(), &sim, &schemas).unwrap();
    let teleop = sim.add_publisher(
        "/cmd_vel",
        "geometry_msgs/msg/Twist",
        "/teleop",
        Qos::default(),
    );
    sleep_ms(100).await;
    let start = last_odom(&schemas, &mut odom);
    assert_eq!(f(&start, "/pose/pose/position/x"), 0.0);
    assert_eq!(start["header"]["frame_id"], "odom");
    assert_eq!(start["child_frame_id"], "base_link");

    teleop.publish(twist(&schemas, 1.0, 0.0));
    sleep_ms(300).await;
    let moving = last_odom(&schemas, &mut odom);
    let x = f(&moving, "/pose/pose/position/x");
    assert!((0.25..=0.35).contains(&x), "x = {x} after 0.3 s at 1 m/s");
    assert_eq!(f(&moving, "/twist/twist/linear/x"), 1.0);
    assert!(f(&moving, "/pose/pose/position/y").abs() < 1e-9);

    // The command is 0.5 s old: the base has stopped, about 0.5 m from where it started.
    sleep_ms(700).await;
    let stopped = last_odom(&schemas, &mut odom);
    let x1 = f(&stopped, "/pose/pose/position/x");
    assert!((0.45..=0.55).contains(&x1), "x = {x1}");
    assert_eq!(f(&stopped, "/twist/twist/linear/x"), 0.0);
    sleep_ms(500).await;
    assert_eq!(
        f(&last_odom(&schemas, &mut odom), "/pose/pose/position/x"),
        x1
    );
}

#[tokio::test(start_paused = true)]
async fn turns_with_angular_z_and_ignores_garbage() {
    let (sim, schemas) = (SimGraph::new(), schemas());
    let mut odom = sim.subscribe("/odom");
    let _demo = demo::start(&demo_on(), &sim, &schemas).unwrap();
    let teleop = sim.add_publisher(
        "/cmd_vel",
        "geometry_msgs/msg/Twist",
        "/teleop",
        Qos::default(),
    );
    // A viewer can publish anything; the robot must shrug it off.
    teleop.publish(Bytes::from_static(&[0, 1, 0, 0, 1, 2]));
    teleop.publish(Bytes::new());
    // 0.5 rad/s, re-commanded every 0.2 s (inside the timeout) for 1 s.
    for _ in 0..5 {
        teleop.publish(twist(&schemas, 0.0, 0.5));
        sleep_ms(200).await;
    }
    let o = last_odom(&schemas, &mut odom);
    let yaw = yaw(&o);
    assert!((0.45..=0.55).contains(&yaw), "yaw = {yaw}");
    assert_eq!(f(&o, "/twist/twist/angular/z"), 0.5);
    assert_eq!(f(&o, "/pose/pose/position/x"), 0.0);
}

#[tokio::test(start_paused = true)]
async fn publishes_tf_scan_chatter_at_their_rates() {
    let (sim, schemas) = (SimGraph::new(), schemas());
    let (mut odom, mut tf, mut scan, mut chatter) = (
        sim.subscribe("/odom"),
        sim.subscribe("/tf"),
        sim.subscribe("/scan"),
        sim.subscribe("/chatter"),
    );
    let _demo = demo::start(&demo_on(), &sim, &schemas).unwrap();
    // Just short of 2 s: ticks at 0, 20, …, 1980 ms.
    sleep_ms(1990).await;
    let odoms = drain(&schemas, &mut odom);
    let tfs = drain(&schemas, &mut tf);
    let scans = drain(&schemas, &mut scan);
    let chats = drain(&schemas, &mut chatter);
    assert_eq!(odoms.len(), 100);
    assert_eq!(tfs.len(), 100);
    assert_eq!(scans.len(), 20);
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[1]["data"], "hello from the demo robot 1");

    let t = &tfs[0]["transforms"][0];
    assert_eq!(t["header"]["frame_id"], "odom");
    assert_eq!(t["child_frame_id"], "base_link");
    assert!(t["header"]["stamp"]["sec"].as_i64().unwrap() > 1_600_000_000);

    let s = &scans[0];
    assert_eq!(s["header"]["frame_id"], "laser");
    let (min, max) = (f(s, "/range_min"), f(s, "/range_max"));
    let ranges: Vec<f64> = s["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(ranges.len(), 360);
    assert_eq!(s["intensities"].as_array().unwrap().len(), 360);
    assert!(ranges.iter().all(|r| (min..=max).contains(r)), "{ranges:?}");
    // The angles describe the array: angle_min + (n-1)·increment = angle_max.
    let (a0, a1, inc) = (
        f(s, "/angle_min"),
        f(s, "/angle_max"),
        f(s, "/angle_increment"),
    );
    assert!((a0 + 359.0 * inc - a1).abs() < 1e-5);
    // Straight ahead of the laser (0.1 m in front of base_link at the origin): the wall at 5 m.
    let ahead = ((0.0 - a0) / inc).round() as usize;
    assert!((ranges[ahead] - 4.9).abs() < 1e-4, "{}", ranges[ahead]);
}

#[tokio::test(start_paused = true)]
async fn latched_topics_replay_to_new_gateway_subscriptions() {
    use foxglove_gateway::ros::{channel, MessageSink, RosCommand};
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Sink(Mutex<Vec<(u64, Bytes)>>);
    impl MessageSink for Sink {
        fn message(&self, key: u64, _log_time: u64, _publish_time: u64, payload: Bytes) {
            self.0.lock().push((key, payload));
        }
    }

    let (sim, schemas) = (SimGraph::new(), schemas());
    let sink = Arc::new(Sink::default());
    let (handle, io, mut events) = channel(sink.clone(), Default::default());
    let _backend = sim.start(io);
    let mut statics = sim.subscribe("/tf_static");
    let _demo = demo::start(&demo_on(), &sim, &schemas).unwrap();
    sleep_ms(10).await;

    // Published once at start, with a transient-local QoS in the graph.
    let first = drain(&schemas, &mut statics);
    assert_eq!(first.len(), 1);
    let t = &first[0]["transforms"][0];
    assert_eq!(
        (
            t["header"]["frame_id"].as_str(),
            t["child_frame_id"].as_str()
        ),
        (Some("base_link"), Some("laser"))
    );
    let mut latched = None;
    while let Ok(ev) = events.try_recv() {
        if let foxglove_gateway::ros::RosEvent::Graph(g) = ev {
            latched = g
                .topics
                .iter()
                .find(|t| t.name == "/robot_description")
                .map(|t| t.publishers[0].qos.durability);
        }
    }
    assert_eq!(
        latched,
        Some(foxglove_gateway::ros::Durability::TransientLocal)
    );

    // A viewer subscribes later: the gateway's subscription gets the description once.
    assert!(handle.send(RosCommand::Subscribe {
        key: 7,
        topic: "/robot_description".into(),
        type_name: "std_msgs/msg/String".into(),
    }));
    sleep_ms(500).await;
    let got = sink.0.lock().clone();
    assert_eq!(got.len(), 1);
    let schema = schemas.message("std_msgs/msg/String").unwrap();
    let urdf = cdr_to_json(&schema, &got[0].1).unwrap();
    assert!(urdf["data"]
        .as_str()
        .unwrap()
        .contains("<robot name=\"demo_robot\">"));
    assert_eq!(got[0].0, 7);
}

#[tokio::test]
async fn nothing_asked_nothing_published() {
    let (sim, schemas) = (SimGraph::new(), schemas());
    let mut odom = sim.subscribe("/odom");
    let demo = demo::start(&DemoOptions::default(), &sim, &schemas).unwrap();
    assert!(demo.is_empty());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(odom.try_recv().is_err());
}
