//! The CDR corpus oracle, Rust side: for every message type (and service/action part) of
//! Debian's `ros2-test-interface-files`, generate deterministic values, encode them with our
//! codec, and print `[{type, case, schemaText, value, cdrHex, decoded}]` as JSON.
//! `tests/node/cdr_corpus.test.mjs` encodes the same values with `@foxglove/rosmsg2-serialization`
//! and compares bytes, decodes our bytes with their reader, and feeds their bytes back through
//! `--decode` to check our reader.
//!
//! ```text
//! cargo run --example cdr_corpus -- /usr > corpus.json          # generate
//! cargo run --example cdr_corpus -- --decode /usr < theirs.json  # [{type, cdrHex}] -> decoded
//! ```
//!
//! 64-bit integers are written as decimal strings in `value` and `decoded`, because the other
//! side is JavaScript (our encoder accepts both forms).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use foxglove_gateway::cdr::{cdr_to_json, json_to_cdr};
use foxglove_gateway::schema::{
    ArrayKind, BaseType, MessageDefinition, Primitive, ResolvedSchema, SchemaStore,
};
use serde_json::{json, Map, Value};

const PACKAGE: &str = "test_interface_files";

/// Every interface of the corpus package, resolved by the schema module.
fn load_corpus(prefix: PathBuf) -> Result<Vec<Arc<ResolvedSchema>>, String> {
    let share = prefix.join("share").join(PACKAGE);
    let store = SchemaStore::new(vec![prefix]);
    let mut out = Vec::new();
    for (dir, ext) in [("msg", "msg"), ("srv", "srv"), ("action", "action")] {
        let Ok(entries) = std::fs::read_dir(share.join(dir)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let p = e.path();
                (p.extension()? == ext).then(|| p.file_stem()?.to_str().map(str::to_owned))?
            })
            .collect();
        names.sort();
        for name in names {
            let full = format!("{PACKAGE}/{dir}/{name}");
            let err = |e: foxglove_gateway::schema::SchemaError| format!("{full}: {e}");
            match dir {
                "msg" => out.push(store.message(&full).map_err(err)?),
                "srv" => {
                    let (req, resp) = store.service(&full).map_err(err)?;
                    out.extend([req, resp]);
                }
                _ => {
                    let a = store.action(&full).map_err(err)?;
                    out.extend([a.goal, a.result, a.feedback]);
                }
            }
        }
    }
    Ok(out)
}

/// Which values to generate.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Case {
    /// `{}`: every field takes its default (or zero).
    Defaults,
    /// Maximum integers, huge floats, sequences at their bound (3 when unbounded).
    Max,
    /// Minimum integers, most negative floats, empty strings and sequences.
    Min,
    /// Pseudo-random values; top-level primitive sequences are long (1000 elements).
    Mixed,
    /// Like `Mixed` with non-ASCII strings (and NaN/±infinity/-0.0 floats).
    Unicode,
}

impl Case {
    const ALL: [Case; 5] = [
        Case::Defaults,
        Case::Max,
        Case::Min,
        Case::Mixed,
        Case::Unicode,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Defaults => "defaults",
            Case::Max => "max",
            Case::Min => "min",
            Case::Mixed => "mixed",
            Case::Unicode => "unicode",
        }
    }
}

/// A small deterministic generator (64-bit LCG), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

const UNICODE: &[&str] = &["h", "é", "ö", "ハ", "ロ", "😀", "Ω", " ", "x", "ß"];
const SPECIAL_FLOATS: &[&str] = &["NaN", "Infinity", "-Infinity"];

struct Gen<'s> {
    schema: &'s ResolvedSchema,
    case: Case,
    rng: Rng,
}

