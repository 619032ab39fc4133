//! Playback at protocol level (`--play`), against the reference layouts byte for byte: the
//! `serverInfo` of a recording (`playbackControl`, `time`, `dataStartTime`/`dataEndTime`), play,
//! pause, seek and speed each answered by a Playback State (0x05) carrying the request id; after a
//! seek the broadcast time and the first message's log time are the target; speed 2 halves the
//! wall time of a segment; the end of data is reported; a viewer without playback controls gets
//! the recording in real time; a rosbag2-shaped file written by the independent MCAP writer plays.
//! Frames are built and parsed here by hand, not with the gateway's protocol module.

#[path = "common/mod.rs"]
mod common;
#[path = "recording_support.rs"]
mod rec;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use foxglove_gateway::config::Config;
use foxglove_gateway::gateway::Gateway;
use foxglove_gateway::hub::HubExtras;
use foxglove_gateway::record::player::Player;
use foxglove_gateway::schema::SchemaStore;
use rec::{STEP, T0};

const N: u32 = 300;
const END: u64 = T0 + (N as u64 - 1) * STEP;

async fn play(path: &Path) -> Gateway {
    let schemas = Arc::new(SchemaStore::new(Vec::new()));
    let player = Player::open(path, &schemas).expect("the recording opens");
    let extras = HubExtras {
        recorder: None,
        playback: Some(player.hook()),
    };
    let config = Config {
        port: 0,
        address: "127.0.0.1".into(),
        capabilities: Vec::new(),
        ..Config::default()
    };
    Gateway::start_with(config, schemas, extras, |io, hub| player.start(io, hub))
        .await
        .expect("the gateway starts")
}

/// What a viewer receives, parsed by hand.
#[derive(Debug, Clone, PartialEq)]
enum In {
    Json(Value),
    Data {
        sub: u32,
        log_time: u64,
        payload: Vec<u8>,
    },
    Time(u64),
    State {
        status: u8,
        time: u64,
        speed: f32,
        did_seek: bool,
        id: String,
        raw: Vec<u8>,
    },
    Other(Vec<u8>),
}

fn parse(m: Message) -> Option<In> {
    Some(match m {
        Message::Text(t) => In::Json(serde_json::from_str(t.as_str()).unwrap()),
        Message::Binary(b) => match b.first() {
            Some(1) => In::Data {
                sub: u32::from_le_bytes(b[1..5].try_into().unwrap()),
                log_time: u64::from_le_bytes(b[5..13].try_into().unwrap()),
                payload: b[13..].to_vec(),
            },
            Some(2) => {
                assert_eq!(b.len(), 9, "Time is 9 bytes");
                In::Time(u64::from_le_bytes(b[1..9].try_into().unwrap()))
            }
            Some(5) => {
                let n = u32::from_le_bytes(b[15..19].try_into().unwrap()) as usize;
                assert_eq!(b.len(), 19 + n, "Playback State length");
                assert!(b[14] <= 1, "did_seek is 0 or 1");
                In::State {
                    status: b[1],
                    time: u64::from_le_bytes(b[2..10].try_into().unwrap()),
                    speed: f32::from_le_bytes(b[10..14].try_into().unwrap()),
                    did_seek: b[14] == 1,
                    id: String::from_utf8(b[19..].to_vec()).unwrap(),
                    raw: b.to_vec(),
                }
            }
            _ => In::Other(b.to_vec()),
        },
        _ => return None,
    })
}

/// A Playback Control Request, laid out by hand (reference §4.8).
fn control(command: u8, speed: f32, seek: Option<u64>, id: &str) -> Vec<u8> {
    let mut f = vec![3, command];
    f.extend_from_slice(&speed.to_le_bytes());
    f.push(u8::from(seek.is_some()));
    f.extend_from_slice(&seek.unwrap_or(0).to_le_bytes());
    f.extend_from_slice(&(id.len() as u32).to_le_bytes());
    f.extend_from_slice(id.as_bytes());
    f
}

/// The expected Playback State bytes (reference §3.15).
fn state_bytes(status: u8, time: u64, speed: f32, did_seek: bool, id: &str) -> Vec<u8> {
    let mut f = vec![5, status];
    f.extend_from_slice(&time.to_le_bytes());
    f.extend_from_slice(&speed.to_le_bytes());
    f.push(u8::from(did_seek));
    f.extend_from_slice(&(id.len() as u32).to_le_bytes());
    f.extend_from_slice(id.as_bytes());
    f
}

struct Viewer {
    c: common::Client,
    log: Vec<(Instant, In)>,
}

