//! `gateway-bench run`: spawns one server process per run, drives it with the in-process
//! receivers, and collects the numbers.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

use crate::cpu::Snapshot;
use crate::receiver::{self, ViewerStats};
use crate::Kind;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Spawning or talking to the server process.
    #[error("server process: {0}")]
    Io(#[from] std::io::Error),
    /// The server process said something unexpected.
    #[error("server process: {0}")]
    Protocol(String),
    /// A viewer failed.
    #[error("viewer: {0}")]
    Viewer(#[from] receiver::ReceiverError),
    /// A step took too long.
    #[error("timed out {0}")]
    Timeout(&'static str),
}

/// One workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Payload bytes.
    pub size: usize,
    /// Messages/s; 0 = flat out.
    pub rate: u32,
    /// Viewers (connections) subscribed to the one topic.
    pub viewers: usize,
    /// Source duration.
    pub duration: Duration,
}

/// The outcome of one run of one server on one workload.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Which server.
    pub kind: Kind,
    /// Messages the source handed to the server (the flat-out ceiling: the most one viewer got).
    pub sent: u64,
    /// Deliveries expected over all viewers: sent × viewers, or what the flat-out ceiling pushed.
    pub expected: u64,
    /// Messages received, summed over viewers.
    pub delivered: u64,
    /// Payload bytes received, summed over viewers.
    pub bytes: u64,
    /// First receipt to last receipt, over all viewers, seconds.
    pub window: f64,
    /// Malformed frames (should be 0).
    pub malformed: u64,
    /// Out-of-order frames (should be 0).
    pub out_of_order: u64,
    /// Sequence numbers skipped mid-stream, summed over viewers (drops the viewer saw as holes;
    /// the rest of sent − delivered was lost at the tail).
    pub gaps: u64,
    /// Latency percentiles over all viewers' messages, ns.
    pub p50_ns: u64,
    /// See `p50_ns`.
    pub p99_ns: u64,
    /// Server process CPU (every thread, the source's included) from GO to the end of the drain,
    /// seconds.
    pub server_cpu: f64,
    /// Of `server_cpu`, the source thread's (payload stamping and the server's publish call).
    pub source_cpu: f64,
    /// This (receiver) process's CPU over the same span, seconds.
    pub receiver_cpu: f64,
    /// GO to the end of the drain, seconds.
    pub wall: f64,
}

impl RunResult {
    /// Delivered messages per second over the receipt window, all viewers together.
    pub fn msgs_per_s(&self) -> f64 {
        if self.window > 0.0 {
            self.delivered as f64 / self.window
        } else {
            0.0
        }
    }
    /// Delivered payload MB/s (10^6 bytes) over the receipt window, all viewers together.
    pub fn mb_per_s(&self) -> f64 {
        if self.window > 0.0 {
            self.bytes as f64 / self.window / 1e6
        } else {
            0.0
        }
    }
}

/// Run `kind` on `workload` once.
pub async fn run_once(kind: Kind, w: Workload) -> Result<RunResult, RunError> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "server",
            "--kind",
            kind.name(),
            "--size",
            &w.size.to_string(),
            "--rate",
            &w.rate.to_string(),
            "--duration-ms",
            &w.duration.as_millis().to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let result = drive(&mut child, kind, w).await;
    // Closing stdin tells the server to exit; give it a moment, then make sure.
    drop(child.stdin.take());
    if tokio::time::timeout(Duration::from_secs(3), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    result
}

