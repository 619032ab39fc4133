// The Studio layout the browser tier opens (served as /layout.json, selected by `layoutId=`):
// two Raw Messages panels, a 3D panel and a Teleop panel, configured for the demo robot.

/** Layout id in the URL and in the in-memory layout storage. */
export const LAYOUT_ID = "gateway-browser-tier";

/** Panel ids (`Type!suffix`, as Studio names them); the DOM exposes them in data-testid. */
export const PANELS = {
  chatter: "RawMessages!chatter",
  odom: "RawMessages!odom",
  scene: "3D!scene",
  teleop: "Teleop!drive",
};

/** Teleop's forward speed (m/s), turn rate (rad/s) and how often it republishes while held (Hz). */
export const TELEOP_SPEED = 0.5;
export const TELEOP_TURN_RATE = 1;
export const TELEOP_RATE_HZ = 10;

/** Colour of the laser scan points in the 3D panel: pure red, so a screenshot can find them. */
export const SCAN_COLOR = "#ff0000ff";

/** The layout: `{ id, name, data }` with `data` a Studio LayoutData. */
export const LAYOUT = {
  id: LAYOUT_ID,
  name: "foxglove_gateway browser tier",
  data: {
    configById: {
      [PANELS.chatter]: { topicPath: "/chatter.data" },
      [PANELS.odom]: { topicPath: "/odom.pose.pose.position", expansion: "all" },
      [PANELS.scene]: {
        // The world frame, fixed: the robot (and its scan) move in view when it drives.
        followTf: "odom",
        followMode: "follow-none",
        // Straight down from above, orthographic, over the 10 m × 6 m room.
        cameraState: {
          distance: 14,
          perspective: false,
          phi: 0,
          thetaOffset: 0,
          target: [0, 0, 0],
          targetOffset: [0, 0, 0],
          targetOrientation: [0, 0, 0, 1],
          fovy: 45,
          near: 0.5,
          far: 5000,
        },
        topics: {
          // colorField must be set: without one, the panel switches the scan to a colour map.
          "/scan": { visible: true, colorField: "intensity", colorMode: "flat", flatColor: SCAN_COLOR, pointSize: 6 },
        },
      },
      [PANELS.teleop]: {
        topic: "/cmd_vel",
        // Studio's default is 1 Hz, slower than the demo robot's 0.5 s command timeout: the
        // robot would stop between commands.
        publishRate: TELEOP_RATE_HZ,
        upButton: { field: "linear-x", value: TELEOP_SPEED },
        downButton: { field: "linear-x", value: -TELEOP_SPEED },
        leftButton: { field: "angular-z", value: TELEOP_TURN_RATE },
        rightButton: { field: "angular-z", value: -TELEOP_TURN_RATE },
      },
    },
    globalVariables: {},
    userNodes: {},
    playbackConfig: { speed: 1 },
    layout: {
      direction: "row",
      first: { direction: "column", first: PANELS.chatter, second: PANELS.odom, splitPercentage: 40 },
      second: { direction: "column", first: PANELS.scene, second: PANELS.teleop, splitPercentage: 60 },
      splitPercentage: 45,
    },
  },
};