impl Viewer {
    async fn connect(gw: &Gateway, subprotocol: &str) -> Viewer {
        let c = common::Client::connect(&format!("ws://{}", gw.local_addr()), subprotocol).await;
        Viewer { c, log: Vec::new() }
    }

    async fn next(&mut self) -> In {
        // Pings do not count: a deadline over the whole wait.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let m = tokio::time::timeout_at(deadline, self.c.ws.next())
                .await
                .expect("a message in time")
                .expect("open")
                .expect("no error");
            if let Some(i) = parse(m) {
                self.log.push((Instant::now(), i.clone()));
                return i;
            }
        }
    }

    /// The next message for which `f` returns something (others are logged and skipped);
    /// fails after 15 s.
    async fn until<T>(&mut self, mut f: impl FnMut(&In) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out; last: {:?}",
                self.log.last()
            );
            let m = self.next().await;
            if let Some(t) = f(&m) {
                return t;
            }
        }
    }

    async fn send(&mut self, b: Vec<u8>) {
        self.c.ws.send(Message::binary(b)).await.unwrap();
    }

    async fn json(&mut self, v: Value) {
        self.c.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    async fn op(&mut self, op: &str) -> Value {
        self.until(|m| match m {
            In::Json(v) if v["op"] == op => Some(v.clone()),
            _ => None,
        })
        .await
    }

    async fn state(&mut self) -> In {
        self.until(|m| matches!(m, In::State { .. }).then(|| m.clone()))
            .await
    }

    /// Subscribe to every advertised channel; returns topic → subscription id.
    async fn subscribe_all(&mut self) -> std::collections::BTreeMap<String, u32> {
        let adv = self.op("advertise").await;
        let mut subs = std::collections::BTreeMap::new();
        let mut list = Vec::new();
        for (i, c) in adv["channels"].as_array().unwrap().iter().enumerate() {
            subs.insert(c["topic"].as_str().unwrap().to_string(), i as u32);
            list.push(json!({"id": i, "channelId": c["id"]}));
        }
        self.json(json!({"op": "subscribe", "subscriptions": list}))
            .await;
        subs
    }
}

