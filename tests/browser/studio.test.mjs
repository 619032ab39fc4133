// The browser tier: the real Foxglove Studio web app (@foxglove/studio-base 1.48, prebuilt) in
// Debian's headless chromium, connected to `foxglove_gateway --demo` exactly as a user would
// connect it (`?ds=foxglove-websocket&ds.url=ws://...`). It checks what the user sees: the demo
// topics with their types, live decoded data in Raw Messages panels, a 3D panel drawing the
// laser scan, and the Teleop panel driving the robot, with /odom read by a second, independent
// viewer. Screenshots go to test-output/browser/ (a CI artifact), failed steps leave one too.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";

import { startGateway } from "../node/lib/gateway.mjs";
import { Browser, OUTPUT_DIR } from "./lib/browser.mjs";
import { startStaticServer } from "./lib/static-server.mjs";
import { countPixels, openStudio, panel, panelText, poll, studioUrl, topicListEntries } from "./lib/studio.mjs";
import { TopicWatcher } from "./lib/viewer.mjs";
import { LAYOUT, LAYOUT_ID, PANELS, TELEOP_SPEED, TELEOP_TURN_RATE } from "./layout.mjs";

/** What `--demo` serves (src/demo/mod.rs): every topic a viewer can subscribe to, with its type. */
const DEMO_TOPICS = [
  ["/chatter", "std_msgs/msg/String"],
  ["/odom", "nav_msgs/msg/Odometry"],
  ["/robot_description", "std_msgs/msg/String"],
  ["/scan", "sensor_msgs/msg/LaserScan"],
  ["/tf", "tf2_msgs/msg/TFMessage"],
  ["/tf_static", "tf2_msgs/msg/TFMessage"],
];

/** The demo robot's command timeout (robot::COMMAND_TIMEOUT). */
const COMMAND_TIMEOUT_MS = 500;

