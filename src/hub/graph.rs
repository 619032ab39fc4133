//! Channels follow the ROS graph.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{missing_status, ChannelInfo, Control, Hub, State, MISSING_STATUS_ID};
use crate::protocol::server;
use crate::ros::{Durability, GraphSnapshot, RosCommand, TopicInfo};
use crate::schema::ResolvedSchema;

type Key = (String, String);

/// Ids of channels that went away, remembered so that a topic coming back keeps its id; the
/// oldest are forgotten beyond this many.
pub(super) const RETIRED_IDS_KEPT: usize = 1024;

impl Hub {
    /// Bring the channels in line with a graph snapshot: advertise new (topic, type) pairs that
    /// pass `topic_whitelist` and have a definition, unadvertise vanished ones.
    pub fn apply_graph(&self, snapshot: &GraphSnapshot) {
        let wanted: BTreeMap<Key, &TopicInfo> = snapshot
            .topics
            .iter()
            .filter(|t| self.config.topic_whitelist.matches(&t.name))
            .map(|t| ((t.name.clone(), t.type_name.clone()), t))
            .collect();

        // Resolve definitions for new pairs without holding the lock (file I/O).
        let new_keys: Vec<Key> = {
            let state = self.state.lock();
            wanted
                .keys()
                .filter(|k| !state.by_key.contains_key(*k))
                .cloned()
                .collect()
        };
        let resolved: Vec<(Key, Result<Arc<ResolvedSchema>, String>)> = new_keys
            .into_iter()
            .map(|k| {
                let r = self.schemas.message(&k.1).map_err(|e| e.to_string());
                (k, r)
            })
            .collect();

        let mut state = self.state.lock();
        let missing_before = state.missing.clone();

        // Vanished channels.
        let gone: Vec<(Key, u64)> = state
            .by_key
            .iter()
            .filter(|(k, _)| !wanted.contains_key(*k))
            .map(|(k, id)| (k.clone(), *id))
            .collect();
        let mut removed = Vec::new();
        for (key, id) in gone {
            self.remove_channel(&mut state, &key, id);
            removed.push(id);
        }
        state.missing.retain(|k, _| wanted.contains_key(k));

        // New channels.
        let mut added = Vec::new();
        for (key, result) in resolved {
            match result {
                Ok(schema) => {
                    state.missing.remove(&key);
                    let id = match state.known_ids.get(&key) {
                        Some((id, text)) if *text == schema.text => *id,
                        _ => {
                            let id = state.next_channel_id;
                            state.next_channel_id += 1;
                            id
                        }
                    };
                    state
                        .known_ids
                        .insert(key.clone(), (id, schema.text.clone()));
                    let reliable = wanted.get(&key).is_some_and(|t| reliable_latched(t));
                    let info = Arc::new(channel_info(id, &key, schema, reliable));
                    state.by_key.insert(key, id);
                    state.channels.insert(id, info.clone());
                    added.push(info);
                }
                Err(reason) => {
                    if !state.missing.contains_key(&key) {
                        tracing::warn!(topic = %key.0, type_name = %key.1, %reason,
                            "topic not advertised: no message definition");
                    }
                    state.missing.insert(key, reason);
                }
            }
        }

        // Replay depth for transient-local channels follows the publishers.
        for (key, topic) in &wanted {
            if let Some(&id) = state.by_key.get(key) {
                let depth = latch_depth(topic, self.config.max_qos_depth as usize);
                let old = state.latch_depth.insert(id, depth).unwrap_or(0);
                if old != depth && state.subs.contains_key(&id) {
                    self.update_route(&state, id, None);
                }
            }
        }

        if !removed.is_empty() {
            tracing::info!(channels = ?removed, "unadvertised");
            self.broadcast(&state, Control::Unadvertise(removed));
        }
        for info in &added {
            self.record_channel(&mut state, info);
        }
        if !added.is_empty() {
            tracing::info!(count = added.len(), "advertised channels");
            self.broadcast(&state, Control::Advertise(added));
        }
        if state.missing != missing_before {
            match missing_status(&state.missing) {
                Some(msg) => self.broadcast(&state, msg),
                None => self.broadcast(
                    &state,
                    Control::RemoveStatus(vec![MISSING_STATUS_ID.to_string()]),
                ),
            }
        }
    }

    /// Remove a channel: its viewers' subscriptions end (they are told by the unadvertise) and
    /// its ROS subscription is released.
    fn remove_channel(&self, state: &mut State, key: &Key, id: u64) {
        state.by_key.remove(key);
        state.retired.push_back(key.clone());
        while state.retired.len() > RETIRED_IDS_KEPT {
            if let Some(old) = state.retired.pop_front() {
                if !state.by_key.contains_key(&old) && !state.retired.contains(&old) {
                    state.known_ids.remove(&old);
                }
            }
        }
        state.channels.remove(&id);
        state.latch_depth.remove(&id);
        if let Some(subs) = state.subs.remove(&id) {
            for (client, wire) in subs.subscribers {
                if let Some(c) = state.clients.get_mut(&client) {
                    c.subs.remove(&wire);
                    c.sub_by_channel.remove(&id);
                    c.outbox.purge_channel(id);
                }
            }
            self.ros.send(RosCommand::Unsubscribe { key: id });
        }
        self.channel_unrecorded(id);
        self.update_route(state, id, None);
    }
}

