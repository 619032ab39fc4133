use serde_json::json;

use super::*;

/// The shape rosidl_adapter generates for std_msgs/msg/Header.
const HEADER: &str = r#"// generated from rosidl_adapter/resource/msg.idl.em
// with input from std_msgs/msg/Header.msg
// generated code does not contain a copyright notice

#include "builtin_interfaces/msg/Time.idl"

module std_msgs {
  module msg {
    @verbatim (language="comment", text=
      "Standard metadata for higher-level stamped data types." "\n"
      "This is generally used to communicate timestamped data" "\n"
      "in a particular coordinate frame.")
    struct Header {
      @verbatim (language="comment", text=
        "Two-integer timestamp that is expressed as seconds and nanoseconds.")
      builtin_interfaces::msg::Time stamp;

      @verbatim (language="comment", text=
        "Transform frame with which this data is associated.")
      string frame_id;
    };
  };
};
"#;

/// Arrays, sequences, bounded strings, defaults and constants as rosidl writes them.
const KITCHEN_SINK: &str = r#"
module demo {
  module msg {
    typedef double double__9[9];
    typedef demo::msg::Item demo__msg__Item__3[3];
    typedef string string__3[3];
    module Sink_Constants {
      const boolean BOOL_CONST = TRUE;
      const octet BYTE_CONST = 50;
      const int8 INT8_CONST = -50;
      const uint64 UINT64_CONST = 18446744073709551615;
      const float FLOAT32_CONST = 1.125;
      const string STRING_CONST = "Hello world!";
    };
    /* a block
       comment */
    struct Sink {
      double__9 covariance;
      demo__msg__Item__3 items;
      sequence<int32> unbounded;
      sequence<int32, 3> bounded;
      sequence<demo::msg::Item> items_seq;
      string<22> bounded_string;
      wstring wide;
      @default (value=TRUE)
      boolean flag;
      @default (value=-1.5)
      float f;
      @default (value="Hello\"world!")
      string greeting;
      @default (value="(0, 127, -128)")
      int8 small[3];
      @default (value="('', 'max value', 'min value')")
      string__3 names;
      @default (value="(1,)")
      sequence<uint8, 2> one;
      unsigned long long big;
      long plain_long;
      unsigned short us;
      char c;
      uint8 a, b;
      @key @unit (value="m")
      Item relative;
    };
  };
};
"#;

fn parse_one(text: &str, name: &str) -> Loaded {
    parse_idl("test.idl", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|l| l.def.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn rosidl_header() {
    let h = parse_one(HEADER, "std_msgs/msg/Header");
    assert_eq!(h.format, SourceFormat::Idl);
    assert_eq!(h.text, HEADER);
    let f = &h.def.fields;
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].name, "stamp");
    assert_eq!(
        f[0].base,
        BaseType::Message("builtin_interfaces/msg/Time".into())
    );
    assert_eq!(f[1].base, BaseType::Primitive(Primitive::String(None)));
    assert_eq!(
        h.deps,
        vec![DepRef {
            raw: "builtin_interfaces/Time".into(),
            full: "builtin_interfaces/msg/Time".into()
        }]
    );
}

#[test]
fn every_member_kind() {
    let s = parse_one(KITCHEN_SINK, "demo/msg/Sink");
    let get = |n: &str| {
        s.def
            .fields
            .iter()
            .find(|f| f.name == n)
            .cloned()
            .unwrap_or_else(|| panic!("no {n}"))
    };
    let p = |x| BaseType::Primitive(x);
    let item = BaseType::Message("demo/msg/Item".into());
    let cases = [
        ("covariance", p(Primitive::Float64), ArrayKind::Fixed(9)),
        ("items", item.clone(), ArrayKind::Fixed(3)),
        ("unbounded", p(Primitive::Int32), ArrayKind::Unbounded),
        ("bounded", p(Primitive::Int32), ArrayKind::Bounded(3)),
        ("items_seq", item.clone(), ArrayKind::Unbounded),
        (
            "bounded_string",
            p(Primitive::String(Some(22))),
            ArrayKind::Scalar,
        ),
        ("wide", p(Primitive::WString(None)), ArrayKind::Scalar),
        ("flag", p(Primitive::Bool), ArrayKind::Scalar),
        ("f", p(Primitive::Float32), ArrayKind::Scalar),
        ("greeting", p(Primitive::String(None)), ArrayKind::Scalar),
        ("small", p(Primitive::Int8), ArrayKind::Fixed(3)),
        ("names", p(Primitive::String(None)), ArrayKind::Fixed(3)),
        ("one", p(Primitive::Uint8), ArrayKind::Bounded(2)),
        ("big", p(Primitive::Uint64), ArrayKind::Scalar),
        ("plain_long", p(Primitive::Int32), ArrayKind::Scalar),
        ("us", p(Primitive::Uint16), ArrayKind::Scalar),
        ("c", p(Primitive::Char), ArrayKind::Scalar),
        ("a", p(Primitive::Uint8), ArrayKind::Scalar),
        ("b", p(Primitive::Uint8), ArrayKind::Scalar),
        ("relative", item, ArrayKind::Scalar),
    ];
    assert_eq!(s.def.fields.len(), cases.len());
    for (name, base, array) in cases {
        let f = get(name);
        assert_eq!((f.base, f.array), (base, array), "{name}");
    }
    assert_eq!(get("flag").default, Some(json!(true)));
    assert_eq!(get("f").default, Some(json!(-1.5)));
    assert_eq!(get("greeting").default, Some(json!("Hello\"world!")));
    assert_eq!(get("small").default, Some(json!([0, 127, -128])));
    assert_eq!(
        get("names").default,
        Some(json!(["", "max value", "min value"]))
    );
    assert_eq!(get("one").default, Some(json!([1])));
    let constants: Vec<(&str, serde_json::Value)> = s
        .def
        .constants
        .iter()
        .map(|c| (c.name.as_str(), c.value.clone()))
        .collect();
    assert_eq!(
        constants,
        [
            ("BOOL_CONST", json!(true)),
            ("BYTE_CONST", json!(50)),
            ("INT8_CONST", json!(-50)),
            ("UINT64_CONST", json!(u64::MAX)),
            ("FLOAT32_CONST", json!(1.125)),
            ("STRING_CONST", json!("Hello world!")),
        ]
    );
    assert_eq!(s.def.constants[1].ty, Primitive::Byte);
}

