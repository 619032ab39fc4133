//! An in-process room implementing [`Room`]: the device side is what a session gets from
//! [`LocalRoomServer::connect`]; the viewer side ([`Viewer`]) is what tests drive.
//!
//! It behaves like LiveKit where the session can tell: streams are ordered and reliable, a
//! stream the viewer does not read fills up (its capacity is set per server) so the device's
//! writes stall, data tracks drop frames when full, and a reconnecting viewer is a new instance
//! (new sid, later `joined_at`) of the same identity.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use super::room::{
    BoxFuture, ByteStreamReader, ByteStreamWriter, DataTrack, ParticipantInfo, Room, RoomConnector,
    RoomError, RoomEvent, CONTROL_TOPIC, PROTOCOL_VERSION_ATTRIBUTE,
};
use crate::config::Secret;
use crate::protocol::v2::{Frame, FrameDecoder, FrameError};

/// The identity the device gets in a local room.
pub const DEVICE_IDENTITY: &str = "device";

/// Frames a local data track holds before dropping new ones.
pub const TRACK_CAPACITY: usize = 4096;

/// The "LiveKit server": hands out rooms and remembers how it was called.
#[derive(Clone)]
pub struct LocalRoomServer {
    inner: Arc<ServerInner>,
}

struct ServerInner {
    stream_capacity: usize,
    state: Mutex<ServerState>,
    changed: Notify,
}

#[derive(Default)]
struct ServerState {
    rooms: Vec<LocalRoom>,
    /// (url, token) of every connect, for assertions.
    connects: Vec<(String, String)>,
    fail_next: Option<String>,
}

impl LocalRoomServer {
    /// A server whose device→viewer streams buffer `stream_capacity` chunks.
    pub fn new(stream_capacity: usize) -> Self {
        LocalRoomServer {
            inner: Arc::new(ServerInner {
                stream_capacity: stream_capacity.max(1),
                state: Mutex::new(ServerState::default()),
                changed: Notify::new(),
            }),
        }
    }

    /// Make the next connect fail with `reason`.
    pub fn fail_next_connect(&self, reason: &str) {
        self.inner.state.lock().fail_next = Some(reason.to_string());
    }

    /// (url, token) of every connect so far.
    pub fn connects(&self) -> Vec<(String, String)> {
        self.inner.state.lock().connects.clone()
    }

    /// Wait for the `n`th room (0-based) the device joined.
    pub async fn room(&self, n: usize) -> LocalRoom {
        loop {
            let notified = self.inner.changed.notified();
            if let Some(r) = self.inner.state.lock().rooms.get(n) {
                return r.clone();
            }
            notified.await;
        }
    }
}

impl RoomConnector for LocalRoomServer {
    fn connect<'a>(
        &'a self,
        url: &'a str,
        token: &'a Secret,
    ) -> BoxFuture<'a, Result<(Arc<dyn Room>, mpsc::UnboundedReceiver<RoomEvent>), RoomError>> {
        Box::pin(async move {
            let mut state = self.inner.state.lock();
            state
                .connects
                .push((url.to_string(), token.expose().to_string()));
            if let Some(reason) = state.fail_next.take() {
                return Err(RoomError::Connect(reason));
            }
            let (tx, rx) = mpsc::unbounded_channel();
            let room = LocalRoom {
                shared: Arc::new(RoomShared {
                    events: tx,
                    viewers: Mutex::new(HashMap::new()),
                    tracks: Mutex::new(HashMap::new()),
                    stream_capacity: self.inner.stream_capacity,
                    closed: Mutex::new(false),
                    next_sid: AtomicU64::new(1),
                    clock: AtomicU64::new(1_000),
                }),
            };
            state.rooms.push(room.clone());
            drop(state);
            self.inner.changed.notify_waiters();
            Ok((Arc::new(room) as Arc<dyn Room>, rx))
        })
    }
}

struct ViewerEntry {
    info: ParticipantInfo,
    streams: mpsc::UnboundedSender<ViewerStream>,
}

