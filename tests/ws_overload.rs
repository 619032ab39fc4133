//! A viewer that stops reading while a large topic flows: its memory stays bounded, another
//! viewer's rate is unaffected, and the stalled viewer is told what was dropped once it reads
//! again.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use foxglove_gateway::ros::Qos;
use serde_json::json;

const LIMIT: usize = 2_000_000;
const CLOUD: usize = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewer_costs_only_itself() {
    let s = start(|c| c.send_buffer_limit = LIMIT).await;
    let cloud = s
        .sim
        .add_publisher("/points", "std_msgs/msg/String", "/lidar", Qos::default());
    let state = s
        .sim
        .add_publisher("/state", "std_msgs/msg/String", "/fsm", Qos::default());
    let cloud_msg = s.cdr("std_msgs/msg/String", json!({"data": "p".repeat(CLOUD)}));
    let state_msg = s.cdr("std_msgs/msg/String", json!({"data": "idle"}));

    let mut a = s.client().await; // will stall
    let mut b = s.client().await; // keeps reading
    let points = a.channel_id("/points").await;
    let st = loop {
        // both channels may come in one or two advertisements
        if let Some(id) = s
            .gateway
            .hub()
            .channels()
            .iter()
            .find(|c| &*c.topic == "/state")
            .map(|c| c.id)
        {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    for c in [&mut a, &mut b] {
        c.send_json(json!({"op":"subscribe","subscriptions":[
            {"id":1,"channelId":points},{"id":2,"channelId":st}]}))
            .await;
    }
    let hub = s.gateway.hub().clone();
    tokio::time::timeout(TIMEOUT, async {
        while hub.subscriber_count(points) < 2 || hub.subscriber_count(st) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();

    // Sources: 256 KiB at 200 Hz (51 MB/s) and 100 B at 100 Hz, from their own threads as a
    // ROS thread would.
    let stop = Arc::new(AtomicBool::new(false));
    let spawn = |p: foxglove_gateway::ros::sim::SimPublisher, msg: bytes::Bytes, hz: u64| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let period = Duration::from_micros(1_000_000 / hz);
            let mut next = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                p.publish(msg.clone());
                n += 1;
                next += period;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            n
        })
    };
    let cloud_thread = spawn(cloud, cloud_msg.clone(), 200);
    let state_thread = spawn(state, state_msg.clone(), 100);

    // `a` reads nothing for 3 s; `b` reads everything and counts /state.
    let window = Duration::from_secs(3);
    let t0 = Instant::now();
    let mut b_state = 0u32;
    let mut b_points = 0u32;
    let mut max_queued = 0usize;
    while t0.elapsed() < window {
        let d = b.expect_data().await;
        match d.subscription {
            1 => b_points += 1,
            2 => b_state += 1,
            other => panic!("unexpected subscription {other}"),
        }
        for (_, _, bytes, _) in hub.client_stats() {
            max_queued = max_queued.max(bytes);
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();

    // Memory of the stalled viewer stays bounded: the byte limit plus the newest message of
    // each of its two channels.
    assert!(
        max_queued <= LIMIT + CLOUD + 200,
        "queued {max_queued} bytes for one viewer (limit {LIMIT})"
    );
    let dropped: u64 = hub.client_stats().iter().map(|(_, _, _, d)| d).sum();
    eprintln!("max queued {max_queued} B, dropped {dropped}, live viewer: {b_state} state, {b_points} points in {elapsed:.2} s");
    assert!(dropped > 0, "the stalled viewer must have had drops");

    // The reading viewer's small topic kept its rate (100 Hz; allow 15% for this small machine).
    let rate = b_state as f64 / elapsed;
    assert!(
        rate >= 85.0,
        "/state reached the live viewer at {rate:.1} Hz, expected ~100"
    );
    assert!(b_points > 0);

    // `a` reads again: it is told, by name, what it lost; /state was never dropped.
    let report = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let st = a.expect_op("status").await;
            let m = st["message"].as_str().unwrap_or("").to_string();
            if m.starts_with("Dropped") {
                return (st, m);
            }
        }
    })
    .await
    .expect("a drop report");
    let (st, msg) = report;
    assert_eq!(st["level"], 1);
    assert_eq!(st["id"], "dropped-messages");
    assert!(msg.contains("/points"), "{msg}");
    assert!(!msg.contains("/state"), "small topic dropped: {msg}");

    stop.store(true, Ordering::Relaxed);
    cloud_thread.join().unwrap();
    state_thread.join().unwrap();
}
