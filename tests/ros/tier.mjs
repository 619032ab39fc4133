// The real-ROS tier (issue 9, issue 10 acceptance 1–2): the colcon-built gateway, started with
// `ros2 launch`, driven by Foxglove's own client against rclpy peers, ros2 CLI as a second
// oracle. Run by scripts/test-ros.sh inside one private network namespace (scripts/ros-netns.sh);
// never run it on the machine's real network.
//
// Every check prints exactly one line, `PASS <check>: <what was seen>` or
// `FAIL <check>: <what was seen instead>`, and the last line is
// `real-ROS checks: N passed, N failed` (tests/ros/in-netns.sh adds it to the tier's total). A
// check that cannot run (setup failed) is a FAIL.

import { createHash } from "node:crypto";
import { writeFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { payloadBytes } from "../node/lib/connection.mjs";
import { writerFor } from "../node/lib/cdr.mjs";
import { delay, run, start, stopAll, within } from "./lib/proc.mjs";
import { describe, leaves, mismatch } from "./lib/values.mjs";
import { callService, decode, onceEvent, openViewer, sendUntil, serviceSchema, waitServices } from "./lib/viewer.mjs";
import * as S from "./spec.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LOG_DIR = process.env.ROS_TIER_LOG_DIR ?? path.join(HERE, "..", "..", "target", "ros-tier", "last-run");
mkdirSync(LOG_DIR, { recursive: true });
const PEER = path.join(HERE, "peers", "peer.py");
const PORT = Number(process.env.ROS_TIER_PORT ?? 8765);
const URL_ = `ws://127.0.0.1:${PORT}`;
const GATEWAY = "/foxglove_gateway";
const PY = "/usr/bin/python3";

const LAUNCH_ARGS = [
  "launch",
  "foxglove_gateway",
  "foxglove_gateway_launch.xml",
  `port:=${PORT}`,
  "address:=127.0.0.1",
  `client_topic_whitelist:=[${S.CLIENT_WHITELIST.map((t) => `'${t}'`).join(",")}]`,
  "service_call_timeout_ms:=2000",
  // Issue 12: the black box keeps the last few seconds of some of the peers' topics.
  `blackbox_seconds:=${S.BLACKBOX.seconds}`,
  `blackbox_topic_whitelist:=[${S.BLACKBOX.topics.map((t) => `'${t}'`).join(",")}]`,
  `recordings_dir:=${path.join(LOG_DIR, "recordings")}`,
];

// The independent MCAP reader (PyPI mcap + mcap-ros2-support, scripts/install-test-deps.sh).
const MCAP_PYTHON = process.env.MCAP_PYTHON ?? path.join(HERE, "..", "..", "target", "test-venv", "bin", "python");
const MCAP_ORACLE = path.join(HERE, "..", "python", "mcap_oracle.py");

const TWIST_SCHEMA = `geometry_msgs/Vector3 linear
geometry_msgs/Vector3 angular
================================================================================
MSG: geometry_msgs/Vector3
float64 x
float64 y
float64 z
`;

// ---------------------------------------------------------------------------------------------
// Results

let passed = 0;
let failed = 0;
function report(ok, name, detail) {
  const line = `${ok ? "PASS" : "FAIL"} ${name}: ${detail.replace(/\s*\n\s*/g, " | ")}`;
  console.log(line);
  if (ok) passed++;
  else failed++;
}

/** Run one check: `fn` returns the PASS detail or throws with the FAIL detail. */
async function check(name, timeoutMs, fn) {
  try {
    const detail = await within(Promise.resolve().then(fn), timeoutMs, `check ${name}`);
    report(true, name, detail);
    return true;
  } catch (err) {
    report(false, name, err?.message ?? String(err));
    return false;
  }
}

class CheckFailed extends Error {}
const fail = (msg) => {
  throw new CheckFailed(msg);
};
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------------------------
// Processes

const procs = {};
const launches = [];

function startPeer(name, args) {
  return start(name, PY, [PEER, ...args], { logDir: LOG_DIR });
}

async function startLaunch(name, extra = []) {
  const p = start(name, "ros2", [...LAUNCH_ARGS, ...extra], { logDir: LOG_DIR });
  launches.push(p);
  const t0 = Date.now();
  const listening = await p.waitLine(/foxglove_gateway listening on ws:\/\//, { timeoutMs: 60_000, since: t0 });
  const pidLine = p.lines.find((l) => /process started with pid \[\d+\]/.test(l.text));
  const nodePid = pidLine ? Number(/pid \[(\d+)\]/.exec(pidLine.text)[1]) : undefined;
  return { proc: p, ms: listening.t - t0, nodePid };
}

/** `ros2 …` with a timeout; throws with its output when it fails. */
async function ros2(args, timeoutMs = 30_000) {
  const r = await run("ros2", args, { timeoutMs });
  if (r.code !== 0) fail(`\`ros2 ${args.join(" ")}\` ${r.timedOut ? `timed out after ${timeoutMs} ms` : `exited ${r.code}`}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  return r;
}

/** The observer's latest view of the graph's node list (hidden nodes included). */
function observedNodes() {
  const evs = procs.robot.events.filter((e) => e.ev === "nodes");
  return evs.length ? evs[evs.length - 1].nodes : [];
}
const countOf = (list, name) => list.filter((n) => n === name).length;
/** Nodes not there before the gateway started (ros2 CLI's own short-lived nodes left out). */
const newNodes = (list) => list.filter((n) => !state.baselineNodes.includes(n) && !n.startsWith("/_ros2cli_"));

/** `ros2 node list -a` (through the ros2 daemon, as a user types it). */
async function nodeListAll() {
  const r = await ros2(["node", "list", "-a"]);
  return r.stdout.split("\n").map((s) => s.trim()).filter(Boolean);
}

// ---------------------------------------------------------------------------------------------
// The checks, in the order they run. Each name is listed up front so a setup failure still
// accounts for every check it prevented.

const CHECKS = [];
const checkFns = new Map();
function def(name, timeoutMs, fn) {
  CHECKS.push(name);
  checkFns.set(name, { timeoutMs, fn });
}

const state = {};

// --- launch and the gateway's own node ---
def("launch", 70_000, async () => {
  const { proc, ms, nodePid } = await startLaunch("launch-1");
  state.launch = proc;
  state.nodePid = nodePid;
  state.viewer = await openViewer(URL_);
  const info = state.viewer.serverInfo;
  return `ros2 launch foxglove_gateway foxglove_gateway_launch.xml: node pid ${nodePid ?? "?"}, listening on ${URL_} after ${secs(ms)}; serverInfo name ${JSON.stringify(info.name)}, capabilities [${info.capabilities.join(",")}]`;
});

def("ros2 param get", 40_000, async () => {
  const r = await ros2(["param", "get", GATEWAY, "port"]);
  const out = r.stdout.trim();
  if (out !== `Integer value is: ${PORT}`) fail(`\`ros2 param get ${GATEWAY} port\` printed ${JSON.stringify(out)}, expected "Integer value is: ${PORT}"`);
  return `\`ros2 param get ${GATEWAY} port\` → ${JSON.stringify(out)} (${r.ms} ms)`;
});

def("advertise", 20_000, async () => {
  const all = [...S.TOPICS, S.POINTS_TOPIC, S.SCAN_TOPIC, S.LATCHED];
  await state.viewer.waitForChannels(all.map((t) => t.topic), { timeoutMs: 15_000 });
  const wrong = [];
  for (const t of all) {
    const ch = state.viewer.channelFor(t.topic);
    if (ch.schemaName !== t.type || ch.encoding !== "cdr" || ch.schemaEncoding !== "ros2msg") {
      wrong.push(`${t.topic}: ${ch.schemaName} ${ch.encoding}/${ch.schemaEncoding}`);
    }
  }
  if (wrong.length) fail(`advertised with the wrong type or encoding: ${wrong.join("; ")}`);
  return `${all.length} rclpy topics advertised with their types as cdr/ros2msg (${state.viewer.channels.size} channels in all)`;
});

/** Subscribe to `t.topic`, decode the first message, compare with `t.value`. */
async function topicRoundTrip(conn, t, timeoutMs = 8000) {
  const ch = await conn.waitForChannel(t.topic, { timeoutMs });
  const sub = conn.subscribe(ch.id);
  const t0 = Date.now();
  try {
    const m = await conn.nextMessage(sub, { timeoutMs, what: `a message on ${t.topic}` });
    const bytes = payloadBytes(m);
    let value;
    try {
      value = decode(ch, bytes);
    } catch (err) {
      fail(`${t.topic}: Foxglove's MessageReader cannot decode the ${bytes.length}-byte payload with the advertised schema: ${err.message}`);
    }
    const diff = mismatch(value, t.value);
    if (diff) fail(`${t.topic} (${t.type}) decoded ≠ published: ${diff}`);
    return { ch, sub, bytes, value, ms: Date.now() - t0 };
  } finally {
    if (!t.keep) conn.unsubscribe(sub);
  }
}

for (const t of S.TOPICS) {
  def(`topic ${t.type}`, 15_000, async () => {
    const { bytes, ms } = await topicRoundTrip(state.viewer, t);
    return `${t.topic}: ${bytes.length} B decoded = published (${leaves(t.value)}), first message ${ms} ms after subscribe`;
  });
}

def("pointcloud 1 MB", 20_000, async () => {
  const { bytes, value, ms } = await topicRoundTrip(state.viewer, S.POINTS_TOPIC, 12_000);
  if (bytes.length < 1_000_000) fail(`payload only ${bytes.length} B`);
  return `${S.POINTS_TOPIC.topic}: ${bytes.length} B PointCloud2 (${value.width} points × ${value.point_step} B, fields ${value.fields.map((f) => f.name).join(",")}), every data byte equal to the published pattern, ${ms} ms after subscribe`;
});

def("best-effort LaserScan", 15_000, async () => {
  // The peer publishes best-effort: a reliable subscription would never match it.
  const ch = await state.viewer.waitForChannel(S.SCAN_TOPIC.topic, { timeoutMs: 8000 });
  const sub = state.viewer.subscribe(ch.id);
  try {
    const first = await state.viewer.nextMessage(sub, { timeoutMs: 8000, what: `a message on ${S.SCAN_TOPIC.topic}` });
    const value = decode(ch, payloadBytes(first));
    const diff = mismatch(value, S.SCAN);
    if (diff) fail(`decoded ≠ published: ${diff}`);
    const got = (await state.viewer.collect(1000)).get(sub) ?? [];
    if (got.length < 5) fail(`only ${got.length} messages in 1 s from a 10 Hz best-effort publisher`);
    return `${S.SCAN_TOPIC.topic} from a best-effort publisher: decoded = published (ranges[0..2]=${describe(Array.from(value.ranges.slice(0, 3)))}, ${value.ranges.length} ranges), ${got.length} messages in the next 1 s (published at 10 Hz)`;
  } finally {
    state.viewer.unsubscribe(sub);
  }
});

def("transient-local late joiners", 20_000, async () => {
  const publishedAt = procs.robot.events.find((e) => e.ev === "ready").t;
  const first = await topicRoundTrip(state.viewer, { ...S.LATCHED, keep: true });
  // A second viewer while the gateway's subscription already exists: the gateway replays.
  const second = await openViewer(URL_);
  try {
    const again = await topicRoundTrip(second, S.LATCHED);
    state.viewer.unsubscribe(first.sub);
    return `${S.LATCHED.topic} (published once, transient local, ${secs(Date.now() - publishedAt)} before): viewer 1 got ${JSON.stringify(first.value.data)} ${first.ms} ms after subscribing; viewer 2, joining later, got it after ${again.ms} ms`;
  } finally {
    await second.close();
  }
});

def("rosout (rclpy subscriber)", 15_000, async () => {
  const ev = await procs.robot.waitEvent((e) => e.ev === "rosout" && e.name === "foxglove_gateway", {
    since: 0,
    timeoutMs: 10_000,
    what: "a /rosout Log from node foxglove_gateway",
  });
  const names = [...new Set(procs.robot.events.filter((e) => e.ev === "rosout").map((e) => e.name))];
  return `got ${JSON.stringify(ev.msg.slice(0, 100))} (level ${ev.level}) from node ${ev.name} on /rosout; rosout names seen (not ours): ${names.join(", ")}`;
});

def("publisher leaves", 30_000, async () => {
  const flaky = startPeer("flaky-1", ["flaky", "/rostier/flaky", "flaky-1"]);
  let sub;
  try {
    await flaky.waitEvent((e) => e.ev === "ready", { timeoutMs: 15_000, what: "ready" });
    const first = await topicRoundTrip(state.viewer, { topic: "/rostier/flaky", type: "std_msgs/msg/String", value: { data: "flaky-1" }, keep: true });
    sub = first.sub;
    const ch = first.ch;
    const unadvertised = state.viewer.waitFor("unadvertise", (ids) => ids.includes(ch.id), { timeoutMs: 10_000, what: `unadvertise of /rostier/flaky (channel ${ch.id})` });
    unadvertised.catch(() => {});
    const t0 = Date.now();
    flaky.signal("SIGINT");
    const exit = await within(flaky.exit, 10_000, "the flaky publisher to exit");
    // "Left" = its process has exited (node destroyed, participant gone).
    let dt;
    try {
      await unadvertised;
      dt = Date.now() - exit.t;
      sub = undefined;
    } catch {
      fail(`/rostier/flaky still advertised ${secs(Date.now() - exit.t)} after its only publisher (pid ${flaky.pid}) exited (code ${exit.code}) with a viewer subscribed`);
    }
    // A new viewer must not be offered the departed topic either.
    const fresh = await openViewer(URL_);
    await delay(500);
    const stale = fresh.channelFor("/rostier/flaky");
    await fresh.close();
    if (stale) fail(`unadvertised ${dt} ms after the publisher exited, but a new viewer is still offered /rostier/flaky`);
    if (dt > 2000) fail(`/rostier/flaky unadvertised only ${dt} ms after its last publisher exited (limit 2000 ms)`);
    return `last publisher of /rostier/flaky exited ${exit.t - t0} ms after SIGINT (code ${exit.code}) with a viewer subscribed: unadvertised ${Math.max(dt, 0)} ms after the exit; a new viewer is not offered it`;
  } finally {
    if (sub !== undefined) state.viewer.unsubscribe(sub);
    await flaky.stop();
  }
});

def("publisher returns", 30_000, async () => {
  const t0 = Date.now();
  const flaky = startPeer("flaky-2", ["flaky", "/rostier/flaky", "flaky-2"]);
  let sub;
  try {
    await flaky.waitEvent((e) => e.ev === "ready", { timeoutMs: 15_000, what: "ready" });
    const adv = await state.viewer
      .waitFor("advertise", (chs) => chs.some((c) => c.topic === "/rostier/flaky"), { timeoutMs: 10_000, what: "a new advertise of /rostier/flaky" })
      .catch((err) => {
        const old = state.viewer.channelFor("/rostier/flaky");
        fail(`${err.message}${old ? ` (the channel from before, id ${old.id}, was never unadvertised)` : ""}`);
      });
    const advMs = Date.now() - t0;
    const ch = adv.find((c) => c.topic === "/rostier/flaky");
    sub = state.viewer.subscribe(ch.id);
    const m = await state.viewer.nextMessage(sub, { timeoutMs: 8000, what: "data on the returned /rostier/flaky" });
    const v = decode(ch, payloadBytes(m));
    if (v.data !== "flaky-2") fail(`got ${JSON.stringify(v.data)}, expected "flaky-2"`);
    return `publisher back: /rostier/flaky advertised again ${advMs} ms after its process started, "flaky-2" received ${Date.now() - t0 - advMs} ms after subscribing`;
  } finally {
    if (sub !== undefined) state.viewer.unsubscribe(sub);
    await flaky.stop();
  }
});

// --- services ---
async function serviceSetup() {
  if (!state.services) {
    state.services = await waitServices(state.viewer, [S.SERVICES.setBool.name, S.SERVICES.addTwoInts.name, S.SILENT.name]);
  }
  return state.services;
}
function responseOf(service, r) {
  if (r.failure) fail(`${service.name} failed: ${JSON.stringify(r.failure.message)}`);
  return payloadBytes(r.response);
}

def("service call cdr", 20_000, async () => {
  const sv = await serviceSetup();
  const add = sv[S.SERVICES.addTwoInts.name];
  const req = { a: 40n, b: 2n };
  const r1 = await callService(state.viewer, add, "cdr", writerFor(serviceSchema(add, "request")).writeMessage(req));
  const sum = decode({ schema: serviceSchema(add, "response") }, responseOf(add, r1));
  if (sum.sum !== 42n) fail(`${add.name}: a=40 b=2 answered ${describe(sum)}, expected sum 42`);
  const sb = sv[S.SERVICES.setBool.name];
  const r2 = await callService(state.viewer, sb, "cdr", writerFor(serviceSchema(sb, "request")).writeMessage({ data: true }));
  const resp = decode({ schema: serviceSchema(sb, "response") }, responseOf(sb, r2));
  if (resp.success !== true || resp.message !== "set_bool got true") fail(`${sb.name}: data=true answered ${describe(resp)}`);
  const seen = procs.robot.events.filter((e) => e.ev === "call" && e.service === add.name).pop();
  if (!seen || Number(seen.request.a) !== 40 || Number(seen.request.b) !== 2) fail(`the rclpy server saw ${describe(seen?.request)}, expected a=40 b=2`);
  return `${add.name} (${add.type}) a=40 b=2 → sum=${sum.sum} in ${r1.ms} ms (the rclpy server saw a=${seen.request.a} b=${seen.request.b}); ${sb.name} data=true → ${describe(resp)} in ${r2.ms} ms`;
});

def("service call json", 20_000, async () => {
  const sv = await serviceSetup();
  const enc = (o) => new TextEncoder().encode(JSON.stringify(o));
  const json = (r, s) => JSON.parse(new TextDecoder().decode(responseOf(s, r)));
  const add = sv[S.SERVICES.addTwoInts.name];
  const r1 = await callService(state.viewer, add, "json", enc({ a: -5, b: 12 }));
  if (r1.response && r1.response.encoding !== "json") fail(`answered in ${r1.response.encoding}, not json`);
  const b1 = json(r1, add);
  if (Number(b1.sum) !== 7) fail(`${add.name} {"a":-5,"b":12} answered ${JSON.stringify(b1)}`);
  const sb = sv[S.SERVICES.setBool.name];
  const r2 = await callService(state.viewer, sb, "json", enc({ data: false }));
  const b2 = json(r2, sb);
  if (b2.success !== false || b2.message !== "set_bool got false") fail(`${sb.name} {"data":false} answered ${JSON.stringify(b2)}`);
  return `${add.name} {"a":-5,"b":12} → ${JSON.stringify(b1)} in ${r1.ms} ms; ${sb.name} {"data":false} → ${JSON.stringify(b2)} in ${r2.ms} ms`;
});

def("service never answers", 20_000, async () => {
  const sv = await serviceSetup();
  const silent = sv[S.SILENT.name];
  const r = await callService(state.viewer, silent, "cdr", writerFor(serviceSchema(silent, "request")).writeMessage({}), 10_000);
  if (!r.failure) fail(`${silent.name} (never spun) "answered" ${describe(r.response)}`);
  if (r.ms < 1800 || r.ms > 5000) fail(`failure after ${r.ms} ms, expected about the 2000 ms service_call_timeout_ms: ${JSON.stringify(r.failure.message)}`);
  if (!r.failure.message.includes(silent.name)) fail(`failure message does not name the service: ${JSON.stringify(r.failure.message)}`);
  return `${silent.name} on a node that never spins: serviceCallFailure after ${r.ms} ms (service_call_timeout_ms 2000): ${JSON.stringify(r.failure.message)}`;
});

// --- parameters of another node ---
const P = (name) => `/${S.PARAMS_NODE}.${name}`;
const byName = (msg) => Object.fromEntries(msg.parameters.map((p) => [p.name, p]));

def("parameters get", 20_000, async () => {
  const names = Object.keys(S.PARAMS).map(P);
  const got = onceEvent(state.viewer.client, "parameterValues", (m) => m.id === "get", 10_000, "parameterValues for get");
  state.viewer.client.getParameters(names, "get");
  const p = byName(await got);
  const wrong = [];
  for (const [k, v] of Object.entries(S.PARAMS)) {
    const m = p[P(k)] ? mismatch(p[P(k)].value, v) : "missing";
    if (m) wrong.push(`${P(k)}: ${m} (got ${describe(p[P(k)])})`);
  }
  if (wrong.length) fail(wrong.join("; "));
  return `getParameters of /${S.PARAMS_NODE}: ${Object.keys(S.PARAMS).map((k) => `${k}=${describe(p[P(k)].value)}${p[P(k)].type ? ` (${p[P(k)].type})` : ""}`).join(", ")}`;
});

def("parameters set", 20_000, async () => {
  const since = Date.now();
  const answer = onceEvent(state.viewer.client, "parameterValues", (m) => m.id === "set", 10_000, "parameterValues for set");
  state.viewer.client.setParameters(
    [
      { name: P("max_speed"), value: 2.5 },
      { name: P("min_speed"), value: 4, type: "float64" },
      { name: P("robot_name"), value: "renamed" },
    ],
    "set",
  );
  const p = byName(await answer);
  const want = { max_speed: 2.5, min_speed: 4, robot_name: "renamed" };
  for (const [k, v] of Object.entries(want)) if (p[P(k)]?.value !== v) fail(`set answered ${describe(p)}; ${k} should be ${v}`);
  // The rclpy node itself must hold the new values, with their declared types.
  const seen = {};
  for (const k of Object.keys(want)) {
    const ev = await procs.robot.waitEvent((e) => e.ev === "param_set" && k in e.params, { since, timeoutMs: 5000, what: `the rclpy node to see ${k} set` });
    seen[k] = ev.params[k];
  }
  const bad = Object.entries(want).filter(([k, v]) => seen[k].value !== v);
  if (bad.length) fail(`the rclpy node holds ${describe(seen)}`);
  if (seen.min_speed.type !== "DOUBLE" || seen.max_speed.type !== "DOUBLE") fail(`types changed on the rclpy node: ${describe(seen)} (declared double; 4 with type hint float64 must stay a double)`);
  return `setParameters answered ${Object.keys(want).map((k) => `${k}=${describe(p[P(k)].value)}`).join(", ")}; the rclpy node now holds ${Object.entries(seen).map(([k, v]) => `${k}=${v.value} (${v.type})`).join(", ")}`;
});

def("parameters subscribe", 30_000, async () => {
  const watcher = await openViewer(URL_);
  try {
    watcher.client.subscribeParameterUpdates([P("max_speed")]);
    const warm = onceEvent(watcher.client, "parameterValues", (m) => m.id === "w", 10_000, "warm-up get");
    watcher.client.getParameters([P("max_speed")], "w");
    await warm;
    const update = onceEvent(watcher.client, "parameterValues", (m) => m.id === undefined && m.parameters.some((x) => x.name === P("max_speed") && x.value === 7.25), 20_000, "a parameterValues update with max_speed 7.25");
    update.catch(() => {});
    const r = await ros2(["param", "set", `/${S.PARAMS_NODE}`, "max_speed", "7.25"]);
    const tDone = Date.now();
    await update;
    return `\`ros2 param set /${S.PARAMS_NODE} max_speed 7.25\` (${r.stdout.trim()}) → the subscribed viewer got max_speed=7.25 ${Date.now() - tDone} ms after the CLI returned`;
  } finally {
    await watcher.close();
  }
});

// --- connection graph ---
def("connection graph", 15_000, async () => {
  const update = onceEvent(state.viewer.client, "connectionGraphUpdate", () => true, 10_000, "connectionGraphUpdate");
  state.viewer.client.subscribeConnectionGraph();
  const g = await update;
  state.viewer.client.unsubscribeConnectionGraph();
  const pub = g.publishedTopics.find((t) => t.name === "/rostier/odom");
  const sub = g.subscribedTopics.find((t) => t.name === S.CMD_VEL);
  const svc = g.advertisedServices.find((s) => s.name === S.SERVICES.setBool.name);
  const problems = [];
  if (!pub?.publisherIds.includes("/rostier_robot")) problems.push(`/rostier/odom publishers ${describe(pub)}`);
  if (!sub?.subscriberIds.includes("/rostier_listener")) problems.push(`${S.CMD_VEL} subscribers ${describe(sub)}`);
  if (!svc?.providerIds.includes("/rostier_robot")) problems.push(`${S.SERVICES.setBool.name} providers ${describe(svc)}`);
  if (problems.length) fail(`first connectionGraphUpdate lacks: ${problems.join("; ")}`);
  return `first update: /rostier/odom ← [${pub.publisherIds}], ${S.CMD_VEL} → [${sub.subscriberIds}], ${svc.name} by [${svc.providerIds}]; ${g.publishedTopics.length} published topics, ${g.subscribedTopics.length} subscribed, ${g.advertisedServices.length} services`;
});

// --- the black box (issue 12) ---
/**
 * Read a saved black box with the independent reader and check it: valid summary and index
 * (indexed, linear and statistics counts agree; zstd chunks with message indexes), the ROS 2
 * profile, messages that decode to what the rclpy peer published, and the last
 * `blackbox_seconds` before the save covered.
 */
async function checkBlackbox(name, savedAt) {
  const file = path.join(LOG_DIR, "recordings", `${name}.mcap`);
  const r = await run(MCAP_PYTHON, [MCAP_ORACLE, "read", file], { timeoutMs: 30_000 });
  if (r.code !== 0) fail(`the independent reader refused ${name}.mcap: ${(r.stdout + r.stderr).trim().slice(0, 400)}`);
  const f = JSON.parse(r.stdout);
  const st = f.statistics;
  if (f.profile !== "ros2") fail(`profile ${JSON.stringify(f.profile)}, expected "ros2"`);
  if (!(st.message_count === f.indexed_count && f.indexed_count === f.linear_count)) fail(`counts disagree: statistics ${st.message_count}, indexed ${f.indexed_count}, linear ${f.linear_count}`);
  if (!f.chunk_indexes.length || f.chunk_indexes.some((c) => c.compression !== "zstd" || !c.message_index_channels.length)) fail(`chunks: ${describe(f.chunk_indexes)}`);
  const problems = [];
  const counts = {};
  for (const t of S.BLACKBOX.topics) {
    const ch = f.channels.find((c) => c.topic === t);
    const spec = S.TOPICS.find((x) => x.topic === t) ?? (t === S.SCAN_TOPIC.topic ? S.SCAN_TOPIC : undefined);
    if (!ch) {
      problems.push(`no channel ${t}`);
      continue;
    }
    if (ch.schema_name !== spec.type || ch.schema_encoding !== "ros2msg" || ch.message_encoding !== "cdr") problems.push(`${t}: ${ch.schema_name} ${ch.schema_encoding}/${ch.message_encoding}`);
    const msgs = f.messages.filter((m) => m.topic === t);
    counts[t] = msgs.length;
    const bad = msgs.map((m) => mismatch(m.msg, spec.value)).find(Boolean);
    if (bad) problems.push(`${t}: a message does not decode to what was published: ${bad}`);
  }
  // Log time is when the gateway received a message, publish time the publisher's own stamp.
  const stamps = f.messages.filter((m) => !(m.publish_time > 0 && m.publish_time <= m.log_time + 1e6));
  if (stamps.length) problems.push(`${stamps.length} message(s) with a publish time after their log time (or none): ${describe(stamps[0])}`);
  if (problems.length) fail(problems.join("; "));
  // Coverage: the 5 Hz topics fill the whole window up to the save.
  const window = S.BLACKBOX.seconds * 1e9;
  const saved = BigInt(savedAt) * 1_000_000n;
  const first = BigInt(st.message_start_time);
  const last = BigInt(st.message_end_time);
  const span = Number(last - first) / 1e9;
  const lastAgo = Number(saved - last) / 1e9;
  if (span < S.BLACKBOX.seconds - 0.5) fail(`covers ${span.toFixed(2)} s, expected the last ${S.BLACKBOX.seconds} s`);
  if (Number(saved - first) > window + 1.5e9) fail(`the first message is ${(Number(saved - first) / 1e9).toFixed(2)} s before the save: older than blackbox_seconds ${S.BLACKBOX.seconds}`);
  if (lastAgo > 1.0 || lastAgo < -1.0) fail(`the last message is ${lastAgo.toFixed(2)} s away from the save`);
  for (const [t, n] of Object.entries(counts)) if (n < S.BLACKBOX.seconds * 4) problems.push(`${t}: only ${n} messages`);
  if (problems.length) fail(problems.join("; "));
  return `${name}.mcap: ${st.message_count} messages in ${f.chunk_indexes.length} zstd chunk(s), indexed = linear = statistics count, ${Object.entries(counts).map(([t, n]) => `${t} ×${n}`).join(", ")} decoded = published; covers ${span.toFixed(2)} s, the last message ${lastAgo.toFixed(2)} s before the save request (±1 s allowed)`;
}

def("black box save (ROS service)", 40_000, async () => {
  const t0 = Date.now();
  const r = await ros2(["service", "call", S.BLACKBOX.service, "std_srvs/srv/Trigger"]);
  const m = /success=True, message='([^']+)'/.exec(r.stdout);
  if (!m) fail(`\`ros2 service call ${S.BLACKBOX.service}\` answered ${JSON.stringify(r.stdout.trim().slice(-200))}`);
  const detail = await checkBlackbox(m[1], t0);
  return `\`ros2 service call ${S.BLACKBOX.service} std_srvs/srv/Trigger\` → success, ${detail}`;
});

