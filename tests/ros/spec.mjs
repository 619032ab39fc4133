// What the rclpy peers publish, serve and listen to (handed to tests/ros/peers/peer.py as JSON),
// and so what the viewer must decode. Values are written out by hand; the peer sets exactly these
// with rosidl_runtime_py.set_message_fields, rclpy serialises them, the gateway forwards the CDR,
// Foxglove's MessageReader decodes it.

const STAMP = { sec: 1_700_000_123, nanosec: 456_789_012 };
const header = (frame_id) => ({ stamp: STAMP, frame_id });
const RELIABLE = { reliability: "reliable", durability: "volatile", depth: 10 };

/** 36 distinct covariance values (a 6×6 row-major matrix). */
const cov36 = Array.from({ length: 36 }, (_, i) => (i % 7 === 0 ? 0.01 * (i + 1) : i * 0.001));

/** A ~1 MB sensor_msgs/PointCloud2: 65 536 points of x, y, z, intensity (float32). */
const POINTS = 65_536;
export const POINTCLOUD = {
  header: header("lidar"),
  height: 1,
  width: POINTS,
  fields: [
    { name: "x", offset: 0, datatype: 7, count: 1 },
    { name: "y", offset: 4, datatype: 7, count: 1 },
    { name: "z", offset: 8, datatype: 7, count: 1 },
    { name: "intensity", offset: 12, datatype: 7, count: 1 },
  ],
  is_bigendian: false,
  point_step: 16,
  row_step: 16 * POINTS,
  data: { $pattern: [16 * POINTS, 7, 3] },
  is_dense: true,
};

const SCAN_N = 301;
export const SCAN = {
  header: header("laser"),
  angle_min: -1.5,
  angle_max: 1.5,
  angle_increment: 0.01,
  time_increment: 0.0001,
  scan_time: 0.1,
  range_min: 0.05,
  range_max: 30.0,
  ranges: Array.from({ length: SCAN_N }, (_, i) => 0.5 + (i % 50) * 0.125),
  intensities: Array.from({ length: SCAN_N }, (_, i) => i * 2),
};

/** Topics of common types, published periodically by /rostier_robot. */
export const TOPICS = [
  { topic: "/rostier/chatter", type: "std_msgs/msg/String", value: { data: "hello from rclpy: héllo ✓" } },
  {
    topic: "/rostier/pose",
    type: "geometry_msgs/msg/PoseStamped",
    value: { header: header("map"), pose: { position: { x: 1.25, y: -2.5, z: 0.125 }, orientation: { x: 0, y: 0, z: 0.7071067811865476, w: 0.7071067811865476 } } },
  },
  {
    topic: "/rostier/odom",
    type: "nav_msgs/msg/Odometry",
    value: {
      header: header("odom"),
      child_frame_id: "base_link",
      pose: { pose: { position: { x: 3.5, y: 0.25, z: 0 }, orientation: { x: 0, y: 0, z: 0.25, w: 0.9682458365518543 } }, covariance: cov36 },
      twist: { twist: { linear: { x: 0.5, y: 0, z: 0 }, angular: { x: 0, y: 0, z: -0.125 } }, covariance: cov36.map((v) => -v) },
    },
  },
  {
    topic: "/rostier/tf",
    type: "tf2_msgs/msg/TFMessage",
    value: {
      transforms: [
        { header: header("odom"), child_frame_id: "base_link", transform: { translation: { x: 1, y: 2, z: 3 }, rotation: { x: 0, y: 0, z: 0, w: 1 } } },
        { header: header("base_link"), child_frame_id: "laser", transform: { translation: { x: 0.2, y: 0, z: 0.3 }, rotation: { x: 0, y: 0, z: 1, w: 0 } } },
      ],
    },
  },
  {
    topic: "/rostier/imu",
    type: "sensor_msgs/msg/Imu",
    value: {
      header: header("imu"),
      orientation: { x: 0, y: 0, z: 0, w: 1 },
      orientation_covariance: [0.1, 0, 0, 0, 0.1, 0, 0, 0, 0.1],
      angular_velocity: { x: 0.01, y: -0.02, z: 0.5 },
      linear_acceleration: { x: 0.1, y: 0.2, z: 9.81 },
    },
  },
  {
    topic: "/rostier/joint_states",
    type: "sensor_msgs/msg/JointState",
    value: { header: header(""), name: ["left_wheel", "right_wheel"], position: [0.5, -0.5], velocity: [1.5, -1.5], effort: [] },
  },
  {
    topic: "/rostier/markers",
    type: "visualization_msgs/msg/MarkerArray",
    value: {
      markers: [
        {
          header: header("map"),
          ns: "rostier",
          id: 7,
          type: 1,
          action: 0,
          pose: { position: { x: 1, y: 0, z: 0.5 }, orientation: { x: 0, y: 0, z: 0, w: 1 } },
          scale: { x: 0.5, y: 0.25, z: 0.125 },
          color: { r: 1, g: 0.5, b: 0, a: 1 },
          text: "box",
          points: [{ x: 1, y: 2, z: 3 }],
        },
      ],
    },
  },
  {
    topic: "/rostier/diagnostics",
    type: "diagnostic_msgs/msg/DiagnosticArray",
    value: { header: header(""), status: [{ name: "battery", message: "low", hardware_id: "bat0", values: [{ key: "voltage", value: "11.1" }] }] },
  },
  {
    topic: "/rostier/image",
    type: "sensor_msgs/msg/Image",
    value: { header: header("camera"), height: 4, width: 6, encoding: "rgb8", is_bigendian: 0, step: 18, data: { $pattern: [72, 13, 1] } },
  },
];

