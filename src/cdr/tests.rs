//! Byte-exact vectors written by hand from the XCDR1 rules, one per field kind, plus the
//! JSON-side rules and error messages. A few vectors were cross-checked against
//! `@foxglove/rosmsg2-serialization` (noted where so); the corpus test checks the rest.

use serde_json::{json, Value};

use super::testing::schema;
use super::*;

fn enc(s: &crate::schema::ResolvedSchema, v: Value) -> Vec<u8> {
    json_to_cdr(s, &v).unwrap_or_else(|e| panic!("encode {v}: {e}"))
}

fn enc_err(s: &crate::schema::ResolvedSchema, v: Value) -> String {
    json_to_cdr(s, &v)
        .expect_err("should not encode")
        .to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const BASIC: &str = "bool b\nbyte y\nchar c\nfloat32 f\nfloat64 d\nint8 i8\nuint8 u8\n\
                     int16 i16\nuint16 u16\nint32 i32\nuint32 u32\nint64 i64\nuint64 u64";

fn basic_value() -> Value {
    json!({"b": true, "y": 255, "c": 65, "f": 1.5, "d": -2.0, "i8": -1, "u8": 200,
           "i16": -2, "u16": 0x1234, "i32": -3, "u32": 0xdead_beef_u32,
           "i64": i64::MIN, "u64": u64::MAX})
}

/// Every primitive once: bool/byte/char at 0..3, f32 aligned to 4, f64 to 8, then the
/// integers each at their own alignment; int64 at payload offset 32 (8-aligned, not 4).
/// (Cross-checked: `MessageWriter` from `@foxglove/rosmsg2-serialization` 3.1.0 writes exactly
/// these bytes for this definition and these values.)
const BASIC_LE: &str = "00010000
    01 ff 41 00  0000c03f
    00000000 000000c0
    ff c8 feff 3412 0000
    fdffffff efbeadde
    0000000000000080
    ffffffffffffffff";

#[test]
fn every_primitive_little_endian() {
    let s = schema(&[("t/msg/Basic", BASIC)]);
    let bytes = enc(&s, basic_value());
    assert_eq!(hex(&bytes), hex(&unhex(BASIC_LE)));
    assert_eq!(cdr_to_json(&s, &bytes).unwrap(), basic_value());
}

#[test]
fn every_primitive_big_endian_decodes() {
    let s = schema(&[("t/msg/Basic", BASIC)]);
    let be = unhex(
        "00000000
         01 ff 41 00  3fc00000
         c000000000000000
         ff c8 fffe 1234 0000
         fffffffd deadbeef
         8000000000000000
         ffffffffffffffff",
    );
    assert_eq!(cdr_to_json(&s, &be).unwrap(), basic_value());
}

/// Cross-checked against `MessageWriter` like [`BASIC_LE`].
#[test]
fn strings_sequences_and_fixed_arrays() {
    let s = schema(&[(
        "t/msg/S",
        "uint8 a\nstring s\nint16[] v\nfloat64[2] d\nstring[<=2] names",
    )]);
    let v = json!({"a": 1, "s": "hi", "v": [1, -1], "d": [0.5, 1.0], "names": ["x"]});
    let expected = "00010000
        01 000000 03000000 686900     # a, pad, len 3, 'hi' NUL
        00 02000000 0100 ffff         # pad, count 2, 1, -1
        00000000                      # pad to 8
        000000000000e03f 000000000000f03f  # fixed: no count
        01000000 02000000 7800        # count 1, len 2, 'x' NUL";
    let expected: String = expected
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .collect();
    let bytes = enc(&s, v.clone());
    assert_eq!(hex(&bytes), hex(&unhex(&expected)));
    assert_eq!(cdr_to_json(&s, &bytes).unwrap(), v);
}

/// Fast-CDR 2 and `@foxglove/cdr` align an array only when it has elements (cross-checked
/// against `MessageWriter`).
#[test]
fn empty_sequences_add_no_padding() {
    let s = schema(&[("t/msg/E", "float64[] d\nuint8 b")]);
    let bytes = enc(&s, json!({"d": [], "b": 7}));
    assert_eq!(hex(&bytes), "000100000000000007");
    let bytes = enc(&s, json!({"d": [1.0], "b": 7}));
    assert_eq!(
        hex(&bytes),
        "00010000 01000000 00000000 000000000000f03f 07".replace(' ', "")
    );
}

#[test]
fn empty_messages_are_one_byte() {
    let s = schema(&[("t/msg/Empty", "")]);
    assert_eq!(enc(&s, json!({})), [0, 1, 0, 0, 0]);
    // Extra fields given for an empty message are ignored like any unknown field.
    assert_eq!(enc(&s, json!({"x": 1})), [0, 1, 0, 0, 0]);
    assert_eq!(cdr_to_json(&s, &[0, 1, 0, 0, 0]).unwrap(), json!({}));
    assert!(matches!(
        cdr_to_json(&s, &[0, 1, 0, 0]),
        Err(CdrError::Truncated { .. })
    ));

    let s = schema(&[("t/msg/N", "t/msg/Empty e\nint32 x"), ("t/msg/Empty", "")]);
    assert_eq!(hex(&enc(&s, json!({"x": 1}))), "000100000000000001000000");
}

#[test]
fn nested_message_sequences_align_inside_elements() {
    let s = schema(&[
        ("t/msg/Ps", "t/msg/P[] ps"),
        ("t/msg/P", "uint8 a\nfloat64 x"),
    ]);
    let v = json!({"ps": [{"a": 1, "x": 2.0}, {"a": 2, "x": 3.0}]});
    let bytes = enc(&s, v.clone());
    assert_eq!(
        hex(&bytes),
        "00010000 02000000 01000000 0000000000000040 02000000 00000000 0000000000000840"
            .replace(' ', "")
    );
    assert_eq!(cdr_to_json(&s, &bytes).unwrap(), v);
}

#[test]
fn wstrings_are_utf16_code_units() {
    let s = schema(&[("t/msg/W", "wstring w\nuint8 z\nwstring[] ws")]);
    let v = json!({"w": "hé", "z": 9, "ws": ["😀"]});
    let bytes = enc(&s, v.clone());
    assert_eq!(
        hex(&bytes),
        "00010000 02000000 6800e900 09 000000 01000000 02000000 3dd800de".replace(' ', "")
    );
    assert_eq!(cdr_to_json(&s, &bytes).unwrap(), v);
}

#[test]
fn defaults_fill_missing_and_null_fields() {
    let s = schema(&[(
        "t/msg/D",
        "int32 x 5\nstring s \"hi\"\nint64[] v [1, 2]\nuint8 z\nfloat32[2] f",
    )]);
    let from_empty = enc(&s, json!({}));
    let explicit = enc(
        &s,
        json!({"x": 5, "s": "hi", "v": [1, 2], "z": 0, "f": [0.0, 0.0]}),
    );
    assert_eq!(from_empty, explicit);
    assert_eq!(enc(&s, json!({"x": null, "s": null})), explicit);
    assert_eq!(enc(&s, Value::Null), explicit);
    // Given values win over defaults.
    let d = cdr_to_json(&s, &enc(&s, json!({"x": 7}))).unwrap();
    assert_eq!(d["x"], 7);
    assert_eq!(d["s"], "hi");
}

#[test]
fn unknown_fields_are_ignored() {
    let s = schema(&[("t/msg/U", "int32 x")]);
    assert_eq!(
        enc(&s, json!({"x": 1, "extra": {"deep": [1, 2]}})),
        enc(&s, json!({"x": 1}))
    );
}

#[test]
fn error_messages_name_the_field_path() {
    let twist = schema(&[
        (
            "geometry_msgs/msg/Twist",
            "geometry_msgs/msg/Vector3 linear\ngeometry_msgs/msg/Vector3 angular",
        ),
        (
            "geometry_msgs/msg/Vector3",
            "float64 x\nfloat64 y\nfloat64 z",
        ),
    ]);
    assert_eq!(
        enc_err(&twist, json!({"linear": {"x": "fast"}})),
        "linear.x: expected float64, got string \"fast\""
    );
    assert_eq!(
        enc_err(&twist, json!({"angular": 3})),
        "angular: expected object (geometry_msgs/msg/Vector3), got number 3"
    );
    assert_eq!(
        enc_err(&twist, json!([1])),
        "(message): expected object (geometry_msgs/msg/Twist), got array of 1 elements"
    );

    let s = schema(&[
        (
            "t/msg/E",
            "uint8[] data\nstring[<=4] names\nstring<=3 short\nint32[2] pair\nt/msg/V[] vs",
        ),
        ("t/msg/V", "int8 i"),
    ]);
    assert_eq!(
        enc_err(&s, json!({"data": [1, 2, 3, 300]})),
        "data[3]: 300 out of range for uint8"
    );
    assert_eq!(
        enc_err(&s, json!({"names": ["a", "b", "c", "d", "e"]})),
        "names: at most 4 elements allowed (string[<=4]), got 5"
    );
    assert_eq!(
        enc_err(&s, json!({"short": "four"})),
        "short: string too long for string<=3: 4 bytes, at most 3 allowed"
    );
    assert_eq!(
        enc_err(&s, json!({"pair": [1]})),
        "pair: expected exactly 2 elements (int32[2]), got 1"
    );
    assert_eq!(
        enc_err(&s, json!({"vs": [{"i": 1}, {"i": -129}]})),
        "vs[1].i: -129 out of range for int8"
    );
    assert_eq!(
        enc_err(&s, json!({"vs": [{"i": 1.5}]})),
        "vs[0].i: expected int8, got number 1.5"
    );
    assert_eq!(
        enc_err(&s, json!({"data": "not base64!"}))
            .split(" (")
            .next(),
        Some("data: expected uint8[] as an array or base64, got a string that is not base64")
    );
}

#[test]
fn integers_take_integral_floats_and_64_bit_strings() {
    let s = schema(&[("t/msg/I", "int32 a\nint64 b\nuint64 c")]);
    let bytes = enc(
        &s,
        json!({"a": 5.0, "b": "-9007199254740993", "c": "18446744073709551615"}),
    );
    assert_eq!(
        cdr_to_json(&s, &bytes).unwrap(),
        json!({"a": 5, "b": -9_007_199_254_740_993_i64, "c": u64::MAX})
    );
    assert_eq!(
        enc_err(&s, json!({"a": "5"})),
        "a: expected int32, got string \"5\""
    );
    assert_eq!(
        enc_err(&s, json!({"c": -1})),
        "c: -1 out of range for uint64"
    );
    assert_eq!(
        enc_err(&s, json!({"c": "18446744073709551616"})),
        "c: 18446744073709551616 out of range for uint64"
    );
    assert_eq!(
        enc_err(&s, json!({"a": 1e300})),
        "a: 1e+300 out of range for int32"
    );
}

#[test]
fn nan_and_infinities_travel_as_strings() {
    let s = schema(&[("t/msg/F", "float64 a\nfloat32 b\nfloat64 c\nfloat32[] d")]);
    let v = json!({"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": [1.0, "NaN"]});
    let bytes = enc(&s, v.clone());
    assert_eq!(&bytes[4..12], f64::NAN.to_le_bytes());
    assert_eq!(&bytes[12..16], f32::INFINITY.to_le_bytes());
    assert_eq!(cdr_to_json(&s, &bytes).unwrap(), v);
    assert_eq!(
        enc_err(&s, json!({"b": 1e39})),
        "b: 1e+39 out of range for float32"
    );
    assert_eq!(
        enc_err(&s, json!({"a": "fast"})),
        "a: expected float64, got string \"fast\""
    );
}

#[test]
fn byte_arrays_accept_base64_and_typed_array_objects() {
    let s = schema(&[("t/msg/B", "uint8[] data\nbyte[3] fixed\nint16[] shorts")]);
    let plain = enc(
        &s,
        json!({"data": [1, 2, 255], "fixed": [7, 8, 9], "shorts": [1, -1]}),
    );
    let base64 = enc(
        &s,
        json!({"data": "AQL/", "fixed": "BwgJ", "shorts": [1, -1]}),
    );
    let typed = enc(
        &s,
        json!({"data": {"0": 1, "1": 2, "2": 255}, "fixed": [7, 8, 9],
               "shorts": {"1": -1, "0": 1}}),
    );
    assert_eq!(plain, base64);
    assert_eq!(plain, typed);
    // Output is always arrays of numbers.
    assert_eq!(cdr_to_json(&s, &plain).unwrap()["data"], json!([1, 2, 255]));
    assert!(
        enc_err(&s, json!({"shorts": {"0": 1, "2": 3}})).starts_with("shorts: expected int16[]")
    );
    assert_eq!(
        enc_err(&s, json!({"shorts": "AQI="})),
        "shorts: expected int16[] (array), got string \"AQI=\""
    );
    assert_eq!(
        enc_err(&s, json!({"fixed": "AQ=="})),
        "fixed: expected exactly 3 elements (byte[3]), got 1"
    );
}

#[test]
fn bools_accept_zero_and_one() {
    let s = schema(&[("t/msg/B", "bool a\nbool b")]);
    assert_eq!(enc(&s, json!({"a": 1, "b": false})), [0, 1, 0, 0, 1, 0]);
    assert_eq!(
        enc_err(&s, json!({"a": 2})),
        "a: expected bool, got number 2"
    );
}

#[test]
fn decode_errors_carry_paths_and_kinds() {
    let s = schema(&[
        ("t/msg/R", "t/msg/V[] vs\nbool[<=2] flags"),
        ("t/msg/V", "int16 i\nbool b"),
    ]);
    // Second element's bool is 2: malformed, at vs[1].b.
    let bad_bool = unhex("00010000 02000000 0100 01 00 0200 02");
    match cdr_to_json(&s, &bad_bool) {
        Err(e @ CdrError::Malformed { .. }) => {
            assert_eq!(e.path().as_str(), "vs[1].b");
            assert_eq!(
                e.to_string(),
                "vs[1].b: malformed at offset 14: bool byte is 2, not 0 or 1"
            );
        }
        other => panic!("{other:?}"),
    }
    // Three flags where at most two are allowed.
    let too_many = unhex("00010000 00000000 03000000 010101");
    match cdr_to_json(&s, &too_many) {
        Err(e @ CdrError::Malformed { .. }) => assert_eq!(e.path().as_str(), "flags"),
        other => panic!("{other:?}"),
    }
    // Cut inside the second element.
    let cut = unhex("00010000 02000000 0100 01 00 02");
    match cdr_to_json(&s, &cut) {
        Err(e @ CdrError::Truncated { .. }) => assert_eq!(e.path().as_str(), "vs[1].i"),
        other => panic!("{other:?}"),
    }
    // A count of 2^32-1 elements fails before allocating.
    let huge = unhex("00010000 ffffffff");
    assert!(matches!(
        cdr_to_json(&s, &huge),
        Err(CdrError::Truncated { .. })
    ));
    // XCDR2 is refused, not misread.
    assert!(matches!(
        cdr_to_json(&s, &unhex("00070000 00000000 00000000")),
        Err(CdrError::Malformed { .. })
    ));
}

#[test]
fn unknown_types_and_cycles_are_errors_not_panics() {
    let s = schema(&[("t/msg/A", "t/msg/Missing m")]);
    assert_eq!(
        enc_err(&s, json!({})),
        "m: type t/msg/Missing is not in the schema"
    );
    let cyclic = schema(&[("t/msg/A", "t/msg/A a")]);
    assert!(matches!(
        json_to_cdr(&cyclic, &json!({})),
        Err(CdrError::TooDeep { .. })
    ));
    assert!(matches!(
        cdr_to_json(&cyclic, &[0, 1, 0, 0, 0, 0, 0, 0]),
        Err(CdrError::Truncated { .. } | CdrError::TooDeep { .. })
    ));
    let mut no_root = schema(&[("t/msg/A", "int8 a")]);
    no_root.name = "t/msg/B".into();
    assert!(matches!(
        cdr_to_json(&no_root, &[0, 1, 0, 0, 0]),
        Err(CdrError::UnknownType { .. })
    ));
}

#[test]
fn json_to_cdr_into_reuses_the_buffer() {
    let s = schema(&[("t/msg/U", "int32 x")]);
    let mut buf = Vec::with_capacity(1024);
    let ptr = buf.as_ptr();
    json_to_cdr_into(&s, &json!({"x": 1}), &mut buf).unwrap();
    assert_eq!(buf, [0, 1, 0, 0, 1, 0, 0, 0]);
    json_to_cdr_into(&s, &json!({"x": 2}), &mut buf).unwrap();
    assert_eq!(buf, [0, 1, 0, 0, 2, 0, 0, 0]);
    assert_eq!(buf.as_ptr(), ptr);
}
