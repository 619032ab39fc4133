//! The shape of a LiveKit room, as far as the gateway uses one.
//!
//! The session code talks only to these traits, so it runs the same over LiveKit
//! ([`super::livekit`], feature `remote-access`) and over the in-process room of the tests
//! ([`super::local_room`]). Futures are boxed because the traits are used as objects.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::Secret;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The byte-stream topic of the control channel, both directions.
pub const CONTROL_TOPIC: &str = "control";
/// The participant attribute a viewer sets to its protocol version.
pub const PROTOCOL_VERSION_ATTRIBUTE: &str = "protocolVersion";

/// A remote participant as the room reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// Stable identity (the same across reconnects).
    pub identity: String,
    /// Session id of this instance (new on every reconnect).
    pub sid: String,
    /// When this instance joined, ms since the epoch; the newer instance of an identity wins.
    pub joined_at_ms: i64,
    /// Participant attributes (`protocolVersion`).
    pub attributes: HashMap<String, String>,
}

/// What the room tells the session.
pub enum RoomEvent {
    /// A participant is fully connected and can receive streams.
    ParticipantActive(ParticipantInfo),
    /// A participant instance left.
    ParticipantDisconnected {
        /// Its identity.
        identity: String,
        /// Its instance.
        sid: String,
    },
    /// A participant opened a byte stream to us.
    ByteStream {
        /// The stream's topic.
        topic: String,
        /// Sender identity.
        from: String,
        /// The bytes.
        reader: Box<dyn ByteStreamReader>,
    },
    /// We are out of the room; the session is over.
    Disconnected {
        /// Why, for the log.
        reason: String,
    },
}

impl std::fmt::Debug for RoomEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomEvent::ParticipantActive(p) => f.debug_tuple("ParticipantActive").field(p).finish(),
            RoomEvent::ParticipantDisconnected { identity, sid } => f
                .debug_struct("ParticipantDisconnected")
                .field("identity", identity)
                .field("sid", sid)
                .finish(),
            RoomEvent::ByteStream { topic, from, .. } => f
                .debug_struct("ByteStream")
                .field("topic", topic)
                .field("from", from)
                .finish_non_exhaustive(),
            RoomEvent::Disconnected { reason } => f
                .debug_struct("Disconnected")
                .field("reason", reason)
                .finish(),
        }
    }
}

/// Why a room operation failed. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// Joining the room failed.
    #[error("cannot join the room: {0}")]
    Connect(String),
    /// A stream could not be opened or written.
    #[error("byte stream failed: {0}")]
    Stream(String),
    /// A data track could not be published.
    #[error("data track failed: {0}")]
    Track(String),
    /// A data track's buffer is full; the frame was not sent.
    #[error("data track buffer full")]
    TrackFull,
    /// The room or stream is closed.
    #[error("closed")]
    Closed,
}

/// Our end of a byte stream we opened.
pub trait ByteStreamWriter: Send {
    /// Write bytes; completes when the room has taken them.
    fn write<'a>(&'a mut self, data: &'a [u8]) -> BoxFuture<'a, Result<(), RoomError>>;
    /// Finish the stream.
    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), RoomError>>;
}

/// A byte stream a participant opened to us.
pub trait ByteStreamReader: Send {
    /// The next chunk; `None` at the end of the stream.
    fn next_chunk(&mut self) -> BoxFuture<'_, Option<Result<Bytes, RoomError>>>;
}

/// A published data track: lossy, one per channel, shared by every viewer.
pub trait DataTrack: Send + Sync {
    /// Push one frame without waiting; fails with [`RoomError::TrackFull`] when the track's
    /// buffer is full.
    fn try_push(&self, payload: Bytes, user_timestamp: u64) -> Result<(), RoomError>;
}

/// A room we joined.
pub trait Room: Send + Sync {
    /// Our own identity in the room.
    fn local_identity(&self) -> String;
    /// Remote participants present now.
    fn participants(&self) -> Vec<ParticipantInfo>;
    /// Open a byte stream with `topic` to one participant.
    fn open_byte_stream<'a>(
        &'a self,
        topic: &'a str,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ByteStreamWriter>, RoomError>>;
    /// Publish a data track named `name`.
    fn publish_data_track<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn DataTrack>, RoomError>>;
    /// Leave the room.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// Joins rooms: LiveKit in production, the in-process room in tests.
pub trait RoomConnector: Send + Sync {
    /// Join the room at `url` with the access token from the wake event.
    #[allow(clippy::type_complexity)]
    fn connect<'a>(
        &'a self,
        url: &'a str,
        token: &'a Secret,
    ) -> BoxFuture<'a, Result<(Arc<dyn Room>, mpsc::UnboundedReceiver<RoomEvent>), RoomError>>;
}
