//! The connection graph (`connectionGraph`): which nodes publish and subscribe each topic and
//! provide each service, sent as diffs to the viewers that asked for it.
//!
//! As in the SDK, every entry of an update replaces the viewer's previous id set for that name,
//! a topic is removed only when it has neither publishers nor subscribers, and the first update
//! after `subscribeConnectionGraph` is the whole graph (a diff against an empty one), which
//! foxglove_bridge does not send. Topics follow `topic_whitelist`, services `service_whitelist`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::{ClientError, ClientId, Control, Hub, Outbox};
use crate::protocol::server::{AdvertisedService, GraphMessage, PublishedTopic, SubscribedTopic};
use crate::ros::GraphSnapshot;

type Ids = BTreeMap<String, Vec<String>>;

/// The graph as viewers see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionGraph {
    /// Topic → publishing nodes.
    pub published: Ids,
    /// Topic → subscribing nodes.
    pub subscribed: Ids,
    /// Service → providing nodes.
    pub services: Ids,
}

impl ConnectionGraph {
    /// The graph of a snapshot, filtered by the whitelists.
    pub fn from_snapshot(
        snapshot: &GraphSnapshot,
        topic_allowed: impl Fn(&str) -> bool,
        service_allowed: impl Fn(&str) -> bool,
    ) -> Self {
        let mut published: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in snapshot.topics.iter().filter(|t| topic_allowed(&t.name)) {
            if t.publishers.is_empty() {
                continue;
            }
            published
                .entry(t.name.clone())
                .or_default()
                .extend(t.publishers.iter().map(|p| p.node.clone()));
        }
        let subscribed = snapshot
            .subscriptions
            .iter()
            .filter(|s| topic_allowed(&s.topic) && !s.nodes.is_empty())
            .map(|s| (s.topic.clone(), s.nodes.clone()));
        let services = snapshot
            .services
            .iter()
            .filter(|s| service_allowed(&s.name))
            .map(|s| (s.name.clone(), s.providers.clone()));
        ConnectionGraph {
            published: published
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
            subscribed: subscribed.collect(),
            services: services.collect(),
        }
    }

    /// The update that takes a viewer from `self` to `new`; `None` if nothing changed.
    pub fn diff(&self, new: &ConnectionGraph) -> Option<GraphMessage> {
        // A topic that keeps subscribers but loses all publishers (or the reverse) is not
        // removed, so its emptied side is sent as an empty list: entries replace.
        fn changed(old: &Ids, new: &Ids, other_side: &Ids) -> Vec<(String, Vec<String>)> {
            let mut out: Vec<(String, Vec<String>)> = new
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.extend(
                old.keys()
                    .filter(|k| !new.contains_key(*k) && other_side.contains_key(*k))
                    .map(|k| (k.clone(), Vec::new())),
            );
            out.sort();
            out
        }
        let published_topics: Vec<PublishedTopic> =
            changed(&self.published, &new.published, &new.subscribed)
                .into_iter()
                .map(|(name, publisher_ids)| PublishedTopic {
                    name,
                    publisher_ids,
                })
                .collect();
        let subscribed_topics: Vec<SubscribedTopic> =
            changed(&self.subscribed, &new.subscribed, &new.published)
                .into_iter()
                .map(|(name, subscriber_ids)| SubscribedTopic {
                    name,
                    subscriber_ids,
                })
                .collect();
        let advertised_services: Vec<AdvertisedService> =
            changed(&self.services, &new.services, &Ids::new())
                .into_iter()
                .map(|(name, provider_ids)| AdvertisedService { name, provider_ids })
                .collect();
        let old_topics: BTreeSet<&String> = self
            .published
            .keys()
            .chain(self.subscribed.keys())
            .collect();
        let removed_topics: Vec<String> = old_topics
            .into_iter()
            .filter(|t| !new.published.contains_key(*t) && !new.subscribed.contains_key(*t))
            .cloned()
            .collect();
        let removed_services: Vec<String> = self
            .services
            .keys()
            .filter(|s| !new.services.contains_key(*s))
            .cloned()
            .collect();
        let empty = published_topics.is_empty()
            && subscribed_topics.is_empty()
            && advertised_services.is_empty()
            && removed_topics.is_empty()
            && removed_services.is_empty();
        (!empty).then_some(GraphMessage::ConnectionGraphUpdate {
            published_topics,
            subscribed_topics,
            advertised_services,
            removed_topics,
            removed_services,
        })
    }
}

/// Connection-graph state of the hub, behind its own lock.
#[derive(Default)]
pub(super) struct ConnGraphState {
    current: ConnectionGraph,
    subscribers: HashMap<ClientId, Arc<Outbox>>,
}

