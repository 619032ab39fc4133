//! Sim time: with `use_sim_time` the `time` capability is offered, every `/clock` becomes a
//! Time frame (0x02) for every viewer, and message log times follow `/clock`; without it none of
//! that happens and log times are wall-clock.

mod common;

use std::time::Duration;

use common::*;
use foxglove_gateway::ros::Qos;
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Binary frames as they arrive.
#[derive(Debug, PartialEq)]
enum Frame {
    Time(u64),
    Data(Data),
}

/// The next Time or MessageData frame (text is skipped).
async fn next_frame(c: &mut Client) -> Frame {
    loop {
        let m = tokio::time::timeout(TIMEOUT, c.ws.next())
            .await
            .expect("frame in time")
            .expect("connection open")
            .expect("no read error");
        match m {
            Message::Binary(b) if b.first() == Some(&2) => {
                assert_eq!(b.len(), 9, "Time frame is opcode + u64");
                return Frame::Time(u64::from_le_bytes(b[1..9].try_into().unwrap()));
            }
            Message::Binary(b) if b.first() == Some(&1) => {
                return Frame::Data(parse_data(&b).expect("MessageData"))
            }
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

async fn next_time(c: &mut Client) -> u64 {
    loop {
        if let Frame::Time(t) = next_frame(c).await {
            return t;
        }
    }
}

async fn next_data(c: &mut Client) -> Data {
    loop {
        if let Frame::Data(d) = next_frame(c).await {
            return d;
        }
    }
}

fn capabilities(info: &serde_json::Value) -> Vec<String> {
    info["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn sim_time_drives_time_frames_and_log_times() {
    let s = start(|c| c.use_sim_time = true).await;
    s.sim.set_use_sim_time(true);
    let clock = s
        .sim
        .add_publisher("/clock", "rosgraph_msgs/msg/Clock", "/sim", Qos::default());
    let chatter = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());

    let mut a = s.client().await;
    let mut b = s.client().await;
    assert!(capabilities(&a.expect_op("serverInfo").await).contains(&"time".to_string()));
    b.expect_op("serverInfo").await;
    let channel = a.channel_id("/chatter").await;
    a.subscribe(1, channel).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Before any /clock, sim time is 0 (rclcpp's now() under use_sim_time).
    let hello = s.cdr("std_msgs/msg/String", json!({"data": "hello"}));
    chatter.publish(hello.clone());
    assert_eq!(next_data(&mut a).await.log_time, 0);

    let t1 = 100_000_000_005;
    clock.publish(s.cdr(
        "rosgraph_msgs/msg/Clock",
        json!({"clock": {"sec": 100, "nanosec": 5}}),
    ));
    // Every viewer gets the Time frame, subscribed or not.
    assert_eq!(next_time(&mut a).await, t1);
    assert_eq!(next_time(&mut b).await, t1);
    chatter.publish(hello.clone());
    assert_eq!(next_data(&mut a).await.log_time, t1);

    let t2 = 101_500_000_000;
    clock.publish(s.cdr(
        "rosgraph_msgs/msg/Clock",
        json!({"clock": {"sec": 101, "nanosec": 500_000_000}}),
    ));
    assert_eq!(next_time(&mut a).await, t2);
    chatter.publish(hello);
    assert_eq!(next_data(&mut a).await.log_time, t2);

    // A viewer that connects later (say, while the simulation is paused and /clock is silent)
    // gets the current time at once.
    let mut late = s.client().await;
    assert_eq!(next_time(&mut late).await, t2);
}

#[tokio::test]
async fn without_use_sim_time_there_is_no_time_capability_and_log_times_are_wall_clock() {
    // Asking for "time" through `capabilities` does not offer it: it follows use_sim_time.
    let s = start(|c| c.capabilities.push("time".into())).await;
    let clock = s
        .sim
        .add_publisher("/clock", "rosgraph_msgs/msg/Clock", "/sim", Qos::default());
    let chatter = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let mut a = s.client().await;
    assert!(!capabilities(&a.expect_op("serverInfo").await).contains(&"time".to_string()));
    let channel = a.channel_id("/chatter").await;
    a.subscribe(1, channel).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    clock.publish(s.cdr(
        "rosgraph_msgs/msg/Clock",
        json!({"clock": {"sec": 100, "nanosec": 5}}),
    ));
    let before = foxglove_gateway::ros::now_ns();
    chatter.publish(s.cdr("std_msgs/msg/String", json!({"data": "hello"})));
    // The first binary frame is the message, not a Time frame, and carries wall-clock time.
    match next_frame(&mut a).await {
        Frame::Data(d) => {
            assert!(d.log_time >= before, "{} < {before}", d.log_time);
            assert!(d.log_time < before + 5_000_000_000);
        }
        Frame::Time(t) => panic!("Time frame {t} without use_sim_time"),
    }
}

#[tokio::test]
async fn a_malformed_clock_is_ignored() {
    let s = start(|c| c.use_sim_time = true).await;
    s.sim.set_use_sim_time(true);
    let clock = s
        .sim
        .add_publisher("/clock", "rosgraph_msgs/msg/Clock", "/sim", Qos::default());
    let mut a = s.client().await;
    a.expect_op("serverInfo").await;
    clock.publish(vec![0, 1, 0].into());
    clock.publish(s.cdr(
        "rosgraph_msgs/msg/Clock",
        json!({"clock": {"sec": 7, "nanosec": 0}}),
    ));
    assert_eq!(next_time(&mut a).await, 7_000_000_000);
}
