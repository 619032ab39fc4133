// Debian's chromium, headless, driven by playwright-core (never a downloaded browser), with a
// fresh profile per run; plus the failure reporting the browser tier relies on: every step is
// bounded, and a failed step leaves a screenshot and says which step it was.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

/** Repository root (tests/browser/lib → ../../..). */
export const REPO_ROOT = path.resolve(fileURLToPath(new URL("../../..", import.meta.url)));

/** Where screenshots and logs go (a CI artifact; /test-output/ is gitignored). */
export const OUTPUT_DIR = process.env.BROWSER_TEST_OUTPUT ?? path.join(REPO_ROOT, "test-output", "browser");

/** The browser: `CHROMIUM_BIN`, else Debian's. */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  // Without a GPU, WebGL (the 3D panel) needs SwiftShader, which Chromium no longer picks
  // silently for web content.
  "--enable-unsafe-swiftshader",
];

/** How many console lines we keep to explain a failure. */
const CONSOLE_KEEP = 400;

/**
 * A running browser with one page. `close()` is idempotent and removes the profile directory.
 */
export class Browser {
  /** Launch chromium with a fresh `--user-data-dir` and open one page of `viewport` size. */
  static async launch({ viewport = { width: 1600, height: 1000 }, timeoutMs = 30_000 } = {}) {
    const profile = mkdtempSync(path.join(os.tmpdir(), "fg-browser-tier-"));
    let context;
    try {
      // launchPersistentContext is playwright's way to pass our own --user-data-dir.
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: FLAGS,
        viewport,
        timeout: timeoutMs,
      });
    } catch (err) {
      rmSync(profile, { recursive: true, force: true });
      throw new Error(`cannot launch ${CHROMIUM}: ${err.message}`);
    }
    const page = context.pages()[0] ?? (await context.newPage());
    return new Browser(context, page, profile);
  }

  constructor(context, page, profile) {
    this.context = context;
    this.page = page;
    this.profile = profile;
    /** Recent console lines and page errors, oldest first. */
    this.console = [];
    const keep = (line) => {
      this.console.push(line);
      if (this.console.length > CONSOLE_KEEP) this.console.shift();
    };
    page.on("console", (m) => keep(`[${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => keep(`[pageerror] ${e.stack ?? e.message}`));
    page.on("crash", () => keep("[crash] the page crashed"));
    this._closed = false;
  }

  /** Save a full-page screenshot as OUTPUT_DIR/<name>.png; returns its path (or a reason). */
  async screenshot(name) {
    mkdirSync(OUTPUT_DIR, { recursive: true });
    const file = path.join(OUTPUT_DIR, `${name}.png`);
    try {
      await this.page.screenshot({ path: file, timeout: 10_000 });
      return file;
    } catch (err) {
      return `(no screenshot: ${err.message})`;
    }
  }

  /** Write the kept console lines to OUTPUT_DIR/<name>.console.txt; returns the path. */
  saveConsole(name) {
    mkdirSync(OUTPUT_DIR, { recursive: true });
    const file = path.join(OUTPUT_DIR, `${name}.console.txt`);
    writeFileSync(file, this.console.join("\n") + "\n");
    return file;
  }

  /**
   * Run `fn` as the named step. On failure, save a screenshot and the console, and rethrow with
   * the step's name and where to look.
   */
  async step(name, fn) {
    try {
      return await fn();
    } catch (err) {
      const slug = name.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase();
      const shot = await this.screenshot(`FAILED-${slug}`);
      const log = this.saveConsole(`FAILED-${slug}`);
      const tail = this.console.filter((l) => !l.startsWith("[debug]")).slice(-15).join("\n  ");
      const wrapped = new Error(
        `browser step "${name}" failed: ${err.message}\n  screenshot: ${shot}\n  console: ${log}` +
          (tail ? `\n  last console lines:\n  ${tail}` : ""),
      );
      wrapped.cause = err;
      throw wrapped;
    }
  }

  /** Close the browser and delete its profile (idempotent, never throws). */
  async close() {
    if (this._closed) return;
    this._closed = true;
    try {
      await Promise.race([this.context.close(), new Promise((r) => setTimeout(r, 10_000))]);
    } catch {
      // Already gone.
    }
    // If close() hung, playwright's own exit hook still kills chromium when node exits.
    rmSync(this.profile, { recursive: true, force: true });
  }
}
