//! Remote access: the same channels through the Foxglove platform over LiveKit (protocol v2).
//!
//! The gateway connects *out*: it asks the Foxglove API about the device ([`api`]), keeps a
//! watch open for `wake` events ([`watch_loop`], policy in [`watch`]), and on a wake joins the
//! LiveKit room it names ([`session`]). In the room every viewer is one more hub sink with its
//! own outbox and `control` byte stream ([`participant`]); lossy channels go once onto shared
//! data tracks ([`data_plane`]). The hub is the WebSocket server's, so a topic watched both ways
//! has one ROS subscription.
//!
//! Only [`livekit`] (feature `remote-access`) touches LiveKit; everything else talks to the
//! [`room`] traits and is tested with [`local_room`].
//!
//! The device token and LiveKit tokens are [`Secret`]s: never logged, never in `Debug` or errors.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch as status_watch;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::hub::Hub;

pub mod api;
pub mod data_plane;
#[cfg(feature = "remote-access")]
pub mod livekit;
pub mod local_room;
pub mod participant;
pub mod room;
pub mod session;
pub mod version;
pub mod watch;
pub mod watch_loop;

pub use room::{Room, RoomConnector};
pub use watch_loop::{ConnectionStatus, SessionContext, SessionRunner};

/// Why remote access cannot run (or stopped). The text is what the robot's operator sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// `remote_access` is on but there is no token.
    #[error(
        "remote_access is on but no device token is set: export FOXGLOVE_DEVICE_TOKEN \
         (preferred) or set the device_token parameter"
    )]
    MissingToken,
    /// The API rejected the token; remote access stays off until restart.
    #[error(
        "remote access stopped: the Foxglove API rejected the device token ({0}). Check \
         FOXGLOVE_DEVICE_TOKEN / device_token and restart; the WebSocket server keeps running"
    )]
    Unauthorized(String),
    /// The HTTP client could not be built.
    #[error("remote access: {0}")]
    Api(#[from] api::ApiError),
}

/// Joins the room of each wake and runs a [`session`] in it.
pub struct RoomSessions {
    hub: Arc<Hub>,
    connector: Arc<dyn RoomConnector>,
    /// A control-stream write slower than this resets the viewer.
    pub write_timeout: Duration,
}

impl RoomSessions {
    /// Sessions over `connector`, serving `hub`'s channels.
    pub fn new(hub: Arc<Hub>, connector: Arc<dyn RoomConnector>) -> Self {
        let write_timeout = match hub.config().keepalive_timeout {
            d if d.is_zero() => Duration::from_secs(10),
            d => d,
        };
        RoomSessions {
            hub,
            connector,
            write_timeout,
        }
    }
}

impl SessionRunner for RoomSessions {
    fn run_session<'a>(
        &'a self,
        wake: api::Wake,
        ctx: SessionContext,
        cancel: &'a CancellationToken,
    ) -> room::BoxFuture<'a, ()> {
        Box::pin(async move {
            let (room, events) = match self.connector.connect(&wake.url, &wake.token).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "remote access: cannot join the room; waiting for the next wake");
                    return;
                }
            };
            let cfg = session::SessionConfig {
                session_id: ctx.session_id,
                name: ctx.device.name,
                wait_for_viewer: ctx.wait_for_viewer,
                max_data_track_message_size: self.hub.config().max_data_track_message_size,
                write_timeout: self.write_timeout,
            };
            // On its own task: a panic in the room library (it has unwraps on a vanished
            // session) ends this session, not remote access.
            let task = tokio::spawn(session::run(
                self.hub.clone(),
                room,
                events,
                cfg,
                cancel.child_token(),
            ));
            if let Err(e) = task.await {
                tracing::error!(error = %e, "remote access session failed; back to the watch");
            }
        })
    }
}

/// A running remote-access gateway.
pub struct RemoteAccess {
    status: status_watch::Receiver<ConnectionStatus>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), RemoteError>>,
}

impl RemoteAccess {
    /// Start remote access for `hub` with the settings of its config (`device_token`,
    /// `foxglove_api_url`, `max_data_track_message_size`), joining rooms through `connector`.
    pub fn start(
        hub: Arc<Hub>,
        connector: Arc<dyn RoomConnector>,
    ) -> Result<RemoteAccess, RemoteError> {
        let cfg = hub.config();
        let token: Secret = cfg.device_token.clone().ok_or(RemoteError::MissingToken)?;
        let client = api::ApiClient::new(&cfg.foxglove_api_url, token)?;
        let runner = Arc::new(RoomSessions::new(hub.clone(), connector));
        Ok(Self::start_with(client, runner))
    }

    /// Start with an explicit API client and session runner (tests, embedding).
    pub fn start_with(api: api::ApiClient, runner: Arc<dyn SessionRunner>) -> RemoteAccess {
        let (tx, rx) = status_watch::channel(ConnectionStatus::Connecting);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(watch_loop::run(api, runner, tx, cancel.clone()));
        RemoteAccess {
            status: rx,
            cancel,
            task,
        }
    }

    /// The connection status now.
    pub fn status(&self) -> ConnectionStatus {
        *self.status.borrow()
    }

    /// A receiver that follows the status.
    pub fn status_updates(&self) -> status_watch::Receiver<ConnectionStatus> {
        self.status.clone()
    }

    /// True once the loop stopped by itself (a rejected token); see [`RemoteAccess::wait`].
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Wait for the loop to stop by itself: `Err` says why (a rejected token).
    pub async fn wait(self) -> Result<(), RemoteError> {
        match self.task.await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }

    /// Leave any room and stop.
    pub async fn shutdown(self) -> Result<(), RemoteError> {
        self.cancel.cancel();
        self.wait().await
    }
}

/// The LiveKit connector of this build (feature `remote-access`).
#[cfg(feature = "remote-access")]
pub fn livekit_connector() -> Arc<dyn RoomConnector> {
    Arc::new(livekit::LiveKitConnector)
}
