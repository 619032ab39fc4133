//! Playback: `foxglove_gateway --play FILE.mcap` serves a recording as if it were the live graph,
//! with Foxglove's playback controls.
//!
//! The player stands where a ROS backend would ([`crate::ros::BackendIo`]): it reports the
//! recording's channels as the graph (schemas from the file, so no ROS and no installed message
//! packages are needed), takes the hub's subscribe commands, and delivers messages through the
//! same fast path, with their recorded log times. Everything viewers know works unchanged: one
//! read per channel, per-viewer queues, transient-local replay.
//!
//! Control (capability `playbackControl`, SDK extension): the hub forwards each Playback Control
//! Request; the player applies seek, then speed, then play/pause, and broadcasts a Playback State
//! carrying the request id. It also broadcasts one without an id when playback changes on its
//! own (autoplay, end of data). `time` is broadcast while playing (at most every
//! [`TIME_INTERVAL`] of log time, and on every seek, pause and tick), so the app's clock follows
//! the recording. Viewers that do not know `playbackControl` (Foxglove Studio 1.x) still see the
//! recording: playback starts by itself [`AUTOPLAY_DELAY`] after the first subscription, at
//! speed 1.
//!
//! Only ROS 2 channels play (`cdr` messages with `ros2msg`/`ros2idl` schemas, i.e. what the
//! gateway and `ros2 bag record` write); others are listed in the log and skipped. Memory is
//! bounded by [`super::mcap_in`]: one chunk and the reorder buffer, whatever the file's size.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::mcap_in::{MessageReader, RecordedMessage, Recording};
use super::RecordError;
use crate::hub::recording::PLAYBACK_QUEUE;
use crate::hub::{Hub, PlaybackHook};
use crate::protocol::binary::{playback_state, PlaybackStatus};
use crate::protocol::client::{PlaybackCommand, PlaybackControlRequest};
use crate::ros::{
    BackendIo, Durability, GraphSnapshot, MessageSink, PublisherInfo, Qos, Reliability, RosCommand,
    RosEvent, SubscriptionKey, TopicInfo,
};
use crate::schema::{ResolvedSchema, SchemaStore};

/// The node the recording's channels appear to be published by.
pub const PLAYER_NODE: &str = "/foxglove_gateway_player";
/// Wait after the first subscription before playing by itself (viewers subscribe panel by panel).
pub const AUTOPLAY_DELAY: Duration = Duration::from_millis(1000);
/// Log time between two `time` broadcasts while messages flow.
pub const TIME_INTERVAL: u64 = 20_000_000;
/// Wall time between two `time` broadcasts while no message is due.
pub const TICK: Duration = Duration::from_millis(50);
/// Fastest playback speed accepted (faster requests are clamped).
pub const MAX_SPEED: f32 = 100.0;

/// One channel that plays.
#[derive(Debug, Clone)]
struct PlayChannel {
    topic: String,
    type_name: String,
    latched: bool,
}

/// A recording opened for playback, ready to start.
pub struct Player {
    rec: Arc<Recording>,
    channels: BTreeMap<u16, PlayChannel>,
    requests: Receiver<PlaybackControlRequest>,
    hook: PlaybackHook,
    /// Channels skipped (topic, why), for the log.
    skipped: Vec<(String, String)>,
}

impl Player {
    /// Open `path`; its schemas go into `schemas` (the store the hub will use).
    pub fn open(path: &Path, schemas: &SchemaStore) -> Result<Player, RecordError> {
        let rec = Recording::open(path)?;
        let mut channels = BTreeMap::new();
        let mut skipped = Vec::new();
        for (&id, ch) in rec.channels() {
            let Some(schema) = &ch.schema else {
                skipped.push((ch.topic.clone(), "no schema".into()));
                continue;
            };
            if ch.message_encoding != "cdr" {
                skipped.push((
                    ch.topic.clone(),
                    format!(
                        "message encoding {:?} (only cdr plays)",
                        ch.message_encoding
                    ),
                ));
                continue;
            }
            let text = String::from_utf8_lossy(&schema.data);
            let parsed = match schema.encoding.as_str() {
                "ros2msg" => crate::schema::parse_ros2msg(&schema.name, &text),
                "ros2idl" => crate::schema::parse_ros2idl(&schema.name, &text),
                other => {
                    skipped.push((ch.topic.clone(), format!("schema encoding {other:?}")));
                    continue;
                }
            };
            let resolved: ResolvedSchema = match parsed {
                Ok(r) => r,
                Err(e) => {
                    skipped.push((ch.topic.clone(), format!("schema {}: {e}", schema.name)));
                    continue;
                }
            };
            let type_name = resolved.name.clone();
            schemas.insert_resolved(Arc::new(resolved));
            let qos = ch
                .metadata
                .get("offered_qos_profiles")
                .map(String::as_str)
                .unwrap_or("");
            channels.insert(
                id,
                PlayChannel {
                    topic: ch.topic.clone(),
                    type_name,
                    latched: qos.contains("durability: transient_local")
                        || qos.contains("durability: 1\n")
                        || qos.ends_with("durability: 1"),
                },
            );
        }
        for (topic, why) in &skipped {
            tracing::warn!(%topic, "not played: {why}");
        }
        if channels.is_empty() {
            return Err(RecordError::Unusable(
                "the recording has no ROS 2 channel to play (cdr with ros2msg/ros2idl)".into(),
            ));
        }
        let (start, end) = rec.time_range();
        let (tx, rx) = sync_channel(PLAYBACK_QUEUE);
        Ok(Player {
            rec,
            channels,
            requests: rx,
            hook: PlaybackHook {
                start,
                end,
                requests: tx,
            },
            skipped,
        })
    }

