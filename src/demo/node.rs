//! The demo robot's nodes on the simulated graph: the base (subscribes `/cmd_vel`, publishes
//! `/odom`, `/tf`, `/scan`), a talker (`/chatter`) and a robot_state_publisher stand-in
//! (`/tf_static`, `/robot_description`, both transient-local).
//!
//! Messages are built as JSON and encoded with [`crate::cdr::json_to_cdr`] against schemas the
//! [`SchemaStore`] resolves from the definition files, exactly as the gateway will decode them;
//! at 50 Hz that costs microseconds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::robot::{self, Robot};
use super::DemoError;
use crate::cdr::{cdr_to_json, json_to_cdr};
use crate::ros::sim::{SimGraph, SimPublisher};
use crate::ros::{now_ns, Durability, Qos, Reliability};
use crate::schema::{normalize_type_name, ResolvedSchema, SchemaStore};

/// The base's integration, `/odom` and `/tf` rate.
pub const ODOM_HZ: u32 = 50;
/// `/scan` rate (a typical 2D lidar).
pub const SCAN_HZ: u32 = 10;
/// `/chatter` rate.
pub const CHATTER_HZ: u32 = 1;
/// Height of the laser above base_link (see `demo_robot.urdf`).
pub const LASER_Z: f64 = 0.2;

/// The URDF on `/robot_description`: a box with a laser, so the 3D panel shows a robot.
pub const URDF: &str = include_str!("demo_robot.urdf");

const TWIST: &str = "geometry_msgs/msg/Twist";
const TWIST_STAMPED: &str = "geometry_msgs/msg/TwistStamped";
const ODOMETRY: &str = "nav_msgs/msg/Odometry";
const TF_MESSAGE: &str = "tf2_msgs/msg/TFMessage";
const LASER_SCAN: &str = "sensor_msgs/msg/LaserScan";
const STRING: &str = "std_msgs/msg/String";

/// A publisher together with the schema its messages are encoded with.
struct Encoder {
    publisher: SimPublisher,
    schema: Arc<ResolvedSchema>,
}

impl Encoder {
    fn new(
        sim: &SimGraph,
        schemas: &SchemaStore,
        topic: &str,
        type_name: &str,
        node: &str,
        qos: Qos,
    ) -> Result<Self, DemoError> {
        let schema = resolve(schemas, type_name)?;
        Ok(Encoder {
            publisher: sim.add_publisher(topic, type_name, node, qos),
            schema,
        })
    }

    fn encode(&self, value: &Value) -> Result<Bytes, DemoError> {
        json_to_cdr(&self.schema, value)
            .map(Bytes::from)
            .map_err(|source| DemoError::Encode {
                type_name: self.schema.name.clone(),
                source,
            })
    }

    /// Encode and publish; an encoding failure is a bug in this module, so it is logged, not
    /// propagated into a task that has no one to report to.
    fn publish(&self, value: &Value) {
        match self.encode(value) {
            Ok(payload) => self.publisher.publish(payload),
            Err(e) => tracing::error!(topic = self.publisher.topic(), "{e}"),
        }
    }
}

pub(super) fn resolve(
    schemas: &SchemaStore,
    type_name: &str,
) -> Result<Arc<ResolvedSchema>, DemoError> {
    schemas
        .message(type_name)
        .map_err(|source| DemoError::Schema {
            type_name: type_name.to_string(),
            source,
        })
}

fn latched_qos() -> Qos {
    Qos {
        reliability: Reliability::Reliable,
        durability: Durability::TransientLocal,
        depth: 1,
    }
}

/// Start the robot's nodes on the current runtime.
pub fn start(sim: &SimGraph, schemas: &SchemaStore) -> Result<Vec<JoinHandle<()>>, DemoError> {
    let base = "/demo_base";
    let commands = CommandDecoder::new(schemas)?;
    let odom = Encoder::new(sim, schemas, "/odom", ODOMETRY, base, Qos::default())?;
    let tf = Encoder::new(sim, schemas, "/tf", TF_MESSAGE, base, Qos::default())?;
    let scan = Encoder::new(
        sim,
        schemas,
        "/scan",
        LASER_SCAN,
        base,
        Qos {
            // What lidar drivers use: a late sample is worthless.
            reliability: Reliability::BestEffort,
            ..Qos::default()
        },
    )?;
    let chatter = Encoder::new(sim, schemas, "/chatter", STRING, "/talker", Qos::default())?;
    let rsp = "/robot_state_publisher";
    let tf_static = Encoder::new(sim, schemas, "/tf_static", TF_MESSAGE, rsp, latched_qos())?;
    let description = Encoder::new(
        sim,
        schemas,
        "/robot_description",
        STRING,
        rsp,
        latched_qos(),
    )?;
    let static_tf = json!({"transforms": [transform(
        now_ns(), "base_link", "laser", robot::LASER_X, 0.0, LASER_Z, 0.0)]});
    let latched = vec![
        (tf_static.encode(&static_tf)?, tf_static),
        (description.encode(&json!({ "data": URDF }))?, description),
    ];

    let cmd_vel = sim.subscribe("/cmd_vel");
    Ok(vec![
        tokio::spawn(base_loop(cmd_vel, commands, odom, tf, scan)),
        tokio::spawn(chatter_loop(chatter)),
        tokio::spawn(latch_loop(latched)),
    ])
}

