// The CDR corpus oracle: our codec against Foxglove's own @foxglove/rosmsg2-serialization, for
// every message type (and service/action part) of Debian's ros2-test-interface-files.
//
// 1. `cargo run --example cdr_corpus -- <prefix>` encodes deterministic values per type.
// 2. Here, MessageWriter encodes the same values: the bytes must be identical.
// 3. MessageReader decodes our bytes: the values must equal what our decoder produced.
// 4. Their bytes go back through `cdr_corpus --decode`: our decoder must agree with theirs.
//
// Known limits of the oracle (each counted and reported, never silently skipped):
// - MessageWriter/Reader refuse `wstring` ("implementation-defined"): for those types we assert
//   that they throw, and rely on the Rust byte vectors for wstring.
// - @foxglove/cdr 3.5.0 `CdrWriter.string` sizes strings by UTF-16 length and truncates
//   non-ASCII text, so for values with non-ASCII strings only steps 3 (their reader on our
//   bytes) is checked; their bytes are wrong there.
// - MessageWriter mis-writes missing sequence fields that have defaults, and refuses a root
//   made only of constants: see fillSequenceDefaults and rootWithoutConstantsOnly below.
//
// Environment: CDR_CORPUS_PREFIX (default /usr).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { parse } from "@foxglove/rosmsg";
import { MessageReader, MessageWriter } from "@foxglove/rosmsg2-serialization";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const prefix = process.env.CDR_CORPUS_PREFIX ?? "/usr";

function runCorpus(args, input) {
  return execFileSync("cargo", ["run", "-q", "--example", "cdr_corpus", "--", ...args], {
    cwd: repo,
    input,
    encoding: "utf8",
    maxBuffer: 1 << 30,
    stdio: ["pipe", "pipe", "inherit"],
  });
}

const WIDE = new Set(["int64", "uint64"]);
const FLOAT = new Set(["float32", "float64"]);

function definitionsByName(defs) {
  return new Map(defs.map((d) => [d.name ?? "", d.definitions]));
}

// JSON from the corpus → the JS values MessageWriter expects (BigInt for 64-bit integers,
// real NaN/Infinity for floats).
function toJs(value, fields, byName) {
  if (value == undefined || typeof value !== "object") {
    return value;
  }
  const out = {};
  for (const field of fields) {
    if (field.isConstant === true || !(field.name in value)) {
      continue;
    }
    const one = (v) => {
      if (field.isComplex === true) {
        return toJs(v, byName.get(field.type), byName);
      }
      if (WIDE.has(field.type)) {
        return BigInt(v);
      }
      if (FLOAT.has(field.type) && typeof v === "string") {
        return Number(v);
      }
      return v;
    };
    const v = value[field.name];
    out[field.name] = field.isArray === true ? v.map(one) : one(v);
  }
  return out;
}

// Any decoded value (theirs: typed arrays, bigint, NaN; ours: JSON with strings for 64-bit
// integers and non-finite floats) → one canonical JSON-like shape.
function normalize(value, fields, byName) {
  const out = {};
  for (const field of fields) {
    if (field.isConstant === true) {
      continue;
    }
    const one = (v) => {
      if (field.isComplex === true) {
        return normalize(v, byName.get(field.type), byName);
      }
      if (typeof v === "bigint") {
        return v.toString();
      }
      if (typeof v === "number" && !Number.isFinite(v)) {
        return String(v);
      }
      return v;
    };
    const v = value[field.name];
    out[field.name] = field.isArray === true ? Array.from(v, one) : one(v);
  }
  return out;
}

// MessageWriter (rosmsg2-serialization 3.1.0) writes a *missing* sequence field that has a
// default as count 0 followed by the default's elements (it takes the count from the value,
// the elements from the default), which no reader can parse. ROS fills defaults into the
// message before serializing, so do that here (from @foxglove/rosmsg's own parse of the
// defaults) and compare against that. Returns [value, whether anything was filled in].
function fillSequenceDefaults(value, fields, byName) {
  let filled = false;
  const out = { ...value };
  for (const field of fields) {
    if (field.isConstant === true) {
      continue;
    }
    const v = out[field.name];
    const isSequence = field.isArray === true && field.arrayLength == undefined;
    if (v == undefined && isSequence && field.defaultValue != undefined) {
      out[field.name] = Array.from(field.defaultValue);
      filled = true;
    } else if (field.isComplex === true) {
      const nested = byName.get(field.type);
      const fill = (entry) => {
        const [e, f] = fillSequenceDefaults(entry ?? {}, nested, byName);
        filled ||= f;
        return e;
      };
      if (field.isArray !== true) {
        out[field.name] = fill(v);
      } else if (field.arrayLength != undefined) {
        out[field.name] = Array.from({ length: field.arrayLength }, (_, i) => fill(v?.[i]));
      } else if (v != undefined) {
        out[field.name] = v.map(fill);
      }
    }
  }
  return [out, filled];
}

