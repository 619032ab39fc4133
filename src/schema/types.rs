//! The parsed form of ROS 2 interface definitions.

/// A primitive (non-composite) field type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `bool`: one byte, 0 or 1.
    Bool,
    /// `byte` (octet): one byte, JSON number 0..=255.
    Byte,
    /// `char`: one byte (ROS 2 maps it to uint8), JSON number 0..=255.
    Char,
    /// `float32`.
    Float32,
    /// `float64`.
    Float64,
    /// `int8`.
    Int8,
    /// `uint8`.
    Uint8,
    /// `int16`.
    Int16,
    /// `uint16`.
    Uint16,
    /// `int32`.
    Int32,
    /// `uint32`.
    Uint32,
    /// `int64`.
    Int64,
    /// `uint64`.
    Uint64,
    /// `string` or `string<=N`; the bound, if any.
    String(Option<u32>),
    /// `wstring` or `wstring<=N`; the bound, if any. UTF-16 on the wire (XCDR1 as rmw writes it).
    WString(Option<u32>),
}

impl Primitive {
    /// The fewest bytes one value occupies in CDR, alignment aside: strings are at least their
    /// u32 length (ROS 2 writes a NUL too, but a bound must not rely on it).
    pub fn min_wire_size(self) -> usize {
        match self {
            Primitive::Bool
            | Primitive::Byte
            | Primitive::Char
            | Primitive::Int8
            | Primitive::Uint8 => 1,
            Primitive::Int16 | Primitive::Uint16 => 2,
            Primitive::Int32
            | Primitive::Uint32
            | Primitive::Float32
            | Primitive::String(_)
            | Primitive::WString(_) => 4,
            Primitive::Int64 | Primitive::Uint64 | Primitive::Float64 => 8,
        }
    }
}

/// The `.msg` spelling: `float64`, `string<=22`, `wstring`.
impl std::fmt::Display for Primitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, bound) = match *self {
            Primitive::Bool => ("bool", None),
            Primitive::Byte => ("byte", None),
            Primitive::Char => ("char", None),
            Primitive::Float32 => ("float32", None),
            Primitive::Float64 => ("float64", None),
            Primitive::Int8 => ("int8", None),
            Primitive::Uint8 => ("uint8", None),
            Primitive::Int16 => ("int16", None),
            Primitive::Uint16 => ("uint16", None),
            Primitive::Int32 => ("int32", None),
            Primitive::Uint32 => ("uint32", None),
            Primitive::Int64 => ("int64", None),
            Primitive::Uint64 => ("uint64", None),
            Primitive::String(b) => ("string", b),
            Primitive::WString(b) => ("wstring", b),
        };
        match bound {
            Some(b) => write!(f, "{name}<={b}"),
            None => f.write_str(name),
        }
    }
}

/// The element type of a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BaseType {
    /// A primitive.
    Primitive(Primitive),
    /// Another message, by normalised full name `pkg/msg/Type`.
    Message(String),
}

/// Whether a field is a scalar or some kind of array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArrayKind {
    /// Not an array.
    Scalar,
    /// `T[N]`: exactly N elements, no length prefix on the wire.
    Fixed(u32),
    /// `T[<=N]`: at most N elements, u32 length prefix.
    Bounded(u32),
    /// `T[]`: u32 length prefix.
    Unbounded,
}

/// One field of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Element type.
    pub base: BaseType,
    /// Scalar or array shape.
    pub array: ArrayKind,
    /// The default value from the definition (`int32 x 5`, `int32[] y [1, 2]`), as JSON in the
    /// same shape the codec produces; `None` means the type's zero value.
    pub default: Option<serde_json::Value>,
}

/// A constant (`int32 FOO=1`): part of the definition, never on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    /// Constant name.
    pub name: String,
    /// Its type (always a primitive).
    pub ty: Primitive,
    /// Its value as JSON.
    pub value: serde_json::Value,
}

/// One parsed message (or service/action part) definition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageDefinition {
    /// Normalised full name: `pkg/msg/Type`, `pkg/srv/Type_Request`, ...
    pub name: String,
    /// Fields in wire order, exactly as written in the definition. (An empty message still
    /// occupies one `uint8` on the wire in ROS 2; that is the codec's business, not the parser's.)
    pub fields: Vec<Field>,
    /// Constants.
    pub constants: Vec<Constant>,
}
