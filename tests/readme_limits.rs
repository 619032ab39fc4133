//! README "Limits" against the code: every bound with a parameter shows that parameter's
//! default, and every test it names exists.

use std::collections::BTreeMap;

use foxglove_gateway::config::{Config, ParamValue};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The rows of the Limits table: cells, trimmed.
fn rows() -> Vec<Vec<String>> {
    let text = readme();
    let section = text
        .split("\n## Limits\n")
        .nth(1)
        .expect("a Limits section")
        .split("\n## ")
        .next()
        .unwrap()
        .to_string();
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| ---") && !l.starts_with("| what"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn defaults_in_the_table_are_the_code_s() {
    let defaults: BTreeMap<String, ParamValue> = Config::default().to_params();
    // (parameter, how the README writes its default, the default in the parameter's unit).
    let expected: &[(&str, &str, i64)] = &[
        ("max_connections", "100", 100),
        ("handshake_timeout_ms", "10 s", 10_000),
        ("max_incoming_message_size", "16 MiB", 16 << 20),
        ("message_backlog_size", "1024", 1024),
        ("client_publish_queue_size", "10 per client channel", 10),
        ("max_client_channels", "64", 64),
        ("max_parameter_subscriptions", "10,000", 10_000),
        ("asset_buffer_limit", "64 MiB all viewers", 64 << 20),
    ];
    let rows = rows();
    assert!(rows.len() >= 20, "{} rows", rows.len());
    for (param, text, value) in expected {
        assert_eq!(
            defaults.get(*param),
            Some(&ParamValue::Integer(*value)),
            "{param}"
        );
        let row = rows
            .iter()
            .find(|r| r[2].contains(&format!("`{param}`")))
            .unwrap_or_else(|| panic!("no row for {param}"));
        assert!(
            row[1].starts_with(text),
            "{param}: README says {:?}",
            row[1]
        );
    }
    // send_buffer_limit appears as the byte bound of the data queue.
    assert_eq!(
        defaults.get("send_buffer_limit"),
        Some(&ParamValue::Integer(10_000_000))
    );
    // Every parameter named in the table is a real parameter.
    for row in &rows {
        for param in row[2].split('`').skip(1).step_by(2) {
            assert!(defaults.contains_key(param), "unknown parameter {param}");
        }
    }
}

#[test]
fn every_test_the_table_names_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for row in rows() {
        for name in row[4].split('`').skip(1).step_by(2) {
            let exists = if let Some(module) = name.split("::").nth(1) {
                let dir = root.join("src").join(name.split("::").next().unwrap());
                dir.join(format!("{module}.rs")).is_file() || dir.join(module).is_dir()
            } else {
                root.join("tests").join(format!("{name}.rs")).is_file()
            };
            assert!(exists, "{name} (row {:?})", row[0]);
        }
    }
}