// A definition with only constants has no wire fields: ROS 2 gives it the one-byte dummy member,
// as MessageWriter does for an empty definition. But as a *root* MessageWriter/Reader mistake it
// for an IDL constant module and refuse it; dropping the (never serialized) constants makes
// them treat it as the empty message it is.
function rootWithoutConstantsOnly(defs) {
  const [root, ...rest] = defs;
  const onlyConstants =
    root.definitions.length > 0 && root.definitions.every((f) => f.isConstant === true);
  return onlyConstants ? [{ ...root, definitions: [] }, ...rest] : defs;
}

function hasWstring(defs) {
  return defs.some((d) => d.definitions.some((f) => f.type === "wstring" && f.isConstant !== true));
}

function isAscii(value) {
  return /^[\x00-\x7f]*$/.test(JSON.stringify(value));
}

test("CDR corpus: byte-identical to @foxglove/rosmsg2-serialization", async (t) => {
  const corpus = JSON.parse(runCorpus([prefix]));
  assert.ok(Array.isArray(corpus) && corpus.length > 0, "the corpus is empty");
  const types = new Set(corpus.map((e) => e.type));
  const messageTypes = [...types].filter((ty) => ty.includes("/msg/"));
  assert.ok(messageTypes.length >= 10, `only ${messageTypes.length} message types: ${[...types]}`);

  const stats = {
    byteExact: 0,
    readerAgrees: 0,
    wstringRefused: 0,
    nonAsciiReadOnly: 0,
    sequenceDefaultsFilled: 0,
    constantsOnlyRoot: 0,
  };
  const exactTypes = new Set();
  const reverse = [];

  for (const entry of corpus) {
    await t.test(`${entry.type} (${entry.case})`, () => {
      const parsed = parse(entry.schemaText, { ros2: true });
      const defs = rootWithoutConstantsOnly(parsed);
      if (defs !== parsed) {
        stats.constantsOnlyRoot++;
      }
      const byName = definitionsByName(defs);
      const root = defs[0].definitions;
      const ours = Buffer.from(entry.cdrHex, "hex");
      const [jsValue, filled] = fillSequenceDefaults(toJs(entry.value, root, byName), root, byName);
      if (filled) {
        stats.sequenceDefaultsFilled++;
      }

      if (hasWstring(defs)) {
        assert.throws(() => new MessageWriter(defs).writeMessage(jsValue), /wstring/);
        assert.throws(() => new MessageReader(defs).readMessage(ours), /wstring/);
        stats.wstringRefused++;
        return;
      }

      // Their reader on our bytes gives our values, consuming every byte.
      const reader = new MessageReader(defs);
      const theirView = normalize(reader.readMessage(ours), root, byName);
      assert.equal(reader.lastReadHadTrailingBytes(), false, "trailing bytes after decode");
      assert.deepStrictEqual(theirView, normalize(entry.decoded, root, byName));
      stats.readerAgrees++;

      if (!isAscii(entry.value)) {
        stats.nonAsciiReadOnly++;
        return;
      }
      // Their writer on the same values gives the same bytes.
      const theirs = Buffer.from(new MessageWriter(defs).writeMessage(jsValue));
      assert.equal(theirs.toString("hex"), entry.cdrHex);
      stats.byteExact++;
      exactTypes.add(entry.type);
      reverse.push({
        type: entry.type,
        cdrHex: theirs.toString("hex"),
        expected: normalize(new MessageReader(defs).readMessage(theirs), root, byName),
        defs,
      });
    });
  }

  await t.test("our decoder reads their bytes", () => {
    const input = JSON.stringify(reverse.map(({ type, cdrHex }) => ({ type, cdrHex })));
    const results = JSON.parse(runCorpus(["--decode", prefix], input));
    assert.equal(results.length, reverse.length);
    results.forEach((r, i) => {
      const { type, expected, defs } = reverse[i];
      assert.equal(r.type, type);
      assert.equal(r.error, undefined, `${type}: ${r.error}`);
      const byName = definitionsByName(defs);
      assert.deepStrictEqual(normalize(r.decoded, defs[0].definitions, byName), expected, type);
    });
  });

  t.diagnostic(`types: ${types.size} (${messageTypes.length} messages), entries: ${corpus.length}`);
  t.diagnostic(`stats: ${JSON.stringify(stats)}`);
  // Every type without wstring must have had byte-exact cases, not just the easy ones.
  assert.ok(exactTypes.size >= 10, `byte-exact for only ${exactTypes.size} types`);
  assert.ok(stats.byteExact >= 4 * exactTypes.size, `only ${stats.byteExact} byte-exact cases`);
});
