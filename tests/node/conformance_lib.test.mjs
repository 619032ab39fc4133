// Tests of the conformance tier's own helpers (tests/node/lib/), so that a conformance failure
// means the gateway is wrong, not the harness: the XCDR1 decoder against hand-made bytes and
// against Foxglove's MessageWriter, process management against fake gateways, and Connection
// against Foxglove's own FoxgloveServer.

import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";

import wsProtocol from "@foxglove/ws-protocol";
import { WebSocketServer } from "ws";

import { CdrDecodeError, decodeXcdr1, isConstantsOnly, parseRos2msg, writerFor } from "./lib/cdr.mjs";
import { Connection, WaitTimeout, delay } from "./lib/connection.mjs";
import {
  constants,
  defaultArrays,
  defaultDefaults,
  defaultMultiNested,
  defaultSequences,
  stringsDefaults,
  zeroBasicTypes,
} from "./lib/expected.mjs";
import { GatewayStartError, startGateway, startScenario } from "./lib/gateway.mjs";

const { FoxgloveServer } = wsProtocol;

/** Bytes from hex text; `#` starts a comment that runs to the end of the line. */
function hex(s) {
  const digits = s
    .split("\n")
    .map((line) => line.split("#")[0])
    .join("")
    .replace(/\s+/g, "");
  assert.match(digits, /^(?:[0-9a-f]{2})*$/, "bad hex fixture");
  return new Uint8Array((digits.match(/../g) ?? []).map((b) => parseInt(b, 16)));
}

describe("decodeXcdr1 on hand-made bytes", () => {
  const defs = parseRos2msg("uint8 a\nfloat64 b\nstring s\nwstring w\nint64[] xs\nbool[2] flags\n");
  // Offsets are relative to the body (after the 4-byte header), as XCDR1 alignment is.
  const bytes = hex(`
    00 01 00 00                      # CDR little-endian
    07 00 00 00 00 00 00 00          # a = 7 @0, pad to 8
    00 00 00 00 00 00 f8 3f          # b = 1.5 @8
    04 00 00 00 68 c3 a9 00          # s = "hé": length 4 incl. NUL @16
    03 00 00 00 61 00 34 d8 1e dd    # w = "a𝄞": 3 UTF-16 code units @24
    00 00                            # pad to 4 @34
    02 00 00 00                      # xs: 2 elements @36 (40 is already 8-aligned)
    ff ff ff ff ff ff ff ff          # -1 @40
    02 00 00 00 00 00 00 00          # 2 @48
    01 00                            # flags @56
  `);

  test("decodes every field at the right offset", () => {
    const { value, consumed } = decodeXcdr1(defs, bytes);
    assert.deepStrictEqual(value, {
      a: 7,
      b: 1.5,
      s: "hé",
      w: "a𝄞",
      xs: new BigInt64Array([-1n, 2n]),
      flags: [true, false],
    });
    assert.equal(consumed, 62);
    assert.equal(bytes.byteLength, 62);
  });

  test("every truncation is a CdrDecodeError, never a RangeError", () => {
    for (let n = 0; n < bytes.byteLength; n++) {
      assert.throws(() => decodeXcdr1(defs, bytes.subarray(0, n)), CdrDecodeError, `prefix of ${n} bytes`);
    }
  });

  test("big-endian encapsulation", () => {
    const { value } = decodeXcdr1(parseRos2msg("uint16 v\nint32 w\n"), hex("00 00 00 00 01 02 00 00 ff ff ff fe"));
    assert.deepStrictEqual(value, { v: 258, w: -2 });
  });

  test("an empty message is one placeholder byte", () => {
    assert.deepStrictEqual(decodeXcdr1(parseRos2msg(""), hex("00 01 00 00 00")), { value: {}, consumed: 5 });
    const constants = parseRos2msg("int32 X=1\nstring S=\"a\"\n");
    assert.ok(isConstantsOnly(constants));
    assert.deepStrictEqual(decodeXcdr1(constants, hex("00 01 00 00 00")), { value: {}, consumed: 5 });
  });

  test("malformed input is rejected", () => {
    const str = parseRos2msg("string s\n");
    assert.throws(() => decodeXcdr1(str, hex("00 01 00 00 02 00 00 00 61 62")), /NUL/);
    assert.throws(() => decodeXcdr1(str, hex("00 01 00 00 00 00 00 00")), /length 0/);
    assert.throws(() => decodeXcdr1(str, hex("00 01 00 00 02 00 00 00 ff 00")), /UTF-8/);
    const wstr = parseRos2msg("wstring w\n");
    assert.throws(() => decodeXcdr1(wstr, hex("00 01 00 00 01 00 00 00 34 d8")), /surrogate/);
    const bounded = parseRos2msg("int32[<=2] v\n");
    assert.throws(() => decodeXcdr1(bounded, hex("00 01 00 00 03 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00")), /bound/);
    // A huge declared count fails on the remaining length, before allocating anything.
    const names = parseRos2msg("string[] n\n");
    assert.throws(() => decodeXcdr1(names, hex("00 01 00 00 ff ff ff ff")), CdrDecodeError);
    assert.throws(() => decodeXcdr1(str, hex("01 00 00 00 00")), /encapsulation/);
    assert.throws(() => decodeXcdr1(str, hex("00 01")), /header/);
  });
});

