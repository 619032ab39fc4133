//! The watch loop: device info once, then watch for `wake`, heartbeat the lease, run a room
//! session per wake, and retry as [`super::watch`] decides.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::api::{ApiClient, ApiError, DeviceInfo, Hello, SseItem, Wake, WatchQuery};
use super::room::BoxFuture;
use super::version::PROTOCOL_VERSION;
use super::watch::{
    read_timeout, Backoff, Decision, HeartbeatResult, HeartbeatTracker, WatchEnd, WatchState,
    HELLO_TIMEOUT,
};
use super::RemoteError;

/// The remote-access gateway's connection status (the SDK's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Opening (or retrying) the watch.
    Connecting,
    /// The watch is healthy (not necessarily with a viewer).
    Connected,
    /// Stopping.
    ShuttingDown,
    /// Stopped.
    Shutdown,
}

/// What a session needs to know besides the wake.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The remote access session id (fixed by the first wake), `""` if none.
    pub session_id: String,
    /// The device, from device info.
    pub device: DeviceInfo,
    /// From the watch's `hello`.
    pub wait_for_viewer: Duration,
}

/// Runs one room session per wake; returns when it is over.
pub trait SessionRunner: Send + Sync {
    /// Join the room of `wake` and serve viewers until the session ends.
    fn run_session<'a>(
        &'a self,
        wake: Wake,
        ctx: SessionContext,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, ()>;
}

/// Stops a spawned task when dropped (the heartbeat must stop before the next watch opens).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Attempt {
    End(WatchEnd),
    Wake(Wake, Duration),
    Cancelled,
}

/// Run until a 401 (an error) or cancellation (`Ok`). `status` follows the connection.
pub async fn run(
    api: ApiClient,
    runner: Arc<dyn SessionRunner>,
    status: watch::Sender<ConnectionStatus>,
    cancel: CancellationToken,
) -> Result<(), RemoteError> {
    let result = run_inner(&api, runner.as_ref(), &status, &cancel).await;
    if let Err(e) = &result {
        // Logged here so the operator sees it however the gateway is embedded.
        tracing::error!("{e}");
    }
    let _ = status.send(ConnectionStatus::ShuttingDown);
    let _ = status.send(ConnectionStatus::Shutdown);
    result
}

async fn run_inner(
    api: &ApiClient,
    runner: &dyn SessionRunner,
    status: &watch::Sender<ConnectionStatus>,
    cancel: &CancellationToken,
) -> Result<(), RemoteError> {
    let _ = status.send(ConnectionStatus::Connecting);
    let mut backoff = Backoff::default();
    let device = loop {
        let result = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = api.device_info() => r,
        };
        match result {
            Ok(d) => break d,
            Err(ApiError::Unauthorized(why)) => return Err(RemoteError::Unauthorized(why)),
            Err(e) => {
                let wait = backoff.step();
                tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "Foxglove device info failed");
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    };
    tracing::info!(device = %device.name, id = %device.id, "remote access: device known");

    let mut state = WatchState::new();
    let mut session_id: Option<String> = None;
    let mut next_at = Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(next_at) => {}
        }
        let query = WatchQuery {
            protocol_version: PROTOCOL_VERSION.to_string(),
            remote_access_session_id: session_id.clone(),
            previous_watch_lease_id: state.lease.clone(),
        };
        let end = match attempt(api, &query, &mut state, status, cancel).await {
            Attempt::Cancelled => return Ok(()),
            Attempt::End(end) => end,
            Attempt::Wake(wake, wait_for_viewer) => {
                // The first session id is kept for the gateway's lifetime.
                if session_id.is_none() {
                    session_id = wake.remote_access_session_id.clone();
                }
                let ctx = SessionContext {
                    session_id: session_id.clone().unwrap_or_default(),
                    device: device.clone(),
                    wait_for_viewer,
                };
                tracing::info!(session = %ctx.session_id, "remote access: wake");
                runner.run_session(wake, ctx, cancel).await;
                if cancel.is_cancelled() {
                    return Ok(());
                }
                WatchEnd::SessionOver
            }
        };
        let now = Instant::now();
        match state.on_end(&end, now) {
            Decision::Stop(why) => return Err(RemoteError::Unauthorized(why)),
            Decision::Reconnect { at } => {
                if at > now {
                    let _ = status.send(ConnectionStatus::Connecting);
                    tracing::info!(reason = ?end, retry_in_ms = (at - now).as_millis() as u64,
                        "remote access watch ended");
                } else {
                    tracing::debug!(reason = ?end, "remote access watch ended; reconnecting");
                }
                next_at = at;
            }
        }
    }
}

