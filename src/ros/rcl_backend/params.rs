//! Parameters as ROS represents them (`rcl_interfaces/msg/ParameterValue` in the JSON shape of
//! our codec), and the gateway's own parameters served back read-only.
//!
//! foxglove_bridge declares its parameters read-only and reads them once; so do we. The node
//! serves the six standard parameter services (`~/get_parameters`, `~/list_parameters`,
//! `~/describe_parameters`, `~/get_parameter_types`, `~/set_parameters`,
//! `~/set_parameters_atomically`), so `ros2 param get/list/describe/dump /foxglove_gateway`
//! work and `ros2 param set` says why it cannot. `device_token` is never served: a token given
//! with `-p` must not be readable by every node on the graph.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::config::ParamValue;

/// The parameter values the node serves. Cloneable; `main` may update a value the gateway only
/// learns later (the real `port` after binding port 0, as foxglove_bridge does).
#[derive(Clone, Debug)]
pub struct ParamsHandle {
    values: Arc<Mutex<BTreeMap<String, ParamValue>>>,
}

/// Never served, whatever the configuration holds.
const SECRET: &str = "device_token";

impl ParamsHandle {
    pub(super) fn new(mut values: BTreeMap<String, ParamValue>) -> Self {
        values.remove(SECRET);
        ParamsHandle {
            values: Arc::new(Mutex::new(values)),
        }
    }

    /// Change the value served for `name` (e.g. `port` once the listener is bound).
    pub fn set(&self, name: &str, value: ParamValue) {
        if name != SECRET {
            self.values.lock().insert(name.to_string(), value);
        }
    }

    /// The value served for `name`.
    pub fn get(&self, name: &str) -> Option<ParamValue> {
        self.values.lock().get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.values.lock().keys().cloned().collect()
    }
}

/// The six parameter services, by their name relative to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParamService {
    Get,
    List,
    Describe,
    GetTypes,
    Set,
    SetAtomically,
}

impl ParamService {
    pub(super) const ALL: [ParamService; 6] = [
        ParamService::Get,
        ParamService::List,
        ParamService::Describe,
        ParamService::GetTypes,
        ParamService::Set,
        ParamService::SetAtomically,
    ];

    /// `(service name suffix, type)`.
    pub(super) fn name_and_type(self) -> (&'static str, &'static str) {
        match self {
            ParamService::Get => ("get_parameters", "rcl_interfaces/srv/GetParameters"),
            ParamService::List => ("list_parameters", "rcl_interfaces/srv/ListParameters"),
            ParamService::Describe => (
                "describe_parameters",
                "rcl_interfaces/srv/DescribeParameters",
            ),
            ParamService::GetTypes => (
                "get_parameter_types",
                "rcl_interfaces/srv/GetParameterTypes",
            ),
            ParamService::Set => ("set_parameters", "rcl_interfaces/srv/SetParameters"),
            ParamService::SetAtomically => (
                "set_parameters_atomically",
                "rcl_interfaces/srv/SetParametersAtomically",
            ),
        }
    }
}

const READ_ONLY: &str = "foxglove_gateway reads its parameters once at startup; restart it with \
                         the new value (launch argument, -p or params file)";

