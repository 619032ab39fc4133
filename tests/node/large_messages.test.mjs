// Large messages through Foxglove's own client: the gateway sends payloads of 16 KiB and more as a
// two-fragment WebSocket message (header, then the shared payload); Foxglove's client must see
// one intact MessageData. Uses the load generator: std_msgs/msg/UInt8MultiArray whose data
// starts with a u64 LE sequence number and a u64 LE send time (ns).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { readerFor } from "./lib/cdr.mjs";
import { Connection, payloadBytes } from "./lib/connection.mjs";
import { startGateway } from "./lib/gateway.mjs";

const SIZE = 300 * 1024;
const COUNT = 12;
let gateway;
let conn;

before(async () => {
  gateway = await startGateway({
    args: [
      "--port", "0", "--address", "127.0.0.1",
      "--load-topic", "/load", "--load-size", String(SIZE),
      "--load-rate", "20", "--load-count", String(COUNT),
    ],
  });
  conn = await Connection.open(gateway.url, ["foxglove.websocket.v1"]);
}, { timeout: 30_000 });

after(async () => {
  conn?.close();
  await gateway?.stop();
});

test("300 KiB messages arrive whole, in order, and decode", { timeout: 30_000 }, async () => {
  const channel = await conn.waitForChannel("/load");
  assert.equal(channel.schemaName, "std_msgs/msg/UInt8MultiArray");
  const { reader } = readerFor(channel);
  const sub = conn.subscribe(channel.id);
  const seen = [];
  for (let i = 0; i < COUNT; i++) {
    const m = await conn.nextMessage(sub, {
      timeoutMs: 5000,
      predicate: (msg) => !seen.some((s) => s.msg === msg),
    });
    seen.push({ msg: m });
    const bytes = payloadBytes(m);
    assert.equal(bytes.byteLength, SIZE, "whole message, header fragments joined");
    const decoded = reader.readMessage(bytes);
    assert.equal(decoded.data.length, SIZE - 16);
    const view = new DataView(decoded.data.buffer, decoded.data.byteOffset, 16);
    assert.equal(view.getBigUint64(0, true), BigInt(i), "sequence number");
    const sent = view.getBigUint64(8, true);
    assert.ok(m.timestamp >= sent, "log time after send time");
  }
});
