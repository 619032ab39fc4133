//! Type and value names for error messages, spelled as they appear in `.msg` files.

use std::fmt::Write as _;

use serde_json::Value;

use crate::schema::{ArrayKind, BaseType, Field, Primitive};

/// `float64`, `string<=22`, `wstring` (the schema's own spelling).
pub(crate) fn primitive_name(p: Primitive) -> String {
    p.to_string()
}

/// The element type: a primitive's name or the message's full name.
pub(crate) fn base_name(base: &BaseType) -> String {
    match base {
        BaseType::Primitive(p) => primitive_name(*p),
        BaseType::Message(m) => m.clone(),
    }
}

/// The whole field type: `string[<=4]`, `int32[3]`, `geometry_msgs/msg/Pose[]`.
pub(crate) fn field_type_name(field: &Field) -> String {
    let mut s = base_name(&field.base);
    // Writing to a String cannot fail.
    let _ = match field.array {
        ArrayKind::Scalar => Ok(()),
        ArrayKind::Fixed(n) => write!(s, "[{n}]"),
        ArrayKind::Bounded(n) => write!(s, "[<={n}]"),
        ArrayKind::Unbounded => write!(s, "[]"),
    };
    s
}

/// `string "fast"`, `number 1.5`, `object`, ... for "expected X, got Y". Long strings are cut
/// so a megabyte of JSON does not end up in a log line.
pub(crate) fn describe_value(v: &Value) -> String {
    const MAX: usize = 40;
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            if s.chars().count() > MAX {
                let cut: String = s.chars().take(MAX).collect();
                format!("string {cut:?}...")
            } else {
                format!("string {s:?}")
            }
        }
        Value::Array(a) => format!("array of {} elements", a.len()),
        Value::Object(_) => "object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let f = Field {
            name: "names".into(),
            base: BaseType::Primitive(Primitive::String(Some(8))),
            array: ArrayKind::Bounded(4),
            default: None,
        };
        assert_eq!(field_type_name(&f), "string<=8[<=4]");
        let f = Field {
            name: "p".into(),
            base: BaseType::Message("geometry_msgs/msg/Pose".into()),
            array: ArrayKind::Fixed(3),
            default: None,
        };
        assert_eq!(field_type_name(&f), "geometry_msgs/msg/Pose[3]");
        assert_eq!(describe_value(&Value::from("fast")), "string \"fast\"");
        assert_eq!(describe_value(&Value::from(1.5)), "number 1.5");
        let long = describe_value(&Value::from("x".repeat(100)));
        assert!(long.len() < 60 && long.ends_with("..."), "{long}");
    }
}
