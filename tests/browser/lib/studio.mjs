// What the browser tier asks of the Studio page: open it on a gateway, find panels and topics,
// read what a panel shows, and count coloured pixels in a screenshot. Every wait is bounded and
// fails with what was on screen instead.

/** Poll `probe` (async, returns a value or undefined) until it returns a value or time runs out. */
export async function poll(what, probe, { timeoutMs = 10_000, intervalMs = 200, lastSeen = () => "" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const seen = await lastSeen();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen ? `; on screen: ${seen}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The Studio URL that connects to `wsUrl` with the layout `layoutId`. */
export function studioUrl(httpUrl, wsUrl, layoutId) {
  const q = new URLSearchParams({ ds: "foxglove-websocket", "ds.url": wsUrl, layoutId });
  return `${httpUrl}/?${q}`;
}

/**
 * Load the page and wait until the bootstrap has rendered Studio's App (window.__boot, set by
 * app/bootstrap.js). The studio bundle is ~56 MB of JavaScript: parsing it takes a while.
 */
export async function openStudio(page, url, { timeoutMs = 60_000 } = {}) {
  await page.goto(url, { waitUntil: "load", timeout: timeoutMs });
  await poll(
    "Studio's App to render",
    async () => {
      const boot = await page.evaluate(() => window.__boot);
      if (boot?.stage === "failed") throw new Error(`bootstrap failed: ${boot.errors.join("\n")}`);
      return boot?.rendered ? true : undefined;
    },
    { timeoutMs, lastSeen: async () => JSON.stringify(await page.evaluate(() => window.__boot)) },
  );
}

/** The root element of the panel with id `panelId` (e.g. `RawMessages!chatter`). */
export function panel(page, panelId) {
  return page.locator(`[data-testid="panel-mouseenter-container ${panelId}"]`);
}

/** A panel's visible text, whitespace collapsed, or "" if it is not there (yet). */
export async function panelText(page, panelId) {
  try {
    return (await panel(page, panelId).innerText({ timeout: 1000 })).replace(/\s+/g, " ").trim();
  } catch {
    return "";
  }
}

/**
 * The topic list's entries as `{ name, type }`: Studio's TopicList renders each topic as a list
 * item whose primary text has `title=<topic>` and whose secondary text has `title=<schemaName>`.
 */
export async function topicListEntries(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("li")]
      .map((li) => {
        const titled = [...li.querySelectorAll("[title]")].map((e) => e.getAttribute("title"));
        const name = titled.find((t) => t.startsWith("/"));
        const type = titled.find((t) => !t.startsWith("/") && t.includes("/"));
        return name && type ? { name, type } : undefined;
      })
      .filter((e) => e !== undefined && e.name.length > 0),
  );
}

/**
 * Count the pixels of a PNG (a Buffer, e.g. an element screenshot) that are close to `rgb`.
 * Decoded by the browser itself (createImageBitmap), so the tier needs no image library.
 */
export async function countPixels(page, png, [r, g, b], tolerance = 60) {
  return page.evaluate(
    async ({ b64, r, g, b, tolerance }) => {
      const blob = await (await fetch(`data:image/png;base64,${b64}`)).blob();
      const bitmap = await createImageBitmap(blob);
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext("2d");
      ctx.drawImage(bitmap, 0, 0);
      const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      let n = 0;
      for (let i = 0; i + 3 < data.length; i += 4) {
        if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) <= tolerance) n++;
      }
      return { matching: n, total: bitmap.width * bitmap.height };
    },
    { b64: png.toString("base64"), r, g, b, tolerance },
  );
}