    /// What the hub needs (range and the request queue).
    pub fn hook(&self) -> PlaybackHook {
        self.hook.clone()
    }

    /// Channels that play and channels skipped.
    pub fn channel_counts(&self) -> (usize, usize) {
        (self.channels.len(), self.skipped.len())
    }

    /// Serve the recording to `hub` through `io`: the graph now, then a player thread. Must run
    /// inside a tokio runtime (the command task).
    pub fn start(self, io: BackendIo, hub: &Arc<Hub>) {
        // The player waits on the command channel itself: no bell needed.
        let BackendIo {
            mut commands,
            events,
            messages,
            bell: _,
        } = io;
        let mut topics: Vec<TopicInfo> = self
            .channels
            .values()
            .map(|c| TopicInfo {
                name: c.topic.clone(),
                type_name: c.type_name.clone(),
                publishers: vec![PublisherInfo {
                    node: PLAYER_NODE.into(),
                    qos: Qos {
                        reliability: Reliability::Reliable,
                        durability: if c.latched {
                            Durability::TransientLocal
                        } else {
                            Durability::Volatile
                        },
                        depth: 1,
                    },
                }],
            })
            .collect();
        topics.sort_by(|a, b| (&a.name, &a.type_name).cmp(&(&b.name, &b.type_name)));
        topics.dedup_by(|a, b| a.name == b.name && a.type_name == b.type_name);
        let _ = events.send(RosEvent::Graph(GraphSnapshot {
            topics,
            nodes: vec![PLAYER_NODE.into()],
            ..GraphSnapshot::default()
        }));
        let (start, _) = self.rec.time_range();
        let _ = events.send(RosEvent::Time(start));

        let routes = Arc::new(Routes::default());
        let stop = Arc::new(AtomicBool::new(false));
        {
            let routes = routes.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                while let Some(cmd) = commands.recv().await {
                    apply_command(cmd, &routes, &events);
                }
                stop.store(true, Ordering::Relaxed);
            });
        }
        // Weak: the player must not keep the hub (and so itself) alive after shutdown.
        let hub = Arc::downgrade(hub);
        let spawned = std::thread::Builder::new()
            .name("player".into())
            .spawn(move || {
                let mut engine = Engine::new(self, hub, messages, routes, stop);
                engine.run();
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the player thread: {e}");
        }
    }
}

/// (topic, type) → subscription key, from the hub's subscribe commands.
#[derive(Default)]
struct Routes {
    keys: Mutex<HashMap<(String, String), SubscriptionKey>>,
    first_subscribe: Mutex<Option<Instant>>,
}

fn apply_command(
    cmd: RosCommand,
    routes: &Routes,
    events: &tokio::sync::mpsc::UnboundedSender<RosEvent>,
) {
    const NO_ROS: &str = "this gateway is playing a recording: there is no ROS graph";
    match cmd {
        RosCommand::Subscribe {
            key,
            topic,
            type_name,
        } => {
            routes.keys.lock().insert((topic, type_name), key);
            routes
                .first_subscribe
                .lock()
                .get_or_insert_with(Instant::now);
        }
        RosCommand::Unsubscribe { key } => routes.keys.lock().retain(|_, k| *k != key),
        RosCommand::Advertise { key, .. } => {
            let _ = events.send(RosEvent::PublisherFailed {
                key,
                reason: NO_ROS.into(),
            });
        }
        RosCommand::CallService { call, .. } => {
            let _ = events.send(RosEvent::ServiceResponse {
                call,
                result: Err(NO_ROS.into()),
            });
        }
        RosCommand::GetParameters { request, node, .. } => {
            let _ = events.send(RosEvent::Parameters {
                request,
                node,
                result: Err(NO_ROS.into()),
            });
        }
        RosCommand::SetParameters { request, node, .. } => {
            let _ = events.send(RosEvent::ParametersSet {
                request,
                node,
                result: Err(NO_ROS.into()),
            });
        }
        RosCommand::AnswerService { .. }
        | RosCommand::ProvideService { .. }
        | RosCommand::Unadvertise { .. }
        | RosCommand::Publish { .. }
        | RosCommand::CancelCall { .. }
        | RosCommand::WatchParameterEvents { .. } => {}
    }
}

