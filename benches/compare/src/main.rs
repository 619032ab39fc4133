//! Throughput and latency of foxglove_gateway, side by side with the Foxglove SDK's WebSocket
//! server and a bare tokio-tungstenite loopback ceiling, all measured by the same Rust receiver.
//!
//! `gateway-bench run` is the driver (and the receiver); it starts `gateway-bench server` once per
//! run so servers never share a process or runtime with the receiver. See docs/BENCHMARK.md.

mod ceiling;
mod cpu;
mod driver;
mod payload;
mod receiver;
mod report;
mod ros;
mod server;
mod source;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use driver::Workload;

/// Which server is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// foxglove_gateway, in-process, fed by a SimGraph publisher.
    Gateway,
    /// The Foxglove SDK (`foxglove` 0.30.3) WebSocket server, fed through a RawChannel.
    Sdk,
    /// A bare tokio-tungstenite server pushing one pre-built frame per message to every viewer.
    Ceiling,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 3] = [Kind::Gateway, Kind::Sdk, Kind::Ceiling];
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::Sdk => "sdk",
            Kind::Ceiling => "ceiling",
        }
    }
}

#[derive(Parser)]
#[command(about = "foxglove_gateway vs the Foxglove SDK server vs a bare WebSocket ceiling")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every workload, interleaving the servers, and print a Markdown report.
    Run {
        /// Rounds per workload (each round runs every server once, in rotated order).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Source duration of a throughput (flat-out) run, ms.
        #[arg(long, default_value_t = 1500)]
        flood_ms: u64,
        /// Source duration of a latency (paced) run, ms.
        #[arg(long, default_value_t = 3000)]
        paced_ms: u64,
        /// Source duration of one step of the 100 B sustained-rate ramp, ms.
        #[arg(long, default_value_t = 1000)]
        ramp_ms: u64,
        /// Also write the report (and a CSV of every run next to it) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only workloads whose payload is one of these sizes (bytes); default all.
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
        /// Only these servers (for profiling one; ratios need all three); default all.
        #[arg(long, value_enum, value_delimiter = ',')]
        kinds: Vec<Kind>,
    },
    /// The real-ROS workload: a ROS 2 publisher → the gateway started with `ros2 launch` → the
    /// receiver, and the same publisher → a plain rclpy subscriber as the reference. Run it
    /// through scripts/bench-ros.sh (inside a private network namespace with ROS 2 sourced).
    Ros {
        /// The command that starts the gateway (whitespace-separated words).
        #[arg(long)]
        launch: String,
        /// The port the launched gateway listens on.
        #[arg(long, default_value_t = 8765)]
        port: u16,
        /// The publisher command; `--size --rate --duration-ms --depth` are appended.
        #[arg(long)]
        publisher: String,
        /// The reference subscriber command; `--depth` is appended.
        #[arg(long)]
        reference: String,
        /// How long each run publishes, ms.
        #[arg(long, default_value_t = 3000)]
        duration_ms: u64,
        /// Rates of the small-message runs, messages/s.
        #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000,20000")]
        rates: Vec<u32>,
        /// Payload of the small-message runs, bytes.
        #[arg(long, default_value_t = 100)]
        small_size: usize,
        /// Rate of the large-message run, messages/s (0: no large run).
        #[arg(long, default_value_t = 30)]
        big_rate: u32,
        /// Payload of the large-message run, bytes.
        #[arg(long, default_value_t = 1 << 20)]
        big_size: usize,
        /// Publisher history depth (keep last).
        #[arg(long, default_value_t = 10)]
        depth: usize,
        /// The reference subscriber's depth: the gateway's reader depth for this publisher
        /// (the publisher's depth clamped to min_qos_depth..=max_qos_depth, 50..=100 by default).
        #[arg(long, default_value_t = 50)]
        reader_depth: usize,
        /// Write the report here too.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the gateway's launch output here.
        #[arg(long)]
        launch_log: Option<PathBuf>,
    },
    /// One server process (started by `run`).
    Server {
        /// Which server.
        #[arg(long, value_enum)]
        kind: Kind,
        /// Payload bytes.
        #[arg(long)]
        size: usize,
        /// Messages/s; 0 = flat out.
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// How long the source publishes, ms.
        #[arg(long, default_value_t = 2000)]
        duration_ms: u64,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match cli.cmd {
        Cmd::Server {
            kind,
            size,
            rate,
            duration_ms,
        } => {
            let load = source::Load {
                size,
                rate,
                duration: Duration::from_millis(duration_ms),
            };
            if let Err(e) = rt.block_on(server::run(kind, load)) {
                eprintln!("server {}: {e}", kind.name());
                return std::process::ExitCode::FAILURE;
            }
        }
        Cmd::Ros {
            launch,
            port,
            publisher,
            reference,
            duration_ms,
            rates,
            small_size,
            big_rate,
            big_size,
            depth,
            reader_depth,
            out,
            launch_log,
        } => {
            let mut workloads: Vec<(usize, u32)> = rates.iter().map(|&r| (small_size, r)).collect();
            if big_rate > 0 {
                workloads.push((big_size, big_rate));
            }
            let opts = ros::Options {
                launch,
                port,
                publisher,
                reference,
                duration: Duration::from_millis(duration_ms),
                workloads,
                depth,
                reader_depth,
                launch_log,
            };
            match rt.block_on(ros::run(opts)) {
                Ok(md) => {
                    println!("{md}");
                    if let Some(path) = out {
                        if let Err(e) = std::fs::write(&path, &md) {
                            eprintln!("writing {}: {e}", path.display());
                            return std::process::ExitCode::FAILURE;
                        }
                    }
                }
                Err(e) => {
                    eprintln!("real-ROS workload: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        Cmd::Run {
            rounds,
            flood_ms,
            paced_ms,
            ramp_ms,
            out,
            sizes,
            kinds,
        } => {
            if let Err(e) = rt.block_on(run_all(
                rounds, flood_ms, paced_ms, ramp_ms, out, sizes, kinds,
            )) {
                eprintln!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    std::process::ExitCode::SUCCESS
}

/// Why the whole benchmark failed.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("run {kind} {size} B × {viewers} viewers: {source}")]
    Run {
        kind: &'static str,
        size: usize,
        viewers: usize,
        source: driver::RunError,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The workloads: flat out, paced for latency, and the 100 B ramp of paced rates.
struct Workloads {
    flood: Vec<Workload>,
    paced: Vec<Workload>,
    ramp: Vec<Workload>,
}

/// Per-viewer rates of the 100 B ramp; 8 viewers get an eighth of the aggregate range higher up.
const RAMP_1: [u32; 4] = [100_000, 200_000, 400_000, 800_000];
const RAMP_8: [u32; 4] = [25_000, 50_000, 100_000, 200_000];

fn workloads(flood_ms: u64, paced_ms: u64, ramp_ms: u64, sizes: &[usize]) -> Workloads {
    let keep = |s: usize| sizes.is_empty() || sizes.contains(&s);
    let mut flood = Vec::new();
    for size in [100, 64 << 10, 1 << 20] {
        for viewers in [1, 8] {
            if keep(size) {
                flood.push(Workload {
                    size,
                    rate: 0,
                    viewers,
                    duration: Duration::from_millis(flood_ms),
                });
            }
        }
    }
    let mut paced = Vec::new();
    for (size, rate) in [(100, 1000), (1 << 20, 30)] {
        for viewers in [1, 8] {
            if keep(size) {
                paced.push(Workload {
                    size,
                    rate,
                    viewers,
                    duration: Duration::from_millis(paced_ms),
                });
            }
        }
    }
    let mut ramp = Vec::new();
    if keep(100) {
        for (viewers, rates) in [(1, &RAMP_1[..]), (8, &RAMP_8[..])] {
            for &rate in rates {
                ramp.push(Workload {
                    size: 100,
                    rate,
                    viewers,
                    duration: Duration::from_millis(ramp_ms),
                });
            }
        }
    }
    Workloads { flood, paced, ramp }
}

async fn run_all(
    rounds: usize,
    flood_ms: u64,
    paced_ms: u64,
    ramp_ms: u64,
    out: Option<PathBuf>,
    sizes: Vec<usize>,
    kinds: Vec<Kind>,
) -> Result<(), BenchError> {
    let Workloads { flood, paced, ramp } = workloads(flood_ms, paced_ms, ramp_ms, &sizes);
    let header = header(rounds, flood_ms, paced_ms, ramp_ms);
    let mut results = Vec::new();
    for &w in flood.iter().chain(&paced).chain(&ramp) {
        for round in 0..rounds {
            // Rotate the order so no server always runs first (or right after another's load).
            for i in 0..Kind::ALL.len() {
                let kind = Kind::ALL[(i + round) % Kind::ALL.len()];
                if !kinds.is_empty() && !kinds.contains(&kind) {
                    continue;
                }
                let r = driver::run_once(kind, w)
                    .await
                    .map_err(|source| BenchError::Run {
                        kind: kind.name(),
                        size: w.size,
                        viewers: w.viewers,
                        source,
                    })?;
                eprintln!(
                    "{:>7} B rate {:>4} × {} {:>8} round {}: {:>9.0} msg/s {:>8.1} MB/s delivered {}/{} p50 {:.3} ms p99 {:.3} ms cpu {:.2}s",
                    w.size,
                    w.rate,
                    w.viewers,
                    kind.name(),
                    round + 1,
                    r.msgs_per_s(),
                    r.mb_per_s(),
                    r.delivered,
                    r.sent * w.viewers as u64,
                    r.p50_ns as f64 / 1e6,
                    r.p99_ns as f64 / 1e6,
                    r.server_cpu,
                );
                results.push((w, r));
            }
        }
    }
    let md = report::markdown(&header, &flood, &paced, &ramp, &results);
    println!("{md}");
    if let Some(path) = out {
        let write = |p: &PathBuf, text: &str| {
            std::fs::write(p, text).map_err(|source| BenchError::Write {
                path: p.clone(),
                source,
            })
        };
        write(&path, &md)?;
        write(&path.with_extension("csv"), &csv(&results))?;
    }
    Ok(())
}

fn csv(results: &[(Workload, driver::RunResult)]) -> String {
    let mut s = String::from(
        "kind,size,rate,viewers,sent,delivered,bytes,window_s,msgs_per_s,mb_per_s,p50_ns,p99_ns,\
         server_cpu_s,source_cpu_s,receiver_cpu_s,wall_s,malformed,out_of_order,gaps\n",
    );
    for (w, r) in results {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{:.6},{:.1},{:.3},{},{},{:.3},{:.3},{:.3},{:.3},{},{},{}",
            r.kind.name(),
            w.size,
            w.rate,
            w.viewers,
            r.sent,
            r.delivered,
            r.bytes,
            r.window,
            r.msgs_per_s(),
            r.mb_per_s(),
            r.p50_ns,
            r.p99_ns,
            r.server_cpu,
            r.source_cpu,
            r.receiver_cpu,
            r.wall,
            r.malformed,
            r.out_of_order,
            r.gaps
        );
    }
    s
}

fn header(rounds: usize, flood_ms: u64, paced_ms: u64, ramp_ms: u64) -> String {
    let cmd = |c: &str, args: &[&str]| {
        std::process::Command::new(c)
            .args(args)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "## Benchmark run {}\n\nMachine: {} × {cpu}, Linux {}; load average at start: {}.\n\
         Rounds: {rounds} (medians shown; delivered/sent sums every round). Throughput runs: source \
         flat out for {flood_ms} ms. Latency runs: source paced for {paced_ms} ms. Ramp steps: source paced for {ramp_ms} ms. MB = 10^6 bytes \
         of payload. Per-viewer queue bound for every server: {} messages and {} bytes.\n",
        cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cmd("nproc", &[]),
        cmd("uname", &["-r"]),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        server::QUEUE_MESSAGES,
        server::QUEUE_BYTES,
    )
}
