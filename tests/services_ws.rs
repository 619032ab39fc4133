//! Services over WebSocket against the simulated graph: advertisement with schemas, calls in
//! CDR and JSON, and every failure path (timeout, vanished service, bad JSON, unknown id,
//! unsupported encoding, too many calls), with topic data flowing throughout.

#[path = "services_support.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use foxglove_gateway::config::Patterns;
use foxglove_gateway::ros::sim_services::SimReply;
use foxglove_gateway::ros::Qos;
use support::{service_id, Viewer};

const SET_BOOL: &str = "std_srvs/srv/SetBool";

/// A SetBool server that answers `success = !data`, `message = "was <data>"`.
fn negate(req: &serde_json::Value) -> SimReply {
    let data = req["data"].as_bool().unwrap_or(false);
    SimReply::Respond(json!({"success": !data, "message": format!("was {data}")}))
}

#[tokio::test]
async fn services_are_advertised_with_request_and_response_schemas() {
    let server = support::start(|_| {}).await;
    let _svc = server
        .sim
        .add_service("/robot/enable", SET_BOOL, "/robot", negate);
    let mut v = Viewer::connect(&server).await;
    let info = v.expect_op("serverInfo").await;
    let caps: Vec<&str> = info["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(caps.contains(&"services"), "{caps:?}");
    let (_, svc) = service_id(&mut v, "/robot/enable").await;
    assert_eq!(svc["type"], SET_BOOL);
    assert_eq!(
        svc["request"],
        json!({"encoding": "cdr", "schemaName": "std_srvs/srv/SetBool_Request",
               "schemaEncoding": "ros2msg",
               "schema": "bool data # e.g. for hardware enabling / disabling\n"})
    );
    assert_eq!(
        svc["response"]["schemaName"],
        "std_srvs/srv/SetBool_Response"
    );
    assert_eq!(svc["response"]["schemaEncoding"], "ros2msg");
    let text = svc["response"]["schema"].as_str().unwrap();
    assert!(
        text.contains("bool success") && text.contains("string message"),
        "{text}"
    );
}

#[tokio::test]
async fn cdr_call_is_answered_in_cdr() {
    let server = support::start(|_| {}).await;
    let _svc = server
        .sim
        .add_service("/enable", SET_BOOL, "/robot", negate);
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/enable").await;
    // SetBool_Request {data: true}: encapsulation header, then one byte.
    v.call(id, 7, "cdr", &[0, 1, 0, 0, 1]).await;
    let r = v.expect_reply(7).await.expect("a response");
    assert_eq!(
        (r.service_id, r.call_id, r.encoding.as_str()),
        (id, 7, "cdr")
    );
    // SetBool_Response {success: false, message: "was true"}: bool, pad to 4, u32 length
    // (with the NUL), the bytes, NUL.
    let mut want = vec![0, 1, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0];
    want.extend_from_slice(b"was true\0");
    assert_eq!(r.payload, want);
    assert_eq!(
        server.sim.service_calls(),
        vec![("/enable".into(), json!({"data": true}))]
    );
}

#[tokio::test]
async fn json_call_is_answered_in_json() {
    let server = support::start(|_| {}).await;
    let _svc = server
        .sim
        .add_service("/enable", SET_BOOL, "/robot", negate);
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/enable").await;
    v.call(id, 1, "json", br#"{"data": false}"#).await;
    let r = v.expect_reply(1).await.expect("a response");
    assert_eq!(r.encoding, "json");
    let body: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
    assert_eq!(body, json!({"success": true, "message": "was false"}));
    // Fields left out take their defaults before the request reaches ROS.
    v.call(id, 2, "json", b"{}").await;
    let r = v.expect_reply(2).await.expect("a response");
    let body: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(server.sim.service_calls()[1].1, json!({"data": false}));
}

#[tokio::test]
async fn json_that_does_not_fit_the_request_type_fails() {
    let server = support::start(|_| {}).await;
    let _svc = server
        .sim
        .add_service("/enable", SET_BOOL, "/robot", negate);
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/enable").await;
    v.call(id, 1, "json", br#"{"data": "yes"}"#).await;
    let f = v.expect_reply(1).await.expect_err("a failure");
    assert_eq!(f["serviceId"], id);
    let m = f["message"].as_str().unwrap();
    assert!(
        m.contains("/enable") && m.contains("SetBool_Request") && m.contains("data"),
        "{m}"
    );
    v.call(id, 2, "json", b"{not json").await;
    let f = v.expect_reply(2).await.expect_err("a failure");
    assert!(
        f["message"].as_str().unwrap().contains("invalid JSON"),
        "{f}"
    );
    // Truncated CDR.
    v.call(id, 3, "cdr", &[0, 1, 0]).await;
    let f = v.expect_reply(3).await.expect_err("a failure");
    assert!(f["message"].as_str().unwrap().contains("/enable"), "{f}");
    assert!(server.sim.service_calls().is_empty(), "nothing reached ROS");
}

#[tokio::test]
async fn unknown_service_and_unsupported_encoding_fail() {
    let server = support::start(|_| {}).await;
    let _svc = server
        .sim
        .add_service("/enable", SET_BOOL, "/robot", negate);
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/enable").await;
    v.call(id + 100, 1, "cdr", &[0, 1, 0, 0, 1]).await;
    let f = v.expect_reply(1).await.expect_err("a failure");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown service"),
        "{f}"
    );
    v.call(id, 2, "ros1", &[1]).await;
    let f = v.expect_reply(2).await.expect_err("a failure");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("Unsupported encoding"),
        "{f}"
    );
}

#[tokio::test]
async fn a_call_that_is_never_answered_times_out_naming_the_service() {
    let server = support::start(|c| c.service_call_timeout = Duration::from_millis(300)).await;
    let _svc = server
        .sim
        .add_service("/slow", SET_BOOL, "/robot", |_| SimReply::Never);
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/slow").await;
    let t0 = Instant::now();
    v.call(id, 5, "cdr", &[0, 1, 0, 0, 1]).await;
    let f = v.expect_reply(5).await.expect_err("a failure");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let m = f["message"].as_str().unwrap();
    assert!(m.contains("/slow") && m.contains("300 ms"), "{m}");
    assert_eq!(server.gateway.hub().service_calls_in_flight(), 0);
}

#[tokio::test]
async fn a_late_answer_after_the_timeout_is_dropped() {
    let server = support::start(|c| c.service_call_timeout = Duration::from_millis(200)).await;
    let _svc = server.sim.add_service("/late", SET_BOOL, "/robot", |_| {
        SimReply::After(
            Duration::from_millis(600),
            json!({"success": true, "message": ""}),
        )
    });
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/late").await;
    v.call(id, 1, "cdr", &[0, 1, 0, 0, 1]).await;
    assert!(v.expect_reply(1).await.is_err());
    // The answer arrives at 600 ms; nothing more may reach the viewer for this call.
    tokio::time::sleep(Duration::from_millis(700)).await;
    v.call(id + 50, 2, "cdr", &[]).await; // a marker: fails at once
    let m = v
        .expect(|m| match m {
            tokio_tungstenite::tungstenite::Message::Binary(b) => b.first() == Some(&3),
            m => support::json(m).is_some_and(|j| j["op"] == "serviceCallFailure"),
        })
        .await;
    let j = support::json(&m).expect("the marker's failure, not a late response");
    assert_eq!(j["callId"], 2);
}

#[tokio::test]
async fn a_service_that_vanishes_mid_call_fails_fast() {
    let server = support::start(|c| c.service_call_timeout = Duration::from_secs(30)).await;
    let svc = server
        .sim
        .add_service("/flaky", SET_BOOL, "/robot", |_| SimReply::Never);
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/flaky").await;
    v.call(id, 9, "cdr", &[0, 1, 0, 0, 0]).await;
    // Let the call reach the graph, then the node dies.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    drop(svc);
    let f = v.expect_reply(9).await.expect_err("a failure");
    assert!(t0.elapsed() < Duration::from_secs(2));
    let m = f["message"].as_str().unwrap();
    assert!(m.contains("/flaky") && m.contains("went away"), "{m}");
    let un = v.expect_op("unadvertiseServices").await;
    assert_eq!(un["serviceIds"], json!([id]));
    // And a call after that fails at once too.
    v.call(id, 10, "cdr", &[0, 1, 0, 0, 0]).await;
    let f = v.expect_reply(10).await.expect_err("a failure");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown service"),
        "{f}"
    );
}

