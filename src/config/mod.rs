//! Every parameter of the gateway in one validated struct.
//!
//! Names and defaults follow foxglove_bridge 3.4.3 (`../shared/reference/anchors.md` §A.2) so a
//! launch file or params file written for it works here; every `*_whitelist` also answers to
//! `*_allowlist`. Regexes are compiled once at load: a bad one fails startup naming the
//! parameter, instead of being skipped as foxglove_bridge does.

use std::time::Duration;

mod args;
mod file;
mod params;

pub use args::{ros_args_params, strip_ros_args};
pub use file::load_params_file;
pub use params::ParamValue;

/// A list of regular expressions matched against whole names, case-insensitively, the way
/// foxglove_bridge matches its whitelists (ECMAScript `regex_match` with `icase`).
///
/// `fancy-regex` rather than `regex` because the idiom `(?!)` ("match nothing", the only way to
/// say "empty list" through a launch file) needs look-around.
#[derive(Debug, Clone)]
pub struct Patterns {
    sources: Vec<String>,
    compiled: Vec<fancy_regex::Regex>,
}

impl Patterns {
    /// Compile `sources`; `param` names the parameter in the error.
    pub fn new<S: AsRef<str>>(param: &str, sources: &[S]) -> Result<Self, ConfigError> {
        let mut compiled = Vec::with_capacity(sources.len());
        for s in sources {
            let s = s.as_ref();
            let re = fancy_regex::RegexBuilder::new(&format!("^(?:{s})$"))
                .case_insensitive(true)
                .build()
                .map_err(|e| ConfigError::BadRegex {
                    param: param.to_string(),
                    pattern: s.to_string(),
                    reason: e.to_string(),
                })?;
            compiled.push(re);
        }
        Ok(Patterns {
            sources: sources.iter().map(|s| s.as_ref().to_string()).collect(),
            compiled,
        })
    }

    /// Matches everything: `[".*"]`.
    pub fn all() -> Self {
        Self::new("", &[".*"]).expect("static pattern")
    }

    /// Matches nothing: `["(?!)"]`.
    pub fn none() -> Self {
        Self::new("", &["(?!)"]).expect("static pattern")
    }

    /// True if any pattern matches the whole of `name`.
    pub fn matches(&self, name: &str) -> bool {
        self.compiled
            .iter()
            .any(|re| re.is_match(name).unwrap_or(false))
    }

    /// The patterns as given.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
}

