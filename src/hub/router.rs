//! The message fast path: ROS payload → every subscribed viewer's outbox.
//!
//! Called on the backend's thread for every message, so it only takes a read lock, clones an
//! `Arc`, and pushes the shared `Bytes` into bounded outboxes. The route of a channel is an
//! immutable snapshot, rebuilt by the hub when its subscribers change.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::outbox::{DataItem, Outbox};
use crate::record::Tap;
use crate::ros::{MessageSink, SubscriptionKey};

/// The last messages of a transient-local channel, replayed to viewers who subscribe late
/// (the ROS subscription is shared, so DDS will not replay them a second time).
#[derive(Debug, Default)]
pub struct Latch {
    depth: usize,
    items: VecDeque<(u64, Bytes)>,
}

/// Where one channel's messages go.
pub struct Route {
    /// The channel's topic, for drop reports.
    pub topic: Arc<str>,
    /// (outbox, wire id) of every subscriber.
    pub subscribers: Vec<(Arc<Outbox>, u64)>,
    /// Present on transient-local channels.
    pub latch: Option<Arc<Mutex<Latch>>>,
    /// Present on channels the recorder holds (black box, continuous recording).
    pub tap: Option<Tap>,
}

/// Counters of the fast path.
#[derive(Debug, Default)]
pub struct RouterStats {
    /// Messages received from the backend.
    pub received: AtomicU64,
    /// Messages for a subscription no longer routed (in flight while it was removed).
    pub unrouted: AtomicU64,
}

/// The routing table; implements [`MessageSink`] for the backend.
#[derive(Default)]
pub struct Router {
    routes: RwLock<HashMap<SubscriptionKey, Arc<Route>>>,
    /// Counters.
    pub stats: RouterStats,
}

impl Router {
    /// Replace the subscribers of `channel` (no subscriber and no tap removes the route). A
    /// non-zero `latch_depth` keeps that many last messages for late subscribers. `replay_to`
    /// receives the latched messages now, atomically with the change, so it neither misses nor
    /// duplicates one. `tap` is the recorder's, on recorded channels.
    pub fn set_route(
        &self,
        channel: u64,
        topic: Arc<str>,
        subscribers: Vec<(Arc<Outbox>, u64)>,
        latch_depth: usize,
        replay_to: Option<(&Arc<Outbox>, u64)>,
        tap: Option<Tap>,
    ) {
        let mut routes = self.routes.write();
        if subscribers.is_empty() && tap.is_none() {
            routes.remove(&channel);
            return;
        }
        let latch = match routes.get(&channel).and_then(|r| r.latch.clone()) {
            Some(l) if latch_depth > 0 => {
                let mut g = l.lock();
                g.depth = latch_depth;
                while g.items.len() > g.depth {
                    g.items.pop_front();
                }
                drop(g);
                Some(l)
            }
            None if latch_depth > 0 => Some(Arc::new(Mutex::new(Latch {
                depth: latch_depth,
                items: VecDeque::new(),
            }))),
            _ => None,
        };
        if let (Some(latch), Some((outbox, wire_id))) = (&latch, replay_to) {
            for (log_time, payload) in latch.lock().items.iter() {
                outbox.push_data(
                    DataItem {
                        channel,
                        wire_id,
                        log_time: *log_time,
                        payload: payload.clone(),
                    },
                    &topic,
                );
            }
        }
        routes.insert(
            channel,
            Arc::new(Route {
                topic,
                subscribers,
                latch,
                tap,
            }),
        );
    }

    /// Drop every route (shutdown).
    pub fn clear(&self) {
        self.routes.write().clear();
    }
}

impl MessageSink for Router {
    fn message(&self, key: SubscriptionKey, log_time: u64, publish_time: u64, payload: Bytes) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let routes = self.routes.read();
        let Some(route) = routes.get(&key) else {
            self.stats.unrouted.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Some(latch) = &route.latch {
            let mut l = latch.lock();
            if l.items.len() >= l.depth {
                l.items.pop_front();
            }
            l.items.push_back((log_time, payload.clone()));
        }
        if let Some(tap) = &route.tap {
            tap.record(log_time, publish_time, &payload);
        }
        for (outbox, wire_id) in &route.subscribers {
            outbox.push_data(
                DataItem {
                    channel: key,
                    wire_id: *wire_id,
                    log_time,
                    payload: payload.clone(),
                },
                &route.topic,
            );
        }
    }
}
