//! `--demo`: a simulated differential-drive robot on the simulated graph, and load generation
//! for benchmarks, so the gateway and the Foxglove app can be tried without a robot or ROS.
//!
//! The robot ([`robot`] for the physics, [`node`] for its topics):
//!
//! | topic | type | rate | notes |
//! |---|---|---|---|
//! | `/cmd_vel` | `geometry_msgs/msg/Twist` (or `TwistStamped`) | in | `linear.x`, `angular.z`; held for 0.5 s ([`robot::COMMAND_TIMEOUT`]), then the robot stops |
//! | `/odom` | `nav_msgs/msg/Odometry` | 50 Hz | `odom` → `base_link`, pose and twist with covariances |
//! | `/tf` | `tf2_msgs/msg/TFMessage` | 50 Hz | `odom` → `base_link`, stamped now |
//! | `/tf_static` | `tf2_msgs/msg/TFMessage` | latched | `base_link` → `laser` (0.1, 0, 0.2), transient-local |
//! | `/scan` | `sensor_msgs/msg/LaserScan` | 10 Hz | frame `laser`, 360 rays over 360°, 10 m × 6 m room with a pillar, best effort |
//! | `/chatter` | `std_msgs/msg/String` | 1 Hz | `hello from the demo robot N` |
//! | `/robot_description` | `std_msgs/msg/String` | latched | a small URDF, transient-local |
//!
//! Schemas come from the [`SchemaStore`], i.e. from definition files (the repository's
//! `interfaces/` when no ROS is installed), the same way a real graph's do; the messages are
//! encoded with [`crate::cdr`] against them.
//!
//! Load generation ([`load`]) is independent of `--demo`: see its docs for the payload layout a
//! benchmark receiver parses.

use tokio::task::JoinHandle;

use crate::cdr::CdrError;
use crate::ros::sim::SimGraph;
use crate::schema::{SchemaError, SchemaStore};

pub mod load;
pub mod node;
pub mod robot;

pub use load::{LoadConfig, LoadGenerator};

/// Default `--load-topic`.
pub const DEFAULT_LOAD_TOPIC: &str = "/load";
/// Default `--load-size` in bytes.
pub const DEFAULT_LOAD_SIZE: usize = 1024;
/// Default `--load-rate` in Hz.
pub const DEFAULT_LOAD_RATE: f64 = 100.0;

/// Command-line options of the demo robot and the load generator (flatten into the CLI).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct DemoOptions {
    /// Serve a simulated differential-drive robot (/odom, /tf, /tf_static, /scan, /chatter,
    /// /robot_description; drive it on /cmd_vel) instead of ROS.
    #[arg(long)]
    pub demo: bool,
    /// Generate benchmark load: publish std_msgs/msg/UInt8MultiArray messages on this topic
    /// (with --load-topics K > 1: on TOPIC_0 … TOPIC_{K-1}). data[0..8] is a sequence number
    /// and data[8..16] the send time in ns since the Unix epoch, both u64 little-endian.
    /// Works with or without --demo.
    #[arg(long, value_name = "TOPIC")]
    pub load_topic: Option<String>,
    /// Total size of each load message in bytes, CDR header included (at least 32).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_LOAD_SIZE, requires = "load_topic")]
    pub load_size: usize,
    /// Load messages per second per topic; 0 = as fast as possible.
    #[arg(long, value_name = "HZ", default_value_t = DEFAULT_LOAD_RATE, requires = "load_topic")]
    pub load_rate: f64,
    /// Load messages per topic; 0 = until the gateway stops.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "load_topic")]
    pub load_count: u64,
    /// Number of load topics.
    #[arg(long, value_name = "K", default_value_t = 1, requires = "load_topic")]
    pub load_topics: usize,
    /// Start the load at once; by default it starts when a viewer has subscribed to every load
    /// topic, so a counted run is received in full.
    #[arg(long, requires = "load_topic")]
    pub load_immediately: bool,
}

impl Default for DemoOptions {
    /// Nothing enabled; the load settings at their CLI defaults.
    fn default() -> Self {
        DemoOptions {
            demo: false,
            load_topic: None,
            load_size: DEFAULT_LOAD_SIZE,
            load_rate: DEFAULT_LOAD_RATE,
            load_count: 0,
            load_topics: 1,
            load_immediately: false,
        }
    }
}

impl DemoOptions {
    /// True if the options ask for anything: the binary then serves the simulated graph.
    pub fn enabled(&self) -> bool {
        self.demo || self.load_topic.is_some()
    }