async fn drive(child: &mut Child, kind: Kind, w: Workload) -> Result<RunResult, RunError> {
    let pid = child.id().ok_or(RunError::Protocol("no pid".into()))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or(RunError::Protocol("stdin".into()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or(RunError::Protocol("stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| RunError::Timeout("waiting for READY"))??;
    let port: u16 = line
        .as_deref()
        .and_then(|l| l.strip_prefix("READY "))
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| RunError::Protocol(format!("expected READY <port>, got {line:?}")))?;

    let (expected_tx, expected_rx) = watch::channel(None);
    let mut subscribed = Vec::new();
    let mut viewers = Vec::new();
    for _ in 0..w.viewers {
        let (tx, rx) = oneshot::channel();
        subscribed.push(rx);
        viewers.push(tokio::spawn(receiver::run(port, tx, expected_rx.clone())));
    }
    for rx in subscribed {
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .map_err(|_| RunError::Timeout("waiting for viewers to subscribe"))?
            .map_err(|_| RunError::Protocol("a viewer failed before subscribing".into()))?;
    }
    // The subscribe has left the viewers; give the servers time to act on it for every viewer.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let server_pid = pid.to_string();
    let cpu0 = (Snapshot::take(&server_pid), Snapshot::take("self"));
    let start = Instant::now();
    stdin.write_all(b"GO\n").await?;
    stdin.flush().await?;
    let line = tokio::time::timeout(w.duration + Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| RunError::Timeout("waiting for DONE"))??;
    // `DONE <sent> <source cpu ns> [<expected deliveries, all viewers>]`
    let done: Option<(u64, u64, Option<u64>)> = line
        .as_deref()
        .and_then(|l| l.strip_prefix("DONE "))
        .and_then(|rest| {
            let mut f = rest.split_whitespace().map(|n| n.parse().ok());
            Some((f.next()??, f.next()??, f.next().flatten()))
        });
    let (sent, source_cpu_ns, expected) = done.ok_or_else(|| {
        RunError::Protocol(format!("expected DONE <sent> <cpu ns>, got {line:?}"))
    })?;
    let expected = expected.unwrap_or(sent * w.viewers as u64);
    let _ = expected_tx.send(Some(sent));
    let mut stats = Vec::new();
    for v in viewers {
        let s = v
            .await
            .map_err(|e| RunError::Protocol(format!("viewer task: {e}")))??;
        stats.push(s);
    }
    let wall = start.elapsed().as_secs_f64();
    if std::env::var_os("BENCH_DEBUG").is_some() {
        for s in &stats {
            eprintln!(
                "  viewer: {} msgs, gaps {}, max seq {:?} of {sent}",
                s.messages, s.gaps, s.max_seq
            );
        }
    }
    let cpu1 = (Snapshot::take(&server_pid), Snapshot::take("self"));
    drop(stdin);
    Ok(summarize(
        kind,
        sent,
        expected,
        stats,
        (
            cpu0.0.seconds_until(&cpu1.0) + source_cpu_ns as f64 / 1e9,
            source_cpu_ns as f64 / 1e9,
        ),
        cpu0.1.seconds_until(&cpu1.1),
        wall,
    ))
}

fn summarize(
    kind: Kind,
    sent: u64,
    expected: u64,
    stats: Vec<ViewerStats>,
    (server_cpu, source_cpu): (f64, f64),
    receiver_cpu: f64,
    wall: f64,
) -> RunResult {
    let first = stats.iter().filter_map(|s| s.first).min();
    let last = stats.iter().filter_map(|s| s.last).max();
    let window = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    let mut lat: Vec<u64> = stats
        .iter()
        .flat_map(|s| s.latencies_ns.iter().copied())
        .collect();
    lat.sort_unstable();
    RunResult {
        kind,
        sent,
        expected,
        delivered: stats.iter().map(|s| s.messages).sum(),
        bytes: stats.iter().map(|s| s.bytes).sum(),
        window,
        malformed: stats.iter().map(|s| s.malformed).sum(),
        out_of_order: stats.iter().map(|s| s.out_of_order).sum(),
        gaps: stats.iter().map(|s| s.gaps).sum(),
        p50_ns: percentile(&lat, 0.50),
        p99_ns: percentile(&lat, 0.99),
        server_cpu,
        source_cpu,
        receiver_cpu,
        wall,
    }
}

/// Nearest-rank percentile of sorted values; 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
