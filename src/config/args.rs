//! Keeping ROS's arguments away from our own command-line parser.
//!
//! `ros2 run` and `ros2 launch` append `--ros-args -r __node:=... --params-file ...` to argv.
//! rcl reads those itself (the ROS backend hands it the full argv); our parser must not see them.

use std::ffi::{OsStr, OsString};

/// Drop every `--ros-args` block: from `--ros-args` up to and including a lone `--`, or to the end.
/// There may be several blocks; arguments between and after them are kept in order.
pub fn strip_ros_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut in_ros_block = false;
    for arg in args {
        if in_ros_block {
            if arg == OsStr::new("--") {
                in_ros_block = false;
            }
        } else if arg == OsStr::new("--ros-args") {
            in_ros_block = true;
        } else {
            out.push(arg);
        }
    }
    out
}

/// The parameters the `--ros-args` blocks of `args` give node `node_name`: every
/// `--params-file FILE` (in order) and every `-p`/`--param NAME:=VALUE` (the value typed as YAML,
/// as rcl does), later ones winning. Used before any ROS node exists: `play:=FILE` from a launch
/// file selects playback, which needs no ROS.
pub fn ros_args_params(
    args: impl IntoIterator<Item = OsString>,
    node_name: &str,
) -> Result<std::collections::BTreeMap<String, super::ParamValue>, super::ConfigError> {
    let mut out = std::collections::BTreeMap::new();
    let mut in_ros_block = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if !in_ros_block {
            in_ros_block = arg == OsStr::new("--ros-args");
            continue;
        }
        if arg == OsStr::new("--") {
            in_ros_block = false;
        } else if arg == OsStr::new("--params-file") {
            if let Some(f) = args.next() {
                out.extend(super::load_params_file(
                    std::path::Path::new(&f),
                    node_name,
                )?);
            }
        } else if arg == OsStr::new("-p") || arg == OsStr::new("--param") {
            let Some(p) = args.next() else { continue };
            let p = p.to_string_lossy();
            let Some((name, value)) = p.split_once(":=") else {
                continue;
            };
            if value.contains('\n') {
                continue;
            }
            let yaml = format!("/**:\n  ros__parameters:\n    {name}: {value}\n");
            let parsed = super::file::parse_params_yaml(&yaml, node_name).map_err(|reason| {
                super::ConfigError::BadValue {
                    param: name.to_string(),
                    reason,
                }
            })?;
            out.extend(parsed);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ros_args_give_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.yaml");
        std::fs::write(
            &f,
            "/**:\n  ros__parameters:\n    play: /a.mcap\n    port: 9000\n",
        )
        .unwrap();
        let args: Vec<OsString> = [
            "gw",
            "--play-not-ros",
            "--ros-args",
            "-r",
            "__node:=foxglove_gateway",
            "--params-file",
            f.to_str().unwrap(),
            "-p",
            "port:=9001",
            "--",
            "-p",
            "ignored:=1",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let p = ros_args_params(args, "foxglove_gateway").unwrap();
        assert_eq!(
            p["play"],
            super::super::ParamValue::String("/a.mcap".into())
        );
        assert_eq!(p["port"], super::super::ParamValue::Integer(9001));
        assert!(!p.contains_key("ignored"));
        assert!(ros_args_params(Vec::<OsString>::new(), "n")
            .unwrap()
            .is_empty());
    }

    fn strip(args: &[&str]) -> Vec<String> {
        strip_ros_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn nothing_to_strip() {
        assert_eq!(strip(&["gw", "--port", "1"]), ["gw", "--port", "1"]);
        assert!(strip(&[]).is_empty());
    }

    #[test]
    fn block_to_the_end() {
        assert_eq!(
            strip(&[
                "gw",
                "--port",
                "1",
                "--ros-args",
                "-r",
                "__node:=x",
                "--params-file",
                "/f"
            ]),
            ["gw", "--port", "1"]
        );
    }

    #[test]
    fn block_ended_by_lone_double_dash() {
        assert_eq!(
            strip(&[
                "gw",
                "--ros-args",
                "-p",
                "port:=1",
                "--",
                "--address",
                "::1"
            ]),
            ["gw", "--address", "::1"]
        );
    }

    #[test]
    fn several_blocks() {
        assert_eq!(
            strip(&[
                "gw",
                "a",
                "--ros-args",
                "-r",
                "x:=y",
                "--",
                "b",
                "--ros-args",
                "--log-level",
                "debug",
                "--",
                "c",
                "--ros-args",
            ]),
            ["gw", "a", "b", "c"]
        );
    }

    #[test]
    fn double_dash_outside_a_block_is_kept() {
        assert_eq!(strip(&["gw", "--", "--ros-args", "x"]), ["gw", "--"]);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments_survive() {
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(vec![0x66, 0xff]);
        let out = strip_ros_args(vec![OsString::from("gw"), odd.clone()]);
        assert_eq!(out, vec![OsString::from("gw"), odd]);
    }
}
