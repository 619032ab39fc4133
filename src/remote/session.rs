//! One room session: from joining the room on `wake` until the room drops us or nobody has been
//! there for `deviceWaitForViewerMs`.
//!
//! Every registered participant is a hub viewer with its own [`Outbox`] and `control` stream,
//! written by its own task ([`super::participant`]). Lossy channels do not go through the
//! participants' outboxes: one more hub viewer, the data plane ([`super::data_plane`]),
//! subscribes to every lossy channel some participant wants and feeds the shared data tracks. So
//! the hub still sees one ROS subscription per channel, whoever watches.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::participant;
use super::room::{ParticipantInfo, Room, RoomEvent, CONTROL_TOPIC, PROTOCOL_VERSION_ATTRIBUTE};
use super::version::check_version;
use crate::hub::{ClientError, ClientId, Control, Hub, Limits, Outbox};
use crate::protocol::server::{ServerInfo, ServerMessage, StatusLevel};
use crate::protocol::v2::{self, SubscribeChannel};

/// Settings of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `serverInfo.sessionId`: the remote access session id from the wake event.
    pub session_id: String,
    /// `serverInfo.name`: the device name.
    pub name: String,
    /// With no participant for this long, the session ends (`deviceWaitForViewerMs`).
    pub wait_for_viewer: Duration,
    /// Largest message sent on a data track (`max_data_track_message_size`).
    pub max_data_track_message_size: usize,
    /// A control-stream write that takes longer resets the participant.
    pub write_timeout: Duration,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The room dropped us (or its event stream ended).
    Disconnected(String),
    /// Nobody came, or everybody left, for `wait_for_viewer`.
    Idle,
    /// The gateway is shutting down.
    Cancelled,
}

pub(super) struct Part {
    pub info: ParticipantInfo,
    pub generation: u64,
    pub client: ClientId,
    pub outbox: Arc<Outbox>,
    /// Lossy channels this participant takes from the data tracks.
    pub lossy: HashSet<u64>,
}

#[derive(Default)]
pub(super) struct SessState {
    pub participants: HashMap<String, Part>,
    /// Participants per lossy channel.
    pub lossy_refs: HashMap<u64, usize>,
    next_generation: u64,
}

/// What the session's tasks share.
pub(super) struct Shared {
    pub hub: Arc<Hub>,
    pub room: Arc<dyn Room>,
    pub cfg: SessionConfig,
    pub server_info: ServerInfo,
    pub state: Mutex<SessState>,
    pub data_client: ClientId,
    /// Lossy channels that just got their first participant: the data plane publishes their
    /// tracks now, so viewers can subscribe before the first message.
    pub prepare_tracks: mpsc::UnboundedSender<u64>,
    /// (identity, generation, why) of a participant whose stream failed or overflowed.
    pub resets: mpsc::UnboundedSender<(String, u64, String)>,
}

/// The per-participant outbox bounds, from the WebSocket settings.
pub(super) fn limits(hub: &Hub) -> Limits {
    let cfg = hub.config();
    Limits {
        control_messages: cfg.message_backlog_size,
        data_messages: cfg.message_backlog_size,
        data_bytes: cfg.send_buffer_limit,
    }
}

/// The idle deadline: none while someone is there; otherwise the one already running, or a new
/// one from `now`.
pub fn idle_deadline(
    participants: usize,
    current: Option<Instant>,
    now: Instant,
    wait: Duration,
) -> Option<Instant> {
    if participants > 0 {
        None
    } else {
        Some(current.unwrap_or(now + wait))
    }
}

