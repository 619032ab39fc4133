//! `SchemaStore::from_env` reads `AMENT_PREFIX_PATH` left to right. (Its own test binary: it
//! changes the process environment.)

use std::path::Path;

use foxglove_gateway::schema::SchemaStore;

fn write_package(prefix: &Path, pkg: &str, rel: &str, text: &str) {
    let marker = prefix.join("share/ament_index/resource_index/packages");
    std::fs::create_dir_all(&marker).unwrap();
    std::fs::write(marker.join(pkg), "").unwrap();
    let path = prefix.join("share").join(pkg).join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn ament_prefix_path_order_is_precedence() {
    let overlay = tempfile::tempdir().unwrap();
    let underlay = tempfile::tempdir().unwrap();
    write_package(overlay.path(), "demo", "msg/A.msg", "int32 overlay\n");
    write_package(underlay.path(), "demo", "msg/A.msg", "int32 underlay\n");
    write_package(underlay.path(), "base", "msg/B.msg", "demo/A a\n");
    let joined = std::env::join_paths([
        "",
        overlay.path().to_str().unwrap(),
        underlay.path().to_str().unwrap(),
    ])
    .unwrap();
    std::env::set_var("AMENT_PREFIX_PATH", &joined);
    let store = SchemaStore::from_env();
    // The empty entry is skipped.
    assert_eq!(store.prefixes(), [overlay.path(), underlay.path()]);
    let b = store.message("base/msg/B").unwrap();
    assert_eq!(b.get("demo/msg/A").unwrap().fields[0].name, "overlay");

    std::env::remove_var("AMENT_PREFIX_PATH");
    assert!(SchemaStore::from_env().prefixes().is_empty());
}
