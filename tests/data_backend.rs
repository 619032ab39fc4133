//! The data backend for Foxglove's remote data loader, over real HTTP: the manifest has the
//! documented shape (names, topics, base64 schemas, RFC 3339 times) and selects by recording name
//! or time range; the data endpoint's MCAP for a range holds exactly the messages of that range
//! (checked with the independent PyPI `mcap` reader); anything outside `recordings_dir` is
//! refused, and no answer shows a path.

#[path = "common/mod.rs"]
mod common;
#[path = "recording_support.rs"]
mod rec;

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine;
use serde_json::Value;

use foxglove_gateway::record::manifest::{format_time, parse_time};
use rec::{STEP, T0};

const N: u32 = 300;
/// The second recording starts an hour after the first.
const T1: u64 = T0 + 3_600_000_000_000;

async fn start(dir: &Path) -> (common::TestServer, String) {
    let d = dir.display().to_string();
    let server = common::start(move |c| {
        c.data_backend = true;
        c.data_backend_port = 0;
        c.recordings_dir = d;
    })
    .await;
    let addr = server
        .gateway
        .data_backend_addr()
        .expect("the data backend is on");
    (server, format!("http://{addr}"))
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.expect("the request completes");
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

async fn get_json(url: &str) -> (u16, Value) {
    let (s, b) = get(url).await;
    (
        s,
        serde_json::from_slice(&b)
            .unwrap_or_else(|_| panic!("JSON from {url}: {}", String::from_utf8_lossy(&b))),
    )
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn recordings(dir: &Path) {
    rec::write_test_recording_at(&dir.join("run1.mcap"), N, T0);
    rec::write_test_recording_at(&dir.join("run2.mcap"), N, T1);
}

#[tokio::test]
async fn the_manifest_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    recordings(dir.path());
    let (_server, base) = start(dir.path()).await;
    let (status, m) = get_json(&format!("{base}/v1/manifest?recording=run1")).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(keys(&m), BTreeSet::from(["name", "sources"]));
    assert_eq!(m["name"], "run1");
    let sources = m["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1);
    let s = &sources[0];
    assert_eq!(
        keys(s),
        BTreeSet::from(["url", "id", "topics", "schemas", "startTime", "endTime"])
    );
    let end = T0 + u64::from(N - 1) * STEP;
    assert_eq!(s["startTime"], "2023-11-14T22:13:20Z");
    assert_eq!(parse_time(s["startTime"].as_str().unwrap()).unwrap(), T0);
    assert_eq!(parse_time(s["endTime"].as_str().unwrap()).unwrap(), end);
    assert!(s["url"]
        .as_str()
        .unwrap()
        .starts_with("/v1/data?recording=run1&"));
    assert!(!s["id"].as_str().unwrap().is_empty());
    let schemas = s["schemas"].as_array().unwrap();
    let mut names = BTreeSet::new();
    for sc in schemas {
        assert_eq!(keys(sc), BTreeSet::from(["id", "name", "encoding", "data"]));
        assert!(sc["id"].as_u64().unwrap() >= 1);
        assert_eq!(sc["encoding"], "ros2msg");
        let text = base64::engine::general_purpose::STANDARD
            .decode(sc["data"].as_str().unwrap())
            .expect("base64 schema data");
        let text = String::from_utf8(text).unwrap();
        match sc["name"].as_str().unwrap() {
            "std_msgs/msg/UInt32" => assert_eq!(text, "uint32 data"),
            "std_msgs/msg/String" => assert_eq!(text, "string data"),
            other => panic!("unexpected schema {other}"),
        }
        names.insert(sc["name"].as_str().unwrap().to_string());
    }
    assert_eq!(names.len(), 2);
    let topics = s["topics"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for t in topics {
        assert_eq!(
            keys(t),
            BTreeSet::from(["name", "messageEncoding", "schemaId"])
        );
        assert_eq!(t["messageEncoding"], "cdr");
        let id = t["schemaId"].as_u64().unwrap();
        assert!(
            schemas.iter().any(|sc| sc["id"].as_u64() == Some(id)),
            "schemaId {id} unknown"
        );
        seen.insert(t["name"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen,
        BTreeSet::from([
            "/chatter".to_string(),
            "/count".to_string(),
            "/static".to_string()
        ])
    );

    // By time range: only the recording that overlaps it, clipped to it.
    let (a, b) = (T1 + 100 * STEP, T1 + 10_000 * STEP);
    let q = format!(
        "startTime={}&endTime={}",
        format_time(a).replace(':', "%3A"),
        format_time(b)
    );
    let (status, m) = get_json(&format!("{base}/v1/manifest?{q}")).await;
    assert_eq!(status, 200, "{m}");
    let sources = m["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "{m}");
    assert!(sources[0]["url"]
        .as_str()
        .unwrap()
        .contains("recording=run2"));
    assert_eq!(
        parse_time(sources[0]["startTime"].as_str().unwrap()).unwrap(),
        a
    );
    assert_eq!(
        parse_time(sources[0]["endTime"].as_str().unwrap()).unwrap(),
        T1 + u64::from(N - 1) * STEP
    );
    // Everything: both.
    let (_, m) = get_json(&format!("{base}/v1/manifest")).await;
    assert_eq!(m["sources"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_data_endpoint_streams_exactly_the_range() {
    let dir = tempfile::tempdir().unwrap();
    recordings(dir.path());
    let (_server, base) = start(dir.path()).await;
    let (a, b) = (T0 + 50 * STEP, T0 + 149 * STEP);
    let (_, m) = get_json(&format!(
        "{base}/v1/manifest?recording=run1&startTime={}&endTime={}",
        format_time(a),
        format_time(b)
    ))
    .await;
    let url = m["sources"][0]["url"].as_str().unwrap().to_string();
    let (status, body) = get(&format!("{base}{url}")).await;
    assert_eq!(status, 200);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("range.mcap");
    std::fs::write(&file, &body).unwrap();
    let o = rec::oracle_read(&file);
    assert_eq!(o["profile"], "ros2");
    let count = o["statistics"]["message_count"].as_u64().unwrap();
    assert_eq!(o["indexed_count"].as_u64().unwrap(), count);
    assert_eq!(o["linear_count"].as_u64().unwrap(), count);
    let msgs = o["messages"].as_array().unwrap();
    let counts: Vec<(u64, u64)> = msgs
        .iter()
        .filter(|m| m["topic"] == "/count")
        .map(|m| {
            (
                m["log_time"].as_u64().unwrap(),
                m["msg"]["data"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(u64, u64)> = (50..=149).map(|i| (T0 + i * STEP, i)).collect();
    assert_eq!(counts, want, "exactly the /count messages of the range");
    let chatter: Vec<&str> = msgs
        .iter()
        .filter(|m| m["topic"] == "/chatter")
        .map(|m| m["msg"]["data"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (50..=149)
        .step_by(10)
        .map(|i| format!("message {i}"))
        .collect();
    assert_eq!(chatter, want);
    assert!(msgs.iter().all(|m| {
        let t = m["log_time"].as_u64().unwrap();
        (a..=b).contains(&t)
    }));
    assert_eq!(count as usize, msgs.len());
    let times: Vec<u64> = msgs
        .iter()
        .map(|m| m["log_time"].as_u64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "ascending log times"
    );
    // The channels of the manifest, with their metadata, even those without messages here.
    let topics: BTreeSet<&str> = o["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, BTreeSet::from(["/chatter", "/count", "/static"]));
    // Publish times survive.
    assert_eq!(
        msgs[0]["publish_time"].as_u64().unwrap(),
        msgs[0]["log_time"].as_u64().unwrap() - 1
    );

    // Without a range: the whole recording.
    let (status, body) = get(&format!("{base}/v1/data?recording=run1")).await;
    assert_eq!(status, 200);
    std::fs::write(&file, &body).unwrap();
    let o = rec::oracle_read_first(&file, 0);
    assert_eq!(
        o["statistics"]["message_count"].as_u64().unwrap(),
        u64::from(N) + 30 + 1
    );
    // A range with no message: a valid, empty MCAP.
    let (status, body) = get(&format!(
        "{base}/v1/data?recording=run1&startTime={}&endTime={}",
        format_time(T0 + 5 * STEP + 1),
        format_time(T0 + 6 * STEP - 1)
    ))
    .await;
    assert_eq!(status, 200);
    std::fs::write(&file, &body).unwrap();
    assert_eq!(rec::oracle_read(&file)["indexed_count"], 0);
}

#[tokio::test]
async fn requests_outside_recordings_dir_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("recordings");
    std::fs::create_dir(&dir).unwrap();
    rec::write_test_recording(&dir.join("run1.mcap"), 20);
    // A valid recording outside the directory, and a symlink to it inside.
    rec::write_test_recording(&root.path().join("secret.mcap"), 20);
    std::os::unix::fs::symlink(root.path().join("secret.mcap"), dir.join("link.mcap")).unwrap();
    let (_server, base) = start(&dir).await;
    let secret = root.path().join("secret").display().to_string();
    for q in [
        "recording=../secret".to_string(),
        "recording=..%2Fsecret".to_string(),
        "recording=%2E%2E%2Fsecret.mcap".to_string(),
        format!("recording={secret}"),
        "recording=link".to_string(),
        "recording=run1%00".to_string(),
        "recording=.hidden".to_string(),
    ] {
        for endpoint in ["manifest", "data"] {
            let (status, body) = get(&format!("{base}/v1/{endpoint}?{q}")).await;
            let text = String::from_utf8_lossy(&body);
            assert_eq!(status, 400, "{endpoint}?{q}: {text}");
            assert!(
                !text.contains(&root.path().display().to_string()),
                "a path in {text}"
            );
        }
    }
    let (status, body) = get(&format!("{base}/v1/data?recording=nope")).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(!String::from_utf8_lossy(&body).contains(&dir.display().to_string()));
    let (status, _) = get(&format!("{base}/v1/../../etc/passwd")).await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{base}/v1/data")).await;
    assert_eq!(status, 400, "recording= is required");
    let (status, _) = get(&format!(
        "{base}/v1/data?recording=run1&startTime=yesterday"
    ))
    .await;
    assert_eq!(status, 400);
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/data?recording=run1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    // And the good one still works.
    let (status, _) = get(&format!("{base}/v1/data?recording=run1")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_broken_recording_is_an_error_status_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    rec::write_test_recording(&dir.path().join("good.mcap"), 100);
    let bytes = std::fs::read(dir.path().join("good.mcap")).unwrap();
    std::fs::write(dir.path().join("cut.mcap"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.path().join("junk.mcap"), b"not an mcap").unwrap();
    let (server, base) = start(dir.path()).await;
    for name in ["cut", "junk"] {
        let (status, body) = get(&format!("{base}/v1/data?recording={name}")).await;
        assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
        let (status, _) = get(&format!("{base}/v1/manifest?recording={name}")).await;
        assert_eq!(status, 422);
    }
    // The listing skips them and serves the good one.
    let (status, m) = get_json(&format!("{base}/v1/manifest")).await;
    assert_eq!(status, 200);
    assert_eq!(m["sources"].as_array().unwrap().len(), 1);
    drop(server);
}
