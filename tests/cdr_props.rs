//! Properties of the CDR codec through its public API: truncation at every byte is an error
//! and never a panic, random bytes and random JSON never panic, and encode → decode → encode
//! is the identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use foxglove_gateway::cdr::{cdr_to_json, json_to_cdr, CdrError};
use foxglove_gateway::schema::{
    ArrayKind, BaseType, Field, MessageDefinition, Primitive, ResolvedSchema, SchemaEncoding,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn field(ty: &str, name: &str) -> Field {
    let (elem, array) = match ty.find('[') {
        None => (ty, ArrayKind::Scalar),
        Some(i) => {
            let inner = &ty[i + 1..ty.len() - 1];
            let array = match inner.strip_prefix("<=") {
                _ if inner.is_empty() => ArrayKind::Unbounded,
                Some(n) => ArrayKind::Bounded(n.parse().unwrap()),
                None => ArrayKind::Fixed(inner.parse().unwrap()),
            };
            (&ty[..i], array)
        }
    };
    let p = match elem {
        "bool" => Primitive::Bool,
        "uint8" => Primitive::Uint8,
        "int8" => Primitive::Int8,
        "int16" => Primitive::Int16,
        "uint16" => Primitive::Uint16,
        "int32" => Primitive::Int32,
        "uint32" => Primitive::Uint32,
        "int64" => Primitive::Int64,
        "uint64" => Primitive::Uint64,
        "float32" => Primitive::Float32,
        "float64" => Primitive::Float64,
        "string" => Primitive::String(None),
        "string<=8" => Primitive::String(Some(8)),
        "wstring" => Primitive::WString(None),
        other => {
            return Field {
                name: name.into(),
                base: BaseType::Message(other.into()),
                array,
                default: None,
            }
        }
    };
    Field {
        name: name.into(),
        base: BaseType::Primitive(p),
        array,
        default: None,
    }
}

fn schema(defs: &[(&str, &[(&str, &str)])]) -> ResolvedSchema {
    let definitions: BTreeMap<_, _> = defs
        .iter()
        .map(|(name, fields)| {
            let def = MessageDefinition {
                name: (*name).into(),
                fields: fields.iter().map(|(t, n)| field(t, n)).collect(),
                constants: vec![],
            };
            ((*name).to_owned(), Arc::new(def))
        })
        .collect();
    ResolvedSchema {
        name: defs[0].0.into(),
        encoding: SchemaEncoding::Ros2Msg,
        text: String::new(),
        definitions,
    }
}

const ALL: &[(&str, &str)] = &[
    ("bool", "b"),
    ("uint8", "u8"),
    ("int8", "i8"),
    ("int16", "i16"),
    ("uint16", "u16"),
    ("int32", "i32"),
    ("uint32", "u32"),
    ("int64", "i64"),
    ("uint64", "u64"),
    ("float32", "f32"),
    ("float64", "f64"),
    ("string", "s"),
    ("wstring", "ws"),
    ("string<=8", "bs"),
    ("uint8[]", "bytes"),
    ("int64[<=3]", "longs"),
    ("float32[2]", "pair"),
    ("t/msg/Inner[]", "inners"),
    ("t/msg/Empty", "e"),
    ("bool[<=2]", "flags"),
];
const INNER: &[(&str, &str)] = &[
    ("uint8", "a"),
    ("float64", "x"),
    ("string[]", "names"),
    ("t/msg/Empty[2]", "empties"),
];

fn all_schema() -> ResolvedSchema {
    schema(&[
        ("t/msg/All", ALL),
        ("t/msg/Inner", INNER),
        ("t/msg/Empty", &[]),
    ])
}

/// An Odometry look-alike: the nesting and sizes the demo robot publishes.
fn odometry_schema() -> ResolvedSchema {
    schema(&[
        (
            "nav_msgs/msg/Odometry",
            &[
                ("std_msgs/msg/Header", "header"),
                ("string", "child_frame_id"),
                ("geometry_msgs/msg/PoseWithCovariance", "pose"),
            ],
        ),
        (
            "std_msgs/msg/Header",
            &[
                ("builtin_interfaces/msg/Time", "stamp"),
                ("string", "frame_id"),
            ],
        ),
        (
            "builtin_interfaces/msg/Time",
            &[("int32", "sec"), ("uint32", "nanosec")],
        ),
        (
            "geometry_msgs/msg/PoseWithCovariance",
            &[
                ("geometry_msgs/msg/Point", "position"),
                ("float64[36]", "covariance"),
            ],
        ),
        (
            "geometry_msgs/msg/Point",
            &[("float64", "x"), ("float64", "y"), ("float64", "z")],
        ),
    ])
}

fn f64_json(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(v)
    }
}

fn inner_value() -> impl Strategy<Value = Value> {
    (
        any::<u8>(),
        any::<f64>(),
        prop::collection::vec(".{0,6}", 0..3),
    )
        .prop_map(
            |(a, x, names)| json!({"a": a, "x": f64_json(x), "names": names, "empties": [{}, {}]}),
        )
}

