//! The abuse tier: replays attacks 1–7 of issue 11 against the release gateway running `--demo`
//! on loopback, and checks for each that the bound holds, what the attacker is told, that a
//! bystander viewer keeps ≥ 90 % of its `/odom` rate, that RSS stays under the stated ceiling
//! during the attack and returns near the pre-attack value within 10 s after the attacker
//! leaves. One `PASS`/`FAIL` line per check, then `# pass N` / `# fail N` (counted by
//! scripts/test-all.sh).
//!
//! ```text
//! cargo build --release --no-default-features --example abuse
//! scripts/test-abuse.sh          # builds both, raises the fd limit, runs this
//! target/release/examples/abuse --gateway target/release/foxglove_gateway [--only 3]
//! ```
//!
//! Written in Rust rather than Node because the attacks need raw control of the wire (a frame
//! header declaring 60 MiB, half an HTTP request, an unmasked frame), 10,000 sockets in one
//! process, and nothing beyond this crate's own dependencies.

mod attacks;
mod probe;
mod wire;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use probe::{rss, Bystander, RssSampler};

const MIB: u64 = 1 << 20;
/// RSS must come back to within this of the pre-attack value…
const RETURN_FRACTION: f64 = 0.20;
/// …or within this constant, whichever is larger (allocator and page-cache noise on a process of
/// ~20 MiB is a few MiB).
const RETURN_SLACK: u64 = 8 * MIB;
/// …within this long after the attacker leaves.
const RETURN_WITHIN: Duration = Duration::from_secs(10);
/// The bystander's rate during an attack, as a share of its rate before any attack.
const BYSTANDER_SHARE: f64 = 0.90;

/// PASS/FAIL lines and their counts.
#[derive(Default)]
pub struct Report {
    pass: u32,
    fail: u32,
}

impl Report {
    /// One check.
    pub fn check(&mut self, attack: &str, ok: bool, what: impl AsRef<str>) {
        if ok {
            self.pass += 1;
        } else {
            self.fail += 1;
        }
        println!(
            "{} [{attack}] {}",
            if ok { "PASS" } else { "FAIL" },
            what.as_ref()
        );
    }
}

