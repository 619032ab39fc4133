// Decoding what the gateway sends, with Foxglove's libraries as the oracle.
//
// `readerFor` builds the same decoder the Foxglove app builds for a `cdr`/`ros2msg` channel:
// `@foxglove/rosmsg` `parse(schema, {ros2: true})` → `@foxglove/rosmsg2-serialization`
// `MessageReader`. That library refuses `wstring` ("implementation-defined"), so `decodeXcdr1`
// below is a second, independent XCDR1 walker over the same parsed definitions that also reads
// wstrings the way ROS 2 Jazzy's rmw (Fast-CDR 2) writes them. Its output has exactly the shape
// MessageReader produces, so the tests can cross-check the two on every non-wstring message.

import { parse } from "@foxglove/rosmsg";
import { MessageReader, MessageWriter } from "@foxglove/rosmsg2-serialization";

/** Parse a `ros2msg` schema the way the Foxglove app does. */
export function parseRos2msg(schemaText) {
  return parse(schemaText, { ros2: true });
}

/** `{definitions, reader}` for an advertised channel (throws if the schema does not parse). */
export function readerFor(channel) {
  const definitions = parseRos2msg(channel.schema);
  return { definitions, reader: new MessageReader(definitions) };
}

/**
 * True if the root type has fields but all of them are constants (e.g.
 * test_interface_files/Constants). @foxglove/rosmsg2-serialization 3.1.0 cannot build a
 * MessageReader/MessageWriter for such a type ("no root MessageDefinition"): a limitation of the
 * library, shared by the Foxglove app, not of the schema.
 */
export function isConstantsOnly(definitions) {
  const root = definitions[0];
  return root !== undefined && root.definitions.length > 0 && root.definitions.every((f) => f.isConstant);
}

/** A MessageWriter for a schema text. */
export function writerFor(schemaText) {
  return new MessageWriter(parseRos2msg(schemaText));
}

/** A payload that does not match its definition. */
export class CdrDecodeError extends Error {
  constructor(message) {
    super(message);
    this.name = "CdrDecodeError";
  }
}

const SIZES = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  float32: 4,
  float64: 8,
};
const TYPED = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
};
const GETTER = {
  int8: "getInt8",
  uint8: "getUint8",
  int16: "getInt16",
  uint16: "getUint16",
  int32: "getInt32",
  uint32: "getUint32",
  int64: "getBigInt64",
  uint64: "getBigUint64",
  float32: "getFloat32",
  float64: "getFloat64",
};

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decode an XCDR1 payload (4-byte encapsulation header, then the body; alignment relative to the
 * body) against definitions from `parseRos2msg`. Returns `{value, consumed}` where `consumed`
 * counts bytes including the header. Throws `CdrDecodeError` on truncation, a bad header,
 * invalid UTF-8/UTF-16, a missing string terminator, or a bounded sequence over its bound.
 *
 * Wire rules (XCDR1 as ROS 2 writes it):
 * - header `00 01 00 00` = CDR little-endian (`00 00 ...` = big-endian);
 * - primitives aligned to their size (8-byte types to 8);
 * - string: u32 length including the NUL, the bytes, NUL;
 * - wstring: u32 count of UTF-16 code units (no terminator), then each unit as u16;
 * - sequence: u32 count then elements; a fixed array has no count;
 * - an empty primitive sequence adds no alignment padding after its count (Fast-CDR and
 *   @foxglove/cdr agree);
 * - a message with no fields is one u8 (the `structure_needs_at_least_one_member` placeholder).
 */
