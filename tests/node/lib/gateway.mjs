// Process management for the gateway under test: spawn it, wait for its one "listening" line on
// stdout, and make sure it never outlives the test run.
//
// Contract (see tests/node/conformance.test.mjs): once listening, the gateway prints exactly
//   foxglove_gateway listening on ws://127.0.0.1:<port>
// on stdout; everything else goes to stderr, which we keep (bounded) to explain failures.

import { spawn } from "node:child_process";
import { accessSync, constants as fsConstants } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (tests/node/lib → ../../..). */
export const REPO_ROOT = path.resolve(fileURLToPath(new URL("../../..", import.meta.url)));

/** The line the gateway prints once it accepts connections. */
export const LISTENING_RE = /^foxglove_gateway listening on (ws:\/\/[^\s:/]+:(\d+))\s*$/;

/** How much stderr we keep per process: enough to show a panic or a startup error. */
const STDERR_KEEP_BYTES = 64 * 1024;

/** The gateway binary: `GATEWAY_BIN`, else the debug build in this repo. */
export function gatewayBinary() {
  return process.env.GATEWAY_BIN ?? path.join(REPO_ROOT, "target", "debug", "foxglove_gateway");
}

// Every process we started and have not yet seen exit. Killed synchronously when node exits, so
// a failed or interrupted test run never leaves a gateway holding a port.
const live = new Set();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone: nothing to do.
      }
    }
  };
  process.on("exit", killAll);
  // Node does not run "exit" handlers when a signal kills it (Ctrl-C, the test runner giving
  // up on a file), so handle those too, then exit with the conventional status.
  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
    process.once(signal, () => {
      killAll();
      process.exit(status);
    });
  }
}

/** Why the gateway could not be started; `stderr` holds what it printed, if anything. */
export class GatewayStartError extends Error {
  constructor(message, stderr = "") {
    super(stderr ? `${message}\n--- gateway stderr ---\n${stderr}` : message);
    this.name = "GatewayStartError";
    this.stderr = stderr;
  }
}

/**
 * A running gateway. `url` is the WebSocket URL it printed; `stop()` is idempotent and always
 * leaves the process dead (SIGTERM, then SIGKILL after `killGraceMs`).
 */
export class GatewayProcess {
  constructor(child, url, port, stderrRef, exited) {
    this.child = child;
    this.url = url;
    this.port = port;
    this._stderr = stderrRef;
    this._exited = exited;
  }

  /** What the process has written to stderr so far (the last 64 KiB). */
  stderr() {
    return this._stderr.text;
  }

  /** True while the process is running. */
  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Stop the process; resolves with `{code, signal}` once it has exited. */
  async stop({ killGraceMs = 2000 } = {}) {
    if (this.running) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (this.running) this.child.kill("SIGKILL");
      }, killGraceMs);
      try {
        return await this._exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this._exited;
  }
}

/**
 * Start `bin` with `args` and wait until it prints the listening line.
 *
 * Rejects with `GatewayStartError` (carrying stderr) if the binary is missing, the process exits
 * first, stdout carries anything other than the listening line first, or `readyTimeoutMs`
 * elapses; in every case the process is dead before the promise settles.
 */
export async function startGateway({
  bin = gatewayBinary(),
  args = [],
  env = {},
  readyTimeoutMs = 30_000,
} = {}) {
  try {
    accessSync(bin, fsConstants.X_OK);
  } catch {
    throw new GatewayStartError(
      `gateway binary ${bin} is missing or not executable (build it with \`cargo build --no-default-features\`, or set GATEWAY_BIN)`,
    );
  }
  installExitHook();
  const child = spawn(bin, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  const stderrRef = { text: "" };
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderrRef.text += chunk;
    if (stderrRef.text.length > STDERR_KEEP_BYTES) {
      stderrRef.text = stderrRef.text.slice(-STDERR_KEEP_BYTES);
    }
  });
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });

  let stdoutBuf = "";
  let lineSeen = false;
  const ready = new Promise((resolve, reject) => {
    child.on("error", (err) => reject(new GatewayStartError(`cannot run ${bin}: ${err.message}`)));
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      // Only the first line matters; later stdout is drained (so the pipe never fills) and ignored.
      if (lineSeen) return;
      stdoutBuf += chunk;
      const nl = stdoutBuf.indexOf("\n");
      if (nl < 0) {
        if (stdoutBuf.length > 4096) {
          lineSeen = true;
          reject(
            new GatewayStartError(
              `stdout did not start with the listening line: ${JSON.stringify(stdoutBuf.slice(0, 200))}`,
            ),
          );
        }
        return;
      }
      lineSeen = true;
      const line = stdoutBuf.slice(0, nl);
      const m = LISTENING_RE.exec(line);
      if (!m) {
        reject(
          new GatewayStartError(
            `first stdout line is not "foxglove_gateway listening on ws://<host>:<port>": ${JSON.stringify(line)}`,
          ),
        );
        return;
      }
      resolve({ url: m[1], port: Number(m[2]) });
    });
    exited.then(({ code, signal }) =>
      reject(
        new GatewayStartError(
          `gateway exited before listening (code ${code}, signal ${signal})`,
          stderrRef.text,
        ),
      ),
    );
  });

  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new GatewayStartError(`gateway did not print its listening line within ${readyTimeoutMs} ms`)),
      readyTimeoutMs,
    );
  });
  const proc = new GatewayProcess(child, "", 0, stderrRef, exited);
  try {
    const { url, port } = await Promise.race([ready, timeout]);
    proc.url = url;
    proc.port = port;
    return proc;
  } catch (err) {
    await proc.stop({ killGraceMs: 500 });
    // Re-read stderr now the process is gone: the useful part is often printed last.
    if (err instanceof GatewayStartError && !err.stderr && stderrRef.text) {
      throw new GatewayStartError(err.message, stderrRef.text);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Start the gateway on a simulated-graph scenario, on a free port on loopback, with Debian's
 * `test_interface_files` package visible through `AMENT_PREFIX_PATH=/usr`.
 */
export function startScenario(scenarioPath, options = {}) {
  return startGateway({
    ...options,
    args: ["--sim-scenario", scenarioPath, "--port", "0", "--address", "127.0.0.1"],
    env: { AMENT_PREFIX_PATH: "/usr", ...options.env },
  });
}