impl Gen<'_> {
    fn message(&mut self, def: &MessageDefinition, depth: usize) -> Value {
        let mut obj = Map::new();
        for field in &def.fields {
            let count = match field.array {
                ArrayKind::Scalar => None,
                ArrayKind::Fixed(n) => Some(n as usize),
                ArrayKind::Bounded(b) => Some(match self.case {
                    Case::Max => b as usize,
                    Case::Min => 0,
                    _ => self.rng.below(u64::from(b) + 1) as usize,
                }),
                ArrayKind::Unbounded => Some(match self.case {
                    Case::Max => 3,
                    Case::Min => 0,
                    _ if depth == 0 && matches!(field.base, BaseType::Primitive(_)) => 1000,
                    _ => self.rng.below(4) as usize,
                }),
            };
            let one = |g: &mut Self| match &field.base {
                BaseType::Primitive(p) => g.primitive(*p),
                BaseType::Message(name) => match g.schema.get(name) {
                    Some(d) => g.message(d, depth + 1),
                    None => Value::Null,
                },
            };
            let v = match count {
                None => one(self),
                Some(n) => Value::Array((0..n).map(|_| one(self)).collect()),
            };
            obj.insert(field.name.clone(), v);
        }
        Value::Object(obj)
    }

    fn string(&mut self, bound: Option<u32>, wide: bool) -> Value {
        let limit = bound.map_or(usize::MAX, |b| b as usize);
        let s = match self.case {
            Case::Min | Case::Defaults => String::new(),
            Case::Max => "max value ~!@#$%^&*()_+{}|:<>?`-=[]\\;',./\""
                .chars()
                .cycle()
                .take(limit.min(40))
                .collect(),
            Case::Mixed => {
                let n = self.rng.below(13) as usize;
                (0..n)
                    .map(|_| char::from(b' ' + self.rng.below(95) as u8))
                    .collect()
            }
            Case::Unicode => {
                let mut s = String::new();
                for _ in 0..self.rng.below(8) + 1 {
                    let piece = UNICODE[self.rng.below(UNICODE.len() as u64) as usize];
                    // Bounds count bytes (string) or UTF-16 units (wstring).
                    let len = |s: &str| {
                        if wide {
                            s.encode_utf16().count()
                        } else {
                            s.len()
                        }
                    };
                    if len(&s) + len(piece) > limit {
                        break;
                    }
                    s.push_str(piece);
                }
                s
            }
        };
        Value::from(s)
    }

    fn float(&mut self, single: bool) -> Value {
        let (max, min) = if single {
            (f64::from(f32::MAX), f64::from(f32::MIN))
        } else {
            (f64::MAX, f64::MIN)
        };
        match self.case {
            Case::Defaults => json!(0.0),
            Case::Max => json!(max),
            Case::Min => json!(min),
            Case::Mixed | Case::Unicode => {
                if self.case == Case::Unicode && self.rng.below(4) == 0 {
                    let pick = self.rng.below(4) as usize;
                    return match SPECIAL_FLOATS.get(pick) {
                        Some(s) => json!(s),
                        None => json!(-0.0),
                    };
                }
                let raw = (self.rng.next() as i64 - (1 << 52)) as f64 / 1024.0;
                if single {
                    json!(f64::from(raw as f32))
                } else {
                    json!(raw)
                }
            }
        }
    }

    fn int(&mut self, min: i128, max: i128) -> i128 {
        match self.case {
            Case::Defaults => 0,
            Case::Max => max,
            Case::Min => min,
            Case::Mixed | Case::Unicode => {
                let span = (max - min) as u128 + 1;
                let r = (u128::from(self.rng.next()) << 64 | u128::from(self.rng.next())) % span;
                min + r as i128
            }
        }
    }

    fn primitive(&mut self, p: Primitive) -> Value {
        match p {
            Primitive::Bool => json!(match self.case {
                Case::Max => true,
                Case::Min | Case::Defaults => false,
                _ => self.rng.below(2) == 1,
            }),
            Primitive::Byte | Primitive::Char | Primitive::Uint8 => json!(self.int(0, 255) as u8),
            Primitive::Int8 => json!(self.int(-128, 127) as i8),
            Primitive::Int16 => json!(self.int(i16::MIN.into(), i16::MAX.into()) as i16),
            Primitive::Uint16 => json!(self.int(0, u16::MAX.into()) as u16),
            Primitive::Int32 => json!(self.int(i32::MIN.into(), i32::MAX.into()) as i32),
            Primitive::Uint32 => json!(self.int(0, u32::MAX.into()) as u32),
            Primitive::Int64 => json!(self.int(i64::MIN.into(), i64::MAX.into()).to_string()),
            Primitive::Uint64 => json!(self.int(0, u64::MAX.into()).to_string()),
            Primitive::Float32 => self.float(true),
            Primitive::Float64 => self.float(false),
            Primitive::String(b) => self.string(b, false),
            Primitive::WString(b) => self.string(b, true),
        }
    }
}

