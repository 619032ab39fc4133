//! Test helper: build a [`ResolvedSchema`] from `.msg`-like lines without the schema module.
//!
//! Each line is `type name [json-default]`, where `type` is a primitive (`string<=5`, `int32`),
//! or a full message name (`pkg/msg/T`), optionally followed by `[]`, `[N]` or `[<=N]`. Enough
//! for unit tests; the real parser lives in `crate::schema`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::schema::{
    ArrayKind, BaseType, Field, MessageDefinition, Primitive, ResolvedSchema, SchemaEncoding,
};

fn primitive(t: &str) -> Option<Primitive> {
    let bound = |rest: &str| rest.strip_prefix("<=").and_then(|n| n.parse().ok());
    Some(match t {
        "bool" => Primitive::Bool,
        "byte" => Primitive::Byte,
        "char" => Primitive::Char,
        "float32" => Primitive::Float32,
        "float64" => Primitive::Float64,
        "int8" => Primitive::Int8,
        "uint8" => Primitive::Uint8,
        "int16" => Primitive::Int16,
        "uint16" => Primitive::Uint16,
        "int32" => Primitive::Int32,
        "uint32" => Primitive::Uint32,
        "int64" => Primitive::Int64,
        "uint64" => Primitive::Uint64,
        "string" => Primitive::String(None),
        "wstring" => Primitive::WString(None),
        _ if t.starts_with("wstring<=") => Primitive::WString(bound(&t[7..])),
        _ if t.starts_with("string<=") => Primitive::String(bound(&t[6..])),
        _ => return None,
    })
}

/// One field from `type name [default]`.
pub fn field(line: &str) -> Field {
    let mut parts = line.splitn(3, ' ');
    let ty = parts.next().expect("type");
    let name = parts.next().expect("name").to_owned();
    let default = parts
        .next()
        .map(|d| serde_json::from_str(d).expect("default is JSON"));
    let (elem, array) = match ty.find('[') {
        None => (ty, ArrayKind::Scalar),
        Some(i) => {
            let inner = &ty[i + 1..ty.len() - 1];
            let array = if inner.is_empty() {
                ArrayKind::Unbounded
            } else if let Some(n) = inner.strip_prefix("<=") {
                ArrayKind::Bounded(n.parse().expect("bound"))
            } else {
                ArrayKind::Fixed(inner.parse().expect("length"))
            };
            (&ty[..i], array)
        }
    };
    let base = match primitive(elem) {
        Some(p) => BaseType::Primitive(p),
        None => BaseType::Message(elem.to_owned()),
    };
    Field {
        name,
        base,
        array,
        default,
    }
}

/// A schema from `(full name, lines)`; the first definition is the root.
pub fn schema(defs: &[(&str, &str)]) -> ResolvedSchema {
    let definitions: BTreeMap<_, _> = defs
        .iter()
        .map(|(name, text)| {
            let fields = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(field)
                .collect();
            let def = MessageDefinition {
                name: (*name).to_owned(),
                fields,
                constants: vec![],
            };
            ((*name).to_owned(), Arc::new(def))
        })
        .collect();
    ResolvedSchema {
        name: defs[0].0.to_owned(),
        encoding: SchemaEncoding::Ros2Msg,
        text: String::new(),
        definitions,
    }
}
