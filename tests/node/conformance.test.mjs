// Conformance tier: the real gateway on a simulated ROS graph (tests/fixtures/conformance.yaml),
// driven by Foxglove's own client (`FoxgloveClient` from @foxglove/ws-protocol over `ws`), with
// every payload decoded by Foxglove's own ROS 2 libraries from the schema the gateway advertised
// — exactly what the Foxglove app does. Runs once per subprotocol the app family offers.
//
// Expected values are written out by hand (here and in lib/expected.mjs), never computed by the
// gateway's code. Each test and hook is bounded; the gateway process is always killed.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { isDeepStrictEqual, inspect } from "node:util";

import WebSocket from "ws";

import { decodeXcdr1, isConstantsOnly, parseRos2msg, readerFor, writerFor } from "./lib/cdr.mjs";
import { Connection, delay, payloadBytes } from "./lib/connection.mjs";
import {
  defaultArrays,
  defaultDefaults,
  defaultMultiNested,
  defaultSequences,
  stringsDefaults,
  zeroBasicTypes,
} from "./lib/expected.mjs";
import { REPO_ROOT, startScenario } from "./lib/gateway.mjs";

const SCENARIO = path.join(REPO_ROOT, "tests", "fixtures", "conformance.yaml");
const SUBPROTOCOLS = ["foxglove.websocket.v1", "foxglove.sdk.v1"];

const I64_MIN = -9223372036854775808n;
const I64_MAX = 9223372036854775807n;
const U64_MAX = 18446744073709551615n;

