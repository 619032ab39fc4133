//! The foreign boundary (`ros::rcl`) against a real rcl and middleware: serialized take and
//! publish, generic service client and server, runtime type support and its errors, the waker,
//! graph queries, parameter overrides, and that memory taken from rcl goes back.
//!
//! Needs a sourced ROS 2 and must run inside a private network namespace (DDS multicasts):
//! `scripts/test-ros.sh` runs it that way, in a debug build, and once more under valgrind.
#![cfg(feature = "ros2")]

use std::time::{Duration, Instant};

use foxglove_gateway::config::ParamValue;
use foxglove_gateway::ros::rcl::{EntityError, RclNode, TypeSupportError};
use foxglove_gateway::ros::{Durability, Qos, Reliability};

fn prefixes() -> Vec<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("AMENT_PREFIX_PATH").expect("ROS 2 is sourced"))
        .collect()
}

fn node(name: &str, extra_args: &[&str]) -> RclNode {
    let mut args = vec!["rcl_live".to_string()];
    args.extend(extra_args.iter().map(|s| s.to_string()));
    RclNode::new(&args, name, "/rcl_live", prefixes()).expect("node")
}

const RELIABLE: Qos = Qos {
    reliability: Reliability::Reliable,
    durability: Durability::Volatile,
    depth: 50,
};

/// `std_msgs/msg/String` as little-endian CDR.
fn string_cdr(s: &str) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0];
    v.extend_from_slice(&(s.len() as u32 + 1).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// A taken message is the message as published, plus the padding Cyclone DDS adds to reach a
/// multiple of 4 bytes (zeros; CDR readers ignore trailing bytes). The options byte of the header
/// may record the pad length (`00 01 00 0p`).
fn assert_same_message(taken: &[u8], sent: &[u8]) {
    assert!(
        taken.len() >= sent.len() && taken.len() - sent.len() < 4,
        "{taken:?} vs {sent:?}"
    );
    assert_eq!(taken[..2], sent[..2], "encapsulation");
    assert_eq!(taken[4..sent.len()], sent[4..], "body");
    assert!(
        taken[sent.len()..].iter().all(|&b| b == 0),
        "padding: {taken:?}"
    );
}

/// Wait (through the node's wait set) until `done` holds or `timeout` passes.
fn wait_until(node: &mut RclNode, timeout: Duration, mut done: impl FnMut(&mut RclNode) -> bool) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if done(node) {
            return;
        }
        node.wait(Some(Duration::from_millis(20))).expect("wait");
    }
    panic!("condition not met within {timeout:?}");
}

#[test]
fn serialized_messages_go_out_and_come_back_byte_identical() {
    let mut n = node("pubsub", &[]);
    let sub = n
        .subscribe("/rcl_live/chatter", "std_msgs/msg/String", RELIABLE)
        .unwrap();
    let publisher = n
        .advertise("/rcl_live/chatter", "std_msgs/msg/String", RELIABLE)
        .unwrap();
    wait_until(&mut n, Duration::from_secs(5), |n| {
        n.publisher_count(sub) == Some(1)
    });
    let sent: Vec<Vec<u8>> = (0..20).map(|i| string_cdr(&format!("hello {i}"))).collect();
    for m in &sent {
        n.publish(publisher, m).unwrap();
    }
    let mut got = Vec::new();
    wait_until(&mut n, Duration::from_secs(5), |n| {
        while let Some(m) = n.take(sub).unwrap() {
            assert!(m.source_timestamp > 0, "the middleware stamps messages");
            got.push(m.payload.to_vec());
        }
        got.len() == sent.len()
    });
    for (got, sent) in got.iter().zip(&sent) {
        assert_same_message(got, sent);
    }
    assert!(n.take(sub).unwrap().is_none(), "the reader is empty");
}