fn channel_info(id: u64, key: &Key, schema: Arc<ResolvedSchema>, reliable: bool) -> ChannelInfo {
    let advert = server::Channel {
        id,
        topic: key.0.clone(),
        encoding: "cdr".into(),
        schema_name: key.1.clone(),
        schema_encoding: Some(schema.encoding.as_str().to_string()),
        schema: schema.text.clone(),
        metadata: BTreeMap::new(),
    };
    ChannelInfo {
        id,
        topic: key.0.as_str().into(),
        type_name: key.1.clone(),
        schema,
        advert,
        reliable_latched: reliable,
    }
}

/// True if the topic has publishers and every one is reliable and transient-local: nothing it
/// sends may be lost, and a late viewer expects the latched value (`/tf_static`, maps).
fn reliable_latched(topic: &TopicInfo) -> bool {
    !topic.publishers.is_empty()
        && topic.publishers.iter().all(|p| {
            p.qos.durability == Durability::TransientLocal
                && p.qos.reliability == crate::ros::Reliability::Reliable
        })
}

/// How many messages to keep for late subscribers: none unless every publisher is
/// transient-local; then what those publishers would replay (Σ max(1, depth)), capped.
fn latch_depth(topic: &TopicInfo, cap: usize) -> usize {
    if topic.publishers.is_empty()
        || topic
            .publishers
            .iter()
            .any(|p| p.qos.durability != Durability::TransientLocal)
    {
        return 0;
    }
    let sum: usize = topic
        .publishers
        .iter()
        .map(|p| (p.qos.depth as usize).max(1))
        .sum();
    sum.clamp(1, cap.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::{PublisherInfo, Qos, Reliability};

    fn topic(pubs: &[(Durability, u32)]) -> TopicInfo {
        TopicInfo {
            name: "/tf_static".into(),
            type_name: "tf2_msgs/msg/TFMessage".into(),
            publishers: pubs
                .iter()
                .map(|&(durability, depth)| PublisherInfo {
                    node: "/n".into(),
                    qos: Qos {
                        reliability: Reliability::Reliable,
                        durability,
                        depth,
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn latch_depth_rule() {
        use Durability::*;
        assert_eq!(latch_depth(&topic(&[]), 25), 0);
        assert_eq!(latch_depth(&topic(&[(Volatile, 10)]), 25), 0);
        assert_eq!(
            latch_depth(&topic(&[(TransientLocal, 1), (Volatile, 1)]), 25),
            0
        );
        assert_eq!(
            latch_depth(&topic(&[(TransientLocal, 1), (TransientLocal, 0)]), 25),
            2
        );
        assert_eq!(latch_depth(&topic(&[(TransientLocal, 100)]), 25), 25);
    }

    #[test]
    fn reliable_latched_rule() {
        use Durability::*;
        assert!(!reliable_latched(&topic(&[])));
        assert!(reliable_latched(&topic(&[(TransientLocal, 1)])));
        assert!(!reliable_latched(&topic(&[
            (TransientLocal, 1),
            (Volatile, 1)
        ])));
        let mut t = topic(&[(TransientLocal, 1)]);
        t.publishers[0].qos.reliability = Reliability::BestEffort;
        assert!(!reliable_latched(&t));
    }

    #[test]
    fn ids_of_channels_that_went_away_are_forgotten_beyond_a_bound() {
        let schemas = std::sync::Arc::new(crate::schema::SchemaStore::new(vec![
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/interfaces")),
        ]));
        let (hub, _io, _events) = Hub::new(
            std::sync::Arc::new(crate::config::Config::default()),
            schemas,
        );
        let graph = |names: std::ops::Range<usize>| GraphSnapshot {
            topics: names
                .map(|i| TopicInfo {
                    name: format!("/viewer_topic_{i}"),
                    type_name: "std_msgs/msg/String".into(),
                    publishers: Vec::new(),
                })
                .collect(),
            ..GraphSnapshot::default()
        };
        // A topic that comes back keeps its id.
        hub.apply_graph(&graph(0..1));
        let first = hub.channels()[0].id;
        hub.apply_graph(&graph(0..0));
        hub.apply_graph(&graph(0..1));
        assert_eq!(hub.channels()[0].id, first);
        // Thousands of topics come and go (viewers' client channels can do that): the table of
        // ids stays bounded.
        for round in 0..3 {
            hub.apply_graph(&graph(round * 1000..(round + 1) * 1000));
        }
        hub.apply_graph(&graph(0..0));
        let state = hub.state.lock();
        assert!(
            state.known_ids.len() <= RETIRED_IDS_KEPT,
            "{}",
            state.known_ids.len()
        );
        assert!(state.retired.len() <= RETIRED_IDS_KEPT);
    }
}