export const POINTS_TOPIC = { topic: "/rostier/points", type: "sensor_msgs/msg/PointCloud2", value: POINTCLOUD };
export const SCAN_TOPIC = { topic: "/rostier/scan", type: "sensor_msgs/msg/LaserScan", value: SCAN };
export const LATCHED = { topic: "/rostier/latched", type: "std_msgs/msg/String", value: { data: "latched: published once at peer start" } };

export const TWIST = "geometry_msgs/msg/Twist";
/** Topics the viewer publishes to, each with an rclpy listener. */
export const CMD_VEL = "/rostier/cmd_vel";
export const TELEOP = "/rostier/teleop";
export const FORBIDDEN = "/rostier/forbidden";
/** client_topic_whitelist for the launch: CMD_VEL, TELEOP and the custom type's input only. */
export const CLIENT_WHITELIST = ["/rostier/cmd_vel", "/rostier/teleop", "/rostier/reading_in"];

export const PARAMS_NODE = "rostier_params";
export const PARAMS = { max_speed: 1.5, min_speed: 0.25, robot_name: "rostier", enabled: true, count: 3, gains: [0.5, 2.0] };

export const SERVICES = {
  setBool: { name: "/rostier/set_bool", type: "std_srvs/srv/SetBool", behaviour: "set_bool" },
  addTwoInts: { name: "/rostier/add_two_ints", type: "example_interfaces/srv/AddTwoInts", behaviour: "add_two_ints" },
};
export const SILENT = { node: "rostier_silent", name: "/rostier/silent", type: "std_srvs/srv/Trigger" };

/** The main robot peer: /rostier_robot and friends. */
/** The black box: what it keeps and the service that saves it (issue 12). */
export const BLACKBOX = {
  seconds: 3,
  topics: ["/rostier/chatter", "/rostier/pose", "/rostier/scan"],
  service: "/foxglove_gateway/save_blackbox",
};

export function robotSpec() {
  const periodic = (t, period, qos = RELIABLE) => ({ ...t, period, qos });
  return {
    node: "rostier_robot",
    publishers: [
      ...TOPICS.map((t) => periodic(t, 0.2)),
      periodic(POINTS_TOPIC, 0.5),
      periodic(SCAN_TOPIC, 0.1, { reliability: "best_effort", durability: "volatile", depth: 5 }),
      { ...LATCHED, qos: { reliability: "reliable", durability: "transient_local", depth: 1 } },
    ],
    services: Object.values(SERVICES),
    listener_node: "rostier_listener",
    listen: [
      { topic: CMD_VEL, type: TWIST, qos: RELIABLE },
      { topic: TELEOP, type: TWIST, qos: RELIABLE },
      { topic: FORBIDDEN, type: "std_msgs/msg/String", qos: RELIABLE },
    ],
    params: { node: PARAMS_NODE, values: PARAMS },
    silent_service: SILENT,
    observer: "rostier_observer",
    own_prefix: "rostier",
  };
}

// ---- issue 10: the robot's own interface package, built after the gateway ----
export const READING_TYPE = "rostier_msgs/msg/Reading";
export const READING = { header: header("sensor"), value: 42.5, samples: [1, -2, 3, 2147483647], label: "reading ✓", level: 1 };
export const SCALE = { name: "/rostier/scale", type: "rostier_msgs/srv/Scale", behaviour: "scale" };

export function customSpec() {
  return {
    node: "rostier_custom",
    publishers: [{ topic: "/rostier/reading", type: READING_TYPE, value: READING, period: 0.2, qos: RELIABLE }],
    services: [SCALE],
    listener_node: "rostier_custom_listener",
    listen: [{ topic: "/rostier/reading_in", type: READING_TYPE, qos: RELIABLE }],
  };
}