#[test]
fn a_message_wakes_the_wait_set() {
    let mut n = node("wake_msg", &[]);
    let sub = n
        .subscribe("/rcl_live/wake", "std_msgs/msg/String", RELIABLE)
        .unwrap();
    let publisher = n
        .advertise("/rcl_live/wake", "std_msgs/msg/String", RELIABLE)
        .unwrap();
    wait_until(&mut n, Duration::from_secs(5), |n| {
        n.publisher_count(sub) == Some(1)
    });
    n.publish(publisher, &string_cdr("x")).unwrap();
    let start = Instant::now();
    loop {
        let ready = n.wait(Some(Duration::from_secs(5))).unwrap();
        if ready.subscriptions.contains(&sub) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never became ready"
        );
    }
    assert!(n.take(sub).unwrap().is_some());
}

#[test]
fn the_waker_wakes_the_wait_from_another_thread() {
    let mut n = node("waker", &[]);
    // Let start-up graph events pass first.
    while n.wait(Some(Duration::from_millis(200))).unwrap() != Default::default() {}
    let waker = n.waker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        waker.wake();
    });
    let start = Instant::now();
    let ready = n.wait(Some(Duration::from_secs(10))).unwrap();
    assert!(ready.woken, "{ready:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    t.join().unwrap();
    // The waker outlives the node harmlessly.
    let waker = n.waker();
    drop(n);
    waker.wake();
}

/// `example_interfaces/srv/AddTwoInts_Request { int64 a, int64 b }` as CDR.
fn add_request(a: i64, b: i64) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0];
    v.extend_from_slice(&a.to_le_bytes());
    v.extend_from_slice(&b.to_le_bytes());
    v
}

#[test]
fn a_generic_client_calls_a_generic_server() {
    let mut n = node("services", &[]);
    let qos = foxglove_gateway::ros::rcl::services_qos();
    let server = n
        .create_service("/rcl_live/add", "example_interfaces/srv/AddTwoInts", qos)
        .unwrap();
    let client = n
        .create_client("/rcl_live/add", "example_interfaces/srv/AddTwoInts", qos)
        .unwrap();
    wait_until(&mut n, Duration::from_secs(5), |n| {
        n.server_available(client)
    });
    let seq = n.send_request(client, &add_request(2, 40)).unwrap();
    let mut request = None;
    wait_until(&mut n, Duration::from_secs(5), |n| {
        request = n.take_request(server).unwrap();
        request.is_some()
    });
    let (header, cdr) = request.unwrap();
    assert_eq!(
        &cdr[..],
        &add_request(2, 40)[..],
        "the request arrives as sent"
    );
    let mut response = vec![0, 1, 0, 0];
    response.extend_from_slice(&42i64.to_le_bytes());
    n.send_response(server, &header, &response).unwrap();
    let mut answer = None;
    wait_until(&mut n, Duration::from_secs(5), |n| {
        answer = n.take_response(client).unwrap();
        answer.is_some()
    });
    let (answer_seq, cdr) = answer.unwrap();
    assert_eq!(answer_seq, seq);
    assert_eq!(&cdr[..], &response[..]);
}

#[test]
fn malformed_cdr_for_a_request_is_an_error_not_a_crash() {
    let mut n = node("malformed", &[]);
    let qos = foxglove_gateway::ros::rcl::services_qos();
    let client = n
        .create_client("/rcl_live/nobody", "example_interfaces/srv/AddTwoInts", qos)
        .unwrap();
    assert!(
        n.send_request(client, &[0, 1, 0, 0, 1]).is_err(),
        "truncated"
    );
    assert!(n.send_request(client, &[]).is_err(), "empty");
}

#[test]
fn types_that_are_not_installed_are_named() {
    let mut n = node("types", &[]);
    match n.subscribe("/x", "no_such_pkg/msg/Thing", RELIABLE) {
        Err(EntityError::Type(TypeSupportError::PackageNotFound { package, .. })) => {
            assert_eq!(package, "no_such_pkg")
        }
        other => panic!("{other:?}"),
    }
    match n.advertise("/x", "std_msgs/msg/NoSuchType", RELIABLE) {
        Err(EntityError::Type(TypeSupportError::TypeMissing { package, .. })) => {
            assert_eq!(package, "std_msgs")
        }
        other => panic!("{other:?}"),
    }
    assert!(n.subscribe("/x", "not a type", RELIABLE).is_err());
    assert!(n
        .subscribe("bad topic name!", "std_msgs/msg/String", RELIABLE)
        .is_err());
    // ROS 1-style names (Studio's Teleop panel) are understood.
    n.advertise("/rcl_live/cmd_vel", "geometry_msgs/Twist", RELIABLE)
        .unwrap();
}

