//! The data backend of Foxglove's remote data loader: `recordings_dir` over HTTP
//! (`data_backend:=true`, `data_backend_address`, `data_backend_port`).
//!
//! - `GET /v1/manifest?recording=NAME` or `?startTime=…&endTime=…` (RFC 3339): JSON manifest
//!   ([`super::manifest`]), one streamed source per recording.
//! - `GET /v1/data?recording=NAME[&startTime=…&endTime=…]`: an MCAP stream (ROS 2 profile, zstd
//!   chunks, summary) of exactly the messages with `startTime <= log_time <= endTime`, in
//!   log-time order, channels and schemas as in the recording.
//!
//! Names are resolved only inside `recordings_dir` ([`super::files`]): anything else is refused
//! (400) before the disk is touched; responses name recordings, never paths. There is no
//! authentication: the default address is loopback; put the backend behind the loader's network
//! or a reverse proxy that authenticates.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] connections (more wait in the kernel's backlog) and
//! [`MAX_STREAMS`] data streams at once (more get 503); a request's head must arrive within
//! [`HEADER_TIMEOUT`]. A data stream is produced by a blocking thread that reads one chunk at a
//! time ([`super::mcap_in`]) and writes through a channel of [`STREAM_QUEUE`] pieces of
//! [`STREAM_PIECE`] bytes, so a slow client holds the reader back instead of filling memory,
//! whatever the recording's size.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::manifest::{self, Manifest, Selection};
use super::mcap_in::Recording;
use super::mcap_out::{write_options, ChannelSpec, Ros2Writer};
use super::{RecordError, RecordingsDir};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Data streams produced at once.
pub const MAX_STREAMS: usize = 4;
/// Time for a request's head to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes per piece of a data stream.
pub const STREAM_PIECE: usize = 256 * 1024;
/// Pieces queued between the producing thread and the socket.
pub const STREAM_QUEUE: usize = 4;

type Body = BoxBody<Bytes, std::io::Error>;

