//! The Foxglove WebSocket protocol, sans I/O.