def("black box save (Foxglove service call)", 40_000, async () => {
  const sv = await waitServices(state.viewer, [S.BLACKBOX.service]);
  const box = sv[S.BLACKBOX.service];
  const t0 = Date.now();
  const r = await callService(state.viewer, box, "json", new TextEncoder().encode("{}"), 20_000);
  const answer = JSON.parse(new TextDecoder().decode(responseOf(box, r)));
  if (answer.success !== true) fail(`answered ${JSON.stringify(answer)}`);
  if (answer.message.includes("/")) fail(`the answer shows a path: ${JSON.stringify(answer.message)}`);
  const detail = await checkBlackbox(answer.message, t0);
  return `Service Call of ${box.name} (${box.type}) → ${JSON.stringify(answer)} in ${r.ms} ms, ${detail}`;
});

// --- client publishing ---
function listenerGot(topic, want, since, timeoutMs = 8000) {
  return procs.robot.waitEvent((e) => e.ev === "msg" && e.topic === topic && !mismatch(e.value, want), { since, timeoutMs, what: `${topic} = ${describe(want)} at the rclpy listener` });
}

def("client publish cdr", 20_000, async () => {
  const twist = { linear: { x: 0.75, y: -1.25, z: 2.5 }, angular: { x: -0.125, y: 4, z: -3.5 } };
  const since = Date.now();
  const ch = state.viewer.client.advertise({ topic: S.CMD_VEL, encoding: "cdr", schemaName: S.TWIST });
  state.cmdVelChannel = ch; // kept advertised for `ros2 node info`
  const ev = await sendUntil(state.viewer, ch, writerFor(TWIST_SCHEMA).writeMessage(twist), listenerGot(S.CMD_VEL, twist, since));
  return `cdr ${S.TWIST} on ${S.CMD_VEL} → rclpy subscriber got ${describe(ev.value)} ${ev.at - since} ms after advertise`;
});

