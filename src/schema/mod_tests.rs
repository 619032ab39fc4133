use super::*;

#[test]
fn viewer_text_with_long_names_and_crlf() {
    let text = "std_msgs/msg/Header header\r\nPoint p\r\n\
        ================================================================================\r\n\
        MSG: std_msgs/msg/Header\r\nbuiltin_interfaces/msg/Time stamp\r\nstring frame_id\r\n\
        ================================================================================\r\n\
        MSG: builtin_interfaces/msg/Time\r\nint32 sec\r\nuint32 nanosec\r\n\
        ================================================================================\r\n\
        MSG: my_pkg/Point\r\nfloat64 x\r\n";
    let s = parse_ros2msg("my_pkg/Stamped", text).unwrap();
    assert_eq!(s.name, "my_pkg/msg/Stamped");
    assert_eq!(s.text, text, "the text is kept as sent");
    let keys: Vec<&str> = s.definitions.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "builtin_interfaces/msg/Time",
            "my_pkg/msg/Point",
            "my_pkg/msg/Stamped",
            "std_msgs/msg/Header",
        ]
    );
    assert_eq!(s.get("my_pkg/msg/Point").unwrap().fields[0].name, "x");
}

#[test]
fn viewer_text_errors() {
    // A dependency the text does not define.
    match parse_ros2msg("a/msg/T", "b/Missing m\n") {
        Err(SchemaError::NotFound { name, .. }) => assert_eq!(name, "b/msg/Missing"),
        other => panic!("{other:?}"),
    }
    // A separator without a MSG: line.
    let text = format!("int32 a\n{SEPARATOR}\nint32 b\n");
    match parse_ros2msg("a/msg/T", &text) {
        Err(SchemaError::Parse { line, message, .. }) => {
            assert_eq!(line, 3);
            assert!(message.contains("MSG:"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A bad header, and a bad line inside a section: the line counts from the top of the text.
    let text = format!("a/X x\n{SEPARATOR}\nMSG: not a type\nint32 y\n");
    assert!(matches!(
        parse_ros2msg("a/msg/T", &text),
        Err(SchemaError::Parse { .. })
    ));
    let text = format!("a/X x\n{SEPARATOR}\nMSG: a/X\nint32 y\nint32 Bad\n");
    match parse_ros2msg("a/msg/T", &text) {
        Err(SchemaError::Parse { name, line, .. }) => {
            assert_eq!((name.as_str(), line), ("a/msg/X", 5))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_ros2msg("T", "int32 a\n"),
        Err(SchemaError::InvalidTypeName(_))
    ));
}

#[test]
fn bare_header_falls_back_to_std_msgs_in_viewer_text() {
    let text = format!("Header header\n{SEPARATOR}\nMSG: std_msgs/Header\nstring frame_id\n");
    let s = parse_ros2msg("my_pkg/msg/T", &text).unwrap();
    assert_eq!(
        s.root().fields[0].base,
        BaseType::Message("my_pkg/msg/Header".into()),
        "the field keeps its ROS 2 meaning"
    );
    assert_eq!(
        s.get("my_pkg/msg/Header").unwrap().name,
        "std_msgs/msg/Header"
    );
}

#[test]
fn ros2idl_text_round_trip() {
    let text = format!(
        "{SEPARATOR}\nIDL: a/msg/T\nmodule a {{ module msg {{ struct T {{ a::msg::U u; }}; }}; }};\n\
         {SEPARATOR}\nIDL: a/msg/U\nmodule a {{ module msg {{ struct U {{ sequence<int32> v; }}; }}; }};\n"
    );
    let s = parse_ros2idl("a/msg/T", &text).unwrap();
    assert_eq!(s.encoding, SchemaEncoding::Ros2Idl);
    assert_eq!(
        s.get("a/msg/U").unwrap().fields[0].array,
        ArrayKind::Unbounded
    );
    assert!(matches!(
        parse_ros2idl("a/msg/Other", &text),
        Err(SchemaError::NotFound { .. })
    ));
}

#[test]
fn the_store_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<SchemaStore>();
    shared::<ResolvedSchema>();
    let store = Arc::new(SchemaStore::new(vec![std::path::Path::new(env!(
        "CARGO_MANIFEST_DIR"
    ))
    .join("interfaces")]));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || store.message("nav_msgs/msg/Odometry").unwrap())
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results
        .windows(2)
        .all(|w| w[0].definitions == w[1].definitions));
    // Odometry, Header, Time, PoseWithCovariance, Pose, Point, Quaternion,
    // TwistWithCovariance, Twist, Vector3.
    assert_eq!(results[0].definitions.len(), 10);
}