fn all_value() -> impl Strategy<Value = Value> {
    let ints = (
        any::<bool>(),
        any::<u8>(),
        any::<i8>(),
        any::<i16>(),
        any::<u16>(),
        any::<i32>(),
        any::<u32>(),
        any::<i64>(),
        any::<u64>(),
    );
    let rest = (
        any::<f32>(),
        any::<f64>(),
        ".{0,12}",
        ".{0,12}",
        "[a-z]{0,8}",
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec(any::<i64>(), 0..=3),
        (any::<f32>(), any::<f32>()),
        prop::collection::vec(inner_value(), 0..3),
        prop::collection::vec(any::<bool>(), 0..=2),
    );
    (ints, rest).prop_map(
        |(
            (b, u8_, i8_, i16_, u16_, i32_, u32_, i64_, u64_),
            (f32_, f64_, s, ws, bs, bytes, longs, pair, inners, flags),
        )| {
            json!({
                "b": b, "u8": u8_, "i8": i8_, "i16": i16_, "u16": u16_, "i32": i32_,
                "u32": u32_, "i64": i64_, "u64": u64_,
                "f32": f64_json(f64::from(f32_)), "f64": f64_json(f64_),
                "s": s, "ws": ws, "bs": bs, "bytes": bytes, "longs": longs,
                "pair": [f64_json(f64::from(pair.0)), f64_json(f64::from(pair.1))],
                "inners": inners, "e": {}, "flags": flags,
            })
        },
    )
}

/// JSON of any shape, with keys drawn from the field names so it reaches deep into the schema.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let names: Vec<&'static str> = ALL
        .iter()
        .chain(INNER)
        .map(|(_, n)| *n)
        .chain(["x", "unknown"])
        .collect();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
        ".{0,10}".prop_map(Value::from),
        prop_oneof![Just("NaN"), Just("AQID"), Just("-Infinity"), Just("1e400")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        let names = names.clone();
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(names), inner), 0..8).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_decode_encode_is_identity(v in all_value()) {
        let s = all_schema();
        let bytes = json_to_cdr(&s, &v).unwrap();
        let back = cdr_to_json(&s, &bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(json_to_cdr(&s, &back).unwrap(), bytes);
    }

    #[test]
    fn random_bytes_never_panic(
        le in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut data = vec![0, u8::from(le), 0, 0];
        data.extend_from_slice(&body);
        for s in [all_schema(), odometry_schema()] {
            let _ = cdr_to_json(&s, &data);
            let _ = cdr_to_json(&s, &body);
        }
    }

    #[test]
    fn random_json_never_panics(v in arbitrary_json()) {
        for s in [all_schema(), odometry_schema()] {
            if let Ok(bytes) = json_to_cdr(&s, &v) {
                // Whatever encodes must decode.
                prop_assert!(cdr_to_json(&s, &bytes).is_ok());
            }
        }
    }

    #[test]
    fn flipping_any_byte_never_panics(v in all_value(), at in any::<prop::sample::Index>(), x in 1u8..) {
        let s = all_schema();
        let mut bytes = json_to_cdr(&s, &v).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= x;
        let _ = cdr_to_json(&s, &bytes);
    }
}

fn rich_value() -> Value {
    json!({
        "b": true, "u8": 1, "i8": -2, "i16": 300, "u16": 4, "i32": -5, "u32": 6,
        "i64": i64::MIN, "u64": u64::MAX, "f32": 1.5, "f64": -0.25,
        "s": "héllo", "ws": "wörld 😀", "bs": "bounded", "bytes": [1, 2, 3],
        "longs": [1, -1], "pair": [0.5, -0.5],
        "inners": [
            {"a": 7, "x": 1.0, "names": ["a", "bc"]},
            {"a": 8, "x": 2.0, "names": []},
        ],
        "e": {}, "flags": [true],
    })
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    for (s, v) in [
        (all_schema(), rich_value()),
        (
            odometry_schema(),
            json!({"header": {"stamp": {"sec": 1, "nanosec": 2}, "frame_id": "odom"},
                   "child_frame_id": "base_link",
                   "pose": {"position": {"x": 1.0}, "covariance": vec![0.5; 36]}}),
        ),
    ] {
        let bytes = json_to_cdr(&s, &v).unwrap();
        assert_eq!(
            cdr_to_json(&s, &bytes).unwrap()["child_frame_id"],
            v["child_frame_id"]
        );
        for cut in 0..bytes.len() {
            match cdr_to_json(&s, &bytes[..cut]) {
                Err(CdrError::Truncated { .. }) => {}
                other => panic!("cut at {cut} of {}: {other:?}", bytes.len()),
            }
        }
    }
}

#[test]
fn truncation_errors_point_at_the_field() {
    let s = all_schema();
    let bytes = json_to_cdr(&s, &rich_value()).unwrap();
    let paths: Vec<String> = (0..bytes.len())
        .map(|cut| {
            cdr_to_json(&s, &bytes[..cut])
                .unwrap_err()
                .path()
                .to_string()
        })
        .collect();
    for expected in [
        "(message)",
        "b",
        "i64",
        "ws",
        "inners[1].names",
        "inners[0].names[1]",
        "inners[1].empties[1]",
        "e",
        "flags",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "no cut reported {expected}: {paths:?}"
        );
    }
}

#[test]
fn odometry_sized_messages_encode_quickly() {
    // The demo robot publishes at up to 50 Hz; this guards against accidental quadratic work
    // (a 100k-element covariance-like array must not take seconds).
    let s = schema(&[("t/msg/Big", &[("float64[]", "data"), ("string[]", "names")])]);
    let v = json!({
        "data": vec![1.25; 100_000],
        "names": vec!["frame"; 10_000],
    });
    let start = std::time::Instant::now();
    let bytes = json_to_cdr(&s, &v).unwrap();
    let back = cdr_to_json(&s, &bytes).unwrap();
    assert_eq!(back, v);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
