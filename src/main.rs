//! The `foxglove_gateway` executable: parse the configuration, assemble, run until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use foxglove_gateway::config::{load_params_file, ros_args_params, strip_ros_args, Config};
use foxglove_gateway::demo::{self, DemoOptions};
use foxglove_gateway::gateway::Gateway;
use foxglove_gateway::ros::scenario::Scenario;
use foxglove_gateway::ros::sim::SimGraph;
use foxglove_gateway::schema::SchemaStore;

mod allocator;

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
    /// Parameters in the `ros__parameters` YAML layout (as for `ros2 run --params-file`); names
    /// and defaults as foxglove_bridge's.
    #[arg(long, value_name = "FILE")]
    params_file: Option<PathBuf>,
    /// Serve a simulated graph described by this scenario file instead of ROS.
    #[arg(long, value_name = "FILE")]
    sim_scenario: Option<PathBuf>,
    #[command(flatten)]
    demo: DemoOptions,
    /// Extra ament prefix for message definitions, searched after AMENT_PREFIX_PATH
    /// (repeatable). With a simulated graph, the repository's `interfaces/` is added too.
    #[arg(long, value_name = "DIR")]
    interfaces: Vec<PathBuf>,
    #[command(flatten)]
    record: RecordOptions,
}

/// Recording flags (each overrides the parameter of the same name).
#[derive(Debug, clap::Args)]
struct RecordOptions {
    /// Serve this MCAP recording (ours, or `ros2 bag record`'s) instead of a graph, with
    /// Foxglove's playback controls; no ROS needed. Parameter `play`.
    #[arg(long, value_name = "FILE.mcap")]
    play: Option<PathBuf>,
    /// Keep the last N seconds of recorded topics for the black box (0 = off).
    #[arg(long, value_name = "N")]
    blackbox_seconds: Option<u64>,
    /// Where recordings are written and served from.
    #[arg(long, value_name = "DIR")]
    recordings_dir: Option<PathBuf>,
    /// Record the black box topics continuously to rotating files.
    #[arg(long)]
    record: bool,
    /// Serve recordings_dir to Foxglove's remote data loader over HTTP.
    #[arg(long)]
    data_backend: bool,
    /// Data backend port (0 picks a free one).
    #[arg(long, value_name = "PORT")]
    data_backend_port: Option<u16>,
    /// Data backend address.
    #[arg(long, value_name = "ADDR")]
    data_backend_address: Option<String>,
}

impl RecordOptions {
    /// The parameters these flags override.
    fn apply(&self, c: &mut Config) {
        if let Some(p) = &self.play {
            c.play = p.display().to_string();
        }
        if let Some(n) = self.blackbox_seconds {
            c.blackbox_seconds = n;
        }
        if let Some(d) = &self.recordings_dir {
            c.recordings_dir = d.display().to_string();
        }
        c.record |= self.record;
        c.data_backend |= self.data_backend;
        if let Some(p) = self.data_backend_port {
            c.data_backend_port = p;
        }
        if let Some(a) = &self.data_backend_address {
            c.data_backend_address = a.clone();
        }
    }
}