impl Hub {
    /// A new graph from the backend: subscribed viewers get the diff.
    pub(super) fn apply_connection_graph(&self, snapshot: &GraphSnapshot) {
        if !self.offers("connectionGraph") {
            return;
        }
        let new = ConnectionGraph::from_snapshot(
            snapshot,
            |t| self.config.topic_whitelist.matches(t),
            |s| self.config.service_whitelist.matches(s),
        );
        let mut g = self.conngraph.lock();
        if let Some(update) = g.current.diff(&new) {
            let text = update.to_json();
            for o in g.subscribers.values() {
                let _ = o.push_control(Control::Text(text.clone()));
            }
        }
        g.current = new;
    }

    /// `subscribeConnectionGraph`: the first update is the whole graph; a repeat is ignored.
    pub fn subscribe_connection_graph(&self, client: ClientId) -> Result<(), ClientError> {
        if !self.offers("connectionGraph") {
            return Err(ClientError::Unsupported("connectionGraph"));
        }
        let Some(outbox) = self.outbox(client) else {
            return Ok(());
        };
        let mut g = self.conngraph.lock();
        if g.subscribers.contains_key(&client) {
            return Ok(());
        }
        let full = ConnectionGraph::default().diff(&g.current).unwrap_or(
            GraphMessage::ConnectionGraphUpdate {
                published_topics: Vec::new(),
                subscribed_topics: Vec::new(),
                advertised_services: Vec::new(),
                removed_topics: Vec::new(),
                removed_services: Vec::new(),
            },
        );
        let _ = outbox.push_control(Control::Text(full.to_json()));
        g.subscribers.insert(client, outbox);
        Ok(())
    }

    /// `unsubscribeConnectionGraph`.
    pub fn unsubscribe_connection_graph(&self, client: ClientId) -> Result<(), ClientError> {
        if !self.offers("connectionGraph") {
            return Err(ClientError::Unsupported("connectionGraph"));
        }
        let mut g = self.conngraph.lock();
        g.subscribers.remove(&client);
        super::shrink_table(&mut g.subscribers);
        Ok(())
    }

    pub(super) fn conngraph_disconnect(&self, client: ClientId) {
        let mut g = self.conngraph.lock();
        g.subscribers.remove(&client);
        super::shrink_table(&mut g.subscribers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::{PublisherInfo, Qos, ServiceInfo, TopicInfo, TopicSubscribers};

    fn snap(
        pubs: &[(&str, &str)],
        subs: &[(&str, &[&str])],
        svcs: &[(&str, &str)],
    ) -> GraphSnapshot {
        GraphSnapshot {
            topics: pubs
                .iter()
                .map(|(t, n)| TopicInfo {
                    name: t.to_string(),
                    type_name: "std_msgs/msg/String".into(),
                    publishers: vec![PublisherInfo {
                        node: n.to_string(),
                        qos: Qos::default(),
                    }],
                })
                .collect(),
            subscriptions: subs
                .iter()
                .map(|(t, n)| TopicSubscribers {
                    topic: t.to_string(),
                    nodes: n.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            services: svcs
                .iter()
                .map(|(s, n)| ServiceInfo {
                    name: s.to_string(),
                    type_name: "std_srvs/srv/Trigger".into(),
                    providers: vec![n.to_string()],
                })
                .collect(),
            nodes: Vec::new(),
        }
    }

    fn graph(s: &GraphSnapshot) -> ConnectionGraph {
        ConnectionGraph::from_snapshot(s, |t| t != "/secret", |_| true)
    }

    #[test]
    fn first_update_is_the_full_graph_then_diffs() {
        let a = graph(&snap(
            &[("/a", "/n1"), ("/secret", "/n1")],
            &[("/a", &["/n2"]), ("/b", &["/n3"])],
            &[("/s", "/n1")],
        ));
        let full = ConnectionGraph::default().diff(&a).unwrap().to_json();
        assert_eq!(
            full,
            r#"{"op":"connectionGraphUpdate","publishedTopics":[{"name":"/a","publisherIds":["/n1"]}],"subscribedTopics":[{"name":"/a","subscriberIds":["/n2"]},{"name":"/b","subscriberIds":["/n3"]}],"advertisedServices":[{"name":"/s","providerIds":["/n1"]}],"removedTopics":[],"removedServices":[]}"#
        );
        assert!(a.diff(&a).is_none());
        // /a loses its publisher but keeps a subscriber: not removed, its publishers emptied;
        // /b goes; /s goes.
        let b = graph(&snap(&[], &[("/a", &["/n2"])], &[]));
        assert_eq!(
            a.diff(&b).unwrap().to_json(),
            r#"{"op":"connectionGraphUpdate","publishedTopics":[{"name":"/a","publisherIds":[]}],"subscribedTopics":[],"advertisedServices":[],"removedTopics":["/b"],"removedServices":["/s"]}"#
        );
    }
}
