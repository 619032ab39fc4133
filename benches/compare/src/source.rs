//! The load generator shared by the three servers: one std::thread, paced or flat out.

use std::time::{Duration, Instant};

use crate::payload;

/// Name of the source thread (so its CPU time can be told apart in /proc).
pub const THREAD_NAME: &str = "bench-source";

/// What the source does.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Payload size in bytes.
    pub size: usize,
    /// Messages per second; 0 = as fast as the server's publish call returns.
    pub rate: u32,
    /// How long to publish.
    pub duration: Duration,
}

/// What the source did.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Messages handed to the server.
    pub messages: u64,
    /// CPU time of the source thread, ns (it has exited before the driver can read it).
    pub cpu_ns: u64,
}

/// Publish for `load.duration` on a dedicated thread, calling `publish` with the stamped payload.
///
/// The buffer is reused: each server's publish call takes exactly the copy its API needs, so the
/// source costs the same for all three.
pub fn run<F>(load: Load, mut publish: F) -> std::io::Result<Sent>
where
    F: FnMut(&[u8]) + Send + 'static,
{
    let handle = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            let cpu0 = crate::cpu::this_thread_ns();
            let mut buf = payload::template(load.size);
            let start = Instant::now();
            let period = if load.rate == 0 {
                None
            } else {
                Some(Duration::from_secs_f64(1.0 / f64::from(load.rate)))
            };
            let mut seq = 0u64;
            loop {
                let now = Instant::now();
                if now.duration_since(start) >= load.duration {
                    break;
                }
                if let Some(period) = period {
                    // Absolute schedule: a late wake-up does not shift every later message.
                    let due = start + period.mul_f64(seq as f64);
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                payload::stamp(&mut buf, seq, payload::now_ns());
                publish(&buf);
                seq += 1;
            }
            Sent {
                messages: seq,
                cpu_ns: crate::cpu::this_thread_ns().saturating_sub(cpu0),
            }
        })?;
    handle
        .join()
        .map_err(|_| std::io::Error::other("source thread panicked"))
}
