//! Pure helpers for the ROS thread: building and diffing graph snapshots, leaving the gateway's
//! own endpoints out, and decoding `/clock`. No ROS here, so all of it is unit-tested without
//! ROS.

use std::collections::HashMap;

use super::{GraphSnapshot, PublisherInfo, Qos, TopicInfo};

/// True for names ROS treats as hidden: a leading `_` or any component starting with `_`
/// (`/_private`, `/fibonacci/_action/feedback`), the rule foxglove_bridge uses.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.contains("/_")
}

/// One publisher as the graph reports it, before it is sorted into a [`TopicInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The type this publisher uses (`pkg/msg/Type`).
    pub type_name: String,
    /// Node and QoS.
    pub info: PublisherInfo,
}

/// Build a sorted snapshot from `get_topic_names_and_types` output, asking `publishers_of` once
/// per kept topic. Hidden topics are dropped unless `include_hidden`. A publisher is listed under
/// the (topic, type) entry its type matches.
pub fn build_snapshot(
    names_and_types: &HashMap<String, Vec<String>>,
    include_hidden: bool,
    mut publishers_of: impl FnMut(&str) -> Vec<Endpoint>,
) -> GraphSnapshot {
    let mut topics = Vec::new();
    for (name, types) in names_and_types {
        if !include_hidden && is_hidden(name) {
            continue;
        }
        let endpoints = publishers_of(name);
        for type_name in types {
            let mut publishers: Vec<PublisherInfo> = endpoints
                .iter()
                .filter(|e| &e.type_name == type_name)
                .map(|e| e.info.clone())
                .collect();
            // Sorted so that two polls of an unchanged graph compare equal.
            publishers.sort_by_cached_key(|p| (p.node.clone(), format!("{:?}", p.qos)));
            topics.push(TopicInfo {
                name: name.clone(),
                type_name: type_name.clone(),
                publishers,
            });
        }
    }
    topics.sort_by(|a, b| (&a.name, &a.type_name).cmp(&(&b.name, &b.type_name)));
    topics.dedup();
    GraphSnapshot {
        topics,
        ..GraphSnapshot::default()
    }
}

/// The (topic, types) of the graph that some node other than `own_node` uses: a topic only the
/// gateway itself publishes or subscribes (a viewer's publisher, the gateway's own subscription
/// to a topic whose last publisher left) is not the robot's and is left out, and so is a type
/// only the gateway uses on a topic the robot also uses. `endpoints_of` gives every publisher
/// and subscription of a topic (node, type).
pub fn foreign_topics(
    names_and_types: &HashMap<String, Vec<String>>,
    own_node: &str,
    mut endpoints_of: impl FnMut(&str) -> Vec<(String, String)>,
) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for (topic, types) in names_and_types {
        let endpoints = endpoints_of(topic);
        let kept: Vec<String> = types
            .iter()
            .filter(|t| {
                endpoints
                    .iter()
                    .any(|(node, type_name)| node != own_node && type_name == *t)
            })
            .cloned()
            .collect();
        if !kept.is_empty() {
            out.insert(topic.clone(), kept);
        }
    }
    out
}