const position = (odom) => odom.pose.pose.position;
const yaw = (odom) => {
  const q = odom.pose.pose.orientation;
  return Math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z));
};
/** The `x` a Raw Messages panel on /odom.pose.pose.position shows ("x 0.57 y 0 z 0"), or NaN. */
const shownX = (text) => {
  const m = /\bx:? (-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\b/.exec(text);
  return m ? Number(m[1]) : NaN;
};
const describeOdom = (m) => {
  const p = position(m);
  const t = m.twist.twist;
  return `position (${p.x.toFixed(3)}, ${p.y.toFixed(3)}), yaw ${yaw(m).toFixed(3)}, v ${t.linear.x}, w ${t.angular.z}`;
};

describe("Foxglove Studio 1.48 in chromium against foxglove_gateway --demo", { timeout: 170_000 }, () => {
  let gateway;
  let server;
  let browser;
  let odom;
  let chatter;

  // Set up by the first test rather than in a before() hook: node:test reports the tests of a
  // failed hook as "cancelled", which a summary counting "# fail" would miss. Every later test
  // starts with requireConnected(), so a failed setup fails them all, at once and by name.
  let connected = false;
  const requireConnected = () =>
    assert.ok(connected, "Studio never connected to the gateway: see the first test's failure");

  test("Studio opens and connects to the gateway", async () => {
    gateway = await startGateway({ args: ["--demo", "--port", "0", "--address", "127.0.0.1"] });
    server = await startStaticServer({ layout: LAYOUT });
    browser = await Browser.launch();
    await browser.step("open Studio", () => openStudio(browser.page, studioUrl(server.url, gateway.url, LAYOUT_ID)));
    // Studio is the first viewer to connect, so a handshake it refuses fails here, in the
    // browser, and not in our own client below.
    await browser.step("Studio connects to the gateway", () =>
      poll(
        "Studio to list the gateway's topics",
        async () => ((await topicListEntries(browser.page)).length > 0 ? true : undefined),
        {
          timeoutMs: 30_000,
          lastSeen: async () => (await browser.page.locator("body").innerText()).replace(/\s+/g, " ").slice(0, 600),
        },
      ),
    );
    // The independent viewers connect before anyone drives the robot.
    [odom, chatter] = await Promise.all([
      TopicWatcher.open(gateway.url, "/odom"),
      TopicWatcher.open(gateway.url, "/chatter"),
    ]);
    connected = true;
  });

  after(async () => {
    odom?.close();
    chatter?.close();
    if (browser) {
      await browser.screenshot("final");
      // What Studio lists under Problems (connection, advertise or decode trouble), for CI logs.
      try {
        await browser.page.getByRole("tab", { name: /^Problems/ }).click({ timeout: 2000 });
        const text = await browser.page.evaluate(() => {
          // The sidebar holding the tabs; its list is the problems list once that tab is open.
          let el = document.querySelector('[role="tablist"]');
          while (el && !el.querySelector("ul")) el = el.parentElement;
          return el?.querySelector("ul")?.innerText ?? "No problems found";
        });
        writeFileSync(path.join(OUTPUT_DIR, "problems.txt"), `${text}\n`);
        await browser.screenshot("problems");
      } catch {
        // No Problems tab (Studio never rendered): the failure says why already.
      }
      browser.saveConsole("final");
      await browser.close();
    }
    if (server) {
      const log = server.requests.map(([status, p]) => `${status} ${p}\n`).join("");
      writeFileSync(path.join(OUTPUT_DIR, "http.txt"), log);
      await server.close();
    }
    await gateway?.stop();
  });

  test("the topic list shows the demo topics with their types", async () => {
    requireConnected();
    const page = browser.page;
    const entries = await browser.step("topic list shows the demo topics", () =>
      poll(
        "every demo topic with its type in the topic list",
        async () => {
          const seen = await topicListEntries(page);
          const missing = DEMO_TOPICS.filter(([n, t]) => !seen.some((e) => e.name === n && e.type === t));
          return missing.length === 0 ? seen : undefined;
        },
        {
          timeoutMs: 30_000,
          lastSeen: async () => JSON.stringify(await topicListEntries(page)),
        },
      ),
    );
    await browser.screenshot("topics");
    for (const [name, type] of DEMO_TOPICS) {
      assert.ok(
        entries.some((e) => e.name === name && e.type === type),
        `${name} (${type}) missing from ${JSON.stringify(entries)}`,
      );
    }
  });

  test("Raw Messages panels show live decoded data", async () => {
    requireConnected();
    const page = browser.page;
    // /chatter at 1 Hz: "hello from the demo robot N". The panel must show a string the second
    // viewer also decoded (the two may start a message apart, so poll until they meet), and then
    // a newer one.
    const shown = async () => {
      const m = /hello from the demo robot (\d+)/.exec(await panelText(page, PANELS.chatter));
      return m ? { text: m[0], n: Number(m[1]) } : undefined;
    };
    const first = await browser.step("Raw Messages shows /chatter.data as decoded", () =>
      poll(
        "the Raw Messages panel to show a /chatter message the second viewer also received",
        async () => {
          const s = await shown();
          return s && chatter.messages.some((m) => m.msg.data === s.text) ? s : undefined;
        },
        {
          timeoutMs: 20_000,
          lastSeen: async () =>
            `panel: ${JSON.stringify(await panelText(page, PANELS.chatter))}; ` +
            `second viewer: ${JSON.stringify(chatter.messages.map((m) => m.msg.data).slice(-5))}`,
        },
      ),
    );
    await browser.step("Raw Messages updates /chatter.data", () =>
      poll(
        `a /chatter message newer than #${first.n}`,
        async () => ((await shown())?.n > first.n ? true : undefined),
        { timeoutMs: 5000, lastSeen: () => panelText(page, PANELS.chatter) },
      ),
    );
    // /odom at 50 Hz, a nested message: its position's fields, decoded to the same numbers the
    // second viewer decoded (the robot is at rest until the Teleop test).
    await browser.step("Raw Messages shows /odom.pose.pose.position as decoded", () =>
      poll(
        "x, y and z of /odom.pose.pose.position, x as the second viewer decoded it",
        async () => {
          const text = await panelText(page, PANELS.odom);
          const xyz = ["x", "y", "z"].every((k) => new RegExp(`\\b${k}\\b:? ?-?\\d`).test(text));
          const latest = odom.latest()?.msg;
          return xyz && latest && shownX(text) === position(latest).x ? text : undefined;
        },
        {
          timeoutMs: 10_000,
          lastSeen: async () =>
            `panel: ${await panelText(page, PANELS.odom)}; ` +
            `second viewer: ${odom.latest() ? describeOdom(odom.latest().msg) : "nothing"}`,
        },
      ),
    );
    await browser.screenshot("raw-messages");
  });

  test("the 3D panel renders the laser scan", async () => {
    requireConnected();
    const page = browser.page;
    const scene = panel(page, PANELS.scene);
    await browser.step("3D panel has a canvas", () =>
      scene.locator("canvas").first().waitFor({ state: "visible", timeout: 15_000 }),
    );
    // The scan points are pure red (layout.mjs): count them in screenshots of the panel until
    // enough are there (the first scans may take a moment to arrive and render).
    const result = await browser.step("3D panel draws the /scan points", () =>
      poll(
        "red /scan points in the 3D panel",
        async () => {
          const counted = await countPixels(page, await scene.screenshot({ timeout: 10_000 }), [255, 0, 0]);
          return counted.matching >= 200 ? counted : undefined;
        },
        {
          timeoutMs: 20_000,
          intervalMs: 1000,
          lastSeen: async () =>
            `${JSON.stringify(await countPixels(page, await scene.screenshot(), [255, 0, 0]))} red pixels; ` +
            `panel text: ${await panelText(page, PANELS.scene)}`,
        },
      ),
    );
    await scene.screenshot({ path: `${OUTPUT_DIR}/3d-panel.png` });
    await browser.screenshot("3d");
    assert.ok(result.matching < result.total / 2, `the 3D panel is mostly red (${JSON.stringify(result)}): not a scan`);
  });

  test("Teleop's forward button drives the robot; releasing it stops the robot", async () => {
    requireConnected();
    const page = browser.page;
    const start = await browser.step("the robot is at rest before anyone drives it", async () => {
      const t = Date.now();
      await odom.waitFor("an /odom message", () => true, { since: t, timeoutMs: 5000 });
      await new Promise((r) => setTimeout(r, 500));
      const a = odom.latest().msg;
      await new Promise((r) => setTimeout(r, 500));
      const b = odom.latest().msg;
      const moved = Math.hypot(position(b).x - position(a).x, position(b).y - position(a).y);
      assert.ok(
        moved < 1e-6 && b.twist.twist.linear.x === 0,
        `the robot moves by itself: ${describeOdom(a)} → ${describeOdom(b)}`,
      );
      return b;
    });
    const heading = yaw(start);
    const travelled = (m) => {
      const dx = position(m).x - position(start).x;
      const dy = position(m).y - position(start).y;
      return {
        forward: dx * Math.cos(heading) + dy * Math.sin(heading),
        sideways: -dx * Math.sin(heading) + dy * Math.cos(heading),
      };
    };

    const up = panel(page, PANELS.teleop).locator('g[role="button"]').first();
    await browser.step("Teleop shows its directional pad", () => up.waitFor({ state: "visible", timeout: 15_000 }));
    await up.hover({ timeout: 5000 });
    const pressedAt = Date.now();
    await page.mouse.down();
    try {
      await browser.step("holding forward drives the robot forward", async () => {
        const moving = await odom.waitFor(
          `forward speed ${TELEOP_SPEED} m/s`,
          (m) => Math.abs(m.twist.twist.linear.x - TELEOP_SPEED) < 1e-6,
          { since: pressedAt, timeoutMs: 5000, describe: describeOdom },
        );
        assert.ok(moving.at - pressedAt < 3000, `the robot took ${moving.at - pressedAt} ms to start`);
        const far = await odom.waitFor("the robot 0.5 m further forward", (m) => travelled(m).forward > 0.5, {
          since: pressedAt,
          timeoutMs: 6000,
          describe: describeOdom,
        });
        const { sideways } = travelled(far.msg);
        assert.ok(Math.abs(sideways) < 0.05, `the robot drifted sideways by ${sideways} m while driving forward`);
      });
      await browser.step("the Raw Messages panel follows the moving robot", () =>
        poll(
          "the panel's /odom position x to move on by 0.3 m",
          async () => {
            const x = shownX(await panelText(page, PANELS.odom));
            return Math.abs(x - position(start).x) > 0.3 ? x : undefined;
          },
          { timeoutMs: 5000, lastSeen: () => panelText(page, PANELS.odom) },
        ),
      );
      await browser.screenshot("teleop-driving");
    } finally {
      await page.mouse.up();
    }
    const releasedAt = Date.now();

    const final = await browser.step("releasing forward stops the robot", async () => {
      const stopped = await odom.waitFor("the robot to stop (v = 0)", (m) => m.twist.twist.linear.x === 0, {
        since: releasedAt,
        timeoutMs: COMMAND_TIMEOUT_MS + 2500,
        describe: describeOdom,
      });
      const a = stopped.msg;
      await new Promise((r) => setTimeout(r, 1000));
      const b = odom.latest().msg;
      const drift = Math.hypot(position(b).x - position(a).x, position(b).y - position(a).y);
      assert.ok(
        drift < 1e-6 && b.twist.twist.linear.x === 0,
        `the robot kept moving after it stopped: ${describeOdom(a)} → ${describeOdom(b)}`,
      );
      assert.ok(travelled(b).forward > 0.5, `the robot ended up where it started: ${describeOdom(b)}`);
      return b;
    });
    // At rest, the UI must show exactly what the second viewer decoded: same bytes, same number.
    await browser.step("the Raw Messages panel shows where the robot stopped", () =>
      poll(
        `the panel's /odom position x to be ${position(final).x}`,
        async () => (shownX(await panelText(page, PANELS.odom)) === position(final).x ? true : undefined),
        { timeoutMs: 5000, lastSeen: () => panelText(page, PANELS.odom) },
      ),
    );
    await browser.screenshot("teleop-stopped");
  });

  test("Teleop's left button turns the robot on the spot; releasing it stops the turn", async () => {
    requireConnected();
    const page = browser.page;
    const start = await browser.step("the robot is at rest before turning", () =>
      odom.waitFor("the robot at rest", (m) => m.twist.twist.linear.x === 0 && m.twist.twist.angular.z === 0, {
        since: Date.now(),
        timeoutMs: 5000,
        describe: describeOdom,
      }),
    );
    const turned = (m) => Math.atan2(Math.sin(yaw(m) - yaw(start.msg)), Math.cos(yaw(m) - yaw(start.msg)));
    const shifted = (m) =>
      Math.hypot(position(m).x - position(start.msg).x, position(m).y - position(start.msg).y);
    // Pad order in the DOM: up, down, left, right.
    const left = panel(page, PANELS.teleop).locator('g[role="button"]').nth(2);
    await left.hover({ timeout: 5000 });
    const pressedAt = Date.now();
    await page.mouse.down();
    try {
      await browser.step("holding left turns the robot counter-clockwise", async () => {
        await odom.waitFor(
          `yaw rate ${TELEOP_TURN_RATE} rad/s`,
          (m) => Math.abs(m.twist.twist.angular.z - TELEOP_TURN_RATE) < 1e-6 && m.twist.twist.linear.x === 0,
          { since: pressedAt, timeoutMs: 5000, describe: describeOdom },
        );
        const far = await odom.waitFor("a turn of 0.5 rad", (m) => turned(m) > 0.5, {
          since: pressedAt,
          timeoutMs: 6000,
          describe: describeOdom,
        });
        assert.ok(shifted(far.msg) < 0.01, `the robot moved ${shifted(far.msg)} m while turning on the spot`);
      });
    } finally {
      await page.mouse.up();
    }
    const releasedAt = Date.now();
    await browser.step("releasing left stops the turn", async () => {
      const stopped = await odom.waitFor("the turn to stop (yaw rate 0)", (m) => m.twist.twist.angular.z === 0, {
        since: releasedAt,
        timeoutMs: COMMAND_TIMEOUT_MS + 2500,
        describe: describeOdom,
      });
      await new Promise((r) => setTimeout(r, 1000));
      const later = odom.latest().msg;
      assert.ok(
        Math.abs(yaw(later) - yaw(stopped.msg)) < 1e-9,
        `the robot kept turning after it stopped: ${describeOdom(stopped.msg)} → ${describeOdom(later)}`,
      );
    });
    await browser.screenshot("teleop-turned");
  });

  test("the gateway is still running after the session", () => {
    assert.ok(gateway, "the gateway was never started");
    assert.ok(gateway.running, `the gateway exited during the session:\n${gateway.stderr().slice(-4000)}`);
    assert.doesNotMatch(gateway.stderr(), /panicked at/, "the gateway panicked");
  });
});
