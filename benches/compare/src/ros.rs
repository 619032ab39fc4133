//! `gateway-bench ros`: the real-ROS workload (scripts/bench-ros.sh, docs/BENCHMARK.md).
//!
//! A ROS 2 publisher (`benches/ros/rcl_pub.c` by default) → the gateway started with
//! `ros2 launch` → the same Rust receiver as the other workloads ([`crate::receiver`]), at
//! 1/5/10/20 kHz of 100 B and 30 Hz of 1 MiB. As the reference, the same publisher → a plain
//! rclpy subscriber with the QoS the gateway picks (reliable, volatile, keep last
//! `reader_depth`): the rates a ROS 2 node keeps up with on this machine. Must run inside the private network
//! namespace of scripts/ros-netns.sh with ROS 2 sourced.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::{oneshot, watch};

use crate::cpu::Snapshot;
use crate::driver::percentile;
use crate::receiver;

/// What to run (from the command line).
#[derive(Debug, Clone)]
pub struct Options {
    /// Starts the gateway (whitespace-separated words), e.g. `ros2 launch foxglove_gateway …`.
    pub launch: String,
    /// The port the launched gateway listens on.
    pub port: u16,
    /// The publisher; gets `--size --rate --duration-ms --depth` appended.
    pub publisher: String,
    /// The reference subscriber; gets `--depth` appended.
    pub reference: String,
    /// How long each run publishes.
    pub duration: Duration,
    /// `(payload bytes, messages/s)` per workload.
    pub workloads: Vec<(usize, u32)>,
    /// Publisher history depth.
    pub depth: usize,
    /// The gateway's reader depth for this publisher; the reference subscribes with the same.
    pub reader_depth: usize,
    /// Where the launch output goes (scanned for ERROR lines).
    pub launch_log: Option<PathBuf>,
}

/// Why the run failed.
#[derive(Debug, thiserror::Error)]
pub enum RosError {
    /// Spawning or talking to a process.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    /// A process said something unexpected or nothing at all.
    #[error("{0}")]
    Protocol(String),
    /// A viewer failed.
    #[error("viewer: {0}")]
    Viewer(#[from] receiver::ReceiverError),
}

/// How long the viewer keeps listening after the last message, for the gateway's periodic loss
/// reports (every 2 s).
const LOSS_REPORT_WAIT: Duration = Duration::from_millis(2500);

/// The number of messages a gateway status says were dropped or lost: its drop reports start
/// "Dropped N message(s)" (its own queue) or "N message(s) on /t were lost" (the ROS side).
fn reported_count(status: &str) -> Option<u64> {
    let words: Vec<&str> = status.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "message(s)")?;
    if !(status.starts_with("Dropped ") || status.contains(" were lost")) {
        return None;
    }
    words.get(i.checked_sub(1)?)?.parse().ok()
}

/// How many times a gateway status says its ROS reader was found full (messages may have been
/// overwritten in the middleware, which does not say how many): "… was found full N time(s) …".
fn reader_full_count(status: &str) -> Option<u64> {
    let words: Vec<&str> = status.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "time(s):")?;
    if !status.contains(" was found full ") {
        return None;
    }
    words.get(i.checked_sub(1)?)?.parse().ok()
}

/// What the publisher reported.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    sent: u64,
    cpu_ns: u64,
    elapsed_ns: u64,
    matched: u64,
}

impl Sent {
    fn rate(&self) -> f64 {
        if self.elapsed_ns == 0 {
            0.0
        } else {
            self.sent as f64 / (self.elapsed_ns as f64 / 1e9)
        }
    }
}

/// One workload through the rclpy reference subscriber.
#[derive(Debug, Clone, Copy, Default)]
struct RefRun {
    sent: Sent,
    received: u64,
    gaps: u64,
    cpu_ns: u64,
}

/// One workload through the gateway to the Rust receiver.
#[derive(Debug, Clone, Default)]
struct GwRun {
    sent: Sent,
    delivered: u64,
    gaps: u64,
    p50_ns: u64,
    p99_ns: u64,
    gateway_cpu_s: f64,
    /// Status messages the gateway sent the viewer (its drop reports).
    statuses: Vec<String>,
}

