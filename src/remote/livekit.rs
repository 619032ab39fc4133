//! The LiveKit adapter (feature `remote-access`): the [`Room`] traits over the `livekit` crate.
//!
//! Deliberately thin: it converts types and forwards calls. Everything with behaviour (sessions,
//! framing, subscriptions, backpressure) lives in the code that talks to the traits, which is
//! tested with the in-process room. This file only type-checks in CI (`DOCS_RS=1` skips
//! libwebrtc's download; see `scripts/check-remote.sh`).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use livekit::prelude::{
    DataTrackFrame, LocalDataTrack, PushFrameErrorReason, RemoteParticipant, RoomEvent as LkEvent,
};
use livekit::{ByteStreamReader as LkReader, ByteStreamWriter as LkWriter};
use livekit::{Room as LkRoom, RoomOptions, StreamByteOptions, StreamWriter};
use tokio::sync::mpsc;

use super::room::{
    BoxFuture, ByteStreamReader, ByteStreamWriter, DataTrack, ParticipantInfo, Room, RoomConnector,
    RoomError, RoomEvent,
};
use crate::config::Secret;

/// Joins LiveKit rooms.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveKitConnector;

impl RoomConnector for LiveKitConnector {
    fn connect<'a>(
        &'a self,
        url: &'a str,
        token: &'a Secret,
    ) -> BoxFuture<'a, Result<(Arc<dyn Room>, mpsc::UnboundedReceiver<RoomEvent>), RoomError>> {
        Box::pin(async move {
            let (room, mut lk_events) =
                LkRoom::connect(url, token.expose(), RoomOptions::default())
                    .await
                    // The error text comes from LiveKit; it does not echo the token.
                    .map_err(|e| RoomError::Connect(e.to_string()))?;
            let (tx, rx) = mpsc::unbounded_channel();
            // Translate events on a task of our own, so the session sees only our types.
            tokio::spawn(async move {
                while let Some(event) = lk_events.recv().await {
                    let Some(ours) = translate(event) else {
                        continue;
                    };
                    let last = matches!(ours, RoomEvent::Disconnected { .. });
                    if tx.send(ours).is_err() || last {
                        return;
                    }
                }
                let _ = tx.send(RoomEvent::Disconnected {
                    reason: "LiveKit event stream ended".into(),
                });
            });
            Ok((Arc::new(LiveKitRoom { room }) as Arc<dyn Room>, rx))
        })
    }
}

fn participant(p: &RemoteParticipant) -> ParticipantInfo {
    ParticipantInfo {
        identity: p.identity().0,
        sid: p.sid().as_str().to_string(),
        joined_at_ms: p.joined_at(),
        attributes: p.attributes(),
    }
}

fn translate(event: LkEvent) -> Option<RoomEvent> {
    Some(match event {
        LkEvent::ParticipantActive(p) => RoomEvent::ParticipantActive(participant(&p)),
        LkEvent::ParticipantDisconnected(p) => RoomEvent::ParticipantDisconnected {
            identity: p.identity().0,
            sid: p.sid().as_str().to_string(),
        },
        LkEvent::ByteStreamOpened {
            reader,
            topic,
            participant_identity,
        } => RoomEvent::ByteStream {
            topic,
            from: participant_identity.0,
            reader: Box::new(Reader(reader.take()?)),
        },
        LkEvent::Disconnected { reason } => RoomEvent::Disconnected {
            reason: format!("{reason:?}"),
        },
        _ => return None,
    })
}

struct LiveKitRoom {
    room: LkRoom,
}

impl Room for LiveKitRoom {
    fn local_identity(&self) -> String {
        self.room.local_participant().identity().0
    }

    fn participants(&self) -> Vec<ParticipantInfo> {
        self.room
            .remote_participants()
            .values()
            .map(participant)
            .collect()
    }

    fn open_byte_stream<'a>(
        &'a self,
        topic: &'a str,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ByteStreamWriter>, RoomError>> {
        Box::pin(async move {
            let options = StreamByteOptions::new_with_topic(topic)
                .with_destination_identity(destination.to_string());
            let writer = self
                .room
                .local_participant()
                .stream_bytes(options)
                .await
                .map_err(|e| RoomError::Stream(e.to_string()))?;
            Ok(Box::new(Writer(writer)) as Box<dyn ByteStreamWriter>)
        })
    }

    fn publish_data_track<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn DataTrack>, RoomError>> {
        Box::pin(async move {
            let track = self
                .room
                .local_participant()
                .publish_data_track(name)
                .await
                .map_err(|e| RoomError::Track(e.to_string()))?;
            Ok(Arc::new(Track(track)) as Arc<dyn DataTrack>)
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self.room.close().await {
                tracing::debug!(error = %e, "leaving the LiveKit room failed");
            }
        })
    }
}

struct Writer(LkWriter);

impl ByteStreamWriter for Writer {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> BoxFuture<'a, Result<(), RoomError>> {
        Box::pin(async move {
            self.0
                .write(data)
                .await
                .map_err(|e| RoomError::Stream(e.to_string()))
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), RoomError>> {
        Box::pin(async move {
            self.0
                .close()
                .await
                .map_err(|e| RoomError::Stream(e.to_string()))
        })
    }
}

struct Reader(LkReader);

impl ByteStreamReader for Reader {
    fn next_chunk(&mut self) -> BoxFuture<'_, Option<Result<Bytes, RoomError>>> {
        Box::pin(async move {
            self.0
                .next()
                .await
                .map(|r| r.map_err(|e| RoomError::Stream(e.to_string())))
        })
    }
}

struct Track(LocalDataTrack);

impl DataTrack for Track {
    fn try_push(&self, payload: Bytes, user_timestamp: u64) -> Result<(), RoomError> {
        let frame = DataTrackFrame::new(payload).with_user_timestamp(user_timestamp);
        self.0.try_push(frame).map_err(|e| match e.reason() {
            PushFrameErrorReason::QueueFull => RoomError::TrackFull,
            PushFrameErrorReason::TrackUnpublished => RoomError::Closed,
        })
    }
}