/// The pure part of the player's clock: where playback is, given a wall-clock anchor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Wall time at which `log` was current.
    pub wall: Instant,
    /// Log time current at `wall`.
    pub log: u64,
    /// Speed (> 0).
    pub speed: f32,
}

impl Clock {
    /// Log time current at `now`.
    pub fn log_at(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.wall).as_nanos() as f64;
        self.log
            .saturating_add((elapsed * f64::from(self.speed)).min(u64::MAX as f64 / 2.0) as u64)
    }

    /// Wall time at which log time `t` is due.
    pub fn due(&self, t: u64) -> Instant {
        let ns = t.saturating_sub(self.log) as f64 / f64::from(self.speed);
        // Capped so a gap of years in the data cannot overflow Instant arithmetic.
        self.wall + Duration::from_nanos(ns.min(3.6e15) as u64)
    }
}

/// A speed a viewer asked for, made safe: finite, positive, at most [`MAX_SPEED`]; anything
/// else keeps `current`.
pub fn sane_speed(asked: f32, current: f32) -> f32 {
    if asked.is_finite() && asked > 0.0 {
        asked.min(MAX_SPEED)
    } else {
        current
    }
}

struct Engine {
    player: Player,
    hub: std::sync::Weak<Hub>,
    sink: Arc<dyn MessageSink>,
    routes: Arc<Routes>,
    stop: Arc<AtomicBool>,
    status: PlaybackStatus,
    clock: Clock,
    reader: Option<MessageReader>,
    next: Option<RecordedMessage>,
    last_time_sent: Option<u64>,
    autoplayed: bool,
}

impl Engine {
    fn new(
        player: Player,
        hub: std::sync::Weak<Hub>,
        sink: Arc<dyn MessageSink>,
        routes: Arc<Routes>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let (start, _) = player.rec.time_range();
        Engine {
            player,
            hub,
            sink,
            routes,
            stop,
            status: PlaybackStatus::Paused,
            clock: Clock {
                wall: Instant::now(),
                log: start,
                speed: 1.0,
            },
            reader: None,
            next: None,
            last_time_sent: None,
            autoplayed: false,
        }
    }

    fn range(&self) -> (u64, u64) {
        self.player.rec.time_range()
    }

    /// Where playback is now.
    fn current(&self, now: Instant) -> u64 {
        match self.status {
            PlaybackStatus::Playing => {
                let t = self.clock.log_at(now);
                let t = match &self.next {
                    Some(m) => t.min(m.log_time.max(self.clock.log)),
                    None => t,
                };
                t.min(self.range().1)
            }
            _ => self.clock.log,
        }
    }

    /// Broadcast the state; the time is the clock's anchor, which every change re-anchors.
    fn broadcast_state(&self, did_seek: bool, request_id: Option<&str>) {
        let frame = playback_state(
            self.status,
            self.clock.log,
            self.clock.speed,
            did_seek,
            request_id,
        );
        if let Some(hub) = self.hub.upgrade() {
            hub.broadcast_frame(frame);
        }
    }

    fn send_time(&mut self, t: u64) {
        self.last_time_sent = Some(t);
        if let Some(hub) = self.hub.upgrade() {
            hub.handle_event(RosEvent::Time(t));
        }
    }

    /// Jump to `target` (clamped to the recording): a fresh reader, queued data dropped. The
    /// caller broadcasts the new time (after the Playback State that reports the seek).
    fn seek(&mut self, target: u64) {
        let (start, end) = self.range();
        let target = target.clamp(start, end);
        self.reader = None;
        self.next = None;
        self.clock = Clock {
            wall: Instant::now(),
            log: target,
            speed: self.clock.speed,
        };
        if let Some(hub) = self.hub.upgrade() {
            hub.purge_queued_data();
        }
        if self.status == PlaybackStatus::Ended {
            self.status = PlaybackStatus::Paused;
        }
    }

