//! The watch loop against a mock Foxglove API: a real HTTP/1.1 server on loopback, written by
//! hand here, driven in virtual time, so 30 s waits take no time and every request's (virtual)
//! arrival time can be asserted.
//!
//! Tokio's auto-advance jumps to the next timer as soon as no task is runnable, even while
//! loopback I/O is in flight, which would let a read timeout fire "before" data that was
//! already sent. So the tests drive the clock themselves ([`drive_clock`]): the runtime never
//! idles, every step lets pending I/O settle, then moves time by 10 ms.

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use foxglove_gateway::config::Secret;
use foxglove_gateway::remote::api::{ApiClient, Wake};
use foxglove_gateway::remote::room::BoxFuture;
use foxglove_gateway::remote::{
    ConnectionStatus, RemoteAccess, RemoteError, SessionContext, SessionRunner,
};

const TOKEN: &str = "fox_dt_testtoken";

/// One step of a scripted event stream.
#[derive(Clone)]
enum Step {
    /// Raw SSE text.
    Send(String),
    /// Wait (virtual time).
    Wait(Duration),
}

/// How the mock answers one watch request.
#[derive(Clone)]
enum WatchReply {
    /// 200 text/event-stream: these steps, then hold the stream open forever (if `hold`) or end.
    Sse { steps: Vec<Step>, hold: bool },
    /// An error status with a JSON body.
    Status(u16),
    /// 200 text/html (a maintenance page).
    Html,
}

fn hello(lease: &str, heartbeat_ms: u64) -> Step {
    Step::Send(format!(
        "event: hello\ndata: {}\n\n",
        json!({"watchLeaseId": lease, "deviceWaitForViewerMs": 300000, "heartbeatIntervalMs": heartbeat_ms})
    ))
}

fn wake(session: &str) -> Step {
    Step::Send(format!(
        "event: wake\ndata: {}\n\n",
        json!({"remoteAccessSessionId": session, "url": "wss://lk.test", "token": "lk-jwt-secret"})
    ))
}

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    body: String,
    at: Instant,
}

#[derive(Default)]
struct MockState {
    requests: Vec<Request>,
    watches: VecDeque<WatchReply>,
    heartbeats: VecDeque<u16>,
}

#[derive(Clone)]
struct MockApi {
    url: String,
    state: Arc<Mutex<MockState>>,
}

impl MockApi {
    async fn start(watches: Vec<WatchReply>, heartbeats: Vec<u16>) -> MockApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(MockState {
            watches: watches.into(),
            heartbeats: heartbeats.into(),
            ..MockState::default()
        }));
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                // Nagle + delayed ACK would hold small SSE writes for real milliseconds, which
                // are seconds of the driven virtual clock.
                let _ = sock.set_nodelay(true);
                tokio::spawn(serve(sock, st.clone()));
            }
        });
        MockApi { url, state }
    }

    fn requests(&self, path_suffix: &str) -> Vec<Request> {
        self.state
            .lock()
            .requests
            .iter()
            .filter(|r| r.path.ends_with(path_suffix))
            .cloned()
            .collect()
    }

    fn watches(&self) -> Vec<Request> {
        self.requests("/remote-sessions/watch")
    }

    fn heartbeats(&self) -> Vec<Request> {
        self.requests("/watch/heartbeat")
    }
}

