//! The Foxglove WebSocket server: listener, handshake, and one reader and one writer task per
//! connection around the viewer's [`Outbox`](crate::hub::Outbox).
//!
//! The handshake ([`handshake`]) accepts `foxglove.sdk.v1` and `foxglove.websocket.v1` and
//! echoes exactly the one chosen; a client offering neither gets HTTP 400 saying which are
//! supported.
//!
//! With `tls`, every connection first completes a rustls handshake ([`tls`]); the WebSocket
//! layer above is the same.
//!
//! What a connection can hold is bounded before it is spent (README "Limits"):
//! - at most `max_connections` connections at once, handshakes included; one more is answered
//!   HTTP 503 naming the limit and closed without a task;
//! - TLS and the HTTP upgrade together must finish within `handshake_timeout_ms`;
//! - incoming messages are capped at `max_incoming_message_size` while they are read (frame and
//!   message; over it the connection is closed with 1009), and unfinished large messages of all
//!   connections share one budget ([`incoming`]);
//! - tungstenite's read buffer starts small ([`READ_BUFFER_BYTES`]) and grows only for a message
//!   that needs it, so an idle viewer costs a few KiB.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::Hub;
use incoming::{IncomingBudget, Metered};

mod connection;
pub mod handshake;
pub mod incoming;
pub mod tls;

/// tungstenite's read buffer per connection: what one read takes at most. Small, because every
/// idle viewer has one; a large message gets a buffer of its size while it is read.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// The budget of unfinished large incoming messages, in `max_incoming_message_size`s.
pub const INCOMING_BUDGET_MESSAGES: u64 = 4;

/// A running WebSocket server.
pub struct WsServer {
    local_addr: SocketAddr,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl WsServer {
    /// Bind `addr` and serve viewers of `hub` until `shutdown` is cancelled.
    pub async fn bind(
        hub: Arc<Hub>,
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<WsServer> {
        Self::bind_with_tls(hub, addr, shutdown, None).await
    }

    /// [`WsServer::bind`], serving `wss://` when `tls` is given (see [`tls::acceptor`]).
    pub async fn bind_with_tls(
        hub: Arc<Hub>,
        addr: SocketAddr,
        shutdown: CancellationToken,
        tls: Option<TlsAcceptor>,
    ) -> std::io::Result<WsServer> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let tasks = TaskTracker::new();
        let accept_tasks = tasks.clone();
        let token = shutdown.clone();
        let tls_on = tls.is_some();
        let limit = hub.config().max_incoming_message_size as u64;
        let budget = IncomingBudget::new(limit.saturating_mul(INCOMING_BUDGET_MESSAGES), limit);
        let open = Arc::new(AtomicUsize::new(0));
        tasks.spawn(async move {
            let mut busy = BusyLog::default();
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            let max = hub.config().max_connections;
                            if open.load(Ordering::Relaxed) >= max {
                                handshake::refuse_busy(stream, max);
                                busy.refused(peer, max);
                                continue;
                            }
                            let slot = Slot::take(&open);
                            let hub = hub.clone();
                            let token = token.child_token();
                            let tls = tls.clone();
                            let budget = budget.clone();
                            accept_tasks.spawn(async move {
                                handle(hub, stream, peer, token, tls, budget).await;
                                drop(slot);
                            });
                        }
                        Err(e) => {
                            // Out of file descriptors and the like: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            }
        });
        tracing::info!(%local_addr, tls = tls_on, "WebSocket server listening");
        Ok(WsServer {
            local_addr,
            tasks,
            shutdown,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting, close every connection (viewers get a Close frame), and wait for the
    /// connection tasks, at most `grace`.
    pub async fn shutdown(self, grace: std::time::Duration) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
    }
}

/// One connection counted against `max_connections` until dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::Relaxed);
        Slot(open.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Connections refused for `max_connections`, logged at most once a second.
#[derive(Default)]
struct BusyLog {
    since: Option<Instant>,
    count: u64,
}

impl BusyLog {
    fn refused(&mut self, peer: SocketAddr, max: usize) {
        self.count += 1;
        let now = Instant::now();
        if self
            .since
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            tracing::info!(
                %peer,
                refused = self.count,
                "connection refused (HTTP 503): {max} connections open (max_connections)"
            );
            self.since = Some(now);
            self.count = 0;
        }
    }
}

async fn handle(
    hub: Arc<Hub>,
    stream: TcpStream,
    peer: SocketAddr,
    token: CancellationToken,
    tls: Option<TlsAcceptor>,
    budget: Arc<IncomingBudget>,
) {
    let timeout = hub.config().handshake_timeout;
    let deadline = Instant::now() + timeout;
    // Small control messages and teleop commands should not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve(hub, stream, peer, token, deadline, budget).await;
    };
    // Boxed: a plain connection's task should not reserve room for the TLS state.
    Box::pin(serve_tls(
        hub, stream, peer, token, deadline, budget, acceptor,
    ))
    .await;
}

async fn serve_tls(
    hub: Arc<Hub>,
    stream: TcpStream,
    peer: SocketAddr,
    token: CancellationToken,
    deadline: Instant,
    budget: Arc<IncomingBudget>,
    acceptor: TlsAcceptor,
) {
    let timeout = hub.config().handshake_timeout;
    let accepted = tokio::select! {
        _ = token.cancelled() => return,
        r = tokio::time::timeout_at(deadline, acceptor.accept(stream)) => r,
    };
    match accepted {
        Ok(Ok(stream)) => serve(hub, stream, peer, token, deadline, budget).await,
        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::info!(
            %peer,
            "TLS handshake did not complete within {} ms (handshake_timeout_ms)",
            timeout.as_millis()
        ),
    }
}

async fn serve<S>(
    hub: Arc<Hub>,
    mut stream: S,
    peer: SocketAddr,
    token: CancellationToken,
    deadline: Instant,
    budget: Arc<IncomingBudget>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeout = hub.config().handshake_timeout;
    // Boxed: its buffers are needed only until the upgrade, not for the connection's life.
    let upgraded = tokio::select! {
        _ = token.cancelled() => return,
        r = Box::pin(handshake::upgrade(&mut stream, deadline, timeout)) => r,
    };
    let upgraded = match upgraded {
        Ok(u) => u,
        Err(why) => {
            tracing::info!(%peer, "WebSocket handshake refused: {why}");
            return;
        }
    };
    let limit = hub.config().max_incoming_message_size;
    // tungstenite enforces the limit while reading: a frame header over it is refused before
    // its payload is read, and a fragmented message as soon as it grows past it.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let stream = Metered::new(stream, upgraded.surplus, budget);
    tracing::info!(%peer, subprotocol = upgraded.subprotocol, "viewer connected");
    connection::run(hub, stream, ws_config, peer, token).await;
}
