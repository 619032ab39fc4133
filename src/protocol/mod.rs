//! The Foxglove WebSocket protocol (`foxglove.websocket.v1` / `foxglove.sdk.v1`), sans I/O.
//!
//! Plain message types with JSON (serde) and binary encode/decode. Nothing here does I/O or knows
//! about tokio or tungstenite; the transports convert to and from their frames. Parsers that see
//! peer input never panic: every read checks the remaining length first, and every failure is a
//! [`ParseError`] that says what was wrong, fit to be sent back to the viewer in a status.

pub mod binary;
pub mod client;
pub mod server;
pub mod v2;

/// Subprotocols this server speaks, newest first. `foxglove.sdk.v1` is what the current
/// Foxglove app and foxglove_bridge 3.x use; `foxglove.websocket.v1` is what Foxglove Studio
/// (≤ 1.x), Lichtblick and `@foxglove/ws-protocol` offer. Both carry the same messages.
pub const SUBPROTOCOLS: &[&str] = &["foxglove.sdk.v1", "foxglove.websocket.v1"];

/// Pick the subprotocol from the values of every `Sec-WebSocket-Protocol` header: tokens split on
/// `,` and trimmed, matched exactly; the newest we support wins regardless of client order.
pub fn select_subprotocol<'a, I: IntoIterator<Item = &'a str>>(headers: I) -> Option<&'static str> {
    let offered: Vec<&str> = headers
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect();
    SUBPROTOCOLS
        .iter()
        .copied()
        .find(|p| offered.iter().any(|o| o == p))
}

/// Why peer input could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A binary message with no bytes at all.
    #[error("empty binary message")]
    Empty,
    /// A binary message whose first byte is not an opcode we know.
    #[error("unknown binary opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    /// A binary message shorter than its fixed fields.
    #[error("truncated {what}: need {need} bytes, got {got}")]
    Truncated {
        /// Which message or field.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// A text message that is not a JSON object.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// A JSON object without a string `op`.
    #[error("message has no \"op\" field")]
    MissingOp,
    /// An `op` we do not know.
    #[error("unknown op {0:?}")]
    UnknownOp(String),
    /// A known `op` whose fields are wrong or missing.
    #[error("invalid {op} message: {reason}")]
    InvalidMessage {
        /// The op.
        op: String,
        /// serde's description of what did not fit.
        reason: String,
    },
    /// Text that is not valid UTF-8 where UTF-8 is required.
    #[error("invalid UTF-8 in {0}")]
    InvalidUtf8(&'static str),
    /// A field whose value is out of its range.
    #[error("invalid {what}: {value}")]
    InvalidValue {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocol_choice() {
        assert_eq!(
            select_subprotocol(["foxglove.websocket.v1"]),
            Some("foxglove.websocket.v1")
        );
        assert_eq!(
            select_subprotocol(["foxglove.sdk.v1"]),
            Some("foxglove.sdk.v1")
        );
        // newest wins regardless of order; tokens split on commas and trimmed
        assert_eq!(
            select_subprotocol(["foxglove.websocket.v1 , foxglove.sdk.v1"]),
            Some("foxglove.sdk.v1")
        );
        assert_eq!(
            select_subprotocol(["x", "foxglove.websocket.v1"]),
            Some("foxglove.websocket.v1")
        );
        // exact match only; v1.1 needs the schema table, which we do not implement
        assert_eq!(
            select_subprotocol(["foxglove.sdk.v1.1", "foxglove.sdk.v10"]),
            None
        );
        assert_eq!(select_subprotocol(Vec::<&str>::new()), None);
    }
}
