use std::path::Path;

use super::*;
use crate::schema::{parse_ros2msg, ArrayKind, SchemaEncoding, SEPARATOR};

fn interfaces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interfaces")
}

/// Write a package into a prefix: its marker, its files, and (optionally) the
/// `rosidl_interfaces` index listing them.
fn write_package(prefix: &Path, pkg: &str, files: &[(&str, &str)], index: bool) {
    let marker = prefix.join("share/ament_index/resource_index/packages");
    std::fs::create_dir_all(&marker).unwrap();
    std::fs::write(marker.join(pkg), "").unwrap();
    for (rel, text) in files {
        let path = prefix.join("share").join(pkg).join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    if index {
        let dir = prefix.join("share/ament_index/resource_index/rosidl_interfaces");
        std::fs::create_dir_all(&dir).unwrap();
        let list: Vec<&str> = files.iter().map(|(rel, _)| *rel).collect();
        std::fs::write(dir.join(pkg), list.join("\n")).unwrap();
    }
}

fn section(name: &str, text: &str) -> String {
    format!("\n{SEPARATOR}\nMSG: {name}\n{text}")
}

#[test]
fn pose_stamped_text_is_exact() {
    let store = SchemaStore::new(vec![interfaces()]);
    let schema = store.message("geometry_msgs/msg/PoseStamped").unwrap();
    let read = |rel: &str| std::fs::read_to_string(interfaces().join("share").join(rel)).unwrap();
    // Root first, then dependencies depth-first, each type's dependencies in sorted order of
    // their spelled names: geometry_msgs/Pose < std_msgs/Header.
    let expected = read("geometry_msgs/msg/PoseStamped.msg")
        + &section("geometry_msgs/Pose", &read("geometry_msgs/msg/Pose.msg"))
        + &section("geometry_msgs/Point", &read("geometry_msgs/msg/Point.msg"))
        + &section(
            "geometry_msgs/Quaternion",
            &read("geometry_msgs/msg/Quaternion.msg"),
        )
        + &section("std_msgs/Header", &read("std_msgs/msg/Header.msg"))
        + &section(
            "builtin_interfaces/Time",
            &read("builtin_interfaces/msg/Time.msg"),
        );
    assert_eq!(schema.text, expected);
    assert_eq!(schema.encoding, SchemaEncoding::Ros2Msg);
    assert_eq!(schema.name, "geometry_msgs/msg/PoseStamped");
    let names: Vec<&str> = schema.definitions.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "builtin_interfaces/msg/Time",
            "geometry_msgs/msg/Point",
            "geometry_msgs/msg/Pose",
            "geometry_msgs/msg/PoseStamped",
            "geometry_msgs/msg/Quaternion",
            "std_msgs/msg/Header",
        ]
    );
    assert_eq!(schema.root().fields[0].name, "header");
    // The beginning, spelled out, so a change in the separator format cannot go unnoticed.
    assert!(schema.text.contains(
        "Pose pose\n\n================================================================================\nMSG: geometry_msgs/Pose\n"
    ));
}

#[test]
fn short_names_and_caching() {
    let store = SchemaStore::new(vec![interfaces()]);
    let a = store.message("geometry_msgs/Twist").unwrap();
    let b = store.message("geometry_msgs/msg/Twist").unwrap();
    assert!(
        Arc::ptr_eq(&a, &b),
        "the second lookup must come from the cache"
    );
    assert_eq!(a.name, "geometry_msgs/msg/Twist");
}

#[test]
fn every_shipped_interface_resolves_and_round_trips() {
    let store = SchemaStore::new(vec![interfaces()]);
    let names = store.interface_names();
    assert!(names.len() > 50, "{names:?}");
    for name in names {
        let roots = if name.contains("/srv/") {
            let (req, res) = store.service(&name).unwrap();
            vec![req, res]
        } else {
            vec![store.message(&name).unwrap()]
        };
        for schema in roots {
            let reparsed = parse_ros2msg(&schema.name, &schema.text)
                .unwrap_or_else(|e| panic!("{}: {e}", schema.name));
            assert_eq!(reparsed.definitions, schema.definitions, "{}", schema.name);
        }
    }
}

