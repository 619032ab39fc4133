//! Low-level XCDR1 writing, little-endian (what rmw publishes on every platform ROS 2 supports).

use super::reader::{CDR_LE, HEADER_LEN};

/// Writes primitives after a little-endian encapsulation header (`00 01 00 00`).
///
/// Alignment is relative to the payload start; padding bytes are zero (as `@foxglove/cdr`
/// writes them, so output is byte-for-byte comparable).
#[derive(Debug, Clone)]
pub struct CdrWriter {
    buf: Vec<u8>,
}

impl Default for CdrWriter {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! write_num {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $n:expr) => {
        $(#[$doc])*
        pub fn $name(&mut self, v: $ty) {
            self.align($n);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    };
}

impl CdrWriter {
    /// An empty message: just the header.
    pub fn new() -> Self {
        Self::with_capacity(64)
    }

    /// An empty message with room for `payload` bytes after the header.
    pub fn with_capacity(payload: usize) -> Self {
        Self::from_vec(Vec::with_capacity(payload.saturating_add(HEADER_LEN)))
    }

    /// Reuse `buf`'s allocation (its contents are discarded): the cheap path for publishers that
    /// encode the same type many times a second.
    pub fn from_vec(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(&[0, CDR_LE, 0, 0]);
        CdrWriter { buf }
    }

    /// Total length so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing but the header has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.len() == HEADER_LEN
    }

    /// The bytes written so far, header included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished message, header included.
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    /// Pad with zeros to a multiple of `n` from the payload start.
    pub fn align(&mut self, n: usize) {
        let rel = self.buf.len() - HEADER_LEN;
        let pad = (n - rel % n) % n;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// Raw bytes, unaligned.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// A `uint8` (also `byte` and `char`).
    pub fn write_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// An `int8`.
    pub fn write_i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }

    /// A `bool` as one byte, 0 or 1.
    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    write_num!(
        /// An `int16`.
        write_i16, i16, 2
    );
    write_num!(
        /// A `uint16`.
        write_u16, u16, 2
    );
    write_num!(
        /// An `int32`.
        write_i32, i32, 4
    );
    write_num!(
        /// A `uint32`; also sequence lengths.
        write_u32, u32, 4
    );
    write_num!(
        /// An `int64` (aligned to 8).
        write_i64, i64, 8
    );
    write_num!(
        /// A `uint64` (aligned to 8).
        write_u64, u64, 8
    );
    write_num!(
        /// A `float32`.
        write_f32, f32, 4
    );
    write_num!(
        /// A `float64` (aligned to 8).
        write_f64, f64, 8
    );

    /// A `string`: u32 byte length including the NUL, UTF-8 bytes, NUL.
    ///
    /// # Panics
    /// If the string is 4 GiB or longer, which CDR cannot express.
    pub fn write_string(&mut self, s: &str) {
        let len = u32::try_from(s.len() + 1).expect("CDR strings are shorter than 4 GiB");
        self.write_u32(len);
        self.buf.reserve(s.len() + 1);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// A `wstring`: u32 count of UTF-16 code units, then each unit as `uint16`, no terminator
    /// (Fast-CDR 2, rmw_fastrtps since Iron).
    ///
    /// # Panics
    /// If the string has 2^32 or more code units.
    pub fn write_wstring(&mut self, s: &str) {
        let count = s.encode_utf16().count();
        let count32 = u32::try_from(count).expect("CDR wstrings have fewer than 2^32 units");
        self.write_u32(count32);
        self.buf.reserve(count * 2);
        for unit in s.encode_utf16() {
            // Already 2-aligned after the u32: no padding between units.
            self.buf.extend_from_slice(&unit.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::reader::CdrReader;

    #[test]
    fn header_and_alignment() {
        let mut w = CdrWriter::new();
        assert!(w.is_empty());
        w.write_u8(0xaa);
        w.write_u16(0x0102);
        w.write_u8(0xbb);
        w.write_u64(0x0102030405060708);
        w.write_f64(1.0);
        assert_eq!(
            w.as_bytes(),
            [
                0, 1, 0, 0, // header
                0xaa, 0, 0x02, 0x01, 0xbb, 0, 0, 0, // u8, pad, u16, u8, pad to 8
                0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // u64
                0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // 1.0f64
            ]
        );
    }

    #[test]
    fn strings_and_wstrings() {
        let mut w = CdrWriter::new();
        w.write_u8(7);
        w.write_string("hé");
        w.write_wstring("hé\u{1f600}");
        assert_eq!(
            w.as_bytes(),
            [
                0, 1, 0, 0, //
                7, 0, 0, 0, 4, 0, 0, 0, b'h', 0xc3, 0xa9, 0, // u8, pad, "hé"
                4, 0, 0, 0, b'h', 0, 0xe9, 0, 0x3d, 0xd8, 0x00, 0xde, // 4 UTF-16 units
            ]
        );
        let bytes = w.into_inner();
        let mut r = CdrReader::new(&bytes).unwrap();
        assert_eq!(r.read_u8().unwrap(), 7);
        assert_eq!(r.read_string().unwrap(), "hé");
        assert_eq!(r.read_wstring().unwrap(), "hé\u{1f600}");
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn from_vec_reuses_and_clears() {
        let mut w = CdrWriter::from_vec(vec![9; 100]);
        w.write_i32(-1);
        assert_eq!(w.into_inner(), [0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    }
}