#[test]
fn the_graph_shows_this_node_and_its_endpoints() {
    let mut n = node("graph", &[]);
    let sub = n
        .subscribe("/rcl_live/graph_topic", "std_msgs/msg/String", RELIABLE)
        .unwrap();
    let fqn = n.fully_qualified_name().to_string();
    assert_eq!(fqn, "/rcl_live/graph");
    wait_until(&mut n, Duration::from_secs(5), |n| {
        n.topic_names_and_types()
            .unwrap()
            .get("/rcl_live/graph_topic")
            .is_some_and(|t| t == &["std_msgs/msg/String"])
    });
    let subs = n.subscriptions_of("/rcl_live/graph_topic").unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].node, fqn);
    assert_eq!(subs[0].qos.reliability, Reliability::Reliable);
    assert!(n.node_names().unwrap().contains(&fqn));
    let services = n.services_of_node(&fqn).unwrap();
    assert!(services.is_empty(), "no parameter services on a bare node");
    // Destroyed at once: the reader leaves the graph without waiting for a message.
    n.unsubscribe(sub);
    wait_until(&mut n, Duration::from_secs(5), |n| {
        !n.topic_names_and_types()
            .unwrap()
            .contains_key("/rcl_live/graph_topic")
    });
}

#[test]
fn parameter_overrides_come_from_ros_args() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "/**:\n  ros__parameters:\n    port: 1\n    address: \"::\"\n\
         /rcl_live/params:\n  ros__parameters:\n    port: 9000\n    topic_whitelist: ['/a', '/b']\n\
         /other:\n  ros__parameters:\n    port: 2\n",
    )
    .unwrap();
    let n = node(
        "params",
        &[
            "--ros-args",
            "--params-file",
            file.to_str().unwrap(),
            "-p",
            "use_sim_time:=true",
        ],
    );
    let o = n.parameter_overrides().unwrap();
    assert_eq!(o.get("port"), Some(&ParamValue::Integer(9000)), "{o:?}");
    assert_eq!(o.get("address"), Some(&ParamValue::String("::".into())));
    assert_eq!(
        o.get("topic_whitelist"),
        Some(&ParamValue::StringArray(vec!["/a".into(), "/b".into()]))
    );
    assert_eq!(o.get("use_sim_time"), Some(&ParamValue::Bool(true)));
}

#[test]
fn remapping_renames_the_node() {
    let n = node("before", &["--ros-args", "-r", "__node:=after"]);
    assert_eq!(n.fully_qualified_name(), "/rcl_live/after");
}

/// Resident set size in KiB, from /proc.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn taken_messages_and_destroyed_entities_give_their_memory_back() {
    let mut n = node("memory", &[]);
    let big = string_cdr(&"x".repeat(256 * 1024));
    let qos = Qos {
        depth: 4,
        ..RELIABLE
    };
    let round = |n: &mut RclNode, count: usize| {
        for _ in 0..count {
            let sub = n
                .subscribe("/rcl_live/memory", "std_msgs/msg/String", qos)
                .unwrap();
            let publisher = n
                .advertise("/rcl_live/memory", "std_msgs/msg/String", qos)
                .unwrap();
            wait_until(n, Duration::from_secs(5), |n| {
                n.publisher_count(sub) == Some(1)
            });
            let mut taken = 0;
            for _ in 0..4 {
                n.publish(publisher, &big).unwrap();
            }
            wait_until(n, Duration::from_secs(5), |n| {
                while let Some(m) = n.take(sub).unwrap() {
                    assert_same_message(&m.payload, &big);
                    taken += 1;
                }
                taken == 4
            });
            n.unadvertise(publisher);
            n.unsubscribe(sub);
        }
    };
    round(&mut n, 20); // warm up allocator pools and DDS caches
    let before = rss_kib();
    round(&mut n, 100); // 400 messages of 256 KiB = 100 MiB taken
    let after = rss_kib();
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB over 100 MiB of messages"
    );
}