/// Run a session in `room` until it ends.
pub async fn run(
    hub: Arc<Hub>,
    room: Arc<dyn Room>,
    mut events: mpsc::UnboundedReceiver<RoomEvent>,
    cfg: SessionConfig,
    cancel: CancellationToken,
) -> SessionEnd {
    let mut server_info = hub.server_info().clone();
    server_info.session_id = cfg.session_id.clone();
    server_info.name = cfg.name.clone();
    // Remote access has no `time` (protocol v2 carries no Time frames in Foxglove's gateway).
    server_info.capabilities.retain(|c| c != "time");
    let data_outbox = Arc::new(Outbox::new(limits(&hub)));
    let data_client = hub.connect(data_outbox.clone());
    let (reset_tx, mut resets) = mpsc::unbounded_channel();
    let (prepare_tx, prepare_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        hub: hub.clone(),
        room: room.clone(),
        cfg: cfg.clone(),
        server_info,
        state: Mutex::new(SessState::default()),
        data_client,
        resets: reset_tx,
        prepare_tracks: prepare_tx,
    });
    let data_task = tokio::spawn(super::data_plane::run(
        shared.clone(),
        data_outbox,
        prepare_rx,
    ));
    tracing::info!(session = %cfg.session_id, "remote access session started");

    for p in room.participants() {
        add_participant(&shared, p).await;
    }
    let mut idle: Option<Instant> = None;
    let end = loop {
        let count = shared.state.lock().participants.len();
        idle = idle_deadline(count, idle, Instant::now(), cfg.wait_for_viewer);
        let sleep_until = idle.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = cancel.cancelled() => break SessionEnd::Cancelled,
            _ = tokio::time::sleep_until(sleep_until), if idle.is_some() => break SessionEnd::Idle,
            reset = resets.recv() => {
                if let Some((identity, generation, why)) = reset {
                    reset_participant(&shared, &identity, generation, &why).await;
                }
            }
            event = events.recv() => match event {
                None => break SessionEnd::Disconnected("room event stream ended".into()),
                Some(RoomEvent::Disconnected { reason }) => break SessionEnd::Disconnected(reason),
                Some(RoomEvent::ParticipantActive(info)) => add_participant(&shared, info).await,
                Some(RoomEvent::ParticipantDisconnected { identity, sid }) => {
                    tracing::info!(%identity, %sid, "viewer left");
                    remove_participant(&shared, &identity, |p| p.info.sid == sid);
                }
                Some(RoomEvent::ByteStream { topic, from, reader }) => {
                    if topic != CONTROL_TOPIC {
                        tracing::warn!(%topic, %from, "ignoring a byte stream on an unknown topic");
                    } else if !shared.state.lock().participants.contains_key(&from) {
                        tracing::debug!(%from, "closing a control stream from an unregistered participant");
                    } else {
                        tokio::spawn(participant::read_loop(shared.clone(), from, reader));
                    }
                }
            },
        }
    };
    tracing::info!(session = %cfg.session_id, reason = ?end, "remote access session ended");
    let identities: Vec<String> = shared.state.lock().participants.keys().cloned().collect();
    for identity in identities {
        remove_participant(&shared, &identity, |_| true);
    }
    hub.disconnect(data_client);
    let _ = data_task.await;
    room.close().await;
    end
}

/// Register a participant that became active (or is replaced by a newer instance).
pub(super) async fn add_participant(shared: &Arc<Shared>, info: ParticipantInfo) {
    if info.identity == shared.room.local_identity() {
        return;
    }
    let version = match check_version(info.attributes.get(PROTOCOL_VERSION_ATTRIBUTE)) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(identity = %info.identity, error = %e, "incompatible viewer");
            refuse(shared, &info.identity, &e.to_string()).await;
            return;
        }
    };
    {
        let state = shared.state.lock();
        if let Some(old) = state.participants.get(&info.identity) {
            // Events can arrive out of order: only a newer instance replaces the current one.
            if old.info.sid == info.sid || old.info.joined_at_ms > info.joined_at_ms {
                return;
            }
        }
    }
    remove_participant(shared, &info.identity, |_| true);
    let stream = match shared
        .room
        .open_byte_stream(CONTROL_TOPIC, &info.identity)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(identity = %info.identity, error = %e, "cannot open the control stream");
            return;
        }
    };
    let outbox = Arc::new(Outbox::new(limits(&shared.hub)));
    // serverInfo first, before the hub queues the advertisements.
    let info_json = ServerMessage::ServerInfo(&shared.server_info).to_json();
    let _ = outbox.push_control(Control::Text(info_json));
    let client = shared.hub.connect(outbox.clone());
    let generation = {
        let mut state = shared.state.lock();
        state.next_generation += 1;
        let generation = state.next_generation;
        state.participants.insert(
            info.identity.clone(),
            Part {
                info: info.clone(),
                generation,
                client,
                outbox: outbox.clone(),
                lossy: HashSet::new(),
            },
        );
        generation
    };
    tracing::info!(identity = %info.identity, sid = %info.sid, version = %version.version,
        client, "viewer joined");
    tokio::spawn(participant::write_loop(
        shared.clone(),
        info.identity,
        generation,
        outbox,
        stream,
        version,
    ));
}

/// Tell an incompatible viewer why, on a one-shot stream.
async fn refuse(shared: &Shared, identity: &str, message: &str) {
    let Ok(mut stream) = shared.room.open_byte_stream(CONTROL_TOPIC, identity).await else {
        return;
    };
    let status = ServerMessage::Status {
        level: StatusLevel::Error,
        message,
        id: None,
    }
    .to_json();
    let write = async {
        let _ = stream.write(&v2::text_frame(&status)).await;
        let _ = stream.close().await;
    };
    let _ = tokio::time::timeout(shared.cfg.write_timeout, write).await;
}

