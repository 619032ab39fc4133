//! Scenario files for the simulated graph: which simulated nodes publish what, and which
//! republish what they hear. Used by `--sim-scenario` and by the conformance tests.
//!
//! ```yaml
//! topics:
//!   - topic: /chatter
//!     type: std_msgs/msg/String
//!     rate_hz: 20            # 0 = publish once
//!     value: {data: hello}   # fields left out take the definition's defaults
//!     qos: {reliability: reliable, durability: volatile, depth: 10}
//! echo:                      # republish every message from `from` on `to`, unchanged
//!   - {from: /in, to: /out, type: geometry_msgs/msg/Twist}
//! services:                  # simulated service servers
//!   - name: /echo
//!     type: test_interface_files/srv/BasicTypes
//!     reply: echo            # echo (response = request) | never | {respond: {...}}
//! parameters:                # simulated parameter nodes
//!   - node: /robot
//!     responsive: true       # false: never answers parameter requests
//!     values:
//!       - {name: max_speed, value: 1.5}
//!       - {name: mask, value: AQI=, type: byte_array}   # type: the protocol's hints
//! ```

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::sim::SimGraph;
use super::sim_services::SimReply;
use super::{Durability, Qos, Reliability};
use crate::schema::SchemaStore;

/// A scenario.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Simulated publishers.
    #[serde(default)]
    pub topics: Vec<ScenarioTopic>,
    /// Echo routes.
    #[serde(default)]
    pub echo: Vec<EchoRoute>,
    /// Simulated service servers.
    #[serde(default)]
    pub services: Vec<ScenarioService>,
    /// Simulated parameter nodes.
    #[serde(default)]
    pub parameters: Vec<ScenarioParamNode>,
}

/// One simulated service server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioService {
    /// Service name.
    pub name: String,
    /// Type `pkg/srv/Type`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Node name (default `/sim_services`).
    #[serde(default)]
    pub node: Option<String>,
    /// How it answers.
    pub reply: ServiceReply,
}

/// How a simulated service answers: `echo`, `never`, or `{respond: value}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ServiceReply {
    /// `echo` or `never`.
    Mode(ReplyMode),
    /// `{respond: value}`.
    Respond {
        /// The response.
        respond: serde_json::Value,
    },
}

/// The value-less answers.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyMode {
    /// With the request itself (for types whose request and response have the same fields).
    Echo,
    /// Never.
    Never,
}

/// One simulated parameter node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioParamNode {
    /// Fully qualified node name.
    pub node: String,
    /// False for a node that never answers parameter requests.
    #[serde(default = "yes")]
    pub responsive: bool,
    /// Its parameters.
    #[serde(default)]
    pub values: Vec<ScenarioParam>,
}

/// One parameter of a simulated node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioParam {
    /// Name within the node.
    pub name: String,
    /// Value, as in `setParameters`.
    pub value: serde_json::Value,
    /// The protocol's type hint (`float64`, `float64_array`, `byte_array`).
    #[serde(default, rename = "type")]
    pub type_hint: Option<String>,
}

fn yes() -> bool {
    true
}

/// One simulated publisher.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioTopic {
    /// Topic.
    pub topic: String,
    /// Type `pkg/msg/Type`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Publications per second; 0 publishes once.
    #[serde(default = "default_rate")]
    pub rate_hz: f64,
    /// The message, as JSON-like YAML.
    #[serde(default = "empty_object")]
    pub value: serde_json::Value,
    /// Publisher QoS.
    #[serde(default)]
    pub qos: Option<QosSpec>,
    /// Node name (default `/sim_<n>`).
    #[serde(default)]
    pub node: Option<String>,
}

/// QoS in a scenario.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QosSpec {
    /// `reliable` or `best_effort`.
    #[serde(default)]
    pub reliability: Option<String>,
    /// `volatile` or `transient_local`.
    #[serde(default)]
    pub durability: Option<String>,
    /// Keep-last depth.
    #[serde(default)]
    pub depth: Option<u32>,
}

/// A node that republishes what it hears.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoRoute {
    /// Topic it subscribes.
    pub from: String,
    /// Topic it publishes.
    pub to: String,
    /// Type of both.
    #[serde(rename = "type")]
    pub type_name: String,
}

