//! The `.idl` parser: the OMG IDL subset that rosidl generates (`rosidl_adapter` output and
//! hand-written interface IDL of the same shape).
//!
//! Understood: `module` nesting, `struct` with members, `typedef` (rosidl writes fixed arrays as
//! `typedef double double__9[9];`), `module X_Constants { const T NAME = v; };` (constants of
//! struct `X`), `sequence<T>`, `sequence<T, N>`, `string<N>`, `wstring<N>`, member arrays
//! `T name[N]`, and annotations, of which `@default (value=...)` is used. Preprocessor lines
//! (`#include`, guards) and comments are skipped: dependencies come from member types.
//!
//! rosidl gives empty messages a placeholder member `uint8 structure_needs_at_least_one_member`;
//! it is dropped so the definition matches the `.msg` one (the wire byte is the codec's job).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::literal::parse_primitive;
use super::msg::DepRef;
use super::names::valid_type_name;
use super::text::{short_name, Loaded, SourceFormat};
use super::types::{ArrayKind, BaseType, Constant, Field, MessageDefinition, Primitive};
use super::SchemaError;

/// Modules nest at most this deep (rosidl uses two levels); protects the recursion.
const MAX_MODULE_DEPTH: usize = 16;
/// The placeholder member rosidl adds to empty structs.
const PLACEHOLDER: &str = "structure_needs_at_least_one_member";

