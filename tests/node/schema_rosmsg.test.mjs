// Checks the ros2msg schema texts we generate against @foxglove/rosmsg, the parser the Foxglove
// app uses: every text must parse with {ros2: true} and give the same field names, types and
// array shapes (and constants and defaults) as our own parse of the same definitions.
//
// The schemas come from `cargo run --example dump_schemas -- <repo>/interfaces /usr`, or from the
// JSON file named by SCHEMAS_JSON if set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "@foxglove/rosmsg";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function loadSchemas() {
  if (process.env.SCHEMAS_JSON) {
    return JSON.parse(readFileSync(process.env.SCHEMAS_JSON, "utf8"));
  }
  const out = execFileSync(
    "cargo",
    ["run", "-q", "--no-default-features", "--example", "dump_schemas", "--", join(repo, "interfaces"), "/usr"],
    { cwd: repo, maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "inherit"] },
  );
  // Keep a copy for debugging a failure.
  const file = join(mkdtempSync(join(tmpdir(), "schemas-")), "schemas.json");
  writeFileSync(file, out);
  return JSON.parse(out.toString("utf8"));
}

const schemas = loadSchemas();

// `pkg/Type` → `pkg/msg/Type`; other names unchanged.
function normalize(name) {
  const parts = name.split("/");
  return parts.length === 2 ? `${parts[0]}/msg/${parts[1]}` : name;
}

// Our type spelled as @foxglove/rosmsg reports it after its ROS 2 normalisation.
function rosmsgType(type) {
  switch (type) {
    case "char":
    case "byte":
      return "uint8";
    case "builtin_interfaces/msg/Time":
      return "time";
    case "builtin_interfaces/msg/Duration":
      return "duration";
    default:
      return type;
  }
}

// Values as comparable JSON: rosmsg gives BigInt for 64-bit integers, we give numbers.
function plain(v) {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

test("dump covers the shipped interfaces and test_interface_files", () => {
  const names = new Set(schemas.map((s) => s.name));
  for (const n of [
    "geometry_msgs/msg/PoseStamped",
    "visualization_msgs/msg/MarkerArray",
    "std_srvs/srv/SetBool_Request",
    "rcl_interfaces/srv/GetParameters_Response",
  ]) {
    assert.ok(names.has(n), n);
  }
  assert.ok(schemas.length > 80, `only ${schemas.length} schemas`);
  if (readFileSafe("/usr/share/test_interface_files/msg/MultiNested.msg")) {
    assert.ok(names.has("test_interface_files/msg/MultiNested"));
    assert.ok(names.has("test_interface_files/action/Fibonacci_Feedback"));
  }
});

function readFileSafe(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

for (const schema of schemas) {
  test(`@foxglove/rosmsg agrees on ${schema.name}`, () => {
    assert.equal(schema.encoding, "ros2msg");
    const parsed = parse(schema.text, { ros2: true });
    // Every definition we resolved must be in the text, root first and unnamed.
    const byName = new Map();
    for (const t of parsed) {
      byName.set(t.name === undefined ? schema.name : normalize(t.name), t);
    }
    assert.equal(parsed[0].name, undefined);
    for (const ours of schema.definitions) {
      const theirs = byName.get(ours.name);
      assert.ok(theirs, `${ours.name} missing from the text of ${schema.name}`);
      const fields = theirs.definitions.filter((d) => d.isConstant !== true);
      const constants = theirs.definitions.filter((d) => d.isConstant === true);
      assert.deepEqual(
        fields.map((f) => ({
          name: f.name,
          type: f.isComplex ? normalize(f.type) : f.type,
          isComplex: f.isComplex,
          isArray: f.isArray,
          arrayLength: f.arrayLength,
          arrayUpperBound: f.arrayUpperBound,
          upperBound: f.upperBound,
          default: plain(f.defaultValue),
        })),
        ours.fields.map((f) => {
          const type = rosmsgType(f.type);
          return {
            name: f.name,
            type,
            isComplex: f.isComplex && type !== "time" && type !== "duration",
            isArray: f.isArray,
            arrayLength: f.arrayLength ?? undefined,
            arrayUpperBound: f.arrayUpperBound ?? undefined,
            upperBound: f.upperBound ?? undefined,
            default: f.default ?? undefined,
          };
        }),
        `fields of ${ours.name}`,
      );
      assert.deepEqual(
        constants.map((c) => ({ name: c.name, type: c.type, value: plain(c.value) })),
        ours.constants.map((c) => ({ name: c.name, type: rosmsgType(c.type), value: c.value })),
        `constants of ${ours.name}`,
      );
    }
  });
}