#[test]
fn services_and_actions_split_into_parts() {
    let dir = tempfile::tempdir().unwrap();
    write_package(
        dir.path(),
        "demo",
        &[
            ("msg/Item.msg", "int32 id\n"),
            ("srv/Get.srv", "int32 id\n---\nItem item\nbool ok\n"),
            (
                "action/Move.action",
                "float64 goal\n---\nbool done\n---\nItem[] seen\n",
            ),
        ],
        true,
    );
    let store = SchemaStore::new(vec![dir.path().to_path_buf()]);
    let (req, res) = store.service("demo/srv/Get").unwrap();
    assert_eq!(req.name, "demo/srv/Get_Request");
    assert_eq!(req.text, "int32 id\n");
    assert_eq!(res.name, "demo/srv/Get_Response");
    assert_eq!(
        res.text,
        format!("Item item\nbool ok\n{}", section("demo/Item", "int32 id\n"))
    );
    assert!(res.get("demo/msg/Item").is_some());
    let action = store.action("demo/action/Move").unwrap();
    assert_eq!(action.goal.root().fields[0].name, "goal");
    assert_eq!(action.result.root().fields[0].name, "done");
    assert_eq!(action.feedback.name, "demo/action/Move_Feedback");
    // Parts are messages too.
    assert!(store.message("demo/srv/Get_Request").is_ok());
    // The service itself is not a message, and kinds are checked.
    assert!(matches!(
        store.message("demo/srv/Get"),
        Err(SchemaError::InvalidTypeName(_))
    ));
    assert!(matches!(
        store.service("demo/msg/Item"),
        Err(SchemaError::InvalidTypeName(_))
    ));
    assert!(matches!(
        store.action("demo/srv/Get"),
        Err(SchemaError::InvalidTypeName(_))
    ));
}

#[test]
fn overlay_prefix_wins_and_shadows_the_package() {
    let overlay = tempfile::tempdir().unwrap();
    let underlay = tempfile::tempdir().unwrap();
    write_package(
        overlay.path(),
        "demo",
        &[("msg/A.msg", "int32 from_overlay\n")],
        true,
    );
    write_package(
        underlay.path(),
        "demo",
        &[
            ("msg/A.msg", "int32 from_underlay\n"),
            ("msg/B.msg", "int32 b\n"),
        ],
        true,
    );
    write_package(
        underlay.path(),
        "other",
        &[("msg/C.msg", "demo/A a\n")],
        false,
    );
    let store = SchemaStore::new(vec![overlay.path().into(), underlay.path().into()]);
    assert_eq!(
        store.message("demo/msg/A").unwrap().root().fields[0].name,
        "from_overlay"
    );
    // Dependencies resolve through the same precedence.
    let c = store.message("other/msg/C").unwrap();
    assert_eq!(c.get("demo/msg/A").unwrap().fields[0].name, "from_overlay");
    // As in ament, the first prefix that has the package owns it.
    assert!(matches!(
        store.message("demo/msg/B"),
        Err(SchemaError::NotFound { .. })
    ));
    let names = store.interface_names();
    assert_eq!(names, ["demo/msg/A", "other/msg/C"]);

    let reversed = SchemaStore::new(vec![underlay.path().into(), overlay.path().into()]);
    assert_eq!(
        reversed.message("demo/msg/A").unwrap().root().fields[0].name,
        "from_underlay"
    );
}

#[test]
fn without_rosidl_index_files_are_probed_directly() {
    let dir = tempfile::tempdir().unwrap();
    write_package(
        dir.path(),
        "demo",
        &[
            ("msg/A.msg", "B b\n"),
            ("msg/B.msg", "string s\n"),
            ("srv/S.srv", "---\n"),
        ],
        false,
    );
    let store = SchemaStore::new(vec![dir.path().to_path_buf()]);
    assert!(store.message("demo/msg/A").is_ok());
    assert!(store.service("demo/srv/S").is_ok());
    assert_eq!(
        store.interface_names(),
        ["demo/msg/A", "demo/msg/B", "demo/srv/S"]
    );
}

#[test]
fn the_rosidl_index_is_trusted_when_present() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path(), "demo", &[("msg/A.msg", "int32 a\n")], true);
    // On disk but not listed: not an interface of this install.
    std::fs::write(dir.path().join("share/demo/msg/Hidden.msg"), "int32 h\n").unwrap();
    let store = SchemaStore::new(vec![dir.path().to_path_buf()]);
    assert!(store.message("demo/msg/A").is_ok());
    assert!(matches!(
        store.message("demo/msg/Hidden"),
        Err(SchemaError::NotFound { .. })
    ));
}