/// A parameter value that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A regex did not compile.
    #[error("parameter {param}: invalid regular expression {pattern:?}: {reason}")]
    BadRegex {
        /// The parameter.
        param: String,
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// A value has the wrong type or is out of range.
    #[error("parameter {param}: {reason}")]
    BadValue {
        /// The parameter.
        param: String,
        /// What was expected.
        reason: String,
    },
    /// The params file could not be read or parsed.
    #[error("params file {path}: {reason}")]
    ParamsFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Capabilities a viewer can be offered (foxglove_bridge's `capabilities` parameter).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "clientPublish",
    "parameters",
    "parametersSubscribe",
    "services",
    "connectionGraph",
    "assets",
];

/// foxglove_bridge's default `asset_uri_allowlist`: package:// meshes and images only.
pub const DEFAULT_ASSET_URI_ALLOWLIST: &str = r"^package://(?:[-\w%]+/)*[-\w%.]+\.(?:dae|fbx|glb|gltf|jpeg|jpg|mtl|obj|png|stl|tif|tiff|urdf|webp|xacro)$";

/// foxglove_bridge's default `sysinfo_topic`.
pub const DEFAULT_SYSINFO_TOPIC: &str = "/foxglove_bridge/sysinfo";

/// foxglove_bridge's default `video_transcode_topic_denylist`: depth images stay raw.
pub const DEFAULT_VIDEO_TRANSCODE_TOPIC_DENYLIST: &str = ".*/compressedDepth";

/// Default `max_connections`: far more viewers than a robot ever has, few enough that their
/// bounded queues fit beside the robot's software.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;

/// Where the Foxglove API lives unless `foxglove_api_url` / `FOXGLOVE_API_URL` says otherwise.
pub const DEFAULT_FOXGLOVE_API_URL: &str = "https://api.foxglove.dev";

/// Default `blackbox_max_bytes`: 256 MiB of payload.
pub const DEFAULT_BLACKBOX_MAX_BYTES: usize = 256 * 1024 * 1024;
/// Default `record_max_file_bytes`: 1 GiB of payload per file.
pub const DEFAULT_RECORD_MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;
/// Default `record_max_file_seconds`: 10 minutes per file.
pub const DEFAULT_RECORD_MAX_FILE_SECONDS: u64 = 600;
/// Default `data_backend_port`.
pub const DEFAULT_DATA_BACKEND_PORT: u16 = 8766;

/// The gateway's configuration. Build it with [`Config::default`] and the loaders; every field is
/// already validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// `port`: WebSocket port; 0 picks a free one. Default 8765.
    pub port: u16,
    /// `address`: bind address. Default `0.0.0.0`.
    pub address: String,
    /// `tls`: serve `wss://`.
    pub tls: bool,
    /// `certfile`: PEM certificate chain.
    pub certfile: String,
    /// `keyfile`: PEM private key.
    pub keyfile: String,
    /// `topic_whitelist` / `topic_allowlist`: topics advertised to viewers.
    pub topic_whitelist: Patterns,
    /// `service_whitelist` / `service_allowlist`.
    pub service_whitelist: Patterns,
    /// `param_whitelist` / `param_allowlist`.
    pub param_whitelist: Patterns,
    /// `client_topic_whitelist` / `client_topic_allowlist`: topics viewers may publish to.
    /// Enforced (foxglove_bridge 3.4.3 parses but ignores it).
    pub client_topic_whitelist: Patterns,
    /// `send_buffer_limit`: bytes of message data queued per viewer before the oldest is dropped.
    pub send_buffer_limit: usize,
    /// `message_backlog_size`: messages queued per viewer (data queue) and the control queue bound.
    pub message_backlog_size: usize,
    /// `capabilities` offered to viewers.
    pub capabilities: Vec<String>,
    /// `asset_uri_allowlist`.
    pub asset_uri_allowlist: Patterns,
    /// `min_qos_depth`. Default 50, not foxglove_bridge's 1: the reader is the gateway's only
    /// slack against its thread being descheduled, and with Cyclone DDS what it overwrites is
    /// lost without a count (docs/BENCHMARK.md, "Real-ROS results": depth 10 lost messages at
    /// 1 kHz on a 2-core machine). Memory is spent only while the gateway is behind.
    pub min_qos_depth: u32,
    /// `max_qos_depth`. Default 100, at least `min_qos_depth` (foxglove_bridge: 25 in its code,
    /// 10 in its launch file).
    pub max_qos_depth: u32,
    /// `best_effort_qos_topic_whitelist`: topics forced to best-effort subscriptions.
    pub best_effort_qos_topic_whitelist: Patterns,
    /// `include_hidden`: show topics and services whose names start with `_` or contain `/_`.
    pub include_hidden: bool,
    /// `ignore_unresponsive_param_nodes`.
    pub ignore_unresponsive_param_nodes: bool,
    /// `use_sim_time`: drive log times and the `time` capability from `/clock`.
    pub use_sim_time: bool,
    /// `debug`: verbose logging.
    pub debug: bool,
    /// `zero_twist_on_disconnect` (ours): when a viewer that published a Twist or TwistStamped
    /// goes away or unadvertises, publish one zero message so the robot stops. Default true.
    pub zero_twist_on_disconnect: bool,
    /// `keepalive_interval_ms` (ours): how often the server pings each viewer. 0 disables.
    pub keepalive_interval: Duration,
    /// `keepalive_timeout_ms` (ours): a viewer silent this long is dropped.
    pub keepalive_timeout: Duration,
    /// `max_incoming_message_size` (ours): largest frame a viewer may send, in bytes.
    pub max_incoming_message_size: usize,
    /// `service_call_timeout_ms` (ours): a service call not answered by then fails.
    pub service_call_timeout: Duration,
    /// `max_connections` (ours): WebSocket connections held at once, handshakes included. A
    /// connection over it is answered HTTP 503 naming the limit and closed at once.
    pub max_connections: usize,
    /// `handshake_timeout_ms` (ours): time a new connection has to complete the TLS handshake
    /// (with `tls`) and the HTTP upgrade together; a slower one is dropped (HTTP 408 if possible).
    pub handshake_timeout: Duration,
    /// `max_client_channels` (ours): client channels one viewer may have advertised at once.
    pub max_client_channels: usize,
    /// `max_parameter_subscriptions` (ours): parameter names one viewer may subscribe to.
    pub max_parameter_subscriptions: usize,
    /// `client_publish_queue_size` (ours): messages of one client channel waiting for ROS behind
    /// the one being published; over it the oldest is dropped (counted and reported).
    pub client_publish_queue_size: usize,
    /// `asset_buffer_limit` (ours): bytes of asset responses held at once (read and not yet
    /// written), all viewers together; one viewer may hold a quarter of it (or one larger asset
    /// alone). Requests over it wait.
    pub asset_buffer_limit: usize,
    /// `remote_access`: start the remote-access gateway.
    pub remote_access: bool,
    /// `device_token` (or `FOXGLOVE_DEVICE_TOKEN`). Never logged.
    pub device_token: Option<Secret>,
    /// `foxglove_api_url` (or `FOXGLOVE_API_URL`).
    pub foxglove_api_url: String,
    /// `max_data_track_message_size` (≥ 1200).
    pub max_data_track_message_size: usize,
    /// `num_threads`: accepted for compatibility and ignored (one ROS thread owns the node).
    pub num_threads: u32,
    /// `use_compression`: accepted and ignored with a warning (foxglove_bridge 3.x ignores it too;
    /// permessage-deflate costs much CPU for little gain on binary data).
    pub use_compression: bool,
    /// `disable_load_message`: accepted and ignored (the gateway takes serialized messages, never loaned ones).
    pub disable_load_message: bool,
    /// `publish_client_count`: publish the viewer count on `/<node>/client_count`.
    pub publish_client_count: bool,
    /// `sysinfo`: publish process/system load as a Foxglove channel.
    pub sysinfo: bool,
    /// `sysinfo_topic`: the channel name for `sysinfo`.
    pub sysinfo_topic: String,
    /// `sysinfo_refresh_interval` (ms, ≥ 200).
    pub sysinfo_refresh_interval: Duration,
    /// `video_encoder` (remote access): `auto`, `software`, `hardware`, `nvenc`, `vaapi` or
    /// `videotoolbox`.
    pub video_encoder: String,
    /// `video_transcode_topic_denylist` (remote access): image topics never transcoded to video.
    pub video_transcode_topic_denylist: Patterns,
    /// `point_cloud_compression_topic_denylist` (remote access): topics never Draco-compressed.
    pub point_cloud_compression_topic_denylist: Patterns,
    /// `point_cloud_compression_quantization_bits` (remote access), 1..=30.
    pub point_cloud_compression_quantization_bits: u32,
    // --- Recordings (src/record/) ---
    /// `recordings_dir`: where recordings are written and served from; empty means
    /// `$ROS_HOME/foxglove_gateway/recordings` (`~/.ros/...`).
    pub recordings_dir: String,
    /// `blackbox_seconds`: keep the last N seconds of recorded topics in memory, saved on demand
    /// (service `/foxglove_gateway/save_blackbox`); 0 = off (the default).
    pub blackbox_seconds: u64,
    /// `blackbox_max_bytes`: the black box never holds more than this (payload plus a small
    /// per-message overhead).
    pub blackbox_max_bytes: usize,
    /// `blackbox_topic_whitelist`: topics recorded (black box and `record`).
    pub blackbox_topic_whitelist: Patterns,
    /// `record`: record the same topics continuously to rotating files.
    pub record: bool,
    /// `record_max_file_bytes`: start a new file after this many payload bytes (0 = no limit).
    pub record_max_file_bytes: u64,
    /// `record_max_file_seconds`: start a new file after this much log time (0 = no limit).
    pub record_max_file_seconds: u64,
    /// `data_backend`: serve `recordings_dir` to Foxglove's remote data loader over HTTP.
    pub data_backend: bool,
    /// `data_backend_address`: where the data backend listens (default loopback: the
    /// recordings are served without authentication).
    pub data_backend_address: String,
    /// `data_backend_port`: its port; 0 picks a free one.
    pub data_backend_port: u16,
    /// `play`: serve this MCAP recording instead of the live graph (no ROS needed); empty = live.
    pub play: String,
}

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 8765,
            address: "0.0.0.0".into(),
            tls: false,
            certfile: String::new(),
            keyfile: String::new(),
            topic_whitelist: Patterns::all(),
            service_whitelist: Patterns::all(),
            param_whitelist: Patterns::all(),
            client_topic_whitelist: Patterns::all(),
            send_buffer_limit: 10_000_000,
            message_backlog_size: 1024,
            capabilities: DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect(),
            asset_uri_allowlist: Patterns::new(
                "asset_uri_allowlist",
                &[DEFAULT_ASSET_URI_ALLOWLIST],
            )
            .expect("static pattern"),
            min_qos_depth: 50,
            max_qos_depth: 100,
            best_effort_qos_topic_whitelist: Patterns::none(),
            include_hidden: false,
            ignore_unresponsive_param_nodes: true,
            use_sim_time: false,
            debug: false,
            zero_twist_on_disconnect: true,
            keepalive_interval: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(20),
            max_incoming_message_size: 16 * 1024 * 1024,
            service_call_timeout: Duration::from_secs(5),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            handshake_timeout: Duration::from_secs(10),
            max_client_channels: 64,
            max_parameter_subscriptions: 10_000,
            client_publish_queue_size: 10,
            asset_buffer_limit: 64 << 20,
            remote_access: false,
            device_token: None,
            foxglove_api_url: DEFAULT_FOXGLOVE_API_URL.into(),
            max_data_track_message_size: 102_400,
            num_threads: 0,
            use_compression: false,
            disable_load_message: true,
            publish_client_count: false,
            sysinfo: true,
            sysinfo_topic: DEFAULT_SYSINFO_TOPIC.into(),
            sysinfo_refresh_interval: Duration::from_millis(500),
            video_encoder: "auto".into(),
            video_transcode_topic_denylist: Patterns::new(
                "video_transcode_topic_denylist",
                &[DEFAULT_VIDEO_TRANSCODE_TOPIC_DENYLIST],
            )
            .expect("static pattern"),
            point_cloud_compression_topic_denylist: Patterns::none(),
            point_cloud_compression_quantization_bits: 12,
            recordings_dir: String::new(),
            blackbox_seconds: 0,
            blackbox_max_bytes: DEFAULT_BLACKBOX_MAX_BYTES,
            blackbox_topic_whitelist: Patterns::all(),
            record: false,
            record_max_file_bytes: DEFAULT_RECORD_MAX_FILE_BYTES,
            record_max_file_seconds: DEFAULT_RECORD_MAX_FILE_SECONDS,
            data_backend: false,
            data_backend_address: "127.0.0.1".into(),
            data_backend_port: DEFAULT_DATA_BACKEND_PORT,
            play: String::new(),
        }
    }
}
