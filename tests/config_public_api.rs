//! The configuration API as `main` uses it without ROS: filter argv, read a params file, build
//! the validated config; and what a bad file looks like to the user.

use std::ffi::OsString;

use foxglove_gateway::config::{load_params_file, strip_ros_args, Config, ConfigError, ParamValue};

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("params.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn launch_style_argv_and_params_file() {
    let argv: Vec<OsString> = [
        "foxglove_gateway",
        "--params-file",
        "x.yaml",
        "--ros-args",
        "-r",
        "__node:=foxglove_gateway",
        "--params-file",
        "/tmp/launch_params_1234",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    assert_eq!(
        strip_ros_args(argv),
        ["foxglove_gateway", "--params-file", "x.yaml"].map(OsString::from)
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "/**:\n  ros__parameters:\n    port: 9001\n    topic_allowlist: ['/scan', '/tf.*']\n\
         /foxglove_gateway:\n  ros__parameters:\n    client_topic_whitelist: ['(?!)']\n",
    );
    let params = load_params_file(&path, "foxglove_gateway").unwrap();
    let (config, warnings) = Config::from_params_with_env(&params, |_| None).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.port, 9001);
    assert!(config.topic_whitelist.matches("/tf_static"));
    assert!(!config.topic_whitelist.matches("/odom"));
    assert!(!config.client_topic_whitelist.matches("/cmd_vel"));
    assert_eq!(
        config.to_params()["client_topic_allowlist"],
        ParamValue::StringArray(vec!["(?!)".into()])
    );
}

#[test]
fn a_bad_value_names_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "/**:\n  ros__parameters:\n    topic_whitelist: ['/ok', '*bad']\n",
    );
    let params = load_params_file(&path, "foxglove_gateway").unwrap();
    let err = Config::from_params_with_env(&params, |_| None).unwrap_err();
    assert!(matches!(err, ConfigError::BadRegex { ref param, .. } if param == "topic_whitelist"));
    assert!(err
        .to_string()
        .starts_with("parameter topic_whitelist: invalid regular expression"));

    let path = write(&dir, "/**:\n  ros__parameters:\n    max_qos_depth: 0\n");
    let params = load_params_file(&path, "foxglove_gateway").unwrap();
    let err = Config::from_params_with_env(&params, |_| None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter max_qos_depth: 0 is outside 1..=4294967295"
    );

    let path = write(&dir, "/**:\n  ros__parameters: [oops\n");
    let err = load_params_file(&path, "foxglove_gateway").unwrap_err();
    assert!(matches!(err, ConfigError::ParamsFile { .. }), "{err}");
}
