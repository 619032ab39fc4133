//! The schema parsers see text from viewers (client advertisements): random input must give an
//! error or a result, never a panic.

use foxglove_gateway::schema::{parse_ros2idl, parse_ros2msg, SEPARATOR};
use proptest::prelude::*;

/// Lines built from the tokens the grammar cares about, so the fuzzing reaches deep states.
fn msg_line() -> impl Strategy<Value = String> {
    let ty = prop_oneof![
        Just("int32".to_string()),
        Just("string<=3".to_string()),
        Just("uint8[<=2]".to_string()),
        Just("float64[3]".to_string()),
        Just("bool[]".to_string()),
        Just("Foo".to_string()),
        Just("pkg/Bar".to_string()),
        Just("pkg/msg/Baz[]".to_string()),
        "[a-z/<=\\[\\]0-9]{0,12}",
    ];
    let name = prop_oneof![
        Just("x".to_string()),
        Just("FOO".to_string()),
        "[A-Za-z_0-9]{0,6}"
    ];
    let rest = prop_oneof![
        Just(String::new()),
        Just("=1".to_string()),
        Just(" 5".to_string()),
        Just(" [1, 2]".to_string()),
        Just(" \"a#b\"".to_string()),
        Just(" # c".to_string()),
        "[ =\\[\\],'\"#\\\\a-z0-9.-]{0,12}",
    ];
    (ty, name, rest).prop_map(|(t, n, r)| format!("{t} {n}{r}"))
}

fn msg_text() -> impl Strategy<Value = String> {
    let section = || prop::collection::vec(msg_line(), 0..6).prop_map(|l| l.join("\n"));
    let header = prop_oneof![
        Just("MSG: pkg/Foo".to_string()),
        Just("MSG: pkg/msg/Bar".to_string()),
        Just("MSG: pkg/Baz".to_string()),
        "MSG: [a-zA-Z/]{0,10}",
        "[a-z ]{0,5}",
    ];
    (section(), prop::collection::vec((header, section()), 0..4)).prop_map(|(root, deps)| {
        let mut text = root;
        for (h, s) in deps {
            text.push_str(&format!("\n{SEPARATOR}\n{h}\n{s}"));
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn ros2msg_never_panics_on_structured_text(text in msg_text()) {
        let _ = parse_ros2msg("pkg/msg/Root", &text);
    }

    #[test]
    fn ros2msg_never_panics_on_any_text(text in "\\PC{0,300}", name in "\\PC{0,20}") {
        let _ = parse_ros2msg(&name, &text);
        let _ = parse_ros2msg("pkg/msg/Root", &text);
    }

    #[test]
    fn ros2idl_never_panics(text in "[a-zA-Z0-9_:;{}<>()\\[\\],=@\"#/*\\n -]{0,300}") {
        let _ = parse_ros2idl("pkg/msg/Root", &text);
        let wrapped = format!("{SEPARATOR}\nIDL: pkg/msg/Root\nmodule pkg {{ module msg {{ {text} }}; }};");
        let _ = parse_ros2idl("pkg/msg/Root", &wrapped);
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    // 10 000 sections, each referring to the next: hostile, must be an error.
    let mut text = String::from("pkg/T0 next\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "{SEPARATOR}\nMSG: pkg/T{i}\npkg/T{} next\n",
            i + 1
        ));
    }
    let err = parse_ros2msg("pkg/msg/Root", &text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nest deeper"), "{err}");
    let modules = "module a { ".repeat(10_000);
    let err = parse_ros2idl("pkg/msg/Root", &modules)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nest too deeply"), "{err}");
}