    /// The load generator's settings, if `--load-topic` was given.
    pub fn load_config(&self) -> Option<LoadConfig> {
        self.load_topic.as_ref().map(|topic| LoadConfig {
            topic: topic.clone(),
            size: self.load_size,
            rate: self.load_rate,
            count: self.load_count,
            topics: self.load_topics,
            immediately: self.load_immediately,
        })
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A type the demo publishes has no usable definition on the prefixes.
    #[error("demo: cannot resolve {type_name}: {source}")]
    Schema {
        /// The type.
        type_name: String,
        /// Why.
        source: SchemaError,
    },
    /// A message did not encode against its definition (a definition that differs from the
    /// upstream one the demo was written for).
    #[error("demo: cannot encode {type_name}: {source}")]
    Encode {
        /// The type.
        type_name: String,
        /// Why.
        source: CdrError,
    },
    /// A load flag is out of range.
    #[error("{0}")]
    InvalidLoad(String),
    /// The load thread could not be started.
    #[error("demo: cannot start the load thread: {0}")]
    Thread(std::io::Error),
}

/// The running demo: the robot's tasks and the load generator. Dropping it stops them.
#[derive(Default)]
pub struct Demo {
    tasks: Vec<JoinHandle<()>>,
    load: Option<LoadGenerator>,
}

/// Start what `opts` asks for on `sim` (the robot's tasks on the current tokio runtime, the load
/// generator on its own thread, so publishing as fast as possible cannot starve the runtime).
/// With neither `--demo` nor `--load-topic` it starts nothing.
///
/// # Panics
/// With `--demo`, if called outside a tokio runtime.
pub fn start(opts: &DemoOptions, sim: &SimGraph, schemas: &SchemaStore) -> Result<Demo, DemoError> {
    // Validate the load flags before the robot appears, so a typo fails without side effects.
    let load_config = opts.load_config();
    if let Some(c) = &load_config {
        c.validate()?;
    }
    let tasks = if opts.demo {
        node::start(sim, schemas)?
    } else {
        Vec::new()
    };
    let load = match load_config {
        Some(c) => match LoadGenerator::start(&c, sim, schemas) {
            Ok(l) => Some(l),
            Err(e) => {
                for t in &tasks {
                    t.abort();
                }
                return Err(e);
            }
        },
        None => None,
    };
    Ok(Demo { tasks, load })
}

impl Demo {
    /// The load generator, if `--load-topic` was given.
    pub fn load(&self) -> Option<&LoadGenerator> {
        self.load.as_ref()
    }

    /// True if nothing was started.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.load.is_none()
    }

    /// Stop everything; waits for the load thread (up to ~50 ms).
    pub fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(l) = self.load.take() {
            l.stop();
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        demo: DemoOptions,
    }

    fn parse(args: &[&str]) -> Result<DemoOptions, clap::Error> {
        Cli::try_parse_from(std::iter::once("gw").chain(args.iter().copied())).map(|c| c.demo)
    }

    #[test]
    fn defaults_match_the_cli() {
        assert_eq!(parse(&[]).unwrap(), DemoOptions::default());
        assert!(!DemoOptions::default().enabled());
    }

    #[test]
    fn load_flags() {
        let o = parse(&[
            "--load-topic",
            "/bench",
            "--load-size",
            "64",
            "--load-rate",
            "0",
            "--load-count",
            "10",
            "--load-topics",
            "2",
            "--load-immediately",
        ])
        .unwrap();
        assert!(o.enabled() && !o.demo);
        assert_eq!(
            o.load_config(),
            Some(LoadConfig {
                topic: "/bench".into(),
                size: 64,
                rate: 0.0,
                count: 10,
                topics: 2,
                immediately: true,
            })
        );
        assert!(parse(&["--demo"]).unwrap().enabled());
        // Load settings without a load topic are a mistake worth reporting.
        assert!(parse(&["--load-size", "64"]).is_err());
        assert!(parse(&["--load-rate", "x", "--load-topic", "/l"]).is_err());
    }

    #[tokio::test]
    async fn bad_load_flags_fail_before_anything_starts() {
        let sim = SimGraph::new();
        let schemas = SchemaStore::new(vec![]);
        let opts = DemoOptions {
            demo: true,
            load_topic: Some("/load".into()),
            load_size: 8,
            ..DemoOptions::default()
        };
        assert!(matches!(
            start(&opts, &sim, &schemas),
            Err(DemoError::InvalidLoad(_))
        ));
        // Nothing is published, nothing is missing: an empty graph needs no schemas.
        let demo = start(&DemoOptions::default(), &sim, &schemas).unwrap();
        assert!(demo.is_empty());
    }
}
