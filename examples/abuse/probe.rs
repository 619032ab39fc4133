//! What the tier measures: the gateway's resident memory, and a bystander viewer's `/odom` rate.
//! Both run on their own OS threads so that an attack saturating this process's runtime cannot
//! make the gateway look worse than it is.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Resident set size of `pid`, in bytes (0 if it is gone).
pub fn rss(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Samples a process's RSS every 20 ms and keeps the peak since the last reset.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssSampler { peak, stop }
    }

    /// The peak since the last reset, and reset it to `now`.
    pub fn take_peak(&self, now: u64) -> u64 {
        self.peak.swap(now, Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A viewer subscribed to `/odom`, recording when each message arrives.
pub struct Bystander {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    alive: Arc<AtomicBool>,
}

impl Bystander {
    /// Connect on a thread of its own; returns once subscribed.
    pub fn start(addr: SocketAddr) -> Bystander {
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let alive = Arc::new(AtomicBool::new(true));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (a, live) = (arrivals.clone(), alive.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Err(e) = run(addr, a, ready_tx).await {
                    eprintln!("bystander: {e}");
                }
                live.store(false, Ordering::Relaxed);
            });
        });
        let _ = ready_rx.recv_timeout(Duration::from_secs(10));
        Bystander { arrivals, alive }
    }

    /// Messages received in `[from, to)`.
    pub fn count(&self, from: Instant, to: Instant) -> usize {
        self.arrivals
            .lock()
            .iter()
            .filter(|t| **t >= from && **t < to)
            .count()
    }

    /// Still connected.
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// The lowest rate over `window`-long windows in `[from, to)`, in Hz.
    pub fn min_window_rate(&self, from: Instant, to: Instant, window: Duration) -> f64 {
        let mut min = f64::INFINITY;
        let mut t = from;
        while t + window <= to {
            let n = self.count(t, t + window);
            min = min.min(n as f64 / window.as_secs_f64());
            t += window;
        }
        if min.is_infinite() {
            self.count(from, to) as f64 / (to - from).as_secs_f64().max(1e-3)
        } else {
            min
        }
    }
}

async fn run(
    addr: SocketAddr,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    ready: std::sync::mpsc::Sender<()>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut req = format!("ws://{addr}").into_client_request()?;
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("foxglove.sdk.v1"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let mut odom = None;
    while let Some(msg) = ws.next().await {
        match msg? {
            Message::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str())?;
                if v["op"] == "advertise" && odom.is_none() {
                    if let Some(c) = v["channels"]
                        .as_array()
                        .and_then(|a| a.iter().find(|c| c["topic"] == "/odom"))
                    {
                        let id = c["id"].as_u64().unwrap_or(0);
                        odom = Some(id);
                        let sub = serde_json::json!({"op": "subscribe",
                            "subscriptions": [{"id": 1, "channelId": id}]});
                        ws.send(Message::text(sub.to_string())).await?;
                        let _ = ready.send(());
                    }
                }
            }
            Message::Binary(b) if b.first() == Some(&1) => arrivals.lock().push(Instant::now()),
            Message::Close(f) => return Err(format!("closed: {f:?}").into()),
            _ => {}
        }
    }
    Err("the connection ended".into())
}