describe("decodeXcdr1 agrees with Foxglove's MessageWriter and MessageReader", () => {
  const cases = [
    {
      schema: [
        "test_interface_files/BasicTypes[2] b",
        "uint8 u",
        "int64[] big",
        "float32[<=3] f",
        "string[] names",
        "char c",
        "================================================================================",
        "MSG: test_interface_files/BasicTypes",
        "bool bool_value",
        "byte byte_value",
        "float64 float64_value",
        "int16 int16_value",
        "uint64 uint64_value",
      ].join("\n"),
      value: {
        b: [
          { bool_value: true, byte_value: 9, float64_value: -2.5, int16_value: -3, uint64_value: 18446744073709551615n },
          { bool_value: false, byte_value: 0, float64_value: 0, int16_value: 0, uint64_value: 0n },
        ],
        u: 200,
        big: new BigInt64Array([-9223372036854775808n, 1n]),
        f: new Float32Array([0.5, -1]),
        // ASCII only: MessageWriter 3.1.0 sizes strings by UTF-16 length, so it truncates
        // non-ASCII text ("ünï" is written as "ün"). The gateway's unicode is checked by decoding.
        names: ["", "abc", "x"],
        c: 65,
      },
    },
    // An empty 8-byte sequence adds no padding: the following uint8 sits right after the count.
    { schema: "float64[] e\nuint8 after\nint32 x\n", value: { e: new Float64Array(0), after: 3, x: -9 } },
    { schema: "uint8 a\nfloat64[] e\nuint8 after\n", value: { a: 1, e: new Float64Array([1.25]), after: 3 } },
  ];
  for (const [i, { schema, value }] of cases.entries()) {
    test(`case ${i}`, async () => {
      const { MessageReader } = await import("@foxglove/rosmsg2-serialization");
      const bytes = writerFor(schema).writeMessage(value);
      const defs = parseRos2msg(schema);
      const ours = decodeXcdr1(defs, bytes);
      assert.deepStrictEqual(ours.value, value);
      assert.equal(ours.consumed, bytes.byteLength);
      assert.deepStrictEqual(ours.value, new MessageReader(defs).readMessage(bytes));
    });
  }
});