def("client publish json", 20_000, async () => {
  const since = Date.now();
  const ch = state.viewer.client.advertise({ topic: S.CMD_VEL, encoding: "json", schemaName: S.TWIST });
  // Fields left out are zero, as in a ROS message constructor.
  const want = { linear: { x: -0.5, y: 0.001, z: 0 }, angular: { x: 0, y: 0, z: 1e-7 } };
  const ev = await sendUntil(state.viewer, ch, new TextEncoder().encode('{"linear":{"x":-0.5,"y":0.001},"angular":{"z":1e-7}}'), listenerGot(S.CMD_VEL, want, since));
  state.viewer.client.unadvertise(ch);
  return `json ${S.TWIST} {"linear":{"x":-0.5,"y":0.001},"angular":{"z":1e-7}} → rclpy subscriber got ${describe(ev.value)} ${ev.at - since} ms after advertise`;
});

def("client publish json geometry_msgs/Twist (Teleop)", 20_000, async () => {
  const since = Date.now();
  // What Studio's Teleop panel sends: the ROS 1-style name, JSON.
  const ch = state.viewer.client.advertise({ topic: S.TELEOP, encoding: "json", schemaName: "geometry_msgs/Twist" });
  const twist = { linear: { x: 0.3, y: 0, z: 0 }, angular: { x: 0, y: 0, z: -0.6 } };
  const ev = await sendUntil(state.viewer, ch, new TextEncoder().encode(JSON.stringify(twist)), listenerGot(S.TELEOP, twist, since));
  state.viewer.client.unadvertise(ch);
  return `json "geometry_msgs/Twist" on ${S.TELEOP} → rclpy subscriber got ${describe(ev.value)} ${ev.at - since} ms after advertise`;
});

