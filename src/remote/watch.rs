//! The watch loop's retry policy, as pure functions of (event, state, now): no I/O, no runtime.
//!
//! | How a watch ended | Next |
//! | --- | --- |
//! | 401 (open or heartbeat) | stop for good |
//! | 409 (open or heartbeat) | wait 30 s, drop the lease |
//! | 410 heartbeat / open | reconnect now, without the lease |
//! | 2xx that is not `text/event-stream` | wait 30 s |
//! | read timeout (2.5 × heartbeat), clean end, heartbeat silence (3 × heartbeat), session over | reconnect now, with the lease |
//! | transport error after ≥ 1 heartbeat interval connected | reconnect now, with the lease |
//! | anything else (other HTTP errors, no `hello` in 30 s, early transport error) | exponential backoff 1 s → 30 s |
//!
//! A `hello` (a successful connect) resets the backoff.

use std::time::Duration;

use tokio::time::Instant;

/// First backoff step.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Backoff cap.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Wait after a lease conflict or a non-SSE answer.
pub const FIXED_WAIT: Duration = Duration::from_secs(30);
/// `hello` must arrive this soon after the request.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Exponential backoff: 1 s, 2 s, 4 s … capped at 30 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: BACKOFF_MIN }
    }
}

impl Backoff {
    /// The delay to use now; doubles the next one.
    pub fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d
    }

    /// Back to 1 s.
    pub fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// How one watch attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEnd {
    /// 401 opening the watch or heartbeating.
    Unauthorized(String),
    /// 409 opening the watch or heartbeating.
    Conflict,
    /// 410 opening the watch or heartbeating.
    Gone,
    /// A 2xx answer that is not an event stream.
    NotEventStream,
    /// Another HTTP error, or no `hello` in time, or a malformed stream before `hello`.
    Failed(String),
    /// Nothing (not even a comment) for 2.5 × the heartbeat interval.
    ReadTimeout,
    /// The server ended the stream.
    Ended,
    /// The connection broke.
    TransportError(String),
    /// Heartbeats kept failing for 3 × the interval.
    HeartbeatSilence,
    /// A `wake` came and its session is over.
    SessionOver,
}

/// What the loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Stop the remote-access gateway (with the reason for the log and the user).
    Stop(String),
    /// Open a new watch at `at`.
    Reconnect {
        /// When.
        at: Instant,
    },
}

/// What the loop remembers between watches.
#[derive(Debug, Clone, Default)]
pub struct WatchState {
    backoff: Backoff,
    /// The lease to pass as `previousWatchLeaseId`.
    pub lease: Option<String>,
    connected: Option<(Instant, Duration)>,
}

impl WatchState {
    /// A fresh state: no lease, 1 s backoff.
    pub fn new() -> Self {
        Self::default()
    }

    /// A watch is up: `hello` gave this lease and heartbeat interval.
    pub fn on_hello(&mut self, lease: &str, heartbeat: Duration, now: Instant) {
        self.lease = Some(lease.to_string());
        self.backoff.reset();
        self.connected = Some((now, heartbeat));
    }

    /// A watch ended this way at `now`: what next.
    pub fn on_end(&mut self, end: &WatchEnd, now: Instant) -> Decision {
        let connected = self.connected.take();
        let at = match end {
            WatchEnd::Unauthorized(why) => return Decision::Stop(why.clone()),
            WatchEnd::Conflict => {
                self.lease = None;
                now + FIXED_WAIT
            }
            WatchEnd::Gone => {
                self.lease = None;
                now
            }
            WatchEnd::NotEventStream => now + FIXED_WAIT,
            WatchEnd::ReadTimeout
            | WatchEnd::Ended
            | WatchEnd::HeartbeatSilence
            | WatchEnd::SessionOver => now,
            WatchEnd::TransportError(_) => match connected {
                Some((since, heartbeat)) if now.duration_since(since) >= heartbeat => now,
                _ => now + self.backoff.step(),
            },
            WatchEnd::Failed(_) => now + self.backoff.step(),
        };
        Decision::Reconnect { at }
    }
}

/// One heartbeat's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatResult {
    /// 2xx.
    Ok,
    /// 401.
    Unauthorized(String),
    /// 409.
    Conflict,
    /// 410.
    Gone,
    /// Anything else (tolerated for a while).
    Failed,
}

/// Heartbeat health of one watch.
#[derive(Debug, Clone)]
pub struct HeartbeatTracker {
    last_ok: Instant,
    interval: Duration,
}

impl HeartbeatTracker {
    /// Start tracking at `now` (the watch just opened).
    pub fn new(interval: Duration, now: Instant) -> Self {
        HeartbeatTracker {
            last_ok: now,
            interval,
        }
    }