/// Parse an `.idl` file into every struct it defines (`file` names it in errors).
pub(crate) fn parse_idl(file: &str, text: &str) -> Result<Vec<Loaded>, SchemaError> {
    let tokens = tokenize(text).map_err(|(line, message)| SchemaError::Parse {
        name: file.to_string(),
        line,
        message,
    })?;
    let mut p = Parser {
        tokens,
        pos: 0,
        modules: Vec::new(),
        typedefs: HashMap::new(),
        structs: Vec::new(),
        constants: HashMap::new(),
    };
    p.definitions(0)
        .map_err(|(line, message)| SchemaError::Parse {
            name: file.to_string(),
            line,
            message,
        })?;
    let Parser {
        structs,
        mut constants,
        ..
    } = p;
    Ok(structs
        .into_iter()
        .map(|(mut def, deps)| {
            if let Some(c) = constants.remove(&def.name) {
                def.constants = c;
            }
            Loaded {
                def: Arc::new(def),
                deps,
                text: text.to_string(),
                format: SourceFormat::Idl,
            }
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A numeric literal (sign handled by the parser).
    Number(String),
    /// A string literal, escapes processed; adjacent literals are concatenated.
    Str(String),
    Punct(char),
    /// `::`
    Scope,
}

type PResult<T> = Result<T, (usize, String)>;

fn tokenize(text: &str) -> PResult<Vec<(usize, Tok)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<(usize, Tok)> = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut at_line_start = true;
    while let Some(&c) = chars.get(i) {
        if c == '\n' {
            line += 1;
            at_line_start = true;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let peek = chars.get(i + 1).copied();
        if c == '#' && at_line_start {
            // Preprocessor directive: skip to the end of the line.
            while chars.get(i).is_some_and(|c| *c != '\n') {
                i += 1;
            }
            continue;
        }
        at_line_start = false;
        if c == '/' && peek == Some('/') {
            while chars.get(i).is_some_and(|c| *c != '\n') {
                i += 1;
            }
        } else if c == '/' && peek == Some('*') {
            i += 2;
            loop {
                match chars.get(i) {
                    None => return Err((line, "unterminated /* comment".into())),
                    Some('*') if chars.get(i + 1) == Some(&'/') => {
                        i += 2;
                        break;
                    }
                    Some('\n') => line += 1,
                    _ => {}
                }
                i += 1;
            }
        } else if c == '"' || (c == 'L' && peek == Some('"')) {
            i += if c == 'L' { 2 } else { 1 };
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None | Some('\n') => return Err((line, "unterminated string literal".into())),
                    Some('"') => break,
                    Some('\\') => {
                        i += 1;
                        match chars.get(i) {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(other) => s.push(*other),
                            None => return Err((line, "unterminated string literal".into())),
                        }
                    }
                    Some(other) => s.push(*other),
                }
                i += 1;
            }
            i += 1;
            // IDL concatenates adjacent string literals ("a" "b"), as rosidl's @verbatim uses.
            match out.last_mut() {
                Some((_, Tok::Str(prev))) => prev.push_str(&s),
                _ => out.push((line, Tok::Str(s))),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            out.push((line, Tok::Ident(chars[start..i].iter().collect())));
        } else if c.is_ascii_digit() || (c == '.' && peek.is_some_and(|p| p.is_ascii_digit())) {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                || (matches!(chars.get(i), Some('+' | '-'))
                    && matches!(chars.get(i.wrapping_sub(1)), Some('e' | 'E'))
                    && !chars[start..i].iter().any(|c| *c == 'x' || *c == 'X'))
            {
                i += 1;
            }
            out.push((line, Tok::Number(chars[start..i].iter().collect())));
        } else if c == ':' && peek == Some(':') {
            out.push((line, Tok::Scope));
            i += 2;
        } else if "{}();<>[],=@-+".contains(c) {
            out.push((line, Tok::Punct(c)));
            i += 1;
        } else {
            return Err((line, format!("unexpected character {c:?}")));
        }
    }
    Ok(out)
}

/// A member type before it is given a name.
#[derive(Debug, Clone)]
struct IdlType {
    base: BaseType,
    array: ArrayKind,
}

struct Parser {
    tokens: Vec<(usize, Tok)>,
    pos: usize,
    modules: Vec<String>,
    /// Typedefs by simple and by scoped (`a::b::T`) name.
    typedefs: HashMap<String, IdlType>,
    structs: Vec<(MessageDefinition, Vec<DepRef>)>,
    /// Constants by the full name of the struct they belong to.
    constants: HashMap<String, Vec<Constant>>,
}

impl Parser {
    fn line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map(|t| t.0)
            .unwrap_or(1)
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.1)
    }

    fn next(&mut self) -> PResult<Tok> {
        let t = self
            .tokens
            .get(self.pos)
            .map(|t| t.1.clone())
            .ok_or_else(|| (self.line(), "unexpected end of file".to_string()))?;
        self.pos += 1;
        Ok(t)
    }

    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err((self.line(), message.into()))
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn expect_punct(&mut self, c: char) -> PResult<()> {
        match self.next()? {
            Tok::Punct(p) if p == c => Ok(()),
            other => {
                self.pos -= 1;
                self.err(format!("expected {c:?}, found {other:?}"))
            }
        }
    }

    fn ident(&mut self) -> PResult<String> {
        match self.next()? {
            Tok::Ident(s) => Ok(s),
            other => {
                self.pos -= 1;
                self.err(format!("expected a name, found {other:?}"))
            }
        }
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == k)
    }

    /// Definitions until `}` or the end of the file.
    fn definitions(&mut self, depth: usize) -> PResult<()> {
        if depth > MAX_MODULE_DEPTH {
            return self.err("modules nest too deeply");
        }
        loop {
            // Annotations on modules and structs (@verbatim comments, ...) carry nothing we use.
            self.annotations()?;
            match self.peek() {
                None => return Ok(()),
                Some(Tok::Punct('}')) => return Ok(()),
                Some(Tok::Punct(';')) => {
                    self.pos += 1;
                }
                Some(Tok::Ident(k)) => match k.as_str() {
                    "module" => {
                        self.pos += 1;
                        let name = self.ident()?;
                        self.expect_punct('{')?;
                        self.modules.push(name);
                        self.definitions(depth + 1)?;
                        self.modules.pop();
                        self.expect_punct('}')?;
                        self.expect_punct(';')?;
                    }
                    "struct" => {
                        self.pos += 1;
                        self.structure()?;
                    }
                    "typedef" => {
                        self.pos += 1;
                        self.typedef()?;
                    }
                    "const" => {
                        self.pos += 1;
                        self.constant()?;
                    }
                    other => return self.err(format!("unexpected {other:?}")),
                },
                Some(other) => return self.err(format!("unexpected {other:?}")),
            }
        }
    }

    /// Zero or more `@name` or `@name (...)`; returns the `value` of `@default`, if any.
    fn annotations(&mut self) -> PResult<Option<Tok>> {
        let mut default = None;
        while self.is_punct('@') {
            self.pos += 1;
            let name = self.scoped_name()?;
            if !self.is_punct('(') {
                continue;
            }
            let start = self.pos + 1;
            let mut depth = 0usize;
            loop {
                match self.next()? {
                    Tok::Punct('(') => depth += 1,
                    Tok::Punct(')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if name == "default" {
                // `(value=X)`: the literal is the token after `value =`, with an optional sign.
                let args = &self.tokens[start..self.pos - 1];
                let value = match args {
                    [(_, Tok::Ident(v)), (_, Tok::Punct('=')), rest @ ..] if v == "value" => rest,
                    _ => args,
                };
                default = Some(match value {
                    [(_, Tok::Punct('-')), (_, Tok::Number(n))] => Tok::Number(format!("-{n}")),
                    [(_, t)] => t.clone(),
                    _ => return self.err("cannot read @default value"),
                });
            }
        }
        Ok(default)
    }

    fn scoped_name(&mut self) -> PResult<String> {
        let mut name = String::new();
        if self.peek() == Some(&Tok::Scope) {
            self.pos += 1;
        }
        loop {
            name.push_str(&self.ident()?);
            if self.peek() != Some(&Tok::Scope) {
                return Ok(name);
            }
            self.pos += 1;
            name.push_str("::");
        }
    }

    fn full_name(&self, name: &str) -> PResult<String> {
        match self.modules.as_slice() {
            [pkg, kind] if valid_type_name(name) => Ok(format!("{pkg}/{kind}/{name}")),
            _ => self.err(format!(
                "struct {name} must be inside module <package> {{ module <msg|srv|action> }}"
            )),
        }
    }

    fn structure(&mut self) -> PResult<()> {
        let name = self.ident()?;
        if self.is_punct(';') {
            // A forward declaration.
            self.pos += 1;
            return Ok(());
        }
        let full = self.full_name(&name)?;
        self.expect_punct('{')?;
        let mut def = MessageDefinition {
            name: full.clone(),
            ..Default::default()
        };
        let mut deps = Vec::new();
        while !self.is_punct('}') {
            let default = self.annotations()?;
            let ty = self.type_spec(false)?;
            loop {
                let member = self.ident()?;
                let array = self.declarator_array(ty.array)?;
                if def.fields.iter().any(|f| f.name == member) {
                    return self.err(format!("duplicate member {member}"));
                }
                let default = match (&default, &ty.base) {
                    (Some(tok), BaseType::Primitive(p)) => {
                        Some(self.default_value(*p, array, tok)?)
                    }
                    (Some(_), BaseType::Message(_)) => {
                        return self.err(format!("member {member}: @default on a struct type"))
                    }
                    (None, _) => None,
                };
                if let BaseType::Message(full) = &ty.base {
                    deps.push(DepRef {
                        raw: short_name(full),
                        full: full.clone(),
                    });
                }
                def.fields.push(Field {
                    name: member,
                    base: ty.base.clone(),
                    array,
                    default,
                });
                if self.is_punct(',') {
                    self.pos += 1;
                    continue;
                }
                break;
            }
            self.expect_punct(';')?;
        }
        self.expect_punct('}')?;
        self.expect_punct(';')?;
        if def.fields.len() == 1 && def.fields[0].name == PLACEHOLDER {
            def.fields.clear();
        }
        self.structs.push((def, deps));
        Ok(())
    }

    /// `[N]` after a declarator, combined with the array shape of a typedef.
    fn declarator_array(&mut self, from_type: ArrayKind) -> PResult<ArrayKind> {
        if !self.is_punct('[') {
            return Ok(from_type);
        }
        self.pos += 1;
        let n = self.positive()?;
        self.expect_punct(']')?;
        if from_type != ArrayKind::Scalar || self.is_punct('[') {
            return self.err("multi-dimensional arrays are not supported by ROS 2");
        }
        Ok(ArrayKind::Fixed(n))
    }

    fn positive(&mut self) -> PResult<u32> {
        match self.next()? {
            Tok::Number(n) => match n.parse::<u32>() {
                Ok(v) if v > 0 => Ok(v),
                _ => self.err(format!("{n} is not a valid size")),
            },
            other => self.err(format!("expected a size, found {other:?}")),
        }
    }

    fn typedef(&mut self) -> PResult<()> {
        let ty = self.type_spec(false)?;
        let name = self.ident()?;
        let array = self.declarator_array(ty.array)?;
        self.expect_punct(';')?;
        let scoped = format!("{}::{name}", self.modules.join("::"));
        let def = IdlType {
            base: ty.base,
            array,
        };
        self.typedefs.insert(scoped, def.clone());
        self.typedefs.insert(name, def);
        Ok(())
    }

    fn constant(&mut self) -> PResult<()> {
        let ty = self.type_spec(false)?;
        let BaseType::Primitive(p) = ty.base else {
            return self.err("constants must have a primitive type");
        };
        let name = self.ident()?;
        self.expect_punct('=')?;
        let value = match self.next()? {
            Tok::Punct('-') => match self.next()? {
                Tok::Number(n) => Tok::Number(format!("-{n}")),
                other => return self.err(format!("expected a number, found {other:?}")),
            },
            t => t,
        };
        self.expect_punct(';')?;
        let value = self.default_value(p, ArrayKind::Scalar, &value)?;
        // rosidl puts the constants of struct X in a sibling module `X_Constants`.
        let owner = match self.modules.split_last() {
            Some((last, parents)) => match (last.strip_suffix("_Constants"), parents) {
                (Some(s), [pkg, kind]) => format!("{pkg}/{kind}/{s}"),
                _ => return self.err("constants must be in a module <Type>_Constants"),
            },
            None => return self.err("constants must be in a module <Type>_Constants"),
        };
        self.constants
            .entry(owner)
            .or_default()
            .push(Constant { name, ty: p, value });
        Ok(())
    }

    /// A type: primitive, `string<N>`, `sequence<T[, N]>`, a typedef, or a struct name.
    fn type_spec(&mut self, in_sequence: bool) -> PResult<IdlType> {
        let scalar = |p| IdlType {
            base: BaseType::Primitive(p),
            array: ArrayKind::Scalar,
        };
        let first = self.scoped_name()?;
        let p = match first.as_str() {
            "sequence" => {
                if in_sequence {
                    return self.err("nested sequences are not supported by ROS 2");
                }
                self.expect_punct('<')?;
                let inner = self.type_spec(true)?;
                if inner.array != ArrayKind::Scalar {
                    return self.err("sequences of arrays are not supported by ROS 2");
                }
                let array = if self.is_punct(',') {
                    self.pos += 1;
                    ArrayKind::Bounded(self.positive()?)
                } else {
                    ArrayKind::Unbounded
                };
                self.expect_punct('>')?;
                return Ok(IdlType {
                    base: inner.base,
                    array,
                });
            }
            "string" | "wstring" => {
                let bound = if self.is_punct('<') {
                    self.pos += 1;
                    let n = self.positive()?;
                    self.expect_punct('>')?;
                    Some(n)
                } else {
                    None
                };
                return Ok(scalar(if first == "string" {
                    Primitive::String(bound)
                } else {
                    Primitive::WString(bound)
                }));
            }
            "boolean" => Primitive::Bool,
            "octet" => Primitive::Byte,
            "char" => Primitive::Char,
            "float" => Primitive::Float32,
            "double" => Primitive::Float64,
            "int8" => Primitive::Int8,
            "uint8" => Primitive::Uint8,
            "int16" | "short" => Primitive::Int16,
            "uint16" => Primitive::Uint16,
            "int32" => Primitive::Int32,
            "uint32" => Primitive::Uint32,
            "int64" => Primitive::Int64,
            "uint64" => Primitive::Uint64,
            "long" => {
                if self.keyword("long") {
                    self.pos += 1;
                    Primitive::Int64
                } else if self.keyword("double") {
                    return self.err("long double is not supported");
                } else {
                    Primitive::Int32
                }
            }
            "unsigned" => {
                let a = self.ident()?;
                match a.as_str() {
                    "short" => Primitive::Uint16,
                    "long" if self.keyword("long") => {
                        self.pos += 1;
                        Primitive::Uint64
                    }
                    "long" => Primitive::Uint32,
                    _ => return self.err(format!("unsigned {a} is not a type")),
                }
            }
            "wchar" | "any" | "fixed" => return self.err(format!("{first} is not supported")),
            _ => return self.named_type(&first),
        };
        Ok(scalar(p))
    }

    /// A typedef or a struct, by (scoped or relative) name.
    fn named_type(&self, name: &str) -> PResult<IdlType> {
        let relative = format!("{}::{name}", self.modules.join("::"));
        if let Some(t) = self.typedefs.get(name).or(self.typedefs.get(&relative)) {
            return Ok(t.clone());
        }
        let parts: Vec<&str> = name.split("::").collect();
        let full = match parts.as_slice() {
            [p, k, n] => format!("{p}/{k}/{n}"),
            [n] => match self.modules.as_slice() {
                [p, k] => format!("{p}/{k}/{n}"),
                _ => return self.err(format!("cannot resolve type {name}")),
            },
            _ => return self.err(format!("cannot resolve type {name}")),
        };
        match super::names::TypeName::parse(&full) {
            Ok(_) => Ok(IdlType {
                base: BaseType::Message(full),
                array: ArrayKind::Scalar,
            }),
            Err(_) => self.err(format!("invalid type name {name}")),
        }
    }

    /// A `@default` or `const` value. Arrays are written by rosidl as a string holding a Python
    /// tuple: `"(0, 1, 2)"`, `"('a', 'b')"`.
    fn default_value(&self, p: Primitive, array: ArrayKind, tok: &Tok) -> PResult<Value> {
        let wrap = |r: Result<Value, String>| r.map_err(|m| (self.line(), m));
        if array != ArrayKind::Scalar {
            let Tok::Str(s) = tok else {
                return self.err("array default must be a string holding a tuple");
            };
            let inner = s
                .trim()
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| (self.line(), format!("array default {s:?} is not a tuple")))?;
            let inner = inner.trim().strip_suffix(',').unwrap_or(inner);
            return wrap(super::literal::parse_array(p, &format!("[{inner}]")).map(Value::Array));
        }
        match (p, tok) {
            (Primitive::String(bound) | Primitive::WString(bound), Tok::Str(s)) => {
                if bound.is_some_and(|b| s.chars().count() > b as usize) {
                    return self.err(format!("default {s:?} exceeds the string bound"));
                }
                Ok(Value::String(s.clone()))
            }
            (_, Tok::Number(n)) | (_, Tok::Ident(n)) => wrap(parse_primitive(p, n)),
            (_, other) => self.err(format!("invalid value {other:?}")),
        }
    }
}

#[cfg(test)]
#[path = "idl_tests.rs"]
mod tests;