/// Rewrite 64-bit integers as decimal strings, walking the schema (JavaScript loses them as
/// numbers).
fn wide_ints_as_strings(schema: &ResolvedSchema, def: &MessageDefinition, v: &mut Value) {
    let Value::Object(obj) = v else { return };
    for field in &def.fields {
        let Some(fv) = obj.get_mut(&field.name) else {
            continue;
        };
        let items: Vec<&mut Value> = match (field.array, fv) {
            (ArrayKind::Scalar, fv) => vec![fv],
            (_, Value::Array(a)) => a.iter_mut().collect(),
            _ => continue,
        };
        for item in items {
            match &field.base {
                BaseType::Primitive(Primitive::Int64 | Primitive::Uint64) => {
                    if let Value::Number(n) = item {
                        *item = Value::from(n.to_string());
                    }
                }
                BaseType::Message(name) => {
                    if let Some(d) = schema.get(name) {
                        wide_ints_as_strings(schema, d, item);
                    }
                }
                BaseType::Primitive(_) => {}
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn generate(schemas: &[Arc<ResolvedSchema>]) -> Result<Value, String> {
    let mut entries = Vec::new();
    for (i, schema) in schemas.iter().enumerate() {
        let root = schema
            .get(&schema.name)
            .ok_or_else(|| format!("{}: no root definition", schema.name))?;
        for case in Case::ALL {
            let mut gen = Gen {
                schema,
                case,
                rng: Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 * 7919 + case as u64)),
            };
            let value = match case {
                Case::Defaults => json!({}),
                _ => gen.message(root, 0),
            };
            let bytes = json_to_cdr(schema, &value)
                .map_err(|e| format!("{} ({}): encode: {e}", schema.name, case.name()))?;
            let mut decoded = cdr_to_json(schema, &bytes)
                .map_err(|e| format!("{} ({}): decode: {e}", schema.name, case.name()))?;
            wide_ints_as_strings(schema, root, &mut decoded);
            entries.push(json!({
                "type": schema.name,
                "case": case.name(),
                "schemaText": schema.text,
                "value": value,
                "cdrHex": hex(&bytes),
                "decoded": decoded,
            }));
        }
    }
    Ok(Value::Array(entries))
}

/// `[{type, cdrHex}]` from stdin → `[{type, decoded} | {type, error}]`.
fn decode(schemas: &[Arc<ResolvedSchema>]) -> Result<Value, String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("stdin: {e}"))?;
    let items: Vec<Value> = serde_json::from_str(&input).map_err(|e| format!("stdin: {e}"))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let ty = item["type"].as_str().unwrap_or_default().to_owned();
        let schema = schemas
            .iter()
            .find(|s| s.name == ty)
            .ok_or_else(|| format!("unknown type {ty:?}"))?;
        let bytes = unhex(item["cdrHex"].as_str().unwrap_or_default())
            .ok_or_else(|| format!("{ty}: bad hex"))?;
        out.push(match cdr_to_json(schema, &bytes) {
            Ok(mut v) => {
                if let Some(root) = schema.get(&schema.name) {
                    wide_ints_as_strings(schema, root, &mut v);
                }
                json!({"type": ty, "decoded": v})
            }
            Err(e) => json!({"type": ty, "error": e.to_string()}),
        });
    }
    Ok(Value::Array(out))
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let decode_mode = args.first().is_some_and(|a| a == "--decode");
    if decode_mode {
        args.remove(0);
    }
    let prefix = PathBuf::from(args.first().map_or("/usr", String::as_str));
    let result = load_corpus(prefix).and_then(|schemas| {
        if schemas.is_empty() {
            return Err(format!("no {PACKAGE} interfaces found"));
        }
        if decode_mode {
            decode(&schemas)
        } else {
            generate(&schemas)
        }
    });
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cdr_corpus: {e}");
            ExitCode::FAILURE
        }
    }
}