    /// Apply a heartbeat result; `Some` ends the watch.
    pub fn on_result(&mut self, result: HeartbeatResult, now: Instant) -> Option<WatchEnd> {
        match result {
            HeartbeatResult::Ok => {
                self.last_ok = now;
                None
            }
            HeartbeatResult::Unauthorized(why) => Some(WatchEnd::Unauthorized(why)),
            HeartbeatResult::Conflict => Some(WatchEnd::Conflict),
            HeartbeatResult::Gone => Some(WatchEnd::Gone),
            HeartbeatResult::Failed => self.check(now),
        }
    }

    /// `Some` once no heartbeat succeeded for 3 intervals.
    pub fn check(&self, now: Instant) -> Option<WatchEnd> {
        (now.duration_since(self.last_ok) > self.interval * 3).then_some(WatchEnd::HeartbeatSilence)
    }
}

/// The read timeout of a watch: 2.5 × the heartbeat interval.
pub fn read_timeout(heartbeat: Duration) -> Duration {
    heartbeat * 5 / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_on_hello() {
        let now = Instant::now();
        let mut st = WatchState::new();
        let steps: Vec<Duration> = (0..7)
            .map(|_| match st.on_end(&WatchEnd::Failed("500".into()), now) {
                Decision::Reconnect { at } => at - now,
                d => panic!("{d:?}"),
            })
            .collect();
        assert_eq!(steps, [S(1), S(2), S(4), S(8), S(16), S(30), S(30)]);
        st.on_hello("l1", S(5), now);
        assert_eq!(
            st.on_end(&WatchEnd::Failed("x".into()), now),
            Decision::Reconnect { at: now + S(1) }
        );
    }

    #[test]
    fn terminal_and_lease_rules() {
        let now = Instant::now();
        let mut st = WatchState::new();
        st.on_hello("lease-1", S(5), now);
        assert_eq!(
            st.on_end(&WatchEnd::ReadTimeout, now),
            Decision::Reconnect { at: now }
        );
        assert_eq!(st.lease.as_deref(), Some("lease-1"), "kept after a timeout");
        assert_eq!(
            st.on_end(&WatchEnd::Ended, now),
            Decision::Reconnect { at: now }
        );
        assert_eq!(
            st.on_end(&WatchEnd::HeartbeatSilence, now),
            Decision::Reconnect { at: now }
        );
        assert_eq!(
            st.on_end(&WatchEnd::NotEventStream, now),
            Decision::Reconnect { at: now + S(30) }
        );
        assert_eq!(st.lease.as_deref(), Some("lease-1"));
        assert_eq!(
            st.on_end(&WatchEnd::Gone, now),
            Decision::Reconnect { at: now }
        );
        assert_eq!(st.lease, None, "410 drops the lease");
        st.on_hello("lease-2", S(5), now);
        assert_eq!(
            st.on_end(&WatchEnd::Conflict, now),
            Decision::Reconnect { at: now + S(30) }
        );
        assert_eq!(st.lease, None, "409 drops the lease");
        assert_eq!(
            st.on_end(&WatchEnd::Unauthorized("bad token".into()), now),
            Decision::Stop("bad token".into())
        );
    }

    #[test]
    fn transport_error_reconnects_at_once_only_after_a_heartbeat_interval() {
        let t0 = Instant::now();
        let mut st = WatchState::new();
        st.on_hello("l", S(5), t0);
        assert_eq!(
            st.on_end(&WatchEnd::TransportError("reset".into()), t0 + S(6)),
            Decision::Reconnect { at: t0 + S(6) }
        );
        st.on_hello("l", S(5), t0);
        assert_eq!(
            st.on_end(&WatchEnd::TransportError("reset".into()), t0 + S(2)),
            Decision::Reconnect { at: t0 + S(3) }
        );
    }

    #[test]
    fn heartbeat_tolerates_failures_for_three_intervals() {
        let t0 = Instant::now();
        let mut hb = HeartbeatTracker::new(S(5), t0);
        assert_eq!(hb.on_result(HeartbeatResult::Failed, t0 + S(5)), None);
        assert_eq!(hb.on_result(HeartbeatResult::Failed, t0 + S(15)), None);
        assert_eq!(
            hb.on_result(HeartbeatResult::Failed, t0 + S(16)),
            Some(WatchEnd::HeartbeatSilence)
        );
        assert_eq!(hb.on_result(HeartbeatResult::Ok, t0 + S(16)), None);
        assert_eq!(hb.check(t0 + S(30)), None);
        assert_eq!(
            hb.on_result(HeartbeatResult::Gone, t0),
            Some(WatchEnd::Gone)
        );
        assert_eq!(
            hb.on_result(HeartbeatResult::Conflict, t0),
            Some(WatchEnd::Conflict)
        );
        assert!(matches!(
            hb.on_result(HeartbeatResult::Unauthorized("x".into()), t0),
            Some(WatchEnd::Unauthorized(_))
        ));
        assert_eq!(read_timeout(S(2)), S(5));
    }
}