describe("lib/expected.mjs matches the .msg files as Foxglove's libraries read them", () => {
  // Two independent readings of /usr/share/test_interface_files/msg: the hand-written defaults in
  // lib/expected.mjs, and MessageWriter filling an empty object from the parsed definitions.
  const dir = "/usr/share/test_interface_files/msg";
  const SEP = "================================================================================";
  const DEPS = {
    BasicTypes: [],
    Constants: [],
    Defaults: [],
    Strings: [],
    Nested: ["BasicTypes"],
    Arrays: ["BasicTypes", "Constants", "Defaults"],
    BoundedSequences: ["BasicTypes", "Constants", "Defaults"],
    UnboundedSequences: ["BasicTypes", "Constants", "Defaults"],
    MultiNested: ["Arrays", "BoundedSequences", "UnboundedSequences", "BasicTypes", "Constants", "Defaults"],
  };
  const schemaOf = (type) =>
    [
      readFileSync(path.join(dir, `${type}.msg`), "utf8"),
      ...DEPS[type].map((d) => `${SEP}\nMSG: test_interface_files/${d}\n${readFileSync(path.join(dir, `${d}.msg`), "utf8")}`),
    ].join("\n");
  const cases = {
    BasicTypes: zeroBasicTypes(),
    Defaults: defaultDefaults(),
    Nested: { basic_types_value: zeroBasicTypes() },
    Arrays: defaultArrays(),
    BoundedSequences: defaultSequences(),
    UnboundedSequences: defaultSequences(),
    MultiNested: defaultMultiNested(),
    Strings: { string_value: "", bounded_string_value: "", ...stringsDefaults() },
  };
  // MessageWriter 3.1.0 writes a *sequence* field's default elements but a count of 0 (malformed
  // CDR), so those fields are handed to it explicitly, straight from the parsed `defaultValue`s;
  // fixed arrays and scalars are left to its own default handling.
  const seqDefaults = (defs, fields) => {
    const out = {};
    for (const f of fields) {
      if (f.isConstant) continue;
      if (f.isComplex && f.isArray && f.arrayLength !== undefined) {
        const inner = defs.find((d) => d.name === f.type).definitions;
        out[f.name] = Array.from({ length: f.arrayLength }, () => seqDefaults(defs, inner));
      } else if (f.isArray && f.arrayLength === undefined && f.defaultValue !== undefined) {
        const big = f.type === "int64" || f.type === "uint64";
        out[f.name] = f.defaultValue.map((v) => (big ? BigInt(v) : v));
      }
    }
    return out;
  };
  for (const [type, expected] of Object.entries(cases)) {
    test(type, async () => {
      const { MessageReader } = await import("@foxglove/rosmsg2-serialization");
      const defs = parseRos2msg(schemaOf(type));
      const bytes = writerFor(schemaOf(type)).writeMessage(seqDefaults(defs, defs[0].definitions));
      assert.deepStrictEqual(new MessageReader(defs).readMessage(bytes), expected);
      assert.deepStrictEqual(decodeXcdr1(defs, bytes).value, expected);
    });
  }
  test("Constants", () => {
    const defs = parseRos2msg(schemaOf("Constants"));
    assert.ok(isConstantsOnly(defs));
    assert.deepStrictEqual(decodeXcdr1(defs, new Uint8Array([0, 1, 0, 0, 0])).value, constants());
  });
});