def("client_topic_whitelist", 20_000, async () => {
  const since = Date.now();
  const status = state.viewer.waitFor("status", (s) => s.message.includes(S.FORBIDDEN), { timeoutMs: 5000, what: `a status naming ${S.FORBIDDEN}` });
  status.catch(() => {});
  const ch = state.viewer.client.advertise({ topic: S.FORBIDDEN, encoding: "json", schemaName: "std_msgs/msg/String" });
  for (let i = 0; i < 15; i++) {
    state.viewer.client.sendMessage(ch, new TextEncoder().encode('{"data":"must not arrive"}'));
    await delay(100);
  }
  await delay(500);
  const leaked = procs.robot.events.filter((e) => e.ev === "msg" && e.topic === S.FORBIDDEN && e.at >= since);
  if (leaked.length) fail(`${leaked.length} messages reached the rclpy subscriber on ${S.FORBIDDEN} (whitelist ${describe(S.CLIENT_WHITELIST)})`);
  let s;
  try {
    s = await status;
  } catch {
    fail(`nothing arrived on ${S.FORBIDDEN}, but the viewer got no status naming it (statuses: ${describe(state.viewer.statuses.map((x) => x.message))})`);
  }
  state.viewer.client.unadvertise(ch);
  return `advertise of ${S.FORBIDDEN} (outside ${describe(S.CLIENT_WHITELIST)}) refused with status level ${s.level}: ${JSON.stringify(s.message)}; 15 messages sent, 0 reached the rclpy subscriber`;
});

