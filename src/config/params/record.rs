//! The recording parameters (black box, continuous recording, data backend, playback).

use std::collections::BTreeMap;

use super::{bad, int_of, to_usize, Reader};
use crate::config::{Config, ConfigError, ParamValue};

/// Every recording parameter name.
pub(super) const NAMES: &[&str] = &[
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
];

/// Longest black box window accepted (a day): the memory bound is `blackbox_max_bytes` anyway,
/// this only catches unit mistakes (milliseconds given as seconds).
const MAX_BLACKBOX_SECONDS: i64 = 86_400;

pub(super) fn read(r: &Reader, c: &mut Config) -> Result<(), ConfigError> {
    if let Some(s) = r.string("recordings_dir")? {
        c.recordings_dir = s;
    }
    if let Some(v) = r.int("blackbox_seconds", 0, MAX_BLACKBOX_SECONDS)? {
        c.blackbox_seconds = v as u64; // in range by the check above
    }
    if let Some(v) = r.int("blackbox_max_bytes", 1, i64::MAX)? {
        c.blackbox_max_bytes = to_usize("blackbox_max_bytes", v)?;
    }
    r.patterns("blackbox_topic_whitelist", &mut c.blackbox_topic_whitelist)?;
    r.bool("record", &mut c.record)?;
    if let Some(v) = r.int("record_max_file_bytes", 0, i64::MAX)? {
        c.record_max_file_bytes = v as u64;
    }
    if let Some(v) = r.int("record_max_file_seconds", 0, i64::MAX)? {
        c.record_max_file_seconds = v as u64;
    }
    r.bool("data_backend", &mut c.data_backend)?;
    if let Some(a) = r.string("data_backend_address")? {
        if a.is_empty() {
            return Err(bad(
                "data_backend_address",
                "must not be empty (use 0.0.0.0 for all interfaces)",
            ));
        }
        c.data_backend_address = a;
    }
    if let Some(p) = r.int("data_backend_port", 0, 65535)? {
        c.data_backend_port = p as u16;
    }
    if let Some(s) = r.string("play")? {
        c.play = s;
    }
    Ok(())
}

pub(super) fn put(c: &Config, m: &mut BTreeMap<String, ParamValue>) {
    let mut put = |k: &str, v: ParamValue| {
        m.insert(k.to_string(), v);
    };
    put(
        "recordings_dir",
        ParamValue::String(c.recordings_dir.clone()),
    );
    put("blackbox_seconds", int_of(c.blackbox_seconds));
    put("blackbox_max_bytes", int_of(c.blackbox_max_bytes));
    put(
        "blackbox_topic_whitelist",
        ParamValue::StringArray(c.blackbox_topic_whitelist.sources().to_vec()),
    );
    put("record", ParamValue::Bool(c.record));
    put("record_max_file_bytes", int_of(c.record_max_file_bytes));
    put("record_max_file_seconds", int_of(c.record_max_file_seconds));
    put("data_backend", ParamValue::Bool(c.data_backend));
    put(
        "data_backend_address",
        ParamValue::String(c.data_backend_address.clone()),
    );
    put(
        "data_backend_port",
        ParamValue::Integer(i64::from(c.data_backend_port)),
    );
    put("play", ParamValue::String(c.play.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, ParamValue)]) -> Result<Config, ConfigError> {
        let m: BTreeMap<String, ParamValue> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Config::from_params_with_env(&m, |_| None).map(|(c, w)| {
            assert!(w.is_empty(), "{w:?}");
            c
        })
    }

    #[test]
    fn recording_params_round_trip() {
        let c = load(&[
            ("blackbox_seconds", ParamValue::Integer(60)),
            ("blackbox_max_bytes", ParamValue::Integer(1000)),
            (
                "blackbox_topic_whitelist",
                ParamValue::StringArray(vec!["/odom".into()]),
            ),
            ("record", ParamValue::Bool(true)),
            ("data_backend_port", ParamValue::Integer(9000)),
            ("recordings_dir", ParamValue::String("/tmp/r".into())),
        ])
        .unwrap();
        assert_eq!(c.blackbox_seconds, 60);
        assert_eq!(c.blackbox_max_bytes, 1000);
        assert!(c.blackbox_topic_whitelist.matches("/odom"));
        assert!(!c.blackbox_topic_whitelist.matches("/scan"));
        assert!(c.record);
        let back = Config::from_params_with_env(&c.to_params(), |_| None)
            .unwrap()
            .0;
        assert_eq!(back.to_params(), c.to_params());
    }

    #[test]
    fn recording_params_are_checked() {
        assert!(load(&[("blackbox_seconds", ParamValue::Integer(-1))]).is_err());
        assert!(load(&[("blackbox_seconds", ParamValue::Integer(86_401))]).is_err());
        assert!(load(&[("blackbox_max_bytes", ParamValue::Integer(0))]).is_err());
        assert!(load(&[("data_backend_address", ParamValue::String(String::new()))]).is_err());
        assert!(load(&[("data_backend_port", ParamValue::Integer(70000))]).is_err());
        assert!(load(&[(
            "blackbox_topic_whitelist",
            ParamValue::StringArray(vec!["(".into()])
        )])
        .is_err());
    }
}