fn default_rate() -> f64 {
    10.0
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// A scenario that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read or parsed.
    #[error("scenario {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A parameter value that is not a ROS parameter value.
    #[error("scenario parameter {node}.{name}: {reason}")]
    Parameter {
        /// Node.
        node: String,
        /// Parameter.
        name: String,
        /// Why.
        reason: String,
    },
    /// A topic's value does not fit its type, or the type is unknown.
    #[error("scenario topic {topic} ({type_name}): {reason}")]
    Topic {
        /// Topic.
        topic: String,
        /// Type.
        type_name: String,
        /// Why.
        reason: String,
    },
}

impl Scenario {
    /// Read a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let err = |reason: String| ScenarioError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// Start the scenario's nodes on the current tokio runtime. Values are encoded up front, so
    /// a value that does not fit its type fails here rather than silently later.
    pub fn start(
        &self,
        sim: &SimGraph,
        schemas: &SchemaStore,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, ScenarioError> {
        let mut tasks = Vec::new();
        for (n, t) in self.topics.iter().enumerate() {
            let err = |reason: String| ScenarioError::Topic {
                topic: t.topic.clone(),
                type_name: t.type_name.clone(),
                reason,
            };
            let schema = schemas
                .message(&t.type_name)
                .map_err(|e| err(e.to_string()))?;
            let payload = Bytes::from(
                crate::cdr::json_to_cdr(&schema, &t.value).map_err(|e| err(e.to_string()))?,
            );
            let qos = qos_of(t.qos.as_ref()).map_err(err)?;
            let node = t.node.clone().unwrap_or_else(|| format!("/sim_{n}"));
            let publisher = sim.add_publisher(&t.topic, &t.type_name, &node, qos);
            let period = (t.rate_hz > 0.0).then(|| Duration::from_secs_f64(1.0 / t.rate_hz));
            tasks.push(tokio::spawn(async move {
                let Some(period) = period else {
                    publisher.publish(payload);
                    std::future::pending::<()>().await;
                    return;
                };
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    publisher.publish(payload.clone());
                }
            }));
        }
        for svc in &self.services {
            let reply = svc.reply.clone();
            let node = svc.node.as_deref().unwrap_or("/sim_services");
            let server =
                sim.add_service(&svc.name, &svc.type_name, node, move |req| match &reply {
                    ServiceReply::Mode(ReplyMode::Echo) => SimReply::Respond(req.clone()),
                    ServiceReply::Mode(ReplyMode::Never) => SimReply::Never,
                    ServiceReply::Respond { respond } => SimReply::Respond(respond.clone()),
                });
            // The server stays in the graph as long as the scenario runs.
            tasks.push(tokio::spawn(async move {
                let _server = server;
                std::future::pending::<()>().await;
            }));
        }
        for p in &self.parameters {
            let mut values = Vec::new();
            for v in &p.values {
                let value = crate::hub::params::from_wire(&v.value, v.type_hint.as_deref(), None)
                    .map_err(|e| ScenarioError::Parameter {
                    node: p.node.clone(),
                    name: v.name.clone(),
                    reason: e.to_string(),
                })?;
                values.push((v.name.as_str(), value));
            }
            sim.add_param_node(&p.node, &values, p.responsive);
        }
        for route in &self.echo {
            let mut rx = sim.subscribe(&route.from);
            let publisher =
                sim.add_publisher(&route.to, &route.type_name, "/sim_echo", Qos::default());
            tasks.push(tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    publisher.publish(m.payload);
                }
            }));
        }
        Ok(tasks)
    }
}

fn qos_of(spec: Option<&QosSpec>) -> Result<Qos, String> {
    let mut qos = Qos::default();
    let Some(spec) = spec else { return Ok(qos) };
    if let Some(r) = &spec.reliability {
        qos.reliability = match r.as_str() {
            "reliable" => Reliability::Reliable,
            "best_effort" => Reliability::BestEffort,
            other => return Err(format!("unknown reliability {other:?}")),
        };
    }
    if let Some(d) = &spec.durability {
        qos.durability = match d.as_str() {
            "volatile" => Durability::Volatile,
            "transient_local" => Durability::TransientLocal,
            other => return Err(format!("unknown durability {other:?}")),
        };
    }
    if let Some(depth) = spec.depth {
        qos.depth = depth;
    }
    Ok(qos)
}