def("zero Twist on viewer drop", 25_000, async () => {
  const teleop = await openViewer(URL_);
  const since = Date.now();
  const ch = teleop.client.advertise({ topic: S.TELEOP, encoding: "json", schemaName: "geometry_msgs/Twist" });
  const moving = { linear: { x: 0.4, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 0.3 } };
  await sendUntil(teleop, ch, new TextEncoder().encode(JSON.stringify(moving)), listenerGot(S.TELEOP, moving, since));
  await delay(300);
  const zero = { linear: { x: 0, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 0 } };
  const tDrop = Date.now();
  teleop.ws.terminate(); // the socket just goes away (no Close frame), as when a laptop's Wi-Fi drops
  const ev = await listenerGot(S.TELEOP, zero, tDrop, 5000).catch(() =>
    fail(`no zero Twist on ${S.TELEOP} within 5 s of the teleop viewer dropping (last: ${describe(procs.robot.events.filter((e) => e.ev === "msg" && e.topic === S.TELEOP).pop()?.value)})`),
  );
  return `teleop viewer drove ${S.TELEOP} at ${describe(moving)}, then its socket dropped: zero Twist at the rclpy subscriber ${ev.at - tDrop} ms later`;
});

// --- issue 10: a type built after the gateway ---
def("overlay built after the gateway", 5_000, async () => {
  const e = process.env;
  if (e.ROS_TIER_OVERLAY_OK !== "1") fail("the rostier_msgs overlay did not build (see the overlay build log)");
  const gw = Number(e.ROS_TIER_GATEWAY_MTIME);
  const ov = Number(e.ROS_TIER_OVERLAY_MTIME);
  if (!(ov > gw)) fail(`the overlay's type support library (${ov}) is not newer than the gateway binary (${gw})`);
  if (e.ROS_TIER_GATEWAY_SHA_BEFORE !== e.ROS_TIER_GATEWAY_SHA_AFTER) fail("the gateway binary changed while the overlay was built");
  const now = createHash("sha256").update(readFileSync(e.ROS_TIER_GATEWAY_BIN)).digest("hex");
  if (now !== e.ROS_TIER_GATEWAY_SHA_AFTER) fail("the gateway binary changed after the overlay was built");
  return `rostier_msgs (Reading.msg, Scale.srv) compiled ${(ov - gw).toFixed(1)} s after the gateway binary was installed; the binary launched is the one from before the overlay (sha256 ${now.slice(0, 12)})`;
});

