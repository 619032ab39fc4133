//! Medians over rounds, ratios between servers, and the Markdown report.

use std::fmt::Write;

use crate::driver::{RunResult, Workload};
use crate::Kind;

/// Every round of one server on one workload.
pub struct Cell<'a> {
    /// The runs.
    pub runs: Vec<&'a RunResult>,
}

impl Cell<'_> {
    fn median(&self, f: impl Fn(&RunResult) -> f64) -> f64 {
        let mut v: Vec<f64> = self.runs.iter().map(|r| f(r)).collect();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
    fn msgs(&self) -> f64 {
        self.median(RunResult::msgs_per_s)
    }
    fn mbs(&self) -> f64 {
        self.median(RunResult::mb_per_s)
    }
    /// Delivered and expected over all rounds (expected = sent × viewers, except for the
    /// flat-out ceiling, which reports what it pushed).
    fn delivered(&self) -> (u64, u64) {
        let d = self.runs.iter().map(|r| r.delivered).sum();
        let s = self.runs.iter().map(|r| r.expected).sum();
        (d, s)
    }
    /// Server CPU seconds per second of the receipt window (the drain tail is idle time).
    fn server_load(&self) -> f64 {
        self.median(|r| r.server_cpu / r.window.max(1e-3))
    }
    fn receiver_load(&self) -> f64 {
        self.median(|r| r.receiver_cpu / r.window.max(1e-3))
    }
    /// Server CPU µs per delivered message.
    fn cpu_per_msg_us(&self) -> f64 {
        self.median(|r| r.server_cpu * 1e6 / (r.delivered.max(1) as f64))
    }
}

/// All results of one workload.
pub struct Row<'a> {
    /// Per server.
    pub cells: Vec<(Kind, Cell<'a>)>,
}

impl<'a> Row<'a> {
    /// Group `results` (workload, result) for `workload`.
    pub fn new(workload: Workload, results: &'a [(Workload, RunResult)]) -> Self {
        let cells = Kind::ALL
            .iter()
            .map(|&k| {
                let runs = results
                    .iter()
                    .filter(|(w, r)| *w == workload && r.kind == k)
                    .map(|(_, r)| r)
                    .collect();
                (k, Cell { runs })
            })
            .collect();
        Row { cells }
    }
    fn cell(&self, k: Kind) -> &Cell<'a> {
        // Kind::ALL built every kind's cell in `new`.
        &self
            .cells
            .iter()
            .find(|(c, _)| *c == k)
            .expect("every kind")
            .1
    }
}

/// Human size: 100 B, 64 KiB, 1 MiB.
pub fn size_name(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.2}×", a / b)
    } else {
        "–".into()
    }
}

fn delivered_text(c: &Cell) -> String {
    let (d, s) = c.delivered();
    if s == 0 {
        return "–".into();
    }
    let pct = 100.0 * d as f64 / s as f64;
    format!("{d}/{s} ({pct:.1}%)")
}