/// Run everything and return the Markdown report.
pub async fn run(opts: Options) -> Result<String, RosError> {
    let mut refs = Vec::new();
    for &(size, rate) in &opts.workloads {
        let r = reference_run(&opts, size, rate).await?;
        eprintln!(
            "reference {size} B @ {rate} Hz: sent {} at {:.0}/s to {} subscription(s), rclpy received {} (gaps {})",
            r.sent.sent,
            r.sent.rate(),
            r.sent.matched,
            r.received,
            r.gaps
        );
        refs.push(r);
    }

    let (mut launch, gateway_pid, launch_errors) = start_gateway(&opts).await?;
    let mut gws = Vec::new();
    let mut failure = None;
    for &(size, rate) in &opts.workloads {
        match gateway_run(&opts, gateway_pid, size, rate).await {
            Ok(r) => {
                eprintln!(
                    "gateway   {size} B @ {rate} Hz: sent {} at {:.0}/s to {} subscription(s), delivered {} (gaps {}), gateway CPU {:.3} s",
                    r.sent.sent,
                    r.sent.rate(),
                    r.sent.matched,
                    r.delivered,
                    r.gaps,
                    r.gateway_cpu_s
                );
                gws.push(r);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        // A departed topic is unadvertised within 2 s: let that happen before the next publisher
        // creates /bench again, so the receiver never subscribes to the channel that is leaving.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    stop(&mut launch, "ros2 launch", Duration::ZERO).await;
    let errors = launch_errors.await.unwrap_or_default();
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(report(&opts, &refs, &gws, &errors))
}

fn words(cmd: &str) -> Result<(String, Vec<String>), RosError> {
    let mut w = cmd.split_whitespace().map(str::to_string);
    let prog = w
        .next()
        .ok_or_else(|| RosError::Protocol(format!("empty command {cmd:?}")))?;
    Ok((prog, w.collect()))
}

/// A child speaking a line protocol on stdio (the publisher, the reference subscriber).
struct Peer {
    what: &'static str,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    /// Start `cmd` with `extra` arguments and wait for its `READY` line.
    async fn start(cmd: &str, extra: &[String], what: &'static str) -> Result<Peer, RosError> {
        let (prog, mut args) = words(cmd)?;
        args.extend_from_slice(extra);
        let mut child = Command::new(prog)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .map_err(|e| RosError::Io(what, e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or(RosError::Protocol(format!("{what}: no stdout")))?;
        let mut peer = Peer {
            what,
            child,
            lines: BufReader::new(stdout).lines(),
        };
        peer.fields::<u64>("READY", 0, Duration::from_secs(30))
            .await?;
        Ok(peer)
    }

    /// Write one line to its stdin.
    async fn send(&mut self, line: &str) -> Result<(), RosError> {
        let what = self.what;
        let stdin = self
            .child
            .stdin
            .as_mut()
            .ok_or(RosError::Protocol(format!("{what}: no stdin")))?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| RosError::Io(what, e))?;
        stdin.flush().await.map_err(|e| RosError::Io(what, e))
    }

    /// The next line, which must be `<word> <n numbers>`: the numbers.
    async fn fields<T: std::str::FromStr>(
        &mut self,
        word: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<T>, RosError> {
        let what = self.what;
        let l = match tokio::time::timeout(timeout, self.lines.next_line()).await {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) => return Err(RosError::Protocol(format!("{what} ended before {word}"))),
            Ok(Err(e)) => return Err(RosError::Protocol(format!("{what}: {e}"))),
            Err(_) => {
                return Err(RosError::Protocol(format!(
                    "{what}: no {word} within {timeout:?}"
                )))
            }
        };
        let mut w = l.split_whitespace();
        let f: Vec<T> = if w.next() == Some(word) {
            w.filter_map(|x| x.parse().ok()).collect()
        } else {
            Vec::new()
        };
        if f.len() != n || (n == 0 && l.trim() != word) {
            return Err(RosError::Protocol(format!(
                "{what} said {l:?}, expected {word} with {n} numbers"
            )));
        }
        Ok(f)
    }

    async fn finish(mut self) {
        stop(&mut self.child, self.what, Duration::from_secs(3)).await;
    }
}

async fn start_publisher(opts: &Options, size: usize, rate: u32) -> Result<Peer, RosError> {
    let extra = [
        "--size".to_string(),
        size.to_string(),
        "--rate".to_string(),
        rate.to_string(),
        "--duration-ms".to_string(),
        opts.duration.as_millis().to_string(),
        "--depth".to_string(),
        opts.depth.to_string(),
    ];
    Peer::start(&opts.publisher, &extra, "publisher").await
}

/// `GO`, then the publisher's `DONE <sent> <cpu ns> <elapsed ns> <matched subscriptions>`.
async fn publish(publisher: &mut Peer, duration: Duration) -> Result<Sent, RosError> {
    publisher.send("GO").await?;
    let f = publisher
        .fields::<u64>("DONE", 4, duration + Duration::from_secs(30))
        .await?;
    if f[3] == 0 {
        return Err(RosError::Protocol(
            "the publisher never matched a subscription within 10 s".into(),
        ));
    }
    Ok(Sent {
        sent: f[0],
        cpu_ns: f[1],
        elapsed_ns: f[2],
        matched: f[3],
    })
}

async fn reference_run(opts: &Options, size: usize, rate: u32) -> Result<RefRun, RosError> {
    let depth = ["--depth".to_string(), opts.reader_depth.to_string()];
    let mut sub = Peer::start(&opts.reference, &depth, "reference subscriber").await?;
    let mut publisher = start_publisher(opts, size, rate).await?;
    let sent = publish(&mut publisher, opts.duration).await?;
    sub.send(&format!("EXPECT {}", sent.sent)).await?;
    let f = sub
        .fields::<i64>("RECEIVED", 4, Duration::from_secs(60))
        .await?;
    publisher.finish().await;
    sub.finish().await;
    Ok(RefRun {
        sent,
        received: f[0] as u64,
        gaps: f[1] as u64,
        cpu_ns: f[3] as u64,
    })
}

/// Start the gateway; returns the launch process, the gateway node's pid (from launch's
/// "process started with pid [N]") and a task that drains launch's output, returning its ERROR
/// lines when launch exits.
async fn start_gateway(
    opts: &Options,
) -> Result<(Child, u32, tokio::task::JoinHandle<Vec<String>>), RosError> {
    let (prog, args) = words(&opts.launch)?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .map_err(|e| RosError::Io("ros2 launch", e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or(RosError::Protocol("launch stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut log = match &opts.launch_log {
        Some(p) => Some(std::fs::File::create(p).map_err(|e| RosError::Io("launch log", e))?),
        None => None,
    };
    let mut keep = move |l: &str| {
        if let Some(f) = log.as_mut() {
            use std::io::Write;
            let _ = writeln!(f, "{l}");
        }
    };
    let mut pid = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let l = match tokio::time::timeout(left, lines.next_line()).await {
            Ok(Ok(Some(l))) => l,
            _ => {
                return Err(RosError::Protocol(
                    "ros2 launch: no \"foxglove_gateway listening on\" line within 90 s".into(),
                ))
            }
        };
        keep(&l);
        if let Some(p) = l
            .split("process started with pid [")
            .nth(1)
            .and_then(|r| r.split(']').next())
            .and_then(|n| n.parse().ok())
        {
            pid = Some(p);
        }
        if l.contains("foxglove_gateway listening on ws://") {
            break;
        }
    }
    let pid =
        pid.ok_or_else(|| RosError::Protocol("ros2 launch never printed the node's pid".into()))?;
    let drain = tokio::spawn(async move {
        let mut errors = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            keep(&l);
            if l.contains("[ERROR]") || l.contains("[FATAL]") {
                errors.push(l);
            }
        }
        errors
    });
    Ok((child, pid, drain))
}

async fn gateway_run(
    opts: &Options,
    gateway_pid: u32,
    size: usize,
    rate: u32,
) -> Result<GwRun, RosError> {
    let mut publisher = start_publisher(opts, size, rate).await?;
    let (expected_tx, expected_rx) = watch::channel(None);
    let (tx, subscribed) = oneshot::channel();
    // The gateway reports losses every 2 s: keep listening long enough for the last report.
    let viewer = tokio::spawn(receiver::run_lingering(
        opts.port,
        tx,
        expected_rx,
        LOSS_REPORT_WAIT,
    ));
    match tokio::time::timeout(Duration::from_secs(20), subscribed).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            let e = viewer
                .await
                .map_err(|e| RosError::Protocol(format!("viewer task: {e}")))?;
            return Err(match e {
                Err(e) => e.into(),
                Ok(_) => RosError::Protocol("the viewer stopped before subscribing".into()),
            });
        }
        Err(_) => {
            return Err(RosError::Protocol(format!(
                "/bench was not advertised by the gateway within 20 s ({size} B @ {rate} Hz)"
            )))
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = gateway_pid.to_string();
    let cpu0 = Snapshot::take(&pid);
    let sent = publish(&mut publisher, opts.duration).await?;
    let _ = expected_tx.send(Some(sent.sent));
    let stats = viewer
        .await
        .map_err(|e| RosError::Protocol(format!("viewer task: {e}")))??;
    let cpu = cpu0.seconds_until(&Snapshot::take(&pid));
    publisher.finish().await;
    let mut lat = stats.latencies_ns.clone();
    lat.sort_unstable();
    Ok(GwRun {
        sent,
        delivered: stats.messages,
        gaps: stats.gaps,
        p50_ns: percentile(&lat, 0.5),
        p99_ns: percentile(&lat, 0.99),
        gateway_cpu_s: cpu,
        statuses: stats.statuses,
    })
}

/// Let `child` exit on its own for `grace`, then SIGINT (as Ctrl-C does), then SIGKILL after
/// 10 s.
async fn stop(child: &mut Child, what: &str, grace: Duration) {
    if tokio::time::timeout(grace, child.wait()).await.is_ok() {
        return;
    }
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            eprintln!("{what} (pid {pid}) ignored SIGINT for 10 s: killing it");
            let _ = child.kill().await;
        }
    }
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "–".into()
    } else {
        format!("{:.1} %", n as f64 * 100.0 / d as f64)
    }
}

fn size_name(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else {
        format!("{size} B")
    }
}

fn rate_name(rate: u32) -> String {
    if rate >= 1000 && rate.is_multiple_of(1000) {
        format!("{} kHz", rate / 1000)
    } else {
        format!("{rate} Hz")
    }
}

fn report(opts: &Options, refs: &[RefRun], gws: &[GwRun], launch_errors: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Real-ROS workload: publisher → `ros2 launch` gateway → Rust receiver\n\n\
         Publisher: `{}` (reliable, volatile, keep last {}), {} ms per run. Reference: `{}`, a \
         plain rclpy subscriber with the QoS of the gateway's reader (keep last {}). \
         delivered/sent per run; the publisher column \
         is the rate it achieved. Gateway CPU: on-CPU time of every gateway thread from GO to \
         the end of the drain, per second of publishing and per delivered message. Where the \
         gateway sent the viewer status messages (its drop reports: `ros-dropped-messages` for \
         messages the ROS side lost before the gateway took them, or for a reader found full \
         where the middleware hides how many it overwrote; `dropped-messages` for its own \
         queue), the first is quoted below the table.\n",
        opts.publisher,
        opts.depth,
        opts.duration.as_millis(),
        opts.reference,
        opts.reader_depth
    );
    let _ = writeln!(s, "| workload | publisher achieved (ref / gw run) | rclpy subscriber delivered/sent | gateway → receiver delivered/sent | lost, reported by the gateway / not reported | gateway CPU | latency p50 / p99 | gateway delivers all where rclpy keeps up |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for (i, &(size, rate)) in opts.workloads.iter().enumerate() {
        let (Some(r), Some(g)) = (refs.get(i), gws.get(i)) else {
            continue;
        };
        let ref_ok = r.received >= r.sent.sent;
        let gw_ok = g.delivered >= g.sent.sent;
        let verdict = match (ref_ok, gw_ok) {
            (true, true) => "yes",
            (true, false) => "**no**",
            (false, true) => "yes (rclpy does not keep up)",
            (false, false) => "– (rclpy does not keep up either)",
        };
        let window = g.sent.elapsed_ns as f64 / 1e9;
        // Every message not delivered should be in one of the gateway's drop reports.
        let lost = g.sent.sent.saturating_sub(g.delivered);
        let reported: u64 = g.statuses.iter().filter_map(|m| reported_count(m)).sum();
        // Losses hidden in the middleware are not counted, but the gateway says it saw the
        // reader full: flagged, not silent.
        let full: u64 = g.statuses.iter().filter_map(|m| reader_full_count(m)).sum();
        let unreported = lost.saturating_sub(reported);
        let unreported = if unreported > 0 && full > 0 {
            format!("{unreported} (flagged: reader found full {full}×)")
        } else {
            unreported.to_string()
        };
        let _ = writeln!(
            s,
            "| {} @ {} | {:.0} / {:.0} msg/s | {}/{} ({}) | {}/{} ({}) | {} / {} | {:.2} cores, {:.0} µs/msg | {:.2} / {:.2} ms | {} |",
            size_name(size),
            rate_name(rate),
            r.sent.rate(),
            g.sent.rate(),
            r.received,
            r.sent.sent,
            pct(r.received, r.sent.sent),
            g.delivered,
            g.sent.sent,
            pct(g.delivered, g.sent.sent),
            reported.min(lost),
            unreported,
            if window > 0.0 { g.gateway_cpu_s / window } else { 0.0 },
            if g.delivered > 0 { g.gateway_cpu_s * 1e6 / g.delivered as f64 } else { 0.0 },
            g.p50_ns as f64 / 1e6,
            g.p99_ns as f64 / 1e6,
            verdict
        );
    }
    let _ = writeln!(
        s,
        "\nPublisher CPU (cores while publishing): {}. rclpy subscriber CPU: {}.",
        gws.iter()
            .map(|g| format!(
                "{:.2}",
                g.sent.cpu_ns as f64 / g.sent.elapsed_ns.max(1) as f64
            ))
            .collect::<Vec<_>>()
            .join(", "),
        refs.iter()
            .map(|r| format!("{:.2} s", r.cpu_ns as f64 / 1e9))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (i, g) in gws.iter().enumerate() {
        if let (Some(&(size, rate)), Some(first)) = (opts.workloads.get(i), g.statuses.first()) {
            let _ = writeln!(
                s,
                "Statuses to the viewer at {} @ {} ({}), first: \"{}\"",
                size_name(size),
                rate_name(rate),
                g.statuses.len(),
                first
            );
        }
    }
    if launch_errors.is_empty() {
        let _ = writeln!(s, "Gateway log: no ERROR lines.");
    } else {
        let _ = writeln!(
            s,
            "Gateway log: {} ERROR line(s), first: `{}`",
            launch_errors.len(),
            launch_errors[0]
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{reader_full_count, reported_count};

    #[test]
    fn reader_full_reports_are_counted() {
        assert_eq!(
            reader_full_count(
                "The gateway's ROS reader of /bench (history depth 10) was found full 3 time(s): \
                 the middleware may have overwritten messages"
            ),
            Some(3)
        );
        assert_eq!(reader_full_count("Dropped 8 message(s) because"), None);
    }

    #[test]
    fn drop_reports_are_counted() {
        assert_eq!(
            reported_count(
                "Dropped 8 message(s) because this viewer is not keeping up (queue limits: 2 \
                 messages, 10000000 bytes): /bench (8) (8 in total since connecting)"
            ),
            Some(8)
        );
        assert_eq!(
            reported_count(
                "1145 message(s) on /bench were lost on the ROS side, before the gateway: gaps"
            ),
            Some(1145)
        );
        assert_eq!(reported_count("Publishing to /x is not allowed"), None);
        assert_eq!(reported_count("3 message(s) pending"), None);
    }
}