/// The response (JSON) to one request (JSON) of a parameter service.
pub(super) fn answer(handle: &ParamsHandle, service: ParamService, request: &Value) -> Value {
    let names = || -> Vec<String> {
        request
            .get("names")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    match service {
        ParamService::Get => {
            let values: Vec<Value> = names()
                .iter()
                .map(|n| to_json(handle.get(n).as_ref()))
                .collect();
            json!({ "values": values })
        }
        ParamService::GetTypes => {
            let types: Vec<u8> = names()
                .iter()
                .map(|n| handle.get(n).as_ref().map_or(NOT_SET, type_code))
                .collect();
            json!({ "types": types })
        }
        ParamService::Describe => {
            let descriptors: Vec<Value> = names()
                .iter()
                .map(|n| {
                    let ty = handle.get(n).as_ref().map_or(NOT_SET, type_code);
                    json!({ "name": n, "type": ty, "read_only": ty != NOT_SET })
                })
                .collect();
            json!({ "descriptors": descriptors })
        }
        ParamService::List => {
            let prefixes: Vec<String> = request
                .get("prefixes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let depth = request.get("depth").and_then(Value::as_u64).unwrap_or(0);
            let (names, prefixes) = list(&handle.names(), &prefixes, depth);
            json!({ "result": { "names": names, "prefixes": prefixes } })
        }
        ParamService::Set => {
            let n = request
                .get("parameters")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let results: Vec<Value> = (0..n)
                .map(|_| json!({ "successful": false, "reason": READ_ONLY }))
                .collect();
            json!({ "results": results })
        }
        ParamService::SetAtomically => {
            json!({ "result": { "successful": false, "reason": READ_ONLY } })
        }
    }
}

/// `list_parameters`: names under any of `prefixes` (all when empty) at most `depth` levels
/// below it (0 = any depth), and the dotted prefixes that occur among them, as rclcpp answers.
fn list(all: &[String], prefixes: &[String], depth: u64) -> (Vec<String>, Vec<String>) {
    let within = |name: &str| -> bool {
        let rest = if prefixes.is_empty() {
            Some(name)
        } else {
            prefixes
                .iter()
                .find_map(|p| name.strip_prefix(p.as_str())?.strip_prefix('.'))
        };
        match rest {
            None => false,
            Some(rest) => depth == 0 || (rest.matches('.').count() as u64) < depth,
        }
    };
    let names: Vec<String> = all.iter().filter(|n| within(n)).cloned().collect();
    let mut found: Vec<String> = names
        .iter()
        .filter_map(|n| n.rsplit_once('.').map(|(p, _)| p.to_string()))
        .collect();
    found.sort();
    found.dedup();
    (names, found)
}

// rcl_interfaces/msg/ParameterType.
const NOT_SET: u8 = 0;
const BOOL: u8 = 1;
const INTEGER: u8 = 2;
const DOUBLE: u8 = 3;
const STRING: u8 = 4;
const BYTE_ARRAY: u8 = 5;
const BOOL_ARRAY: u8 = 6;
const INTEGER_ARRAY: u8 = 7;
const DOUBLE_ARRAY: u8 = 8;
const STRING_ARRAY: u8 = 9;

fn type_code(v: &ParamValue) -> u8 {
    match v {
        ParamValue::Bool(_) => BOOL,
        ParamValue::Integer(_) => INTEGER,
        ParamValue::Double(_) => DOUBLE,
        ParamValue::String(_) => STRING,
        ParamValue::ByteArray(_) => BYTE_ARRAY,
        ParamValue::BoolArray(_) => BOOL_ARRAY,
        ParamValue::IntegerArray(_) => INTEGER_ARRAY,
        ParamValue::DoubleArray(_) => DOUBLE_ARRAY,
        ParamValue::StringArray(_) => STRING_ARRAY,
    }
}

/// A value as `rcl_interfaces/msg/ParameterValue` JSON (`None`: NOT_SET). Fields left out take
/// their defaults when encoded.
pub(super) fn to_json(v: Option<&ParamValue>) -> Value {
    let Some(v) = v else {
        return json!({ "type": NOT_SET });
    };
    let t = type_code(v);
    match v {
        ParamValue::Bool(b) => json!({ "type": t, "bool_value": b }),
        ParamValue::Integer(i) => json!({ "type": t, "integer_value": i }),
        ParamValue::Double(d) => {
            json!({ "type": t, "double_value": crate::cdr::float_to_json(*d) })
        }
        ParamValue::String(s) => json!({ "type": t, "string_value": s }),
        ParamValue::ByteArray(b) => json!({ "type": t, "byte_array_value": b }),
        ParamValue::BoolArray(b) => json!({ "type": t, "bool_array_value": b }),
        ParamValue::IntegerArray(i) => json!({ "type": t, "integer_array_value": i }),
        ParamValue::DoubleArray(d) => {
            let d: Vec<Value> = d.iter().map(|x| crate::cdr::float_to_json(*x)).collect();
            json!({ "type": t, "double_array_value": d })
        }
        ParamValue::StringArray(s) => json!({ "type": t, "string_array_value": s }),
    }
}

/// `rcl_interfaces/msg/ParameterValue` JSON (as our codec decodes it) → a value; `None` for
/// NOT_SET and anything malformed.
pub(super) fn from_json(v: &Value) -> Option<ParamValue> {
    let field = |name: &str| v.get(name);
    let array = |name: &str| field(name).and_then(Value::as_array);
    let float = |x: &Value| -> Option<f64> {
        x.as_f64().or_else(|| match x.as_str()? {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        })
    };
    Some(match u8::try_from(field("type")?.as_u64()?).ok()? {
        BOOL => ParamValue::Bool(field("bool_value")?.as_bool()?),
        INTEGER => ParamValue::Integer(field("integer_value")?.as_i64()?),
        DOUBLE => ParamValue::Double(float(field("double_value")?)?),
        STRING => ParamValue::String(field("string_value")?.as_str()?.to_string()),
        BYTE_ARRAY => ParamValue::ByteArray(
            array("byte_array_value")?
                .iter()
                .map(|x| x.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<_>>()?,
        ),
        BOOL_ARRAY => ParamValue::BoolArray(
            array("bool_array_value")?
                .iter()
                .map(Value::as_bool)
                .collect::<Option<_>>()?,
        ),
        INTEGER_ARRAY => ParamValue::IntegerArray(
            array("integer_array_value")?
                .iter()
                .map(Value::as_i64)
                .collect::<Option<_>>()?,
        ),
        DOUBLE_ARRAY => ParamValue::DoubleArray(
            array("double_array_value")?
                .iter()
                .map(float)
                .collect::<Option<_>>()?,
        ),
        STRING_ARRAY => ParamValue::StringArray(
            array("string_array_value")?
                .iter()
                .map(|x| x.as_str().map(String::from))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> ParamsHandle {
        ParamsHandle::new(
            [
                ("port".to_string(), ParamValue::Integer(8765)),
                ("address".to_string(), ParamValue::String("0.0.0.0".into())),
                (
                    "device_token".to_string(),
                    ParamValue::String("s3cret".into()),
                ),
                ("a.b.c".to_string(), ParamValue::Bool(true)),
            ]
            .into(),
        )
    }

    #[test]
    fn values_round_trip_through_json() {
        for v in [
            ParamValue::Bool(true),
            ParamValue::Integer(-3),
            ParamValue::Double(0.5),
            ParamValue::String("s".into()),
            ParamValue::ByteArray(vec![1, 2]),
            ParamValue::BoolArray(vec![false]),
            ParamValue::IntegerArray(vec![1, 2]),
            ParamValue::DoubleArray(vec![1.5, f64::INFINITY]),
            ParamValue::StringArray(vec!["(?!)".into()]),
        ] {
            assert_eq!(from_json(&to_json(Some(&v))), Some(v));
        }
        assert_eq!(from_json(&to_json(None)), None);
        assert_eq!(from_json(&json!({"type": 2})), None, "malformed");
    }

    #[test]
    fn the_token_is_never_served() {
        let h = handle();
        assert_eq!(h.get("device_token"), None);
        h.set("device_token", ParamValue::String("x".into()));
        assert_eq!(h.get("device_token"), None);
        let r = answer(&h, ParamService::List, &json!({"prefixes": [], "depth": 0}));
        assert!(!r.to_string().contains("device_token"));
        let r = answer(
            &h,
            ParamService::Get,
            &json!({"names": ["device_token", "port"]}),
        );
        assert_eq!(r["values"][0]["type"], 0);
        assert_eq!(r["values"][1]["integer_value"], 8765);
    }

    #[test]
    fn sets_are_refused_with_the_reason() {
        let h = handle();
        let r = answer(&h, ParamService::Set, &json!({"parameters": [{}, {}]}));
        assert_eq!(r["results"].as_array().unwrap().len(), 2);
        assert_eq!(r["results"][0]["successful"], false);
        assert!(r["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("restart"));
        let r = answer(&h, ParamService::SetAtomically, &json!({}));
        assert_eq!(r["result"]["successful"], false);
    }

    #[test]
    fn listing_follows_prefixes_and_depth() {
        let all: Vec<String> = ["a.b.c", "a.x", "port"].map(String::from).to_vec();
        let (names, prefixes) = list(&all, &[], 0);
        assert_eq!(names, all);
        assert_eq!(prefixes, ["a", "a.b"]);
        let (names, _) = list(&all, &["a".into()], 1);
        assert_eq!(names, ["a.x"]);
        let (names, _) = list(&all, &["a".into()], 0);
        assert_eq!(names, ["a.b.c", "a.x"]);
        let (names, _) = list(&all, &[], 1);
        assert_eq!(names, ["port"]);
    }

    #[test]
    fn describe_and_types() {
        let h = handle();
        let r = answer(
            &h,
            ParamService::Describe,
            &json!({"names": ["port", "nope"]}),
        );
        assert_eq!(r["descriptors"][0]["type"], INTEGER);
        assert_eq!(r["descriptors"][0]["read_only"], true);
        assert_eq!(r["descriptors"][1]["type"], NOT_SET);
        let r = answer(&h, ParamService::GetTypes, &json!({"names": ["address"]}));
        assert_eq!(r["types"][0], STRING);
    }
}