#[tokio::test]
async fn at_most_32_calls_in_flight_per_viewer() {
    let server = support::start(|c| c.service_call_timeout = Duration::from_secs(30)).await;
    let _svc = server
        .sim
        .add_service("/hang", SET_BOOL, "/robot", |_| SimReply::Never);
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/hang").await;
    for call in 0..33 {
        v.call(id, call, "cdr", &[0, 1, 0, 0, 0]).await;
    }
    let f = v.expect_reply(32).await.expect_err("a failure");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many requests"),
        "{f}"
    );
    // Another viewer is not affected.
    let mut other = Viewer::connect(&server).await;
    let (id2, _) = service_id(&mut other, "/hang").await;
    other.call(id2, 0, "cdr", &[0, 1, 0, 0, 0]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.gateway.hub().service_calls_in_flight(), 33);
    // Disconnecting abandons the viewer's calls.
    drop(v);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.gateway.hub().service_calls_in_flight(), 1);
}

#[tokio::test]
async fn service_whitelist_filters_advertisement() {
    let server = support::start(|c| {
        c.service_whitelist = Patterns::new("service_whitelist", &["^/allowed/.*"]).unwrap();
    })
    .await;
    let _a = server.sim.add_service("/allowed/x", SET_BOOL, "/n", negate);
    let _b = server.sim.add_service("/hidden/y", SET_BOOL, "/n", negate);
    let mut v = Viewer::connect(&server).await;
    let adv = v.expect_op("advertiseServices").await;
    let names: Vec<&str> = adv["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/allowed/x"]);
}

