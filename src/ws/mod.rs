//! The Foxglove WebSocket server: listener, handshake, and one reader and one writer task per
//! connection around the viewer's [`Outbox`](crate::hub::Outbox).
//!
//! The handshake accepts `foxglove.sdk.v1` and `foxglove.websocket.v1` and echoes exactly the
//! one chosen; a client offering neither gets HTTP 400 saying which are supported.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::Hub;
use crate::protocol::{select_subprotocol, SUBPROTOCOLS};

mod connection;

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
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let tasks = TaskTracker::new();
        let accept_tasks = tasks.clone();
        let token = shutdown.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            let hub = hub.clone();
                            let token = token.child_token();
                            accept_tasks.spawn(async move {
                                handle(hub, stream, peer, token).await;
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
        tracing::info!(%local_addr, "WebSocket server listening");
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

async fn handle(hub: Arc<Hub>, stream: TcpStream, peer: SocketAddr, token: CancellationToken) {
    // Small control messages and teleop commands should not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let limit = hub.config().max_incoming_message_size;
    // tungstenite's own cap is a hard stop that kills the connection; ours (checked per message
    // in the session) answers with a status and keeps it open, so tungstenite's is set higher.
    let ws_config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(limit.saturating_mul(4).max(1 << 20)))
        .max_frame_size(Some(limit.saturating_mul(4).max(1 << 20)));
    let mut chosen: Option<&'static str> = None;
    // The error type is tungstenite's; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let offered = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok());
        match select_subprotocol(offered) {
            Some(p) => {
                chosen = Some(p);
                resp.headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static(p));
                Ok(resp)
            }
            None => {
                let mut err = ErrorResponse::new(Some(format!(
                    "Missing expected sec-websocket-protocol header: this Foxglove server speaks {}",
                    SUBPROTOCOLS.join(", ")
                )));
                *err.status_mut() = StatusCode::BAD_REQUEST;
                Err(err)
            }
        }
    };
    let ws =
        match tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config))
            .await
        {
            Ok(ws) => ws,
            Err(e) => {
                tracing::info!(%peer, error = %e, "WebSocket handshake failed");
                return;
            }
        };
    let subprotocol = chosen.unwrap_or(SUBPROTOCOLS[0]);
    tracing::info!(%peer, subprotocol, "viewer connected");
    connection::run(hub, ws, peer, token).await;
}