struct RoomShared {
    events: mpsc::UnboundedSender<RoomEvent>,
    viewers: Mutex<HashMap<String, ViewerEntry>>,
    tracks: Mutex<HashMap<String, Arc<LocalTrack>>>,
    stream_capacity: usize,
    closed: Mutex<bool>,
    next_sid: AtomicU64,
    /// joined_at values, strictly increasing.
    clock: AtomicU64,
}

/// One room; clones share it.
#[derive(Clone)]
pub struct LocalRoom {
    shared: Arc<RoomShared>,
}

impl LocalRoom {
    /// A viewer joins with `protocolVersion` = `version` (absent if `None`).
    pub fn join(&self, identity: &str, version: Option<&str>) -> Viewer {
        let mut attributes = HashMap::new();
        if let Some(v) = version {
            attributes.insert(PROTOCOL_VERSION_ATTRIBUTE.to_string(), v.to_string());
        }
        let sid = format!(
            "PA_{}",
            self.shared.next_sid.fetch_add(1, Ordering::Relaxed)
        );
        let info = ParticipantInfo {
            identity: identity.to_string(),
            sid,
            joined_at_ms: self.shared.clock.fetch_add(1, Ordering::Relaxed) as i64,
            attributes,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.viewers.lock().insert(
            identity.to_string(),
            ViewerEntry {
                info: info.clone(),
                streams: tx,
            },
        );
        let _ = self
            .shared
            .events
            .send(RoomEvent::ParticipantActive(info.clone()));
        Viewer {
            room: self.clone(),
            info,
            streams: rx,
            to_device: None,
        }
    }

    /// The server drops the device (network loss, room closed).
    pub fn disconnect_device(&self, reason: &str) {
        let _ = self.shared.events.send(RoomEvent::Disconnected {
            reason: reason.to_string(),
        });
    }

    /// The data track `name`, once the device published it.
    pub fn track(&self, name: &str) -> Option<Arc<LocalTrack>> {
        self.shared.tracks.lock().get(name).cloned()
    }

    /// Names of the published data tracks.
    pub fn track_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.shared.tracks.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// True once the device left.
    pub fn is_closed(&self) -> bool {
        *self.shared.closed.lock()
    }
}

impl Room for LocalRoom {
    fn local_identity(&self) -> String {
        DEVICE_IDENTITY.to_string()
    }

    fn participants(&self) -> Vec<ParticipantInfo> {
        self.shared
            .viewers
            .lock()
            .values()
            .map(|v| v.info.clone())
            .collect()
    }

    fn open_byte_stream<'a>(
        &'a self,
        topic: &'a str,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ByteStreamWriter>, RoomError>> {
        Box::pin(async move {
            let viewers = self.shared.viewers.lock();
            let Some(v) = viewers.get(destination) else {
                return Err(RoomError::Stream(format!("no participant {destination}")));
            };
            let (tx, rx) = mpsc::channel(self.shared.stream_capacity);
            v.streams
                .send(ViewerStream {
                    topic: topic.to_string(),
                    chunks: rx,
                    decoder: FrameDecoder::new(),
                })
                .map_err(|_| RoomError::Closed)?;
            Ok(Box::new(LocalWriter { tx }) as Box<dyn ByteStreamWriter>)
        })
    }

    fn publish_data_track<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn DataTrack>, RoomError>> {
        Box::pin(async move {
            let track = self
                .shared
                .tracks
                .lock()
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(LocalTrack::default()))
                .clone();
            Ok(track as Arc<dyn DataTrack>)
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            *self.shared.closed.lock() = true;
        })
    }
}

struct LocalWriter {
    tx: mpsc::Sender<Bytes>,
}

