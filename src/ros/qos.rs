//! QoS choice for bridge subscriptions.
