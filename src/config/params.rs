//! ROS parameters ⇄ [`Config`]: names, types, ranges, aliases and environment fallbacks.
//!
//! The same map comes from three places (the node's parameter overrides under ROS, a
//! `--params-file` without ROS, and [`Config::to_params`] for serving values back), so the whole
//! policy lives here once.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Config, ConfigError, Patterns, Secret, DEFAULT_FOXGLOVE_API_URL};

/// One ROS parameter value, mirroring `rcl_interfaces/msg/ParameterValue` (minus "not set").
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `bool`.
    Bool(bool),
    /// `int64`.
    Integer(i64),
    /// `float64`.
    Double(f64),
    /// `string`.
    String(String),
    /// `byte[]`.
    ByteArray(Vec<u8>),
    /// `bool[]`.
    BoolArray(Vec<bool>),
    /// `int64[]`.
    IntegerArray(Vec<i64>),
    /// `float64[]`.
    DoubleArray(Vec<f64>),
    /// `string[]`.
    StringArray(Vec<String>),
}

impl ParamValue {
    /// The ROS name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::Bool(_) => "bool",
            ParamValue::Integer(_) => "integer",
            ParamValue::Double(_) => "double",
            ParamValue::String(_) => "string",
            ParamValue::ByteArray(_) => "byte array",
            ParamValue::BoolArray(_) => "bool array",
            ParamValue::IntegerArray(_) => "integer array",
            ParamValue::DoubleArray(_) => "double array",
            ParamValue::StringArray(_) => "string array",
        }
    }
}

/// The whitelist-style parameters: (foxglove_bridge name, `*_allowlist` alias).
const LIST_ALIASES: &[(&str, &str)] = &[
    ("topic_whitelist", "topic_allowlist"),
    ("service_whitelist", "service_allowlist"),
    ("param_whitelist", "param_allowlist"),
    ("client_topic_whitelist", "client_topic_allowlist"),
    (
        "best_effort_qos_topic_whitelist",
        "best_effort_qos_topic_allowlist",
    ),
];

/// Capabilities a viewer may be offered through `capabilities`.
const KNOWN_CAPABILITIES: &[&str] = &[
    "clientPublish",
    "parameters",
    "parametersSubscribe",
    "services",
    "connectionGraph",
    "assets",
];

/// Accepted values of `video_encoder`.
const VIDEO_ENCODERS: &[&str] = &[
    "auto",
    "software",
    "hardware",
    "nvenc",
    "vaapi",
    "videotoolbox",
];

/// Every parameter name [`Config::from_params`] understands (aliases included).
pub(crate) const KNOWN_PARAMS: &[&str] = &[
    "port",
    "address",
    "tls",
    "certfile",
    "keyfile",
    "topic_whitelist",
    "topic_allowlist",
    "service_whitelist",
    "service_allowlist",
    "param_whitelist",
    "param_allowlist",
    "client_topic_whitelist",
    "client_topic_allowlist",
    "best_effort_qos_topic_whitelist",
    "best_effort_qos_topic_allowlist",
    "send_buffer_limit",
    "message_backlog_size",
    "capabilities",
    "asset_uri_allowlist",
    "min_qos_depth",
    "max_qos_depth",
    "num_threads",
    "include_hidden",
    "disable_load_message",
    "use_compression",
    "ignore_unresponsive_param_nodes",
    "use_sim_time",
    "debug",
    "publish_client_count",
    "sysinfo",
    "sysinfo_topic",
    "sysinfo_refresh_interval",
    "remote_access",
    "device_token",
    "foxglove_api_url",
    "video_encoder",
    "max_data_track_message_size",
    "video_transcode_topic_denylist",
    "point_cloud_compression_topic_denylist",
    "point_cloud_compression_quantization_bits",
    "zero_twist_on_disconnect",
    "keepalive_interval_ms",
    "keepalive_timeout_ms",
    "max_incoming_message_size",
    "service_call_timeout_ms",
    "max_connections",
    "handshake_timeout_ms",
    "max_client_channels",
    "max_parameter_subscriptions",
    "client_publish_queue_size",
    "asset_buffer_limit",
];

fn bad(param: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        param: param.to_string(),
        reason: reason.into(),
    }
}

/// Typed access to the parameter map; every getter names the parameter in its error.
struct Reader<'a> {
    params: &'a BTreeMap<String, ParamValue>,
}

