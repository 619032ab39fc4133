//! ROS 2 interface definitions: parsing `.msg`/`.srv`/`.action`/`.idl`, looking them up through
//! the ament index, and producing the self-contained `ros2msg` (or `ros2idl`) schema text that a
//! Foxglove channel carries.
//!
//! The parsed form ([`MessageDefinition`]) is what the [`crate::cdr`] codec walks; the text form
//! ([`ResolvedSchema::text`]) is what viewers receive. Both come from the same lookup so they can
//! never disagree.

use std::collections::BTreeMap;
use std::sync::Arc;

mod types;
pub use types::*;

/// Errors from finding or parsing interface definitions.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The type name is not of the form `pkg/msg/Type` (or `pkg/Type`).
    #[error("invalid type name {0:?}: expected pkg/msg/Type")]
    InvalidTypeName(String),
    /// No package on `AMENT_PREFIX_PATH` provides this type.
    #[error("no definition for {name} on AMENT_PREFIX_PATH ({searched})")]
    NotFound {
        /// The type asked for.
        name: String,
        /// Which prefixes were searched, for the error message.
        searched: String,
    },
    /// A definition file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A definition could not be parsed.
    #[error("{name} line {line}: {message}")]
    Parse {
        /// The type being parsed.
        name: String,
        /// 1-based line number in its definition text.
        line: usize,
        /// What was wrong.
        message: String,
    },
}

/// The encoding of schema text on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaEncoding {
    /// MCAP `ros2msg`: the root `.msg` then each dependency behind an 80-`=` separator.
    Ros2Msg,
    /// MCAP `ros2idl`: every definition behind a separator and an `IDL:` header.
    Ros2Idl,
}

impl SchemaEncoding {
    /// The `schemaEncoding` string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaEncoding::Ros2Msg => "ros2msg",
            SchemaEncoding::Ros2Idl => "ros2idl",
        }
    }
}

/// A type together with every definition it depends on: enough to encode, decode, and to send
/// to a viewer as schema text.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSchema {
    /// The root type, normalised to `pkg/msg/Type` (or `pkg/srv/Type_Request`, ...).
    pub name: String,
    /// How [`Self::text`] is written.
    pub encoding: SchemaEncoding,
    /// The concatenated schema text sent to viewers.
    pub text: String,
    /// Every definition reachable from the root, keyed by normalised full name, root included.
    pub definitions: BTreeMap<String, Arc<MessageDefinition>>,
}

impl ResolvedSchema {
    /// The root definition.
    pub fn root(&self) -> &MessageDefinition {
        self.definitions
            .get(&self.name)
            .expect("a ResolvedSchema always contains its root")
    }

    /// A definition by normalised full name.
    pub fn get(&self, name: &str) -> Option<&MessageDefinition> {
        self.definitions.get(name).map(|d| d.as_ref())
    }
}

// TEMPORARY stand-in until the schema branch lands (lookup + parser).
/// Looks up interface definitions over ament prefixes.
pub struct SchemaStore {
    prefixes: Vec<std::path::PathBuf>,
}

impl SchemaStore {
    /// A store over these prefixes.
    pub fn new(prefixes: Vec<std::path::PathBuf>) -> Self {
        SchemaStore { prefixes }
    }
    /// The message type `pkg/msg/Type`.
    pub fn message(&self, type_name: &str) -> Result<Arc<ResolvedSchema>, SchemaError> {
        Err(SchemaError::NotFound {
            name: type_name.into(),
            searched: format!("{:?}", self.prefixes),
        })
    }
}

/// Parse a concatenated `ros2msg` text.
pub fn parse_ros2msg(name: &str, _text: &str) -> Result<ResolvedSchema, SchemaError> {
    Err(SchemaError::InvalidTypeName(name.into()))
}
