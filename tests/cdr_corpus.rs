//! The codec on the real definitions of Debian's `ros2-test-interface-files` (installed under
//! `/usr`, or `CDR_CORPUS_PREFIX`), loaded through the schema module. The byte-for-byte
//! comparison with Foxglove's TypeScript library is `tests/node/cdr_corpus.test.mjs`; this file
//! covers what that oracle cannot: `wstring` (which the library refuses) and the defaults.

use std::path::PathBuf;
use std::sync::Arc;

use foxglove_gateway::cdr::{cdr_to_json, json_to_cdr};
use foxglove_gateway::schema::{ResolvedSchema, SchemaStore};
use serde_json::{json, Value};

const PKG: &str = "test_interface_files";

fn store() -> SchemaStore {
    let prefix = std::env::var_os("CDR_CORPUS_PREFIX").map_or_else(|| "/usr".into(), PathBuf::from);
    assert!(
        prefix.join("share").join(PKG).join("msg").is_dir(),
        "ros2-test-interface-files is not installed under {prefix:?}: apt-get install ros2-test-interface-files"
    );
    SchemaStore::new(vec![prefix])
}

fn msg(store: &SchemaStore, name: &str) -> Arc<ResolvedSchema> {
    store
        .message(&format!("{PKG}/msg/{name}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_corpus_type_round_trips_its_defaults() {
    let store = store();
    let names = store.interface_names();
    let mut schemas = Vec::new();
    for name in names.iter().filter(|n| n.starts_with(&format!("{PKG}/"))) {
        if name.contains("/msg/") {
            schemas.push(store.message(name).unwrap());
        } else if name.contains("/srv/") {
            let (req, resp) = store.service(name).unwrap();
            schemas.extend([req, resp]);
        } else {
            let a = store.action(name).unwrap();
            schemas.extend([a.goal, a.result, a.feedback]);
        }
    }
    let messages = schemas.iter().filter(|s| s.name.contains("/msg/")).count();
    assert!(messages >= 10, "only {messages} message types: {names:?}");
    for s in &schemas {
        let bytes = json_to_cdr(s, &json!({})).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let decoded = cdr_to_json(s, &bytes).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        // Every field is present in the decoded value, and re-encoding is the identity.
        let root = s.root();
        for f in &root.fields {
            assert!(decoded.get(&f.name).is_some(), "{}: no {}", s.name, f.name);
        }
        assert_eq!(json_to_cdr(s, &decoded).unwrap(), bytes, "{}", s.name);
        // Every strict prefix is an error.
        for cut in 0..bytes.len() {
            assert!(
                cdr_to_json(s, &bytes[..cut]).is_err(),
                "{} cut at {cut}",
                s.name
            );
        }
    }
}

#[test]
fn defaults_come_from_the_definitions() {
    let store = store();
    let d = cdr_to_json(
        &msg(&store, "Defaults"),
        &json_to_cdr(&msg(&store, "Defaults"), &json!({})).unwrap(),
    )
    .unwrap();
    assert_eq!(
        d,
        json!({"bool_value": true, "byte_value": 50, "char_value": 100, "float32_value": 1.125,
               "float64_value": 1.125, "int8_value": -50, "uint8_value": 200,
               "int16_value": -1000, "uint16_value": 2000, "int32_value": -30000,
               "uint32_value": 60000, "int64_value": -40000000, "uint64_value": 50000000})
    );
    let s = msg(&store, "Strings");
    let d = cdr_to_json(&s, &json_to_cdr(&s, &json!({})).unwrap()).unwrap();
    assert_eq!(d["string_value"], "");
    assert_eq!(d["string_value_default3"], "Hello\"world!");
    assert_eq!(d["string_value_default4"], "Hello'world!");
    assert_eq!(d["bounded_string_value_default1"], "Hello world!");
    // The bound is enforced on what a client sends.
    let err = json_to_cdr(&s, &json!({"bounded_string_value": "x".repeat(23)})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bounded_string_value: string too long for string<=22: 23 bytes, at most 22 allowed"
    );
    let u = msg(&store, "UnboundedSequences");
    let d = cdr_to_json(&u, &json_to_cdr(&u, &json!({})).unwrap()).unwrap();
    assert_eq!(d["int64_values_default"], json!([0, i64::MAX, i64::MIN]));
    assert_eq!(d["uint64_values_default"], json!([0, 1, u64::MAX]));
}

/// `WStrings` with its defaults, written by hand: each wstring is a u32 count of UTF-16 code
/// units then the units, no terminator.
#[test]
fn wstrings_defaults_byte_exact() {
    let store = store();
    let s = msg(&store, "WStrings");
    let expected = unhex(
        "00010000
         00000000
         0c000000 4800 6500 6c00 6c00 6f00 2000 7700 6f00 7200 6c00 6400 2100
         0c000000 4800 6500 6c00 6c00 f600 2000 7700 f600 7200 6c00 6400 2100
         07000000 cf30 ed30 fc30 ef30 fc30 eb30 c930
         0000
         00000000 00000000 00000000
         00000000
         00000000",
    );
    let bytes = json_to_cdr(&s, &json!({})).unwrap();
    assert_eq!(bytes, expected);
    let d = cdr_to_json(&s, &bytes).unwrap();
    assert_eq!(d["wstring_value_default2"], "Hellö wörld!");
    assert_eq!(d["wstring_value_default3"], "ハローワールド");
    assert_eq!(d["array_of_wstrings"], json!(["", "", ""]));

    let v: Value = json!({"wstring_value": "😀", "bounded_sequence_of_wstrings": ["a", "é"],
                          "unbounded_sequence_of_wstrings": ["ハ"]});
    let d = cdr_to_json(&s, &json_to_cdr(&s, &v).unwrap()).unwrap();
    assert_eq!(d["wstring_value"], "😀");
    assert_eq!(d["bounded_sequence_of_wstrings"], json!(["a", "é"]));
    let err = json_to_cdr(
        &s,
        &json!({"bounded_sequence_of_wstrings": ["a", "b", "c", "d"]}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bounded_sequence_of_wstrings: at most 3 elements allowed (wstring[<=3]), got 4"
    );
}
