//! `--params-file` without ROS: the YAML `ros__parameters` layout that `ros2 run --params-file`
//! and launch's `<param from="..."/>` use.
//!
//! ```yaml
//! /**:                      # or **, foxglove_gateway, /foxglove_gateway
//!   ros__parameters:
//!     port: 8765
//!     topic_whitelist: ['.*']
//! ```
//!
//! Node keys are matched the way rcl-based nodes match them: `/**`, `**`, the node's name or its
//! fully qualified name; nothing else. Later sections override earlier ones. Nested mappings
//! under `ros__parameters` become dotted names (`a: {b: 1}` is `a.b`), as in ROS.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use super::{ConfigError, ParamValue};

/// Read the parameters for `node_name` from a params file.
pub fn load_params_file(
    path: &Path,
    node_name: &str,
) -> Result<BTreeMap<String, ParamValue>, ConfigError> {
    let err = |reason: String| ConfigError::ParamsFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    parse_params_yaml(&text, node_name).map_err(err)
}

/// The parsing half of [`load_params_file`]; errors are plain reasons, the caller adds the path.
pub(crate) fn parse_params_yaml(
    text: &str,
    node_name: &str,
) -> Result<BTreeMap<String, ParamValue>, String> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    let top = match doc {
        Value::Mapping(m) => m,
        // An empty file is an empty set of parameters, as in rcl.
        Value::Null => return Ok(out),
        _ => return Err("expected a mapping of node names at the top level".into()),
    };
    let short = node_name.trim_start_matches('/');
    for (key, section) in top {
        let key = match key {
            Value::String(s) => s,
            other => return Err(format!("node key {other:?} is not a string")),
        };
        let matches = key == "/**" || key == "**" || key.trim_start_matches('/') == short;
        if !matches {
            continue;
        }
        let Value::Mapping(section) = section else {
            return Err(format!("{key}: expected a mapping with ros__parameters"));
        };
        let Some(params) = section.get("ros__parameters") else {
            continue;
        };
        match params {
            Value::Mapping(m) => flatten(m, "", &mut out)?,
            Value::Null => {}
            _ => return Err(format!("{key}.ros__parameters: expected a mapping")),
        }
    }
    Ok(out)
}

fn flatten(
    m: &serde_yaml::Mapping,
    prefix: &str,
    out: &mut BTreeMap<String, ParamValue>,
) -> Result<(), String> {
    for (k, v) in m {
        let k = match k {
            Value::String(s) => s.clone(),
            other => return Err(format!("parameter name {other:?} is not a string")),
        };
        let name = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        if let Value::Mapping(inner) = v {
            flatten(inner, &name, out)?;
        } else {
            let value = to_param(v).map_err(|reason| format!("parameter {name}: {reason}"))?;
            out.insert(name, value);
        }
    }
    Ok(())
}

fn to_param(v: &Value) -> Result<ParamValue, String> {
    Ok(match v {
        Value::Bool(b) => ParamValue::Bool(*b),
        Value::Number(n) => number(n)?,
        Value::String(s) => ParamValue::String(s.clone()),
        Value::Sequence(items) => sequence(items)?,
        Value::Tagged(t) => to_param(&t.value)?,
        Value::Null => return Err("has no value".into()),
        Value::Mapping(_) => return Err("unexpected mapping".into()),
    })
}

fn number(n: &serde_yaml::Number) -> Result<ParamValue, String> {
    if let Some(i) = n.as_i64() {
        Ok(ParamValue::Integer(i))
    } else if n.is_f64() {
        Ok(ParamValue::Double(n.as_f64().unwrap_or(f64::NAN)))
    } else {
        Err(format!("{n} does not fit in a 64-bit integer"))
    }
}

/// A YAML list becomes the array type all its items share. An empty list is taken as a string
/// array: the only list parameters the gateway has are string lists.
fn sequence(items: &[Value]) -> Result<ParamValue, String> {
    if items.iter().all(|v| matches!(v, Value::String(_))) {
        return Ok(ParamValue::StringArray(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ));
    }
    if let Some(bools) = items.iter().map(Value::as_bool).collect::<Option<Vec<_>>>() {
        return Ok(ParamValue::BoolArray(bools));
    }
    if let Some(ints) = items.iter().map(Value::as_i64).collect::<Option<Vec<_>>>() {
        return Ok(ParamValue::IntegerArray(ints));
    }
    if let Some(doubles) = items.iter().map(Value::as_f64).collect::<Option<Vec<_>>>() {
        return Ok(ParamValue::DoubleArray(doubles));
    }
    Err("a list must hold only strings, only bools, or only numbers".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BTreeMap<String, ParamValue> {
        parse_params_yaml(text, "foxglove_gateway").unwrap()
    }

    #[test]
    fn scalars_and_arrays() {
        let p = parse(
            "/**:\n  ros__parameters:\n    port: 9000\n    address: 127.0.0.1\n    debug: true\n    \
             ratio: 0.5\n    topic_whitelist: ['(?!)']\n    ints: [1, 2]\n    doubles: [1, 2.5]\n    \
             bools: [true, false]\n    empty: []\n    nested:\n      inner: x\n",
        );
        assert_eq!(p["port"], ParamValue::Integer(9000));
        assert_eq!(p["address"], ParamValue::String("127.0.0.1".into()));
        assert_eq!(p["debug"], ParamValue::Bool(true));
        assert_eq!(p["ratio"], ParamValue::Double(0.5));
        assert_eq!(
            p["topic_whitelist"],
            ParamValue::StringArray(vec!["(?!)".into()])
        );
        assert_eq!(p["ints"], ParamValue::IntegerArray(vec![1, 2]));
        assert_eq!(p["doubles"], ParamValue::DoubleArray(vec![1.0, 2.5]));
        assert_eq!(p["bools"], ParamValue::BoolArray(vec![true, false]));
        assert_eq!(p["empty"], ParamValue::StringArray(vec![]));
        assert_eq!(p["nested.inner"], ParamValue::String("x".into()));
    }

    #[test]
    fn node_keys_and_override_order() {
        let p = parse(
            "/**:\n  ros__parameters:\n    port: 1\n    address: a\n\
             other_node:\n  ros__parameters:\n    port: 2\n\
             foxglove_gateway:\n  ros__parameters:\n    port: 3\n\
             /foxglove_gateway:\n  ros__parameters:\n    address: b\n\
             /ns/*:\n  ros__parameters:\n    port: 4\n",
        );
        assert_eq!(p["port"], ParamValue::Integer(3));
        assert_eq!(p["address"], ParamValue::String("b".into()));
        let p = parse("'**':\n  ros__parameters:\n    port: 7\n");
        assert_eq!(p["port"], ParamValue::Integer(7));
    }

    #[test]
    fn errors_are_reported() {
        for bad in [
            "- a list\n",
            "/**:\n  ros__parameters:\n    port:\n",
            "/**:\n  ros__parameters:\n    mixed: [1, a]\n",
            "/**:\n  ros__parameters: 5\n",
            "/**: [\n",
        ] {
            assert!(
                parse_params_yaml(bad, "foxglove_gateway").is_err(),
                "{bad:?}"
            );
        }
        assert!(parse("").is_empty());
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = load_params_file(Path::new("/nonexistent/x.yaml"), "n").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.yaml"), "{e}");
    }
}
