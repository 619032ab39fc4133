//! Connection graph over WebSocket against the simulated graph: the first update after
//! subscribing is the full graph, later ones are diffs, whitelists apply, and unsubscribing
//! stops updates.

#[path = "services_support.rs"]
mod support;

use std::time::Duration;

use serde_json::json;

use foxglove_gateway::config::Patterns;
use foxglove_gateway::ros::sim_services::SimReply;
use foxglove_gateway::ros::Qos;
use support::Viewer;

#[tokio::test]
async fn first_update_is_the_full_graph_then_diffs() {
    let server = support::start(|c| {
        c.topic_whitelist = Patterns::new("topic_whitelist", &["^/(?!private).*"]).unwrap();
    })
    .await;
    let sim = &server.sim;
    let _p = sim.add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let _q = sim.add_publisher("/private", "std_msgs/msg/String", "/talker", Qos::default());
    let _s = sim.add_subscriber("/chatter", "/listener");
    let _t = sim.add_subscriber("/cmd_vel", "/base");
    let svc = sim.add_service("/reset", "std_srvs/srv/Trigger", "/talker", |_| {
        SimReply::Never
    });
    let mut v = Viewer::connect(&server).await;
    let info = v.expect_op("serverInfo").await;
    assert!(info["capabilities"].to_string().contains("connectionGraph"));
    v.send_json(json!({"op": "subscribeConnectionGraph"})).await;
    let full = v.expect_op("connectionGraphUpdate").await;
    assert_eq!(
        full,
        json!({
            "op": "connectionGraphUpdate",
            "publishedTopics": [{"name": "/chatter", "publisherIds": ["/talker"]}],
            "subscribedTopics": [
                {"name": "/chatter", "subscriberIds": ["/listener"]},
                {"name": "/cmd_vel", "subscriberIds": ["/base"]},
            ],
            "advertisedServices": [{"name": "/reset", "providerIds": ["/talker"]}],
            "removedTopics": [],
            "removedServices": [],
        })
    );
    // A second publisher: only that topic's entry, with both ids.
    let p2 = sim.add_publisher(
        "/chatter",
        "std_msgs/msg/String",
        "/talker2",
        Qos::default(),
    );
    let d = v.expect_op("connectionGraphUpdate").await;
    assert_eq!(
        d["publishedTopics"],
        json!([{"name": "/chatter", "publisherIds": ["/talker", "/talker2"]}])
    );
    assert_eq!(d["subscribedTopics"], json!([]));
    assert_eq!(d["advertisedServices"], json!([]));
    drop(p2);
    let d = v.expect_op("connectionGraphUpdate").await;
    assert_eq!(
        d["publishedTopics"],
        json!([{"name": "/chatter", "publisherIds": ["/talker"]}])
    );
    // Service gone.
    drop(svc);
    let d = v.expect_op("connectionGraphUpdate").await;
    assert_eq!(d["removedServices"], json!(["/reset"]));
    // A topic goes only when it has neither publishers nor subscribers.
    drop(_t);
    let d = v.expect_op("connectionGraphUpdate").await;
    assert_eq!(d["removedTopics"], json!(["/cmd_vel"]));
}

#[tokio::test]
async fn repeated_subscribe_is_ignored_and_unsubscribe_stops_updates() {
    let server = support::start(|_| {}).await;
    let _p = server
        .sim
        .add_publisher("/a", "std_msgs/msg/String", "/n", Qos::default());
    let mut v = Viewer::connect(&server).await;
    v.send_json(json!({"op": "subscribeConnectionGraph"})).await;
    v.expect_op("connectionGraphUpdate").await;
    v.send_json(json!({"op": "subscribeConnectionGraph"})).await;
    v.expect_no_op("connectionGraphUpdate", Duration::from_millis(200))
        .await;
    v.send_json(json!({"op": "unsubscribeConnectionGraph"}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _q = server
        .sim
        .add_publisher("/b", "std_msgs/msg/String", "/n", Qos::default());
    v.expect_no_op("connectionGraphUpdate", Duration::from_millis(300))
        .await;
    // Viewers that never subscribed get nothing either.
    let mut other = Viewer::connect(&server).await;
    let _r = server
        .sim
        .add_publisher("/c", "std_msgs/msg/String", "/n", Qos::default());
    other
        .expect_no_op("connectionGraphUpdate", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn without_the_capability_subscribing_is_refused() {
    let server = support::start(|c| c.capabilities = vec!["clientPublish".into()]).await;
    let mut v = Viewer::connect(&server).await;
    v.send_json(json!({"op": "subscribeConnectionGraph"})).await;
    v.expect_status("connectionGraph").await;
    v.send_json(json!({"op": "getParameters", "parameterNames": [], "id": "x"}))
        .await;
    v.expect_status("parameters").await;
}