/// The whole report as Markdown.
pub fn markdown(
    header: &str,
    flood: &[Workload],
    paced: &[Workload],
    ramp: &[Workload],
    results: &[(Workload, RunResult)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "### Throughput (source flat out)\n");
    let _ = writeln!(
        out,
        "| payload | viewers | server | delivered msg/s | MB/s | delivered/sent (all rounds) | \
         server CPU (cores) | of which source | server CPU µs/msg | same, source excluded | receiver CPU (cores) | msg/s vs SDK | MB/s vs ceiling |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &w in flood {
        let row = Row::new(w, results);
        let sdk = row.cell(Kind::Sdk).msgs();
        let ceil = row.cell(Kind::Ceiling).mbs();
        for (k, c) in &row.cells {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.1} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                size_name(w.size),
                w.viewers,
                k.name(),
                c.msgs(),
                c.mbs(),
                delivered_text(c),
                c.server_load(),
                c.median(|r| r.source_cpu / r.window.max(1e-3)),
                c.cpu_per_msg_us(),
                c.median(|r| (r.server_cpu - r.source_cpu) * 1e6 / (r.delivered.max(1) as f64)),
                c.receiver_load(),
                ratio(c.msgs(), sdk),
                ratio(c.mbs(), ceil),
            );
        }
    }
    let _ = writeln!(out, "\n### Latency (source paced)\n");
    let _ = writeln!(
        out,
        "| payload @ rate | viewers | server | p50 ms | p99 ms | delivered/sent (all rounds) | \
         server CPU (cores) | server CPU µs/msg |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for &w in paced {
        let row = Row::new(w, results);
        for (k, c) in &row.cells {
            let _ = writeln!(
                out,
                "| {} @ {} Hz | {} | {} | {:.3} | {:.3} | {} | {:.3} | {:.2} |",
                size_name(w.size),
                w.rate,
                w.viewers,
                k.name(),
                c.median(|r| r.p50_ns as f64 / 1e6),
                c.median(|r| r.p99_ns as f64 / 1e6),
                delivered_text(c),
                c.server_load(),
                c.cpu_per_msg_us(),
            );
        }
    }
    let _ = writeln!(
        out,
        "\n### Sustained rate, 100 B (source paced, per viewer)\n"
    );
    let _ = writeln!(
        out,
        "A step is clean when the source kept its rate (≥ {:.0}% of it) and every viewer got every \
         message in every round. Cells: delivered/expected, source's achieved rate, receiver CPU.\n",
        SOURCE_KEPT_UP * 100.0
    );
    let _ = writeln!(out, "| rate/viewer | viewers | gateway | sdk | ceiling |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for &w in ramp {
        let row = Row::new(w, results);
        let cells: Vec<String> = Kind::ALL
            .iter()
            .map(|&k| {
                let c = row.cell(k);
                let mark = if clean(c, w) { "✓" } else { "✗" };
                format!(
                    "{mark} {} at {:.0}/s, rx {:.2} cores",
                    delivered_text(c),
                    c.median(|r| r.sent as f64 / w.duration.as_secs_f64()),
                    c.receiver_load()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            w.rate,
            w.viewers,
            cells.join(" | ")
        );
    }
    let _ = writeln!(out, "\n### Targets\n");
    out.push_str(&targets(flood, paced, ramp, results));
    let anomalies: u64 = results
        .iter()
        .map(|(_, r)| r.malformed + r.out_of_order)
        .sum();
    let _ = writeln!(
        out,
        "\nMalformed or out-of-order frames over all runs: {anomalies}."
    );
    out
}

/// A paced run counts as "kept up" when the source achieved this share of its rate.
const SOURCE_KEPT_UP: f64 = 0.95;

/// Every round delivered everything at (nearly) the asked rate.
fn clean(c: &Cell, w: Workload) -> bool {
    let (d, s) = c.delivered();
    let want = f64::from(w.rate) * w.duration.as_secs_f64() * SOURCE_KEPT_UP;
    !c.runs.is_empty() && d == s && c.runs.iter().all(|r| r.sent as f64 >= want)
}

/// Highest clean ramp rate (messages/s per viewer) of `kind` with `viewers` viewers.
fn highest_clean(
    ramp: &[Workload],
    results: &[(Workload, RunResult)],
    kind: Kind,
    viewers: usize,
) -> u32 {
    ramp.iter()
        .filter(|w| w.viewers == viewers && clean(Row::new(**w, results).cell(kind), **w))
        .map(|w| w.rate)
        .max()
        .unwrap_or(0)
}

fn targets(
    flood: &[Workload],
    paced: &[Workload],
    ramp: &[Workload],
    results: &[(Workload, RunResult)],
) -> String {
    let mut out = String::new();
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    let mut viewer_counts: Vec<usize> = ramp.iter().map(|w| w.viewers).collect();
    viewer_counts.dedup();
    for v in viewer_counts {
        let [g, s, c] = Kind::ALL.map(|k| highest_clean(ramp, results, k, v));
        let top = ramp
            .iter()
            .filter(|w| w.viewers == v)
            .map(|w| w.rate)
            .max()
            .unwrap_or(0);
        let capped = if g == top {
            " (the top of the ramp: the gateway may do more)"
        } else {
            ""
        };
        let ok = s > 0 && g >= 2 * s || s == 0 && g > 0;
        // Both clean at the top step: the ramp did not find either limit.
        let judged = if s == top && g == top {
            "inconclusive: both clean at the top of the ramp".to_string()
        } else {
            verdict(ok).to_string()
        };
        let _ = writeln!(
            out,
            "- 100 B to {v} viewer(s), nothing dropped: highest clean rate per viewer: gateway {g}/s{capped}, \
             SDK {s}/s, ceiling {c}/s (target gateway ≥ 2× SDK: {judged}).",
        );
    }
    for &w in flood {
        let row = Row::new(w, results);
        let gw = row.cell(Kind::Gateway);
        let (d, s) = gw.delivered();
        if w.size < 1024 {
            let r = gw.msgs() / row.cell(Kind::Sdk).msgs();
            let _ = writeln!(
                out,
                "- {} to {} viewer(s), flat out: gateway delivers {:.2}× the SDK server's msg/s (target ≥ 2×: {}); \
                 gateway dropped {} of {} ({:.2}%) — the source outruns every server here, so drops \
                 show the overload policy, not a receiver falling behind.",
                size_name(w.size),
                w.viewers,
                r,
                verdict(r >= 2.0),
                s - d.min(s),
                s,
                100.0 * (s - d.min(s)) as f64 / s.max(1) as f64,
            );
        } else {
            let r = gw.mbs() / row.cell(Kind::Ceiling).mbs();
            let _ = writeln!(
                out,
                "- {} to {} viewer(s): gateway reaches {:.2}× the loopback ceiling's MB/s (target ≥ 0.9×: {}).",
                size_name(w.size),
                w.viewers,
                r,
                verdict(r >= 0.9),
            );
        }
    }
    // 8 viewers vs 1 at the same paced rate: server CPU for the same source.
    for &w8 in paced.iter().filter(|w| w.viewers > 1) {
        let Some(&w1) = paced
            .iter()
            .find(|w| w.viewers == 1 && w.size == w8.size && w.rate == w8.rate)
        else {
            continue;
        };
        for k in Kind::ALL {
            // Per source message: both runs publish the same stream, only the fan-out differs.
            let per_sent = |c: &Cell| c.median(|r| r.server_cpu / r.sent.max(1) as f64);
            let c1 = per_sent(Row::new(w1, results).cell(k));
            let c8 = per_sent(Row::new(w8, results).cell(k));
            let r = c8 / c1;
            // CPU time comes in clock ticks (10 ms): a short run can read 0.
            let shown = if c1 > 0.0 {
                format!("{r:.2}×")
            } else {
                "– (too short to measure)".into()
            };
            let line = format!(
                "- {} @ {} Hz, {}: {} viewers cost {shown} the server CPU (per source message) of 1 viewer",
                size_name(w8.size),
                w8.rate,
                k.name(),
                w8.viewers,
            );
            if k == Kind::Gateway {
                let _ = writeln!(
                    out,
                    "{line} (target < {}×: {}).",
                    w8.viewers,
                    verdict(c1 > 0.0 && r < w8.viewers as f64)
                );
            } else {
                let _ = writeln!(out, "{line}.");
            }
        }
    }
    out
}
