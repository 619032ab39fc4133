//! JSON → CDR, walking a [`ResolvedSchema`].

use base64::Engine as _;
use serde_json::{Map, Value};

use super::decode::{lookup, Elem};
use super::describe::{describe_value, field_type_name, primitive_name};
use super::error::{CdrError, FieldPath, MAX_DEPTH};
use super::writer::CdrWriter;
use crate::schema::{ArrayKind, BaseType, Field, MessageDefinition, Primitive, ResolvedSchema};

/// Encode a JSON message as little-endian XCDR1, encapsulation header included.
///
/// What it accepts (what the Foxglove app, rosbridge-style clients and our own code send):
/// - An object keyed by field name. Missing fields, and fields set to `null`, get the
///   definition's default, else zero / `""` / empty / all-default nested message. Fixed arrays
///   left out are filled with N such values. Unknown extra fields are ignored, as
///   foxglove_bridge does.
/// - Integers as JSON numbers (`5` or `5.0`; `5.5` is an error), range-checked per type.
///   `int64`/`uint64` are exact, and also accepted as decimal strings (`"9007199254740993"`)
///   because JavaScript cannot write them as exact numbers.
/// - `bool` as `true`/`false` (or `0`/`1`).
/// - Floats as numbers, or the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no
///   literal for them; `cdr_to_json` writes them that way). A finite number too large for
///   `float32` is an error rather than a silent infinity.
/// - Arrays as JSON arrays. `uint8[]`/`byte[]`/`char[]` may also be a base64 string (the
///   rosbridge convention). Any numeric array may also be an object `{"0": .., "1": ..}`: that
///   is what `JSON.stringify` makes of a typed array (e.g. a `Uint8Array` decoded by
///   `@foxglove/rosmsg2-serialization` and published back).
/// - A message with no fields is written as one zero byte (ROS 2's dummy member).
///
/// Errors name the field path and what was expected, e.g.
/// `linear.x: expected float64, got string "fast"` or `data[3]: 300 out of range for uint8`.
pub fn json_to_cdr(schema: &ResolvedSchema, value: &Value) -> Result<Vec<u8>, CdrError> {
    let mut out = Vec::with_capacity(estimate_size(value, 0));
    json_to_cdr_into(schema, value, &mut out)?;
    Ok(out)
}

/// [`json_to_cdr`] into a caller-owned buffer, so a publisher encoding the same type at
/// 10–50 Hz reuses one allocation. `out` is cleared first; on error its contents are
/// unspecified.
pub fn json_to_cdr_into(
    schema: &ResolvedSchema,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), CdrError> {
    let mut w = CdrWriter::from_vec(std::mem::take(out));
    let result = encode_root(schema, value, &mut w);
    *out = w.into_inner();
    result
}

fn encode_root(schema: &ResolvedSchema, value: &Value, w: &mut CdrWriter) -> Result<(), CdrError> {
    let root = lookup(schema, &schema.name)?;
    let enc = Encoder { schema };
    let obj = enc.as_object(value, &schema.name)?;
    enc.message(root, obj, w, 0)
}

/// A rough payload size, so the buffer is allocated once for typical messages.
fn estimate_size(v: &Value, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return 0;
    }
    match v {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(_) => 8,
        Value::String(s) => s.len() + 5,
        Value::Array(a) => 4 + a.iter().map(|e| estimate_size(e, depth + 1)).sum::<usize>(),
        Value::Object(m) => m.values().map(|e| estimate_size(e, depth + 1)).sum(),
    }
}

struct Encoder<'s> {
    schema: &'s ResolvedSchema,
}

/// Where an array's elements come from.
enum Elems<'v> {
    /// Field absent: `n` default elements.
    Absent(usize),
    /// A JSON array.
    Array(&'v [Value]),
    /// A typed array as `JSON.stringify` writes it, elements in index order.
    Indexed(Vec<&'v Value>),
    /// Base64-decoded bytes for a byte-like array.
    Bytes(Vec<u8>),
}

impl Elems<'_> {
    fn len(&self) -> usize {
        match self {
            Elems::Absent(n) => *n,
            Elems::Array(a) => a.len(),
            Elems::Indexed(v) => v.len(),
            Elems::Bytes(b) => b.len(),
        }
    }
}

