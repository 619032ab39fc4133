//! Writing a parsed definition as IDL, for `ros2idl` texts whose dependencies only exist as
//! `.msg` (a `ros2idl` text must carry IDL for every definition).
//!
//! The shape is rosidl's (`module pkg { module msg { ... }; };`, constants in `X_Constants`,
//! defaults as `@default`), except that fixed arrays are written on the declarator
//! (`double d[9];`) instead of through a typedef, which IDL allows and is shorter.

use serde_json::Value;

use super::types::{ArrayKind, BaseType, MessageDefinition, Primitive};

/// The IDL text of one definition (named `pkg/kind/Type`).
pub(crate) fn to_idl(def: &MessageDefinition) -> String {
    let parts: Vec<&str> = def.name.split('/').collect();
    let (pkg, kind, name) = match parts.as_slice() {
        [p, k, n] => (*p, *k, *n),
        _ => ("unknown", "msg", def.name.as_str()),
    };
    let mut out = format!("module {pkg} {{\n  module {kind} {{\n");
    if !def.constants.is_empty() {
        out.push_str(&format!("    module {name}_Constants {{\n"));
        for c in &def.constants {
            out.push_str(&format!(
                "      const {} {} = {};\n",
                idl_primitive(c.ty),
                c.name,
                scalar_literal(&c.value)
            ));
        }
        out.push_str("    };\n");
    }
    out.push_str(&format!("    struct {name} {{\n"));
    if def.fields.is_empty() {
        out.push_str("      uint8 structure_needs_at_least_one_member;\n");
    }
    for f in &def.fields {
        let element = match &f.base {
            BaseType::Primitive(p) => idl_primitive(*p),
            BaseType::Message(full) => full.replace('/', "::"),
        };
        if let Some(d) = &f.default {
            let value = match d {
                Value::Array(items) => quote(&format!(
                    "({}{})",
                    items
                        .iter()
                        .map(python_literal)
                        .collect::<Vec<_>>()
                        .join(", "),
                    if items.len() == 1 { "," } else { "" }
                )),
                other => scalar_literal(other),
            };
            out.push_str(&format!("      @default (value={value})\n"));
        }
        let line = match f.array {
            ArrayKind::Scalar => format!("{element} {}", f.name),
            ArrayKind::Fixed(n) => format!("{element} {}[{n}]", f.name),
            ArrayKind::Bounded(n) => format!("sequence<{element}, {n}> {}", f.name),
            ArrayKind::Unbounded => format!("sequence<{element}> {}", f.name),
        };
        out.push_str(&format!("      {line};\n"));
    }
    out.push_str("    };\n  };\n};\n");
    out
}

fn idl_primitive(p: Primitive) -> String {
    match p {
        Primitive::Bool => "boolean".into(),
        Primitive::Byte => "octet".into(),
        // rosidl maps .msg `char` to IDL uint8.
        Primitive::Char | Primitive::Uint8 => "uint8".into(),
        Primitive::Float32 => "float".into(),
        Primitive::Float64 => "double".into(),
        Primitive::Int8 => "int8".into(),
        Primitive::Int16 => "int16".into(),
        Primitive::Uint16 => "uint16".into(),
        Primitive::Int32 => "int32".into(),
        Primitive::Uint32 => "uint32".into(),
        Primitive::Int64 => "int64".into(),
        Primitive::Uint64 => "uint64".into(),
        Primitive::String(None) => "string".into(),
        Primitive::String(Some(n)) => format!("string<{n}>"),
        Primitive::WString(None) => "wstring".into(),
        Primitive::WString(Some(n)) => format!("wstring<{n}>"),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar_literal(v: &Value) -> String {
    match v {
        Value::Bool(true) => "TRUE".into(),
        Value::Bool(false) => "FALSE".into(),
        Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

/// An element of rosidl's Python-tuple array defaults.
fn python_literal(v: &Value) -> String {
    match v {
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        other => other.to_string(),
    }
}
