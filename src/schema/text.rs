//! Resolving a root definition with everything it depends on, and writing the concatenated
//! schema text (MCAP `ros2msg` "gendeps" format, or `ros2idl`).
//!
//! # How dependency names are written
//!
//! Like foxglove_bridge, each dependency's `MSG:` header spells the type the way the field that
//! refers to it does: `pkg/Type` stays `pkg/Type`, `pkg/msg/Type` stays `pkg/msg/Type`. A bare
//! `Type` gets the namespace of the definition it appears in: `pkg/Type` under the root or under
//! a `MSG: pkg/...` header, `pkg/msg/Type` under a `MSG: pkg/msg/...` header. That is exactly
//! how `@foxglove/rosmsg` resolves names (fully qualified names must match a header
//! verbatim; bare names are looked up in the enclosing header's namespace), so the text always
//! parses there. A type referred to in two spellings is written once per spelling, as the
//! bridge does.
//!
//! Dependencies are written depth-first, deduplicated, the dependencies of one type in sorted
//! order, each as `\n` + 80 `=` + `\nMSG: <name>\n` + its `.msg` text verbatim.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::msg::DepRef;
use super::types::{ArrayKind, BaseType, MessageDefinition};
use super::{SchemaEncoding, SchemaError};

/// The line between definitions: 80 `=`.
pub const SEPARATOR: &str =
    "================================================================================";

/// Deeper nesting than this is refused: it protects the recursion from hostile input (real
/// interfaces nest a handful of levels; foxglove_bridge stops at 50).
const MAX_DEPTH: usize = 64;

/// Which source a definition came from, which decides how its text can be embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceFormat {
    /// `.msg` text (or a section of `.srv`/`.action`, or of a `ros2msg` text).
    Msg,
    /// An `.idl` file (the whole file, which may hold several structs).
    Idl,
}

/// One definition as loaded: the parsed form plus what the text writer needs.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// The parsed definition.
    pub def: Arc<MessageDefinition>,
    /// Message-typed fields, as written and normalised.
    pub deps: Vec<DepRef>,
    /// Source text: the `.msg` section, or the whole `.idl` file.
    pub text: String,
    /// What [`Self::text`] is.
    pub format: SourceFormat,
}

/// Resolve `root` and every definition reachable from it, writing the schema text.
///
/// `get` returns a dependency by normalised name. The text is `ros2msg` unless the root came
/// from an `.idl` file, in which case it is `ros2idl`.
pub(crate) fn resolve(
    root: &Loaded,
    get: &mut dyn FnMut(&str) -> Result<Arc<Loaded>, SchemaError>,
) -> Result<super::ResolvedSchema, SchemaError> {
    let name = root.def.name.clone();
    let mut definitions = BTreeMap::new();
    definitions.insert(name.clone(), root.def.clone());
    let encoding = match root.format {
        SourceFormat::Msg => SchemaEncoding::Ros2Msg,
        SourceFormat::Idl => SchemaEncoding::Ros2Idl,
    };
    let mut w = Walker {
        get,
        definitions,
        seen: BTreeSet::new(),
        stack: vec![name.clone()],
        text: String::new(),
        encoding,
    };
    match encoding {
        SchemaEncoding::Ros2Msg => w.text.push_str(&msg_text(root)),
        SchemaEncoding::Ros2Idl => {
            w.seen.insert(name.clone());
            w.push_idl(&name, root);
        }
    }
    let root_ns = namespace_of(&name, true);
    w.walk(root, &root_ns)?;
    Ok(super::ResolvedSchema {
        name,
        encoding,
        text: w.text,
        definitions: w.definitions,
    })
}

struct Walker<'a> {
    get: &'a mut dyn FnMut(&str) -> Result<Arc<Loaded>, SchemaError>,
    definitions: BTreeMap<String, Arc<MessageDefinition>>,
    /// Header spellings already written (names, for `ros2idl`).
    seen: BTreeSet<String>,
    /// The chain from the root to the current definition, to refuse recursive types.
    stack: Vec<String>,
    text: String,
    encoding: SchemaEncoding,
}