impl Reader<'_> {
    fn bool(&self, name: &str, into: &mut bool) -> Result<(), ConfigError> {
        match self.params.get(name) {
            None => Ok(()),
            Some(ParamValue::Bool(b)) => {
                *into = *b;
                Ok(())
            }
            Some(v) => Err(bad(name, format!("expected a bool, got {}", v.type_name()))),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(ParamValue::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(bad(
                name,
                format!("expected a string, got {}", v.type_name()),
            )),
        }
    }

    /// An integer in `min..=max`.
    fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(ParamValue::Integer(i)) if (min..=max).contains(i) => Ok(Some(*i)),
            Some(ParamValue::Integer(i)) => Err(bad(name, format!("{i} is outside {min}..={max}"))),
            Some(v) => Err(bad(
                name,
                format!("expected an integer, got {}", v.type_name()),
            )),
        }
    }

    /// A list of strings; a single string is taken as a one-element list because that is what a
    /// launch argument like `topic_whitelist:=/scan` turns into.
    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(ParamValue::StringArray(v)) => Ok(Some(v.clone())),
            Some(ParamValue::String(s)) => Ok(Some(vec![s.clone()])),
            Some(v) => Err(bad(
                name,
                format!("expected a string array, got {}", v.type_name()),
            )),
        }
    }

    fn patterns(&self, name: &str, into: &mut Patterns) -> Result<(), ConfigError> {
        if let Some(list) = self.strings(name)? {
            *into = Patterns::new(name, &list)?;
        }
        Ok(())
    }

    /// A whitelist given under its foxglove_bridge name or its `*_allowlist` alias. When both are
    /// given the `*_allowlist` spelling wins (it is the newer name), with a warning if they differ.
    fn aliased_patterns(
        &self,
        name: &str,
        alias: &str,
        into: &mut Patterns,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let old = self.strings(name)?;
        let new = self.strings(alias)?;
        match (old, new) {
            (Some(o), Some(n)) => {
                if o != n {
                    warnings.push(format!(
                        "both {name} and {alias} are set; using {alias} ({n:?}) and ignoring \
                         {name} ({o:?})"
                    ));
                }
                *into = Patterns::new(alias, &n)?;
            }
            (Some(o), None) => *into = Patterns::new(name, &o)?,
            (None, Some(n)) => *into = Patterns::new(alias, &n)?,
            (None, None) => {}
        }
        Ok(())
    }
}

fn ms(name: &str, value: i64) -> Result<Duration, ConfigError> {
    u64::try_from(value)
        .map(Duration::from_millis)
        .map_err(|_| bad(name, "must not be negative"))
}