/// Serve requests on one connection (keep-alive) until it closes.
async fn serve(mut sock: TcpStream, state: Arc<Mutex<MockState>>) {
    let mut buf = Vec::new();
    loop {
        // headers
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let mut headers = HashMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
        buf.drain(..head_end + len);
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (
                p.to_string(),
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            None => (target.clone(), HashMap::new()),
        };
        state.lock().requests.push(Request {
            method: method.clone(),
            path: path.clone(),
            query,
            body,
            at: Instant::now(),
        });
        let authorized = headers.get("authorization").map(String::as_str)
            == Some(&format!("DeviceToken {TOKEN}"));
        if !authorized {
            respond(&mut sock, 401, r#"{"error":"invalid device token"}"#).await;
            continue;
        }
        if path == "/internal/platform/v1/device-info" {
            let info = json!({"id": "dev_testdevice", "name": "test-robot", "projectId": "prj_1",
                "retainRecordingsSeconds": null});
            respond(&mut sock, 200, &info.to_string()).await;
        } else if path == "/internal/platform/v1/remote-sessions/watch/heartbeat" {
            let code = state.lock().heartbeats.pop_front().unwrap_or(200);
            respond(
                &mut sock,
                code,
                if code == 200 {
                    "{}"
                } else {
                    r#"{"error":"no"}"#
                },
            )
            .await;
        } else if path == "/internal/platform/v1/remote-sessions/watch" {
            let reply = state.lock().watches.pop_front().unwrap_or(WatchReply::Sse {
                steps: vec![hello("rwl_default", 5000)],
                hold: true,
            });
            match reply {
                WatchReply::Status(code) => respond(&mut sock, code, r#"{"error":"nope"}"#).await,
                WatchReply::Html => {
                    let page = "<html>maintenance</html>";
                    let r = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}", page.len());
                    let _ = sock.write_all(r.as_bytes()).await;
                }
                WatchReply::Sse { steps, hold } => {
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
                        .await;
                    for s in steps {
                        match s {
                            Step::Send(t) => {
                                if sock.write_all(t.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                            Step::Wait(d) => tokio::time::sleep(d).await,
                        }
                    }
                    if hold {
                        // Until the client goes away.
                        let mut b = [0u8; 1];
                        let _ = sock.read(&mut b).await;
                    }
                    return;
                }
            }
        } else {
            respond(&mut sock, 404, "{}").await;
        }
    }
}

async fn respond(sock: &mut TcpStream, code: u16, body: &str) {
    let r = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(r.as_bytes()).await;
}

/// A session runner that records wakes and "serves" for a while.
#[derive(Default)]
struct FakeRunner {
    wakes: Mutex<Vec<(Wake, SessionContext, Instant)>>,
    serve_for: Duration,
}

impl SessionRunner for FakeRunner {
    fn run_session<'a>(
        &'a self,
        wake: Wake,
        ctx: SessionContext,
        _cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.wakes.lock().push((wake, ctx, Instant::now()));
            tokio::time::sleep(self.serve_for).await;
        })
    }
}

/// Keep the runtime busy and move virtual time in 10 ms steps, letting I/O settle in between.
fn drive_clock() {
    tokio::spawn(async {
        loop {
            for _ in 0..16 {
                tokio::task::yield_now().await;
            }
            tokio::time::advance(Duration::from_millis(10)).await;
        }
    });
}

fn start(api: &MockApi, token: &str, runner: Arc<FakeRunner>) -> RemoteAccess {
    drive_clock();
    let client = ApiClient::new(&api.url, Secret::new(token)).unwrap();
    RemoteAccess::start_with(client, runner)
}