#[test]
fn services_and_empty_placeholder() {
    let text = r#"
module demo {
  module srv {
    struct Ping_Request {
      uint8 structure_needs_at_least_one_member;
    };
    struct Ping_Response {
      boolean ok;
    };
  };
};
"#;
    let items = parse_idl("Ping.idl", text).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].def.name, "demo/srv/Ping_Request");
    assert!(
        items[0].def.fields.is_empty(),
        "the rosidl placeholder is dropped"
    );
    assert_eq!(items[1].def.fields[0].name, "ok");
}

#[test]
fn generated_idl_parses_back() {
    let original = parse_one(KITCHEN_SINK, "demo/msg/Sink");
    let text = super::super::idl_gen::to_idl(&original.def);
    let again = parse_one(&text, "demo/msg/Sink");
    // Like rosidl, the generator writes `char` as uint8 (both one byte on the wire).
    let mut expected = (*original.def).clone();
    for f in &mut expected.fields {
        if f.base == BaseType::Primitive(Primitive::Char) {
            f.base = BaseType::Primitive(Primitive::Uint8);
        }
    }
    assert_eq!(*again.def, expected, "{text}");
}

#[test]
fn errors_carry_line_numbers() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "module a {\n  module msg {\n    struct X {\n      int32 x\n    };\n  };\n};\n",
            5,
            "expected ';'",
        ),
        (
            "module a { module msg { struct X { wchar w; }; }; };",
            1,
            "not supported",
        ),
        (
            "module a { module msg { struct X { sequence<sequence<int32>> s; }; }; };",
            1,
            "nested sequences",
        ),
        (
            "module a { module msg {\n struct X { int32 x[2][3]; }; }; };",
            2,
            "multi-dimensional",
        ),
        ("struct X { int32 x; };", 1, "must be inside module"),
        (
            "module a { module msg { struct X { int32 x; int32 x; }; }; };",
            1,
            "duplicate member",
        ),
        (
            "module a { module msg { struct X { int32 x[0]; }; }; };",
            1,
            "not a valid size",
        ),
        (
            "module a { module msg {\n\n struct X { string s = 1; }; }; };",
            3,
            "expected ';'",
        ),
        ("module a {\n /* never closed", 2, "unterminated"),
        (
            "module a { module msg { struct X { @default (value=300) uint8 x; }; }; };",
            1,
            "out of range",
        ),
        (
            "module a { module msg { const int32 C = 1; }; };",
            1,
            "_Constants",
        ),
        (
            "module a { module msg { struct X { Foo::Bar y; }; }; };",
            1,
            "cannot resolve",
        ),
        (
            "module a { module msg { struct X { int32 x; }; }; }",
            1,
            "unexpected end",
        ),
        ("module a { ? }", 1, "unexpected character"),
    ];
    for (text, line, needle) in cases {
        match parse_idl("x.idl", text) {
            Err(SchemaError::Parse {
                line: l, message, ..
            }) => {
                assert_eq!(l, *line, "{text:?}: {message}");
                assert!(
                    message.contains(needle),
                    "{text:?}: {message:?} lacks {needle:?}"
                );
            }
            other => panic!("{text:?}: expected an error, got {other:?}"),
        }
    }
}
