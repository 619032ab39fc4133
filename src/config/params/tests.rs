//! Tests of parameter parsing, validation and serving.

use super::*;

fn map(entries: &[(&str, ParamValue)]) -> BTreeMap<String, ParamValue> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn load(entries: &[(&str, ParamValue)]) -> Result<(Config, Vec<String>), ConfigError> {
    Config::from_params_with_env(&map(entries), |_| None)
}

fn sa(v: &[&str]) -> ParamValue {
    ParamValue::StringArray(v.iter().map(|s| s.to_string()).collect())
}

fn err_param(e: ConfigError) -> String {
    match e {
        ConfigError::BadValue { param, .. } | ConfigError::BadRegex { param, .. } => param,
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn empty_map_gives_defaults() {
    let (c, w) = load(&[]).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.port, 8765);
    assert_eq!(c.max_qos_depth, 100);
    assert_eq!(c.min_qos_depth, 50);
    assert!(c.topic_whitelist.matches("/anything"));
    assert!(!c.best_effort_qos_topic_whitelist.matches("/anything"));
    assert_eq!(c.foxglove_api_url, DEFAULT_FOXGLOVE_API_URL);
    assert!(c.device_token.is_none());
}

#[test]
fn scalars_are_applied() {
    let (c, _) = load(&[
        ("port", ParamValue::Integer(9999)),
        ("address", ParamValue::String("127.0.0.1".into())),
        ("include_hidden", ParamValue::Bool(true)),
        ("min_qos_depth", ParamValue::Integer(2)),
        ("max_qos_depth", ParamValue::Integer(10)),
        ("keepalive_interval_ms", ParamValue::Integer(1000)),
        ("keepalive_timeout_ms", ParamValue::Integer(3000)),
        ("use_sim_time", ParamValue::Bool(true)),
    ])
    .unwrap();
    assert_eq!(c.port, 9999);
    assert_eq!(c.address, "127.0.0.1");
    assert!(c.include_hidden);
    assert_eq!((c.min_qos_depth, c.max_qos_depth), (2, 10));
    assert_eq!(c.keepalive_interval, Duration::from_secs(1));
    assert_eq!(c.keepalive_timeout, Duration::from_secs(3));
    assert!(c.use_sim_time);
}

#[test]
fn array_parameters_and_match_nothing_idiom() {
    let (c, _) = load(&[
        ("topic_whitelist", sa(&["/scan", "/tf.*"])),
        ("client_topic_whitelist", sa(&["(?!)"])),
    ])
    .unwrap();
    assert!(c.topic_whitelist.matches("/scan"));
    assert!(
        c.topic_whitelist.matches("/TF_static"),
        "case-insensitive like foxglove_bridge"
    );
    assert!(!c.topic_whitelist.matches("/scan2"), "whole-name match");
    assert!(!c.client_topic_whitelist.matches("/cmd_vel"));
    assert!(!c.client_topic_whitelist.matches(""));
}

#[test]
fn single_string_whitelist_is_a_one_element_list() {
    let (c, _) = load(&[("topic_whitelist", ParamValue::String("/scan".into()))]).unwrap();
    assert_eq!(c.topic_whitelist.sources(), ["/scan"]);
    assert!(!c.topic_whitelist.matches("/odom"));
}

#[test]
fn bad_regex_names_the_parameter() {
    let e = load(&[("service_whitelist", sa(&["/ok", "(unclosed"]))]).unwrap_err();
    assert!(e.to_string().contains("service_whitelist"), "{e}");
    assert!(e.to_string().contains("(unclosed"), "{e}");
    let e = load(&[("param_allowlist", sa(&["["]))]).unwrap_err();
    assert_eq!(err_param(e), "param_allowlist");
}

#[test]
fn allowlist_alias_works_and_wins() {
    let (c, w) = load(&[("topic_allowlist", sa(&["/a"]))]).unwrap();
    assert_eq!(c.topic_whitelist.sources(), ["/a"]);
    assert!(w.is_empty());
    let (c, w) = load(&[
        ("topic_whitelist", sa(&["/old"])),
        ("topic_allowlist", sa(&["/new"])),
    ])
    .unwrap();
    assert_eq!(c.topic_whitelist.sources(), ["/new"]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("topic_allowlist"));
    // The same value under both names is not worth a warning (to_params serves both).
    let (_, w) = load(&[
        ("best_effort_qos_topic_whitelist", sa(&["/x"])),
        ("best_effort_qos_topic_allowlist", sa(&["/x"])),
    ])
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn type_errors_name_the_parameter() {
    for (name, v) in [
        ("port", ParamValue::String("8765".into())),
        ("port", ParamValue::Double(8765.0)),
        ("include_hidden", ParamValue::Integer(1)),
        ("topic_whitelist", ParamValue::IntegerArray(vec![1])),
        ("address", ParamValue::Bool(true)),
    ] {
        let e = load(&[(name, v)]).unwrap_err();
        assert_eq!(err_param(e), name);
    }
}

#[test]
fn ranges_are_checked() {
    for (name, v) in [
        ("port", -1),
        ("port", 65536),
        ("min_qos_depth", 0),
        ("max_qos_depth", 0),
        ("message_backlog_size", 0),
        ("max_data_track_message_size", 1199),
        ("sysinfo_refresh_interval", 199),
        ("point_cloud_compression_quantization_bits", 31),
        ("keepalive_interval_ms", -5),
    ] {
        let e = load(&[(name, ParamValue::Integer(v))]).unwrap_err();
        assert_eq!(err_param(e), name, "{name}={v}");
    }
    assert_eq!(load(&[("port", ParamValue::Integer(0))]).unwrap().0.port, 0);
    assert_eq!(
        load(&[("port", ParamValue::Integer(65535))])
            .unwrap()
            .0
            .port,
        65535
    );
    let e = load(&[
        ("min_qos_depth", ParamValue::Integer(30)),
        ("max_qos_depth", ParamValue::Integer(20)),
    ])
    .unwrap_err();
    assert_eq!(err_param(e), "min_qos_depth");
    let e = load(&[
        ("keepalive_interval_ms", ParamValue::Integer(5000)),
        ("keepalive_timeout_ms", ParamValue::Integer(1000)),
    ])
    .unwrap_err();
    assert_eq!(err_param(e), "keepalive_timeout_ms");
    // keepalive off: any timeout is fine.
    load(&[
        ("keepalive_interval_ms", ParamValue::Integer(0)),
        ("keepalive_timeout_ms", ParamValue::Integer(1)),
    ])
    .unwrap();
}

#[test]
fn tls_needs_cert_and_key() {
    let e = load(&[("tls", ParamValue::Bool(true))]).unwrap_err();
    assert_eq!(err_param(e), "certfile");
    let (c, _) = load(&[
        ("tls", ParamValue::Bool(true)),
        ("certfile", ParamValue::String("/c.pem".into())),
        ("keyfile", ParamValue::String("/k.pem".into())),
    ])
    .unwrap();
    assert!(c.tls);
}

#[test]
fn capabilities_are_validated() {
    let (c, w) = load(&[(
        "capabilities",
        sa(&["clientPublish", "time", "assets", "assets"]),
    )])
    .unwrap();
    assert_eq!(c.capabilities, ["clientPublish", "assets"]);
    assert_eq!(w.len(), 1);
    let e = load(&[("capabilities", sa(&["teleport"]))]).unwrap_err();
    assert_eq!(err_param(e), "capabilities");
}

#[test]
fn unknown_and_ignored_parameters_warn() {
    let (_, w) = load(&[
        ("prot", ParamValue::Integer(1)),
        ("qos_overrides./tf.publisher.depth", ParamValue::Integer(1)),
        ("num_threads", ParamValue::Integer(4)),
        ("use_compression", ParamValue::Bool(true)),
    ])
    .unwrap();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w.iter().any(|s| s.contains("\"prot\"")));
    assert!(w.iter().any(|s| s.contains("num_threads")));
    assert!(w.iter().any(|s| s.contains("use_compression")));
}

#[test]
fn env_fallbacks() {
    let env = |k: &str| match k {
        "FOXGLOVE_DEVICE_TOKEN" => Some("env-token".to_string()),
        "FOXGLOVE_API_URL" => Some("https://env.example".to_string()),
        _ => None,
    };
    let (c, _) = Config::from_params_with_env(&map(&[]), env).unwrap();
    assert_eq!(
        c.device_token.as_ref().map(Secret::expose),
        Some("env-token")
    );
    assert_eq!(c.foxglove_api_url, "https://env.example");
    // An empty parameter (the launch file's default) still falls back.
    let (c, _) = Config::from_params_with_env(
        &map(&[
            ("device_token", ParamValue::String(String::new())),
            ("foxglove_api_url", ParamValue::String(String::new())),
        ]),
        env,
    )
    .unwrap();
    assert_eq!(
        c.device_token.as_ref().map(Secret::expose),
        Some("env-token")
    );
    assert_eq!(c.foxglove_api_url, "https://env.example");
    // A parameter beats the environment.
    let (c, _) = Config::from_params_with_env(
        &map(&[
            ("device_token", ParamValue::String("param-token".into())),
            (
                "foxglove_api_url",
                ParamValue::String("https://p.example".into()),
            ),
        ]),
        env,
    )
    .unwrap();
    assert_eq!(
        c.device_token.as_ref().map(Secret::expose),
        Some("param-token")
    );
    assert_eq!(c.foxglove_api_url, "https://p.example");
}

#[test]
fn to_params_round_trips_and_hides_the_token() {
    let (c, _) = load(&[
        ("port", ParamValue::Integer(1234)),
        ("topic_allowlist", sa(&["/a", "/b"])),
        ("best_effort_qos_topic_whitelist", sa(&["/scan"])),
        ("device_token", ParamValue::String("secret".into())),
        ("keepalive_interval_ms", ParamValue::Integer(0)),
    ])
    .unwrap();
    let p = c.to_params();
    assert!(!p.contains_key("device_token"));
    assert_eq!(p["port"], ParamValue::Integer(1234));
    assert_eq!(p["topic_whitelist"], sa(&["/a", "/b"]));
    assert_eq!(p["topic_allowlist"], sa(&["/a", "/b"]));
    for k in p.keys() {
        assert!(
            KNOWN_PARAMS.contains(&k.as_str()) || super::record::NAMES.contains(&k.as_str()),
            "{k} not readable back"
        );
    }
    let (again, w) = load(
        &p.iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(again.to_params(), p);
    // Defaults round-trip too (this is what the node declares).
    let d = Config::default().to_params();
    let (again, _) = load(
        &d.iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(again.to_params(), d);
}

#[test]
fn every_known_param_is_served() {
    let p = Config::default().to_params();
    for k in KNOWN_PARAMS {
        if *k != "device_token" {
            assert!(p.contains_key(*k), "{k} missing from to_params");
        }
    }
}
