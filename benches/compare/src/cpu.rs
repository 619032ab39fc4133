//! CPU time per thread from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds, not 10 ms ticks: a
//! 30 Hz run uses a few ticks in all, too coarse to compare 1 viewer with 8).

use std::collections::HashMap;

/// CPU time of every live thread of a process, ns, by thread id.
#[derive(Debug, Default, Clone)]
pub struct Snapshot(HashMap<u32, u64>);

impl Snapshot {
    /// Threads of `pid` (`"self"` for this process). Unreadable threads are skipped: a thread may
    /// exit between listing and reading.
    pub fn take(pid: &str) -> Snapshot {
        let mut threads = HashMap::new();
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Snapshot(threads);
        };
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let Some(ns) = std::fs::read_to_string(entry.path().join("schedstat"))
                .ok()
                .and_then(|t| parse_schedstat(&t))
            {
                threads.insert(tid, ns);
            }
        }
        Snapshot(threads)
    }

    /// CPU seconds spent between `self` and `later` by threads alive at `later` (threads born in
    /// between count in full). Threads that ended in between are missed: callers account for
    /// short-lived threads themselves (the source reports its own time).
    pub fn seconds_until(&self, later: &Snapshot) -> f64 {
        let ns: u64 = later
            .0
            .iter()
            .map(|(tid, t)| t.saturating_sub(self.0.get(tid).copied().unwrap_or(0)))
            .sum();
        ns as f64 / 1e9
    }
}

/// CPU time of the calling thread, ns (0 if unreadable).
pub fn this_thread_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|t| parse_schedstat(&t))
        .unwrap_or(0)
}

/// First field of schedstat: time spent on the CPU, ns.
fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn schedstat_parsing() {
        assert_eq!(parse_schedstat("123456 789 10\n"), Some(123456));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn spinning_shows_up_in_thread_and_process_time() {
        let before = Snapshot::take("self");
        let t0 = this_thread_ns();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        let spun = this_thread_ns() - t0;
        assert!(spun > 10_000_000, "spun only {spun} ns");
        assert!(before.seconds_until(&Snapshot::take("self")) >= spun as f64 / 1e9 * 0.9);
    }
}
