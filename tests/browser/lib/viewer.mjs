// A second viewer next to the browser: Foxglove's own client (@foxglove/ws-protocol over `ws`)
// and CDR reader (@foxglove/rosmsg2-serialization), so the test checks what the robot does
// independently of what the UI shows.

import { parse as parseMessageDefinition } from "@foxglove/rosmsg";
import { MessageReader } from "@foxglove/rosmsg2-serialization";
import wsProtocol from "@foxglove/ws-protocol";
import WebSocket from "ws";

// A CommonJS package: its named exports are not visible to ESM, so go through the default export.
const { FoxgloveClient } = wsProtocol;

/**
 * A connection that subscribes to one topic and keeps its decoded messages (bounded), each with
 * its receive time (`Date.now()`).
 */
export class TopicWatcher {
  /**
   * Connect to `url`, wait for `topic` to be advertised with a `ros2msg` schema and subscribe.
   * Rejects after `timeoutMs` with what was advertised instead.
   */
  static async open(url, topic, { timeoutMs = 10_000, keep = 2000 } = {}) {
    const w = new TopicWatcher(url, topic, keep);
    try {
      await w._ready(timeoutMs);
    } catch (err) {
      w.close();
      throw err;
    }
    return w;
  }

  constructor(url, topic, keep) {
    this.topic = topic;
    this.keep = keep;
    /** `{ at, msg }`, oldest first. */
    this.messages = [];
    this.errors = [];
    this.advertised = [];
    this.ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
    this.client = new FoxgloveClient({ ws: this.ws });
    this.client.on("error", (e) => this.errors.push(String(e?.message ?? e)));
  }

  _ready(timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `second viewer: ${this.topic} not advertised within ${timeoutMs} ms ` +
                `(advertised: ${this.advertised.join(", ") || "nothing"}; errors: ${this.errors.join("; ") || "none"})`,
            ),
          ),
        timeoutMs,
      );
      this.client.on("close", (ev) => {
        clearTimeout(timer);
        const why = this.errors.length ? `: ${this.errors.join("; ")}` : "";
        reject(new Error(`second viewer: connection to ${this.ws.url} closed (code ${ev?.code})${why}`));
      });
      this.client.on("advertise", (channels) => {
        for (const ch of channels) {
          this.advertised.push(ch.topic);
          if (ch.topic !== this.topic || this.subscription !== undefined) continue;
          try {
            if (ch.encoding !== "cdr" || ch.schemaEncoding !== "ros2msg") {
              throw new Error(`unexpected encodings ${ch.encoding}/${ch.schemaEncoding}`);
            }
            const reader = new MessageReader(parseMessageDefinition(ch.schema, { ros2: true }));
            this.subscription = this.client.subscribe(ch.id);
            this.client.on("message", ({ subscriptionId, data }) => {
              if (subscriptionId !== this.subscription) return;
              try {
                const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
                this.messages.push({ at: Date.now(), msg: reader.readMessage(bytes) });
                if (this.messages.length > this.keep) this.messages.shift();
              } catch (err) {
                this.errors.push(`decode ${this.topic}: ${err.message}`);
              }
            });
            clearTimeout(timer);
            resolve();
          } catch (err) {
            clearTimeout(timer);
            reject(new Error(`second viewer: cannot read ${this.topic} (${ch.schemaName}): ${err.message}`));
          }
        }
      });
    });
  }

  /** The newest message, or undefined. */
  latest() {
    return this.messages.at(-1);
  }

  /**
   * Wait until a message received after `since` (ms timestamp) satisfies `pred`; resolves with
   * it. Rejects after `timeoutMs` with `what` and the newest message seen.
   */
  async waitFor(what, pred, { since = 0, timeoutMs = 5000, describe = (m) => JSON.stringify(m) } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.messages.find((m) => m.at >= since && pred(m.msg));
      if (hit) return hit;
      if (Date.now() > deadline) {
        const last = this.latest();
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what} on ${this.topic}; newest message: ` +
            (last ? describe(last.msg) : "none") +
            (this.errors.length ? `; errors: ${this.errors.slice(-3).join("; ")}` : ""),
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Close the socket (idempotent). */
  close() {
    try {
      this.ws.close();
    } catch {
      // Already closed.
    }
  }
}