/** What each simulated publisher in the scenario must deliver, decoded. */
const PUBLISHED = [
  { topic: "/chatter", type: "std_msgs/msg/String", expected: { data: "hello" } },
  {
    topic: "/sim/twist",
    type: "geometry_msgs/msg/Twist",
    expected: { linear: { x: 1.5, y: -2.25, z: 0 }, angular: { x: 0, y: 0, z: 0.125 } },
  },
  {
    topic: "/tif/basic_max",
    type: "test_interface_files/msg/BasicTypes",
    expected: {
      bool_value: true,
      byte_value: 255,
      char_value: 255,
      float32_value: 3.4028234663852886e38, // largest finite float32
      float64_value: 1.7976931348623157e308,
      int8_value: 127,
      uint8_value: 255,
      int16_value: 32767,
      uint16_value: 65535,
      int32_value: 2147483647,
      uint32_value: 4294967295,
      int64_value: I64_MAX,
      uint64_value: U64_MAX,
    },
  },
  {
    topic: "/tif/basic_min",
    type: "test_interface_files/msg/BasicTypes",
    expected: {
      bool_value: false,
      byte_value: 0,
      char_value: 0,
      float32_value: 2 ** -149, // smallest float32 subnormal
      float64_value: -0, // the sign of zero must survive (assert.deepStrictEqual uses Object.is)
      int8_value: -128,
      uint8_value: 0,
      int16_value: -32768,
      uint16_value: 0,
      int32_value: -2147483648,
      uint32_value: 0,
      int64_value: I64_MIN,
      uint64_value: 0n,
    },
  },
  {
    topic: "/tif/arrays",
    type: "test_interface_files/msg/Arrays",
    expected: {
      ...defaultArrays(),
      bool_values: [true, false, true],
      byte_values: new Uint8Array([0, 128, 255]),
      char_values: new Uint8Array([65, 0, 255]),
      float32_values: new Float32Array([1.5, -0.25, 3.4028234663852886e38]),
      float64_values: new Float64Array([0.1, -1.7976931348623157e308, 5e-324]),
      int8_values: new Int8Array([-128, 0, 127]),
      uint8_values: new Uint8Array([0, 1, 255]),
      int16_values: new Int16Array([-32768, 0, 32767]),
      uint16_values: new Uint16Array([0, 1, 65535]),
      int32_values: new Int32Array([-2147483648, 0, 2147483647]),
      uint32_values: new Uint32Array([0, 1, 4294967295]),
      int64_values: new BigInt64Array([I64_MIN, 0n, I64_MAX]),
      uint64_values: new BigUint64Array([0n, 1n, U64_MAX]),
      string_values: ["", "ascii", "ünïcödé ✓"],
      basic_types_values: [
        { ...zeroBasicTypes(), bool_value: true, int32_value: -5 },
        zeroBasicTypes(),
        { ...zeroBasicTypes(), uint64_value: U64_MAX, float32_value: 0.5 },
      ],
      alignment_check: 123456789,
    },
  },
  {
    topic: "/tif/unbounded",
    type: "test_interface_files/msg/UnboundedSequences",
    expected: {
      ...defaultSequences(),
      bool_values: [true],
      byte_values: new Uint8Array([]),
      char_values: new Uint8Array([1, 2, 3, 4, 5]),
      float32_values: new Float32Array([0.5]),
      float64_values: new Float64Array([1e100, -2.5]),
      int8_values: new Int8Array([-1, -2, -3]),
      uint8_values: new Uint8Array([0, 255]),
      int16_values: new Int16Array([]),
      uint16_values: new Uint16Array([65535]),
      int32_values: new Int32Array([7, 8, 9]),
      uint32_values: new Uint32Array([]),
      int64_values: new BigInt64Array([I64_MIN, I64_MAX]),
      uint64_values: new BigUint64Array([U64_MAX]),
      string_values: ["a", "", "ß"],
      basic_types_values: [
        { ...zeroBasicTypes(), int8_value: -7 },
        { ...zeroBasicTypes(), float64_value: 2.5, char_value: 33 },
      ],
      constants_values: [{}, {}],
      defaults_values: [defaultDefaults(), { ...defaultDefaults(), int64_value: 5n }],
      alignment_check: -1,
    },
  },
  {
    topic: "/tif/bounded",
    type: "test_interface_files/msg/BoundedSequences",
    expected: {
      ...defaultSequences(),
      bool_values: [false, true],
      uint8_values: new Uint8Array([9]),
      float64_values: new Float64Array([0.25, 0.5, 0.75]),
      string_values: ["xyz"],
      basic_types_values: [{ ...zeroBasicTypes(), uint16_value: 4242 }],
      alignment_check: 77,
    },
  },
  {
    topic: "/tif/strings",
    type: "test_interface_files/msg/Strings",
    expected: {
      ...stringsDefaults(),
      string_value: 'Grüße, 世界! 🤖 tab\there "quoted" back\\slash',
      bounded_string_value: "bounded ✓",
    },
  },
  {
    topic: "/tif/wstrings",
    type: "test_interface_files/msg/WStrings",
    expected: {
      wstring_value: "Grüße ☃ 𝄞",
      wstring_value_default1: "Hello world!",
      wstring_value_default2: "Hellö wörld!",
      wstring_value_default3: "ハローワールド",
      array_of_wstrings: ["", "ä", "日本"],
      bounded_sequence_of_wstrings: ["x"],
      unbounded_sequence_of_wstrings: ["a", "🤖"],
    },
  },
  {
    topic: "/tif/nested",
    type: "test_interface_files/msg/Nested",
    expected: {
      basic_types_value: {
        ...zeroBasicTypes(),
        bool_value: true,
        int16_value: -300,
        uint32_value: 3000000000,
        float64_value: -1.5,
      },
    },
  },
  {
    topic: "/tif/multi_nested",
    type: "test_interface_files/msg/MultiNested",
    expected: {
      ...defaultMultiNested(),
      bounded_sequence_of_arrays: [{ ...defaultArrays(), alignment_check: 1 }],
      unbounded_sequence_of_unbounded_sequences: [
        { ...defaultSequences(), int32_values: new Int32Array([1, 2, 3]) },
        defaultSequences(),
      ],
    },
  },
  {
    topic: "/tif/defaults",
    type: "test_interface_files/msg/Defaults",
    expected: { ...defaultDefaults(), int8_value: 7, uint64_value: 1n },
  },
  { topic: "/tif/empty", type: "test_interface_files/msg/Empty", expected: {} },
  { topic: "/tif/constants", type: "test_interface_files/msg/Constants", expected: {} },
];

/** The echo routes' output topics (the simulated echo node publishes on them). */
const ECHO_OUTPUTS = [
  { topic: "/conformance/out", type: "geometry_msgs/msg/Twist" },
  { topic: "/conformance/multi_out", type: "test_interface_files/msg/MultiNested" },
];