impl<'s> Encoder<'s> {
    fn as_object<'v>(
        &self,
        value: &'v Value,
        type_name: &str,
    ) -> Result<Option<&'v Map<String, Value>>, CdrError> {
        match value {
            Value::Object(m) => Ok(Some(m)),
            Value::Null => Ok(None),
            other => Err(CdrError::value(format!(
                "expected object ({type_name}), got {}",
                describe_value(other)
            ))),
        }
    }

    fn message(
        &self,
        def: &MessageDefinition,
        obj: Option<&Map<String, Value>>,
        w: &mut CdrWriter,
        depth: usize,
    ) -> Result<(), CdrError> {
        if depth > MAX_DEPTH {
            return Err(CdrError::TooDeep {
                path: FieldPath::default(),
            });
        }
        if def.fields.is_empty() {
            // ROS 2 gives empty structs one dummy uint8 (`structure_needs_at_least_one_member`).
            w.write_u8(0);
            return Ok(());
        }
        for field in &def.fields {
            let given = obj
                .and_then(|m| m.get(&field.name))
                .filter(|v| !v.is_null());
            let v = given.or(field.default.as_ref());
            self.field(field, v, w, depth)
                .map_err(|e| e.in_field(&field.name))?;
        }
        Ok(())
    }

    fn field(
        &self,
        field: &Field,
        v: Option<&Value>,
        w: &mut CdrWriter,
        depth: usize,
    ) -> Result<(), CdrError> {
        let elem = match &field.base {
            BaseType::Message(name) => Elem::Message(lookup(self.schema, name)?),
            BaseType::Primitive(p) => Elem::Primitive(*p),
        };
        if field.array == ArrayKind::Scalar {
            return self.element(elem, v, w, depth);
        }
        let elems = self.elements(field, elem, v)?;
        let count = elems.len();
        match field.array {
            ArrayKind::Fixed(n) if count != n as usize => {
                return Err(CdrError::value(format!(
                    "expected exactly {n} elements ({}), got {count}",
                    field_type_name(field)
                )));
            }
            ArrayKind::Bounded(b) if count > b as usize => {
                return Err(CdrError::value(format!(
                    "at most {b} elements allowed ({}), got {count}",
                    field_type_name(field)
                )));
            }
            ArrayKind::Bounded(_) | ArrayKind::Unbounded => {
                let n = u32::try_from(count).map_err(|_| {
                    CdrError::value(format!("{count} elements do not fit a CDR sequence"))
                })?;
                w.write_u32(n);
            }
            ArrayKind::Fixed(_) | ArrayKind::Scalar => {}
        }
        match elems {
            Elems::Bytes(bytes) => w.write_bytes(&bytes),
            Elems::Absent(n) => {
                for i in 0..n {
                    self.element(elem, None, w, depth)
                        .map_err(|e| e.at_index(i))?;
                }
            }
            Elems::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    self.element(elem, Some(e), w, depth)
                        .map_err(|e| e.at_index(i))?;
                }
            }
            Elems::Indexed(a) => {
                for (i, e) in a.into_iter().enumerate() {
                    self.element(elem, Some(e), w, depth)
                        .map_err(|e| e.at_index(i))?;
                }
            }
        }
        Ok(())
    }

    fn elements<'v>(
        &self,
        field: &Field,
        elem: Elem<'_>,
        v: Option<&'v Value>,
    ) -> Result<Elems<'v>, CdrError> {
        let byte_like = matches!(
            elem,
            Elem::Primitive(Primitive::Uint8 | Primitive::Byte | Primitive::Char)
        );
        let numeric = matches!(
            elem,
            Elem::Primitive(p) if !matches!(p, Primitive::String(_) | Primitive::WString(_))
        );
        match v {
            None => Ok(Elems::Absent(match field.array {
                ArrayKind::Fixed(n) => n as usize,
                _ => 0,
            })),
            Some(Value::Array(a)) => Ok(Elems::Array(a)),
            Some(Value::String(s)) if byte_like => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(Elems::Bytes)
                .map_err(|e| {
                    CdrError::value(format!(
                        "expected {} as an array or base64, got a string that is not base64 ({e})",
                        field_type_name(field)
                    ))
                }),
            Some(Value::Object(m)) if numeric => {
                // `{"0": 1, "1": 2}`: every key must be an index below the length.
                let mut out = Vec::with_capacity(m.len());
                for i in 0..m.len() {
                    match m.get(&i.to_string()) {
                        Some(e) => out.push(e),
                        None => {
                            return Err(CdrError::value(format!(
                                "expected {} (array, or object with keys \"0\"..\"{}\"), \
                                 got object without key \"{i}\"",
                                field_type_name(field),
                                m.len() - 1
                            )))
                        }
                    }
                }
                Ok(Elems::Indexed(out))
            }
            Some(other) => Err(CdrError::value(format!(
                "expected {} (array), got {}",
                field_type_name(field),
                describe_value(other)
            ))),
        }
    }

    fn element(
        &self,
        elem: Elem<'_>,
        v: Option<&Value>,
        w: &mut CdrWriter,
        depth: usize,
    ) -> Result<(), CdrError> {
        match elem {
            Elem::Message(def) => {
                let obj = match v {
                    Some(v) => self.as_object(v, &def.name)?,
                    None => None,
                };
                self.message(def, obj, w, depth + 1)
            }
            Elem::Primitive(p) => primitive(p, v, w),
        }
    }
}