fn main() -> ExitCode {
    // `ros2 run`/`ros2 launch` append `--ros-args ...`: that part is rcl's, not ours.
    let cli = Cli::parse_from(strip_ros_args(std::env::args_os()));
    // `play:=FILE` (launch) selects playback before any node exists: it needs no ROS.
    let launch_params = match ros_args_params(std::env::args_os(), NODE_NAME) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("foxglove_gateway: {e}");
            return ExitCode::FAILURE;
        }
    };
    let launch_play = matches!(
        launch_params.get("play"),
        Some(foxglove_gateway::config::ParamValue::String(s)) if !s.is_empty()
    );
    let playing = cli.record.play.is_some() || launch_play;
    init_logging(cli.sim_scenario.is_none() && !cli.demo.enabled() && !playing);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(allocator::on_park)
        .thread_keep_alive(allocator::BLOCKING_KEEP_ALIVE)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("foxglove_gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if playing {
        runtime.block_on(run_play(cli, launch_params))
    } else {
        runtime.block_on(run(cli))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("foxglove_gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The node name, for params files and (with ROS) the node itself.
const NODE_NAME: &str = "foxglove_gateway";

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    allocator::spawn_housekeeping();
    if cli.sim_scenario.is_none() && !cli.demo.enabled() {
        #[cfg(feature = "ros2")]
        return run_ros({
            let (port, address, record) = (cli.port, cli.address, cli.record);
            move |c: &mut Config| {
                config_overrides(port, address)(c);
                record.apply(c);
            }
        })
        .await;
        #[cfg(not(feature = "ros2"))]
        return Err(
            "this build has no ROS 2 backend (built with --no-default-features): run with \
             --demo or --sim-scenario FILE, or build with the default features in a sourced \
             ROS 2 workspace (see docs/ROBOT.md)"
                .into(),
        );
    };
    let mut config = match &cli.params_file {
        Some(path) => {
            let params = load_params_file(path, NODE_NAME)?;
            let (config, warnings) = Config::from_params(&params)?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            config
        }
        None => Config::default(),
    };
    config_overrides(cli.port, cli.address)(&mut config);
    cli.record.apply(&mut config);
    let scenario = match &cli.sim_scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::default(),
    };
    let mut prefixes = ament_prefixes();
    prefixes.extend(cli.interfaces);
    prefixes.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/interfaces"
    )));
    let schemas = Arc::new(SchemaStore::new(prefixes));

    let sim = SimGraph::new();
    sim.set_use_sim_time(config.use_sim_time);
    let gateway = Gateway::start(config, schemas.clone(), |io| {
        sim.start(io);
    })
    .await?;
    let _nodes = scenario.start(&sim, &schemas)?;
    // The simulated robot runs on a runtime and thread of its own, as a robot's nodes run in
    // processes of their own: the gateway's workers serving a storm of viewers must not delay
    // its timers (the abuse tier measures a bystander's /odom rate against it).
    let robot = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _demo = {
        let _inside = robot.enter();
        demo::start(&cli.demo, &sim, &schemas)?
    };
    let (stop_robot, robot_stopped) = tokio::sync::oneshot::channel::<()>();
    let robot_thread = std::thread::Builder::new()
        .name("demo-robot".into())
        .spawn(move || {
            let _ = robot.block_on(robot_stopped);
        })?;
    announce(&gateway);
    let remote = start_remote(&gateway);
    wait_for_signal().await;
    tracing::info!("shutting down");
    stop_remote(remote).await;
    gateway.shutdown(Duration::from_secs(2)).await;
    drop(_demo);
    let _ = stop_robot.send(());
    let _ = robot_thread.join();
    Ok(())
}

