//! Assembling a running gateway: hub + backend + WebSocket server, and taking it down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::hub::{Hub, HubExtras};
use crate::record::data_backend::DataBackend;
use crate::record::{RecordError, Recorder};
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
    data_backend: Option<DataBackend>,
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
    /// Recording (black box, `record`, data backend) cannot start.
    #[error("recording: {0}")]
    Record(#[from] RecordError),
    /// The data backend's listener could not be bound.
    #[error("data backend: cannot listen on {addr}: {source}")]
    DataBackendBind {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

impl Gateway {
    /// Start the hub, hand the backend its side of the ROS boundary (`start_backend` must not
    /// block), and listen for viewers.
    pub async fn start(
        config: Config,
        schemas: Arc<SchemaStore>,
        start_backend: impl FnOnce(BackendIo),
    ) -> Result<Gateway, StartError> {
        Self::start_with(config, schemas, HubExtras::default(), |io, _| {
            start_backend(io)
        })
        .await
    }

    /// [`Gateway::start`] with playback (`extras.playback`; the backend is then the player and
    /// gets the hub too). The recorder and the data backend follow the config (`blackbox_seconds`,
    /// `record`, `data_backend`).
    pub async fn start_with(
        config: Config,
        schemas: Arc<SchemaStore>,
        mut extras: HubExtras,
        start_backend: impl FnOnce(BackendIo, &Arc<Hub>),
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
        if extras.recorder.is_none() {
            extras.recorder = Recorder::from_config(&config)?;
        }
        let shutdown = CancellationToken::new();
        let data_backend = if config.data_backend {
            let dir = crate::record::RecordingsDir::open(crate::record::files::default_dir(
                &config.recordings_dir,
            ))?;
            let addr = if config.data_backend_address.contains(':') {
                format!(
                    "[{}]:{}",
                    config.data_backend_address, config.data_backend_port
                )
            } else {
                format!(
                    "{}:{}",
                    config.data_backend_address, config.data_backend_port
                )
            };
            Some(
                DataBackend::bind(&addr, dir, shutdown.child_token())
                    .await
                    .map_err(|source| StartError::DataBackendBind { addr, source })?,
            )
        } else {
            None
        };
        let (hub, io, events) = Hub::with_extras(Arc::new(config), schemas, extras);
        let events = tokio::spawn(hub.clone().run_events(events));
        start_backend(io, &hub);
        let ws = WsServer::bind_with_tls(hub.clone(), addr, shutdown.child_token(), tls)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(Gateway {
            hub,
            ws,
            shutdown,
            events,
            data_backend,
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

    /// Where the data backend listens, if it is on.
    pub fn data_backend_addr(&self) -> Option<SocketAddr> {
        self.data_backend.as_ref().map(|d| d.local_addr())
    }

    /// Close every viewer (they get a Close frame) and stop, within `grace`; the continuous
    /// recording's file is completed.
    pub async fn shutdown(self, grace: Duration) {
        self.shutdown.cancel();
        self.hub.close_all("server shutting down");
        self.ws.shutdown(grace).await;
        if let Some(d) = self.data_backend {
            d.shutdown(grace).await;
        }
        if let Some(r) = self.hub.recorder().cloned() {
            let _ = tokio::task::spawn_blocking(move || r.shutdown()).await;
        }
        self.events.abort();
    }
}
