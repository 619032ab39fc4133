//! Channels, subscriptions, client publishing and per-viewer queues.