/// Sorted, deduplicated node names of some endpoints (for the node list, from `/rosout`'s
/// publishers).
pub fn node_names(endpoints: &[Endpoint]) -> Vec<String> {
    let mut nodes: Vec<String> = endpoints.iter().map(|e| e.info.node.clone()).collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// Remembers the last snapshot sent so the ROS thread only reports changes.
#[derive(Debug, Default)]
pub struct SnapshotTracker {
    last: Option<GraphSnapshot>,
}

impl SnapshotTracker {
    /// A tracker that has sent nothing yet (the first snapshot is always reported).
    pub fn new() -> Self {
        Self::default()
    }

    /// `Some(snapshot)` if it differs from the last one reported (or is the first), else `None`.
    pub fn update(&mut self, snapshot: GraphSnapshot) -> Option<GraphSnapshot> {
        if self.last.as_ref() == Some(&snapshot) {
            return None;
        }
        self.last = Some(snapshot.clone());
        Some(snapshot)
    }

    /// The QoS of every publisher of `topic` with `type_name` in the last snapshot; the fallback
    /// when asking the middleware fails.
    pub fn publisher_qos(&self, topic: &str, type_name: &str) -> Vec<Qos> {
        self.last
            .iter()
            .flat_map(|s| s.topics.iter())
            .filter(|t| t.name == topic && t.type_name == type_name)
            .flat_map(|t| t.publishers.iter().map(|p| p.qos))
            .collect()
    }
}

/// The time in a serialized `rosgraph_msgs/msg/Clock` (CDR with its 4-byte encapsulation header:
/// `builtin_interfaces/Time { int32 sec; uint32 nanosec }`), in nanoseconds. `None` for anything
/// malformed or negative; the bytes come from the network.
pub fn clock_from_cdr(payload: &[u8]) -> Option<u64> {
    let header = payload.get(..4)?;
    let little_endian = match header.get(1)? {
        0x00 | 0x02 => false, // CDR_BE, PL_CDR_BE
        0x01 | 0x03 => true,  // CDR_LE, PL_CDR_LE
        _ => return None,
    };
    let sec: [u8; 4] = payload.get(4..8)?.try_into().ok()?;
    let nsec: [u8; 4] = payload.get(8..12)?.try_into().ok()?;
    let (sec, nsec) = if little_endian {
        (i32::from_le_bytes(sec), u32::from_le_bytes(nsec))
    } else {
        (i32::from_be_bytes(sec), u32::from_be_bytes(nsec))
    };
    let sec = u64::try_from(sec).ok()?;
    sec.checked_mul(1_000_000_000)?.checked_add(u64::from(nsec))
}

/// Why a payload from a viewer is not a plain CDR message, if it is not: at least the 4-byte
/// encapsulation header, CDR big- or little-endian (`00 00` / `00 01`). Serialized messages are
/// published unchecked, and every subscriber would have to reject them instead.
pub fn cdr_payload_problem(payload: &[u8]) -> Option<String> {
    match payload {
        [0x00, 0x00 | 0x01, _, _, ..] => None,
        [a, b, _, _, ..] => Some(format!(
            "unsupported CDR encapsulation {a:#04x} {b:#04x} (expected 00 00 or 00 01)"
        )),
        _ => Some(format!(
            "{} bytes is shorter than the 4-byte CDR header",
            payload.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::{Durability, Reliability};

    fn ep(type_name: &str, node: &str, depth: u32) -> Endpoint {
        Endpoint {
            type_name: type_name.into(),
            info: PublisherInfo {
                node: node.into(),
                qos: Qos {
                    reliability: Reliability::Reliable,
                    durability: Durability::Volatile,
                    depth,
                },
            },
        }
    }

    fn graph(entries: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        entries
            .iter()
            .map(|(n, ts)| (n.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn hidden_names() {
        assert!(is_hidden("_x"));
        assert!(is_hidden("/_x"));
        assert!(is_hidden("/fib/_action/feedback"));
        assert!(!is_hidden("/a_b"));
        assert!(!is_hidden("/scan"));
    }

    #[test]
    fn snapshot_is_sorted_filtered_and_split_by_type() {
        let g = graph(&[
            ("/z", &["std_msgs/msg/String"]),
            ("/a", &["std_msgs/msg/String", "std_msgs/msg/Int32"]),
            ("/fib/_action/status", &["action_msgs/msg/GoalStatusArray"]),
        ]);
        let mut asked = Vec::new();
        let s = build_snapshot(&g, false, |t| {
            asked.push(t.to_string());
            vec![
                ep("std_msgs/msg/String", "/n2", 5),
                ep("std_msgs/msg/String", "/n1", 1),
                ep("std_msgs/msg/Int32", "/n3", 7),
            ]
        });
        let keys: Vec<_> = s
            .topics
            .iter()
            .map(|t| (t.name.as_str(), t.type_name.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("/a", "std_msgs/msg/Int32"),
                ("/a", "std_msgs/msg/String"),
                ("/z", "std_msgs/msg/String")
            ]
        );
        assert!(
            !asked.iter().any(|t| t.contains("_action")),
            "hidden topics are not queried"
        );
        let nodes: Vec<_> = s.topics[1]
            .publishers
            .iter()
            .map(|p| p.node.as_str())
            .collect();
        assert_eq!(nodes, ["/n1", "/n2"]);
        assert_eq!(s.topics[0].publishers.len(), 1);

        let s = build_snapshot(&g, true, |_| vec![]);
        assert_eq!(s.topics.len(), 4);
        assert!(s.topics.iter().all(|t| t.publishers.is_empty()));
    }

    #[test]
    fn tracker_reports_first_and_changes_only() {
        let g = graph(&[("/a", &["t/msg/T"])]);
        let mut tr = SnapshotTracker::new();
        let s1 = build_snapshot(&g, false, |_| vec![ep("t/msg/T", "/n", 1)]);
        assert!(
            tr.update(s1.clone()).is_some(),
            "first snapshot is reported"
        );
        // Same graph, publishers listed in another order: no change.
        let s1b = build_snapshot(&g, false, |_| vec![ep("t/msg/T", "/n", 1)]);
        assert!(tr.update(s1b).is_none());
        // A publisher's QoS changed: reported.
        let s2 = build_snapshot(&g, false, |_| vec![ep("t/msg/T", "/n", 2)]);
        assert_eq!(tr.update(s2.clone()), Some(s2));
        assert_eq!(tr.publisher_qos("/a", "t/msg/T").len(), 1);
        assert!(tr.publisher_qos("/a", "other/msg/T").is_empty());
        // Topic gone: reported.
        assert!(tr.update(GraphSnapshot::default()).is_some());
        assert!(tr.update(GraphSnapshot::default()).is_none());
    }

    #[test]
    fn clock_decoding() {
        let mut le = vec![0x00, 0x01, 0x00, 0x00];
        le.extend_from_slice(&12i32.to_le_bytes());
        le.extend_from_slice(&345u32.to_le_bytes());
        assert_eq!(clock_from_cdr(&le), Some(12_000_000_345));
        let mut be = vec![0x00, 0x00, 0x00, 0x00];
        be.extend_from_slice(&12i32.to_be_bytes());
        be.extend_from_slice(&345u32.to_be_bytes());
        assert_eq!(clock_from_cdr(&be), Some(12_000_000_345));
        assert_eq!(clock_from_cdr(&le[..11]), None, "truncated");
        assert_eq!(clock_from_cdr(&[]), None);
        let mut neg = vec![0x00, 0x01, 0x00, 0x00];
        neg.extend_from_slice(&(-1i32).to_le_bytes());
        neg.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(clock_from_cdr(&neg), None);
        let mut bad = le.clone();
        bad[1] = 0x7f;
        assert_eq!(clock_from_cdr(&bad), None);
    }

    #[test]
    fn cdr_payload_checks() {
        assert_eq!(cdr_payload_problem(&[0, 1, 0, 0]), None);
        assert_eq!(cdr_payload_problem(&[0, 0, 0, 0, 1, 2, 3]), None);
        assert!(cdr_payload_problem(&[]).is_some());
        assert!(cdr_payload_problem(&[0, 1, 0]).is_some());
        assert!(
            cdr_payload_problem(&[0, 3, 0, 0]).is_some(),
            "PL_CDR is not a plain message"
        );
        assert!(
            cdr_payload_problem(b"{\"a\":1}").is_some(),
            "JSON must be converted first"
        );
    }

    #[test]
    fn own_endpoints_do_not_make_a_topic() {
        let g = graph(&[
            ("/ours_only", &["std_msgs/msg/String"]),
            ("/shared", &["std_msgs/msg/String", "std_msgs/msg/Int32"]),
            ("/robot_sub_only", &["geometry_msgs/msg/Twist"]),
        ]);
        let own = "/foxglove_gateway";
        let f = foreign_topics(&g, own, |t| match t {
            "/ours_only" => vec![(own.into(), "std_msgs/msg/String".into())],
            "/shared" => vec![
                ("/talker".into(), "std_msgs/msg/String".into()),
                (own.into(), "std_msgs/msg/Int32".into()),
            ],
            "/robot_sub_only" => vec![("/base".into(), "geometry_msgs/msg/Twist".into())],
            _ => vec![],
        });
        assert!(!f.contains_key("/ours_only"), "only the gateway uses it");
        assert_eq!(
            f["/shared"],
            ["std_msgs/msg/String"],
            "our type is left out"
        );
        assert_eq!(
            f["/robot_sub_only"],
            ["geometry_msgs/msg/Twist"],
            "subscribers count"
        );
    }

    #[test]
    fn node_names_are_sorted_and_unique() {
        let eps = [
            ep("rcl_interfaces/msg/Log", "/b", 1),
            ep("rcl_interfaces/msg/Log", "/a", 1),
            ep("rcl_interfaces/msg/Log", "/b", 1),
        ];
        assert_eq!(node_names(&eps), ["/a", "/b"]);
    }
}
