// A Foxglove viewer for the real-ROS tier: tests/node's Connection (Foxglove's own FoxgloveClient
// from @foxglove/ws-protocol) plus what the app tracks besides channels: advertised services,
// and replies to requests.

import { createRequire } from "node:module";

import { Connection } from "../../node/lib/connection.mjs";
import { readerFor } from "../../node/lib/cdr.mjs";
import { Timeout } from "./proc.mjs";

// The npm packages live in tests/node (one lockfile for both tiers).
const require = createRequire(new URL("../../node/package.json", import.meta.url));
const WebSocket = require("ws");

export const PROTOCOL = "foxglove.websocket.v1";

/**
 * Connect, with listeners attached before the socket opens (advertiseServices can arrive in the
 * same read as serverInfo). `conn.services` maps service name → advertised service.
 */
export async function openViewer(url, { timeoutMs = 5000 } = {}) {
  const conn = new Connection(new WebSocket(url, [PROTOCOL]));
  conn.services = new Map();
  conn.client.on("advertiseServices", (list) => {
    for (const s of list) conn.services.set(s.name, s);
  });
  conn.client.on("unadvertiseServices", (ids) => {
    for (const [name, s] of conn.services) if (ids.includes(s.id)) conn.services.delete(name);
  });
  // Connection already keeps every socket error in conn.errors; without a listener of our own a
  // refused connection would be an unhandled 'error' event.
  conn.ws.on("error", () => {});
  try {
    await conn.waitFor("serverInfo", () => true, { timeoutMs, what: "serverInfo" });
  } catch (err) {
    conn.ws.terminate();
    throw err;
  }
  return conn;
}

/** Resolve with the first `event` of `client` satisfying `pred`, or reject after `timeoutMs`. */
export function onceEvent(client, event, pred, timeoutMs, what = event) {
  return new Promise((resolve, reject) => {
    const handler = (payload) => {
      let ok;
      try {
        ok = pred(payload);
      } catch (err) {
        cleanup();
        reject(err);
        return;
      }
      if (ok) {
        cleanup();
        resolve(payload);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Timeout(what, timeoutMs));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off(event, handler);
    };
    client.on(event, handler);
  });
}

/** Wait until every name in `names` is an advertised service; returns them by name. */
export async function waitServices(conn, names, timeoutMs = 10_000) {
  const t0 = Date.now();
  while (names.some((n) => !conn.services.has(n))) {
    if (Date.now() - t0 > timeoutMs) {
      const missing = names.filter((n) => !conn.services.has(n));
      throw new Timeout(`advertiseServices of ${missing.join(", ")} (advertised: ${[...conn.services.keys()].join(", ") || "none"})`, timeoutMs);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return Object.fromEntries(names.map((n) => [n, conn.services.get(n)]));
}

let nextCallId = 1;

/**
 * Call `service` with `data` (already encoded in `encoding`): resolves with
 * `{response}` or `{failure}` and the elapsed ms.
 */
export async function callService(conn, service, encoding, data, timeoutMs = 8000) {
  const callId = nextCallId++;
  const t0 = Date.now();
  const reply = Promise.race([
    onceEvent(conn.client, "serviceCallResponse", (r) => r.callId === callId, timeoutMs, `the response to call ${callId} of ${service.name}`).then((response) => ({ response })),
    onceEvent(conn.client, "serviceCallFailure", (f) => f.callId === callId, timeoutMs, `the response to call ${callId} of ${service.name}`).then((failure) => ({ failure })),
  ]);
  conn.client.sendServiceCallRequest({ serviceId: service.id, callId, encoding, data });
  const r = await reply;
  return { ...r, ms: Date.now() - t0 };
}

/** The request/response schema text of an advertised service (either protocol spelling). */
export function serviceSchema(service, side) {
  return service[side]?.schema ?? service[`${side}Schema`];
}

/** Decode one message of `channel` the way the app does. */
export function decode(channel, bytes) {
  return readerFor(channel).reader.readMessage(bytes);
}

/**
 * Send `payload` on client channel `channelId` every 100 ms until `received()` resolves (the
 * ROS side saw it) — repeating covers the time DDS needs to match the new publisher.
 */
export async function sendUntil(conn, channelId, payload, received, timeoutMs = 8000) {
  let sending = true;
  const sender = (async () => {
    while (sending) {
      conn.client.sendMessage(channelId, payload);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return await Promise.race([
      received,
      new Promise((_, reject) => setTimeout(() => reject(new Timeout("the ROS side to receive it", timeoutMs)), timeoutMs)),
    ]);
  } finally {
    sending = false;
    await sender;
  }
}
