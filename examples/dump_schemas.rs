//! Dump the schema of every interface found under the given ament prefixes as JSON:
//! `[{"name", "encoding", "text", "definitions"}]`, one entry per message, service request and
//! response, and action goal, result and feedback.
//!
//! ```text
//! cargo run --example dump_schemas -- interfaces /usr > schemas.json
//! ```
//!
//! `definitions` is our parsed form (field names, types, array shapes, constants) so that tests in
//! other languages can compare it with their own parse of `text`. A type that fails to resolve
//! is reported on stderr and makes the exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use foxglove_gateway::schema::{
    ArrayKind, BaseType, MessageDefinition, Primitive, ResolvedSchema, SchemaStore,
};
use serde_json::{json, Value};

fn main() -> ExitCode {
    let prefixes: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if prefixes.is_empty() {
        eprintln!("usage: dump_schemas <ament prefix>...");
        return ExitCode::from(2);
    }
    let store = SchemaStore::new(prefixes);
    let mut out = Vec::new();
    let mut failed = false;
    for name in store.interface_names() {
        let parts: Result<Vec<_>, _> = if name.contains("/srv/") {
            store.service(&name).map(|(a, b)| vec![a, b])
        } else if name.contains("/action/") {
            store
                .action(&name)
                .map(|a| vec![a.goal, a.result, a.feedback])
        } else {
            store.message(&name).map(|m| vec![m])
        };
        match parts {
            Ok(parts) => out.extend(parts.iter().map(|s| schema_json(s))),
            Err(e) => {
                eprintln!("{name}: {e}");
                failed = true;
            }
        }
    }
    println!("{}", Value::Array(out));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn schema_json(s: &ResolvedSchema) -> Value {
    json!({
        "name": s.name,
        "encoding": s.encoding.as_str(),
        "text": s.text,
        "definitions": s.definitions.values().map(|d| definition_json(d)).collect::<Vec<_>>(),
    })
}

fn definition_json(d: &MessageDefinition) -> Value {
    json!({
        "name": d.name,
        "fields": d.fields.iter().map(|f| {
            let (ty, upper_bound) = type_json(&f.base);
            let (array_length, array_upper_bound) = match f.array {
                ArrayKind::Scalar | ArrayKind::Unbounded => (None, None),
                ArrayKind::Fixed(n) => (Some(n), None),
                ArrayKind::Bounded(n) => (None, Some(n)),
            };
            json!({
                "name": f.name,
                "type": ty,
                "isComplex": matches!(f.base, BaseType::Message(_)),
                "isArray": f.array != ArrayKind::Scalar,
                "arrayLength": array_length,
                "arrayUpperBound": array_upper_bound,
                "upperBound": upper_bound,
                "default": f.default,
            })
        }).collect::<Vec<_>>(),
        "constants": d.constants.iter().map(|c| {
            json!({"name": c.name, "type": type_json(&BaseType::Primitive(c.ty)).0, "value": c.value})
        }).collect::<Vec<_>>(),
    })
}

/// The type as `@foxglove/rosmsg` spells it, and the string bound.
fn type_json(base: &BaseType) -> (String, Option<u32>) {
    match base {
        BaseType::Message(full) => (full.clone(), None),
        BaseType::Primitive(p) => match p {
            Primitive::String(b) => ("string".into(), *b),
            Primitive::WString(b) => ("wstring".into(), *b),
            Primitive::Bool => ("bool".into(), None),
            Primitive::Byte => ("byte".into(), None),
            Primitive::Char => ("char".into(), None),
            Primitive::Float32 => ("float32".into(), None),
            Primitive::Float64 => ("float64".into(), None),
            Primitive::Int8 => ("int8".into(), None),
            Primitive::Uint8 => ("uint8".into(), None),
            Primitive::Int16 => ("int16".into(), None),
            Primitive::Uint16 => ("uint16".into(), None),
            Primitive::Int32 => ("int32".into(), None),
            Primitive::Uint32 => ("uint32".into(), None),
            Primitive::Int64 => ("int64".into(), None),
            Primitive::Uint64 => ("uint64".into(), None),
        },
    }
}
