//! Keepalive: a viewer that stops answering is dropped and everything it held is released.

mod common;

use std::time::Duration;

use common::*;
use foxglove_gateway::ros::Qos;

#[tokio::test]
async fn a_silent_viewer_is_dropped_and_its_subscriptions_released() {
    let s = start(|c| {
        c.keepalive_interval = Duration::from_millis(100);
        c.keepalive_timeout = Duration::from_millis(600);
    })
    .await;
    let _p = s
        .sim
        .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let mut sub = s.sim.subscribe("/cmd_vel");

    let mut c = s.client().await;
    let id = c.channel_id("/chatter").await;
    c.subscribe(1, id).await;
    c.advertise(2, "/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
        .await;
    c.publish(2, &twist_cdr([0.3, 0.0, 0.0, 0.0, 0.0, 0.0]))
        .await;
    tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    let hub = s.gateway.hub().clone();
    assert_eq!(hub.subscriber_count(id), 1);

    // An answering viewer stays (this client answers pings while it reads).
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(1200) {
        let _ = tokio::time::timeout(Duration::from_millis(50), c.expect_op("nothing")).await;
    }
    assert_eq!(
        hub.client_stats().len(),
        1,
        "a viewer that answers pings is kept"
    );

    // Now it goes silent: no reads, so no pongs (the socket stays open, as on a dead Wi-Fi link).
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !hub.client_stats().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("silent viewer dropped");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "dropped too early: {took:?}"
    );
    assert_eq!(hub.subscriber_count(id), 0);
    assert_eq!(s.sim.gateway_subscriptions("/chatter"), 0);
    // Its teleop publisher was released with the safety stop.
    let zero = tokio::time::timeout(TIMEOUT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(zero.payload.to_vec(), twist_cdr([0.0; 6]));
    drop(c);
}
