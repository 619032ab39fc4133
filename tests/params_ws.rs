//! Parameters over WebSocket against the simulated graph: get (all / named), typed set with the
//! protocol's type hints, unset, subscriptions fed by `/parameter_events`, `param_whitelist`,
//! the cache that keeps polling gentle, and a node that never answers while topic data keeps
//! flowing.

#[path = "services_support.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use foxglove_gateway::config::Patterns;
use foxglove_gateway::ros::{ParamValue, Qos};
use support::{TestServer, Viewer};

fn robot(server: &TestServer) {
    server.sim.add_param_node(
        "/robot",
        &[
            ("max_speed", ParamValue::Double(1.0)),
            ("name", ParamValue::String("r2".into())),
            ("count", ParamValue::Integer(3)),
            ("enabled", ParamValue::Bool(true)),
            ("mask", ParamValue::ByteArray(vec![1, 2, 255])),
            ("gains", ParamValue::DoubleArray(vec![0.5, 2.0])),
            ("ids", ParamValue::IntegerArray(vec![4, 5])),
        ],
        true,
    );
}

/// Parameters of a `parameterValues`, by name.
fn by_name(msg: &Value) -> std::collections::BTreeMap<String, Value> {
    msg["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

async fn get(v: &mut Viewer, names: Value, id: &str) -> Value {
    v.send_json(json!({"op": "getParameters", "parameterNames": names, "id": id}))
        .await;
    loop {
        let m = v.expect_op("parameterValues").await;
        if m["id"] == id {
            return m;
        }
    }
}

#[tokio::test]
async fn get_all_returns_every_parameter_with_type_hints() {
    let server = support::start(|_| {}).await;
    robot(&server);
    let mut v = Viewer::connect(&server).await;
    let info = v.expect_op("serverInfo").await;
    let caps = info["capabilities"].to_string();
    assert!(
        caps.contains("\"parameters\"") && caps.contains("parametersSubscribe"),
        "{caps}"
    );
    let m = get(&mut v, json!([]), "all").await;
    let p = by_name(&m);
    assert_eq!(p.len(), 7, "{m}");
    assert_eq!(
        p["/robot.max_speed"],
        json!({"name": "/robot.max_speed", "value": 1.0, "type": "float64"})
    );
    assert_eq!(
        p["/robot.name"],
        json!({"name": "/robot.name", "value": "r2"})
    );
    assert_eq!(
        p["/robot.count"],
        json!({"name": "/robot.count", "value": 3})
    );
    assert_eq!(
        p["/robot.enabled"],
        json!({"name": "/robot.enabled", "value": true})
    );
    assert_eq!(
        p["/robot.mask"],
        json!({"name": "/robot.mask", "value": "AQL/", "type": "byte_array"})
    );
    assert_eq!(
        p["/robot.gains"],
        json!({"name": "/robot.gains", "value": [0.5, 2.0], "type": "float64_array"})
    );
    assert_eq!(
        p["/robot.ids"],
        json!({"name": "/robot.ids", "value": [4, 5]})
    );
}

#[tokio::test]
async fn get_named_returns_only_those() {
    let server = support::start(|_| {}).await;
    robot(&server);
    let mut v = Viewer::connect(&server).await;
    let m = get(
        &mut v,
        json!(["/robot.count", "/robot.nope", "/ghost.x"]),
        "n",
    )
    .await;
    let p = by_name(&m);
    assert_eq!(p.keys().collect::<Vec<_>>(), ["/robot.count"]);
}

#[tokio::test]
async fn set_honours_type_hints_and_answers_with_the_new_values() {
    let server = support::start(|_| {}).await;
    robot(&server);
    let mut v = Viewer::connect(&server).await;
    get(&mut v, json!([]), "warm").await;
    v.send_json(json!({"op": "setParameters", "id": "s1", "parameters": [
        {"name": "/robot.max_speed", "value": 2, "type": "float64"},
        {"name": "/robot.gains", "value": [1, 3], "type": "float64_array"},
        {"name": "/robot.mask", "value": "BAU=", "type": "byte_array"},
        {"name": "/robot.count", "value": 9},
        {"name": "/robot.name", "value": "c3po"},
    ]}))
    .await;
    let m = v.expect_op("parameterValues").await;
    assert_eq!(m["id"], "s1");
    let p = by_name(&m);
    assert_eq!(p["/robot.max_speed"]["value"], json!(2.0));
    assert_eq!(p["/robot.max_speed"]["type"], "float64");
    assert_eq!(p["/robot.count"]["value"], 9);
    let sim = &server.sim;
    assert_eq!(
        sim.param("/robot", "max_speed"),
        Some(ParamValue::Double(2.0))
    );
    assert_eq!(
        sim.param("/robot", "gains"),
        Some(ParamValue::DoubleArray(vec![1.0, 3.0]))
    );
    assert_eq!(
        sim.param("/robot", "mask"),
        Some(ParamValue::ByteArray(vec![4, 5]))
    );
    assert_eq!(sim.param("/robot", "count"), Some(ParamValue::Integer(9)));
    assert_eq!(
        sim.param("/robot", "name"),
        Some(ParamValue::String("c3po".into()))
    );
    // A whole number without a hint keeps a double parameter a double.
    v.send_json(json!({"op": "setParameters", "id": "s2",
        "parameters": [{"name": "/robot.max_speed", "value": 4}]}))
        .await;
    let m = v.expect_op("parameterValues").await;
    assert_eq!(m["id"], "s2");
    assert_eq!(
        sim.param("/robot", "max_speed"),
        Some(ParamValue::Double(4.0))
    );
}

#[tokio::test]
async fn a_parameter_without_value_is_unset() {
    let server = support::start(|_| {}).await;
    robot(&server);
    let mut v = Viewer::connect(&server).await;
    get(&mut v, json!([]), "warm").await;
    v.send_json(json!({"op": "setParameters", "id": "u",
        "parameters": [{"name": "/robot.count"}]}))
        .await;
    let m = v.expect_op("parameterValues").await;
    assert_eq!(m["id"], "u");
    assert!(by_name(&m).is_empty(), "{m}");
    assert_eq!(server.sim.param("/robot", "count"), None);
    let m = get(&mut v, json!([]), "after").await;
    assert!(!by_name(&m).contains_key("/robot.count"));
}

#[tokio::test]
async fn bad_sets_are_reported_and_not_sent() {
    let server = support::start(|c| {
        c.param_whitelist = Patterns::new("param_whitelist", &["^/robot\\.(?!secret).*"]).unwrap();
    })
    .await;
    robot(&server);
    server
        .sim
        .set_param("/robot", "secret", Some(ParamValue::Integer(1)));
    server.sim.set_param_read_only("/robot", "name");
    let mut v = Viewer::connect(&server).await;
    v.send_json(json!({"op": "setParameters", "parameters": [
        {"name": "/robot.secret", "value": 2},
        {"name": "/robot.count", "value": "x", "type": "float64"},
        {"name": "robot_count", "value": 1},
    ]}))
    .await;
    v.expect_status("/robot.secret").await;
    v.expect_status("float64").await;
    v.expect_status("/node.parameter").await;
    assert_eq!(
        server.sim.param("/robot", "secret"),
        Some(ParamValue::Integer(1))
    );
    assert_eq!(server.sim.param_requests("/robot"), 0);
    // A refusal by the node comes back as a status.
    v.send_json(
        json!({"op": "setParameters", "parameters": [{"name": "/robot.name", "value": "x"}]}),
    )
    .await;
    let s = v.expect_status("/robot.name").await;
    assert!(s["message"].as_str().unwrap().contains("read-only"), "{s}");
    // The whitelist also hides parameters from gets.
    let m = get(&mut v, json!([]), "g").await;
    assert!(!by_name(&m).contains_key("/robot.secret"), "{m}");
    assert!(by_name(&m).contains_key("/robot.count"));
}

#[tokio::test]
async fn subscribers_get_changes_from_parameter_events() {
    let server = support::start(|_| {}).await;
    robot(&server);
    let mut v = Viewer::connect(&server).await;
    let mut other = Viewer::connect(&server).await;
    get(&mut v, json!([]), "warm").await;
    v.send_json(json!({"op": "subscribeParameterUpdates", "parameterNames": ["/robot.count"]}))
        .await;
    // Wait until the gateway listens (it does while a viewer is connected).
    let t0 = Instant::now();
    while !server.sim.watching_param_events() {
        assert!(t0.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    server
        .sim
        .set_param("/robot", "name", Some(ParamValue::String("ignored".into())));
    server
        .sim
        .set_param("/robot", "count", Some(ParamValue::Integer(42)));
    let m = v.expect_op("parameterValues").await;
    assert_eq!(m.get("id"), None);
    assert_eq!(
        m["parameters"],
        json!([{"name": "/robot.count", "value": 42}])
    );
    // The cache follows the events: a get needs no new request to the node.
    let before = server.sim.param_requests("/robot");
    let m = get(&mut other, json!(["/robot.count", "/robot.name"]), "x").await;
    assert_eq!(by_name(&m)["/robot.count"]["value"], 42);
    assert_eq!(by_name(&m)["/robot.name"]["value"], "ignored");
    assert_eq!(server.sim.param_requests("/robot"), before);
    // Unset shows up as a parameter without value; after unsubscribing nothing more comes.
    server.sim.set_param("/robot", "count", None);
    let m = v.expect_op("parameterValues").await;
    assert_eq!(m["parameters"], json!([{"name": "/robot.count"}]));
    v.send_json(json!({"op": "unsubscribeParameterUpdates", "parameterNames": []}))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server
        .sim
        .set_param("/robot", "count", Some(ParamValue::Integer(1)));
    v.expect_no_op("parameterValues", Duration::from_millis(300))
        .await;
    drop(v);
    drop(other);
    let t0 = Instant::now();
    while server.sim.watching_param_events() {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "still listening with no viewer"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn polling_is_gentle_one_request_per_node_for_many_viewers() {
    let server = support::start(|_| {}).await;
    robot(&server);
    let mut viewers = Vec::new();
    for _ in 0..5 {
        viewers.push(Viewer::connect(&server).await);
    }
    for round in 0..3 {
        for v in viewers.iter_mut() {
            let m = get(v, json!([]), &format!("r{round}")).await;
            assert_eq!(by_name(&m).len(), 7);
        }
    }
    assert_eq!(
        server.sim.param_requests("/robot"),
        1,
        "15 gets, one request to the node"
    );
}

#[tokio::test]
async fn a_node_that_never_answers_is_skipped_and_topic_data_keeps_flowing() {
    let server = support::start(|c| c.service_call_timeout = Duration::from_millis(500)).await;
    robot(&server);
    server
        .sim
        .add_param_node("/stuck", &[("x", ParamValue::Integer(1))], false);
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
    let ch = support::channel_id(&mut v, "/chatter").await;
    v.subscribe(1, ch).await;
    v.expect_data().await;
    let t0 = Instant::now();
    v.send_json(json!({"op": "getParameters", "parameterNames": [], "id": "first"}))
        .await;
    let (n, m) = v
        .count_data_until(|j| j["op"] == "parameterValues" && j["id"] == "first")
        .await;
    let waited = t0.elapsed();
    // The answer waited for the silent node's timeout, and data flowed all along.
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(
        n >= 20,
        "only {n} messages while a parameter node was silent"
    );
    let p = by_name(&m);
    assert!(
        p.contains_key("/robot.count") && !p.contains_key("/stuck.x"),
        "{m}"
    );
    // Next time the silent node is skipped: the answer comes at once, without asking it.
    let t0 = Instant::now();
    let m = get(&mut v, json!([]), "second").await;
    assert!(
        t0.elapsed() < Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    assert!(by_name(&m).contains_key("/robot.count"));
    assert_eq!(server.sim.param_requests("/stuck"), 1);
    // Data is still flowing.
    v.clear();
    v.expect_data().await;
    task.abort();
}

#[tokio::test]
async fn without_skipping_an_unresponsive_node_is_asked_again() {
    let server = support::start(|c| {
        c.service_call_timeout = Duration::from_millis(200);
        c.ignore_unresponsive_param_nodes = false;
    })
    .await;
    server
        .sim
        .add_param_node("/stuck", &[("x", ParamValue::Integer(1))], false);
    let mut v = Viewer::connect(&server).await;
    get(&mut v, json!([]), "1").await;
    get(&mut v, json!([]), "2").await;
    assert_eq!(server.sim.param_requests("/stuck"), 2);
}

#[tokio::test]
async fn setting_on_a_node_that_never_answers_reports_a_timeout() {
    let server = support::start(|c| c.service_call_timeout = Duration::from_millis(200)).await;
    server
        .sim
        .add_param_node("/stuck", &[("x", ParamValue::Integer(1))], false);
    let mut v = Viewer::connect(&server).await;
    v.send_json(json!({"op": "setParameters", "id": "s",
        "parameters": [{"name": "/stuck.x", "value": 2}]}))
        .await;
    let s = v.expect_status("/stuck").await;
    assert!(s["message"].as_str().unwrap().contains("200 ms"), "{s}");
    let m = v.expect_op("parameterValues").await;
    assert_eq!(m["id"], "s");
}