fn to_usize(name: &str, value: i64) -> Result<usize, ConfigError> {
    usize::try_from(value).map_err(|_| bad(name, format!("{value} does not fit this platform")))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn int_of(v: impl TryInto<i64>) -> ParamValue {
    ParamValue::Integer(v.try_into().unwrap_or(i64::MAX))
}

impl Config {
    /// Build a validated config from ROS parameters (names and defaults of foxglove_bridge 3.4.3
    /// plus ours). Missing parameters keep their defaults. Returns the config and warnings for the
    /// log (unknown parameters, accepted-but-ignored ones, conflicting aliases).
    ///
    /// `device_token` and `foxglove_api_url` fall back to `FOXGLOVE_DEVICE_TOKEN` and
    /// `FOXGLOVE_API_URL` when empty or absent.
    pub fn from_params(
        params: &BTreeMap<String, ParamValue>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        Self::from_params_with_env(params, |k| std::env::var(k).ok())
    }

    /// [`Config::from_params`] with the environment given as a lookup function, so tests never
    /// touch the process-global environment.
    pub fn from_params_with_env(
        params: &BTreeMap<String, ParamValue>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let r = Reader { params };
        let mut c = Config::default();
        let mut warnings = Vec::new();

        for name in params.keys() {
            if !KNOWN_PARAMS.contains(&name.as_str())
                && !record::NAMES.contains(&name.as_str())
                && !is_ros_owned(name)
            {
                warnings.push(format!("unknown parameter {name:?} ignored"));
            }
        }

        if let Some(p) = r.int("port", 0, 65535)? {
            c.port = u16::try_from(p).map_err(|_| bad("port", "out of range"))?;
        }
        if let Some(a) = r.string("address")? {
            if a.is_empty() {
                return Err(bad(
                    "address",
                    "must not be empty (use 0.0.0.0 for all interfaces)",
                ));
            }
            c.address = a;
        }
        r.bool("tls", &mut c.tls)?;
        if let Some(s) = r.string("certfile")? {
            c.certfile = s;
        }
        if let Some(s) = r.string("keyfile")? {
            c.keyfile = s;
        }
        if c.tls && c.certfile.is_empty() {
            return Err(bad("certfile", "required when tls is true"));
        }
        if c.tls && c.keyfile.is_empty() {
            return Err(bad("keyfile", "required when tls is true"));
        }

        for &(name, alias) in LIST_ALIASES {
            let field = match name {
                "topic_whitelist" => &mut c.topic_whitelist,
                "service_whitelist" => &mut c.service_whitelist,
                "param_whitelist" => &mut c.param_whitelist,
                "client_topic_whitelist" => &mut c.client_topic_whitelist,
                _ => &mut c.best_effort_qos_topic_whitelist,
            };
            r.aliased_patterns(name, alias, field, &mut warnings)?;
        }
        r.patterns("asset_uri_allowlist", &mut c.asset_uri_allowlist)?;
        r.patterns(
            "video_transcode_topic_denylist",
            &mut c.video_transcode_topic_denylist,
        )?;
        r.patterns(
            "point_cloud_compression_topic_denylist",
            &mut c.point_cloud_compression_topic_denylist,
        )?;

        if let Some(v) = r.int("send_buffer_limit", 1, i64::MAX)? {
            c.send_buffer_limit = to_usize("send_buffer_limit", v)?;
        }
        if let Some(v) = r.int("message_backlog_size", 1, i64::MAX)? {
            c.message_backlog_size = to_usize("message_backlog_size", v)?;
        }
        if let Some(caps) = r.strings("capabilities")? {
            let mut kept = Vec::new();
            for cap in caps {
                if cap == "time" {
                    // foxglove_bridge cannot set it either: it follows use_sim_time.
                    warnings.push(
                        "capabilities: \"time\" is ignored; it is offered when use_sim_time is true"
                            .into(),
                    );
                } else if KNOWN_CAPABILITIES.contains(&cap.as_str()) {
                    if !kept.contains(&cap) {
                        kept.push(cap);
                    }
                } else {
                    return Err(bad(
                        "capabilities",
                        format!(
                            "unknown capability {cap:?}; known: {}",
                            KNOWN_CAPABILITIES.join(", ")
                        ),
                    ));
                }
            }
            c.capabilities = kept;
        }

        let u32_max = i64::from(u32::MAX);
        if let Some(v) = r.int("min_qos_depth", 1, u32_max)? {
            c.min_qos_depth = v as u32; // in range by the check above
        }
        if let Some(v) = r.int("max_qos_depth", 1, u32_max)? {
            c.max_qos_depth = v as u32;
        }
        if c.min_qos_depth > c.max_qos_depth {
            return Err(bad(
                "min_qos_depth",
                format!(
                    "{} is larger than max_qos_depth {}",
                    c.min_qos_depth, c.max_qos_depth
                ),
            ));
        }
        if let Some(v) = r.int("num_threads", 0, u32_max)? {
            c.num_threads = v as u32;
            if v != 0 {
                warnings.push("num_threads is ignored: one thread owns the ROS node".into());
            }
        }

        r.bool("include_hidden", &mut c.include_hidden)?;
        r.bool("disable_load_message", &mut c.disable_load_message)?;
        r.bool("use_compression", &mut c.use_compression)?;
        if c.use_compression {
            warnings.push(
                "use_compression is ignored (foxglove_bridge 3.x ignores it too): deflate costs \
                 much CPU for little gain on binary data"
                    .into(),
            );
        }
        r.bool(
            "ignore_unresponsive_param_nodes",
            &mut c.ignore_unresponsive_param_nodes,
        )?;
        r.bool("use_sim_time", &mut c.use_sim_time)?;
        r.bool("debug", &mut c.debug)?;
        r.bool("publish_client_count", &mut c.publish_client_count)?;
        r.bool("sysinfo", &mut c.sysinfo)?;
        if let Some(s) = r.string("sysinfo_topic")? {
            if s.is_empty() {
                return Err(bad("sysinfo_topic", "must not be empty"));
            }
            c.sysinfo_topic = s;
        }
        if let Some(v) = r.int("sysinfo_refresh_interval", 200, i64::MAX)? {
            c.sysinfo_refresh_interval = ms("sysinfo_refresh_interval", v)?;
        }

        r.bool("remote_access", &mut c.remote_access)?;
        let token = r.string("device_token")?.filter(|s| !s.is_empty());
        c.device_token = token
            .or_else(|| env("FOXGLOVE_DEVICE_TOKEN").filter(|s| !s.is_empty()))
            .map(Secret::new);
        c.foxglove_api_url = r
            .string("foxglove_api_url")?
            .filter(|s| !s.is_empty())
            .or_else(|| env("FOXGLOVE_API_URL").filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_FOXGLOVE_API_URL.to_string());
        if let Some(s) = r.string("video_encoder")? {
            if !VIDEO_ENCODERS.contains(&s.as_str()) {
                return Err(bad(
                    "video_encoder",
                    format!(
                        "unknown encoder {s:?}; known: {}",
                        VIDEO_ENCODERS.join(", ")
                    ),
                ));
            }
            c.video_encoder = s;
        }
        if let Some(v) = r.int("max_data_track_message_size", 1200, i64::MAX)? {
            c.max_data_track_message_size = to_usize("max_data_track_message_size", v)?;
        }
        if let Some(v) = r.int("point_cloud_compression_quantization_bits", 1, 30)? {
            c.point_cloud_compression_quantization_bits = v as u32;
        }

        r.bool("zero_twist_on_disconnect", &mut c.zero_twist_on_disconnect)?;
        if let Some(v) = r.int("keepalive_interval_ms", 0, i64::MAX)? {
            c.keepalive_interval = ms("keepalive_interval_ms", v)?;
        }
        if let Some(v) = r.int("keepalive_timeout_ms", 1, i64::MAX)? {
            c.keepalive_timeout = ms("keepalive_timeout_ms", v)?;
        }
        if !c.keepalive_interval.is_zero() && c.keepalive_timeout < c.keepalive_interval {
            // A timeout shorter than the ping interval would drop every healthy idle viewer.
            return Err(bad(
                "keepalive_timeout_ms",
                format!(
                    "{} ms is shorter than keepalive_interval_ms {} ms",
                    c.keepalive_timeout.as_millis(),
                    c.keepalive_interval.as_millis()
                ),
            ));
        }
        if let Some(v) = r.int("max_incoming_message_size", 1024, i64::MAX)? {
            c.max_incoming_message_size = to_usize("max_incoming_message_size", v)?;
        }
        if let Some(v) = r.int("service_call_timeout_ms", 1, i64::MAX)? {
            c.service_call_timeout = ms("service_call_timeout_ms", v)?;
        }
        record::read(&r, &mut c)?;
        // Resource bounds (README "Limits"). Each is at least 1 so a typo cannot lock everyone
        // out; the upper ends only keep the arithmetic on them safe.
        if let Some(v) = r.int("max_connections", 1, 1 << 20)? {
            c.max_connections = to_usize("max_connections", v)?;
        }
        if let Some(v) = r.int("handshake_timeout_ms", 100, i64::MAX)? {
            c.handshake_timeout = ms("handshake_timeout_ms", v)?;
        }
        if let Some(v) = r.int("max_client_channels", 1, 1 << 20)? {
            c.max_client_channels = to_usize("max_client_channels", v)?;
        }
        if let Some(v) = r.int("max_parameter_subscriptions", 1, 1 << 30)? {
            c.max_parameter_subscriptions = to_usize("max_parameter_subscriptions", v)?;
        }
        if let Some(v) = r.int("client_publish_queue_size", 1, 1 << 20)? {
            c.client_publish_queue_size = to_usize("client_publish_queue_size", v)?;
        }
        if let Some(v) = r.int("asset_buffer_limit", 1 << 20, i64::from(u32::MAX))? {
            c.asset_buffer_limit = to_usize("asset_buffer_limit", v)?;
        }

        Ok((c, warnings))
    }

    /// The effective value of every parameter, as the node serves them back (`ros2 param get`).
    /// Whitelists appear under both spellings. The device token is never included: ROS
    /// parameters are readable by every node on the graph.
    pub fn to_params(&self) -> BTreeMap<String, ParamValue> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: ParamValue| {
            m.insert(k.to_string(), v);
        };
        let list = |p: &Patterns| ParamValue::StringArray(p.sources().to_vec());
        put("port", ParamValue::Integer(i64::from(self.port)));
        put("address", ParamValue::String(self.address.clone()));
        put("tls", ParamValue::Bool(self.tls));
        put("certfile", ParamValue::String(self.certfile.clone()));
        put("keyfile", ParamValue::String(self.keyfile.clone()));
        for &(name, alias) in LIST_ALIASES {
            let p = match name {
                "topic_whitelist" => &self.topic_whitelist,
                "service_whitelist" => &self.service_whitelist,
                "param_whitelist" => &self.param_whitelist,
                "client_topic_whitelist" => &self.client_topic_whitelist,
                _ => &self.best_effort_qos_topic_whitelist,
            };
            put(name, list(p));
            put(alias, list(p));
        }
        put("asset_uri_allowlist", list(&self.asset_uri_allowlist));
        put(
            "video_transcode_topic_denylist",
            list(&self.video_transcode_topic_denylist),
        );
        put(
            "point_cloud_compression_topic_denylist",
            list(&self.point_cloud_compression_topic_denylist),
        );
        put("send_buffer_limit", int_of(self.send_buffer_limit));
        put("message_backlog_size", int_of(self.message_backlog_size));
        put(
            "capabilities",
            ParamValue::StringArray(self.capabilities.clone()),
        );
        put(
            "min_qos_depth",
            ParamValue::Integer(i64::from(self.min_qos_depth)),
        );
        put(
            "max_qos_depth",
            ParamValue::Integer(i64::from(self.max_qos_depth)),
        );
        put(
            "num_threads",
            ParamValue::Integer(i64::from(self.num_threads)),
        );
        put("include_hidden", ParamValue::Bool(self.include_hidden));
        put(
            "disable_load_message",
            ParamValue::Bool(self.disable_load_message),
        );
        put("use_compression", ParamValue::Bool(self.use_compression));
        put(
            "ignore_unresponsive_param_nodes",
            ParamValue::Bool(self.ignore_unresponsive_param_nodes),
        );
        put("use_sim_time", ParamValue::Bool(self.use_sim_time));
        put("debug", ParamValue::Bool(self.debug));
        put(
            "publish_client_count",
            ParamValue::Bool(self.publish_client_count),
        );
        put("sysinfo", ParamValue::Bool(self.sysinfo));
        put(
            "sysinfo_topic",
            ParamValue::String(self.sysinfo_topic.clone()),
        );
        put(
            "sysinfo_refresh_interval",
            ParamValue::Integer(millis(self.sysinfo_refresh_interval)),
        );
        put("remote_access", ParamValue::Bool(self.remote_access));
        put(
            "foxglove_api_url",
            ParamValue::String(self.foxglove_api_url.clone()),
        );
        put(
            "video_encoder",
            ParamValue::String(self.video_encoder.clone()),
        );
        put(
            "max_data_track_message_size",
            int_of(self.max_data_track_message_size),
        );
        put(
            "point_cloud_compression_quantization_bits",
            ParamValue::Integer(i64::from(self.point_cloud_compression_quantization_bits)),
        );
        put(
            "zero_twist_on_disconnect",
            ParamValue::Bool(self.zero_twist_on_disconnect),
        );
        put(
            "keepalive_interval_ms",
            ParamValue::Integer(millis(self.keepalive_interval)),
        );
        put(
            "keepalive_timeout_ms",
            ParamValue::Integer(millis(self.keepalive_timeout)),
        );
        put(
            "max_incoming_message_size",
            int_of(self.max_incoming_message_size),
        );
        put(
            "service_call_timeout_ms",
            ParamValue::Integer(millis(self.service_call_timeout)),
        );
        put("max_connections", int_of(self.max_connections));
        put(
            "handshake_timeout_ms",
            ParamValue::Integer(millis(self.handshake_timeout)),
        );
        put("max_client_channels", int_of(self.max_client_channels));
        put(
            "max_parameter_subscriptions",
            int_of(self.max_parameter_subscriptions),
        );
        put(
            "client_publish_queue_size",
            int_of(self.client_publish_queue_size),
        );
        put("asset_buffer_limit", int_of(self.asset_buffer_limit));
        record::put(self, &mut m);
        m
    }
}

/// Parameters rcl or launch add to every node (`qos_overrides.*`, `start_type_description_service`)
/// are not ours to warn about.
fn is_ros_owned(name: &str) -> bool {
    name.starts_with("qos_overrides.") || name == "start_type_description_service"
}

mod record;
#[cfg(test)]
mod tests;