/// Serve a recording (`--play FILE`, or `play:=FILE` through launch): parameters from the params
/// file or the launch's `--ros-args`, then the command-line flags.
async fn run_play(
    cli: Cli,
    launch_params: std::collections::BTreeMap<String, foxglove_gateway::config::ParamValue>,
) -> Result<(), Box<dyn std::error::Error>> {
    use foxglove_gateway::hub::HubExtras;
    use foxglove_gateway::record::player::Player;

    let mut params = launch_params;
    if let Some(path) = &cli.params_file {
        params.extend(load_params_file(path, NODE_NAME)?);
    }
    let (mut config, warnings) = Config::from_params(&params)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    config_overrides(cli.port, cli.address)(&mut config);
    cli.record.apply(&mut config);
    // A recording is not a robot: nothing to publish to, no parameters, no services; and
    // recording the playback again would only copy the file.
    config.capabilities.clear();
    config.blackbox_seconds = 0;
    config.record = false;
    let path = PathBuf::from(&config.play);
    let schemas = Arc::new(SchemaStore::new(Vec::new()));
    let player = Player::open(&path, &schemas)
        .map_err(|e| format!("cannot play {}: {e}", path.display()))?;
    let (playing, skipped) = player.channel_counts();
    tracing::info!(file = %path.display(), channels = playing, skipped, "playing a recording");
    let extras = HubExtras {
        recorder: None,
        playback: Some(player.hook()),
    };
    let gateway = Gateway::start_with(config, schemas, extras, |io, hub| {
        player.start(io, hub);
    })
    .await?;
    announce(&gateway);
    wait_for_signal().await;
    tracing::info!("shutting down");
    gateway.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

/// The command-line flags that override parameters.
fn config_overrides(port: Option<u16>, address: Option<String>) -> impl FnOnce(&mut Config) {
    move |config| {
        if let Some(port) = port {
            config.port = port;
        }
        if let Some(address) = address {
            config.address = address;
        }
    }
}

/// Serve the real ROS graph: the node's parameters configure everything (a params file and
/// command-line flags apply on top only for what they name).
#[cfg(feature = "ros2")]
async fn run_ros(overrides: impl FnOnce(&mut Config)) -> Result<(), Box<dyn std::error::Error>> {
    use foxglove_gateway::config::ParamValue;
    use foxglove_gateway::ros::rcl_backend;
    use tokio_util::sync::CancellationToken;

    let schemas = Arc::new(SchemaStore::new(ament_prefixes()));
    let (mut config, warnings, backend) =
        tokio::task::block_in_place(|| rcl_backend::start(NODE_NAME, schemas.clone()))?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    overrides(&mut config);
    let params = backend.params();
    let stop_ros = CancellationToken::new();
    let mut ros_task = None;
    let gateway = Gateway::start(config, schemas, |io| {
        ros_task = Some(tokio::spawn(backend.run(io, stop_ros.clone())));
    })
    .await?;
    // As foxglove_bridge does: with port 0, the parameter tells the real port.
    params.set(
        "port",
        ParamValue::Integer(i64::from(gateway.local_addr().port())),
    );
    announce(&gateway);
    let remote = start_remote(&gateway);
    let mut ros_task = ros_task.expect("the backend was started");
    tokio::select! {
        _ = wait_for_signal() => {}
        r = &mut ros_task => {
            gateway.shutdown(Duration::from_secs(2)).await;
            return match r {
                Ok(Ok(())) => Err("the ROS node stopped".into()),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            };
        }
    }
    tracing::info!("shutting down");
    stop_remote(remote).await;
    // Viewers first (they get a Close frame), then the node, and only then exit: a process
    // that exits before its node is destroyed leaves a ghost in the graph until the DDS lease
    // expires. All within ~2 s of the signal, before `ros2 launch` escalates.
    gateway.shutdown(Duration::from_millis(1000)).await;
    stop_ros.cancel();
    match tokio::time::timeout(Duration::from_secs(1), ros_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!("the ROS node stopped with an error: {e}"),
        Ok(Err(e)) => tracing::warn!("the ROS thread failed: {e}"),
        Err(_) => tracing::warn!("the ROS node did not stop within 1 s"),
    }
    Ok(())
}

/// Logs go to stderr; on a real graph they go to `/rosout` instead (rcutils prints them to the
/// console too, so a second console layer would print every line twice).
fn init_logging(ros: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // On a real graph the node's ROS log level decides (`debug:=true`, `--log-level`), so the
    // gateway's own debug events must get as far as the rosout layer.
    let default = if ros {
        "info,foxglove_gateway=debug"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let registry = tracing_subscriber::registry().with(filter);
    #[cfg(feature = "ros2")]
    if ros {
        registry
            .with(foxglove_gateway::ros::rcl_backend::RosoutLayer::new())
            .init();
        return;
    }
    let _ = ros;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    registry.with(fmt).init();
}

/// Start remote access if `remote_access` is on. A failure to start is logged, not fatal: the
/// local WebSocket server keeps serving.
fn start_remote(gateway: &Gateway) -> Option<foxglove_gateway::remote::RemoteAccess> {
    if !gateway.hub().config().remote_access {
        return None;
    }
    #[cfg(feature = "remote-access")]
    {
        use foxglove_gateway::remote::{livekit_connector, RemoteAccess};
        match RemoteAccess::start(gateway.hub().clone(), livekit_connector()) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!("remote access not started: {e}");
                None
            }
        }
    }
    #[cfg(not(feature = "remote-access"))]
    {
        tracing::error!(
            "remote_access is set, but this build has no remote access: rebuild with \
             `--features remote-access` (see docs/REMOTE.md)"
        );
        None
    }
}

async fn stop_remote(remote: Option<foxglove_gateway::remote::RemoteAccess>) {
    if let Some(r) = remote {
        match tokio::time::timeout(Duration::from_secs(1), r.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("remote access: {e}"),
            Err(_) => tracing::warn!("remote access did not stop within 1 s"),
        }
    }
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
    let scheme = if gateway.hub().config().tls {
        "wss"
    } else {
        "ws"
    };
    let _ = writeln!(out, "foxglove_gateway listening on {scheme}://{addr}");
    if let Some(d) = gateway.data_backend_addr() {
        let _ = writeln!(out, "foxglove_gateway data backend on http://{d}");
    }
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
