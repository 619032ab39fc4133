//! The ROS package layout, checked statically: what colcon's ament_cargo build and `ros2 launch`
//! need (`package.xml`, `[package.metadata.ros]`, a well-formed launch file whose arguments are
//! foxglove_bridge's plus ours, a params file that loads to the defaults).
//!
//! `scripts/check-packaging.sh` additionally runs the real `cargo ament-build` and checks the
//! installed tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use foxglove_gateway::config::{load_params_file, Config};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// One element of a small XML document: name, attributes, children.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Element>,
    text: String,
}

/// A deliberately small, strict XML reader: enough to prove a launch file or package.xml is
/// well-formed (balanced tags, quoted attributes, legal comments, known entities) without a new
/// dependency.
fn parse_xml(src: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = vec![Element {
        name: String::new(),
        attrs: BTreeMap::new(),
        children: vec![],
        text: String::new(),
    }];
    let mut rest = src;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        if let Some(top) = stack.last_mut() {
            top.text.push_str(&unescape(text)?);
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("unterminated comment")?;
            if after[..end].contains("--") {
                return Err(format!("'--' inside a comment: {:?}", &after[..end]));
            }
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<?") {
            let end = after.find("?>").ok_or("unterminated declaration")?;
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or("unterminated end tag")?;
            let name = after[..end].trim();
            let done = stack.pop().ok_or("stack underflow")?;
            if done.name != name {
                return Err(format!("</{name}> closes <{}>", done.name));
            }
            stack
                .last_mut()
                .ok_or("end tag without start")?
                .children
                .push(done);
            rest = &after[end + 1..];
        } else {
            let (element, self_closing, len) = parse_start_tag(rest)?;
            rest = &rest[len..];
            if self_closing {
                stack.last_mut().ok_or("no parent")?.children.push(element);
            } else {
                stack.push(element);
            }
        }
    }
    if !rest.trim().is_empty() {
        return Err("text after the last tag".into());
    }
    let mut doc = stack.pop().ok_or("empty")?;
    if !stack.is_empty() {
        return Err(format!("unclosed <{}>", doc.name));
    }
    if doc.children.len() != 1 {
        return Err("expected exactly one root element".into());
    }
    Ok(doc.children.remove(0))
}

fn parse_start_tag(src: &str) -> Result<(Element, bool, usize), String> {
    let bytes = src.as_bytes();
    let mut i = 1;
    let name_end = src[i..]
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .ok_or("unterminated tag")?
        + i;
    let name = src[i..name_end].to_string();
    if name.is_empty() {
        return Err("empty tag name".into());
    }
    i = name_end;
    let mut attrs = BTreeMap::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            None => return Err(format!("unterminated <{name}>")),
            Some(b'>') => return Ok((element(name, attrs), false, i + 1)),
            Some(b'/') if bytes.get(i + 1) == Some(&b'>') => {
                return Ok((element(name, attrs), true, i + 2))
            }
            _ => {}
        }
        let eq = src[i..].find('=').ok_or("attribute without value")? + i;
        let key = src[i..eq].trim().to_string();
        let quote = *bytes.get(eq + 1).ok_or("attribute value missing")?;
        if quote != b'"' && quote != b'\'' {
            return Err(format!("unquoted attribute {key}"));
        }
        let vend = src[eq + 2..]
            .find(quote as char)
            .ok_or("unterminated attribute")?
            + eq
            + 2;
        let raw = &src[eq + 2..vend];
        if raw.contains('<') {
            return Err(format!("'<' in attribute {key}"));
        }
        if attrs.insert(key.clone(), unescape(raw)?).is_some() {
            return Err(format!("duplicate attribute {key}"));
        }
        i = vend + 1;
    }
}

