//! Parameter values ⇄ the protocol's JSON (`value` plus the `type` hint).
//!
//! The hint exists because JSON cannot tell `1.0` from `1`: doubles are sent with `float64` (or
//! `float64_array`) and bytes as base64 with `byte_array`, and the same hints are honoured on
//! input. Without a hint a whole number becomes an integer, except when the parameter is known
//! to be a double: ROS refuses to change a parameter's type, and the Foxglove app sends `1` for
//! `1.0`, so the known type wins.

use base64::Engine;
use serde_json::Value;

use crate::protocol::server::ParameterOut;
use crate::ros::ParamValue;

/// A viewer's parameter value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// An unknown `type` hint.
    #[error("unknown type hint {0:?} (expected byte_array, float64 or float64_array)")]
    UnknownHint(String),
    /// The value does not fit its hint.
    #[error("value does not fit type hint {hint}: {reason}")]
    HintMismatch {
        /// The hint.
        hint: &'static str,
        /// Why.
        reason: String,
    },
    /// A JSON value ROS parameters cannot hold (objects, null, nested or mixed arrays).
    #[error("not a ROS parameter value: {0}")]
    Unrepresentable(String),
}

/// The protocol form of one parameter.
pub fn to_wire(name: String, value: Option<&ParamValue>) -> ParameterOut {
    let Some(value) = value else {
        return ParameterOut {
            name,
            value: None,
            type_hint: None,
        };
    };
    let (value, type_hint) = match value {
        ParamValue::Bool(b) => (Value::from(*b), None),
        ParamValue::Integer(i) => (Value::from(*i), None),
        ParamValue::Double(d) => (Value::from(*d), Some("float64")),
        ParamValue::String(s) => (Value::from(s.as_str()), None),
        ParamValue::ByteArray(b) => (
            Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
            Some("byte_array"),
        ),
        ParamValue::BoolArray(v) => (Value::from(v.clone()), None),
        ParamValue::IntegerArray(v) => (Value::from(v.clone()), None),
        ParamValue::DoubleArray(v) => (Value::from(v.clone()), Some("float64_array")),
        ParamValue::StringArray(v) => (Value::from(v.clone()), None),
    };
    ParameterOut {
        name,
        value: Some(value),
        type_hint,
    }
}

fn mismatch(hint: &'static str, reason: &str) -> ValueError {
    ValueError::HintMismatch {
        hint,
        reason: reason.to_string(),
    }
}

/// A viewer's value with its optional hint; `current` is the parameter's known value, if any.
pub fn from_wire(
    value: &Value,
    hint: Option<&str>,
    current: Option<&ParamValue>,
) -> Result<ParamValue, ValueError> {
    match hint {
        Some("float64") => value
            .as_f64()
            .map(ParamValue::Double)
            .ok_or_else(|| mismatch("float64", "expected a number")),
        Some("float64_array") => {
            let a = value
                .as_array()
                .ok_or_else(|| mismatch("float64_array", "expected an array"))?;
            a.iter()
                .map(Value::as_f64)
                .collect::<Option<Vec<f64>>>()
                .map(ParamValue::DoubleArray)
                .ok_or_else(|| mismatch("float64_array", "expected numbers"))
        }
        Some("byte_array") => {
            let s = value
                .as_str()
                .ok_or_else(|| mismatch("byte_array", "expected a base64 string"))?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(ParamValue::ByteArray)
                .map_err(|e| mismatch("byte_array", &e.to_string()))
        }
        Some(other) => Err(ValueError::UnknownHint(other.to_string())),
        None => untyped(value, current),
    }
}

fn untyped(value: &Value, current: Option<&ParamValue>) -> Result<ParamValue, ValueError> {
    let wants_double = matches!(current, Some(ParamValue::Double(_)));
    let wants_doubles = matches!(current, Some(ParamValue::DoubleArray(_)));
    match value {
        Value::Bool(b) => Ok(ParamValue::Bool(*b)),
        Value::String(s) => Ok(ParamValue::String(s.clone())),
        Value::Number(n) => match n.as_i64() {
            Some(i) if !wants_double => Ok(ParamValue::Integer(i)),
            _ => n
                .as_f64()
                .map(ParamValue::Double)
                .ok_or_else(|| ValueError::Unrepresentable(n.to_string())),
        },
        Value::Array(a) => array(a, current, wants_doubles),
        Value::Null => Err(ValueError::Unrepresentable("null".into())),
        Value::Object(_) => Err(ValueError::Unrepresentable("an object".into())),
    }
}

