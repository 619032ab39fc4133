// Services and parameters through Foxglove's own client (`FoxgloveClient` from
// @foxglove/ws-protocol), against the real gateway on a simulated graph
// (tests/fixtures/services_params.yaml). Requests are written and responses read with Foxglove's
// own CDR libraries from the schemas the gateway advertised, as the app's Service Call panel
// does. Expected values are written out by hand.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { readerFor, writerFor } from "./lib/cdr.mjs";
import WebSocket from "ws";

import { Connection, delay, payloadBytes } from "./lib/connection.mjs";
import { REPO_ROOT, startScenario } from "./lib/gateway.mjs";

const SCENARIO = path.join(REPO_ROOT, "tests", "fixtures", "services_params.yaml");
const PROTOCOL = "foxglove.websocket.v1";

/** Resolve with the first `event` payload of `client` for which `pred` holds. */
function once(client, event, pred = () => true, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(event, handler);
      reject(new Error(`no matching ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const handler = (payload) => {
      let ok = false;
      try {
        ok = pred(payload);
      } catch (err) {
        clearTimeout(timer);
        client.off(event, handler);
        reject(err);
        return;
      }
      if (ok) {
        clearTimeout(timer);
        client.off(event, handler);
        resolve(payload);
      }
    };
    client.on(event, handler);
  });
}

/** The reply to call `callId`: `{response}` or `{failure}`. */
function reply(client, callId, timeoutMs = 3000) {
  return Promise.race([
    once(client, "serviceCallResponse", (r) => r.callId === callId, timeoutMs).then((response) => ({ response })),
    once(client, "serviceCallFailure", (f) => f.callId === callId, timeoutMs).then((failure) => ({ failure })),
  ]);
}

/** Parameters of a parameterValues message, by name. */
function byName(msg) {
  return Object.fromEntries(msg.parameters.map((p) => [p.name, p]));
}

describe("services and parameters through @foxglove/ws-protocol", () => {
  let gateway;
  let conn;
  /** Advertised services by name, collected from the first advertiseServices. */
  let services;

  before(async () => {
    gateway = await startScenario(SCENARIO);
    // advertiseServices follows serverInfo at once (possibly in the same read): listen before
    // the socket opens.
    conn = new Connection(new WebSocket(gateway.url, [PROTOCOL]));
    services = new Map();
    conn.client.on("advertiseServices", (list) => {
      for (const s of list) services.set(s.name, s);
    });
    await conn.waitFor("serverInfo", () => true, { timeoutMs: 5000 });
    const t0 = Date.now();
    while (services.size < 3 && Date.now() - t0 < 5000) await delay(20);
  });

  after(async () => {
    await conn?.close();
    await gateway?.stop();
  });

  test("serverInfo offers services and parameters, with cdr first", () => {
    const caps = conn.serverInfo.capabilities;
    for (const c of ["services", "parameters", "parametersSubscribe", "connectionGraph"]) {
      assert.ok(caps.includes(c), `${c} in ${caps}`);
    }
    assert.deepEqual(conn.serverInfo.supportedEncodings, ["cdr", "json"]);
  });

  test("services are advertised with ros2msg request and response schemas", () => {
    const s = services.get("/sim/set_bool");
    assert.ok(s, `advertised: ${[...services.keys()]}`);
    assert.equal(s.type, "std_srvs/srv/SetBool");
    assert.equal(s.request.schemaName, "std_srvs/srv/SetBool_Request");
    assert.equal(s.request.schemaEncoding, "ros2msg");
    assert.equal(s.request.encoding, "cdr");
    assert.equal(s.response.schemaName, "std_srvs/srv/SetBool_Response");
    assert.match(s.response.schema, /bool success/);
    assert.match(s.response.schema, /string message/);
    assert.ok(services.has("/sim/echo_basic"));
  });

  test("a CDR call round-trips every primitive", async () => {
    const s = services.get("/sim/echo_basic");
    const request = {
      bool_value: true,
      byte_value: 255,
      char_value: 65,
      float32_value: 1.5,
      float64_value: -2.25,
      int8_value: -128,
      uint8_value: 200,
      int16_value: -32768,
      uint16_value: 65535,
      int32_value: -2147483648,
      uint32_value: 4294967295,
      int64_value: -9223372036854775808n,
      uint64_value: 18446744073709551615n,
      // ASCII only: MessageWriter 3.1.0 sizes strings by JS length, so it truncates non-ASCII
      // text itself (it writes "héll" for "héllo").
      string_value: "hello, service",
    };
    const data = writerFor(s.request.schema).writeMessage(request);
    conn.client.sendServiceCallRequest({ serviceId: s.id, callId: 1, encoding: "cdr", data });
    const { response, failure } = await reply(conn.client, 1);
    assert.equal(failure, undefined, JSON.stringify(failure));
    assert.equal(response.serviceId, s.id);
    assert.equal(response.encoding, "cdr");
    const { reader } = readerFor({ schema: s.response.schema });
    assert.deepEqual(reader.readMessage(payloadBytes(response)), request);
  });

  test("a JSON call is answered in JSON", async () => {
    const s = services.get("/sim/set_bool");
    const data = new TextEncoder().encode(JSON.stringify({ data: true }));
    conn.client.sendServiceCallRequest({ serviceId: s.id, callId: 2, encoding: "json", data });
    const { response, failure } = await reply(conn.client, 2);
    assert.equal(failure, undefined, JSON.stringify(failure));
    assert.equal(response.encoding, "json");
    const body = JSON.parse(new TextDecoder().decode(payloadBytes(response)));
    assert.deepEqual(body, { success: true, message: "done" });
  });

  test("JSON that does not fit the request type fails with a serviceCallFailure", async () => {
    const s = services.get("/sim/set_bool");
    const data = new TextEncoder().encode(JSON.stringify({ data: [1, 2] }));
    conn.client.sendServiceCallRequest({ serviceId: s.id, callId: 3, encoding: "json", data });
    const { failure } = await reply(conn.client, 3);
    assert.ok(failure, "a failure");
    assert.equal(failure.serviceId, s.id);
    assert.match(failure.message, /\/sim\/set_bool/);
    assert.match(failure.message, /SetBool_Request/);
  });

  test("an unknown service id fails", async () => {
    conn.client.sendServiceCallRequest({ serviceId: 9999, callId: 4, encoding: "cdr", data: new Uint8Array([0, 1, 0, 0]) });
    const { failure } = await reply(conn.client, 4);
    assert.match(failure.message, /^Unknown service/);
  });

  test("a service that never answers times out with a failure naming it", async () => {
    const s = services.get("/sim/silent");
    const data = writerFor(s.request.schema).writeMessage({});
    const t0 = Date.now();
    conn.client.sendServiceCallRequest({ serviceId: s.id, callId: 5, encoding: "cdr", data });
    // The scenario binary runs with the default service_call_timeout_ms (5000).
    const { failure } = await reply(conn.client, 5, 8000);
    assert.ok(Date.now() - t0 >= 4500, "not before the timeout");
    assert.match(failure.message, /\/sim\/silent/);
    assert.match(failure.message, /5000 ms/);
  });

  test("getParameters returns every parameter with type hints; the silent node is skipped after one try", async () => {
    const waiting = once(conn.client, "parameterValues", (m) => m.id === "all", 8000);
    conn.client.getParameters([], "all");
    const p = byName(await waiting);
    assert.deepEqual(p["/sim_robot.max_speed"], { name: "/sim_robot.max_speed", value: 1, type: "float64" });
    assert.deepEqual(p["/sim_robot.count"], { name: "/sim_robot.count", value: 3 });
    assert.deepEqual(p["/sim_robot.name"], { name: "/sim_robot.name", value: "r2" });
    assert.deepEqual(p["/sim_robot.enabled"], { name: "/sim_robot.enabled", value: true });
    assert.deepEqual(p["/sim_robot.mask"], { name: "/sim_robot.mask", value: "AQL/", type: "byte_array" });
    assert.deepEqual(p["/sim_robot.gains"], { name: "/sim_robot.gains", value: [0.5, 2], type: "float64_array" });
    assert.deepEqual(p["/sim_robot.names"], { name: "/sim_robot.names", value: ["a", "b"] });
    assert.equal(p["/sim_stuck.x"], undefined);
    // The unresponsive node is now skipped: the next answer is immediate.
    const t0 = Date.now();
    const again = once(conn.client, "parameterValues", (m) => m.id === "again", 2000);
    conn.client.getParameters([], "again");
    await again;
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  });

  test("setParameters with hints, answered with the new values, and seen by subscribers", async () => {
    const watcher = await Connection.open(gateway.url, [PROTOCOL]);
    try {
      watcher.client.subscribeParameterUpdates(["/sim_robot.max_speed", "/sim_robot.gains"]);
      // Let the subscription land before the change.
      const warm = once(watcher.client, "parameterValues", (m) => m.id === "w");
      watcher.client.getParameters(["/sim_robot.max_speed"], "w");
      await warm;
      const update = once(watcher.client, "parameterValues", (m) => m.id === undefined);
      const answer = once(conn.client, "parameterValues", (m) => m.id === "set");
      conn.client.setParameters(
        [
          { name: "/sim_robot.max_speed", value: 2, type: "float64" },
          { name: "/sim_robot.gains", value: [1, 3], type: "float64_array" },
          { name: "/sim_robot.mask", value: "BAU=", type: "byte_array" },
          { name: "/sim_robot.count", value: 9 },
        ],
        "set",
      );
      const p = byName(await answer);
      assert.deepEqual(p["/sim_robot.max_speed"], { name: "/sim_robot.max_speed", value: 2, type: "float64" });
      assert.deepEqual(p["/sim_robot.gains"], { name: "/sim_robot.gains", value: [1, 3], type: "float64_array" });
      assert.deepEqual(p["/sim_robot.mask"], { name: "/sim_robot.mask", value: "BAU=", type: "byte_array" });
      assert.deepEqual(p["/sim_robot.count"], { name: "/sim_robot.count", value: 9 });
      const u = byName(await update);
      assert.deepEqual(Object.keys(u).sort(), ["/sim_robot.gains", "/sim_robot.max_speed"]);
      // Unset.
      const unset = once(conn.client, "parameterValues", (m) => m.id === "unset");
      conn.client.setParameters([{ name: "/sim_robot.count" }], "unset");
      assert.deepEqual((await unset).parameters, []);
      const after = once(conn.client, "parameterValues", (m) => m.id === "after");
      conn.client.getParameters(["/sim_robot.count", "/sim_robot.name"], "after");
      assert.deepEqual(Object.keys(byName(await after)), ["/sim_robot.name"]);
    } finally {
      await watcher.close();
    }
  });

  test("topic data kept flowing during all of the above", async () => {
    const ch = await conn.waitForChannel("/chatter");
    const sub = conn.subscribe(ch.id);
    const first = await conn.nextMessage(sub);
    assert.ok(first);
    const msgs = (await conn.collect(300)).get(sub) ?? [];
    assert.ok(msgs.length >= 5, `${msgs.length} messages in 300 ms`);
  });
});
