//! XCDR1 encoding of ROS 2 messages and schema-driven CDR ⇄ JSON conversion.
//!
//! What rmw puts on the wire: a 4-byte encapsulation header (`00 01 00 00` little-endian,
//! `00 00 00 00` big-endian), then the fields in definition order, each aligned to its size
//! relative to the first byte after the header (8-byte types to 8, XCDR1). Strings are a u32
//! byte length including the NUL, the bytes, the NUL; sequences a u32 count then the elements;
//! fixed arrays just the elements. An empty sequence adds no alignment padding (Fast-CDR 2,
//! `@foxglove/cdr`). A message without fields is one `uint8` (ROS 2's dummy member).
//!
//! `wstring` is UTF-16: a u32 count of code units, then each unit as a `uint16`, no terminator.
//! That is Fast-CDR 2 (rmw_fastrtps from Iron on). Humble's Fast-CDR 1 wrote 4-byte units, and
//! `@foxglove/rosmsg2-serialization` refuses wstrings altogether, so they are rare in practice.
//!
//! - [`CdrReader`] / [`CdrWriter`]: primitives with alignment; the reader checks every length.
//! - [`cdr_to_json`] / [`json_to_cdr`]: walk a [`crate::schema::ResolvedSchema`]; see their docs
//!   for the JSON shape (defaults, base64 and typed-array bytes, NaN and infinities, int64).
//! - [`CdrError`]: one error type naming the field path (`linear.x`, `data[3]`).

mod decode;
mod describe;
mod encode;
mod error;
mod reader;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod writer;

pub use decode::cdr_to_json;
#[cfg(feature = "ros2")]
pub(crate) use decode::float_to_json;
pub use encode::{json_to_cdr, json_to_cdr_into};
pub use error::{CdrError, FieldPath, MAX_DEPTH};
pub use reader::{CdrReader, CDR_BE, CDR_LE, HEADER_LEN};
pub use writer::CdrWriter;
