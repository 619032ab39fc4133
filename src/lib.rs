//! foxglove_gateway: a ROS 2 node that serves the robot's topics to Foxglove.
//!
//! # Layout
//!
//! - [`config`]: every parameter, validated once (foxglove_bridge-compatible names).
//! - [`schema`]: interface definitions from the ament index → `ros2msg` schema text + parsed form.
//! - [`cdr`]: XCDR1 reader/writer and schema-driven CDR ⇄ JSON.
//! - [`protocol`]: the Foxglove WebSocket protocol, sans I/O (messages, encode, decode).
//! - [`hub`]: channels, subscriptions (one ROS subscription per channel, refcounted over all
//!   viewers), client publishing, and the per-viewer queues with their overload policy.
//! - [`ws`]: the WebSocket listener and one task per connection.
//! - [`remote`]: remote access through the Foxglove platform over LiveKit (protocol v2): API
//!   watch loop, room sessions, per-participant control streams, data tracks.
//! - [`gateway`]: assembling hub, backend and server; shutdown.
//! - [`ros`]: the ROS boundary (commands in, events out), the simulated graph, and the live ROS 2
//!   backend behind the `ros2` feature (`ros::rcl`, the crate's only `unsafe`, and
//!   `ros::rcl_backend`).
//! - [`record`]: recordings on the robot — the black box, continuous recording, playback of an
//!   MCAP file with Foxglove's playback controls, and the data backend for the remote data
//!   loader.
//! - [`demo`]: `--demo`, a simulated differential-drive robot on the simulated graph, and load
//!   generation for benchmarks.
//!
//! Data flows ROS → [`ros::MessageSink`] (the hub) → per-viewer queues → socket; viewer
//! publications flow socket → hub (allowlist, JSON→CDR) → [`ros::RosCommand::Publish`].
#![warn(missing_docs)]
// The one foreign boundary with `unsafe` is `ros::rcl` (rcl/rmw/rosidl); it opts back in there.
#![deny(unsafe_code)]

pub mod cdr;
pub mod config;
pub mod demo;
pub mod gateway;
pub mod hub;
pub mod protocol;
pub mod record;
pub mod remote;
pub mod ros;
pub mod schema;
pub mod ws;
