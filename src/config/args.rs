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

#[cfg(test)]
mod tests {
    use super::*;

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