#[tokio::test]
async fn a_service_without_definition_is_advertised_and_calls_explain() {
    let server = support::start(|_| {}).await;
    let _s = server
        .sim
        .add_service("/mystery", "nowhere_pkgs/srv/Unknown", "/n", |_| {
            SimReply::Never
        });
    let mut v = Viewer::connect(&server).await;
    let (id, svc) = service_id(&mut v, "/mystery").await;
    assert_eq!(svc["requestSchema"], "");
    assert_eq!(svc["responseSchema"], "");
    v.call(id, 1, "json", b"{}").await;
    let f = v.expect_reply(1).await.expect_err("a failure");
    assert!(
        f["message"].as_str().unwrap().contains("no definition"),
        "{f}"
    );
}

#[tokio::test]
async fn pending_calls_never_hold_up_topic_data() {
    let server = support::start(|c| c.service_call_timeout = Duration::from_millis(800)).await;
    let _svc = server
        .sim
        .add_service("/hang", SET_BOOL, "/robot", |_| SimReply::Never);
    let publisher =
        server
            .sim
            .add_publisher("/chatter", "std_msgs/msg/String", "/talker", Qos::default());
    let payload: Bytes = server.cdr("std_msgs/msg/String", json!({"data": "hi"}));
    let task = tokio::spawn(async move {
        loop {
            publisher.publish(payload.clone());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let mut v = Viewer::connect(&server).await;
    let (id, _) = service_id(&mut v, "/hang").await;
    let ch = support::channel_id(&mut v, "/chatter").await;
    v.subscribe(1, ch).await;
    v.expect_data().await;
    for call in 0..32 {
        v.call(id, call, "cdr", &[0, 1, 0, 0, 0]).await;
    }
    // Until the first call fails (800 ms), data keeps coming.
    let (n, _) = v
        .count_data_until(|j| j["op"] == "serviceCallFailure")
        .await;
    task.abort();
    assert!(n >= 20, "only {n} messages while calls were pending");
}
