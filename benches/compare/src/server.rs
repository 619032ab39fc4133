//! `gateway-bench server`: one server process (gateway, SDK or ceiling) fed by the source.
//!
//! Protocol with the driver, one line each on stdout/stdin: the server prints `READY <port>`,
//! waits for `GO`, waits until a viewer has subscribed, publishes, prints `DONE <sent> <source CPU ns> [<expected deliveries>]`, and exits
//! when stdin closes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::payload::{TOPIC, TYPE_NAME};
use crate::source::{self, Load, Sent};
use crate::{ceiling, Kind};

/// Why a server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// I/O with the driver or the socket.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The gateway did not start.
    #[error("gateway: {0}")]
    Gateway(#[from] foxglove_gateway::gateway::StartError),
    /// The schema could not be loaded.
    #[error("schema: {0}")]
    Schema(#[from] foxglove_gateway::schema::SchemaError),
    /// The SDK refused.
    #[error("foxglove sdk: {0}")]
    Sdk(#[from] foxglove::FoxgloveError),
    /// The driver said something unexpected or went away.
    #[error("driver: {0}")]
    Driver(String),
    /// Nobody subscribed in time.
    #[error("no viewer subscribed within 10 s")]
    NoSubscriber,
}

/// The memory bound every server gets for its per-viewer queue, in bytes: the gateway's default
/// `send_buffer_limit`. The SDK and the ceiling bound by message count only, so their count is
/// derived from it (else 8 viewers × 1024 × 1 MiB could queue 8 GiB).
pub const QUEUE_BYTES: usize = 10_000_000;
/// The per-viewer message bound: the default of both the gateway and the SDK.
pub const QUEUE_MESSAGES: usize = 1024;

/// Queue length in messages for a payload of `size` bytes under both bounds.
pub fn queue_messages(size: usize) -> usize {
    (QUEUE_BYTES / size.max(1)).clamp(1, QUEUE_MESSAGES)
}

/// The repo's `interfaces/` prefix.
pub fn interfaces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interfaces")
}

/// Run one server until the driver closes stdin.
pub async fn run(kind: Kind, load: Load) -> Result<(), ServerError> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let schemas = Arc::new(foxglove_gateway::schema::SchemaStore::new(vec![
        interfaces_dir(),
    ]));
    let schema = schemas.message(TYPE_NAME)?;
    match kind {
        Kind::Gateway => {
            use foxglove_gateway::ros::sim::SimGraph;
            let config = foxglove_gateway::config::Config {
                address: "127.0.0.1".into(),
                port: 0,
                ..Default::default()
            };
            let sim = SimGraph::new();
            let gw = foxglove_gateway::gateway::Gateway::start(config, schemas, |io| {
                sim.start(io);
            })
            .await?;
            let publisher =
                sim.add_publisher(TOPIC, TYPE_NAME, "/bench_source", Default::default());
            ready(gw.local_addr().port(), &mut stdin).await?;
            wait_for(|| sim.gateway_subscriptions(TOPIC) > 0).await?;
            // Kept alive until the end: when a topic's last publisher leaves, the gateway
            // unadvertises it and drops what is still queued for it.
            let publisher = Arc::new(publisher);
            let p = publisher.clone();
            let sent = publish(load, move |buf| p.publish(Bytes::copy_from_slice(buf))).await?;
            done(sent, &mut stdin).await?;
            drop(publisher);
            gw.shutdown(Duration::from_millis(200)).await;
        }
        Kind::Sdk => {
            let server = foxglove::WebSocketServer::new()
                .bind("127.0.0.1", 0)
                .message_backlog_size(queue_messages(load.size))
                .start()
                .await?;
            let channel = foxglove::ChannelBuilder::new(TOPIC)
                .message_encoding("cdr")
                .schema(foxglove::Schema::new(
                    TYPE_NAME,
                    "ros2msg",
                    schema.text.clone().into_bytes(),
                ))
                .build_raw()?;
            ready(server.port(), &mut stdin).await?;
            let ch = channel.clone();
            wait_for(move || ch.has_sinks()).await?;
            let ch = channel.clone();
            let sent = publish(load, move |buf| ch.log(buf)).await?;
            done(sent, &mut stdin).await?;
            drop(channel);
            // Stopping waits for viewers to close; the driver closes them right after.
            drop(server.stop());
        }
        Kind::Ceiling => {
            let server = ceiling::Ceiling::bind(queue_messages(load.size)).await?;
            ready(server.port(), &mut stdin).await?;
            let s = server.clone();
            wait_for(move || s.subscribers() > 0).await?;
            if load.rate == 0 {
                // Flat out, the ceiling has no source: pre-built frames, pushed per viewer.
                let (max, total) = server.push_prebuilt(load.size, load.duration).await;
                println!("DONE {max} 0 {total}");
                while stdin.next_line().await?.is_some() {}
            } else {
                let sent = publish(load, move |buf| server.publish(buf)).await?;
                done(sent, &mut stdin).await?;
            }
        }
    }
    Ok(())
}

async fn publish<F>(load: Load, f: F) -> Result<Sent, ServerError>
where
    F: FnMut(&[u8]) + Send + 'static,
{
    tokio::task::spawn_blocking(move || source::run(load, f))
        .await
        .map_err(|e| ServerError::Driver(format!("source task: {e}")))?
        .map_err(ServerError::Io)
}

async fn ready<R>(port: u16, stdin: &mut tokio::io::Lines<BufReader<R>>) -> Result<(), ServerError>
where
    R: tokio::io::AsyncRead + Unpin,
{
    println!("READY {port}");
    match stdin.next_line().await? {
        Some(l) if l.trim() == "GO" => Ok(()),
        other => Err(ServerError::Driver(format!("expected GO, got {other:?}"))),
    }
}

async fn done<R>(sent: Sent, stdin: &mut tokio::io::Lines<BufReader<R>>) -> Result<(), ServerError>
where
    R: tokio::io::AsyncRead + Unpin,
{
    println!("DONE {} {}", sent.messages, sent.cpu_ns);
    // Keep serving (the queues drain) until the driver has its numbers and closes stdin.
    while stdin.next_line().await?.is_some() {}
    Ok(())
}

/// The driver only says GO once every viewer has sent `subscribe`; this covers the hop from the
/// server's socket to its publish path.
async fn wait_for(mut ready: impl FnMut() -> bool) -> Result<(), ServerError> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(ServerError::NoSubscriber);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