/** geometry_msgs/msg/Twist written by hand (ROS 2 Jazzy), for the client-side MessageWriter. */
const TWIST_SCHEMA = [
  "geometry_msgs/Vector3 linear",
  "geometry_msgs/Vector3 angular",
  "================================================================================",
  "MSG: geometry_msgs/Vector3",
  "float64 x",
  "float64 y",
  "float64 z",
  "",
].join("\n");

/** A log time (ns since the epoch, bigint) within a minute of now. */
function assertPlausibleLogTime(ts) {
  assert.equal(typeof ts, "bigint", "log time must be a bigint (u64 ns)");
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const diff = ts > nowNs ? ts - nowNs : nowNs - ts;
  assert.ok(diff < 60_000_000_000n, `log time ${ts} ns is ${Number(diff) / 1e9} s away from now`);
}

/** True if any field anywhere in `definitions` is a wstring (MessageReader cannot read those). */
function hasWstring(definitions) {
  return definitions.some((d) => d.definitions.some((f) => !f.isConstant && f.type === "wstring"));
}

/**
 * Decode one payload from `channel` the way the app does (MessageReader from the advertised
 * schema) and, independently, with lib/cdr.mjs; both must agree and consume the whole payload
 * (up to 3 bytes of trailing alignment padding, which rmw may add).
 */
function decodeBoth(channel, bytes) {
  const definitions = parseRos2msg(channel.schema);
  const ours = decodeXcdr1(definitions, bytes);
  assert.ok(
    bytes.byteLength - ours.consumed < 4,
    `${channel.topic}: ${bytes.byteLength - ours.consumed} unread trailing bytes (decoded ${ours.consumed} of ${bytes.byteLength})`,
  );
  // MessageReader cannot read these two cases at all (see lib/cdr.mjs); ours is the only oracle.
  if (hasWstring(definitions) || isConstantsOnly(definitions)) return ours.value;
  const { reader } = readerFor(channel);
  const theirs = reader.readMessage(bytes);
  assert.deepStrictEqual(ours.value, theirs, `${channel.topic}: lib/cdr.mjs and MessageReader disagree`);
  assert.ok(bytes.byteLength - reader.lastReadByteLength() < 4, `${channel.topic}: MessageReader left trailing bytes`);
  return theirs;
}

function show(value) {
  return inspect(value, { depth: 6, breakLength: 160, maxArrayLength: 20 });
}

/**
 * Send `payload` on client channel `clientChannelId` every 100 ms until a message on `outSub`
 * decodes to `expected` (repeating covers the moment between subscribe and the echo route being
 * live). Rejects after `timeoutMs` with the last decoded value and any status messages.
 */
async function publishUntilEcho(conn, { clientChannelId, payload, outSub, outChannel, expected, timeoutMs = 5000 }) {
  let last = "(nothing received)";
  const echoed = conn.nextMessage(outSub, {
    timeoutMs,
    what: `the echo of ${show(expected)} on ${outChannel.topic}`,
    predicate: (m) => {
      try {
        const value = decodeBoth(outChannel, payloadBytes(m));
        last = show(value);
        return isDeepStrictEqual(value, expected);
      } catch (err) {
        last = `undecodable: ${err.message}`;
        return false;
      }
    },
  });
  let sending = true;
  const sender = (async () => {
    while (sending) {
      conn.client.sendMessage(clientChannelId, payload);
      await delay(100);
    }
  })();
  try {
    const m = await echoed;
    assertPlausibleLogTime(m.timestamp);
    return m;
  } catch (err) {
    const statuses = conn.statuses.map((s) => `[${s.level}] ${s.message}`).join("; ") || "none";
    throw new Error(`${err.message}\nlast decoded echo: ${last}\nstatus messages: ${statuses}`);
  } finally {
    sending = false;
    await sender;
  }
}

