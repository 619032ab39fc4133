// Child processes of the real-ROS tier: ros2 launch, rclpy peers, ros2 CLI calls.
//
// Every long-lived process gets its own process group (detached), a log file with everything it
// printed (timestamped), and line/event waiters with timeouts. Whatever is still running when
// the tier ends is killed by PID (SIGINT to its group, then SIGKILL); scripts/ros-netns.sh then
// sweeps the namespace as a second line of defence.

import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import path from "node:path";
import readline from "node:readline";

const live = new Set();

/** A time-limited wait that ran out. */
export class Timeout extends Error {
  constructor(what, ms) {
    super(`timed out after ${ms} ms waiting for ${what}`);
    this.name = "Timeout";
  }
}

/** Resolve `promise`, or reject with a Timeout naming `what` after `ms`. */
export function within(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(what, ms)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** A running child with its output lines (and, for peers, its JSON events). */
export class Proc {
  constructor(name, child, logPath) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.logPath = logPath;
    /** Every output line: {t (ms since epoch), stream, text}. */
    this.lines = [];
    /** Every JSON line (peers): the parsed object, with `at` = when we read it. */
    this.events = [];
    this._waiters = new Set();
    this.exit = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        live.delete(this);
        this.exitInfo = { code, signal, t: Date.now() };
        for (const w of [...this._waiters]) w.fail(new Error(`${name} exited (code ${code}, signal ${signal}) while waiting for ${w.what}`));
        resolve(this.exitInfo);
      });
    });
    child.on("error", (err) => {
      this.spawnError = err;
    });
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  _line(stream, text) {
    const rec = { t: Date.now(), stream, text };
    this.lines.push(rec);
    let ev;
    if (text.startsWith("{")) {
      try {
        ev = JSON.parse(text);
        ev.at = rec.t;
        this.events.push(ev);
      } catch {
        ev = undefined;
      }
    }
    for (const w of [...this._waiters]) w.offer(rec, ev);
  }

  /** First line (from now on, or since `since` ms if given) whose text matches `re`. */
  waitLine(re, { timeoutMs = 10_000, since } = {}) {
    if (since !== undefined) {
      const old = this.lines.find((l) => l.t >= since && re.test(l.text));
      if (old) return Promise.resolve(old);
    }
    return this._wait(`a line matching ${re} from ${this.name}`, timeoutMs, (rec) => (re.test(rec.text) ? rec : undefined));
  }

  /** First JSON event satisfying `pred` (already received at or after `since`, or arriving). */
  waitEvent(pred, { timeoutMs = 10_000, since, what = "an event" } = {}) {
    if (since !== undefined) {
      const old = this.events.find((e) => e.at >= since && pred(e));
      if (old) return Promise.resolve(old);
    }
    return this._wait(`${what} from ${this.name}`, timeoutMs, (_rec, ev) => (ev && pred(ev) ? ev : undefined));
  }

  _wait(what, timeoutMs, match) {
    if (!this.running) return Promise.reject(new Error(`${this.name} is not running (waiting for ${what})`));
    return new Promise((resolve, reject) => {
      const w = {
        what,
        offer: (rec, ev) => {
          const hit = match(rec, ev);
          if (hit !== undefined) {
            done();
            resolve(hit);
          }
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        done();
        reject(new Timeout(what, timeoutMs));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this._waiters.delete(w);
      };
      this._waiters.add(w);
    });
  }

  /** Send `signal` to this process only. */
  signal(sig) {
    try {
      process.kill(this.pid, sig);
    } catch {
      // already gone
    }
  }

  /** Stop the whole group: SIGINT, then SIGKILL after `graceMs`. Resolves once exited. */
  async stop(graceMs = 5000) {
    if (this.running) {
      try {
        process.kill(-this.pid, "SIGINT");
      } catch {
        // already gone
      }
      const killed = await Promise.race([this.exit.then(() => false), delay(graceMs).then(() => true)]);
      if (killed) killGroup(this);
    }
    await this.exit;
    // Children of the group (a node started by ros2 launch) may outlive the leader.
    killGroup(this);
  }

  /** The last `n` lines, for failure messages. */
  tail(n = 15) {
    return this.lines.slice(-n).map((l) => `    ${this.name}| ${l.text}`).join("\n");
  }
}

function killGroup(proc) {
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // no such group
  }
}

/**
 * Start a long-lived process in its own process group, logging to `logDir/<name>.log`.
 */
export function start(name, cmd, args, { logDir, env = {}, cwd } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
  const logPath = path.join(logDir, `${name}.log`);
  const log = createWriteStream(logPath, { flags: "a" });
  const proc = new Proc(name, child, logPath);
  live.add(proc);
  for (const stream of ["stdout", "stderr"]) {
    const rl = readline.createInterface({ input: child[stream] });
    rl.on("line", (text) => {
      log.write(`${new Date().toISOString()} ${stream === "stderr" ? "E" : "O"} ${text}\n`);
      proc._line(stream, text);
    });
  }
  child.on("exit", () => setTimeout(() => log.end(), 100));
  return proc;
}

/**
 * Run a short command to completion (a ros2 CLI call): `{code, signal, stdout, stderr, ms}`.
 * Killed (group) after `timeoutMs`, reported as code null with `timedOut: true`.
 */
export function run(cmd, args, { timeoutMs = 30_000, env = {} } = {}) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(err), ms: Date.now() - t0, timedOut });
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setTimeout(() => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, timedOut }), 20);
    });
  });
}

/** Stop every process still running (at the end of the tier, whatever happened). */
export async function stopAll() {
  await Promise.all([...live].map((p) => p.stop(3000)));
}

// A crash or signal of the orchestrator itself must not leave processes behind. Node runs no
// "exit" handlers when a signal kills it, so catch those too.
process.on("exit", () => {
  for (const p of live) killGroup(p);
});
for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]]) {
  process.once(signal, () => {
    console.log(`interrupted (${signal}): stopping every process of the tier`);
    process.exit(status);
  });
}