def("custom type topic", 20_000, async () => {
  const t = { topic: "/rostier/reading", type: S.READING_TYPE, value: S.READING };
  const { bytes, ms } = await topicRoundTrip(state.viewer, t, 10_000).catch((err) => {
    const st = state.viewer.statuses.filter((s) => s.message.includes("/rostier/reading")).map((s) => s.message);
    fail(`${err.message}${st.length ? ` (statuses: ${describe(st, 300)})` : ""}`);
  });
  return `/rostier/reading (${S.READING_TYPE}, from the overlay): ${bytes.length} B decoded = published (${leaves(S.READING, 5)}), ${ms} ms after subscribe`;
});

async function customPublish(encoding) {
  const ch0 = await state.viewer.waitForChannel("/rostier/reading", { timeoutMs: 5000 });
  const want = { ...S.READING, value: encoding === "cdr" ? -1.5 : 99.25, label: `from the viewer, ${encoding}`, samples: [7, 8] };
  const since = Date.now();
  const ch = state.viewer.client.advertise({ topic: "/rostier/reading_in", encoding, schemaName: S.READING_TYPE });
  const payload = encoding === "cdr" ? writerFor(ch0.schema).writeMessage(want) : new TextEncoder().encode(JSON.stringify(want));
  const got = procs.custom.waitEvent((e) => e.ev === "msg" && e.topic === "/rostier/reading_in" && !mismatch(e.value, want), {
    since,
    timeoutMs: 8000,
    what: `/rostier/reading_in = ${describe(want)} at the rclpy subscriber`,
  });
  try {
    const ev = await sendUntil(state.viewer, ch, payload, got);
    return `${encoding} ${S.READING_TYPE} on /rostier/reading_in → rclpy subscriber got ${describe(ev.value, 160)} ${ev.at - since} ms after advertise`;
  } catch (err) {
    const st = state.viewer.statuses.filter((s) => s.message.includes("reading_in")).map((s) => s.message);
    fail(`${err.message}${st.length ? ` (statuses: ${describe(st, 300)})` : ""}`);
  } finally {
    if (encoding === "json") state.viewer.client.unadvertise(ch);
    else state.readingChannel = ch; // kept for `ros2 node info`
  }
}
def("custom type publish cdr", 20_000, () => customPublish("cdr"));
def("custom type publish json", 20_000, () => customPublish("json"));

async function customService(encoding) {
  const { [S.SCALE.name]: scale } = await waitServices(state.viewer, [S.SCALE.name]);
  const req = encoding === "cdr" ? { factor: 3, values: [2, -4, 7] } : { factor: 0.5, values: [10, -6, 100] };
  const want = { scaled: req.values.map((v) => Math.round(v * req.factor)), note: `scaled 3 values by ${req.factor}` };
  const data = encoding === "cdr" ? writerFor(serviceSchema(scale, "request")).writeMessage(req) : new TextEncoder().encode(JSON.stringify(req));
  const r = await callService(state.viewer, scale, encoding, data);
  const bytes = responseOf(scale, r);
  const got = encoding === "cdr" ? decode({ schema: serviceSchema(scale, "response") }, bytes) : JSON.parse(new TextDecoder().decode(bytes));
  const diff = mismatch(got, want);
  if (diff) fail(`${scale.name} ${JSON.stringify(req)} answered ${describe(got)}: ${diff}`);
  return `${scale.name} (${scale.type}) ${encoding} ${JSON.stringify(req)} → ${describe(got)} in ${r.ms} ms`;
}
def("custom service cdr", 20_000, () => customService("cdr"));
def("custom service json", 20_000, () => customService("json"));

