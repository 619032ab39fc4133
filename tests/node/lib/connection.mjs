// A thin promise-based wrapper around Foxglove's own client (`FoxgloveClient` from
// @foxglove/ws-protocol over the `ws` package): remembers what the server said (serverInfo,
// channels, statuses, client-side errors) and lets a test wait for an event with a timeout.

import wsProtocol from "@foxglove/ws-protocol";
import WebSocket from "ws";

// A CommonJS package: its named exports are not visible to ESM, so go through the default export.
const { FoxgloveClient } = wsProtocol;

/** A wait that ran out of time; says what was awaited and (via `detail`) what was seen instead. */
export class WaitTimeout extends Error {
  constructor(what, timeoutMs, detail = "") {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail}` : ""}`);
    this.name = "WaitTimeout";
  }
}

/** One viewer connection. Create with `Connection.open`. */
export class Connection {
  /**
   * Connect to `url` offering exactly `subprotocols`, and resolve once `serverInfo` arrived.
   * Rejects if the socket fails or closes first, or after `timeoutMs`.
   */
  static async open(url, subprotocols, { timeoutMs = 5000 } = {}) {
    const ws = new WebSocket(url, subprotocols);
    const conn = new Connection(ws);
    try {
      await conn.waitFor("serverInfo", () => true, { timeoutMs, what: "serverInfo" });
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  constructor(ws) {
    /** The raw `ws` socket (for the negotiated `protocol`). */
    this.ws = ws;
    /** Foxglove's client; every event goes through it, exactly as in the app. */
    this.client = new FoxgloveClient({ ws });
    /** The last serverInfo message. */
    this.serverInfo = undefined;
    /** Advertised server channels by id (removed again on unadvertise). */
    this.channels = new Map();
    /** Every status message received. */
    this.statuses = [];
    /** Errors the client raised (unparsable frames, unknown opcodes, socket errors). */
    this.errors = [];
    /** The close event, once the socket closed. */
    this.closed = undefined;
    this._waiters = new Set();

    // Listeners are registered synchronously after construction, before the socket can open, so
    // nothing the server sends first (serverInfo, advertise) can be missed.
    this.client.on("serverInfo", (info) => {
      this.serverInfo = info;
    });
    this.client.on("advertise", (channels) => {
      for (const ch of channels) this.channels.set(ch.id, ch);
    });
    this.client.on("unadvertise", (ids) => {
      for (const id of ids) this.channels.delete(id);
    });
    this.client.on("status", (s) => this.statuses.push(s));
    this.client.on("error", (e) => this.errors.push(e));
    this.client.on("close", (ev) => {
      this.closed = { code: ev?.code, reason: String(ev?.reason ?? "") };
      // A closed socket will never deliver what anyone is waiting for: fail them now with the
      // reason, instead of letting each run into its timeout.
      for (const w of [...this._waiters]) {
        w.fail(new Error(`connection closed (code ${this.closed.code}, reason ${JSON.stringify(this.closed.reason)}) while waiting for ${w.what}`));
      }
    });
    for (const event of ["serverInfo", "advertise", "message", "status", "error", "unadvertise"]) {
      this.client.on(event, (payload) => {
        for (const w of [...this._waiters]) if (w.event === event) w.offer(payload);
      });
    }
  }

  /**
   * Resolve with the first `event` payload for which `predicate` returns true (checked on events
   * arriving from now on). `describe(payload)` renders rejected payloads for the timeout message.
   */
  waitFor(event, predicate, { timeoutMs = 3000, what = event, describe } = {}) {
    if (this.closed) {
      return Promise.reject(new Error(`connection already closed (code ${this.closed.code}) before waiting for ${what}`));
    }
    return new Promise((resolve, reject) => {
      let lastRejected;
      let seen = 0;
      const waiter = {
        event,
        what,
        offer: (payload) => {
          let ok;
          try {
            ok = predicate(payload);
          } catch (err) {
            done();
            reject(err);
            return;
          }
          if (ok) {
            done();
            resolve(payload);
          } else {
            seen += 1;
            lastRejected = payload;
          }
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        done();
        let detail = `${seen} non-matching ${event} event(s)`;
        if (seen > 0 && describe) detail += `; last: ${describe(lastRejected)}`;
        reject(new WaitTimeout(what, timeoutMs, detail));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this._waiters.delete(waiter);
      };
      this._waiters.add(waiter);
    });
  }

  /** The channel advertised for `topic`, if any. */
  channelFor(topic) {
    for (const ch of this.channels.values()) if (ch.topic === topic) return ch;
    return undefined;
  }

  /** Resolve with the channel for `topic`, waiting for its advertisement if needed. */
  async waitForChannel(topic, { timeoutMs = 5000 } = {}) {
    const known = this.channelFor(topic);
    if (known) return known;
    await this.waitFor("advertise", (chs) => chs.some((c) => c.topic === topic), {
      timeoutMs,
      what: `advertise of ${topic}`,
    });
    return this.channelFor(topic);
  }

  /** Resolve once every topic in `topics` is advertised; rejects naming the missing ones. */
  async waitForChannels(topics, { timeoutMs = 5000 } = {}) {
    const missing = () => topics.filter((t) => !this.channelFor(t));
    if (missing().length === 0) return;
    try {
      await this.waitFor("advertise", () => missing().length === 0, {
        timeoutMs,
        what: "advertisements",
      });
    } catch (err) {
      if (err instanceof WaitTimeout) {
        throw new WaitTimeout(
          `advertise of ${missing().join(", ")}`,
          timeoutMs,
          `advertised: ${[...this.channels.values()].map((c) => c.topic).join(", ") || "(none)"}`,
        );
      }
      throw err;
    }
  }

  /** Subscribe to a server channel; returns the subscription id. */
  subscribe(channelId) {
    return this.client.subscribe(channelId);
  }

  /** Unsubscribe. */
  unsubscribe(subscriptionId) {
    this.client.unsubscribe(subscriptionId);
  }

  /** The next message on `subscriptionId` that satisfies `predicate` (default: any). */
  nextMessage(subscriptionId, { timeoutMs = 3000, predicate = () => true, what, describe } = {}) {
    return this.waitFor("message", (m) => m.subscriptionId === subscriptionId && predicate(m), {
      timeoutMs,
      what: what ?? `a message on subscription ${subscriptionId}`,
      describe,
    });
  }

  /** Every message received during the next `ms` milliseconds, grouped by subscription id. */
  collect(ms) {
    const bySub = new Map();
    const onMessage = (m) => {
      if (!bySub.has(m.subscriptionId)) bySub.set(m.subscriptionId, []);
      bySub.get(m.subscriptionId).push(m);
    };
    this.client.on("message", onMessage);
    return new Promise((resolve) =>
      setTimeout(() => {
        this.client.off("message", onMessage);
        resolve(bySub);
      }, ms),
    );
  }

  /** Close the socket and resolve once it is closed (or after `timeoutMs`, terminating it). */
  async close({ timeoutMs = 2000 } = {}) {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.ws.once("close", resolve));
    try {
      this.client.close();
    } catch {
      // close() on a socket still CONNECTING throws in `ws`; terminate below handles it.
    }
    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    if ((await Promise.race([closed, timedOut])) === "timeout") this.ws.terminate();
    clearTimeout(timer);
  }
}

/** Copy a message payload (a DataView into the frame) into its own Uint8Array. */
export function payloadBytes(message) {
  const d = message.data;
  return new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
}

/** Sleep. */
export function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
