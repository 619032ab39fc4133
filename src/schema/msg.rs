//! The `.msg` parser (and `.srv`/`.action`, which are `.msg` sections split at `---`).
//!
//! Follows rosidl_adapter's `parse_message_string`: one field or constant per line, `#` starts a
//! comment (except inside a quoted literal), `TYPE NAME [DEFAULT]` for fields and
//! `TYPE NAME=VALUE` for constants. Types may be primitives, `string<=N`, other messages as
//! `pkg/Type`, `pkg/msg/Type` or bare `Type` (the current package; `Header` is not special in
//! ROS 2), each optionally followed by `[]`, `[N]` or `[<=N]`.

use serde_json::Value;

use super::literal::{comment_start, parse_array, parse_primitive};
use super::names::{valid_constant_name, valid_field_name, valid_package_name, valid_type_name};
use super::types::{ArrayKind, BaseType, Constant, Field, MessageDefinition, Primitive};
use super::SchemaError;

/// A reference to another type, as written in a field and as normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DepRef {
    /// As written: `Point`, `geometry_msgs/Point` or `geometry_msgs/msg/Point`.
    pub raw: String,
    /// Normalised: `geometry_msgs/msg/Point`.
    pub full: String,
}

/// A parsed definition and the types its fields refer to (in field order, repeats kept).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedMsg {
    /// The definition.
    pub def: MessageDefinition,
    /// Field types that are messages.
    pub deps: Vec<DepRef>,
}