// --- one node in the graph ---
def("ros2 node info", 30_000, async () => {
  // Held right now by the gateway for its viewer: a subscription, two client publishers, service
  // clients of the services called above.
  const chatter = await state.viewer.waitForChannel("/rostier/chatter", { timeoutMs: 5000 });
  const sub = state.viewer.subscribe(chatter.id);
  await state.viewer.nextMessage(sub, { timeoutMs: 5000 });
  const want = {
    Subscribers: ["/rostier/chatter: std_msgs/msg/String"],
    Publishers: [`${S.CMD_VEL}: ${S.TWIST}`, `/rostier/reading_in: ${S.READING_TYPE}`],
    "Service Clients": [`${S.SERVICES.setBool.name}: ${S.SERVICES.setBool.type}`, `${S.SCALE.name}: ${S.SCALE.type}`],
  };
  let last;
  let missing;
  const t0 = Date.now();
  while (Date.now() - t0 < 20_000) {
    last = (await ros2(["node", "info", GATEWAY])).stdout;
    const sections = parseNodeInfo(last);
    missing = Object.entries(want).flatMap(([sec, lines]) => lines.filter((l) => !(sections[sec] ?? []).includes(l)).map((l) => `${sec}: ${l}`));
    if (missing.length === 0) break;
    await delay(1000);
  }
  state.viewer.unsubscribe(sub);
  if (missing.length) fail(`\`ros2 node info ${GATEWAY}\` lacks ${missing.join("; ")}; it printed: ${last.trim().replace(/\s+/g, " ").slice(0, 600)}`);
  const sections = parseNodeInfo(last);
  return `\`ros2 node info ${GATEWAY}\` lists ${Object.values(want).flat().join(", ")} (${Object.entries(sections).map(([k, v]) => `${v.length} ${k}`).join(", ")})`;
});

function parseNodeInfo(text) {
  const out = {};
  let sec;
  for (const line of text.split("\n")) {
    const h = /^\s{2}(\S[^:]*):\s*$/.exec(line);
    if (h) {
      sec = h[1];
      out[sec] = [];
    } else if (sec && /^\s{4}\S/.test(line)) {
      out[sec].push(line.trim());
    }
  }
  return out;
}

def("one gateway node", 20_000, async () => {
  const now = await nodeListAll();
  const extra = newNodes(now);
  if (extra.length !== 1 || extra[0] !== GATEWAY) fail(`\`ros2 node list -a\` shows ${describe(extra)} besides the rclpy peers, expected exactly ["${GATEWAY}"]`);
  return `\`ros2 node list -a\`: the gateway added exactly one node, ${GATEWAY} (${now.length} nodes in all)`;
});

def("rosout (viewer, as the Log panel)", 20_000, async () => {
  const ch = await state.viewer.waitForChannel("/rosout", { timeoutMs: 5000 });
  const sub = state.viewer.subscribe(ch.id);
  const seen = [];
  const got = state.viewer.nextMessage(sub, {
    timeoutMs: 10_000,
    what: "a Log from foxglove_gateway on /rosout",
    predicate: (m) => {
      const log = decode(ch, payloadBytes(m));
      seen.push(log.name);
      return log.name === "foxglove_gateway";
    },
  });
  got.catch(() => {});
  // Make the gateway say something now: a viewer connecting is logged.
  const other = await openViewer(URL_);
  await other.close();
  let m;
  try {
    m = await got;
  } catch (err) {
    fail(`${err.message}; /rosout names decoded: ${describe([...new Set(seen)])}`);
  } finally {
    state.viewer.unsubscribe(sub);
  }
  const log = decode(ch, payloadBytes(m));
  return `viewer decoded rcl_interfaces/msg/Log from /rosout: name ${log.name}, level ${log.level}, msg ${JSON.stringify(log.msg.slice(0, 80))}`;
});

// --- shutdown ---
def("SIGINT exits", 30_000, async () => {
  await state.viewer.close();
  const launch = state.launch;
  const before = observedNodes();
  if (countOf(before, GATEWAY) !== 1) fail(`before SIGINT the graph shows ${countOf(before, GATEWAY)} ${GATEWAY} nodes`);
  const t0 = Date.now();
  state.sigintAt = t0;
  launch.signal("SIGINT");
  const exit = await within(launch.exit, 15_000, "ros2 launch to exit after SIGINT").catch(() => fail(`ros2 launch still running ${secs(Date.now() - t0)} after SIGINT`));
  state.launchExitMs = exit.t - t0;
  const nodeAlive = state.nodePid && processAlive(state.nodePid);
  if (nodeAlive) fail(`ros2 launch exited after ${state.launchExitMs} ms but the gateway process ${state.nodePid} is still running`);
  return `SIGINT to ros2 launch (pid ${launch.pid}): it exited with code ${exit.code} after ${state.launchExitMs} ms, gateway process ${state.nodePid ?? "?"} gone`;
});

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

def("SIGINT leaves the graph", 30_000, async () => {
  const t0 = state.sigintAt;
  if (!t0) fail("SIGINT was not sent");
  const gateways = newNodes;
  // When did each of the gateway's nodes leave (for the PASS line and any failure)?
  const leftText = () => {
    const left = {};
    let prev = procs.robot.events.filter((e) => e.ev === "nodes" && e.at < t0).pop()?.nodes ?? [];
    for (const e of procs.robot.events.filter((x) => x.ev === "nodes" && x.at >= t0)) {
      for (const n of gateways(prev)) if (!e.nodes.includes(n) && !(n in left)) left[n] = Math.round(e.t - t0);
      prev = e.nodes;
    }
    return Object.entries(left).map(([n, ms]) => `${n} after ${ms} ms`).join(", ") || "none";
  };
  let goneAt;
  try {
    const ev = await procs.robot.waitEvent((e) => e.ev === "nodes" && gateways(e.nodes).length === 0, { since: t0, timeoutMs: 15_000, what: "the graph without the gateway's nodes" });
    goneAt = ev.t - t0;
  } catch {
    fail(`${secs(Date.now() - t0)} after SIGINT the graph still shows ${describe(gateways(observedNodes()))} (left so far: ${leftText()})`);
  }
  // The user's view: `ros2 node list -a` from 2 s after SIGINT.
  const wait = t0 + 2000 - Date.now();
  if (wait > 0) await delay(wait);
  const cli = await nodeListAll();
  const ghosts = gateways(cli);
  if (ghosts.length) fail(`\`ros2 node list -a\` ${secs(Date.now() - t0)} after SIGINT still lists ${describe(ghosts)} (an rclpy node saw ${leftText()} leave)`);
  if (goneAt > 2000) fail(`gone from the graph only ${Math.round(goneAt)} ms after SIGINT (limit 2000 ms): ${leftText()}`);
  return `every gateway node left the graph within ${Math.round(goneAt)} ms of SIGINT (seen by an rclpy node: ${leftText()}); \`ros2 node list -a\` at ${secs(2000)} lists none`;
});

