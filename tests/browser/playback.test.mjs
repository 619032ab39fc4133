// Playback in the browser tier: a recording the gateway made itself (`--demo --record`), served
// with `--play`, shown by the real Foxglove Studio 1.48. Studio 1.x has no playback controls, so
// this is also the check that such a viewer gets the recording by itself, in real time: the Raw
// Messages panel must show recorded /chatter messages (the same ones an independent viewer,
// @foxglove/ws-protocol + @foxglove/rosmsg2-serialization, decodes) and then newer ones as the
// recording plays. Screenshots go to test-output/browser/playback-*.png.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";

import { startGateway } from "../node/lib/gateway.mjs";
import { Browser } from "./lib/browser.mjs";
import { startStaticServer } from "./lib/static-server.mjs";
import { openStudio, panelText, poll, studioUrl, topicListEntries } from "./lib/studio.mjs";
import { TopicWatcher } from "./lib/viewer.mjs";
import { LAYOUT, LAYOUT_ID, PANELS } from "./layout.mjs";

const RECORD_MS = 7000;

describe("Foxglove Studio 1.48 plays a recording served with --play", { timeout: 150_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "gateway-playback-"));
  let file;
  let gateway;
  let server;
  let browser;
  let chatter;
  let ready = false;

  after(async () => {
    chatter?.close();
    if (browser) {
      await browser.screenshot("playback-final");
      browser.saveConsole("playback-final");
      await browser.close();
    }
    await server?.close();
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the gateway records the demo robot (--record) and completes the file on SIGTERM", async () => {
    const rec = await startGateway({
      args: ["--demo", "--port", "0", "--address", "127.0.0.1", "--record", "--recordings-dir", dir],
    });
    await new Promise((r) => setTimeout(r, RECORD_MS));
    const { code, signal } = await rec.stop();
    assert.ok(code === 0 || signal === "SIGTERM", `recorder exited with ${code}/${signal}: ${rec.stderr().slice(-2000)}`);
    const files = readdirSync(dir).filter((f) => f.endsWith(".mcap"));
    assert.equal(files.length, 1, `recordings: ${readdirSync(dir).join(", ")}`);
    file = path.join(dir, files[0]);
  });

  test("Studio shows the recorded topics and the recording playing", async () => {
    assert.ok(file, "no recording: see the first test");
    gateway = await startGateway({ args: ["--play", file, "--port", "0", "--address", "127.0.0.1"] });
    server = await startStaticServer({ layout: LAYOUT });
    browser = await Browser.launch();
    await browser.step("open Studio on the recording", () =>
      openStudio(browser.page, studioUrl(server.url, gateway.url, LAYOUT_ID)),
    );
    const page = browser.page;
    await browser.step("the topic list shows the recorded topics", () =>
      poll(
        "/chatter and /odom with their types",
        async () => {
          const seen = await topicListEntries(page);
          const ok = [
            ["/chatter", "std_msgs/msg/String"],
            ["/odom", "nav_msgs/msg/Odometry"],
          ].every(([n, t]) => seen.some((e) => e.name === n && e.type === t));
          return ok ? seen : undefined;
        },
        { timeoutMs: 30_000, lastSeen: async () => JSON.stringify(await topicListEntries(page)) },
      ),
    );
    ready = true;
    chatter = await TopicWatcher.open(gateway.url, "/chatter");
    const shown = async () => {
      const m = /hello from the demo robot (\d+)/.exec(await panelText(page, PANELS.chatter));
      return m ? { text: m[0], n: Number(m[1]) } : undefined;
    };
    const first = await browser.step("Raw Messages shows a recorded /chatter message", () =>
      poll(
        "a /chatter message from the recording in the panel",
        async () => shown(),
        { timeoutMs: 20_000, lastSeen: () => panelText(page, PANELS.chatter) },
      ),
    );
    await browser.screenshot("playback-first");
    const later = await browser.step("the recording plays on: a newer /chatter message", () =>
      poll(
        `a /chatter message newer than #${first.n} that the second viewer also decoded`,
        async () => {
          const s = await shown();
          return s && s.n > first.n && chatter.messages.some((m) => m.msg.data === s.text) ? s : undefined;
        },
        {
          timeoutMs: 15_000,
          lastSeen: async () =>
            `panel: ${await panelText(page, PANELS.chatter)}; second viewer: ${JSON.stringify(
              chatter.messages.map((m) => m.msg.data),
            )}`,
        },
      ),
    );
    await browser.screenshot("playback-later");
    // Real time: the demo publishes /chatter at 1 Hz, so the second viewer's messages arrive
    // about a second apart, as recorded.
    const at = chatter.messages.map((m) => m.at);
    if (at.length >= 3) {
      const gaps = at.slice(1).map((t, i) => t - at[i]);
      const median = gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
      assert.ok(median > 600 && median < 1600, `recorded 1 Hz played with gaps ${JSON.stringify(gaps)} ms`);
    }
    assert.ok(later.n > first.n);
  });

  test("the gateway is still running after playback", () => {
    assert.ok(ready, "Studio never showed the recording");
    assert.ok(gateway.running, `the gateway exited:\n${gateway.stderr().slice(-4000)}`);
    assert.doesNotMatch(gateway.stderr(), /panicked at/, "the gateway panicked");
  });
});