describe("startGateway", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "fg-nodetests-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Write an executable node script standing in for the gateway. */
  function fake(name, body) {
    const p = path.join(dir, name);
    writeFileSync(p, `#!${process.execPath}\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  }

  test("a missing binary fails with a hint", async () => {
    await assert.rejects(startGateway({ bin: path.join(dir, "nope") }), (err) => {
      assert.ok(err instanceof GatewayStartError);
      assert.match(err.message, /nope is missing.*cargo build/);
      return true;
    });
  });

  test("an early exit fails with the process's stderr", async () => {
    const bin = fake("dies", 'process.stderr.write("error: scenario file unreadable\\n"); process.exit(3);');
    await assert.rejects(startGateway({ bin }), (err) => {
      assert.ok(err instanceof GatewayStartError);
      assert.match(err.message, /exited before listening \(code 3/);
      assert.match(err.message, /scenario file unreadable/);
      return true;
    });
  });

  test("a wrong first stdout line fails", async () => {
    const bin = fake("chatty", 'console.log("hello there"); setInterval(() => {}, 1000);');
    await assert.rejects(startGateway({ bin }), /first stdout line/);
  });

  test("no line in time fails, and the process is killed", async () => {
    const bin = fake("silent", `require("fs").writeFileSync(${JSON.stringify(path.join(dir, "silent.pid"))}, String(process.pid)); setInterval(() => {}, 1000);`);
    const started = Date.now();
    await assert.rejects(startGateway({ bin, readyTimeoutMs: 700 }), /within 700 ms/);
    assert.ok(Date.now() - started < 5000);
    const { readFileSync } = await import("node:fs");
    const pid = Number(readFileSync(path.join(dir, "silent.pid"), "utf8"));
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, "the silent fake must be dead");
  });

  test("startScenario passes the contract's arguments and environment, stop() kills", async () => {
    const bin = fake(
      "ok",
      `const a = process.argv.slice(2).join(" ");
       if (a !== "--sim-scenario /x/s.yaml --port 0 --address 127.0.0.1" || process.env.AMENT_PREFIX_PATH !== "/usr") {
         console.error("bad invocation: " + a + " / " + process.env.AMENT_PREFIX_PATH); process.exit(2);
       }
       process.stderr.write("log line\\n");
       console.log("foxglove_gateway listening on ws://127.0.0.1:45678");
       process.on("SIGTERM", () => process.exit(0));
       setInterval(() => {}, 1000);`,
    );
    const gw = await startScenario("/x/s.yaml", { bin });
    assert.equal(gw.url, "ws://127.0.0.1:45678");
    assert.equal(gw.port, 45678);
    assert.ok(gw.running);
    await delay(50);
    assert.match(gw.stderr(), /log line/);
    const { code } = await gw.stop();
    assert.equal(code, 0);
    assert.ok(!gw.running);
  });

  test("stop() escalates to SIGKILL when SIGTERM is ignored", async () => {
    const bin = fake(
      "stubborn",
      'process.on("SIGTERM", () => {}); console.log("foxglove_gateway listening on ws://127.0.0.1:1"); setInterval(() => {}, 1000);',
    );
    const gw = await startGateway({ bin });
    const { signal } = await gw.stop({ killGraceMs: 300 });
    assert.equal(signal, "SIGKILL");
  });
});

describe("Connection against Foxglove's own FoxgloveServer", () => {
  async function withServer(fn) {
    const server = new FoxgloveServer({
      name: "fake",
      capabilities: ["clientPublish"],
      supportedEncodings: ["cdr", "json"],
      metadata: { ROS_DISTRO: "jazzy" },
    });
    const http = createServer();
    const wss = new WebSocketServer({ server: http, handleProtocols: (p) => server.handleProtocols(p) });
    wss.on("connection", (ws, req) => server.handleConnection(ws, `${req.socket.remotePort}`));
    await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = `ws://127.0.0.1:${http.address().port}`;
    try {
      await fn(server, url, wss);
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((resolve) => http.close(resolve));
    }
  }

  test("open, channels, subscribe, message, timeout, close", { timeout: 10_000 }, async () => {
    await withServer(async (server, url) => {
      const first = server.addChannel({ topic: "/a", encoding: "cdr", schemaName: "std_msgs/msg/Empty", schema: "", schemaEncoding: "ros2msg" });
      const conn = await Connection.open(url, ["foxglove.websocket.v1"]);
      try {
        assert.equal(conn.ws.protocol, "foxglove.websocket.v1");
        assert.deepEqual(conn.serverInfo.supportedEncodings, ["cdr", "json"]);
        const chA = await conn.waitForChannel("/a");
        assert.equal(chA.id, first);
        // A channel advertised later is waited for.
        setTimeout(() => server.addChannel({ topic: "/b", encoding: "cdr", schemaName: "x/msg/Y", schema: "", schemaEncoding: "ros2msg" }), 50);
        await conn.waitForChannels(["/a", "/b"], { timeoutMs: 2000 });
        await assert.rejects(conn.waitForChannels(["/a", "/never"], { timeoutMs: 200 }), (err) => {
          assert.ok(err instanceof WaitTimeout);
          assert.match(err.message, /\/never/);
          assert.match(err.message, /advertised: .*\/a/);
          return true;
        });
        const subscribed = new Promise((resolve) => server.on("subscribe", resolve));
        const sub = conn.subscribe(chA.id);
        assert.equal(await subscribed, chA.id);
        const got = conn.nextMessage(sub, { timeoutMs: 2000 });
        server.sendMessage(chA.id, 1234n, new Uint8Array([0, 1, 0, 0, 0]));
        const m = await got;
        assert.equal(m.timestamp, 1234n);
        assert.deepEqual([...new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength)], [0, 1, 0, 0, 0]);
        await assert.rejects(conn.nextMessage(sub, { timeoutMs: 150 }), WaitTimeout);
        const windowed = conn.collect(200);
        server.sendMessage(chA.id, 5n, new Uint8Array([0, 1, 0, 0, 0]));
        assert.equal((await windowed).get(sub)?.length, 1);
        assert.deepEqual(conn.errors, []);
      } finally {
        await conn.close();
      }
    });
  });

  test("a server-side close fails pending waits at once", { timeout: 10_000 }, async () => {
    await withServer(async (_server, url, wss) => {
      const conn = await Connection.open(url, ["foxglove.websocket.v1"]);
      const started = Date.now();
      const pending = conn.waitFor("advertise", () => false, { timeoutMs: 5000, what: "something" });
      for (const c of wss.clients) c.close(1001, "going away");
      await assert.rejects(pending, /connection closed \(code 1001.*going away.*something/);
      assert.ok(Date.now() - started < 2000);
    });
  });

  test("a server that rejects the subprotocol fails open()", { timeout: 10_000 }, async () => {
    await withServer(async (_server, url) => {
      // FoxgloveServer only speaks foxglove.websocket.v1, so this offer gets no subprotocol.
      await assert.rejects(Connection.open(url, ["foxglove.sdk.v1"], { timeoutMs: 2000 }));
    });
  });
});
