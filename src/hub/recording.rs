//! The hub's side of recording and playback ([`crate::record`]): thin hooks.
//!
//! - The recorder counts as one more subscriber of every channel it wants: the channel's single
//!   ROS subscription exists while a viewer *or* the recorder needs it, and its route carries a
//!   [`Tap`] next to the viewers' outboxes.
//! - The black box save service is an *internal* service: offered to viewers through the
//!   `services` capability and on the gateway's ROS node ([`RosCommand::ProvideService`]), and
//!   answered here, so it works the same with or without ROS. It is listed once: the graph's
//!   copy of it (the node's own server) is not advertised a second time.
//! - Playback: `playbackControl`/`time` in `serverInfo` with the recording's range, viewers'
//!   Playback Control Requests forwarded to the player, and broadcasts for its Playback State.

use std::sync::Arc;

use bytes::Bytes;

use super::{ChannelInfo, ClientError, ClientId, Control, Hub, State};
use crate::protocol::client::PlaybackControlRequest;
use crate::protocol::server::{ServerInfo, Timestamp};
use crate::record::{Recorder, Tap, SAVE_SERVICE, SAVE_SERVICE_TYPE};
use crate::ros::RosCommand;

/// Playback requests queued for the player before new ones are refused.
pub const PLAYBACK_QUEUE: usize = 64;

/// Recording and playback attached to a hub.
#[derive(Clone, Default)]
pub struct HubExtras {
    /// The black box / continuous recorder.
    pub recorder: Option<Arc<Recorder>>,
    /// The player of `--play`.
    pub playback: Option<PlaybackHook>,
}

/// How the hub reaches the player.
#[derive(Clone)]
pub struct PlaybackHook {
    /// Log time of the recording's first message, ns.
    pub start: u64,
    /// Log time of its last message, ns.
    pub end: u64,
    /// Viewers' requests, bounded by [`PLAYBACK_QUEUE`].
    pub requests: std::sync::mpsc::SyncSender<PlaybackControlRequest>,
}

impl HubExtras {
    /// Add `playbackControl`, `time` and the data range when playing a recording.
    pub(super) fn amend_server_info(&self, info: &mut ServerInfo) {
        if let Some(p) = &self.playback {
            for cap in ["playbackControl", "time"] {
                if !info.capabilities.iter().any(|c| c == cap) {
                    info.capabilities.push(cap.to_string());
                }
            }
            info.data_start_time = Some(Timestamp::from_ns(p.start));
            info.data_end_time = Some(Timestamp::from_ns(p.end.max(p.start)));
        }
    }
}

impl Hub {
    /// Offer the save service if the black box is on (called once, at construction).
    pub(super) fn start_recording(&self) {
        let Some(recorder) = self.extras.recorder.clone() else {
            return;
        };
        if !recorder.blackbox_on() {
            return;
        }
        let handler: super::InternalHandler = Arc::new(move |_request, respond| {
            let recorder = recorder.clone();
            let work = move || {
                let reply = match recorder.save_blackbox() {
                    Ok(saved) => serde_json::json!({"success": true, "message": saved.name}),
                    Err(e) => {
                        tracing::warn!("black box save failed: {e}");
                        serde_json::json!({"success": false, "message": e.for_peer()})
                    }
                };
                respond(Ok(reply));
            };
            // File I/O: never on the runtime's worker threads.
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(work);
                }
                Err(_) => {
                    std::thread::spawn(work);
                }
            }
        });
        self.register_internal_service(SAVE_SERVICE, SAVE_SERVICE_TYPE, handler);
        self.ros.send(RosCommand::ProvideService {
            service: SAVE_SERVICE.to_string(),
            type_name: SAVE_SERVICE_TYPE.to_string(),
        });
    }

    /// A new channel: if the recorder wants it, hold its ROS subscription.
    pub(super) fn record_channel(&self, state: &mut State, info: &Arc<ChannelInfo>) {
        let Some(recorder) = &self.extras.recorder else {
            return;
        };
        if !recorder.wants(&info.topic) {
            return;
        }
        let subs = state.subs.entry(info.id).or_default();
        let first = !subs.in_use();
        subs.recorded = true;
        self.update_route(state, info.id, None);
        if first {
            self.ros.send(RosCommand::Subscribe {
                key: info.id,
                topic: info.topic.to_string(),
                type_name: info.type_name.clone(),
            });
        }
    }

    /// A channel left the graph.
    pub(super) fn channel_unrecorded(&self, channel: u64) {
        if let Some(r) = &self.extras.recorder {
            r.channel_removed(channel);
        }
    }

    /// The recorder's tap for a channel it holds.
    pub(super) fn tap_for(&self, state: &State, info: &Arc<ChannelInfo>) -> Option<Tap> {
        let recorder = self.extras.recorder.as_ref()?;
        state
            .subs
            .get(&info.id)
            .filter(|s| s.recorded)
            .map(|_| Tap {
                recorder: recorder.clone(),
                channel: info.clone(),
            })
    }

    /// The recorder, if recording is on.
    pub fn recorder(&self) -> Option<&Arc<Recorder>> {
        self.extras.recorder.as_ref()
    }

    /// True when serving a recording (`playbackControl` offered).
    pub fn plays(&self) -> bool {
        self.extras.playback.is_some()
    }

    /// A viewer's Playback Control Request: to the player, or an error on a live robot.
    pub fn playback_control(
        &self,
        client: ClientId,
        request: PlaybackControlRequest,
    ) -> Result<(), ClientError> {
        let Some(p) = &self.extras.playback else {
            return Err(ClientError::PlaybackUnsupported);
        };
        match p.requests.try_send(request) {
            Ok(()) => Ok(()),
            Err(std::sync::mpsc::TrySendError::Full(_)) => {
                tracing::debug!(client, "playback request refused: queue full");
                Err(ClientError::PlaybackBusy)
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                Err(ClientError::PlaybackUnsupported)
            }
        }
    }

    /// Send a binary control frame (Playback State, Time) to every viewer.
    pub fn broadcast_frame(&self, frame: Bytes) {
        let state = self.state.lock();
        self.broadcast(&state, Control::Binary(frame));
    }

    /// Drop every viewer's queued message data (after a seek: nothing from before it may
    /// arrive after it).
    pub fn purge_queued_data(&self) {
        let state = self.state.lock();
        for c in state.clients.values() {
            for &channel in c.sub_by_channel.keys() {
                c.outbox.purge_channel(channel);
            }
        }
    }
}