    fn apply(&mut self, req: PlaybackControlRequest) {
        let now = Instant::now();
        let mut did_seek = false;
        if let Some(t) = req.seek_time {
            self.seek(t);
            did_seek = true;
        }
        let speed = sane_speed(req.speed, self.clock.speed);
        let here = self.current(now);
        self.clock = Clock {
            wall: now,
            log: here,
            speed,
        };
        match req.command {
            PlaybackCommand::Play => {
                if self.status == PlaybackStatus::Ended {
                    // Play at the end starts over, as a media player does.
                    self.seek(self.range().0);
                    did_seek = true;
                }
                self.status = PlaybackStatus::Playing;
                self.clock.wall = Instant::now();
            }
            PlaybackCommand::Pause => {
                if self.status == PlaybackStatus::Playing {
                    self.status = PlaybackStatus::Paused;
                }
            }
        }
        self.autoplayed = true;
        self.broadcast_state(did_seek, Some(&req.request_id));
        // The app's clock: at the seek target, or where playback paused.
        let t = self.clock.log;
        if did_seek || self.last_time_sent != Some(t) {
            self.send_time(t);
        }
    }

    /// The next message to play, reading on as needed; `None` at the end.
    fn peek(&mut self) -> Result<Option<&RecordedMessage>, RecordError> {
        if self.next.is_none() {
            if self.reader.is_none() {
                let (_, end) = self.range();
                self.reader = Some(self.player.rec.messages(self.clock.log, end, None)?);
            }
            if let Some(r) = &mut self.reader {
                self.next = r.next_message()?;
            }
        }
        Ok(self.next.as_ref())
    }

    fn deliver(&mut self, m: RecordedMessage) {
        let Some(ch) = self.player.channels.get(&m.channel_id) else {
            return;
        };
        let key = self
            .routes
            .keys
            .lock()
            .get(&(ch.topic.clone(), ch.type_name.clone()))
            .copied();
        if self
            .last_time_sent
            .is_none_or(|t| m.log_time >= t.saturating_add(TIME_INTERVAL) || m.log_time < t)
        {
            self.send_time(m.log_time);
        }
        if let Some(key) = key {
            self.sink.message(key, m.log_time, m.publish_time, m.data);
        }
    }

    fn end(&mut self) {
        let (_, end) = self.range();
        self.status = PlaybackStatus::Ended;
        self.clock.log = end;
        self.reader = None;
        self.next = None;
        self.send_time(end);
        self.broadcast_state(false, None);
        tracing::info!("playback reached the end of the recording");
    }

    fn run(&mut self) {
        let (start, end) = self.range();
        tracing::info!(start, end, "player ready");
        loop {
            if self.stop.load(Ordering::Relaxed) || self.hub.strong_count() == 0 {
                tracing::debug!("player stopped");
                return;
            }
            let now = Instant::now();
            // Autoplay for viewers without playback controls.
            if !self.autoplayed && self.status == PlaybackStatus::Paused {
                let first = *self.routes.first_subscribe.lock();
                if first.is_some_and(|f| now >= f + AUTOPLAY_DELAY) {
                    self.autoplayed = true;
                    self.status = PlaybackStatus::Playing;
                    self.clock.wall = now;
                    self.broadcast_state(false, None);
                }
            }
            let mut wait = TICK;
            if self.status == PlaybackStatus::Playing {
                match self.peek().map(|m| m.map(|m| m.log_time)) {
                    Err(e) => {
                        tracing::error!("playback stopped: {e}");
                        self.end();
                        continue;
                    }
                    Ok(None) => {
                        self.end();
                        continue;
                    }
                    Ok(Some(t)) => {
                        let due = self.clock.due(t);
                        if due <= now {
                            if let Some(m) = self.next.take() {
                                self.deliver(m);
                            }
                            continue;
                        }
                        wait = wait.min(due - now);
                    }
                }
            }
            match self.player.requests.recv_timeout(wait) {
                Ok(req) => self.apply(req),
                Err(RecvTimeoutError::Timeout) => {
                    if self.status == PlaybackStatus::Playing {
                        let t = self.current(Instant::now());
                        if self.last_time_sent != Some(t) {
                            self.send_time(t);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_follows_speed() {
        let wall = Instant::now();
        let c = Clock {
            wall,
            log: 1_000,
            speed: 2.0,
        };
        assert_eq!(
            c.log_at(wall + Duration::from_millis(10)),
            1_000 + 20_000_000
        );
        assert_eq!(c.due(1_000 + 20_000_000), wall + Duration::from_millis(10));
        assert_eq!(c.due(0), wall);
        // A gap of centuries does not overflow.
        let _ = c.due(u64::MAX);
    }

    #[test]
    fn speeds_are_sanitised() {
        assert_eq!(sane_speed(2.0, 1.0), 2.0);
        assert_eq!(sane_speed(1e9, 1.0), MAX_SPEED);
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert_eq!(sane_speed(bad, 1.5), 1.5);
        }
    }
}
