// A tiny static HTTP server on 127.0.0.1 for the browser tier: the bootstrap page (app/), React
// 17's UMD builds, the prebuilt Studio bundle (@foxglove/studio-base/assets) and the test's
// layout as /layout.json. Read-only, GET/HEAD only, and it never serves a path outside the
// directories it was given.

import { createReadStream, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** tests/browser. */
export const BROWSER_DIR = path.resolve(fileURLToPath(new URL("..", import.meta.url)));
const MODULES = path.join(BROWSER_DIR, "node_modules");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".css": "text/css",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".map": "application/json",
};

/** URL prefix → directory; single files below. */
const DIRS = [
  ["/studio/", path.join(MODULES, "@foxglove", "studio-base", "assets")],
  ["/app/", path.join(BROWSER_DIR, "app")],
];
const FILES = {
  "/": path.join(BROWSER_DIR, "app", "index.html"),
  "/vendor/react.js": path.join(MODULES, "react", "umd", "react.production.min.js"),
  "/vendor/react-dom.js": path.join(MODULES, "react-dom", "umd", "react-dom.production.min.js"),
};

/** Map a request path to a file, or undefined if it is not one we serve. */
function resolveFile(urlPath) {
  if (FILES[urlPath]) return FILES[urlPath];
  for (const [prefix, dir] of DIRS) {
    if (!urlPath.startsWith(prefix)) continue;
    const rel = decodeURIComponent(urlPath.slice(prefix.length));
    const file = path.resolve(dir, rel);
    // No escaping the directory with ../ or an absolute path.
    if (file.startsWith(dir + path.sep)) return file;
  }
  return undefined;
}

/**
 * Start the server on a free port. `layout` ({id, name, data}) is served as /layout.json.
 * Resolves to `{ url, close(), requests }` where `requests` lists `[status, path]` of every
 * request (to explain a page that did not load).
 */
export async function startStaticServer({ layout }) {
  const layoutJson = JSON.stringify(layout);
  const requests = [];
  const server = http.createServer((req, res) => {
    const urlPath = new URL(req.url ?? "/", "http://x").pathname;
    const reply = (status, type, body) => {
      requests.push([status, urlPath]);
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return reply(405, "text/plain", "GET only\n");
    if (urlPath === "/layout.json") return reply(200, TYPES[".json"], layoutJson);
    // The browser asks for one; a 404 would be the only error in an otherwise clean console.
    if (urlPath === "/favicon.ico") return reply(204, "image/x-icon", "");
    const file = resolveFile(urlPath);
    let size;
    try {
      size = file === undefined ? undefined : statSync(file).isFile() ? statSync(file).size : undefined;
    } catch {
      size = undefined;
    }
    if (size === undefined) return reply(404, "text/plain", `not found: ${urlPath}\n`);
    requests.push([200, urlPath]);
    res.writeHead(200, {
      "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "content-length": size,
      "cache-control": "no-store",
    });
    if (req.method === "HEAD") return res.end();
    createReadStream(file).pipe(res);
  });
  // Keep-alive sockets from the browser would otherwise hold close() open.
  const sockets = new Set();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
