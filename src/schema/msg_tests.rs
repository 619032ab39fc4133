use serde_json::json;

use super::*;

fn parse(text: &str) -> ParsedMsg {
    parse_msg("pkg/msg/T", "pkg", text, 1).unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> (usize, String) {
    match parse_msg("pkg/msg/T", "pkg", text, 1) {
        Err(SchemaError::Parse { line, message, .. }) => (line, message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

fn field(p: &ParsedMsg, name: &str) -> Field {
    p.def
        .fields
        .iter()
        .find(|f| f.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn every_primitive() {
    let p = parse(
        "bool a\nbyte b\nchar c\nfloat32 d\nfloat64 e\nint8 f\nuint8 g\nint16 h\nuint16 i\n\
         int32 j\nuint32 k\nint64 l\nuint64 m\nstring n\nwstring o\nstring<=5 q\nwstring<=7 r\n",
    );
    let expected = [
        Primitive::Bool,
        Primitive::Byte,
        Primitive::Char,
        Primitive::Float32,
        Primitive::Float64,
        Primitive::Int8,
        Primitive::Uint8,
        Primitive::Int16,
        Primitive::Uint16,
        Primitive::Int32,
        Primitive::Uint32,
        Primitive::Int64,
        Primitive::Uint64,
        Primitive::String(None),
        Primitive::WString(None),
        Primitive::String(Some(5)),
        Primitive::WString(Some(7)),
    ];
    assert_eq!(p.def.fields.len(), expected.len());
    for (f, ty) in p.def.fields.iter().zip(expected) {
        assert_eq!(f.base, BaseType::Primitive(ty), "{}", f.name);
        assert_eq!(f.array, ArrayKind::Scalar);
        assert_eq!(f.default, None);
    }
    assert!(p.deps.is_empty());
}

#[test]
fn array_shapes() {
    let p = parse("int32[3] a\nint32[<=4] b\nint32[] c\nstring<=10[<=2] d\n");
    assert_eq!(field(&p, "a").array, ArrayKind::Fixed(3));
    assert_eq!(field(&p, "b").array, ArrayKind::Bounded(4));
    assert_eq!(field(&p, "c").array, ArrayKind::Unbounded);
    let d = field(&p, "d");
    assert_eq!(d.base, BaseType::Primitive(Primitive::String(Some(10))));
    assert_eq!(d.array, ArrayKind::Bounded(2));
}

#[test]
fn nested_type_names_are_normalised() {
    let p = parse(
        "geometry_msgs/Point a\ngeometry_msgs/msg/Point b\nOther c\nHeader d\nstd_msgs/Header[] e\n",
    );
    let base = |n: &str| field(&p, n).base;
    assert_eq!(
        base("a"),
        BaseType::Message("geometry_msgs/msg/Point".into())
    );
    assert_eq!(
        base("b"),
        BaseType::Message("geometry_msgs/msg/Point".into())
    );
    assert_eq!(base("c"), BaseType::Message("pkg/msg/Other".into()));
    // ROS 2: a bare Header is the current package's, not std_msgs'.
    assert_eq!(base("d"), BaseType::Message("pkg/msg/Header".into()));
    assert_eq!(base("e"), BaseType::Message("std_msgs/msg/Header".into()));
    assert_eq!(field(&p, "e").array, ArrayKind::Unbounded);
    let raws: Vec<&str> = p.deps.iter().map(|d| d.raw.as_str()).collect();
    assert_eq!(
        raws,
        [
            "geometry_msgs/Point",
            "geometry_msgs/msg/Point",
            "Other",
            "Header",
            "std_msgs/Header"
        ]
    );
}

#[test]
fn constants() {
    let p = parse(
        "int32 FOO=1\nuint8 BAR = 200 # trailing comment\nstring S=hello world # note\n\
         string Q=\"a # b\"\nbool B=true\nfloat64 HALF=0.5\nint64 BIG=-9223372036854775808\n",
    );
    let c: Vec<(&str, &serde_json::Value)> = p
        .def
        .constants
        .iter()
        .map(|c| (c.name.as_str(), &c.value))
        .collect();
    assert_eq!(
        c,
        [
            ("FOO", &json!(1)),
            ("BAR", &json!(200)),
            ("S", &json!("hello world")),
            ("Q", &json!("a # b")),
            ("B", &json!(true)),
            ("HALF", &json!(0.5)),
            ("BIG", &json!(i64::MIN)),
        ]
    );
    assert_eq!(p.def.constants[1].ty, Primitive::Uint8);
    assert!(p.def.fields.is_empty());
}

#[test]
fn defaults() {
    let p = parse(
        "int32 x 5\nstring s \"hi # there\" # comment\nint32[] a [1, 2]\nbool b true\n\
         string[2] names [\"a,b\", 'c']\nfloat64 f -1.5\nstring<=3 t 'abc'\nint8[<=3] g []\n",
    );
    assert_eq!(field(&p, "x").default, Some(json!(5)));
    assert_eq!(field(&p, "s").default, Some(json!("hi # there")));
    assert_eq!(field(&p, "a").default, Some(json!([1, 2])));
    assert_eq!(field(&p, "b").default, Some(json!(true)));
    assert_eq!(field(&p, "names").default, Some(json!(["a,b", "c"])));
    assert_eq!(field(&p, "f").default, Some(json!(-1.5)));
    assert_eq!(field(&p, "t").default, Some(json!("abc")));
    assert_eq!(field(&p, "g").default, Some(json!([])));
}

#[test]
fn comments_crlf_tabs_and_blank_lines() {
    let p =
        parse("# header comment\r\n\r\nint32\tx # the x\r\n   # indented comment\r\nint32 y\r\n");
    let names: Vec<&str> = p.def.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["x", "y"]);
    let p = parse("string s 'a'\r\n");
    assert_eq!(field(&p, "s").default, Some(json!("a")));
}

#[test]
fn errors_carry_line_numbers() {
    let cases: &[(&str, usize, &str)] = &[
        ("int32 x\nint32 Bad\n", 2, "invalid field name"),
        ("int32 x\n\nint32 a__b\n", 3, "invalid field name"),
        ("int32 bad_=1\n", 1, "invalid constant name"),
        ("int32 x\nint32 x\n", 2, "duplicate field"),
        ("int32\n", 1, "expected a name"),
        ("int32[2] A=1\n", 1, "cannot be an array"),
        ("Point P=1\n", 1, "primitive type"),
        ("Point p 5\n", 1, "only primitive fields"),
        ("int32[2] a [1, 2, 3]\n", 1, "exactly 2"),
        ("int32[<=1] a [1, 2]\n", 1, "at most 1"),
        ("int8 x 300\n", 1, "out of range"),
        ("int32<=5 x\n", 1, "only string and wstring"),
        ("int32[0] x\n", 1, "invalid array size"),
        ("int32[x] x\n", 1, "invalid array size"),
        ("int32[<=] x\n", 1, "invalid sequence bound"),
        ("time t\n", 1, "invalid type"),
        ("a/b/c/D x\n", 1, "invalid type"),
        ("int32 FOO=\n", 1, "has no value"),
        ("string s \"open\n", 1, "unterminated"),
        ("int32[2][3] x\n", 1, "nested arrays"),
    ];
    for (text, line, needle) in cases {
        let (l, m) = error(text);
        assert_eq!(l, *line, "{text:?}: {m}");
        assert!(m.contains(needle), "{text:?}: {m:?} lacks {needle:?}");
    }
}

#[test]
fn first_line_offsets_error_lines() {
    match parse_msg("pkg/srv/S_Response", "pkg", "int32 ok\nint32 Bad\n", 10) {
        Err(SchemaError::Parse { name, line, .. }) => {
            assert_eq!(name, "pkg/srv/S_Response");
            assert_eq!(line, 11);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sections_split_at_dashes() {
    let s = split_sections("int32 a\n---\nint32 b\n", 2).unwrap();
    assert_eq!(
        s,
        vec![(1, "int32 a\n".to_string()), (3, "int32 b\n".to_string())]
    );
    let s = split_sections("---\n", 2).unwrap();
    assert_eq!(s, vec![(1, String::new()), (2, String::new())]);
    let s = split_sections(
        "#goal\nint32 order\r\n---\r\nint32[] seq\n---\nint32[] fb",
        3,
    )
    .unwrap();
    assert_eq!(s[1], (4, "int32[] seq\n".to_string()));
    assert_eq!(s[2], (6, "int32[] fb".to_string()));
    assert!(split_sections("int32 a\n", 2).is_none());
    assert!(split_sections("---\n---\n", 2).is_none());
}
