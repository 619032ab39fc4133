//! ROS 2 interface definitions: parsing `.msg`/`.srv`/`.action`/`.idl`, looking them up through
//! the ament index, and producing the self-contained `ros2msg` (or `ros2idl`) schema text that a
//! Foxglove channel carries.
//!
//! The parsed form ([`MessageDefinition`]) is what the [`crate::cdr`] codec walks; the text form
//! ([`ResolvedSchema::text`]) is what viewers receive. Both come from the same lookup so they can
//! never disagree.
//!
//! # Layout
//!
//! - `store`: [`SchemaStore`], ament-index lookup (overlays first) with caches.
//! - `msg` (+ `literal`, `names`): the `.msg` parser; `.srv`/`.action` are its sections.
//! - `idl` (+ `idl_gen`): the rosidl-shaped `.idl` parser, and IDL written from a definition.
//! - `text`: dependency resolution and the concatenated schema text; its docs say how
//!   dependency names are spelled after `MSG:`.
//!
//! [`parse_ros2msg`] and [`parse_ros2idl`] read schema texts that viewers send, without files.
//!
//! Parse errors carry the 1-based line in the definition file (`.srv`/`.action` lines count from
//! the top of the file); line 0 means the error concerns the whole definition (a recursive
//! type, a wrong number of `---` sections).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

mod idl;
mod idl_gen;
mod literal;
mod msg;
mod names;
mod store;
mod text;
mod types;

pub use names::{normalize_type_name, InterfaceKind, TypeName};
pub use store::{ActionSchemas, SchemaStore};
pub use text::SEPARATOR;
pub use types::*;

use msg::{complex_full_name, parse_msg};
use text::{resolve, Loaded, SourceFormat};

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

/// Parse a concatenated `ros2msg` text (root definition, then `====`/`MSG: pkg/Type` sections),
/// as a viewer may send with a client advertisement, without looking at any files.
///
/// `name` is the root type (`pkg/msg/Type` or `pkg/Type`); bare type names in the root resolve
/// in its package, those in a section in the section's package. The returned
/// [`ResolvedSchema::text`] is `text` unchanged. As in `@foxglove/rosmsg`, a bare `Header` with no
/// definition of its own falls back to `std_msgs/msg/Header` when the text provides that.
pub fn parse_ros2msg(name: &str, text: &str) -> Result<ResolvedSchema, SchemaError> {
    let root_name = normalize_type_name(name)?;
    let package = root_name.split('/').next().unwrap_or_default().to_string();
    let mut sections: HashMap<String, Arc<Loaded>> = HashMap::new();
    let mut root: Option<Loaded> = None;
    for (index, (first_line, header, body)) in
        split_concatenated(text, "MSG:").into_iter().enumerate()
    {
        let (def_name, def_package) = match header {
            None if index == 0 => (root_name.clone(), package.clone()),
            None => {
                return Err(SchemaError::Parse {
                    name: root_name.clone(),
                    line: first_line,
                    message: "expected a MSG: pkg/Type line after the separator".to_string(),
                })
            }
            Some(h) => {
                let full = complex_full_name(&h, "")
                    .filter(|_| h.contains('/'))
                    .ok_or_else(|| SchemaError::Parse {
                        name: root_name.clone(),
                        line: first_line.saturating_sub(1),
                        message: format!("invalid type name in MSG: header {h:?}"),
                    })?;
                let pkg = full.split('/').next().unwrap_or_default().to_string();
                (full, pkg)
            }
        };
        let parsed = parse_msg(&def_name, &def_package, &body, first_line)?;
        let loaded = Loaded {
            def: Arc::new(parsed.def),
            deps: parsed.deps,
            text: body,
            format: SourceFormat::Msg,
        };
        if root.is_none() {
            root = Some(loaded);
        } else {
            sections.entry(def_name).or_insert_with(|| Arc::new(loaded));
        }
    }
    let root = root.ok_or_else(|| SchemaError::InvalidTypeName(name.to_string()))?;
    let mut resolved = resolve(&root, &mut |dep| {
        let found = sections.get(dep).or_else(|| {
            dep.ends_with("/msg/Header")
                .then(|| sections.get("std_msgs/msg/Header"))
                .flatten()
        });
        found.cloned().ok_or_else(|| SchemaError::NotFound {
            name: dep.to_string(),
            searched: format!("the schema text of {root_name}"),
        })
    })?;
    resolved.text = text.to_string();
    Ok(resolved)
}

/// Parse a concatenated `ros2idl` text (`====`/`IDL: pkg/msg/Type` sections) whose root is
/// `name`, without looking at any files. The returned text is `text` unchanged.
pub fn parse_ros2idl(name: &str, text: &str) -> Result<ResolvedSchema, SchemaError> {
    let root_name = normalize_type_name(name)?;
    let mut structs: HashMap<String, Arc<Loaded>> = HashMap::new();
    for (_, _, body) in split_concatenated(text, "IDL:") {
        for item in idl::parse_idl(&root_name, &body)? {
            structs
                .entry(item.def.name.clone())
                .or_insert_with(|| Arc::new(item));
        }
    }
    let not_found = |n: &str| SchemaError::NotFound {
        name: n.to_string(),
        searched: format!("the schema text of {root_name}"),
    };
    let root = structs
        .get(&root_name)
        .cloned()
        .ok_or_else(|| not_found(&root_name))?;
    let mut resolved = resolve(&root, &mut |dep| {
        structs.get(dep).cloned().ok_or_else(|| not_found(dep))
    })?;
    resolved.text = text.to_string();
    Ok(resolved)
}

/// Split a concatenated schema text into (first body line, header name, body) sections. The
/// first section has no header; later ones start after a `===...` line and a `<tag> name` line.
fn split_concatenated(text: &str, tag: &str) -> Vec<(usize, Option<String>, String)> {
    let mut out: Vec<(usize, Option<String>, String)> = vec![(1, None, String::new())];
    let mut expect_header = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim();
        if t.starts_with("==") && t.chars().all(|c| c == '=') {
            out.push((i + 2, None, String::new()));
            expect_header = true;
            continue;
        }
        if expect_header {
            if let Some(h) = t.strip_prefix(tag) {
                if let Some(last) = out.last_mut() {
                    last.0 = i + 2;
                    last.1 = Some(h.trim().to_string());
                }
                expect_header = false;
                continue;
            }
            if !t.is_empty() && !t.starts_with('#') {
                expect_header = false;
            }
        }
        if let Some(last) = out.last_mut() {
            last.2.push_str(line);
        }
    }
    // An IDL text starts with a separator, leaving an empty headerless first section.
    if out.len() > 1 && out[0].1.is_none() && out[0].2.trim().is_empty() && tag == "IDL:" {
        out.remove(0);
    }
    out
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