/// Forget a participant if `which` holds for its current instance: its subscriptions and
/// publishers go, and lossy channels nobody else wants leave the data plane.
pub(super) fn remove_participant(shared: &Shared, identity: &str, which: impl Fn(&Part) -> bool) {
    let mut state = shared.state.lock();
    if !state.participants.get(identity).is_some_and(&which) {
        return;
    }
    let Some(part) = state.participants.remove(identity) else {
        return;
    };
    for ch in part.lossy {
        release_lossy(shared, &mut state, ch);
    }
    drop(state);
    shared.hub.disconnect(part.client);
}

async fn reset_participant(shared: &Arc<Shared>, identity: &str, generation: u64, why: &str) {
    let info = {
        let state = shared.state.lock();
        match state.participants.get(identity) {
            Some(p) if p.generation == generation => p.info.clone(),
            _ => return,
        }
    };
    tracing::warn!(%identity, reason = %why, "resetting viewer");
    remove_participant(shared, identity, |p| p.generation == generation);
    if shared.room.participants().iter().any(|p| p.sid == info.sid) {
        add_participant(shared, info).await;
    }
}

fn release_lossy(shared: &Shared, state: &mut SessState, channel: u64) {
    let Some(n) = state.lossy_refs.get_mut(&channel) else {
        return;
    };
    *n -= 1;
    if *n == 0 {
        state.lossy_refs.remove(&channel);
        let _ = shared.hub.unsubscribe(shared.data_client, channel);
    }
}

/// What a refused request tells the viewer.
pub(super) type Refusal = (StatusLevel, String);

fn refusal(e: ClientError) -> Refusal {
    (e.level(), e.to_string())
}

/// v2 subscribe: reliable channels through the participant's own outbox, lossy ones through the
/// shared data plane. Subscribing twice is ignored.
pub(super) fn subscribe(
    shared: &Shared,
    identity: &str,
    sub: &SubscribeChannel,
) -> Option<Refusal> {
    let id = sub.id;
    let Some(channel) = shared.hub.channels().into_iter().find(|c| c.id == id) else {
        return Some(refusal(ClientError::UnknownChannel(id)));
    };
    if sub.request_video_track {
        return Some((
            StatusLevel::Error,
            format!("Channel {id} does not support video transcoding"),
        ));
    }
    let mut state = shared.state.lock();
    let part = state.participants.get_mut(identity)?;
    if channel.reliable_latched {
        let client = part.client;
        drop(state);
        return match shared.hub.subscribe(client, id, id) {
            Ok(()) | Err(ClientError::AlreadySubscribed { .. }) => None,
            Err(e) => Some(refusal(e)),
        };
    }
    if part.lossy.insert(id) {
        let refs = state.lossy_refs.entry(id).or_default();
        *refs += 1;
        if *refs == 1 {
            let _ = shared.prepare_tracks.send(id);
        }
    }
    // Also after the channel went away and came back: the hub dropped our subscription then.
    if shared
        .hub
        .channel_of_subscription(shared.data_client, id)
        .is_none()
    {
        if let Err(e) = shared.hub.subscribe(shared.data_client, id, id) {
            return Some(refusal(e));
        }
    }
    None
}

/// v2 unsubscribe by channel id.
pub(super) fn unsubscribe(shared: &Shared, identity: &str, id: u64) -> Option<Refusal> {
    let mut state = shared.state.lock();
    let part = state.participants.get_mut(identity)?;
    if part.lossy.remove(&id) {
        release_lossy(shared, &mut state, id);
        return None;
    }
    let client = part.client;
    drop(state);
    shared.hub.unsubscribe(client, id).err().map(refusal)
}

/// (client, outbox) of a participant's current instance.
pub(super) fn current(shared: &Shared, identity: &str) -> Option<(ClientId, Arc<Outbox>)> {
    let state = shared.state.lock();
    let p = state.participants.get(identity)?;
    Some((p.client, p.outbox.clone()))
}

/// Outboxes of the participants taking a lossy channel.
pub(super) fn lossy_subscribers(shared: &Shared, channel: u64) -> Vec<Arc<Outbox>> {
    shared
        .state
        .lock()
        .participants
        .values()
        .filter(|p| p.lossy.contains(&channel))
        .map(|p| p.outbox.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_deadline_rule() {
        let now = Instant::now();
        let wait = Duration::from_secs(5);
        assert_eq!(idle_deadline(1, None, now, wait), None);
        assert_eq!(idle_deadline(1, Some(now), now, wait), None);
        assert_eq!(idle_deadline(0, None, now, wait), Some(now + wait));
        // a running deadline is kept, not pushed back
        let later = now + Duration::from_secs(3);
        assert_eq!(
            idle_deadline(0, Some(now + wait), later, wait),
            Some(now + wait)
        );
    }
}
