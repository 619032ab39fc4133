//! Assembling a running gateway: hub + backend + WebSocket server, and taking it down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::hub::Hub;
use crate::ros::BackendIo;
use crate::schema::SchemaStore;
use crate::ws::tls::TlsError;
use crate::ws::WsServer;

/// A running gateway.
pub struct Gateway {
    hub: Arc<Hub>,
    ws: WsServer,
    shutdown: CancellationToken,
    events: tokio::task::JoinHandle<()>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `address`/`port` do not form a socket address.
    #[error("parameter address/port: cannot listen on {0:?}")]
    Address(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `tls` is on but `certfile`/`keyfile` cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl Gateway {
    /// Start the hub, hand the backend its side of the ROS boundary (`start_backend` must not
    /// block), and listen for viewers.
    pub async fn start(
        config: Config,
        schemas: Arc<SchemaStore>,
        start_backend: impl FnOnce(BackendIo),
    ) -> Result<Gateway, StartError> {
        let addr_text = if config.address.contains(':') {
            format!("[{}]:{}", config.address, config.port)
        } else {
            format!("{}:{}", config.address, config.port)
        };
        let addr: SocketAddr = addr_text
            .parse()
            .map_err(|_| StartError::Address(addr_text.clone()))?;
        // Before anything starts: a bad certificate must stop startup, not every handshake.
        let tls = if config.tls {
            Some(crate::ws::tls::acceptor(&config.certfile, &config.keyfile)?)
        } else {
            None
        };
        let (hub, io, events) = Hub::new(Arc::new(config), schemas);
        let events = tokio::spawn(hub.clone().run_events(events));
        start_backend(io);
        let shutdown = CancellationToken::new();
        let ws = WsServer::bind_with_tls(hub.clone(), addr, shutdown.child_token(), tls)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(Gateway {
            hub,
            ws,
            shutdown,
            events,
        })
    }

    /// Where viewers connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.ws.local_addr()
    }

    /// The hub (for tests and embedding).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Close every viewer (they get a Close frame) and stop, within `grace`.
    pub async fn shutdown(self, grace: Duration) {
        self.shutdown.cancel();
        self.hub.close_all("server shutting down");
        self.ws.shutdown(grace).await;
        self.events.abort();
    }
}
