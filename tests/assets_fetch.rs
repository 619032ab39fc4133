//! `fetchAsset` over a real connection: package:// through the ament index, file:// under the
//! allowlist, and every refusal as a Fetch Asset Response (0x04) with status 1 and a message.
//! The in-flight limit is tested next to the code (src/hub/assets.rs), where reads can be held.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use foxglove_gateway::config::Patterns;
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// A Fetch Asset Response, parsed by hand from the wire layout.
#[derive(Debug, PartialEq)]
struct AssetResponse {
    request_id: u32,
    status: u8,
    error: String,
    data: Vec<u8>,
}

fn parse_asset(b: &[u8]) -> AssetResponse {
    assert_eq!(b[0], 4, "opcode");
    let n = u32::from_le_bytes(b[6..10].try_into().unwrap()) as usize;
    AssetResponse {
        request_id: u32::from_le_bytes(b[1..5].try_into().unwrap()),
        status: b[5],
        error: String::from_utf8(b[10..10 + n].to_vec()).unwrap(),
        data: b[10 + n..].to_vec(),
    }
}

/// Send `fetchAsset` and wait for its response (other frames are skipped).
async fn fetch(c: &mut Client, uri: &str, request_id: u32) -> AssetResponse {
    c.send_json(json!({"op":"fetchAsset","uri":uri,"requestId":request_id}))
        .await;
    loop {
        let m = tokio::time::timeout(TIMEOUT, c.ws.next())
            .await
            .expect("response in time")
            .expect("connection open")
            .expect("no read error");
        match m {
            Message::Binary(b) if b.first() == Some(&4) => {
                let r = parse_asset(&b);
                if r.request_id == request_id {
                    return r;
                }
            }
            Message::Close(f) => panic!("closed while waiting for asset {request_id}: {f:?}"),
            _ => {}
        }
    }
}

/// An ament prefix holding package `robot` with `meshes/base.stl`.
fn robot_prefix() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir
        .path()
        .join("share/ament_index/resource_index/packages/robot");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "").unwrap();
    let meshes = dir.path().join("share/robot/meshes");
    std::fs::create_dir_all(&meshes).unwrap();
    std::fs::write(meshes.join("base.stl"), b"solid base\nendsolid base\n").unwrap();
    std::fs::write(dir.path().join("share/robot/secret.txt"), b"secret").unwrap();
    dir
}

fn error_response(r: &AssetResponse, needle: &str) {
    eprintln!("asset {}: {}", r.request_id, r.error);
    assert_eq!(r.status, 1, "{r:?}");
    assert!(r.data.is_empty(), "{r:?}");
    assert!(r.error.contains(needle), "{:?} lacks {needle:?}", r.error);
}