/// Wait (virtual time) until `n` watch requests arrived.
async fn watches(api: &MockApi, n: usize) -> Vec<Request> {
    for _ in 0..100_000 {
        let w = api.watches();
        if w.len() >= n {
            return w;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("only {} watch requests", api.watches().len());
}

fn secs(a: &Request, b: &Request) -> f64 {
    (b.at - a.at).as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn hello_heartbeats_and_wake_then_back_to_the_watch_with_the_lease() {
    let api = MockApi::start(
        vec![WatchReply::Sse {
            steps: vec![
                Step::Send(": keep-alive\n\n".into()),
                hello("rwl_1", 5000),
                Step::Wait(Duration::from_secs(4)),
                Step::Send(": ping\n\n".into()),
                Step::Wait(Duration::from_secs(8)),
                wake("ras_1"),
            ],
            hold: true,
        }],
        vec![],
    )
    .await;
    let runner = Arc::new(FakeRunner {
        serve_for: Duration::from_secs(60),
        ..FakeRunner::default()
    });
    let ra = start(&api, TOKEN, runner.clone());
    let w = watches(&api, 2).await;
    let first = &w[0];
    assert_eq!(
        first.query.get("protocolVersion").map(String::as_str),
        Some("2.3.0")
    );
    assert!(!first.query.contains_key("previousWatchLeaseId"));
    // heartbeats every 5 s with the lease, until the wake at 12 s
    let hb = api.heartbeats();
    assert_eq!(hb.len(), 2, "{hb:?}");
    for (i, h) in hb.iter().enumerate() {
        assert_eq!(h.method, "POST");
        assert_eq!(
            serde_json::from_str::<Value>(&h.body).unwrap(),
            json!({"watchLeaseId": "rwl_1"})
        );
        let t = secs(first, h);
        assert!(
            (t - 5.0 * (i as f64 + 1.0)).abs() < 0.5,
            "heartbeat {i} at {t}"
        );
    }
    let wakes = runner.wakes.lock().clone();
    assert_eq!(wakes.len(), 1);
    let (wake, ctx, _) = &wakes[0];
    assert_eq!(wake.url, "wss://lk.test");
    assert_eq!(wake.token.expose(), "lk-jwt-secret");
    assert_eq!(ctx.session_id, "ras_1");
    assert_eq!(ctx.device.name, "test-robot");
    assert_eq!(ctx.wait_for_viewer, Duration::from_secs(300));
    // after the session: a new watch right away, with the lease and the session id
    let second = &w[1];
    assert!(
        (secs(first, second) - 72.0).abs() < 0.5,
        "{}",
        secs(first, second)
    );
    assert_eq!(
        second.query.get("previousWatchLeaseId").map(String::as_str),
        Some("rwl_1")
    );
    assert_eq!(
        second
            .query
            .get("remoteAccessSessionId")
            .map(String::as_str),
        Some("ras_1")
    );
    assert_eq!(ra.status(), ConnectionStatus::Connected);
    assert_eq!(ra.shutdown().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_rejected_token_stops_for_good_with_a_clear_error_that_hides_the_token() {
    let api = MockApi::start(vec![], vec![]).await;
    let ra = start(&api, "fox_dt_WRONG_secret", Arc::new(FakeRunner::default()));
    let err = tokio::time::timeout(Duration::from_secs(3600), ra.wait())
        .await
        .expect("stops by itself")
        .unwrap_err();
    assert!(matches!(err, RemoteError::Unauthorized(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("rejected the device token"), "{text}");
    assert!(
        text.contains("invalid device token"),
        "the API's reason: {text}"
    );
    assert!(!text.contains("WRONG") && !format!("{err:?}").contains("WRONG"));
    assert_eq!(api.watches().len(), 0, "no watch without a device");
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        api.requests("device-info").len(),
        1,
        "no retries after a 401"
    );
}

#[tokio::test(start_paused = true)]
async fn heartbeat_401_stops_the_gateway() {
    let api = MockApi::start(
        vec![WatchReply::Sse {
            steps: vec![hello("rwl_1", 2000)],
            hold: true,
        }],
        vec![401],
    )
    .await;
    let ra = start(&api, TOKEN, Arc::new(FakeRunner::default()));
    let mut status = ra.status_updates();
    let err = tokio::time::timeout(Duration::from_secs(3600), ra.wait())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, RemoteError::Unauthorized(_)));
    assert_eq!(*status.borrow_and_update(), ConnectionStatus::Shutdown);
    assert_eq!(api.watches().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn heartbeat_409_waits_30_s_and_drops_the_lease() {
    let api = MockApi::start(
        vec![WatchReply::Sse {
            steps: vec![hello("rwl_1", 2000)],
            hold: true,
        }],
        vec![409],
    )
    .await;
    let ra = start(&api, TOKEN, Arc::new(FakeRunner::default()));
    let w = watches(&api, 2).await;
    let t = secs(&w[0], &w[1]);
    // first heartbeat at 2 s → 409 → 30 s
    assert!((t - 32.0).abs() < 0.5, "{t}");
    assert!(!w[1].query.contains_key("previousWatchLeaseId"));
    ra.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn watch_409_waits_30_s() {
    let api = MockApi::start(vec![WatchReply::Status(409)], vec![]).await;
    let ra = start(&api, TOKEN, Arc::new(FakeRunner::default()));
    let w = watches(&api, 2).await;
    assert!((secs(&w[0], &w[1]) - 30.0).abs() < 0.5);
    ra.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn heartbeat_410_reconnects_at_once_without_the_lease() {
    let api = MockApi::start(
        vec![WatchReply::Sse {
            steps: vec![hello("rwl_1", 2000)],
            hold: true,
        }],
        vec![410],
    )
    .await;
    let ra = start(&api, TOKEN, Arc::new(FakeRunner::default()));
    let w = watches(&api, 2).await;
    assert!(
        (secs(&w[0], &w[1]) - 2.0).abs() < 0.5,
        "{}",
        secs(&w[0], &w[1])
    );
    assert!(!w[1].query.contains_key("previousWatchLeaseId"));
    ra.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_dropped_stream_reconnects_at_once_with_the_lease() {
    let api = MockApi::start(
        vec![WatchReply::Sse {
            steps: vec![hello("rwl_7", 5000), Step::Wait(Duration::from_secs(1))],
            hold: false,
        }],
        vec![],
    )
    .await;
    let ra = start(&api, TOKEN, Arc::new(FakeRunner::default()));
    let w = watches(&api, 2).await;
    assert!((secs(&w[0], &w[1]) - 1.0).abs() < 0.5);
    assert_eq!(
        w[1].query.get("previousWatchLeaseId").map(String::as_str),
        Some("rwl_7")
    );
    ra.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_silent_stream_times_out_after_two_and_a_half_heartbeats() {
    let api = MockApi::start(
        vec![WatchReply::Sse {
            steps: vec![hello("rwl_1", 2000)],
            hold: true,
        }],
        vec![],
    )
    .await;
    let ra = start(&api, TOKEN, Arc::new(FakeRunner::default()));
    let w = watches(&api, 2).await;
    assert!(
        (secs(&w[0], &w[1]) - 5.0).abs() < 0.5,
        "{}",
        secs(&w[0], &w[1])
    );
    assert_eq!(
        w[1].query.get("previousWatchLeaseId").map(String::as_str),
        Some("rwl_1")
    );
    ra.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_non_sse_answer_waits_30_s() {
    let api = MockApi::start(vec![WatchReply::Html], vec![]).await;
    let ra = start(&api, TOKEN, Arc::new(FakeRunner::default()));
    let w = watches(&api, 2).await;
    assert!((secs(&w[0], &w[1]) - 30.0).abs() < 0.5);
    ra.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn other_errors_back_off_exponentially_and_a_hello_resets_it() {
    use WatchReply::Status;
    let ok = WatchReply::Sse {
        steps: vec![hello("rwl_1", 5000)],
        hold: false,
    };
    let api = MockApi::start(
        vec![Status(500), Status(503), Status(500), ok, Status(500)],
        vec![],
    )
    .await;
    let ra = start(&api, TOKEN, Arc::new(FakeRunner::default()));
    let w = watches(&api, 6).await;
    let gaps: Vec<f64> = w.windows(2).map(|p| secs(&p[0], &p[1]).round()).collect();
    // 1, 2, 4, then the good watch ends cleanly (reconnect now), then 1 s again
    assert_eq!(gaps, vec![1.0, 2.0, 4.0, 0.0, 1.0], "{gaps:?}");
    ra.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_wake_joins_the_room_and_viewers_get_the_session_id_and_device_name() {
    use foxglove_gateway::remote::local_room::LocalRoomServer;
    let api = MockApi::start(
        vec![
            // the first room join fails: back to the watch, wait for the next wake
            WatchReply::Sse {
                steps: vec![hello("rwl_1", 5000), wake("ras_1")],
                hold: true,
            },
            WatchReply::Sse {
                steps: vec![hello("rwl_2", 5000), wake("ras_2")],
                hold: true,
            },
        ],
        vec![],
    )
    .await;
    let s = common::start(|c| {
        c.remote_access = true;
        c.device_token = Some(Secret::new(TOKEN));
        c.foxglove_api_url = api.url.clone();
    })
    .await;
    let config_debug = format!("{:?}", s.gateway.hub().config());
    assert!(!config_debug.contains(TOKEN), "{config_debug}");
    let rooms = LocalRoomServer::new(64);
    rooms.fail_next_connect("simulated outage");
    drive_clock();
    let ra = RemoteAccess::start(s.gateway.hub().clone(), Arc::new(rooms.clone())).unwrap();
    let room = rooms.room(0).await;
    let connects = rooms.connects();
    assert_eq!(connects.len(), 2, "a failed join goes back to the watch");
    assert_eq!(
        connects[1],
        ("wss://lk.test".into(), "lk-jwt-secret".into())
    );
    let w = api.watches();
    assert_eq!(
        w[1].query.get("remoteAccessSessionId").map(String::as_str),
        Some("ras_1")
    );
    let mut viewer = room.join("viewer", Some("2.3.0"));
    let mut stream = viewer.next_stream().await.unwrap();
    let Some(Ok(foxglove_gateway::protocol::v2::Frame::Text(first))) = stream.next_frame().await
    else {
        panic!("serverInfo first")
    };
    let info: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(info["op"], "serverInfo");
    // the first session id is kept for the gateway's lifetime
    assert_eq!(info["sessionId"], "ras_1");
    assert_eq!(info["name"], "test-robot");
    ra.shutdown().await.unwrap();
    assert!(room.is_closed());
}

#[tokio::test]
async fn remote_access_without_a_token_says_how_to_set_one() {
    let s = common::start(|c| c.remote_access = true).await;
    let rooms = foxglove_gateway::remote::local_room::LocalRoomServer::new(4);
    let err = RemoteAccess::start(s.gateway.hub().clone(), Arc::new(rooms))
        .err()
        .expect("no token");
    assert_eq!(err, RemoteError::MissingToken);
    assert!(err.to_string().contains("FOXGLOVE_DEVICE_TOKEN"));
}