impl Walker<'_> {
    fn walk(&mut self, current: &Loaded, ns: &str) -> Result<(), SchemaError> {
        if self.stack.len() > MAX_DEPTH {
            return Err(parse_error(
                &current.def.name,
                format!("definitions nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        // Sorted and deduplicated by spelling, as the bridge's std::set of names.
        let spelled: BTreeSet<(String, String)> = current
            .deps
            .iter()
            .map(|d| {
                let spelling = match self.encoding {
                    SchemaEncoding::Ros2Idl => d.full.clone(),
                    SchemaEncoding::Ros2Msg if d.raw.contains('/') => d.raw.clone(),
                    SchemaEncoding::Ros2Msg => format!("{ns}/{}", d.raw),
                };
                (spelling, d.full.clone())
            })
            .collect();
        for (spelling, full) in spelled {
            if self.stack.contains(&full) {
                return Err(parse_error(
                    &current.def.name,
                    format!("recursive type: {} refers back to {full}", current.def.name),
                ));
            }
            let dep = (self.get)(&full)?;
            self.definitions.insert(full.clone(), dep.def.clone());
            if !self.seen.insert(spelling.clone()) {
                continue;
            }
            match self.encoding {
                SchemaEncoding::Ros2Msg => {
                    self.text.push('\n');
                    self.text.push_str(SEPARATOR);
                    self.text.push_str("\nMSG: ");
                    self.text.push_str(&spelling);
                    self.text.push('\n');
                    self.text.push_str(&msg_text(&dep));
                }
                SchemaEncoding::Ros2Idl => {
                    self.text.push('\n');
                    self.push_idl(&full, &dep);
                }
            }
            self.stack.push(full);
            let dep_ns = namespace_of(&spelling, false);
            let result = self.walk(&dep, &dep_ns);
            self.stack.pop();
            result?;
        }
        Ok(())
    }

    fn push_idl(&mut self, name: &str, loaded: &Loaded) {
        self.text.push_str(SEPARATOR);
        self.text.push_str("\nIDL: ");
        self.text.push_str(name);
        self.text.push('\n');
        match loaded.format {
            SourceFormat::Idl => self.text.push_str(&loaded.text),
            SourceFormat::Msg => self.text.push_str(&super::idl_gen::to_idl(&loaded.def)),
        }
    }
}

/// The namespace bare names resolve in: `pkg` for the root (as the bridge writes it), else the
/// header spelling without its last segment.
fn namespace_of(name: &str, root: bool) -> String {
    if root {
        return name.split('/').next().unwrap_or_default().to_string();
    }
    match name.rfind('/') {
        Some(i) => name[..i].to_string(),
        None => String::new(),
    }
}

fn parse_error(name: &str, message: String) -> SchemaError {
    SchemaError::Parse {
        name: name.to_string(),
        line: 0,
        message,
    }
}

/// `.msg` text for a definition: its own text, or one written from the parsed form when the
/// definition came from an `.idl` file (a `ros2msg` text must be self-contained).
fn msg_text(loaded: &Loaded) -> String {
    match loaded.format {
        SourceFormat::Msg => loaded.text.clone(),
        SourceFormat::Idl => to_msg(&loaded.def),
    }
}

/// Write a definition as `.msg` text (fields with defaults, then constants), message types as
/// `pkg/Type`.
pub(crate) fn to_msg(def: &MessageDefinition) -> String {
    let mut out = String::new();
    for c in &def.constants {
        out.push_str(&format!("{} {}={}\n", c.ty, c.name, literal(&c.value)));
    }
    for f in &def.fields {
        let base = match &f.base {
            BaseType::Primitive(p) => p.to_string(),
            BaseType::Message(full) => short_name(full),
        };
        let array = match f.array {
            ArrayKind::Scalar => String::new(),
            ArrayKind::Fixed(n) => format!("[{n}]"),
            ArrayKind::Bounded(n) => format!("[<={n}]"),
            ArrayKind::Unbounded => "[]".to_string(),
        };
        out.push_str(&format!("{base}{array} {}", f.name));
        if let Some(d) = &f.default {
            out.push(' ');
            out.push_str(&literal(d));
        }
        out.push('\n');
    }
    out
}

/// `pkg/msg/Type` → `pkg/Type`; other kinds keep their full name.
pub(crate) fn short_name(full: &str) -> String {
    match full.split('/').collect::<Vec<_>>().as_slice() {
        [p, "msg", n] => format!("{p}/{n}"),
        _ => full.to_string(),
    }
}

/// A JSON value as a `.msg` literal: strings double-quoted with escapes, arrays bracketed.
fn literal(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        serde_json::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", inner.join(", "))
        }
        other => other.to_string(),
    }
}
