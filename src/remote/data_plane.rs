//! The lossy data plane: one hub viewer that subscribes to every lossy channel some participant
//! wants, and pushes each message once onto the channel's shared data track `data-ch-{id}`.
//!
//! Oversized messages (over `max_data_track_message_size`) are **dropped**, as the Foxglove SDK
//! does, but never silently: the participants on that channel get a warning status with id
//! `channel-drops-{id}` naming the topic, at most once per 30 s, withdrawn after 60 s without
//! drops. (Switching the channel to the control stream instead would change its advertisement
//! under the viewer's feet and push large messages through every viewer's reliable queue.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::room::{DataTrack, RoomError};
use super::session::{self, Shared};
use crate::hub::{Control, Outbox, Outgoing};
use crate::protocol::server::StatusLevel;
use crate::protocol::v2;

/// Oversize warnings at most this often per channel.
pub const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(30);
/// The warning is withdrawn after this long without drops.
pub const DROP_CLEAR_AFTER: Duration = Duration::from_secs(60);
/// A failed track publication is retried after this long at the earliest.
const PUBLISH_RETRY: Duration = Duration::from_secs(1);

/// The name of a channel's data track.
pub fn track_name(channel: u64) -> String {
    format!("data-ch-{channel}")
}

/// The status id of a channel's oversize warning.
pub fn drop_status_id(channel: u64) -> String {
    format!("channel-drops-{channel}")
}

/// Throttle of one channel's oversize warning; pure, driven by `now`.
#[derive(Debug, Default, Clone)]
pub struct DropThrottle {
    last_warning: Option<Instant>,
    last_drop: Option<Instant>,
    /// Drops not yet reported.
    pending: u64,
}

impl DropThrottle {
    /// Count a drop; returns how many drops to report now, if a warning is due.
    pub fn on_drop(&mut self, now: Instant) -> Option<u64> {
        self.pending += 1;
        self.last_drop = Some(now);
        let due = self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= DROP_WARNING_INTERVAL);
        if due {
            self.last_warning = Some(now);
            Some(std::mem::take(&mut self.pending))
        } else {
            None
        }
    }

    /// True once, when a shown warning should be withdrawn (no drop for [`DROP_CLEAR_AFTER`]).
    pub fn take_clear(&mut self, now: Instant) -> bool {
        match (self.last_warning, self.last_drop) {
            (Some(_), Some(d)) if now.duration_since(d) >= DROP_CLEAR_AFTER => {
                *self = DropThrottle::default();
                true
            }
            _ => false,
        }
    }
}

struct Track {
    track: Arc<dyn DataTrack>,
    sequence: u32,
}

/// Feed the data tracks from the data plane's outbox until it closes.
pub(super) async fn run(
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
    mut prepare: mpsc::UnboundedReceiver<u64>,
) {
    let max = shared.cfg.max_data_track_message_size;
    let mut tracks: HashMap<u64, Track> = HashMap::new();
    let mut failed: HashMap<u64, Instant> = HashMap::new();
    let mut throttles: HashMap<u64, DropThrottle> = HashMap::new();
    let mut batch = Vec::new();
    loop {
        batch.clear();
        if outbox.pop_batch(&mut batch, 256, 4 << 20).is_err() {
            return;
        }
        let now = Instant::now();
        throttles.retain(|&channel, t| {
            if t.take_clear(now) {
                let clear = Control::RemoveStatus(vec![drop_status_id(channel)]);
                for o in session::lossy_subscribers(&shared, channel) {
                    let _ = o.push_control(clear.clone());
                }
                return false;
            }
            true
        });
        if batch.is_empty() {
            let tick = tokio::time::sleep(Duration::from_secs(5));
            tokio::select! {
                _ = outbox.wait() => {}
                _ = tick, if !throttles.is_empty() => {}
                channel = prepare.recv() => {
                    if let Some(channel) = channel {
                        ensure_track(&shared, &mut tracks, &mut failed, channel, Instant::now()).await;
                    }
                }
            }
            continue;
        }
        for item in batch.drain(..) {
            // Advertisements and statuses are for the participants' own outboxes.
            let Outgoing::Data(d) = item else { continue };
            if d.payload.len() > max {
                let throttle = throttles.entry(d.channel).or_default();
                if let Some(count) = throttle.on_drop(now) {
                    warn_oversize(&shared, d.channel, count, d.payload.len(), max);
                }
                continue;
            }
            let Some(t) = ensure_track(&shared, &mut tracks, &mut failed, d.channel, now).await
            else {
                continue;
            };
            let frame = v2::data_track_frame(t.sequence, &d.payload);
            t.sequence = t.sequence.wrapping_add(1);
            match t.track.try_push(frame, d.log_time) {
                Ok(()) => {}
                Err(RoomError::TrackFull) => {
                    tracing::trace!(channel = d.channel, "data track full; frame dropped")
                }
                Err(e) => {
                    tracing::debug!(channel = d.channel, error = %e, "data track push failed");
                    tracks.remove(&d.channel);
                }
            }
        }
    }
}

/// The channel's track, published now if it is not yet (at most once per [`PUBLISH_RETRY`]
/// after a failure).
async fn ensure_track<'a>(
    shared: &Shared,
    tracks: &'a mut HashMap<u64, Track>,
    failed: &mut HashMap<u64, Instant>,
    channel: u64,
    now: Instant,
) -> Option<&'a mut Track> {
    if let std::collections::hash_map::Entry::Vacant(slot) = tracks.entry(channel) {
        if failed
            .get(&channel)
            .is_some_and(|t| now.duration_since(*t) < PUBLISH_RETRY)
        {
            return None;
        }
        match shared.room.publish_data_track(&track_name(channel)).await {
            Ok(track) => {
                failed.remove(&channel);
                slot.insert(Track { track, sequence: 0 });
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "cannot publish data track");
                failed.insert(channel, now);
                return None;
            }
        }
    }
    tracks.get_mut(&channel)
}

fn warn_oversize(shared: &Shared, channel: u64, count: u64, size: usize, max: usize) {
    let topic = shared
        .hub
        .channels()
        .into_iter()
        .find(|c| c.id == channel)
        .map(|c| c.topic.to_string())
        .unwrap_or_default();
    let message = format!(
        "Dropped {count} message(s) on {topic} (channel {channel}): {size} bytes is more than \
         max_data_track_message_size ({max} bytes) allows on a data track"
    );
    tracing::warn!(channel, %topic, "{message}");
    let status = Control::Status {
        level: StatusLevel::Warning,
        message,
        id: Some(drop_status_id(channel)),
    };
    for o in session::lossy_subscribers(shared, channel) {
        let _ = o.push_control(status.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_warning_is_throttled_and_cleared() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = DropThrottle::default();
        assert!(!t.take_clear(t0));
        assert_eq!(t.on_drop(t0), Some(1));
        assert_eq!(t.on_drop(t0 + s(1)), None);
        assert_eq!(t.on_drop(t0 + s(29)), None);
        // the next warning reports the drops since the last one
        assert_eq!(t.on_drop(t0 + s(30)), Some(3));
        assert!(!t.take_clear(t0 + s(89)));
        assert!(t.take_clear(t0 + s(90)));
        assert!(!t.take_clear(t0 + s(200)), "cleared once");
        assert_eq!(
            t.on_drop(t0 + s(201)),
            Some(1),
            "a new episode warns at once"
        );
    }

    #[test]
    fn names() {
        assert_eq!(track_name(7), "data-ch-7");
        assert_eq!(drop_status_id(7), "channel-drops-7");
    }
}
