//! The `foxglove_gateway` executable: parse the configuration, assemble, run until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use foxglove_gateway::config::Config;
use foxglove_gateway::gateway::Gateway;
use foxglove_gateway::ros::scenario::Scenario;
use foxglove_gateway::ros::sim::SimGraph;
use foxglove_gateway::schema::SchemaStore;

/// Serve a ROS 2 robot (or a simulated one) to Foxglove.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// WebSocket port (overrides the params file); 0 picks a free port.
    #[arg(long)]
    port: Option<u16>,
    /// Bind address (overrides the params file).
    #[arg(long)]
    address: Option<String>,
    /// Serve a simulated graph described by this scenario file instead of ROS.
    #[arg(long, value_name = "FILE")]
    sim_scenario: Option<PathBuf>,
    /// Extra ament prefix for message definitions, searched after AMENT_PREFIX_PATH
    /// (repeatable). With a simulated graph, the repository's `interfaces/` is added too.
    #[arg(long, value_name = "DIR")]
    interfaces: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("foxglove_gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("foxglove_gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::default();
    if let Some(port) = cli.port {
        config.port = port;
    }
    if let Some(address) = cli.address {
        config.address = address;
    }
    let Some(scenario_path) = cli.sim_scenario else {
        return Err(
            "this build has no ROS 2 backend: run with --sim-scenario FILE, \
                    or build with `--features ros2` in a sourced ROS 2 workspace"
                .into(),
        );
    };
    let scenario = Scenario::load(&scenario_path)?;
    let mut prefixes = ament_prefixes();
    prefixes.extend(cli.interfaces);
    prefixes.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/interfaces"
    )));
    let schemas = Arc::new(SchemaStore::new(prefixes));

    let sim = SimGraph::new();
    let gateway = Gateway::start(config, schemas.clone(), |io| {
        sim.start(io);
    })
    .await?;
    let _nodes = scenario.start(&sim, &schemas)?;
    announce(&gateway);
    wait_for_signal().await;
    tracing::info!("shutting down");
    gateway.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

/// `AMENT_PREFIX_PATH`, left to right (overlays first).
fn ament_prefixes() -> Vec<PathBuf> {
    std::env::var_os("AMENT_PREFIX_PATH")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// One machine-readable line on stdout once viewers can connect (tests wait for it).
fn announce(gateway: &Gateway) {
    use std::io::Write;
    let addr = gateway.local_addr();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "foxglove_gateway listening on ws://{addr}");
    let _ = out.flush();
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