fn mismatch(p: Primitive, v: &Value) -> CdrError {
    CdrError::value(format!(
        "expected {}, got {}",
        primitive_name(p),
        describe_value(v)
    ))
}

/// An integer value from a JSON number (or, for 64-bit types, a decimal string), range-checked.
fn integer(p: Primitive, v: &Value, min: i128, max: i128) -> Result<i128, CdrError> {
    let wide = matches!(p, Primitive::Int64 | Primitive::Uint64);
    let i = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else {
                match n.as_f64() {
                    // `as` saturates; the range check below catches anything saturated.
                    Some(f) if f.is_finite() && f.fract() == 0.0 => f as i128,
                    _ => return Err(mismatch(p, v)),
                }
            }
        }
        Value::String(s) if wide => s.trim().parse::<i128>().map_err(|_| mismatch(p, v))?,
        _ => return Err(mismatch(p, v)),
    };
    if i < min || i > max {
        let shown = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => i.to_string(),
        };
        return Err(CdrError::value(format!(
            "{shown} out of range for {}",
            primitive_name(p)
        )));
    }
    Ok(i)
}

fn float(p: Primitive, v: &Value) -> Result<f64, CdrError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| mismatch(p, v)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "nan" => Ok(f64::NAN),
            "infinity" | "+infinity" | "inf" | "+inf" => Ok(f64::INFINITY),
            "-infinity" | "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(mismatch(p, v)),
        },
        _ => Err(mismatch(p, v)),
    }
}

/// Write one primitive; `None` writes its zero value.
fn primitive(p: Primitive, v: Option<&Value>, w: &mut CdrWriter) -> Result<(), CdrError> {
    let Some(v) = v else {
        match p {
            Primitive::String(_) => w.write_string(""),
            Primitive::WString(_) => w.write_wstring(""),
            _ => primitive(p, Some(&Value::from(0)), w)?,
        }
        return Ok(());
    };
    // The casts below are exact: `integer` has range-checked the value for the type.
    match p {
        Primitive::Bool => match v {
            Value::Bool(b) => w.write_bool(*b),
            Value::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
                w.write_bool(n.as_u64() == Some(1))
            }
            _ => return Err(mismatch(p, v)),
        },
        Primitive::Byte | Primitive::Char | Primitive::Uint8 => {
            w.write_u8(integer(p, v, 0, u8::MAX.into())? as u8)
        }
        Primitive::Int8 => w.write_i8(integer(p, v, i8::MIN.into(), i8::MAX.into())? as i8),
        Primitive::Int16 => w.write_i16(integer(p, v, i16::MIN.into(), i16::MAX.into())? as i16),
        Primitive::Uint16 => w.write_u16(integer(p, v, 0, u16::MAX.into())? as u16),
        Primitive::Int32 => w.write_i32(integer(p, v, i32::MIN.into(), i32::MAX.into())? as i32),
        Primitive::Uint32 => w.write_u32(integer(p, v, 0, u32::MAX.into())? as u32),
        Primitive::Int64 => w.write_i64(integer(p, v, i64::MIN.into(), i64::MAX.into())? as i64),
        Primitive::Uint64 => w.write_u64(integer(p, v, 0, u64::MAX.into())? as u64),
        Primitive::Float32 => {
            let f = float(p, v)?;
            let narrowed = f as f32;
            if f.is_finite() && !narrowed.is_finite() {
                return Err(CdrError::value(format!("{v} out of range for float32")));
            }
            w.write_f32(narrowed)
        }
        Primitive::Float64 => w.write_f64(float(p, v)?),
        Primitive::String(bound) => {
            let Value::String(s) = v else {
                return Err(mismatch(p, v));
            };
            check_bound(p, bound, s.len(), "bytes")?;
            check_len(s.len())?;
            w.write_string(s)
        }
        Primitive::WString(bound) => {
            let Value::String(s) = v else {
                return Err(mismatch(p, v));
            };
            if let Some(b) = bound {
                check_bound(p, Some(b), s.encode_utf16().count(), "UTF-16 code units")?;
            }
            // UTF-16 never has more units than UTF-8 has bytes.
            check_len(s.len())?;
            w.write_wstring(s)
        }
    }
    Ok(())
}

/// CDR lengths are u32 (with room for the NUL): refuse rather than let the writer panic.
fn check_len(len: usize) -> Result<(), CdrError> {
    if len >= u32::MAX as usize {
        return Err(CdrError::value(format!(
            "string of {len} bytes is too long for CDR"
        )));
    }
    Ok(())
}

fn check_bound(p: Primitive, bound: Option<u32>, len: usize, unit: &str) -> Result<(), CdrError> {
    match bound {
        Some(b) if len > b as usize => Err(CdrError::value(format!(
            "string too long for {}: {len} {unit}, at most {b} allowed",
            primitive_name(p)
        ))),
        _ => Ok(()),
    }
}