/// One watch: open it, wait for `hello`, then read until it ends or wakes.
async fn attempt(
    api: &ApiClient,
    query: &WatchQuery,
    state: &mut WatchState,
    status: &watch::Sender<ConnectionStatus>,
    cancel: &CancellationToken,
) -> Attempt {
    let hello_deadline = Instant::now() + HELLO_TIMEOUT;
    let opened = tokio::select! {
        _ = cancel.cancelled() => return Attempt::Cancelled,
        r = tokio::time::timeout_at(hello_deadline, api.watch(query)) => r,
    };
    let mut stream = match opened {
        Err(_) => return Attempt::End(WatchEnd::Failed("no answer to the watch in 30 s".into())),
        Ok(Err(e)) => return Attempt::End(open_error(e)),
        Ok(Ok(s)) => s,
    };
    // hello first (comments may come before it).
    let hello = loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => return Attempt::Cancelled,
            r = tokio::time::timeout_at(hello_deadline, stream.next()) => r,
        };
        match item {
            Err(_) => return Attempt::End(WatchEnd::Failed("no hello within 30 s".into())),
            Ok(Err(e)) => return Attempt::End(WatchEnd::Failed(e.to_string())),
            Ok(Ok(None)) => {
                return Attempt::End(WatchEnd::Failed("watch ended before hello".into()))
            }
            Ok(Ok(Some(SseItem::Event { event, data }))) if event == "hello" => {
                match serde_json::from_str::<Hello>(&data) {
                    Ok(h) => break h,
                    Err(e) => return Attempt::End(WatchEnd::Failed(format!("bad hello: {e}"))),
                }
            }
            Ok(Ok(Some(_))) => continue,
        }
    };
    let heartbeat = hello.heartbeat_interval();
    let now = Instant::now();
    state.on_hello(&hello.watch_lease_id, heartbeat, now);
    let _ = status.send(ConnectionStatus::Connected);
    tracing::debug!(
        heartbeat_ms = heartbeat.as_millis() as u64,
        "remote access watch open"
    );

    let (hb_tx, mut hb_rx) = mpsc::unbounded_channel();
    let _heartbeats = AbortOnDrop(tokio::spawn(heartbeat_task(
        api.clone(),
        hello.watch_lease_id.clone(),
        heartbeat,
        hb_tx,
    )));
    let mut tracker = HeartbeatTracker::new(heartbeat, now);
    let timeout = read_timeout(heartbeat);
    // Only stream items (comments included) move the read deadline; heartbeats do not.
    let mut read_deadline = Instant::now() + timeout;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Attempt::Cancelled,
            r = hb_rx.recv() => {
                let Some(result) = r else { continue };
                if let Some(end) = tracker.on_result(result, Instant::now()) {
                    return Attempt::End(end);
                }
            }
            item = tokio::time::timeout_at(read_deadline, stream.next()) => match item {
                Err(_) => return Attempt::End(WatchEnd::ReadTimeout),
                Ok(Err(e)) => return Attempt::End(WatchEnd::TransportError(e.to_string())),
                Ok(Ok(None)) => return Attempt::End(WatchEnd::Ended),
                Ok(Ok(Some(item))) => {
                    read_deadline = Instant::now() + timeout;
                    if let SseItem::Event { event, data } = item {
                        if event == "wake" {
                            match Wake::parse(&data) {
                                Ok(w) => return Attempt::Wake(w, hello.wait_for_viewer()),
                                Err(e) => tracing::warn!(error = %e, "ignoring a malformed wake"),
                            }
                        }
                    }
                    // keep-alives, a second hello, unknown events: nothing else to do
                }
            },
        }
    }
}

fn open_error(e: ApiError) -> WatchEnd {
    match e {
        ApiError::Unauthorized(why) => WatchEnd::Unauthorized(why),
        ApiError::Conflict => WatchEnd::Conflict,
        ApiError::Gone => WatchEnd::Gone,
        ApiError::NotEventStream(_) => WatchEnd::NotEventStream,
        other => WatchEnd::Failed(other.to_string()),
    }
}

async fn heartbeat_task(
    api: ApiClient,
    lease: String,
    interval: Duration,
    results: mpsc::UnboundedSender<HeartbeatResult>,
) {
    let mut next = Instant::now() + interval;
    loop {
        tokio::time::sleep_until(next).await;
        next += interval;
        let result = match api.heartbeat(&lease).await {
            Ok(()) => HeartbeatResult::Ok,
            Err(ApiError::Unauthorized(why)) => HeartbeatResult::Unauthorized(why),
            Err(ApiError::Conflict) => HeartbeatResult::Conflict,
            Err(ApiError::Gone) => HeartbeatResult::Gone,
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat failed");
                HeartbeatResult::Failed
            }
        };
        if results.send(result).is_err() {
            return;
        }
    }
}