fn count_of(payload: &[u8]) -> u32 {
    u32::from_le_bytes(payload[4..8].try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_pause_seek_speed_and_end_of_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec.mcap");
    rec::write_test_recording(&file, N);
    let gw = play(&file).await;
    let mut v = Viewer::connect(&gw, "foxglove.sdk.v1").await;

    let info = v.op("serverInfo").await;
    let caps: Vec<&str> = info["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        caps.contains(&"playbackControl") && caps.contains(&"time"),
        "{caps:?}"
    );
    assert!(!caps.contains(&"clientPublish"), "{caps:?}");
    assert_eq!(
        info["dataStartTime"],
        json!({"sec": T0 / 1_000_000_000, "nsec": 0})
    );
    assert_eq!(
        info["dataEndTime"],
        json!({"sec": END / 1_000_000_000, "nsec": END % 1_000_000_000})
    );
    let subs = v.subscribe_all().await;
    let count_sub = subs["/count"];
    assert_eq!(subs.len(), 3, "{subs:?}");

    // Pause before autoplay: answered, paused at the start.
    v.send(control(1, 1.0, None, "pause-1")).await;
    let In::State { raw, .. } = v.state().await else {
        unreachable!()
    };
    assert_eq!(raw, state_bytes(1, T0, 1.0, false, "pause-1"));

    // Seek (paused): answered with did_seek, then the time is broadcast at the target.
    let target = T0 + 100 * STEP;
    v.send(control(1, 1.0, Some(target), "seek-1")).await;
    let In::State { raw, .. } = v.state().await else {
        unreachable!()
    };
    assert_eq!(raw, state_bytes(1, target, 1.0, true, "seek-1"));
    let t = v
        .until(|m| match m {
            In::Time(t) => Some(*t),
            _ => None,
        })
        .await;
    assert_eq!(t, target);
    // Nothing plays while paused (autoplay is off once a viewer has used the controls).
    let quiet = tokio::time::timeout(
        Duration::from_millis(1500),
        v.until(|m| matches!(m, In::Data { .. }).then_some(())),
    )
    .await;
    assert!(quiet.is_err(), "data while paused");

    // Play: the first message is the one at the target.
    v.send(control(0, 1.0, None, "play-1")).await;
    let In::State { raw, .. } = v.state().await else {
        unreachable!()
    };
    assert_eq!(raw, state_bytes(0, target, 1.0, false, "play-1"));
    let (lt, n) = v
        .until(|m| match m {
            In::Data {
                sub,
                log_time,
                payload,
            } if *sub == count_sub => Some((*log_time, count_of(payload))),
            _ => None,
        })
        .await;
    assert_eq!((lt, n), (target, 100));
    let seg = |v: &mut Viewer, from: u32, to: u32| {
        let times: Vec<(u32, Instant)> = v
            .log
            .iter()
            .filter_map(|(at, m)| match m {
                In::Data { sub, payload, .. } if *sub == count_sub => {
                    Some((count_of(payload), *at))
                }
                _ => None,
            })
            .collect();
        let a = times.iter().find(|(n, _)| *n == from).unwrap().1;
        let b = times.iter().find(|(n, _)| *n == to).unwrap().1;
        b - a
    };
    // Speed 1: messages 100 → 160 (0.6 s of log time).
    v.until(|m| match m {
        In::Data { sub, payload, .. } if *sub == count_sub && count_of(payload) == 160 => Some(()),
        _ => None,
    })
    .await;
    let wall_1 = seg(&mut v, 100, 160);
    // Speed 2 from here: answered, then messages 170 → 230 (0.6 s of log time) take half.
    v.send(control(0, 2.0, None, "speed-2")).await;
    let st = v.state().await;
    let In::State {
        status: 0,
        speed,
        did_seek: false,
        ref id,
        ..
    } = st
    else {
        panic!("{st:?}")
    };
    assert_eq!((speed, id.as_str()), (2.0, "speed-2"));
    v.until(|m| match m {
        In::Data { sub, payload, .. } if *sub == count_sub && count_of(payload) == 230 => Some(()),
        _ => None,
    })
    .await;
    let wall_2 = seg(&mut v, 170, 230);
    let ratio = wall_1.as_secs_f64() / wall_2.as_secs_f64();
    assert!(
        (1.6..=2.5).contains(&ratio),
        "speed 1: {wall_1:?}, speed 2: {wall_2:?} for the same 0.6 s of log time (ratio {ratio:.2})"
    );
    assert!(
        wall_1 >= Duration::from_millis(550),
        "speed 1 is not real time: {wall_1:?}"
    );

    // End of data: the last message and an Ended state with no request id (the state is a
    // control message and may overtake the last messages still queued for the viewer).
    let ended = |v: &Viewer| {
        v.log.iter().find_map(|(_, m)| match m {
            In::State { status: 3, raw, .. } => Some(raw.clone()),
            _ => None,
        })
    };
    let last = |v: &Viewer| {
        v.log.iter().any(|(_, m)| {
            matches!(m, In::Data { sub, payload, .. } if *sub == count_sub && count_of(payload) == N - 1)
        })
    };
    while ended(&v).is_none() || !last(&v) {
        v.next().await;
    }
    assert_eq!(ended(&v).unwrap(), state_bytes(3, END, 2.0, false, ""));
    // Every message between 100 and the end arrived once, in order, with its log time.
    let got: Vec<(u64, u32)> = v
        .log
        .iter()
        .filter_map(|(_, m)| match m {
            In::Data {
                sub,
                log_time,
                payload,
            } if *sub == count_sub => Some((*log_time, count_of(payload))),
            _ => None,
        })
        .collect();
    let want: Vec<(u64, u32)> = (100..N).map(|i| (T0 + u64::from(i) * STEP, i)).collect();
    assert_eq!(got, want);

    // Play at the end starts over (did_seek so panels reset), from the first message.
    v.send(control(0, 1.0, None, "again")).await;
    let In::State { raw, .. } = v.state().await else {
        unreachable!()
    };
    assert_eq!(raw, state_bytes(0, T0, 1.0, true, "again"));
    let n = v
        .until(|m| match m {
            In::Data { sub, payload, .. } if *sub == count_sub => Some(count_of(payload)),
            _ => None,
        })
        .await;
    assert_eq!(n, 0);

    // Seek while playing: state, time = target, first message at the target; nothing older.
    let target = T0 + 250 * STEP;
    v.send(control(0, 1.0, Some(target), "seek-2")).await;
    let In::State { raw, .. } = v.state().await else {
        unreachable!()
    };
    assert_eq!(raw[..15], state_bytes(0, target, 1.0, true, "seek-2")[..15]);
    let t = v
        .until(|m| match m {
            In::Time(t) => Some(*t),
            _ => None,
        })
        .await;
    assert_eq!(t, target);
    let (lt, n) = v
        .until(|m| match m {
            In::Data {
                sub,
                log_time,
                payload,
            } if *sub == count_sub => Some((*log_time, count_of(payload))),
            _ => None,
        })
        .await;
    assert_eq!((lt, n), (target, 250));

    // Malformed and hostile requests: a status each, the connection and playback go on.
    v.send(vec![3, 0, 0]).await;
    v.until(|m| match m {
        In::Json(s) if s["op"] == "status" => Some(()),
        _ => None,
    })
    .await;
    v.send(control(0, f32::NAN, None, "nan")).await;
    let st = v.state().await;
    let In::State { speed, ref id, .. } = st else {
        unreachable!()
    };
    assert_eq!(
        (speed, id.as_str()),
        (1.0, "nan"),
        "a NaN speed keeps the old one"
    );
    v.send(control(1, 1.0, Some(u64::MAX), "far")).await;
    let In::State { time, did_seek, .. } = v.state().await else {
        unreachable!()
    };
    assert_eq!(
        (time, did_seek),
        (END, true),
        "seeks are clamped to the recording"
    );
    gw.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_without_playback_controls_gets_the_recording_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec.mcap");
    rec::write_test_recording(&file, N);
    let gw = play(&file).await;
    // Foxglove Studio 1.x: foxglove.websocket.v1, never sends a playback request.
    let mut v = Viewer::connect(&gw, "foxglove.websocket.v1").await;
    let subs = v.subscribe_all().await;
    let (count_sub, static_sub, chatter_sub) = (subs["/count"], subs["/static"], subs["/chatter"]);
    let mut counts = Vec::new();
    let mut chatter = Vec::new();
    let mut stat = 0;
    while counts.len() < 100 {
        match v.next().await {
            In::Data {
                sub,
                log_time,
                payload,
            } if sub == count_sub => counts.push((Instant::now(), log_time, count_of(&payload))),
            In::Data { sub, payload, .. } if sub == chatter_sub => {
                chatter.push(String::from_utf8_lossy(&payload[8..payload.len() - 1]).to_string())
            }
            In::Data { sub, .. } if sub == static_sub => stat += 1,
            _ => {}
        }
    }
    assert_eq!(stat, 1, "the transient-local message");
    assert_eq!(
        counts.iter().map(|c| c.2).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    assert_eq!(&chatter[..3], ["message 0", "message 10", "message 20"]);
    let wall = counts[99].0 - counts[0].0;
    assert!(
        wall >= Duration::from_millis(900) && wall <= Duration::from_millis(1600),
        "99 steps of 10 ms took {wall:?}"
    );
    // The clock the app follows: time frames at the messages' log times.
    let times: Vec<u64> = v
        .log
        .iter()
        .filter_map(|(_, m)| match m {
            In::Time(t) => Some(*t),
            _ => None,
        })
        .collect();
    assert!(
        times.first() == Some(&T0),
        "{:?}",
        &times[..times.len().min(3)]
    );
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time goes backwards without a seek"
    );
    gw.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rosbag2_shaped_file_from_another_writer_plays() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bag.mcap");
    let written = rec::oracle_write_rosbag2(&file);
    let gw = play(&file).await;
    let mut v = Viewer::connect(&gw, "foxglove.sdk.v1").await;
    let adv = v.op("advertise").await;
    let point = adv["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["topic"] == "/point")
        .unwrap()
        .clone();
    assert_eq!(point["schemaName"], "geometry_msgs/msg/Point");
    assert_eq!(point["encoding"], "cdr");
    assert_eq!(point["schemaEncoding"], "ros2msg");
    v.json(json!({"op": "subscribe", "subscriptions": [{"id": 7, "channelId": point["id"]}]}))
        .await;
    v.send(control(0, 4.0, None, "go")).await;
    let want: Vec<(u64, f64)> = written
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["topic"] == "/point")
        .map(|m| {
            (
                m["log_time"].as_u64().unwrap(),
                m["msg"]["x"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut got = Vec::new();
    while got.len() < want.len() {
        if let In::Data {
            sub: 7,
            log_time,
            payload,
        } = v.next().await
        {
            // geometry_msgs/Point in CDR: header, then x, y, z as f64 (8-aligned after 4 bytes
            // of header: offset 4).
            let x = f64::from_le_bytes(payload[4..12].try_into().unwrap());
            got.push((log_time, x));
        }
    }
    assert_eq!(got, want);
    gw.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn broken_recordings_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mcap");
    rec::write_test_recording(&good, 50);
    let bytes = std::fs::read(&good).unwrap();
    let schemas = SchemaStore::new(Vec::new());
    for (name, data) in [
        ("empty.mcap", Vec::new()),
        (
            "text.mcap",
            b"hello, this is not an MCAP file at all".to_vec(),
        ),
        ("cut.mcap", bytes[..bytes.len() / 2].to_vec()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        let e = Player::open(&p, &schemas).err().expect("refused");
        assert!(!e.to_string().is_empty());
    }
    assert!(Player::open(&dir.path().join("missing.mcap"), &schemas).is_err());
}