#[tokio::test]
async fn assets_capability_is_offered_by_default_and_only_when_configured() {
    let s = start(|_| {}).await;
    let mut c = s.client().await;
    let info = c.expect_op("serverInfo").await;
    assert!(info["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("assets")));

    let s = start(|c| c.capabilities = vec!["clientPublish".into()]).await;
    let mut c = s.client().await;
    let info = c.expect_op("serverInfo").await;
    assert!(!info["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("assets")));
    // Without the capability the request is refused with a status, as the SDK does.
    c.send_json(json!({"op":"fetchAsset","uri":"package://robot/meshes/base.stl","requestId":1}))
        .await;
    c.expect_status("assets").await;
}

#[tokio::test]
async fn package_uri_is_served_from_the_ament_prefix() {
    let prefix = robot_prefix();
    let s = start(|_| {}).await;
    s.schemas.add_prefixes([prefix.path().to_path_buf()]);
    let mut c = s.client().await;
    let r = fetch(&mut c, "package://robot/meshes/base.stl", 7).await;
    assert_eq!(
        r,
        AssetResponse {
            request_id: 7,
            status: 0,
            error: String::new(),
            data: b"solid base\nendsolid base\n".to_vec(),
        }
    );
}

#[tokio::test]
async fn a_real_installed_package_under_usr() {
    let installed = Path::new("/usr/share/test_interface_files/msg/BasicTypes.msg");
    let expected = std::fs::read(installed).expect("ros2-test-interface-files is installed");
    let s = start(|c| {
        c.asset_uri_allowlist =
            Patterns::new("asset_uri_allowlist", &[r"^package://.*\.msg$"]).unwrap();
    })
    .await;
    s.schemas.add_prefixes([PathBuf::from("/usr")]);
    let mut c = s.client().await;
    let r = fetch(
        &mut c,
        "package://test_interface_files/msg/BasicTypes.msg",
        1,
    )
    .await;
    assert_eq!((r.status, r.data), (0, expected));
}

#[tokio::test]
async fn refusals_are_error_responses_and_the_connection_stays_usable() {
    let prefix = robot_prefix();
    let s = start(|_| {}).await;
    s.schemas.add_prefixes([prefix.path().to_path_buf()]);
    let mut c = s.client().await;

    // Outside the default allowlist (not a mesh or image).
    let r = fetch(&mut c, "package://robot/secret.txt", 1).await;
    error_response(&r, "not allowed");
    error_response(&r, "asset_uri_allowlist");
    // file:// is not in the default allowlist either.
    let r = fetch(&mut c, "file:///etc/hostname", 2).await;
    error_response(&r, "not allowed");
    // `..`, even where the allowlist pattern would admit it.
    let r = fetch(&mut c, "package://robot/meshes/../meshes/base.stl", 3).await;
    error_response(&r, "must not contain \"..\"");
    // Missing file, unknown package.
    let r = fetch(&mut c, "package://robot/meshes/missing.stl", 4).await;
    error_response(&r, "not found");
    let r = fetch(&mut c, "package://nobody/meshes/base.stl", 5).await;
    error_response(&r, "nobody");
    error_response(&r, "AMENT_PREFIX_PATH");
    // Still served afterwards.
    let r = fetch(&mut c, "package://robot/meshes/base.stl", 6).await;
    assert_eq!(r.status, 0);
}

#[tokio::test]
async fn dot_dot_is_refused_even_with_an_allow_everything_list() {
    let prefix = robot_prefix();
    let s = start(|c| c.asset_uri_allowlist = Patterns::all()).await;
    s.schemas.add_prefixes([prefix.path().to_path_buf()]);
    let mut c = s.client().await;
    let r = fetch(&mut c, "package://robot/../../../../etc/passwd", 1).await;
    error_response(&r, "must not contain \"..\"");
    let r = fetch(&mut c, "file:///etc/../etc/passwd", 2).await;
    error_response(&r, "must not contain \"..\"");
    // An absolute path smuggled into a package URI does not escape the package either.
    let r = fetch(&mut c, "package://robot//etc/passwd", 3).await;
    error_response(&r, "package://robot//etc/passwd");
    assert!(!String::from_utf8_lossy(&r.data).contains("root:"));
    // A directory is not an asset.
    let r = fetch(&mut c, "package://robot/meshes", 4).await;
    error_response(&r, "not a regular file");
}

#[tokio::test]
async fn file_uri_under_the_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("map.png");
    std::fs::write(&file, [0x89, b'P', b'N', b'G']).unwrap();
    let allowed = format!(
        "^file://{}/.*",
        regex_escape(&dir.path().display().to_string())
    );
    let s = start(|c| {
        c.asset_uri_allowlist = Patterns::new("asset_uri_allowlist", &[allowed]).unwrap();
    })
    .await;
    let mut c = s.client().await;
    let r = fetch(&mut c, &format!("file://{}", file.display()), 1).await;
    assert_eq!((r.status, r.data), (0, vec![0x89, b'P', b'N', b'G']));
    let r = fetch(&mut c, "file:///etc/hostname", 2).await;
    error_response(&r, "not allowed");
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
