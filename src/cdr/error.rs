//! The one error type of the codec, carrying the field path where things went wrong.

use std::fmt;

/// Where in a message an error happened: `linear.x`, `data[3]`, `poses[2].pose.position.x`.
///
/// Built on the way *out* of an error (each level prefixes its own segment), so the hot path
/// never formats a path for a message that encodes or decodes fine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// The path as text; empty for the message itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Is this the message itself (no field)?
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    fn prefix_field(&mut self, name: &str) {
        let rest = std::mem::take(&mut self.0);
        self.0 = if rest.is_empty() {
            name.to_owned()
        } else if rest.starts_with('[') {
            format!("{name}{rest}")
        } else {
            format!("{name}.{rest}")
        };
    }

    fn prefix_index(&mut self, index: usize) {
        self.0 = if self.0.is_empty() || self.0.starts_with('[') {
            format!("[{index}]{}", self.0)
        } else {
            format!("[{index}].{}", self.0)
        };
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(message)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Errors from encoding or decoding CDR.
///
/// Decoding keeps "the buffer ended early" ([`CdrError::Truncated`]) apart from "the bytes
/// can never be valid" ([`CdrError::Malformed`]); encoding reports values that do not fit their
/// field as [`CdrError::Value`]. Every variant names the field path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CdrError {
    /// The buffer ended before the value at `path` was complete.
    #[error("{path}: truncated: need {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        /// The field being read.
        path: FieldPath,
        /// Byte offset in the whole buffer (encapsulation header included).
        offset: usize,
        /// How many bytes the read needed (for sequences: the minimum their declared count needs).
        needed: usize,
        /// How many bytes were left.
        available: usize,
    },
    /// Bytes that no valid message could contain (a bool that is neither 0 nor 1, a sequence
    /// longer than its bound, an unknown encapsulation kind, ...).
    #[error("{path}: malformed at offset {offset}: {reason}")]
    Malformed {
        /// The field being read.
        path: FieldPath,
        /// Byte offset in the whole buffer.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A JSON value that does not fit its field, e.g.
    /// `linear.x: expected float64, got string "fast"`.
    #[error("{path}: {message}")]
    Value {
        /// The field whose value is wrong.
        path: FieldPath,
        /// What was expected and what was found.
        message: String,
    },
    /// The schema names a message type it does not define.
    #[error("{path}: type {type_name} is not in the schema")]
    UnknownType {
        /// The field of that type.
        path: FieldPath,
        /// The missing type.
        type_name: String,
    },
    /// Messages nested deeper than [`MAX_DEPTH`]: only a broken (cyclic) schema gets here.
    #[error("{path}: messages nested more than {MAX_DEPTH} levels deep")]
    TooDeep {
        /// Where the limit was hit.
        path: FieldPath,
    },
}

/// How deep messages may nest. Real ROS types stay far below (a few levels); the limit only
/// stops a cyclic schema from overflowing the stack.
pub const MAX_DEPTH: usize = 64;

impl CdrError {
    /// The field path the error refers to.
    pub fn path(&self) -> &FieldPath {
        match self {
            CdrError::Truncated { path, .. }
            | CdrError::Malformed { path, .. }
            | CdrError::Value { path, .. }
            | CdrError::UnknownType { path, .. }
            | CdrError::TooDeep { path } => path,
        }
    }

    fn path_mut(&mut self) -> &mut FieldPath {
        match self {
            CdrError::Truncated { path, .. }
            | CdrError::Malformed { path, .. }
            | CdrError::Value { path, .. }
            | CdrError::UnknownType { path, .. }
            | CdrError::TooDeep { path } => path,
        }
    }

    /// Prefix the path with a field name (used while the error travels up).
    pub(crate) fn in_field(mut self, name: &str) -> Self {
        self.path_mut().prefix_field(name);
        self
    }

    /// Prefix the path with an array index.
    pub(crate) fn at_index(mut self, index: usize) -> Self {
        self.path_mut().prefix_index(index);
        self
    }

    /// A [`CdrError::Value`] at the current (not yet prefixed) position.
    pub(crate) fn value(message: impl Into<String>) -> Self {
        CdrError::Value {
            path: FieldPath::default(),
            message: message.into(),
        }
    }

    /// A [`CdrError::Malformed`] at `offset`.
    pub(crate) fn malformed(offset: usize, reason: impl Into<String>) -> Self {
        CdrError::Malformed {
            path: FieldPath::default(),
            offset,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compose_from_the_inside_out() {
        let e = CdrError::value("expected float64, got string \"fast\"")
            .in_field("x")
            .in_field("linear");
        assert_eq!(
            e.to_string(),
            "linear.x: expected float64, got string \"fast\""
        );

        let e = CdrError::value("300 out of range for uint8")
            .at_index(3)
            .in_field("data");
        assert_eq!(e.to_string(), "data[3]: 300 out of range for uint8");

        let e = CdrError::value("v")
            .in_field("x")
            .in_field("position")
            .at_index(2)
            .in_field("poses");
        assert_eq!(e.path().as_str(), "poses[2].position.x");
    }

    #[test]
    fn root_errors_say_message() {
        let e = CdrError::value("expected object, got number 3");
        assert!(e.path().is_root());
        assert_eq!(e.to_string(), "(message): expected object, got number 3");
    }
}
