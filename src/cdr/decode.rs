//! CDR → JSON, walking a [`ResolvedSchema`].

use serde_json::{Map, Value};

use super::describe::{field_type_name, primitive_name};
use super::error::{CdrError, FieldPath, MAX_DEPTH};
use super::reader::CdrReader;
use crate::schema::{ArrayKind, BaseType, Field, MessageDefinition, Primitive, ResolvedSchema};

/// Decode one serialized message (encapsulation header included, little- or big-endian) into
/// JSON shaped like the message: objects keyed by field name, numbers, strings, arrays.
///
/// - `uint8[]`/`byte[]`/`char[]` come out as arrays of numbers; `int64`/`uint64` as exact
///   integers (callers that hand them to JavaScript must mind 2^53).
/// - NaN and ±infinity, which JSON cannot carry, come out as the strings `"NaN"`, `"Infinity"`
///   and `"-Infinity"` (how JavaScript spells them); [`super::json_to_cdr`] reads them back.
/// - A message with no fields occupies one byte on the wire, as ROS 2 and
///   `@foxglove/rosmsg2-serialization` do; it decodes to `{}`.
/// - Bytes after the message are ignored: CDR allows trailing padding.
pub fn cdr_to_json(schema: &ResolvedSchema, data: &[u8]) -> Result<Value, CdrError> {
    let mut r = CdrReader::new(data)?;
    let root = lookup(schema, &schema.name)?;
    Decoder { schema }.message(root, &mut r, 0)
}

pub(crate) fn lookup<'s>(
    schema: &'s ResolvedSchema,
    name: &str,
) -> Result<&'s MessageDefinition, CdrError> {
    schema.get(name).ok_or_else(|| CdrError::UnknownType {
        path: FieldPath::default(),
        type_name: name.to_owned(),
    })
}

/// The fewest bytes one element can occupy, to reject impossible sequence counts before
/// allocating. A nested message counts as one byte: every real message (even an empty one)
/// occupies at least that.
pub(crate) fn min_wire_size(base: &BaseType) -> usize {
    match base {
        BaseType::Message(_) => 1,
        BaseType::Primitive(p) => p.min_wire_size(),
    }
}

/// JSON for a float: a number, or the JavaScript spelling of NaN/±infinity.
pub(crate) fn float_to_json(v: f64) -> Value {
    if v.is_nan() {
        Value::from("NaN")
    } else if v == f64::INFINITY {
        Value::from("Infinity")
    } else if v == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(v)
    }
}

struct Decoder<'s> {
    schema: &'s ResolvedSchema,
}

impl<'s> Decoder<'s> {
    fn message(
        &self,
        def: &MessageDefinition,
        r: &mut CdrReader<'_>,
        depth: usize,
    ) -> Result<Value, CdrError> {
        if depth > MAX_DEPTH {
            return Err(CdrError::TooDeep {
                path: FieldPath::default(),
            });
        }
        let mut obj = Map::new();
        if def.fields.is_empty() {
            // ROS 2 gives empty structs one dummy uint8 (`structure_needs_at_least_one_member`).
            r.read_u8()?;
            return Ok(Value::Object(obj));
        }
        for field in &def.fields {
            let v = self
                .field(field, r, depth)
                .map_err(|e| e.in_field(&field.name))?;
            obj.insert(field.name.clone(), v);
        }
        Ok(Value::Object(obj))
    }

    fn field(&self, field: &Field, r: &mut CdrReader<'_>, depth: usize) -> Result<Value, CdrError> {
        // Look the nested type up once, not per element.
        let elem = match &field.base {
            BaseType::Message(name) => Elem::Message(lookup(self.schema, name)?),
            BaseType::Primitive(p) => Elem::Primitive(*p),
        };
        let count = match field.array {
            ArrayKind::Scalar => return self.element(elem, r, depth),
            ArrayKind::Fixed(n) => n as usize,
            ArrayKind::Bounded(bound) => {
                let at = r.offset();
                let count = r.read_sequence_len(min_wire_size(&field.base))?;
                if count > bound as usize {
                    return Err(CdrError::malformed(
                        at,
                        format!(
                            "{count} elements in a {}, at most {bound} allowed",
                            field_type_name(field)
                        ),
                    ));
                }
                count
            }
            ArrayKind::Unbounded => r.read_sequence_len(min_wire_size(&field.base))?,
        };
        // A fixed size comes from the schema, not the peer, but is still capped by what the
        // buffer could hold so a silly `uint8[4000000000]` cannot allocate gigabytes.
        let cap = count.min(r.remaining() / min_wire_size(&field.base).max(1));
        let mut out = Vec::with_capacity(cap);
        for i in 0..count {
            let v = self.element(elem, r, depth).map_err(|e| e.at_index(i))?;
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn element(
        &self,
        elem: Elem<'_>,
        r: &mut CdrReader<'_>,
        depth: usize,
    ) -> Result<Value, CdrError> {
        match elem {
            Elem::Message(def) => self.message(def, r, depth + 1),
            Elem::Primitive(p) => primitive(p, r),
        }
    }
}

/// One element's type with nested messages already looked up.
#[derive(Clone, Copy)]
pub(crate) enum Elem<'s> {
    Message(&'s MessageDefinition),
    Primitive(Primitive),
}

fn primitive(p: Primitive, r: &mut CdrReader<'_>) -> Result<Value, CdrError> {
    Ok(match p {
        Primitive::Bool => Value::Bool(r.read_bool()?),
        Primitive::Byte | Primitive::Char | Primitive::Uint8 => Value::from(r.read_u8()?),
        Primitive::Int8 => Value::from(r.read_i8()?),
        Primitive::Int16 => Value::from(r.read_i16()?),
        Primitive::Uint16 => Value::from(r.read_u16()?),
        Primitive::Int32 => Value::from(r.read_i32()?),
        Primitive::Uint32 => Value::from(r.read_u32()?),
        Primitive::Int64 => Value::from(r.read_i64()?),
        Primitive::Uint64 => Value::from(r.read_u64()?),
        Primitive::Float32 => float_to_json(f64::from(r.read_f32()?)),
        Primitive::Float64 => float_to_json(r.read_f64()?),
        Primitive::String(bound) => {
            let at = r.offset();
            let s = r.read_string()?;
            check_bound(p, bound, s.len(), at)?;
            Value::from(s.into_owned())
        }
        Primitive::WString(bound) => {
            let at = r.offset();
            let s = r.read_wstring()?;
            check_bound(p, bound, s.encode_utf16().count(), at)?;
            Value::from(s)
        }
    })
}

/// Bounded strings count bytes (`string`) or UTF-16 code units (`wstring`), as rosidl does.
fn check_bound(p: Primitive, bound: Option<u32>, len: usize, at: usize) -> Result<(), CdrError> {
    match bound {
        Some(b) if len > b as usize => Err(CdrError::malformed(
            at,
            format!("{len} characters in a {}", primitive_name(p)),
        )),
        _ => Ok(()),
    }
}