/// A running data backend.
pub struct DataBackend {
    local_addr: SocketAddr,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

struct Shared {
    dir: RecordingsDir,
    streams: Arc<Semaphore>,
}

impl DataBackend {
    /// Listen on `addr` (`host:port`) and serve `dir` until `shutdown`.
    pub async fn bind(
        addr: &str,
        dir: RecordingsDir,
        shutdown: CancellationToken,
    ) -> std::io::Result<DataBackend> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            dir,
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
        });
        let tasks = TaskTracker::new();
        let conns = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let token = shutdown.clone();
        let spawner = tasks.clone();
        tasks.spawn(async move {
            loop {
                let permit = tokio::select! {
                    _ = token.cancelled() => break,
                    p = conns.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let (stream, peer) = tokio::select! {
                    _ = token.cancelled() => break,
                    a = listener.accept() => match a {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "data backend: accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let shared = shared.clone();
                let token = token.clone();
                spawner.spawn(async move {
                    let _permit = permit;
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r {
                                tracing::debug!(%peer, error = %e, "data backend connection ended");
                            }
                        }
                        _ = token.cancelled() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                        }
                    }
                });
            }
        });
        tracing::info!(%local_addr, "data backend listening (remote data loader: /v1/manifest, /v1/data)");
        Ok(DataBackend {
            local_addr,
            tasks,
            shutdown,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop, waiting at most `grace` for connections to close.
    pub async fn shutdown(self, grace: Duration) {
        self.shutdown.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    full(status, "application/json", body)
}

fn record_error(e: &RecordError) -> Response<Body> {
    let status = match e {
        RecordError::BadName(_) => StatusCode::BAD_REQUEST,
        RecordError::NotFound(_) => StatusCode::NOT_FOUND,
        RecordError::Unusable(_) | RecordError::Mcap(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &e.for_peer())
}

async fn handle(shared: &Arc<Shared>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    if req.method() != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
    }
    let query = req.uri().query().unwrap_or("");
    let selection = match Selection::parse(query) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match req.uri().path() {
        "/v1/manifest" => {
            let shared = shared.clone();
            match tokio::task::spawn_blocking(move || build_manifest(&shared.dir, &selection)).await
            {
                Ok(Ok(m)) => full(
                    StatusCode::OK,
                    "application/json",
                    serde_json::to_string(&m).unwrap_or_default(),
                ),
                Ok(Err(e)) => record_error(&e),
                Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "manifest task failed"),
            }
        }
        "/v1/data" => data(shared, selection).await,
        _ => error(
            StatusCode::NOT_FOUND,
            "not found: the data backend serves /v1/manifest and /v1/data",
        ),
    }
}

/// The manifest for a selection: one recording, or every recording overlapping the range.
pub fn build_manifest(dir: &RecordingsDir, sel: &Selection) -> Result<Manifest, RecordError> {
    let names = match &sel.recording {
        Some(n) => vec![n.strip_suffix(".mcap").unwrap_or(n).to_string()],
        None => dir.list()?,
    };
    let mut sources = Vec::new();
    for name in &names {
        if sources.len() >= manifest::MAX_SOURCES {
            break;
        }
        let path = dir.resolve(name)?;
        let rec = match Recording::open(&path) {
            Ok(r) => r,
            // Asked for by name: say why it cannot be served. Listed: skip it (a file being
            // copied in, a broken file) rather than fail the whole manifest.
            Err(e) if sel.recording.is_some() => return Err(e),
            Err(e) => {
                tracing::debug!(recording = %name, "data backend: skipping: {e}");
                continue;
            }
        };
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let (first, last) = rec.time_range();
        if let Some(range) = sel.clip(first, last) {
            sources.push(manifest::source(name, &rec, size, range));
        }
    }
    let name = match &sel.recording {
        Some(n) => Some(n.clone()),
        None => Some(match (sel.start, sel.end) {
            (Some(a), Some(b)) => format!(
                "recordings {} – {}",
                manifest::format_time(a),
                manifest::format_time(b)
            ),
            _ => "recordings".to_string(),
        }),
    };
    Ok(Manifest { name, sources })
}

async fn data(shared: &Arc<Shared>, sel: Selection) -> Response<Body> {
    let Some(name) = sel.recording.clone() else {
        return error(StatusCode::BAD_REQUEST, "recording= is required");
    };
    let Ok(permit) = shared.streams.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{MAX_STREAMS} data streams are running; retry later"),
        );
    };
    let dir = shared.dir.clone();
    // Open (and validate) before answering, so errors get a status instead of a cut stream.
    let opened = tokio::task::spawn_blocking(move || -> Result<_, RecordError> {
        let path = dir.resolve(&name)?;
        Recording::open(&path)
    })
    .await;
    let rec = match opened {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return record_error(&e),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "data task failed"),
    };
    let (first, last) = rec.time_range();
    let range = sel.clip(first, last);
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(STREAM_QUEUE);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let out = PieceWriter {
            tx: tx.clone(),
            buf: BytesMut::with_capacity(STREAM_PIECE),
        };
        if let Err(e) = stream_mcap(&rec, range, out) {
            tracing::debug!("data backend: stream ended: {e}");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.for_peer())));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece.map(Frame::data), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    if let Ok(v) = "application/octet-stream".parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Write the messages of `range` (none if `None`) of `rec` as MCAP to `out`.
pub fn stream_mcap<W: Write>(
    rec: &Arc<Recording>,
    range: Option<(u64, u64)>,
    out: W,
) -> Result<W, RecordError> {
    let options = write_options().disable_seeking(true);
    let mut w = Ros2Writer::with_options(mcap::write::NoSeek::new(out), options)?;
    let mut ids: HashMap<u16, u16> = HashMap::new();
    // Every channel is declared, even without messages in the range: the manifest lists them.
    let mut specs: Vec<_> = rec.channels().iter().collect();
    specs.sort_by_key(|(id, _)| **id);
    for (&id, ch) in specs {
        let spec = ChannelSpec {
            topic: ch.topic.clone(),
            type_name: ch
                .schema
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            schema_encoding: ch
                .schema
                .as_ref()
                .map(|s| s.encoding.clone())
                .unwrap_or_default(),
            schema: ch
                .schema
                .as_ref()
                .map(|s| s.data.to_vec())
                .unwrap_or_default(),
            message_encoding: ch.message_encoding.clone(),
            metadata: ch.metadata.clone(),
        };
        ids.insert(id, w.channel(&spec)?);
    }
    if let Some((start, end)) = range {
        let mut reader = rec.messages(start, end, None)?;
        while let Some(m) = reader.next_message()? {
            if let Some(&out_id) = ids.get(&m.channel_id) {
                w.write(out_id, m.log_time, m.publish_time, &m.data)?;
            }
        }
    }
    let mut out = w.finish()?.into_inner();
    out.flush().map_err(|e| RecordError::Io {
        what: "stream".into(),
        source: e,
    })?;
    Ok(out)
}

/// Hands the MCAP bytes to the response in pieces; blocks while the client is behind.
struct PieceWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: BytesMut,
}

impl PieceWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = self.buf.split().freeze();
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for PieceWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = STREAM_PIECE.saturating_sub(self.buf.len()).max(1);
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= STREAM_PIECE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