for (const subprotocol of SUBPROTOCOLS) {
  describe(`conformance over ${subprotocol}`, { timeout: 120_000 }, () => {
    let gateway;
    const open = [];

    /** Open a viewer connection offering only `subprotocol`; closed in `after`. */
    async function connect() {
      const conn = await Connection.open(gateway.url, [subprotocol], { timeoutMs: 5000 });
      open.push(conn);
      return conn;
    }

    /** Fail with the gateway's stderr attached if it died under us. */
    function assertGatewayAlive() {
      assert.ok(gateway.running, `gateway exited during the test; stderr:\n${gateway.stderr()}`);
    }

    before(async () => {
      gateway = await startScenario(SCENARIO, { readyTimeoutMs: 30_000 });
    }, { timeout: 40_000 });

    after(async () => {
      await Promise.all(open.map((c) => c.close()));
      await gateway?.stop();
    }, { timeout: 10_000 });

    test("handshake: subprotocol echoed, serverInfo as specified", { timeout: 10_000 }, async () => {
      const conn = await connect();
      assert.equal(conn.ws.protocol, subprotocol, "server must echo the subprotocol the client offered");
      const info = conn.serverInfo;
      assert.equal(info.op, "serverInfo");
      assert.equal(typeof info.name, "string");
      assert.deepEqual(info.supportedEncodings, ["cdr", "json"]);
      assert.ok(Array.isArray(info.capabilities), "capabilities must be an array");
      assert.ok(info.capabilities.includes("clientPublish"), `capabilities ${info.capabilities} lack clientPublish`);
      assert.equal(typeof info.metadata?.ROS_DISTRO, "string", "metadata.ROS_DISTRO missing");
      assert.ok(info.metadata.ROS_DISTRO.length > 0, "metadata.ROS_DISTRO is empty");
      if (info.sessionId !== undefined) assert.equal(typeof info.sessionId, "string");
      assert.deepEqual(conn.errors, [], "the client raised errors");
      assertGatewayAlive();
    });

    test("a client offering no supported subprotocol is refused", { timeout: 10_000 }, async () => {
      // Raw `ws`, to see the HTTP answer: the upgrade must be refused (the SDK answers 400), not
      // accepted without a subprotocol or with one the client never offered.
      const ws = new WebSocket(gateway.url, [`${subprotocol}.99`]);
      const outcome = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve("no answer within 3 s"), 3000);
        const finish = (r) => {
          clearTimeout(timer);
          resolve(r);
        };
        ws.on("unexpected-response", (_req, res) => finish(res.statusCode));
        ws.on("open", () => finish(`accepted with subprotocol ${JSON.stringify(ws.protocol)}`));
        ws.on("error", (err) => finish(`error: ${err.message}`));
      });
      ws.terminate();
      assert.equal(typeof outcome, "number", `upgrade was not refused: ${outcome}`);
      assert.ok(outcome >= 400 && outcome < 500, `refused with HTTP ${outcome}, expected 4xx`);
      assertGatewayAlive();
    });

    test("every scenario topic is advertised as cdr/ros2msg with its type", { timeout: 10_000 }, async () => {
      const conn = await connect();
      const wanted = [...PUBLISHED, ...ECHO_OUTPUTS];
      await conn.waitForChannels(wanted.map((t) => t.topic), { timeoutMs: 5000 });
      for (const { topic, type } of wanted) {
        const ch = conn.channelFor(topic);
        assert.equal(ch.encoding, "cdr", `${topic}: encoding`);
        assert.equal(ch.schemaEncoding, "ros2msg", `${topic}: schemaEncoding`);
        assert.equal(ch.schemaName, type, `${topic}: schemaName`);
      }
      const ids = [...conn.channels.keys()];
      assert.equal(new Set(ids).size, ids.length, "channel ids must be unique");
    });

    test("every advertised schema parses in ROS 2 mode and builds a MessageReader", { timeout: 10_000 }, async () => {
      const conn = await connect();
      await conn.waitForChannels(PUBLISHED.map((t) => t.topic), { timeoutMs: 5000 });
      assert.ok(conn.channels.size >= PUBLISHED.length);
      for (const ch of conn.channels.values()) {
        assert.equal(typeof ch.schema, "string", `${ch.topic}: schema`);
        assert.ok(ch.schema.length > 0 || ch.schemaName.endsWith("/Empty"), `${ch.topic}: empty schema`);
        let definitions;
        assert.doesNotThrow(() => {
          definitions = parseRos2msg(ch.schema);
        }, `${ch.topic} (${ch.schemaName}): schema must parse in ROS 2 mode:\n${ch.schema}`);
        assert.ok(definitions.length >= 1, `${ch.topic}: no definitions`);
        // Every nested type the root refers to must be defined in the same schema text.
        const defined = new Set(definitions.slice(1).map((d) => d.name));
        for (const d of definitions) {
          for (const f of d.definitions) {
            if (f.isComplex) assert.ok(defined.has(f.type), `${ch.topic}: ${f.type} is used but not defined`);
          }
        }
        if (isConstantsOnly(definitions)) continue; // the library's limitation, see lib/cdr.mjs
        assert.doesNotThrow(() => readerFor(ch), `${ch.topic} (${ch.schemaName}): MessageReader:\n${ch.schema}`);
      }
    });

    describe("subscribed data decodes to the published values", () => {
      for (const { topic, type, expected } of PUBLISHED) {
        test(`${topic} (${type})`, { timeout: 10_000 }, async () => {
          const conn = await connect();
          const ch = await conn.waitForChannel(topic, { timeoutMs: 5000 });
          assert.equal(ch.schemaName, type);
          const sub = conn.subscribe(ch.id);
          let previous;
          // Three consecutive messages: all must decode to the same values, in time order.
          for (let i = 0; i < 3; i++) {
            const m = await conn.nextMessage(sub, { timeoutMs: 3000, what: `message ${i + 1} on ${topic}` });
            assertPlausibleLogTime(m.timestamp);
            if (previous !== undefined) assert.ok(m.timestamp >= previous, `${topic}: log time went backwards`);
            previous = m.timestamp;
            const value = decodeBoth(ch, payloadBytes(m));
            assert.deepStrictEqual(value, expected, `${topic}: decoded value differs`);
          }
          assert.deepEqual(conn.errors, [], "the client raised errors");
          conn.unsubscribe(sub);
        });
      }
    });

    test("client publish, CDR and JSON, comes back through the echo node", { timeout: 20_000 }, async () => {
      const conn = await connect();
      const out = await conn.waitForChannel("/conformance/out", { timeoutMs: 5000 });
      const outSub = conn.subscribe(out.id);

      // CDR, written by Foxglove's MessageWriter from a hand-written Twist definition.
      const twist = { linear: { x: 0.75, y: -1.25, z: 2.5 }, angular: { x: -0.125, y: 4, z: -3.5 } };
      const cdr = writerFor(TWIST_SCHEMA).writeMessage(twist);
      assert.equal(cdr.byteLength, 4 + 6 * 8, "a Twist is a CDR header and six float64");
      const cdrChannel = conn.client.advertise({
        topic: "/conformance/in",
        encoding: "cdr",
        schemaName: "geometry_msgs/msg/Twist",
      });
      await publishUntilEcho(conn, { clientChannelId: cdrChannel, payload: cdr, outSub, outChannel: out, expected: twist });

      // JSON: JSON.stringify of the same kind of object, as the Foxglove app sends it.
      const twist2 = { linear: { x: -0.5, y: 0.001, z: 3 }, angular: { x: 0.0625, y: -8, z: 1e-7 } };
      const jsonChannel = conn.client.advertise({
        topic: "/conformance/in",
        encoding: "json",
        schemaName: "geometry_msgs/msg/Twist",
      });
      assert.notEqual(jsonChannel, cdrChannel);
      const utf8 = new TextEncoder();
      await publishUntilEcho(conn, {
        clientChannelId: jsonChannel,
        payload: utf8.encode(JSON.stringify(twist2)),
        outSub,
        outChannel: out,
        expected: twist2,
      });

      // JSON with fields left out: they become zero.
      await publishUntilEcho(conn, {
        clientChannelId: jsonChannel,
        payload: utf8.encode('{"linear":{"x":2}}'),
        outSub,
        outChannel: out,
        expected: { linear: { x: 2, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 0 } },
      });
      assert.deepEqual(conn.errors, [], "the client raised errors");
    });

    test("client publish of nested arrays in JSON is converted to CDR exactly", { timeout: 20_000 }, async () => {
      const conn = await connect();
      const out = await conn.waitForChannel("/conformance/multi_out", { timeoutMs: 5000 });
      const outSub = conn.subscribe(out.id);
      const ch = conn.client.advertise({
        topic: "/conformance/multi_in",
        encoding: "json",
        schemaName: "test_interface_files/msg/MultiNested",
      });
      // Written by hand, not JSON.stringify: 64-bit extremes must travel as exact JSON integers.
      const json = `{
        "array_of_arrays": [
          {"int64_values": [-9223372036854775808, 0, 9223372036854775807],
           "basic_types_values": [{"uint64_value": 18446744073709551615}, {}, {"bool_value": true}],
           "string_values": ["a", "b", "ç"]},
          {},
          {"float64_values": [0.5, -0.5, 2]}
        ],
        "bounded_sequence_of_unbounded_sequences": [
          {"int16_values": [-1, 1], "string_values": ["x"], "defaults_values": [{}, {"bool_value": false}]}
        ],
        "unbounded_sequence_of_bounded_sequences": [{}, {"uint8_values": [1, 2, 3]}],
        "an_unknown_field": "ignored"
      }`;
      const expected = {
        ...defaultMultiNested(),
        array_of_arrays: [
          {
            ...defaultArrays(),
            int64_values: new BigInt64Array([I64_MIN, 0n, I64_MAX]),
            basic_types_values: [
              { ...zeroBasicTypes(), uint64_value: U64_MAX },
              zeroBasicTypes(),
              { ...zeroBasicTypes(), bool_value: true },
            ],
            string_values: ["a", "b", "ç"],
          },
          defaultArrays(),
          { ...defaultArrays(), float64_values: new Float64Array([0.5, -0.5, 2]) },
        ],
        bounded_sequence_of_unbounded_sequences: [
          {
            ...defaultSequences(),
            int16_values: new Int16Array([-1, 1]),
            string_values: ["x"],
            defaults_values: [defaultDefaults(), { ...defaultDefaults(), bool_value: false }],
          },
        ],
        unbounded_sequence_of_bounded_sequences: [
          defaultSequences(),
          { ...defaultSequences(), uint8_values: new Uint8Array([1, 2, 3]) },
        ],
      };
      await publishUntilEcho(conn, {
        clientChannelId: ch,
        payload: new TextEncoder().encode(json),
        outSub,
        outChannel: out,
        expected,
      });
      assert.deepEqual(conn.errors, [], "the client raised errors");
    });

    test("a client message that does not fit its type is refused with an error status", { timeout: 15_000 }, async () => {
      const conn = await connect();
      const out = await conn.waitForChannel("/conformance/out", { timeoutMs: 5000 });
      const outSub = conn.subscribe(out.id);
      const json = conn.client.advertise({
        topic: "/conformance/in",
        encoding: "json",
        schemaName: "geometry_msgs/msg/Twist",
      });
      const utf8 = new TextEncoder();
      const refused = conn.waitFor("status", (s) => s.level === 2 && s.message.includes("linear.x"), {
        timeoutMs: 3000,
        what: "an error status naming linear.x",
        describe: (s) => JSON.stringify(s),
      });
      conn.client.sendMessage(json, utf8.encode('{"linear": {"x": "fast"}}'));
      await refused;
      // Nothing of it reached ROS, and the connection still works for a good message.
      const leaked = await conn.collect(300);
      assert.equal((leaked.get(outSub) ?? []).length, 0, "a refused message was echoed");
      await publishUntilEcho(conn, {
        clientChannelId: json,
        payload: utf8.encode('{"angular": {"z": -1}}'),
        outSub,
        outChannel: out,
        expected: { linear: { x: 0, y: 0, z: 0 }, angular: { x: 0, y: 0, z: -1 } },
      });
      assertGatewayAlive();
    });

    test("unsubscribe stops that subscription's data and only that", { timeout: 15_000 }, async () => {
      const conn = await connect();
      await conn.waitForChannels(["/chatter", "/sim/twist"], { timeoutMs: 5000 });
      const chatter = conn.subscribe(conn.channelFor("/chatter").id);
      const twist = conn.subscribe(conn.channelFor("/sim/twist").id);
      await conn.nextMessage(chatter, { timeoutMs: 3000, what: "data on /chatter before unsubscribing" });
      await conn.nextMessage(twist, { timeoutMs: 3000, what: "data on /sim/twist" });

      conn.unsubscribe(chatter);
      await delay(300); // grace: frames already queued or in flight may still land
      const got = await conn.collect(1000);
      const late = got.get(chatter) ?? [];
      assert.equal(late.length, 0, `${late.length} message(s) on /chatter more than 300 ms after unsubscribe`);
      // The other subscription (20 Hz) keeps flowing, so the silence above is not a dead socket.
      const still = got.get(twist) ?? [];
      assert.ok(still.length >= 5, `only ${still.length} message(s) on /sim/twist in 1 s; expected ~20`);
      assertGatewayAlive();
    });
  });
}