impl ByteStreamWriter for LocalWriter {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> BoxFuture<'a, Result<(), RoomError>> {
        Box::pin(async move {
            self.tx
                .send(Bytes::copy_from_slice(data))
                .await
                .map_err(|_| RoomError::Closed)
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), RoomError>> {
        Box::pin(async move { Ok(()) })
    }
}

struct LocalReader {
    rx: mpsc::UnboundedReceiver<Bytes>,
}

impl ByteStreamReader for LocalReader {
    fn next_chunk(&mut self) -> BoxFuture<'_, Option<Result<Bytes, RoomError>>> {
        Box::pin(async move { self.rx.recv().await.map(Ok) })
    }
}

/// A data track: frames the device pushed, with their user timestamps.
#[derive(Default)]
pub struct LocalTrack {
    frames: Mutex<VecDeque<(Bytes, u64)>>,
    notify: Notify,
}

impl LocalTrack {
    /// Take every frame received so far.
    pub fn take(&self) -> Vec<(Bytes, u64)> {
        self.frames.lock().drain(..).collect()
    }

    /// Wait for the next frame.
    pub async fn next(&self) -> (Bytes, u64) {
        loop {
            let notified = self.notify.notified();
            if let Some(f) = self.frames.lock().pop_front() {
                return f;
            }
            notified.await;
        }
    }
}

impl DataTrack for LocalTrack {
    fn try_push(&self, payload: Bytes, user_timestamp: u64) -> Result<(), RoomError> {
        let mut frames = self.frames.lock();
        if frames.len() >= TRACK_CAPACITY {
            return Err(RoomError::TrackFull);
        }
        frames.push_back((payload, user_timestamp));
        drop(frames);
        self.notify.notify_waiters();
        Ok(())
    }
}

/// A stream the device opened to a viewer.
pub struct ViewerStream {
    /// Its topic.
    pub topic: String,
    chunks: mpsc::Receiver<Bytes>,
    decoder: FrameDecoder,
}

impl ViewerStream {
    /// The next frame; `None` when the device closed the stream.
    pub async fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        loop {
            match self.decoder.next_frame() {
                Ok(Some(f)) => return Some(Ok(f)),
                Err(e) => return Some(Err(e)),
                Ok(None) => {}
            }
            let chunk = self.chunks.recv().await?;
            self.decoder.push(&chunk);
        }
    }
}

/// A viewer in a local room (the test's side).
pub struct Viewer {
    room: LocalRoom,
    /// This instance.
    pub info: ParticipantInfo,
    streams: mpsc::UnboundedReceiver<ViewerStream>,
    to_device: Option<mpsc::UnboundedSender<Bytes>>,
}

impl Viewer {
    /// The next stream the device opens to this viewer.
    pub async fn next_stream(&mut self) -> Option<ViewerStream> {
        self.streams.recv().await
    }

    /// Send raw bytes on this viewer's `control` stream to the device (opened on first use).
    pub fn send_raw(&mut self, bytes: Bytes) {
        let tx = self.to_device.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let _ = self.room.shared.events.send(RoomEvent::ByteStream {
                topic: CONTROL_TOPIC.to_string(),
                from: self.info.identity.clone(),
                reader: Box::new(LocalReader { rx }),
            });
            tx
        });
        let _ = tx.send(bytes);
    }

    /// Send a stream on another topic (the device should ignore it).
    pub fn send_on_topic(&self, topic: &str, bytes: Bytes) {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(bytes);
        let _ = self.room.shared.events.send(RoomEvent::ByteStream {
            topic: topic.to_string(),
            from: self.info.identity.clone(),
            reader: Box::new(LocalReader { rx }),
        });
    }

    /// Leave the room.
    pub fn leave(self) {
        let mut viewers = self.room.shared.viewers.lock();
        if viewers
            .get(&self.info.identity)
            .is_some_and(|v| v.info.sid == self.info.sid)
        {
            viewers.remove(&self.info.identity);
        }
        drop(viewers);
        let _ = self
            .room
            .shared
            .events
            .send(RoomEvent::ParticipantDisconnected {
                identity: self.info.identity.clone(),
                sid: self.info.sid.clone(),
            });
    }
}