def("immediate relaunch: one node", 90_000, async () => {
  // A fresh launch, stopped with SIGINT and relaunched the moment ros2 launch has exited: the
  // relaunched node must be the only /foxglove_gateway (no ghost of the one that just stopped).
  const t2 = Date.now();
  const { proc: l2 } = await startLaunch("launch-2", ["debug:=true"]);
  await ros2(["param", "get", GATEWAY, "port"]);
  await procs.robot.waitEvent((e) => e.ev === "nodes" && countOf(e.nodes, GATEWAY) >= 1, { since: t2, timeoutMs: 15_000, what: `${GATEWAY} in the graph` });
  l2.signal("SIGINT");
  const exit = await within(l2.exit, 15_000, "ros2 launch to exit after SIGINT");
  const t0 = Date.now();
  const atRelaunch = countOf(observedNodes(), GATEWAY);
  const { proc: l3, ms } = await startLaunch("launch-3");
  state.lastLaunch = l3;
  // The new node answers a fresh participant, and the rclpy observer has seen a graph change
  // with a gateway node in it since the relaunch: it has discovered the new node.
  await ros2(["param", "get", GATEWAY, "port"]);
  await procs.robot.waitEvent((e) => e.ev === "nodes" && countOf(e.nodes, GATEWAY) >= 1, { since: t0, timeoutMs: 15_000, what: `the relaunched ${GATEWAY} in the graph` });
  await delay(1000);
  const seen = countOf(observedNodes(), GATEWAY);
  const cli = countOf(await nodeListAll(), GATEWAY);
  const when = `${secs(Date.now() - t0)} after relaunching (the stopped launch exited with code ${exit.code}; ${atRelaunch} ${GATEWAY} in the graph at relaunch; listening after ${secs(ms)})`;
  if (seen !== 1 || cli !== 1) fail(`${when}: the graph shows ${seen} ${GATEWAY} nodes (rclpy view), \`ros2 node list -a\` ${cli}`);
  return `${when}: exactly one ${GATEWAY} (rclpy view and \`ros2 node list -a\`)`;
});

def("debug:=true", 5_000, async () => {
  // launch-2 ran with debug:=true, launch-1 without: the gateway's DEBUG lines in one only.
  const debugLines = (name) => (launches.find((p) => p.name === name)?.lines ?? []).filter((l) => /\[DEBUG\] \[[\d.]+\] \[foxglove_gateway\]/.test(l.text));
  const l1 = launches.find((p) => p.name === "launch-1");
  if (!launches.some((p) => p.name === "launch-2")) fail("the launch with debug:=true did not run");
  const [on, off] = [debugLines("launch-2"), debugLines("launch-1")];
  if (!on.length) fail("ros2 launch … debug:=true printed no DEBUG line of the gateway");
  if (off.length) fail(`without debug:=true the gateway printed ${off.length} DEBUG line(s), first: ${off[0].text.slice(0, 160)}`);
  return `with debug:=true ${on.length} DEBUG line(s) of the gateway, first: "${on[0].text.slice(0, 140)}"; without it none in ${l1?.lines.length ?? 0} lines`;
});

def("no ERROR logs", 30_000, async () => {
  if (state.lastLaunch) {
    state.lastLaunch.signal("SIGINT");
    await within(state.lastLaunch.exit, 15_000, "the last launch to exit").catch(() => {});
  }
  const errors = launches.flatMap((p) => p.lines.filter((l) => /\[(ERROR|FATAL)\]|\bERROR\b|\bpanicked at\b/.test(l.text)).map((l) => `${p.name}| ${l.text}`));
  const total = launches.reduce((n, p) => n + p.lines.length, 0);
  if (errors.length) fail(`${errors.length} ERROR line(s) in the launch output: ${errors.slice(0, 6).join(" || ")}`);
  return `${total} lines of ros2 launch output over ${launches.length} launches (publishers coming and going, viewers, service timeouts, shutdown): none at ERROR level`;
});

// ---------------------------------------------------------------------------------------------

async function setup() {
  writeFileSync(path.join(LOG_DIR, "robot-spec.json"), JSON.stringify(S.robotSpec(), null, 1));
  writeFileSync(path.join(LOG_DIR, "custom-spec.json"), JSON.stringify(S.customSpec(), null, 1));
  // The daemon first, so `ros2 node list` etc. see a graph it has been watching all along.
  await ros2(["daemon", "start"], 30_000);
  procs.robot = startPeer("peer-robot", ["robot", path.join(LOG_DIR, "robot-spec.json")]);
  procs.custom = startPeer("peer-custom", ["robot", path.join(LOG_DIR, "custom-spec.json")]);
  await procs.robot.waitEvent((e) => e.ev === "ready", { since: 0, timeoutMs: 30_000, what: "ready" }).catch((err) => {
    throw new Error(`the rclpy robot peer did not start: ${err.message}\n${procs.robot.tail()}`);
  });
  await procs.custom.waitEvent((e) => e.ev === "ready", { since: 0, timeoutMs: 30_000, what: "ready" }).catch((err) => {
    // Only the custom-type checks depend on it; they fail on their own.
    console.log(`note: the rostier_msgs peer did not start: ${err.message}\n${procs.custom.tail()}`);
  });
  // Baseline: every node before the gateway starts, once the peers see each other.
  const want = ["/rostier_robot", "/rostier_params", "/rostier_listener", "/rostier_observer"];
  const t0 = Date.now();
  while (want.some((n) => !observedNodes().includes(n)) && Date.now() - t0 < 10_000) await delay(100);
  await delay(500);
  state.baselineNodes = [...new Set([...observedNodes(), ...(await nodeListAll())])];
  if (state.baselineNodes.some((n) => n.includes("foxglove"))) {
    throw new Error(`a foxglove node is already in this namespace's graph: ${state.baselineNodes}`);
  }
}

async function main() {
  const t0 = Date.now();
  let setupError;
  try {
    await within(setup(), 90_000, "setup");
  } catch (err) {
    setupError = err;
  }
  for (const name of CHECKS) {
    if (setupError) {
      report(false, name, `not run: setup failed: ${setupError.message}`);
      continue;
    }
    const { timeoutMs, fn } = checkFns.get(name);
    await check(name, timeoutMs, fn);
  }
  await stopAll();
  await run("ros2", ["daemon", "stop"], { timeoutMs: 15_000 });
  console.log(`logs: ${LOG_DIR}`);
  console.log(`real-ROS tier checks took ${secs(Date.now() - t0)}`);
  console.log(`real-ROS checks: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch(async (err) => {
  console.log(`FAIL tier: ${err?.stack ?? err}`);
  await stopAll();
  console.log(`real-ROS checks: ${passed} passed, ${failed + 1} failed`);
  process.exitCode = 1;
});