/// A running gateway.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Gateway {
    /// Start `bin --demo` on a free loopback port with `params` (YAML `ros__parameters` lines).
    pub fn start(bin: &Path, dir: &Path, name: &str, params: &str, interfaces: &Path) -> Gateway {
        let params_file = dir.join(format!("{name}.yaml"));
        std::fs::write(&params_file, format!("/**:\n  ros__parameters:\n{params}"))
            .expect("params file");
        let log = dir.join(format!("{name}.log"));
        let mut child = Command::new(bin)
            .args(["--demo", "--port", "0", "--address", "127.0.0.1"])
            .arg("--params-file")
            .arg(&params_file)
            .arg("--interfaces")
            .arg(interfaces)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("listening line");
        let addr = line
            .trim()
            .rsplit("ws://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        Gateway { child, addr, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything an attack may use.
pub struct Tier {
    pub gateway: Gateway,
    pub bystander: Bystander,
    pub sampler: RssSampler,
    /// The bystander's `/odom` rate before any attack, Hz.
    pub rate: f64,
    pub report: Report,
    /// The asset prefix (`…/ws/install/abuse_assets`).
    pub prefix: PathBuf,
    pub bin: PathBuf,
    pub dir: PathBuf,
}

/// RSS once it has settled: the lowest of a few samples over `over`.
pub async fn settled_rss(pid: u32, over: Duration) -> u64 {
    let mut low = u64::MAX;
    let end = Instant::now() + over;
    while Instant::now() < end {
        low = low.min(rss(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    low
}

impl Tier {
    /// Run one attack: `attack` does it (returning once the attacker has left) and makes its own
    /// checks of the bound and of what the attacker was told; this adds the memory and
    /// bystander checks around it.
    pub async fn run<F, Fut>(&mut self, name: &str, ceiling: u64, attack: F)
    where
        F: FnOnce(SocketAddr, u32, PathBuf) -> Fut,
        Fut: std::future::Future<Output = Vec<(bool, String)>>,
    {
        let pid = self.gateway.pid();
        let pre = settled_rss(pid, Duration::from_millis(600)).await;
        self.sampler.take_peak(pre);
        let t0 = Instant::now();
        let checks = attack(self.gateway.addr, pid, self.prefix.clone()).await;
        let t1 = Instant::now();
        let peak = self.sampler.take_peak(0);
        for (ok, what) in checks {
            self.report.check(name, ok, what);
        }
        let running = self.gateway.running();
        self.report
            .check(name, running, "the gateway is still running");
        self.report.check(
            name,
            peak <= ceiling,
            format!(
                "RSS peak during the attack {:.1} MiB <= ceiling {:.0} MiB (before: {:.1} MiB)",
                peak as f64 / MIB as f64,
                ceiling as f64 / MIB as f64,
                pre as f64 / MIB as f64
            ),
        );
        let allowed = pre + ((pre as f64 * RETURN_FRACTION) as u64).max(RETURN_SLACK);
        let left = Instant::now();
        let back = loop {
            let now = rss(pid);
            if now <= allowed {
                break Some((now, left.elapsed()));
            }
            if left.elapsed() > RETURN_WITHIN {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match back {
            Some((now, after)) => self.report.check(
                name,
                true,
                format!(
                    "RSS back to {:.1} MiB {:.1} s after the attacker left (allowed {:.1} MiB: \
                     before + max(20 %, 8 MiB))",
                    now as f64 / MIB as f64,
                    after.as_secs_f64(),
                    allowed as f64 / MIB as f64
                ),
            ),
            None => self.report.check(
                name,
                false,
                format!(
                    "RSS still {:.1} MiB 10 s after the attacker left (allowed {:.1} MiB)",
                    rss(pid) as f64 / MIB as f64,
                    allowed as f64 / MIB as f64
                ),
            ),
        }
        let secs = (t1 - t0).as_secs_f64().max(1e-3);
        let got = self.bystander.count(t0, t1) as f64 / secs;
        let low = self
            .bystander
            .min_window_rate(t0, t1, Duration::from_secs(1));
        self.report.check(
            name,
            self.bystander.alive() && got >= BYSTANDER_SHARE * self.rate,
            format!(
                "bystander /odom {got:.1} Hz over the {secs:.1} s attack >= 90 % of {:.1} Hz \
                 (lowest 1 s window {low:.0} Hz)",
                self.rate
            ),
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut bin = PathBuf::from("target/release/foxglove_gateway");
    let mut only: Option<String> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--gateway" => bin = PathBuf::from(args.next().expect("--gateway PATH")),
            "--only" => only = args.next(),
            other => panic!("unknown argument {other} (--gateway PATH, --only N)"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(run(bin, only));
    println!("# pass {}", report.pass);
    println!("# fail {}", report.fail);
    std::process::exit(if report.fail == 0 { 0 } else { 1 });
}

async fn run(bin: PathBuf, only: Option<String>) -> Report {
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = attacks::asset_workspace(dir.path());
    let gateway = Gateway::start(&bin, dir.path(), "gateway", "", &prefix);
    let pid = gateway.pid();
    let sampler = RssSampler::start(pid);
    let bystander = Bystander::start(gateway.addr);
    // The bystander's own rate, before anything happens.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rate = bystander.count(t0, Instant::now()) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "# gateway {} pid {pid}, RSS {:.1} MiB, bystander /odom {rate:.1} Hz",
        gateway.addr,
        rss(pid) as f64 / MIB as f64
    );
    let mut tier = Tier {
        gateway,
        bystander,
        sampler,
        rate,
        report: Report::default(),
        prefix,
        bin,
        dir: dir.path().to_path_buf(),
    };
    if rate < 10.0 {
        tier.report
            .check("setup", false, format!("bystander /odom only {rate:.1} Hz"));
        return tier.report;
    }
    let want = |n: &str| only.as_deref().is_none_or(|o| o == n);
    if want("1") {
        attacks::unfinished_messages(&mut tier).await;
    }
    if want("2") {
        attacks::assets(&mut tier).await;
    }
    if want("3") {
        attacks::connections(&mut tier).await;
    }
    if want("4") {
        attacks::client_publishing(&mut tier).await;
    }
    if want("5") {
        attacks::parameter_subscriptions(&mut tier).await;
    }
    if want("6") {
        attacks::refusals(&mut tier).await;
    }
    if want("7") {
        attacks::asset_paths(&mut tier).await;
    }
    if want("idle") || only.is_none() {
        attacks::idle_cost(&mut tier).await;
    }
    tier.report
}
