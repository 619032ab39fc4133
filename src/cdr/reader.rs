//! Low-level XCDR1 reading, little- and big-endian, that never reads past the buffer.

use std::borrow::Cow;

use super::error::{CdrError, FieldPath};

/// Length of the encapsulation header in front of every serialized ROS 2 message.
pub const HEADER_LEN: usize = 4;

/// Encapsulation kind byte for plain CDR (XCDR1), big-endian.
pub const CDR_BE: u8 = 0x00;
/// Encapsulation kind byte for plain CDR (XCDR1), little-endian: what rmw writes on x86/ARM.
pub const CDR_LE: u8 = 0x01;

/// Reads primitives from one serialized message (header included).
///
/// Alignment is relative to the first byte after the 4-byte encapsulation header, and 8-byte
/// types align to 8 (XCDR1 as Fast-CDR and `@foxglove/cdr` do). Every read checks the remaining
/// length first and fails with [`CdrError::Truncated`]; values that cannot be valid fail with
/// [`CdrError::Malformed`]. Errors carry an empty path: the schema walk adds the field path.
#[derive(Debug, Clone)]
pub struct CdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
    little_endian: bool,
}

macro_rules! read_num {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $n:expr) => {
        $(#[$doc])*
        pub fn $name(&mut self) -> Result<$ty, CdrError> {
            self.align($n)?;
            let bytes: [u8; $n] = self.take_array()?;
            Ok(if self.little_endian {
                <$ty>::from_le_bytes(bytes)
            } else {
                <$ty>::from_be_bytes(bytes)
            })
        }
    };
}

impl<'a> CdrReader<'a> {
    /// Start reading `buf`, which must begin with the encapsulation header
    /// (`00 01 00 00` little-endian or `00 00 00 00` big-endian; the options bytes are ignored
    /// as RTPS asks).
    pub fn new(buf: &'a [u8]) -> Result<Self, CdrError> {
        let Some(header) = buf.get(..HEADER_LEN) else {
            return Err(CdrError::Truncated {
                path: FieldPath::default(),
                offset: 0,
                needed: HEADER_LEN,
                available: buf.len(),
            });
        };
        let little_endian = match (header[0], header[1]) {
            (0, CDR_LE) => true,
            (0, CDR_BE) => false,
            (a, b) => {
                return Err(CdrError::malformed(
                    0,
                    format!(
                        "encapsulation {a:02x} {b:02x} is not plain CDR (00 00 or 00 01); \
                         XCDR2 and parameter lists are not supported"
                    ),
                ))
            }
        };
        Ok(CdrReader {
            buf,
            pos: HEADER_LEN,
            little_endian,
        })
    }

    /// Whether the payload is little-endian.
    pub fn is_little_endian(&self) -> bool {
        self.little_endian
    }

    /// The current offset in the whole buffer (header included).
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn truncated(&self, needed: usize) -> CdrError {
        CdrError::Truncated {
            path: FieldPath::default(),
            offset: self.pos,
            needed,
            available: self.remaining(),
        }
    }

    /// Skip padding so the next read starts at a multiple of `n` from the payload start.
    pub fn align(&mut self, n: usize) -> Result<(), CdrError> {
        let rel = self.pos - HEADER_LEN;
        let pad = (n - rel % n) % n;
        if pad > self.remaining() {
            return Err(self.truncated(pad));
        }
        self.pos += pad;
        Ok(())
    }

    /// The next `n` bytes, unaligned.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], CdrError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.truncated(n))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], CdrError> {
        let bytes = self.read_bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A `uint8` (also `byte` and `char`).
    pub fn read_u8(&mut self) -> Result<u8, CdrError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// An `int8`.
    pub fn read_i8(&mut self) -> Result<i8, CdrError> {
        Ok(self.read_u8()? as i8)
    }