#[test]
fn missing_types_name_the_prefixes_and_appending_a_prefix_finds_them() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    write_package(second.path(), "late", &[("msg/L.msg", "int32 l\n")], true);
    let store = SchemaStore::new(vec![first.path().to_path_buf()]);
    match store.message("late/msg/L") {
        Err(SchemaError::NotFound { name, searched }) => {
            assert_eq!(name, "late/msg/L");
            assert_eq!(searched, first.path().display().to_string());
        }
        other => panic!("{other:?}"),
    }
    // Asked again: still missing (now from the negative cache).
    assert!(store.message("late/msg/L").is_err());
    store.add_prefixes([second.path().to_path_buf()]);
    assert_eq!(store.prefixes().len(), 2);
    assert!(store.message("late/msg/L").is_ok());
    assert!(matches!(
        store.message("not a type"),
        Err(SchemaError::InvalidTypeName(_))
    ));
    assert!(matches!(
        SchemaStore::new(vec![]).message("a/msg/B"),
        Err(SchemaError::NotFound { searched, .. }) if searched == "no prefixes"
    ));
}

#[test]
fn missing_dependency_and_parse_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_package(
        dir.path(),
        "demo",
        &[
            ("msg/A.msg", "Nope n\n"),
            ("msg/Bad.msg", "int32 ok\nint32 NotOk\n"),
            ("msg/Loop.msg", "Loop2 next\n"),
            ("msg/Loop2.msg", "Loop[] back\n"),
        ],
        true,
    );
    let store = SchemaStore::new(vec![dir.path().to_path_buf()]);
    assert!(matches!(
        store.message("demo/msg/A"),
        Err(SchemaError::NotFound { name, .. }) if name == "demo/msg/Nope"
    ));
    match store.message("demo/msg/Bad") {
        Err(SchemaError::Parse { name, line, .. }) => {
            assert_eq!((name.as_str(), line), ("demo/msg/Bad", 2));
        }
        other => panic!("{other:?}"),
    }
    match store.message("demo/msg/Loop") {
        Err(SchemaError::Parse { message, .. }) => {
            assert!(message.contains("recursive"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn idl_is_used_when_no_msg_exists() {
    let dir = tempfile::tempdir().unwrap();
    let idl = "module demo {\n  module msg {\n    struct OnlyIdl {\n      demo::msg::WithMsg inner;\n      sequence<double, 3> values;\n    };\n  };\n};\n";
    write_package(
        dir.path(),
        "demo",
        &[
            ("msg/OnlyIdl.idl", idl),
            ("msg/WithMsg.msg", "int32 FOO=1\nint32[2] a [1, 2]\n"),
            ("msg/WithMsg.idl", "this is never read"),
            ("msg/User.msg", "OnlyIdl x\n"),
        ],
        true,
    );
    let store = SchemaStore::new(vec![dir.path().to_path_buf()]);
    let schema = store.message("demo/msg/OnlyIdl").unwrap();
    assert_eq!(schema.encoding, SchemaEncoding::Ros2Idl);
    assert!(schema
        .text
        .starts_with(&format!("{SEPARATOR}\nIDL: demo/msg/OnlyIdl\n{idl}")));
    assert!(schema.text.contains(&format!(
        "\n{SEPARATOR}\nIDL: demo/msg/WithMsg\nmodule demo {{"
    )));
    let inner = schema.get("demo/msg/WithMsg").unwrap();
    assert_eq!(inner.constants[0].name, "FOO");
    assert_eq!(schema.root().fields[1].array, ArrayKind::Bounded(3));
    // The generated IDL parses back to the same definitions.
    let again = crate::schema::parse_ros2idl("demo/msg/OnlyIdl", &schema.text).unwrap();
    assert_eq!(again.definitions, schema.definitions);

    // A .msg root with an IDL-only dependency stays ros2msg; the dependency is written as .msg.
    let user = store.message("demo/msg/User").unwrap();
    assert_eq!(user.encoding, SchemaEncoding::Ros2Msg);
    let reparsed = parse_ros2msg("demo/msg/User", &user.text).unwrap();
    assert_eq!(reparsed.definitions, user.definitions);
}