/// The base controller: integrate the last `/cmd_vel` at [`ODOM_HZ`], publish `/odom` and `/tf`
/// every tick and `/scan` every `ODOM_HZ / SCAN_HZ` ticks, all from the same state.
async fn base_loop(
    mut cmd_vel: tokio::sync::mpsc::Receiver<crate::ros::sim::SimMessage>,
    commands: CommandDecoder,
    odom: Encoder,
    tf: Encoder,
    scan: Encoder,
) {
    let mut robot = Robot::new();
    let period = Duration::from_secs(1) / ODOM_HZ;
    let mut tick = tokio::time::interval(period);
    // Each tick integrates exactly one period, so a late tick must not be doubled up.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let scan_every = u64::from(ODOM_HZ / SCAN_HZ);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            msg = cmd_vel.recv() => {
                let Some(msg) = msg else { return };
                match commands.decode(&msg.type_name, &msg.payload) {
                    Some((v, w)) => robot.command(v, w, Instant::now()),
                    None => tracing::debug!(
                        type_name = %msg.type_name,
                        "ignoring a /cmd_vel that is not a valid Twist or TwistStamped"
                    ),
                }
            }
            _ = tick.tick() => {
                robot.step(period.as_secs_f64(), Instant::now());
                let stamp = now_ns();
                odom.publish(&odometry(&robot, stamp));
                let tf_value = json!({"transforms": [transform(
                    stamp, "odom", "base_link", robot.x, robot.y, 0.0, robot.yaw)]});
                tf.publish(&tf_value);
                if ticks % scan_every == 0 {
                    scan.publish(&laser_scan(&robot, stamp));
                }
                ticks = ticks.wrapping_add(1);
            }
        }
    }
}

/// Reads velocity commands. Both types a base controller accepts are understood: `Twist` (what
/// the Foxglove Teleop panel sends) and `TwistStamped` (diff_drive_controller's default since
/// Jazzy).
pub struct CommandDecoder {
    twist: Arc<ResolvedSchema>,
    twist_stamped: Arc<ResolvedSchema>,
}

impl CommandDecoder {
    /// Resolve both schemas.
    pub fn new(schemas: &SchemaStore) -> Result<Self, DemoError> {
        Ok(CommandDecoder {
            twist: resolve(schemas, TWIST)?,
            twist_stamped: resolve(schemas, TWIST_STAMPED)?,
        })
    }

    /// `linear.x` and `angular.z` of a command of type `type_name`; `None` for another type or a
    /// payload that does not decode (it comes from a viewer, so anything is possible). The type
    /// is checked first because CDR is not self-describing: another type's bytes could decode
    /// as a Twist of nonsense.
    pub fn decode(&self, type_name: &str, payload: &[u8]) -> Option<(f64, f64)> {
        let type_name = normalize_type_name(type_name).ok()?;
        let (schema, prefix) = match type_name.as_str() {
            TWIST => (&self.twist, ""),
            TWIST_STAMPED => (&self.twist_stamped, "/twist"),
            _ => return None,
        };
        let v = cdr_to_json(schema, payload).ok()?;
        let linear = v.pointer(&format!("{prefix}/linear/x"))?.as_f64()?;
        let angular = v.pointer(&format!("{prefix}/angular/z"))?.as_f64()?;
        Some((linear, angular))
    }
}

async fn chatter_loop(chatter: Encoder) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / CHATTER_HZ);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        chatter.publish(&json!({ "data": format!("hello from the demo robot {n}") }));
        n = n.wrapping_add(1);
    }
}

/// Transient-local publishers publish once; the middleware (here the simulated graph) replays
/// their history to every later subscription, so the publishers must simply stay alive.
async fn latch_loop(latched: Vec<(Bytes, Encoder)>) {
    for (payload, enc) in &latched {
        enc.publisher.publish(payload.clone());
    }
    std::future::pending::<()>().await;
}

/// `builtin_interfaces/Time` from nanoseconds since the epoch. Saturates in 2106 rather than
/// wrapping (the field is an int32 of seconds).
pub fn stamp_json(ns: u64) -> Value {
    let sec = i32::try_from(ns / 1_000_000_000).unwrap_or(i32::MAX);
    json!({ "sec": sec, "nanosec": ns % 1_000_000_000 })
}

