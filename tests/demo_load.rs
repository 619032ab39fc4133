//! The load generator, observed on the simulated graph and through the backend's message path:
//! counts, sizes, sequence numbers, send times, rate, and waiting for a subscriber.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use foxglove_gateway::cdr::cdr_to_json;
use foxglove_gateway::demo::load::{parse_stamp, LOAD_TYPE};
use foxglove_gateway::demo::{self, DemoOptions};
use foxglove_gateway::ros::sim::{SimGraph, SimMessage};
use foxglove_gateway::ros::{channel, now_ns, MessageSink, RosCommand};
use foxglove_gateway::schema::SchemaStore;
use parking_lot::Mutex;
use tokio::sync::mpsc::Receiver;

fn schemas() -> Arc<SchemaStore> {
    Arc::new(SchemaStore::new(vec![PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/interfaces"
    ))]))
}

fn load(topic: &str, size: usize, rate: f64, count: u64, topics: usize) -> DemoOptions {
    DemoOptions {
        load_topic: Some(topic.to_string()),
        load_size: size,
        load_rate: rate,
        load_count: count,
        load_topics: topics,
        load_immediately: true,
        ..DemoOptions::default()
    }
}

/// Receive `n` messages or fail after `within`.
async fn take(rx: &mut Receiver<SimMessage>, n: usize, within: Duration) -> Vec<SimMessage> {
    let mut out = Vec::new();
    tokio::time::timeout(within, async {
        while out.len() < n {
            match rx.recv().await {
                Some(m) => out.push(m),
                None => break,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} messages", out.len()));
    out
}

#[tokio::test]
async fn counted_run_at_a_rate() {
    let (sim, schemas) = (SimGraph::new(), schemas());
    let mut rx = sim.subscribe("/load");
    let before = now_ns();
    let t0 = Instant::now();
    let demo = demo::start(&load("/load", 100, 50.0, 5, 1), &sim, &schemas).unwrap();
    let msgs = take(&mut rx, 5, Duration::from_secs(5)).await;
    let elapsed = t0.elapsed();
    // 5 messages at 50 Hz: the first at once, the last 80 ms later.
    assert!(elapsed >= Duration::from_millis(75), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");

    let schema = schemas.message(LOAD_TYPE).unwrap();
    let mut last_sent = before;
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.type_name, LOAD_TYPE);
        assert_eq!(m.payload.len(), 100);
        let (seq, sent) = parse_stamp(&m.payload).unwrap();
        assert_eq!(seq, i as u64);
        assert!(sent >= last_sent && sent <= now_ns());
        // Paced on an absolute 20 ms schedule: message i is never sent before slot i (a late
        // message may make the next gap shorter, so gaps alone are not the measure). 1 ms of
        // slack for the wall clock against the monotonic one.
        let since_first = sent - parse_stamp(&msgs[0].payload).unwrap().1;
        assert!(
            since_first + 1_000_000 >= i as u64 * 20_000_000,
            "message {i} sent {since_first} ns after the first"
        );
        last_sent = sent;
        // A real UInt8MultiArray: the codec decodes it and `data` carries the stamp.
        let v = cdr_to_json(&schema, &m.payload).unwrap();
        let data: Vec<u8> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(data.len(), 100 - 16);
        assert_eq!(u64::from_le_bytes(data[0..8].try_into().unwrap()), seq);
        assert_eq!(u64::from_le_bytes(data[8..16].try_into().unwrap()), sent);
        assert!(data[16..].iter().all(|b| *b == 0));
        assert_eq!(v["layout"]["dim"].as_array().unwrap().len(), 0);
    }
    // Exactly the count, and then the generator reports done.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.try_recv().is_err());
    let gen = demo.load().unwrap();
    assert!(gen.is_finished());
    assert_eq!(gen.sent(), 5);
    demo.stop();
}

#[tokio::test]
async fn as_fast_as_possible_on_several_topics() {
    let (sim, schemas) = (SimGraph::new(), schemas());
    let mut rx0 = sim.subscribe("/bench_0");
    let mut rx2 = sim.subscribe("/bench_2");
    let t0 = Instant::now();
    let demo = demo::start(&load("/bench", 32, 0.0, 2000, 3), &sim, &schemas).unwrap();
    let a = take(&mut rx0, 2000, Duration::from_secs(20)).await;
    let c = take(&mut rx2, 2000, Duration::from_secs(20)).await;
    for msgs in [&a, &c] {
        let seqs: Vec<u64> = msgs
            .iter()
            .map(|m| parse_stamp(&m.payload).unwrap().0)
            .collect();
        assert_eq!(seqs, (0..2000).collect::<Vec<_>>());
        assert!(msgs.iter().all(|m| m.payload.len() == 32));
    }
    // No pacing: 6000 small messages take well under the 2000 s a 1 Hz run would.
    assert!(t0.elapsed() < Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !demo.load().unwrap().is_finished() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(demo.load().unwrap().sent(), 6000);
    demo.stop();
}

#[derive(Default)]
struct Sink(Mutex<Vec<(u64, Bytes)>>);

impl MessageSink for Sink {
    fn message(&self, key: u64, _log_time: u64, _publish_time: u64, payload: Bytes) {
        self.0.lock().push((key, payload));
    }
}

#[tokio::test]
async fn waits_for_the_gateway_to_subscribe() {
    let (sim, schemas) = (SimGraph::new(), schemas());
    let sink = Arc::new(Sink::default());
    let (handle, io, _events) = channel(sink.clone(), Default::default());
    let _backend = sim.start(io);
    let mut opts = load("/load", 64, 0.0, 50, 1);
    opts.load_immediately = false;
    let demo = demo::start(&opts, &sim, &schemas).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        demo.load().unwrap().sent(),
        0,
        "started before anyone listened"
    );

    // The same path a ROS message takes: backend → MessageSink with the subscription's key.
    assert!(handle.send(RosCommand::Subscribe {
        key: 3,
        topic: "/load".into(),
        type_name: LOAD_TYPE.into(),
    }));
    let deadline = Instant::now() + Duration::from_secs(5);
    while sink.0.lock().len() < 50 {
        assert!(Instant::now() < deadline, "only {}", sink.0.lock().len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = sink.0.lock().clone();
    assert_eq!(got.len(), 50);
    for (i, (key, payload)) in got.iter().enumerate() {
        assert_eq!(*key, 3);
        assert_eq!(payload.len(), 64);
        assert_eq!(parse_stamp(payload).unwrap().0, i as u64);
    }
    demo.stop();
}

#[tokio::test]
async fn stop_ends_an_endless_run() {
    let (sim, schemas) = (SimGraph::new(), schemas());
    let mut rx = sim.subscribe("/load");
    let demo = demo::start(&load("/load", 1000, 1000.0, 0, 1), &sim, &schemas).unwrap();
    take(&mut rx, 10, Duration::from_secs(5)).await;
    assert!(!demo.load().unwrap().is_finished());
    demo.stop();
    while rx.try_recv().is_ok() {}
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(rx.try_recv().is_err(), "published after stop");
}
