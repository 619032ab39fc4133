//! The WebSocket server.