fn header(stamp: u64, frame: &str) -> Value {
    json!({ "stamp": stamp_json(stamp), "frame_id": frame })
}

/// A quaternion for a rotation of `yaw` about z.
fn yaw_quaternion(yaw: f64) -> Value {
    json!({ "x": 0.0, "y": 0.0, "z": (yaw / 2.0).sin(), "w": (yaw / 2.0).cos() })
}

fn transform(stamp: u64, parent: &str, child: &str, x: f64, y: f64, z: f64, yaw: f64) -> Value {
    json!({
        "header": header(stamp, parent),
        "child_frame_id": child,
        "transform": {
            "translation": { "x": x, "y": y, "z": z },
            "rotation": yaw_quaternion(yaw),
        },
    })
}

/// Diagonal 6×6 covariance (x, y, z, roll, pitch, yaw). The axes a planar robot does not
/// estimate get a huge variance, as diff_drive_controller reports them.
fn covariance(planar: f64, unobserved: f64) -> Value {
    let diag = [planar, planar, unobserved, unobserved, unobserved, planar];
    let mut c = [0.0; 36];
    for (i, d) in diag.iter().enumerate() {
        c[i * 7] = *d;
    }
    json!(c.to_vec())
}

fn odometry(r: &Robot, stamp: u64) -> Value {
    json!({
        "header": header(stamp, "odom"),
        "child_frame_id": "base_link",
        "pose": {
            "pose": {
                "position": { "x": r.x, "y": r.y, "z": 0.0 },
                "orientation": yaw_quaternion(r.yaw),
            },
            "covariance": covariance(1e-3, 1e6),
        },
        "twist": {
            "twist": {
                "linear": { "x": r.v, "y": 0.0, "z": 0.0 },
                "angular": { "x": 0.0, "y": 0.0, "z": r.w },
            },
            "covariance": covariance(1e-3, 1e6),
        },
    })
}

fn laser_scan(r: &Robot, stamp: u64) -> Value {
    let (ranges, intensities) = r.scan();
    let inc = robot::angle_increment();
    json!({
        "header": header(stamp, "laser"),
        "angle_min": robot::ANGLE_MIN,
        "angle_max": robot::scan_angle(robot::SCAN_RAYS - 1),
        "angle_increment": inc,
        // A simulated scan is instantaneous.
        "time_increment": 0.0,
        "scan_time": 1.0 / f64::from(SCAN_HZ),
        "range_min": robot::RANGE_MIN,
        "range_max": robot::RANGE_MAX,
        "ranges": ranges,
        "intensities": intensities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_split_and_saturate() {
        assert_eq!(
            stamp_json(1_700_000_000_123_456_789),
            json!({"sec": 1_700_000_000, "nanosec": 123_456_789})
        );
        assert_eq!(stamp_json(u64::MAX)["sec"], json!(i32::MAX));
    }

    #[test]
    fn covariance_is_diagonal() {
        let c = covariance(1.0, 2.0);
        let c = c.as_array().unwrap();
        assert_eq!(c.len(), 36);
        let diag: Vec<f64> = (0..6).map(|i| c[i * 7].as_f64().unwrap()).collect();
        assert_eq!(diag, [1.0, 1.0, 2.0, 2.0, 2.0, 1.0]);
        assert_eq!(c.iter().filter(|v| v.as_f64() != Some(0.0)).count(), 6);
    }

    #[test]
    fn commands_of_both_types_and_nothing_else() {
        let schemas = SchemaStore::new(vec![
            concat!(env!("CARGO_MANIFEST_DIR"), "/interfaces").into()
        ]);
        let d = CommandDecoder::new(&schemas).unwrap();
        let twist = json!({"linear": {"x": 0.5}, "angular": {"z": -1.0}});
        let plain = json_to_cdr(&d.twist, &twist).unwrap();
        let stamped = json_to_cdr(
            &d.twist_stamped,
            &json!({"header": {"frame_id": "base_link"}, "twist": twist}),
        )
        .unwrap();
        assert_eq!(d.decode(TWIST, &plain), Some((0.5, -1.0)));
        assert_eq!(d.decode("geometry_msgs/Twist", &plain), Some((0.5, -1.0)));
        assert_eq!(d.decode(TWIST_STAMPED, &stamped), Some((0.5, -1.0)));
        // Right bytes, wrong type; wrong bytes, right type.
        assert_eq!(d.decode("geometry_msgs/msg/Vector3", &plain), None);
        assert_eq!(d.decode(TWIST, &plain[..20]), None);
        assert_eq!(d.decode(TWIST_STAMPED, &plain), None);
    }

    #[test]
    fn quaternion_of_yaw() {
        let q = yaw_quaternion(std::f64::consts::PI);
        assert!((q["z"].as_f64().unwrap() - 1.0).abs() < 1e-12);
        assert!(q["w"].as_f64().unwrap().abs() < 1e-12);
    }
}