fn array(
    a: &[Value],
    current: Option<&ParamValue>,
    wants_doubles: bool,
) -> Result<ParamValue, ValueError> {
    if a.is_empty() {
        // An empty array has no element type of its own: keep the parameter's.
        return Ok(match current {
            Some(ParamValue::BoolArray(_)) => ParamValue::BoolArray(Vec::new()),
            Some(ParamValue::DoubleArray(_)) => ParamValue::DoubleArray(Vec::new()),
            Some(ParamValue::StringArray(_)) => ParamValue::StringArray(Vec::new()),
            Some(ParamValue::ByteArray(_)) => ParamValue::ByteArray(Vec::new()),
            _ => ParamValue::IntegerArray(Vec::new()),
        });
    }
    if let Some(v) = a.iter().map(Value::as_bool).collect::<Option<Vec<_>>>() {
        return Ok(ParamValue::BoolArray(v));
    }
    if let Some(v) = a
        .iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
    {
        return Ok(ParamValue::StringArray(v));
    }
    if !wants_doubles {
        if let Some(v) = a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>() {
            return Ok(ParamValue::IntegerArray(v));
        }
    }
    // Mixed integers and floats become doubles, as in the SDK.
    a.iter()
        .map(Value::as_f64)
        .collect::<Option<Vec<_>>>()
        .map(ParamValue::DoubleArray)
        .ok_or_else(|| ValueError::Unrepresentable("an array mixing types".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(v: ParamValue) -> String {
        serde_json::to_string(&to_wire("/n.p".into(), Some(&v))).unwrap()
    }

    #[test]
    fn values_carry_hints_where_json_is_ambiguous() {
        assert_eq!(
            wire(ParamValue::Double(1.0)),
            r#"{"name":"/n.p","value":1.0,"type":"float64"}"#
        );
        assert_eq!(wire(ParamValue::Integer(1)), r#"{"name":"/n.p","value":1}"#);
        assert_eq!(
            wire(ParamValue::ByteArray(vec![1, 2, 255])),
            r#"{"name":"/n.p","value":"AQL/","type":"byte_array"}"#
        );
        assert_eq!(
            wire(ParamValue::DoubleArray(vec![1.0, 2.5])),
            r#"{"name":"/n.p","value":[1.0,2.5],"type":"float64_array"}"#
        );
        assert_eq!(
            serde_json::to_string(&to_wire("/n.p".into(), None)).unwrap(),
            r#"{"name":"/n.p"}"#
        );
    }

    #[test]
    fn hints_are_honoured() {
        assert_eq!(
            from_wire(&json!(1), Some("float64"), None),
            Ok(ParamValue::Double(1.0))
        );
        assert_eq!(
            from_wire(&json!([1, 2]), Some("float64_array"), None),
            Ok(ParamValue::DoubleArray(vec![1.0, 2.0]))
        );
        assert_eq!(
            from_wire(&json!("AQL/"), Some("byte_array"), None),
            Ok(ParamValue::ByteArray(vec![1, 2, 255]))
        );
        assert!(from_wire(&json!("x"), Some("float64"), None).is_err());
        assert!(from_wire(&json!("!!"), Some("byte_array"), None).is_err());
        assert!(matches!(
            from_wire(&json!(1), Some("int"), None),
            Err(ValueError::UnknownHint(_))
        ));
    }

    #[test]
    fn untyped_values_follow_json_and_the_known_type() {
        assert_eq!(from_wire(&json!(3), None, None), Ok(ParamValue::Integer(3)));
        assert_eq!(
            from_wire(&json!(3.5), None, None),
            Ok(ParamValue::Double(3.5))
        );
        let d = ParamValue::Double(0.5);
        assert_eq!(
            from_wire(&json!(3), None, Some(&d)),
            Ok(ParamValue::Double(3.0))
        );
        assert_eq!(
            from_wire(&json!([1, 2.5]), None, None),
            Ok(ParamValue::DoubleArray(vec![1.0, 2.5]))
        );
        assert_eq!(
            from_wire(&json!([1, 2]), None, Some(&ParamValue::DoubleArray(vec![]))),
            Ok(ParamValue::DoubleArray(vec![1.0, 2.0]))
        );
        assert_eq!(
            from_wire(&json!([]), None, Some(&ParamValue::StringArray(vec![]))),
            Ok(ParamValue::StringArray(vec![]))
        );
        assert_eq!(
            from_wire(&json!(["a", "b"]), None, None),
            Ok(ParamValue::StringArray(vec!["a".into(), "b".into()]))
        );
        assert!(from_wire(&json!([1, "a"]), None, None).is_err());
        assert!(from_wire(&json!({"a": 1}), None, None).is_err());
        assert!(from_wire(&json!(null), None, None).is_err());
    }
}
