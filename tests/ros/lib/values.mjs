// Comparing what a viewer decoded (Foxglove's MessageReader output) or what an rclpy peer
// received (rosidl_runtime_py's message_to_ordereddict) with the values that were published.

/** The bytes a `{"$pattern": [n, mul, add]}` value stands for (same rule as peers/peer.py). */
export function patternBytes([n, mul, add]) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * mul + add) & 0xff;
  return out;
}

const isTyped = (v) => ArrayBuffer.isView(v) && !(v instanceof DataView);

function sameNumber(got, want) {
  if (typeof got === "bigint") return typeof want === "bigint" ? got === want : Number.isInteger(want) && got === BigInt(want);
  if (typeof got !== "number") return false;
  const w = typeof want === "bigint" ? Number(want) : want;
  // float32 fields decode to the float32 nearest the published value.
  return got === w || Object.is(got, w) || got === Math.fround(w);
}

/**
 * Every field of `want` must be in `got` with the same value (fields `want` leaves out are not
 * compared: they were not set by the publisher either). Returns undefined when they match, else
 * a description of the first difference with its path.
 */
export function mismatch(got, want, path = "") {
  const at = path || "(root)";
  if (want !== null && typeof want === "object" && !Array.isArray(want) && "$pattern" in want) {
    const bytes = patternBytes(want.$pattern);
    const g = got instanceof Uint8Array ? got : Array.isArray(got) ? Uint8Array.from(got) : undefined;
    if (!g) return `${at}: expected ${bytes.length} bytes, got ${describe(got)}`;
    if (g.length !== bytes.length) return `${at}: expected ${bytes.length} bytes, got ${g.length}`;
    for (let i = 0; i < bytes.length; i++) if (g[i] !== bytes[i]) return `${at}[${i}]: expected ${bytes[i]}, got ${g[i]}`;
    return undefined;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got) && !isTyped(got)) return `${at}: expected an array of ${want.length}, got ${describe(got)}`;
    if (got.length !== want.length) return `${at}: expected ${want.length} elements, got ${got.length}`;
    for (let i = 0; i < want.length; i++) {
      const m = mismatch(got[i], want[i], `${path}[${i}]`);
      if (m) return m;
    }
    return undefined;
  }
  if (want !== null && typeof want === "object") {
    if (got === null || typeof got !== "object") return `${at}: expected a message, got ${describe(got)}`;
    for (const [k, v] of Object.entries(want)) {
      if (!(k in got)) return `${path ? path + "." : ""}${k}: missing`;
      const m = mismatch(got[k], v, path ? `${path}.${k}` : k);
      if (m) return m;
    }
    return undefined;
  }
  if (typeof want === "number" || typeof want === "bigint") {
    return sameNumber(got, want) ? undefined : `${at}: expected ${want}, got ${describe(got)}`;
  }
  return got === want ? undefined : `${at}: expected ${JSON.stringify(want)}, got ${describe(got)}`;
}

/** A short rendering of a value for PASS/FAIL lines. */
export function describe(v, max = 120) {
  let s;
  if (v instanceof Uint8Array && v.length > 16) s = `<${v.length} bytes>`;
  else if (isTyped(v)) s = `[${Array.from(v.slice(0, 6)).join(",")}${v.length > 6 ? ",…" : ""}]`;
  else {
    try {
      s = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : isTyped(x) ? (x.length > 6 ? `<${x.length} values>` : Array.from(x)) : x));
    } catch {
      s = String(v);
    }
  }
  if (s === undefined) s = String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Up to `n` leaf values of `want` as "path=value", for PASS lines. */
export function leaves(want, n = 4) {
  const out = [];
  const walk = (v, path) => {
    if (out.length >= n) return;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && "$pattern" in v) {
      out.push(`${path}=<${v.$pattern[0]} bytes>`);
    } else if (Array.isArray(v)) {
      if (v.length > 0 && typeof v[0] !== "object") out.push(`${path}=[${v.slice(0, 3).join(",")}${v.length > 3 ? `,… ${v.length}` : ""}]`);
      else v.slice(0, 1).forEach((x, i) => walk(x, `${path}[${i}]`));
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    } else {
      out.push(`${path}=${JSON.stringify(v)}`);
    }
  };
  walk(want, "");
  return out.join(" ");
}