export function decodeXcdr1(definitions, bytes) {
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (buf.byteLength < 4) throw new CdrDecodeError(`payload of ${buf.byteLength} bytes has no encapsulation header`);
  if (buf[0] !== 0 || (buf[1] !== 0 && buf[1] !== 1)) {
    throw new CdrDecodeError(`encapsulation ${buf[0]},${buf[1]} is not plain CDR (0,0 or 0,1)`);
  }
  const little = buf[1] === 1;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const byName = new Map(definitions.map((d) => [d.name ?? "", d.definitions]));
  // In ros2msg text the root type comes first. (MessageReader instead skips constants-only
  // definitions, an ros2idl heuristic that leaves a constants-only root like
  // test_interface_files/Constants with no decoder at all.)
  const root = definitions[0];
  if (!root) throw new CdrDecodeError("no root definition");
  let off = 4;

  const need = (n, what) => {
    if (off + n > buf.byteLength) {
      throw new CdrDecodeError(`truncated: ${what} needs ${n} byte(s) at offset ${off}, payload is ${buf.byteLength}`);
    }
  };
  const align = (n) => {
    const rem = (off - 4) % n;
    if (rem) off += n - rem;
  };
  const prim = (type) => {
    const size = SIZES[type];
    align(size);
    need(size, type);
    let v;
    if (type === "bool") {
      const b = view.getUint8(off);
      v = b !== 0;
    } else {
      v = view[GETTER[type]](off, little);
    }
    off += size;
    return v;
  };
  const u32 = (what) => {
    align(4);
    need(4, what);
    const v = view.getUint32(off, little);
    off += 4;
    return v;
  };
  const string = () => {
    const len = u32("string length");
    if (len === 0) throw new CdrDecodeError(`string at offset ${off - 4} has length 0 (no NUL)`);
    need(len, "string bytes");
    if (buf[off + len - 1] !== 0) throw new CdrDecodeError(`string at offset ${off} lacks its NUL terminator`);
    let s;
    try {
      s = utf8.decode(buf.subarray(off, off + len - 1));
    } catch {
      throw new CdrDecodeError(`string at offset ${off} is not valid UTF-8`);
    }
    off += len;
    return s;
  };
  const wstring = () => {
    const units = u32("wstring length");
    need(units * 2, "wstring code units");
    const codes = new Array(units);
    for (let i = 0; i < units; i++) codes[i] = view.getUint16(off + 2 * i, little);
    off += units * 2;
    const s = String.fromCharCode(...codes);
    if (!s.isWellFormed()) throw new CdrDecodeError("wstring has an unpaired UTF-16 surrogate");
    return s;
  };
  const scalar = (type) => {
    if (type === "string") return string();
    if (type === "wstring") return wstring();
    if (type in SIZES) return prim(type);
    throw new CdrDecodeError(`unsupported primitive ${type}`);
  };
  const message = (fields) => {
    const data = fields.filter((f) => !f.isConstant);
    const out = {};
    if (data.length === 0) {
      prim("uint8");
      return out;
    }
    for (const f of data) {
      const one = f.isComplex ? () => message(lookup(f.type)) : () => scalar(f.type);
      if (!f.isArray) {
        out[f.name] = one();
        continue;
      }
      const count = f.arrayLength ?? u32(`${f.name} length`);
      if (f.arrayUpperBound !== undefined && count > f.arrayUpperBound) {
        throw new CdrDecodeError(`${f.name}: ${count} elements exceed the bound ${f.arrayUpperBound}`);
      }
      if (!f.isComplex && f.type in TYPED) {
        // Same shape as MessageReader: a typed array; no padding when empty.
        const Ctor = TYPED[f.type];
        if (count > 0) align(SIZES[f.type]);
        need(count * SIZES[f.type], `${f.name} elements`);
        const arr = new Ctor(count);
        for (let i = 0; i < count; i++) arr[i] = view[GETTER[f.type]](off + i * SIZES[f.type], little);
        off += count * SIZES[f.type];
        out[f.name] = arr;
      } else {
        // Cap by what is left before allocating: every element takes at least one byte.
        if (count > buf.byteLength - off) {
          throw new CdrDecodeError(`${f.name}: ${count} elements cannot fit in ${buf.byteLength - off} bytes`);
        }
        const arr = [];
        for (let i = 0; i < count; i++) arr.push(one());
        out[f.name] = arr;
      }
    }
    return out;
  };
  const lookup = (type) => {
    const d = byName.get(type);
    if (!d) throw new CdrDecodeError(`no definition for ${type}`);
    return d;
  };

  const value = message(root.definitions);
  return { value, consumed: off };
}
