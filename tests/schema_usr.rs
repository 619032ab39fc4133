//! Every interface of Debian's `ros2-test-interface-files` (a real ament package under `/usr`,
//! installed without a `rosidl_interfaces` index) resolves, and a few come out exactly right.

use std::path::{Path, PathBuf};

use foxglove_gateway::schema::{parse_ros2msg, ArrayKind, BaseType, Primitive, SchemaStore};
use serde_json::json;

const PACKAGE_DIR: &str = "/usr/share/test_interface_files";

fn store() -> Option<SchemaStore> {
    if !Path::new(PACKAGE_DIR).is_dir() {
        eprintln!(
            "skipping: {PACKAGE_DIR} is not installed (apt install ros2-test-interface-files)"
        );
        return None;
    }
    Some(SchemaStore::new(vec![PathBuf::from("/usr")]))
}

#[test]
fn every_interface_resolves() {
    let Some(store) = store() else { return };
    let names: Vec<String> = store
        .interface_names()
        .into_iter()
        .filter(|n| n.starts_with("test_interface_files/"))
        .collect();
    // The package has 12 messages, 3 services and 1 action.
    assert_eq!(names.len(), 16, "{names:?}");
    for name in &names {
        let parts = if name.contains("/srv/") {
            let (a, b) = store.service(name).unwrap_or_else(|e| panic!("{e}"));
            vec![a, b]
        } else if name.contains("/action/") {
            let a = store.action(name).unwrap_or_else(|e| panic!("{e}"));
            vec![a.goal, a.result, a.feedback]
        } else {
            vec![store.message(name).unwrap_or_else(|e| panic!("{e}"))]
        };
        for schema in parts {
            // The text is self-contained: it parses on its own to the same definitions.
            let again = parse_ros2msg(&schema.name, &schema.text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(again.definitions, schema.definitions, "{}", schema.name);
        }
    }
}

#[test]
fn multi_nested_pulls_in_every_level() {
    let Some(store) = store() else { return };
    let s = store
        .message("test_interface_files/msg/MultiNested")
        .unwrap();
    let names: Vec<&str> = s.definitions.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "test_interface_files/msg/Arrays",
            "test_interface_files/msg/BasicTypes",
            "test_interface_files/msg/BoundedSequences",
            "test_interface_files/msg/Constants",
            "test_interface_files/msg/Defaults",
            "test_interface_files/msg/MultiNested",
            "test_interface_files/msg/UnboundedSequences",
        ]
    );
    // Each dependency once, under the name the bridge would write.
    for dep in [
        "Arrays",
        "BasicTypes",
        "BoundedSequences",
        "Constants",
        "Defaults",
        "UnboundedSequences",
    ] {
        let header = format!("\nMSG: test_interface_files/{dep}\n");
        assert_eq!(s.text.matches(&header).count(), 1, "{header}");
    }
    let root = s.root();
    assert_eq!(root.fields[0].array, ArrayKind::Fixed(3));
    assert_eq!(root.fields[3].array, ArrayKind::Bounded(3));
    assert_eq!(root.fields[6].array, ArrayKind::Unbounded);
}

#[test]
fn strings_and_wstrings() {
    let Some(store) = store() else { return };
    let s = store.message("test_interface_files/msg/Strings").unwrap();
    let d = s.root();
    let default = |n: &str| {
        d.fields
            .iter()
            .find(|f| f.name == n)
            .unwrap()
            .default
            .clone()
    };
    assert_eq!(
        default("string_value_default1"),
        Some(json!("Hello world!"))
    );
    assert_eq!(
        default("string_value_default3"),
        Some(json!("Hello\"world!"))
    );
    assert_eq!(
        default("string_value_default4"),
        Some(json!("Hello'world!"))
    );
    assert_eq!(
        default("bounded_string_value_default5"),
        Some(json!("Hello\"world!"))
    );
    assert_eq!(d.constants[0].value, json!("Hello world!"));
    let b = d
        .fields
        .iter()
        .find(|f| f.name == "bounded_string_value")
        .unwrap();
    assert_eq!(b.base, BaseType::Primitive(Primitive::String(Some(22))));

    let w = store.message("test_interface_files/msg/WStrings").unwrap();
    let w = w.root();
    assert_eq!(
        w.fields[0].base,
        BaseType::Primitive(Primitive::WString(None))
    );
    assert_eq!(w.fields[3].default, Some(json!("ハローワールド")));
    assert_eq!(w.fields.len(), 7);
}

#[test]
fn services_resolve_bare_names_in_the_package() {
    let Some(store) = store() else { return };
    let (req, res) = store.service("test_interface_files/srv/Arrays").unwrap();
    assert!(req.get("test_interface_files/msg/BasicTypes").is_some());
    assert!(res.text.contains("\nMSG: test_interface_files/Defaults\n"));
    let (req, res) = store.service("test_interface_files/srv/Empty").unwrap();
    assert!(req.root().fields.is_empty() && res.root().fields.is_empty());
    let fib = store
        .action("test_interface_files/action/Fibonacci")
        .unwrap();
    assert_eq!(fib.goal.root().fields[0].name, "order");
    assert_eq!(fib.feedback.root().fields[0].array, ArrayKind::Unbounded);
}