/// Parse one `.msg` text (or one section of a `.srv`/`.action`).
///
/// `full_name` names the result, `package` resolves bare type names, and `first_line` is the
/// 1-based file line of the text's first line so errors point into the original file.
pub(crate) fn parse_msg(
    full_name: &str,
    package: &str,
    text: &str,
    first_line: usize,
) -> Result<ParsedMsg, SchemaError> {
    let mut def = MessageDefinition {
        name: full_name.to_string(),
        ..Default::default()
    };
    let mut deps = Vec::new();
    for (i, raw_line) in text.split('\n').enumerate() {
        let line_no = first_line + i;
        let err = |message: String| SchemaError::Parse {
            name: full_name.to_string(),
            line: line_no,
            message,
        };
        let line = raw_line
            .strip_suffix('\r')
            .unwrap_or(raw_line)
            .replace('\t', " ");
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (type_str, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim_start();
        let name_end = rest.find([' ', '=', '#']).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        let after = after.trim_start();
        if name.is_empty() {
            return Err(err(format!("expected a name after the type {type_str:?}")));
        }
        let (base, array, raw_complex) = parse_field_type(type_str, package).map_err(&err)?;

        if let Some(value_region) = after.strip_prefix('=') {
            // A constant: the value is the rest of the line up to an unquoted comment, so
            // string constants keep their inner spaces.
            let value_text = strip_comment(value_region).trim();
            let BaseType::Primitive(ty) = base else {
                return Err(err(format!("constant {name} must have a primitive type")));
            };
            if array != ArrayKind::Scalar {
                return Err(err(format!("constant {name} cannot be an array")));
            }
            if !valid_constant_name(name) {
                return Err(err(format!(
                    "invalid constant name {name:?}: use UPPER_SNAKE_CASE"
                )));
            }
            if value_text.is_empty() {
                return Err(err(format!("constant {name} has no value")));
            }
            let value = parse_primitive(ty, value_text)
                .map_err(|m| err(format!("constant {name}: {m}")))?;
            if def.constants.iter().any(|c| c.name == name) {
                return Err(err(format!("duplicate constant {name}")));
            }
            def.constants.push(Constant {
                name: name.to_string(),
                ty,
                value,
            });
            continue;
        }

        if !valid_field_name(name) {
            return Err(err(format!(
                "invalid field name {name:?}: use lower_snake_case (no __, no trailing _)"
            )));
        }
        if def.fields.iter().any(|f| f.name == name) {
            return Err(err(format!("duplicate field {name}")));
        }
        let default_text = strip_comment(after).trim();
        let default = if default_text.is_empty() {
            None
        } else {
            let BaseType::Primitive(ty) = base else {
                return Err(err(format!(
                    "field {name}: only primitive fields can have a default value"
                )));
            };
            Some(
                parse_default(ty, array, default_text)
                    .map_err(|m| err(format!("field {name}: {m}")))?,
            )
        };
        if let (BaseType::Message(full), Some(raw)) = (&base, raw_complex) {
            deps.push(DepRef {
                raw,
                full: full.clone(),
            });
        }
        def.fields.push(Field {
            name: name.to_string(),
            base,
            array,
            default,
        });
    }
    Ok(ParsedMsg { def, deps })
}

fn strip_comment(region: &str) -> &str {
    match comment_start(region) {
        Some(i) => &region[..i],
        None => region,
    }
}

fn parse_default(ty: Primitive, array: ArrayKind, text: &str) -> Result<Value, String> {
    if array == ArrayKind::Scalar {
        return parse_primitive(ty, text);
    }
    let items = parse_array(ty, text)?;
    match array {
        ArrayKind::Fixed(n) if items.len() != n as usize => Err(format!(
            "default has {} elements, the array has exactly {n}",
            items.len()
        )),
        ArrayKind::Bounded(n) if items.len() > n as usize => Err(format!(
            "default has {} elements, the sequence holds at most {n}",
            items.len()
        )),
        _ => Ok(Value::Array(items)),
    }
}

/// Parse a field type such as `string<=10[<=3]` or `geometry_msgs/Point[]`.
///
/// Returns the element type, the array shape, and for message types the name as written.
pub(crate) fn parse_field_type(
    s: &str,
    package: &str,
) -> Result<(BaseType, ArrayKind, Option<String>), String> {
    let (element, array) = match s.strip_suffix(']') {
        None => (s, ArrayKind::Scalar),
        Some(open) => {
            let idx = open
                .rfind('[')
                .ok_or_else(|| format!("invalid type {s:?}: unmatched ]"))?;
            let (element, bound) = (&open[..idx], &open[idx + 1..]);
            let array = if bound.is_empty() {
                ArrayKind::Unbounded
            } else if let Some(n) = bound.strip_prefix("<=") {
                ArrayKind::Bounded(
                    positive(n).ok_or_else(|| format!("invalid sequence bound in {s:?}"))?,
                )
            } else {
                ArrayKind::Fixed(
                    positive(bound).ok_or_else(|| format!("invalid array size in {s:?}"))?,
                )
            };
            (element, array)
        }
    };
    if element.contains(['[', ']']) {
        return Err(format!("invalid type {s:?}: nested arrays are not allowed"));
    }
    let (base_name, string_bound) = match element.split_once("<=") {
        Some((b, n)) => (
            b,
            Some(positive(n).ok_or_else(|| format!("invalid string bound in {s:?}"))?),
        ),
        None => (element, None),
    };
    if let Some(p) = primitive(base_name, string_bound) {
        return Ok((BaseType::Primitive(p), array, None));
    }
    if string_bound.is_some() {
        return Err(format!(
            "invalid type {s:?}: only string and wstring take a <=N bound"
        ));
    }
    let full = complex_full_name(base_name, package).ok_or_else(|| {
        format!("invalid type {base_name:?}: expected a primitive, pkg/Type or Type")
    })?;
    Ok((BaseType::Message(full), array, Some(base_name.to_string())))
}

/// `pkg/Type`, `pkg/msg/Type` (also `pkg/srv/...`, `pkg/action/...`), or bare `Type` in
/// `package`, normalised to `pkg/kind/Type`.
pub(crate) fn complex_full_name(s: &str, package: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('/').collect();
    let (pkg, kind, name) = match parts.as_slice() {
        [n] => (package, "msg", *n),
        [p, n] => (*p, "msg", *n),
        [p, k, n] if matches!(*k, "msg" | "srv" | "action") => (*p, *k, *n),
        _ => return None,
    };
    (valid_package_name(pkg) && valid_type_name(name)).then(|| format!("{pkg}/{kind}/{name}"))
}

fn positive(s: &str) -> Option<u32> {
    // Digits only: `u32::from_str` would also take a leading `+`.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| *n > 0)
}

/// The primitive named `s`, if it is one (`string`/`wstring` take the optional bound).
pub(crate) fn primitive(s: &str, string_bound: Option<u32>) -> Option<Primitive> {
    let p = match s {
        "string" => return Some(Primitive::String(string_bound)),
        "wstring" => return Some(Primitive::WString(string_bound)),
        _ if string_bound.is_some() => return None,
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
        _ => return None,
    };
    Some(p)
}

/// Split a `.srv` (2 sections) or `.action` (3 sections) text at lines that are exactly `---`.
///
/// Returns each section with the 1-based line number of its first line, or `None` when the
/// number of separators is wrong.
pub(crate) fn split_sections(text: &str, sections: usize) -> Option<Vec<(usize, String)>> {
    let mut out = vec![(1usize, String::new())];
    // `split_inclusive` keeps each line's `\n`, so a section's text is exactly its file lines.
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim() == "---" {
            out.push((i + 2, String::new()));
        } else if let Some((_, current)) = out.last_mut() {
            current.push_str(line);
        }
    }
    (out.len() == sections).then_some(out)
}

#[cfg(test)]
#[path = "msg_tests.rs"]
mod tests;