    /// A `bool`: exactly 0 or 1, anything else is malformed (Fast-CDR rejects it too).
    pub fn read_bool(&mut self) -> Result<bool, CdrError> {
        let at = self.pos;
        match self.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(CdrError::malformed(
                at,
                format!("bool byte is {v}, not 0 or 1"),
            )),
        }
    }

    read_num!(
        /// An `int16`.
        read_i16, i16, 2
    );
    read_num!(
        /// A `uint16`.
        read_u16, u16, 2
    );
    read_num!(
        /// An `int32`.
        read_i32, i32, 4
    );
    read_num!(
        /// A `uint32`.
        read_u32, u32, 4
    );
    read_num!(
        /// An `int64` (aligned to 8).
        read_i64, i64, 8
    );
    read_num!(
        /// A `uint64` (aligned to 8).
        read_u64, u64, 8
    );
    read_num!(
        /// A `float32`.
        read_f32, f32, 4
    );
    read_num!(
        /// A `float64` (aligned to 8).
        read_f64, f64, 8
    );

    /// A sequence length prefix, checked against the bytes left: `min_elem_size` is the least
    /// each element occupies, so a declared count that cannot fit fails here, before anyone
    /// allocates for it.
    pub fn read_sequence_len(&mut self, min_elem_size: usize) -> Result<usize, CdrError> {
        let count = self.read_u32()? as usize;
        let needed = count.saturating_mul(min_elem_size);
        if needed > self.remaining() {
            return Err(self.truncated(needed));
        }
        Ok(count)
    }

    /// A `string`: u32 length including the NUL, the UTF-8 bytes, the NUL.
    ///
    /// A length of 0 (some writers use it for the empty string) and a missing terminator are
    /// tolerated, as Fast-CDR does. Invalid UTF-8 is replaced with U+FFFD rather than failing the
    /// whole message: ROS strings are bytes, and one odd sensor name should not hide the rest.
    pub fn read_string(&mut self) -> Result<Cow<'a, str>, CdrError> {
        let len = self.read_sequence_len(1)?;
        let bytes = self.read_bytes(len)?;
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        Ok(String::from_utf8_lossy(bytes))
    }

    /// A `wstring`: u32 count of UTF-16 code units, then each unit as a `uint16`, no terminator
    /// (Fast-CDR 2 as used by rmw_fastrtps since Iron). Unpaired surrogates become U+FFFD.
    pub fn read_wstring(&mut self) -> Result<String, CdrError> {
        let count = self.read_sequence_len(2)?;
        let mut units = Vec::with_capacity(count);
        for _ in 0..count {
            units.push(self.read_u16()?);
        }
        Ok(String::from_utf16_lossy(&units))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_kinds() {
        assert!(CdrReader::new(&[0, 1, 0, 0]).unwrap().is_little_endian());
        assert!(!CdrReader::new(&[0, 0, 0, 0]).unwrap().is_little_endian());
        // Options bytes are not interpreted.
        assert!(CdrReader::new(&[0, 1, 0xab, 0xcd]).is_ok());
        assert!(matches!(
            CdrReader::new(&[0, 7, 0, 0]),
            Err(CdrError::Malformed { offset: 0, .. })
        ));
        assert!(matches!(
            CdrReader::new(&[0, 1, 0]),
            Err(CdrError::Truncated {
                needed: 4,
                available: 3,
                ..
            })
        ));
    }

    #[test]
    fn alignment_is_relative_to_payload_and_eight_byte_types_align_to_eight() {
        // u8 at 0, pad to 2: u16, pad to 4: u32, pad to 8: u64.
        let buf = [
            0, 1, 0, 0, //
            0xaa, 0, 0x02, 0x01, // u8, pad, u16
            0x04, 0x03, 0x02, 0x01, // u32
            0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // u64 at payload offset 8
        ];
        let mut r = CdrReader::new(&buf).unwrap();
        assert_eq!(r.read_u8().unwrap(), 0xaa);
        assert_eq!(r.read_u16().unwrap(), 0x0102);
        assert_eq!(r.read_u32().unwrap(), 0x01020304);
        assert_eq!(r.read_u64().unwrap(), 0x0102030405060708);
        assert_eq!(r.remaining(), 0);

        let mut buf = vec![0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        buf.extend_from_slice(&1.0f64.to_le_bytes());
        let mut r = CdrReader::new(&buf).unwrap();
        assert_eq!(r.read_u8().unwrap(), 1);
        assert_eq!(r.read_f64().unwrap(), 1.0);
    }

    #[test]
    fn big_endian() {
        let buf = [0, 0, 0, 0, 0x01, 0x02, 0, 0, 0x3f, 0x80, 0, 0];
        let mut r = CdrReader::new(&buf).unwrap();
        assert_eq!(r.read_i16().unwrap(), 0x0102);
        assert_eq!(r.read_f32().unwrap(), 1.0);
    }

    #[test]
    fn strings() {
        let buf = [0, 1, 0, 0, 3, 0, 0, 0, b'h', b'i', 0];
        assert_eq!(CdrReader::new(&buf).unwrap().read_string().unwrap(), "hi");
        // Zero length and a missing NUL are tolerated.
        let buf = [0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(CdrReader::new(&buf).unwrap().read_string().unwrap(), "");
        let buf = [0, 1, 0, 0, 2, 0, 0, 0, b'h', b'i'];
        assert_eq!(CdrReader::new(&buf).unwrap().read_string().unwrap(), "hi");
        // Invalid UTF-8 is replaced, not an error.
        let buf = [0, 1, 0, 0, 2, 0, 0, 0, 0xff, 0];
        assert_eq!(
            CdrReader::new(&buf).unwrap().read_string().unwrap(),
            "\u{fffd}"
        );
    }

    #[test]
    fn wstrings() {
        // "hé" then U+1F600 as a surrogate pair: 4 code units.
        let buf = [
            0, 1, 0, 0, 4, 0, 0, 0, b'h', 0, 0xe9, 0, 0x3d, 0xd8, 0x00, 0xde,
        ];
        assert_eq!(
            CdrReader::new(&buf).unwrap().read_wstring().unwrap(),
            "hé\u{1f600}"
        );
    }

    #[test]
    fn declared_lengths_are_capped_by_remaining_bytes() {
        let buf = [0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, b'x'];
        let err = CdrReader::new(&buf).unwrap().read_string().unwrap_err();
        assert!(matches!(
            err,
            CdrError::Truncated {
                offset: 8,
                needed: 0xffff_ffff,
                available: 1,
                ..
            }
        ));
        let buf = [0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f];
        let err = CdrReader::new(&buf)
            .unwrap()
            .read_sequence_len(8)
            .unwrap_err();
        assert!(matches!(err, CdrError::Truncated { .. }));
    }

    #[test]
    fn bools_are_zero_or_one() {
        let buf = [0, 1, 0, 0, 1, 0, 2];
        let mut r = CdrReader::new(&buf).unwrap();
        assert!(r.read_bool().unwrap());
        assert!(!r.read_bool().unwrap());
        assert!(matches!(
            r.read_bool(),
            Err(CdrError::Malformed { offset: 6, .. })
        ));
    }

    #[test]
    fn every_read_checks_length() {
        let buf = [0, 1, 0, 0, 1, 2, 3];
        let mut r = CdrReader::new(&buf).unwrap();
        assert!(matches!(r.read_u32(), Err(CdrError::Truncated { .. })));
        assert!(matches!(r.read_u64(), Err(CdrError::Truncated { .. })));
        assert!(matches!(
            r.read_bytes(usize::MAX),
            Err(CdrError::Truncated { .. })
        ));
        assert_eq!(r.read_u16().unwrap(), 0x0201);
        assert!(matches!(r.read_u16(), Err(CdrError::Truncated { .. })));
    }
}