fn element(name: String, attrs: BTreeMap<String, String>) -> Element {
    Element {
        name,
        attrs,
        children: vec![],
        text: String::new(),
    }
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').ok_or("bare '&'")? + amp;
        out.push(match &rest[amp + 1..semi] {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            other => return Err(format!("unknown entity &{other};")),
        });
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// foxglove_bridge 3.4.3's launch arguments and defaults (anchors.md §A.2/§A.3).
const BRIDGE_ARGS: &[(&str, &str)] = &[
    ("port", "8765"),
    ("debug", "false"),
    ("address", "0.0.0.0"),
    ("tls", "false"),
    ("certfile", ""),
    ("keyfile", ""),
    ("topic_whitelist", "['.*']"),
    ("param_whitelist", "['.*']"),
    ("service_whitelist", "['.*']"),
    ("client_topic_whitelist", "['.*']"),
    ("min_qos_depth", "1"),
    ("max_qos_depth", "10"),
    ("num_threads", "0"),
    ("send_buffer_limit", "10000000"),
    ("use_sim_time", "false"),
    (
        "capabilities",
        "[clientPublish,parameters,parametersSubscribe,services,connectionGraph,assets]",
    ),
    ("include_hidden", "false"),
    ("publish_client_count", "false"),
    ("sysinfo", "true"),
    ("sysinfo_topic", "/foxglove_bridge/sysinfo"),
    ("sysinfo_refresh_interval", "500"),
    ("message_backlog_size", "1024"),
    ("asset_uri_allowlist", "['^package://(?:[-\\\\w%]+/)*[-\\\\w%.]+\\\\.(?:dae|fbx|glb|gltf|jpeg|jpg|mtl|obj|png|stl|tif|tiff|urdf|webp|xacro)$']"),
    ("ignore_unresponsive_param_nodes", "true"),
    ("remote_access", "false"),
    ("device_token", ""),
    ("foxglove_api_url", ""),
    ("max_data_track_message_size", "102400"),
    ("video_transcode_topic_denylist", "['.*/compressedDepth']"),
    ("point_cloud_compression_topic_denylist", "['(?!)']"),
    ("point_cloud_compression_quantization_bits", "12"),
];

/// Ours, on top of foxglove_bridge's.
const OUR_ARGS: &[&str] = &[
    "best_effort_qos_topic_whitelist",
    "zero_twist_on_disconnect",
    "keepalive_interval_ms",
    "keepalive_timeout_ms",
    "max_incoming_message_size",
    "service_call_timeout_ms",
    "recordings_dir",
    "blackbox_seconds",
    "blackbox_max_bytes",
    "blackbox_topic_whitelist",
    "record",
    "record_max_file_bytes",
    "record_max_file_seconds",
    "data_backend",
    "data_backend_address",
    "data_backend_port",
    "play",
    "max_connections",
    "handshake_timeout_ms",
    "max_client_channels",
    "max_parameter_subscriptions",
    "client_publish_queue_size",
    "asset_buffer_limit",
];

fn launch() -> Element {
    let root =
        parse_xml(&read("launch/foxglove_gateway_launch.xml")).expect("well-formed launch XML");
    assert_eq!(root.name, "launch");
    root
}

fn launch_args(root: &Element) -> BTreeMap<String, String> {
    root.children
        .iter()
        .filter(|e| e.name == "arg")
        .map(|e| (e.attrs["name"].clone(), e.attrs["default"].clone()))
        .collect()
}

#[test]
fn launch_file_has_every_bridge_argument_with_its_default() {
    let args = launch_args(&launch());
    for (name, default) in BRIDGE_ARGS {
        let ours = args
            .get(*name)
            .unwrap_or_else(|| panic!("missing arg {name}"));
        if *name == "min_qos_depth" || *name == "max_qos_depth" {
            // Deliberate: a deeper reader by default (docs/ROBOT.md, "Where foxglove_gateway
            // deliberately differs").
            assert_eq!(
                ours,
                if *name == "min_qos_depth" {
                    "50"
                } else {
                    "100"
                }
            );
        } else {
            assert_eq!(ours, default, "default of {name}");
        }
    }
    for name in OUR_ARGS {
        assert!(args.contains_key(*name), "missing our arg {name}");
    }
    assert_eq!(
        args.len(),
        BRIDGE_ARGS.len() + OUR_ARGS.len(),
        "unexpected extra args"
    );
}

#[test]
fn launch_file_starts_the_node_with_every_argument() {
    let root = launch();
    let nodes: Vec<_> = root.children.iter().filter(|e| e.name == "node").collect();
    assert_eq!(nodes.len(), 1);
    let node = nodes[0];
    assert_eq!(node.attrs["pkg"], "foxglove_gateway");
    assert_eq!(node.attrs["exec"], "foxglove_gateway");
    assert_eq!(node.attrs["name"], "foxglove_gateway");
    let args = launch_args(&root);
    let params: BTreeMap<_, _> = node
        .children
        .iter()
        .filter(|e| e.name == "param")
        .map(|e| (e.attrs["name"].clone(), e.attrs["value"].clone()))
        .collect();
    assert_eq!(params.len(), args.len());
    for name in args.keys() {
        assert_eq!(
            params.get(name),
            Some(&format!("$(var {name})")),
            "param {name}"
        );
    }
}

/// What launch does with each default: substitution unescapes `\\`, then the value is typed by
/// YAML (`8765` → int, `['.*']` → string list, `false` → bool). The result must be exactly our
/// defaults, so starting from the launch file and starting without it behave the same.
#[test]
fn launch_defaults_load_to_the_config_defaults() {
    let args = launch_args(&launch());
    let mut yaml = String::from("/**:\n  ros__parameters:\n");
    for (name, default) in &args {
        let value = default.replace("\\\\", "\\");
        let value = if value.is_empty() {
            "\"\"".to_string()
        } else {
            value
        };
        yaml.push_str(&format!("    {name}: {value}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("launch_defaults.yaml");
    std::fs::write(&file, yaml).unwrap();
    let params = load_params_file(&file, "foxglove_gateway").unwrap();
    let (config, warnings) = Config::from_params_with_env(&params, |_| None).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.to_params(), Config::default().to_params());
}

#[test]
fn shipped_params_file_loads_to_the_defaults() {
    for node in ["foxglove_gateway", "/foxglove_gateway", "renamed"] {
        let params = load_params_file(&root().join("config/foxglove_gateway.yaml"), node).unwrap();
        // Every parameter is spelled out (aliases aside), so the file documents them all.
        for key in Config::default().to_params().keys() {
            let alias = key.ends_with("_allowlist") && key != "asset_uri_allowlist";
            assert!(
                alias || params.contains_key(key),
                "{key} missing for {node}"
            );
        }
        let (config, warnings) = Config::from_params_with_env(&params, |_| None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.to_params(), Config::default().to_params());
    }
}

#[test]
fn package_xml_is_an_ament_cargo_package() {
    let pkg = parse_xml(&read("package.xml")).expect("well-formed package.xml");
    assert_eq!(pkg.name, "package");
    assert_eq!(pkg.attrs["format"], "3");
    let text_of = |name: &str| -> Vec<String> {
        pkg.children
            .iter()
            .filter(|e| e.name == name)
            .map(|e| e.text.trim().to_string())
            .collect()
    };
    // colcon-ros-cargo requires the Cargo package name to equal the ROS package name.
    assert_eq!(text_of("name"), [env!("CARGO_PKG_NAME")]);
    assert_eq!(text_of("version"), [env!("CARGO_PKG_VERSION")]);
    // What r2r_rcl's bindings and link lines need at build time...
    let depends = text_of("depend");
    for needed in [
        "rcl",
        "rcl_yaml_param_parser",
        "rcl_logging_spdlog",
        "rcutils",
        "rmw",
        "rmw_implementation",
        "rosidl_runtime_c",
        "rosidl_typesupport_c",
        "rosidl_typesupport_introspection_c",
    ] {
        assert!(
            depends.iter().any(|d| d == needed),
            "missing <depend>{needed}"
        );
    }
    // ...and no interface package: type support is loaded at runtime, so the build must not
    // depend on which message packages happen to be installed.
    for not_needed in ["std_msgs", "geometry_msgs", "sensor_msgs", "rcl_action"] {
        assert!(
            !depends.iter().any(|d| d == not_needed),
            "<depend>{not_needed}</depend> is not needed at build time"
        );
    }
    let exec = text_of("exec_depend");
    for needed in ["ros2launch", "rcl_interfaces", "rosgraph_msgs", "std_srvs"] {
        assert!(
            exec.iter().any(|d| d == needed),
            "missing <exec_depend>{needed}"
        );
    }
    let export = pkg
        .children
        .iter()
        .find(|e| e.name == "export")
        .expect("<export>");
    let build_type: Vec<_> = export
        .children
        .iter()
        .filter(|e| e.name == "build_type")
        .map(|e| e.text.trim())
        .collect();
    assert_eq!(build_type, ["ament_cargo"]);
}

#[test]
fn cargo_toml_installs_launch_and_config_to_share() {
    let manifest: serde_yaml::Value = {
        // Cargo.toml is TOML; only one line matters, so read it without a TOML dependency.
        let text = read("Cargo.toml");
        let section = text
            .split("[package.metadata.ros]")
            .nth(1)
            .expect("[package.metadata.ros] section");
        let line = section
            .lines()
            .find(|l| l.trim_start().starts_with("install_to_share"))
            .expect("install_to_share");
        let list = line.split_once('=').expect("key = value").1;
        serde_yaml::from_str(list.trim()).expect("a list")
    };
    let dirs: Vec<&str> = manifest
        .as_sequence()
        .expect("a list")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for d in ["launch", "config"] {
        assert!(dirs.contains(&d), "install_to_share lacks {d}");
        assert!(root().join(d).is_dir(), "{d}/ missing");
    }
    assert!(Path::new(&root().join("launch/foxglove_gateway_launch.xml")).is_file());
}

#[test]
fn the_xml_reader_rejects_malformed_input() {
    for bad in [
        "<a>",
        "<a></b>",
        "<a x=1/>",
        "<a x=\"1\" x=\"2\"/>",
        "<a><!-- a -- b --></a>",
        "<a>&bogus;</a>",
        "<a/><b/>",
        "<a x=\"<\"/>",
    ] {
        assert!(parse_xml(bad).is_err(), "{bad}");
    }
    let ok = parse_xml("<?xml version=\"1.0\"?><a k='v &amp; w'><b/>t</a>").unwrap();
    assert_eq!(ok.attrs["k"], "v & w");
    assert_eq!(ok.children.len(), 1);
    assert_eq!(ok.text, "t");
}
